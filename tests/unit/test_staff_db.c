/*
 * Issue 15: the bundle's "staff" member (strict parser) and staff.db (build, open, find) with
 * directory-style names, 5,000 users and damaged files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mg/bytes.h"
#include "mg/policy_bundle.h"
#include "mg/staff_db.h"
#include "mg/user_name.h"

#define ISSUED  INT64_C(1764892800000000) /* 2025-12-05T00:00:00Z */
#define EXPIRES (ISSUED + INT64_C(86400000000))

#define CRED(id, label)                                                                            \
	"{\"aaguid\":\"0123456789abcdef0123456789abcdef\",\"cose_alg\":-7,\"id\":\"" id            \
	"\",\"label\":\"" label "\",\"public_key\":\"cHVibGljLWtleQ==\",\"rp_id\":\"mynaguard\","  \
	"\"uv\":true}"

static char *bundle_with(const char *staff)
{
	static const char head[] = "{\"expires_at\":\"2025-12-06T00:00:00Z\",\"issued_at\":"
	                           "\"2025-12-05T00:00:00Z\",\"rules\":\"\",\"scope\":{\"hosts\":"
	                           "\"all\"},";
	size_t n = strlen(head) + strlen(staff) + 64;
	char *s = malloc(n);
	assert_non_null(s);
	snprintf(s, n, "%s%s%s\"version\":7}", head, staff, staff[0] ? "," : "");
	return s;
}

static int parse_staff(const char *staff, struct mg_policy_bundle **b, char *err, size_t errlen)
{
	char *text = bundle_with(staff);
	int r = mg_policy_bundle_parse(text, strlen(text), b, err, errlen);
	free(text);
	return r;
}

static char *name_255(void)
{
	char *n = malloc(MG_USER_NAME_MAX + 1);
	assert_non_null(n);
	memset(n, 'A', MG_USER_NAME_MAX);
	n[0] = 'Z';
	n[MG_USER_NAME_MAX - 1] = 'z';
	n[MG_USER_NAME_MAX] = '\0';
	return n;
}

/* ---- the bundle member ---- */

static void bundle_staff_accepted(void **state)
{
	(void)state;
	struct mg_policy_bundle *b = NULL;
	char err[256] = "";
	char *long_name = name_255();
	char staff[4096];
	snprintf(staff, sizeof(staff),
	         "\"staff\":{\"Tanaka\":{\"credentials\":[" CRED("AQID", "key-1") "," CRED(
	             "BAUG", "key-2") "],\"state\":\"active\",\"unlocked_at\":"
	                              "\"2025-12-04T10:00:00Z\"},"
	                              "\"suzuki@city.local\":{\"credentials\":[],\"state\":"
	                              "\"disabled\"},\"%s\":{\"credentials\":[" CRED(
	                                  "BwgJ", "鍵") "],\"state\":\"active\"}}",
	         long_name);
	assert_int_equal(parse_staff(staff, &b, err, sizeof(err)), 0);
	assert_non_null(b->staff);
	assert_int_equal(json_object_size(b->staff), 3);
	assert_int_equal(
	    json_array_size(json_object_get(json_object_get(b->staff, "Tanaka"), "credentials")),
	    2);
	/* The canonical writer keeps it, and the result parses to the same member. */
	char *text = NULL;
	size_t len = 0;
	struct mg_policy_bundle *again = NULL;
	assert_int_equal(mg_policy_bundle_to_json(b, &text, &len), 0);
	assert_non_null(strstr(text, "\"staff\":{"));
	assert_int_equal(mg_policy_bundle_parse(text, len, &again, err, sizeof(err)), 0);
	assert_true(json_equal(b->staff, again->staff));
	free(text);
	mg_policy_bundle_free(&again);
	mg_policy_bundle_free(&b);
	/* Without the member (old collectors): valid, no staff. */
	assert_int_equal(parse_staff("", &b, err, sizeof(err)), 0);
	assert_null(b->staff);
	mg_policy_bundle_free(&b);
	free(long_name);
}

