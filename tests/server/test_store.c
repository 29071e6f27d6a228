/*
 * The collector's store (server/store/store.h), against whichever backend the environment names:
 *   MG_TEST_STORE_URL=sqlite:DIR          a new SQLite file in DIR per test
 *   MG_TEST_STORE_URL_FILE=STATEFILE      the server of tests/server/pg-test-server.sh; a new
 *                                         database per test
 * Without either, SQLite in a temporary directory. Every test asserts stored outcomes: rows,
 * cursors, alerts, ledger entries.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "store.h"
#include "store_testgen.h"

#define BOOT_A "7d2c0e4a-61b3-4f0e-8c55-3a9e1f04b2d7"
#define BOOT_B "0b8a5c8e-2f6d-4c1e-9a3b-5d7e9f1a2b3c"
#define NOW    1767225600000000LL
#define HOUR   3600000000LL

static bool g_pg;
static char g_dir[PATH_MAX];      /* SQLite: where the per-test files go */
static char g_prefix[700];        /* PostgreSQL: URL without the database name */
static char g_url[PATH_MAX + 64]; /* the current test's store */
static int g_counter;

/* ---- per-test store ---- */

static int pg_admin_exec(const char *sql)
{
	char url[760];
	snprintf(url, sizeof(url), "%s/postgres", g_prefix);
	PGconn *c = PQconnectdb(url);
	int r = -1;
	if (PQstatus(c) == CONNECTION_OK) {
		PGresult *res = PQexec(c, sql);
		r = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;
		if (r < 0)
			fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
		PQclear(res);
	} else {
		fprintf(stderr, "%s: %s", url, PQerrorMessage(c));
	}
	PQfinish(c);
	return r;
}

/* A fresh, empty store location in g_url. */
static void new_url(void)
{
	g_counter++;
	if (g_pg) {
		char sql[128], name[32];
		snprintf(name, sizeof(name), "t%d_%d", (int)getpid(), g_counter);
		snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", name);
		assert_int_equal(pg_admin_exec(sql), 0);
		snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
		assert_int_equal(pg_admin_exec(sql), 0);
		snprintf(g_url, sizeof(g_url), "%s/%s", g_prefix, name);
	} else {
		char path[PATH_MAX + 32];
		snprintf(path, sizeof(path), "%s/t%d_%d.db", g_dir, (int)getpid(), g_counter);
		static const char *const sfx[] = {"", "-wal", "-shm"};
		for (size_t i = 0; i < 3; i++) {
			char p[PATH_MAX + 40];
			snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
			unlink(p);
		}
		snprintf(g_url, sizeof(g_url), "sqlite:%s", path);
	}
}

static struct mg_store *open_store(void)
{
	struct mg_store *s = NULL;
	char msg[256];
	int r = mg_store_open(g_url, &s, msg, sizeof(msg));
	if (r < 0)
		fail_msg("mg_store_open(%s): %s (%d)", g_url, msg, r);
	return s;
}

static int setup(void **state)
{
	new_url();
	*state = open_store();
	return *state ? 0 : -1;
}

static int teardown(void **state)
{
	struct mg_store *s = *state;
	mg_store_close(&s);
	*state = NULL;
	return 0;
}

/* ---- helpers ---- */

static int64_t add_host(struct mg_store *s, const char *name, const char *serial)
{
	int64_t id = 0;
	assert_int_equal(mg_store_host_add(s, name, serial, NOW, &id), 0);
	assert_true(id > 0);
	return id;
}

static struct mg_ingest_result ingest(struct mg_store *s, int64_t host, const char *boot,
                                      uint64_t from, uint64_t to, uint64_t tamper, enum tg_mix mix)
{
	struct tg_batch b;
	char hostname[32];
	snprintf(hostname, sizeof(hostname), "mn-term-%02" PRId64, host);
	assert_int_equal(tg_batch_make(&b, hostname, boot, from, to, tamper, mix), 0);
	struct mg_ingest_result res;
	memset(&res, 0xa5, sizeof(res));
	int r = mg_store_ingest(s, host, boot, b.evs, b.n, NOW, &res);
	tg_batch_free(&b);
	assert_int_equal(r, 0);
	return res;
}

static uint64_t count_events(struct mg_store *s, int64_t host, const char *type)
{
	struct mg_store_event_filter f = {.host_id = host, .type = type};
	uint64_t n = UINT64_MAX;
	assert_int_equal(mg_store_events_count(s, &f, &n), 0);
	return n;
}

static uint64_t cursor(struct mg_store *s, int64_t host, const char *boot)
{
	uint64_t c = UINT64_MAX;
	assert_int_equal(mg_store_cursor_get(s, host, boot, &c), 0);
	return c;
}

static uint64_t alerts(struct mg_store *s, int64_t host)
{
	uint64_t n = UINT64_MAX;
	assert_int_equal(mg_store_alerts_count(s, host, &n), 0);
	return n;
}

/* Checks that the stored terminal events of (host, boot) are exactly seq 1..last, once each. */
struct seq_check {
	const char *boot;
	uint64_t last;
	unsigned char *seen;
	uint64_t rows, dups, outside;
	int64_t after_id;
};

static int seq_check_cb(void *ctx, int64_t id, int64_t host_id, const char *json)
{
	(void)host_id;
	struct seq_check *c = ctx;
	c->after_id = id;
	if (!strstr(json, c->boot) || strstr(json, "\"type\":\"collector."))
		return 0;
	const char *p = strstr(json, "\"seq\":");
	if (!p)
		return 0;
	uint64_t seq = strtoull(p + 6, NULL, 10);
	c->rows++;
	if (seq < 1 || seq > c->last)
		c->outside++;
	else if (c->seen[seq]++)
		c->dups++;
	return 0;
}

static void assert_exactly_once(struct mg_store *s, int64_t host, const char *boot, uint64_t last)
{
	struct seq_check c = {.boot = boot, .last = last, .seen = calloc(last + 1, 1)};
	assert_non_null(c.seen);
	for (;;) {
		struct mg_store_event_filter f = {
		    .host_id = host, .after_id = c.after_id, .limit = 5000};
		int64_t before = c.after_id;
		assert_int_equal(mg_store_events_query(s, &f, seq_check_cb, &c), 0);
		if (c.after_id == before)
			break;
	}
	assert_int_equal(c.dups, 0);
	assert_int_equal(c.outside, 0);
	assert_int_equal(c.rows, last);
	for (uint64_t i = 1; i <= last; i++)
		assert_int_equal(c.seen[i], 1);
	free(c.seen);
}

static const struct mg_store_actor admin_sato = {"sato", "192.0.2.7"};

/* ---- tests ---- */

static void test_open_errors(void **state)
{
	(void)state;
	struct mg_store *s = NULL;
	char msg[256];
	assert_int_equal(mg_store_open("mysql://x", &s, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "sqlite:"));
	assert_int_equal(mg_store_open("sqlite:/nonexistent-dir/x/y.db", &s, msg, sizeof(msg)),
	                 -ENOENT);
	assert_null(s);
	if (!g_pg) { /* no symlinks followed */
		char target[PATH_MAX + 32], link[PATH_MAX + 32], url[PATH_MAX + 40];
		snprintf(target, sizeof(target), "%s/target-%d.db", g_dir, (int)getpid());
		snprintf(link, sizeof(link), "%s/link-%d.db", g_dir, (int)getpid());
		unlink(link);
		assert_int_equal(symlink(target, link), 0);
		snprintf(url, sizeof(url), "sqlite:%s", link);
		assert_true(mg_store_open(url, &s, msg, sizeof(msg)) < 0);
		assert_null(s);
		struct stat st;
		assert_int_equal(stat(target, &st), -1); /* nothing created behind the link */
		unlink(link);
	}
	if (g_pg) {
		char url[760];
		snprintf(url, sizeof(url), "%s/no_such_database", g_prefix);
		assert_int_equal(mg_store_open(url, &s, msg, sizeof(msg)), -ECONNREFUSED);
		assert_non_null(strstr(msg, "postgresql"));
	}
}

static void test_tokens(void **state)
{
	struct mg_store *s = *state;
	char h1[65], h2[65], h3[65], h4[65];
	tg_hash("token-1", h1);
	tg_hash("token-2", h2);
	tg_hash("token-3", h3);
	tg_hash("token-4", h4);
	assert_int_equal(mg_store_token_add(s, &admin_sato, h1, NOW + HOUR, 1, NOW), 0);
	assert_int_equal(mg_store_token_add(s, NULL, h1, NOW + HOUR, 1, NOW), -EEXIST);
	assert_int_equal(mg_store_token_add(s, NULL, h2, NOW + HOUR, 3, NOW), 0);
	assert_int_equal(mg_store_token_add(s, NULL, h3, NOW + 10, 1, NOW), 0);
	assert_int_equal(mg_store_token_add(s, NULL, "ABC", NOW + 10, 1, NOW), -EINVAL);
	assert_int_equal(mg_store_token_add(s, NULL, h4, NOW + 10, 0, NOW), -EINVAL);

	/* single use */
	assert_int_equal(mg_store_token_consume(s, h1, NOW + 1), 0);
	assert_int_equal(mg_store_token_consume(s, h1, NOW + 2), -EALREADY);
	/* unknown */
	assert_int_equal(mg_store_token_consume(s, h4, NOW), -ENOENT);
	/* expiry: valid while now < expires */
	assert_int_equal(mg_store_token_consume(s, h3, NOW + 10), -ETIME);
	assert_int_equal(mg_store_token_consume(s, h3, NOW + 9), 0);
	assert_int_equal(mg_store_token_consume(s, h3, NOW + 9), -EALREADY);
	/* multi-use */
	for (int i = 0; i < 3; i++)
		assert_int_equal(mg_store_token_consume(s, h2, NOW), 0);
	assert_int_equal(mg_store_token_consume(s, h2, NOW), -EALREADY);

	/* the admin's token.add is logged, twice over */
	assert_int_equal(count_events(s, 0, "admin.token.add"), 1);
}

