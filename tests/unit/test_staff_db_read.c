/*
 * Issue 15: mg_staff_db_find_read, the search of staff.db through a reader callback (the PAM
 * module's bounded pread()s): the same answers and checks as mg_staff_db_find, only the pieces
 * the binary search visits are read, reads stay inside the file, and a reader error is passed
 * on.
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
#include "mg/staff_db.h"

#define ISSUED  INT64_C(1764892800000000) /* 2025-12-05T00:00:00Z */
#define EXPIRES (ISSUED + INT64_C(86400000000))
#define USERS   1000u

struct mem {
	const unsigned char *buf;
	size_t len;
	unsigned reads;
	size_t bytes;
	int fail_at; /* the read number that fails with -EIO, 0: none */
};

static int mem_read(void *ctx, uint64_t off, void *dst, size_t n)
{
	struct mem *m = ctx;
	assert_true(off <= m->len && n <= m->len - off); /* never outside the file */
	m->reads++;
	m->bytes += n;
	if (m->fail_at && (int)m->reads == m->fail_at)
		return -EIO;
	memcpy(dst, m->buf + off, n);
	return 0;
}

static void name_of(unsigned i, char *buf, size_t len)
{
	if (i % 3 == 0)
		snprintf(buf, len, "Staff%04u", i);
	else if (i % 3 == 1)
		snprintf(buf, len, "staff%04u@city.local", i);
	else
		snprintf(buf, len, "s.%04u-kanri", i);
}

/* USERS staff, every 7th disabled, every 5th with an unlock. */
static unsigned char *build(size_t *len)
{
	json_t *o = json_object();
	char name[64];
	for (unsigned i = 0; i < USERS; i++) {
		bool disabled = i % 7 == 0;
		json_t *creds = json_array();
		if (!disabled)
			json_array_append_new(
			    creds, json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:b}", "aaguid",
			                     "0123456789abcdef0123456789abcdef", "cose_alg", -7,
			                     "id", "AQID", "label", "key-1", "public_key",
			                     "cHVibGljLWtleQ==", "rp_id", "mynaguard", "uv", 1));
		json_t *u = json_pack("{s:o,s:s}", "credentials", creds, "state",
		                      disabled ? "disabled" : "active");
		if (i % 5 == 0)
			json_object_set_new(u, "unlocked_at", json_string("2025-12-04T10:00:00Z"));
		name_of(i, name, sizeof(name));
		json_object_set_new(o, name, u);
	}
	unsigned char *db = NULL;
	assert_int_equal(mg_staff_db_build(o, 9, ISSUED, EXPIRES, &db, len), 0);
	json_decref(o);
	return db;
}

static void same_as_find(void **state)
{
	(void)state;
	size_t len = 0;
	unsigned char *db = build(&len);
	char *rec = malloc(MG_STAFF_DB_MAX_RECORD);
	assert_non_null(rec);
	char name[64];
	for (unsigned i = 0; i < USERS; i++) {
		struct mg_staff_entry a, b;
		struct mg_staff_db_info info;
		struct mem m = {db, len, 0, 0, 0};
		struct mg_staff_db_reader rd = {mem_read, &m, len};
		name_of(i, name, sizeof(name));
		assert_int_equal(mg_staff_db_find(db, len, name, &a), 0);
		assert_int_equal(
		    mg_staff_db_find_read(&rd, name, &info, &b, rec, MG_STAFF_DB_MAX_RECORD), 0);
		assert_int_equal(info.count, USERS);
		assert_int_equal(info.bundle_version, 9);
		assert_int_equal(info.expires_us, EXPIRES);
		assert_int_equal(b.user_len, a.user_len);
		assert_memory_equal(b.user, a.user, a.user_len);
		assert_int_equal(b.disabled, a.disabled);
		assert_int_equal(b.unlocked_us, a.unlocked_us);
		assert_int_equal(b.record_len, a.record_len);
		assert_memory_equal(b.record, a.record, a.record_len);
		assert_true(b.record == rec);
		/* Header, at most 10 steps (1,000 names) of entry, name and two record bytes, the
		 * record: a few KiB, never the file (about 200 KiB). */
		assert_true(m.reads <= 1 + 4 * 10 + 1);
		assert_true(m.bytes < 4096);
	}
	/* Not there, case matters, invalid names: -ENOENT, and the header still described. */
	static const char *const absent[] = {"staff0001", "STAFF0000", "zzz", "-x", ""};
	for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
		struct mg_staff_entry b;
		struct mg_staff_db_info info = {0, 0, 0, 0};
		struct mem m = {db, len, 0, 0, 0};
		struct mg_staff_db_reader rd = {mem_read, &m, len};
		assert_int_equal(
		    mg_staff_db_find_read(&rd, absent[i], &info, &b, rec, MG_STAFF_DB_MAX_RECORD),
		    -ENOENT);
		assert_int_equal(info.count, USERS);
	}
	free(rec);
	free(db);
}

