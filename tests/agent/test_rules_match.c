/*
 * Rule matching against hand-built devices: every set operator, wildcards, expiry, hostile
 * device strings, mg_rule_names_interface and mg_rule_generate.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"

#define NOW 1767225600000000 /* 2026-01-01T00:00:00Z */

static char *dup(const char *s)
{
	char *d = s ? strdup(s) : NULL;
	if (s)
		assert_non_null(d);
	return d;
}

static void dev_set(struct mg_device *d, uint16_t vendor, uint16_t product, const char *serial,
                    const char *name)
{
	memset(d, 0, sizeof(*d));
	d->vendor = vendor;
	d->product = product;
	snprintf(d->vendor_id, sizeof(d->vendor_id), "%04x", vendor);
	snprintf(d->product_id, sizeof(d->product_id), "%04x", product);
	d->serial = dup(serial);
	d->name = dup(name);
	d->port = dup("1-2");
	d->connect_type = dup("hotplug");
	d->hash = dup("HASH=");
	d->parent_hash = dup("PARENT=");
	d->syspath = dup("/devices/pci0000:00/0000:00:14.0/usb1/1-2");
}

static void dev_ifaces(struct mg_device *d, const char *types)
{
	d->desc.n_ifaces = 0;
	for (const char *p = types; *p;) {
		unsigned c, s, pr;
		assert_int_equal(sscanf(p, "%2x:%2x:%2x", &c, &s, &pr), 3);
		struct mg_usb_iface *f = &d->desc.ifaces[d->desc.n_ifaces];
		f->number = (uint8_t)d->desc.n_ifaces;
		f->type = (struct mg_usb_iftype){(uint8_t)c, (uint8_t)s, (uint8_t)pr};
		d->desc.n_ifaces++;
		p += 8;
		while (*p == ' ')
			p++;
	}
}

static void dev_free(struct mg_device *d)
{
	free(d->serial);
	free(d->name);
	free(d->port);
	free(d->connect_type);
	free(d->hash);
	free(d->parent_hash);
	free(d->syspath);
	memset(d, 0, sizeof(*d));
}

static struct mg_ruleset *parse1(const char *text)
{
	struct mg_ruleset *rs = NULL;
	struct mg_rule_error err;
	char msg[600];
	int r = mg_ruleset_parse("t", text, strlen(text), &rs, &err);
	if (r < 0)
		fail_msg("%s: %s", text, mg_rule_error_str(&err, msg, sizeof(msg)));
	assert_int_equal(mg_ruleset_count(rs), 1);
	return rs;
}

/* Whether the single rule text matches d, checked through both public entry points. */
static bool m(const char *text, const struct mg_device *d)
{
	struct mg_ruleset *rs = parse1(text);
	const struct mg_rule *r = mg_ruleset_rule(rs, 0);
	bool a = mg_rule_matches(r, d, NOW);
	bool b = mg_ruleset_match(rs, d, NOW) == r;
	if (a != b)
		fail_msg("%s: mg_rule_matches %d, mg_ruleset_match %d", text, a, b);
	mg_ruleset_free(&rs);
	return a;
}

#define YES(rule, dev) assert_true(m(rule, dev))
#define NO(rule, dev)  assert_false(m(rule, dev))

