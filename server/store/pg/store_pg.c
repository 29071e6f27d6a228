/*
 * PostgreSQL backend: the statement table, the connection pool, transactions, open and
 * close. Statements are prepared per connection on first use (named "s<id>"), parameters go
 * as text (bytea as binary), results come back as text.
 */
#include "store_pg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_row.h"
#include "store_schema.h"

#define POOL_WAIT_S 30
#define TX_ATTEMPTS 5
#define SCHEMA_LOCK "SELECT pg_advisory_xact_lock(7283901)" /* any constant, all collectors */

/* Every SQL statement of the backend except the schema and the event filters. */
static const char *const pg_sql[PG_NSTMT] = {
    [MG_SQL_META_GET] = "SELECT value FROM meta WHERE key = $1::text",
    [MG_SQL_RULES_REV_BUMP] = "UPDATE meta SET value = value + 1 WHERE key = 'rules_revision'",
    [MG_SQL_ACTION_INSERT] = "INSERT INTO admin_actions(time_us, admin, action, target, remote,"
                             " detail, event_id) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    [MG_SQL_OWN_EVENT_INSERT] = "INSERT INTO events(host_id, time_us, type, username, json,"
                                " received_us) VALUES ($1, $2, $3, $4, $5, $2) RETURNING id",
    [MG_SQL_ACTIONS_LIST] = "SELECT " MG_ROW_ACTION_COLS " WHERE id > $1 ORDER BY id LIMIT $2",
    [MG_SQL_TOKEN_ADD] = "INSERT INTO tokens(hash, expires_us, uses_left, created_us)"
                         " VALUES ($1, $2, $3, $4)",
    [MG_SQL_TOKEN_USE] = "UPDATE tokens SET uses_left = uses_left - 1"
                         " WHERE hash = $1 AND uses_left > 0 AND expires_us > $2",
    [MG_SQL_TOKEN_GET] = "SELECT expires_us, uses_left FROM tokens WHERE hash = $1",
    [MG_SQL_HOST_ADD] = "INSERT INTO hosts(hostname, cert_serial, enrolled_us) VALUES ($1, $2, $3)"
                        " RETURNING id",
    [MG_SQL_HOST_GET] = "SELECT " MG_ROW_HOST_COLS " WHERE id = $1",
    [MG_SQL_HOST_BY_CERT] = "SELECT " MG_ROW_HOST_COLS " WHERE cert_serial = $1",
    [MG_SQL_HOST_LIST] = "SELECT " MG_ROW_HOST_COLS " ORDER BY id",
    [MG_SQL_HOST_REVOKE] = "UPDATE hosts SET revoked = true WHERE id = $1",
    [MG_SQL_HOST_HEARTBEAT] = "UPDATE hosts SET last_seen_us = GREATEST(last_seen_us, $2),"
                              " spool_depth = $3, oldest_unsent_us = $4, policy_version = $5,"
                              " agent_version = $6 WHERE id = $1",
    [MG_SQL_HOST_STATE] = "SELECT revoked FROM hosts WHERE id = $1",
    [MG_SQL_HOST_SEEN] = "UPDATE hosts SET last_seen_us = GREATEST(last_seen_us, $2) WHERE id = $1",
    [MG_SQL_HOST_APPLIED] = "UPDATE hosts SET last_seen_us = GREATEST(last_seen_us, $2),"
                            " policy_version = $3 WHERE id = $1",
    [PG_STREAM_LOCK] = "SELECT id, last_seq, last_hash FROM streams"
                       " WHERE host_id = $1 AND boot_id = $2 FOR UPDATE",
    [MG_SQL_STREAM_ADD] = "INSERT INTO streams(host_id, boot_id, last_seq, last_hash, updated_us)"
                          " VALUES ($1, $2, 0, '', $3) ON CONFLICT (host_id, boot_id) DO NOTHING",
    [MG_SQL_STREAM_SET] = "UPDATE streams SET last_seq = $2, last_hash = $3, updated_us = $4"
                          " WHERE id = $1",
    [MG_SQL_STREAM_GET] = "SELECT last_seq FROM streams WHERE host_id = $1 AND boot_id = $2",
    [MG_SQL_EVENTS_RANGE] = "SELECT seq, hash, prev_hash, json FROM events"
                            " WHERE stream_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq",
    [PG_EVENTS_COPY] = "COPY events(stream_id, seq, host_id, time_us, type, username,"
                       " device_serial, hash, prev_hash, json, received_us) FROM STDIN",
    [PG_HOST_NAME] = "SELECT hostname FROM hosts WHERE id = $1",
    [PG_HOST_OTHER] = "SELECT id FROM hosts WHERE hostname = $1 AND id <> $2 ORDER BY id LIMIT 1",
    [PG_CLAIM_ADD] = "INSERT INTO host_claims(host_id, name, claimed_host_id, first_us)"
                     " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    [MG_SQL_DEVICE_UPSERT] =
        "INSERT INTO devices AS d (vendor_id, product_id, serial, hash, name, first_seen_us,"
        " last_seen_us, first_host_id, last_host_id, sightings)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)"
        " ON CONFLICT (vendor_id, product_id, serial, hash) DO UPDATE SET"
        " sightings = d.sightings + EXCLUDED.sightings,"
        " name = CASE WHEN EXCLUDED.last_seen_us >= d.last_seen_us AND EXCLUDED.name <> ''"
        "  THEN EXCLUDED.name ELSE d.name END,"
        " last_host_id = CASE WHEN EXCLUDED.last_seen_us >= d.last_seen_us"
        "  THEN EXCLUDED.last_host_id ELSE d.last_host_id END,"
        " last_seen_us = GREATEST(d.last_seen_us, EXCLUDED.last_seen_us),"
        " first_host_id = CASE WHEN EXCLUDED.first_seen_us < d.first_seen_us"
        "  THEN EXCLUDED.first_host_id ELSE d.first_host_id END,"
        " first_seen_us = LEAST(d.first_seen_us, EXCLUDED.first_seen_us)",
    [MG_SQL_ALERT_INSERT] = "INSERT INTO alerts(host_id, boot_id, seq, kind, time_us, evidence)"
                            " VALUES ($1, $2, $3, $4, $5, $6)",
    [MG_SQL_ALERTS_COUNT] = "SELECT count(*) FROM alerts WHERE $1::bigint = 0 OR host_id = $1",
    [MG_SQL_ALERTS_LIST] =
        "SELECT " MG_ROW_ALERT_COLS
        " WHERE ($1::bigint = 0 OR host_id = $1) AND id > $2 ORDER BY id LIMIT $3",
    [MG_SQL_DEVICES_LIST] = "SELECT " MG_ROW_DEVICE_COLS
                            " WHERE ($1::bigint = 0 OR id = $1) AND id > $2 ORDER BY id LIMIT $3",
    [MG_SQL_RULE_ADD] = "INSERT INTO rules(text, host_id, expires_us, created_us, created_by,"
                        " request_id, comment) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    [MG_SQL_RULE_DEL] = "DELETE FROM rules WHERE id = $1",
    [MG_SQL_RULES_LIST] =
        "SELECT " MG_ROW_RULE_COLS " WHERE ($1::bigint = 0 OR host_id = 0 OR host_id = $1)"
        " AND ($2::bigint = 0 OR expires_us = 0 OR expires_us > $2) ORDER BY id",
    [MG_SQL_POLICY_LOCK] = "LOCK TABLE policies IN EXCLUSIVE MODE",
    [MG_SQL_POLICY_ADD] = "INSERT INTO policies(version, rules_revision, created_us, json, sig)"
                          " SELECT $1::bigint, $2::bigint, $3::bigint, $4::text, $5::bytea"
                          " WHERE $1::bigint > (SELECT coalesce(max(version), 0) FROM policies)",
    [MG_SQL_POLICY_LATEST] = "SELECT coalesce(max(version), 0) FROM policies",
    [MG_SQL_POLICY_GET] = "SELECT " MG_ROW_POLICY_COLS " WHERE version = CASE WHEN $1::bigint = 0"
                          " THEN (SELECT max(version) FROM policies) ELSE $1::bigint END",
    [MG_SQL_REQ_ADD] = "INSERT INTO requests(host_id, request_id, username, vendor_id, product_id,"
                       " serial, name, hash, reason, created_us)"
                       " SELECT $1::bigint, $2::text, $3::text, $4::text, $5::text, $6::text,"
                       " $7::text, $8::text, $9::text, $10::bigint"
                       " WHERE (SELECT count(*) FROM requests WHERE host_id = $1 AND state = 0)"
                       " < $11::bigint ON CONFLICT (host_id, request_id) DO NOTHING RETURNING id",
    [MG_SQL_REQ_FIND] = "SELECT id, username, vendor_id, product_id, serial, name, hash, reason"
                        " FROM requests WHERE host_id = $1 AND request_id = $2",
    /* A host's device requests and staff registrations filed one after the other: the caps'
     * counts then see them all (read committed gives each statement a new snapshot, taken
     * after this lock). NO KEY: it does not hold up the foreign key checks of the host's
     * events and heartbeats. */
    [MG_SQL_HOST_LOCK] = "SELECT id FROM hosts WHERE id = $1 FOR NO KEY UPDATE",
    [MG_SQL_REQ_LIST] = "SELECT " MG_ROW_REQUEST_COLS " WHERE ($1::bigint = 0 OR id = $1)"
                        " AND ($2::int < 0 OR state = $2) AND id > $3 ORDER BY id LIMIT $4",
    [MG_SQL_REQ_DECIDE] = "UPDATE requests SET state = $2, decided_us = $3, decided_by = $4,"
                          " note = $5, rule_id = $6 WHERE id = $1 AND state = 0",
    [MG_SQL_REQ_STATE] = "SELECT state FROM requests WHERE id = $1",
    [MG_SQL_ADMIN_ADD] = "INSERT INTO admins(name, password_hash, role, created_us)"
                         " VALUES ($1, $2, $3, $4) RETURNING id",
    [MG_SQL_ADMIN_GET_NAME] = "SELECT " MG_ROW_ADMIN_COLS " WHERE name = $1",
    [MG_SQL_ADMIN_GET_ID] = "SELECT " MG_ROW_ADMIN_COLS " WHERE id = $1",
    [MG_SQL_ADMIN_LIST] = "SELECT " MG_ROW_ADMIN_COLS " ORDER BY id",
    [MG_SQL_ADMIN_SET_PW] = "UPDATE admins SET password_hash = $2 WHERE id = $1",
    [MG_SQL_ADMIN_SET_ROLE] = "UPDATE admins SET role = $2 WHERE id = $1",
    [MG_SQL_ADMIN_SET_DISABLED] = "UPDATE admins SET disabled = $2::int <> 0 WHERE id = $1",
    [MG_SQL_SESSIONS_DEL_ADMIN] = "DELETE FROM sessions WHERE admin_id = $1",
    [MG_SQL_SESSION_ADD] = "INSERT INTO sessions(token_hash, admin_id, created_us, expires_us)"
                           " SELECT $1::text, $2::bigint, $3::bigint, $4::bigint"
                           " WHERE EXISTS (SELECT 1 FROM admins WHERE id = $2::bigint)",
    [MG_SQL_SESSION_GET] = "SELECT " MG_ROW_SESSION_COLS " WHERE s.token_hash = $1",
    [MG_SQL_SESSION_EXTEND] = "UPDATE sessions SET expires_us = $2 WHERE token_hash = $1",
    [MG_SQL_SESSION_DEL] = "DELETE FROM sessions WHERE token_hash = $1",
    [MG_SQL_SESSION_PURGE] = "DELETE FROM sessions WHERE expires_us <= $1",
    [MG_SQL_ADMIN_LOCK] = "INSERT INTO admin_locks(admin_id, locked_us)"
                          " SELECT id, $2::bigint FROM admins WHERE id = $1::bigint"
                          " ON CONFLICT (admin_id) DO NOTHING",
    [MG_SQL_ADMIN_UNLOCK] = "DELETE FROM admin_locks WHERE admin_id = $1",
    [MG_SQL_ADMIN_LOCKED] = "SELECT locked_us FROM admin_locks WHERE admin_id = $1",
    [MG_SQL_ADMIN_FAILED] =
        "INSERT INTO admin_failures(admin_id, failures, last_us) VALUES ($1, 1, $2::bigint)"
        " ON CONFLICT (admin_id) DO UPDATE SET failures = CASE WHEN admin_failures.last_us <"
        " $2::bigint - $3::bigint THEN 1 ELSE admin_failures.failures + 1 END, last_us = $2"
        " RETURNING failures",
    [MG_SQL_ADMIN_FAILS_CLEAR] = "DELETE FROM admin_failures WHERE admin_id = $1",
    [MG_SQL_STAFF_ADD] =
        "INSERT INTO staff(login, display_name, department, created_us, updated_us)"
        " VALUES ($1, $2, $3, $4::bigint, $4::bigint) RETURNING id",
    [MG_SQL_STAFF_LIST] = "SELECT " MG_ROW_STAFF_COLS " WHERE ($1::bigint = 0 OR id = $1)"
                          " AND ($2::text = '' OR login = $2) ORDER BY id",
    [MG_SQL_STAFF_SET_STATE] =
        "UPDATE staff SET state = $2::text, updated_us = $3 WHERE id = $1 AND state <> $2::text",
    [MG_SQL_STAFF_UNLOCK] =
        "UPDATE staff SET unlocked_us = $2::bigint, updated_us = $2::bigint WHERE id = $1",
    [MG_SQL_STAFF_KEY_ADD] =
        "INSERT INTO staff_keys(staff_id, credential_id, public_key, cose_alg, rp_id, uv,"
        " aaguid, attestation_fmt, attestation_subject, label, registered_by_host,"
        " registration_id, state, created_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,"
        " $10, $11, $12, 'pending', $13) RETURNING id",
    [MG_SQL_STAFF_KEY_FIND] = "SELECT " MG_ROW_STAFF_KEY_COLS
                              " WHERE k.registered_by_host = $1 AND k.registration_id = $2",
    [MG_SQL_STAFF_KEYS_PENDING_OF_HOST] =
        "SELECT count(*) FROM staff_keys WHERE registered_by_host = $1 AND state = 'pending'",
    [MG_SQL_STAFF_KEYS_LIST] =
        "SELECT " MG_ROW_STAFF_KEY_COLS " WHERE ($1::bigint = 0 OR k.id = $1)"
        " AND ($2::bigint = 0 OR k.staff_id = $2) AND ($3::text = '' OR k.state = $3)"
        " ORDER BY k.id",
    [MG_SQL_STAFF_KEY_DECIDE] =
        "UPDATE staff_keys SET state = $2::text, decided_by = $3, decided_us = $4"
        " WHERE id = $1 AND (state = $5::text OR state = $6::text)",
    [MG_SQL_STAFF_KEYS_ACTIVE] =
        "SELECT count(*) FROM staff_keys WHERE state = 'active' AND staff_id ="
        " (SELECT staff_id FROM staff_keys WHERE id = $1)",
};

/* ---- parameters and results ---- */

void pg_p_int(struct pg_params *p, int64_t v)
{
	int i = p->n++;
	snprintf(p->buf[i], sizeof(p->buf[i]), "%" PRId64, v);
	p->v[i] = p->buf[i];
	p->len[i] = 0;
	p->fmt[i] = 0;
}

void pg_p_text(struct pg_params *p, const char *s, bool null_if_empty)
{
	int i = p->n++;
	p->v[i] = s && (*s || !null_if_empty) ? s : NULL;
	p->len[i] = 0;
	p->fmt[i] = 0;
}

void pg_p_bin(struct pg_params *p, const void *data, size_t len)
{
	int i = p->n++;
	p->v[i] = data;
	p->len[i] = (int)len;
	p->fmt[i] = 1;
}

int pg_res_err(struct pg_conn *c, const PGresult *res)
{
	if (PQstatus(c->pc) != CONNECTION_OK) {
		c->broken = true;
		return -EIO;
	}
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	if (!state)
		return -EIO;
	if (strcmp(state, "23505") == 0)
		return -EEXIST;
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
		return -EAGAIN;
	if (strcmp(state, "53100") == 0)
		return -ENOSPC;
	if (strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0)
		return -ETIMEDOUT;
	if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0) {
		c->broken = true;
		return -EIO;
	}
	if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)
		return -EINVAL;
	return -EIO;
}

