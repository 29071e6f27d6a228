/*
 * pam_mynaguard.so with TOTP, whole stack through libpam under pam_wrapper: right code,
 * replay, window, wrong parameters, lockout and unlock, concurrent use of one code, unsafe
 * credential files, unknown users, languages, events, account phase.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
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
#include <security/pam_appl.h>

#include "authstate.h"
#include "pam_harness.h"

#define PROMPT_JA "ワンタイムパスワード: "
#define PROMPT_EN "One-time code: "

static int setup(void **state)
{
	struct harness *h = calloc(1, sizeof(*h));
	h_new(h, "factors = totp\nrp_id = pam://test\n");
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	struct harness *h = *state;
	h_free(h);
	free(h);
	return 0;
}

/* One attempt with one answer; the conversation is returned for inspection. */
static int attempt(struct harness *h, const char *user, const char *answer, struct h_conv *c)
{
	memset(c, 0, sizeof(*c));
	c->answers[0] = answer;
	c->nanswers = 1;
	return h_auth(h, user, c);
}

static void right_code_succeeds(void **state)
{
	struct harness *h = *state;
	struct mg_totp_cred c;
	struct h_conv conv;
	char code[16], ev[4096];
	h_totp_enroll(h, "alice", MG_TOTP_SHA1, 6, 30, &c);
	h_avoid_step_edge(30);
	long long step = h_totp_code(&c, 0, code, sizeof(code));
	assert_int_equal(attempt(h, "alice", code, &conv), PAM_SUCCESS);
	assert_int_equal(conv.nprompts, 1);
	assert_string_equal(conv.prompts[0], PROMPT_JA);
	assert_int_equal(conv.nerrors, 0);
	h_conv_free(&conv);
	/* The accepted step is stored; the event names user, service, factor, credential. */
	assert_int_equal(h_state_field(h, "alice", "last_totp_step"), step);
	assert_int_equal(h_state_field(h, "alice", "failures"), 0);
	assert_int_equal(h_events(h, "auth.success", ev, sizeof(ev)), 1);
	assert_non_null(strstr(ev, "\"factor\":\"totp\""));
	assert_non_null(strstr(ev, "\"credential\":\"phone\""));
	assert_non_null(strstr(ev, "\"name\":\"alice\""));
	assert_non_null(strstr(ev, "\"service\":\"mynaguard\""));
	assert_non_null(strstr(ev, "\"seq\":0"));
	assert_null(strstr(ev, code)); /* never the code */
}

static void reused_code_refused(void **state)
{
	struct harness *h = *state;
	struct mg_totp_cred c;
	struct h_conv conv;
	char code[16], ev[4096];
	h_totp_enroll(h, "alice", MG_TOTP_SHA1, 6, 30, &c);
	h_avoid_step_edge(30);
	h_totp_code(&c, 0, code, sizeof(code));
	assert_int_equal(attempt(h, "alice", code, &conv), PAM_SUCCESS);
	h_conv_free(&conv);
	assert_int_equal(attempt(h, "alice", code, &conv), PAM_AUTH_ERR);
	assert_int_equal(conv.nerrors, 1);
	assert_string_equal(conv.errors[0],
	                    "このコードは使用済みです。次のコードを待って入力してください");
	h_conv_free(&conv);
	assert_int_equal(h_events(h, "auth.failure", ev, sizeof(ev)), 1);
	assert_non_null(strstr(ev, "\"reason\":\"replay\""));
	assert_non_null(strstr(ev, "\"failures\":1"));
	/* The previous step is older than the accepted one: refused as well. */
	h_totp_code(&c, -1, code, sizeof(code));
	assert_int_equal(attempt(h, "alice", code, &conv), PAM_AUTH_ERR);
	h_conv_free(&conv);
	assert_int_equal(h_state_field(h, "alice", "failures"), 2);
}

