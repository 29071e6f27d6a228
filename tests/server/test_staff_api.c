/*
 * The staff registry over HTTPS (issue 15): a real collector (api_harness.c), two enrolled
 * terminals A and B, admin / approver / auditor sessions. A staff key registration carries a
 * real packed self attestation made here with OpenSSL (ES256 key, authenticator data as
 * CTAP2 builds it, signature over authData || clientDataHash) that libfido2 verifies on the
 * collector. Asserts HTTP answers, the signed per-host bundles terminal B downloads (parsed
 * with the terminals' parser) and the admin action log.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "api_harness.h"
#include "mg/policy_bundle.h"
#include "mg/time.h"

#define APPROVER    "approver-1"
#define PW_APPROVER "approver password 1"
#define AUDITOR     "auditor-1"
#define PW_AUDITOR  "auditor password 1"

static char g_tok[64], g_tok_approver[64], g_tok_auditor[64];
static char g_key_a[PATH_MAX], g_cert_a[PATH_MAX], g_key_b[PATH_MAX], g_cert_b[PATH_MAX];
static int64_t g_tanaka, g_suzuki;

/* ---- helpers ---- */

static long call(const char *method, const char *path, const char *token, json_t *o,
                 json_t **answer)
{
	char auth[128], *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	const char *headers[] = {auth, NULL};
	struct api_reply r = {0};
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	long st = api_call(method, path, headers, body, body ? strlen(body) : 0, NULL, NULL, &r);
	if (answer) {
		*answer = r.json;
		r.json = NULL;
	}
	api_reply_free(&r);
	free(body);
	json_decref(o);
	return st;
}

static void login(const char *name, const char *pw, char *tok)
{
	json_t *a = NULL;
	assert_int_equal(call("POST", "/v1/admin/login", "",
	                      json_pack("{s:s,s:s}", "name", name, "password", pw), &a),
	                 200);
	snprintf(tok, 64, "%s", json_string_value(json_object_get(a, "token")));
	json_decref(a);
}

static void b64(const unsigned char *p, size_t n, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, p, (int)n);
}

/* A registration body with a real packed self attestation for user, rp "mynaguard". */
struct cred {
	unsigned char id[32], x[32], y[32];
	char id_b64[64];
};

/* body_uv: what the body claims; the authenticator data's UV flag is flag_uv. */
static json_t *registration_uv(const char *reg_id, const char *user, struct cred *c, bool body_uv,
                               bool flag_uv)
{
	static const unsigned char aaguid[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
	                                         0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
	unsigned char raw[400], cbor[404], cdh[32], pk[64], sig[128];
	size_t n = 0, siglen = sizeof(sig);
	unsigned int hl = 0;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	BIGNUM *bx = NULL, *by = NULL;
	assert_non_null(key);
	assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &bx), 1);
	assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &by), 1);
	assert_int_equal(BN_bn2binpad(bx, c->x, 32), 32);
	assert_int_equal(BN_bn2binpad(by, c->y, 32), 32);
	BN_free(bx);
	BN_free(by);
	assert_int_equal(RAND_bytes(c->id, sizeof(c->id)), 1);
	assert_int_equal(RAND_bytes(cdh, sizeof(cdh)), 1);
	/* authData: rpIdHash, flags (UP, AT, UV), counter, attested credential data. */
	assert_int_equal(EVP_Digest("mynaguard", 9, raw, &hl, EVP_sha256(), NULL), 1);
	n = 32;
	raw[n++] = (unsigned char)(0x41 | (flag_uv ? 0x04 : 0));
	memset(raw + n, 0, 4);
	n += 4;
	memcpy(raw + n, aaguid, 16);
	n += 16;
	raw[n++] = 0;
	raw[n++] = sizeof(c->id);
	memcpy(raw + n, c->id, sizeof(c->id));
	n += sizeof(c->id);
	/* COSE_Key {1: 2, 3: -7, -1: 1, -2: x, -3: y} */
	static const unsigned char cose_head[] = {0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01};
	memcpy(raw + n, cose_head, sizeof(cose_head));
	n += sizeof(cose_head);
	raw[n++] = 0x21;
	raw[n++] = 0x58;
	raw[n++] = 32;
	memcpy(raw + n, c->x, 32);
	n += 32;
	raw[n++] = 0x22;
	raw[n++] = 0x58;
	raw[n++] = 32;
	memcpy(raw + n, c->y, 32);
	n += 32;
	/* libfido2's fido_cred_authdata(): the CBOR byte string. */
	cbor[0] = 0x58;
	cbor[1] = (unsigned char)n;
	memcpy(cbor + 2, raw, n);
	/* Self attestation: the credential key signs authData || clientDataHash. */
	unsigned char msg[440];
	memcpy(msg, raw, n);
	memcpy(msg + n, cdh, 32);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key), 1);
	assert_int_equal(EVP_DigestSign(md, sig, &siglen, msg, n + 32), 1);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	memcpy(pk, c->x, 32);
	memcpy(pk + 32, c->y, 32);

	char s_ad[600], s_cdh[64], s_sig[200], s_pk[100];
	b64(cbor, n + 2, s_ad);
	b64(cdh, 32, s_cdh);
	b64(sig, siglen, s_sig);
	b64(pk, 64, s_pk);
	b64(c->id, sizeof(c->id), c->id_b64);
	return json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:i,s:s,s:b,s:s,s:{s:s,s:s,s:s,s:s}}}",
	                 "registration_id", reg_id, "user", user, "label", "key-1", "credential",
	                 "id", c->id_b64, "public_key", s_pk, "cose_alg", -7, "rp_id", "mynaguard",
	                 "uv", body_uv, "aaguid", "00112233445566778899aabbccddeeff", "attestation",
	                 "fmt", "packed", "authdata", s_ad, "clientdata_hash", s_cdh, "sig", s_sig);
}

