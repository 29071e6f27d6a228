/*
 * The admin API's rule, request and policy body parsers (server/admin/api_admin_body_rules.c):
 * accepted forms, defaults, and refusals that name the field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_admin_body_rules.h"
#include "api_body.h"

#define T_JST INT64_C(1796050800000000) /* 2026-12-01T00:00:00+09:00 */

static void rule_bad(const char *body, const char *want)
{
	struct mg_admin_rule_req r;
	char err[256] = "";
	assert_int_equal(mg_admin_parse_rule(body, strlen(body), &r, err, sizeof(err)), -EINVAL);
	if (!strstr(err, want))
		fail_msg("%s: got \"%s\", want \"%s\"", body, err, want);
}

static void test_rule(void **state)
{
	struct mg_admin_rule_req r;
	char err[256];
	const char *full = "{\"rule\":\"allow id 0781:5581\",\"host_id\":3,"
	                   "\"expires_at\":\"2026-12-01T00:00:00+09:00\",\"comment\":\"scanner\"}";
	(void)state;
	assert_int_equal(mg_admin_parse_rule(full, strlen(full), &r, err, sizeof(err)), 0);
	assert_string_equal(r.rule, "allow id 0781:5581");
	assert_int_equal(r.host_id, 3);
	assert_int_equal(r.expires_us, T_JST);
	assert_string_equal(r.comment, "scanner");

	const char *min =
	    "{\"rule\":\"allow\",\"host_id\":null,\"expires_at\":null,\"comment\":null}";
	assert_int_equal(mg_admin_parse_rule(min, strlen(min), &r, err, sizeof(err)), 0);
	assert_int_equal(r.host_id, 0);
	assert_int_equal(r.expires_us, 0);
	assert_string_equal(r.comment, "");

	rule_bad("", "invalid JSON");
	rule_bad("[]", "expected a JSON object");
	rule_bad("{}", "rule: missing");
	rule_bad("{\"rule\":\"\"}", "rule: must be 1 to 4095 bytes");
	rule_bad("{\"rule\":5}", "rule: expected a string");
	rule_bad("{\"rule\":\"allow\",\"rule\":\"block\"}", "invalid JSON");
	rule_bad("{\"rule\":\"allow\",\"hostid\":1}", "hostid: unknown key");
	rule_bad("{\"rule\":\"allow\",\"\xe3\x81\x82\":1}", "(a key): unknown key");
	rule_bad("{\"rule\":\"allow\",\"host_id\":-1}", "host_id: ");
	rule_bad("{\"rule\":\"allow\",\"host_id\":1.5}", "host_id: ");
	rule_bad("{\"rule\":\"allow\",\"host_id\":\"1\"}", "host_id: ");
	rule_bad("{\"rule\":\"allow\",\"host_id\":9007199254740992}", "host_id: ");
	rule_bad("{\"rule\":\"allow\",\"expires_at\":\"tomorrow\"}", "expires_at: ");
	rule_bad("{\"rule\":\"allow\",\"expires_at\":1796137200}", "expires_at: ");
	rule_bad("{\"rule\":\"allow\",\"comment\":7}", "comment: expected a string");
	rule_bad("{\"rule\":\"allow \xff\"}", "invalid JSON");
	rule_bad("{\"rule\":\"allow\\u0000\"}", "invalid JSON");
	{
		/* 1024-byte comment: one too many. */
		char body[1200];
		int n = snprintf(body, sizeof(body), "{\"rule\":\"allow\",\"comment\":\"");
		memset(body + n, 'c', 1024);
		snprintf(body + n + 1024, sizeof(body) - (size_t)n - 1024, "\"}");
		rule_bad(body, "comment: must be 0 to 1023 bytes");
	}
	{
		char *big = calloc(1, MG_API_MAX_BODY + 2);
		assert_non_null(big);
		memset(big, ' ', MG_API_MAX_BODY + 1);
		assert_int_equal(
		    mg_admin_parse_rule(big, MG_API_MAX_BODY + 1, &r, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "body larger than"));
		free(big);
	}
}

static void test_approve_deny_publish(void **state)
{
	struct mg_admin_approve_req a;
	struct mg_admin_deny_req d;
	char err[256];
	const char *body;
	(void)state;

	/* Empty bodies take the defaults: this host only, never expires. */
	assert_int_equal(mg_admin_parse_approve(NULL, 0, &a, err, sizeof(err)), 0);
	assert_false(a.all_hosts);
	assert_int_equal(a.expires_us, 0);
	assert_string_equal(a.note, "");
	body = "{\"scope\":\"all\",\"expires_at\":\"2026-12-01T00:00:00+09:00\",\"note\":\"ok\"}";
	assert_int_equal(mg_admin_parse_approve(body, strlen(body), &a, err, sizeof(err)), 0);
	assert_true(a.all_hosts);
	assert_int_equal(a.expires_us, T_JST);
	assert_string_equal(a.note, "ok");
	body = "{\"scope\":\"host\"}";
	assert_int_equal(mg_admin_parse_approve(body, strlen(body), &a, err, sizeof(err)), 0);
	assert_false(a.all_hosts);
	body = "{\"scope\":\"everyone\"}";
	assert_int_equal(mg_admin_parse_approve(body, strlen(body), &a, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "scope: "));
	body = "{\"scope\":true}";
	assert_int_equal(mg_admin_parse_approve(body, strlen(body), &a, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "scope: "));
	body = "{\"scope\":\"\"}";
	assert_int_equal(mg_admin_parse_approve(body, strlen(body), &a, err, sizeof(err)), -EINVAL);
	body = "{\"rule\":\"allow\"}";
	assert_int_equal(mg_admin_parse_approve(body, strlen(body), &a, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "rule: unknown key"));

	assert_int_equal(mg_admin_parse_deny("", 0, &d, err, sizeof(err)), 0);
	assert_string_equal(d.note, "");
	body = "{\"note\":\"\xe7\xa7\x81\xe7\x89\xa9\"}";
	assert_int_equal(mg_admin_parse_deny(body, strlen(body), &d, err, sizeof(err)), 0);
	assert_string_equal(d.note, "\xe7\xa7\x81\xe7\x89\xa9");
	body = "{\"note\":[]}";
	assert_int_equal(mg_admin_parse_deny(body, strlen(body), &d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "note: expected a string"));

	assert_int_equal(mg_admin_parse_publish(NULL, 0, err, sizeof(err)), 0);
	assert_int_equal(mg_admin_parse_publish("{}", 2, err, sizeof(err)), 0);
	assert_int_equal(mg_admin_parse_publish("{\"version\":9}", 13, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "version: unknown key"));
	assert_int_equal(mg_admin_parse_publish("null", 4, err, sizeof(err)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rule),
	    cmocka_unit_test(test_approve_deny_publish),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
