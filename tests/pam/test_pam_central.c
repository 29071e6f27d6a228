/*
 * Central staff credentials on a terminal (issue 15): the agent's staff.db (built here with
 * mg_staff_db_build from a bundle's "staff" member) read by pam_mynaguard.so under
 * pam_wrapper, FIDO2 through the software authenticator. A credential made on the key with
 * mynaguard-enroll is moved from the local file into staff.db, so that only the central copy
 * can accept it.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <security/pam_appl.h>

#include "credstore.h"
#include "encoding.h"
#include "mg/event.h"
#include "mg/safe_open.h"
#include "mg/staff_db.h"
#include "mg/time.h"
#include "pam_harness.h"

#define CONF_FIDO2 "factors = fido2\nrp_id = pam://test\nfido2_timeout = 5\n"

struct fx {
	struct harness h;
	char softdir[PATH_MAX + 32];
	char soft[PATH_MAX + 64];
	char agentdir[PATH_MAX + 32];
	char db[PATH_MAX + 64];
	json_t *staff; /* the bundle's "staff" member being built */
};

static void ctl(struct fx *f, const char *a1, const char *a2, const char *a3, const char *a4,
                const char *a5)
{
	const char *argv[] = {getenv("MG_SOFT_FIDO2_CTL"), a1, f->soft, a2, a3, a4, a5, NULL};
	char out[2048];
	if (h_run(argv, NULL, out, sizeof(out)) != 0)
		fail_msg("soft-fido2-ctl %s: %s", a1, out);
}

/* pam.conf: the test's lines plus staff_db. */
static void conf(struct fx *f, const char *extra)
{
	char text[PATH_MAX + 1024];
	snprintf(text, sizeof(text), "%.900sstaff_db = %s\n", extra, f->db);
	h_write_conf(&f->h, text);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	h_new(&f->h, "");
	snprintf(f->softdir, sizeof(f->softdir), "%s/soft", f->h.root);
	assert_int_equal(mkdir(f->softdir, 0755), 0);
	snprintf(f->soft, sizeof(f->soft), "%s/soft.json", f->softdir);
	snprintf(f->agentdir, sizeof(f->agentdir), "%s/agent", f->h.root);
	assert_int_equal(mkdir(f->agentdir, 0700), 0);
	snprintf(f->db, sizeof(f->db), "%s/staff.db", f->agentdir);
	setenv("MG_SOFT_FIDO2_STATE", f->soft, 1);
	ctl(f, "init", "--keys", "1", "--pin", "1234");
	f->staff = json_object();
	conf(f, CONF_FIDO2);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	json_decref(f->staff);
	h_free(&f->h);
	free(f);
	return 0;
}

static int enroll_fido2(struct fx *f, const char *user, const char *label)
{
	char out[4096];
	const char *argv[] = {getenv("MG_PAM_ENROLL"),
	                      "--config",
	                      f->h.conf,
	                      "fido2",
	                      "--user",
	                      user,
	                      "--label",
	                      label,
	                      NULL};
	int rc = h_run(argv, "1234\n", out, sizeof(out));
	if (rc != 0)
		fail_msg("enroll fido2 %.40s: %s", user, out);
	return rc;
}

/* The bundle's staff entry of user (created when missing) with state. */
static json_t *staff_user(struct fx *f, const char *user, const char *state)
{
	json_t *u = json_object_get(f->staff, user);
	if (!u) {
		u = json_pack("{s:[],s:s}", "credentials", "state", state);
		json_object_set_new(f->staff, user, u);
	}
	json_object_set_new(u, "state", json_string(state));
	if (strcmp(state, "disabled") == 0)
		json_object_set_new(u, "credentials", json_array());
	return u;
}

/*
 * Enrols a credential for user on the key with mynaguard-enroll, then moves it from the local
 * file into the staff entry (rp_id given): only staff.db holds it afterwards.
 */
