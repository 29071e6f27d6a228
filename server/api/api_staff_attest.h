/*
 * The attestation check of a staff key registration (issue 15), a thin adapter around
 * libfido2: the attestation statement must verify (fido_cred_verify with an x5c certificate,
 * fido_cred_verify_self for self attestation; fmt "none" proves nothing and is refused), for
 * the body's rp_id, client data hash and algorithm, with UV set when the body claims uv, and
 * the authenticator data must carry exactly the body's credential id, public key and aaguid.
 */
#ifndef MG_API_STAFF_ATTEST_H
#define MG_API_STAFF_ATTEST_H

#include <stddef.h>

#include "api_staff_body.h"

/*
 * 0 with r->key.attestation_subject set (the certificate subject, "" without one) and
 * r->key.uv set to the authenticator data's UV flag (the body may claim less, never more), or
 * -EBADMSG with why in words (English, for the 422 answer), or -ENOMEM.
 */
int mg_staff_attest_verify(struct mg_staff_reg *r, char *why, size_t whylen);

#endif
