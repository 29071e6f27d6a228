/*
 * Terminals and what they reported (api_admin.h): GET /v1/admin/hosts,
 * POST /v1/admin/hosts/{id}/revoke, and the pages of the device ledger (devices), the tamper
 * alerts (alerts) and the admin action log (audit). A page is {"<list>": [...], "next_after":
 * id or null}: pass next_after as "after" for the next page; null means there is no more.
 */
#include "api_admin.h"

#include <errno.h>
#include <string.h>

#include "mg/time.h"

#define ID_MAX ((INT64_C(1) << 53) - 1)

/* One page being built: up to limit rows are kept; one more only says there is a next page. */
struct page {
	json_t *arr;
	uint32_t limit;
	int64_t last_id;
	bool more;
};

/* Appends o (consumed) with its row id; 1 (stop) once the page is full. */
static int page_add(struct page *p, int64_t id, json_t *o)
{
	if (json_array_size(p->arr) >= p->limit) {
		json_decref(o);
		p->more = true;
		return 1;
	}
	if (!o || json_array_append_new(p->arr, o) < 0)
		return -ENOMEM;
	p->last_id = id;
	return 0;
}

/* Reads "after" and "limit" and starts p's array: 0; 1 with resp answered (400); or -ENOMEM. */
static int page_begin(const struct mg_http_request *req, struct page *p, int64_t *after,
                      struct mg_http_response *resp)
{
	int r = mg_admin_page_args(req, after, &p->limit, resp);
	if (r < 0)
		return r == -EINVAL ? 1 : r;
	p->arr = json_array();
	return p->arr ? 0 : -ENOMEM;
}

/* resp = 200 {list: [...], "next_after": id|null}; or the store error r. Frees p->arr. */
static int page_answer(struct mg_http_response *resp, struct page *p, const char *list, int r)
{
	if (r < 0) {
		json_decref(p->arr);
		return mg_admin_store_error(resp, r, list);
	}
	return mg_http_json(resp, 200,
	                    json_pack("{s:o,s:o}", list, p->arr, "next_after",
	                              p->more ? json_integer(p->last_id) : json_null()));
}

