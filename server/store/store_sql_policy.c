/*
 * Shared SQL operations (store_sql.h): rules, policy versions and device requests (an approval
 * adds its rule in the same transaction). Every rule change increments the rules revision in
 * the same transaction; on PostgreSQL that row serializes rule changes across collectors, a
 * table lock (MG_SQL_POLICY_LOCK) keeps policy versions strictly increasing, and a request's
 * row lock lets exactly one decision win.
 */
#include "store_sql.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* ---- rules ---- */

struct rule_job {
	struct mg_store_action *act;
	int64_t id; /* rule (remove) or request (decide) */
	const char *text, *comment;
	int64_t host_id, expires_us, now_us, request_id;
	int64_t new_id;
};

static int one_row(const struct mg_row *r, void *ctx)
{
	(void)r;
	(void)ctx;
	return 1;
}

/* Inserts the rule of j (its host must exist) and bumps the rules revision. */
static int rule_insert(const struct mg_sql *db, struct rule_job *j)
{
	int r;
	if (j->host_id) {
		struct mg_sql_params h = {0};
		mg_sql_int(&h, j->host_id);
		r = db->ops->rows(db->conn, MG_SQL_HOST_STATE, &h, one_row, NULL);
		if (r <= 0)
			return r == 0 ? -ENOENT : r;
	}
	struct mg_sql_params p = {0};
	mg_sql_text(&p, j->text);
	mg_sql_int(&p, j->host_id);
	mg_sql_int(&p, j->expires_us);
	mg_sql_int(&p, j->now_us);
	mg_sql_text(&p, j->act ? j->act->admin : "");
	mg_sql_int(&p, j->request_id);
	mg_sql_text(&p, j->comment);
	r = db->ops->insert(db->conn, MG_SQL_RULE_ADD, &p, &j->new_id);
	return r < 0 ? r : db->ops->run(db->conn, MG_SQL_RULES_REV_BUMP, NULL, NULL);
}

static int rule_add_fn(const struct mg_sql *db, void *arg)
{
	struct rule_job *j = arg;
	int r = rule_insert(db, j);
	return r < 0 ? r : mg_sql_log_action(db, j->act, j->new_id);
}

int mg_sql_rule_add(struct mg_store *s, struct mg_store_action *act, const char *text,
                    int64_t host_id, int64_t expires_us, const char *comment, int64_t now_us,
                    int64_t *id_out)
{
	struct rule_job j = {.act = act,
	                     .text = text,
	                     .comment = comment,
	                     .host_id = host_id,
	                     .expires_us = expires_us,
	                     .now_us = now_us};
	int r = mg_sql_write(s, rule_add_fn, &j);
	if (r == 0)
		*id_out = j.new_id;
	return r;
}

static int rule_remove_fn(const struct mg_sql *db, void *arg)
{
	struct rule_job *j = arg;
	struct mg_sql_params p = {0};
	mg_sql_int(&p, j->id);
	int r = db->ops->run_one(db->conn, MG_SQL_RULE_DEL, &p);
	if (r == 0)
		r = db->ops->run(db->conn, MG_SQL_RULES_REV_BUMP, NULL, NULL);
	return r < 0 ? r : mg_sql_log_action(db, j->act, 0);
}

int mg_sql_rule_remove(struct mg_store *s, struct mg_store_action *act, int64_t id)
{
	struct rule_job j = {.act = act, .id = id};
	return mg_sql_write(s, rule_remove_fn, &j);
}

int mg_sql_rules_foreach(struct mg_store *s, int64_t host_id, int64_t now_us,
                         int (*cb)(void *, const struct mg_store_rule *), void *ctx)
{
	struct mg_row_sink k = {(void (*)(void))cb, ctx, malloc(sizeof(struct mg_store_rule)), 0};
	if (!k.buf)
		return -ENOMEM;
	struct mg_sql_params p = {0};
	mg_sql_int(&p, host_id);
	mg_sql_int(&p, now_us);
	int r = mg_sql_query(s, MG_SQL_RULES_LIST, &p, mg_row_rule_each, &k);
	free(k.buf);
	return r > 0 ? 0 : r;
}

