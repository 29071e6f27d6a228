/*
 * The admin router (api_admin.h): the route table of /v1/admin/, authentication with session
 * tokens, the role check; the session endpoints (login, logout, me, own password) and the
 * helpers the endpoint files share.
 */
#include "api_admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api_admin_body.h"
#include "login_guard.h"
#include "mg/time.h"

#define PREFIX   "/v1/admin/"
#define ID_MAX   ((INT64_C(1) << 53) - 1)
#define BAD_AUTH "wrong name or password"
#define LOCKED   "account locked after too many failed logins: an administrator must unlock it"
/* Longest wait for a password-check slot behind other requests (then 503). */
#define SLOT_WAIT_MS 3000u

static int login(struct mg_api *, const struct mg_admin_ctx *, const struct mg_http_request *,
                 const int64_t *, struct mg_http_response *);
static int logout(struct mg_api *, const struct mg_admin_ctx *, const struct mg_http_request *,
                  const int64_t *, struct mg_http_response *);
static int me(struct mg_api *, const struct mg_admin_ctx *, const struct mg_http_request *,
              const int64_t *, struct mg_http_response *);
static int password(struct mg_api *, const struct mg_admin_ctx *, const struct mg_http_request *,
                    const int64_t *, struct mg_http_response *);

/* The map of the admin API: method, path under /v1/admin/ ("{id}": 1..2^53-1), the least
 * action the caller's role must allow, and the endpoint. "login" alone needs no session. */
static const struct route {
	const char *method;
	const char *pattern;
	enum mg_admin_action action;
	mg_admin_fn fn;
} routes[] = {
    {"POST", "login", MG_ACT_READ, login},
    {"POST", "logout", MG_ACT_READ, logout},
    {"GET", "me", MG_ACT_READ, me},
    {"POST", "password", MG_ACT_OWN_PASSWORD, password},
    {"GET", "admins", MG_ACT_READ, mg_admin_admins_list},
    {"POST", "admins", MG_ACT_ADMINS_MANAGE, mg_admin_admin_add},
    {"POST", "admins/{id}", MG_ACT_ADMINS_MANAGE, mg_admin_admin_update},
    {"POST", "admins/{id}/unlock", MG_ACT_ADMINS_MANAGE, mg_admin_admin_unlock},
    {"POST", "tokens", MG_ACT_TOKENS_MANAGE, mg_admin_token_add},
    {"GET", "hosts", MG_ACT_READ, mg_admin_hosts_list},
    {"POST", "hosts/{id}/revoke", MG_ACT_HOSTS_MANAGE, mg_admin_host_revoke},
    {"GET", "devices", MG_ACT_READ, mg_admin_devices_list},
    {"GET", "alerts", MG_ACT_READ, mg_admin_alerts_list},
    {"GET", "audit", MG_ACT_READ, mg_admin_audit_list},
    {"GET", "rules", MG_ACT_READ, mg_admin_rules_list},
    {"POST", "rules", MG_ACT_RULES_MANAGE, mg_admin_rules_add},
    {"DELETE", "rules/{id}", MG_ACT_RULES_MANAGE, mg_admin_rules_remove},
    {"GET", "policy", MG_ACT_READ, mg_admin_policy_info},
    {"POST", "policy/publish", MG_ACT_POLICY_PUBLISH, mg_admin_policy_publish},
    {"GET", "requests", MG_ACT_READ, mg_admin_requests_list},
    {"POST", "requests/{id}/approve", MG_ACT_REQUEST_DECIDE, mg_admin_request_approve},
    {"POST", "requests/{id}/deny", MG_ACT_REQUEST_DECIDE, mg_admin_request_deny},
    {"GET", "events", MG_ACT_READ, mg_admin_events_list},
    {"GET", "staff", MG_ACT_READ, mg_admin_staff_list},
    {"POST", "staff", MG_ACT_STAFF_MANAGE, mg_admin_staff_add},
    {"GET", "staff/keys", MG_ACT_READ, mg_admin_staff_keys_list},
    {"POST", "staff/keys/{id}/approve", MG_ACT_STAFF_APPROVE, mg_admin_staff_key_approve},
    {"POST", "staff/keys/{id}/deny", MG_ACT_STAFF_APPROVE, mg_admin_staff_key_deny},
    {"POST", "staff/keys/{id}/revoke", MG_ACT_STAFF_MANAGE, mg_admin_staff_key_revoke},
    {"GET", "staff/{id}", MG_ACT_READ, mg_admin_staff_get},
    {"POST", "staff/{id}/disable", MG_ACT_STAFF_MANAGE, mg_admin_staff_disable},
    {"POST", "staff/{id}/enable", MG_ACT_STAFF_MANAGE, mg_admin_staff_enable},
    {"POST", "staff/{id}/unlock", MG_ACT_STAFF_MANAGE, mg_admin_staff_unlock},
};

