/*
 * libFuzzer target: what crosses a privilege boundary on the FIDO2 path and is parsed by the
 * side with more rights: the assertion line the module sends to mynaguard-auth-helper
 * (helper_proto.c) and the answer of the unprivileged child that talked to the keys
 * (fido2_child.c). What parses must format and parse back equal.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fido2_child.h"
#include "helper_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mg_helper_assert as;
	static struct mg_fido2_assertion a, b;
	static unsigned char buf[MG_FIDO2_ANSWER_MAX];
	static char line[MG_HELPER_LINE_MAX + 1];
	enum mg_fido2_status st, st2;
	size_t key, key2;
	if (size < sizeof(line)) {
		memcpy(line, data, size);
		line[size] = '\0';
		(void)mg_helper_assert_parse(line, &as);
	}
	if (mg_fido2_answer_parse(data, size, 4, 4, &st, &key, &a) == 0 && st == MG_FIDO2_OK) {
		size_t len = mg_fido2_answer_format(st, key, &a, buf);
		if (len != size || memcmp(buf, data, size) != 0 ||
		    mg_fido2_answer_parse(buf, len, 4, 4, &st2, &key2, &b) != 0 || key2 != key ||
		    b.authdata_len != a.authdata_len || b.sig_len != a.sig_len)
			abort();
	}
	return 0;
}
