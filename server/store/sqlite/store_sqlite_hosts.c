/*
 * SQLite backend: enrolment tokens and hosts (terminals). Changes run as writer jobs (one
 * struct of arguments and results each); reads use a reader connection.
 */
#include "store_sqlite.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- tokens ---- */

struct token_job {
	struct mg_store_action *act;
	const char *hash;
	int64_t expires_us, now_us;
	uint32_t uses;
};

static int token_add_fn(struct sq_conn *c, void *arg)
{
	struct token_job *j = arg;
	int r = 0;
	sqlite3_stmt *st = sq_stmt(c, SQ_TOKEN_ADD, &r);
	if (!st)
		return r;
	sqlite3_bind_text(st, 1, j->hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, j->expires_us);
	sqlite3_bind_int64(st, 3, j->uses);
	sqlite3_bind_int64(st, 4, j->now_us);
	r = sq_step_done(st);
	return r < 0 ? r : sq_log_action(c, j->act, 0);
}

int sq_token_add(struct mg_store *s, struct mg_store_action *act, const char *hash,
                 int64_t expires_us, uint32_t uses, int64_t now_us)
{
	struct token_job j = {act, hash, expires_us, now_us, uses};
	return sq_write((struct sq_store *)s, token_add_fn, &j);
}

static int token_use_fn(struct sq_conn *c, void *arg)
{
	struct token_job *j = arg;
	int r = 0;
	sqlite3_stmt *st = sq_stmt(c, SQ_TOKEN_USE, &r);
	if (!st)
		return r;
	sqlite3_bind_text(st, 1, j->hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, j->now_us);
	r = sq_step_one(c, st);
	if (r != -ENOENT)
		return r;
	/* Why not: unknown, used up or expired. */
	st = sq_stmt(c, SQ_TOKEN_GET, &r);
	if (!st)
		return r;
	sqlite3_bind_text(st, 1, j->hash, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r = sqlite3_column_int64(st, 1) <= 0 ? -EALREADY : -ETIME;
	else
		r = rc == SQLITE_DONE ? -ENOENT : sq_err(rc);
	sqlite3_reset(st);
	return r;
}

int sq_token_consume(struct mg_store *s, const char *hash, int64_t now_us)
{
	struct token_job j = {NULL, hash, 0, now_us, 0};
	return sq_write((struct sq_store *)s, token_use_fn, &j);
}

/* ---- hosts ---- */

struct host_job {
	struct mg_store_action *act;
	int64_t id;
	const char *hostname, *cert_serial, *agent_version;
	int64_t now_us, oldest_unsent_us;
	uint64_t spool_depth, policy_version;
};

static int host_add_fn(struct sq_conn *c, void *arg)
{
	struct host_job *j = arg;
	int r = 0;
	sqlite3_stmt *st = sq_stmt(c, SQ_HOST_ADD, &r);
	if (!st)
		return r;
	sqlite3_bind_text(st, 1, j->hostname, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, j->cert_serial, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, j->now_us);
	r = sq_step_done(st);
	if (r == 0)
		j->id = sqlite3_last_insert_rowid(c->db);
	return r;
}

int sq_host_add(struct mg_store *s, const char *hostname, const char *cert_serial, int64_t now_us,
                int64_t *id_out)
{
	struct host_job j = {.hostname = hostname, .cert_serial = cert_serial, .now_us = now_us};
	int r = sq_write((struct sq_store *)s, host_add_fn, &j);
	if (r == 0)
		*id_out = j.id;
	return r;
}

struct host_key {
	int64_t id;
	const char *cert; /* by certificate serial when set, else by id */
};

static void host_get_bind(sqlite3_stmt *st, void *arg)
{
	const struct host_key *key = arg;
	if (key->cert)
		sqlite3_bind_text(st, 1, key->cert, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 1, key->id);
}

int sq_host_get(struct mg_store *s, int64_t id, const char *cert_serial, struct mg_store_host *out)
{
	struct mg_store_host h;
	struct host_key key = {id, cert_serial};
	struct mg_row_sink k = {.buf = &h};
	int r = sq_read_rows(s, cert_serial ? SQ_HOST_BY_CERT : SQ_HOST_GET, host_get_bind, &key,
	                     mg_row_host_get, &k);
	if (r == 0)
		return -ENOENT;
	if (r > 0)
		*out = h;
	return r > 0 ? 0 : r;
}

int sq_host_foreach(struct mg_store *s, int (*cb)(void *, const struct mg_store_host *), void *ctx)
{
	struct mg_row_sink k = {(void (*)(void))cb, ctx, NULL, 0};
	int r = sq_read_rows(s, SQ_HOST_LIST, NULL, NULL, mg_row_host_each, &k);
	return r > 0 ? 0 : r;
}

static int host_revoke_fn(struct sq_conn *c, void *arg)
{
	struct host_job *j = arg;
	int r = 0;
	sqlite3_stmt *st = sq_stmt(c, SQ_HOST_REVOKE, &r);
	if (!st)
		return r;
	sqlite3_bind_int64(st, 1, j->id);
	r = sq_step_one(c, st);
	return r < 0 ? r : sq_log_action(c, j->act, 0);
}

int sq_host_revoke(struct mg_store *s, struct mg_store_action *act, int64_t id)
{
	struct host_job j = {.act = act, .id = id};
	return sq_write((struct sq_store *)s, host_revoke_fn, &j);
}

static int host_heartbeat_fn(struct sq_conn *c, void *arg)
{
	struct host_job *j = arg;
	int r = 0;
	sqlite3_stmt *st = sq_stmt(c, SQ_HOST_HEARTBEAT, &r);
	if (!st)
		return r;
	sqlite3_bind_int64(st, 1, j->id);
	sqlite3_bind_int64(st, 2, j->now_us);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)j->spool_depth);
	sqlite3_bind_int64(st, 4, j->oldest_unsent_us);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)j->policy_version);
	sqlite3_bind_text(st, 6, j->agent_version, -1, SQLITE_STATIC);
	return sq_step_one(c, st);
}

int sq_host_heartbeat(struct mg_store *s, int64_t id, int64_t now_us, uint64_t spool_depth,
                      int64_t oldest_unsent_us, uint64_t policy_version, const char *agent_version)
{
	struct host_job j = {.id = id,
	                     .now_us = now_us,
	                     .spool_depth = spool_depth,
	                     .oldest_unsent_us = oldest_unsent_us,
	                     .policy_version = policy_version,
	                     .agent_version = agent_version};
	return sq_write((struct sq_store *)s, host_heartbeat_fn, &j);
}

static int host_applied_fn(struct sq_conn *c, void *arg)
{
	struct host_job *j = arg;
	int r = 0;
	sqlite3_stmt *st = sq_stmt(c, SQ_HOST_APPLIED, &r);
	if (!st)
		return r;
	sqlite3_bind_int64(st, 1, j->id);
	sqlite3_bind_int64(st, 2, j->now_us);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)j->policy_version);
	return sq_step_one(c, st);
}

int sq_host_policy_applied(struct mg_store *s, int64_t id, uint64_t version, int64_t now_us)
{
	struct host_job j = {.id = id, .now_us = now_us, .policy_version = version};
	return sq_write((struct sq_store *)s, host_applied_fn, &j);
}
