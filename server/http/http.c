/* libmicrohttpd + GnuTLS adapter (http.h). */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <jansson.h>
#include <microhttpd.h>

#include "mg/config.h"
#include "mg/log.h"
#include "workq.h"

/*
 * Request bodies held in memory at once are bounded (cfg.body_budget): a request whose body
 * needs more than what is left waits, suspended before its body is read (the bytes stay in
 * the kernel and TCP pushes back on the client), and is resumed in arrival order when bodies
 * ahead of it are done, or answered 503 after MG_HTTP_BODY_WAIT_S. Bodies below SMALL_BODY
 * (heartbeats, enrolments, admin requests) do not count and never wait. Only a verified
 * client certificate on a route that takes them (cfg.large_body) may announce a larger body:
 * the peer and the route are checked before anything is reserved, so a client without a
 * certificate can never hold the budget.
 *
 * Connection slots and deadlines (cfg.head_timeout_s, cfg.body_timeout_s): every connection
 * is listed (struct conn_state) from libmicrohttpd's start notification to its close. A guard
 * thread closes (shutdown(2): libmicrohttpd then sees the end of the stream and closes it
 * itself) the connections without a verified certificate that have no complete request head
 * within the head deadline (TLS handshake included; again after each of their requests; their
 * bodies too), and every connection whose body has not arrived within the body deadline.
 * Connections without a verified certificate hold at most max_unverified slots: a new one
 * beyond closes the oldest one (not while its handler runs) of the address that holds most
 * of them, so the rest stays for enrolled terminals and a flood from a few addresses evicts
 * only itself.
 */
#define DEFAULT_BODY_BUDGET  (8u * 1024u * 1024u)
#define SMALL_BODY           MG_HTTP_SMALL_BODY
#define DEFAULT_MAX_LARGE    64u
#define DEFAULT_HEAD_TIMEOUT 5u
#define DEFAULT_BODY_TIMEOUT 30u
#define GUARD_TICK_MS        100
#define RETRY_AFTER_S        2u /* overload answers */

/* libmicrohttpd's memory per connection (headers and read buffer; default 32 KiB). */
#define CONN_MEMORY (16u * 1024u)

struct req_state;
struct conn_state;

/* One limiter per kind of attack log line (mg_http_ratelog()). */
enum { LOG_CERT, LOG_BODY, LOG_OVERLOAD, LOG_HEAD, LOG_SLOW_BODY, LOG_SLOTS, LOG_KINDS };
static const char *const log_what[LOG_KINDS] = {
    "refused client certificates",
    "refused request bodies",
    "overloaded answers",
    "connections closed at the head deadline",
    "connections closed at the body deadline",
    "connections closed for the slots of enrolled terminals"};

struct mg_http_server {
	struct MHD_Daemon *d;
	mg_http_handler handler;
	void *ctx;
	/* Handlers of requests that offload() picks run on this pool, their connection
	 * suspended meanwhile: a connection thread never waits for a commit (see run_job()). */
	struct mg_workq *work;
	bool (*offload)(const char *method, const char *url);
	uint16_t port;
	pthread_mutex_t lock; /* the body budget and its queue */
	size_t budget_left;
	atomic_bool stopping;
	struct req_state *wait_head, *wait_tail; /* suspended, waiting for budget */
	/* Under lock: every connection, oldest first, and the slot and large-body counts. */
	struct conn_state *conn_head, *conn_tail;
	unsigned n_unverified; /* connections without a verified certificate, closing included */
	unsigned n_closing;    /* of those, already shut down by the guard or an eviction */
	unsigned max_unverified;
	unsigned n_large, max_large; /* requests with a large body (see mg_http_config) */
	bool (*large_body)(const char *method, const char *url);
	bool (*peer_enrolled)(void *ctx, const char *serial);
	int64_t head_ms, body_ms;
	struct addr_count *counts; /* eviction scratch: 2 * max_connections entries */
	size_t n_counts;
	pthread_t guard;
	bool guard_started, initialised;
	pthread_cond_t guard_cv;
	struct mg_http_ratelog log[LOG_KINDS];
};

/* Per-connection request state (MHD's con_cls). */
struct req_state {
	char *buf;
	size_t len, cap;
	bool too_large;
	size_t discarded; /* bytes received after the cap was passed */
	struct mg_http_arg args[MG_HTTP_MAX_ARGS];
	size_t n_args;
	bool bad_args;    /* too many or a repeated key */
	size_t announced; /* Content-Length, 0 when absent */
	size_t need;      /* body bytes to reserve from the budget (0: small body) */
	size_t reserved;  /* reserved and not yet given back */
	size_t limit;     /* the cap of this body: MG_HTTP_MAX_BODY, or SMALL_BODY */
	bool large;       /* counted in n_large */
	bool expired;     /* its wait for the budget timed out: 503 */
	bool drain;       /* answered 503: its body is read and dropped, so that the answer
	                   * reaches the client (it sends without 100-continue) */
	int64_t wait_since_ms;
	struct conn_state *cs; /* its connection's state; NULL when that could not be allocated */
	bool suspended;        /* by budget_wait(): MHD repeats the first call after the resume */
	struct MHD_Connection *conn;
	struct req_state *next_wait;
	/* A request handed to the work pool: the handler's input and output, and the state. */
	enum { JOB_NONE, JOB_QUEUED, JOB_DONE } job;
	struct mg_workq_item work;
	struct mg_http_server *srv;
	struct mg_http_request req;
	struct mg_http_response resp;
	int rc;
};

