/*
 * The admin API's rules, policy, device requests and events (api_admin_rules.c,
 * api_admin_events.c) end to end over HTTPS, on the harness of api_harness.h: every rule change
 * publishes a new signed version (the signature is checked here with OpenSSL against the key
 * GET /v1/admin/policy announces), versions only grow, roles hold, and the event filters,
 * pages and exports return exactly the stored rows. Outcomes are checked in the answers and
 * through a second handle on the database.
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
#include <openssl/evp.h>

#include "admin_auth.h"
#include "api_body.h"
#include "api_harness.h"
#include "mg/time.h"
#include "store.h"

#define DAY_US INT64_C(86400000000)
#define T_EV   INT64_C(1795132800000000) /* 2026-11-20T00:00:00Z: event times */
#define BOOT1  "0f6d3b4c-1b2a-4c3d-9e8f-a1b2c3d4e5f6"
#define BOOT2  "1a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d"

static char g_admin[MG_ADMIN_TOKEN_SIZE];    /* root admin, from POST /v1/admin/login */
static char g_auditor[MG_ADMIN_TOKEN_SIZE];  /* auditor session */
static char g_approver[MG_ADMIN_TOKEN_SIZE]; /* approver session */
static int64_t g_h1, g_h2;                   /* two enrolled hosts */
static uint64_t g_version;                   /* latest policy version seen */
static int64_t g_ev1[4], g_ev2[2];           /* row ids of the ingested events */
static char *g_json1[4];                     /* their stored JSON (host 1) */

/* ---- requests ---- */

static long call(const char *tok, const char *method, const char *path, const char *body,
                 struct api_reply *out)
{
	char auth[128];
	const char *h[] = {auth, NULL};
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
	if (!body && strcmp(method, "POST") == 0)
		body = ""; /* an empty body */
	return api_call(method, path, h, body, body ? strlen(body) : 0, NULL, NULL, out);
}

/* method path [body] as tok; asserts the status; the JSON answer (NULL when none). */
static json_t *req(const char *tok, const char *method, const char *path, const char *body,
                   long want)
{
	struct api_reply r = {0};
	json_t *j;
	long st = call(tok, method, path, body, &r);
	if (st != want)
		fail_msg("%s %s: %ld, want %ld: %s", method, path, st, want, r.body ? r.body : "");
	j = r.json;
	r.json = NULL;
	api_reply_free(&r);
	return j;
}

/* The error of a refused request contains want. */
static void refused(const char *tok, const char *method, const char *path, const char *body,
                    long status, const char *want)
{
	json_t *a = req(tok, method, path, body, status);
	if (!strstr(err_of(a), want))
		fail_msg("%s %s: error \"%s\", want \"%s\"", method, path, err_of(a), want);
	json_decref(a);
}

static int64_t int_of(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_integer(v))
		fail_msg("%s: not an integer", key);
	return (int64_t)json_integer_value(v);
}

static void rfc3339(int64_t us, char buf[MG_RFC3339_LEN])
{
	assert_int_equal(mg_time_format(us, buf), 0);
}

/* ---- policy checks ---- */

/* base64 (with padding) of n raw bytes into out. */
static void b64_decode(const char *b64, unsigned char *out, size_t n)
{
	unsigned char raw[128];
	size_t len = strlen(b64);
	int got;
	assert_true(len % 4 == 0 && len / 4 * 3 <= sizeof(raw));
	got = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)len);
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	assert_int_equal(got, (int)(len / 4 * 3));
	assert_true((size_t)got >= n);
	memcpy(out, raw, n);
}

/* Ed25519 over data with the raw public key (base64): 1 valid, 0 not. */
static int ed25519_ok(const char *pub_b64, const char *sig_b64, const void *data, size_t len)
{
	unsigned char pub[32], sig[64];
	EVP_PKEY *k;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok;
	b64_decode(pub_b64, pub, sizeof(pub));
	b64_decode(sig_b64, sig, sizeof(sig));
	k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, sizeof(pub));
	assert_non_null(k);
	assert_non_null(ctx);
	assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k), 1);
	ok = EVP_DigestVerify(ctx, sig, sizeof(sig), data, len) == 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(k);
	return ok;
}

/*
 * GET /v1/admin/policy says version; the stored bundle of that version verifies with OpenSSL
 * against the announced key, and a changed byte does not. The bundle JSON (owned) is returned.
 */
static json_t *check_policy(uint64_t version)
{
	json_t *info = req(g_auditor, "GET", "/v1/admin/policy", NULL, 200);
	struct mg_store *s = store();
	struct mg_store_policy *p = NULL;
	char sig[MG_STORE_MAX_SIGNATURE + 1], sha[65];
	json_t *bundle;
	const char *pub = json_string_value(json_object_get(info, "public_key"));

	assert_int_equal(int_of(info, "version"), (int64_t)version);
	assert_non_null(pub);
	assert_int_equal(strlen(pub), 44);
	assert_true(json_is_string(json_object_get(info, "issued_at")));
	assert_true(json_is_string(json_object_get(info, "expires_at")));
	assert_true(json_is_string(json_object_get(info, "created_at")));
	assert_true(int_of(info, "rules_revision") > 0);

	assert_int_equal(mg_store_policy_get(s, 0, &p), 0);
	assert_int_equal(p->version, version);
	assert_int_equal(p->sig_len, 88);
	memcpy(sig, p->sig, p->sig_len);
	sig[p->sig_len] = '\0';
	assert_string_equal(json_string_value(json_object_get(info, "signature")), sig);
	assert_int_equal(mg_sha256_hex(p->json, p->json_len, sha), 0);
	assert_string_equal(json_string_value(json_object_get(info, "sha256")), sha);

	assert_int_equal(ed25519_ok(pub, sig, p->json, p->json_len), 1);
	p->json[p->json_len / 2] ^= 1;
	assert_int_equal(ed25519_ok(pub, sig, p->json, p->json_len), 0);
	p->json[p->json_len / 2] ^= 1;

	bundle = json_loadb(p->json, p->json_len, 0, NULL);
	assert_non_null(bundle);
	assert_int_equal(int_of(bundle, "version"), (int64_t)version);
	mg_store_policy_free(&p);
	mg_store_close(&s);
	json_decref(info);
	return bundle;
}

