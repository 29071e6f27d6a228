/*
 * The admin API core end to end over HTTPS (api_admin.c, api_admin_accounts.c,
 * api_admin_hosts.c) on the harness of api_harness.h: login and sessions, the route table and
 * the role check, admin accounts, enrolment tokens, hosts, the device ledger, tamper alerts and
 * the audit log. Outcomes are checked in the answers and in the database. The collector hashes
 * at production Argon2id cost, so the tests log in only a few times.
 */
#include <errno.h>
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
#include "api.h"
#include "router.h"
#include "api_harness.h"
#include "login_guard.h"
#include "api_body.h"
#include "mg/time.h"
#include "store.h"
#include "store_testgen.h"

#define APPROVER     "approver-1"
#define AUDITOR      "auditor.1@city"
#define PW_APPROVER  "approver password 1"
#define PW_AUDITOR   "auditor password 1"
#define PW_AUDITOR_2 "auditor password two"
#define BOOT         "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"

static char g_tok[MG_ADMIN_TOKEN_SIZE];          /* ADMIN_NAME's session */
static char g_tok_approver[MG_ADMIN_TOKEN_SIZE]; /* APPROVER's session */
static char g_tok_auditor[MG_ADMIN_TOKEN_SIZE];  /* AUDITOR's session */
static int64_t g_admin_id, g_approver_id, g_auditor_id;
static int64_t g_host_a, g_host_b; /* enrolled with a token made through the API */
static char g_key_b[PATH_MAX], g_cert_b[PATH_MAX];

/* ---- helpers ---- */

/* method path with token (NULL: none) and body (NULL: none); the status, the answer (optional),
 * the reply (optional, for headers). */
static long call_raw(const char *method, const char *path, const char *token, const char *body,
                     size_t len, json_t **answer, struct api_reply *reply)
{
	char auth[128];
	const char *headers[] = {auth, NULL};
	struct api_reply r = {0};
	long st;
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token ? token : "");
	st = api_call(method, path, token ? headers : NULL, body, len, NULL, NULL, &r);
	if (answer) {
		*answer = r.json;
		r.json = NULL;
	}
	if (reply)
		*reply = r;
	else
		api_reply_free(&r);
	return st;
}

/* The same with a JSON body o (consumed; NULL: no body). */
static long call(const char *method, const char *path, const char *token, json_t *o,
                 json_t **answer)
{
	char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	long st;
	assert_true(!o || body);
	st = call_raw(method, path, token, body, body ? strlen(body) : 0, answer, NULL);
	free(body);
	json_decref(o);
	return st;
}

/* Logs in; the status, and the token into tok when 200. */
static long login(const char *name, const char *pw, char tok[MG_ADMIN_TOKEN_SIZE])
{
	json_t *a = NULL;
	long st = call("POST", "/v1/admin/login", NULL,
	               json_pack("{s:s,s:s}", "name", name, "password", pw), &a);
	if (st == 200) {
		const char *t = json_string_value(json_object_get(a, "token"));
		assert_non_null(t);
		assert_int_equal(strlen(t), MG_ADMIN_TOKEN_SIZE - 1);
		memcpy(tok, t, MG_ADMIN_TOKEN_SIZE);
	}
	json_decref(a);
	return st;
}

static int64_t int_of(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	assert_true(json_is_integer(v));
	return (int64_t)json_integer_value(v);
}

static const char *str_of(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	assert_non_null(s);
	return s;
}

/* An RFC 3339 member as microseconds. */
static int64_t time_of(json_t *o, const char *key)
{
	int64_t us = 0;
	assert_int_equal(mg_time_parse(str_of(o, key), &us), 0);
	return us;
}

/* The answer's error contains want. */
static void assert_error(json_t *a, const char *want)
{
	if (!strstr(err_of(a), want))
		fail_msg("error \"%s\" does not contain \"%s\"", err_of(a), want);
}

/* status of a POST of the raw body to path as the admin, and that the error contains want. */
static void bad_body(const char *path, const char *body, long status, const char *want)
{
	json_t *a = NULL;
	long st = call_raw("POST", path, g_tok, body, strlen(body), &a, NULL);
	if (st != status)
		fail_msg("%s %.60s: status %ld, expected %ld (%s)", path, body, st, status,
		         err_of(a));
	assert_error(a, want);
	json_decref(a);
}

/* The account named name in GET admins. */
static json_t *find_admin(json_t *list, const char *name)
{
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(list, "admins"), i, v)
	{
		if (strcmp(str_of(v, "name"), name) == 0)
			return v;
	}
	return NULL;
}

/* Enrols a host named name with the enrolment token tok; its id (expect 200). */
static int64_t enroll_with(const char *tok, const char *name, char *keypath, char *certpath)
{
	EVP_PKEY *key = new_key();
	char *csr = make_csr(key);
	json_t *a = NULL;
	int64_t id;
	assert_int_equal(post_json("/v1/enroll", enroll_body(tok, csr, name), false, &a), 200);
	id = int_of(a, "host_id");
	snprintf(keypath, PATH_MAX, "%s/%s.key", g_dir, name);
	snprintf(certpath, PATH_MAX, "%s/%s.pem", g_dir, name);
	write_key(key, keypath);
	write_text(certpath, str_of(a, "certificate"));
	json_decref(a);
	free(csr);
	EVP_PKEY_free(key);
	return id;
}

