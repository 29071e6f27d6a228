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
	sqlite3_stmt *st = sq_stmt(c, MG_SQL_META_GET, err);
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

/* Steps a statement expected to change exactly one row: 0, -ENOENT (none), or an error. */
/* Runs a reader query: bind(st, ctx) then row(st, ctx) per row until it returns non-zero. */
/* fn of store_sql.h on a SQLite connection. */
struct sql_job {
	mg_sql_fn fn;
	void *job;
};

static int sql_job_run(struct sq_conn *c, void *arg)
{
	struct sql_job *a = arg;
	struct mg_sql db = {&sq_sql_ops, c};
	return a->fn(&db, a->job);
}

static int sq_sql_write(struct mg_store *s, mg_sql_fn fn, void *job)
{
	struct sql_job a = {fn, job};
	return sq_write((struct sq_store *)s, sql_job_run, &a);
}

static int sq_sql_read(struct mg_store *s, mg_sql_fn fn, void *job)
{
	struct sq_store *sst = (struct sq_store *)s;
	struct sq_conn *c = NULL;
	struct sql_job a = {fn, job};
	int r = sq_reader_get(sst, &c);
	if (r < 0)
		return r;
	r = sql_job_run(c, &a);
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
    .write = sq_sql_write,
    .read = sq_sql_read,
    .ingest = sq_ingest,
    .cursor_get = sq_cursor_get,
    .events_query = sq_events_query,
    .events_count = sq_events_count,
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
