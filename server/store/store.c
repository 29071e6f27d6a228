/*
 * The store's front door: picks the backend by URL scheme, checks every argument against the
 * limits of store.h (so both backends see only valid input and behave alike), prepares the
 * admin action record, then calls the backend through its operations table.
 */
#include "store_int.h"
#include "store_sql.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mg/host.h"
#include "mg/utf8.h"

#define U53_MAX    ((1ull << 53) - 1)
#define DETAIL_MAX (64u * 1024u)

/* ---- argument checks ---- */

/* s non-NULL (unless optional), shorter than size, valid UTF-8; "" only when optional. */
static bool text_ok(const char *s, size_t size, bool optional)
{
	if (!s || !*s)
		return optional;
	size_t len = strnlen(s, size);
	return len < size && mg_utf8_valid(s, len);
}

static bool line_ok(const char *s, size_t size)
{
	return text_ok(s, size, false) && !strpbrk(s, "\r\n");
}

static bool charset_ok(const char *s, size_t size, const char *extra)
{
	if (!s || !*s)
		return false;
	size_t i = 0;
	for (; i < size && s[i]; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr(extra, c)))
			return false;
	}
	return i < size;
}

static bool hex64_ok(const char *s)
{
	if (!s)
		return false;
	for (size_t i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[64] == '\0';
}

static bool printable_ok(const char *s, size_t size)
{
	if (!s || !*s)
		return false;
	size_t i = 0;
	for (; i < size && s[i]; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	return i < size;
}

static bool serial_ok(const char *s)
{
	if (!s || !*s)
		return false;
	size_t i = 0;
	for (; i < 64 && s[i]; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
		      c == ':'))
			return false;
	}
	return i < 64;
}

static bool limit_ok(uint32_t limit)
{
	return limit >= 1 && limit <= MG_STORE_MAX_ROWS;
}

static bool role_ok(enum mg_admin_role role)
{
	return role == MG_ROLE_ADMIN || role == MG_ROLE_APPROVER || role == MG_ROLE_AUDITOR;
}

static bool device_id_ok(const struct mg_store_device_id *d)
{
	size_t a = strnlen(d->vendor_id, sizeof(d->vendor_id));
	size_t b = strnlen(d->product_id, sizeof(d->product_id));
	if (a != 4 || b != 4)
		return false;
	for (size_t i = 0; i < 4; i++)
		if (!strchr("0123456789abcdef", d->vendor_id[i]) ||
		    !strchr("0123456789abcdef", d->product_id[i]))
			return false;
	return text_ok(d->serial, sizeof(d->serial), true) &&
	       text_ok(d->name, sizeof(d->name), true) && text_ok(d->hash, sizeof(d->hash), true);
}

/* ---- admin action records ---- */

static int action_init(struct mg_store_action *a, const struct mg_store_actor *by,
                       const char *action, int64_t now_us)
{
	memset(a, 0, sizeof(*a));
	if (!by || !charset_ok(by->admin, MG_STORE_NAME_SIZE, "._@-"))
		return -EINVAL;
	if (by->remote && *by->remote && !printable_ok(by->remote, 64))
		return -EINVAL;
	if (!charset_ok(action, MG_STORE_NAME_SIZE, "._-"))
		return -EINVAL;
	a->admin = by->admin;
	a->remote = by->remote;
	snprintf(a->action, sizeof(a->action), "%s", action);
	a->now_us = now_us;
	return 0;
}

/* Sets the detail from a json_pack() result (stolen). */
static int action_detail(struct mg_store_action *a, json_t *o)
{
	if (!o)
		return -ENOMEM;
	a->detail = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return a->detail ? 0 : -ENOMEM;
}

/* Returns the action to hand to the backend: NULL when by is NULL. */
static struct mg_store_action *action_or_null(struct mg_store_action *a,
                                              const struct mg_store_actor *by)
{
	return by ? a : NULL;
}

/* ---- open / close ---- */