static void test_interface_operators(void **state)
{
	(void)state;
	struct mg_device d;
	dev_set(&d, 0x0781, 0x5567, "S", "N");
	dev_ifaces(&d, "08:06:50 03:01:01");

	/* equals (the default): same size, every rule value present, order free. */
	YES("allow with-interface { 08:06:50 03:01:01 }", &d);
	YES("allow with-interface equals { 03:01:01 08:06:50 }", &d);
	YES("allow with-interface { 08:*:* 03:*:* }", &d);
	NO("allow with-interface 08:06:50", &d);
	NO("allow with-interface { 08:06:50 }", &d);
	NO("allow with-interface { 08:06:50 03:01:01 03:01:01 }", &d);
	/* USBGuard's equals is not a bijection: a duplicate may stand for a missing value. */
	YES("allow with-interface { 08:06:50 08:06:50 }", &d);
	NO("allow with-interface { 08:06:50 03:00:00 }", &d);

	/* equals-ordered: same size, pairwise in order. */
	YES("allow with-interface equals-ordered { 08:06:50 03:01:01 }", &d);
	YES("allow with-interface equals-ordered { 08:*:* 03:01:* }", &d);
	NO("allow with-interface equals-ordered { 03:01:01 08:06:50 }", &d);
	NO("allow with-interface equals-ordered { 08:06:50 }", &d);

	/* all-of: every rule value present; the device may have more. */
	YES("allow with-interface all-of { 08:*:* }", &d);
	YES("allow with-interface all-of { 08:*:* 03:01:01 }", &d);
	YES("allow with-interface all-of { 03:01:01 03:01:01 }", &d);
	NO("allow with-interface all-of { 08:*:* 03:00:* }", &d);

	/* one-of / none-of. */
	YES("allow with-interface one-of { e0:*:* 03:01:* }", &d);
	NO("allow with-interface one-of { e0:*:* 02:*:* }", &d);
	YES("allow with-interface none-of { e0:*:* 02:*:* }", &d);
	NO("allow with-interface none-of { e0:*:* 08:06:* }", &d);

	/* match-all: every device interface covered by some rule value. */
	YES("allow with-interface match-all { 08:*:* 03:*:* e0:*:* }", &d);
	YES("allow with-interface match-all { 08:06:50 03:01:01 }", &d);
	NO("allow with-interface match-all { 08:*:* }", &d);
	NO("allow with-interface match-all { 08:06:*  03:00:* }", &d);

	/* Wildcards: cc:*:* and cc:ss:* only look at what they name. */
	dev_ifaces(&d, "03:00:00");
	YES("allow with-interface 03:*:*", &d);
	YES("allow with-interface 03:00:*", &d);
	YES("allow with-interface 03:00:00", &d);
	NO("allow with-interface 03:01:*", &d);
	NO("allow with-interface 03:00:01", &d);
	NO("allow with-interface 0a:*:*", &d);

	/* Duplicates on the device side (alternate settings). */
	dev_ifaces(&d, "03:01:01 03:01:01");
	NO("allow with-interface 03:01:01", &d);
	YES("allow with-interface { 03:01:01 03:01:01 }", &d);
	NO("allow with-interface { 03:01:01 03:00:00 }", &d);
	YES("allow with-interface match-all { 03:01:01 }", &d);
	YES("allow with-interface equals-ordered { 03:01:01 03:01:* }", &d);

	/* A device without interfaces. */
	dev_ifaces(&d, "");
	NO("allow with-interface 08:*:*", &d);
	NO("allow with-interface all-of { 08:*:* }", &d);
	NO("allow with-interface one-of { 08:*:* }", &d);
	YES("allow with-interface none-of { 08:*:* }", &d);
	YES("allow with-interface match-all { 08:*:* }", &d);
	NO("allow with-interface equals-ordered { 08:*:* }", &d);
	YES("allow", &d);
	dev_free(&d);
}

