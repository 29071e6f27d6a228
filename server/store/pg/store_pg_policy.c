/*
 * PostgreSQL backend: rules, policy versions and device requests. A table lock makes policy
 * versions strictly increasing across collectors; the rules revision row serializes rule
 * changes; a request's row lock lets exactly one decision win.
 */
#include "store_pg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- rules ---- */

struct rule_job {
	struct mg_store_action *act;
	int64_t id;
	const char *text, *comment;
	int64_t host_id, expires_us, now_us, request_id;
	int64_t new_id;
};

static int rule_insert(struct pg_conn *c, struct rule_job *j)
{
	int r = 0;
	if (j->host_id) {
		struct pg_params h = {0};
		pg_p_int(&h, j->host_id);
		PGresult *res = pg_exec(c, PG_HOST_STATE, &h, &r);
		if (!res)
			return r;
		r = PQntuples(res) == 1 ? 0 : -ENOENT;
		PQclear(res);
		if (r < 0)
			return r;
	}
	struct pg_params p = {0};
	pg_p_text(&p, j->text, false);
	pg_p_int(&p, j->host_id);
	pg_p_int(&p, j->expires_us);
	pg_p_int(&p, j->now_us);
	pg_p_text(&p, j->act ? j->act->admin : "", false);
	pg_p_int(&p, j->request_id);
	pg_p_text(&p, j->comment, false);
	r = pg_insert_returning(c, PG_RULE_ADD, &p, &j->new_id);
	return r < 0 ? r : pg_run(c, PG_RULES_REV_BUMP, NULL, NULL);
}

static int rule_add_fn(struct pg_conn *c, void *arg)
{
	struct rule_job *j = arg;
	int r = rule_insert(c, j);
	return r < 0 ? r : pg_log_action(c, j->act, j->new_id);
}

int pgs_rule_add(struct mg_store *s, struct mg_store_action *act, const char *text, int64_t host_id,
                 int64_t expires_us, const char *comment, int64_t now_us, int64_t *id_out)
{
	struct rule_job j = {.act = act,
	                     .text = text,
	                     .comment = comment,
	                     .host_id = host_id,
	                     .expires_us = expires_us,
	                     .now_us = now_us};
	int r = pg_tx((struct pg_store *)s, rule_add_fn, &j);
	if (r == 0)
		*id_out = j.new_id;
	return r;
}

static int rule_remove_fn(struct pg_conn *c, void *arg)
{
	struct rule_job *j = arg;
	struct pg_params p = {0};
	pg_p_int(&p, j->id);
	int r = pg_run_one(c, PG_RULE_DEL, &p);
	if (r == 0)
		r = pg_run(c, PG_RULES_REV_BUMP, NULL, NULL);
	return r < 0 ? r : pg_log_action(c, j->act, 0);
}

int pgs_rule_remove(struct mg_store *s, struct mg_store_action *act, int64_t id)
{
	struct rule_job j = {.act = act, .id = id};
	return pg_tx((struct pg_store *)s, rule_remove_fn, &j);
}

int pgs_rules_foreach(struct mg_store *s, int64_t host_id, int64_t now_us,
                      int (*cb)(void *, const struct mg_store_rule *), void *ctx)
{
	struct mg_row_sink k = {(void (*)(void))cb, ctx, malloc(sizeof(struct mg_store_rule)), 0};
	if (!k.buf)
		return -ENOMEM;
	struct pg_query q = {.id = PG_RULES_LIST, .row = mg_row_rule_each, .ctx = &k};
	pg_p_int(&q.p, host_id);
	pg_p_int(&q.p, now_us);
	int r = pg_query(s, &q);
	free(k.buf);
	return r > 0 ? 0 : r;
}

int pgs_rules_revision(struct mg_store *s, uint64_t *out)
{
	struct mg_row_sink k = {0};
	struct pg_query q = {.id = PG_META_GET, .row = mg_row_i64_get, .ctx = &k};
	pg_p_text(&q.p, "rules_revision", false);
	int r = pg_query(s, &q);
	if (r < 0)
		return r;
	*out = (uint64_t)k.i64;
	return 0;
}

/* ---- policies ---- */

struct policy_job {
	struct mg_store_action *act;
	uint64_t version, rules_revision;
	const char *json;
	const uint8_t *sig;
	size_t sig_len;
	int64_t now_us;
};

static int policy_add_fn(struct pg_conn *c, void *arg)
{
	struct policy_job *j = arg;
	int r = pg_run(c, PG_POLICY_LOCK, NULL, NULL);
	if (r < 0)
		return r;
	struct pg_params p = {0};
	pg_p_int(&p, (int64_t)j->version);
	pg_p_int(&p, (int64_t)j->rules_revision);
	pg_p_int(&p, j->now_us);
	pg_p_text(&p, j->json, false);
	pg_p_bin(&p, j->sig, j->sig_len);
	r = pg_run_one(c, PG_POLICY_ADD, &p);
	if (r == -ENOENT)
		return -EEXIST; /* not above the latest version */
	return r < 0 ? r : pg_log_action(c, j->act, 0);
}

int pgs_policy_add(struct mg_store *s, struct mg_store_action *act, uint64_t version,
                   uint64_t rules_revision, const char *json, size_t json_len, const uint8_t *sig,
                   size_t sig_len, int64_t now_us)
{
	(void)json_len;
	struct policy_job j = {act, version, rules_revision, json, sig, sig_len, now_us};
	return pg_tx((struct pg_store *)s, policy_add_fn, &j);
}

