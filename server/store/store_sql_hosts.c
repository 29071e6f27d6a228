/*
 * Shared SQL operations (store_sql.h): enrolment tokens, hosts (terminals), and the lists of
 * the device ledger and of tamper alerts. Consuming a token is one conditional UPDATE, whose
 * row lock (PostgreSQL) or single writer (SQLite) makes concurrent uses agree on the last.
 */
#include "store_sql.h"

#include <errno.h>
#include <stdlib.h>

#include "store_int.h"

/* ---- tokens ---- */

struct token_job {
	struct mg_store_action *act;
	const char *hash;
	int64_t expires_us, now_us;
	uint32_t uses;
};

static int token_add_fn(const struct mg_sql *db, void *arg)
{
	struct token_job *j = arg;
	struct mg_sql_params p = {0};
	mg_sql_text(&p, j->hash);
	mg_sql_int(&p, j->expires_us);
	mg_sql_int(&p, j->uses);
	mg_sql_int(&p, j->now_us);
	int r = db->ops->run(db->conn, MG_SQL_TOKEN_ADD, &p, NULL);
	return r < 0 ? r : mg_sql_log_action(db, j->act, 0);
}

int mg_sql_token_add(struct mg_store *s, struct mg_store_action *act, const char *hash,
                     int64_t expires_us, uint32_t uses, int64_t now_us)
{
	struct token_job j = {act, hash, expires_us, now_us, uses};
	return mg_sql_write(s, token_add_fn, &j);
}

/* Why a token could not be used: -EALREADY (used up) or -ETIME (expired). */
static int token_state_row(const struct mg_row *r, void *ctx)
{
	(void)ctx;
	return r->ops->i64(r, 1) <= 0 ? -EALREADY : -ETIME;
}

static int token_use_fn(const struct mg_sql *db, void *arg)
{
	struct token_job *j = arg;
	struct mg_sql_params p = {0};
	mg_sql_text(&p, j->hash);
	mg_sql_int(&p, j->now_us);
	int r = db->ops->run_one(db->conn, MG_SQL_TOKEN_USE, &p);
	if (r != -ENOENT)
		return r;
	/* Why not: unknown, used up or expired. */
	struct mg_sql_params q = {0};
	mg_sql_text(&q, j->hash);
	r = db->ops->rows(db->conn, MG_SQL_TOKEN_GET, &q, token_state_row, NULL);
	return r == 0 ? -ENOENT : r;
}

int mg_sql_token_consume(struct mg_store *s, const char *hash, int64_t now_us)
{
	struct token_job j = {NULL, hash, 0, now_us, 0};
	return mg_sql_write(s, token_use_fn, &j);
}

/* ---- hosts ---- */

struct host_job {
	struct mg_store_action *act;
	int64_t id;
	const char *hostname, *cert_serial, *agent_version;
	int64_t now_us, oldest_unsent_us;
	uint64_t spool_depth, policy_version;
};

static int host_add_fn(const struct mg_sql *db, void *arg)
{
	struct host_job *j = arg;
	struct mg_sql_params p = {0};
	mg_sql_text(&p, j->hostname);
	mg_sql_text(&p, j->cert_serial);
	mg_sql_int(&p, j->now_us);
	return db->ops->insert(db->conn, MG_SQL_HOST_ADD, &p, &j->id);
}

int mg_sql_host_add(struct mg_store *s, const char *hostname, const char *cert_serial,
                    int64_t now_us, int64_t *id_out)
{
	struct host_job j = {.hostname = hostname, .cert_serial = cert_serial, .now_us = now_us};
	int r = mg_sql_write(s, host_add_fn, &j);
	if (r == 0)
		*id_out = j.id;
	return r;
}

int mg_sql_host_get(struct mg_store *s, int64_t id, const char *cert_serial,
                    struct mg_store_host *out)
{
	struct mg_store_host h;
	struct mg_row_sink k = {.buf = &h};
	struct mg_sql_params p = {0};
	if (cert_serial)
		mg_sql_text(&p, cert_serial);
	else
		mg_sql_int(&p, id);
	int r = mg_sql_query(s, cert_serial ? MG_SQL_HOST_BY_CERT : MG_SQL_HOST_GET, &p,
	                     mg_row_host_get, &k);
	if (r == 0)
		return -ENOENT;
	if (r < 0)
		return r;
	*out = h;
	return 0;
}