/*
 * Per-TLS-connection state (MHD's socket context): the client certificate's verification,
 * made on the first request and reused by later requests on the same connection as long as
 * the session presents the same certificate (compared byte for byte), at most PEER_CACHE_S
 * seconds and not past the certificate's expiry.
 */
#define PEER_CACHE_S 300

struct conn_state {
	bool checked;
	enum mg_http_peer peer;
	char serial[72];
	time_t until; /* monotonic seconds */
	unsigned char *der;
	size_t der_len;
	bool logged; /* its refused certificate was counted for the log */
	/* Slots and deadlines, under the server's lock. */
	struct conn_state *prev, *next;
	int fd;
	unsigned char addr[17]; /* family, then the address */
	int64_t since_ms;       /* accepted, or its last request ended */
	int64_t body_until_ms;  /* 0: no body being read */
	bool verified;          /* presented a verified client certificate */
	bool busy;              /* between a request's head and its end */
	bool closing;           /* shut down by the guard or an eviction */
};

struct addr_count {
	unsigned char addr[17];
	unsigned n;
	struct conn_state *oldest; /* its oldest idle unverified connection */
};

/*
 * libmicrohttpd can only answer before the body is read or after all of it: a body without
 * Content-Length that passes the cap is drained (not stored) up to this many bytes to answer
 * 413; beyond that the connection is closed without an answer.
 */
#define MAX_DRAIN (4u * MG_HTTP_MAX_BODY)

int mg_http_error(struct mg_http_response *resp, unsigned status, const char *msg)
{
	int r = mg_http_json(resp, status, json_pack("{s:s}", "error", msg));
	if (r < 0) { /* the status at least, with no body */
		free(resp->body);
		resp->body = NULL;
		resp->status = status;
	}
	return r;
}

int mg_http_json(struct mg_http_response *resp, unsigned status, json_t *o)
{
	if (!o)
		return -ENOMEM;
	char *body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!body)
		return -ENOMEM;
	free(resp->body);
	resp->body = body;
	resp->status = status;
	return 0;
}

const char *mg_http_arg(const struct mg_http_request *req, const char *key)
{
	for (size_t i = 0; i < req->n_args; i++)
		if (strcmp(req->args[i].key, key) == 0)
			return req->args[i].value;
	return NULL;
}

int mg_http_header(struct mg_http_response *resp, const char *name, const char *value)
{
	if (resp->n_headers >= MG_HTTP_MAX_HEADERS ||
	    strlen(name) >= sizeof(resp->headers[0].name) ||
	    strlen(value) >= sizeof(resp->headers[0].value))
		return -E2BIG;
	if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
		return -EINVAL;
	strcpy(resp->headers[resp->n_headers].name, name);
	strcpy(resp->headers[resp->n_headers].value, value);
	resp->n_headers++;
	return 0;
}

