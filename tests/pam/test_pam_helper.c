/*
 * The screen-locker path: pam_mynaguard.so running as an unprivileged user (uid 65534,
 * "nobody", which the real passwd database has too) reaches secrets and state only through
 * a setuid-root copy of mynaguard-auth-helper. Needs root to make that copy; skipped
 * otherwise.
 *
 * That copy is an ASan build and honours ASAN_OPTIONS, so it must never outlive the test
 * (issue 13, finding 2): it lives in a private mkdtemp directory (root-owned, 0755 so that
 * uid 65534 can run it), removed by the group teardown, at exit, and by a guard process that
 * waits for this process to end in any way (also SIGKILL or an ASan abort, which run no
 * atexit handler). The test build of the helper reads its pam.conf beside its executable.
 * tests/pam/check_helper_leftover.cmake (ctest test_pam_helper_cleanup) kills a run right
 * after the copy exists and checks that the directory is gone.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <grp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <security/pam_appl.h>

#include "credstore.h"
#include "encoding.h"
#include "event_listener.h"
#include "mg/staff_db.h"
#include "mg/time.h"
#include "pam_harness.h"

static char helper_dir[64] = "/tmp/mynaguard-helper.XXXXXX";
static char helper[128]; /* <helper_dir>/mynaguard-auth-helper, setuid root */
static char helper_conf[128];

struct result {
	int rc;
	int nprompts;
	char error[256];
};

/* extra configuration lines plus "helper = <the setuid copy>" (one static buffer). */
static const char *conf_text(const char *extra)
{
	static char text[512];
	snprintf(text, sizeof(text), "%shelper = %s\n", extra, helper);
	return text;
}

static int setup(void **state)
{
	struct harness *h = calloc(1, sizeof(*h));
	h_new(h, conf_text("factors = totp\n"));
	chmod(h->events_file, 0666);
	*state = h;
	return 0;
}

static struct listener *g_listener; /* stopped in teardown also after a failed check */

static int teardown(void **state)
{
	struct harness *h = *state;
	l_stop(&g_listener);
	h_free(h);
	free(h);
	return 0;
}

