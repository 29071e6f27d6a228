/*
 * libFuzzer target: the collector's request-body parsers (server/src/api_body.c). The first
 * byte picks the parser (enroll, heartbeat, events), the rest is the body. What the events
 * parser accepts must be canonical, hash-consistent and within the batch limit.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_body.h"
#include "mg/event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_batch(const struct mg_events_batch *b)
{
	char hex[65];
	if (b->n == 0 || b->n > MG_API_MAX_EVENTS)
		abort();
	for (size_t i = 0; i < b->n; i++) {
		struct mg_event *ev = NULL;
		const char *json = b->evs[i].json;
		if (mg_event_from_json(json, strlen(json), &ev, NULL, 0) < 0)
			abort(); /* stored JSON must parse */
		if (strcmp(ev->boot_id, b->boot_id) != 0 || ev->seq != b->evs[i].seq)
			abort();
		mg_event_free(&ev);
		if (mg_api_sha256_hex(json, strlen(json), hex) < 0 ||
		    strcmp(hex, b->evs[i].hash) != 0)
			abort(); /* and match its hash */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	const char *body = (const char *)data + 1;
	if (size < 1)
		return 0;
	size--;
	err[0] = '\0';
	switch (data[0] % 3) {
	case 0: {
		struct mg_enroll_req r;
		if (mg_api_parse_enroll(body, size, &r, err, sizeof(err)) == 0) {
			if (!r.csr || strlen(r.csr) != r.csr_len)
				abort();
			mg_enroll_req_clear(&r);
		}
		break;
	}
	case 1: {
		struct mg_heartbeat_req r;
		(void)mg_api_parse_heartbeat(body, size, &r, err, sizeof(err));
		break;
	}
	default: {
		struct mg_events_batch *b = NULL;
		if (mg_api_parse_events(body, size, &b, err, sizeof(err)) == 0)
			check_batch(b);
		mg_events_batch_free(&b);
		break;
	}
	}
	if (memchr(err, '\0', sizeof(err)) == NULL)
		abort();
	return 0;
}
