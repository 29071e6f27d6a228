/*
 * mg_store_ingest() under load, on SQLite or PostgreSQL; its peer is bench_sqlite_ceiling.c.
 * Each thread is one terminal (its own host and boot id) sending consecutive batches of
 * deterministic events (tests/server/store_testgen.c, made before the clock starts).
 *
 *   mynaguard-bench-store-ingest [-t THREADS] [-n BATCHES] [-b EVENTS] URL
 *       back to back: every thread sends BATCHES batches of EVENTS as fast as acknowledged
 *   mynaguard-bench-store-ingest -r RATE -d SECONDS [-t THREADS] [-b EVENTS] URL
 *       paced: RATE events/s in all, in batches of EVENTS, spread evenly over the threads
 *
 * Prints one Markdown table row: backend, threads, events per batch, rows, seconds, rows/s,
 * p50 / p99 / max acknowledgement latency of a batch (ms). For SQLite, URL's file should be new.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mg/config.h"
#include "store.h"
#include "store_testgen.h"

struct worker {
	struct mg_store *s;
	int64_t host;
	char boot[37];
	struct tg_batch *batches;
	size_t nbatches;
	double interval_s; /* paced: time between two batches of this thread; 0: back to back */
	double start_s;
	double *lat_ms;
	int failures;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
	struct timespec ts;
	ts.tv_sec = (time_t)t;
	ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (size_t k = 0; k < w->nbatches; k++) {
		if (w->interval_s > 0)
			sleep_until(w->start_s + (double)k * w->interval_s);
		struct mg_ingest_result r;
		double t0 = now_s();
		int rc = mg_store_ingest(w->s, w->host, w->boot, w->batches[k].evs, w->batches[k].n,
		                         TG_TIME0, &r);
		w->lat_ms[k] = (now_s() - t0) * 1e3;
		if (rc < 0 || r.status != MG_INGEST_OK || r.stored != w->batches[k].n)
			w->failures++;
	}
	return NULL;
}

static void random_uuid(char out[37])
{
	unsigned char b[16] = {0};
	FILE *f = fopen("/dev/urandom", "rb");
	if (!f || fread(b, 1, sizeof(b), f) != sizeof(b)) {
		uint64_t x = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
		memcpy(b, &x, sizeof(x));
	}
	if (f)
		fclose(f);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
	         b[13], b[14], b[15]);
}

static void usage(const char *argv0)
{
	fprintf(stderr,
	        "usage: %s [-t THREADS] [-n BATCHES] [-b EVENTS] URL\n"
	        "       %s -r RATE -d SECONDS [-t THREADS] [-b EVENTS] URL\n",
	        argv0, argv0);
}

int main(int argc, char **argv)
{
	uint64_t threads = 8, nbatches = 25, batch = 1000, rate = 0, seconds = 0;
	int opt;
	while ((opt = getopt(argc, argv, "t:n:b:r:d:")) != -1) {
		int r = -EINVAL;
		switch (opt) {
		case 't':
			r = mg_parse_u64(optarg, 1, 256, &threads);
			break;
		case 'n':
			r = mg_parse_u64(optarg, 1, 1000000, &nbatches);
			break;
		case 'b':
			r = mg_parse_u64(optarg, 1, MG_STORE_MAX_BATCH, &batch);
			break;
		case 'r':
			r = mg_parse_u64(optarg, 1, 10000000, &rate);
			break;
		case 'd':
			r = mg_parse_u64(optarg, 1, 3600, &seconds);
			break;
		default:
			break;
		}
		if (r < 0) {
			usage(argv[0]);
			return 2;
		}
	}
	if (optind + 1 != argc || (rate > 0) != (seconds > 0)) {
		usage(argv[0]);
		return 2;
	}
	double interval = 0;
	if (rate > 0) {
		/* each thread: rate / threads events/s, so one batch every threads*batch/rate s */
		interval = (double)(threads * batch) / (double)rate;
		nbatches = (uint64_t)((double)seconds / interval);
		if (nbatches < 1)
			nbatches = 1;
	}

	struct mg_store *s = NULL;
	char msg[256];
	if (mg_store_open(argv[optind], &s, msg, sizeof(msg)) < 0) {
		fprintf(stderr, "%s: %s\n", argv[optind], msg);
		return 1;
	}
	struct worker *w = calloc(threads, sizeof(*w));
	pthread_t *th = calloc(threads, sizeof(*th));
	double *all = calloc(threads * nbatches, sizeof(double));
	if (!w || !th || !all) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	char run[37];
	random_uuid(run);
	for (size_t i = 0; i < threads; i++) {
		char serial[64], name[32];
		snprintf(serial, sizeof(serial), "%.8s%04zx", run, i);
		snprintf(name, sizeof(name), "mn-term-%02zu", i);
		w[i].s = s;
		random_uuid(w[i].boot);
		if (mg_store_host_add(s, name, serial, TG_TIME0, &w[i].host) < 0) {
			fprintf(stderr, "host_add failed\n");
			return 1;
		}
		w[i].nbatches = nbatches;
		w[i].interval_s = interval;
		w[i].lat_ms = all + i * nbatches;
		w[i].batches = calloc(nbatches, sizeof(struct tg_batch));
		if (!w[i].batches)
			return 1;
		for (uint64_t k = 0; k < nbatches; k++)
			if (tg_batch_make(&w[i].batches[k], name, w[i].boot, k * batch + 1,
			                  (k + 1) * batch, 0, TG_MIXED) < 0) {
				fprintf(stderr, "out of memory\n");
				return 1;
			}
	}
	double t0 = now_s();
	for (size_t i = 0; i < threads; i++) {
		/* paced threads start staggered so the load is even */
		w[i].start_s = t0 + interval * (double)i / (double)threads;
		if (pthread_create(&th[i], NULL, worker_main, &w[i]) != 0)
			return 1;
	}
	int failures = 0;
	for (size_t i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		failures += w[i].failures;
	}
	double wall = now_s() - t0;
	size_t n = threads * nbatches;
	qsort(all, n, sizeof(double), cmp_double);
	uint64_t rows = threads * nbatches * batch;
	char mode[64];
	if (rate)
		snprintf(mode, sizeof(mode), "paced %" PRIu64 " ev/s", rate);
	else
		snprintf(mode, sizeof(mode), "back to back");
	printf("| mg_store_ingest, %s, %s | %" PRIu64 " | %" PRIu64 " | %" PRIu64
	       " | %.2f | %.0f | %.1f | %.1f | %.1f |\n",
	       mg_store_backend(s), mode, threads, batch, rows, wall, (double)rows / wall,
	       all[n / 2], all[n * 99 / 100], all[n - 1]);
	if (failures)
		fprintf(stderr, "%d batches failed\n", failures);
	for (size_t i = 0; i < threads; i++) {
		for (uint64_t k = 0; k < nbatches; k++)
			tg_batch_free(&w[i].batches[k]);
		free(w[i].batches);
	}
	mg_store_close(&s);
	free(all);
	free(th);
	free(w);
	return failures ? 1 : 0;
}
