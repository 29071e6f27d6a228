/*
 * USBGuard-compatible device hashes (DevicePrivate::initializeHash and
 * DeviceBase::parseUSBDescriptor of USBGuard 1.1): SHA-256 and standard base64 through
 * Nettle. The agent uses Nettle rather than OpenSSL for its one hash function: OpenSSL 3's
 * initialisation alone costs the daemon about 2 MiB of RSS (docs/PERFORMANCE.md); the tests
 * check these hashes against OpenSSL, an independent implementation.
 */
#include "usb_hash.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <nettle/base64.h>
#include <nettle/sha2.h>

#define DEVICE_SIZE    18u
#define DT_DEVICE      0x01
#define LINUX_VENDOR   0x1d6b
#define BCD_DEVICE_OFF 12u

/* A Linux root hub's device descriptor (1d6b:0001-0003): bcdDevice is the kernel version. */
static bool is_linux_root_hub(const uint8_t *p)
{
	if (p[0] != DEVICE_SIZE || p[1] != DT_DEVICE)
		return false;
	const unsigned vendor = (unsigned)(p[8] | (p[9] << 8));
	const unsigned product = (unsigned)(p[10] | (p[11] << 8));
	return vendor == LINUX_VENDOR && product >= 0x0001 && product <= 0x0003;
}

/* Hashes each descriptor as its bLength bytes; a root hub's bcdDevice as zero. */
static int update_descriptors(struct sha256_ctx *ctx, const uint8_t *blob, size_t len)
{
	size_t off = 0;

	while (off < len) {
		const size_t left = len - off;
		if (left < 2 || blob[off] < 2 || blob[off] > left)
			return -EINVAL; /* not a blob mg_usb_desc_parse() accepted */
		const uint8_t *p = blob + off;
		const size_t n = p[0];
		if (is_linux_root_hub(p)) {
			uint8_t dev[DEVICE_SIZE];
			memcpy(dev, p, sizeof(dev));
			dev[BCD_DEVICE_OFF] = 0;
			dev[BCD_DEVICE_OFF + 1] = 0;
			sha256_update(ctx, sizeof(dev), dev);
		} else {
			sha256_update(ctx, n, p);
		}
		off += n;
	}
	return 0;
}

static void finish(struct sha256_ctx *ctx, char out[MG_USB_HASH_LEN])
{
	uint8_t md[SHA256_DIGEST_SIZE];
	sha256_digest(ctx, sizeof(md), md);
	/* 32 bytes -> 44 characters with one '=' of padding (RFC 4648 base64), then NUL. */
	base64_encode_raw(out, sizeof(md), md);
	out[BASE64_ENCODE_RAW_LENGTH(SHA256_DIGEST_SIZE)] = '\0';
}

static void update_str(struct sha256_ctx *ctx, const char *s)
{
	sha256_update(ctx, strlen(s), (const uint8_t *)s);
}

int mg_usb_hash_device(const char *name, const char *vendor_id, const char *product_id,
                       const char *serial, const uint8_t *blob, size_t len,
                       char out[MG_USB_HASH_LEN])
{
	/* USBGuard refuses to hash a device without vendor or product id. */
	if (!name || !vendor_id || !product_id || !serial || !out || !vendor_id[0] ||
	    !product_id[0] || (!blob && len > 0))
		return -EINVAL;
	struct sha256_ctx ctx;
	sha256_init(&ctx);
	update_str(&ctx, name);
	update_str(&ctx, vendor_id);
	update_str(&ctx, product_id);
	update_str(&ctx, serial);
	int r = update_descriptors(&ctx, blob, len);
	if (r < 0)
		return r;
	finish(&ctx, out);
	return 0;
}

int mg_usb_hash_string(const char *s, char out[MG_USB_HASH_LEN])
{
	if (!s || !out)
		return -EINVAL;
	struct sha256_ctx ctx;
	sha256_init(&ctx);
	update_str(&ctx, s);
	finish(&ctx, out);
	return 0;
}