/* Every admin action through GET audit, walking pages of limit; a JSON array. */
static json_t *audit_all(unsigned limit)
{
	json_t *all = json_array();
	int64_t after = 0;
	for (unsigned pages = 0;; pages++) {
		char path[96];
		json_t *a = NULL, *v;
		size_t i;
		assert_true(pages < 1000);
		snprintf(path, sizeof(path), "/v1/admin/audit?after=%lld&limit=%u",
		         (long long)after, limit);
		assert_int_equal(call("GET", path, g_tok, NULL, &a), 200);
		assert_true(json_array_size(json_object_get(a, "actions")) <= limit);
		json_array_foreach(json_object_get(a, "actions"), i, v)
		{
			assert_true(int_of(v, "id") > after);
			json_array_append(all, v);
		}
		if (json_is_null(json_object_get(a, "next_after"))) {
			json_decref(a);
			return all;
		}
		assert_int_equal(json_array_size(json_object_get(a, "actions")), limit);
		after = int_of(a, "next_after");
		json_decref(a);
	}
}

/* Number of actions in all with that action name by admin (NULL: anyone) on target (NULL:
 * any). */
static size_t count_actions(json_t *all, const char *action, const char *admin, const char *target)
{
	size_t i, n = 0;
	json_t *v;
	json_array_foreach(all, i, v)
	{
		const char *t = json_string_value(json_object_get(v, "target"));
		if (strcmp(str_of(v, "action"), action) == 0 &&
		    (!admin || strcmp(str_of(v, "admin"), admin) == 0) &&
		    (!target || (t && strcmp(t, target) == 0)))
			n++;
	}
	return n;
}

/* ---- tests (in order: later ones build on the stored state) ---- */

static void test_login(void **state)
{
	json_t *a = NULL, *b = NULL;
	struct api_reply r = {0};
	char hdr[128], msg[128];
	int64_t now = mg_now_us();
	(void)state;

	/* wrong password and unknown account: the same 401 */
	assert_int_equal(
	    call_raw("POST", "/v1/admin/login", NULL,
	             "{\"name\":\"" ADMIN_NAME "\",\"password\":\"wrong password!\"}",
	             strlen("{\"name\":\"" ADMIN_NAME "\",\"password\":\"wrong password!\"}"), &a,
	             &r),
	    401);
	assert_non_null(api_reply_header(&r, "WWW-Authenticate", hdr, sizeof(hdr)));
	assert_non_null(strstr(hdr, "Bearer"));
	api_reply_free(&r);
	assert_int_equal(call("POST", "/v1/admin/login", NULL,
	                      json_pack("{s:s,s:s}", "name", "nobody", "password", ADMIN_PASSWORD),
	                      &b),
	                 401);
	snprintf(msg, sizeof(msg), "%s", err_of(a));
	assert_true(msg[0] != '\0');
	assert_string_equal(err_of(b), msg);
	json_decref(a);
	json_decref(b);

	/* success */
	assert_int_equal(
	    call("POST", "/v1/admin/login", NULL,
	         json_pack("{s:s,s:s}", "name", ADMIN_NAME, "password", ADMIN_PASSWORD), &a),
	    200);
	assert_string_equal(str_of(a, "name"), ADMIN_NAME);
	assert_string_equal(str_of(a, "role"), "admin");
	assert_int_equal(strlen(str_of(a, "token")), 43);
	memcpy(g_tok, str_of(a, "token"), sizeof(g_tok));
	/* 30 minutes (the collector's session lifetime) from now */
	assert_true(time_of(a, "expires_at") > now + 29LL * 60 * 1000000);
	assert_true(time_of(a, "expires_at") < now + 31LL * 60 * 1000000);
	json_decref(a);

	/* malformed bodies: 400 naming the problem, and no password check */
	bad_body("/v1/admin/login", "{\"name\":\"x\",\"password\":", 400, "invalid JSON");
	bad_body("/v1/admin/login", "{\"name\":1,\"password\":\"p\"}", 400, "name");
	bad_body("/v1/admin/login", "{\"name\":\"a\",\"password\":\"p\",\"x\":1}", 400,
	         "x: unknown key");
	bad_body("/v1/admin/login", "{\"name\":\"a\"}", 400, "password: missing");
	bad_body("/v1/admin/login", "{\"name\":\"a\xff\",\"password\":\"p\"}", 400, "invalid JSON");
	bad_body("/v1/admin/login", "[1]", 400, "object");
	bad_body("/v1/admin/login", "{\"name\":\"a\",\"name\":\"b\",\"password\":\"p\"}", 400,
	         "invalid JSON");
}