int mg_sql_rules_revision(struct mg_store *s, uint64_t *out)
{
	struct mg_row_sink k = {0};
	struct mg_sql_params p = {0};
	mg_sql_text(&p, "rules_revision");
	int r = mg_sql_query(s, MG_SQL_META_GET, &p, mg_row_i64_get, &k);
	if (r < 0)
		return r;
	*out = (uint64_t)k.i64;
	return 0;
}

/* ---- policies ---- */

struct policy_job {
	struct mg_store_action *act;
	uint64_t version, rules_revision;
	const char *json;
	const uint8_t *sig;
	size_t sig_len;
	int64_t now_us;
};

static int policy_add_fn(const struct mg_sql *db, void *arg)
{
	struct policy_job *j = arg;
	int r = db->ops->run(db->conn, MG_SQL_POLICY_LOCK, NULL, NULL);
	if (r < 0)
		return r;
	struct mg_sql_params p = {0};
	mg_sql_int(&p, (int64_t)j->version);
	mg_sql_int(&p, (int64_t)j->rules_revision);
	mg_sql_int(&p, j->now_us);
	mg_sql_text(&p, j->json);
	mg_sql_blob(&p, j->sig, j->sig_len);
	r = db->ops->run_one(db->conn, MG_SQL_POLICY_ADD, &p);
	if (r == -ENOENT)
		return -EEXIST; /* not above the latest version */
	return r < 0 ? r : mg_sql_log_action(db, j->act, 0);
}

int mg_sql_policy_add(struct mg_store *s, struct mg_store_action *act, uint64_t version,
                      uint64_t rules_revision, const char *json, size_t json_len,
                      const uint8_t *sig, size_t sig_len, int64_t now_us)
{
	/* json is NUL-terminated at json_len (store.c measured it with strnlen). */
	(void)json_len;
	struct policy_job j = {act, version, rules_revision, json, sig, sig_len, now_us};
	return mg_sql_write(s, policy_add_fn, &j);
}

int mg_sql_policy_latest(struct mg_store *s, uint64_t *version)
{
	struct mg_row_sink k = {0};
	struct mg_sql_params p = {0};
	int r = mg_sql_query(s, MG_SQL_POLICY_LATEST, &p, mg_row_i64_get, &k);
	if (r < 0)
		return r;
	*version = (uint64_t)k.i64;
	return 0;
}

int mg_sql_policy_get(struct mg_store *s, uint64_t version, struct mg_store_policy **out)
{
	struct mg_row_sink k = {0};
	struct mg_sql_params p = {0};
	mg_sql_int(&p, (int64_t)version);
	int r = mg_sql_query(s, MG_SQL_POLICY_GET, &p, mg_row_policy_get, &k);
	if (r < 0)
		return r;
	if (!k.buf)
		return -ENOENT;
	*out = k.buf;
	return 0;
}

/* ---- device requests ---- */

struct request_job {
	const struct mg_store_request *req;
	int64_t now_us, id;
};

static bool same_col(const struct mg_row *r, int col, const char *s)
{
	const char *t = r->ops->text(r, col, NULL);
	return strcmp(t ? t : "", s) == 0;
}

/* A request filed again with the same id: 1 when its content is the same, -EEXIST if not. */
static int request_same_row(const struct mg_row *r, void *arg)
{
	struct request_job *j = arg;
	const struct mg_store_request *q = j->req;
	j->id = r->ops->i64(r, 0);
	bool same = same_col(r, 1, q->user) && same_col(r, 2, q->dev.vendor_id) &&
	            same_col(r, 3, q->dev.product_id) && same_col(r, 4, q->dev.serial) &&
	            same_col(r, 5, q->dev.name) && same_col(r, 6, q->dev.hash) &&
	            same_col(r, 7, q->reason);
	return same ? 1 : -EEXIST;
}

