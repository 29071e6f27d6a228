/*
 * Admin API (docs/API.md, "Rules, policy and device requests"): rules, the published policy,
 * device requests (approve -> rule, deny). Every rule change goes through rule_ops.h and so
 * ends in a new signed policy version; the router (api_admin.c) has checked the session and
 * the role.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api_admin.h"
#include "api_admin_body_rules.h"
#include "api_body.h"
#include "digest.h"
#include "mg/time.h"
#include "policy_build.h"
#include "rule_ops.h"

#define U53_MAX       ((INT64_C(1) << 53) - 1)
#define NOT_PUBLISHED UINT64_MAX /* version sentinel: rule_ops did not reach publishing */

/* 400 naming the first query argument that is not in names (NULL-terminated); 0 if none. */
static int only_args(const struct mg_http_request *req, const char *const *names,
                     struct mg_http_response *resp)
{
	for (size_t i = 0; i < req->n_args; i++) {
		bool known = false;
		for (size_t k = 0; names[k]; k++)
			if (strcmp(req->args[i].key, names[k]) == 0)
				known = true;
		if (!known) {
			char msg[96];
			size_t n = strnlen(req->args[i].key, 32);
			bool printable = true;
			for (size_t k = 0; k < n; k++)
				if (req->args[i].key[k] < 0x20 || req->args[i].key[k] > 0x7e)
					printable = false;
			snprintf(msg, sizeof(msg), "%.*s: unknown query argument",
			         printable ? (int)n : 0, req->args[i].key);
			mg_admin_error(resp, 400, msg);
			return -EINVAL;
		}
	}
	return 0;
}

static struct mg_rule_ops ops_of(const struct mg_api *api)
{
	return (struct mg_rule_ops){
	    .store = api->store, .key = api->policy_key, .validity_us = api->policy_validity_us};
}

/* A store or publish error as an answer; what names the object for 404 and 409. */
static int fail(struct mg_http_response *resp, int r, uint64_t version, const char *what)
{
	char msg[160];
	if (version == 0) {
		/* The change is stored; the policy refresh publishes it later. */
		snprintf(msg, sizeof(msg),
		         "%s changed, but publishing the new policy failed (error %d); it is "
		         "published with the next change",
		         what, -r);
		return mg_admin_error(resp, 500, msg);
	}
	switch (r) {
	case -ENOENT:
		snprintf(msg, sizeof(msg), "unknown %s", what);
		return mg_admin_error(resp, 404, msg);
	case -EALREADY:
		snprintf(msg, sizeof(msg), "%s already decided", what);
		return mg_admin_error(resp, 409, msg);
	default:
		return mg_admin_store_error(resp, r, what);
	}
}

static json_t *id_or_null(int64_t id)
{
	return id > 0 ? json_integer((json_int_t)id) : json_null();
}