static void window_previous_and_next(void **state)
{
	struct harness *h = *state;
	struct mg_totp_cred c;
	struct h_conv conv;
	char code[16];
	h_totp_enroll(h, "alice", MG_TOTP_SHA1, 6, 30, &c);
	h_avoid_step_edge(30);
	long long step = h_totp_code(&c, -1, code, sizeof(code));
	assert_int_equal(attempt(h, "alice", code, &conv), PAM_SUCCESS);
	h_conv_free(&conv);
	assert_int_equal(h_state_field(h, "alice", "last_totp_step"), step);
	step = h_totp_code(&c, 1, code, sizeof(code));
	assert_int_equal(attempt(h, "alice", code, &conv), PAM_SUCCESS);
	h_conv_free(&conv);
	assert_int_equal(h_state_field(h, "alice", "last_totp_step"), step);
	/* Now the current step is not greater than the stored one. */
	struct stat before, after;
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/alice.json", h->state);
	assert_int_equal(stat(path, &before), 0);
	h_totp_code(&c, 0, code, sizeof(code));
	assert_int_equal(attempt(h, "alice", code, &conv), PAM_AUTH_ERR);
	h_conv_free(&conv);
	/* The state is written all or nothing (issue 13, finding 1) and in place: the same file
	 * of two slots, the new record in the slot not holding the previous one (docs/PAM.md
	 * section 3). */
	assert_int_equal(stat(path, &after), 0);
	assert_true(after.st_ino == before.st_ino);
	assert_int_equal(after.st_size, 2 * MG_AUTHSTATE_SLOT_SMALL);
	assert_int_equal(after.st_mode & 07777, 0600);
	char st_text[1024];
	h_state(h, "alice", st_text, sizeof(st_text));
	assert_non_null(strstr(st_text, "\"version\":2"));
	assert_non_null(strstr(st_text, "\"checksum\":\""));
	assert_int_equal(h_state_field(h, "alice", "failures"), 1);
}

static void outside_window_refused(void **state)
{
	struct harness *h = *state;
	struct mg_totp_cred c;
	struct h_conv conv;
	char code[16], ev[4096];
	h_totp_enroll(h, "alice", MG_TOTP_SHA1, 6, 30, &c);
	h_avoid_step_edge(30);
	h_totp_code(&c, -2, code, sizeof(code));
	assert_int_equal(attempt(h, "alice", code, &conv), PAM_AUTH_ERR);
	assert_string_equal(conv.errors[0], "認証に失敗しました");
	h_conv_free(&conv);
	h_totp_code(&c, 2, code, sizeof(code));
	assert_int_equal(attempt(h, "alice", code, &conv), PAM_AUTH_ERR);
	h_conv_free(&conv);
	assert_int_equal(h_events(h, "auth.failure", ev, sizeof(ev)), 2);
	assert_non_null(strstr(ev, "\"reason\":\"wrong-code\""));
	/* A wider window accepts it. */
	h_write_conf(h, "factors = totp\ntotp_window = 2\n");
	assert_int_equal(attempt(h, "alice", code, &conv), PAM_SUCCESS);
	h_conv_free(&conv);
}

static void algorithms_and_digits(void **state)
{
	struct harness *h = *state;
	struct mg_totp_cred c, sha1;
	struct h_conv conv;
	char code[16];
	h_totp_enroll(h, "alice", MG_TOTP_SHA256, 8, 60, &c);
	h_avoid_step_edge(60);
	/* A SHA-1 6-digit code is wrong for a SHA-256 8-digit credential. */
	sha1 = c;
	sha1.algorithm = MG_TOTP_SHA1;
	sha1.digits = 6;
	h_totp_code(&sha1, 0, code, sizeof(code));
	assert_int_equal(attempt(h, "alice", code, &conv), PAM_AUTH_ERR);
	h_conv_free(&conv);
	sha1.digits = 8;
	h_totp_code(&sha1, 0, code, sizeof(code));
	assert_int_equal(attempt(h, "alice", code, &conv), PAM_AUTH_ERR);
	h_conv_free(&conv);
	h_totp_code(&c, 0, code, sizeof(code));
	assert_int_equal(strlen(code), 8);
	assert_int_equal(attempt(h, "alice", code, &conv), PAM_SUCCESS);
	h_conv_free(&conv);
	h_totp_enroll(h, "bob", MG_TOTP_SHA512, 6, 30, &c);
	h_avoid_step_edge(30);
	h_totp_code(&c, 0, code, sizeof(code));
	assert_int_equal(attempt(h, "bob", code, &conv), PAM_SUCCESS);
	h_conv_free(&conv);
}

