/*
 * Issue 15's performance target for the PAM module's central staff lookup: with 5,000 staff
 * and 10,000 central credentials in staff.db, a login's lookup (mg_central_lookup: safe open,
 * search, the user's record) stays under 1 ms and the process's RSS grows by less than 2 MiB,
 * also at its peak during the lookup (VmHWM, reset with /proc/self/clear_refs first). A child
 * builds the file (mg_staff_db_build, as the agent does), so that this process never held
 * the data. Everything it makes lives in a private mkdtemp directory, removed at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "encoding.h"
#include "mg/staff_db.h"
#include "staff_gen.h"
#include "mg/time.h"
#include "pam_conf.h"
#include "safe_tmp.h"
#include "staffdb_read.h"

#define STAFF  5000u
#define CREDS  10000u
#define LOGINS 200u

static char g_dir[PATH_MAX], g_db[PATH_MAX + 16];

static long status_kib(const char *field)
{
	char line[256];
	long v = -1;
	size_t n = strlen(field);
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, n) == 0 && line[n] == ':')
			v = strtol(line + n + 1, NULL, 10);
	fclose(f);
	return v;
}

/* Resets VmHWM to the current RSS (Linux >= 4.0). 0 or -1. */
static int reset_peak(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, "5", 1);
	close(fd);
	return n == 1 ? 0 : -1;
}

static double mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* The child: staff.db of STAFF staff members holding CREDS credentials, root 0644. */
static int build(void)
{
	volatile unsigned staff = STAFF, creds = CREDS;
	json_t *o = mg_test_staff_json(staff, creds);
	if (!o)
		return 1;
	unsigned char *buf = NULL;
	size_t len = 0;
	int64_t now = mg_now_us();
	int r = mg_staff_db_build(o, 1, now - 60000000LL, now + 86400000000LL, &buf, &len);
	json_decref(o);
	if (r < 0)
		return 1;
	int fd = open(g_db, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, buf, len) != (ssize_t)len || fchmod(fd, 0644) < 0 || fsync(fd) < 0)
		return 1;
	close(fd);
	free(buf);
	return 0;
}

static int setup(void **state)
{
	(void)state;
	if (t_safe_mkdtemp(g_dir, sizeof(g_dir), "mg-staffdb-rss.") < 0)
		return -1;
	snprintf(g_db, sizeof(g_db), "%s/staff.db", g_dir);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0)
		_exit(build());
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(g_db);
	rmdir(g_dir);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void lookup_rss_and_latency(void **state)
{
	(void)state;
	char text[PATH_MAX + 128];
	struct mg_pam_conf conf;
	struct mg_config_error err;
	static double lat[LOGINS];
	snprintf(text, sizeof(text), "rp_id = pam://mynaguard\nstaff_db = %s\n", g_db);
	assert_int_equal(mg_pam_conf_parse("test", text, strlen(text), geteuid(), &conf, &err), 0);
	/* Warm the code paths and allocator once (as any first login of a process does), with
	 * a name that is not in the file, then measure real lookups. */
	struct mg_central c;
	int64_t now = mg_now_us();
	assert_int_equal(mg_central_lookup(&conf, "nobody-here", now, true, &c, NULL, 0), 0);
	assert_int_equal(c.state, MG_CENTRAL_NONE);
	mg_central_free(&c);
	if (reset_peak() < 0)
		skip();
	long rss0 = status_kib("VmRSS"), hwm0 = status_kib("VmHWM");
	assert_true(rss0 > 0 && hwm0 > 0);
	unsigned seed = 4711;
	for (unsigned i = 0; i < LOGINS; i++) {
		char name[64];
		seed = seed * 1103515245u + 12345u;
		mg_test_staff_name(name, sizeof(name), (seed >> 8) % STAFF);
		double t0 = mono_us();
		assert_int_equal(mg_central_lookup(&conf, name, now, true, &c, NULL, 0), 0);
		lat[i] = mono_us() - t0;
		assert_int_equal(c.state, MG_CENTRAL_ACTIVE);
		assert_non_null(c.creds);
		assert_true(c.creds->n >= 2);
		mg_central_free(&c);
	}
	long rss1 = status_kib("VmRSS"), hwm1 = status_kib("VmHWM");
	qsort(lat, LOGINS, sizeof(lat[0]), cmp_double);
	printf("lookup median %.1f us, p99 %.1f us; RSS %+ld KiB, peak %+ld KiB\n", lat[LOGINS / 2],
	       lat[LOGINS * 99 / 100], rss1 - rss0, hwm1 - rss0);
	assert_true(lat[LOGINS / 2] < 1000.0);
	assert_true(rss1 - rss0 < 2048);
	assert_true(hwm1 - rss0 < 2048);
	mg_pam_conf_free(&conf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(lookup_rss_and_latency, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
