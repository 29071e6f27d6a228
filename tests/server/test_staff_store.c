/*
 * The staff registry (issue 15) in the store (server/store/store.h) and the bundle's "staff"
 * member built from it (server/policy/policy_staff.h), against the backend the environment
 * names (as test_store.c): MG_TEST_STORE_URL=sqlite:DIR or MG_TEST_STORE_URL_FILE=STATEFILE
 * (PostgreSQL of tests/server/pg-test-server.sh); without either, SQLite in a mkdtemp
 * directory. Asserts stored rows, the admin action log and the bundle as a terminal parses it.
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
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>

#include <cmocka.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "mg/policy_bundle.h"
#include "policy_build.h"
#include "store.h"

#define NOW  1767225600000000LL
#define HOUR 3600000000LL

static bool g_pg;
static char g_dir[PATH_MAX];
static char g_prefix[700];
static char g_url[PATH_MAX + 64];
static int g_counter;

static int pg_admin_exec(const char *sql)
{
	char url[760];
	snprintf(url, sizeof(url), "%s/postgres", g_prefix);
	PGconn *c = PQconnectdb(url);
	int r = -1;
	if (PQstatus(c) == CONNECTION_OK) {
		PGresult *res = PQexec(c, sql);
		r = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;
		if (r < 0)
			fprintf(stderr, "%s: %s", sql, PQerrorMessage(c));
		PQclear(res);
	}
	PQfinish(c);
	return r;
}

static void new_url(void)
{
	g_counter++;
	if (g_pg) {
		char sql[128], name[32];
		snprintf(name, sizeof(name), "s%d_%d", (int)getpid(), g_counter);
		snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", name);
		assert_int_equal(pg_admin_exec(sql), 0);
		snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
		assert_int_equal(pg_admin_exec(sql), 0);
		snprintf(g_url, sizeof(g_url), "%s/%s", g_prefix, name);
	} else {
		snprintf(g_url, sizeof(g_url), "sqlite:%s/s%d_%d.db", g_dir, (int)getpid(),
		         g_counter);
	}
}

static int setup(void **state)
{
	struct mg_store *s = NULL;
	char msg[256];
	new_url();
	if (mg_store_open(g_url, &s, msg, sizeof(msg)) < 0) {
		fprintf(stderr, "mg_store_open(%s): %s\n", g_url, msg);
		return -1;
	}
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct mg_store *s = *state;
	mg_store_close(&s);
	return 0;
}

static const struct mg_store_actor admin = {"root-admin", "127.0.0.1"};

/* ---- helpers ---- */

static int64_t add_staff(struct mg_store *s, const char *login)
{
	int64_t id = 0;
	assert_int_equal(mg_store_staff_add(s, &admin, login, "田中 太郎", "市民課", NOW, &id), 0);
	assert_true(id > 0);
	return id;
}

static void fill_key(struct mg_store_staff_key *k, const char *login, int64_t host, const char *reg,
                     const char *cred)
{
	memset(k, 0, sizeof(*k));
	snprintf(k->login, sizeof(k->login), "%s", login);
	snprintf(k->credential_id, sizeof(k->credential_id), "%s", cred);
	snprintf(k->public_key, sizeof(k->public_key), "%s",
	         "BPuFvEGOQrzdbg5ti1vIDz8zZxNIAt+"
	         "qmpBG2gNu51L2CkGkmAY7pC0uA1Ygf0ufJqvmbzLsc1p7G1bUYr5ZQ3Y=");
	k->cose_alg = -7;
	snprintf(k->rp_id, sizeof(k->rp_id), "mynaguard");
	k->uv = true;
	snprintf(k->aaguid, sizeof(k->aaguid), "00112233445566778899aabbccddeeff");
	snprintf(k->attestation_fmt, sizeof(k->attestation_fmt), "packed");
	snprintf(k->label, sizeof(k->label), "key-%s", reg);
	k->registered_by_host = host;
	snprintf(k->registration_id, sizeof(k->registration_id), "%s", reg);
}

static int64_t register_key(struct mg_store *s, const char *login, int64_t host, const char *reg,
                            const char *cred)
{
	struct mg_store_staff_key k;
	int64_t id = 0;
	bool created = false;
	fill_key(&k, login, host, reg, cred);
	assert_int_equal(mg_store_staff_key_add(s, &k, NOW, &id, &created), 0);
	assert_true(created);
	return id;
}

