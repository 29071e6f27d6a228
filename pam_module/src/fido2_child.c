/* The CTAP exchange in an unprivileged child; the root parent checks its answer. */
#include "fido2_child.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAGIC "MGFA"
/* The child's own deadline is the request's; this is the parent's backstop beyond it. */
#define CHILD_GRACE_MS 10000u

static void put_u16(unsigned char *p, size_t v)
{
	p[0] = (unsigned char)(v & 0xff);
	p[1] = (unsigned char)((v >> 8) & 0xff);
}

static size_t get_u16(const unsigned char *p)
{
	return (size_t)p[0] | (size_t)p[1] << 8;
}

size_t mg_fido2_answer_format(enum mg_fido2_status st, size_t key,
                              const struct mg_fido2_assertion *a, unsigned char *buf)
{
	bool ok = st == MG_FIDO2_OK;
	size_t alen = ok ? a->authdata_len : 0, slen = ok ? a->sig_len : 0;
	memset(buf, 0, MG_FIDO2_ANSWER_HEAD);
	memcpy(buf, MAGIC, 4);
	buf[4] = MG_FIDO2_ANSWER_VERSION;
	buf[5] = (unsigned char)st;
	buf[6] = (unsigned char)(ok ? key : 0);
	put_u16(buf + 7, ok ? a->allow_index : 0);
	put_u16(buf + 9, alen);
	put_u16(buf + 11, slen);
	if (ok) {
		memcpy(buf + MG_FIDO2_ANSWER_HEAD, a->authdata, alen);
		memcpy(buf + MG_FIDO2_ANSWER_HEAD + alen, a->sig, slen);
	}
	return MG_FIDO2_ANSWER_HEAD + alen + slen;
}

int mg_fido2_answer_parse(const unsigned char *buf, size_t len, size_t nkeys, size_t nallow,
                          enum mg_fido2_status *st, size_t *key, struct mg_fido2_assertion *out)
{
	if (len < MG_FIDO2_ANSWER_HEAD || len > MG_FIDO2_ANSWER_MAX || memcmp(buf, MAGIC, 4) != 0 ||
	    buf[4] != MG_FIDO2_ANSWER_VERSION || buf[5] > MG_FIDO2_ERROR)
		return -EBADMSG;
	enum mg_fido2_status s = (enum mg_fido2_status)buf[5];
	size_t k = buf[6], idx = get_u16(buf + 7), alen = get_u16(buf + 9),
	       slen = get_u16(buf + 11);
	if (len != MG_FIDO2_ANSWER_HEAD + alen + slen)
		return -EBADMSG;
	if (s != MG_FIDO2_OK) {
		if (k != 0 || idx != 0 || alen != 0 || slen != 0)
			return -EBADMSG;
		*st = s;
		*key = 0;
		return 0;
	}
	if (k >= nkeys || idx >= nallow || alen == 0 || alen > MG_FIDO2_MAX_AUTHDATA || slen == 0 ||
	    slen > MG_FIDO2_MAX_SIG)
		return -EBADMSG;
	memset(out, 0, sizeof(*out));
	out->key_index = k;
	out->allow_index = idx;
	memcpy(out->authdata, buf + MG_FIDO2_ANSWER_HEAD, alen);
	out->authdata_len = alen;
	memcpy(out->sig, buf + MG_FIDO2_ANSWER_HEAD + alen, slen);
	out->sig_len = slen;
	*st = s;
	*key = k;
	return 0;
}

int mg_fido2_child_drop(uid_t uid, gid_t gid)
{
	if (uid == 0 || gid == 0)
		return -EINVAL;
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		return -errno;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return -errno;
	/* Root must be gone for good. */
	if (setuid(0) == 0 || seteuid(0) == 0 || getuid() != uid || geteuid() != uid ||
	    getgid() != gid || getegid() != gid)
		return -EPERM;
	return 0;
}

/* Whether fd is one of the keys (its /proc link names a key's device path). */
static bool is_key_fd(const struct mg_fido2_devs *d, int fd)
{
	char link[64], target[PATH_MAX];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return false;
	target[n] = '\0';
	for (size_t i = 0; i < mg_fido2_devs_count(d); i++)
		if (strcmp(target, mg_fido2_devs_path(d, i)) == 0)
			return true;
	return false;
}

