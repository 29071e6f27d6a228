/* RFC 3339 formatting and parsing (mg_time_*). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mg/time.h"

#define T_2026 INT64_C(1795641479123456)   /* 2026-11-25T21:17:59.123456Z */
#define T_MAX  INT64_C(253402300799999999) /* 9999-12-31T23:59:59.999999Z */
#define T_LEAP INT64_C(1709164800000000)   /* 2024-02-29T00:00:00Z */
#define T_2016 INT64_C(1483228799999999)   /* 2016-12-31T23:59:59.999999Z */

static void expect_format(int64_t us, const char *want)
{
	char buf[MG_RFC3339_LEN];
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(mg_time_format(us, buf), 0);
	assert_string_equal(buf, want);
}

static int64_t parse_ok(const char *s)
{
	int64_t us = -1;
	assert_int_equal(mg_time_parse(s, &us), 0);
	return us;
}

static void expect_reject(const char *s)
{
	int64_t us = 42;
	assert_int_equal(mg_time_parse(s, &us), -EINVAL);
	assert_int_equal(us, 42); /* untouched on failure */
}

static void test_format_known(void **state)
{
	(void)state;
	expect_format(0, "1970-01-01T00:00:00.000000Z");
	expect_format(1, "1970-01-01T00:00:00.000001Z");
	expect_format(T_2026, "2026-11-25T21:17:59.123456Z");
	expect_format(T_LEAP, "2024-02-29T00:00:00.000000Z");
	expect_format(T_2016, "2016-12-31T23:59:59.999999Z");
	expect_format(T_MAX, "9999-12-31T23:59:59.999999Z");
	expect_format(INT64_C(951782400) * 1000000, "2000-02-29T00:00:00.000000Z");
	expect_format(INT64_C(951868800) * 1000000, "2000-03-01T00:00:00.000000Z");
}

static void test_format_range(void **state)
{
	(void)state;
	char buf[MG_RFC3339_LEN] = "unchanged";
	assert_int_equal(mg_time_format(-1, buf), -ERANGE);
	assert_int_equal(mg_time_format(T_MAX + 1, buf), -ERANGE);
	assert_int_equal(mg_time_format(INT64_MIN, buf), -ERANGE);
	assert_int_equal(mg_time_format(INT64_MAX, buf), -ERANGE);
	assert_string_equal(buf, "unchanged");
}

static void test_parse_zones(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("2026-11-25T21:17:59.123456Z"), T_2026);
	assert_int_equal(parse_ok("2026-11-25t21:17:59.123456z"), T_2026);
	assert_int_equal(parse_ok("2026-11-26T06:17:59.123456+09:00"), T_2026); /* JST */
	assert_int_equal(parse_ok("2026-11-25T16:17:59.123456-05:00"), T_2026);
	assert_int_equal(parse_ok("2026-11-25T21:17:59.123456+00:00"), T_2026);
	assert_int_equal(parse_ok("2026-11-25T21:17:59.123456-00:00"), T_2026);
	assert_int_equal(parse_ok("2026-11-25T21:47:59.123456+00:30"), T_2026);
	/* The offset moves the date across a month and a year boundary. */
	assert_int_equal(parse_ok("2017-01-01T08:59:59.999999+09:00"), T_2016);
	assert_int_equal(parse_ok("1970-01-01T09:00:00+09:00"), 0);
	assert_int_equal(parse_ok("9999-12-31T23:59:59.999999Z"), T_MAX);
}

static void test_parse_fraction(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		int64_t us;
	} cases[] = {
	    {"1970-01-01T00:00:01Z", 1000000},
	    {"1970-01-01T00:00:01.1Z", 1100000},
	    {"1970-01-01T00:00:01.12Z", 1120000},
	    {"1970-01-01T00:00:01.123Z", 1123000},
	    {"1970-01-01T00:00:01.1234Z", 1123400},
	    {"1970-01-01T00:00:01.12345Z", 1123450},
	    {"1970-01-01T00:00:01.123456Z", 1123456},
	    {"1970-01-01T00:00:01.1234567Z", 1123456}, /* truncated, not rounded */
	    {"1970-01-01T00:00:01.12345678Z", 1123456},
	    {"1970-01-01T00:00:01.123456789Z", 1123456},
	    {"1970-01-01T00:00:01.999999999Z", 1999999},
	    {"1970-01-01T00:00:01.000000001Z", 1000000},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(parse_ok(cases[i].s), cases[i].us);
	expect_reject("1970-01-01T00:00:01.1234567890Z"); /* 10 digits */
	expect_reject("1970-01-01T00:00:01.Z");           /* no digits */
}