static enum MHD_Result send_response(struct MHD_Connection *conn, const struct mg_http_response *r)
{
	const char *body = r->body ? r->body : "";
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char ra[16];
	resp = MHD_create_response_from_buffer(strlen(body), (void *)(uintptr_t)body,
	                                       MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	if (r->body)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		                        r->content_type ? r->content_type : "application/json");
	for (unsigned i = 0; i < r->n_headers && i < MG_HTTP_MAX_HEADERS; i++)
		MHD_add_response_header(resp, r->headers[i].name, r->headers[i].value);
	if (r->retry_after) {
		snprintf(ra, sizeof(ra), "%u", r->retry_after);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
	}
	ret = MHD_queue_response(conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, unsigned status, const char *msg)
{
	struct mg_http_response r = {0};
	enum MHD_Result ret;
	if (mg_http_error(&r, status, msg) < 0)
		r.status = status;
	ret = send_response(conn, &r);
	free(r.body);
	return ret;
}

static time_t mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void mg_http_ratelog(struct mg_http_ratelog *rl, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int64_t now = mono_ms();
	unsigned left_out;
	pthread_mutex_lock(&rl->mu);
	if (rl->last_ms && now - rl->last_ms < (int64_t)MG_HTTP_LOG_EVERY_S * 1000) {
		rl->suppressed++;
		pthread_mutex_unlock(&rl->mu);
		return;
	}
	left_out = rl->suppressed;
	rl->suppressed = 0;
	rl->last_ms = now ? now : 1;
	pthread_mutex_unlock(&rl->mu);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (left_out)
		mg_warn("%s (and %u more like it in the previous %u s)", line, left_out,
		        MG_HTTP_LOG_EVERY_S);
	else
		mg_warn("%s", line);
}

/* The count of lines rl left out, once its window has passed; what: what they were. */
static void ratelog_flush(struct mg_http_ratelog *rl, const char *what)
{
	unsigned left_out = 0;
	int64_t now = mono_ms();
	pthread_mutex_lock(&rl->mu);
	if (rl->suppressed && now - rl->last_ms >= (int64_t)MG_HTTP_LOG_EVERY_S * 1000) {
		left_out = rl->suppressed;
		rl->suppressed = 0;
		rl->last_ms = 0; /* the next one is logged at once */
	}
	pthread_mutex_unlock(&rl->mu);
	if (left_out)
		mg_warn("%u more %s in the last %u s", left_out, what, MG_HTTP_LOG_EVERY_S);
}

static enum MHD_Result send_overloaded(struct MHD_Connection *conn, const char *msg)
{
	struct mg_http_response r = {0};
	enum MHD_Result ret;
	if (mg_http_error(&r, 503, msg) < 0)
		r.status = 503;
	r.retry_after = RETRY_AFTER_S;
	ret = send_response(conn, &r);
	free(r.body);
	return ret;
}

/*
 * Classifies the client certificate of the TLS session; serial of a verified one; *expires:
 * its notAfter (0 when not verified).
 */
static enum mg_http_peer verify_peer(gnutls_session_t s, const gnutls_datum_t *cert, char *serial,
                                     size_t size, time_t *expires)
{
	unsigned int status = 0;
	gnutls_x509_crt_t crt = NULL;
	unsigned char raw[64];
	size_t rawlen = sizeof(raw), i = 0, o = 0;
	enum mg_http_peer ret = MG_PEER_INVALID;
	static const char digits[] = "0123456789abcdef";

	*expires = 0;
	/* The verification status, not only the presence of a certificate. */
	if (gnutls_certificate_verify_peers2(s, &status) < 0 || status != 0)
		return MG_PEER_INVALID;
	if (gnutls_x509_crt_init(&crt) < 0)
		return MG_PEER_INVALID;
	if (gnutls_x509_crt_import(crt, cert, GNUTLS_X509_FMT_DER) < 0 ||
	    gnutls_x509_crt_get_serial(crt, raw, &rawlen) < 0 || rawlen == 0)
		goto done;
	while (i + 1 < rawlen && raw[i] == 0)
		i++;
	if ((rawlen - i) * 2 + 1 > size)
		goto done;
	for (; i < rawlen; i++) {
		serial[o++] = digits[raw[i] >> 4];
		serial[o++] = digits[raw[i] & 15];
	}
	serial[o] = '\0';
	*expires = gnutls_x509_crt_get_expiration_time(crt);
	ret = MG_PEER_VERIFIED;
done:
	gnutls_x509_crt_deinit(crt);
	return ret;
}

static void remote_of(struct MHD_Connection *conn, char *buf, size_t size)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	snprintf(buf, size, "unknown");
	if (!ci || !ci->client_addr)
		return;
	if (ci->client_addr->sa_family == AF_INET) {
		struct sockaddr_in sin;
		memcpy(&sin, ci->client_addr, sizeof(sin));
		inet_ntop(AF_INET, &sin.sin_addr, buf, (socklen_t)size);
	} else if (ci->client_addr->sa_family == AF_INET6) {
		struct sockaddr_in6 sin6;
		memcpy(&sin6, ci->client_addr, sizeof(sin6));
		inet_ntop(AF_INET6, &sin6.sin6_addr, buf, (socklen_t)size);
	}
}

/* The peer of conn's TLS session, from the connection's cache when still valid; a refused
 * certificate is logged (rate-limited) once per connection. */
static enum mg_http_peer peer_of(struct mg_http_server *srv, struct MHD_Connection *conn,
                                 char *serial, size_t size)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	const union MHD_ConnectionInfo *sc =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn_state *cs = sc ? sc->socket_context : NULL;
	gnutls_session_t s;
	const gnutls_datum_t *certs;
	unsigned int n = 0;
	enum mg_http_peer peer;
	time_t expires, now;
	char tmp[sizeof(cs->serial)];

	if (!ci || !ci->tls_session)
		return MG_PEER_NONE;
	s = (gnutls_session_t)ci->tls_session;
	certs = gnutls_certificate_get_peers(s, &n);
	if (!certs || n == 0)
		return MG_PEER_NONE;
	now = mono_s();
	if (cs && cs->checked && now < cs->until && cs->der_len == certs[0].size &&
	    memcmp(cs->der, certs[0].data, cs->der_len) == 0) {
		if (cs->peer != MG_PEER_VERIFIED)
			return cs->peer;
		if (strlen(cs->serial) >= size)
			return MG_PEER_INVALID;
		strcpy(serial, cs->serial);
		return MG_PEER_VERIFIED;
	}
	tmp[0] = '\0';
	peer = verify_peer(s, &certs[0], tmp, sizeof(tmp), &expires);
	if (peer == MG_PEER_INVALID && !(cs && cs->logged)) {
		char remote[64];
		remote_of(conn, remote, sizeof(remote));
		if (cs)
			cs->logged = true;
		mg_http_ratelog(
		    &srv->log[LOG_CERT],
		    "refused client certificate from %s: it does not verify against the "
		    "collector CA (other CA, expired or unreadable)",
		    remote);
	}
	if (peer == MG_PEER_VERIFIED) {
		if (strlen(tmp) >= size)
			return MG_PEER_INVALID;
		strcpy(serial, tmp);
	}
	if (cs) {
		/* Cache: expiry is wall-clock time, the deadline monotonic. */
		time_t left = PEER_CACHE_S, wall = time(NULL);
		if (peer == MG_PEER_VERIFIED && expires - wall < left)
			left = expires - wall;
		free(cs->der);
		cs->der = malloc(certs[0].size);
		cs->checked = cs->der != NULL && left > 0;
		if (cs->checked) {
			memcpy(cs->der, certs[0].data, certs[0].size);
			cs->der_len = certs[0].size;
			cs->peer = peer;
			memcpy(cs->serial, tmp, sizeof(cs->serial));
			cs->until = now + left;
		}
	}
	return peer;
}

