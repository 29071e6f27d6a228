/*
 * USBGuard-compatible hashes: each expected value is computed here with OpenSSL's one-shot
 * SHA256() over a concatenation built by hand, and compared after base64-decoding ours.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "usb_desc.h"
#include "usb_hash.h"

/* SanDisk Ultra Fit 0781:5583 (USB 2 port). */
static const uint8_t sandisk[] = {
    0x12, 0x01, 0x10, 0x02, 0x00, 0x00, 0x00, 0x40, 0x81,
    0x07, 0x83, 0x55, 0x00, 0x01, 0x01, 0x02, 0x03, 0x01, /* device */
    0x09, 0x02, 0x20, 0x00, 0x01, 0x01, 0x00, 0x80, 0x70, /* configuration */
    0x09, 0x04, 0x00, 0x00, 0x02, 0x08, 0x06, 0x50, 0x00, /* interface 08:06:50 */
    0x07, 0x05, 0x81, 0x02, 0x00, 0x02, 0x00,             /* bulk IN */
    0x07, 0x05, 0x02, 0x02, 0x00, 0x02, 0x00,             /* bulk OUT */
};

/* Linux 2.0 root hub 1d6b:0002, bcdDevice 6.01 (kernel 6.1). */
static const uint8_t root_hub_601[] = {
    0x12, 0x01, 0x00, 0x02, 0x09, 0x00, 0x01, 0x40, 0x6b, 0x1d, 0x02, 0x00, 0x01, 0x06, 0x03,
    0x02, 0x01, 0x01, 0x09, 0x02, 0x19, 0x00, 0x01, 0x01, 0x00, 0xe0, 0x00, 0x09, 0x04, 0x00,
    0x00, 0x01, 0x09, 0x00, 0x00, 0x00, 0x07, 0x05, 0x81, 0x03, 0x04, 0x00, 0x0c,
};

struct cat {
	uint8_t b[512];
	size_t n;
};

static void cat(struct cat *c, const void *p, size_t n)
{
	assert_true(c->n + n <= sizeof(c->b));
	memcpy(c->b + c->n, p, n);
	c->n += n;
}

static void cat_str(struct cat *c, const char *s)
{
	cat(c, s, strlen(s));
}

/* Asserts that the base64 text h is SHA-256 of c's bytes. */
static void assert_hash_of(const char *h, const struct cat *c)
{
	uint8_t want[SHA256_DIGEST_LENGTH];
	uint8_t got[48];
	assert_non_null(SHA256(c->b, c->n, want));
	assert_int_equal(strlen(h), 44);
	assert_int_equal(h[43], '=');
	/* EVP_DecodeBlock keeps the padding as a zero byte: 33 bytes. */
	assert_int_equal(EVP_DecodeBlock(got, (const unsigned char *)h, 44), 33);
	assert_memory_equal(got, want, sizeof(want));
}

