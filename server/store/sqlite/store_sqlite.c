/*
 * SQLite backend: the schema at open, the reader pool, writes through the writer, open and
 * close.
 *
 * One writer connection belongs to the writer thread (store_sqlite_writer.c); every change
 * runs there as a job inside a group transaction. Reads use a small pool of read-only
 * connections (store_sqlite_conn.c), which WAL lets run beside the writer.
 */
#include "store_sqlite.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_schema.h"

#define POOL_WAIT_S 30
#define POOL_MAX    (sizeof(((struct sq_store *)0)->idle) / sizeof(struct sq_conn *))

static int64_t meta_get(struct sq_conn *c, const char *key, int *err)
{
	sqlite3_stmt *st = sq_stmt(c, SQ_META_GET, err);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	int64_t v = -1;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		*err = sq_err(rc);
	sqlite3_reset(st);
	return v;
}

static int schema_init(struct sq_conn *c, char *errmsg, size_t errlen)
{
	char *msg = NULL;
	int rc = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, &msg);
	for (size_t i = 0; rc == SQLITE_OK && mg_store_sqlite_schema[i]; i++)
		rc = sqlite3_exec(c->db, mg_store_sqlite_schema[i], NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		snprintf(errmsg, errlen, "schema: %s", msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		return sq_err(rc) ? sq_err(rc) : -EIO;
	}
	int err = 0;
	int64_t v = meta_get(c, "schema_version", &err);
	if (v != MG_STORE_SCHEMA_VERSION) {
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		if (err < 0) {
			snprintf(errmsg, errlen, "schema: %s", sqlite3_errmsg(c->db));
			return err;
		}
		snprintf(errmsg, errlen, "database schema %lld is not %d (newer collector?)",
		         (long long)v, MG_STORE_SCHEMA_VERSION);
		return -EPROTO;
	}
	rc = sqlite3_exec(c->db, "COMMIT", NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		snprintf(errmsg, errlen, "schema: %s", msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		return sq_err(rc) ? sq_err(rc) : -EIO;
	}
	return 0;
}

int sq_reader_get(struct sq_store *st, struct sq_conn **out)
{
	int r = 0;
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += POOL_WAIT_S;
	pthread_mutex_lock(&st->pool_mu);
	while (st->nidle == 0 && st->nopen >= POOL_MAX && r == 0)
		r = -pthread_cond_timedwait(&st->pool_cv, &st->pool_mu, &deadline);
	if (st->nidle > 0) {
		*out = st->idle[--st->nidle];
		pthread_mutex_unlock(&st->pool_mu);
		return 0;
	}
	if (r != 0) {
		pthread_mutex_unlock(&st->pool_mu);
		return -ETIMEDOUT;
	}
	st->nopen++;
	pthread_mutex_unlock(&st->pool_mu);
	char msg[256];
	r = sq_conn_open(st->path, 0, out, msg, sizeof(msg));
	if (r < 0) {
		pthread_mutex_lock(&st->pool_mu);
		st->nopen--;
		pthread_cond_signal(&st->pool_cv);
		pthread_mutex_unlock(&st->pool_mu);
	}
	return r;
}

void sq_reader_put(struct sq_store *st, struct sq_conn *c)
{
	pthread_mutex_lock(&st->pool_mu);
	st->idle[st->nidle++] = c;
	pthread_cond_signal(&st->pool_cv);
	pthread_mutex_unlock(&st->pool_mu);
}

int sq_write(struct sq_store *st, int (*fn)(struct sq_conn *c, void *arg), void *arg)
{
	return sq_writer_run(st->writer, fn, arg);
}

int sq_log_action(struct sq_conn *c, struct mg_store_action *act, int64_t new_id)
{
	if (!act)
		return 0;
	mg_store_action_set_target(act, new_id);
	char *json = NULL, type[8 + MG_STORE_NAME_SIZE];
	int r = mg_store_action_event_json(act, &json);
	if (r < 0)
		goto fail;
	snprintf(type, sizeof(type), "admin.%s", act->action);
	sqlite3_stmt *st = sq_stmt(c, SQ_OWN_EVENT_INSERT, &r);
	if (!st)
		goto fail;
	sqlite3_bind_null(st, 1);
	sqlite3_bind_int64(st, 2, act->now_us);
	sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, act->admin, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, json, -1, SQLITE_STATIC);
	r = sq_step_done(st);
	if (r < 0)
		goto fail;
	int64_t event_id = sqlite3_last_insert_rowid(c->db);
	st = sq_stmt(c, SQ_ACTION_INSERT, &r);
	if (!st)
		goto fail;
	sqlite3_bind_int64(st, 1, act->now_us);
	sqlite3_bind_text(st, 2, act->admin, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, act->action, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, act->target, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, act->remote ? act->remote : "", -1, SQLITE_STATIC);
	sq_bind_text(st, 6, act->detail);
	sqlite3_bind_int64(st, 7, event_id);
	r = sq_step_done(st);
fail:
	free(json);
	return r;
}