/* A change answered policy_version v: strictly above the last one seen. */
static void next_version(uint64_t v)
{
	if (v <= g_version)
		fail_msg("policy version %" PRIu64 " after %" PRIu64, v, g_version);
	g_version = v;
}

static const char *host_rules(json_t *bundle, int64_t host)
{
	char key[24];
	snprintf(key, sizeof(key), "%" PRId64, host);
	return json_string_value(json_object_get(json_object_get(bundle, "host_rules"), key));
}

/* ---- tests (in order: later ones build on the stored state) ---- */

static void test_setup(void **state)
{
	char body[256], hash[MG_ADMIN_HASH_SIZE];
	struct mg_store *s;
	int64_t id;
	json_t *a;
	(void)state;

	/* The root admin logs in. */
	snprintf(body, sizeof(body), "{\"name\":\"%s\",\"password\":\"%s\"}", ADMIN_NAME,
	         ADMIN_PASSWORD);
	assert_int_equal(post("/v1/admin/login", body, strlen(body), NULL, NULL, &a), 200);
	assert_true(strlen(json_string_value(json_object_get(a, "token"))) == 43);
	memcpy(g_admin, json_string_value(json_object_get(a, "token")), MG_ADMIN_TOKEN_SIZE);
	json_decref(a);

	/* An auditor and an approver, with sessions. */
	s = store();
	assert_int_equal(mg_admin_password_hash("auditor password 1", &mg_argon2_test, hash), 0);
	assert_int_equal(
	    mg_store_admin_add(s, NULL, "auditor-1", hash, MG_ROLE_AUDITOR, mg_now_us(), &id), 0);
	assert_int_equal(mg_admin_session_create(s, id, mg_now_us(), DAY_US, g_auditor), 0);
	assert_int_equal(mg_admin_password_hash("approver password 1", &mg_argon2_test, hash), 0);
	assert_int_equal(
	    mg_store_admin_add(s, NULL, "approver-1", hash, MG_ROLE_APPROVER, mg_now_us(), &id), 0);
	assert_int_equal(mg_admin_session_create(s, id, mg_now_us(), DAY_US, g_approver), 0);
	mg_store_close(&s);

	g_h1 = enroll("term-1", g_key, g_cert);
	g_h2 = enroll("term-2", g_key, g_cert);

	/* No rules yet; the collector may have published an empty policy at start (404 when
	 * not). */
	{
		struct api_reply r = {0};
		long st = call(g_admin, "GET", "/v1/admin/policy", NULL, &r);
		assert_true(st == 200 || st == 404);
		if (st == 200) {
			g_version = (uint64_t)int_of(r.json, "version");
			assert_int_equal(int_of(r.json, "rules_revision"), 0);
		} else {
			assert_non_null(strstr(err_of(r.json), "no policy"));
		}
		api_reply_free(&r);
	}
	a = req(g_admin, "GET", "/v1/admin/rules", NULL, 200);
	assert_int_equal(json_array_size(json_object_get(a, "rules")), 0);
	assert_int_equal(int_of(a, "revision"), 0);
	json_decref(a);
}