static int request_add_fn(const struct mg_sql *db, void *arg)
{
	struct request_job *j = arg;
	const struct mg_store_request *q = j->req;
	struct mg_sql_params h = {0};
	mg_sql_int(&h, q->host_id);
	/* The host's row locked first (PostgreSQL): concurrent requests of one host, through any
	 * collector, are counted against the cap one after the other. */
	struct mg_row_sink found = {0};
	int r = db->ops->rows(db->conn, MG_SQL_HOST_LOCK, &h, mg_row_i64_get, &found);
	if (r < 0)
		return r;
	struct mg_sql_params p = {0};
	mg_sql_int(&p, q->host_id);
	mg_sql_text(&p, q->request_id);
	mg_sql_text(&p, q->user);
	mg_sql_text(&p, q->dev.vendor_id);
	mg_sql_text(&p, q->dev.product_id);
	mg_sql_text(&p, q->dev.serial);
	mg_sql_text(&p, q->dev.name);
	mg_sql_text(&p, q->dev.hash);
	mg_sql_text(&p, q->reason);
	mg_sql_int(&p, j->now_us);
	mg_sql_int(&p, MG_STORE_MAX_PENDING_REQUESTS);
	r = db->ops->insert(db->conn, MG_SQL_REQ_ADD, &p, &j->id);
	if (r != -ENOENT)
		return r;
	/* Already filed (the same content is the same request), or the host's pending requests
	 * are at the cap (nothing inserted, nothing found). */
	struct mg_sql_params f = {0};
	mg_sql_int(&f, q->host_id);
	mg_sql_text(&f, q->request_id);
	r = db->ops->rows(db->conn, MG_SQL_REQ_FIND, &f, request_same_row, j);
	return r == 1 ? 0 : r == 0 ? -EDQUOT : r;
}

int mg_sql_request_add(struct mg_store *s, const struct mg_store_request *r, int64_t now_us,
                       int64_t *id_out)
{
	struct request_job j = {r, now_us, 0};
	int rc = mg_sql_write(s, request_add_fn, &j);
	if (rc == 0)
		*id_out = j.id;
	return rc;
}

int mg_sql_requests_foreach(struct mg_store *s, int64_t id, int state, int64_t after_id,
                            uint32_t limit, int (*cb)(void *, const struct mg_store_request *),
                            void *ctx)
{
	struct mg_row_sink k = {(void (*)(void))cb, ctx, malloc(sizeof(struct mg_store_request)),
	                        0};
	if (!k.buf)
		return -ENOMEM;
	struct mg_sql_params p = {0};
	mg_sql_int(&p, id);
	mg_sql_int(&p, state);
	mg_sql_int(&p, after_id);
	mg_sql_int(&p, limit);
	int r = mg_sql_query(s, MG_SQL_REQ_LIST, &p, mg_row_request_each, &k);
	free(k.buf);
	return r;
}

static int request_decide_fn(const struct mg_sql *db, void *arg)
{
	struct rule_job *j = arg;
	int r;
	/* Approve: the rule first, so the request can point at it. */
	if (j->text) {
		r = rule_insert(db, j);
		if (r < 0)
			return r;
	}
	struct mg_sql_params p = {0};
	mg_sql_int(&p, j->id);
	mg_sql_int(&p, j->text ? MG_REQUEST_APPROVED : MG_REQUEST_DENIED);
	mg_sql_int(&p, j->now_us);
	mg_sql_text(&p, j->act ? j->act->admin : "");
	mg_sql_text(&p, j->comment);
	mg_sql_int(&p, j->new_id);
	r = db->ops->run_one(db->conn, MG_SQL_REQ_DECIDE, &p);
	if (r == -ENOENT) {
		/* Unknown, or decided already. */
		struct mg_sql_params q = {0};
		mg_sql_int(&q, j->id);
		r = db->ops->rows(db->conn, MG_SQL_REQ_STATE, &q, one_row, NULL);
		return r == 1 ? -EALREADY : r == 0 ? -ENOENT : r;
	}
	return r < 0 ? r : mg_sql_log_action(db, j->act, 0);
}

int mg_sql_request_decide(struct mg_store *s, struct mg_store_action *act, int64_t id,
                          const char *rule_text, int64_t rule_host_id, int64_t expires_us,
                          const char *note, int64_t now_us, int64_t *rule_id_out)
{
	struct rule_job j = {.act = act,
	                     .id = id,
	                     .text = rule_text,
	                     .comment = note,
	                     .host_id = rule_host_id,
	                     .expires_us = expires_us,
	                     .now_us = now_us,
	                     .request_id = id};
	int r = mg_sql_write(s, request_decide_fn, &j);
	if (r == 0 && rule_id_out)
		*rule_id_out = j.new_id;
	return r;
}
