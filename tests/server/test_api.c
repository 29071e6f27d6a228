/*
 * The collector's terminal API end to end (enrolment, events, heartbeat) over HTTPS, on the
 * harness of api_harness.h: outcomes are checked in the answers and in the database.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "api.h"
#include "digest.h"
#include "router.h"
#include "api_harness.h"
#include "api_body.h"
#include "ca.h"
#include "mg/event.h"
#include "store.h"

#define BOOT    "7d2c0e4a-61b3-4f0e-8c55-3a9e1f04b2d7"
#define MAX_SEQ 64

/* The enrolled host the event tests use, and its chain. */
static int64_t g_host_id;
static char g_hash[MAX_SEQ + 1][65];

/* ---- events ---- */

/* Batch of seq from..to (pid 100 + seq), chained through g_hash. */
static json_t *batch(uint64_t from, uint64_t to)
{
	return wire_batch("mn-term-01", BOOT, from, to, 100, g_hash);
}

static uint64_t acked(json_t *a)
{
	return (uint64_t)json_integer_value(json_object_get(a, "acked_through"));
}

/* ---- tests (in order: later ones build on the stored state) ---- */

static void test_enroll(void **state)
{
	char tok[128];
	EVP_PKEY *key = new_key();
	char *csr = make_csr(key);
	json_t *a = NULL;
	struct mg_store *s;
	(void)state;

	g_host_id = enroll("host-a", g_key, g_cert);

	/* reuse: 409 */
	token_create(tok, sizeof(tok));
	assert_int_equal(post_json("/v1/enroll", enroll_body(tok, csr, "h2"), false, &a), 200);
	json_decref(a);
	assert_int_equal(post_json("/v1/enroll", enroll_body(tok, csr, "h2"), false, &a), 409);
	assert_non_null(strstr(err_of(a), "already used"));
	json_decref(a);

	/* expired: 403 with a clear error */
	s = store();
	{
		char hex[65];
		const char *t = "expired-token-for-the-test";
		assert_int_equal(mg_sha256_hex(t, strlen(t), hex), 0);
		assert_int_equal(mg_store_token_add(s, NULL, hex, 1000000, 1, 1), 0);
		mg_store_close(&s);
		assert_int_equal(post_json("/v1/enroll", enroll_body(t, csr, "h3"), false, &a),
		                 403);
		assert_non_null(strstr(err_of(a), "expired"));
		json_decref(a);
	}

	/* unknown token: 403 */
	assert_int_equal(post_json("/v1/enroll", enroll_body("nope", csr, "h4"), false, &a), 403);
	assert_non_null(strstr(err_of(a), "unknown"));
	json_decref(a);

	/* bad CSR: 400, and the token stays unused */
	token_create(tok, sizeof(tok));
	assert_int_equal(post_json("/v1/enroll",
	                           enroll_body(tok,
	                                       "-----BEGIN CERTIFICATE REQUEST"
	                                       "-----\nAAAA\n-----END "
	                                       "CERTIFICATE REQUEST-----\n",
	                                       "h5"),
	                           false, &a),
	                 400);
	assert_non_null(strstr(err_of(a), "csr"));
	json_decref(a);
	/* a CSR whose signature does not verify */
	{
		char *bad = strdup(csr);
		char *mid = bad + strlen(bad) - 40;
		*mid = *mid == 'A' ? 'B' : 'A';
		assert_int_equal(post_json("/v1/enroll", enroll_body(tok, bad, "h5"), false, &a),
		                 400);
		json_decref(a);
		free(bad);
	}
	/* a CSR with an RSA key */
	{
		EVP_PKEY *rsa = EVP_RSA_gen(2048);
		char *rsa_csr;
		assert_non_null(rsa);
		rsa_csr = make_csr(rsa);
		assert_int_equal(
		    post_json("/v1/enroll", enroll_body(tok, rsa_csr, "h5"), false, &a), 400);
		assert_non_null(strstr(err_of(a), "P-256"));
		json_decref(a);
		free(rsa_csr);
		EVP_PKEY_free(rsa);
	}
	assert_int_equal(post_json("/v1/enroll", enroll_body(tok, csr, "h5"), false, &a), 200);
	json_decref(a);
	free(csr);
	EVP_PKEY_free(key);
}

static void test_events_exactly_once(void **state)
{
	json_t *a = NULL;
	(void)state;
	assert_int_equal(post_json("/v1/events", batch(1, 3), true, &a), 200);
	assert_int_equal(acked(a), 3);
	assert_int_equal(json_integer_value(json_object_get(a, "stored")), 3);
	json_decref(a);
	/* the same batch again: acknowledged, nothing stored twice */
	assert_int_equal(post_json("/v1/events", batch(1, 3), true, &a), 200);
	assert_int_equal(acked(a), 3);
	assert_int_equal(json_integer_value(json_object_get(a, "stored")), 0);
	json_decref(a);
	assert_int_equal(event_count(g_host_id), 3);
}

