/*
 * System tests of mynaguard-agent: the real daemon and mynaguardctl against a umockdev
 * testbed (tests/support/testbed.h) with the devices of tests/support/usb_catalog.h, one
 * fresh testbed and agent per scenario (system_harness.h).
 *
 * Run under the umockdev preload (ctest does: umockdev-wrapper test_agent_umockdev) with
 * MG_AGENT_BIN and MG_CTL_BIN naming the built programs.
 */
#include <setjmp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mg/time.h"
#include "system_harness.h"
#include "usb_desc.h"

/* Shipped-style policy: hubs, and devices with a HID or smart-card interface. */
#define RULE_HUBS  "allow with-interface match-all { 09:00:* }"
#define RULE_INPUT "allow with-interface one-of { 03:*:* 0b:*:* }"
#define SHIPPED_RULES                                                                              \
	"# hubs: every interface a hub interface\n" RULE_HUBS "\n"                                 \
	"# input devices, security keys, card readers; block_interfaces strips the "               \
	"rest\n" RULE_INPUT "\n"
#define SHIPPED_CONF                                                                               \
	"implicit_target = block\n"                                                                \
	"present_device_policy = apply-policy\n"                                                   \
	"block_interfaces = 08:*:* 06:*:* 02:*:* 0a:*:* e0:*:* ef:04:* ff:*:* 07:*:*\n"

#define APPROVED_SERIAL "4C530001230825117283"

/* ---- the catalog itself ------------------------------------------------------------------- */

static void test_catalog_consistent(void **state)
{
	(void)state;
	size_t n = 0;
	for (size_t i = 0; mg_cat_all[i]; i++, n++) {
		const struct mg_cat_device *c = mg_cat_all[i];
		char why[256] = "";
		if (mg_cat_check(c, why, sizeof(why)) != 0)
			fail_msg("catalog: %s", why);
		/* The agent's parser reads the same interfaces. */
		struct mg_usb_desc *d = calloc(1, sizeof(*d));
		assert_non_null(d);
		if (mg_usb_desc_parse(c->descriptors, c->descriptors_len, d, why, sizeof(why)) != 0)
			fail_msg("catalog %s: parser refuses it: %s", c->key, why);
		assert_int_equal(d->vendor, c->vendor);
		assert_int_equal(d->product, c->product);
		assert_int_equal(d->n_short_configs, 0);
		size_t k = 0;
		for (size_t j = 0; j < d->n_ifaces; j++) {
			const struct mg_usb_iface *it = &d->ifaces[j];
			if (it->config_value != c->config_value || it->alt != 0)
				continue;
			assert_true(k < c->n_ifaces);
			assert_int_equal(it->number, c->ifaces[k].number);
			assert_int_equal(it->type.cls, c->ifaces[k].cls);
			k++;
		}
		assert_int_equal(k, c->n_ifaces);
		free(d);
	}
	assert_true(n >= 20);
}

/* ---- scenarios ---------------------------------------------------------------------------- */

struct expect {
	const char *key, *port;
	const char *type;          /* decision event type */
	int ifaces[4];             /* authorized of interfaces 0.. after settling; -2 ends */
	const char *blocked_iface; /* kept off by block_interfaces, or NULL */
};

/* Shipped-style policy, every catalog device hot-plugged, then list-devices and unplugs. */
static void test_shipped_policy_all_devices(void **state)
{
	struct sc *sc = *state;
	static const struct expect ex[] = {
	    {"keyboard", "1-1", "device.allowed", {1, 1, -2}, NULL},
	    {"mouse", "1-2", "device.allowed", {1, -2}, NULL},
	    {"fido_key", "1-3", "device.allowed", {1, -2}, NULL},
	    {"yubikey5", "1-4", "device.allowed", {1, 1, 1, -2}, NULL},
	    {"ccid_reader", "1-5", "device.allowed", {1, -2}, NULL},
	    {"keyboard_storage", "1-6", "device.allowed", {1, 1, 0, -2}, "1-6:1.2"},
	    {"badusb", "1-7", "device.allowed", {0, 1, -2}, "1-7:1.0"},
	    {"hub", "1-8", "device.allowed", {1, -2}, NULL},
	    {"mouse_cheap", "1-8.1", "device.allowed", {1, -2}, NULL},
	    {"phone_mtp", "1-9", "device.blocked", {-2}, NULL},
	    {"phone_rndis", "1-10", "device.blocked", {-2}, NULL},
	    {"wifi_rtl8812bu", "1-11", "device.blocked", {-2}, NULL},
	    {"bt_csr", "1-12", "device.blocked", {-2}, NULL},
	    {"printer", "1-13", "device.blocked", {-2}, NULL},
	    {"vendor_pasori", "1-14", "device.blocked", {-2}, NULL},
	    {"flash_sandisk", "2-1", "device.blocked", {-2}, NULL},
	    {"flash_kingston", "2-2", "device.blocked", {-2}, NULL},
	    {"hdd_uas", "2-3", "device.blocked", {-2}, NULL},
	    {"sd_reader", "2-4", "device.blocked", {-2}, NULL},
	    {"eth_rtl8153", "2-5", "device.blocked", {-2}, NULL},
	};
	const size_t nex = sizeof(ex) / sizeof(ex[0]);
	agent_start(sc, SHIPPED_RULES, SHIPPED_CONF);

	/* Root hubs: default-deny written, themselves allowed by the hub rule. */
	for (unsigned bus = 1; bus <= 2; bus++) {
		const char *rh = mg_tb_root_hub(sc->tb, bus);
		assert_attr(sc, rh, "authorized_default", "0");
		assert_attr(sc, rh, "interface_authorized_default", "0");
		assert_authorized(sc, rh, 1);
		json_t *ev = find_event(sc, "device.allowed", rh, 0);
		assert_non_null(ev);
		assert_rule(sc, ev, RULE_HUBS, 2);
	}

	const char *dp[sizeof(ex) / sizeof(ex[0])];
	char hashes[sizeof(ex) / sizeof(ex[0])][64];
	for (size_t i = 0; i < nex; i++) {
		const struct mg_cat_device *c = catalog(ex[i].key);
		json_int_t m = mark(sc);
		json_t *ev = plug(sc, ex[i].key, ex[i].port, &dp[i]);
		assert_type(sc, ev, ex[i].type);
		bool allowed = strcmp(ex[i].type, "device.allowed") == 0;
		assert_authorized(sc, dp[i], allowed ? 1 : 0);
		/* The event: who, which rule, what was done. */
		assert_string_equal(jstr(ev, "device.syspath"), dp[i]);
		assert_string_equal(jstr(ev, "device.port"), ex[i].port);
		char id[5];
		snprintf(id, sizeof(id), "%04x", c->vendor);
		assert_string_equal(jstr(ev, "device.vendor_id"), id);
		snprintf(id, sizeof(id), "%04x", c->product);
		assert_string_equal(jstr(ev, "device.product_id"), id);
		if (c->serial)
			assert_string_equal(jstr(ev, "device.serial"), c->serial);
		else
			assert_null(jget(ev, "device.serial"));
		if (c->product_name)
			assert_string_equal(jstr(ev, "device.name"), c->product_name);
		assert_int_equal(strlen(jstr(ev, "device.hash")), 44);
		assert_non_null(jstr(ev, "device.parent_hash"));
		snprintf(hashes[i], sizeof(hashes[i]), "%s", jstr(ev, "device.hash"));
		assert_interfaces(jget(ev, "device.interfaces"), c);
		assert_string_equal(jstr(ev, "decision.target"), allowed ? "allow" : "block");
		assert_string_equal(jstr(ev, "decision.mode"), "enforce");
		assert_true(json_is_true(jget(ev, "decision.applied")));
		assert_null(jget(ev, "decision.error"));
		if (!allowed) {
			assert_rule(sc, ev, NULL, 0);
		} else if (c->descriptors[4] == 0x09) {
			assert_rule(sc, ev, RULE_HUBS, 2);
		} else {
			assert_rule(sc, ev, RULE_INPUT, 4);
		}
		/* Interfaces as the kernel shows them now. */
		assert_true(mg_tb_configured(sc->tb, dp[i]) == allowed);
		for (unsigned k = 0; allowed && ex[i].ifaces[k] != -2; k++)
			assert_iface(sc, dp[i], c->ifaces[k].number, ex[i].ifaces[k]);
		json_t *sus = find_event(sc, "device.suspicious", dp[i], m);
		if (ex[i].blocked_iface) {
			assert_strv(jget(ev, "decision.blocked_interfaces"),
			            STRV(ex[i].blocked_iface));
			assert_non_null(sus);
			assert_true(ev_seq(sus) > ev_seq(ev));
			assert_strv(jget(sus, "decision.blocked_interfaces"),
			            STRV(ex[i].blocked_iface));
		} else {
			assert_strv(jget(ev, "decision.blocked_interfaces"), NOSTRV);
			assert_null(sus);
		}
	}
	/* The device behind the hub names the hub as its parent. */
	json_t *child = find_event(sc, "device.allowed", dp[8], 0);
	assert_string_equal(jstr(child, "device.parent_hash"), hashes[7]);

	/* list-devices agrees with the events and the kernel state. */
	json_t *arr = list_devices(sc);
	assert_int_equal(json_array_size(arr), nex + 2);
	json_int_t seen_ids[64];
	size_t nids = 0;
	for (size_t i = 0; i < nex; i++) {
		const struct mg_cat_device *c = catalog(ex[i].key);
		json_t *d = listed(arr, dp[i]);
		assert_non_null(d);
		json_int_t idv = json_integer_value(json_object_get(d, "id"));
		assert_true(idv > 0);
		for (size_t k = 0; k < nids; k++)
			assert_true(seen_ids[k] != idv);
		seen_ids[nids++] = idv;
		assert_string_equal(jstr(d, "port"), ex[i].port);
		char id[5];
		snprintf(id, sizeof(id), "%04x", c->vendor);
		assert_string_equal(jstr(d, "vendor_id"), id);
		snprintf(id, sizeof(id), "%04x", c->product);
		assert_string_equal(jstr(d, "product_id"), id);
		if (c->serial)
			assert_string_equal(jstr(d, "serial"), c->serial);
		else
			assert_true(jget(d, "serial") == NULL || json_is_null(jget(d, "serial")));
		if (c->product_name)
			assert_string_equal(jstr(d, "name"), c->product_name);
		assert_string_equal(jstr(d, "hash"), hashes[i]);
		assert_interfaces(json_object_get(d, "interfaces"), c);
		bool allowed = strcmp(ex[i].type, "device.allowed") == 0;
		assert_string_equal(jstr(d, "target"), allowed ? "allow" : "block");
		if (allowed) {
			const char *want = c->descriptors[4] == 0x09 ? RULE_HUBS : RULE_INPUT;
			assert_string_equal(jstr(d, "rule"), want);
			char src[200];
			snprintf(src, sizeof(src), "%s:%u", sc->rules,
			         c->descriptors[4] == 0x09 ? 2u : 4u);
			assert_string_equal(jstr(d, "rule_source"), src);
		} else {
			assert_true(json_is_null(json_object_get(d, "rule")));
			assert_true(json_is_null(json_object_get(d, "rule_source")));
		}
		if (ex[i].blocked_iface)
			assert_strv(json_object_get(d, "blocked_interfaces"),
			            STRV(ex[i].blocked_iface));
		else
			assert_strv(json_object_get(d, "blocked_interfaces"), NOSTRV);
	}
	json_decref(arr);

	/* Unplugging: the flash drive, then the hub with the mouse behind it. */
	unplug(sc, dp[15]);
	json_int_t m = mark(sc);
	assert_int_equal(mg_tb_remove(sc->tb, dp[7]), 0);
	wait_event(sc, "device.removed", dp[8], m);
	json_t *hub_gone = wait_event(sc, "device.removed", dp[7], m);
	assert_string_equal(jstr(hub_gone, "device.hash"), hashes[7]);
	arr = list_devices(sc);
	assert_int_equal(json_array_size(arr), nex + 2 - 3);
	assert_null(listed(arr, dp[15]));
	assert_null(listed(arr, dp[7]));
	assert_null(listed(arr, dp[8]));
	json_decref(arr);
	agent_stop(sc);
}

