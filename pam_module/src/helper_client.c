/* Client side of mynaguard-auth-helper. */
#include "helper_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "encoding.h"
#include "helper_proto.h"

#define SHORT_TIMEOUT_MS 10000u

struct mg_helper {
	pid_t pid;
	int to_fd;   /* helper's stdin */
	int from_fd; /* helper's stdout */
	struct sigaction old_chld;
	size_t used;
	char buf[MG_HELPER_LINE_MAX];
};

static void helper_free(struct mg_helper **h, int *status)
{
	if (!h || !*h)
		return;
	struct mg_helper *s = *h;
	int st = -1;
	if (s->to_fd >= 0)
		close(s->to_fd);
	if (s->from_fd >= 0)
		close(s->from_fd);
	if (s->pid > 0) {
		/* The helper exits once its stdin closes; a stuck one is killed. */
		for (int i = 0; i < 200; i++) {
			pid_t w = waitpid(s->pid, &st, WNOHANG);
			if (w == s->pid || (w < 0 && errno != EINTR))
				break;
			if (i == 199) {
				kill(s->pid, SIGKILL);
				waitpid(s->pid, &st, 0);
				break;
			}
			struct timespec ts = {0, 10 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
	}
	sigaction(SIGCHLD, &s->old_chld, NULL);
	if (status)
		*status = st;
	explicit_bzero(s->buf, sizeof(s->buf));
	free(s);
	*h = NULL;
}

static int start(const char *helper, const char *mode, const struct mg_helper_who *who,
                 struct mg_helper **out)
{
	int in[2] = {-1, -1}, outp[2] = {-1, -1};
	struct mg_helper *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->to_fd = h->from_fd = -1;
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0) {
		int r = -errno;
		for (int i = 0; i < 2; i++) {
			if (in[i] >= 0)
				close(in[i]);
			if (outp[i] >= 0)
				close(outp[i]);
		}
		free(h);
		return r;
	}
	/* Reap our own child even when the application ignores SIGCHLD (as pam_unix does). */
	struct sigaction dfl;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &dfl, &h->old_chld);
	pid_t pid = fork();
	if (pid == 0) {
		/* Child: only async-signal-safe calls until execve. */
		char *argv[] = {(char *)(uintptr_t)helper,
		                (char *)(uintptr_t)mode,
		                (char *)(uintptr_t)who->user,
		                (char *)(uintptr_t)who->service,
		                (char *)(uintptr_t)(who->tty ? who->tty : ""),
		                (char *)(uintptr_t)(who->rhost ? who->rhost : ""),
		                NULL};
		if (!who->service) /* the account phase: no PAM items, no events */
			argv[3] = NULL;
		char *const envp[] = {NULL};
		if (dup2(in[0], 0) < 0 || dup2(outp[1], 1) < 0)
			_exit(127);
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, 2);
		close_range(3, ~0u, 0);
		execve(helper, argv, envp);
		_exit(127);
	}
	close(in[0]);
	close(outp[1]);
	h->to_fd = in[1];
	h->from_fd = outp[0];
	if (pid < 0) {
		int r = -errno;
		h->pid = -1;
		helper_free(&h, NULL);
		return r;
	}
	h->pid = pid;
	*out = h;
	return 0;
}

static int send_line(struct mg_helper *h, const char *line)
{
	size_t len = strlen(line);
	const char *p = line;
	/* SIGPIPE if the helper died: keep it from killing the application. */
	struct sigaction ign, old;
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &ign, &old);
	int r = 0;
	while (len > 0) {
		ssize_t n = write(h->to_fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = -EPIPE;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	sigaction(SIGPIPE, &old, NULL);
	return r;
}

/* Reads one line (without '\n') into line. 0, -ETIMEDOUT, -EPIPE (closed), -EMSGSIZE. */
static int read_line(struct mg_helper *h, char *line, size_t len, unsigned timeout_ms)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		char *nl = memchr(h->buf, '\n', h->used);
		if (nl) {
			size_t n = (size_t)(nl - h->buf);
			if (n >= len)
				return -EMSGSIZE;
			memcpy(line, h->buf, n);
			line[n] = '\0';
			memmove(h->buf, nl + 1, h->used - n - 1);
			h->used -= n + 1;
			return 0;
		}
		if (h->used == sizeof(h->buf))
			return -EMSGSIZE;
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long long spent =
		    (now.tv_sec - t0.tv_sec) * 1000LL + (now.tv_nsec - t0.tv_nsec) / 1000000LL;
		if (spent >= (long long)timeout_ms)
			return -ETIMEDOUT;
		struct pollfd pfd = {h->from_fd, POLLIN, 0};
		int pr = poll(&pfd, 1, (int)((long long)timeout_ms - spent));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return -errno;
		if (pr == 0)
			return -ETIMEDOUT;
		ssize_t n = read(h->from_fd, h->buf + h->used, sizeof(h->buf) - h->used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EPIPE;
		h->used += (size_t)n;
	}
}

