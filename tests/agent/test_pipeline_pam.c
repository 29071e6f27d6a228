/*
 * PAM events end to end (issue 12): a TOTP login through pam_mynaguard.so under pam_wrapper
 * reaches mynaguard-collector as auth.success, through the agent's event socket while the
 * agent runs, and through the module's pending file (<PAM state_dir>/events.pending, the
 * agent's pam_pending_file) when the agent was stopped at the time of the login. Real
 * processes on loopback: the collector (SQLite; PostgreSQL with MG_TEST_STORE_URL_FILE),
 * mynaguard-agent on a umockdev testbed (system_harness), the uplink it starts.
 *
 * This program runs under the umockdev preload; pam_wrapper and nss_wrapper are preloads as
 * well, so each login runs in a child: this program again (--pam-login), with LD_PRELOAD set
 * to MG_PAM_PRELOAD instead of umockdev's (tests/pam/pam_harness.c does the login).
 *
 * Who may talk to whom: the module sends only to a listener running as its trusted owner
 * (the owner of pam_mynaguard.so), the agent takes events from uid 0 and from its own euid,
 * and the pending file must belong to both. All of that holds when the test runs as the owner
 * of the build (root in CI, or a developer in their own build); otherwise (e.g. root running
 * tests in a user's build tree) the module would go through the setuid helper instead, and
 * the test is skipped (77). Enrolment is for root only: as another user everything but the
 * collector is checked, then the program exits 77 (skipped) if that passed.
 *
 * Set by ctest: MG_AGENT_BIN, MG_CTL_BIN, MG_UPLINK_BIN, MG_COLLECTOR, MG_PAM_MODULE,
 * MG_PAM_PRELOAD.
 */
#include "pam_harness.h"
#include "pipeline_support.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_appl.h>

#include "mg/event.h"

extern char **environ;

#define LOGIN_MS 20000 /* one login in the child: a few ms, at most 2 s waiting for the agent */

#define USER "alice" /* in pam_harness's nss_wrapper passwd */

static char self_exe[PATH_MAX];

/*
 * Only root may enrol (mynaguardctl enroll; agent/daemon/ctl_server.c): as another user the
 * scenarios run without the collector (0: not enrolled), and the program exits 77 at the end
 * if everything else passed.
 */
static int64_t enroll_if_root(struct sc *sc)
{
	return geteuid() == 0 ? enroll_agent(sc) : 0;
}

static void collector_holds_spool(struct sc *sc, int64_t host)
{
	if (host)
		assert_exactly_once(sc, host);
}

/* ---- the PAM side -------------------------------------------------------------------------- */

struct fixture {
	struct sc *sc;
	struct harness h; /* its conf: the agent's event_socket, state_dir = the scenario dir */
	struct mg_totp_cred cred;
	char login_log[PATH_MAX + 16]; /* the children's stdout and stderr */
};

static int setup(void **state)
{
	void *s = NULL;
	sc_setup(&s);
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->sc = s;
	h_new(&f->h, NULL);
	/* The module's events go where the agent listens (write_conf: <dir>/events.sock), and
	 * its pending file, <state_dir>/events.pending, is the agent's pam_pending_file. The
	 * module's state_dir stays the harness's (checked from / down, so not in the scenario
	 * directory under /dev/shm or /tmp). */
	snprintf(f->h.event_socket, sizeof(f->h.event_socket), "%s/events.sock", f->sc->dir);
	assert_true(strlen(f->h.pending) < sizeof(f->sc->pam_pending));
	memcpy(f->sc->pam_pending, f->h.pending, strlen(f->h.pending) + 1);
	h_write_conf(&f->h, "factors = totp\n");
	h_totp_enroll(&f->h, USER, MG_TOTP_SHA1, 6, 30, &f->cred);
	snprintf(f->login_log, sizeof(f->login_log), "%s/login.log", f->h.root);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	void *s = f->sc;
	sc_teardown(&s);
	h_free(&f->h);
	free(f);
	return 0;
}

static void dump_login_log(struct fixture *f)
{
	char *text = read_all(f->login_log, NULL);
	fprintf(stderr, "---- login output (%s) ----\n%s---- end ----\n", f->login_log,
	        text ? text : "");
	free(text);
	text = read_all(f->h.events_file, NULL);
	fprintf(stderr, "---- module log (%s) ----\n%s---- end ----\n", f->h.events_file,
	        text ? text : "");
	free(text);
}

/*
 * One TOTP login of USER (the right code, or a wrong one) in a child under pam_wrapper and
 * nss_wrapper; returns the PAM result. The module's syslog lines go to f->h.events_file.
 */