static void test_rules_add(void **state)
{
	char body[512], exp[MG_RFC3339_LEN], path[64];
	json_t *a, *b, *rules, *r;
	int64_t id1, id2;
	(void)state;

	a = req(g_admin, "POST", "/v1/admin/rules",
	        "{\"rule\":\"allow id 1d6b:0002\",\"comment\":\"root hubs\"}", 201);
	id1 = int_of(a, "id");
	next_version((uint64_t)int_of(a, "policy_version"));
	json_decref(a);
	b = check_policy(g_version);
	assert_string_equal(json_string_value(json_object_get(b, "rules")), "allow id 1d6b:0002\n");
	json_decref(b);

	/* For host 1 only, until tomorrow; written by an approver. */
	rfc3339(mg_now_us() + DAY_US, exp);
	snprintf(body, sizeof(body),
	         "{\"rule\":\"allow id 0781:5581 serial \\\"4C53\\\"\",\"host_id\":%" PRId64
	         ",\"expires_at\":\"%s\"}",
	         g_h1, exp);
	a = req(g_approver, "POST", "/v1/admin/rules", body, 201);
	id2 = int_of(a, "id");
	assert_true(id2 > id1);
	next_version((uint64_t)int_of(a, "policy_version"));
	json_decref(a);
	b = check_policy(g_version);
	assert_string_equal(host_rules(b, g_h1), "allow id 0781:5581 serial \"4C53\"\n");
	assert_null(host_rules(b, g_h2));
	assert_string_equal(json_string_value(json_object_get(b, "expires_at")), exp);
	json_decref(b);

	/* Listing: everything, or what applies to one host. */
	a = req(g_auditor, "GET", "/v1/admin/rules", NULL, 200);
	rules = json_object_get(a, "rules");
	assert_int_equal(json_array_size(rules), 2);
	assert_int_equal(int_of(a, "revision"), 2);
	r = json_array_get(rules, 0);
	assert_int_equal(int_of(r, "id"), id1);
	assert_string_equal(json_string_value(json_object_get(r, "rule")), "allow id 1d6b:0002");
	assert_int_equal(int_of(r, "host_id"), 0);
	assert_true(json_is_null(json_object_get(r, "expires_at")));
	assert_true(json_is_null(json_object_get(r, "request_id")));
	assert_string_equal(json_string_value(json_object_get(r, "created_by")), ADMIN_NAME);
	assert_string_equal(json_string_value(json_object_get(r, "comment")), "root hubs");
	assert_true(json_is_string(json_object_get(r, "created_at")));
	r = json_array_get(rules, 1);
	assert_int_equal(int_of(r, "host_id"), g_h1);
	assert_string_equal(json_string_value(json_object_get(r, "expires_at")), exp);
	assert_string_equal(json_string_value(json_object_get(r, "created_by")), "approver-1");
	json_decref(a);
	snprintf(path, sizeof(path), "/v1/admin/rules?host=%" PRId64, g_h2);
	a = req(g_auditor, "GET", path, NULL, 200);
	assert_int_equal(json_array_size(json_object_get(a, "rules")), 1);
	json_decref(a);
	snprintf(path, sizeof(path), "/v1/admin/rules?host=%" PRId64, g_h1);
	a = req(g_auditor, "GET", path, NULL, 200);
	assert_int_equal(json_array_size(json_object_get(a, "rules")), 2);
	json_decref(a);
	refused(g_auditor, "GET", "/v1/admin/rules?host=99999", NULL, 404, "unknown host");
	refused(g_auditor, "GET", "/v1/admin/rules?host=x", NULL, 400, "host");
	refused(g_auditor, "GET", "/v1/admin/rules?hots=1", NULL, 400, "hots: unknown");

	/* The change is on record with the admin's name. */
	{
		struct mg_store *s = store();
		struct mg_store_event_filter f = {.type = "admin.rule.add", .user = "approver-1"};
		uint64_t n = 0;
		assert_int_equal(mg_store_events_count(s, &f, &n), 0);
		assert_int_equal(n, 1);
		mg_store_close(&s);
	}
}

static void test_rules_refused(void **state)
{
	char body[512], past[MG_RFC3339_LEN];
	uint64_t before = g_version;
	json_t *a;
	(void)state;

	/* The agents' parser decides, with the column. */
	refused(g_admin, "POST", "/v1/admin/rules", "{\"rule\":\"allow id 1d6b:00zz\"}", 400,
	        "rule:1:10: ");
	refused(g_admin, "POST", "/v1/admin/rules", "{\"rule\":\"allow frobnicate\"}", 400,
	        "rule:1:7: ");
	refused(g_admin, "POST", "/v1/admin/rules",
	        "{\"rule\":\"allow id 1d6b:0002\\nallow id 1d6b:0003\"}", 400,
	        "rule:1:19: must be exactly one line");
	refused(g_admin, "POST", "/v1/admin/rules", "{\"rule\":\"allow id 1d6b:0002 # hub\"}", 400,
	        "rule:1:20: comments");
	refused(g_admin, "POST", "/v1/admin/rules", "{\"rule\":\"# hub\"}", 400, "rule:1:1: ");
	/* Expiry in the past, unknown host, malformed bodies. */
	rfc3339(mg_now_us() - DAY_US, past);
	snprintf(body, sizeof(body), "{\"rule\":\"allow\",\"expires_at\":\"%s\"}", past);
	refused(g_admin, "POST", "/v1/admin/rules", body, 400, "expires_at: must be in the future");
	refused(g_admin, "POST", "/v1/admin/rules", "{\"rule\":\"allow\",\"expires_at\":\"soon\"}",
	        400, "expires_at: expected an RFC 3339 time");
	refused(g_admin, "POST", "/v1/admin/rules", "{\"rule\":\"allow\",\"host_id\":999999}", 404,
	        "host_id: unknown host");
	refused(g_admin, "POST", "/v1/admin/rules", "{\"rule\":\"allow\",\"host_id\":\"1\"}", 400,
	        "host_id: ");
	refused(g_admin, "POST", "/v1/admin/rules", "{\"rule\":\"allow\",\"host\":1}", 400,
	        "host: unknown key");
	refused(g_admin, "POST", "/v1/admin/rules", "{\"rule\":\"allow\",\"rule\":\"block\"}", 400,
	        "invalid JSON");
	refused(g_admin, "POST", "/v1/admin/rules", "{\"rule\":\"allow \xff\"}", 400,
	        "invalid JSON");
	refused(g_admin, "POST", "/v1/admin/rules", "[\"allow\"]", 400, "expected a JSON object");
	refused(g_admin, "POST", "/v1/admin/rules", "{}", 400, "rule: missing");
	refused(g_admin, "POST", "/v1/admin/rules?x=1", "{\"rule\":\"allow\"}", 400, "query");
	refused(g_admin, "DELETE", "/v1/admin/rules/999999", NULL, 404, "unknown rule");
	refused(g_admin, "POST", "/v1/admin/policy/publish", "{\"version\":99}", 400,
	        "version: unknown key");

	/* Nothing was published. */
	a = req(g_auditor, "GET", "/v1/admin/policy", NULL, 200);
	assert_int_equal(int_of(a, "version"), (int64_t)before);
	json_decref(a);
}