/* One approved flash drive by id + serial keeps its storage interface; others stay blocked. */
static void test_explicit_allow_by_serial(void **state)
{
	struct sc *sc = *state;
	static const char approved[] =
	    "allow id 0781:5583 serial \"" APPROVED_SERIAL "\" with-interface 08:06:50";
	char rules[1024];
	snprintf(rules, sizeof(rules), "# approved for the registry office\n%s\n%s", approved,
	         SHIPPED_RULES);
	agent_start(sc, rules, SHIPPED_CONF);

	const char *good, *other, *kingston;
	json_t *ev = plug(sc, "flash_sandisk", "2-1", &good);
	assert_type(sc, ev, "device.allowed");
	assert_authorized(sc, good, 1);
	assert_iface(sc, good, 0, 1); /* named by the rule: kept despite block_interfaces */
	assert_strv(jget(ev, "decision.blocked_interfaces"), NOSTRV);
	const char *text = jstr(ev, "rule.text");
	assert_non_null(text);
	assert_non_null(strstr(text, "id 0781:5583"));
	assert_non_null(strstr(text, "serial \"" APPROVED_SERIAL "\""));
	assert_non_null(strstr(text, "08:06:50"));
	char src[200];
	snprintf(src, sizeof(src), "%s:2", sc->rules);
	assert_string_equal(jstr(ev, "rule.source"), src);
	assert_null(find_event(sc, "device.suspicious", good, 0));

	/* Same model, another serial: not approved. */
	struct mg_tb_opts o = {.serial = "4C530001010101010101"};
	ev = plug_opts(sc, "flash_sandisk", "2-2", &o, &other);
	assert_type(sc, ev, "device.blocked");
	assert_rule(sc, ev, NULL, 0);
	assert_authorized(sc, other, 0);
	assert_false(mg_tb_configured(sc->tb, other));
	ev = plug(sc, "flash_kingston", "2-3", &kingston);
	assert_type(sc, ev, "device.blocked");
	assert_authorized(sc, kingston, 0);
	agent_stop(sc);
}

/*
 * Audit mode behind the udev rule (authorized_default=0 on the root hubs): the agent hands
 * the bus back to the kernel's defaults and only records what it would have done.
 */
static void test_audit_mode(void **state)
{
	struct sc *sc = *state;
	mg_tb_udev_rule(sc->tb);
	/* Arrived between the udev rule and the agent: left unauthorized by the rule. */
	const char *early = mg_tb_add(sc->tb, catalog("flash_kingston"), "2-2", NULL);
	assert_non_null(early);
	assert_authorized(sc, early, 0);
	agent_start(sc, SHIPPED_RULES, SHIPPED_CONF "mode = audit\n");
	for (unsigned bus = 1; bus <= 2; bus++) {
		const char *rh = mg_tb_root_hub(sc->tb, bus);
		assert_attr(sc, rh, "authorized_default", "1");
		assert_attr(sc, rh, "interface_authorized_default", "1");
	}
	json_t *ev = find_event(sc, NULL, early, 0);
	assert_non_null(ev);
	assert_type(sc, ev, "device.blocked");
	assert_string_equal(jstr(ev, "decision.mode"), "audit");
	assert_true(json_is_false(jget(ev, "decision.applied")));
	assert_authorized(sc, early, 1); /* what the kernel would have done */
	settle(sc, early);
	assert_iface(sc, early, 0, 1);

	/* Hot-plugged now: authorized and configured by the kernel, and left so. */
	const char *flash, *combo;
	ev = plug(sc, "flash_sandisk", "2-1", &flash);
	assert_type(sc, ev, "device.blocked");
	assert_string_equal(jstr(ev, "decision.target"), "block");
	assert_string_equal(jstr(ev, "decision.mode"), "audit");
	assert_true(json_is_false(jget(ev, "decision.applied")));
	assert_authorized(sc, flash, 1);
	assert_iface(sc, flash, 0, 1);
	assert_attr(sc, flash, "remove", "");

	ev = plug(sc, "keyboard_storage", "1-6", &combo);
	assert_type(sc, ev, "device.allowed");
	assert_string_equal(jstr(ev, "decision.mode"), "audit");
	assert_true(json_is_false(jget(ev, "decision.applied")));
	assert_strv(jget(ev, "decision.blocked_interfaces"), STRV("1-6:1.2"));
	assert_non_null(find_event(sc, "device.suspicious", combo, 0));
	assert_iface(sc, combo, 2, 1); /* would be kept off; not touched */

	json_t *arr = list_devices(sc);
	json_t *d = listed(arr, flash);
	assert_non_null(d);
	assert_string_equal(jstr(d, "target"), "block");
	assert_true(json_is_false(json_object_get(d, "applied")));
	json_decref(arr);
	agent_stop(sc);
}