int mg_store_open(const char *url, struct mg_store **out, char *errmsg, size_t errlen)
{
	if (errmsg && errlen)
		errmsg[0] = '\0';
	if (!url || !out || strnlen(url, 4096) >= 4096) {
		if (errmsg && errlen)
			snprintf(errmsg, errlen, "store URL missing or too long");
		return -EINVAL;
	}
	char dummy[1];
	if (!errmsg || !errlen) {
		errmsg = dummy;
		errlen = sizeof(dummy);
	}
	if (strncmp(url, "sqlite:", 7) == 0)
		return mg_store_sqlite_open(url + 7, out, errmsg, errlen);
	if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0)
		return mg_store_pg_open(url, out, errmsg, errlen);
	snprintf(errmsg, errlen, "store URL must start with sqlite: or postgresql://");
	return -EINVAL;
}

void mg_store_close(struct mg_store **s)
{
	if (!s || !*s)
		return;
	(*s)->ops->close(*s);
	*s = NULL;
}

const char *mg_store_backend(const struct mg_store *s)
{
	return s ? s->ops->name : NULL;
}

int mg_store_set_reserve(struct mg_store *s, uint64_t bytes)
{
	if (!s)
		return -EINVAL;
	return s->ops->set_reserve(s, bytes);
}

/* ---- admin action log ---- */

int mg_store_admin_log(struct mg_store *s, const struct mg_store_actor *by, const char *action,
                       const char *target, const char *detail_json, int64_t now_us)
{
	struct mg_store_action a = {0};
	if (!s || action_init(&a, by, action, now_us) < 0)
		return -EINVAL;
	if (target && *target && !text_ok(target, sizeof(a.target), false))
		return -EINVAL;
	if (target)
		snprintf(a.target, sizeof(a.target), "%s", target);
	int r = -EINVAL;
	if (detail_json) {
		size_t len = strnlen(detail_json, DETAIL_MAX + 1);
		json_t *d = NULL;
		if (len <= DETAIL_MAX)
			d = json_loadb(detail_json, len, JSON_REJECT_DUPLICATES, NULL);
		if (!d || !json_is_object(d)) {
			json_decref(d);
			goto fail;
		}
		r = action_detail(&a, d);
		if (r < 0)
			goto fail;
	}
	r = mg_sql_admin_log(s, &a);
fail:
	free(a.detail);
	return r;
}

int mg_store_admin_actions_foreach(struct mg_store *s, int64_t after_id, uint32_t limit,
                                   int (*cb)(void *ctx, const struct mg_store_admin_action *a),
                                   void *ctx)
{
	if (!s || !cb || !limit_ok(limit) || after_id < 0)
		return -EINVAL;
	return mg_sql_admin_actions_foreach(s, after_id, limit, cb, ctx);
}

/* ---- tokens ---- */

int mg_store_token_add(struct mg_store *s, const struct mg_store_actor *by,
                       const char *token_sha256_hex, int64_t expires_us, uint32_t uses,
                       int64_t now_us)
{
	if (!s || !hex64_ok(token_sha256_hex) || uses < 1 || expires_us <= 0)
		return -EINVAL;
	struct mg_store_action a = {0};
	int r = 0;
	if (by) {
		r = action_init(&a, by, "token.add", now_us);
		if (r < 0)
			return r;
		snprintf(a.target, sizeof(a.target), "token:%.16s", token_sha256_hex);
		r = action_detail(&a, json_pack("{s:I,s:I}", "expires_us", (json_int_t)expires_us,
		                                "uses", (json_int_t)uses));
	}
	if (r == 0)
		r = mg_sql_token_add(s, action_or_null(&a, by), token_sha256_hex, expires_us, uses,
		                     now_us);
	if (by)
		free(a.detail);
	return r;
}

int mg_store_token_consume(struct mg_store *s, const char *token_sha256_hex, int64_t now_us)
{
	if (!s || !hex64_ok(token_sha256_hex))
		return -EINVAL;
	return mg_sql_token_consume(s, token_sha256_hex, now_us);
}

/* ---- hosts ---- */

