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
#include "store_row.h"

enum pg_stmt_id {
	PG_META_GET,
	PG_RULES_REV_BUMP,
	PG_ACTION_INSERT,
	PG_OWN_EVENT_INSERT,
	PG_ACTIONS_LIST,
	PG_TOKEN_ADD,
	PG_TOKEN_USE,
	PG_TOKEN_GET,
	PG_HOST_ADD,
	PG_HOST_GET,
	PG_HOST_BY_CERT,
	PG_HOST_LIST,
	PG_HOST_REVOKE,
	PG_HOST_HEARTBEAT,
	PG_HOST_STATE,
	PG_HOST_SEEN,
	PG_HOST_APPLIED,
	PG_STREAM_LOCK,
	PG_STREAM_ADD,
	PG_STREAM_SET,
	PG_STREAM_GET,
	PG_EVENTS_RANGE,
	PG_EVENTS_COPY, /* not prepared: COPY ... FROM STDIN */
	PG_DEVICE_UPSERT,
	PG_ALERT_INSERT,
	PG_ALERTS_COUNT,
	PG_ALERTS_LIST,
	PG_DEVICES_LIST,
	PG_RULE_ADD,
	PG_RULE_DEL,
	PG_RULES_LIST,
	PG_POLICY_LOCK,
	PG_POLICY_ADD,
	PG_POLICY_LATEST,
	PG_POLICY_GET,
	PG_REQ_ADD,
	PG_REQ_FIND,
	PG_REQ_LIST,
	PG_REQ_DECIDE,
	PG_REQ_STATE,
	PG_ADMIN_ADD,
	PG_ADMIN_GET_NAME,
	PG_ADMIN_GET_ID,
	PG_ADMIN_LIST,
	PG_ADMIN_SET_PW,
	PG_ADMIN_SET_ROLE,
	PG_ADMIN_SET_DISABLED,
	PG_SESSIONS_DEL_ADMIN,
	PG_SESSION_ADD,
	PG_SESSION_GET,
	PG_SESSION_EXTEND,
	PG_SESSION_DEL,
	PG_SESSION_PURGE,
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
int pg_prepare(struct pg_conn *c, enum pg_stmt_id id);
/* The SQL text of id. */
const char *pg_sql_text(enum pg_stmt_id id);
/* The statement name of id ("s<id>"). */
void pg_stmt_name(enum pg_stmt_id id, char name[16]);
/* Executes id; NULL with *err on failure. The caller PQclear()s the result. */
PGresult *pg_exec(struct pg_conn *c, enum pg_stmt_id id, const struct pg_params *p, int *err);
/* Executes id expecting no rows; *changed (optional) gets the affected row count. */
int pg_run(struct pg_conn *c, enum pg_stmt_id id, const struct pg_params *p, uint64_t *changed);
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
int pg_run_one(struct pg_conn *c, enum pg_stmt_id id, const struct pg_params *p);
/* Executes id (INSERT ... RETURNING id) and reads the new row's id; -ENOENT: no row. */
int pg_insert_returning(struct pg_conn *c, enum pg_stmt_id id, const struct pg_params *p,
                        int64_t *new_id);
/* A read whose rows go to row(res, i, ctx) until it returns non-zero. */
struct pg_query {
	enum pg_stmt_id id;
	struct pg_params p;
	int (*row)(const struct mg_row *r, void *ctx); /* a row handler of store_row.h */
	void *ctx;
};
/* Runs q on a pooled connection: the value row() stopped with, 0, or an error. */
int pg_query(struct mg_store *s, struct pg_query *q);
/* Columns of a result's row for the row layer (res: the PGresult, i: the row). */
extern const struct mg_row_ops pg_row_ops;
/* Records an admin action (both rows) inside the caller's transaction. */
int pg_log_action(struct pg_conn *c, struct mg_store_action *act, int64_t new_id);

/* ---- store_pg_{events,hosts,policy,admin}.c: the operations ---- */
int pgs_admin_log(struct mg_store *s, struct mg_store_action *act);
int pgs_admin_actions_foreach(struct mg_store *s, int64_t after_id, uint32_t limit,
                              int (*cb)(void *, const struct mg_store_admin_action *), void *ctx);
int pgs_token_add(struct mg_store *s, struct mg_store_action *act, const char *hash,
                  int64_t expires_us, uint32_t uses, int64_t now_us);
int pgs_token_consume(struct mg_store *s, const char *hash, int64_t now_us);
int pgs_host_add(struct mg_store *s, const char *hostname, const char *cert_serial, int64_t now_us,
                 int64_t *id_out);
int pgs_host_get(struct mg_store *s, int64_t id, const char *cert_serial,
                 struct mg_store_host *out);
int pgs_host_revoke(struct mg_store *s, struct mg_store_action *act, int64_t id);
int pgs_host_heartbeat(struct mg_store *s, int64_t id, int64_t now_us, uint64_t spool_depth,
                       int64_t oldest_unsent_us, uint64_t policy_version,
                       const char *agent_version);
int pgs_host_policy_applied(struct mg_store *s, int64_t id, uint64_t version, int64_t now_us);
int pgs_host_foreach(struct mg_store *s, int (*cb)(void *, const struct mg_store_host *),
                     void *ctx);
int pgs_ingest(struct mg_store *s, int64_t host_id, const struct mg_store_batch *b, int64_t now_us,
               struct mg_ingest_result *res);
int pgs_cursor_get(struct mg_store *s, int64_t host_id, const char *boot_id, uint64_t *out);
int pgs_events_query(struct mg_store *s, const struct mg_store_event_filter *f,
                     int (*cb)(void *, int64_t, int64_t, const char *), void *ctx);
int pgs_events_count(struct mg_store *s, const struct mg_store_event_filter *f, uint64_t *out);
int pgs_alerts_count(struct mg_store *s, int64_t host_id, uint64_t *out);
int pgs_alerts_foreach(struct mg_store *s, int64_t host_id, int64_t after_id, uint32_t limit,
                       int (*cb)(void *, const struct mg_store_alert *), void *ctx);
int pgs_devices_foreach(struct mg_store *s, int64_t id, int64_t after_id, uint32_t limit,
                        int (*cb)(void *, const struct mg_store_device *), void *ctx);
int pgs_rule_add(struct mg_store *s, struct mg_store_action *act, const char *text, int64_t host_id,
                 int64_t expires_us, const char *comment, int64_t now_us, int64_t *id_out);
int pgs_rule_remove(struct mg_store *s, struct mg_store_action *act, int64_t id);
int pgs_rules_foreach(struct mg_store *s, int64_t host_id, int64_t now_us,
                      int (*cb)(void *, const struct mg_store_rule *), void *ctx);
int pgs_rules_revision(struct mg_store *s, uint64_t *out);
int pgs_policy_add(struct mg_store *s, struct mg_store_action *act, uint64_t version,
                   uint64_t rules_revision, const char *json, size_t json_len, const uint8_t *sig,
                   size_t sig_len, int64_t now_us);
int pgs_policy_latest(struct mg_store *s, uint64_t *version);
int pgs_policy_get(struct mg_store *s, uint64_t version, struct mg_store_policy **out);
int pgs_request_add(struct mg_store *s, const struct mg_store_request *r, int64_t now_us,
                    int64_t *id_out);
int pgs_requests_foreach(struct mg_store *s, int64_t id, int state, int64_t after_id,
                         uint32_t limit, int (*cb)(void *, const struct mg_store_request *),
                         void *ctx);
int pgs_request_decide(struct mg_store *s, struct mg_store_action *act, int64_t id,
                       const char *rule_text, int64_t rule_host_id, int64_t expires_us,
                       const char *note, int64_t now_us, int64_t *rule_id_out);
int pgs_admin_add(struct mg_store *s, struct mg_store_action *act, const char *name,
                  const char *password_hash, enum mg_admin_role role, int64_t now_us,
                  int64_t *id_out);
int pgs_admin_get(struct mg_store *s, const char *name, int64_t id, struct mg_store_admin *out);
int pgs_admin_update(struct mg_store *s, struct mg_store_action *act, int64_t id,
                     const char *password_hash, int role, int disabled);
int pgs_admins_foreach(struct mg_store *s, int (*cb)(void *, const struct mg_store_admin *),
                       void *ctx);
int pgs_session_add(struct mg_store *s, const char *hash, int64_t admin_id, int64_t now_us,
                    int64_t expires_us);
int pgs_session_get(struct mg_store *s, const char *hash, struct mg_store_admin *admin,
                    int64_t *expires_us);
int pgs_session_extend(struct mg_store *s, const char *hash, int64_t expires_us);
int pgs_session_delete(struct mg_store *s, const char *hash);
int pgs_sessions_purge(struct mg_store *s, int64_t now_us, uint64_t *deleted);

#endif
