/* POST /v1/events (docs/API.md): exactly-once ingest of a hash-chained batch. */
#include <errno.h>
#include <stdlib.h>

#include <jansson.h>

#include "api.h"
#include "api_body.h"
#include "mg/time.h"

static int result(struct mg_http_response *resp, const struct mg_ingest_result *res)
{
	switch (res->status) {
	case MG_INGEST_OK:
		return mg_http_json(resp, 200,
		                    json_pack("{s:I,s:I}", "acked_through",
		                              (json_int_t)res->acked_through, "stored",
		                              (json_int_t)res->stored));
	case MG_INGEST_GAP:
		return mg_http_json(resp, 409,
		                    json_pack("{s:s,s:I,s:I}", "error",
		                              "events missing before this batch", "resend_from",
		                              (json_int_t)res->resend_from, "acked_through",
		                              (json_int_t)res->acked_through));
	case MG_INGEST_CONFLICT:
		return mg_http_json(resp, 422,
		                    json_pack("{s:s,s:I}", "error",
		                              "an event differs from the one already stored", "seq",
		                              (json_int_t)res->bad_seq));
	case MG_INGEST_BROKEN_CHAIN:
		return mg_http_json(resp, 422,
		                    json_pack("{s:s,s:I}", "error",
		                              "prev_hash breaks the hash chain", "seq",
		                              (json_int_t)res->bad_seq));
	}
	return -EINVAL;
}

static int ingest_error(struct mg_http_response *resp, int r)
{
	switch (r) {
	case -EINVAL:
		return mg_http_error(resp, 400, "seq not consecutive or a field out of bounds");
	case -ENOENT:
	case -EPERM:
		return mg_http_error(resp, 403, "host revoked");
	case -ENOSPC:
		return mg_http_error(resp, 507, "collector storage full");
	case -ETIMEDOUT:
		resp->retry_after = 1;
		return mg_http_error(resp, 503, "database busy");
	default:
		return r;
	}
}

int mg_api_events(struct mg_api *api, const struct mg_http_request *req,
                  struct mg_http_response *resp)
{
	struct mg_store_host host;
	struct mg_events_batch *b = NULL;
	struct mg_ingest_result res;
	char err[256] = "";
	int r = mg_api_host(api, req, resp, &host);
	if (r < 0)
		return r == -EACCES ? 0 : r;
	if (atomic_fetch_add(&api->inflight, 1) >= api->max_inflight) {
		resp->retry_after = 1;
		r = mg_http_error(resp, 503, "collector overloaded");
		goto done;
	}
	r = mg_api_parse_events(req->body, req->body_len, &b, err, sizeof(err));
	if (r < 0) {
		if (r == -EINVAL)
			r = mg_http_error(resp, 400, err);
		else if (r == -EFBIG)
			r = mg_http_error(resp, 413, err);
		else if (r == -EBADMSG)
			r = mg_http_error(resp, 422, err);
		goto done;
	}
	r = mg_store_ingest(api->store, host.id, b->boot_id, b->evs, b->n, mg_now_us(), &res);
	r = r < 0 ? ingest_error(resp, r) : result(resp, &res);
done:
	atomic_fetch_sub(&api->inflight, 1);
	mg_events_batch_free(&b);
	return r;
}
