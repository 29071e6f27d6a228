/*
 * SQLite backend: tokens, hosts, rules, policies, device requests, admins, sessions and the
 * admin action log. Changes run as writer jobs (one struct of arguments and results each);
 * reads use a reader connection.
 */
#include "store_sqlite.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---- */

/* Steps a statement expected to change exactly one row: 0, -ENOENT (none), or an error. */
static int step_one(struct sq_conn *c, sqlite3_stmt *st)
{
	int r = sq_step_done(st);
	if (r == 0 && sqlite3_changes(c->db) == 0)
		r = -ENOENT;
	return r;
}

/* Runs a reader query: bind(st, ctx) then row(st, ctx) per row until it returns non-zero. */
static int read_rows(struct mg_store *s, enum sq_stmt_id id, void (*bind)(sqlite3_stmt *, void *),
                     int (*row)(sqlite3_stmt *, void *), void *ctx)
{
	struct sq_store *sst = (struct sq_store *)s;
	struct sq_conn *c = NULL;
	int r = sq_reader_get(sst, &c);
	if (r < 0)
		return r;
	sqlite3_stmt *st = sq_stmt(c, id, &r);
	if (st) {
		if (bind)
			bind(st, ctx);
		int rc;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			r = row(st, ctx);
			if (r != 0)
				break;
		}
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			r = sq_err(rc);
		sqlite3_reset(st);
	}
	sq_reader_put(sst, c);
	return r;
}

/* ---- admin action log ---- */

static int log_fn(struct sq_conn *c, void *arg)
{
	return sq_log_action(c, arg, 0);
}

int sq_admin_log(struct mg_store *s, struct mg_store_action *act)
{
	return sq_write((struct sq_store *)s, log_fn, act);
}

struct actions_ctx {
	int64_t after_id;
	uint32_t limit;
	int (*cb)(void *, const struct mg_store_admin_action *);
	void *ctx;
};

static void actions_bind(sqlite3_stmt *st, void *arg)
{
	struct actions_ctx *a = arg;
	sqlite3_bind_int64(st, 1, a->after_id);
	sqlite3_bind_int64(st, 2, a->limit);
}

static int actions_row(sqlite3_stmt *st, void *arg)
{
	struct actions_ctx *a = arg;
	struct mg_store_admin_action x = {0};
	x.id = sqlite3_column_int64(st, 0);
	x.time_us = sqlite3_column_int64(st, 1);
	sq_col_copy(st, 2, x.admin, sizeof(x.admin));
	sq_col_copy(st, 3, x.action, sizeof(x.action));
	sq_col_copy(st, 4, x.target, sizeof(x.target));
	sq_col_copy(st, 5, x.remote, sizeof(x.remote));
	x.detail = (const char *)sqlite3_column_text(st, 6);
	x.event_id = sqlite3_column_int64(st, 7);
	return a->cb(a->ctx, &x);
}

int sq_admin_actions_foreach(struct mg_store *s, int64_t after_id, uint32_t limit,
                             int (*cb)(void *, const struct mg_store_admin_action *), void *ctx)
{
	struct actions_ctx a = {after_id, limit, cb, ctx};
	int r = read_rows(s, SQ_ACTIONS_LIST, actions_bind, actions_row, &a);
	return r > 0 ? 0 : r;
}

/* ---- tokens ---- */

struct token_job {
	struct mg_store_action *act;
	const char *hash;
	int64_t expires_us, now_us;
	uint32_t uses;
};

static int token_add_fn(struct sq_conn *c, void *arg)
{
	struct token_job *j = arg;
	int r = 0;
	sqlite3_stmt *st = sq_stmt(c, SQ_TOKEN_ADD, &r);
	if (!st)
		return r;
	sqlite3_bind_text(st, 1, j->hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, j->expires_us);
	sqlite3_bind_int64(st, 3, j->uses);
	sqlite3_bind_int64(st, 4, j->now_us);
	r = sq_step_done(st);
	return r < 0 ? r : sq_log_action(c, j->act, 0);
}

