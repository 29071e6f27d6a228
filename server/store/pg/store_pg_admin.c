/*
 * PostgreSQL backend: admin accounts, sessions and the admin action log.
 */
#include "store_pg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- admin action log ---- */

static int log_fn(struct pg_conn *c, void *arg)
{
	return pg_log_action(c, arg, 0);
}

int pgs_admin_log(struct mg_store *s, struct mg_store_action *act)
{
	return pg_tx((struct pg_store *)s, log_fn, act);
}

int pgs_admin_actions_foreach(struct mg_store *s, int64_t after_id, uint32_t limit,
                              int (*cb)(void *, const struct mg_store_admin_action *), void *ctx)
{
	struct mg_row_sink k = {(void (*)(void))cb, ctx, NULL, 0};
	struct pg_query q = {.id = PG_ACTIONS_LIST, .row = mg_row_action_each, .ctx = &k};
	pg_p_int(&q.p, after_id);
	pg_p_int(&q.p, limit);
	int r = pg_query(s, &q);
	return r > 0 ? 0 : r;
}

/* ---- admins ---- */

struct admin_job {
	struct mg_store_action *act;
	const char *name, *password_hash;
	int role, disabled;
	int64_t now_us, id;
};

static int admin_add_fn(struct pg_conn *c, void *arg)
{
	struct admin_job *j = arg;
	struct pg_params p = {0};
	pg_p_text(&p, j->name, false);
	pg_p_text(&p, j->password_hash, false);
	pg_p_text(&p, mg_admin_role_name((enum mg_admin_role)j->role), false);
	pg_p_int(&p, j->now_us);
	int r = pg_insert_returning(c, PG_ADMIN_ADD, &p, &j->id);
	return r < 0 ? r : pg_log_action(c, j->act, j->id);
}

int pgs_admin_add(struct mg_store *s, struct mg_store_action *act, const char *name,
                  const char *password_hash, enum mg_admin_role role, int64_t now_us,
                  int64_t *id_out)
{
	struct admin_job j = {.act = act,
	                      .name = name,
	                      .password_hash = password_hash,
	                      .role = (int)role,
	                      .now_us = now_us};
	int r = pg_tx((struct pg_store *)s, admin_add_fn, &j);
	if (r == 0)
		*id_out = j.id;
	return r;
}

int pgs_admin_get(struct mg_store *s, const char *name, int64_t id, struct mg_store_admin *out)
{
	struct mg_store_admin a;
	struct mg_row_sink k = {NULL, NULL, &a, 0};
	struct pg_query q = {
	    .id = name ? PG_ADMIN_GET_NAME : PG_ADMIN_GET_ID, .row = mg_row_admin_get, .ctx = &k};
	if (name)
		pg_p_text(&q.p, name, false);
	else
		pg_p_int(&q.p, id);
	int r = pg_query(s, &q);
	if (r == 0)
		return -ENOENT;
	if (r < 0)
		return r;
	*out = a;
	return 0;
}

int pgs_admins_foreach(struct mg_store *s, int (*cb)(void *, const struct mg_store_admin *),
                       void *ctx)
{
	struct mg_row_sink k = {(void (*)(void))cb, ctx, NULL, 0};
	struct pg_query q = {.id = PG_ADMIN_LIST, .row = mg_row_admin_each, .ctx = &k};
	int r = pg_query(s, &q);
	return r > 0 ? 0 : r;
}

