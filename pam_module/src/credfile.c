/* Credential files: strict JSON parsers and canonical writers. */
#include "credfile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <liboath/oath.h>

#include "encoding.h"
#include "mg/time.h"
#include "mg/utf8.h"

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
}

/* Records the message and yields -EINVAL. A macro, not a function, so that the optimiser sees
 * the negative result at every call site: a function with variable arguments is never inlined,
 * and at -O3 GCC then assumes "r = fail(...) < 0" might not hold and warns that the outputs of
 * the getters below "may be used uninitialized". */
#define fail(err, errlen, ...) (set_err((err), (errlen), __VA_ARGS__), -EINVAL)

/* Every key of obj must be in allowed (NULL-terminated). Returns the offending key or NULL. */
static const char *unknown_key(json_t *obj, const char *const *allowed)
{
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v)
	{
		(void)v;
		bool ok = false;
		for (size_t i = 0; allowed[i]; i++)
			ok = ok || strcmp(key, allowed[i]) == 0;
		if (!ok)
			return key;
	}
	return NULL;
}

/* Wipes a string held by jansson before it is freed (it may be a secret). */
static void wipe_json_string(json_t *s)
{
	if (json_is_string(s))
		explicit_bzero((void *)(uintptr_t)json_string_value(s), json_string_length(s));
}

bool mg_cred_label_valid(const char *label)
{
	size_t n = label ? strlen(label) : 0;
	if (n == 0 || n > MG_CRED_LABEL_MAX || !mg_utf8_valid(label, n))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)label[i] < 0x20 || label[i] == 0x7f)
			return false;
	return true;
}

static int get_string(json_t *obj, const char *key, const char **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return fail(err, errlen, "%s: missing", key);
	if (!json_is_string(v))
		return fail(err, errlen, "%s: expected a string", key);
	*out = json_string_value(v);
	return 0;
}

static int get_int(json_t *obj, const char *key, long long min, long long max, long long *out,
                   char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	if (!v)
		return fail(err, errlen, "%s: missing", key);
	if (!json_is_integer(v))
		return fail(err, errlen, "%s: expected an integer", key);
	long long x = json_integer_value(v);
	if (x < min || x > max)
		return fail(err, errlen, "%s: out of range", key);
	*out = x;
	return 0;
}

static int check_header(json_t *root, const char *user, char *err, size_t errlen)
{
	long long version;
	const char *u;
	int r = get_int(root, "version", 1, 1, &version, err, errlen);
	if (r == 0)
		r = get_string(root, "user", &u, err, errlen);
	if (r == 0 && strcmp(u, user) != 0)
		r = fail(err, errlen, "user: the file belongs to another user");
	return r;
}

