/* The agent's event recorder on the spool: numbering, durability, recovery after a torn
 * write, priority of security events in a full spool, the spool.dropped report. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eventlog.h"
#include "mg/host.h"
#include "spool.h"

static char dir[64], spool[96];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/mg-evlog-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(spool, sizeof(spool), "%s/spool", dir);
	return 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int teardown(void **state)
{
	(void)state;
	return nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static int append_type(struct mg_eventlog *log, enum mg_event_type t)
{
	struct mg_event *ev = mg_event_new(t);
	assert_non_null(ev);
	int r = mg_eventlog_append(log, ev);
	mg_event_free(&ev);
	return r;
}

static void append_one(struct mg_eventlog *log, enum mg_event_type t)
{
	assert_int_equal(append_type(log, t), 0);
}

static struct mg_eventlog *open_log(uint64_t max)
{
	struct mg_eventlog *log = NULL;
	char err[256] = "";
	assert_int_equal(mg_eventlog_open(dir, max, &log, err, sizeof(err)), 0);
	return log;
}

/* Every event in the spool, parsed, in order (and the chain checked). */
struct all {
	struct mg_event *ev[256];
	size_t n;
	uint8_t last[32];
};

static int collect(void *ctx, const struct mg_spool_record *r, const uint8_t hash[32])
{
	struct all *a = ctx;
	static const uint8_t zero[32];
	if (a->n) /* the chain; the first record left after acknowledgements has its own prev */
		assert_memory_equal(r->prev, a->last, 32);
	else if (r->seq == 1)
		assert_memory_equal(r->prev, zero, 32);
	assert_true(a->n < 256);
	assert_int_equal(mg_event_from_json(r->payload, r->len, &a->ev[a->n], NULL, 0), 0);
	assert_int_equal(a->ev[a->n]->seq, r->seq);
	if (a->ev[a->n]->type != MG_EV_DEVICE_ALLOWED) /* an allow may take the reserve */
		assert_int_equal((r->flags & MG_SPOOL_SECURITY) != 0,
		                 mg_event_is_security(a->ev[a->n]));
	a->n++;
	memcpy(a->last, hash, 32);
	return 0;
}

static void read_spool(struct all *a)
{
	memset(a, 0, sizeof(*a));
	char err[256] = "";
	assert_true(mg_spool_scan(spool, collect, a, err, sizeof(err)) >= 0);
	assert_string_equal(err, "");
}

static void free_all(struct all *a)
{
	for (size_t i = 0; i < a->n; i++)
		mg_event_free(&a->ev[i]);
}

static void test_numbering_and_content(void **state)
{
	(void)state;
	struct mg_eventlog *log = open_log(0);
	assert_int_equal(mg_eventlog_last_seq(log), 0);
	append_one(log, MG_EV_AGENT_STARTED);
	append_one(log, MG_EV_DEVICE_BLOCKED);
	assert_int_equal(mg_eventlog_last_seq(log), 2);
	mg_eventlog_close(&log);
	assert_null(log);

	/* The spool is root-only: the directory 0700, segments 0600. */
	struct stat st;
	assert_int_equal(stat(spool, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	struct all a;
	read_spool(&a);
	char boot[37];
	assert_int_equal(mg_boot_id(boot), 0);
	assert_int_equal(a.n, 2);
	assert_int_equal(a.ev[0]->type, MG_EV_AGENT_STARTED);
	assert_int_equal(a.ev[0]->seq, 1);
	assert_string_equal(a.ev[0]->boot_id, boot);
	assert_non_null(a.ev[0]->host);
	assert_int_equal(a.ev[1]->type, MG_EV_DEVICE_BLOCKED);
	assert_int_equal(a.ev[1]->seq, 2);
	free_all(&a);

	/* Reopened in the same boot: numbering and chain continue. */
	log = open_log(0);
	assert_int_equal(mg_eventlog_last_seq(log), 2);
	append_one(log, MG_EV_AGENT_STOPPED);
	assert_int_equal(mg_eventlog_last_seq(log), 3);
	mg_eventlog_close(&log);
	read_spool(&a);
	assert_int_equal(a.n, 3);
	assert_int_equal(a.ev[2]->seq, 3);
	free_all(&a);
}

/* The only segment file of the spool. */
static void only_segment(char *out, size_t len)
{
	DIR *d = opendir(spool);
	assert_non_null(d);
	struct dirent *e;
	int n = 0;
	while ((e = readdir(d)))
		if (strstr(e->d_name, ".seg")) {
			snprintf(out, len, "%s/%s", spool, e->d_name);
			n++;
		}
	closedir(d);
	assert_int_equal(n, 1);
}

static void test_torn_write_repaired(void **state)
{
	(void)state;
	struct mg_eventlog *log = open_log(0);
	append_one(log, MG_EV_AGENT_STARTED);
	mg_eventlog_close(&log);
	/* A crash in the middle of the second record. */
	char seg[256];
	only_segment(seg, sizeof(seg));
	int fd = open(seg, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "MGSR\x01\x00\x00\x00\x40\x00", 10), 10);
	close(fd);
	log = open_log(0);
	uint64_t cut = 0;
	const char *why = NULL;
	assert_int_equal(mg_eventlog_recovered(log, &cut, &why), 1);
	assert_int_equal(cut, 10);
	assert_non_null(strstr(why, "torn"));
	assert_int_equal(mg_eventlog_last_seq(log), 1);
	append_one(log, MG_EV_DEVICE_ALLOWED);
	mg_eventlog_close(&log);
	struct all a;
	read_spool(&a);
	assert_int_equal(a.n, 2);
	assert_int_equal(a.ev[1]->type, MG_EV_DEVICE_ALLOWED);
	assert_int_equal(a.ev[1]->seq, 2);
	free_all(&a);
}

static void test_deferred_and_nosync(void **state)
{
	(void)state;
	struct mg_eventlog *log = open_log(0);
	mg_eventlog_defer(log, true);
	append_one(log, MG_EV_DEVICE_ALLOWED);
	append_one(log, MG_EV_DEVICE_BLOCKED);
	assert_int_equal(mg_eventlog_sync(log), 0);
	mg_eventlog_defer(log, false);
	struct mg_event *ev = mg_event_new(MG_EV_DEVICE_INSERTED);
	assert_non_null(ev);
	assert_int_equal(mg_eventlog_append_nosync(log, ev), 0);
	mg_event_free(&ev);
	append_one(log, MG_EV_DEVICE_REMOVED);
	assert_int_equal(mg_eventlog_last_seq(log), 4);
	mg_eventlog_close(&log);
	/* Everything written, numbered in order, whatever the sync mode. */
	const enum mg_event_type want[] = {MG_EV_DEVICE_ALLOWED, MG_EV_DEVICE_BLOCKED,
	                                   MG_EV_DEVICE_INSERTED, MG_EV_DEVICE_REMOVED};
	struct all a;
	read_spool(&a);
	assert_int_equal(a.n, 4);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(a.ev[i]->type, want[i]);
		assert_int_equal(a.ev[i]->seq, i + 1);
	}
	free_all(&a);
}