/* One attempt in a child process that has dropped to uid/gid 65534. */
static struct result as_nobody(struct harness *h, const char *user, const char *answer)
{
	struct result res;
	int p[2];
	memset(&res, 0, sizeof(res));
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct h_conv c;
		close(p[0]);
		if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
		    setresuid(65534, 65534, 65534) < 0)
			_exit(3);
		memset(&c, 0, sizeof(c));
		c.answers[0] = answer;
		c.nanswers = answer ? 1 : 0;
		res.rc = h_auth(h, user, &c);
		res.nprompts = (int)c.nprompts;
		if (c.nerrors)
			snprintf(res.error, sizeof(res.error), "%s", c.errors[0]);
		if (write(p[1], &res, sizeof(res)) != (ssize_t)sizeof(res))
			_exit(4);
		_exit(0);
	}
	close(p[1]);
	ssize_t n = read(p[0], &res, sizeof(res));
	close(p[0]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	h_remove_pam_wrapper_dir(pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(n, sizeof(res));
	return res;
}

static void totp_through_helper(void **state)
{
	struct harness *h = *state;
	struct mg_totp_cred c;
	char code[16], ev[4096];
	h_totp_enroll(h, "nobody", MG_TOTP_SHA1, 6, 30, &c);
	h_avoid_step_edge(30);
	long long step = h_totp_code(&c, 0, code, sizeof(code));
	struct result r = as_nobody(h, "nobody", code);
	assert_int_equal(r.rc, PAM_SUCCESS);
	assert_int_equal(r.nprompts, 1);
	/* The helper (root) wrote the state the module itself cannot read. */
	assert_int_equal(h_state_field(h, "nobody", "last_totp_step"), step);
	assert_int_equal(h_events(h, "auth.success", ev, sizeof(ev)), 1);
	assert_non_null(strstr(ev, "\"credential\":\"phone\""));
	/* No agent: the helper (root; the module cannot) kept the event in the pending file. */
	char line[4096];
	struct stat st;
	assert_int_equal(h_pending(h, NULL, line, sizeof(line)), 1);
	assert_non_null(strstr(line, "\"type\":\"auth.success\""));
	assert_non_null(strstr(line, "\"name\":\"nobody\""));
	assert_non_null(strstr(line, "\"service\":\"mynaguard\""));
	assert_non_null(strstr(line, "\"credential\":\"phone\""));
	assert_int_equal(stat(h->pending, &st), 0);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	r = as_nobody(h, "nobody", code);
	assert_int_equal(r.rc, PAM_AUTH_ERR);
	assert_string_equal(r.error,
	                    "このコードは使用済みです。次のコードを待って入力してください");
}

static void lockout_through_helper(void **state)
{
	struct harness *h = *state;
	char ev[4096];
	h_write_conf(h, conf_text("factors = totp\ndeny_after = 2\n"));
	h_totp_enroll(h, "nobody", MG_TOTP_SHA1, 6, 30, NULL);
	/* The helper sends the events of its decisions to the agent (a test listener here). */
	struct listener *l = g_listener = l_start(h->event_socket, L_REPLY_OK);
	assert_int_equal(as_nobody(h, "nobody", "000000").rc, PAM_AUTH_ERR);
	assert_int_equal(as_nobody(h, "nobody", "000001").rc, PAM_AUTH_ERR);
	assert_int_equal(h_events(h, "auth.lockout", ev, sizeof(ev)), 1);
	struct result r = as_nobody(h, "nobody", "000002");
	assert_int_equal(r.rc, PAM_AUTH_ERR);
	assert_int_equal(r.nprompts, 0);
	assert_int_equal(h_state_field(h, "nobody", "failures"), 2);
	/* Each event once (the module running as nobody sends none itself), as syslog has them. */
	static const char *const types[] = {"auth.failure", "auth.failure", "auth.lockout",
	                                    "auth.failure"};
	char msg[4096], want[64];
	assert_int_equal(l_count(l), 4);
	for (size_t i = 0; i < 4; i++) {
		l_message(l, i, msg, sizeof(msg));
		snprintf(want, sizeof(want), "\"type\":\"%s\"", types[i]);
		assert_non_null(strstr(msg, want));
		assert_non_null(strstr(msg, "\"name\":\"nobody\""));
	}
	assert_non_null(strstr(msg, "\"reason\":\"locked\""));
	assert_int_equal(h_events(h, "auth.failure", NULL, 0), 3);
	assert_int_equal(h_pending(h, NULL, NULL, 0), -1);
}

static void other_user_refused(void **state)
{
	struct harness *h = *state;
	h_totp_enroll(h, "alice", MG_TOTP_SHA1, 6, 30, NULL);
	/* The helper acts only for the calling user. */
	struct result r = as_nobody(h, "alice", "000000");
	assert_int_equal(r.rc, PAM_AUTH_ERR);
	assert_int_equal(r.nprompts, 0);
	assert_string_equal(r.error, "ここでは認証できません (補助プログラムを実行できません)。"
	                             "管理者に連絡してください");
	char st[64];
	h_state(h, "alice", st, sizeof(st));
	assert_string_equal(st, "");
}

static void helper_missing_refused(void **state)
{
	struct harness *h = *state;
	h_write_conf(h, "factors = totp\nhelper = /nonexistent/helper\n");
	h_totp_enroll(h, "nobody", MG_TOTP_SHA1, 6, 30, NULL);
	struct result r = as_nobody(h, "nobody", "000000");
	assert_int_equal(r.rc, PAM_AUTHINFO_UNAVAIL);
	assert_int_equal(r.nprompts, 0);
}

/* The shim's files belong to the unprivileged user who runs the module. */
static void give_to_nobody(const char *dir)
{
	char out[256];
	const char *argv[] = {"chown", "-R", "65534:65534", dir, NULL};
	assert_int_equal(h_run(argv, NULL, out, sizeof(out)), 0);
}

static void fido2_through_helper(void **state)
{
	struct harness *h = *state;
	char soft[PATH_MAX + 64], dir[PATH_MAX + 64], out[4096], ev[4096];
	if (!getenv("MG_SOFT_FIDO2_CTL"))
		skip();
	/* The shim's state file must be writable by the unprivileged user. */
	snprintf(soft, sizeof(soft), "%s/soft", h->root);
	assert_int_equal(mkdir(soft, 0755), 0);
	snprintf(dir, sizeof(dir), "%s", soft);
	strcat(soft, "/soft.json");
	setenv("MG_SOFT_FIDO2_STATE", soft, 1);
	const char *init[] = {getenv("MG_SOFT_FIDO2_CTL"), "init", soft, "--keys", "1", NULL};
	assert_int_equal(h_run(init, NULL, out, sizeof(out)), 0);
	h_write_conf(h, conf_text("factors = fido2\nuv = discouraged\nrp_id = pam://t\n"));
	const char *enroll[] = {getenv("MG_PAM_ENROLL"),
	                        "--config",
	                        h->conf,
	                        "fido2",
	                        "--user",
	                        "nobody",
	                        "--label",
	                        "blue",
	                        NULL};
	if (h_run(enroll, "", out, sizeof(out)) != 0)
		fail_msg("enroll: %s", out);
	give_to_nobody(dir);
	struct result r = as_nobody(h, "nobody", NULL);
	assert_int_equal(r.rc, PAM_SUCCESS);
	assert_int_equal(h_events(h, "auth.success", ev, sizeof(ev)), 1);
	assert_non_null(strstr(ev, "\"factor\":\"fido2\""));
	char st[4096];
	h_state(h, "nobody", st, sizeof(st));
	assert_non_null(strstr(st, "\"fido2_counters\":{\""));
	/* A counter behind the stored one: refused by the helper. */
	const char *back[] = {
	    getenv("MG_SOFT_FIDO2_CTL"), "set", soft, "--key", "0", "--counter", "0", NULL};
	assert_int_equal(h_run(back, NULL, out, sizeof(out)), 0);
	give_to_nobody(dir);
	r = as_nobody(h, "nobody", NULL);
	assert_int_equal(r.rc, PAM_AUTH_ERR);
	assert_int_equal(h_events(h, "auth.failure", ev, sizeof(ev)), 1);
	assert_non_null(strstr(ev, "\"reason\":\"counter-regression\""));
}

/*
 * The helper path of the same rule: uv = preferred, a key with a PIN. The module asked for
 * the PIN and tells the helper so; the helper (root) then requires the UV flag. A rogue key
 * that takes the PIN and signs an answer without UV is refused by the helper.
 */
static void fido2_preferred_without_uv_refused(void **state)
{
	struct harness *h = *state;
	char soft[PATH_MAX + 64], dir[PATH_MAX + 64], out[4096], ev[4096];
	if (!getenv("MG_SOFT_FIDO2_CTL"))
		skip();
	snprintf(soft, sizeof(soft), "%s/soft", h->root);
	assert_int_equal(mkdir(soft, 0755), 0);
	snprintf(dir, sizeof(dir), "%s", soft);
	strcat(soft, "/soft.json");
	setenv("MG_SOFT_FIDO2_STATE", soft, 1);
	const char *init[] = {
	    getenv("MG_SOFT_FIDO2_CTL"), "init", soft, "--keys", "1", "--pin", "1234", NULL};
	assert_int_equal(h_run(init, NULL, out, sizeof(out)), 0);
	h_write_conf(h, conf_text("factors = fido2\nuv = preferred\nrp_id = pam://t\n"));
	const char *enroll[] = {getenv("MG_PAM_ENROLL"),
	                        "--config",
	                        h->conf,
	                        "fido2",
	                        "--user",
	                        "nobody",
	                        "--label",
	                        "blue",
	                        NULL};
	if (h_run(enroll, "1234\n", out, sizeof(out)) != 0)
		fail_msg("enroll: %s", out);
	give_to_nobody(dir);
	setenv("MG_SOFT_FIDO2_ROGUE_NO_UV", "1", 1);
	struct result r = as_nobody(h, "nobody", "1234");
	unsetenv("MG_SOFT_FIDO2_ROGUE_NO_UV");
	assert_int_equal(r.rc, PAM_AUTH_ERR);
	assert_int_equal(h_events(h, "auth.success", NULL, 0), 0);
	assert_int_equal(h_events(h, "auth.failure", ev, sizeof(ev)), 1);
	assert_non_null(strstr(ev, "\"reason\":\"bad-signature\""));
	give_to_nobody(dir);
	r = as_nobody(h, "nobody", "1234");
	assert_int_equal(r.rc, PAM_SUCCESS);
}

/* ---- Central staff credentials (staff.db, issue 15) through the helper ---- */

/* <root>/staff (root, 0755) holding staff.db: readable by the module running as the user. */
static void staff_db_path(struct harness *h, char *path, size_t len)
{
	char dir[PATH_MAX + 16];
	snprintf(dir, sizeof(dir), "%s/staff", h->root);
	if (mkdir(dir, 0755) < 0)
		assert_int_equal(errno, EEXIST);
	snprintf(path, len, "%s/staff.db", dir);
}

/* staff.db as the agent writes it (root, 0644) from the bundle's staff member. */
static void write_staff_db_valid(const char *path, json_t *staff, int64_t valid_s)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	int64_t now = mg_now_us();
	assert_int_equal(mg_staff_db_build(staff, 3, now - 3600 * 1000000LL,
	                                   now + valid_s * 1000000LL, &buf, &len),
	                 0);
	(void)unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, 0644), 0);
	close(fd);
	free(buf);
}

