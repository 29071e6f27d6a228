/*
 * SQLite backend: exactly-once ingest (a writer job), and the event, alert and device ledger
 * queries (reader connections). The decisions themselves are in store_ingest.c.
 */
#include "store_sqlite.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

struct ingest_job {
	struct sq_store *st;
	int64_t host_id;
	const struct mg_store_batch *b;
	int64_t now_us;
	struct mg_ingest_result res;
};

static int low_disk(struct sq_store *st)
{
	uint64_t reserve = atomic_load(&st->reserve);
	if (reserve == 0)
		return 0;
	struct statvfs sv;
	if (statvfs(st->dir, &sv) < 0)
		return -errno;
	uint64_t avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
	return avail < reserve ? -ENOSPC : 0;
}

/* 0, -ENOENT (unknown host) or -EPERM (revoked). */
static int host_state(struct sq_conn *c, int64_t host_id)
{
	int r = 0;
	sqlite3_stmt *st = sq_stmt(c, MG_SQL_HOST_STATE, &r);
	if (!st)
		return r;
	sqlite3_bind_int64(st, 1, host_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		r = sqlite3_column_int(st, 0) ? -EPERM : 0;
	else
		r = rc == SQLITE_DONE ? -ENOENT : sq_err(rc);
	sqlite3_reset(st);
	return r;
}

/* An alert row (kind) for event e of the batch and its "collector.tamper" event row (json). */
static int alert_rows(struct sq_conn *c, const struct ingest_job *j, const struct mg_store_event *e,
                      const char *kind, const char *json)
{
	int r = 0;
	sqlite3_stmt *st = sq_stmt(c, MG_SQL_ALERT_INSERT, &r);
	if (!st)
		return r;
	sqlite3_bind_int64(st, 1, j->host_id);
	sqlite3_bind_text(st, 2, j->b->boot_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)e->seq);
	sqlite3_bind_text(st, 4, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, j->now_us);
	sqlite3_bind_text(st, 6, e->json, -1, SQLITE_STATIC);
	r = sq_step_done(st);
	if (r < 0)
		return r;
	st = sq_stmt(c, MG_SQL_OWN_EVENT_INSERT, &r);
	if (!st)
		return r;
	sqlite3_bind_int64(st, 1, j->host_id);
	sqlite3_bind_int64(st, 2, j->now_us);
	sqlite3_bind_text(st, 3, "collector.tamper", -1, SQLITE_STATIC);
	sqlite3_bind_null(st, 4);
	sqlite3_bind_text(st, 5, json, -1, SQLITE_STATIC);
	return sq_step_done(st);
}

