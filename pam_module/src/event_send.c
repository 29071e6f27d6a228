/* Events to the agent's socket, else to the pending file. */
#include "event_send.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "safe_dir.h"
#include "mg/event.h"

#define REPLY_MAX    512
#define ERROR_PREFIX "error: "
#define APPEND_TRIES 3

static void set_why(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_why(char *why, size_t whylen, const char *fmt, ...)
{
	if (!why || whylen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Waits until fd has events or deadline (monotonic ms) passes. 0, -ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		uint64_t now = now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		uint64_t left = deadline - now;
		struct pollfd p = {fd, events, 0};
		int n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		return n == 0 ? -ETIMEDOUT : 0;
	}
}

/* The agent's text, printable ASCII only (it goes into a log line). */
static void copy_printable(char *dst, size_t dstlen, const char *src, size_t n)
{
	size_t j = 0;
	for (size_t i = 0; i < n && j + 1 < dstlen; i++)
		dst[j++] = src[i] >= ' ' && src[i] <= '~' ? src[i] : '?';
	if (dstlen)
		dst[j] = '\0';
}

static int connect_agent(int fd, const char *path, uid_t owner, uint64_t deadline, char *why,
                         size_t whylen)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;
		if (r != -EINPROGRESS) {
			/* -EAGAIN: the agent's backlog is full; there is nothing to wait for. */
			set_why(why, whylen, "connect %s: %s", path, strerror(-r));
			return r;
		}
		int err = 0;
		socklen_t el = sizeof(err);
		if ((r = wait_fd(fd, POLLOUT, deadline)) == 0 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
			r = -errno;
		if (r == 0 && err != 0)
			r = -err;
		if (r < 0) {
			set_why(why, whylen, "connect %s: %s", path, strerror(-r));
			return r;
		}
	}
	/* Only the trusted owner's process may take the events (the agent: root). */
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0) {
		int r = -errno;
		set_why(why, whylen, "%s: peer credentials: %s", path, strerror(-r));
		return r;
	}
	if (cred.uid != owner) {
		set_why(why, whylen, "%s: the listening process runs as uid %u, not %u", path,
		        (unsigned)cred.uid, (unsigned)owner);
		return -EPERM;
	}
	return 0;
}

int mg_pam_event_send(const char *path, uid_t owner, const char *json, unsigned timeout_ms,
                      char *why, size_t whylen)
{
	struct sockaddr_un sa;
	uint64_t deadline = now_ms() + timeout_ms;
	size_t len = json ? strlen(json) : 0;
	char reply[REPLY_MAX];
	int fd = -1, r;

	set_why(why, whylen, "%s", "");
	if (!path || strlen(path) >= sizeof(sa.sun_path)) {
		set_why(why, whylen, "event_socket: path too long for a socket");
		return -ENAMETOOLONG;
	}
	if (len == 0 || len > MG_EVENT_MAX_JSON) {
		set_why(why, whylen, "event of %zu bytes", len);
		return -EINVAL;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		r = -errno;
		set_why(why, whylen, "socket: %s", strerror(-r));
		return r;
	}
	if ((r = connect_agent(fd, path, owner, deadline, why, whylen)) < 0)
		goto out;
	for (;;) {
		ssize_t n = send(fd, json, len, MSG_NOSIGNAL);
		if (n == (ssize_t)len)
			break;
		if (n >= 0) { /* a SOCK_SEQPACKET message goes whole or not at all */
			r = -EIO;
		} else if (errno == EINTR) {
			continue;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if ((r = wait_fd(fd, POLLOUT, deadline)) == 0)
				continue;
		} else {
			r = -errno;
		}
		set_why(why, whylen, "send to %s: %s", path,
		        r == -ETIMEDOUT ? "timed out" : strerror(-r));
		goto out;
	}
	for (;;) {
		if ((r = wait_fd(fd, POLLIN, deadline)) < 0) {
			set_why(why, whylen, "%s: %s", path,
			        r == -ETIMEDOUT ? "no reply in time" : strerror(-r));
			goto out;
		}
		ssize_t n = recv(fd, reply, sizeof(reply), MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n < 0) {
			r = -errno;
			set_why(why, whylen, "receive from %s: %s", path, strerror(-r));
		} else if (n == 0) {
			r = -ECONNRESET;
			set_why(why, whylen, "%s: closed without a reply", path);
		} else if (n == 2 && memcmp(reply, "ok", 2) == 0) {
			r = 0;
		} else if ((size_t)n >= strlen(ERROR_PREFIX) &&
		           memcmp(reply, ERROR_PREFIX, strlen(ERROR_PREFIX)) == 0) {
			r = -EBADMSG;
			copy_printable(why, whylen, reply + strlen(ERROR_PREFIX),
			               (size_t)n - strlen(ERROR_PREFIX));
		} else {
			r = -EPROTO;
			set_why(why, whylen, "%s: unexpected reply", path);
		}
		break;
	}
out:
	close(fd);
	return r;
}

