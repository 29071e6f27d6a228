/* libmicrohttpd + GnuTLS adapter (http.h). */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
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
#include "workq.h"

/*
 * Request bodies held in memory at once are bounded (cfg.body_budget): a request whose body
 * needs more than what is left waits, suspended before its body is read (the bytes stay in
 * the kernel and TCP pushes back on the client), and is resumed in arrival order when bodies
 * ahead of it are done. Bodies below SMALL_BODY (heartbeats, enrolments, admin requests) do
 * not count and never wait.
 */
#define DEFAULT_BODY_BUDGET (8u * 1024u * 1024u)
#define SMALL_BODY          (64u * 1024u)

/* libmicrohttpd's memory per connection (headers and read buffer; default 32 KiB). */
#define CONN_MEMORY (16u * 1024u)

struct req_state;

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
	bool suspended;   /* by budget_wait(): MHD repeats the first call after the resume */
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

/* The peer of conn's TLS session, from the connection's cache when still valid. */
static enum mg_http_peer peer_of(struct MHD_Connection *conn, char *serial, size_t size)
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

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
	(void)cls;
	(void)conn;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		*socket_context = calloc(1, sizeof(struct conn_state)); /* NULL: no cache */
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
		struct conn_state *cs = *socket_context;
		free(cs->der);
		free(cs);
		*socket_context = NULL;
	}
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

/* Appends upload data, never holding more than MG_HTTP_MAX_BODY bytes. */
static int append(struct req_state *st, const char *data, size_t n)
{
	if (st->too_large) {
		if (n > MAX_DRAIN - st->discarded)
			return -EFBIG;
		st->discarded += n;
		return 0;
	}
	if (n > MG_HTTP_MAX_BODY - st->len) {
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

static enum MHD_Result on_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                              const char *value)
{
	struct req_state *st = cls;
	(void)kind;
	if (!key || st->n_args >= MG_HTTP_MAX_ARGS) {
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
	}
	pthread_mutex_unlock(&srv->lock);
	if (granted || stopping)
		return; /* stopping: the next call closes the connection */
	/* Suspended before it is queued, so that whoever dequeues it may resume it. */
	st->suspended = true;
	MHD_suspend_connection(conn);
	pthread_mutex_lock(&srv->lock);
	st->conn = conn;
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
		uint64_t n;
		st = calloc(1, sizeof(*st));
		if (!st)
			return MHD_NO;
		*con_cls = st;
		if (cl && mg_parse_u64(cl, 0, UINT64_MAX, &n) == 0 && n > MG_HTTP_MAX_BODY) {
			st->too_large = true;
			return send_error(conn, 413, "request body larger than 1 MiB");
		}
		if (cl && mg_parse_u64(cl, 0, MG_HTTP_MAX_BODY, &n) == 0)
			st->announced = (size_t)n;
		else if (!cl && MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		                                            MHD_HTTP_HEADER_TRANSFER_ENCODING))
			st->need = MG_HTTP_MAX_BODY; /* chunked: up to the cap */
		if (st->announced >= SMALL_BODY)
			st->need = st->announced;
		if (st->need)
			budget_wait(srv, conn, st);
		return MHD_YES;
	}
	if (st->job == JOB_DONE) {
		st->job = JOB_NONE;
		return finish(srv, conn, st, st->rc, &st->resp);
	}
	if (srv->stopping && st->need && !st->reserved)
		return MHD_NO; /* resumed to be closed */
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
	if (st->too_large)
		return send_error(conn, 413, "request body larger than 1 MiB");

	st->n_args = 0;
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, on_arg, st);
	if (st->bad_args)
		return send_error(conn, 400, "too many or repeated query arguments");
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
	req.peer = peer_of(conn, req.serial, sizeof(req.serial));
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
	pthread_mutex_init(&srv->lock, NULL);
	srv->d = MHD_start_daemon(
	    flags | MHD_ALLOW_SUSPEND_RESUME, cfg->port, NULL, NULL, on_request, srv,
	    MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_HTTPS_MEM_KEY, cfg->key_pem,
	    MHD_OPTION_HTTPS_MEM_CERT, cfg->cert_pem, MHD_OPTION_HTTPS_MEM_TRUST, cfg->trust_pem,
	    MHD_OPTION_HTTPS_PRIORITIES, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
	    MHD_OPTION_THREAD_POOL_SIZE, cfg->threads, MHD_OPTION_CONNECTION_LIMIT,
	    cfg->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->per_ip,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY, MHD_OPTION_CONNECTION_TIMEOUT,
	    cfg->timeout_s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL, MHD_OPTION_END);
	if (!srv->d) {
		ret = -EIO;
		goto fail;
	}
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
		pthread_mutex_unlock(&(*srv)->lock);
		/* Every queued request is answered (and its connection resumed) first. */
		mg_workq_stop(&(*srv)->work);
		budget_release(*srv, &none);
		MHD_stop_daemon((*srv)->d);
	}
	mg_workq_stop(&(*srv)->work);
	pthread_mutex_destroy(&(*srv)->lock);
	free(*srv);
	*srv = NULL;
}
