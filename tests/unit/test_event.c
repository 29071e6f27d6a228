/* The event model: canonical JSON, the lossless "_hex" scheme, and the strict parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mg/event.h"
#include "mg/host.h"
#include "mg/utf8.h"

#define BOOT   "0f8e2a3c-5b1d-4c6e-9a7f-123456789abc"
#define T_2026 INT64_C(1795641479123456) /* 2026-11-25T21:17:59.123456Z */
#define MAX53  ((UINT64_C(1) << 53) - 1)

/* --- helpers ---------------------------------------------------------------------------- */

static void set(char **dst, const char *s)
{
	assert_int_equal(mg_set_str(dst, s), 0);
}

static void push(struct mg_strv *sv, const char *s)
{
	assert_int_equal(mg_strv_add(sv, s), 0);
}

static struct mg_event *base_event(enum mg_event_type type)
{
	struct mg_event *ev = mg_event_new(type);
	assert_non_null(ev);
	ev->time_us = T_2026;
	set(&ev->host, "mn-term-01.city.example.lg.jp");
	ev->seq = 42;
	memcpy(ev->boot_id, BOOT, sizeof(ev->boot_id));
	return ev;
}

/* An event of type with every object and every member filled. */
static struct mg_event *full_event(enum mg_event_type type)
{
	struct mg_event *ev = base_event(type);
	struct mg_event_device *d = mg_event_device(ev);
	assert_non_null(d);
	set(&d->syspath, "/devices/pci0000:00/0000:00:14.0/usb1/1-2");
	set(&d->port, "1-2");
	set(&d->vendor_id, "0781");
	set(&d->product_id, "5581");
	set(&d->serial, "4C530001230517115103");
	set(&d->name, "Ultra USB 3.0");
	set(&d->hash, "Kq7QY3cRfu2Zbl3hSKI2wPQjAlMldKoSZ3gfRVkkI0o=");
	set(&d->parent_hash, "jEP/6WzviqdJ5VSeTUY8PatCNBKeaREvo2OqdplND/o=");
	push(&d->interfaces, "08:06:50");
	push(&d->interfaces, "03:01:01");
	struct mg_event_rule *r = mg_event_rule(ev);
	assert_non_null(r);
	set(&r->text, "block with-interface one-of { 03:*:* 08:*:* }");
	set(&r->source, "/etc/mynaguard/rules.conf:12");
	struct mg_event_decision *dc = mg_event_decision(ev);
	assert_non_null(dc);
	set(&dc->target, "block");
	set(&dc->mode, "enforce");
	dc->applied = true;
	push(&dc->blocked_interfaces, "1-2:1.1");
	set(&dc->error, "write authorized: Permission denied");
	struct mg_event_user *u = mg_event_user(ev);
	assert_non_null(u);
	set(&u->name, "tanaka");
	set(&u->service, "login");
	set(&u->tty, "tty1");
	set(&u->rhost, "10.0.0.5");
	struct mg_event_auth *a = mg_event_auth(ev);
	assert_non_null(a);
	set(&a->factor, "totp");
	set(&a->credential, "phone");
	set(&a->reason, "wrong-code");
	a->failures = 3;
	struct mg_event_policy *p = mg_event_policy(ev);
	assert_non_null(p);
	p->version = 17;
	set(&p->sha256, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
	set(&p->reason, "signature mismatch");
	struct mg_event_agent *ag = mg_event_agent(ev);
	assert_non_null(ag);
	set(&ag->version, "0.1.0");
	ag->pid = 1234;
	set(&ag->reason, "SIGTERM");
	return ev;
}

static char *to_json(const struct mg_event *ev)
{
	char *out = NULL;
	size_t len = 0;
	assert_int_equal(mg_event_to_json(ev, &out, &len), 0);
	assert_non_null(out);
	assert_int_equal(strlen(out), len);
	return out;
}

static struct mg_event *from_json(const char *json)
{
	struct mg_event *ev = NULL;
	char err[256] = "";
	int r = mg_event_from_json(json, strlen(json), &ev, err, sizeof(err));
	if (r != 0)
		fail_msg("mg_event_from_json: %d %s", r, err);
	assert_non_null(ev);
	return ev;
}

static void assert_same_str(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void assert_same_strv(const struct mg_strv *a, const struct mg_strv *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		assert_string_equal(a->v[i], b->v[i]);
}

static void assert_same_event(const struct mg_event *a, const struct mg_event *b)
{
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->time_us, b->time_us);
	assert_string_equal(a->host, b->host);
	assert_int_equal(a->seq, b->seq);
	assert_string_equal(a->boot_id, b->boot_id);
	assert_int_equal(!a->device, !b->device);
	if (a->device) {
		assert_same_str(a->device->syspath, b->device->syspath);
		assert_same_str(a->device->port, b->device->port);
		assert_same_str(a->device->vendor_id, b->device->vendor_id);
		assert_same_str(a->device->product_id, b->device->product_id);
		assert_same_str(a->device->serial, b->device->serial);
		assert_same_str(a->device->name, b->device->name);
		assert_same_str(a->device->hash, b->device->hash);
		assert_same_str(a->device->parent_hash, b->device->parent_hash);
		assert_same_strv(&a->device->interfaces, &b->device->interfaces);
	}
	assert_int_equal(!a->rule, !b->rule);
	if (a->rule) {
		assert_same_str(a->rule->text, b->rule->text);
		assert_same_str(a->rule->source, b->rule->source);
	}
	assert_int_equal(!a->decision, !b->decision);
	if (a->decision) {
		assert_same_str(a->decision->target, b->decision->target);
		assert_same_str(a->decision->mode, b->decision->mode);
		assert_int_equal(a->decision->applied, b->decision->applied);
		assert_same_strv(&a->decision->blocked_interfaces,
		                 &b->decision->blocked_interfaces);
		assert_same_str(a->decision->error, b->decision->error);
	}
	assert_int_equal(!a->user, !b->user);
	if (a->user) {
		assert_same_str(a->user->name, b->user->name);
		assert_same_str(a->user->service, b->user->service);
		assert_same_str(a->user->tty, b->user->tty);
		assert_same_str(a->user->rhost, b->user->rhost);
	}
	assert_int_equal(!a->auth, !b->auth);
	if (a->auth) {
		assert_same_str(a->auth->factor, b->auth->factor);
		assert_same_str(a->auth->credential, b->auth->credential);
		assert_same_str(a->auth->reason, b->auth->reason);
		assert_int_equal(a->auth->failures, b->auth->failures);
	}
	assert_int_equal(!a->policy, !b->policy);
	if (a->policy) {
		assert_int_equal(a->policy->version, b->policy->version);
		assert_same_str(a->policy->sha256, b->policy->sha256);
		assert_same_str(a->policy->reason, b->policy->reason);
	}
	assert_int_equal(!a->agent, !b->agent);
	if (a->agent) {
		assert_same_str(a->agent->version, b->agent->version);
		assert_int_equal(a->agent->pid, b->agent->pid);
		assert_same_str(a->agent->reason, b->agent->reason);
	}
}

/* to_json, from_json, to_json: same bytes, same event; returns the first JSON. */
static char *round_trip(const struct mg_event *ev)
{
	char *first = to_json(ev);
	struct mg_event *back = from_json(first);
	assert_same_event(ev, back);
	char *second = to_json(back);
	assert_string_equal(first, second);
	free(second);
	mg_event_free(&back);
	return first;
}

/* Parses json (NUL-terminated) and returns the error; out stays untouched on failure. */
static int parse_err(const char *json, char *err, size_t errlen)
{
	static struct mg_event sentinel;
	struct mg_event *ev = &sentinel;
	int r = mg_event_from_json(json, strlen(json), &ev, err, errlen);
	if (r == 0)
		mg_event_free(&ev);
	else
		assert_ptr_equal(ev, &sentinel);
	return r;
}

/* --- the model ---------------------------------------------------------------------------- */

static void test_type_names(void **state)
{
	(void)state;
	for (int t = 0; t < MG_EV_TYPE_COUNT; t++) {
		const char *name = mg_event_type_name((enum mg_event_type)t);
		enum mg_event_type back = MG_EV_TYPE_COUNT;
		assert_non_null(name);
		assert_int_equal(mg_event_type_from_name(name, &back), 0);
		assert_int_equal(back, t);
	}
	assert_string_equal(mg_event_type_name(MG_EV_DEVICE_BLOCKED), "device.blocked");
	assert_string_equal(mg_event_type_name(MG_EV_AGENT_STARTED), "agent.started");
	assert_null(mg_event_type_name(MG_EV_TYPE_COUNT));
	enum mg_event_type t = MG_EV_AUTH_UNLOCK;
	assert_int_equal(mg_event_type_from_name("device.exploded", &t), -EINVAL);
	assert_int_equal(mg_event_type_from_name("Device.Allowed", &t), -EINVAL);
	assert_int_equal(mg_event_type_from_name(NULL, &t), -EINVAL);
	assert_int_equal(t, MG_EV_AUTH_UNLOCK);
}

static void test_new_and_free(void **state)
{
	(void)state;
	struct mg_event *ev = mg_event_new(MG_EV_AGENT_STARTED);
	assert_non_null(ev);
	assert_int_equal(ev->type, MG_EV_AGENT_STARTED);
	assert_true(ev->time_us > INT64_C(1577836800) * 1000000); /* after 2020 */
	assert_null(ev->host);
	assert_int_equal(ev->seq, 0);
	assert_null(ev->device);
	assert_null(ev->agent);

	/* Accessors allocate once and then return the same object. */
	struct mg_event_agent *a = mg_event_agent(ev);
	assert_non_null(a);
	assert_ptr_equal(mg_event_agent(ev), a);
	assert_ptr_equal(ev->agent, a);
	assert_null(mg_event_device(NULL));

	/* mg_set_str replaces and clears. */
	set(&a->version, "0.1.0");
	set(&a->version, "0.2.0");
	assert_string_equal(a->version, "0.2.0");
	set(&a->version, NULL);
	assert_null(a->version);

	/* Without host and boot id the event would not parse back, so it is not written. */
	char untouched[] = "untouched";
	char *out = untouched;
	assert_int_equal(mg_event_to_json(ev, &out, NULL), -EINVAL);
	assert_string_equal(out, "untouched");
	set(&ev->host, "pc01");
	assert_int_equal(mg_event_to_json(ev, &out, NULL), -EINVAL);
	memcpy(ev->boot_id, BOOT, sizeof(ev->boot_id));
	assert_int_equal(mg_event_to_json(ev, &out, NULL), 0);
	assert_non_null(strstr(out, "\"agent\":{\"pid\":0}"));
	free(out);

	mg_event_free(&ev);
	assert_null(ev);
	mg_event_free(&ev);
	mg_event_free(NULL);
	assert_null(mg_event_new(MG_EV_TYPE_COUNT));
}

static void test_round_trip_all_types(void **state)
{
	(void)state;
	for (int t = 0; t < MG_EV_TYPE_COUNT; t++) {
		struct mg_event *ev = full_event((enum mg_event_type)t);
		char *json = round_trip(ev);
		char want[64];
		snprintf(want, sizeof(want), "\"type\":\"%s\"",
		         mg_event_type_name((enum mg_event_type)t));
		assert_non_null(strstr(json, want));
		assert_null(strstr(json, "_hex")); /* all valid UTF-8 */
		assert_null(strchr(json, '\n'));
		free(json);
		mg_event_free(&ev);
	}
	/* Bare events, each object empty, and the numeric limits. */
	struct mg_event *ev = base_event(MG_EV_AGENT_STOPPED);
	free(round_trip(ev));
	assert_non_null(mg_event_device(ev));
	assert_non_null(mg_event_rule(ev));
	assert_non_null(mg_event_decision(ev));
	assert_non_null(mg_event_user(ev));
	assert_non_null(mg_event_auth(ev));
	assert_non_null(mg_event_policy(ev));
	assert_non_null(mg_event_agent(ev));
	ev->seq = MAX53;
	ev->time_us = INT64_C(253402300799999999);
	ev->auth->failures = MAX53;
	ev->policy->version = MAX53;
	ev->agent->pid = MAX53;
	set(&ev->decision->target, "");
	free(round_trip(ev));
	mg_event_free(&ev);
}

static void test_canonical_form(void **state)
{
	(void)state;
	struct mg_event *ev = base_event(MG_EV_DEVICE_BLOCKED);
	set(&ev->host, "pc01");
	ev->seq = 7;
	/* Objects and members set in non-sorted order. */
	struct mg_event_decision *dc = mg_event_decision(ev);
	set(&dc->target, "block");
	set(&dc->mode, "audit");
	push(&dc->blocked_interfaces, "1-2:1.0");
	struct mg_event_device *d = mg_event_device(ev);
	set(&d->vendor_id, "1d6b");
	set(&d->port, "1-2");
	push(&d->interfaces, "08:06:50");
	char *json = round_trip(ev);
	assert_string_equal(
	    json, "{\"boot_id\":\"" BOOT "\","
	          "\"decision\":{\"applied\":false,\"blocked_interfaces\":[\"1-2:1.0\"],"
	          "\"mode\":\"audit\",\"target\":\"block\"},"
	          "\"device\":{\"interfaces\":[\"08:06:50\"],\"port\":\"1-2\","
	          "\"vendor_id\":\"1d6b\"},"
	          "\"host\":\"pc01\",\"seq\":7,"
	          "\"time\":\"2026-11-25T21:17:59.123456Z\",\"type\":\"device.blocked\"}");

	/* Any spelling of the same event parses back to the same canonical bytes. */
	struct mg_event *other = from_json(
	    "{ \"type\" : \"device.blocked\", \"seq\": 7, \"host\":\"pc01\",\n"
	    "  \"time\":\"2026-11-26t06:17:59.123456789+09:00\", \"boot_id\": \"" BOOT "\",\n"
	    "  \"device\": {\"vendor_id\":\"\\u0031d6b\", \"port\":\"1-2\", "
	    "\"interfaces\":[\"08:06:50\"]},\n"
	    "  \"decision\": {\"target\":\"block\",\"mode\":\"audit\",\"applied\":false,"
	    "\"blocked_interfaces\":[\"1-2:1.0\"]} }\n");
	char *again = to_json(other);
	assert_string_equal(again, json);
	free(again);
	mg_event_free(&other);
	free(json);
	mg_event_free(&ev);
}

/* mg_event_to_json_from() on json's own tree gives exactly mg_event_to_json()'s bytes. */
static void check_to_json_from(const char *json)
{
	json_error_t jerr;
	json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
	assert_non_null(root);
	struct mg_event *ev = NULL;
	char err[256] = "";
	if (mg_event_from_json_value(root, &ev, err, sizeof(err)) != 0)
		fail_msg("%s: %s", json, err);
	char *want = to_json(ev), *got = NULL;
	size_t len = 0;
	assert_int_equal(mg_event_to_json_from(root, ev, &got, &len), 0);
	assert_string_equal(got, want);
	assert_int_equal(len, strlen(want));
	free(got);
	free(want);
	mg_event_free(&ev);
	json_decref(root);
}

static void test_to_json_from(void **state)
{
	(void)state;
	/* Canonical text in: the tree written again (every type, every object filled). */
	for (int t = 0; t < MG_EV_TYPE_COUNT; t++) {
		struct mg_event *ev = full_event((enum mg_event_type)t);
		char *json = to_json(ev);
		check_to_json_from(json);
		free(json);
		mg_event_free(&ev);
	}
	/* "_hex" twins and escaped control characters. */
	struct mg_event *ev = base_event(MG_EV_DEVICE_SUSPICIOUS);
	set(&mg_event_device(ev)->serial, "A\xff\xfe");
	set(&mg_event_device(ev)->name, "\x01"
	                                "bad\n\"q\"\\");
	set(&ev->host, "pc\x01");
	char *json = to_json(ev);
	check_to_json_from(json);
	free(json);
	mg_event_free(&ev);
	/* Other spellings: white space, key order, escapes, offsets, t/z, 0-9 fraction digits,
	 * a leap second (the writer moves it to the next minute). */
	static const char *const spellings[] = {
	    "{ \"type\" : \"device.blocked\", \"seq\": 7, \"host\":\"pc01\",\n"
	    "  \"time\":\"2026-11-26t06:17:59.123456789+09:00\", \"boot_id\": \"" BOOT "\",\n"
	    "  \"device\": {\"vendor_id\":\"\\u0031d6b\", \"port\":\"1-2\", "
	    "\"interfaces\":[\"08:06:50\"]} }",
	    "{\"boot_id\":\"" BOOT "\",\"host\":\"pc01\",\"seq\":1,"
	    "\"time\":\"2026-11-25T21:17:59Z\",\"type\":\"agent.started\"}",
	    /* sorted at the top, not inside */
	    "{\"boot_id\":\"" BOOT "\",\"device\":{\"port\":\"1-2\",\"interfaces\":[]},"
	    "\"host\":\"pc01\",\"seq\":7,\"time\":\"2026-11-25T21:17:59.123456Z\","
	    "\"type\":\"device.removed\"}",
	    "{\"boot_id\":\"" BOOT "\",\"host\":\"pc01\",\"seq\":1,"
	    "\"time\":\"2026-11-25T21:17:59.123456z\",\"type\":\"agent.started\"}",
	    "{\"boot_id\":\"" BOOT "\",\"host\":\"pc01\",\"seq\":1,"
	    "\"time\":\"2016-12-31T23:59:60.000000Z\",\"type\":\"agent.started\"}",
	    "{\"boot_id\":\"" BOOT "\",\"host\":\"pc\\u00e9\",\"seq\":1,"
	    "\"time\":\"2026-11-25T21:17:59.123456Z\",\"type\":\"agent.started\"}",
	};
	for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++)
		check_to_json_from(spellings[i]);
}

