/*
 * Issue 15 on the terminal, end to end with real processes (as test_pipeline.c): the agent
 * writes <state_dir>/staff.db from the verified bundle it keeps (at boot, offline), removes it
 * for a bundle without staff, keeps a damaged kept bundle from touching it; and
 * `mynaguardctl staff-register` goes agent -> uplink -> POST /v1/staff/registrations and
 * brings the collector's answer back in words; a registration approved on the collector
 * reaches staff.db after one poll, and a revoked key leaves it after the next.
 *
 * Run under the umockdev preload with MG_AGENT_BIN, MG_CTL_BIN, MG_UPLINK_BIN and
 * MG_COLLECTOR set (ctest does).
 */
#include "pipeline_support.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "mg/policy_bundle.h"
#include "mg/staff_db.h"
#include "mg/time.h"
#include "policy_sign.h"

#define STAFF                                                                                      \
	"{\"Tanaka\":{\"credentials\":[{\"aaguid\":\"0123456789abcdef0123456789abcdef\","          \
	"\"cose_alg\":-7,\"id\":\"AQID\",\"label\":\"key-1\",\"public_key\":"                      \
	"\"cHVibGljLWtleQ==\",\"rp_id\":\"mynaguard\",\"uv\":true}],\"state\":\"active\"},"        \
	"\"suzuki@city.local\":{\"credentials\":[],\"state\":\"disabled\"}}"

/* A kept policy (policy.json) of version v, signed with the collector's key; staff or NULL. */
static void keep_policy(struct sc *sc, uint64_t v, const char *staff)
{
	char keypath[600];
	snprintf(keypath, sizeof(keypath), "%s/policy.key", g_dir);
	struct mg_policy_key *k = NULL;
	assert_int_equal(mg_policy_key_load(keypath, &k), 0);
	static char rules[] = "allow id 0781:5583\n";
	int64_t now = mg_now_us();
	json_error_t jerr;
	struct mg_policy_bundle b = {.version = v,
	                             .issued_us = now - 60000000LL,
	                             .expires_us = now + 3600000000LL,
	                             .all_hosts = true,
	                             .rules = rules,
	                             .staff = staff ? json_loads(staff, 0, &jerr) : NULL};
	char *json = NULL, sig[MG_POLICY_SIG_B64_SIZE];
	assert_int_equal(mg_policy_bundle_to_json(&b, &json, NULL), 0);
	json_decref(b.staff);
	assert_int_equal(mg_policy_sign(k, json, strlen(json), sig), 0);
	mg_policy_key_free(&k);
	json_t *o = json_pack("{s:I, s:s, s:s}", "version", (json_int_t)v, "bundle", json,
	                      "signature", sig);
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	free(json);
	char path[300];
	snprintf(path, sizeof(path), "%s/policy.json", sc->state);
	write_file(path, text, 0600);
	free(text);
}

static void boot_offline(struct sc *sc, uint64_t version)
{
	json_int_t m = mark(sc);
	agent_spawn(sc);
	wait_notify(sc, "READY=1");
	json_t *ev = wait_event(sc, "policy.applied", NULL, m);
	assert_int_equal(json_integer_value(jget(ev, "policy.version")), (json_int_t)version);
}

/* staff.db of bundle version v (0: until the file is gone), waited for: the agent writes it
 * right after it recorded policy.applied. NULL for v == 0. */
static char *wait_staff_db(struct sc *sc, const char *path, uint64_t v, size_t *len)
{
	int64_t deadline = mono_ms() + 5000;
	struct mg_staff_db_info info;
	for (;;) {
		/* stat first: a loop of failing open() calls overflows the umockdev preload's table
		 */
		struct stat st;
		bool there = stat(path, &st) == 0;
		if (v == 0 && !there)
			return NULL;
		char *db = there && v ? read_all(path, len) : NULL;
		if (db && mg_staff_db_open(db, *len, &info) == 0 && info.bundle_version == v)
			return db;
		free(db);
		if (mono_ms() > deadline)
			FAIL_WITH_LOG(sc, "%s: not the staff of version %llu", path,
			              (unsigned long long)v);
		sleep_ms(50);
	}
}