static void test_string_operators(void **state)
{
	(void)state;
	struct mg_device d;
	dev_set(&d, 0x1050, 0x0407, "S1", "YubiKey");
	YES("allow serial \"S1\"", &d);
	NO("allow serial \"s1\"", &d); /* bytewise, case matters */
	NO("allow serial \"S\"", &d);
	NO("allow serial \"S1 \"", &d);
	YES("allow serial equals { \"S1\" }", &d);
	NO("allow serial { \"S1\" \"S1\" }", &d); /* two values, the device has one */
	NO("allow serial { \"S1\" \"x\" }", &d);
	YES("allow serial equals-ordered { \"S1\" }", &d);
	NO("allow serial equals-ordered { \"S1\" \"S1\" }", &d);
	YES("allow serial one-of { \"x\" \"S1\" }", &d);
	NO("allow serial one-of { \"x\" \"y\" }", &d);
	NO("allow serial none-of { \"x\" \"S1\" }", &d);
	YES("allow serial none-of { \"x\" \"y\" }", &d);
	YES("allow serial all-of { \"S1\" \"S1\" }", &d);
	NO("allow serial all-of { \"S1\" \"x\" }", &d);
	/* match-all as documented (USBGuard 1.1's code matches anything here). */
	YES("allow serial match-all { \"x\" \"S1\" }", &d);
	NO("allow serial match-all { \"x\" }", &d);

	/* Every string attribute reads its own device field; label never matters. */
	YES("allow name \"YubiKey\" hash \"HASH=\" parent-hash \"PARENT=\" via-port \"1-2\" "
	    "with-connect-type \"hotplug\" label \"anything\"",
	    &d);
	NO("allow name \"YubiKey\" hash \"HASH=\" parent-hash \"PARENT=\" via-port \"1-3\"", &d);
	NO("allow with-connect-type \"hardwired\"", &d);
	NO("allow parent-hash \"HASH=\"", &d);
	YES("allow label none-of { \"anything\" }", &d);

	/* A device without a serial (NULL) has the serial "". */
	free(d.serial);
	d.serial = NULL;
	YES("allow serial \"\"", &d);
	NO("allow serial \"S1\"", &d);
	YES("allow serial none-of { \"S1\" }", &d);
	dev_free(&d);
}

static void test_id_matching(void **state)
{
	(void)state;
	struct mg_device d;
	dev_set(&d, 0x1d6b, 0x0002, "", "");
	YES("allow id 1d6b:0002", &d);
	YES("allow id 1D6B:0002", &d); /* hex, either case */
	YES("allow 1d6b:0002", &d);
	YES("allow id 1d6b:*", &d);
	YES("allow id *:*", &d);
	NO("allow id 1d6b:0003", &d);
	NO("allow id 1d6a:0002", &d);
	NO("allow id 1d6a:*", &d);
	YES("allow id one-of { 1234:5678 1d6b:* }", &d);
	NO("allow id one-of { 1234:5678 1d6a:* }", &d);
	NO("allow id none-of { 1234:5678 1d6b:* }", &d);
	YES("allow id none-of { 1234:5678 1d6a:* }", &d);
	YES("allow id all-of { 1d6b:* 1d6b:0002 *:* }", &d);
	NO("allow id all-of { 1d6b:* 1d6b:0003 }", &d);
	YES("allow id match-all { 1d6b:* }", &d);
	NO("allow id match-all { 1d6a:* }", &d);
	NO("allow id { 1d6b:0002 1d6b:0002 }", &d);
	YES("allow id equals-ordered { *:* }", &d);
	/* Attributes combine with AND. */
	YES("allow id 1d6b:0002 serial \"\" name \"\"", &d);
	NO("allow id 1d6b:0002 serial \"x\"", &d);
	dev_free(&d);
}

static void test_expiry(void **state)
{
	(void)state;
	struct mg_device d;
	dev_set(&d, 0x1050, 0x0407, "S", "N");
	const char *text = "allow id 1050:0407 expires \"2026-12-31T17:00:00+09:00\"\n"
	                   "block\n";
	struct mg_ruleset *rs = NULL;
	struct mg_rule_error err;
	assert_int_equal(mg_ruleset_parse("t", text, strlen(text), &rs, &err), 0);
	const struct mg_rule *temp = mg_ruleset_rule(rs, 0), *deny = mg_ruleset_rule(rs, 1);
	const int64_t exp = 1798704000000000; /* 2026-12-31T08:00:00Z */
	assert_true(mg_rule_expires_us(temp) == exp);
	assert_true(mg_rule_matches(temp, &d, exp - 1));
	assert_false(mg_rule_matches(temp, &d, exp));
	assert_false(mg_rule_matches(temp, &d, exp + 1));
	assert_ptr_equal(mg_ruleset_match(rs, &d, exp - 1), temp);
	assert_ptr_equal(mg_ruleset_match(rs, &d, exp), deny);
	assert_ptr_equal(mg_ruleset_match(rs, &d, exp + 86400000000), deny);
	mg_ruleset_free(&rs);
	dev_free(&d);
}