static void test_write_errors(void **state)
{
	(void)state;
	struct mg_event *ev = full_event(MG_EV_AUTH_FAILURE);
	char *out = NULL;

	ev->seq = MAX53 + 1;
	assert_int_equal(mg_event_to_json(ev, &out, NULL), -ERANGE);
	ev->seq = UINT64_MAX;
	assert_int_equal(mg_event_to_json(ev, &out, NULL), -ERANGE);
	ev->seq = 1;
	ev->auth->failures = MAX53 + 1;
	assert_int_equal(mg_event_to_json(ev, &out, NULL), -ERANGE);
	ev->auth->failures = 0;
	ev->policy->version = UINT64_MAX;
	assert_int_equal(mg_event_to_json(ev, &out, NULL), -ERANGE);
	ev->policy->version = 0;
	ev->time_us = -1;
	assert_int_equal(mg_event_to_json(ev, &out, NULL), -ERANGE);
	ev->time_us = T_2026;

	ev->type = MG_EV_TYPE_COUNT;
	assert_int_equal(mg_event_to_json(ev, &out, NULL), -EINVAL);
	ev->type = MG_EV_AUTH_FAILURE;
	memcpy(ev->boot_id, "0F8E2A3C-5B1D-4C6E-9A7F-123456789ABC", sizeof(ev->boot_id));
	assert_int_equal(mg_event_to_json(ev, &out, NULL), -EINVAL);
	memset(ev->boot_id, 'a', sizeof(ev->boot_id)); /* not even NUL-terminated */
	assert_int_equal(mg_event_to_json(ev, &out, NULL), -EINVAL);
	memcpy(ev->boot_id, BOOT, sizeof(ev->boot_id));

	const size_t bigsize = 65538;
	char *big = malloc(bigsize);
	assert_non_null(big);
	memset(big, 'h', bigsize);
	big[256] = '\0';
	set(&ev->host, big); /* 256 bytes */
	assert_int_equal(mg_event_to_json(ev, &out, NULL), -EINVAL);
	big[255] = '\0';
	set(&ev->host, big); /* 255 bytes: the limit */
	assert_int_equal(mg_event_to_json(ev, &out, NULL), 0);
	free(out);
	out = NULL;
	set(&ev->host, "");
	assert_int_equal(mg_event_to_json(ev, &out, NULL), -EINVAL);
	set(&ev->host, "pc01");

	memset(big, 's', bigsize);
	big[65537] = '\0';
	set(&ev->device->serial, big); /* 65537 bytes */
	assert_int_equal(mg_event_to_json(ev, &out, NULL), -EINVAL);
	big[65536] = '\0';
	set(&ev->device->serial, big); /* 65536 bytes: the limit */
	assert_int_equal(mg_event_to_json(ev, &out, NULL), 0);
	free(out);
	out = NULL;
	set(&ev->device->serial, "x");

	/* Array items have no _hex twin: invalid UTF-8 is refused. */
	push(&ev->device->interfaces, "08:06:\xff");
	assert_int_equal(mg_event_to_json(ev, &out, NULL), -EINVAL);
	assert_null(out);
	mg_event_free(&ev);

	ev = full_event(MG_EV_DEVICE_BLOCKED);
	push(&ev->decision->blocked_interfaces, "\xc0\xaf");
	assert_int_equal(mg_event_to_json(ev, &out, NULL), -EINVAL);
	mg_event_free(&ev);

	/* Larger than MG_EVENT_MAX_JSON once repaired and hex-encoded: 3 + 2 bytes a byte. */
	ev = base_event(MG_EV_DEVICE_SUSPICIOUS);
	memset(big, '\xff', bigsize);
	big[65536] = '\0';
	set(&mg_event_device(ev)->serial, big);
	assert_int_equal(mg_event_to_json(ev, &out, NULL), -EFBIG);
	assert_null(out);
	assert_int_equal(mg_event_to_json(NULL, &out, NULL), -EINVAL);
	assert_int_equal(mg_event_to_json(ev, NULL, NULL), -EINVAL);
	mg_event_free(&ev);
	free(big);
}

