/*
 * mynaguard-collector's command line (events, hosts, rules, serve limits and collector.conf),
 * run as a program on the harness of api_harness.h (init with the first admin, serve).
 * Outcomes are checked in what the commands print, their exit status and the database.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "admin_auth.h"
#include "api_body.h"
#include "api_harness.h"
#include "mg/event.h"
#include "mg/time.h"
#include "store.h"

#define BOOT     "7d2c0e4a-61b3-4f0e-8c55-3a9e1f04b2d7"
#define T0       1767225600000000LL /* 2026-01-01T00:00:00Z */
#define MANY     2500u              /* more than two pages of `events` */
#define OUT_SIZE (4u * 1024u * 1024u)

static int64_t g_host1, g_host2, g_host3; /* host3 shares host2's name */
static char *g_out, *g_err;               /* stdout and stderr of the last run */

/* ---- running the collector ---- */

/* Runs the collector with args (NULL-terminated), stdout into g_out and stderr into g_err.
 * Returns the exit status. */
static int cli(const char *const *args)
{
	int saved = dup(2), fd = open(g_dir, O_TMPFILE | O_RDWR, 0600);
	ssize_t n;
	int st;
	assert_true(saved >= 0 && fd >= 0);
	fflush(stderr);
	dup2(fd, 2);
	st = runv(g_out, OUT_SIZE, args);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, g_err, 65535, 0);
	g_err[n > 0 ? n : 0] = '\0';
	close(fd);
	return st;
}

/* cli() with "--data-dir DIR --db URL" after the first two words (a1 a2). */
static int cli_dd(const char *a1, const char *a2, const char *const *rest)
{
	const char *args[40] = {a1, a2};
	size_t n = a2 ? 2 : 1;
	args[n++] = "--data-dir";
	args[n++] = g_dir;
	args[n++] = "--db";
	args[n++] = g_db;
	for (size_t i = 0; rest && rest[i] && n < 39; i++)
		args[n++] = rest[i];
	args[n] = NULL;
	return cli(args);
}

/* "rules SUB --data-dir DIR --db URL REST..." from {SUB, REST...}. */
static int rules_run(const char *const *words)
{
	return cli_dd("rules", words[0], words + 1);
}

#define EVENTS(...) cli_dd("events", NULL, (const char *const[]){__VA_ARGS__, NULL})
#define RULES(...)  rules_run((const char *const[]){__VA_ARGS__, NULL})