int mg_store_host_add(struct mg_store *s, const char *hostname, const char *cert_serial,
                      int64_t now_us, int64_t *id_out)
{
	if (!s || !text_ok(hostname, 256, false) || !serial_ok(cert_serial) || !id_out)
		return -EINVAL;
	return mg_sql_host_add(s, hostname, cert_serial, now_us, id_out);
}

int mg_store_host_get(struct mg_store *s, int64_t id, struct mg_store_host *out)
{
	if (!s || id <= 0 || !out)
		return -EINVAL;
	return mg_sql_host_get(s, id, NULL, out);
}

int mg_store_host_by_cert(struct mg_store *s, const char *cert_serial, struct mg_store_host *out)
{
	if (!s || !serial_ok(cert_serial) || !out)
		return -EINVAL;
	return mg_sql_host_get(s, 0, cert_serial, out);
}

int mg_store_host_revoke(struct mg_store *s, const struct mg_store_actor *by, int64_t id,
                         int64_t now_us)
{
	if (!s || id <= 0)
		return -EINVAL;
	struct mg_store_action a = {0};
	if (by) {
		int r = action_init(&a, by, "host.revoke", now_us);
		if (r < 0)
			return r;
		snprintf(a.target, sizeof(a.target), "host:%" PRId64, id);
	}
	return mg_sql_host_revoke(s, action_or_null(&a, by), id);
}

int mg_store_host_heartbeat(struct mg_store *s, int64_t id, int64_t now_us, uint64_t spool_depth,
                            int64_t oldest_unsent_us, uint64_t policy_version,
                            const char *agent_version)
{
	if (!s || id <= 0 || spool_depth > U53_MAX || policy_version > U53_MAX ||
	    !text_ok(agent_version, MG_STORE_NAME_SIZE, true))
		return -EINVAL;
	return mg_sql_host_heartbeat(s, id, now_us, spool_depth, oldest_unsent_us, policy_version,
	                             agent_version ? agent_version : "");
}

int mg_store_host_policy_applied(struct mg_store *s, int64_t id, uint64_t version, int64_t now_us)
{
	if (!s || id <= 0 || version < 1 || version > U53_MAX)
		return -EINVAL;
	return mg_sql_host_policy_applied(s, id, version, now_us);
}

int mg_store_host_foreach(struct mg_store *s, int (*cb)(void *ctx, const struct mg_store_host *h),
                          void *ctx)
{
	if (!s || !cb)
		return -EINVAL;
	return mg_sql_host_foreach(s, cb, ctx);
}

/* ---- events ---- */

int mg_store_ingest(struct mg_store *s, int64_t host_id, const char *boot_id,
                    const struct mg_store_event *evs, size_t n, int64_t now_us,
                    struct mg_ingest_result *res)
{
	struct mg_store_batch b;
	if (!s || host_id <= 0 || !res || mg_store_batch_init(&b, boot_id, evs, n) < 0)
		return -EINVAL;
	struct mg_ingest_result tmp;
	int r = s->ops->ingest(s, host_id, &b, now_us, &tmp);
	if (r == 0)
		*res = tmp;
	return r;
}

int mg_store_cursor_get(struct mg_store *s, int64_t host_id, const char *boot_id,
                        uint64_t *acked_through)
{
	if (!s || host_id <= 0 || !mg_uuid_valid(boot_id) || !acked_through)
		return -EINVAL;
	return s->ops->cursor_get(s, host_id, boot_id, acked_through);
}

static bool filter_ok(const struct mg_store_event_filter *f)
{
	return f && f->host_id >= 0 && f->after_id >= 0 && f->from_us >= 0 && f->to_us >= 0 &&
	       text_ok(f->type, 128, true) && text_ok(f->user, 256, true) &&
	       text_ok(f->device_serial, MG_STORE_DEVSTR_SIZE, true);
}

struct query_adapter {
	int (*cb)(void *ctx, int64_t id, int64_t host_id, const char *json);
	void *ctx;
};

