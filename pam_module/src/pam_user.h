/* User names accepted by the module and the per-user file paths built from them. */
#ifndef MG_PAM_USER_H
#define MG_PAM_USER_H

#include <stdbool.h>
#include <stddef.h>

#define MG_PAM_USER_MAX 33 /* 32 characters and an optional trailing '$' */

/*
 * True when name matches [a-z_][a-z0-9_.-]{0,31} with an optional trailing '$' (the
 * Debian useradd default without upper case). Only such names are used to build paths.
 */
bool mg_pam_user_valid(const char *name);

enum mg_pam_file {
	MG_PAM_FILE_FIDO2, /* <credential_dir>/fido2/<user>.json */
	MG_PAM_FILE_TOTP,  /* <credential_dir>/totp/<user>.json */
	MG_PAM_FILE_STATE, /* <state_dir>/<user>.json */
	MG_PAM_FILE_LOCK,  /* <state_dir>/<user>.lock */
};

/*
 * Writes the path of a user's file into buf. 0, -EINVAL for a user name that is not valid,
 * -ENAMETOOLONG.
 */
int mg_pam_user_path(char *buf, size_t len, const char *credential_dir, const char *state_dir,
                     enum mg_pam_file which, const char *user);

#endif
