/* The row layer (store_row.h): rows of either backend onto the structs of store.h. */
#include "store_row.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t col_i64(const struct mg_row *r, int col)
{
	return r->ops->i64(r, col);
}

static const char *col_str(const struct mg_row *r, int col)
{
	return r->ops->text(r, col, NULL);
}

/* Copies column col (NULL as "") into dst[size], cutting what does not fit. */
static void col_copy(const struct mg_row *r, int col, char *dst, size_t size)
{
	const char *t = col_str(r, col);
	snprintf(dst, size, "%s", t ? t : "");
}

static void host_row(const struct mg_row *r, struct mg_store_host *h)
{
	memset(h, 0, sizeof(*h));
	h->id = col_i64(r, 0);
	col_copy(r, 1, h->hostname, sizeof(h->hostname));
	col_copy(r, 2, h->cert_serial, sizeof(h->cert_serial));
	h->enrolled_us = col_i64(r, 3);
	h->last_seen_us = col_i64(r, 4);
	h->revoked = col_i64(r, 5) != 0;
	h->policy_version = (uint64_t)col_i64(r, 6);
	h->spool_depth = (uint64_t)col_i64(r, 7);
	h->oldest_unsent_us = col_i64(r, 8);
	col_copy(r, 9, h->agent_version, sizeof(h->agent_version));
}

static void admin_row(const struct mg_row *r, struct mg_store_admin *a)
{
	memset(a, 0, sizeof(*a));
	a->id = col_i64(r, 0);
	col_copy(r, 1, a->name, sizeof(a->name));
	col_copy(r, 2, a->password_hash, sizeof(a->password_hash));
	const char *role = col_str(r, 3);
	enum mg_admin_role rl = MG_ROLE_AUDITOR; /* least privilege if the row is odd */
	if (role)
		mg_admin_role_from_name(role, &rl);
	a->role = rl;
	a->disabled = col_i64(r, 4) != 0;
	a->created_us = col_i64(r, 5);
}

static void action_row(const struct mg_row *r, struct mg_store_admin_action *x)
{
	memset(x, 0, sizeof(*x));
	x->id = col_i64(r, 0);
	x->time_us = col_i64(r, 1);
	col_copy(r, 2, x->admin, sizeof(x->admin));
	col_copy(r, 3, x->action, sizeof(x->action));
	col_copy(r, 4, x->target, sizeof(x->target));
	col_copy(r, 5, x->remote, sizeof(x->remote));
	x->detail = col_str(r, 6);
	x->event_id = col_i64(r, 7);
}

static void alert_row(const struct mg_row *r, struct mg_store_alert *a)
{
	memset(a, 0, sizeof(*a));
	a->id = col_i64(r, 0);
	a->host_id = col_i64(r, 1);
	col_copy(r, 2, a->boot_id, sizeof(a->boot_id));
	a->seq = (uint64_t)col_i64(r, 3);
	col_copy(r, 4, a->kind, sizeof(a->kind));
	a->time_us = col_i64(r, 5);
	a->evidence = col_str(r, 6);
}

static void device_row(const struct mg_row *r, struct mg_store_device *d)
{
	memset(d, 0, sizeof(*d));
	d->id = col_i64(r, 0);
	col_copy(r, 1, d->dev.vendor_id, sizeof(d->dev.vendor_id));
	col_copy(r, 2, d->dev.product_id, sizeof(d->dev.product_id));
	col_copy(r, 3, d->dev.serial, sizeof(d->dev.serial));
	col_copy(r, 4, d->dev.name, sizeof(d->dev.name));
	col_copy(r, 5, d->dev.hash, sizeof(d->dev.hash));
	d->first_seen_us = col_i64(r, 6);
	d->last_seen_us = col_i64(r, 7);
	d->first_host_id = col_i64(r, 8);
	d->last_host_id = col_i64(r, 9);
	d->sightings = (uint64_t)col_i64(r, 10);
}

static void rule_row(const struct mg_row *r, struct mg_store_rule *x)
{
	memset(x, 0, sizeof(*x));
	x->id = col_i64(r, 0);
	col_copy(r, 1, x->text, sizeof(x->text));
	x->host_id = col_i64(r, 2);
	x->expires_us = col_i64(r, 3);
	x->created_us = col_i64(r, 4);
	col_copy(r, 5, x->created_by, sizeof(x->created_by));
	x->request_id = col_i64(r, 6);
	col_copy(r, 7, x->comment, sizeof(x->comment));
}

