/*
 * The framed protocol between mynaguard-agent (root) and mynaguard-uplink (unprivileged) over
 * their socketpair (issue 12, docs/ARCHITECTURE.md "Trust boundaries"). The agent hands the
 * uplink requests for the collector; the uplink hands back each answer. Either side treats the
 * other's bytes as untrusted: the parsers here are pure, bounded and fuzzed
 * (fuzz_uplink_proto).
 *
 * Frame (all integers little endian):
 *   0  1  version (1)
 *   1  1  type (enum mg_uplink_type)
 *   2  2  reserved, 0
 *   4  4  id: chosen by the agent for a request, echoed in its answer
 *   8  4  payload length, at most MG_UPLINK_MAX_PAYLOAD
 *   12 .. payload
 *
 * Request payloads are the HTTP bodies the collector defines (docs/API.md; STAFF_REGISTER at
 * most 16 KiB), except POLICY_POLL (the ETag last seen, possibly empty). An ANSWER's payload:
 *   0  2  HTTP status (0: no answer from the collector: network or TLS failure)
 *   2  2  reserved, 0
 *   4  4  Retry-After in seconds (0: none)
 *   8  2  ETag length E (at most 256), then E bytes of ETag
 *   .. 2  error length R (at most 1024), then R bytes: what went wrong, in words (UTF-8)
 *   .. .. the response body, byte for byte (a policy bundle is verified over exactly these)
 */
#ifndef MG_UPLINK_PROTO_H
#define MG_UPLINK_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define MG_UPLINK_HEADER             12u
#define MG_UPLINK_MAX_PAYLOAD        (4u * 1024u * 1024u)
#define MG_UPLINK_MAX_ETAG           256u
#define MG_UPLINK_MAX_ERROR          1024u
#define MG_UPLINK_STAFF_REGISTER_MAX 16384u

enum mg_uplink_type {
	/* agent -> uplink */
	MG_UPLINK_EVENTS = 1,     /* POST /v1/events */
	MG_UPLINK_HEARTBEAT,      /* POST /v1/heartbeat */
	MG_UPLINK_POLICY_POLL,    /* GET /v1/policy with If-None-Match */
	MG_UPLINK_POLICY_APPLIED, /* POST /v1/policy/applied */
	MG_UPLINK_REQUEST,        /* POST /v1/requests */
	MG_UPLINK_ENROLL,         /* enrolment: {"collector", "token", "ca"} */
	MG_UPLINK_STAFF_REGISTER, /* POST /v1/staff/registrations (issue 15), at most
	                             MG_UPLINK_STAFF_REGISTER_MAX bytes of JSON */
	/* uplink -> agent */
	MG_UPLINK_ANSWER = 64,
	MG_UPLINK_TYPE_MAX,
};

struct mg_uplink_frame {
	uint8_t type;
	uint32_t id;
	const uint8_t *payload; /* into the decoded buffer */
	uint32_t len;
};

struct mg_uplink_answer {
	uint16_t status;
	uint32_t retry_after;
	const char *etag; /* not NUL-terminated; etag_len bytes */
	uint16_t etag_len;
	const char *error;
	uint16_t error_len;
	const uint8_t *body;
	uint32_t body_len;
};

/* The name of a frame type ("events", "answer", ...), or NULL when unknown. */
const char *mg_uplink_type_name(uint8_t type);

/* Bytes of a frame with a payload of len bytes. */
static inline size_t mg_uplink_frame_size(size_t len)
{
	return MG_UPLINK_HEADER + len;
}

/* Writes a frame into out (mg_uplink_frame_size(len) bytes). 0 or -EINVAL. */
int mg_uplink_frame_encode(uint8_t type, uint32_t id, const void *payload, size_t len, uint8_t *out,
                           size_t outlen);

/*
 * Decodes the frame at the start of buf[0..len): 0 with *f (payload into buf) and *used;
 * -EAGAIN when more bytes are needed; -EBADMSG with why (bad version, unknown type, reserved
 * bits, length over the limit).
 */
int mg_uplink_frame_decode(const uint8_t *buf, size_t len, struct mg_uplink_frame *f, size_t *used,
                           char *why, size_t whylen);

/* The payload of an ANSWER: size, and encoding into out. 0 or -EINVAL (a field too long). */
size_t mg_uplink_answer_size(const struct mg_uplink_answer *a);
int mg_uplink_answer_encode(const struct mg_uplink_answer *a, uint8_t *out, size_t outlen);
/* Parses an ANSWER payload (pointers into p). 0 or -EBADMSG with why. */
int mg_uplink_answer_parse(const uint8_t *p, size_t len, struct mg_uplink_answer *a, char *why,
                           size_t whylen);

#endif
