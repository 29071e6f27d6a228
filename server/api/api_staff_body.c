/* The body of POST /v1/staff/registrations (api_staff_body.h). Pure. */
#include "api_staff_body.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "json_body.h"
#include "mg/user_name.h"
#include "mg/utf8.h"

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long mg_b64_decode_strict(const char *s, size_t n, unsigned char *out, size_t max)
{
	size_t pad = 0, o = 0;
	if (!s || n == 0 || n % 4 != 0 || n / 4 > (max + 2) / 3 + 1)
		return -EINVAL;
	if (s[n - 1] == '=')
		pad = s[n - 2] == '=' ? 2 : 1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4];
		bool last = i + 4 == n;
		for (size_t k = 0; k < 4; k++) {
			bool is_pad = last && k >= 4 - pad;
			v[k] = is_pad ? 0 : b64val(s[i + k]);
			if (v[k] < 0 || (is_pad && s[i + k] != '='))
				return -EINVAL;
		}
		unsigned long w = (unsigned long)v[0] << 18 | (unsigned long)v[1] << 12 |
		                  (unsigned long)v[2] << 6 | (unsigned long)v[3];
		size_t take = last ? 3 - pad : 3;
		if ((last && pad == 1 && (v[2] & 0x3)) || (last && pad == 2 && (v[1] & 0xf)))
			return -EINVAL; /* not canonical */
		if (o + take > max)
			return -EINVAL;
		for (size_t k = 0; k < take; k++)
			out[o++] = (unsigned char)(w >> (16 - 8 * k));
	}
	return o == 0 ? -EINVAL : (long)o;
}

/* Base64 member key of obj into out (1..max bytes); the text too when text != NULL. */
static int get_b64(json_t *obj, const char *path, const char *key, unsigned char *out, size_t max,
                   size_t *len, char *text, size_t text_size, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	if (!v) {
		mg_body_err(err, errlen, "%s%s: missing", path, key);
		return -EINVAL;
	}
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	long d = s ? mg_b64_decode_strict(s, n, out, max) : -EINVAL;
	if (d < 0 || (text && n >= text_size)) {
		mg_body_err(err, errlen, "%s%s: expected standard base64 of 1 to %zu bytes", path,
		            key, max);
		return -EINVAL;
	}
	if (text)
		memcpy(text, s, n + 1);
	*len = (size_t)d;
	return 0;
}

