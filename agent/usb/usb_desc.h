/*
 * Parser of the sysfs `descriptors` blob of a USB device (USB 2.0 spec, 9.6): the 18-byte
 * device descriptor followed by every configuration as the device sent it (configuration,
 * interface, endpoint and class-specific descriptors). The device controls these bytes.
 * Pure: bytes in, struct out, no I/O.
 */
#ifndef MG_USB_DESC_H
#define MG_USB_DESC_H

#include <stddef.h>
#include <stdint.h>

#define MG_USB_DESC_MAX    (64u * 1024u) /* larger blobs are refused */
#define MG_USB_MAX_IFACES  256u          /* interface descriptors kept, all configurations */
#define MG_USB_MAX_CONFIGS 32u

/* An interface type as USBGuard's with-interface sees it: class, subclass, protocol. */
struct mg_usb_iftype {
	uint8_t cls;
	uint8_t sub;
	uint8_t proto;
};

struct mg_usb_iface {
	uint8_t config_value; /* bConfigurationValue of the configuration it belongs to */
	uint8_t number;       /* bInterfaceNumber */
	uint8_t alt;          /* bAlternateSetting */
	struct mg_usb_iftype type;
	uint8_t num_endpoints;
};

struct mg_usb_desc {
	/* Device descriptor (host byte order). */
	uint16_t bcd_usb;
	uint8_t dev_class, dev_subclass, dev_protocol;
	uint8_t max_packet0;
	uint16_t vendor, product, bcd_device;
	uint8_t i_manufacturer, i_product, i_serial;
	uint8_t num_configs;
	/* Every interface descriptor of every configuration, in blob order (alt settings too). */
	struct mg_usb_iface ifaces[MG_USB_MAX_IFACES];
	size_t n_ifaces;
	size_t n_configs; /* configuration descriptors seen */
	/* Configurations whose wTotalLength claims more than the rest of the blob: accepted
	 * (the kernel keeps a configuration it read short; USBGuard ignores the field). */
	size_t n_short_configs;
};

/*
 * Parses blob[0..len). Rules (fail closed): the blob starts with one 18-byte device
 * descriptor; every descriptor has bLength >= 2 and fits; configuration descriptors are 9
 * bytes, interface 9, endpoint 7 or 9 (audio), device 18; an interface needs a configuration
 * before it, an endpoint an interface of its configuration; only one device descriptor;
 * limits above. A wTotalLength running past the blob is counted in n_short_configs, not
 * refused. Returns 0 or -EINVAL (errmsg names the offset and what was wrong), -E2BIG over a
 * limit.
 */
int mg_usb_desc_parse(const uint8_t *blob, size_t len, struct mg_usb_desc *out, char *errmsg,
                      size_t errlen);

/* "cc:ss:pp" in lower-case hex into buf (at least 9 bytes). */
void mg_usb_iftype_format(struct mg_usb_iftype t, char buf[9]);

#endif
