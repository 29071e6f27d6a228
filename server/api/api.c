/* The terminal router (api.h): one table of terminal endpoints, and the client certificate ->
 * host check they share. /v1/admin/ is the admin router's (router/router.c sends it there). */
#include "api.h"

#include <errno.h>
#include <string.h>

static const struct {
	const char *method;
	const char *path;
	int (*fn)(struct mg_api *api, const struct mg_http_request *req,
	          struct mg_http_response *resp);
} routes[] = {
    {"POST", "/v1/enroll", mg_api_enroll},
    {"POST", "/v1/events", mg_api_events},
    {"POST", "/v1/heartbeat", mg_api_heartbeat},
    {"GET", "/v1/policy", mg_api_policy_get},
    {"POST", "/v1/policy/applied", mg_api_policy_applied},
    {"POST", "/v1/requests", mg_api_requests},
    {"POST", "/v1/staff/registrations", mg_api_staff_registrations},
};

int mg_api_handle(void *ctx, const struct mg_http_request *req, struct mg_http_response *resp)
{
	struct mg_api *api = ctx;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(req->url, routes[i].path) != 0)
			continue;
		if (strcmp(req->method, routes[i].method) != 0)
			return mg_http_error(resp, 405, "method not allowed");
		return routes[i].fn(api, req, resp);
	}
	return mg_http_error(resp, 404, "not found");
}

bool mg_api_large_body(const char *method, const char *url)
{
	return strcmp(method, "POST") == 0 && strcmp(url, "/v1/events") == 0;
}

bool mg_api_peer_enrolled(void *ctx, const char *serial)
{
	struct mg_api *api = ctx;
	struct mg_store_host host;
	return mg_store_host_by_cert(api->store, serial, &host) == 0 && !host.revoked;
}

/* Certificates of this CA that name no enrolled host, or a revoked one (rate-limited). */
static struct mg_http_ratelog refused_log = MG_HTTP_RATELOG_INIT;

int mg_api_host(struct mg_api *api, const struct mg_http_request *req,
                struct mg_http_response *resp, struct mg_store_host *host)
{
	int r;
	if (req->peer == MG_PEER_NONE) {
		r = mg_http_error(resp, 401, "client certificate required");
		return r < 0 ? r : -EACCES;
	}
	if (req->peer != MG_PEER_VERIFIED) {
		r = mg_http_error(resp, 403, "client certificate not issued by this collector");
		return r < 0 ? r : -EACCES;
	}
	r = mg_store_host_by_cert(api->store, req->serial, host);
	if (r == -ENOENT) {
		mg_http_ratelog(
		    &refused_log,
		    "refused client certificate from %s: serial %s names no enrolled host",
		    req->remote, req->serial);
		r = mg_http_error(resp, 403, "unknown client certificate");
		return r < 0 ? r : -EACCES;
	}
	if (r < 0)
		return r;
	if (host->revoked) {
		mg_http_ratelog(
		    &refused_log,
		    "refused client certificate from %s: host %lld (serial %s) is revoked",
		    req->remote, (long long)host->id, req->serial);
		r = mg_http_error(resp, 403, "host revoked");
		return r < 0 ? r : -EACCES;
	}
	return 0;
}
