/* libudev adapter: monitor and enumeration of USB devices. */
#include "monitor.h"

#include <errno.h>
#include <libudev.h>
#include <stdlib.h>
#include <string.h>

#include "usb_scan.h"

struct mg_monitor {
	struct udev *udev;
	struct udev_monitor *mon;
};

int mg_monitor_new(bool kernel_source, struct mg_monitor **out)
{
	struct mg_monitor *m = calloc(1, sizeof(*m));
	int r = -ENOMEM;
	if (!m)
		return r;
	m->udev = udev_new();
	if (!m->udev)
		goto fail;
	m->mon = udev_monitor_new_from_netlink(m->udev, kernel_source ? "kernel" : "udev");
	r = -EIO;
	if (!m->mon)
		goto fail;
	if ((r = udev_monitor_filter_add_match_subsystem_devtype(m->mon, "usb", NULL)) < 0)
		goto fail;
	/* A large buffer absorbs bursts (a hub with many devices); overflow is detected. */
	(void)udev_monitor_set_receive_buffer_size(m->mon, 8 * 1024 * 1024);
	if ((r = udev_monitor_enable_receiving(m->mon)) < 0)
		goto fail;
	*out = m;
	return 0;
fail:
	mg_monitor_free(&m);
	return r < 0 ? r : -EIO;
}

void mg_monitor_free(struct mg_monitor **pm)
{
	struct mg_monitor *m = *pm;
	if (!m)
		return;
	if (m->mon)
		udev_monitor_unref(m->mon);
	if (m->udev)
		udev_unref(m->udev);
	free(m);
	*pm = NULL;
}

int mg_monitor_fd(const struct mg_monitor *m)
{
	return udev_monitor_get_fd(m->mon);
}

int mg_monitor_receive(struct mg_monitor *m, struct mg_uevent *ev, char *errmsg, size_t errlen)
{
	errno = 0;
	struct udev_device *d = udev_monitor_receive_device(m->mon);
	if (!d) {
		if (errno == ENOBUFS)
			return -ENOBUFS;
		return 0; /* EAGAIN, or a message libudev dropped (wrong sender, filtered) */
	}
	int r = mg_uevent_from_fields(udev_device_get_action(d), udev_device_get_devpath(d),
	                              udev_device_get_subsystem(d), udev_device_get_devtype(d), ev,
	                              errmsg, errlen);
	udev_device_unref(d);
	return r < 0 ? r : 1;
}

int mg_monitor_enumerate(struct mg_monitor *m, int (*cb)(void *ctx, const char *devpath), void *ctx)
{
	(void)m;
	/* A readdir of /sys/bus/usb/devices (usb_scan.h): libudev's enumeration read the udev
	 * database and each uevent file again per device, most of the start-up time. */
	int r = mg_usb_scan("/sys", cb, ctx);
	return r == -ENOENT ? 0 : r; /* no USB bus at all: nothing present */
}
