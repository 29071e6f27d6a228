/*
 * Per-user authentication state: consecutive failures, lockout, last accepted TOTP time step
 * and the FIDO2 signature counter of each credential.
 *
 * The record (version 2; docs/PAM.md section 3):
 *   {"checksum":"<sha256 hex>","failures":0,"fido2_counters":{"<sha256 hex of the
 *    credential id>":41},"last_totp_step":0,"locked_until":0,"version":2}
 * checksum: SHA-256 of the canonical text (compact, sorted keys) of the record without it.
 *
 * The file <state_dir>/<user>.json (owner only, 0600), format 3: two slots of S bytes
 * (S = 4096, or 8192 for a record that does not fit), the file exactly 2 S bytes:
 *
 *   slot: "mynaguard-state 3 gen <20 digits> len <5 digits>\n"   header, 53 bytes
 *         <len bytes: the record> NUL padding
 *         "sha256 <64 hex>"                                      the last 71 bytes
 *
 * sha256 covers the header and the record and comes last, so that a write cut short never
 * completes a slot. A write goes to the slot that does not hold the current record, with
 * generation + 1 (mod 2^64), as one pwrite of the whole slot and one fdatasync: a torn or
 * short write damages only that slot and is an error. A reader takes the valid slot with the newer
 * generation (serial-number order); no valid slot fails closed (-EBADMSG). A new file, a file of
 * format 1 (one JSON record, written in place before issue 13) or 2 (one JSON record with checksum)
 * and a record that outgrows its slots are written as a whole new file (temp file + fsync +
 * renameat + fsync of the directory), slot 0 holding the record. Readers and writers take an
 * exclusive flock on <state_dir>/<user>.lock (never removed) and hold it across
 * read-validate-write; state_dir is checked from / down and held open, every file is opened
 * relative to it. Nothing waits for a person while the lock is held.
 */
#ifndef MG_PAM_AUTHSTATE_H
#define MG_PAM_AUTHSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MG_AUTHSTATE_MAX_SIZE     (16u * 1024u)
#define MG_AUTHSTATE_MAX_COUNTERS 64
#define MG_AUTHSTATE_VERSION      2
#define MG_JSON_INT_MAX           ((uint64_t)9007199254740991) /* 2^53 - 1 */

struct mg_authstate_counter {
	char id_hash[65]; /* lower-case hex SHA-256 of the credential id */
	uint64_t counter;
};

struct mg_authstate {
	uint64_t failures;
	uint64_t locked_until; /* Unix seconds; 0: not locked */
	uint64_t last_totp_step;
	size_t ncounters;
	struct mg_authstate_counter counters[MG_AUTHSTATE_MAX_COUNTERS];
};

/* Pure parser: 0 or -EINVAL (err filled) / -EFBIG / -ENOMEM. *out only on success. */
int mg_authstate_parse(const char *buf, size_t len, struct mg_authstate *out, char *err,
                       size_t errlen);
/* JSON text (*out NUL-terminated, caller frees). 0 or negative errno. */
int mg_authstate_format(const struct mg_authstate *st, char **out, size_t *len);

/* ---- the state file (format 3: two slots; pure) ---- */

#define MG_AUTHSTATE_SLOT_SMALL 4096u
#define MG_AUTHSTATE_SLOT_LARGE 8192u
#define MG_AUTHSTATE_SLOT_HDR   53u /* header bytes, "\n" included */
#define MG_AUTHSTATE_SLOT_TAIL  71u /* "sha256 <64 hex>" at the end of a slot */

/* Where the record of a state file was found. */
struct mg_authstate_where {
	size_t
	    slot_size; /* 0: a format 1 or 2 file (one JSON record), converted at the next write */
	unsigned slot; /* 0 or 1: the slot holding the record */
	uint64_t gen;  /* its generation */
};

/*
 * One slot of slot_size bytes (MG_AUTHSTATE_SLOT_SMALL or _LARGE) holding the record of st
 * with generation gen. 0, -EFBIG (does not fit), -EINVAL (slot_size) or -ENOMEM/-ERANGE.
 */
int mg_authstate_slot_encode(const struct mg_authstate *st, uint64_t gen, char *slot,
                             size_t slot_size);