/* The kept bundle's staff reach staff.db at boot; a bundle without staff removes it. */
static void test_staff_db_from_kept_bundle(void **state)
{
	struct sc *sc = *state;
	start_agent(sc);
	(void)enroll_agent(sc);
	agent_stop(sc);
	unsigned port = g_port;
	assert_true(WIFEXITED(stop_server(SIGTERM))); /* offline: only the kept bundle counts */

	char path[300];
	snprintf(path, sizeof(path), "%s/staff.db", sc->state);
	keep_policy(sc, 1000, STAFF);
	boot_offline(sc, 1000);
	size_t len = 0;
	char *db = wait_staff_db(sc, path, 1000, &len);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	struct mg_staff_db_info info;
	struct mg_staff_entry e;
	assert_int_equal(mg_staff_db_open(db, len, &info), 0);
	assert_int_equal(info.bundle_version, 1000);
	assert_int_equal(info.count, 2);
	assert_true(info.expires_us > mg_now_us());
	assert_int_equal(mg_staff_db_find(db, len, "Tanaka", &e), 0);
	assert_false(e.disabled);
	assert_int_equal(mg_staff_db_find(db, len, "suzuki@city.local", &e), 0);
	assert_true(e.disabled);
	assert_int_equal(mg_staff_db_find(db, len, "tanaka", &e), -ENOENT);
	free(db);
	agent_stop(sc);

	/* A newer kept bundle without staff (an old collector): the file goes. */
	keep_policy(sc, 1001, NULL);
	boot_offline(sc, 1001);
	assert_null(wait_staff_db(sc, path, 0, &len));
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
	agent_stop(sc);

	/* Enrolled again (to another collector): the previous collector's staff go with its
	 * policy, before the new one has published anything. */
	keep_policy(sc, 1002, STAFF);
	boot_offline(sc, 1002);
	free(wait_staff_db(sc, path, 1002, &len));
	restart_server(port);
	char tok[128], url[64], ca[600];
	token_create(tok, sizeof(tok));
	snprintf(url, sizeof(url), "https://127.0.0.1:%u", g_port);
	snprintf(ca, sizeof(ca), "%s/ca.pem", g_dir);
	struct run r;
	int64_t deadline = mono_ms() + 8000;
	for (;;) { /* the uplink may still be backing off after the collector was away */
		CTL(sc, &r, "enroll", "--collector", url, "--token", tok, "--ca", ca, "--force");
		if (r.status == 0 || mono_ms() > deadline)
			break;
		run_free(&r);
		sleep_ms(100);
	}
	if (r.status != 0)
		FAIL_WITH_LOG(sc, "enroll --force: %s", r.err);
	run_free(&r);
	/* Gone; or already the new collector's (its first poll may have been that quick). */
	db = read_all(path, &len);
	if (db && (mg_staff_db_open(db, len, &info) < 0 || info.bundle_version == 1002 ||
	           mg_staff_db_find(db, len, "Tanaka", &e) == 0))
		FAIL_WITH_LOG(sc, "the previous collector's staff.db is still there");
	free(db);
	agent_stop(sc);
}

/* ---- the collector's side: admin API, a registration with a real attestation ---- */

static char admin_token[128];

static long admin(const char *method, const char *path, const char *body, json_t **out)
{
	if (!admin_token[0]) {
		json_t *a = NULL;
		assert_int_equal(post_json("/v1/admin/login",
		                           json_pack("{s:s, s:s}", "name", ADMIN_NAME, "password",
		                                     ADMIN_PASSWORD),
		                           false, &a),
		                 200);
		snprintf(admin_token, sizeof(admin_token), "%s",
		         json_string_value(json_object_get(a, "token")));
		json_decref(a);
	}
	char auth[200];
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", admin_token);
	const char *hdr[] = {auth, "Content-Type: application/json", NULL};
	struct api_reply r;
	long st = api_call(method, path, hdr, body, body ? strlen(body) : 0, NULL, NULL, &r);
	if (out)
		*out = json_incref(r.json);
	api_reply_free(&r);
	return st;
}

static void b64(const unsigned char *p, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
}

/*
 * A registration with a real packed self attestation (ES256, rp "mynaguard") as
 * mynaguard-enroll makes it with a key: authData as CTAP2 builds it, the credential key's
 * signature over authData || clientDataHash (the construction of test_staff_api.c).
 */
