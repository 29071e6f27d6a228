/* sysfs writes that authorize, block or remove USB devices and interfaces. */
#include "enforce.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "device.h"

int mg_enforce_device(int devfd, enum mg_target target)
{
	switch (target) {
	case MG_TARGET_ALLOW:
		return mg_sysfs_write_attr(devfd, "authorized", "1");
	case MG_TARGET_BLOCK:
		return mg_sysfs_write_attr(devfd, "authorized", "0");
	case MG_TARGET_REJECT: {
		/* Deauthorize first, so the device is blocked even if remove fails. */
		int r = mg_sysfs_write_attr(devfd, "authorized", "0");
		int r2 = mg_sysfs_write_attr(devfd, "remove", "1");
		return r2 < 0 ? r2 : r;
	}
	}
	return -EINVAL;
}

int mg_enforce_interface(int ifacefd, bool allow)
{
	return mg_sysfs_write_attr(ifacefd, "authorized", allow ? "1" : "0");
}

int mg_enforce_probe(const char *iface_name)
{
	int dfd = open(MG_USB_BUS_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd < 0)
		return -errno;
	int r = mg_sysfs_write_attr(dfd, "drivers_probe", iface_name);
	close(dfd);
	return r;
}

int mg_enforce_root_hub(int hubfd, int device_default, int iface_default)
{
	int r = 0;
	if (device_default >= 0)
		r = mg_sysfs_write_attr(hubfd, "authorized_default", device_default ? "1" : "0");
	if (iface_default >= 0) {
		int r2 = mg_sysfs_write_attr(hubfd, "interface_authorized_default",
		                             iface_default ? "1" : "0");
		if (r == 0)
			r = r2;
	}
	return r;
}

int mg_read_authorized(int fd)
{
	char buf[8];
	size_t len;
	int r = mg_sysfs_read_attr(fd, "authorized", buf, sizeof(buf), &len);
	if (r < 0)
		return r;
	if (len == 1 && (buf[0] == '0' || buf[0] == '1'))
		return buf[0] - '0';
	return -EINVAL;
}