static int query_row(void *ctx, const struct mg_store_event_row *row)
{
	struct query_adapter *q = ctx;
	return q->cb(q->ctx, row->id, row->host_id, row->json);
}

int mg_store_events_query(struct mg_store *s, const struct mg_store_event_filter *f,
                          int (*cb)(void *ctx, int64_t id, int64_t host_id, const char *json),
                          void *ctx)
{
	struct query_adapter q = {cb, ctx};
	if (!s || !cb || !filter_ok(f) || !limit_ok(f->limit))
		return -EINVAL;
	return s->ops->events_query(s, f, query_row, &q);
}

int mg_store_events_rows(struct mg_store *s, const struct mg_store_event_filter *f,
                         int (*cb)(void *ctx, const struct mg_store_event_row *row), void *ctx)
{
	if (!s || !cb || !filter_ok(f) || !limit_ok(f->limit))
		return -EINVAL;
	return s->ops->events_query(s, f, cb, ctx);
}

int mg_store_events_count(struct mg_store *s, const struct mg_store_event_filter *f, uint64_t *out)
{
	if (!s || !out || !filter_ok(f))
		return -EINVAL;
	return s->ops->events_count(s, f, out);
}

int mg_store_alerts_count(struct mg_store *s, int64_t host_id, uint64_t *out)
{
	if (!s || host_id < 0 || !out)
		return -EINVAL;
	return mg_sql_alerts_count(s, host_id, out);
}

int mg_store_alerts_foreach(struct mg_store *s, int64_t host_id, int64_t after_id, uint32_t limit,
                            int (*cb)(void *ctx, const struct mg_store_alert *a), void *ctx)
{
	if (!s || host_id < 0 || after_id < 0 || !limit_ok(limit) || !cb)
		return -EINVAL;
	return mg_sql_alerts_foreach(s, host_id, after_id, limit, cb, ctx);
}

/* ---- device ledger ---- */

static int device_copy_cb(void *ctx, const struct mg_store_device *d)
{
	*(struct mg_store_device *)ctx = *d;
	return 1;
}

int mg_store_device_get(struct mg_store *s, int64_t id, struct mg_store_device *out)
{
	if (!s || id <= 0 || !out)
		return -EINVAL;
	struct mg_store_device tmp;
	int r = mg_sql_devices_foreach(s, id, 0, 1, device_copy_cb, &tmp);
	if (r < 0)
		return r;
	if (r == 0)
		return -ENOENT;
	*out = tmp;
	return 0;
}

int mg_store_devices_foreach(struct mg_store *s, int64_t after_id, uint32_t limit,
                             int (*cb)(void *ctx, const struct mg_store_device *d), void *ctx)
{
	if (!s || after_id < 0 || !limit_ok(limit) || !cb)
		return -EINVAL;
	int r = mg_sql_devices_foreach(s, 0, after_id, limit, cb, ctx);
	return r > 0 ? 0 : r;
}

/* ---- rules and policies ---- */

static json_t *rule_detail(const char *text, int64_t host_id, int64_t expires_us,
                           const char *comment)
{
	return json_pack("{s:s,s:I,s:I,s:s?}", "text", text, "host_id", (json_int_t)host_id,
	                 "expires_us", (json_int_t)expires_us, "comment",
	                 comment && *comment ? comment : NULL);
}

static bool rule_args_ok(const char *text, int64_t host_id, int64_t expires_us, const char *comment)
{
	return line_ok(text, MG_STORE_RULE_SIZE) && host_id >= 0 && expires_us >= 0 &&
	       text_ok(comment, MG_STORE_TEXT_SIZE, true);
}

