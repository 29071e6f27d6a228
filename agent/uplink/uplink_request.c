/* Frame type -> HTTP call (uplink_request.h). */
#include "uplink_request.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "uplink_creds.h"
#include "uplink_enroll.h"
#include "uplink_proto.h"

static const struct {
	uint8_t type;
	const char *path;
	bool get;
} calls[] = {
    {MG_UPLINK_EVENTS, "/v1/events", false},
    {MG_UPLINK_HEARTBEAT, "/v1/heartbeat", false},
    {MG_UPLINK_POLICY_APPLIED, "/v1/policy/applied", false},
    {MG_UPLINK_REQUEST, "/v1/requests", false},
    {MG_UPLINK_STAFF_REGISTER, "/v1/staff/registrations", false},
    {MG_UPLINK_POLICY_POLL, "/v1/policy", true},
};

/* The ETag to send back: printable ASCII (a list has spaces), no CR/LF, bounded. */
static bool etag_ok(const uint8_t *p, size_t n)
{
	if (n > MG_UPLINK_MAX_ETAG)
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return false;
	return true;
}

void mg_uplink_request(struct mg_uplink_http *h, int dirfd, uint8_t type, const uint8_t *payload,
                       size_t len, struct mg_uplink_result *res)
{
	struct mg_uplink_creds c = {0};
	char etag[MG_UPLINK_MAX_ETAG + 1] = "", why[256] = "";
	size_t i = 0;
	int r;
	mg_uplink_result_clear(res);
	if (type == MG_UPLINK_ENROLL) {
		mg_uplink_enroll(h, dirfd, payload, len, res);
		return;
	}
	while (i < sizeof(calls) / sizeof(calls[0]) && calls[i].type != type)
		i++;
	if (i == sizeof(calls) / sizeof(calls[0])) {
		mg_uplink_result_fail(res, "not a request type");
		return;
	}
	if (calls[i].get) {
		if (!etag_ok(payload, len)) {
			mg_uplink_result_fail(res,
			                      "policy poll: the ETag is not printable ASCII of "
			                      "at most 256 bytes");
			return;
		}
		if (len)
			memcpy(etag, payload, len);
		etag[len] = '\0';
	}
	r = mg_uplink_creds_load(dirfd, &c, why, sizeof(why));
	if (r == -ENOENT) {
		mg_uplink_result_fail(res, "not enrolled");
		return;
	}
	if (r < 0) {
		mg_uplink_result_fail(res, "the enrolment cannot be read: %s", why);
		return;
	}
	const struct mg_uplink_http_req hr = {
	    .collector = c.collector,
	    .path = calls[i].path,
	    .body = calls[i].get ? NULL
	            : payload    ? (const char *)payload
	                         : "",
	    .body_len = calls[i].get ? 0 : len,
	    .if_none_match = etag,
	    .ca = c.ca,
	    .ca_len = c.ca_len,
	    .cert = c.cert,
	    .cert_len = c.cert_len,
	    .key = c.key,
	    .key_len = c.key_len,
	};
	mg_uplink_http_do(h, &hr, res);
	mg_uplink_creds_clear(&c);
}