static void lockout_and_unlock(void **state)
{
	struct harness *h = *state;
	struct mg_totp_cred c;
	struct h_conv conv;
	char code[16], ev[4096], out[4096];
	h_write_conf(h, "factors = totp\ndeny_after = 3\nunlock_after = 15m\n");
	h_totp_enroll(h, "alice", MG_TOTP_SHA1, 6, 30, &c);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(attempt(h, "alice", "000000x", &conv), PAM_AUTH_ERR);
		h_conv_free(&conv);
	}
	assert_int_equal(h_events(h, "auth.lockout", ev, sizeof(ev)), 1);
	assert_non_null(strstr(ev, "\"failures\":3"));
	assert_true(h_state_field(h, "alice", "locked_until") > (long long)time(NULL) + 800);
	/* Locked: refused without a prompt, even with the right code. */
	h_avoid_step_edge(30);
	h_totp_code(&c, 0, code, sizeof(code));
	assert_int_equal(attempt(h, "alice", code, &conv), PAM_AUTH_ERR);
	assert_int_equal(conv.nprompts, 0);
	assert_string_equal(conv.errors[0], "認証の失敗が続いたため、一時的にロックされています。"
	                                    "しばらく待つか、管理者に連絡してください");
	h_conv_free(&conv);
	assert_int_equal(h_account(h, "alice"), PAM_PERM_DENIED);
	assert_int_equal(h_account(h, "bob"), PAM_SUCCESS);
	/* The administrator unlocks. */
	const char *argv[] = {
	    getenv("MG_PAM_ENROLL"), "--config", h->conf, "unlock", "--user", "alice", NULL};
	assert_int_equal(h_run(argv, NULL, out, sizeof(out)), 0);
	assert_int_equal(h_state_field(h, "alice", "locked_until"), 0);
	assert_int_equal(h_state_field(h, "alice", "failures"), 0);
	/* Its auth.unlock event: no agent listens, so it is in the pending file. */
	assert_int_equal(h_pending(h, "auth.unlock", ev, sizeof(ev)), 1);
	assert_non_null(strstr(ev, "\"reason\":\"admin\""));
	assert_non_null(strstr(ev, "\"service\":\"mynaguard-enroll\""));
	assert_int_equal(attempt(h, "alice", code, &conv), PAM_SUCCESS);
	h_conv_free(&conv);
}

static void lockout_expires(void **state)
{
	struct harness *h = *state;
	struct mg_totp_cred c;
	struct h_conv conv;
	char code[16], st[256];
	h_totp_enroll(h, "alice", MG_TOTP_SHA1, 6, 30, &c);
	/* A lockout that ended a second ago (written as the module would have written it). */
	snprintf(st, sizeof(st),
	         "{\"failures\":5,\"fido2_counters\":{},\"last_totp_step\":0,\"locked_until\":%lld,"
	         "\"version\":1}\n",
	         (long long)time(NULL) - 1);
	h_write_state(h, "alice", st);
	h_avoid_step_edge(30);
	h_totp_code(&c, 0, code, sizeof(code));
	assert_int_equal(attempt(h, "alice", code, &conv), PAM_SUCCESS);
	h_conv_free(&conv);
	assert_int_equal(h_events(h, "auth.unlock", NULL, 0), 1);
	assert_int_equal(h_state_field(h, "alice", "locked_until"), 0);
}