/* ---- helpers (api_admin.h) ---- */

/* Strict decimal: optional '-', digits without a leading zero, no overflow. */
static int parse_i64(const char *s, int64_t *out)
{
	bool neg = *s == '-';
	uint64_t v = 0, lim;
	const char *p = s + neg;
	if (!*p || (p[0] == '0' && p[1]) || (neg && p[0] == '0'))
		return -EINVAL;
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; *p; p++) {
		unsigned d;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		d = (unsigned)(*p - '0');
		if (v > (lim - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
	return 0;
}

int mg_admin_arg_i64(const struct mg_http_request *req, const char *key, int64_t min, int64_t max,
                     int64_t def, int64_t *out, struct mg_http_response *resp)
{
	const char *v = mg_http_arg(req, key);
	int64_t x;
	char msg[128];
	if (!v) {
		*out = def;
		return 0;
	}
	if (parse_i64(v, &x) < 0 || x < min || x > max) {
		snprintf(msg, sizeof(msg), "%s: expected an integer from %lld to %lld", key,
		         (long long)min, (long long)max);
		int r = mg_http_error(resp, 400, msg);
		return r < 0 ? r : -EINVAL;
	}
	*out = x;
	return 0;
}

int mg_admin_arg_time(const struct mg_http_request *req, const char *key, int64_t *out,
                      struct mg_http_response *resp)
{
	const char *v = mg_http_arg(req, key);
	int64_t us;
	char msg[128];
	if (!v) {
		*out = 0;
		return 0;
	}
	if (strlen(v) > 64 || mg_time_parse(v, &us) < 0) {
		snprintf(msg, sizeof(msg), "%s: expected an RFC 3339 time", key);
		int r = mg_http_error(resp, 400, msg);
		return r < 0 ? r : -EINVAL;
	}
	*out = us;
	return 0;
}

int mg_admin_page_args(const struct mg_http_request *req, int64_t *after, uint32_t *limit,
                       struct mg_http_response *resp)
{
	int64_t a, l;
	int r = mg_admin_arg_i64(req, "after", 0, ID_MAX, 0, &a, resp);
	if (r == 0)
		r = mg_admin_arg_i64(req, "limit", 1, MG_ADMIN_PAGE_MAX, MG_ADMIN_PAGE_MAX, &l,
		                     resp);
	if (r < 0)
		return r;
	*after = a;
	*limit = (uint32_t)l;
	return 0;
}

int mg_admin_store_error(struct mg_http_response *resp, int r, const char *what)
{
	char msg[160];
	const char *w = what ? what : "request";
	switch (r) {
	case -ENOENT:
		snprintf(msg, sizeof(msg), "%s: not found", w);
		return mg_http_error(resp, 404, msg);
	case -EEXIST:
		snprintf(msg, sizeof(msg), "%s: already exists", w);
		return mg_http_error(resp, 409, msg);
	case -EALREADY:
		snprintf(msg, sizeof(msg), "%s: already done", w);
		return mg_http_error(resp, 409, msg);
	case -EINVAL:
		snprintf(msg, sizeof(msg), "%s: invalid", w);
		return mg_http_error(resp, 400, msg);
	case -ETIMEDOUT:
		resp->retry_after = 1;
		return mg_http_error(resp, 503, "database busy");
	case -ENOSPC:
		return mg_http_error(resp, 507, "collector storage full");
	default:
		return r < 0 ? r : -EIO;
	}
}

json_t *mg_admin_time_json(int64_t us)
{
	char buf[MG_RFC3339_LEN];
	if (us <= 0 || mg_time_format(us, buf) < 0)
		return json_null();
	return json_string(buf);
}

int mg_admin_list_add(void *arr, json_t *o)
{
	return o && json_array_append_new(arr, o) == 0 ? 0 : -ENOMEM;
}

int mg_admin_list_answer(struct mg_http_response *resp, const char *list, json_t *arr, int r)
{
	if (r < 0) {
		json_decref(arr);
		return mg_admin_store_error(resp, r, list);
	}
	return mg_http_json(resp, 200, json_pack("{s:o}", list, arr));
}

/* The slot of the login guard for addr (NULL: not limited per address); resp = 429 (this
 * address already has a check running or waiting) or 503 (waited too long, or no guard) with
 * Retry-After: 1 and -EBUSY. */
static int argon2_enter(struct mg_api *api, const char *addr, struct mg_http_response *resp)
{
	struct mg_login_guard *g = mg_login_guard_default();
	int r = g ? mg_login_guard_enter(g, addr, api->max_logins, SLOT_WAIT_MS) : -ETIMEDOUT;
	if (r == 0) {
		atomic_fetch_add(&api->logins, 1);
		return 0;
	}
	resp->retry_after = 1;
	r = r == -EBUSY
	        ? mg_http_error(resp, 429, "a password check from this address is already running")
	        : mg_http_error(resp, 503, "too many password checks at once");
	return r < 0 ? r : -EBUSY;
}

static void argon2_leave(struct mg_api *api, const char *addr)
{
	atomic_fetch_sub(&api->logins, 1);
	mg_login_guard_leave(mg_login_guard_default(), addr);
}

int mg_admin_argon2_enter(struct mg_api *api, struct mg_http_response *resp)
{
	return argon2_enter(api, NULL, resp);
}

void mg_admin_argon2_leave(struct mg_api *api)
{
	argon2_leave(api, NULL);
}

int mg_admin_password_error(struct mg_http_response *resp, int r, const char *field)
{
	char msg[160];
	if (r == -ERANGE)
		snprintf(msg, sizeof(msg),
		         "%s: must have at least %u characters and at most %u bytes", field,
		         MG_ADMIN_PASSWORD_MIN, MG_ADMIN_PASSWORD_MAX);
	else if (r == -EINVAL)
		snprintf(msg, sizeof(msg), "%s: must be UTF-8 text without control characters",
		         field);
	else
		return r;
	return mg_http_error(resp, 400, msg);
}

/* ---- routing ---- */

/* One path segment [s, s + n) as an id 1..2^53-1. */
static bool segment_id(const char *s, size_t n, int64_t *out)
{
	int64_t v = 0;
	if (n == 0 || n > 16 || s[0] == '0')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v > ID_MAX)
		return false;
	*out = v;
	return true;
}

/* path (after the prefix) against pattern; params get the "{id}" parts. */
static bool match(const char *pattern, const char *path, int64_t params[MG_ADMIN_MAX_PARAMS])
{
	size_t n = 0;
	for (;;) {
		size_t pl = strcspn(pattern, "/"), sl = strcspn(path, "/");
		if (pl == 4 && strncmp(pattern, "{id}", 4) == 0) {
			if (n >= MG_ADMIN_MAX_PARAMS || !segment_id(path, sl, &params[n]))
				return false;
			n++;
		} else if (pl != sl || strncmp(pattern, path, pl) != 0) {
			return false;
		}
		pattern += pl;
		path += sl;
		if (!*pattern || !*path)
			return !*pattern && !*path;
		pattern++;
		path++;
	}
}

static int unauthorized(struct mg_http_response *resp, const char *msg)
{
	int r = mg_http_header(resp, "WWW-Authenticate", "Bearer realm=\"mynaguard\"");
	if (r < 0)
		return r;
	return mg_http_error(resp, 401, msg);
}

/* The session behind the Authorization header into who (extended to now + ttl); or resp = 401
 * and -EACCES, or another answer (503...) and -EAGAIN, or an error. */
static int authenticate(struct mg_api *api, const struct mg_http_request *req,
                        struct mg_admin_ctx *who, struct mg_http_response *resp)
{
	const char *h = req->authorization, *tok;
	int64_t now = mg_now_us();
	int r;

	if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
		r = unauthorized(resp, "session token required (Authorization: Bearer)");
		return r < 0 ? r : -EACCES;
	}
	for (tok = h + 7; *tok == ' ';)
		tok++;
	r = mg_admin_session_check(api->store, tok, now, &who->admin);
	if (r == 0)
		r = mg_token_hash(tok, who->token_hash);
	if (r == 0 && api->session_ttl_us > 0 && now <= INT64_MAX - api->session_ttl_us)
		r = mg_store_session_extend(api->store, who->token_hash, now + api->session_ttl_us);
	switch (r) {
	case 0:
		who->actor.admin = who->admin.name;
		who->actor.remote = req->remote[0] ? req->remote : NULL;
		return 0;
	case -EACCES:
	case -ENOENT:
		r = unauthorized(resp, "invalid session token");
		break;
	case -ETIME:
		r = unauthorized(resp, "session expired");
		break;
	case -EPERM:
		r = unauthorized(resp, "account disabled");
		break;
	default:
		r = mg_admin_store_error(resp, r, "session");
		return r < 0 ? r : -EAGAIN;
	}
	return r < 0 ? r : -EACCES;
}