/* --- hostile strings ------------------------------------------------------------------- */

/* The string member name of obj in the JSON reparsed by jansson, NULL when absent. */
static const char *member(json_t *root, const char *obj, const char *name)
{
	json_t *o = obj ? json_object_get(root, obj) : root;
	assert_non_null(o);
	return json_string_value(json_object_get(o, name));
}

static void check_hostile(const char *s)
{
	const bool valid = mg_utf8_valid(s, strlen(s));
	struct mg_event *ev = base_event(MG_EV_DEVICE_SUSPICIOUS);
	set(&ev->host, s[0] ? s : "h"); /* host must not be empty */
	if (strlen(s) > 255)
		set(&ev->host, "h");
	set(&mg_event_device(ev)->serial, s);
	set(&ev->device->name, s);
	set(&mg_event_user(ev)->name, s);
	set(&mg_event_auth(ev)->reason, s);
	set(&mg_event_rule(ev)->text, s);
	set(&mg_event_decision(ev)->error, s);
	set(&mg_event_policy(ev)->sha256, s);
	set(&mg_event_agent(ev)->version, s);

	char *json = round_trip(ev); /* restores the exact bytes of every field */
	assert_true(mg_utf8_valid(json, strlen(json)));
	for (const char *p = json; *p; p++)
		assert_true((unsigned char)*p >= 0x20); /* control characters are escaped */

	json_error_t jerr;
	json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		fail_msg("not JSON: %s", jerr.text);
	char *fixed = mg_utf8_repair(s, strlen(s), NULL);
	assert_non_null(fixed);
	assert_string_equal(member(root, "device", "serial"), fixed);
	assert_string_equal(member(root, "user", "name"), fixed);
	if (valid) {
		assert_null(strstr(json, "_hex"));
	} else {
		char hex[2 * 4096 + 1] = "";
		assert_true(strlen(s) <= 4096);
		for (size_t i = 0; s[i]; i++)
			snprintf(hex + 2 * i, 3, "%02x", (unsigned char)s[i]);
		static const char *const where[][2] = {
		    {"device", "serial_hex"}, {"device", "name_hex"},   {"user", "name_hex"},
		    {"auth", "reason_hex"},   {"rule", "text_hex"},     {"decision", "error_hex"},
		    {"policy", "sha256_hex"}, {"agent", "version_hex"},
		};
		for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++)
			assert_string_equal(member(root, where[i][0], where[i][1]), hex);
		/* Only the fields that needed it: 8 above, plus host when it is s too. */
		size_t count = 0;
		for (const char *p = json; (p = strstr(p, "_hex\"")) != NULL; p++)
			count++;
		assert_int_equal(count, strcmp(ev->host, s) == 0 ? 9 : 8);
	}
	free(fixed);
	json_decref(root);
	free(json);
	mg_event_free(&ev);
}

