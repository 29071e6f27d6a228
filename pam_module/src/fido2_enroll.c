/* Enrolment through libfido2. */
#include "fido2_enroll.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <fido.h>

bool mg_fido2_dev_has_pin(struct mg_fido2_devs *d, size_t i)
{
	fido_dev_t *dev = mg_fido2_devs_dev(d, i);
	return dev && fido_dev_has_pin(dev);
}

bool mg_fido2_dev_has_uv(struct mg_fido2_devs *d, size_t i)
{
	fido_dev_t *dev = mg_fido2_devs_dev(d, i);
	return dev && fido_dev_has_uv(dev);
}

int mg_fido2_select_by_touch(struct mg_fido2_devs *d, unsigned timeout_ms, size_t *index)
{
	size_t n = mg_fido2_devs_count(d);
	bool begun[MG_FIDO2_MAX_DEVS] = {false};
	int r = -ETIMEDOUT;
	if (n == 1) {
		*index = 0;
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		begun[i] = fido_dev_get_touch_begin(mg_fido2_devs_dev(d, i)) == FIDO_OK;
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (bool done = false; !done;) {
		bool any = false;
		for (size_t i = 0; i < n && !done; i++) {
			int touched = 0;
			if (!begun[i])
				continue;
			any = true;
			int rc = fido_dev_get_touch_status(mg_fido2_devs_dev(d, i), &touched, 50);
			if (rc != FIDO_OK) {
				begun[i] = false;
			} else if (touched) {
				*index = i;
				begun[i] = false;
				r = 0;
				done = true;
			}
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		long long ms =
		    (now.tv_sec - t0.tv_sec) * 1000LL + (now.tv_nsec - t0.tv_nsec) / 1000000;
		if (!any) {
			r = -EIO;
			done = true;
		} else if (ms >= (long long)timeout_ms) {
			done = true;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (begun[i])
			fido_dev_cancel(mg_fido2_devs_dev(d, i));
	return r;
}

static int map_err(int rc)
{
	switch (rc) {
	case FIDO_ERR_CREDENTIAL_EXCLUDED:
		return -EEXIST;
	case FIDO_ERR_PIN_INVALID:
	case FIDO_ERR_PIN_AUTH_INVALID:
	case FIDO_ERR_PIN_BLOCKED:
	case FIDO_ERR_PIN_AUTH_BLOCKED:
	case FIDO_ERR_PIN_REQUIRED:
		return -EACCES;
	case FIDO_ERR_OPERATION_DENIED:
	case FIDO_ERR_USER_ACTION_TIMEOUT:
	case FIDO_ERR_ACTION_TIMEOUT:
		return -ETIMEDOUT;
	case FIDO_ERR_KEEPALIVE_CANCEL:
		return -ECANCELED;
	default:
		return -EIO;
	}
}

void mg_fido2_attestation_free(struct mg_fido2_attestation *a)
{
	if (!a)
		return;
	free(a->authdata);
	free(a->sig);
	free(a->x5c);
	memset(a, 0, sizeof(*a));
}

static unsigned char *dup_bytes(const unsigned char *p, size_t n)
{
	unsigned char *q = n && p ? malloc(n) : NULL;
	if (q)
		memcpy(q, p, n);
	return q;
}

/* Copies the attestation of c into *att. 0 or -ENOMEM/-EBADMSG. */
static int copy_attestation(const fido_cred_t *c, const unsigned char cdh[32],
                            struct mg_fido2_attestation *att)
{
	const char *fmt = fido_cred_fmt(c);
	memset(att, 0, sizeof(*att));
	if (!fmt || strlen(fmt) >= sizeof(att->fmt) || fido_cred_authdata_len(c) == 0)
		return -EBADMSG;
	snprintf(att->fmt, sizeof(att->fmt), "%s", fmt);
	memcpy(att->cdh, cdh, sizeof(att->cdh));
	att->authdata_len = fido_cred_authdata_len(c);
	att->sig_len = fido_cred_sig_len(c);
	att->x5c_len = fido_cred_x5c_len(c);
	att->authdata = dup_bytes(fido_cred_authdata_ptr(c), att->authdata_len);
	att->sig = dup_bytes(fido_cred_sig_ptr(c), att->sig_len);
	att->x5c = dup_bytes(fido_cred_x5c_ptr(c), att->x5c_len);
	if (!att->authdata || (att->sig_len && !att->sig) || (att->x5c_len && !att->x5c)) {
		mg_fido2_attestation_free(att);
		return -ENOMEM;
	}
	return 0;
}

int mg_fido2_make_cred(struct mg_fido2_devs *d, size_t i, const char *rp_id, const char *user,
                       const struct mg_fido2_credfile *existing, const char *pin, bool uv,
                       struct mg_fido2_cred *out, const char **fido_err)
{
	return mg_fido2_make_cred_attested(d, i, rp_id, user, existing, pin, uv, out, NULL,
	                                   fido_err);
}

int mg_fido2_make_cred_attested(struct mg_fido2_devs *d, size_t i, const char *rp_id,
                                const char *user, const struct mg_fido2_credfile *existing,
                                const char *pin, bool uv, struct mg_fido2_cred *out,
                                struct mg_fido2_attestation *att, const char **fido_err)
{
	fido_dev_t *dev = mg_fido2_devs_dev(d, i);
	fido_cred_t *c = fido_cred_new();
	unsigned char cdh[32], uid[32];
	int r = -EIO, rc = FIDO_OK;
	if (!dev || !c) {
		r = c ? -EINVAL : -ENOMEM;
		goto out;
	}
	if (getrandom(cdh, sizeof(cdh), 0) != (ssize_t)sizeof(cdh) ||
	    getrandom(uid, sizeof(uid), 0) != (ssize_t)sizeof(uid))
		goto out;
	if ((rc = fido_cred_set_type(c, COSE_ES256)) != FIDO_OK ||
	    (rc = fido_cred_set_clientdata_hash(c, cdh, sizeof(cdh))) != FIDO_OK ||
	    (rc = fido_cred_set_rp(c, rp_id, "mynaguard")) != FIDO_OK ||
	    (rc = fido_cred_set_user(c, uid, sizeof(uid), user, user, NULL)) != FIDO_OK ||
	    (rc = fido_cred_set_rk(c, FIDO_OPT_OMIT)) != FIDO_OK ||
	    (rc = fido_cred_set_uv(c, uv && fido_dev_has_uv(dev) && !(pin && pin[0])
	                                  ? FIDO_OPT_TRUE
	                                  : FIDO_OPT_OMIT)) != FIDO_OK)
		goto out;
	for (size_t k = 0; existing && k < existing->n; k++)
		if ((rc = fido_cred_exclude(c, existing->creds[k].id, existing->creds[k].id_len)) !=
		    FIDO_OK)
			goto out;
	rc = fido_dev_make_cred(dev, c, pin && pin[0] ? pin : NULL);
	if (rc != FIDO_OK) {
		r = map_err(rc);
		goto out;
	}
	/* Attestation: full (x5c) when the key sends a certificate, else self attestation. */
	rc = fido_cred_x5c_ptr(c) ? fido_cred_verify(c) : fido_cred_verify_self(c);
	if (rc != FIDO_OK) {
		r = -EBADMSG;
		goto out;
	}
	size_t idl = fido_cred_id_len(c), pkl = fido_cred_pubkey_len(c);
	if (idl == 0 || idl > sizeof(out->id) || pkl == 0 || pkl > sizeof(out->pk) ||
	    !(fido_cred_flags(c) & 0x01)) {
		r = -EBADMSG;
		goto out;
	}
	memcpy(out->id, fido_cred_id_ptr(c), idl);
	out->id_len = idl;
	memcpy(out->pk, fido_cred_pubkey_ptr(c), pkl);
	out->pk_len = pkl;
	out->cose_alg = fido_cred_type(c);
	unsigned char aaguid[16] = {0};
	if (fido_cred_aaguid_len(c) == sizeof(aaguid))
		memcpy(aaguid, fido_cred_aaguid_ptr(c), sizeof(aaguid));
	static const char hexd[] = "0123456789abcdef";
	for (size_t k = 0; k < sizeof(aaguid); k++) {
		out->aaguid[2 * k] = hexd[aaguid[k] >> 4];
		out->aaguid[2 * k + 1] = hexd[aaguid[k] & 15];
	}
	out->aaguid[32] = '\0';
	r = att ? copy_attestation(c, cdh, att) : 0;
out:
	if (fido_err)
		*fido_err = fido_strerr(rc);
	fido_cred_free(&c);
	return r;
}