int mg_admin_handle(void *ctx, const struct mg_http_request *req, struct mg_http_response *resp)
{
	struct mg_api *api = ctx;
	const char *path;
	const struct route *rt = NULL;
	bool path_known = false;
	int64_t params[MG_ADMIN_MAX_PARAMS] = {0};
	struct mg_admin_ctx who = {0};
	char msg[96];
	int r;

	if (strncmp(req->url, PREFIX, strlen(PREFIX)) != 0)
		return mg_http_error(resp, 404, "not found");
	path = req->url + strlen(PREFIX);
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		int64_t p[MG_ADMIN_MAX_PARAMS] = {0};
		if (!match(routes[i].pattern, path, p))
			continue;
		path_known = true;
		if (strcmp(req->method, routes[i].method) == 0) {
			rt = &routes[i];
			memcpy(params, p, sizeof(params));
			break;
		}
	}
	if (!rt)
		return mg_http_error(resp, path_known ? 405 : 404,
		                     path_known ? "method not allowed" : "not found");
	if (rt->fn == login)
		return login(api, NULL, req, params, resp);

	r = authenticate(api, req, &who, resp);
	if (r < 0) {
		explicit_bzero(&who, sizeof(who));
		return r == -EACCES || r == -EAGAIN ? 0 : r;
	}
	if (!mg_admin_may(who.admin.role, rt->action)) {
		snprintf(msg, sizeof(msg), "role %s may not %s",
		         mg_admin_role_name(who.admin.role) ? mg_admin_role_name(who.admin.role)
		                                            : "?",
		         mg_admin_action_name(rt->action));
		r = mg_http_error(resp, 403, msg);
	} else {
		r = rt->fn(api, &who, req, params, resp);
	}
	explicit_bzero(&who, sizeof(who));
	return r;
}

