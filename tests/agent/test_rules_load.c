/*
 * Loading rules from the rules file and the rules directory: order, *.conf selection, safe
 * opening, all-or-nothing with file:line:column, and first match across files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mg/safe_open.h"
#include "rules.h"

/* "file:line" of a rule, for assertions and messages. */
static char srcbuf_[MG_RULE_SOURCE_MAX];

static char top[64];
static char rdir[128];
static char rfile[128];
static struct mg_file_rules frules;

static void rm_tree(const char *path)
{
	DIR *d = opendir(path);
	if (!d) {
		unlink(path);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char p[512];
		snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
		struct stat st;
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			rm_tree(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(path);
}

static int setup(void **state)
{
	(void)state;
	snprintf(top, sizeof(top), "/tmp/mg-rules-XXXXXX");
	if (!mkdtemp(top))
		return -1;
	snprintf(rdir, sizeof(rdir), "%s/rules.d", top);
	snprintf(rfile, sizeof(rfile), "%s/rules.conf", top);
	frules = (struct mg_file_rules){.owner = getuid()};
	return mkdir(rdir, 0755);
}

static int teardown(void **state)
{
	(void)state;
	rm_tree(top);
	return 0;
}

static void put(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void put_in_dir(const char *name, const char *text)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", rdir, name);
	put(p, text, 0644);
}

static int load(const char *file, const char *dir, struct mg_ruleset **rs, char *msg, size_t len)
{
	struct mg_rule_error err;
	memset(&err, 0, sizeof(err));
	*rs = NULL;
	int r = mg_ruleset_load(file, dir, &frules, rs, &err);
	if (r < 0) {
		assert_null(*rs);
		mg_rule_error_str(&err, msg, len);
	}
	return r;
}

static void test_order_and_selection(void **state)
{
	(void)state;
	put(rfile, "allow id 1050:0407 serial \"A\"\n", 0644);
	put_in_dir("20-b.conf", "# b\nallow id 1050:0407\n");
	put_in_dir("10-a.conf", "block id 1050:*\nreject via-port \"9-9\"\n");
	put_in_dir("README", "this is not a rule\n");
	put_in_dir("30-c.conf.disabled", "neither is this\n");
	put_in_dir(".hidden.conf", "nor this\n");
	put_in_dir("Z.CONF", "nor this: the suffix is case-sensitive\n");
	char sub[256];
	snprintf(sub, sizeof(sub), "%s/subdir", rdir);
	assert_int_equal(mkdir(sub, 0755), 0);

	struct mg_ruleset *rs;
	char msg[600];
	assert_int_equal(load(rfile, rdir, &rs, msg, sizeof(msg)), 0);
	assert_int_equal(mg_ruleset_count(rs), 4);
	char want[256];
	assert_string_equal(mg_rule_text(mg_ruleset_rule(rs, 0)),
	                    "allow id 1050:0407 serial \"A\"");
	snprintf(want, sizeof(want), "%s:1", rfile);
	assert_string_equal(mg_rule_source(mg_ruleset_rule(rs, 0), srcbuf_, sizeof(srcbuf_)), want);
	assert_string_equal(mg_rule_text(mg_ruleset_rule(rs, 1)), "block id 1050:*");
	snprintf(want, sizeof(want), "%s/10-a.conf:1", rdir);
	assert_string_equal(mg_rule_source(mg_ruleset_rule(rs, 1), srcbuf_, sizeof(srcbuf_)), want);
	assert_string_equal(mg_rule_text(mg_ruleset_rule(rs, 2)), "reject via-port \"9-9\"");
	snprintf(want, sizeof(want), "%s/20-b.conf:2", rdir);
	assert_string_equal(mg_rule_source(mg_ruleset_rule(rs, 3), srcbuf_, sizeof(srcbuf_)), want);

	/* First match across file and directory. */
	struct mg_device d;
	memset(&d, 0, sizeof(d));
	d.vendor = 0x1050;
	d.product = 0x0407;
	char serial[] = "A", port[] = "1-2";
	d.serial = serial;
	d.port = port;
	assert_ptr_equal(mg_ruleset_match(rs, &d, 0), mg_ruleset_rule(rs, 0));
	serial[0] = 'B';
	assert_ptr_equal(mg_ruleset_match(rs, &d, 0), mg_ruleset_rule(rs, 1));
	d.vendor = 0x1051;
	assert_null(mg_ruleset_match(rs, &d, 0));
	char port9[] = "9-9";
	d.port = port9;
	assert_ptr_equal(mg_ruleset_match(rs, &d, 0), mg_ruleset_rule(rs, 2));
	mg_ruleset_free(&rs);

	/* The directory alone, the file alone, neither. */
	assert_int_equal(load(NULL, rdir, &rs, msg, sizeof(msg)), 0);
	assert_int_equal(mg_ruleset_count(rs), 3);
	assert_string_equal(mg_rule_text(mg_ruleset_rule(rs, 0)), "block id 1050:*");
	mg_ruleset_free(&rs);
	assert_int_equal(load(rfile, NULL, &rs, msg, sizeof(msg)), 0);
	assert_int_equal(mg_ruleset_count(rs), 1);
	mg_ruleset_free(&rs);
	assert_int_equal(load(NULL, NULL, &rs, msg, sizeof(msg)), 0);
	assert_int_equal(mg_ruleset_count(rs), 0);
	mg_ruleset_free(&rs);
}

static void test_bad_file_rejects_all(void **state)
{
	(void)state;
	put(rfile, "allow\n", 0644);
	put_in_dir("10-a.conf", "allow id 1050:0407\n");
	put_in_dir("20-b.conf", "block\n\nallow id 1050:0407 if rule-applies\n");
	put_in_dir("30-c.conf", "allow\n");
	struct mg_ruleset *rs;
	char msg[600], want[600];
	assert_int_equal(load(rfile, rdir, &rs, msg, sizeof(msg)), -EINVAL);
	snprintf(want, sizeof(want),
	         "%s/20-b.conf:3:23: unknown condition 'rule-applies' (expected true, false, "
	         "localtime, allowed-matches, rule-applied, rule-evaluated or random)",
	         rdir);
	assert_string_equal(msg, want);

	/* An error in the rules file itself. */
	put(rfile, "allow\nallow id 1050:04070\n", 0644);
	assert_int_equal(load(rfile, NULL, &rs, msg, sizeof(msg)), -EINVAL);
	snprintf(want, sizeof(want),
	         "%s:2:10: invalid device id '1050:04070' (expected vvvv:pppp, vvvv:* or *:*)",
	         rfile);
	assert_string_equal(msg, want);
}

static void test_unsafe_files(void **state)
{
	(void)state;
	struct mg_ruleset *rs;
	char msg[600], p[256];
	put_in_dir("10-a.conf", "allow\n");

	/* A world-writable rules file. */
	put(rfile, "allow\n", 0666);
	assert_int_equal(load(rfile, rdir, &rs, msg, sizeof(msg)), -EPERM);
	assert_non_null(strstr(msg, rfile));
	put(rfile, "allow\n", 0644);

	/* A symlinked .conf in the directory. */
	snprintf(p, sizeof(p), "%s/20-link.conf", rdir);
	assert_int_equal(symlink(rfile, p), 0);
	assert_int_equal(load(rfile, rdir, &rs, msg, sizeof(msg)), -ELOOP);
	assert_non_null(strstr(msg, "20-link.conf"));
	unlink(p);

	/* A directory named like a rules file. */
	snprintf(p, sizeof(p), "%s/20-dir.conf", rdir);
	assert_int_equal(mkdir(p, 0755), 0);
	assert_int_equal(load(rfile, rdir, &rs, msg, sizeof(msg)), -EINVAL);
	rmdir(p);

	/* A group-writable directory; a missing one (holds no rules: only the file's);
	 * a file given as the directory. */
	assert_int_equal(chmod(rdir, 0775), 0);
	assert_int_equal(load(rfile, rdir, &rs, msg, sizeof(msg)), -EPERM);
	assert_int_equal(chmod(rdir, 0755), 0);
	snprintf(p, sizeof(p), "%s/missing.d", top);
	assert_int_equal(load(rfile, NULL, &rs, msg, sizeof(msg)), 0);
	size_t file_only = mg_ruleset_count(rs);
	mg_ruleset_free(&rs);
	assert_int_equal(load(rfile, p, &rs, msg, sizeof(msg)), 0);
	assert_int_equal(mg_ruleset_count(rs), file_only);
	mg_ruleset_free(&rs);
	assert_int_equal(load(rfile, rfile, &rs, msg, sizeof(msg)), -ENOTDIR);
	snprintf(p, sizeof(p), "%s/missing.conf", top);
	assert_int_equal(load(p, NULL, &rs, msg, sizeof(msg)), -ENOENT);

	/* Another owner is refused. */
	frules.owner = getuid() + 1;
	assert_int_equal(load(rfile, NULL, &rs, msg, sizeof(msg)), -EPERM);
	frules.owner = getuid();
	assert_int_equal(load(rfile, rdir, &rs, msg, sizeof(msg)), 0);
	assert_int_equal(mg_ruleset_count(rs), 2);
	mg_ruleset_free(&rs);
}

/* A file over safe_open's 1 MiB default loads: the rules loader raises it. */
static void test_large_file(void **state)
{
	(void)state;
	const size_t n = 100000;
	char *text = malloc(n * 40);
	assert_non_null(text);
	size_t len = 0;
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(text + len, "allow id %04zx:%04zx serial \"%zu\"\n", i >> 16,
		                       i & 0xffff, i);
	put(rfile, text, 0644);
	free(text);
	assert_true(len > 2 * 1024 * 1024);
	struct mg_ruleset *rs;
	char msg[600];
	assert_int_equal(load(rfile, NULL, &rs, msg, sizeof(msg)), 0);
	assert_int_equal(mg_ruleset_count(rs), n);
	mg_ruleset_free(&rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_order_and_selection, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_file_rejects_all, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unsafe_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_large_file, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
