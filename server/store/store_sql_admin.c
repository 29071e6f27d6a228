/* Shared SQL operations (store_sql.h): the admin action log, admin accounts and sessions. */
#include "store_sql.h"

#include <errno.h>
#include <stdbool.h>

#include "store_int.h"

/* ---- admin action log ---- */

static int log_fn(const struct mg_sql *db, void *arg)
{
	return mg_sql_log_action(db, arg, 0);
}

int mg_sql_admin_log(struct mg_store *s, struct mg_store_action *act)
{
	return mg_sql_write(s, log_fn, act);
}

int mg_sql_admin_actions_foreach(struct mg_store *s, int64_t after_id, uint32_t limit,
                                 int (*cb)(void *, const struct mg_store_admin_action *), void *ctx)
{
	struct mg_row_sink k = {(void (*)(void))cb, ctx, NULL, 0};
	struct mg_sql_params p = {0};
	mg_sql_int(&p, after_id);
	mg_sql_int(&p, limit);
	int r = mg_sql_query(s, MG_SQL_ACTIONS_LIST, &p, mg_row_action_each, &k);
	return r > 0 ? 0 : r;
}

/* ---- admins ---- */

struct admin_job {
	struct mg_store_action *act;
	const char *name, *password_hash;
	int role, disabled;
	int64_t now_us, id;
};

static int admin_add_fn(const struct mg_sql *db, void *arg)
{
	struct admin_job *j = arg;
	struct mg_sql_params p = {0};
	mg_sql_text(&p, j->name);
	mg_sql_text(&p, j->password_hash);
	mg_sql_text(&p, mg_admin_role_name((enum mg_admin_role)j->role));
	mg_sql_int(&p, j->now_us);
	int r = db->ops->insert(db->conn, MG_SQL_ADMIN_ADD, &p, &j->id);
	return r < 0 ? r : mg_sql_log_action(db, j->act, j->id);
}

int mg_sql_admin_add(struct mg_store *s, struct mg_store_action *act, const char *name,
                     const char *password_hash, enum mg_admin_role role, int64_t now_us,
                     int64_t *id_out)
{
	struct admin_job j = {.act = act,
	                      .name = name,
	                      .password_hash = password_hash,
	                      .role = (int)role,
	                      .now_us = now_us};
	int r = mg_sql_write(s, admin_add_fn, &j);
	if (r == 0)
		*id_out = j.id;
	return r;
}

int mg_sql_admin_get(struct mg_store *s, const char *name, int64_t id, struct mg_store_admin *out)
{
	struct mg_store_admin a;
	struct mg_row_sink k = {.buf = &a};
	struct mg_sql_params p = {0};
	if (name)
		mg_sql_text(&p, name);
	else
		mg_sql_int(&p, id);
	int r = mg_sql_query(s, name ? MG_SQL_ADMIN_GET_NAME : MG_SQL_ADMIN_GET_ID, &p,
	                     mg_row_admin_get, &k);
	if (r == 0)
		return -ENOENT;
	if (r < 0)
		return r;
	*out = a;
	return 0;
}

int mg_sql_admins_foreach(struct mg_store *s, int (*cb)(void *, const struct mg_store_admin *),
                          void *ctx)
{
	struct mg_row_sink k = {(void (*)(void))cb, ctx, NULL, 0};
	struct mg_sql_params p = {0};
	int r = mg_sql_query(s, MG_SQL_ADMIN_LIST, &p, mg_row_admin_each, &k);
	return r > 0 ? 0 : r;
}

