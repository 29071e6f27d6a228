/*
 * System tests of mynaguard-agent: the real daemon and mynaguardctl against a umockdev
 * testbed (tests/support/testbed.h) with the devices of tests/support/usb_catalog.h.
 *
 * Run under the umockdev preload (ctest does: umockdev-wrapper test_agent_umockdev) with
 * MG_AGENT_BIN and MG_CTL_BIN naming the built programs. Each scenario gets a fresh testbed,
 * a fresh temporary directory (config 0600, rules, state_dir, socket) and a fresh agent.
 *
 * Synchronisation, never a fixed sleep:
 *   - start-up: the agent's sd_notify("READY=1") on our own NOTIFY_SOCKET;
 *   - a decision: its event in <state_dir>/events.jsonl (inotify, bounded wait);
 *   - interface uevents: a sentinel interface the agent must switch off (mg_tb_sentinel),
 *     sent after them; uevents are handled in order, so when it reads 0 the rest are done;
 *   - SIGHUP: "RELOADING=1" then "READY=1".
 * Every wait is bounded (WAIT_MS) and fails with the agent's log.
 */
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

#include <jansson.h>

#include "mg/event.h"
#include "testbed.h"
#include "usb_catalog.h"
#include "usb_desc.h"

extern char **environ;

#define WAIT_MS 8000 /* any single wait; a healthy run needs a few milliseconds */

/* Shipped-style policy: hubs, and devices with a HID or smart-card interface. */
#define RULE_HUBS  "allow with-interface match-all { 09:00:* }"
#define RULE_INPUT "allow with-interface one-of { 03:*:* 0b:*:* }"
#define SHIPPED_RULES                                                                              \
	"# hubs: every interface a hub interface\n" RULE_HUBS "\n"                                 \
	"# input devices, security keys, card readers; block_interfaces strips the "               \
	"rest\n" RULE_INPUT "\n"
#define SHIPPED_CONF                                                                               \
	"implicit_target = block\n"                                                                \
	"present_device_policy = apply-policy\n"                                                   \
	"block_interfaces = 08:*:* 06:*:* 02:*:* 0a:*:* e0:*:* ef:04:* ff:*:* 07:*:*\n"

#define APPROVED_SERIAL "4C530001230825117283"

static char *agent_bin, *ctl_bin;

/* ---- small utilities ---------------------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	size_t len = strlen(text);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* The whole file, NUL-terminated (NULL when it cannot be read); *len optional. */
static char *read_all(const char *path, size_t *len)
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
	}
	pid_t r = waitpid(pid, &status, WNOHANG);
	return r == pid ? status : -1;
}

/* ---- a scenario: testbed, directory, agent ------------------------------------------------- */

struct sc {
	struct mg_tb *tb;
	char dir[64];
	char conf[128], rules[128], rules_dir[128], state[128], sock[128], events[160], log[128];
	char notify[128];
	int notify_fd;
	pid_t pid;
	bool enforce;
	/* the event log as read so far */
	json_t *evs;
	size_t log_off;
	int ino_fd;
};

static void dump_agent(struct sc *sc)
{
	char *log = read_all(sc->log, NULL);
	fprintf(stderr, "---- agent log (%s) ----\n%s---- end ----\n", sc->log, log ? log : "");
	free(log);
	char *ev = read_all(sc->events, NULL);
	fprintf(stderr, "---- events (%s) ----\n%s---- end ----\n", sc->events, ev ? ev : "");
	free(ev);
}

#define FAIL_WITH_LOG(sc, ...)                                                                     \
	do {                                                                                       \
		dump_agent(sc);                                                                    \
		fail_msg(__VA_ARGS__);                                                             \
	} while (0)

/*
 * Where scenario directories go: /dev/shm when it is there (the agent fsyncs every event;
 * on tmpfs that costs nothing, on a disk several ms each), else /tmp. The testbed itself
 * stays in $TMPDIR: the preload checks every /dev path against the testbed first.
 */
static const char *scratch_dir(void)
{
	return access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : "/tmp";
}

static int sc_setup(void **state)
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
	snprintf(sc->events, sizeof(sc->events), "%s/events.jsonl", sc->state);
	snprintf(sc->log, sizeof(sc->log), "%s/agent.log", sc->dir);
	snprintf(sc->notify, sizeof(sc->notify), "%s/notify", sc->dir);
	assert_int_equal(mkdir(sc->rules_dir, 0755), 0);
	assert_int_equal(mg_tb_new(&sc->tb), 0);
	sc->evs = json_array();
	*state = sc;
	return 0;
}

static int sc_teardown(void **state)
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

static void write_rules(struct sc *sc, const char *text)
{
	write_file(sc->rules, text, 0600);
}

/* agent.conf: the paths of this scenario plus extra (mode, policy keys). */
static void write_conf(struct sc *sc, const char *extra)
{
	char buf[4096];
	snprintf(buf, sizeof(buf),
	         "# mynaguard-agent, system test\n"
	         "rules_file = %s\nrules_dir = %s\nstate_dir = %s\nsocket = %s\n"
	         "log_level = info\n%s",
	         sc->rules, sc->rules_dir, sc->state, sc->sock, extra);
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
static void agent_spawn(struct sc *sc)
{
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
static void wait_notify(struct sc *sc, const char *want)
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

/* Reads the event lines appended since the last call; each must pass the strict parser. */
static void read_events(struct sc *sc)
{
	size_t len = 0;
	char *all = read_all(sc->events, &len);
	if (!all)
		return;
	while (sc->log_off < len) {
		char *start = all + sc->log_off;
		char *nl = memchr(start, '\n', len - sc->log_off);
		if (!nl)
			break; /* a line being written */
		size_t llen = (size_t)(nl - start);
		struct mg_event *ev = NULL;
		char why[256] = "";
		if (mg_event_from_json(start, llen, &ev, why, sizeof(why)) != 0)
			FAIL_WITH_LOG(sc, "event line rejected by mg_event_from_json: %s: %.*s",
			              why, (int)llen, start);
		mg_event_free(&ev);
		json_error_t jerr;
		json_t *j = json_loadb(start, llen, 0, &jerr);
		assert_non_null(j);
		json_array_append_new(sc->evs, j);
		sc->log_off += llen + 1;
	}
	free(all);
}

static json_int_t ev_seq(const json_t *ev)
{
	return json_integer_value(json_object_get(ev, "seq"));
}

static const char *ev_type(const json_t *ev)
{
	return json_string_value(json_object_get(ev, "type"));
}

/* "device.syspath" style lookup of a string; NULL when absent. */
static const char *jstr(const json_t *o, const char *path)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", path);
	const json_t *cur = o;
	for (char *tok = strtok(buf, "."); tok && cur; tok = strtok(NULL, "."))
		cur = json_object_get(cur, tok);
	return json_string_value(cur);
}

static const json_t *jget(const json_t *o, const char *path)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", path);
	const json_t *cur = o;
	for (char *tok = strtok(buf, "."); tok && cur; tok = strtok(NULL, "."))
		cur = json_object_get(cur, tok);
	return cur;
}

