/*
 * SQLite backend: rules, policy versions and device requests (an approval adds its rule in the
 * same job). Every rule change increments the rules revision in the same transaction.
 */
#include "store_sqlite.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- rules ---- */

struct rule_job {
	struct mg_store_action *act;
	int64_t id; /* rule (remove) or request (decide) */
	const char *text, *comment, *admin;
	int64_t host_id, expires_us, now_us, request_id;
	int64_t new_id;
};

/* Inserts the rule of j and bumps the rules revision. */
static int rule_insert(struct sq_conn *c, struct rule_job *j)
{
	int r = 0;
	if (j->host_id) {
		sqlite3_stmt *hs = sq_stmt(c, SQ_HOST_STATE, &r);
		if (!hs)
			return r;
		sqlite3_bind_int64(hs, 1, j->host_id);
		int rc = sqlite3_step(hs);
		sqlite3_reset(hs);
		if (rc != SQLITE_ROW)
			return rc == SQLITE_DONE ? -ENOENT : sq_err(rc);
	}
	sqlite3_stmt *st = sq_stmt(c, SQ_RULE_ADD, &r);
	if (!st)
		return r;
	sqlite3_bind_text(st, 1, j->text, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, j->host_id);
	sqlite3_bind_int64(st, 3, j->expires_us);
	sqlite3_bind_int64(st, 4, j->now_us);
	sqlite3_bind_text(st, 5, j->act ? j->act->admin : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, j->request_id);
	sqlite3_bind_text(st, 7, j->comment, -1, SQLITE_STATIC);
	r = sq_step_done(st);
	if (r < 0)
		return r;
	j->new_id = sqlite3_last_insert_rowid(c->db);
	return sq_run(c, SQ_RULES_REV_BUMP);
}

static int rule_add_fn(struct sq_conn *c, void *arg)
{
	struct rule_job *j = arg;
	int r = rule_insert(c, j);
	return r < 0 ? r : sq_log_action(c, j->act, j->new_id);
}

int sq_rule_add(struct mg_store *s, struct mg_store_action *act, const char *text, int64_t host_id,
                int64_t expires_us, const char *comment, int64_t now_us, int64_t *id_out)
{
	struct rule_job j = {.act = act,
	                     .text = text,
	                     .comment = comment,
	                     .host_id = host_id,
	                     .expires_us = expires_us,
	                     .now_us = now_us};
	int r = sq_write((struct sq_store *)s, rule_add_fn, &j);
	if (r == 0)
		*id_out = j.new_id;
	return r;
}

static int rule_remove_fn(struct sq_conn *c, void *arg)
{
	struct rule_job *j = arg;
	int r = 0;
	sqlite3_stmt *st = sq_stmt(c, SQ_RULE_DEL, &r);
	if (!st)
		return r;
	sqlite3_bind_int64(st, 1, j->id);
	r = sq_step_one(c, st);
	if (r == 0)
		r = sq_run(c, SQ_RULES_REV_BUMP);
	return r < 0 ? r : sq_log_action(c, j->act, 0);
}

int sq_rule_remove(struct mg_store *s, struct mg_store_action *act, int64_t id)
{
	struct rule_job j = {.act = act, .id = id};
	return sq_write((struct sq_store *)s, rule_remove_fn, &j);
}

int sq_rules_foreach(struct mg_store *s, int64_t host_id, int64_t now_us,
                     int (*cb)(void *, const struct mg_store_rule *), void *ctx)
{
	struct sq_ints a = {2, {host_id, now_us}};
	struct mg_row_sink k = {(void (*)(void))cb, ctx, malloc(sizeof(struct mg_store_rule)), 0};
	if (!k.buf)
		return -ENOMEM;
	int r = sq_read_rows(s, SQ_RULES_LIST, sq_bind_ints, &a, mg_row_rule_each, &k);
	free(k.buf);
	return r > 0 ? 0 : r;
}

static void meta_bind(sqlite3_stmt *st, void *arg)
{
	(void)arg;
	sqlite3_bind_text(st, 1, "rules_revision", -1, SQLITE_STATIC);
}

int sq_rules_revision(struct mg_store *s, uint64_t *out)
{
	struct mg_row_sink k = {0};
	int r = sq_read_rows(s, SQ_META_GET, meta_bind, NULL, mg_row_i64_get, &k);
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
	size_t json_len;
	const uint8_t *sig;
	size_t sig_len;
	int64_t now_us;
};

static int policy_add_fn(struct sq_conn *c, void *arg)
{
	struct policy_job *j = arg;
	int r = 0;
	sqlite3_stmt *st = sq_stmt(c, SQ_POLICY_ADD, &r);
	if (!st)
		return r;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)j->version);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)j->rules_revision);
	sqlite3_bind_int64(st, 3, j->now_us);
	sqlite3_bind_text64(st, 4, j->json, j->json_len, SQLITE_STATIC, SQLITE_UTF8);
	sqlite3_bind_blob64(st, 5, j->sig, j->sig_len, SQLITE_STATIC);
	r = sq_step_one(c, st);
	if (r == -ENOENT)
		return -EEXIST; /* not above the latest version */
	return r < 0 ? r : sq_log_action(c, j->act, 0);
}

