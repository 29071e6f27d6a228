/* Credential files on disk. */
#include "credstore.h"

#include <errno.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pam_user.h"
#include "safe_dir.h"

/*
 * Opens credential_dir (checked from / down) and its subdirectory sub: the descriptor of sub,
 * or negative errno with why filled (not for -ENOENT).
 */
static int open_sub(const char *credential_dir, const char *sub, uid_t owner, bool create,
                    char *why, size_t whylen)
{
	char reason[320];
	int dfd = mg_pam_dir_open(credential_dir, owner, reason, sizeof(reason));
	if (dfd < 0) {
		if (dfd != -ENOENT && why)
			snprintf(why, whylen, "credential_dir refused: %s", reason);
		return dfd;
	}
	/* totp/ holds secrets; fido2/ is read by the module as the user in screen lockers. */
	mode_t mode = strcmp(sub, "totp") == 0 ? 0700 : 0755;
	int fd = mg_pam_subdir_open(dfd, sub, owner, create, mode);
	close(dfd);
	if (fd < 0 && fd != -ENOENT && why)
		snprintf(why, whylen, "%s/%s/: wrong owner, writable by others or not a directory",
		         credential_dir, sub);
	return fd;
}

/* <file name of user>.json (pam_user.h: collision-free, Tanaka -> %54anaka.json). */
static int file_name(char *buf, size_t len, const char *user)
{
	return mg_pam_user_file(buf, len, user, ".json");
}

static int load(const char *credential_dir, uid_t owner, const char *user, enum mg_pam_file which,
                char **data, size_t *len, char *why, size_t whylen)
{
	char name[MG_PAM_FILE_NAME_MAX + 1];
	const char *what = NULL;
	const char *sub = which == MG_PAM_FILE_TOTP ? "totp" : "fido2";
	int r = file_name(name, sizeof(name), user);
	if (r < 0)
		return r;
	int fd = open_sub(credential_dir, sub, owner, false, why, whylen);
	if (fd < 0)
		return fd;
	struct mg_file_rules rules = {
	    .owner = owner, .secret = which == MG_PAM_FILE_TOTP, .max_size = MG_CREDFILE_MAX_SIZE};
	r = mg_pam_read_at(fd, name, &rules, data, len, &what);
	close(fd);
	if (r < 0 && r != -ENOENT)
		snprintf(why, whylen, "%s/%s/%s: %s", credential_dir, sub, name,
		         what ? what : "cannot be read");
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
		snprintf(why, whylen, "fido2/ file of %s: %s", user, err);
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
		snprintf(why, whylen, "totp/ file of %s: %s", user, err);
		r = -EBADMSG;
	}
	explicit_bzero(data, len);
	free(data);
	return r;
}

int mg_credstore_save_fido2(const char *credential_dir, uid_t owner,
                            const struct mg_fido2_credfile *f)
{
	char name[MG_PAM_FILE_NAME_MAX + 1], *text = NULL;
	size_t len = 0;
	int r = file_name(name, sizeof(name), f->user);
	if (r < 0)
		return r;
	int fd = open_sub(credential_dir, "fido2", owner, true, NULL, 0);
	if (fd < 0)
		return fd;
	if (f->n == 0) {
		r = unlinkat(fd, name, 0) == 0 || errno == ENOENT ? 0 : -errno;
	} else if ((r = mg_fido2_credfile_format(f, &text, &len)) == 0) {
		r = mg_pam_write_at(fd, name, text, len, 0644);
		free(text);
	}
	close(fd);
	return r;
}

int mg_credstore_save_totp(const char *credential_dir, uid_t owner, const struct mg_totp_cred *c)
{
	char name[MG_PAM_FILE_NAME_MAX + 1], *text = NULL;
	size_t len = 0;
	int r = file_name(name, sizeof(name), c->user);
	if (r < 0)
		return r;
	int fd = open_sub(credential_dir, "totp", owner, true, NULL, 0);
	if (fd < 0)
		return fd;
	if ((r = mg_totp_cred_format(c, &text, &len)) == 0) {
		r = mg_pam_write_at(fd, name, text, len, 0600);
		explicit_bzero(text, len);
		free(text);
	}
	close(fd);
	return r;
}

int mg_credstore_remove_totp(const char *credential_dir, uid_t owner, const char *user)
{
	char name[MG_PAM_FILE_NAME_MAX + 1];
	int r = file_name(name, sizeof(name), user);
	if (r < 0)
		return r;
	int fd = open_sub(credential_dir, "totp", owner, false, NULL, 0);
	if (fd < 0)
		return fd;
	r = unlinkat(fd, name, 0) == 0 ? 0 : -errno;
	close(fd);
	return r;
}
