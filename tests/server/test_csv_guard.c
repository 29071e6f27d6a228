/* The CSV export's formula guard (issue 14, finding 7): mg_admin_csv_is_formula(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>

#include "api_admin.h"

static void test_ascii(void **state)
{
	(void)state;
	assert_true(mg_admin_csv_is_formula("=1+1"));
	assert_true(mg_admin_csv_is_formula("+1"));
	assert_true(mg_admin_csv_is_formula("-1"));
	assert_true(mg_admin_csv_is_formula("@SUM(A1)"));
	assert_true(mg_admin_csv_is_formula("\t=1"));
	assert_true(mg_admin_csv_is_formula("\r=1"));
	assert_false(mg_admin_csv_is_formula(""));
	assert_false(mg_admin_csv_is_formula("sato"));
	assert_false(mg_admin_csv_is_formula("1-2"));
	assert_false(mg_admin_csv_is_formula("佐藤"));
}

/* Full-width ＝ ＋ － ＠ (U+FF1D U+FF0B U+FF0D U+FF20), and space or LF before a formula. */
static void test_fullwidth_and_leading_space(void **state)
{
	(void)state;
	assert_true(mg_admin_csv_is_formula("＝HYPERLINK(\"http://x\")"));
	assert_true(mg_admin_csv_is_formula("＋1"));
	assert_true(mg_admin_csv_is_formula("－1"));
	assert_true(mg_admin_csv_is_formula("＠SUM(A1)"));
	assert_true(mg_admin_csv_is_formula(" =1+1"));
	assert_true(mg_admin_csv_is_formula("\n=1+1"));
	assert_true(mg_admin_csv_is_formula("  \n +1"));
	assert_true(mg_admin_csv_is_formula(" ＝1"));
	assert_false(mg_admin_csv_is_formula(" sato"));
	assert_false(mg_admin_csv_is_formula("   "));
	assert_false(mg_admin_csv_is_formula("\xef\xbc")); /* truncated UTF-8: no read past end */
	assert_false(mg_admin_csv_is_formula("ｓａｔｏ"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ascii),
	    cmocka_unit_test(test_fullwidth_and_leading_space),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