/* The alert row and the "collector.tamper" event row. */
static int record_alert(struct sq_conn *c, const struct ingest_job *j, size_t idx,
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

/* One claim of the batch: the first time host_id's events name another enrolled host, an alert
 * row and a "collector.tamper" event row. */
static int record_claim(struct sq_conn *c, const struct ingest_job *j, const char *name, size_t idx)
{
	const struct mg_store_event *e = &j->b->evs[idx];
	int64_t other = 0;
	char *json = NULL;
	int r = 0, rc;
	sqlite3_stmt *st = sq_stmt(c, SQ_HOST_OTHER, &r);
	if (!st)
		return r;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, j->host_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		other = sqlite3_column_int64(st, 0);
	else if (rc != SQLITE_DONE)
		r = sq_err(rc) ? sq_err(rc) : -EIO;
	sqlite3_reset(st);
	if (r < 0 || other == 0)
		return r; /* a renamed terminal: its claim is shown, not alerted */
	st = sq_stmt(c, SQ_CLAIM_ADD, &r);
	if (!st)
		return r;
	sqlite3_bind_int64(st, 1, j->host_id);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, other);
	sqlite3_bind_int64(st, 4, j->now_us);
	r = sq_step_done(st);
	if (r < 0 || sqlite3_changes(c->db) == 0)
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
static int check_claims(struct sq_conn *c, const struct ingest_job *j, size_t from)
{
	char enrolled[256] = "";
	const char **names = NULL;
	size_t *first = NULL, n = 0;
	int r = 0, rc;
	sqlite3_stmt *st = sq_stmt(c, SQ_HOST_NAME, &r);
	if (!st)
		return r;
	sqlite3_bind_int64(st, 1, j->host_id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		sq_col_copy(st, 0, enrolled, sizeof(enrolled));
	else
		r = rc == SQLITE_DONE ? -ENOENT : (sq_err(rc) ? sq_err(rc) : -EIO);
	sqlite3_reset(st);
	if (r < 0)
		return r;
	r = mg_store_batch_claims(j->b, from, enrolled, &names, &first, &n);
	for (size_t i = 0; i < n && r == 0; i++)
		r = record_claim(c, j, names[i], first[i]);
	free(names);
	free(first);
	return r;
}

/*
 * Compares the resent events evs[0..ndup) with the stored ones. 0: all match (or were
 * pruned); 1: res set to CONFLICT and the alert recorded; < 0: error.
 */
static int check_dups(struct sq_conn *c, struct ingest_job *j, int64_t stream_id, size_t ndup)
{
	const struct mg_store_event *evs = j->b->evs;
	int r = 0;
	sqlite3_stmt *st = sq_stmt(c, MG_SQL_EVENTS_RANGE, &r);
	if (!st)
		return r;
	sqlite3_bind_int64(st, 1, stream_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)evs[0].seq);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)evs[ndup - 1].seq);
	size_t bad = ndup;
	char stored_hash[72] = "";
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct mg_store_stored s = {
		    .seq = (uint64_t)sqlite3_column_int64(st, 0),
		    .hash = (const char *)sqlite3_column_text(st, 1),
		    .prev_hash = (const char *)sqlite3_column_text(st, 2),
		    .json = (const char *)sqlite3_column_text(st, 3),
		};
		size_t i = (size_t)(s.seq - evs[0].seq);
		if (s.seq < evs[0].seq || i >= ndup || mg_store_event_matches(&evs[i], &s) != 0) {
			bad = i < ndup ? i : 0;
			snprintf(stored_hash, sizeof(stored_hash), "%s", s.hash ? s.hash : "");
			break;
		}
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = sq_err(rc);
	sqlite3_reset(st);
	if (r < 0 || bad == ndup)
		return r;
	j->res.status = MG_INGEST_CONFLICT;
	j->res.bad_seq = evs[bad].seq;
	r = record_alert(c, j, bad, stored_hash);
	return r < 0 ? r : 1;
}

static int insert_events(struct sq_conn *c, const struct ingest_job *j, int64_t stream_id,
                         size_t from)
{
	const struct mg_store_batch *b = j->b;
	int r = 0;
	sqlite3_stmt *ins = sq_stmt(c, SQ_EVENT_INSERT, &r);
	if (!ins)
		return r;
	for (size_t i = from; i < b->n && r == 0; i++) {
		const struct mg_store_event *e = &b->evs[i];
		sqlite3_bind_int64(ins, 1, stream_id);
		sqlite3_bind_int64(ins, 2, (sqlite3_int64)e->seq);
		sqlite3_bind_int64(ins, 3, j->host_id);
		sqlite3_bind_int64(ins, 4, e->time_us);
		sqlite3_bind_text(ins, 5, e->type, -1, SQLITE_STATIC);
		sq_bind_text(ins, 6, e->user);
		sq_bind_text(ins, 7, e->device_serial);
		sqlite3_bind_text(ins, 8, e->hash, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 9, e->prev_hash ? e->prev_hash : "", -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 10, e->json, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 11, j->now_us);
		r = sq_step_done(ins);
	}
	return r;
}