int mg_store_rule_add(struct mg_store *s, const struct mg_store_actor *by, const char *text,
                      int64_t host_id, int64_t expires_us, const char *comment, int64_t now_us,
                      int64_t *id_out)
{
	if (!s || !id_out || !rule_args_ok(text, host_id, expires_us, comment))
		return -EINVAL;
	struct mg_store_action a = {0};
	int r = 0;
	if (by) {
		r = action_init(&a, by, "rule.add", now_us);
		if (r < 0)
			return r;
		a.target_kind = "rule";
		r = action_detail(&a, rule_detail(text, host_id, expires_us, comment));
	}
	if (r == 0)
		r = mg_sql_rule_add(s, action_or_null(&a, by), text, host_id, expires_us,
		                    comment ? comment : "", now_us, id_out);
	if (by)
		free(a.detail);
	return r;
}

int mg_store_rule_remove(struct mg_store *s, const struct mg_store_actor *by, int64_t id,
                         int64_t now_us)
{
	if (!s || id <= 0)
		return -EINVAL;
	struct mg_store_action a = {0};
	if (by) {
		int r = action_init(&a, by, "rule.remove", now_us);
		if (r < 0)
			return r;
		snprintf(a.target, sizeof(a.target), "rule:%" PRId64, id);
	}
	return mg_sql_rule_remove(s, action_or_null(&a, by), id);
}

int mg_store_rules_foreach(struct mg_store *s, int64_t host_id, int64_t now_us,
                           int (*cb)(void *ctx, const struct mg_store_rule *r), void *ctx)
{
	if (!s || host_id < 0 || now_us < 0 || !cb)
		return -EINVAL;
	return mg_sql_rules_foreach(s, host_id, now_us, cb, ctx);
}

int mg_store_rules_revision(struct mg_store *s, uint64_t *out)
{
	if (!s || !out)
		return -EINVAL;
	return mg_sql_rules_revision(s, out);
}

int mg_store_policy_add(struct mg_store *s, const struct mg_store_actor *by, uint64_t version,
                        uint64_t rules_revision, const char *json, const uint8_t *sig,
                        size_t sig_len, int64_t now_us)
{
	if (!s || version < 1 || version > U53_MAX || rules_revision > U53_MAX || !json || !sig ||
	    sig_len < 1 || sig_len > MG_STORE_MAX_SIGNATURE)
		return -EINVAL;
	size_t len = strnlen(json, (size_t)MG_STORE_MAX_POLICY + 1);
	if (len < 1 || len > MG_STORE_MAX_POLICY || !mg_utf8_valid(json, len))
		return -EINVAL;
	struct mg_store_action a = {0};
	int r = 0;
	if (by) {
		r = action_init(&a, by, "policy.add", now_us);
		if (r < 0)
			return r;
		snprintf(a.target, sizeof(a.target), "policy:%" PRIu64, version);
		r = action_detail(&a,
		                  json_pack("{s:I,s:I}", "rules_revision",
		                            (json_int_t)rules_revision, "bytes", (json_int_t)len));
	}
	if (r == 0)
		r = mg_sql_policy_add(s, action_or_null(&a, by), version, rules_revision, json, len,
		                      sig, sig_len, now_us);
	if (by)
		free(a.detail);
	return r;
}

int mg_store_policy_latest(struct mg_store *s, uint64_t *version)
{
	if (!s || !version)
		return -EINVAL;
	return mg_sql_policy_latest(s, version);
}

int mg_store_policy_get(struct mg_store *s, uint64_t version, struct mg_store_policy **out)
{
	if (!s || !out || version > U53_MAX)
		return -EINVAL;
	return mg_sql_policy_get(s, version, out);
}

void mg_store_policy_free(struct mg_store_policy **p)
{
	if (!p || !*p)
		return;
	free((*p)->json);
	free((*p)->sig);
	free(*p);
	*p = NULL;
}

/* ---- device requests ---- */

int mg_store_request_add(struct mg_store *s, const struct mg_store_request *r, int64_t now_us,
                         int64_t *id_out)
{
	if (!s || !r || !id_out || r->host_id <= 0 ||
	    !charset_ok(r->request_id, sizeof(r->request_id), "._-") ||
	    !text_ok(r->user, sizeof(r->user), true) || !device_id_ok(&r->dev) ||
	    !text_ok(r->reason, sizeof(r->reason), true))
		return -EINVAL;
	return mg_sql_request_add(s, r, now_us, id_out);
}

