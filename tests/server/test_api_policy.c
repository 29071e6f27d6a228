/*
 * The terminal side of policies and device requests over HTTPS (GET /v1/policy,
 * POST /v1/policy/applied, POST /v1/requests), and the collector killed with SIGKILL around the
 * commit of an event batch, on the harness of api_harness.h. Signatures are checked here with
 * OpenSSL directly against the key from the enrolment answer, not with the collector's code.
 *
 * Crash tests run mynaguard-collector-faults (MG_COLLECTOR_FAULTS): the same collector linked
 * with fault points (tests/server/collector_faults.c) that MG_FAULT_POINT arms.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "api.h"
#include "router.h"
#include "api_body.h"
#include "api_harness.h"
#include "mg/event.h"
#include "mg/time.h"
#include "policy_build.h"
#include "mg/policy_bundle.h"
#include "store.h"

#define BOOT    "3b8f7c1e-0d2a-4c55-9e61-7a4b2c9d0e15"
#define MAX_SEQ 16

static int64_t g_host_id;                          /* host-a: g_key / g_cert */
static char g_pub[MG_POLICY_PUBKEY_B64_SIZE];      /* policy_public_key of the enrolment answer */
static char g_key_b[PATH_MAX], g_cert_b[PATH_MAX]; /* host-b */
static int64_t g_host_b;
static char g_etag[32]; /* the ETag of the latest download */
static uint64_t g_version;
static char g_hash[MAX_SEQ + 1][65];

/* ---- helpers ---- */

/* GET /v1/policy as host (cert/key), with If-None-Match inm (NULL: none). */
static long get_policy(const char *inm, const char *cert, const char *key, struct api_reply *r)
{
	char h[128];
	const char *headers[] = {h, NULL};
	if (inm)
		snprintf(h, sizeof(h), "If-None-Match: %s", inm);
	return api_call("GET", "/v1/policy", inm ? headers : NULL, NULL, 0, cert, key, r);
}

/* 1 when sig_b64 is a valid Ed25519 signature of data by pub_b64, 0 when not (OpenSSL only). */
static int ossl_verify(const char *pub_b64, const char *data, size_t len, const char *sig_b64)
{
	unsigned char pub[48], sig[72];
	EVP_PKEY *k;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok;
	assert_int_equal(strlen(pub_b64), 44);
	assert_int_equal(strlen(sig_b64), 88);
	assert_int_equal(EVP_DecodeBlock(pub, (const unsigned char *)pub_b64, 44), 33);
	assert_int_equal(EVP_DecodeBlock(sig, (const unsigned char *)sig_b64, 88), 66);
	k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
	assert_non_null(k);
	assert_non_null(c);
	assert_int_equal(EVP_DigestVerifyInit(c, NULL, NULL, NULL, k), 1);
	ok = EVP_DigestVerify(c, sig, 64, (const unsigned char *)data, len) == 1;
	EVP_MD_CTX_free(c);
	EVP_PKEY_free(k);
	return ok;
}

/*
 * Checks a 200 answer of GET /v1/policy: ETag "\"<version>\"", signature valid over exactly the
 * bundle bytes (and not over altered bytes), bundle parses with the same version. Returns the
 * bundle (owned by the caller) and sets g_etag / g_version.
 */
static struct mg_policy_bundle *check_download_as(const struct api_reply *r, int64_t host_id,
                                                  bool newer);

static struct mg_policy_bundle *check_download(const struct api_reply *r)
{
	return check_download_as(r, g_host_id, true);
}

/*
 * The same for the download of host_id: the bundle is scoped to that host alone (issue 14,
 * finding 6: per-host bundles), and the terminal-side check of any other host refuses it.
 * newer: the version must be above the last one checked (g_version / g_etag are updated).
 */
