/*
 * The event pipeline end to end (issue 12), real processes on loopback: mynaguard-collector
 * (SQLite; PostgreSQL with MG_TEST_STORE_URL_FILE), mynaguard-agent on a umockdev testbed,
 * the mynaguard-uplink it starts, and mynaguardctl. After every scenario the collector holds
 * exactly the events the agent's spool holds for this host: none missing, none twice (the
 * spool's hash chain is checked by the harness, the collector checks it on every batch).
 *
 * Run under the umockdev preload (umockdev-wrapper) with MG_AGENT_BIN, MG_CTL_BIN,
 * MG_UPLINK_BIN and MG_COLLECTOR set (ctest does).
 */
#include "pipeline_support.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mg/policy_bundle.h"
#include "mg/time.h"
#include "policy_sign.h"

#define RULES PIPELINE_RULES

/* Enrolment, then hot-plugged devices: every event arrives once, status says so. */
static void test_enroll_and_upload(void **state)
{
	struct sc *sc = *state;
	start_agent(sc);
	int64_t host = enroll_agent(sc);
	const char *flash = NULL, *kbd = NULL;
	assert_type(sc, plug(sc, "flash_sandisk", "2-1", &flash), "device.blocked");
	assert_type(sc, plug(sc, "keyboard", "1-1", &kbd), "device.allowed");
	assert_exactly_once(sc, host);
	json_t *st = status(sc);
	assert_true(json_is_string(json_object_get(st, "last_upload")));
	assert_true(json_is_null(json_object_get(st, "oldest_unsent")));
	assert_true(json_integer_value(json_object_get(st, "policy_version")) >= 1);
	assert_non_null(strstr(json_string_value(json_object_get(st, "uplink")), "running"));
	json_decref(st);
	/* The central policy was applied and reported: the collector knows the version. */
	read_events(sc);
	assert_non_null(find_event(sc, "policy.applied", NULL, 0));
	/* A clean stop sends agent.stopped on its way out. */
	agent_stop(sc);
	assert_exactly_once(sc, host);
}

/* The collector is down for the whole scenario, then starts: everything arrives. */
static void test_collector_down_then_up(void **state)
{
	struct sc *sc = *state;
	start_agent(sc);
	int64_t host = enroll_agent(sc);
	unsigned port = g_port;
	assert_int_equal(WIFSIGNALED(stop_server(SIGKILL)) || 1, 1);
	const char *flash = NULL;
	assert_type(sc, plug(sc, "flash_sandisk", "2-1", &flash), "device.blocked");
	unplug(sc, flash);
	assert_type(sc, plug(sc, "flash_kingston", "2-2", &flash), "device.blocked");
	/* The agent says it cannot upload, in words. */
	int64_t deadline = mono_ms() + 8000;
	for (;;) {
		json_t *st = status(sc);
		bool seen = json_is_string(json_object_get(st, "last_error")) &&
		            json_integer_value(json_object_get(st, "spool_depth")) > 0 &&
		            json_is_string(json_object_get(st, "oldest_unsent"));
		json_decref(st);
		if (seen)
			break;
		if (mono_ms() > deadline)
			FAIL_WITH_LOG(sc, "status does not show the unsent events and the error");
		sleep_ms(100);
	}
	restart_server(port);
	assert_exactly_once(sc, host);
	agent_stop(sc);
}

static char admin_token[128];

static void admin_login(void)
{
	if (admin_token[0])
		return;
	json_t *a = NULL;
	long st = post_json("/v1/admin/login",
	                    json_pack("{s:s, s:s}", "name", ADMIN_NAME, "password", ADMIN_PASSWORD),
	                    false, &a);
	assert_int_equal(st, 200);
	snprintf(admin_token, sizeof(admin_token), "%s",
	         json_string_value(json_object_get(a, "token")));
	json_decref(a);
}

static long admin(const char *method, const char *path, const char *body, json_t **out)
{
	admin_login();
	char auth[200];
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", admin_token);
	const char *hdr[] = {auth, "Content-Type: application/json", NULL};
	struct api_reply r;
	long st = api_call(method, path, hdr, body, body ? strlen(body) : 0, NULL, NULL, &r);
	if (out)
		*out = json_incref(r.json);
	api_reply_free(&r);
	return st;
}