static int request_copy_cb(void *ctx, const struct mg_store_request *r)
{
	*(struct mg_store_request *)ctx = *r;
	return 1;
}

int mg_store_request_get(struct mg_store *s, int64_t id, struct mg_store_request *out)
{
	if (!s || id <= 0 || !out)
		return -EINVAL;
	struct mg_store_request *tmp = malloc(sizeof(*tmp));
	if (!tmp)
		return -ENOMEM;
	int r = mg_sql_requests_foreach(s, id, -1, 0, 1, request_copy_cb, tmp);
	if (r == 0)
		r = -ENOENT;
	if (r > 0) {
		*out = *tmp;
		r = 0;
	}
	free(tmp);
	return r;
}

int mg_store_request_approve(struct mg_store *s, const struct mg_store_actor *by, int64_t id,
                             const char *rule_text, int64_t rule_host_id, int64_t expires_us,
                             const char *note, int64_t now_us, int64_t *rule_id_out)
{
	if (!s || id <= 0 || !rule_id_out ||
	    !rule_args_ok(rule_text, rule_host_id, expires_us, note))
		return -EINVAL;
	struct mg_store_action a = {0};
	int r = 0;
	if (by) {
		r = action_init(&a, by, "request.approve", now_us);
		if (r < 0)
			return r;
		snprintf(a.target, sizeof(a.target), "request:%" PRId64, id);
		r = action_detail(&a, rule_detail(rule_text, rule_host_id, expires_us, note));
	}
	if (r == 0)
		r = mg_sql_request_decide(s, action_or_null(&a, by), id, rule_text, rule_host_id,
		                          expires_us, note ? note : "", now_us, rule_id_out);
	if (by)
		free(a.detail);
	return r;
}

int mg_store_request_deny(struct mg_store *s, const struct mg_store_actor *by, int64_t id,
                          const char *note, int64_t now_us)
{
	if (!s || id <= 0 || !text_ok(note, MG_STORE_TEXT_SIZE, true))
		return -EINVAL;
	struct mg_store_action a = {0};
	int r = 0;
	if (by) {
		r = action_init(&a, by, "request.deny", now_us);
		if (r < 0)
			return r;
		snprintf(a.target, sizeof(a.target), "request:%" PRId64, id);
		r = action_detail(&a, json_pack("{s:s?}", "note", note && *note ? note : NULL));
	}
	if (r == 0)
		r = mg_sql_request_decide(s, action_or_null(&a, by), id, NULL, 0, 0,
		                          note ? note : "", now_us, NULL);
	if (by)
		free(a.detail);
	return r;
}

int mg_store_requests_foreach(struct mg_store *s, int state, int64_t after_id, uint32_t limit,
                              int (*cb)(void *ctx, const struct mg_store_request *r), void *ctx)
{
	if (!s || state > MG_REQUEST_DENIED || after_id < 0 || !limit_ok(limit) || !cb)
		return -EINVAL;
	int r = mg_sql_requests_foreach(s, 0, state < 0 ? -1 : state, after_id, limit, cb, ctx);
	return r > 0 ? 0 : r;
}

/* ---- admins and sessions ---- */

const char *mg_request_state_name(enum mg_request_state s)
{
	switch (s) {
	case MG_REQUEST_PENDING:
		return "pending";
	case MG_REQUEST_APPROVED:
		return "approved";
	case MG_REQUEST_DENIED:
		return "denied";
	}
	return "unknown";
}

const char *mg_admin_role_name(enum mg_admin_role role)
{
	switch (role) {
	case MG_ROLE_ADMIN:
		return "admin";
	case MG_ROLE_APPROVER:
		return "approver";
	case MG_ROLE_AUDITOR:
		return "auditor";
	}
	return NULL;
}