static int admin_update_fn(const struct mg_sql *db, void *arg)
{
	struct admin_job *j = arg;
	struct mg_sql_params p = {0};
	int id;
	mg_sql_int(&p, j->id);
	if (j->password_hash) {
		id = MG_SQL_ADMIN_SET_PW;
		mg_sql_text(&p, j->password_hash);
	} else if (j->role > 0) {
		id = MG_SQL_ADMIN_SET_ROLE;
		mg_sql_text(&p, mg_admin_role_name((enum mg_admin_role)j->role));
	} else {
		id = MG_SQL_ADMIN_SET_DISABLED;
		mg_sql_int(&p, j->disabled);
	}
	int r = db->ops->run_one(db->conn, id, &p); /* -ENOENT: no such admin */
	/* A new password or a disabled account ends the account's sessions. */
	if (r == 0 &&
	    (id == MG_SQL_ADMIN_SET_PW || (id == MG_SQL_ADMIN_SET_DISABLED && j->disabled))) {
		struct mg_sql_params d = {0};
		mg_sql_int(&d, j->id);
		r = db->ops->run(db->conn, MG_SQL_SESSIONS_DEL_ADMIN, &d, NULL);
	}
	return r < 0 ? r : mg_sql_log_action(db, j->act, 0);
}

int mg_sql_admin_update(struct mg_store *s, struct mg_store_action *act, int64_t id,
                        const char *password_hash, int role, int disabled)
{
	struct admin_job j = {.act = act,
	                      .password_hash = password_hash,
	                      .role = role,
	                      .disabled = disabled,
	                      .id = id};
	return mg_sql_write(s, admin_update_fn, &j);
}

/* ---- sessions ---- */

struct session_job {
	const char *hash;
	int64_t admin_id, now_us, expires_us;
	uint64_t deleted;
};

static int session_add_fn(const struct mg_sql *db, void *arg)
{
	struct session_job *j = arg;
	struct mg_sql_params p = {0};
	mg_sql_text(&p, j->hash);
	mg_sql_int(&p, j->admin_id);
	mg_sql_int(&p, j->now_us);
	mg_sql_int(&p, j->expires_us);
	return db->ops->run_one(db->conn, MG_SQL_SESSION_ADD, &p); /* -ENOENT: no such admin */
}

int mg_sql_session_add(struct mg_store *s, const char *hash, int64_t admin_id, int64_t now_us,
                       int64_t expires_us)
{
	struct session_job j = {hash, admin_id, now_us, expires_us, 0};
	return mg_sql_write(s, session_add_fn, &j);
}

int mg_sql_session_get(struct mg_store *s, const char *hash, struct mg_store_admin *admin,
                       int64_t *expires_us)
{
	struct mg_row_sink k = {.buf = admin};
	struct mg_sql_params p = {0};
	mg_sql_text(&p, hash);
	int r = mg_sql_query(s, MG_SQL_SESSION_GET, &p, mg_row_session_get, &k);
	if (r == 0)
		return -ENOENT;
	if (r < 0)
		return r;
	*expires_us = k.i64;
	return 0;
}

static int session_extend_fn(const struct mg_sql *db, void *arg)
{
	struct session_job *j = arg;
	struct mg_sql_params p = {0};
	mg_sql_text(&p, j->hash);
	mg_sql_int(&p, j->expires_us);
	return db->ops->run_one(db->conn, MG_SQL_SESSION_EXTEND, &p);
}

int mg_sql_session_extend(struct mg_store *s, const char *hash, int64_t expires_us)
{
	struct session_job j = {hash, 0, 0, expires_us, 0};
	return mg_sql_write(s, session_extend_fn, &j);
}

static int session_delete_fn(const struct mg_sql *db, void *arg)
{
	struct session_job *j = arg;
	struct mg_sql_params p = {0};
	mg_sql_text(&p, j->hash);
	return db->ops->run_one(db->conn, MG_SQL_SESSION_DEL, &p);
}

int mg_sql_session_delete(struct mg_store *s, const char *hash)
{
	struct session_job j = {hash, 0, 0, 0, 0};
	return mg_sql_write(s, session_delete_fn, &j);
}

static int sessions_purge_fn(const struct mg_sql *db, void *arg)
{
	struct session_job *j = arg;
	struct mg_sql_params p = {0};
	mg_sql_int(&p, j->now_us);
	return db->ops->run(db->conn, MG_SQL_SESSION_PURGE, &p, &j->deleted);
}

int mg_sql_sessions_purge(struct mg_store *s, int64_t now_us, uint64_t *deleted)
{
	struct session_job j = {NULL, 0, now_us, 0, 0};
	int r = mg_sql_write(s, sessions_purge_fn, &j);
	if (r == 0)
		*deleted = j.deleted;
	return r;
}