static void test_hostile_strings(void **state)
{
	(void)state;
	char ctl[32];
	for (int i = 1; i < 32; i++)
		ctl[i - 1] = (char)i;
	ctl[31] = '\0';
	static const char *const cases[] = {
	    "",
	    "plain",
	    "quote \" and \"\"",
	    "back\\slash \\\\ \\u0000 \\n",
	    "new\nline\r\n\ttab",
	    "\x7f del",
	    "</script><!--",
	    "マイナンバー \xe2\x80\xa8 \xf0\x9f\x94\x91", /* U+2028, U+1F511: valid */
	    "\xff\xfe",
	    "\xc0\xaf",         /* overlong '/' */
	    "\xed\xa0\x80",     /* lone surrogate */
	    "\xf4\x90\x80\x80", /* above U+10FFFF */
	    "ok \xe3\x83 cut",  /* truncated sequence */
	    "\xef\xbf\xbd",     /* a real U+FFFD is valid and stays without _hex */
	    "\xef\xbf\xbd\xff", /* ... but not next to a bad byte */
	    "\"\\\n\xff\x01",   /* all at once */
	};
	check_hostile(ctl);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_hostile(cases[i]);

	/* 4 KiB serials: every byte value but NUL, and valid multi-byte text. */
	char big[4097];
	for (size_t i = 0; i < 4096; i++)
		big[i] = (char)(i % 255 + 1);
	big[4096] = '\0';
	check_hostile(big);
	for (size_t i = 0; i + 3 <= 4095; i += 3)
		memcpy(big + i, "\xe3\x83\x9e", 3);
	big[4095] = '\0';
	check_hostile(big);
}