/* The client address of conn as a comparable key (family, then 16 bytes). */
static void addr_key(struct MHD_Connection *conn, unsigned char key[17])
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	memset(key, 0, 17);
	if (!ci || !ci->client_addr)
		return;
	if (ci->client_addr->sa_family == AF_INET) {
		struct sockaddr_in sin;
		memcpy(&sin, ci->client_addr, sizeof(sin));
		key[0] = 4;
		memcpy(key + 1, &sin.sin_addr, 4);
	} else if (ci->client_addr->sa_family == AF_INET6) {
		struct sockaddr_in6 sin6;
		memcpy(&sin6, ci->client_addr, sizeof(sin6));
		key[0] = 6;
		memcpy(key + 1, &sin6.sin6_addr, 16);
	}
}

/* The body deadline of a request on cs starting now (under lock): a connection without a
 * verified certificate (bodies below 64 KiB) gets the head deadline. */
static int64_t body_until(const struct mg_http_server *srv, const struct conn_state *cs)
{
	return mono_ms() + (cs->verified ? srv->body_ms : srv->head_ms);
}

/* Shuts cs's socket down (under lock): libmicrohttpd sees the end and closes it. */
static void close_locked(struct mg_http_server *srv, struct conn_state *cs)
{
	if (cs->closing || cs->fd < 0)
		return;
	cs->closing = true;
	if (!cs->verified)
		srv->n_closing++;
	shutdown(cs->fd, SHUT_RDWR);
}

/*
 * Under lock: closes the oldest connection without a verified certificate, and whose handler
 * is not running, of the client address that holds most of them; who: that address. Returns
 * false when there is none to close.
 */
static bool evict_locked(struct mg_http_server *srv, char *who, size_t size)
{
	struct addr_count *best = NULL;
	size_t mask = srv->n_counts - 1;
	memset(srv->counts, 0, srv->n_counts * sizeof(*srv->counts));
	for (struct conn_state *c = srv->conn_head; c; c = c->next) {
		size_t h = 2166136261u;
		/* not while its handler runs; while its head or body arrives, or idle, yes */
		if (c->verified || c->closing || (c->busy && !c->body_until_ms))
			continue;
		for (size_t i = 0; i < sizeof(c->addr); i++)
			h = (h ^ c->addr[i]) * 16777619u;
		for (size_t probe = 0; probe < srv->n_counts; probe++) {
			struct addr_count *a = &srv->counts[(h + probe) & mask];
			if (a->n == 0)
				memcpy(a->addr, c->addr, sizeof(a->addr));
			else if (memcmp(a->addr, c->addr, sizeof(a->addr)) != 0)
				continue;
			if (a->n++ == 0)
				a->oldest = c; /* the list runs oldest first */
			if (!best || a->n > best->n)
				best = a;
			break;
		}
	}
	if (!best)
		return false;
	if (best->addr[0] == 6)
		inet_ntop(AF_INET6, best->addr + 1, who, (socklen_t)size);
	else
		inet_ntop(AF_INET, best->addr + 1, who, (socklen_t)size);
	close_locked(srv, best->oldest);
	return true;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
	struct mg_http_server *srv = cls;
	struct conn_state *cs = *socket_context;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *fi =
		    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		char who[64] = "";
		bool evicted = false;
		unsigned held = 0;
		cs =
		    calloc(1, sizeof(*cs)); /* NULL: no cache, no deadline (fails open only then) */
		*socket_context = cs;
		if (!cs)
			return;
		cs->fd = fi ? fi->connect_fd : -1;
		addr_key(conn, cs->addr);
		cs->since_ms = mono_ms();
		pthread_mutex_lock(&srv->lock);
		cs->prev = srv->conn_tail;
		if (srv->conn_tail)
			srv->conn_tail->next = cs;
		else
			srv->conn_head = cs;
		srv->conn_tail = cs;
		srv->n_unverified++;
		if (srv->n_unverified - srv->n_closing > srv->max_unverified) {
			evicted = evict_locked(srv, who, sizeof(who));
			held = srv->n_unverified;
		}
		pthread_mutex_unlock(&srv->lock);
		if (evicted)
			mg_http_ratelog(
			    &srv->log[LOG_SLOTS],
			    "closed a connection from %s: %u connections without a client "
			    "certificate (limit %u), %s holds the most",
			    who, held, srv->max_unverified, who);
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED && cs) {
		pthread_mutex_lock(&srv->lock);
		if (cs->prev)
			cs->prev->next = cs->next;
		else
			srv->conn_head = cs->next;
		if (cs->next)
			cs->next->prev = cs->prev;
		else
			srv->conn_tail = cs->prev;
		if (!cs->verified) {
			srv->n_unverified--;
			if (cs->closing)
				srv->n_closing--;
		}
		pthread_mutex_unlock(&srv->lock);
		free(cs->der);
		free(cs);
		*socket_context = NULL;
	}
}

/* Appends upload data, never holding more than st->limit bytes. */
static int append(struct req_state *st, const char *data, size_t n)
{
	if (st->too_large || st->drain) {
		if (n > MAX_DRAIN - st->discarded)
			return -EFBIG;
		st->discarded += n;
		return 0;
	}
	if (n > st->limit - st->len) {
		st->too_large = true;
		st->discarded = n;
		free(st->buf);
		st->buf = NULL;
		st->len = st->cap = 0;
		return 0;
	}
	if (st->len + n + 1 > st->cap) {
		/* the announced length (already checked against the cap) at once */
		size_t cap = st->cap ? st->cap : st->announced ? st->announced + 1 : 4096;
		char *p;
		while (cap < st->len + n + 1)
			cap *= 2;
		p = realloc(st->buf, cap);
		if (!p)
			return -ENOMEM;
		st->buf = p;
		st->cap = cap;
	}
	memcpy(st->buf + st->len, data, n);
	st->len += n;
	st->buf[st->len] = '\0';
	return 0;
}