/* The seq of the last event read (a mark: later waits look after it). */
static json_int_t mark(struct sc *sc)
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
static json_t *find_event(struct sc *sc, const char *type, const char *syspath, json_int_t after)
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
static json_t *wait_event(struct sc *sc, const char *type, const char *syspath, json_int_t after)
{
	int64_t deadline = now_ms() + WAIT_MS;
	if (sc->ino_fd < 0) {
		sc->ino_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
		assert_true(sc->ino_fd >= 0);
		assert_true(inotify_add_watch(sc->ino_fd, sc->state, IN_MODIFY | IN_CREATE) >= 0);
	}
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

static json_t *wait_decision(struct sc *sc, const char *syspath, json_int_t after)
{
	return wait_event(sc, NULL, syspath, after);
}

/* Barrier: every uevent sent before this call has been handled by the agent (enforce mode). */
static void sync_agent(struct sc *sc)
{
	assert_true(sc->enforce);
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
static void settle(struct sc *sc, const char *devpath)
{
	int n = mg_tb_settle(sc->tb, devpath);
	assert_true(n >= 0);
	if (n > 0 && sc->enforce)
		sync_agent(sc);
}

static void agent_start(struct sc *sc, const char *rules, const char *conf_extra)
{
	write_rules(sc, rules);
	write_conf(sc, conf_extra);
	agent_spawn(sc);
	wait_notify(sc, "READY=1");
	read_events(sc);
	assert_non_null(find_event(sc, "agent.started", NULL, 0));
}

/* SIGTERM; the agent must exit 0 and record agent.stopped. */
static void agent_stop(struct sc *sc)
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
	assert_non_null(find_event(sc, "agent.stopped", NULL, m));
}

/* ---- mynaguardctl ------------------------------------------------------------------------- */

struct run {
	int status; /* exit code */
	char *out, *err;
};

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

/* Runs mynaguardctl with args (NULL-terminated; --socket is added when sock is set). */
static void ctl_argv(struct sc *sc, struct run *r, bool with_socket, const char *const *args)
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

#define CTL(sc, r, ...) ctl_argv(sc, r, true, (const char *const[]){__VA_ARGS__, NULL})

/* list-devices --json, parsed (caller decrefs). */
static json_t *list_devices(struct sc *sc)
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

static json_t *listed(json_t *arr, const char *syspath)
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

static unsigned listed_id(json_t *arr, const char *syspath)
{
	json_t *d = listed(arr, syspath);
	assert_non_null(d);
	json_int_t id = json_integer_value(json_object_get(d, "id"));
	assert_true(id > 0);
	return (unsigned)id;
}

/* ---- devices ------------------------------------------------------------------------------ */

static const struct mg_cat_device *cat(const char *key)
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
static json_t *plug_opts(struct sc *sc, const char *key, const char *port,
                         const struct mg_tb_opts *o, const char **devpath)
{
	json_int_t m = mark(sc);
	const char *dp = mg_tb_add(sc->tb, cat(key), port, o);
	if (!dp)
		fail_msg("cannot add %s at %s", key, port);
	json_t *ev = wait_decision(sc, dp, m);
	/* Hot-plugged: device.inserted came first. */
	json_t *ins = find_event(sc, "device.inserted", dp, m);
	assert_non_null(ins);
	assert_true(ev_seq(ins) < ev_seq(ev));
	int n = mg_tb_settle(sc->tb, dp);
	assert_true(n >= 0);
	if (sc->enforce)
		sync_agent(sc); /* the interfaces handled, and nothing else pending */
	read_events(sc);
	if (devpath)
		*devpath = dp;
	return ev;
}

static json_t *plug(struct sc *sc, const char *key, const char *port, const char **devpath)
{
	return plug_opts(sc, key, port, NULL, devpath);
}

static void unplug(struct sc *sc, const char *devpath)
{
	json_int_t m = mark(sc);
	assert_int_equal(mg_tb_remove(sc->tb, devpath), 0);
	wait_event(sc, "device.removed", devpath, m);
}

static void assert_type(struct sc *sc, const json_t *ev, const char *type)
{
	if (strcmp(ev_type(ev), type) != 0) {
		char *s = json_dumps(ev, JSON_COMPACT);
		FAIL_WITH_LOG(sc, "expected %s, got %s", type, s);
	}
}

static void assert_authorized(struct sc *sc, const char *devpath, int want)
{
	int got = mg_tb_authorized(sc->tb, devpath);
	if (got != want)
		FAIL_WITH_LOG(sc, "%s: authorized is %d, expected %d", devpath, got, want);
}

static void assert_iface(struct sc *sc, const char *devpath, unsigned n, int want)
{
	char path[512];
	assert_non_null(mg_tb_iface(sc->tb, devpath, n, path, sizeof(path)));
	int got = mg_tb_authorized(sc->tb, path);
	if (got != want)
		FAIL_WITH_LOG(sc, "%s: authorized is %d, expected %d", path, got, want);
}

static void assert_attr(struct sc *sc, const char *devpath, const char *attr, const char *want)
{
	char buf[256];
	assert_int_equal(mg_tb_read(sc->tb, devpath, attr, buf, sizeof(buf)), 0);
	if (strcmp(buf, want) != 0)
		FAIL_WITH_LOG(sc, "%s/%s is \"%s\", expected \"%s\"", devpath, attr, buf, want);
}

static void assert_strv(const json_t *arr, const char *const *want)
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

#define STRV(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NOSTRV    ((const char *const[]){NULL})

/* The "cc:ss:pp" of every interface descriptor of the catalog device (what events list). */
static void assert_interfaces(const json_t *arr, const struct mg_cat_device *c)
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
static void assert_rule(struct sc *sc, const json_t *ev, const char *text, unsigned rule_line)
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

/* ---- the catalog itself ------------------------------------------------------------------- */

static void test_catalog_consistent(void **state)
{
	(void)state;
	size_t n = 0;
	for (size_t i = 0; mg_cat_all[i]; i++, n++) {
		const struct mg_cat_device *c = mg_cat_all[i];
		char why[256] = "";
		if (mg_cat_check(c, why, sizeof(why)) != 0)
			fail_msg("catalog: %s", why);
		/* The agent's parser reads the same interfaces. */
		struct mg_usb_desc *d = calloc(1, sizeof(*d));
		assert_non_null(d);
		if (mg_usb_desc_parse(c->descriptors, c->descriptors_len, d, why, sizeof(why)) != 0)
			fail_msg("catalog %s: parser refuses it: %s", c->key, why);
		assert_int_equal(d->vendor, c->vendor);
		assert_int_equal(d->product, c->product);
		assert_int_equal(d->n_short_configs, 0);
		size_t k = 0;
		for (size_t j = 0; j < d->n_ifaces; j++) {
			const struct mg_usb_iface *it = &d->ifaces[j];
			if (it->config_value != c->config_value || it->alt != 0)
				continue;
			assert_true(k < c->n_ifaces);
			assert_int_equal(it->number, c->ifaces[k].number);
			assert_int_equal(it->type.cls, c->ifaces[k].cls);
			k++;
		}
		assert_int_equal(k, c->n_ifaces);
		free(d);
	}
	assert_true(n >= 20);
}

/* ---- scenarios ---------------------------------------------------------------------------- */

struct expect {
	const char *key, *port;
	const char *type;          /* decision event type */
	int ifaces[4];             /* authorized of interfaces 0.. after settling; -2 ends */
	const char *blocked_iface; /* kept off by block_interfaces, or NULL */
};

/* Shipped-style policy, every catalog device hot-plugged, then list-devices and unplugs. */
static void test_shipped_policy_all_devices(void **state)
{
	struct sc *sc = *state;
	static const struct expect ex[] = {
	    {"keyboard", "1-1", "device.allowed", {1, 1, -2}, NULL},
	    {"mouse", "1-2", "device.allowed", {1, -2}, NULL},
	    {"fido_key", "1-3", "device.allowed", {1, -2}, NULL},
	    {"yubikey5", "1-4", "device.allowed", {1, 1, 1, -2}, NULL},
	    {"ccid_reader", "1-5", "device.allowed", {1, -2}, NULL},
	    {"keyboard_storage", "1-6", "device.allowed", {1, 1, 0, -2}, "1-6:1.2"},
	    {"badusb", "1-7", "device.allowed", {0, 1, -2}, "1-7:1.0"},
	    {"hub", "1-8", "device.allowed", {1, -2}, NULL},
	    {"mouse_cheap", "1-8.1", "device.allowed", {1, -2}, NULL},
	    {"phone_mtp", "1-9", "device.blocked", {-2}, NULL},
	    {"phone_rndis", "1-10", "device.blocked", {-2}, NULL},
	    {"wifi_rtl8812bu", "1-11", "device.blocked", {-2}, NULL},
	    {"bt_csr", "1-12", "device.blocked", {-2}, NULL},
	    {"printer", "1-13", "device.blocked", {-2}, NULL},
	    {"vendor_pasori", "1-14", "device.blocked", {-2}, NULL},
	    {"flash_sandisk", "2-1", "device.blocked", {-2}, NULL},
	    {"flash_kingston", "2-2", "device.blocked", {-2}, NULL},
	    {"hdd_uas", "2-3", "device.blocked", {-2}, NULL},
	    {"sd_reader", "2-4", "device.blocked", {-2}, NULL},
	    {"eth_rtl8153", "2-5", "device.blocked", {-2}, NULL},
	};
	const size_t nex = sizeof(ex) / sizeof(ex[0]);
	agent_start(sc, SHIPPED_RULES, SHIPPED_CONF);

	/* Root hubs: default-deny written, themselves allowed by the hub rule. */
	for (unsigned bus = 1; bus <= 2; bus++) {
		const char *rh = mg_tb_root_hub(sc->tb, bus);
		assert_attr(sc, rh, "authorized_default", "0");
		assert_attr(sc, rh, "interface_authorized_default", "0");
		assert_authorized(sc, rh, 1);
		json_t *ev = find_event(sc, "device.allowed", rh, 0);
		assert_non_null(ev);
		assert_rule(sc, ev, RULE_HUBS, 2);
	}

	const char *dp[sizeof(ex) / sizeof(ex[0])];
	char hashes[sizeof(ex) / sizeof(ex[0])][64];
	for (size_t i = 0; i < nex; i++) {
		const struct mg_cat_device *c = cat(ex[i].key);
		json_int_t m = mark(sc);
		json_t *ev = plug(sc, ex[i].key, ex[i].port, &dp[i]);
		assert_type(sc, ev, ex[i].type);
		bool allowed = strcmp(ex[i].type, "device.allowed") == 0;
		assert_authorized(sc, dp[i], allowed ? 1 : 0);
		/* The event: who, which rule, what was done. */
		assert_string_equal(jstr(ev, "device.syspath"), dp[i]);
		assert_string_equal(jstr(ev, "device.port"), ex[i].port);
		char id[5];
		snprintf(id, sizeof(id), "%04x", c->vendor);
		assert_string_equal(jstr(ev, "device.vendor_id"), id);
		snprintf(id, sizeof(id), "%04x", c->product);
		assert_string_equal(jstr(ev, "device.product_id"), id);
		if (c->serial)
			assert_string_equal(jstr(ev, "device.serial"), c->serial);
		else
			assert_null(jget(ev, "device.serial"));
		if (c->product_name)
			assert_string_equal(jstr(ev, "device.name"), c->product_name);
		assert_int_equal(strlen(jstr(ev, "device.hash")), 44);
		assert_non_null(jstr(ev, "device.parent_hash"));
		snprintf(hashes[i], sizeof(hashes[i]), "%s", jstr(ev, "device.hash"));
		assert_interfaces(jget(ev, "device.interfaces"), c);
		assert_string_equal(jstr(ev, "decision.target"), allowed ? "allow" : "block");
		assert_string_equal(jstr(ev, "decision.mode"), "enforce");
		assert_true(json_is_true(jget(ev, "decision.applied")));
		assert_null(jget(ev, "decision.error"));
		if (!allowed) {
			assert_rule(sc, ev, NULL, 0);
		} else if (c->descriptors[4] == 0x09) {
			assert_rule(sc, ev, RULE_HUBS, 2);
		} else {
			assert_rule(sc, ev, RULE_INPUT, 4);
		}
		/* Interfaces as the kernel shows them now. */
		assert_true(mg_tb_configured(sc->tb, dp[i]) == allowed);
		for (unsigned k = 0; allowed && ex[i].ifaces[k] != -2; k++)
			assert_iface(sc, dp[i], c->ifaces[k].number, ex[i].ifaces[k]);
		json_t *sus = find_event(sc, "device.suspicious", dp[i], m);
		if (ex[i].blocked_iface) {
			assert_strv(jget(ev, "decision.blocked_interfaces"),
			            STRV(ex[i].blocked_iface));
			assert_non_null(sus);
			assert_true(ev_seq(sus) > ev_seq(ev));
			assert_strv(jget(sus, "decision.blocked_interfaces"),
			            STRV(ex[i].blocked_iface));
		} else {
			assert_strv(jget(ev, "decision.blocked_interfaces"), NOSTRV);
			assert_null(sus);
		}
	}
	/* The device behind the hub names the hub as its parent. */
	json_t *child = find_event(sc, "device.allowed", dp[8], 0);
	assert_string_equal(jstr(child, "device.parent_hash"), hashes[7]);

	/* list-devices agrees with the events and the kernel state. */
	json_t *arr = list_devices(sc);
	assert_int_equal(json_array_size(arr), nex + 2);
	json_int_t seen_ids[64];
	size_t nids = 0;
	for (size_t i = 0; i < nex; i++) {
		const struct mg_cat_device *c = cat(ex[i].key);
		json_t *d = listed(arr, dp[i]);
		assert_non_null(d);
		json_int_t idv = json_integer_value(json_object_get(d, "id"));
		assert_true(idv > 0);
		for (size_t k = 0; k < nids; k++)
			assert_true(seen_ids[k] != idv);
		seen_ids[nids++] = idv;
		assert_string_equal(jstr(d, "port"), ex[i].port);
		char id[5];
		snprintf(id, sizeof(id), "%04x", c->vendor);
		assert_string_equal(jstr(d, "vendor_id"), id);
		snprintf(id, sizeof(id), "%04x", c->product);
		assert_string_equal(jstr(d, "product_id"), id);
		if (c->serial)
			assert_string_equal(jstr(d, "serial"), c->serial);
		else
			assert_true(jget(d, "serial") == NULL || json_is_null(jget(d, "serial")));
		if (c->product_name)
			assert_string_equal(jstr(d, "name"), c->product_name);
		assert_string_equal(jstr(d, "hash"), hashes[i]);
		assert_interfaces(json_object_get(d, "interfaces"), c);
		bool allowed = strcmp(ex[i].type, "device.allowed") == 0;
		assert_string_equal(jstr(d, "target"), allowed ? "allow" : "block");
		if (allowed) {
			const char *want = c->descriptors[4] == 0x09 ? RULE_HUBS : RULE_INPUT;
			assert_string_equal(jstr(d, "rule"), want);
			char src[200];
			snprintf(src, sizeof(src), "%s:%u", sc->rules,
			         c->descriptors[4] == 0x09 ? 2u : 4u);
			assert_string_equal(jstr(d, "rule_source"), src);
		} else {
			assert_true(json_is_null(json_object_get(d, "rule")));
			assert_true(json_is_null(json_object_get(d, "rule_source")));
		}
		if (ex[i].blocked_iface)
			assert_strv(json_object_get(d, "blocked_interfaces"),
			            STRV(ex[i].blocked_iface));
		else
			assert_strv(json_object_get(d, "blocked_interfaces"), NOSTRV);
	}
	json_decref(arr);

	/* Unplugging: the flash drive, then the hub with the mouse behind it. */
	unplug(sc, dp[15]);
	json_int_t m = mark(sc);
	assert_int_equal(mg_tb_remove(sc->tb, dp[7]), 0);
	wait_event(sc, "device.removed", dp[8], m);
	json_t *hub_gone = wait_event(sc, "device.removed", dp[7], m);
	assert_string_equal(jstr(hub_gone, "device.hash"), hashes[7]);
	arr = list_devices(sc);
	assert_int_equal(json_array_size(arr), nex + 2 - 3);
	assert_null(listed(arr, dp[15]));
	assert_null(listed(arr, dp[7]));
	assert_null(listed(arr, dp[8]));
	json_decref(arr);
	agent_stop(sc);
}

/* One approved flash drive by id + serial keeps its storage interface; others stay blocked. */
static void test_explicit_allow_by_serial(void **state)
{
	struct sc *sc = *state;
	static const char approved[] =
	    "allow id 0781:5583 serial \"" APPROVED_SERIAL "\" with-interface 08:06:50";
	char rules[1024];
	snprintf(rules, sizeof(rules), "# approved for the registry office\n%s\n%s", approved,
	         SHIPPED_RULES);
	agent_start(sc, rules, SHIPPED_CONF);

	const char *good, *other, *kingston;
	json_t *ev = plug(sc, "flash_sandisk", "2-1", &good);
	assert_type(sc, ev, "device.allowed");
	assert_authorized(sc, good, 1);
	assert_iface(sc, good, 0, 1); /* named by the rule: kept despite block_interfaces */
	assert_strv(jget(ev, "decision.blocked_interfaces"), NOSTRV);
	const char *text = jstr(ev, "rule.text");
	assert_non_null(text);
	assert_non_null(strstr(text, "id 0781:5583"));
	assert_non_null(strstr(text, "serial \"" APPROVED_SERIAL "\""));
	assert_non_null(strstr(text, "08:06:50"));
	char src[200];
	snprintf(src, sizeof(src), "%s:2", sc->rules);
	assert_string_equal(jstr(ev, "rule.source"), src);
	assert_null(find_event(sc, "device.suspicious", good, 0));

	/* Same model, another serial: not approved. */
	struct mg_tb_opts o = {.serial = "4C530001010101010101"};
	ev = plug_opts(sc, "flash_sandisk", "2-2", &o, &other);
	assert_type(sc, ev, "device.blocked");
	assert_rule(sc, ev, NULL, 0);
	assert_authorized(sc, other, 0);
	assert_false(mg_tb_configured(sc->tb, other));
	ev = plug(sc, "flash_kingston", "2-3", &kingston);
	assert_type(sc, ev, "device.blocked");
	assert_authorized(sc, kingston, 0);
	agent_stop(sc);
}

/* Audit mode: decisions recorded as "would", nothing written anywhere. */
static void test_audit_mode(void **state)
{
	struct sc *sc = *state;
	agent_start(sc, SHIPPED_RULES, SHIPPED_CONF "mode = audit\n");
	for (unsigned bus = 1; bus <= 2; bus++) {
		const char *rh = mg_tb_root_hub(sc->tb, bus);
		assert_attr(sc, rh, "authorized_default", "1");
		assert_attr(sc, rh, "interface_authorized_default", "1");
	}
	/* The kernel's defaults are untouched: devices arrive authorized and configured. */
	struct mg_tb_opts on = {.authorized = 1, .configured = true};
	const char *flash, *combo;
	json_t *ev = plug_opts(sc, "flash_sandisk", "2-1", &on, &flash);
	assert_type(sc, ev, "device.blocked");
	assert_string_equal(jstr(ev, "decision.target"), "block");
	assert_string_equal(jstr(ev, "decision.mode"), "audit");
	assert_true(json_is_false(jget(ev, "decision.applied")));
	assert_authorized(sc, flash, 1);
	assert_iface(sc, flash, 0, 1);
	assert_attr(sc, flash, "remove", "");

	ev = plug_opts(sc, "keyboard_storage", "1-6", &on, &combo);
	assert_type(sc, ev, "device.allowed");
	assert_string_equal(jstr(ev, "decision.mode"), "audit");
	assert_true(json_is_false(jget(ev, "decision.applied")));
	assert_strv(jget(ev, "decision.blocked_interfaces"), STRV("1-6:1.2"));
	wait_event(sc, "device.suspicious", combo, 0);
	assert_iface(sc, combo, 2, 1); /* would be kept off; not touched */

	json_t *arr = list_devices(sc);
	json_t *d = listed(arr, flash);
	assert_non_null(d);
	assert_string_equal(jstr(d, "target"), "block");
	assert_true(json_is_false(json_object_get(d, "applied")));
	json_decref(arr);
	agent_stop(sc);
}

static const char flash_rule[] = "allow id 0781:5583 with-interface { 08:06:50 }";
/* How the agent prints it (USBGuard's canonical form: a one-value set without braces). */
static const char flash_rule_canon[] = "allow id 0781:5583 with-interface 08:06:50";

/* mynaguardctl reload after editing the rules: the present device is re-decided both ways. */
static void test_reload_ctl(void **state)
{
	struct sc *sc = *state;
	agent_start(sc, SHIPPED_RULES, SHIPPED_CONF);
	const char *flash;
	json_t *ev = plug(sc, "flash_sandisk", "2-1", &flash);
	assert_type(sc, ev, "device.blocked");

	char rules[1024];
	snprintf(rules, sizeof(rules), "%s\n%s", flash_rule, SHIPPED_RULES);
	write_rules(sc, rules);
	json_int_t m = mark(sc);
	struct run r;
	CTL(sc, &r, "reload");
	assert_int_equal(r.status, 0);
	run_free(&r);
	ev = wait_decision(sc, flash, m);
	assert_type(sc, ev, "device.allowed");
	assert_rule(sc, ev, flash_rule_canon, 1);
	json_t *applied = wait_event(sc, "policy.applied", NULL, m);
	assert_true(ev_seq(applied) > ev_seq(ev));
	assert_int_equal(strlen(jstr(applied, "policy.sha256")), 64);
	assert_authorized(sc, flash, 1);
	settle(sc, flash);
	assert_iface(sc, flash, 0, 1);

	struct run st;
	ctl_argv(sc, &st, true, STRV("--json", "status"));
	assert_int_equal(st.status, 0);
	json_t *status = json_loads(st.out, 0, NULL);
	assert_non_null(status);
	assert_int_equal(json_integer_value(json_object_get(status, "rules")), 3);
	assert_string_equal(jstr(status, "mode"), "enforce");
	json_decref(status);
	run_free(&st);

	write_rules(sc, SHIPPED_RULES);
	m = mark(sc);
	CTL(sc, &r, "reload");
	assert_int_equal(r.status, 0);
	run_free(&r);
	ev = wait_decision(sc, flash, m);
	assert_type(sc, ev, "device.blocked");
	assert_authorized(sc, flash, 0);
	settle(sc, flash);
	assert_false(mg_tb_configured(sc->tb, flash));
	agent_stop(sc);
}

/* A broken rules file: the old rules stay, the error names file:line:column. */
static void test_reload_broken(void **state)
{
	struct sc *sc = *state;
	char rules[1024];
	snprintf(rules, sizeof(rules), "%s\n%s", flash_rule, SHIPPED_RULES);
	agent_start(sc, rules, SHIPPED_CONF);
	const char *flash;
	json_t *ev = plug(sc, "flash_sandisk", "2-1", &flash);
	assert_type(sc, ev, "device.allowed");

	write_rules(sc, "allow with-interface match-all { 09:00:* }\n"
	                "allow id 0781:55x3\n"
	                "block\n");
	json_int_t m = mark(sc);
	struct run r;
	CTL(sc, &r, "reload");
	assert_int_equal(r.status, 1);
	char where[200];
	snprintf(where, sizeof(where), "%s:2:", sc->rules);
	const char *at = strstr(r.err, where);
	if (!at)
		fail_msg("reload error does not name %s<column>: %s", where, r.err);
	const char *col = at + strlen(where);
	assert_true(*col >= '1' && *col <= '9');
	json_t *rej = wait_event(sc, "policy.rejected", NULL, m);
	const char *reason = jstr(rej, "policy.reason");
	assert_non_null(reason);
	assert_non_null(strstr(reason, where));
	run_free(&r);
	/* Nothing re-decided; the device is still allowed. */
	read_events(sc);
	assert_null(find_event(sc, NULL, NULL, m));
	assert_authorized(sc, flash, 1);
	assert_iface(sc, flash, 0, 1);
	/* The old rules still decide new devices. */
	struct mg_tb_opts o = {.serial = "4C530009999999999999"};
	const char *second;
	ev = plug_opts(sc, "flash_sandisk", "2-2", &o, &second);
	assert_type(sc, ev, "device.allowed");
	assert_rule(sc, ev, flash_rule_canon, 1);
	agent_stop(sc);
}

/* SIGHUP reloads like mynaguardctl reload, announced through sd_notify. */
static void test_sighup_reload(void **state)
{
	struct sc *sc = *state;
	agent_start(sc, SHIPPED_RULES, SHIPPED_CONF);
	const char *flash;
	json_t *ev = plug(sc, "flash_sandisk", "2-1", &flash);
	assert_type(sc, ev, "device.blocked");
	char rules[1024];
	snprintf(rules, sizeof(rules), "%s\n%s", flash_rule, SHIPPED_RULES);
	write_rules(sc, rules);
	json_int_t m = mark(sc);
	assert_int_equal(kill(sc->pid, SIGHUP), 0);
	wait_notify(sc, "RELOADING=1");
	wait_notify(sc, "READY=1");
	read_events(sc);
	ev = find_event(sc, NULL, flash, m);
	assert_non_null(ev); /* decided before READY=1 */
	assert_type(sc, ev, "device.allowed");
	assert_authorized(sc, flash, 1);
	assert_non_null(find_event(sc, "policy.applied", NULL, m));
	agent_stop(sc);
}

/* allow-device / block-device: until removal, then the rules decide again. */
static void test_overrides(void **state)
{
	struct sc *sc = *state;
	agent_start(
	    sc, SHIPPED_RULES,
	    "implicit_target = block\nblock_interfaces = 08:*:*\n"); /* printers may print */
	const char *kbd, *flash, *printer;
	assert_type(sc, plug(sc, "keyboard", "1-1", &kbd), "device.allowed");
	assert_type(sc, plug(sc, "flash_sandisk", "2-1", &flash), "device.blocked");
	assert_type(sc, plug(sc, "printer", "1-2", &printer), "device.blocked");

	char kbd_id[16], printer_id[16], flash_id[16];
	json_t *ids = list_devices(sc);
	snprintf(kbd_id, sizeof(kbd_id), "%u", listed_id(ids, kbd));
	snprintf(printer_id, sizeof(printer_id), "%u", listed_id(ids, printer));
	snprintf(flash_id, sizeof(flash_id), "%u", listed_id(ids, flash));
	json_decref(ids);
	json_int_t m = mark(sc);
	struct run r;
	CTL(sc, &r, "block-device", kbd_id);
	assert_int_equal(r.status, 0);
	run_free(&r);
	json_t *ev = wait_decision(sc, kbd, m);
	assert_type(sc, ev, "device.blocked");
	assert_authorized(sc, kbd, 0);
	settle(sc, kbd);

	m = mark(sc);
	CTL(sc, &r, "allow-device", printer_id);
	assert_int_equal(r.status, 0);
	run_free(&r);
	ev = wait_decision(sc, printer, m);
	assert_type(sc, ev, "device.allowed");
	assert_authorized(sc, printer, 1);
	settle(sc, printer);
	assert_iface(sc, printer, 0, 1);

	/* An operator allow does not lift block_interfaces (no rule names the storage). */
	m = mark(sc);
	CTL(sc, &r, "allow-device", flash_id);
	assert_int_equal(r.status, 0);
	run_free(&r);
	ev = wait_decision(sc, flash, m);
	assert_type(sc, ev, "device.allowed");
	assert_authorized(sc, flash, 1);
	settle(sc, flash);
	assert_iface(sc, flash, 0, 0);
	assert_strv(jget(ev, "decision.blocked_interfaces"), STRV("2-1:1.0"));

	json_t *arr = list_devices(sc);
	json_t *d = listed(arr, kbd);
	assert_string_equal(jstr(d, "target"), "block");
	assert_true(json_is_true(json_object_get(d, "override")));
	d = listed(arr, printer);
	assert_string_equal(jstr(d, "target"), "allow");
	assert_true(json_is_true(json_object_get(d, "override")));
	json_decref(arr);

	/* Unknown and malformed ids. */
	CTL(sc, &r, "allow-device", "9999");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "no device with that id"));
	run_free(&r);
	CTL(sc, &r, "block-device", "abc");
	assert_int_equal(r.status, 2);
	run_free(&r);

	/* The override ends with the device: re-plugged, the rules decide. */
	unplug(sc, kbd);
	ev = plug(sc, "keyboard", "1-1", &kbd);
	assert_type(sc, ev, "device.allowed");
	assert_authorized(sc, kbd, 1);
	agent_stop(sc);
}

