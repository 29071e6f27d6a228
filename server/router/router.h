/*
 * The collector's front door: the one mg_http_handler of `serve`. /v1/admin/... goes to the
 * admin router (admin/api_admin.h), everything else to the terminal router (api/api.h); both
 * get the same struct mg_api. Knows prefixes, not endpoints.
 */
#ifndef MG_ROUTER_H
#define MG_ROUTER_H

#include <stdbool.h>

#include "http.h"

/* The mg_http_config handler (ctx: struct mg_api *). */
int mg_router_handle(void *ctx, const struct mg_http_request *req, struct mg_http_response *resp);
/* The mg_http_config offload predicate: true for the requests that write (not GET/HEAD). */
bool mg_router_offload(const char *method, const char *url);

#endif
