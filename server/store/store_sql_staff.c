/*
 * Shared SQL operations of the staff registry (store.h, issue 15): staff members, their
 * FIDO2 credentials and the registrations terminals file. Every change that alters what
 * terminals get (a member added, disabled, enabled or unlocked, a key approved or revoked)
 * bumps the rules revision in the same transaction, so the policy refresh publishes it even
 * when the caller's own publish fails.
 */
#include "store_sql.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

static void copy_col(const struct mg_row *r, int col, char *dst, size_t size)
{
	const char *t = r->ops->text(r, col, NULL);
	snprintf(dst, size, "%s", t ? t : "");
}

static int staff_row(const struct mg_row *r, void *arg)
{
	struct mg_row_sink *k = arg;
	struct mg_store_staff *m = k->buf;
	char state[16];
	memset(m, 0, sizeof(*m));
	m->id = r->ops->i64(r, 0);
	copy_col(r, 1, m->login, sizeof(m->login));
	copy_col(r, 2, m->display_name, sizeof(m->display_name));
	copy_col(r, 3, m->department, sizeof(m->department));
	copy_col(r, 4, state, sizeof(state));
	m->disabled = strcmp(state, "active") != 0; /* fail closed on anything else */
	m->created_us = r->ops->i64(r, 5);
	m->updated_us = r->ops->i64(r, 6);
	m->unlocked_us = r->ops->i64(r, 7);
	return ((int (*)(void *, const struct mg_store_staff *))k->cb)(k->ctx, m);
}

static int key_fill(const struct mg_row *r, struct mg_store_staff_key *x)
{
	char state[16];
	memset(x, 0, sizeof(*x));
	x->id = r->ops->i64(r, 0);
	x->staff_id = r->ops->i64(r, 1);
	copy_col(r, 2, x->login, sizeof(x->login));
	copy_col(r, 3, x->credential_id, sizeof(x->credential_id));
	copy_col(r, 4, x->public_key, sizeof(x->public_key));
	x->cose_alg = (int)r->ops->i64(r, 5);
	copy_col(r, 6, x->rp_id, sizeof(x->rp_id));
	x->uv = r->ops->i64(r, 7) != 0;
	copy_col(r, 8, x->aaguid, sizeof(x->aaguid));
	copy_col(r, 9, x->attestation_fmt, sizeof(x->attestation_fmt));
	copy_col(r, 10, x->attestation_subject, sizeof(x->attestation_subject));
	copy_col(r, 11, x->label, sizeof(x->label));
	x->registered_by_host = r->ops->i64(r, 12);
	copy_col(r, 13, x->registration_id, sizeof(x->registration_id));
	copy_col(r, 14, state, sizeof(state));
	x->created_us = r->ops->i64(r, 15);
	copy_col(r, 16, x->decided_by, sizeof(x->decided_by));
	x->decided_us = r->ops->i64(r, 17);
	return mg_staff_key_state_from_name(state, &x->state) < 0 ? -EIO : 0;
}

static int key_row(const struct mg_row *r, void *arg)
{
	struct mg_row_sink *k = arg;
	struct mg_store_staff_key *x = k->buf;
	int e = key_fill(r, x);
	if (e < 0)
		return e;
	return ((int (*)(void *, const struct mg_store_staff_key *))k->cb)(k->ctx, x);
}

/* ---- staff members ---- */

struct staff_job {
	struct mg_store_action *act;
	const char *login, *display_name, *department;
	int64_t id, now_us;
	bool disabled;
};

static int staff_add_fn(const struct mg_sql *db, void *arg)
{
	struct staff_job *j = arg;
	struct mg_sql_params p = {0};
	mg_sql_text(&p, j->login);
	mg_sql_text(&p, j->display_name);
	mg_sql_text(&p, j->department);
	mg_sql_int(&p, j->now_us);
	int r = db->ops->insert(db->conn, MG_SQL_STAFF_ADD, &p, &j->id);
	if (r == 0)
		r = db->ops->run(db->conn, MG_SQL_RULES_REV_BUMP, NULL, NULL);
	return r < 0 ? r : mg_sql_log_action(db, j->act, j->id);
}

int mg_sql_staff_add(struct mg_store *s, struct mg_store_action *act, const char *login,
                     const char *display_name, const char *department, int64_t now_us,
                     int64_t *id_out)
{
	struct staff_job j = {act, login, display_name, department, 0, now_us, false};
	int r = mg_sql_write(s, staff_add_fn, &j);
	if (r == 0)
		*id_out = j.id;
	return r;
}

int mg_sql_staff_foreach(struct mg_store *s, int64_t id, const char *login,
                         int (*cb)(void *, const struct mg_store_staff *), void *ctx)
{
	struct mg_row_sink k = {(void (*)(void))cb, ctx, malloc(sizeof(struct mg_store_staff)), 0};
	if (!k.buf)
		return -ENOMEM;
	struct mg_sql_params p = {0};
	mg_sql_int(&p, id);
	mg_sql_text(&p, login ? login : "");
	int r = mg_sql_query(s, MG_SQL_STAFF_LIST, &p, staff_row, &k);
	free(k.buf);
	return r;
}