int sq_token_add(struct mg_store *s, struct mg_store_action *act, const char *hash,
                 int64_t expires_us, uint32_t uses, int64_t now_us)
{
	struct token_job j = {act, hash, expires_us, now_us, uses};
	return sq_write((struct sq_store *)s, token_add_fn, &j);
}

static int token_use_fn(struct sq_conn *c, void *arg)
{
	struct token_job *j = arg;
	int r = 0;
	sqlite3_stmt *st = sq_stmt(c, SQ_TOKEN_USE, &r);
	if (!st)
		return r;
	sqlite3_bind_text(st, 1, j->hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, j->now_us);
	r = step_one(c, st);
	if (r != -ENOENT)
		return r;
	/* Why not: unknown, used up or expired. */
	st = sq_stmt(c, SQ_TOKEN_GET, &r);
	if (!st)
		return r;
	sqlite3_bind_text(st, 1, j->hash, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r = sqlite3_column_int64(st, 1) <= 0 ? -EALREADY : -ETIME;
	else
		r = rc == SQLITE_DONE ? -ENOENT : sq_err(rc);
	sqlite3_reset(st);
	return r;
}

int sq_token_consume(struct mg_store *s, const char *hash, int64_t now_us)
{
	struct token_job j = {NULL, hash, 0, now_us, 0};
	return sq_write((struct sq_store *)s, token_use_fn, &j);
}

/* ---- hosts ---- */

struct host_job {
	struct mg_store_action *act;
	int64_t id;
	const char *hostname, *cert_serial, *agent_version;
	int64_t now_us, oldest_unsent_us;
	uint64_t spool_depth, policy_version;
};

static int host_add_fn(struct sq_conn *c, void *arg)
{
	struct host_job *j = arg;
	int r = 0;
	sqlite3_stmt *st = sq_stmt(c, SQ_HOST_ADD, &r);
	if (!st)
		return r;
	sqlite3_bind_text(st, 1, j->hostname, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, j->cert_serial, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, j->now_us);
	r = sq_step_done(st);
	if (r == 0)
		j->id = sqlite3_last_insert_rowid(c->db);
	return r;
}

int sq_host_add(struct mg_store *s, const char *hostname, const char *cert_serial, int64_t now_us,
                int64_t *id_out)
{
	struct host_job j = {.hostname = hostname, .cert_serial = cert_serial, .now_us = now_us};
	int r = sq_write((struct sq_store *)s, host_add_fn, &j);
	if (r == 0)
		*id_out = j.id;
	return r;
}

static void host_row(sqlite3_stmt *st, struct mg_store_host *h)
{
	memset(h, 0, sizeof(*h));
	h->id = sqlite3_column_int64(st, 0);
	sq_col_copy(st, 1, h->hostname, sizeof(h->hostname));
	sq_col_copy(st, 2, h->cert_serial, sizeof(h->cert_serial));
	h->enrolled_us = sqlite3_column_int64(st, 3);
	h->last_seen_us = sqlite3_column_int64(st, 4);
	h->revoked = sqlite3_column_int(st, 5) != 0;
	h->policy_version = (uint64_t)sqlite3_column_int64(st, 6);
	h->spool_depth = (uint64_t)sqlite3_column_int64(st, 7);
	h->oldest_unsent_us = sqlite3_column_int64(st, 8);
	sq_col_copy(st, 9, h->agent_version, sizeof(h->agent_version));
}

struct host_get_ctx {
	int64_t id;
	const char *cert;
	struct mg_store_host *out;
	int (*cb)(void *, const struct mg_store_host *);
	void *ctx;
};

static void host_get_bind(sqlite3_stmt *st, void *arg)
{
	struct host_get_ctx *g = arg;
	if (g->cert)
		sqlite3_bind_text(st, 1, g->cert, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 1, g->id);
}

static int host_get_row(sqlite3_stmt *st, void *arg)
{
	struct host_get_ctx *g = arg;
	host_row(st, g->out);
	return 1;
}

int sq_host_get(struct mg_store *s, int64_t id, const char *cert_serial, struct mg_store_host *out)
{
	struct mg_store_host h;
	struct host_get_ctx g = {.id = id, .cert = cert_serial, .out = &h};
	int r = read_rows(s, cert_serial ? SQ_HOST_BY_CERT : SQ_HOST_GET, host_get_bind,
	                  host_get_row, &g);
	if (r == 0)
		return -ENOENT;
	if (r > 0)
		*out = h;
	return r > 0 ? 0 : r;
}

static int host_list_row(sqlite3_stmt *st, void *arg)
{
	struct host_get_ctx *g = arg;
	struct mg_store_host h;
	host_row(st, &h);
	return g->cb(g->ctx, &h);
}

int sq_host_foreach(struct mg_store *s, int (*cb)(void *, const struct mg_store_host *), void *ctx)
{
	struct host_get_ctx g = {.cb = cb, .ctx = ctx};
	int r = read_rows(s, SQ_HOST_LIST, NULL, host_list_row, &g);
	return r > 0 ? 0 : r;
}

static int host_revoke_fn(struct sq_conn *c, void *arg)
{
	struct host_job *j = arg;
	int r = 0;
	sqlite3_stmt *st = sq_stmt(c, SQ_HOST_REVOKE, &r);
	if (!st)
		return r;
	sqlite3_bind_int64(st, 1, j->id);
	r = step_one(c, st);
	return r < 0 ? r : sq_log_action(c, j->act, 0);
}

int sq_host_revoke(struct mg_store *s, struct mg_store_action *act, int64_t id)
{
	struct host_job j = {.act = act, .id = id};
	return sq_write((struct sq_store *)s, host_revoke_fn, &j);
}

static int host_heartbeat_fn(struct sq_conn *c, void *arg)
{
	struct host_job *j = arg;
	int r = 0;
	sqlite3_stmt *st = sq_stmt(c, SQ_HOST_HEARTBEAT, &r);
	if (!st)
		return r;
	sqlite3_bind_int64(st, 1, j->id);
	sqlite3_bind_int64(st, 2, j->now_us);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)j->spool_depth);
	sqlite3_bind_int64(st, 4, j->oldest_unsent_us);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)j->policy_version);
	sqlite3_bind_text(st, 6, j->agent_version, -1, SQLITE_STATIC);
	return step_one(c, st);
}