static void test_versions_monotonic(void **state)
{
	char path[64];
	json_t *a, *b;
	int64_t id;
	(void)state;

	a = req(g_admin, "POST", "/v1/admin/rules", "{\"rule\":\"block with-interface 08:*:*\"}",
	        201);
	id = int_of(a, "id");
	next_version((uint64_t)int_of(a, "policy_version"));
	json_decref(a);
	b = check_policy(g_version);
	assert_non_null(strstr(json_string_value(json_object_get(b, "rules")),
	                       "block with-interface 08:*:*\n"));
	json_decref(b);

	snprintf(path, sizeof(path), "/v1/admin/rules/%" PRId64, id);
	a = req(g_admin, "DELETE", path, NULL, 200);
	next_version((uint64_t)int_of(a, "policy_version"));
	json_decref(a);
	b = check_policy(g_version);
	assert_null(strstr(json_string_value(json_object_get(b, "rules")), "08:*:*"));
	json_decref(b);
	refused(g_admin, "DELETE", path, NULL, 404, "unknown rule");

	/* Republishing: a new version of the same rules, empty body or {}. */
	for (int i = 0; i < 2; i++) {
		a = req(g_approver, "POST", "/v1/admin/policy/publish", i ? "{}" : NULL, 201);
		next_version((uint64_t)int_of(a, "version"));
		json_decref(a);
		json_decref(check_policy(g_version));
	}
}

static void test_roles(void **state)
{
	char path[64];
	json_t *a;
	(void)state;
	/* An auditor reads but changes nothing. */
	a = req(g_auditor, "GET", "/v1/admin/rules", NULL, 200);
	json_decref(a);
	json_decref(req(g_auditor, "POST", "/v1/admin/rules", "{\"rule\":\"allow\"}", 403));
	json_decref(req(g_auditor, "DELETE", "/v1/admin/rules/1", NULL, 403));
	json_decref(req(g_auditor, "POST", "/v1/admin/policy/publish", NULL, 403));
	json_decref(req(g_auditor, "POST", "/v1/admin/requests/1/approve", NULL, 403));
	json_decref(req(g_auditor, "POST", "/v1/admin/requests/1/deny", NULL, 403));
	/* No session, or a bad one. */
	assert_int_equal(api_call("GET", "/v1/admin/rules", NULL, NULL, 0, NULL, NULL, NULL), 401);
	json_decref(req("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "GET", "/v1/admin/rules",
	                NULL, 401));
	/* Still the same rules and version. */
	a = req(g_auditor, "GET", "/v1/admin/policy", NULL, 200);
	assert_int_equal(int_of(a, "version"), (int64_t)g_version);
	json_decref(a);
	snprintf(path, sizeof(path), "/v1/admin/rules");
	a = req(g_auditor, "GET", path, NULL, 200);
	assert_int_equal(json_array_size(json_object_get(a, "rules")), 2);
	json_decref(a);
}

/* Files a device request for host from the terminal side (the store, as /v1/requests does). */
static int64_t file_request(struct mg_store *s, int64_t host, const char *key, const char *serial)
{
	struct mg_store_request q;
	int64_t id = 0;
	memset(&q, 0, sizeof(q));
	q.host_id = host;
	snprintf(q.request_id, sizeof(q.request_id), "%s", key);
	snprintf(q.user, sizeof(q.user), "tanaka");
	memcpy(q.dev.vendor_id, "0781", 5);
	memcpy(q.dev.product_id, "5581", 5);
	snprintf(q.dev.serial, sizeof(q.dev.serial), "%s", serial);
	snprintf(q.dev.name, sizeof(q.dev.name), "Ultra Fit");
	snprintf(q.dev.hash, sizeof(q.dev.hash), "kq1rP7+4bXoCq0mNQyY3yQ0x6d0cDx0P5J8C3E3wHYk=");
	snprintf(q.reason, sizeof(q.reason), "窓口の書類スキャン");
	assert_int_equal(mg_store_request_add(s, &q, mg_now_us(), &id), 0);
	return id;
}

