/*
 * SQLite backend: connections, the statement table, the reader pool, open and close.
 *
 * One writer connection belongs to the writer thread (store_sqlite_writer.c); every change
 * runs there as a job inside a group transaction. Reads use a small pool of read-only
 * connections, which WAL lets run beside the writer. Each connection prepares a statement
 * the first time it needs it and keeps it (SQLITE_PREPARE_PERSISTENT).
 */
#include "store_sqlite.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_schema.h"

#define BUSY_TIMEOUT_MS 5000
#define POOL_WAIT_S     30
#define POOL_MAX        (sizeof(((struct sq_store *)0)->idle) / sizeof(struct sq_conn *))

#define HOST_COLS                                                                                  \
	"id, hostname, cert_serial, enrolled_us, last_seen_us, revoked, policy_version,"           \
	" spool_depth, oldest_unsent_us, agent_version FROM hosts"
#define ADMIN_COLS "id, name, password_hash, role, disabled, created_us FROM admins"
#define REQ_COLS                                                                                   \
	"id, request_id, host_id, username, vendor_id, product_id, serial, name, hash, reason,"    \
	" created_us, state, decided_us, decided_by, note, rule_id FROM requests"

/* Every SQL statement of the backend except the schema and the event filters. */
static const char *const sq_sql[SQ_NSTMT] = {
    [SQ_BEGIN] = "BEGIN IMMEDIATE",
    [SQ_COMMIT] = "COMMIT",
    [SQ_ROLLBACK] = "ROLLBACK",
    [SQ_SAVEPOINT] = "SAVEPOINT job",
    [SQ_RELEASE] = "RELEASE job",
    [SQ_ROLLBACK_TO] = "ROLLBACK TO job",
    [SQ_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [SQ_RULES_REV_BUMP] = "UPDATE meta SET value = value + 1 WHERE key = 'rules_revision'",
    [SQ_ACTION_INSERT] = "INSERT INTO admin_actions(time_us, admin, action, target, remote,"
                         " detail, event_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [SQ_OWN_EVENT_INSERT] = "INSERT INTO events(host_id, time_us, type, username, json,"
                            " received_us) VALUES (?1, ?2, ?3, ?4, ?5, ?2)",
    [SQ_ACTIONS_LIST] = "SELECT id, time_us, admin, action, target, remote, detail, event_id"
                        " FROM admin_actions WHERE id > ?1 ORDER BY id LIMIT ?2",
    [SQ_TOKEN_ADD] = "INSERT INTO tokens(hash, expires_us, uses_left, created_us)"
                     " VALUES (?1, ?2, ?3, ?4)",
    [SQ_TOKEN_USE] = "UPDATE tokens SET uses_left = uses_left - 1"
                     " WHERE hash = ?1 AND uses_left > 0 AND expires_us > ?2",
    [SQ_TOKEN_GET] = "SELECT expires_us, uses_left FROM tokens WHERE hash = ?1",
    [SQ_HOST_ADD] = "INSERT INTO hosts(hostname, cert_serial, enrolled_us) VALUES (?1, ?2, ?3)",
    [SQ_HOST_GET] = "SELECT " HOST_COLS " WHERE id = ?1",
    [SQ_HOST_BY_CERT] = "SELECT " HOST_COLS " WHERE cert_serial = ?1",
    [SQ_HOST_LIST] = "SELECT " HOST_COLS " ORDER BY id",
    [SQ_HOST_REVOKE] = "UPDATE hosts SET revoked = 1 WHERE id = ?1",
    [SQ_HOST_HEARTBEAT] = "UPDATE hosts SET last_seen_us = max(last_seen_us, ?2),"
                          " spool_depth = ?3, oldest_unsent_us = ?4, policy_version = ?5,"
                          " agent_version = ?6 WHERE id = ?1",
    [SQ_HOST_STATE] = "SELECT revoked FROM hosts WHERE id = ?1",
    [SQ_HOST_SEEN] = "UPDATE hosts SET last_seen_us = max(last_seen_us, ?2) WHERE id = ?1",
    [SQ_HOST_APPLIED] = "UPDATE hosts SET last_seen_us = max(last_seen_us, ?2),"
                        " policy_version = ?3 WHERE id = ?1",
    [SQ_STREAM_GET] = "SELECT id, last_seq, last_hash FROM streams"
                      " WHERE host_id = ?1 AND boot_id = ?2",
    [SQ_STREAM_ADD] = "INSERT INTO streams(host_id, boot_id, last_seq, last_hash, updated_us)"
                      " VALUES (?1, ?2, 0, '', ?3)",
    [SQ_STREAM_SET] = "UPDATE streams SET last_seq = ?2, last_hash = ?3, updated_us = ?4"
                      " WHERE id = ?1",
    [SQ_EVENTS_RANGE] = "SELECT seq, hash, prev_hash, json FROM events"
                        " WHERE stream_id = ?1 AND seq BETWEEN ?2 AND ?3 ORDER BY seq",
    [SQ_EVENT_INSERT] = mg_store_sqlite_event_insert,
    [SQ_DEVICE_UPSERT] =
        "INSERT INTO devices(vendor_id, product_id, serial, hash, name, first_seen_us,"
        " last_seen_us, first_host_id, last_host_id, sightings)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)"
        " ON CONFLICT (vendor_id, product_id, serial, hash) DO UPDATE SET"
        " sightings = sightings + excluded.sightings,"
        " name = CASE WHEN excluded.last_seen_us >= last_seen_us AND excluded.name <> ''"
        "  THEN excluded.name ELSE name END,"
        " last_host_id = CASE WHEN excluded.last_seen_us >= last_seen_us"
        "  THEN excluded.last_host_id ELSE last_host_id END,"
        " last_seen_us = max(last_seen_us, excluded.last_seen_us),"
        " first_host_id = CASE WHEN excluded.first_seen_us < first_seen_us"
        "  THEN excluded.first_host_id ELSE first_host_id END,"
        " first_seen_us = min(first_seen_us, excluded.first_seen_us)",
    [SQ_ALERT_INSERT] = "INSERT INTO alerts(host_id, boot_id, seq, kind, time_us, evidence)"
                        " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [SQ_ALERTS_COUNT] = "SELECT count(*) FROM alerts WHERE ?1 = 0 OR host_id = ?1",
    [SQ_ALERTS_LIST] = "SELECT id, host_id, boot_id, seq, kind, time_us, evidence FROM alerts"
                       " WHERE (?1 = 0 OR host_id = ?1) AND id > ?2 ORDER BY id LIMIT ?3",
    [SQ_DEVICES_LIST] = "SELECT id, vendor_id, product_id, serial, name, hash, first_seen_us,"
                        " last_seen_us, first_host_id, last_host_id, sightings FROM devices"
                        " WHERE (?1 = 0 OR id = ?1) AND id > ?2 ORDER BY id LIMIT ?3",
    [SQ_RULE_ADD] = "INSERT INTO rules(text, host_id, expires_us, created_us, created_by,"
                    " request_id, comment) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [SQ_RULE_DEL] = "DELETE FROM rules WHERE id = ?1",
    [SQ_RULES_LIST] = "SELECT id, text, host_id, expires_us, created_us, created_by,"
                      " request_id, comment FROM rules"
                      " WHERE (?1 = 0 OR host_id = 0 OR host_id = ?1)"
                      " AND (?2 = 0 OR expires_us = 0 OR expires_us > ?2) ORDER BY id",
    [SQ_POLICY_ADD] = "INSERT INTO policies(version, rules_revision, created_us, json, sig)"
                      " SELECT ?1, ?2, ?3, ?4, ?5"
                      " WHERE ?1 > (SELECT coalesce(max(version), 0) FROM policies)",
    [SQ_POLICY_LATEST] = "SELECT coalesce(max(version), 0) FROM policies",
    [SQ_POLICY_GET] = "SELECT version, rules_revision, created_us, json, sig FROM policies"
                      " WHERE version = CASE WHEN ?1 = 0"
                      " THEN (SELECT max(version) FROM policies) ELSE ?1 END",
    [SQ_REQ_ADD] = "INSERT INTO requests(host_id, request_id, username, vendor_id, product_id,"
                   " serial, name, hash, reason, created_us)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                   " ON CONFLICT (host_id, request_id) DO NOTHING",
    [SQ_REQ_FIND] = "SELECT id, username, vendor_id, product_id, serial, name, hash, reason"
                    " FROM requests WHERE host_id = ?1 AND request_id = ?2",
    [SQ_REQ_LIST] = "SELECT " REQ_COLS " WHERE (?1 = 0 OR id = ?1) AND (?2 < 0 OR state = ?2)"
                    " AND id > ?3 ORDER BY id LIMIT ?4",
    [SQ_REQ_DECIDE] = "UPDATE requests SET state = ?2, decided_us = ?3, decided_by = ?4,"
                      " note = ?5, rule_id = ?6 WHERE id = ?1 AND state = 0",
    [SQ_REQ_STATE] = "SELECT state FROM requests WHERE id = ?1",
    [SQ_ADMIN_ADD] = "INSERT INTO admins(name, password_hash, role, created_us)"
                     " VALUES (?1, ?2, ?3, ?4)",
    [SQ_ADMIN_GET_NAME] = "SELECT " ADMIN_COLS " WHERE name = ?1",
    [SQ_ADMIN_GET_ID] = "SELECT " ADMIN_COLS " WHERE id = ?1",
    [SQ_ADMIN_LIST] = "SELECT " ADMIN_COLS " ORDER BY id",
    [SQ_ADMIN_SET_PW] = "UPDATE admins SET password_hash = ?2 WHERE id = ?1",
    [SQ_ADMIN_SET_ROLE] = "UPDATE admins SET role = ?2 WHERE id = ?1",
    [SQ_ADMIN_SET_DISABLED] = "UPDATE admins SET disabled = ?2 WHERE id = ?1",
    [SQ_SESSIONS_DEL_ADMIN] = "DELETE FROM sessions WHERE admin_id = ?1",
    [SQ_SESSION_ADD] = "INSERT INTO sessions(token_hash, admin_id, created_us, expires_us)"
                       " SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM admins WHERE id = ?2)",
    [SQ_SESSION_GET] = "SELECT a.id, a.name, a.password_hash, a.role, a.disabled,"
                       " a.created_us, s.expires_us FROM sessions s"
                       " JOIN admins a ON a.id = s.admin_id WHERE s.token_hash = ?1",
    [SQ_SESSION_EXTEND] = "UPDATE sessions SET expires_us = ?2 WHERE token_hash = ?1",
    [SQ_SESSION_DEL] = "DELETE FROM sessions WHERE token_hash = ?1",
    [SQ_SESSION_PURGE] = "DELETE FROM sessions WHERE expires_us <= ?1",
};

int sq_err(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -ETIMEDOUT;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_CONSTRAINT:
		return rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY
		           ? -EEXIST
		           : -EINVAL;
	case SQLITE_TOOBIG:
		return -EFBIG;
	default:
		return -EIO;
	}
}

sqlite3_stmt *sq_stmt(struct sq_conn *c, enum sq_stmt_id id, int *err)
{
	if (!c->st[id]) {
		int rc = sqlite3_prepare_v3(c->db, sq_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
		                            &c->st[id], NULL);
		if (rc != SQLITE_OK) {
			*err = sq_err(rc) ? sq_err(rc) : -EIO;
			c->st[id] = NULL;
			return NULL;
		}
	}
	return c->st[id];
}

sqlite3_stmt *sq_events_stmt(struct sq_conn *c, unsigned mask, int *err)
{
	if (mask >= SQ_NFILTER) {
		*err = -EINVAL;
		return NULL;
	}
	if (c->evq[mask])
		return c->evq[mask];
	char sql[512];
	/* A time range without a host: one range of events_host_time per host (and one for the
	 * collector's own events, host NULL); events are not indexed by time alone (docs/
	 * ARCHITECTURE.md, "Why events have no index on time alone"). */
	const char *host = mask & SQ_F_HOST ? " AND host_id = ?2"
	                   : mask & (SQ_F_FROM | SQ_F_TO)
	                       ? " AND (host_id IN (SELECT id FROM hosts) OR host_id IS NULL)"
	                       : "";
	snprintf(
	    sql, sizeof(sql), "SELECT %s FROM events WHERE id > ?1%s%s%s%s%s%s%s",
	    mask & SQ_F_COUNT ? "count(*)" : "id, coalesce(host_id, 0), json", host,
	    mask & SQ_F_TYPE ? " AND type = ?3" : "", mask & SQ_F_USER ? " AND username = ?4" : "",
	    mask & SQ_F_SERIAL ? " AND device_serial = ?5" : "",
	    mask & SQ_F_FROM ? " AND time_us >= ?6" : "", mask & SQ_F_TO ? " AND time_us < ?7" : "",
	    mask & SQ_F_COUNT ? "" : " ORDER BY id LIMIT ?8");
	int rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->evq[mask], NULL);
	if (rc != SQLITE_OK) {
		*err = sq_err(rc) ? sq_err(rc) : -EIO;
		c->evq[mask] = NULL;
		return NULL;
	}
	return c->evq[mask];
}