static struct mg_policy_bundle *check_download_as(const struct api_reply *r, int64_t host_id,
                                                  bool newer)
{
	char etag[64], want[32], err[128];
	struct mg_policy_bundle *b = NULL;
	json_t *jb, *js;
	assert_int_equal(r->status, 200);
	assert_non_null(r->json);
	jb = json_object_get(r->json, "bundle");
	js = json_object_get(r->json, "signature");
	assert_true(json_is_string(jb) && json_is_string(js));
	assert_true(json_is_integer(json_object_get(r->json, "version")));
	uint64_t v = (uint64_t)json_integer_value(json_object_get(r->json, "version"));
	assert_non_null(api_reply_header(r, "ETag", etag, sizeof(etag)));
	snprintf(want, sizeof(want), "\"%llu\"", (unsigned long long)v);
	assert_string_equal(etag, want);

	const char *bundle = json_string_value(jb);
	size_t len = json_string_length(jb);
	assert_true(ossl_verify(g_pub, bundle, len, json_string_value(js)));
	char *altered = strndup(bundle, len);
	assert_non_null(altered);
	altered[len / 2] ^= 1;
	assert_false(ossl_verify(g_pub, altered, len, json_string_value(js)));
	free(altered);
	assert_false(ossl_verify(g_pub, bundle, len - 1, json_string_value(js)));

	assert_int_equal(mg_policy_bundle_parse(bundle, len, &b, err, sizeof(err)), 0);
	assert_int_equal(b->version, v);
	/* scoped to the host that asked, and only its own host rules inside */
	assert_false(b->all_hosts);
	assert_int_equal(b->n_scope_hosts, 1);
	assert_int_equal(b->scope_hosts[0], host_id);
	for (size_t i = 0; i < b->n_hosts; i++)
		assert_int_equal(b->hosts[i].host_id, host_id);
	assert_true(b->issued_us < b->expires_us);
	assert_true(b->expires_us > mg_now_us());
	/* and the collector's own terminal-side check agrees; another host's refuses it */
	struct mg_policy_bundle *b2 = NULL;
	assert_int_equal(mg_policy_verify_bundle(g_pub, bundle, len, json_string_value(js), 0,
	                                         mg_now_us(), host_id, &b2, NULL, 0),
	                 0);
	mg_policy_bundle_free(&b2);
	assert_int_equal(mg_policy_verify_bundle(g_pub, bundle, len, json_string_value(js), 0,
	                                         mg_now_us(), host_id + 1000, &b2, NULL, 0),
	                 -EPERM);
	if (newer) {
		assert_true(v > g_version); /* strictly increasing */
		g_version = v;
		memcpy(g_etag, want, sizeof(want));
	}
	return b;
}

/* agent.started seq from..to (pid 200 + seq), chained through g_hash. */
static json_t *batch(uint64_t from, uint64_t to)
{
	return wire_batch("mn-term-02", BOOT, from, to, 200, g_hash);
}

static uint64_t cursor(void)
{
	struct mg_store *s = store();
	uint64_t n = 99;
	assert_int_equal(mg_store_cursor_get(s, g_host_id, BOOT, &n), 0);
	mg_store_close(&s);
	return n;
}

static json_t *request_body(const char *request_id, const char *serial, const char *reason)
{
	return json_pack("{s:s,s:s,s:{s:s,s:s,s:s,s:s},s:s}", "request_id", request_id, "user",
	                 "tanaka", "device", "vendor_id", "0781", "product_id", "5581", "serial",
	                 serial, "name", "Ultra", "reason", reason);
}

/* ---- tests, in order ---- */

static void test_enroll(void **state)
{
	char pub_b[MG_POLICY_PUBKEY_B64_SIZE];
	(void)state;
	g_host_id = enroll_pub("host-a", g_key, g_cert, g_pub);
	g_host_b = enroll_pub("host-b", g_key_b, g_cert_b, pub_b);
	assert_string_equal(g_pub, pub_b);
}

