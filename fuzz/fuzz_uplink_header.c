/*
 * libFuzzer target: response header lines as the collector (or anything on the network path)
 * sends them, through mynaguard-uplink's Retry-After / ETag reader. Checks the contract: the
 * delay is capped, a kept ETag is 1..MG_UPLINK_MAX_ETAG bytes of printable ASCII without
 * spaces and NUL-terminated at its length.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uplink_header.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mg_uplink_headers h;
	memset(&h, 0, sizeof(h));
	/* The input as several lines, as libcurl hands them over one by one. */
	size_t off = 0;
	while (off < size) {
		const uint8_t *nl = memchr(data + off, '\n', size - off);
		size_t len = nl ? (size_t)(nl - (data + off)) + 1 : size - off;
		mg_uplink_header_line(&h, (const char *)data + off, len);
		if (h.retry_after > MG_UPLINK_RETRY_AFTER_MAX || h.etag_len > MG_UPLINK_MAX_ETAG ||
		    h.etag[h.etag_len] != '\0')
			abort();
		for (size_t i = 0; i < h.etag_len; i++)
			if (h.etag[i] <= 0x20 || h.etag[i] >= 0x7f)
				abort();
		off += len;
	}
	return 0;
}