static const char flash_rule[] = "allow id 0781:5583 with-interface { 08:06:50 }";
/* How the agent prints it (USBGuard's canonical form: a one-value set without braces). */
static const char flash_rule_canon[] = "allow id 0781:5583 with-interface 08:06:50";

/* mynaguardctl reload after editing the rules: the present device is re-decided both ways. */
static void test_reload_ctl(void **state)
{
	struct sc *sc = *state;
	agent_start(sc, SHIPPED_RULES, SHIPPED_CONF);
	const char *flash;
	json_t *ev = plug(sc, "flash_sandisk", "2-1", &flash);
	assert_type(sc, ev, "device.blocked");

	char rules[1024];
	snprintf(rules, sizeof(rules), "%s\n%s", flash_rule, SHIPPED_RULES);
	write_rules(sc, rules);
	json_int_t m = mark(sc);
	struct run r;
	CTL(sc, &r, "reload");
	assert_int_equal(r.status, 0);
	run_free(&r);
	ev = wait_decision(sc, flash, m);
	assert_type(sc, ev, "device.allowed");
	assert_rule(sc, ev, flash_rule_canon, 1);
	json_t *applied = wait_event(sc, "policy.applied", NULL, m);
	assert_true(ev_seq(applied) > ev_seq(ev));
	assert_int_equal(strlen(jstr(applied, "policy.sha256")), 64);
	assert_authorized(sc, flash, 1);
	settle(sc, flash);
	assert_iface(sc, flash, 0, 1);

	struct run st;
	ctl_argv(sc, &st, true, STRV("--json", "status"));
	assert_int_equal(st.status, 0);
	json_t *status = json_loads(st.out, 0, NULL);
	assert_non_null(status);
	assert_int_equal(json_integer_value(json_object_get(status, "rules")), 3);
	assert_string_equal(jstr(status, "mode"), "enforce");
	json_decref(status);
	run_free(&st);

	write_rules(sc, SHIPPED_RULES);
	m = mark(sc);
	CTL(sc, &r, "reload");
	assert_int_equal(r.status, 0);
	run_free(&r);
	ev = wait_decision(sc, flash, m);
	assert_type(sc, ev, "device.blocked");
	assert_authorized(sc, flash, 0);
	settle(sc, flash);
	assert_false(mg_tb_configured(sc->tb, flash));
	agent_stop(sc);
}

/* A broken rules file: the old rules stay, the error names file:line:column. */
static void test_reload_broken(void **state)
{
	struct sc *sc = *state;
	char rules[1024];
	snprintf(rules, sizeof(rules), "%s\n%s", flash_rule, SHIPPED_RULES);
	agent_start(sc, rules, SHIPPED_CONF);
	const char *flash;
	json_t *ev = plug(sc, "flash_sandisk", "2-1", &flash);
	assert_type(sc, ev, "device.allowed");

	write_rules(sc, "allow with-interface match-all { 09:00:* }\n"
	                "allow id 0781:55x3\n"
	                "block\n");
	json_int_t m = mark(sc);
	struct run r;
	CTL(sc, &r, "reload");
	assert_int_equal(r.status, 1);
	char where[200];
	snprintf(where, sizeof(where), "%s:2:", sc->rules);
	const char *at = strstr(r.err, where);
	if (!at)
		fail_msg("reload error does not name %s<column>: %s", where, r.err);
	const char *col = at + strlen(where);
	assert_true(*col >= '1' && *col <= '9');
	json_t *rej = wait_event(sc, "policy.rejected", NULL, m);
	const char *reason = jstr(rej, "policy.reason");
	assert_non_null(reason);
	assert_non_null(strstr(reason, where));
	run_free(&r);
	/* Nothing re-decided; the device is still allowed. */
	read_events(sc);
	assert_null(find_event(sc, NULL, NULL, m));
	assert_authorized(sc, flash, 1);
	assert_iface(sc, flash, 0, 1);
	/* The old rules still decide new devices. */
	struct mg_tb_opts o = {.serial = "4C530009999999999999"};
	const char *second;
	ev = plug_opts(sc, "flash_sandisk", "2-2", &o, &second);
	assert_type(sc, ev, "device.allowed");
	assert_rule(sc, ev, flash_rule_canon, 1);
	agent_stop(sc);
}

/* Lock-out guard: a rule set that would block the keyboard in use or the root hubs is refused
 * by reload and SIGHUP (old rules kept, policy.rejected names the devices) unless --force. */
static void test_reload_lockout(void **state)
{
	struct sc *sc = *state;
	agent_start(sc, SHIPPED_RULES, SHIPPED_CONF);
	const char *kbd;
	assert_type(sc, plug(sc, "keyboard", "1-1", &kbd), "device.allowed");

	/* An empty (comment-only) rules file: everything would fall to the implicit block. */
	write_rules(sc, "# nothing yet\n");
	json_int_t m = mark(sc);
	struct run r;
	CTL(sc, &r, "reload");
	assert_int_equal(r.status, 1);
	if (!strstr(r.err, "lock-out") || !strstr(r.err, "1-1 (HID 046d:c31c") ||
	    !strstr(r.err, "usb1 (root hub"))
		fail_msg("reload does not name the lock-out: %s", r.err);
	run_free(&r);
	json_t *rej = wait_event(sc, "policy.rejected", NULL, m);
	assert_non_null(strstr(jstr(rej, "policy.reason"), "lock-out"));
	read_events(sc);
	assert_null(find_event(sc, NULL, kbd, m)); /* nothing re-decided */
	assert_null(find_event(sc, "policy.applied", NULL, m));
	assert_authorized(sc, kbd, 1);

	/* SIGHUP never forces. */
	m = mark(sc);
	assert_int_equal(kill(sc->pid, SIGHUP), 0);
	wait_notify(sc, "READY=1");
	rej = wait_event(sc, "policy.rejected", NULL, m);
	assert_non_null(strstr(jstr(rej, "policy.reason"), "lock-out"));
	assert_authorized(sc, kbd, 1);

	/* Blocking only the keyboard: refused, naming the keyboard and nothing else. */
	write_rules(sc, "block id 046d:c31c\n" SHIPPED_RULES);
	CTL(sc, &r, "reload");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "1 device in use: 1-1 (HID 046d:c31c"));
	assert_null(strstr(r.err, "usb1"));
	run_free(&r);
	assert_authorized(sc, kbd, 1);

	/* The operator insists. */
	m = mark(sc);
	CTL(sc, &r, "reload", "--force");
	assert_int_equal(r.status, 0);
	run_free(&r);
	assert_type(sc, wait_decision(sc, kbd, m), "device.blocked");
	assert_non_null(wait_event(sc, "policy.applied", NULL, m));
	assert_authorized(sc, kbd, 0);
	agent_stop(sc);
}

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A root client that asks for a large answer and never reads it does not stall decisions:
 * the answer waits in the agent (sent as the socket takes it), the event loop goes on. */
