/*
 * libFuzzer target: the spool record decoder on arbitrary bytes, walked as recovery walks a
 * segment. Every record it accepts must encode back to exactly the same bytes, and a decoded
 * payload lies inside the input. Any difference aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "spool_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;
	while (off < size) {
		struct mg_spool_record r;
		size_t used = 0;
		char why[96];
		if (mg_spool_record_decode(data + off, size - off, &r, &used, why, sizeof(why)) < 0)
			break;
		if (used != mg_spool_record_size(r.len) || used > size - off ||
		    (const uint8_t *)r.payload < data + off ||
		    (const uint8_t *)r.payload + r.len > data + off + used)
			abort();
		uint8_t *again = malloc(used);
		if (!again)
			return 0;
		if (mg_spool_record_encode(&r, again, used) != 0 ||
		    memcmp(again, data + off, used) != 0)
			abort();
		free(again);
		off += used;
	}
	return 0;
}