static void write_staff_db(const char *path, json_t *staff)
{
	write_staff_db_valid(path, staff, 3600);
}

/* The last credential of user's local fido2 file as a bundle credential (rp_id given); the
 * local file is removed, so that only staff.db holds it. */
static json_t *move_to_central(struct harness *h, const char *user, const char *rp_id)
{
	struct mg_fido2_credfile *cf = NULL;
	char why[512] = "", path[PATH_MAX + 300], *id = NULL, *pk = NULL;
	assert_int_equal(mg_credstore_load_fido2(h->creds, geteuid(), user, &cf, why, sizeof(why)),
	                 0);
	const struct mg_fido2_cred *c = &cf->creds[cf->n - 1];
	assert_int_equal(mg_b64_encode(c->id, c->id_len, &id), 0);
	assert_int_equal(mg_b64_encode(c->pk, c->pk_len, &pk), 0);
	json_t *j =
	    json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:b}", "aaguid", c->aaguid, "cose_alg", c->cose_alg,
	              "id", id, "label", c->label, "public_key", pk, "rp_id", rp_id, "uv", c->uv);
	free(id);
	free(pk);
	mg_fido2_credfile_free(&cf);
	assert_int_equal(
	    mg_pam_user_path(path, sizeof(path), h->creds, h->state, MG_PAM_FILE_FIDO2, user), 0);
	assert_int_equal(unlink(path), 0);
	return j;
}

