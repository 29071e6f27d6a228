/*
 * The line protocol between pam_mynaguard.so and mynaguard-auth-helper (pure formatting and
 * parsing; the helper trusts nothing the caller sends).
 *
 *   argv:      mynaguard-auth-helper status|totp|fido2|fail USER [SERVICE TTY RHOST]
 *              (the PAM items of a login, "" when not set, only for the helper's events:
 *              with them "status" sends its events too; totp, fido2 and fail always do)
 *   stdin:     "code 123456"                                          (totp)
 *              "assert 2 <b64 credential id> <b64 authdata> <b64 sig> uv=0|1"
 *                                                      (fido2, after the challenge; see below)
 *              "fail <reason>" | "abort"                              (fido2, fail)
 *   stdout:    "challenge <64 hex>"                                   (fido2, first line)
 *              "result ok|fail reason=R failures=N locked_now=0|1 unlocked_now=0|1
 * credential=B64|-"
 *
 * Lines end with '\n' and are at most MG_HELPER_LINE_MAX bytes. Reasons are a fixed set.
 *
 * The assertion line is versioned (the "2" after "assert"; any other version is refused).
 * uv=1: the key was asked with its PIN or its built-in user verification (uv = required, a
 * credential enrolled with --uv, or uv = preferred and a key with a PIN), so the helper
 * requires the UV flag in the signed authenticator data. uv=0 lowers nothing: the helper's
 * own configuration and the credential's uv still apply.
 */
#ifndef MG_PAM_HELPER_PROTO_H
#define MG_PAM_HELPER_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#include "authcore.h"
#include "credfile.h"
#include "fido2_auth.h"

#define MG_HELPER_LINE_MAX       8192
#define MG_HELPER_ASSERT_VERSION 2

/* A parsed assertion line. */
struct mg_helper_assert {
	unsigned char id[MG_FIDO2_MAX_ID];
	size_t id_len;
	unsigned char authdata[MG_FIDO2_MAX_AUTHDATA];
	size_t authdata_len;
	unsigned char sig[MG_FIDO2_MAX_SIG];
	size_t sig_len;
	bool uv_expected; /* uv=1 */
};

/* The static text of a known reason, or NULL. */
const char *mg_helper_reason(const char *text);

/* "result ..." line (with '\n') for out. 0 or -ENOMEM/-ERANGE. */
int mg_helper_result_format(const struct mg_auth_outcome *out, char *buf, size_t len);
/* Parses a "result ..." line (without or with '\n'). 0 or -EINVAL. */
int mg_helper_result_parse(const char *line, struct mg_auth_outcome *out);

/* The assertion line (with '\n') for credential id and a (uv from a->uv_expected); *line is
 * the caller's. 0 or -ENOMEM/-ERANGE (longer than MG_HELPER_LINE_MAX). */
int mg_helper_assert_format(const unsigned char *id, size_t id_len,
                            const struct mg_fido2_assertion *a, char **line);
/* Parses an assertion line (without '\n'): every field present, bounded and well formed,
 * nothing after uv. 0 (*out filled) or -EINVAL. */
int mg_helper_assert_parse(const char *line, struct mg_helper_assert *out);

#endif
