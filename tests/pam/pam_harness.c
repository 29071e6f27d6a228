/* pam_wrapper + libpamtest harness for pam_mynaguard.so. */
#include "pam_harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpamtest.h>
#include <security/pam_appl.h>

#include "authstate.h"
#include "credstore.h"
#include "mg/time.h"
#include "safe_tmp.h"
#include "totp_auth.h"

extern char **environ;

#define SET_ITEMS "/usr/lib/x86_64-linux-gnu/pam_wrapper/pam_set_items.so"

static char g_nss_dir[128];
static char g_conf[PATH_MAX];

static void mkdir_mode(const char *path, mode_t mode);

static void die(const char *what)
{
	fprintf(stderr, "harness: %s: %s\n", what, strerror(errno));
	abort();
}

static void write_text(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		die(path);
	size_t n = strlen(text);
	if (write(fd, text, n) != (ssize_t)n)
		die(path);
	fchmod(fd, mode);
	close(fd);
}

const char *h_module(void)
{
	const char *m = getenv("MG_PAM_MODULE");
	if (!m)
		abort();
	return m;
}

static pid_t g_setup_pid;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* At exit of the process that made it (not of a forked child): the NSS and service files go. */
static void remove_nss_dir(void)
{
	if (getpid() == g_setup_pid && g_nss_dir[0])
		(void)nftw(g_nss_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

void h_global_setup(void)
{
	char path[PATH_MAX + 16];
	snprintf(g_nss_dir, sizeof(g_nss_dir), "/tmp/mg-pam-nss.XXXXXX");
	if (!mkdtemp(g_nss_dir))
		die("mkdtemp");
	g_setup_pid = getpid();
	atexit(remove_nss_dir);
	chmod(g_nss_dir, 0755);
	snprintf(path, sizeof(path), "%s/passwd", g_nss_dir);
	write_text(path,
	           "root:x:0:0:root:/root:/bin/sh\n"
	           "alice:x:1001:1001:Alice:/home/alice:/bin/sh\n"
	           "bob:x:1002:1002:Bob:/home/bob:/bin/sh\n"
	           "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
	           0644);
	/* Directory-style names (issue 15): case matters, '@', and the longest name. */
	FILE *pw = fopen(path, "a");
	if (!pw)
		die(path);
	fprintf(pw,
	        "Tanaka:x:1003:1003::/home/t1:/bin/sh\ntanaka:x:1004:1004::/home/t2:/bin/sh\n"
	        "suzuki@city.local:x:1005:1005::/home/s:/bin/sh\n%s:x:1006:1006::/home/l:/bin/sh\n",
	        h_long_user());
	fclose(pw);
	setenv("NSS_WRAPPER_PASSWD", path, 1);
	snprintf(path, sizeof(path), "%s/group", g_nss_dir);
	write_text(path, "root:x:0:\nalice:x:1001:\nbob:x:1002:\nnogroup:x:65534:\n", 0644);
	setenv("NSS_WRAPPER_GROUP", path, 1);
	setenv("PAM_WRAPPER_DEBUGLEVEL", "2", 1);
	/*
	 * pam_wrapper copies the service files once, at the first pam_start(): one service dir
	 * for the whole process, pointing at one pam.conf path that each test rewrites.
	 */
	char text[4 * PATH_MAX];
	if (getenv("MG_PAM_TEST_CONF"))
		snprintf(g_conf, sizeof(g_conf), "%s", getenv("MG_PAM_TEST_CONF"));
	else
		snprintf(g_conf, sizeof(g_conf), "%s/pam.conf", g_nss_dir);
	snprintf(path, sizeof(path), "%s/services", g_nss_dir);
	mkdir_mode(path, 0755);
	setenv("PAM_WRAPPER_SERVICE_DIR", path, 1);
	snprintf(path, sizeof(path), "%s/services/mynaguard", g_nss_dir);
	snprintf(text, sizeof(text),
	         "auth optional %s\nauth required %s conf=%s\naccount required %s conf=%s\n",
	         SET_ITEMS, h_module(), g_conf, h_module(), g_conf);
	write_text(path, text, 0644);
	snprintf(path, sizeof(path), "%s/services/other", g_nss_dir);
	write_text(path, "auth required pam_deny.so\naccount required pam_deny.so\n", 0644);
	unsetenv("LANG");
	unsetenv("LC_ALL");
	unsetenv("LC_MESSAGES");
}

static void mkdir_mode(const char *path, mode_t mode)
{
	if (mkdir(path, mode) < 0)
		die(path);
	chmod(path, mode);
}

void h_write_conf(struct harness *h, const char *extra_conf)
{
	char text[3 * PATH_MAX + 2048];
	snprintf(h->extra_conf, sizeof(h->extra_conf), "%s", extra_conf ? extra_conf : "");
	snprintf(text, sizeof(text),
	         "# test configuration\ncredential_dir = %s\nstate_dir = %s\nevent_socket = %s\n"
	         "fail_delay_ms = 0\n%s",
	         h->creds, h->state, h->event_socket, h->extra_conf);
	write_text(h->conf, text, 0644);
}

int h_new(struct harness *h, const char *extra_conf)
{
	char path[PATH_MAX + 32];
	memset(h, 0, sizeof(*h));
	/* Not under /tmp: the module checks state and credential directories from / down. */
	if (t_safe_mkdtemp(h->root, sizeof(h->root), "mg-pam-test.") < 0)
		abort();
	snprintf(h->conf, sizeof(h->conf), "%s", g_conf);
	snprintf(h->creds, sizeof(h->creds), "%s/credentials", h->root);
	snprintf(h->state, sizeof(h->state), "%s/auth-state", h->root);
	snprintf(h->events_file, sizeof(h->events_file), "%s/events.log", h->root);
	snprintf(h->event_socket, sizeof(h->event_socket), "%s/events.sock", h->root);
	snprintf(h->pending, sizeof(h->pending), "%s/auth-state/events.pending", h->root);
	mkdir_mode(h->creds, 0755);
	snprintf(path, sizeof(path), "%s/totp", h->creds);
	mkdir_mode(path, 0755);
	snprintf(path, sizeof(path), "%s/fido2", h->creds);
	mkdir_mode(path, 0755);
	mkdir_mode(h->state, 0700);
	h_write_conf(h, extra_conf);
	write_text(h->events_file, "", 0644);
	unsetenv("PAM_RHOST");
	unsetenv("PAM_TTY");
	return 0;
}

void h_free(struct harness *h)
{
	char rm[] = "rm", rf[] = "-rf";
	const char *argv[] = {rm, rf, h->root, NULL};
	if (h->root[0] && strstr(h->root, "/mg-pam-test.") && !getenv("MG_PAM_KEEP"))
		h_run(argv, NULL, NULL, 0);
	memset(h, 0, sizeof(*h));
}

void h_totp_enroll(struct harness *h, const char *user, enum mg_totp_alg alg, unsigned digits,
                   unsigned period, struct mg_totp_cred *out)
{
	struct mg_totp_cred c;
	memset(&c, 0, sizeof(c));
	snprintf(c.user, sizeof(c.user), "%s", user);
	snprintf(c.label, sizeof(c.label), "phone");
	c.secret_len = 20;
	for (size_t i = 0; i < c.secret_len; i++)
		c.secret[i] = (unsigned char)(i + 1);
	c.algorithm = alg;
	c.digits = digits;
	c.period = period;
	mg_time_format(mg_now_us(), c.created);
	if (mg_credstore_save_totp(h->creds, geteuid(), &c) < 0)
		die("save totp");
	if (out)
		*out = c;
}

long long h_totp_code(const struct mg_totp_cred *c, int steps, char *buf, size_t len)
{
	time_t t = time(NULL) + (time_t)steps * (time_t)c->period;
	if (mg_totp_generate(c, t, buf, len) < 0)
		abort();
	return (long long)(t / (time_t)c->period);
}

void h_avoid_step_edge(unsigned period)
{
	for (int i = 0; i < 40; i++) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		if (period - (unsigned)(ts.tv_sec % period) > 3)
			return;
		struct timespec d = {0, 100 * 1000 * 1000};
		nanosleep(&d, NULL);
	}
}

static int conv_fn(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	struct h_conv *c = data;
	struct pam_response *r = calloc((size_t)n, sizeof(*r));
	if (!r)
		return PAM_CONV_ERR;
	for (int i = 0; i < n; i++) {
		const char *text = msg[i]->msg ? msg[i]->msg : "";
		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
		case PAM_PROMPT_ECHO_ON:
			if (c->nprompts < H_MAX_MSGS)
				c->prompts[c->nprompts++] = strdup(text);
			if (c->next >= c->nanswers || !c->answers[c->next]) {
				for (int k = 0; k < i; k++)
					free(r[k].resp);
				free(r);
				return PAM_CONV_ERR;
			}
			r[i].resp = strdup(c->answers[c->next++]);
			break;
		case PAM_ERROR_MSG:
			if (c->nerrors < H_MAX_MSGS)
				c->errors[c->nerrors++] = strdup(text);
			break;
		default:
			if (c->ninfos < H_MAX_MSGS)
				c->infos[c->ninfos++] = strdup(text);
			break;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

/* pam_syslog lines reach stderr under PAM_WRAPPER_DEBUGLEVEL: collect them in events_file. */
static int capture_begin(struct harness *h)
{
	fflush(stderr);
	int saved = dup(2);
	int fd = open(h->events_file, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (saved < 0 || fd < 0)
		die("capture");
	dup2(fd, 2);
	close(fd);
	return saved;
}

static void capture_end(int saved)
{
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
}

static int run_op(struct harness *h, const char *user, struct h_conv *conv, enum pamtest_ops op)
{
	struct h_conv empty;
	memset(&empty, 0, sizeof(empty));
	struct pam_testcase tests[] = {pam_test(op, PAM_SUCCESS)};
	int saved = capture_begin(h);
	enum pamtest_err e =
	    _pamtest_conv("mynaguard", user, conv_fn, conv ? conv : &empty, tests, 1, NULL);
	capture_end(saved);
	h_conv_free(&empty);
	if (e != PAMTEST_ERR_OK && e != PAMTEST_ERR_CASE) {
		fprintf(stderr, "pamtest: %s\n", pamtest_strerror(e));
		return -1;
	}
	return tests[0].op_rv;
}

int h_auth(struct harness *h, const char *user, struct h_conv *conv)
{
	return run_op(h, user, conv, PAMTEST_AUTHENTICATE);
}

int h_account(struct harness *h, const char *user)
{
	return run_op(h, user, NULL, PAMTEST_ACCOUNT);
}

void h_conv_free(struct h_conv *c)
{
	for (size_t i = 0; i < c->nprompts; i++)
		free(c->prompts[i]);
	for (size_t i = 0; i < c->ninfos; i++)
		free(c->infos[i]);
	for (size_t i = 0; i < c->nerrors; i++)
		free(c->errors[i]);
	c->nprompts = c->ninfos = c->nerrors = 0;
}

int h_events(struct harness *h, const char *type, char *last, size_t lastlen)
{
	char line[8192], needle[128];
	int n = 0;
	FILE *f = fopen(h->events_file, "r");
	if (!f)
		return 0;
	snprintf(needle, sizeof(needle), "\"type\":\"%s\"", type);
	while (fgets(line, sizeof(line), f)) {
		const char *ev = strstr(line, "mynaguard-event: {");
		if (!ev || !strstr(ev, needle))
			continue;
		n++;
		if (last)
			snprintf(last, lastlen, "%s", ev + strlen("mynaguard-event: "));
	}
	fclose(f);
	return n;
}

void h_events_clear(struct harness *h)
{
	write_text(h->events_file, "", 0644);
}

int h_pending(struct harness *h, const char *type, char *last, size_t lastlen)
{
	char line[8192], needle[128];
	int n = 0;
	FILE *f = fopen(h->pending, "r");
	if (!f)
		return -1;
	snprintf(needle, sizeof(needle), "\"type\":\"%s\"", type ? type : "");
	while (fgets(line, sizeof(line), f)) {
		if (type && !strstr(line, needle))
			continue;
		n++;
		if (last) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(last, lastlen, "%s", line);
		}
	}
	fclose(f);
	return n;
}

const char *h_long_user(void)
{
	static char name[MG_USER_NAME_MAX + 1];
	if (!name[0]) {
		static const char part[] = "Long.Name-";
		for (size_t i = 0; i < MG_USER_NAME_MAX; i++)
			name[i] = part[i % (sizeof(part) - 1)];
		name[MG_USER_NAME_MAX] = '\0';
	}
	return name;
}

/* <dir>/<file name of user><suffix> (pam_user.h mapping); the raw name when it has none. */
static void user_file(char *buf, size_t len, const char *dir, const char *user, const char *sfx)
{
	char name[MG_PAM_FILE_NAME_MAX + 1];
	if (mg_pam_user_file(name, sizeof(name), user, sfx) < 0)
		snprintf(name, sizeof(name), "%.200s%s", user, sfx);
	snprintf(buf, len, "%s/%s", dir, name);
}

void h_state(struct harness *h, const char *user, char *buf, size_t len)
{
	char path[PATH_MAX + 300];
	user_file(path, sizeof(path), h->state, user, ".json");
	buf[0] = '\0';
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	/* The current record of a two-slot file (docs/PAM.md section 3), else the bytes. */
	static char raw[MG_AUTHSTATE_MAX_SIZE + 1];
	static struct mg_authstate st;
	struct mg_authstate_where where;
	char err[256], *text = NULL;
	size_t n = fread(raw, 1, sizeof(raw), f), tlen = 0;
	fclose(f);
	if (mg_authstate_file_parse(raw, n, &st, &where, err, sizeof(err)) == 0 &&
	    where.slot_size && mg_authstate_format(&st, &text, &tlen) == 0) {
		snprintf(buf, len, "%s", text);
		free(text);
		return;
	}
	n = n < len - 1 ? n : len - 1;
	memcpy(buf, raw, n);
	buf[n] = '\0';
}

long long h_state_field(struct harness *h, const char *user, const char *field)
{
	char buf[16384], needle[128];
	h_state(h, user, buf, sizeof(buf));
	snprintf(needle, sizeof(needle), "\"%s\":", field);
	const char *p = strstr(buf, needle);
	if (!p)
		return -1;
	return strtoll(p + strlen(needle), NULL, 10);
}

void h_write_state(struct harness *h, const char *user, const char *json)
{
	char path[PATH_MAX + 300];
	user_file(path, sizeof(path), h->state, user, ".json");
	write_text(path, json, 0600);
}

int h_pam_wrapper_prepare(struct harness *h)
{
	struct pam_conv none = {NULL, NULL};
	pam_handle_t *ph = NULL;
	int saved = capture_begin(h); /* pam_wrapper's messages go where run_op puts them */
	int r = pam_start("mynaguard", "nobody", &none, &ph);
	if (r == PAM_SUCCESS)
		pam_end(ph, PAM_SUCCESS);
	capture_end(saved);
	return r == PAM_SUCCESS ? 0 : -1;
}

int h_run(const char *const argv[], const char *stdin_text, char *out, size_t outlen)
{
	int in[2], outp[2], st = -1;
	if (pipe(in) < 0 || pipe(outp) < 0)
		die("pipe");
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
	posix_spawn_file_actions_adddup2(&fa, outp[1], 2);
	posix_spawn_file_actions_addclose(&fa, in[1]);
	posix_spawn_file_actions_addclose(&fa, outp[0]);
	pid_t pid;
	int r = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)(uintptr_t)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(outp[1]);
	if (r != 0) {
		close(in[1]);
		close(outp[0]);
		return -1;
	}
	if (stdin_text && write(in[1], stdin_text, strlen(stdin_text)) < 0)
		die("write");
	close(in[1]);
	size_t used = 0;
	char buf[4096];
	for (;;) {
		ssize_t n = read(outp[0], buf, sizeof(buf));
		if (n <= 0)
			break;
		if (out && used + 1 < outlen) {
			size_t k = (size_t)n < outlen - used - 1 ? (size_t)n : outlen - used - 1;
			memcpy(out + used, buf, k);
			used += k;
		}
	}
	if (out && outlen)
		out[used] = '\0';
	close(outp[0]);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

void h_remove_pam_wrapper_dir(pid_t child)
{
	DIR *d = opendir("/tmp");
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "pam.", 4) != 0 || strlen(e->d_name) != 5)
			continue;
		char path[300], text[32] = "";
		snprintf(path, sizeof(path), "/tmp/%s/pid", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		bool mine = fgets(text, sizeof(text), f) && atol(text) == (long)child;
		fclose(f);
		if (!mine)
			continue;
		static const char *const files[] = {"pid", "mynaguard", "other"};
		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
			snprintf(path, sizeof(path), "/tmp/%s/%s", e->d_name, files[i]);
			(void)unlink(path);
		}
		snprintf(path, sizeof(path), "/tmp/%s", e->d_name);
		(void)rmdir(path);
	}
	closedir(d);
}