static void request_row(const struct mg_row *r, struct mg_store_request *x)
{
	memset(x, 0, sizeof(*x));
	x->id = col_i64(r, 0);
	col_copy(r, 1, x->request_id, sizeof(x->request_id));
	x->host_id = col_i64(r, 2);
	col_copy(r, 3, x->user, sizeof(x->user));
	col_copy(r, 4, x->dev.vendor_id, sizeof(x->dev.vendor_id));
	col_copy(r, 5, x->dev.product_id, sizeof(x->dev.product_id));
	col_copy(r, 6, x->dev.serial, sizeof(x->dev.serial));
	col_copy(r, 7, x->dev.name, sizeof(x->dev.name));
	col_copy(r, 8, x->dev.hash, sizeof(x->dev.hash));
	col_copy(r, 9, x->reason, sizeof(x->reason));
	x->created_us = col_i64(r, 10);
	x->state = (enum mg_request_state)col_i64(r, 11);
	x->decided_us = col_i64(r, 12);
	col_copy(r, 13, x->decided_by, sizeof(x->decided_by));
	col_copy(r, 14, x->note, sizeof(x->note));
	x->rule_id = col_i64(r, 15);
}

/* ---- handlers ---- */

/* The caller's callback of sink, as the foreach of type T declared it. */
#define SINK_CB(sink, T) ((int (*)(void *, const T *))(sink)->cb)

int mg_row_host_get(const struct mg_row *r, void *sink)
{
	host_row(r, ((struct mg_row_sink *)sink)->buf);
	return 1;
}

int mg_row_host_each(const struct mg_row *r, void *sink)
{
	struct mg_row_sink *k = sink;
	struct mg_store_host h;
	host_row(r, &h);
	return SINK_CB(k, struct mg_store_host)(k->ctx, &h);
}

int mg_row_admin_get(const struct mg_row *r, void *sink)
{
	admin_row(r, ((struct mg_row_sink *)sink)->buf);
	return 1;
}

int mg_row_admin_each(const struct mg_row *r, void *sink)
{
	struct mg_row_sink *k = sink;
	struct mg_store_admin a;
	admin_row(r, &a);
	return SINK_CB(k, struct mg_store_admin)(k->ctx, &a);
}

int mg_row_session_get(const struct mg_row *r, void *sink)
{
	struct mg_row_sink *k = sink;
	admin_row(r, k->buf);
	k->i64 = col_i64(r, 6);
	return 1;
}

int mg_row_action_each(const struct mg_row *r, void *sink)
{
	struct mg_row_sink *k = sink;
	struct mg_store_admin_action x;
	action_row(r, &x);
	return SINK_CB(k, struct mg_store_admin_action)(k->ctx, &x);
}

int mg_row_alert_each(const struct mg_row *r, void *sink)
{
	struct mg_row_sink *k = sink;
	struct mg_store_alert a;
	alert_row(r, &a);
	return SINK_CB(k, struct mg_store_alert)(k->ctx, &a);
}

int mg_row_device_each(const struct mg_row *r, void *sink)
{
	struct mg_row_sink *k = sink;
	device_row(r, k->buf);
	return SINK_CB(k, struct mg_store_device)(k->ctx, k->buf);
}

int mg_row_rule_each(const struct mg_row *r, void *sink)
{
	struct mg_row_sink *k = sink;
	rule_row(r, k->buf);
	return SINK_CB(k, struct mg_store_rule)(k->ctx, k->buf);
}

int mg_row_request_each(const struct mg_row *r, void *sink)
{
	struct mg_row_sink *k = sink;
	request_row(r, k->buf);
	return SINK_CB(k, struct mg_store_request)(k->ctx, k->buf);
}

int mg_row_policy_get(const struct mg_row *r, void *sink)
{
	struct mg_row_sink *k = sink;
	size_t len = 0;
	struct mg_store_policy *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->version = (uint64_t)col_i64(r, 0);
	p->rules_revision = (uint64_t)col_i64(r, 1);
	p->created_us = col_i64(r, 2);
	const char *json = r->ops->text(r, 3, &len);
	p->json = json ? malloc(len + 1) : NULL;
	if (!p->json || r->ops->blob(r, 4, &p->sig, &p->sig_len) < 0) {
		mg_store_policy_free(&p);
		return -ENOMEM;
	}
	memcpy(p->json, json, len);
	p->json[len] = '\0';
	p->json_len = len;
	k->buf = p;
	return 1;
}

int mg_row_i64_get(const struct mg_row *r, void *sink)
{
	((struct mg_row_sink *)sink)->i64 = col_i64(r, 0);
	return 1;
}
