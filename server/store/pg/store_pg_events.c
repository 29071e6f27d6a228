/*
 * PostgreSQL backend: exactly-once ingest and the event, alert and device ledger queries.
 *
 * Ingest locks the stream's cursor row (SELECT ... FOR UPDATE) first, so two collectors that
 * receive the same batch serialize on it: the second sees the first's cursor and stores
 * nothing twice. New events go in with one COPY; device ledger rows are upserted once per
 * device and batch, in key order, so that concurrent batches cannot deadlock.
 */
#include "store_pg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PIPELINE_CHUNK 256 /* queries per sync: keeps unread results far below socket buffers */

struct ingest_job {
	int64_t host_id;
	const struct mg_store_batch *b;
	int64_t now_us;
	struct mg_ingest_result res;
};

static int host_state(struct pg_conn *c, int64_t host_id)
{
	struct pg_params p = {0};
	pg_p_int(&p, host_id);
	int r = 0;
	PGresult *res = pg_exec(c, MG_SQL_HOST_STATE, &p, &r);
	if (!res)
		return r;
	r = PQntuples(res) != 1 ? -ENOENT : pg_int(res, 0, 0) ? -EPERM : 0;
	PQclear(res);
	return r;
}

/* Locks (creating when absent) the stream row: its id, last_seq and last_hash. */
static int stream_lock(struct pg_conn *c, const struct ingest_job *j, int64_t *id,
                       uint64_t *last_seq, char *last_hash, size_t hash_size)
{
	for (int pass = 0; pass < 2; pass++) {
		struct pg_params p = {0};
		pg_p_int(&p, j->host_id);
		pg_p_text(&p, j->b->boot_id, false);
		int r = 0;
		PGresult *res = pg_exec(c, PG_STREAM_LOCK, &p, &r);
		if (!res)
			return r;
		if (PQntuples(res) == 1) {
			*id = pg_int(res, 0, 0);
			*last_seq = (uint64_t)pg_int(res, 0, 1);
			pg_copy(res, 0, 2, last_hash, hash_size);
			PQclear(res);
			return 0;
		}
		PQclear(res);
		if (pass == 1)
			break;
		pg_p_int(&p, j->now_us);
		r = pg_run(c, MG_SQL_STREAM_ADD, &p, NULL);
		if (r < 0)
			return r;
	}
	return -EIO;
}

/* An alert row (kind) for event e of the batch and its "collector.tamper" event row (json). */
static int alert_rows(struct pg_conn *c, const struct ingest_job *j, const struct mg_store_event *e,
                      const char *kind, const char *json)
{
	struct pg_params p = {0};
	pg_p_int(&p, j->host_id);
	pg_p_text(&p, j->b->boot_id, false);
	pg_p_int(&p, (int64_t)e->seq);
	pg_p_text(&p, kind, false);
	pg_p_int(&p, j->now_us);
	pg_p_text(&p, e->json, false);
	int r = pg_run(c, MG_SQL_ALERT_INSERT, &p, NULL);
	if (r == 0) {
		struct pg_params q = {0};
		pg_p_int(&q, j->host_id);
		pg_p_int(&q, j->now_us);
		pg_p_text(&q, "collector.tamper", false);
		pg_p_text(&q, NULL, true);
		pg_p_text(&q, json, false);
		PGresult *res = pg_exec(c, MG_SQL_OWN_EVENT_INSERT, &q, &r);
		PQclear(res);
	}
	return r;
}

static int record_alert(struct pg_conn *c, const struct ingest_job *j, size_t idx,
                        const char *stored_hash)
{
	const struct mg_store_event *e = &j->b->evs[idx];
	const char *kind = mg_store_alert_kind(j->res.status);
	char *json = NULL;
	int r = mg_store_tamper_event_json(
	    j->host_id, j->b->boot_id, e->seq, kind, stored_hash,
	    j->res.status == MG_INGEST_CONFLICT ? e->hash : e->prev_hash, j->now_us, &json);
	if (r < 0)
		return r;
	r = alert_rows(c, j, e, kind, json);
	free(json);
	return r;
}