static void test_events_gap_conflict_chain(void **state)
{
	json_t *a = NULL, *b;
	char h[65];
	struct mg_store *s;
	uint64_t alerts = 0;
	(void)state;

	/* gap */
	assert_int_equal(post_json("/v1/events", batch(10, 11), true, &a), 409);
	assert_int_equal(json_integer_value(json_object_get(a, "resend_from")), 4);
	json_decref(a);

	/* conflicting content for a stored seq (hash consistent with it): 422 + tamper alert */
	b = json_pack("{s:s,s:[o]}", "boot_id", BOOT, "events",
	              wire_event("mn-term-01", BOOT, 2, 999, g_hash[1], h));
	assert_int_equal(post_json("/v1/events", b, true, &a), 422);
	assert_int_equal(json_integer_value(json_object_get(a, "seq")), 2);
	json_decref(a);
	s = store();
	assert_int_equal(mg_store_alerts_count(s, g_host_id, &alerts), 0);
	mg_store_close(&s);
	assert_int_equal(alerts, 1);

	/* broken hash: the hash does not match the event */
	b = json_pack("{s:s,s:[o]}", "boot_id", BOOT, "events",
	              wire_event("mn-term-01", BOOT, 4, 104, g_hash[3], h));
	json_object_set_new(json_array_get(json_object_get(b, "events"), 0), "hash",
	                    json_string(g_hash[1]));
	assert_int_equal(post_json("/v1/events", b, true, &a), 422);
	assert_non_null(strstr(err_of(a), "hash"));
	json_decref(a);

	/* broken chain: prev_hash is not the hash of seq 3 */
	b = json_pack("{s:s,s:[o]}", "boot_id", BOOT, "events",
	              wire_event("mn-term-01", BOOT, 4, 104, g_hash[1], h));
	assert_int_equal(post_json("/v1/events", b, true, &a), 422);
	assert_non_null(strstr(err_of(a), "chain"));
	json_decref(a);
	assert_int_equal(event_count(g_host_id), 3);
}

static void test_events_auth(void **state)
{
	json_t *a = NULL;
	EVP_PKEY *cakey = new_key(), *key = new_key();
	X509 *ca = X509_new(), *x = X509_new();
	X509 *ours = NULL;
	FILE *f;
	char kp[PATH_MAX], cp[PATH_MAX];
	char *body;
	(void)state;

	/* no client certificate */
	assert_int_equal(post_json("/v1/events", batch(1, 1), false, &a), 401);
	json_decref(a);

	/* a foreign CA's certificate carrying the serial of host-a's certificate */
	f = fopen(g_cert, "r");
	assert_non_null(f);
	ours = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(ours);
	X509_set_version(ca, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(ca), 1);
	X509_gmtime_adj(X509_getm_notBefore(ca), -60);
	X509_gmtime_adj(X509_getm_notAfter(ca), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(ca), "CN", MBSTRING_ASC,
	                           (const unsigned char *)"mynaguard collector CA", -1, -1, 0);
	X509_set_issuer_name(ca, X509_get_subject_name(ca));
	X509_set_pubkey(ca, cakey);
	assert_true(X509_sign(ca, cakey, EVP_sha256()) > 0);
	X509_set_version(x, 2);
	X509_set_serialNumber(x, X509_get_serialNumber(ours));
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_subject_name(x, X509_get_subject_name(ours));
	X509_set_issuer_name(x, X509_get_subject_name(ca));
	X509_set_pubkey(x, key);
	assert_true(X509_sign(x, cakey, EVP_sha256()) > 0);
	snprintf(kp, sizeof(kp), "%s/foreign.key", g_dir);
	snprintf(cp, sizeof(cp), "%s/foreign.pem", g_dir);
	write_key(key, kp);
	f = fopen(cp, "w");
	assert_non_null(f);
	PEM_write_X509(f, x);
	fclose(f);
	{
		json_t *b = batch(4, 4);
		body = json_dumps(b, JSON_COMPACT);
		json_decref(b);
	}
	assert_int_equal(post("/v1/events", body, strlen(body), cp, kp, &a), 403);
	json_decref(a);
	free(body);
	assert_int_equal(event_count(g_host_id), 3);

	X509_free(ours);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(cakey);
}

