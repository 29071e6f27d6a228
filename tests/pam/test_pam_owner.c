/*
 * Finding 10 (issue 13): the trusted owner of code linked into an executable comes from the
 * real executable (/proc/self/exe), never from argv[0], which the caller chooses.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "owner.h"

#define CHILD_ENV "MG_TEST_OWNER_CHILD"

/* In the re-executed child: the owner must be the executable's, whatever argv[0] says. */
static int child_main(void)
{
	struct stat st;
	if (stat("/proc/self/exe", &st) < 0)
		return 2;
	uid_t uid = (uid_t)-1;
	int rc = mg_pam_owner_of_code(&uid);
	if (rc < 0) {
		fprintf(stderr, "mg_pam_owner_of_code: %s\n", strerror(-rc));
		return 3;
	}
	if (uid != st.st_uid) {
		fprintf(stderr, "owner %u, executable owned by %u\n", (unsigned)uid,
		        (unsigned)st.st_uid);
		return 4;
	}
	return 0;
}

static int run_with_argv0(const char *argv0)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char arg0[256];
		snprintf(arg0, sizeof(arg0), "%s", argv0);
		char *const argv[] = {arg0, NULL};
		setenv(CHILD_ENV, "1", 1);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0)
		assert_int_equal(errno, EINTR);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* An absolute argv[0] naming a file that does not exist: today it fails (ENOENT). */
static void test_owner_ignores_missing_argv0(void **state)
{
	(void)state;
	assert_int_equal(run_with_argv0("/nonexistent-mynaguard-dir/mynaguard-auth-helper"), 0);
}

/* An absolute argv[0] naming a file owned by someone else must not change the owner. */
static void test_owner_ignores_foreign_argv0(void **state)
{
	(void)state;
	char dir[] = "/tmp/mg-owner-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[64];
	snprintf(path, sizeof(path), "%s/fake", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	struct stat exe;
	assert_int_equal(stat("/proc/self/exe", &exe), 0);
	/* Root can give the file away; otherwise a root-owned file serves. */
	const char *argv0 = path;
	if (geteuid() == 0) {
		uid_t other = exe.st_uid == 65534 ? 65533 : 65534;
		assert_int_equal(chown(path, other, other), 0);
	} else if (exe.st_uid != 0) {
		argv0 = "/etc/passwd";
	}
	int rc = run_with_argv0(argv0);
	unlink(path);
	rmdir(dir);
	assert_int_equal(rc, 0);
}

int main(void)
{
	if (getenv(CHILD_ENV))
		return child_main();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_owner_ignores_missing_argv0),
	    cmocka_unit_test(test_owner_ignores_foreign_argv0),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