static void central_key(struct fx *f, const char *user, const char *label, const char *rp_id)
{
	struct mg_fido2_credfile *cf = NULL;
	char why[512] = "", path[PATH_MAX + 300], *id = NULL, *pk = NULL;
	enroll_fido2(f, user, label);
	assert_int_equal(
	    mg_credstore_load_fido2(f->h.creds, geteuid(), user, &cf, why, sizeof(why)), 0);
	const struct mg_fido2_cred *c = &cf->creds[cf->n - 1];
	assert_int_equal(mg_b64_encode(c->id, c->id_len, &id), 0);
	assert_int_equal(mg_b64_encode(c->pk, c->pk_len, &pk), 0);
	json_t *u = staff_user(f, user, "active");
	json_array_append_new(json_object_get(u, "credentials"),
	                      json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:b}", "aaguid", c->aaguid,
	                                "cose_alg", c->cose_alg, "id", id, "label", c->label,
	                                "public_key", pk, "rp_id", rp_id, "uv", c->uv));
	free(id);
	free(pk);
	mg_fido2_credfile_free(&cf);
	assert_int_equal(
	    mg_pam_user_path(path, sizeof(path), f->h.creds, f->h.state, MG_PAM_FILE_FIDO2, user),
	    0);
	assert_int_equal(unlink(path), 0);
}

/* staff.db as the agent writes it (root, 0644), valid from an hour ago until expires_us. */
static void write_db_until(struct fx *f, int64_t expires_us)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	assert_int_equal(
	    mg_staff_db_build(f->staff, 7, mg_now_us() - 3600 * 1000000LL, expires_us, &buf, &len),
	    0);
	int fd = open(f->db, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
	chmod(f->db, 0644);
	free(buf);
}

/* The same, valid for valid_s from now. */
static void write_db(struct fx *f, int64_t valid_s)
{
	write_db_until(f, mg_now_us() + valid_s * 1000000LL);
}

static int attempt(struct fx *f, const char *user, const char *answer, struct h_conv *c)
{
	char out[256];
	const char *argv[] = {"chown", "-R", "65534:65534", f->softdir, NULL};
	assert_int_equal(h_run(argv, NULL, out, sizeof(out)), 0);
	memset(c, 0, sizeof(*c));
	c->answers[0] = answer;
	c->nanswers = answer ? 1 : 0;
	return h_auth(&f->h, user, c);
}

static int login(struct fx *f, const char *user, const char *answer)
{
	struct h_conv c;
	int rc = attempt(f, user, answer, &c);
	h_conv_free(&c);
	return rc;
}

/* The last event of type holds each needle (NULL-terminated list). */
static void last_event_has(struct fx *f, const char *type, const char *n1, const char *n2)
{
	char ev[8192];
	assert_true(h_events(&f->h, type, ev, sizeof(ev)) > 0);
	if (n1 && !strstr(ev, n1))
		fail_msg("%s event without %s: %s", type, n1, ev);
	if (n2 && !strstr(ev, n2))
		fail_msg("%s event without %s: %s", type, n2, ev);
}

