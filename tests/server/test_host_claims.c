/*
 * Issue 14, finding 5: a terminal that writes events naming another terminal. The collector
 * stores such a batch as sent (the canonical form stays verifiable against its hash), raises a
 * tamper alert the first time a host claims another enrolled host's name, and every output
 * (admin API JSON, JSON lines, CSV; `mynaguard-collector events` table and --json) names the
 * sender as the collector knows it (host_id and enrolled name), the differing claim only as
 * claimed_host. On the harness of api_harness.h, SQLite or PostgreSQL (MG_TEST_STORE_URL_FILE).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "admin_auth.h"
#include "api_harness.h"
#include "digest.h"
#include "store.h"

#define NAME_A  "mn-term-a"
#define NAME_B  "mn-term-b"
#define RENAMED "mn-term-renamed"
#define BOOT1   "11111111-2222-4333-8444-555555555555"
#define BOOT2   "21111111-2222-4333-8444-555555555555"
#define BOOT3   "31111111-2222-4333-8444-555555555555"

static int64_t g_a, g_b;
static char g_key_a[PATH_MAX], g_cert_a[PATH_MAX], g_key_b[PATH_MAX], g_cert_b[PATH_MAX];
static char g_tok[MG_ADMIN_TOKEN_SIZE];
static char g_hashes[8][65];

static long get(const char *path, struct api_reply *r)
{
	char auth[128];
	const char *headers[] = {auth, NULL};
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", g_tok);
	return api_call("GET", path, headers, NULL, 0, NULL, NULL, r);
}

/* POST /v1/events of seq from..to of boot, claiming host, with the key and certificate. */
static long send_batch(const char *host, const char *boot, uint64_t from, uint64_t to,
                       const char *cert, const char *key)
{
	json_t *b = wire_batch(host, boot, from, to, 100, g_hashes);
	char *body = json_dumps(b, JSON_COMPACT);
	json_t *a = NULL;
	long st;
	assert_non_null(body);
	st = post("/v1/events", body, strlen(body), cert, key, &a);
	free(body);
	json_decref(b);
	json_decref(a);
	return st;
}

struct alerts {
	size_t claims, other;
	int64_t host;
};

static int count_alert(void *ctx, const struct mg_store_alert *al)
{
	struct alerts *c = ctx;
	if (al->host_id == c->host && strcmp(al->kind, "host_claim") == 0)
		c->claims++;
	else
		c->other++;
	return 0;
}

static struct alerts alerts_of(int64_t host)
{
	struct mg_store *s = store();
	struct alerts c = {.host = host};
	assert_int_equal(mg_store_alerts_foreach(s, 0, 0, 1000, count_alert, &c), 0);
	mg_store_close(&s);
	return c;
}

struct rows {
	size_t n, verified;
};

/* Every stored row of host A is the canonical form as sent: its SHA-256 is a hash sent. */
static int check_row(void *ctx, int64_t id, int64_t host_id, const char *json)
{
	struct rows *c = ctx;
	char hex[65];
	(void)id;
	assert_int_equal(host_id, g_a);
	assert_int_equal(mg_sha256_hex(json, strlen(json), hex), 0);
	for (size_t i = 0; i < 8; i++)
		if (strcmp(hex, g_hashes[i]) == 0)
			c->verified++;
	c->n++;
	return 0;
}

static void setup_hosts(void **state)
{
	json_t *a = NULL;
	char *body;
	(void)state;
	g_a = enroll(NAME_A, g_key_a, g_cert_a);
	g_b = enroll(NAME_B, g_key_b, g_cert_b);
	assert_true(g_a > 0 && g_b > 0 && g_a != g_b);
	json_t *cred = json_pack("{s:s,s:s}", "name", ADMIN_NAME, "password", ADMIN_PASSWORD);
	body = json_dumps(cred, JSON_COMPACT);
	json_decref(cred);
	assert_int_equal(post("/v1/admin/login", body, strlen(body), NULL, NULL, &a), 200);
	snprintf(g_tok, sizeof(g_tok), "%s", json_string_value(json_object_get(a, "token")));
	assert_int_equal(strlen(g_tok), MG_ADMIN_TOKEN_SIZE - 1);
	json_decref(a);
	free(body);
}

