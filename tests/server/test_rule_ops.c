/*
 * The shared rule service (server/policy/rule_ops.c): the one-rule check with the agents' parser,
 * the rule generated for a device (round trip: it parses and matches the device), and rule
 * changes that publish a new signed policy version, on a throwaway SQLite store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device.h"
#include "policy_build.h"
#include "rule_ops.h"
#include "rules.h"

#define T0  INT64_C(1795564800000000) /* 2026-11-25T00:00:00Z */
#define DAY INT64_C(86400000000)

static char g_dir[PATH_MAX];

/* ---- mg_rule_check ---- */

static void expect_bad(const char *text, const char *want)
{
	char err[256] = "";
	assert_int_equal(mg_rule_check(text, err, sizeof(err)), -EINVAL);
	if (!strstr(err, want))
		fail_msg("\"%s\": got \"%s\", want \"%s\"", text, err, want);
}

static void test_check(void **state)
{
	char err[256] = "x";
	(void)state;
	assert_int_equal(mg_rule_check("allow id 1d6b:0002", err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(mg_rule_check("block with-interface one-of { 08:*:* 06:*:* }", NULL, 0),
	                 0);
	assert_int_equal(mg_rule_check("allow serial \"a#b\" expires \"2030-01-01T00:00:00Z\"", err,
	                               sizeof(err)),
	                 0);

	/* The parser's own message and column. */
	expect_bad("allow id 1d6b:00zz", "rule:1:10: ");
	expect_bad("allow frobnicate \"x\"", "rule:1:7: ");
	expect_bad("allow serial \"\\q\"", "rule:1:");
	/* Exactly one rule, one line, no comment. */
	expect_bad("", "rule:1:1: expected a rule");
	expect_bad("   ", "rule:1:1: expected a rule");
	expect_bad("# only a comment", "rule:1:1: comments are not allowed");
	expect_bad("allow id 1d6b:0002 # root hub", "rule:1:20: comments are not allowed");
	expect_bad("allow id 1d6b:0002\nallow id 1d6b:0003", "rule:1:19: must be exactly one line");
	expect_bad("allow id 1d6b:0002\n", "rule:1:19: ");
	expect_bad("allow\r", "rule:1:6: ");
	expect_bad("allow \x01", "rule:1:7: control character");
	expect_bad("allow name \"\xff\"", "rule:1:1: not valid UTF-8");
	{
		char *big = malloc(MG_STORE_RULE_SIZE + 10);
		assert_non_null(big);
		memset(big, ' ', MG_STORE_RULE_SIZE + 9);
		memcpy(big, "allow", 5);
		big[MG_STORE_RULE_SIZE + 9] = '\0';
		expect_bad(big, "longer than 4095 bytes");
		free(big);
	}
	assert_int_equal(mg_rule_check(NULL, err, sizeof(err)), -EINVAL);
}

/* ---- mg_rule_for_device ---- */

/* A device as the agent reads it, with the ledger's identity. */
static void fake_device(struct mg_device *d, const struct mg_store_device_id *id)
{
	memset(d, 0, sizeof(*d));
	d->syspath = (char *)(uintptr_t) "/devices/pci0000:00/0000:00:14.0/usb1/1-2";
	d->port = (char *)(uintptr_t) "1-2";
	d->name = (char *)(uintptr_t)id->name;
	d->serial = (char *)(uintptr_t)id->serial;
	d->hash = (char *)(uintptr_t)id->hash;
	d->parent_hash = (char *)(uintptr_t) "";
	d->connect_type = (char *)(uintptr_t) "hotplug";
	memcpy(d->vendor_id, id->vendor_id, 5);
	memcpy(d->product_id, id->product_id, 5);
	d->vendor = (uint16_t)strtoul(id->vendor_id, NULL, 16);
	d->product = (uint16_t)strtoul(id->product_id, NULL, 16);
}

/* The generated rule parses (as one rule) and matches exactly the device it was made for. */
static void roundtrip(const struct mg_store_device_id *id, const char *want)
{
	char rule[MG_STORE_RULE_SIZE];
	struct mg_ruleset *rs = NULL;
	struct mg_rule_error re;
	struct mg_device dev, other;
	struct mg_store_device_id id2 = *id;

	assert_int_equal(mg_rule_for_device(id, rule, sizeof(rule)), 0);
	if (want)
		assert_string_equal(rule, want);
	assert_int_equal(mg_rule_check(rule, NULL, 0), 0);
	assert_int_equal(mg_ruleset_parse("gen", rule, strlen(rule), &rs, &re), 0);
	assert_int_equal(mg_ruleset_count(rs), 1);
	fake_device(&dev, id);
	assert_true(mg_rule_matches(mg_ruleset_rule(rs, 0), &dev, T0));
	assert_ptr_equal(mg_ruleset_match(rs, &dev, T0), mg_ruleset_rule(rs, 0));
	/* Another product id, or another serial, does not match. */
	snprintf(id2.product_id, sizeof(id2.product_id), "%s",
	         strcmp(id->product_id, "0001") ? "0001" : "0002");
	fake_device(&other, &id2);
	assert_false(mg_rule_matches(mg_ruleset_rule(rs, 0), &other, T0));
	if (id->serial[0]) {
		id2 = *id;
		id2.serial[0] = id2.serial[0] == 'X' ? 'Y' : 'X';
		fake_device(&other, &id2);
		assert_false(mg_rule_matches(mg_ruleset_rule(rs, 0), &other, T0));
	}
	mg_ruleset_free(&rs);
}

static void test_for_device(void **state)
{
	struct mg_store_device_id id;
	char small[24];
	(void)state;

	memset(&id, 0, sizeof(id));
	memcpy(id.vendor_id, "0781", 5);
	memcpy(id.product_id, "5581", 5);
	roundtrip(&id, "allow id 0781:5581");

	snprintf(id.serial, sizeof(id.serial), "4C530001");
	snprintf(id.hash, sizeof(id.hash), "aBcD+/09xyz=");
	snprintf(id.name, sizeof(id.name), "Ultra \"Fit\"");
	roundtrip(&id, "allow id 0781:5581 serial \"4C530001\" hash \"aBcD+/09xyz=\"");

	/* Quotes, backslashes, '#', braces, tabs and non-ASCII UTF-8 are escaped. */
	snprintf(id.serial, sizeof(id.serial), "a\"b\\c#{d}\te \xe3\x82\xb7");
	id.hash[0] = '\0';
	roundtrip(&id, "allow id 0781:5581 serial \"a\\\"b\\\\c#{d}\\x09e \\xe3\\x82\\xb7\"");

	/* A serial that is only escapes. */
	memset(id.serial, 0, sizeof(id.serial));
	for (size_t i = 0; i < 300; i++)
		id.serial[i] = (char)(1 + i % 126);
	roundtrip(&id, NULL);

	/* Too long for the buffer, or for a stored rule. */
	assert_int_equal(mg_rule_for_device(&id, small, sizeof(small)), -E2BIG);
	memset(id.serial, 0, sizeof(id.serial));
	memset(id.serial, 0x01, sizeof(id.serial) - 1);
	{
		char rule[MG_STORE_RULE_SIZE];
		assert_int_equal(mg_rule_for_device(&id, rule, sizeof(rule)), -E2BIG);
	}
	/* Ids that are not 4 lower-case hex digits. */
	memset(id.serial, 0, sizeof(id.serial));
	memcpy(id.vendor_id, "07G1", 5);
	assert_int_equal(mg_rule_for_device(&id, small, sizeof(small)), -EINVAL);
	memcpy(id.vendor_id, "0781", 5);
	memcpy(id.product_id, "558", 4);
	assert_int_equal(mg_rule_for_device(&id, small, sizeof(small)), -EINVAL);
}

/* ---- changes that publish ---- */

struct fixture {
	struct mg_store *s;
	struct mg_policy_key *key;
	char pub[MG_POLICY_PUBKEY_B64_SIZE];
	struct mg_rule_ops ops;
	int64_t host;
};

static int setup_store(void **state)
{
	static int counter;
	char url[PATH_MAX + 64], path[PATH_MAX + 64], msg[256];
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(url, sizeof(url), "sqlite:%s/store%d.db", g_dir, ++counter);
	snprintf(path, sizeof(path), "%s/key%d.pem", g_dir, counter);
	if (mg_store_open(url, &f->s, msg, sizeof(msg)) < 0 ||
	    mg_policy_key_generate(path, &f->key) < 0 ||
	    mg_policy_key_public_b64(f->key, f->pub) < 0 ||
	    mg_store_host_add(f->s, "mn-term-01", "0a1b", T0, &f->host) < 0)
		return -1;
	f->ops = (struct mg_rule_ops){.store = f->s, .key = f->key, .validity_us = 7 * DAY};
	*state = f;
	return 0;
}

static int teardown_store(void **state)
{
	struct fixture *f = *state;
	mg_store_close(&f->s);
	mg_policy_key_free(&f->key);
	free(f);
	return 0;
}

/* The latest stored policy, verified as a terminal would (signature, version, expiry). */
static struct mg_policy_bundle *latest(struct fixture *f, uint64_t version)
{
	struct mg_store_policy *p = NULL;
	struct mg_policy_bundle *b = NULL;
	char sig[MG_POLICY_SIG_B64_SIZE];
	char err[256] = "";
	assert_int_equal(mg_store_policy_get(f->s, 0, &p), 0);
	assert_int_equal(p->version, version);
	assert_int_equal(p->sig_len, 88);
	memcpy(sig, p->sig, 88);
	sig[88] = '\0';
	if (mg_policy_verify_bundle(f->pub, p->json, p->json_len, sig, version - 1, T0 + 1, f->host,
	                            &b, err, sizeof(err)) != 0)
		fail_msg("bundle %" PRIu64 " refused: %s", version, err);
	mg_store_policy_free(&p);
	return b;
}

struct rules_seen {
	size_t n;
	struct mg_store_rule last;
};

static int count_rule(void *ctx, const struct mg_store_rule *r)
{
	struct rules_seen *s = ctx;
	s->n++;
	s->last = *r;
	return 0;
}

static void test_add_remove(void **state)
{
	struct fixture *f = *state;
	const struct mg_store_actor by = {.admin = "root-admin", .remote = "127.0.0.1"};
	struct mg_policy_bundle *b;
	struct rules_seen seen = {0};
	char err[256];
	int64_t id1 = 0, id2 = 0, id = 0;
	uint64_t v1 = 0, v2 = 0, v3 = 0, v = 99;

	assert_int_equal(mg_rule_ops_add(&f->ops, &by, "allow id 1d6b:0002", 0, 0, "root hubs", T0,
	                                 &id1, &v1, err, sizeof(err)),
	                 0);
	assert_true(id1 > 0);
	assert_int_equal(v1, 1);
	b = latest(f, 1);
	assert_string_equal(b->rules, "allow id 1d6b:0002\n");
	assert_int_equal(b->n_hosts, 0);
	assert_int_equal(b->expires_us, T0 + 7 * DAY);
	mg_policy_bundle_free(&b);

	/* For one host, until tomorrow: the bundle expires with the rule. */
	assert_int_equal(mg_rule_ops_add(&f->ops, &by, "allow id 0781:5581 serial \"4C53\"",
	                                 f->host, T0 + DAY, NULL, T0, &id2, &v2, err, sizeof(err)),
	                 0);
	assert_int_equal(v2, 2);
	b = latest(f, 2);
	assert_string_equal(mg_policy_bundle_host_rules(b, f->host),
	                    "allow id 0781:5581 serial \"4C53\"\n");
	assert_int_equal(b->expires_us, T0 + DAY);
	mg_policy_bundle_free(&b);
	assert_int_equal(mg_store_rules_foreach(f->s, 0, 0, count_rule, &seen), 0);
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.last.host_id, f->host);
	assert_int_equal(seen.last.expires_us, T0 + DAY);
	assert_string_equal(seen.last.created_by, "root-admin");

	/* Refusals change nothing and publish nothing. */
	assert_int_equal(mg_rule_ops_add(&f->ops, &by, "allow id 1d6b:00zz", 0, 0, NULL, T0, &id,
	                                 &v, err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "rule:1:10: "));
	assert_int_equal(mg_rule_ops_add(&f->ops, &by, "allow id 1d6b:0003", 0, T0 - 1, NULL, T0,
	                                 &id, &v, err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "expires_at"));
	assert_int_equal(mg_rule_ops_add(&f->ops, &by, "allow id 1d6b:0003", 0, T0, NULL, T0, &id,
	                                 &v, err, sizeof(err)),
	                 -EINVAL);
	assert_int_equal(mg_rule_ops_add(&f->ops, &by, "allow id 1d6b:0003", f->host + 100, 0, NULL,
	                                 T0, &id, &v, err, sizeof(err)),
	                 -ENOENT);
	assert_int_equal(mg_rule_ops_add(&f->ops, &by, "allow id 1d6b:0003", -1, 0, NULL, T0, &id,
	                                 &v, err, sizeof(err)),
	                 -EINVAL);
	assert_int_equal(id, 0);
	assert_int_equal(v, 99);
	assert_int_equal(mg_store_policy_latest(f->s, &v), 0);
	assert_int_equal(v, 2);

	/* Remove: a new version without the rule; unknown ids are -ENOENT. */
	assert_int_equal(mg_rule_ops_remove(&f->ops, &by, id1, T0, &v3), 0);
	assert_int_equal(v3, 3);
	b = latest(f, 3);
	assert_string_equal(b->rules, "");
	mg_policy_bundle_free(&b);
	assert_int_equal(mg_rule_ops_remove(&f->ops, &by, id1, T0, &v), -ENOENT);
	assert_int_equal(mg_rule_ops_remove(&f->ops, &by, 0, T0, &v), -EINVAL);
}

/* A stored change whose publication fails stays stored; the version is 0. */
static void test_publish_fails(void **state)
{
	struct fixture *f = *state;
	const struct mg_store_actor by = {.admin = "root-admin", .remote = NULL};
	struct rules_seen seen = {0};
	char err[256] = "";
	int64_t bad = 0, id = 0;
	uint64_t v = 99, latest_v = 99;

	/* A rule the store takes but no bundle can carry (written past the rule check). */
	assert_int_equal(mg_store_rule_add(f->s, NULL, "allow \x01", 0, 0, NULL, T0, &bad), 0);
	assert_int_equal(mg_rule_ops_add(&f->ops, &by, "allow id 1d6b:0002", 0, 0, NULL, T0, &id,
	                                 &v, err, sizeof(err)),
	                 -EINVAL);
	assert_true(id > bad);
	assert_int_equal(v, 0);
	assert_int_equal(mg_store_policy_latest(f->s, &latest_v), 0);
	assert_int_equal(latest_v, 0);
	assert_int_equal(mg_store_rules_foreach(f->s, 0, 0, count_rule, &seen), 0);
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.last.id, id);
	/* Removing the bad rule publishes again, with both changes. */
	assert_int_equal(mg_rule_ops_remove(&f->ops, &by, bad, T0, &v), 0);
	assert_int_equal(v, 1);
	struct mg_policy_bundle *b = latest(f, 1);
	assert_string_equal(b->rules, "allow id 1d6b:0002\n");
	mg_policy_bundle_free(&b);
}