static void test_auth(void **state)
{
	json_t *a = NULL;
	struct api_reply r = {0};
	char hdr[128], t[MG_ADMIN_TOKEN_SIZE], h[MG_ADMIN_TOKEN_HASH_SIZE];
	struct mg_store *s;
	struct mg_store_admin adm;
	int64_t now = mg_now_us(), exp = 0;
	(void)state;

	/* no token, a bogus one, another scheme: 401 with WWW-Authenticate */
	assert_int_equal(call_raw("GET", "/v1/admin/me", NULL, NULL, 0, &a, &r), 401);
	assert_non_null(api_reply_header(&r, "WWW-Authenticate", hdr, sizeof(hdr)));
	assert_error(a, "session token required");
	api_reply_free(&r);
	json_decref(a);
	assert_int_equal(call("GET", "/v1/admin/me", "bogus", NULL, &a), 401);
	assert_error(a, "invalid session");
	json_decref(a);
	assert_int_equal(
	    call("GET", "/v1/admin/me", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL, &a),
	    401);
	json_decref(a);
	{
		char auth[128];
		const char *headers[] = {auth, NULL};
		snprintf(auth, sizeof(auth), "Authorization: Basic %s", g_tok);
		assert_int_equal(
		    api_call("GET", "/v1/admin/me", headers, NULL, 0, NULL, NULL, NULL), 401);
	}
	/* the rest of the API is behind the session too */
	assert_int_equal(call("GET", "/v1/admin/hosts", NULL, NULL, NULL), 401);
	assert_int_equal(call("POST", "/v1/admin/tokens", NULL, json_object(), NULL), 401);

	/* me */
	assert_int_equal(call("GET", "/v1/admin/me", g_tok, NULL, &a), 200);
	assert_string_equal(str_of(a, "name"), ADMIN_NAME);
	assert_string_equal(str_of(a, "role"), "admin");
	g_admin_id = int_of(a, "id");
	assert_true(time_of(a, "expires_at") > now);
	json_decref(a);

	/* routing: unknown path 404, wrong method 405, bad ids 404 */
	assert_int_equal(call("GET", "/v1/admin/nope", g_tok, NULL, &a), 404);
	json_decref(a);
	assert_int_equal(call("GET", "/v1/admin/", g_tok, NULL, NULL), 404);
	assert_int_equal(call("GET", "/v1/admin/hosts/", g_tok, NULL, NULL), 404);
	assert_int_equal(call("GET", "/v1/admin/login", g_tok, NULL, &a), 405);
	json_decref(a);
	assert_int_equal(call("DELETE", "/v1/admin/hosts", g_tok, NULL, NULL), 405);
	assert_int_equal(call("POST", "/v1/admin/hosts/0/revoke", g_tok, json_object(), NULL), 404);
	assert_int_equal(call("POST", "/v1/admin/hosts/01/revoke", g_tok, json_object(), NULL),
	                 404);
	assert_int_equal(call("POST", "/v1/admin/hosts/-1/revoke", g_tok, json_object(), NULL),
	                 404);
	assert_int_equal(
	    call("POST", "/v1/admin/hosts/9007199254740992/revoke", g_tok, json_object(), NULL),
	    404);
	assert_int_equal(call("POST", "/v1/admin/hosts/1x/revoke", g_tok, json_object(), NULL),
	                 404);
	/* the largest id routes, and the host is unknown */
	assert_int_equal(
	    call("POST", "/v1/admin/hosts/9007199254740991/revoke", g_tok, json_object(), &a), 404);
	assert_error(a, "host: not found");
	json_decref(a);

	/* sliding expiry: a session about to expire is moved to now + 30 min by a call */
	s = store();
	assert_int_equal(mg_token_new(t), 0);
	assert_int_equal(mg_token_hash(t, h), 0);
	assert_int_equal(mg_store_session_add(s, h, g_admin_id, now, now + 60 * 1000000LL), 0);
	assert_int_equal(call("GET", "/v1/admin/me", t, NULL, NULL), 200);
	assert_int_equal(mg_store_session_get(s, h, mg_now_us(), &adm, &exp), 0);
	assert_true(exp > now + 29LL * 60 * 1000000);

	/* an expired session: 401 */
	assert_int_equal(mg_token_new(t), 0);
	assert_int_equal(mg_token_hash(t, h), 0);
	assert_int_equal(mg_store_session_add(s, h, g_admin_id, 1000000, 2000000), 0);
	assert_int_equal(call("GET", "/v1/admin/me", t, NULL, &a), 401);
	assert_error(a, "expired");
	json_decref(a);
	/* and it was not extended */
	assert_int_equal(mg_store_session_get(s, h, mg_now_us(), &adm, &exp), -ETIME);
	mg_store_close(&s);
}

static void test_accounts(void **state)
{
	json_t *a = NULL, *v;
	(void)state;

	/* an approver and an auditor */
	assert_int_equal(call("POST", "/v1/admin/admins", g_tok,
	                      json_pack("{s:s,s:s,s:s}", "name", APPROVER, "password", PW_APPROVER,
	                                "role", "approver"),
	                      &a),
	                 201);
	g_approver_id = int_of(a, "id");
	json_decref(a);
	assert_int_equal(call("POST", "/v1/admin/admins", g_tok,
	                      json_pack("{s:s,s:s,s:s}", "name", AUDITOR, "password", PW_AUDITOR,
	                                "role", "auditor"),
	                      &a),
	                 201);
	g_auditor_id = int_of(a, "id");
	json_decref(a);
	assert_true(g_approver_id > 0 && g_auditor_id > 0 && g_approver_id != g_auditor_id);

	/* a taken name */
	bad_body("/v1/admin/admins",
	         "{\"name\":\"" APPROVER "\",\"password\":\"long enough password\",\"role\":"
	         "\"admin\"}",
	         409, "name: already taken");
	/* the password policy and the name charset are checked (before any hashing) */
	bad_body("/v1/admin/admins",
	         "{\"name\":\"x1\",\"password\":\"short\",\"role\":\"auditor\"}", 400,
	         "password: must have at least 12 characters");
	bad_body("/v1/admin/admins",
	         "{\"name\":\"x1\",\"password\":\"with a \\u0007 bell ...\",\"role\":\"auditor\"}",
	         400, "password: must be UTF-8 text without control characters");
	bad_body("/v1/admin/admins",
	         "{\"name\":\"a b\",\"password\":\"long enough password\",\"role\":\"auditor\"}",
	         400, "name: use 1 to 63");
	bad_body("/v1/admin/admins",
	         "{\"name\":\"x1\",\"password\":\"long enough password\",\"role\":\"root\"}", 400,
	         "role: expected");
	bad_body("/v1/admin/admins",
	         "{\"name\":\"x1\",\"password\":\"long enough password\",\"role\":[\"admin\"]}",
	         400, "role");
	bad_body("/v1/admin/admins", "{\"name\":\"x1\",\"password\":\"long enough password\"}", 400,
	         "role: missing");
	bad_body("/v1/admin/admins", "{\"name\":\"x1\",\"password\":\"long enough password\",", 400,
	         "invalid JSON");

	/* the list: everyone, roles, nobody disabled; no password hash */
	assert_int_equal(call("GET", "/v1/admin/admins", g_tok, NULL, &a), 200);
	assert_int_equal(json_array_size(json_object_get(a, "admins")), 3);
	v = find_admin(a, APPROVER);
	assert_non_null(v);
	assert_string_equal(str_of(v, "role"), "approver");
	assert_true(json_is_false(json_object_get(v, "disabled")));
	assert_int_equal(int_of(v, "id"), g_approver_id);
	assert_non_null(json_string_value(json_object_get(v, "created_at")));
	assert_string_equal(str_of(find_admin(a, AUDITOR), "role"), "auditor");
	{
		char *dump = json_dumps(a, 0);
		assert_null(strstr(dump, "argon2"));
		free(dump);
	}
	json_decref(a);

	assert_int_equal(login(APPROVER, PW_APPROVER, g_tok_approver), 200);
	assert_int_equal(login(AUDITOR, PW_AUDITOR, g_tok_auditor), 200);
}

