/*
 * libFuzzer target: staff.db (common/src/staff_db.c) on arbitrary bytes, as the PAM module
 * maps it. open and find must never read outside the buffer; whatever open accepts, find must
 * find every name of its index, and find must never return an entry open would refuse.
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact copy, so that ASan sees any read beyond the end. */
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
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
	}
	free(buf);
	return 0;
}