int64_t pg_int(const PGresult *res, int row, int col)
{
	const char *s = PQgetvalue(res, row, col);
	if (!s || !*s)
		return 0;
	if (s[0] == 't' && s[1] == '\0')
		return 1;
	if (s[0] == 'f' && s[1] == '\0')
		return 0;
	return (int64_t)strtoll(s, NULL, 10);
}

const char *pg_text(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return "";
	return PQgetvalue(res, row, col);
}

void pg_copy(const PGresult *res, int row, int col, char *dst, size_t size)
{
	snprintf(dst, size, "%s", pg_text(res, row, col));
}

static int64_t row_i64(const struct mg_row *r, int col)
{
	return pg_int(r->res, r->i, col);
}

static const char *row_text(const struct mg_row *r, int col, size_t *len)
{
	bool null = PQgetisnull(r->res, r->i, col);
	if (len)
		*len = null ? 0 : (size_t)PQgetlength(r->res, r->i, col);
	return null ? NULL : PQgetvalue(r->res, r->i, col);
}

static int row_blob(const struct mg_row *r, int col, uint8_t **out, size_t *len)
{
	size_t n = 0;
	unsigned char *b =
	    PQunescapeBytea((const unsigned char *)PQgetvalue(r->res, r->i, col), &n);
	uint8_t *p = b ? malloc(n ? n : 1) : NULL;
	if (!p) {
		PQfreemem(b);
		return -ENOMEM;
	}
	memcpy(p, b, n);
	PQfreemem(b);
	*out = p;
	*len = n;
	return 0;
}