static void test_roles(void **state)
{
	json_t *a = NULL;
	(void)state;

	/* the auditor reads */
	assert_int_equal(call("GET", "/v1/admin/hosts", g_tok_auditor, NULL, NULL), 200);
	assert_int_equal(call("GET", "/v1/admin/admins", g_tok_auditor, NULL, NULL), 200);
	assert_int_equal(call("GET", "/v1/admin/devices", g_tok_auditor, NULL, NULL), 200);
	assert_int_equal(call("GET", "/v1/admin/audit", g_tok_auditor, NULL, NULL), 200);
	/* and changes nothing: 403 naming the action, before the body is looked at */
	assert_int_equal(call("POST", "/v1/admin/admins", g_tok_auditor,
	                      json_pack("{s:s,s:s,s:s}", "name", "evil", "password",
	                                "long enough password", "role", "admin"),
	                      &a),
	                 403);
	assert_error(a, "role auditor may not admins_manage");
	json_decref(a);
	assert_int_equal(call("POST", "/v1/admin/tokens", g_tok_auditor, json_object(), &a), 403);
	assert_error(a, "tokens_manage");
	json_decref(a);
	assert_int_equal(call("POST", "/v1/admin/hosts/1/revoke", g_tok_auditor, json_object(), &a),
	                 403);
	assert_error(a, "hosts_manage");
	json_decref(a);
	assert_int_equal(call("POST", "/v1/admin/rules", g_tok_auditor, json_object(), &a), 403);
	assert_error(a, "rules_manage");
	json_decref(a);
	assert_int_equal(call("DELETE", "/v1/admin/rules/1", g_tok_auditor, NULL, &a), 403);
	json_decref(a);
	assert_int_equal(call("POST", "/v1/admin/policy/publish", g_tok_auditor, json_object(), &a),
	                 403);
	assert_error(a, "policy_publish");
	json_decref(a);
	assert_int_equal(
	    call("POST", "/v1/admin/requests/1/approve", g_tok_auditor, json_object(), &a), 403);
	assert_error(a, "request_decide");
	json_decref(a);
	assert_int_equal(call("POST", "/v1/admin/admins/1", g_tok_auditor,
	                      json_pack("{s:s}", "role", "admin"), NULL),
	                 403);

	/* the approver: rules yes (past the role check), tokens, hosts and admins no */
	assert_int_equal(call("POST", "/v1/admin/tokens", g_tok_approver, json_object(), &a), 403);
	assert_error(a, "role approver may not tokens_manage");
	json_decref(a);
	assert_int_equal(call("POST", "/v1/admin/hosts/1/revoke", g_tok_approver, NULL, NULL), 403);
	assert_int_equal(call("POST", "/v1/admin/admins", g_tok_approver, json_object(), NULL),
	                 403);
	{
		long st = call("POST", "/v1/admin/rules", g_tok_approver, json_object(), NULL);
		assert_true(st != 401 && st != 403 && st != 404 && st != 405);
	}
	/* nothing was created by the refused calls */
	assert_int_equal(call("GET", "/v1/admin/admins", g_tok, NULL, &a), 200);
	assert_null(find_admin(a, "evil"));
	json_decref(a);
}

static void test_own_password(void **state)
{
	json_t *a = NULL;
	char tok[MG_ADMIN_TOKEN_SIZE];
	(void)state;

	/* an auditor may change their own password; the old one is verified */
	assert_int_equal(call("POST", "/v1/admin/password", g_tok_auditor,
	                      json_pack("{s:s,s:s}", "old_password", "not the password",
	                                "new_password", PW_AUDITOR_2),
	                      &a),
	                 403);
	assert_error(a, "old_password");
	json_decref(a);
	assert_int_equal(
	    call("POST", "/v1/admin/password", g_tok_auditor,
	         json_pack("{s:s,s:s}", "old_password", PW_AUDITOR, "new_password", "short"), &a),
	    400);
	assert_error(a, "new_password: must have at least 12 characters");
	json_decref(a);
	assert_int_equal(
	    call("POST", "/v1/admin/password", g_tok_auditor,
	         json_pack("{s:s,s:s}", "old_password", PW_AUDITOR, "new_password", PW_AUDITOR),
	         &a),
	    400);
	assert_error(a, "must differ");
	json_decref(a);
	assert_int_equal(call("POST", "/v1/admin/password", g_tok_auditor,
	                      json_pack("{s:s}", "old_password", PW_AUDITOR), &a),
	                 400);
	assert_error(a, "new_password: missing");
	json_decref(a);
	assert_int_equal(
	    call("POST", "/v1/admin/password", g_tok_auditor,
	         json_pack("{s:s,s:s}", "old_password", PW_AUDITOR, "new_password", PW_AUDITOR_2),
	         &a),
	    200);
	/* every session of the account ended with the old password; the answer brings a new one */
	assert_int_equal(strlen(str_of(a, "token")), MG_ADMIN_TOKEN_SIZE - 1);
	memcpy(tok, str_of(a, "token"), MG_ADMIN_TOKEN_SIZE);
	json_decref(a);
	assert_int_equal(call("GET", "/v1/admin/me", g_tok_auditor, NULL, NULL), 401);
	assert_int_equal(call("GET", "/v1/admin/me", tok, NULL, NULL), 200);
	memcpy(g_tok_auditor, tok, MG_ADMIN_TOKEN_SIZE);
	/* the new password logs in, the old one no longer does */
	assert_int_equal(login(AUDITOR, PW_AUDITOR, tok), 401);
	assert_int_equal(login(AUDITOR, PW_AUDITOR_2, tok), 200);
	/* the stored hash is Argon2id */
	{
		struct mg_store *s = store();
		struct mg_store_admin adm;
		assert_int_equal(mg_store_admin_get(s, AUDITOR, &adm), 0);
		assert_int_equal(strncmp(adm.password_hash, "$argon2id$", 10), 0);
		assert_int_equal(mg_admin_password_verify(adm.password_hash, PW_AUDITOR_2), 0);
		mg_store_close(&s);
	}
}