static void concurrent_same_code_one_wins(void **state)
{
	struct harness *h = *state;
	struct mg_totp_cred c;
	char code[16];
	enum { N = 4 };
	pid_t pids[N];
	int go[2], ready[2];
	h_totp_enroll(h, "alice", MG_TOTP_SHA1, 6, 30, &c);
	h_avoid_step_edge(30);
	h_totp_code(&c, 0, code, sizeof(code));
	assert_int_equal(pipe(go), 0);
	assert_int_equal(pipe(ready), 0);
	for (int i = 0; i < N; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct h_conv conv;
			char b;
			close(go[1]);
			close(ready[0]);
			/* One child after the other makes its pam_wrapper directory (forked
			 * children have neighbouring ids, from which pam_wrapper picks the same
			 * name). */
			if (h_pam_wrapper_prepare(h) < 0 || write(ready[1], "r", 1) != 1)
				_exit(4);
			/* All children start together: they block until the parent closes the pipe.
			 */
			if (read(go[0], &b, 1) != 0)
				_exit(3);
			_exit(attempt(h, "alice", code, &conv)); /* PAM codes are < 64 */
		}
		char r;
		assert_int_equal(read(ready[0], &r, 1), 1);
	}
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
	int ok = 0, refused = 0;
	for (int i = 0; i < N; i++) {
		int st;
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		h_remove_pam_wrapper_dir(pids[i]);
		assert_true(WIFEXITED(st));
		int rc = WEXITSTATUS(st);
		if (rc != PAM_SUCCESS && rc != PAM_AUTH_ERR)
			fail_msg("child %d: PAM code %d (%s)", i, rc, pam_strerror(NULL, rc));
		ok += rc == PAM_SUCCESS;
		refused += rc == PAM_AUTH_ERR;
	}
	assert_int_equal(ok, 1);
	assert_int_equal(refused, N - 1);
	assert_int_equal(h_events(h, "auth.success", NULL, 0), 1);
	assert_int_equal(h_events(h, "auth.failure", NULL, 0), N - 1);
}

static void unsafe_credential_files_refused(void **state)
{
	struct harness *h = *state;
	struct mg_totp_cred c;
	struct h_conv conv;
	char code[16], path[PATH_MAX + 64], ev[4096];
	h_write_conf(h, "factors = totp\ndeny_after = 10\n");
	h_totp_enroll(h, "alice", MG_TOTP_SHA1, 6, 30, &c);
	snprintf(path, sizeof(path), "%s/totp/alice.json", h->creds);
	h_avoid_step_edge(30);
	h_totp_code(&c, 0, code, sizeof(code));
	/* World-writable, then group-readable secret: refused. */
	chmod(path, 0666);
	assert_int_equal(attempt(h, "alice", code, &conv), PAM_AUTHINFO_UNAVAIL);
	h_conv_free(&conv);
	assert_int_equal(h_events(h, "auth.failure", ev, sizeof(ev)), 1);
	assert_non_null(strstr(ev, "\"reason\":\"credential-error\""));
	chmod(path, 0640);
	assert_int_equal(attempt(h, "alice", code, &conv), PAM_AUTHINFO_UNAVAIL);
	h_conv_free(&conv);
	/* Tampered content: another user's file copied in. */
	chmod(path, 0600);
	h_totp_enroll(h, "bob", MG_TOTP_SHA1, 6, 30, NULL);
	char bob[PATH_MAX + 64], cmd_out[256];
	snprintf(bob, sizeof(bob), "%s/totp/bob.json", h->creds);
	const char *cp[] = {"cp", bob, path, NULL};
	assert_int_equal(h_run(cp, NULL, cmd_out, sizeof(cmd_out)), 0);
	assert_int_equal(attempt(h, "alice", code, &conv), PAM_AUTHINFO_UNAVAIL);
	h_conv_free(&conv);
	/* A symbolic link. */
	unlink(path);
	assert_int_equal(symlink(bob, path), 0);
	assert_int_equal(attempt(h, "alice", code, &conv), PAM_AUTHINFO_UNAVAIL);
	h_conv_free(&conv);
	/* A group-writable credential directory. */
	unlink(path);
	h_totp_enroll(h, "alice", MG_TOTP_SHA1, 6, 30, &c);
	snprintf(path, sizeof(path), "%s/totp", h->creds);
	chmod(path, 0775);
	assert_int_equal(attempt(h, "alice", code, &conv), PAM_AUTHINFO_UNAVAIL);
	h_conv_free(&conv);
	/* Each refusal was counted. */
	assert_int_equal(h_state_field(h, "alice", "failures"), 5);
	chmod(path, 0755);
	assert_int_equal(attempt(h, "alice", code, &conv), PAM_SUCCESS);
	h_conv_free(&conv);
}

/*
 * A credential path that is a directory, a FIFO or an oversized file is refused like any other
 * unusable credential file (PAM_AUTHINFO_UNAVAIL, docs/PAM.md section 1), counted, and before
 * the user is asked for a code: nobody types a code that can never be checked.
 */