/* Several threads race for one single-use token: exactly one wins. */
struct token_race {
	struct mg_store *s;
	const char *hash;
	int rc;
};

static void *token_race_main(void *arg)
{
	struct token_race *t = arg;
	t->rc = mg_store_token_consume(t->s, t->hash, NOW);
	return NULL;
}

static void test_token_race(void **state)
{
	struct mg_store *s = *state;
	char h[65];
	tg_hash("race", h);
	assert_int_equal(mg_store_token_add(s, NULL, h, NOW + HOUR, 1, NOW), 0);
	pthread_t th[6];
	struct token_race t[6];
	for (int i = 0; i < 6; i++) {
		t[i] = (struct token_race){s, h, 1};
		assert_int_equal(pthread_create(&th[i], NULL, token_race_main, &t[i]), 0);
	}
	int ok = 0, already = 0;
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		ok += t[i].rc == 0;
		already += t[i].rc == -EALREADY;
	}
	assert_int_equal(ok, 1);
	assert_int_equal(already, 5);
}

static int host_count_cb(void *ctx, const struct mg_store_host *h)
{
	int64_t *last = ctx;
	assert_true(h->id > *last);
	*last = h->id;
	return 0;
}

static void test_hosts(void **state)
{
	struct mg_store *s = *state;
	int64_t a = add_host(s, "mn-term-01", "0a1b2c");
	int64_t b = add_host(s, "mn-term-02", "0A:1B:2D");
	int64_t dup = 0;
	assert_int_equal(mg_store_host_add(s, "other", "0a1b2c", NOW, &dup), -EEXIST);
	assert_int_equal(mg_store_host_add(s, "", "0a1b2e", NOW, &dup), -EINVAL);
	assert_int_equal(mg_store_host_add(s, "x", "not hex", NOW, &dup), -EINVAL);

	struct mg_store_host h;
	assert_int_equal(mg_store_host_get(s, a, &h), 0);
	assert_string_equal(h.hostname, "mn-term-01");
	assert_string_equal(h.cert_serial, "0a1b2c");
	assert_int_equal(h.enrolled_us, NOW);
	assert_int_equal(h.last_seen_us, 0);
	assert_false(h.revoked);
	assert_int_equal(mg_store_host_get(s, 9999, &h), -ENOENT);
	assert_int_equal(mg_store_host_by_cert(s, "0A:1B:2D", &h), 0);
	assert_int_equal(h.id, b);
	assert_int_equal(mg_store_host_by_cert(s, "ffff", &h), -ENOENT);

	assert_int_equal(mg_store_host_heartbeat(s, a, NOW + 5, 42, NOW - 7, 17, "0.1.0"), 0);
	assert_int_equal(mg_store_host_heartbeat(s, 9999, NOW, 0, 0, 0, NULL), -ENOENT);
	assert_int_equal(mg_store_host_get(s, a, &h), 0);
	assert_int_equal(h.last_seen_us, NOW + 5);
	assert_int_equal(h.spool_depth, 42);
	assert_int_equal(h.oldest_unsent_us, NOW - 7);
	assert_int_equal(h.policy_version, 17);
	assert_string_equal(h.agent_version, "0.1.0");
	/* last seen never moves back */
	assert_int_equal(mg_store_host_heartbeat(s, a, NOW + 1, 0, 0, 17, "0.1.0"), 0);
	assert_int_equal(mg_store_host_get(s, a, &h), 0);
	assert_int_equal(h.last_seen_us, NOW + 5);

	int64_t last = 0;
	assert_int_equal(mg_store_host_foreach(s, host_count_cb, &last), 0);
	assert_int_equal(last, b);

	/* revoke: recorded, and the host can no longer ingest */
	assert_int_equal(ingest(s, b, BOOT_A, 1, 5, 0, TG_PLAIN).status, MG_INGEST_OK);
	assert_int_equal(mg_store_host_revoke(s, &admin_sato, b, NOW), 0);
	assert_int_equal(mg_store_host_revoke(s, NULL, b, NOW), 0);
	assert_int_equal(mg_store_host_revoke(s, NULL, 9999, NOW), -ENOENT);
	assert_int_equal(mg_store_host_get(s, b, &h), 0);
	assert_true(h.revoked);
	struct tg_batch tb;
	assert_int_equal(tg_batch_make(&tb, "mn-term-02", BOOT_A, 6, 10, 0, TG_PLAIN), 0);
	struct mg_ingest_result res;
	assert_int_equal(mg_store_ingest(s, b, BOOT_A, tb.evs, tb.n, NOW, &res), -EPERM);
	assert_int_equal(mg_store_ingest(s, 9999, BOOT_A, tb.evs, tb.n, NOW, &res), -ENOENT);
	tg_batch_free(&tb);
	assert_int_equal(cursor(s, b, BOOT_A), 5);
	assert_int_equal(count_events(s, 0, "admin.host.revoke"), 1);
}

static void test_ingest_exactly_once(void **state)
{
	struct mg_store *s = *state;
	int64_t h = add_host(s, "mn-term-01", "01");
	struct mg_ingest_result r;

	assert_int_equal(cursor(s, h, BOOT_A), 0);
	r = ingest(s, h, BOOT_A, 1, 100, 0, TG_PLAIN);
	assert_int_equal(r.status, MG_INGEST_OK);
	assert_int_equal(r.acked_through, 100);
	assert_int_equal(r.stored, 100);
	assert_int_equal(count_events(s, h, "agent.started"), 100);

	/* the same batch again: acknowledged, nothing stored twice */
	r = ingest(s, h, BOOT_A, 1, 100, 0, TG_PLAIN);
	assert_int_equal(r.status, MG_INGEST_OK);
	assert_int_equal(r.acked_through, 100);
	assert_int_equal(r.stored, 0);
	assert_int_equal(count_events(s, h, "agent.started"), 100);

	/* overlapping: only 101..150 are new */
	r = ingest(s, h, BOOT_A, 50, 150, 0, TG_PLAIN);
	assert_int_equal(r.status, MG_INGEST_OK);
	assert_int_equal(r.acked_through, 150);
	assert_int_equal(r.stored, 50);
	assert_int_equal(count_events(s, h, "agent.started"), 150);

	/* a gap: resend from 151, nothing stored */
	r = ingest(s, h, BOOT_A, 160, 170, 0, TG_PLAIN);
	assert_int_equal(r.status, MG_INGEST_GAP);
	assert_int_equal(r.resend_from, 151);
	assert_int_equal(r.acked_through, 150);
	assert_int_equal(count_events(s, h, "agent.started"), 150);
	assert_int_equal(alerts(s, h), 0);

	/* the same seq with other content: CONFLICT and a tamper alert */
	r = ingest(s, h, BOOT_A, 140, 155, 145, TG_PLAIN);
	assert_int_equal(r.status, MG_INGEST_CONFLICT);
	assert_int_equal(r.bad_seq, 145);
	assert_int_equal(r.acked_through, 150);
	assert_int_equal(alerts(s, h), 1);
	assert_int_equal(count_events(s, h, "agent.started"), 150);
	assert_int_equal(count_events(s, h, "collector.tamper"), 1);
	assert_int_equal(cursor(s, h, BOOT_A), 150);

	/* a broken chain inside the batch: BROKEN_CHAIN, alert, nothing stored */
	struct tg_batch b;
	assert_int_equal(tg_batch_make(&b, "mn-term-01", BOOT_A, 151, 160, 0, TG_PLAIN), 0);
	char bad[65];
	tg_hash("not the previous event", bad);
	b.evs[4].prev_hash = bad; /* seq 155 */
	assert_int_equal(mg_store_ingest(s, h, BOOT_A, b.evs, b.n, NOW, &r), 0);
	assert_int_equal(r.status, MG_INGEST_BROKEN_CHAIN);
	assert_int_equal(r.bad_seq, 155);
	assert_int_equal(r.acked_through, 150);
	assert_int_equal(alerts(s, h), 2);
	assert_int_equal(count_events(s, h, "agent.started"), 150);

	/* a broken link to the stored cursor */
	b.evs[4].prev_hash = b.evs[3].hash;
	const char *saved = b.evs[0].prev_hash;
	b.evs[0].prev_hash = bad;
	assert_int_equal(mg_store_ingest(s, h, BOOT_A, b.evs, b.n, NOW, &r), 0);
	assert_int_equal(r.status, MG_INGEST_BROKEN_CHAIN);
	assert_int_equal(r.bad_seq, 151);
	assert_int_equal(alerts(s, h), 3);
	assert_int_equal(count_events(s, h, "agent.started"), 150);

	/* repaired, the batch goes in */
	b.evs[0].prev_hash = saved;
	assert_int_equal(mg_store_ingest(s, h, BOOT_A, b.evs, b.n, NOW, &r), 0);
	assert_int_equal(r.status, MG_INGEST_OK);
	assert_int_equal(r.acked_through, 160);

	/* malformed batches are refused outright */
	const uint64_t seq4 = b.evs[4].seq;
	b.evs[4].seq = seq4 + 1; /* not consecutive */
	assert_int_equal(mg_store_ingest(s, h, BOOT_A, b.evs, b.n, NOW, &r), -EINVAL);
	b.evs[4].seq = seq4;
	assert_int_equal(mg_store_ingest(s, h, "not-a-uuid", b.evs, b.n, NOW, &r), -EINVAL);
	assert_int_equal(mg_store_ingest(s, h, BOOT_A, b.evs, 0, NOW, &r), -EINVAL);
	b.evs[2].hash = "xyz";
	assert_int_equal(mg_store_ingest(s, h, BOOT_A, b.evs, b.n, NOW, &r), -EINVAL);
	tg_batch_free(&b);

	/* a new boot has its own cursor, starting at seq 1 */
	r = ingest(s, h, BOOT_B, 2, 10, 0, TG_PLAIN);
	assert_int_equal(r.status, MG_INGEST_GAP);
	assert_int_equal(r.resend_from, 1);
	r = ingest(s, h, BOOT_B, 1, 10, 0, TG_PLAIN);
	assert_int_equal(r.status, MG_INGEST_OK);
	assert_int_equal(r.acked_through, 10);
	assert_int_equal(cursor(s, h, BOOT_A), 160);
	assert_int_equal(cursor(s, h, BOOT_B), 10);
	assert_exactly_once(s, h, BOOT_A, 160);
	assert_exactly_once(s, h, BOOT_B, 10);

	/* ingest counts as contact */
	struct mg_store_host hh;
	assert_int_equal(mg_store_host_get(s, h, &hh), 0);
	assert_int_equal(hh.last_seen_us, NOW);

	/* the alerts keep the evidence */
	uint64_t n = 0;
	assert_int_equal(mg_store_alerts_count(s, 0, &n), 0);
	assert_int_equal(n, 3);
}