int mg_admin_role_from_name(const char *name, enum mg_admin_role *out)
{
	static const enum mg_admin_role roles[] = {MG_ROLE_ADMIN, MG_ROLE_APPROVER,
	                                           MG_ROLE_AUDITOR};
	if (!name || !out)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(name, mg_admin_role_name(roles[i])) == 0) {
			*out = roles[i];
			return 0;
		}
	return -EINVAL;
}

int mg_store_admin_add(struct mg_store *s, const struct mg_store_actor *by, const char *name,
                       const char *password_hash, enum mg_admin_role role, int64_t now_us,
                       int64_t *id_out)
{
	if (!s || !id_out || !charset_ok(name, MG_STORE_NAME_SIZE, "._@-") ||
	    !printable_ok(password_hash, 256) || !role_ok(role))
		return -EINVAL;
	struct mg_store_action a = {0};
	int r = 0;
	if (by) {
		r = action_init(&a, by, "admin.add", now_us);
		if (r < 0)
			return r;
		a.target_kind = "admin";
		r = action_detail(
		    &a, json_pack("{s:s,s:s}", "name", name, "role", mg_admin_role_name(role)));
	}
	if (r == 0)
		r = mg_sql_admin_add(s, action_or_null(&a, by), name, password_hash, role, now_us,
		                     id_out);
	if (by)
		free(a.detail);
	return r;
}

int mg_store_admin_get(struct mg_store *s, const char *name, struct mg_store_admin *out)
{
	if (!s || !out || !charset_ok(name, MG_STORE_NAME_SIZE, "._@-"))
		return -EINVAL;
	return mg_sql_admin_get(s, name, 0, out);
}

int mg_store_admin_get_id(struct mg_store *s, int64_t id, struct mg_store_admin *out)
{
	if (!s || !out || id <= 0)
		return -EINVAL;
	return mg_sql_admin_get(s, NULL, id, out);
}

static int admin_update(struct mg_store *s, const struct mg_store_actor *by, const char *action,
                        int64_t id, const char *password_hash, int role, int disabled,
                        json_t *detail, int64_t now_us)
{
	struct mg_store_action a = {0};
	int r = 0;
	if (by) {
		r = action_init(&a, by, action, now_us);
		if (r < 0) {
			json_decref(detail);
			return r;
		}
		snprintf(a.target, sizeof(a.target), "admin:%" PRId64, id);
		if (detail)
			r = action_detail(&a, detail);
	} else {
		json_decref(detail);
	}
	if (r == 0)
		r = mg_sql_admin_update(s, action_or_null(&a, by), id, password_hash, role,
		                        disabled);
	if (by)
		free(a.detail);
	return r;
}

int mg_store_admin_set_password(struct mg_store *s, const struct mg_store_actor *by, int64_t id,
                                const char *password_hash, int64_t now_us)
{
	if (!s || id <= 0 || !printable_ok(password_hash, 256))
		return -EINVAL;
	return admin_update(s, by, "admin.password", id, password_hash, 0, -1, NULL, now_us);
}

int mg_store_admin_set_role(struct mg_store *s, const struct mg_store_actor *by, int64_t id,
                            enum mg_admin_role role, int64_t now_us)
{
	if (!s || id <= 0 || !role_ok(role))
		return -EINVAL;
	return admin_update(s, by, "admin.role", id, NULL, (int)role, -1,
	                    json_pack("{s:s}", "role", mg_admin_role_name(role)), now_us);
}

int mg_store_admin_set_disabled(struct mg_store *s, const struct mg_store_actor *by, int64_t id,
                                bool disabled, int64_t now_us)
{
	if (!s || id <= 0)
		return -EINVAL;
	return admin_update(s, by, disabled ? "admin.disable" : "admin.enable", id, NULL, 0,
	                    disabled ? 1 : 0, NULL, now_us);
}

int mg_store_admins_foreach(struct mg_store *s,
                            int (*cb)(void *ctx, const struct mg_store_admin *a), void *ctx)
{
	if (!s || !cb)
		return -EINVAL;
	return mg_sql_admins_foreach(s, cb, ctx);
}