static void unusable_credential_file_before_prompt(void **state)
{
	struct harness *h = *state;
	struct h_conv conv;
	char path[PATH_MAX + 64], ev[4096];
	h_write_conf(h, "factors = totp\ndeny_after = 10\n");
	snprintf(path, sizeof(path), "%s/totp/alice.json", h->creds);
	for (int kind = 0; kind < 3; kind++) {
		if (kind == 0) {
			assert_int_equal(mkdir(path, 0700), 0);
		} else if (kind == 1) {
			assert_int_equal(mkfifo(path, 0600), 0);
		} else {
			FILE *f = fopen(path, "w");
			assert_non_null(f);
			for (size_t i = 0; i < MG_CREDFILE_MAX_SIZE + 1; i++)
				fputc(' ', f);
			fclose(f);
			chmod(path, 0600);
		}
		h_events_clear(h);
		assert_int_equal(attempt(h, "alice", "123456", &conv), PAM_AUTHINFO_UNAVAIL);
		assert_int_equal(conv.nprompts, 0);
		assert_int_equal(conv.nerrors, 1);
		assert_string_equal(conv.errors[0],
		                    "認証の設定に誤りがあります。管理者に連絡してください");
		h_conv_free(&conv);
		assert_int_equal(h_events(h, "auth.failure", ev, sizeof(ev)), 1);
		assert_non_null(strstr(ev, "\"reason\":\"credential-error\""));
		assert_int_equal(h_state_field(h, "alice", "failures"), kind + 1);
		if (kind == 0)
			assert_int_equal(rmdir(path), 0);
		else
			assert_int_equal(unlink(path), 0);
	}
	/* A bad file of a known user is still refused at once after a good login is possible. */
	struct mg_totp_cred c;
	char code[16];
	h_totp_enroll(h, "alice", MG_TOTP_SHA1, 6, 30, &c);
	h_avoid_step_edge(30);
	h_totp_code(&c, 0, code, sizeof(code));
	assert_int_equal(attempt(h, "alice", code, &conv), PAM_SUCCESS);
	assert_int_equal(conv.nprompts, 1);
	h_conv_free(&conv);
}

static void unknown_user_same_prompts(void **state)
{
	struct harness *h = *state;
	struct h_conv known, unknown, invalid, noenrol;
	h_totp_enroll(h, "alice", MG_TOTP_SHA1, 6, 30, NULL);
	assert_int_equal(attempt(h, "alice", "123456", &known), PAM_AUTH_ERR);
	assert_int_equal(attempt(h, "mallory", "123456", &unknown), PAM_AUTH_ERR);
	assert_int_equal(attempt(h, "../../etc/passwd", "123456", &invalid), PAM_AUTH_ERR);
	assert_int_equal(attempt(h, "bob", "123456", &noenrol), PAM_AUTH_ERR);
	struct h_conv *all[] = {&unknown, &invalid, &noenrol};
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(all[i]->nprompts, known.nprompts);
		assert_string_equal(all[i]->prompts[0], known.prompts[0]);
		assert_int_equal(all[i]->nerrors, known.nerrors);
		assert_string_equal(all[i]->errors[0], known.errors[0]);
		assert_int_equal(all[i]->ninfos, known.ninfos);
		h_conv_free(all[i]);
	}
	h_conv_free(&known);
	/* No file is made from an invalid or unknown name. */
	char st[256];
	h_state(h, "mallory", st, sizeof(st));
	assert_string_equal(st, "");
	struct stat sb;
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/mallory.lock", h->state);
	assert_int_equal(stat(path, &sb), -1);
	/* A known user without credentials is counted like anyone else. */
	assert_int_equal(h_state_field(h, "bob", "failures"), 1);
}

static void english_when_locale_says_so(void **state)
{
	struct harness *h = *state;
	struct h_conv conv;
	h_totp_enroll(h, "alice", MG_TOTP_SHA1, 6, 30, NULL);
	setenv("LANG", "en_US.UTF-8", 1);
	assert_int_equal(attempt(h, "alice", "12", &conv), PAM_AUTH_ERR);
	unsetenv("LANG");
	assert_string_equal(conv.prompts[0], PROMPT_EN);
	assert_string_equal(conv.errors[0], "Authentication failed");
	h_conv_free(&conv);
	setenv("LANG", "C.UTF-8", 1);
	assert_int_equal(attempt(h, "alice", "12", &conv), PAM_AUTH_ERR);
	unsetenv("LANG");
	assert_string_equal(conv.prompts[0], PROMPT_JA);
	h_conv_free(&conv);
}

