/* The lean HTTPS client of bench_collector.c (bench_poller.h). */
#include "bench_poller.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define RBUF 4096

struct pconn {
	int fd;
	SSL *ssl;
	char req[256];
	size_t req_len;
	char buf[RBUF];
	size_t len;
	double sent;
	bool dead;
	/* poller_send(): the posts, the one in flight, what is left of it to write */
	const struct poller_post *posts;
	size_t n_posts, next;
	char head[256];
	size_t head_len, off; /* off: bytes of head + body written */
	bool want_out;        /* EPOLLOUT registered */
	double retry_at;      /* after a 503; 0: none */
};

struct poller {
	SSL_CTX *ctx;
	struct pconn *c;
	size_t n;
	int ep;
	unsigned port;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int use_pem(SSL *ssl, const char *cert_pem, const char *key_pem)
{
	BIO *cb = BIO_new_mem_buf(cert_pem, -1), *kb = BIO_new_mem_buf(key_pem, -1);
	X509 *x = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
	EVP_PKEY *k = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
	int ok = x && k && SSL_use_certificate(ssl, x) == 1 && SSL_use_PrivateKey(ssl, k) == 1;
	X509_free(x);
	EVP_PKEY_free(k);
	BIO_free(cb);
	BIO_free(kb);
	return ok ? 0 : -EINVAL;
}

static int connect_one(struct poller *p, struct pconn *c, const struct poller_agent *a,
                       unsigned port)
{
	struct sockaddr_in src = {.sin_family = AF_INET}, dst = {.sin_family = AF_INET};
	int one = 1;
	dst.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
	if (inet_pton(AF_INET, a->src, &src.sin_addr) != 1)
		return -EINVAL;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || bind(c->fd, (struct sockaddr *)&src, sizeof(src)) < 0 ||
	    connect(c->fd, (struct sockaddr *)&dst, sizeof(dst)) < 0)
		return -errno;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->ssl = SSL_new(p->ctx);
	if (!c->ssl || use_pem(c->ssl, a->cert_pem, a->key_pem) < 0 ||
	    SSL_set_fd(c->ssl, c->fd) != 1 || SSL_set1_host(c->ssl, NULL) != 1 ||
	    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), "127.0.0.1") != 1)
		return -EINVAL;
	if (SSL_connect(c->ssl) != 1) {
		ERR_print_errors_fp(stderr);
		return -EPROTO;
	}
	int n = snprintf(c->req, sizeof(c->req),
	                 "GET /v1/policy HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nIf-None-Match: %s\r\n"
	                 "Accept: application/json\r\n\r\n",
	                 port, a->etag);
	if (n < 0 || (size_t)n >= sizeof(c->req))
		return -E2BIG;
	c->req_len = (size_t)n;
	c->posts = a->posts;
	c->n_posts = a->n_posts;
	SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Non-blocking from here: the loop waits with epoll. */
	if (fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK) < 0)
		return -errno;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
	return epoll_ctl(p->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0 ? -errno : 0;
}

int poller_open(const char *ca_path, unsigned port, const struct poller_agent *agents, size_t n,
                struct poller **out)
{
	struct poller *p = calloc(1, sizeof(*p));
	int r = -ENOMEM;
	if (!p)
		return -ENOMEM;
	p->ep = epoll_create1(EPOLL_CLOEXEC);
	p->ctx = SSL_CTX_new(TLS_client_method());
	p->c = calloc(n, sizeof(*p->c));
	if (p->ep < 0 || !p->ctx || !p->c)
		goto fail;
	for (size_t i = 0; i < n; i++)
		p->c[i].fd = -1;
	p->n = n;
	p->port = port;
	r = -EINVAL;
	if (SSL_CTX_load_verify_locations(p->ctx, ca_path, NULL) != 1)
		goto fail;
	SSL_CTX_set_verify(p->ctx, SSL_VERIFY_PEER, NULL);
	for (size_t i = 0; i < n; i++)
		if ((r = connect_one(p, &p->c[i], &agents[i], port)) < 0)
			goto fail;
	*out = p;
	return 0;
fail:
	poller_free(&p);
	return r;
}

