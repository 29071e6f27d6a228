/*
 * PostgreSQL backend: enrolment tokens and hosts (terminals). Consuming a token is one
 * conditional UPDATE: its row lock makes concurrent collectors agree on the last use.
 */
#include "store_pg.h"

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

static int token_add_fn(struct pg_conn *c, void *arg)
{
	struct token_job *j = arg;
	struct pg_params p = {0};
	pg_p_text(&p, j->hash, false);
	pg_p_int(&p, j->expires_us);
	pg_p_int(&p, j->uses);
	pg_p_int(&p, j->now_us);
	int r = pg_run(c, PG_TOKEN_ADD, &p, NULL);
	return r < 0 ? r : pg_log_action(c, j->act, 0);
}

int pgs_token_add(struct mg_store *s, struct mg_store_action *act, const char *hash,
                  int64_t expires_us, uint32_t uses, int64_t now_us)
{
	struct token_job j = {act, hash, expires_us, now_us, uses};
	return pg_tx((struct pg_store *)s, token_add_fn, &j);
}

static int token_use_fn(struct pg_conn *c, void *arg)
{
	struct token_job *j = arg;
	struct pg_params p = {0};
	pg_p_text(&p, j->hash, false);
	pg_p_int(&p, j->now_us);
	int r = pg_run_one(c, PG_TOKEN_USE, &p);
	if (r != -ENOENT)
		return r;
	struct pg_params q = {0};
	pg_p_text(&q, j->hash, false);
	PGresult *res = pg_exec(c, PG_TOKEN_GET, &q, &r);
	if (!res)
		return r;
	r = PQntuples(res) != 1 ? -ENOENT : pg_int(res, 0, 1) <= 0 ? -EALREADY : -ETIME;
	PQclear(res);
	return r;
}

int pgs_token_consume(struct mg_store *s, const char *hash, int64_t now_us)
{
	struct token_job j = {NULL, hash, 0, now_us, 0};
	return pg_tx((struct pg_store *)s, token_use_fn, &j);
}

/* ---- hosts ---- */

struct host_job {
	struct mg_store_action *act;
	int64_t id;
	const char *hostname, *cert_serial, *agent_version;
	int64_t now_us, oldest_unsent_us;
	uint64_t spool_depth, policy_version;
};

static int host_add_fn(struct pg_conn *c, void *arg)
{
	struct host_job *j = arg;
	struct pg_params p = {0};
	pg_p_text(&p, j->hostname, false);
	pg_p_text(&p, j->cert_serial, false);
	pg_p_int(&p, j->now_us);
	return pg_insert_returning(c, PG_HOST_ADD, &p, &j->id);
}

int pgs_host_add(struct mg_store *s, const char *hostname, const char *cert_serial, int64_t now_us,
                 int64_t *id_out)
{
	struct host_job j = {.hostname = hostname, .cert_serial = cert_serial, .now_us = now_us};
	int r = pg_tx((struct pg_store *)s, host_add_fn, &j);
	if (r == 0)
		*id_out = j.id;
	return r;
}

int pgs_host_get(struct mg_store *s, int64_t id, const char *cert_serial, struct mg_store_host *out)
{
	struct mg_store_host h;
	struct mg_row_sink k = {NULL, NULL, &h, 0};
	struct pg_query q = {
	    .id = cert_serial ? PG_HOST_BY_CERT : PG_HOST_GET, .row = mg_row_host_get, .ctx = &k};
	if (cert_serial)
		pg_p_text(&q.p, cert_serial, false);
	else
		pg_p_int(&q.p, id);
	int r = pg_query(s, &q);
	if (r == 0)
		return -ENOENT;
	if (r < 0)
		return r;
	*out = h;
	return 0;
}

int pgs_host_foreach(struct mg_store *s, int (*cb)(void *, const struct mg_store_host *), void *ctx)
{
	struct mg_row_sink k = {(void (*)(void))cb, ctx, NULL, 0};
	struct pg_query q = {.id = PG_HOST_LIST, .row = mg_row_host_each, .ctx = &k};
	int r = pg_query(s, &q);
	return r > 0 ? 0 : r;
}

static int host_revoke_fn(struct pg_conn *c, void *arg)
{
	struct host_job *j = arg;
	struct pg_params p = {0};
	pg_p_int(&p, j->id);
	int r = pg_run_one(c, PG_HOST_REVOKE, &p);
	return r < 0 ? r : pg_log_action(c, j->act, 0);
}

int pgs_host_revoke(struct mg_store *s, struct mg_store_action *act, int64_t id)
{
	struct host_job j = {.act = act, .id = id};
	return pg_tx((struct pg_store *)s, host_revoke_fn, &j);
}

static int host_heartbeat_fn(struct pg_conn *c, void *arg)
{
	struct host_job *j = arg;
	struct pg_params p = {0};
	pg_p_int(&p, j->id);
	pg_p_int(&p, j->now_us);
	pg_p_int(&p, (int64_t)j->spool_depth);
	pg_p_int(&p, j->oldest_unsent_us);
	pg_p_int(&p, (int64_t)j->policy_version);
	pg_p_text(&p, j->agent_version, false);
	return pg_run_one(c, PG_HOST_HEARTBEAT, &p);
}

int pgs_host_heartbeat(struct mg_store *s, int64_t id, int64_t now_us, uint64_t spool_depth,
                       int64_t oldest_unsent_us, uint64_t policy_version, const char *agent_version)
{
	struct host_job j = {.id = id,
	                     .now_us = now_us,
	                     .spool_depth = spool_depth,
	                     .oldest_unsent_us = oldest_unsent_us,
	                     .policy_version = policy_version,
	                     .agent_version = agent_version};
	return pg_tx((struct pg_store *)s, host_heartbeat_fn, &j);
}

static int host_applied_fn(struct pg_conn *c, void *arg)
{
	struct host_job *j = arg;
	struct pg_params p = {0};
	pg_p_int(&p, j->id);
	pg_p_int(&p, j->now_us);
	pg_p_int(&p, (int64_t)j->policy_version);
	return pg_run_one(c, PG_HOST_APPLIED, &p);
}

int pgs_host_policy_applied(struct mg_store *s, int64_t id, uint64_t version, int64_t now_us)
{
	struct host_job j = {.id = id, .now_us = now_us, .policy_version = version};
	return pg_tx((struct pg_store *)s, host_applied_fn, &j);
}