/* Checks the opened pending file. 0 or negative errno with why. */
static int check_pending(const struct stat *st, const char *path, uid_t owner, char *why,
                         size_t whylen)
{
	if (!S_ISREG(st->st_mode)) {
		set_why(why, whylen, "%s: not a regular file", path);
		return -EINVAL;
	}
	if (st->st_uid != owner) {
		set_why(why, whylen, "%s: owned by uid %u, not %u", path, (unsigned)st->st_uid,
		        (unsigned)owner);
		return -EPERM;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		set_why(why, whylen, "%s: writable by group or others", path);
		return -EPERM;
	}
	if (st->st_nlink != 1) {
		set_why(why, whylen, "%s: has %lu links", path, (unsigned long)st->st_nlink);
		return -EPERM;
	}
	return 0;
}

/*
 * One append to the file now at path. 0 written; 1 written, but the file was renamed away
 * meanwhile (the agent took it): write again; negative errno with why.
 */
static int append_once(int dirfd, const char *path, uid_t owner, uint64_t max_bytes,
                       const char *json, size_t len, char *why, size_t whylen)
{
	struct stat st, now;
	char small[4096], last = '\n';
	char *buf = NULL;
	int r;
	/* Relative to the checked directory, never by path again (a parent swapped meanwhile
	 * cannot redirect it). O_RDWR to look at the last byte; O_NONBLOCK so that a FIFO cannot
	 * hang us. */
	int fd = openat(
	    dirfd, MG_PAM_PENDING_NAME,
	    O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);
	if (fd < 0) {
		r = -errno;
		if (r == -ELOOP)
			set_why(why, whylen, "%s: a symbolic link", path);
		else
			set_why(why, whylen, "%s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		set_why(why, whylen, "%s: %s", path, strerror(-r));
		goto out;
	}
	if ((r = check_pending(&st, path, owner, why, whylen)) < 0)
		goto out;
	/* A writer stopped in the middle of a line (killed, file size limit): end that line. */
	if (st.st_size > 0 && pread(fd, &last, 1, st.st_size - 1) != 1)
		last = '\n';
	size_t lead = last == '\n' ? 0 : 1;
	size_t total = lead + len + 1;
	if ((uint64_t)st.st_size + total > max_bytes) {
		set_why(why, whylen, "pending file full (%s: %lld bytes, limit %llu)", path,
		        (long long)st.st_size, (unsigned long long)max_bytes);
		r = -ENOSPC;
		goto out;
	}
	buf = total <= sizeof(small) ? small : malloc(total);
	if (!buf) {
		r = -ENOMEM;
		set_why(why, whylen, "out of memory");
		goto out;
	}
	buf[0] = '\n';
	memcpy(buf + lead, json, len);
	buf[lead + len] = '\n';
	ssize_t n;
	do
		n = write(fd, buf, total);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)total) {
		r = n < 0 ? -errno : -EIO;
		set_why(why, whylen, "%s: %s", path, n < 0 ? strerror(-r) : "short write");
		goto out;
	}
	if (fsync(fd) < 0) {
		r = -errno;
		set_why(why, whylen, "%s: fsync: %s", path, strerror(-r));
		goto out;
	}
	if (st.st_size == 0)
		(void)fsync(dirfd); /* the new directory entry, best effort */
	/* Still the file at path? If the agent renamed it meanwhile, it may have read it before
	 * this line came: the caller writes the line again (an event may then appear twice). */
	r = fstatat(dirfd, MG_PAM_PENDING_NAME, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
	            now.st_dev == st.st_dev && now.st_ino == st.st_ino
	        ? 0
	        : 1;
out:
	if (buf && buf != small)
		free(buf);
	close(fd);
	return r;
}