/* One upsert per device of the batch. */
static int update_ledger(struct sq_conn *c, const struct ingest_job *j, size_t from)
{
	struct mg_store_ledger *l = NULL;
	size_t n = 0;
	int r = mg_store_ledger_group(j->b, from, &l, &n);
	if (r < 0 || n == 0)
		return r;
	sqlite3_stmt *st = sq_stmt(c, MG_SQL_DEVICE_UPSERT, &r);
	for (size_t i = 0; st && i < n && r == 0; i++) {
		const struct mg_store_event *e = l[i].last;
		sqlite3_bind_text(st, 1, e->device_vendor_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, e->device_product_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, e->device_serial ? e->device_serial : "", -1,
		                  SQLITE_STATIC);
		sqlite3_bind_text(st, 4, e->device_hash ? e->device_hash : "", -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, l[i].name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, l[i].first->time_us);
		sqlite3_bind_int64(st, 7, e->time_us);
		sqlite3_bind_int64(st, 8, j->host_id);
		sqlite3_bind_int64(st, 9, l[i].sightings);
		r = sq_step_done(st);
	}
	free(l);
	return r;
}

static int ingest_fn(struct sq_conn *c, void *arg)
{
	struct ingest_job *j = arg;
	const struct mg_store_batch *b = j->b;
	int r = host_state(c, j->host_id);
	if (r == 0)
		r = low_disk(j->st);
	if (r < 0)
		return r;

	int64_t stream_id = 0;
	uint64_t last_seq = 0;
	char last_hash[72] = "";
	sqlite3_stmt *st = sq_stmt(c, MG_SQL_STREAM_GET, &r);
	if (!st)
		return r;
	sqlite3_bind_int64(st, 1, j->host_id);
	sqlite3_bind_text(st, 2, b->boot_id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		stream_id = sqlite3_column_int64(st, 0);
		last_seq = (uint64_t)sqlite3_column_int64(st, 1);
		sq_col_copy(st, 2, last_hash, sizeof(last_hash));
	} else if (rc != SQLITE_DONE) {
		r = sq_err(rc);
	}
	sqlite3_reset(st);
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
		return record_alert(c, j, from == b->n ? ndup : from, last_hash);
	if (j->res.status == MG_INGEST_OK && from < b->n) {
		if (stream_id == 0) {
			st = sq_stmt(c, MG_SQL_STREAM_ADD, &r);
			if (!st)
				return r;
			sqlite3_bind_int64(st, 1, j->host_id);
			sqlite3_bind_text(st, 2, b->boot_id, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 3, j->now_us);
			r = sq_step_done(st);
			if (r < 0)
				return r;
			stream_id = sqlite3_last_insert_rowid(c->db);
		}
		r = insert_events(c, j, stream_id, from);
		if (r == 0)
			r = update_ledger(c, j, from);
		if (r == 0)
			r = check_claims(c, j, from);
		if (r < 0)
			return r;
		st = sq_stmt(c, MG_SQL_STREAM_SET, &r);
		if (!st)
			return r;
		sqlite3_bind_int64(st, 1, stream_id);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)b->evs[b->n - 1].seq);
		sqlite3_bind_text(st, 3, b->evs[b->n - 1].hash, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, j->now_us);
		r = sq_step_done(st);
		if (r < 0)
			return r;
	}
	st = sq_stmt(c, MG_SQL_HOST_SEEN, &r);
	if (!st)
		return r;
	sqlite3_bind_int64(st, 1, j->host_id);
	sqlite3_bind_int64(st, 2, j->now_us);
	return sq_step_done(st);
}

int sq_ingest(struct mg_store *s, int64_t host_id, const struct mg_store_batch *b, int64_t now_us,
              struct mg_ingest_result *res)
{
	struct ingest_job j = {
	    .st = (struct sq_store *)s, .host_id = host_id, .b = b, .now_us = now_us};
	int r = sq_write(j.st, ingest_fn, &j);
	if (r == 0)
		*res = j.res;
	return r;
}

/* ---- reads ---- */

