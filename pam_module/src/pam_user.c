/* User name validation and per-user file names and paths. */
#include "pam_user.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

bool mg_pam_user_valid(const char *name)
{
	return mg_user_name_valid_str(name);
}

/* Bytes kept as they are in a file name. */
static bool plain(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

int mg_pam_user_file(char *buf, size_t len, const char *user, const char *suffix)
{
	static const char hex[] = "0123456789ABCDEF";
	char out[MG_PAM_FILE_NAME_MAX + 1];
	size_t n = 0, slen = strlen(suffix);
	if (!mg_pam_user_valid(user) || slen > 16)
		return -EINVAL;
	size_t ulen = strlen(user);
	bool fits = true;
	for (size_t i = 0; i < ulen && fits; i++) {
		char c = user[i];
		size_t need = plain(c) || (c == '$' && i + 1 == ulen) ? 1 : 3;
		if (n + need + slen > MG_PAM_FILE_NAME_MAX) {
			fits = false;
			break;
		}
		if (need == 1) {
			out[n++] = c;
		} else {
			out[n++] = '%';
			out[n++] = hex[(unsigned char)c >> 4];
			out[n++] = hex[(unsigned char)c & 15];
		}
	}
	if (!fits) {
		unsigned char md[SHA256_DIGEST_LENGTH];
		SHA256((const unsigned char *)user, ulen, md);
		n = 0;
		out[n++] = '~';
		for (size_t i = 0; i < sizeof(md); i++) {
			out[n++] = "0123456789abcdef"[md[i] >> 4];
			out[n++] = "0123456789abcdef"[md[i] & 15];
		}
	}
	memcpy(out + n, suffix, slen);
	n += slen;
	out[n] = '\0';
	if (n >= len)
		return -ENAMETOOLONG;
	memcpy(buf, out, n + 1);
	return 0;
}

int mg_pam_user_path(char *buf, size_t len, const char *credential_dir, const char *state_dir,
                     enum mg_pam_file which, const char *user)
{
	char name[MG_PAM_FILE_NAME_MAX + 1];
	const char *suffix = which == MG_PAM_FILE_LOCK ? ".lock" : ".json";
	int r = mg_pam_user_file(name, sizeof(name), user, suffix);
	if (r < 0)
		return r;
	int n = -1;
	switch (which) {
	case MG_PAM_FILE_FIDO2:
		n = snprintf(buf, len, "%s/fido2/%s", credential_dir, name);
		break;
	case MG_PAM_FILE_TOTP:
		n = snprintf(buf, len, "%s/totp/%s", credential_dir, name);
		break;
	case MG_PAM_FILE_STATE:
	case MG_PAM_FILE_LOCK:
		n = snprintf(buf, len, "%s/%s", state_dir, name);
		break;
	}
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}
