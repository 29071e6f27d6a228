/*
 * The decisions that need secrets or state, each one locked read-validate-write of the
 * user's state. Run directly by the module when it runs as the trusted owner (root), and
 * by mynaguard-auth-helper otherwise. Nothing here talks to people.
 */
#ifndef MG_PAM_AUTHCORE_H
#define MG_PAM_AUTHCORE_H

#include <stdbool.h>
#include <stdint.h>

#include "credfile.h"
#include "pam_conf.h"

/*
 * The key in the state's fido2_counters table that holds the central unlock time (µs)
 * applied last: 64 zeros, the SHA-256 of no credential id anyone can find.
 */
#define MG_AUTH_CENTRAL_UNLOCK_KEY                                                                 \
	"0000000000000000000000000000000000000000000000000000000000000000"

struct mg_auth_outcome {
	bool success;
	const char *reason; /* static text ("wrong-code", "locked", ...); NULL on success */
	uint64_t failures;  /* consecutive failures after this step */
	bool locked_now;    /* this failure started a lockout */
	bool unlocked_now;  /* an expired lockout was cleared (or a central unlock applied) */
	const char *unlock_reason;              /* of unlocked_now: "expired" (NULL) or "central" */
	char credential[MG_CRED_LABEL_MAX + 1]; /* label of the credential used, or "" */
};

/*
 * In every function, track says whether the user has a state file (an existing account
 * with a valid name); without it nothing is read or written and only the outcome is
 * reported. The return value is 0 (outcome filled) or a negative errno for an error that
 * prevented the decision (bad state file or directory, I/O): the caller refuses.
 */

/*
 * Whether the user may try now: outcome.success false with reason "locked" when not, or
 * "staff-disabled" for a staff member disabled centrally (staff.db, issue 15; every function
 * below refuses such a user the same way, without counting). A central unlock newer than the
 * one applied last clears a lockout that began before it, once (the applied time is kept in
 * the user's state, MG_AUTH_CENTRAL_UNLOCK_KEY).
 */
int mg_auth_status(const struct mg_pam_conf *conf, const char *user, bool track, uint64_t now,
                   struct mg_auth_outcome *out);

/*
 * Validates a TOTP code (the user's TOTP file; a dummy computation when there is none, which
 * fails with "no-credential") with the replay rule and counts the result.
 * Reasons: "locked", "wrong-code", "replay", "no-credential". -EBADMSG/-EPERM for a TOTP
 * file that fails its checks (the attempt is counted as "credential-error" first).
 */
int mg_auth_totp(const struct mg_pam_conf *conf, const char *user, bool track, const char *code,
                 uint64_t now, struct mg_auth_outcome *out);

/*
 * After a verified FIDO2 assertion made with credential cred: checks the lockout and that
 * the signature counter went up (reason "counter-regression"), stores it, counts the result.
 */
int mg_auth_fido2_finish(const struct mg_pam_conf *conf, const char *user, bool track,
                         const struct mg_fido2_cred *cred, uint64_t sigcount, uint64_t now,
                         struct mg_auth_outcome *out);

/* Counts one refused attempt with reason (static text). */
int mg_auth_fail(const struct mg_pam_conf *conf, const char *user, bool track, const char *reason,
                 uint64_t now, struct mg_auth_outcome *out);

/* Admin unlock: clears failures and the lockout. outcome.success tells whether it was set. */
int mg_auth_unlock(const struct mg_pam_conf *conf, const char *user, struct mg_auth_outcome *out);

/* Forgets the stored counter of a removed credential. */
int mg_auth_forget_counter(const struct mg_pam_conf *conf, const char *user,
                           const struct mg_fido2_cred *cred);

#endif
