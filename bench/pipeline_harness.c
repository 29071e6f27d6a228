/*
 * mynaguard-bench-pipeline: the event pipeline benchmark's terminal side
 * (bench/run-pipeline-bench.sh, docs/PERFORMANCE.md "Event pipeline (issue 12)").
 *
 *   umockdev-wrapper mynaguard-bench-pipeline --agent BIN --ctl BIN --config FILE --gen DIR
 *       --collector URL --token TOKEN --ca FILE --db SQLITE_FILE
 *       [--plugs N] [--routine-plugs N] [--samples FILE] [--settle S] [--idle S]
 *       [--fill N --kill-collector PID [--restart]] [--trim-probe] [--hold S]
 *       [--timeout S]
 *
 * Builds a umockdev testbed from DIR/all.umockdev (mynaguard-bench-usbgen), starts the agent
 * (NOTIFY_SOCKET of its own, waits for READY=1), enrols it with
 * `mynaguardctl enroll --collector URL --token TOKEN --ca FILE` (its uplink does the HTTPS) and
 * waits until the collector's database (SQLITE_FILE, opened read-only) holds every event the
 * agent's spool has so far. Then, in this order:
 *
 * --plugs N: N hot plugs of leaves the agent blocked at start (security events: sent at once),
 *   then --routine-plugs N of leaves it allowed without a device.suspicious event (routine
 *   events: sent within 2 s). One at a time: "remove" uevent, wait for device.removed in the
 *   spool and for an idle agent, add the device again, "add" uevent, read the decision event
 *   from the spool (its seq and "time", taken after the sysfs write), then poll the collector's
 *   database every millisecond until the event (host, boot, seq) is there. Latency = the
 *   moment it is visible - the event's time; split at the collector's received_us (the time
 *   the collector handed the parsed batch to its store, before the commit). --samples FILE
 *   appends one line per hot plug: "security|routine TOTAL TO_RECEIVED COMMIT" (us).
 * --idle S: after --settle S (default 5), VmRSS of the agent and of its uplink, then their
 *   wake-ups over S seconds: schedstat's count of times each thread ran, voluntary and
 *   involuntary context switches, CPU time (every thread of the process); then the agent's
 *   VmRSS by mapping (smaps).
 * --fill N: the collector (PID, not ours) is stopped with SIGTERM, then N auth.* events (one
 *   in four auth.failure) go in through the agent's event_socket as pam_mynaguard.so sends
 *   them (one SEQPACKET connection per event, answered "ok" once durable); the agent's VmRSS,
 *   VmHWM and spool depth before and after. --restart: the agent is then stopped and started
 *   again on the full spool (collector still down): time to READY=1, VmRSS, VmHWM.
 * --trim-probe (diagnosis, needs gdb): after the measurements of --idle, --fill and
 *   --restart, gdb calls malloc_trim(0) in the agent and its VmRSS is printed again: the
 *   part of VmRSS that is heap glibc kept after free().
 * --hold S (diagnosis): keep the agent running S seconds before stopping it.
 *
 * Output: key=value lines on stdout (times in microseconds unless named otherwise). Exit 0;
 * 1 on a failure (a timeout, a device not decided, an event that does not arrive); 2 on a
 * usage error. Every wait is bounded; the agent gets SIGTERM (it has PR_SET_PDEATHSIG too).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>
#include <umockdev.h>

#include "mg/time.h"
#include "spool_record.h"

#define MAX_DEVS 1024

struct opts {
	const char *agent, *ctl, *config, *gen;
	const char *collector, *token, *ca, *db, *samples;
	unsigned plugs, routine_plugs, settle_s, idle_s, fill, timeout_s, hold_s;
	pid_t collector_pid;
	bool restart, trim_probe;
};

struct conf {
	char state_dir[PATH_MAX], socket[PATH_MAX], event_socket[PATH_MAX];
};

static pid_t agent_pid = -1;

static void stop_agent(void)
{
	if (agent_pid <= 0)
		return;
	kill(agent_pid, SIGTERM);
	for (int i = 0; i < 1000; i++) {
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

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "mynaguard-bench-pipeline: ");
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

static void sleep_us(int64_t us)
{
	struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static unsigned parse_uint(const char *s)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > 100000000 || s[0] == '-') {
		fprintf(stderr, "not a number: %s\n", s);
		exit(2);
	}
	return (unsigned)v;
}

/* ---- the agent's configuration ---- */

static void read_conf(const char *path, struct conf *c)
{
	FILE *f = fopen(path, "re");
	if (!f)
		fail("%s: %s", path, strerror(errno));
	char line[4096];
	memset(c, 0, sizeof(*c));
	while (fgets(line, sizeof(line), f)) {
		char key[64], val[PATH_MAX];
		if (sscanf(line, " %63[a-z_] = %4095s", key, val) != 2)
			continue;
		if (strcmp(key, "state_dir") == 0)
			snprintf(c->state_dir, sizeof(c->state_dir), "%s", val);
		else if (strcmp(key, "socket") == 0)
			snprintf(c->socket, sizeof(c->socket), "%s", val);
		else if (strcmp(key, "event_socket") == 0)
			snprintf(c->event_socket, sizeof(c->event_socket), "%s", val);
	}
	fclose(f);
	if (!c->state_dir[0] || !c->socket[0] || !c->event_socket[0])
		fail("%s: state_dir, socket and event_socket are needed", path);
}

/* ---- the agent's spool, read as it grows ---- */

