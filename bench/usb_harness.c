/*
 * mynaguard-bench-usbharness: runs mynaguard-agent in a umockdev testbed and measures its USB
 * decisions (bench/run-usb-bench.sh; method in docs/PERFORMANCE.md).
 *
 *   umockdev-wrapper mynaguard-bench-usbharness --agent BIN --config FILE --gen DIR
 *       [--hotplug N] [--idle SECONDS] [--timeout SECONDS] [--idle-wait 0|1]
 *
 * 1. Start: builds a testbed from DIR/all.umockdev (every device present), starts the agent
 *    with NOTIFY_SOCKET set to a datagram socket of its own and waits for READY=1. The
 *    decisions of the present devices are read from the agent's event log
 *    (the records of <state_dir>/spool: "time" of each device.allowed/blocked/rejected
 *    event, taken after the sysfs write).
 * 2. Memory and idle: VmRSS/VmHWM of the agent, then its CPU time (sum of
 *    /proc/PID/task/N/schedstat, nanoseconds) and context switches over SECONDS of idling.
 * 3. Hot plug (N > 0): for each of the first N leaves of DIR/leaves.txt: a "remove" uevent
 *    and removal from the testbed, wait for the agent's device.removed event, re-add the
 *    device from DIR/leaf/NNN.umockdev (authorized=0), watch its `authorized` file with
 *    inotify, send the "add" uevent and time until the agent writes the file (IN_MODIFY);
 *    then wait for its decision event. One device at a time.
 *
 * Output: key=value lines on stdout (times in microseconds). Exit 0, 1 on a failure (a
 * device not decided, not allowed, a timeout), 2 on a usage error. The harness must run
 * under the umockdev preload, and the agent inherits it.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <umockdev.h>

#include "spool_record.h"

#define MAX_DEVS  1024
#define LINE_MAX_ 65536

struct opts {
	const char *agent, *config, *gen;
	unsigned hotplug;
	unsigned idle_s;
	unsigned timeout_s;
};

struct conf {
	char state_dir[PATH_MAX];
};

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static pid_t agent_pid = -1;

static void stop_agent(void)
{
	if (agent_pid <= 0)
		return;
	kill(agent_pid, SIGTERM);
	for (int i = 0; i < 500; i++) {
		if (waitpid(agent_pid, NULL, WNOHANG) == agent_pid) {
			agent_pid = -1;
			return;
		}
		usleep(10000);
	}
	kill(agent_pid, SIGKILL);
	waitpid(agent_pid, NULL, 0);
	agent_pid = -1;
}

static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "mynaguard-bench-usbharness: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	stop_agent();
	exit(1);
}

static int64_t now_us(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static unsigned parse_uint(const char *s)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > 1000000 || s[0] == '-') {
		fprintf(stderr, "not a number: %s\n", s);
		exit(2);
	}
	return (unsigned)v;
}

/* ---- the agent's configuration: state_dir ---- */

static void read_conf(const char *path, struct conf *c)
{
	FILE *f = fopen(path, "re");
	if (!f)
		fail("%s: %s", path, strerror(errno));
	char line[4096];
	c->state_dir[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		char key[64], val[PATH_MAX];
		if (sscanf(line, " %63[a-z_] = %4095s", key, val) == 2 &&
		    strcmp(key, "state_dir") == 0)
			snprintf(c->state_dir, sizeof(c->state_dir), "%s", val);
	}
	fclose(f);
	if (!c->state_dir[0])
		fail("%s: no state_dir", path);
}

/* ---- the event log ---- */

struct event {
	char type[32];
	char syspath[512];
	char target[16];
	int64_t time_us; /* since the epoch */
};

/* The string value of "key" in a JSON line, unescaped only for plain text. */
static bool json_str(const char *line, const char *key, char *out, size_t len)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	const char *p = strstr(line, pat);
	if (!p)
		return false;
	p += strlen(pat);
	while (*p == ' ')
		p++;
	if (*p != '"')
		return false;
	p++;
	size_t n = 0;
	while (*p && *p != '"' && n + 1 < len) {
		if (*p == '\\' && p[1])
			p++;
		out[n++] = *p++;
	}
	out[n] = '\0';
	return *p == '"';
}

/* "2026-11-25T21:17:59.123456Z" -> microseconds since the epoch; -1 if malformed. */
static int64_t rfc3339_us(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	unsigned frac = 0;
	int fd = 0;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%6u%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	           &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &frac, &fd) != 7 ||
	    s[fd] != 'Z')
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000000 + frac;
}

