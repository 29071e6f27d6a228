/*
 * libFuzzer target: what the PAM module reads from staff.db on arbitrary bytes
 * (pam_module/src/staffdb_read.c): a user's record ({"credentials":[...]}) and, with the
 * input taken as a user name, the file-name mapping of pam_user.c. A parsed record holds at
 * most 16 credentials, all of the asked relying party; a mapped name is a safe file name.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pam_user.h"
#include "staffdb_read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mg_fido2_credfile *f = NULL;
	char err[256], name[MG_PAM_USER_MAX + 1], file[MG_PAM_FILE_NAME_MAX + 1];
	if (mg_central_record_parse((const char *)data, size, "Tanaka", "pam://mynaguard", &f, err,
	                            sizeof(err)) == 0) {
		if (f->n > MG_FIDO2_MAX_CREDS || strcmp(f->user, "Tanaka") != 0)
			abort();
		for (size_t i = 0; i < f->n; i++)
			if (f->creds[i].id_len == 0 || f->creds[i].pk_len == 0)
				abort();
		mg_fido2_credfile_free(&f);
	}
	if (size < sizeof(name)) {
		memcpy(name, data, size);
		name[size] = '\0';
		if (mg_pam_user_file(file, sizeof(file), name, ".json") == 0) {
			size_t n = strlen(file);
			if (!mg_pam_user_valid(name) || n > MG_PAM_FILE_NAME_MAX || n < 6 ||
			    strchr(file, '/') || file[0] == '.' ||
			    strcmp(file + n - 5, ".json") != 0)
				abort();
		}
	}
	return 0;
}
