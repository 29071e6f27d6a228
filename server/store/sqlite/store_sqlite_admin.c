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

int sq_admin_actions_foreach(struct mg_store *s, int64_t after_id, uint32_t limit,
                             int (*cb)(void *, const struct mg_store_admin_action *), void *ctx)
{
	struct sq_ints a = {2, {after_id, limit}};
	struct mg_row_sink k = {(void (*)(void))cb, ctx, NULL, 0};
	int r = sq_read_rows(s, SQ_ACTIONS_LIST, sq_bind_ints, &a, mg_row_action_each, &k);
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

struct admin_key {
	const char *name; /* by name when set, else by id */
	int64_t id;
};

static void admin_bind(sqlite3_stmt *st, void *arg)
{
	const struct admin_key *q = arg;
	if (q->name)
		sqlite3_bind_text(st, 1, q->name, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 1, q->id);
}

int sq_admin_get(struct mg_store *s, const char *name, int64_t id, struct mg_store_admin *out)
{
	struct mg_store_admin a;
	struct admin_key q = {name, id};
	struct mg_row_sink k = {.buf = &a};
	int r = sq_read_rows(s, name ? SQ_ADMIN_GET_NAME : SQ_ADMIN_GET_ID, admin_bind, &q,
	                     mg_row_admin_get, &k);
	if (r == 0)
		return -ENOENT;
	if (r > 0)
		*out = a;
	return r > 0 ? 0 : r;
}

int sq_admins_foreach(struct mg_store *s, int (*cb)(void *, const struct mg_store_admin *),
                      void *ctx)
{
	struct mg_row_sink k = {(void (*)(void))cb, ctx, NULL, 0};
	int r = sq_read_rows(s, SQ_ADMIN_LIST, NULL, NULL, mg_row_admin_each, &k);
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

int sq_session_get(struct mg_store *s, const char *hash, struct mg_store_admin *admin,
                   int64_t *expires_us)
{
	struct admin_key q = {hash, 0};
	struct mg_row_sink k = {.buf = admin};
	int r = sq_read_rows(s, SQ_SESSION_GET, admin_bind, &q, mg_row_session_get, &k);
	if (r == 0)
		return -ENOENT;
	if (r < 0)
		return r;
	*expires_us = k.i64;
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