/*
 * A central credential (only in staff.db) is accepted on the screen-locker path: the module,
 * as the user, reads staff.db (0644) to ask the key for it; the helper, as root, checks the
 * assertion against staff.db itself. Revoked (gone from staff.db): refused.
 */
static void central_fido2_through_helper(void **state)
{
	struct harness *h = *state;
	char soft[PATH_MAX + 64], dir[PATH_MAX + 64], out[4096], ev[4096], db[PATH_MAX + 32];
	char text[PATH_MAX + 256];
	if (!getenv("MG_SOFT_FIDO2_CTL"))
		skip();
	snprintf(soft, sizeof(soft), "%s/soft", h->root);
	assert_int_equal(mkdir(soft, 0755), 0);
	snprintf(dir, sizeof(dir), "%s", soft);
	strcat(soft, "/soft.json");
	setenv("MG_SOFT_FIDO2_STATE", soft, 1);
	const char *init[] = {getenv("MG_SOFT_FIDO2_CTL"), "init", soft, "--keys", "1", NULL};
	assert_int_equal(h_run(init, NULL, out, sizeof(out)), 0);
	staff_db_path(h, db, sizeof(db));
	snprintf(text, sizeof(text),
	         "factors = fido2\nuv = discouraged\nrp_id = pam://t\nstaff_db = %s\n", db);
	h_write_conf(h, conf_text(text));
	const char *enroll[] = {getenv("MG_PAM_ENROLL"),
	                        "--config",
	                        h->conf,
	                        "fido2",
	                        "--user",
	                        "nobody",
	                        "--label",
	                        "central-1",
	                        NULL};
	if (h_run(enroll, "", out, sizeof(out)) != 0)
		fail_msg("enroll: %s", out);
	json_t *cred = move_to_central(h, "nobody", "pam://t");
	json_t *staff =
	    json_pack("{s:{s:[O],s:s}}", "nobody", "credentials", cred, "state", "active");
	write_staff_db(db, staff);
	give_to_nobody(dir);
	struct result r = as_nobody(h, "nobody", NULL);
	assert_int_equal(r.rc, PAM_SUCCESS);
	assert_int_equal(h_events(h, "auth.success", ev, sizeof(ev)), 1);
	assert_non_null(strstr(ev, "\"factor\":\"fido2\""));
	assert_non_null(strstr(ev, "\"credential\":\"central-1\""));
	char st[4096];
	h_state(h, "nobody", st, sizeof(st));
	assert_non_null(strstr(st, "\"fido2_counters\":{\""));
	/* Registered for another relying party: not for this login. */
	json_object_set_new(cred, "rp_id", json_string("pam://elsewhere"));
	write_staff_db(db, staff);
	give_to_nobody(dir);
	r = as_nobody(h, "nobody", NULL);
	assert_int_equal(r.rc, PAM_AUTH_ERR);
	/* Revoked centrally: refused. */
	json_array_clear(json_object_get(json_object_get(staff, "nobody"), "credentials"));
	write_staff_db(db, staff);
	give_to_nobody(dir);
	r = as_nobody(h, "nobody", NULL);
	assert_int_equal(r.rc, PAM_AUTH_ERR);
	assert_int_equal(h_events(h, "auth.success", NULL, 0), 1);
	/* staff.db past its bundle's validity: central credentials ignored, and the failure's
	 * event says so. */
	json_object_set_new(cred, "rp_id", json_string("pam://t"));
	json_array_append(json_object_get(json_object_get(staff, "nobody"), "credentials"), cred);
	write_staff_db_valid(db, staff, -60);
	give_to_nobody(dir);
	r = as_nobody(h, "nobody", NULL);
	assert_int_equal(r.rc, PAM_AUTH_ERR);
	assert_int_equal(h_events(h, "auth.success", NULL, 0), 1);
	assert_true(h_events(h, "auth.failure", ev, sizeof(ev)) > 0);
	assert_non_null(strstr(ev, "\"central\":\"expired\""));
	json_decref(cred);
	json_decref(staff);
}

