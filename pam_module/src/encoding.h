/* Base64 (RFC 4648 section 4, padded) and lower-case hex for credential and state files. */
#ifndef MG_PAM_ENCODING_H
#define MG_PAM_ENCODING_H

#include <stddef.h>

/* Encodes len bytes into a new NUL-terminated string (*out, caller frees). 0 or -ENOMEM. */
int mg_b64_encode(const unsigned char *in, size_t len, char **out);

/*
 * Decodes strict padded base64 (no white space) into out (at most cap bytes). 0, -EINVAL
 * for anything malformed, -EFBIG when the result would not fit. *outlen only on success.
 */
int mg_b64_decode(const char *in, unsigned char *out, size_t cap, size_t *outlen);

/* Lower-case hex of len bytes into out (2 * len + 1 bytes). */
void mg_hex_encode(const unsigned char *in, size_t len, char *out);

/* Decodes exactly 2 * len lower- or upper-case hex digits. 0 or -EINVAL. */
int mg_hex_decode(const char *in, unsigned char *out, size_t len);

#endif
