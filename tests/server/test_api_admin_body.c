/* The admin API's body parsers (server/admin/api_admin_body.c) on hand-written bodies. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api_admin_body.h"
#include "api_body.h"

static char g_err[256];

#define ERR_HAS(s)                                                                                 \
	do {                                                                                       \
		if (!strstr(g_err, (s)))                                                           \
			fail_msg("error \"%s\" does not contain \"%s\"", g_err, (s));              \
	} while (0)

static int login(const char *body, struct mg_admin_login_req *r)
{
	memset(g_err, 'x', sizeof(g_err));
	int ret = mg_admin_parse_login(body, strlen(body), r, g_err, sizeof(g_err));
	if (ret < 0) /* the error is always terminated */
		assert_non_null(memchr(g_err, '\0', sizeof(g_err)));
	return ret;
}

static void test_login(void **state)
{
	struct mg_admin_login_req r;
	(void)state;
	assert_int_equal(login("{\"name\":\"root-admin\",\"password\":\"p\\u00e9 w\"}", &r), 0);
	assert_string_equal(r.name, "root-admin");
	assert_string_equal(r.password, "p\xc3\xa9 w");
	/* any UTF-8 name parses (an unknown name fails at login, like a wrong password) */
	assert_int_equal(login("{\"name\":\"a b\",\"password\":\"x\"}", &r), 0);

	assert_int_equal(login("{\"name\":\"a\"}", &r), -EINVAL);
	ERR_HAS("password: missing");
	assert_int_equal(login("{\"password\":\"a\"}", &r), -EINVAL);
	ERR_HAS("name: missing");
	assert_int_equal(login("{\"name\":\"\",\"password\":\"x\"}", &r), -EINVAL);
	ERR_HAS("name: must be 1 to 63 bytes");
	assert_int_equal(
	    login("{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	          "aaa\",\"password\":\"x\"}",
	          &r),
	    -EINVAL);
	ERR_HAS("name");
	assert_int_equal(login("{\"name\":true,\"password\":\"x\"}", &r), -EINVAL);
	ERR_HAS("name: expected a string");
	assert_int_equal(login("{\"name\":\"a\",\"password\":\"x\",\"otp\":\"1\"}", &r), -EINVAL);
	ERR_HAS("otp: unknown key");
	assert_int_equal(login("{\"name\":\"a\",\"password\":\"x\",\"\\u0001\":1}", &r), -EINVAL);
	ERR_HAS("unknown key");
	assert_int_equal(login("{\"name\":\"a\",\"password\":\"x\",\"name\":\"b\"}", &r), -EINVAL);
	ERR_HAS("invalid JSON");
	assert_int_equal(login("{\"name\":\"a\",\"password\":\"x\\u0000y\"}", &r), -EINVAL);
	assert_int_equal(login("{\"name\":\"\xff\",\"password\":\"x\"}", &r), -EINVAL);
	ERR_HAS("invalid JSON");
	assert_int_equal(login("{\"name\":\"a\",\"password\":", &r), -EINVAL);
	assert_int_equal(login("[]", &r), -EINVAL);
	ERR_HAS("expected a JSON object");
	assert_int_equal(login("", &r), -EINVAL);
	/* the error never quotes the body (it may hold a password) */
	assert_int_equal(login("{\"name\":\"a\",\"password\":\"secret1234\" junk}", &r), -EINVAL);
	assert_null(strstr(g_err, "secret"));
	/* a password over the limit */
	{
		size_t n = MG_ADMIN_PASSWORD_MAX + 1;
		char *b = malloc(n + 64);
		assert_non_null(b);
		strcpy(b, "{\"name\":\"a\",\"password\":\"");
		memset(b + strlen(b), 'p', n);
		strcpy(b + 24 + n, "\"}");
		assert_int_equal(login(b, &r), -EINVAL);
		ERR_HAS("password: must be 1 to 1024 bytes");
		b[24 + n - 1] = '"';
		b[24 + n] = '}';
		b[24 + n + 1] = '\0';
		assert_int_equal(login(b, &r), 0);
		assert_int_equal(strlen(r.password), MG_ADMIN_PASSWORD_MAX);
		free(b);
	}
}

