/* Checked directory chains and files opened relative to them. */
#include "safe_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static __thread char g_why[320];

static void set_why(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(g_why, sizeof(g_why), fmt, ap);
	va_end(ap);
	if (why && whylen)
		snprintf(why, whylen, "%s", g_why);
}

const char *mg_pam_dir_why(void)
{
	return g_why;
}

/* Checks one directory (on its descriptor): parents root or owner, the last one owner. */
static int check_dir(int fd, uid_t owner, bool last, const char *shown, int shown_len, char *why,
                     size_t whylen)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int r = -errno;
		set_why(why, whylen, "%.*s: cannot be examined", shown_len, shown);
		return r;
	}
	if (!S_ISDIR(st.st_mode)) {
		set_why(why, whylen, "%.*s: not a directory", shown_len, shown);
		return -ENOTDIR;
	}
	if (last ? st.st_uid != owner : st.st_uid != 0 && st.st_uid != owner) {
		set_why(why, whylen, "%.*s: owned by uid %u, not by %s", shown_len, shown,
		        (unsigned)st.st_uid,
		        last ? "the trusted owner" : "root or the trusted owner");
		return -EPERM;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		set_why(why, whylen,
		        "%.*s: writable by group or others (mode %04o; every directory from / down "
		        "must not be, sticky or not)",
		        shown_len, shown, (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

int mg_pam_dir_open(const char *dir, uid_t owner, char *why, size_t whylen)
{
	char buf[PATH_MAX];
	int fd = -1, r;
	g_why[0] = '\0';
	if (!dir || dir[0] != '/') {
		set_why(why, whylen, "%.200s: not an absolute path", dir ? dir : "(none)");
		return -EINVAL;
	}
	if (snprintf(buf, sizeof(buf), "%s", dir) >= (int)sizeof(buf)) {
		set_why(why, whylen, "path too long");
		return -ENAMETOOLONG;
	}
	fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char *save = NULL, *comp = strtok_r(buf + 1, "/", &save);
	if ((r = check_dir(fd, owner, comp == NULL, "/", 1, why, whylen)) < 0)
		goto fail;
	while (comp) {
		char *next = strtok_r(NULL, "/", &save);
		/* What the log shows: dir up to and including this component. */
		int shown = (int)(comp - buf) + (int)strlen(comp);
		if (strcmp(comp, "..") == 0 || strcmp(comp, ".") == 0) {
			set_why(why, whylen, "%.*s: \".\" and \"..\" are not allowed", shown, dir);
			r = -EINVAL;
			goto fail;
		}
		int nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0) {
			struct stat lst;
			r = -errno;
			/* O_DIRECTORY answers ENOTDIR for a symlink before O_NOFOLLOW's ELOOP. */
			if (r == -ENOTDIR && fstatat(fd, comp, &lst, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISLNK(lst.st_mode))
				r = -ELOOP;
			set_why(why, whylen, "%.*s: %s", shown, dir,
			        r == -ELOOP     ? "a symbolic link"
			        : r == -ENOTDIR ? "not a directory"
			        : r == -ENOENT  ? "does not exist"
			                        : "cannot be opened");
			goto fail;
		}
		close(fd);
		fd = nfd;
		if ((r = check_dir(fd, owner, next == NULL, dir, shown, why, whylen)) < 0)
			goto fail;
		comp = next;
	}
	return fd;
fail:
	close(fd);
	return r;
}

static bool one_name(const char *name)
{
	return name && name[0] && !strchr(name, '/') && strcmp(name, ".") != 0 &&
	       strcmp(name, "..") != 0;
}

int mg_pam_subdir_open(int dirfd, const char *sub, uid_t owner, bool create, mode_t mode)
{
	if (!one_name(sub))
		return -EINVAL;
	if (create && mkdirat(dirfd, sub, mode) < 0 && errno != EEXIST)
		return -errno;
	int fd = openat(dirfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	int r = 0;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (!S_ISDIR(st.st_mode))
		r = -ENOTDIR;
	else if (st.st_uid != owner || (st.st_mode & (S_IWGRP | S_IWOTH)))
		r = -EPERM;
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

int mg_pam_open_at(int dirfd, const char *name, const struct mg_file_rules *rules,
                   const char **what)
{
	const char *dummy;
	if (!what)
		what = &dummy;
	*what = NULL;
	if (!one_name(name) || !rules) {
		*what = "not a file name";
		return -EINVAL;
	}
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int r = -errno;
		*what = r == -ELOOP ? "a symbolic link" : "cannot be opened";
		return r;
	}
	struct stat st;
	int r = 0;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		*what = "cannot be examined";
	} else if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		*what = "not a regular file";
	} else if (rules->owner != MG_ANY_OWNER && st.st_uid != rules->owner) {
		r = -EPERM;
		*what = "owned by the wrong user";
	} else if (st.st_mode & S_IWOTH) {
		r = -EPERM;
		*what = "writable by others (world-writable)";
	} else if ((st.st_mode & S_IWGRP) && !rules->allow_group_write) {
		r = -EPERM;
		*what = "writable by its group";
	} else if (rules->secret && (st.st_mode & (S_IRWXG | S_IRWXO))) {
		r = -EPERM;
		*what = "a secret readable by group or others (must be 0600)";
	} else {
		/* A regular file: blocking reads again (non-blocking so a FIFO cannot hang us). */
		int fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
			r = -errno;
			*what = "cannot be examined";
		}
	}
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

int mg_pam_read_at(int dirfd, const char *name, const struct mg_file_rules *rules, char **data,
                   size_t *len, const char **what)
{
	const char *dummy;
	if (!what)
		what = &dummy;
	int fd = mg_pam_open_at(dirfd, name, rules, what);
	if (fd < 0)
		return fd;
	int r = mg_read_fd(fd, rules->max_size ? rules->max_size : 1024u * 1024u, data, len);
	close(fd);
	if (r == -EFBIG)
		*what = "too large";
	else if (r < 0)
		*what = "cannot be read";
	return r;
}

/* Every byte or an error: a short write (RLIMIT_FSIZE, a full disk) never counts as done. */
static int write_all(int fd, const unsigned char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int mg_pam_write_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode)
{
	char tmp[NAME_MAX + 1];
	if (!one_name(name))
		return -EINVAL;
	int n = snprintf(tmp, sizeof(tmp), ".%s.tmp.%ld", name, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY;
	int fd = openat(dirfd, tmp, flags, mode);
	if (fd < 0 && errno == EEXIST) {
		/* A stale temporary file of a crashed process with our pid. */
		(void)unlinkat(dirfd, tmp, 0);
		fd = openat(dirfd, tmp, flags, mode);
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
	if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlinkat(dirfd, tmp, 0);
		return r;
	}
	return fsync(dirfd) < 0 ? -errno : 0;
}

int mg_pam_lock_bounded(int fd)
{
	/* Holders never wait for a person, so the lock is free within milliseconds. */
	for (int i = 0; i < 500; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}
