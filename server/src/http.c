/* libmicrohttpd + GnuTLS adapter (http.h). */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <jansson.h>
#include <microhttpd.h>

#include "mg/config.h"

struct mg_http_server {
	struct MHD_Daemon *d;
	mg_http_handler handler;
	void *ctx;
	uint16_t port;
};

/* Per-connection request state (MHD's con_cls). */
struct req_state {
	char *buf;
	size_t len, cap;
	bool too_large;
	size_t discarded; /* bytes received after the cap was passed */
	struct mg_http_arg args[MG_HTTP_MAX_ARGS];
	size_t n_args;
	bool bad_args; /* too many or a repeated key */
};

/*
 * libmicrohttpd can only answer before the body is read or after all of it: a body without
 * Content-Length that passes the cap is drained (not stored) up to this many bytes to answer
 * 413; beyond that the connection is closed without an answer.
 */
#define MAX_DRAIN (4u * MG_HTTP_MAX_BODY)

int mg_http_error(struct mg_http_response *resp, unsigned status, const char *msg)
{
	json_t *o = json_pack("{s:s}", "error", msg);
	char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	free(resp->body);
	resp->status = status;
	resp->body = body;
	return body ? 0 : -ENOMEM;
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

/* Classifies the client certificate of the TLS session; serial of a verified one. */
static enum mg_http_peer peer_of(struct MHD_Connection *conn, char *serial, size_t size)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	gnutls_session_t s;
	const gnutls_datum_t *certs;
	unsigned int n = 0, status = 0;
	gnutls_x509_crt_t crt = NULL;
	unsigned char raw[64];
	size_t rawlen = sizeof(raw), i = 0, o = 0;
	enum mg_http_peer ret = MG_PEER_INVALID;
	static const char digits[] = "0123456789abcdef";

	if (!ci || !ci->tls_session)
		return MG_PEER_NONE;
	s = (gnutls_session_t)ci->tls_session;
	certs = gnutls_certificate_get_peers(s, &n);
	if (!certs || n == 0)
		return MG_PEER_NONE;
	/* The verification status, not only the presence of a certificate. */
	if (gnutls_certificate_verify_peers2(s, &status) < 0 || status != 0)
		return MG_PEER_INVALID;
	if (gnutls_x509_crt_init(&crt) < 0)
		return MG_PEER_INVALID;
	if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) < 0 ||
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
		size_t cap = st->cap ? st->cap : 4096;
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

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	struct mg_http_server *srv = cls;
	struct req_state *st = *con_cls;
	struct mg_http_request req = {0};
	struct mg_http_response resp = {0};
	enum MHD_Result ret;
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
		return MHD_YES;
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
	if (srv->handler(srv->ctx, &req, &resp) < 0 || resp.status < 100 || resp.status > 599) {
		free(resp.body);
		return send_error(conn, 500, "internal error");
	}
	ret = send_response(conn, &resp);
	free(resp.body);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct req_state *st = *con_cls;
	(void)cls;
	(void)conn;
	(void)toe;
	if (!st)
		return;
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
	srv->d = MHD_start_daemon(
	    flags, cfg->port, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, sa,
	    MHD_OPTION_HTTPS_MEM_KEY, cfg->key_pem, MHD_OPTION_HTTPS_MEM_CERT, cfg->cert_pem,
	    MHD_OPTION_HTTPS_MEM_TRUST, cfg->trust_pem, MHD_OPTION_HTTPS_PRIORITIES,
	    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2", MHD_OPTION_THREAD_POOL_SIZE, cfg->threads,
	    MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    cfg->per_ip, MHD_OPTION_CONNECTION_TIMEOUT, cfg->timeout_s, MHD_OPTION_NOTIFY_COMPLETED,
	    on_completed, NULL, MHD_OPTION_END);
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
	if ((*srv)->d)
		MHD_stop_daemon((*srv)->d);
	free(*srv);
	*srv = NULL;
}
