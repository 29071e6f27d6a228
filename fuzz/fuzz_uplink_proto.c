/*
 * libFuzzer target: the agent <-> uplink frame decoder on a byte stream, and the answer parser
 * on every ANSWER payload. A decoded frame must re-encode to the same bytes, a parsed answer
 * too; pointers stay inside the input. Any difference aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uplink_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;
	while (off < size) {
		struct mg_uplink_frame f;
		size_t used = 0;
		char why[96];
		if (mg_uplink_frame_decode(data + off, size - off, &f, &used, why, sizeof(why)) < 0)
			break;
		if (used != mg_uplink_frame_size(f.len) || used > size - off)
			abort();
		uint8_t *again = malloc(used);
		if (!again)
			return 0;
		if (mg_uplink_frame_encode(f.type, f.id, f.payload, f.len, again, used) != 0 ||
		    memcmp(again, data + off, used) != 0)
			abort();
		free(again);
		struct mg_uplink_answer a;
		if (mg_uplink_answer_parse(f.payload, f.len, &a, why, sizeof(why)) == 0) {
			if (mg_uplink_answer_size(&a) != f.len ||
			    a.body + a.body_len != f.payload + f.len)
				abort();
			uint8_t *enc = malloc(f.len ? f.len : 1);
			if (!enc)
				return 0;
			if (mg_uplink_answer_encode(&a, enc, f.len) != 0 ||
			    memcmp(enc, f.payload, f.len) != 0)
				abort();
			free(enc);
		}
		off += used;
	}
	return 0;
}