static void test_requests(void **state)
{
	struct mg_store *s = store();
	char path[96], body[256], exp[MG_RFC3339_LEN];
	const char *want = "allow id 0781:5581 serial \"SN\\\"01\\\\\" hash "
	                   "\"kq1rP7+4bXoCq0mNQyY3yQ0x6d0cDx0P5J8C3E3wHYk=\"";
	json_t *a, *b, *list, *q, *rules;
	int64_t r1, r2, r3, rule_id;
	(void)state;

	r1 = file_request(s, g_h1, "req-1", "SN\"01\\");
	r2 = file_request(s, g_h1, "req-2", "SN02");
	r3 = file_request(s, g_h2, "req-3", "SN03");
	mg_store_close(&s);

	a = req(g_auditor, "GET", "/v1/admin/requests?state=pending", NULL, 200);
	list = json_object_get(a, "requests");
	assert_int_equal(json_array_size(list), 3);
	assert_true(json_is_null(json_object_get(a, "next_after")));
	q = json_array_get(list, 0);
	assert_int_equal(int_of(q, "id"), r1);
	assert_string_equal(json_string_value(json_object_get(q, "request_id")), "req-1");
	assert_int_equal(int_of(q, "host_id"), g_h1);
	assert_string_equal(json_string_value(json_object_get(q, "user")), "tanaka");
	assert_string_equal(json_string_value(json_object_get(q, "state")), "pending");
	assert_string_equal(json_string_value(json_object_get(q, "reason")), "窓口の書類スキャン");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(q, "device"), "serial")), "SN\"01\\");
	assert_true(json_is_null(json_object_get(q, "decided_at")));
	assert_true(json_is_null(json_object_get(q, "rule_id")));
	json_decref(a);

	/* Pages. */
	a = req(g_auditor, "GET", "/v1/admin/requests?limit=2", NULL, 200);
	assert_int_equal(json_array_size(json_object_get(a, "requests")), 2);
	assert_int_equal(int_of(a, "next_after"), r2);
	json_decref(a);
	snprintf(path, sizeof(path), "/v1/admin/requests?limit=2&after=%" PRId64, r2);
	a = req(g_auditor, "GET", path, NULL, 200);
	assert_int_equal(json_array_size(json_object_get(a, "requests")), 1);
	assert_true(json_is_null(json_object_get(a, "next_after")));
	json_decref(a);
	refused(g_auditor, "GET", "/v1/admin/requests?state=open", NULL, 400, "state");
	refused(g_auditor, "GET", "/v1/admin/requests?limit=0", NULL, 400, "limit");
	refused(g_auditor, "GET", "/v1/admin/requests?limit=1001", NULL, 400, "limit");

	/* Approve (scope "host" by default: the requesting host), until tomorrow: a rule with
	 * the request's id. */
	rfc3339(mg_now_us() + DAY_US, exp);
	snprintf(path, sizeof(path), "/v1/admin/requests/%" PRId64 "/approve", r1);
	snprintf(body, sizeof(body), "{\"expires_at\":\"%s\",\"note\":\"ok\"}", exp);
	a = req(g_approver, "POST", path, body, 200);
	rule_id = int_of(a, "rule_id");
	next_version((uint64_t)int_of(a, "policy_version"));
	json_decref(a);
	b = check_policy(g_version);
	assert_non_null(host_rules(b, g_h1));
	assert_non_null(strstr(host_rules(b, g_h1), want));
	assert_null(strstr(json_string_value(json_object_get(b, "rules")), "SN"));
	json_decref(b);
	a = req(g_auditor, "GET", "/v1/admin/rules", NULL, 200);
	rules = json_object_get(a, "rules");
	q = json_array_get(rules, json_array_size(rules) - 1);
	assert_int_equal(int_of(q, "id"), rule_id);
	assert_int_equal(int_of(q, "request_id"), r1);
	assert_int_equal(int_of(q, "host_id"), g_h1);
	assert_string_equal(json_string_value(json_object_get(q, "rule")), want);
	assert_string_equal(json_string_value(json_object_get(q, "expires_at")), exp);
	json_decref(a);

	/* Decided once only. */
	refused(g_approver, "POST", path, NULL, 409, "already decided");
	snprintf(path, sizeof(path), "/v1/admin/requests/%" PRId64 "/deny", r1);
	refused(g_approver, "POST", path, NULL, 409, "already decided");

	/* Deny another; then it cannot be approved. */
	snprintf(path, sizeof(path), "/v1/admin/requests/%" PRId64 "/deny", r2);
	a = req(g_admin, "POST", path, "{\"note\":\"私物は不可\"}", 204);
	assert_null(a);
	refused(g_admin, "POST", path, NULL, 409, "already decided");
	snprintf(path, sizeof(path), "/v1/admin/requests/%" PRId64 "/approve", r2);
	refused(g_admin, "POST", path, NULL, 409, "already decided");
	a = req(g_auditor, "GET", "/v1/admin/requests?state=denied", NULL, 200);
	list = json_object_get(a, "requests");
	assert_int_equal(json_array_size(list), 1);
	q = json_array_get(list, 0);
	assert_int_equal(int_of(q, "id"), r2);
	assert_string_equal(json_string_value(json_object_get(q, "decided_by")), ADMIN_NAME);
	assert_string_equal(json_string_value(json_object_get(q, "note")), "私物は不可");
	assert_true(json_is_string(json_object_get(q, "decided_at")));
	json_decref(a);

	/* Bad bodies and unknown requests. */
	snprintf(path, sizeof(path), "/v1/admin/requests/%" PRId64 "/approve", r3);
	refused(g_admin, "POST", path, "{\"scope\":\"world\"}", 400, "scope");
	refused(g_admin, "POST", path,
	        "{\"scope\":\"all\",\"expires_at\":\"2020-01-01T00:00:00Z\"}", 400,
	        "expires_at: must be in the future");
	refused(g_admin, "POST", path, "{\"rule\":\"allow\"}", 400, "rule: unknown key");
	refused(g_admin, "POST", path, "not json", 400, "invalid JSON");
	refused(g_admin, "POST", "/v1/admin/requests/999999/approve", NULL, 404, "unknown request");
	refused(g_admin, "POST", "/v1/admin/requests/999999/deny", NULL, 404, "unknown request");

	/* Approve for every host (empty body would be this host only). */
	a = req(g_admin, "POST", path, "{\"scope\":\"all\"}", 200);
	next_version((uint64_t)int_of(a, "policy_version"));
	json_decref(a);
	b = check_policy(g_version);
	assert_non_null(
	    strstr(json_string_value(json_object_get(b, "rules")), "serial \"SN03\" hash"));
	json_decref(b);
	a = req(g_auditor, "GET", "/v1/admin/requests?state=approved", NULL, 200);
	assert_int_equal(json_array_size(json_object_get(a, "requests")), 2);
	json_decref(a);
	a = req(g_auditor, "GET", "/v1/admin/requests?state=pending", NULL, 200);
	assert_int_equal(json_array_size(json_object_get(a, "requests")), 0);
	json_decref(a);
}

/* ---- events ---- */

struct ev {
	int64_t host;
	const char *type;
	int64_t dt_s; /* seconds after T_EV */
	const char *user, *serial;
};

/* Host 1: four events; host 2: two. */
static const struct ev evs1[] = {
    {0, "device.blocked", 1, NULL, "SER-1"},
    {0, "auth.failure", 2, "tanaka", NULL},
    {0, "device.allowed", 4, NULL, "=HYPERLINK(\"http://x\")"},
    {0, "auth.success", 6, "sato, jr", NULL},
};
static const struct ev evs2[] = {
    {0, "device.blocked", 3, NULL, "SER-1"},
    {0, "auth.failure", 5, "tanaka", NULL},
};