int sq_host_heartbeat(struct mg_store *s, int64_t id, int64_t now_us, uint64_t spool_depth,
                      int64_t oldest_unsent_us, uint64_t policy_version, const char *agent_version)
{
	struct host_job j = {.id = id,
	                     .now_us = now_us,
	                     .spool_depth = spool_depth,
	                     .oldest_unsent_us = oldest_unsent_us,
	                     .policy_version = policy_version,
	                     .agent_version = agent_version};
	return sq_write((struct sq_store *)s, host_heartbeat_fn, &j);
}

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
	r = step_one(c, st);
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
	int r = read_rows(s, SQ_RULES_LIST, rules_bind, rules_row, &q);
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
	int r = read_rows(s, SQ_META_GET, meta_bind, u64_row, &v);
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
	r = step_one(c, st);
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
	int r = read_rows(s, SQ_POLICY_LATEST, NULL, u64_row, &v);
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
	int r = read_rows(s, SQ_POLICY_GET, policy_bind, policy_row, &q);
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
	int r = read_rows(s, SQ_REQ_LIST, requests_bind, requests_row, &q);
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
	r = step_one(c, st);
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

/* ---- admins ---- */

struct admin_job {
	struct mg_store_action *act;
	const char *name, *password_hash;
	int role, disabled;
	int64_t now_us, id;
};

static int admin_add_fn(struct sq_conn *c, void *arg)
{
	struct admin_job *j = arg;
	int r = 0;
	sqlite3_stmt *st = sq_stmt(c, SQ_ADMIN_ADD, &r);
	if (!st)
		return r;
	sqlite3_bind_text(st, 1, j->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, j->password_hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, mg_admin_role_name((enum mg_admin_role)j->role), -1,
	                  SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, j->now_us);
	r = sq_step_done(st);
	if (r < 0)
		return r;
	j->id = sqlite3_last_insert_rowid(c->db);
	return sq_log_action(c, j->act, j->id);
}

