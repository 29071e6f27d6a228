/*
 * pam_mynaguard.so with FIDO2 security keys: libfido2 talks to the software CTAP2
 * authenticators of tests/support/fido2 (LD_PRELOAD shim, state file MG_SOFT_FIDO2_STATE,
 * edited with soft-fido2-ctl). Enrolment with mynaguard-enroll, then logins through libpam
 * under pam_wrapper. Running as root, the module talks to the keys from a child that has
 * dropped to "nobody" (issue 13, finding 13), so the software keys' state lives in a directory
 * given to uid 65534 before each login.
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <security/pam_appl.h>

#include "pam_harness.h"

#define PIN_PROMPT "セキュリティキーの PIN: "
#define TOUCH      "セキュリティキーに触れてください"

struct fx {
	struct harness h;
	char softdir[PATH_MAX + 32];
	char soft[PATH_MAX + 64];
};

static void ctl(struct fx *f, const char *a1, const char *a2, const char *a3, const char *a4,
                const char *a5, const char *a6, const char *a7)
{
	const char *argv[] = {
	    getenv("MG_SOFT_FIDO2_CTL"), a1, f->soft, a2, a3, a4, a5, a6, a7, NULL};
	char out[2048];
	if (h_run(argv, NULL, out, sizeof(out)) != 0)
		fail_msg("soft-fido2-ctl %s: %s", a1, out);
}

static int enroll(struct fx *f, const char *user, const char *label, const char *pin,
                  const char *device, char *out, size_t outlen)
{
	const char *argv[] = {getenv("MG_PAM_ENROLL"),
	                      "--config",
	                      f->h.conf,
	                      "fido2",
	                      "--user",
	                      user,
	                      "--label",
	                      label,
	                      device ? "--device" : NULL,
	                      device,
	                      NULL};
	char in[64];
	snprintf(in, sizeof(in), "%s\n", pin ? pin : "");
	return h_run(argv, in, out, outlen);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	h_new(&f->h, "factors = fido2\nrp_id = pam://test\nfido2_timeout = 5\n");
	snprintf(f->softdir, sizeof(f->softdir), "%s/soft", f->h.root);
	assert_int_equal(mkdir(f->softdir, 0755), 0);
	snprintf(f->soft, sizeof(f->soft), "%s/soft.json", f->softdir);
	setenv("MG_SOFT_FIDO2_STATE", f->soft, 1);
	ctl(f, "init", "--keys", "1", "--pin", "1234", NULL, NULL);
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

/* The keys' state belongs to uid 65534, who talks to them during a login. */
static void give_soft_to_nobody(struct fx *f)
{
	char out[256];
	const char *argv[] = {"chown", "-R", "65534:65534", f->softdir, NULL};
	assert_int_equal(h_run(argv, NULL, out, sizeof(out)), 0);
}

static int login(struct fx *f, const char *user, const char *pin, struct h_conv *c)
{
	give_soft_to_nobody(f);
	memset(c, 0, sizeof(*c));
	c->answers[0] = pin;
	c->nanswers = pin ? 1 : 0;
	return h_auth(&f->h, user, c);
}

static bool has_info(const struct h_conv *c, const char *text)
{
	for (size_t i = 0; i < c->ninfos; i++)
		if (strcmp(c->infos[i], text) == 0)
			return true;
	return false;
}

static void enrol_then_login(void **state)
{
	struct fx *f = *state;
	struct h_conv c;
	char out[4096], ev[4096];
	assert_int_equal(enroll(f, "alice", "blue", "1234", NULL, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "blue"));
	assert_int_equal(login(f, "alice", "1234", &c), PAM_SUCCESS);
	assert_int_equal(c.nprompts, 1);
	assert_string_equal(c.prompts[0], PIN_PROMPT);
	assert_true(has_info(&c, TOUCH));
	assert_int_equal(c.nerrors, 0);
	h_conv_free(&c);
	assert_int_equal(h_events(&f->h, "auth.success", ev, sizeof(ev)), 1);
	assert_non_null(strstr(ev, "\"factor\":\"fido2\""));
	assert_non_null(strstr(ev, "\"credential\":\"blue\""));
	assert_null(strstr(ev, "1234"));
	/* The counter is stored and a second login goes up from it. */
	char st[4096];
	h_state(&f->h, "alice", st, sizeof(st));
	assert_non_null(strstr(st, "\"fido2_counters\":{\""));
	assert_int_equal(login(f, "alice", "1234", &c), PAM_SUCCESS);
	h_conv_free(&c);
	/* The public file is 0644, listed by the tool. */
	const char *list[] = {
	    getenv("MG_PAM_ENROLL"), "--config", f->h.conf, "list", "--user", "alice", NULL};
	assert_int_equal(h_run(list, NULL, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "fido2 blue cose_alg=-7"));
}

