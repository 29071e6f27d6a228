/* The agent <-> uplink frames (agent/uplink/uplink_proto.c): round trips, streaming, and every
 * malformed field named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "uplink_proto.h"

static void frames_round_trip_and_stream(void **state)
{
	(void)state;
	static const char body[] = "{\"boot_id\":\"x\",\"events\":[]}";
	uint8_t buf[256];
	const size_t n1 = mg_uplink_frame_size(sizeof(body) - 1), n2 = mg_uplink_frame_size(0);
	assert_int_equal(
	    mg_uplink_frame_encode(MG_UPLINK_EVENTS, 7, body, sizeof(body) - 1, buf, sizeof(buf)),
	    0);
	assert_int_equal(
	    mg_uplink_frame_encode(MG_UPLINK_POLICY_POLL, 8, NULL, 0, buf + n1, sizeof(buf) - n1),
	    0);
	struct mg_uplink_frame f;
	size_t used = 0;
	char why[96];
	/* Every prefix of the first frame asks for more. */
	for (size_t k = 0; k < n1; k++)
		assert_int_equal(mg_uplink_frame_decode(buf, k, &f, &used, why, sizeof(why)),
		                 -EAGAIN);
	assert_int_equal(mg_uplink_frame_decode(buf, n1 + n2, &f, &used, why, sizeof(why)), 0);
	assert_int_equal(used, n1);
	assert_int_equal(f.type, MG_UPLINK_EVENTS);
	assert_int_equal(f.id, 7);
	assert_int_equal(f.len, sizeof(body) - 1);
	assert_memory_equal(f.payload, body, f.len);
	assert_int_equal(mg_uplink_frame_decode(buf + n1, n2, &f, &used, why, sizeof(why)), 0);
	assert_int_equal(f.type, MG_UPLINK_POLICY_POLL);
	assert_int_equal(f.len, 0);
	assert_string_equal(mg_uplink_type_name(MG_UPLINK_ANSWER), "answer");
	assert_null(mg_uplink_type_name(63));
	/* Encoding refuses what could not be decoded. */
	assert_int_equal(mg_uplink_frame_encode(63, 1, NULL, 0, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(mg_uplink_frame_encode(MG_UPLINK_EVENTS, 1, body, sizeof(body), buf, 8),
	                 -EINVAL);
}

static void frames_malformed(void **state)
{
	(void)state;
	uint8_t buf[64];
	assert_int_equal(mg_uplink_frame_encode(MG_UPLINK_HEARTBEAT, 1, "{}", 2, buf, sizeof(buf)),
	                 0);
	const struct {
		size_t at;
		uint8_t v;
		const char *why;
	} bad[] = {{0, 2, "version"},
	           {1, 0, "type"},
	           {1, 65, "type"},
	           {2, 1, "reserved"},
	           {11, 0x01, "4 MiB"}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t c[64];
		memcpy(c, buf, sizeof(c));
		c[bad[i].at] = bad[i].v;
		struct mg_uplink_frame f;
		size_t used;
		char why[96] = "";
		/* Refused as soon as the damaged byte is there, whatever follows. */
		assert_int_equal(mg_uplink_frame_decode(c, 14, &f, &used, why, sizeof(why)),
		                 -EBADMSG);
		if (!strstr(why, bad[i].why))
			fail_msg("byte %zu: '%s' does not name %s", bad[i].at, why, bad[i].why);
	}
}

static void answers(void **state)
{
	(void)state;
	static const char bundle[] = "{\"version\":3}\n\x01\x02";
	struct mg_uplink_answer a = {.status = 200,
	                             .retry_after = 0,
	                             .etag = "\"v3\"",
	                             .etag_len = 4,
	                             .error = "",
	                             .error_len = 0,
	                             .body = (const uint8_t *)bundle,
	                             .body_len = sizeof(bundle) - 1};
	uint8_t out[256];
	const size_t n = mg_uplink_answer_size(&a);
	assert_int_equal(mg_uplink_answer_encode(&a, out, sizeof(out)), 0);
	struct mg_uplink_answer b;
	char why[96];
	assert_int_equal(mg_uplink_answer_parse(out, n, &b, why, sizeof(why)), 0);
	assert_int_equal(b.status, 200);
	assert_int_equal(b.etag_len, 4);
	assert_memory_equal(b.etag, "\"v3\"", 4);
	assert_int_equal(b.body_len, sizeof(bundle) - 1);
	assert_memory_equal(b.body, bundle,
	                    b.body_len); /* byte for byte: the signature covers it */
	/* No answer at all: status 0 with the reason in words. */
	struct mg_uplink_answer none = {
	    .status = 0, .error = "connect: Connection refused", .error_len = 27};
	assert_int_equal(mg_uplink_answer_encode(&none, out, sizeof(out)), 0);
	assert_int_equal(
	    mg_uplink_answer_parse(out, mg_uplink_answer_size(&none), &b, why, sizeof(why)), 0);
	assert_int_equal(b.status, 0);
	assert_memory_equal(b.error, "connect: Connection refused", 27);
	assert_int_equal(b.body_len, 0);
	/* Malformed answers. */
	assert_int_equal(mg_uplink_answer_encode(&a, out, sizeof(out)), 0);
	uint8_t c[256];
	memcpy(c, out, n);
	c[0] = 99; /* status 99 */
	assert_int_equal(mg_uplink_answer_parse(c, n, &b, why, sizeof(why)), -EBADMSG);
	assert_non_null(strstr(why, "status"));
	memcpy(c, out, n);
	c[4] = 0xff, c[5] = 0xff, c[6] = 0xff; /* Retry-After of months */
	assert_int_equal(mg_uplink_answer_parse(c, n, &b, why, sizeof(why)), -EBADMSG);
	assert_non_null(strstr(why, "Retry-After"));
	memcpy(c, out, n);
	c[8] = 0xff; /* ETag longer than the answer */
	assert_int_equal(mg_uplink_answer_parse(c, n, &b, why, sizeof(why)), -EBADMSG);
	assert_non_null(strstr(why, "ETag"));
	memcpy(c, out, n);
	c[11] = '\n'; /* a control character in the ETag */
	assert_int_equal(mg_uplink_answer_parse(c, n, &b, why, sizeof(why)), -EBADMSG);
	assert_int_equal(mg_uplink_answer_parse(out, 11, &b, why, sizeof(why)), -EBADMSG);
	/* Over-long fields are refused when encoding. */
	char big[2048];
	memset(big, 'x', sizeof(big));
	struct mg_uplink_answer e = {.status = 500, .error = big, .error_len = 2000};
	assert_int_equal(mg_uplink_answer_encode(&e, c, sizeof(c)), -EINVAL);
}

/* Issue 15: the staff registration frame (POST /v1/staff/registrations), bounded to 16 KiB. */
static void staff_register_frame(void **state)
{
	(void)state;
	static const char body[] = "{\"registration_id\":\"r1\",\"user\":\"suzuki@city.local\"}";
	static uint8_t buf[MG_UPLINK_HEADER + MG_UPLINK_STAFF_REGISTER_MAX + 2];
	struct mg_uplink_frame f;
	size_t used = 0;
	char why[96] = "";
	assert_string_equal(mg_uplink_type_name(MG_UPLINK_STAFF_REGISTER), "staff-register");
	assert_int_equal(mg_uplink_frame_encode(MG_UPLINK_STAFF_REGISTER, 9, body, sizeof(body) - 1,
	                                        buf, sizeof(buf)),
	                 0);
	assert_int_equal(mg_uplink_frame_decode(buf, mg_uplink_frame_size(sizeof(body) - 1), &f,
	                                        &used, why, sizeof(why)),
	                 0);
	assert_int_equal(f.type, MG_UPLINK_STAFF_REGISTER);
	assert_int_equal(f.id, 9);
	assert_memory_equal(f.payload, body, f.len);
	/* 16 KiB is the most; one byte more is refused on both sides. */
	static char big[MG_UPLINK_STAFF_REGISTER_MAX + 1];
	memset(big, 'a', sizeof(big));
	assert_int_equal(mg_uplink_frame_encode(MG_UPLINK_STAFF_REGISTER, 1, big,
	                                        MG_UPLINK_STAFF_REGISTER_MAX, buf, sizeof(buf)),
	                 0);
	assert_int_equal(mg_uplink_frame_decode(buf, sizeof(buf), &f, &used, why, sizeof(why)), 0);
	assert_int_equal(f.len, MG_UPLINK_STAFF_REGISTER_MAX);
	assert_int_equal(
	    mg_uplink_frame_encode(MG_UPLINK_STAFF_REGISTER, 1, big, sizeof(big), buf, sizeof(buf)),
	    -EINVAL);
	/* A header announcing more than 16 KiB is refused at once, before the payload arrives. */
	buf[8] = (uint8_t)((MG_UPLINK_STAFF_REGISTER_MAX + 1) & 0xff);
	buf[9] = (uint8_t)(((MG_UPLINK_STAFF_REGISTER_MAX + 1) >> 8) & 0xff);
	buf[10] = buf[11] = 0;
	assert_int_equal(mg_uplink_frame_decode(buf, MG_UPLINK_HEADER, &f, &used, why, sizeof(why)),
	                 -EBADMSG);
	assert_non_null(strstr(why, "staff registration"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(frames_round_trip_and_stream),
	    cmocka_unit_test(frames_malformed),
	    cmocka_unit_test(answers),
	    cmocka_unit_test(staff_register_frame),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