/*
 * A device blocked on the terminal, requested with mynaguardctl request, approved through the
 * admin API: allowed after the next poll without re-plugging, by the central rule. Then the
 * terminal restarts with the collector down: the kept policy allows it at once.
 */
static void test_request_approve_no_replug(void **state)
{
	struct sc *sc = *state;
	start_agent(sc);
	int64_t host = enroll_agent(sc);
	const char *flash = NULL;
	json_int_t m = mark(sc);
	assert_type(sc, plug(sc, "flash_sandisk", "2-1", &flash), "device.blocked");
	json_t *devs = list_devices(sc);
	unsigned id = listed_id(devs, flash);
	json_decref(devs);
	char ids[16];
	snprintf(ids, sizeof(ids), "%u", id);
	struct run r;
	CTL(sc, &r, "request", ids, "--reason", "住民票データの移送 (課長承認済み)");
	if (r.status != 0)
		FAIL_WITH_LOG(sc, "request: %s", r.err);
	run_free(&r);

	/* The collector has it, pending, from this host. */
	json_t *req = NULL;
	int64_t deadline = mono_ms() + ARRIVE_MS;
	while (!req) {
		json_t *list = NULL;
		assert_int_equal(admin("GET", "/v1/admin/requests?state=pending", NULL, &list),
		                 200);
		size_t i;
		json_t *o;
		json_array_foreach(json_object_get(list, "requests"), i, o)
		{
			if (json_integer_value(json_object_get(o, "host_id")) == host)
				req = json_incref(o);
		}
		json_decref(list);
		if (!req && mono_ms() > deadline)
			FAIL_WITH_LOG(sc, "the request did not reach the collector");
		if (!req)
			sleep_ms(100);
	}
	assert_string_equal(jstr(req, "device.vendor_id"), "0781");
	assert_string_equal(jstr(req, "reason"), "住民票データの移送 (課長承認済み)");
	assert_non_null(jstr(req, "user"));
	char path[128];
	snprintf(path, sizeof(path), "/v1/admin/requests/%lld/approve",
	         (long long)json_integer_value(json_object_get(req, "id")));
	json_decref(req);
	json_t *ans = NULL;
	assert_int_equal(admin("POST", path, "{}", &ans), 200);
	json_decref(ans);

	/* Allowed without re-plugging, by the central rule. */
	json_t *ev = wait_event(sc, "device.allowed", flash, m);
	const char *src = jstr(ev, "rule.source");
	assert_non_null(src);
	assert_non_null(strstr(src, "central-v"));
	assert_authorized(sc, flash, 1);
	/* The request's state follows (the retry of the same request answers its state). */
	deadline = mono_ms() + ARRIVE_MS;
	for (;;) {
		CTL(sc, &r, "requests", "--json");
		bool approved = r.status == 0 && strstr(r.out, "\"approved\"");
		run_free(&r);
		if (approved)
			break;
		if (mono_ms() > deadline)
			FAIL_WITH_LOG(sc, "the request is not shown approved");
		sleep_ms(100);
	}
	assert_exactly_once(sc, host);

	/* Rebooted offline: the kept policy applies at once. */
	agent_stop(sc);
	unsigned port = g_port;
	stop_server(SIGTERM);
	m = mark(sc);
	agent_spawn(sc);
	wait_notify(sc, "READY=1");
	ev = wait_event(sc, "device.allowed", flash, m);
	assert_non_null(strstr(jstr(ev, "rule.source"), "central-v"));
	assert_authorized(sc, flash, 1);
	agent_stop(sc);
	restart_server(port);
}

/* The uplink the agent started (a child of the agent), 0 when there is none. */
static pid_t uplink_pid(const struct sc *sc)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;
	while (d && (e = readdir(d)) && !found) {
		char path[300], buf[512];
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		FILE *f = fopen(path, "re");
		if (!f)
			continue;
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		const char *rp = strrchr(buf, ')'); /* "pid (comm) state ppid ..." */
		int ppid = 0;
		char st = 0;
		if (rp && sscanf(rp + 1, " %c %d", &st, &ppid) == 2 && ppid == sc->pid && st != 'Z')
			found = (pid_t)atoi(e->d_name);
	}
	if (d)
		closedir(d);
	return found;
}

