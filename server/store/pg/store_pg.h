/*
 * Inside the PostgreSQL backend: a pool of libpq connections, each with the statements it
 * has prepared, and the operations split across store_pg_*.c. Every SQL statement is listed
 * once, in store_pg.c (pg_sql[]). Several collectors may share the database: changes take
 * row locks (the stream cursor FOR UPDATE) or table locks (policy versions), never rely on
 * being the only writer.
 */
#ifndef MG_STORE_PG_H
#define MG_STORE_PG_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>

#include "store_int.h"
#include "store_sql.h"

/* The statements of store_sql.h, then PostgreSQL's own. */
enum pg_stmt_id {
	PG_STREAM_LOCK = MG_SQL_NSHARED,
	PG_EVENTS_COPY, /* not prepared: COPY ... FROM STDIN */
	PG_HOST_NAME,   /* the enrolled name of a host */
	PG_HOST_OTHER,  /* another host enrolled under a name */
	PG_CLAIM_ADD,   /* first claim of a name by a host (host_claims) */
	PG_NSTMT
};

/* Event filters, one bit each; a prepared query per combination. */
enum {
	PG_F_HOST = 1,
	PG_F_TYPE = 2,
	PG_F_USER = 4,
	PG_F_SERIAL = 8,
	PG_F_FROM = 16,
	PG_F_TO = 32,
	PG_F_COUNT = 64,
	PG_NFILTER = 128
};

struct pg_conn {
	PGconn *pc;
	bool prepared[PG_NSTMT];
	bool evq_prepared[PG_NFILTER];
	bool broken; /* discard instead of returning it to the pool */
};

#define PG_POOL_MAX 16

struct pg_store {
	struct mg_store base;
	char *url;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pg_conn *idle[PG_POOL_MAX];
	size_t nidle, nopen;
};

/* Parameters of one statement, as text (or binary for bytea). */
#define PG_MAX_PARAMS 16
struct pg_params {
	int n;
	const char *v[PG_MAX_PARAMS];
	int len[PG_MAX_PARAMS];
	int fmt[PG_MAX_PARAMS];
	char buf[PG_MAX_PARAMS][24];
};

/* ---- store_pg.c ---- */
void pg_p_int(struct pg_params *p, int64_t v);
/* NULL and "" become SQL NULL when null_if_empty, else "" stays "". */
void pg_p_text(struct pg_params *p, const char *s, bool null_if_empty);
void pg_p_bin(struct pg_params *p, const void *data, size_t len);
/* Prepares id on c if needed: 0 or negative errno. */
int pg_prepare(struct pg_conn *c, int id);
/* The SQL text of id. */
const char *pg_sql_text(int id);
/* The statement name of id ("s<id>"). */
void pg_stmt_name(int id, char name[16]);
/* Executes id; NULL with *err on failure. The caller PQclear()s the result. */
PGresult *pg_exec(struct pg_conn *c, int id, const struct pg_params *p, int *err);
/* Executes id expecting no rows; *changed (optional) gets the affected row count. */
int pg_run(struct pg_conn *c, int id, const struct pg_params *p, uint64_t *changed);
/* The SQLSTATE of a failed result, mapped to a negative errno (marks broken connections). */
int pg_res_err(struct pg_conn *c, const PGresult *res);
int64_t pg_int(const PGresult *res, int row, int col);
void pg_copy(const PGresult *res, int row, int col, char *dst, size_t size);
const char *pg_text(const PGresult *res, int row, int col); /* NULL as "" */
/* Runs fn in a transaction on a pooled connection; retries serialization failures. */
int pg_tx(struct pg_store *s, int (*fn)(struct pg_conn *c, void *arg), void *arg);
/* Runs fn on a pooled connection without an explicit transaction. */
int pg_read(struct pg_store *s, int (*fn)(struct pg_conn *c, void *arg), void *arg);
/* Executes id expecting exactly one changed row: 0, -ENOENT, or an error. */
int pg_run_one(struct pg_conn *c, int id, const struct pg_params *p);
/* Executes id (INSERT ... RETURNING id) and reads the new row's id; -ENOENT: no row. */
int pg_insert_returning(struct pg_conn *c, int id, const struct pg_params *p, int64_t *new_id);
/* The primitives of store_sql.h on one connection (conn: struct pg_conn *). */
extern const struct mg_sql_ops pg_sql_ops;

/* ---- store_pg_events.c: ingest and the event queries ---- */
int pgs_ingest(struct mg_store *s, int64_t host_id, const struct mg_store_batch *b, int64_t now_us,
               struct mg_ingest_result *res);
int pgs_cursor_get(struct mg_store *s, int64_t host_id, const char *boot_id, uint64_t *out);
int pgs_events_query(struct mg_store *s, const struct mg_store_event_filter *f,
                     int (*cb)(void *, const struct mg_store_event_row *), void *ctx);
int pgs_events_count(struct mg_store *s, const struct mg_store_event_filter *f, uint64_t *out);

#endif