static void bundle_staff_refused(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "\"staff\":[]",
	    "\"staff\":{\"a/b\":{\"credentials\":[],\"state\":\"active\"}}",
	    "\"staff\":{\"-x\":{\"credentials\":[],\"state\":\"active\"}}",
	    "\"staff\":{\".x\":{\"credentials\":[],\"state\":\"active\"}}",
	    "\"staff\":{\"a b\":{\"credentials\":[],\"state\":\"active\"}}",
	    "\"staff\":{\"\":{\"credentials\":[],\"state\":\"active\"}}",
	    "\"staff\":{\"Tanaka\":{\"credentials\":[],\"state\":\"Active\"}}",
	    "\"staff\":{\"Tanaka\":{\"credentials\":[]}}",
	    "\"staff\":{\"Tanaka\":{\"state\":\"active\"}}",
	    "\"staff\":{\"Tanaka\":{\"credentials\":[],\"state\":\"active\",\"pin\":1}}",
	    "\"staff\":{\"Tanaka\":{\"credentials\":[" CRED("AQID",
	                                                    "k") "],\"state\":\"disabled\"}}",
	    "\"staff\":{\"Tanaka\":{\"credentials\":[" CRED("AQID", "k") "," CRED(
	        "AQID", "l") "],\"state\":\"active\"}}",
	    "\"staff\":{\"Tanaka\":{\"credentials\":[{\"id\":\"AQID\"}],\"state\":\"active\"}}",
	    "\"staff\":{\"Tanaka\":{\"credentials\":[],\"state\":\"active\",\"unlocked_at\":\"x\"}"
	    "}",
	    "\"staff\":{\"Tanaka\":{\"credentials\":[],\"state\":\"active\",\"unlocked_at\":5}}",
	    /* credential fields */
	    "\"staff\":{\"T\":{\"credentials\":[{\"aaguid\":\"0123456789ABCDEF0123456789abcdef\","
	    "\"cose_alg\":-7,\"id\":\"AQID\",\"label\":\"k\",\"public_key\":\"AQID\",\"rp_id\":"
	    "\"mynaguard\",\"uv\":true}],\"state\":\"active\"}}",
	    "\"staff\":{\"T\":{\"credentials\":[{\"aaguid\":\"0123456789abcdef0123456789abcdef\","
	    "\"cose_alg\":-9,\"id\":\"AQID\",\"label\":\"k\",\"public_key\":\"AQID\",\"rp_id\":"
	    "\"mynaguard\",\"uv\":true}],\"state\":\"active\"}}",
	    "\"staff\":{\"T\":{\"credentials\":[{\"aaguid\":\"0123456789abcdef0123456789abcdef\","
	    "\"cose_alg\":-7,\"id\":\"AQI\",\"label\":\"k\",\"public_key\":\"AQID\",\"rp_id\":"
	    "\"mynaguard\",\"uv\":true}],\"state\":\"active\"}}",
	    "\"staff\":{\"T\":{\"credentials\":[{\"aaguid\":\"0123456789abcdef0123456789abcdef\","
	    "\"cose_alg\":-7,\"id\":\"AQID\",\"label\":\"k\",\"public_key\":\"A*ID\",\"rp_id\":"
	    "\"mynaguard\",\"uv\":true}],\"state\":\"active\"}}",
	    "\"staff\":{\"T\":{\"credentials\":[{\"aaguid\":\"0123456789abcdef0123456789abcdef\","
	    "\"cose_alg\":-7,\"id\":\"AQID\",\"label\":\"\",\"public_key\":\"AQID\",\"rp_id\":"
	    "\"mynaguard\",\"uv\":true}],\"state\":\"active\"}}",
	    "\"staff\":{\"T\":{\"credentials\":[{\"aaguid\":\"0123456789abcdef0123456789abcdef\","
	    "\"cose_alg\":-7,\"id\":\"AQID\",\"label\":\"k\",\"public_key\":\"AQID\",\"rp_id\":"
	    "\"my naguard\",\"uv\":true}],\"state\":\"active\"}}",
	    "\"staff\":{\"T\":{\"credentials\":[{\"aaguid\":\"0123456789abcdef0123456789abcdef\","
	    "\"cose_alg\":-7,\"id\":\"AQID\",\"label\":\"k\",\"public_key\":\"AQID\",\"rp_id\":"
	    "\"mynaguard\",\"uv\":1}],\"state\":\"active\"}}",
	    "\"staff\":{\"T\":{\"credentials\":[{\"aaguid\":\"0123456789abcdef0123456789abcdef\","
	    "\"cose_alg\":-7,\"id\":\"AQID\",\"label\":\"k\",\"public_key\":\"AQID\",\"rp_id\":"
	    "\"mynaguard\",\"uv\":true,\"secret\":\"x\"}],\"state\":\"active\"}}",
	};
	struct mg_policy_bundle *b = NULL;
	char err[256];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		int r = parse_staff(bad[i], &b, err, sizeof(err));
		if (r != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
		assert_null(b);
		assert_true(err[0] != '\0');
		assert_non_null(strstr(err, "staff"));
	}
	/* 256 bytes of name */
	char staff[600];
	char name[MG_USER_NAME_MAX + 2];
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	snprintf(staff, sizeof(staff),
	         "\"staff\":{\"%s\":{\"credentials\":[],\"state\":\"active\"}}", name);
	assert_int_equal(parse_staff(staff, &b, err, sizeof(err)), -EINVAL);
	/* 17 credentials */
	char *many = malloc(16384);
	assert_non_null(many);
	size_t off = (size_t)snprintf(many, 16384, "\"staff\":{\"T\":{\"credentials\":[");
	for (int i = 0; i < 17; i++)
		off += (size_t)snprintf(many + off, 16384 - off,
		                        "%s{\"aaguid\":\"0123456789abcdef0123456789abcdef\","
		                        "\"cose_alg\":-7,\"id\":\"AAA%c\",\"label\":\"k\","
		                        "\"public_key\":\"AQID\",\"rp_id\":\"r\",\"uv\":false}",
		                        i ? "," : "", 'A' + i);
	snprintf(many + off, 16384 - off, "],\"state\":\"active\"}}");
	assert_int_equal(parse_staff(many, &b, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "more than 16"));
	free(many);
}

