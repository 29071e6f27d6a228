/*
 * libFuzzer target: the FIDO2 and TOTP credential file parsers (pam_module/src/credfile.c)
 * on arbitrary bytes. What parses must format and parse back to the same text.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "credfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mg_fido2_credfile *f = NULL, *g = NULL;
	struct mg_totp_cred *t = NULL, *u = NULL;
	char err[256], *text = NULL, *again = NULL;
	size_t len = 0;
	if (mg_fido2_credfile_parse((const char *)data, size, "alice", &f, err, sizeof(err)) == 0) {
		if (mg_fido2_credfile_format(f, &text, &len) == 0) {
			if (mg_fido2_credfile_parse(text, len, "alice", &g, err, sizeof(err)) !=
			        0 ||
			    mg_fido2_credfile_format(g, &again, NULL) != 0 ||
			    strcmp(text, again) != 0)
				abort();
		}
		free(text);
		free(again);
		text = again = NULL;
		mg_fido2_credfile_free(&g);
		mg_fido2_credfile_free(&f);
	}
	if (mg_totp_cred_parse((const char *)data, size, "alice", &t, err, sizeof(err)) == 0) {
		if (mg_totp_cred_format(t, &text, &len) == 0) {
			if (mg_totp_cred_parse(text, len, "alice", &u, err, sizeof(err)) != 0 ||
			    memcmp(t->secret, u->secret, t->secret_len) != 0)
				abort();
		}
		free(text);
		mg_totp_cred_free(&u);
		mg_totp_cred_free(&t);
	}
	return 0;
}
