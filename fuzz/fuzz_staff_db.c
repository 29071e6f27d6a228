/*
 * libFuzzer target: staff.db (common/src/staff_db.c) on arbitrary bytes. open and find must
 * never read outside the buffer; whatever open accepts, find must find every name of its index,
 * and find must never return an entry open would refuse. find_read (the PAM module's bounded
 * reads) must give the same answer as find for every name, read only inside the file, and
 * read at most the header, four pieces per visited entry (entry, name, the record's first
 * and last byte) and the record.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mg/bytes.h"
#include "mg/staff_db.h"
#include "mg/user_name.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct mem {
	const uint8_t *buf;
	size_t len;
	unsigned reads;
};

static int mem_read(void *ctx, uint64_t off, void *dst, size_t n)
{
	struct mem *m = ctx;
	if (off > m->len || n > m->len - off)
		abort(); /* find_read checks bounds before it reads */
	m->reads++;
	memcpy(dst, m->buf + off, n);
	return 0;
}

/* find and find_read agree on name (result, fields, record bytes). */
static void same_answer(const uint8_t *buf, size_t size, const char *name, char *rec)
{
	struct mg_staff_entry a, b;
	struct mg_staff_db_info info;
	struct mem m = {buf, size, 0};
	struct mg_staff_db_reader rd = {mem_read, &m, size};
	int ra = mg_staff_db_find(buf, size, name, &a);
	int rb = mg_staff_db_find_read(&rd, name, &info, &b, rec, MG_STAFF_DB_MAX_RECORD);
	if (ra != rb || m.reads > 1 + 4 * 17 + 1)
		abort();
	if (ra == 0 &&
	    (a.user_len != b.user_len || memcmp(a.user, b.user, a.user_len) != 0 ||
	     a.disabled != b.disabled || a.unlocked_us != b.unlocked_us ||
	     a.record_len != b.record_len || memcmp(a.record, b.record, a.record_len) != 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact copy, so that ASan sees any read beyond the end. */
	uint8_t *buf = malloc(size ? size : 1);
	char *rec = malloc(MG_STAFF_DB_MAX_RECORD);
	if (!buf || !rec) {
		free(buf);
		free(rec);
		return 0;
	}
	memcpy(buf, data, size);
	struct mg_staff_db_info info;
	struct mg_staff_entry e;
	char name[MG_USER_NAME_MAX + 1];
	int r = mg_staff_db_open(buf, size, &info);
	if (r == 0) {
		for (uint32_t i = 0; i < info.count; i++) {
			const uint8_t *p = buf + MG_STAFF_DB_HEADER + (size_t)i * MG_STAFF_DB_ENTRY;
			size_t off = (size_t)mg_le_get(p, 4), n = (size_t)mg_le_get(p + 4, 4);
			memcpy(name, buf + off, n);
			name[n] = '\0';
			if (mg_staff_db_find(buf, size, name, &e) != 0 || e.user_len != n ||
			    memcmp(e.user, name, n) != 0)
				abort();
			same_answer(buf, size, name, rec);
		}
	} else if (r != -EBADMSG) {
		abort();
	}
	/* Lookups on unchecked bytes: bounded whatever the index says. */
	static const char *const names[] = {"Tanaka", "tanaka", "suzuki@city.local", "a", "zzzz"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		r = mg_staff_db_find(buf, size, names[i], &e);
		if (r == 0 && (e.user_len != strlen(names[i]) || (const uint8_t *)e.record < buf ||
		               (const uint8_t *)e.record + e.record_len > buf + size))
			abort();
		if (r != 0 && r != -ENOENT && r != -EBADMSG)
			abort();
		same_answer(buf, size, names[i], rec);
	}
	free(rec);
	free(buf);
	return 0;
}
