/*
 * The line protocol between pam_mynaguard.so and mynaguard-auth-helper (pure formatting and
 * parsing; the helper trusts nothing the caller sends).
 *
 *   argv:      mynaguard-auth-helper status|totp|fido2|fail USER [SERVICE TTY RHOST]
 *              (the PAM items of a login, "" when not set, only for the helper's events:
 *              with them "status" sends its events too; totp, fido2 and fail always do)
 *   stdin:     "code 123456"                                          (totp)
 *              "assert <b64 credential id> <b64 authdata> <b64 sig>"  (fido2, after the challenge)
 *              "fail <reason>" | "abort"                              (fido2, fail)
 *   stdout:    "challenge <64 hex>"                                   (fido2, first line)
 *              "result ok|fail reason=R failures=N locked_now=0|1 unlocked_now=0|1
 * credential=B64|-"
 *
 * Lines end with '\n' and are at most MG_HELPER_LINE_MAX bytes. Reasons are a fixed set.
 */
#ifndef MG_PAM_HELPER_PROTO_H
#define MG_PAM_HELPER_PROTO_H

#include <stddef.h>

#include "authcore.h"

#define MG_HELPER_LINE_MAX 8192

/* The static text of a known reason, or NULL. */
const char *mg_helper_reason(const char *text);

/* "result ..." line (with '\n') for out. 0 or -ENOMEM/-ERANGE. */
int mg_helper_result_format(const struct mg_auth_outcome *out, char *buf, size_t len);
/* Parses a "result ..." line (without or with '\n'). 0 or -EINVAL. */
int mg_helper_result_parse(const char *line, struct mg_auth_outcome *out);

#endif