static void test_hostile_strings(void **state)
{
	(void)state;
	struct mg_device d;
	dev_set(&d, 0x1234, 0x5678, "a\"b\\c\n\xff", "\x01\x7f\xe6\x9d\xb1\t\r");
	YES("allow serial \"a\\\"b\\\\c\\x0a\\xff\"", &d);
	YES("allow serial \"a\\\"b\\\\c\\x0A\\xFF\" name \"\\x01\\x7f\xe6\x9d\xb1\\x09\\x0d\"", &d);
	NO("allow serial \"a\\\"b\\\\c\\x0a\"", &d);
	NO("allow serial \"a\\\"b\\\\c\\x0a\\xff\\x00\"", &d); /* \x00 never matches a C string */

	/* A 4 KiB serial of every byte value but NUL, through generate. */
	char *big = malloc(4097);
	assert_non_null(big);
	for (size_t i = 0; i < 4096; i++)
		big[i] = (char)(i % 255 + 1);
	big[4096] = '\0';
	free(d.serial);
	d.serial = big;
	char *text = NULL;
	assert_int_equal(mg_rule_generate(&d, MG_TARGET_ALLOW, false, &text), 0);
	assert_true(strlen(text) > 10000);
	YES(text, &d);
	big[4095] = 'x'; /* one byte differs (it was 0x10) */
	NO(text, &d);
	big[4095] = '\0'; /* a prefix */
	NO(text, &d);
	free(text);
	dev_free(&d);
}

/* Quoting across the printer's internal chunk size: every length round-trips. */
static void test_quoting_lengths(void **state)
{
	(void)state;
	struct mg_device d;
	dev_set(&d, 0x1234, 0x5678, "", "");
	for (size_t plain = 0; plain < 8; plain++) {
		for (size_t esc = 55; esc < 75; esc++) {
			char name[128];
			memset(name, 'a', plain);
			memset(name + plain, 0x7f, esc);
			name[plain + esc] = '\0';
			free(d.name);
			d.name = dup(name);
			char *text = NULL;
			assert_int_equal(mg_rule_generate(&d, MG_TARGET_ALLOW, false, &text), 0);
			struct mg_ruleset *rs = parse1(text);
			assert_string_equal(mg_rule_text(mg_ruleset_rule(rs, 0)), text);
			assert_true(mg_rule_matches(mg_ruleset_rule(rs, 0), &d, NOW));
			mg_ruleset_free(&rs);
			free(text);
		}
	}
	dev_free(&d);
}

static void test_names_interface(void **state)
{
	(void)state;
	const char *text = "allow with-interface { 08:06:50 03:01:01 }\n"
	                   "allow with-interface 08:*:*\n"
	                   "allow with-interface one-of { 08:06:* e0:*:* }\n"
	                   "block with-interface none-of { 08:*:* }\n"
	                   "allow id 1234:5678\n";
	struct mg_ruleset *rs = NULL;
	struct mg_rule_error err;
	assert_int_equal(mg_ruleset_parse("t", text, strlen(text), &rs, &err), 0);
	const struct mg_usb_iftype msc = {0x08, 0x06, 0x50}, msc_uas = {0x08, 0x06, 0x62},
	                           kbd = {0x03, 0x01, 0x01}, mouse = {0x03, 0x01, 0x02},
	                           bt = {0xe0, 0x01, 0x01};
	const struct mg_rule *r0 = mg_ruleset_rule(rs, 0), *r1 = mg_ruleset_rule(rs, 1),
	                     *r2 = mg_ruleset_rule(rs, 2), *r3 = mg_ruleset_rule(rs, 3),
	                     *r4 = mg_ruleset_rule(rs, 4);
	assert_true(mg_rule_names_interface(r0, msc));
	assert_true(mg_rule_names_interface(r0, kbd));
	assert_false(mg_rule_names_interface(r0, msc_uas));
	assert_false(mg_rule_names_interface(r0, mouse));
	assert_true(mg_rule_names_interface(r1, msc));
	assert_true(mg_rule_names_interface(r1, msc_uas));
	assert_false(mg_rule_names_interface(r1, kbd));
	assert_true(mg_rule_names_interface(r2, msc_uas));
	assert_true(mg_rule_names_interface(r2, bt));
	assert_false(mg_rule_names_interface(r2, kbd));
	assert_false(mg_rule_names_interface(r3, msc)); /* excluded, not named */
	assert_false(mg_rule_names_interface(r3, kbd));
	assert_false(mg_rule_names_interface(r4, msc));
	assert_false(mg_rule_names_interface(NULL, msc));
	mg_ruleset_free(&rs);
}