static int copy_created(json_t *obj, char out[MG_TIME_TEXT_MAX], char *err, size_t errlen)
{
	const char *s;
	int64_t us;
	int r = get_string(obj, "created", &s, err, errlen);
	if (r < 0)
		return r;
	if (strlen(s) >= MG_TIME_TEXT_MAX || mg_time_parse(s, &us) < 0)
		return fail(err, errlen, "created: not an RFC 3339 time");
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

static json_t *load(const char *buf, size_t len, char *err, size_t errlen, int *r)
{
	if (len > MG_CREDFILE_MAX_SIZE) {
		*r = -EFBIG;
		set_err(err, errlen, "file larger than %u bytes", MG_CREDFILE_MAX_SIZE);
		return NULL;
	}
	json_error_t jerr;
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		*r = fail(err, errlen, "invalid JSON at line %d: %s", jerr.line, jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		*r = fail(err, errlen, "top level: expected an object");
		return NULL;
	}
	*r = 0;
	return root;
}

/* ---- FIDO2 ---- */

struct mg_fido2_credfile *mg_fido2_credfile_new(const char *user)
{
	if (!mg_pam_user_valid(user))
		return NULL;
	struct mg_fido2_credfile *f = calloc(1, sizeof(*f));
	if (f)
		snprintf(f->user, sizeof(f->user), "%s", user);
	return f;
}

void mg_fido2_credfile_free(struct mg_fido2_credfile **f)
{
	if (!f || !*f)
		return;
	free(*f);
	*f = NULL;
}

static bool cose_ok(long long alg)
{
	return alg == MG_COSE_ES256 || alg == MG_COSE_EDDSA || alg == MG_COSE_RS256;
}

static int parse_fido2_cred(json_t *o, struct mg_fido2_cred *c, char *err, size_t errlen)
{
	static const char *const keys[] = {"label",  "id", "public_key", "cose_alg",
	                                   "aaguid", "uv", "created",    NULL};
	const char *label, *id, *pk, *aaguid, *bad;
	long long alg;
	unsigned char tmp[16];
	int r;
	if (!json_is_object(o))
		return fail(err, errlen, "expected an object");
	if ((bad = unknown_key(o, keys)))
		return fail(err, errlen, "%.64s: unknown key", bad);
	if ((r = get_string(o, "label", &label, err, errlen)) < 0)
		return r;
	if (!mg_cred_label_valid(label))
		return fail(err, errlen, "label: 1-64 bytes of UTF-8, no control characters");
	snprintf(c->label, sizeof(c->label), "%s", label);
	if ((r = get_string(o, "id", &id, err, errlen)) < 0)
		return r;
	if (mg_b64_decode(id, c->id, sizeof(c->id), &c->id_len) < 0 || c->id_len == 0)
		return fail(err, errlen, "id: expected base64 of 1-%d bytes", MG_FIDO2_MAX_ID);
	if ((r = get_string(o, "public_key", &pk, err, errlen)) < 0)
		return r;
	if (mg_b64_decode(pk, c->pk, sizeof(c->pk), &c->pk_len) < 0 || c->pk_len == 0)
		return fail(err, errlen, "public_key: expected base64 of 1-%d bytes",
		            MG_FIDO2_MAX_PK);
	if ((r = get_int(o, "cose_alg", -65536, 65535, &alg, err, errlen)) < 0)
		return r;
	if (!cose_ok(alg))
		return fail(err, errlen,
		            "cose_alg: expected -7 (ES256), -8 (EdDSA) or -257 (RS256)");
	c->cose_alg = (int)alg;
	if ((r = get_string(o, "aaguid", &aaguid, err, errlen)) < 0)
		return r;
	if (mg_hex_decode(aaguid, tmp, sizeof(tmp)) < 0)
		return fail(err, errlen, "aaguid: expected 32 hex digits");
	mg_hex_encode(tmp, sizeof(tmp), c->aaguid);
	json_t *uv = json_object_get(o, "uv");
	if (!json_is_boolean(uv))
		return fail(err, errlen, "uv: expected true or false");
	c->uv = json_is_true(uv);
	return copy_created(o, c->created, err, errlen);
}

int mg_fido2_credfile_parse(const char *buf, size_t len, const char *user,
                            struct mg_fido2_credfile **out, char *err, size_t errlen)
{
	static const char *const keys[] = {"version", "user", "credentials", NULL};
	struct mg_fido2_credfile *f = NULL;
	const char *bad;
	int r;
	json_t *root = load(buf, len, err, errlen, &r);
	if (!root)
		return r;
	f = mg_fido2_credfile_new(user);
	if (!f) {
		r = mg_pam_user_valid(user) ? -ENOMEM : fail(err, errlen, "invalid user name");
		goto out;
	}
	if ((bad = unknown_key(root, keys))) {
		r = fail(err, errlen, "%.64s: unknown key", bad);
		goto out;
	}
	if ((r = check_header(root, user, err, errlen)) < 0)
		goto out;
	json_t *arr = json_object_get(root, "credentials");
	if (!json_is_array(arr)) {
		r = fail(err, errlen, "credentials: expected an array");
		goto out;
	}
	if (json_array_size(arr) > MG_FIDO2_MAX_CREDS) {
		r = fail(err, errlen, "credentials: more than %d", MG_FIDO2_MAX_CREDS);
		goto out;
	}
	for (size_t i = 0; i < json_array_size(arr); i++) {
		struct mg_fido2_cred c;
		char sub[256] = "";
		memset(&c, 0, sizeof(c));
		r = parse_fido2_cred(json_array_get(arr, i), &c, sub, sizeof(sub));
		if (r == 0)
			r = mg_fido2_credfile_add(f, &c);
		if (r == -EEXIST)
			r = fail(sub, sizeof(sub), "duplicate label or credential id");
		if (r < 0) {
			set_err(err, errlen, "credentials[%zu].%s", i, sub);
			goto out;
		}
	}
	*out = f;
	f = NULL;
out:
	mg_fido2_credfile_free(&f);
	json_decref(root);
	return r;
}

int mg_fido2_credfile_add(struct mg_fido2_credfile *f, const struct mg_fido2_cred *c)
{
	for (size_t i = 0; i < f->n; i++) {
		const struct mg_fido2_cred *o = &f->creds[i];
		if (strcmp(o->label, c->label) == 0 ||
		    (o->id_len == c->id_len && memcmp(o->id, c->id, c->id_len) == 0))
			return -EEXIST;
	}
	if (f->n >= MG_FIDO2_MAX_CREDS)
		return -ENOSPC;
	f->creds[f->n++] = *c;
	return 0;
}

int mg_fido2_credfile_remove(struct mg_fido2_credfile *f, const char *label)
{
	for (size_t i = 0; i < f->n; i++) {
		if (strcmp(f->creds[i].label, label) == 0) {
			memmove(&f->creds[i], &f->creds[i + 1],
			        (f->n - i - 1) * sizeof(f->creds[0]));
			f->n--;
			return 0;
		}
	}
	return -ENOENT;
}

static int set_b64(json_t *o, const char *key, const unsigned char *p, size_t n)
{
	char *s = NULL;
	int r = mg_b64_encode(p, n, &s);
	if (r < 0)
		return r;
	r = json_object_set_new(o, key, json_string(s)) == 0 ? 0 : -ENOMEM;
	free(s);
	return r;
}

static int dump(json_t *root, char **out, size_t *len)
{
	char *s = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
	if (!s)
		return -ENOMEM;
	size_t n = strlen(s);
	char *t = realloc(s, n + 2);
	if (!t) {
		explicit_bzero(s, n);
		free(s);
		return -ENOMEM;
	}
	t[n] = '\n';
	t[n + 1] = '\0';
	*out = t;
	if (len)
		*len = n + 1;
	return 0;
}

int mg_fido2_credfile_format(const struct mg_fido2_credfile *f, char **out, size_t *len)
{
	int r = -ENOMEM;
	json_t *root = json_object(), *arr = json_array();
	if (!root || !arr)
		goto out;
	if (json_object_set_new(root, "version", json_integer(1)) < 0 ||
	    json_object_set_new(root, "user", json_string(f->user)) < 0 ||
	    json_object_set(root, "credentials", arr) < 0)
		goto out;
	for (size_t i = 0; i < f->n; i++) {
		const struct mg_fido2_cred *c = &f->creds[i];
		json_t *o = json_object();
		if (!o || json_array_append_new(arr, o) < 0)
			goto out;
		if (json_object_set_new(o, "label", json_string(c->label)) < 0 ||
		    json_object_set_new(o, "cose_alg", json_integer(c->cose_alg)) < 0 ||
		    json_object_set_new(o, "aaguid", json_string(c->aaguid)) < 0 ||
		    json_object_set_new(o, "uv", json_boolean(c->uv)) < 0 ||
		    json_object_set_new(o, "created", json_string(c->created)) < 0)
			goto out;
		if ((r = set_b64(o, "id", c->id, c->id_len)) < 0 ||
		    (r = set_b64(o, "public_key", c->pk, c->pk_len)) < 0)
			goto out;
		r = -ENOMEM;
	}
	r = dump(root, out, len);
out:
	json_decref(arr);
	json_decref(root);
	return r;
}

/* ---- TOTP ---- */

static const char *const alg_names[] = {
    [MG_TOTP_SHA1] = "sha1", [MG_TOTP_SHA256] = "sha256", [MG_TOTP_SHA512] = "sha512"};

const char *mg_totp_alg_name(enum mg_totp_alg a)
{
	return (size_t)a < 3 ? alg_names[a] : "?";
}

int mg_totp_alg_from_name(const char *s, enum mg_totp_alg *out)
{
	for (int i = 0; i < 3; i++) {
		if (strcmp(s, alg_names[i]) == 0) {
			*out = (enum mg_totp_alg)i;
			return 0;
		}
	}
	return -EINVAL;
}

void mg_totp_cred_free(struct mg_totp_cred **c)
{
	if (!c || !*c)
		return;
	explicit_bzero(*c, sizeof(**c));
	free(*c);
	*c = NULL;
}

int mg_base32_encode(const unsigned char *in, size_t len, char **out)
{
	char *s = NULL;
	size_t n = 0;
	if (oath_base32_encode((const char *)in, len, &s, &n) != OATH_OK)
		return -ENOMEM;
	while (n > 0 && s[n - 1] == '=')
		s[--n] = '\0';
	*out = s;
	return 0;
}

int mg_base32_decode(const char *in, unsigned char *out, size_t cap, size_t *outlen)
{
	char norm[256];
	size_t n = 0;
	int r = -EINVAL;
	for (const char *p = in; *p; p++) {
		char c = *p;
		if (c == ' ' || c == '=' || c == '-')
			continue;
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (!((c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7')) || n + 1 >= sizeof(norm))
			goto out;
		norm[n++] = c;
	}
	norm[n] = '\0';
	/* liboath wants padding to a multiple of 8 characters. */
	while (n % 8 != 0 && n + 1 < sizeof(norm))
		norm[n++] = '=';
	norm[n] = '\0';
	char *bin = NULL;
	size_t blen = 0;
	if (n == 0 || oath_base32_decode(norm, n, &bin, &blen) != OATH_OK)
		goto out;
	if (blen > cap) {
		r = -EFBIG;
	} else {
		memcpy(out, bin, blen);
		*outlen = blen;
		r = 0;
	}
	explicit_bzero(bin, blen);
	free(bin);
out:
	explicit_bzero(norm, sizeof(norm));
	return r;
}

int mg_totp_cred_parse(const char *buf, size_t len, const char *user, struct mg_totp_cred **out,
                       char *err, size_t errlen)
{
	static const char *const keys[] = {"version", "user",   "label",   "secret", "algorithm",
	                                   "digits",  "period", "created", NULL};
	struct mg_totp_cred *c = NULL;
	const char *bad, *label, *secret, *alg;
	long long digits, period;
	int r;
	json_t *root = load(buf, len, err, errlen, &r);
	if (!root)
		return r;
	if (!mg_pam_user_valid(user)) {
		r = fail(err, errlen, "invalid user name");
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		r = -ENOMEM;
		goto out;
	}
	snprintf(c->user, sizeof(c->user), "%s", user);
	if ((bad = unknown_key(root, keys))) {
		r = fail(err, errlen, "%.64s: unknown key", bad);
		goto out;
	}
	if ((r = check_header(root, user, err, errlen)) < 0 ||
	    (r = get_string(root, "label", &label, err, errlen)) < 0)
		goto out;
	if (!mg_cred_label_valid(label)) {
		r = fail(err, errlen, "label: 1-64 bytes of UTF-8, no control characters");
		goto out;
	}
	snprintf(c->label, sizeof(c->label), "%s", label);
	if ((r = get_string(root, "secret", &secret, err, errlen)) < 0)
		goto out;
	r = mg_base32_decode(secret, c->secret, sizeof(c->secret), &c->secret_len);
	if (r < 0 || c->secret_len < MG_TOTP_SECRET_MIN) {
		r = fail(err, errlen,
		         "secret: expected base32 of %d-%d bytes (at least 128 bits, RFC 4226)",
		         MG_TOTP_SECRET_MIN, MG_TOTP_SECRET_MAX);
		goto out;
	}
	if ((r = get_string(root, "algorithm", &alg, err, errlen)) < 0)
		goto out;
	if (mg_totp_alg_from_name(alg, &c->algorithm) < 0) {
		r = fail(err, errlen, "algorithm: expected sha1, sha256 or sha512");
		goto out;
	}
	if ((r = get_int(root, "digits", 6, 8, &digits, err, errlen)) < 0)
		goto out;
	if (digits == 7) {
		r = fail(err, errlen, "digits: expected 6 or 8");
		goto out;
	}
	c->digits = (unsigned)digits;
	if ((r = get_int(root, "period", 15, 300, &period, err, errlen)) < 0)
		goto out;
	c->period = (unsigned)period;
	if ((r = copy_created(root, c->created, err, errlen)) < 0)
		goto out;
	*out = c;
	c = NULL;
out:
	mg_totp_cred_free(&c);
	wipe_json_string(json_object_get(root, "secret"));
	json_decref(root);
	return r;
}

int mg_totp_cred_format(const struct mg_totp_cred *c, char **out, size_t *len)
{
	char *b32 = NULL;
	json_t *root = NULL;
	int r = mg_base32_encode(c->secret, c->secret_len, &b32);
	if (r < 0)
		return r;
	r = -ENOMEM;
	root = json_object();
	if (!root || json_object_set_new(root, "version", json_integer(1)) < 0 ||
	    json_object_set_new(root, "user", json_string(c->user)) < 0 ||
	    json_object_set_new(root, "label", json_string(c->label)) < 0 ||
	    json_object_set_new(root, "secret", json_string(b32)) < 0 ||
	    json_object_set_new(root, "algorithm", json_string(mg_totp_alg_name(c->algorithm))) <
	        0 ||
	    json_object_set_new(root, "digits", json_integer(c->digits)) < 0 ||
	    json_object_set_new(root, "period", json_integer(c->period)) < 0 ||
	    json_object_set_new(root, "created", json_string(c->created)) < 0)
		goto out;
	r = dump(root, out, len);
out:
	wipe_json_string(json_object_get(root, "secret"));
	json_decref(root);
	explicit_bzero(b32, strlen(b32));
	free(b32);
	return r;
}
