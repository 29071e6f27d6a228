/*
 * The raw SQLite ceiling for event ingest, the peer of bench_store_ingest.c: the collector's
 * own schema (store_schema.h: the same events table and indexes) and event INSERT statement,
 * the same rows (tests/server/store_testgen.c), one prepared statement, ROWS_PER_TXN rows per
 * transaction, WAL and synchronous=FULL, no threads, no cursor, no checks. The collector must
 * reach at least half of this over HTTPS.
 *
 * With -s STREAMS the rows are those of STREAMS agents (hosts, boots) of ROWS / STREAMS events
 * each, one transaction per agent batch, the agents in turn: the rows the end-to-end benchmark
 * makes its collector store, in the order they arrive. -s 1 (the default) is one agent's.
 *
 *   mynaguard-bench-sqlite-ceiling [-n ROWS] [-b ROWS_PER_TXN] [-s STREAMS] PATH
 *
 * PATH is replaced (with its -wal and -shm). Prints one Markdown table row.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "mg/config.h"
#include "store_schema.h"
#include "store_testgen.h"

#define BOOT "7d2c0e4a-61b3-4f0e-8c55-3a9e1f04b2d7"

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

static int exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "%s: %s\n", sql, msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t rows = 200000, per_txn = 1000, streams = 1;
	int opt;
	while ((opt = getopt(argc, argv, "n:b:s:")) != -1) {
		if ((opt == 'n' && mg_parse_u64(optarg, 1000, 100000000, &rows) < 0) ||
		    (opt == 'b' && mg_parse_u64(optarg, 1, 100000, &per_txn) < 0) ||
		    (opt == 's' && mg_parse_u64(optarg, 1, 100000, &streams) < 0) ||
		    (opt != 'n' && opt != 'b' && opt != 's')) {
			fprintf(stderr, "usage: %s [-n ROWS] [-b ROWS_PER_TXN] [-s STREAMS] PATH\n",
			        argv[0]);
			return 2;
		}
	}
	if (optind + 1 != argc) {
		fprintf(stderr, "usage: %s [-n ROWS] [-b ROWS_PER_TXN] [-s STREAMS] PATH\n",
		        argv[0]);
		return 2;
	}
	const char *path = argv[optind];
	char p[4096];
	static const char *const sfx[] = {"", "-wal", "-shm"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
		unlink(p);
	}

	/* The rows, made before the clock starts: streams (host, boot) of rows / streams events
	 * each, sent the way agents send them: a transaction of per_txn rows of one stream,
	 * the streams in turn. */
	if (rows % streams != 0) {
		fprintf(stderr, "ROWS must be a multiple of STREAMS\n");
		return 2;
	}
	uint64_t per_stream = rows / streams;
	struct tg_batch *b = calloc(streams, sizeof(*b));
	if (!b) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	size_t json_bytes = 0;
	for (uint64_t s = 0; s < streams; s++) {
		char host[32], boot[48];
		snprintf(host, sizeof(host), "mn-term-%03llu", (unsigned long long)s + 1);
		snprintf(boot, sizeof(boot), "%.24s%012llx", BOOT, (unsigned long long)s);
		if (tg_batch_make(&b[s], host, boot, 1, per_stream, 0, TG_MIXED) < 0) {
			fprintf(stderr, "out of memory\n");
			return 1;
		}
		for (size_t i = 0; i < b[s].n; i++)
			json_bytes += strlen(b[s].evs[i].json);
	}

	sqlite3 *db = NULL;
	sqlite3_stmt *ins = NULL;
	int rc = 1;
	size_t txn_per_stream = (size_t)((per_stream + per_txn - 1) / per_txn);
	size_t ntxn = txn_per_stream * streams;
	double *lat = calloc(ntxn, sizeof(double));
	if (!lat || sqlite3_open(path, &db) != SQLITE_OK) {
		fprintf(stderr, "%s: cannot open\n", path);
		goto fail;
	}
	if (exec(db, "PRAGMA journal_mode=WAL") < 0 || exec(db, "PRAGMA synchronous=FULL") < 0 ||
	    exec(db, "BEGIN") < 0)
		goto fail;
	for (size_t i = 0; mg_store_sqlite_schema[i]; i++)
		if (exec(db, mg_store_sqlite_schema[i]) < 0)
			goto fail;
	if (exec(db, "COMMIT") < 0)
		goto fail;
	if (sqlite3_prepare_v2(db, mg_store_sqlite_event_insert, -1, &ins, NULL) != SQLITE_OK) {
		fprintf(stderr, "prepare: %s\n", sqlite3_errmsg(db));
		goto fail;
	}

	const int64_t received = TG_TIME0;
	double t0 = now_s();
	for (size_t t = 0; t < ntxn; t++) {
		double t1 = now_s();
		if (exec(db, "BEGIN") < 0)
			goto fail;
		const struct tg_batch *sb = &b[t % streams];
		const sqlite3_int64 sid = (sqlite3_int64)(t % streams) + 1;
		size_t round = t / streams;
		size_t end = (round + 1) * per_txn < sb->n ? (round + 1) * per_txn : sb->n;
		for (size_t i = round * per_txn; i < end; i++) {
			const struct mg_store_event *e = &sb->evs[i];
			sqlite3_bind_int64(ins, 1, sid);
			sqlite3_bind_int64(ins, 2, (sqlite3_int64)e->seq);
			sqlite3_bind_int64(ins, 3, sid);
			sqlite3_bind_int64(ins, 4, e->time_us);
			sqlite3_bind_text(ins, 5, e->type, -1, SQLITE_STATIC);
			if (e->user)
				sqlite3_bind_text(ins, 6, e->user, -1, SQLITE_STATIC);
			else
				sqlite3_bind_null(ins, 6);
			if (e->device_serial)
				sqlite3_bind_text(ins, 7, e->device_serial, -1, SQLITE_STATIC);
			else
				sqlite3_bind_null(ins, 7);
			sqlite3_bind_text(ins, 8, e->hash, -1, SQLITE_STATIC);
			sqlite3_bind_text(ins, 9, e->prev_hash, -1, SQLITE_STATIC);
			sqlite3_bind_text(ins, 10, e->json, -1, SQLITE_STATIC);
			sqlite3_bind_int64(ins, 11, received);
			if (sqlite3_step(ins) != SQLITE_DONE) {
				fprintf(stderr, "insert: %s\n", sqlite3_errmsg(db));
				goto fail;
			}
			sqlite3_reset(ins);
		}
		if (exec(db, "COMMIT") < 0)
			goto fail;
		lat[t] = (now_s() - t1) * 1e3;
	}
	double wall = now_s() - t0;
	qsort(lat, ntxn, sizeof(double), cmp_double);
	printf("| SQLite raw ceiling, %llu stream%s | 1 | %llu | %llu | %.2f | %.0f | %.1f | %.1f "
	       "| %.0f |\n",
	       (unsigned long long)streams, streams == 1 ? "" : "s", (unsigned long long)per_txn,
	       (unsigned long long)rows, wall, (double)rows / wall, lat[ntxn / 2],
	       lat[ntxn * 99 / 100], (double)json_bytes / (double)rows);
	rc = 0;
fail:
	sqlite3_finalize(ins);
	sqlite3_close(db);
	free(lat);
	for (uint64_t s = 0; s < streams; s++)
		tg_batch_free(&b[s]);
	free(b);
	return rc;
}
