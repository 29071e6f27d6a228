/* SHA-256 as lower-case hex: event hashes (api/api_body.c), token digests (token.c). */
#ifndef MG_DIGEST_H
#define MG_DIGEST_H

#include <stddef.h>

#define MG_SHA256_HEX_SIZE 65u /* 64 hex digits and the NUL */

/* hex = SHA-256 of data[len] in lower-case hex. 0 or -EIO. Thread-safe. */
int mg_sha256_hex(const void *data, size_t len, char hex[MG_SHA256_HEX_SIZE]);

#endif
