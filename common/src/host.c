/* Identity of this machine and boot: host name and the kernel's boot id. */
#include "mg/host.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#define BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"

int mg_uuid_valid(const char *s)
{
	if (!s)
		return 0;
	for (size_t i = 0; i < 36; i++) {
		const char c = s[i]; /* a NUL fails below, so s is never read past its end */
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return 0;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			return 0;
		}
	}
	return s[36] == '\0';
}

int mg_boot_id(char out[37])
{
	char buf[64];
	size_t len = 0;
	int r;
	int fd = open(BOOT_ID_PATH, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	while (len < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (!mg_uuid_valid(buf)) {
		r = -EBADMSG;
		goto fail;
	}
	memcpy(out, buf, 37);
	r = 0;
fail:
	close(fd);
	return r;
}

int mg_hostname(char *out, size_t len)
{
	struct utsname u;
	if (!out || len == 0)
		return -EINVAL;
	if (uname(&u) < 0)
		return -errno;
	const size_t n = strnlen(u.nodename, sizeof(u.nodename));
	if (n == 0 || n == sizeof(u.nodename))
		return -EBADMSG;
	if (n >= len)
		return -ERANGE;
	memcpy(out, u.nodename, n + 1);
	return 0;
}