static pid_t wait_uplink(struct sc *sc)
{
	int64_t deadline = mono_ms() + 8000;
	pid_t p;
	while (!(p = uplink_pid(sc))) {
		if (mono_ms() > deadline)
			FAIL_WITH_LOG(sc, "no uplink process");
		sleep_ms(20);
	}
	return p;
}

/* Devices in and out: events to upload. */
static void churn(struct sc *sc, unsigned rounds)
{
	for (unsigned i = 0; i < rounds; i++) {
		const char *flash = NULL;
		assert_type(sc, plug(sc, i % 2 ? "flash_kingston" : "flash_sandisk", "2-1", &flash),
		            "device.blocked");
		unplug(sc, flash);
	}
}

/*
 * kill -9 of the uplink in the middle of its work, then of the agent: the agent restarts the
 * uplink; after the agent's restart (same boot) everything arrives once. A restart also
 * resends what was acknowledged but not yet deleted (acknowledgements are not kept across
 * restarts): the collector stores it once.
 */
static void test_kill_uplink_and_agent(void **state)
{
	struct sc *sc = *state;
	start_agent(sc);
	int64_t host = enroll_agent(sc);
	pid_t up = wait_uplink(sc);
	churn(sc, 3);
	assert_int_equal(kill(up, SIGKILL), 0);
	churn(sc, 3);
	pid_t up2 = wait_uplink(sc); /* restarted after its backoff */
	assert_true(up2 != up);
	assert_exactly_once(sc, host);
	churn(sc, 3);
	assert_int_equal(kill(sc->pid, SIGKILL), 0);
	(void)waitpid(sc->pid, NULL, 0);
	sc->pid = -1;
	/* The uplink dies with the agent (PR_SET_PDEATHSIG): nothing is left running. */
	int64_t deadline = mono_ms() + 5000;
	while (kill(up2, 0) == 0) {
		if (mono_ms() > deadline)
			fail_msg("the uplink %d outlived its agent", (int)up2);
		sleep_ms(20);
	}
	agent_spawn(sc);
	wait_notify(sc, "READY=1");
	churn(sc, 2);
	assert_exactly_once(sc, host);
	agent_stop(sc);
}

/* The collector armed to kill itself at point (mynaguard-collector-faults), on port. */
static void start_faulty(const char *point, unsigned port)
{
	const char *faults = getenv("MG_COLLECTOR_FAULTS");
	assert_non_null(faults);
	const char *normal = g_bin;
	assert_true(WIFEXITED(stop_server(SIGTERM)));
	assert_int_equal(setenv("MG_FAULT_POINT", point, 1), 0);
	g_bin = faults;
	restart_server(port);
	g_bin = normal;
	assert_int_equal(unsetenv("MG_FAULT_POINT"), 0);
}

/* kill -9 of the collector before and after the commit of a batch: the agent retries and the
 * collector holds every event once. */
static void test_kill_collector_around_commit(void **state)
{
	struct sc *sc = *state;
	start_agent(sc);
	int64_t host = enroll_agent(sc);
	assert_exactly_once(sc, host);
	unsigned port = g_port;
	const char *points[] = {"ingest.before_commit", "events.after_commit"};
	for (size_t i = 0; i < 2; i++) {
		start_faulty(points[i], port);
		churn(sc, 1); /* the batch that meets the fault point */
		int st = reap(g_pid);
		g_pid = -1;
		if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
			FAIL_WITH_LOG(sc, "the collector did not die at %s", points[i]);
		restart_server(port);
		assert_exactly_once(sc, host);
	}
	agent_stop(sc);
}

/*
 * A tiny spool while the collector is down: decisions are still enforced, security events
 * keep priority, what did not fit is reported as spool.dropped once there is room; the
 * collector gets exactly what the spool kept.
 */