static int admin_update_fn(struct pg_conn *c, void *arg)
{
	struct admin_job *j = arg;
	struct pg_params p = {0};
	pg_p_int(&p, j->id);
	enum pg_stmt_id id;
	if (j->password_hash) {
		id = PG_ADMIN_SET_PW;
		pg_p_text(&p, j->password_hash, false);
	} else if (j->role > 0) {
		id = PG_ADMIN_SET_ROLE;
		pg_p_text(&p, mg_admin_role_name((enum mg_admin_role)j->role), false);
	} else {
		id = PG_ADMIN_SET_DISABLED;
		pg_p_int(&p, j->disabled);
	}
	int r = pg_run_one(c, id, &p);
	if (r == 0 && (id == PG_ADMIN_SET_PW || (id == PG_ADMIN_SET_DISABLED && j->disabled))) {
		struct pg_params d = {0};
		pg_p_int(&d, j->id);
		r = pg_run(c, PG_SESSIONS_DEL_ADMIN, &d, NULL);
	}
	return r < 0 ? r : pg_log_action(c, j->act, 0);
}

int pgs_admin_update(struct mg_store *s, struct mg_store_action *act, int64_t id,
                     const char *password_hash, int role, int disabled)
{
	struct admin_job j = {.act = act,
	                      .password_hash = password_hash,
	                      .role = role,
	                      .disabled = disabled,
	                      .id = id};
	return pg_tx((struct pg_store *)s, admin_update_fn, &j);
}

/* ---- sessions ---- */

struct session_job {
	const char *hash;
	int64_t admin_id, now_us, expires_us;
	uint64_t deleted;
};

static int session_add_fn(struct pg_conn *c, void *arg)
{
	struct session_job *j = arg;
	struct pg_params p = {0};
	pg_p_text(&p, j->hash, false);
	pg_p_int(&p, j->admin_id);
	pg_p_int(&p, j->now_us);
	pg_p_int(&p, j->expires_us);
	return pg_run_one(c, PG_SESSION_ADD, &p); /* -ENOENT: no such admin */
}

int pgs_session_add(struct mg_store *s, const char *hash, int64_t admin_id, int64_t now_us,
                    int64_t expires_us)
{
	struct session_job j = {hash, admin_id, now_us, expires_us, 0};
	return pg_tx((struct pg_store *)s, session_add_fn, &j);
}

int pgs_session_get(struct mg_store *s, const char *hash, struct mg_store_admin *admin,
                    int64_t *expires_us)
{
	struct mg_row_sink k = {NULL, NULL, admin, 0};
	struct pg_query q = {.id = PG_SESSION_GET, .row = mg_row_session_get, .ctx = &k};
	pg_p_text(&q.p, hash, false);
	int r = pg_query(s, &q);
	if (r == 0)
		return -ENOENT;
	if (r < 0)
		return r;
	*expires_us = k.i64;
	return 0;
}

static int session_change_fn(struct pg_conn *c, void *arg)
{
	struct session_job *j = arg;
	struct pg_params p = {0};
	pg_p_text(&p, j->hash, false);
	if (j->expires_us) {
		pg_p_int(&p, j->expires_us);
		return pg_run_one(c, PG_SESSION_EXTEND, &p);
	}
	return pg_run_one(c, PG_SESSION_DEL, &p);
}

int pgs_session_extend(struct mg_store *s, const char *hash, int64_t expires_us)
{
	struct session_job j = {hash, 0, 0, expires_us, 0};
	return pg_tx((struct pg_store *)s, session_change_fn, &j);
}

int pgs_session_delete(struct mg_store *s, const char *hash)
{
	struct session_job j = {hash, 0, 0, 0, 0};
	return pg_tx((struct pg_store *)s, session_change_fn, &j);
}

static int sessions_purge_fn(struct pg_conn *c, void *arg)
{
	struct session_job *j = arg;
	struct pg_params p = {0};
	pg_p_int(&p, j->now_us);
	return pg_run(c, PG_SESSION_PURGE, &p, &j->deleted);
}

int pgs_sessions_purge(struct mg_store *s, int64_t now_us, uint64_t *deleted)
{
	struct session_job j = {NULL, 0, now_us, 0, 0};
	int r = pg_tx((struct pg_store *)s, sessions_purge_fn, &j);
	if (r == 0)
		*deleted = j.deleted;
	return r;
}