static void test_hex_exact(void **state)
{
	(void)state;
	struct mg_event *ev = base_event(MG_EV_DEVICE_SUSPICIOUS);
	set(&mg_event_device(ev)->serial, "A\xff\xfe");
	set(&ev->host, "pc\x01");
	char *json = to_json(ev);
	assert_non_null(strstr(json, "\"serial\":\"A\xef\xbf\xbd\xef\xbf\xbd\","
	                             "\"serial_hex\":\"41fffe\""));
	assert_non_null(strstr(json, "\"host\":\"pc\\u0001\""));
	assert_null(strstr(json, "host_hex"));
	free(json);
	mg_event_free(&ev);

	/* A lone surrogate in the JSON itself is not accepted as text. */
	char err[256];
	assert_int_equal(parse_err("{\"type\":\"agent.started\",\"time\":\"2026-11-25T21:17:59Z\","
	                           "\"host\":\"\\ud800\",\"seq\":1,\"boot_id\":\"" BOOT "\"}",
	                           err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "invalid JSON"));
}

static void test_embedded_nul(void **state)
{
	(void)state;
	char err[256];
#define HEAD                                                                                       \
	"{\"type\":\"device.suspicious\",\"time\":\"2026-11-25T21:17:59Z\",\"host\":\"pc01\","     \
	"\"seq\":1,\"boot_id\":\"" BOOT "\","
	/* The _hex path is the only way to spell a NUL; event strings are C strings. */
	assert_int_equal(parse_err(HEAD "\"device\":{\"interfaces\":[],"
	                                "\"serial\":\"a\xef\xbf\xbd"
	                                "b\",\"serial_hex\":\"610062\"}}",
	                           err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "device.serial_hex"));
	assert_non_null(strstr(err, "NUL"));
	assert_int_equal(parse_err(HEAD "\"device\":{\"interfaces\":[],\"serial\":\"a\\u0000b\"}}",
	                           err, sizeof(err)),
	                 -EINVAL);
	assert_int_equal(
	    parse_err(HEAD "\"device\":{\"interfaces\":[\"\\u0000\"]}}", err, sizeof(err)),
	    -EINVAL);
	/* Bytes around a would-be NUL survive when the NUL itself is not there. */
	struct mg_event *ev = from_json(HEAD "\"device\":{\"interfaces\":[],"
	                                     "\"serial\":\"a\xef\xbf\xbd"
	                                     "b\",\"serial_hex\":\"61ff62\"}}");
	assert_memory_equal(ev->device->serial,
	                    "a\xff"
	                    "b",
	                    4);
	mg_event_free(&ev);
#undef HEAD
}