int mg_pam_event_append(const char *state_dir, uid_t owner, uint64_t max_bytes, const char *json,
                        char *why, size_t whylen)
{
	char path[PATH_MAX];
	size_t len = json ? strlen(json) : 0;
	int r;

	set_why(why, whylen, "%s", "");
	if (len == 0 || len > MG_EVENT_MAX_JSON || memchr(json, '\n', len)) {
		set_why(why, whylen, "not one line of JSON");
		return -EINVAL;
	}
	if (!state_dir || snprintf(path, sizeof(path), "%s/%s", state_dir, MG_PAM_PENDING_NAME) >=
	                      (int)sizeof(path)) {
		set_why(why, whylen, "state_dir: path too long");
		return -ENAMETOOLONG;
	}
	char dwhy[256] = "";
	int dirfd = mg_pam_dir_open(state_dir, owner, dwhy, sizeof(dwhy));
	if (dirfd < 0) {
		set_why(why, whylen, "%s", dwhy[0] ? dwhy : strerror(-dirfd));
		return dirfd;
	}
	r = 0; /* written each time; the agent took the file each time too */
	for (int i = 0; i < APPEND_TRIES; i++) {
		int a = append_once(dirfd, path, owner, max_bytes, json, len, why, whylen);
		if (a <= 0) {
			r = a;
			break;
		}
	}
	close(dirfd);
	return r;
}

enum mg_pam_event_route mg_pam_event_deliver(const struct mg_pam_conf *conf, const char *json,
                                             unsigned *wait_ms, char *why, size_t whylen)
{
	char sent[256] = "", kept[384] = "";
	unsigned budget = wait_ms ? *wait_ms : MG_PAM_EVENT_WAIT_MS;
	if (budget > 0) {
		uint64_t t0 = now_ms();
		int r = mg_pam_event_send(conf->event_socket, conf->owner, json, budget, sent,
		                          sizeof(sent));
		uint64_t spent = now_ms() - t0;
		/* A silent agent gets no second wait in the same login. */
		budget = r == -ETIMEDOUT || spent >= budget ? 0 : budget - (unsigned)spent;
		if (wait_ms)
			*wait_ms = budget;
		if (r == 0) {
			set_why(why, whylen, "%s", "");
			return MG_PAM_EVENT_SENT;
		}
		if (r == -EBADMSG) {
			set_why(why, whylen, "%s", sent);
			return MG_PAM_EVENT_REFUSED;
		}
	} else {
		set_why(sent, sizeof(sent), "the agent did not answer earlier in this attempt");
	}
	if (mg_pam_event_append(conf->state_dir, conf->owner, conf->pending_max_bytes, json, kept,
	                        sizeof(kept)) == 0) {
		set_why(why, whylen, "not sent: %s", sent);
		return MG_PAM_EVENT_PENDING;
	}
	set_why(why, whylen, "%s; not sent: %s", kept, sent);
	return MG_PAM_EVENT_LOST;
}

int mg_pam_event_log_text(enum mg_pam_event_route route, const struct mg_pam_conf *conf,
                          const char *why, char *msg, size_t msglen, bool *with_json)
{
	*with_json = route == MG_PAM_EVENT_REFUSED || route == MG_PAM_EVENT_LOST;
	switch (route) {
	case MG_PAM_EVENT_SENT:
		break;
	case MG_PAM_EVENT_REFUSED:
		set_why(msg, msglen, "event refused by the agent: %s", why);
		return LOG_ERR;
	case MG_PAM_EVENT_PENDING:
		set_why(msg, msglen, "event kept in %s/%s: %s", conf->state_dir,
		        MG_PAM_PENDING_NAME, why);
		return LOG_WARNING;
	case MG_PAM_EVENT_LOST:
		set_why(msg, msglen, "event lost: %s", why);
		return LOG_ERR;
	}
	set_why(msg, msglen, "%s", "");
	return -1;
}
