/* The collector's request-body parsers (server/api/api_body.c) on hand-written bodies. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>

#include "api_body.h"
#include "digest.h"
#include "json_arena.h"

#define BOOT "7d2c0e4a-61b3-4f0e-8c55-3a9e1f04b2d7"
/* agent.started seq 1, canonical */
#define EV1                                                                                        \
	"{\"agent\":{\"pid\":812,\"version\":\"0.1.0\"},\"boot_id\":\"" BOOT "\",\"host\":\"mn-"   \
	"term-01\",\"seq\":1,\"time\":\"2026-11-25T21:17:59.123456Z\",\"type\":\"agent.started\"}"

static char *events_body(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *events_body(const char *fmt, ...)
{
	static char buf[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return buf;
}

static int parse(const char *body, struct mg_events_batch **b, char *err)
{
	return mg_api_parse_events(body, strlen(body), b, err, 256);
}

static void test_enroll(void **state)
{
	struct mg_enroll_req r;
	char err[256];
	const char *ok =
	    "{\"token\":\"abc\",\"csr\":\"PEM\",\"hostname\":\"h\",\"agent_version\":\"1\"}";
	(void)state;
	assert_int_equal(mg_api_parse_enroll(ok, strlen(ok), &r, err, sizeof(err)), 0);
	assert_string_equal(r.token, "abc");
	assert_string_equal(r.csr, "PEM");
	assert_int_equal(r.csr_len, 3);
	assert_string_equal(r.hostname, "h");
	mg_enroll_req_clear(&r);

	const char *bad[] = {
	    "{\"token\":\"abc\",\"csr\":\"PEM\",\"hostname\":\"h\",\"agent_version\":\"1\",\"x\":"
	    "1}",
	    "{\"token\":\"abc\",\"token\":\"abc\",\"csr\":\"PEM\",\"hostname\":\"h\","
	    "\"agent_version\":\"1\"}",
	    "{\"token\":\"abc\",\"hostname\":\"h\",\"agent_version\":\"1\"}",
	    "{\"token\":\"\",\"csr\":\"PEM\",\"hostname\":\"h\",\"agent_version\":\"1\"}",
	    "{\"token\":\"abc\",\"csr\":\"PEM\",\"hostname\":7,\"agent_version\":\"1\"}",
	    "[1]",
	    "{\"token\":\"abc\"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(mg_api_parse_enroll(bad[i], strlen(bad[i]), &r, err, sizeof(err)),
		                 -EINVAL);
		assert_true(strlen(err) > 0);
	}
}

static void test_heartbeat(void **state)
{
	struct mg_heartbeat_req h;
	char err[256];
	const char *ok =
	    "{\"spool_depth\":3,\"oldest_unsent\":\"2026-11-25T21:17:59.123456+09:00\","
	    "\"policy_version\":4,\"agent_version\":\"0.1.0\"}";
	const char *empty = "{\"spool_depth\":0,\"oldest_unsent\":null,\"policy_version\":0,"
	                    "\"agent_version\":\"0.1.0\"}";
	(void)state;
	assert_int_equal(mg_api_parse_heartbeat(ok, strlen(ok), &h, err, sizeof(err)), 0);
	assert_int_equal(h.spool_depth, 3);
	assert_int_equal(h.policy_version, 4);
	assert_int_equal(h.oldest_unsent_us, 1795609079123456LL /* 2026-11-25T12:17:59.123456Z */);
	assert_int_equal(mg_api_parse_heartbeat(empty, strlen(empty), &h, err, sizeof(err)), 0);
	assert_int_equal(h.oldest_unsent_us, 0);

	const char *bad[] = {
	    "{\"spool_depth\":-1,\"oldest_unsent\":null,\"policy_version\":0,\"agent_version\":"
	    "\"1\"}",
	    "{\"spool_depth\":1.5,\"oldest_unsent\":null,\"policy_version\":0,\"agent_version\":"
	    "\"1\"}",
	    "{\"spool_depth\":1,\"oldest_unsent\":\"yesterday\",\"policy_version\":0,"
	    "\"agent_version\":\"1\"}",
	    "{\"spool_depth\":1,\"policy_version\":0,\"agent_version\":\"1\"}",
	    "{\"spool_depth\":9007199254740992,\"oldest_unsent\":null,\"policy_version\":0,"
	    "\"agent_version\":\"1\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(
		    mg_api_parse_heartbeat(bad[i], strlen(bad[i]), &h, err, sizeof(err)), -EINVAL);
}

static void test_events(void **state)
{
	struct mg_events_batch *b = NULL;
	char err[256], hash[65], other[65];
	(void)state;
	assert_int_equal(mg_sha256_hex(EV1, strlen(EV1), hash), 0);
	memset(other, 'a', 64);
	other[64] = '\0';

	/* any spelling is accepted; the canonical form is stored and hashed */
	assert_int_equal(parse(events_body("{\"events\":[{\"type\":\"agent.started\",\"seq\":1,"
	                                   "\"time\":\"2026-11-26T06:17:59.123456+09:00\","
	                                   "\"host\":\"mn-term-01\",\"boot_id\":\"%s\","
	                                   "\"agent\":{\"version\":\"0.1.0\",\"pid\":812},"
	                                   "\"prev_hash\":\"\",\"hash\":\"%s\"}],"
	                                   "\"boot_id\":\"%s\"}",
	                                   BOOT, hash, BOOT),
	                       &b, err),
	                 0);
	assert_int_equal(b->n, 1);
	assert_string_equal(b->boot_id, BOOT);
	assert_string_equal(b->evs[0].json, EV1);
	assert_string_equal(b->evs[0].hash, hash);
	assert_string_equal(b->evs[0].prev_hash, "");
	assert_string_equal(b->evs[0].type, "agent.started");
	assert_int_equal(b->evs[0].seq, 1);
	mg_events_batch_free(&b);
	assert_null(b);

	/* the hash does not match */
	assert_int_equal(
	    parse(events_body("{\"boot_id\":\"%s\",\"events\":[%.*s,\"prev_hash\":\"\","
	                      "\"hash\":\"%s\"}]}",
	                      BOOT, (int)strlen(EV1) - 1, EV1, other),
	          &b, err),
	    -EBADMSG);
	assert_non_null(strstr(err, "events[0].hash"));

	/* malformed: hash missing, prev_hash bad, boot_id differs, unknown key, seq 0 */
	const char *bad[] = {
	    events_body("{\"boot_id\":\"%s\",\"events\":[%.*s,\"prev_hash\":\"\"}]}", BOOT,
	                (int)strlen(EV1) - 1, EV1),
	};
	assert_int_equal(parse(bad[0], &b, err), -EINVAL);
	assert_non_null(strstr(err, "events[0].hash"));
	assert_int_equal(parse(events_body("{\"boot_id\":\"%s\",\"events\":[%.*s,\"prev_hash\":"
	                                   "\"xyz\",\"hash\":\"%s\"}]}",
	                                   BOOT, (int)strlen(EV1) - 1, EV1, hash),
	                       &b, err),
	                 -EINVAL);
	assert_non_null(strstr(err, "prev_hash"));
	assert_int_equal(parse(events_body("{\"boot_id\":\"0b8a5c8e-2f6d-4c1e-9a3b-5d7e9f1a2b3c\","
	                                   "\"events\":[%.*s,\"prev_hash\":\"\",\"hash\":\"%s\"}]}",
	                                   (int)strlen(EV1) - 1, EV1, hash),
	                       &b, err),
	                 -EINVAL);
	assert_non_null(strstr(err, "boot_id"));
	assert_int_equal(parse(events_body("{\"boot_id\":\"%s\",\"events\":[%.*s,\"colour\":1,"
	                                   "\"prev_hash\":\"\",\"hash\":\"%s\"}]}",
	                                   BOOT, (int)strlen(EV1) - 1, EV1, hash),
	                       &b, err),
	                 -EINVAL);
	assert_non_null(strstr(err, "events[0]: colour"));
	assert_int_equal(parse(events_body("{\"boot_id\":\"%s\",\"events\":[]}", BOOT), &b, err),
	                 -EINVAL);
	assert_int_equal(
	    parse(events_body("{\"boot_id\":\"%s\",\"events\":[],\"x\":1}", BOOT), &b, err),
	    -EINVAL);
	assert_null(b);
}

static void test_events_limits(void **state)
{
	struct mg_events_batch *b = NULL;
	char err[256];
	size_t n = MG_API_MAX_EVENTS + 1, len;
	char *body = malloc(64 + n * 3);
	(void)state;
	assert_non_null(body);
	len = (size_t)sprintf(body, "{\"boot_id\":\"%s\",\"events\":[", BOOT);
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(body + len, "%s{}", i ? "," : "");
	strcpy(body + len, "]}");
	assert_int_equal(parse(body, &b, err), -EFBIG);
	free(body);

	body = calloc(1, MG_API_MAX_BODY + 2);
	assert_non_null(body);
	memset(body, ' ', MG_API_MAX_BODY + 1);
	assert_int_equal(parse(body, &b, err), -EINVAL);
	free(body);
	assert_int_equal(mg_api_parse_events("{\"boot_id\":\"\xff\"}", 16, &b, err, sizeof(err)),
	                 -EINVAL);
	assert_null(b);
}

/* A chained batch of n agent.started events seq from.., host named host. */
static char *chained_batch(const char *host, unsigned from, unsigned n)
{
	size_t cap = 64 + (size_t)n * 512, len = 0;
	char *body = malloc(cap), prev[65] = "", hash[65], ev[400];
	assert_non_null(body);
	len += (size_t)snprintf(body, cap, "{\"boot_id\":\"%s\",\"events\":[", BOOT);
	for (unsigned i = 0; i < n; i++) {
		int k =
		    snprintf(ev, sizeof(ev),
		             "{\"agent\":{\"pid\":%u,\"version\":\"0.1.0\"},\"boot_id\":\"%s\","
		             "\"host\":\"%s\",\"seq\":%u,\"time\":\"2026-11-26T06:17:59.%06uZ\","
		             "\"type\":\"agent.started\"}",
		             from + i, BOOT, host, from + i, i);
		assert_true(k > 0 && (size_t)k < sizeof(ev));
		assert_int_equal(mg_sha256_hex(ev, (size_t)k, hash), 0);
		len += (size_t)snprintf(body + len, cap - len,
		                        "%s%.*s,\"hash\":\"%s\",\"prev_hash\":\"%s\"}",
		                        i ? "," : "", k - 1, ev, hash, prev);
		memcpy(prev, hash, sizeof(prev));
	}
	snprintf(body + len, cap - len, "]}");
	return body;
}

/*
 * The batch's tree lives in the thread's arena (json_arena.h, installed in main()); what the
 * parser returns must not: a second batch reuses the arena and must leave the first intact.
 */
static void test_events_arena(void **state)
{
	struct mg_events_batch *a = NULL, *b = NULL;
	char err[256];
	(void)state;
	char *body_a = chained_batch("host-a", 1, 300), *body_b = chained_batch("host-b", 1, 300);
	assert_int_equal(parse(body_a, &a, err), 0);
	assert_int_equal(mg_json_arena_used(), 0); /* reset at the end of the parse */
	char *copy[300];
	for (size_t i = 0; i < 300; i++) {
		copy[i] = strdup(a->evs[i].json);
		assert_non_null(copy[i]);
		assert_non_null(strstr(copy[i], "\"host\":\"host-a\""));
	}
	assert_int_equal(parse(body_b, &b, err), 0);
	assert_int_equal(b->n, 300);
	for (size_t i = 0; i < 300; i++) {
		assert_string_equal(a->evs[i].json, copy[i]);
		assert_non_null(strstr(b->evs[i].json, "\"host\":\"host-b\""));
		free(copy[i]);
	}
	mg_events_batch_free(&b);
	/* Errors leave the arena reset too, and jansson outside it still works. */
	body_b[strlen(body_b) / 2] = '\0';
	assert_int_equal(parse(body_b, &b, err), -EINVAL);
	assert_int_equal(mg_json_arena_used(), 0);
	json_t *o = json_pack("{s:i}", "x", 1);
	char *text = json_dumps(o, JSON_COMPACT);
	assert_string_equal(text, "{\"x\":1}");
	free(text);
	json_decref(o);
	mg_events_batch_free(&a);
	free(body_a);
	free(body_b);
}

static void test_policy_applied(void **state)
{
	struct mg_policy_applied_req a = {0};
	char err[256];
	const char *ok = "{\"version\":9007199254740991}";
	(void)state;
	assert_int_equal(mg_api_parse_policy_applied(ok, strlen(ok), &a, err, sizeof(err)), 0);
	assert_int_equal(a.version, 9007199254740991ULL);

	const char *bad[] = {
	    "{\"version\":0}",
	    "{\"version\":-1}",
	    "{\"version\":9007199254740992}",
	    "{\"version\":1.0}",
	    "{\"version\":\"1\"}",
	    "{\"version\":null}",
	    "{}",
	    "{\"version\":1,\"version\":1}",
	    "{\"version\":1,\"host\":\"h\"}",
	    "[1]",
	    "{\"version\":1",
	    "",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		a.version = 77;
		err[0] = '\0';
		assert_int_equal(
		    mg_api_parse_policy_applied(bad[i], strlen(bad[i]), &a, err, sizeof(err)),
		    -EINVAL);
		assert_int_equal(a.version, 77); /* untouched on failure */
		assert_true(strlen(err) > 0);
	}
}

#define REQ_DEV "\"device\":{\"vendor_id\":\"0781\",\"product_id\":\"5581\""

static void test_request(void **state)
{
	struct mg_store_request r;
	char err[256];
	const char *full = "{\"request_id\":\"req-1.A_b\",\"user\":\"tanaka\"," REQ_DEV
	                   ",\"serial\":\"4C53\",\"name\":\"Ultra \xe3\x83\xa1\","
	                   "\"hash\":\"abc+/=\"},\"reason\":\"\xe6\x9b\xb8\xe9\xa1\x9e\\n\\t"
	                   "copy\"}";
	const char *min =
	    "{\"request_id\":\"r\",\"user\":\"u\"," REQ_DEV ",\"serial\":\"\"},\"reason\":\"x\"}";
	(void)state;
	assert_int_equal(mg_api_parse_request(full, strlen(full), &r, err, sizeof(err)), 0);
	assert_string_equal(r.request_id, "req-1.A_b");
	assert_string_equal(r.user, "tanaka");
	assert_string_equal(r.dev.vendor_id, "0781");
	assert_string_equal(r.dev.product_id, "5581");
	assert_string_equal(r.dev.serial, "4C53");
	assert_string_equal(r.dev.name, "Ultra \xe3\x83\xa1");
	assert_string_equal(r.dev.hash, "abc+/=");
	assert_string_equal(r.reason, "\xe6\x9b\xb8\xe9\xa1\x9e\n\tcopy");
	assert_int_equal(r.host_id, 0);
	assert_int_equal(r.id, 0);
	assert_int_equal(mg_api_parse_request(min, strlen(min), &r, err, sizeof(err)), 0);
	assert_string_equal(r.dev.serial, "");
	assert_string_equal(r.dev.name, "");
	assert_string_equal(r.dev.hash, "");

	/* 63 bytes of request_id fit, 64 do not */
	char body[600];
	snprintf(body, sizeof(body),
	         "{\"request_id\":\"%063d\",\"user\":\"u\"," REQ_DEV "},\"reason\":\"x\"}", 7);
	assert_int_equal(mg_api_parse_request(body, strlen(body), &r, err, sizeof(err)), 0);
	snprintf(body, sizeof(body),
	         "{\"request_id\":\"%064d\",\"user\":\"u\"," REQ_DEV "},\"reason\":\"x\"}", 7);
	assert_int_equal(mg_api_parse_request(body, strlen(body), &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "request_id"));

	const struct {
		const char *body, *field;
	} bad[] = {
	    {"{\"request_id\":\"a b\",\"user\":\"u\"," REQ_DEV "},\"reason\":\"x\"}", "request_id"},
	    {"{\"request_id\":\"a/b\",\"user\":\"u\"," REQ_DEV "},\"reason\":\"x\"}", "request_id"},
	    {"{\"request_id\":\"\",\"user\":\"u\"," REQ_DEV "},\"reason\":\"x\"}", "request_id"},
	    {"{\"user\":\"u\"," REQ_DEV "},\"reason\":\"x\"}", "request_id"},
	    {"{\"request_id\":\"r\",\"user\":\"\"," REQ_DEV "},\"reason\":\"x\"}", "user"},
	    {"{\"request_id\":\"r\",\"user\":\"a\\nb\"," REQ_DEV "},\"reason\":\"x\"}", "user"},
	    {"{\"request_id\":\"r\",\"user\":\"a\\u0000b\"," REQ_DEV "},\"reason\":\"x\"}",
	     "invalid JSON"},
	    {"{\"request_id\":\"r\",\"user\":\"u\"," REQ_DEV "},\"reason\":\"\"}", "reason"},
	    {"{\"request_id\":\"r\",\"user\":\"u\"," REQ_DEV "},\"reason\":\"a\\rb\"}", "reason"},
	    {"{\"request_id\":\"r\",\"user\":\"u\"," REQ_DEV "}}", "reason"},
	    {"{\"request_id\":\"r\",\"user\":\"u\",\"reason\":\"x\"}", "device"},
	    {"{\"request_id\":\"r\",\"user\":\"u\",\"device\":[],\"reason\":\"x\"}", "device"},
	    {"{\"request_id\":\"r\",\"user\":\"u\",\"device\":{\"vendor_id\":\"0781\"},"
	     "\"reason\":\"x\"}",
	     "device.product_id"},
	    {"{\"request_id\":\"r\",\"user\":\"u\",\"device\":{\"vendor_id\":\"078G\","
	     "\"product_id\":\"5581\"},\"reason\":\"x\"}",
	     "device.vendor_id"},
	    {"{\"request_id\":\"r\",\"user\":\"u\",\"device\":{\"vendor_id\":\"0781\","
	     "\"product_id\":\"558A\"},\"reason\":\"x\"}",
	     "device.product_id"},
	    {"{\"request_id\":\"r\",\"user\":\"u\",\"device\":{\"vendor_id\":\"781\","
	     "\"product_id\":\"5581\"},\"reason\":\"x\"}",
	     "device.vendor_id"},
	    {"{\"request_id\":\"r\",\"user\":\"u\"," REQ_DEV ",\"serial\":null},\"reason\":\"x\"}",
	     "device.serial"},
	    {"{\"request_id\":\"r\",\"user\":\"u\"," REQ_DEV ",\"hash\":\"a b\"},\"reason\":\"x\"}",
	     "device.hash"},
	    {"{\"request_id\":\"r\",\"user\":\"u\"," REQ_DEV ",\"bus\":1},\"reason\":\"x\"}",
	     "device.bus"},
	    {"{\"request_id\":\"r\",\"user\":\"u\"," REQ_DEV "},\"reason\":\"x\",\"host_id\":1}",
	     "host_id"},
	    {"{\"request_id\":\"r\",\"request_id\":\"r\",\"user\":\"u\"," REQ_DEV
	     "},\"reason\":\"x\"}",
	     "invalid JSON"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(
		    mg_api_parse_request(bad[i].body, strlen(bad[i].body), &r, err, sizeof(err)),
		    -EINVAL);
		if (!strstr(err, bad[i].field))
			fail_msg("case %zu: error \"%s\" does not name %s", i, err, bad[i].field);
	}

	/* size caps: a serial of 1023 bytes fits, 1024 does not; reason 1023 / 1024 */
	char *big = malloc(4096);
	char *pad = malloc(1100);
	assert_non_null(big);
	assert_non_null(pad);
	memset(pad, 's', 1023);
	pad[1023] = '\0';
	snprintf(big, 4096,
	         "{\"request_id\":\"r\",\"user\":\"u\"," REQ_DEV ",\"serial\":\"%s\"},"
	         "\"reason\":\"%s\"}",
	         pad, pad);
	assert_int_equal(mg_api_parse_request(big, strlen(big), &r, err, sizeof(err)), 0);
	assert_int_equal(strlen(r.dev.serial), 1023);
	assert_int_equal(strlen(r.reason), 1023);
	strcat(pad, "s");
	snprintf(big, 4096,
	         "{\"request_id\":\"r\",\"user\":\"u\"," REQ_DEV ",\"serial\":\"%s\"},"
	         "\"reason\":\"x\"}",
	         pad);
	assert_int_equal(mg_api_parse_request(big, strlen(big), &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "device.serial"));
	snprintf(big, 4096, "{\"request_id\":\"r\",\"user\":\"u\"," REQ_DEV "},\"reason\":\"%s\"}",
	         pad);
	assert_int_equal(mg_api_parse_request(big, strlen(big), &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "reason"));
	free(pad);
	free(big);
}

int main(void)
{
	mg_json_arena_install(); /* as mynaguard-collector serve does */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_enroll),       cmocka_unit_test(test_heartbeat),
	    cmocka_unit_test(test_events),       cmocka_unit_test(test_events_limits),
	    cmocka_unit_test(test_events_arena), cmocka_unit_test(test_policy_applied),
	    cmocka_unit_test(test_request),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