/* generate-policy's output, used as the rules, allows exactly the devices present. */
static void test_generate_policy(void **state)
{
	struct sc *sc = *state;
	agent_start(sc, SHIPPED_RULES, SHIPPED_CONF);
	const char *kbd, *flash, *hub, *mouse;
	assert_type(sc, plug(sc, "keyboard", "1-1", &kbd), "device.allowed");
	assert_type(sc, plug(sc, "flash_sandisk", "2-1", &flash), "device.blocked");
	assert_type(sc, plug(sc, "hub", "1-3", &hub), "device.allowed");
	assert_type(sc, plug(sc, "mouse_cheap", "1-3.4", &mouse), "device.allowed");

	struct run r;
	CTL(sc, &r, "generate-policy");
	assert_int_equal(r.status, 0);
	size_t lines = 0;
	for (const char *p = r.out; (p = strchr(p, '\n')); p++)
		lines++;
	assert_int_equal(lines, 6); /* two root hubs and four devices */
	assert_non_null(strstr(r.out, "via-port \"2-1\""));
	assert_non_null(strstr(r.out, "serial \"" APPROVED_SERIAL "\""));
	char gen[160];
	snprintf(gen, sizeof(gen), "%s/generated.conf", sc->dir);
	write_file(gen, r.out, 0600);
	run_free(&r);

	ctl_argv(sc, &r, false, STRV("check-rules", gen));
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, ": 6 rules, OK"));
	run_free(&r);

	char *text = read_all(gen, NULL);
	write_rules(sc, text);
	free(text);
	json_int_t m = mark(sc);
	CTL(sc, &r, "reload");
	assert_int_equal(r.status, 0);
	run_free(&r);
	const char *all[] = {
	    mg_tb_root_hub(sc->tb, 1), mg_tb_root_hub(sc->tb, 2), kbd, flash, hub, mouse};
	for (size_t i = 0; i < 6; i++) {
		json_t *ev = wait_decision(sc, all[i], m);
		assert_type(sc, ev, "device.allowed");
		assert_authorized(sc, all[i], 1);
	}
	settle(sc, flash);
	assert_iface(sc, flash, 0, 1); /* the generated rule names 08:06:50 */

	/* Not in the generated policy: another stick, the same keyboard on another port. */
	struct mg_tb_opts o = {.serial = "4C530001010101010101"};
	const char *other, *kbd2;
	assert_type(sc, plug_opts(sc, "flash_sandisk", "2-2", &o, &other), "device.blocked");
	assert_type(sc, plug(sc, "keyboard", "1-2", &kbd2), "device.blocked");
	agent_stop(sc);
}