static int send_req(struct pconn *c)
{
	c->len = 0;
	c->sent = now_s();
	for (;;) {
		int w = SSL_write(c->ssl, c->req, (int)c->req_len);
		if (w == (int)c->req_len)
			return 0;
		int e = SSL_get_error(c->ssl, w);
		if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ)
			return -EIO;
		/* a few bytes into an empty socket: does not happen in practice, retry */
	}
}

/* A complete answer in c->buf: its status and length, or 0 when more bytes are needed. */
static size_t complete(const struct pconn *c, long *status)
{
	const char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
	if (!end || c->len < 12)
		return 0;
	size_t head = (size_t)(end - c->buf) + 4, body = 0;
	*status = strtol(c->buf + 9, NULL, 10);
	for (const char *p = c->buf; p < end;) {
		const char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
		if (!eol)
			break;
		if ((size_t)(eol - p) > 15 && strncasecmp(p, "Content-Length:", 15) == 0)
			body = strtoul(p + 15, NULL, 10);
		p = eol + 2;
	}
	return c->len >= head + body ? head + body : 0;
}

/*
 * Reads from c until its answer is complete. 1: complete (*status, *used bytes); 0: wait for
 * more bytes; -1: the connection failed (counted in res, the reason in res->err).
 */
static int read_answer(struct pconn *c, long *status, size_t *used, struct poller_result *res)
{
	for (;;) {
		int got = SSL_read(c->ssl, c->buf + c->len, (int)(RBUF - 1 - c->len));
		if (got <= 0) {
			int e = SSL_get_error(c->ssl, got);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				return 0;
			res->failed++;
			snprintf(res->err, sizeof(res->err), "connection lost (%d)", e);
			return -1;
		}
		c->len += (size_t)got;
		*used = complete(c, status);
		if (*used)
			return 1;
		if (c->len >= RBUF - 1) {
			res->failed++;
			snprintf(res->err, sizeof(res->err), "answer too long");
			return -1;
		}
	}
}

int poller_run(struct poller *p, double seconds, struct poller_result *res)
{
	struct epoll_event evs[64];
	double deadline = now_s() + seconds;
	size_t active = 0;
	for (size_t i = 0; i < p->n; i++) {
		if (send_req(&p->c[i]) < 0)
			return -EIO;
		active++;
	}
	while (active > 0) {
		int n = epoll_wait(p->ep, evs, 64, 1000);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (now_s() > deadline + 60)
			return -ETIMEDOUT;
		for (int k = 0; k < n; k++) {
			struct pconn *c = evs[k].data.ptr;
			if (c->dead)
				continue;
			for (;;) {
				long status = 0;
				size_t used = 0;
				int r = read_answer(c, &status, &used, res);
				if (r <= 0) {
					if (r < 0) {
						c->dead = true;
						active--;
					}
					break;
				}
				double t = now_s();
				if (res->n_lat < res->cap_lat)
					res->lat_ms[res->n_lat++] = (t - c->sent) * 1e3;
				if (status == 304) {
					res->n304++;
				} else if (status == 200) {
					res->n200++;
				} else {
					res->nother++;
					res->last_status = status;
				}
				if (t >= deadline) {
					c->dead = true; /* done: not an error */
					active--;
					break;
				}
				if (send_req(c) < 0) {
					c->dead = true;
					active--;
					res->failed++;
					break;
				}
			}
		}
	}
	return 0;
}

/* Registers EPOLLOUT while c has bytes to write, and only then. */
static int want_out(struct poller *p, struct pconn *c, bool on)
{
	if (c->want_out == on)
		return 0;
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0u), .data.ptr = c};
	c->want_out = on;
	return epoll_ctl(p->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0 ? -errno : 0;
}

/* Writes what it can of c's post in flight (head, then body). 0 or -EIO. */
static int post_write(struct poller *p, struct pconn *c)
{
	const struct poller_post *po = &c->posts[c->next];
	size_t total = c->head_len + po->len;
	while (c->off < total) {
		const char *from =
		    c->off < c->head_len ? c->head + c->off : po->body + (c->off - c->head_len);
		size_t n = c->off < c->head_len ? c->head_len - c->off : total - c->off;
		int w = SSL_write(c->ssl, from, n > 1u << 20 ? 1 << 20 : (int)n);
		if (w > 0) {
			c->off += (size_t)w;
			continue;
		}
		int e = SSL_get_error(c->ssl, w);
		if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
			return want_out(p, c, true);
		return -EIO;
	}
	return want_out(p, c, false);
}