static void test_generate(void **state)
{
	(void)state;
	struct mg_device d;
	dev_set(&d, 0x1050, 0x0407, "0001234", "YubiKey OTP+FIDO+CCID");
	dev_ifaces(&d, "03:01:01 03:00:00 0b:00:00");
	char *text = NULL;
	assert_int_equal(mg_rule_generate(&d, MG_TARGET_ALLOW, false, &text), 0);
	assert_string_equal(text,
	                    "allow id 1050:0407 serial \"0001234\" name \"YubiKey OTP+FIDO+CCID\" "
	                    "hash \"HASH=\" parent-hash \"PARENT=\" with-interface { 03:01:01 "
	                    "03:00:00 0b:00:00 } with-connect-type \"hotplug\"");
	YES(text, &d);
	free(text);

	/* With the port; one interface prints bare; a serial-less device gets serial "". */
	free(d.serial);
	d.serial = NULL;
	dev_ifaces(&d, "08:06:50");
	assert_int_equal(mg_rule_generate(&d, MG_TARGET_BLOCK, true, &text), 0);
	assert_string_equal(text,
	                    "block id 1050:0407 serial \"\" name \"YubiKey OTP+FIDO+CCID\" hash "
	                    "\"HASH=\" parent-hash \"PARENT=\" via-port \"1-2\" with-interface "
	                    "08:06:50 with-connect-type \"hotplug\"");
	YES(text, &d);
	struct mg_ruleset *rs = parse1(text);
	assert_string_equal(mg_rule_text(mg_ruleset_rule(rs, 0)), text);
	assert_int_equal(mg_rule_target(mg_ruleset_rule(rs, 0)), MG_TARGET_BLOCK);
	mg_ruleset_free(&rs);
	free(text);

	/* No interfaces: no with-interface; quotes and bytes escaped. */
	dev_ifaces(&d, "");
	free(d.name);
	d.name = dup("say \"hi\" \\ \xe6\x9d\xb1");
	assert_int_equal(mg_rule_generate(&d, MG_TARGET_REJECT, false, &text), 0);
	assert_string_equal(text, "reject id 1050:0407 serial \"\" name \"say \\\"hi\\\" \\\\ "
	                          "\\xe6\\x9d\\xb1\" hash \"HASH=\" parent-hash \"PARENT=\" "
	                          "with-connect-type \"hotplug\"");
	YES(text, &d);
	free(text);

	/* Another device does not match the generated rule. */
	struct mg_device other;
	dev_set(&other, 0x1050, 0x0407, "", "YubiKey OTP+FIDO+CCID");
	free(other.hash);
	other.hash = dup("OTHER=");
	assert_int_equal(mg_rule_generate(&d, MG_TARGET_ALLOW, false, &text), 0);
	NO(text, &other);
	free(text);

	/* Bad arguments; output past the parser's limits is refused. */
	text = NULL;
	assert_int_equal(mg_rule_generate(NULL, MG_TARGET_ALLOW, false, &text), -EINVAL);
	assert_int_equal(mg_rule_generate(&d, MG_TARGET_ALLOW, false, NULL), -EINVAL);
	char *huge = calloc(1, 20000);
	assert_non_null(huge);
	memset(huge, 'a', 19999);
	free(other.serial);
	other.serial = huge;
	assert_int_equal(mg_rule_generate(&other, MG_TARGET_ALLOW, false, &text), -E2BIG);
	assert_null(text);
	dev_free(&other);
	dev_free(&d);
}

