/* The agent's durable event log: numbering, durability, recovery after a torn write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eventlog.h"
#include "mg/host.h"
#include "mg/safe_open.h"

static char dir[64], path[128];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/mg-evlog-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/events.jsonl", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return rmdir(dir);
}

static void append_one(struct mg_eventlog *log, enum mg_event_type t)
{
	struct mg_event *ev = mg_event_new(t);
	assert_non_null(ev);
	assert_int_equal(mg_eventlog_append(log, ev), 0);
	mg_event_free(&ev);
}

/* The log's text into *data (the caller frees it). An output parameter rather than a returned
 * local: GCC 12 at -O3 inlines this and then takes pointers into the text for pointers to the
 * local variable (-Wdangling-pointer false positive). */
static void read_all(char **data)
{
	struct mg_file_rules any = {.owner = MG_ANY_OWNER, .secret = true};
	size_t len = 0;
	*data = NULL;
	assert_int_equal(mg_safe_read_file(path, &any, data, &len, NULL), 0);
}

static void test_numbering_and_content(void **state)
{
	(void)state;
	struct mg_eventlog *log = NULL;
	assert_int_equal(mg_eventlog_open(dir, &log), 0);
	assert_int_equal(mg_eventlog_last_seq(log), 0);
	append_one(log, MG_EV_AGENT_STARTED);
	append_one(log, MG_EV_DEVICE_BLOCKED);
	assert_int_equal(mg_eventlog_last_seq(log), 2);
	mg_eventlog_close(&log);
	assert_null(log);

	char *data;
	read_all(&data); /* the file is 0600: secret rules pass */
	char boot[37];
	assert_int_equal(mg_boot_id(boot), 0);
	char *line2 = strchr(data, '\n');
	assert_non_null(line2);
	*line2++ = '\0';
	struct mg_event *ev = NULL;
	assert_int_equal(mg_event_from_json(data, strlen(data), &ev, NULL, 0), 0);
	assert_int_equal(ev->type, MG_EV_AGENT_STARTED);
	assert_int_equal(ev->seq, 1);
	assert_string_equal(ev->boot_id, boot);
	assert_non_null(ev->host);
	mg_event_free(&ev);
	char *end = strchr(line2, '\n');
	assert_non_null(end);
	assert_int_equal(end[1], '\0');
	assert_int_equal(mg_event_from_json(line2, (size_t)(end - line2), &ev, NULL, 0), 0);
	assert_int_equal(ev->type, MG_EV_DEVICE_BLOCKED);
	assert_int_equal(ev->seq, 2);
	mg_event_free(&ev);
	free(data);

	/* Reopened in the same boot: numbering continues. */
	assert_int_equal(mg_eventlog_open(dir, &log), 0);
	assert_int_equal(mg_eventlog_last_seq(log), 2);
	append_one(log, MG_EV_AGENT_STOPPED);
	assert_int_equal(mg_eventlog_last_seq(log), 3);
	mg_eventlog_close(&log);
}

static void test_torn_write_repaired(void **state)
{
	(void)state;
	struct mg_eventlog *log = NULL;
	assert_int_equal(mg_eventlog_open(dir, &log), 0);
	append_one(log, MG_EV_AGENT_STARTED);
	mg_eventlog_close(&log);
	/* A crash in the middle of the second line. */
	int fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{\"type\":\"device.bl", 18), 18);
	close(fd);
	assert_int_equal(mg_eventlog_open(dir, &log), 0);
	assert_int_equal(mg_eventlog_last_seq(log), 1);
	append_one(log, MG_EV_DEVICE_ALLOWED);
	mg_eventlog_close(&log);
	char *data;
	read_all(&data);
	assert_null(strstr(data, "device.bl\""));
	assert_non_null(strstr(data, "\"seq\":2"));
	/* Every line is a complete event. */
	size_t lines = 0;
	for (char *p = data; (p = strchr(p, '\n')); p++)
		lines++;
	assert_int_equal(lines, 2);
	free(data);
}

static void test_other_boot_restarts(void **state)
{
	(void)state;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	const char *old = "{\"boot_id\":\"00000000-0000-4000-8000-000000000000\",\"host\":\"h\","
	                  "\"seq\":77,\"time\":\"2026-01-01T00:00:00.000000Z\",\"type\":"
	                  "\"agent.stopped\"}\n";
	assert_int_equal(write(fd, old, strlen(old)), (ssize_t)strlen(old));
	close(fd);
	struct mg_eventlog *log = NULL;
	assert_int_equal(mg_eventlog_open(dir, &log), 0);
	assert_int_equal(mg_eventlog_last_seq(log), 0);
	append_one(log, MG_EV_AGENT_STARTED);
	assert_int_equal(mg_eventlog_last_seq(log), 1);
	mg_eventlog_close(&log);
}

static void test_deferred_and_nosync(void **state)
{
	(void)state;
	struct mg_eventlog *log = NULL;
	assert_int_equal(mg_eventlog_open(dir, &log), 0);
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
	char *data;
	read_all(&data);
	const char *want[] = {"device.allowed", "device.blocked", "device.inserted",
	                      "device.removed"};
	char *p = data;
	for (size_t i = 0; i < 4; i++) {
		char *nl = strchr(p, '\n');
		assert_non_null(nl);
		assert_int_equal(mg_event_from_json(p, (size_t)(nl - p), &ev, NULL, 0), 0);
		assert_string_equal(mg_event_type_name(ev->type), want[i]);
		assert_int_equal(ev->seq, i + 1);
		mg_event_free(&ev);
		p = nl + 1;
	}
	assert_int_equal(*p, '\0');
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_numbering_and_content, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_torn_write_repaired, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_boot_restarts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deferred_and_nosync, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