static int alert_cb(void *ctx, const struct mg_store_alert *a)
{
	int *i = ctx;
	static const char *const kinds[] = {"conflict", "broken_chain"};
	static const uint64_t seqs[] = {3, 5};
	assert_true(*i < 2);
	assert_string_equal(a->kind, kinds[*i]);
	assert_int_equal(a->seq, seqs[*i]);
	assert_string_equal(a->boot_id, BOOT_A);
	assert_non_null(a->evidence);
	assert_non_null(strstr(a->evidence, "\"seq\":"));
	(*i)++;
	return 0;
}

static void test_alerts(void **state)
{
	struct mg_store *s = *state;
	int64_t h = add_host(s, "mn-term-01", "01");
	int64_t other = add_host(s, "mn-term-02", "02");
	assert_int_equal(ingest(s, h, BOOT_A, 1, 4, 0, TG_PLAIN).status, MG_INGEST_OK);
	assert_int_equal(ingest(s, h, BOOT_A, 1, 4, 3, TG_PLAIN).status, MG_INGEST_CONFLICT);
	struct tg_batch b;
	assert_int_equal(tg_batch_make(&b, "mn-term-01", BOOT_A, 5, 6, 0, TG_PLAIN), 0);
	b.evs[0].prev_hash = b.evs[1].hash;
	struct mg_ingest_result r;
	assert_int_equal(mg_store_ingest(s, h, BOOT_A, b.evs, b.n, NOW, &r), 0);
	assert_int_equal(r.status, MG_INGEST_BROKEN_CHAIN);
	tg_batch_free(&b);
	int i = 0;
	assert_int_equal(mg_store_alerts_foreach(s, h, 0, 100, alert_cb, &i), 0);
	assert_int_equal(i, 2);
	assert_int_equal(alerts(s, other), 0);
	assert_int_equal(alerts(s, 0), 2);
}

/* 8 threads, 8 hosts, each sending every batch twice and overlapping the previous one. */
struct worker {
	struct mg_store *s;
	int64_t host;
	int failures;
};

#define CONC_BATCHES 20
#define CONC_SIZE    50

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char name[32];
	snprintf(name, sizeof(name), "mn-term-%02" PRId64, w->host);
	for (uint64_t k = 0; k < CONC_BATCHES; k++) {
		uint64_t from = k * CONC_SIZE + 1, to = from + CONC_SIZE - 1;
		for (int rep = 0; rep < 2; rep++) {
			uint64_t f = rep == 1 && from > 10 ? from - 10 : from;
			struct tg_batch b;
			if (tg_batch_make(&b, name, BOOT_A, f, to, 0, TG_MIXED) < 0) {
				w->failures++;
				continue;
			}
			struct mg_ingest_result r;
			int rc = mg_store_ingest(w->s, w->host, BOOT_A, b.evs, b.n, NOW, &r);
			if (rc < 0 || r.status != MG_INGEST_OK || r.acked_through != to ||
			    r.stored != (rep == 0 ? CONC_SIZE : 0))
				w->failures++;
			tg_batch_free(&b);
		}
	}
	return NULL;
}

static void test_ingest_concurrent(void **state)
{
	struct mg_store *s = *state;
	pthread_t th[8];
	struct worker w[8];
	for (int i = 0; i < 8; i++) {
		char serial[8];
		snprintf(serial, sizeof(serial), "%02x", i + 1);
		w[i] = (struct worker){s, add_host(s, "t", serial), 0};
	}
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	for (int i = 0; i < 8; i++) /* all joined before any assertion can leave the test */
		pthread_join(th[i], NULL);
	for (int i = 0; i < 8; i++)
		assert_int_equal(w[i].failures, 0);
	const uint64_t per_host = CONC_BATCHES * CONC_SIZE;
	for (int i = 0; i < 8; i++) {
		assert_int_equal(cursor(s, w[i].host, BOOT_A), per_host);
		assert_int_equal(count_events(s, w[i].host, NULL), per_host);
	}
	assert_int_equal(count_events(s, 0, NULL), 8 * per_host);
	assert_int_equal(count_events(s, 0, "device.blocked"), 8 * per_host / 4);
	assert_int_equal(alerts(s, 0), 0);
}

/* Two collectors (two store instances on one database) receive the same batches of one
 * terminal at once, as after a load balancer retry: every event is stored exactly once. */
struct racer {
	struct mg_store *s;
	int64_t host;
	uint64_t stored;
	int failures;
};

static void *racer_main(void *arg)
{
	struct racer *w = arg;
	for (uint64_t k = 0; k < CONC_BATCHES; k++) {
		struct tg_batch b;
		if (tg_batch_make(&b, "mn-term-01", BOOT_A, k * CONC_SIZE + 1, (k + 1) * CONC_SIZE,
		                  0, TG_MIXED) < 0) {
			w->failures++;
			continue;
		}
		struct mg_ingest_result r;
		int rc = mg_store_ingest(w->s, w->host, BOOT_A, b.evs, b.n, NOW, &r);
		if (rc < 0 || r.status != MG_INGEST_OK || r.acked_through < (k + 1) * CONC_SIZE)
			w->failures++;
		else
			w->stored += r.stored;
		tg_batch_free(&b);
	}
	return NULL;
}

static int sightings_cb(void *ctx, const struct mg_store_device *d)
{
	*(uint64_t *)ctx += d->sightings;
	return 0;
}

static void test_two_collectors(void **state)
{
	struct mg_store *s1 = *state, *s2 = open_store();
	int64_t h = add_host(s1, "mn-term-01", "01");
	struct racer w[6];
	pthread_t th[6];
	for (int i = 0; i < 6; i++)
		w[i] = (struct racer){.s = i % 2 ? s2 : s1, .host = h};
	for (int i = 0; i < 6; i++)
		assert_int_equal(pthread_create(&th[i], NULL, racer_main, &w[i]), 0);
	for (int i = 0; i < 6; i++)
		pthread_join(th[i], NULL);
	mg_store_close(&s2);
	uint64_t stored = 0;
	for (int i = 0; i < 6; i++) {
		assert_int_equal(w[i].failures, 0);
		stored += w[i].stored;
	}
	assert_int_equal(stored, CONC_BATCHES * CONC_SIZE);
	assert_int_equal(cursor(s1, h, BOOT_A), CONC_BATCHES * CONC_SIZE);
	assert_int_equal(count_events(s1, h, NULL), CONC_BATCHES * CONC_SIZE);
	assert_int_equal(alerts(s1, 0), 0);
	/* the ledger counted each device event once */
	uint64_t total = 0;
	assert_int_equal(mg_store_devices_foreach(s1, 0, 100, sightings_cb, &total), 0);
	assert_int_equal(total, CONC_BATCHES * CONC_SIZE / 4);
}

/* One failing job in a group commit does not take the others down. */
struct mixed_worker {
	struct mg_store *s;
	int64_t host;
	int kind; /* 0: ingest; 1: duplicate host_add */
	int ok, eexist, other;
};

static void *mixed_main(void *arg)
{
	struct mixed_worker *w = arg;
	for (int k = 0; k < 20; k++) {
		int rc;
		if (w->kind == 0) {
			struct tg_batch b;
			if (tg_batch_make(&b, "m", BOOT_A, (uint64_t)k * 10 + 1,
			                  (uint64_t)k * 10 + 10, 0, TG_PLAIN) < 0) {
				w->other++;
				continue;
			}
			struct mg_ingest_result r;
			rc = mg_store_ingest(w->s, w->host, BOOT_A, b.evs, b.n, NOW, &r);
			if (rc == 0 && r.status != MG_INGEST_OK)
				rc = -EPROTO;
			tg_batch_free(&b);
		} else {
			int64_t id;
			rc = mg_store_host_add(w->s, "dup", "dddd", NOW, &id);
		}
		if (rc == 0)
			w->ok++;
		else if (rc == -EEXIST)
			w->eexist++;
		else
			w->other++;
	}
	return NULL;
}