static int pam_login(struct fixture *f, bool good)
{
	char code[16] = "000000x";
	if (good) {
		h_avoid_step_edge(30);
		h_totp_code(&f->cred, 0, code, sizeof(code));
	}
	/* Our environment with the PAM preloads instead of umockdev's. */
	static char preload[4096], wrapper[] = "PAM_WRAPPER=1",
	                           pam_deep[] = "PAM_WRAPPER_DISABLE_DEEPBIND=1",
	                           nss_deep[] = "NSS_WRAPPER_DISABLE_DEEPBIND=1";
	char *set[] = {preload, wrapper, pam_deep, nss_deep, NULL};
	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", getenv("MG_PAM_PRELOAD"));
	size_t n = 0, k = 0;
	while (environ[n])
		n++;
	char **envp = calloc(n + 5, sizeof(*envp));
	assert_non_null(envp);
	for (size_t i = 0; i < n; i++) {
		bool replaced = false;
		for (size_t j = 0; set[j] && !replaced; j++)
			replaced = strncmp(environ[i], set[j],
			                   (size_t)(strchr(set[j], '=') - set[j]) + 1) == 0;
		if (!replaced)
			envp[k++] = environ[i];
	}
	for (size_t j = 0; set[j]; j++)
		envp[k++] = set[j];

	int fd = open(f->login_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	posix_spawn_file_actions_t fa;
	assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
	assert_int_equal(posix_spawn_file_actions_adddup2(&fa, fd, 1), 0);
	assert_int_equal(posix_spawn_file_actions_adddup2(&fa, fd, 2), 0);
	char mode[] = "--pam-login", user[] = USER;
	char *argv[] = {self_exe, mode, user, code, f->h.events_file, NULL};
	pid_t pid;
	int r = posix_spawn(&pid, self_exe, &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	close(fd);
	free(envp);
	if (r != 0)
		fail_msg("cannot run %s: %s", self_exe, strerror(r));
	int ws = wait_child(pid, LOGIN_MS);
	h_remove_pam_wrapper_dir(pid); /* normally gone with the child's exit already */
	if (ws == -1 || !WIFEXITED(ws) || WEXITSTATUS(ws) >= 100) {
		dump_login_log(f);
		FAIL_WITH_LOG(f->sc, "the login did not finish (wait status 0x%x)", ws);
	}
	return WEXITSTATUS(ws);
}

/* The child: one pam_authenticate through libpamtest. Exit status: the PAM result (< 100). */
static int login_child(char **argv)
{
	struct harness h;
	struct h_conv c;
	memset(&h, 0, sizeof(h));
	memset(&c, 0, sizeof(c));
	snprintf(h.events_file, sizeof(h.events_file), "%s", argv[4]);
	c.answers[0] = argv[3];
	c.nanswers = 1;
	int rc = h_auth(&h, argv[2], &c);
	h_conv_free(&c);
	if (rc < 0 || rc >= 100) {
		fprintf(stderr, "pam login: result %d\n", rc);
		return 100;
	}
	return rc;
}

/* Lines of the file at path holding needle (0 when there is no file). */
static int lines_with(const char *path, const char *needle)
{
	char *text = read_all(path, NULL);
	int n = 0;
	for (char *p = text; p && (p = strstr(p, needle)); p += strlen(needle))
		n++;
	free(text);
	return n;
}

/* The spool's auth events of type for USER after seq `after`: how many, the last in *last. */
static int auth_events(struct sc *sc, const char *type, json_int_t after, json_t **last)
{
	int n = 0;
	size_t i;
	json_t *ev;
	read_events(sc);
	json_array_foreach(sc->evs, i, ev)
	{
		const char *t = jstr(ev, "type");
		const char *u = jstr(ev, "user.name");
		if (ev_seq(ev) <= after || !t || strcmp(t, type) != 0 || !u || strcmp(u, USER) != 0)
			continue;
		n++;
		if (last)
			*last = ev;
	}
	return n;
}

/*
 * ev, recorded by the agent, is the module's event (its syslog line, seq 0) re-stamped by the
 * agent: host and boot_id of this agent run (those of agent.started), a seq of its own; all
 * else as the module wrote it.
 */
static void assert_restamped(struct fixture *f, const json_t *ev, const char *type)
{
	struct sc *sc = f->sc;
	const json_t *started = find_event(sc, "agent.started", NULL, 0);
	assert_non_null(started);
	assert_string_equal(jstr(ev, "host"), jstr(started, "host"));
	assert_string_equal(jstr(ev, "boot_id"), jstr(started, "boot_id"));
	assert_true(ev_seq(ev) > ev_seq(started));
	assert_string_equal(jstr(ev, "user.service"), "mynaguard");
	assert_string_equal(jstr(ev, "auth.factor"), "totp");
	/* The module's own line for it. */
	char line[8192];
	assert_int_equal(h_events(&f->h, type, line, sizeof(line)), 1);
	line[strcspn(line, "\n")] = '\0';
	json_error_t jerr;
	json_t *mod = json_loads(line, 0, &jerr);
	if (!mod)
		fail_msg("the module's %s line is no JSON (%s): %s", type, jerr.text, line);
	assert_int_equal(ev_seq(mod), 0);
	assert_int_equal(json_object_set(mod, "seq", json_object_get(ev, "seq")), 0);
	assert_int_equal(json_object_set(mod, "host", json_object_get(ev, "host")), 0);
	assert_int_equal(json_object_set(mod, "boot_id", json_object_get(ev, "boot_id")), 0);
	if (!json_equal(mod, ev)) {
		char *a = json_dumps(mod, JSON_COMPACT | JSON_SORT_KEYS);
		char *b = json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS);
		fail_msg("the agent changed the event:\n module: %s\n spool:  %s", a ? a : "?",
		         b ? b : "?");
	}
	json_decref(mod);
}

/* The collector's copy of ev (same seq) has the type and USER. */
static void assert_collected(int64_t host, const json_t *ev, const char *type)
{
	if (!host)
		return; /* not enrolled (not root) */
	json_t *got = collector_events(host);
	size_t i, n = 0;
	json_t *e;
	json_array_foreach(got, i, e)
	{
		const char *t = jstr(e, "type");
		if (t && strcmp(t, type) == 0 && ev_seq(e) == ev_seq(ev)) {
			assert_string_equal(jstr(e, "user.name"), USER);
			assert_true(json_equal(e, ev));
			n++;
		}
	}
	json_decref(got);
	assert_int_equal(n, 1);
}

static bool exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

/*
 * The agent runs and is enrolled: a TOTP login succeeds, the module hands auth.success to the
 * agent over the event socket (nothing in the pending file), the agent records it re-stamped,
 * and the collector stores exactly the spool's events, that auth.success among them.
 */
static void test_login_while_agent_runs(void **state)
{
	struct fixture *f = *state;
	struct sc *sc = f->sc;
	start_agent(sc);
	int64_t host = enroll_if_root(sc);
	assert_true(exists(f->h.event_socket));
	json_int_t m = mark(sc);

	assert_int_equal(pam_login(f, true), PAM_SUCCESS);
	/* The module returned after the agent's "ok": the event is in the spool already. */
	json_t *ev = NULL;
	if (auth_events(sc, "auth.success", m, &ev) != 1) {
		dump_login_log(f);
		FAIL_WITH_LOG(sc, "no single auth.success for %s in the spool after seq %lld", USER,
		              (long long)m);
	}
	assert_false(exists(f->h.pending));
	assert_int_equal(lines_with(f->h.events_file, "event kept in "), 0);
	assert_int_equal(lines_with(f->h.events_file, "event lost: "), 0);
	assert_restamped(f, ev, "auth.success");

	collector_holds_spool(sc, host);
	assert_collected(host, ev, "auth.success");
	agent_stop(sc);
	collector_holds_spool(sc, host);
}

/*
 * The agent is stopped: a TOTP login and a failed one land in the pending file (the module's
 * fallback). The agent starts: it takes the file (gone before READY=1), records both
 * events once, and they reach the collector exactly once.
 */
static void test_login_while_agent_stopped(void **state)
{
	struct fixture *f = *state;
	struct sc *sc = f->sc;
	start_agent(sc);
	int64_t host = enroll_if_root(sc);
	collector_holds_spool(sc, host);
	agent_stop(sc);
	collector_holds_spool(sc, host);
	assert_false(exists(f->h.event_socket)); /* the agent removed its socket */

	assert_int_equal(pam_login(f, true), PAM_SUCCESS);
	assert_int_equal(pam_login(f, false), PAM_AUTH_ERR);
	/* Both in the pending file, in order, each said in the module's log. */
	char line[8192];
	if (h_pending(&f->h, NULL, line, sizeof(line)) != 2) {
		dump_login_log(f);
		fail_msg("the pending file %s does not hold the two events", f->h.pending);
	}
	assert_int_equal(h_pending(&f->h, "auth.success", NULL, 0), 1);
	assert_int_equal(h_pending(&f->h, "auth.failure", NULL, 0), 1);
	assert_non_null(strstr(line, "\"type\":\"auth.failure\""));
	assert_int_equal(lines_with(f->h.events_file, "event kept in "), 2);
	struct stat st;
	assert_int_equal(stat(f->h.pending, &st), 0);
	assert_int_equal(st.st_uid, geteuid());
	assert_int_equal(st.st_mode & 07777, 0600);
	/* Nothing reached the spool meanwhile. */
	json_int_t m = mark(sc);
	assert_int_equal(auth_events(sc, "auth.success", 0, NULL), 0);
	assert_int_equal(auth_events(sc, "auth.failure", 0, NULL), 0);

	/* The agent takes the file at start, before READY=1. */
	agent_spawn(sc);
	wait_notify(sc, "READY=1");
	char taking[PATH_MAX + 16], refused[PATH_MAX + 16];
	snprintf(taking, sizeof(taking), "%s.taking", f->h.pending);
	snprintf(refused, sizeof(refused), "%s.refused", f->h.pending);
	if (exists(f->h.pending) || exists(taking) || exists(refused))
		FAIL_WITH_LOG(sc, "the pending file was not taken (%s%s%s)",
		              exists(f->h.pending) ? "still there" : "",
		              exists(taking) ? " .taking left" : "",
		              exists(refused) ? " moved to .refused" : "");
	json_t *ok = NULL, *bad = NULL;
	int n_ok = auth_events(sc, "auth.success", m, &ok);
	int n_bad = auth_events(sc, "auth.failure", m, &bad);
	if (n_ok != 1 || n_bad != 1)
		FAIL_WITH_LOG(sc, "the spool has %d auth.success and %d auth.failure for %s", n_ok,
		              n_bad, USER);
	assert_true(ev_seq(ok) < ev_seq(bad)); /* in the file's order */
	assert_string_equal(jstr(bad, "auth.reason"), "wrong-code");
	/* Re-stamped by this run of the agent (after its agent.started). */
	const json_t *started = find_event(sc, "agent.started", NULL, m);
	assert_non_null(started);
	assert_true(ev_seq(ok) > ev_seq(started));
	assert_restamped(f, ok, "auth.success");
	assert_restamped(f, bad, "auth.failure");

	collector_holds_spool(sc, host);
	assert_collected(host, ok, "auth.success");
	assert_collected(host, bad, "auth.failure");
	/* Taken once: a later pass over the (absent) file adds nothing. */
	agent_stop(sc);
	collector_holds_spool(sc, host);
	assert_int_equal(auth_events(sc, "auth.success", 0, NULL), 1);
	assert_int_equal(auth_events(sc, "auth.failure", 0, NULL), 1);
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "--pam-login") == 0)
		return login_child(argv);
	if (pipeline_init() < 0)
		return 1;
	const char *module = getenv("MG_PAM_MODULE");
	if (!module || !getenv("MG_PAM_PRELOAD")) {
		fprintf(stderr, "set MG_PAM_MODULE and MG_PAM_PRELOAD (ctest does)\n");
		return 1;
	}
	ssize_t len = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	if (len <= 0) {
		perror("/proc/self/exe");
		return 1;
	}
	self_exe[len] = '\0';
	/* The module trusts the owner of its own file (docs/PAM.md section 4): it sends to the
	 * agent itself only when it runs as that owner, and the agent must run as that owner
	 * too (or as root, which the module would not accept then). */
	struct stat st;
	if (stat(module, &st) < 0) {
		perror(module);
		return 1;
	}
	if (st.st_uid != geteuid()) {
		printf(
		    "skipped: %s belongs to uid %u but the test runs as uid %u: the module would "
		    "not send its events itself (it would use the setuid helper) and would not "
		    "trust an agent running as uid %u; run the test as the owner of the build\n",
		    module, (unsigned)st.st_uid, (unsigned)geteuid(), (unsigned)geteuid());
		return 77;
	}
	h_global_setup(); /* nss_wrapper users, the PAM service files (removed at exit) */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_login_while_agent_runs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_login_while_agent_stopped, setup, teardown),
	};
	int rc = api_main("pipeline_pam", tests, sizeof(tests) / sizeof(tests[0]));
	if (rc == 0 && geteuid() != 0) {
		printf("skipped in part: enrolment is for root only, so as uid %u the events were "
		       "followed from the module through the agent's event socket and pending file "
		       "into its spool (passed), but not to the collector; run as root for that\n",
		       (unsigned)geteuid());
		return 77;
	}
	return rc;
}