static void no_touch_refused(void **state)
{
	struct fx *f = *state;
	struct h_conv c;
	char out[4096], ev[4096];
	assert_int_equal(enroll(f, "alice", "blue", "1234", NULL, out, sizeof(out)), 0);
	ctl(f, "set", "--key", "0", "--touch", "no", NULL, NULL);
	assert_int_equal(login(f, "alice", "1234", &c), PAM_AUTH_ERR);
	assert_string_equal(c.errors[0], "セキュリティキーへのタッチが確認できませんでした");
	h_conv_free(&c);
	assert_int_equal(h_events(&f->h, "auth.failure", ev, sizeof(ev)), 1);
	assert_non_null(strstr(ev, "\"reason\":\"no-touch\""));
	assert_int_equal(h_state_field(&f->h, "alice", "failures"), 1);
}

static void wrong_pin_refused(void **state)
{
	struct fx *f = *state;
	struct h_conv c;
	char out[4096], ev[4096];
	assert_int_equal(enroll(f, "alice", "blue", "1234", NULL, out, sizeof(out)), 0);
	assert_int_equal(login(f, "alice", "9999", &c), PAM_AUTH_ERR);
	assert_string_equal(c.errors[0], "PIN が正しくありません");
	h_conv_free(&c);
	assert_int_equal(h_events(&f->h, "auth.failure", ev, sizeof(ev)), 1);
	assert_non_null(strstr(ev, "\"reason\":\"wrong-pin\""));
	assert_null(strstr(ev, "9999"));
}

static void pin_required_but_absent(void **state)
{
	struct fx *f = *state;
	struct h_conv c;
	char out[4096], ev[4096];
	assert_int_equal(enroll(f, "alice", "blue", "1234", NULL, out, sizeof(out)), 0);
	/* uv = required and an empty PIN: refused before the key is asked. */
	assert_int_equal(login(f, "alice", "", &c), PAM_AUTH_ERR);
	assert_string_equal(c.errors[0], "PIN の入力が必要です");
	h_conv_free(&c);
	assert_int_equal(h_events(&f->h, "auth.failure", ev, sizeof(ev)), 1);
	assert_non_null(strstr(ev, "\"reason\":\"pin-missing\""));
	/* A key with no PIN at all cannot verify the user: refused too. */
	ctl(f, "set", "--key", "0", "--no-pin", NULL, NULL, NULL);
	assert_int_equal(login(f, "alice", NULL, &c), PAM_AUTH_ERR);
	assert_int_equal(c.nprompts, 0);
	assert_string_equal(c.errors[0], "このセキュリティキーには PIN が設定されていません。"
	                                 "管理者に連絡してください");
	h_conv_free(&c);
	assert_int_equal(h_events(&f->h, "auth.failure", ev, sizeof(ev)), 2);
	assert_non_null(strstr(ev, "\"reason\":\"uv-unavailable\""));
	/* With uv = discouraged the touch alone is enough and no PIN is asked. */
	h_write_conf(&f->h, "factors = fido2\nrp_id = pam://test\nuv = discouraged\n");
	assert_int_equal(login(f, "alice", NULL, &c), PAM_SUCCESS);
	assert_int_equal(c.nprompts, 0);
	h_conv_free(&c);
}

/* Issue 13, finding 7: with uv = preferred a key that has a PIN set must get it; an empty
 * PIN is not a touch-only downgrade. A key with no PIN still logs in with a touch. */
