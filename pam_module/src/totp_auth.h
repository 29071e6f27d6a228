/* liboath adapter: RFC 6238 validation with a constant-time compare and the replay rule. */
#ifndef MG_PAM_TOTP_AUTH_H
#define MG_PAM_TOTP_AUTH_H

#include <stdint.h>
#include <time.h>

#include "credfile.h"

#define MG_TOTP_CODE_MAX 8

/*
 * Checks code (exactly c->digits ASCII digits) against the secret at now, window steps on
 * each side. 0 and *step (the time step T that matched) when it matches a step greater than
 * last_step; -EALREADY when it matches a step not greater than last_step (replay); -EACCES
 * when it does not match; -EIO for a liboath failure.
 */
int mg_totp_verify(const struct mg_totp_cred *c, const char *code, time_t now, unsigned window,
                   uint64_t last_step, uint64_t *step);

/* Spends the same work as mg_totp_verify() on a random secret, for users without TOTP. */
void mg_totp_verify_dummy(const char *code, time_t now, unsigned window);

/* The code for time t (tests, enrolment self-check). 0 or -EIO. buf: digits + 1 bytes. */
int mg_totp_generate(const struct mg_totp_cred *c, time_t t, char *buf, size_t len);

#endif