static void test_group_commit_isolation(void **state)
{
	struct mg_store *s = *state;
	struct mixed_worker w[6];
	pthread_t th[6];
	for (int i = 0; i < 6; i++) {
		char serial[8];
		snprintf(serial, sizeof(serial), "%02x", i + 1);
		w[i] = (struct mixed_worker){
		    .s = s, .host = i < 4 ? add_host(s, "m", serial) : 0, .kind = i < 4 ? 0 : 1};
	}
	for (int i = 0; i < 6; i++)
		assert_int_equal(pthread_create(&th[i], NULL, mixed_main, &w[i]), 0);
	int dup_ok = 0, dup_exist = 0;
	for (int i = 0; i < 6; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(w[i].other, 0);
		if (w[i].kind == 0) {
			assert_int_equal(w[i].ok, 20);
			assert_int_equal(cursor(s, w[i].host, BOOT_A), 200);
		} else {
			dup_ok += w[i].ok;
			dup_exist += w[i].eexist;
		}
	}
	assert_int_equal(dup_ok, 1);
	assert_int_equal(dup_exist, 39);
}

struct dev_list {
	int n;
	struct mg_store_device *d; /* 16 */
};

static int dev_cb(void *ctx, const struct mg_store_device *d)
{
	struct dev_list *l = ctx;
	assert_true(l->n < 16);
	l->d[l->n++] = *d;
	return 0;
}

static void test_device_ledger(void **state)
{
	struct mg_store *s = *state;
	int64_t h1 = add_host(s, "mn-term-01", "01");
	int64_t h2 = add_host(s, "mn-term-02", "02");
	/* seq 4, 8, ..., 64: device events 1..16 cycle twice through the 8 devices */
	assert_int_equal(ingest(s, h1, BOOT_A, 1, 32, 0, TG_MIXED).status, MG_INGEST_OK);
	assert_int_equal(ingest(s, h2, BOOT_A, 33, 64, 0, TG_MIXED).status, MG_INGEST_GAP);
	assert_int_equal(ingest(s, h2, BOOT_A, 1, 64, 0, TG_MIXED).status, MG_INGEST_OK);
	/* a resend does not count twice */
	assert_int_equal(ingest(s, h1, BOOT_A, 1, 32, 0, TG_MIXED).stored, 0);

	struct dev_list l = {0, calloc(16, sizeof(struct mg_store_device))};
	assert_non_null(l.d);
	assert_int_equal(mg_store_devices_foreach(s, 0, 100, dev_cb, &l), 0);
	assert_int_equal(l.n, 8);
	for (int i = 0; i < l.n; i++) {
		const struct mg_store_device *d = &l.d[i];
		/* h1 sent seq 4..32 (devices 1..8 once), h2 seq 4..64 (each device twice) */
		assert_int_equal(d->sightings, 3);
		assert_int_equal(d->first_host_id, h1);
		assert_int_equal(d->last_host_id, h2);
		assert_true(d->first_seen_us < d->last_seen_us);
		assert_int_equal(d->first_seen_us % 1000, 0);
		assert_int_equal(strlen(d->dev.vendor_id), 4);
		assert_int_equal(strlen(d->dev.hash), 44);
	}
	struct mg_store_device one;
	assert_int_equal(mg_store_device_get(s, l.d[0].id, &one), 0);
	assert_int_equal(one.id, l.d[0].id);
	assert_string_equal(one.dev.serial, l.d[0].dev.serial);
	assert_int_equal(mg_store_device_get(s, 99999, &one), -ENOENT);
	/* device 6 has no serial and no name; device 7 a name but no serial */
	int noserial = 0;
	for (int i = 0; i < l.n; i++)
		noserial += l.d[i].dev.serial[0] == '\0';
	assert_int_equal(noserial, 2);
	/* pagination */
	struct dev_list p = {0, calloc(16, sizeof(struct mg_store_device))};
	assert_non_null(p.d);
	assert_int_equal(mg_store_devices_foreach(s, l.d[2].id, 3, dev_cb, &p), 0);
	assert_int_equal(p.n, 3);
	assert_int_equal(p.d[0].id, l.d[3].id);
	free(p.d);
	free(l.d);
}

struct collect {
	int n;
	int64_t ids[64];
	int64_t hosts[64];
};

static int collect_cb(void *ctx, int64_t id, int64_t host_id, const char *json)
{
	struct collect *c = ctx;
	assert_non_null(json);
	assert_true(c->n < 64);
	c->ids[c->n] = id;
	c->hosts[c->n] = host_id;
	c->n++;
	return 0;
}

static int stop_cb(void *ctx, int64_t id, int64_t host_id, const char *json)
{
	(void)id;
	(void)host_id;
	(void)json;
	int *n = ctx;
	return ++*n == 3 ? 1 : 0;
}

static void test_events_query(void **state)
{
	struct mg_store *s = *state;
	int64_t h1 = add_host(s, "mn-term-01", "01");
	int64_t h2 = add_host(s, "mn-term-02", "02");
	assert_int_equal(ingest(s, h1, BOOT_A, 1, 40, 0, TG_MIXED).status, MG_INGEST_OK);
	assert_int_equal(ingest(s, h2, BOOT_A, 1, 20, 0, TG_MIXED).status, MG_INGEST_OK);

	struct mg_store_event_filter f = {.limit = 100};
	uint64_t n;
	assert_int_equal(mg_store_events_count(s, &f, &n), 0);
	assert_int_equal(n, 60);
	f.host_id = h2;
	assert_int_equal(mg_store_events_count(s, &f, &n), 0);
	assert_int_equal(n, 20);
	f = (struct mg_store_event_filter){.type = "device.blocked", .limit = 100};
	assert_int_equal(mg_store_events_count(s, &f, &n), 0);
	assert_int_equal(n, 15); /* 40/4 + 20/4 */
	/* users cycle seq % 5: "tanaka" is seq 5, 10, ... (not multiples of 4) */
	f = (struct mg_store_event_filter){.host_id = h1, .user = "tanaka", .limit = 100};
	assert_int_equal(mg_store_events_count(s, &f, &n), 0);
	assert_int_equal(n, 6); /* 5, 10, 15, 25, 30, 35 */
	/* device 0 (seq 32 on h1... (seq/4) % 8 == 0: seq 32 and seq 0) */
	f = (struct mg_store_event_filter){.device_serial = "4C530001230517115103", .limit = 100};
	assert_int_equal(mg_store_events_count(s, &f, &n), 0);
	assert_int_equal(n, 1);
	/* time range [seq 10, seq 20) on h1 */
	f = (struct mg_store_event_filter){.host_id = h1,
	                                   .from_us = TG_TIME0 + 10 * 1000,
	                                   .to_us = TG_TIME0 + 20 * 1000,
	                                   .limit = 100};
	assert_int_equal(mg_store_events_count(s, &f, &n), 0);
	assert_int_equal(n, 10);
	struct collect c = {0};
	assert_int_equal(mg_store_events_query(s, &f, collect_cb, &c), 0);
	assert_int_equal(c.n, 10);
	for (int i = 0; i < c.n; i++)
		assert_int_equal(c.hosts[i], h1);
	/* a time range alone: every host's events in it, and the collector's own (no host) */
	assert_int_equal(mg_store_admin_log(s, &admin_sato, "session.login", "admin:1", NULL,
	                                    TG_TIME0 + 15 * 1000),
	                 0);
	assert_int_equal(mg_store_admin_log(s, &admin_sato, "session.login", "admin:1", NULL,
	                                    TG_TIME0 + 25 * 1000),
	                 0);
	f = (struct mg_store_event_filter){
	    .from_us = TG_TIME0 + 10 * 1000, .to_us = TG_TIME0 + 20 * 1000, .limit = 100};
	assert_int_equal(mg_store_events_count(s, &f, &n), 0);
	assert_int_equal(n, 21); /* seq 10..19 of h1 and of h2, the first log entry */
	struct collect tc = {0};
	assert_int_equal(mg_store_events_query(s, &f, collect_cb, &tc), 0);
	assert_int_equal(tc.n, 21);
	int own = 0;
	for (int i = 0; i < tc.n; i++) {
		assert_true(i == 0 || tc.ids[i] > tc.ids[i - 1]); /* in id order */
		own += tc.hosts[i] == 0;
	}
	assert_int_equal(own, 1);
	f.from_us = TG_TIME0 + 20 * 1000;
	f.to_us = 0;
	assert_int_equal(mg_store_events_count(s, &f, &n), 0);
	assert_int_equal(n, 23); /* seq 20..40 of h1, seq 20 of h2, the second log entry */
	/* all filters at once */
	f = (struct mg_store_event_filter){.host_id = h1,
	                                   .type = "auth.success",
	                                   .user = "suzuki",
	                                   .from_us = TG_TIME0,
	                                   .to_us = TG_TIME0 + 100 * 1000,
	                                   .limit = 100};
	assert_int_equal(mg_store_events_count(s, &f, &n), 0);
	assert_int_equal(n, 6); /* seq % 5 == 1 and seq % 4 != 0: 1, 6, 11, 21, 26, 31 */

	/* pagination: pages of 7 in id order, nothing lost or repeated */
	int64_t after = 0, total = 0, prev = 0;
	for (int page = 0; page < 20; page++) {
		struct collect pc = {0};
		f = (struct mg_store_event_filter){.after_id = after, .limit = 7};
		assert_int_equal(mg_store_events_query(s, &f, collect_cb, &pc), 0);
		if (pc.n == 0)
			break;
		assert_true(pc.n <= 7);
		for (int i = 0; i < pc.n; i++) {
			assert_true(pc.ids[i] > prev);
			prev = pc.ids[i];
		}
		total += pc.n;
		after = pc.ids[pc.n - 1];
	}
	assert_int_equal(total, 62); /* and the two log entries */

	/* a callback stops the walk */
	int stops = 0;
	f = (struct mg_store_event_filter){.limit = 100};
	assert_int_equal(mg_store_events_query(s, &f, stop_cb, &stops), 0);
	assert_int_equal(stops, 3);
	/* limits */
	f.limit = 0;
	assert_int_equal(mg_store_events_query(s, &f, collect_cb, &c), -EINVAL);
	f.limit = MG_STORE_MAX_ROWS + 1;
	assert_int_equal(mg_store_events_query(s, &f, collect_cb, &c), -EINVAL);
}