static char *event_json(const struct ev *e, const char *boot, uint64_t seq)
{
	char t[MG_RFC3339_LEN];
	json_t *o;
	char *s;
	rfc3339(T_EV + e->dt_s * 1000000, t);
	o = json_pack("{s:s,s:s,s:s,s:I,s:s}", "type", e->type, "time", t, "host", "term", "seq",
	              (json_int_t)seq, "boot_id", boot);
	assert_non_null(o);
	if (e->user)
		json_object_set_new(o, "user",
		                    json_pack("{s:s,s:s}", "name", e->user, "service", "login"));
	if (e->serial)
		json_object_set_new(o, "device",
		                    json_pack("{s:s,s:s,s:s,s:[]}", "vendor_id", "0781",
		                              "product_id", "5581", "serial", e->serial,
		                              "interfaces"));
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	assert_non_null(s);
	return s;
}

/* Stores the events of one host as one batch; their JSON into json (owned, optional). */
static void ingest(struct mg_store *s, int64_t host, const char *boot, const struct ev *e, size_t n,
                   char **json)
{
	struct mg_store_event se[8];
	char hash[8][65];
	char *js[8];
	struct mg_ingest_result res;
	for (size_t i = 0; i < n; i++) {
		js[i] = event_json(&e[i], boot, i + 1);
		assert_int_equal(mg_sha256_hex(js[i], strlen(js[i]), hash[i]), 0);
		se[i] = (struct mg_store_event){
		    .seq = i + 1,
		    .time_us = T_EV + e[i].dt_s * 1000000,
		    .type = e[i].type,
		    .json = js[i],
		    .hash = hash[i],
		    .prev_hash = i ? hash[i - 1] : "",
		    .user = e[i].user,
		    .device_serial = e[i].serial,
		    .device_vendor_id = e[i].serial ? "0781" : NULL,
		    .device_product_id = e[i].serial ? "5581" : NULL,
		};
	}
	assert_int_equal(mg_store_ingest(s, host, boot, se, n, mg_now_us(), &res), 0);
	assert_int_equal(res.status, MG_INGEST_OK);
	assert_int_equal(res.stored, n);
	for (size_t i = 0; i < n; i++) {
		if (json)
			json[i] = js[i];
		else
			free(js[i]);
	}
}

struct ids {
	int64_t *ids;
	size_t n, cap;
};

static int collect_id(void *ctx, int64_t id, int64_t host, const char *json)
{
	struct ids *x = ctx;
	(void)host;
	(void)json;
	if (x->n < x->cap)
		x->ids[x->n] = id;
	x->n++;
	return 0;
}

/* GET events?q: the ids, in order, must be want[0..n). Returns the answer. */
static json_t *events_are(const char *tok, const char *q, const int64_t *want, size_t n)
{
	char path[512];
	json_t *a, *list;
	snprintf(path, sizeof(path), "/v1/admin/events?%s", q);
	a = req(tok, "GET", path, NULL, 200);
	list = json_object_get(a, "events");
	if (json_array_size(list) != n)
		fail_msg("%s: %zu events, want %zu", q, json_array_size(list), n);
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(list, i);
		if (want)
			assert_int_equal(int_of(e, "id"), want[i]);
		assert_true(json_is_object(json_object_get(e, "event")));
	}
	return a;
}

static uint64_t exports(void)
{
	struct mg_store *s = store();
	struct mg_store_event_filter f = {.type = "admin.events.export"};
	uint64_t n = 0;
	assert_int_equal(mg_store_events_count(s, &f, &n), 0);
	mg_store_close(&s);
	return n;
}

/* The event of host 1's stored json as the outputs show it: sender as enrolled (host_id, host),
 * the test events' own "host" only as claimed_host (issue 14, finding 5). Owned. */
static char *view1(const char *json)
{
	struct mg_store *s = store();
	struct mg_store_host h;
	char *v = NULL;
	assert_int_equal(mg_store_host_get(s, g_h1, &h), 0);
	mg_store_close(&s);
	struct mg_store_event_row row = {
	    .id = 1, .host_id = g_h1, .host = h.hostname, .json = json};
	assert_int_equal(mg_store_event_view(&row, &v), 0);
	assert_non_null(strstr(v, "\"claimed_host\""));
	return v;
}