/* --- parse errors ---------------------------------------------------------------------- */

#define F_TYPE "\"type\":\"device.allowed\""
#define F_TIME "\"time\":\"2026-11-25T21:17:59.123456Z\""
#define F_HOST "\"host\":\"pc01\""
#define F_SEQ  "\"seq\":7"
#define F_BOOT "\"boot_id\":\"" BOOT "\""
#define ALL    F_TYPE "," F_TIME "," F_HOST "," F_SEQ "," F_BOOT
#define DEV(x) "{" ALL ",\"device\":{\"interfaces\":[]" x "}}"

struct bad {
	const char *json;
	const char *msg; /* a substring of the error message */
};

static const struct bad bad_cases[] = {
    {"", "invalid JSON"},
    {"not json", "invalid JSON"},
    {"{" ALL "} trailing", "invalid JSON"},
    {"{" ALL ",}", "invalid JSON"},
    {"{\"type\":\"device.allowed\xff\"}", "invalid JSON"}, /* input not UTF-8 */
    {"[1,2]", "expected a JSON object"},
    {"\"event\"", "expected a JSON object"},
    {"null", "expected a JSON object"},
    /* unknown keys, at the top and nested */
    {"{" ALL ",\"colour\":\"red\"}", "colour: unknown key"},
    {"{" ALL ",\"prev_hash\":\"ab\"}", "prev_hash: unknown key"},
    {"{" ALL ",\"type_hex\":\"61\"}", "type_hex: unknown key"},
    {"{" ALL ",\"seq_hex\":\"61\"}", "seq_hex: unknown key"},
    {DEV(",\"colour\":1"), "device.colour: unknown key"},
    {DEV(",\"interfaces_hex\":\"\""), "device.interfaces_hex: unknown key"},
    {"{" ALL ",\"auth\":{\"failures\":0,\"Reason\":\"x\"}}", "auth.Reason: unknown key"},
    {"{" ALL ",\"a\\nb\":1}", "a?b: unknown key"},         /* control characters not echoed */
    {"{" ALL ",\"caf\xc3\xa9\":1}", "caf??: unknown key"}, /* nor non-ASCII */
    /* required members */
    {"{" F_TIME "," F_HOST "," F_SEQ "," F_BOOT "}", "type: missing"},
    {"{" F_TYPE "," F_HOST "," F_SEQ "," F_BOOT "}", "time: missing"},
    {"{" F_TYPE "," F_TIME "," F_SEQ "," F_BOOT "}", "host: missing"},
    {"{" F_TYPE "," F_TIME "," F_HOST "," F_BOOT "}", "seq: missing"},
    {"{" F_TYPE "," F_TIME "," F_HOST "," F_SEQ "}", "boot_id: missing"},
    {"{" ALL ",\"device\":{}}", "device.interfaces: missing"},
    {"{" ALL ",\"decision\":{\"blocked_interfaces\":[]}}", "decision.applied: missing"},
    {"{" ALL ",\"auth\":{}}", "auth.failures: missing"},
    {"{" ALL ",\"policy\":{}}", "policy.version: missing"},
    {"{" ALL ",\"agent\":{}}", "agent.pid: missing"},
    /* types */
    {"{\"type\":\"device.exploded\"," F_TIME "," F_HOST "," F_SEQ "," F_BOOT "}",
     "type: unknown event type"},
    {"{\"type\":1," F_TIME "," F_HOST "," F_SEQ "," F_BOOT "}", "type: expected a string"},
    {"{" F_TYPE "," F_TIME ",\"host\":7," F_SEQ "," F_BOOT "}", "host: expected a string"},
    {"{" F_TYPE "," F_TIME "," F_HOST ",\"seq\":\"7\"," F_BOOT "}", "seq: expected an integer"},
    {"{" F_TYPE "," F_TIME "," F_HOST ",\"seq\":7.0," F_BOOT "}", "seq: expected an integer"},
    {"{" F_TYPE "," F_TIME "," F_HOST ",\"seq\":1e3," F_BOOT "}", "seq: expected an integer"},
    {"{" F_TYPE "," F_TIME "," F_HOST ",\"seq\":true," F_BOOT "}", "seq: expected an integer"},
    {"{" F_TYPE "," F_TIME "," F_HOST ",\"seq\":null," F_BOOT "}", "seq: expected an integer"},
    {"{" ALL ",\"device\":[]}", "device: expected an object"},
    {"{" ALL ",\"user\":null}", "user: expected an object"},
    {DEV(",\"serial\":5"), "device.serial: expected a string"},
    {DEV(",\"serial\":null"), "device.serial: expected a string"},
    {"{" ALL ",\"device\":{\"interfaces\":\"08:06:50\"}}",
     "device.interfaces: expected an array of strings"},
    {"{" ALL ",\"device\":{\"interfaces\":[\"08:06:50\",1]}}",
     "device.interfaces[1]: expected a string"},
    {"{" ALL ",\"decision\":{\"applied\":\"yes\",\"blocked_interfaces\":[]}}",
     "decision.applied: expected true or false"},
    {"{" ALL ",\"decision\":{\"applied\":1,\"blocked_interfaces\":[]}}",
     "decision.applied: expected true or false"},
    /* numbers */
    {"{" F_TYPE "," F_TIME "," F_HOST ",\"seq\":-1," F_BOOT "}", "seq: must not be negative"},
    {"{" F_TYPE "," F_TIME "," F_HOST ",\"seq\":9007199254740992," F_BOOT "}",
     "seq: larger than 2^53 - 1"},
    {"{" F_TYPE "," F_TIME "," F_HOST ",\"seq\":9223372036854775807," F_BOOT "}",
     "seq: larger than 2^53 - 1"},
    {"{" F_TYPE "," F_TIME "," F_HOST ",\"seq\":18446744073709551615," F_BOOT "}", "invalid JSON"},
    {"{" ALL ",\"auth\":{\"failures\":-3}}", "auth.failures: must not be negative"},
    {"{" ALL ",\"agent\":{\"pid\":9007199254740992}}", "agent.pid: larger than 2^53 - 1"},
    /* duplicate keys */
    {"{" ALL ",\"seq\":8}", "duplicate"},
    {DEV(",\"port\":\"1-2\",\"port\":\"1-3\""), "duplicate"},
    /* host, boot id, time */
    {"{" F_TYPE "," F_TIME ",\"host\":\"\"," F_SEQ "," F_BOOT "}", "host: empty"},
    {"{" F_TYPE "," F_TIME "," F_HOST "," F_SEQ ",\"boot_id\":\"0F8E2A3C-5B1D-4C6E-9A7F-"
     "123456789ABC\"}",
     "boot_id: expected a lower-case UUID"},
    {"{" F_TYPE "," F_TIME "," F_HOST "," F_SEQ
     ",\"boot_id\":\"0f8e2a3c5b1d4c6e9a7f123456789abc\"}",
     "boot_id: expected a lower-case UUID"},
    {"{" F_TYPE "," F_TIME "," F_HOST "," F_SEQ ",\"boot_id\":\"" BOOT "0\"}",
     "boot_id: expected a lower-case UUID"},
    {"{" F_TYPE "," F_TIME "," F_HOST "," F_SEQ ",\"boot_id\":\"\"}",
     "boot_id: expected a lower-case UUID"},
    {"{" F_TYPE "," F_TIME "," F_HOST "," F_SEQ ",\"boot_id\":\"0f8e2a3c-5b1d-4c6e-9a7f-\\u0000"
     "23456789abc\"}",
     "invalid JSON"},
    {"{" F_TYPE ",\"time\":\"2026-02-30T00:00:00Z\"," F_HOST "," F_SEQ "," F_BOOT "}",
     "time: expected an RFC 3339 date-time"},
    {"{" F_TYPE ",\"time\":\"2026-11-25 21:17:59Z\"," F_HOST "," F_SEQ "," F_BOOT "}",
     "time: expected an RFC 3339 date-time"},
    {"{" F_TYPE ",\"time\":1795641479," F_HOST "," F_SEQ "," F_BOOT "}", "time: expected a string"},
    /* _hex */
    {DEV(",\"serial\":\"\xef\xbf\xbd\",\"serial_hex\":\"fffe\""),
     "device.serial_hex: does not match device.serial"},
    {DEV(",\"serial\":\"x\",\"serial_hex\":\"ff\""),
     "device.serial_hex: does not match device.serial"},
    {DEV(",\"serial\":\"\xef\xbf\xbd\",\"serial_hex\":\"FF\""),
     "device.serial_hex: expected lower-case hex digits"},
    {DEV(",\"serial\":\"\xef\xbf\xbd\",\"serial_hex\":\"f\""),
     "device.serial_hex: odd number of hex digits"},
    {DEV(",\"serial\":\"\xef\xbf\xbd\",\"serial_hex\":\"zz\""),
     "device.serial_hex: expected lower-case hex digits"},
    {DEV(",\"serial\":\"\xef\xbf\xbd\",\"serial_hex\":255"),
     "device.serial_hex: expected a string"},
    {DEV(",\"serial_hex\":\"ff\""), "device.serial_hex: present without device.serial"},
    {DEV(",\"serial\":\"ab\",\"serial_hex\":\"6162\""),
     "device.serial_hex: not needed, device.serial is valid UTF-8"},
    {"{" F_TYPE "," F_TIME ",\"host\":\"\xef\xbf\xbd\",\"host_hex\":\"6869\"," F_SEQ "," F_BOOT "}",
     "host_hex: does not match host"},
};

