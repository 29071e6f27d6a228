/* Bounded reads and atomic writes in the uplink's directory fd (uplink_files.h). */
#include "uplink_files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mg/safe_open.h"

#define MAX_FILES 8

static bool name_ok(const char *name)
{
	return name && name[0] && name[0] != '.' && !strchr(name, '/') && strlen(name) < 64;
}

int mg_uplink_file_read(int dirfd, const char *name, size_t max, char **data, size_t *len,
                        const char **why)
{
	const char *dummy;
	struct stat st;
	int fd = -1, r;
	if (!why)
		why = &dummy;
	*why = NULL;
	if (!name_ok(name)) {
		*why = "not a plain file name";
		return -EINVAL;
	}
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		*why = r == -ELOOP    ? "a symbolic link"
		       : r == -ENOENT ? "absent"
		                      : "cannot be opened";
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		*why = "cannot be examined";
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		*why = "not a regular file";
		goto out;
	}
	if (st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		r = -EPERM;
		*why = "not owned by the uplink user, or writable by others";
		goto out;
	}
	if ((size_t)st.st_size > max) {
		r = -EFBIG;
		*why = "too large";
		goto out;
	}
	r = mg_read_fd(fd, max, data, len);
	if (r == -EFBIG)
		*why = "too large";
	else if (r < 0)
		*why = "cannot be read";
out:
	close(fd);
	return r;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes f to the temp file tmp in dirfd (O_EXCL; a stale one of our pid is removed first). */
static int stage(int dirfd, const struct mg_uplink_file *f, const char *tmp)
{
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, f->mode);
	if (fd < 0 && errno == EEXIST) {
		(void)unlinkat(dirfd, tmp, 0);
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		            f->mode);
	}
	if (fd < 0)
		return -errno;
	int r = write_all(fd, f->data, f->len);
	if (r == 0 && fchmod(fd, f->mode) < 0)
		r = -errno;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	return r;
}

int mg_uplink_files_replace(int dirfd, const struct mg_uplink_file *files, size_t n)
{
	char tmp[MAX_FILES][96];
	size_t staged = 0;
	int r = 0;
	if (n > MAX_FILES)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!name_ok(files[i].name) || (files[i].len && !files[i].data))
			return -EINVAL;
	for (; staged < n; staged++) {
		snprintf(tmp[staged], sizeof(tmp[staged]), ".%s.tmp.%ld", files[staged].name,
		         (long)getpid());
		r = stage(dirfd, &files[staged], tmp[staged]);
		if (r < 0) {
			(void)unlinkat(dirfd, tmp[staged], 0);
			goto fail;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (renameat(dirfd, tmp[i], dirfd, files[i].name) < 0) {
			r = -errno;
			/* The ones renamed already stay; the rest are removed. */
			for (size_t k = i; k < n; k++)
				(void)unlinkat(dirfd, tmp[k], 0);
			(void)fsync(dirfd);
			return r;
		}
	}
	return fsync(dirfd) < 0 ? -errno : 0;
fail:
	for (size_t k = 0; k < staged; k++)
		(void)unlinkat(dirfd, tmp[k], 0);
	return r;
}