/* ---- staff.db ---- */

static json_t *staff_json(const char *text)
{
	json_error_t jerr;
	json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (!o)
		fail_msg("test JSON: %s", jerr.text);
	return o;
}

static void db_round_trip(void **state)
{
	(void)state;
	char *long_name = name_255();
	char text[4096];
	snprintf(text, sizeof(text),
	         "{\"Tanaka\":{\"credentials\":[" CRED(
	             "AQID", "key-1") "],\"state\":\"active\","
	                              "\"unlocked_at\":\"2025-12-"
	                              "04T10:00:00Z\"},"
	                              "\"tanaka\":{\"credentials\":"
	                              "[" CRED("BAUG", "k") "],\"state\":"
	                                                    "\"active\"},"
	                                                    "\"suzuki@city."
	                                                    "local\":{"
	                                                    "\"credentials\":["
	                                                    "],\"state\":"
	                                                    "\"disabled\"},"
	                                                    "\"%s\":{"
	                                                    "\"credentials\":["
	                                                    "],\"state\":"
	                                                    "\"active\"}}",
	         long_name);
	json_t *staff = staff_json(text);
	unsigned char *db = NULL;
	size_t len = 0;
	assert_int_equal(mg_staff_db_build(staff, 42, ISSUED, EXPIRES, &db, &len), 0);
	struct mg_staff_db_info info;
	assert_int_equal(mg_staff_db_open(db, len, &info), 0);
	assert_int_equal(info.count, 4);
	assert_int_equal(info.bundle_version, 42);
	assert_int_equal(info.issued_us, ISSUED);
	assert_int_equal(info.expires_us, EXPIRES);
	assert_memory_equal(db, "MGSTAFF1", 8);

	struct mg_staff_entry e;
	assert_int_equal(mg_staff_db_find(db, len, "Tanaka", &e), 0);
	assert_int_equal(e.user_len, 6);
	assert_memory_equal(e.user, "Tanaka", 6);
	assert_false(e.disabled);
	assert_int_equal(e.unlocked_us, ISSUED - INT64_C(14) * 3600 * 1000000);
	/* The record is the user's credentials as JSON. */
	json_error_t jerr;
	json_t *rec = json_loadb(e.record, e.record_len, JSON_REJECT_DUPLICATES, &jerr);
	assert_non_null(rec);
	assert_int_equal(json_object_size(rec), 1);
	assert_true(json_equal(json_object_get(rec, "credentials"),
	                       json_object_get(json_object_get(staff, "Tanaka"), "credentials")));
	json_decref(rec);

	/* Case matters: tanaka is another person. */
	assert_int_equal(mg_staff_db_find(db, len, "tanaka", &e), 0);
	assert_int_equal(e.unlocked_us, 0);
	assert_non_null(memmem(e.record, e.record_len, "BAUG", 4));
	assert_int_equal(mg_staff_db_find(db, len, "TANAKA", &e), -ENOENT);
	assert_int_equal(mg_staff_db_find(db, len, "suzuki@city.local", &e), 0);
	assert_true(e.disabled);
	assert_int_equal(e.record_len, strlen("{\"credentials\":[]}"));
	assert_int_equal(mg_staff_db_find(db, len, long_name, &e), 0);
	assert_int_equal(e.user_len, MG_USER_NAME_MAX);
	assert_int_equal(mg_staff_db_find(db, len, "suzuki", &e), -ENOENT);
	assert_int_equal(mg_staff_db_find(db, len, "a/b", &e), -ENOENT);
	assert_int_equal(mg_staff_db_find(db, len, "", &e), -ENOENT);

	/* Sorted by name: "Tanaka" < "Z..." < "suzuki@..." < "tanaka" (memcmp). */
	assert_int_equal(mg_le_get(db + 40 + 4, 4), 6);
	assert_memory_equal(db + mg_le_get(db + 40, 4), "Tanaka", 6);
	assert_memory_equal(db + mg_le_get(db + 40 + 3 * 32, 4), "tanaka", 6);

	/* The same input gives the same bytes (canonical). */
	unsigned char *db2 = NULL;
	size_t len2 = 0;
	assert_int_equal(mg_staff_db_build(staff, 42, ISSUED, EXPIRES, &db2, &len2), 0);
	assert_int_equal(len, len2);
	assert_memory_equal(db, db2, len);
	free(db2);
	free(db);
	json_decref(staff);
	free(long_name);

	/* No staff: an empty database, every name unknown. */
	assert_int_equal(mg_staff_db_build(NULL, 1, ISSUED, EXPIRES, &db, &len), 0);
	assert_int_equal(len, MG_STAFF_DB_HEADER);
	assert_int_equal(mg_staff_db_open(db, len, &info), 0);
	assert_int_equal(info.count, 0);
	assert_int_equal(mg_staff_db_find(db, len, "Tanaka", &e), -ENOENT);
	free(db);
	/* Input the bundle parser would refuse is refused here too. */
	staff = staff_json("{\"a/b\":{\"credentials\":[],\"state\":\"active\"}}");
	assert_int_equal(mg_staff_db_build(staff, 1, ISSUED, EXPIRES, &db, &len), -EINVAL);
	json_decref(staff);
	assert_int_equal(mg_staff_db_build(NULL, 1, EXPIRES, ISSUED, &db, &len), -EINVAL);
}

