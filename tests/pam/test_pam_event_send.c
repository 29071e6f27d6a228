/*
 * Unit tests of event_send.c: the exchange with the agent's socket (a test listener), the
 * pending file's checks, limit and format, and the routing with its time budget.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "event_listener.h"
#include "safe_tmp.h"
#include "event_send.h"
#include "pam_conf.h"
#include "pam_events.h"

struct t {
	char root[64];
	char state[128];
	char sock[108];
	char pending[192];
	char *json;
};

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	/* Not under /tmp: state_dir is checked from / down (safe_tmp.h). */
	if (!t || t_safe_mkdtemp(t->root, sizeof(t->root), "mg-evsend.") < 0)
		return -1;
	snprintf(t->state, sizeof(t->state), "%s/state", t->root);
	snprintf(t->sock, sizeof(t->sock), "%s/events.sock", t->root);
	snprintf(t->pending, sizeof(t->pending), "%s/" MG_PAM_PENDING_NAME, t->state);
	if (mkdir(t->state, 0700) < 0 || chmod(t->state, 0700) < 0)
		return -1;
	struct mg_pam_event_info info = {
	    .user = "alice", .service = "login", .tty = "tty1", .factor = "totp"};
	if (mg_pam_event_json(MG_EV_AUTH_SUCCESS, &info, &t->json) < 0)
		return -1;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;
	(void)nftw(t->root, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(t->json);
	free(t);
	return 0;
}

