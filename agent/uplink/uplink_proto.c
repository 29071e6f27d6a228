/* The agent <-> uplink frames and answers (see uplink_proto.h for the layout). */
#include "uplink_proto.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "mg/bytes.h"

static const char *const names[] = {
    [MG_UPLINK_EVENTS] = "events",
    [MG_UPLINK_HEARTBEAT] = "heartbeat",
    [MG_UPLINK_POLICY_POLL] = "policy-poll",
    [MG_UPLINK_POLICY_APPLIED] = "policy-applied",
    [MG_UPLINK_REQUEST] = "request",
    [MG_UPLINK_ENROLL] = "enroll",
    [MG_UPLINK_STAFF_REGISTER] = "staff-register",
    [MG_UPLINK_ANSWER] = "answer",
};

const char *mg_uplink_type_name(uint8_t type)
{
	return type < sizeof(names) / sizeof(names[0]) ? names[type] : NULL;
}

static int bad(char *why, size_t wl, const char *msg)
{
	if (why && wl)
		snprintf(why, wl, "%s", msg);
	return -EBADMSG;
}

int mg_uplink_frame_encode(uint8_t type, uint32_t id, const void *payload, size_t len, uint8_t *out,
                           size_t outlen)
{
	if (!mg_uplink_type_name(type) || len > MG_UPLINK_MAX_PAYLOAD || (len && !payload) ||
	    (type == MG_UPLINK_STAFF_REGISTER && len > MG_UPLINK_STAFF_REGISTER_MAX) ||
	    outlen < mg_uplink_frame_size(len))
		return -EINVAL;
	out[0] = 1;
	out[1] = type;
	out[2] = out[3] = 0;
	mg_le_put(out + 4, id, 4);
	mg_le_put(out + 8, (uint32_t)len, 4);
	if (len)
		memcpy(out + MG_UPLINK_HEADER, payload, len);
	return 0;
}

int mg_uplink_frame_decode(const uint8_t *buf, size_t len, struct mg_uplink_frame *f, size_t *used,
                           char *why, size_t whylen)
{
	if (len >= 1 && buf[0] != 1)
		return bad(why, whylen, "unknown protocol version");
	if (len >= 2 && !mg_uplink_type_name(buf[1]))
		return bad(why, whylen, "unknown frame type");
	if (len >= 4 && (buf[2] || buf[3]))
		return bad(why, whylen, "reserved bits set");
	if (len < MG_UPLINK_HEADER)
		return -EAGAIN;
	const uint32_t plen = (uint32_t)mg_le_get(buf + 8, 4);
	if (plen > MG_UPLINK_MAX_PAYLOAD)
		return bad(why, whylen, "payload longer than 4 MiB");
	if (buf[1] == MG_UPLINK_STAFF_REGISTER && plen > MG_UPLINK_STAFF_REGISTER_MAX)
		return bad(why, whylen, "staff registration longer than 16 KiB");
	if (len - MG_UPLINK_HEADER < plen)
		return -EAGAIN;
	f->type = buf[1];
	f->id = (uint32_t)mg_le_get(buf + 4, 4);
	f->payload = buf + MG_UPLINK_HEADER;
	f->len = plen;
	*used = MG_UPLINK_HEADER + plen;
	return 0;
}

size_t mg_uplink_answer_size(const struct mg_uplink_answer *a)
{
	return 8 + 2 + (size_t)a->etag_len + 2 + (size_t)a->error_len + a->body_len;
}

int mg_uplink_answer_encode(const struct mg_uplink_answer *a, uint8_t *out, size_t outlen)
{
	const size_t n = mg_uplink_answer_size(a);
	if (a->etag_len > MG_UPLINK_MAX_ETAG || a->error_len > MG_UPLINK_MAX_ERROR ||
	    n > MG_UPLINK_MAX_PAYLOAD || outlen < n || (a->etag_len && !a->etag) ||
	    (a->error_len && !a->error) || (a->body_len && !a->body))
		return -EINVAL;
	uint8_t *p = out;
	mg_le_put(p, a->status, 2);
	mg_le_put(p + 2, 0, 2);
	mg_le_put(p + 4, a->retry_after, 4);
	p += 8;
	mg_le_put(p, a->etag_len, 2);
	if (a->etag_len)
		memcpy(p + 2, a->etag, a->etag_len);
	p += 2 + a->etag_len;
	mg_le_put(p, a->error_len, 2);
	if (a->error_len)
		memcpy(p + 2, a->error, a->error_len);
	p += 2 + a->error_len;
	if (a->body_len)
		memcpy(p, a->body, a->body_len);
	return 0;
}

/* Printable ASCII without quotes or controls: what an ETag may hold. */
static bool etag_ok(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	return true;
}

int mg_uplink_answer_parse(const uint8_t *p, size_t len, struct mg_uplink_answer *a, char *why,
                           size_t whylen)
{
	memset(a, 0, sizeof(*a));
	if (len < 12)
		return bad(why, whylen, "answer shorter than its fixed fields");
	a->status = (uint16_t)mg_le_get(p, 2);
	if (mg_le_get(p + 2, 2) != 0)
		return bad(why, whylen, "answer: reserved bits set");
	if (a->status != 0 && (a->status < 100 || a->status > 599))
		return bad(why, whylen, "answer: HTTP status out of range");
	a->retry_after = (uint32_t)mg_le_get(p + 4, 4);
	if (a->retry_after > 86400)
		return bad(why, whylen, "answer: Retry-After over a day");
	size_t off = 8;
	a->etag_len = (uint16_t)mg_le_get(p + off, 2);
	off += 2;
	if (a->etag_len > MG_UPLINK_MAX_ETAG || len - off < a->etag_len)
		return bad(why, whylen, "answer: ETag length out of range");
	if (!etag_ok(p + off, a->etag_len))
		return bad(why, whylen, "answer: ETag holds a character it may not");
	a->etag = (const char *)p + off;
	off += a->etag_len;
	if (len - off < 2)
		return bad(why, whylen, "answer: truncated before the error text");
	a->error_len = (uint16_t)mg_le_get(p + off, 2);
	off += 2;
	if (a->error_len > MG_UPLINK_MAX_ERROR || len - off < a->error_len)
		return bad(why, whylen, "answer: error text length out of range");
	a->error = (const char *)p + off;
	off += a->error_len;
	a->body = p + off;
	a->body_len = (uint32_t)(len - off);
	return 0;
}
