/*
 * The PAM module's central staff lookup at scale (issue 15; docs/PERFORMANCE.md, "Staff
 * credentials (issue 15)", sub-section "PAM lookup"):
 *
 *   mynaguard-bench-staff-lookup [STAFF [CREDS [N]]]     defaults 5000 10000 2000
 *
 * A child builds a staff.db of STAFF staff members holding CREDS credentials in all
 * (mg_staff_db_build, as the agent does) in a private directory (/run as root, else $HOME:
 * the module checks parents from / down); this process, which never held the data, then
 * runs the module's lookup as a login does (mg_central_lookup: safe open, binary search by
 * bounded pread()s of the entries and names it visits, the user's record read and parsed,
 * close) for N random staff members, and prints
 * the latency distribution, the search alone on a kept open file, and the RSS growth
 * (VmRSS, and the peak VmHWM) of this process. Everything it made is removed at exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "encoding.h"
#include "mg/staff_db.h"
#include "staff_gen.h"
#include "mg/time.h"
#include "pam_conf.h"
#include "staffdb_read.h"

static char g_dir[256], g_db[300];

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void cleanup(void)
{
	if (getenv("MG_BENCH_KEEP")) /* keep the file to inspect it */
		return;
	if (g_db[0])
		unlink(g_db);
	if (g_dir[0])
		rmdir(g_dir);
}

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

/* The child: build and write staff.db; prints its size and build time. */
static int build(unsigned staff, unsigned creds)
{
	json_t *o = mg_test_staff_json(staff, creds);
	if (!o)
		return 1;
	unsigned char *buf = NULL;
	size_t len = 0;
	int64_t now = mg_now_us();
	double t0 = now_us();
	int r = mg_staff_db_build(o, 1, now - 60000000LL, now + 86400000000LL, &buf, &len);
	double t1 = now_us();
	json_decref(o);
	if (r < 0) {
		fprintf(stderr, "mg_staff_db_build: %s\n", strerror(-r));
		return 1;
	}
	int fd = open(g_db, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, buf, len) != (ssize_t)len) {
		perror(g_db);
		return 1;
	}
	fchmod(fd, 0644);
	close(fd);
	free(buf);
	printf("| staff.db: %u staff, %u credentials | %zu bytes (%.1f MiB), built in %.1f ms |\n",
	       staff, creds, len, (double)len / 1048576.0, (t1 - t0) / 1e3);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	unsigned staff = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 5000;
	unsigned creds = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 10000;
	unsigned n = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 2000;
	if (staff == 0 || staff > MG_STAFF_DB_MAX_USERS || creds > staff * 16u || n == 0 ||
	    n > 1000000) {
		fprintf(stderr, "usage: %s [STAFF [CREDS [N]]]\n", argv[0]);
		return 2;
	}
	const char *base = geteuid() == 0 ? "/run" : getenv("HOME");
	snprintf(g_dir, sizeof(g_dir), "%s/mg-bench-staff.XXXXXX", base ? base : "/run");
	if (!mkdtemp(g_dir)) {
		perror("mkdtemp");
		return 1;
	}
	chmod(g_dir, 0755);
	atexit(cleanup);
	snprintf(g_db, sizeof(g_db), "%s/staff.db", g_dir);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		int r = build(staff, creds);
		fflush(stdout);
		_exit(r);
	}
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return 1;

	char text[512];
	struct mg_pam_conf conf;
	struct mg_config_error err;
	snprintf(text, sizeof(text), "rp_id = pam://mynaguard\nstaff_db = %s\n", g_db);
	if (mg_pam_conf_parse("bench", text, strlen(text), geteuid(), &conf, &err) < 0) {
		fprintf(stderr, "conf: %s\n", err.msg);
		return 1;
	}
	double *lat = calloc(n, sizeof(*lat));
	if (!lat)
		return 1;
	long rss0 = status_kib("VmRSS"), hwm0 = status_kib("VmHWM");
	int64_t now = mg_now_us();
	unsigned seed = 12345, found = 0;
	long rss1 = -1, hwm1 = -1;
	for (unsigned i = 0; i < n; i++) {
		char name[64];
		struct mg_central c;
		seed = seed * 1103515245u + 12345u;
		mg_test_staff_name(name, sizeof(name), (seed >> 8) % staff);
		double t0 = now_us();
		int r = mg_central_lookup(&conf, name, now, true, &c, NULL, 0);
		lat[i] = now_us() - t0;
		if (r == 0 && c.state == MG_CENTRAL_ACTIVE && c.creds && c.creds->n > 0)
			found++;
		mg_central_free(&c);
		if (i == 0) {
			rss1 = status_kib("VmRSS");
			hwm1 = status_kib("VmHWM");
		}
	}
	long rss2 = status_kib("VmRSS"), hwm2 = status_kib("VmHWM");
	qsort(lat, n, sizeof(*lat), cmp_double);
	printf(
	    "| mg_central_lookup (open, pread search, record, close), %u logins | median %.1f µs, "
	    "p99 %.1f µs, max %.1f µs |\n",
	    n, lat[n / 2], lat[(size_t)((double)n * 0.99)], lat[n - 1]);

	/* The search alone on a kept open file (bounded reads of what it visits). */
	struct mg_staffdb_file file = {-1, 0};
	char *rec = malloc(MG_STAFF_DB_MAX_RECORD);
	if (rec && mg_staffdb_file_open(g_db, geteuid(), &file, NULL, 0) == 0) {
		struct mg_staff_entry e;
		double t0 = now_us();
		for (unsigned i = 0; i < n; i++) {
			char name[64];
			seed = seed * 1103515245u + 12345u;
			mg_test_staff_name(name, sizeof(name), (seed >> 8) % staff);
			if (mg_staffdb_file_find(&file, name, NULL, &e, rec,
			                         MG_STAFF_DB_MAX_RECORD) != 0)
				found = 0;
		}
		printf("| mg_staff_db_find_read alone (binary search, pread) | %.2f µs per lookup "
		       "|\n",
		       (now_us() - t0) / n);
		mg_staffdb_file_close(&file);
	}
	free(rec);
	printf("| RSS of this process | before %ld KiB; after the first login %+ld KiB, after %u "
	       "%+ld KiB (staff.db closed after each login) |\n",
	       rss0, rss1 - rss0, n, rss2 - rss0);
	printf("| peak RSS (VmHWM) during the logins | first login %+ld KiB, "
	       "all %+ld KiB |\n",
	       hwm1 - hwm0, hwm2 - hwm0);
	printf("| staff members found with credentials | %u of %u |\n", found, n);
	free(lat);
	mg_pam_conf_free(&conf);
	return found == n ? 0 : 1;
}