/* Text that may be empty: JSON null for "". */
static json_t *opt_str(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

/* ---- hosts ---- */

static int host_row(void *ctx, const struct mg_store_host *h)
{
	json_t *o = json_pack(
	    "{s:I,s:s,s:s,s:o,s:o,s:b,s:o,s:I,s:o,s:o}", "id", (json_int_t)h->id, "hostname",
	    h->hostname, "cert_serial", h->cert_serial, "enrolled_at",
	    mg_admin_time_json(h->enrolled_us), "last_seen", mg_admin_time_json(h->last_seen_us),
	    "revoked", h->revoked, "policy_version",
	    h->policy_version ? json_integer((json_int_t)h->policy_version) : json_null(),
	    "spool_depth", (json_int_t)h->spool_depth, "oldest_unsent",
	    mg_admin_time_json(h->oldest_unsent_us), "agent_version", opt_str(h->agent_version));
	return mg_admin_list_add(ctx, o);
}

int mg_admin_hosts_list(struct mg_api *api, const struct mg_admin_ctx *who,
                        const struct mg_http_request *req, const int64_t *params,
                        struct mg_http_response *resp)
{
	json_t *arr = json_array();
	int r;
	(void)who;
	(void)req;
	(void)params;
	if (!arr)
		return -ENOMEM;
	r = mg_store_host_foreach(api->store, host_row, arr);
	return mg_admin_list_answer(resp, "hosts", arr, r);
}

int mg_admin_host_revoke(struct mg_api *api, const struct mg_admin_ctx *who,
                         const struct mg_http_request *req, const int64_t *params,
                         struct mg_http_response *resp)
{
	struct mg_store_host h;
	int r;
	(void)req;
	r = mg_store_host_get(api->store, params[0], &h);
	if (r == 0)
		r = mg_store_host_revoke(api->store, &who->actor, params[0], mg_now_us());
	if (r < 0)
		return mg_admin_store_error(resp, r, "host");
	resp->status = 204;
	return 0;
}

/* ---- device ledger ---- */

static int device_row(void *ctx, const struct mg_store_device *d)
{
	return page_add(
	    ctx, d->id,
	    json_pack("{s:I,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:I,s:I,s:I}", "id", (json_int_t)d->id,
	              "vendor_id", d->dev.vendor_id, "product_id", d->dev.product_id, "serial",
	              opt_str(d->dev.serial), "name", opt_str(d->dev.name), "hash",
	              opt_str(d->dev.hash), "first_seen", mg_admin_time_json(d->first_seen_us),
	              "last_seen", mg_admin_time_json(d->last_seen_us), "first_host_id",
	              (json_int_t)d->first_host_id, "last_host_id", (json_int_t)d->last_host_id,
	              "sightings", (json_int_t)d->sightings));
}

int mg_admin_devices_list(struct mg_api *api, const struct mg_admin_ctx *who,
                          const struct mg_http_request *req, const int64_t *params,
                          struct mg_http_response *resp)
{
	struct page p = {0};
	int64_t after;
	int r;
	(void)who;
	(void)params;
	r = page_begin(req, &p, &after, resp);
	if (r != 0)
		return r > 0 ? 0 : r;
	r = mg_store_devices_foreach(api->store, after, p.limit + 1, device_row, &p);
	return page_answer(resp, &p, "devices", r);
}

/* ---- tamper alerts ---- */

static int alert_row(void *ctx, const struct mg_store_alert *a)
{
	/* The evidence is the received event as the terminal sent it: JSON when it parses,
	 * else its text. */
	json_t *ev = a->evidence ? json_loads(a->evidence, JSON_REJECT_DUPLICATES, NULL) : NULL;
	if (!ev)
		ev = a->evidence ? json_string(a->evidence) : json_null();
	if (!ev)
		ev = json_null(); /* not UTF-8: jansson refuses it */
	return page_add(ctx, a->id,
	                json_pack("{s:I,s:I,s:s,s:I,s:s,s:o,s:o}", "id", (json_int_t)a->id,
	                          "host_id", (json_int_t)a->host_id, "boot_id", a->boot_id, "seq",
	                          (json_int_t)a->seq, "kind", a->kind, "time",
	                          mg_admin_time_json(a->time_us), "evidence", ev));
}

int mg_admin_alerts_list(struct mg_api *api, const struct mg_admin_ctx *who,
                         const struct mg_http_request *req, const int64_t *params,
                         struct mg_http_response *resp)
{
	struct page p = {0};
	int64_t after, host;
	int r;
	(void)who;
	(void)params;
	r = mg_admin_arg_i64(req, "host", 1, ID_MAX, 0, &host, resp);
	if (r < 0)
		return r == -EINVAL ? 0 : r;
	r = page_begin(req, &p, &after, resp);
	if (r != 0)
		return r > 0 ? 0 : r;
	r = mg_store_alerts_foreach(api->store, host, after, p.limit + 1, alert_row, &p);
	return page_answer(resp, &p, "alerts", r);
}

/* ---- admin action log ---- */

static int action_row(void *ctx, const struct mg_store_admin_action *a)
{
	json_t *detail = a->detail ? json_loads(a->detail, 0, NULL) : NULL;
	return page_add(ctx, a->id,
	                json_pack("{s:I,s:o,s:s,s:s,s:o,s:o,s:o,s:I}", "id", (json_int_t)a->id,
	                          "time", mg_admin_time_json(a->time_us), "admin", a->admin,
	                          "action", a->action, "target", opt_str(a->target), "remote",
	                          opt_str(a->remote), "detail", detail ? detail : json_null(),
	                          "event_id", (json_int_t)a->event_id));
}

int mg_admin_audit_list(struct mg_api *api, const struct mg_admin_ctx *who,
                        const struct mg_http_request *req, const int64_t *params,
                        struct mg_http_response *resp)
{
	struct page p = {0};
	int64_t after;
	int r;
	(void)who;
	(void)params;
	r = page_begin(req, &p, &after, resp);
	if (r != 0)
		return r > 0 ? 0 : r;
	r = mg_store_admin_actions_foreach(api->store, after, p.limit + 1, action_row, &p);
	return page_answer(resp, &p, "actions", r);
}