/* No policy ever published: 404 (in process, on a fresh store: serve publishes at start). */
static void test_no_policy(void **state)
{
	char url[PATH_MAX + 32], msg[256];
	struct mg_api api = {0};
	struct mg_http_request req = {.method = "GET", .url = "/v1/policy", .body = ""};
	struct mg_http_response resp = {0};
	int64_t id = 0;
	(void)state;
	snprintf(url, sizeof(url), "sqlite:%s/empty.db", g_dir);
	assert_int_equal(mg_store_open(url, &api.store, msg, sizeof(msg)), 0);
	assert_int_equal(mg_store_host_add(api.store, "h", "1a2b", 1, &id), 0);
	req.peer = MG_PEER_VERIFIED;
	snprintf(req.serial, sizeof(req.serial), "1a2b");
	assert_int_equal(mg_router_handle(&api, &req, &resp), 0);
	assert_int_equal(resp.status, 404);
	assert_non_null(strstr(resp.body, "no policy"));
	free(resp.body);
	resp = (struct mg_http_response){0};
	req.if_none_match = "*";
	assert_int_equal(mg_router_handle(&api, &req, &resp), 0);
	assert_int_equal(resp.status, 404);
	free(resp.body);
	resp = (struct mg_http_response){0};
	/* applied: no version was published, so none can have been applied */
	req = (struct mg_http_request){.method = "POST",
	                               .url = "/v1/policy/applied",
	                               .body = "{\"version\":1}",
	                               .body_len = 13,
	                               .peer = MG_PEER_VERIFIED};
	snprintf(req.serial, sizeof(req.serial), "1a2b");
	assert_int_equal(mg_router_handle(&api, &req, &resp), 0);
	assert_int_equal(resp.status, 409);
	free(resp.body);
	mg_store_close(&api.store);
}

/* serve published version 1 at start; it downloads and verifies. */
static void test_download_v1(void **state)
{
	struct api_reply r = {0};
	struct mg_policy_bundle *b;
	(void)state;
	assert_int_equal(get_policy(NULL, g_cert, g_key, &r), 200);
	b = check_download(&r);
	assert_int_equal(b->version, 1);
	assert_string_equal(b->rules, "");
	assert_int_equal(b->n_hosts, 0);
	mg_policy_bundle_free(&b);
	api_reply_free(&r);
}

static void test_not_modified(void **state)
{
	struct api_reply r = {0};
	char etag[64];
	(void)state;
	const char *match[] = {g_etag, "W/\"1\"", "\"7\", \"1\"", "\"0\",W/\"1\"", "*"};
	for (size_t i = 0; i < sizeof(match) / sizeof(match[0]); i++) {
		assert_int_equal(get_policy(match[i], g_cert, g_key, &r), 304);
		assert_true(!r.body || !*r.body);
		assert_non_null(api_reply_header(&r, "ETag", etag, sizeof(etag)));
		assert_string_equal(etag, g_etag);
		api_reply_free(&r);
	}
	/* another version, malformed lists, a weak tag of another value: the full answer */
	const char *other[] = {"\"2\"", "\"01\"", "1", "\"1", "W/1", "\"\"", "\"1 \""};
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		assert_int_equal(get_policy(other[i], g_cert, g_key, &r), 200);
		assert_non_null(strstr(r.body, "\"signature\""));
		api_reply_free(&r);
	}
	/* host-b polls the same global bundle */
	assert_int_equal(get_policy(g_etag, g_cert_b, g_key_b, &r), 304);
	api_reply_free(&r);
}