int pgs_policy_latest(struct mg_store *s, uint64_t *version)
{
	struct mg_row_sink k = {0};
	struct pg_query q = {.id = PG_POLICY_LATEST, .row = mg_row_i64_get, .ctx = &k};
	int r = pg_query(s, &q);
	if (r < 0)
		return r;
	*version = (uint64_t)k.i64;
	return 0;
}

int pgs_policy_get(struct mg_store *s, uint64_t version, struct mg_store_policy **out)
{
	struct mg_row_sink k = {0};
	struct pg_query q = {.id = PG_POLICY_GET, .row = mg_row_policy_get, .ctx = &k};
	pg_p_int(&q.p, (int64_t)version);
	int r = pg_query(s, &q);
	if (r < 0)
		return r;
	if (!k.buf)
		return -ENOENT;
	*out = k.buf;
	return 0;
}

/* ---- device requests ---- */

struct request_job {
	const struct mg_store_request *req;
	int64_t now_us, id;
};

static int request_add_fn(struct pg_conn *c, void *arg)
{
	struct request_job *j = arg;
	const struct mg_store_request *q = j->req;
	struct pg_params p = {0};
	pg_p_int(&p, q->host_id);
	pg_p_text(&p, q->request_id, false);
	pg_p_text(&p, q->user, false);
	pg_p_text(&p, q->dev.vendor_id, false);
	pg_p_text(&p, q->dev.product_id, false);
	pg_p_text(&p, q->dev.serial, false);
	pg_p_text(&p, q->dev.name, false);
	pg_p_text(&p, q->dev.hash, false);
	pg_p_text(&p, q->reason, false);
	pg_p_int(&p, j->now_us);
	int r = pg_insert_returning(c, PG_REQ_ADD, &p, &j->id);
	if (r != -ENOENT)
		return r;
	/* Already filed: the same content is the same request. */
	struct pg_params f = {0};
	pg_p_int(&f, q->host_id);
	pg_p_text(&f, q->request_id, false);
	PGresult *res = pg_exec(c, PG_REQ_FIND, &f, &r);
	if (!res)
		return r;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return -EIO;
	}
	j->id = pg_int(res, 0, 0);
	bool same = strcmp(pg_text(res, 0, 1), q->user) == 0 &&
	            strcmp(pg_text(res, 0, 2), q->dev.vendor_id) == 0 &&
	            strcmp(pg_text(res, 0, 3), q->dev.product_id) == 0 &&
	            strcmp(pg_text(res, 0, 4), q->dev.serial) == 0 &&
	            strcmp(pg_text(res, 0, 5), q->dev.name) == 0 &&
	            strcmp(pg_text(res, 0, 6), q->dev.hash) == 0 &&
	            strcmp(pg_text(res, 0, 7), q->reason) == 0;
	PQclear(res);
	return same ? 0 : -EEXIST;
}

int pgs_request_add(struct mg_store *s, const struct mg_store_request *r, int64_t now_us,
                    int64_t *id_out)
{
	struct request_job j = {r, now_us, 0};
	int rc = pg_tx((struct pg_store *)s, request_add_fn, &j);
	if (rc == 0)
		*id_out = j.id;
	return rc;
}

int pgs_requests_foreach(struct mg_store *s, int64_t id, int state, int64_t after_id,
                         uint32_t limit, int (*cb)(void *, const struct mg_store_request *),
                         void *ctx)
{
	struct mg_row_sink k = {(void (*)(void))cb, ctx, malloc(sizeof(struct mg_store_request)),
	                        0};
	if (!k.buf)
		return -ENOMEM;
	struct pg_query q = {.id = PG_REQ_LIST, .row = mg_row_request_each, .ctx = &k};
	pg_p_int(&q.p, id);
	pg_p_int(&q.p, state);
	pg_p_int(&q.p, after_id);
	pg_p_int(&q.p, limit);
	int r = pg_query(s, &q);
	free(k.buf);
	return r;
}

static int request_decide_fn(struct pg_conn *c, void *arg)
{
	struct rule_job *j = arg;
	int r = 0;
	if (j->text) {
		r = rule_insert(c, j);
		if (r < 0)
			return r;
	}
	struct pg_params p = {0};
	pg_p_int(&p, j->id);
	pg_p_int(&p, j->text ? MG_REQUEST_APPROVED : MG_REQUEST_DENIED);
	pg_p_int(&p, j->now_us);
	pg_p_text(&p, j->act ? j->act->admin : "", false);
	pg_p_text(&p, j->comment, false);
	pg_p_int(&p, j->new_id);
	r = pg_run_one(c, PG_REQ_DECIDE, &p);
	if (r == -ENOENT) {
		struct pg_params q = {0};
		pg_p_int(&q, j->id);
		PGresult *res = pg_exec(c, PG_REQ_STATE, &q, &r);
		if (!res)
			return r;
		r = PQntuples(res) == 1 ? -EALREADY : -ENOENT;
		PQclear(res);
		return r;
	}
	return r < 0 ? r : pg_log_action(c, j->act, 0);
}

int pgs_request_decide(struct mg_store *s, struct mg_store_action *act, int64_t id,
                       const char *rule_text, int64_t rule_host_id, int64_t expires_us,
                       const char *note, int64_t now_us, int64_t *rule_id_out)
{
	struct rule_job j = {.act = act,
	                     .id = id,
	                     .text = rule_text,
	                     .comment = note,
	                     .host_id = rule_host_id,
	                     .expires_us = expires_us,
	                     .now_us = now_us,
	                     .request_id = id};
	int r = pg_tx((struct pg_store *)s, request_decide_fn, &j);
	if (r == 0 && rule_id_out)
		*rule_id_out = j.new_id;
	return r;
}
