/*
 * Files in the uplink's own directory, reached only through its directory fd (fd 4 of
 * mynaguard-uplink): bounded reads that refuse symlinks and anything but a regular file of
 * ours, and atomic replacement of several files at once (temp files, fsync, renameat, fsync of
 * the directory).
 */
#ifndef MG_UPLINK_FILES_H
#define MG_UPLINK_FILES_H

#include <stddef.h>
#include <sys/types.h>

#define MG_UPLINK_FILE_MAX (64u * 1024u) /* every file in the directory */

/*
 * Reads name (no '/') in dirfd, at most max bytes. *data is NUL-terminated, owned by the
 * caller. 0, or -ENOENT (absent), -ELOOP (a symlink), -EINVAL (not a regular file), -EPERM
 * (not ours, or group/world writable), -EFBIG (over max), another negative errno; *why
 * (optional) names what was wrong in words.
 */
int mg_uplink_file_read(int dirfd, const char *name, size_t max, char **data, size_t *len,
                        const char **why);

struct mg_uplink_file {
	const char *name; /* no '/' */
	const void *data;
	size_t len;
	mode_t mode;
};

/*
 * Replaces the n files in dirfd: all are written to temp files and fsynced first, then renamed
 * over their names one after the other, then the directory is fsynced. On an error before the
 * renames nothing changed (the temp files are removed). 0 or a negative errno.
 */
int mg_uplink_files_replace(int dirfd, const struct mg_uplink_file *files, size_t n);

#endif
