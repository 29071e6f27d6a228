/*
 * The event spool (agent/spool/): records and their decoder, the hash chain as POST /v1/events
 * defines it, recovery of a torn or damaged tail, the size bound with security priority,
 * segments and their deletion only after acknowledgement, seq never reused within a boot.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "spool.h"

#define BOOT1 "7d2c0e4a-61b3-4f0e-8c55-3a9e1f04b2d7"
#define BOOT2 "11111111-2222-4333-8444-555555555555"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/mg-spool-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct mg_spool *open_spool(const char *boot, uint64_t max, uint64_t seg,
                                   struct mg_spool_recovery *rec)
{
	char path[128], err[256] = "";
	snprintf(path, sizeof(path), "%s/spool", dir);
	struct mg_spool_opts o = {
	    .dir = path, .boot_id = boot, .max_bytes = max, .segment_bytes = seg};
	struct mg_spool *sp = NULL;
	if (mg_spool_open(&o, &sp, rec, err, sizeof(err)) < 0)
		fail_msg("open: %s", err);
	return sp;
}

/* An event's canonical-looking JSON for seq (the spool does not parse it). */
static size_t event(char *buf, size_t len, const char *boot, uint64_t seq)
{
	return (size_t)snprintf(buf, len,
	                        "{\"boot_id\":\"%s\",\"host\":\"t\",\"seq\":%llu,\"time\":\"x\","
	                        "\"type\":\"device.blocked\"}",
	                        boot, (unsigned long long)seq);
}

static void append_n(struct mg_spool *sp, const char *boot, unsigned n, uint8_t flags)
{
	for (unsigned i = 0; i < n; i++) {
		char j[256];
		uint64_t seq = mg_spool_next_seq(sp);
		size_t len = event(j, sizeof(j), boot, seq);
		int r = mg_spool_append(sp, j, len, seq, flags, i + 1 == n, NULL);
		if (r != 0)
			fail_msg("append seq %llu: %d", (unsigned long long)seq, r);
	}
}

struct got {
	uint64_t seq[2000];
	uint8_t prev[2000][32], hash[2000][32];
	size_t n;
};

static int collect(void *ctx, const struct mg_spool_record *r, const uint8_t hash[32])
{
	struct got *g = ctx;
	assert_true(g->n < 2000);
	g->seq[g->n] = r->seq;
	memcpy(g->prev[g->n], r->prev, 32);
	memcpy(g->hash[g->n], hash, 32);
	/* The hash is SHA-256 of the event's JSON, as POST /v1/events checks it. */
	uint8_t want[32];
	struct sha256_ctx c;
	sha256_init(&c);
	sha256_update(&c, r->len, (const uint8_t *)r->payload);
	sha256_digest(&c, 32, want);
	assert_memory_equal(hash, want, 32);
	g->n++;
	return 0;
}

static void assert_chain(const struct got *g, uint64_t first)
{
	for (size_t i = 0; i < g->n; i++) {
		assert_int_equal(g->seq[i], first + i);
		if (i > 0)
			assert_memory_equal(g->prev[i], g->hash[i - 1], 32);
	}
}

