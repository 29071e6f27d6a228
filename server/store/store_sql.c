/* Helpers of the shared SQL operations (store_sql.h): parameters, reads, the action log. */
#include "store_sql.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "store_int.h"

static struct mg_sql_param *param_next(struct mg_sql_params *p)
{
	/* Every statement has at most MG_SQL_MAX_PARAMS parameters; a caller that adds more
	 * is a bug the backend then reports (the count stays at the cap, the statement fails). */
	if (p->n >= MG_SQL_MAX_PARAMS) {
		p->n = MG_SQL_MAX_PARAMS + 1;
		return NULL;
	}
	struct mg_sql_param *x = &p->v[p->n++];
	*x = (struct mg_sql_param){0};
	return x;
}

void mg_sql_int(struct mg_sql_params *p, int64_t v)
{
	struct mg_sql_param *x = param_next(p);
	if (x) {
		x->kind = MG_SQL_INT;
		x->i = v;
	}
}

void mg_sql_text(struct mg_sql_params *p, const char *s)
{
	struct mg_sql_param *x = param_next(p);
	if (x) {
		x->kind = s ? MG_SQL_TEXT : MG_SQL_NULL;
		x->p = s;
	}
}

void mg_sql_text_or_null(struct mg_sql_params *p, const char *s)
{
	mg_sql_text(p, s && *s ? s : NULL);
}

void mg_sql_blob(struct mg_sql_params *p, const void *data, size_t len)
{
	struct mg_sql_param *x = param_next(p);
	if (x) {
		x->kind = MG_SQL_BLOB;
		x->p = data;
		x->len = len;
	}
}

int mg_sql_write(struct mg_store *s, mg_sql_fn fn, void *job)
{
	return s->ops->write(s, fn, job);
}

int mg_sql_read(struct mg_store *s, mg_sql_fn fn, void *job)
{
	return s->ops->read(s, fn, job);
}

struct query {
	int id;
	const struct mg_sql_params *p;
	int (*row)(const struct mg_row *r, void *ctx);
	void *ctx;
};

static int query_fn(const struct mg_sql *db, void *arg)
{
	const struct query *q = arg;
	return db->ops->rows(db->conn, q->id, q->p, q->row, q->ctx);
}

int mg_sql_query(struct mg_store *s, int id, const struct mg_sql_params *p,
                 int (*row)(const struct mg_row *r, void *ctx), void *ctx)
{
	struct query q = {id, p, row, ctx};
	return mg_sql_read(s, query_fn, &q);
}

int mg_sql_log_action(const struct mg_sql *db, struct mg_store_action *act, int64_t new_id)
{
	if (!act)
		return 0;
	mg_store_action_set_target(act, new_id);
	char *json = NULL, type[8 + MG_STORE_NAME_SIZE];
	int64_t event_id = 0;
	int r = mg_store_action_event_json(act, &json);
	if (r < 0)
		return r;
	snprintf(type, sizeof(type), "admin.%s", act->action);
	struct mg_sql_params e = {0};
	mg_sql_text(&e, NULL); /* host: the collector itself */
	mg_sql_int(&e, act->now_us);
	mg_sql_text(&e, type);
	mg_sql_text(&e, act->admin);
	mg_sql_text(&e, json);
	r = db->ops->insert(db->conn, MG_SQL_OWN_EVENT_INSERT, &e, &event_id);
	free(json);
	if (r < 0)
		return r;
	struct mg_sql_params a = {0};
	mg_sql_int(&a, act->now_us);
	mg_sql_text(&a, act->admin);
	mg_sql_text(&a, act->action);
	mg_sql_text(&a, act->target);
	mg_sql_text(&a, act->remote ? act->remote : "");
	mg_sql_text_or_null(&a, act->detail);
	mg_sql_int(&a, event_id);
	return db->ops->run(db->conn, MG_SQL_ACTION_INSERT, &a, NULL);
}