/* A query argument. Keys and values are percent-decoded by libmicrohttpd: one that decodes to
 * a NUL byte ("%00") would be cut short here, so it is refused (400) rather than read as
 * another value (issue 14, finding 7). */
static enum MHD_Result on_arg(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                              const char *value, size_t value_size)
{
	struct req_state *st = cls;
	(void)kind;
	if (!key || st->n_args >= MG_HTTP_MAX_ARGS || strlen(key) != key_size ||
	    (value && strlen(value) != value_size)) {
		st->bad_args = true;
		return MHD_NO;
	}
	for (size_t i = 0; i < st->n_args; i++)
		if (strcmp(st->args[i].key, key) == 0) {
			st->bad_args = true;
			return MHD_NO;
		}
	st->args[st->n_args].key = key;
	st->args[st->n_args].value = value ? value : "";
	st->n_args++;
	return MHD_YES;
}

/* Gives st's reservation back and resumes the waiters that now fit, in order. */
static void budget_release(struct mg_http_server *srv, struct req_state *st)
{
	struct req_state *go = NULL, **tail = &go;
	pthread_mutex_lock(&srv->lock);
	srv->budget_left += st->reserved;
	st->reserved = 0;
	while (srv->wait_head && (srv->stopping || srv->wait_head->need <= srv->budget_left)) {
		struct req_state *w = srv->wait_head;
		srv->wait_head = w->next_wait;
		if (!srv->wait_head)
			srv->wait_tail = NULL;
		if (!srv->stopping) {
			srv->budget_left -= w->need;
			w->reserved = w->need;
			if (w->cs) /* its body may now be read: from now on, its deadline */
				w->cs->body_until_ms = body_until(srv, w->cs);
		}
		w->next_wait = NULL;
		*tail = w;
		tail = &w->next_wait;
	}
	pthread_mutex_unlock(&srv->lock);
	/* Only suspended connections are ever queued (see budget_wait()). */
	while (go) {
		struct req_state *w = go;
		go = w->next_wait;
		w->next_wait = NULL;
		MHD_resume_connection(w->conn);
	}
}

/*
 * Reserves st->need bytes of the body budget; when they are not available, suspends conn
 * (its body is not read) and queues it: budget_release() reserves for it and resumes it.
 */
static void budget_wait(struct mg_http_server *srv, struct MHD_Connection *conn,
                        struct req_state *st)
{
	bool granted, stopping;
	pthread_mutex_lock(&srv->lock);
	stopping = srv->stopping;
	granted = !stopping && st->need <= srv->budget_left && !srv->wait_head;
	if (granted) {
		srv->budget_left -= st->need;
		st->reserved = st->need;
		if (st->cs)
			st->cs->body_until_ms = body_until(srv, st->cs);
	}
	pthread_mutex_unlock(&srv->lock);
	if (granted || stopping)
		return; /* stopping: the next call closes the connection */
	/* Suspended before it is queued, so that whoever dequeues it may resume it. */
	st->suspended = true;
	MHD_suspend_connection(conn);
	pthread_mutex_lock(&srv->lock);
	st->conn = conn;
	st->wait_since_ms = mono_ms();
	st->next_wait = NULL;
	if (srv->wait_tail)
		srv->wait_tail->next_wait = st;
	else
		srv->wait_head = st;
	srv->wait_tail = st;
	pthread_mutex_unlock(&srv->lock);
	/* Budget given back between the check and the queueing: let it reach the queue. */
	struct req_state none = {0};
	budget_release(srv, &none);
}

/* Queues the handler's answer (500 for a failed handler) and gives the body back. */
static enum MHD_Result finish(struct mg_http_server *srv, struct MHD_Connection *conn,
                              struct req_state *st, int rc, struct mg_http_response *resp)
{
	enum MHD_Result ret;
	if (rc < 0 || resp->status < 100 || resp->status > 599)
		ret = send_error(conn, 500, "internal error");
	else
		ret = send_response(conn, resp);
	free(resp->body);
	resp->body = NULL;
	/* The body is no longer needed: give its memory and its budget back now. */
	free(st->buf);
	st->buf = NULL;
	st->len = st->cap = 0;
	if (st->reserved)
		budget_release(srv, st);
	return ret;
}

/* On a pool thread: the handler, then the connection is resumed and answered by finish(). */
static void run_job(struct mg_workq_item *it)
{
	struct req_state *st = (struct req_state *)((char *)it - offsetof(struct req_state, work));
	struct mg_http_server *srv = st->srv;
	st->rc = srv->handler(srv->ctx, &st->req, &st->resp);
	st->job = JOB_DONE;
	MHD_resume_connection(st->conn);
}

/*
 * Hands st's request to the work pool, the connection suspended until run_job() is done.
 * false when the server is stopping (the caller runs the handler itself).
 */