/* The bundle mg_policy_publish would sign now, as a terminal parses it back. */
static struct mg_policy_bundle *bundle_now(struct mg_store *s)
{
	struct mg_policy_bundle *b = NULL, *back = NULL;
	char *json = NULL, err[256] = "";
	size_t len = 0;
	assert_int_equal(mg_policy_build(s, 1, NOW, HOUR, &b), 0);
	assert_int_equal(mg_policy_bundle_to_json(b, &json, &len), 0);
	int r = mg_policy_bundle_parse(json, len, &back, err, sizeof(err));
	if (r != 0)
		fail_msg("bundle does not parse: %s: %s", err, json);
	free(json);
	mg_policy_bundle_free(&b);
	return back;
}

struct actions {
	char seen[32][200];
	size_t n;
};

static int action_cb(void *ctx, const struct mg_store_admin_action *a)
{
	struct actions *x = ctx;
	if (x->n < 32)
		snprintf(x->seen[x->n++], sizeof(x->seen[0]), "%s %s", a->action, a->target);
	return 0;
}

static bool logged(struct mg_store *s, const char *what)
{
	struct actions x = {0};
	assert_int_equal(mg_store_admin_actions_foreach(s, 0, 1000, action_cb, &x), 0);
	for (size_t i = 0; i < x.n; i++)
		if (strcmp(x.seen[i], what) == 0)
			return true;
	return false;
}

static uint64_t revision(struct mg_store *s)
{
	uint64_t r = 0;
	assert_int_equal(mg_store_rules_revision(s, &r), 0);
	return r;
}

/* ---- tests ---- */

static void test_staff_crud(void **state)
{
	struct mg_store *s = *state;
	struct mg_store_staff m;
	int64_t id = 0;
	uint64_t rev0 = revision(s);

	int64_t tanaka = add_staff(s, "Tanaka");
	assert_true(revision(s) > rev0); /* terminals get a new bundle */
	/* Names are exact bytes: "tanaka" is another member, "Tanaka" is taken. */
	int64_t lower = add_staff(s, "tanaka");
	assert_int_not_equal(tanaka, lower);
	assert_int_equal(mg_store_staff_add(s, &admin, "Tanaka", NULL, NULL, NOW, &id), -EEXIST);
	int64_t suzuki = add_staff(s, "suzuki@city.local");
	/* Names PAM would refuse are refused here too. */
	assert_int_equal(mg_store_staff_add(s, &admin, "-x", NULL, NULL, NOW, &id), -EINVAL);
	assert_int_equal(mg_store_staff_add(s, &admin, "a/b", NULL, NULL, NOW, &id), -EINVAL);
	assert_int_equal(mg_store_staff_add(s, &admin, "ok", "line\nbreak", NULL, NOW, &id),
	                 -EINVAL);

	assert_int_equal(mg_store_staff_get(s, 0, "suzuki@city.local", &m), 0);
	assert_int_equal(m.id, suzuki);
	assert_string_equal(m.department, "市民課");
	assert_false(m.disabled);
	assert_int_equal(m.unlocked_us, 0);
	assert_int_equal(mg_store_staff_get(s, 0, "nobody", &m), -ENOENT);

	uint64_t rev1 = revision(s);
	assert_int_equal(mg_store_staff_set_disabled(s, &admin, tanaka, true, NOW + 1), 0);
	assert_true(revision(s) > rev1);
	assert_int_equal(mg_store_staff_set_disabled(s, &admin, tanaka, true, NOW + 2), -EALREADY);
	assert_int_equal(mg_store_staff_get(s, tanaka, NULL, &m), 0);
	assert_true(m.disabled);
	assert_int_equal(mg_store_staff_set_disabled(s, &admin, tanaka, false, NOW + 3), 0);
	assert_int_equal(mg_store_staff_set_disabled(s, &admin, 9999, true, NOW), -ENOENT);
	assert_int_equal(mg_store_staff_unlock(s, &admin, suzuki, NOW + 5), 0);
	assert_int_equal(mg_store_staff_get(s, suzuki, NULL, &m), 0);
	assert_int_equal(m.unlocked_us, NOW + 5);
	assert_int_equal(mg_store_staff_unlock(s, &admin, 9999, NOW), -ENOENT);

	char want[64];
	snprintf(want, sizeof(want), "staff.add staff:%lld", (long long)tanaka);
	assert_true(logged(s, want));
	snprintf(want, sizeof(want), "staff.disable staff:%lld", (long long)tanaka);
	assert_true(logged(s, want));
	snprintf(want, sizeof(want), "staff.enable staff:%lld", (long long)tanaka);
	assert_true(logged(s, want));
	snprintf(want, sizeof(want), "staff.unlock staff:%lld", (long long)suzuki);
	assert_true(logged(s, want));
}

