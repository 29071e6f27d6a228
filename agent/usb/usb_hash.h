/* USBGuard-compatible device hashes (SHA-256, standard base64 with padding, 44 chars). */
#ifndef MG_USB_HASH_H
#define MG_USB_HASH_H

#include <stddef.h>
#include <stdint.h>

#define MG_USB_HASH_LEN 45 /* 44 base64 characters and the NUL */

/*
 * The hash of a device: SHA-256 over name, vendor_id ("0781"), product_id, serial (each
 * without terminator, as read from sysfs with trailing whitespace trimmed), then every
 * descriptor in blob, each as its bLength raw bytes; for a Linux root hub (vendor 1d6b,
 * product 0001-0003) the device descriptor is hashed with bcdDevice set to 0. The blob must
 * have passed mg_usb_desc_parse(). 0 or negative errno.
 */
int mg_usb_hash_device(const char *name, const char *vendor_id, const char *product_id,
                       const char *serial, const uint8_t *blob, size_t len,
                       char out[MG_USB_HASH_LEN]);

/*
 * The hash of a string alone. USBGuard's parent-hash of a root hub (a device whose parent is
 * no usb_device) is this hash of the parent's DEVPATH, the sysfs path without "/sys", e.g.
 * "/devices/pci0000:00/0000:00:14.0" for an xHCI controller (checked against usbguard 1.1.2
 * under umockdev). Any other device's parent-hash is its parent's device hash.
 */
int mg_usb_hash_string(const char *s, char out[MG_USB_HASH_LEN]);

#endif