static json_t *registration(const char *reg_id, const char *user, struct cred *c, bool uv)
{
	return registration_uv(reg_id, user, c, uv, uv);
}

/* POST /v1/staff/registrations from terminal A; the status, the answer (optional). */
static long file_reg(json_t *body, json_t **answer)
{
	char *s = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	long st = post("/v1/staff/registrations", s, strlen(s), g_cert_a, g_key_a, answer);
	free(s);
	return st;
}

static void expect_reg(json_t *body, long status, const char *want)
{
	json_t *a = NULL;
	long st = file_reg(body, &a);
	if (st != status || !strstr(err_of(a), want))
		fail_msg("registration: status %ld (%s), expected %ld (%s)", st, err_of(a), status,
		         want);
	json_decref(a);
}

/* The staff member login in the bundle terminal B downloads now (NULL when absent); the
 * bundle in *out (free it). */
static json_t *staff_at_b(const char *login, struct mg_policy_bundle **out)
{
	struct api_reply r = {0};
	char err[256] = "";
	assert_int_equal(api_call("GET", "/v1/policy", NULL, NULL, 0, g_cert_b, g_key_b, &r), 200);
	json_t *jb = json_object_get(r.json, "bundle");
	assert_true(json_is_string(jb));
	int rc = mg_policy_bundle_parse(json_string_value(jb), json_string_length(jb), out, err,
	                                sizeof(err));
	if (rc != 0)
		fail_msg("bundle refused by the terminals' parser: %s", err);
	api_reply_free(&r);
	return (*out)->staff ? json_object_get((*out)->staff, login) : NULL;
}

static bool has_cred(json_t *m, const char *id)
{
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(m, "credentials"), i, v)
	{
		if (strcmp(json_string_value(json_object_get(v, "id")), id) == 0)
			return true;
	}
	return false;
}

static bool logged(const char *action)
{
	json_t *a = NULL, *v;
	size_t i;
	bool found = false;
	assert_int_equal(call("GET", "/v1/admin/audit", g_tok, NULL, &a), 200);
	json_array_foreach(json_object_get(a, "actions"), i, v)
	{
		const char *x = json_string_value(json_object_get(v, "action"));
		if (x && strcmp(x, action) == 0)
			found = true;
	}
	json_decref(a);
	return found;
}

/* ---- tests (in order, on one collector) ---- */