/*
 * The helper as a rogue caller would run it (not through the module): "fido2 nobody" as uid
 * 65534, one assertion line for credential id (authdata and signature made up). The result
 * line into res. The helper must look the id up in staff.db itself.
 */
static void helper_raw_fido2(const char *b64_id, char *res, size_t len)
{
	int in[2], outp[2];
	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(outp), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char mode[] = "fido2", user[] = "nobody";
		char *argv[] = {helper, mode, user, NULL}, *envp[] = {NULL};
		if (dup2(in[0], 0) < 0 || dup2(outp[1], 1) < 0 || setgroups(0, NULL) < 0 ||
		    setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
			_exit(3);
		close(in[1]);
		close(outp[0]);
		execve(helper, argv, envp);
		_exit(127);
	}
	close(in[0]);
	close(outp[1]);
	FILE *from = fdopen(outp[0], "r");
	assert_non_null(from);
	char line[512];
	assert_non_null(fgets(line, sizeof(line), from));
	assert_true(strncmp(line, "challenge ", 10) == 0);
	/* authenticator data of the plain form (rpIdHash, flags UP, counter 9), a made-up sig */
	unsigned char ad[39] = {0x58, 37};
	ad[2 + 32] = 0x01;
	ad[2 + 36] = 9;
	char *bad = NULL, *text = NULL;
	assert_int_equal(mg_b64_encode(ad, sizeof(ad), &bad), 0);
	assert_true(asprintf(&text, "assert 2 %s %s MEUCIQDx uv=0\n", b64_id, bad) > 0);
	assert_int_equal(write(in[1], text, strlen(text)), (ssize_t)strlen(text));
	free(bad);
	free(text);
	close(in[1]);
	if (!fgets(res, (int)len, from))
		res[0] = '\0';
	fclose(from);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
}