static void test_silent_client(void **state)
{
	struct sc *sc = *state;
	agent_start(sc, SHIPPED_RULES, SHIPPED_CONF);
	/* 40 blocked sticks with 4,000-byte names and serials: list-devices is over 300 KB,
	 * more than a socket buffer holds (212,992 bytes by default). */
	static char name[4001], serial[4001];
	memset(name, 'N', 4000);
	memset(serial, 'S', 4000);
	for (int i = 1; i <= 40; i++) {
		char port[16];
		snprintf(port, sizeof(port), "2-%d", i);
		snprintf(serial, 12, "%010d", i);
		serial[10] = 'S';
		struct mg_tb_opts o = {.serial = serial, .product_name = name};
		assert_type(sc, plug_opts(sc, "flash_sandisk", port, &o, NULL), "device.blocked");
	}
	int fds[2];
	for (int i = 0; i < 2; i++) {
		fds[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(fds[i] >= 0);
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		assert_true(strlen(sc->sock) < sizeof(sa.sun_path));
		memcpy(sa.sun_path, sc->sock, strlen(sc->sock) + 1);
		assert_int_equal(connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
		static const char req[] = "{\"cmd\":\"list-devices\"}\n";
		assert_int_equal(send(fds[i], req, sizeof(req) - 1, MSG_NOSIGNAL), sizeof(req) - 1);
	}
	struct timespec pause = {.tv_sec = 0, .tv_nsec = 300 * 1000 * 1000};
	nanosleep(&pause, NULL); /* the agent has read both requests */

	int64_t t0 = mono_us();
	const char *kbd;
	assert_type(sc, plug(sc, "keyboard", "1-1", &kbd), "device.allowed");
	int64_t took_ms = (mono_us() - t0) / 1000;
	if (took_ms > 1000)
		fail_msg("a keyboard waited %lld ms for its decision behind two silent clients",
		         (long long)took_ms);
	struct run r;
	CTL(sc, &r, "list-devices");
	assert_int_equal(r.status, 0);
	run_free(&r);

	/* The silent client gets its whole answer when it reads. */
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap);
	assert_non_null(buf);
	for (ssize_t n; (n = recv(fds[0], buf + len, cap - 1 - len, 0)) > 0;)
		len += (size_t)n;
	buf[len] = '\0';
	assert_true(len > 212992);
	json_t *ans = json_loads(buf, 0, NULL);
	assert_non_null(ans);
	assert_true(json_is_true(json_object_get(ans, "ok")));
	/* As it was when asked: 40 sticks and 2 root hubs, not yet the keyboard. */
	assert_int_equal(json_array_size(json_object_get(ans, "devices")), 42);
	json_decref(ans);
	free(buf);
	close(fds[0]);
	close(fds[1]);
	agent_stop(sc);
}

/* Local time of day (seconds) of an event's "time". */
static int daytime_of(const json_t *ev)
{
	int64_t us = 0;
	assert_int_equal(mg_time_parse(jstr(ev, "time"), &us), 0);
	time_t t = (time_t)(us / 1000000);
	struct tm tm;
	localtime_r(&t, &tm);
	return tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
}

/* "This stick only in a time window": a device whose rule has localtime() is re-decided when
 * the window opens and when it closes, while it stays plugged in (one timer, no polling). */
static void test_localtime_window(void **state)
{
	struct sc *sc = *state;
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	int day = tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
	if (day > 86400 - 30) { /* the window must not cross midnight */
		sleep((unsigned)(86400 - day + 1));
		now = time(NULL);
		localtime_r(&now, &tm);
		day = tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
	}
	const int b = day + 6, e = day + 8; /* room for a slow start under load */
	char rules[1024];
	snprintf(rules, sizeof(rules),
	         "allow id 0781:5583 with-interface { 08:06:50 } if "
	         "localtime(%02d:%02d:%02d-%02d:%02d:%02d)\n%s",
	         b / 3600, b / 60 % 60, b % 60, e / 3600, e / 60 % 60, e % 60, SHIPPED_RULES);
	agent_start(sc, rules, SHIPPED_CONF);
	const char *flash;
	json_int_t m = mark(sc);
	assert_type(sc, plug(sc, "flash_sandisk", "2-1", &flash), "device.blocked");
	assert_authorized(sc, flash, 0);
	/* Wait (without the harness's 8 s limit) until shortly before the window opens. */
	for (;;) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		time_t t = ts.tv_sec;
		localtime_r(&t, &tm);
		int d = tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
		if (d >= b - 1)
			break;
		struct timespec pause = {.tv_sec = 0, .tv_nsec = 200 * 1000 * 1000};
		nanosleep(&pause, NULL);
	}
	/* The window opens: allowed, by the rule, saying why. */
	json_t *ev = wait_event(sc, "device.allowed", flash, m);
	assert_true(daytime_of(ev) >= b && daytime_of(ev) <= b + 1);
	assert_non_null(strstr(jstr(ev, "rule.text"), "if localtime("));
	assert_non_null(strstr(jstr(ev, "decision.reason"), "localtime()"));
	assert_authorized(sc, flash, 1);
	/* It closes: blocked again. */
	json_int_t m2 = ev_seq(ev);
	ev = wait_event(sc, "device.blocked", flash, m2);
	assert_non_null(strstr(jstr(ev, "decision.reason"), "localtime()"));
	assert_authorized(sc, flash, 0);
	/* Decided when the window opened and one second after its end, to the second (the
	 * events' own times; the timer fires on the second). */
	assert_true(daytime_of(ev) >= e + 1 && daytime_of(ev) <= e + 2);
	agent_stop(sc);
}

/* SIGHUP reloads like mynaguardctl reload, announced through sd_notify. */
static void test_sighup_reload(void **state)
{
	struct sc *sc = *state;
	agent_start(sc, SHIPPED_RULES, SHIPPED_CONF);
	const char *flash;
	json_t *ev = plug(sc, "flash_sandisk", "2-1", &flash);
	assert_type(sc, ev, "device.blocked");
	char rules[1024];
	snprintf(rules, sizeof(rules), "%s\n%s", flash_rule, SHIPPED_RULES);
	write_rules(sc, rules);
	json_int_t m = mark(sc);
	assert_int_equal(kill(sc->pid, SIGHUP), 0);
	wait_notify(sc, "RELOADING=1");
	wait_notify(sc, "READY=1");
	read_events(sc);
	ev = find_event(sc, NULL, flash, m);
	assert_non_null(ev); /* decided before READY=1 */
	assert_type(sc, ev, "device.allowed");
	assert_authorized(sc, flash, 1);
	assert_non_null(find_event(sc, "policy.applied", NULL, m));
	agent_stop(sc);
}

/* allow-device / block-device: until removal, then the rules decide again. */
static void test_overrides(void **state)
{
	struct sc *sc = *state;
	agent_start(
	    sc, SHIPPED_RULES,
	    "implicit_target = block\nblock_interfaces = 08:*:*\n"); /* printers may print */
	const char *kbd, *flash, *printer;
	assert_type(sc, plug(sc, "keyboard", "1-1", &kbd), "device.allowed");
	assert_type(sc, plug(sc, "flash_sandisk", "2-1", &flash), "device.blocked");
	assert_type(sc, plug(sc, "printer", "1-2", &printer), "device.blocked");

	char kbd_id[16], printer_id[16], flash_id[16];
	json_t *ids = list_devices(sc);
	snprintf(kbd_id, sizeof(kbd_id), "%u", listed_id(ids, kbd));
	snprintf(printer_id, sizeof(printer_id), "%u", listed_id(ids, printer));
	snprintf(flash_id, sizeof(flash_id), "%u", listed_id(ids, flash));
	json_decref(ids);
	json_int_t m = mark(sc);
	struct run r;
	CTL(sc, &r, "block-device", kbd_id);
	assert_int_equal(r.status, 0);
	run_free(&r);
	json_t *ev = wait_decision(sc, kbd, m);
	assert_type(sc, ev, "device.blocked");
	assert_authorized(sc, kbd, 0);
	/* The operator decided, not a rule: the event names the operator and no rule. */
	assert_null(jget(ev, "rule"));
	assert_non_null(strstr(jstr(ev, "decision.operator"), "(uid "));
	assert_null(jget(ev, "decision.error"));
	settle(sc, kbd);

	m = mark(sc);
	CTL(sc, &r, "allow-device", printer_id);
	assert_int_equal(r.status, 0);
	run_free(&r);
	ev = wait_decision(sc, printer, m);
	assert_type(sc, ev, "device.allowed");
	assert_authorized(sc, printer, 1);
	settle(sc, printer);
	assert_iface(sc, printer, 0, 1);

	/* An operator allow is a human decision about this one device until it is removed:
	 * it lifts block_interfaces too (the storage works), and it is recorded as such. */
	m = mark(sc);
	CTL(sc, &r, "allow-device", flash_id);
	assert_int_equal(r.status, 0);
	run_free(&r);
	ev = wait_decision(sc, flash, m);
	assert_type(sc, ev, "device.allowed");
	assert_authorized(sc, flash, 1);
	settle(sc, flash);
	assert_iface(sc, flash, 0, 1);
	assert_int_equal(json_array_size(jget(ev, "decision.blocked_interfaces")), 0);
	assert_null(jget(ev, "rule"));
	assert_non_null(jstr(ev, "decision.operator"));

	json_t *arr = list_devices(sc);
	json_t *d = listed(arr, kbd);
	assert_string_equal(jstr(d, "target"), "block");
	assert_true(json_is_true(json_object_get(d, "override")));
	assert_true(json_is_null(json_object_get(d, "rule")));
	d = listed(arr, printer);
	assert_string_equal(jstr(d, "target"), "allow");
	assert_true(json_is_true(json_object_get(d, "override")));
	json_decref(arr);

	/* Unknown and malformed ids. */
	CTL(sc, &r, "allow-device", "9999");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "no device with that id"));
	run_free(&r);
	CTL(sc, &r, "block-device", "abc");
	assert_int_equal(r.status, 2);
	run_free(&r);

	/* The override ends with the device: re-plugged, the rules decide. */
	unplug(sc, kbd);
	ev = plug(sc, "keyboard", "1-1", &kbd);
	assert_type(sc, ev, "device.allowed");
	assert_authorized(sc, kbd, 1);
	agent_stop(sc);
}