/* An incremental reader of the agent's spool (<state_dir>/spool, agent/spool): the segment
 * being read and the offset of the next record in it. */
struct evlog {
	char path[PATH_MAX]; /* the spool directory */
	uint64_t seg;        /* 0: not started */
	uint64_t off;
	uint8_t *buf;
	size_t cap;
};

static bool seg_exists(const struct evlog *l, uint64_t no)
{
	char name[PATH_MAX + 32];
	snprintf(name, sizeof(name), "%s/%016" PRIx64 ".seg", l->path, no);
	return access(name, F_OK) == 0;
}

/* Removes the spool of an earlier run (its segments, then the directory). */
static void clear_spool(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strstr(e->d_name, ".seg"))
			(void)unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	(void)rmdir(dir);
}

/* Reads the next whole record of the spool; false when there is none yet. */
static bool evlog_record(struct evlog *l, struct mg_spool_record *rec)
{
	if (l->seg == 0) {
		if (!seg_exists(l, 1))
			return false;
		l->seg = 1;
	}
	for (;;) {
		char name[PATH_MAX + 32];
		snprintf(name, sizeof(name), "%s/%016" PRIx64 ".seg", l->path, l->seg);
		int fd = open(name, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return false;
		struct stat st;
		if (fstat(fd, &st) < 0) {
			close(fd);
			return false;
		}
		size_t avail =
		    st.st_size > (off_t)l->off ? (size_t)(st.st_size - (off_t)l->off) : 0;
		if (avail > l->cap) {
			l->buf = realloc(l->buf, avail);
			if (!l->buf)
				fail("out of memory");
			l->cap = avail;
		}
		ssize_t n = avail ? pread(fd, l->buf, avail, (off_t)l->off) : 0;
		close(fd);
		size_t used = 0;
		char why[96];
		int r =
		    n > 0 ? mg_spool_record_decode(l->buf, (size_t)n, rec, &used, why, sizeof(why))
		          : -EAGAIN;
		if (r == 0) {
			l->off += used;
			return true;
		}
		if (r != -EAGAIN)
			fail("%s at byte %" PRIu64 ": %s", name, l->off, why);
		/* The agent finishes a segment before it starts the next one. */
		if (avail == 0 && seg_exists(l, l->seg + 1)) {
			l->seg++;
			l->off = 0;
			continue;
		}
		return false;
	}
}

/* Reads the next complete event; false when there is none yet. */
static bool evlog_next(struct evlog *l, struct event *ev)
{
	static char line[LINE_MAX_];
	struct mg_spool_record rec;
	if (!evlog_record(l, &rec))
		return false;
	size_t n = rec.len < sizeof(line) - 1 ? rec.len : sizeof(line) - 1;
	memcpy(line, rec.payload, n);
	line[n] = '\0';
	char t[40] = "";
	memset(ev, 0, sizeof(*ev));
	json_str(line, "type", ev->type, sizeof(ev->type));
	json_str(line, "syspath", ev->syspath, sizeof(ev->syspath));
	json_str(line, "target", ev->target, sizeof(ev->target));
	json_str(line, "time", t, sizeof(t));
	ev->time_us = rfc3339_us(t);
	return true;
}

static bool is_decision(const struct event *ev)
{
	return strcmp(ev->type, "device.allowed") == 0 || strcmp(ev->type, "device.blocked") == 0 ||
	       strcmp(ev->type, "device.rejected") == 0;
}

/* Waits until an event of type for syspath appears; returns its time. */
static int64_t evlog_wait(struct evlog *l, const char *type, const char *syspath,
                          unsigned timeout_ms, struct event *out)
{
	int64_t deadline = now_us(CLOCK_MONOTONIC) + (int64_t)timeout_ms * 1000;
	struct event ev;
	for (;;) {
		while (evlog_next(l, &ev)) {
			bool type_ok = type ? strcmp(ev.type, type) == 0 : is_decision(&ev);
			if (type_ok && strcmp(ev.syspath, syspath) == 0) {
				if (out)
					*out = ev;
				return ev.time_us;
			}
		}
		if (now_us(CLOCK_MONOTONIC) > deadline)
			fail("no %s event for %s within %u ms", type ? type : "decision", syspath,
			     timeout_ms);
		usleep(200);
	}
}

/* ---- statistics ---- */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void print_stats(const char *name, int64_t *v, size_t n)
{
	if (n == 0)
		return;
	qsort(v, n, sizeof(*v), cmp_i64);
	int64_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	size_t p95 = (n * 95 + 99) / 100;
	printf("%s_n=%zu\n%s_min_us=%lld\n%s_p50_us=%lld\n%s_p95_us=%lld\n%s_max_us=%lld\n"
	       "%s_mean_us=%lld\n",
	       name, n, name, (long long)v[0], name, (long long)v[n / 2], name,
	       (long long)v[p95 ? p95 - 1 : 0], name, (long long)v[n - 1], name,
	       (long long)(sum / (int64_t)n));
}

/* ---- process facts ---- */

static bool read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return true;
}