static void preferred_requires_pin_when_set(void **state)
{
	struct fx *f = *state;
	struct h_conv c;
	char out[4096], ev[4096];
	assert_int_equal(enroll(f, "alice", "blue", "1234", NULL, out, sizeof(out)), 0);
	h_write_conf(&f->h, "factors = fido2\nrp_id = pam://test\nuv = preferred\n");
	assert_int_equal(login(f, "alice", "", &c), PAM_AUTH_ERR);
	assert_string_equal(c.errors[0], "PIN の入力が必要です");
	h_conv_free(&c);
	assert_int_equal(h_events(&f->h, "auth.failure", ev, sizeof(ev)), 1);
	assert_non_null(strstr(ev, "\"reason\":\"pin-missing\""));
	assert_int_equal(login(f, "alice", "1234", &c), PAM_SUCCESS);
	h_conv_free(&c);
	ctl(f, "set", "--key", "0", "--no-pin", NULL, NULL, NULL);
	assert_int_equal(login(f, "alice", NULL, &c), PAM_SUCCESS);
	assert_int_equal(c.nprompts, 0);
	h_conv_free(&c);
}

/*
 * uv = preferred and a key with a PIN: the PIN was asked, so the verifier (root) must see the
 * UV flag in the signed authenticator data. A rogue key that takes the PIN and then signs an
 * answer without UV is refused (the signature itself is good).
 */
static void preferred_rogue_answer_without_uv_refused(void **state)
{
	struct fx *f = *state;
	struct h_conv c;
	char out[4096], ev[4096];
	assert_int_equal(enroll(f, "alice", "blue", "1234", NULL, out, sizeof(out)), 0);
	h_write_conf(&f->h, "factors = fido2\nrp_id = pam://test\nuv = preferred\n");
	setenv("MG_SOFT_FIDO2_ROGUE_NO_UV", "1", 1);
	int rc = login(f, "alice", "1234", &c);
	unsetenv("MG_SOFT_FIDO2_ROGUE_NO_UV");
	assert_int_equal(rc, PAM_AUTH_ERR);
	assert_int_equal(c.nprompts, 1);
	h_conv_free(&c);
	assert_int_equal(h_events(&f->h, "auth.success", NULL, 0), 0);
	assert_int_equal(h_events(&f->h, "auth.failure", ev, sizeof(ev)), 1);
	assert_non_null(strstr(ev, "\"reason\":\"bad-signature\""));
	/* The same key answering honestly logs in. */
	assert_int_equal(login(f, "alice", "1234", &c), PAM_SUCCESS);
	h_conv_free(&c);
}

/*
 * Issue 13, finding 13: running as root, the module does the CTAP exchange (HID frames, PIN
 * protocol, CBOR answers) in a child that dropped to "nobody". Seen from the software key:
 * its state file, rewritten at each assertion (temporary file + rename), then belongs to the
 * uid that talked to it. The root parent still verified the assertion and stored the counter.
 */
static void key_exchange_runs_unprivileged(void **state)
{
	struct fx *f = *state;
	struct h_conv c;
	struct stat st;
	char out[4096], buf[4096];
	assert_int_equal(enroll(f, "alice", "blue", "1234", NULL, out, sizeof(out)), 0);
	assert_int_equal(login(f, "alice", "1234", &c), PAM_SUCCESS);
	h_conv_free(&c);
	assert_int_equal(stat(f->soft, &st), 0);
	print_message("key state written by uid %u gid %u\n", (unsigned)st.st_uid,
	              (unsigned)st.st_gid);
	assert_int_equal(st.st_uid, 65534);
	assert_int_equal(st.st_gid, 65534);
	/* The state (root's) has the counter: the parent decided. */
	h_state(&f->h, "alice", buf, sizeof(buf));
	assert_non_null(strstr(buf, "\"fido2_counters\":{\""));
	assert_int_equal(stat(f->h.state, &st), 0);
	assert_int_equal(st.st_uid, 0);
}

static void unknown_credential(void **state)
{
	struct fx *f = *state;
	struct h_conv c, unknown;
	char out[4096], ev[4096];
	assert_int_equal(enroll(f, "alice", "blue", "1234", NULL, out, sizeof(out)), 0);
	/* Another key (a fresh authenticator) holds none of alice's credentials. */
	ctl(f, "init", "--keys", "1", "--pin", "1234", NULL, NULL);
	assert_int_equal(login(f, "alice", "1234", &c), PAM_AUTH_ERR);
	assert_string_equal(c.errors[0], "このセキュリティキーは登録されていません");
	assert_int_equal(h_events(&f->h, "auth.failure", ev, sizeof(ev)), 1);
	assert_non_null(strstr(ev, "\"reason\":\"not-registered\""));
	/* An unknown user sees exactly the same exchange. */
	assert_int_equal(login(f, "mallory", "1234", &unknown), PAM_AUTH_ERR);
	assert_int_equal(unknown.nprompts, c.nprompts);
	assert_int_equal(unknown.ninfos, c.ninfos);
	assert_string_equal(unknown.errors[0], c.errors[0]);
	h_conv_free(&c);
	h_conv_free(&unknown);
	/* With TOTP after FIDO2, the unregistered key leads on to the code prompt. */
	h_write_conf(&f->h, "factors = fido2, totp\nrp_id = pam://test\n");
	assert_int_equal(login(f, "alice", "1234", &c), PAM_AUTH_ERR); /* no second answer */
	assert_int_equal(c.nprompts, 2);
	assert_string_equal(c.prompts[1], "ワンタイムパスワード: ");
	h_conv_free(&c);
}

