/*
 * mynaguard-bench-spool: the spool's append (record encoding, SHA-256 chain and check, group
 * commit) against raw write(2) + fdatasync(2) of the same record bytes to a plain file on the
 * same disk, with the same sync pattern (docs/PERFORMANCE.md, "Event spool").
 *
 *   mynaguard-bench-spool DIR [EVENTS] [REPS]
 *
 * For bursts of 1, 10 and 100 events (one fdatasync per burst), REPS interleaved rounds of:
 * the same number of bytes raw into a fresh file under DIR, then N events through
 * mg_spool_append into a fresh spool under DIR. Prints a Markdown table of medians: events/s of
 * each and the ratio.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spool.h"

#define BOOT "7d2c0e4a-61b3-4f0e-8c55-3a9e1f04b2d7"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "mynaguard-bench-spool: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* A device.blocked event of the usual size (about 600 bytes). */
static size_t event(char *buf, size_t len, unsigned long long seq)
{
	return (size_t)snprintf(
	    buf, len,
	    "{\"boot_id\":\"" BOOT "\",\"decision\":{\"applied\":true,\"blocked_interfaces\":[],"
	    "\"mode\":\"enforce\",\"target\":\"block\"},\"device\":{\"hash\":\"Kq7QY3cRfu2Zbl3hSKI2"
	    "wPQjAlMldKoSZ3gfRVkkI0o=\",\"interfaces\":[\"08:06:50\"],\"name\":\"Ultra\",\"parent_"
	    "hash\":\"jEP/6WzviqdJ5VSeTUY8PatCNBKeaREvo2OqdplND/"
	    "o=\",\"port\":\"1-2\",\"product_id\":"
	    "\"5581\",\"serial\":\"4C530001230517115103\",\"syspath\":\"/devices/pci0000:00/"
	    "0000:00:"
	    "14.0/usb1/1-2\",\"vendor_id\":\"0781\"},\"host\":\"mn-term-01\",\"seq\":%llu,\"time\":"
	    "\"2026-11-25T21:18:04.123456Z\",\"type\":\"device.blocked\"}",
	    seq);
}

static double run_spool(const char *dir, unsigned n, unsigned burst)
{
	char path[512], cmd[600];
	snprintf(path, sizeof(path), "%s/spool", dir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		die("rm");
	struct mg_spool_opts o = {.dir = path, .boot_id = BOOT};
	struct mg_spool *sp = NULL;
	char err[256];
	if (mg_spool_open(&o, &sp, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	char j[1024];
	double t0 = now_s();
	for (unsigned i = 0; i < n; i++) {
		uint64_t seq = mg_spool_next_seq(sp);
		size_t len = event(j, sizeof(j), (unsigned long long)seq);
		if (mg_spool_append(sp, j, len, seq, 0, (i + 1) % burst == 0 || i + 1 == n, NULL) <
		    0)
			die("append");
	}
	double t = now_s() - t0;
	mg_spool_close(&sp);
	return n / t;
}

static double run_raw(const char *dir, unsigned n, unsigned burst)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/raw.bin", dir);
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		die("open raw");
	if (fsync(fd) < 0)
		die("fsync");
	char j[1024];
	uint8_t rec[2048];
	double t0 = now_s();
	for (unsigned i = 0; i < n; i++) {
		/* As many bytes as the spool writes per event (header, JSON, check), without
		 * computing anything: the floor the disk sets. */
		size_t len = event(j, sizeof(j), i + 1ull);
		size_t size = mg_spool_record_size(len);
		memset(rec, 0, 88);
		memcpy(rec + 88, j, len);
		if (write(fd, rec, size) != (ssize_t)size)
			die("write");
		if (((i + 1) % burst == 0 || i + 1 == n) && fdatasync(fd) < 0)
			die("fdatasync");
	}
	double t = now_s() - t0;
	close(fd);
	unlink(path);
	return n / t;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: mynaguard-bench-spool DIR [EVENTS] [REPS]\n");
		return 2;
	}
	unsigned n = argc > 2 ? (unsigned)atoi(argv[2]) : 2000,
	         reps = argc > 3 ? (unsigned)atoi(argv[3]) : 5;
	if (n == 0 || reps == 0 || reps > 50)
		return 2;
	static const unsigned bursts[] = {1, 10, 100};
	printf("| Events per fdatasync | raw write+fdatasync, events/s | spool append, events/s | "
	       "spool / raw |\n|---|---|---|---|\n");
	for (size_t b = 0; b < 3; b++) {
		double s[50], r[50], q[50];
		for (unsigned i = 0; i < reps; i++) {
			r[i] = run_raw(argv[1], n, bursts[b]);
			s[i] = run_spool(argv[1], n, bursts[b]);
			q[i] = s[i] / r[i];
		}
		qsort(s, reps, sizeof(double), cmp);
		qsort(r, reps, sizeof(double), cmp);
		qsort(q, reps, sizeof(double), cmp);
		printf("| %u | %.0f [%.0f-%.0f] | %.0f [%.0f-%.0f] | %.2f [%.2f-%.2f] |\n",
		       bursts[b], r[reps / 2], r[0], r[reps - 1], s[reps / 2], s[0], s[reps - 1],
		       q[reps / 2], q[0], q[reps - 1]);
	}
	return 0;
}