int sq_admin_add(struct mg_store *s, struct mg_store_action *act, const char *name,
                 const char *password_hash, enum mg_admin_role role, int64_t now_us,
                 int64_t *id_out)
{
	struct admin_job j = {.act = act,
	                      .name = name,
	                      .password_hash = password_hash,
	                      .role = (int)role,
	                      .now_us = now_us};
	int r = sq_write((struct sq_store *)s, admin_add_fn, &j);
	if (r == 0)
		*id_out = j.id;
	return r;
}

static void admin_row(sqlite3_stmt *st, int col, struct mg_store_admin *a)
{
	memset(a, 0, sizeof(*a));
	a->id = sqlite3_column_int64(st, col);
	sq_col_copy(st, col + 1, a->name, sizeof(a->name));
	sq_col_copy(st, col + 2, a->password_hash, sizeof(a->password_hash));
	const unsigned char *role = sqlite3_column_text(st, col + 3);
	enum mg_admin_role rl = MG_ROLE_AUDITOR; /* least privilege if the row is odd */
	if (role)
		mg_admin_role_from_name((const char *)role, &rl);
	a->role = rl;
	a->disabled = sqlite3_column_int(st, col + 4) != 0;
	a->created_us = sqlite3_column_int64(st, col + 5);
}

struct admin_ctx {
	const char *name;
	int64_t id;
	struct mg_store_admin *out;
	int64_t expires_us;
	int (*cb)(void *, const struct mg_store_admin *);
	void *ctx;
};

static void admin_bind(sqlite3_stmt *st, void *arg)
{
	struct admin_ctx *q = arg;
	if (q->name)
		sqlite3_bind_text(st, 1, q->name, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 1, q->id);
}

static int admin_get_row(sqlite3_stmt *st, void *arg)
{
	struct admin_ctx *q = arg;
	admin_row(st, 0, q->out);
	return 1;
}

int sq_admin_get(struct mg_store *s, const char *name, int64_t id, struct mg_store_admin *out)
{
	struct mg_store_admin a;
	struct admin_ctx q = {.name = name, .id = id, .out = &a};
	int r =
	    read_rows(s, name ? SQ_ADMIN_GET_NAME : SQ_ADMIN_GET_ID, admin_bind, admin_get_row, &q);
	if (r == 0)
		return -ENOENT;
	if (r > 0)
		*out = a;
	return r > 0 ? 0 : r;
}

static int admin_list_row(sqlite3_stmt *st, void *arg)
{
	struct admin_ctx *q = arg;
	struct mg_store_admin a;
	admin_row(st, 0, &a);
	return q->cb(q->ctx, &a);
}

int sq_admins_foreach(struct mg_store *s, int (*cb)(void *, const struct mg_store_admin *),
                      void *ctx)
{
	struct admin_ctx q = {.cb = cb, .ctx = ctx};
	int r = read_rows(s, SQ_ADMIN_LIST, NULL, admin_list_row, &q);
	return r > 0 ? 0 : r;
}

static int admin_update_fn(struct sq_conn *c, void *arg)
{
	struct admin_job *j = arg;
	int r = 0;
	enum sq_stmt_id id = j->password_hash ? SQ_ADMIN_SET_PW
	                     : j->role > 0    ? SQ_ADMIN_SET_ROLE
	                                      : SQ_ADMIN_SET_DISABLED;
	sqlite3_stmt *st = sq_stmt(c, id, &r);
	if (!st)
		return r;
	sqlite3_bind_int64(st, 1, j->id);
	if (j->password_hash)
		sqlite3_bind_text(st, 2, j->password_hash, -1, SQLITE_STATIC);
	else if (j->role > 0)
		sqlite3_bind_text(st, 2, mg_admin_role_name((enum mg_admin_role)j->role), -1,
		                  SQLITE_STATIC);
	else
		sqlite3_bind_int(st, 2, j->disabled);
	r = step_one(c, st);
	if (r == 0 && id == SQ_ADMIN_SET_DISABLED && j->disabled) {
		st = sq_stmt(c, SQ_SESSIONS_DEL_ADMIN, &r);
		if (!st)
			return r;
		sqlite3_bind_int64(st, 1, j->id);
		r = sq_step_done(st);
	}
	return r < 0 ? r : sq_log_action(c, j->act, 0);
}

