/*
 * The shipped rule profiles (the .conf files of deploy/rules/) decide the catalog's devices as
 * their comments promise: hubs, card readers and HID devices allowed; storage, phones, network,
 * Bluetooth, printers and vendor devices blocked; a device without any interface (which an
 * empty interface set lets through `with-interface match-all`) is not taken for a hub.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "device.h"
#include "rules.h"
#include "usb_catalog.h"
#include "usb_desc.h"

#ifndef MG_PROFILE_DIR
#error "MG_PROFILE_DIR must name deploy/rules"
#endif

static struct mg_ruleset *load_profile(const char *name)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", MG_PROFILE_DIR, name);
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s", path);
	static char text[65536];
	size_t n = fread(text, 1, sizeof(text), f);
	fclose(f);
	assert_true(n < sizeof(text));
	struct mg_ruleset *rs = NULL;
	struct mg_rule_error err;
	char buf[512];
	if (mg_ruleset_parse(name, text, n, &rs, &err) != 0)
		fail_msg("%s: %s", name, mg_rule_error_str(&err, buf, sizeof(buf)));
	return rs;
}

/* A device as the agent sees it, from raw descriptors (strings empty). */
static struct mg_device *device_from(const uint8_t *blob, size_t len, uint16_t vid, uint16_t pid)
{
	struct mg_device *d = calloc(1, sizeof(*d));
	assert_non_null(d);
	char why[256] = "";
	if (mg_usb_desc_parse(blob, len, &d->desc, why, sizeof(why)) != 0)
		fail_msg("descriptors refused: %s", why);
	d->syspath = strdup("/devices/pci0000:00/0000:00:14.0/usb1/1-1");
	d->port = strdup("1-1");
	d->name = strdup("");
	d->serial = strdup("");
	d->connect_type = strdup("hotplug");
	d->hash = strdup("x");
	d->parent_hash = strdup("y");
	assert_non_null(d->hash);
	d->vendor = vid;
	d->product = pid;
	snprintf(d->vendor_id, sizeof(d->vendor_id), "%04x", vid);
	snprintf(d->product_id, sizeof(d->product_id), "%04x", pid);
	return d;
}

static enum mg_target decide(const struct mg_ruleset *rs, const struct mg_device *d)
{
	const struct mg_rule *r = mg_ruleset_match(rs, d, 0);
	return r ? mg_rule_target(r) : MG_TARGET_BLOCK; /* implicit_target = block */
}

static enum mg_target decide_catalog(const struct mg_ruleset *rs, const char *key)
{
	const struct mg_cat_device *c = mg_cat_find(key);
	if (!c)
		fail_msg("no catalog device %s", key);
	struct mg_device *d =
	    device_from(c->descriptors, c->descriptors_len, c->vendor, c->product);
	enum mg_target t = decide(rs, d);
	mg_device_free(&d);
	return t;
}

struct want {
	const char *key;
	enum mg_target normal, strict;
};