static bool no_controls(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static int parse_attestation(json_t *a, struct mg_staff_reg *r, char *err, size_t errlen)
{
	static const char *const keys[] = {"fmt", "authdata", "clientdata_hash",
	                                   "sig", "x5c",      NULL};
	char fmt[16];
	size_t n = 0;
	if (!json_is_object(a)) {
		mg_body_err(err, errlen, "credential.attestation: expected an object");
		return -EINVAL;
	}
	if (mg_body_keys(a, keys, err, errlen) < 0 ||
	    mg_body_str(a, "fmt", 0, 1, fmt, sizeof(fmt), err, errlen) < 0)
		return -EINVAL;
	if (strcmp(fmt, "packed") != 0 && strcmp(fmt, "fido-u2f") != 0 &&
	    strcmp(fmt, "none") != 0) {
		mg_body_err(
		    err, errlen,
		    "credential.attestation.fmt: expected \"packed\", \"fido-u2f\" or \"none\"");
		return -EINVAL;
	}
	memcpy(r->key.attestation_fmt, fmt, sizeof(fmt));
	if (get_b64(a, "credential.attestation.", "authdata", r->authdata, sizeof(r->authdata),
	            &r->authdata_len, NULL, 0, err, errlen) < 0 ||
	    get_b64(a, "credential.attestation.", "clientdata_hash", r->cdh, sizeof(r->cdh), &n,
	            NULL, 0, err, errlen) < 0)
		return -EINVAL;
	if (n != sizeof(r->cdh)) {
		mg_body_err(err, errlen,
		            "credential.attestation.clientdata_hash: expected 32 bytes");
		return -EINVAL;
	}
	bool none = strcmp(fmt, "none") == 0;
	if (none && (json_object_get(a, "sig") || json_object_get(a, "x5c"))) {
		mg_body_err(err, errlen, "credential.attestation: fmt \"none\" has no sig or x5c");
		return -EINVAL;
	}
	if (!none && get_b64(a, "credential.attestation.", "sig", r->sig, sizeof(r->sig),
	                     &r->sig_len, NULL, 0, err, errlen) < 0)
		return -EINVAL;
	if (json_object_get(a, "x5c") &&
	    get_b64(a, "credential.attestation.", "x5c", r->x5c, sizeof(r->x5c), &r->x5c_len, NULL,
	            0, err, errlen) < 0)
		return -EINVAL;
	return 0;
}

static int parse_credential(json_t *c, struct mg_staff_reg *r, char *err, size_t errlen)
{
	static const char *const keys[] = {"id", "public_key", "cose_alg",    "rp_id",
	                                   "uv", "aaguid",     "attestation", NULL};
	struct mg_store_staff_key *k = &r->key;
	if (!json_is_object(c)) {
		mg_body_err(err, errlen, "credential: expected an object");
		return -EINVAL;
	}
	if (mg_body_keys(c, keys, err, errlen) < 0 ||
	    get_b64(c, "credential.", "id", r->cred_id, sizeof(r->cred_id), &r->cred_id_len,
	            k->credential_id, sizeof(k->credential_id), err, errlen) < 0 ||
	    get_b64(c, "credential.", "public_key", r->pk, sizeof(r->pk), &r->pk_len, k->public_key,
	            sizeof(k->public_key), err, errlen) < 0)
		return -EINVAL;
	json_t *alg = json_object_get(c, "cose_alg");
	json_int_t a = json_is_integer(alg) ? json_integer_value(alg) : 0;
	if (a != -7 && a != -8 && a != -257) {
		mg_body_err(err, errlen, "credential.cose_alg: expected -7, -8 or -257");
		return -EINVAL;
	}
	k->cose_alg = (int)a;
	if (mg_body_str(c, "rp_id", 0, 1, k->rp_id, sizeof(k->rp_id), err, errlen) < 0)
		return -EINVAL;
	for (const char *p = k->rp_id; *p; p++)
		if (*p < 0x21 || *p > 0x7e) {
			mg_body_err(err, errlen, "credential.rp_id: expected printable ASCII");
			return -EINVAL;
		}
	json_t *uv = json_object_get(c, "uv");
	if (!json_is_boolean(uv)) {
		mg_body_err(err, errlen, "credential.uv: expected true or false");
		return -EINVAL;
	}
	k->uv = json_is_true(uv);
	if (mg_body_str(c, "aaguid", 0, 32, k->aaguid, sizeof(k->aaguid), err, errlen) < 0 ||
	    strspn(k->aaguid, "0123456789abcdef") != 32) {
		mg_body_err(err, errlen, "credential.aaguid: expected 32 lower-case hex digits");
		return -EINVAL;
	}
	if (!json_object_get(c, "attestation")) {
		mg_body_err(err, errlen, "credential.attestation: missing");
		return -EINVAL;
	}
	return parse_attestation(json_object_get(c, "attestation"), r, err, errlen);
}

int mg_api_parse_staff_reg(const char *buf, size_t len, struct mg_staff_reg *out, char *err,
                           size_t errlen)
{
	static const char *const keys[] = {"registration_id", "user", "label", "credential", NULL};
	json_t *root = mg_body_object(buf, len, false, keys, err, errlen);
	struct mg_store_staff_key *k = &out->key;
	int ret = -EINVAL;
	if (!root)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (mg_body_str(root, "registration_id", 0, 1, k->registration_id,
	                sizeof(k->registration_id), err, errlen) < 0)
		goto fail;
	if (strspn(k->registration_id,
	           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") !=
	    strlen(k->registration_id)) {
		mg_body_err(err, errlen, "registration_id: use only A-Z a-z 0-9 . _ -");
		goto fail;
	}
	if (mg_body_str(root, "user", 0, 1, k->login, sizeof(k->login), err, errlen) < 0)
		goto fail;
	if (!mg_user_name_valid_str(k->login)) {
		mg_body_err(
		    err, errlen,
		    "user: not a valid login name (A-Z a-z 0-9 @ . - _, not starting with - or "
		    ".)");
		goto fail;
	}
	if (mg_body_str(root, "label", 0, 1, k->label, sizeof(k->label), err, errlen) < 0)
		goto fail;
	if (!no_controls(k->label)) {
		mg_body_err(err, errlen, "label: control characters are not allowed");
		goto fail;
	}
	if (!json_object_get(root, "credential")) {
		mg_body_err(err, errlen, "credential: missing");
		goto fail;
	}
	ret = parse_credential(json_object_get(root, "credential"), out, err, errlen);
fail:
	json_decref(root);
	return ret;
}