static char *registration(const char *reg_id, const char *user, char id_b64[64])
{
	unsigned char raw[400], cbor[404], cdh[32], pk[64], sig[128], id[32], x[32], y[32];
	size_t n = 0, siglen = sizeof(sig);
	unsigned int hl = 0;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	BIGNUM *bx = NULL, *by = NULL;
	assert_non_null(key);
	assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &bx), 1);
	assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &by), 1);
	assert_int_equal(BN_bn2binpad(bx, x, 32), 32);
	assert_int_equal(BN_bn2binpad(by, y, 32), 32);
	BN_free(bx);
	BN_free(by);
	assert_int_equal(RAND_bytes(id, sizeof(id)), 1);
	assert_int_equal(RAND_bytes(cdh, sizeof(cdh)), 1);
	assert_int_equal(EVP_Digest("mynaguard", 9, raw, &hl, EVP_sha256(), NULL), 1);
	n = 32;
	raw[n++] = 0x45; /* UP, UV, AT */
	memset(raw + n, 0, 4);
	n += 4;
	for (int i = 0; i < 16; i++)
		raw[n++] = (unsigned char)(0x11 * i);
	raw[n++] = 0;
	raw[n++] = sizeof(id);
	memcpy(raw + n, id, sizeof(id));
	n += sizeof(id);
	static const unsigned char cose_head[] = {0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01};
	memcpy(raw + n, cose_head, sizeof(cose_head));
	n += sizeof(cose_head);
	raw[n++] = 0x21;
	raw[n++] = 0x58;
	raw[n++] = 32;
	memcpy(raw + n, x, 32);
	n += 32;
	raw[n++] = 0x22;
	raw[n++] = 0x58;
	raw[n++] = 32;
	memcpy(raw + n, y, 32);
	n += 32;
	cbor[0] = 0x58; /* libfido2's fido_cred_authdata(): the CBOR byte string */
	cbor[1] = (unsigned char)n;
	memcpy(cbor + 2, raw, n);
	unsigned char msg[440];
	memcpy(msg, raw, n);
	memcpy(msg + n, cdh, 32);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key), 1);
	assert_int_equal(EVP_DigestSign(md, sig, &siglen, msg, n + 32), 1);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	memcpy(pk, x, 32);
	memcpy(pk + 32, y, 32);
	char s_ad[600], s_cdh[64], s_sig[200], s_pk[100];
	b64(cbor, n + 2, s_ad);
	b64(cdh, 32, s_cdh);
	b64(sig, siglen, s_sig);
	b64(pk, 64, s_pk);
	b64(id, sizeof(id), id_b64);
	json_t *o =
	    json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:i,s:s,s:b,s:s,s:{s:s,s:s,s:s,s:s}}}",
	              "registration_id", reg_id, "user", user, "label", "窓口の鍵", "credential",
	              "id", id_b64, "public_key", s_pk, "cose_alg", -7, "rp_id", "mynaguard", "uv",
	              1, "aaguid", "00112233445566778899aabbccddeeff", "attestation", "fmt",
	              "packed", "authdata", s_ad, "clientdata_hash", s_cdh, "sig", s_sig);
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

/* One staff-register request straight to the agent's control socket: its answer. */
static json_t *register_raw(struct sc *sc, const char *registration)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	assert_true(strlen(sc->sock) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, sc->sock, strlen(sc->sock) + 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	char *req = NULL;
	assert_true(
	    asprintf(&req, "{\"cmd\":\"staff-register\",\"registration\":%s}\n", registration) > 0);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	free(req);
	char buf[8192];
	size_t n = 0;
	ssize_t k;
	while (n < sizeof(buf) - 1 && (k = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0) {
		n += (size_t)k;
		if (memchr(buf, '\n', n))
			break;
	}
	close(fd);
	buf[n] = '\0';
	json_t *a = json_loads(buf, JSON_DISABLE_EOF_CHECK, NULL);
	assert_non_null(a);
	return a;
}

/* staff-register: through the uplink to the collector, its answer back in words. */
static void test_staff_register_reaches_collector(void **state)
{
	struct sc *sc = *state;
	struct run r;
	char file[300];
	snprintf(file, sizeof(file), "%s/registration.json", sc->dir);
	write_file(file,
	           "{\"registration_id\":\"term-a.1\",\"user\":\"suzuki@city.local\",\"label\":"
	           "\"key-1\",\"credential\":{\"id\":\"AQID\",\"public_key\":\"cHVibGljLWtleQ==\","
	           "\"cose_alg\":-7,\"rp_id\":\"mynaguard\",\"uv\":true,\"aaguid\":"
	           "\"0123456789abcdef0123456789abcdef\",\"attestation\":{\"fmt\":\"none\","
	           "\"authdata\":\"AQIDBA==\",\"clientdata_hash\":"
	           "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}}}",
	           0600);
	start_agent(sc);
	/* Not enrolled: refused by the agent, nothing sent. */
	CTL(sc, &r, "staff-register", "--file", file);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "not enrolled"));
	run_free(&r);
	(void)enroll_agent(sc);
	/* Self attestation ("none") proves nothing: the collector refuses it (422) and its words
	 * come back through uplink and agent. */
	CTL(sc, &r, "staff-register", "--file", file);
	if (r.status != 1 ||
	    !strstr(r.err, "staff registration failed: the collector answered 422: attestation"))
		FAIL_WITH_LOG(sc, "staff-register: status %d, '%s'", r.status, r.err);
	run_free(&r);
	/* A good registration for someone the registry does not know: 404 in its words. */
	char id_b64[64];
	char *reg = registration("term-a.nobody.1", "Tanaka", id_b64);
	write_file(file, reg, 0600);
	free(reg);
	CTL(sc, &r, "staff-register", "--file", file);
	if (r.status != 1 || !strstr(r.err, "the collector answered 404: no staff member Tanaka"))
		FAIL_WITH_LOG(sc, "staff-register: status %d, '%s'", r.status, r.err);
	run_free(&r);
	/* The agent's answer carries the collector's status, so that mynaguard-enroll can say
	 * in the person's language what went wrong. */
	char *again = read_all(file, NULL);
	json_t *a = register_raw(sc, again);
	free(again);
	assert_true(json_is_false(json_object_get(a, "ok")));
	assert_int_equal(json_integer_value(json_object_get(a, "status")), 404);
	json_decref(a);
	/* A malformed registration is refused before anything is sent. */
	write_file(file, "{\"registration_id\":\"r\",\"user\":\"a/b\"}", 0600);
	CTL(sc, &r, "staff-register", "--file", file);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "registration"));
	run_free(&r);
	agent_stop(sc);
}

