/* The front door (router.h): admin prefix to the admin router, the rest to the terminal one. */
#include "router.h"

#include <string.h>

#include "api.h"
#include "api_admin.h"

#define ADMIN_PREFIX "/v1/admin/"

int mg_router_handle(void *ctx, const struct mg_http_request *req, struct mg_http_response *resp)
{
	if (strncmp(req->url, ADMIN_PREFIX, strlen(ADMIN_PREFIX)) == 0)
		return mg_admin_handle(ctx, req, resp);
	return mg_api_handle(ctx, req, resp);
}

bool mg_router_offload(const char *method, const char *url)
{
	(void)url;
	/* Everything but reads changes the database and waits for its commit (or, for a login,
	 * for Argon2id): off the connection threads. Policy polls stay on them. */
	return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}
