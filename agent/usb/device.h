/*
 * The agent's model of one USB device, as read from sysfs and its descriptors. This is
 * what rules match against and what list-devices and events report.
 */
#ifndef MG_DEVICE_H
#define MG_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "usb_desc.h"

struct mg_device {
	char *syspath; /* DEVPATH below /sys: "/devices/pci0000:00/0000:00:14.0/usb1/1-2" */
	char *port;    /* sysfs name: "1-2", or "usb1" for a root hub */
	char *name;    /* `product` attribute (trailing \n, \r, \t, \b, \0 trimmed); "" if none */
	char *serial;  /* `serial`; "" if none */
	char vendor_id[5]; /* "0781": from `idVendor`, lower-case hex */
	char product_id[5];
	uint16_t vendor, product;
	char *connect_type;      /* `port/connect_type`: "hotplug", "hardwired", ...; "" if none */
	char *hash;              /* USBGuard-compatible base64 SHA-256 (usb_hash.h) */
	char *parent_hash;       /* hash of the parent USB device, or of the parent's DEVPATH for a
	                            root hub (as USBGuard does) */
	struct mg_usb_desc desc; /* parsed `descriptors`; desc.ifaces gives with-interface */
	bool root_hub;           /* the port name starts with "usb" */
};

/* Attribute values longer than this are refused (sysfs strings are at most a page). */
#define MG_DEVICE_ATTR_MAX 4096

/*
 * Reads the USB device whose sysfs directory is open as dirfd (O_PATH|O_DIRECTORY) and whose
 * DEVPATH is devpath. parent_hash is the hash of the parent USB device, or NULL when the
 * parent is not a USB device (a root hub: then the hash of the parent's DEVPATH is used, as
 * USBGuard does). *out is allocated; free with mg_device_free(). Returns 0, or -EINVAL with
 * errmsg naming the attribute and what was wrong (missing idVendor, malformed descriptors,
 * ...), or another negative errno from the file system.
 */
int mg_device_read(int dirfd, const char *devpath, const char *parent_hash, struct mg_device **out,
                   char *errmsg, size_t errlen);

void mg_device_free(struct mg_device **dev);

/* Reads the attribute name below dirfd into buf (NUL-terminated, trailing \n \r \t \b \0
 * trimmed as USBGuard does). At most MG_DEVICE_ATTR_MAX bytes; -ENOENT when absent. */
int mg_sysfs_read_attr(int dirfd, const char *name, char *buf, size_t len, size_t *outlen);

/* Writes value to the attribute name below dirfd (one write(2)). 0 or negative errno. */
int mg_sysfs_write_attr(int dirfd, const char *name, const char *value);

/* The DEVPATH of the parent directory of devpath ("/devices/a/b" -> "/devices/a"). */
int mg_devpath_parent(const char *devpath, char *buf, size_t len);

#endif
