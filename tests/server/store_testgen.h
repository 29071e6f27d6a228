/*
 * Deterministic event batches for the store tests and benchmarks: events seq from..to of one
 * (host, boot_id) with a consistent hash chain. The hash is a stand-in (not SHA-256) over the
 * JSON; the store only compares hashes. A batch made twice has the same bytes.
 */
#ifndef MG_STORE_TESTGEN_H
#define MG_STORE_TESTGEN_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

enum tg_mix {
	TG_PLAIN, /* every event "agent.started", no indexed fields */
	TG_MIXED, /* seq % 4 == 0: "device.blocked" of one of 8 devices; else "auth.success"
	             of one of 5 users (realistic rows, ~400-600 bytes of JSON) */
};

#define TG_TIME0 1767225600000000LL /* 2026-01-01T00:00:00Z; event seq is at TG_TIME0 + seq ms */

struct tg_batch {
	size_t n;
	struct mg_store_event *evs;
	char *buf;
};

/* tamper_seq (0: none): that event gets other content (and the chain follows it). */
int tg_batch_make(struct tg_batch *b, const char *host, const char *boot_id, uint64_t from,
                  uint64_t to, uint64_t tamper_seq, enum tg_mix mix);
void tg_batch_free(struct tg_batch *b);
/* The stand-in hash: 64 lower-case hex digits. */
void tg_hash(const char *s, char out[65]);

#endif