/* ---- conditions (if ...) ---- */

static struct mg_ruleset *parse_set(const char *text)
{
	struct mg_ruleset *rs = NULL;
	struct mg_rule_error err;
	char msg[600];
	if (mg_ruleset_parse("t", text, strlen(text), &rs, &err) < 0)
		fail_msg("%s: %s", text, mg_rule_error_str(&err, msg, sizeof(msg)));
	return rs;
}

static struct mg_rule_env env_at(int32_t daytime, int64_t mono_us)
{
	struct mg_rule_env e = {.mono_us = mono_us, .daytime = daytime};
	return e;
}

/* The target decided for d under text at env (block: no rule). */
static const char *decided(struct mg_ruleset *rs, const struct mg_device *d,
                           const struct mg_rule_env *e)
{
	const struct mg_rule *r = mg_ruleset_decide(rs, d, NOW, e);
	return r ? mg_rule_text(r) : "(none)";
}

static void test_condition_operators(void **state)
{
	(void)state;
	struct mg_device d;
	dev_set(&d, 0x1234, 0x5678, "S", "N");
	struct mg_rule_env e = env_at(36000, 1000000);
	const struct {
		const char *cond;
		bool holds;
	} cases[] = {
	    {"true", true},
	    {"false", false},
	    {"!true", false},
	    {"!false", true},
	    {"{ true true }", true},
	    {"{ true false }", false},
	    {"equals { true false }", false},
	    {"all-of { true !false }", true},
	    {"all-of { true false }", false},
	    {"one-of { false true }", true},
	    {"one-of { false !true }", false},
	    {"none-of { false false }", true},
	    {"none-of { false true }", false},
	    {"equals-ordered { true true }", true},
	    {"match-all { true false }", false},
	    {"match-all { true }", true},
	    {"random(0)", false},
	    {"random(1)", true},
	    {"!random(0)", true},
	    {"localtime(10:00)", true}, /* 10:00:00 exactly */
	    {"localtime(10:00:01)", false},
	    {"localtime(09:00-10:00)", true}, /* the end is included */
	    {"localtime(10:00:01-11:00)", false},
	    {"localtime(08:00 - 17:00)", true},
	    {"!localtime(08:00-17:00)", false},
	    {"allowed-matches(id 1234:5678)", false}, /* no device allowed in this env */
	    {"!allowed-matches(id 1234:5678)", true},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[200];
		snprintf(text, sizeof(text), "allow id 1234:5678 if %s", cases[i].cond);
		struct mg_ruleset *rs = parse1(text);
		const bool got = mg_ruleset_decide(rs, &d, NOW, &e) != NULL;
		if (got != cases[i].holds)
			fail_msg("%s: %s, want %s", text, got ? "holds" : "does not hold",
			         cases[i].holds ? "holds" : "does not hold");
		/* Attributes first: another device never reaches the conditions. */
		struct mg_device other;
		dev_set(&other, 0x1234, 0x9999, "S", "N");
		assert_null(mg_ruleset_decide(rs, &other, NOW, &e));
		dev_free(&other);
		mg_ruleset_free(&rs);
	}
	/* random(0.5): both outcomes within 200 tries. */
	struct mg_ruleset *rs = parse1("allow if random");
	unsigned yes = 0;
	for (int i = 0; i < 200; i++)
		yes += mg_ruleset_decide(rs, &d, NOW, &e) != NULL;
	assert_true(yes > 0 && yes < 200);
	mg_ruleset_free(&rs);
	dev_free(&d);
}