/*
 * generate-policy's output, used as the rules, allows exactly the devices present. As
 * usbguard generate-policy: via-port only for devices without a serial number (a stick moved
 * to another port stays allowed, a serial-less keyboard does not); --with-ports for all.
 */
static void test_generate_policy(void **state)
{
	struct sc *sc = *state;
	agent_start(sc, SHIPPED_RULES, SHIPPED_CONF);
	const char *kbd, *flash, *hub, *mouse;
	assert_type(sc, plug(sc, "keyboard", "1-1", &kbd), "device.allowed");
	assert_type(sc, plug(sc, "flash_sandisk", "2-1", &flash), "device.blocked");
	assert_type(sc, plug(sc, "hub", "1-3", &hub), "device.allowed");
	assert_type(sc, plug(sc, "mouse_cheap", "1-3.4", &mouse), "device.allowed");

	struct run r;
	CTL(sc, &r, "generate-policy");
	assert_int_equal(r.status, 0);
	size_t lines = 0;
	for (const char *p = r.out; (p = strchr(p, '\n')); p++)
		lines++;
	assert_int_equal(lines, 6);                         /* two root hubs and four devices */
	assert_null(strstr(r.out, "via-port \"2-1\""));     /* the stick has a serial */
	assert_non_null(strstr(r.out, "via-port \"1-1\"")); /* the keyboard has none */
	assert_non_null(strstr(r.out, "serial \"" APPROVED_SERIAL "\""));
	struct run rp;
	ctl_argv(sc, &rp, true, STRV("generate-policy", "--with-ports"));
	assert_int_equal(rp.status, 0);
	assert_non_null(strstr(rp.out, "via-port \"2-1\""));
	assert_non_null(strstr(rp.out, "via-port \"1-1\""));
	run_free(&rp);
	char gen[160];
	snprintf(gen, sizeof(gen), "%s/generated.conf", sc->dir);
	write_file(gen, r.out, 0600);
	run_free(&r);

	ctl_argv(sc, &r, false, STRV("check-rules", gen));
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, ": 6 rules, OK"));
	run_free(&r);

	char *text = read_all(gen, NULL);
	write_rules(sc, text);
	free(text);
	json_int_t m = mark(sc);
	CTL(sc, &r, "reload");
	assert_int_equal(r.status, 0);
	run_free(&r);
	const char *all[] = {
	    mg_tb_root_hub(sc->tb, 1), mg_tb_root_hub(sc->tb, 2), kbd, flash, hub, mouse};
	for (size_t i = 0; i < 6; i++) {
		json_t *ev = wait_decision(sc, all[i], m);
		assert_type(sc, ev, "device.allowed");
		assert_authorized(sc, all[i], 1);
	}
	settle(sc, flash);
	assert_iface(sc, flash, 0, 1); /* the generated rule names 08:06:50 */

	/* Not in the generated policy: another stick, the same keyboard on another port. The
	 * approved stick itself stays approved on another port. */
	struct mg_tb_opts o = {.serial = "4C530001010101010101"};
	const char *other, *kbd2, *moved;
	assert_type(sc, plug_opts(sc, "flash_sandisk", "2-2", &o, &other), "device.blocked");
	assert_type(sc, plug(sc, "keyboard", "1-2", &kbd2), "device.blocked");
	unplug(sc, flash);
	assert_type(sc, plug(sc, "flash_sandisk", "2-4", &moved), "device.allowed");
	agent_stop(sc);
}

/* check-rules: exit 0 with a count, 1 with file:line:column, 2 for usage. */
static void test_check_rules(void **state)
{
	struct sc *sc = *state;
	char good[160], bad[160], missing[160];
	snprintf(good, sizeof(good), "%s/good.conf", sc->dir);
	snprintf(bad, sizeof(bad), "%s/bad.conf", sc->dir);
	snprintf(missing, sizeof(missing), "%s/missing.conf", sc->dir);
	write_file(good, SHIPPED_RULES "block id 0781:*\n", 0644);
	write_file(bad, "# comment\n\nallow id 0781:5583 serial \"unterminated\n", 0644);
	struct run r;
	ctl_argv(sc, &r, false, STRV("check-rules", good));
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, ": 3 rules, OK"));
	run_free(&r);
	ctl_argv(sc, &r, false, STRV("check-rules", bad));
	assert_int_equal(r.status, 1);
	char where[200];
	snprintf(where, sizeof(where), "%s:3:", bad);
	if (!strstr(r.err, where))
		fail_msg("check-rules error does not name %s<column>: %s", where, r.err);
	run_free(&r);
	ctl_argv(sc, &r, false, STRV("check-rules", missing));
	assert_int_equal(r.status, 1);
	run_free(&r);
	ctl_argv(sc, &r, false, STRV("check-rules"));
	assert_int_equal(r.status, 2);
	run_free(&r);

	/* Lock-out guard: an empty file would block the root hubs; blocking the keyboard in use
	 * names it. --force accepts both with a warning. */
	char empty[160], nokbd[1024];
	snprintf(empty, sizeof(empty), "%s/empty.conf", sc->dir);
	snprintf(nokbd, sizeof(nokbd), "%s/nokbd.conf", sc->dir);
	write_file(empty, "# nothing yet\n", 0644);
	write_file(nokbd, "block id 046d:c31c\n" SHIPPED_RULES, 0644);
	const char *kbd = mg_tb_add(sc->tb, catalog("keyboard"), "1-1", NULL);
	assert_non_null(kbd);
	ctl_argv(sc, &r, false, STRV("check-rules", empty));
	assert_int_equal(r.status, 1);
	if (!strstr(r.err, "lock-out") || !strstr(r.err, "usb1 (root hub 1d6b:0002") ||
	    !strstr(r.err, "1-1 (HID 046d:c31c"))
		fail_msg("check-rules does not report the lock-out: %s", r.err);
	run_free(&r);
	ctl_argv(sc, &r, false, STRV("check-rules", nokbd));
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "1 device in use: 1-1 (HID 046d:c31c"));
	assert_null(strstr(r.err, "usb1"));
	run_free(&r);
	ctl_argv(sc, &r, false, STRV("check-rules", "--force", nokbd));
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.err, "warning: lock-out"));
	if (!strstr(r.out, ": 3 rules, OK"))
		fail_msg("out: %s err: %s", r.out, r.err);
	run_free(&r);
	/* A keyboard the kernel did not authorize is not in use. */
	mg_tb_write(sc->tb, kbd, "authorized", "0");
	ctl_argv(sc, &r, false, STRV("check-rules", nokbd));
	assert_int_equal(r.status, 0);
	run_free(&r);
}

