/*
 * SQLite backend: admin accounts, sessions and the admin action log.
 */
#include "store_sqlite.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
	int r = sq_read_rows(s, SQ_ACTIONS_LIST, actions_bind, actions_row, &a);
	return r > 0 ? 0 : r;
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
	int r = sq_read_rows(s, name ? SQ_ADMIN_GET_NAME : SQ_ADMIN_GET_ID, admin_bind,
	                     admin_get_row, &q);
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
	int r = sq_read_rows(s, SQ_ADMIN_LIST, NULL, admin_list_row, &q);
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
	r = sq_step_one(c, st);
	if (r == 0 && (id == SQ_ADMIN_SET_PW || (id == SQ_ADMIN_SET_DISABLED && j->disabled))) {
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
	return sq_step_one(c, st); /* -ENOENT: no such admin */
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
	int r = sq_read_rows(s, SQ_SESSION_GET, session_bind, session_row, &q);
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
	return sq_step_one(c, st);
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
	return sq_step_one(c, st);
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
