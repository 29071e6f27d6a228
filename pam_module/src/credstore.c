/* Credential files on disk. */
#include "credstore.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "authstate.h" /* mg_pam_dir_check */
#include "mg/safe_open.h"

static int check_dirs(const char *credential_dir, const char *sub, uid_t owner, char *why,
                      size_t whylen)
{
	char path[PATH_MAX];
	int r = mg_pam_dir_check(credential_dir, owner);
	if (r == 0) {
		if (snprintf(path, sizeof(path), "%s/%s", credential_dir, sub) >= (int)sizeof(path))
			return -ENAMETOOLONG;
		r = mg_pam_dir_check(path, owner);
	}
	if (r < 0 && r != -ENOENT)
		snprintf(why, whylen,
		         "%s or its %s/ subdirectory: wrong owner, writable by others "
		         "or not a directory",
		         credential_dir, sub);
	return r;
}

static int load(const char *credential_dir, uid_t owner, const char *user, enum mg_pam_file which,
                char **data, size_t *len, char *why, size_t whylen)
{
	char path[PATH_MAX];
	const char *what = NULL;
	int r = check_dirs(credential_dir, which == MG_PAM_FILE_TOTP ? "totp" : "fido2", owner, why,
	                   whylen);
	if (r < 0)
		return r;
	if ((r = mg_pam_user_path(path, sizeof(path), credential_dir, "", which, user)) < 0)
		return r;
	struct mg_file_rules rules = {
	    .owner = owner, .secret = which == MG_PAM_FILE_TOTP, .max_size = MG_CREDFILE_MAX_SIZE};
	r = mg_safe_read_file(path, &rules, data, len, &what);
	if (r < 0 && r != -ENOENT)
		snprintf(why, whylen, "%s: %s", path, what ? what : "cannot be read");
	return r;
}

int mg_credstore_load_fido2(const char *credential_dir, uid_t owner, const char *user,
                            struct mg_fido2_credfile **out, char *why, size_t whylen)
{
	char *data = NULL, err[256] = "";
	size_t len = 0;
	int r = load(credential_dir, owner, user, MG_PAM_FILE_FIDO2, &data, &len, why, whylen);
	if (r < 0)
		return r;
	r = mg_fido2_credfile_parse(data, len, user, out, err, sizeof(err));
	if (r == -EINVAL || r == -EFBIG) {
		snprintf(why, whylen, "fido2/%s.json: %s", user, err);
		r = -EBADMSG;
	}
	free(data);
	return r;
}

int mg_credstore_load_totp(const char *credential_dir, uid_t owner, const char *user,
                           struct mg_totp_cred **out, char *why, size_t whylen)
{
	char *data = NULL, err[256] = "";
	size_t len = 0;
	int r = load(credential_dir, owner, user, MG_PAM_FILE_TOTP, &data, &len, why, whylen);
	if (r < 0)
		return r;
	r = mg_totp_cred_parse(data, len, user, out, err, sizeof(err));
	if (r == -EINVAL || r == -EFBIG) {
		snprintf(why, whylen, "totp/%s.json: %s", user, err);
		r = -EBADMSG;
	}
	explicit_bzero(data, len);
	free(data);
	return r;
}

static int ensure_subdir(const char *credential_dir, const char *sub, uid_t owner)
{
	char path[PATH_MAX];
	int r = mg_pam_dir_check(credential_dir, owner);
	if (r < 0)
		return r;
	if (snprintf(path, sizeof(path), "%s/%s", credential_dir, sub) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return -errno;
	return mg_pam_dir_check(path, owner);
}

int mg_credstore_save_fido2(const char *credential_dir, uid_t owner,
                            const struct mg_fido2_credfile *f)
{
	char path[PATH_MAX], *text = NULL;
	size_t len = 0;
	int r = ensure_subdir(credential_dir, "fido2", owner);
	if (r == 0)
		r = mg_pam_user_path(path, sizeof(path), credential_dir, "", MG_PAM_FILE_FIDO2,
		                     f->user);
	if (r < 0)
		return r;
	if (f->n == 0)
		return unlink(path) == 0 || errno == ENOENT ? 0 : -errno;
	if ((r = mg_fido2_credfile_format(f, &text, &len)) < 0)
		return r;
	r = mg_write_file_atomic(path, text, len, 0644);
	free(text);
	return r;
}

int mg_credstore_save_totp(const char *credential_dir, uid_t owner, const struct mg_totp_cred *c)
{
	char path[PATH_MAX], *text = NULL;
	size_t len = 0;
	int r = ensure_subdir(credential_dir, "totp", owner);
	if (r == 0)
		r = mg_pam_user_path(path, sizeof(path), credential_dir, "", MG_PAM_FILE_TOTP,
		                     c->user);
	if (r < 0)
		return r;
	if ((r = mg_totp_cred_format(c, &text, &len)) < 0)
		return r;
	r = mg_write_file_atomic(path, text, len, 0600);
	explicit_bzero(text, len);
	free(text);
	return r;
}

int mg_credstore_remove_totp(const char *credential_dir, uid_t owner, const char *user)
{
	char path[PATH_MAX];
	int r = check_dirs(credential_dir, "totp", owner, path, sizeof(path));
	if (r == 0)
		r = mg_pam_user_path(path, sizeof(path), credential_dir, "", MG_PAM_FILE_TOTP,
		                     user);
	if (r < 0)
		return r;
	return unlink(path) == 0 ? 0 : -errno;
}