static void central_credential_login(void **state)
{
	struct fx *f = *state;
	central_key(f, "Tanaka", "central-1", "pam://test");
	central_key(f, "suzuki@city.local", "central-2", "pam://test");
	/* A key registered for another relying party is not accepted here. */
	central_key(f, "tanaka", "other-rp", "pam://elsewhere");
	write_db(f, 3600);
	assert_int_equal(login(f, "Tanaka", "1234"), PAM_SUCCESS);
	last_event_has(f, "auth.success", "\"name\":\"Tanaka\"", "\"credential\":\"central-1\"");
	assert_int_equal(login(f, "suzuki@city.local", "1234"), PAM_SUCCESS);
	last_event_has(f, "auth.success", "\"name\":\"suzuki@city.local\"",
	               "\"credential\":\"central-2\"");
	/* Its signature counter is kept in the user's state like a local key's. */
	char st[4096];
	h_state(&f->h, "Tanaka", st, sizeof(st));
	assert_non_null(strstr(st, "fido2_counters"));
	assert_int_equal(login(f, "tanaka", "1234"), PAM_AUTH_ERR);
	last_event_has(f, "auth.failure", "\"name\":\"tanaka\"", "not-registered");
	/* credentials = local: staff.db is ignored. */
	conf(f, CONF_FIDO2 "credentials = local\n");
	assert_int_equal(login(f, "Tanaka", "1234"), PAM_AUTH_ERR);
	last_event_has(f, "auth.failure", "\"name\":\"Tanaka\"", "not-registered");
	/* credentials = central: a local key alone is not enough. */
	enroll_fido2(f, "alice", "local-1");
	conf(f, CONF_FIDO2 "credentials = central\n");
	assert_int_equal(login(f, "alice", "1234"), PAM_AUTH_ERR);
	assert_int_equal(login(f, "Tanaka", "1234"), PAM_SUCCESS);
	conf(f, CONF_FIDO2 "credentials = both\n");
	assert_int_equal(login(f, "alice", "1234"), PAM_SUCCESS);
}

static void disabled_refused_everywhere(void **state)
{
	struct fx *f = *state;
	struct h_conv c;
	enroll_fido2(f, "alice", "local-1");
	struct mg_totp_cred tc;
	h_totp_enroll(&f->h, "alice", MG_TOTP_SHA1, 6, 30, &tc);
	staff_user(f, "alice", "disabled");
	write_db(f, 3600);
	/* A local key and a local TOTP secret do not help a staff member disabled centrally. */
	assert_int_equal(attempt(f, "alice", "1234", &c), PAM_AUTH_ERR);
	assert_int_equal(c.nprompts, 0);
	assert_true(c.nerrors > 0);
	assert_string_equal(
	    c.errors[0],
	    "このアカウントは管理者により無効にされています。管理者に連絡してください");
	h_conv_free(&c);
	last_event_has(f, "auth.failure", "\"reason\":\"staff-disabled\"", "\"name\":\"alice\"");
	char code[16];
	conf(f, "factors = totp\n");
	h_avoid_step_edge(30);
	h_totp_code(&tc, 0, code, sizeof(code));
	assert_int_equal(login(f, "alice", code), PAM_AUTH_ERR);
	last_event_has(f, "auth.failure", "\"reason\":\"staff-disabled\"", NULL);
	conf(f, "factors = fido2, totp\nrp_id = pam://test\n");
	assert_int_equal(login(f, "alice", "1234"), PAM_AUTH_ERR);
	/* Nothing was counted: not a guess. */
	assert_true(h_state_field(&f->h, "alice", "failures") <= 0);
	/* credentials = local: the central state does not apply. */
	conf(f, "factors = totp\ncredentials = local\n");
	assert_int_equal(login(f, "alice", code), PAM_SUCCESS);
	/* Enabled again: TOTP works with central credentials in use too. */
	staff_user(f, "alice", "active");
	write_db(f, 3600);
	conf(f, "factors = fido2\nrp_id = pam://test\n");
	assert_int_equal(login(f, "alice", "1234"), PAM_SUCCESS);
}