static void test_limits(void **state)
{
	json_t *a = NULL;
	size_t big = 10u * 1024u * 1024u; /* 10 MiB */
	char *body = malloc(big);
	const char *trunc = "{\"boot_id\":\"" BOOT "\",\"events\":[{\"type\":";
	const char bad_utf8[] = "{\"boot_id\":\"\xff\xfe\",\"events\":[]}";
	json_t *arr;
	(void)state;

	assert_non_null(body);
	memset(body, ' ', big);
	body[0] = '{';
	body[big - 1] = '}';
	/* announced by Content-Length (the client waits for 100 Continue): refused unread */
	g_extra_header = "Expect: 100-continue";
	assert_int_equal(post("/v1/events", body, big, g_cert, g_key, &a), 413);
	json_decref(a);
	/* chunked, no length announced: the cap is enforced while receiving */
	g_extra_header = "Transfer-Encoding: chunked";
	big = 2u * 1024u * 1024u;
	body[big - 1] = '}';
	assert_int_equal(post("/v1/events", body, big, g_cert, g_key, &a), 413);
	assert_non_null(strstr(err_of(a), "1 MiB"));
	json_decref(a);
	free(body);
	/* chunked and endless (here 10 MiB): the connection is closed, the server lives on */
	big = 10u * 1024u * 1024u;
	body = malloc(big);
	assert_non_null(body);
	memset(body, ' ', big);
	assert_int_equal(post("/v1/events", body, big, g_cert, g_key, &a), 0);
	json_decref(a);
	g_extra_header = NULL;
	free(body);

	assert_int_equal(post("/v1/events", trunc, strlen(trunc), g_cert, g_key, &a), 400);
	assert_non_null(a); /* a JSON error body */
	assert_true(strlen(err_of(a)) > 0);
	json_decref(a);

	assert_int_equal(post("/v1/events", bad_utf8, sizeof(bad_utf8) - 1, g_cert, g_key, &a),
	                 400);
	assert_true(strlen(err_of(a)) > 0);
	json_decref(a);

	/* wrong types and numbers too large for any field */
	{
		static const char *const bad[] = {
		    "{\"boot_id\":\"" BOOT "\",\"events\":\"many\"}",
		    "{\"boot_id\":7,\"events\":[]}",
		    "[]",
		    "{\"boot_id\":\"" BOOT "\",\"events\":[{\"seq\":18446744073709551616}]}",
		    "{\"boot_id\":\"" BOOT "\",\"events\":[{\"seq\":1e308}]}",
		    "{\"boot_id\":\"" BOOT "\",\"events\":[{\"seq\":-1}]}",
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			assert_int_equal(
			    post("/v1/events", bad[i], strlen(bad[i]), g_cert, g_key, &a), 400);
			assert_true(strlen(err_of(a)) > 0);
			json_decref(a);
		}
	}

	/* more than 1000 events */
	arr = json_array();
	for (int i = 0; i < 1001; i++)
		json_array_append_new(arr, json_object());
	assert_int_equal(post_json("/v1/events",
	                           json_pack("{s:s,s:o}", "boot_id", BOOT, "events", arr), true,
	                           &a),
	                 413);
	json_decref(a);
	assert_int_equal(event_count(g_host_id), 3);
}

static void test_heartbeat(void **state)
{
	json_t *a = NULL;
	struct mg_store *s;
	struct mg_store_host h;
	(void)state;
	assert_int_equal(post_json("/v1/heartbeat",
	                           json_pack("{s:i,s:s,s:i,s:s}", "spool_depth", 17,
	                                     "oldest_unsent", "2026-11-25T21:17:59.123456Z",
	                                     "policy_version", 1, "agent_version", "0.1.1"),
	                           true, &a),
	                 204);
	json_decref(a);
	s = store();
	assert_int_equal(mg_store_host_get(s, g_host_id, &h), 0);
	mg_store_close(&s);
	assert_int_equal(h.spool_depth, 17);
	assert_int_equal(h.policy_version, 1); /* published by serve; higher ones: 409 */
	assert_string_equal(h.agent_version, "0.1.1");
	assert_int_equal(post_json("/v1/heartbeat", json_pack("{s:i}", "spool_depth", 1), true, &a),
	                 400);
	json_decref(a);
}

static void test_kill9_retry(void **state)
{
	json_t *a = NULL;
	int st;
	(void)state;
	assert_int_equal(post_json("/v1/events", batch(4, 5), true, &a), 200);
	assert_int_equal(acked(a), 5);
	json_decref(a);
	st = stop_server(SIGKILL);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	start_server();
	/* the agent never saw the answer: it retries the last batch */
	assert_int_equal(post_json("/v1/events", batch(4, 5), true, &a), 200);
	assert_int_equal(acked(a), 5);
	assert_int_equal(json_integer_value(json_object_get(a, "stored")), 0);
	json_decref(a);
	assert_int_equal(event_count(g_host_id), 5);
}

