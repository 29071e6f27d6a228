/*
 * POST /v1/heartbeat (docs/API.md): the terminal's spool and policy state. A policy_version
 * above every published version is refused with 409, as POST /v1/policy/applied refuses it
 * (issue 14, finding 7): the hosts list never shows a version that does not exist.
 */
#include <errno.h>
#include <stdatomic.h>

#include "api.h"
#include "api_body.h"
#include "mg/time.h"

int mg_api_heartbeat(struct mg_api *api, const struct mg_http_request *req,
                     struct mg_http_response *resp)
{
	struct mg_store_host host;
	struct mg_heartbeat_req hb;
	char err[256] = "";
	int r = mg_api_host(api, req, resp, &host);
	if (r < 0)
		return r == -EACCES ? 0 : r;
	r = mg_api_parse_heartbeat(req->body, req->body_len, &hb, err, sizeof(err));
	if (r == -EINVAL)
		return mg_http_error(resp, 400, err);
	if (r < 0)
		return r;
	if (hb.policy_version > atomic_load(&api->policy_latest)) {
		/* The cache may lag a publication by another process: ask the store. */
		uint64_t latest = 0;
		r = mg_store_policy_latest(api->store, &latest);
		if (r == -ETIMEDOUT) {
			resp->retry_after = 1;
			return mg_http_error(resp, 503, "database busy");
		}
		if (r < 0)
			return r;
		mg_api_policy_published(api, latest);
		if (hb.policy_version > latest)
			return mg_http_error(resp, 409, "policy_version was never published");
	}
	r = mg_store_host_heartbeat(api->store, host.id, mg_now_us(), hb.spool_depth,
	                            hb.oldest_unsent_us, hb.policy_version, hb.agent_version);
	if (r == -EINVAL)
		return mg_http_error(resp, 400, "heartbeat values out of range");
	if (r < 0)
		return r;
	resp->status = 204;
	return 0;
}
