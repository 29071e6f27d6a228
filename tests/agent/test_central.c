/*
 * Central policy on the terminal (agent/daemon/central.c): a poll answer is accepted only when
 * the bundle is signed by the pinned key over its exact bytes, newer than the applied version,
 * not expired and in scope; each refusal says why in words (the policy.rejected event). The
 * bundles are made and signed as the collector does (server/policy, OpenSSL).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "central.h"
#include "mg/policy_bundle.h"
#include "mg/staff_db.h"
#include "mg/time.h"
#include "policy_sign.h"

static char dir[64];
static struct mg_policy_key *key, *other;
static char pub[MG_POLICY_PUBKEY_B64_SIZE], other_pub[MG_POLICY_PUBKEY_B64_SIZE];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/mg-central-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	char path[128];
	snprintf(path, sizeof(path), "%s/key.pem", dir);
	if (mg_policy_key_generate(path, &key) < 0 || mg_policy_key_public_b64(key, pub) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/other.pem", dir);
	if (mg_policy_key_generate(path, &other) < 0 ||
	    mg_policy_key_public_b64(other, other_pub) < 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mg_policy_key_free(&key);
	mg_policy_key_free(&other);
	return nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* A bundle of version v, valid from now - 1 h for `valid` seconds, scope host (0: all). */
static char *bundle(uint64_t v, int64_t valid, int64_t scope_host)
{
	int64_t now = mg_now_us();
	static char host_rules[] = "allow id 0781:5581\n", all_rules[] = "allow id 1d6b:0002\n";
	struct mg_policy_host_rules hr = {.host_id = 12, .rules = host_rules};
	int64_t scope[1] = {scope_host};
	struct mg_policy_bundle b = {.version = v,
	                             .issued_us = now - 3600000000LL,
	                             .expires_us = now - 3600000000LL + valid * 1000000LL,
	                             .all_hosts = scope_host == 0,
	                             .scope_hosts = scope_host ? scope : NULL,
	                             .n_scope_hosts = scope_host ? 1 : 0,
	                             .rules = all_rules,
	                             .hosts = &hr,
	                             .n_hosts = 1};
	char *json = NULL;
	assert_int_equal(mg_policy_bundle_to_json(&b, &json, NULL), 0);
	return json;
}

