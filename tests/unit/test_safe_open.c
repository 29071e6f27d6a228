/* Safe open of root-owned files and atomic replacement. */
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

static char dir[64];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/mg-safe-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			char p[512];
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	return rmdir(dir);
}

static void path_of(char *out, size_t len, const char *name)
{
	snprintf(out, len, "%s/%s", dir, name);
}

static void make(const char *name, const char *text, mode_t mode)
{
	char p[512];
	path_of(p, sizeof(p), name);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static int try_open(const char *name, const struct mg_file_rules *rules, const char **why)
{
	char p[512];
	path_of(p, sizeof(p), name);
	int fd = mg_safe_open(p, rules, why);
	if (fd >= 0)
		close(fd);
	return fd >= 0 ? 0 : fd;
}

static void test_accepts_good_file(void **state)
{
	(void)state;
	struct mg_file_rules rules = {.owner = geteuid()};
	const char *why = "x";
	make("good", "hello\n", 0644);
	assert_int_equal(try_open("good", &rules, &why), 0);
	assert_null(why);

	char p[512], *data = NULL;
	size_t len = 0;
	path_of(p, sizeof(p), "good");
	assert_int_equal(mg_safe_read_file(p, &rules, &data, &len, &why), 0);
	assert_int_equal(len, 6);
	assert_string_equal(data, "hello\n");
	free(data);
}

static void test_refuses_symlink(void **state)
{
	(void)state;
	struct mg_file_rules rules = {.owner = geteuid()};
	const char *why = NULL;
	char target[512], link[512];
	make("target", "x", 0644);
	path_of(target, sizeof(target), "target");
	path_of(link, sizeof(link), "link");
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(try_open("link", &rules, &why), -ELOOP);
	assert_string_equal(why, "a symbolic link");
}

static void test_refuses_non_regular(void **state)
{
	(void)state;
	struct mg_file_rules rules = {.owner = geteuid()};
	const char *why = NULL;
	char fifo[512];
	path_of(fifo, sizeof(fifo), "fifo");
	assert_int_equal(mkfifo(fifo, 0644), 0);
	/* Must not block waiting for a writer. */
	assert_int_equal(try_open("fifo", &rules, &why), -EINVAL);
	assert_string_equal(why, "not a regular file");
	assert_int_equal(mg_safe_open(dir, &rules, &why), -EINVAL);
}

static void test_refuses_loose_permissions(void **state)
{
	(void)state;
	struct mg_file_rules rules = {.owner = geteuid()};
	const char *why = NULL;
	make("world", "x", 0646);
	assert_int_equal(try_open("world", &rules, &why), -EPERM);
	assert_string_equal(why, "writable by others (world-writable)");
	make("group", "x", 0664);
	assert_int_equal(try_open("group", &rules, &why), -EPERM);
	assert_string_equal(why, "writable by its group");
	rules.allow_group_write = true;
	assert_int_equal(try_open("group", &rules, &why), 0);
}

static void test_refuses_wrong_owner(void **state)
{
	(void)state;
	/* The file is ours; demand another owner. */
	struct mg_file_rules rules = {.owner = geteuid() + 1};
	const char *why = NULL;
	make("owned", "x", 0644);
	assert_int_equal(try_open("owned", &rules, &why), -EPERM);
	assert_string_equal(why, "owned by the wrong user");
	rules.owner = MG_ANY_OWNER;
	assert_int_equal(try_open("owned", &rules, &why), 0);
}

static void test_secret_mode(void **state)
{
	(void)state;
	struct mg_file_rules rules = {.owner = geteuid(), .secret = true};
	const char *why = NULL;
	make("secret", "s", 0640);
	assert_int_equal(try_open("secret", &rules, &why), -EPERM);
	assert_non_null(strstr(why, "0600"));
	make("secret", "s", 0600);
	assert_int_equal(try_open("secret", &rules, &why), 0);
}

static void test_size_cap(void **state)
{
	(void)state;
	struct mg_file_rules rules = {.owner = geteuid(), .max_size = 10};
	const char *why = NULL;
	static char untouched[] = "untouched";
	char p[512], *data = untouched;
	size_t len = 99;
	make("big", "0123456789A", 0644);
	path_of(p, sizeof(p), "big");
	assert_int_equal(mg_safe_read_file(p, &rules, &data, &len, &why), -EFBIG);
	assert_string_equal(why, "too large");
	assert_string_equal(data, "untouched");
	assert_int_equal(len, 99);
	make("big", "0123456789", 0644);
	assert_int_equal(mg_safe_read_file(p, &rules, &data, &len, &why), 0);
	assert_int_equal(len, 10);
	free(data);
}

static void test_write_atomic(void **state)
{
	(void)state;
	char p[512];
	path_of(p, sizeof(p), "state.json");
	assert_int_equal(mg_write_file_atomic(p, "one", 3, 0600), 0);
	assert_int_equal(mg_write_file_atomic(p, "second", 6, 0600), 0);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 6);
	struct mg_file_rules rules = {.owner = geteuid(), .secret = true};
	char *data = NULL;
	size_t len = 0;
	assert_int_equal(mg_safe_read_file(p, &rules, &data, &len, NULL), 0);
	assert_string_equal(data, "second");
	free(data);
	/* No temporary file is left behind. */
	DIR *d = opendir(dir);
	struct dirent *e;
	int tmp = 0;
	while ((e = readdir(d)))
		tmp += strstr(e->d_name, ".tmp.") != NULL;
	closedir(d);
	assert_int_equal(tmp, 0);
	/* A missing directory is an error, not a crash. */
	assert_int_equal(mg_write_file_atomic("/nonexistent-mg/x", "a", 1, 0600), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_accepts_good_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuses_symlink, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuses_non_regular, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuses_loose_permissions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuses_wrong_owner, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_secret_mode, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_size_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_atomic, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
