/*
 * The two response headers the uplink passes on to the agent (docs/API.md): Retry-After and
 * ETag. Pure: one raw header line in (as libcurl hands it over, CRLF included), the fields out.
 * Everything else in a collector's answer is the agent's to interpret.
 */
#ifndef MG_UPLINK_HEADER_H
#define MG_UPLINK_HEADER_H

#include <stddef.h>
#include <stdint.h>

#include "uplink_proto.h"

#define MG_UPLINK_RETRY_AFTER_MAX 3600u

struct mg_uplink_headers {
	uint32_t retry_after; /* seconds, 0: none */
	char etag[MG_UPLINK_MAX_ETAG + 1];
	size_t etag_len;
};

/*
 * Takes one header line into h. A status line ("HTTP/...") starts a new response (an interim
 * or a redirected one) and clears h. Retry-After: delay-seconds only, capped at
 * MG_UPLINK_RETRY_AFTER_MAX; an HTTP-date or anything malformed is 0. ETag: trimmed; kept
 * only when it is 1..MG_UPLINK_MAX_ETAG bytes of printable ASCII without spaces (else none).
 */
void mg_uplink_header_line(struct mg_uplink_headers *h, const char *line, size_t len);

#endif