int mg_sql_host_foreach(struct mg_store *s, int (*cb)(void *, const struct mg_store_host *),
                        void *ctx)
{
	struct mg_row_sink k = {(void (*)(void))cb, ctx, NULL, 0};
	struct mg_sql_params p = {0};
	int r = mg_sql_query(s, MG_SQL_HOST_LIST, &p, mg_row_host_each, &k);
	return r > 0 ? 0 : r;
}

static int host_revoke_fn(const struct mg_sql *db, void *arg)
{
	struct host_job *j = arg;
	struct mg_sql_params p = {0};
	mg_sql_int(&p, j->id);
	int r = db->ops->run_one(db->conn, MG_SQL_HOST_REVOKE, &p);
	return r < 0 ? r : mg_sql_log_action(db, j->act, 0);
}

int mg_sql_host_revoke(struct mg_store *s, struct mg_store_action *act, int64_t id)
{
	struct host_job j = {.act = act, .id = id};
	return mg_sql_write(s, host_revoke_fn, &j);
}

static int host_heartbeat_fn(const struct mg_sql *db, void *arg)
{
	struct host_job *j = arg;
	struct mg_sql_params p = {0};
	mg_sql_int(&p, j->id);
	mg_sql_int(&p, j->now_us);
	mg_sql_int(&p, (int64_t)j->spool_depth);
	mg_sql_int(&p, j->oldest_unsent_us);
	mg_sql_int(&p, (int64_t)j->policy_version);
	mg_sql_text(&p, j->agent_version);
	return db->ops->run_one(db->conn, MG_SQL_HOST_HEARTBEAT, &p);
}

int mg_sql_host_heartbeat(struct mg_store *s, int64_t id, int64_t now_us, uint64_t spool_depth,
                          int64_t oldest_unsent_us, uint64_t policy_version,
                          const char *agent_version)
{
	struct host_job j = {.id = id,
	                     .now_us = now_us,
	                     .spool_depth = spool_depth,
	                     .oldest_unsent_us = oldest_unsent_us,
	                     .policy_version = policy_version,
	                     .agent_version = agent_version};
	return mg_sql_write(s, host_heartbeat_fn, &j);
}

static int host_applied_fn(const struct mg_sql *db, void *arg)
{
	struct host_job *j = arg;
	struct mg_sql_params p = {0};
	mg_sql_int(&p, j->id);
	mg_sql_int(&p, j->now_us);
	mg_sql_int(&p, (int64_t)j->policy_version);
	return db->ops->run_one(db->conn, MG_SQL_HOST_APPLIED, &p);
}

int mg_sql_host_policy_applied(struct mg_store *s, int64_t id, uint64_t version, int64_t now_us)
{
	struct host_job j = {.id = id, .now_us = now_us, .policy_version = version};
	return mg_sql_write(s, host_applied_fn, &j);
}

/* ---- device ledger, tamper alerts ---- */

int mg_sql_alerts_count(struct mg_store *s, int64_t host_id, uint64_t *out)
{
	struct mg_row_sink k = {0};
	struct mg_sql_params p = {0};
	mg_sql_int(&p, host_id);
	int r = mg_sql_query(s, MG_SQL_ALERTS_COUNT, &p, mg_row_i64_get, &k);
	if (r < 0)
		return r;
	if (r == 0)
		return -EIO; /* count(*) always has a row */
	*out = (uint64_t)k.i64;
	return 0;
}

int mg_sql_alerts_foreach(struct mg_store *s, int64_t host_id, int64_t after_id, uint32_t limit,
                          int (*cb)(void *, const struct mg_store_alert *), void *ctx)
{
	struct mg_row_sink k = {(void (*)(void))cb, ctx, NULL, 0};
	struct mg_sql_params p = {0};
	mg_sql_int(&p, host_id);
	mg_sql_int(&p, after_id);
	mg_sql_int(&p, limit);
	int r = mg_sql_query(s, MG_SQL_ALERTS_LIST, &p, mg_row_alert_each, &k);
	return r > 0 ? 0 : r;
}

int mg_sql_devices_foreach(struct mg_store *s, int64_t id, int64_t after_id, uint32_t limit,
                           int (*cb)(void *, const struct mg_store_device *), void *ctx)
{
	struct mg_row_sink k = {(void (*)(void))cb, ctx, malloc(sizeof(struct mg_store_device)), 0};
	if (!k.buf)
		return -ENOMEM;
	struct mg_sql_params p = {0};
	mg_sql_int(&p, id);
	mg_sql_int(&p, after_id);
	mg_sql_int(&p, limit);
	int r = mg_sql_query(s, MG_SQL_DEVICES_LIST, &p, mg_row_device_each, &k);
	free(k.buf);
	return r;
}
