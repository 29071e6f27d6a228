/*
 * libFuzzer target: the collector's request-body parsers (server/api/api_body.c). The first
 * byte picks the parser (enroll, heartbeat, events, policy applied, device request: byte % 5),
 * the rest is the body. What the events parser accepts must be canonical, hash-consistent and
 * within the batch limit; what the others accept must be within their limits.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_body.h"
#include "digest.h"
#include "json_arena.h"
#include "mg/event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The events parser runs with the collector's jansson arena, as in serve. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	mg_json_arena_install();
	return 0;
}

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
		if (mg_sha256_hex(json, strlen(json), hex) < 0 || strcmp(hex, b->evs[i].hash) != 0)
			abort(); /* and match its hash */
	}
}

/* An accepted device request: bounded, NUL-terminated strings that the store accepts. */
static void check_request(const struct mg_store_request *r)
{
	size_t n = strnlen(r->request_id, sizeof(r->request_id));
	if (n == 0 || n == sizeof(r->request_id) ||
	    strspn(r->request_id,
	           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != n)
		abort();
	if (strnlen(r->user, sizeof(r->user)) == 0 ||
	    strnlen(r->user, sizeof(r->user)) == sizeof(r->user) ||
	    strnlen(r->reason, sizeof(r->reason)) == 0 ||
	    strnlen(r->reason, sizeof(r->reason)) == sizeof(r->reason))
		abort();
	if (strlen(r->dev.vendor_id) != 4 || strlen(r->dev.product_id) != 4 ||
	    strnlen(r->dev.serial, sizeof(r->dev.serial)) == sizeof(r->dev.serial) ||
	    strnlen(r->dev.name, sizeof(r->dev.name)) == sizeof(r->dev.name) ||
	    strnlen(r->dev.hash, sizeof(r->dev.hash)) == sizeof(r->dev.hash))
		abort();
	if (r->host_id != 0 || r->id != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	const char *body = (const char *)data + 1;
	if (size < 1)
		return 0;
	size--;
	err[0] = '\0';
	switch (data[0] % 5) {
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
	case 3: {
		struct mg_policy_applied_req r;
		if (mg_api_parse_policy_applied(body, size, &r, err, sizeof(err)) == 0 &&
		    (r.version < 1 || r.version > (1ULL << 53) - 1))
			abort();
		break;
	}
	case 4: {
		struct mg_store_request r;
		if (mg_api_parse_request(body, size, &r, err, sizeof(err)) == 0)
			check_request(&r);
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
