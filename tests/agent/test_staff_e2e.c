/*
 * Issue 15 end to end with two terminals: one collector (SQLite; PostgreSQL with
 * MG_TEST_STORE_URL_FILE), two mynaguard-agent processes ("terminal A" and "terminal B"),
 * each with its own state_dir, uplink and enrolment to that collector, and pam_mynaguard.so
 * under pam_wrapper reading each terminal's staff.db. Keys are the software CTAP2
 * authenticator (tests/support/fido2, two keys, PIN 1234), registered with the real
 * `mynaguard-enroll fido2 --user NAME --central --agent-socket <terminal's control socket>`,
 * approved, revoked, disabled and unlocked with the collector's admin API. Every change
 * reaches the terminals through their own 1 s poll (no `mynaguardctl sync`).
 *
 * This program runs under the umockdev preload (the agents need it); the PAM logins and the
 * enrolment tool run in children with LD_PRELOAD set to MG_PAM_PRELOAD plus the software
 * authenticator's shim instead (a login child is this program again, --pam-login, as in
 * test_pipeline_pam.c). One pam.conf for the process (pam_harness): it is rewritten for the
 * terminal a login runs at (its staff_db, its PAM state, its agent's event socket).
 *
 * Set by ctest: MG_AGENT_BIN, MG_CTL_BIN, MG_UPLINK_BIN, MG_COLLECTOR, MG_PAM_MODULE,
 * MG_PAM_PRELOAD, MG_PAM_ENROLL, MG_SOFT_FIDO2_LIB, MG_SOFT_FIDO2_CTL.
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
#include <unistd.h>

#include <security/pam_appl.h>

#include "mg/policy_bundle.h"
#include "pam_user.h"
#include "mg/staff_db.h"
#include "mg/time.h"
#include "policy_sign.h"

extern char **environ;

#define CHILD_MS 30000 /* one login or enrolment in a child (the key's touch is immediate) */
#define POLL_MS  15000 /* a change on the collector reaches staff.db: one 1 s poll, with slack */
#define RP_ID    "mynaguard"
#define PIN      "1234"

static char self_exe[PATH_MAX];

/* ---- the two terminals ---------------------------------------------------------------- */

struct terminal {
	const char *name; /* "A", "B" */
	struct sc *sc;
	struct harness h; /* its PAM tree: credentials, state (pending file), staff.db */
	char agentdir[PATH_MAX + 16];
	char db[PATH_MAX + 32]; /* agent.conf staff_db = pam.conf staff_db */
	int64_t host;
};

struct fx {
	struct terminal t[2];
	char softdir[PATH_MAX + 16];
	char soft[PATH_MAX + 32];
	char log[PATH_MAX + 16]; /* the children's stdout and stderr */
};

static void dump_children(struct fx *f)
{
	char *text = read_all(f->log, NULL);
	fprintf(stderr, "---- children's output (%s) ----\n%s---- end ----\n", f->log,
	        text ? text : "");
	free(text);
}

/*
 * Runs argv with our environment but the PAM preloads and the software authenticator's shim
 * instead of umockdev's preload; stdin from the text (may be NULL), stdout and stderr
 * appended to f->log and (the part this run wrote) copied into out. Returns the wait status.
 */