/* Steps a statement expected to change exactly one row: 0, -ENOENT (none), or an error. */
/* Runs a reader query: bind(st, ctx) then row(st, ctx) per row until it returns non-zero. */
int sq_read_rows(struct mg_store *s, enum sq_stmt_id id, void (*bind)(sqlite3_stmt *, void *),
                 void *bind_ctx, int (*row)(const struct mg_row *, void *), void *row_ctx)
{
	struct sq_store *sst = (struct sq_store *)s;
	struct sq_conn *c = NULL;
	int r = sq_reader_get(sst, &c);
	if (r < 0)
		return r;
	sqlite3_stmt *st = sq_stmt(c, id, &r);
	if (st) {
		if (bind)
			bind(st, bind_ctx);
		struct mg_row rw = {&sq_row_ops, st, 0};
		int rc;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			r = row(&rw, row_ctx);
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

/* ---- open / close ---- */

static int sq_set_reserve(struct mg_store *s, uint64_t bytes)
{
	struct sq_store *st = (struct sq_store *)s;
	atomic_store(&st->reserve, bytes);
	return 0;
}

static void sq_close(struct mg_store *s)
{
	struct sq_store *st = (struct sq_store *)s;
	sq_writer_stop(&st->writer);
	for (size_t i = 0; i < st->nidle; i++)
		sq_conn_free(&st->idle[i]);
	pthread_cond_destroy(&st->pool_cv);
	pthread_mutex_destroy(&st->pool_mu);
	free(st->path);
	free(st->dir);
	free(st);
}

static const struct mg_store_ops sq_ops = {
    .name = "sqlite",
    .close = sq_close,
    .set_reserve = sq_set_reserve,
    .admin_log = sq_admin_log,
    .admin_actions_foreach = sq_admin_actions_foreach,
    .token_add = sq_token_add,
    .token_consume = sq_token_consume,
    .host_add = sq_host_add,
    .host_get = sq_host_get,
    .host_revoke = sq_host_revoke,
    .host_heartbeat = sq_host_heartbeat,
    .host_policy_applied = sq_host_policy_applied,
    .host_foreach = sq_host_foreach,
    .ingest = sq_ingest,
    .cursor_get = sq_cursor_get,
    .events_query = sq_events_query,
    .events_count = sq_events_count,
    .alerts_count = sq_alerts_count,
    .alerts_foreach = sq_alerts_foreach,
    .devices_foreach = sq_devices_foreach,
    .rule_add = sq_rule_add,
    .rule_remove = sq_rule_remove,
    .rules_foreach = sq_rules_foreach,
    .rules_revision = sq_rules_revision,
    .policy_add = sq_policy_add,
    .policy_latest = sq_policy_latest,
    .policy_get = sq_policy_get,
    .request_add = sq_request_add,
    .requests_foreach = sq_requests_foreach,
    .request_decide = sq_request_decide,
    .admin_add = sq_admin_add,
    .admin_get = sq_admin_get,
    .admin_update = sq_admin_update,
    .admins_foreach = sq_admins_foreach,
    .session_add = sq_session_add,
    .session_get = sq_session_get,
    .session_extend = sq_session_extend,
    .session_delete = sq_session_delete,
    .sessions_purge = sq_sessions_purge,
};

int mg_store_sqlite_open(const char *path, struct mg_store **out, char *errmsg, size_t errlen)
{
	int r = -ENOMEM;
	struct sq_conn *wc = NULL;
	struct sq_store *st = NULL;
	char *tmp = NULL;
	if (!*path || strnlen(path, 4096) >= 4096) {
		snprintf(errmsg, errlen, "sqlite: path missing");
		return -EINVAL;
	}
	st = calloc(1, sizeof(*st));
	if (!st)
		goto fail;
	st->base.ops = &sq_ops;
	pthread_mutex_init(&st->pool_mu, NULL);
	pthread_cond_init(&st->pool_cv, NULL);
	st->path = strdup(path);
	tmp = strdup(path);
	if (!st->path || !tmp)
		goto fail;
	st->dir = strdup(dirname(tmp));
	if (!st->dir)
		goto fail;
	r = sq_conn_open(path, 1, &wc, errmsg, errlen);
	if (r < 0)
		goto fail;
	r = schema_init(wc, errmsg, errlen);
	if (r < 0)
		goto fail;
	r = sq_writer_start(wc, &st->writer);
	if (r < 0) {
		snprintf(errmsg, errlen, "sqlite: cannot start the writer thread");
		goto fail;
	}
	wc = NULL;
	*out = &st->base;
	st = NULL;
	r = 0;
fail:
	if (r == -ENOMEM && errlen && !errmsg[0])
		snprintf(errmsg, errlen, "out of memory");
	sq_conn_free(&wc);
	if (st)
		sq_close(&st->base);
	free(tmp);
	return r;
}
