/*
 * Directory-style user names (issue 15): "Tanaka", "tanaka" (two users), "suzuki@city.local"
 * and a 255-byte name, through mynaguard-enroll (TOTP and FIDO2 with the software
 * authenticator) and logins under pam_wrapper: credential and state files under the
 * collision-free file names of docs/PAM.md, lockout, and events carrying the exact name.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <security/pam_appl.h>

#include "credstore.h"
#include "pam_harness.h"

struct fx {
	struct harness h;
	char softdir[PATH_MAX + 32];
	char soft[PATH_MAX + 64];
};

static const char *enroll_bin(void)
{
	return getenv("MG_PAM_ENROLL");
}

static void ctl(struct fx *f, const char *a1, const char *a2, const char *a3, const char *a4,
                const char *a5)
{
	const char *argv[] = {getenv("MG_SOFT_FIDO2_CTL"), a1, f->soft, a2, a3, a4, a5, NULL};
	char out[2048];
	if (h_run(argv, NULL, out, sizeof(out)) != 0)
		fail_msg("soft-fido2-ctl %s: %s", a1, out);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	h_new(&f->h, "factors = totp\ndeny_after = 2\nunlock_after = 600\n");
	snprintf(f->softdir, sizeof(f->softdir), "%s/soft", f->h.root);
	assert_int_equal(mkdir(f->softdir, 0755), 0);
	snprintf(f->soft, sizeof(f->soft), "%s/soft.json", f->softdir);
	setenv("MG_SOFT_FIDO2_STATE", f->soft, 1);
	ctl(f, "init", "--keys", "1", "--pin", "1234");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	h_free(&f->h);
	free(f);
	return 0;
}

/* mynaguard-enroll totp --user user, the secret on stdin. */
static void enroll_totp(struct fx *f, const char *user, const char *secret)
{
	char out[4096];
	const char *argv[] = {enroll_bin(), "--config", f->h.conf,        "totp",
	                      "--user",     user,       "--secret-stdin", NULL};
	int rc = h_run(argv, secret, out, sizeof(out));
	if (rc != 0)
		fail_msg("enroll totp --user %.40s: %d: %s", user, rc, out);
}

static void load_totp(struct fx *f, const char *user, struct mg_totp_cred **c)
{
	char why[512] = "";
	int r = mg_credstore_load_totp(f->h.creds, geteuid(), user, c, why, sizeof(why));
	if (r != 0)
		fail_msg("load totp of %.40s: %d %s", user, r, why);
}