/*
 * What the helper accepts is decided by its own reading of staff.db (as root, its own
 * configuration), never by what the module asked the key for: a central credential id is
 * found (and its made-up signature refused), an id registered for another relying party or
 * revoked is not registered.
 */
static void central_helper_checks_itself(void **state)
{
	struct harness *h = *state;
	char soft[PATH_MAX + 64], out[4096], db[PATH_MAX + 32], text[PATH_MAX + 256], res[512];
	if (!getenv("MG_SOFT_FIDO2_CTL"))
		skip();
	snprintf(soft, sizeof(soft), "%s/soft", h->root);
	assert_int_equal(mkdir(soft, 0755), 0);
	strcat(soft, "/soft.json");
	setenv("MG_SOFT_FIDO2_STATE", soft, 1);
	const char *init[] = {getenv("MG_SOFT_FIDO2_CTL"), "init", soft, "--keys", "1", NULL};
	assert_int_equal(h_run(init, NULL, out, sizeof(out)), 0);
	staff_db_path(h, db, sizeof(db));
	snprintf(text, sizeof(text),
	         "factors = fido2\nuv = discouraged\nrp_id = pam://t\nstaff_db = %s\n", db);
	h_write_conf(h, conf_text(text));
	const char *enroll[] = {getenv("MG_PAM_ENROLL"),
	                        "--config",
	                        h->conf,
	                        "fido2",
	                        "--user",
	                        "nobody",
	                        "--label",
	                        "central-1",
	                        NULL};
	if (h_run(enroll, "", out, sizeof(out)) != 0)
		fail_msg("enroll: %s", out);
	json_t *cred = move_to_central(h, "nobody", "pam://t");
	char *id = strdup(json_string_value(json_object_get(cred, "id")));
	json_t *staff =
	    json_pack("{s:{s:[O],s:s}}", "nobody", "credentials", cred, "state", "active");
	write_staff_db(db, staff);
	helper_raw_fido2(id, res, sizeof(res));
	assert_non_null(strstr(res, "result fail reason=bad-signature "));
	helper_raw_fido2("AAECAwQFBgcICQ==", res, sizeof(res));
	assert_non_null(strstr(res, "result fail reason=not-registered "));
	json_object_set_new(cred, "rp_id", json_string("pam://elsewhere"));
	write_staff_db(db, staff);
	helper_raw_fido2(id, res, sizeof(res));
	assert_non_null(strstr(res, "reason=not-registered "));
	json_array_clear(json_object_get(json_object_get(staff, "nobody"), "credentials"));
	write_staff_db(db, staff);
	helper_raw_fido2(id, res, sizeof(res));
	assert_non_null(strstr(res, "reason=not-registered "));
	free(id);
	json_decref(cred);
	json_decref(staff);
}

/* A staff member disabled centrally is refused through the helper with the reason said as it
 * is (not as a state error): the message, no prompt, the event's reason. */
static void central_disabled_through_helper(void **state)
{
	struct harness *h = *state;
	char ev[4096], db[PATH_MAX + 32], text[PATH_MAX + 256], code[16];
	struct mg_totp_cred c;
	staff_db_path(h, db, sizeof(db));
	snprintf(text, sizeof(text), "factors = totp\nstaff_db = %s\n", db);
	h_write_conf(h, conf_text(text));
	h_totp_enroll(h, "nobody", MG_TOTP_SHA1, 6, 30, &c);
	json_t *staff = json_pack("{s:{s:[],s:s}}", "nobody", "credentials", "state", "disabled");
	write_staff_db(db, staff);
	h_avoid_step_edge(30);
	h_totp_code(&c, 0, code, sizeof(code));
	struct result r = as_nobody(h, "nobody", code);
	assert_int_equal(r.rc, PAM_AUTH_ERR);
	assert_int_equal(r.nprompts, 0);
	assert_string_equal(
	    r.error, "このアカウントは管理者により無効にされています。管理者に連絡してください");
	assert_int_equal(h_events(h, "auth.failure", ev, sizeof(ev)), 1);
	assert_non_null(strstr(ev, "\"reason\":\"staff-disabled\""));
	assert_true(h_state_field(h, "nobody", "failures") <= 0);
	/* Enabled again: the same code's step works. */
	json_object_set_new(json_object_get(staff, "nobody"), "state", json_string("active"));
	write_staff_db(db, staff);
	r = as_nobody(h, "nobody", code);
	assert_int_equal(r.rc, PAM_SUCCESS);
	json_decref(staff);
}