/* ---- session endpoints ---- */

/* A failed login is recorded (action "login.failed", admin = the account) when the account
 * exists; guesses of unknown names are not, so the log holds no attacker-chosen names. */
static void record_failed_login(struct mg_api *api, const struct mg_http_request *req,
                                const char *name, int64_t now)
{
	struct mg_store_admin a;
	struct mg_store_actor by = {name, req->remote[0] ? req->remote : NULL};
	if (!mg_admin_name_ok(name) || mg_store_admin_get(api->store, name, &a) < 0)
		return;
	explicit_bzero(a.password_hash, sizeof(a.password_hash));
	/* Best effort: the answer is 401 either way. */
	(void)mg_store_admin_log(
	    api->store, &by, "login.failed", NULL,
	    a.disabled ? "{\"reason\":\"disabled\"}" : "{\"reason\":\"password\"}", now);
}

static int64_t mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

/* resp = 429 with Retry-After: wait. */
static int too_many(struct mg_http_response *resp, unsigned wait)
{
	resp->retry_after = wait;
	return mg_http_error(resp, 429, "too many failed logins: try again later");
}

/*
 * Whether name is locked: for an existing account the store decides (its lock survives a
 * restart and is shared by collectors on one database; a lock the guard still remembers after
 * an unlock elsewhere, e.g. `admin unlock`, is forgotten), for any other name the guard, so
 * unknown names answer like existing ones. *id: the account, 0 when none.
 */
static int name_locked(struct mg_api *api, struct mg_login_guard *g, const char *name,
                       bool guard_locked, bool *locked, int64_t *id)
{
	struct mg_store_admin a;
	int r = mg_store_admin_get(api->store, name, &a);
	explicit_bzero(a.password_hash, sizeof(a.password_hash));
	*id = 0;
	*locked = guard_locked;
	if (r == -ENOENT || r == -EINVAL)
		return 0;
	if (r < 0)
		return r;
	*id = a.id;
	r = mg_store_admin_locked(api->store, a.id, NULL);
	if (r < 0 && r != -ENOENT)
		return r;
	*locked = r == 0;
	if (!*locked && guard_locked)
		mg_login_guard_forget(g, name);
	return 0;
}