/*
 * The record of a whole state file, any format: 0 (*out, *where filled), -EBADMSG (no valid
 * record: both slots damaged, or a format 1/2 record that does not parse; err says why), or
 * -EFBIG.
 */
int mg_authstate_file_parse(const char *buf, size_t len, struct mg_authstate *out,
                            struct mg_authstate_where *where, char *err, size_t errlen);
/* a is a newer generation than b (serial-number order, so that 0 follows 2^64 - 1). */
bool mg_authstate_gen_newer(uint64_t a, uint64_t b);

/* SHA-256 hex of a credential id, the key of fido2_counters. */
void mg_authstate_id_hash(const unsigned char *id, size_t len, char out[65]);
/* The stored counter of a credential (0 when none). */
uint64_t mg_authstate_counter_get(const struct mg_authstate *st, const char id_hash[65]);
/* Sets it. 0, or -ENOSPC when the table is full. */
int mg_authstate_counter_set(struct mg_authstate *st, const char id_hash[65], uint64_t counter);
/* Drops the entry (credential removed). */
void mg_authstate_counter_remove(struct mg_authstate *st, const char id_hash[65]);

/* A locked read-modify-write of one user's state. */
struct mg_authstate_txn;

/*
 * Checks state_dir from / down (mg_pam_dir_open: parents root or owner, state_dir owner, none
 * group/world writable), takes the user's lock (waiting at most about 5 s: -ETIMEDOUT) and
 * reads the state (none yet: all zero). -EPERM/-ELOOP/-EINVAL/-ENOTDIR for a state file or
 * directory that fails the checks, -EBADMSG for a state file that does not parse, -EFBIG
 * when RLIMIT_FSIZE could not hold a state file (refused before anything is decided). The
 * transaction owns the lock until mg_authstate_txn_end().
 */
int mg_authstate_txn_begin(const char *state_dir, uid_t owner, const char *user,
                           struct mg_authstate_txn **out);
/* What mg_authstate_txn_begin_repair() did with a state file that could not be used. */
struct mg_authstate_repair {
	bool repaired;        /* the file was unusable: the state is rebuilt */
	bool fresh;           /* nothing could be kept from it */
	size_t counters_kept; /* well-formed FIDO2 counters taken over */
	bool step_kept;       /* a well-formed last_totp_step taken over */
};

/*
 * For the administrator (mynaguard-enroll unlock): as mg_authstate_txn_begin(), but a state
 * file that does not parse (-EBADMSG: damaged, torn, wrong checksum), is too large, or is not
 * a safe regular file (wrong owner or mode, a symlink) does not stop it: the state starts
 * from what can be kept (mg_authstate_salvage) and *rep says so. The commit replaces the
 * file. Directory errors still fail.
 */
int mg_authstate_txn_begin_repair(const char *state_dir, uid_t owner, const char *user,
                                  struct mg_authstate_txn **out, struct mg_authstate_repair *rep);

/*
 * Pure: from a state file that mg_authstate_file_parse() refuses, what can be kept: each
 * well-formed FIDO2 counter (SHA-256 hex key, integer 0..2^53-1) and last_totp_step when it
 * is a well-formed integer; failures and lockout are dropped. Of a format 3 file both slots
 * are read and the larger value of each kept (a counter or step must never go back). *out is
 * zeroed first. Never fails.
 */
void mg_authstate_salvage(const char *buf, size_t len, struct mg_authstate *out,
                          struct mg_authstate_repair *rep);

struct mg_authstate *mg_authstate_txn_state(struct mg_authstate_txn *txn);
/* Writes the state all or nothing (0600): into the slot not holding the current record, or
 * a whole new file (see above); on error the previous record stays the one read. The lock
 * stays held. 0 or negative errno. */
int mg_authstate_txn_commit(struct mg_authstate_txn *txn);
/* Releases the lock and frees; NULL accepted; clears *txn. */
void mg_authstate_txn_end(struct mg_authstate_txn **txn);

/* mg_pam_dir_open() and close: dir and every parent pass the checks. 0 or -errno. */
int mg_pam_dir_check(const char *dir, uid_t owner);

#endif
