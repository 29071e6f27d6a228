/* The collector's request-body parsers (server/src/api_body.c) on hand-written bodies. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api_body.h"

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
	assert_int_equal(mg_api_sha256_hex(EV1, strlen(EV1), hash), 0);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_enroll),
	    cmocka_unit_test(test_heartbeat),
	    cmocka_unit_test(test_events),
	    cmocka_unit_test(test_events_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