static void test_events_filter(void **state)
{
	struct mg_store *s = store();
	struct mg_store_event_filter f = {.limit = 10};
	struct ids x;
	char q[256], from[MG_RFC3339_LEN], to[MG_RFC3339_LEN];
	json_t *a, *e;
	(void)state;

	ingest(s, g_h1, BOOT1, evs1, 4, g_json1);
	ingest(s, g_h2, BOOT2, evs2, 2, NULL);
	f.host_id = g_h1;
	x = (struct ids){g_ev1, 0, 4};
	assert_int_equal(mg_store_events_query(s, &f, collect_id, &x), 0);
	assert_int_equal(x.n, 4);
	f.host_id = g_h2;
	x = (struct ids){g_ev2, 0, 2};
	assert_int_equal(mg_store_events_query(s, &f, collect_id, &x), 0);
	assert_int_equal(x.n, 2);
	mg_store_close(&s);

	/* By host: the stored event objects, in id order. */
	snprintf(q, sizeof(q), "host=%" PRId64, g_h1);
	a = events_are(g_auditor, q, g_ev1, 4);
	assert_true(json_is_null(json_object_get(a, "next_after")));
	e = json_array_get(json_object_get(a, "events"), 2);
	assert_int_equal(int_of(e, "host_id"), g_h1);
	{
		char *got = json_dumps(json_object_get(e, "event"), JSON_COMPACT | JSON_SORT_KEYS);
		char *want = view1(g_json1[2]);
		assert_string_equal(got, want);
		free(want);
		free(got);
	}
	json_decref(a);

	/* By type, user, serial, time; combined. */
	snprintf(q, sizeof(q), "host=%" PRId64 "&type=auth.failure", g_h1);
	json_decref(events_are(g_auditor, q, (int64_t[]){g_ev1[1]}, 1));
	json_decref(events_are(g_auditor, "user=tanaka", (int64_t[]){g_ev1[1], g_ev2[1]}, 2));
	json_decref(events_are(g_auditor, "user=sato%2C%20jr", (int64_t[]){g_ev1[3]}, 1));
	json_decref(events_are(g_auditor, "serial=SER-1", (int64_t[]){g_ev1[0], g_ev2[0]}, 2));
	snprintf(q, sizeof(q), "serial=SER-1&type=device.blocked&host=%" PRId64, g_h2);
	json_decref(events_are(g_auditor, q, (int64_t[]){g_ev2[0]}, 1));
	rfc3339(T_EV + 2000000, from);
	rfc3339(T_EV + 4000000, to);
	snprintf(q, sizeof(q), "from=%s&to=%s", from, to);
	json_decref(events_are(g_auditor, q, (int64_t[]){g_ev1[1], g_ev2[0]}, 2));
	snprintf(q, sizeof(q), "from=%s&to=%s&type=auth.failure", from, to);
	json_decref(events_are(g_auditor, q, (int64_t[]){g_ev1[1]}, 1));
	json_decref(events_are(g_auditor, "type=device.removed", NULL, 0));

	/* Pages: after the last id of the previous page. */
	snprintf(q, sizeof(q), "host=%" PRId64 "&limit=3", g_h1);
	a = events_are(g_auditor, q, g_ev1, 3);
	assert_int_equal(int_of(a, "next_after"), g_ev1[2]);
	json_decref(a);
	snprintf(q, sizeof(q), "host=%" PRId64 "&limit=3&after=%" PRId64, g_h1, g_ev1[2]);
	a = events_are(g_auditor, q, g_ev1 + 3, 1);
	assert_true(json_is_null(json_object_get(a, "next_after")));
	json_decref(a);

	/* The admins' own actions are events of the collector (host_id 0). */
	a = events_are(g_auditor, "type=admin.request.deny", NULL, 1);
	e = json_array_get(json_object_get(a, "events"), 0);
	assert_int_equal(int_of(e, "host_id"), 0);
	json_decref(a);

	/* Malformed arguments. */
	refused(g_auditor, "GET", "/v1/admin/events?host=0", NULL, 400, "host");
	refused(g_auditor, "GET", "/v1/admin/events?host=-1", NULL, 400, "host");
	refused(g_auditor, "GET", "/v1/admin/events?type=Auth!", NULL, 400, "type");
	refused(g_auditor, "GET", "/v1/admin/events?user=%ff", NULL, 400, "user");
	refused(g_auditor, "GET", "/v1/admin/events?user=", NULL, 400, "user");
	refused(g_auditor, "GET", "/v1/admin/events?from=yesterday", NULL, 400, "from");
	snprintf(q, sizeof(q), "/v1/admin/events?from=%s&to=%s", to, from);
	refused(g_auditor, "GET", q, NULL, 400, "from: must be before to");
	refused(g_auditor, "GET", "/v1/admin/events?limit=0", NULL, 400, "limit");
	refused(g_auditor, "GET", "/v1/admin/events?limit=1001", NULL, 400, "limit");
	refused(g_auditor, "GET", "/v1/admin/events?format=csv&limit=10001", NULL, 400, "limit");
	refused(g_auditor, "GET", "/v1/admin/events?after=x", NULL, 400, "after");
	refused(g_auditor, "GET", "/v1/admin/events?format=xml", NULL, 400, "format");
	refused(g_auditor, "GET", "/v1/admin/events?hostname=a", NULL, 400, "unknown");
}

/* The lines of a body (separator sep), NUL-terminated in place; count into *n. */
static size_t split(char *body, const char *sep, char **lines, size_t max)
{
	size_t n = 0;
	char *p = body;
	while (p && *p && n < max) {
		char *e = strstr(p, sep);
		if (!e)
			fail_msg("line %zu not terminated by the separator", n + 1);
		*e = '\0';
		lines[n++] = p;
		p = e + strlen(sep);
	}
	return n;
}

struct last_action {
	char admin[MG_STORE_NAME_SIZE];
	char detail[1024];
};

static int last_export(void *ctx, const struct mg_store_admin_action *a)
{
	struct last_action *la = ctx;
	if (strcmp(a->action, "events.export") == 0) {
		snprintf(la->admin, sizeof(la->admin), "%s", a->admin);
		snprintf(la->detail, sizeof(la->detail), "%s", a->detail ? a->detail : "");
	}
	return 0;
}