static pid_t main_pid;
static bool prepared;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Drops the setuid bit first (never a setuid file left, even if the removal fails), then
 * removes the directory. In process: a spawned rm inherited the wrappers' preloads. */
static void remove_helper_dir(void)
{
	if (!prepared)
		return;
	(void)chmod(helper, 0700);
	(void)nftw(helper_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* At exit and in the group teardown, in the test process only, never in a forked child. */
static void remove_dir(void)
{
	if (getpid() == main_pid)
		remove_helper_dir();
}

static int group_teardown(void **state)
{
	(void)state;
	remove_dir();
	return 0;
}

/*
 * A guard process that removes the directory once this process has ended, however it ended:
 * it waits for the end of a pipe whose only writer is this process (O_CLOEXEC, so programs
 * the test runs do not keep it open; forked children of the test exit before it does).
 */
static int start_guard(void)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		char c;
		close(p[1]);
		(void)setsid(); /* not in the test's process group: a kill of the group spares it */
		for (;;) {
			ssize_t n = read(p[0], &c, 1);
			if (n == 0 || (n < 0 && errno != EINTR))
				break;
		}
		remove_helper_dir();
		_exit(0);
	}
	close(p[0]);
	return 0; /* p[1] stays open until this process ends */
}

/* A setuid-root copy of the helper and a copy of the module that uid 65534 can read, in a
 * private directory; its pam.conf beside the helper (MG_PAM_TEST_CONF for the harness). */
static int prepare(void)
{
	char out[1024], module[160];
	if (!mkdtemp(helper_dir))
		return -1;
	prepared = true;
	snprintf(helper, sizeof(helper), "%s/mynaguard-auth-helper", helper_dir);
	snprintf(helper_conf, sizeof(helper_conf), "%s/pam.conf", helper_dir);
	snprintf(module, sizeof(module), "%s/pam_mynaguard.so", helper_dir);
	if (start_guard() < 0 || chmod(helper_dir, 0755) < 0)
		return -1;
	const char *cp1[] = {"cp", getenv("MG_PAM_HELPER"), helper, NULL};
	const char *cp2[] = {"cp", getenv("MG_PAM_MODULE"), module, NULL};
	if (h_run(cp1, NULL, out, sizeof(out)) != 0 || h_run(cp2, NULL, out, sizeof(out)) != 0)
		return -1;
	if (chown(helper, 0, 0) < 0 || chmod(helper, 04755) < 0 || chmod(module, 0644) < 0)
		return -1;
	setenv("MG_PAM_MODULE", module, 1);
	setenv("MG_PAM_TEST_CONF", helper_conf, 1);
	return 0;
}

int main(void)
{
	if (geteuid() != 0) {
		printf("test_pam_helper: needs root to install a setuid copy of the helper; "
		       "skipped\n");
		return 0;
	}
	main_pid = getpid();
	atexit(remove_dir);
	int r = prepare();
	if (prepared) {
		printf("helper dir: %s\n", helper_dir); /* for check_helper_leftover.cmake */
		fflush(stdout);
	}
	if (r < 0) {
		fprintf(stderr, "cannot prepare %s: %s\n", helper_dir, strerror(errno));
		return 1;
	}
	if (getenv("MG_PAM_HELPER_TEST_KILL")) /* the cleanup check: die without atexit */
		raise(SIGKILL);
	h_global_setup();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(totp_through_helper, setup, teardown),
	    cmocka_unit_test_setup_teardown(lockout_through_helper, setup, teardown),
	    cmocka_unit_test_setup_teardown(other_user_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(helper_missing_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(fido2_through_helper, setup, teardown),
	    cmocka_unit_test_setup_teardown(fido2_preferred_without_uv_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(central_fido2_through_helper, setup, teardown),
	    cmocka_unit_test_setup_teardown(central_disabled_through_helper, setup, teardown),
	    cmocka_unit_test_setup_teardown(central_helper_checks_itself, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, group_teardown);
}
