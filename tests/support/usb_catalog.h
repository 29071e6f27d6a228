/*
 * A catalog of realistic USB devices for system tests: for each, the byte-exact sysfs
 * `descriptors` blob (18-byte device descriptor followed by the whole configuration bundle
 * as the device sends it: configuration, interface, class-specific, endpoint descriptors),
 * the strings the kernel shows as attributes, and the interfaces that appear in sysfs once
 * the device is configured (active configuration, alternate setting 0).
 *
 * The blobs follow lsusb -v of the named products (or of their class for generic ones);
 * mg_cat_check() verifies each one's internal consistency (wTotalLength, bNumInterfaces,
 * the interface list) so a typo cannot hide in a table.
 */
#ifndef MG_TEST_USB_CATALOG_H
#define MG_TEST_USB_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One interface as sysfs shows it after configuration: "<port>:<config>.<number>". */
struct mg_cat_iface {
	uint8_t number;
	uint8_t cls, sub, proto;
	uint8_t num_endpoints;
};

struct mg_cat_device {
	const char *key;          /* "flash_sandisk": how tests name it */
	const char *description;  /* what it is, for messages */
	uint16_t vendor, product; /* idVendor, idProduct */
	uint16_t bcd_device, bcd_usb;
	const char *manufacturer; /* NULL: iManufacturer is 0 (no attribute) */
	const char *product_name; /* NULL: iProduct is 0 */
	const char *serial;       /* NULL: iSerialNumber is 0 */
	const char *speed;        /* sysfs `speed`: "1.5", "12", "480", "5000" */
	const char *max_power;    /* sysfs `bMaxPower` of the active configuration: "100mA" */
	uint8_t config_value;     /* bConfigurationValue the kernel picks */
	unsigned maxchild;        /* ports of a hub; 0 otherwise */
	const uint8_t *descriptors;
	size_t descriptors_len;
	const struct mg_cat_iface *ifaces; /* of the active configuration */
	size_t n_ifaces;
};

/* Every device of the catalog, root hubs included; NULL-terminated. */
extern const struct mg_cat_device *const mg_cat_all[];

/* The device with that key, or NULL. */
const struct mg_cat_device *mg_cat_find(const char *key);

/*
 * Checks dev's blob: device descriptor first and matching the ids and bcd fields, every
 * descriptor's bLength within the data, each configuration's wTotalLength equal to its
 * bundle, bNumInterfaces equal to the distinct interface numbers, and ifaces equal to the
 * alternate settings 0 of the configuration config_value. 0, or -1 with why filled.
 */
int mg_cat_check(const struct mg_cat_device *dev, char *why, size_t whylen);

/* Keys of root hubs. */
#define MG_CAT_ROOT_HUB_USB2 "root_hub_usb2"
#define MG_CAT_ROOT_HUB_USB3 "root_hub_usb3"

#endif