/* Syncs until staff.db has user with (want) or without (!want) the credential id. */
static void sync_until(struct sc *sc, const char *user, const char *id_b64, bool want)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/staff.db", sc->state);
	int64_t deadline = mono_ms() + 20000;
	for (;;) {
		struct run r;
		CTL(sc, &r, "sync");
		run_free(&r);
		struct stat st;
		size_t len = 0;
		char *db = stat(path, &st) == 0 ? read_all(path, &len) : NULL;
		struct mg_staff_entry e;
		bool has = db && mg_staff_db_find(db, len, user, &e) == 0 &&
		           memmem(e.record, e.record_len, id_b64, strlen(id_b64)) != NULL;
		free(db);
		if (has == want)
			return;
		if (mono_ms() > deadline)
			FAIL_WITH_LOG(sc, "staff.db: %s %s credential %s", user,
			              want ? "never got" : "still has", id_b64);
		sleep_ms(200);
	}
}

/* Registered at this terminal, approved on the collector: in staff.db after one poll; revoked:
 * gone after the next. Directory-style name. */
static void test_register_approve_revoke(void **state)
{
	struct sc *sc = *state;
	static const char user[] = "suzuki@city.local";
	struct run r;
	json_t *a = NULL;
	start_agent(sc);
	(void)enroll_agent(sc);
	long st = admin("POST", "/v1/admin/staff",
	                "{\"login\":\"suzuki@city.local\",\"display_name\":\"鈴木 花子\","
	                "\"department\":\"市民課\"}",
	                NULL);
	assert_true(st == 200 || st == 201);

	char id_b64[64], file[300];
	char *reg = registration("term-a.suzuki.1", user, id_b64);
	snprintf(file, sizeof(file), "%s/registration.json", sc->dir);
	write_file(file, reg, 0600);
	free(reg);
	CTL(sc, &r, "staff-register", "--file", file);
	if (r.status != 0)
		FAIL_WITH_LOG(sc, "staff-register: %s", r.err);
	const char *p = strstr(r.out, "(id ");
	assert_non_null(p);
	long long key_id = strtoll(p + 4, NULL, 10);
	assert_true(key_id > 0);
	assert_non_null(strstr(r.out, "pending"));
	run_free(&r);
	/* The same registration again (a retry): the same id. */
	CTL(sc, &r, "staff-register", "--file", file);
	assert_int_equal(r.status, 0);
	p = strstr(r.out, "(id ");
	assert_non_null(p);
	assert_int_equal(strtoll(p + 4, NULL, 10), key_id);
	run_free(&r);
	/* Pending: on no terminal, not even the one it was made on. */
	sync_until(sc, user, id_b64, false);
	char path[300];
	snprintf(path, sizeof(path), "/v1/admin/staff/keys/%lld/approve", key_id);
	assert_int_equal(admin("POST", path, NULL, &a), 200);
	json_decref(a);
	sync_until(sc, user, id_b64, true);
	/* Revoked: gone after the next poll. */
	snprintf(path, sizeof(path), "/v1/admin/staff/keys/%lld/revoke", key_id);
	assert_int_equal(admin("POST", path, NULL, &a), 200);
	json_decref(a);
	sync_until(sc, user, id_b64, false);
	agent_stop(sc);
}

int main(void)
{
	if (pipeline_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_staff_db_from_kept_bundle, sc_setup, sc_teardown),
	    cmocka_unit_test_setup_teardown(test_staff_register_reaches_collector, sc_setup,
	                                    sc_teardown),
	    cmocka_unit_test_setup_teardown(test_register_approve_revoke, sc_setup, sc_teardown),
	};
	return api_main("pipeline_staff", tests, sizeof(tests) / sizeof(tests[0]));
}
