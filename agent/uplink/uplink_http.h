/*
 * The uplink's libcurl adapter: one easy handle reused for every request (keep-alive, TLS
 * session reuse), HTTPS only, TLS >= 1.2 verified against exactly the pinned CA (no system
 * CAs, no proxy from the environment, no redirects), a client certificate when given. Each
 * request ends in a result: the HTTP status, Retry-After, ETag and body byte for byte, or
 * status 0 and what went wrong in words. Nothing here logs.
 */
#ifndef MG_UPLINK_HTTP_H
#define MG_UPLINK_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "uplink_proto.h"

#define MG_UPLINK_URL_MAX 511

struct mg_uplink_http;

struct mg_uplink_http_req {
	const char *collector; /* base URL, named in errors */
	const char *path;      /* "/v1/events" */
	const char *body;      /* NULL: GET */
	size_t body_len;
	const char *if_none_match; /* NULL or "": no If-None-Match */
	const char *ca;            /* pinned CA, PEM */
	size_t ca_len;
	const char *cert, *key; /* client certificate and key, PEM; NULL: none */
	size_t cert_len, key_len;
};

/* What the agent gets back (an ANSWER frame). */
struct mg_uplink_result {
	uint16_t status; /* 0: no HTTP answer */
	uint32_t retry_after;
	char etag[MG_UPLINK_MAX_ETAG + 1];
	size_t etag_len;
	char error[MG_UPLINK_MAX_ERROR + 1];
	uint8_t *body; /* owned; NULL when empty */
	size_t body_len;
};

/* The handle (curl_global_init() must have run). 0 or -ENOMEM. */
int mg_uplink_http_new(struct mg_uplink_http **out);
void mg_uplink_http_free(struct mg_uplink_http **h);

/* Performs req; res (cleared first) always says how it ended. */
void mg_uplink_http_do(struct mg_uplink_http *h, const struct mg_uplink_http_req *req,
                       struct mg_uplink_result *res);

/* Sets res to status 0 with the error (printf format; bytes outside printable ASCII become
 * '?'), dropping any body. */
void mg_uplink_result_fail(struct mg_uplink_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void mg_uplink_result_clear(struct mg_uplink_result *res);

/*
 * A collector base URL: https://, a host, optional port and path, no user, query or fragment,
 * printable ASCII, at most MG_UPLINK_URL_MAX bytes. 0 or -EINVAL with why.
 */
int mg_uplink_url_check(const char *url, char *why, size_t whylen);

#endif