static void cloned_key_counter_regression(void **state)
{
	struct fx *f = *state;
	struct h_conv c;
	char out[4096], ev[4096];
	assert_int_equal(enroll(f, "alice", "blue", "1234", NULL, out, sizeof(out)), 0);
	ctl(f, "set", "--key", "0", "--counter", "100", NULL, NULL);
	assert_int_equal(login(f, "alice", "1234", &c), PAM_SUCCESS);
	h_conv_free(&c);
	/* A copy of the key whose counter is behind the stored one. */
	ctl(f, "set", "--key", "0", "--counter", "50", NULL, NULL);
	assert_int_equal(login(f, "alice", "1234", &c), PAM_AUTH_ERR);
	assert_string_equal(c.errors[0],
	                    "このセキュリティキーは使用できません。管理者に連絡してください");
	h_conv_free(&c);
	assert_int_equal(h_events(&f->h, "auth.failure", ev, sizeof(ev)), 1);
	assert_non_null(strstr(ev, "\"reason\":\"counter-regression\""));
	assert_non_null(strstr(ev, "\"credential\":\"blue\""));
	assert_int_equal(h_state_field(&f->h, "alice", "failures"), 1);
}

static void two_keys_touch_any(void **state)
{
	struct fx *f = *state;
	struct h_conv c;
	char out[4096], ev[4096];
	ctl(f, "init", "--keys", "2", "--pin", "1234", NULL, NULL);
	assert_int_equal(enroll(f, "alice", "second", "1234", "1", out, sizeof(out)), 0);
	/* Both keys are asked at once; the registered one answers. */
	assert_int_equal(login(f, "alice", "1234", &c), PAM_SUCCESS);
	h_conv_free(&c);
	assert_int_equal(h_events(&f->h, "auth.success", ev, sizeof(ev)), 1);
	assert_non_null(strstr(ev, "\"credential\":\"second\""));
	/* The registered key is not touched: its refusal is reported, not the other's. */
	ctl(f, "set", "--key", "1", "--touch", "no", NULL, NULL);
	assert_int_equal(login(f, "alice", "1234", &c), PAM_AUTH_ERR);
	assert_string_equal(c.errors[0], "セキュリティキーへのタッチが確認できませんでした");
	h_conv_free(&c);
	/* Both registered: either one is enough. */
	ctl(f, "set", "--key", "1", "--touch", "yes", NULL, NULL);
	assert_int_equal(enroll(f, "alice", "first", "1234", "0", out, sizeof(out)), 0);
	ctl(f, "set", "--key", "1", "--touch", "timeout", NULL, NULL);
	assert_int_equal(login(f, "alice", "1234", &c), PAM_SUCCESS);
	h_conv_free(&c);
	assert_int_equal(h_events(&f->h, "auth.success", ev, sizeof(ev)), 2);
	assert_non_null(strstr(ev, "\"credential\":\"first\""));
}

/* PIN retries left on key N, from soft-fido2-ctl show (one line per key, in order). */
static int key_retries(struct fx *f, int key)
{
	const char *argv[] = {getenv("MG_SOFT_FIDO2_CTL"), "show", f->soft, NULL};
	char out[8192];
	if (h_run(argv, NULL, out, sizeof(out)) != 0)
		fail_msg("soft-fido2-ctl show: %s", out);
	const char *p = out;
	for (int i = 0; i <= key; i++) {
		p = strstr(p, " retries=");
		if (!p)
			fail_msg("no key %d in: %s", key, out);
		p += strlen(" retries=");
	}
	return atoi(p);
}

/* Issue 13, finding 4: the PIN goes only to the key that holds an allowed credential; another
 * key (with its own PIN) and a rogue one receive no PIN and lose no retry. */