static size_t count_lines(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Every line of g_out parses as a JSON object; calls check on each (optional). */
static size_t json_lines(void (*check)(json_t *o, const void *ctx), const void *ctx)
{
	size_t n = 0;
	for (char *p = g_out, *nl; *p; p = nl + 1) {
		json_error_t e;
		json_t *o;
		nl = strchr(p, '\n');
		assert_non_null(nl);
		o = json_loadb(p, (size_t)(nl - p), 0, &e);
		if (!o)
			fail_msg("line %zu is not JSON: %s", n + 1, e.text);
		assert_true(json_is_object(o));
		if (check)
			check(o, ctx);
		json_decref(o);
		n++;
	}
	return n;
}

/* Japanese (no locale variable) or English (LC_ALL=en_US.UTF-8) for the next runs. */
static void language(bool english)
{
	unsetenv("LC_MESSAGES");
	unsetenv("LANG");
	if (english)
		setenv("LC_ALL", "en_US.UTF-8", 1);
	else
		unsetenv("LC_ALL");
}

/* A file with text and mode. */
static void conf(const char *path, const char *text, mode_t mode)
{
	write_text(path, text);
	assert_int_equal(chmod(path, mode), 0);
}

/* ---- events in the store ---- */

static void ingest(struct mg_store *s, int64_t host, struct mg_event **evs, size_t n)
{
	struct mg_store_event *rows = calloc(n, sizeof(*rows));
	char(*hash)[65] = calloc(n, 65);
	char **json = calloc(n, sizeof(char *));
	struct mg_ingest_result res;
	uint64_t from = 0;
	assert_non_null(rows);
	assert_non_null(hash);
	assert_non_null(json);
	assert_int_equal(mg_store_cursor_get(s, host, BOOT, &from), 0);
	for (size_t i = 0; i < n; i++) {
		struct mg_event *ev = evs[i];
		size_t len;
		ev->seq = from + 1 + i;
		memcpy(ev->boot_id, BOOT, sizeof(ev->boot_id));
		assert_int_equal(mg_event_to_json(ev, &json[i], &len), 0);
		assert_int_equal(mg_sha256_hex(json[i], len, hash[i]), 0);
		rows[i] = (struct mg_store_event){
		    .seq = ev->seq,
		    .time_us = ev->time_us,
		    .type = mg_event_type_name(ev->type),
		    .json = json[i],
		    .hash = hash[i],
		    .prev_hash = i ? hash[i - 1] : NULL,
		    .user = ev->user ? ev->user->name : NULL,
		    .device_serial = ev->device ? ev->device->serial : NULL,
		    .device_vendor_id = ev->device ? ev->device->vendor_id : NULL,
		    .device_product_id = ev->device ? ev->device->product_id : NULL,
		    .device_name = ev->device ? ev->device->name : NULL,
		};
	}
	assert_int_equal(mg_store_ingest(s, host, BOOT, rows, n, mg_now_us(), &res), 0);
	assert_int_equal(res.status, MG_INGEST_OK);
	assert_int_equal(res.stored, n);
	for (size_t i = 0; i < n; i++) {
		free(json[i]);
		mg_event_free(&evs[i]);
	}
	free(json);
	free(hash);
	free(rows);
}

static struct mg_event *event(enum mg_event_type type, int64_t t, const char *host)
{
	struct mg_event *ev = mg_event_new(type);
	assert_non_null(ev);
	ev->time_us = t;
	assert_int_equal(mg_set_str(&ev->host, host), 0);
	return ev;
}

static struct mg_event *agent_started(int64_t t, const char *host)
{
	struct mg_event *ev = event(MG_EV_AGENT_STARTED, t, host);
	assert_int_equal(mg_set_str(&mg_event_agent(ev)->version, "0.1.0"), 0);
	mg_event_agent(ev)->pid = 812;
	return ev;
}

/* A device whose name tries to drive the terminal (ESC [2J clears the screen). */
static struct mg_event *device_blocked(int64_t t, const char *host)
{
	struct mg_event *ev = event(MG_EV_DEVICE_BLOCKED, t, host);
	struct mg_event_device *d = mg_event_device(ev);
	struct mg_event_decision *dec = mg_event_decision(ev);
	assert_int_equal(mg_set_str(&d->vendor_id, "0781"), 0);
	assert_int_equal(mg_set_str(&d->product_id, "5581"), 0);
	assert_int_equal(mg_set_str(&d->serial, "4C530001230517115103"), 0);
	assert_int_equal(mg_set_str(&d->name, "Ultra\x1b[2J"), 0);
	assert_int_equal(mg_set_str(&d->port, "1-2"), 0);
	assert_int_equal(mg_set_str(&dec->target, "block"), 0);
	assert_int_equal(mg_set_str(&dec->mode, "enforce"), 0);
	dec->applied = true;
	return ev;
}

static struct mg_event *auth_failure(int64_t t, const char *host)
{
	struct mg_event *ev = event(MG_EV_AUTH_FAILURE, t, host);
	assert_int_equal(mg_set_str(&mg_event_user(ev)->name, "tanaka"), 0);
	assert_int_equal(mg_set_str(&mg_event_user(ev)->service, "login"), 0);
	assert_int_equal(mg_set_str(&mg_event_auth(ev)->factor, "totp"), 0);
	assert_int_equal(mg_set_str(&mg_event_auth(ev)->reason, "wrong-code"), 0);
	mg_event_auth(ev)->failures = 2;
	return ev;
}

/* ---- tests (in order: later ones use the state of earlier ones) ---- */

static void test_setup_data(void **state)
{
	struct mg_store *s = store();
	struct mg_event *evs[3];
	struct mg_event **many = calloc(MANY, sizeof(*many));
	int64_t now = mg_now_us();
	(void)state;
	assert_int_equal(mg_store_host_add(s, "mn-term-01", "0a01", now, &g_host1), 0);
	assert_int_equal(mg_store_host_add(s, "mn-term-02", "0a02", now, &g_host2), 0);
	assert_int_equal(mg_store_host_add(s, "mn-term-02", "0a03", now, &g_host3), 0);
	assert_int_equal(mg_store_host_heartbeat(s, g_host1, now, 17, 0, 4, "0.1.0"), 0);
	assert_int_equal(mg_store_host_revoke(s, NULL, g_host3, now), 0);
	/* host 1: three kinds at T0 + 1 s, 2 s, 3 s */
	evs[0] = agent_started(T0 + 1000000, "mn-term-01");
	evs[1] = device_blocked(T0 + 2000000, "mn-term-01");
	evs[2] = auth_failure(T0 + 3000000, "mn-term-01");
	ingest(s, g_host1, evs, 3);
	/* host 2: many, one millisecond apart from T0 + 1 h */
	assert_non_null(many);
	for (size_t i = 0; i < MANY; i++)
		many[i] = agent_started(T0 + 3600000000LL + (int64_t)i * 1000, "mn-term-02");
	ingest(s, g_host2, many, MANY);
	free(many);
	mg_store_close(&s);
}

static void check_host1_type(json_t *o, const void *ctx)
{
	const char *want = ctx;
	assert_string_equal(json_string_value(json_object_get(o, "host")), "mn-term-01");
	if (want)
		assert_string_equal(json_string_value(json_object_get(o, "type")), want);
}

static void test_events_json(void **state)
{
	char id[24];
	(void)state;
	snprintf(id, sizeof(id), "%" PRId64, g_host1);
	/* by host id and by its name: the three events, each one stored JSON line */
	assert_int_equal(EVENTS("--host", id, "--json"), 0);
	assert_int_equal(json_lines(check_host1_type, NULL), 3);
	assert_non_null(strstr(g_out, "\"type\":\"device.blocked\""));
	assert_int_equal(EVENTS("--host", "mn-term-01", "--json"), 0);
	assert_int_equal(json_lines(check_host1_type, NULL), 3);
	/* filters */
	assert_int_equal(EVENTS("--type", "device.blocked", "--json"), 0);
	assert_int_equal(json_lines(check_host1_type, "device.blocked"), 1);
	assert_int_equal(EVENTS("--user", "tanaka", "--json"), 0);
	assert_int_equal(json_lines(check_host1_type, "auth.failure"), 1);
	assert_int_equal(EVENTS("--serial", "4C530001230517115103", "--json"), 0);
	assert_int_equal(json_lines(check_host1_type, "device.blocked"), 1);
	/* [from, to): the second event only, the bounds given in JST */
	assert_int_equal(EVENTS("--from", "2026-01-01T09:00:02+09:00", "--to",
	                        "2026-01-01T09:00:03+09:00", "--json"),
	                 0);
	assert_int_equal(json_lines(check_host1_type, "device.blocked"), 1);
	assert_int_equal(EVENTS("--host", id, "--limit", "2", "--json"), 0);
	assert_int_equal(json_lines(check_host1_type, NULL), 2);
}

static void test_events_pages(void **state)
{
	char id[24];
	(void)state;
	/* every row across pages of the store, in order, once */
	snprintf(id, sizeof(id), "%" PRId64, g_host2);
	assert_int_equal(EVENTS("--host", id, "--json"), 0);
	assert_int_equal(json_lines(NULL, NULL), MANY);
	{
		char *last = g_out + strlen(g_out) - 1;
		while (last > g_out && last[-1] != '\n')
			last--;
		assert_non_null(strstr(last, "\"seq\":2500,"));
	}
	assert_int_equal(EVENTS("--host", id, "--limit", "1500", "--json"), 0);
	assert_int_equal(json_lines(NULL, NULL), 1500);
	assert_int_equal(EVENTS("--host", id, "--from", "2026-01-01T01:00:02Z"), 0);
	assert_int_equal(count_lines(g_out), 1 + MANY - 2000); /* heading + rows */
}

static void test_events_table(void **state)
{
	(void)state;
	language(false);
	assert_int_equal(EVENTS("--host", "mn-term-01"), 0);
	assert_int_equal(count_lines(g_out), 4);
	assert_non_null(strstr(g_out, "時刻"));
	assert_non_null(strstr(g_out, "利用者"));
	assert_null(strstr(g_out, "TIME"));
	/* the rows: host name, type, user, device, summary; the ESC from the device shown as ? */
	assert_non_null(strstr(g_out, "mn-term-01"));
	assert_non_null(strstr(g_out, "auth.failure"));
	assert_non_null(strstr(g_out, "tanaka"));
	assert_non_null(strstr(g_out, "0781:5581 Ultra?[2J"));
	assert_non_null(strstr(g_out, "factor=totp reason=wrong-code failures=2"));
	assert_null(strchr(g_out, '\x1b'));
	language(true);
	assert_int_equal(EVENTS("--host", "mn-term-01"), 0);
	assert_non_null(strstr(g_out, "TIME"));
	assert_non_null(strstr(g_out, "SUMMARY"));
	assert_null(strstr(g_out, "時刻"));
	language(false);
}

static void test_events_errors(void **state)
{
	(void)state;
	language(true);
	/* two hosts share a name: the id is needed */
	assert_int_equal(EVENTS("--host", "mn-term-02"), 1);
	assert_non_null(strstr(g_err, "2 hosts"));
	assert_int_equal(EVENTS("--host", "nosuch"), 1);
	assert_non_null(strstr(g_err, "nosuch"));
	assert_int_equal(EVENTS("--host", "99999"), 1);
	/* usage: bad times, limits, unknown and repeated options, a missing value */
	assert_int_equal(EVENTS("--from", "yesterday"), 2);
	assert_non_null(strstr(g_err, "--from yesterday"));
	assert_int_equal(EVENTS("--from", "2026-01-02T00:00:00Z", "--to", "2026-01-01T00:00:00Z"),
	                 2);
	{
		char long_type[300];
		memset(long_type, 'x', sizeof(long_type) - 1);
		long_type[sizeof(long_type) - 1] = '\0';
		assert_int_equal(EVENTS("--type", long_type), 2);
	}
	assert_int_equal(EVENTS("--limit", "0"), 2);
	assert_int_equal(EVENTS("--limit", "-1"), 2);
	assert_int_equal(EVENTS("--bogus", "1"), 2);
	assert_non_null(strstr(g_err, "--bogus"));
	assert_int_equal(EVENTS("--json", "--json"), 2);
	assert_int_equal(EVENTS("--type"), 2);
	assert_int_equal(EVENTS("stray"), 2);
	/* a limit option is for serve only */
	assert_int_equal(EVENTS("--threads", "2"), 2);
	{
		const char *args[] = {"events", NULL};
		assert_int_equal(cli(args), 2);
		assert_non_null(strstr(g_err, "--data-dir"));
	}
	language(false);
}

static void check_host(json_t *o, const void *ctx)
{
	const char *name = json_string_value(json_object_get(o, "hostname"));
	int64_t id = (int64_t)json_integer_value(json_object_get(o, "id"));
	(void)ctx;
	assert_non_null(name);
	assert_true(json_is_boolean(json_object_get(o, "revoked")));
	assert_int_equal(json_is_true(json_object_get(o, "revoked")), id == g_host3);
	if (id == g_host1) {
		assert_int_equal(json_integer_value(json_object_get(o, "spool_depth")), 17);
		assert_int_equal(json_integer_value(json_object_get(o, "policy_version")), 4);
		assert_string_equal(json_string_value(json_object_get(o, "agent_version")),
		                    "0.1.0");
		assert_true(json_is_string(json_object_get(o, "last_seen")));
	}
}

static void test_hosts(void **state)
{
	(void)state;
	assert_int_equal(cli_dd("hosts", NULL, (const char *const[]){"--json", NULL}), 0);
	assert_int_equal(json_lines(check_host, NULL), 3);
	language(false);
	assert_int_equal(cli_dd("hosts", NULL, NULL), 0);
	assert_int_equal(count_lines(g_out), 4);
	assert_non_null(strstr(g_out, "ホスト名"));
	assert_non_null(strstr(g_out, "失効"));
	assert_non_null(strstr(g_out, "mn-term-01"));
	language(true);
	assert_int_equal(cli_dd("hosts", NULL, NULL), 0);
	assert_non_null(strstr(g_out, "HOSTNAME"));
	assert_non_null(strstr(g_out, "revoked"));
	assert_int_equal(cli_dd("hosts", NULL, (const char *const[]){"--host", "1", NULL}), 2);
	language(false);
}

/* ---- rules ---- */

static uint64_t latest_policy(void)
{
	struct mg_store *s = store();
	uint64_t v = 0;
	assert_int_equal(mg_store_policy_latest(s, &v), 0);
	mg_store_close(&s);
	return v;
}

static json_t *out_json(void)
{
	json_t *o = json_loads(g_out, 0, NULL);
	assert_non_null(o);
	return o;
}

struct actions {
	char want[MG_STORE_NAME_SIZE];
	unsigned adds, removes, passwords;
};

static int on_action(void *ctx, const struct mg_store_admin_action *a)
{
	struct actions *x = ctx;
	if (strcmp(a->admin, x->want) != 0)
		return 0;
	x->adds += strcmp(a->action, "rule.add") == 0;
	x->removes += strcmp(a->action, "rule.remove") == 0;
	x->passwords += strcmp(a->action, "admin.password") == 0;
	return 0;
}

static struct actions cli_actions(void)
{
	struct passwd *pw = getpwuid(geteuid());
	struct actions x = {.adds = 0};
	struct mg_store *s = store();
	assert_non_null(pw);
	snprintf(x.want, sizeof(x.want), "cli.%s", pw->pw_name);
	assert_int_equal(mg_store_admin_actions_foreach(s, 0, 10000, on_action, &x), 0);
	mg_store_close(&s);
	return x;
}

static int64_t g_rule1, g_rule2;

static void test_rules_add(void **state)
{
	char host[24];
	uint64_t before = latest_policy();
	json_t *o;
	(void)state;
	language(true);
	/* a rule the agents' parser rejects: nothing stored, the column named */
	assert_int_equal(RULES("add", "--rule", "allow id 0781:55Z1"), 1);
	assert_non_null(strstr(g_err, "rule:1:10:"));
	assert_int_equal(RULES("add", "--rule", "allow id 0781:5581 # comment"), 1);
	assert_non_null(strstr(g_err, "rule:1:"));
	assert_int_equal(latest_policy(), before);
	/* usage */
	assert_int_equal(RULES("add"), 2);
	assert_int_equal(RULES("add", "--rule", "allow", "--expires", "soon"), 2);
	assert_int_equal(RULES("add", "--rule", "allow", "--expires", "2020-01-01T00:00:00Z"), 2);
	assert_int_equal(RULES("add", "--rule", "allow", "--host", "x"), 2);
	assert_int_equal(RULES("add", "--rule", "allow", "--host", "99999"), 1);
	assert_int_equal(RULES("add", "--rule", "allow", "--bogus", "1"), 2);
	assert_int_equal(RULES("frob"), 2);
	assert_int_equal(latest_policy(), before);

	/* a rule for every host: stored, and a new signed version published */
	assert_int_equal(RULES("add", "--rule",
	                       "allow id 0781:5581 serial \"4C530001230517115103\"", "--comment",
	                       "総務課 USB", "--json"),
	                 0);
	o = out_json();
	g_rule1 = (int64_t)json_integer_value(json_object_get(o, "rule_id"));
	assert_true(g_rule1 > 0);
	assert_int_equal(json_integer_value(json_object_get(o, "policy_version")), latest_policy());
	assert_true(latest_policy() > before);
	json_decref(o);
	/* one host's, expiring: the person-readable answer */
	snprintf(host, sizeof(host), "%" PRId64, g_host1);
	before = latest_policy();
	assert_int_equal(
	    RULES("add", "--rule", "allow id 046d:c31c", "--host", host, "--expires", "8h"), 0);
	assert_non_null(strstr(g_out, "added; policy version"));
	assert_int_equal(latest_policy(), before + 1);
	assert_int_equal(cli_actions().adds, 2);
	language(false);
}

static void check_rule(json_t *o, const void *ctx)
{
	int64_t id = (int64_t)json_integer_value(json_object_get(o, "id"));
	(void)ctx;
	if (id == g_rule1) {
		assert_int_equal(json_integer_value(json_object_get(o, "host_id")), 0);
		assert_true(json_is_null(json_object_get(o, "expires")));
		assert_string_equal(json_string_value(json_object_get(o, "comment")), "総務課 USB");
	} else {
		g_rule2 = id;
		assert_int_equal(json_integer_value(json_object_get(o, "host_id")), g_host1);
		assert_true(json_is_string(json_object_get(o, "expires")));
		assert_string_equal(json_string_value(json_object_get(o, "rule")),
		                    "allow id 046d:c31c");
	}
}

static void test_rules_list(void **state)
{
	char host[24];
	(void)state;
	assert_int_equal(RULES("list", "--json"), 0);
	assert_int_equal(json_lines(check_rule, NULL), 2);
	/* another host sees the rule for all hosts only */
	snprintf(host, sizeof(host), "%" PRId64, g_host2);
	assert_int_equal(RULES("list", "--host", host, "--json"), 0);
	assert_int_equal(json_lines(check_rule, NULL), 1);
	language(false);
	assert_int_equal(RULES("list"), 0);
	assert_int_equal(count_lines(g_out), 3);
	assert_non_null(strstr(g_out, "ルール"));
	assert_non_null(strstr(g_out, "全端末"));
	assert_non_null(
	    strstr(g_out, "allow id 0781:5581 serial \"4C530001230517115103\"  # 総務課 USB"));
}

static void test_rules_remove(void **state)
{
	char id[24];
	uint64_t before = latest_policy();
	json_t *o;
	(void)state;
	snprintf(id, sizeof(id), "%" PRId64, g_rule2);
	assert_int_equal(RULES("remove", id, "--json"), 0);
	o = out_json();
	assert_int_equal(json_integer_value(json_object_get(o, "rule_id")), g_rule2);
	assert_int_equal(json_integer_value(json_object_get(o, "policy_version")), before + 1);
	json_decref(o);
	assert_int_equal(latest_policy(), before + 1);
	assert_int_equal(RULES("list", "--json"), 0);
	assert_int_equal(json_lines(check_rule, NULL), 1);
	assert_int_equal(cli_actions().removes, 1);
	/* gone; missing or bad id; two ids */
	assert_int_equal(RULES("remove", id), 1);
	assert_int_equal(latest_policy(), before + 1);
	assert_int_equal(RULES("remove"), 2);
	assert_int_equal(RULES("remove", "abc"), 2);
	assert_int_equal(RULES("remove", "1", "2"), 2);
	/* the table of events shows who did it */
	language(true);
	assert_int_equal(EVENTS("--type", "admin.rule.remove"), 0);
	assert_non_null(strstr(g_out, "cli."));
	language(false);
}

/* ---- admin passwd ---- */

#define NEW_PASSWORD "a new and longer passphrase"

static void test_admin_passwd(void **state)
{
	char pw[PATH_MAX];
	struct mg_store *s;
	struct mg_store_admin a;
	struct actions x = cli_actions();
	(void)state;
	snprintf(pw, sizeof(pw), "%s/new-pw", g_dir);
	conf(pw, NEW_PASSWORD "\n", 0600);
	language(true);
	/* usage, an unknown admin, a readable password file, a short password */
	assert_int_equal(
	    cli_dd("admin", "passwd", (const char *const[]){"--name", ADMIN_NAME, NULL}), 2);
	assert_int_equal(cli_dd("admin", "frob", NULL), 2);
	assert_int_equal(
	    cli_dd("admin", "passwd",
	           (const char *const[]){"--name", "nobody", "--password-file", pw, NULL}),
	    1);
	assert_non_null(strstr(g_err, "nobody"));
	assert_int_equal(chmod(pw, 0644), 0);
	assert_int_equal(
	    cli_dd("admin", "passwd",
	           (const char *const[]){"--name", ADMIN_NAME, "--password-file", pw, NULL}),
	    1);
	conf(pw, "short\n", 0600);
	assert_int_equal(
	    cli_dd("admin", "passwd",
	           (const char *const[]){"--name", ADMIN_NAME, "--password-file", pw, NULL}),
	    1);
	assert_non_null(strstr(g_err, "12 or more"));
	/* the new password works, the old one no longer, and the change is recorded */
	conf(pw, NEW_PASSWORD "\n", 0600);
	assert_int_equal(
	    cli_dd("admin", "passwd",
	           (const char *const[]){"--name", ADMIN_NAME, "--password-file", pw, NULL}),
	    0);
	s = store();
	assert_int_equal(mg_store_admin_get(s, ADMIN_NAME, &a), 0);
	mg_store_close(&s);
	assert_int_equal(mg_admin_password_verify(a.password_hash, NEW_PASSWORD), 0);
	assert_int_equal(mg_admin_password_verify(a.password_hash, ADMIN_PASSWORD), -EACCES);
	assert_int_equal(cli_actions().passwords, x.passwords + 1);
	language(false);
}

/* The host column (docs/COLLECTOR-CLI.md): the collector's own admin rows are labelled
 * "(コレクター)" ("(collector)" in English); a tamper row is the collector's too, but carries
 * the host it is about (host_id), so it shows that host. */
static void test_events_collector_label(void **state)
{
	struct mg_store *s = store();
	struct mg_event *ev = agent_started(T0 + 1000000, "mn-term-01");
	struct mg_store_event row;
	struct mg_ingest_result res;
	char *json = NULL, hash[65], id[24];
	size_t len;
	(void)state;
	/* seq 1 of host 1 again, with other content: a conflict and its tamper row */
	ev->seq = 1;
	mg_event_agent(ev)->pid = 4242;
	memcpy(ev->boot_id, BOOT, sizeof(ev->boot_id));
	assert_int_equal(mg_event_to_json(ev, &json, &len), 0);
	assert_int_equal(mg_sha256_hex(json, len, hash), 0);
	row = (struct mg_store_event){
	    .seq = 1, .time_us = ev->time_us, .type = "agent.started", .json = json, .hash = hash};
	assert_int_equal(mg_store_ingest(s, g_host1, BOOT, &row, 1, mg_now_us(), &res), 0);
	assert_int_equal(res.status, MG_INGEST_CONFLICT);
	free(json);
	mg_event_free(&ev);
	mg_store_close(&s);
	language(false);
	assert_int_equal(EVENTS("--type", "collector.tamper"), 0);
	assert_int_equal(count_lines(g_out), 2);
	assert_non_null(strstr(g_out, "mn-term-01"));
	assert_null(strstr(g_out, "(コレクター)"));
	snprintf(id, sizeof(id), "%" PRId64, g_host1);
	assert_int_equal(EVENTS("--type", "collector.tamper", "--host", id), 0);
	assert_int_equal(count_lines(g_out), 2);
	/* admin rows (test_admin_passwd's change) */
	assert_int_equal(EVENTS("--type", "admin.admin.password"), 0);
	assert_true(count_lines(g_out) >= 2);
	assert_non_null(strstr(g_out, "(コレクター)"));
	assert_null(strstr(g_out, "(collector)"));
	language(true);
	assert_int_equal(EVENTS("--type", "admin.admin.password"), 0);
	assert_non_null(strstr(g_out, "(collector)"));
	language(false);
}

/* ---- serve: limits and collector.conf ---- */

static int serve(const char *const *more)
{
	const char *args[40] = {"serve", "--data-dir", g_dir,        "--db",
	                        g_db,    "--listen",   "127.0.0.1:0"};
	size_t n = 7;
	for (size_t i = 0; more[i] && n < 39; i++)
		args[n++] = more[i];
	args[n] = NULL;
	return cli(args);
}

#define SERVE(...) serve((const char *const[]){__VA_ARGS__, NULL})

static void test_serve_bad_limits(void **state)
{
	char path[PATH_MAX];
	(void)state;
	language(true);
	assert_int_equal(SERVE("--threads", "0"), 2);
	assert_non_null(strstr(g_err, "--threads 0"));
	assert_int_equal(SERVE("--threads", "257"), 2);
	assert_int_equal(SERVE("--max-connections", "100000000"), 2);
	assert_int_equal(SERVE("--per-ip-connections", "x"), 2);
	assert_int_equal(SERVE("--connection-timeout", "2h"), 2);
	assert_non_null(strstr(g_err, "out of range"));
	assert_int_equal(SERVE("--connection-timeout", "5 #"), 2);
	assert_int_equal(SERVE("--policy-validity", "10m"), 2);
	assert_int_equal(SERVE("--session-ttl", "0"), 2);
	assert_int_equal(SERVE("--max-inflight-ingests", "0"), 2);
	assert_int_equal(SERVE("--max-concurrent-logins", "17"), 2);
	assert_int_equal(SERVE("--cert-days", "0"), 2);
	assert_int_equal(SERVE("--max-connections", "10", "--per-ip-connections", "11"), 2);
	assert_non_null(strstr(g_err, "per_ip_connections"));
	assert_int_equal(SERVE("--threads", "2", "--threads", "3"), 2);
	{
		const char *args[] = {"serve", "--data-dir", g_dir, "--db", g_db, NULL};
		assert_int_equal(cli(args), 2);
		assert_non_null(strstr(g_err, "--listen"));
	}
	/* collector.conf: unknown key, bad value, bad range: file:line; unsafe modes */
	snprintf(path, sizeof(path), "%s/collector.conf", g_dir);
	conf(path, "# limits\nthreads = 8\nmax_conections = 10\n", 0600);
	assert_int_equal(SERVE("--config", path), 2);
	assert_non_null(strstr(g_err, "collector.conf:3: unknown key 'max_conections'"));
	conf(path, "session_ttl = 2d\n", 0600);
	assert_int_equal(SERVE("--config", path), 2);
	assert_non_null(strstr(g_err, "collector.conf:1:"));
	conf(path, "database = mysql://x\n", 0600);
	assert_int_equal(SERVE("--config", path), 2);
	assert_non_null(strstr(g_err, "collector.conf:1:"));
	conf(path, "data_dir = relative/dir\n", 0600);
	assert_int_equal(SERVE("--config", path), 2);
	conf(path, "threads = 8\n", 0620);
	assert_int_equal(SERVE("--config", path), 2);
	assert_non_null(strstr(g_err, "collector.conf"));
	snprintf(path, sizeof(path), "%s/nonexistent.conf", g_dir);
	assert_int_equal(SERVE("--config", path), 2);
	language(false);
	/* Japanese by default */
	assert_int_equal(SERVE("--threads", "0"), 2);
	assert_non_null(strstr(g_err, "値が正しくありません"));
}

/* A TCP connection to the server, left open without a TLS handshake. */
static int hold_connection(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

static void test_serve_config(void **state)
{
	char path[PATH_MAX], text[PATH_MAX + 512];
	const char *args[] = {"--config", path, "--per-ip-connections", "1", NULL};
	int fd;
	(void)state;
	/* collector.conf names the database and the limits; an option overrides one of them */
	snprintf(path, sizeof(path), "%s/collector.conf", g_dir);
	snprintf(text, sizeof(text),
	         "# collector.conf\n"
	         "data_dir = %s\n"
	         "database = %s\n"
	         "threads = 2\n"
	         "max_connections = 16\n"
	         "per_ip_connections = 8\n"
	         "connection_timeout = 10s\n"
	         "max_inflight_ingests = 4\n"
	         "policy_validity = 2d\n"
	         "session_ttl = 15m\n",
	         g_dir, g_db);
	conf(path, text, 0640);
	/* the example in deploy/ is valid */
	{
		char example[PATH_MAX];
		const char *src = getenv("MG_SOURCE_DIR");
		assert_non_null(src);
		snprintf(example, sizeof(example), "%s/deploy/collector.conf", src);
		assert_int_equal(
		    cli_dd("hosts", NULL, (const char *const[]){"--config", example, NULL}), 0);
	}
	/* other commands read data_dir and database from it */
	{
		const char *ev[] = {"events",       "--config", path, "--type",
		                    "auth.failure", "--json",   NULL};
		assert_int_equal(cli(ev), 0);
		assert_int_equal(json_lines(check_host1_type, "auth.failure"), 1);
	}
	stop_server(SIGTERM);
	g_serve_args = args;
	start_server();
	/* per IP 1: a second connection from 127.0.0.1 is refused while the first is open */
	fd = hold_connection();
	usleep(100000); /* the server accepts it */
	assert_int_equal(api_call("GET", "/v1/policy", NULL, NULL, 0, NULL, NULL, NULL), 0);
	close(fd);
	for (int i = 0; i < 100; i++) {
		if (api_call("GET", "/v1/policy", NULL, NULL, 0, NULL, NULL, NULL) != 0)
			break;
		usleep(20000);
		assert_true(i < 99);
	}
	g_serve_args = NULL;
	assert_true(WIFEXITED(stop_server(SIGTERM)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_setup_data),
	    cmocka_unit_test(test_events_json),
	    cmocka_unit_test(test_events_pages),
	    cmocka_unit_test(test_events_table),
	    cmocka_unit_test(test_events_errors),
	    cmocka_unit_test(test_hosts),
	    cmocka_unit_test(test_rules_add),
	    cmocka_unit_test(test_rules_list),
	    cmocka_unit_test(test_rules_remove),
	    cmocka_unit_test(test_admin_passwd),
	    cmocka_unit_test(test_events_collector_label),
	    cmocka_unit_test(test_serve_bad_limits),
	    cmocka_unit_test(test_serve_config),
	};
	int r;
	g_out = malloc(OUT_SIZE);
	g_err = malloc(65536);
	if (!g_out || !g_err)
		return 1;
	r = api_main("test_collector_cli", tests, sizeof(tests) / sizeof(tests[0]));
	free(g_out);
	free(g_err);
	return r;
}
