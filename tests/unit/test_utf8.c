/* UTF-8 validation and repair. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "mg/utf8.h"

#define VALID(s)   assert_true(mg_utf8_valid(s, sizeof(s) - 1))
#define INVALID(s) assert_false(mg_utf8_valid(s, sizeof(s) - 1))

static void test_valid(void **state)
{
	(void)state;
	VALID("");
	VALID("plain ascii");
	VALID("マイナンバー");     /* 3-byte sequences */
	VALID("\xc2\x80");         /* U+0080 */
	VALID("\xf0\x9f\x94\x91"); /* U+1F511 */
	VALID("\xf4\x8f\xbf\xbf"); /* U+10FFFF */
	VALID("\xed\x9f\xbf");     /* U+D7FF, last before surrogates */
}

static void test_invalid(void **state)
{
	(void)state;
	INVALID("\xff");
	INVALID("\xfe\xff");
	INVALID("\xc0\xaf");         /* overlong '/' */
	INVALID("\xe0\x80\xaf");     /* overlong */
	INVALID("\xed\xa0\x80");     /* surrogate U+D800 */
	INVALID("\xf4\x90\x80\x80"); /* > U+10FFFF */
	INVALID("\xe3\x83");         /* truncated */
	INVALID("a\x80z");           /* lone continuation */
	INVALID("\xc2");
}

static void test_repair(void **state)
{
	(void)state;
	bool changed = true;
	char *s = mg_utf8_repair("ok マイ", strlen("ok マイ"), &changed);
	assert_non_null(s);
	assert_string_equal(s, "ok マイ");
	assert_false(changed);
	free(s);

	s = mg_utf8_repair("a\xff"
	                   "b\xed\xa0\x80"
	                   "c",
	                   7, &changed);
	assert_non_null(s);
	assert_true(changed);
	assert_string_equal(s, "a\xef\xbf\xbd"
	                       "b\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
	                       "c");
	assert_true(mg_utf8_valid(s, strlen(s)));
	free(s);

	/* NUL bytes never survive into a C string. */
	s = mg_utf8_repair("x\0y", 3, &changed);
	assert_non_null(s);
	assert_true(changed);
	assert_string_equal(s, "x\xef\xbf\xbdy");
	free(s);
}

/* What a terminal would act on is shown as an escape, the rest as it is. */
static void test_escape_terminal(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
	    {"USB Keyboard", "USB Keyboard"},
	    {"", ""},
	    {"\x1b[31mOK\x1b[0m", "\\x1b[31mOK\\x1b[0m"},
	    {"bell\a tab\t nl\n cr\r del\x7f", "bell\\x07 tab\\x09 nl\\x0a cr\\x0d del\\x7f"},
	    {"back\\slash", "back\\\\slash"},
	    {"csi \xc2\x9b"
	     "2J",
	     "csi \\u009b2J"},                                        /* C1 CSI */
	    {"\xe2\x80\xaegpj.exe", "\\u202egpj.exe"},                /* right-to-left override */
	    {"iso \xe2\x81\xa6x\xe2\x81\xa9", "iso \\u2066x\\u2069"}, /* isolates */
	    {"日本語 テスト \xc2\xa9", "日本語 テスト \xc2\xa9"},     /* printable: kept */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = mg_utf8_escape_terminal(cases[i].in);
		assert_non_null(got);
		if (strcmp(got, cases[i].out) != 0)
			fail_msg("case %zu: '%s', expected '%s'", i, got, cases[i].out);
		free(got);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_invalid),
	    cmocka_unit_test(test_repair),
	    cmocka_unit_test(test_escape_terminal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
