/* User name validation and per-user paths. */
#include "pam_user.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

bool mg_pam_user_valid(const char *name)
{
	if (!name)
		return false;
	size_t n = strlen(name);
	if (n > 0 && name[n - 1] == '$')
		n--;
	if (n == 0 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || c == '_' ||
		          (i > 0 && ((c >= '0' && c <= '9') || c == '.' || c == '-'));
		if (!ok)
			return false;
	}
	return name[n] == '\0' || (name[n] == '$' && name[n + 1] == '\0');
}

int mg_pam_user_path(char *buf, size_t len, const char *credential_dir, const char *state_dir,
                     enum mg_pam_file which, const char *user)
{
	if (!mg_pam_user_valid(user))
		return -EINVAL;
	int n = -1;
	switch (which) {
	case MG_PAM_FILE_FIDO2:
		n = snprintf(buf, len, "%s/fido2/%s.json", credential_dir, user);
		break;
	case MG_PAM_FILE_TOTP:
		n = snprintf(buf, len, "%s/totp/%s.json", credential_dir, user);
		break;
	case MG_PAM_FILE_STATE:
		n = snprintf(buf, len, "%s/%s.json", state_dir, user);
		break;
	case MG_PAM_FILE_LOCK:
		n = snprintf(buf, len, "%s/%s.lock", state_dir, user);
		break;
	}
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}
