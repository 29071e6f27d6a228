/* Who owns the running code. */
#include "owner.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int mg_pam_owner_of(const char *path, uid_t *out)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	*out = st.st_uid;
	return 0;
}

int mg_pam_owner_of_code(uid_t *out)
{
	Dl_info info;
	if (dladdr((void *)(uintptr_t)mg_pam_owner_of_code, &info) == 0 || !info.dli_fname ||
	    info.dli_fname[0] != '/') {
		/* An executable: dli_fname may be argv[0]; the kernel's link is exact. */
		char exe[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n <= 0)
			return -ENOENT;
		exe[n] = '\0';
		return mg_pam_owner_of(exe, out);
	}
	char real[PATH_MAX];
	if (!realpath(info.dli_fname, real))
		return -errno;
	return mg_pam_owner_of(real, out);
}
