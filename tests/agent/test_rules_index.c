/*
 * The index must not change decisions: for thousands of random rules and devices,
 * mg_ruleset_match() returns exactly the first rule of a linear scan with mg_rule_matches().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"

/* "file:line" of a rule, for assertions and messages. */
static char srcbuf_[MG_RULE_SOURCE_MAX];
static char srcbuf2_[MG_RULE_SOURCE_MAX];

#define NOW 1767225600000000 /* 2026-01-01T00:00:00Z */

/* Small pools, so that random rules and devices often meet. */
static const uint16_t vendors[] = {0x1050, 0x046d, 0x0781, 0x1d6b};
static const uint16_t products[] = {0x0001, 0x0002, 0x0407, 0x5567};
static const char *const strs[] = {"", "A", "B", "C", "x\"y"};
static const char *const ifaces[] = {"08:06:50", "03:01:01", "03:00:00", "e0:01:01"};
static const char *const ops[] = {"",        "equals ",         "one-of ",   "none-of ",
                                  "all-of ", "equals-ordered ", "match-all "};

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static unsigned rnd(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

#define PICK(a) (a)[rnd(sizeof(a) / sizeof((a)[0]))]

static void add(char **p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add(char **p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	*p += vsprintf(*p, fmt, ap);
	va_end(ap);
}

static void add_id(char **p)
{
	switch (rnd(6)) {
	case 0:
		add(p, "*:*");
		break;
	case 1:
		add(p, "%04x:*", PICK(vendors));
		break;
	default:
		add(p, "%04x:%04x", PICK(vendors), PICK(products));
	}
}

static void add_str(char **p)
{
	const char *s = PICK(strs);
	add(p, "\"%s\"", strcmp(s, "x\"y") == 0 ? "x\\\"y" : s);
}

/* " name value" or " name [op ]{ v ... }" */
static void add_attr(char **p, const char *name, void (*value)(char **))
{
	add(p, " %s ", name);
	if (rnd(3) == 0) {
		value(p);
		return;
	}
	add(p, "%s{", PICK(ops));
	for (unsigned i = 0, n = 1 + rnd(3); i < n; i++) {
		add(p, " ");
		value(p);
	}
	add(p, " }");
}

static void add_iface(char **p)
{
	const char *t = PICK(ifaces);
	switch (rnd(3)) {
	case 0:
		add(p, "%.2s:*:*", t);
		break;
	case 1:
		add(p, "%.5s:*", t);
		break;
	default:
		add(p, "%s", t);
	}
}

static char *random_rules(size_t n)
{
	char *text = malloc(n * 400);
	assert_non_null(text);
	char *p = text;
	for (size_t i = 0; i < n; i++) {
		add(&p, "%s", PICK(((const char *const[]){"allow", "block", "reject"})));
		if (rnd(3))
			add_attr(&p, "id", add_id);
		if (rnd(3) == 0)
			add_attr(&p, "serial", add_str);
		if (rnd(4) == 0)
			add_attr(&p, "hash", add_str);
		if (rnd(5) == 0)
			add_attr(&p, "name", add_str);
		if (rnd(5) == 0)
			add_attr(&p, "with-interface", add_iface);
		if (rnd(10) == 0)
			add(&p, " expires \"%s\"",
			    rnd(2) ? "2025-06-01T00:00:00Z" : "2027-06-01T00:00:00+09:00");
		add(&p, "\n");
	}
	return text;
}

static char *pick_dup(void)
{
	char *s = strdup(PICK(strs));
	assert_non_null(s);
	return s;
}

static void random_device(struct mg_device *d)
{
	memset(d, 0, sizeof(*d));
	d->vendor = PICK(vendors);
	d->product = PICK(products);
	if (rnd(8) == 0)
		d->product = 0x7777; /* a product no rule names */
	d->serial = rnd(6) ? pick_dup() : NULL;
	d->hash = pick_dup();
	d->name = pick_dup();
	d->desc.n_ifaces = rnd(4);
	for (size_t i = 0; i < d->desc.n_ifaces; i++) {
		unsigned c, s, pr;
		assert_int_equal(sscanf(PICK(ifaces), "%x:%x:%x", &c, &s, &pr), 3);
		d->desc.ifaces[i].type =
		    (struct mg_usb_iftype){(uint8_t)c, (uint8_t)s, (uint8_t)pr};
	}
}

static const struct mg_rule *linear(const struct mg_ruleset *rs, const struct mg_device *d)
{
	for (size_t i = 0; i < mg_ruleset_count(rs); i++)
		if (mg_rule_matches(mg_ruleset_rule(rs, i), d, NOW))
			return mg_ruleset_rule(rs, i);
	return NULL;
}

/* Returns how many devices matched a rule other than the first. */
static size_t run(size_t n_rules, size_t n_devices)
{
	char *text = random_rules(n_rules);
	struct mg_ruleset *rs = NULL;
	struct mg_rule_error err;
	char msg[600];
	if (mg_ruleset_parse("random", text, strlen(text), &rs, &err) < 0)
		fail_msg("%s", mg_rule_error_str(&err, msg, sizeof(msg)));
	assert_int_equal(mg_ruleset_count(rs), n_rules);
	size_t matched = 0;
	for (size_t i = 0; i < n_devices; i++) {
		struct mg_device d;
		random_device(&d);
		const struct mg_rule *want = linear(rs, &d);
		const struct mg_rule *got = mg_ruleset_match(rs, &d, NOW);
		if (want != got)
			fail_msg("device %04x:%04x serial %s: index gave %s, linear scan %s",
			         d.vendor, d.product, d.serial ? d.serial : "(null)",
			         got ? mg_rule_source(got, srcbuf_, sizeof(srcbuf_)) : "none",
			         want ? mg_rule_source(want, srcbuf2_, sizeof(srcbuf2_)) : "none");
		matched += want != NULL && want != mg_ruleset_rule(rs, 0);
		free(d.serial);
		free(d.hash);
		free(d.name);
	}
	mg_ruleset_free(&rs);
	free(text);
	return matched;
}

static void test_random_small_sets(void **state)
{
	(void)state;
	/* Many small rulesets: the first match is often early or absent. */
	size_t late = 0;
	for (int i = 0; i < 200; i++)
		late += run(1 + rnd(30), 50);
	assert_true(late > 1000); /* not a vacuous comparison */
}

static void test_random_large(void **state)
{
	(void)state;
	assert_true(run(3000, 3000) > 300);
}

/* Rules keyed by id, then a catch-all: the index must still honour file order. */
static void test_keyed_then_catch_all(void **state)
{
	(void)state;
	const char *text = "allow id 1050:0407 serial \"A\"\n"
	                   "block hash \"H\"\n"
	                   "allow id one-of { 1050:0407 046d:* }\n"
	                   "allow id { 1050:0407 1050:0407 }\n" /* can never match */
	                   "reject\n"
	                   "allow id 1050:0407\n";
	struct mg_ruleset *rs = NULL;
	struct mg_rule_error err;
	assert_int_equal(mg_ruleset_parse("t", text, strlen(text), &rs, &err), 0);
	struct mg_device d;
	memset(&d, 0, sizeof(d));
	char a[] = "A", b[] = "B", h[] = "H";
	d.vendor = 0x1050;
	d.product = 0x0407;
	d.serial = a;
	assert_ptr_equal(mg_ruleset_match(rs, &d, NOW), mg_ruleset_rule(rs, 0));
	d.serial = b;
	d.hash = h;
	assert_ptr_equal(mg_ruleset_match(rs, &d, NOW), mg_ruleset_rule(rs, 1));
	d.hash = NULL;
	assert_ptr_equal(mg_ruleset_match(rs, &d, NOW), mg_ruleset_rule(rs, 2));
	d.vendor = 0x046d;
	assert_ptr_equal(mg_ruleset_match(rs, &d, NOW), mg_ruleset_rule(rs, 2));
	d.vendor = 0x0781;
	assert_ptr_equal(mg_ruleset_match(rs, &d, NOW), mg_ruleset_rule(rs, 4));
	assert_null(mg_ruleset_match(NULL, &d, NOW));
	assert_null(mg_ruleset_match(rs, NULL, NOW));
	mg_ruleset_free(&rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_random_small_sets),
	    cmocka_unit_test(test_random_large),
	    cmocka_unit_test(test_keyed_then_catch_all),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
