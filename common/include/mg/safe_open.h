/* Opening root-owned files without being fooled by symlinks, devices or loose permissions. */
#ifndef MG_SAFE_OPEN_H
#define MG_SAFE_OPEN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct mg_file_rules {
	uid_t owner;            /* required owner; MG_ANY_OWNER accepts any */
	bool allow_group_write; /* default false: g+w is refused */
	bool secret;            /* true: also refuse any group/other read bit (0600 secrets) */
	size_t max_size;        /* mg_safe_read_file(): larger files are refused; 0 = 1 MiB */
};

#define MG_ANY_OWNER ((uid_t)-1)

/* Rules for configuration files: owned by root, not group or world writable. */
extern const struct mg_file_rules mg_root_config_rules;

/*
 * Opens path read-only with O_NOFOLLOW|O_CLOEXEC and checks, on the opened descriptor,
 * that it is a regular file that satisfies rules. Returns the fd, or a negative errno:
 * -ELOOP (a symlink), -EINVAL (not a regular file), -EPERM (wrong owner or
 * group/world writable or readable secret), or the open(2) error. *why (optional) gets a
 * static English phrase naming what was wrong.
 */
int mg_safe_open(const char *path, const struct mg_file_rules *rules, const char **why);

/*
 * mg_safe_open() and read the whole file. *data is NUL-terminated (the NUL is not counted
 * in *len) and owned by the caller. -EFBIG when larger than rules->max_size.
 */
int mg_safe_read_file(const char *path, const struct mg_file_rules *rules, char **data, size_t *len,
                      const char **why);

/* Reads all of fd (at most max bytes) into a NUL-terminated buffer. -EFBIG when larger. */
int mg_read_fd(int fd, size_t max, char **data, size_t *len);

/*
 * Atomically replaces path with data: a temporary file in the same directory (O_EXCL,
 * mode), write, fsync, rename, fsync of the directory. Returns 0 or a negative errno.
 */
int mg_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

#endif
