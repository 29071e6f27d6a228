/*
 * USBGuard-compatible device hashes (DevicePrivate::initializeHash and
 * DeviceBase::parseUSBDescriptor of USBGuard 1.1): SHA-256 through OpenSSL EVP, standard
 * base64 through EVP_EncodeBlock.
 */
#include "usb_hash.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/evp.h>

#define SHA256_LEN     32u
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
static int update_descriptors(EVP_MD_CTX *ctx, const uint8_t *blob, size_t len)
{
	size_t off = 0;

	while (off < len) {
		const size_t left = len - off;
		if (left < 2 || blob[off] < 2 || blob[off] > left)
			return -EINVAL; /* not a blob mg_usb_desc_parse() accepted */
		const uint8_t *p = blob + off;
		const size_t n = p[0];
		int ok;
		if (is_linux_root_hub(p)) {
			uint8_t dev[DEVICE_SIZE];
			memcpy(dev, p, sizeof(dev));
			dev[BCD_DEVICE_OFF] = 0;
			dev[BCD_DEVICE_OFF + 1] = 0;
			ok = EVP_DigestUpdate(ctx, dev, sizeof(dev));
		} else {
			ok = EVP_DigestUpdate(ctx, p, n);
		}
		if (ok != 1)
			return -EIO;
		off += n;
	}
	return 0;
}

static int finish(EVP_MD_CTX *ctx, char out[MG_USB_HASH_LEN])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned char b64[MG_USB_HASH_LEN];
	unsigned int mdlen = 0;

	if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != SHA256_LEN)
		return -EIO;
	/* 32 bytes -> 44 characters with one '=' of padding, then NUL. */
	if (EVP_EncodeBlock(b64, md, (int)mdlen) != MG_USB_HASH_LEN - 1)
		return -EIO;
	memcpy(out, b64, MG_USB_HASH_LEN);
	return 0;
}

static int update_str(EVP_MD_CTX *ctx, const char *s)
{
	return EVP_DigestUpdate(ctx, s, strlen(s)) == 1 ? 0 : -EIO;
}

int mg_usb_hash_device(const char *name, const char *vendor_id, const char *product_id,
                       const char *serial, const uint8_t *blob, size_t len,
                       char out[MG_USB_HASH_LEN])
{
	EVP_MD_CTX *ctx = NULL;
	int r = -EINVAL;

	/* USBGuard refuses to hash a device without vendor or product id. */
	if (!name || !vendor_id || !product_id || !serial || !out || !vendor_id[0] ||
	    !product_id[0] || (!blob && len > 0))
		goto out;
	r = -ENOMEM;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		goto out;
	r = -EIO;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto out;
	if ((r = update_str(ctx, name)) < 0 || (r = update_str(ctx, vendor_id)) < 0 ||
	    (r = update_str(ctx, product_id)) < 0 || (r = update_str(ctx, serial)) < 0)
		goto out;
	if ((r = update_descriptors(ctx, blob, len)) < 0)
		goto out;
	r = finish(ctx, out);
out:
	EVP_MD_CTX_free(ctx);
	return r;
}

int mg_usb_hash_string(const char *s, char out[MG_USB_HASH_LEN])
{
	EVP_MD_CTX *ctx = NULL;
	int r = -EINVAL;

	if (!s || !out)
		goto out;
	r = -ENOMEM;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		goto out;
	r = -EIO;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		goto out;
	if ((r = update_str(ctx, s)) < 0)
		goto out;
	r = finish(ctx, out);
out:
	EVP_MD_CTX_free(ctx);
	return r;
}