static int read_result(struct mg_helper *h, unsigned timeout_ms, struct mg_auth_outcome *out)
{
	char line[512];
	int r = read_line(h, line, sizeof(line), timeout_ms);
	if (r == 0)
		r = mg_helper_result_parse(line, out) < 0 ? -EPROTO : 0;
	return r;
}

/* One request, one result. */
static int simple(const char *helper, const char *mode, const struct mg_helper_who *who,
                  const char *request, struct mg_auth_outcome *out)
{
	struct mg_helper *h = NULL;
	int r = start(helper, mode, who, &h);
	if (r < 0)
		return r;
	if (request)
		r = send_line(h, request);
	if (r == 0)
		r = read_result(h, SHORT_TIMEOUT_MS, out);
	helper_free(&h, NULL);
	return r;
}

int mg_helper_status(const char *helper, const struct mg_helper_who *who,
                     struct mg_auth_outcome *out)
{
	return simple(helper, "status", who, NULL, out);
}

int mg_helper_totp(const char *helper, const struct mg_helper_who *who, const char *code,
                   struct mg_auth_outcome *out)
{
	char line[64];
	/* The code is digits only; anything else is sent as "x" and fails in the helper. */
	bool digits =
	    code && code[0] && strlen(code) <= 16 && strspn(code, "0123456789") == strlen(code);
	snprintf(line, sizeof(line), "code %s\n", digits ? code : "x");
	int r = simple(helper, "totp", who, line, out);
	explicit_bzero(line, sizeof(line));
	return r;
}

int mg_helper_fail(const char *helper, const struct mg_helper_who *who, const char *reason,
                   struct mg_auth_outcome *out)
{
	char line[64];
	snprintf(line, sizeof(line), "fail %s\n", reason);
	return simple(helper, "fail", who, line, out);
}

int mg_helper_fido2_begin(const char *helper, const struct mg_helper_who *who, unsigned timeout_ms,
                          struct mg_helper **hp, unsigned char cdh[MG_FIDO2_CDH_LEN],
                          struct mg_auth_outcome *out)
{
	struct mg_helper *h = NULL;
	char line[512];
	int r = start(helper, "fido2", who, &h);
	if (r < 0)
		return r;
	(void)timeout_ms;
	r = read_line(h, line, sizeof(line), SHORT_TIMEOUT_MS);
	if (r < 0)
		goto fail;
	if (strncmp(line, "challenge ", 10) == 0) {
		if (mg_hex_decode(line + 10, cdh, MG_FIDO2_CDH_LEN) < 0) {
			r = -EPROTO;
			goto fail;
		}
		*hp = h;
		return 0;
	}
	r = mg_helper_result_parse(line, out) < 0 ? -EPROTO : 0;
	*hp = NULL;
fail:
	helper_free(&h, NULL);
	return r;
}

int mg_helper_fido2_assert(struct mg_helper **h, const unsigned char *id, size_t id_len,
                           const struct mg_fido2_assertion *a, struct mg_auth_outcome *out)
{
	char *line = NULL;
	int r = mg_helper_assert_format(id, id_len, a, &line);
	if (r == 0)
		r = send_line(*h, line);
	if (r == 0)
		r = read_result(*h, SHORT_TIMEOUT_MS, out);
	free(line);
	helper_free(h, NULL);
	return r;
}

int mg_helper_fido2_end(struct mg_helper **h, const char *reason, struct mg_auth_outcome *out)
{
	char line[64];
	int r;
	if (!reason) {
		r = send_line(*h, "abort\n");
		helper_free(h, NULL);
		memset(out, 0, sizeof(*out));
		return r;
	}
	snprintf(line, sizeof(line), "fail %s\n", reason);
	r = send_line(*h, line);
	if (r == 0)
		r = read_result(*h, SHORT_TIMEOUT_MS, out);
	helper_free(h, NULL);
	return r;
}