/* A failed login of an account that reached the lock count locks it in the store (recorded
 * as "admin.lock" by the account, with the client address). Best effort. */
static void lock_account(struct mg_api *api, const struct mg_http_request *req, const char *name,
                         uint32_t failures, int64_t now)
{
	struct mg_store_admin a;
	struct mg_store_actor by = {name, req->remote[0] ? req->remote : NULL};
	if (failures < MG_LOGIN_LOCK_FAILURES || !mg_admin_name_ok(name) ||
	    mg_store_admin_get(api->store, name, &a) < 0)
		return;
	explicit_bzero(a.password_hash, sizeof(a.password_hash));
	(void)mg_store_admin_lock(api->store, &by, a.id, failures, now);
}

static int login(struct mg_api *api, const struct mg_admin_ctx *who,
                 const struct mg_http_request *req, const int64_t *params,
                 struct mg_http_response *resp)
{
	struct mg_admin_login_req in;
	struct mg_store_admin a;
	struct mg_store_actor by;
	struct mg_login_guard *g = mg_login_guard_default();
	const char *addr = req->remote[0] ? req->remote : NULL;
	char token[MG_ADMIN_TOKEN_SIZE] = "", err[256];
	bool guard_locked = false, locked = false;
	unsigned wait;
	int64_t now, id = 0;
	int r;
	(void)who;
	(void)params;

	r = mg_admin_parse_login(req->body, req->body_len, &in, err, sizeof(err));
	if (r < 0)
		return r == -EINVAL ? mg_http_error(resp, 400, err) : r;
	if (!g) {
		r = argon2_enter(api, addr, resp); /* no guard (out of memory): 503 */
		r = r == -EBUSY ? 0 : r;
		goto done;
	}
	/* An address or a name in penalty is refused before it takes a password-check slot. */
	wait = mg_login_guard_check(g, addr, in.name, mono_s(), &guard_locked);
	if (wait > 0) {
		r = too_many(resp, wait);
		goto done;
	}
	r = name_locked(api, g, in.name, guard_locked, &locked, &id);
	if (r < 0) {
		r = mg_admin_store_error(resp, r, "login");
		goto done;
	}
	if (locked) {
		(void)mg_login_guard_failure(g, addr, NULL, mono_s()); /* the address pays */
		r = mg_http_error(resp, 403, LOCKED);
		goto done;
	}
	r = argon2_enter(api, addr, resp);
	if (r < 0) {
		r = r == -EBUSY ? 0 : r;
		goto done;
	}
	now = mg_now_us();
	r = mg_admin_login(api->store, in.name, in.password, now, api->session_ttl_us, token, &a);
	argon2_leave(api, addr);
	explicit_bzero(in.password, sizeof(in.password));
	if (r == -EACCES) {
		uint32_t n = mg_login_guard_failure(g, addr, in.name, mono_s()), shared = 0;
		record_failed_login(api, req, in.name, now);
		/* An account's failures are counted in the database as well: every collector on
		 * it counts the same ones (this process's memory alone would allow each collector
		 * its own MG_LOGIN_LOCK_FAILURES). */
		if (id > 0 &&
		    mg_store_admin_login_failed(
		        api->store, id, now, (int64_t)MG_LOGIN_FORGET_S * 1000000, &shared) == 0 &&
		    shared > n)
			n = shared;
		if (id > 0)
			lock_account(api, req, in.name, n, now);
		r = unauthorized(resp, BAD_AUTH);
		goto done;
	}
	if (r < 0) {
		r = mg_admin_store_error(resp, r, "login");
		goto done;
	}
	mg_login_guard_success(g, addr, in.name);
	(void)mg_store_admin_login_ok(api->store, a.id); /* best effort: a count, not a lock */
	explicit_bzero(a.password_hash, sizeof(a.password_hash));
	by = (struct mg_store_actor){a.name, req->remote[0] ? req->remote : NULL};
	r = mg_store_admin_log(api->store, &by, "login", NULL, NULL, now);
	if (r < 0) {
		/* no session without its record */
		(void)mg_admin_session_end(api->store, token);
		r = mg_admin_store_error(resp, r, "audit log");
	} else {
		r = mg_http_json(resp, 200,
		                 json_pack("{s:s,s:o,s:s,s:s}", "token", token, "expires_at",
		                           mg_admin_time_json(now + api->session_ttl_us), "name",
		                           a.name, "role", mg_admin_role_name(a.role)));
	}
	explicit_bzero(token, sizeof(token));
done:
	explicit_bzero(&in, sizeof(in));
	return r;
}