static void pin_only_to_matching_key(void **state)
{
	struct fx *f = *state;
	struct h_conv c;
	char out[4096];
	ctl(f, "init", "--keys", "3", "--pin", "1234", NULL, NULL);
	assert_int_equal(enroll(f, "alice", "second", "1234", "1", out, sizeof(out)), 0);
	ctl(f, "set", "--key", "0", "--pin", "5555", NULL, NULL);
	ctl(f, "set", "--key", "2", "--pin", "7777", NULL, NULL);
	int r0 = key_retries(f, 0), r2 = key_retries(f, 2);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(login(f, "alice", "1234", &c), PAM_SUCCESS);
		h_conv_free(&c);
	}
	assert_int_equal(key_retries(f, 0), r0);
	assert_int_equal(key_retries(f, 2), r2);
	/* A wrong PIN costs a retry on the registered key only. */
	assert_int_equal(login(f, "alice", "9999", &c), PAM_AUTH_ERR);
	h_conv_free(&c);
	assert_int_equal(key_retries(f, 0), r0);
	assert_int_equal(key_retries(f, 2), r2);
	assert_int_equal(key_retries(f, 1), r0 - 1);
}

static void timeout_cancels(void **state)
{
	struct fx *f = *state;
	struct h_conv c;
	char out[4096], ev[4096];
	assert_int_equal(enroll(f, "alice", "blue", "1234", NULL, out, sizeof(out)), 0);
	h_write_conf(&f->h, "factors = fido2\nrp_id = pam://test\nfido2_timeout = 1\n");
	ctl(f, "set", "--key", "0", "--touch", "timeout", NULL, NULL);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(login(f, "alice", "1234", &c), PAM_AUTH_ERR);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(secs >= 0.9);
	assert_true(secs < 4.0); /* cancelled at the deadline, not left to the key */
	assert_string_equal(c.errors[0], "時間切れです");
	h_conv_free(&c);
	assert_int_equal(h_events(&f->h, "auth.failure", ev, sizeof(ev)), 1);
	assert_non_null(strstr(ev, "\"reason\":\"timeout\""));
}

static void no_key_falls_back_to_totp(void **state)
{
	struct fx *f = *state;
	struct h_conv c;
	char out[4096];
	assert_int_equal(enroll(f, "alice", "blue", "1234", NULL, out, sizeof(out)), 0);
	ctl(f, "set", "--key", "0", "--present", "no", NULL, NULL);
	h_write_conf(&f->h, "factors = fido2, totp\nrp_id = pam://test\n");
	struct mg_totp_cred t;
	char code[16];
	h_totp_enroll(&f->h, "alice", MG_TOTP_SHA1, 6, 30, &t);
	h_avoid_step_edge(30);
	h_totp_code(&t, 0, code, sizeof(code));
	assert_int_equal(login(f, "alice", code, &c), PAM_SUCCESS);
	assert_int_equal(c.nprompts, 1);
	assert_string_equal(c.prompts[0], "ワンタイムパスワード: ");
	h_conv_free(&c);
	/* FIDO2 only and no key: nothing to authenticate with. */
	h_write_conf(&f->h, "factors = fido2\nrp_id = pam://test\n");
	assert_int_equal(login(f, "alice", NULL, &c), PAM_AUTHINFO_UNAVAIL);
	assert_string_equal(c.errors[0], "利用できる認証方法がありません");
	h_conv_free(&c);
}

int main(void)
{
	h_global_setup();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(enrol_then_login, setup, teardown),
	    cmocka_unit_test_setup_teardown(no_touch_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(wrong_pin_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(pin_required_but_absent, setup, teardown),
	    cmocka_unit_test_setup_teardown(preferred_requires_pin_when_set, setup, teardown),
	    cmocka_unit_test_setup_teardown(preferred_rogue_answer_without_uv_refused, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(key_exchange_runs_unprivileged, setup, teardown),
	    cmocka_unit_test_setup_teardown(unknown_credential, setup, teardown),
	    cmocka_unit_test_setup_teardown(cloned_key_counter_regression, setup, teardown),
	    cmocka_unit_test_setup_teardown(two_keys_touch_any, setup, teardown),
	    cmocka_unit_test_setup_teardown(pin_only_to_matching_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(timeout_cancels, setup, teardown),
	    cmocka_unit_test_setup_teardown(no_key_falls_back_to_totp, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
