/* Who owns the running code. */
#include "owner.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
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
	struct link_map *map = NULL;
	if (dladdr1((void *)(uintptr_t)mg_pam_owner_of_code, &info, (void **)&map,
	            RTLD_DL_LINKMAP) == 0 ||
	    !map || !map->l_name || map->l_name[0] == '\0') {
		/*
		 * The main program (mynaguard-enroll, mynaguard-auth-helper): glibc's dladdr names
		 * it by argv[0], which the caller chooses. The kernel's handle on the running image
		 * is exact (and still the same file if it was replaced since).
		 */
		int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		struct stat st;
		int rc = fstat(fd, &st) < 0 ? -errno : 0;
		close(fd);
		if (rc < 0)
			return rc;
		if (!S_ISREG(st.st_mode))
			return -EINVAL;
		*out = st.st_uid;
		return 0;
	}
	/* A shared object (pam_mynaguard.so): libpam loads it by its absolute path. */
	if (map->l_name[0] != '/')
		return -EINVAL;
	char real[PATH_MAX];
	if (!realpath(map->l_name, real))
		return -errno;
	return mg_pam_owner_of(real, out);
}
