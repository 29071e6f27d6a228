/*
 * Directories root writes into (state_dir, credential_dir), checked from "/" down, and the
 * files in them opened relative to the checked directory's descriptor, never again by path
 * (issue 13, finding 8). The rule is OpenSSH's safe_path: every parent belongs to root or to
 * the trusted owner, the directory itself to the trusted owner, and none is writable by group
 * or others (a sticky bit does not make /tmp acceptable). Symbolic links are refused at
 * every step (O_NOFOLLOW on each component).
 */
#ifndef MG_PAM_SAFE_DIR_H
#define MG_PAM_SAFE_DIR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "mg/safe_open.h"

/*
 * Opens the absolute path dir one component at a time and checks each directory on its
 * descriptor. Returns the descriptor (O_DIRECTORY|O_CLOEXEC) or a negative errno: -EPERM
 * (owner or mode), -ELOOP (a symbolic link), -ENOTDIR, -EINVAL (relative, or a ".."
 * component), -ENOENT. why (optional) gets the reason in English, naming the component; the
 * same text stays available through mg_pam_dir_why() in this thread (for the log line of a
 * caller that only sees the errno).
 */
int mg_pam_dir_open(const char *dir, uid_t owner, char *why, size_t whylen);

/* The reason of the last refusal of mg_pam_dir_open() in this thread ("" when none). */
const char *mg_pam_dir_why(void);

/*
 * Opens (create: makes it first, with mode, when missing) the subdirectory sub (one name) of
 * the checked directory dirfd: owned by owner, not group/world writable, no symlink.
 * The descriptor or a negative errno.
 */
int mg_pam_subdir_open(int dirfd, const char *sub, uid_t owner, bool create, mode_t mode);

/*
 * Opens name (one component) in dirfd read-only with O_NOFOLLOW and checks rules on the
 * descriptor, as mg_safe_open() does. The descriptor or a negative errno; *what (optional)
 * a static English phrase.
 */
int mg_pam_open_at(int dirfd, const char *name, const struct mg_file_rules *rules,
                   const char **what);
/* mg_pam_open_at() and read the whole file (at most rules->max_size), as mg_safe_read_file(). */
int mg_pam_read_at(int dirfd, const char *name, const struct mg_file_rules *rules, char **data,
                   size_t *len, const char **what);

/*
 * Replaces name in dirfd with data, all or nothing: a temporary file in the same directory
 * (O_CREAT|O_EXCL|O_NOFOLLOW, mode), every byte written (a short write, e.g. at
 * RLIMIT_FSIZE, is an error), fsync, renameat, fsync of the directory. On error the
 * temporary file is removed and name keeps its previous content. 0 or a negative errno.
 */
int mg_pam_write_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode);

/*
 * An exclusive flock on fd, waiting at most about 5 s (the holders of the state and table
 * locks never wait for a person). 0, -ETIMEDOUT or a negative errno.
 */
int mg_pam_lock_bounded(int fd);

#endif