static int post_start(struct poller *p, struct pconn *c)
{
	const struct poller_post *po = &c->posts[c->next];
	int n = snprintf(c->head, sizeof(c->head),
	                 "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
	                 "Content-Type: application/json\r\nAccept: application/json\r\n"
	                 "Content-Length: %zu\r\n\r\n",
	                 p->port, po->len);
	if (n < 0 || (size_t)n >= sizeof(c->head))
		return -E2BIG;
	c->head_len = (size_t)n;
	c->off = 0;
	c->len = 0;
	c->retry_at = 0;
	c->sent = now_s();
	return post_write(p, c);
}

/* The answer to c's post in flight: counted; true when the post is to be sent again. */
static bool post_answer(struct pconn *c, long status, size_t used, double t,
                        struct poller_result *res)
{
	const struct poller_post *po = &c->posts[c->next];
	static const char key[] = "\"acked_through\":";
	if (res->n_lat < res->cap_lat)
		res->lat_ms[res->n_lat++] = (t - c->sent) * 1e3;
	if (status == 503) {
		res->busy503++;
		c->retry_at = t + 1.0;
		return true;
	}
	c->buf[used < RBUF ? used : RBUF - 1] = '\0';
	const char *a = strstr(c->buf, key);
	if (status == 200 && a && strtoull(a + strlen(key), NULL, 10) == po->last_seq) {
		res->acked++;
		res->events += po->events;
	} else {
		res->failed++;
		res->last_status = status;
		snprintf(res->err, sizeof(res->err), "%.200s", c->buf);
	}
	c->next++;
	return false;
}

int poller_send(struct poller *p, double limit_s, struct poller_result *res)
{
	struct epoll_event evs[64];
	double deadline = now_s() + limit_s;
	size_t active = 0;
	for (size_t i = 0; i < p->n; i++) {
		struct pconn *c = &p->c[i];
		c->next = 0;
		if (c->n_posts == 0)
			continue;
		if (post_start(p, c) < 0)
			return -EIO;
		active++;
	}
	while (active > 0) {
		int n = epoll_wait(p->ep, evs, 64, 10);
		if (n < 0 && errno != EINTR)
			return -errno;
		double t = now_s();
		if (t > deadline)
			return -ETIMEDOUT;
		for (int k = 0; k < n; k++) {
			struct pconn *c = evs[k].data.ptr;
			if (c->dead || c->retry_at > 0)
				continue;
			if ((evs[k].events & EPOLLOUT) && post_write(p, c) < 0) {
				c->dead = true;
				active--;
				res->failed++;
				snprintf(res->err, sizeof(res->err), "write failed");
				continue;
			}
			for (;;) {
				long status = 0;
				size_t used = 0;
				int r = read_answer(c, &status, &used, res);
				if (r <= 0) {
					if (r < 0) {
						c->dead = true;
						active--;
					}
					break;
				}
				bool again = post_answer(c, status, used, now_s(), res);
				if (!again && c->next == c->n_posts) {
					active--; /* done */
					(void)want_out(p, c, false);
					break;
				}
				if (!again && post_start(p, c) < 0) {
					c->dead = true;
					active--;
					res->failed++;
				}
				break;
			}
		}
		/* Posts answered 503: sent again once their second is over. */
		for (size_t i = 0; i < p->n; i++) {
			struct pconn *c = &p->c[i];
			if (!c->dead && c->retry_at > 0 && c->retry_at <= t &&
			    post_start(p, c) < 0) {
				c->dead = true;
				active--;
				res->failed++;
			}
		}
	}
	return 0;
}

void poller_free(struct poller **pp)
{
	struct poller *p = pp ? *pp : NULL;
	if (!p)
		return;
	for (size_t i = 0; p->c && i < p->n; i++) {
		if (p->c[i].ssl)
			SSL_free(p->c[i].ssl);
		if (p->c[i].fd >= 0)
			close(p->c[i].fd);
	}
	free(p->c);
	SSL_CTX_free(p->ctx);
	if (p->ep >= 0)
		close(p->ep);
	free(p);
	*pp = NULL;
}