/* A rule change and a publish: a new ETag and a strictly greater version. */
static void test_new_version(void **state)
{
	struct mg_store *s = store();
	struct mg_policy_key *pk = NULL;
	struct api_reply r = {0};
	struct mg_policy_bundle *b;
	char path[PATH_MAX + 32];
	int64_t rid = 0;
	uint64_t v = 0;
	long st = 304;
	(void)state;
	snprintf(path, sizeof(path), "%s/policy.key", g_dir);
	assert_int_equal(mg_policy_key_load(path, &pk), 0);
	assert_int_equal(mg_store_rule_add(s, NULL, "allow id 0781:5581 serial \"4C53\"", g_host_b,
	                                   0, "test", mg_now_us(), &rid),
	                 0);
	assert_int_equal(mg_policy_publish(s, NULL, pk, mg_now_us(), INT64_C(86400000000), &v), 0);
	assert_int_equal(v, 2);
	mg_policy_key_free(&pk);
	mg_store_close(&s);
	/* Another process published: this collector sees it within its re-check interval. */
	for (int i = 0; i < 50 && st == 304; i++) {
		api_reply_free(&r);
		st = get_policy(g_etag, g_cert, g_key, &r);
		if (st == 304)
			usleep(100000);
	}
	assert_int_equal(st, 200);
	b = check_download(&r);
	assert_int_equal(b->version, 2);
	assert_string_equal(g_etag, "\"2\"");
	assert_string_equal(b->rules, "");
	/* host-b's rule is host-b's alone: host-a does not learn its device */
	assert_int_equal(b->n_hosts, 0);
	assert_null(strstr(r.body, "4C53"));
	mg_policy_bundle_free(&b);
	api_reply_free(&r);
	assert_int_equal(get_policy("\"1\"", g_cert_b, g_key_b, &r), 200);
	b = check_download_as(&r, g_host_b, false);
	assert_int_equal(b->version, 2);
	assert_int_equal(b->n_hosts, 1);
	assert_int_equal(b->hosts[0].host_id, g_host_b);
	assert_string_equal(b->hosts[0].rules, "allow id 0781:5581 serial \"4C53\"\n");
	mg_policy_bundle_free(&b);
	api_reply_free(&r);
	assert_int_equal(get_policy("\"2\"", g_cert_b, g_key_b, &r), 304);
	api_reply_free(&r);
}

/* Issue 14, finding 6: each host gets the global rules and its own, never another host's. */
static void test_per_host_bundles(void **state)
{
	struct mg_store *s = store();
	struct mg_policy_key *pk = NULL;
	struct api_reply ra = {0}, rb = {0};
	struct mg_policy_bundle *a, *b;
	char path[PATH_MAX + 32], inm[32];
	int64_t rid = 0;
	uint64_t v = 0;
	long st = 304;
	(void)state;
	snprintf(path, sizeof(path), "%s/policy.key", g_dir);
	assert_int_equal(mg_policy_key_load(path, &pk), 0);
	assert_int_equal(
	    mg_store_rule_add(s, NULL, "allow id 1d6b:0002", 0, 0, "global", mg_now_us(), &rid), 0);
	assert_int_equal(mg_store_rule_add(s, NULL, "allow id 0781:5581 serial \"AAAA-HOST-A\"",
	                                   g_host_id, 0, "a", mg_now_us(), &rid),
	                 0);
	assert_int_equal(mg_policy_publish(s, NULL, pk, mg_now_us(), INT64_C(86400000000), &v), 0);
	mg_policy_key_free(&pk);
	mg_store_close(&s);
	for (int i = 0; i < 50 && st == 304; i++) {
		api_reply_free(&ra);
		st = get_policy(g_etag, g_cert, g_key, &ra);
		if (st == 304)
			usleep(100000);
	}
	assert_int_equal(st, 200);
	a = check_download(&ra);
	assert_int_equal(a->version, v);
	assert_string_equal(a->rules, "allow id 1d6b:0002\n");
	assert_int_equal(a->n_hosts, 1);
	assert_int_equal(a->hosts[0].host_id, g_host_id);
	assert_string_equal(a->hosts[0].rules, "allow id 0781:5581 serial \"AAAA-HOST-A\"\n");
	assert_null(strstr(ra.body, "4C53")); /* host-b's device */

	assert_int_equal(get_policy(NULL, g_cert_b, g_key_b, &rb), 200);
	b = check_download_as(&rb, g_host_b, false);
	assert_int_equal(b->version, v);
	assert_string_equal(b->rules, "allow id 1d6b:0002\n");
	assert_int_equal(b->n_hosts, 1);
	assert_int_equal(b->hosts[0].host_id, g_host_b);
	assert_null(strstr(rb.body, "AAAA-HOST-A")); /* host-a's device */
	/* signed per host: different bytes, different signatures, the same version and ETag */
	assert_string_not_equal(json_string_value(json_object_get(ra.json, "signature")),
	                        json_string_value(json_object_get(rb.json, "signature")));
	mg_policy_bundle_free(&a);
	mg_policy_bundle_free(&b);

	/* A second download of the same version is the same bytes (cached or not). */
	api_reply_free(&rb);
	assert_int_equal(get_policy(NULL, g_cert, g_key, &rb), 200);
	assert_string_equal(ra.body, rb.body);
	snprintf(inm, sizeof(inm), "\"%llu\"", (unsigned long long)v);
	api_reply_free(&rb);
	assert_int_equal(get_policy(inm, g_cert_b, g_key_b, &rb), 304);
	api_reply_free(&ra);
	api_reply_free(&rb);
}

