/*
 * Issue 14, finding 7 (the small ones) over HTTPS on the harness of api_harness.h: a heartbeat
 * with a policy_version that was never published is refused (409) as /v1/policy/applied
 * refuses it; a terminal may have at most MG_STORE_MAX_PENDING_REQUESTS pending device
 * requests (429 beyond); a query value or key that decodes to a NUL byte ("%00") is refused
 * (400) instead of being cut short; tamper rows carry the host's id (not 0) in the admin API.
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
#include "mg/time.h"
#include "store.h"

#define BOOT "9a1c2e3f-4b5d-4e6f-8a7b-1c2d3e4f5a6b"

static int64_t g_host_id;
static char g_tok[MG_ADMIN_TOKEN_SIZE];

/* ---- helpers ---- */

static json_t *request_body(const char *request_id)
{
	return json_pack("{s:s,s:s,s:{s:s,s:s,s:s,s:s},s:s}", "request_id", request_id, "user",
	                 "tanaka", "device", "vendor_id", "0781", "product_id", "5581", "serial",
	                 "4C53", "name", "Ultra", "reason", "資料の持ち出し");
}

/* GET path as the logged-in admin. */
static long admin_get(const char *path, json_t **answer)
{
	char auth[128];
	const char *headers[] = {auth, NULL};
	struct api_reply r = {0};
	long st;
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", g_tok);
	st = api_call("GET", path, headers, NULL, 0, NULL, NULL, &r);
	if (answer) {
		*answer = r.json;
		r.json = NULL;
	}
	api_reply_free(&r);
	return st;
}

static int count_pending(void *ctx, const struct mg_store_request *q)
{
	if (q->host_id == g_host_id)
		(*(unsigned *)ctx)++;
	return 0;
}

/* ---- tests, in order ---- */

static void test_setup(void **state)
{
	json_t *a = NULL;
	(void)state;
	g_host_id = enroll("host-a", g_key, g_cert);
	assert_true(g_host_id > 0);
	assert_int_equal(
	    post_json("/v1/admin/login",
	              json_pack("{s:s,s:s}", "name", ADMIN_NAME, "password", ADMIN_PASSWORD), false,
	              &a),
	    200);
	snprintf(g_tok, sizeof(g_tok), "%s", json_string_value(json_object_get(a, "token")));
	json_decref(a);
	assert_int_equal(strlen(g_tok), MG_ADMIN_TOKEN_SIZE - 1);
}

/* A heartbeat that claims a version above every published one: 409, nothing stored. */
static void test_heartbeat_unpublished_version(void **state)
{
	json_t *a = NULL;
	struct mg_store *s;
	struct mg_store_host h;
	uint64_t latest = 0;
	(void)state;
	s = store();
	assert_int_equal(mg_store_policy_latest(s, &latest), 0);
	mg_store_close(&s);
	assert_true(latest >= 1); /* serve publishes at start */
	assert_int_equal(
	    post_json("/v1/heartbeat",
	              json_pack("{s:i,s:n,s:I,s:s}", "spool_depth", 3, "oldest_unsent",
	                        "policy_version", (json_int_t)latest, "agent_version", "0.1.0"),
	              true, &a),
	    204);
	json_decref(a);
	a = NULL;
	assert_int_equal(post_json("/v1/heartbeat",
	                           json_pack("{s:i,s:n,s:i,s:s}", "spool_depth", 5, "oldest_unsent",
	                                     "policy_version", 999999, "agent_version", "0.1.0"),
	                           true, &a),
	                 409);
	assert_non_null(strstr(err_of(a), "never published"));
	json_decref(a);
	a = NULL;
	assert_int_equal(
	    post_json("/v1/heartbeat",
	              json_pack("{s:i,s:n,s:I,s:s}", "spool_depth", 5, "oldest_unsent",
	                        "policy_version", (json_int_t)latest + 1, "agent_version", "0.1.0"),
	              true, &a),
	    409);
	json_decref(a);
	s = store();
	assert_int_equal(mg_store_host_get(s, g_host_id, &h), 0);
	mg_store_close(&s);
	assert_int_equal(h.policy_version, latest); /* the refused heartbeats stored nothing */
	assert_int_equal(h.spool_depth, 3);
	/* and the hosts list never shows it */
	assert_int_equal(admin_get("/v1/admin/hosts", &a), 200);
	{
		char *text = json_dumps(a, JSON_COMPACT);
		assert_non_null(text);
		assert_null(strstr(text, "999999"));
		free(text);
	}
	json_decref(a);
}

/* 100 pending requests per terminal; the 101st is 429 with Retry-After; retries of filed ones
 * still answer; a decision makes room. */