static void test_admin_update(void **state)
{
	json_t *a = NULL;
	char path[64], self[64];
	(void)state;
	snprintf(self, sizeof(self), "/v1/admin/admins/%lld", (long long)g_admin_id);

	/* an admin cannot demote or disable themself */
	assert_int_equal(call("POST", self, g_tok, json_pack("{s:s}", "role", "auditor"), &a), 409);
	assert_error(a, "themself");
	json_decref(a);
	assert_int_equal(call("POST", self, g_tok, json_pack("{s:b}", "disabled", 1), &a), 409);
	json_decref(a);
	assert_int_equal(call("POST", self, g_tok, json_pack("{s:s}", "role", "admin"), NULL), 200);
	bad_body(self, "{}", 400, "at least one of");
	bad_body(self, "{\"disabled\":\"yes\"}", 400, "disabled: expected true or false");
	bad_body(self, "{\"disabled\":true,\"disabled\":false}", 400, "invalid JSON");
	bad_body(self, "{\"role\":\"admin\",\"name\":\"x\"}", 400, "name: unknown key");
	bad_body(self, "{\"password\":12}", 400, "password: expected a string");
	bad_body("/v1/admin/admins/999999", "{\"role\":\"admin\"}", 404, "admin: not found");
	{
		struct mg_store *s = store();
		struct mg_store_admin adm;
		assert_int_equal(mg_store_admin_get_id(s, g_admin_id, &adm), 0);
		assert_int_equal(adm.role, MG_ROLE_ADMIN);
		assert_false(adm.disabled);
		mg_store_close(&s);
	}

	/* disabling the auditor ends their session at once */
	snprintf(path, sizeof(path), "/v1/admin/admins/%lld", (long long)g_auditor_id);
	assert_int_equal(call("GET", "/v1/admin/me", g_tok_auditor, NULL, NULL), 200);
	assert_int_equal(call("POST", path, g_tok, json_pack("{s:b}", "disabled", 1), &a), 200);
	assert_true(json_is_true(json_object_get(a, "disabled")));
	assert_string_equal(str_of(a, "name"), AUDITOR);
	json_decref(a);
	assert_int_equal(call("GET", "/v1/admin/me", g_tok_auditor, NULL, NULL), 401);
	/* and a disabled account gets the same 401 as a wrong password */
	assert_int_equal(login(AUDITOR, PW_AUDITOR_2, g_tok_auditor), 401);
	assert_int_equal(call("POST", path, g_tok, json_pack("{s:b}", "disabled", 0), &a), 200);
	assert_true(json_is_false(json_object_get(a, "disabled")));
	json_decref(a);

	/* an admin resets another account's password (the policy applies) */
	snprintf(path, sizeof(path), "/v1/admin/admins/%lld", (long long)g_approver_id);
	bad_body(path, "{\"password\":\"short\"}", 400, "password: must have at least 12");
	assert_int_equal(
	    call("POST", path, g_tok, json_pack("{s:s}", "password", PW_APPROVER " reset"), &a),
	    200);
	json_decref(a);
	{
		struct mg_store *s = store();
		struct mg_store_admin adm;
		assert_int_equal(mg_store_admin_get_id(s, g_approver_id, &adm), 0);
		assert_int_equal(mg_admin_password_verify(adm.password_hash, PW_APPROVER " reset"),
		                 0);
		assert_int_equal(mg_admin_password_verify(adm.password_hash, PW_APPROVER), -EACCES);
		mg_store_close(&s);
	}
	/* the reset ended the approver's sessions */
	assert_int_equal(call("GET", "/v1/admin/me", g_tok_approver, NULL, NULL), 401);
	assert_int_equal(login(APPROVER, PW_APPROVER " reset", g_tok_approver), 200);

	/* demoting the approver takes effect on their next call */
	snprintf(path, sizeof(path), "/v1/admin/admins/%lld", (long long)g_approver_id);
	assert_int_equal(call("POST", path, g_tok, json_pack("{s:s}", "role", "auditor"), &a), 200);
	assert_string_equal(str_of(a, "role"), "auditor");
	json_decref(a);
	assert_int_equal(call("POST", "/v1/admin/rules", g_tok_approver, json_object(), &a), 403);
	assert_error(a, "role auditor may not rules_manage");
	json_decref(a);
}

