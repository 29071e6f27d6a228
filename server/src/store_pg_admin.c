/*
 * PostgreSQL backend: tokens, hosts, rules, policies, device requests, admins, sessions and
 * the admin action log. Changes run in pg_tx() transactions; row locks taken by the UPDATEs
 * (tokens, requests, the rules revision) and a table lock (policy versions) keep them correct
 * when several collectors share the database.
 */
#include "store_pg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---- */

/* Runs a statement expected to change exactly one row: 0, -ENOENT, or an error. */
static int run_one(struct pg_conn *c, enum pg_stmt_id id, const struct pg_params *p)
{
	uint64_t n = 0;
	int r = pg_run(c, id, p, &n);
	return r < 0 ? r : n == 0 ? -ENOENT : 0;
}

/* A query whose rows go to row(res, i, ctx) until it returns non-zero. */
struct query {
	enum pg_stmt_id id;
	struct pg_params p;
	int (*row)(const PGresult *res, int i, void *ctx);
	void *ctx;
};

static int query_fn(struct pg_conn *c, void *arg)
{
	struct query *q = arg;
	int r = 0;
	PGresult *res = pg_exec(c, q->id, &q->p, &r);
	if (!res)
		return r;
	for (int i = 0; i < PQntuples(res) && r == 0; i++)
		r = q->row(res, i, q->ctx);
	PQclear(res);
	return r;
}

static int query(struct mg_store *s, struct query *q)
{
	return pg_read((struct pg_store *)s, query_fn, q);
}

static int first_int(const PGresult *res, int64_t *out)
{
	if (PQntuples(res) != 1)
		return -EIO;
	*out = pg_int(res, 0, 0);
	return 0;
}

/* Executes id and reads the id of the row it returned. */
static int insert_returning(struct pg_conn *c, enum pg_stmt_id id, const struct pg_params *p,
                            int64_t *new_id)
{
	int r = 0;
	PGresult *res = pg_exec(c, id, p, &r);
	if (!res)
		return r;
	r = PQntuples(res) == 1 ? first_int(res, new_id) : -ENOENT;
	PQclear(res);
	return r;
}

/* ---- admin action log ---- */

static int log_fn(struct pg_conn *c, void *arg)
{
	return pg_log_action(c, arg, 0);
}

int pgs_admin_log(struct mg_store *s, struct mg_store_action *act)
{
	return pg_tx((struct pg_store *)s, log_fn, act);
}

struct cb_ctx {
	void (*cb)(void); /* the caller's callback, cast back where called */
	void *ctx;
	void *buf;
	int64_t i64;
};

static int actions_row(const PGresult *res, int i, void *arg)
{
	struct cb_ctx *k = arg;
	int (*cb)(void *, const struct mg_store_admin_action *) =
	    (int (*)(void *, const struct mg_store_admin_action *))k->cb;
	struct mg_store_admin_action a = {0};
	a.id = pg_int(res, i, 0);
	a.time_us = pg_int(res, i, 1);
	pg_copy(res, i, 2, a.admin, sizeof(a.admin));
	pg_copy(res, i, 3, a.action, sizeof(a.action));
	pg_copy(res, i, 4, a.target, sizeof(a.target));
	pg_copy(res, i, 5, a.remote, sizeof(a.remote));
	a.detail = PQgetisnull(res, i, 6) ? NULL : PQgetvalue(res, i, 6);
	a.event_id = pg_int(res, i, 7);
	return cb(k->ctx, &a);
}

int pgs_admin_actions_foreach(struct mg_store *s, int64_t after_id, uint32_t limit,
                              int (*cb)(void *, const struct mg_store_admin_action *), void *ctx)
{
	struct cb_ctx k = {(void (*)(void))cb, ctx, NULL, 0};
	struct query q = {.id = PG_ACTIONS_LIST, .row = actions_row, .ctx = &k};
	pg_p_int(&q.p, after_id);
	pg_p_int(&q.p, limit);
	int r = query(s, &q);
	return r > 0 ? 0 : r;
}

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
	int r = run_one(c, PG_TOKEN_USE, &p);
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
	return insert_returning(c, PG_HOST_ADD, &p, &j->id);
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