static off_t last_segment(char *path, size_t len)
{
	char d[128];
	snprintf(d, sizeof(d), "%s/spool", dir);
	char best[64] = "";
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "ls '%s' | sort | tail -n 1", d);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(best, sizeof(best), p));
	pclose(p);
	best[strcspn(best, "\n")] = '\0';
	snprintf(path, len, "%s/%s", d, best);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static void chain_and_reopen(void **state)
{
	(void)state;
	struct mg_spool_recovery rec;
	struct mg_spool *sp = open_spool(BOOT1, 0, 0, &rec);
	assert_int_equal(rec.records, 0);
	assert_int_equal(mg_spool_next_seq(sp), 1);
	append_n(sp, BOOT1, 5, 0);
	mg_spool_close(&sp);
	/* Restarted within the same boot: seq and chain go on. */
	sp = open_spool(BOOT1, 0, 0, &rec);
	assert_int_equal(rec.records, 5);
	assert_int_equal(rec.cut_bytes, 0);
	assert_int_equal(mg_spool_next_seq(sp), 6);
	append_n(sp, BOOT1, 2, MG_SPOOL_SECURITY);
	struct got *g = calloc(1, sizeof(*g));
	assert_int_equal(mg_spool_read(sp, BOOT1, 0, 1000, 1 << 20, collect, g), 7);
	assert_chain(g, 1);
	static const uint8_t zero[32];
	assert_memory_equal(g->prev[0], zero, 32); /* the first event of the boot */
	/* From a cursor, and bounded. */
	memset(g, 0, sizeof(*g));
	assert_int_equal(mg_spool_read(sp, BOOT1, 4, 2, 1 << 20, collect, g), 2);
	assert_int_equal(g->seq[0], 5);
	assert_int_equal(mg_spool_unacked(sp), 7);
	/* A wrong seq is refused. */
	assert_int_equal(mg_spool_append(sp, "{}", 2, 3, 0, true, NULL), -EINVAL);
	mg_spool_close(&sp);
	/* Another boot starts at seq 1 with no prev; the old boot's events stay readable. */
	sp = open_spool(BOOT2, 0, 0, &rec);
	assert_int_equal(mg_spool_next_seq(sp), 1);
	append_n(sp, BOOT2, 3, 0);
	memset(g, 0, sizeof(*g));
	assert_int_equal(mg_spool_read(sp, BOOT2, 0, 1000, 1 << 20, collect, g), 3);
	assert_chain(g, 1);
	assert_memory_equal(g->prev[0], zero, 32);
	char boot[MG_SPOOL_BOOT_ID_LEN + 1];
	uint64_t acked = 99;
	assert_true(mg_spool_pending(sp, boot, &acked));
	assert_string_equal(boot, BOOT1);
	assert_int_equal(acked, 0);
	free(g);
	mg_spool_close(&sp);
}

static void torn_and_damaged_tail(void **state)
{
	(void)state;
	struct mg_spool_recovery rec;
	struct mg_spool *sp = open_spool(BOOT1, 0, 0, &rec);
	append_n(sp, BOOT1, 4, 0);
	mg_spool_close(&sp);
	char path[256];
	const off_t whole = last_segment(path, sizeof(path));
	/* A torn write: the first 60 bytes of a fifth record. */
	sp = open_spool(BOOT1, 0, 0, &rec);
	append_n(sp, BOOT1, 1, 0);
	mg_spool_close(&sp);
	assert_int_equal(truncate(path, whole + 60), 0);
	sp = open_spool(BOOT1, 0, 0, &rec);
	assert_int_equal(rec.records, 4);
	assert_int_equal(rec.cut_bytes, 60);
	assert_non_null(strstr(rec.cut_why, "torn"));
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, whole); /* cut off on disk, never sent */
	assert_int_equal(mg_spool_next_seq(sp), 5);
	append_n(sp, BOOT1, 1, 0); /* seq 5 again: the torn one never existed */
	mg_spool_close(&sp);
	/* One flipped byte in the last record's JSON: the checksum catches it. */
	const off_t five = last_segment(path, sizeof(path));
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	char c;
	assert_int_equal(pread(fd, &c, 1, five - 40), 1);
	c ^= 0x20;
	assert_int_equal(pwrite(fd, &c, 1, five - 40), 1);
	close(fd);
	sp = open_spool(BOOT1, 0, 0, &rec);
	assert_int_equal(rec.records, 4);
	assert_non_null(strstr(rec.cut_why, "checksum"));
	assert_int_equal(mg_spool_next_seq(sp), 5);
	struct got *g = calloc(1, sizeof(*g));
	assert_int_equal(mg_spool_read(sp, BOOT1, 0, 1000, 1 << 20, collect, g), 4);
	assert_chain(g, 1);
	free(g);
	mg_spool_close(&sp);
}