struct event {
	char type[40];
	char syspath[512];
	char boot_id[40];
	uint64_t seq;
	int64_t time_us; /* since the epoch */
};

/* "2026-11-25T21:17:59.123456Z" -> microseconds since the epoch; -1 if malformed. */
static int64_t rfc3339_us(const char *s)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	unsigned frac = 0;
	int n = 0;
	if (!s ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%6u%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	           &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &frac, &n) != 7 ||
	    s[n] != 'Z')
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000000 + frac;
}

struct evlog {
	char path[PATH_MAX];
	uint64_t seg; /* 0: not started */
	uint64_t off;
	uint8_t *buf;
	size_t cap;
	uint64_t last_seq; /* of the events read so far */
	char boot_id[40];
};

static bool seg_exists(const struct evlog *l, uint64_t no)
{
	char name[PATH_MAX + 32];
	snprintf(name, sizeof(name), "%s/%016" PRIx64 ".seg", l->path, no);
	return access(name, F_OK) == 0;
}

/* The lowest segment number in the spool, 0 when there is none. */
static uint64_t first_seg(const struct evlog *l)
{
	DIR *d = opendir(l->path);
	uint64_t best = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char *end;
		uint64_t no = strtoull(e->d_name, &end, 16);
		if (end != e->d_name && strcmp(end, ".seg") == 0 && (best == 0 || no < best))
			best = no;
	}
	if (d)
		closedir(d);
	return best;
}

/* The next whole record; false when there is none yet. Segments the agent deleted after the
 * collector acknowledged them are skipped. */
static bool evlog_record(struct evlog *l, struct mg_spool_record *rec)
{
	if (l->seg == 0 && (l->seg = first_seg(l)) == 0)
		return false;
	for (;;) {
		char name[PATH_MAX + 32];
		snprintf(name, sizeof(name), "%s/%016" PRIx64 ".seg", l->path, l->seg);
		int fd = open(name, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			uint64_t f = first_seg(l);
			if (f > l->seg) {
				l->seg = f;
				l->off = 0;
				continue;
			}
			return false;
		}
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
		if (avail == 0 && seg_exists(l, l->seg + 1)) {
			l->seg++;
			l->off = 0;
			continue;
		}
		return false;
	}
}

static bool evlog_next(struct evlog *l, struct event *ev)
{
	struct mg_spool_record rec;
	if (!evlog_record(l, &rec))
		return false;
	memset(ev, 0, sizeof(*ev));
	ev->seq = rec.seq;
	memcpy(ev->boot_id, rec.boot_id, sizeof(rec.boot_id));
	l->last_seq = rec.seq;
	memcpy(l->boot_id, rec.boot_id, sizeof(rec.boot_id));
	json_error_t jerr;
	json_t *o = json_loadb(rec.payload, rec.len, 0, &jerr);
	const char *type = json_string_value(json_object_get(o, "type"));
	snprintf(ev->type, sizeof(ev->type), "%s", type ? type : "");
	json_t *dev = json_object_get(o, "device");
	const char *sp = json_string_value(json_object_get(dev, "syspath"));
	snprintf(ev->syspath, sizeof(ev->syspath), "%s", sp ? sp : "");
	ev->time_us = rfc3339_us(json_string_value(json_object_get(o, "time")));
	json_decref(o);
	return true;
}

static bool is_decision(const struct event *ev)
{
	return strcmp(ev->type, "device.allowed") == 0 || strcmp(ev->type, "device.blocked") == 0 ||
	       strcmp(ev->type, "device.rejected") == 0;
}

/* Waits for an event of type (NULL: a decision) for syspath. */
static void evlog_wait(struct evlog *l, const char *type, const char *syspath, unsigned timeout_ms,
                       struct event *out)
{
	int64_t deadline = now_us(CLOCK_MONOTONIC) + (int64_t)timeout_ms * 1000;
	struct event ev;
	for (;;) {
		while (evlog_next(l, &ev)) {
			bool type_ok = type ? strcmp(ev.type, type) == 0 : is_decision(&ev);
			if (type_ok && strcmp(ev.syspath, syspath) == 0) {
				if (out)
					*out = ev;
				return;
			}
		}
		if (now_us(CLOCK_MONOTONIC) > deadline)
			fail("no %s event for %s within %u ms", type ? type : "decision", syspath,
			     timeout_ms);
		sleep_us(200);
	}
}

/* Reads what the spool has now. */
static void evlog_drain(struct evlog *l)
{
	struct event ev;
	while (evlog_next(l, &ev))
		;
}

/* ---- the collector's database, read-only ---- */

struct watch {
	sqlite3 *db;
	sqlite3_stmt *by_seq, *max_seq;
	int64_t host_id;
};