static int run_pam_env(struct fx *f, const char *const args[], const char *stdin_text, char *out,
                       size_t outlen)
{
	char *argv[16] = {NULL};
	for (size_t i = 0; args[i] && i < 15; i++) {
		argv[i] = strdup(args[i]);
		assert_non_null(argv[i]);
	}
	static char preload[4096],
	    wrapper[] = "PAM_WRAPPER=1", pam_deep[] = "PAM_WRAPPER_DISABLE_DEEPBIND=1",
	    nss_deep[] = "NSS_WRAPPER_DISABLE_DEEPBIND=1", asan[] = "ASAN_OPTIONS=detect_leaks=0";
	char *set[] = {preload, wrapper, pam_deep, nss_deep, asan, NULL};
	snprintf(preload, sizeof(preload), "LD_PRELOAD=%s:%s", getenv("MG_PAM_PRELOAD"),
	         getenv("MG_SOFT_FIDO2_LIB"));
	size_t n = 0, k = 0;
	while (environ[n])
		n++;
	char **envp = calloc(n + 6, sizeof(*envp));
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

	char in_path[PATH_MAX + 64];
	snprintf(in_path, sizeof(in_path), "%s.stdin", f->log);
	write_file(in_path, stdin_text ? stdin_text : "", 0600);
	struct stat st;
	off_t start = stat(f->log, &st) == 0 ? st.st_size : 0;
	int fd = open(f->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	int in = open(in_path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0 && in >= 0);
	posix_spawn_file_actions_t fa;
	assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
	assert_int_equal(posix_spawn_file_actions_adddup2(&fa, in, 0), 0);
	assert_int_equal(posix_spawn_file_actions_adddup2(&fa, fd, 1), 0);
	assert_int_equal(posix_spawn_file_actions_adddup2(&fa, fd, 2), 0);
	pid_t pid;
	int r = posix_spawn(&pid, argv[0], &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	close(fd);
	close(in);
	free(envp);
	for (size_t i = 0; argv[i]; i++)
		free(argv[i]);
	if (r != 0)
		fail_msg("cannot run %s: %s", args[0], strerror(r));
	int ws = wait_child(pid, CHILD_MS);
	h_remove_pam_wrapper_dir(pid);
	unlink(in_path);
	if (out && outlen) {
		out[0] = '\0';
		char *text = read_all(f->log, NULL);
		if (text && (size_t)start <= strlen(text))
			snprintf(out, outlen, "%s", text + start);
		free(text);
	}
	return ws;
}

static void soft_ctl(struct fx *f, const char *a1, const char *a2, const char *a3, const char *a4,
                     const char *a5)
{
	const char *argv[] = {getenv("MG_SOFT_FIDO2_CTL"), a1, f->soft, a2, a3, a4, a5, NULL};
	char out[2048];
	int ws = run_pam_env(f, argv, NULL, out, sizeof(out));
	if (ws == -1 || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
		fail_msg("soft-fido2-ctl %s: %s", a1, out);
}

/* Only key `key` (0 or 1) of the software authenticator is plugged in. */
static void only_key(struct fx *f, int key)
{
	soft_ctl(f, "set", "--key", "0", "--present", key == 0 ? "yes" : "no");
	soft_ctl(f, "set", "--key", "1", "--present", key == 1 ? "yes" : "no");
}

/* pam.conf for a login at terminal t: its trees, its staff.db, its agent's event socket. */
static void pam_conf(struct terminal *t, const char *factors_and_more)
{
	char text[PATH_MAX + 1024];
	snprintf(text, sizeof(text), "rp_id = " RP_ID "\nfido2_timeout = 5\n%.700sstaff_db = %s\n",
	         factors_and_more, t->db);
	h_write_conf(&t->h, text);
}

/*
 * One pam_authenticate of user at terminal t in a child (answer: the PIN or the TOTP code);
 * the PAM result. The module's event lines go to t's events file.
 */
static int pam_login(struct fx *f, struct terminal *t, const char *factors, const char *user,
                     const char *answer)
{
	pam_conf(t, factors);
	/* The module's FIDO2 child runs as nobody and opens the authenticator's state file. */
	char out[256];
	const char *chown_argv[] = {"chown", "-R", "65534:65534", f->softdir, NULL};
	assert_int_equal(h_run(chown_argv, NULL, out, sizeof(out)), 0);
	const char *argv[] = {self_exe, "--pam-login", user, answer, t->h.events_file, NULL};
	int ws = run_pam_env(f, argv, NULL, NULL, 0);
	if (ws == -1 || !WIFEXITED(ws) || WEXITSTATUS(ws) >= 100) {
		dump_children(f);
		FAIL_WITH_LOG(t->sc, "the login of %s at %s did not finish (wait status 0x%x)",
		              user, t->name, ws);
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

static int fido2_login(struct fx *f, struct terminal *t, const char *user)
{
	return pam_login(f, t, "factors = fido2\n", user, PIN);
}

/* The last event of type in t's module log holds n1 and n2 (either may be NULL). */
static void last_event_has(struct fx *f, struct terminal *t, const char *type, const char *n1,
                           const char *n2)
{
	char ev[8192] = "";
	if (h_events(&t->h, type, ev, sizeof(ev)) < 1 || (n1 && !strstr(ev, n1)) ||
	    (n2 && !strstr(ev, n2))) {
		dump_children(f);
		fail_msg("terminal %s: the last %s event lacks %s %s: %s", t->name, type,
		         n1 ? n1 : "", n2 ? n2 : "", ev);
	}
}

/*
 * `mynaguard-enroll fido2 --user user --label label --central` at terminal t (its control
 * socket), with the key that is plugged in; the collector's key id.
 */
static long long enroll_central(struct fx *f, struct terminal *t, const char *user,
                                const char *label)
{
	pam_conf(t, "factors = fido2\n");
	const char *argv[] = {getenv("MG_PAM_ENROLL"),
	                      "--config",
	                      t->h.conf,
	                      "fido2",
	                      "--user",
	                      user,
	                      "--label",
	                      label,
	                      "--central",
	                      "--agent-socket",
	                      t->sc->sock,
	                      NULL};
	char out[4096];
	int ws = run_pam_env(f, argv, PIN "\n", out, sizeof(out));
	if (ws == -1 || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
		FAIL_WITH_LOG(t->sc, "enroll --central %s at %s (0x%x): %s", user, t->name, ws,
		              out);
	const char *p = strstr(out, " id=");
	if (!p || !strstr(out, "state=pending"))
		fail_msg("enroll --central: no pending id in '%s'", out);
	long long id = strtoll(p + 4, NULL, 10);
	assert_true(id > 0);
	/* Not kept in the terminal's credential_dir: it works nowhere until approved. */
	char path[PATH_MAX + 300];
	assert_int_equal(
	    mg_pam_user_path(path, sizeof(path), t->h.creds, t->h.state, MG_PAM_FILE_FIDO2, user),
	    0);
	struct stat st;
	assert_int_equal(stat(path, &st), -1);
	return id;
}

/* ---- the collector's admin API ------------------------------------------------------- */

static char admin_token[128];

static long admin(const char *method, const char *path, const char *body, json_t **out)
{
	if (!admin_token[0]) {
		json_t *a = NULL;
		assert_int_equal(post_json("/v1/admin/login",
		                           json_pack("{s:s, s:s}", "name", ADMIN_NAME, "password",
		                                     ADMIN_PASSWORD),
		                           false, &a),
		                 200);
		snprintf(admin_token, sizeof(admin_token), "%s",
		         json_string_value(json_object_get(a, "token")));
		json_decref(a);
	}
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

/* Adds a staff member (an earlier scenario on this collector may have); the collector's id. */
static long long add_staff(const char *login)
{
	json_t *a = NULL, *b = json_pack("{s:s,s:s,s:s}", "login", login, "display_name", "職員",
	                                 "department", "市民課");
	char *body = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	long st = admin("POST", "/v1/admin/staff", body, &a);
	free(body);
	long long id = st == 201 ? json_integer_value(json_object_get(a, "id")) : 0;
	json_decref(a);
	if (st != 201) {
		assert_int_equal(st, 409);
		assert_int_equal(admin("GET", "/v1/admin/staff", NULL, &a), 200);
		size_t i;
		json_t *m;
		json_array_foreach(json_object_get(a, "staff"), i, m)
		{
			const char *l = json_string_value(json_object_get(m, "login"));
			if (l && strcmp(l, login) == 0)
				id = json_integer_value(json_object_get(m, "id"));
		}
		json_decref(a);
	}
	assert_true(id > 0);
	return id;
}

/* POST /v1/admin/staff/<what><id>/<action> ("keys/", 12, "approve"). */
static void admin_post(const char *what, long long id, const char *action)
{
	char path[200];
	json_t *a = NULL;
	snprintf(path, sizeof(path), "/v1/admin/staff/%s%lld/%s", what, id, action);
	long st = admin("POST", path, NULL, &a);
	if (st != 200) {
		char *t = a ? json_dumps(a, JSON_COMPACT) : NULL;
		fail_msg("POST %s: %ld %s", path, st, t ? t : "");
	}
	json_decref(a);
}

/* ---- staff.db as the terminals have it ------------------------------------------------ */

enum want { HAS_LABEL, LACKS_LABEL, DISABLED, UNLOCKED };

static bool db_says(const char *path, const char *user, enum want w, const char *label)
{
	struct stat st;
	size_t len = 0;
	/* stat first: a loop of failing open() calls overflows the umockdev preload's table */
	char *db = stat(path, &st) == 0 ? read_all(path, &len) : NULL;
	struct mg_staff_db_info info;
	struct mg_staff_entry e;
	bool ok = false;
	if (db && mg_staff_db_open(db, len, &info) == 0 &&
	    mg_staff_db_find(db, len, user, &e) == 0) {
		char needle[128];
		snprintf(needle, sizeof(needle), "\"label\":\"%s\"", label ? label : "");
		bool has = label && memmem(e.record, e.record_len, needle, strlen(needle));
		switch (w) {
		case HAS_LABEL:
			ok = !e.disabled && has;
			break;
		case LACKS_LABEL:
			ok = !e.disabled && !has;
			break;
		case DISABLED:
			ok = e.disabled;
			break;
		case UNLOCKED:
			ok = e.unlocked_us > 0;
			break;
		}
	}
	free(db);
	return ok;
}

/* Waits (POLL_MS, the agents' own polls) until t's staff.db says w about user. */
static void wait_db(struct terminal *t, const char *user, enum want w, const char *label)
{
	int64_t deadline = mono_ms() + POLL_MS;
	while (!db_says(t->db, user, w, label)) {
		if (mono_ms() > deadline)
			FAIL_WITH_LOG(t->sc, "terminal %s: staff.db never said %d about %s (%s)",
			              t->name, (int)w, user, label ? label : "");
		sleep_ms(100);
	}
}

/* Waits (ARRIVE_MS) until the collector holds an event of type for user from t's host, with
 * auth.reason == reason when given. */
static void wait_collected(struct terminal *t, const char *type, const char *user,
                           const char *reason)
{
	int64_t deadline = mono_ms() + ARRIVE_MS;
	for (;;) {
		json_t *got = collector_events(t->host);
		size_t i;
		json_t *e;
		bool found = false;
		json_array_foreach(got, i, e)
		{
			const char *ty = jstr(e, "type"), *u = jstr(e, "user.name"),
			           *r = jstr(e, "auth.reason");
			if (ty && strcmp(ty, type) == 0 && u && strcmp(u, user) == 0 &&
			    (!reason || (r && strcmp(r, reason) == 0)))
				found = true;
		}
		json_decref(got);
		if (found)
			return;
		if (mono_ms() > deadline)
			FAIL_WITH_LOG(t->sc, "the collector has no %s (%s) for %s from terminal %s",
			              type, reason ? reason : "", user, t->name);
		sleep_ms(200);
	}
}

/* ---- fixture ------------------------------------------------------------------------ */

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	for (int i = 0; i < 2; i++) {
		struct terminal *t = &f->t[i];
		void *s = NULL;
		t->name = i == 0 ? "A" : "B";
		sc_setup(&s);
		t->sc = s;
		h_new(&t->h, NULL);
		char root[sizeof(t->h.root)], agentdir[sizeof(t->agentdir)];
		memcpy(root, t->h.root, sizeof(root));
		snprintf(agentdir, sizeof(agentdir), "%s/agent", root);
		memcpy(t->agentdir, agentdir, sizeof(agentdir));
		assert_int_equal(mkdir(t->agentdir, 0700), 0);
		snprintf(t->db, sizeof(t->db), "%s/staff.db", agentdir);
		assert_true(strlen(t->db) < sizeof(t->sc->staff_db));
		memcpy(t->sc->staff_db, t->db, strlen(t->db) + 1);
		/* The module's events go to this terminal's agent; its pending file is the
		 * agent's pam_pending_file. */
		snprintf(t->h.event_socket, sizeof(t->h.event_socket), "%s/events.sock",
		         t->sc->dir);
		assert_true(strlen(t->h.pending) < sizeof(t->sc->pam_pending));
		memcpy(t->sc->pam_pending, t->h.pending, strlen(t->h.pending) + 1);
	}
	char root[sizeof(f->t[0].h.root)];
	memcpy(root, f->t[0].h.root, sizeof(root));
	snprintf(f->log, sizeof(f->log), "%s/children.log", root);
	snprintf(f->softdir, sizeof(f->softdir), "%s/soft", root);
	assert_int_equal(mkdir(f->softdir, 0755), 0);
	snprintf(f->soft, sizeof(f->soft), "%s/soft.json", f->softdir);
	setenv("MG_SOFT_FIDO2_STATE", f->soft, 1);
	soft_ctl(f, "init", "--keys", "2", "--pin", PIN);
	for (int i = 0; i < 2; i++) {
		start_agent(f->t[i].sc);
		f->t[i].host = enroll_agent(f->t[i].sc);
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	for (int i = 1; i >= 0; i--) {
		void *s = f->t[i].sc;
		sc_teardown(&s);
		h_free(&f->t[i].h);
	}
	unsetenv("MG_SOFT_FIDO2_STATE");
	free(f);
	return 0;
}

/* ---- scenarios ------------------------------------------------------------------------ */

/*
 * Tanaka registers key 1 at terminal A: pending, it works nowhere; approved, it works at B
 * after B's next poll (auth.success at the collector from B's host). A second key, registered
 * at B, works at A. Key 1 revoked: refused at A and at B after one poll, key 2 still works.
 */
static void test_register_approve_two_keys_revoke(void **state)
{
	struct fx *f = *state;
	struct terminal *A = &f->t[0], *B = &f->t[1];
	static const char user[] = "Tanaka";
	(void)add_staff(user);
	wait_db(A, user, LACKS_LABEL, "key-1");

	only_key(f, 0);
	long long k1 = enroll_central(f, A, user, "key-1");
	/* Pending: not even on the terminal it was made on. */
	assert_int_equal(fido2_login(f, A, user), PAM_AUTH_ERR);
	last_event_has(f, A, "auth.failure", "\"name\":\"Tanaka\"", NULL);

	admin_post("keys/", k1, "approve");
	wait_db(B, user, HAS_LABEL, "key-1");
	assert_int_equal(fido2_login(f, B, user), PAM_SUCCESS);
	last_event_has(f, B, "auth.success", "\"name\":\"Tanaka\"", "\"credential\":\"key-1\"");
	wait_collected(B, "auth.success", user, NULL);
	wait_db(A, user, HAS_LABEL, "key-1");
	assert_int_equal(fido2_login(f, A, user), PAM_SUCCESS);
	/* tanaka is another person: Tanaka's key does not make her. */
	assert_int_equal(fido2_login(f, B, "tanaka"), PAM_AUTH_ERR);

	/* A second key for the same person, registered at B, works at A. */
	only_key(f, 1);
	long long k2 = enroll_central(f, B, user, "key-2");
	assert_true(k2 != k1);
	admin_post("keys/", k2, "approve");
	wait_db(A, user, HAS_LABEL, "key-2");
	assert_int_equal(fido2_login(f, A, user), PAM_SUCCESS);
	last_event_has(f, A, "auth.success", "\"credential\":\"key-2\"", NULL);

	/* Key 1 revoked: gone from both terminals after one poll, refused at both. */
	admin_post("keys/", k1, "revoke");
	wait_db(A, user, LACKS_LABEL, "key-1");
	wait_db(B, user, LACKS_LABEL, "key-1");
	assert_true(db_says(B->db, user, HAS_LABEL, "key-2"));
	only_key(f, 0);
	assert_int_equal(fido2_login(f, A, user), PAM_AUTH_ERR);
	assert_int_equal(fido2_login(f, B, user), PAM_AUTH_ERR);
	last_event_has(f, B, "auth.failure", "\"name\":\"Tanaka\"", NULL);
	only_key(f, 1);
	assert_int_equal(fido2_login(f, A, user), PAM_SUCCESS);
	assert_int_equal(fido2_login(f, B, user), PAM_SUCCESS);
	last_event_has(f, B, "auth.success", "\"credential\":\"key-2\"", NULL);
}

/*
 * suzuki@city.local (a directory-style name) registers at A, logs in at B with the key and
 * with a TOTP secret enrolled locally at B. Disabled on the collector: refused at A and B on
 * every factor, TOTP too (staff-disabled, also in the collector's events from B).
 */
static void test_disabled_everywhere(void **state)
{
	struct fx *f = *state;
	struct terminal *A = &f->t[0], *B = &f->t[1];
	static const char user[] = "suzuki@city.local";
	long long sid = add_staff(user);
	only_key(f, 0);
	long long k = enroll_central(f, A, user, "suzuki-1");
	admin_post("keys/", k, "approve");
	wait_db(B, user, HAS_LABEL, "suzuki-1");
	assert_int_equal(fido2_login(f, B, user), PAM_SUCCESS);
	last_event_has(f, B, "auth.success", "\"name\":\"suzuki@city.local\"",
	               "\"credential\":\"suzuki-1\"");
	wait_collected(B, "auth.success", user, NULL);

	struct mg_totp_cred tc;
	char code[16];
	h_totp_enroll(&B->h, user, MG_TOTP_SHA1, 6, 30, &tc);
	h_avoid_step_edge(30);
	h_totp_code(&tc, 0, code, sizeof(code));
	assert_int_equal(pam_login(f, B, "factors = totp\n", user, code), PAM_SUCCESS);

	admin_post("", sid, "disable");
	wait_db(A, user, DISABLED, NULL);
	wait_db(B, user, DISABLED, NULL);
	assert_int_equal(fido2_login(f, A, user), PAM_AUTH_ERR);
	last_event_has(f, A, "auth.failure", "\"reason\":\"staff-disabled\"",
	               "\"name\":\"suzuki@city.local\"");
	assert_int_equal(fido2_login(f, B, user), PAM_AUTH_ERR);
	last_event_has(f, B, "auth.failure", "\"reason\":\"staff-disabled\"", NULL);
	h_avoid_step_edge(30);
	h_totp_code(&tc, 1, code, sizeof(code)); /* a code not used yet */
	assert_int_equal(pam_login(f, B, "factors = totp\n", user, code), PAM_AUTH_ERR);
	/* Refused before any factor is asked for: not counted as a guess either. */
	last_event_has(f, B, "auth.failure", "\"reason\":\"staff-disabled\"", "\"failures\":0");
	wait_collected(B, "auth.failure", user, "staff-disabled");
	wait_collected(A, "auth.failure", user, "staff-disabled");
}

/*
 * Tanaka locks himself out at B with wrong TOTP codes (a local TOTP enrolment at B): the
 * auth.lockout reaches the collector from B's host; the administrator unlocks him centrally;
 * after B's next poll the right code is accepted (auth.unlock, reason central).
 */
static void test_central_unlock_on_b(void **state)
{
	struct fx *f = *state;
	struct terminal *B = &f->t[1];
	static const char user[] = "Tanaka";
	static const char conf[] = "factors = totp\ndeny_after = 2\nunlock_after = 3600\n";
	long long sid = add_staff(user);
	wait_db(B, user, LACKS_LABEL, "none");
	struct mg_totp_cred tc;
	char code[16];
	h_totp_enroll(&B->h, user, MG_TOTP_SHA1, 6, 30, &tc);
	assert_int_equal(pam_login(f, B, conf, user, "000000"), PAM_AUTH_ERR);
	assert_int_equal(pam_login(f, B, conf, user, "000001"), PAM_AUTH_ERR);
	last_event_has(f, B, "auth.lockout", "\"name\":\"Tanaka\"", NULL);
	h_avoid_step_edge(30);
	h_totp_code(&tc, 0, code, sizeof(code));
	assert_int_equal(pam_login(f, B, conf, user, code), PAM_AUTH_ERR);
	wait_collected(B, "auth.lockout", user, NULL);

	admin_post("", sid, "unlock");
	wait_db(B, user, UNLOCKED, NULL);
	h_avoid_step_edge(30);
	h_totp_code(&tc, 0, code, sizeof(code));
	assert_int_equal(pam_login(f, B, conf, user, code), PAM_SUCCESS);
	last_event_has(f, B, "auth.unlock", "\"reason\":\"central\"", "\"name\":\"Tanaka\"");
	wait_collected(B, "auth.unlock", user, NULL);
}

/* B's kept policy.json (what its agent verified and keeps), parsed. */
static json_t *kept_policy(struct terminal *t)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/policy.json", t->sc->state);
	char *text = read_all(path, NULL);
	assert_non_null(text);
	json_error_t jerr;
	json_t *o = json_loads(text, 0, &jerr);
	free(text);
	assert_non_null(o);
	return o;
}

static void write_kept_policy(struct terminal *t, json_t *o)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/policy.json", t->sc->state);
	char *text = json_dumps(o, JSON_COMPACT);
	assert_non_null(text);
	write_file(path, text, 0600);
	free(text);
}

/* Starts t's agent offline and waits for its verdict on the kept policy (policy.applied or
 * policy.rejected, type), returned. */
static json_t *boot_offline(struct terminal *t, const char *type)
{
	json_int_t m = mark(t->sc);
	agent_spawn(t->sc);
	wait_notify(t->sc, "READY=1");
	return wait_event(t->sc, type, NULL, m);
}

/*
 * A bundle of version v as a collector with a policy validity of valid_s seconds would publish
 * it (signed with the collector's key): user with creds (the credentials array as staff.db
 * has it), active.
 */
static json_t *short_bundle(uint64_t v, const char *user, json_t *creds, int64_t valid_s)
{
	char keypath[600];
	snprintf(keypath, sizeof(keypath), "%s/policy.key", g_dir);
	struct mg_policy_key *k = NULL;
	assert_int_equal(mg_policy_key_load(keypath, &k), 0);
	static char rules[] = PIPELINE_RULES;
	int64_t now = mg_now_us();
	struct mg_policy_bundle b = {
	    .version = v,
	    .issued_us = now - 1000000LL,
	    .expires_us = now + valid_s * 1000000LL,
	    .all_hosts = true,
	    .rules = rules,
	    .staff = json_pack("{s:{s:O,s:s}}", user, "credentials", creds, "state", "active")};
	char *json = NULL, sig[MG_POLICY_SIG_B64_SIZE];
	assert_int_equal(mg_policy_bundle_to_json(&b, &json, NULL), 0);
	json_decref(b.staff);
	assert_int_equal(mg_policy_sign(k, json, strlen(json), sig), 0);
	mg_policy_key_free(&k);
	json_t *o = json_pack("{s:I, s:s, s:s}", "version", (json_int_t)v, "bundle", json,
	                      "signature", sig);
	free(json);
	return o;
}

/*
 * Terminal B offline. While its bundle is valid it keeps accepting a central key. A kept
 * bundle whose credential set was altered after signing is refused as a whole at B's next
 * start (policy.rejected; staff.db stays the verified one, the key still works). A bundle of
 * a short validity (as a collector with a short policy_validity publishes it; the
 * collector's own minimum is an hour, so it is signed here with the collector's key) is
 * accepted offline until it expires; then B refuses the central credential and its
 * auth.failure says central "expired", which reaches the collector once it is back.
 */
static void test_offline_until_expiry(void **state)
{
	struct fx *f = *state;
	struct terminal *A = &f->t[0], *B = &f->t[1];
	static const char user[] = "Tanaka";
	(void)add_staff(user);
	only_key(f, 0);
	long long k = enroll_central(f, A, user, "offline-1");
	admin_post("keys/", k, "approve");
	wait_db(B, user, HAS_LABEL, "offline-1");

	/* The collector goes away: B keeps accepting the key on the bundle it has. */
	unsigned port = g_port;
	assert_true(WIFEXITED(stop_server(SIGTERM)));
	assert_int_equal(fido2_login(f, B, user), PAM_SUCCESS);
	last_event_has(f, B, "auth.success", "\"credential\":\"offline-1\"", NULL);

	/* The kept bundle altered: Tanaka's credential set gets another key id. */
	size_t len = 0;
	char *good_db = read_all(B->db, &len);
	assert_non_null(good_db);
	struct mg_staff_db_info info;
	struct mg_staff_entry e;
	assert_int_equal(mg_staff_db_open(good_db, len, &info), 0);
	agent_stop(B->sc);
	json_t *kept = kept_policy(B);
	char *bundle = strdup(json_string_value(json_object_get(kept, "bundle")));
	assert_non_null(bundle);
	char *id = strstr(bundle, "\"Tanaka\":{\"credentials\":[");
	assert_non_null(id);
	id = strstr(id, "\"id\":\"");
	assert_non_null(id);
	id[6] = id[6] == 'A' ? 'B' : 'A';
	json_t *altered = json_deep_copy(kept);
	json_object_set_new(altered, "bundle", json_string(bundle));
	free(bundle);
	write_kept_policy(B, altered);
	json_decref(altered);
	json_t *ev = boot_offline(B, "policy.rejected");
	char *evtext = json_dumps(ev, JSON_COMPACT);
	assert_non_null(evtext);
	if (!strstr(evtext, "signature does not verify"))
		FAIL_WITH_LOG(B->sc, "policy.rejected, but not for its signature: %s", evtext);
	free(evtext);
	size_t len2 = 0;
	char *db2 = read_all(B->db, &len2);
	assert_non_null(db2);
	assert_true(len2 == len && memcmp(db2, good_db, len) == 0);
	free(db2);
	assert_int_equal(fido2_login(f, B, user), PAM_SUCCESS);
	last_event_has(f, B, "auth.success", "\"credential\":\"offline-1\"", NULL);
	agent_stop(B->sc);
	write_kept_policy(B, kept); /* the genuine one again */
	json_decref(kept);

	/* A bundle valid for a few seconds, taken offline: accepted until it expires. */
	assert_int_equal(mg_staff_db_find(good_db, len, user, &e), 0);
	json_error_t jerr;
	json_t *rec = json_loadb(e.record, e.record_len, 0, &jerr);
	assert_non_null(rec);
	uint64_t v = info.bundle_version + 1;
	json_t *shortb = short_bundle(v, user, json_object_get(rec, "credentials"), 8);
	json_decref(rec);
	free(good_db);
	write_kept_policy(B, shortb);
	json_decref(shortb);
	ev = boot_offline(B, "policy.applied");
	assert_int_equal(json_integer_value(jget(ev, "policy.version")), (json_int_t)v);
	int64_t deadline = mono_ms() + WAIT_MS;
	for (;;) {
		char *db = read_all(B->db, &len);
		bool fresh =
		    db && mg_staff_db_open(db, len, &info) == 0 && info.bundle_version == v;
		free(db);
		if (fresh)
			break;
		if (mono_ms() > deadline)
			FAIL_WITH_LOG(B->sc, "staff.db never became version %llu",
			              (unsigned long long)v);
		sleep_ms(50);
	}
	assert_true(mg_now_us() < info.expires_us);
	assert_int_equal(fido2_login(f, B, user), PAM_SUCCESS);
	/* The module looks at the time in whole seconds (authflow.c: now_s()). */
	while (mg_now_us() <= info.expires_us + 1100000)
		sleep_ms(100);
	assert_int_equal(fido2_login(f, B, user), PAM_AUTH_ERR);
	last_event_has(f, B, "auth.failure", "\"central\":\"expired\"", "\"name\":\"Tanaka\"");

	/* The collector back: the failure that says so reaches it from B. */
	restart_server(port);
	int64_t until = mono_ms() + ARRIVE_MS;
	for (bool found = false; !found;) {
		json_t *got = collector_events(B->host);
		size_t i;
		json_t *c;
		json_array_foreach(got, i, c)
		{
			const char *ty = jstr(c, "type"), *u = jstr(c, "user.name"),
			           *central = jstr(c, "auth.central");
			found = found || (ty && strcmp(ty, "auth.failure") == 0 && u &&
			                  strcmp(u, user) == 0 && central &&
			                  strcmp(central, "expired") == 0);
		}
		json_decref(got);
		if (!found && mono_ms() > until)
			FAIL_WITH_LOG(B->sc,
			              "no auth.failure with central expired at the collector");
		if (!found)
			sleep_ms(200);
	}
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "--pam-login") == 0)
		return login_child(argv);
	if (pipeline_init() < 0)
		return 1;
	static const char *const need[] = {"MG_PAM_MODULE", "MG_PAM_PRELOAD", "MG_PAM_ENROLL",
	                                   "MG_SOFT_FIDO2_LIB", "MG_SOFT_FIDO2_CTL"};
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		if (!getenv(need[i])) {
			fprintf(stderr, "set %s (ctest does)\n", need[i]);
			return 1;
		}
	ssize_t len = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	if (len <= 0) {
		perror("/proc/self/exe");
		return 1;
	}
	self_exe[len] = '\0';
	/* Enrolment and staff-register are root's; the module sends its events to an agent
	 * running as the owner of pam_mynaguard.so (test_pipeline_pam.c). */
	struct stat st;
	if (geteuid() != 0 || stat(getenv("MG_PAM_MODULE"), &st) < 0 || st.st_uid != 0) {
		printf("skipped: the two-terminal test runs as root with a root-owned build "
		       "(enrolment and staff-register are root's)\n");
		return 77;
	}
	h_global_setup();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_register_approve_two_keys_revoke, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_disabled_everywhere, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_central_unlock_on_b, setup, teardown),
	    /* last: it stops and restarts the collector */
	    cmocka_unit_test_setup_teardown(test_offline_until_expiry, setup, teardown),
	};
	return api_main("staff_e2e", tests, sizeof(tests) / sizeof(tests[0]));
}