/* Devices configured before the agent started are re-decided by the policy. */
static void test_present_at_start(void **state)
{
	struct sc *sc = *state;
	/* Kernel defaults (no udev rule yet): authorized and configured on arrival. */
	const char *flash = mg_tb_add(sc->tb, catalog("flash_sandisk"), "2-1", NULL);
	const char *kbd = mg_tb_add(sc->tb, catalog("keyboard"), "1-1", NULL);
	const char *combo = mg_tb_add(sc->tb, catalog("keyboard_storage"), "1-6", NULL);
	const char *hub = mg_tb_add(sc->tb, catalog("hub"), "1-3", NULL);
	const char *phone = mg_tb_add(sc->tb, catalog("phone_mtp"), "1-3.2", NULL);
	assert_true(flash && kbd && combo && hub && phone);
	assert_authorized(sc, flash, 1);
	assert_iface(sc, flash, 0, 1);
	agent_start(sc, SHIPPED_RULES, SHIPPED_CONF);
	/* Decided during the scan, before READY=1: no device.inserted for present devices. */
	read_events(sc);
	const char *want[][2] = {{flash, "device.blocked"},
	                         {kbd, "device.allowed"},
	                         {combo, "device.allowed"},
	                         {hub, "device.allowed"},
	                         {phone, "device.blocked"}};
	for (size_t i = 0; i < 5; i++) {
		json_t *ev = find_event(sc, NULL, want[i][0], 0);
		if (!ev)
			FAIL_WITH_LOG(sc, "%s not decided at start", want[i][0]);
		assert_type(sc, ev, want[i][1]);
		assert_null(find_event(sc, "device.inserted", want[i][0], 0));
	}
	assert_authorized(sc, flash, 0);
	assert_authorized(sc, phone, 0);
	assert_authorized(sc, kbd, 1);
	assert_authorized(sc, combo, 1);
	/* Interfaces that existed are set by the decision. */
	assert_iface(sc, combo, 0, 1);
	assert_iface(sc, combo, 1, 1);
	assert_iface(sc, combo, 2, 0);
	assert_iface(sc, kbd, 0, 1);
	assert_non_null(find_event(sc, "device.suspicious", combo, 0));
	/* Parents before children: the phone's parent hash is the hub's. */
	json_t *hev = find_event(sc, NULL, hub, 0);
	json_t *pev = find_event(sc, NULL, phone, 0);
	assert_string_equal(jstr(pev, "device.parent_hash"), jstr(hev, "device.hash"));
	for (unsigned bus = 1; bus <= 2; bus++)
		assert_attr(sc, mg_tb_root_hub(sc->tb, bus), "authorized_default", "0");
	/* The kernel drops the interfaces of deauthorized devices. */
	settle(sc, flash);
	assert_false(mg_tb_configured(sc->tb, flash));
	agent_stop(sc);
}

/* A hub chain: the hash of the hub is the parent-hash of what is behind it. */
static void test_hub_chain(void **state)
{
	struct sc *sc = *state;
	agent_start(sc, SHIPPED_RULES, SHIPPED_CONF);
	const char *hub, *mouse, *flash;
	json_t *hev = plug(sc, "hub", "1-3", &hub);
	assert_type(sc, hev, "device.allowed");
	assert_iface(sc, hub, 0, 1);
	json_t *mev = plug(sc, "mouse", "1-3.1", &mouse);
	assert_type(sc, mev, "device.allowed");
	json_t *fev = plug(sc, "flash_kingston", "1-3.2", &flash);
	assert_type(sc, fev, "device.blocked");
	assert_authorized(sc, flash, 0);
	const char *hub_hash = jstr(hev, "device.hash");
	assert_string_equal(jstr(mev, "device.parent_hash"), hub_hash);
	assert_string_equal(jstr(fev, "device.parent_hash"), hub_hash);
	/* The hub's own parent is the root hub. */
	json_t *arr = list_devices(sc);
	json_t *rh = listed(arr, mg_tb_root_hub(sc->tb, 1));
	assert_non_null(rh);
	assert_string_equal(jstr(hev, "device.parent_hash"), jstr(rh, "hash"));
	json_decref(arr);

	/* Unplugging the hub removes what is behind it first. */
	json_int_t m = mark(sc);
	assert_int_equal(mg_tb_remove(sc->tb, hub), 0);
	json_t *r1 = wait_event(sc, "device.removed", mouse, m);
	json_t *r2 = wait_event(sc, "device.removed", flash, m);
	json_t *r3 = wait_event(sc, "device.removed", hub, m);
	assert_true(ev_seq(r1) < ev_seq(r3) && ev_seq(r2) < ev_seq(r3));
	arr = list_devices(sc);
	assert_int_equal(json_array_size(arr), 2);
	json_decref(arr);
	agent_stop(sc);
}

/* Two identical devices without serial numbers: both decided, told apart by port. */
static void test_identical_serialless(void **state)
{
	struct sc *sc = *state;
	agent_start(sc, SHIPPED_RULES, SHIPPED_CONF);
	const char *a, *b;
	json_t *ea = plug(sc, "mouse_cheap", "1-1", &a);
	json_t *eb = plug(sc, "mouse_cheap", "1-2", &b);
	assert_type(sc, ea, "device.allowed");
	assert_type(sc, eb, "device.allowed");
	assert_authorized(sc, a, 1);
	assert_authorized(sc, b, 1);
	assert_string_equal(jstr(ea, "device.hash"), jstr(eb, "device.hash"));
	json_t *arr = list_devices(sc);
	json_t *da = listed(arr, a), *db = listed(arr, b);
	assert_true(da && db);
	assert_true(json_integer_value(json_object_get(da, "id")) !=
	            json_integer_value(json_object_get(db, "id")));
	assert_string_equal(jstr(da, "port"), "1-1");
	assert_string_equal(jstr(db, "port"), "1-2");
	json_decref(arr);

	/* A rule can still single one out by its port (a mouse in use: --force past the
	 * lock-out guard). */
	write_rules(sc, "block id 093a:2510 via-port \"1-2\"\n" SHIPPED_RULES);
	json_int_t m = mark(sc);
	struct run r;
	CTL(sc, &r, "reload", "--force");
	assert_int_equal(r.status, 0);
	run_free(&r);
	assert_type(sc, wait_decision(sc, a, m), "device.allowed");
	assert_type(sc, wait_decision(sc, b, m), "device.blocked");
	assert_authorized(sc, a, 1);
	assert_authorized(sc, b, 0);
	agent_stop(sc);
}

/* Hostile strings: quotes, backslashes, newlines, invalid UTF-8, page-sized values. */
static void test_hostile_strings(void **state)
{
	struct sc *sc = *state;
	static const char evil[] = "q\"uote\\ back\nline \xff\xfe\xc0\xaf end";
	agent_start(sc, "allow id 046d:c077\n" SHIPPED_RULES, SHIPPED_CONF);

	struct mg_tb_opts o = {.serial = evil, .serial_len = sizeof(evil) - 1};
	const char *m1, *m2, *m3, *m4;
	json_t *ev = plug_opts(sc, "mouse", "1-1", &o, &m1);
	assert_type(sc, ev, "device.allowed");
	assert_authorized(sc, m1, 1);
	/* Lossless in the event: the exact bytes as hex beside the repaired text. */
	const char *hex = jstr(ev, "device.serial_hex");
	assert_non_null(hex);
	assert_int_equal(strlen(hex), 2 * (sizeof(evil) - 1));
	for (size_t i = 0; i < sizeof(evil) - 1; i++) {
		char two[3];
		snprintf(two, sizeof(two), "%02x", (unsigned char)evil[i]);
		assert_memory_equal(hex + 2 * i, two, 2);
	}
	assert_non_null(strstr(jstr(ev, "device.serial"), "\xef\xbf\xbd")); /* U+FFFD */

	/* The longest value sysfs can hold (a page with its newline) is read whole. */
	char *page = malloc(4095);
	assert_non_null(page);
	memset(page, 'S', 4095);
	o = (struct mg_tb_opts){.serial = page, .serial_len = 4095};
	ev = plug_opts(sc, "mouse", "1-2", &o, &m2);
	assert_type(sc, ev, "device.allowed");
	assert_int_equal(strlen(jstr(ev, "device.serial")), 4095);
	free(page);

	/* Longer is impossible from a kernel: refused, blocked, said why. */
	char *big = malloc(5000);
	assert_non_null(big);
	memset(big, 'B', 5000);
	o = (struct mg_tb_opts){.serial = big, .serial_len = 5000};
	ev = plug_opts(sc, "mouse", "1-3", &o, &m3);
	free(big);
	assert_type(sc, ev, "device.blocked");
	assert_authorized(sc, m3, 0);
	const char *err = jstr(ev, "decision.reason");
	assert_non_null(err);
	assert_non_null(strstr(err, "serial"));

	/* Terminal escapes and a right-to-left override in the product name. */
	o = (struct mg_tb_opts){.product_name = "\x1b[31mOK\x1b[0m \xe2\x80\xaegpj.exe"};
	ev = plug_opts(sc, "mouse", "1-4", &o, &m4);
	assert_type(sc, ev, "device.allowed");
	assert_string_equal(jstr(ev, "device.name"), o.product_name);

	/* The operator's terminal never gets the raw bytes: list-devices shows them escaped. */
	struct run lr;
	CTL(sc, &lr, "list-devices");
	assert_int_equal(lr.status, 0);
	assert_null(strchr(lr.out, '\x1b'));
	assert_null(strstr(lr.out, "\xe2\x80\xae"));
	assert_non_null(strstr(lr.out, "\\x1b[31mOK\\x1b[0m \\u202egpj.exe"));
	run_free(&lr);

	/* generate-policy quotes it so that the rule re-parses and matches the same bytes. */
	struct run r;
	CTL(sc, &r, "generate-policy");
	assert_int_equal(r.status, 0);
	char gen[160];
	snprintf(gen, sizeof(gen), "%s/generated.conf", sc->dir);
	write_file(gen, r.out, 0600);
	run_free(&r);
	ctl_argv(sc, &r, false, STRV("check-rules", gen));
	if (r.status != 0)
		fail_msg("generated rules do not re-parse: %s", r.err);
	run_free(&r);
	char *text = read_all(gen, NULL);
	write_rules(sc, text);
	free(text);
	json_int_t mk = mark(sc);
	CTL(sc, &r, "reload");
	assert_int_equal(r.status, 0);
	run_free(&r);
	ev = wait_decision(sc, m1, mk);
	assert_type(sc, ev, "device.allowed");
	assert_non_null(strstr(jstr(ev, "rule.text"), "serial \"q\\\"uote\\\\ back"));
	assert_type(sc, wait_decision(sc, m4, mk), "device.allowed");

	/* Still answering. */
	CTL(sc, &r, "status");
	assert_int_equal(r.status, 0);
	run_free(&r);
	agent_stop(sc);
}

