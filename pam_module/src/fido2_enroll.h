/* libfido2 adapter for enrolment: choose a key, make a credential, verify its attestation. */
#ifndef MG_PAM_FIDO2_ENROLL_H
#define MG_PAM_FIDO2_ENROLL_H

#include <stdbool.h>
#include <stddef.h>

#include "credfile.h"
#include "fido2_auth.h"

/* Index of the key the person touches among several (fido_dev_get_touch_*). 0 or -errno. */
int mg_fido2_select_by_touch(struct mg_fido2_devs *d, unsigned timeout_ms, size_t *index);

/* True when key i has a PIN set / built-in user verification. */
bool mg_fido2_dev_has_pin(struct mg_fido2_devs *d, size_t i);
bool mg_fido2_dev_has_uv(struct mg_fido2_devs *d, size_t i);

/*
 * Makes a non-resident ES256 credential for user on key i for rp_id, excluding the ids
 * already in existing, with the PIN when given (UV) and built-in UV when uv and the key has
 * it; verifies the attestation statement (full, or self attestation); fills out (label, uv
 * and created are the caller's). 0, or -EEXIST (key already registered), -EACCES (wrong
 * PIN), -ETIMEDOUT/-ECANCELED (no touch), -EBADMSG (attestation does not verify), -EIO.
 * fido_err (optional) gets the libfido2 error text.
 */
int mg_fido2_make_cred(struct mg_fido2_devs *d, size_t i, const char *rp_id, const char *user,
                       const struct mg_fido2_credfile *existing, const char *pin, bool uv,
                       struct mg_fido2_cred *out, const char **fido_err);

/*
 * The attestation of a new credential as the collector verifies it (issue 15, docs/API.md
 * POST /v1/staff/registrations): format, client data hash, authenticator data (the CBOR
 * byte string libfido2 gives), signature, and the certificate when the key sent one.
 */
struct mg_fido2_attestation {
	char fmt[16]; /* "packed", "fido-u2f", "none" */
	unsigned char cdh[32];
	unsigned char *authdata;
	size_t authdata_len;
	unsigned char *sig;
	size_t sig_len;
	unsigned char *x5c; /* DER; NULL: self attestation */
	size_t x5c_len;
};
void mg_fido2_attestation_free(struct mg_fido2_attestation *a);

/* mg_fido2_make_cred() that also fills *att (freed with mg_fido2_attestation_free). */
int mg_fido2_make_cred_attested(struct mg_fido2_devs *d, size_t i, const char *rp_id,
                                const char *user, const struct mg_fido2_credfile *existing,
                                const char *pin, bool uv, struct mg_fido2_cred *out,
                                struct mg_fido2_attestation *att, const char **fido_err);

#endif