static void test_password(void **state)
{
	struct mg_admin_password_req r;
	const char *ok = "{\"old_password\":\"old one\",\"new_password\":\"new one\"}";
	(void)state;
	assert_int_equal(mg_admin_parse_password(ok, strlen(ok), &r, g_err, sizeof(g_err)), 0);
	assert_string_equal(r.old_password, "old one");
	assert_string_equal(r.new_password, "new one");
	assert_int_equal(
	    mg_admin_parse_password("{\"old_password\":\"a\"}", 20, &r, g_err, sizeof(g_err)),
	    -EINVAL);
	ERR_HAS("new_password: missing");
	assert_int_equal(mg_admin_parse_password("{\"old_password\":\"a\",\"new_password\":[]}", 38,
	                                         &r, g_err, sizeof(g_err)),
	                 -EINVAL);
	ERR_HAS("new_password: expected a string");
}

static int admin_new(const char *body, struct mg_admin_new_req *r)
{
	return mg_admin_parse_admin_new(body, strlen(body), r, g_err, sizeof(g_err));
}

static void test_admin_new(void **state)
{
	struct mg_admin_new_req r;
	(void)state;
	assert_int_equal(admin_new("{\"name\":\"k.tanaka@city-01_x\",\"password\":\"pw\",\"role\":"
	                           "\"approver\"}",
	                           &r),
	                 0);
	assert_string_equal(r.name, "k.tanaka@city-01_x");
	assert_int_equal(r.role, MG_ROLE_APPROVER);
	assert_int_equal(admin_new("{\"name\":\"a\",\"password\":\"pw\",\"role\":\"auditor\"}", &r),
	                 0);
	assert_int_equal(r.role, MG_ROLE_AUDITOR);
	assert_int_equal(admin_new("{\"name\":\"a\",\"password\":\"pw\",\"role\":\"admin\"}", &r),
	                 0);
	assert_int_equal(r.role, MG_ROLE_ADMIN);

	assert_int_equal(admin_new("{\"name\":\"a/b\",\"password\":\"pw\",\"role\":\"admin\"}", &r),
	                 -EINVAL);
	ERR_HAS("name: use 1 to 63");
	assert_int_equal(
	    admin_new(
	        "{\"name\":\"\xe7\x94\xb0\xe4\xb8\xad\",\"password\":\"pw\",\"role\":\"admin\"}",
	        &r),
	    -EINVAL);
	ERR_HAS("name");
	assert_int_equal(admin_new("{\"name\":\"a\",\"password\":\"pw\",\"role\":\"Admin\"}", &r),
	                 -EINVAL);
	ERR_HAS("role: expected");
	assert_int_equal(admin_new("{\"name\":\"a\",\"password\":\"pw\",\"role\":\"\"}", &r),
	                 -EINVAL);
	ERR_HAS("role: expected");
	assert_int_equal(
	    admin_new("{\"name\":\"a\",\"password\":\"pw\",\"role\":\"administrator-of-"
	              "everything\"}",
	              &r),
	    -EINVAL);
	ERR_HAS("role: expected");
	assert_int_equal(admin_new("{\"name\":\"a\",\"password\":\"pw\",\"role\":1}", &r), -EINVAL);
	ERR_HAS("role");
	assert_int_equal(admin_new("{\"name\":\"a\",\"password\":\"pw\"}", &r), -EINVAL);
	ERR_HAS("role: missing");
	assert_int_equal(
	    admin_new("{\"name\":\"a\",\"password\":\"pw\",\"role\":\"admin\",\"id\":1}", &r),
	    -EINVAL);
	ERR_HAS("id: unknown key");
}

static int update(const char *body, struct mg_admin_update_req *r)
{
	return mg_admin_parse_admin_update(body, strlen(body), r, g_err, sizeof(g_err));
}

