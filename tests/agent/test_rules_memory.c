/*
 * Memory per rule (issue 12: the agent's RSS at 10,000 rules) and the rule layout that the
 * saving relies on: optional conditions and expiry packed after the attributes, rules in the
 * rule set's arena, the index without key strings.
 *
 * test_heap_per_rule loads 10,000 rules shaped like the USB benchmark's
 * (mynaguard-bench-usbgen: id and serial, some with name, hash or with-interface) and checks
 * the heap the set keeps (glibc mallinfo2: brk and mmapped chunks in use). The bound is not
 * checked under AddressSanitizer, whose allocator mallinfo2 does not see: run it in a build
 * without MYNAGUARD_SANITIZE. The bound: 286 bytes per rule before the layout work (issue 12), 152
 * after.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"

#define NOW                1767225600000000 /* 2026-01-01T00:00:00Z */
#define N_RULES            10000u
#define MAX_BYTES_PER_RULE 200u

#if defined(__SANITIZE_ADDRESS__)
#define MG_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MG_ASAN 1
#endif
#endif

static const uint16_t vendors[] = {0x0781, 0x046d, 0x0951, 0x1209, 0x1a40, 0x1d6b, 0x1050};

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void serial_of(size_t i, char out[17])
{
	snprintf(out, 17, "%016llX", (unsigned long long)(next() ^ i));
}

/* Rule i: "allow id VVVV:PPPP serial "..."", some with name, hash or with-interface. */
static size_t add_rule(char *p, size_t room, size_t i)
{
	char serial[17];
	serial_of(i, serial);
	const uint16_t v = vendors[i % (sizeof(vendors) / sizeof(vendors[0]))];
	const uint16_t pr = (uint16_t)(0x1000 + i % 97);
	int n;
	switch (i % 5) {
	case 1:
		n = snprintf(p, room, "allow id %04x:%04x serial \"%s\" name \"USB Keyboard\"\n", v,
		             pr, serial);
		break;
	case 2:
		n = snprintf(p, room, "allow id %04x:%04x serial \"%s\" with-interface 03:01:02\n",
		             v, pr, serial);
		break;
	case 3:
		n = snprintf(p, room,
		             "block id %04x:%04x serial \"%s\" hash "
		             "\"aK92sf/QsuG3eALu+hd+Vsjh0Q+Brdx+06ApGw%06zu=\"\n",
		             v, pr, serial, i);
		break;
	default:
		n = snprintf(p, room, "allow id %04x:%04x serial \"%s\"\n", v, pr, serial);
	}
	assert_true(n > 0 && (size_t)n < room);
	return (size_t)n;
}

static size_t heap_in_use(void)
{
	const struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

static void test_heap_per_rule(void **state)
{
	(void)state;
	const size_t cap = (size_t)N_RULES * 160;
	char *text = malloc(cap);
	assert_non_null(text);
	size_t len = 0;
	for (size_t i = 0; i < N_RULES; i++)
		len += add_rule(text + len, cap - len, i);

	struct mg_ruleset *rs = NULL;
	struct mg_rule_error err;
	memset(&err, 0, sizeof(err));
	const size_t before = heap_in_use();
	assert_int_equal(mg_ruleset_parse("rules-10000.conf", text, len, &rs, &err), 0);
	const size_t after = heap_in_use();
	assert_int_equal(mg_ruleset_count(rs), N_RULES);
#ifdef MG_ASAN
	/* mallinfo2 does not see AddressSanitizer's allocator: the bound is checked in builds
	 * without MYNAGUARD_SANITIZE; the set is still loaded and matched below. */
	(void)before;
	(void)after;
	printf("heap per rule: not measured under AddressSanitizer\n");
#else
	const size_t per_rule = (after - before) / N_RULES;
	printf("heap kept: %zu bytes, %zu per rule (bound %u)\n", after - before, per_rule,
	       MAX_BYTES_PER_RULE);
	assert_true(after > before);
	assert_true(per_rule <= MAX_BYTES_PER_RULE);
#endif

	/* The set still answers: every 97th rule matches its own device, first in file order. */
	rng = 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < N_RULES; i++) {
		char serial[17];
		serial_of(i, serial);
		if (i % 97)
			continue;
		struct mg_device d;
		memset(&d, 0, sizeof(d));
		d.vendor = vendors[i % (sizeof(vendors) / sizeof(vendors[0]))];
		d.product = (uint16_t)(0x1000 + i % 97);
		char name[] = "USB Keyboard", none[] = "";
		d.serial = serial;
		d.name = name;
		d.hash = none;
		d.desc.n_ifaces = 1;
		d.desc.ifaces[0].type = (struct mg_usb_iftype){.cls = 3, .sub = 1, .proto = 2};
		char hash[64];
		snprintf(hash, sizeof(hash), "aK92sf/QsuG3eALu+hd+Vsjh0Q+Brdx+06ApGw%06zu=", i);
		if (i % 5 == 3)
			d.hash = hash;
		const struct mg_rule *m = mg_ruleset_match(rs, &d, NOW);
		assert_ptr_equal(m, mg_ruleset_rule(rs, i));
	}
	mg_ruleset_free(&rs);
	free(text);
}