static void watch_open(struct watch *w, const char *path, int64_t host_id)
{
	w->host_id = host_id;
	if (sqlite3_open_v2(path, &w->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		fail("%s: %s", path, sqlite3_errmsg(w->db));
	sqlite3_busy_timeout(w->db, 1000);
	if (sqlite3_prepare_v2(w->db,
	                       "SELECT e.received_us FROM events e JOIN streams s ON s.id = "
	                       "e.stream_id WHERE s.host_id = ?1 AND s.boot_id = ?2 AND e.seq = ?3",
	                       -1, &w->by_seq, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(w->db,
	                       "SELECT max(e.seq) FROM events e JOIN streams s ON s.id = "
	                       "e.stream_id WHERE s.host_id = ?1 AND s.boot_id = ?2",
	                       -1, &w->max_seq, NULL) != SQLITE_OK)
		fail("%s: %s", path, sqlite3_errmsg(w->db));
}

static void watch_close(struct watch *w)
{
	sqlite3_finalize(w->by_seq);
	sqlite3_finalize(w->max_seq);
	sqlite3_close(w->db);
	memset(w, 0, sizeof(*w));
}

/* received_us of (boot, seq), or -1 when the collector does not have it (yet). */
static int64_t watch_seq(struct watch *w, const char *boot, uint64_t seq)
{
	int64_t v = -1;
	sqlite3_bind_int64(w->by_seq, 1, w->host_id);
	sqlite3_bind_text(w->by_seq, 2, boot, -1, SQLITE_STATIC);
	sqlite3_bind_int64(w->by_seq, 3, (sqlite3_int64)seq);
	int r = sqlite3_step(w->by_seq);
	if (r == SQLITE_ROW)
		v = sqlite3_column_int64(w->by_seq, 0);
	else if (r != SQLITE_DONE && r != SQLITE_BUSY)
		fail("collector database: %s", sqlite3_errmsg(w->db));
	sqlite3_reset(w->by_seq);
	return v;
}

static uint64_t watch_max(struct watch *w, const char *boot)
{
	uint64_t v = 0;
	sqlite3_bind_int64(w->max_seq, 1, w->host_id);
	sqlite3_bind_text(w->max_seq, 2, boot, -1, SQLITE_STATIC);
	if (sqlite3_step(w->max_seq) == SQLITE_ROW)
		v = (uint64_t)sqlite3_column_int64(w->max_seq, 0);
	sqlite3_reset(w->max_seq);
	return v;
}

/* Polls every millisecond until (boot, seq) is stored; the realtime it was first seen. */
static int64_t wait_stored(struct watch *w, const char *boot, uint64_t seq, unsigned timeout_ms,
                           int64_t *received_us)
{
	int64_t deadline = now_us(CLOCK_MONOTONIC) + (int64_t)timeout_ms * 1000;
	for (;;) {
		int64_t r = watch_seq(w, boot, seq);
		int64_t t = now_us(CLOCK_REALTIME);
		if (r >= 0) {
			if (received_us)
				*received_us = r;
			return t;
		}
		if (now_us(CLOCK_MONOTONIC) > deadline)
			fail("event %s/%" PRIu64 " not stored by the collector within %u ms", boot,
			     seq, timeout_ms);
		sleep_us(1000);
	}
}

/* Waits until the collector holds every event the spool had when called. */
static void wait_all_stored(struct watch *w, struct evlog *l, unsigned timeout_ms)
{
	evlog_drain(l);
	int64_t deadline = now_us(CLOCK_MONOTONIC) + (int64_t)timeout_ms * 1000;
	while (watch_max(w, l->boot_id) < l->last_seq) {
		if (now_us(CLOCK_MONOTONIC) > deadline)
			fail("the collector does not have the spool's events up to seq %" PRIu64
			     " after %u ms (has %" PRIu64 ")",
			     l->last_seq, timeout_ms, watch_max(w, l->boot_id));
		sleep_us(5000);
	}
}

/* ---- statistics ---- */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v. */
static int64_t pct(const int64_t *v, size_t n, unsigned p)
{
	size_t k = (n * p + 99) / 100;
	return v[k ? k - 1 : 0];
}

static void print_stats(const char *name, int64_t *v, size_t n)
{
	if (n == 0)
		return;
	qsort(v, n, sizeof(*v), cmp_i64);
	int64_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	printf("%s_n=%zu\n%s_min_us=%lld\n%s_p50_us=%lld\n%s_p95_us=%lld\n%s_p99_us=%lld\n"
	       "%s_max_us=%lld\n%s_mean_us=%lld\n",
	       name, n, name, (long long)v[0], name, (long long)pct(v, n, 50), name,
	       (long long)pct(v, n, 95), name, (long long)pct(v, n, 99), name, (long long)v[n - 1],
	       name, (long long)(sum / (int64_t)n));
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

static size_t tasks_of(pid_t pid, long *tids, size_t max)
{
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	DIR *d = opendir(dir);
	size_t n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.' && n < max)
			tids[n++] = strtol(e->d_name, NULL, 10);
	if (d)
		closedir(d);
	return n;
}

struct cpu {
	unsigned long long ns, runs, switches;
};

/* Every thread of pid: run time and times run (schedstat), context switches. */
static struct cpu cpu_of(pid_t pid)
{
	struct cpu c = {0};
	long tids[256];
	size_t n = tasks_of(pid, tids, 256);
	for (size_t i = 0; i < n; i++) {
		char path[128], buf[4096];
		snprintf(path, sizeof(path), "/proc/%d/task/%ld/schedstat", (int)pid, tids[i]);
		unsigned long long run = 0, wait = 0, cnt = 0;
		if (read_file(path, buf, sizeof(buf)) &&
		    sscanf(buf, "%llu %llu %llu", &run, &wait, &cnt) == 3) {
			c.ns += run;
			c.runs += cnt;
		}
		snprintf(path, sizeof(path), "/proc/%d/task/%ld/status", (int)pid, tids[i]);
		if (!read_file(path, buf, sizeof(buf)))
			continue;
		for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n"))
			if (strncmp(l, "voluntary_ctxt_switches:", 24) == 0 ||
			    strncmp(l, "nonvoluntary_ctxt_switches:", 27) == 0)
				c.switches += strtoull(strchr(l, ':') + 1, NULL, 10);
	}
	return c;
}

/* Waits until every thread of pid sleeps in epoll_wait or poll (wchan). */
static bool wait_idle(pid_t pid, unsigned timeout_ms)
{
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
		sleep_us(100);
	}
}

/* The agent's uplink (its child), 0 when there is none. */
static pid_t uplink_pid(void)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)agent_pid, (int)agent_pid);
	if (!read_file(path, buf, sizeof(buf)))
		return 0;
	return (pid_t)strtol(buf, NULL, 10);
}

