/*
 * Admin API (docs/API.md, "Staff registry", issue 15): staff members and their FIDO2 keys.
 * admin manages staff (add, disable, enable, unlock) and revokes keys; approver approves or
 * denies pending registrations; every role reads. Every change is recorded by the store with
 * its admin action, and every change that alters what terminals get is published at once as
 * a new signed policy version (the policy refresh catches a failed publish: the store bumped
 * the rules revision with the change).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api_admin.h"
#include "json_body.h"
#include "mg/time.h"
#include "policy_build.h"

static json_t *staff_json(const struct mg_store_staff *m)
{
	return json_pack("{s:I,s:s,s:s,s:s,s:s,s:o,s:o,s:o}", "id", (json_int_t)m->id, "login",
	                 m->login, "display_name", m->display_name, "department", m->department,
	                 "state", m->disabled ? "disabled" : "active", "created_at",
	                 mg_admin_time_json(m->created_us), "updated_at",
	                 mg_admin_time_json(m->updated_us), "unlocked_at",
	                 mg_admin_time_json(m->unlocked_us));
}

static json_t *key_json(const struct mg_store_staff_key *k)
{
	return json_pack(
	    "{s:I,s:I,s:s,s:s,s:s,s:i,s:s,s:b,s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:o,s:s,s:o}", "id",
	    (json_int_t)k->id, "staff_id", (json_int_t)k->staff_id, "login", k->login,
	    "credential_id", k->credential_id, "public_key", k->public_key, "cose_alg", k->cose_alg,
	    "rp_id", k->rp_id, "uv", (int)k->uv, "aaguid", k->aaguid, "attestation_fmt",
	    k->attestation_fmt, "attestation_subject", k->attestation_subject, "label", k->label,
	    "registered_by_host", (json_int_t)k->registered_by_host, "registration_id",
	    k->registration_id, "state", mg_staff_key_state_name(k->state), "created_at",
	    mg_admin_time_json(k->created_us), "decided_by", k->decided_by, "decided_at",
	    mg_admin_time_json(k->decided_us));
}

static int add_staff(void *arr, const struct mg_store_staff *m)
{
	return mg_admin_list_add(arr, staff_json(m));
}

static int add_key(void *arr, const struct mg_store_staff_key *k)
{
	return mg_admin_list_add(arr, key_json(k));
}

/* Publishes the change: 200/201 with body (consumed) plus "policy_version", or a 500 saying
 * the change is stored but not yet published. */
static int publish_answer(struct mg_api *api, const struct mg_admin_ctx *who,
                          struct mg_http_response *resp, unsigned status, json_t *body)
{
	uint64_t version = 0;
	int r = mg_policy_publish(api->store, &who->actor, api->policy_key, mg_now_us(),
	                          api->policy_validity_us, &version);
	if (!body)
		return -ENOMEM;
	if (r < 0) {
		char msg[200];
		json_decref(body);
		snprintf(
		    msg, sizeof(msg),
		    "staff changed, but publishing the new policy failed (error %d); the policy "
		    "refresh publishes it",
		    -r);
		return mg_admin_error(resp, 500, msg);
	}
	mg_api_policy_published(api, version); /* terminals' next poll sees it */
	json_object_set_new(body, "policy_version", json_integer((json_int_t)version));
	return mg_http_json(resp, status, body);
}

static int staff_error(struct mg_http_response *resp, int r, const char *what)
{
	char msg[160];
	switch (r) {
	case -ENOENT:
		snprintf(msg, sizeof(msg), "unknown %s", what);
		return mg_admin_error(resp, 404, msg);
	case -EALREADY:
		snprintf(msg, sizeof(msg), "%s is already in that state", what);
		return mg_admin_error(resp, 409, msg);
	case -EDQUOT:
		snprintf(msg, sizeof(msg), "the staff member already has %u active keys",
		         MG_STORE_MAX_STAFF_KEYS);
		return mg_admin_error(resp, 409, msg);
	default:
		return mg_admin_store_error(resp, r, what);
	}
}

int mg_admin_staff_list(struct mg_api *api, const struct mg_admin_ctx *who,
                        const struct mg_http_request *req, const int64_t *params,
                        struct mg_http_response *resp)
{
	json_t *arr = json_array();
	(void)who;
	(void)params;
	if (!arr)
		return -ENOMEM;
	if (req->n_args) {
		json_decref(arr);
		return mg_admin_error(resp, 400, "no query arguments expected");
	}
	return mg_admin_list_answer(resp, "staff", arr,
	                            mg_store_staff_foreach(api->store, add_staff, arr));
}

int mg_admin_staff_get(struct mg_api *api, const struct mg_admin_ctx *who,
                       const struct mg_http_request *req, const int64_t *params,
                       struct mg_http_response *resp)
{
	struct mg_store_staff m;
	json_t *o, *keys;
	(void)who;
	if (req->n_args)
		return mg_admin_error(resp, 400, "no query arguments expected");
	int r = mg_store_staff_get(api->store, params[0], NULL, &m);
	if (r < 0)
		return staff_error(resp, r, "staff member");
	if (!(o = staff_json(&m)) || !(keys = json_array())) {
		json_decref(o);
		return -ENOMEM;
	}
	json_object_set_new(o, "keys", keys);
	r = mg_store_staff_keys_foreach(api->store, m.id, -1, add_key, keys);
	if (r < 0) {
		json_decref(o);
		return staff_error(resp, r, "staff member");
	}
	return mg_http_json(resp, 200, o);
}