static void expired_falls_back_to_local(void **state)
{
	struct fx *f = *state;
	central_key(f, "Tanaka", "central-1", "pam://test");
	write_db(f, -60); /* the bundle's validity ended a minute ago */
	assert_int_equal(login(f, "Tanaka", "1234"), PAM_AUTH_ERR);
	last_event_has(f, "auth.failure", "\"central\":\"expired\"", "\"name\":\"Tanaka\"");
	/* The agent and the collector take the event as it is (mg_event_from_json is strict). */
	char ev[8192], emsg[256] = "";
	struct mg_event *parsed = NULL;
	assert_true(h_events(&f->h, "auth.failure", ev, sizeof(ev)) > 0);
	ev[strcspn(ev, "\n")] = '\0';
	if (mg_event_from_json(ev, strlen(ev), &parsed, emsg, sizeof(emsg)) != 0)
		fail_msg("event refused: %s: %s", emsg, ev);
	assert_string_equal(parsed->auth->central, "expired");
	assert_string_equal(parsed->user->name, "Tanaka");
	mg_event_free(&parsed);
	/* Local credentials keep working. */
	enroll_fido2(f, "Tanaka", "local-1");
	assert_int_equal(login(f, "Tanaka", "1234"), PAM_SUCCESS);
	last_event_has(f, "auth.success", "\"credential\":\"local-1\"", NULL);
	/* A disabled entry in an expired staff.db is ignored as well. */
	staff_user(f, "Tanaka", "disabled");
	write_db(f, -60);
	assert_int_equal(login(f, "Tanaka", "1234"), PAM_SUCCESS);
	/* A missing staff.db is normal (a terminal without central staff): no "central". */
	unlink(f->db);
	assert_int_equal(login(f, "tanaka", "1234"), PAM_AUTH_ERR);
	assert_true(h_events(&f->h, "auth.failure", ev, sizeof(ev)) > 0);
	assert_null(strstr(ev, "\"central\""));
}

/*
 * Expiry to the microsecond: a staff.db that expired a few milliseconds ago, within the
 * current second, is expired (the module once compared whole seconds: up to 1 s late).
 */
static void expired_within_the_second(void **state)
{
	struct fx *f = *state;
	central_key(f, "Tanaka", "central-1", "pam://test");
	write_db(f, 3600);
	assert_int_equal(login(f, "Tanaka", "1234"), PAM_SUCCESS);
	/* Just after a second begins: expired 1 ms into it, the login at once. */
	int64_t now;
	while ((now = mg_now_us()) % 1000000 < 5000 || now % 1000000 > 20000) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	write_db_until(f, now - now % 1000000 + 1000);
	assert_int_equal(login(f, "Tanaka", "1234"), PAM_AUTH_ERR);
	last_event_has(f, "auth.failure", "\"central\":\"expired\"", "\"name\":\"Tanaka\"");
}