static void test_registration_refusals(void **state)
{
	struct mg_store *s = *state;
	struct mg_store_staff_key k, got;
	int64_t host = 0, id = 0, id2 = 0;
	bool created = true;
	assert_int_equal(mg_store_host_add(s, "term-a", "0A:01", NOW, &host), 0);
	int64_t tanaka = add_staff(s, "Tanaka");
	add_staff(s, "suzuki@city.local");

	/* Unknown member. */
	fill_key(&k, "Nobody", host, "r1", "AAECAw==");
	assert_int_equal(mg_store_staff_key_add(s, &k, NOW, &id, &created), -ENOENT);
	/* Pending, then the same retry answers the same row. */
	fill_key(&k, "Tanaka", host, "r1", "AAECAw==");
	assert_int_equal(mg_store_staff_key_add(s, &k, NOW, &id, &created), 0);
	assert_true(created);
	assert_int_equal(mg_store_staff_key_add(s, &k, NOW + 9, &id2, &created), 0);
	assert_false(created);
	assert_int_equal(id2, id);
	assert_int_equal(mg_store_staff_key_get(s, id, &got), 0);
	assert_int_equal(got.state, MG_STAFF_KEY_PENDING);
	assert_int_equal(got.staff_id, tanaka);
	assert_string_equal(got.login, "Tanaka");
	assert_string_equal(got.credential_id, "AAECAw==");
	assert_true(got.uv);
	/* The registration id again with other content. */
	fill_key(&k, "Tanaka", host, "r1", "BAUGBw==");
	assert_int_equal(mg_store_staff_key_add(s, &k, NOW, &id2, &created), -EEXIST);
	/* The credential id again (another member, another registration). */
	fill_key(&k, "suzuki@city.local", host, "r2", "AAECAw==");
	assert_int_equal(mg_store_staff_key_add(s, &k, NOW, &id2, &created), -EEXIST);
	/* A denied registration frees its credential id. */
	assert_int_equal(mg_store_staff_key_decide(s, &admin, id, MG_STAFF_KEY_DENIED, NOW), 0);
	assert_int_equal(mg_store_staff_key_decide(s, &admin, id, MG_STAFF_KEY_ACTIVE, NOW),
	                 -EALREADY);
	fill_key(&k, "Tanaka", host, "r3", "AAECAw==");
	assert_int_equal(mg_store_staff_key_add(s, &k, NOW, &id2, &created), 0);
	/* Disabled member. */
	assert_int_equal(mg_store_staff_set_disabled(s, &admin, tanaka, true, NOW), 0);
	fill_key(&k, "Tanaka", host, "r4", "CAkKCw==");
	assert_int_equal(mg_store_staff_key_add(s, &k, NOW, &id2, &created), -EPERM);
	/* Bounds. */
	fill_key(&k, "suzuki@city.local", host, "bad id!", "DA0ODw==");
	assert_int_equal(mg_store_staff_key_add(s, &k, NOW, &id2, &created), -EINVAL);
	fill_key(&k, "suzuki@city.local", host, "r5", "not base64");
	assert_int_equal(mg_store_staff_key_add(s, &k, NOW, &id2, &created), -EINVAL);
	assert_int_equal(mg_store_staff_key_decide(s, &admin, 9999, MG_STAFF_KEY_ACTIVE, NOW),
	                 -ENOENT);
}

static json_t *member(const struct mg_policy_bundle *b, const char *login)
{
	assert_non_null(b->staff);
	json_t *m = json_object_get(b->staff, login);
	assert_non_null(m);
	return m;
}

static bool has_cred(const struct mg_policy_bundle *b, const char *login, const char *cred)
{
	json_t *c = json_object_get(member(b, login), "credentials"), *v;
	size_t i;
	json_array_foreach(c, i, v)
	{
		if (strcmp(json_string_value(json_object_get(v, "id")), cred) == 0)
			return true;
	}
	return false;
}

