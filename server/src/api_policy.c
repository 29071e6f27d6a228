/* PLACEHOLDER (being written): GET /v1/policy, POST /v1/policy/applied. */
#include "api.h"

int mg_api_policy_get(struct mg_api *api, const struct mg_http_request *req,
                      struct mg_http_response *resp)
{
	(void)api;
	(void)req;
	return mg_http_error(resp, 501, "not implemented yet");
}

int mg_api_policy_applied(struct mg_api *api, const struct mg_http_request *req,
                          struct mg_http_response *resp)
{
	(void)api;
	(void)req;
	return mg_http_error(resp, 501, "not implemented yet");
}
