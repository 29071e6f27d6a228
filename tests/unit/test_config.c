/* Strict key = value configuration reader. */
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

#include "mg/config.h"

struct sample {
	char *name;
	char *state_dir;
	uint64_t deny_after;
	uint64_t unlock_after;
	bool deny_remote;
	int mode;
	struct mg_strv block_interfaces;
};

static const char *const modes[] = {"enforce", "audit", NULL};

static int check_class(const char *text, char *msg, size_t len)
{
	/* three ':'-separated fields, as in cc:ss:pp or cc:*:* */
	const char *c1 = strchr(text, ':');
	const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (!c2 || strchr(c2 + 1, ':')) {
		snprintf(msg, len, "expected cc:ss:pp");
		return -EINVAL;
	}
	return 0;
}

static const struct mg_config_key keys[] = {
    {.name = "name", .type = MG_CFG_STRING, .offset = offsetof(struct sample, name)},
    {.name = "state_dir",
     .type = MG_CFG_PATH,
     .offset = offsetof(struct sample, state_dir),
     .def = "/var/lib/mynaguard"},
    {.name = "deny_after",
     .type = MG_CFG_UINT,
     .offset = offsetof(struct sample, deny_after),
     .def = "5",
     .min = 1,
     .max = 100},
    {.name = "unlock_after",
     .type = MG_CFG_DURATION,
     .offset = offsetof(struct sample, unlock_after),
     .def = "15m",
     .min = 1,
     .max = 86400},
    {.name = "deny_remote",
     .type = MG_CFG_BOOL,
     .offset = offsetof(struct sample, deny_remote),
     .def = "yes"},
    {.name = "mode",
     .type = MG_CFG_ENUM,
     .offset = offsetof(struct sample, mode),
     .def = "enforce",
     .choices = modes},
    {.name = "block_interfaces",
     .type = MG_CFG_LIST,
     .offset = offsetof(struct sample, block_interfaces),
     .def = "08:*:*, 06:*:*",
     .check = check_class},
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static int parse(const char *text, struct sample *s, struct mg_config_error *err)
{
	memset(s, 0, sizeof(*s));
	memset(err, 0, sizeof(*err));
	int r = mg_config_init(keys, NKEYS, s, err);
	assert_int_equal(r, 0);
	return mg_config_parse("test.conf", text, strlen(text), keys, NKEYS, s, err);
}

static void test_defaults(void **state)
{
	(void)state;
	struct sample s;
	struct mg_config_error err;
	assert_int_equal(parse("", &s, &err), 0);
	assert_null(s.name);
	assert_string_equal(s.state_dir, "/var/lib/mynaguard");
	assert_int_equal(s.deny_after, 5);
	assert_int_equal(s.unlock_after, 900);
	assert_true(s.deny_remote);
	assert_int_equal(s.mode, 0);
	assert_int_equal(s.block_interfaces.n, 2);
	assert_string_equal(s.block_interfaces.v[1], "06:*:*");
	mg_config_free(keys, NKEYS, &s);
	assert_null(s.state_dir);
}

static void test_full_file(void **state)
{
	(void)state;
	struct sample s;
	struct mg_config_error err;
	const char *text = "# mynaguard test\r\n"
	                   "\n"
	                   "   name = 砂川市 端末 01   # trailing comment\n"
	                   "state_dir=/tmp/x#not-a-comment\n"
	                   "deny_after = 100\n"
	                   "unlock_after = 2h\n"
	                   "\tdeny_remote = off\n"
	                   "mode = audit\n"
	                   "block_interfaces = 02:*:*,e0:01:01   ff:*:*\n";
	assert_int_equal(parse(text, &s, &err), 0);
	assert_string_equal(s.name, "砂川市 端末 01");
	assert_string_equal(s.state_dir, "/tmp/x#not-a-comment");
	assert_int_equal(s.deny_after, 100);
	assert_int_equal(s.unlock_after, 7200);
	assert_false(s.deny_remote);
	assert_int_equal(s.mode, 1);
	assert_int_equal(s.block_interfaces.n, 3);
	assert_string_equal(s.block_interfaces.v[0], "02:*:*");
	assert_string_equal(s.block_interfaces.v[1], "e0:01:01");
	assert_string_equal(s.block_interfaces.v[2], "ff:*:*");
	mg_config_free(keys, NKEYS, &s);
}

static void test_empty_list_clears_default(void **state)
{
	(void)state;
	struct sample s;
	struct mg_config_error err;
	assert_int_equal(parse("block_interfaces =\n", &s, &err), 0);
	assert_int_equal(s.block_interfaces.n, 0);
	mg_config_free(keys, NKEYS, &s);
}

struct bad_case {
	const char *text;
	unsigned line;
	const char *msg;
};

static void test_errors_name_line(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
	    {"mode = audit\ncolour = blue\n", 2, "unknown key 'colour'"},
	    {"deny_after = 3\n\n# c\ndeny_after = 4\n", 4,
	     "duplicate key 'deny_after' (first set on line 1)"},
	    {"deny_after = 0\n", 1, "out of range [1, 100]"},
	    {"deny_after = 101\n", 1, "out of range [1, 100]"},
	    {"\n\ndeny_after = -1\n", 3, "must be a decimal number"},
	    {"deny_after = 5x\n", 1, "must be a decimal number"},
	    {"deny_after = 007\n", 1, "must be a decimal number"},
	    {"deny_after = 99999999999999999999999\n", 1, "out of range"},
	    {"deny_after =\n", 1, "empty value for 'deny_after'"},
	    {"unlock_after = 2w\n", 1, "must be a duration"},
	    {"unlock_after = 2d\n", 1, "out of range [1, 86400] seconds"},
	    {"deny_remote = maybe\n", 1, "must be yes or no"},
	    {"mode = enforcing\n", 1, "must be one of enforce, audit, got 'enforcing'"},
	    {"state_dir = var/lib\n", 1, "must be an absolute path"},
	    {"block_interfaces = 08:06\n", 1, "bad item '08:06' in 'block_interfaces'"},
	    {"name\n", 1, "expected '=' after 'name'"},
	    {"= value\n", 1, "expected 'key = value'"},
	    {"Name = x\n", 1, "expected 'key = value'"},
	    {"name = a\x01"
	     "b\n",
	     1, "control character"},
	    {"mode = audit\nname = \xff\xfe\n", 2, "invalid UTF-8"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sample s;
		struct mg_config_error err;
		int r = parse(cases[i].text, &s, &err);
		if (r != -EINVAL || err.line != cases[i].line || !strstr(err.msg, cases[i].msg)) {
			print_error("case %zu: r=%d line=%u msg='%s'\n", i, r, err.line, err.msg);
			fail();
		}
		assert_string_equal(err.file, "test.conf");
		mg_config_free(keys, NKEYS, &s);
	}
}

static void test_nul_and_long_lines(void **state)
{
	(void)state;
	struct sample s;
	struct mg_config_error err;
	memset(&s, 0, sizeof(s));
	assert_int_equal(mg_config_init(keys, NKEYS, &s, &err), 0);
	static const char with_nul[] = "mode = audit\n\nname = a\0b\n";
	assert_int_equal(
	    mg_config_parse("n.conf", with_nul, sizeof(with_nul) - 1, keys, NKEYS, &s, &err),
	    -EINVAL);
	assert_int_equal(err.line, 3);
	assert_non_null(strstr(err.msg, "NUL"));

	size_t big = 5000;
	char *text = malloc(big + 16);
	assert_non_null(text);
	memcpy(text, "name = ", 7);
	memset(text + 7, 'a', big);
	text[7 + big] = '\0';
	assert_int_equal(mg_config_parse("n.conf", text, strlen(text), keys, NKEYS, &s, &err),
	                 -EINVAL);
	assert_int_equal(err.line, 1);
	assert_non_null(strstr(err.msg, "longer than"));
	free(text);
	mg_config_free(keys, NKEYS, &s);
}

static void test_error_string(void **state)
{
	(void)state;
	struct sample s;
	struct mg_config_error err;
	char buf[600];
	assert_int_equal(parse("\nbogus = 1\n", &s, &err), -EINVAL);
	assert_string_equal(mg_config_error_str(&err, buf, sizeof(buf)),
	                    "test.conf:2: unknown key 'bogus'");
	mg_config_free(keys, NKEYS, &s);
}

static void test_required_key(void **state)
{
	(void)state;
	static const struct mg_config_key req[] = {
	    {.name = "rp_id",
	     .type = MG_CFG_STRING,
	     .offset = offsetof(struct sample, name),
	     .required = true},
	};
	struct sample s;
	struct mg_config_error err;
	memset(&s, 0, sizeof(s));
	assert_int_equal(mg_config_parse("r.conf", "", 0, req, 1, &s, &err), -EINVAL);
	assert_int_equal(err.line, 0);
	assert_non_null(strstr(err.msg, "missing required key 'rp_id'"));
	assert_int_equal(mg_config_parse("r.conf", "rp_id = x\n", 10, req, 1, &s, &err), 0);
	assert_string_equal(s.name, "x");
	mg_config_free(req, 1, &s);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void test_load_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/mg-config-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof(path), "%s/agent.conf", dir);
	struct mg_file_rules rules = {.owner = geteuid()};
	struct sample s;
	struct mg_config_error err;

	write_file(path, "mode = audit\n", 0644);
	memset(&s, 0, sizeof(s));
	assert_int_equal(mg_config_load(path, &rules, keys, NKEYS, &s, &err), 0);
	assert_int_equal(s.mode, 1);
	assert_int_equal(s.deny_after, 5); /* default still applied */
	mg_config_free(keys, NKEYS, &s);

	/* Group-writable: refused, with the reason and the file named. */
	write_file(path, "mode = audit\n", 0664);
	memset(&s, 0, sizeof(s));
	assert_int_equal(mg_config_load(path, &rules, keys, NKEYS, &s, &err), -EPERM);
	assert_string_equal(err.file, path);
	assert_non_null(strstr(err.msg, "writable by its group"));
	mg_config_free(keys, NKEYS, &s);

	/* A syntax error in a file names its path and line. */
	write_file(path, "mode = audit\nmode = enforce\n", 0600);
	memset(&s, 0, sizeof(s));
	assert_int_equal(mg_config_load(path, &rules, keys, NKEYS, &s, &err), -EINVAL);
	assert_string_equal(err.file, path);
	assert_int_equal(err.line, 2);
	mg_config_free(keys, NKEYS, &s);

	unlink(path);
	rmdir(dir);
}