/* mg_router_handle() in process, on a second store handle: overload and a full disk. */
static void test_overload_and_disk_full(void **state)
{
	struct mg_api api = {.cert_days = 1};
	struct mg_http_request req = {.method = "POST", .url = "/v1/events"};
	struct mg_http_response resp = {0};
	struct mg_store_host h;
	json_t *b = batch(6, 6);
	char *body = json_dumps(b, JSON_COMPACT);
	char ca_dir[sizeof(g_dir)];
	(void)state;
	json_decref(b);
	snprintf(ca_dir, sizeof(ca_dir), "%s", g_dir);
	api.store = store();
	assert_int_equal(mg_ca_load(ca_dir, &api.ca), 0);
	assert_int_equal(mg_store_host_get(api.store, g_host_id, &h), 0);
	req.body = body;
	req.body_len = strlen(body);
	req.peer = MG_PEER_VERIFIED;
	snprintf(req.serial, sizeof(req.serial), "%s", h.cert_serial);

	api.max_inflight = 0; /* every ingest is one too many */
	assert_int_equal(mg_router_handle(&api, &req, &resp), 0);
	assert_int_equal(resp.status, 503);
	assert_int_equal(resp.retry_after, 1);
	free(resp.body);
	resp = (struct mg_http_response){0};

	/* the reserve is a SQLite feature (PostgreSQL owns its disk) */
	if (strcmp(mg_store_backend(api.store), "sqlite") == 0) {
		api.max_inflight = 4;
		assert_int_equal(mg_store_set_reserve(api.store, UINT64_MAX), 0);
		assert_int_equal(mg_router_handle(&api, &req, &resp), 0);
		assert_int_equal(resp.status, 507);
		assert_null(strstr(resp.body, "acked_through"));
		free(resp.body);
	}

	mg_ca_free(&api.ca);
	mg_store_close(&api.store);
	free(body);
	assert_int_equal(event_count(g_host_id), 5);
}

static void test_revoked(void **state)
{
	json_t *a = NULL;
	struct mg_store *s = store();
	(void)state;
	assert_int_equal(mg_store_host_revoke(s, NULL, g_host_id, 2000000), 0);
	mg_store_close(&s);
	assert_int_equal(post_json("/v1/events", batch(6, 6), true, &a), 403);
	json_decref(a);
	assert_int_equal(event_count(g_host_id), 5);
}

static void test_cli(void **state)
{
	char out[512];
	struct stat st;
	(void)state;
	/* init refuses to replace an existing CA */
	{
		char pw[sizeof(g_dir) + 16];
		snprintf(pw, sizeof(pw), "%s.admin-pw", g_dir);
		const char *args[] = {"init", "--data-dir", g_dir,    "--db",
		                      g_db,   "--admin",    "second", "--admin-password-file",
		                      pw,     NULL};
		assert_int_equal(runv(out, sizeof(out), args), 1);
		/* the first admin is required */
		assert_int_equal(
		    run(out, sizeof(out), "init", "--data-dir", g_dir, "--db", g_db, NULL), 2);
	}
	assert_int_equal(stat(g_dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	{
		char p[sizeof(g_dir) + 16];
		snprintf(p, sizeof(p), "%s/ca.key", g_dir);
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
		snprintf(p, sizeof(p), "%s/server.key", g_dir);
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
	}
	/* bad values and options meant for another subcommand */
	assert_int_equal(
	    run(out, sizeof(out), "token", "create", "--data-dir", g_dir, "--expires", "0"), 2);
	assert_int_equal(
	    run(out, sizeof(out), "token", "create", "--data-dir", g_dir, "--uses", "0"), 2);
	assert_int_equal(
	    run(out, sizeof(out), "init", "--data-dir", g_dir, "--listen", "x:1", NULL), 2);
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
	    cmocka_unit_test(test_events_exactly_once),
	    cmocka_unit_test(test_events_gap_conflict_chain),
	    cmocka_unit_test(test_events_auth),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_heartbeat),
	    cmocka_unit_test(test_kill9_retry),
	    cmocka_unit_test(test_overload_and_disk_full),
	    cmocka_unit_test(test_revoked),
	    cmocka_unit_test(test_cli),
	    cmocka_unit_test(test_sigterm),
	};
	return api_main("test_api", tests, sizeof(tests) / sizeof(tests[0]));
}