static void bounded_with_priority(void **state)
{
	(void)state;
	char j[256];
	const size_t rec = mg_spool_record_size(event(j, sizeof(j), BOOT1, 10));
	/* Room for 10 records: routine events may take 9 (90%), security ones all 10. */
	struct mg_spool *sp = open_spool(BOOT1, rec * 10, 0, NULL);
	unsigned routine = 0, security = 0;
	for (int i = 0; i < 20; i++) {
		uint64_t seq = mg_spool_next_seq(sp);
		size_t len = event(j, sizeof(j), BOOT1, seq < 10 ? 10 : seq);
		if (mg_spool_append(sp, j, len, seq, 0, true, NULL) == 0)
			routine++;
	}
	for (int i = 0; i < 5; i++) {
		uint64_t seq = mg_spool_next_seq(sp);
		size_t len = event(j, sizeof(j), BOOT1, seq < 10 ? 10 : seq);
		if (mg_spool_append(sp, j, len, seq, MG_SPOOL_SECURITY, true, NULL) == 0)
			security++;
	}
	assert_int_equal(routine, 9);
	assert_int_equal(security, 1);
	uint64_t dr, ds;
	mg_spool_take_dropped(sp, &dr, &ds);
	assert_int_equal(dr, 11);
	assert_int_equal(ds, 4);
	mg_spool_take_dropped(sp, &dr, &ds);
	assert_int_equal(dr + ds, 0);
	/* Dropped events take no seq: the chain has no gap. */
	assert_int_equal(mg_spool_next_seq(sp), 11);
	mg_spool_close(&sp);
}

static size_t count_segments(void)
{
	char cmd[256], line[64];
	snprintf(cmd, sizeof(cmd), "ls '%s/spool' | grep -c 'seg$'", dir);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(line, sizeof(line), p));
	pclose(p);
	return (size_t)atoi(line);
}

static void segments_and_ack(void **state)
{
	(void)state;
	char j[256];
	const size_t rec = mg_spool_record_size(event(j, sizeof(j), BOOT1, 10));
	/* Four records per segment. */
	struct mg_spool *sp = open_spool(BOOT1, 0, rec * 4, NULL);
	for (int i = 0; i < 14; i++) {
		uint64_t seq = mg_spool_next_seq(sp);
		size_t len = event(j, sizeof(j), BOOT1, seq < 10 ? 10 : seq);
		assert_int_equal(mg_spool_append(sp, j, len, seq, 0, false, NULL), 0);
	}
	assert_int_equal(mg_spool_sync(sp), 0);
	assert_int_equal(count_segments(), 4);
	/* Acked through 6: only the first segment (1-4) is wholly acknowledged. */
	assert_int_equal(mg_spool_ack(sp, BOOT1, 6), 0);
	assert_int_equal(count_segments(), 3);
	assert_int_equal(mg_spool_unacked(sp), 8);
	struct got *g = calloc(1, sizeof(*g));
	assert_int_equal(mg_spool_read(sp, BOOT1, 6, 1000, 1 << 20, collect, g), 8);
	assert_chain(g, 7);
	/* Everything acknowledged: the last segment stays (it carries the seq across restarts). */
	assert_int_equal(mg_spool_ack(sp, BOOT1, 14), 0);
	assert_int_equal(count_segments(), 1);
	assert_int_equal(mg_spool_unacked(sp), 0);
	char boot[MG_SPOOL_BOOT_ID_LEN + 1];
	uint64_t acked;
	assert_false(mg_spool_pending(sp, boot, &acked));
	mg_spool_close(&sp);
	sp = open_spool(BOOT1, 0, rec * 4, NULL);
	assert_int_equal(mg_spool_next_seq(sp), 15);
	memset(g, 0, sizeof(*g));
	append_n(sp, BOOT1, 1, 0);
	assert_int_equal(mg_spool_read(sp, BOOT1, 14, 10, 1 << 20, collect, g), 1);
	/* The chain continues from the kept record (seq 14, in the kept segment). */
	struct got *all = calloc(1, sizeof(*all));
	assert_int_equal(mg_spool_read(sp, BOOT1, 12, 10, 1 << 20, collect, all), 3);
	assert_chain(all, 13);
	free(all);
	free(g);
	mg_spool_close(&sp);
}

