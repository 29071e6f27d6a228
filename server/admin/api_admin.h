/*
 * The admin API under /v1/admin/ (docs/API.md, "Admin API"): the router with
 * authentication and the role check (api_admin.c), and the endpoint groups:
 *   api_admin.c          login, logout, me, own password; the route table
 *   api_admin_accounts.c admin accounts, enrolment tokens
 *   api_admin_hosts.c    hosts (list, revoke), device ledger, tamper alerts, audit log
 *   api_admin_rules.c    rules, policy versions, device requests (approve -> rule, deny)
 *   api_admin_events.c   events: filter, paginate, export (JSON, JSON lines, CSV)
 * Request bodies are parsed by the pure parsers of api_admin_body.h (fuzzed).
 *
 * Authentication: "Authorization: Bearer <session token>" (admin_auth.h); no cookies, so
 * cross-site requests cannot carry a session. The router answers 401 without or with a bad,
 * expired or disabled session, 403 when the admin's role may not do the route's action
 * (mg_admin_may), then calls the endpoint. Every mutation passes `who->actor` to the store,
 * which records the action and its event in the same transaction; actions that change no
 * stored data but matter to auditors (login, logout, export) use mg_store_admin_log().
 */
#ifndef MG_API_ADMIN_H
#define MG_API_ADMIN_H

#include <stdint.h>

#include <jansson.h>

#include "admin_auth.h"
#include "api.h"

#define MG_ADMIN_MAX_PARAMS 2     /* "{id}" parts of a route pattern */
#define MG_ADMIN_PAGE_MAX   1000u /* default and largest "limit" of a JSON list page */

/* The authenticated admin of one request. */
struct mg_admin_ctx {
	struct mg_store_admin admin; /* password_hash wiped */
	struct mg_store_actor actor; /* {admin.name, req->remote}: pass to store mutations */
	char token_hash[MG_ADMIN_TOKEN_HASH_SIZE];
};

/*
 * An endpoint. params: the path parts matched by "{id}" in the route pattern, in order,
 * already checked to be decimal integers 1..2^53-1.
 */
typedef int (*mg_admin_fn)(struct mg_api *api, const struct mg_admin_ctx *who,
                           const struct mg_http_request *req, const int64_t *params,
                           struct mg_http_response *resp);

/* Endpoints of api_admin_rules.c */
int mg_admin_rules_list(struct mg_api *, const struct mg_admin_ctx *,
                        const struct mg_http_request *, const int64_t *, struct mg_http_response *);
int mg_admin_rules_add(struct mg_api *, const struct mg_admin_ctx *, const struct mg_http_request *,
                       const int64_t *, struct mg_http_response *);
int mg_admin_rules_remove(struct mg_api *, const struct mg_admin_ctx *,
                          const struct mg_http_request *, const int64_t *,
                          struct mg_http_response *);
int mg_admin_policy_info(struct mg_api *, const struct mg_admin_ctx *,
                         const struct mg_http_request *, const int64_t *,
                         struct mg_http_response *);
int mg_admin_policy_publish(struct mg_api *, const struct mg_admin_ctx *,
                            const struct mg_http_request *, const int64_t *,
                            struct mg_http_response *);
int mg_admin_requests_list(struct mg_api *, const struct mg_admin_ctx *,
                           const struct mg_http_request *, const int64_t *,
                           struct mg_http_response *);
int mg_admin_request_approve(struct mg_api *, const struct mg_admin_ctx *,
                             const struct mg_http_request *, const int64_t *,
                             struct mg_http_response *);
int mg_admin_request_deny(struct mg_api *, const struct mg_admin_ctx *,
                          const struct mg_http_request *, const int64_t *,
                          struct mg_http_response *);
/* Endpoints of api_admin_events.c */
int mg_admin_events_list(struct mg_api *, const struct mg_admin_ctx *,
                         const struct mg_http_request *, const int64_t *,
                         struct mg_http_response *);

/* Endpoints of api_admin_staff.c (staff registry, issue 15) */
#define MG_ADMIN_STAFF_FN(name)                                                                    \
	int name(struct mg_api *, const struct mg_admin_ctx *, const struct mg_http_request *,     \
	         const int64_t *, struct mg_http_response *)
MG_ADMIN_STAFF_FN(mg_admin_staff_list);
MG_ADMIN_STAFF_FN(mg_admin_staff_get);
MG_ADMIN_STAFF_FN(mg_admin_staff_add);
MG_ADMIN_STAFF_FN(mg_admin_staff_disable);
MG_ADMIN_STAFF_FN(mg_admin_staff_enable);
MG_ADMIN_STAFF_FN(mg_admin_staff_unlock);
MG_ADMIN_STAFF_FN(mg_admin_staff_keys_list);
MG_ADMIN_STAFF_FN(mg_admin_staff_key_approve);
MG_ADMIN_STAFF_FN(mg_admin_staff_key_deny);
MG_ADMIN_STAFF_FN(mg_admin_staff_key_revoke);

