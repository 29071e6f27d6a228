/*
 * Enrolment tokens (docs/API.md, "POST /v1/enroll"): 32 random bytes as unpadded base64url
 * (43 characters). The store keeps only the lower-case hex SHA-256 of the token text
 * (mg_store_token_add), as `mynaguard-collector token create` does.
 */
#ifndef MG_ENROLL_TOKEN_H
#define MG_ENROLL_TOKEN_H

#define MG_ENROLL_TOKEN_SIZE 44u /* 43 characters and the NUL */

/* A new token and the SHA-256 hex to store. 0 or -EIO. The caller wipes token after use. */
int mg_enroll_token_new(char token[MG_ENROLL_TOKEN_SIZE], char sha256_hex[65]);

#endif
