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
#include "store_row.h"

enum sq_stmt_id {
	SQ_BEGIN,
	SQ_COMMIT,
	SQ_ROLLBACK,
	SQ_SAVEPOINT,
	SQ_RELEASE,
	SQ_ROLLBACK_TO,
	SQ_META_GET,
	SQ_RULES_REV_BUMP,
	SQ_ACTION_INSERT,
	SQ_OWN_EVENT_INSERT,
	SQ_ACTIONS_LIST,
	SQ_TOKEN_ADD,
	SQ_TOKEN_USE,
	SQ_TOKEN_GET,
	SQ_HOST_ADD,
	SQ_HOST_GET,
	SQ_HOST_BY_CERT,
	SQ_HOST_LIST,
	SQ_HOST_REVOKE,
	SQ_HOST_HEARTBEAT,
	SQ_HOST_STATE,
	SQ_HOST_SEEN,
	SQ_HOST_APPLIED,
	SQ_STREAM_GET,
	SQ_STREAM_ADD,
	SQ_STREAM_SET,
	SQ_EVENTS_RANGE,
	SQ_EVENT_INSERT,
	SQ_DEVICE_UPSERT,
	SQ_ALERT_INSERT,
	SQ_ALERTS_COUNT,
	SQ_ALERTS_LIST,
	SQ_DEVICES_LIST,
	SQ_RULE_ADD,
	SQ_RULE_DEL,
	SQ_RULES_LIST,
	SQ_POLICY_ADD,
	SQ_POLICY_LATEST,
	SQ_POLICY_GET,
	SQ_REQ_ADD,
	SQ_REQ_FIND,
	SQ_REQ_LIST,
	SQ_REQ_DECIDE,
	SQ_REQ_STATE,
	SQ_ADMIN_ADD,
	SQ_ADMIN_GET_NAME,
	SQ_ADMIN_GET_ID,
	SQ_ADMIN_LIST,
	SQ_ADMIN_SET_PW,
	SQ_ADMIN_SET_ROLE,
	SQ_ADMIN_SET_DISABLED,
	SQ_SESSIONS_DEL_ADMIN,
	SQ_SESSION_ADD,
	SQ_SESSION_GET,
	SQ_SESSION_EXTEND,
	SQ_SESSION_DEL,
	SQ_SESSION_PURGE,
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
sqlite3_stmt *sq_stmt(struct sq_conn *c, enum sq_stmt_id id, int *err);
/* The events query (or count) for a filter mask. */
sqlite3_stmt *sq_events_stmt(struct sq_conn *c, unsigned mask, int *err);
/* Steps a statement expected to change exactly one row: 0, -ENOENT (none), or an error. */
int sq_step_one(struct sq_conn *c, sqlite3_stmt *st);
/* Runs a statement without parameters or rows to read. */
int sq_run(struct sq_conn *c, enum sq_stmt_id id);
/* Steps st once expecting no row, then resets it. */
int sq_step_done(sqlite3_stmt *st);
/* Binds text or NULL (for NULL or ""), SQLITE_STATIC. */
int sq_bind_text(sqlite3_stmt *st, int i, const char *s);
/* Copies column i (NULL as "") into dst[size], truncating. */
void sq_col_copy(sqlite3_stmt *st, int i, char *dst, size_t size);
/* Columns of a statement's current row for the row layer (res: the sqlite3_stmt). */
extern const struct mg_row_ops sq_row_ops;
/* Integer parameters ?1..?n, for sq_read_rows(): sq_bind_ints with a struct sq_ints. */
struct sq_ints {
	size_t n;
	int64_t v[4];
};
void sq_bind_ints(sqlite3_stmt *st, void *arg);

/* ---- store_sqlite.c: the store (pool, writes, open, close) ---- */
/* A reader query: bind(st, bind_ctx) (optional), then row(row, row_ctx) for each row (a row
 * handler of store_row.h) until it returns non-zero; returns that value, 0 after the last
 * row, or an error. */
int sq_read_rows(struct mg_store *s, enum sq_stmt_id id, void (*bind)(sqlite3_stmt *, void *),
                 void *bind_ctx, int (*row)(const struct mg_row *, void *), void *row_ctx);
/* A reader connection from the pool (bounded wait); give it back with sq_reader_put(). */
int sq_reader_get(struct sq_store *st, struct sq_conn **out);
void sq_reader_put(struct sq_store *st, struct sq_conn *c);
/* Runs fn inside the writer's group transaction; returns after the commit. */
int sq_write(struct sq_store *st, int (*fn)(struct sq_conn *c, void *arg), void *arg);
/* Records an admin action (both rows) on the writer connection. */
int sq_log_action(struct sq_conn *c, struct mg_store_action *act, int64_t new_id);

/* ---- store_sqlite_writer.c ---- */
typedef int (*sq_job_fn)(struct sq_conn *c, void *arg);
/* Starts the writer thread, which owns c from then on. */
int sq_writer_start(struct sq_conn *c, struct sq_writer **out);
/* Stops and joins the thread, closes its connection. NULL accepted. */
void sq_writer_stop(struct sq_writer **w);
/* Queues fn(arg) and waits for the outcome of the transaction it ran in. */
int sq_writer_run(struct sq_writer *w, sq_job_fn fn, void *arg);

/* ---- store_sqlite_{events,hosts,policy,admin}.c: the operations ---- */
int sq_admin_log(struct mg_store *s, struct mg_store_action *act);
int sq_admin_actions_foreach(struct mg_store *s, int64_t after_id, uint32_t limit,
                             int (*cb)(void *, const struct mg_store_admin_action *), void *ctx);
int sq_token_add(struct mg_store *s, struct mg_store_action *act, const char *hash,
                 int64_t expires_us, uint32_t uses, int64_t now_us);
int sq_token_consume(struct mg_store *s, const char *hash, int64_t now_us);
int sq_host_add(struct mg_store *s, const char *hostname, const char *cert_serial, int64_t now_us,
                int64_t *id_out);
int sq_host_get(struct mg_store *s, int64_t id, const char *cert_serial, struct mg_store_host *out);
int sq_host_revoke(struct mg_store *s, struct mg_store_action *act, int64_t id);
int sq_host_heartbeat(struct mg_store *s, int64_t id, int64_t now_us, uint64_t spool_depth,
                      int64_t oldest_unsent_us, uint64_t policy_version, const char *agent_version);
int sq_host_policy_applied(struct mg_store *s, int64_t id, uint64_t version, int64_t now_us);
int sq_host_foreach(struct mg_store *s, int (*cb)(void *, const struct mg_store_host *), void *ctx);
int sq_ingest(struct mg_store *s, int64_t host_id, const struct mg_store_batch *b, int64_t now_us,
              struct mg_ingest_result *res);
int sq_cursor_get(struct mg_store *s, int64_t host_id, const char *boot_id, uint64_t *out);
int sq_events_query(struct mg_store *s, const struct mg_store_event_filter *f,
                    int (*cb)(void *, int64_t, int64_t, const char *), void *ctx);
int sq_events_count(struct mg_store *s, const struct mg_store_event_filter *f, uint64_t *out);
int sq_alerts_count(struct mg_store *s, int64_t host_id, uint64_t *out);
int sq_alerts_foreach(struct mg_store *s, int64_t host_id, int64_t after_id, uint32_t limit,
                      int (*cb)(void *, const struct mg_store_alert *), void *ctx);
int sq_devices_foreach(struct mg_store *s, int64_t id, int64_t after_id, uint32_t limit,
                       int (*cb)(void *, const struct mg_store_device *), void *ctx);
int sq_rule_add(struct mg_store *s, struct mg_store_action *act, const char *text, int64_t host_id,
                int64_t expires_us, const char *comment, int64_t now_us, int64_t *id_out);
int sq_rule_remove(struct mg_store *s, struct mg_store_action *act, int64_t id);
int sq_rules_foreach(struct mg_store *s, int64_t host_id, int64_t now_us,
                     int (*cb)(void *, const struct mg_store_rule *), void *ctx);
int sq_rules_revision(struct mg_store *s, uint64_t *out);
int sq_policy_add(struct mg_store *s, struct mg_store_action *act, uint64_t version,
                  uint64_t rules_revision, const char *json, size_t json_len, const uint8_t *sig,
                  size_t sig_len, int64_t now_us);
int sq_policy_latest(struct mg_store *s, uint64_t *version);
int sq_policy_get(struct mg_store *s, uint64_t version, struct mg_store_policy **out);
int sq_request_add(struct mg_store *s, const struct mg_store_request *r, int64_t now_us,
                   int64_t *id_out);
int sq_requests_foreach(struct mg_store *s, int64_t id, int state, int64_t after_id, uint32_t limit,
                        int (*cb)(void *, const struct mg_store_request *), void *ctx);
int sq_request_decide(struct mg_store *s, struct mg_store_action *act, int64_t id,
                      const char *rule_text, int64_t rule_host_id, int64_t expires_us,
                      const char *note, int64_t now_us, int64_t *rule_id_out);
int sq_admin_add(struct mg_store *s, struct mg_store_action *act, const char *name,
                 const char *password_hash, enum mg_admin_role role, int64_t now_us,
                 int64_t *id_out);
int sq_admin_get(struct mg_store *s, const char *name, int64_t id, struct mg_store_admin *out);
int sq_admin_update(struct mg_store *s, struct mg_store_action *act, int64_t id,
                    const char *password_hash, int role, int disabled);
int sq_admins_foreach(struct mg_store *s, int (*cb)(void *, const struct mg_store_admin *),
                      void *ctx);
int sq_session_add(struct mg_store *s, const char *hash, int64_t admin_id, int64_t now_us,
                   int64_t expires_us);
int sq_session_get(struct mg_store *s, const char *hash, struct mg_store_admin *admin,
                   int64_t *expires_us);
int sq_session_extend(struct mg_store *s, const char *hash, int64_t expires_us);
int sq_session_delete(struct mg_store *s, const char *hash);
int sq_sessions_purge(struct mg_store *s, int64_t now_us, uint64_t *deleted);

#endif
