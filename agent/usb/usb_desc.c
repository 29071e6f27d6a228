/*
 * Parser of the sysfs `descriptors` blob. Acceptance follows USBGuard 1.1
 * (USBDescriptorParser::parse, USBDescriptorParserHooks::parseUSBDescriptor and
 * DevicePrivate::load*Descriptor) so that a blob it accepts we accept with the same
 * with-interface list, and a blob it refuses we refuse:
 *   - a header needs 2 bytes, bLength >= 2 and bLength within the data;
 *   - sizes: device 18, configuration 9, interface 9, endpoint 7 or 9 (audio);
 *     every other type (string, HID 0x21, CS_INTERFACE 0x24, IAD 0x0b, SS endpoint
 *     companion 0x30, ...) is accepted with any bLength;
 *   - one device descriptor; a configuration needs the device descriptor before it, an
 *     interface any earlier configuration, an endpoint an interface of the current
 *     configuration (USBGuard forgets interfaces when a configuration starts).
 * Stricter than USBGuard, never looser: the first descriptor must be the device descriptor
 * (USBGuard accepts unknown descriptors before it, or none at all if 18 bytes were read; the
 * kernel always writes the device descriptor first), and the limits of usb_desc.h.
 */
#include "usb_desc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define DT_DEVICE    0x01
#define DT_CONFIG    0x02
#define DT_INTERFACE 0x04
#define DT_ENDPOINT  0x05

#define DEVICE_SIZE         18u
#define CONFIG_SIZE         9u
#define INTERFACE_SIZE      9u
#define ENDPOINT_SIZE       7u
#define AUDIO_ENDPOINT_SIZE 9u

struct parse_state {
	struct mg_usb_desc d;
	bool have_device;
	bool have_config;
	bool have_iface; /* in the current configuration */
	uint8_t config_value;
};