static int exists_row(const struct mg_row *r, void *ctx)
{
	(void)r;
	(void)ctx;
	return 1;
}

/* After an UPDATE of staff id changed nothing: -EALREADY when it exists, else -ENOENT. */
static int staff_missing_or_already(const struct mg_sql *db, int64_t id)
{
	struct mg_sql_params q = {0};
	mg_sql_int(&q, id);
	mg_sql_text(&q, "");
	int r = db->ops->rows(db->conn, MG_SQL_STAFF_LIST, &q, exists_row, NULL);
	return r == 1 ? -EALREADY : r == 0 ? -ENOENT : r;
}

static int staff_state_fn(const struct mg_sql *db, void *arg)
{
	struct staff_job *j = arg;
	struct mg_sql_params p = {0};
	mg_sql_int(&p, j->id);
	mg_sql_text(&p, j->disabled ? "disabled" : "active");
	mg_sql_int(&p, j->now_us);
	int r = db->ops->run_one(db->conn, MG_SQL_STAFF_SET_STATE, &p);
	if (r == -ENOENT)
		return staff_missing_or_already(db, j->id);
	if (r == 0)
		r = db->ops->run(db->conn, MG_SQL_RULES_REV_BUMP, NULL, NULL);
	return r < 0 ? r : mg_sql_log_action(db, j->act, 0);
}

int mg_sql_staff_set_disabled(struct mg_store *s, struct mg_store_action *act, int64_t id,
                              bool disabled, int64_t now_us)
{
	struct staff_job j = {act, NULL, NULL, NULL, id, now_us, disabled};
	return mg_sql_write(s, staff_state_fn, &j);
}

static int staff_unlock_fn(const struct mg_sql *db, void *arg)
{
	struct staff_job *j = arg;
	struct mg_sql_params p = {0};
	mg_sql_int(&p, j->id);
	mg_sql_int(&p, j->now_us);
	int r = db->ops->run_one(db->conn, MG_SQL_STAFF_UNLOCK, &p);
	if (r == 0)
		r = db->ops->run(db->conn, MG_SQL_RULES_REV_BUMP, NULL, NULL);
	return r < 0 ? r : mg_sql_log_action(db, j->act, 0);
}

int mg_sql_staff_unlock(struct mg_store *s, struct mg_store_action *act, int64_t id, int64_t now_us)
{
	struct staff_job j = {act, NULL, NULL, NULL, id, now_us, false};
	return mg_sql_write(s, staff_unlock_fn, &j);
}

/* ---- keys ---- */

struct key_job {
	const struct mg_store_staff_key *k;
	struct mg_store_staff_key *found; /* scratch */
	struct mg_store_staff *member;    /* scratch */
	int64_t now_us, id;
	bool created;
};

static int key_same_row(const struct mg_row *r, void *arg)
{
	struct key_job *j = arg;
	const struct mg_store_staff_key *q = j->k;
	struct mg_store_staff_key *f = j->found;
	int e = key_fill(r, f);
	if (e < 0)
		return e;
	j->id = f->id;
	bool same = strcmp(f->login, q->login) == 0 &&
	            strcmp(f->credential_id, q->credential_id) == 0 &&
	            strcmp(f->public_key, q->public_key) == 0 && f->cose_alg == q->cose_alg &&
	            strcmp(f->rp_id, q->rp_id) == 0 && f->uv == q->uv &&
	            strcmp(f->aaguid, q->aaguid) == 0 && strcmp(f->label, q->label) == 0;
	return same ? 1 : -EEXIST;
}

static int member_row(const struct mg_row *r, void *arg)
{
	struct mg_store_staff *m = arg;
	char state[16];
	m->id = r->ops->i64(r, 0);
	copy_col(r, 4, state, sizeof(state));
	m->disabled = strcmp(state, "active") != 0;
	return 1;
}