/* As in the SQLite backend: the first time host_id's events name another enrolled host, an
 * alert row and a "collector.tamper" event row. */
static int record_claim(struct pg_conn *c, const struct ingest_job *j, const char *name, size_t idx)
{
	const struct mg_store_event *e = &j->b->evs[idx];
	int64_t other = 0;
	uint64_t changed = 0;
	char *json = NULL;
	int r = 0;
	struct pg_params p = {0};
	pg_p_text(&p, name, false);
	pg_p_int(&p, j->host_id);
	PGresult *res = pg_exec(c, PG_HOST_OTHER, &p, &r);
	if (!res)
		return r;
	if (PQntuples(res) == 1)
		other = pg_int(res, 0, 0);
	PQclear(res);
	if (other == 0)
		return 0; /* a renamed terminal: its claim is shown, not alerted */
	struct pg_params q = {0};
	pg_p_int(&q, j->host_id);
	pg_p_text(&q, name, false);
	pg_p_int(&q, other);
	pg_p_int(&q, j->now_us);
	r = pg_run(c, PG_CLAIM_ADD, &q, &changed);
	if (r < 0 || changed == 0)
		return r; /* alerted before */
	r = mg_store_claim_event_json(j->host_id, j->b->boot_id, e->seq, name, other, j->now_us,
	                              &json);
	if (r < 0)
		return r;
	r = alert_rows(c, j, e, MG_STORE_ALERT_HOST_CLAIM, json);
	free(json);
	return r;
}

/* The claims of the events stored from index from on (store.h, mg_store_event.host). */
static int check_claims(struct pg_conn *c, const struct ingest_job *j, size_t from)
{
	char enrolled[256] = "";
	const char **names = NULL;
	size_t *first = NULL, n = 0;
	int r = 0;
	struct pg_params p = {0};
	pg_p_int(&p, j->host_id);
	PGresult *res = pg_exec(c, PG_HOST_NAME, &p, &r);
	if (!res)
		return r;
	if (PQntuples(res) == 1)
		pg_copy(res, 0, 0, enrolled, sizeof(enrolled));
	else
		r = -ENOENT;
	PQclear(res);
	if (r < 0)
		return r;
	r = mg_store_batch_claims(j->b, from, enrolled, &names, &first, &n);
	for (size_t i = 0; i < n && r == 0; i++)
		r = record_claim(c, j, names[i], first[i]);
	free(names);
	free(first);
	return r;
}

/* As in the SQLite backend: 0 all match, 1 CONFLICT recorded, < 0 error. */
static int check_dups(struct pg_conn *c, struct ingest_job *j, int64_t stream_id, size_t ndup)
{
	const struct mg_store_event *evs = j->b->evs;
	struct pg_params p = {0};
	pg_p_int(&p, stream_id);
	pg_p_int(&p, (int64_t)evs[0].seq);
	pg_p_int(&p, (int64_t)evs[ndup - 1].seq);
	int r = 0;
	PGresult *res = pg_exec(c, MG_SQL_EVENTS_RANGE, &p, &r);
	if (!res)
		return r;
	size_t bad = ndup;
	char stored_hash[72] = "";
	int rows = PQntuples(res);
	for (int row = 0; row < rows; row++) {
		struct mg_store_stored s = {
		    .seq = (uint64_t)pg_int(res, row, 0),
		    .hash = pg_text(res, row, 1),
		    .prev_hash = pg_text(res, row, 2),
		    .json = pg_text(res, row, 3),
		};
		size_t i = (size_t)(s.seq - evs[0].seq);
		if (s.seq < evs[0].seq || i >= ndup || mg_store_event_matches(&evs[i], &s) != 0) {
			bad = i < ndup ? i : 0;
			snprintf(stored_hash, sizeof(stored_hash), "%s", s.hash);
			break;
		}
	}
	PQclear(res);
	if (bad == ndup)
		return 0;
	j->res.status = MG_INGEST_CONFLICT;
	j->res.bad_seq = evs[bad].seq;
	r = record_alert(c, j, bad, stored_hash);
	return r < 0 ? r : 1;
}

