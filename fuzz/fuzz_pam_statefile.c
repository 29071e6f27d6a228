/*
 * libFuzzer target: the whole per-user state file (pam_module/src/authstate.c, format 3: two
 * slots; formats 1 and 2: one JSON record) and the repair's salvage of a damaged one. What
 * parses must encode into a slot and parse back equal; the salvage never fails.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "authstate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mg_authstate st, back;
	static char file[2 * MG_AUTHSTATE_SLOT_LARGE];
	struct mg_authstate_where where, w2;
	struct mg_authstate_repair rep;
	char err[256];
	const char *buf = (const char *)data;
	if (mg_authstate_file_parse(buf, size, &st, &where, err, sizeof(err)) == 0) {
		size_t s = MG_AUTHSTATE_SLOT_SMALL;
		int r = mg_authstate_slot_encode(&st, where.gen + 1, file, s);
		if (r == -EFBIG) {
			s = MG_AUTHSTATE_SLOT_LARGE;
			r = mg_authstate_slot_encode(&st, where.gen + 1, file, s);
		}
		memset(file + s, 0, s);
		if (r != 0 ||
		    mg_authstate_file_parse(file, 2 * s, &back, &w2, err, sizeof(err)) != 0 ||
		    w2.slot != 0 || w2.gen != where.gen + 1 || back.failures != st.failures ||
		    back.locked_until != st.locked_until ||
		    back.last_totp_step != st.last_totp_step || back.ncounters != st.ncounters)
			abort();
	}
	mg_authstate_salvage(buf, size, &back, &rep);
	if (!rep.repaired || back.failures != 0 || back.locked_until != 0 ||
	    back.ncounters > MG_AUTHSTATE_MAX_COUNTERS)
		abort();
	return 0;
}