static void damaged_fails_closed(void **state)
{
	struct fx *f = *state;
	central_key(f, "Tanaka", "central-1", "pam://test");
	write_db(f, 3600);
	enroll_fido2(f, "alice", "local-1");
	assert_int_equal(login(f, "Tanaka", "1234"), PAM_SUCCESS);
	/* A flipped byte in the index: the whole file is refused. */
	FILE *fp = fopen(f->db, "r+b");
	assert_non_null(fp);
	fseek(fp, MG_STAFF_DB_HEADER + 4, SEEK_SET); /* name_len of the first entry */
	fputc(0xff, fp);
	fclose(fp);
	assert_int_equal(login(f, "Tanaka", "1234"), PAM_AUTH_ERR);
	last_event_has(f, "auth.failure", "\"central\":\"unavailable\"", NULL);
	assert_int_equal(login(f, "alice", "1234"), PAM_SUCCESS);
	/* Truncated, garbage, writable by others, a symlink: unavailable, local still works. */
	write_db(f, 3600);
	assert_int_equal(truncate(f->db, 30), 0);
	assert_int_equal(login(f, "Tanaka", "1234"), PAM_AUTH_ERR);
	last_event_has(f, "auth.failure", "\"central\":\"unavailable\"", NULL);
	write_db(f, 3600);
	chmod(f->db, 0666);
	assert_int_equal(login(f, "Tanaka", "1234"), PAM_AUTH_ERR);
	last_event_has(f, "auth.failure", "\"central\":\"unavailable\"", NULL);
	assert_int_equal(login(f, "alice", "1234"), PAM_SUCCESS);
	char real[PATH_MAX + 64];
	snprintf(real, sizeof(real), "%s/real.db", f->agentdir);
	write_db(f, 3600);
	assert_int_equal(rename(f->db, real), 0);
	assert_int_equal(symlink(real, f->db), 0);
	assert_int_equal(login(f, "Tanaka", "1234"), PAM_AUTH_ERR);
	last_event_has(f, "auth.failure", "\"central\":\"unavailable\"", NULL);
	/* A record that does not parse (the header and index are intact): this user's central
	 * data is not used. */
	unlink(f->db);
	write_db(f, 3600);
	char *data = NULL;
	size_t len = 0;
	struct mg_file_rules any = {.owner = MG_ANY_OWNER, .max_size = 1u << 20};
	assert_int_equal(mg_safe_read_file(f->db, &any, &data, &len, NULL), 0);
	char *id = memmem(data, len, "\"id\":\"", 6);
	assert_non_null(id);
	id[6] = '!';
	int fd = open(f->db, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	free(data);
	assert_int_equal(login(f, "Tanaka", "1234"), PAM_AUTH_ERR);
	last_event_has(f, "auth.failure", "\"central\":\"unavailable\"", NULL);
	assert_int_equal(login(f, "alice", "1234"), PAM_SUCCESS);
}

static void central_unlock_once(void **state)
{
	struct fx *f = *state;
	struct mg_totp_cred tc;
	char code[16], ts[MG_RFC3339_LEN];
	conf(f, "factors = totp\ndeny_after = 2\nunlock_after = 3600\n");
	h_totp_enroll(&f->h, "Tanaka", MG_TOTP_SHA1, 6, 30, &tc);
	json_t *u = staff_user(f, "Tanaka", "active");
	/* An unlock older than the lockout does not clear it. */
	assert_int_equal(mg_time_format(mg_now_us() - 7200 * 1000000LL, ts), 0);
	json_object_set_new(u, "unlocked_at", json_string(ts));
	write_db(f, 3600);
	assert_int_equal(login(f, "Tanaka", "000000"), PAM_AUTH_ERR);
	assert_int_equal(login(f, "Tanaka", "000001"), PAM_AUTH_ERR);
	last_event_has(f, "auth.lockout", "\"name\":\"Tanaka\"", NULL);
	h_avoid_step_edge(30);
	h_totp_code(&tc, 0, code, sizeof(code));
	assert_int_equal(login(f, "Tanaka", code), PAM_AUTH_ERR);
	assert_true(h_state_field(&f->h, "Tanaka", "locked_until") > 0);
	/* The administrator unlocks Tanaka for all terminals after the lockout began. */
	assert_int_equal(mg_time_format(mg_now_us(), ts), 0);
	json_object_set_new(u, "unlocked_at", json_string(ts));
	write_db(f, 3600);
	assert_int_equal(login(f, "Tanaka", code), PAM_SUCCESS);
	last_event_has(f, "auth.unlock", "\"reason\":\"central\"", "\"name\":\"Tanaka\"");
	/* Once: locked again, the same unlock does not clear the new lockout. */
	assert_int_equal(login(f, "Tanaka", "000000"), PAM_AUTH_ERR);
	assert_int_equal(login(f, "Tanaka", "000001"), PAM_AUTH_ERR);
	h_avoid_step_edge(30);
	h_totp_code(&tc, 1, code, sizeof(code));
	assert_int_equal(login(f, "Tanaka", code), PAM_AUTH_ERR);
	assert_true(h_state_field(&f->h, "Tanaka", "locked_until") > 0);
	/* tanaka is another person: the unlock of Tanaka is not hers. */
	assert_null(json_object_get(f->staff, "tanaka"));
}

int main(void)
{
	h_global_setup();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(central_credential_login, setup, teardown),
	    cmocka_unit_test_setup_teardown(disabled_refused_everywhere, setup, teardown),
	    cmocka_unit_test_setup_teardown(expired_falls_back_to_local, setup, teardown),
	    cmocka_unit_test_setup_teardown(expired_within_the_second, setup, teardown),
	    cmocka_unit_test_setup_teardown(damaged_fails_closed, setup, teardown),
	    cmocka_unit_test_setup_teardown(central_unlock_once, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