static const struct want wants[] = {
    {MG_CAT_ROOT_HUB_USB2, MG_TARGET_ALLOW, MG_TARGET_ALLOW},
    {MG_CAT_ROOT_HUB_USB3, MG_TARGET_ALLOW, MG_TARGET_ALLOW},
    {"hub", MG_TARGET_ALLOW, MG_TARGET_ALLOW}, /* multi-TT: two hub interface descriptors */
    {"keyboard", MG_TARGET_ALLOW, MG_TARGET_ALLOW},
    {"mouse", MG_TARGET_ALLOW, MG_TARGET_ALLOW},
    {"fido_key", MG_TARGET_ALLOW, MG_TARGET_ALLOW},
    {"ccid_reader", MG_TARGET_ALLOW, MG_TARGET_ALLOW},
    /* HID plus storage: the HID side only (block_interfaces), or rejected whole. */
    {"keyboard_storage", MG_TARGET_ALLOW, MG_TARGET_REJECT},
    {"badusb", MG_TARGET_ALLOW, MG_TARGET_REJECT},
    {"flash_sandisk", MG_TARGET_BLOCK, MG_TARGET_BLOCK},
    {"flash_kingston", MG_TARGET_BLOCK, MG_TARGET_BLOCK},
    {"hdd_uas", MG_TARGET_BLOCK, MG_TARGET_BLOCK},
    {"sd_reader", MG_TARGET_BLOCK, MG_TARGET_BLOCK},
    {"phone_mtp", MG_TARGET_BLOCK, MG_TARGET_BLOCK},
    {"phone_rndis", MG_TARGET_BLOCK, MG_TARGET_BLOCK},
    {"eth_rtl8153", MG_TARGET_BLOCK, MG_TARGET_BLOCK},
    {"wifi_rtl8812bu", MG_TARGET_BLOCK, MG_TARGET_BLOCK},
    {"bt_csr", MG_TARGET_BLOCK, MG_TARGET_BLOCK},
    {"printer", MG_TARGET_BLOCK, MG_TARGET_BLOCK},
    {"vendor_pasori", MG_TARGET_BLOCK, MG_TARGET_BLOCK},
};

static void catalog_decisions(void **state)
{
	(void)state;
	struct mg_ruleset *normal = load_profile("mynumber-terminal.conf");
	struct mg_ruleset *strict = load_profile("mynumber-terminal-strict.conf");
	for (size_t i = 0; i < sizeof(wants) / sizeof(wants[0]); i++) {
		enum mg_target n = decide_catalog(normal, wants[i].key);
		enum mg_target s = decide_catalog(strict, wants[i].key);
		if (n != wants[i].normal || s != wants[i].strict)
			fail_msg("%s: %s / %s (want %s / %s)", wants[i].key, mg_target_name(n),
			         mg_target_name(s), mg_target_name(wants[i].normal),
			         mg_target_name(wants[i].strict));
	}
	mg_ruleset_free(&normal);
	mg_ruleset_free(&strict);
}

/* A device descriptor and a configuration with no interface at all (bNumInterfaces 0). */
static const uint8_t no_interfaces[] = {
    18, 1, 0x00, 0x02, 0x00, 0x00, 0x00, 64, 0x34, 0x12, 0x78, 0x56, 0x00, 0x01,
    0,  0, 0,    1,    9,    2,    9,    0,  0,    1,    0,    0x80, 50,
};

/* A hub whose only interface is a hub interface in a second descriptor set (single TT). */
static const uint8_t single_tt_hub[] = {
    18, 1, 0x00, 0x02, 0x09, 0x00, 0x01, 64, 0x09, 0x04, 0x01, 0x00, 0x00, 0x01, 0,
    0,  0, 1,    9,    2,    25,   0,    1,  1,    0,    0xe0, 0,    9,    4,    0,
    0,  1, 0x09, 0x00, 0x00, 0,    7,    5,  0x81, 3,    1,    0,    12,
};

static void interfaceless_device_is_not_a_hub(void **state)
{
	(void)state;
	const char *profiles[] = {"mynumber-terminal.conf", "mynumber-terminal-strict.conf"};
	for (size_t p = 0; p < 2; p++) {
		struct mg_ruleset *rs = load_profile(profiles[p]);
		struct mg_device *d =
		    device_from(no_interfaces, sizeof(no_interfaces), 0x1234, 0x5678);
		assert_int_equal(d->desc.n_ifaces, 0);
		if (decide(rs, d) != MG_TARGET_BLOCK)
			fail_msg("%s allows a device without interfaces", profiles[p]);
		mg_device_free(&d);
		d = device_from(single_tt_hub, sizeof(single_tt_hub), 0x0409, 0x0001);
		assert_int_equal(d->desc.n_ifaces, 1);
		assert_int_equal(decide(rs, d), MG_TARGET_ALLOW);
		mg_device_free(&d);
		mg_ruleset_free(&rs);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(catalog_decisions),
	    cmocka_unit_test(interfaceless_device_is_not_a_hub),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
