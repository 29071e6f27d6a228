/*
 * Admin accounts and enrolment tokens (api_admin.h): GET/POST /v1/admin/admins,
 * POST /v1/admin/admins/{id}, POST /v1/admin/admins/{id}/unlock, POST /v1/admin/tokens.
 */
#include "api_admin.h"

#include <errno.h>
#include <string.h>

#include "api_admin_body.h"
#include "enroll_token.h"
#include "login_guard.h"
#include "mg/time.h"

static json_t *admin_json(const struct mg_store_admin *a)
{
	return json_pack("{s:I,s:s,s:s,s:b,s:o}", "id", (json_int_t)a->id, "name", a->name, "role",
	                 mg_admin_role_name(a->role), "disabled", a->disabled, "created_at",
	                 mg_admin_time_json(a->created_us));
}

static int admin_row(void *ctx, const struct mg_store_admin *a)
{
	return mg_admin_list_add(ctx, admin_json(a));
}

/* Adds "locked" (the account's lockout, admin_auth.h) to the account object o. */
static int add_locked(struct mg_api *api, json_t *o)
{
	int r = mg_store_admin_locked(api->store,
	                              (int64_t)json_integer_value(json_object_get(o, "id")), NULL);
	if (r < 0 && r != -ENOENT)
		return r;
	return json_object_set_new(o, "locked", json_boolean(r == 0)) == 0 ? 0 : -ENOMEM;
}

int mg_admin_admins_list(struct mg_api *api, const struct mg_admin_ctx *who,
                         const struct mg_http_request *req, const int64_t *params,
                         struct mg_http_response *resp)
{
	json_t *arr = json_array(), *o;
	size_t i;
	int r;
	(void)who;
	(void)req;
	(void)params;
	if (!arr)
		return -ENOMEM;
	r = mg_store_admins_foreach(api->store, admin_row, arr);
	json_array_foreach(arr, i, o)
	{
		if (r == 0)
			r = add_locked(api, o);
	}
	return mg_admin_list_answer(resp, "admins", arr, r);
}

int mg_admin_admin_unlock(struct mg_api *api, const struct mg_admin_ctx *who,
                          const struct mg_http_request *req, const int64_t *params,
                          struct mg_http_response *resp)
{
	struct mg_store_admin a;
	json_t *o;
	int r;
	(void)req;
	r = mg_store_admin_get_id(api->store, params[0], &a);
	if (r < 0)
		return mg_admin_store_error(resp, r, "admin");
	explicit_bzero(a.password_hash, sizeof(a.password_hash));
	/* The login guard's failures and delays of the name go too, locked or not. */
	if (mg_login_guard_default())
		mg_login_guard_forget(mg_login_guard_default(), a.name);
	r = mg_store_admin_unlock(api->store, &who->actor, a.id, mg_now_us());
	if (r == -EALREADY)
		return mg_http_error(resp, 409, "admin: not locked");
	if (r < 0)
		return mg_admin_store_error(resp, r, "admin");
	o = admin_json(&a);
	if (!o || json_object_set_new(o, "locked", json_false()) < 0) {
		json_decref(o);
		return -ENOMEM;
	}
	return mg_http_json(resp, 200, o);
}

/* Hashes password at api->argon2 cost under the Argon2 limit. 0; or resp filled (400 policy,
 * 503 busy) and -EAGAIN; or an error. */
static int hash_password(struct mg_api *api, const char *password, const char *field,
                         char hash[MG_ADMIN_HASH_SIZE], struct mg_http_response *resp)
{
	int r = mg_admin_argon2_enter(api, resp);
	if (r < 0)
		return r == -EBUSY ? -EAGAIN : r;
	r = mg_admin_password_hash(password, api->argon2, hash);
	mg_admin_argon2_leave(api);
	if (r == -EINVAL || r == -ERANGE) {
		r = mg_admin_password_error(resp, r, field);
		return r < 0 ? r : -EAGAIN;
	}
	return r;
}

int mg_admin_admin_add(struct mg_api *api, const struct mg_admin_ctx *who,
                       const struct mg_http_request *req, const int64_t *params,
                       struct mg_http_response *resp)
{
	struct mg_admin_new_req in;
	char hash[MG_ADMIN_HASH_SIZE] = "", err[256];
	int64_t id = 0;
	int r;
	(void)params;

