/*
 * Runs mynaguard-auth-helper for a module that does not run as the trusted owner (screen
 * lockers), in the manner of pam_unix's unix_chkpwd: fork, exec with an empty environment,
 * a request on the helper's stdin, one result line on its stdout, bounded waits.
 */
#ifndef MG_PAM_HELPER_CLIENT_H
#define MG_PAM_HELPER_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "authcore.h"
#include "fido2_auth.h"

struct mg_helper;

/*
 * Whom the helper acts for: the user, and for the events it sends to the agent the PAM items
 * of the attempt (tty, rhost NULL: not set). service NULL: not an authentication attempt (the
 * account phase): the items are not passed and "status" sends no events.
 */
struct mg_helper_who {
	const char *user;
	const char *service;
	const char *tty;
	const char *rhost;
};

/* Each returns 0 with *out filled, or a negative errno (the helper failed: refuse). */
int mg_helper_status(const char *helper, const struct mg_helper_who *who,
                     struct mg_auth_outcome *out);
int mg_helper_totp(const char *helper, const struct mg_helper_who *who, const char *code,
                   struct mg_auth_outcome *out);
int mg_helper_fail(const char *helper, const struct mg_helper_who *who, const char *reason,
                   struct mg_auth_outcome *out);

/*
 * Starts a FIDO2 exchange: the helper checks the lockout and sends a fresh challenge.
 * 0 with *h (the helper waits for the assertion) and cdh filled; or 0 with *h NULL and *out
 * filled when the helper refused at once (locked); or a negative errno.
 */
int mg_helper_fido2_begin(const char *helper, const struct mg_helper_who *who, unsigned timeout_ms,
                          struct mg_helper **h, unsigned char cdh[MG_FIDO2_CDH_LEN],
                          struct mg_auth_outcome *out);
/* Sends the assertion and reads the verdict; frees *h. */
int mg_helper_fido2_assert(struct mg_helper **h, const unsigned char *id, size_t id_len,
                           const struct mg_fido2_assertion *a, struct mg_auth_outcome *out);
/* Sends "fail REASON" (counted) or, with reason NULL, "abort" (nothing counted); frees *h. */
int mg_helper_fido2_end(struct mg_helper **h, const char *reason, struct mg_auth_outcome *out);

#endif