static long long ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Contents of path ("" when absent); the size, -1 when absent. */
static long long slurp(const char *path, char *buf, size_t len)
{
	buf[0] = '\0';
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
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

static void send_answers(void **state)
{
	struct t *t = *state;
	char why[256], msg[4096];
	struct listener *l = l_start(t->sock, L_REPLY_OK);
	assert_int_equal(mg_pam_event_send(t->sock, geteuid(), t->json, 1000, why, sizeof(why)), 0);
	assert_int_equal(l_count(l), 1);
	l_message(l, 0, msg, sizeof(msg));
	assert_string_equal(msg, t->json); /* one message, exactly the JSON */
	l_stop(&l);

	l = l_start(t->sock, L_REPLY_ERROR);
	assert_int_equal(mg_pam_event_send(t->sock, geteuid(), t->json, 1000, why, sizeof(why)),
	                 -EBADMSG);
	assert_string_equal(why, "malformed");
	l_stop(&l);

	l = l_start(t->sock, L_REPLY_GARBAGE);
	assert_int_equal(mg_pam_event_send(t->sock, geteuid(), t->json, 1000, why, sizeof(why)),
	                 -EPROTO);
	l_stop(&l);

	l = l_start(t->sock, L_REPLY_CLOSE);
	assert_int_equal(mg_pam_event_send(t->sock, geteuid(), t->json, 1000, why, sizeof(why)),
	                 -ECONNRESET);
	l_stop(&l);

	/* No listener: the socket file is absent. */
	assert_int_equal(mg_pam_event_send(t->sock, geteuid(), t->json, 1000, why, sizeof(why)),
	                 -ENOENT);
	assert_non_null(strstr(why, "connect"));
	char longpath[200];
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(mg_pam_event_send(longpath, geteuid(), t->json, 1000, why, sizeof(why)),
	                 -ENAMETOOLONG);
}

static void send_bounded_in_time(void **state)
{
	struct t *t = *state;
	char why[256];
	struct listener *l = l_start(t->sock, L_REPLY_SILENT);
	long long t0 = ms_now();
	assert_int_equal(mg_pam_event_send(t->sock, geteuid(), t->json, 300, why, sizeof(why)),
	                 -ETIMEDOUT);
	long long spent = ms_now() - t0;
	assert_true(spent >= 290 && spent < 1500);
	assert_int_equal(l_count(l), 1); /* it came, but no "ok": the caller keeps it */
	l_stop(&l);
}

static void send_checks_the_listener(void **state)
{
	struct t *t = *state;
	char why[256];
	struct listener *l = l_start(t->sock, L_REPLY_OK);
	/* A socket whose process is not the trusted owner gets nothing. */
	assert_int_equal(mg_pam_event_send(t->sock, geteuid() + 1, t->json, 1000, why, sizeof(why)),
	                 -EPERM);
	assert_non_null(strstr(why, "runs as uid"));
	/* Connections are served in order: once this one is answered, the first sent nothing. */
	assert_int_equal(mg_pam_event_send(t->sock, geteuid(), t->json, 1000, why, sizeof(why)), 0);
	assert_int_equal(l_count(l), 1);
	l_stop(&l);
}

static void append_format(void **state)
{
	struct t *t = *state;
	char why[256], buf[8192], want[8192];
	struct stat st;
	assert_int_equal(
	    mg_pam_event_append(t->state, geteuid(), 1 << 20, t->json, why, sizeof(why)), 0);
	assert_int_equal(stat(t->pending, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, geteuid());
	snprintf(want, sizeof(want), "%s\n", t->json);
	slurp(t->pending, buf, sizeof(buf));
	assert_string_equal(buf, want);
	assert_int_equal(
	    mg_pam_event_append(t->state, geteuid(), 1 << 20, t->json, why, sizeof(why)), 0);
	snprintf(want, sizeof(want), "%s\n%s\n", t->json, t->json);
	slurp(t->pending, buf, sizeof(buf));
	assert_string_equal(buf, want);
	/* A torn last line (a writer killed in the middle) is ended first. */
	write_file(t->pending, "{\"torn", 0600);
	assert_int_equal(
	    mg_pam_event_append(t->state, geteuid(), 1 << 20, t->json, why, sizeof(why)), 0);
	snprintf(want, sizeof(want), "{\"torn\n%s\n", t->json);
	slurp(t->pending, buf, sizeof(buf));
	assert_string_equal(buf, want);
	/* Not one line. */
	assert_int_equal(
	    mg_pam_event_append(t->state, geteuid(), 1 << 20, "{}\n{}", why, sizeof(why)), -EINVAL);
	assert_int_equal(mg_pam_event_append(t->state, geteuid(), 1 << 20, "", why, sizeof(why)),
	                 -EINVAL);
}

static void append_limit(void **state)
{
	struct t *t = *state;
	char why[256], before[8192], after[8192], fill[4097];
	size_t n = 4096 - strlen(t->json) - 1; /* exactly full after one more line */
	memset(fill, 'x', n - 1);
	fill[n - 1] = '\n';
	fill[n] = '\0';
	write_file(t->pending, fill, 0600);
	assert_int_equal(mg_pam_event_append(t->state, geteuid(), 4096, t->json, why, sizeof(why)),
	                 0);
	slurp(t->pending, before, sizeof(before));
	assert_int_equal(strlen(before), 4096);
	assert_int_equal(mg_pam_event_append(t->state, geteuid(), 4096, "{}", why, sizeof(why)),
	                 -ENOSPC);
	assert_non_null(strstr(why, "pending file full"));
	slurp(t->pending, after, sizeof(after));
	assert_string_equal(after, before);
}

/* Each unsafe pending file is refused with err and left as it was. */
static void refused(struct t *t, uid_t owner, int err)
{
	char why[256];
	assert_int_equal(mg_pam_event_append(t->state, owner, 1 << 20, t->json, why, sizeof(why)),
	                 err);
	assert_true(why[0] != '\0');
}

static void append_refuses_unsafe_files(void **state)
{
	struct t *t = *state;
	char target[160], buf[256];
	struct stat st;
	snprintf(target, sizeof(target), "%s/target", t->root);
	/* A symlink to an existing file: not followed, the file unchanged. */
	write_file(target, "keep\n", 0600);
	assert_int_equal(symlink(target, t->pending), 0);
	refused(t, geteuid(), -ELOOP);
	slurp(target, buf, sizeof(buf));
	assert_string_equal(buf, "keep\n");
	/* A dangling symlink: its target is not created. */
	assert_int_equal(unlink(target), 0);
	refused(t, geteuid(), -ELOOP);
	assert_int_equal(lstat(target, &st), -1);
	assert_int_equal(unlink(t->pending), 0);
	/* Group-writable, world-writable. */
	write_file(t->pending, "old\n", 0620);
	refused(t, geteuid(), -EPERM);
	assert_int_equal(chmod(t->pending, 0602), 0);
	refused(t, geteuid(), -EPERM);
	slurp(t->pending, buf, sizeof(buf));
	assert_string_equal(buf, "old\n");
	/* Another owner. */
	assert_int_equal(chmod(t->pending, 0600), 0);
	refused(t, geteuid() + 1, -EPERM);
	/* A second link to it. */
	assert_int_equal(link(t->pending, target), 0);
	refused(t, geteuid(), -EPERM);
	slurp(t->pending, buf, sizeof(buf));
	assert_string_equal(buf, "old\n");
	assert_int_equal(unlink(target), 0);
	assert_int_equal(unlink(t->pending), 0);
	/* A FIFO: not a regular file, and opening it does not hang. */
	assert_int_equal(mkfifo(t->pending, 0600), 0);
	refused(t, geteuid(), -EINVAL);
	assert_int_equal(lstat(t->pending, &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	assert_int_equal(unlink(t->pending), 0);
	/* A directory: likewise. */
	assert_int_equal(mkdir(t->pending, 0700), 0);
	refused(t, geteuid(), -EISDIR);
	assert_int_equal(rmdir(t->pending), 0);
	/* state_dir itself group-writable or missing: nothing created. */
	assert_int_equal(chmod(t->state, 0770), 0);
	refused(t, geteuid(), -EPERM);
	assert_int_equal(chmod(t->state, 0700), 0);
	assert_int_equal(lstat(t->pending, &st), -1);
}

static void deliver_routes(void **state)
{
	struct t *t = *state;
	struct mg_pam_conf conf;
	struct mg_config_error err;
	char text[512], why[768], buf[8192];
	snprintf(text, sizeof(text),
	         "state_dir = %s\nevent_socket = %s\npending_max_bytes = 4096\n", t->state,
	         t->sock);
	assert_int_equal(mg_pam_conf_parse("t", text, strlen(text), geteuid(), &conf, &err), 0);
	assert_int_equal(conf.pending_max_bytes, 4096);

	unsigned wait = MG_PAM_EVENT_WAIT_MS;
	struct listener *l = l_start(t->sock, L_REPLY_OK);
	assert_int_equal(mg_pam_event_deliver(&conf, t->json, &wait, why, sizeof(why)),
	                 MG_PAM_EVENT_SENT);
	assert_true(wait > 1000 && wait <= MG_PAM_EVENT_WAIT_MS);
	l_stop(&l);
	assert_int_equal(slurp(t->pending, buf, sizeof(buf)), -1);

	l = l_start(t->sock, L_REPLY_ERROR);
	assert_int_equal(mg_pam_event_deliver(&conf, t->json, &wait, why, sizeof(why)),
	                 MG_PAM_EVENT_REFUSED);
	assert_string_equal(why, "malformed");
	l_stop(&l);
	assert_int_equal(slurp(t->pending, buf, sizeof(buf)), -1); /* refused again later */

	/* No agent: the pending file. */
	assert_int_equal(mg_pam_event_deliver(&conf, t->json, &wait, why, sizeof(why)),
	                 MG_PAM_EVENT_PENDING);
	assert_non_null(strstr(why, "not sent: connect"));
	assert_int_equal(slurp(t->pending, buf, sizeof(buf)), (long long)strlen(t->json) + 1);

	/* A silent agent uses up the budget; the next event goes straight to the file. */
	l = l_start(t->sock, L_REPLY_SILENT);
	wait = 300;
	long long t0 = ms_now();
	assert_int_equal(mg_pam_event_deliver(&conf, t->json, &wait, why, sizeof(why)),
	                 MG_PAM_EVENT_PENDING);
	assert_int_equal(wait, 0);
	assert_int_equal(mg_pam_event_deliver(&conf, t->json, &wait, why, sizeof(why)),
	                 MG_PAM_EVENT_PENDING);
	assert_true(ms_now() - t0 < 1500);
	assert_int_equal(l_count(l), 1);
	l_stop(&l);
	assert_int_equal(slurp(t->pending, buf, sizeof(buf)), 3 * ((long long)strlen(t->json) + 1));

	/* Full: lost, the file unchanged. */
	char fill[4097];
	memset(fill, 'x', 4000);
	fill[3999] = '\n';
	fill[4000] = '\0';
	write_file(t->pending, fill, 0600);
	wait = MG_PAM_EVENT_WAIT_MS;
	assert_int_equal(mg_pam_event_deliver(&conf, t->json, &wait, why, sizeof(why)),
	                 MG_PAM_EVENT_LOST);
	assert_true(strncmp(why, "pending file full", 17) == 0);
	slurp(t->pending, buf, sizeof(buf));
	assert_string_equal(buf, fill);

	/* What the callers log. */
	char msg[1024], want[512];
	bool with_json = false;
	assert_int_equal(
	    mg_pam_event_log_text(MG_PAM_EVENT_LOST, &conf, why, msg, sizeof(msg), &with_json),
	    LOG_ERR);
	assert_true(strncmp(msg, "event lost: pending file full", 29) == 0);
	assert_true(with_json);
	assert_int_equal(mg_pam_event_log_text(MG_PAM_EVENT_PENDING, &conf, "not sent: x", msg,
	                                       sizeof(msg), &with_json),
	                 LOG_WARNING);
	snprintf(want, sizeof(want), "event kept in %s: not sent: x", t->pending);
	assert_string_equal(msg, want);
	assert_false(with_json);
	assert_int_equal(mg_pam_event_log_text(MG_PAM_EVENT_REFUSED, &conf, "malformed", msg,
	                                       sizeof(msg), &with_json),
	                 LOG_ERR);
	assert_string_equal(msg, "event refused by the agent: malformed");
	assert_true(with_json);
	assert_int_equal(
	    mg_pam_event_log_text(MG_PAM_EVENT_SENT, &conf, "", msg, sizeof(msg), &with_json), -1);
	mg_pam_conf_free(&conf);
}

static void config_key(void **state)
{
	(void)state;
	struct mg_pam_conf c;
	struct mg_config_error err;
	assert_int_equal(mg_pam_conf_parse("t", "", 0, 0, &c, &err), 0);
	assert_int_equal(c.pending_max_bytes, 1024 * 1024);
	assert_string_equal(c.event_socket, "/run/mynaguard/events.sock");
	mg_pam_conf_free(&c);
	static const char *const bad[] = {"pending_max_bytes = 4095\n",
	                                  "pending_max_bytes = 67108865\n",
	                                  "pending_max_bytes = 1M\n", "event_socket = relative\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(mg_pam_conf_parse("t", bad[i], strlen(bad[i]), 0, &c, &err),
		                 -EINVAL);
	const char *edge = "pending_max_bytes = 67108864\n";
	assert_int_equal(mg_pam_conf_parse("t", edge, strlen(edge), 0, &c, &err), 0);
	mg_pam_conf_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(send_answers, setup, teardown),
	    cmocka_unit_test_setup_teardown(send_bounded_in_time, setup, teardown),
	    cmocka_unit_test_setup_teardown(send_checks_the_listener, setup, teardown),
	    cmocka_unit_test_setup_teardown(append_format, setup, teardown),
	    cmocka_unit_test_setup_teardown(append_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(append_refuses_unsafe_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(deliver_routes, setup, teardown),
	    cmocka_unit_test(config_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
