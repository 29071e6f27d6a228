/* The attestation check of a staff key registration (api_staff_attest.h), with libfido2. */
#include "api_staff_attest.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <fido.h>
#include <openssl/x509.h>

static void subject_of(const unsigned char *der, size_t len, char *out, size_t size)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	out[0] = '\0';
	if (x) {
		X509_NAME_oneline(X509_get_subject_name(x), out, (int)size);
		X509_free(x);
	}
	/* Stored as one line of printable text. */
	for (char *c = out; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
}

int mg_staff_attest_verify(struct mg_staff_reg *r, char *why, size_t whylen)
{
	static const char hexd[] = "0123456789abcdef";
	fido_cred_t *c = NULL;
	int rc = FIDO_OK, ret = -EBADMSG;
	char aaguid[33] = "";

	if (strcmp(r->key.attestation_fmt, "none") == 0) {
		snprintf(why, whylen,
		         "attestation format \"none\" proves nothing; use the key's "
		         "packed or fido-u2f attestation");
		return -EBADMSG;
	}
	if (!(c = fido_cred_new()))
		return -ENOMEM;
	if ((rc = fido_cred_set_type(c, r->key.cose_alg)) != FIDO_OK ||
	    (rc = fido_cred_set_clientdata_hash(c, r->cdh, sizeof(r->cdh))) != FIDO_OK ||
	    (rc = fido_cred_set_rp(c, r->key.rp_id, NULL)) != FIDO_OK ||
	    (rc = fido_cred_set_uv(c, r->key.uv ? FIDO_OPT_TRUE : FIDO_OPT_OMIT)) != FIDO_OK ||
	    (rc = fido_cred_set_authdata(c, r->authdata, r->authdata_len)) != FIDO_OK ||
	    (rc = fido_cred_set_fmt(c, r->key.attestation_fmt)) != FIDO_OK ||
	    (rc = fido_cred_set_sig(c, r->sig, r->sig_len)) != FIDO_OK ||
	    (r->x5c_len && (rc = fido_cred_set_x509(c, r->x5c, r->x5c_len)) != FIDO_OK)) {
		snprintf(why, whylen, "attestation does not decode: %s", fido_strerr(rc));
		goto out;
	}
	rc = r->x5c_len ? fido_cred_verify(c) : fido_cred_verify_self(c);
	if (rc != FIDO_OK) {
		snprintf(why, whylen, "attestation signature does not verify: %s", fido_strerr(rc));
		goto out;
	}
	if (!(fido_cred_flags(c) & 0x01)) {
		snprintf(why, whylen, "attestation without user presence");
		goto out;
	}
	if (fido_cred_id_len(c) != r->cred_id_len ||
	    memcmp(fido_cred_id_ptr(c), r->cred_id, r->cred_id_len) != 0) {
		snprintf(why, whylen, "credential.id is not the attested credential id");
		goto out;
	}
	if (fido_cred_pubkey_len(c) != r->pk_len ||
	    memcmp(fido_cred_pubkey_ptr(c), r->pk, r->pk_len) != 0) {
		snprintf(why, whylen, "credential.public_key is not the attested public key");
		goto out;
	}
	if (fido_cred_aaguid_len(c) == 16)
		for (size_t k = 0; k < 16; k++) {
			aaguid[2 * k] = hexd[fido_cred_aaguid_ptr(c)[k] >> 4];
			aaguid[2 * k + 1] = hexd[fido_cred_aaguid_ptr(c)[k] & 15];
		}
	else
		memset(aaguid, '0', 32);
	aaguid[32] = '\0';
	if (strcmp(aaguid, r->key.aaguid) != 0) {
		snprintf(why, whylen, "credential.aaguid is not the attested aaguid");
		goto out;
	}
	/* The registry records what the key attested: it verified its user (a PIN is set and
	 * was given), whatever the terminal claimed; such a credential asks for the PIN at
	 * every login. */
	r->key.uv = (fido_cred_flags(c) & 0x04) != 0;
	subject_of(r->x5c, r->x5c_len, r->key.attestation_subject,
	           sizeof(r->key.attestation_subject));
	ret = 0;
out:
	fido_cred_free(&c);
	return ret;
}
