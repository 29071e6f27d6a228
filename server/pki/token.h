/*
 * Bearer tokens: 32 random bytes as unpadded base64url (43 characters). Only the SHA-256 hex
 * of a token's text is stored. Admin sessions (admin/admin_auth.c) and enrolment tokens
 * (enroll_token.c) both have this format.
 */
#ifndef MG_TOKEN_H
#define MG_TOKEN_H

#include "digest.h"

#define MG_TOKEN_SIZE      44u /* 43 characters and the NUL */
#define MG_TOKEN_HASH_SIZE MG_SHA256_HEX_SIZE

/* A new random token. 0 or -EIO. The caller wipes it after use. */
int mg_token_new(char out[MG_TOKEN_SIZE]);
/* SHA-256 of token as lower-case hex. 0, -EINVAL (not a token of the format above), -EIO. */
int mg_token_hash(const char *token, char out[MG_TOKEN_HASH_SIZE]);

#endif
