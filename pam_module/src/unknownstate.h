/*
 * Failures and lockouts of user names without an account (issue 13, finding 6), so that an
 * unknown name is locked after deny_after failures exactly as a known user is, without a
 * file per name an attacker chooses. One fixed-size table, root-only:
 *
 *   <state_dir>/unknown-users.db   (trusted owner, 0600, exactly MG_UNKNOWN_FILE_SIZE bytes)
 *     header (64 bytes): "MGUNKN01" | key (32 random bytes) | 24 zero bytes
 *     MG_UNKNOWN_BUCKETS buckets of MG_UNKNOWN_WAYS slots of 64 bytes:
 *       tag (16) | failures (u64 LE) | locked_until (u64 LE) | last_used (u64 LE) |
 *       8 zero bytes | mac (16)
 *     tag = HMAC-SHA256(key, "name\0" || name)[0..16], bucket from bytes 16..19 of it;
 *     mac = HMAC-SHA256(key, slot index (u64 LE) || the slot's first 48 bytes)[0..16].
 *   <state_dir>/unknown-users.lock (flock target; never removed)
 *
 * The table is read whole under the lock and replaced all or nothing after each change
 * (temporary file, every byte written, fsync, renameat, fsync of the directory), like a known
 * user's state file, so that both cost about the same. An all-zero slot is empty; a slot whose
 * mac does not match counts as a lockout (deny_after failures, unlock_after from now) of the
 * name that finds no slot of its own in that bucket and is rewritten so at once (fail
 * closed). A full bucket gives up the least recently used slot that is not locked (else the
 * one whose lockout ends first): without the key nobody can aim names at one bucket.
 */
#ifndef MG_PAM_UNKNOWNSTATE_H
#define MG_PAM_UNKNOWNSTATE_H

#include <stdint.h>
#include <sys/types.h>

#include "authstate.h"

#define MG_UNKNOWN_FILE    "unknown-users.db"
#define MG_UNKNOWN_LOCK    "unknown-users.lock"
#define MG_UNKNOWN_BUCKETS 128u
#define MG_UNKNOWN_WAYS    4u
#define MG_UNKNOWN_SLOT    64u
#define MG_UNKNOWN_HEADER  64u
#define MG_UNKNOWN_FILE_SIZE                                                                       \
	(MG_UNKNOWN_HEADER + MG_UNKNOWN_BUCKETS * MG_UNKNOWN_WAYS * MG_UNKNOWN_SLOT)

struct mg_unknown_txn;

/*
 * Checks state_dir from / down (mg_pam_dir_open), opens every file relative to it, takes
 * the table's lock (about 5 s at
 * most: -ETIMEDOUT), creates the table when missing and finds name's slot. Only failures and
 * locked_until of the state are used. -EPERM/-EINVAL/-ELOOP for files that fail the checks,
 * -EBADMSG for a table of the wrong size or header. The transaction holds the lock.
 */
int mg_unknown_txn_begin(const char *state_dir, uid_t owner, const char *name, uint64_t now,
                         uint64_t deny_after, uint64_t unlock_after, struct mg_unknown_txn **out);
struct mg_authstate *mg_unknown_txn_state(struct mg_unknown_txn *txn);
/* Writes the name's slot (failures, locked_until). 0 or negative errno (-EIO: short write). */
int mg_unknown_txn_commit(struct mg_unknown_txn *txn);
/* Releases the lock and frees; NULL accepted; clears *txn. */
void mg_unknown_txn_end(struct mg_unknown_txn **txn);

#endif