static void test_approve(void **state)
{
	struct fixture *f = *state;
	const struct mg_store_actor by = {.admin = "approver-1", .remote = NULL};
	struct mg_store_request req, got;
	struct mg_policy_bundle *b;
	int64_t rid = 0, rid2 = 0, rule_id = 0, rule2 = 0;
	uint64_t v = 0;

	memset(&req, 0, sizeof(req));
	req.host_id = f->host;
	snprintf(req.request_id, sizeof(req.request_id), "req-1");
	snprintf(req.user, sizeof(req.user), "tanaka");
	memcpy(req.dev.vendor_id, "0781", 5);
	memcpy(req.dev.product_id, "5581", 5);
	snprintf(req.dev.serial, sizeof(req.dev.serial), "S\"1\\");
	snprintf(req.dev.hash, sizeof(req.dev.hash), "h4sh=");
	snprintf(req.reason, sizeof(req.reason), "scanner");
	assert_int_equal(mg_store_request_add(f->s, &req, T0, &rid), 0);
	snprintf(req.request_id, sizeof(req.request_id), "req-2");
	assert_int_equal(mg_store_request_add(f->s, &req, T0, &rid2), 0);

	assert_int_equal(
	    mg_rule_ops_approve(&f->ops, &by, rid, false, T0 + DAY, "ok", T0, &rule_id, &v), 0);
	assert_true(rule_id > 0);
	assert_int_equal(v, 1);
	b = latest(f, 1);
	assert_string_equal(mg_policy_bundle_host_rules(b, f->host),
	                    "allow id 0781:5581 serial \"S\\\"1\\\\\" hash \"h4sh=\"\n");
	assert_string_equal(b->rules, "");
	mg_policy_bundle_free(&b);
	assert_int_equal(mg_store_request_get(f->s, rid, &got), 0);
	assert_int_equal(got.state, MG_REQUEST_APPROVED);
	assert_int_equal(got.rule_id, rule_id);
	assert_string_equal(got.decided_by, "approver-1");

	/* Decided already; unknown; expiry in the past. */
	assert_int_equal(mg_rule_ops_approve(&f->ops, &by, rid, true, 0, NULL, T0, &rule2, &v),
	                 -EALREADY);
	assert_int_equal(
	    mg_rule_ops_approve(&f->ops, &by, rid2 + 10, true, 0, NULL, T0, &rule2, &v), -ENOENT);
	assert_int_equal(
	    mg_rule_ops_approve(&f->ops, &by, rid2, true, T0 - 1, NULL, T0, &rule2, &v), -EINVAL);

	/* For every host. */
	assert_int_equal(mg_rule_ops_approve(&f->ops, &by, rid2, true, 0, NULL, T0, &rule2, &v), 0);
	assert_int_equal(v, 2);
	b = latest(f, 2);
	assert_string_equal(b->rules, "allow id 0781:5581 serial \"S\\\"1\\\\\" hash \"h4sh=\"\n");
	mg_policy_bundle_free(&b);
}

static int rm_dir(void)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
	return system(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check),
	    cmocka_unit_test(test_for_device),
	    cmocka_unit_test_setup_teardown(test_add_remove, setup_store, teardown_store),
	    cmocka_unit_test_setup_teardown(test_approve, setup_store, teardown_store),
	    cmocka_unit_test_setup_teardown(test_publish_fails, setup_store, teardown_store),
	};
	const char *tmp = getenv("TMPDIR");
	snprintf(g_dir, sizeof(g_dir), "%s/mg-ruleops-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(g_dir))
		return 1;
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	rm_dir();
	return r;
}