static void test_requests_cap(void **state)
{
	char id[32], ra[16];
	json_t *a = NULL;
	struct api_reply r = {0};
	struct mg_store *s;
	unsigned pending = 0;
	int64_t first = 0;
	char *body;
	(void)state;
	for (unsigned i = 0; i < MG_STORE_MAX_PENDING_REQUESTS; i++) {
		snprintf(id, sizeof(id), "req-%u", i);
		assert_int_equal(post_json("/v1/requests", request_body(id), true, &a), 201);
		if (i == 0)
			first = json_integer_value(json_object_get(a, "id"));
		json_decref(a);
		a = NULL;
	}
	{
		json_t *o = request_body("req-over");
		body = json_dumps(o, JSON_COMPACT);
		json_decref(o);
	}
	assert_non_null(body);
	assert_int_equal(
	    api_call("POST", "/v1/requests", NULL, body, strlen(body), g_cert, g_key, &r), 429);
	assert_non_null(api_reply_header(&r, "Retry-After", ra, sizeof(ra)));
	assert_true(atoi(ra) > 0);
	assert_non_null(strstr(err_of(r.json), "pending"));
	api_reply_free(&r);
	/* a retry of a filed request is still its answer */
	assert_int_equal(post_json("/v1/requests", request_body("req-7"), true, &a), 200);
	json_decref(a);
	a = NULL;
	s = store();
	assert_int_equal(mg_store_requests_foreach(s, 0, 0, 1000, count_pending, &pending), 0);
	assert_int_equal(pending, MG_STORE_MAX_PENDING_REQUESTS);
	/* an administrator's decision makes room for one more */
	struct mg_store_actor by = {ADMIN_NAME, NULL};
	assert_int_equal(mg_store_request_deny(s, &by, first, "no", mg_now_us()), 0);
	mg_store_close(&s);
	assert_int_equal(
	    api_call("POST", "/v1/requests", NULL, body, strlen(body), g_cert, g_key, &r), 201);
	api_reply_free(&r);
	assert_int_equal(
	    api_call("POST", "/v1/requests", NULL, body, strlen(body), g_cert, g_key, &r), 200);
	api_reply_free(&r);
	free(body);
}

/* "%00" in a query value or key: 400, never a shortened value. */
static void test_query_nul(void **state)
{
	json_t *a = NULL;
	(void)state;
	/* the value without the NUL is accepted */
	assert_int_equal(admin_get("/v1/admin/events?type=admin.login", &a), 200);
	json_decref(a);
	a = NULL;
	assert_int_equal(admin_get("/v1/admin/events?type=admin.login%00junk", &a), 400);
	assert_true(strlen(err_of(a)) > 0);
	json_decref(a);
	a = NULL;
	assert_int_equal(admin_get("/v1/admin/events?type=%00", &a), 400);
	json_decref(a);
	a = NULL;
	assert_int_equal(admin_get("/v1/admin/events?ty%00pe=admin.login", &a), 400);
	json_decref(a);
	a = NULL;
	assert_int_equal(admin_get("/v1/admin/events?limit=5%00000", &a), 400);
	json_decref(a);
	a = NULL;
	/* percent-encoding of other bytes still works */
	assert_int_equal(admin_get("/v1/admin/events?type=admin%2Elogin", &a), 200);
	json_decref(a);
}

/* Tamper rows are the collector's, but carry the host they are about (docs/API.md). */
static void test_tamper_row_host(void **state)
{
	char h1[65], h1b[65], path[128];
	json_t *a = NULL, *ev, *batch;
	size_t i, found = 0;
	(void)state;
	/* seq 1 stored; then seq 1 again with other content: 422 and a tamper alert */
	batch = json_pack("{s:s,s:[o]}", "boot_id", BOOT, "events",
	                  wire_event("host-a", BOOT, 1, 100, "", h1));
	assert_int_equal(post_json("/v1/events", batch, true, &a), 200);
	json_decref(a);
	a = NULL;
	batch = json_pack("{s:s,s:[o]}", "boot_id", BOOT, "events",
	                  wire_event("host-a", BOOT, 1, 101, "", h1b));
	assert_int_equal(post_json("/v1/events", batch, true, &a), 422);
	json_decref(a);
	a = NULL;
	assert_int_equal(admin_get("/v1/admin/events?type=collector.tamper", &a), 200);
	json_array_foreach(json_object_get(a, "events"), i, ev)
	{
		assert_int_equal(json_integer_value(json_object_get(ev, "host_id")), g_host_id);
		found++;
	}
	json_decref(a);
	a = NULL;
	assert_int_equal(found, 1);
	snprintf(path, sizeof(path), "/v1/admin/events?type=collector.tamper&host=%" PRId64,
	         g_host_id);
	assert_int_equal(admin_get(path, &a), 200);
	assert_int_equal(json_array_size(json_object_get(a, "events")), 1);
	json_decref(a);
	a = NULL;
	/* admin rows: host_id 0 */
	assert_int_equal(admin_get("/v1/admin/events?type=admin.login", &a), 200);
	assert_true(json_array_size(json_object_get(a, "events")) >= 1);
	json_array_foreach(json_object_get(a, "events"), i, ev)
	    assert_int_equal(json_integer_value(json_object_get(ev, "host_id")), 0);
	json_decref(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_setup),
	    cmocka_unit_test(test_heartbeat_unpublished_version),
	    cmocka_unit_test(test_requests_cap),
	    cmocka_unit_test(test_query_nul),
	    cmocka_unit_test(test_tamper_row_host),
	};
	return api_main("test_api_limits", tests, sizeof(tests) / sizeof(tests[0]));
}