/* The batch is not refused, stored as sent, and alerted once. */
static void test_claim_stored_and_alerted(void **state)
{
	struct mg_store *s;
	struct mg_store_event_filter f = {.type = "agent.started", .limit = 100};
	struct rows rows = {0};
	struct alerts al;
	(void)state;

	assert_int_equal(send_batch(NAME_B, BOOT1, 1, 3, g_cert_a, g_key_a), 200);
	s = store();
	f.host_id = g_a;
	assert_int_equal(mg_store_events_query(s, &f, check_row, &rows), 0);
	mg_store_close(&s);
	assert_int_equal(rows.n, 3);
	assert_int_equal(rows.verified, 3);

	al = alerts_of(g_a);
	assert_int_equal(al.claims, 1);
	assert_int_equal(al.other, 0);

	/* The same claim again (and in a later boot): no second alert. */
	assert_int_equal(send_batch(NAME_B, BOOT1, 4, 5, g_cert_a, g_key_a), 200);
	assert_int_equal(send_batch(NAME_B, BOOT2, 1, 1, g_cert_a, g_key_a), 200);
	al = alerts_of(g_a);
	assert_int_equal(al.claims, 1);
	assert_int_equal(al.other, 0);

	/* A renamed terminal (no enrolled host has the name) and B under its own name: no alert,
	 * uploads go through. */
	assert_int_equal(send_batch(RENAMED, BOOT3, 1, 1, g_cert_a, g_key_a), 200);
	assert_int_equal(send_batch(NAME_B, BOOT1, 1, 2, g_cert_b, g_key_b), 200);
	al = alerts_of(g_a);
	assert_int_equal(al.claims, 1);
	assert_int_equal(al.other, 0);

	/* The alert is also an event row of the collector: a collector.tamper event. */
	{
		struct mg_store_event_filter t = {.type = "collector.tamper", .limit = 100};
		uint64_t n = 0;
		s = store();
		assert_int_equal(mg_store_events_count(s, &t, &n), 0);
		mg_store_close(&s);
		assert_int_equal(n, 1);
	}
}

/* One output object: host_id and the enrolled name, the claim only as claimed_host. */
static void check_view(json_t *ev, const char *where)
{
	const char *type = json_string_value(json_object_get(ev, "type"));
	json_int_t hid = json_integer_value(json_object_get(ev, "host_id"));
	const char *host = json_string_value(json_object_get(ev, "host"));
	const char *claim = json_string_value(json_object_get(ev, "claimed_host"));
	if (!type || !json_is_integer(json_object_get(ev, "host_id")))
		fail_msg("%s: no type or host_id", where);
	if (strcmp(type, "collector.tamper") == 0)
		return;
	if (hid == g_a) {
		if (!host || strcmp(host, NAME_A) != 0)
			fail_msg("%s: host %s, want %s", where, host ? host : "(none)", NAME_A);
		if (!claim || (strcmp(claim, NAME_B) != 0 && strcmp(claim, RENAMED) != 0))
			fail_msg("%s: claimed_host %s", where, claim ? claim : "(none)");
	} else if (hid == g_b) {
		if (!host || strcmp(host, NAME_B) != 0)
			fail_msg("%s: host %s, want %s", where, host ? host : "(none)", NAME_B);
		if (claim)
			fail_msg("%s: claimed_host %s for a host under its own name", where, claim);
	}
}

static void test_claim_api_outputs(void **state)
{
	struct api_reply r = {0};
	char path[256];
	json_t *list, *e;
	size_t i, n = 0;
	(void)state;

	/* JSON */
	snprintf(path, sizeof(path), "/v1/admin/events?host=%" PRId64, g_a);
	assert_int_equal(get(path, &r), 200);
	list = json_object_get(r.json, "events");
	assert_int_equal(json_array_size(list), 8); /* 7 events and the alert */
	json_array_foreach(list, i, e)
	{
		assert_int_equal(json_integer_value(json_object_get(e, "host_id")), g_a);
		check_view(json_object_get(e, "event"), "json");
	}
	api_reply_free(&r);

	/* JSON lines: every line names its sender. */
	assert_int_equal(get("/v1/admin/events?format=jsonl&type=agent.started", &r), 200);
	for (char *line = r.body, *nl; line && *line; line = nl + 1) {
		json_t *o;
		nl = strchr(line, '\n');
		assert_non_null(nl);
		*nl = '\0';
		o = json_loads(line, 0, NULL);
		assert_non_null(o);
		check_view(o, "jsonl");
		json_decref(o);
		n++;
	}
	assert_int_equal(n, 9);
	api_reply_free(&r);

	/* CSV: host and claimed_host columns. */
	snprintf(path, sizeof(path), "/v1/admin/events?format=csv&host=%" PRId64, g_a);
	assert_int_equal(get(path, &r), 200);
	assert_memory_equal(r.body, "id,host_id,host,claimed_host,time,type,",
	                    strlen("id,host_id,host,claimed_host,time,type,"));
	{
		char want[128];
		snprintf(want, sizeof(want), ",%" PRId64 "," NAME_A "," NAME_B ",", g_a);
		assert_non_null(strstr(r.body, want));
		snprintf(want, sizeof(want), ",%" PRId64 "," NAME_A "," RENAMED ",", g_a);
		assert_non_null(strstr(r.body, want));
	}
	api_reply_free(&r);

	/* B's own events: no claim. */
	snprintf(path, sizeof(path), "/v1/admin/events?host=%" PRId64, g_b);
	assert_int_equal(get(path, &r), 200);
	list = json_object_get(r.json, "events");
	assert_int_equal(json_array_size(list), 2);
	json_array_foreach(list, i, e) check_view(json_object_get(e, "event"), "json b");
	api_reply_free(&r);
}