static void conversation_failure_refused(void **state)
{
	struct harness *h = *state;
	struct h_conv conv;
	h_totp_enroll(h, "alice", MG_TOTP_SHA1, 6, 30, NULL);
	memset(&conv, 0, sizeof(conv)); /* no answer: the conversation fails */
	assert_int_equal(h_auth(h, "alice", &conv), PAM_AUTH_ERR);
	h_conv_free(&conv);
}

static void bad_config_refused(void **state)
{
	struct harness *h = *state;
	struct h_conv conv;
	h_totp_enroll(h, "alice", MG_TOTP_SHA1, 6, 30, NULL);
	h_write_conf(h, "factors = totp\nnouserok = yes\n");
	assert_int_equal(attempt(h, "alice", "123456", &conv), PAM_SERVICE_ERR);
	assert_int_equal(conv.nprompts, 0);
	h_conv_free(&conv);
	h_write_conf(h, "factors = totp\n");
	chmod(h->conf, 0666);
	assert_int_equal(attempt(h, "alice", "123456", &conv), PAM_SERVICE_ERR);
	h_conv_free(&conv);
}

static void remote_fido2_only_refused(void **state)
{
	struct harness *h = *state;
	struct h_conv conv;
	char ev[4096];
	h_write_conf(h, "factors = fido2\n");
	setenv("PAM_RHOST", "192.0.2.7", 1);
	assert_int_equal(attempt(h, "alice", "x", &conv), PAM_AUTHINFO_UNAVAIL);
	unsetenv("PAM_RHOST");
	assert_int_equal(conv.nprompts, 0);
	assert_string_equal(conv.errors[0],
	                    "リモートからのログインではセキュリティキーを使用できません");
	h_conv_free(&conv);
	assert_int_equal(h_events(h, "auth.failure", ev, sizeof(ev)), 1);
	assert_non_null(strstr(ev, "\"rhost\":\"192.0.2.7\""));
	assert_non_null(strstr(ev, "\"reason\":\"remote\""));
}