int sq_cursor_get(struct mg_store *s, int64_t host_id, const char *boot_id, uint64_t *out)
{
	struct sq_store *sst = (struct sq_store *)s;
	struct sq_conn *c = NULL;
	int r = sq_reader_get(sst, &c);
	if (r < 0)
		return r;
	sqlite3_stmt *st = sq_stmt(c, MG_SQL_STREAM_GET, &r);
	if (st) {
		sqlite3_bind_int64(st, 1, host_id);
		sqlite3_bind_text(st, 2, boot_id, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			*out = (uint64_t)sqlite3_column_int64(st, 1);
		else if (rc == SQLITE_DONE)
			*out = 0;
		else
			r = sq_err(rc);
		sqlite3_reset(st);
	}
	sq_reader_put(sst, c);
	return r;
}

static unsigned filter_mask(const struct mg_store_event_filter *f)
{
	return (f->host_id ? SQ_F_HOST : 0u) | (f->type && *f->type ? SQ_F_TYPE : 0u) |
	       (f->user && *f->user ? SQ_F_USER : 0u) |
	       (f->device_serial && *f->device_serial ? SQ_F_SERIAL : 0u) |
	       (f->from_us ? SQ_F_FROM : 0u) | (f->to_us ? SQ_F_TO : 0u);
}

static void filter_bind(sqlite3_stmt *st, unsigned mask, const struct mg_store_event_filter *f)
{
	sqlite3_bind_int64(st, 1, f->after_id);
	if (mask & SQ_F_HOST)
		sqlite3_bind_int64(st, 2, f->host_id);
	if (mask & SQ_F_TYPE)
		sqlite3_bind_text(st, 3, f->type, -1, SQLITE_STATIC);
	if (mask & SQ_F_USER)
		sqlite3_bind_text(st, 4, f->user, -1, SQLITE_STATIC);
	if (mask & SQ_F_SERIAL)
		sqlite3_bind_text(st, 5, f->device_serial, -1, SQLITE_STATIC);
	if (mask & SQ_F_FROM)
		sqlite3_bind_int64(st, 6, f->from_us);
	if (mask & SQ_F_TO)
		sqlite3_bind_int64(st, 7, f->to_us);
	if (!(mask & SQ_F_COUNT))
		sqlite3_bind_int64(st, 8, f->limit);
}

int sq_events_query(struct mg_store *s, const struct mg_store_event_filter *f,
                    int (*cb)(void *, const struct mg_store_event_row *), void *ctx)
{
	struct sq_store *sst = (struct sq_store *)s;
	struct sq_conn *c = NULL;
	int r = sq_reader_get(sst, &c);
	if (r < 0)
		return r;
	unsigned mask = filter_mask(f);
	sqlite3_stmt *st = sq_events_stmt(c, mask, &r);
	if (st) {
		filter_bind(st, mask, f);
		int rc;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char *json = (const char *)sqlite3_column_text(st, 2);
			const char *host = (const char *)sqlite3_column_text(st, 3);
			struct mg_store_event_row row = {
			    .id = sqlite3_column_int64(st, 0),
			    .host_id = sqlite3_column_int64(st, 1),
			    .host = host ? host : "",
			    .json = json ? json : "",
			};
			r = cb(ctx, &row);
			if (r != 0)
				break;
		}
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			r = sq_err(rc);
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	sq_reader_put(sst, c);
	return r > 0 ? 0 : r;
}

int sq_events_count(struct mg_store *s, const struct mg_store_event_filter *f, uint64_t *out)
{
	struct sq_store *sst = (struct sq_store *)s;
	struct sq_conn *c = NULL;
	int r = sq_reader_get(sst, &c);
	if (r < 0)
		return r;
	unsigned mask = filter_mask(f) | SQ_F_COUNT;
	sqlite3_stmt *st = sq_events_stmt(c, mask, &r);
	if (st) {
		filter_bind(st, mask, f);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			*out = (uint64_t)sqlite3_column_int64(st, 0);
		else
			r = sq_err(rc) ? sq_err(rc) : -EIO;
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	sq_reader_put(sst, c);
	return r;
}