static void test_parse_u64(void **state)
{
	(void)state;
	uint64_t v = 7;
	assert_int_equal(mg_parse_u64("0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(mg_parse_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(mg_parse_u64("18446744073709551616", 0, UINT64_MAX, &v), -ERANGE);
	assert_int_equal(mg_parse_u64("11", 0, 10, &v), -ERANGE);
	assert_int_equal(mg_parse_u64("+1", 0, 10, &v), -EINVAL);
	assert_int_equal(mg_parse_u64(" 1", 0, 10, &v), -EINVAL);
	assert_int_equal(mg_parse_u64("", 0, 10, &v), -EINVAL);
	assert_true(v == UINT64_MAX); /* unchanged by failures */
}

static void test_strv(void **state)
{
	(void)state;
	struct mg_strv a = {NULL, 0}, b = {NULL, 0};
	assert_int_equal(mg_strv_add(&a, "08:*:*"), 0);
	assert_int_equal(mg_strv_addn(&a, "06:01:01 trailing", 8), 0);
	assert_int_equal(a.n, 2);
	assert_string_equal(a.v[1], "06:01:01");
	assert_int_equal(mg_strv_add(&b, "old"), 0);
	assert_int_equal(mg_strv_copy(&b, &a), 0);
	assert_int_equal(b.n, 2);
	assert_true(b.v[0] != a.v[0]); /* copies, not shared */
	assert_true(mg_strv_contains(&b, "06:01:01"));
	assert_false(mg_strv_contains(&b, "old"));
	mg_strv_free(&a);
	assert_int_equal(mg_strv_copy(&b, &a), 0); /* copying an empty list empties dst */
	assert_int_equal(b.n, 0);
	assert_null(b.v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_full_file),
	    cmocka_unit_test(test_empty_list_clears_default),
	    cmocka_unit_test(test_errors_name_line),
	    cmocka_unit_test(test_nul_and_long_lines),
	    cmocka_unit_test(test_error_string),
	    cmocka_unit_test(test_required_key),
	    cmocka_unit_test(test_load_file),
	    cmocka_unit_test(test_parse_u64),
	    cmocka_unit_test(test_strv),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
