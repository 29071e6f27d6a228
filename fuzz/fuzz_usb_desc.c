/*
 * libFuzzer target: the USB descriptor blob parser on arbitrary bytes; an accepted blob is
 * also hashed. Checks the parser's guarantees, not just the absence of crashes.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "usb_desc.h"
#include "usb_hash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Survives NDEBUG builds. */
#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static struct mg_usb_desc desc;

static void check_accepted(const uint8_t *data, size_t size)
{
	CHECK(size >= 18 && size <= MG_USB_DESC_MAX);
	CHECK(data[0] == 18 && data[1] == 0x01);
	CHECK(desc.vendor == (uint16_t)(data[8] | data[9] << 8));
	CHECK(desc.product == (uint16_t)(data[10] | data[11] << 8));
	CHECK(desc.num_configs == data[17]);
	CHECK(desc.n_ifaces <= MG_USB_MAX_IFACES);
	CHECK(desc.n_configs <= MG_USB_MAX_CONFIGS);
	CHECK(desc.n_short_configs <= desc.n_configs);
	CHECK(desc.n_ifaces == 0 || desc.n_configs > 0);
	/* Every interface costs 9 bytes after an 18-byte device and a 9-byte configuration. */
	CHECK(desc.n_ifaces == 0 || 27 + 9 * desc.n_ifaces <= size);
	for (size_t i = 0; i < desc.n_ifaces; i++) {
		char t[9];
		mg_usb_iftype_format(desc.ifaces[i].type, t);
		CHECK(strlen(t) == 8 && t[2] == ':' && t[5] == ':');
	}

	char h[MG_USB_HASH_LEN], h2[MG_USB_HASH_LEN];
	CHECK(mg_usb_hash_device("n", "0781", "5583", "s", data, size, h) == 0);
	CHECK(strlen(h) == 44 && h[43] == '=');
	const int root_hub = desc.vendor == 0x1d6b && desc.product >= 1 && desc.product <= 3;
	if (!root_hub) {
		/* The descriptors tile the blob: the hash covers every byte once, in order. */
		unsigned char md[EVP_MAX_MD_SIZE], b64[MG_USB_HASH_LEN];
		unsigned int mdlen = 0;
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		CHECK(ctx != NULL);
		CHECK(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1);
		CHECK(EVP_DigestUpdate(ctx, "n07815583s", 10) == 1);
		CHECK(EVP_DigestUpdate(ctx, data, size) == 1);
		CHECK(EVP_DigestFinal_ex(ctx, md, &mdlen) == 1);
		EVP_MD_CTX_free(ctx);
		CHECK(EVP_EncodeBlock(b64, md, (int)mdlen) == 44);
		CHECK(memcmp(b64, h, 45) == 0);
	} else {
		/* bcdDevice does not count for a root hub. */
		uint8_t *copy = malloc(size);
		CHECK(copy != NULL);
		memcpy(copy, data, size);
		copy[12] ^= 0xff;
		copy[13] ^= 0x5a;
		CHECK(mg_usb_hash_device("n", "0781", "5583", "s", copy, size, h2) == 0);
		CHECK(strcmp(h, h2) == 0);
		free(copy);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[128];
	memset(err, 'x', sizeof(err));
	int r = mg_usb_desc_parse(data, size, &desc, err, sizeof(err));
	if (r == 0) {
		CHECK(err[0] == '\0');
		check_accepted(data, size);
	} else {
		CHECK(r == -EINVAL || r == -E2BIG);
		CHECK(memchr(err, '\0', sizeof(err)) != NULL);
		CHECK(strncmp(err, "offset ", 7) == 0);
	}
	return 0;
}
