/*
 * The SQL layer both backends share. The operations that are the same on SQLite and
 * PostgreSQL (tokens, hosts, the admin action log, admins and sessions, rules, policy
 * versions, device requests, the ledger and alert lists) are written once, in
 * store_sql_*.c, against this interface; a backend supplies the SQL text of each statement in
 * its dialect (indexed by enum mg_sql_id), a transaction or a pooled read connection to run
 * them in (mg_store_ops.write/read), and the five primitives of struct mg_sql_ops. What
 * differs stays in the backend: the dialect, COPY against prepared inserts at ingest, the
 * SQLite writer thread, PostgreSQL's connection pool and retries.
 */
#ifndef MG_STORE_SQL_H
#define MG_STORE_SQL_H

#include <stddef.h>
#include <stdint.h>

#include "store_int.h"
#include "store_row.h"

/* Statements every backend has. A backend's own statements are numbered from MG_SQL_NSHARED;
 * a statement that a dialect does not need has no text there, and running it does nothing. */
enum mg_sql_id {
	MG_SQL_META_GET,
	MG_SQL_RULES_REV_BUMP,
	MG_SQL_ACTION_INSERT,
	MG_SQL_OWN_EVENT_INSERT,
	MG_SQL_ACTIONS_LIST,
	MG_SQL_TOKEN_ADD,
	MG_SQL_TOKEN_USE,
	MG_SQL_TOKEN_GET,
	MG_SQL_HOST_ADD,
	MG_SQL_HOST_GET,
	MG_SQL_HOST_BY_CERT,
	MG_SQL_HOST_LIST,
	MG_SQL_HOST_REVOKE,
	MG_SQL_HOST_HEARTBEAT,
	MG_SQL_HOST_STATE,
	MG_SQL_HOST_SEEN,
	MG_SQL_HOST_APPLIED,
	MG_SQL_STREAM_GET,
	MG_SQL_STREAM_ADD,
	MG_SQL_STREAM_SET,
	MG_SQL_EVENTS_RANGE,
	MG_SQL_DEVICE_UPSERT,
	MG_SQL_ALERT_INSERT,
	MG_SQL_ALERTS_COUNT,
	MG_SQL_ALERTS_LIST,
	MG_SQL_DEVICES_LIST,
	MG_SQL_RULE_ADD,
	MG_SQL_RULE_DEL,
	MG_SQL_RULES_LIST,
	MG_SQL_POLICY_LOCK, /* PostgreSQL: versions strictly increase across collectors */
	MG_SQL_POLICY_ADD,
	MG_SQL_POLICY_LATEST,
	MG_SQL_POLICY_GET,
	MG_SQL_REQ_ADD,
	MG_SQL_REQ_FIND,
	MG_SQL_HOST_LOCK, /* the host's row, before its per-host caps are counted */
	MG_SQL_REQ_LIST,
	MG_SQL_REQ_DECIDE,
	MG_SQL_REQ_STATE,
	MG_SQL_ADMIN_ADD,
	MG_SQL_ADMIN_GET_NAME,
	MG_SQL_ADMIN_GET_ID,
	MG_SQL_ADMIN_LIST,
	MG_SQL_ADMIN_SET_PW,
	MG_SQL_ADMIN_SET_ROLE,
	MG_SQL_ADMIN_SET_DISABLED,
	MG_SQL_SESSIONS_DEL_ADMIN,
	MG_SQL_SESSION_ADD,
	MG_SQL_SESSION_GET,
	MG_SQL_SESSION_EXTEND,
	MG_SQL_SESSION_DEL,
	MG_SQL_SESSION_PURGE,
	MG_SQL_ADMIN_LOCK,   /* insert the lock row of an existing account, unless locked */
	MG_SQL_ADMIN_UNLOCK, /* delete it */
	MG_SQL_ADMIN_LOCKED, /* its locked_us */
	MG_SQL_ADMIN_FAILED, /* one more consecutive failed login (from 1 after $3 idle): count */
	MG_SQL_ADMIN_FAILS_CLEAR, /* a good login or an unlock: none */
	MG_SQL_STAFF_ADD,
	MG_SQL_STAFF_LIST,      /* by id (0: any) and login ("": any) */
	MG_SQL_STAFF_SET_STATE, /* unless already in that state */
	MG_SQL_STAFF_UNLOCK,
	MG_SQL_STAFF_KEY_ADD,
	MG_SQL_STAFF_KEY_FIND,             /* by (host, registration_id) */
	MG_SQL_STAFF_KEYS_PENDING_OF_HOST, /* count */
	MG_SQL_STAFF_KEYS_LIST,
	MG_SQL_STAFF_KEY_DECIDE,  /* from one of two states */
	MG_SQL_STAFF_KEYS_ACTIVE, /* active keys of the member of a key */
	MG_SQL_NSHARED
};