static void test_setup_roles(void **state)
{
	json_t *a = NULL;
	struct mg_policy_bundle *b = NULL;
	(void)state;
	login(ADMIN_NAME, ADMIN_PASSWORD, g_tok);
	assert_int_equal(call("POST", "/v1/admin/admins", g_tok,
	                      json_pack("{s:s,s:s,s:s}", "name", APPROVER, "password", PW_APPROVER,
	                                "role", "approver"),
	                      NULL),
	                 201);
	assert_int_equal(call("POST", "/v1/admin/admins", g_tok,
	                      json_pack("{s:s,s:s,s:s}", "name", AUDITOR, "password", PW_AUDITOR,
	                                "role", "auditor"),
	                      NULL),
	                 201);
	login(APPROVER, PW_APPROVER, g_tok_approver);
	login(AUDITOR, PW_AUDITOR, g_tok_auditor);
	assert_true(enroll("term-a", g_key_a, g_cert_a) > 0);
	assert_true(enroll("term-b", g_key_b, g_cert_b) > 0);

	/* No staff yet: bundles carry no "staff" member. */
	assert_null(staff_at_b("Tanaka", &b));
	assert_null(b->staff);
	mg_policy_bundle_free(&b);

	/* Only admin manages staff. */
	assert_int_equal(call("POST", "/v1/admin/staff", g_tok_approver,
	                      json_pack("{s:s}", "login", "Tanaka"), NULL),
	                 403);
	assert_int_equal(call("POST", "/v1/admin/staff", g_tok_auditor,
	                      json_pack("{s:s}", "login", "Tanaka"), NULL),
	                 403);
	assert_int_equal(call("POST", "/v1/admin/staff", g_tok,
	                      json_pack("{s:s,s:s,s:s}", "login", "Tanaka", "display_name",
	                                "田中 太郎", "department", "市民課"),
	                      &a),
	                 201);
	g_tanaka = (int64_t)json_integer_value(json_object_get(a, "id"));
	assert_true(json_integer_value(json_object_get(a, "policy_version")) > 0);
	json_decref(a);
	assert_int_equal(call("POST", "/v1/admin/staff", g_tok,
	                      json_pack("{s:s}", "login", "suzuki@city.local"), &a),
	                 201);
	g_suzuki = (int64_t)json_integer_value(json_object_get(a, "id"));
	json_decref(a);
	assert_int_equal(
	    call("POST", "/v1/admin/staff", g_tok, json_pack("{s:s}", "login", "Tanaka"), NULL),
	    409);
	assert_int_equal(
	    call("POST", "/v1/admin/staff", g_tok, json_pack("{s:s}", "login", "../etc"), NULL),
	    400);
	assert_int_equal(call("POST", "/v1/admin/staff", g_tok,
	                      json_pack("{s:s,s:s}", "login", "x", "bogus", "y"), NULL),
	                 400);
	/* Every role reads. */
	assert_int_equal(call("GET", "/v1/admin/staff", g_tok_auditor, NULL, &a), 200);
	assert_int_equal(json_array_size(json_object_get(a, "staff")), 2);
	json_decref(a);
	assert_true(logged("staff.add"));
}