static void test_applied(void **state)
{
	struct mg_store *s;
	struct mg_store_host h;
	json_t *a = NULL;
	(void)state;
	assert_int_equal(
	    post_json("/v1/heartbeat",
	              json_pack("{s:i,s:n,s:i,s:s}", "spool_depth", 17, "oldest_unsent",
	                        "policy_version", 1, "agent_version", "0.1.1"),
	              true, &a),
	    204);
	json_decref(a);
	assert_int_equal(
	    post_json("/v1/policy/applied", json_pack("{s:i}", "version", 2), true, &a), 204);
	json_decref(a);
	s = store();
	assert_int_equal(mg_store_host_get(s, g_host_id, &h), 0);
	assert_int_equal(h.policy_version, 2);
	assert_true(h.last_seen_us > 0);
	assert_int_equal(h.spool_depth, 17); /* the heartbeat's other fields stay */
	assert_string_equal(h.agent_version, "0.1.1");
	assert_int_equal(mg_store_host_get(s, g_host_b, &h), 0);
	assert_int_equal(h.policy_version, 0); /* only the certificate's host */
	mg_store_close(&s);
	/* never published */
	assert_int_equal(
	    post_json("/v1/policy/applied", json_pack("{s:i}", "version", 99), true, &a), 409);
	assert_true(strlen(err_of(a)) > 0);
	json_decref(a);
	/* malformed */
	const char *bad[] = {"{\"version\":0}", "{\"version\":\"2\"}", "{\"version\":2,\"host\":1}",
	                     "{}", "[2]"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(
		    post("/v1/policy/applied", bad[i], strlen(bad[i]), g_cert, g_key, &a), 400);
		assert_true(strlen(err_of(a)) > 0);
		json_decref(a);
	}
	/* an older version is what the terminal says it runs: stored as said */
	assert_int_equal(
	    post_json("/v1/policy/applied", json_pack("{s:i}", "version", 1), true, &a), 204);
	json_decref(a);
	s = store();
	assert_int_equal(mg_store_host_get(s, g_host_id, &h), 0);
	assert_int_equal(h.policy_version, 1);
	mg_store_close(&s);
}

