/* Supervision of mynaguard-uplink: spawn, privilege drop, framing, restart (uplink_sup.h). */
#include "uplink_sup.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#include "mg/log.h"

#define MAX_OUT      (8u * 1024u * 1024u)
#define MAX_PENDING  256u
#define BACKOFF_MIN  1000000LL
#define BACKOFF_MAX  60000000LL
#define HEALTHY_TIME 60000000LL

struct pending {
	uint32_t id;
	uint8_t type;
};

struct mg_uplink_sup {
	char *binary, *user, *dir, *log_level;
	mg_uplink_answer_cb cb;
	void *ctx;
	pid_t pid;
	int fd;
	bool disabled;
	char why[256]; /* why disabled, or why the last run ended */
	int64_t started, next_start, backoff;
	uint32_t next_id;
	uint8_t *out;
	size_t out_len, out_off;
	uint8_t *in;
	size_t in_len, in_cap;
	struct pending pend[MAX_PENDING];
	size_t npend;
};

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int mg_uplink_sup_new(const struct mg_uplink_sup_opts *o, mg_uplink_answer_cb cb, void *ctx,
                      struct mg_uplink_sup **out)
{
	struct mg_uplink_sup *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->pid = -1;
	s->fd = -1;
	s->cb = cb;
	s->ctx = ctx;
	s->backoff = BACKOFF_MIN;
	s->next_id = 1;
	s->binary = dup_or_null(o->binary);
	s->user = dup_or_null(o->user);
	s->log_level = dup_or_null(o->log_level ? o->log_level : "info");
	if (asprintf(&s->dir, "%s/uplink", o->state_dir) < 0)
		s->dir = NULL;
	if (!s->binary || !s->user || !s->dir || !s->log_level) {
		mg_uplink_sup_free(&s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

/* Answers every request the uplink held with status 0 (it is gone). */
static void fail_pending(struct mg_uplink_sup *s, const char *why)
{
	size_t n = s->npend;
	struct pending copy[MAX_PENDING];
	memcpy(copy, s->pend, n * sizeof(copy[0]));
	s->npend = 0;
	for (size_t i = 0; i < n; i++) {
		struct mg_uplink_answer a = {.status = 0,
		                             .error = why,
		                             .error_len =
		                                 (uint16_t)strnlen(why, MG_UPLINK_MAX_ERROR)};
		s->cb(s->ctx, copy[i].id, copy[i].type, &a);
	}
}

/* Ends the running uplink; restart after the backoff. */
static void stop_child(struct mg_uplink_sup *s, int64_t now, const char *why)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	if (s->pid > 0) {
		int st = 0;
		/* It is gone or going: EOF came, or the agent gives up on it. */
		(void)kill(s->pid, SIGKILL);
		(void)waitpid(s->pid, &st, 0);
		mg_log(MG_LOG_WARNING, "mynaguard-uplink (pid %d) ended: %s", (int)s->pid, why);
	}
	s->pid = -1;
	snprintf(s->why, sizeof(s->why), "%s", why);
	free(s->out);
	s->out = NULL;
	s->out_len = s->out_off = 0;
	s->in_len = 0;
	if (now - s->started >= HEALTHY_TIME)
		s->backoff = BACKOFF_MIN;
	s->next_start = now + s->backoff;
	s->backoff = s->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : s->backoff * 2;
	fail_pending(s, why);
}

void mg_uplink_sup_free(struct mg_uplink_sup **ps)
{
	struct mg_uplink_sup *s = ps ? *ps : NULL;
	if (!s)
		return;
	if (s->fd >= 0) {
		close(s->fd); /* EOF: the uplink exits */
		s->fd = -1;
	}
	if (s->pid > 0) {
		for (int i = 0; i < 50; i++) { /* up to 0.5 s for a clean exit */
			if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
				s->pid = -1;
				break;
			}
			usleep(10000);
		}
		if (s->pid > 0) {
			(void)kill(s->pid, SIGKILL);
			(void)waitpid(s->pid, NULL, 0);
		}
	}
	free(s->binary);
	free(s->user);
	free(s->dir);
	free(s->log_level);
	free(s->out);
	free(s->in);
	free(s);
	*ps = NULL;
}

/*
 * The uplink's directory: created 0700 and owned by uid/gid (the uplink user), opened as a
 * directory fd. A symlink or another owner is not accepted.
 */
static int open_dir(const char *dir, uid_t uid, gid_t gid, char *why, size_t whylen)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		snprintf(why, whylen, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, whylen, "cannot open %s: %s", dir, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || (st.st_uid != uid && fchown(fd, uid, gid) < 0) ||
	    ((st.st_mode & 0777) != 0700 && fchmod(fd, 0700) < 0)) {
		snprintf(why, whylen, "cannot give %s to uid %u: %s", dir, (unsigned)uid,
		         strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* In the child: become the uplink user, keep fds 0-2 and the two given as 3 and 4, exec the
 * program opened by root before (exe: the uplink user need not reach its path). */
static void child(const struct mg_uplink_sup *s, int exe, int sock, int dirfd,
                  const struct passwd *pw)
{
	if (pw) {
		if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0 ||
		    getuid() == 0 || geteuid() == 0)
			_exit(126);
	}
	(void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	/* All three above 4 first (any of them may be 3 or 4 itself), then the two into place:
	 * dup2() clears close-on-exec on 3 and 4, the program stays close-on-exec. */
	exe = fcntl(exe, F_DUPFD_CLOEXEC, 5);
	sock = fcntl(sock, F_DUPFD_CLOEXEC, 5);
	dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 5);
	if (exe < 0 || sock < 0 || dirfd < 0 || dup2(sock, 3) < 0 || dup2(dirfd, 4) < 0)
		_exit(126);
	for (int fd = 5; fd < 1024; fd++) /* close_range() is not in every libc */
		if (fd != exe)
			(void)close(fd);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	char level_opt[] = "--log-level";
	char *argv[] = {s->binary, level_opt, s->log_level, NULL};
	fexecve(exe, argv, environ); /* exe is O_CLOEXEC: gone once the program runs */
	_exit(127);
}

static void start(struct mg_uplink_sup *s, int64_t now)
{
	s->next_start = 0;
	struct passwd *pw = NULL;
	uid_t uid = getuid();
	gid_t gid = getgid();
	if (geteuid() == 0) {
		pw = getpwnam(s->user);
		if (!pw || pw->pw_uid == 0) {
			snprintf(s->why, sizeof(s->why),
			         pw ? "uplink_user %s is root: the uplink never runs as root"
			            : "uplink_user %s does not exist: no uplink (create the user, "
			              "then restart the agent)",
			         s->user);
			mg_log(MG_LOG_ERR, "%s", s->why);
			s->disabled = true;
			return;
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	/* The program: a regular file of root (or of the agent's user) that nobody else may
	 * change, opened here and executed through the descriptor. */
	int exe = open(s->binary, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (exe < 0 || fstat(exe, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 022)) {
		snprintf(s->why, sizeof(s->why), "%s: %s", s->binary,
		         exe < 0 ? strerror(errno)
		                 : "not a regular file of root that only root may change");
		if (exe >= 0)
			close(exe);
		mg_log(MG_LOG_ERR, "cannot start the uplink: %s", s->why);
		s->next_start = now + BACKOFF_MAX;
		return;
	}
	char why[256] = "";
	int dirfd = open_dir(s->dir, uid, gid, why, sizeof(why));
	int sv[2] = {-1, -1};
	if (dirfd < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		if (dirfd >= 0) {
			snprintf(why, sizeof(why), "socketpair: %s", strerror(errno));
			close(dirfd);
		}
		close(exe);
		snprintf(s->why, sizeof(s->why), "%s", why);
		mg_log(MG_LOG_ERR, "cannot start the uplink: %s", why);
		s->next_start = now + s->backoff;
		return;
	}
	pid_t pid = fork();
	if (pid == 0)
		child(s, exe, sv[1], dirfd, pw);
	close(exe);
	close(sv[1]);
	close(dirfd);
	if (pid < 0) {
		snprintf(s->why, sizeof(s->why), "fork: %s", strerror(errno));
		close(sv[0]);
		s->next_start = now + s->backoff;
		return;
	}
	(void)fcntl(sv[0], F_SETFL, O_NONBLOCK);
	s->pid = pid;
	s->fd = sv[0];
	s->started = now;
	s->why[0] = '\0';
	mg_log(MG_LOG_INFO, "mynaguard-uplink started (pid %d, uid %u)", (int)pid, (unsigned)uid);
}

void mg_uplink_sup_tick(struct mg_uplink_sup *s, int64_t now)
{
	if (s->pid < 0 && !s->disabled && now >= s->next_start)
		start(s, now);
}

int64_t mg_uplink_sup_next_start(const struct mg_uplink_sup *s)
{
	return s->pid < 0 && !s->disabled ? s->next_start : 0;
}

int mg_uplink_sup_fd(const struct mg_uplink_sup *s)
{
	return s->fd;
}

uint32_t mg_uplink_sup_events(const struct mg_uplink_sup *s)
{
	return EPOLLIN | (s->out_off < s->out_len ? EPOLLOUT : 0);
}

bool mg_uplink_sup_running(const struct mg_uplink_sup *s)
{
	return s->fd >= 0;
}

size_t mg_uplink_sup_in_flight(const struct mg_uplink_sup *s)
{
	return s->npend;
}

void mg_uplink_sup_state(const struct mg_uplink_sup *s, int64_t now, char *buf, size_t len)
{
	if (s->disabled)
		snprintf(buf, len, "disabled: %s", s->why);
	else if (s->fd >= 0)
		snprintf(buf, len, "running (pid %d)", (int)s->pid);
	else
		snprintf(buf, len, "restarting in %lld s%s%s",
		         (long long)((s->next_start - now + 999999) / 1000000),
		         s->why[0] ? ": " : "", s->why);
}

static void flush(struct mg_uplink_sup *s, int64_t now)
{
	while (s->out_off < s->out_len) {
		ssize_t n = send(s->fd, s->out + s->out_off, s->out_len - s->out_off,
		                 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			stop_child(s, now, "cannot write to it");
			return;
		}
		s->out_off += (size_t)n;
	}
	s->out_off = s->out_len = 0;
}

int mg_uplink_sup_send(struct mg_uplink_sup *s, uint8_t type, const void *payload, size_t len,
                       uint32_t *id)
{
	if (s->fd < 0)
		return -ENOTCONN;
	if (len > MG_UPLINK_MAX_PAYLOAD)
		return -EINVAL;
	size_t size = mg_uplink_frame_size(len);
	if (s->out_len - s->out_off + size > MAX_OUT || s->npend == MAX_PENDING)
		return -ENOBUFS;
	if (s->out_off > 0) { /* compact */
		memmove(s->out, s->out + s->out_off, s->out_len - s->out_off);
		s->out_len -= s->out_off;
		s->out_off = 0;
	}
	uint8_t *b = realloc(s->out, s->out_len + size);
	if (!b)
		return -ENOMEM;
	s->out = b;
	uint32_t fid = s->next_id++;
	if (s->next_id == 0)
		s->next_id = 1;
	int r = mg_uplink_frame_encode(type, fid, payload, len, s->out + s->out_len, size);
	if (r < 0)
		return r;
	s->out_len += size;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* A write error stops it (the requests it held are answered status 0) and it restarts
	 * after the backoff. This request is not among them: it is refused here, so that the
	 * caller never sees the answer to a request before send() returned. */
	flush(s, (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
	if (s->fd < 0)
		return -EPIPE;
	s->pend[s->npend++] = (struct pending){.id = fid, .type = type};
	*id = fid;
	return 0;
}

/* One whole frame from the uplink. false: it broke the protocol (it is stopped). */
static bool take_frame(struct mg_uplink_sup *s, const struct mg_uplink_frame *f, int64_t now)
{
	char why[160];
	size_t k = 0;
	while (k < s->npend && s->pend[k].id != f->id)
		k++;
	if (f->type != MG_UPLINK_ANSWER || k == s->npend) {
		stop_child(s, now,
		           f->type != MG_UPLINK_ANSWER
		               ? "protocol error: a frame other than an answer"
		               : "protocol error: an answer to no request");
		return false;
	}
	struct mg_uplink_answer a;
	if (mg_uplink_answer_parse(f->payload, f->len, &a, why, sizeof(why)) < 0) {
		char msg[200];
		snprintf(msg, sizeof(msg), "protocol error: %s", why);
		stop_child(s, now, msg);
		return false;
	}
	uint8_t type = s->pend[k].type;
	memmove(&s->pend[k], &s->pend[k + 1], (s->npend - k - 1) * sizeof(s->pend[0]));
	s->npend--;
	s->cb(s->ctx, f->id, type, &a);
	return true;
}

void mg_uplink_sup_io(struct mg_uplink_sup *s, uint32_t events, int64_t now)
{
	if (s->fd < 0)
		return;
	if (events & EPOLLOUT)
		flush(s, now);
	if (s->fd < 0 || !(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	for (;;) {
		if (s->in_cap - s->in_len < 65536) {
			size_t nc = s->in_cap ? s->in_cap * 2 : 65536;
			if (nc > mg_uplink_frame_size(MG_UPLINK_MAX_PAYLOAD) + 65536)
				nc = mg_uplink_frame_size(MG_UPLINK_MAX_PAYLOAD) + 65536;
			if (nc > s->in_cap) {
				uint8_t *b = realloc(s->in, nc);
				if (!b) {
					stop_child(s, now, "out of memory");
					return;
				}
				s->in = b;
				s->in_cap = nc;
			}
		}
		ssize_t n = recv(s->fd, s->in + s->in_len, s->in_cap - s->in_len, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			stop_child(s, now,
			           n == 0 ? "it closed the connection (exited)" : "read error");
			return;
		}
		s->in_len += (size_t)n;
		size_t off = 0;
		for (;;) {
			struct mg_uplink_frame f;
			size_t used = 0;
			char why[160];
			int r = mg_uplink_frame_decode(s->in + off, s->in_len - off, &f, &used, why,
			                               sizeof(why));
			if (r == -EAGAIN)
				break;
			if (r < 0) {
				char msg[200];
				snprintf(msg, sizeof(msg), "protocol error: %s", why);
				stop_child(s, now, msg);
				return;
			}
			if (!take_frame(s, &f, now))
				return;
			off += used;
			if (s->fd < 0)
				return;
		}
		memmove(s->in, s->in + off, s->in_len - off);
		s->in_len -= off;
	}
	/* The buffer shrinks back once a large answer (a policy bundle) is through. */
	if (s->in_len == 0 && s->in_cap > 65536) {
		free(s->in);
		s->in = NULL;
		s->in_cap = 0;
	}
}
