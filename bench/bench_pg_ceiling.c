/*
 * The raw PostgreSQL ceiling for event ingest, the peer of bench_sqlite_ceiling.c: the
 * collector's own schema (store_schema.h, mg_store_pg_schema: the same events table and
 * indexes), the same rows (tests/server/store_testgen.c), ROWS_PER_TXN rows per transaction,
 * one connection, synchronous_commit on (the server's default), no cursor, no checks.
 *
 *   mynaguard-bench-pg-ceiling [-m insert|copy] [-n ROWS] [-b ROWS_PER_TXN] URL
 *
 * insert: one prepared INSERT per row, pipelined (libpq pipeline mode), in a transaction;
 * copy:   one COPY ... FROM STDIN per transaction (text format), as mg_store_ingest() does.
 * URL's database should be new (the schema is created if absent). Prints one Markdown row.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "mg/config.h"
#include "store_schema.h"
#include "store_testgen.h"

#define BOOT "7d2c0e4a-61b3-4f0e-8c55-3a9e1f04b2d7"

#define INSERT_SQL                                                                                 \
	"INSERT INTO events(stream_id, seq, host_id, time_us, type, username, device_serial, "     \
	"hash,"                                                                                    \
	" prev_hash, json, received_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
#define COPY_SQL                                                                                   \
	"COPY events(stream_id, seq, host_id, time_us, type, username, device_serial, hash,"       \
	" prev_hash, json, received_us) FROM STDIN"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The schema's "DROP INDEX IF EXISTS" notices are not results. */
static void no_notices(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static int exec(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
	if (!ok)
		fprintf(stderr, "%.60s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	return ok ? 0 : -1;
}

/* Appends s to the COPY text buffer with its escapes, then end; NULL is \N. */
static size_t copy_text(char *p, const char *s, char end)
{
	size_t o = 0;
	if (!s) {
		p[o++] = '\\';
		p[o++] = 'N';
	}
	for (; s && *s; s++) {
		char ch = *s;
		if (ch == '\\' || ch == '\t' || ch == '\n' || ch == '\r') {
			p[o++] = '\\';
			ch = ch == '\t' ? 't' : ch == '\n' ? 'n' : ch == '\r' ? 'r' : '\\';
		}
		p[o++] = ch;
	}
	p[o++] = end;
	return o;
}

static int txn_copy(PGconn *c, const struct mg_store_event *evs, size_t n, char *buf)
{
	PGresult *r = PQexec(c, COPY_SQL);
	int ret = PQresultStatus(r) == PGRES_COPY_IN ? 0 : -1;
	PQclear(r);
	if (ret < 0) {
		fprintf(stderr, "COPY: %s", PQerrorMessage(c));
		return -1;
	}
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		const struct mg_store_event *e = &evs[i];
		len += (size_t)sprintf(buf + len, "1\t%llu\t1\t%lld\t", (unsigned long long)e->seq,
		                       (long long)e->time_us);
		len += copy_text(buf + len, e->type, '\t');
		len += copy_text(buf + len, e->user, '\t');
		len += copy_text(buf + len, e->device_serial, '\t');
		len += copy_text(buf + len, e->hash, '\t');
		len += copy_text(buf + len, e->prev_hash, '\t');
		len += copy_text(buf + len, e->json, '\t');
		len += (size_t)sprintf(buf + len, "%lld\n", (long long)TG_TIME0);
		if (len >= 64 * 1024 || i + 1 == n) {
			if (PQputCopyData(c, buf, (int)len) != 1)
				ret = -1;
			len = 0;
		}
	}
	if (PQputCopyEnd(c, ret == 0 ? NULL : "aborted") != 1)
		ret = -1;
	while ((r = PQgetResult(c)) != NULL) {
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			fprintf(stderr, "COPY: %s", PQerrorMessage(c));
			ret = -1;
		}
		PQclear(r);
	}
	return ret;
}

