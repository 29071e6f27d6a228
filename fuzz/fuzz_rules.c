/*
 * libFuzzer target: the rule parser on arbitrary bytes. On success, the canonical text of
 * every rule must parse again and print the same (canonical round trip), and the index must
 * pick the same rule as a linear scan for a few fixed devices (conditions included). Any
 * difference aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1767225600000000 /* 2026-01-01T00:00:00Z */

static char serial_a[] = "0001234", serial_b[] = "", name_a[] = "YubiKey",
            name_b[] = "\xe6\x9d\xb1\"\\", port_a[] = "1-2", port_b[] = "usb1", hot[] = "hotplug",
            hash_a[] = "HASH=", hash_b[] = "", parent[] = "PARENT=";

static void fill(struct mg_device *d, uint16_t v, uint16_t p, char *serial, char *name, char *port,
                 char *hash, const char *ifaces)
{
	memset(d, 0, sizeof(*d));
	d->vendor = v;
	d->product = p;
	d->serial = serial;
	d->name = name;
	d->port = port;
	d->hash = hash;
	d->parent_hash = parent;
	d->connect_type = hot;
	for (const char *t = ifaces; *t; t += 3) {
		struct mg_usb_iftype *f = &d->desc.ifaces[d->desc.n_ifaces++].type;
		*f = (struct mg_usb_iftype){(uint8_t)t[0], (uint8_t)t[1], (uint8_t)t[2]};
	}
}

/* The index picks what a linear scan picks: attributes, then conditions (in a fixed
 * environment, no history; rule sets with random conditions are not reproducible and only
 * matched). */
static void check_index(const struct mg_ruleset *rs, const struct mg_device *d)
{
	static const struct mg_rule_env env = {.mono_us = 1000000, .daytime = 36000};
	const struct mg_rule *want = NULL;
	bool random = false;
	for (size_t i = 0; i < mg_ruleset_count(rs); i++) {
		bool r = false;
		(void)mg_rule_has_conditions(mg_ruleset_rule(rs, i), &r);
		random |= r;
	}
	if (random) {
		(void)mg_ruleset_match_env(rs, d, NOW, &env);
		return;
	}
	for (size_t i = 0; i < mg_ruleset_count(rs) && !want; i++) {
		const struct mg_rule *r = mg_ruleset_rule(rs, i);
		if (mg_rule_matches(r, d, NOW) && mg_rule_conditions_hold(r, &env))
			want = r;
	}
	if (mg_ruleset_match_env(rs, d, NOW, &env) != want)
		abort();
}

static void round_trip(const struct mg_ruleset *rs)
{
	const size_t n = mg_ruleset_count(rs);
	size_t len = 0;
	for (size_t i = 0; i < n; i++)
		len += strlen(mg_rule_text(mg_ruleset_rule(rs, i))) + 1;
	char *text = malloc(len + 1);
	if (!text)
		return;
	char *p = text;
	for (size_t i = 0; i < n; i++) {
		const char *t = mg_rule_text(mg_ruleset_rule(rs, i));
		const size_t l = strlen(t);
		memcpy(p, t, l);
		p[l] = '\n';
		p += l + 1;
	}
	struct mg_ruleset *again = NULL;
	struct mg_rule_error err;
	if (mg_ruleset_parse("printed", text, len, &again, &err) < 0)
		abort(); /* the printed form must parse */
	if (mg_ruleset_count(again) != n)
		abort();
	for (size_t i = 0; i < n; i++) {
		const struct mg_rule *a = mg_ruleset_rule(rs, i), *b = mg_ruleset_rule(again, i);
		if (strcmp(mg_rule_text(a), mg_rule_text(b)) != 0 ||
		    mg_rule_target(a) != mg_rule_target(b) ||
		    mg_rule_expires_us(a) != mg_rule_expires_us(b))
			abort();
	}
	mg_ruleset_free(&again);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mg_ruleset *rs = NULL;
	struct mg_rule_error err;
	if (mg_ruleset_parse("fuzz", (const char *)data, size, &rs, &err) < 0)
		return 0;
	round_trip(rs);
	struct mg_device d;
	fill(&d, 0x1050, 0x0407, serial_a, name_a, port_a, hash_a, "\x03\x01\x01\x03\x00\x00");
	check_index(rs, &d);
	fill(&d, 0x0781, 0x5567, serial_b, name_b, port_b, hash_b, "\x08\x06\x50");
	check_index(rs, &d);
	fill(&d, 0x1050, 0x0001, serial_b, name_b, port_a, hash_a, "");
	check_index(rs, &d);
	const struct mg_usb_iftype msc = {0x08, 0x06, 0x50};
	for (size_t i = 0; i < mg_ruleset_count(rs); i++)
		(void)mg_rule_names_interface(mg_ruleset_rule(rs, i), msc);
	mg_ruleset_free(&rs);
	return 0;
}
