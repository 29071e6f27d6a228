/* Lockout policy over struct mg_authstate: pure functions of the state, the config and now. */
#ifndef MG_PAM_LOCKOUT_H
#define MG_PAM_LOCKOUT_H

#include <stdbool.h>
#include <stdint.h>

#include "authstate.h"

/*
 * 0 when the user may try, -EACCES while locked. A lockout whose time has passed is
 * cleared (failures reset) and *expired set: the caller commits and reports auth.unlock.
 */
int mg_lockout_check(struct mg_authstate *st, uint64_t now, bool *expired);

/*
 * Counts one refused attempt. Sets *locked_now when this failure reaches deny_after:
 * locked_until = now + unlock_after (unlock_after 0: until an admin unlocks).
 */
void mg_lockout_failure(struct mg_authstate *st, uint64_t deny_after, uint64_t unlock_after,
                        uint64_t now, bool *locked_now);

/* A successful login: failures and the lockout are cleared. */
void mg_lockout_success(struct mg_authstate *st);

/* Admin unlock. Returns true when the user was locked or had failures. */
bool mg_lockout_unlock(struct mg_authstate *st);

#endif