static void damaged_and_errors(void **state)
{
	(void)state;
	size_t len = 0;
	unsigned char *db = build(&len);
	char *rec = malloc(MG_STAFF_DB_MAX_RECORD);
	struct mg_staff_entry a, b;
	assert_non_null(rec);
	/* A reader error at any read is passed on, never taken for an answer. */
	for (int k = 1; k <= 6; k++) {
		struct mem m = {db, len, 0, 0, k};
		struct mg_staff_db_reader rd = {mem_read, &m, len};
		assert_int_equal(
		    mg_staff_db_find_read(&rd, "Staff0003", NULL, &b, rec, MG_STAFF_DB_MAX_RECORD),
		    -EIO);
	}
	/* Too small a record buffer: nothing read beyond the header. */
	struct mem m0 = {db, len, 0, 0, 0};
	struct mg_staff_db_reader rd0 = {mem_read, &m0, len};
	assert_int_equal(mg_staff_db_find_read(&rd0, "Staff0003", NULL, &b, rec, 64), -ENOENT);
	assert_int_equal(m0.reads, 1);
	/* A file shorter than its index says (truncated): -EBADMSG, as find. */
	struct mem mt = {db, 1000, 0, 0, 0};
	struct mg_staff_db_reader rdt = {mem_read, &mt, 1000};
	assert_int_equal(mg_staff_db_find(db, 1000, "Staff0003", &a), -EBADMSG);
	assert_int_equal(
	    mg_staff_db_find_read(&rdt, "Staff0003", NULL, &b, rec, MG_STAFF_DB_MAX_RECORD),
	    -EBADMSG);
	/* Damage in what the search visits (the middle entry): the same answer as find. */
	size_t mid = MG_STAFF_DB_HEADER + (USERS / 2) * MG_STAFF_DB_ENTRY;
	uint64_t roff = mg_le_get(db + mid + 8, 4);
	for (int i = 0; i < 7; i++) {
		unsigned char *copy = malloc(len);
		assert_non_null(copy);
		memcpy(copy, db, len);
		switch (i) {
		case 0:
			copy[0] = 'X'; /* magic */
			break;
		case 1:
			copy[8] = 2; /* format */
			break;
		case 2:
			copy[12] = 0xff; /* count: the data area moves */
			break;
		case 3:
			copy[mid + 4] = 0xff; /* the visited entry's name length */
			break;
		case 4:
			copy[mid + 20] = 1; /* reserved */
			break;
		case 5:
			copy[roff] = '['; /* the visited record's first byte */
			break;
		default:
			copy[mid + 16] = 4; /* unknown flag */
			break;
		}
		struct mem m = {copy, len, 0, 0, 0};
		struct mg_staff_db_reader rd = {mem_read, &m, len};
		int ra = mg_staff_db_find(copy, len, "Staff0003", &a);
		int rb =
		    mg_staff_db_find_read(&rd, "Staff0003", NULL, &b, rec, MG_STAFF_DB_MAX_RECORD);
		assert_int_equal(ra, -EBADMSG);
		assert_int_equal(rb, ra);
		free(copy);
	}
	free(rec);
	free(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(same_as_find),
	    cmocka_unit_test(damaged_and_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
