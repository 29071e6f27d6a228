/*
 * One record of the event spool on disk (agent/spool/, docs/AGENT.md "Spool"): a fixed
 * header, the event's canonical JSON (EVENTS.md, "Canonical form"), and a SHA-256 over
 * header and JSON that tells a whole record from a torn or damaged one. Pure: encodes into and
 * decodes from memory; the decoder takes any bytes (a file is untrusted) and is fuzzed.
 *
 *   offset  size  field
 *   0       4     magic "MGSR"
 *   4       1     version (1)
 *   5       1     flags (MG_SPOOL_SECURITY)
 *   6       2     reserved, 0
 *   8       4     payload length, little endian, 1..MG_SPOOL_MAX_PAYLOAD
 *   12      8     seq, little endian (>= 1; per boot)
 *   20      36    boot_id (the UUID text of /proc/sys/kernel/random/boot_id)
 *   56      32    prev: SHA-256 of the previous event of the same boot, zeros for none
 *   88      len   payload: the event's canonical JSON without prev_hash and hash
 *   88+len  32    check: SHA-256 of bytes 0 .. 88+len-1
 *
 * The event's chain hash (POST /v1/events `hash`) is SHA-256 of the payload alone.
 */
#ifndef MG_SPOOL_RECORD_H
#define MG_SPOOL_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MG_SPOOL_HEADER      88u
#define MG_SPOOL_TRAILER     32u
#define MG_SPOOL_MAX_PAYLOAD (256u * 1024u) /* MG_EVENT_MAX_JSON */
#define MG_SPOOL_BOOT_ID_LEN 36u
#define MG_SPOOL_SECURITY    0x01u /* blocked/rejected device, failed login, lockout, ... */

struct mg_spool_record {
	uint8_t flags;
	uint64_t seq;
	char boot_id[MG_SPOOL_BOOT_ID_LEN + 1];
	uint8_t prev[32];    /* zeros: first event of its boot in this spool */
	const char *payload; /* into the decoded buffer, not NUL-terminated */
	uint32_t len;
};

/* Bytes a record with a payload of len bytes takes on disk. */
static inline size_t mg_spool_record_size(size_t len)
{
	return MG_SPOOL_HEADER + len + MG_SPOOL_TRAILER;
}

/*
 * Writes the record into out (mg_spool_record_size(r->len) bytes). 0, or -EINVAL (length out
 * of range, seq 0, boot_id not 36 bytes).
 */
int mg_spool_record_encode(const struct mg_spool_record *r, uint8_t *out, size_t outlen);

/*
 * Decodes the record at the start of buf[0..len). 0 with *r (payload pointing into buf) and
 * *used set; -EAGAIN when buf holds only the beginning of a record (a torn tail if it is the
 * end of the file); -EBADMSG with why filled when the bytes are not a valid record (bad magic,
 * version, length, seq, boot_id or check).
 */
int mg_spool_record_decode(const uint8_t *buf, size_t len, struct mg_spool_record *r, size_t *used,
                           char *why, size_t whylen);

/* SHA-256 of the payload: the event's chain hash. */
void mg_spool_payload_hash(const char *payload, size_t len, uint8_t out[32]);

#endif
