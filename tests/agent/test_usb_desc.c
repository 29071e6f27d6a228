/* USB descriptor blob parser: real device layouts accepted, each malformed class refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "usb_desc.h"

struct blob {
	uint8_t b[MG_USB_DESC_MAX + 64];
	size_t n;
};

static void put(struct blob *bl, const uint8_t *p, size_t n)
{
	assert_true(bl->n + n <= sizeof(bl->b));
	memcpy(bl->b + bl->n, p, n);
	bl->n += n;
}

#define PUT(bl, ...) put(bl, (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}))

static struct blob *blob_new(void)
{
	struct blob *bl = calloc(1, sizeof(*bl));
	assert_non_null(bl);
	return bl;
}

/* SanDisk Ultra Fit 0781:5583 on a USB 2 port: one mass-storage interface, bulk IN/OUT. */
static void sandisk(struct blob *bl)
{
	PUT(bl, 0x12, 0x01, 0x10, 0x02, 0x00, 0x00, 0x00, 0x40, 0x81, 0x07, 0x83, 0x55, 0x00, 0x01,
	    0x01, 0x02, 0x03, 0x01);
	PUT(bl, 0x09, 0x02, 0x20, 0x00, 0x01, 0x01, 0x00, 0x80, 0x70);
	PUT(bl, 0x09, 0x04, 0x00, 0x00, 0x02, 0x08, 0x06, 0x50, 0x00);
	PUT(bl, 0x07, 0x05, 0x81, 0x02, 0x00, 0x02, 0x00);
	PUT(bl, 0x07, 0x05, 0x02, 0x02, 0x00, 0x02, 0x00);
}

static int parse(const struct blob *bl, struct mg_usb_desc *d, char *err, size_t errlen)
{
	return mg_usb_desc_parse(bl->b, bl->n, d, err, errlen);
}

static void assert_iface(const struct mg_usb_iface *i, uint8_t cfg, uint8_t num, uint8_t alt,
                         const char *type, uint8_t neps)
{
	char buf[9];
	mg_usb_iftype_format(i->type, buf);
	assert_string_equal(buf, type);
	assert_int_equal(i->config_value, cfg);
	assert_int_equal(i->number, num);
	assert_int_equal(i->alt, alt);
	assert_int_equal(i->num_endpoints, neps);
}