static void test_spool_full(void **state)
{
	struct sc *sc = *state;
	start_agent(sc);
	int64_t host = enroll_agent(sc);
	agent_stop(sc);
	assert_exactly_once(sc, host);
	/* Restarted with a tiny spool while the collector is down: nothing is acknowledged, so
	 * nothing leaves the spool before the harness has read it. */
	unsigned port = g_port;
	assert_true(WIFEXITED(stop_server(SIGTERM)));
	write_conf(sc, pipeline_conf("spool_max_bytes = 16384\n"));
	sc->allow_gaps = true; /* tiny segments go as soon as they are acknowledged */
	agent_spawn(sc);
	wait_notify(sc, "READY=1");
	/* A keyboard while there is room: allowed and recorded. */
	const char *kbd = NULL;
	assert_type(sc, plug(sc, "keyboard", "1-1", &kbd), "device.allowed");
	/* Far more than 16 KiB of events: each stick is still blocked, also when its event no
	 * longer fits (so the test waits for the agent, not for events). */
	for (unsigned i = 0; i < 30; i++) {
		const char *flash = mg_tb_add(sc->tb, catalog("flash_sandisk"), "2-1", NULL);
		assert_non_null(flash);
		sync_agent(sc);
		assert_authorized(sc, flash, 0);
		assert_int_equal(mg_tb_remove(sc->tb, flash), 0);
		sync_agent(sc);
		read_events(sc);
	}
	assert_authorized(sc, kbd, 1);
	json_t *st = status(sc);
	assert_true(json_integer_value(json_object_get(st, "spool_bytes")) <= 16384);
	json_decref(st);
	/* Security events kept their room: more blocks than routine events were kept. */
	read_events(sc);
	size_t blocked = 0, routine = 0, i;
	json_t *e;
	json_array_foreach(sc->evs, i, e)
	{
		const char *t = jstr(e, "type");
		if (ev_seq(e) <= 3)
			continue; /* before the outage */
		blocked += t && strcmp(t, "device.blocked") == 0;
		routine +=
		    t && (strcmp(t, "device.inserted") == 0 || strcmp(t, "device.removed") == 0);
	}
	assert_true(blocked > 0);
	restart_server(port);
	json_t *ev = NULL;
	int64_t deadline = mono_ms() + ARRIVE_MS;
	while (!(ev = find_event(sc, "spool.dropped", NULL, 0))) {
		if (mono_ms() > deadline)
			FAIL_WITH_LOG(sc, "no spool.dropped event");
		sleep_ms(50);
		read_events(sc);
	}
	assert_true(json_integer_value(jget(ev, "spool.dropped_routine")) > 0);
	assert_exactly_once(sc, host);
	/* Stopped: agent.stopped goes to the collector on the way out (and may leave the tiny
	 * spool before the harness reads it). */
	json_int_t last = (json_int_t)sc->last_seq;
	assert_int_equal(kill(sc->pid, SIGTERM), 0);
	int ws = 0;
	assert_int_equal(waitpid(sc->pid, &ws, 0), sc->pid);
	sc->pid = -1;
	assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	json_t *got = collector_events(host);
	bool stopped = false;
	size_t k;
	json_t *g;
	json_array_foreach(got, k, g) stopped |=
	    ev_seq(g) > last && strcmp(jstr(g, "type"), "agent.stopped") == 0;
	json_decref(got);
	assert_true(stopped);
	assert_exactly_once(sc, host);
}

/*
 * A central rule that would cut the keyboard off (block it: first match wins over the local
 * profile) is refused by the lock-out guard: policy.rejected names the device, the keyboard
 * keeps working and the previous central version stays applied. Removing the rule publishes
 * a version that is applied again.
 */
static void test_central_lockout_refused(void **state)
{
	struct sc *sc = *state;
	start_agent(sc);
	int64_t host = enroll_agent(sc);
	const char *kbd = NULL;
	assert_type(sc, plug(sc, "keyboard", "1-1", &kbd), "device.allowed");
	json_t *st = status(sc);
	json_int_t before = json_integer_value(json_object_get(st, "policy_version"));
	json_decref(st);
	json_int_t m = mark(sc);
	char body[200];
	snprintf(body, sizeof(body), "{\"rule\":\"block id 046d:c31c\",\"host_id\":%lld}",
	         (long long)host);
	json_t *ans = NULL;
	assert_int_equal(admin("POST", "/v1/admin/rules", body, &ans), 201);
	json_int_t rule_id = json_integer_value(json_object_get(ans, "id"));
	json_decref(ans);
	json_t *ev = wait_event(sc, "policy.rejected", NULL, m);
	const char *why = jstr(ev, "policy.reason");
	assert_non_null(why);
	assert_non_null(strstr(why, "lock-out"));
	assert_non_null(strstr(why, "046d:c31c"));
	assert_authorized(sc, kbd, 1);
	st = status(sc);
	assert_int_equal(json_integer_value(json_object_get(st, "policy_version")), before);
	json_decref(st);
	/* The rule goes: the next version applies. */
	char path[64];
	snprintf(path, sizeof(path), "/v1/admin/rules/%lld", (long long)rule_id);
	assert_int_equal(admin("DELETE", path, NULL, NULL), 200);
	m = mark(sc);
	ev = wait_event(sc, "policy.applied", NULL, m);
	assert_true(json_integer_value(jget(ev, "policy.version")) > before);
	assert_exactly_once(sc, host);
	agent_stop(sc);
}