static void enroll_totp_then_login(void **state)
{
	struct harness *h = *state;
	struct h_conv conv;
	char out[8192], code[16];
	const char *argv[] = {
	    getenv("MG_PAM_ENROLL"), "--config", h->conf,    "totp", "--user", "bob",
	    "--algorithm",           "sha256",   "--digits", "8",    "--qr",   NULL};
	assert_int_equal(h_run(argv, NULL, out, sizeof(out)), 0);
	char *uri = strstr(out, "otpauth://totp/mynaguard%3Abob%40");
	assert_non_null(uri);
	assert_non_null(strstr(uri, "algorithm=SHA256&digits=8&period=30"));
	assert_non_null(strstr(out, "\u2580")); /* the QR code */
	/* The secret from the URI gives codes the module accepts. */
	char *s = strstr(uri, "secret=") + 7;
	char b32[256];
	size_t n = strcspn(s, "&");
	memcpy(b32, s, n);
	b32[n] = '\0';
	struct mg_totp_cred c;
	memset(&c, 0, sizeof(c));
	assert_int_equal(mg_base32_decode(b32, c.secret, sizeof(c.secret), &c.secret_len), 0);
	assert_int_equal(c.secret_len, 32);
	c.algorithm = MG_TOTP_SHA256;
	c.digits = 8;
	c.period = 30;
	h_avoid_step_edge(30);
	h_totp_code(&c, 0, code, sizeof(code));
	assert_int_equal(attempt(h, "bob", code, &conv), PAM_SUCCESS);
	h_conv_free(&conv);
	/* The file is 0600 and list never prints the secret. */
	struct stat sb;
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/totp/bob.json", h->creds);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	const char *list[] = {
	    getenv("MG_PAM_ENROLL"), "--config", h->conf, "list", "--user", "bob", NULL};
	assert_int_equal(h_run(list, NULL, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "totp  totp algorithm=sha256 digits=8 period=30"));
	assert_null(strstr(out, b32));
	const char *rm[] = {getenv("MG_PAM_ENROLL"),
	                    "--config",
	                    h->conf,
	                    "remove",
	                    "--user",
	                    "bob",
	                    "--label",
	                    "totp",
	                    NULL};
	assert_int_equal(h_run(rm, NULL, out, sizeof(out)), 0);
	assert_int_equal(stat(path, &sb), -1);
	/* Given secret (on stdin, never in argv), 6 digits. */
	const char *given[] = {
	    getenv("MG_PAM_ENROLL"), "--config", h->conf, "totp", "--user", "bob",
	    "--secret-stdin",        NULL};
	assert_int_equal(
	    h_run(given, "jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp\n", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&"));
}

/*
 * state_dir or credential_dir below a directory another user may change: refused before any
 * prompt (issue 13, finding 8; the log line is checked in test_pam_state). Root only (chown).
 */
static void dirs_under_user_dir_refused(void **state)
{
	struct harness *h = *state;
	struct h_conv conv;
	char parent[256], keep[PATH_MAX];
	if (geteuid() != 0)
		skip();
	h_totp_enroll(h, "alice", MG_TOTP_SHA1, 6, 30, NULL);
	snprintf(parent, sizeof(parent), "%s/alice-home", h->root);
	assert_int_equal(mkdir(parent, 0755), 0);
	assert_int_equal(chown(parent, 1001, 1001), 0);
	for (int which = 0; which < 2; which++) {
		char *field = which == 0 ? h->state : h->creds;
		snprintf(keep, sizeof(keep), "%s", field);
		snprintf(field, PATH_MAX, "%s/%s", parent,
		         which == 0 ? "auth-state" : "credentials");
		assert_int_equal(mkdir(field, 0700), 0);
		h_write_conf(h, "factors = totp\n");
		assert_int_equal(attempt(h, "alice", "123456", &conv), PAM_AUTHINFO_UNAVAIL);
		assert_int_equal(conv.nprompts, 0);
		h_conv_free(&conv);
		snprintf(field, PATH_MAX, "%s", keep);
	}
	h_write_conf(h, "factors = totp\n");
}

/* mynaguard-enroll unlock --user alice [extra]; positional: unlock alice [extra] (the form the
 * finding names). */
static int enroll_unlock(struct harness *h, bool positional, const char *extra, char *out,
                         size_t outlen)
{
	const char *argv[] = {
	    getenv("MG_PAM_ENROLL"), "--config", h->conf, "unlock", "--user", "alice", extra, NULL};
	if (positional) {
		argv[4] = "alice";
		argv[5] = extra;
		argv[6] = NULL;
	}
	return h_run(argv, NULL, out, outlen);
}

/* The pending file has an auth.unlock of alice with this reason. */
static bool unlock_event(struct harness *h, const char *reason)
{
	char line[8192], want[64];
	bool found = false;
	snprintf(want, sizeof(want), "\"reason\":\"%s\"", reason);
	FILE *f = fopen(h->pending, "r");
	while (f && fgets(line, sizeof(line), f))
		found = found || (strstr(line, "\"type\":\"auth.unlock\"") && strstr(line, want) &&
		                  strstr(line, "\"name\":\"alice\""));
	if (f)
		fclose(f);
	return found;
}

/*
 * A damaged state file refuses every login until an administrator runs unlock, which rebuilds
 * it keeping what can be kept and says so (issue 13, finding 5).
 */
static void unlock_repairs_damaged_state(void **state)
{
	struct harness *h = *state;
	struct mg_totp_cred c;
	struct h_conv conv;
	char code[16], out[4096], st[1024];
	h_totp_enroll(h, "alice", MG_TOTP_SHA1, 6, 30, &c);
	h_avoid_step_edge(30);
	h_totp_code(&c, 0, code, sizeof(code));
	/* Not JSON at all: nothing can be kept. */
	h_write_state(h, "alice", "{\"failures\":3,\"fido2_co");
	assert_int_not_equal(attempt(h, "alice", code, &conv), PAM_SUCCESS);
	h_conv_free(&conv);
	assert_int_equal(enroll_unlock(h, false, NULL, out, sizeof(out)), 0);
	if (!strstr(out, "新しく作り直しました"))
		fail_msg("no word of the rebuilt file: %s", out);
	assert_true(unlock_event(h, "repaired"));
	assert_true(unlock_event(h, "admin"));
	assert_int_equal(attempt(h, "alice", code, &conv), PAM_SUCCESS);
	h_conv_free(&conv);
	/* A record whose checksum does not match (torn or damaged): its counters are kept. */
	snprintf(st, sizeof(st),
	         "{\"checksum\":\"%064d\",\"failures\":9,\"fido2_counters\":{\"%064d\":77},"
	         "\"last_totp_step\":%lld,\"locked_until\":0,\"version\":2}\n",
	         0, 1, h_state_field(h, "alice", "last_totp_step"));
	h_write_state(h, "alice", st);
	assert_int_not_equal(attempt(h, "alice", code, &conv), PAM_SUCCESS);
	h_conv_free(&conv);
	assert_int_equal(enroll_unlock(h, false, NULL, out, sizeof(out)), 0);
	if (!strstr(out, "修復しました") || !strstr(out, ": 1"))
		fail_msg("no word of what was kept: %s", out);
	h_state(h, "alice", st, sizeof(st));
	assert_non_null(strstr(st, ":77}"));
	assert_int_equal(h_state_field(h, "alice", "failures"), 0);
	/* The code used above stays used (last_totp_step kept). */
	assert_int_equal(attempt(h, "alice", code, &conv), PAM_AUTH_ERR);
	h_conv_free(&conv);
}

/* A clock that once ran ahead left a far-future last_totp_step: every code is "already used"
 * until unlock --reset-totp-step (issue 13, finding 5). */
static void unlock_reset_totp_step(void **state)
{
	struct harness *h = *state;
	struct mg_totp_cred c;
	struct h_conv conv;
	char code[16], out[4096], st[256];
	h_totp_enroll(h, "alice", MG_TOTP_SHA1, 6, 30, &c);
	snprintf(st, sizeof(st),
	         "{\"failures\":0,\"fido2_counters\":{},\"last_totp_step\":%lld,"
	         "\"locked_until\":0,\"version\":1}\n",
	         (long long)time(NULL) / 30 + 100000);
	h_write_state(h, "alice", st);
	h_avoid_step_edge(30);
	h_totp_code(&c, 0, code, sizeof(code));
	assert_int_equal(attempt(h, "alice", code, &conv), PAM_AUTH_ERR);
	h_conv_free(&conv);
	/* A plain unlock keeps the step: still refused. */
	assert_int_equal(enroll_unlock(h, false, NULL, out, sizeof(out)), 0);
	assert_int_equal(attempt(h, "alice", code, &conv), PAM_AUTH_ERR);
	h_conv_free(&conv);
	assert_false(unlock_event(h, "totp-step-reset"));
	assert_int_equal(enroll_unlock(h, true, "--reset-totp-step", out, sizeof(out)), 0);
	if (!strstr(out, "TOTP の使用済みステップを消去しました"))
		fail_msg("no word of the reset: %s", out);
	assert_int_equal(h_state_field(h, "alice", "last_totp_step"), 0);
	assert_true(unlock_event(h, "totp-step-reset"));
	assert_int_equal(attempt(h, "alice", code, &conv), PAM_SUCCESS);
	h_conv_free(&conv);
}

int main(void)
{
	h_global_setup();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(right_code_succeeds, setup, teardown),
	    cmocka_unit_test_setup_teardown(reused_code_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(window_previous_and_next, setup, teardown),
	    cmocka_unit_test_setup_teardown(outside_window_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(algorithms_and_digits, setup, teardown),
	    cmocka_unit_test_setup_teardown(lockout_and_unlock, setup, teardown),
	    cmocka_unit_test_setup_teardown(lockout_expires, setup, teardown),
	    cmocka_unit_test_setup_teardown(concurrent_same_code_one_wins, setup, teardown),
	    cmocka_unit_test_setup_teardown(unsafe_credential_files_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(unusable_credential_file_before_prompt, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(unknown_user_same_prompts, setup, teardown),
	    cmocka_unit_test_setup_teardown(english_when_locale_says_so, setup, teardown),
	    cmocka_unit_test_setup_teardown(conversation_failure_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(bad_config_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(remote_fido2_only_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(enroll_totp_then_login, setup, teardown),
	    cmocka_unit_test_setup_teardown(dirs_under_user_dir_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(unlock_repairs_damaged_state, setup, teardown),
	    cmocka_unit_test_setup_teardown(unlock_reset_totp_step, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