/* Closes every descriptor but 0-2 (on /dev/null), the keys' and keep. */
static int close_inherited(const struct mg_fido2_devs *d, int keep)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
		return -errno;
	DIR *dir = opendir("/proc/self/fd");
	if (!dir)
		return -errno;
	int fds[1024], n = 0, dfd = dirfd(dir);
	for (struct dirent *e; (e = readdir(dir)) && n < 1024;) {
		char *end = NULL;
		long fd = strtol(e->d_name, &end, 10);
		if (!end || *end || end == e->d_name || fd <= 2 || fd == keep || fd == dfd ||
		    fd > INT_MAX)
			continue;
		if (!is_key_fd(d, (int)fd))
			fds[n++] = (int)fd;
	}
	bool more = readdir(dir) != NULL && n == 1024;
	closedir(dir);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	return more ? -EMFILE : 0;
}

/* The child: never returns. Exit 0 after a complete answer. */
static void child_run(struct mg_fido2_devs *d, const struct mg_fido2_request *req, int wfd,
                      uid_t uid, gid_t gid)
{
	static struct mg_fido2_assertion a;
	static unsigned char buf[MG_FIDO2_ANSWER_MAX];
	enum mg_fido2_status st = MG_FIDO2_ERROR;
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (close_inherited(d, wfd) < 0 || mg_fido2_child_drop(uid, gid) < 0)
		_exit(3);
	memset(&a, 0, sizeof(a));
	if (mg_fido2_get_assertion(d, req, &st, &a) < 0)
		_exit(4);
	size_t len = mg_fido2_answer_format(st, a.key_index, &a, buf);
	for (size_t off = 0; off < len;) {
		ssize_t w = write(wfd, buf + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			_exit(5);
		off += (size_t)w;
	}
	_exit(0);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Reads the child's whole answer (at most cap bytes, until EOF) before deadline. */
static int read_answer(int fd, unsigned char *buf, size_t cap, size_t *len, uint64_t deadline)
{
	size_t used = 0;
	for (;;) {
		uint64_t now = mono_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int pr = poll(&p, 1, (int)(deadline - now));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return -errno;
		if (pr == 0)
			return -ETIMEDOUT;
		if (used == cap)
			return -EMSGSIZE; /* more than any valid answer */
		ssize_t n = read(fd, buf + used, cap - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		used += (size_t)n;
	}
	*len = used;
	return 0;
}

int mg_fido2_get_assertion_isolated(struct mg_fido2_devs *d, const struct mg_fido2_request *req,
                                    enum mg_fido2_status *status, struct mg_fido2_assertion *out)
{
	static unsigned char buf[MG_FIDO2_ANSWER_MAX + 1];
	struct passwd pw, *res = NULL;
	char pwbuf[4096];
	int p[2], r;

	if (geteuid() != 0) /* not root: nothing to drop */
		return mg_fido2_get_assertion(d, req, status, out);
	if (getpwnam_r("nobody", &pw, pwbuf, sizeof(pwbuf), &res) != 0 || !res || pw.pw_uid == 0 ||
	    pw.pw_gid == 0)
		return -ENOENT;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		r = -errno;
		close(p[0]);
		close(p[1]);
		return r;
	}
	if (pid == 0) {
		close(p[0]);
		child_run(d, req, p[1], pw.pw_uid, pw.pw_gid);
	}
	close(p[1]);
	size_t len = 0;
	r = read_answer(p[0], buf, sizeof(buf), &len, mono_ms() + req->timeout_ms + CHILD_GRACE_MS);
	close(p[0]);
	if (r < 0)
		kill(pid, SIGKILL);
	int ws = 0;
	pid_t w;
	while ((w = waitpid(pid, &ws, 0)) < 0 && errno == EINTR)
		;
	/* A stack that reaps children itself (ECHILD) leaves the answer's own checks. */
	bool exited_ok = w == pid ? WIFEXITED(ws) && WEXITSTATUS(ws) == 0 : errno == ECHILD;
	enum mg_fido2_status st = MG_FIDO2_ERROR;
	size_t key = 0;
	static struct mg_fido2_assertion a;
	if (r < 0 || !exited_ok ||
	    mg_fido2_answer_parse(buf, len, mg_fido2_devs_count(d), req->nallow, &st, &key, &a) < 0)
		st = MG_FIDO2_ERROR; /* died, late or garbled: fail closed */
	if (st == MG_FIDO2_OK) {
		/* The UV rule from this process's own view of that key, never from the child. */
		a.uv_expected = mg_fido2_key_asks_uv(d, key, req);
		*out = a;
	}
	explicit_bzero(buf, sizeof(buf));
	*status = st;
	return 0;
}
