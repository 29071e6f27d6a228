/*
 * Per-user authentication state: consecutive failures, lockout, last accepted TOTP time step
 * and the FIDO2 signature counter of each credential.
 *
 *   <state_dir>/<user>.json  (owner only, 0600)
 *   {"version":1,"failures":0,"locked_until":0,"last_totp_step":0,
 *    "fido2_counters":{"<sha256 hex of the credential id>":41}}
 *
 * Readers and writers take an exclusive flock on <state_dir>/<user>.lock (never removed) and
 * hold it across read-validate-write; the file is replaced atomically (temp + fsync + rename).
 * Nothing waits for a person while the lock is held.
 */
#ifndef MG_PAM_AUTHSTATE_H
#define MG_PAM_AUTHSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MG_AUTHSTATE_MAX_SIZE     (16u * 1024u)
#define MG_AUTHSTATE_MAX_COUNTERS 64
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
 * Checks that state_dir is a directory owned by owner and not writable by group or others,
 * takes the user's lock (waiting at most about 5 s: -ETIMEDOUT) and reads the state (none yet:
 * all zero). -EPERM/-ELOOP/-EINVAL for a state file or directory that fails the checks,
 * -EBADMSG for a state file that does not parse. The transaction owns the lock until
 * mg_authstate_txn_end().
 */
int mg_authstate_txn_begin(const char *state_dir, uid_t owner, const char *user,
                           struct mg_authstate_txn **out);
struct mg_authstate *mg_authstate_txn_state(struct mg_authstate_txn *txn);
/* Writes the state atomically (0600). The lock stays held. 0 or negative errno. */
int mg_authstate_txn_commit(struct mg_authstate_txn *txn);
/* Releases the lock and frees; NULL accepted; clears *txn. */
void mg_authstate_txn_end(struct mg_authstate_txn **txn);

/* Checks a directory: owned by owner, a directory, not group/world writable. 0 or -errno. */
int mg_pam_dir_check(const char *dir, uid_t owner);

#endif