/*
 * The kept policy has expired while the terminal was off: it is not applied at boot (the
 * terminal falls back to its local rules: the approved stick stays blocked) and
 * policy.rejected says why.
 */
static void test_expired_policy_at_boot(void **state)
{
	struct sc *sc = *state;
	start_agent(sc);
	(void)enroll_agent(sc);
	agent_stop(sc);
	/* A bundle signed with the collector's own key that allows the stick, expired an hour ago,
	 * put where the agent keeps its last good policy. */
	char keypath[600];
	snprintf(keypath, sizeof(keypath), "%s/policy.key", g_dir);
	struct mg_policy_key *k = NULL;
	assert_int_equal(mg_policy_key_load(keypath, &k), 0);
	static char rules[] = "allow id 0781:5583\n";
	int64_t now = mg_now_us();
	struct mg_policy_bundle b = {.version = 1000,
	                             .issued_us = now - 7200000000LL,
	                             .expires_us = now - 3600000000LL,
	                             .all_hosts = true,
	                             .rules = rules};
	char *json = NULL, sig[MG_POLICY_SIG_B64_SIZE];
	assert_int_equal(mg_policy_bundle_to_json(&b, &json, NULL), 0);
	assert_int_equal(mg_policy_sign(k, json, strlen(json), sig), 0);
	mg_policy_key_free(&k);
	json_t *o = json_pack("{s:I, s:s, s:s}", "version", (json_int_t)1000, "bundle", json,
	                      "signature", sig);
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	free(json);
	char path[300];
	snprintf(path, sizeof(path), "%s/policy.json", sc->state);
	write_file(path, text, 0600);
	free(text);
	/* Offline: the collector must not hand out a fresh version meanwhile. */
	unsigned port = g_port;
	assert_true(WIFEXITED(stop_server(SIGTERM)));
	json_int_t m = mark(sc);
	const char *flash = mg_tb_add(sc->tb, catalog("flash_sandisk"), "2-1", NULL);
	assert_non_null(flash);
	agent_spawn(sc);
	wait_notify(sc, "READY=1");
	json_t *ev = wait_event(sc, "policy.rejected", NULL, m);
	assert_int_equal(json_integer_value(jget(ev, "policy.version")), 1000);
	assert_non_null(strstr(jstr(ev, "policy.reason"), "expired"));
	assert_non_null(strstr(jstr(ev, "policy.reason"), "local rules only"));
	ev = wait_decision(sc, flash, m);
	assert_type(sc, ev, "device.blocked");
	assert_authorized(sc, flash, 0);
	json_t *st = status(sc);
	assert_int_equal(json_integer_value(json_object_get(st, "policy_version")), 0);
	json_decref(st);
	agent_stop(sc);
	restart_server(port);
}

/* As root without the uplink user: no uplink (never as root), said in status; enrolment
 * refused with the reason. */