static json_t *str_or_null(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

static json_t *rule_json(const struct mg_store_rule *r)
{
	return json_pack("{s:I,s:s,s:I,s:o,s:o,s:s,s:o,s:s}", "id", (json_int_t)r->id, "rule",
	                 r->text, "host_id", (json_int_t)r->host_id, "expires_at",
	                 mg_admin_time_json(r->expires_us), "created_at",
	                 mg_admin_time_json(r->created_us), "created_by", r->created_by,
	                 "request_id", id_or_null(r->request_id), "comment", r->comment);
}

static int add_rule(void *ctx, const struct mg_store_rule *r)
{
	return mg_admin_list_add(ctx, rule_json(r));
}

int mg_admin_rules_list(struct mg_api *api, const struct mg_admin_ctx *who,
                        const struct mg_http_request *req, const int64_t *params,
                        struct mg_http_response *resp)
{
	static const char *const args[] = {"host", NULL};
	struct mg_store_host host;
	json_t *arr = NULL;
	uint64_t revision = 0;
	int64_t host_id = 0;
	int r;
	(void)who;
	(void)params;
	if (only_args(req, args, resp) < 0 ||
	    mg_admin_arg_i64(req, "host", 0, U53_MAX, 0, &host_id, resp) < 0)
		return 0;
	if (host_id > 0 && (r = mg_store_host_get(api->store, host_id, &host)) < 0)
		return fail(resp, r, NOT_PUBLISHED, "host");
	/* Revision first: a change racing the walk shows as a newer revision next time. */
	if ((r = mg_store_rules_revision(api->store, &revision)) < 0)
		return fail(resp, r, NOT_PUBLISHED, "rules");
	arr = json_array();
	if (!arr)
		return -ENOMEM;
	r = mg_store_rules_foreach(api->store, host_id, 0, add_rule, arr);
	if (r < 0) {
		json_decref(arr);
		return fail(resp, r, NOT_PUBLISHED, "rules");
	}
	return mg_http_json(resp, 200,
	                    json_pack("{s:o,s:I}", "rules", arr, "revision", (json_int_t)revision));
}

int mg_admin_rules_add(struct mg_api *api, const struct mg_admin_ctx *who,
                       const struct mg_http_request *req, const int64_t *params,
                       struct mg_http_response *resp)
{
	const struct mg_rule_ops ops = ops_of(api);
	struct mg_admin_rule_req *b = NULL;
	char err[512] = "";
	int64_t id = 0;
	uint64_t version = NOT_PUBLISHED;
	int r;
	(void)params;
	if (req->n_args)
		return mg_admin_error(resp, 400, "no query arguments expected");
	b = malloc(sizeof(*b));
	if (!b)
		return -ENOMEM;
	r = mg_admin_parse_rule(req->body, req->body_len, b, err, sizeof(err));
	if (r < 0) {
		r = r == -ENOMEM ? r : mg_admin_error(resp, 400, err);
		goto out;
	}
	r = mg_rule_ops_add(&ops, &who->actor, b->rule, b->host_id, b->expires_us,
	                    b->comment[0] ? b->comment : NULL, mg_now_us(), &id, &version, err,
	                    sizeof(err));
	if (r == -EINVAL && version == NOT_PUBLISHED && err[0])
		r = mg_admin_error(resp, 400, err);
	else if (r == -ENOENT && version == NOT_PUBLISHED)
		r = mg_admin_error(resp, 404, "host_id: unknown host");
	else if (r < 0)
		r = fail(resp, r, version, "rule");
	else {
		mg_api_policy_published(api, version); /* terminals' next poll sees it */
		r = mg_http_json(resp, 201,
		                 json_pack("{s:I,s:I}", "id", (json_int_t)id, "policy_version",
		                           (json_int_t)version));
	}
out:
	free(b);
	return r;
}

int mg_admin_rules_remove(struct mg_api *api, const struct mg_admin_ctx *who,
                          const struct mg_http_request *req, const int64_t *params,
                          struct mg_http_response *resp)
{
	const struct mg_rule_ops ops = ops_of(api);
	uint64_t version = NOT_PUBLISHED;
	int r;
	if (req->n_args)
		return mg_admin_error(resp, 400, "no query arguments expected");
	r = mg_rule_ops_remove(&ops, &who->actor, params[0], mg_now_us(), &version);
	if (r < 0)
		return fail(resp, r, version, "rule");
	mg_api_policy_published(api, version); /* terminals' next poll sees it */
	return mg_http_json(resp, 200, json_pack("{s:I}", "policy_version", (json_int_t)version));
}

int mg_admin_policy_info(struct mg_api *api, const struct mg_admin_ctx *who,
                         const struct mg_http_request *req, const int64_t *params,
                         struct mg_http_response *resp)
{
	struct mg_store_policy *p = NULL;
	struct mg_policy_bundle *b = NULL;
	char sig[MG_STORE_MAX_SIGNATURE + 1], sha[65];
	int r;
	(void)who;
	(void)params;
	if (req->n_args)
		return mg_admin_error(resp, 400, "no query arguments expected");
	r = mg_store_policy_get(api->store, 0, &p);
	if (r == -ENOENT)
		return mg_admin_error(resp, 404, "no policy published yet");
	if (r < 0)
		return fail(resp, r, NOT_PUBLISHED, "policy");
	/* The stored bundle is our own signed output: a parse failure is a server fault. */
	r = mg_policy_bundle_parse(p->json, p->json_len, &b, NULL, 0);
	if (r == 0 && (p->sig_len >= sizeof(sig) || mg_sha256_hex(p->json, p->json_len, sha) < 0))
		r = -EIO;
	if (r < 0)
		goto out;
	memcpy(sig, p->sig, p->sig_len);
	sig[p->sig_len] = '\0';
	r = mg_http_json(resp, 200,
	                 json_pack("{s:I,s:I,s:o,s:o,s:o,s:s,s:s,s:s}", "version",
	                           (json_int_t)p->version, "rules_revision",
	                           (json_int_t)p->rules_revision, "issued_at",
	                           mg_admin_time_json(b->issued_us), "expires_at",
	                           mg_admin_time_json(b->expires_us), "created_at",
	                           mg_admin_time_json(p->created_us), "public_key",
	                           api->policy_pubkey, "signature", sig, "sha256", sha));
out:
	mg_policy_bundle_free(&b);
	mg_store_policy_free(&p);
	return r < 0 ? (r == -ENOMEM ? r : -EIO) : r;
}

int mg_admin_policy_publish(struct mg_api *api, const struct mg_admin_ctx *who,
                            const struct mg_http_request *req, const int64_t *params,
                            struct mg_http_response *resp)
{
	char err[128] = "";
	uint64_t version = 0;
	int r;
	(void)params;
	if (req->n_args)
		return mg_admin_error(resp, 400, "no query arguments expected");
	if (mg_admin_parse_publish(req->body, req->body_len, err, sizeof(err)) < 0)
		return mg_admin_error(resp, 400, err);
	r = mg_policy_publish(api->store, &who->actor, api->policy_key, mg_now_us(),
	                      api->policy_validity_us, &version);
	if (r == -EINVAL)
		return mg_admin_error(resp, 500, "a stored rule is not valid rules text");
	if (r < 0)
		return fail(resp, r, NOT_PUBLISHED, "policy");
	mg_api_policy_published(api, version);
	return mg_http_json(resp, 201, json_pack("{s:I}", "version", (json_int_t)version));
}

/* ---- device requests ---- */

static json_t *request_json(const struct mg_store_request *q)
{
	json_t *dev =
	    json_pack("{s:s,s:s,s:o,s:o,s:o}", "vendor_id", q->dev.vendor_id, "product_id",
	              q->dev.product_id, "serial", str_or_null(q->dev.serial), "name",
	              str_or_null(q->dev.name), "hash", str_or_null(q->dev.hash));
	if (!dev)
		return NULL;
	return json_pack(
	    "{s:I,s:s,s:I,s:s,s:o,s:s,s:o,s:s,s:o,s:o,s:s,s:o}", "id", (json_int_t)q->id,
	    "request_id", q->request_id, "host_id", (json_int_t)q->host_id, "user", q->user,
	    "device", dev, "reason", q->reason, "created_at", mg_admin_time_json(q->created_us),
	    "state", mg_request_state_name(q->state), "decided_at",
	    mg_admin_time_json(q->decided_us), "decided_by", str_or_null(q->decided_by), "note",
	    q->note, "rule_id", id_or_null(q->rule_id));
}

struct page {
	json_t *arr;
	uint32_t limit, n;
	int64_t last_id;
	bool more;
};

static int add_request(void *ctx, const struct mg_store_request *q)
{
	struct page *pg = ctx;
	json_t *o;
	if (pg->n == pg->limit) {
		pg->more = true;
		return 1;
	}
	o = request_json(q);
	if (!o || json_array_append_new(pg->arr, o) < 0)
		return -ENOMEM;
	pg->n++;
	pg->last_id = q->id;
	return 0;
}

int mg_admin_requests_list(struct mg_api *api, const struct mg_admin_ctx *who,
                           const struct mg_http_request *req, const int64_t *params,
                           struct mg_http_response *resp)
{
	static const char *const args[] = {"state", "after", "limit", NULL};
	const char *st = mg_http_arg(req, "state");
	struct page pg = {0};
	int64_t after = 0, limit = 0;
	int state = -1, r;
	(void)who;
	(void)params;
	if (only_args(req, args, resp) < 0 ||
	    mg_admin_arg_i64(req, "after", 0, U53_MAX, 0, &after, resp) < 0 ||
	    mg_admin_arg_i64(req, "limit", 1, MG_ADMIN_PAGE_MAX, MG_ADMIN_PAGE_MAX, &limit, resp) <
	        0)
		return 0;
	if (st && strcmp(st, "pending") == 0)
		state = MG_REQUEST_PENDING;
	else if (st && strcmp(st, "approved") == 0)
		state = MG_REQUEST_APPROVED;
	else if (st && strcmp(st, "denied") == 0)
		state = MG_REQUEST_DENIED;
	else if (st)
		return mg_admin_error(resp, 400, "state: expected pending, approved or denied");
	pg.arr = json_array();
	pg.limit = (uint32_t)limit;
	if (!pg.arr)
		return -ENOMEM;
	/* One more than the page: whether another page exists. */
	r = mg_store_requests_foreach(api->store, state, after, pg.limit + 1, add_request, &pg);
	if (r < 0) {
		json_decref(pg.arr);
		return fail(resp, r, NOT_PUBLISHED, "requests");
	}
	return mg_http_json(
	    resp, 200,
	    json_pack("{s:o,s:o}", "requests", pg.arr, "next_after",
	              pg.more ? json_integer((json_int_t)pg.last_id) : json_null()));
}

int mg_admin_request_approve(struct mg_api *api, const struct mg_admin_ctx *who,
                             const struct mg_http_request *req, const int64_t *params,
                             struct mg_http_response *resp)
{
	const struct mg_rule_ops ops = ops_of(api);
	struct mg_admin_approve_req b;
	char err[256] = "";
	int64_t rule_id = 0, now = mg_now_us();
	uint64_t version = NOT_PUBLISHED;
	int r;
	if (req->n_args)
		return mg_admin_error(resp, 400, "no query arguments expected");
	r = mg_admin_parse_approve(req->body, req->body_len, &b, err, sizeof(err));
	if (r < 0)
		return r == -ENOMEM ? r : mg_admin_error(resp, 400, err);
	if (b.expires_us != 0 && b.expires_us <= now)
		return mg_admin_error(resp, 400, "expires_at: must be in the future");
	r = mg_rule_ops_approve(&ops, &who->actor, params[0], b.all_hosts, b.expires_us,
	                        b.note[0] ? b.note : NULL, now, &rule_id, &version);
	if (r == -E2BIG)
		return mg_admin_error(
		    resp, 422,
		    "the device's rule would be longer than 4095 bytes; add a rule "
		    "by hand");
	if (r < 0)
		return fail(resp, r, version, "request");
	mg_api_policy_published(api, version);
	return mg_http_json(resp, 200,
	                    json_pack("{s:I,s:I}", "rule_id", (json_int_t)rule_id, "policy_version",
	                              (json_int_t)version));
}

int mg_admin_request_deny(struct mg_api *api, const struct mg_admin_ctx *who,
                          const struct mg_http_request *req, const int64_t *params,
                          struct mg_http_response *resp)
{
	struct mg_admin_deny_req b;
	char err[256] = "";
	int r;
	if (req->n_args)
		return mg_admin_error(resp, 400, "no query arguments expected");
	r = mg_admin_parse_deny(req->body, req->body_len, &b, err, sizeof(err));
	if (r < 0)
		return r == -ENOMEM ? r : mg_admin_error(resp, 400, err);
	r = mg_store_request_deny(api->store, &who->actor, params[0], b.note[0] ? b.note : NULL,
	                          mg_now_us());
	if (r < 0)
		return fail(resp, r, NOT_PUBLISHED, "request");
	resp->status = 204;
	return 0;
}
