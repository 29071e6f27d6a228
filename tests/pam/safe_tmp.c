/* Temporary directories that pass the module's directory checks. */
#include "safe_tmp.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safe_dir.h"

int t_safe_mkdtemp(char *buf, size_t len, const char *prefix)
{
	const char *base = getenv("MG_PAM_TEST_DIR");
	char why[320];
	if (!base || !base[0])
		base = geteuid() == 0 ? "/run" : getenv("HOME");
	int fd = base ? mg_pam_dir_open(base, geteuid(), why, sizeof(why)) : -1;
	if (fd < 0) {
		fprintf(stderr,
		        "no base directory for test state: %s; set MG_PAM_TEST_DIR to a directory "
		        "whose parents belong to root or you and are not group/world writable\n",
		        base ? why : "no HOME");
		return -1;
	}
	close(fd);
	if (snprintf(buf, len, "%s/%sXXXXXX", base, prefix) >= (int)len || !mkdtemp(buf) ||
	    chmod(buf, 0755) < 0) {
		perror("mkdtemp");
		return -1;
	}
	return 0;
}