/* Malformed or lying descriptors: blocked even by an allow-everything rule, with the reason. */
static void test_malformed_descriptors(void **state)
{
	struct sc *sc = *state;
	/* By id, and then anything at all. */
	agent_start(sc, "allow id 0781:5583\nallow\n", SHIPPED_CONF);
	const struct mg_cat_device *flash = catalog("flash_sandisk");
	uint8_t zero_len[64], past_end[64], big_cfg[64];
	memcpy(zero_len, flash->descriptors, 27);
	zero_len[27] = 0x00; /* bLength 0 */
	zero_len[28] = 0x04;
	memcpy(past_end, flash->descriptors, 27);
	past_end[27] = 0xff; /* bLength 255, 2 bytes left */
	past_end[28] = 0x04;
	memcpy(big_cfg, flash->descriptors, flash->descriptors_len);
	big_cfg[20] = 0xff; /* wTotalLength claims 0x00ff bytes: the kernel keeps it short */
	uint8_t *huge = calloc(1, 70000);
	assert_non_null(huge);
	memcpy(huge, flash->descriptors, flash->descriptors_len);
	for (size_t off = flash->descriptors_len; off + 255 <= 70000; off += 255) {
		huge[off] = 255;
		huge[off + 1] = 0x24;
	}
	const struct {
		const char *port, *why;
		struct mg_tb_opts o;
	} bad[] = {
	    {"2-1", "descriptors", {.descriptors = flash->descriptors, .descriptors_len = 40}},
	    {"2-2", "descriptors", {.descriptors = zero_len, .descriptors_len = 29}},
	    {"2-3", "descriptors", {.descriptors = past_end, .descriptors_len = 29}},
	    {"2-4", "descriptors", {.no_descriptors = true}},
	    {"2-5", "descriptors", {.descriptors = zero_len, .descriptors_len = 0}},
	    {"2-6",
	     "device descriptor says 0781:5583 but sysfs says 0782:5583",
	     {.id_vendor = "0782"}},
	    {"2-7", "idVendor", {.id_vendor = "zzzz"}},
	    {"2-8", "descriptors", {.descriptors = huge, .descriptors_len = 70000}},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *dp;
		json_t *ev = plug_opts(sc, "flash_sandisk", bad[i].port, &bad[i].o, &dp);
		assert_type(sc, ev, "device.blocked");
		assert_authorized(sc, dp, 0);
		assert_string_equal(jstr(ev, "decision.target"), "block");
		const char *err = jstr(ev, "decision.reason");
		if (!err || !strstr(err, bad[i].why))
			FAIL_WITH_LOG(sc, "%s: decision.reason \"%s\" does not say \"%s\"",
			              bad[i].port, err ? err : "(none)", bad[i].why);
		assert_null(json_object_get(ev, "rule"));
	}
	free(huge);
	/* A configuration shorter than its wTotalLength is what the kernel keeps: accepted. */
	struct mg_tb_opts o = {.descriptors = big_cfg, .descriptors_len = flash->descriptors_len};
	const char *dp;
	assert_type(sc, plug_opts(sc, "flash_sandisk", "2-9", &o, &dp), "device.allowed");
	/* And a sound device under the same rule. */
	assert_type(sc, plug(sc, "mouse", "1-1", &dp), "device.allowed");
	json_t *arr = list_devices(sc);
	assert_int_equal(json_array_size(arr), 2 + 10);
	json_t *d = listed(arr, mg_tb_devpath(sc->tb, "2-6"));
	assert_non_null(d);
	assert_string_equal(jstr(d, "target"), "block");
	assert_non_null(jstr(d, "error"));
	json_decref(arr);
	agent_stop(sc);
}

/* Uevents that arrive while the agent scans at start-up are not lost. */
static void test_uevents_during_startup(void **state)
{
	struct sc *sc = *state;
	static const struct {
		const char *key, *port, *type;
	} devs[] = {
	    {"keyboard", "1-1", "device.allowed"},      {"mouse", "1-2", "device.allowed"},
	    {"flash_sandisk", "2-1", "device.blocked"}, {"flash_kingston", "2-2", "device.blocked"},
	    {"phone_mtp", "1-3", "device.blocked"},     {"fido_key", "1-4", "device.allowed"},
	    {"ccid_reader", "1-5", "device.allowed"},   {"printer", "1-6", "device.blocked"},
	};
	const size_t n = sizeof(devs) / sizeof(devs[0]);
	mg_tb_udev_rule(sc->tb); /* new devices arrive unauthorized, as at boot */
	write_rules(sc, SHIPPED_RULES);
	write_conf(sc, SHIPPED_CONF);
	agent_spawn(sc);
	const char *dp[8];
	for (size_t i = 0; i < n; i++) {
		dp[i] = mg_tb_add(sc->tb, catalog(devs[i].key), devs[i].port, NULL);
		assert_non_null(dp[i]);
	}
	wait_notify(sc, "READY=1");
	sync_agent(sc); /* after every queued uevent */
	read_events(sc);
	for (size_t i = 0; i < n; i++) {
		/* The last decision counts (a device may be seen by the scan and its uevent). */
		json_t *last = NULL;
		for (json_t *ev = find_event(sc, NULL, dp[i], 0); ev;
		     ev = find_event(sc, NULL, dp[i], ev_seq(ev)))
			last = ev;
		if (!last)
			FAIL_WITH_LOG(sc, "%s was never decided", dp[i]);
		assert_type(sc, last, devs[i].type);
		assert_authorized(sc, dp[i], strcmp(devs[i].type, "device.allowed") == 0);
	}
	json_t *arr = list_devices(sc);
	assert_int_equal(json_array_size(arr), n + 2);
	json_decref(arr);
	agent_stop(sc);
}

/* reject: deauthorized and removed from the bus. */
static void test_reject(void **state)
{
	struct sc *sc = *state;
	agent_start(sc, "reject id 0bda:b812\n" SHIPPED_RULES, SHIPPED_CONF);
	const char *wifi;
	json_t *ev = plug(sc, "wifi_rtl8812bu", "1-1", &wifi);
	assert_type(sc, ev, "device.rejected");
	assert_string_equal(jstr(ev, "decision.target"), "reject");
	assert_rule(sc, ev, "reject id 0bda:b812", 1);
	assert_authorized(sc, wifi, 0);
	assert_attr(sc, wifi, "remove", "1");
	/* The kernel then takes it off the bus. */
	unplug(sc, wifi);
	json_t *arr = list_devices(sc);
	assert_null(listed(arr, wifi));
	json_decref(arr);
	agent_stop(sc);
}

/*
 * present_device_policy applies to the devices found at start only: a reload re-decides the
 * devices plugged since by the rules, whatever that policy says.
 */