static void test_claim_cli_outputs(void **state)
{
	static char out[1 << 16];
	char host[24];
	size_t n = 0;
	(void)state;

	snprintf(host, sizeof(host), "%" PRId64, g_a);
	{
		const char *args[] = {"events", "--data-dir", g_dir,    "--db", g_db,
		                      "--host", host,         "--json", NULL};
		assert_int_equal(runv(out, sizeof(out), args), 0);
	}
	for (char *line = out, *nl; line && *line; line = nl + 1) {
		json_t *o;
		nl = strchr(line, '\n');
		assert_non_null(nl);
		*nl = '\0';
		o = json_loads(line, 0, NULL);
		assert_non_null(o);
		assert_int_equal(json_integer_value(json_object_get(o, "host_id")), g_a);
		check_view(o, "cli --json");
		json_decref(o);
		n++;
	}
	assert_int_equal(n, 8);

	{
		const char *args[] = {"events", "--data-dir", g_dir, "--db",
		                      g_db,     "--host",     host,  NULL};
		assert_int_equal(runv(out, sizeof(out), args), 0);
	}
	assert_non_null(strstr(out, NAME_A));
	assert_non_null(strstr(out, "claimed_host=" NAME_B));
	assert_non_null(strstr(out, "claimed_host=" RENAMED));
}

/* mg_store_event_view alone: what is a claim, what is the collector's own row. */
static void test_view_rules(void **state)
{
	struct {
		int64_t host_id;
		const char *host, *json, *want;
	} cases[] = {
	    /* the enrolled name: no claim */
	    {5, "pc-1", "{\"host\":\"pc-1\",\"seq\":1,\"type\":\"agent.started\"}",
	     "{\"host\":\"pc-1\",\"host_id\":5,\"seq\":1,\"type\":\"agent.started\"}"},
	    /* another name: only as claimed_host */
	    {5, "pc-1", "{\"host\":\"pc-2\",\"seq\":1,\"type\":\"agent.started\"}",
	     "{\"claimed_host\":\"pc-2\",\"host\":\"pc-1\",\"host_id\":5,\"seq\":1,"
	     "\"type\":\"agent.started\"}"},
	    /* bytes that were not UTF-8: a claim even when the repaired text matches */
	    {5, "pc-1",
	     "{\"host\":\"pc-1\",\"host_hex\":\"70632d31ff\",\"type\":\"agent.started\"}",
	     "{\"claimed_host\":\"pc-1\",\"claimed_host_hex\":\"70632d31ff\",\"host\":\"pc-1\","
	     "\"host_id\":5,\"type\":\"agent.started\"}"},
	    /* the collector's own rows keep their members */
	    {0, "", "{\"admin\":\"sato\",\"type\":\"admin.rule.add\"}",
	     "{\"admin\":\"sato\",\"host_id\":0,\"type\":\"admin.rule.add\"}"},
	    {5, "pc-1", "{\"host_id\":5,\"kind\":\"conflict\",\"type\":\"collector.tamper\"}",
	     "{\"host_id\":5,\"kind\":\"conflict\",\"type\":\"collector.tamper\"}"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mg_store_event_row row = {.id = 1,
		                                 .host_id = cases[i].host_id,
		                                 .host = cases[i].host,
		                                 .json = cases[i].json};
		char *v = NULL;
		assert_int_equal(mg_store_event_view(&row, &v), 0);
		assert_string_equal(v, cases[i].want);
		free(v);
	}
	{
		struct mg_store_event_row row = {
		    .id = 1, .host_id = 5, .host = "pc-1", .json = "[1]"};
		char *v = NULL;
		assert_int_equal(mg_store_event_view(&row, &v), -EBADMSG);
		assert_null(v);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(setup_hosts),
	    cmocka_unit_test(test_claim_stored_and_alerted),
	    cmocka_unit_test(test_claim_api_outputs),
	    cmocka_unit_test(test_claim_cli_outputs),
	    cmocka_unit_test(test_view_rules),
	};
	return api_main("test_host_claims", tests, sizeof(tests) / sizeof(tests[0]));
}