static int logout(struct mg_api *api, const struct mg_admin_ctx *who,
                  const struct mg_http_request *req, const int64_t *params,
                  struct mg_http_response *resp)
{
	int64_t now = mg_now_us();
	int r;
	(void)req;
	(void)params;
	r = mg_store_admin_log(api->store, &who->actor, "logout", NULL, NULL, now);
	if (r == 0)
		r = mg_store_session_delete(api->store, who->token_hash);
	if (r < 0)
		return mg_admin_store_error(resp, r, "session");
	resp->status = 204;
	return 0;
}

static int me(struct mg_api *api, const struct mg_admin_ctx *who, const struct mg_http_request *req,
              const int64_t *params, struct mg_http_response *resp)
{
	struct mg_store_admin a;
	int64_t exp = 0;
	int r;
	(void)req;
	(void)params;
	r = mg_store_session_get(api->store, who->token_hash, mg_now_us(), &a, &exp);
	if (r < 0)
		return mg_admin_store_error(resp, r, "session");
	explicit_bzero(a.password_hash, sizeof(a.password_hash));
	return mg_http_json(resp, 200,
	                    json_pack("{s:I,s:s,s:s,s:o}", "id", (json_int_t)a.id, "name", a.name,
	                              "role", mg_admin_role_name(a.role), "expires_at",
	                              mg_admin_time_json(exp)));
}

static int password(struct mg_api *api, const struct mg_admin_ctx *who,
                    const struct mg_http_request *req, const int64_t *params,
                    struct mg_http_response *resp)
{
	struct mg_admin_password_req in;
	struct mg_store_admin a;
	char hash[MG_ADMIN_HASH_SIZE] = "", err[256];
	int r;
	(void)params;

	r = mg_admin_parse_password(req->body, req->body_len, &in, err, sizeof(err));
	if (r < 0)
		return r == -EINVAL ? mg_http_error(resp, 400, err) : r;
	if (strcmp(in.old_password, in.new_password) == 0) {
		r = mg_http_error(resp, 400, "new_password: must differ from old_password");
		goto done;
	}
	r = mg_admin_argon2_enter(api, resp);
	if (r < 0) {
		r = r == -EBUSY ? 0 : r;
		goto done;
	}
	r = mg_store_admin_get_id(api->store, who->admin.id, &a);
	if (r == 0) {
		r = mg_admin_password_verify(a.password_hash, in.old_password);
		explicit_bzero(a.password_hash, sizeof(a.password_hash));
		if (r == 0)
			r = mg_admin_password_hash(in.new_password, api->argon2, hash);
		else if (r == -EACCES || r == -EINVAL)
			r = -EKEYREJECTED;
	}
	mg_admin_argon2_leave(api);
	if (r == -EKEYREJECTED) {
		r = mg_http_error(resp, 403, "old_password: wrong password");
	} else if (r == -EINVAL || r == -ERANGE) {
		r = mg_admin_password_error(resp, r, "new_password");
	} else if (r < 0) {
		r = mg_admin_store_error(resp, r, "account");
	} else {
		/* The store ends every session of the account with the old password, this one
		 * too; the caller continues on a new session. */
		char token[MG_ADMIN_TOKEN_SIZE] = "";
		int64_t now = mg_now_us();
		r = mg_store_admin_set_password(api->store, &who->actor, who->admin.id, hash, now);
		if (r == 0)
			r = mg_admin_session_create(api->store, who->admin.id, now,
			                            api->session_ttl_us, token);
		if (r < 0)
			r = mg_admin_store_error(resp, r, "account");
		else
			r = mg_http_json(resp, 200,
			                 json_pack("{s:s,s:o}", "token", token, "expires_at",
			                           mg_admin_time_json(now + api->session_ttl_us)));
		explicit_bzero(token, sizeof(token));
	}
done:
	explicit_bzero(&in, sizeof(in));
	explicit_bzero(hash, sizeof(hash));
	return r;
}