static long status_kb(pid_t pid, const char *key)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	long v = -1;
	if (!f)
		return -1;
	size_t kl = strlen(key);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, kl) == 0 && line[kl] == ':')
			v = strtol(line + kl + 1, NULL, 10);
	fclose(f);
	return v;
}

/* The thread ids of pid (at most max), read with open(), getdents64 and close(). */
static size_t tasks_of(pid_t pid, long *tids, size_t max)
{
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	size_t n = 0;
	static char buf[8192] __attribute__((aligned(8)));
	for (;;) {
		long len = syscall(SYS_getdents64, fd, buf, sizeof(buf));
		if (len <= 0)
			break;
		for (long off = 0; off < len;) {
			const struct dirent64 *e =
			    (const struct dirent64 *)(const void *)(buf + off);
			if (e->d_name[0] != '.' && n < max)
				tids[n++] = strtol(e->d_name, NULL, 10);
			off += e->d_reclen;
		}
	}
	close(fd);
	return n;
}

/* CPU nanoseconds (schedstat) and context switches of every thread of pid. */
static void cpu_of(pid_t pid, unsigned long long *ns, unsigned long long *switches)
{
	*ns = 0;
	*switches = 0;
	long tids[256];
	size_t n = tasks_of(pid, tids, 256);
	for (size_t i = 0; i < n; i++) {
		char path[128], buf[4096];
		snprintf(path, sizeof(path), "/proc/%d/task/%ld/schedstat", (int)pid, tids[i]);
		if (read_file(path, buf, sizeof(buf)))
			*ns += strtoull(buf, NULL, 10);
		snprintf(path, sizeof(path), "/proc/%d/task/%ld/status", (int)pid, tids[i]);
		if (!read_file(path, buf, sizeof(buf)))
			continue;
		for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
			if (strncmp(l, "voluntary_ctxt_switches:", 24) == 0 ||
			    strncmp(l, "nonvoluntary_ctxt_switches:", 27) == 0)
				*switches += strtoull(strchr(l, ':') + 1, NULL, 10);
	}
}

/*
 * Waits until the agent's threads are all asleep in epoll_wait (/proc/PID/task/N/wchan), so
 * that a measurement does not include the tail of earlier work (an fdatasync of the event
 * log). False after timeout_ms.
 */
/* 0 (--idle-wait 0): the agent is kept busy on purpose (bench/run-ctl-flood-bench.sh): wait
 * 20 ms instead of for an idle agent. */
static bool idle_wait = true;

static bool wait_idle(pid_t pid, unsigned timeout_ms)
{
	if (!idle_wait) {
		usleep(20000);
		return true;
	}
	int64_t deadline = now_us(CLOCK_MONOTONIC) + (int64_t)timeout_ms * 1000;
	for (;;) {
		long tids[256];
		size_t n = tasks_of(pid, tids, 256);
		bool idle = n > 0;
		for (size_t i = 0; i < n && idle; i++) {
			char path[128], w[128];
			snprintf(path, sizeof(path), "/proc/%d/task/%ld/wchan", (int)pid, tids[i]);
			if (!read_file(path, w, sizeof(w)) || !strstr(w, "epoll"))
				idle = false;
		}
		if (idle)
			return true;
		if (now_us(CLOCK_MONOTONIC) > deadline)
			return false;
		usleep(100);
	}
}

/* ---- the agent ---- */