static void test_admin_update(void **state)
{
	struct mg_admin_update_req r;
	(void)state;
	assert_int_equal(update("{\"role\":\"auditor\"}", &r), 0);
	assert_true(r.has_role && !r.has_disabled && !r.has_password);
	assert_int_equal(r.role, MG_ROLE_AUDITOR);
	assert_int_equal(update("{\"disabled\":false}", &r), 0);
	assert_true(!r.has_role && r.has_disabled && !r.disabled && !r.has_password);
	assert_int_equal(
	    update("{\"disabled\":true,\"password\":\"new pw\",\"role\":\"admin\"}", &r), 0);
	assert_true(r.has_role && r.has_disabled && r.disabled && r.has_password);
	assert_string_equal(r.password, "new pw");

	assert_int_equal(update("{}", &r), -EINVAL);
	ERR_HAS("expected at least one of");
	assert_int_equal(update("{\"disabled\":1}", &r), -EINVAL);
	ERR_HAS("disabled: expected true or false");
	assert_int_equal(update("{\"disabled\":null}", &r), -EINVAL);
	ERR_HAS("disabled");
	assert_int_equal(update("{\"role\":null}", &r), -EINVAL);
	ERR_HAS("role");
	assert_int_equal(update("{\"password\":\"\"}", &r), -EINVAL);
	ERR_HAS("password: must be 1 to");
	assert_int_equal(update("{\"name\":\"x\"}", &r), -EINVAL);
	ERR_HAS("name: unknown key");
}

static int token(const char *body, struct mg_admin_token_req *r)
{
	return mg_admin_parse_token(body, strlen(body), r, g_err, sizeof(g_err));
}

static void test_token(void **state)
{
	struct mg_admin_token_req r;
	(void)state;
	assert_int_equal(token("", &r), 0);
	assert_int_equal(r.expires_in_s, 86400);
	assert_int_equal(r.uses, 1);
	assert_int_equal(token("{}", &r), 0);
	assert_int_equal(r.expires_in_s, 86400);
	assert_int_equal(r.uses, 1);
	assert_int_equal(token("{\"expires_in\":60,\"uses\":1000000}", &r), 0);
	assert_int_equal(r.expires_in_s, 60);
	assert_int_equal(r.uses, 1000000);
	assert_int_equal(token("{\"expires_in\":315360000}", &r), 0);
	assert_int_equal(r.expires_in_s, 315360000);

	assert_int_equal(token("{\"expires_in\":59}", &r), -EINVAL);
	ERR_HAS("expires_in: expected an integer from 60 to 315360000");
	assert_int_equal(token("{\"expires_in\":315360001}", &r), -EINVAL);
	assert_int_equal(token("{\"expires_in\":-1}", &r), -EINVAL);
	assert_int_equal(token("{\"uses\":0}", &r), -EINVAL);
	ERR_HAS("uses: expected an integer from 1 to 1000000");
	assert_int_equal(token("{\"uses\":1000001}", &r), -EINVAL);
	assert_int_equal(token("{\"uses\":2.0}", &r), -EINVAL);
	ERR_HAS("uses");
	assert_int_equal(token("{\"uses\":\"2\"}", &r), -EINVAL);
	assert_int_equal(token("{\"uses\":9223372036854775807}", &r), -EINVAL);
	assert_int_equal(token("{\"uses\":99999999999999999999999}", &r), -EINVAL);
	ERR_HAS("invalid JSON");
	assert_int_equal(token("{\"uses\":1,\"uses\":2}", &r), -EINVAL);
	assert_int_equal(token("{\"hosts\":1}", &r), -EINVAL);
	ERR_HAS("hosts: unknown key");
	assert_int_equal(token("null", &r), -EINVAL);
	assert_int_equal(token(" ", &r), -EINVAL);
	/* too large */
	{
		size_t n = MG_API_MAX_BODY + 1;
		char *b = malloc(n);
		assert_non_null(b);
		memset(b, ' ', n);
		b[0] = '{';
		b[n - 1] = '}';
		assert_int_equal(mg_admin_parse_token(b, n, &r, g_err, sizeof(g_err)), -EINVAL);
		ERR_HAS("larger than");
		free(b);
	}
}

static void test_name_ok(void **state)
{
	(void)state;
	assert_true(mg_admin_name_ok("a"));
	assert_true(mg_admin_name_ok("A.b_c@d-9"));
	assert_false(mg_admin_name_ok(""));
	assert_false(mg_admin_name_ok(NULL));
	assert_false(mg_admin_name_ok("a b"));
	assert_false(mg_admin_name_ok("a\n"));
	assert_true(mg_admin_name_ok(
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")); /* 63 */
	assert_false(mg_admin_name_ok(
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")); /* 64 */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_login),     cmocka_unit_test(test_password),
	    cmocka_unit_test(test_admin_new), cmocka_unit_test(test_admin_update),
	    cmocka_unit_test(test_token),     cmocka_unit_test(test_name_ok),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