static void test_parse_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		char err[256];
		memset(err, 'x', sizeof(err));
		int r = parse_err(bad_cases[i].json, err, sizeof(err));
		if (r != -EINVAL || !strstr(err, bad_cases[i].msg))
			fail_msg("case %zu %s: got %d \"%s\", want \"%s\"", i, bad_cases[i].json, r,
			         err, bad_cases[i].msg);
	}
	/* The base of the cases above is itself valid. */
	struct mg_event *ev = from_json("{" ALL "}");
	assert_int_equal(ev->seq, 7);
	mg_event_free(&ev);
	ev = from_json(DEV(",\"serial\":\"\xef\xbf\xbd\",\"serial_hex\":\"ff\""));
	assert_string_equal(ev->device->serial, "\xff");
	mg_event_free(&ev);
	ev = from_json("{" F_TYPE "," F_TIME "," F_HOST ",\"seq\":9007199254740991," F_BOOT "}");
	assert_int_equal(ev->seq, MAX53);
	mg_event_free(&ev);
}

static void test_parse_limits(void **state)
{
	(void)state;
	char err[256];
	/* Exactly MG_EVENT_MAX_JSON bytes (padded with white space) is accepted... */
	const char *body = "{" ALL "}";
	char *buf = malloc(MG_EVENT_MAX_JSON + 1);
	assert_non_null(buf);
	memset(buf, ' ', MG_EVENT_MAX_JSON + 1);
	memcpy(buf, body, strlen(body));
	struct mg_event *ev = NULL;
	assert_int_equal(mg_event_from_json(buf, MG_EVENT_MAX_JSON, &ev, err, sizeof(err)), 0);
	mg_event_free(&ev);
	/* ... one more is -EFBIG, before any parsing. */
	err[0] = '\0';
	assert_int_equal(mg_event_from_json(buf, MG_EVENT_MAX_JSON + 1, &ev, err, sizeof(err)),
	                 -EFBIG);
	assert_null(ev);
	assert_non_null(strstr(err, "larger than"));
	free(buf);

	/* Strings: 65536 bytes, and host 255. */
	size_t n = 65536 + 512;
	buf = malloc(n);
	assert_non_null(buf);
	char *big = malloc(65538);
	assert_non_null(big);
	memset(big, 'a', 65537);
	big[65537] = '\0';
	snprintf(buf, n, DEV(",\"serial\":\"%s\""), big);
	assert_int_equal(parse_err(buf, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "device.serial: longer than 65536 bytes"));
	big[65536] = '\0';
	snprintf(buf, n, DEV(",\"serial\":\"%s\""), big);
	ev = from_json(buf);
	assert_int_equal(strlen(ev->device->serial), 65536);
	mg_event_free(&ev);
	big[256] = '\0';
	snprintf(buf, n, "{" F_TYPE "," F_TIME ",\"host\":\"%s\"," F_SEQ "," F_BOOT "}", big);
	assert_int_equal(parse_err(buf, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "host: longer than 255 bytes"));
	big[255] = '\0';
	snprintf(buf, n, "{" F_TYPE "," F_TIME ",\"host\":\"%s\"," F_SEQ "," F_BOOT "}", big);
	ev = from_json(buf);
	assert_int_equal(strlen(ev->host), 255);
	mg_event_free(&ev);
	free(big);
	free(buf);
}