/* The parameters $1..$n (?1..?n) of one statement. Pointers are borrowed until it has run. */
#define MG_SQL_MAX_PARAMS 16
enum mg_sql_kind { MG_SQL_INT, MG_SQL_TEXT, MG_SQL_NULL, MG_SQL_BLOB };
struct mg_sql_param {
	enum mg_sql_kind kind;
	int64_t i;
	const void *p; /* text (NUL-terminated) or blob */
	size_t len;    /* blob bytes */
};
struct mg_sql_params {
	int n;
	struct mg_sql_param v[MG_SQL_MAX_PARAMS];
};
void mg_sql_int(struct mg_sql_params *p, int64_t v);
/* Text; NULL is SQL NULL, "" stays "". */
void mg_sql_text(struct mg_sql_params *p, const char *s);
/* Text; NULL and "" are SQL NULL. */
void mg_sql_text_or_null(struct mg_sql_params *p, const char *s);
void mg_sql_blob(struct mg_sql_params *p, const void *data, size_t len);

/* A backend's connection inside a transaction (write) or a read, and what it can run. Every
 * primitive returns 0 or a negative errno (-ENOSPC, -ETIMEDOUT, -EEXIST for a unique key,
 * -EIO ...). */
struct mg_sql_ops {
	/* Runs id; *changed (optional) gets the number of rows it changed. */
	int (*run)(void *conn, int id, const struct mg_sql_params *p, uint64_t *changed);
	/* Runs id, which must change exactly one row: 0 or -ENOENT. */
	int (*run_one)(void *conn, int id, const struct mg_sql_params *p);
	/* Runs the INSERT id: the new row's id, or -ENOENT when it inserted nothing (a conflict
	 * the statement ignores). */
	int (*insert)(void *conn, int id, const struct mg_sql_params *p, int64_t *new_id);
	/* Runs the query id; row(r, ctx) for each row until it returns non-zero: that value, 0
	 * after the last row, or an error. */
	int (*rows)(void *conn, int id, const struct mg_sql_params *p,
	            int (*row)(const struct mg_row *r, void *ctx), void *ctx);
};
struct mg_sql {
	const struct mg_sql_ops *ops;
	void *conn;
};
typedef int (*mg_sql_fn)(const struct mg_sql *db, void *job);

/* ---- store_sql.c: helpers of the shared operations ---- */
/* mg_store_ops.write / read of s. */
int mg_sql_write(struct mg_store *s, mg_sql_fn fn, void *job);
int mg_sql_read(struct mg_store *s, mg_sql_fn fn, void *job);
/* A read of one statement on a pooled connection; returns like mg_sql_ops.rows. */
int mg_sql_query(struct mg_store *s, int id, const struct mg_sql_params *p,
                 int (*row)(const struct mg_row *r, void *ctx), void *ctx);
/* Records an admin action (its event row, then its action row) inside db's transaction, with
 * target completed by new_id; nothing when act is NULL. */
int mg_sql_log_action(const struct mg_sql *db, struct mg_store_action *act, int64_t new_id);

/* ---- store_sql_hosts.c, store_sql_admin.c, store_sql_policy.c: the shared operations, with
 * the arguments store.c has checked (see store.h for each) ---- */
int mg_sql_token_add(struct mg_store *s, struct mg_store_action *act, const char *hash,
                     int64_t expires_us, uint32_t uses, int64_t now_us);
int mg_sql_token_consume(struct mg_store *s, const char *hash, int64_t now_us);
int mg_sql_host_add(struct mg_store *s, const char *hostname, const char *cert_serial,
                    int64_t now_us, int64_t *id_out);
int mg_sql_host_get(struct mg_store *s, int64_t id, const char *cert_serial,
                    struct mg_store_host *out);
int mg_sql_host_revoke(struct mg_store *s, struct mg_store_action *act, int64_t id);
int mg_sql_host_heartbeat(struct mg_store *s, int64_t id, int64_t now_us, uint64_t spool_depth,
                          int64_t oldest_unsent_us, uint64_t policy_version,
                          const char *agent_version);
int mg_sql_host_policy_applied(struct mg_store *s, int64_t id, uint64_t version, int64_t now_us);
int mg_sql_host_foreach(struct mg_store *s, int (*cb)(void *, const struct mg_store_host *),
                        void *ctx);
int mg_sql_alerts_count(struct mg_store *s, int64_t host_id, uint64_t *out);
int mg_sql_alerts_foreach(struct mg_store *s, int64_t host_id, int64_t after_id, uint32_t limit,
                          int (*cb)(void *, const struct mg_store_alert *), void *ctx);
int mg_sql_devices_foreach(struct mg_store *s, int64_t id, int64_t after_id, uint32_t limit,
                           int (*cb)(void *, const struct mg_store_device *), void *ctx);

int mg_sql_admin_log(struct mg_store *s, struct mg_store_action *act);
int mg_sql_admin_actions_foreach(struct mg_store *s, int64_t after_id, uint32_t limit,
                                 int (*cb)(void *, const struct mg_store_admin_action *),
                                 void *ctx);