static void test_bundle_staff(void **state)
{
	struct mg_store *s = *state;
	struct mg_policy_bundle *b;
	int64_t host = 0;
	assert_int_equal(mg_store_host_add(s, "term-a", "0A:02", NOW, &host), 0);

	/* No staff at all: no member (agents without the staff parser keep working). */
	b = bundle_now(s);
	assert_null(b->staff);
	mg_policy_bundle_free(&b);

	int64_t tanaka = add_staff(s, "Tanaka");
	add_staff(s, "suzuki@city.local");
	int64_t k1 = register_key(s, "Tanaka", host, "r1", "AAECAw==");
	int64_t k2 = register_key(s, "Tanaka", host, "r2", "BAUGBw==");
	/* Pending keys are not sent. */
	b = bundle_now(s);
	assert_int_equal(json_array_size(json_object_get(member(b, "Tanaka"), "credentials")), 0);
	assert_string_equal(json_string_value(json_object_get(member(b, "Tanaka"), "state")),
	                    "active");
	assert_int_equal(json_object_size(b->staff), 2);
	mg_policy_bundle_free(&b);

	/* Approve both: the next bundle has both, with the fields of the design. */
	uint64_t rev = revision(s);
	assert_int_equal(mg_store_staff_key_decide(s, &admin, k1, MG_STAFF_KEY_ACTIVE, NOW), 0);
	assert_int_equal(mg_store_staff_key_decide(s, &admin, k2, MG_STAFF_KEY_ACTIVE, NOW), 0);
	assert_true(revision(s) > rev);
	b = bundle_now(s);
	assert_true(has_cred(b, "Tanaka", "AAECAw=="));
	assert_true(has_cred(b, "Tanaka", "BAUGBw=="));
	json_t *c0 = json_array_get(json_object_get(member(b, "Tanaka"), "credentials"), 0);
	assert_int_equal(json_integer_value(json_object_get(c0, "cose_alg")), -7);
	assert_string_equal(json_string_value(json_object_get(c0, "rp_id")), "mynaguard");
	assert_true(json_is_true(json_object_get(c0, "uv")));
	assert_string_equal(json_string_value(json_object_get(c0, "label")), "key-r1");
	assert_null(json_object_get(member(b, "Tanaka"), "unlocked_at"));
	mg_policy_bundle_free(&b);

	/* Revoke one: dropped, the other stays. */
	rev = revision(s);
	assert_int_equal(mg_store_staff_key_decide(s, &admin, k1, MG_STAFF_KEY_REVOKED, NOW), 0);
	assert_true(revision(s) > rev);
	assert_int_equal(mg_store_staff_key_decide(s, &admin, k1, MG_STAFF_KEY_REVOKED, NOW),
	                 -EALREADY);
	b = bundle_now(s);
	assert_false(has_cred(b, "Tanaka", "AAECAw=="));
	assert_true(has_cred(b, "Tanaka", "BAUGBw=="));
	mg_policy_bundle_free(&b);

	/* Unlock: unlocked_at. */
	assert_int_equal(mg_store_staff_unlock(s, &admin, tanaka, NOW + 7000000), 0);
	b = bundle_now(s);
	assert_string_equal(json_string_value(json_object_get(member(b, "Tanaka"), "unlocked_at")),
	                    "2026-01-01T00:00:07.000000Z");
	mg_policy_bundle_free(&b);

	/* Disable: marked disabled with no credentials; enable brings the key back. */
	assert_int_equal(mg_store_staff_set_disabled(s, &admin, tanaka, true, NOW), 0);
	b = bundle_now(s);
	assert_string_equal(json_string_value(json_object_get(member(b, "Tanaka"), "state")),
	                    "disabled");
	assert_int_equal(json_array_size(json_object_get(member(b, "Tanaka"), "credentials")), 0);
	mg_policy_bundle_free(&b);
	assert_int_equal(mg_store_staff_set_disabled(s, &admin, tanaka, false, NOW), 0);
	b = bundle_now(s);
	assert_true(has_cred(b, "Tanaka", "BAUGBw=="));
	mg_policy_bundle_free(&b);

	char want[64];
	snprintf(want, sizeof(want), "staff.key_approve staff_key:%lld", (long long)k1);
	assert_true(logged(s, want));
	snprintf(want, sizeof(want), "staff.key_revoke staff_key:%lld", (long long)k1);
	assert_true(logged(s, want));
}