/* check-rules: exit 0 with a count, 1 with file:line:column, 2 for usage. */
static void test_check_rules(void **state)
{
	struct sc *sc = *state;
	char good[160], bad[160], missing[160];
	snprintf(good, sizeof(good), "%s/good.conf", sc->dir);
	snprintf(bad, sizeof(bad), "%s/bad.conf", sc->dir);
	snprintf(missing, sizeof(missing), "%s/missing.conf", sc->dir);
	write_file(good, SHIPPED_RULES "block id 0781:*\n", 0644);
	write_file(bad, "# comment\n\nallow id 0781:5583 serial \"unterminated\n", 0644);
	struct run r;
	ctl_argv(sc, &r, false, STRV("check-rules", good));
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, ": 3 rules, OK"));
	run_free(&r);
	ctl_argv(sc, &r, false, STRV("check-rules", bad));
	assert_int_equal(r.status, 1);
	char where[200];
	snprintf(where, sizeof(where), "%s:3:", bad);
	if (!strstr(r.err, where))
		fail_msg("check-rules error does not name %s<column>: %s", where, r.err);
	run_free(&r);
	ctl_argv(sc, &r, false, STRV("check-rules", missing));
	assert_int_equal(r.status, 1);
	run_free(&r);
	ctl_argv(sc, &r, false, STRV("check-rules"));
	assert_int_equal(r.status, 2);
	run_free(&r);
}

