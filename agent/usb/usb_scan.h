/*
 * The USB devices present: a readdir of <sysfs>/bus/usb/devices, without libudev. Each entry
 * that is a device (not an interface "1-1:1.0") links to "../../../devices/..."; that tail is
 * its DEVPATH. Sorted by DEVPATH, so that a parent always comes before its children (a
 * parent's DEVPATH is a prefix of its children's). libudev's enumeration read the udev
 * database and every uevent file again per device: most of the agent's start-up time.
 */
#ifndef MG_USB_SCAN_H
#define MG_USB_SCAN_H

/* At most this many devices are listed (127 per bus; far more than any machine has). */
#define MG_USB_SCAN_MAX 8192

/*
 * Calls cb(ctx, devpath) for every USB device below sysfs_root ("/sys"), parents first.
 * Entries whose link is not a valid DEVPATH are skipped. Returns 0, a negative errno (the
 * directory cannot be read: -ENOENT without a USB bus; -ENOMEM), or cb's negative return,
 * which stops the scan.
 */
int mg_usb_scan(const char *sysfs_root, int (*cb)(void *ctx, const char *devpath), void *ctx);

#endif