static bool offload(struct mg_http_server *srv, struct MHD_Connection *conn, struct req_state *st,
                    const struct mg_http_request *req)
{
	pthread_mutex_lock(&srv->lock);
	bool go = !srv->stopping;
	if (go) {
		/* Under the lock: mg_http_stop() drains the pool only after every push it can see.
		 */
		st->req = *req;
		memset(&st->resp, 0, sizeof(st->resp));
		st->srv = srv;
		st->conn = conn;
		st->job = JOB_QUEUED;
		st->work.fn = run_job;
		MHD_suspend_connection(conn); /* before the push: run_job() may resume at once */
		mg_workq_push(srv->work, &st->work);
	}
	pthread_mutex_unlock(&srv->lock);
	return go;
}

/* Answers status before the body is read, and logs it (rate-limited). */
static enum MHD_Result refuse_body(struct mg_http_server *srv, struct MHD_Connection *conn,
                                   unsigned status, const char *msg, uint64_t announced)
{
	char remote[64];
	remote_of(conn, remote, sizeof(remote));
	mg_http_ratelog(&srv->log[LOG_BODY],
	                "refused request body from %s: %u, %s (%llu bytes announced or received)",
	                remote, status, msg, (unsigned long long)announced);
	return send_error(conn, status, msg);
}

/*
 * The guard thread: every GUARD_TICK_MS, closes the connections past their head or body
 * deadline and answers 503 to the requests that waited MG_HTTP_BODY_WAIT_S for the budget.
 */
