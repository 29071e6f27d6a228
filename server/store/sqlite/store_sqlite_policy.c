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

struct rules_ctx {
	int64_t host_id, now_us;
	int (*cb)(void *, const struct mg_store_rule *);
	void *ctx;
	struct mg_store_rule *buf;
};

static void rules_bind(sqlite3_stmt *st, void *arg)
{
	struct rules_ctx *q = arg;
	sqlite3_bind_int64(st, 1, q->host_id);
	sqlite3_bind_int64(st, 2, q->now_us);
}

static int rules_row(sqlite3_stmt *st, void *arg)
{
	struct rules_ctx *q = arg;
	struct mg_store_rule *x = q->buf;
	memset(x, 0, sizeof(*x));
	x->id = sqlite3_column_int64(st, 0);
	sq_col_copy(st, 1, x->text, sizeof(x->text));
	x->host_id = sqlite3_column_int64(st, 2);
	x->expires_us = sqlite3_column_int64(st, 3);
	x->created_us = sqlite3_column_int64(st, 4);
	sq_col_copy(st, 5, x->created_by, sizeof(x->created_by));
	x->request_id = sqlite3_column_int64(st, 6);
	sq_col_copy(st, 7, x->comment, sizeof(x->comment));
	return q->cb(q->ctx, x);
}

int sq_rules_foreach(struct mg_store *s, int64_t host_id, int64_t now_us,
                     int (*cb)(void *, const struct mg_store_rule *), void *ctx)
{
	struct rules_ctx q = {host_id, now_us, cb, ctx, malloc(sizeof(struct mg_store_rule))};
	if (!q.buf)
		return -ENOMEM;
	int r = sq_read_rows(s, SQ_RULES_LIST, rules_bind, rules_row, &q);
	free(q.buf);
	return r > 0 ? 0 : r;
}

static void meta_bind(sqlite3_stmt *st, void *arg)
{
	(void)arg;
	sqlite3_bind_text(st, 1, "rules_revision", -1, SQLITE_STATIC);
}

static int u64_row(sqlite3_stmt *st, void *arg)
{
	*(uint64_t *)arg = (uint64_t)sqlite3_column_int64(st, 0);
	return 1;
}

int sq_rules_revision(struct mg_store *s, uint64_t *out)
{
	uint64_t v = 0;
	int r = sq_read_rows(s, SQ_META_GET, meta_bind, u64_row, &v);
	if (r < 0)
		return r;
	*out = v;
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
	uint64_t v = 0;
	int r = sq_read_rows(s, SQ_POLICY_LATEST, NULL, u64_row, &v);
	if (r < 0)
		return r;
	*version = v;
	return 0;
}

struct policy_ctx {
	uint64_t version;
	struct mg_store_policy *p;
};

static void policy_bind(sqlite3_stmt *st, void *arg)
{
	sqlite3_bind_int64(st, 1, (sqlite3_int64)((struct policy_ctx *)arg)->version);
}

static int policy_row(sqlite3_stmt *st, void *arg)
{
	struct policy_ctx *q = arg;
	struct mg_store_policy *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->version = (uint64_t)sqlite3_column_int64(st, 0);
	p->rules_revision = (uint64_t)sqlite3_column_int64(st, 1);
	p->created_us = sqlite3_column_int64(st, 2);
	const char *json = (const char *)sqlite3_column_text(st, 3);
	p->json_len = (size_t)sqlite3_column_bytes(st, 3);
	const void *sig = sqlite3_column_blob(st, 4);
	p->sig_len = (size_t)sqlite3_column_bytes(st, 4);
	p->json = malloc(p->json_len + 1);
	p->sig = malloc(p->sig_len ? p->sig_len : 1);
	if (!p->json || !p->sig || !json) {
		mg_store_policy_free(&p);
		return -ENOMEM;
	}
	memcpy(p->json, json, p->json_len);
	p->json[p->json_len] = '\0';
	if (p->sig_len)
		memcpy(p->sig, sig, p->sig_len);
	q->p = p;
	return 1;
}

int sq_policy_get(struct mg_store *s, uint64_t version, struct mg_store_policy **out)
{
	struct policy_ctx q = {version, NULL};
	int r = sq_read_rows(s, SQ_POLICY_GET, policy_bind, policy_row, &q);
	if (r < 0)
		return r;
	if (!q.p)
		return -ENOENT;
	*out = q.p;
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

struct requests_ctx {
	int64_t id, after_id;
	int state;
	uint32_t limit;
	int (*cb)(void *, const struct mg_store_request *);
	void *ctx;
	struct mg_store_request *buf;
};

static void requests_bind(sqlite3_stmt *st, void *arg)
{
	struct requests_ctx *q = arg;
	sqlite3_bind_int64(st, 1, q->id);
	sqlite3_bind_int(st, 2, q->state);
	sqlite3_bind_int64(st, 3, q->after_id);
	sqlite3_bind_int64(st, 4, q->limit);
}

static int requests_row(sqlite3_stmt *st, void *arg)
{
	struct requests_ctx *q = arg;
	struct mg_store_request *x = q->buf;
	memset(x, 0, sizeof(*x));
	x->id = sqlite3_column_int64(st, 0);
	sq_col_copy(st, 1, x->request_id, sizeof(x->request_id));
	x->host_id = sqlite3_column_int64(st, 2);
	sq_col_copy(st, 3, x->user, sizeof(x->user));
	sq_col_copy(st, 4, x->dev.vendor_id, sizeof(x->dev.vendor_id));
	sq_col_copy(st, 5, x->dev.product_id, sizeof(x->dev.product_id));
	sq_col_copy(st, 6, x->dev.serial, sizeof(x->dev.serial));
	sq_col_copy(st, 7, x->dev.name, sizeof(x->dev.name));
	sq_col_copy(st, 8, x->dev.hash, sizeof(x->dev.hash));
	sq_col_copy(st, 9, x->reason, sizeof(x->reason));
	x->created_us = sqlite3_column_int64(st, 10);
	x->state = (enum mg_request_state)sqlite3_column_int(st, 11);
	x->decided_us = sqlite3_column_int64(st, 12);
	sq_col_copy(st, 13, x->decided_by, sizeof(x->decided_by));
	sq_col_copy(st, 14, x->note, sizeof(x->note));
	x->rule_id = sqlite3_column_int64(st, 15);
	return q->cb(q->ctx, x);
}

int sq_requests_foreach(struct mg_store *s, int64_t id, int state, int64_t after_id, uint32_t limit,
                        int (*cb)(void *, const struct mg_store_request *), void *ctx)
{
	struct requests_ctx q = {
	    id, after_id, state, limit, cb, ctx, malloc(sizeof(struct mg_store_request))};
	if (!q.buf)
		return -ENOMEM;
	int r = sq_read_rows(s, SQ_REQ_LIST, requests_bind, requests_row, &q);
	free(q.buf);
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