struct rule_list {
	int n;
	int64_t ids[16];
	int64_t hosts[16];
	char created_by[16][64];
};

static int rule_cb(void *ctx, const struct mg_store_rule *r)
{
	struct rule_list *l = ctx;
	assert_true(l->n < 16);
	l->ids[l->n] = r->id;
	l->hosts[l->n] = r->host_id;
	snprintf(l->created_by[l->n], 64, "%s", r->created_by);
	l->n++;
	return 0;
}

static void test_rules_policies(void **state)
{
	struct mg_store *s = *state;
	int64_t h1 = add_host(s, "mn-term-01", "01");
	int64_t h2 = add_host(s, "mn-term-02", "02");
	uint64_t rev = 99, v = 99;
	assert_int_equal(mg_store_rules_revision(s, &rev), 0);
	assert_int_equal(rev, 0);

	int64_t r1, r2, r3, r4;
	assert_int_equal(
	    mg_store_rule_add(s, &admin_sato, "allow id 046d:c31c", 0, 0, NULL, NOW, &r1), 0);
	assert_int_equal(mg_store_rule_add(s, &admin_sato, "allow id 0781:5581 serial \"X\"", h1, 0,
	                                   "contractor", NOW, &r2),
	                 0);
	assert_int_equal(
	    mg_store_rule_add(s, NULL, "allow id 1050:0407", h2, NOW + HOUR, NULL, NOW, &r3), 0);
	assert_int_equal(mg_store_rule_add(s, NULL, "allow id 1:2", 9999, 0, NULL, NOW, &r4),
	                 -ENOENT);
	assert_int_equal(mg_store_rule_add(s, NULL, "two\nlines", 0, 0, NULL, NOW, &r4), -EINVAL);
	assert_int_equal(mg_store_rules_revision(s, &rev), 0);
	assert_int_equal(rev, 3);

	struct rule_list all = {0}, for_h1 = {0}, for_h2_later = {0};
	assert_int_equal(mg_store_rules_foreach(s, 0, 0, rule_cb, &all), 0);
	assert_int_equal(all.n, 3);
	assert_string_equal(all.created_by[0], "sato");
	assert_string_equal(all.created_by[2], "");
	assert_int_equal(mg_store_rules_foreach(s, h1, NOW, rule_cb, &for_h1), 0);
	assert_int_equal(for_h1.n, 2);
	assert_int_equal(for_h1.ids[0], r1);
	assert_int_equal(for_h1.ids[1], r2);
	assert_int_equal(mg_store_rules_foreach(s, h2, NOW + HOUR, rule_cb, &for_h2_later), 0);
	assert_int_equal(for_h2_later.n, 1); /* r3 expired */
	assert_int_equal(mg_store_rule_remove(s, &admin_sato, r2, NOW), 0);
	assert_int_equal(mg_store_rule_remove(s, NULL, r2, NOW), -ENOENT);
	assert_int_equal(mg_store_rules_revision(s, &rev), 0);
	assert_int_equal(rev, 4);
	assert_int_equal(count_events(s, 0, "admin.rule.add"), 2);
	assert_int_equal(count_events(s, 0, "admin.rule.remove"), 1);

	/* policy versions: strictly increasing */
	const uint8_t sig[64] = {1, 2, 3, 0, 5};
	assert_int_equal(mg_store_policy_latest(s, &v), 0);
	assert_int_equal(v, 0);
	struct mg_store_policy *p = NULL;
	assert_int_equal(mg_store_policy_get(s, 0, &p), -ENOENT);
	assert_int_equal(
	    mg_store_policy_add(s, &admin_sato, 1, rev, "{\"version\":1}", sig, 64, NOW), 0);
	assert_int_equal(mg_store_policy_add(s, NULL, 1, rev, "{\"version\":1}", sig, 64, NOW),
	                 -EEXIST);
	assert_int_equal(mg_store_policy_add(s, NULL, 3, rev, "{\"version\":3}", sig, 63, NOW), 0);
	assert_int_equal(mg_store_policy_add(s, NULL, 2, rev, "{\"version\":2}", sig, 64, NOW),
	                 -EEXIST);
	assert_int_equal(mg_store_policy_add(s, NULL, 0, rev, "{}", sig, 64, NOW), -EINVAL);
	assert_int_equal(mg_store_policy_add(s, NULL, 4, rev, "{}", sig, 0, NOW), -EINVAL);
	assert_int_equal(mg_store_policy_latest(s, &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(mg_store_policy_get(s, 0, &p), 0);
	assert_int_equal(p->version, 3);
	assert_int_equal(p->rules_revision, 4);
	assert_string_equal(p->json, "{\"version\":3}");
	assert_int_equal(p->json_len, 13);
	assert_int_equal(p->sig_len, 63);
	assert_memory_equal(p->sig, sig, 63);
	mg_store_policy_free(&p);
	assert_null(p);
	assert_int_equal(mg_store_policy_get(s, 1, &p), 0);
	assert_int_equal(p->version, 1);
	assert_int_equal(p->sig_len, 64);
	mg_store_policy_free(&p);
	assert_int_equal(mg_store_policy_get(s, 2, &p), -ENOENT);
	assert_int_equal(count_events(s, 0, "admin.policy.add"), 1);
}

/* Two "collectors" race to publish the same next version: one wins. */
struct policy_race {
	struct mg_store *s;
	int rc;
};

static void *policy_race_main(void *arg)
{
	struct policy_race *t = arg;
	const uint8_t sig[64] = {9};
	t->rc = mg_store_policy_add(t->s, NULL, 7, 0, "{\"version\":7}", sig, 64, NOW);
	return NULL;
}

static void test_policy_race(void **state)
{
	struct mg_store *s1 = *state, *s2 = open_store(); /* a second collector */
	struct policy_race t[4] = {{s1, 1}, {s2, 1}, {s1, 1}, {s2, 1}};
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, policy_race_main, &t[i]), 0);
	int ok = 0, exist = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ok += t[i].rc == 0;
		exist += t[i].rc == -EEXIST;
	}
	assert_int_equal(ok, 1);
	assert_int_equal(exist, 3);
	mg_store_close(&s2);
}

/* Terminals file requests at once through two collectors: the cap holds exactly. */
struct req_racer {
	struct mg_store *s;
	int64_t host;
	int id;
	int ok, full, other;
};

static void *req_racer_main(void *arg)
{
	struct req_racer *w = arg;
	struct mg_store_request q = {.host_id = w->host};
	snprintf(q.user, sizeof(q.user), "tanaka");
	snprintf(q.dev.vendor_id, sizeof(q.dev.vendor_id), "0781");
	snprintf(q.dev.product_id, sizeof(q.dev.product_id), "5581");
	snprintf(q.reason, sizeof(q.reason), "race");
	for (int k = 0; k < 30; k++) {
		int64_t id = 0;
		snprintf(q.request_id, sizeof(q.request_id), "race-%d-%d", w->id, k);
		int rc = mg_store_request_add(w->s, &q, NOW, &id);
		if (rc == 0)
			w->ok++;
		else if (rc == -EDQUOT)
			w->full++;
		else
			w->other++;
	}
	return NULL;
}

static int count_pending_cb(void *ctx, const struct mg_store_request *r)
{
	(void)r;
	(*(unsigned *)ctx)++;
	return 0;
}

static void test_requests_cap_concurrent(void **state)
{
	struct mg_store *s1 = *state, *s2 = open_store();
	int64_t h = add_host(s1, "mn-term-01", "01");
	struct req_racer w[8];
	pthread_t th[8];
	for (int i = 0; i < 8; i++)
		w[i] = (struct req_racer){.s = i % 2 ? s2 : s1, .host = h, .id = i};
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&th[i], NULL, req_racer_main, &w[i]), 0);
	int ok = 0, full = 0;
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].other, 0);
		ok += w[i].ok;
		full += w[i].full;
	}
	mg_store_close(&s2);
	unsigned pending = 0;
	assert_int_equal(
	    mg_store_requests_foreach(s1, MG_REQUEST_PENDING, 0, 1000, count_pending_cb, &pending),
	    0);
	assert_int_equal(pending, MG_STORE_MAX_PENDING_REQUESTS);
	assert_int_equal(ok, MG_STORE_MAX_PENDING_REQUESTS);
	assert_int_equal(full, 8 * 30 - MG_STORE_MAX_PENDING_REQUESTS);
}

