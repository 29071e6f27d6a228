/*
 * Inside the SQLite backend: connections with their cached prepared statements, the writer
 * thread that group-commits jobs, and the operations split across store_sqlite_*.c. Every SQL
 * statement is listed once, in store_sqlite_conn.c (sq_sql[]).
 */
#ifndef MG_STORE_SQLITE_H
#define MG_STORE_SQLITE_H

#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>

#include "store_int.h"
#include "store_sql.h"

/* The statements of store_sql.h, then SQLite's own. */
enum sq_stmt_id {
	SQ_BEGIN = MG_SQL_NSHARED,
	SQ_COMMIT,
	SQ_ROLLBACK,
	SQ_SAVEPOINT,
	SQ_RELEASE,
	SQ_ROLLBACK_TO,
	SQ_EVENT_INSERT,
	SQ_HOST_NAME,  /* the enrolled name of a host */
	SQ_HOST_OTHER, /* another host enrolled under a name */
	SQ_CLAIM_ADD,  /* first claim of a name by a host (host_claims) */
	SQ_NSTMT
};

/* Event filters, one bit each; a prepared query per combination. */
enum {
	SQ_F_HOST = 1,
	SQ_F_TYPE = 2,
	SQ_F_USER = 4,
	SQ_F_SERIAL = 8,
	SQ_F_FROM = 16,
	SQ_F_TO = 32,
	SQ_F_COUNT = 64, /* count(*) instead of rows */
	SQ_NFILTER = 128
};

/* One connection, used by one thread at a time. */
struct sq_conn {
	sqlite3 *db;
	sqlite3_stmt *st[SQ_NSTMT];
	sqlite3_stmt *evq[SQ_NFILTER];
};

struct sq_writer;

struct sq_store {
	struct mg_store base;
	char *path;
	char *dir; /* for the free-space check */
	_Atomic uint64_t reserve;
	struct sq_writer *writer;
	pthread_mutex_t pool_mu;
	pthread_cond_t pool_cv;
	struct sq_conn *idle[4]; /* reader pool: at most 4 connections (2 MB page cache each) */
	size_t nidle, nopen;
};

/* ---- store_sqlite_conn.c: one connection, the statement table ---- */
/* Opens a connection with the durability settings; writer: read-write + create. errmsg is
 * written on error. */
int sq_conn_open(const char *path, int writer, struct sq_conn **out, char *errmsg, size_t errlen);
/* Closes a connection and its statements; NULL accepted. */
void sq_conn_free(struct sq_conn **c);
/* SQLite result code -> negative errno. */
int sq_err(int rc);
/* The cached statement id of c, prepared on first use; NULL with *err set on failure. */
sqlite3_stmt *sq_stmt(struct sq_conn *c, int id, int *err);
/* The events query (or count) for a filter mask. */
sqlite3_stmt *sq_events_stmt(struct sq_conn *c, unsigned mask, int *err);
/* Steps a statement expected to change exactly one row: 0, -ENOENT (none), or an error. */
int sq_step_one(struct sq_conn *c, sqlite3_stmt *st);
/* Runs a statement without parameters or rows to read. */
int sq_run(struct sq_conn *c, int id);
/* Steps st once expecting no row, then resets it. */
int sq_step_done(sqlite3_stmt *st);
/* Binds text or NULL (for NULL or ""), SQLITE_STATIC. */
int sq_bind_text(sqlite3_stmt *st, int i, const char *s);
/* Copies column i (NULL as "") into dst[size], truncating. */
void sq_col_copy(sqlite3_stmt *st, int i, char *dst, size_t size);
/* The primitives of store_sql.h on one connection (conn: struct sq_conn *). A statement
 * without text in sq_sql[] (one SQLite does not need) runs as nothing. */
extern const struct mg_sql_ops sq_sql_ops;

/* ---- store_sqlite.c: the store (pool, writes, open, close) ---- */
/* A reader connection from the pool (bounded wait); give it back with sq_reader_put(). */
int sq_reader_get(struct sq_store *st, struct sq_conn **out);
void sq_reader_put(struct sq_store *st, struct sq_conn *c);
/* Runs fn inside the writer's group transaction; returns after the commit. */
int sq_write(struct sq_store *st, int (*fn)(struct sq_conn *c, void *arg), void *arg);

/* ---- store_sqlite_writer.c ---- */
typedef int (*sq_job_fn)(struct sq_conn *c, void *arg);
/* Starts the writer thread, which owns c from then on. */
int sq_writer_start(struct sq_conn *c, struct sq_writer **out);
/* Stops and joins the thread, closes its connection. NULL accepted. */
void sq_writer_stop(struct sq_writer **w);
/* Queues fn(arg) and waits for the outcome of the transaction it ran in. */
int sq_writer_run(struct sq_writer *w, sq_job_fn fn, void *arg);

/* ---- store_sqlite_events.c: ingest and the event queries ---- */
int sq_ingest(struct mg_store *s, int64_t host_id, const struct mg_store_batch *b, int64_t now_us,
              struct mg_ingest_result *res);
int sq_cursor_get(struct mg_store *s, int64_t host_id, const char *boot_id, uint64_t *out);
int sq_events_query(struct mg_store *s, const struct mg_store_event_filter *f,
                    int (*cb)(void *, const struct mg_store_event_row *), void *ctx);
int sq_events_count(struct mg_store *s, const struct mg_store_event_filter *f, uint64_t *out);

#endif
