/*
 * The uplink supervisor's promise to its caller (agent/daemon/uplink_sup.h): a request that
 * mg_uplink_sup_send() accepted (0) is answered exactly once, later, through the callback; a
 * request it refused is never answered. The pipeline keeps one "busy" flag per kind of request
 * on that promise: an answer that came before send() returned left the flag set for ever and
 * the upload stalled until the agent restarted (seen in CI: the uplink killed while the agent
 * wrote to it).
 */
#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "uplink_sup.h"

struct calls {
	unsigned n;
	uint32_t id;
	uint16_t status;
};

static void on_answer(void *ctx, uint32_t id, uint8_t type, const struct mg_uplink_answer *a)
{
	struct calls *c = ctx;
	(void)type;
	c->n++;
	c->id = id;
	c->status = a->status;
}

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

struct fixture {
	char dir[64];
	struct calls calls;
	struct mg_uplink_sup *sup;
};

static int setup_with(void **state, const char *binary)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/mg-upsup.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	struct mg_uplink_sup_opts o = {
	    .binary = binary, .user = "nobody", .state_dir = f->dir, .log_level = "info"};
	assert_int_equal(mg_uplink_sup_new(&o, on_answer, &f->calls, &f->sup), 0);
	*state = f;
	return 0;
}

static int setup_exiting(void **state)
{
	return setup_with(state, "/bin/true"); /* starts and exits at once */
}

static int setup_real(void **state)
{
	const char *bin = getenv("MG_UPLINK_BIN");
	if (!bin) {
		fprintf(stderr, "MG_UPLINK_BIN is not set\n");
		return -1;
	}
	return setup_with(state, bin);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	mg_uplink_sup_free(&f->sup);
	(void)nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Starts the uplink and waits until its end of the socket is closed (it exited). */
static void start_and_wait_hangup(struct fixture *f)
{
	mg_uplink_sup_tick(f->sup, mono_us());
	assert_true(mg_uplink_sup_running(f->sup));
	struct pollfd pfd = {.fd = mg_uplink_sup_fd(f->sup), .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 10000), 1);
	assert_true(pfd.revents & (POLLHUP | POLLIN));
}

/* The uplink is gone but the supervisor has not read its EOF yet: the write fails. */
static void send_to_a_dead_uplink_is_refused_and_never_answered(void **state)
{
	struct fixture *f = *state;
	start_and_wait_hangup(f);
	uint32_t id = 0;
	int r = mg_uplink_sup_send(f->sup, MG_UPLINK_HEARTBEAT, "{}", 2, &id);
	/* Either accepted and answered later, or refused and never answered; never accepted
	 * after being answered already. */
	if (r == 0)
		assert_int_equal(f->calls.n, 0);
	assert_int_equal(r, -EPIPE);
	assert_int_equal(f->calls.n, 0);
	assert_false(mg_uplink_sup_running(f->sup));
	assert_int_equal(mg_uplink_sup_in_flight(f->sup), 0);
	/* Restarted after the backoff; a later request goes to the new one. */
	assert_true(mg_uplink_sup_next_start(f->sup) > 0);
}

/* A request the live uplink holds is answered once, with status 0, when it dies. */
static void request_held_by_a_killed_uplink_answered_once(void **state)
{
	struct fixture *f = *state;
	mg_uplink_sup_tick(f->sup, mono_us());
	assert_true(mg_uplink_sup_running(f->sup));
	uint32_t id = 0;
	/* Not enrolled: the uplink answers a heartbeat with an error, or dies first. */
	assert_int_equal(mg_uplink_sup_send(f->sup, MG_UPLINK_HEARTBEAT, "{}", 2, &id), 0);
	assert_int_equal(f->calls.n, 0);
	char st[300];
	int pid = 0;
	mg_uplink_sup_state(f->sup, mono_us(), st, sizeof(st));
	assert_int_equal(sscanf(st, "running (pid %d)", &pid), 1);
	assert_int_equal(kill(pid, SIGKILL), 0);
	int64_t end = mono_us() + 10 * 1000000;
	while (mg_uplink_sup_running(f->sup) && mono_us() < end) {
		struct pollfd pfd = {.fd = mg_uplink_sup_fd(f->sup),
		                     .events = (short)mg_uplink_sup_events(f->sup)};
		(void)poll(&pfd, 1, 100);
		mg_uplink_sup_io(f->sup, (uint32_t)pfd.revents, mono_us());
	}
	assert_false(mg_uplink_sup_running(f->sup));
	assert_int_equal(f->calls.n, 1);
	assert_int_equal(f->calls.id, id);
	assert_int_equal(mg_uplink_sup_in_flight(f->sup), 0);
	/* Nothing more once it is restarted. */
	mg_uplink_sup_tick(f->sup, mg_uplink_sup_next_start(f->sup));
	assert_true(mg_uplink_sup_running(f->sup));
	assert_int_equal(f->calls.n, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(send_to_a_dead_uplink_is_refused_and_never_answered,
	                                    setup_exiting, teardown),
	    cmocka_unit_test_setup_teardown(request_held_by_a_killed_uplink_answered_once,
	                                    setup_real, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
