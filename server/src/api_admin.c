/* PLACEHOLDER (being written): the admin router. */
#include "api.h"

int mg_api_admin(struct mg_api *api, const struct mg_http_request *req,
                 struct mg_http_response *resp)
{
	(void)api;
	(void)req;
	return mg_http_error(resp, 501, "not implemented yet");
}