static void test_sandisk(void **state)
{
	(void)state;
	struct blob *bl = blob_new();
	struct mg_usb_desc *d = calloc(1, sizeof(*d));
	char err[128] = "untouched";
	sandisk(bl);
	assert_int_equal(bl->n, 50);
	assert_int_equal(parse(bl, d, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(d->vendor, 0x0781);
	assert_int_equal(d->product, 0x5583);
	assert_int_equal(d->bcd_usb, 0x0210);
	assert_int_equal(d->bcd_device, 0x0100);
	assert_int_equal(d->max_packet0, 64);
	assert_int_equal(d->dev_class, 0);
	assert_int_equal(d->i_manufacturer, 1);
	assert_int_equal(d->i_product, 2);
	assert_int_equal(d->i_serial, 3);
	assert_int_equal(d->num_configs, 1);
	assert_int_equal(d->n_configs, 1);
	assert_int_equal(d->n_short_configs, 0);
	assert_int_equal(d->n_ifaces, 1);
	assert_iface(&d->ifaces[0], 1, 0, 0, "08:06:50", 2);
	free(d);
	free(bl);
}

/* Dell-style keyboard: boot keyboard + consumer control, each with a HID descriptor (0x21). */
static void test_keyboard(void **state)
{
	(void)state;
	struct blob *bl = blob_new();
	struct mg_usb_desc *d = calloc(1, sizeof(*d));
	char err[128];
	PUT(bl, 0x12, 0x01, 0x10, 0x01, 0x00, 0x00, 0x00, 0x08, 0x3c, 0x41, 0x13, 0x21, 0x10, 0x01,
	    0x01, 0x02, 0x00, 0x01);
	PUT(bl, 0x09, 0x02, 0x3b, 0x00, 0x02, 0x01, 0x00, 0xa0, 0x32);
	PUT(bl, 0x09, 0x04, 0x00, 0x00, 0x01, 0x03, 0x01, 0x01, 0x00);
	PUT(bl, 0x09, 0x21, 0x11, 0x01, 0x00, 0x01, 0x22, 0x41, 0x00);
	PUT(bl, 0x07, 0x05, 0x81, 0x03, 0x08, 0x00, 0x0a);
	PUT(bl, 0x09, 0x04, 0x01, 0x00, 0x01, 0x03, 0x00, 0x00, 0x00);
	PUT(bl, 0x09, 0x21, 0x11, 0x01, 0x00, 0x01, 0x22, 0x9f, 0x00);
	PUT(bl, 0x07, 0x05, 0x82, 0x03, 0x08, 0x00, 0x0a);
	assert_int_equal(bl->n, 18 + 0x3b);
	assert_int_equal(parse(bl, d, err, sizeof(err)), 0);
	assert_int_equal(d->vendor, 0x413c);
	assert_int_equal(d->product, 0x2113);
	assert_int_equal(d->n_ifaces, 2);
	assert_iface(&d->ifaces[0], 1, 0, 0, "03:01:01", 1);
	assert_iface(&d->ifaces[1], 1, 1, 0, "03:00:00", 1);
	free(d);
	free(bl);
}

/* A keyboard and a mass-storage interface in one device (the classic BadUSB shape), with an IAD. */
static void test_composite(void **state)
{
	(void)state;
	struct blob *bl = blob_new();
	struct mg_usb_desc *d = calloc(1, sizeof(*d));
	char err[128];
	PUT(bl, 0x12, 0x01, 0x00, 0x02, 0xef, 0x02, 0x01, 0x40, 0x34, 0x12, 0x78, 0x56, 0x00, 0x01,
	    0x01, 0x02, 0x03, 0x01);
	PUT(bl, 0x09, 0x02, 0x41, 0x00, 0x02, 0x01, 0x00, 0x80, 0x32);
	PUT(bl, 0x08, 0x0b, 0x00, 0x01, 0x03, 0x01, 0x01, 0x00);
	PUT(bl, 0x09, 0x04, 0x00, 0x00, 0x01, 0x03, 0x01, 0x01, 0x00);
	PUT(bl, 0x09, 0x21, 0x11, 0x01, 0x00, 0x01, 0x22, 0x3f, 0x00);
	PUT(bl, 0x07, 0x05, 0x81, 0x03, 0x08, 0x00, 0x0a);
	PUT(bl, 0x09, 0x04, 0x01, 0x00, 0x02, 0x08, 0x06, 0x50, 0x00);
	PUT(bl, 0x07, 0x05, 0x82, 0x02, 0x00, 0x02, 0x00);
	PUT(bl, 0x07, 0x05, 0x03, 0x02, 0x00, 0x02, 0x00);
	assert_int_equal(bl->n, 18 + 0x41);
	assert_int_equal(parse(bl, d, err, sizeof(err)), 0);
	assert_int_equal(d->dev_class, 0xef);
	assert_int_equal(d->n_ifaces, 2);
	assert_iface(&d->ifaces[0], 1, 0, 0, "03:01:01", 1);
	assert_iface(&d->ifaces[1], 1, 1, 0, "08:06:50", 2);
	free(d);
	free(bl);
}

/* SuperSpeed: each endpoint followed by its SS endpoint companion (type 0x30, 6 bytes). */
static void test_usb3(void **state)
{
	(void)state;
	struct blob *bl = blob_new();
	struct mg_usb_desc *d = calloc(1, sizeof(*d));
	char err[128];
	PUT(bl, 0x12, 0x01, 0x20, 0x03, 0x00, 0x00, 0x00, 0x09, 0x81, 0x07, 0x83, 0x55, 0x00, 0x01,
	    0x01, 0x02, 0x03, 0x01);
	PUT(bl, 0x09, 0x02, 0x2c, 0x00, 0x01, 0x01, 0x00, 0x80, 0x38);
	PUT(bl, 0x09, 0x04, 0x00, 0x00, 0x02, 0x08, 0x06, 0x50, 0x00);
	PUT(bl, 0x07, 0x05, 0x81, 0x02, 0x00, 0x04, 0x00);
	PUT(bl, 0x06, 0x30, 0x0f, 0x00, 0x00, 0x00);
	PUT(bl, 0x07, 0x05, 0x02, 0x02, 0x00, 0x04, 0x00);
	PUT(bl, 0x06, 0x30, 0x0f, 0x00, 0x00, 0x00);
	assert_int_equal(bl->n, 18 + 0x2c);
	assert_int_equal(parse(bl, d, err, sizeof(err)), 0);
	assert_int_equal(d->bcd_usb, 0x0320);
	assert_int_equal(d->max_packet0, 9);
	assert_int_equal(d->n_ifaces, 1);
	assert_iface(&d->ifaces[0], 1, 0, 0, "08:06:50", 2);
	free(d);
	free(bl);
}

static void test_root_hub(void **state)
{
	(void)state;
	struct blob *bl = blob_new();
	struct mg_usb_desc *d = calloc(1, sizeof(*d));
	char err[128];
	PUT(bl, 0x12, 0x01, 0x00, 0x02, 0x09, 0x00, 0x01, 0x40, 0x6b, 0x1d, 0x02, 0x00, 0x01, 0x06,
	    0x03, 0x02, 0x01, 0x01);
	PUT(bl, 0x09, 0x02, 0x19, 0x00, 0x01, 0x01, 0x00, 0xe0, 0x00);
	PUT(bl, 0x09, 0x04, 0x00, 0x00, 0x01, 0x09, 0x00, 0x00, 0x00);
	PUT(bl, 0x07, 0x05, 0x81, 0x03, 0x04, 0x00, 0x0c);
	assert_int_equal(parse(bl, d, err, sizeof(err)), 0);
	assert_int_equal(d->vendor, 0x1d6b);
	assert_int_equal(d->product, 0x0002);
	assert_int_equal(d->bcd_device, 0x0601);
	assert_int_equal(d->dev_class, 0x09);
	assert_int_equal(d->n_ifaces, 1);
	assert_iface(&d->ifaces[0], 1, 0, 0, "09:00:00", 1);
	free(d);
	free(bl);
}

/* Two configurations: the interface list spans both, each tagged with its configuration. */
static void test_two_configs(void **state)
{
	(void)state;
	struct blob *bl = blob_new();
	struct mg_usb_desc *d = calloc(1, sizeof(*d));
	char err[128];
	PUT(bl, 0x12, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x40, 0x34, 0x12, 0x01, 0x00, 0x00, 0x01,
	    0x01, 0x02, 0x03, 0x02);
	PUT(bl, 0x09, 0x02, 0x20, 0x00, 0x01, 0x01, 0x00, 0x80, 0x32);
	PUT(bl, 0x09, 0x04, 0x00, 0x00, 0x02, 0x08, 0x06, 0x50, 0x00);
	PUT(bl, 0x07, 0x05, 0x81, 0x02, 0x00, 0x02, 0x00);
	PUT(bl, 0x07, 0x05, 0x02, 0x02, 0x00, 0x02, 0x00);
	PUT(bl, 0x09, 0x02, 0x19, 0x00, 0x01, 0x02, 0x00, 0x80, 0x32);
	PUT(bl, 0x09, 0x04, 0x00, 0x00, 0x01, 0xff, 0x00, 0x00, 0x00);
	PUT(bl, 0x07, 0x05, 0x83, 0x03, 0x08, 0x00, 0x0a);
	assert_int_equal(parse(bl, d, err, sizeof(err)), 0);
	assert_int_equal(d->num_configs, 2);
	assert_int_equal(d->n_configs, 2);
	assert_int_equal(d->n_ifaces, 2);
	assert_iface(&d->ifaces[0], 1, 0, 0, "08:06:50", 2);
	assert_iface(&d->ifaces[1], 2, 0, 0, "ff:00:00", 1);
	assert_int_equal(d->n_short_configs, 0);
	free(d);
	free(bl);
}

/* USB Audio 1.0 speaker: class-specific descriptors, alt settings, 9-byte audio endpoint. */
static void test_audio_alt_settings(void **state)
{
	(void)state;
	struct blob *bl = blob_new();
	struct mg_usb_desc *d = calloc(1, sizeof(*d));
	char err[128];
	PUT(bl, 0x12, 0x01, 0x10, 0x01, 0x00, 0x00, 0x00, 0x08, 0x8d, 0x0d, 0x0c, 0x00, 0x00, 0x01,
	    0x01, 0x02, 0x00, 0x01);
	PUT(bl, 0x09, 0x02, 0x4f, 0x00, 0x02, 0x01, 0x00, 0x80, 0x32);
	PUT(bl, 0x09, 0x04, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0x00);
	PUT(bl, 0x09, 0x24, 0x01, 0x00, 0x01, 0x09, 0x00, 0x01, 0x01);
	PUT(bl, 0x09, 0x04, 0x01, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00);
	PUT(bl, 0x09, 0x04, 0x01, 0x01, 0x01, 0x01, 0x02, 0x00, 0x00);
	PUT(bl, 0x07, 0x24, 0x01, 0x01, 0x01, 0x01, 0x00);
	PUT(bl, 0x0b, 0x24, 0x02, 0x01, 0x02, 0x02, 0x10, 0x01, 0x80, 0xbb, 0x00);
	PUT(bl, 0x09, 0x05, 0x01, 0x09, 0xc8, 0x00, 0x01, 0x00, 0x00);
	PUT(bl, 0x07, 0x25, 0x01, 0x01, 0x01, 0x01, 0x00);
	assert_int_equal(bl->n, 18 + 0x4f);
	assert_int_equal(parse(bl, d, err, sizeof(err)), 0);
	assert_int_equal(d->n_ifaces, 3);
	assert_iface(&d->ifaces[0], 1, 0, 0, "01:01:00", 0);
	assert_iface(&d->ifaces[1], 1, 1, 0, "01:02:00", 0);
	assert_iface(&d->ifaces[2], 1, 1, 1, "01:02:00", 1);
	free(d);
	free(bl);
}

/* A device descriptor alone: USBGuard accepts it (18 bytes processed), so do we. */
static void test_device_only(void **state)
{
	(void)state;
	struct blob *bl = blob_new();
	struct mg_usb_desc *d = calloc(1, sizeof(*d));
	char err[128];
	sandisk(bl);
	bl->n = 18;
	assert_int_equal(parse(bl, d, err, sizeof(err)), 0);
	assert_int_equal(d->n_configs, 0);
	assert_int_equal(d->n_ifaces, 0);
	free(d);
	free(bl);
}

/* wTotalLength past the blob (kernel short read): accepted and counted, like USBGuard. */
static void test_short_config_recorded(void **state)
{
	(void)state;
	struct blob *bl = blob_new();
	struct mg_usb_desc *d = calloc(1, sizeof(*d));
	char err[128];
	sandisk(bl);
	bl->n -= 7; /* the device "sent" 25 of its 32 configuration bytes */
	assert_int_equal(parse(bl, d, err, sizeof(err)), 0);
	assert_int_equal(d->n_short_configs, 1);
	assert_int_equal(d->n_ifaces, 1);
	free(d);
	free(bl);
}

/* Parses bl, expects rc and errmsg containing want; out must stay untouched. */
static void expect_fail(const struct blob *bl, int rc, const char *want)
{
	struct mg_usb_desc *d = malloc(sizeof(*d));
	assert_non_null(d);
	memset(d, 0xa5, sizeof(*d));
	char err[160];
	int r = parse(bl, d, err, sizeof(err));
	if (r != rc || !strstr(err, want))
		fail_msg("rc %d (want %d), errmsg \"%s\" (want \"%s\")", r, rc, err, want);
	for (size_t i = 0; i < sizeof(*d); i++)
		assert_int_equal(((const uint8_t *)d)[i], 0xa5);
	free(d);
}

static void test_truncated_header(void **state)
{
	(void)state;
	struct blob *bl = blob_new();
	expect_fail(bl, -EINVAL, "offset 0: empty");
	PUT(bl, 0x12);
	expect_fail(bl, -EINVAL, "offset 0: truncated descriptor header");
	bl->n = 0;
	sandisk(bl);
	PUT(bl, 0x07);
	expect_fail(bl, -EINVAL, "offset 50: truncated descriptor header (1 byte left)");
	free(bl);
}

static void test_bad_blength(void **state)
{
	(void)state;
	struct blob *bl = blob_new();
	sandisk(bl);
	PUT(bl, 0x00, 0x24);
	expect_fail(bl, -EINVAL, "offset 50: bLength 0 is less than 2");
	bl->b[50] = 0x01;
	expect_fail(bl, -EINVAL, "offset 50: bLength 1 is less than 2");
	bl->n = 0;
	PUT(bl, 0x00, 0x01);
	expect_fail(bl, -EINVAL, "offset 0: bLength 0 is less than 2");
	bl->n = 0;
	sandisk(bl);
	bl->n = 49; /* last endpoint cut by one byte */
	expect_fail(bl, -EINVAL,
	            "offset 43: bLength 7 runs past the end of the data (6 bytes left)");
	bl->n = 10; /* device descriptor cut */
	expect_fail(bl, -EINVAL, "offset 0: bLength 18 runs past the end");
	free(bl);
}

static void test_wrong_sizes(void **state)
{
	(void)state;
	struct blob *bl = blob_new();
	PUT(bl, 0x11, 0x01, 0x10, 0x02, 0x00, 0x00, 0x00, 0x40, 0x81, 0x07, 0x83, 0x55, 0x00, 0x01,
	    0x01, 0x02, 0x03);
	expect_fail(bl, -EINVAL, "offset 0: device descriptor of 17 bytes, expected 18");
	bl->n = 0;
	PUT(bl, 0x13, 0x01, 0x10, 0x02, 0x00, 0x00, 0x00, 0x40, 0x81, 0x07, 0x83, 0x55, 0x00, 0x01,
	    0x01, 0x02, 0x03, 0x01, 0x00);
	expect_fail(bl, -EINVAL, "offset 0: device descriptor of 19 bytes, expected 18");

	bl->n = 0;
	sandisk(bl);
	bl->b[18] = 0x0a; /* configuration bLength 10: covers one byte of the interface */
	expect_fail(bl, -EINVAL, "offset 18: configuration descriptor of 10 bytes, expected 9");
	bl->b[18] = 0x08;
	expect_fail(bl, -EINVAL, "offset 18: configuration descriptor of 8 bytes, expected 9");
	bl->b[18] = 0x09;
	bl->b[27] = 0x08;
	expect_fail(bl, -EINVAL, "offset 27: interface descriptor of 8 bytes, expected 9");
	bl->b[27] = 0x0a;
	expect_fail(bl, -EINVAL, "offset 27: interface descriptor of 10 bytes, expected 9");
	bl->b[27] = 0x09;
	bl->b[36] = 0x06;
	expect_fail(bl, -EINVAL, "offset 36: endpoint descriptor of 6 bytes, expected 7 or 9");
	bl->b[36] = 0x08;
	expect_fail(bl, -EINVAL, "offset 36: endpoint descriptor of 8 bytes, expected 7 or 9");
	free(bl);
}

static void test_ordering(void **state)
{
	(void)state;
	struct blob *bl = blob_new();
	/* configuration first */
	PUT(bl, 0x09, 0x02, 0x20, 0x00, 0x01, 0x01, 0x00, 0x80, 0x70);
	expect_fail(bl, -EINVAL, "offset 0: configuration descriptor before the device descriptor");
	/* interface right after the device descriptor */
	bl->n = 0;
	sandisk(bl);
	memmove(bl->b + 18, bl->b + 27, 50 - 27);
	bl->n = 50 - 9;
	expect_fail(bl, -EINVAL, "offset 18: interface descriptor before any configuration");
	/* endpoint right after the configuration */
	bl->n = 0;
	sandisk(bl);
	memmove(bl->b + 27, bl->b + 36, 50 - 36);
	bl->n = 50 - 9;
	expect_fail(bl, -EINVAL, "offset 27: endpoint descriptor before any interface");
	/* endpoint of a second configuration before its interface (USBGuard forgets interfaces) */
	bl->n = 0;
	sandisk(bl);
	PUT(bl, 0x09, 0x02, 0x10, 0x00, 0x01, 0x02, 0x00, 0x80, 0x32);
	PUT(bl, 0x07, 0x05, 0x83, 0x03, 0x08, 0x00, 0x0a);
	expect_fail(bl, -EINVAL, "offset 59: endpoint descriptor before any interface");
	/* an unknown type before the device descriptor (USBGuard would accept; the kernel never) */
	bl->n = 0;
	PUT(bl, 0x09, 0x21, 0x11, 0x01, 0x00, 0x01, 0x22, 0x41, 0x00);
	sandisk(bl);
	expect_fail(bl, -EINVAL, "offset 0: descriptor of type 0x21 before the device descriptor");
	free(bl);
}

static void test_two_device_descriptors(void **state)
{
	(void)state;
	struct blob *bl = blob_new();
	sandisk(bl);
	put(bl, bl->b, 18);
	expect_fail(bl, -EINVAL, "offset 50: second device descriptor");
	bl->n = 18;
	put(bl, bl->b, 18);
	expect_fail(bl, -EINVAL, "offset 18: second device descriptor");
	free(bl);
}

static void put_config_with_ifaces(struct blob *bl, size_t n)
{
	PUT(bl, 0x12, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x40, 0x34, 0x12, 0x01, 0x00, 0x00, 0x01,
	    0x00, 0x00, 0x00, 0x01);
	PUT(bl, 0x09, 0x02, 0xff, 0xff, 0xff, 0x01, 0x00, 0x80, 0x32);
	for (size_t i = 0; i < n; i++)
		PUT(bl, 0x09, 0x04, (uint8_t)(i & 0xff), (uint8_t)(i >> 8), 0x00, 0xff, 0x00, 0x00,
		    0x00);
}

static void test_too_many_ifaces(void **state)
{
	(void)state;
	struct blob *bl = blob_new();
	struct mg_usb_desc *d = calloc(1, sizeof(*d));
	char err[128];
	put_config_with_ifaces(bl, MG_USB_MAX_IFACES);
	assert_int_equal(parse(bl, d, err, sizeof(err)), 0);
	assert_int_equal(d->n_ifaces, MG_USB_MAX_IFACES);
	assert_int_equal(d->ifaces[MG_USB_MAX_IFACES - 1].number, 0xff);
	assert_int_equal(d->n_short_configs, 1); /* wTotalLength 0xffff */
	bl->n = 0;
	put_config_with_ifaces(bl, MG_USB_MAX_IFACES + 1);
	expect_fail(bl, -E2BIG, "offset 2331: more than 256 interface descriptors");
	free(d);
	free(bl);
}

static void test_too_many_configs(void **state)
{
	(void)state;
	struct blob *bl = blob_new();
	struct mg_usb_desc *d = calloc(1, sizeof(*d));
	char err[128];
	sandisk(bl);
	for (unsigned i = 1; i < MG_USB_MAX_CONFIGS; i++)
		PUT(bl, 0x09, 0x02, 0x09, 0x00, 0x00, (uint8_t)(i + 1), 0x00, 0x80, 0x32);
	assert_int_equal(parse(bl, d, err, sizeof(err)), 0);
	assert_int_equal(d->n_configs, MG_USB_MAX_CONFIGS);
	PUT(bl, 0x09, 0x02, 0x09, 0x00, 0x00, 0x21, 0x00, 0x80, 0x32);
	expect_fail(bl, -E2BIG, "offset 329: more than 32 configurations");
	free(d);
	free(bl);
}

/* Device + configuration, then vendor descriptors (type 0xff) up to exactly n bytes. */
static void fill_to(struct blob *bl, size_t n)
{
	sandisk(bl);
	while (bl->n < n) {
		size_t chunk = n - bl->n > 255 ? 255 : n - bl->n;
		if (n - bl->n - chunk == 1)
			chunk--; /* never leave a 1-byte tail */
		bl->b[bl->n] = (uint8_t)chunk;
		bl->b[bl->n + 1] = 0xff;
		memset(bl->b + bl->n + 2, 0x5a, chunk - 2);
		bl->n += chunk;
	}
}

static void test_size_limit(void **state)
{
	(void)state;
	struct blob *bl = blob_new();
	struct mg_usb_desc *d = calloc(1, sizeof(*d));
	char err[128];
	fill_to(bl, MG_USB_DESC_MAX);
	assert_int_equal(bl->n, MG_USB_DESC_MAX);
	assert_int_equal(parse(bl, d, err, sizeof(err)), 0);
	bl->n = 0;
	fill_to(bl, MG_USB_DESC_MAX + 2);
	expect_fail(bl, -E2BIG, "offset 65536: blob of 65538 bytes exceeds 65536");
	free(d);
	free(bl);
}

static void test_api_edges(void **state)
{
	(void)state;
	struct blob *bl = blob_new();
	struct mg_usb_desc *d = calloc(1, sizeof(*d));
	char small[12];
	sandisk(bl);
	assert_int_equal(mg_usb_desc_parse(bl->b, bl->n, d, NULL, 0), 0);
	assert_int_equal(mg_usb_desc_parse(NULL, 5, d, NULL, 0), -EINVAL);
	assert_int_equal(mg_usb_desc_parse(bl->b, bl->n, NULL, NULL, 0), -EINVAL);
	/* A message longer than the buffer is cut, still terminated. */
	bl->b[18] = 0x08;
	assert_int_equal(mg_usb_desc_parse(bl->b, bl->n, d, small, sizeof(small)), -EINVAL);
	assert_string_equal(small, "offset 18: ");
	char buf[9];
	mg_usb_iftype_format((struct mg_usb_iftype){.cls = 0xe0, .sub = 0x01, .proto = 0x0a}, buf);
	assert_string_equal(buf, "e0:01:0a");
	free(d);
	free(bl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sandisk),
	    cmocka_unit_test(test_keyboard),
	    cmocka_unit_test(test_composite),
	    cmocka_unit_test(test_usb3),
	    cmocka_unit_test(test_root_hub),
	    cmocka_unit_test(test_two_configs),
	    cmocka_unit_test(test_audio_alt_settings),
	    cmocka_unit_test(test_device_only),
	    cmocka_unit_test(test_short_config_recorded),
	    cmocka_unit_test(test_truncated_header),
	    cmocka_unit_test(test_bad_blength),
	    cmocka_unit_test(test_wrong_sizes),
	    cmocka_unit_test(test_ordering),
	    cmocka_unit_test(test_two_device_descriptors),
	    cmocka_unit_test(test_too_many_ifaces),
	    cmocka_unit_test(test_too_many_configs),
	    cmocka_unit_test(test_size_limit),
	    cmocka_unit_test(test_api_edges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