/* Devices configured before the agent started are re-decided by the policy. */
static void test_present_at_start(void **state)
{
	struct sc *sc = *state;
	struct mg_tb_opts on = {.authorized = 1, .configured = true};
	const char *flash = mg_tb_add(sc->tb, cat("flash_sandisk"), "2-1", &on);
	const char *kbd = mg_tb_add(sc->tb, cat("keyboard"), "1-1", &on);
	const char *combo = mg_tb_add(sc->tb, cat("keyboard_storage"), "1-6", &on);
	const char *hub = mg_tb_add(sc->tb, cat("hub"), "1-3", &on);
	const char *phone = mg_tb_add(sc->tb, cat("phone_mtp"), "1-3.2", &on);
	assert_true(flash && kbd && combo && hub && phone);
	agent_start(sc, SHIPPED_RULES, SHIPPED_CONF);
	/* Decided during the scan, before READY=1: no device.inserted for present devices. */
	read_events(sc);
	const char *want[][2] = {{flash, "device.blocked"},
	                         {kbd, "device.allowed"},
	                         {combo, "device.allowed"},
	                         {hub, "device.allowed"},
	                         {phone, "device.blocked"}};
	for (size_t i = 0; i < 5; i++) {
		json_t *ev = find_event(sc, NULL, want[i][0], 0);
		if (!ev)
			FAIL_WITH_LOG(sc, "%s not decided at start", want[i][0]);
		assert_type(sc, ev, want[i][1]);
		assert_null(find_event(sc, "device.inserted", want[i][0], 0));
	}
	assert_authorized(sc, flash, 0);
	assert_authorized(sc, phone, 0);
	assert_authorized(sc, kbd, 1);
	assert_authorized(sc, combo, 1);
	/* Interfaces that existed are set by the decision. */
	assert_iface(sc, combo, 0, 1);
	assert_iface(sc, combo, 1, 1);
	assert_iface(sc, combo, 2, 0);
	assert_iface(sc, kbd, 0, 1);
	assert_non_null(find_event(sc, "device.suspicious", combo, 0));
	/* Parents before children: the phone's parent hash is the hub's. */
	json_t *hev = find_event(sc, NULL, hub, 0);
	json_t *pev = find_event(sc, NULL, phone, 0);
	assert_string_equal(jstr(pev, "device.parent_hash"), jstr(hev, "device.hash"));
	for (unsigned bus = 1; bus <= 2; bus++)
		assert_attr(sc, mg_tb_root_hub(sc->tb, bus), "authorized_default", "0");
	/* The kernel drops the interfaces of deauthorized devices. */
	settle(sc, flash);
	assert_false(mg_tb_configured(sc->tb, flash));
	agent_stop(sc);
}