static void test_errmsg_buffers(void **state)
{
	(void)state;
	const char *bad = "{" ALL ",\"colour\":1}";
	struct mg_event *ev = NULL;
	assert_int_equal(mg_event_from_json(bad, strlen(bad), &ev, NULL, 0), -EINVAL);
	assert_int_equal(mg_event_from_json(bad, strlen(bad), &ev, NULL, 100), -EINVAL);
	char err[8];
	memset(err, 'x', sizeof(err));
	assert_int_equal(mg_event_from_json(bad, strlen(bad), &ev, err, 0), -EINVAL);
	assert_int_equal(err[0], 'x'); /* errlen 0: not written */
	assert_int_equal(mg_event_from_json(bad, strlen(bad), &ev, err, 1), -EINVAL);
	assert_int_equal(err[0], '\0');
	assert_int_equal(mg_event_from_json(bad, strlen(bad), &ev, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "colour:");
	/* A success clears a stale message. */
	char err2[64] = "stale";
	const char *good = "{" ALL "}";
	assert_int_equal(mg_event_from_json(good, strlen(good), &ev, err2, sizeof(err2)), 0);
	assert_string_equal(err2, "");
	mg_event_free(&ev);
	/* No input at all. */
	assert_int_equal(mg_event_from_json(NULL, 0, &ev, err2, sizeof(err2)), -EINVAL);
	assert_int_equal(mg_event_from_json(NULL, 5, &ev, err2, sizeof(err2)), -EINVAL);
	assert_int_equal(mg_event_from_json(good, strlen(good), NULL, err2, sizeof(err2)), -EINVAL);
	assert_null(ev);
}

/* --- host identity ------------------------------------------------------------------- */

static void test_host(void **state)
{
	(void)state;
	assert_true(mg_uuid_valid(BOOT));
	assert_true(mg_uuid_valid("00000000-0000-0000-0000-000000000000"));
	assert_false(mg_uuid_valid(NULL));
	assert_false(mg_uuid_valid(""));
	assert_false(mg_uuid_valid("0F8E2A3C-5B1D-4C6E-9A7F-123456789ABC"));
	assert_false(mg_uuid_valid("0f8e2a3c-5b1d-4c6e-9a7f-123456789ab"));
	assert_false(mg_uuid_valid("0f8e2a3c-5b1d-4c6e-9a7f-123456789abcd"));
	assert_false(mg_uuid_valid("0f8e2a3c-5b1d-4c6e-9a7f-123456789abc\n"));
	assert_false(mg_uuid_valid("0f8e2a3c05b1d-4c6e-9a7f-123456789abc"));
	assert_false(mg_uuid_valid("0f8e2a3c-5b1d-4c6e-9a7f-12345678-abc"));
	assert_false(mg_uuid_valid("{f8e2a3c-5b1d-4c6e-9a7f-123456789abc"));

	char id[37];
	int r = mg_boot_id(id);
	if (r == -ENOENT) {
		print_message("no %s here; boot id not checked\n",
		              "/proc/sys/kernel/random/boot_id");
	} else {
		assert_int_equal(r, 0);
		assert_true(mg_uuid_valid(id));
		char again[37];
		assert_int_equal(mg_boot_id(again), 0);
		assert_string_equal(id, again);
	}

	char name[256];
	assert_int_equal(mg_hostname(name, sizeof(name)), 0);
	assert_true(strlen(name) > 0);
	char tiny[1] = "";
	assert_int_equal(mg_hostname(tiny, sizeof(tiny)), -ERANGE);
	assert_int_equal(mg_hostname(NULL, 10), -EINVAL);
	assert_int_equal(mg_hostname(name, 0), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_type_names),
	    cmocka_unit_test(test_new_and_free),
	    cmocka_unit_test(test_round_trip_all_types),
	    cmocka_unit_test(test_canonical_form),
	    cmocka_unit_test(test_to_json_from),
	    cmocka_unit_test(test_write_errors),
	    cmocka_unit_test(test_hostile_strings),
	    cmocka_unit_test(test_hex_exact),
	    cmocka_unit_test(test_embedded_nul),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_parse_limits),
	    cmocka_unit_test(test_errmsg_buffers),
	    cmocka_unit_test(test_host),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
