/* User names accepted by the module and the per-user file paths built from them. */
#ifndef MG_PAM_USER_H
#define MG_PAM_USER_H

#include <stdbool.h>
#include <stddef.h>

#include "mg/user_name.h"

#define MG_PAM_USER_MAX MG_USER_NAME_MAX /* 255 bytes (issue 15) */
/* A per-user file name (mapped name and suffix) is at most this long, its NUL not counted. */
#define MG_PAM_FILE_NAME_MAX 250

/*
 * True when name is a login name every component accepts (mg_user_name_valid_str: 1..255
 * bytes of A-Z a-z 0-9 @ . - _ and a trailing '$', not starting with '-' or '.'). Case
 * matters: "Tanaka" and "tanaka" are two users.
 */
bool mg_pam_user_valid(const char *name);

/*
 * The file name of a user's file: the name mapped collision-free (docs/PAM.md, "User names
 * and file names") followed by suffix (".json", ".lock"):
 *   bytes a-z 0-9 _ . - (and the trailing '$' of a machine account) as they are, every other
 *   byte as %XX (upper-case hex): "Tanaka" -> "%54anaka", "suzuki@city.local" ->
 *   "suzuki%40city.local";
 *   when the result with its suffix would exceed MG_PAM_FILE_NAME_MAX bytes: "~" and the
 *   64 lower-case hex digits of SHA-256 of the name, then the suffix.
 * Names valid before issue 15 ([a-z_][a-z0-9_.-]{0,31}$?) map to themselves. buf must hold
 * MG_PAM_FILE_NAME_MAX + 1 bytes. 0, -EINVAL (name not valid, suffix too long),
 * -ENAMETOOLONG (buf too small).
 */
int mg_pam_user_file(char *buf, size_t len, const char *user, const char *suffix);

enum mg_pam_file {
	MG_PAM_FILE_FIDO2, /* <credential_dir>/fido2/<file name>.json */
	MG_PAM_FILE_TOTP,  /* <credential_dir>/totp/<file name>.json */
	MG_PAM_FILE_STATE, /* <state_dir>/<file name>.json */
	MG_PAM_FILE_LOCK,  /* <state_dir>/<file name>.lock */
};

/*
 * Writes the path of a user's file into buf. 0, -EINVAL for a user name that is not valid,
 * -ENAMETOOLONG.
 */
int mg_pam_user_path(char *buf, size_t len, const char *credential_dir, const char *state_dir,
                     enum mg_pam_file which, const char *user);

#endif
