/* Login names: what useradd and SSSD accept is accepted, nothing that could break a path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "mg/user_name.h"

static void accepted(void **state)
{
	(void)state;
	const char *ok[] = {"tanaka",    "Tanaka", "suzuki@city.local",      "j.smith", "a", "_x",
	                    "svc_scan$", "user-1", "TANAKA.Taro@CITY.LOCAL", "0day"};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_true(mg_user_name_valid_str(ok[i]));
	char longest[MG_USER_NAME_MAX + 1];
	memset(longest, 'a', MG_USER_NAME_MAX);
	longest[MG_USER_NAME_MAX] = '\0';
	assert_true(mg_user_name_valid_str(longest));
}

static void refused(void **state)
{
	(void)state;
	const char *bad[] = {"",       "-tanaka", ".hidden", "a/b",  "..",  "a b",
	                     "tab\tx", "nl\nx",   "del\x7f", "$",    "a$b", "田中",
	                     "a\\b",   "a:b",     "a*",      "a%41", "a'b", "a\"b"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(mg_user_name_valid_str(bad[i]));
	assert_false(mg_user_name_valid_str(NULL));
	char toolong[MG_USER_NAME_MAX + 2];
	memset(toolong, 'a', MG_USER_NAME_MAX + 1);
	toolong[MG_USER_NAME_MAX + 1] = '\0';
	assert_false(mg_user_name_valid_str(toolong));
	/* an embedded NUL within the given length */
	assert_false(mg_user_name_valid("ab\0c", 4));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(accepted),
	    cmocka_unit_test(refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
