/*
 * staff.db: the central staff credentials of the verified policy bundle (issue 15), written by
 * the agent (agent.conf staff_db, docs/AGENT.md) and read by the PAM module with bounded
 * pread()s (mg_staff_db_find_read, docs/PAM.md). Pure: bytes in, bytes out, no I/O (the
 * reader variant does its I/O through the caller's callback).
 *
 * Layout (all integers little endian):
 *
 *   header, 40 bytes: magic "MGSTAFF1" (8), u32 format = 1, u32 count, u64 bundle_version,
 *                     i64 issued_us, i64 expires_us
 *   index, count entries of 32 bytes, sorted by name (memcmp on the common prefix, then
 *   shorter first; names unique):
 *                     u32 name_off, u32 name_len, u32 rec_off, u32 rec_len,
 *                     u32 flags (bit 0: disabled; other bits 0), u32 reserved (0),
 *                     i64 unlocked_us (0: none)
 *   data:             the name and record bytes the index points to (offsets from the start
 *                     of the file, inside the data area). A name is a valid user name
 *                     (mg_user_name_valid); a record is the JSON {"credentials":[...]} of the
 *                     bundle's user (canonical: compact, sorted keys), not NUL-terminated.
 */
#ifndef MG_STAFF_DB_H
#define MG_STAFF_DB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MG_STAFF_DB_MAGIC      "MGSTAFF1"
#define MG_STAFF_DB_FORMAT     1u
#define MG_STAFF_DB_HEADER     40u
#define MG_STAFF_DB_ENTRY      32u
#define MG_STAFF_DB_F_DISABLED 1u
#define MG_STAFF_DB_MAX_USERS  100000u /* = the bundle's limit */
#define MG_STAFF_DB_MAX_RECORD 65536u  /* one user's record (16 credentials fit easily) */
#define MG_STAFF_DB_MAX_FILE   (256u * 1024u * 1024u)

struct mg_staff_db_info {
	uint64_t bundle_version;
	int64_t issued_us, expires_us;
	uint32_t count;
};

struct mg_staff_entry {
	const char *user; /* points into the buffer, not NUL-terminated */
	size_t user_len;
	bool disabled;
	int64_t unlocked_us; /* 0: none */
	const char *record;  /* JSON: {"credentials":[...]} as in the bundle; into the buffer */
	size_t record_len;
};

/*
 * From the bundle's "staff" member (NULL: no staff, an empty database) to the file's bytes
 * (*out malloc'ed, owned by the caller). staff must be the member as mg_policy_bundle_parse
 * accepted it (it is checked again: names, state, credentials). 0, -EINVAL (staff malformed,
 * issued_us >= expires_us), -EFBIG, -ENOMEM.
 */
int mg_staff_db_build(const json_t *staff, uint64_t bundle_version, int64_t issued_us,
                      int64_t expires_us, unsigned char **out, size_t *out_len);

/*
 * Checks the header and the index bounds of buf[0..len) (untrusted: bounded, fuzzed): magic,
 * format, count, every entry inside the data area, names valid and strictly sorted, flags and
 * reserved bits 0, issued_us < expires_us. 0 or -EBADMSG; info (optional) filled on 0.
 */
int mg_staff_db_open(const void *buf, size_t len, struct mg_staff_db_info *info);

/*
 * Binary search by exact name (case matters): 0 (*out filled), -ENOENT, -EBADMSG (damaged
 * header or the entries it visits). O(log n), no allocation. Checks the header and every entry
 * it visits itself, so it is safe on any bytes; call mg_staff_db_open once for the whole check.
 */
int mg_staff_db_find(const void *buf, size_t len, const char *user, struct mg_staff_entry *out);

/*
 * The same search without the file in memory (the PAM module: bounded pread()s instead of a
 * mapping, issue 15's RSS target): read(ctx, off, dst, n) fills dst with the n bytes at off of
 * a file of len bytes (0, or a negative errno; a short read is -EBADMSG). Reads the header,
 * then only the index entries and names the binary search visits (and the first and last byte
 * of their records), then the one record into rec (reclen >= MG_STAFF_DB_MAX_RECORD). The same
 * checks as mg_staff_db_find. On 0, out->user points to user and out->record into rec;
 * info (optional) is filled whenever the header is valid (also on -ENOENT).
 * 0, -ENOENT, -EBADMSG, or the reader's error.
 */
struct mg_staff_db_reader {
	int (*read)(void *ctx, uint64_t off, void *dst, size_t n);
	void *ctx;
	size_t len;
};
int mg_staff_db_find_read(const struct mg_staff_db_reader *rd, const char *user,
                          struct mg_staff_db_info *info, struct mg_staff_entry *out, char *rec,
                          size_t reclen);

#endif