static int req_state_cb(void *ctx, const struct mg_store_request *r)
{
	int *n = ctx;
	assert_int_equal(r->state, MG_REQUEST_PENDING);
	(*n)++;
	return 0;
}

static void test_requests(void **state)
{
	struct mg_store *s = *state;
	int64_t h = add_host(s, "mn-term-01", "01");
	struct mg_store_request q = {.host_id = h};
	snprintf(q.request_id, sizeof(q.request_id), "2b1e6c1a-req-1");
	snprintf(q.user, sizeof(q.user), "tanaka");
	snprintf(q.dev.vendor_id, sizeof(q.dev.vendor_id), "0781");
	snprintf(q.dev.product_id, sizeof(q.dev.product_id), "5581");
	snprintf(q.dev.serial, sizeof(q.dev.serial), "4C530001230517115103");
	snprintf(q.dev.name, sizeof(q.dev.name), "Ultra");
	snprintf(q.reason, sizeof(q.reason), "住民票の写しを移すため");
	int64_t id1 = 0, id1b = 0, id2 = 0, id3 = 0, rule = 0;
	assert_int_equal(mg_store_request_add(s, &q, NOW, &id1), 0);
	/* idempotent by request id */
	assert_int_equal(mg_store_request_add(s, &q, NOW + 5, &id1b), 0);
	assert_int_equal(id1b, id1);
	struct mg_store_request changed = q;
	snprintf(changed.reason, sizeof(changed.reason), "something else");
	assert_int_equal(mg_store_request_add(s, &changed, NOW, &id1b), -EEXIST);
	snprintf(q.request_id, sizeof(q.request_id), "req-2");
	assert_int_equal(mg_store_request_add(s, &q, NOW, &id2), 0);
	snprintf(q.request_id, sizeof(q.request_id), "req-3");
	assert_int_equal(mg_store_request_add(s, &q, NOW, &id3), 0);
	assert_true(id1 != id2 && id2 != id3);
	snprintf(q.request_id, sizeof(q.request_id), "bad id!");
	assert_int_equal(mg_store_request_add(s, &q, NOW, &id3), -EINVAL);

	struct mg_store_request got;
	assert_int_equal(mg_store_request_get(s, id1, &got), 0);
	assert_string_equal(got.request_id, "2b1e6c1a-req-1");
	assert_string_equal(got.reason, "住民票の写しを移すため");
	assert_int_equal(got.state, MG_REQUEST_PENDING);
	assert_int_equal(got.created_us, NOW);
	assert_int_equal(mg_store_request_get(s, 9999, &got), -ENOENT);

	/* approve: a rule in the same transaction */
	const char *text = "allow id 0781:5581 serial \"4C530001230517115103\"";
	assert_int_equal(mg_store_request_approve(s, &admin_sato, id1, text, h, NOW + HOUR, "ok",
	                                          NOW + 10, &rule),
	                 0);
	assert_true(rule > 0);
	assert_int_equal(mg_store_request_get(s, id1, &got), 0);
	assert_int_equal(got.state, MG_REQUEST_APPROVED);
	assert_int_equal(got.rule_id, rule);
	assert_string_equal(got.decided_by, "sato");
	assert_int_equal(got.decided_us, NOW + 10);
	assert_string_equal(got.note, "ok");
	struct rule_list rl = {0};
	assert_int_equal(mg_store_rules_foreach(s, h, 0, rule_cb, &rl), 0);
	assert_int_equal(rl.n, 1);
	assert_int_equal(rl.ids[0], rule);
	uint64_t rev;
	assert_int_equal(mg_store_rules_revision(s, &rev), 0);
	assert_int_equal(rev, 1);
	/* decided once */
	int64_t rule2 = 0;
	assert_int_equal(mg_store_request_approve(s, NULL, id1, text, h, 0, NULL, NOW, &rule2),
	                 -EALREADY);
	assert_int_equal(mg_store_request_deny(s, NULL, id1, NULL, NOW), -EALREADY);
	assert_int_equal(mg_store_request_deny(s, &admin_sato, id2, "no reason given", NOW), 0);
	assert_int_equal(mg_store_request_deny(s, NULL, id2, NULL, NOW), -EALREADY);
	assert_int_equal(mg_store_request_deny(s, NULL, 9999, NULL, NOW), -ENOENT);
	assert_int_equal(mg_store_request_approve(s, NULL, 9999, text, 0, 0, NULL, NOW, &rule2),
	                 -ENOENT);
	/* the failed approvals added no rule */
	assert_int_equal(mg_store_rules_revision(s, &rev), 0);
	assert_int_equal(rev, 1);
	assert_int_equal(mg_store_request_get(s, id2, &got), 0);
	assert_int_equal(got.state, MG_REQUEST_DENIED);
	assert_int_equal(got.rule_id, 0);

	int pending = 0;
	assert_int_equal(
	    mg_store_requests_foreach(s, MG_REQUEST_PENDING, 0, 100, req_state_cb, &pending), 0);
	assert_int_equal(pending, 1);
	assert_int_equal(count_events(s, 0, "admin.request.approve"), 1);
	assert_int_equal(count_events(s, 0, "admin.request.deny"), 1);
}

struct action_list {
	int n;
	char action[16][64];
	char target[16][128];
	int64_t event_id[16];
};

static int action_cb(void *ctx, const struct mg_store_admin_action *a)
{
	struct action_list *l = ctx;
	assert_true(l->n < 16);
	snprintf(l->action[l->n], 64, "%s", a->action);
	snprintf(l->target[l->n], 128, "%s", a->target);
	l->event_id[l->n] = a->event_id;
	assert_string_equal(a->admin, "sato");
	l->n++;
	return 0;
}

struct json_find {
	int64_t id;
	char json[1024];
};

static int json_find_cb(void *ctx, int64_t id, int64_t host_id, const char *json)
{
	struct json_find *f = ctx;
	assert_int_equal(host_id, 0);
	if (id == f->id)
		snprintf(f->json, sizeof(f->json), "%s", json);
	return 0;
}