int sq_policy_add(struct mg_store *s, struct mg_store_action *act, uint64_t version,
                  uint64_t rules_revision, const char *json, size_t json_len, const uint8_t *sig,
                  size_t sig_len, int64_t now_us)
{
	struct policy_job j = {act, version, rules_revision, json, json_len, sig, sig_len, now_us};
	return sq_write((struct sq_store *)s, policy_add_fn, &j);
}

int sq_policy_latest(struct mg_store *s, uint64_t *version)
{
	struct mg_row_sink k = {0};
	int r = sq_read_rows(s, SQ_POLICY_LATEST, NULL, NULL, mg_row_i64_get, &k);
	if (r < 0)
		return r;
	*version = (uint64_t)k.i64;
	return 0;
}

int sq_policy_get(struct mg_store *s, uint64_t version, struct mg_store_policy **out)
{
	struct sq_ints a = {1, {(int64_t)version}};
	struct mg_row_sink k = {0};
	int r = sq_read_rows(s, SQ_POLICY_GET, sq_bind_ints, &a, mg_row_policy_get, &k);
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

static int same_col(sqlite3_stmt *st, int i, const char *s)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return strcmp(t ? (const char *)t : "", s) == 0;
}

static int request_add_fn(struct sq_conn *c, void *arg)
{
	struct request_job *j = arg;
	const struct mg_store_request *q = j->req;
	int r = 0;
	sqlite3_stmt *st = sq_stmt(c, SQ_REQ_ADD, &r);
	if (!st)
		return r;
	sqlite3_bind_int64(st, 1, q->host_id);
	sqlite3_bind_text(st, 2, q->request_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, q->user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, q->dev.vendor_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, q->dev.product_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, q->dev.serial, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, q->dev.name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, q->dev.hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, q->reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 10, j->now_us);
	r = sq_step_done(st);
	if (r < 0)
		return r;
	if (sqlite3_changes(c->db) == 1) {
		j->id = sqlite3_last_insert_rowid(c->db);
		return 0;
	}
	/* Already filed: the same content is the same request. */
	st = sq_stmt(c, SQ_REQ_FIND, &r);
	if (!st)
		return r;
	sqlite3_bind_int64(st, 1, q->host_id);
	sqlite3_bind_text(st, 2, q->request_id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		j->id = sqlite3_column_int64(st, 0);
		bool same = same_col(st, 1, q->user) && same_col(st, 2, q->dev.vendor_id) &&
		            same_col(st, 3, q->dev.product_id) && same_col(st, 4, q->dev.serial) &&
		            same_col(st, 5, q->dev.name) && same_col(st, 6, q->dev.hash) &&
		            same_col(st, 7, q->reason);
		r = same ? 0 : -EEXIST;
	} else {
		r = rc == SQLITE_DONE ? -EIO : sq_err(rc);
	}
	sqlite3_reset(st);
	return r;
}

int sq_request_add(struct mg_store *s, const struct mg_store_request *r, int64_t now_us,
                   int64_t *id_out)
{
	struct request_job j = {r, now_us, 0};
	int rc = sq_write((struct sq_store *)s, request_add_fn, &j);
	if (rc == 0)
		*id_out = j.id;
	return rc;
}

int sq_requests_foreach(struct mg_store *s, int64_t id, int state, int64_t after_id, uint32_t limit,
                        int (*cb)(void *, const struct mg_store_request *), void *ctx)
{
	struct sq_ints a = {4, {id, state, after_id, limit}};
	struct mg_row_sink k = {(void (*)(void))cb, ctx, malloc(sizeof(struct mg_store_request)),
	                        0};
	if (!k.buf)
		return -ENOMEM;
	int r = sq_read_rows(s, SQ_REQ_LIST, sq_bind_ints, &a, mg_row_request_each, &k);
	free(k.buf);
	return r;
}

static int request_decide_fn(struct sq_conn *c, void *arg)
{
	struct rule_job *j = arg;
	int r = 0;
	/* Approve: the rule first, so the request can point at it. */
	if (j->text) {
		r = rule_insert(c, j);
		if (r < 0)
			return r;
	}
	sqlite3_stmt *st = sq_stmt(c, SQ_REQ_DECIDE, &r);
	if (!st)
		return r;
	sqlite3_bind_int64(st, 1, j->id);
	sqlite3_bind_int(st, 2, j->text ? MG_REQUEST_APPROVED : MG_REQUEST_DENIED);
	sqlite3_bind_int64(st, 3, j->now_us);
	sqlite3_bind_text(st, 4, j->act ? j->act->admin : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, j->comment, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, j->new_id);
	r = sq_step_one(c, st);
	if (r == -ENOENT) {
		/* Unknown, or decided already. */
		st = sq_stmt(c, SQ_REQ_STATE, &r);
		if (!st)
			return r;
		sqlite3_bind_int64(st, 1, j->id);
		int rc = sqlite3_step(st);
		r = rc == SQLITE_ROW ? -EALREADY : rc == SQLITE_DONE ? -ENOENT : sq_err(rc);
		sqlite3_reset(st);
		return r;
	}
	return r < 0 ? r : sq_log_action(c, j->act, 0);
}

int sq_request_decide(struct mg_store *s, struct mg_store_action *act, int64_t id,
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
	int r = sq_write((struct sq_store *)s, request_decide_fn, &j);
	if (r == 0 && rule_id_out)
		*rule_id_out = j.new_id;
	return r;
}
