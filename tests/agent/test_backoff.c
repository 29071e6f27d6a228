/* Retry delays of the upload: Retry-After is honoured and spread, the backoff grows and stops
 * at its cap, and the random part stays inside its bounds for extreme random values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "backoff.h"

#define SEC 1000000LL

static void retry_after_honoured_and_spread(void **state)
{
	(void)state;
	const uint64_t rnds[] = {0, 1, 999999, 2500000, 5000000, UINT64_MAX / 3, UINT64_MAX};
	int64_t lo = INT64_MAX, hi = 0;
	for (size_t i = 0; i < sizeof(rnds) / sizeof(rnds[0]); i++) {
		int64_t d = mg_backoff_delay_us(10, 3, rnds[i]);
		assert_true(d >= 10 * SEC);
		assert_true(d <= 15 * SEC);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	assert_true(hi - lo >= 2 * SEC); /* spread, not one instant for every terminal */
}

static void retry_after_of_a_day_does_not_overflow(void **state)
{
	(void)state;
	int64_t d = mg_backoff_delay_us(86400, 1, UINT64_MAX - 7);
	assert_true(d >= 86400 * SEC && d <= 86400 * SEC * 3 / 2);
	d = mg_backoff_delay_us(UINT32_MAX, 1, UINT64_MAX); /* clamped to a day */
	assert_true(d >= 86400 * SEC && d <= 86400 * SEC * 3 / 2);
}

static void exponential_with_cap(void **state)
{
	(void)state;
	/* rnd = 0 gives the lower end (half the step), a large rnd at most the step */
	assert_int_equal(mg_backoff_delay_us(0, 1, 0), SEC / 2);
	assert_int_equal(mg_backoff_delay_us(0, 2, 0), SEC);
	assert_int_equal(mg_backoff_delay_us(0, 3, 0), 2 * SEC);
	assert_int_equal(mg_backoff_delay_us(0, 5, 0), 8 * SEC);
	assert_int_equal(mg_backoff_delay_us(0, 6, 0),
	                 MG_BACKOFF_CAP_US / 2); /* 32 s step, capped */
	assert_int_equal(mg_backoff_delay_us(0, 7, 0), MG_BACKOFF_CAP_US / 2);
	assert_int_equal(mg_backoff_delay_us(0, 1000, 0), MG_BACKOFF_CAP_US / 2);
	for (unsigned f = 0; f < 20; f++) {
		int64_t d = mg_backoff_delay_us(0, f, UINT64_MAX);
		assert_true(d > 0 && d <= MG_BACKOFF_CAP_US);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(retry_after_honoured_and_spread),
	    cmocka_unit_test(retry_after_of_a_day_does_not_overflow),
	    cmocka_unit_test(exponential_with_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