static void host_row(const PGresult *res, int i, struct mg_store_host *h)
{
	memset(h, 0, sizeof(*h));
	h->id = pg_int(res, i, 0);
	pg_copy(res, i, 1, h->hostname, sizeof(h->hostname));
	pg_copy(res, i, 2, h->cert_serial, sizeof(h->cert_serial));
	h->enrolled_us = pg_int(res, i, 3);
	h->last_seen_us = pg_int(res, i, 4);
	h->revoked = pg_int(res, i, 5) != 0;
	h->policy_version = (uint64_t)pg_int(res, i, 6);
	h->spool_depth = (uint64_t)pg_int(res, i, 7);
	h->oldest_unsent_us = pg_int(res, i, 8);
	pg_copy(res, i, 9, h->agent_version, sizeof(h->agent_version));
}

static int host_get_row(const PGresult *res, int i, void *arg)
{
	host_row(res, i, ((struct cb_ctx *)arg)->buf);
	return 1;
}

int pgs_host_get(struct mg_store *s, int64_t id, const char *cert_serial, struct mg_store_host *out)
{
	struct mg_store_host h;
	struct cb_ctx k = {NULL, NULL, &h, 0};
	struct query q = {
	    .id = cert_serial ? PG_HOST_BY_CERT : PG_HOST_GET, .row = host_get_row, .ctx = &k};
	if (cert_serial)
		pg_p_text(&q.p, cert_serial, false);
	else
		pg_p_int(&q.p, id);
	int r = query(s, &q);
	if (r == 0)
		return -ENOENT;
	if (r < 0)
		return r;
	*out = h;
	return 0;
}

static int host_list_row(const PGresult *res, int i, void *arg)
{
	struct cb_ctx *k = arg;
	int (*cb)(void *, const struct mg_store_host *) =
	    (int (*)(void *, const struct mg_store_host *))k->cb;
	struct mg_store_host h;
	host_row(res, i, &h);
	return cb(k->ctx, &h);
}

int pgs_host_foreach(struct mg_store *s, int (*cb)(void *, const struct mg_store_host *), void *ctx)
{
	struct cb_ctx k = {(void (*)(void))cb, ctx, NULL, 0};
	struct query q = {.id = PG_HOST_LIST, .row = host_list_row, .ctx = &k};
	int r = query(s, &q);
	return r > 0 ? 0 : r;
}

static int host_revoke_fn(struct pg_conn *c, void *arg)
{
	struct host_job *j = arg;
	struct pg_params p = {0};
	pg_p_int(&p, j->id);
	int r = run_one(c, PG_HOST_REVOKE, &p);
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
	return run_one(c, PG_HOST_HEARTBEAT, &p);
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
	r = insert_returning(c, PG_RULE_ADD, &p, &j->new_id);
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
	int r = run_one(c, PG_RULE_DEL, &p);
	if (r == 0)
		r = pg_run(c, PG_RULES_REV_BUMP, NULL, NULL);
	return r < 0 ? r : pg_log_action(c, j->act, 0);
}

int pgs_rule_remove(struct mg_store *s, struct mg_store_action *act, int64_t id)
{
	struct rule_job j = {.act = act, .id = id};
	return pg_tx((struct pg_store *)s, rule_remove_fn, &j);
}

static int rules_row(const PGresult *res, int i, void *arg)
{
	struct cb_ctx *k = arg;
	int (*cb)(void *, const struct mg_store_rule *) =
	    (int (*)(void *, const struct mg_store_rule *))k->cb;
	struct mg_store_rule *x = k->buf;
	memset(x, 0, sizeof(*x));
	x->id = pg_int(res, i, 0);
	pg_copy(res, i, 1, x->text, sizeof(x->text));
	x->host_id = pg_int(res, i, 2);
	x->expires_us = pg_int(res, i, 3);
	x->created_us = pg_int(res, i, 4);
	pg_copy(res, i, 5, x->created_by, sizeof(x->created_by));
	x->request_id = pg_int(res, i, 6);
	pg_copy(res, i, 7, x->comment, sizeof(x->comment));
	return cb(k->ctx, x);
}