static json_t *many_staff(size_t users)
{
	json_t *staff = json_object();
	assert_non_null(staff);
	for (size_t i = 0; i < users; i++) {
		char name[64], id[32], pk[128];
		snprintf(name, sizeof(name), i % 2 ? "Staff%05zu@city.local" : "staff%05zu", i);
		json_t *creds = json_array();
		for (int k = 0; k < 2; k++) {
			/* 9 bytes of id -> 12 base64 characters; 65 bytes of key -> 88 */
			snprintf(id, sizeof(id), "%c%c%010zu", (char)('A' + k), 'A', i);
			snprintf(pk, sizeof(pk), "B%086zu=", i);
			pk[87] = 'A';
			json_t *c = json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:b}", "aaguid",
			                      "0123456789abcdef0123456789abcdef", "cose_alg", -7,
			                      "id", id, "label", k ? "backup" : "main",
			                      "public_key", pk, "rp_id", "mynaguard", "uv", 1);
			assert_non_null(c);
			json_array_append_new(creds, c);
		}
		json_object_set_new(
		    staff, name, json_pack("{s:o,s:s}", "credentials", creds, "state", "active"));
	}
	return staff;
}

static void db_5000_users(void **state)
{
	(void)state;
	json_t *staff = many_staff(5000);
	char err[256] = "";
	assert_int_equal(mg_policy_staff_check(staff, err, sizeof(err)), 0);
	unsigned char *db = NULL;
	size_t len = 0;
	assert_int_equal(mg_staff_db_build(staff, 9, ISSUED, EXPIRES, &db, &len), 0);
	struct mg_staff_db_info info;
	assert_int_equal(mg_staff_db_open(db, len, &info), 0);
	assert_int_equal(info.count, 5000);
	const char *key;
	json_t *u;
	struct mg_staff_entry e;
	json_object_foreach(staff, key, u)
	{
		assert_int_equal(mg_staff_db_find(db, len, key, &e), 0);
		assert_int_equal(e.user_len, strlen(key));
		assert_memory_equal(e.user, key, e.user_len);
	}
	assert_int_equal(mg_staff_db_find(db, len, "staff05000", &e), -ENOENT);
	assert_int_equal(mg_staff_db_find(db, len, "Staff00000@city.local", &e), -ENOENT);
	free(db);
	json_decref(staff);
}