int mg_admin_staff_add(struct mg_api *api, const struct mg_admin_ctx *who,
                       const struct mg_http_request *req, const int64_t *params,
                       struct mg_http_response *resp)
{
	static const char *const keys[] = {"login", "display_name", "department", NULL};
	char err[256] = "", login[MG_STORE_LOGIN_SIZE], display[MG_STORE_STAFF_TEXT],
	     dept[MG_STORE_STAFF_TEXT];
	int64_t id = 0;
	int r;
	(void)params;
	if (req->n_args)
		return mg_admin_error(resp, 400, "no query arguments expected");
	json_t *o = mg_body_object(req->body, req->body_len, false, keys, err, sizeof(err));
	if (!o || mg_body_str(o, "login", 0, 1, login, sizeof(login), err, sizeof(err)) < 0 ||
	    mg_body_str(o, "display_name", MG_BODY_OPTIONAL, 0, display, sizeof(display), err,
	                sizeof(err)) == -EINVAL ||
	    mg_body_str(o, "department", MG_BODY_OPTIONAL, 0, dept, sizeof(dept), err,
	                sizeof(err)) == -EINVAL) {
		json_decref(o);
		return mg_admin_error(resp, 400, err);
	}
	json_decref(o);
	r = mg_store_staff_add(api->store, &who->actor, login, display, dept, mg_now_us(), &id);
	if (r == -EINVAL)
		return mg_admin_error(
		    resp, 400,
		    "login: A-Z a-z 0-9 @ . - _ (1-255 bytes, not starting with - "
		    "or .); display_name, department: one line of up to 255 bytes");
	if (r == -EEXIST)
		return mg_admin_error(resp, 409, "login already registered");
	if (r < 0)
		return staff_error(resp, r, "staff member");
	return publish_answer(api, who, resp, 201, json_pack("{s:I}", "id", (json_int_t)id));
}

static int set_state(struct mg_api *api, const struct mg_admin_ctx *who,
                     const struct mg_http_request *req, int64_t id, int what,
                     struct mg_http_response *resp)
{
	int r;
	if (req->n_args)
		return mg_admin_error(resp, 400, "no query arguments expected");
	if (what == 2)
		r = mg_store_staff_unlock(api->store, &who->actor, id, mg_now_us());
	else
		r = mg_store_staff_set_disabled(api->store, &who->actor, id, what == 1,
		                                mg_now_us());
	if (r < 0)
		return staff_error(resp, r, "staff member");
	return publish_answer(api, who, resp, 200, json_object());
}

int mg_admin_staff_disable(struct mg_api *api, const struct mg_admin_ctx *who,
                           const struct mg_http_request *req, const int64_t *params,
                           struct mg_http_response *resp)
{
	return set_state(api, who, req, params[0], 1, resp);
}

int mg_admin_staff_enable(struct mg_api *api, const struct mg_admin_ctx *who,
                          const struct mg_http_request *req, const int64_t *params,
                          struct mg_http_response *resp)
{
	return set_state(api, who, req, params[0], 0, resp);
}

int mg_admin_staff_unlock(struct mg_api *api, const struct mg_admin_ctx *who,
                          const struct mg_http_request *req, const int64_t *params,
                          struct mg_http_response *resp)
{
	return set_state(api, who, req, params[0], 2, resp);
}

int mg_admin_staff_keys_list(struct mg_api *api, const struct mg_admin_ctx *who,
                             const struct mg_http_request *req, const int64_t *params,
                             struct mg_http_response *resp)
{
	const char *st = mg_http_arg(req, "state");
	enum mg_staff_key_state state;
	json_t *arr;
	(void)who;
	(void)params;
	if (req->n_args > 1 || (req->n_args == 1 && !st))
		return mg_admin_error(resp, 400, "only the query argument state is known");
	if (st && mg_staff_key_state_from_name(st, &state) < 0)
		return mg_admin_error(resp, 400,
		                      "state: expected pending, active, revoked or denied");
	if (!(arr = json_array()))
		return -ENOMEM;
	return mg_admin_list_answer(
	    resp, "keys", arr,
	    mg_store_staff_keys_foreach(api->store, 0, st ? (int)state : -1, add_key, arr));
}

static int decide(struct mg_api *api, const struct mg_admin_ctx *who,
                  const struct mg_http_request *req, int64_t id, enum mg_staff_key_state to,
                  struct mg_http_response *resp)
{
	if (req->n_args)
		return mg_admin_error(resp, 400, "no query arguments expected");
	int r = mg_store_staff_key_decide(api->store, &who->actor, id, to, mg_now_us());
	if (r < 0)
		return staff_error(resp, r, "staff key");
	json_t *body = json_pack("{s:s}", "state", mg_staff_key_state_name(to));
	if (to == MG_STAFF_KEY_DENIED) /* never reached terminals: nothing to publish */
		return mg_http_json(resp, 200, body);
	return publish_answer(api, who, resp, 200, body);
}

int mg_admin_staff_key_approve(struct mg_api *api, const struct mg_admin_ctx *who,
                               const struct mg_http_request *req, const int64_t *params,
                               struct mg_http_response *resp)
{
	return decide(api, who, req, params[0], MG_STAFF_KEY_ACTIVE, resp);
}

int mg_admin_staff_key_deny(struct mg_api *api, const struct mg_admin_ctx *who,
                            const struct mg_http_request *req, const int64_t *params,
                            struct mg_http_response *resp)
{
	return decide(api, who, req, params[0], MG_STAFF_KEY_DENIED, resp);
}

int mg_admin_staff_key_revoke(struct mg_api *api, const struct mg_admin_ctx *who,
                              const struct mg_http_request *req, const int64_t *params,
                              struct mg_http_response *resp)
{
	return decide(api, who, req, params[0], MG_STAFF_KEY_REVOKED, resp);
}