const struct mg_row_ops pg_row_ops = {row_i64, row_text, row_blob};

const char *pg_sql_text(int id)
{
	return pg_sql[id];
}

void pg_stmt_name(int id, char name[16])
{
	snprintf(name, 16, "s%d", (int)id);
}

int pg_prepare(struct pg_conn *c, int id)
{
	if (c->prepared[id])
		return 0;
	char name[16];
	pg_stmt_name(id, name);
	PGresult *res = PQprepare(c->pc, name, pg_sql[id], 0, NULL);
	int r = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : pg_res_err(c, res);
	PQclear(res);
	if (r == 0)
		c->prepared[id] = true;
	return r;
}

PGresult *pg_exec(struct pg_conn *c, int id, const struct pg_params *p, int *err)
{
	int r = pg_prepare(c, id);
	if (r < 0) {
		*err = r;
		return NULL;
	}
	char name[16];
	pg_stmt_name(id, name);
	PGresult *res = PQexecPrepared(c->pc, name, p ? p->n : 0, p ? p->v : NULL,
	                               p ? p->len : NULL, p ? p->fmt : NULL, 0);
	ExecStatusType s = PQresultStatus(res);
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
		*err = pg_res_err(c, res);
		PQclear(res);
		return NULL;
	}
	return res;
}