static void test_parse_calendar(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("2024-02-29T00:00:00Z"), T_LEAP);
	assert_int_equal(parse_ok("2000-02-29T00:00:00Z"), INT64_C(951782400) * 1000000);
	expect_reject("2023-02-29T00:00:00Z"); /* not a leap year */
	expect_reject("2100-02-29T00:00:00Z"); /* century, not divisible by 400 */
	expect_reject("2024-02-30T00:00:00Z");
	expect_reject("2026-04-31T00:00:00Z");
	expect_reject("2026-13-01T00:00:00Z");
	expect_reject("2026-00-01T00:00:00Z");
	expect_reject("2026-01-00T00:00:00Z");
	expect_reject("2026-01-32T00:00:00Z");
	expect_reject("2026-01-01T24:00:00Z");
	expect_reject("2026-01-01T23:60:00Z");
	expect_reject("2026-01-01T23:59:61Z");
	expect_reject("1969-12-31T23:59:59Z"); /* before the epoch */
	expect_reject("0000-01-01T00:00:00Z");
	expect_reject("1970-01-01T00:00:00+00:01"); /* UTC result before the epoch */
	expect_reject("9999-12-31T23:59:59-00:01"); /* UTC result after 9999 */
}

static void test_parse_leap_second(void **state)
{
	(void)state;
	/* Folded to the last microsecond of the minute, so order with :59.x is kept. */
	assert_int_equal(parse_ok("2016-12-31T23:59:60Z"), T_2016);
	assert_int_equal(parse_ok("2016-12-31T23:59:60.5Z"), T_2016);
	assert_int_equal(parse_ok("2017-01-01T08:59:60+09:00"), T_2016);
}

static void test_parse_malformed(void **state)
{
	(void)state;
	int64_t us = 0;
	assert_int_equal(mg_time_parse(NULL, &us), -EINVAL);
	assert_int_equal(mg_time_parse("2026-11-25T21:17:59Z", NULL), -EINVAL);
	expect_reject("");
	expect_reject("2026-11-25 21:17:59Z"); /* missing T */
	expect_reject("2026-11-2521:17:59Z");
	expect_reject("2026-11-25T21:17:59");   /* no zone */
	expect_reject("2026-11-25T21:17:59Z "); /* trailing garbage */
	expect_reject("2026-11-25T21:17:59Zx");
	expect_reject("2026-11-25T21:17:59.123456Z\n");
	expect_reject(" 2026-11-25T21:17:59Z");
	expect_reject("2026-11-25T21:17:59+24:00"); /* bad offsets */
	expect_reject("2026-11-25T21:17:59+09:60");
	expect_reject("2026-11-25T21:17:59+0900");
	expect_reject("2026-11-25T21:17:59+09");
	expect_reject("2026-11-25T21:17:59+9:00");
	expect_reject("2026-11-25T21:17:59 +09:00");
	expect_reject("2026-1-25T21:17:59Z"); /* short fields */
	expect_reject("2026-11-25T1:17:59Z");
	expect_reject("26-11-25T21:17:59Z");
	expect_reject("+2026-11-25T21:17:59Z");
	expect_reject("2026/11/25T21:17:59Z");
	expect_reject("2026-11-25T21.17.59Z");
	expect_reject("2026-11-25T21:17:5aZ");
	expect_reject("2026-11-25");
	expect_reject("2026-11-25T");
}

/* Format and parse against each other, and against the C library's gmtime_r(). */
static void test_round_trip_sweep(void **state)
{
	(void)state;
	char buf[MG_RFC3339_LEN];
	int64_t step = INT64_C(86400) * 7 * 1000000 + 3600 * INT64_C(1000000) + 123457;
	for (int64_t us = 0; us <= T_MAX; us += step) {
		int64_t back = -1;
		assert_int_equal(mg_time_format(us, buf), 0);
		assert_int_equal(strlen(buf), 27);
		assert_int_equal(mg_time_parse(buf, &back), 0);
		assert_int_equal(back, us);

		const time_t secs = (time_t)(us / 1000000);
		struct tm tm;
		char want[64];
		assert_non_null(gmtime_r(&secs, &tm));
		snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
		         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		         tm.tm_sec, (int)(us % 1000000));
		assert_string_equal(buf, want);
	}
}

/* CLOCK_REALTIME in microseconds. Not time(NULL): glibc reads it from the coarse clock, which
 * can still show the previous second after mg_now_us() saw the next one (a CI failure). */
static int64_t realtime_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void test_now(void **state)
{
	(void)state;
	const int64_t before = realtime_us();
	const int64_t now = mg_now_us();
	const int64_t after = realtime_us();
	assert_true(now >= before && now <= after);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format_known),
	    cmocka_unit_test(test_format_range),
	    cmocka_unit_test(test_parse_zones),
	    cmocka_unit_test(test_parse_fraction),
	    cmocka_unit_test(test_parse_calendar),
	    cmocka_unit_test(test_parse_leap_second),
	    cmocka_unit_test(test_parse_malformed),
	    cmocka_unit_test(test_round_trip_sweep),
	    cmocka_unit_test(test_now),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