static void test_key_cap(void **state)
{
	struct mg_store *s = *state;
	int64_t host = 0, ids[MG_STORE_MAX_STAFF_KEYS + 1];
	assert_int_equal(mg_store_host_add(s, "term-a", "0A:03", NOW, &host), 0);
	add_staff(s, "Tanaka");
	for (unsigned i = 0; i <= MG_STORE_MAX_STAFF_KEYS; i++) {
		char reg[16], cred[16];
		snprintf(reg, sizeof(reg), "r%u", i);
		snprintf(cred, sizeof(cred), "AAAA%04u", i);
		ids[i] = register_key(s, "Tanaka", host, reg, cred);
	}
	for (unsigned i = 0; i < MG_STORE_MAX_STAFF_KEYS; i++)
		assert_int_equal(
		    mg_store_staff_key_decide(s, &admin, ids[i], MG_STAFF_KEY_ACTIVE, NOW), 0);
	assert_int_equal(mg_store_staff_key_decide(s, &admin, ids[MG_STORE_MAX_STAFF_KEYS],
	                                           MG_STAFF_KEY_ACTIVE, NOW),
	                 -EDQUOT);
	struct mg_policy_bundle *b = bundle_now(s);
	assert_int_equal(json_array_size(json_object_get(member(b, "Tanaka"), "credentials")),
	                 MG_STORE_MAX_STAFF_KEYS);
	mg_policy_bundle_free(&b);
}

/* One terminal can keep at most MG_STORE_MAX_PENDING_REGISTRATIONS registrations waiting
 * (self attestation is cheap to make: a flood would fill the registry); a decision makes room,
 * a retry of a filed one still answers, another terminal is not held up. */
static void test_pending_registrations_cap(void **state)
{
	struct mg_store *s = *state;
	int64_t a = 0, b = 0, first = 0, id = 0;
	bool created = false;
	struct mg_store_staff_key k;
	char reg[24], cred[24];
	assert_int_equal(mg_store_host_add(s, "term-a", "0A:03", NOW, &a), 0);
	assert_int_equal(mg_store_host_add(s, "term-b", "0B:03", NOW, &b), 0);
	add_staff(s, "Tanaka");
	for (unsigned i = 0; i < MG_STORE_MAX_PENDING_REGISTRATIONS; i++) {
		snprintf(reg, sizeof(reg), "r%u", i);
		snprintf(cred, sizeof(cred), "AAAA%04u", i);
		id = register_key(s, "Tanaka", a, reg, cred);
		if (i == 0)
			first = id;
	}
	fill_key(&k, "Tanaka", a, "over", "BBBB0001");
	assert_int_equal(mg_store_staff_key_add(s, &k, NOW, &id, &created), -EDQUOT);
	fill_key(&k, "Tanaka", a, "r7", "AAAA0007"); /* a retry of a filed one */
	assert_int_equal(mg_store_staff_key_add(s, &k, NOW, &id, &created), 0);
	assert_false(created);
	(void)register_key(s, "Tanaka", b, "b1", "CCCC0001"); /* the other terminal */
	assert_int_equal(mg_store_staff_key_decide(s, &admin, first, MG_STAFF_KEY_DENIED, NOW), 0);
	fill_key(&k, "Tanaka", a, "over", "BBBB0001");
	assert_int_equal(mg_store_staff_key_add(s, &k, NOW, &id, &created), 0);
	assert_true(created);
}

static int read_state(const char *file)
{
	FILE *f = fopen(file, "r");
	const bool ci = getenv("CI") && *getenv("CI");
	if (!f)
		return ci ? 1 : 77;
	char line[700];
	int r = ci ? 1 : 77;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "url ", 4) == 0) {
			char *slash = strrchr(line + 4, '/');
			if (slash && slash > line + 4 + strlen("postgresql://")) {
				*slash = '\0';
				snprintf(g_prefix, sizeof(g_prefix), "%s", line + 4);
				r = 0;
			}
			break;
		}
		if (strncmp(line, "skip ", 5) == 0)
			break;
	}
	fclose(f);
	return r;
}

static void cleanup_dir(void)
{
	char prefix[32];
	snprintf(prefix, sizeof(prefix), "s%d_", (int)getpid());
	DIR *d = opendir(g_dir);
	struct dirent *e;
	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
			continue;
		char p[PATH_MAX + 300];
		snprintf(p, sizeof(p), "%s/%s", g_dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(g_dir);
}

int main(void)
{
	const char *file = getenv("MG_TEST_STORE_URL_FILE");
	if (file && *file) {
		int r = read_state(file);
		if (r != 0)
			return r;
		g_pg = true;
	} else {
		snprintf(g_dir, sizeof(g_dir), "%s/mg-staff-test.XXXXXX",
		         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		if (!mkdtemp(g_dir))
			return 1;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_staff_crud, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_registration_refusals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bundle_staff, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_key_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pending_registrations_cap, setup, teardown),
	};
	int r = _cmocka_run_group_tests(g_pg ? "staff (postgresql)" : "staff (sqlite)", tests,
	                                sizeof(tests) / sizeof(tests[0]), NULL, NULL);
	if (!g_pg)
		cleanup_dir();
	return r;
}