static void test_requests(void **state)
{
	json_t *a = NULL;
	struct mg_store *s;
	struct mg_store_request q;
	int64_t id;
	(void)state;
	assert_int_equal(
	    post_json("/v1/requests", request_body("req-1", "4C53", "資料の持ち出し"), true, &a),
	    201);
	id = json_integer_value(json_object_get(a, "id"));
	assert_true(id > 0);
	assert_string_equal(json_string_value(json_object_get(a, "state")), "pending");
	json_decref(a);
	/* identical retry: the same answer, 200 */
	assert_int_equal(
	    post_json("/v1/requests", request_body("req-1", "4C53", "資料の持ち出し"), true, &a),
	    200);
	assert_int_equal(json_integer_value(json_object_get(a, "id")), id);
	assert_string_equal(json_string_value(json_object_get(a, "state")), "pending");
	json_decref(a);
	/* the same request_id with other content: 409 */
	assert_int_equal(
	    post_json("/v1/requests", request_body("req-1", "4C54", "資料の持ち出し"), true, &a),
	    409);
	assert_non_null(strstr(err_of(a), "request_id"));
	json_decref(a);
	assert_int_equal(
	    post_json("/v1/requests", request_body("req-1", "4C53", "other"), true, &a), 409);
	json_decref(a);
	/* the same request_id from another host is another request */
	{
		json_t *o = request_body("req-1", "4C53", "資料の持ち出し");
		char *body = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		assert_int_equal(post("/v1/requests", body, strlen(body), g_cert_b, g_key_b, &a),
		                 201);
		assert_true(json_integer_value(json_object_get(a, "id")) != id);
		json_decref(a);
		free(body);
	}
	/* stored for the certificate's host, as sent */
	s = store();
	assert_int_equal(mg_store_request_get(s, id, &q), 0);
	assert_int_equal(q.host_id, g_host_id);
	assert_string_equal(q.request_id, "req-1");
	assert_string_equal(q.user, "tanaka");
	assert_string_equal(q.dev.vendor_id, "0781");
	assert_string_equal(q.dev.product_id, "5581");
	assert_string_equal(q.dev.serial, "4C53");
	assert_string_equal(q.dev.name, "Ultra");
	assert_string_equal(q.reason, "資料の持ち出し");
	assert_int_equal(q.state, MG_REQUEST_PENDING);
	/* a decision shows in the retry's answer */
	assert_int_equal(mg_store_request_deny(s, &(struct mg_store_actor){.admin = ADMIN_NAME}, id,
	                                       "no", mg_now_us()),
	                 0);
	mg_store_close(&s);
	assert_int_equal(
	    post_json("/v1/requests", request_body("req-1", "4C53", "資料の持ち出し"), true, &a),
	    200);
	assert_string_equal(json_string_value(json_object_get(a, "state")), "denied");
	json_decref(a);
	/* malformed */
	const char *bad[] = {
	    "{\"request_id\":\"a b\",\"user\":\"u\",\"device\":{\"vendor_id\":\"0781\","
	    "\"product_id\":\"5581\"},\"reason\":\"x\"}",
	    "{\"request_id\":\"r\",\"user\":\"u\",\"device\":{\"vendor_id\":\"0781\"},"
	    "\"reason\":\"x\"}",
	    "{\"request_id\":\"r\",\"user\":\"u\",\"host_id\":2,\"device\":{\"vendor_id\":\"0781\","
	    "\"product_id\":\"5581\"},\"reason\":\"x\"}",
	    "{\"request_id\":\"r\"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(post("/v1/requests", bad[i], strlen(bad[i]), g_cert, g_key, &a),
		                 400);
		assert_true(strlen(err_of(a)) > 0);
		json_decref(a);
	}
}

static void test_auth(void **state)
{
	struct api_reply r = {0};
	json_t *a = NULL;
	struct mg_store *s;
	(void)state;
	/* no client certificate: 401 everywhere */
	assert_int_equal(get_policy(NULL, NULL, NULL, &r), 401);
	api_reply_free(&r);
	assert_int_equal(
	    post_json("/v1/policy/applied", json_pack("{s:i}", "version", 1), false, &a), 401);
	json_decref(a);
	assert_int_equal(post_json("/v1/requests", request_body("req-9", "1", "x"), false, &a),
	                 401);
	json_decref(a);
	/* wrong methods */
	assert_int_equal(api_call("POST", "/v1/policy", NULL, "{}", 2, g_cert, g_key, NULL), 405);
	assert_int_equal(api_call("GET", "/v1/requests", NULL, NULL, 0, g_cert, g_key, NULL), 405);
	/* a revoked host: 403, nothing stored */
	s = store();
	assert_int_equal(mg_store_host_revoke(s, NULL, g_host_b, mg_now_us()), 0);
	mg_store_close(&s);
	assert_int_equal(get_policy(g_etag, g_cert_b, g_key_b, &r), 403);
	api_reply_free(&r);
	assert_int_equal(get_policy(NULL, g_cert_b, g_key_b, &r), 403);
	api_reply_free(&r);
	{
		const char *body = "{\"version\":2}";
		assert_int_equal(
		    post("/v1/policy/applied", body, strlen(body), g_cert_b, g_key_b, &a), 403);
		json_decref(a);
		json_t *o = request_body("req-2", "1", "x");
		char *rb = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		assert_int_equal(post("/v1/requests", rb, strlen(rb), g_cert_b, g_key_b, &a), 403);
		json_decref(a);
		free(rb);
	}
	s = store();
	struct mg_store_host h;
	assert_int_equal(mg_store_host_get(s, g_host_b, &h), 0);
	assert_int_equal(h.policy_version, 0);
	mg_store_close(&s);
}