static pid_t wait_uplink(unsigned timeout_ms)
{
	int64_t deadline = now_us(CLOCK_MONOTONIC) + (int64_t)timeout_ms * 1000;
	pid_t p;
	while (!(p = uplink_pid())) {
		if (now_us(CLOCK_MONOTONIC) > deadline)
			fail("no uplink process after %u ms", timeout_ms);
		sleep_us(10000);
	}
	return p;
}

/* ---- the agent and mynaguardctl ---- */

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
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() == 1)
			_exit(127);
		int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd < 0 || dup2(fd, STDERR_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0)
			_exit(127);
		setenv("NOTIFY_SOCKET", notify_path, 1);
		execl(o->agent, o->agent, "--config", o->config, (char *)NULL);
		_exit(127);
	}
	agent_pid = pid;
}

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

/* mynaguardctl --socket SOCK args...: exit status; stdout into out (NUL-terminated). */
static int ctl(const struct opts *o, const struct conf *c, char *out, size_t size,
               const char *const *args)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		fail("pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		const char *argv[32] = {o->ctl, "--socket", c->socket};
		size_t n = 3;
		for (size_t i = 0; args[i] && n < 31; i++)
			argv[n++] = args[i];
		argv[n] = NULL;
		dup2(fds[1], STDOUT_FILENO);
		setenv("LC_ALL", "en_US.UTF-8", 1);
		execv(o->ctl, (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	close(fds[1]);
	size_t got = 0;
	int64_t deadline = now_us(CLOCK_MONOTONIC) + 30000000;
	for (;;) {
		struct pollfd p = {.fd = fds[0], .events = POLLIN};
		if (now_us(CLOCK_MONOTONIC) > deadline || poll(&p, 1, 1000) < 0)
			break;
		ssize_t n = read(fds[0], out + got, size - 1 - got);
		if (n <= 0 && !(n < 0 && errno == EINTR))
			break;
		if (n > 0)
			got += (size_t)n;
		if (got + 1 >= size)
			break;
	}
	out[got] = '\0';
	close(fds[0]);
	int st = 0;
	for (int i = 0; i < 3000 && waitpid(pid, &st, WNOHANG) == 0; i++)
		sleep_us(10000);
	if (waitpid(pid, &st, WNOHANG) == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		return -1;
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static json_t *status_json(const struct opts *o, const struct conf *c)
{
	static char out[65536];
	const char *args[] = {"status", "--json", NULL};
	if (ctl(o, c, out, sizeof(out), args) != 0)
		fail("mynaguardctl status failed");
	json_error_t jerr;
	json_t *st = json_loads(out, 0, &jerr);
	if (!st)
		fail("mynaguardctl status: not JSON: %.200s", out);
	return st;
}

static int64_t enroll(const struct opts *o, const struct conf *c)
{
	char out[4096];
	const char *args[] = {"enroll", "--collector", o->collector, "--token",
	                      o->token, "--ca",        o->ca,        NULL};
	/* The uplink starts with the agent's first loop round. */
	int64_t t0 = now_us(CLOCK_MONOTONIC), deadline = t0 + 20000000;
	int r;
	while ((r = ctl(o, c, out, sizeof(out), args)) != 0) {
		if (now_us(CLOCK_MONOTONIC) > deadline)
			fail("mynaguardctl enroll failed (exit %d)", r);
		sleep_us(100000);
	}
	printf("enroll_us=%lld\n", (long long)(now_us(CLOCK_MONOTONIC) - t0));
	json_t *st = status_json(o, c);
	int64_t host = json_integer_value(json_object_get(st, "host_id"));
	json_decref(st);
	if (host <= 0)
		fail("enrolled, but no host_id in status");
	printf("host_id=%lld\n", (long long)host);
	return host;
}

/* ---- devices ---- */

struct leaf {
	char no[8];
	char *path;
	char start_type[40]; /* its decision at start */
	bool suspicious;
};
static struct leaf leaves[MAX_DEVS];
static size_t n_leaves;

static void read_leaves(const char *gen)
{
	char path[PATH_MAX], line[1024];
	snprintf(path, sizeof(path), "%s/leaves.txt", gen);
	FILE *f = fopen(path, "re");
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

static size_t leaf_event(const struct event *ev)
{
	size_t decided = 0;
	for (size_t i = 0; i < n_leaves; i++) {
		if (strcmp(leaves[i].path, ev->syspath) != 0)
			continue;
		if (is_decision(ev) && !leaves[i].start_type[0]) {
			snprintf(leaves[i].start_type, sizeof(leaves[i].start_type), "%s",
			         ev->type);
			decided++;
		} else if (strcmp(ev->type, "device.suspicious") == 0) {
			leaves[i].suspicious = true;
		}
	}
	return decided;
}

/* Reads the spool until every leaf has its start decision, and then what the agent wrote
 * before it went idle (a device.suspicious after the last decision). */
static void start_decisions(struct evlog *l, unsigned timeout_s)
{
	int64_t deadline = now_us(CLOCK_MONOTONIC) + (int64_t)timeout_s * 1000000;
	size_t decided = 0;
	struct event ev;
	while (decided < n_leaves) {
		if (!evlog_next(l, &ev)) {
			if (now_us(CLOCK_MONOTONIC) > deadline)
				fail("only %zu of %zu leaves decided at start", decided, n_leaves);
			sleep_us(1000);
			continue;
		}
		decided += leaf_event(&ev);
	}
	if (!wait_idle(agent_pid, 10000))
		fail("agent still busy 10 s after its start decisions");
	while (evlog_next(l, &ev))
		leaf_event(&ev);
}

struct lat {
	int64_t *total, *to_recv, *commit;
	size_t n;
};

/* One hot plug of leaf lf; its decision event's latency to the collector into lt. */
static void hotplug(UMockdevTestbed *tb, struct evlog *l, struct watch *w, const char *gen,
                    const struct leaf *lf, const char *want_type, struct lat *lt)
{
	static char sys[PATH_MAX], file[PATH_MAX];
	snprintf(sys, sizeof(sys), "/sys%s", lf->path);
	umockdev_testbed_uevent(tb, sys, "remove");
	umockdev_testbed_remove_device(tb, sys);
	evlog_wait(l, "device.removed", lf->path, 10000, NULL);
	if (!wait_idle(agent_pid, 5000))
		fail("agent still busy 5 s after removing %s", lf->path);
	if (snprintf(file, sizeof(file), "%s/leaf/%s.umockdev", gen, lf->no) >= (int)sizeof(file))
		fail("path too long");
	GError *err = NULL;
	if (!umockdev_testbed_add_from_file(tb, file, &err))
		fail("%s: %s", file, err ? err->message : "cannot add");
	umockdev_testbed_uevent(tb, sys, "add");
	struct event ev;
	evlog_wait(l, NULL, lf->path, 10000, &ev);
	if (strcmp(ev.type, want_type) != 0)
		fail("%s: %s on hot plug, %s at start", lf->path, ev.type, want_type);
	int64_t recv = 0;
	int64_t seen = wait_stored(w, ev.boot_id, ev.seq, 60000, &recv);
	lt->total[lt->n] = seen - ev.time_us;
	lt->to_recv[lt->n] = recv - ev.time_us;
	lt->commit[lt->n] = seen - recv;
	lt->n++;
}

static void lat_alloc(struct lat *lt, size_t n)
{
	lt->total = calloc(n + 1, sizeof(int64_t));
	lt->to_recv = calloc(n + 1, sizeof(int64_t));
	lt->commit = calloc(n + 1, sizeof(int64_t));
	lt->n = 0;
	if (!lt->total || !lt->to_recv || !lt->commit)
		fail("out of memory");
}

/* Appends "name total to_received commit" (microseconds) per hot plug to path. */
static void lat_save(const char *path, const char *name, const struct lat *lt)
{
	if (!path)
		return;
	FILE *f = fopen(path, "ae");
	if (!f)
		fail("%s: %s", path, strerror(errno));
	for (size_t i = 0; i < lt->n; i++)
		fprintf(f, "%s %lld %lld %lld\n", name, (long long)lt->total[i],
		        (long long)lt->to_recv[i], (long long)lt->commit[i]);
	if (fclose(f) != 0)
		fail("%s: %s", path, strerror(errno));
}

static void lat_print(const char *name, struct lat *lt)
{
	char k[64];
	print_stats(name, lt->total, lt->n);
	snprintf(k, sizeof(k), "%s_to_received", name);
	print_stats(k, lt->to_recv, lt->n);
	snprintf(k, sizeof(k), "%s_commit", name);
	print_stats(k, lt->commit, lt->n);
	free(lt->total);
	free(lt->to_recv);
	free(lt->commit);
}

static void plugs(const struct opts *o, UMockdevTestbed *tb, struct evlog *l, struct watch *w)
{
	const struct leaf *sec[MAX_DEVS], *rout[MAX_DEVS];
	size_t ns = 0, nr = 0;
	for (size_t i = 0; i < n_leaves; i++) {
		if (strcmp(leaves[i].start_type, "device.blocked") == 0)
			sec[ns++] = &leaves[i];
		else if (strcmp(leaves[i].start_type, "device.allowed") == 0 &&
		         !leaves[i].suspicious)
			rout[nr++] = &leaves[i];
	}
	printf("leaves_blocked=%zu\nleaves_allowed_plain=%zu\n", ns, nr);
	if (o->plugs && !ns)
		fail("no leaf is blocked at start: nothing to hot-plug for security events");
	if (o->routine_plugs && !nr)
		fail("no leaf is allowed at start: nothing to hot-plug for routine events");
	struct lat lt;
	lat_alloc(&lt, o->plugs);
	int64_t t0 = now_us(CLOCK_MONOTONIC);
	for (unsigned i = 0; i < o->plugs; i++)
		hotplug(tb, l, w, o->gen, sec[i % ns], "device.blocked", &lt);
	printf("security_plugs_s=%.1f\n", (double)(now_us(CLOCK_MONOTONIC) - t0) / 1e6);
	lat_save(o->samples, "security", &lt);
	lat_print("security", &lt);
	lat_alloc(&lt, o->routine_plugs);
	for (unsigned i = 0; i < o->routine_plugs; i++)
		hotplug(tb, l, w, o->gen, rout[i % nr], "device.allowed", &lt);
	lat_save(o->samples, "routine", &lt);
	lat_print("routine", &lt);
	fflush(stdout);
}

static void print_mem(const char *prefix, pid_t up)
{
	printf("%s_agent_rss_kb=%ld\n%s_agent_hwm_kb=%ld\n", prefix, status_kb(agent_pid, "VmRSS"),
	       prefix, status_kb(agent_pid, "VmHWM"));
	if (up > 0)
		printf("%s_uplink_rss_kb=%ld\n%s_uplink_hwm_kb=%ld\n", prefix,
		       status_kb(up, "VmRSS"), prefix, status_kb(up, "VmHWM"));
}

/*
 * Diagnosis, after the measurements of a phase: gdb calls malloc_trim(0) in the agent, then
 * its VmRSS: how much of it is heap glibc keeps after free() rather than memory in use.
 */
static void trim_probe(const struct opts *o, const char *prefix)
{
	if (!o->trim_probe)
		return;
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)agent_pid);
	pid_t g = fork();
	if (g < 0)
		fail("fork: %s", strerror(errno));
	if (g == 0) {
		int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		unsetenv("LD_PRELOAD");
		execlp("gdb", "gdb", "-nx", "-batch", "-p", pid, "-ex", "call (int)malloc_trim(0)",
		       (char *)NULL);
		_exit(127);
	}
	int st = 0;
	for (int i = 0; i < 6000 && waitpid(g, &st, WNOHANG) == 0; i++)
		sleep_us(10000);
	if (waitpid(g, &st, WNOHANG) == 0) {
		kill(g, SIGKILL);
		waitpid(g, &st, 0);
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		printf("%s_trimmed_agent_rss_kb=%ld\n", prefix, status_kb(agent_pid, "VmRSS"));
	else
		fprintf(stderr, "trim probe: gdb failed (status %d)\n", st);
	fflush(stdout);
}

/* "prefix_maps=NAME:KB,..." : the agent's VmRSS by mapping (smaps Rss summed by file name;
 * [heap], [anon], [stack] as such), largest first, entries under 32 kB left out. */
static void print_maps(const char *prefix)
{
	char path[64], line[1024];
	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)agent_pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	struct {
		char name[64];
		long kb;
	} m[128];
	size_t n = 0, cur = SIZE_MAX;
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b;
		char perms[8], file[512] = "";
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %511s", &a, &b, perms, file) >= 3 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			const char *base = file[0] ? strrchr(file, '/') : NULL;
			const char *name = file[0] ? (base ? base + 1 : file) : "[anon]";
			for (cur = 0; cur < n && strcmp(m[cur].name, name) != 0; cur++)
				;
			if (cur == n && n < 128) {
				snprintf(m[n].name, sizeof(m[n].name), "%.63s", name);
				m[n++].kb = 0;
			} else if (cur == n) {
				cur = SIZE_MAX;
			}
			continue;
		}
		long kb;
		if (cur != SIZE_MAX && sscanf(line, "Rss: %ld kB", &kb) == 1)
			m[cur].kb += kb;
	}
	fclose(f);
	printf("%s_maps=", prefix);
	for (bool first = true;; first = false) {
		size_t best = SIZE_MAX;
		for (size_t i = 0; i < n; i++)
			if (m[i].kb >= 32 && (best == SIZE_MAX || m[i].kb > m[best].kb))
				best = i;
		if (best == SIZE_MAX)
			break;
		printf("%s%s:%ld", first ? "" : ",", m[best].name, m[best].kb);
		m[best].kb = 0;
	}
	printf("\n");
}

static void idle(const struct opts *o)
{
	pid_t up = wait_uplink(10000);
	sleep(o->settle_s);
	if (!wait_idle(agent_pid, 10000))
		fail("agent not idle");
	print_mem("idle_start", up);
	struct cpu a0 = cpu_of(agent_pid), u0 = cpu_of(up);
	int64_t t0 = now_us(CLOCK_MONOTONIC);
	sleep(o->idle_s);
	int64_t dt = now_us(CLOCK_MONOTONIC) - t0;
	struct cpu a1 = cpu_of(agent_pid), u1 = cpu_of(up);
	if (uplink_pid() != up)
		printf("idle_uplink_restarted=1\n");
	printf("idle_s=%.1f\n", (double)dt / 1e6);
	printf("idle_agent_runs=%llu\nidle_agent_switches=%llu\nidle_agent_cpu_us=%llu\n",
	       a1.runs - a0.runs, a1.switches - a0.switches, (a1.ns - a0.ns) / 1000);
	printf("idle_uplink_runs=%llu\nidle_uplink_switches=%llu\nidle_uplink_cpu_us=%llu\n",
	       u1.runs - u0.runs, u1.switches - u0.switches, (u1.ns - u0.ns) / 1000);
	print_mem("idle_end", up);
	print_maps("idle_end");
	fflush(stdout);
	trim_probe(o, "idle_end");
}

/* The JSON of auth event i as pam_mynaguard.so sends it (one in four a failure). */
static size_t pam_json(unsigned i, char *json, size_t size)
{
	static const char *const users[] = {"tanaka", "suzuki", "sato", "takahashi", "ito"};
	char t[MG_RFC3339_LEN];
	if (mg_time_format(mg_now_us(), t) < 0)
		fail("clock");
	bool failure = i % 4 == 3;
	int n =
	    snprintf(json, size,
	             "{\"type\":\"%s\",\"time\":\"%s\",\"host\":\"bench\",\"seq\":0,"
	             "\"boot_id\":\"00000000-0000-4000-8000-000000000000\","
	             "\"user\":{\"name\":\"%s\",\"service\":\"login\",\"tty\":\"tty1\"},"
	             "\"auth\":{\"factor\":\"totp\",\"credential\":\"phone\",%s\"failures\":%d}}",
	             failure ? "auth.failure" : "auth.success", t, users[i % 5],
	             failure ? "\"reason\":\"wrong-code\"," : "", failure ? 1 : 0);
	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

#define FILL_INFLIGHT 8

/*
 * Sends n auth events through the event socket at path, as pam_mynaguard.so does (one
 * SEQPACKET connection per event, answered "ok" once the event is durable), with up to
 * FILL_INFLIGHT connections in flight (logins on several terminals' sessions at once).
 */
static void pam_events(const char *path, unsigned n)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	struct pollfd p[FILL_INFLIGHT];
	int64_t since[FILL_INFLIGHT];
	for (int k = 0; k < FILL_INFLIGHT; k++)
		p[k] = (struct pollfd){.fd = -1, .events = POLLIN};
	unsigned sent = 0, done = 0;
	int64_t t0 = now_us(CLOCK_MONOTONIC);
	while (done < n) {
		for (int k = 0; k < FILL_INFLIGHT && sent < n; k++) {
			if (p[k].fd >= 0)
				continue;
			char json[1024];
			size_t len = pam_json(sent, json, sizeof(json));
			int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
			if (fd < 0)
				fail("socket: %s", strerror(errno));
			if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
			    send(fd, json, len, MSG_NOSIGNAL) != (ssize_t)len) {
				close(fd); /* backlog full: try again after the next answer */
				break;
			}
			p[k].fd = fd;
			since[k] = now_us(CLOCK_MONOTONIC);
			sent++;
		}
		if (poll(p, FILL_INFLIGHT, 100) < 0 && errno != EINTR)
			fail("poll: %s", strerror(errno));
		for (int k = 0; k < FILL_INFLIGHT; k++) {
			if (p[k].fd < 0)
				continue;
			if (!p[k].revents) {
				if (now_us(CLOCK_MONOTONIC) - since[k] > 10000000)
					fail("the agent's event socket did not answer within 10 s");
				continue;
			}
			char ans[400];
			ssize_t r = recv(p[k].fd, ans, sizeof(ans) - 1, MSG_DONTWAIT);
			close(p[k].fd);
			p[k].fd = -1;
			p[k].revents = 0;
			if (r <= 0)
				fail("the agent's event socket closed without an answer");
			ans[r] = '\0';
			if (strcmp(ans, "ok") != 0)
				fail("event socket answered: %s", ans);
			if (++done % 10000 == 0)
				fprintf(stderr, "fill: %u events, %.1f s\n", done,
				        (double)(now_us(CLOCK_MONOTONIC) - t0) / 1e6);
		}
	}
}

