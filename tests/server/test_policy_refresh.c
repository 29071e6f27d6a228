/*
 * When the collector publishes on its own (server/policy/policy_refresh.c): on a throwaway SQLite
 * store with controlled clocks, each event (no policy, a rule change, half the validity gone,
 * a rule's expiry reached) publishes exactly one version, and checks in between publish
 * nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy_build.h"
#include "policy_refresh.h"

#define T0       INT64_C(1795564800000000) /* 2026-11-25T00:00:00Z */
#define SEC      INT64_C(1000000)
#define HOUR     (3600 * SEC)
#define DAY      (24 * HOUR)
#define VALIDITY (7 * DAY)
#define TICK     (30 * SEC)

static char g_dir[PATH_MAX];

struct fixture {
	struct mg_store *s;
	struct mg_policy_key *key;
	char pub[MG_POLICY_PUBKEY_B64_SIZE];
};

static int setup(void **state)
{
	static int counter;
	char url[PATH_MAX + 64], path[PATH_MAX + 64], msg[256];
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	counter++;
	snprintf(url, sizeof(url), "sqlite:%s/store%d.db", g_dir, counter);
	snprintf(path, sizeof(path), "%s/key%d.pem", g_dir, counter);
	if (mg_store_open(url, &f->s, msg, sizeof(msg)) < 0 ||
	    mg_policy_key_generate(path, &f->key) < 0 ||
	    mg_policy_key_public_b64(f->key, f->pub) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	mg_store_close(&f->s);
	mg_policy_key_free(&f->key);
	free(f);
	return 0;
}

/* mg_policy_refresh at now; returns the version it published (0: none). */
static uint64_t refresh(struct fixture *f, int64_t now)
{
	uint64_t v = 99;
	assert_int_equal(mg_policy_refresh(f->s, f->key, now, VALIDITY, &v), 0);
	return v;
}

static uint64_t latest(struct fixture *f)
{
	uint64_t v = 0;
	assert_int_equal(mg_store_policy_latest(f->s, &v), 0);
	return v;
}

/* The latest stored version, verified as a terminal would (fresh at now). */
static struct mg_policy_bundle *latest_bundle(struct fixture *f, int64_t now)
{
	struct mg_store_policy *p = NULL;
	struct mg_policy_bundle *b = NULL;
	char sig[MG_POLICY_SIG_B64_SIZE];
	assert_int_equal(mg_store_policy_get(f->s, 0, &p), 0);
	assert_int_equal(p->sig_len, 88);
	memcpy(sig, p->sig, 88);
	sig[88] = '\0';
	assert_int_equal(
	    mg_policy_verify_bundle(f->pub, p->json, p->json_len, sig, 0, now, 0, &b, NULL, 0), 0);
	assert_int_equal(b->version, p->version);
	mg_store_policy_free(&p);
	return b;
}

/* Checks every TICK in [from, to): none publishes. */
static void quiet(struct fixture *f, int64_t from, int64_t to)
{
	uint64_t before = latest(f);
	for (int64_t t = from; t < to; t += TICK)
		if (refresh(f, t) != 0)
			fail_msg("published at T0 + %lld s", (long long)((t - T0) / SEC));
	assert_int_equal(latest(f), before);
}

static void test_first_version_once(void **state)
{
	struct fixture *f = *state;
	struct mg_policy_bundle *b;
	assert_int_equal(latest(f), 0);
	assert_int_equal(refresh(f, T0), 1);
	b = latest_bundle(f, T0);
	assert_int_equal(b->issued_us, T0);
	assert_int_equal(b->expires_us, T0 + VALIDITY);
	assert_string_equal(b->rules, "");
	mg_policy_bundle_free(&b);
	assert_int_equal(refresh(f, T0), 0);
	quiet(f, T0 + TICK, T0 + 2 * HOUR);
	/* the published record is the system's: no admin action for it */
	struct mg_store_event_filter ef = {.type = "admin.policy.add"};
	uint64_t n = 1;
	assert_int_equal(mg_store_events_count(f->s, &ef, &n), 0);
	assert_int_equal(n, 0);
}

static void test_half_life_renewal(void **state)
{
	struct fixture *f = *state;
	struct mg_policy_bundle *b;
	assert_int_equal(refresh(f, T0), 1);
	quiet(f, T0 + TICK, T0 + VALIDITY / 2);
	assert_int_equal(refresh(f, T0 + VALIDITY / 2 - 1), 0);
	assert_int_equal(refresh(f, T0 + VALIDITY / 2), 2);
	assert_int_equal(refresh(f, T0 + VALIDITY / 2), 0);
	b = latest_bundle(f, T0 + VALIDITY / 2);
	assert_int_equal(b->issued_us, T0 + VALIDITY / 2);
	assert_int_equal(b->expires_us, T0 + VALIDITY / 2 + VALIDITY);
	mg_policy_bundle_free(&b);
	/* a collector that was down for longer than the validity renews once when it starts */
	assert_int_equal(refresh(f, T0 + 30 * DAY), 3);
	assert_int_equal(refresh(f, T0 + 30 * DAY + TICK), 0);
}

static void test_rule_changes(void **state)
{
	struct fixture *f = *state;
	struct mg_policy_bundle *b;
	int64_t id1 = 0, id2 = 0;
	uint64_t v;
	assert_int_equal(refresh(f, T0), 1);
	assert_int_equal(
	    mg_store_rule_add(f->s, NULL, "allow id 1d6b:0002", 0, 0, NULL, T0 + SEC, &id1), 0);
	assert_int_equal(refresh(f, T0 + 2 * SEC), 2);
	b = latest_bundle(f, T0 + 2 * SEC);
	assert_string_equal(b->rules, "allow id 1d6b:0002\n");
	mg_policy_bundle_free(&b);
	quiet(f, T0 + 3 * SEC, T0 + HOUR);

	/* two changes between checks: one version */
	assert_int_equal(
	    mg_store_rule_add(f->s, NULL, "allow id 0781:5581", 0, 0, NULL, T0 + HOUR, &id2), 0);
	assert_int_equal(mg_store_rule_remove(f->s, NULL, id1, T0 + HOUR), 0);
	assert_int_equal(refresh(f, T0 + HOUR + SEC), 3);
	b = latest_bundle(f, T0 + HOUR + SEC);
	assert_string_equal(b->rules, "allow id 0781:5581\n");
	mg_policy_bundle_free(&b);

	/* an admin published the change already: nothing more to do */
	assert_int_equal(
	    mg_store_rule_add(f->s, NULL, "allow id 046d:c52b", 0, 0, NULL, T0 + 2 * HOUR, &id1),
	    0);
	assert_int_equal(mg_policy_publish(f->s, NULL, f->key, T0 + 2 * HOUR, VALIDITY, &v), 0);
	assert_int_equal(v, 4);
	quiet(f, T0 + 2 * HOUR, T0 + 3 * HOUR);
}

static void test_rule_expiry(void **state)
{
	struct fixture *f = *state;
	struct mg_policy_bundle *b;
	const int64_t until = T0 + 5 * HOUR; /* a temporary allowance: well within validity/2 */
	int64_t id = 0;
	assert_int_equal(refresh(f, T0), 1);
	assert_int_equal(mg_store_rule_add(f->s, NULL, "allow id 0781:5581 serial \"4C53\"", 0,
	                                   until, "visitor", T0 + SEC, &id),
	                 0);
	assert_int_equal(refresh(f, T0 + 2 * SEC), 2);
	b = latest_bundle(f, T0 + 2 * SEC);
	assert_int_equal(b->expires_us, until); /* brought forward to the rule's expiry */
	assert_string_equal(b->rules, "allow id 0781:5581 serial \"4C53\"\n");
	mg_policy_bundle_free(&b);
	quiet(f, T0 + 3 * SEC, until);
	assert_int_equal(refresh(f, until - 1), 0);
	/* the expiry has come: one new version without the rule, with the full validity */
	assert_int_equal(refresh(f, until + 7 * SEC), 3);
	b = latest_bundle(f, until + 7 * SEC);
	assert_string_equal(b->rules, "");
	assert_int_equal(b->expires_us, until + 7 * SEC + VALIDITY);
	mg_policy_bundle_free(&b);
	quiet(f, until + 8 * SEC, until + 12 * HOUR);

	/* a rule expiring after half the validity: the half-life renewal comes first, and the
	 * renewed version is cut at the rule's expiry, renewed once more at that time */
	const int64_t t = until + 12 * HOUR, far = t + 5 * DAY;
	assert_int_equal(mg_store_rule_add(f->s, NULL, "allow id 046d:c52b", 0, far, NULL, t, &id),
	                 0);
	assert_int_equal(refresh(f, t), 4);
	b = latest_bundle(f, t);
	assert_int_equal(b->expires_us, far);
	mg_policy_bundle_free(&b);
	assert_int_equal(refresh(f, t + VALIDITY / 2 - SEC), 0);
	assert_int_equal(refresh(f, t + VALIDITY / 2), 5);
	b = latest_bundle(f, t + VALIDITY / 2);
	assert_int_equal(b->expires_us, far);
	assert_string_equal(b->rules, "allow id 046d:c52b\n");
	mg_policy_bundle_free(&b);
	quiet(f, t + VALIDITY / 2 + TICK, far);
	assert_int_equal(refresh(f, far), 6);
	b = latest_bundle(f, far);
	assert_string_equal(b->rules, "");
	mg_policy_bundle_free(&b);
	assert_int_equal(refresh(f, far), 0);
}

/* Versions only grow, whoever publishes; a simulated month of checks publishes only on events. */
static void test_monotonic_month(void **state)
{
	struct fixture *f = *state;
	uint64_t prev = 0, count = 0;
	int64_t id;
	for (int64_t t = T0; t < T0 + 30 * DAY; t += 10 * 60 * SEC) {
		uint64_t v = refresh(f, t);
		if (v) {
			assert_true(v > prev);
			prev = v;
			count++;
		}
		if (t == T0 + 10 * DAY) {
			assert_int_equal(
			    mg_store_rule_add(f->s, NULL, "allow id 1d6b:0003", 0, 0, NULL, t, &id),
			    0);
			assert_int_equal(mg_policy_publish(f->s, NULL, f->key, t, VALIDITY, &v), 0);
			assert_true(v > prev);
			prev = v;
			count++;
		}
	}
	/* v1 at T0, renewals at 3.5, 7, [10: admin], 13.5, 17, 20.5, 24, 27.5 days */
	assert_int_equal(count, 9);
	assert_int_equal(latest(f), 9);
}

static void test_arguments(void **state)
{
	struct fixture *f = *state;
	uint64_t v = 5;
	assert_int_equal(mg_policy_refresh(NULL, f->key, T0, VALIDITY, &v), -EINVAL);
	assert_int_equal(mg_policy_refresh(f->s, NULL, T0, VALIDITY, &v), -EINVAL);
	assert_int_equal(mg_policy_refresh(f->s, f->key, 0, VALIDITY, &v), -EINVAL);
	assert_int_equal(mg_policy_refresh(f->s, f->key, T0, 0, &v), -EINVAL);
	assert_int_equal(v, 5);
	assert_int_equal(mg_policy_refresh(f->s, f->key, T0, VALIDITY, NULL), 0);
	assert_int_equal(latest(f), 1);
}

/* The serve thread: publishes version 1 before start returns, stops promptly. */
static uint64_t g_seen;
static void seen(void *ctx, uint64_t version)
{
	(void)ctx;
	g_seen = version;
}

static void test_refresher_thread(void **state)
{
	struct fixture *f = *state;
	struct mg_policy_refresher *r = NULL;
	struct mg_policy_refresher_config cfg = {
	    .store = f->s,
	    .key = f->key,
	    .validity_us = VALIDITY,
	    .interval_s = 3600,
	    .published = seen,
	};
	assert_int_equal(mg_policy_refresher_start(&cfg, &r), 0);
	assert_int_equal(latest(f), 1);
	assert_int_equal(g_seen, 1);
	mg_policy_refresher_stop(&r); /* an hour's wait ends at once */
	assert_null(r);
	mg_policy_refresher_stop(&r);
	cfg.interval_s = 0;
	assert_int_equal(mg_policy_refresher_start(&cfg, &r), -EINVAL);
	assert_int_equal(latest(f), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_first_version_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_half_life_renewal, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rule_changes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rule_expiry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_monotonic_month, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_arguments, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refresher_thread, setup, teardown),
	};
	const char *tmp = getenv("TMPDIR");
	char cmd[PATH_MAX + 16];
	snprintf(g_dir, sizeof(g_dir), "%s/mg-refresh-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(g_dir))
		return 1;
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
	if (system(cmd) != 0)
		return 1;
	return r;
}