int mg_sql_admin_add(struct mg_store *s, struct mg_store_action *act, const char *name,
                     const char *password_hash, enum mg_admin_role role, int64_t now_us,
                     int64_t *id_out);
/* by name when name != NULL, else by id. */
int mg_sql_admin_get(struct mg_store *s, const char *name, int64_t id, struct mg_store_admin *out);
/* Changes one of: password_hash (!= NULL), role (> 0), disabled (>= 0). */
int mg_sql_admin_update(struct mg_store *s, struct mg_store_action *act, int64_t id,
                        const char *password_hash, int role, int disabled);
int mg_sql_admins_foreach(struct mg_store *s, int (*cb)(void *, const struct mg_store_admin *),
                          void *ctx);
int mg_sql_session_add(struct mg_store *s, const char *hash, int64_t admin_id, int64_t now_us,
                       int64_t expires_us);
int mg_sql_session_get(struct mg_store *s, const char *hash, struct mg_store_admin *admin,
                       int64_t *expires_us);
int mg_sql_session_extend(struct mg_store *s, const char *hash, int64_t expires_us);
int mg_sql_session_delete(struct mg_store *s, const char *hash);
int mg_sql_sessions_purge(struct mg_store *s, int64_t now_us, uint64_t *deleted);
/* Locks (lock) or unlocks account id; -EALREADY when it already is, -ENOENT for no such id. */
int mg_sql_admin_lock(struct mg_store *s, struct mg_store_action *act, int64_t id, bool lock,
                      int64_t now_us);
/* 0 and *locked_us (optional) when account id is locked, -ENOENT when not. */
int mg_sql_admin_locked(struct mg_store *s, int64_t id, int64_t *locked_us);
/* One more consecutive failed login of account id (*failures: the count), or none (good). */
int mg_sql_admin_login_failed(struct mg_store *s, int64_t id, int64_t now_us, int64_t forget_us,
                              uint32_t *failures);
int mg_sql_admin_login_ok(struct mg_store *s, int64_t id);

int mg_sql_rule_add(struct mg_store *s, struct mg_store_action *act, const char *text,
                    int64_t host_id, int64_t expires_us, const char *comment, int64_t now_us,
                    int64_t *id_out);
int mg_sql_rule_remove(struct mg_store *s, struct mg_store_action *act, int64_t id);
int mg_sql_rules_foreach(struct mg_store *s, int64_t host_id, int64_t now_us,
                         int (*cb)(void *, const struct mg_store_rule *), void *ctx);
int mg_sql_rules_revision(struct mg_store *s, uint64_t *out);
int mg_sql_policy_add(struct mg_store *s, struct mg_store_action *act, uint64_t version,
                      uint64_t rules_revision, const char *json, size_t json_len,
                      const uint8_t *sig, size_t sig_len, int64_t now_us);
int mg_sql_policy_latest(struct mg_store *s, uint64_t *version);
int mg_sql_policy_get(struct mg_store *s, uint64_t version, struct mg_store_policy **out);
int mg_sql_request_add(struct mg_store *s, const struct mg_store_request *r, int64_t now_us,
                       int64_t *id_out);
int mg_sql_requests_foreach(struct mg_store *s, int64_t id, int state, int64_t after_id,
                            uint32_t limit, int (*cb)(void *, const struct mg_store_request *),
                            void *ctx);
/* approve when rule_text != NULL, else deny. */
int mg_sql_request_decide(struct mg_store *s, struct mg_store_action *act, int64_t id,
                          const char *rule_text, int64_t rule_host_id, int64_t expires_us,
                          const char *note, int64_t now_us, int64_t *rule_id_out);

/* store_sql_staff.c: the staff registry (store.h) */
int mg_sql_staff_add(struct mg_store *s, struct mg_store_action *act, const char *login,
                     const char *display_name, const char *department, int64_t now_us,
                     int64_t *id_out);
int mg_sql_staff_foreach(struct mg_store *s, int64_t id, const char *login,
                         int (*cb)(void *, const struct mg_store_staff *), void *ctx);
int mg_sql_staff_set_disabled(struct mg_store *s, struct mg_store_action *act, int64_t id,
                              bool disabled, int64_t now_us);
int mg_sql_staff_unlock(struct mg_store *s, struct mg_store_action *act, int64_t id,
                        int64_t now_us);
int mg_sql_staff_key_add(struct mg_store *s, const struct mg_store_staff_key *k, int64_t now_us,
                         int64_t *id_out, bool *created);
int mg_sql_staff_keys_foreach(struct mg_store *s, int64_t id, int64_t staff_id, const char *state,
                              int (*cb)(void *, const struct mg_store_staff_key *), void *ctx);
int mg_sql_staff_key_decide(struct mg_store *s, struct mg_store_action *act, int64_t id,
                            enum mg_staff_key_state to, int64_t now_us);

#endif
