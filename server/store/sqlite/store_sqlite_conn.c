/*
 * SQLite backend: one connection and its statements. Every SQL statement of the backend is
 * listed once, here (sq_sql[]); each connection prepares a statement the first time it needs
 * it and keeps it (SQLITE_PREPARE_PERSISTENT). The column lists are the row layer's
 * (store/store_row.h).
 */
#include "store_sqlite.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_row.h"
#include "store_schema.h"

#define BUSY_TIMEOUT_MS 5000

/* Every SQL statement of the backend except the schema and the event filters. */
static const char *const sq_sql[SQ_NSTMT] = {
    [SQ_BEGIN] = "BEGIN IMMEDIATE",
    [SQ_COMMIT] = "COMMIT",
    [SQ_ROLLBACK] = "ROLLBACK",
    [SQ_SAVEPOINT] = "SAVEPOINT job",
    [SQ_RELEASE] = "RELEASE job",
    [SQ_ROLLBACK_TO] = "ROLLBACK TO job",
    [MG_SQL_META_GET] = "SELECT value FROM meta WHERE key = ?1",
    [MG_SQL_RULES_REV_BUMP] = "UPDATE meta SET value = value + 1 WHERE key = 'rules_revision'",
    [MG_SQL_ACTION_INSERT] = "INSERT INTO admin_actions(time_us, admin, action, target, remote,"
                             " detail, event_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [MG_SQL_OWN_EVENT_INSERT] = "INSERT INTO events(host_id, time_us, type, username, json,"
                                " received_us) VALUES (?1, ?2, ?3, ?4, ?5, ?2)",
    [MG_SQL_ACTIONS_LIST] = "SELECT " MG_ROW_ACTION_COLS " WHERE id > ?1 ORDER BY id LIMIT ?2",
    [MG_SQL_TOKEN_ADD] = "INSERT INTO tokens(hash, expires_us, uses_left, created_us)"
                         " VALUES (?1, ?2, ?3, ?4)",
    [MG_SQL_TOKEN_USE] = "UPDATE tokens SET uses_left = uses_left - 1"
                         " WHERE hash = ?1 AND uses_left > 0 AND expires_us > ?2",
    [MG_SQL_TOKEN_GET] = "SELECT expires_us, uses_left FROM tokens WHERE hash = ?1",
    [MG_SQL_HOST_ADD] = "INSERT INTO hosts(hostname, cert_serial, enrolled_us) VALUES (?1, ?2, ?3)",
    [MG_SQL_HOST_GET] = "SELECT " MG_ROW_HOST_COLS " WHERE id = ?1",
    [MG_SQL_HOST_BY_CERT] = "SELECT " MG_ROW_HOST_COLS " WHERE cert_serial = ?1",
    [MG_SQL_HOST_LIST] = "SELECT " MG_ROW_HOST_COLS " ORDER BY id",
    [MG_SQL_HOST_REVOKE] = "UPDATE hosts SET revoked = 1 WHERE id = ?1",
    [MG_SQL_HOST_HEARTBEAT] = "UPDATE hosts SET last_seen_us = max(last_seen_us, ?2),"
                              " spool_depth = ?3, oldest_unsent_us = ?4, policy_version = ?5,"
                              " agent_version = ?6 WHERE id = ?1",
    [MG_SQL_HOST_STATE] = "SELECT revoked FROM hosts WHERE id = ?1",
    [MG_SQL_HOST_SEEN] = "UPDATE hosts SET last_seen_us = max(last_seen_us, ?2) WHERE id = ?1",
    [MG_SQL_HOST_APPLIED] = "UPDATE hosts SET last_seen_us = max(last_seen_us, ?2),"
                            " policy_version = ?3 WHERE id = ?1",
    [MG_SQL_STREAM_GET] = "SELECT id, last_seq, last_hash FROM streams"
                          " WHERE host_id = ?1 AND boot_id = ?2",
    [MG_SQL_STREAM_ADD] = "INSERT INTO streams(host_id, boot_id, last_seq, last_hash, updated_us)"
                          " VALUES (?1, ?2, 0, '', ?3)",
    [MG_SQL_STREAM_SET] = "UPDATE streams SET last_seq = ?2, last_hash = ?3, updated_us = ?4"
                          " WHERE id = ?1",
    [MG_SQL_EVENTS_RANGE] = "SELECT seq, hash, prev_hash, json FROM events"
                            " WHERE stream_id = ?1 AND seq BETWEEN ?2 AND ?3 ORDER BY seq",
    [SQ_EVENT_INSERT] = mg_store_sqlite_event_insert,
    [SQ_HOST_NAME] = "SELECT hostname FROM hosts WHERE id = ?1",
    [SQ_HOST_OTHER] = "SELECT id FROM hosts WHERE hostname = ?1 AND id <> ?2 ORDER BY id LIMIT 1",
    [SQ_CLAIM_ADD] = "INSERT INTO host_claims(host_id, name, claimed_host_id, first_us)"
                     " VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
    [MG_SQL_DEVICE_UPSERT] =
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
    [MG_SQL_ALERT_INSERT] = "INSERT INTO alerts(host_id, boot_id, seq, kind, time_us, evidence)"
                            " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [MG_SQL_ALERTS_COUNT] = "SELECT count(*) FROM alerts WHERE ?1 = 0 OR host_id = ?1",
    [MG_SQL_ALERTS_LIST] = "SELECT " MG_ROW_ALERT_COLS
                           " WHERE (?1 = 0 OR host_id = ?1) AND id > ?2 ORDER BY id LIMIT ?3",
    [MG_SQL_DEVICES_LIST] =
        "SELECT " MG_ROW_DEVICE_COLS " WHERE (?1 = 0 OR id = ?1) AND id > ?2 ORDER BY id LIMIT ?3",
    [MG_SQL_RULE_ADD] = "INSERT INTO rules(text, host_id, expires_us, created_us, created_by,"
                        " request_id, comment) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [MG_SQL_RULE_DEL] = "DELETE FROM rules WHERE id = ?1",
    [MG_SQL_RULES_LIST] =
        "SELECT " MG_ROW_RULE_COLS " WHERE (?1 = 0 OR host_id = 0 OR host_id = ?1)"
        " AND (?2 = 0 OR expires_us = 0 OR expires_us > ?2) ORDER BY id",
    [MG_SQL_POLICY_ADD] = "INSERT INTO policies(version, rules_revision, created_us, json, sig)"
                          " SELECT ?1, ?2, ?3, ?4, ?5"
                          " WHERE ?1 > (SELECT coalesce(max(version), 0) FROM policies)",
    [MG_SQL_POLICY_LATEST] = "SELECT coalesce(max(version), 0) FROM policies",
    [MG_SQL_POLICY_GET] = "SELECT " MG_ROW_POLICY_COLS " WHERE version = CASE WHEN ?1 = 0"
                          " THEN (SELECT max(version) FROM policies) ELSE ?1 END",
    [MG_SQL_REQ_ADD] = "INSERT INTO requests(host_id, request_id, username, vendor_id, product_id,"
                       " serial, name, hash, reason, created_us)"
                       " SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10"
                       " WHERE (SELECT count(*) FROM requests WHERE host_id = ?1 AND state = 0)"
                       " < ?11 ON CONFLICT (host_id, request_id) DO NOTHING",
    [MG_SQL_REQ_FIND] = "SELECT id, username, vendor_id, product_id, serial, name, hash, reason"
                        " FROM requests WHERE host_id = ?1 AND request_id = ?2",
    /* One writer: nothing to lock (the statement only finds the host). */
    [MG_SQL_HOST_LOCK] = "SELECT id FROM hosts WHERE id = ?1",
    [MG_SQL_REQ_LIST] =
        "SELECT " MG_ROW_REQUEST_COLS " WHERE (?1 = 0 OR id = ?1) AND (?2 < 0 OR state = ?2)"
        " AND id > ?3 ORDER BY id LIMIT ?4",
    [MG_SQL_REQ_DECIDE] = "UPDATE requests SET state = ?2, decided_us = ?3, decided_by = ?4,"
                          " note = ?5, rule_id = ?6 WHERE id = ?1 AND state = 0",
    [MG_SQL_REQ_STATE] = "SELECT state FROM requests WHERE id = ?1",
    [MG_SQL_ADMIN_ADD] = "INSERT INTO admins(name, password_hash, role, created_us)"
                         " VALUES (?1, ?2, ?3, ?4)",
    [MG_SQL_ADMIN_GET_NAME] = "SELECT " MG_ROW_ADMIN_COLS " WHERE name = ?1",
    [MG_SQL_ADMIN_GET_ID] = "SELECT " MG_ROW_ADMIN_COLS " WHERE id = ?1",
    [MG_SQL_ADMIN_LIST] = "SELECT " MG_ROW_ADMIN_COLS " ORDER BY id",
    [MG_SQL_ADMIN_SET_PW] = "UPDATE admins SET password_hash = ?2 WHERE id = ?1",
    [MG_SQL_ADMIN_SET_ROLE] = "UPDATE admins SET role = ?2 WHERE id = ?1",
    [MG_SQL_ADMIN_SET_DISABLED] = "UPDATE admins SET disabled = ?2 WHERE id = ?1",
    [MG_SQL_SESSIONS_DEL_ADMIN] = "DELETE FROM sessions WHERE admin_id = ?1",
    [MG_SQL_SESSION_ADD] =
        "INSERT INTO sessions(token_hash, admin_id, created_us, expires_us)"
        " SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM admins WHERE id = ?2)",
    [MG_SQL_SESSION_GET] = "SELECT " MG_ROW_SESSION_COLS " WHERE s.token_hash = ?1",
    [MG_SQL_SESSION_EXTEND] = "UPDATE sessions SET expires_us = ?2 WHERE token_hash = ?1",
    [MG_SQL_SESSION_DEL] = "DELETE FROM sessions WHERE token_hash = ?1",
    [MG_SQL_SESSION_PURGE] = "DELETE FROM sessions WHERE expires_us <= ?1",
    [MG_SQL_ADMIN_LOCK] = "INSERT INTO admin_locks(admin_id, locked_us)"
                          " SELECT id, ?2 FROM admins WHERE id = ?1"
                          " ON CONFLICT (admin_id) DO NOTHING",
    [MG_SQL_ADMIN_UNLOCK] = "DELETE FROM admin_locks WHERE admin_id = ?1",
    [MG_SQL_ADMIN_LOCKED] = "SELECT locked_us FROM admin_locks WHERE admin_id = ?1",
    [MG_SQL_ADMIN_FAILED] =
        "INSERT INTO admin_failures(admin_id, failures, last_us) VALUES (?1, 1, ?2)"
        " ON CONFLICT (admin_id) DO UPDATE SET failures = CASE WHEN admin_failures.last_us <"
        " ?2 - ?3 THEN 1 ELSE admin_failures.failures + 1 END, last_us = ?2"
        " RETURNING failures",
    [MG_SQL_ADMIN_FAILS_CLEAR] = "DELETE FROM admin_failures WHERE admin_id = ?1",
    [MG_SQL_STAFF_ADD] =
        "INSERT INTO staff(login, display_name, department, created_us, updated_us)"
        " VALUES (?1, ?2, ?3, ?4, ?4)",
    [MG_SQL_STAFF_LIST] =
        "SELECT " MG_ROW_STAFF_COLS " WHERE (?1 = 0 OR id = ?1) AND (?2 = '' OR login = ?2)"
        " ORDER BY id",
    [MG_SQL_STAFF_SET_STATE] =
        "UPDATE staff SET state = ?2, updated_us = ?3 WHERE id = ?1 AND state <> ?2",
    [MG_SQL_STAFF_UNLOCK] = "UPDATE staff SET unlocked_us = ?2, updated_us = ?2 WHERE id = ?1",
    [MG_SQL_STAFF_KEY_ADD] =
        "INSERT INTO staff_keys(staff_id, credential_id, public_key, cose_alg, rp_id, uv,"
        " aaguid, attestation_fmt, attestation_subject, label, registered_by_host,"
        " registration_id, state, created_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
        " ?10, ?11, ?12, 'pending', ?13)",
    [MG_SQL_STAFF_KEY_FIND] = "SELECT " MG_ROW_STAFF_KEY_COLS
                              " WHERE k.registered_by_host = ?1 AND k.registration_id = ?2",
    [MG_SQL_STAFF_KEYS_PENDING_OF_HOST] =
        "SELECT count(*) FROM staff_keys WHERE registered_by_host = ?1 AND state = 'pending'",
    [MG_SQL_STAFF_KEYS_LIST] = "SELECT " MG_ROW_STAFF_KEY_COLS
                               " WHERE (?1 = 0 OR k.id = ?1) AND (?2 = 0 OR k.staff_id = ?2)"
                               " AND (?3 = '' OR k.state = ?3) ORDER BY k.id",
    [MG_SQL_STAFF_KEY_DECIDE] = "UPDATE staff_keys SET state = ?2, decided_by = ?3, decided_us = ?4"
                                " WHERE id = ?1 AND (state = ?5 OR state = ?6)",
    [MG_SQL_STAFF_KEYS_ACTIVE] =
        "SELECT count(*) FROM staff_keys WHERE state = 'active' AND staff_id ="
        " (SELECT staff_id FROM staff_keys WHERE id = ?1)",
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

sqlite3_stmt *sq_stmt(struct sq_conn *c, int id, int *err)
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
	char sql[768];
	/* A time range without a host: one range of events_host_time per host (and one for the
	 * collector's own events, host NULL); events are not indexed by time alone (docs/
	 * ARCHITECTURE.md, "Why events have no index on time alone"). */
	const char *host = mask & SQ_F_HOST ? " AND host_id = ?2"
	                   : mask & (SQ_F_FROM | SQ_F_TO)
	                       ? " AND (host_id IN (SELECT id FROM hosts) OR host_id IS NULL)"
	                       : "";
	snprintf(
	    sql, sizeof(sql), "SELECT %s FROM events WHERE id > ?1%s%s%s%s%s%s%s",
	    mask & SQ_F_COUNT ? "count(*)"
	                      : "id, coalesce(host_id, 0), json,"
	                        " (SELECT hostname FROM hosts WHERE hosts.id = events.host_id)",
	    host, mask & SQ_F_TYPE ? " AND type = ?3" : "",
	    mask & SQ_F_USER ? " AND username = ?4" : "",
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

int sq_run(struct sq_conn *c, int id)
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

static int64_t row_i64(const struct mg_row *r, int col)
{
	return sqlite3_column_int64((sqlite3_stmt *)(uintptr_t)r->res, col);
}

static const char *row_text(const struct mg_row *r, int col, size_t *len)
{
	sqlite3_stmt *st = (sqlite3_stmt *)(uintptr_t)r->res;
	const char *t = (const char *)sqlite3_column_text(st, col);
	if (len)
		*len = t ? (size_t)sqlite3_column_bytes(st, col) : 0;
	return t;
}

static int row_blob(const struct mg_row *r, int col, uint8_t **out, size_t *len)
{
	sqlite3_stmt *st = (sqlite3_stmt *)(uintptr_t)r->res;
	const void *b = sqlite3_column_blob(st, col);
	size_t n = (size_t)sqlite3_column_bytes(st, col);
	uint8_t *p = malloc(n ? n : 1);
	if (!p)
		return -ENOMEM;
	if (n)
		memcpy(p, b, n);
	*out = p;
	*len = n;
	return 0;
}

const struct mg_row_ops sq_row_ops = {row_i64, row_text, row_blob};

/* ---- the primitives of store_sql.h ---- */

/* The cached statement id with p bound; NULL with *err (0: a statement without text). */
static sqlite3_stmt *bound(struct sq_conn *c, int id, const struct mg_sql_params *p, int *err)
{
	*err = id < 0 || id >= SQ_NSTMT ? -EINVAL : 0;
	if (*err < 0 || !sq_sql[id])
		return NULL;
	sqlite3_stmt *st = sq_stmt(c, id, err);
	if (!st)
		return NULL;
	int n = p ? p->n : 0;
	if (n > MG_SQL_MAX_PARAMS) {
		*err = -E2BIG;
		return NULL;
	}
	sqlite3_clear_bindings(st);
	for (int i = 0; i < n; i++) {
		const struct mg_sql_param *x = &p->v[i];
		int rc;
		switch (x->kind) {
		case MG_SQL_INT:
			rc = sqlite3_bind_int64(st, i + 1, x->i);
			break;
		case MG_SQL_TEXT:
			rc = sqlite3_bind_text(st, i + 1, x->p, -1, SQLITE_STATIC);
			break;
		case MG_SQL_BLOB:
			rc = sqlite3_bind_blob64(st, i + 1, x->p, x->len, SQLITE_STATIC);
			break;
		default:
			rc = sqlite3_bind_null(st, i + 1);
			break;
		}
		if (rc != SQLITE_OK) {
			*err = sq_err(rc) ? sq_err(rc) : -EIO;
			return NULL;
		}
	}
	return st;
}

static int sql_run(void *conn, int id, const struct mg_sql_params *p, uint64_t *changed)
{
	struct sq_conn *c = conn;
	int r;
	sqlite3_stmt *st = bound(c, id, p, &r);
	if (!st)
		return r;
	r = sq_step_done(st);
	if (r == 0 && changed)
		*changed = (uint64_t)sqlite3_changes(c->db);
	return r;
}

static int sql_run_one(void *conn, int id, const struct mg_sql_params *p)
{
	struct sq_conn *c = conn;
	int r;
	sqlite3_stmt *st = bound(c, id, p, &r);
	if (!st)
		return r ? r : -EINVAL;
	return sq_step_one(c, st);
}

static int sql_insert(void *conn, int id, const struct mg_sql_params *p, int64_t *new_id)
{
	struct sq_conn *c = conn;
	int r;
	sqlite3_stmt *st = bound(c, id, p, &r);
	if (!st)
		return r ? r : -EINVAL;
	r = sq_step_done(st);
	if (r < 0)
		return r;
	if (sqlite3_changes(c->db) != 1)
		return -ENOENT; /* the conflict the statement ignores */
	*new_id = sqlite3_last_insert_rowid(c->db);
	return 0;
}

static int sql_rows(void *conn, int id, const struct mg_sql_params *p,
                    int (*row)(const struct mg_row *r, void *ctx), void *ctx)
{
	struct sq_conn *c = conn;
	int r;
	sqlite3_stmt *st = bound(c, id, p, &r);
	if (!st)
		return r ? r : -EINVAL;
	struct mg_row rw = {&sq_row_ops, st, 0};
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = row(&rw, ctx);
		if (r != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = sq_err(rc) ? sq_err(rc) : -EIO;
	sqlite3_reset(st);
	return r;
}

const struct mg_sql_ops sq_sql_ops = {sql_run, sql_run_one, sql_insert, sql_rows};

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

int sq_conn_open(const char *path, int writer, struct sq_conn **out, char *errmsg, size_t errlen)
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

int sq_step_one(struct sq_conn *c, sqlite3_stmt *st)
{
	int r = sq_step_done(st);
	if (r == 0 && sqlite3_changes(c->db) == 0)
		r = -ENOENT;
	return r;
}