static void test_events_export(void **state)
{
	struct api_reply r = {0};
	char path[256], hdr[256], *lines[16];
	uint64_t before = exports();
	size_t n;
	(void)state;

	/* JSON lines: exactly the stored event JSON, one per line. */
	snprintf(path, sizeof(path), "/v1/admin/events?format=jsonl&host=%" PRId64, g_h1);
	assert_int_equal(call(g_auditor, "GET", path, NULL, &r), 200);
	assert_string_equal(api_reply_header(&r, "Content-Type", hdr, sizeof(hdr)),
	                    "application/x-ndjson");
	assert_non_null(
	    strstr(api_reply_header(&r, "Content-Disposition", hdr, sizeof(hdr)), "attachment"));
	assert_null(api_reply_header(&r, "X-Mynaguard-Next-After", hdr, sizeof(hdr)));
	n = split(r.body, "\n", lines, 16);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++) {
		char *want = view1(g_json1[i]);
		assert_string_equal(lines[i], want);
		free(want);
	}
	api_reply_free(&r);
	assert_int_equal(exports(), before + 1);

	/* A page of two: the cursor in a header. */
	snprintf(path, sizeof(path), "/v1/admin/events?format=jsonl&host=%" PRId64 "&limit=2",
	         g_h1);
	assert_int_equal(call(g_auditor, "GET", path, NULL, &r), 200);
	assert_non_null(api_reply_header(&r, "X-Mynaguard-Next-After", hdr, sizeof(hdr)));
	assert_int_equal(strtoll(hdr, NULL, 10), g_ev1[1]);
	assert_int_equal(split(r.body, "\n", lines, 16), 2);
	{
		char *want = view1(g_json1[1]);
		assert_string_equal(lines[1], want);
		free(want);
	}
	api_reply_free(&r);

	/* CSV: RFC 4180 quoting, CRLF, formula cells defused. */
	snprintf(path, sizeof(path), "/v1/admin/events?format=csv&host=%" PRId64 "&limit=10000",
	         g_h1);
	assert_int_equal(call(g_auditor, "GET", path, NULL, &r), 200);
	assert_string_equal(api_reply_header(&r, "Content-Type", hdr, sizeof(hdr)),
	                    "text/csv; charset=utf-8");
	assert_non_null(strstr(api_reply_header(&r, "Content-Disposition", hdr, sizeof(hdr)),
	                       "filename=\"mynaguard-events.csv\""));
	assert_null(api_reply_header(&r, "X-Mynaguard-Next-After", hdr, sizeof(hdr)));
	n = split(r.body, "\r\n", lines, 16);
	assert_int_equal(n, 5);
	assert_string_equal(lines[0],
	                    "id,host_id,host,claimed_host,time,type,user,device_serial,json");
	for (size_t i = 0; i < 4; i++) {
		char want[2048], quoted[1024], t[MG_RFC3339_LEN], cell[128], names[600];
		const struct ev *e = &evs1[i];
		char *view = view1(g_json1[i]);
		json_t *vo = json_loads(view, 0, NULL);
		size_t k = 0;
		/* The sender as enrolled, then the name the event claimed. */
		assert_non_null(vo);
		snprintf(names, sizeof(names), "%s,%s",
		         json_string_value(json_object_get(vo, "host")),
		         json_string_value(json_object_get(vo, "claimed_host")));
		json_decref(vo);
		/* The JSON cell (the event as shown): quotes doubled. */
		for (const char *p = view; *p && k + 3 < sizeof(quoted); p++) {
			if (*p == '"')
				quoted[k++] = '"';
			quoted[k++] = *p;
		}
		quoted[k] = '\0';
		rfc3339(T_EV + e->dt_s * 1000000, t);
		if (i == 2)
			snprintf(cell, sizeof(cell), ",\"'=HYPERLINK(\"\"http://x\"\")\"");
		else if (e->serial)
			snprintf(cell, sizeof(cell), ",%s", e->serial);
		else
			snprintf(cell, sizeof(cell), ",");
		free(view);
		snprintf(want, sizeof(want), "%" PRId64 ",%" PRId64 ",%s,%s,%s,%s%s,\"%s\"",
		         g_ev1[i], g_h1, names, t, e->type,
		         !e->user               ? ""
		         : strchr(e->user, ',') ? "\"sato, jr\""
		                                : e->user,
		         cell, quoted);
		assert_string_equal(lines[i + 1], want);
	}
	api_reply_free(&r);
	assert_int_equal(exports(), before + 3);

	/* An empty export is still an export, and on record. */
	assert_int_equal(
	    call(g_auditor, "GET", "/v1/admin/events?format=csv&type=nothing.here", NULL, &r), 200);
	assert_string_equal(r.body,
	                    "id,host_id,host,claimed_host,time,type,user,device_serial,json\r\n");
	api_reply_free(&r);
	assert_int_equal(exports(), before + 4);

	/* The record names the auditor and the filter. */
	{
		struct mg_store *s = store();
		struct mg_store_event_filter f = {.type = "admin.events.export",
		                                  .user = "auditor-1"};
		struct last_action la = {0};
		uint64_t cnt = 0;
		assert_int_equal(mg_store_events_count(s, &f, &cnt), 0);
		assert_int_equal(cnt, 4);
		assert_int_equal(mg_store_admin_actions_foreach(s, 0, 1000, last_export, &la), 0);
		mg_store_close(&s);
		assert_string_equal(la.admin, "auditor-1");
		assert_non_null(strstr(la.detail, "\"format\":\"csv\""));
		assert_non_null(strstr(la.detail, "\"type\":\"nothing.here\""));
		assert_non_null(strstr(la.detail, "\"rows\":0"));
	}
	for (size_t i = 0; i < 4; i++)
		free(g_json1[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_setup),         cmocka_unit_test(test_rules_add),
	    cmocka_unit_test(test_rules_refused), cmocka_unit_test(test_versions_monotonic),
	    cmocka_unit_test(test_roles),         cmocka_unit_test(test_requests),
	    cmocka_unit_test(test_events_filter), cmocka_unit_test(test_events_export),
	};
	return api_main("test_api_admin_rules", tests, sizeof(tests) / sizeof(tests[0]));
}
