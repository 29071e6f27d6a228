/*
 * The body of POST /v1/staff/registrations (docs/API.md, "Staff key registrations", issue
 * 15): pure, strict, bounded (fuzzed: fuzz/fuzz_staff_registration.c). Unknown, missing or
 * duplicate keys, wrong types, non-canonical base64 and values outside the limits are errors.
 */
#ifndef MG_API_STAFF_BODY_H
#define MG_API_STAFF_BODY_H

#include <stddef.h>

#include "store.h"

#define MG_STAFF_MAX_CRED_ID  1024u  /* decoded credential id */
#define MG_STAFF_MAX_PK       512u   /* decoded public key (libfido2 raw form) */
#define MG_STAFF_MAX_AUTHDATA 4096u  /* decoded CBOR authenticator data */
#define MG_STAFF_MAX_SIG      1024u  /* decoded attestation signature */
#define MG_STAFF_MAX_X5C      16384u /* decoded DER attestation certificate */

struct mg_staff_reg {
	/* login, registration_id, label, credential_id, public_key, cose_alg, rp_id, uv, aaguid,
	 * attestation_fmt; the store fields the terminal cannot set are zero. */
	struct mg_store_staff_key key;
	unsigned char cred_id[MG_STAFF_MAX_CRED_ID];
	size_t cred_id_len;
	unsigned char pk[MG_STAFF_MAX_PK];
	size_t pk_len;
	unsigned char authdata[MG_STAFF_MAX_AUTHDATA];
	size_t authdata_len;
	unsigned char cdh[32];
	unsigned char sig[MG_STAFF_MAX_SIG];
	size_t sig_len; /* 0 only for fmt "none" */
	unsigned char x5c[MG_STAFF_MAX_X5C];
	size_t x5c_len; /* 0: none (self attestation) */
};

/*
 * Parses buf[0..len) into *out (the caller's, about 23 KiB: allocate it). 0, -EINVAL with err
 * naming the field (never quoting the input), or -ENOMEM. *out is meaningful only on 0.
 */
int mg_api_parse_staff_reg(const char *buf, size_t len, struct mg_staff_reg *out, char *err,
                           size_t errlen);

/*
 * Strict standard base64 (padding, no line breaks, zero trailing bits) of 1..max bytes into
 * out: the number of bytes, or -EINVAL.
 */
long mg_b64_decode_strict(const char *s, size_t n, unsigned char *out, size_t max);

#endif