static void test_admins_sessions(void **state)
{
	struct mg_store *s = *state;
	const char *pw = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA";
	int64_t sato = 0, ito = 0, dup = 0;
	assert_int_equal(mg_store_admin_add(s, NULL, "sato", pw, MG_ROLE_ADMIN, NOW, &sato), 0);
	assert_int_equal(mg_store_admin_add(s, &admin_sato, "ito", pw, MG_ROLE_APPROVER, NOW, &ito),
	                 0);
	assert_int_equal(mg_store_admin_add(s, NULL, "ito", pw, MG_ROLE_AUDITOR, NOW, &dup),
	                 -EEXIST);
	assert_int_equal(mg_store_admin_add(s, NULL, "bad name", pw, MG_ROLE_AUDITOR, NOW, &dup),
	                 -EINVAL);
	assert_int_equal(mg_store_admin_add(s, NULL, "x", pw, (enum mg_admin_role)9, NOW, &dup),
	                 -EINVAL);
	/* failed logins counted in the database: +1 each, from 1 again after forget_us idle,
	 * cleared by a good login and by an unlock */
	uint32_t nf = 0;
	for (uint32_t k = 1; k <= 3; k++) {
		assert_int_equal(mg_store_admin_login_failed(s, ito, NOW + k, 3600000000LL, &nf),
		                 0);
		assert_int_equal(nf, k);
	}
	assert_int_equal(mg_store_admin_login_failed(s, ito, NOW + 3600000100LL, 3600000000LL, &nf),
	                 0);
	assert_int_equal(nf, 1);
	assert_int_equal(mg_store_admin_login_ok(s, ito), 0);
	assert_int_equal(mg_store_admin_login_failed(s, ito, NOW, 3600000000LL, &nf), 0);
	assert_int_equal(nf, 1);
	assert_int_equal(mg_store_admin_lock(s, NULL, ito, 1, NOW), 0);
	assert_int_equal(mg_store_admin_unlock(s, NULL, ito, NOW), 0);
	assert_int_equal(mg_store_admin_login_failed(s, ito, NOW, 3600000000LL, &nf), 0);
	assert_int_equal(nf, 1);
	assert_int_equal(mg_store_admin_login_ok(s, ito), 0);

	struct mg_store_admin a;
	assert_int_equal(mg_store_admin_get(s, "ito", &a), 0);
	assert_int_equal(a.id, ito);
	assert_int_equal(a.role, MG_ROLE_APPROVER);
	assert_string_equal(a.password_hash, pw);
	assert_false(a.disabled);
	assert_int_equal(mg_store_admin_get(s, "nobody", &a), -ENOENT);
	assert_int_equal(mg_store_admin_set_role(s, &admin_sato, ito, MG_ROLE_AUDITOR, NOW), 0);
	assert_int_equal(mg_store_admin_set_password(s, &admin_sato, ito, "$argon2id$new", NOW), 0);
	assert_int_equal(mg_store_admin_set_role(s, NULL, 9999, MG_ROLE_AUDITOR, NOW), -ENOENT);
	assert_int_equal(mg_store_admin_get_id(s, ito, &a), 0);
	assert_int_equal(a.role, MG_ROLE_AUDITOR);
	assert_string_equal(a.password_hash, "$argon2id$new");

	/* sessions */
	char t1[65], t2[65], t3[65];
	tg_hash("session-1", t1);
	tg_hash("session-2", t2);
	tg_hash("session-3", t3);
	assert_int_equal(mg_store_session_add(s, t1, sato, NOW, NOW + HOUR), 0);
	assert_int_equal(mg_store_session_add(s, t1, sato, NOW, NOW + HOUR), -EEXIST);
	assert_int_equal(mg_store_session_add(s, t2, ito, NOW, NOW + 100), 0);
	assert_int_equal(mg_store_session_add(s, t3, 9999, NOW, NOW + 100), -ENOENT);
	int64_t exp = 0;
	assert_int_equal(mg_store_session_get(s, t1, NOW + 1, &a, &exp), 0);
	assert_int_equal(a.id, sato);
	assert_int_equal(a.role, MG_ROLE_ADMIN);
	assert_int_equal(exp, NOW + HOUR);
	assert_int_equal(mg_store_session_get(s, t2, NOW + 100, &a, NULL), -ETIME);
	assert_int_equal(mg_store_session_extend(s, t2, NOW + 200), 0);
	assert_int_equal(mg_store_session_get(s, t2, NOW + 100, &a, NULL), 0);
	assert_int_equal(mg_store_session_get(s, t3, NOW, &a, NULL), -ENOENT);
	assert_int_equal(mg_store_session_delete(s, t1), 0);
	assert_int_equal(mg_store_session_delete(s, t1), -ENOENT);
	assert_int_equal(mg_store_session_get(s, t1, NOW, &a, NULL), -ENOENT);
	/* disabling ends the sessions; a session of a disabled account is refused */
	assert_int_equal(mg_store_admin_set_disabled(s, &admin_sato, ito, true, NOW), 0);
	assert_int_equal(mg_store_session_get(s, t2, NOW, &a, NULL), -ENOENT);
	assert_int_equal(mg_store_session_add(s, t3, ito, NOW, NOW + 100), 0);
	assert_int_equal(mg_store_session_get(s, t3, NOW, &a, NULL), -EPERM);
	/* purge */
	assert_int_equal(mg_store_session_add(s, t1, sato, NOW, NOW + 50), 0);
	uint64_t purged = 0;
	assert_int_equal(mg_store_sessions_purge(s, NOW + 100, &purged), 0);
	assert_int_equal(purged, 2);
	assert_int_equal(mg_store_session_get(s, t1, NOW, &a, NULL), -ENOENT);

	/* the admin action log: every change above with an actor, plus an explicit entry */
	assert_int_equal(mg_store_admin_log(s, &admin_sato, "session.login", "admin:1",
	                                    "{\"method\":\"password\"}", NOW),
	                 0);
	assert_int_equal(mg_store_admin_log(s, &admin_sato, "x", NULL, "[1]", NOW), -EINVAL);
	assert_int_equal(mg_store_admin_log(s, &admin_sato, "x", NULL, "{bad", NOW), -EINVAL);
	assert_int_equal(mg_store_admin_log(s, NULL, "x", NULL, NULL, NOW), -EINVAL);
	struct action_list l = {0};
	assert_int_equal(mg_store_admin_actions_foreach(s, 0, 100, action_cb, &l), 0);
	static const char *const expected[] = {"admin.add", "admin.role", "admin.password",
	                                       "admin.disable", "session.login"};
	assert_int_equal(l.n, 5);
	for (int i = 0; i < 5; i++)
		assert_string_equal(l.action[i], expected[i]);
	char want[32];
	snprintf(want, sizeof(want), "admin:%" PRId64, ito);
	assert_string_equal(l.target[0], want);
	/* ... each also an event row, in canonical JSON */
	struct json_find jf = {.id = l.event_id[4]};
	struct mg_store_event_filter f = {.user = "sato", .limit = 100};
	assert_int_equal(mg_store_events_query(s, &f, json_find_cb, &jf), 0);
	assert_string_equal(jf.json,
	                    "{\"action\":\"session.login\",\"admin\":\"sato\",\"detail\":"
	                    "{\"method\":\"password\"},\"remote\":\"192.0.2.7\",\"target\":"
	                    "\"admin:1\",\"time\":\"2026-01-01T00:00:00.000000Z\","
	                    "\"type\":\"admin.session.login\"}");
	assert_int_equal(count_events(s, 0, "admin.admin.add"), 1);
}

static void test_low_disk(void **state)
{
	struct mg_store *s = *state;
	int64_t h = add_host(s, "mn-term-01", "01");
	assert_int_equal(mg_store_set_reserve(s, UINT64_MAX / 2), 0);
	struct tg_batch b;
	assert_int_equal(tg_batch_make(&b, "mn-term-01", BOOT_A, 1, 10, 0, TG_PLAIN), 0);
	struct mg_ingest_result r;
	int rc = mg_store_ingest(s, h, BOOT_A, b.evs, b.n, NOW, &r);
	if (g_pg) {
		assert_int_equal(rc, 0); /* the server owns its disk */
	} else {
		assert_int_equal(rc, -ENOSPC);
		assert_int_equal(cursor(s, h, BOOT_A), 0);
		assert_int_equal(count_events(s, h, NULL), 0);
		assert_int_equal(mg_store_set_reserve(s, 0), 0);
		assert_int_equal(mg_store_ingest(s, h, BOOT_A, b.evs, b.n, NOW, &r), 0);
	}
	assert_int_equal(r.acked_through, 10);
	tg_batch_free(&b);
}

static void test_reopen(void **state)
{
	struct mg_store *s = *state;
	int64_t h = add_host(s, "mn-term-01", "01");
	assert_int_equal(ingest(s, h, BOOT_A, 1, 30, 0, TG_MIXED).status, MG_INGEST_OK);
	mg_store_close(&s);
	assert_null(s);
	s = open_store();
	*state = s;
	assert_int_equal(cursor(s, h, BOOT_A), 30);
	assert_int_equal(ingest(s, h, BOOT_A, 1, 30, 0, TG_MIXED).stored, 0);
	assert_int_equal(ingest(s, h, BOOT_A, 31, 40, 0, TG_MIXED).stored, 10);
	assert_string_equal(mg_store_backend(s), g_pg ? "postgresql" : "sqlite");

	/* a database from a newer collector is refused */
	mg_store_close(&s);
	*state = NULL;
	if (g_pg) {
		PGconn *c = PQconnectdb(g_url);
		assert_int_equal(PQstatus(c), CONNECTION_OK);
		PQclear(PQexec(c, "UPDATE meta SET value = 99 WHERE key = 'schema_version'"));
		PQfinish(c);
	} else {
		sqlite3 *db = NULL;
		assert_int_equal(sqlite3_open(g_url + 7, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db,
		                              "UPDATE meta SET value = 99 WHERE key = "
		                              "'schema_version'",
		                              NULL, NULL, NULL),
		                 SQLITE_OK);
		sqlite3_close(db);
	}
	char msg[256];
	assert_int_equal(mg_store_open(g_url, &s, msg, sizeof(msg)), -EPROTO);
	assert_non_null(strstr(msg, "99"));
}

/*
 * kill -9 in the middle of a stream of ingests: the child ingests aligned batches and reports
 * each acknowledged one on a pipe; the parent kills it at a random moment, then checks that
 * the cursor is where the stored events end, that nothing is stored twice, that nothing
 * acknowledged was lost, and that the retries store nothing twice (last batch) or once (next).
 */
#define CRASH_BATCH 25

static void crash_child(int fd, int64_t host)
{
	struct mg_store *s = NULL;
	char msg[256];
	if (mg_store_open(g_url, &s, msg, sizeof(msg)) < 0)
		_exit(2);
	uint64_t c = 0;
	if (mg_store_cursor_get(s, host, BOOT_A, &c) < 0)
		_exit(3);
	for (uint64_t from = c + 1;; from += CRASH_BATCH) {
		struct tg_batch b;
		if (tg_batch_make(&b, "mn-term-01", BOOT_A, from, from + CRASH_BATCH - 1, 0,
		                  TG_MIXED) < 0)
			_exit(4);
		struct mg_ingest_result r;
		if (mg_store_ingest(s, host, BOOT_A, b.evs, b.n, NOW, &r) < 0 ||
		    r.status != MG_INGEST_OK)
			_exit(5);
		tg_batch_free(&b);
		uint64_t acked = r.acked_through;
		if (write(fd, &acked, sizeof(acked)) != (ssize_t)sizeof(acked))
			_exit(6);
	}
}

