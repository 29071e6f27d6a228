/*
 * libFuzzer target: the per-user state file parser (pam_module/src/authstate.c) and the
 * helper's result lines (helper_proto.c). What parses must format and parse back equal.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "authstate.h"
#include "helper_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mg_authstate st, back;
	char err[256], *text = NULL, line[8192];
	size_t len = 0;
	if (mg_authstate_parse((const char *)data, size, &st, err, sizeof(err)) == 0) {
		if (mg_authstate_format(&st, &text, &len) != 0 ||
		    mg_authstate_parse(text, len, &back, err, sizeof(err)) != 0 ||
		    back.failures != st.failures || back.locked_until != st.locked_until ||
		    back.last_totp_step != st.last_totp_step || back.ncounters != st.ncounters)
			abort();
		free(text);
	}
	if (size < sizeof(line)) {
		struct mg_auth_outcome o;
		memcpy(line, data, size);
		line[size] = '\0';
		(void)mg_helper_result_parse(line, &o);
	}
	return 0;
}