static void test_registration(void **state)
{
	struct cred c1, c2, c3;
	json_t *a = NULL, *body;
	(void)state;
	/* Without a client certificate. */
	body = registration("r0", "Tanaka", &c1, true);
	char *s = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	assert_int_equal(post("/v1/staff/registrations", s, strlen(s), NULL, NULL, NULL), 401);
	free(s);
	/* Unknown staff, malformed body, bad names. */
	expect_reg(registration("r1", "Nobody", &c1, true), 404,
	           "no staff member Nobody: an administrator adds staff first");
	expect_reg(json_pack("{s:s}", "registration_id", "r1"), 400, "");
	body = registration("r1", "Tanaka", &c1, true);
	json_object_set_new(body, "extra", json_true());
	expect_reg(body, 400, "extra: unknown key");
	body = registration("r1", "Tanaka", &c1, true);
	json_object_set_new(body, "user", json_string("a/b"));
	expect_reg(body, 400, "user");
	/* An attestation that does not verify: a changed signature, a public key that is not the
	 * attested one, a UV claim the authenticator data does not carry, fmt none. */
	body = registration("r1", "Tanaka", &c1, true);
	json_t *att = json_object_get(json_object_get(body, "credential"), "attestation");
	char sig[200];
	snprintf(sig, sizeof(sig), "%s", json_string_value(json_object_get(att, "sig")));
	sig[10] = sig[10] == 'A' ? 'B' : 'A';
	json_object_set_new(att, "sig", json_string(sig));
	expect_reg(body, 422, "does not verify");
	body = registration("r1", "Tanaka", &c1, true);
	json_decref(registration("rx", "Tanaka", &c2, true)); /* another key's public key */
	unsigned char pk2[64];
	char s_pk2[100];
	memcpy(pk2, c2.x, 32);
	memcpy(pk2 + 32, c2.y, 32);
	b64(pk2, 64, s_pk2);
	json_object_set_new(json_object_get(body, "credential"), "public_key", json_string(s_pk2));
	expect_reg(body, 422, "public_key");
	body = registration("r1", "Tanaka", &c1, false);
	json_object_set_new(json_object_get(body, "credential"), "uv", json_true());
	expect_reg(body, 422, "");

	/* A good one: pending (201), the same retry answers the same (200). */
	body = registration("r1", "Tanaka", &c1, true);
	json_t *again = json_deep_copy(body), *orig = json_deep_copy(body);
	assert_int_equal(file_reg(body, &a), 201);
	int64_t k1 = (int64_t)json_integer_value(json_object_get(a, "id"));
	assert_string_equal(json_string_value(json_object_get(a, "state")), "pending");
	json_decref(a);
	assert_int_equal(file_reg(again, &a), 200);
	assert_int_equal(json_integer_value(json_object_get(a, "id")), k1);
	json_decref(a);
	/* The same credential again, as another registration of another member: 409. */
	body = json_deep_copy(orig);
	json_object_set_new(body, "registration_id", json_string("r2"));
	json_object_set_new(body, "user", json_string("suzuki@city.local"));
	expect_reg(body, 409, "credential id already registered");
	/* Another key's credential id under this attestation: 422. */
	body = registration("r2", "suzuki@city.local", &c3, true);
	json_object_set_new(json_object_get(body, "credential"), "id", json_string(c1.id_b64));
	expect_reg(body, 422, "credential.id");
	/* The pending key is not in any bundle. */
	struct mg_policy_bundle *b = NULL;
	json_t *m = staff_at_b("Tanaka", &b);
	assert_non_null(m);
	assert_false(has_cred(m, c1.id_b64));
	mg_policy_bundle_free(&b);

	/* Approve: only approver (or admin); then terminal B's next bundle has it. */
	assert_int_equal(call("GET", "/v1/admin/staff/keys?state=pending", g_tok_auditor, NULL, &a),
	                 200);
	assert_int_equal(json_array_size(json_object_get(a, "keys")), 1);
	json_decref(a);
	char path[128];
	snprintf(path, sizeof(path), "/v1/admin/staff/keys/%lld/approve", (long long)k1);
	assert_int_equal(call("POST", path, g_tok_auditor, NULL, NULL), 403);
	assert_int_equal(call("POST", path, g_tok_approver, NULL, &a), 200);
	assert_true(json_integer_value(json_object_get(a, "policy_version")) > 0);
	json_decref(a);
	assert_int_equal(call("POST", path, g_tok_approver, NULL, NULL), 409);
	m = staff_at_b("Tanaka", &b);
	assert_true(has_cred(m, c1.id_b64));
	mg_policy_bundle_free(&b);

	/* A second key for Tanaka, approved; then the first one's id again: 409. */
	assert_int_equal(file_reg(registration("r3", "Tanaka", &c2, true), &a), 201);
	int64_t k2 = (int64_t)json_integer_value(json_object_get(a, "id"));
	json_decref(a);
	snprintf(path, sizeof(path), "/v1/admin/staff/keys/%lld/approve", (long long)k2);
	assert_int_equal(call("POST", path, g_tok_approver, NULL, NULL), 200);
	/* registration_id reused with other content: 409. */
	expect_reg(registration("r3", "Tanaka", &c3, true), 409, "already");
	/* The registry's uv is what the key attested (it verified its user: a PIN is set), not
	 * what the terminal claimed: claimed false but attested true is recorded true (and its
	 * logins then ask for the PIN); without the flag it is false. */
	struct cred c4, c5;
	assert_int_equal(file_reg(registration_uv("r6", "suzuki@city.local", &c4, false, true), &a),
	                 201);
	int64_t k4 = (int64_t)json_integer_value(json_object_get(a, "id"));
	json_decref(a);
	assert_int_equal(
	    file_reg(registration_uv("r7", "suzuki@city.local", &c5, false, false), &a), 201);
	int64_t k5 = (int64_t)json_integer_value(json_object_get(a, "id"));
	json_decref(a);
	assert_int_equal(call("GET", "/v1/admin/staff/keys?state=pending", g_tok_auditor, NULL, &a),
	                 200);
	size_t seen = 0, ki;
	json_t *key;
	json_array_foreach(json_object_get(a, "keys"), ki, key)
	{
		json_int_t id = json_integer_value(json_object_get(key, "id"));
		if (id == k4 || id == k5) {
			assert_true(json_is_boolean(json_object_get(key, "uv")));
			assert_int_equal(json_is_true(json_object_get(key, "uv")), id == k4);
			seen++;
		}
	}
	assert_int_equal(seen, 2);
	json_decref(a);

	/* Revoke the first: only admin; B's next bundle drops it and keeps the second. */
	snprintf(path, sizeof(path), "/v1/admin/staff/keys/%lld/revoke", (long long)k1);
	assert_int_equal(call("POST", path, g_tok_approver, NULL, NULL), 403);
	assert_int_equal(call("POST", path, g_tok, NULL, NULL), 200);
	m = staff_at_b("Tanaka", &b);
	assert_false(has_cred(m, c1.id_b64));
	assert_true(has_cred(m, c2.id_b64));
	mg_policy_bundle_free(&b);
	/* A revoked credential cannot be registered again. */
	json_object_set_new(orig, "registration_id", json_string("r4"));
	expect_reg(orig, 409, "credential id already registered");

	/* Central unlock: unlocked_at in the next bundle. */
	int64_t before = mg_now_us();
	snprintf(path, sizeof(path), "/v1/admin/staff/%lld/unlock", (long long)g_tanaka);
	assert_int_equal(call("POST", path, g_tok_approver, NULL, NULL), 403);
	assert_int_equal(call("POST", path, g_tok, NULL, NULL), 200);
	m = staff_at_b("Tanaka", &b);
	int64_t at = 0;
	assert_int_equal(mg_time_parse(json_string_value(json_object_get(m, "unlocked_at")), &at),
	                 0);
	assert_true(at >= before);
	mg_policy_bundle_free(&b);

	/* Disable: marked disabled without credentials; registrations refused (403). */
	snprintf(path, sizeof(path), "/v1/admin/staff/%lld/disable", (long long)g_tanaka);
	assert_int_equal(call("POST", path, g_tok, NULL, NULL), 200);
	assert_int_equal(call("POST", path, g_tok, NULL, NULL), 409);
	m = staff_at_b("Tanaka", &b);
	assert_string_equal(json_string_value(json_object_get(m, "state")), "disabled");
	assert_int_equal(json_array_size(json_object_get(m, "credentials")), 0);
	mg_policy_bundle_free(&b);
	expect_reg(registration("r5", "Tanaka", &c3, true), 403, "disabled");
	snprintf(path, sizeof(path), "/v1/admin/staff/%lld/enable", (long long)g_tanaka);
	assert_int_equal(call("POST", path, g_tok, NULL, NULL), 200);
	m = staff_at_b("Tanaka", &b);
	assert_true(has_cred(m, c2.id_b64));
	mg_policy_bundle_free(&b);

	/* The member with keys, as every role sees it. */
	snprintf(path, sizeof(path), "/v1/admin/staff/%lld", (long long)g_tanaka);
	assert_int_equal(call("GET", path, g_tok_auditor, NULL, &a), 200);
	assert_string_equal(json_string_value(json_object_get(a, "login")), "Tanaka");
	assert_int_equal(json_array_size(json_object_get(a, "keys")), 2);
	json_decref(a);
	assert_int_equal(call("GET", "/v1/admin/staff/999", g_tok, NULL, NULL), 404);

	assert_true(logged("staff.key_approve"));
	assert_true(logged("staff.key_revoke"));
	assert_true(logged("staff.unlock"));
	assert_true(logged("staff.disable"));
	assert_true(logged("staff.enable"));
	(void)g_suzuki;
}

