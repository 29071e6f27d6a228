/* Routing of the collector API (api.h): one table of terminal endpoints; /v1/admin/ goes to
 * the admin router (api_admin.c). Also the JSON answer all endpoints share. */
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
};

#define ADMIN_PREFIX "/v1/admin/"

int mg_api_handle(void *ctx, const struct mg_http_request *req, struct mg_http_response *resp)
{
	struct mg_api *api = ctx;
	if (strncmp(req->url, ADMIN_PREFIX, strlen(ADMIN_PREFIX)) == 0)
		return mg_api_admin(api, req, resp);
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(req->url, routes[i].path) != 0)
			continue;
		if (strcmp(req->method, routes[i].method) != 0)
			return mg_http_error(resp, 405, "method not allowed");
		return routes[i].fn(api, req, resp);
	}
	return mg_http_error(resp, 404, "not found");
}

bool mg_api_offload(const char *method, const char *url)
{
	(void)url;
	/* Everything but reads changes the database and waits for its commit (or, for a login,
	 * for Argon2id): off the connection threads. Policy polls stay on them. */
	return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}

int mg_api_json(struct mg_http_response *resp, unsigned status, json_t *o)
{
	if (!o)
		return -ENOMEM;
	resp->body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!resp->body)
		return -ENOMEM;
	resp->status = status;
	return 0;
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
