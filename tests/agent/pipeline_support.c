/* What the end-to-end tests of the event pipeline share (pipeline_support.h). */
#include "pipeline_support.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *uplink_bin;
char conf_extra[1024];

int pipeline_init(void)
{
	if (harness_init() < 0)
		return -1;
	uplink_bin = getenv("MG_UPLINK_BIN");
	if (!uplink_bin) {
		fprintf(stderr, "set MG_UPLINK_BIN (ctest does)\n");
		return -1;
	}
	return 0;
}

void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *pipeline_conf(const char *extra)
{
	/* As root (CI), the uplink runs as an unprivileged user: nobody stands in for the
	 * mynaguard user the packages create. */
	snprintf(conf_extra, sizeof(conf_extra),
	         "uplink_binary = %s\nuplink_user = %s\npoll_interval = 1\n"
	         "heartbeat_interval = 1\n%s",
	         uplink_bin, geteuid() == 0 ? "nobody" : "mynaguard", extra);
	return conf_extra;
}

void start_agent(struct sc *sc)
{
	agent_start(sc, PIPELINE_RULES, pipeline_conf("implicit_target = block\n"));
}

/* The collector again, on the port the terminal was enrolled with. */
void restart_server(unsigned port)
{
	char listen[64];
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
	g_listen = listen;
	start_server();
	g_listen = NULL;
	assert_int_equal(g_port, port);
}

/* `mynaguardctl status --json`, parsed. */
json_t *status(struct sc *sc)
{
	struct run r;
	CTL(sc, &r, "status", "--json");
	if (r.status != 0)
		FAIL_WITH_LOG(sc, "status: %s", r.err);
	json_error_t jerr;
	json_t *st = json_loads(r.out, 0, &jerr);
	run_free(&r);
	assert_non_null(st);
	return st;
}

/* Enrols the agent to the running collector; its host id. */
int64_t enroll_agent(struct sc *sc)
{
	char tok[128], url[64], ca[600];
	token_create(tok, sizeof(tok));
	snprintf(url, sizeof(url), "https://127.0.0.1:%u", g_port);
	snprintf(ca, sizeof(ca), "%s/ca.pem", g_dir);
	/* The uplink starts with the agent's first loop round. */
	struct run r;
	int64_t deadline = mono_ms() + 8000;
	for (;;) {
		CTL(sc, &r, "enroll", "--collector", url, "--token", tok, "--ca", ca);
		if (r.status == 0 || mono_ms() > deadline ||
		    !strstr(r.err, "uplink is not running"))
			break;
		run_free(&r);
		sleep_ms(50);
	}
	if (r.status != 0)
		FAIL_WITH_LOG(sc, "enroll failed: %s", r.err);
	run_free(&r);
	json_t *st = status(sc);
	assert_true(json_is_true(json_object_get(st, "enrolled")));
	assert_string_equal(json_string_value(json_object_get(st, "collector")), url);
	int64_t host = json_integer_value(json_object_get(st, "host_id"));
	json_decref(st);
	assert_true(host > 0);
	/* The uplink's key is its own: 0600 in a 0700 directory inside the root-only state. */
	char path[300];
	struct stat sb;
	snprintf(path, sizeof(path), "%s/uplink/key.pem", sc->state);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/enrolment.json", sc->state);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	return host;
}

struct rows {
	json_t *arr;
	int64_t last_id;
};

static int take_row(void *ctx, int64_t id, int64_t host_id, const char *json)
{
	(void)host_id;
	struct rows *r = ctx;
	json_error_t jerr;
	json_t *o = json_loads(json, 0, &jerr);
	if (!o)
		return -EINVAL;
	r->last_id = id;
	return json_array_append_new(r->arr, o);
}

/* The events the collector stored for host, in the order it stored them. */
json_t *collector_events(int64_t host)
{
	struct rows r = {.arr = json_array()};
	struct mg_store *s = store();
	for (;;) {
		size_t before = json_array_size(r.arr);
		struct mg_store_event_filter f = {
		    .host_id = host, .after_id = r.last_id, .limit = 1000};
		assert_int_equal(mg_store_events_query(s, &f, take_row, &r), 0);
		if (json_array_size(r.arr) - before < 1000)
			break;
	}
	mg_store_close(&s);
	return r.arr;
}

/*
 * Waits until the collector holds exactly the spool's events and the agent reports nothing
 * unsent: the collector's events of this boot are seq 1..N, each once, N the spool's last seq,
 * and every event the harness read from the spool is byte for byte (as JSON) the collector's
 * event of that seq. Fails with the difference otherwise.
 */
void assert_exactly_once(struct sc *sc, int64_t host)
{
	const bool running = sc->pid > 0; /* a stopped agent sent what it had when it stopped */
	int64_t deadline = mono_ms() + ARRIVE_MS;
	char why[600] = "";
	for (;;) {
		json_int_t depth = 0;
		if (running) {
			json_t *st = status(sc);
			depth = json_integer_value(json_object_get(st, "spool_depth"));
			json_decref(st);
		}
		read_events(sc);
		json_t *got = collector_events(host);
		size_t m = json_array_size(got);
		bool same = depth == 0 && m == sc->last_seq;
		if (!same)
			snprintf(why, sizeof(why),
			         "spool up to seq %llu (depth %lld), collector %zu events",
			         (unsigned long long)sc->last_seq, (long long)depth, m);
		for (size_t i = 0; same && i < m; i++) {
			if (ev_seq(json_array_get(got, i)) != (json_int_t)(i + 1)) {
				snprintf(why, sizeof(why), "collector event %zu has seq %lld", i,
				         (long long)ev_seq(json_array_get(got, i)));
				same = false;
			}
		}
		size_t k;
		json_t *e;
		json_array_foreach(sc->evs, k, e)
		{
			json_int_t seq = ev_seq(e);
			if (!same || seq < 1 || (size_t)seq > m)
				continue;
			if (!json_equal(e, json_array_get(got, (size_t)seq - 1))) {
				char *a = json_dumps(e, JSON_COMPACT);
				char *b =
				    json_dumps(json_array_get(got, (size_t)seq - 1), JSON_COMPACT);
				snprintf(
				    why, sizeof(why),
				    "seq %lld differs:\n spool:     %.250s\n collector: %.250s",
				    (long long)seq, a ? a : "?", b ? b : "?");
				free(a);
				free(b);
				same = false;
			}
		}
		json_decref(got);
		if (same)
			return;
		if (mono_ms() > deadline)
			FAIL_WITH_LOG(
			    sc, "the collector does not hold exactly the spool's events: %s", why);
		sleep_ms(100);
	}
}

int wait_child(pid_t pid, int ms)
{
	int status = 0;
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd >= 0) {
		struct pollfd p = {.fd = pfd, .events = POLLIN};
		(void)poll(&p, 1, ms);
		close(pfd);
	} else {
		for (int64_t deadline = mono_ms() + ms; mono_ms() < deadline;) {
			if (waitpid(pid, &status, WNOHANG) == pid)
				return status;
			sleep_ms(1);
		}
	}
	if (waitpid(pid, &status, WNOHANG) == pid)
		return status;
	kill(pid, SIGKILL);
	(void)waitpid(pid, NULL, 0);
	return -1;
}