/* A rule whose conditions fail is passed over: the next matching rule decides. */
static void test_condition_falls_through(void **state)
{
	(void)state;
	struct mg_device d;
	dev_set(&d, 0x1234, 0x5678, "S", "N");
	struct mg_ruleset *rs = parse_set("allow id 1234:5678 if localtime(08:00-17:00)\n"
	                                  "block id 1234:5678\n");
	struct mg_rule_env day = env_at(9 * 3600, 1), night = env_at(20 * 3600, 2);
	assert_string_equal(decided(rs, &d, &day), "allow id 1234:5678 if localtime(08:00-17:00)");
	assert_string_equal(decided(rs, &d, &night), "block id 1234:5678");
	/* The boundaries the agent's timer waits for: the begin and one second after the end. */
	assert_int_equal(mg_ruleset_next_daytime_change(rs, 7 * 3600), 3600);
	assert_int_equal(mg_ruleset_next_daytime_change(rs, 8 * 3600), 9 * 3600 + 1);
	assert_int_equal(mg_ruleset_next_daytime_change(rs, 17 * 3600 + 1800), 14 * 3600 + 1800);
	mg_ruleset_free(&rs);
	rs = parse_set("allow\n");
	assert_int_equal(mg_ruleset_next_daytime_change(rs, 0), -1);
	mg_ruleset_free(&rs);
	dev_free(&d);
}

static bool allowed_1234(void *arg, const struct mg_rule *query)
{
	return mg_rule_matches(query, arg, NOW);
}

/* rule-evaluated, rule-applied (with and without a duration) and allowed-matches. */
static void test_condition_history(void **state)
{
	(void)state;
	struct mg_device d, allowed;
	dev_set(&d, 0x1234, 0x5678, "S", "N");
	dev_set(&allowed, 0x046d, 0xc31c, "K", "Keyboard");
	struct mg_ruleset *rs = parse_set("allow id 1234:5678 if !rule-evaluated\n");
	struct mg_rule_env e = env_at(0, 1000000);
	/* mg_ruleset_match records nothing: still never evaluated. */
	assert_non_null(mg_ruleset_match_env(rs, &d, NOW, &e));
	assert_non_null(mg_ruleset_decide(rs, &d, NOW, &e));
	assert_null(mg_ruleset_decide(rs, &d, NOW, &e)); /* evaluated once now */
	mg_ruleset_free(&rs);

	rs =
	    parse_set("allow id 1234:5678 if one-of { localtime(10:00-11:00) rule-applied(60) }\n");
	struct mg_rule_env t0 = env_at(10 * 3600, 1000000), t1 = env_at(12 * 3600, 31000000),
	                   t2 = env_at(12 * 3600, 200000000);
	assert_null(mg_ruleset_decide(rs, &d, NOW, &t1)); /* not applied yet, outside */
	assert_non_null(mg_ruleset_decide(rs, &d, NOW, &t0));
	assert_non_null(mg_ruleset_decide(rs, &d, NOW, &t1)); /* applied 30 s ago */
	/* t1 applied it again; 169 s later the window of 60 s has passed. */
	assert_null(mg_ruleset_decide(rs, &d, NOW, &t2));
	mg_ruleset_free(&rs);

	rs = parse_set("allow id 1234:5678 if rule-applied\nallow id 1234:5678 if true\n");
	assert_string_equal(decided(rs, &d, &e), "allow id 1234:5678 if true");
	mg_ruleset_free(&rs);

	rs = parse_set("allow id 1234:5678 if allowed-matches(id 046d:c31c name \"Keyboard\")\n");
	struct mg_rule_env with = {.mono_us = 1, .allowed_matches = allowed_1234, .arg = &allowed};
	assert_non_null(mg_ruleset_decide(rs, &d, NOW, &with));
	free(allowed.name);
	allowed.name = dup("Other");
	assert_null(mg_ruleset_decide(rs, &d, NOW, &with));
	mg_ruleset_free(&rs);
	dev_free(&allowed);
	dev_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_interface_operators),
	    cmocka_unit_test(test_string_operators),
	    cmocka_unit_test(test_id_matching),
	    cmocka_unit_test(test_expiry),
	    cmocka_unit_test(test_hostile_strings),
	    cmocka_unit_test(test_quoting_lengths),
	    cmocka_unit_test(test_names_interface),
	    cmocka_unit_test(test_generate),
	    cmocka_unit_test(test_condition_operators),
	    cmocka_unit_test(test_condition_falls_through),
	    cmocka_unit_test(test_condition_history),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