static void test_no_uplink_user(void **state)
{
	struct sc *sc = *state;
	if (geteuid() != 0)
		skip(); /* not root: the uplink runs as the agent's own user */
	snprintf(conf_extra, sizeof(conf_extra),
	         "uplink_binary = %s\nuplink_user = mg-no-such-user\n", uplink_bin);
	agent_start(sc, RULES, conf_extra);
	json_t *st = NULL;
	int64_t deadline = mono_ms() + 8000;
	for (;;) {
		st = status(sc);
		const char *up = json_string_value(json_object_get(st, "uplink"));
		if (up && strstr(up, "disabled") && strstr(up, "mg-no-such-user"))
			break;
		json_decref(st);
		if (mono_ms() > deadline)
			FAIL_WITH_LOG(sc, "status does not say the uplink is disabled");
		sleep_ms(50);
	}
	json_decref(st);
	assert_int_equal(uplink_pid(sc), 0);
	char tok[128], url[64], ca[600];
	token_create(tok, sizeof(tok));
	snprintf(url, sizeof(url), "https://127.0.0.1:%u", g_port);
	snprintf(ca, sizeof(ca), "%s/ca.pem", g_dir);
	struct run r;
	CTL(sc, &r, "enroll", "--collector", url, "--token", tok, "--ca", ca);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "does not exist"));
	run_free(&r);
	agent_stop(sc);
}

/* Copies the file at from to to (both may be absent: then to is removed). */
static void copy_file(const char *from, const char *to)
{
	FILE *in = fopen(from, "rb");
	if (!in) {
		assert_int_equal(errno, ENOENT);
		assert_true(unlink(to) == 0 || errno == ENOENT);
		return;
	}
	char tmp[1200];
	snprintf(tmp, sizeof(tmp), "%s.tmp", to);
	FILE *out = fopen(tmp, "wb"); /* a new file renamed over: open handles keep the old */
	assert_non_null(out);
	static char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	assert_int_equal(ferror(in), 0);
	fclose(in);
	assert_int_equal(fclose(out), 0);
	assert_int_equal(rename(tmp, to), 0);
}

/* The SQLite database and its -wal and -shm files, copied from (suffix from) to (suffix to). */
static void copy_db(const char *from, const char *to)
{
	const char *db = g_db + strlen("sqlite:");
	const char *parts[] = {"", "-wal", "-shm"};
	for (size_t i = 0; i < 3; i++) {
		char a[1100], b[1100];
		snprintf(a, sizeof(a), "%s%s%s", db, from, parts[i]);
		snprintf(b, sizeof(b), "%s%s%s", db, to, parts[i]);
		copy_file(a, b);
	}
}

/*
 * The collector's database is restored from a backup taken before the last uploads: the
 * collector asks for the events it lost again (409 resend_from below what it had
 * acknowledged) and the agent sends them once more from its spool, instead of resending the
 * same batch for ever.
 */
static void test_collector_restored_from_backup(void **state)
{
	struct sc *sc = *state;
	if (strncmp(g_db, "sqlite:", 7) != 0)
		skip(); /* a file copy is the backup only on SQLite; the agent's part is the same */
	start_agent(sc);
	int64_t host = enroll_agent(sc);
	churn(sc, 1);
	assert_exactly_once(sc, host);
	unsigned port = g_port;
	assert_true(WIFEXITED(stop_server(SIGTERM)));
	copy_db("", ".backup");
	restart_server(port);
	churn(sc, 3); /* acknowledged by the collector, then lost with the restore */
	assert_exactly_once(sc, host);
	assert_true(WIFEXITED(stop_server(SIGTERM)));
	copy_db(".backup", "");
	restart_server(port);
	churn(sc, 1);
	assert_exactly_once(sc, host);
	agent_stop(sc);
}

static char mounted[160]; /* a tmpfs the disk-full scenario mounted, "" when none */

static int teardown_umount(void **state)
{
	struct sc *sc = *state;
	if (sc && sc->pid > 0) { /* nothing may keep the mount busy */
		kill(sc->pid, SIGKILL);
		(void)waitpid(sc->pid, NULL, 0);
		sc->pid = -1;
	}
	if (mounted[0] && umount2(mounted, MNT_DETACH) < 0)
		fprintf(stderr, "cannot unmount %s: %s\n", mounted, strerror(errno));
	mounted[0] = '\0';
	return sc_teardown(state);
}

/*
 * The disk under state_dir fills up (a 96 KiB tmpfs; the spool's own bound is far above):
 * sticks stay blocked, the events the disk refused are counted and reported as spool.dropped
 * once acknowledged segments have gone, and the collector gets exactly what the spool kept.
 * Needs root and a tmpfs mount: skipped with a message otherwise.
 */