static void test_known_answers(void **state)
{
	(void)state;
	char h[MG_USB_HASH_LEN];
	assert_int_equal(mg_usb_hash_string("", h), 0);
	assert_string_equal(h, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
	assert_int_equal(mg_usb_hash_string("abc", h), 0);
	assert_string_equal(h, "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
	/* A device with empty strings and no descriptors is only vendor || product. */
	assert_int_equal(mg_usb_hash_device("", "a", "bc", "", NULL, 0, h), 0);
	assert_string_equal(h, "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
}

static void test_parent_path(void **state)
{
	(void)state;
	const char *path = "/devices/pci0000:00/0000:00:14.0";
	char h[MG_USB_HASH_LEN];
	struct cat c = {.n = 0};
	cat_str(&c, path);
	assert_int_equal(mg_usb_hash_string(path, h), 0);
	assert_hash_of(h, &c);
}

static void test_sandisk(void **state)
{
	(void)state;
	char h[MG_USB_HASH_LEN];
	struct mg_usb_desc *d = test_malloc(sizeof(*d));
	assert_int_equal(mg_usb_desc_parse(sandisk, sizeof(sandisk), d, NULL, 0), 0);
	test_free(d);

	assert_int_equal(mg_usb_hash_device(" SanDisk 3.2Gen1", "0781", "5583",
	                                    "4C530001090604116463", sandisk, sizeof(sandisk), h),
	                 0);
	struct cat c = {.n = 0};
	cat_str(&c, " SanDisk 3.2Gen1");
	cat_str(&c, "0781");
	cat_str(&c, "5583");
	cat_str(&c, "4C530001090604116463");
	cat(&c, sandisk, sizeof(sandisk));
	assert_hash_of(h, &c);

	/* Every field counts: another serial, another hash. */
	char h2[MG_USB_HASH_LEN];
	assert_int_equal(mg_usb_hash_device(" SanDisk 3.2Gen1", "0781", "5583",
	                                    "4C530001090604116464", sandisk, sizeof(sandisk), h2),
	                 0);
	assert_string_not_equal(h, h2);
	/* No serial (the attribute is absent): the field contributes nothing. */
	assert_int_equal(mg_usb_hash_device("Keyboard", "413c", "2113", "", sandisk, 18, h2), 0);
	c.n = 0;
	cat_str(&c, "Keyboard413c2113");
	cat(&c, sandisk, 18);
	assert_hash_of(h2, &c);
}

static void test_root_hub_ignores_bcd_device(void **state)
{
	(void)state;
	uint8_t rh515[sizeof(root_hub_601)];
	memcpy(rh515, root_hub_601, sizeof(rh515));
	rh515[12] = 0x15; /* bcdDevice 5.15 */
	rh515[13] = 0x05;

	char h601[MG_USB_HASH_LEN], h515[MG_USB_HASH_LEN];
	const char *name = "EHCI Host Controller", *serial = "0000:00:1d.0";
	assert_int_equal(mg_usb_hash_device(name, "1d6b", "0002", serial, root_hub_601,
	                                    sizeof(root_hub_601), h601),
	                 0);
	assert_int_equal(
	    mg_usb_hash_device(name, "1d6b", "0002", serial, rh515, sizeof(rh515), h515), 0);
	assert_string_equal(h601, h515);

	struct cat c = {.n = 0};
	cat_str(&c, name);
	cat_str(&c, "1d6b0002");
	cat_str(&c, serial);
	cat(&c, root_hub_601, sizeof(root_hub_601));
	c.b[c.n - sizeof(root_hub_601) + 12] = 0;
	c.b[c.n - sizeof(root_hub_601) + 13] = 0;
	assert_hash_of(h601, &c);

	/* 1d6b:0104 (a Linux gadget) is no root hub: bcdDevice is hashed. */
	uint8_t gadget[sizeof(root_hub_601)];
	memcpy(gadget, root_hub_601, sizeof(gadget));
	gadget[10] = 0x04;
	gadget[11] = 0x01;
	assert_int_equal(
	    mg_usb_hash_device(name, "1d6b", "0104", serial, gadget, sizeof(gadget), h601), 0);
	gadget[12] = 0x15;
	gadget[13] = 0x05;
	assert_int_equal(
	    mg_usb_hash_device(name, "1d6b", "0104", serial, gadget, sizeof(gadget), h515), 0);
	assert_string_not_equal(h601, h515);
	c.n = 0;
	cat_str(&c, name);
	cat_str(&c, "1d6b0104");
	cat_str(&c, serial);
	cat(&c, gadget, sizeof(gadget));
	assert_hash_of(h515, &c);

	/* USB 1.1 and 3.0 root hubs too. */
	for (uint8_t product = 1; product <= 3; product += 2) {
		uint8_t a[sizeof(root_hub_601)], b[sizeof(root_hub_601)];
		memcpy(a, root_hub_601, sizeof(a));
		a[10] = product;
		memcpy(b, a, sizeof(b));
		b[12] = 0x99;
		char ha[MG_USB_HASH_LEN], hb[MG_USB_HASH_LEN];
		assert_int_equal(mg_usb_hash_device(name, "1d6b", "0003", serial, a, sizeof(a), ha),
		                 0);
		assert_int_equal(mg_usb_hash_device(name, "1d6b", "0003", serial, b, sizeof(b), hb),
		                 0);
		assert_string_equal(ha, hb);
	}
}

static void test_errors(void **state)
{
	(void)state;
	char h[MG_USB_HASH_LEN];
	memset(h, 'x', sizeof(h));
	assert_int_equal(mg_usb_hash_device("n", "", "5583", "", sandisk, sizeof(sandisk), h),
	                 -EINVAL);
	assert_int_equal(mg_usb_hash_device("n", "0781", "", "", sandisk, sizeof(sandisk), h),
	                 -EINVAL);
	assert_int_equal(mg_usb_hash_device(NULL, "0781", "5583", "", sandisk, sizeof(sandisk), h),
	                 -EINVAL);
	/* A blob the parser would refuse. */
	const uint8_t bad[] = {0x12, 0x01, 0x00};
	assert_int_equal(mg_usb_hash_device("n", "0781", "5583", "", bad, sizeof(bad), h), -EINVAL);
	const uint8_t zero[] = {0x00, 0x01};
	assert_int_equal(mg_usb_hash_device("n", "0781", "5583", "", zero, sizeof(zero), h),
	                 -EINVAL);
	assert_int_equal(mg_usb_hash_string(NULL, h), -EINVAL);
	for (size_t i = 0; i < sizeof(h); i++)
		assert_int_equal(h[i], 'x');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_known_answers),
	    cmocka_unit_test(test_parent_path),
	    cmocka_unit_test(test_sandisk),
	    cmocka_unit_test(test_root_hub_ignores_bcd_device),
	    cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