int pgs_rules_foreach(struct mg_store *s, int64_t host_id, int64_t now_us,
                      int (*cb)(void *, const struct mg_store_rule *), void *ctx)
{
	struct cb_ctx k = {(void (*)(void))cb, ctx, malloc(sizeof(struct mg_store_rule)), 0};
	if (!k.buf)
		return -ENOMEM;
	struct query q = {.id = PG_RULES_LIST, .row = rules_row, .ctx = &k};
	pg_p_int(&q.p, host_id);
	pg_p_int(&q.p, now_us);
	int r = query(s, &q);
	free(k.buf);
	return r > 0 ? 0 : r;
}

static int int_row(const PGresult *res, int i, void *arg)
{
	((struct cb_ctx *)arg)->i64 = pg_int(res, i, 0);
	return 1;
}

int pgs_rules_revision(struct mg_store *s, uint64_t *out)
{
	struct cb_ctx k = {0};
	struct query q = {.id = PG_META_GET, .row = int_row, .ctx = &k};
	pg_p_text(&q.p, "rules_revision", false);
	int r = query(s, &q);
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
	r = run_one(c, PG_POLICY_ADD, &p);
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
	struct cb_ctx k = {0};
	struct query q = {.id = PG_POLICY_LATEST, .row = int_row, .ctx = &k};
	int r = query(s, &q);
	if (r < 0)
		return r;
	*version = (uint64_t)k.i64;
	return 0;
}

static int policy_row(const PGresult *res, int i, void *arg)
{
	struct cb_ctx *k = arg;
	struct mg_store_policy *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->version = (uint64_t)pg_int(res, i, 0);
	p->rules_revision = (uint64_t)pg_int(res, i, 1);
	p->created_us = pg_int(res, i, 2);
	p->json_len = (size_t)PQgetlength(res, i, 3);
	p->json = malloc(p->json_len + 1);
	size_t sig_len = 0;
	unsigned char *sig =
	    PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 4), &sig_len);
	if (!p->json || !sig) {
		PQfreemem(sig);
		mg_store_policy_free(&p);
		return -ENOMEM;
	}
	memcpy(p->json, PQgetvalue(res, i, 3), p->json_len);
	p->json[p->json_len] = '\0';
	p->sig = malloc(sig_len ? sig_len : 1);
	if (!p->sig) {
		PQfreemem(sig);
		mg_store_policy_free(&p);
		return -ENOMEM;
	}
	memcpy(p->sig, sig, sig_len);
	p->sig_len = sig_len;
	PQfreemem(sig);
	k->buf = p;
	return 1;
}