int sq_step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	return rc == SQLITE_ROW ? -EIO : (sq_err(rc) ? sq_err(rc) : -EIO);
}

int sq_run(struct sq_conn *c, enum sq_stmt_id id)
{
	int r = 0;
	sqlite3_stmt *st = sq_stmt(c, id, &r);
	return st ? sq_step_done(st) : r;
}

int sq_bind_text(sqlite3_stmt *st, int i, const char *s)
{
	int rc =
	    s && *s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
	return rc == SQLITE_OK ? 0 : sq_err(rc);
}

void sq_col_copy(sqlite3_stmt *st, int i, char *dst, size_t size)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	snprintf(dst, size, "%s", t ? (const char *)t : "");
}

void sq_conn_free(struct sq_conn **c)
{
	if (!c || !*c)
		return;
	for (size_t i = 0; i < SQ_NSTMT; i++)
		sqlite3_finalize((*c)->st[i]);
	for (size_t i = 0; i < SQ_NFILTER; i++)
		sqlite3_finalize((*c)->evq[i]);
	sqlite3_close_v2((*c)->db);
	free(*c);
	*c = NULL;
}

static int pragma(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Opens a connection with the durability settings; writer: read-write + create. */
static int conn_open(const char *path, int writer, struct sq_conn **out, char *errmsg,
                     size_t errlen)
{
	int r = -ENOMEM;
	struct sq_conn *c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE | SQLITE_OPEN_NOFOLLOW |
	            (writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READWRITE);
	int rc = sqlite3_open_v2(path, &c->db, flags, NULL);
	if (rc != SQLITE_OK) {
		snprintf(errmsg, errlen, "%s: %s", path,
		         c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		r = rc == SQLITE_CANTOPEN ? -ENOENT : -EIO; /* a symlink is CANTOPEN too */
		goto fail;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
	if (pragma(c->db, "PRAGMA journal_mode=WAL") != SQLITE_OK ||
	    pragma(c->db, "PRAGMA synchronous=FULL") != SQLITE_OK ||
	    pragma(c->db, writer ? "PRAGMA cache_size=-8192" : "PRAGMA query_only=1") !=
	        SQLITE_OK ||
	    (writer && pragma(c->db, "PRAGMA journal_size_limit=67108864") != SQLITE_OK)) {
		snprintf(errmsg, errlen, "%s: %s", path, sqlite3_errmsg(c->db));
		r = -EIO;
		goto fail;
	}
	*out = c;
	c = NULL;
	r = 0;
fail:
	sq_conn_free(&c);
	return r;
}

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
	r = conn_open(st->path, 0, out, msg, sizeof(msg));
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
int sq_step_one(struct sq_conn *c, sqlite3_stmt *st)
{
	int r = sq_step_done(st);
	if (r == 0 && sqlite3_changes(c->db) == 0)
		r = -ENOENT;
	return r;
}

/* Runs a reader query: bind(st, ctx) then row(st, ctx) per row until it returns non-zero. */
int sq_read_rows(struct mg_store *s, enum sq_stmt_id id, void (*bind)(sqlite3_stmt *, void *),
                 int (*row)(sqlite3_stmt *, void *), void *ctx)
{
	struct sq_store *sst = (struct sq_store *)s;
	struct sq_conn *c = NULL;
	int r = sq_reader_get(sst, &c);
	if (r < 0)
		return r;
	sqlite3_stmt *st = sq_stmt(c, id, &r);
	if (st) {
		if (bind)
			bind(st, ctx);
		int rc;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			r = row(st, ctx);
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
	r = conn_open(path, 1, &wc, errmsg, errlen);
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