/* A hub chain: the hash of the hub is the parent-hash of what is behind it. */
static void test_hub_chain(void **state)
{
	struct sc *sc = *state;
	agent_start(sc, SHIPPED_RULES, SHIPPED_CONF);
	const char *hub, *mouse, *flash;
	json_t *hev = plug(sc, "hub", "1-3", &hub);
	assert_type(sc, hev, "device.allowed");
	assert_iface(sc, hub, 0, 1);
	json_t *mev = plug(sc, "mouse", "1-3.1", &mouse);
	assert_type(sc, mev, "device.allowed");
	json_t *fev = plug(sc, "flash_kingston", "1-3.2", &flash);
	assert_type(sc, fev, "device.blocked");
	assert_authorized(sc, flash, 0);
	const char *hub_hash = jstr(hev, "device.hash");
	assert_string_equal(jstr(mev, "device.parent_hash"), hub_hash);
	assert_string_equal(jstr(fev, "device.parent_hash"), hub_hash);
	/* The hub's own parent is the root hub. */
	json_t *arr = list_devices(sc);
	json_t *rh = listed(arr, mg_tb_root_hub(sc->tb, 1));
	assert_non_null(rh);
	assert_string_equal(jstr(hev, "device.parent_hash"), jstr(rh, "hash"));
	json_decref(arr);

	/* Unplugging the hub removes what is behind it first. */
	json_int_t m = mark(sc);
	assert_int_equal(mg_tb_remove(sc->tb, hub), 0);
	json_t *r1 = wait_event(sc, "device.removed", mouse, m);
	json_t *r2 = wait_event(sc, "device.removed", flash, m);
	json_t *r3 = wait_event(sc, "device.removed", hub, m);
	assert_true(ev_seq(r1) < ev_seq(r3) && ev_seq(r2) < ev_seq(r3));
	arr = list_devices(sc);
	assert_int_equal(json_array_size(arr), 2);
	json_decref(arr);
	agent_stop(sc);
}

