/*
 * POST /v1/requests (docs/API.md): a terminal user asks for a blocked device. Filed for the
 * host behind the client certificate, idempotent by the terminal's request_id: 201 when new,
 * 200 with the same answer for an identical retry, 409 for the same request_id with other
 * content, 429 when the host already has MG_STORE_MAX_PENDING_REQUESTS pending requests.
 */
#include <errno.h>
#include <stdlib.h>

#include <jansson.h>

#include "api.h"
#include "api_body.h"
#include "mg/time.h"

static int store_error(struct mg_http_response *resp, int r)
{
	switch (r) {
	case -EEXIST:
		return mg_http_error(resp, 409, "request_id already used for a different request");
	case -EDQUOT:
		/* The terminal retries later; an administrator's decisions make room. */
		resp->retry_after = 600;
		return mg_http_error(resp, 429, "too many pending requests for this terminal");
	case -EINVAL:
		return mg_http_error(resp, 400, "a field is out of bounds");
	case -ETIMEDOUT:
		resp->retry_after = 1;
		return mg_http_error(resp, 503, "database busy");
	default:
		return r;
	}
}

int mg_api_requests(struct mg_api *api, const struct mg_http_request *req,
                    struct mg_http_response *resp)
{
	struct mg_store_host host;
	struct mg_store_request *q = NULL, *got = NULL;
	char err[256] = "";
	int64_t id = 0, now = mg_now_us();
	int r = mg_api_host(api, req, resp, &host);
	if (r < 0)
		return r == -EACCES ? 0 : r;
	q = calloc(1, sizeof(*q));
	got = calloc(1, sizeof(*got));
	r = -ENOMEM;
	if (!q || !got)
		goto done;
	r = mg_api_parse_request(req->body, req->body_len, q, err, sizeof(err));
	if (r == -EINVAL) {
		r = mg_http_error(resp, 400, err);
		goto done;
	}
	if (r < 0)
		goto done;
	q->host_id = host.id;
	r = mg_store_request_add(api->store, q, now, &id);
	if (r == 0)
		r = mg_store_request_get(api->store, id, got);
	if (r < 0) {
		r = store_error(resp, r);
		goto done;
	}
	/* A retry finds the row its first attempt created, with that attempt's time. */
	r = mg_http_json(resp, got->created_us == now ? 201 : 200,
	                 json_pack("{s:I,s:s}", "id", (json_int_t)got->id, "state",
	                           mg_request_state_name(got->state)));
done:
	free(q);
	free(got);
	return r;
}
