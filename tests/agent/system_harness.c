/* The harness of the agent system tests: scenario set-up, the agent process, its event log,
 * mynaguardctl, and assertions on the fake kernel's state (see system_harness.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mg/event.h"
#include "spool.h"
#include "system_harness.h"
#include "usb_desc.h"

extern char **environ;

static char *agent_bin, *ctl_bin;

int harness_init(void)
{
	agent_bin = getenv("MG_AGENT_BIN");
	ctl_bin = getenv("MG_CTL_BIN");
	if (!agent_bin || !ctl_bin) {
		fprintf(stderr, "set MG_AGENT_BIN and MG_CTL_BIN (ctest does)\n");
		return -1;
	}
	return 0;
}

/* ---- small utilities ---------------------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	size_t len = strlen(text);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* The whole file, NUL-terminated (NULL when it cannot be read); *len optional. */
char *read_all(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (n + 1 >= cap) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
		assert_non_null(buf);
		ssize_t r = read(fd, buf + n, cap - n - 1);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_rf(const char *dir)
{
	(void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Waits up to ms for pid to exit; its wait status, or -1 on timeout (pid left running). */
static int wait_exit(pid_t pid, int ms)
{
	int status = 0;
	int pfd = pidfd_open_(pid);
	if (pfd >= 0) {
		struct pollfd p = {.fd = pfd, .events = POLLIN};
		(void)poll(&p, 1, ms);
		close(pfd);
		return waitpid(pid, &status, WNOHANG) == pid ? status : -1;
	}
	/* No pidfd (Linux < 5.3): look every millisecond. */
	for (int64_t deadline = now_ms() + ms; now_ms() < deadline;) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return status;
		struct timespec nap = {0, 1000000};
		nanosleep(&nap, NULL);
	}
	return waitpid(pid, &status, WNOHANG) == pid ? status : -1;
}

/* ---- a scenario: testbed, directory, agent ------------------------------------------------- */

static int print_record(void *ctx, const struct mg_spool_record *r, const uint8_t hash[32])
{
	(void)ctx;
	(void)hash;
	fprintf(stderr, "%.*s\n", (int)r->len, r->payload);
	return 0;
}

void dump_agent(struct sc *sc)
{
	char *log = read_all(sc->log, NULL);
	fprintf(stderr, "---- agent log (%s) ----\n%s---- end ----\n", sc->log, log ? log : "");
	free(log);
	fprintf(stderr, "---- events (%s) ----\n", sc->events);
	char err[256] = "";
	(void)mg_spool_scan(sc->events, print_record, NULL, err, sizeof(err));
	fprintf(stderr, "%s---- end ----\n", err);
}

/*
 * Where scenario directories go: /dev/shm when it is there (the agent fsyncs every event;
 * on tmpfs that costs nothing, on a disk several ms each), else /tmp. The testbed itself
 * stays in $TMPDIR: the preload checks every /dev path against the testbed first.
 */
static const char *scratch_dir(void)
{
	return access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : "/tmp";
}

int sc_setup(void **state)
{
	struct sc *sc = calloc(1, sizeof(*sc));
	assert_non_null(sc);
	sc->notify_fd = -1;
	sc->ino_fd = -1;
	sc->pid = -1;
	snprintf(sc->dir, sizeof(sc->dir), "%s/mg-sys-XXXXXX", scratch_dir());
	assert_non_null(mkdtemp(sc->dir));
	snprintf(sc->conf, sizeof(sc->conf), "%s/agent.conf", sc->dir);
	snprintf(sc->rules, sizeof(sc->rules), "%s/rules.conf", sc->dir);
	snprintf(sc->rules_dir, sizeof(sc->rules_dir), "%s/rules.d", sc->dir);
	snprintf(sc->state, sizeof(sc->state), "%s/state", sc->dir);
	snprintf(sc->sock, sizeof(sc->sock), "%s/agent.sock", sc->dir);
	snprintf(sc->events, sizeof(sc->events), "%s/spool", sc->state);
	snprintf(sc->log, sizeof(sc->log), "%s/agent.log", sc->dir);
	snprintf(sc->notify, sizeof(sc->notify), "%s/notify", sc->dir);
	assert_int_equal(mkdir(sc->rules_dir, 0755), 0);
	assert_int_equal(mg_tb_new(&sc->tb), 0);
	sc->evs = json_array();
	*state = sc;
	return 0;
}

int sc_teardown(void **state)
{
	struct sc *sc = *state;
	if (sc->pid > 0) {
		kill(sc->pid, SIGKILL);
		(void)waitpid(sc->pid, NULL, 0);
	}
	if (sc->notify_fd >= 0)
		close(sc->notify_fd);
	if (sc->ino_fd >= 0)
		close(sc->ino_fd);
	json_decref(sc->evs);
	mg_tb_free(&sc->tb);
	rm_rf(sc->dir);
	free(sc);
	return 0;
}

void write_rules(struct sc *sc, const char *text)
{
	write_file(sc->rules, text, 0600);
}

/* agent.conf: the paths of this scenario plus extra (mode, policy keys). */
void write_conf(struct sc *sc, const char *extra)
{
	char buf[4096], pending[256], staff[256];
	if (sc->pam_pending[0])
		snprintf(pending, sizeof(pending), "%s", sc->pam_pending);
	else
		snprintf(pending, sizeof(pending), "%s/events.pending", sc->dir);
	if (sc->staff_db[0])
		snprintf(staff, sizeof(staff), "%s", sc->staff_db);
	else
		snprintf(staff, sizeof(staff), "%s/staff.db", sc->state);
	snprintf(buf, sizeof(buf),
	         "# mynaguard-agent, system test\n"
	         "rules_file = %s\nrules_dir = %s\nstate_dir = %s\nsocket = %s\n"
	         "event_socket = %s/events.sock\npam_pending_file = %s\n"
	         "staff_db = %s\nlog_level = info\n%s",
	         sc->rules, sc->rules_dir, sc->state, sc->sock, sc->dir, pending, staff, extra);
	write_file(sc->conf, buf, 0600);
	sc->enforce = !strstr(extra, "mode = audit");
}

/*
 * Our environment with the variables of set ("NAME=value", NULL-terminated) replacing any of
 * the same name. The array is malloc'ed; its strings are borrowed.
 */
static char **env_with(char *const *set)
{
	size_t n = 0, k = 0, m = 0;
	while (environ[n])
		n++;
	while (set[m])
		m++;
	char **envp = calloc(n + m + 1, sizeof(*envp));
	assert_non_null(envp);
	for (size_t i = 0; i < n; i++) {
		bool replaced = false;
		for (size_t j = 0; j < m && !replaced; j++) {
			size_t klen = (size_t)(strchr(set[j], '=') - set[j]) + 1;
			replaced = strncmp(environ[i], set[j], klen) == 0;
		}
		if (!replaced)
			envp[k++] = environ[i];
	}
	for (size_t j = 0; j < m; j++)
		envp[k++] = set[j];
	return envp;
}

/*
 * posix_spawn (vfork-like: no copy of this ASan process's page tables) of argv with stdout
 * and stderr to the files out_fd and err_fd.
 */
static pid_t spawn(char *const argv[], char *const envp[], int out_fd, int err_fd)
{
	posix_spawn_file_actions_t fa;
	assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
	assert_int_equal(posix_spawn_file_actions_adddup2(&fa, out_fd, 1), 0);
	assert_int_equal(posix_spawn_file_actions_adddup2(&fa, err_fd, 2), 0);
	pid_t pid;
	int r = posix_spawn(&pid, argv[0], &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		fail_msg("cannot run %s: %s", argv[0], strerror(r));
	return pid;
}

/*
 * "ASAN_OPTIONS=..." for the programs under test when MG_CHILD_ASAN_OPTIONS is set (they get
 * leak checking, which the harness, full of GLib's one-time allocations, cannot have), else
 * NULL: they inherit ours.
 */
static char *child_asan(char *buf, size_t len)
{
	const char *opts = getenv("MG_CHILD_ASAN_OPTIONS");
	if (!opts)
		return NULL;
	snprintf(buf, len, "ASAN_OPTIONS=%s", opts);
	return buf;
}

/* Starts the agent with NOTIFY_SOCKET set; returns at once. */
void agent_spawn(struct sc *sc)
{
	if (sc->notify_fd >= 0) /* an earlier run of the agent in this scenario */
		close(sc->notify_fd);
	(void)unlink(sc->notify);
	sc->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(sc->notify_fd >= 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	assert_true(strlen(sc->notify) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, sc->notify, strlen(sc->notify) + 1);
	assert_int_equal(bind(sc->notify_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);

	char notify_env[160];
	snprintf(notify_env, sizeof(notify_env), "NOTIFY_SOCKET=%s", sc->notify);
	char asan_env[256];
	char *set[] = {notify_env, child_asan(asan_env, sizeof(asan_env)), NULL};
	char **envp = env_with(set);
	char config_opt[] = "--config";
	char *argv[] = {agent_bin, config_opt, sc->conf, NULL};
	int logfd = open(sc->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	assert_true(logfd >= 0);
	sc->pid = spawn(argv, envp, logfd, logfd);
	close(logfd);
	free(envp);
}

static void assert_alive(struct sc *sc)
{
	int status;
	if (sc->pid > 0 && waitpid(sc->pid, &status, WNOHANG) == sc->pid) {
		sc->pid = -1;
		FAIL_WITH_LOG(sc, "the agent died (wait status 0x%x)", status);
	}
}

/* Waits for a notification datagram holding the line want ("READY=1"). */
void wait_notify(struct sc *sc, const char *want)
{
	int64_t deadline = now_ms() + WAIT_MS;
	for (;;) {
		char buf[1024];
		ssize_t n = recv(sc->notify_fd, buf, sizeof(buf) - 1, 0);
		if (n > 0) {
			buf[n] = '\0';
			for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
				if (strcmp(line, want) == 0)
					return;
			continue;
		}
		assert_alive(sc);
		int64_t left = deadline - now_ms();
		if (left <= 0)
			FAIL_WITH_LOG(sc, "no %s from the agent within %d ms", want, WAIT_MS);
		struct pollfd p = {.fd = sc->notify_fd, .events = POLLIN};
		(void)poll(&p, 1, left > 50 ? 50 : (int)left);
	}
}

struct spool_read {
	struct sc *sc;
	bool fail;
	char why[512];
};

static void hex32(const uint8_t h[32], char out[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* One spool record: new ones (seq above the last read) must pass the strict parser and
 * continue the hash chain of the records before them. */
static int take_record(void *ctx, const struct mg_spool_record *r, const uint8_t hash[32])
{
	struct spool_read *rd = ctx;
	struct sc *sc = rd->sc;
	if (r->seq <= sc->last_seq)
		return 0;
	if (sc->last_seq && sc->allow_gaps && r->seq > sc->last_seq + 1) {
		/* The records between went with segments the collector acknowledged before the
		 * harness read them (a tiny spool); the collector checked their chain. */
	} else if (sc->last_seq &&
	           (r->seq != sc->last_seq + 1 || memcmp(r->prev, sc->last_hash, 32) != 0)) {
		char a[65], b[65];
		hex32(r->prev, a);
		hex32(sc->last_hash, b);
		snprintf(rd->why, sizeof(rd->why),
		         "spool record seq %llu does not continue the chain after seq %llu "
		         "(prev %s, want %s)",
		         (unsigned long long)r->seq, (unsigned long long)sc->last_seq, a, b);
		rd->fail = true;
		return -EBADMSG;
	}
	struct mg_event *ev = NULL;
	char why[256] = "";
	if (mg_event_from_json(r->payload, r->len, &ev, why, sizeof(why)) != 0) {
		snprintf(rd->why, sizeof(rd->why), "event rejected by mg_event_from_json: %s: %.*s",
		         why, (int)(r->len > 200 ? 200 : r->len), r->payload);
		rd->fail = true;
		return -EBADMSG;
	}
	bool seq_ok = ev->seq == r->seq;
	mg_event_free(&ev);
	if (!seq_ok) {
		snprintf(rd->why, sizeof(rd->why), "record seq %llu differs from its event's",
		         (unsigned long long)r->seq);
		rd->fail = true;
		return -EBADMSG;
	}
	json_error_t jerr;
	json_t *j = json_loadb(r->payload, r->len, 0, &jerr);
	if (!j)
		return -ENOMEM;
	json_array_append_new(sc->evs, j);
	sc->last_seq = r->seq;
	memcpy(sc->last_hash, hash, 32);
	return 0;
}

/* Reads the events recorded since the last call from the agent's spool (agent/spool). */
void read_events(struct sc *sc)
{
	struct spool_read rd = {.sc = sc};
	char err[256] = "";
	int r = mg_spool_scan(sc->events, take_record, &rd, err, sizeof(err));
	if (rd.fail)
		FAIL_WITH_LOG(sc, "%s", rd.why);
	if (r == -ENOENT)
		return; /* the agent has not created it yet */
	if (r < 0 || err[0])
		FAIL_WITH_LOG(sc, "cannot read the spool %s: %s", sc->events,
		              err[0] ? err : strerror(-r));
}

json_int_t ev_seq(const json_t *ev)
{
	return json_integer_value(json_object_get(ev, "seq"));
}

static const char *ev_type(const json_t *ev)
{
	return json_string_value(json_object_get(ev, "type"));
}

/* "device.syspath" style lookup of a string; NULL when absent. */
const char *jstr(const json_t *o, const char *path)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", path);
	const json_t *cur = o;
	for (char *tok = strtok(buf, "."); tok && cur; tok = strtok(NULL, "."))
		cur = json_object_get(cur, tok);
	return json_string_value(cur);
}

const json_t *jget(const json_t *o, const char *path)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", path);
	const json_t *cur = o;
	for (char *tok = strtok(buf, "."); tok && cur; tok = strtok(NULL, "."))
		cur = json_object_get(cur, tok);
	return cur;
}

/* The seq of the last event read (a mark: later waits look after it). */
json_int_t mark(struct sc *sc)
{
	read_events(sc);
	size_t n = json_array_size(sc->evs);
	return n ? ev_seq(json_array_get(sc->evs, n - 1)) : 0;
}

static bool is_decision(const char *type)
{
	return type &&
	       (strcmp(type, "device.allowed") == 0 || strcmp(type, "device.blocked") == 0 ||
	        strcmp(type, "device.rejected") == 0);
}

/* The first event after seq `after` of type (NULL: any decision) about syspath (NULL: any). */
json_t *find_event(struct sc *sc, const char *type, const char *syspath, json_int_t after)
{
	size_t i;
	json_t *ev;
	json_array_foreach(sc->evs, i, ev)
	{
		if (ev_seq(ev) <= after)
			continue;
		const char *t = ev_type(ev);
		if (type ? strcmp(t, type) != 0 : !is_decision(t))
			continue;
		const char *sp = jstr(ev, "device.syspath");
		if (syspath && (!sp || strcmp(sp, syspath) != 0))
			continue;
		return ev;
	}
	return NULL;
}

/* Waits for find_event(); the event is owned by sc. */
json_t *wait_event(struct sc *sc, const char *type, const char *syspath, json_int_t after)
{
	int64_t deadline = now_ms() + WAIT_MS;
	if (sc->ino_fd < 0) {
		sc->ino_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
		assert_true(sc->ino_fd >= 0);
		assert_true(inotify_add_watch(sc->ino_fd, sc->state, IN_MODIFY | IN_CREATE) >= 0);
	}
	if (!sc->spool_watched) /* the spool's segments: appends, new segments */
		sc->spool_watched =
		    inotify_add_watch(sc->ino_fd, sc->events, IN_MODIFY | IN_CREATE) >= 0;
	for (;;) {
		read_events(sc);
		json_t *ev = find_event(sc, type, syspath, after);
		if (ev)
			return ev;
		assert_alive(sc);
		int64_t left = deadline - now_ms();
		if (left <= 0)
			FAIL_WITH_LOG(sc, "no %s event for %s after seq %lld within %d ms",
			              type ? type : "decision", syspath ? syspath : "any device",
			              (long long)after, WAIT_MS);
		struct pollfd p = {.fd = sc->ino_fd, .events = POLLIN};
		if (poll(&p, 1, left > 50 ? 50 : (int)left) > 0) {
			char buf[4096];
			while (read(sc->ino_fd, buf, sizeof(buf)) > 0)
				;
		}
	}
}

json_t *wait_decision(struct sc *sc, const char *syspath, json_int_t after)
{
	return wait_event(sc, NULL, syspath, after);
}

/*
 * Barrier: every uevent sent before this call has been handled by the agent. Enforce mode:
 * an interface of no known device, which the agent switches off. Audit mode (the agent
 * leaves such interfaces alone): a device without attributes, whose decision and removal
 * the agent records.
 */
void sync_agent(struct sc *sc)
{
	if (!sc->enforce) {
		char dev[256];
		json_int_t m = mark(sc);
		const char *s = mg_tb_sentinel_device(sc->tb);
		assert_non_null(s);
		snprintf(dev, sizeof(dev), "%s", s);
		wait_decision(sc, dev, m);
		mg_tb_sentinel_remove(sc->tb, dev);
		wait_event(sc, "device.removed", dev, m);
		return;
	}
	const char *s = mg_tb_sentinel(sc->tb);
	assert_non_null(s);
	char path[512];
	snprintf(path, sizeof(path), "%s/sys%s/authorized", mg_tb_root(sc->tb), s);
	int ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	assert_true(ino >= 0);
	(void)inotify_add_watch(ino, path, IN_MODIFY | IN_CLOSE_WRITE);
	int64_t deadline = now_ms() + WAIT_MS;
	while (mg_tb_authorized(sc->tb, s) != 0) {
		assert_alive(sc);
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			close(ino);
			FAIL_WITH_LOG(sc, "the agent did not handle the sentinel uevent %s", s);
		}
		struct pollfd p = {.fd = ino, .events = POLLIN};
		if (poll(&p, 1, left > 20 ? 20 : (int)left) > 0) {
			char buf[1024];
			while (read(ino, buf, sizeof(buf)) > 0)
				;
		}
	}
	close(ino);
}

/* Plays the kernel's part after the agent wrote `authorized`, and waits for the agent to
 * handle the interfaces that appeared. */
void settle(struct sc *sc, const char *devpath)
{
	int n = mg_tb_settle(sc->tb, devpath);
	assert_true(n >= 0);
	if (n > 0)
		sync_agent(sc);
}

void agent_start(struct sc *sc, const char *rules, const char *conf_extra)
{
	write_rules(sc, rules);
	write_conf(sc, conf_extra);
	agent_spawn(sc);
	wait_notify(sc, "READY=1");
	read_events(sc);
	assert_non_null(find_event(sc, "agent.started", NULL, 0));
}

/* SIGTERM; the agent must exit 0 and record agent.stopped. */
void agent_stop(struct sc *sc)
{
	json_int_t m = mark(sc);
	assert_int_equal(kill(sc->pid, SIGTERM), 0);
	int status = wait_exit(sc->pid, WAIT_MS);
	if (status == -1)
		FAIL_WITH_LOG(sc, "the agent did not stop within %d ms of SIGTERM", WAIT_MS);
	sc->pid = -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		FAIL_WITH_LOG(sc, "the agent exited with wait status 0x%x", status);
	read_events(sc);
	if (!find_event(sc, "agent.stopped", NULL, m))
		FAIL_WITH_LOG(sc, "no agent.stopped event after seq %lld", (long long)m);
}

/* ---- mynaguardctl ------------------------------------------------------------------------- */

void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

/* Runs mynaguardctl with args (NULL-terminated; --socket is added when sock is set). */
void ctl_argv(struct sc *sc, struct run *r, bool with_socket, const char *const *args)
{
	char *argv[32];
	size_t n = 0;
	argv[n++] = strdup(ctl_bin);
	if (with_socket) {
		argv[n++] = strdup("--socket");
		argv[n++] = strdup(sc->sock);
	}
	for (size_t i = 0; args[i] && n < 31; i++)
		argv[n++] = strdup(args[i]);
	argv[n] = NULL;
	for (size_t i = 0; i < n; i++)
		assert_non_null(argv[i]);
	char out[160], err[160];
	snprintf(out, sizeof(out), "%s/ctl.out", sc->dir);
	snprintf(err, sizeof(err), "%s/ctl.err", sc->dir);
	int ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int efd = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(ofd >= 0 && efd >= 0);
	char lc_all[] = "LC_ALL=en_US.UTF-8"; /* English messages (mg/i18n.h) */
	char asan_env[256];
	char *set[] = {lc_all, child_asan(asan_env, sizeof(asan_env)), NULL};
	char **envp = env_with(set);
	pid_t pid = spawn(argv, envp, ofd, efd);
	free(envp);
	for (size_t i = 0; i < n; i++)
		free(argv[i]);
	close(ofd);
	close(efd);
	int status = wait_exit(pid, WAIT_MS);
	if (status == -1) {
		kill(pid, SIGKILL);
		(void)waitpid(pid, NULL, 0);
		FAIL_WITH_LOG(sc, "mynaguardctl %s did not finish", args[0]);
	}
	assert_true(WIFEXITED(status));
	r->status = WEXITSTATUS(status);
	r->out = read_all(out, NULL);
	r->err = read_all(err, NULL);
	assert_non_null(r->out);
	assert_non_null(r->err);
}

/* list-devices --json, parsed (caller decrefs). */
json_t *list_devices(struct sc *sc)
{
	struct run r;
	CTL(sc, &r, "list-devices", "--json");
	if (r.status != 0)
		FAIL_WITH_LOG(sc, "list-devices exited %d: %s", r.status, r.err);
	json_error_t jerr;
	json_t *arr = json_loads(r.out, 0, &jerr);
	if (!json_is_array(arr))
		fail_msg("list-devices --json printed no JSON array: %s\n%s", jerr.text, r.out);
	run_free(&r);
	return arr;
}

json_t *listed(json_t *arr, const char *syspath)
{
	size_t i;
	json_t *d;
	json_array_foreach(arr, i, d)
	{
		const char *sp = json_string_value(json_object_get(d, "syspath"));
		if (sp && strcmp(sp, syspath) == 0)
			return d;
	}
	return NULL;
}

unsigned listed_id(json_t *arr, const char *syspath)
{
	json_t *d = listed(arr, syspath);
	assert_non_null(d);
	json_int_t id = json_integer_value(json_object_get(d, "id"));
	assert_true(id > 0);
	return (unsigned)id;
}

/* ---- devices ------------------------------------------------------------------------------ */

const struct mg_cat_device *catalog(const char *key)
{
	const struct mg_cat_device *d = mg_cat_find(key);
	if (!d)
		fail_msg("no catalog device '%s'", key);
	return d;
}

/*
 * Hot-plugs catalog device key at port as the kernel does with authorized_default=0
 * (authorized=0, not configured): waits for the agent's decision, lets the "kernel" configure
 * it if the agent authorized it, and waits until the agent handled its interfaces. Returns
 * the decision event; *devpath gets the DEVPATH.
 */
json_t *plug_opts(struct sc *sc, const char *key, const char *port, const struct mg_tb_opts *o,
                  const char **devpath)
{
	json_int_t m = mark(sc);
	const char *dp = mg_tb_add(sc->tb, catalog(key), port, o);
	if (!dp)
		fail_msg("cannot add %s at %s", key, port);
	json_t *ev = wait_decision(sc, dp, m);
	/* Hot-plugged: device.inserted came first. */
	json_t *ins = find_event(sc, "device.inserted", dp, m);
	assert_non_null(ins);
	assert_true(ev_seq(ins) < ev_seq(ev));
	assert_true(mg_tb_settle(sc->tb, dp) >= 0);
	sync_agent(sc); /* the interfaces handled, and nothing else pending */
	read_events(sc);
	if (devpath)
		*devpath = dp;
	return ev;
}

json_t *plug(struct sc *sc, const char *key, const char *port, const char **devpath)
{
	return plug_opts(sc, key, port, NULL, devpath);
}

void unplug(struct sc *sc, const char *devpath)
{
	json_int_t m = mark(sc);
	assert_int_equal(mg_tb_remove(sc->tb, devpath), 0);
	wait_event(sc, "device.removed", devpath, m);
}

void assert_type(struct sc *sc, const json_t *ev, const char *type)
{
	if (strcmp(ev_type(ev), type) != 0) {
		char *s = json_dumps(ev, JSON_COMPACT);
		FAIL_WITH_LOG(sc, "expected %s, got %s", type, s);
	}
}

void assert_authorized(struct sc *sc, const char *devpath, int want)
{
	int got = mg_tb_authorized(sc->tb, devpath);
	if (got != want)
		FAIL_WITH_LOG(sc, "%s: authorized is %d, expected %d", devpath, got, want);
}

void assert_iface(struct sc *sc, const char *devpath, unsigned n, int want)
{
	char path[512];
	assert_non_null(mg_tb_iface(sc->tb, devpath, n, path, sizeof(path)));
	int got = mg_tb_authorized(sc->tb, path);
	if (got != want)
		FAIL_WITH_LOG(sc, "%s: authorized is %d, expected %d", path, got, want);
}

void assert_attr(struct sc *sc, const char *devpath, const char *attr, const char *want)
{
	char buf[256];
	assert_int_equal(mg_tb_read(sc->tb, devpath, attr, buf, sizeof(buf)), 0);
	if (strcmp(buf, want) != 0)
		FAIL_WITH_LOG(sc, "%s/%s is \"%s\", expected \"%s\"", devpath, attr, buf, want);
}

void assert_strv(const json_t *arr, const char *const *want)
{
	size_t n = 0;
	while (want[n])
		n++;
	if (!json_is_array(arr) || json_array_size(arr) != n) {
		char *s = json_dumps(arr, JSON_COMPACT | JSON_ENCODE_ANY);
		fail_msg("expected %zu items, got %s", n, s ? s : "(none)");
	}
	for (size_t i = 0; i < n; i++)
		assert_string_equal(json_string_value(json_array_get(arr, i)), want[i]);
}

/* The "cc:ss:pp" of every interface descriptor of the catalog device (what events list). */
void assert_interfaces(const json_t *arr, const struct mg_cat_device *c)
{
	struct mg_usb_desc *d = calloc(1, sizeof(*d));
	assert_non_null(d);
	assert_int_equal(mg_usb_desc_parse(c->descriptors, c->descriptors_len, d, NULL, 0), 0);
	assert_int_equal(json_array_size(arr), d->n_ifaces);
	for (size_t i = 0; i < d->n_ifaces; i++) {
		char t[9];
		mg_usb_iftype_format(d->ifaces[i].type, t);
		assert_string_equal(json_string_value(json_array_get(arr, i)), t);
	}
	free(d);
}

/* The rule text/source of a decision: rule_line is the 1-based line in rules.conf, 0: none. */
void assert_rule(struct sc *sc, const json_t *ev, const char *text, unsigned rule_line)
{
	const json_t *rule = json_object_get(ev, "rule");
	if (!text) {
		if (rule)
			FAIL_WITH_LOG(sc, "a rule decided, expected the implicit target");
		return;
	}
	assert_non_null(rule);
	assert_string_equal(jstr(ev, "rule.text"), text);
	char src[200];
	snprintf(src, sizeof(src), "%s:%u", sc->rules, rule_line);
	assert_string_equal(jstr(ev, "rule.source"), src);
}