static void *guard_run(void *arg)
{
	struct mg_http_server *srv = arg;
	pthread_mutex_lock(&srv->lock);
	while (!srv->stopping) {
		struct timespec ts;
		struct req_state *expired = NULL, **prev;
		unsigned heads = 0, bodies = 0;
		bool gave_up;
		int64_t now;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += GUARD_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&srv->guard_cv, &srv->lock, &ts);
		if (srv->stopping)
			break;
		now = mono_ms();
		for (struct conn_state *c = srv->conn_head; c; c = c->next) {
			if (c->closing)
				continue;
			if (c->body_until_ms && now > c->body_until_ms) {
				close_locked(srv, c);
				bodies++;
			} else if (!c->verified && !c->busy && now - c->since_ms > srv->head_ms) {
				close_locked(srv, c);
				heads++;
			}
		}
		prev = &srv->wait_head;
		srv->wait_tail = NULL;
		while (*prev) {
			struct req_state *w = *prev;
			if (now - w->wait_since_ms >= (int64_t)MG_HTTP_BODY_WAIT_S * 1000) {
				*prev = w->next_wait;
				w->expired = true;
				w->next_wait = expired;
				expired = w;
			} else {
				srv->wait_tail = w;
				prev = &w->next_wait;
			}
		}
		pthread_mutex_unlock(&srv->lock);
		gave_up = expired != NULL;
		while (expired) {
			struct req_state *w = expired;
			expired = w->next_wait;
			w->next_wait = NULL;
			MHD_resume_connection(w->conn);
		}
		if (heads)
			mg_http_ratelog(
			    &srv->log[LOG_HEAD],
			    "closed %u connections without a complete request head within "
			    "%lld s (TLS handshake or head too slow)",
			    heads, (long long)(srv->head_ms / 1000));
		if (bodies)
			mg_http_ratelog(
			    &srv->log[LOG_SLOW_BODY],
			    "closed %u connections whose request body did not arrive within "
			    "%lld s",
			    bodies, (long long)(srv->body_ms / 1000));
		for (unsigned k = 0; k < LOG_KINDS; k++)
			ratelog_flush(&srv->log[k], log_what[k]);
		/* The waiters behind one that gave up may fit now. */
		if (gave_up) {
			struct req_state none = {0};
			budget_release(srv, &none);
		}
		pthread_mutex_lock(&srv->lock);
	}
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	struct mg_http_server *srv = cls;
	struct req_state *st = *con_cls;
	struct mg_http_request req = {0};
	struct mg_http_response resp = {0};
	(void)version;

	if (!st) {
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		                                             MHD_HTTP_HEADER_CONTENT_LENGTH);
		const union MHD_ConnectionInfo *sc =
		    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
		bool chunked = false;
		uint64_t n;
		st = calloc(1, sizeof(*st));
		if (!st)
			return MHD_NO;
		*con_cls = st;
		st->limit = SMALL_BODY;
		st->cs = sc ? sc->socket_context : NULL;
		req.peer = peer_of(srv, conn, req.serial, sizeof(req.serial));
		pthread_mutex_lock(&srv->lock);
		if (st->cs) {
			st->cs->busy = true; /* the head is complete */
			if (req.peer == MG_PEER_VERIFIED && !st->cs->verified) {
				/* from now on in the enrolled terminals' share of the slots */
				st->cs->verified = true;
				srv->n_unverified--;
				if (st->cs->closing)
					srv->n_closing--;
			}
		}
		pthread_mutex_unlock(&srv->lock);
		if (cl && mg_parse_u64(cl, 0, UINT64_MAX, &n) == 0 && n > MG_HTTP_MAX_BODY) {
			st->too_large = true;
			return refuse_body(srv, conn, 413, "request body larger than 1 MiB", n);
		}
		if (cl && mg_parse_u64(cl, 0, MG_HTTP_MAX_BODY, &n) == 0)
			st->announced = (size_t)n;
		else if (!cl && MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		                                            MHD_HTTP_HEADER_TRANSFER_ENCODING))
			chunked = true;
		if (st->announced >= SMALL_BODY || chunked) {
			/* The peer and the route first: nothing is reserved for anyone else. */
			if (!srv->large_body || !srv->large_body(method, url)) {
				if (!chunked)
					return refuse_body(srv, conn, 413,
					                   "request body larger than 64 KiB",
					                   st->announced);
				/* chunked: capped at SMALL_BODY while it arrives, no budget */
			} else if (req.peer == MG_PEER_NONE) {
				return refuse_body(srv, conn, 401, "client certificate required",
				                   st->announced);
			} else if (req.peer != MG_PEER_VERIFIED) {
				return refuse_body(
				    srv, conn, 403,
				    "client certificate not issued by this collector",
				    st->announced);
			} else if (srv->peer_enrolled &&
			           !srv->peer_enrolled(srv->ctx, req.serial)) {
				return refuse_body(srv, conn, 403,
				                   "client certificate of no enrolled host",
				                   st->announced);
			} else {
				unsigned large;
				pthread_mutex_lock(&srv->lock);
				large = srv->n_large;
				st->large = large < srv->max_large;
				if (st->large)
					srv->n_large++;
				pthread_mutex_unlock(&srv->lock);
				if (!st->large) {
					/* 503 decided now: the body is dropped as it comes,
					 * unstored */
					char remote[64];
					remote_of(conn, remote, sizeof(remote));
					mg_http_ratelog(
					    &srv->log[LOG_OVERLOAD],
					    "overloaded: 503 to %s, %u large requests in progress "
					    "(max_inflight_ingests %u)",
					    remote, large, srv->max_large);
					st->drain = true;
				} else {
					st->limit = MG_HTTP_MAX_BODY;
					st->need = chunked ? MG_HTTP_MAX_BODY : st->announced;
				}
			}
		}
		if (st->need) {
			budget_wait(srv, conn, st);
		} else if (st->cs && (st->announced || chunked)) { /* drained ones too */
			pthread_mutex_lock(&srv->lock);
			st->cs->body_until_ms = body_until(srv, st->cs);
			pthread_mutex_unlock(&srv->lock);
		}
		return MHD_YES;
	}
	if (st->job == JOB_DONE) {
		st->job = JOB_NONE;
		return finish(srv, conn, st, st->rc, &st->resp);
	}
	if (srv->stopping && st->need && !st->reserved)
		return MHD_NO; /* resumed to be closed */
	if (st->expired) {     /* waited MG_HTTP_BODY_WAIT_S for the budget: 503, body dropped */
		char remote[64];
		st->expired = false;
		st->suspended = false;
		st->need = 0;
		st->drain = true;
		remote_of(conn, remote, sizeof(remote));
		mg_http_ratelog(
		    &srv->log[LOG_OVERLOAD],
		    "overloaded: 503 to %s, its body waited %u s for memory (body budget "
		    "full)",
		    remote, MG_HTTP_BODY_WAIT_S);
		if (st->cs) {
			pthread_mutex_lock(&srv->lock);
			st->cs->body_until_ms = body_until(srv, st->cs);
			pthread_mutex_unlock(&srv->lock);
		}
		if (*upload_data_size == 0)
			return MHD_YES; /* the first call again, after the resume */
	}
	if (st->suspended) {
		st->suspended = false;
		if (*upload_data_size == 0)
			return MHD_YES; /* the first call again, after the resume */
	}
	if (*upload_data_size > 0) {
		if (append(st, upload_data, *upload_data_size) < 0)
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (st->cs) { /* the whole body is here */
		pthread_mutex_lock(&srv->lock);
		st->cs->body_until_ms = 0;
		pthread_mutex_unlock(&srv->lock);
	}
	if (st->drain)
		return send_overloaded(conn, "collector overloaded");
	if (st->too_large)
		return refuse_body(srv, conn, 413,
		                   st->limit == SMALL_BODY ? "request body larger than 64 KiB"
		                                           : "request body larger than 1 MiB",
		                   st->limit + st->discarded);

	st->n_args = 0;
	MHD_get_connection_values_n(conn, MHD_GET_ARGUMENT_KIND, on_arg, st);
	if (st->bad_args)
		return send_error(conn, 400,
		                  "too many or repeated query arguments, or a NUL byte in one");
	req.args = st->args;
	req.n_args = st->n_args;
	req.if_none_match =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
	req.authorization =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	req.method = method;
	req.url = url;
	req.body = st->buf ? st->buf : "";
	req.body_len = st->len;
	req.peer = peer_of(srv, conn, req.serial, sizeof(req.serial));
	remote_of(conn, req.remote, sizeof(req.remote));
	if (srv->work && srv->offload && srv->offload(method, url) && offload(srv, conn, st, &req))
		return MHD_YES;
	return finish(srv, conn, st, srv->handler(srv->ctx, &req, &resp), &resp);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct mg_http_server *srv = cls;
	struct req_state *st = *con_cls;
	(void)conn;
	(void)toe;
	if (!st)
		return;
	if (st->reserved)
		budget_release(srv, st);
	pthread_mutex_lock(&srv->lock);
	if (st->large)
		srv->n_large--;
	if (st->cs) { /* between requests: the head deadline again, unless verified */
		st->cs->busy = false;
		st->cs->body_until_ms = 0;
		st->cs->since_ms = mono_ms();
	}
	pthread_mutex_unlock(&srv->lock);
	free(st->buf);
	free(st);
	*con_cls = NULL;
}

