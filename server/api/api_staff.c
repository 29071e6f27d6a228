/*
 * POST /v1/staff/registrations (docs/API.md, "Staff key registrations", issue 15): a terminal
 * files a staff member's new FIDO2 credential, pending until an approver approves it. Filed
 * for the host behind the client certificate, idempotent by the terminal's registration_id:
 * 201 when new, 200 for an identical retry; 404 no such staff member, 403 staff disabled, 409
 * credential id already registered (or registration_id reused with other content), 422 the
 * attestation does not verify, 400 malformed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "api.h"
#include "api_staff_attest.h"
#include "api_staff_body.h"
#include "mg/time.h"

static int store_error(struct mg_http_response *resp, int r, const char *login)
{
	char msg[400];
	switch (r) {
	case -ENOENT:
		snprintf(msg, sizeof(msg), "no staff member %s: an administrator adds staff first",
		         login);
		return mg_http_error(resp, 404, msg);
	case -EPERM:
		snprintf(msg, sizeof(msg), "staff member %s is disabled", login);
		return mg_http_error(resp, 403, msg);
	case -EEXIST:
		return mg_http_error(resp, 409,
		                     "credential id already registered, or registration_id already "
		                     "used for a different registration");
	case -EDQUOT:
		/* An approver's decisions make room; the person files again later. */
		resp->retry_after = 600;
		return mg_http_error(resp, 429,
		                     "too many pending registrations from this terminal: an "
		                     "approver decides them first");
	case -EINVAL:
		return mg_http_error(resp, 400, "a field is out of bounds");
	case -ETIMEDOUT:
		resp->retry_after = 1;
		return mg_http_error(resp, 503, "database busy");
	default:
		return r;
	}
}

int mg_api_staff_registrations(struct mg_api *api, const struct mg_http_request *req,
                               struct mg_http_response *resp)
{
	struct mg_store_host host;
	struct mg_staff_reg *reg = NULL;
	char err[300] = "";
	int64_t id = 0;
	bool created = false;
	int r = mg_api_host(api, req, resp, &host);
	if (r < 0)
		return r == -EACCES ? 0 : r;
	reg = malloc(sizeof(*reg));
	if (!reg)
		return -ENOMEM;
	r = mg_api_parse_staff_reg(req->body, req->body_len, reg, err, sizeof(err));
	if (r == -EINVAL) {
		r = mg_http_error(resp, 400, err);
		goto done;
	}
	if (r < 0)
		goto done;
	r = mg_staff_attest_verify(reg, err, sizeof(err));
	if (r == -EBADMSG) {
		r = mg_http_error(resp, 422, err);
		goto done;
	}
	if (r < 0)
		goto done;
	reg->key.registered_by_host = host.id;
	r = mg_store_staff_key_add(api->store, &reg->key, mg_now_us(), &id, &created);
	if (r < 0) {
		r = store_error(resp, r, reg->key.login);
		goto done;
	}
	struct mg_store_staff_key *got = malloc(sizeof(*got));
	if (!got) {
		r = -ENOMEM;
		goto done;
	}
	r = mg_store_staff_key_get(api->store, id, got);
	if (r == 0)
		r = mg_http_json(resp, created ? 201 : 200,
		                 json_pack("{s:I,s:s}", "id", (json_int_t)id, "state",
		                           mg_staff_key_state_name(got->state)));
	else
		r = store_error(resp, r, reg->key.login);
	free(got);
done:
	free(reg);
	return r;
}