/* Two identical devices without serial numbers: both decided, told apart by port. */
static void test_identical_serialless(void **state)
{
	struct sc *sc = *state;
	agent_start(sc, SHIPPED_RULES, SHIPPED_CONF);
	const char *a, *b;
	json_t *ea = plug(sc, "mouse_cheap", "1-1", &a);
	json_t *eb = plug(sc, "mouse_cheap", "1-2", &b);
	assert_type(sc, ea, "device.allowed");
	assert_type(sc, eb, "device.allowed");
	assert_authorized(sc, a, 1);
	assert_authorized(sc, b, 1);
	assert_string_equal(jstr(ea, "device.hash"), jstr(eb, "device.hash"));
	json_t *arr = list_devices(sc);
	json_t *da = listed(arr, a), *db = listed(arr, b);
	assert_true(da && db);
	assert_true(json_integer_value(json_object_get(da, "id")) !=
	            json_integer_value(json_object_get(db, "id")));
	assert_string_equal(jstr(da, "port"), "1-1");
	assert_string_equal(jstr(db, "port"), "1-2");
	json_decref(arr);

	/* A rule can still single one out by its port. */
	write_rules(sc, "block id 093a:2510 via-port \"1-2\"\n" SHIPPED_RULES);
	json_int_t m = mark(sc);
	struct run r;
	CTL(sc, &r, "reload");
	assert_int_equal(r.status, 0);
	run_free(&r);
	assert_type(sc, wait_decision(sc, a, m), "device.allowed");
	assert_type(sc, wait_decision(sc, b, m), "device.blocked");
	assert_authorized(sc, a, 1);
	assert_authorized(sc, b, 0);
	agent_stop(sc);
}

/* Hostile strings: quotes, backslashes, newlines, invalid UTF-8, page-sized values. */
static void test_hostile_strings(void **state)
{
	struct sc *sc = *state;
	static const char evil[] = "q\"uote\\ back\nline \xff\xfe\xc0\xaf end";
	agent_start(sc, "allow id 046d:c077\n" SHIPPED_RULES, SHIPPED_CONF);

	struct mg_tb_opts o = {.serial = evil, .serial_len = sizeof(evil) - 1};
	const char *m1, *m2, *m3, *m4;
	json_t *ev = plug_opts(sc, "mouse", "1-1", &o, &m1);
	assert_type(sc, ev, "device.allowed");
	assert_authorized(sc, m1, 1);
	/* Lossless in the event: the exact bytes as hex beside the repaired text. */
	const char *hex = jstr(ev, "device.serial_hex");
	assert_non_null(hex);
	assert_int_equal(strlen(hex), 2 * (sizeof(evil) - 1));
	for (size_t i = 0; i < sizeof(evil) - 1; i++) {
		char two[3];
		snprintf(two, sizeof(two), "%02x", (unsigned char)evil[i]);
		assert_memory_equal(hex + 2 * i, two, 2);
	}
	assert_non_null(strstr(jstr(ev, "device.serial"), "\xef\xbf\xbd")); /* U+FFFD */

	/* The longest value sysfs can hold (a page with its newline) is read whole. */
	char *page = malloc(4095);
	assert_non_null(page);
	memset(page, 'S', 4095);
	o = (struct mg_tb_opts){.serial = page, .serial_len = 4095};
	ev = plug_opts(sc, "mouse", "1-2", &o, &m2);
	assert_type(sc, ev, "device.allowed");
	assert_int_equal(strlen(jstr(ev, "device.serial")), 4095);
	free(page);

	/* Longer is impossible from a kernel: refused, blocked, said why. */
	char *big = malloc(5000);
	assert_non_null(big);
	memset(big, 'B', 5000);
	o = (struct mg_tb_opts){.serial = big, .serial_len = 5000};
	ev = plug_opts(sc, "mouse", "1-3", &o, &m3);
	free(big);
	assert_type(sc, ev, "device.blocked");
	assert_authorized(sc, m3, 0);
	const char *err = jstr(ev, "decision.error");
	assert_non_null(err);
	assert_non_null(strstr(err, "serial"));

	/* Terminal escapes and a right-to-left override in the product name. */
	o = (struct mg_tb_opts){.product_name = "\x1b[31mOK\x1b[0m \xe2\x80\xaegpj.exe"};
	ev = plug_opts(sc, "mouse", "1-4", &o, &m4);
	assert_type(sc, ev, "device.allowed");
	assert_string_equal(jstr(ev, "device.name"), o.product_name);

	/* generate-policy quotes it so that the rule re-parses and matches the same bytes. */
	struct run r;
	CTL(sc, &r, "generate-policy");
	assert_int_equal(r.status, 0);
	char gen[160];
	snprintf(gen, sizeof(gen), "%s/generated.conf", sc->dir);
	write_file(gen, r.out, 0600);
	run_free(&r);
	ctl_argv(sc, &r, false, STRV("check-rules", gen));
	if (r.status != 0)
		fail_msg("generated rules do not re-parse: %s", r.err);
	run_free(&r);
	char *text = read_all(gen, NULL);
	write_rules(sc, text);
	free(text);
	json_int_t mk = mark(sc);
	CTL(sc, &r, "reload");
	assert_int_equal(r.status, 0);
	run_free(&r);
	ev = wait_decision(sc, m1, mk);
	assert_type(sc, ev, "device.allowed");
	assert_non_null(strstr(jstr(ev, "rule.text"), "serial \"q\\\"uote\\\\ back"));
	assert_type(sc, wait_decision(sc, m4, mk), "device.allowed");

	/* Still answering. */
	CTL(sc, &r, "status");
	assert_int_equal(r.status, 0);
	run_free(&r);
	agent_stop(sc);
}

