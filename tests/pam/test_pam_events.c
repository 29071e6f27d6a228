/*
 * pam_mynaguard.so's events under pam_wrapper, whole stack through libpam: to a test listener
 * on the event socket, to the pending file when no agent answers (bounded in time), refused
 * by the agent, pending file full or unsafe. Syslog lines stay as they were; delivery never
 * changes a login's result.
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
#include <security/pam_appl.h>

#include "event_listener.h"
#include "mg/event.h"
#include "pam_harness.h"

struct fixture {
	struct harness h;
	struct mg_totp_cred cred;
	struct listener *l;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	h_new(&f->h, "factors = totp\n");
	h_totp_enroll(&f->h, "alice", MG_TOTP_SHA1, 6, 30, &f->cred);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	l_stop(&f->l);
	h_free(&f->h);
	free(f);
	return 0;
}

static long long ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One TOTP attempt: the right code (good) or a wrong one. */
static int login(struct fixture *f, bool good)
{
	struct h_conv c;
	char code[16] = "000000x";
	if (good) {
		h_avoid_step_edge(30);
		h_totp_code(&f->cred, 0, code, sizeof(code));
	}
	memset(&c, 0, sizeof(c));
	c.answers[0] = code;
	c.nanswers = 1;
	int rc = h_auth(&f->h, "alice", &c);
	h_conv_free(&c);
	return rc;
}

/* The event parses strictly and has type and user alice. */
static void check_event(const char *json, enum mg_event_type type)
{
	struct mg_event *ev = NULL;
	char err[256];
	if (mg_event_from_json(json, strlen(json), &ev, err, sizeof(err)) != 0)
		fail_msg("event does not parse: %s: %s", err, json);
	assert_int_equal(ev->type, type);
	assert_non_null(ev->user);
	assert_string_equal(ev->user->name, "alice");
	assert_string_equal(ev->user->service, "mynaguard");
	assert_int_equal(ev->seq, 0);
	mg_event_free(&ev);
}

/* Whether the captured log (pam_syslog lines) holds text. */
static bool logged(struct harness *h, const char *text)
{
	static char buf[1 << 16];
	FILE *fp = fopen(h->events_file, "r");
	if (!fp)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return strstr(buf, text) != NULL;
}

/* The syslog JSON of the last event of type, without the line end. */
static void syslog_json(struct harness *h, const char *type, char *buf, size_t len)
{
	assert_true(h_events(h, type, buf, len) >= 1);
	buf[strcspn(buf, "\n")] = '\0';
}