static void db_damaged(void **state)
{
	(void)state;
	json_t *staff = many_staff(3);
	unsigned char *db = NULL, *bad;
	size_t len = 0;
	struct mg_staff_entry e;
	assert_int_equal(mg_staff_db_build(staff, 9, ISSUED, EXPIRES, &db, &len), 0);
	json_decref(staff);
	assert_int_equal(mg_staff_db_open(db, len, NULL), 0);
	bad = malloc(len);
	assert_non_null(bad);

	/* Every truncation is refused by open (an entry points beyond the end, or the index). */
	for (size_t n = 0; n < len; n++)
		assert_int_equal(mg_staff_db_open(db, n, NULL), -EBADMSG);
	assert_int_equal(mg_staff_db_open(NULL, 0, NULL), -EBADMSG);
	assert_int_equal(mg_staff_db_find(db, 39, "staff00000", &e), -EBADMSG);

	struct {
		size_t off;
		unsigned n;
		uint64_t v;
	} edits[] = {
	    {0, 1, 'X'},                     /* magic */
	    {8, 4, 2},                       /* format */
	    {12, 4, 4},                      /* count beyond the index */
	    {12, 4, 0xffffffffu},            /* huge count */
	    {32, 8, (uint64_t)ISSUED},       /* expires == issued */
	    {40 + 0, 4, 0},                  /* name inside the header */
	    {40 + 0, 4, 0xfffffff0u},        /* name beyond the end */
	    {40 + 4, 4, 0},                  /* empty name */
	    {40 + 4, 4, 256},                /* name too long */
	    {40 + 8, 4, 0xfffffff0u},        /* record beyond the end */
	    {40 + 12, 4, 0xffffffffu},       /* record length */
	    {40 + 16, 4, 2},                 /* unknown flag */
	    {40 + 20, 4, 1},                 /* reserved */
	    {40 + 24, 8, UINT64_C(1) << 63}, /* negative unlock time */
	    {40 + 32 + 4, 4, 0},             /* second entry: empty name */
	    {40 + 64 + 16, 4, 0x80000000u},  /* third entry: flag */
	};
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		memcpy(bad, db, len);
		mg_le_put(bad + edits[i].off, edits[i].v, edits[i].n);
		if (mg_staff_db_open(bad, len, NULL) != -EBADMSG)
			fail_msg("edit %zu accepted", i);
	}
	/* A header edit makes find refuse too. */
	memcpy(bad, db, len);
	bad[3] = 'x';
	assert_int_equal(mg_staff_db_find(bad, len, "staff00000", &e), -EBADMSG);
	/* Entries out of order (swap the first two index entries). */
	memcpy(bad, db, len);
	memcpy(bad + 40, db + 72, 32);
	memcpy(bad + 72, db + 40, 32);
	assert_int_equal(mg_staff_db_open(bad, len, NULL), -EBADMSG);
	/* Two entries with the same name. */
	memcpy(bad, db, len);
	memcpy(bad + 72, db + 40, 32);
	assert_int_equal(mg_staff_db_open(bad, len, NULL), -EBADMSG);
	/* A name byte that is not a user name ('/'). */
	memcpy(bad, db, len);
	bad[mg_le_get(db + 40, 4)] = '/';
	assert_int_equal(mg_staff_db_open(bad, len, NULL), -EBADMSG);
	/* find on the middle entry with a damaged offset: -EBADMSG, not a read out of bounds. */
	memcpy(bad, db, len);
	mg_le_put(bad + 40 + 32 + 8, 0xfffffff0u, 4);
	assert_int_equal(mg_staff_db_find(bad, len, "anything", &e), -EBADMSG);
	free(bad);
	free(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(bundle_staff_accepted),
	    cmocka_unit_test(bundle_staff_refused),
	    cmocka_unit_test(db_round_trip),
	    cmocka_unit_test(db_5000_users),
	    cmocka_unit_test(db_damaged),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
