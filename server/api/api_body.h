/*
 * Pure parsers of the collector API's request bodies (docs/API.md): bytes in, struct out, no
 * I/O. Untrusted input: sizes are capped, JSON is parsed strictly (duplicate keys, unknown
 * keys, wrong types and invalid UTF-8 are errors). All return 0 or a negative errno with err
 * (always NUL-terminated when errlen > 0) naming what was wrong:
 *   -EINVAL  malformed (the API answers 400)
 *   -EFBIG   too many events (413)
 *   -EBADMSG an event's "hash" does not match its canonical JSON (422)
 *   -ENOMEM
 */
#ifndef MG_API_BODY_H
#define MG_API_BODY_H

#include <stddef.h>
#include <stdint.h>

#include "json_body.h"
#include "store.h"

#define MG_API_MAX_BODY   MG_BODY_MAX /* bytes of one request body (json_body.h) */
#define MG_API_MAX_EVENTS 1000u       /* events per POST /v1/events */
#define MG_API_MAX_CSR    16384u      /* bytes of a PEM CSR */
#define MG_API_MAX_TOKEN  256u        /* bytes of an enrolment token */

/* POST /v1/enroll */
struct mg_enroll_req {
	char token[MG_API_MAX_TOKEN];
	char *csr; /* PEM, owned */
	size_t csr_len;
	char hostname[256];
	char agent_version[MG_STORE_NAME_SIZE];
};
int mg_api_parse_enroll(const char *buf, size_t len, struct mg_enroll_req *out, char *err,
                        size_t errlen);
/* Frees csr and wipes the token. */
void mg_enroll_req_clear(struct mg_enroll_req *r);

/* POST /v1/heartbeat */
struct mg_heartbeat_req {
	uint64_t spool_depth;
	int64_t oldest_unsent_us; /* 0: spool empty */
	uint64_t policy_version;
	char agent_version[MG_STORE_NAME_SIZE];
};
int mg_api_parse_heartbeat(const char *buf, size_t len, struct mg_heartbeat_req *out, char *err,
                           size_t errlen);

/*
 * POST /v1/events: {"boot_id": UUID, "events": [E, ...]} where each E is an event object
 * (docs/EVENTS.md) plus "prev_hash" ("" or 64 lower-case hex digits) and "hash" (hex SHA-256 of
 * the event's canonical JSON without those two keys). Each event is validated with
 * mg_event_from_json(), must carry the batch's boot_id, and is stored in canonical form.
 */
struct mg_events_batch {
	char boot_id[37];
	size_t n;
	struct mg_store_event *evs; /* n entries ready for mg_store_ingest(); owned */
	void *priv;                 /* the strings evs points into */
};
int mg_api_parse_events(const char *buf, size_t len, struct mg_events_batch **out, char *err,
                        size_t errlen);
void mg_events_batch_free(struct mg_events_batch **b);

/* POST /v1/policy/applied: {"version": N}, N the version the terminal applied (1..2^53-1). */
struct mg_policy_applied_req {
	uint64_t version;
};
int mg_api_parse_policy_applied(const char *buf, size_t len, struct mg_policy_applied_req *out,
                                char *err, size_t errlen);

/*
 * POST /v1/requests: a terminal user's request for a blocked device.
 *   {"request_id": "[A-Za-z0-9._-]{1,63}", "user": "1..255 bytes",
 *    "device": {"vendor_id": "4 lower-case hex", "product_id": "4 lower-case hex",
 *               "serial"?: "0..1023 bytes", "name"?: "0..1023 bytes", "hash"?: "base64, 0..127"},
 *    "reason": "1..1023 bytes"}
 * Optional members are absent or strings ("" = absent). No string holds NUL; user holds no
 * control character, reason none but tab and newline (device strings are the device's own,
 * repaired to UTF-8 by the agent, and are kept as sent).
 * Fills request_id, user, dev and reason of out (everything else zero).
 */
int mg_api_parse_request(const char *buf, size_t len, struct mg_store_request *out, char *err,
                         size_t errlen);

#endif