/* mynaguard-collector staff ... against the same database; stdout into out. */
static int staff_cli(char *out, size_t size, const char *sub, const char *a1, const char *a2,
                     const char *a3)
{
	const char *args[16] = {"staff", sub, "--data-dir", g_dir, "--db", g_db};
	size_t n = 6;
	if (a1)
		args[n++] = a1;
	if (a2)
		args[n++] = a2;
	if (a3)
		args[n++] = a3;
	return runv(out, size, args);
}

/* Terminal B's bundle once its version is above *seen (the collector re-reads the latest
 * version a change made by another process publishes within a second); updates *seen. */
static json_t *staff_at_b_next(const char *login, struct mg_policy_bundle **out, uint64_t *seen)
{
	for (int i = 0; i < 50; i++) {
		json_t *m = staff_at_b(login, out);
		if ((*out)->version > *seen) {
			*seen = (*out)->version;
			return m;
		}
		mg_policy_bundle_free(out);
		usleep(100000);
	}
	fail_msg("terminal B saw no version above %llu", (unsigned long long)*seen);
	return NULL;
}

static void test_cli(void **state)
{
	static char out[65536];
	struct mg_policy_bundle *b = NULL;
	uint64_t seen = 0;
	(void)state;
	staff_at_b("Tanaka", &b);
	seen = b->version;
	mg_policy_bundle_free(&b);
	unsetenv("LC_ALL");
	unsetenv("LANG");
	unsetenv("LC_MESSAGES");
	/* add: Japanese by default, published at once (terminal B sees the member). */
	assert_int_equal(staff_cli(out, sizeof(out), "add", "--login", "sato.k@city.local", NULL),
	                 0);
	assert_non_null(strstr(out, "職員 sato.k@city.local を追加しました"));
	assert_non_null(strstr(out, "ポリシー版"));
	json_t *m = staff_at_b_next("sato.k@city.local", &b, &seen);
	assert_non_null(m);
	assert_string_equal(json_string_value(json_object_get(m, "state")), "active");
	mg_policy_bundle_free(&b);
	/* English with the locale; a taken login and a bad one fail (exit 1, 2). */
	setenv("LC_ALL", "en_US.UTF-8", 1);
	assert_int_equal(staff_cli(out, sizeof(out), "add", "--login", "sato.k@city.local", NULL),
	                 1);
	assert_int_equal(staff_cli(out, sizeof(out), "add", "--login", "-bad", NULL), 1);
	assert_int_equal(staff_cli(out, sizeof(out), "add", NULL, NULL, NULL), 2);
	assert_int_equal(staff_cli(out, sizeof(out), "frobnicate", NULL, NULL, NULL), 2);
	/* list --json: one object per line, Tanaka among them. */
	assert_int_equal(staff_cli(out, sizeof(out), "list", "--json", NULL, NULL), 0);
	assert_non_null(strstr(out, "\"login\":\"Tanaka\""));
	assert_non_null(strstr(out, "\"login\":\"sato.k@city.local\""));
	/* show with keys; disable / enable / unlock by login; revoke-key by id. */
	assert_int_equal(staff_cli(out, sizeof(out), "show", "Tanaka", "--json", NULL), 0);
	assert_non_null(strstr(out, "\"state\":\"active\",\"uv\":true"));
	assert_int_equal(staff_cli(out, sizeof(out), "disable", "sato.k@city.local", NULL, NULL),
	                 0);
	assert_non_null(strstr(out, "disabled; policy version"));
	m = staff_at_b_next("sato.k@city.local", &b, &seen);
	assert_string_equal(json_string_value(json_object_get(m, "state")), "disabled");
	mg_policy_bundle_free(&b);
	assert_int_equal(staff_cli(out, sizeof(out), "disable", "sato.k@city.local", NULL, NULL),
	                 1);
	assert_int_equal(staff_cli(out, sizeof(out), "enable", "sato.k@city.local", NULL, NULL), 0);
	m = staff_at_b_next("sato.k@city.local", &b, &seen);
	assert_string_equal(json_string_value(json_object_get(m, "state")), "active");
	mg_policy_bundle_free(&b);
	assert_int_equal(staff_cli(out, sizeof(out), "unlock", "sato.k@city.local", NULL, NULL), 0);
	m = staff_at_b_next("sato.k@city.local", &b, &seen);
	assert_non_null(json_object_get(m, "unlocked_at"));
	mg_policy_bundle_free(&b);
	assert_int_equal(staff_cli(out, sizeof(out), "unlock", "Nobody", NULL, NULL), 1);
	assert_int_equal(staff_cli(out, sizeof(out), "approve", "99999", NULL, NULL), 1);
	assert_int_equal(staff_cli(out, sizeof(out), "revoke-key", "x", NULL, NULL), 2);
	unsetenv("LC_ALL");
	/* The CLI's changes are in the admin action log as cli.<user>. */
	assert_true(logged("staff.disable"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_setup_roles),
	    cmocka_unit_test(test_registration),
	    cmocka_unit_test(test_cli),
	};
	return api_main("staff api", tests, sizeof(tests) / sizeof(tests[0]));
}