int pgs_policy_get(struct mg_store *s, uint64_t version, struct mg_store_policy **out)
{
	struct cb_ctx k = {0};
	struct query q = {.id = PG_POLICY_GET, .row = policy_row, .ctx = &k};
	pg_p_int(&q.p, (int64_t)version);
	int r = query(s, &q);
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
	int r = insert_returning(c, PG_REQ_ADD, &p, &j->id);
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

static int requests_row(const PGresult *res, int i, void *arg)
{
	struct cb_ctx *k = arg;
	int (*cb)(void *, const struct mg_store_request *) =
	    (int (*)(void *, const struct mg_store_request *))k->cb;
	struct mg_store_request *x = k->buf;
	memset(x, 0, sizeof(*x));
	x->id = pg_int(res, i, 0);
	pg_copy(res, i, 1, x->request_id, sizeof(x->request_id));
	x->host_id = pg_int(res, i, 2);
	pg_copy(res, i, 3, x->user, sizeof(x->user));
	pg_copy(res, i, 4, x->dev.vendor_id, sizeof(x->dev.vendor_id));
	pg_copy(res, i, 5, x->dev.product_id, sizeof(x->dev.product_id));
	pg_copy(res, i, 6, x->dev.serial, sizeof(x->dev.serial));
	pg_copy(res, i, 7, x->dev.name, sizeof(x->dev.name));
	pg_copy(res, i, 8, x->dev.hash, sizeof(x->dev.hash));
	pg_copy(res, i, 9, x->reason, sizeof(x->reason));
	x->created_us = pg_int(res, i, 10);
	x->state = (enum mg_request_state)pg_int(res, i, 11);
	x->decided_us = pg_int(res, i, 12);
	pg_copy(res, i, 13, x->decided_by, sizeof(x->decided_by));
	pg_copy(res, i, 14, x->note, sizeof(x->note));
	x->rule_id = pg_int(res, i, 15);
	return cb(k->ctx, x);
}

int pgs_requests_foreach(struct mg_store *s, int64_t id, int state, int64_t after_id,
                         uint32_t limit, int (*cb)(void *, const struct mg_store_request *),
                         void *ctx)
{
	struct cb_ctx k = {(void (*)(void))cb, ctx, malloc(sizeof(struct mg_store_request)), 0};
	if (!k.buf)
		return -ENOMEM;
	struct query q = {.id = PG_REQ_LIST, .row = requests_row, .ctx = &k};
	pg_p_int(&q.p, id);
	pg_p_int(&q.p, state);
	pg_p_int(&q.p, after_id);
	pg_p_int(&q.p, limit);
	int r = query(s, &q);
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
	r = run_one(c, PG_REQ_DECIDE, &p);
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

/* ---- admins ---- */

struct admin_job {
	struct mg_store_action *act;
	const char *name, *password_hash;
	int role, disabled;
	int64_t now_us, id;
};

static int admin_add_fn(struct pg_conn *c, void *arg)
{
	struct admin_job *j = arg;
	struct pg_params p = {0};
	pg_p_text(&p, j->name, false);
	pg_p_text(&p, j->password_hash, false);
	pg_p_text(&p, mg_admin_role_name((enum mg_admin_role)j->role), false);
	pg_p_int(&p, j->now_us);
	int r = insert_returning(c, PG_ADMIN_ADD, &p, &j->id);
	return r < 0 ? r : pg_log_action(c, j->act, j->id);
}

int pgs_admin_add(struct mg_store *s, struct mg_store_action *act, const char *name,
                  const char *password_hash, enum mg_admin_role role, int64_t now_us,
                  int64_t *id_out)
{
	struct admin_job j = {.act = act,
	                      .name = name,
	                      .password_hash = password_hash,
	                      .role = (int)role,
	                      .now_us = now_us};
	int r = pg_tx((struct pg_store *)s, admin_add_fn, &j);
	if (r == 0)
		*id_out = j.id;
	return r;
}

static void admin_row(const PGresult *res, int i, struct mg_store_admin *a)
{
	memset(a, 0, sizeof(*a));
	a->id = pg_int(res, i, 0);
	pg_copy(res, i, 1, a->name, sizeof(a->name));
	pg_copy(res, i, 2, a->password_hash, sizeof(a->password_hash));
	enum mg_admin_role rl = MG_ROLE_AUDITOR; /* least privilege if the row is odd */
	mg_admin_role_from_name(pg_text(res, i, 3), &rl);
	a->role = rl;
	a->disabled = pg_int(res, i, 4) != 0;
	a->created_us = pg_int(res, i, 5);
}

static int admin_get_row(const PGresult *res, int i, void *arg)
{
	struct cb_ctx *k = arg;
	admin_row(res, i, k->buf);
	if (PQnfields(res) > 6)
		k->i64 = pg_int(res, i, 6); /* session expiry */
	return 1;
}

int pgs_admin_get(struct mg_store *s, const char *name, int64_t id, struct mg_store_admin *out)
{
	struct mg_store_admin a;
	struct cb_ctx k = {NULL, NULL, &a, 0};
	struct query q = {
	    .id = name ? PG_ADMIN_GET_NAME : PG_ADMIN_GET_ID, .row = admin_get_row, .ctx = &k};
	if (name)
		pg_p_text(&q.p, name, false);
	else
		pg_p_int(&q.p, id);
	int r = query(s, &q);
	if (r == 0)
		return -ENOENT;
	if (r < 0)
		return r;
	*out = a;
	return 0;
}

static int admin_list_row(const PGresult *res, int i, void *arg)
{
	struct cb_ctx *k = arg;
	int (*cb)(void *, const struct mg_store_admin *) =
	    (int (*)(void *, const struct mg_store_admin *))k->cb;
	struct mg_store_admin a;
	admin_row(res, i, &a);
	return cb(k->ctx, &a);
}

int pgs_admins_foreach(struct mg_store *s, int (*cb)(void *, const struct mg_store_admin *),
                       void *ctx)
{
	struct cb_ctx k = {(void (*)(void))cb, ctx, NULL, 0};
	struct query q = {.id = PG_ADMIN_LIST, .row = admin_list_row, .ctx = &k};
	int r = query(s, &q);
	return r > 0 ? 0 : r;
}

static int admin_update_fn(struct pg_conn *c, void *arg)
{
	struct admin_job *j = arg;
	struct pg_params p = {0};
	pg_p_int(&p, j->id);
	enum pg_stmt_id id;
	if (j->password_hash) {
		id = PG_ADMIN_SET_PW;
		pg_p_text(&p, j->password_hash, false);
	} else if (j->role > 0) {
		id = PG_ADMIN_SET_ROLE;
		pg_p_text(&p, mg_admin_role_name((enum mg_admin_role)j->role), false);
	} else {
		id = PG_ADMIN_SET_DISABLED;
		pg_p_int(&p, j->disabled);
	}
	int r = run_one(c, id, &p);
	if (r == 0 && id == PG_ADMIN_SET_DISABLED && j->disabled) {
		struct pg_params d = {0};
		pg_p_int(&d, j->id);
		r = pg_run(c, PG_SESSIONS_DEL_ADMIN, &d, NULL);
	}
	return r < 0 ? r : pg_log_action(c, j->act, 0);
}

int pgs_admin_update(struct mg_store *s, struct mg_store_action *act, int64_t id,
                     const char *password_hash, int role, int disabled)
{
	struct admin_job j = {.act = act,
	                      .password_hash = password_hash,
	                      .role = role,
	                      .disabled = disabled,
	                      .id = id};
	return pg_tx((struct pg_store *)s, admin_update_fn, &j);
}

/* ---- sessions ---- */

struct session_job {
	const char *hash;
	int64_t admin_id, now_us, expires_us;
	uint64_t deleted;
};

static int session_add_fn(struct pg_conn *c, void *arg)
{
	struct session_job *j = arg;
	struct pg_params p = {0};
	pg_p_text(&p, j->hash, false);
	pg_p_int(&p, j->admin_id);
	pg_p_int(&p, j->now_us);
	pg_p_int(&p, j->expires_us);
	return run_one(c, PG_SESSION_ADD, &p); /* -ENOENT: no such admin */
}

int pgs_session_add(struct mg_store *s, const char *hash, int64_t admin_id, int64_t now_us,
                    int64_t expires_us)
{
	struct session_job j = {hash, admin_id, now_us, expires_us, 0};
	return pg_tx((struct pg_store *)s, session_add_fn, &j);
}

int pgs_session_get(struct mg_store *s, const char *hash, struct mg_store_admin *admin,
                    int64_t *expires_us)
{
	struct cb_ctx k = {NULL, NULL, admin, 0};
	struct query q = {.id = PG_SESSION_GET, .row = admin_get_row, .ctx = &k};
	pg_p_text(&q.p, hash, false);
	int r = query(s, &q);
	if (r == 0)
		return -ENOENT;
	if (r < 0)
		return r;
	*expires_us = k.i64;
	return 0;
}

static int session_change_fn(struct pg_conn *c, void *arg)
{
	struct session_job *j = arg;
	struct pg_params p = {0};
	pg_p_text(&p, j->hash, false);
	if (j->expires_us) {
		pg_p_int(&p, j->expires_us);
		return run_one(c, PG_SESSION_EXTEND, &p);
	}
	return run_one(c, PG_SESSION_DEL, &p);
}

int pgs_session_extend(struct mg_store *s, const char *hash, int64_t expires_us)
{
	struct session_job j = {hash, 0, 0, expires_us, 0};
	return pg_tx((struct pg_store *)s, session_change_fn, &j);
}

int pgs_session_delete(struct mg_store *s, const char *hash)
{
	struct session_job j = {hash, 0, 0, 0, 0};
	return pg_tx((struct pg_store *)s, session_change_fn, &j);
}

static int sessions_purge_fn(struct pg_conn *c, void *arg)
{
	struct session_job *j = arg;
	struct pg_params p = {0};
	pg_p_int(&p, j->now_us);
	return pg_run(c, PG_SESSION_PURGE, &p, &j->deleted);
}

int pgs_sessions_purge(struct mg_store *s, int64_t now_us, uint64_t *deleted)
{
	struct session_job j = {NULL, 0, now_us, 0, 0};
	int r = pg_tx((struct pg_store *)s, sessions_purge_fn, &j);
	if (r == 0)
		*deleted = j.deleted;
	return r;
}