static void test_crash_safety(void **state)
{
	(void)state;
	new_url();
	struct mg_store *s = open_store();
	int64_t h = add_host(s, "mn-term-01", "01");
	mg_store_close(&s);
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	uint64_t expected_total = 0;
	for (int round = 0; round < 4; round++) {
		int fds[2];
		assert_int_equal(pipe(fds), 0);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(fds[0]);
			crash_child(fds[1], h);
		}
		close(fds[1]);
		/* Wait for a random number of acknowledgements (bounded), then a random delay. */
		int want = 2 + rand() % 12;
		uint64_t acked = 0;
		for (int got = 0; got < want;) {
			struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
			int pr = poll(&pfd, 1, 30000);
			if (pr <= 0) {
				kill(pid, SIGKILL);
				waitpid(pid, NULL, 0);
				fail_msg("the child made no progress within 30 s");
			}
			uint64_t v;
			ssize_t n = read(fds[0], &v, sizeof(v));
			if (n != (ssize_t)sizeof(v)) {
				kill(pid, SIGKILL);
				int st = 0;
				waitpid(pid, &st, 0);
				fail_msg("the child stopped (status %d)", st);
			}
			acked = v;
			got++;
		}
		struct timespec d = {0, (long)(rand() % 20000) * 1000L};
		nanosleep(&d, NULL);
		assert_int_equal(kill(pid, SIGKILL), 0);
		int st = 0;
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFSIGNALED(st));
		/* drain acknowledgements written before the kill */
		uint64_t v;
		while (read(fds[0], &v, sizeof(v)) == (ssize_t)sizeof(v))
			acked = v;
		close(fds[0]);

		s = open_store();
		uint64_t c = cursor(s, h, BOOT_A);
		/* nothing acknowledged is lost; at most the batch in flight is there unreported */
		assert_true(c >= acked);
		assert_true(c <= acked + CRASH_BATCH);
		assert_int_equal(c % CRASH_BATCH, 0);
		assert_true(c > expected_total);
		assert_exactly_once(s, h, BOOT_A, c);
		assert_int_equal(count_events(s, h, NULL), c);
		/* the retry of the last stored batch stores nothing twice ... */
		struct mg_ingest_result r =
		    ingest(s, h, BOOT_A, c - CRASH_BATCH + 1, c, 0, TG_MIXED);
		assert_int_equal(r.status, MG_INGEST_OK);
		assert_int_equal(r.stored, 0);
		assert_int_equal(count_events(s, h, NULL), c);
		/* ... and the batch that was not committed is stored once */
		r = ingest(s, h, BOOT_A, c + 1, c + CRASH_BATCH, 0, TG_MIXED);
		assert_int_equal(r.status, MG_INGEST_OK);
		assert_int_equal(r.stored, CRASH_BATCH);
		assert_int_equal(r.acked_through, c + CRASH_BATCH);
		assert_exactly_once(s, h, BOOT_A, c + CRASH_BATCH);
		expected_total = c + CRASH_BATCH;
		mg_store_close(&s);
	}
}

static void test_limits(void **state)
{
	struct mg_store *s = *state;
	int64_t h = add_host(s, "mn-term-01", "01");
	struct tg_batch b;
	assert_int_equal(tg_batch_make(&b, "mn-term-01", BOOT_A, 1, 3, 0, TG_PLAIN), 0);
	struct mg_ingest_result r;
	char big[MG_STORE_DEVSTR_SIZE + 8];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	b.evs[1].device_serial = big;
	assert_int_equal(mg_store_ingest(s, h, BOOT_A, b.evs, b.n, NOW, &r), -EINVAL);
	b.evs[1].device_serial = "\xff\xfe";
	assert_int_equal(mg_store_ingest(s, h, BOOT_A, b.evs, b.n, NOW, &r), -EINVAL);
	b.evs[1].device_serial = NULL;
	b.evs[1].type = "Device.Bad";
	assert_int_equal(mg_store_ingest(s, h, BOOT_A, b.evs, b.n, NOW, &r), -EINVAL);
	b.evs[1].type = "device.inserted";
	b.evs[1].device_vendor_id = "XYZ1";
	assert_int_equal(mg_store_ingest(s, h, BOOT_A, b.evs, b.n, NOW, &r), -EINVAL);
	b.evs[1].device_vendor_id = NULL;
	b.evs[0].seq = 0;
	assert_int_equal(mg_store_ingest(s, h, BOOT_A, b.evs, 1, NOW, &r), -EINVAL);
	b.evs[0].seq = 1;
	assert_int_equal(mg_store_ingest(s, h, BOOT_A, b.evs, MG_STORE_MAX_BATCH + 1, NOW, &r),
	                 -EINVAL);
	assert_int_equal(mg_store_ingest(s, h, BOOT_A, b.evs, b.n, NOW, &r), 0);
	assert_int_equal(r.stored, 3);
	tg_batch_free(&b);
	assert_int_equal(mg_store_host_heartbeat(s, h, NOW, 1ull << 60, 0, 0, NULL), -EINVAL);
	struct mg_store_event_filter f = {.limit = 10, .user = "\xc3\x28"};
	uint64_t n;
	assert_int_equal(mg_store_events_count(s, &f, &n), -EINVAL);
}

/* Text that needs escaping on the way in (COPY, SQL) comes back byte for byte. */
struct text_find {
	int n;
	char json[512];
};

static int text_find_cb(void *ctx, int64_t id, int64_t host_id, const char *json)
{
	(void)id;
	(void)host_id;
	struct text_find *t = ctx;
	t->n++;
	snprintf(t->json, sizeof(t->json), "%s", json);
	return 0;
}

static void test_text_roundtrip(void **state)
{
	struct mg_store *s = *state;
	int64_t h = add_host(s, "mn-term-01", "01");
	static const char *const users[] = {"tab\there", "new\nline\r", "back\\slash\\N",
	                                    "\\N",       "田中 太郎",   "quote\"s'"};
	static const char *const jsons[] = {
	    "{\"user\":{\"name\":\"tab\\there\"},\"x\":\"\\\\N\"}",
	    "{\"user\":{\"name\":\"new\\nline\\r\"}}",
	    "{\"user\":{\"name\":\"back\\\\slash\\\\N\"}}",
	    "{\"user\":{\"name\":\"\\\\N\"},\"raw\":\"a\tb\"}",
	    "{\"user\":{\"name\":\"田中 太郎\"}}",
	    "{\"user\":{\"name\":\"quote\\\"s'\"}}",
	};
	struct mg_store_event evs[6];
	char hashes[6][65];
	for (size_t i = 0; i < 6; i++) {
		tg_hash(jsons[i], hashes[i]);
		evs[i] = (struct mg_store_event){.seq = i + 1,
		                                 .time_us = NOW,
		                                 .type = "auth.success",
		                                 .json = jsons[i],
		                                 .hash = hashes[i],
		                                 .prev_hash = i ? hashes[i - 1] : NULL,
		                                 .user = users[i],
		                                 .device_serial = users[i]};
	}
	struct mg_ingest_result r;
	assert_int_equal(mg_store_ingest(s, h, BOOT_A, evs, 6, NOW, &r), 0);
	assert_int_equal(r.stored, 6);
	/* the resend compares equal */
	assert_int_equal(mg_store_ingest(s, h, BOOT_A, evs, 6, NOW, &r), 0);
	assert_int_equal(r.status, MG_INGEST_OK);
	assert_int_equal(r.stored, 0);
	for (size_t i = 0; i < 6; i++) {
		struct text_find t = {0};
		struct mg_store_event_filter f = {.user = users[i], .limit = 10};
		assert_int_equal(mg_store_events_query(s, &f, text_find_cb, &t), 0);
		assert_int_equal(t.n, 1);
		assert_string_equal(t.json, jsons[i]);
		t.n = 0;
		f = (struct mg_store_event_filter){.device_serial = users[i], .limit = 10};
		assert_int_equal(mg_store_events_query(s, &f, text_find_cb, &t), 0);
		assert_int_equal(t.n, 1);
	}
}

/* ---- main ---- */

static int read_state(const char *file)
{
	FILE *f = fopen(file, "r");
	const bool ci = getenv("CI") && *getenv("CI");
	if (!f) {
		fprintf(stderr, "test_store: %s: no PostgreSQL server state (fixture not run?)\n",
		        file);
		return ci ? 1 : 77;
	}
	char line[700];
	int r = ci ? 1 : 77;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "skip ", 5) == 0) {
			fprintf(stderr, "test_store: %s\n", line + 5);
			break;
		}
		if (strncmp(line, "url ", 4) == 0) {
			char *slash = strrchr(line + 4, '/');
			if (slash && slash > line + 4 + strlen("postgresql://")) {
				*slash = '\0';
				snprintf(g_prefix, sizeof(g_prefix), "%s", line + 4);
				r = 0;
			}
			break;
		}
	}
	fclose(f);
	return r;
}

/* Removes this run's SQLite files (t<pid>_*), and the directory when the run made it. */
static void cleanup_dir(bool made)
{
	char prefix[32];
	snprintf(prefix, sizeof(prefix), "t%d_", (int)getpid());
	DIR *d = opendir(g_dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
			continue;
		char p[PATH_MAX + 300];
		snprintf(p, sizeof(p), "%s/%s", g_dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	if (made)
		rmdir(g_dir);
}

int main(void)
{
	const char *url = getenv("MG_TEST_STORE_URL");
	const char *file = getenv("MG_TEST_STORE_URL_FILE");
	bool made_dir = false;
	if (file && *file) {
		int r = read_state(file);
		if (r != 0)
			return r;
		g_pg = true;
	} else if (url && strncmp(url, "sqlite:", 7) == 0) {
		snprintf(g_dir, sizeof(g_dir), "%s", url + 7);
		mkdir(g_dir, 0700);
	} else {
		snprintf(g_dir, sizeof(g_dir), "/tmp/mg-store-test.XXXXXX");
		if (!mkdtemp(g_dir)) {
			perror("mkdtemp");
			return 1;
		}
		made_dir = true;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_open_errors),
	    cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_token_race, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hosts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ingest_exactly_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_alerts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ingest_concurrent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_collectors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_group_commit_isolation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_device_ledger, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_events_query, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rules_policies, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_policy_race, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_requests, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_requests_cap_concurrent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_admins_sessions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_low_disk, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
	    cmocka_unit_test(test_crash_safety),
	    cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_text_roundtrip, setup, teardown),
	};
	const char *name = g_pg ? "store (postgresql)" : "store (sqlite)";
	int r = _cmocka_run_group_tests(name, tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
	if (!g_pg && r == 0)
		cleanup_dir(made_dir); /* a failed run keeps its files to look at */
	return r;
}