/* Everything under /v1/admin/ (ctx: struct mg_api *); router/router.c sends it here. */
int mg_admin_handle(void *ctx, const struct mg_http_request *req, struct mg_http_response *resp);

/* ---- helpers for the endpoints (api_admin.c) ---- */

/* JSON answers: mg_http_json() (http.h). */
/* resp = a 400/404/409... error; returns 0 (or -ENOMEM) so endpoints can `return` it. */
#define mg_admin_error mg_http_error
/*
 * Integer query argument key within [min, max]; def when absent. 0, or resp = 400 naming the
 * argument and -EINVAL.
 */
int mg_admin_arg_i64(const struct mg_http_request *req, const char *key, int64_t min, int64_t max,
                     int64_t def, int64_t *out, struct mg_http_response *resp);
/* RFC 3339 time query argument into microseconds; 0 when absent. 0 or 400 + -EINVAL. */
int mg_admin_arg_time(const struct mg_http_request *req, const char *key, int64_t *out,
                      struct mg_http_response *resp);
/* Maps a store error to an answer: -ENOENT 404, -EEXIST/-EALREADY 409, -EINVAL 400,
 * -ETIMEDOUT 503 with Retry-After, -ENOSPC 507; other errors are returned (500). */
int mg_admin_store_error(struct mg_http_response *resp, int r, const char *what);
/* "2026-11-25T00:00:00.000000Z" for us (> 0), JSON null for 0. */
json_t *mg_admin_time_json(int64_t us);
/* Appends o (consumed) to the JSON array arr: the body of a store row callback. 0 or -ENOMEM. */
int mg_admin_list_add(void *arr, json_t *o);
/* resp = 200 {list: arr}, or the store error r (mg_admin_store_error). Consumes arr. */
int mg_admin_list_answer(struct mg_http_response *resp, const char *list, json_t *arr, int r);

/* ---- endpoints of api_admin_accounts.c (admin accounts, enrolment tokens) ---- */
int mg_admin_admins_list(struct mg_api *, const struct mg_admin_ctx *,
                         const struct mg_http_request *, const int64_t *,
                         struct mg_http_response *);
int mg_admin_admin_add(struct mg_api *, const struct mg_admin_ctx *, const struct mg_http_request *,
                       const int64_t *, struct mg_http_response *);
int mg_admin_admin_update(struct mg_api *, const struct mg_admin_ctx *,
                          const struct mg_http_request *, const int64_t *,
                          struct mg_http_response *);
/* POST admins/{id}/unlock: ends an account's lockout (login_guard.h, store.h). */
int mg_admin_admin_unlock(struct mg_api *, const struct mg_admin_ctx *,
                          const struct mg_http_request *, const int64_t *,
                          struct mg_http_response *);
int mg_admin_token_add(struct mg_api *, const struct mg_admin_ctx *, const struct mg_http_request *,
                       const int64_t *, struct mg_http_response *);
/* ---- endpoints of api_admin_hosts.c (hosts, device ledger, tamper alerts, audit log) ---- */
int mg_admin_hosts_list(struct mg_api *, const struct mg_admin_ctx *,
                        const struct mg_http_request *, const int64_t *, struct mg_http_response *);
int mg_admin_host_revoke(struct mg_api *, const struct mg_admin_ctx *,
                         const struct mg_http_request *, const int64_t *,
                         struct mg_http_response *);
int mg_admin_devices_list(struct mg_api *, const struct mg_admin_ctx *,
                          const struct mg_http_request *, const int64_t *,
                          struct mg_http_response *);
int mg_admin_alerts_list(struct mg_api *, const struct mg_admin_ctx *,
                         const struct mg_http_request *, const int64_t *,
                         struct mg_http_response *);
int mg_admin_audit_list(struct mg_api *, const struct mg_admin_ctx *,
                        const struct mg_http_request *, const int64_t *, struct mg_http_response *);

/*
 * Argon2id at production cost takes 19 MiB and ~0.2-1 s: at most api->max_logins run at once
 * (logins, password changes, new passwords), in the login guard's fair slot (login_guard.h;
 * a login also waits there, limited per client address). 0 with a slot taken (give it back
 * with mg_admin_argon2_leave), or resp = 503 with Retry-After: 1 and -EBUSY after a bounded
 * wait.
 */
int mg_admin_argon2_enter(struct mg_api *api, struct mg_http_response *resp);
void mg_admin_argon2_leave(struct mg_api *api);
/* resp = 400 naming field for a password-policy error of mg_admin_password_hash() (-EINVAL,
 * -ERANGE) and 0; other errors are returned. */
int mg_admin_password_error(struct mg_http_response *resp, int r, const char *field);
/* "after" (0..2^53-1, default 0) and "limit" (1..MG_ADMIN_PAGE_MAX, default the max) of a page;
 * 0, or resp = 400 and -EINVAL. */
int mg_admin_page_args(const struct mg_http_request *req, int64_t *after, uint32_t *limit,
                       struct mg_http_response *resp);
/* Whether a CSV text cell would be taken as a formula by a spreadsheet (the export then puts a
 * leading ' in front of it). */
bool mg_admin_csv_is_formula(const char *s);

#endif