static struct mg_ruleset *parse(const char *text)
{
	struct mg_ruleset *rs = NULL;
	struct mg_rule_error err;
	memset(&err, 0, sizeof(err));
	assert_int_equal(mg_ruleset_parse("t.rules", text, strlen(text), &rs, &err), 0);
	return rs;
}

/* Conditions and expiry, alone and together, with every attribute count. */
static void test_conditions_and_expiry(void **state)
{
	(void)state;
	static const char *const lines[] = {
	    "allow",
	    "allow if false",
	    "allow expires \"2027-06-01T00:00:00.000000Z\"",
	    "allow if true expires \"2027-06-01T00:00:00.000000Z\"",
	    "block id 1050:0407 serial \"S\\x01\" if !true expires \"2025-06-01T00:00:00.000000Z\"",
	    "reject id 1050:* serial \"S1\" name \"N\" hash \"H\" parent-hash \"P\" via-port "
	    "\"1-2\" with-interface { 03:00:01 08:06:50 } with-connect-type \"hotplug\" label "
	    "\"L\" if one-of { true false } expires \"2027-06-01T00:00:00.000000Z\"",
	};
	static const bool conds[] = {false, true, false, true, true, true};
	static const bool holds[] = {true, false, true, true, false, true};
	static const int64_t expires[] = {
	    0, 0, 1811808000000000, 1811808000000000, 1748736000000000, 1811808000000000};
	char text[2048] = "";
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		strcat(text, lines[i]);
		strcat(text, "\n");
	}
	struct mg_ruleset *rs = parse(text);
	assert_int_equal(mg_ruleset_count(rs), sizeof(lines) / sizeof(lines[0]));
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		const struct mg_rule *r = mg_ruleset_rule(rs, i);
		assert_string_equal(mg_rule_text(r), lines[i]);
		assert_true(mg_rule_has_conditions(r, NULL) == conds[i]);
		assert_true(mg_rule_conditions_hold(r, NULL) == holds[i]);
		assert_true(mg_rule_expires_us(r) == expires[i]);
		char src[MG_RULE_SOURCE_MAX], want[64];
		snprintf(want, sizeof(want), "t.rules:%zu", i + 1);
		assert_string_equal(mg_rule_source(r, src, sizeof(src)), want);
	}
	bool localtime = true;
	assert_true(mg_ruleset_has_conditions(rs, &localtime));
	assert_false(localtime);

	/* Expired before 2026 (rule 5, whose condition fails anyway) and after: the id rule
	 * still matches its device while unexpired. */
	struct mg_device d;
	memset(&d, 0, sizeof(d));
	d.vendor = 0x1050;
	d.product = 0x0407;
	char serial[] = "S\x01";
	d.serial = serial;
	assert_false(mg_rule_matches(mg_ruleset_rule(rs, 4), &d, NOW));
	assert_true(mg_rule_matches(mg_ruleset_rule(rs, 4), &d, 1748736000000000 - 1));
	assert_true(mg_rule_matches(mg_ruleset_rule(rs, 2), &d, NOW));
	assert_false(mg_rule_matches(mg_ruleset_rule(rs, 2), &d, 1811808000000000));
	mg_ruleset_free(&rs);
}

/* Rules bigger than an arena block, and many of them, keep their text and match. */
static void test_large_rules(void **state)
{
	(void)state;
	const size_t n = 40, vals = 600;
	char *text = malloc(n * vals * 24 + 1);
	assert_non_null(text);
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		len += (size_t)sprintf(text + len, "allow serial one-of {");
		for (size_t j = 0; j < vals; j++)
			len += (size_t)sprintf(text + len, " \"R%zu-V%zu\"", i, j);
		len += (size_t)sprintf(text + len, " }\nallow id 0000:%04zx\n", i);
	}
	struct mg_ruleset *rs = NULL;
	struct mg_rule_error err;
	memset(&err, 0, sizeof(err));
	assert_int_equal(mg_ruleset_parse("big.rules", text, len, &rs, &err), 0);
	assert_int_equal(mg_ruleset_count(rs), 2 * n);
	for (size_t i = 0; i < n; i++) {
		char serial[32], want[32];
		snprintf(serial, sizeof(serial), "R%zu-V%zu", i, vals - 1);
		struct mg_device d;
		memset(&d, 0, sizeof(d));
		d.serial = serial;
		d.product = (uint16_t)i;
		assert_ptr_equal(mg_ruleset_match(rs, &d, NOW), mg_ruleset_rule(rs, 2 * i));
		char none[] = "none";
		d.serial = none;
		assert_ptr_equal(mg_ruleset_match(rs, &d, NOW), mg_ruleset_rule(rs, 2 * i + 1));
		snprintf(want, sizeof(want), " \"R%zu-V%zu\" }", i, vals - 1);
		const char *t = mg_rule_text(mg_ruleset_rule(rs, 2 * i));
		assert_string_equal(t + strlen(t) - strlen(want), want);
	}
	mg_ruleset_free(&rs);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_heap_per_rule),
	    cmocka_unit_test(test_conditions_and_expiry),
	    cmocka_unit_test(test_large_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