static long long file_text(const char *path, char *buf, size_t len)
{
	buf[0] = '\0';
	FILE *fp = fopen(path, "r");
	if (!fp)
		return -1;
	size_t n = fread(buf, 1, len - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return (long long)n;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void success_reaches_agent(void **state)
{
	struct fixture *f = *state;
	char msg[8192], sys[8192];
	f->l = l_start(f->h.event_socket, L_REPLY_OK);
	assert_int_equal(login(f, true), PAM_SUCCESS);
	assert_int_equal(l_count(f->l), 1);
	l_message(f->l, 0, msg, sizeof(msg));
	check_event(msg, MG_EV_AUTH_SUCCESS);
	/* The same bytes as the syslog line, which stays as it was. */
	assert_int_equal(h_events(&f->h, "auth.success", NULL, 0), 1);
	syslog_json(&f->h, "auth.success", sys, sizeof(sys));
	assert_string_equal(msg, sys);
	assert_int_equal(h_pending(&f->h, NULL, NULL, 0), -1);
}

static void failure_reaches_agent(void **state)
{
	struct fixture *f = *state;
	char msg[8192];
	f->l = l_start(f->h.event_socket, L_REPLY_OK);
	assert_int_equal(login(f, false), PAM_AUTH_ERR);
	assert_int_equal(l_count(f->l), 1);
	l_message(f->l, 0, msg, sizeof(msg));
	check_event(msg, MG_EV_AUTH_FAILURE);
	assert_non_null(strstr(msg, "\"reason\":\"wrong-code\""));
	assert_int_equal(h_pending(&f->h, NULL, NULL, 0), -1);
}

static void no_agent_pending_file(void **state)
{
	struct fixture *f = *state;
	char line[4096], sys[4096];
	struct stat st;
	/* Nothing listens on event_socket (the path does not exist). */
	assert_int_equal(login(f, true), PAM_SUCCESS);
	assert_int_equal(h_pending(&f->h, NULL, line, sizeof(line)), 1);
	syslog_json(&f->h, "auth.success", sys, sizeof(sys));
	assert_string_equal(line, sys);
	check_event(line, MG_EV_AUTH_SUCCESS);
	assert_int_equal(stat(f->h.pending, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, geteuid());
	assert_true(logged(&f->h, "event kept in "));
	/* A second event: a second line, after the first. */
	assert_int_equal(login(f, false), PAM_AUTH_ERR);
	assert_int_equal(h_pending(&f->h, NULL, line, sizeof(line)), 2);
	check_event(line, MG_EV_AUTH_FAILURE);
	assert_int_equal(h_pending(&f->h, "auth.success", NULL, 0), 1);
	char all[8192], want[8200];
	file_text(f->h.pending, all, sizeof(all));
	snprintf(want, sizeof(want), "%s\n%s\n", sys, line);
	assert_string_equal(all, want);
}

static void silent_agent_bounded(void **state)
{
	struct fixture *f = *state;
	/* Two events in one login (failure, lockout): the agent is waited for once, 2 s. */
	h_write_conf(&f->h, "factors = totp\ndeny_after = 1\n");
	f->l = l_start(f->h.event_socket, L_REPLY_SILENT);
	long long t0 = ms_now();
	assert_int_equal(login(f, false), PAM_AUTH_ERR);
	long long spent = ms_now() - t0;
	assert_true(spent >= 1900);
	assert_true(spent < 3500);
	assert_int_equal(l_count(f->l), 1);
	assert_int_equal(h_pending(&f->h, NULL, NULL, 0), 2);
	assert_int_equal(h_pending(&f->h, "auth.failure", NULL, 0), 1);
	assert_int_equal(h_pending(&f->h, "auth.lockout", NULL, 0), 1);
	assert_true(logged(&f->h, "no reply in time"));
	/* The lockout itself happened as usual. */
	assert_int_equal(h_state_field(&f->h, "alice", "failures"), 1);
}

static void agent_refuses(void **state)
{
	struct fixture *f = *state;
	f->l = l_start(f->h.event_socket, L_REPLY_ERROR);
	assert_int_equal(login(f, true), PAM_SUCCESS);
	assert_int_equal(l_count(f->l), 1);
	/* It would be refused again: not kept for later. */
	assert_int_equal(h_pending(&f->h, NULL, NULL, 0), -1);
	assert_true(logged(&f->h, "event refused by the agent: malformed: {"));
	assert_int_equal(h_events(&f->h, "auth.success", NULL, 0), 1);
}

static void pending_full(void **state)
{
	struct fixture *f = *state;
	char before[8192], after[8192];
	h_write_conf(&f->h, "factors = totp\npending_max_bytes = 4096\n");
	memset(before, 'x', 4000);
	before[3999] = '\n';
	before[4000] = '\0';
	write_file(f->h.pending, before, 0600);
	assert_int_equal(login(f, true), PAM_SUCCESS);
	file_text(f->h.pending, after, sizeof(after));
	assert_string_equal(after, before);
	assert_true(logged(&f->h, "event lost: pending file full"));
	assert_int_equal(h_events(&f->h, "auth.success", NULL, 0), 1);
}

/* A login whose event must not be written to the pending file there. */
static void refused_there(struct fixture *f)
{
	h_events_clear(&f->h);
	assert_int_equal(login(f, false), PAM_AUTH_ERR);
	assert_true(logged(&f->h, "event lost: "));
	assert_int_equal(h_events(&f->h, "auth.failure", NULL, 0), 1);
}

static void pending_unsafe(void **state)
{
	struct fixture *f = *state;
	char target[PATH_MAX + 16], buf[256];
	struct stat st;
	snprintf(target, sizeof(target), "%s/target", f->h.root);
	/* A symlink: not followed; neither an existing target nor a new one is written. */
	write_file(target, "keep\n", 0600);
	assert_int_equal(symlink(target, f->h.pending), 0);
	refused_there(f);
	file_text(target, buf, sizeof(buf));
	assert_string_equal(buf, "keep\n");
	assert_int_equal(unlink(target), 0);
	refused_there(f);
	assert_int_equal(lstat(target, &st), -1);
	assert_int_equal(unlink(f->h.pending), 0);
	/* Group-writable. */
	write_file(f->h.pending, "old\n", 0660);
	refused_there(f);
	file_text(f->h.pending, buf, sizeof(buf));
	assert_string_equal(buf, "old\n");
	assert_int_equal(unlink(f->h.pending), 0);
	/* A FIFO: the login does not hang on it. */
	assert_int_equal(mkfifo(f->h.pending, 0600), 0);
	long long t0 = ms_now();
	refused_there(f);
	assert_true(ms_now() - t0 < 1500);
	assert_int_equal(lstat(f->h.pending, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
}

int main(void)
{
	h_global_setup();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(success_reaches_agent, setup, teardown),
	    cmocka_unit_test_setup_teardown(failure_reaches_agent, setup, teardown),
	    cmocka_unit_test_setup_teardown(no_agent_pending_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(silent_agent_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(agent_refuses, setup, teardown),
	    cmocka_unit_test_setup_teardown(pending_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(pending_unsafe, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
