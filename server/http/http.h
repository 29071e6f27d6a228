/*
 * Thin adapter over libmicrohttpd (HTTPS through GnuTLS): the server accumulates each
 * request body (at most MG_HTTP_MAX_BODY bytes, enforced while receiving: 413), verifies the
 * client certificate against the trust CA and hands one complete request to a handler. The
 * handler sees no libmicrohttpd type, so the API logic is testable without a socket.
 */
#ifndef MG_HTTP_H
#define MG_HTTP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define MG_HTTP_MAX_BODY    (1024u * 1024u)
#define MG_HTTP_MAX_ARGS    32u           /* query arguments per request; more: 400 */
#define MG_HTTP_MAX_HEADERS 4u            /* extra response headers */
#define MG_HTTP_SMALL_BODY  (64u * 1024u) /* bodies below need no certificate, no budget */
#define MG_HTTP_BODY_WAIT_S 5u            /* longest wait for the body budget: then 503 */
#define MG_HTTP_LOG_EVERY_S 10u           /* rate limit of the attack log lines */

/* One query argument ("?key=value", percent-decoded; "?key" has value ""). */
struct mg_http_arg {
	const char *key;
	const char *value;
};

enum mg_http_peer {
	MG_PEER_NONE,     /* no client certificate was sent */
	MG_PEER_INVALID,  /* sent, but does not verify against the trust CA (or is unreadable) */
	MG_PEER_VERIFIED, /* verified; serial holds its serial number */
};

struct mg_http_request {
	const char *method;
	const char *url;
	const char *body; /* NUL-terminated; body_len bytes */
	size_t body_len;
	enum mg_http_peer peer;
	char serial[72]; /* lower-case hex, no leading zero bytes; "" unless VERIFIED */
	char remote[64]; /* client address */
	/* Query arguments, each key at most once (the adapter answers 400 to a repeated key). */
	const struct mg_http_arg *args;
	size_t n_args;
	const char *if_none_match; /* If-None-Match header; NULL: absent */
	const char *authorization; /* Authorization header; NULL: absent */
};

/* The value of query argument key, NULL when absent. */
const char *mg_http_arg(const struct mg_http_request *req, const char *key);

struct mg_http_response {
	unsigned status;
	char *body;               /* malloc'd, NUL-terminated, or NULL (the server frees it) */
	const char *content_type; /* static string; NULL: application/json when there is a body */
	unsigned retry_after;     /* seconds; 0: no Retry-After header */
	struct {
		char name[32];
		char value[256];
	} headers[MG_HTTP_MAX_HEADERS]; /* more response headers (ETag, Content-Disposition...) */
	unsigned n_headers;
};

/* Adds a response header. 0, -E2BIG (no room, or name/value too long), -EINVAL (CR/LF). */
int mg_http_header(struct mg_http_response *resp, const char *name, const char *value);

/* Returns 0 with resp filled; a negative errno makes the server answer 500. */
typedef int (*mg_http_handler)(void *ctx, const struct mg_http_request *req,
                               struct mg_http_response *resp);

struct mg_http_config {
	const char *address; /* IPv4 or IPv6 literal */
	uint16_t port;       /* 0: any free port (see mg_http_port()) */
	const char *key_pem, *cert_pem, *trust_pem;
	unsigned threads;         /* thread pool size, >= 1 */
	unsigned max_connections; /* total */
	unsigned per_ip;          /* connections per client address */
	unsigned timeout_s;       /* idle connection timeout */
	/* Bytes of request bodies held in memory at once (bodies from 64 KiB up count); a request
	 * that does not fit waits, unread, until earlier ones are done, at most MG_HTTP_BODY_WAIT_S
	 * seconds (then 503 with Retry-After). 0: 8 MiB. */
	size_t body_budget;
	/* Bodies of 64 KiB or more (or chunked) are taken only from a verified client certificate
	 * on a request for which large_body(method, url) is true (NULL: none), checked before any
	 * budget is reserved: 401 without a certificate, 403 with one that does not verify, 413 on
	 * other routes (whose bodies are capped at 64 KiB). At most max_large such requests are
	 * taken at once (receiving, waiting or handled; more: 503 with Retry-After before the
	 * body is read). 0: 64. */
	bool (*large_body)(const char *method, const char *url);
	/* Optional, with handler_ctx: whether the verified certificate serial names an enrolled,
	 * not revoked host; checked for large bodies before any budget is reserved (false: 403),
	 * so that a revoked terminal cannot hold the budget either. */
	bool (*peer_enrolled)(void *ctx, const char *serial);
	unsigned max_large;
	/* Deadlines (0: the defaults, 5 s and 30 s): TLS handshake plus request head of a
	 * connection without a verified client certificate (also between its requests, and for
	 * its bodies, which stay below 64 KiB), and the whole body of a verified one's request
	 * once it may be read. Passed: the connection is closed. */
	unsigned head_timeout_s;
	unsigned body_timeout_s;
	/* Connections without a verified client certificate (yet) held at once; beyond, the
	 * oldest one of the client address holding most of them (not while its handler runs)
	 * is closed. 0: three
	 * quarters of max_connections, the rest is kept for enrolled terminals. */
	unsigned max_unverified;
	mg_http_handler handler;
	void *handler_ctx;
	/* Requests for which offload(method, url) is true run their handler on a pool of
	 * work_threads threads instead of the connection's thread, which meanwhile serves its
	 * other connections (for handlers that wait for a database commit). NULL or 0: none. */
	bool (*offload)(const char *method, const char *url);
	unsigned work_threads;
};

/*
 * A rate-limited log line (refused certificates, oversized bodies, overload, deadlines): at
 * most one line per MG_HTTP_LOG_EVERY_S seconds per limiter; the next line says how many were
 * left out. Initialise with MG_HTTP_RATELOG_INIT.
 */
struct mg_http_ratelog {
	pthread_mutex_t mu;
	int64_t last_ms; /* monotonic; 0: never */
	unsigned suppressed;
};
#define MG_HTTP_RATELOG_INIT                                                                       \
	{                                                                                          \
		PTHREAD_MUTEX_INITIALIZER, 0, 0                                                    \
	}
void mg_http_ratelog(struct mg_http_ratelog *rl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

struct mg_http_server;

/* Starts listening (background threads). -EADDRINUSE, -EINVAL, -EIO. */
int mg_http_start(const struct mg_http_config *cfg, struct mg_http_server **out);
/* The port actually bound. */
uint16_t mg_http_port(const struct mg_http_server *srv);
/* Stops the threads, closes every connection; NULL accepted. */
void mg_http_stop(struct mg_http_server **srv);

/* resp = status with the compact JSON of o (consumed; NULL: -ENOMEM): the answer of every
 * endpoint. 0 or -ENOMEM. */
int mg_http_json(struct mg_http_response *resp, unsigned status, json_t *o);
/* resp = status with {"error": msg}. 0 or -ENOMEM. */
int mg_http_error(struct mg_http_response *resp, unsigned status, const char *msg);

#endif