/* Restarts the collector as the faults binary armed at point. */
static void start_faulty(const char *point)
{
	const char *faults = getenv("MG_COLLECTOR_FAULTS");
	const char *normal = g_bin;
	assert_non_null(faults);
	assert_true(WIFEXITED(stop_server(SIGTERM)));
	assert_int_equal(setenv("MG_FAULT_POINT", point, 1), 0);
	g_bin = faults;
	start_server();
	g_bin = normal;
	assert_int_equal(unsetenv("MG_FAULT_POINT"), 0);
}

/* The faulty collector killed itself at its fault point; the normal one takes over. */
static void expect_killed_then_restart(void)
{
	int st = reap(g_pid);
	g_pid = -1;
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGKILL);
	start_server();
}

/* kill -9 before the commit: no answer, nothing stored; the retry stores the batch once. */
static void test_kill_before_commit(void **state)
{
	json_t *a = NULL;
	(void)state;
	assert_int_equal(cursor(), 0);
	assert_int_equal(event_count(g_host_id), 0);
	start_faulty("ingest.before_commit");
	assert_int_equal(post_json("/v1/events", batch(1, 3), true, &a), 0); /* no answer */
	json_decref(a);
	expect_killed_then_restart();
	assert_int_equal(event_count(g_host_id), 0);
	assert_int_equal(cursor(), 0);
	assert_int_equal(post_json("/v1/events", batch(1, 3), true, &a), 200);
	assert_int_equal(json_integer_value(json_object_get(a, "acked_through")), 3);
	assert_int_equal(json_integer_value(json_object_get(a, "stored")), 3);
	json_decref(a);
	assert_int_equal(event_count(g_host_id), 3);
	assert_int_equal(cursor(), 3);
}

/* kill -9 between the commit and the answer: stored, no answer; the retry stores nothing. */
static void test_kill_after_commit(void **state)
{
	json_t *a = NULL;
	(void)state;
	start_faulty("events.after_commit");
	assert_int_equal(post_json("/v1/events", batch(4, 6), true, &a), 0); /* no answer */
	json_decref(a);
	expect_killed_then_restart();
	assert_int_equal(event_count(g_host_id), 6);
	assert_int_equal(cursor(), 6);
	assert_int_equal(post_json("/v1/events", batch(4, 6), true, &a), 200);
	assert_int_equal(json_integer_value(json_object_get(a, "acked_through")), 6);
	assert_int_equal(json_integer_value(json_object_get(a, "stored")), 0);
	json_decref(a);
	assert_int_equal(event_count(g_host_id), 6);
	/* the restarted collector serves the same policy: no new version at start */
	struct api_reply r = {0};
	assert_int_equal(get_policy(g_etag, g_cert, g_key, &r), 304);
	api_reply_free(&r);
}

static void test_sigterm(void **state)
{
	int st = stop_server(SIGTERM);
	(void)state;
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_enroll),
	    cmocka_unit_test(test_no_policy),
	    cmocka_unit_test(test_download_v1),
	    cmocka_unit_test(test_not_modified),
	    cmocka_unit_test(test_new_version),
	    cmocka_unit_test(test_per_host_bundles),
	    cmocka_unit_test(test_applied),
	    cmocka_unit_test(test_requests),
	    cmocka_unit_test(test_auth),
	    cmocka_unit_test(test_kill_before_commit),
	    cmocka_unit_test(test_kill_after_commit),
	    cmocka_unit_test(test_sigterm),
	};
	return api_main("test_api_policy", tests, sizeof(tests) / sizeof(tests[0]));
}