static void test_present_policy_only_at_start(void **state)
{
	struct sc *sc = *state;
	/* Found at start: allowed by present_device_policy = allow. */
	const char *early = mg_tb_add(sc->tb, catalog("printer"), "1-2", NULL);
	assert_non_null(early);
	agent_start(sc, SHIPPED_RULES,
	            "implicit_target = block\npresent_device_policy = allow\n"
	            "block_interfaces = 08:*:*\n");
	json_t *ev = find_event(sc, NULL, early, 0);
	assert_non_null(ev);
	assert_type(sc, ev, "device.allowed");
	assert_authorized(sc, early, 1);
	/* Plugged later: decided by the rules. */
	const char *flash;
	assert_type(sc, plug(sc, "flash_sandisk", "2-1", &flash), "device.blocked");
	json_int_t m = mark(sc);
	struct run r;
	CTL(sc, &r, "reload");
	assert_int_equal(r.status, 0);
	run_free(&r);
	ev = wait_decision(sc, flash, m);
	assert_type(sc, ev, "device.blocked");
	assert_authorized(sc, flash, 0);
	assert_null(jget(ev, "decision.reason"));
	/* After a reload the rules decide every device, the early one too. */
	ev = find_event(sc, NULL, early, m);
	assert_non_null(ev);
	assert_type(sc, ev, "device.blocked");
	assert_authorized(sc, early, 0);
	agent_stop(sc);
}

/*
 * A control-socket peer that connects and never sends a request does not hold up device
 * decisions (the agent has one thread), and other control requests are still answered.
 */
static void test_silent_ctl_peer(void **state)
{
	struct sc *sc = *state;
	agent_start(sc, SHIPPED_RULES, SHIPPED_CONF);
	int silent[20];
	for (size_t i = 0; i < 20; i++) { /* more than the agent keeps slots for */
		silent[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(silent[i] >= 0);
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		assert_true(strlen(sc->sock) < sizeof(sa.sun_path));
		memcpy(sa.sun_path, sc->sock, strlen(sc->sock) + 1);
		assert_int_equal(connect(silent[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	const char *flash;
	assert_type(sc, plug(sc, "flash_sandisk", "2-1", &flash), "device.blocked");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	if (ms > 900) /* a blocking read of one silent peer alone would take 1000 ms */
		FAIL_WITH_LOG(sc, "decision took %.0f ms with silent control peers", ms);
	json_t *arr = list_devices(sc);
	assert_non_null(listed(arr, flash));
	json_decref(arr);
	for (size_t i = 0; i < 20; i++)
		close(silent[i]);
	agent_stop(sc);
}

/* uevent_source = udev works the same under umockdev. */
static void test_udev_source(void **state)
{
	struct sc *sc = *state;
	agent_start(sc, SHIPPED_RULES, SHIPPED_CONF "uevent_source = udev\n");
	const char *kbd, *flash;
	assert_type(sc, plug(sc, "keyboard_storage", "1-1", &kbd), "device.allowed");
	assert_iface(sc, kbd, 2, 0);
	assert_iface(sc, kbd, 0, 1);
	assert_type(sc, plug(sc, "flash_sandisk", "2-1", &flash), "device.blocked");
	unplug(sc, flash);
	agent_stop(sc);
}

/*
 * The kernel probes no driver for an interface that was created unauthorized (root hubs carry
 * interface_authorized_default=0): authorizing it later is not enough, its name must then be
 * written to /sys/bus/usb/drivers_probe (Documentation/usb/authorization.rst), or keyboards do
 * not type. The testbed's drivers_probe is a plain file: it holds the last name written.
 */
static char probe_path[PATH_MAX];

static void probe_reset(void)
{
	FILE *f = fopen(probe_path, "w");
	assert_non_null(f);
	assert_int_equal(fclose(f), 0);
}

static void assert_probed(struct sc *sc, const char *devpath, int iface)
{
	size_t len = 0;
	char *got = read_all(probe_path, &len);
	char want[PATH_MAX] = "";
	if (iface >= 0) {
		char ipath[512];
		assert_non_null(
		    mg_tb_iface(sc->tb, devpath, (unsigned)iface, ipath, sizeof(ipath)));
		snprintf(want, sizeof(want), "%s", strrchr(ipath, '/') + 1);
	}
	if (strcmp(got ? got : "", want) != 0)
		FAIL_WITH_LOG(sc, "%s: drivers_probe holds \"%s\", expected \"%s\"", devpath,
		              got ? got : "", want);
	free(got);
}

static void test_drivers_probe(void **state)
{
	struct sc *sc = *state;
	snprintf(probe_path, sizeof(probe_path), "%s/sys/bus/usb/drivers_probe",
	         mg_tb_root(sc->tb));
	probe_reset();
	agent_start(sc, SHIPPED_RULES, SHIPPED_CONF);
	const char *dp;

	/* An allowed keyboard: both HID interfaces authorized, then probed (the file keeps the
	 * last name written). */
	probe_reset();
	json_t *ev = plug(sc, "keyboard", "1-1", &dp);
	assert_type(sc, ev, "device.allowed");
	sync_agent(sc);
	assert_iface(sc, dp, 0, 1);
	assert_iface(sc, dp, 1, 1);
	assert_probed(sc, dp, 1);

	/* Keyboard with storage: the storage interface (2, created last) stays off and is never
	 * probed; the HID ones are (a probe of 2 would be the last name written). */
	probe_reset();
	ev = plug(sc, "keyboard_storage", "1-6", &dp);
	assert_type(sc, ev, "device.allowed");
	sync_agent(sc);
	assert_iface(sc, dp, 1, 1);
	assert_iface(sc, dp, 2, 0);
	assert_probed(sc, dp, 1);

	/* A blocked stick: nothing is probed. */
	probe_reset();
	ev = plug(sc, "flash_sandisk", "2-1", &dp);
	assert_type(sc, ev, "device.blocked");
	sync_agent(sc);
	assert_probed(sc, dp, -1);
	agent_stop(sc);
}

/*
 * A temporary permission ends on time for a device that stays plugged in: when its deciding
 * rule expires the agent re-decides it (a timer, no polling) and the event names the rule.
 */
static void test_expiry_of_present_device(void **state)
{
	struct sc *sc = *state;
	char when[MG_RFC3339_LEN], rules[1024];
	assert_int_equal(mg_time_format(mg_now_us() + 2500000, when), 0);
	snprintf(rules, sizeof(rules),
	         "allow id 0781:5583 serial \"" APPROVED_SERIAL "\" with-interface 08:06:50"
	         " expires \"%s\"\n%s",
	         when, SHIPPED_RULES);
	agent_start(sc, rules, SHIPPED_CONF);
	const char *dp;
	json_int_t m = mark(sc);
	json_t *ev = plug(sc, "flash_sandisk", "2-1", &dp);
	assert_type(sc, ev, "device.allowed");
	assert_authorized(sc, dp, 1);
	/* About 2.5 s later, without any uevent or command: blocked, and why. */
	ev = wait_event(sc, "device.blocked", dp, m);
	assert_non_null(ev);
	assert_authorized(sc, dp, 0);
	const char *why = jstr(ev, "decision.reason");
	assert_non_null(why);
	assert_non_null(strstr(why, "expired"));
	char src[200];
	snprintf(src, sizeof(src), "%s:1", sc->rules);
	assert_non_null(strstr(why, src));
	int64_t expires = 0;
	assert_int_equal(mg_time_parse(when, &expires), 0);
	assert_true(mg_now_us() >= expires); /* not before its time */
	agent_stop(sc);
}

int main(void)
{
	if (harness_init() < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
#define SC(t) cmocka_unit_test_setup_teardown(t, sc_setup, sc_teardown)
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_catalog_consistent),
	    SC(test_shipped_policy_all_devices),
	    SC(test_explicit_allow_by_serial),
	    SC(test_audit_mode),
	    SC(test_reload_ctl),
	    SC(test_reload_broken),
	    SC(test_sighup_reload),
	    SC(test_overrides),
	    SC(test_generate_policy),
	    SC(test_check_rules),
	    SC(test_reload_lockout),
	    SC(test_silent_client),
	    SC(test_localtime_window),
	    SC(test_present_at_start),
	    SC(test_hub_chain),
	    SC(test_identical_serialless),
	    SC(test_hostile_strings),
	    SC(test_malformed_descriptors),
	    SC(test_uevents_during_startup),
	    SC(test_reject),
	    SC(test_present_policy_only_at_start),
	    SC(test_silent_ctl_peer),
	    SC(test_udev_source),
	    SC(test_drivers_probe),
	    SC(test_expiry_of_present_device),
	};
	return cmocka_run_group_tests_name("agent_umockdev", tests, NULL, NULL);
}