static void test_tokens_and_hosts(void **state)
{
	json_t *a = NULL, *v;
	char tok[64], tok1[64], key[PATH_MAX], cert[PATH_MAX], path[96];
	int64_t now = mg_now_us();
	size_t i;
	bool seen = false;
	(void)state;

	/* defaults: one use, 24 hours */
	assert_int_equal(call_raw("POST", "/v1/admin/tokens", g_tok, "", 0, &a, NULL), 201);
	assert_int_equal(strlen(str_of(a, "token")), 43);
	assert_int_equal(int_of(a, "uses"), 1);
	assert_true(time_of(a, "expires_at") > now + 86399LL * 1000000);
	assert_true(time_of(a, "expires_at") < now + 86500LL * 1000000);
	snprintf(tok1, sizeof(tok1), "%s", str_of(a, "token"));
	json_decref(a);
	/* two uses, one hour */
	assert_int_equal(call("POST", "/v1/admin/tokens", g_tok,
	                      json_pack("{s:i,s:i}", "expires_in", 3600, "uses", 2), &a),
	                 201);
	assert_int_equal(int_of(a, "uses"), 2);
	assert_true(time_of(a, "expires_at") < now + 3700LL * 1000000);
	snprintf(tok, sizeof(tok), "%s", str_of(a, "token"));
	json_decref(a);
	/* only the hash is stored */
	{
		char hex[65];
		struct mg_store *s = store();
		assert_int_equal(mg_sha256_hex(tok, strlen(tok), hex), 0);
		/* a hash the store knows is a duplicate */
		assert_int_equal(mg_store_token_add(s, NULL, hex, now + 1000000, 1, now), -EEXIST);
		mg_store_close(&s);
	}
	bad_body("/v1/admin/tokens", "{\"uses\":0}", 400, "uses: expected an integer from 1");
	bad_body("/v1/admin/tokens", "{\"uses\":1000001}", 400, "uses");
	bad_body("/v1/admin/tokens", "{\"expires_in\":59}", 400, "expires_in");
	bad_body("/v1/admin/tokens", "{\"expires_in\":315360001}", 400, "expires_in");
	bad_body("/v1/admin/tokens", "{\"uses\":1.5}", 400, "uses");
	bad_body("/v1/admin/tokens", "{\"uses\":\"2\"}", 400, "uses");
	bad_body("/v1/admin/tokens", "{\"uses\":123456789012345678901234567890}", 400,
	         "invalid JSON");
	bad_body("/v1/admin/tokens", "{\"use\":2}", 400, "use: unknown key");
	bad_body("/v1/admin/tokens", "{\"uses\":", 400, "invalid JSON");
	bad_body("/v1/admin/tokens", "\"\xc3\x28\"", 400, "invalid JSON");

	/* the API's tokens enrol hosts: twice for the two-use token, then 409 */
	g_host_a = enroll_with(tok, "term-a", key, cert);
	g_host_b = enroll_with(tok, "term-b", g_key_b, g_cert_b);
	{
		EVP_PKEY *k = new_key();
		char *csr = make_csr(k);
		assert_int_equal(
		    post_json("/v1/enroll", enroll_body(tok, csr, "term-c"), false, &a), 409);
		json_decref(a);
		assert_int_equal(
		    post_json("/v1/enroll", enroll_body(tok1, csr, "term-c"), false, &a), 200);
		json_decref(a);
		free(csr);
		EVP_PKEY_free(k);
	}

	/* term-a reports its spool */
	snprintf(g_key, sizeof(g_key), "%s", key);
	snprintf(g_cert, sizeof(g_cert), "%s", cert);
	assert_int_equal(post_json("/v1/heartbeat",
	                           json_pack("{s:i,s:s,s:i,s:s}", "spool_depth", 7, "oldest_unsent",
	                                     "2026-11-25T21:17:59.123456Z", "policy_version", 1,
	                                     "agent_version", "0.2.0"),
	                           true, &a),
	                 204);
	json_decref(a);

	assert_int_equal(call("GET", "/v1/admin/hosts", g_tok, NULL, &a), 200);
	assert_int_equal(json_array_size(json_object_get(a, "hosts")), 3);
	json_array_foreach(json_object_get(a, "hosts"), i, v)
	{
		if (int_of(v, "id") != g_host_a) {
			assert_true(json_is_null(json_object_get(v, "policy_version")));
			continue;
		}
		seen = true;
		assert_string_equal(str_of(v, "hostname"), "term-a");
		assert_true(strlen(str_of(v, "cert_serial")) > 0);
		assert_true(time_of(v, "enrolled_at") >= now - 1000000);
		assert_true(time_of(v, "last_seen") >= now - 1000000);
		assert_true(json_is_false(json_object_get(v, "revoked")));
		assert_int_equal(int_of(v, "policy_version"), 1); /* published by serve */
		assert_int_equal(int_of(v, "spool_depth"), 7);
		assert_string_equal(str_of(v, "oldest_unsent"), "2026-11-25T21:17:59.123456Z");
		assert_string_equal(str_of(v, "agent_version"), "0.2.0");
	}
	assert_true(seen);
	json_decref(a);

	/* revoke term-a: its terminal API is closed */
	snprintf(path, sizeof(path), "/v1/admin/hosts/%lld/revoke", (long long)g_host_a);
	assert_int_equal(call("POST", path, g_tok, NULL, NULL), 204);
	assert_int_equal(post("/v1/events", "{}", 2, cert, key, &a), 403);
	assert_error(a, "revoked");
	json_decref(a);
	/* revoking twice is fine */
	assert_int_equal(call("POST", path, g_tok, NULL, NULL), 204);
	{
		struct mg_store *s = store();
		struct mg_store_host h;
		assert_int_equal(mg_store_host_get(s, g_host_a, &h), 0);
		assert_true(h.revoked);
		assert_int_equal(mg_store_host_get(s, g_host_b, &h), 0);
		assert_false(h.revoked);
		mg_store_close(&s);
	}
	assert_int_equal(call("GET", "/v1/admin/hosts", g_tok, NULL, &a), 200);
	json_array_foreach(json_object_get(a, "hosts"), i, v)
	{
		assert_true(json_is_boolean(json_object_get(v, "revoked")));
		assert_int_equal(json_is_true(json_object_get(v, "revoked")),
		                 int_of(v, "id") == g_host_a);
	}
	json_decref(a);
}