/*
 * A tiny spool fills up: routine events are refused first (90%), security events still fit
 * in the last tenth; every refused event is counted in spool.dropped events, the last of them
 * after the collector acknowledged and segments went (room again).
 */
static void test_full_spool_priority_and_report(void **state)
{
	(void)state;
	struct mg_eventlog *log = open_log(16384);
	unsigned security_ok = 0;
	while (append_type(log, MG_EV_DEVICE_INSERTED) == 0)
		;
	assert_int_equal(append_type(log, MG_EV_DEVICE_REMOVED), -ENOSPC);
	/* An allow takes the reserve rather than be undone for want of a record. */
	assert_int_equal(append_type(log, MG_EV_DEVICE_ALLOWED), 0);
	int r;
	while ((r = append_type(log, MG_EV_DEVICE_BLOCKED)) == 0)
		security_ok++;
	assert_int_equal(r, -ENOSPC);
	assert_true(security_ok >= 1); /* the reserve for security events */
	assert_int_equal(append_type(log, MG_EV_DEVICE_ALLOWED), -ENOSPC);
	uint64_t last = mg_eventlog_last_seq(log);

	/* The collector acknowledged everything: old segments go, room again. */
	struct mg_spool *sp = mg_eventlog_spool(log);
	assert_int_equal(mg_spool_ack(sp, mg_eventlog_boot_id(log), last), 0);
	append_one(log, MG_EV_DEVICE_ALLOWED);
	assert_int_equal(mg_eventlog_last_seq(log), last + 2);
	mg_eventlog_close(&log);

	/* The report follows the first append that found room (the counts are checked to add
	 * up in the next test). */
	struct all a;
	read_spool(&a);
	assert_true(a.n >= 2);
	struct mg_event *rep = a.ev[a.n - 1];
	assert_int_equal(rep->type, MG_EV_SPOOL_DROPPED);
	assert_int_equal(rep->seq, last + 2);
	assert_non_null(rep->spool);
	assert_int_equal(a.ev[a.n - 2]->type, MG_EV_DEVICE_ALLOWED);
	assert_true(rep->spool->dropped_routine + rep->spool->dropped_security >= 1);
	free_all(&a);
}

/* The counts add up: every refused event appears in exactly one spool.dropped event. */
static void test_dropped_counts_add_up(void **state)
{
	(void)state;
	struct mg_eventlog *log = open_log(4096);
	unsigned routine_dropped = 0, security_dropped = 0;
	for (int i = 0; i < 40; i++)
		if (append_type(log, MG_EV_DEVICE_INSERTED) == -ENOSPC)
			routine_dropped++;
	for (int i = 0; i < 10; i++)
		if (append_type(log, MG_EV_DEVICE_BLOCKED) == -ENOSPC)
			security_dropped++;
	assert_true(routine_dropped > 0);
	assert_true(security_dropped > 0);
	uint64_t last = mg_eventlog_last_seq(log);
	/* Read everything before acknowledging it. */
	struct all before;
	read_spool(&before);
	assert_int_equal(mg_spool_ack(mg_eventlog_spool(log), mg_eventlog_boot_id(log), last), 0);
	append_one(log, MG_EV_AGENT_STOPPED);
	mg_eventlog_close(&log);
	struct all after;
	read_spool(&after);
	uint64_t sum_r = 0, sum_s = 0;
	for (size_t i = 0; i < before.n; i++)
		if (before.ev[i]->type == MG_EV_SPOOL_DROPPED) {
			sum_r += before.ev[i]->spool->dropped_routine;
			sum_s += before.ev[i]->spool->dropped_security;
		}
	for (size_t i = 0; i < after.n; i++)
		if (after.ev[i]->type == MG_EV_SPOOL_DROPPED && after.ev[i]->seq > last) {
			sum_r += after.ev[i]->spool->dropped_routine;
			sum_s += after.ev[i]->spool->dropped_security;
		}
	assert_int_equal(sum_r, routine_dropped);
	assert_int_equal(sum_s, security_dropped);
	free_all(&before);
	free_all(&after);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_numbering_and_content, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_torn_write_repaired, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deferred_and_nosync, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_full_spool_priority_and_report, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dropped_counts_add_up, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