static void test_disk_full(void **state)
{
	struct sc *sc = *state;
	if (geteuid() != 0) {
		fprintf(stderr, "disk-full scenario skipped: mounting a tmpfs needs root\n");
		skip();
	}
	assert_int_equal(mkdir(sc->state, 0700), 0);
	if (mount("tmpfs", sc->state, "tmpfs", MS_NOSUID | MS_NODEV, "size=96k,mode=0700") < 0) {
		fprintf(stderr, "disk-full scenario skipped: cannot mount a tmpfs on %s: %s\n",
		        sc->state, strerror(errno));
		skip();
	}
	snprintf(mounted, sizeof(mounted), "%s", sc->state);
	snprintf(conf_extra, sizeof(conf_extra),
	         "uplink_binary = %s\nuplink_user = nobody\npoll_interval = 1\n"
	         "heartbeat_interval = 1\nspool_max_bytes = 1048576\n",
	         uplink_bin);
	agent_start(sc, RULES, conf_extra);
	int64_t host = enroll_agent(sc);
	assert_exactly_once(sc, host);
	sc->allow_gaps = true; /* 64 KiB segments go once acknowledged */
	unsigned port = g_port;
	assert_true(WIFEXITED(stop_server(SIGTERM)));
	/* Until the disk refuses events, and some more: every stick stays blocked. */
	for (unsigned i = 0; i < 55; i++) {
		const char *flash = mg_tb_add(sc->tb, catalog("flash_sandisk"), "2-1", NULL);
		if (!flash)
			FAIL_WITH_LOG(sc, "cannot add the stick (round %u)", i);
		sync_agent(sc);
		assert_authorized(sc, flash, 0);
		assert_int_equal(mg_tb_remove(sc->tb, flash), 0);
		sync_agent(sc);
		if (i % 20 == 0)
			read_events(sc);
	}
	read_events(sc);
	char log[PATH_MAX];
	snprintf(log, sizeof(log), "%s", sc->log);
	char *text = read_all(log, NULL);
	assert_non_null(text);
	bool full = strstr(text, "No space left on device") != NULL;
	free(text);
	if (!full)
		FAIL_WITH_LOG(sc, "the disk never filled up");
	restart_server(port);
	struct run r;
	CTL(sc, &r, "sync"); /* now, not at the next backoff step */
	run_free(&r);
	json_t *ev = NULL;
	int64_t deadline = mono_ms() + ARRIVE_MS;
	while (!(ev = find_event(sc, "spool.dropped", NULL, 0))) {
		if (mono_ms() > deadline)
			FAIL_WITH_LOG(sc, "no spool.dropped event after the disk had room again");
		sleep_ms(50);
		read_events(sc);
	}
	assert_true(json_integer_value(jget(ev, "spool.dropped_routine")) +
	                json_integer_value(jget(ev, "spool.dropped_security")) >
	            0);
	assert_exactly_once(sc, host);
}

int main(void)
{
	if (pipeline_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_enroll_and_upload, sc_setup, sc_teardown),
	    cmocka_unit_test_setup_teardown(test_collector_down_then_up, sc_setup, sc_teardown),
	    cmocka_unit_test_setup_teardown(test_request_approve_no_replug, sc_setup, sc_teardown),
	    cmocka_unit_test_setup_teardown(test_kill_uplink_and_agent, sc_setup, sc_teardown),
	    cmocka_unit_test_setup_teardown(test_kill_collector_around_commit, sc_setup,
	                                    sc_teardown),
	    cmocka_unit_test_setup_teardown(test_collector_restored_from_backup, sc_setup,
	                                    sc_teardown),
	    cmocka_unit_test_setup_teardown(test_spool_full, sc_setup, sc_teardown),
	    cmocka_unit_test_setup_teardown(test_central_lockout_refused, sc_setup, sc_teardown),
	    cmocka_unit_test_setup_teardown(test_expired_policy_at_boot, sc_setup, sc_teardown),
	    cmocka_unit_test_setup_teardown(test_no_uplink_user, sc_setup, sc_teardown),
	    cmocka_unit_test_setup_teardown(test_disk_full, sc_setup, teardown_umount),
	};
	return api_main("pipeline", tests, sizeof(tests) / sizeof(tests[0]));
}