static int fail(char *errmsg, size_t errlen, int err, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail(char *errmsg, size_t errlen, int err, size_t off, const char *fmt, ...)
{
	if (errmsg && errlen > 0) {
		int n = snprintf(errmsg, errlen, "offset %zu: ", off);
		if (n >= 0 && (size_t)n < errlen) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(errmsg + n, errlen - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	return err;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

/* USBGuard's size rule for the four types it interprets; other types take any bLength. */
static int check_size(uint8_t type, uint8_t blen, size_t off, char *errmsg, size_t errlen)
{
	const char *what = NULL, *expected = "9";
	bool ok = true;

	switch (type) {
	case DT_DEVICE:
		what = "device";
		expected = "18";
		ok = blen == DEVICE_SIZE;
		break;
	case DT_CONFIG:
		what = "configuration";
		ok = blen == CONFIG_SIZE;
		break;
	case DT_INTERFACE:
		what = "interface";
		ok = blen == INTERFACE_SIZE;
		break;
	case DT_ENDPOINT:
		what = "endpoint";
		expected = "7 or 9";
		ok = blen == ENDPOINT_SIZE || blen == AUDIO_ENDPOINT_SIZE;
		break;
	default:
		break;
	}
	if (ok)
		return 0;
	return fail(errmsg, errlen, -EINVAL, off, "%s descriptor of %u bytes, expected %s", what,
	            blen, expected);
}

static void load_device(struct mg_usb_desc *d, const uint8_t *p)
{
	d->bcd_usb = le16(p + 2);
	d->dev_class = p[4];
	d->dev_subclass = p[5];
	d->dev_protocol = p[6];
	d->max_packet0 = p[7];
	d->vendor = le16(p + 8);
	d->product = le16(p + 10);
	d->bcd_device = le16(p + 12);
	d->i_manufacturer = p[14];
	d->i_product = p[15];
	d->i_serial = p[16];
	d->num_configs = p[17];
}

/* Checks and records one descriptor p[0..p[0]) found at off, of a blob with len - off left. */
static int load(struct parse_state *st, const uint8_t *p, size_t off, size_t left, char *errmsg,
                size_t errlen)
{
	const uint8_t blen = p[0], type = p[1];

	int r = check_size(type, blen, off, errmsg, errlen);
	if (r < 0)
		return r;
	switch (type) {
	case DT_DEVICE:
		if (st->have_device)
			return fail(errmsg, errlen, -EINVAL, off, "second device descriptor");
		st->have_device = true;
		load_device(&st->d, p);
		return 0;
	case DT_CONFIG:
		if (!st->have_device)
			return fail(errmsg, errlen, -EINVAL, off,
			            "configuration descriptor before the device descriptor");
		if (st->d.n_configs >= MG_USB_MAX_CONFIGS)
			return fail(errmsg, errlen, -E2BIG, off, "more than %u configurations",
			            MG_USB_MAX_CONFIGS);
		/*
		 * wTotalLength is recorded, not enforced: the kernel keeps a configuration it
		 * read short ("descriptor too short") or cut at a bad descriptor, and writes
		 * only what it parsed to sysfs with the device's original wTotalLength bytes;
		 * USBGuard does not look at the field. Refusing would block such real devices
		 * and disagree with USBGuard.
		 */
		if (le16(p + 2) > left)
			st->d.n_short_configs++;
		st->d.n_configs++;
		st->have_config = true;
		st->have_iface = false;
		st->config_value = p[5];
		return 0;
	case DT_INTERFACE:
		if (!st->have_config)
			return fail(errmsg, errlen, -EINVAL, off,
			            "interface descriptor before any configuration");
		if (st->d.n_ifaces >= MG_USB_MAX_IFACES)
			return fail(errmsg, errlen, -E2BIG, off,
			            "more than %u interface descriptors", MG_USB_MAX_IFACES);
		st->d.ifaces[st->d.n_ifaces++] = (struct mg_usb_iface){
		    .config_value = st->config_value,
		    .number = p[2],
		    .alt = p[3],
		    .num_endpoints = p[4],
		    .type = {.cls = p[5], .sub = p[6], .proto = p[7]},
		};
		st->have_iface = true;
		return 0;
	case DT_ENDPOINT:
		if (!st->have_iface)
			return fail(
			    errmsg, errlen, -EINVAL, off,
			    "endpoint descriptor before any interface of its configuration");
		return 0;
	default:
		if (!st->have_device)
			return fail(errmsg, errlen, -EINVAL, off,
			            "descriptor of type 0x%02x before the device descriptor", type);
		return 0;
	}
}

int mg_usb_desc_parse(const uint8_t *blob, size_t len, struct mg_usb_desc *out, char *errmsg,
                      size_t errlen)
{
	struct parse_state st;
	size_t off = 0;
	int r;

	if (errmsg && errlen > 0)
		errmsg[0] = '\0';
	if (!out || (!blob && len > 0))
		return fail(errmsg, errlen, -EINVAL, 0, "no data");
	if (len > MG_USB_DESC_MAX)
		return fail(errmsg, errlen, -E2BIG, MG_USB_DESC_MAX, "blob of %zu bytes exceeds %u",
		            len, MG_USB_DESC_MAX);
	if (len == 0)
		return fail(errmsg, errlen, -EINVAL, 0, "empty, no device descriptor");

	memset(&st, 0, sizeof(st));
	while (off < len) {
		const size_t left = len - off;
		if (left < 2)
			return fail(errmsg, errlen, -EINVAL, off,
			            "truncated descriptor header (%zu byte left)", left);
		const uint8_t blen = blob[off];
		if (blen < 2)
			return fail(errmsg, errlen, -EINVAL, off, "bLength %u is less than 2",
			            blen);
		if (blen > left)
			return fail(errmsg, errlen, -EINVAL, off,
			            "bLength %u runs past the end of the data (%zu bytes left)",
			            blen, left);
		r = load(&st, blob + off, off, left, errmsg, errlen);
		if (r < 0)
			return r;
		off += blen;
	}
	memcpy(out, &st.d, sizeof(*out));
	return 0;
}

void mg_usb_iftype_format(struct mg_usb_iftype t, char buf[9])
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t v[3] = {t.cls, t.sub, t.proto};

	for (size_t i = 0; i < 3; i++) {
		buf[i * 3] = hex[v[i] >> 4];
		buf[i * 3 + 1] = hex[v[i] & 0x0f];
		buf[i * 3 + 2] = i < 2 ? ':' : '\0';
	}
}