static bool exists(const char *dir, const char *name)
{
	char p[PATH_MAX + 300];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return lstat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int attempt(struct fx *f, const char *user, const char *answer)
{
	struct h_conv c;
	memset(&c, 0, sizeof(c));
	c.answers[0] = answer;
	c.nanswers = 1;
	int rc = h_auth(&f->h, user, &c);
	h_conv_free(&c);
	return rc;
}

/* The last event of type names user exactly. */
static void event_names(struct fx *f, const char *type, const char *user)
{
	char ev[8192], needle[400];
	assert_true(h_events(&f->h, type, ev, sizeof(ev)) > 0);
	snprintf(needle, sizeof(needle), "\"name\":\"%s\"", user);
	if (!strstr(ev, needle))
		fail_msg("%s event without %s: %s", type, needle, ev);
}

static void file_names(void **state)
{
	(void)state;
	char n[MG_PAM_FILE_NAME_MAX + 1];
	assert_int_equal(mg_pam_user_file(n, sizeof(n), "alice", ".json"), 0);
	assert_string_equal(n, "alice.json");
	assert_int_equal(mg_pam_user_file(n, sizeof(n), "svc_scan$", ".lock"), 0);
	assert_string_equal(n, "svc_scan$.lock");
	assert_int_equal(mg_pam_user_file(n, sizeof(n), "Tanaka", ".json"), 0);
	assert_string_equal(n, "%54anaka.json");
	assert_int_equal(mg_pam_user_file(n, sizeof(n), "suzuki@city.local", ".json"), 0);
	assert_string_equal(n, "suzuki%40city.local.json");
	assert_int_equal(mg_pam_user_file(n, sizeof(n), h_long_user(), ".json"), 0);
	assert_int_equal(n[0], '~');
	assert_int_equal(strlen(n), 1 + 64 + 5);
	/* 245 plain bytes + ".json" = 250 fit as they are; one more byte is hashed. */
	char name[256];
	memset(name, 'a', 245);
	name[245] = '\0';
	assert_int_equal(mg_pam_user_file(n, sizeof(n), name, ".json"), 0);
	assert_int_equal(strlen(n), 250);
	assert_int_equal(n[0], 'a');
	name[245] = 'b';
	name[246] = '\0';
	assert_int_equal(mg_pam_user_file(n, sizeof(n), name, ".json"), 0);
	assert_int_equal(n[0], '~');
	static const char *const bad[] = {"", "../x", "a/b", "-x", ".x", "a b", "é", "a\n", "a%b"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(mg_pam_user_file(n, sizeof(n), bad[i], ".json"), -EINVAL);
	assert_int_equal(mg_pam_user_file(n, 8, "Tanaka", ".json"), -ENAMETOOLONG);
}

static void totp_directory_names(void **state)
{
	struct fx *f = *state;
	char tdir[PATH_MAX + 16], code[16];
	struct mg_totp_cred *c[4] = {NULL, NULL, NULL, NULL};
	const char *users[4] = {"Tanaka", "tanaka", "suzuki@city.local", h_long_user()};
	const char *secrets[4] = {
	    "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\n", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n",
	    "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U\n", "ONSWG4TFORZWK4TFONSWG4TFORZWK4TF\n"};
	for (size_t i = 0; i < 4; i++)
		enroll_totp(f, users[i], secrets[i]);
	snprintf(tdir, sizeof(tdir), "%s/totp", f->h.creds);
	/* One file per user, never by lower-casing: Tanaka and tanaka are two files. */
	assert_true(exists(tdir, "%54anaka.json"));
	assert_true(exists(tdir, "tanaka.json"));
	assert_true(exists(tdir, "suzuki%40city.local.json"));
	char longname[MG_PAM_FILE_NAME_MAX + 1];
	assert_int_equal(mg_pam_user_file(longname, sizeof(longname), h_long_user(), ".json"), 0);
	assert_true(exists(tdir, longname));
	for (size_t i = 0; i < 4; i++)
		load_totp(f, users[i], &c[i]);
	h_avoid_step_edge(30);
	/* Tanaka's code is not tanaka's. */
	h_totp_code(c[0], 0, code, sizeof(code));
	assert_int_equal(attempt(f, "tanaka", code), PAM_AUTH_ERR);
	event_names(f, "auth.failure", "tanaka");
	for (size_t i = 0; i < 4; i++) {
		h_totp_code(c[i], 0, code, sizeof(code));
		assert_int_equal(attempt(f, users[i], code), PAM_SUCCESS);
		event_names(f, "auth.success", users[i]);
		/* The replay rule is kept in the user's own state file. */
		char st[4096];
		h_state(&f->h, users[i], st, sizeof(st));
		assert_non_null(strstr(st, "last_totp_step"));
	}
	for (size_t i = 0; i < 4; i++)
		mg_totp_cred_free(&c[i]);
}

static void lockout_per_exact_name(void **state)
{
	struct fx *f = *state;
	char code[16];
	struct mg_totp_cred *lo = NULL, *up = NULL, *lg = NULL;
	enroll_totp(f, "Tanaka", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\n");
	enroll_totp(f, "tanaka", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n");
	enroll_totp(f, h_long_user(), "ONSWG4TFORZWK4TFONSWG4TFORZWK4TF\n");
	load_totp(f, "Tanaka", &up);
	load_totp(f, "tanaka", &lo);
	load_totp(f, h_long_user(), &lg);
	/* deny_after = 2: Tanaka is locked, tanaka is not. */
	assert_int_equal(attempt(f, "Tanaka", "000000"), PAM_AUTH_ERR);
	assert_int_equal(attempt(f, "Tanaka", "000001"), PAM_AUTH_ERR);
	event_names(f, "auth.lockout", "Tanaka");
	assert_true(h_state_field(&f->h, "Tanaka", "locked_until") > 0);
	char sdir[PATH_MAX + 16];
	snprintf(sdir, sizeof(sdir), "%s", f->h.state);
	assert_true(exists(sdir, "%54anaka.json"));
	assert_true(exists(sdir, "%54anaka.lock"));
	assert_false(exists(sdir, "tanaka.json"));
	h_avoid_step_edge(30);
	h_totp_code(up, 0, code, sizeof(code));
	assert_int_equal(attempt(f, "Tanaka", code), PAM_AUTH_ERR); /* locked */
	h_totp_code(lo, 0, code, sizeof(code));
	assert_int_equal(attempt(f, "tanaka", code), PAM_SUCCESS);
	/* The 255-byte name: its state file is the hashed name. */
	assert_int_equal(attempt(f, h_long_user(), "000000"), PAM_AUTH_ERR);
	assert_int_equal(attempt(f, h_long_user(), "000001"), PAM_AUTH_ERR);
	event_names(f, "auth.lockout", h_long_user());
	char ln[MG_PAM_FILE_NAME_MAX + 1];
	assert_int_equal(mg_pam_user_file(ln, sizeof(ln), h_long_user(), ".json"), 0);
	assert_true(exists(sdir, ln));
	assert_true(h_state_field(&f->h, h_long_user(), "locked_until") > 0);
	/* mynaguard-enroll unlock takes the name too. */
	char out[4096];
	const char *unlock[] = {enroll_bin(), "--config", f->h.conf, "unlock",
	                        "--user",     "Tanaka",   NULL};
	assert_int_equal(h_run(unlock, NULL, out, sizeof(out)), 0);
	char ev[8192];
	assert_true(h_pending(&f->h, "auth.unlock", ev, sizeof(ev)) > 0);
	assert_non_null(strstr(ev, "\"name\":\"Tanaka\""));
	h_totp_code(up, 0, code, sizeof(code));
	assert_int_equal(attempt(f, "Tanaka", code), PAM_SUCCESS);
	mg_totp_cred_free(&up);
	mg_totp_cred_free(&lo);
	mg_totp_cred_free(&lg);
}

static int enroll_fido2(struct fx *f, const char *user, const char *label, char *out, size_t outlen)
{
	const char *argv[] = {enroll_bin(), "--config", f->h.conf, "fido2", "--user",
	                      user,         "--label",  label,     NULL};
	return h_run(argv, "1234\n", out, outlen);
}

static int login_fido2(struct fx *f, const char *user)
{
	char out[256];
	const char *argv[] = {"chown", "-R", "65534:65534", f->softdir, NULL};
	assert_int_equal(h_run(argv, NULL, out, sizeof(out)), 0);
	return attempt(f, user, "1234");
}

static void fido2_directory_names(void **state)
{
	struct fx *f = *state;
	char out[4096], fdir[PATH_MAX + 16];
	h_write_conf(&f->h, "factors = fido2\nrp_id = pam://test\nfido2_timeout = 5\n");
	const char *users[3] = {"Tanaka", "suzuki@city.local", h_long_user()};
	for (size_t i = 0; i < 3; i++) {
		int rc = enroll_fido2(f, users[i], "key-1", out, sizeof(out));
		if (rc != 0)
			fail_msg("enroll fido2 --user %.40s: %d: %s", users[i], rc, out);
	}
	snprintf(fdir, sizeof(fdir), "%s/fido2", f->h.creds);
	assert_true(exists(fdir, "%54anaka.json"));
	assert_true(exists(fdir, "suzuki%40city.local.json"));
	assert_false(exists(fdir, "tanaka.json"));
	for (size_t i = 0; i < 3; i++) {
		h_events_clear(&f->h);
		assert_int_equal(login_fido2(f, users[i]), PAM_SUCCESS);
		event_names(f, "auth.success", users[i]);
		char st[4096];
		h_state(&f->h, users[i], st, sizeof(st));
		assert_non_null(strstr(st, "fido2_counters"));
	}
	/* tanaka has no key of her own: Tanaka's key does not log her in. */
	h_events_clear(&f->h);
	assert_int_equal(login_fido2(f, "tanaka"), PAM_AUTH_ERR);
	event_names(f, "auth.failure", "tanaka");
}

int main(void)
{
	h_global_setup();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(file_names),
	    cmocka_unit_test_setup_teardown(totp_directory_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(lockout_per_exact_name, setup, teardown),
	    cmocka_unit_test_setup_teardown(fido2_directory_names, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