/* The poll answer {"version", "bundle", "signature"} for json signed with k (NULL: sig). */
static char *answer(uint64_t v, const char *json, const struct mg_policy_key *k, const char *sig)
{
	char s[MG_POLICY_SIG_B64_SIZE] = "";
	if (k)
		assert_int_equal(mg_policy_sign(k, json, strlen(json), s), 0);
	json_t *o = json_pack("{s:I, s:s, s:s}", "version", (json_int_t)v, "bundle", json,
	                      "signature", k ? s : sig);
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

static int check(const char *ans, uint64_t current, int64_t host, struct mg_central_bundle *b,
                 char *why, size_t whylen)
{
	uint64_t v = 0;
	return mg_central_check(ans, strlen(ans), pub, current, mg_now_us(), host, b, &v, why,
	                        whylen);
}

static void test_good_bundle(void **state)
{
	(void)state;
	char *json = bundle(5, 7 * 86400, 0), *ans = answer(5, json, key, NULL);
	struct mg_central_bundle b;
	char why[320] = "";
	assert_int_equal(check(ans, 4, 12, &b, why, sizeof(why)), 0);
	assert_int_equal(b.version, 5);
	assert_string_equal(b.all_rules, "allow id 1d6b:0002\n");
	assert_string_equal(b.host_rules, "allow id 0781:5581\n"); /* host 12's own */
	assert_int_equal(strlen(b.sha256), 64);
	mg_central_bundle_free(&b);
	/* Another host gets the global rules only. */
	assert_int_equal(check(ans, 0, 13, &b, why, sizeof(why)), 0);
	assert_null(b.host_rules);
	mg_central_bundle_free(&b);
	free(json);
	free(ans);
}

/* Every refusal, with the words the policy.rejected event carries. */
static void test_refusals(void **state)
{
	(void)state;
	struct mg_central_bundle b;
	char why[320];
	char *json = bundle(5, 7 * 86400, 0);

	/* A signature changed by one character. */
	char *ans = answer(5, json, key, NULL);
	char *sig = strstr(ans, "\"signature\":\"") + 13;
	sig[10] = sig[10] == 'A' ? 'B' : 'A';
	assert_int_equal(check(ans, 0, 12, &b, why, sizeof(why)), -EBADMSG);
	assert_non_null(strstr(why, "signature does not verify"));
	free(ans);

	/* The bundle changed after signing (a rule added), the signature kept. */
	char s[MG_POLICY_SIG_B64_SIZE];
	assert_int_equal(mg_policy_sign(key, json, strlen(json), s), 0);
	char *changed = bundle(5, 7 * 86400, 0);
	char *at = strstr(changed, "0002");
	at[3] = '3';
	ans = answer(5, changed, NULL, s);
	assert_int_equal(check(ans, 0, 12, &b, why, sizeof(why)), -EBADMSG);
	free(ans);
	free(changed);

	/* Signed by another key (a different collector). */
	ans = answer(5, json, other, NULL);
	assert_int_equal(check(ans, 0, 12, &b, why, sizeof(why)), -EBADMSG);
	free(ans);

	/* Unsigned. */
	ans = answer(5, json, NULL, "");
	assert_true(check(ans, 0, 12, &b, why, sizeof(why)) < 0);
	free(ans);

	/* Replayed: an older version than the one applied. */
	ans = answer(5, json, key, NULL);
	assert_int_equal(check(ans, 6, 12, &b, why, sizeof(why)), -ESTALE);
	assert_non_null(strstr(why, "rollback"));
	free(ans);

	/* Expired. */
	char *old = bundle(7, 60, 0);
	ans = answer(7, old, key, NULL);
	assert_int_equal(check(ans, 0, 12, &b, why, sizeof(why)), -ETIME);
	assert_non_null(strstr(why, "expired"));
	free(ans);
	free(old);

	/* Scoped to another host. */
	char *scoped = bundle(8, 86400, 7);
	ans = answer(8, scoped, key, NULL);
	assert_int_equal(check(ans, 0, 12, &b, why, sizeof(why)), -EPERM);
	assert_non_null(strstr(why, "other hosts"));
	free(ans);
	free(scoped);

	/* The unsigned version member says something else than the signed bundle. */
	ans = answer(9, json, key, NULL);
	assert_int_equal(check(ans, 0, 12, &b, why, sizeof(why)), -EINVAL);
	free(ans);

	/* Not the answer's shape. */
	const char *bad[] = {"", "[]", "{\"version\":5}",
	                     "{\"version\":5,\"bundle\":1,\"signature\":\"\"}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(check(bad[i], 0, 12, &b, why, sizeof(why)), -EINVAL);
	free(json);
}

static void test_keep_last_good(void **state)
{
	(void)state;
	char *json = bundle(3, 86400, 0), *ans = answer(3, json, key, NULL);
	char *back = NULL;
	size_t len = 0;
	assert_int_equal(mg_central_load(dir, &back, &len), -ENOENT);
	assert_int_equal(mg_central_save(dir, ans, strlen(ans)), 0);
	assert_int_equal(mg_central_load(dir, &back, &len), 0);
	assert_int_equal(len, strlen(ans));
	assert_memory_equal(back, ans, len);
	free(back);
	/* Root-only: a copy readable by others is not trusted. */
	char path[128];
	snprintf(path, sizeof(path), "%s/policy.json", dir);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(chmod(path, 0644), 0);
	assert_true(mg_central_load(dir, &back, &len) < 0);
	free(json);
	free(ans);
}

/* Issue 15: a bundle of version v for all hosts with the "staff" member staff (NULL: none). */
static char *bundle_staff(uint64_t v, const char *staff)
{
	int64_t now = mg_now_us();
	static char all_rules[] = "allow id 1d6b:0002\n";
	json_error_t jerr;
	struct mg_policy_bundle b = {.version = v,
	                             .issued_us = now - 3600000000LL,
	                             .expires_us = now + 3600000000LL,
	                             .all_hosts = true,
	                             .rules = all_rules,
	                             .staff = staff ? json_loads(staff, 0, &jerr) : NULL};
	if (staff)
		assert_non_null(b.staff);
	char *json = NULL;
	assert_int_equal(mg_policy_bundle_to_json(&b, &json, NULL), 0);
	json_decref(b.staff);
	return json;
}

static int read_all(const char *path, unsigned char **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	*buf = malloc(1 << 20);
	assert_non_null(*buf);
	*len = fread(*buf, 1, 1 << 20, f);
	fclose(f);
	return 0;
}

static void test_staff_db_written(void **state)
{
	(void)state;
	static const char staff[] =
	    "{\"Tanaka\":{\"credentials\":[{\"aaguid\":\"0123456789abcdef0123456789abcdef\","
	    "\"cose_alg\":-7,\"id\":\"AQID\",\"label\":\"key-1\",\"public_key\":"
	    "\"cHVibGljLWtleQ==\",\"rp_id\":\"mynaguard\",\"uv\":true}],\"state\":\"active\","
	    "\"unlocked_at\":\"2025-12-04T10:00:00Z\"},\"suzuki@city.local\":{\"credentials\":[],"
	    "\"state\":\"disabled\"}}";
	char *json = bundle_staff(8, staff), *ans = answer(8, json, key, NULL);
	struct mg_central_bundle b;
	char why[256] = "", path[128];
	snprintf(path, sizeof(path), "%s/staff.db", dir);
	assert_int_equal(check(ans, 7, 12, &b, why, sizeof(why)), 0);
	assert_non_null(b.staff);
	assert_int_equal(mg_central_write_staff(path, &b, why, sizeof(why)), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_int_equal(st.st_uid, geteuid());

	unsigned char *db = NULL;
	size_t len = 0;
	struct mg_staff_db_info info;
	struct mg_staff_entry e;
	assert_int_equal(read_all(path, &db, &len), 0);
	assert_int_equal(mg_staff_db_open(db, len, &info), 0);
	assert_int_equal(info.bundle_version, 8);
	assert_int_equal(info.count, 2);
	assert_int_equal(info.expires_us, b.expires_us);
	assert_int_equal(info.issued_us, b.issued_us);
	assert_int_equal(mg_staff_db_find(db, len, "Tanaka", &e), 0);
	assert_false(e.disabled);
	assert_true(e.unlocked_us > 0);
	assert_non_null(memmem(e.record, e.record_len, "\"id\":\"AQID\"", 11));
	assert_int_equal(mg_staff_db_find(db, len, "suzuki@city.local", &e), 0);
	assert_true(e.disabled);
	assert_int_equal(mg_staff_db_find(db, len, "tanaka", &e), -ENOENT);
	free(db);
	mg_central_bundle_free(&b);
	free(json);
	free(ans);

	/* A bundle without staff (an old collector) removes the file. */
	json = bundle_staff(9, NULL);
	ans = answer(9, json, key, NULL);
	assert_int_equal(check(ans, 8, 12, &b, why, sizeof(why)), 0);
	assert_null(b.staff);
	assert_int_equal(mg_central_write_staff(path, &b, why, sizeof(why)), 0);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
	/* and again: nothing to remove is fine */
	assert_int_equal(mg_central_write_staff(path, &b, why, sizeof(why)), 0);
	mg_central_bundle_free(&b);
	free(json);
	free(ans);

	/* A bundle whose credential set was altered after signing is refused as a whole. */
	json = bundle_staff(10, staff);
	ans = answer(10, json, key, NULL);
	char *altered = strdup(json);
	assert_non_null(altered);
	char *id = strstr(altered, "\"AQID\"");
	assert_non_null(id);
	id[1] = 'B';
	json_t *o = json_loads(ans, 0, NULL);
	assert_non_null(o);
	/* the genuine signature of the unaltered bundle */
	char *bad = answer(10, altered, NULL, json_string_value(json_object_get(o, "signature")));
	json_decref(o);
	assert_int_equal(check(bad, 9, 12, &b, why, sizeof(why)), -EBADMSG);
	free(bad);
	free(altered);

	/* When the new file cannot be written, the old one goes (fail closed). */
	assert_int_equal(check(ans, 9, 12, &b, why, sizeof(why)), 0);
	assert_int_equal(mg_central_write_staff(path, &b, why, sizeof(why)), 0);
	assert_int_equal(stat(path, &st), 0);
	char tmp[160];
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	assert_int_equal(mkdir(tmp, 0700), 0);
	assert_true(mg_central_write_staff(path, &b, why, sizeof(why)) < 0);
	assert_non_null(strstr(why, "staff.db"));
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(rmdir(tmp), 0);
	mg_central_bundle_free(&b);
	free(json);
	free(ans);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_bundle),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_keep_last_good),
	    cmocka_unit_test(test_staff_db_written),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