int pg_run(struct pg_conn *c, int id, const struct pg_params *p, uint64_t *changed)
{
	int r = 0;
	PGresult *res = pg_exec(c, id, p, &r);
	if (!res)
		return r;
	if (changed) {
		const char *t = PQcmdTuples(res);
		*changed = t && *t ? (uint64_t)strtoull(t, NULL, 10) : 0;
	}
	PQclear(res);
	return 0;
}

static int exec_simple(struct pg_conn *c, const char *sql)
{
	PGresult *res = PQexec(c->pc, sql);
	ExecStatusType s = PQresultStatus(res);
	int r = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK ? 0 : pg_res_err(c, res);
	PQclear(res);
	return r;
}

/* ---- connections ---- */

static void conn_free(struct pg_conn **c)
{
	if (!c || !*c)
		return;
	PQfinish((*c)->pc);
	free(*c);
	*c = NULL;
}

/* Library code does not log: server notices ("relation exists, skipping") are dropped. */
static void no_notices(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static int conn_open(const char *url, struct pg_conn **out, char *errmsg, size_t errlen)
{
	/* Ours first: a value in the URL overrides them (expand_dbname). */
	const char *const keys[] = {"connect_timeout", "options", "application_name",
	                            "client_encoding", "dbname",  NULL};
	const char *const vals[] = {"10",
	                            "-c statement_timeout=60000 -c lock_timeout=30000",
	                            "mynaguard-collector",
	                            "UTF8",
	                            url,
	                            NULL};
	struct pg_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->pc = PQconnectdbParams(keys, vals, 1);
	if (!c->pc || PQstatus(c->pc) != CONNECTION_OK) {
		if (errmsg && errlen) {
			const char *m = c->pc ? PQerrorMessage(c->pc) : "out of memory";
			snprintf(errmsg, errlen, "postgresql: %.*s", (int)strcspn(m, "\n"), m);
		}
		conn_free(&c);
		return -ECONNREFUSED;
	}
	PQsetNoticeProcessor(c->pc, no_notices, NULL);
	*out = c;
	return 0;
}

static int conn_get(struct pg_store *s, struct pg_conn **out)
{
	int r = 0;
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += POOL_WAIT_S;
	pthread_mutex_lock(&s->mu);
	while (s->nidle == 0 && s->nopen >= PG_POOL_MAX && r == 0)
		r = pthread_cond_timedwait(&s->cv, &s->mu, &deadline);
	if (s->nidle > 0) {
		*out = s->idle[--s->nidle];
		pthread_mutex_unlock(&s->mu);
		return 0;
	}
	if (r != 0) {
		pthread_mutex_unlock(&s->mu);
		return -ETIMEDOUT;
	}
	s->nopen++;
	pthread_mutex_unlock(&s->mu);
	r = conn_open(s->url, out, NULL, 0);
	if (r < 0) {
		pthread_mutex_lock(&s->mu);
		s->nopen--;
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
	}
	return r;
}

static void conn_put(struct pg_store *s, struct pg_conn *c)
{
	if (!c->broken &&
	    (PQstatus(c->pc) != CONNECTION_OK || PQtransactionStatus(c->pc) != PQTRANS_IDLE))
		c->broken = true;
	pthread_mutex_lock(&s->mu);
	if (c->broken) {
		s->nopen--;
		conn_free(&c);
	} else {
		s->idle[s->nidle++] = c;
	}
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

int pg_tx(struct pg_store *s, int (*fn)(struct pg_conn *c, void *arg), void *arg)
{
	int r = -EIO;
	for (int attempt = 0; attempt < TX_ATTEMPTS; attempt++) {
		struct pg_conn *c = NULL;
		r = conn_get(s, &c);
		if (r < 0)
			return r;
		r = exec_simple(c, "BEGIN");
		if (r == 0) {
			r = fn(c, arg);
			if (r == 0)
				r = exec_simple(c, "COMMIT");
			else if (!c->broken)
				exec_simple(c, "ROLLBACK");
		}
		conn_put(s, c);
		/* Serialization failures and deadlocks roll back entirely: safe to retry. */
		if (r != -EAGAIN)
			break;
	}
	return r == -EAGAIN ? -ETIMEDOUT : r;
}

int pg_read(struct pg_store *s, int (*fn)(struct pg_conn *c, void *arg), void *arg)
{
	struct pg_conn *c = NULL;
	int r = conn_get(s, &c);
	if (r < 0)
		return r;
	r = fn(c, arg);
	conn_put(s, c);
	return r;
}

/* Runs a statement expected to change exactly one row: 0, -ENOENT, or an error. */
int pg_run_one(struct pg_conn *c, int id, const struct pg_params *p)
{
	uint64_t n = 0;
	int r = pg_run(c, id, p, &n);
	return r < 0 ? r : n == 0 ? -ENOENT : 0;
}

static int first_int(const PGresult *res, int64_t *out)
{
	if (PQntuples(res) != 1)
		return -EIO;
	*out = pg_int(res, 0, 0);
	return 0;
}

/* Executes id and reads the id of the row it returned. */
int pg_insert_returning(struct pg_conn *c, int id, const struct pg_params *p, int64_t *new_id)
{
	int r = 0;
	PGresult *res = pg_exec(c, id, p, &r);
	if (!res)
		return r;
	r = PQntuples(res) == 1 ? first_int(res, new_id) : -ENOENT;
	PQclear(res);
	return r;
}

/* ---- the primitives of store_sql.h ---- */

/* p as libpq parameters in q (integers as text, blobs as binary). -E2BIG: too many. */
static int params(const struct mg_sql_params *p, struct pg_params *q)
{
	*q = (struct pg_params){0};
	int n = p ? p->n : 0;
	if (n > MG_SQL_MAX_PARAMS || n > PG_MAX_PARAMS)
		return -E2BIG;
	for (int i = 0; i < n; i++) {
		const struct mg_sql_param *x = &p->v[i];
		switch (x->kind) {
		case MG_SQL_INT:
			pg_p_int(q, x->i);
			break;
		case MG_SQL_TEXT:
			pg_p_text(q, x->p, false);
			break;
		case MG_SQL_BLOB:
			pg_p_bin(q, x->p, x->len);
			break;
		default:
			pg_p_text(q, NULL, true);
			break;
		}
	}
	return 0;
}

static int sql_run(void *conn, int id, const struct mg_sql_params *p, uint64_t *changed)
{
	struct pg_params q;
	int r = params(p, &q);
	return r < 0 ? r : pg_run(conn, id, &q, changed);
}

static int sql_run_one(void *conn, int id, const struct mg_sql_params *p)
{
	struct pg_params q;
	int r = params(p, &q);
	return r < 0 ? r : pg_run_one(conn, id, &q);
}

static int sql_insert(void *conn, int id, const struct mg_sql_params *p, int64_t *new_id)
{
	struct pg_params q;
	int r = params(p, &q);
	return r < 0 ? r : pg_insert_returning(conn, id, &q, new_id);
}

static int sql_rows(void *conn, int id, const struct mg_sql_params *p,
                    int (*row)(const struct mg_row *r, void *ctx), void *ctx)
{
	struct pg_params q;
	int r = params(p, &q);
	if (r < 0)
		return r;
	PGresult *res = pg_exec(conn, id, &q, &r);
	if (!res)
		return r;
	struct mg_row rw = {&pg_row_ops, res, 0};
	for (rw.i = 0; rw.i < PQntuples(res) && r == 0; rw.i++)
		r = row(&rw, ctx);
	PQclear(res);
	return r;
}

const struct mg_sql_ops pg_sql_ops = {sql_run, sql_run_one, sql_insert, sql_rows};

/* fn of store_sql.h on a PostgreSQL connection. */
struct sql_job {
	mg_sql_fn fn;
	void *job;
};

static int sql_job_run(struct pg_conn *c, void *arg)
{
	struct sql_job *a = arg;
	struct mg_sql db = {&pg_sql_ops, c};
	return a->fn(&db, a->job);
}

static int pg_sql_write(struct mg_store *s, mg_sql_fn fn, void *job)
{
	struct sql_job a = {fn, job};
	return pg_tx((struct pg_store *)s, sql_job_run, &a);
}

static int pg_sql_read(struct mg_store *s, mg_sql_fn fn, void *job)
{
	struct sql_job a = {fn, job};
	return pg_read((struct pg_store *)s, sql_job_run, &a);
}

/* ---- open / close ---- */

static int pg_set_reserve(struct mg_store *s, uint64_t bytes)
{
	(void)s;
	(void)bytes;
	return 0;
}

static void pg_close(struct mg_store *s)
{
	struct pg_store *ps = (struct pg_store *)s;
	for (size_t i = 0; i < ps->nidle; i++)
		conn_free(&ps->idle[i]);
	pthread_cond_destroy(&ps->cv);
	pthread_mutex_destroy(&ps->mu);
	free(ps->url);
	free(ps);
}

static int schema_init(struct pg_conn *c, char *errmsg, size_t errlen)
{
	int r = exec_simple(c, "BEGIN");
	if (r == 0)
		r = exec_simple(c, SCHEMA_LOCK);
	for (size_t i = 0; r == 0 && mg_store_pg_schema[i]; i++)
		r = exec_simple(c, mg_store_pg_schema[i]);
	if (r < 0) {
		snprintf(errmsg, errlen, "schema: %.200s", PQerrorMessage(c->pc));
		goto fail;
	}
	struct pg_params p = {0};
	pg_p_text(&p, "schema_version", false);
	PGresult *res = pg_exec(c, MG_SQL_META_GET, &p, &r);
	if (!res) {
		snprintf(errmsg, errlen, "schema: %.200s", PQerrorMessage(c->pc));
		goto fail;
	}
	int64_t v = PQntuples(res) == 1 ? pg_int(res, 0, 0) : -1;
	PQclear(res);
	if (v != MG_STORE_SCHEMA_VERSION) {
		snprintf(errmsg, errlen, "database schema %lld is not %d (newer collector?)",
		         (long long)v, MG_STORE_SCHEMA_VERSION);
		r = -EPROTO;
		goto fail;
	}
	r = exec_simple(c, "COMMIT");
	if (r < 0)
		snprintf(errmsg, errlen, "schema: %.200s", PQerrorMessage(c->pc));
	return r;
fail:
	exec_simple(c, "ROLLBACK");
	return r;
}

static const struct mg_store_ops pg_ops = {
    .name = "postgresql",
    .close = pg_close,
    .set_reserve = pg_set_reserve,
    .write = pg_sql_write,
    .read = pg_sql_read,
    .ingest = pgs_ingest,
    .cursor_get = pgs_cursor_get,
    .events_query = pgs_events_query,
    .events_count = pgs_events_count,
};

int mg_store_pg_open(const char *url, struct mg_store **out, char *errmsg, size_t errlen)
{
	int r = -ENOMEM;
	struct pg_conn *c = NULL;
	struct pg_store *s = calloc(1, sizeof(*s));
	if (!s)
		goto fail;
	s->base.ops = &pg_ops;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->url = strdup(url);
	if (!s->url)
		goto fail;
	r = conn_open(url, &c, errmsg, errlen);
	if (r < 0)
		goto fail;
	r = schema_init(c, errmsg, errlen);
	if (r < 0)
		goto fail;
	s->idle[s->nidle++] = c;
	s->nopen = 1;
	c = NULL;
	*out = &s->base;
	s = NULL;
	r = 0;
fail:
	if (r == -ENOMEM && errlen && !errmsg[0])
		snprintf(errmsg, errlen, "out of memory");
	conn_free(&c);
	if (s)
		pg_close(&s->base);
	return r;
}