static void test_devices_and_alerts(void **state)
{
	struct mg_store *s = store();
	struct tg_batch b = {0};
	struct mg_ingest_result res;
	json_t *a = NULL, *v;
	int64_t after = 0, last = 0;
	size_t total = 0, i;
	(void)state;

	/* term-b reports 32 events: every fourth names one of 8 devices */
	assert_int_equal(tg_batch_make(&b, "term-b", BOOT, 1, 32, 0, TG_MIXED), 0);
	assert_int_equal(mg_store_ingest(s, g_host_b, BOOT, b.evs, b.n, mg_now_us(), &res), 0);
	assert_int_equal(res.status, MG_INGEST_OK);
	tg_batch_free(&b);
	/* then sends seq 4 again with other content: a tamper alert */
	assert_int_equal(tg_batch_make(&b, "term-b", BOOT, 4, 4, 4, TG_MIXED), 0);
	assert_int_equal(mg_store_ingest(s, g_host_b, BOOT, b.evs, b.n, mg_now_us(), &res), 0);
	assert_int_equal(res.status, MG_INGEST_CONFLICT);
	tg_batch_free(&b);
	mg_store_close(&s);

	/* the ledger, 3 per page */
	for (unsigned pages = 0;; pages++) {
		char path[96];
		assert_true(pages < 10);
		snprintf(path, sizeof(path), "/v1/admin/devices?limit=3&after=%lld",
		         (long long)after);
		assert_int_equal(call("GET", path, g_tok_approver, NULL, &a), 200);
		json_array_foreach(json_object_get(a, "devices"), i, v)
		{
			assert_true(int_of(v, "id") > last);
			last = int_of(v, "id");
			assert_int_equal(strlen(str_of(v, "vendor_id")), 4);
			assert_int_equal(strlen(str_of(v, "product_id")), 4);
			assert_true(time_of(v, "first_seen") <= time_of(v, "last_seen"));
			assert_int_equal(int_of(v, "first_host_id"), g_host_b);
			assert_int_equal(int_of(v, "last_host_id"), g_host_b);
			assert_true(int_of(v, "sightings") >= 1);
			total++;
		}
		if (json_is_null(json_object_get(a, "next_after"))) {
			json_decref(a);
			break;
		}
		assert_int_equal(json_array_size(json_object_get(a, "devices")), 3);
		after = int_of(a, "next_after");
		assert_int_equal(after, last);
		json_decref(a);
	}
	assert_int_equal(total, 8);
	/* a full last page still says there is no more */
	assert_int_equal(call("GET", "/v1/admin/devices?limit=8", g_tok, NULL, &a), 200);
	assert_int_equal(json_array_size(json_object_get(a, "devices")), 8);
	assert_true(json_is_null(json_object_get(a, "next_after")));
	json_decref(a);
	/* bad page arguments */
	assert_int_equal(call("GET", "/v1/admin/devices?limit=0", g_tok, NULL, &a), 400);
	assert_error(a, "limit: expected an integer from 1 to 1000");
	json_decref(a);
	assert_int_equal(call("GET", "/v1/admin/devices?limit=1001", g_tok, NULL, NULL), 400);
	assert_int_equal(call("GET", "/v1/admin/devices?after=-1", g_tok, NULL, NULL), 400);
	assert_int_equal(call("GET", "/v1/admin/devices?after=abc", g_tok, NULL, NULL), 400);
	assert_int_equal(
	    call("GET", "/v1/admin/devices?after=99999999999999999999999", g_tok, NULL, NULL), 400);

	/* the tamper alert with its evidence */
	{
		char path[96];
		snprintf(path, sizeof(path), "/v1/admin/alerts?host=%lld", (long long)g_host_b);
		assert_int_equal(call("GET", path, g_tok, NULL, &a), 200);
	}
	assert_int_equal(json_array_size(json_object_get(a, "alerts")), 1);
	v = json_array_get(json_object_get(a, "alerts"), 0);
	assert_int_equal(int_of(v, "host_id"), g_host_b);
	assert_string_equal(str_of(v, "boot_id"), BOOT);
	assert_int_equal(int_of(v, "seq"), 4);
	assert_string_equal(str_of(v, "kind"), "conflict");
	assert_non_null(json_object_get(v, "evidence"));
	assert_false(json_is_null(json_object_get(v, "evidence")));
	assert_true(time_of(v, "time") > 0);
	assert_true(json_is_null(json_object_get(a, "next_after")));
	json_decref(a);
	{
		char path[96];
		snprintf(path, sizeof(path), "/v1/admin/alerts?host=%lld", (long long)g_host_a);
		assert_int_equal(call("GET", path, g_tok, NULL, &a), 200);
		assert_int_equal(json_array_size(json_object_get(a, "alerts")), 0);
		json_decref(a);
	}
	assert_int_equal(call("GET", "/v1/admin/alerts", g_tok, NULL, &a), 200);
	assert_int_equal(json_array_size(json_object_get(a, "alerts")), 1);
	json_decref(a);
	assert_int_equal(call("GET", "/v1/admin/alerts?host=0", g_tok, NULL, &a), 400);
	assert_error(a, "host");
	json_decref(a);
}