/* A datagram socket for sd_notify; its path goes to NOTIFY_SOCKET. */
static int notify_socket(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
		fail("notify socket: %s", strerror(errno));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	unlink(path);
	if (bind(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail("bind %s: %s", path, strerror(errno));
	return fd;
}

static void spawn_agent(const struct opts *o, const char *notify_path, const char *log_path)
{
	pid_t pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		/* The agent must not outlive a harness that dies (abort, kill -9). */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() == 1)
			_exit(127);
		int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || dup2(fd, STDERR_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0)
			_exit(127);
		setenv("NOTIFY_SOCKET", notify_path, 1);
		execl(o->agent, o->agent, "--config", o->config, (char *)NULL);
		_exit(127);
	}
	agent_pid = pid;
}

/* Waits for READY=1 on the notify socket. */
static void wait_ready(int nfd, unsigned timeout_s)
{
	int64_t deadline = now_us(CLOCK_MONOTONIC) + (int64_t)timeout_s * 1000000;
	for (;;) {
		int64_t left = (deadline - now_us(CLOCK_MONOTONIC)) / 1000;
		if (left <= 0)
			fail("agent not ready within %u s", timeout_s);
		struct pollfd p = {.fd = nfd, .events = POLLIN};
		int r = poll(&p, 1, left > 200 ? 200 : (int)left);
		int st;
		if (waitpid(agent_pid, &st, WNOHANG) == agent_pid) {
			agent_pid = -1;
			fail("agent exited before READY=1 (status %d)", st);
		}
		if (r <= 0)
			continue;
		char buf[4096];
		ssize_t n = recv(nfd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		for (char *tok = strtok(buf, "\n"); tok; tok = strtok(NULL, "\n"))
			if (strcmp(tok, "READY=1") == 0)
				return;
	}
}

/* ---- devices ---- */

static char *devs[MAX_DEVS];
static size_t n_devs;

struct leaf {
	char no[8];
	char *path;
};
static struct leaf leaves[MAX_DEVS];
static size_t n_leaves;

static void read_lists(const char *gen)
{
	char path[PATH_MAX], line[1024];
	snprintf(path, sizeof(path), "%s/devices.txt", gen);
	FILE *f = fopen(path, "re");
	if (!f)
		fail("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f) && n_devs < MAX_DEVS) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] && !(devs[n_devs++] = strdup(line)))
			fail("out of memory");
	}
	fclose(f);
	snprintf(path, sizeof(path), "%s/leaves.txt", gen);
	f = fopen(path, "re");
	if (!f)
		fail("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f) && n_leaves < MAX_DEVS) {
		char no[8], p[1000];
		if (sscanf(line, "%7s %999s", no, p) != 2)
			continue;
		memcpy(leaves[n_leaves].no, no, sizeof(no));
		if (!(leaves[n_leaves++].path = strdup(p)))
			fail("out of memory");
	}
	fclose(f);
}

/* ---- phases ---- */

static void measure_start(struct evlog *log, int64_t spawn_rt, int64_t spawn_mono,
                          int64_t ready_mono, unsigned timeout_s)
{
	printf("ready_us=%lld\n", (long long)(ready_mono - spawn_mono));
	/* Every device decided, in the order of the log. */
	static int64_t times[MAX_DEVS], gaps[MAX_DEVS];
	static bool seen[MAX_DEVS];
	size_t n = 0, allowed = 0;
	int64_t started = -1;
	int64_t deadline = now_us(CLOCK_MONOTONIC) + (int64_t)timeout_s * 1000000;
	while (n < n_devs) {
		struct event ev;
		if (!evlog_next(log, &ev)) {
			if (now_us(CLOCK_MONOTONIC) > deadline)
				fail("only %zu of %zu devices decided", n, n_devs);
			usleep(1000);
			continue;
		}
		if (strcmp(ev.type, "agent.started") == 0)
			started = ev.time_us;
		if (!is_decision(&ev))
			continue;
		for (size_t i = 0; i < n_devs; i++) {
			if (!seen[i] && strcmp(devs[i], ev.syspath) == 0) {
				seen[i] = true;
				times[n++] = ev.time_us;
				allowed += strcmp(ev.target, "allow") == 0;
				break;
			}
		}
	}
	unsigned long long cpu, sw;
	if (!wait_idle(agent_pid, 5000))
		fail("agent still busy 5 s after the start decisions");
	cpu_of(agent_pid, &cpu, &sw);
	printf("start_devices=%zu\nstart_allowed=%zu\nstart_cpu_us=%llu\n", n, allowed, cpu / 1000);
	if (started >= 0)
		printf("start_load_us=%lld\n", (long long)(started - spawn_rt));
	printf("start_first_decision_us=%lld\n", (long long)(times[0] - spawn_rt));
	/* What the person at the keyboard waits at boot: process start to the last decision. */
	printf("start_spawn_to_last_us=%lld\n", (long long)(times[n - 1] - spawn_rt));
	if (started >= 0)
		printf("start_started_to_first_us=%lld\n", (long long)(times[0] - started));
	printf("start_first_to_last_us=%lld\n", (long long)(times[n - 1] - times[0]));
	if (n > 1)
		printf("start_per_device_us=%.1f\n",
		       (double)(times[n - 1] - times[0]) / (double)(n - 1));
	for (size_t i = 1; i < n; i++)
		gaps[i - 1] = times[i] - times[i - 1];
	print_stats("start_gap", gaps, n - 1);
	if (allowed != n_devs)
		fail("%zu of %zu devices allowed at start", allowed, n_devs);
}

static void measure_idle(unsigned idle_s)
{
	printf("rss_kb=%ld\nhwm_kb=%ld\n", status_kb(agent_pid, "VmRSS"),
	       status_kb(agent_pid, "VmHWM"));
	if (idle_s == 0)
		return;
	usleep(500000); /* settle */
	unsigned long long ns0, sw0, ns1, sw1;
	cpu_of(agent_pid, &ns0, &sw0);
	sleep(idle_s);
	cpu_of(agent_pid, &ns1, &sw1);
	printf("idle_s=%u\nidle_cpu_ns=%llu\nidle_switches=%llu\n", idle_s, ns1 - ns0, sw1 - sw0);
}

static void hotplug(UMockdevTestbed *tb, struct evlog *log, const char *gen, unsigned count)
{
	int ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (ifd < 0)
		fail("inotify: %s", strerror(errno));
	g_autofree char *sysdir = umockdev_testbed_get_sys_dir(tb);
	static int64_t lat[MAX_DEVS], evlat[MAX_DEVS];
	static char ibuf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	size_t n = 0;
	if (count > n_leaves)
		count = (unsigned)n_leaves;
	unsigned long long cpu0, cpu1, sw0, sw1;
	cpu_of(agent_pid, &cpu0, &sw0);
	for (unsigned i = 0; i < count; i++) {
		const struct leaf *lf = &leaves[i];
		static char sys[PATH_MAX], file[PATH_MAX], authz[PATH_MAX];
		char buf[64];
		snprintf(sys, sizeof(sys), "/sys%s", lf->path);
		/* Unplug. */
		umockdev_testbed_uevent(tb, sys, "remove");
		umockdev_testbed_remove_device(tb, sys);
		evlog_wait(log, "device.removed", lf->path, 5000, NULL);
		if (!wait_idle(agent_pid, 5000))
			fail("agent still busy 5 s after removing %s", lf->path);
		/* Plug in again, unauthorized. */
		if (snprintf(file, sizeof(file), "%s/leaf/%s.umockdev", gen, lf->no) >=
		    (int)sizeof(file))
			fail("path too long");
		GError *err = NULL;
		if (!umockdev_testbed_add_from_file(tb, file, &err))
			fail("%s: %s", file, err ? err->message : "cannot add");
		/* The testbed's real file: sysdir is "<testbed>/sys", the DEVPATH "/devices/..". */
		snprintf(authz, sizeof(authz), "%s%s/authorized", sysdir, lf->path);
		int wd = inotify_add_watch(ifd, authz, IN_MODIFY | IN_CLOSE_WRITE);
		if (wd < 0)
			fail("inotify_add_watch %s: %s", authz, strerror(errno));
		int64_t t0 = now_us(CLOCK_MONOTONIC), t0_rt = now_us(CLOCK_REALTIME);
		umockdev_testbed_uevent(tb, sys, "add");
		struct pollfd p = {.fd = ifd, .events = POLLIN};
		int64_t t1 = -1;
		while (t1 < 0) {
			int r = poll(&p, 1, 5000);
			if (r == 0)
				fail("%s: authorized not written within 5 s", lf->path);
			if (r < 0 && errno != EINTR)
				fail("poll: %s", strerror(errno));
			ssize_t len = read(ifd, ibuf, sizeof(ibuf));
			if (len > 0)
				t1 = now_us(CLOCK_MONOTONIC);
		}
		struct event ev;
		evlog_wait(log, NULL, lf->path, 5000, &ev);
		inotify_rm_watch(ifd, wd);
		/* Drain what the watch still queued (IN_CLOSE_WRITE, IN_IGNORED). */
		while (read(ifd, ibuf, sizeof(ibuf)) > 0)
			;
		if (!read_file(authz, buf, sizeof(buf)) || buf[0] != '1')
			fail("%s: authorized is not 1 after hot plug", lf->path);
		if (strcmp(ev.target, "allow") != 0)
			fail("%s: hot-plugged device not allowed", lf->path);
		lat[n] = t1 - t0;
		evlat[n] = ev.time_us - t0_rt;
		n++;
	}
	if (!wait_idle(agent_pid, 5000))
		fail("agent still busy 5 s after the last hot plug");
	cpu_of(agent_pid, &cpu1, &sw1);
	close(ifd);
	if (n)
		printf("hotplug_cpu_per_device_us=%.1f\n",
		       (double)(cpu1 - cpu0) / 1000.0 / (double)n);
	print_stats("hotplug", lat, n);
	print_stats("hotplug_event", evlat, n);
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: umockdev-wrapper mynaguard-bench-usbharness --agent BIN --config "
	        "FILE --gen DIR [--hotplug N] [--idle S] [--timeout S] [--idle-wait 0|1]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct opts o = {.idle_s = 5, .timeout_s = 120};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (i + 1 >= argc)
			usage();
		const char *v = argv[++i];
		if (strcmp(a, "--agent") == 0)
			o.agent = v;
		else if (strcmp(a, "--config") == 0)
			o.config = v;
		else if (strcmp(a, "--gen") == 0)
			o.gen = v;
		else if (strcmp(a, "--hotplug") == 0)
			o.hotplug = parse_uint(v);
		else if (strcmp(a, "--idle") == 0)
			o.idle_s = parse_uint(v);
		else if (strcmp(a, "--timeout") == 0)
			o.timeout_s = parse_uint(v);
		else if (strcmp(a, "--idle-wait") == 0)
			idle_wait = parse_uint(v) != 0;
		else
			usage();
	}
	if (!o.agent || !o.config || !o.gen)
		usage();
	signal(SIGPIPE, SIG_IGN);
	static struct conf c; /* static: large path buffers, kept off the stack */
	read_conf(o.config, &c);
	read_lists(o.gen);

	/* The testbed first: umockdev_in_mock_environment() before it would disable uevents. */
	UMockdevTestbed *tb = umockdev_testbed_new();
	static char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/all.umockdev", o.gen) >= (int)sizeof(path))
		fail("%s: path too long", o.gen);
	GError *err = NULL;
	if (!umockdev_testbed_add_from_file(tb, path, &err))
		fail("%s: %s", path, err ? err->message : "cannot add");

	static struct evlog log = {.seg = 0};
	static char notify_path[PATH_MAX], log_path[PATH_MAX];
	if (snprintf(log.path, sizeof(log.path), "%s/spool", c.state_dir) >=
	        (int)sizeof(log.path) ||
	    snprintf(notify_path, sizeof(notify_path), "%s/notify.sock", c.state_dir) >=
	        (int)sizeof(notify_path) ||
	    snprintf(log_path, sizeof(log_path), "%s/agent.log", c.state_dir) >=
	        (int)sizeof(log_path))
		fail("%s: path too long", c.state_dir);
	clear_spool(log.path);
	int nfd = notify_socket(notify_path);

	int64_t spawn_rt = now_us(CLOCK_REALTIME), spawn_mono = now_us(CLOCK_MONOTONIC);
	spawn_agent(&o, notify_path, log_path);
	wait_ready(nfd, o.timeout_s);
	int64_t ready_mono = now_us(CLOCK_MONOTONIC);
	printf("agent_pid=%d\n", (int)agent_pid);
	fflush(stdout);
	measure_start(&log, spawn_rt, spawn_mono, ready_mono, o.timeout_s);
	measure_idle(o.idle_s);
	if (o.hotplug) {
		hotplug(tb, &log, o.gen, o.hotplug);
		printf("after_hotplug_rss_kb=%ld\n", status_kb(agent_pid, "VmRSS"));
	}
	fflush(stdout);
	stop_agent();
	close(nfd);
	unlink(notify_path);
	free(log.buf);
	g_object_unref(tb);
	for (size_t i = 0; i < n_devs; i++)
		free(devs[i]);
	for (size_t i = 0; i < n_leaves; i++)
		free(leaves[i].path);
	return 0;
}
