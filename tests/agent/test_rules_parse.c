/* Rule parser and canonical printer: corpus round trip, errors with positions, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"

/* "file:line" of a rule, for assertions and messages. */
static char srcbuf_[MG_RULE_SOURCE_MAX];

static char *read_data(const char *name, size_t *len)
{
	const char *dir = getenv("MG_TEST_DATA");
	char path[1024];
	snprintf(path, sizeof(path), "%s/rules/%s", dir ? dir : "tests/data", name);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char *buf = NULL;
	size_t n = 0, cap = 0;
	for (;;) {
		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		size_t got = fread(buf + n, 1, 4096, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Parses text (as file "t"); returns the error string, or "" on success. */
static int parse(const char *text, size_t len, struct mg_ruleset **rs, char *msg, size_t msglen)
{
	struct mg_rule_error err;
	memset(&err, 0, sizeof(err));
	*rs = NULL;
	int r = mg_ruleset_parse("t", text, len, rs, &err);
	if (r < 0) {
		assert_null(*rs);
		mg_rule_error_str(&err, msg, msglen);
	} else {
		assert_non_null(*rs);
		msg[0] = '\0';
	}
	return r;
}

static void expect_error(const char *text, size_t len, int code, const char *expected)
{
	struct mg_ruleset *rs;
	char msg[600];
	assert_int_equal(parse(text, len, &rs, msg, sizeof(msg)), code);
	assert_string_equal(msg, expected);
}

static void test_corpus_round_trip(void **state)
{
	(void)state;
	size_t len, clen;
	char *text = read_data("valid.rules", &len);
	char *canon = read_data("valid.canon", &clen);
	struct mg_ruleset *rs = NULL, *rs2 = NULL;
	struct mg_rule_error err;
	assert_int_equal(mg_ruleset_parse("valid.rules", text, len, &rs, &err), 0);

	size_t n = 0;
	for (char *line = canon, *nl; *line; line = nl + 1, n++) {
		nl = strchr(line, '\n');
		assert_non_null(nl);
		*nl = '\0';
		assert_true(n < mg_ruleset_count(rs));
		assert_string_equal(mg_rule_text(mg_ruleset_rule(rs, n)), line);
		*nl = '\n';
	}
	assert_int_equal(n, mg_ruleset_count(rs));
	assert_true(n > 40);
	/* The first rule is on line 4 of the file. */
	assert_string_equal(mg_rule_source(mg_ruleset_rule(rs, 0), srcbuf_, sizeof(srcbuf_)),
	                    "valid.rules:4");

	/* The canonical text parses to rules that print the same. */
	assert_int_equal(mg_ruleset_parse("canon", canon, clen, &rs2, &err), 0);
	assert_int_equal(mg_ruleset_count(rs2), n);
	for (size_t i = 0; i < n; i++) {
		const struct mg_rule *a = mg_ruleset_rule(rs, i), *b = mg_ruleset_rule(rs2, i);
		assert_string_equal(mg_rule_text(a), mg_rule_text(b));
		assert_int_equal(mg_rule_target(a), mg_rule_target(b));
		assert_true(mg_rule_expires_us(a) == mg_rule_expires_us(b));
	}
	char src[32];
	snprintf(src, sizeof(src), "canon:%zu", n);
	assert_string_equal(mg_rule_source(mg_ruleset_rule(rs2, n - 1), srcbuf_, sizeof(srcbuf_)),
	                    src);
	mg_ruleset_free(&rs);
	mg_ruleset_free(&rs2);
	assert_null(rs);
	free(text);
	free(canon);
}

static void test_invalid_corpus(void **state)
{
	(void)state;
	size_t len;
	char *text = read_data("invalid.txt", &len);
	const char *rule = NULL;
	size_t cases = 0;
	for (char *line = text, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		assert_non_null(nl);
		*nl = '\0';
		if (line[0] == '\0' || strncmp(line, "##", 2) == 0)
			continue;
		if (!rule) {
			rule = line;
			continue;
		}
		char expected[600];
		snprintf(expected, sizeof(expected), "t:%s", line);
		expect_error(rule, strlen(rule), -EINVAL, expected);
		rule = NULL;
		cases++;
	}
	assert_null(rule);
	assert_true(cases >= 40);
	free(text);
}

static void test_if_rejected_in_file(void **state)
{
	(void)state;
	const char *text =
	    "allow id 1050:0407\n\n# comment\nblock with-interface 08:*:* if truth\n";
	expect_error(text, strlen(text), -EINVAL,
	             "t:4:32: unknown condition 'truth' (expected true, false, localtime, "
	             "allowed-matches, rule-applied, rule-evaluated or random)");
}

static void test_nul_and_utf8(void **state)
{
	(void)state;
	expect_error("allow name \"a\0b\"", 16, -EINVAL, "t:1:14: NUL byte");
	expect_error("allow\n# \0 in a comment too\n", 27, -EINVAL, "t:2:3: NUL byte");
	const char *bad[] = {
	    "allow name \"\xff\"",             /* not a lead byte */
	    "allow name \"\xc0\x80\"",         /* overlong NUL */
	    "allow name \"\xed\xa0\x80\"",     /* surrogate */
	    "allow name \"\xe6\x9d\"",         /* truncated */
	    "allow name \"\xf4\x90\x80\x80\"", /* above U+10FFFF */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_error(bad[i], strlen(bad[i]), -EINVAL,
		             "t:1:13: invalid UTF-8 in string (write raw bytes as \\xHH)");
	/* Any byte through \xHH; valid UTF-8 raw. Comments may hold any non-NUL byte. */
	struct mg_ruleset *rs;
	char msg[600];
	const char *ok = "allow name \"\\xff\\xc0\\x80\xe6\x9d\xb1\" # \xff\x81 Shift_JIS\n";
	assert_int_equal(parse(ok, strlen(ok), &rs, msg, sizeof(msg)), 0);
	assert_string_equal(mg_rule_text(mg_ruleset_rule(rs, 0)),
	                    "allow name \"\\xff\\xc0\\x80\\xe6\\x9d\\xb1\"");
	mg_ruleset_free(&rs);
	/* Non-ASCII and control bytes outside strings. */
	expect_error("allow \x01", 7, -EINVAL, "t:1:7: unexpected control character 0x01");
	expect_error("allow\rblock", 11, -EINVAL, "t:1:6: unexpected carriage return");
}

static void test_crlf_and_empty(void **state)
{
	(void)state;
	struct mg_ruleset *rs;
	char msg[600];
	assert_int_equal(parse("allow\r\nblock id 1234:5678\r\n", 27, &rs, msg, sizeof(msg)), 0);
	assert_int_equal(mg_ruleset_count(rs), 2);
	assert_string_equal(mg_rule_text(mg_ruleset_rule(rs, 1)), "block id 1234:5678");
	assert_string_equal(mg_rule_source(mg_ruleset_rule(rs, 1), srcbuf_, sizeof(srcbuf_)),
	                    "t:2");
	assert_null(mg_ruleset_rule(rs, 2));
	mg_ruleset_free(&rs);
	/* No trailing newline. */
	assert_int_equal(parse("allow\nreject", 12, &rs, msg, sizeof(msg)), 0);
	assert_int_equal(mg_ruleset_count(rs), 2);
	assert_int_equal(mg_rule_target(mg_ruleset_rule(rs, 1)), MG_TARGET_REJECT);
	mg_ruleset_free(&rs);
	/* Nothing, blanks and comments only. */
	assert_int_equal(parse(NULL, 0, &rs, msg, sizeof(msg)), 0);
	assert_int_equal(mg_ruleset_count(rs), 0);
	mg_ruleset_free(&rs);
	assert_int_equal(parse(" \t\n# x\n\n", 8, &rs, msg, sizeof(msg)), 0);
	assert_int_equal(mg_ruleset_count(rs), 0);
	mg_ruleset_free(&rs);
	mg_ruleset_free(&rs); /* NULL is fine */
}

static char *repeat(const char *head, const char *unit, size_t n, const char *tail)
{
	size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
	char *s = malloc(hl + ul * n + tl + 1);
	assert_non_null(s);
	memcpy(s, head, hl);
	for (size_t i = 0; i < n; i++)
		memcpy(s + hl + i * ul, unit, ul);
	memcpy(s + hl + n * ul, tail, tl + 1);
	return s;
}

static void test_limits(void **state)
{
	(void)state;
	struct mg_ruleset *rs;
	char msg[600];
	/* Line length: 65536 bytes pass, 65537 do not. */
	char *s = repeat("allow", " ", 65536 - 5, "");
	assert_int_equal(parse(s, strlen(s), &rs, msg, sizeof(msg)), 0);
	mg_ruleset_free(&rs);
	free(s);
	s = repeat("allow\nallow", " ", 65537 - 5, "\n");
	expect_error(s, strlen(s), -E2BIG, "t:2:65537: line longer than 65536 bytes");
	free(s);
	/* Strings: 16384 decoded bytes pass, one more does not. */
	s = repeat("allow serial \"", "a", 16384, "\"");
	assert_int_equal(parse(s, strlen(s), &rs, msg, sizeof(msg)), 0);
	mg_ruleset_free(&rs);
	free(s);
	s = repeat("allow serial \"", "a", 16385, "\"");
	expect_error(s, strlen(s), -E2BIG, "t:1:16399: string longer than 16384 bytes");
	free(s);
	/* Sets: 4096 values pass, 4097 do not. */
	s = repeat("allow via-port one-of {", " \"\"", 4096, " }");
	assert_int_equal(parse(s, strlen(s), &rs, msg, sizeof(msg)), 0);
	mg_ruleset_free(&rs);
	free(s);
	s = repeat("allow via-port one-of {", " \"\"", 4097, " }");
	expect_error(s, strlen(s), -E2BIG, "t:1:12313: more than 4096 values in one set");
	free(s);
}

static void test_too_many_rules(void **state)
{
	(void)state;
	struct mg_ruleset *rs;
	char msg[600];
	char *s = repeat("", "allow\n", 1000000, "");
	assert_int_equal(parse(s, strlen(s), &rs, msg, sizeof(msg)), 0);
	assert_int_equal(mg_ruleset_count(rs), 1000000);
	mg_ruleset_free(&rs);
	free(s);
	s = repeat("", "allow\n", 1000001, "");
	expect_error(s, strlen(s), -E2BIG, "t:1000001:1: more than 1000000 rules");
	free(s);
}

static void test_error_str_and_targets(void **state)
{
	(void)state;
	char buf[300];
	struct mg_rule_error e = {.file = "f.conf", .line = 3, .column = 9, .msg = "bad"};
	assert_string_equal(mg_rule_error_str(&e, buf, sizeof(buf)), "f.conf:3:9: bad");
	e.column = 0;
	assert_string_equal(mg_rule_error_str(&e, buf, sizeof(buf)), "f.conf:3: bad");
	e.line = 0;
	assert_string_equal(mg_rule_error_str(&e, buf, sizeof(buf)), "f.conf: bad");

	enum mg_target t;
	assert_int_equal(mg_target_from_name("allow", &t), 0);
	assert_int_equal(t, MG_TARGET_ALLOW);
	assert_int_equal(mg_target_from_name("reject", &t), 0);
	assert_int_equal(t, MG_TARGET_REJECT);
	assert_int_equal(mg_target_from_name("match", &t), -EINVAL);
	assert_int_equal(mg_target_from_name("Allow", &t), -EINVAL);
	assert_string_equal(mg_target_name(MG_TARGET_BLOCK), "block");

	/* Expiry accessor: 0 without, microseconds with. */
	struct mg_ruleset *rs;
	char msg[600];
	const char *text = "allow\nallow expires \"2026-12-31T17:00:00.25+09:00\"\n";
	assert_int_equal(parse(text, strlen(text), &rs, msg, sizeof(msg)), 0);
	assert_true(mg_rule_expires_us(mg_ruleset_rule(rs, 0)) == 0);
	assert_true(mg_rule_expires_us(mg_ruleset_rule(rs, 1)) == 1798704000250000);
	mg_ruleset_free(&rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_corpus_round_trip),
	    cmocka_unit_test(test_invalid_corpus),
	    cmocka_unit_test(test_if_rejected_in_file),
	    cmocka_unit_test(test_nul_and_utf8),
	    cmocka_unit_test(test_crlf_and_empty),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_too_many_rules),
	    cmocka_unit_test(test_error_str_and_targets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