static int key_add_fn(const struct mg_sql *db, void *arg)
{
	struct key_job *j = arg;
	const struct mg_store_staff_key *q = j->k;
	struct mg_sql_params f = {0};
	mg_sql_int(&f, q->registered_by_host);
	mg_sql_text(&f, q->registration_id);
	int r = db->ops->rows(db->conn, MG_SQL_STAFF_KEY_FIND, &f, key_same_row, j);
	if (r == 1) {
		j->created = false;
		return 0;
	}
	if (r < 0)
		return r;
	struct mg_sql_params m = {0};
	mg_sql_int(&m, 0);
	mg_sql_text(&m, q->login);
	r = db->ops->rows(db->conn, MG_SQL_STAFF_LIST, &m, member_row, j->member);
	if (r <= 0)
		return r == 0 ? -ENOENT : r;
	if (j->member->disabled)
		return -EPERM;
	/* At most MG_STORE_MAX_PENDING_REGISTRATIONS waiting per terminal, counted after the
	 * host's row is locked (concurrent registrations through any collector: one by one). */
	struct mg_sql_params h = {0};
	mg_sql_int(&h, q->registered_by_host);
	struct mg_row_sink c = {0};
	if ((r = db->ops->rows(db->conn, MG_SQL_HOST_LOCK, &h, mg_row_i64_get, &c)) < 0 ||
	    (r = db->ops->rows(db->conn, MG_SQL_STAFF_KEYS_PENDING_OF_HOST, &h, mg_row_i64_get,
	                       &c)) < 0)
		return r;
	if (c.i64 >= (int64_t)MG_STORE_MAX_PENDING_REGISTRATIONS)
		return -EDQUOT;
	struct mg_sql_params p = {0};
	mg_sql_int(&p, j->member->id);
	mg_sql_text(&p, q->credential_id);
	mg_sql_text(&p, q->public_key);
	mg_sql_int(&p, q->cose_alg);
	mg_sql_text(&p, q->rp_id);
	mg_sql_int(&p, q->uv ? 1 : 0);
	mg_sql_text(&p, q->aaguid);
	mg_sql_text(&p, q->attestation_fmt);
	mg_sql_text(&p, q->attestation_subject);
	mg_sql_text(&p, q->label);
	mg_sql_int(&p, q->registered_by_host);
	mg_sql_text(&p, q->registration_id);
	mg_sql_int(&p, j->now_us);
	r = db->ops->insert(db->conn, MG_SQL_STAFF_KEY_ADD, &p, &j->id);
	if (r == -ENOENT)
		r = -EEXIST;
	j->created = r == 0;
	return r;
}

int mg_sql_staff_key_add(struct mg_store *s, const struct mg_store_staff_key *k, int64_t now_us,
                         int64_t *id_out, bool *created)
{
	struct key_job j = {k,
	                    malloc(sizeof(struct mg_store_staff_key)),
	                    calloc(1, sizeof(struct mg_store_staff)),
	                    now_us,
	                    0,
	                    false};
	int r = -ENOMEM;
	if (j.found && j.member)
		r = mg_sql_write(s, key_add_fn, &j);
	free(j.found);
	free(j.member);
	if (r == 0) {
		*id_out = j.id;
		*created = j.created;
	}
	return r;
}

int mg_sql_staff_keys_foreach(struct mg_store *s, int64_t id, int64_t staff_id, const char *state,
                              int (*cb)(void *, const struct mg_store_staff_key *), void *ctx)
{
	struct mg_row_sink k = {(void (*)(void))cb, ctx, malloc(sizeof(struct mg_store_staff_key)),
	                        0};
	if (!k.buf)
		return -ENOMEM;
	struct mg_sql_params p = {0};
	mg_sql_int(&p, id);
	mg_sql_int(&p, staff_id);
	mg_sql_text(&p, state ? state : "");
	int r = mg_sql_query(s, MG_SQL_STAFF_KEYS_LIST, &p, key_row, &k);
	free(k.buf);
	return r;
}

struct decide_job {
	struct mg_store_action *act;
	int64_t id, now_us;
	enum mg_staff_key_state to;
};

static int decide_fn(const struct mg_sql *db, void *arg)
{
	struct decide_job *j = arg;
	const char *from1 = "pending", *from2 = "pending";
	int r;
	if (j->to == MG_STAFF_KEY_REVOKED)
		from2 = "active";
	if (j->to == MG_STAFF_KEY_ACTIVE) {
		struct mg_row_sink c = {0};
		struct mg_sql_params q = {0};
		mg_sql_int(&q, j->id);
		r = db->ops->rows(db->conn, MG_SQL_STAFF_KEYS_ACTIVE, &q, mg_row_i64_get, &c);
		if (r < 0)
			return r;
		if (c.i64 >= (int64_t)MG_STORE_MAX_STAFF_KEYS)
			return -EDQUOT;
	}
	struct mg_sql_params p = {0};
	mg_sql_int(&p, j->id);
	mg_sql_text(&p, mg_staff_key_state_name(j->to));
	mg_sql_text(&p, j->act ? j->act->admin : "");
	mg_sql_int(&p, j->now_us);
	mg_sql_text(&p, from1);
	mg_sql_text(&p, from2);
	r = db->ops->run_one(db->conn, MG_SQL_STAFF_KEY_DECIDE, &p);
	if (r == -ENOENT) {
		struct mg_sql_params q = {0};
		mg_sql_int(&q, j->id);
		mg_sql_int(&q, 0);
		mg_sql_text(&q, "");
		r = db->ops->rows(db->conn, MG_SQL_STAFF_KEYS_LIST, &q, exists_row, NULL);
		return r == 1 ? -EALREADY : r == 0 ? -ENOENT : r;
	}
	/* A denied registration never reached terminals; every other decision changes them. */
	if (r == 0 && j->to != MG_STAFF_KEY_DENIED)
		r = db->ops->run(db->conn, MG_SQL_RULES_REV_BUMP, NULL, NULL);
	return r < 0 ? r : mg_sql_log_action(db, j->act, 0);
}

int mg_sql_staff_key_decide(struct mg_store *s, struct mg_store_action *act, int64_t id,
                            enum mg_staff_key_state to, int64_t now_us)
{
	struct decide_job j = {act, id, now_us, to};
	return mg_sql_write(s, decide_fn, &j);
}
