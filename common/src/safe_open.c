/* Safe open of configuration and state files; atomic replacement. */
#include "mg/safe_open.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_MAX_SIZE (1024u * 1024u)

const struct mg_file_rules mg_root_config_rules = {
    .owner = 0,
    .allow_group_write = false,
    .secret = false,
    .max_size = DEFAULT_MAX_SIZE,
};

static int check_stat(const struct stat *st, const struct mg_file_rules *rules, const char **why)
{
	if (!S_ISREG(st->st_mode)) {
		*why = "not a regular file";
		return -EINVAL;
	}
	if (rules->owner != MG_ANY_OWNER && st->st_uid != rules->owner) {
		*why = "owned by the wrong user";
		return -EPERM;
	}
	if (st->st_mode & S_IWOTH) {
		*why = "writable by others (world-writable)";
		return -EPERM;
	}
	if ((st->st_mode & S_IWGRP) && !rules->allow_group_write) {
		*why = "writable by its group";
		return -EPERM;
	}
	if (rules->secret && (st->st_mode & (S_IRWXG | S_IRWXO))) {
		*why = "a secret readable by group or others (must be 0600)";
		return -EPERM;
	}
	return 0;
}

int mg_safe_open(const char *path, const struct mg_file_rules *rules, const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	*why = NULL;
	if (!path || !rules) {
		*why = "no path";
		return -EINVAL;
	}
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int err = -errno;
		*why = err == -ELOOP ? "a symbolic link" : "cannot be opened";
		return err;
	}
	struct stat st;
	int r;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		*why = "cannot be examined";
		goto fail;
	}
	r = check_stat(&st, rules, why);
	if (r < 0)
		goto fail;
	/* Regular file confirmed: clear O_NONBLOCK (opened non-blocking so a FIFO cannot hang us).
	 */
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		r = -errno;
		*why = "cannot be examined";
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return r;
}

int mg_read_fd(int fd, size_t max, char **data, size_t *len)
{
	size_t cap = 4096, used = 0;
	char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (used == cap) {
			if (cap > max) {
				free(buf);
				return -EFBIG;
			}
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + used, cap - used);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int err = -errno;
			free(buf);
			return err;
		}
		if (n == 0)
			break;
		used += (size_t)n;
		if (used > max) {
			free(buf);
			return -EFBIG;
		}
	}
	if (used == cap) {
		char *nb = realloc(buf, cap + 1);
		if (!nb) {
			free(buf);
			return -ENOMEM;
		}
		buf = nb;
	}
	buf[used] = '\0';
	*data = buf;
	*len = used;
	return 0;
}

int mg_safe_read_file(const char *path, const struct mg_file_rules *rules, char **data, size_t *len,
                      const char **why)
{
	const char *dummy;
	if (!why)
		why = &dummy;
	int fd = mg_safe_open(path, rules, why);
	if (fd < 0)
		return fd;
	size_t max = rules->max_size ? rules->max_size : DEFAULT_MAX_SIZE;
	int r = mg_read_fd(fd, max, data, len);
	close(fd);
	if (r == -EFBIG)
		*why = "too large";
	else if (r < 0)
		*why = "cannot be read";
	return r;
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int mg_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	const char *d = dirname(dir);
	int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0 && errno == EEXIST) {
		/* A stale temp file of a crashed process with our pid: remove and retry once. */
		unlink(tmp);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	}
	if (fd < 0)
		return -errno;
	int r = write_all(fd, data, len);
	if (r == 0 && fchmod(fd, mode) < 0)
		r = -errno;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fsync(dfd) < 0)
		r = -errno;
	close(dfd);
	return r;
}