static bool proc_alive(pid_t pid)
{
	char path[64], st[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!read_file(path, st, sizeof(st)))
		return false;
	const char *rp = strrchr(st, ')');
	return rp && rp[1] == ' ' && rp[2] != 'Z';
}

static void print_spool(const struct opts *o, const struct conf *c, const char *prefix)
{
	json_t *st = status_json(o, c);
	printf("%s_spool_depth=%lld\n%s_spool_bytes=%lld\n", prefix,
	       (long long)json_integer_value(json_object_get(st, "spool_depth")), prefix,
	       (long long)json_integer_value(json_object_get(st, "spool_bytes")));
	json_decref(st);
}

static void fill(const struct opts *o, const struct conf *c, struct evlog *l, int nfd,
                 const char *notify_path, const char *log_path)
{
	if (kill(o->collector_pid, SIGTERM) < 0)
		fail("kill collector %d: %s", (int)o->collector_pid, strerror(errno));
	for (int i = 0; proc_alive(o->collector_pid); i++) {
		if (i > 3000)
			fail("the collector did not stop within 30 s");
		sleep_us(10000);
	}
	pid_t up = wait_uplink(10000);
	sleep(o->settle_s);
	wait_idle(agent_pid, 10000);
	print_spool(o, c, "before_fill");
	print_mem("before_fill", up);
	int64_t t0 = now_us(CLOCK_MONOTONIC);
	pam_events(c->event_socket, o->fill);
	int64_t dt = now_us(CLOCK_MONOTONIC) - t0;
	printf("fill_events=%u\nfill_s=%.1f\nfill_events_per_s=%.0f\n", o->fill, (double)dt / 1e6,
	       (double)o->fill * 1e6 / (double)dt);
	evlog_drain(l);
	up = wait_uplink(10000);
	sleep(o->settle_s);
	wait_idle(agent_pid, 10000);
	print_spool(o, c, "after_fill");
	print_mem("after_fill", up);
	print_maps("after_fill");
	fflush(stdout);
	trim_probe(o, "after_fill");
	if (!o->restart)
		return;
	stop_agent();
	int64_t t1 = now_us(CLOCK_MONOTONIC);
	spawn_agent(o, notify_path, log_path);
	wait_ready(nfd, o->timeout_s);
	printf("restart_ready_us=%lld\n", (long long)(now_us(CLOCK_MONOTONIC) - t1));
	up = wait_uplink(10000);
	sleep(o->settle_s);
	wait_idle(agent_pid, 10000);
	print_spool(o, c, "restart");
	print_mem("restart", up);
	fflush(stdout);
	trim_probe(o, "restart");
}

