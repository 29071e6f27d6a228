/*
 * Reading and writing the credential files of a user (I/O around credfile.c): the
 * credential directory is checked from / down (safe_dir.h: every parent root or the trusted
 * owner, none group/world writable), it and its fido2/ and totp/ subdirectories must be owned
 * by the trusted owner and not writable by group or others; files are opened relative to the
 * checked directory's descriptor with O_NOFOLLOW (TOTP secrets: 0600) and replaced all or
 * nothing (temp file + fsync + renameat + fsync of the directory).
 */
#ifndef MG_PAM_CREDSTORE_H
#define MG_PAM_CREDSTORE_H

#include <sys/types.h>

#include "credfile.h"

/*
 * 0, -ENOENT when the user has none, -EPERM/-ELOOP/-EINVAL for a file or directory that fails
 * the checks, -EBADMSG for one that does not parse (why gets the reason, English).
 */
int mg_credstore_load_fido2(const char *credential_dir, uid_t owner, const char *user,
                            struct mg_fido2_credfile **out, char *why, size_t whylen);
int mg_credstore_load_totp(const char *credential_dir, uid_t owner, const char *user,
                           struct mg_totp_cred **out, char *why, size_t whylen);

/* Write (creating the subdirectory 0755 when missing). A FIDO2 file with no credential is removed.
 */
int mg_credstore_save_fido2(const char *credential_dir, uid_t owner,
                            const struct mg_fido2_credfile *f);
int mg_credstore_save_totp(const char *credential_dir, uid_t owner, const struct mg_totp_cred *c);
/* 0 or -ENOENT. */
int mg_credstore_remove_totp(const char *credential_dir, uid_t owner, const char *user);

#endif
