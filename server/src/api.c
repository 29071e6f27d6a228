/* Routing of the terminal-facing API (api.h): one table of endpoints. */
#include "api.h"

#include <errno.h>
#include <string.h>

static const struct {
	const char *path;
	int (*fn)(struct mg_api *api, const struct mg_http_request *req,
	          struct mg_http_response *resp);
} routes[] = {
    {"/v1/enroll", mg_api_enroll},
    {"/v1/events", mg_api_events},
    {"/v1/heartbeat", mg_api_heartbeat},
};

int mg_api_handle(void *ctx, const struct mg_http_request *req, struct mg_http_response *resp)
{
	struct mg_api *api = ctx;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(req->url, routes[i].path) != 0)
			continue;
		if (strcmp(req->method, "POST") != 0)
			return mg_http_error(resp, 405, "method not allowed");
		return routes[i].fn(api, req, resp);
	}
	return mg_http_error(resp, 404, "not found");
}

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
		r = mg_http_error(resp, 403, "unknown client certificate");
		return r < 0 ? r : -EACCES;
	}
	if (r < 0)
		return r;
	if (host->revoked) {
		r = mg_http_error(resp, 403, "host revoked");
		return r < 0 ? r : -EACCES;
	}
	return 0;
}