/* Reads the results of sent queries and the sync that ends them. */
static int pipeline_collect(struct pg_conn *c, size_t sent)
{
	int r = 0;
	for (size_t q = 0; q < sent; q++) {
		PGresult *res;
		while ((res = PQgetResult(c->pc)) != NULL) {
			ExecStatusType s = PQresultStatus(res);
			if (r == 0 && s == PGRES_FATAL_ERROR)
				r = pg_res_err(c, res);
			else if (r == 0 && s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
				r = -EIO;
			PQclear(res);
		}
	}
	PGresult *res = PQgetResult(c->pc);
	if (!res || PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
		c->broken = true;
		r = r ? r : -EIO;
	}
	PQclear(res);
	return r;
}

static const char *nz(const char *s)
{
	return s ? s : "";
}

/*
 * Event rows go to the server with COPY (text format): a tab between fields, \N for NULL,
 * backslash, tab, newline and carriage return escaped. About three times the rate of one
 * INSERT per row, even pipelined.
 */
#define COPY_FLUSH (64u * 1024u)

struct copybuf {
	char *p;
	size_t len, cap;
};

static int cb_reserve(struct copybuf *b, size_t more)
{
	if (b->len + more <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : COPY_FLUSH * 2;
	while (cap < b->len + more)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int cb_text(struct copybuf *b, const char *s, char end)
{
	size_t n = s ? strlen(s) : 0;
	if (cb_reserve(b, 2 * n + 4) < 0)
		return -ENOMEM;
	if (!s) {
		memcpy(b->p + b->len, "\\N", 2);
		b->len += 2;
	}
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		const char *esc = ch == '\\'   ? "\\\\"
		                  : ch == '\t' ? "\\t"
		                  : ch == '\n' ? "\\n"
		                  : ch == '\r' ? "\\r"
		                               : NULL;
		if (esc) {
			b->p[b->len++] = esc[0];
			b->p[b->len++] = esc[1];
		} else {
			b->p[b->len++] = ch;
		}
	}
	b->p[b->len++] = end;
	return 0;
}

static int cb_int(struct copybuf *b, int64_t v, char end)
{
	if (cb_reserve(b, 24) < 0)
		return -ENOMEM;
	int n = snprintf(b->p + b->len, 24, "%lld%c", (long long)v, end);
	b->len += (size_t)n;
	return 0;
}

static int copy_row(struct copybuf *b, const struct ingest_job *j, int64_t stream_id,
                    const struct mg_store_event *e)
{
	int r = cb_int(b, stream_id, '\t');
	if (r == 0)
		r = cb_int(b, (int64_t)e->seq, '\t');
	if (r == 0)
		r = cb_int(b, j->host_id, '\t');
	if (r == 0)
		r = cb_int(b, e->time_us, '\t');
	if (r == 0)
		r = cb_text(b, e->type, '\t');
	if (r == 0)
		r = cb_text(b, e->user && *e->user ? e->user : NULL, '\t');
	if (r == 0)
		r = cb_text(b, e->device_serial && *e->device_serial ? e->device_serial : NULL,
		            '\t');
	if (r == 0)
		r = cb_text(b, e->hash, '\t');
	if (r == 0)
		r = cb_text(b, nz(e->prev_hash), '\t');
	if (r == 0)
		r = cb_text(b, e->json, '\t');
	if (r == 0)
		r = cb_int(b, j->now_us, '\n');
	return r;
}

static int copy_events(struct pg_conn *c, const struct ingest_job *j, int64_t stream_id,
                       size_t from)
{
	struct copybuf b = {0};
	PGresult *res = PQexec(c->pc, pg_sql_text(PG_EVENTS_COPY));
	int r = PQresultStatus(res) == PGRES_COPY_IN ? 0 : pg_res_err(c, res);
	PQclear(res);
	if (r < 0)
		return r;
	for (size_t i = from; i < j->b->n && r == 0; i++) {
		r = copy_row(&b, j, stream_id, &j->b->evs[i]);
		if (r == 0 && (b.len >= COPY_FLUSH || i + 1 == j->b->n)) {
			if (PQputCopyData(c->pc, b.p, (int)b.len) != 1)
				r = -EIO;
			b.len = 0;
		}
	}
	if (PQputCopyEnd(c->pc, r == 0 ? NULL : "aborted") != 1) {
		c->broken = true;
		r = r ? r : -EIO;
	}
	while ((res = PQgetResult(c->pc)) != NULL) {
		if (r == 0 && PQresultStatus(res) != PGRES_COMMAND_OK)
			r = pg_res_err(c, res);
		PQclear(res);
	}
	free(b.p);
	return r;
}

static int send_device(struct pg_conn *c, const struct ingest_job *j,
                       const struct mg_store_ledger *l)
{
	struct pg_params p = {0};
	pg_p_text(&p, l->last->device_vendor_id, false);
	pg_p_text(&p, l->last->device_product_id, false);
	pg_p_text(&p, nz(l->last->device_serial), false);
	pg_p_text(&p, nz(l->last->device_hash), false);
	pg_p_text(&p, l->name, false);
	pg_p_int(&p, l->first->time_us);
	pg_p_int(&p, l->last->time_us);
	pg_p_int(&p, j->host_id);
	pg_p_int(&p, l->sightings);
	char name[16];
	pg_stmt_name(MG_SQL_DEVICE_UPSERT, name);
	return PQsendQueryPrepared(c->pc, name, p.n, p.v, p.len, p.fmt, 0) ? 0 : -EIO;
}

/* Updates the device ledger: one upsert per device, in key order, pipelined in chunks. */
static int update_ledger(struct pg_conn *c, const struct ingest_job *j, size_t from)
{
	struct mg_store_ledger *devs = NULL;
	size_t ndev = 0;
	int r = mg_store_ledger_group(j->b, from, &devs, &ndev);
	if (r < 0 || ndev == 0)
		return r;
	r = pg_prepare(c, MG_SQL_DEVICE_UPSERT);
	if (r < 0 || !PQenterPipelineMode(c->pc)) {
		free(devs);
		return r < 0 ? r : -EIO;
	}
	size_t done = 0;
	while (done < ndev && r == 0) {
		size_t sent = 0;
		for (; sent < PIPELINE_CHUNK && done < ndev && r == 0; sent++, done++)
			r = send_device(c, j, &devs[done]);
		if (!PQpipelineSync(c->pc)) {
			c->broken = true;
			r = r ? r : -EIO;
			break;
		}
		int rr = pipeline_collect(c, sent);
		if (r == 0)
			r = rr;
	}
	if (!PQexitPipelineMode(c->pc)) {
		c->broken = true;
		r = r ? r : -EIO;
	}
	free(devs);
	return r;
}

static int ingest_fn(struct pg_conn *c, void *arg)
{
	struct ingest_job *j = arg;
	const struct mg_store_batch *b = j->b;
	int r = host_state(c, j->host_id);
	if (r < 0)
		return r;
	int64_t stream_id = 0;
	uint64_t last_seq = 0;
	char last_hash[72] = "";
	r = stream_lock(c, j, &stream_id, &last_seq, last_hash, sizeof(last_hash));
	if (r < 0)
		return r;

	memset(&j->res, 0, sizeof(j->res));
	j->res.acked_through = last_seq;
	if (b->chain_break < b->n) {
		j->res.status = MG_INGEST_BROKEN_CHAIN;
		j->res.bad_seq = b->evs[b->chain_break].seq;
		return record_alert(c, j, b->chain_break, b->evs[b->chain_break - 1].hash);
	}
	size_t ndup = mg_store_batch_ndup(b, last_seq);
	if (ndup > 0) {
		r = check_dups(c, j, stream_id, ndup);
		if (r != 0)
			return r < 0 ? r : 0;
	}
	size_t from = mg_store_batch_verdict(b, ndup, last_seq, last_hash, &j->res);
	if (j->res.status == MG_INGEST_BROKEN_CHAIN)
		return record_alert(c, j, ndup, last_hash);
	if (j->res.status == MG_INGEST_OK && from < b->n) {
		r = copy_events(c, j, stream_id, from);
		if (r == 0)
			r = update_ledger(c, j, from);
		if (r == 0)
			r = check_claims(c, j, from);
		if (r < 0)
			return r;
		struct pg_params p = {0};
		pg_p_int(&p, stream_id);
		pg_p_int(&p, (int64_t)b->evs[b->n - 1].seq);
		pg_p_text(&p, b->evs[b->n - 1].hash, false);
		pg_p_int(&p, j->now_us);
		r = pg_run(c, MG_SQL_STREAM_SET, &p, NULL);
		if (r < 0)
			return r;
	}
	struct pg_params p = {0};
	pg_p_int(&p, j->host_id);
	pg_p_int(&p, j->now_us);
	return pg_run(c, MG_SQL_HOST_SEEN, &p, NULL);
}

int pgs_ingest(struct mg_store *s, int64_t host_id, const struct mg_store_batch *b, int64_t now_us,
               struct mg_ingest_result *res)
{
	struct ingest_job j = {.host_id = host_id, .b = b, .now_us = now_us};
	int r = pg_tx((struct pg_store *)s, ingest_fn, &j);
	if (r == 0)
		*res = j.res;
	return r;
}

/* ---- reads ---- */

struct cursor_ctx {
	int64_t host_id;
	const char *boot_id;
	uint64_t v;
};

static int cursor_fn(struct pg_conn *c, void *arg)
{
	struct cursor_ctx *q = arg;
	struct pg_params p = {0};
	pg_p_int(&p, q->host_id);
	pg_p_text(&p, q->boot_id, false);
	int r = 0;
	PGresult *res = pg_exec(c, MG_SQL_STREAM_GET, &p, &r);
	if (!res)
		return r;
	q->v = PQntuples(res) == 1 ? (uint64_t)pg_int(res, 0, 0) : 0;
	PQclear(res);
	return 0;
}

int pgs_cursor_get(struct mg_store *s, int64_t host_id, const char *boot_id, uint64_t *out)
{
	struct cursor_ctx q = {host_id, boot_id, 0};
	int r = pg_read((struct pg_store *)s, cursor_fn, &q);
	if (r == 0)
		*out = q.v;
	return r;
}

struct events_ctx {
	const struct mg_store_event_filter *f;
	int (*cb)(void *, const struct mg_store_event_row *);
	void *ctx;
	uint64_t count;
};

static unsigned filter_mask(const struct mg_store_event_filter *f)
{
	return (f->host_id ? PG_F_HOST : 0u) | (f->type && *f->type ? PG_F_TYPE : 0u) |
	       (f->user && *f->user ? PG_F_USER : 0u) |
	       (f->device_serial && *f->device_serial ? PG_F_SERIAL : 0u) |
	       (f->from_us ? PG_F_FROM : 0u) | (f->to_us ? PG_F_TO : 0u);
}

/* The query of a mask (parameters numbered densely, in the order filter_params() adds). */
static int filter_prepare(struct pg_conn *c, unsigned mask, char name[16])
{
	snprintf(name, 16, "q%u", mask);
	if (c->evq_prepared[mask])
		return 0;
	static const struct {
		unsigned bit;
		const char *cond;
	} conds[] = {
	    {PG_F_HOST, "host_id ="},         {PG_F_TYPE, "type ="},     {PG_F_USER, "username ="},
	    {PG_F_SERIAL, "device_serial ="}, {PG_F_FROM, "time_us >="}, {PG_F_TO, "time_us <"},
	};
	char sql[768];
	int n = 1;
	size_t len = (size_t)snprintf(
	    sql, sizeof(sql), "SELECT %s FROM events WHERE id > $1",
	    mask & PG_F_COUNT ? "count(*)"
	                      : "id, coalesce(host_id, 0), json,"
	                        " (SELECT hostname FROM hosts WHERE hosts.id = events.host_id)");
	/* A time range without a host: one range of events_host_time per host (and the
	 * collector's own events, host NULL); no index on time alone (docs/ARCHITECTURE.md). */
	if ((mask & (PG_F_FROM | PG_F_TO)) && !(mask & PG_F_HOST))
		len += (size_t)snprintf(sql + len, sizeof(sql) - len,
		                        " AND (host_id = ANY(ARRAY(SELECT id FROM hosts))"
		                        " OR host_id IS NULL)");
	for (size_t i = 0; i < sizeof(conds) / sizeof(conds[0]); i++)
		if (mask & conds[i].bit)
			len += (size_t)snprintf(sql + len, sizeof(sql) - len, " AND %s $%d",
			                        conds[i].cond, ++n);
	if (!(mask & PG_F_COUNT))
		snprintf(sql + len, sizeof(sql) - len, " ORDER BY id LIMIT $%d", ++n);
	PGresult *res = PQprepare(c->pc, name, sql, 0, NULL);
	int r = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : pg_res_err(c, res);
	PQclear(res);
	if (r == 0)
		c->evq_prepared[mask] = true;
	return r;
}

static void filter_params(struct pg_params *p, unsigned mask, const struct mg_store_event_filter *f)
{
	pg_p_int(p, f->after_id);
	if (mask & PG_F_HOST)
		pg_p_int(p, f->host_id);
	if (mask & PG_F_TYPE)
		pg_p_text(p, f->type, false);
	if (mask & PG_F_USER)
		pg_p_text(p, f->user, false);
	if (mask & PG_F_SERIAL)
		pg_p_text(p, f->device_serial, false);
	if (mask & PG_F_FROM)
		pg_p_int(p, f->from_us);
	if (mask & PG_F_TO)
		pg_p_int(p, f->to_us);
	if (!(mask & PG_F_COUNT))
		pg_p_int(p, f->limit);
}

/* Streams the rows one at a time (single-row mode): a page of big events never sits whole
 * in memory. */
static int events_fn(struct pg_conn *c, void *arg)
{
	struct events_ctx *q = arg;
	unsigned mask = filter_mask(q->f);
	char name[16];
	int r = filter_prepare(c, mask, name);
	if (r < 0)
		return r;
	struct pg_params p = {0};
	filter_params(&p, mask, q->f);
	if (!PQsendQueryPrepared(c->pc, name, p.n, p.v, p.len, p.fmt, 0) ||
	    !PQsetSingleRowMode(c->pc)) {
		c->broken = true;
		return -EIO;
	}
	PGresult *res;
	bool stop = false;
	while ((res = PQgetResult(c->pc)) != NULL) {
		ExecStatusType s = PQresultStatus(res);
		if (s == PGRES_SINGLE_TUPLE && !stop) {
			struct mg_store_event_row row = {
			    .id = pg_int(res, 0, 0),
			    .host_id = pg_int(res, 0, 1),
			    .host = pg_text(res, 0, 3),
			    .json = pg_text(res, 0, 2),
			};
			int cr = q->cb(q->ctx, &row);
			if (cr != 0) {
				stop = true;
				r = cr < 0 ? cr : 0;
			}
		} else if (s == PGRES_FATAL_ERROR && r == 0) {
			r = pg_res_err(c, res);
		}
		PQclear(res); /* rows after a stop are drained unread */
	}
	return r;
}

int pgs_events_query(struct mg_store *s, const struct mg_store_event_filter *f,
                     int (*cb)(void *, const struct mg_store_event_row *), void *ctx)
{
	struct events_ctx q = {f, cb, ctx, 0};
	return pg_read((struct pg_store *)s, events_fn, &q);
}

static int count_fn(struct pg_conn *c, void *arg)
{
	struct events_ctx *q = arg;
	unsigned mask = filter_mask(q->f) | PG_F_COUNT;
	char name[16];
	int r = filter_prepare(c, mask, name);
	if (r < 0)
		return r;
	struct pg_params p = {0};
	filter_params(&p, mask, q->f);
	PGresult *res = PQexecPrepared(c->pc, name, p.n, p.v, p.len, p.fmt, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		q->count = (uint64_t)pg_int(res, 0, 0);
	else
		r = pg_res_err(c, res);
	PQclear(res);
	return r;
}

int pgs_events_count(struct mg_store *s, const struct mg_store_event_filter *f, uint64_t *out)
{
	struct events_ctx q = {f, NULL, NULL, 0};
	int r = pg_read((struct pg_store *)s, count_fn, &q);
	if (r == 0)
		*out = q.count;
	return r;
}