/* ---- account lockout ---- */

struct lock_job {
	struct mg_store_action *act;
	int64_t id, now_us;
	bool lock;
};

static int one_row(const struct mg_row *r, void *ctx)
{
	(void)r;
	(void)ctx;
	return 1;
}

static int admin_lock_fn(const struct mg_sql *db, void *arg)
{
	struct lock_job *j = arg;
	struct mg_sql_params p = {0};
	uint64_t changed = 0;
	mg_sql_int(&p, j->id);
	if (j->lock)
		mg_sql_int(&p, j->now_us);
	int r =
	    db->ops->run(db->conn, j->lock ? MG_SQL_ADMIN_LOCK : MG_SQL_ADMIN_UNLOCK, &p, &changed);
	if (r < 0)
		return r;
	if (!j->lock) { /* an unlocked account starts counting again */
		struct mg_sql_params c = {0};
		uint64_t cleared = 0;
		mg_sql_int(&c, j->id);
		if ((r = db->ops->run(db->conn, MG_SQL_ADMIN_FAILS_CLEAR, &c, &cleared)) < 0)
			return r;
	}
	if (changed == 0) {
		/* Already in that state, or no such account. */
		struct mg_sql_params q = {0};
		mg_sql_int(&q, j->id);
		r = db->ops->rows(db->conn, MG_SQL_ADMIN_GET_ID, &q, one_row, NULL);
		return r < 0 ? r : r == 0 ? -ENOENT : -EALREADY;
	}
	return mg_sql_log_action(db, j->act, 0);
}

int mg_sql_admin_lock(struct mg_store *s, struct mg_store_action *act, int64_t id, bool lock,
                      int64_t now_us)
{
	struct lock_job j = {act, id, now_us, lock};
	return mg_sql_write(s, admin_lock_fn, &j);
}

struct fail_job {
	int64_t id, now_us, forget_us, count;
};

/* RETURNING's one row (SQLite makes every change at the first step: stopping there is fine). */
static int count_row(const struct mg_row *r, void *arg)
{
	((struct fail_job *)arg)->count = r->ops->i64(r, 0);
	return 1;
}

static int admin_failed_fn(const struct mg_sql *db, void *arg)
{
	struct fail_job *j = arg;
	struct mg_sql_params p = {0};
	mg_sql_int(&p, j->id);
	mg_sql_int(&p, j->now_us);
	mg_sql_int(&p, j->forget_us);
	int r = db->ops->rows(db->conn, MG_SQL_ADMIN_FAILED, &p, count_row, j);
	return r < 0 ? r : r == 1 ? 0 : -EIO;
}

int mg_sql_admin_login_failed(struct mg_store *s, int64_t id, int64_t now_us, int64_t forget_us,
                              uint32_t *failures)
{
	struct fail_job j = {id, now_us, forget_us, 0};
	int r = mg_sql_write(s, admin_failed_fn, &j);
	if (r == 0)
		*failures = j.count <= 0            ? 0
		            : j.count >= UINT32_MAX ? UINT32_MAX
		                                    : (uint32_t)j.count;
	return r;
}

static int admin_ok_fn(const struct mg_sql *db, void *arg)
{
	struct mg_sql_params p = {0};
	uint64_t changed = 0;
	mg_sql_int(&p, *(const int64_t *)arg);
	return db->ops->run(db->conn, MG_SQL_ADMIN_FAILS_CLEAR, &p, &changed);
}

int mg_sql_admin_login_ok(struct mg_store *s, int64_t id)
{
	return mg_sql_write(s, admin_ok_fn, &id);
}

int mg_sql_admin_locked(struct mg_store *s, int64_t id, int64_t *locked_us)
{
	struct mg_row_sink k = {0};
	struct mg_sql_params p = {0};
	mg_sql_int(&p, id);
	int r = mg_sql_query(s, MG_SQL_ADMIN_LOCKED, &p, mg_row_i64_get, &k);
	if (r == 0)
		return -ENOENT;
	if (r < 0)
		return r;
	if (locked_us)
		*locked_us = k.i64;
	return 0;
}