	r = mg_admin_parse_admin_new(req->body, req->body_len, &in, err, sizeof(err));
	if (r < 0)
		return r == -EINVAL ? mg_http_error(resp, 400, err) : r;
	/* A taken name is refused before the costly hash (the store refuses it again, -EEXIST,
	 * when two requests race). */
	{
		struct mg_store_admin old;
		r = mg_store_admin_get(api->store, in.name, &old);
		explicit_bzero(old.password_hash, sizeof(old.password_hash));
		if (r == 0) {
			r = mg_http_error(resp, 409, "name: already taken");
			goto done;
		}
		if (r != -ENOENT) {
			r = mg_admin_store_error(resp, r, "admin");
			goto done;
		}
	}
	r = hash_password(api, in.password, "password", hash, resp);
	if (r < 0)
		goto done;
	r = mg_store_admin_add(api->store, &who->actor, in.name, hash, in.role, mg_now_us(), &id);
	if (r == -EEXIST)
		r = mg_http_error(resp, 409, "name: already taken");
	else if (r < 0)
		r = mg_admin_store_error(resp, r, "admin");
	else
		r = mg_http_json(resp, 201, json_pack("{s:I}", "id", (json_int_t)id));
done:
	explicit_bzero(&in, sizeof(in));
	explicit_bzero(hash, sizeof(hash));
	return r == -EAGAIN ? 0 : r;
}

int mg_admin_admin_update(struct mg_api *api, const struct mg_admin_ctx *who,
                          const struct mg_http_request *req, const int64_t *params,
                          struct mg_http_response *resp)
{
	struct mg_admin_update_req in;
	struct mg_store_admin a;
	char hash[MG_ADMIN_HASH_SIZE] = "", err[256];
	int64_t id = params[0];
	int r;

	r = mg_admin_parse_admin_update(req->body, req->body_len, &in, err, sizeof(err));
	if (r < 0)
		return r == -EINVAL ? mg_http_error(resp, 400, err) : r;
	r = mg_store_admin_get_id(api->store, id, &a);
	if (r < 0) {
		r = mg_admin_store_error(resp, r, "admin");
		goto done;
	}
	explicit_bzero(a.password_hash, sizeof(a.password_hash));
	/* The collector always keeps an admin: the one acting cannot lock themself out. */
	if (id == who->admin.id &&
	    ((in.has_disabled && in.disabled) || (in.has_role && in.role != MG_ROLE_ADMIN))) {
		r = mg_http_error(resp, 409, "an admin cannot disable or demote themself");
		goto done;
	}
	if (in.has_password) {
		r = hash_password(api, in.password, "password", hash, resp);
		if (r < 0)
			goto done;
		r = mg_store_admin_set_password(api->store, &who->actor, id, hash, mg_now_us());
	}
	if (r == 0 && in.has_role)
		r = mg_store_admin_set_role(api->store, &who->actor, id, in.role, mg_now_us());
	if (r == 0 && in.has_disabled)
		r = mg_store_admin_set_disabled(api->store, &who->actor, id, in.disabled,
		                                mg_now_us());
	if (r == 0)
		r = mg_store_admin_get_id(api->store, id, &a);
	if (r < 0) {
		r = mg_admin_store_error(resp, r, "admin");
		goto done;
	}
	explicit_bzero(a.password_hash, sizeof(a.password_hash));
	{
		json_t *o = admin_json(&a);
		r = o ? add_locked(api, o) : -ENOMEM;
		if (r < 0) {
			json_decref(o);
			r = mg_admin_store_error(resp, r, "admin");
			goto done;
		}
		r = mg_http_json(resp, 200, o);
	}
done:
	explicit_bzero(&in, sizeof(in));
	explicit_bzero(hash, sizeof(hash));
	return r == -EAGAIN ? 0 : r;
}

int mg_admin_token_add(struct mg_api *api, const struct mg_admin_ctx *who,
                       const struct mg_http_request *req, const int64_t *params,
                       struct mg_http_response *resp)
{
	struct mg_admin_token_req in;
	char token[MG_ENROLL_TOKEN_SIZE] = "", hex[65], err[256];
	int64_t now = mg_now_us(), expires;
	int r;
	(void)params;

	r = mg_admin_parse_token(req->body, req->body_len, &in, err, sizeof(err));
	if (r < 0)
		return r == -EINVAL ? mg_http_error(resp, 400, err) : r;
	expires = now + in.expires_in_s * 1000000;
	r = mg_enroll_token_new(token, hex);
	if (r == 0)
		r = mg_store_token_add(api->store, &who->actor, hex, expires, in.uses, now);
	if (r < 0)
		r = mg_admin_store_error(resp, r, "token");
	else
		r = mg_http_json(resp, 201,
		                 json_pack("{s:s,s:o,s:I}", "token", token, "expires_at",
		                           mg_admin_time_json(expires), "uses",
		                           (json_int_t)in.uses));
	explicit_bzero(token, sizeof(token));
	return r;
}