static void test_logout_and_audit(void **state)
{
	json_t *all, *v;
	char target[64];
	size_t i;
	(void)state;

	/* logout ends the session */
	assert_int_equal(call("GET", "/v1/admin/me", g_tok_approver, NULL, NULL), 200);
	assert_int_equal(call("POST", "/v1/admin/logout", g_tok_approver, NULL, NULL), 204);
	assert_int_equal(call("GET", "/v1/admin/me", g_tok_approver, NULL, NULL), 401);
	assert_int_equal(call("POST", "/v1/admin/logout", g_tok_approver, NULL, NULL), 401);

	/* the audit log, 2 per page, has every action with who did it */
	all = audit_all(2);
	assert_true(json_array_size(all) >= 15);
	assert_int_equal(count_actions(all, "login", ADMIN_NAME, NULL), 1);
	assert_int_equal(count_actions(all, "login.failed", ADMIN_NAME, NULL), 1);
	assert_int_equal(count_actions(all, "login.failed", "nobody", NULL), 0);
	/* the approver logged in again after an admin reset their password */
	assert_int_equal(count_actions(all, "login", APPROVER, NULL), 2);
	assert_int_equal(count_actions(all, "login", AUDITOR, NULL), 2);
	/* the old password after the change, and the disabled account */
	assert_int_equal(count_actions(all, "login.failed", AUDITOR, NULL), 2);
	assert_int_equal(count_actions(all, "admin.add", ADMIN_NAME, NULL), 2);
	assert_int_equal(count_actions(all, "admin.password", AUDITOR, NULL), 1);
	snprintf(target, sizeof(target), "admin:%lld", (long long)g_approver_id);
	assert_int_equal(count_actions(all, "admin.password", ADMIN_NAME, target), 1);
	assert_int_equal(count_actions(all, "admin.disable", ADMIN_NAME, NULL), 1);
	assert_int_equal(count_actions(all, "admin.enable", ADMIN_NAME, NULL), 1);
	snprintf(target, sizeof(target), "admin:%lld", (long long)g_approver_id);
	assert_int_equal(count_actions(all, "admin.role", ADMIN_NAME, target), 1);
	assert_int_equal(count_actions(all, "token.add", ADMIN_NAME, NULL), 2);
	snprintf(target, sizeof(target), "host:%lld", (long long)g_host_a);
	assert_int_equal(count_actions(all, "host.revoke", ADMIN_NAME, target), 2);
	assert_int_equal(count_actions(all, "logout", APPROVER, NULL), 1);
	json_array_foreach(all, i, v)
	{
		assert_true(time_of(v, "time") > 0);
		assert_true(int_of(v, "event_id") > 0);
		/* every action came over the network */
		assert_string_equal(str_of(v, "remote"), "127.0.0.1");
	}
	json_decref(all);

	/* each action is also an event row of the collector */
	{
		struct mg_store *s = store();
		struct mg_store_event_filter f = {.type = "admin.host.revoke"};
		uint64_t n = 0;
		assert_int_equal(mg_store_events_count(s, &f, &n), 0);
		assert_int_equal(n, 2);
		f.type = "admin.login";
		assert_int_equal(mg_store_events_count(s, &f, &n), 0);
		assert_int_equal(n, 5);
		mg_store_close(&s);
	}
	assert_int_equal(call("GET", "/v1/admin/audit?limit=0", g_tok, NULL, NULL), 400);
}

/* mg_router_handle() in process: more concurrent password checks than allowed wait a bounded
 * time, then get 503; a second one from the same address gets 429 at once (login_guard.h). */
static void test_login_limit(void **state)
{
	struct mg_api api = {.session_ttl_us = 60000000, .argon2 = &mg_argon2_test};
	const char *body = "{\"name\":\"" ADMIN_NAME "\",\"password\":\"" ADMIN_PASSWORD "\"}";
	struct mg_http_request req = {.method = "POST", .url = "/v1/admin/login", .body = body};
	struct mg_http_response resp = {0};
	struct mg_login_guard *g = mg_login_guard_default();
	(void)state;
	assert_non_null(g);
	req.body_len = strlen(body);
	snprintf(req.remote, sizeof(req.remote), "192.0.2.7");
	api.store = store();
	api.max_logins = 1;
	/* one check already running, from another address */
	assert_int_equal(mg_login_guard_enter(g, "192.0.2.8", 1, 0), 0);
	assert_int_equal(mg_router_handle(&api, &req, &resp), 0);
	assert_int_equal(resp.status, 503);
	assert_int_equal(resp.retry_after, 1);
	free(resp.body);
	resp = (struct mg_http_response){0};
	mg_login_guard_leave(g, "192.0.2.8");
	/* one running from this address: 429 at once */
	assert_int_equal(mg_login_guard_enter(g, "192.0.2.7", 1, 0), 0);
	assert_int_equal(mg_router_handle(&api, &req, &resp), 0);
	assert_int_equal(resp.status, 429);
	assert_int_equal(resp.retry_after, 1);
	free(resp.body);
	resp = (struct mg_http_response){0};
	mg_login_guard_leave(g, "192.0.2.7");
	assert_int_equal(atomic_load(&api.logins), 0);
	/* with the slot free, the same request logs in (and gives the slot back) */
	assert_int_equal(mg_router_handle(&api, &req, &resp), 0);
	assert_int_equal(resp.status, 200);
	assert_non_null(strstr(resp.body, "\"token\""));
	assert_int_equal(atomic_load(&api.logins), 0);
	free(resp.body);
	mg_store_close(&api.store);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_login),
	    cmocka_unit_test(test_auth),
	    cmocka_unit_test(test_accounts),
	    cmocka_unit_test(test_roles),
	    cmocka_unit_test(test_own_password),
	    cmocka_unit_test(test_admin_update),
	    cmocka_unit_test(test_tokens_and_hosts),
	    cmocka_unit_test(test_devices_and_alerts),
	    cmocka_unit_test(test_logout_and_audit),
	    cmocka_unit_test(test_login_limit),
	};
	return api_main("test_api_admin", tests, sizeof(tests) / sizeof(tests[0]));
}