int sq_admin_update(struct mg_store *s, struct mg_store_action *act, int64_t id,
                    const char *password_hash, int role, int disabled)
{
	struct admin_job j = {.act = act,
	                      .password_hash = password_hash,
	                      .role = role,
	                      .disabled = disabled,
	                      .id = id};
	return sq_write((struct sq_store *)s, admin_update_fn, &j);
}

/* ---- sessions ---- */

struct session_job {
	const char *hash;
	int64_t admin_id, now_us, expires_us;
	uint64_t deleted;
};

static int session_add_fn(struct sq_conn *c, void *arg)
{
	struct session_job *j = arg;
	int r = 0;
	sqlite3_stmt *st = sq_stmt(c, SQ_SESSION_ADD, &r);
	if (!st)
		return r;
	sqlite3_bind_text(st, 1, j->hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, j->admin_id);
	sqlite3_bind_int64(st, 3, j->now_us);
	sqlite3_bind_int64(st, 4, j->expires_us);
	return step_one(c, st); /* -ENOENT: no such admin */
}

int sq_session_add(struct mg_store *s, const char *hash, int64_t admin_id, int64_t now_us,
                   int64_t expires_us)
{
	struct session_job j = {hash, admin_id, now_us, expires_us, 0};
	return sq_write((struct sq_store *)s, session_add_fn, &j);
}

static void session_bind(sqlite3_stmt *st, void *arg)
{
	sqlite3_bind_text(st, 1, ((struct admin_ctx *)arg)->name, -1, SQLITE_STATIC);
}

static int session_row(sqlite3_stmt *st, void *arg)
{
	struct admin_ctx *q = arg;
	admin_row(st, 0, q->out);
	q->expires_us = sqlite3_column_int64(st, 6);
	return 1;
}

int sq_session_get(struct mg_store *s, const char *hash, struct mg_store_admin *admin,
                   int64_t *expires_us)
{
	struct admin_ctx q = {.name = hash, .out = admin};
	int r = read_rows(s, SQ_SESSION_GET, session_bind, session_row, &q);
	if (r == 0)
		return -ENOENT;
	if (r < 0)
		return r;
	*expires_us = q.expires_us;
	return 0;
}

static int session_extend_fn(struct sq_conn *c, void *arg)
{
	struct session_job *j = arg;
	int r = 0;
	sqlite3_stmt *st = sq_stmt(c, SQ_SESSION_EXTEND, &r);
	if (!st)
		return r;
	sqlite3_bind_text(st, 1, j->hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, j->expires_us);
	return step_one(c, st);
}

int sq_session_extend(struct mg_store *s, const char *hash, int64_t expires_us)
{
	struct session_job j = {hash, 0, 0, expires_us, 0};
	return sq_write((struct sq_store *)s, session_extend_fn, &j);
}

static int session_delete_fn(struct sq_conn *c, void *arg)
{
	struct session_job *j = arg;
	int r = 0;
	sqlite3_stmt *st = sq_stmt(c, SQ_SESSION_DEL, &r);
	if (!st)
		return r;
	sqlite3_bind_text(st, 1, j->hash, -1, SQLITE_STATIC);
	return step_one(c, st);
}

int sq_session_delete(struct mg_store *s, const char *hash)
{
	struct session_job j = {hash, 0, 0, 0, 0};
	return sq_write((struct sq_store *)s, session_delete_fn, &j);
}

static int sessions_purge_fn(struct sq_conn *c, void *arg)
{
	struct session_job *j = arg;
	int r = 0;
	sqlite3_stmt *st = sq_stmt(c, SQ_SESSION_PURGE, &r);
	if (!st)
		return r;
	sqlite3_bind_int64(st, 1, j->now_us);
	r = sq_step_done(st);
	if (r == 0)
		j->deleted = (uint64_t)sqlite3_changes(c->db);
	return r;
}

int sq_sessions_purge(struct mg_store *s, int64_t now_us, uint64_t *deleted)
{
	struct session_job j = {NULL, 0, now_us, 0, 0};
	int r = sq_write((struct sq_store *)s, sessions_purge_fn, &j);
	if (r == 0)
		*deleted = j.deleted;
	return r;
}