static void usage(void)
{
	fprintf(stderr, "usage: umockdev-wrapper mynaguard-bench-pipeline --agent BIN --ctl BIN "
	                "--config FILE --gen DIR --collector URL --token TOKEN --ca FILE --db FILE "
	                "[--plugs N] [--routine-plugs N] [--settle S] [--idle S] [--fill N "
	                "--kill-collector PID [--restart]] [--trim-probe] [--samples FILE] "
	                "[--hold S] [--timeout S]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct opts o = {.settle_s = 5, .timeout_s = 120};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--restart") == 0) {
			o.restart = true;
			continue;
		}
		if (strcmp(a, "--trim-probe") == 0) {
			o.trim_probe = true;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		const char *v = argv[++i];
		if (strcmp(a, "--agent") == 0)
			o.agent = v;
		else if (strcmp(a, "--ctl") == 0)
			o.ctl = v;
		else if (strcmp(a, "--config") == 0)
			o.config = v;
		else if (strcmp(a, "--gen") == 0)
			o.gen = v;
		else if (strcmp(a, "--collector") == 0)
			o.collector = v;
		else if (strcmp(a, "--token") == 0)
			o.token = v;
		else if (strcmp(a, "--ca") == 0)
			o.ca = v;
		else if (strcmp(a, "--db") == 0)
			o.db = v;
		else if (strcmp(a, "--plugs") == 0)
			o.plugs = parse_uint(v);
		else if (strcmp(a, "--routine-plugs") == 0)
			o.routine_plugs = parse_uint(v);
		else if (strcmp(a, "--settle") == 0)
			o.settle_s = parse_uint(v);
		else if (strcmp(a, "--idle") == 0)
			o.idle_s = parse_uint(v);
		else if (strcmp(a, "--fill") == 0)
			o.fill = parse_uint(v);
		else if (strcmp(a, "--kill-collector") == 0)
			o.collector_pid = (pid_t)parse_uint(v);
		else if (strcmp(a, "--timeout") == 0)
			o.timeout_s = parse_uint(v);
		else if (strcmp(a, "--hold") == 0)
			o.hold_s = parse_uint(v);
		else if (strcmp(a, "--samples") == 0)
			o.samples = v;
		else
			usage();
	}
	if (!o.agent || !o.ctl || !o.config || !o.gen || !o.collector || !o.token || !o.ca ||
	    !o.db || (o.fill && o.collector_pid <= 0))
		usage();
	signal(SIGPIPE, SIG_IGN);
	static struct conf c;
	read_conf(o.config, &c);
	read_leaves(o.gen);

	/* The testbed first: umockdev_in_mock_environment() before it would disable uevents. */
	UMockdevTestbed *tb = umockdev_testbed_new();
	static char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/all.umockdev", o.gen) >= (int)sizeof(path))
		fail("%s: path too long", o.gen);
	GError *err = NULL;
	if (!umockdev_testbed_add_from_file(tb, path, &err))
		fail("%s: %s", path, err ? err->message : "cannot add");

	static struct evlog log;
	static char notify_path[PATH_MAX], log_path[PATH_MAX];
	if (snprintf(log.path, sizeof(log.path), "%s/spool", c.state_dir) >=
	        (int)sizeof(log.path) ||
	    snprintf(notify_path, sizeof(notify_path), "%s/notify.sock", c.state_dir) >=
	        (int)sizeof(notify_path) ||
	    snprintf(log_path, sizeof(log_path), "%s/agent.log", c.state_dir) >=
	        (int)sizeof(log_path))
		fail("%s: path too long", c.state_dir);
	int nfd = notify_socket(notify_path);
	int64_t t0 = now_us(CLOCK_MONOTONIC);
	spawn_agent(&o, notify_path, log_path);
	wait_ready(nfd, o.timeout_s);
	printf("agent_pid=%d\nready_us=%lld\n", (int)agent_pid,
	       (long long)(now_us(CLOCK_MONOTONIC) - t0));
	start_decisions(&log, o.timeout_s);
	int64_t host = enroll(&o, &c);
	pid_t up = wait_uplink(10000);
	printf("uplink_pid=%d\n", (int)up);
	static struct watch w;
	watch_open(&w, o.db, host);
	wait_all_stored(&w, &log, 30000);
	fflush(stdout);
	if (o.plugs || o.routine_plugs)
		plugs(&o, tb, &log, &w);
	watch_close(&w);
	if (o.idle_s)
		idle(&o);
	if (o.fill)
		fill(&o, &c, &log, nfd, notify_path, log_path);
	fflush(stdout);
	if (o.hold_s) { /* diagnosis: the agent stays up a while (its pid is printed) */
		fprintf(stderr, "holding agent %d for %u s\n", (int)agent_pid, o.hold_s);
		sleep(o.hold_s);
	}
	stop_agent();
	close(nfd);
	unlink(notify_path);
	free(log.buf);
	g_object_unref(tb);
	for (size_t i = 0; i < n_leaves; i++)
		free(leaves[i].path);
	return 0;
}