static int txn_insert(PGconn *c, const struct mg_store_event *evs, size_t n)
{
	int ret = 0;
	if (!PQenterPipelineMode(c) || !PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0))
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct mg_store_event *e = &evs[i];
		char seq[24], t[24], recv[24];
		snprintf(seq, sizeof(seq), "%llu", (unsigned long long)e->seq);
		snprintf(t, sizeof(t), "%lld", (long long)e->time_us);
		snprintf(recv, sizeof(recv), "%lld", (long long)TG_TIME0);
		const char *v[11] = {
		    "1",     seq,          "1",     t,   e->type, e->user, e->device_serial,
		    e->hash, e->prev_hash, e->json, recv};
		if (!PQsendQueryPrepared(c, "ins", 11, v, NULL, NULL, 0))
			return -1;
	}
	if (!PQsendQueryParams(c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) || !PQpipelineSync(c))
		return -1;
	/* n + 2 results, each followed by NULL, then the sync */
	for (size_t k = 0; k < n + 2; k++) {
		PGresult *r;
		while ((r = PQgetResult(c)) != NULL) {
			if (PQresultStatus(r) != PGRES_COMMAND_OK) {
				fprintf(stderr, "insert: %s", PQerrorMessage(c));
				ret = -1;
			}
			PQclear(r);
		}
	}
	PGresult *r = PQgetResult(c);
	if (PQresultStatus(r) != PGRES_PIPELINE_SYNC)
		ret = -1;
	PQclear(r);
	if (!PQexitPipelineMode(c))
		ret = -1;
	return ret;
}

static void usage(const char *argv0)
{
	fprintf(stderr, "usage: %s [-m insert|copy] [-n ROWS] [-b ROWS_PER_TXN] URL\n", argv0);
}

int main(int argc, char **argv)
{
	uint64_t rows = 200000, per_txn = 1000;
	const char *mode = "insert";
	int opt;
	while ((opt = getopt(argc, argv, "m:n:b:")) != -1) {
		if ((opt == 'n' && mg_parse_u64(optarg, 1000, 100000000, &rows) < 0) ||
		    (opt == 'b' && mg_parse_u64(optarg, 1, 100000, &per_txn) < 0) ||
		    (opt == 'm' && strcmp(optarg, "insert") != 0 && strcmp(optarg, "copy") != 0) ||
		    (opt != 'n' && opt != 'b' && opt != 'm')) {
			usage(argv[0]);
			return 2;
		}
		if (opt == 'm')
			mode = optarg;
	}
	if (optind + 1 != argc) {
		usage(argv[0]);
		return 2;
	}
	bool copy = strcmp(mode, "copy") == 0;

	struct tg_batch b;
	if (tg_batch_make(&b, "mn-term-01", BOOT, 1, rows, 0, TG_MIXED) < 0) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	size_t ntxn = (size_t)((rows + per_txn - 1) / per_txn);
	double *lat = calloc(ntxn, sizeof(double));
	char *buf = malloc(64 * 1024 + 4096);
	PGconn *c = PQconnectdb(argv[optind]);
	int rc = 1;
	if (!lat || !buf || PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "%s: %s", argv[optind], c ? PQerrorMessage(c) : "out of memory\n");
		goto fail;
	}
	PQsetNoticeProcessor(c, no_notices, NULL);
	if (exec(c, "BEGIN") < 0)
		goto fail;
	for (size_t i = 0; mg_store_pg_schema[i]; i++)
		if (exec(c, mg_store_pg_schema[i]) < 0)
			goto fail;
	if (exec(c, "COMMIT") < 0 || exec(c, "TRUNCATE events") < 0)
		goto fail;
	if (!copy) {
		PGresult *r = PQprepare(c, "ins", INSERT_SQL, 0, NULL);
		int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
		if (!ok) {
			fprintf(stderr, "prepare: %s", PQerrorMessage(c));
			goto fail;
		}
	}

	double t0 = now_s();
	for (size_t t = 0; t < ntxn; t++) {
		double t1 = now_s();
		size_t from = t * per_txn, end = (t + 1) * per_txn < b.n ? (t + 1) * per_txn : b.n;
		if (copy) {
			if (exec(c, "BEGIN") < 0 ||
			    txn_copy(c, b.evs + from, end - from, buf) < 0 || exec(c, "COMMIT") < 0)
				goto fail;
		} else if (txn_insert(c, b.evs + from, end - from) < 0) {
			goto fail;
		}
		lat[t] = (now_s() - t1) * 1e3;
	}
	double wall = now_s() - t0;
	qsort(lat, ntxn, sizeof(double), cmp_double);
	printf("| PostgreSQL raw ceiling, %s | 1 | %llu | %llu | %.2f | %.0f | %.1f | %.1f | |\n",
	       copy ? "COPY" : "prepared INSERT, pipelined", (unsigned long long)per_txn,
	       (unsigned long long)rows, wall, (double)rows / wall, lat[ntxn / 2],
	       lat[ntxn * 99 / 100]);
	rc = 0;
fail:
	PQfinish(c);
	free(buf);
	free(lat);
	tg_batch_free(&b);
	return rc;
}