/* The lock (lock != 0) or unlock of account id, recorded as action by "by". */
static int admin_lock_change(struct mg_store *s, const struct mg_store_actor *by, int64_t id,
                             bool lock, uint32_t failures, int64_t now_us)
{
	struct mg_store_action a = {0};
	int r;
	if (!s || id <= 0)
		return -EINVAL;
	if (by) {
		r = action_init(&a, by, lock ? "admin.lock" : "admin.unlock", now_us);
		if (r < 0)
			return r;
		snprintf(a.target, sizeof(a.target), "admin:%" PRId64, id);
		if (lock && (r = action_detail(
		                 &a, json_pack("{s:I}", "failures", (json_int_t)failures))) < 0)
			return r;
	}
	r = mg_sql_admin_lock(s, action_or_null(&a, by), id, lock, now_us);
	if (by)
		free(a.detail);
	return r;
}

int mg_store_admin_lock(struct mg_store *s, const struct mg_store_actor *by, int64_t id,
                        uint32_t failures, int64_t now_us)
{
	return admin_lock_change(s, by, id, true, failures, now_us);
}

int mg_store_admin_unlock(struct mg_store *s, const struct mg_store_actor *by, int64_t id,
                          int64_t now_us)
{
	return admin_lock_change(s, by, id, false, 0, now_us);
}

int mg_store_admin_locked(struct mg_store *s, int64_t id, int64_t *locked_us)
{
	if (!s || id <= 0)
		return -EINVAL;
	return mg_sql_admin_locked(s, id, locked_us);
}

int mg_store_admin_login_failed(struct mg_store *s, int64_t id, int64_t now_us, int64_t forget_us,
                                uint32_t *failures)
{
	if (!s || id <= 0 || !failures || forget_us <= 0)
		return -EINVAL;
	return mg_sql_admin_login_failed(s, id, now_us, forget_us, failures);
}

int mg_store_admin_login_ok(struct mg_store *s, int64_t id)
{
	if (!s || id <= 0)
		return -EINVAL;
	return mg_sql_admin_login_ok(s, id);
}

int mg_store_session_add(struct mg_store *s, const char *token_sha256_hex, int64_t admin_id,
                         int64_t now_us, int64_t expires_us)
{
	if (!s || !hex64_ok(token_sha256_hex) || admin_id <= 0 || expires_us <= now_us)
		return -EINVAL;
	return mg_sql_session_add(s, token_sha256_hex, admin_id, now_us, expires_us);
}

int mg_store_session_get(struct mg_store *s, const char *token_sha256_hex, int64_t now_us,
                         struct mg_store_admin *admin, int64_t *expires_us)
{
	if (!s || !hex64_ok(token_sha256_hex) || !admin)
		return -EINVAL;
	struct mg_store_admin tmp;
	int64_t exp = 0;
	int r = mg_sql_session_get(s, token_sha256_hex, &tmp, &exp);
	if (r < 0)
		return r;
	if (now_us >= exp)
		return -ETIME;
	if (tmp.disabled)
		return -EPERM;
	*admin = tmp;
	if (expires_us)
		*expires_us = exp;
	return 0;
}

int mg_store_session_extend(struct mg_store *s, const char *token_sha256_hex, int64_t expires_us)
{
	if (!s || !hex64_ok(token_sha256_hex) || expires_us <= 0)
		return -EINVAL;
	return mg_sql_session_extend(s, token_sha256_hex, expires_us);
}

int mg_store_session_delete(struct mg_store *s, const char *token_sha256_hex)
{
	if (!s || !hex64_ok(token_sha256_hex))
		return -EINVAL;
	return mg_sql_session_delete(s, token_sha256_hex);
}

int mg_store_sessions_purge(struct mg_store *s, int64_t now_us, uint64_t *deleted)
{
	if (!s)
		return -EINVAL;
	uint64_t n = 0;
	int r = mg_sql_sessions_purge(s, now_us, &n);
	if (r == 0 && deleted)
		*deleted = n;
	return r;
}