int mg_http_start(const struct mg_http_config *cfg, struct mg_http_server **out)
{
	struct mg_http_server *srv = NULL;
	struct sockaddr_in sin = {0};
	struct sockaddr_in6 sin6 = {0};
	struct sockaddr *sa;
	unsigned flags = MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL;
	const union MHD_DaemonInfo *di;
	int ret = -EINVAL;

	if (!cfg || !cfg->handler || !cfg->key_pem || !cfg->cert_pem || !cfg->trust_pem ||
	    cfg->threads == 0 || cfg->max_connections == 0)
		goto fail;
	if (inet_pton(AF_INET, cfg->address, &sin.sin_addr) == 1) {
		sin.sin_family = AF_INET;
		sin.sin_port = htons(cfg->port);
		sa = (struct sockaddr *)&sin;
	} else if (inet_pton(AF_INET6, cfg->address, &sin6.sin6_addr) == 1) {
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(cfg->port);
		sa = (struct sockaddr *)&sin6;
		flags |= MHD_USE_IPv6;
	} else {
		goto fail;
	}
	ret = -ENOMEM;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		goto fail;
	srv->handler = cfg->handler;
	srv->ctx = cfg->handler_ctx;
	srv->offload = cfg->offload;
	if (cfg->offload && cfg->work_threads > 0) {
		ret = mg_workq_start(cfg->work_threads, "mg-http-work", &srv->work);
		if (ret < 0)
			goto fail;
		ret = -ENOMEM;
	}
	srv->budget_left = cfg->body_budget ? cfg->body_budget : DEFAULT_BODY_BUDGET;
	if (srv->budget_left < MG_HTTP_MAX_BODY)
		srv->budget_left = MG_HTTP_MAX_BODY; /* one body of any size fits */
	srv->large_body = cfg->large_body;
	srv->peer_enrolled = cfg->peer_enrolled;
	srv->max_large = cfg->max_large ? cfg->max_large : DEFAULT_MAX_LARGE;
	srv->head_ms =
	    (int64_t)(cfg->head_timeout_s ? cfg->head_timeout_s : DEFAULT_HEAD_TIMEOUT) * 1000;
	srv->body_ms =
	    (int64_t)(cfg->body_timeout_s ? cfg->body_timeout_s : DEFAULT_BODY_TIMEOUT) * 1000;
	srv->max_unverified = cfg->max_unverified ? cfg->max_unverified
	                                          : cfg->max_connections - cfg->max_connections / 4;
	if (srv->max_unverified == 0)
		srv->max_unverified = 1;
	for (srv->n_counts = 16; srv->n_counts < 2u * (size_t)cfg->max_connections;)
		srv->n_counts *= 2;
	srv->counts = calloc(srv->n_counts, sizeof(*srv->counts));
	if (!srv->counts)
		goto fail;
	for (unsigned k = 0; k < LOG_KINDS; k++)
		srv->log[k] = (struct mg_http_ratelog)MG_HTTP_RATELOG_INIT;
	pthread_mutex_init(&srv->lock, NULL);
	pthread_cond_init(&srv->guard_cv, NULL);
	srv->initialised = true;
	srv->d = MHD_start_daemon(
	    flags | MHD_ALLOW_SUSPEND_RESUME, cfg->port, NULL, NULL, on_request, srv,
	    MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_HTTPS_MEM_KEY, cfg->key_pem,
	    MHD_OPTION_HTTPS_MEM_CERT, cfg->cert_pem, MHD_OPTION_HTTPS_MEM_TRUST, cfg->trust_pem,
	    MHD_OPTION_HTTPS_PRIORITIES, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
	    MHD_OPTION_THREAD_POOL_SIZE, cfg->threads, MHD_OPTION_CONNECTION_LIMIT,
	    cfg->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->per_ip,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY, MHD_OPTION_CONNECTION_TIMEOUT,
	    cfg->timeout_s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv, MHD_OPTION_END);
	if (!srv->d) {
		ret = -EIO;
		goto fail;
	}
	if (pthread_create(&srv->guard, NULL, guard_run, srv) != 0) {
		ret = -EAGAIN;
		goto fail;
	}
	srv->guard_started = true;
	pthread_setname_np(srv->guard, "mg-http-guard");
	di = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = di ? di->port : cfg->port;
	*out = srv;
	srv = NULL;
	ret = 0;
fail:
	mg_http_stop(&srv);
	return ret;
}

uint16_t mg_http_port(const struct mg_http_server *srv)
{
	return srv->port;
}

void mg_http_stop(struct mg_http_server **srv)
{
	if (!srv || !*srv)
		return;
	if ((*srv)->d) {
		/* MHD must not stop with suspended connections: resume them to be closed. */
		struct req_state none = {0};
		pthread_mutex_lock(&(*srv)->lock);
		(*srv)->stopping = true;
		pthread_cond_signal(&(*srv)->guard_cv);
		pthread_mutex_unlock(&(*srv)->lock);
		if ((*srv)->guard_started)
			pthread_join((*srv)->guard, NULL);
		/* Every queued request is answered (and its connection resumed) first. */
		mg_workq_stop(&(*srv)->work);
		budget_release(*srv, &none);
		MHD_stop_daemon((*srv)->d);
	}
	mg_workq_stop(&(*srv)->work);
	if ((*srv)->initialised) {
		pthread_cond_destroy(&(*srv)->guard_cv);
		pthread_mutex_destroy(&(*srv)->lock);
	}
	free((*srv)->counts);
	free(*srv);
	*srv = NULL;
}
