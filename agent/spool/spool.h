/*
 * The agent's event spool (issue 12): append-only segment files in <state_dir>/spool/, one
 * record per event (spool_record.h), each event chained to the previous one of its boot by
 * SHA-256 exactly as POST /v1/events defines `prev_hash` and `hash`. An event is in the spool
 * once its record is on disk (mg_spool_sync, or append with sync: fdatasync); a torn or
 * damaged tail is cut off when the spool is opened, everything before it survives. Bounded by
 * max_bytes: routine events may fill 90% of it, security events all of it; what does not fit
 * is counted (mg_spool_take_dropped) so that the caller can report it once there is room.
 * Segments are deleted only when the collector acknowledged every event in them.
 */
#ifndef MG_SPOOL_H
#define MG_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spool_record.h"

struct mg_spool;

struct mg_spool_opts {
	const char *dir;        /* the spool directory (created 0700 if missing) */
	const char *boot_id;    /* this boot: 36-character UUID text */
	uint64_t max_bytes;     /* 0: 256 MiB */
	uint64_t segment_bytes; /* 0: 1 MiB */
};

/* What opening found and did. */
struct mg_spool_recovery {
	uint64_t records;   /* intact records kept */
	uint64_t cut_bytes; /* bytes of torn or damaged records cut off */
	char cut_why[160];  /* the first reason, "" when nothing was cut */
};

/* Opens (recovering) the spool. 0 or negative errno with err filled. */
int mg_spool_open(const struct mg_spool_opts *o, struct mg_spool **out,
                  struct mg_spool_recovery *rec, char *err, size_t errlen);
/* Syncs what was written and closes. */
void mg_spool_close(struct mg_spool **sp);

/* The seq the next event of this boot must carry (last seq in the spool + 1). */
uint64_t mg_spool_next_seq(const struct mg_spool *sp);

/*
 * Appends the canonical JSON of one event of this boot carrying seq mg_spool_next_seq()
 * (the caller stamped it). flags: MG_SPOOL_SECURITY. sync: fdatasync before returning;
 * otherwise the next mg_spool_sync() makes it durable (group commit). hash (may be NULL)
 * gets the event's chain hash. 0; -ENOSPC (full for this priority: counted as dropped);
 * -EINVAL (wrong seq, length out of range); another negative errno from the disk (nothing of
 * the record stays in the file).
 */
int mg_spool_append(struct mg_spool *sp, const char *json, size_t len, uint64_t seq, uint8_t flags,
                    bool sync, uint8_t hash[32]);
/* Whether a record of len bytes of payload with flags fits now. */
bool mg_spool_fits(const struct mg_spool *sp, size_t len, uint8_t flags);

/* Makes every append so far durable. 0 or negative errno. */
int mg_spool_sync(struct mg_spool *sp);

/*
 * Calls cb for the events of boot_id with seq > after_seq, in order, at most max_events of
 * them and at most max_bytes of payload (at least one). cb's hash and prev are the chain
 * values (prev all zeros for the first event of a boot). Returns the number delivered, or a
 * negative errno (or cb's negative return).
 */
typedef int (*mg_spool_cb)(void *ctx, const struct mg_spool_record *r, const uint8_t hash[32]);
int mg_spool_read(struct mg_spool *sp, const char *boot_id, uint64_t after_seq, size_t max_events,
                  size_t max_bytes, mg_spool_cb cb, void *ctx);

/*
 * The collector stored every event of boot_id up to acked_through: segments holding nothing
 * else unacknowledged are deleted. 0 or negative errno.
 */
int mg_spool_ack(struct mg_spool *sp, const char *boot_id, uint64_t acked_through);

/* The oldest boot with events not acknowledged, and the seq acknowledged so far (0: none);
 * false when everything is acknowledged. */
bool mg_spool_pending(const struct mg_spool *sp, char boot_id[MG_SPOOL_BOOT_ID_LEN + 1],
                      uint64_t *acked);

/* The same, skipping the boots in skip (their upload stopped). */
bool mg_spool_pending_except(const struct mg_spool *sp,
                             const char (*skip)[MG_SPOOL_BOOT_ID_LEN + 1], size_t nskip,
                             char boot_id[MG_SPOOL_BOOT_ID_LEN + 1], uint64_t *acked);
/* The collector's acknowledgement of boot_id as the spool knows it (0: none). */
uint64_t mg_spool_acked(const struct mg_spool *sp, const char *boot_id);
/* The lowest seq of boot_id still in the spool (0: none). */
uint64_t mg_spool_first_seq(const struct mg_spool *sp, const char *boot_id);

/* Bytes on disk, and events not acknowledged. */
uint64_t mg_spool_bytes(const struct mg_spool *sp);
uint64_t mg_spool_unacked(const struct mg_spool *sp);

/*
 * Reads every intact record of the spool in dir, in order, without changing anything (for
 * `mynaguardctl events`, auditors and tests; the agent may be appending meanwhile: an
 * incomplete record at the very end is not reported). A damaged record elsewhere ends the
 * scan with err saying where. Returns the number of records, or a negative errno (cb's).
 */
int mg_spool_scan(const char *dir, mg_spool_cb cb, void *ctx, char *err, size_t errlen);

/* Events refused since the last call (full spool), by priority; resets the counts. */
void mg_spool_take_dropped(struct mg_spool *sp, uint64_t *routine, uint64_t *security);

#endif