/*
 * More segments than the first allocation of the segment table holds (16): the table moves
 * while a new segment is started (found end to end: a use after free in writable_seg).
 */
static void many_segments(void **state)
{
	(void)state;
	char j[256];
	const size_t rec = mg_spool_record_size(event(j, sizeof(j), BOOT1, 10));
	struct mg_spool *sp = open_spool(BOOT1, 0, rec, NULL); /* one record per segment */
	append_n(sp, BOOT1, 40, 0);
	assert_int_equal(count_segments(), 40);
	struct got *g = calloc(1, sizeof(*g));
	assert_int_equal(mg_spool_read(sp, BOOT1, 0, 1000, 1 << 20, collect, g), 40);
	assert_chain(g, 1);
	free(g);
	mg_spool_close(&sp);
}

static void record_decoder(void **state)
{
	(void)state;
	uint8_t buf[512];
	struct mg_spool_record r = {
	    .flags = MG_SPOOL_SECURITY, .seq = 7, .payload = "{\"a\":1}", .len = 7};
	memcpy(r.boot_id, BOOT1, sizeof(BOOT1));
	const size_t n = mg_spool_record_size(7);
	assert_int_equal(mg_spool_record_encode(&r, buf, sizeof(buf)), 0);
	struct mg_spool_record d;
	size_t used = 0;
	char why[96];
	assert_int_equal(mg_spool_record_decode(buf, n, &d, &used, why, sizeof(why)), 0);
	assert_int_equal(used, n);
	assert_int_equal(d.seq, 7);
	assert_int_equal(d.flags, MG_SPOOL_SECURITY);
	assert_string_equal(d.boot_id, BOOT1);
	assert_memory_equal(d.payload, "{\"a\":1}", 7);
	/* Every prefix is "not yet whole", never a record. */
	for (size_t k = 0; k < n; k++)
		assert_int_equal(mg_spool_record_decode(buf, k, &d, &used, why, sizeof(why)),
		                 -EAGAIN);
	/* Each damaged field is named. */
	const struct {
		size_t at;
		uint8_t x;
		const char *why;
	} bad[] = {{0, 'X', "magic"},   {4, 2, "version"},        {5, 0x80, "flags"},
	           {8, 0, "length"},    {13, 1, "checksum"},      {20, 'Z', "boot_id"},
	           {60, 1, "checksum"}, {88 + 3, 'b', "checksum"}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t c[512];
		memcpy(c, buf, n);
		c[bad[i].at] = bad[i].x;
		if (bad[i].at == 8)
			memset(c + 8, 0, 4);
		assert_int_equal(mg_spool_record_decode(c, n, &d, &used, why, sizeof(why)),
		                 -EBADMSG);
		if (!strstr(why, bad[i].why))
			fail_msg("byte %zu: '%s' does not name %s", bad[i].at, why, bad[i].why);
	}
	/* Encoding refuses what could not be decoded. */
	r.seq = 0;
	assert_int_equal(mg_spool_record_encode(&r, buf, sizeof(buf)), -EINVAL);
	r.seq = 1;
	memcpy(r.boot_id, "not-a-boot-id", 14);
	assert_int_equal(mg_spool_record_encode(&r, buf, sizeof(buf)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(chain_and_reopen, setup, teardown),
	    cmocka_unit_test_setup_teardown(torn_and_damaged_tail, setup, teardown),
	    cmocka_unit_test_setup_teardown(bounded_with_priority, setup, teardown),
	    cmocka_unit_test_setup_teardown(segments_and_ack, setup, teardown),
	    cmocka_unit_test_setup_teardown(many_segments, setup, teardown),
	    cmocka_unit_test(record_decoder),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