/* Malformed or lying descriptors: blocked even by an allow-everything rule, with the reason. */
static void test_malformed_descriptors(void **state)
{
	struct sc *sc = *state;
	agent_start(sc, "allow\n", SHIPPED_CONF);
	const struct mg_cat_device *flash = cat("flash_sandisk");
	uint8_t zero_len[64], past_end[64], big_cfg[64];
	memcpy(zero_len, flash->descriptors, 27);
	zero_len[27] = 0x00; /* bLength 0 */
	zero_len[28] = 0x04;
	memcpy(past_end, flash->descriptors, 27);
	past_end[27] = 0xff; /* bLength 255, 2 bytes left */
	past_end[28] = 0x04;
	memcpy(big_cfg, flash->descriptors, flash->descriptors_len);
	big_cfg[20] = 0xff; /* wTotalLength claims 0x00ff bytes: the kernel keeps it short */
	uint8_t *huge = calloc(1, 70000);
	assert_non_null(huge);
	memcpy(huge, flash->descriptors, flash->descriptors_len);
	for (size_t off = flash->descriptors_len; off + 255 <= 70000; off += 255) {
		huge[off] = 255;
		huge[off + 1] = 0x24;
	}
	const struct {
		const char *port, *why;
		struct mg_tb_opts o;
	} bad[] = {
	    {"2-1", "descriptors", {.descriptors = flash->descriptors, .descriptors_len = 40}},
	    {"2-2", "descriptors", {.descriptors = zero_len, .descriptors_len = 29}},
	    {"2-3", "descriptors", {.descriptors = past_end, .descriptors_len = 29}},
	    {"2-4", "descriptors", {.no_descriptors = true}},
	    {"2-5", "descriptors", {.descriptors = zero_len, .descriptors_len = 0}},
	    {"2-6",
	     "device descriptor says 0781:5583 but sysfs says 0782:5583",
	     {.id_vendor = "0782"}},
	    {"2-7", "idVendor", {.id_vendor = "zzzz"}},
	    {"2-8", "descriptors", {.descriptors = huge, .descriptors_len = 70000}},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *dp;
		json_t *ev = plug_opts(sc, "flash_sandisk", bad[i].port, &bad[i].o, &dp);
		assert_type(sc, ev, "device.blocked");
		assert_authorized(sc, dp, 0);
		assert_string_equal(jstr(ev, "decision.target"), "block");
		const char *err = jstr(ev, "decision.error");
		if (!err || !strstr(err, bad[i].why))
			FAIL_WITH_LOG(sc, "%s: decision.error \"%s\" does not say \"%s\"",
			              bad[i].port, err ? err : "(none)", bad[i].why);
		assert_null(json_object_get(ev, "rule"));
	}
	free(huge);
	/* A configuration shorter than its wTotalLength is what the kernel keeps: accepted. */
	struct mg_tb_opts o = {.descriptors = big_cfg, .descriptors_len = flash->descriptors_len};
	const char *dp;
	assert_type(sc, plug_opts(sc, "flash_sandisk", "2-9", &o, &dp), "device.allowed");
	/* And a sound device under the same rule. */
	assert_type(sc, plug(sc, "mouse", "1-1", &dp), "device.allowed");
	json_t *arr = list_devices(sc);
	assert_int_equal(json_array_size(arr), 2 + 10);
	json_t *d = listed(arr, mg_tb_devpath(sc->tb, "2-6"));
	assert_non_null(d);
	assert_string_equal(jstr(d, "target"), "block");
	assert_non_null(jstr(d, "error"));
	json_decref(arr);
	agent_stop(sc);
}

/* Uevents that arrive while the agent scans at start-up are not lost. */
static void test_uevents_during_startup(void **state)
{
	struct sc *sc = *state;
	static const struct {
		const char *key, *port, *type;
	} devs[] = {
	    {"keyboard", "1-1", "device.allowed"},      {"mouse", "1-2", "device.allowed"},
	    {"flash_sandisk", "2-1", "device.blocked"}, {"flash_kingston", "2-2", "device.blocked"},
	    {"phone_mtp", "1-3", "device.blocked"},     {"fido_key", "1-4", "device.allowed"},
	    {"ccid_reader", "1-5", "device.allowed"},   {"printer", "1-6", "device.blocked"},
	};
	const size_t n = sizeof(devs) / sizeof(devs[0]);
	write_rules(sc, SHIPPED_RULES);
	write_conf(sc, SHIPPED_CONF);
	agent_spawn(sc);
	const char *dp[8];
	for (size_t i = 0; i < n; i++) {
		dp[i] = mg_tb_add(sc->tb, cat(devs[i].key), devs[i].port, NULL);
		assert_non_null(dp[i]);
	}
	wait_notify(sc, "READY=1");
	sync_agent(sc); /* after every queued uevent */
	read_events(sc);
	for (size_t i = 0; i < n; i++) {
		/* The last decision counts (a device may be seen by the scan and its uevent). */
		json_t *last = NULL;
		for (json_t *ev = find_event(sc, NULL, dp[i], 0); ev;
		     ev = find_event(sc, NULL, dp[i], ev_seq(ev)))
			last = ev;
		if (!last)
			FAIL_WITH_LOG(sc, "%s was never decided", dp[i]);
		assert_type(sc, last, devs[i].type);
		assert_authorized(sc, dp[i], strcmp(devs[i].type, "device.allowed") == 0);
	}
	json_t *arr = list_devices(sc);
	assert_int_equal(json_array_size(arr), n + 2);
	json_decref(arr);
	agent_stop(sc);
}

/* reject: deauthorized and removed from the bus. */
static void test_reject(void **state)
{
	struct sc *sc = *state;
	agent_start(sc, "reject id 0bda:b812\n" SHIPPED_RULES, SHIPPED_CONF);
	const char *wifi;
	json_t *ev = plug(sc, "wifi_rtl8812bu", "1-1", &wifi);
	assert_type(sc, ev, "device.rejected");
	assert_string_equal(jstr(ev, "decision.target"), "reject");
	assert_rule(sc, ev, "reject id 0bda:b812", 1);
	assert_authorized(sc, wifi, 0);
	assert_attr(sc, wifi, "remove", "1");
	/* The kernel then takes it off the bus. */
	unplug(sc, wifi);
	json_t *arr = list_devices(sc);
	assert_null(listed(arr, wifi));
	json_decref(arr);
	agent_stop(sc);
}

/* uevent_source = udev works the same under umockdev. */
static void test_udev_source(void **state)
{
	struct sc *sc = *state;
	agent_start(sc, SHIPPED_RULES, SHIPPED_CONF "uevent_source = udev\n");
	const char *kbd, *flash;
	assert_type(sc, plug(sc, "keyboard_storage", "1-1", &kbd), "device.allowed");
	assert_iface(sc, kbd, 2, 0);
	assert_iface(sc, kbd, 0, 1);
	assert_type(sc, plug(sc, "flash_sandisk", "2-1", &flash), "device.blocked");
	unplug(sc, flash);
	agent_stop(sc);
}

int main(void)
{
	agent_bin = getenv("MG_AGENT_BIN");
	ctl_bin = getenv("MG_CTL_BIN");
	if (!agent_bin || !ctl_bin) {
		fprintf(stderr, "set MG_AGENT_BIN and MG_CTL_BIN (ctest does)\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
#define SC(t) cmocka_unit_test_setup_teardown(t, sc_setup, sc_teardown)
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_catalog_consistent),
	    SC(test_shipped_policy_all_devices),
	    SC(test_explicit_allow_by_serial),
	    SC(test_audit_mode),
	    SC(test_reload_ctl),
	    SC(test_reload_broken),
	    SC(test_sighup_reload),
	    SC(test_overrides),
	    SC(test_generate_policy),
	    SC(test_check_rules),
	    SC(test_present_at_start),
	    SC(test_hub_chain),
	    SC(test_identical_serialless),
	    SC(test_hostile_strings),
	    SC(test_malformed_descriptors),
	    SC(test_uevents_during_startup),
	    SC(test_reject),
	    SC(test_udev_source),
	};
	return cmocka_run_group_tests_name("agent_umockdev", tests, NULL, NULL);
}
