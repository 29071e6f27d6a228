/*
 * Credential files: pure parsers and writers (bytes in, struct out; no I/O). Formats in
 * docs/PAM.md.
 *
 *   <credential_dir>/fido2/<user>.json   public FIDO2 data, 0644
 *   {"version":1,"user":"tanaka","credentials":[{"label":"key-1","id":"<base64>",
 *     "public_key":"<base64>","cose_alg":-7,"aaguid":"<32 hex>","uv":true,
 *     "created":"2026-11-25T21:17:59.123456Z"}]}
 *
 *   <credential_dir>/totp/<user>.json    TOTP secret, 0600
 *   {"version":1,"user":"tanaka","label":"totp","secret":"<base32>","algorithm":"sha1",
 *    "digits":6,"period":30,"created":"..."}
 *
 * Parsers are strict: unknown or duplicate keys, wrong types, out-of-range values and a
 * "user" that differs from the expected user are errors.
 */
#ifndef MG_PAM_CREDFILE_H
#define MG_PAM_CREDFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "pam_user.h"

#define MG_CREDFILE_MAX_SIZE (64u * 1024u)
#define MG_FIDO2_MAX_CREDS   16
#define MG_FIDO2_MAX_ID      1024
#define MG_FIDO2_MAX_PK      512
#define MG_CRED_LABEL_MAX    64
/* RFC 4226 section 4 (R6): at least 128 bits; 160 recommended (what enrolment generates). */
#define MG_TOTP_SECRET_MIN 16
#define MG_TOTP_SECRET_MAX 64
#define MG_TIME_TEXT_MAX   32

/* COSE algorithms accepted (RFC 9053): ES256, EdDSA, RS256. */
#define MG_COSE_ES256 (-7)
#define MG_COSE_EDDSA (-8)
#define MG_COSE_RS256 (-257)

struct mg_fido2_cred {
	char label[MG_CRED_LABEL_MAX + 1];
	unsigned char id[MG_FIDO2_MAX_ID];
	size_t id_len;
	unsigned char pk[MG_FIDO2_MAX_PK]; /* libfido2 raw form (es256: x||y) */
	size_t pk_len;
	int cose_alg;
	char aaguid[33]; /* lower-case hex */
	bool uv;         /* user verification always required for this credential */
	char created[MG_TIME_TEXT_MAX];
};

struct mg_fido2_credfile {
	char user[MG_PAM_USER_MAX + 1];
	size_t n;
	struct mg_fido2_cred creds[MG_FIDO2_MAX_CREDS];
};

enum mg_totp_alg { MG_TOTP_SHA1, MG_TOTP_SHA256, MG_TOTP_SHA512 };

struct mg_totp_cred {
	char user[MG_PAM_USER_MAX + 1];
	char label[MG_CRED_LABEL_MAX + 1];
	unsigned char secret[MG_TOTP_SECRET_MAX];
	size_t secret_len;
	enum mg_totp_alg algorithm;
	unsigned digits; /* 6 or 8 */
	unsigned period; /* seconds, 15..300 */
	char created[MG_TIME_TEXT_MAX];
};

/* True when label is 1-64 bytes of UTF-8 without control characters. */
bool mg_cred_label_valid(const char *label);

/* New empty file for user (valid name). NULL on ENOMEM/EINVAL. */
struct mg_fido2_credfile *mg_fido2_credfile_new(const char *user);
void mg_fido2_credfile_free(struct mg_fido2_credfile **f);

/*
 * Parses buf[0..len) (at most MG_CREDFILE_MAX_SIZE) expecting the file of user. 0 or
 * -EINVAL (err filled, always NUL-terminated) / -ENOMEM / -EFBIG. *out only on success.
 */
int mg_fido2_credfile_parse(const char *buf, size_t len, const char *user,
                            struct mg_fido2_credfile **out, char *err, size_t errlen);
/* JSON text of f (*out NUL-terminated, caller frees). 0 or negative errno. */
int mg_fido2_credfile_format(const struct mg_fido2_credfile *f, char **out, size_t *len);
/* Appends a copy of c. -EEXIST for a label or credential id already present, -ENOSPC. */
int mg_fido2_credfile_add(struct mg_fido2_credfile *f, const struct mg_fido2_cred *c);
/* Removes the credential labelled label. 0 or -ENOENT. */
int mg_fido2_credfile_remove(struct mg_fido2_credfile *f, const char *label);

/* Wipes and frees. */
void mg_totp_cred_free(struct mg_totp_cred **c);
int mg_totp_cred_parse(const char *buf, size_t len, const char *user, struct mg_totp_cred **out,
                       char *err, size_t errlen);
/* The caller wipes (explicit_bzero) and frees *out: it holds the secret. */
int mg_totp_cred_format(const struct mg_totp_cred *c, char **out, size_t *len);

const char *mg_totp_alg_name(enum mg_totp_alg a);
int mg_totp_alg_from_name(const char *s, enum mg_totp_alg *out);

/* Base32 (RFC 4648, upper case, no padding) of a secret and back; via liboath. */
int mg_base32_encode(const unsigned char *in, size_t len, char **out);
/* Accepts lower case, spaces and '=' padding (as typed by people). 0, -EINVAL, -EFBIG. */
int mg_base32_decode(const char *in, unsigned char *out, size_t cap, size_t *outlen);

#endif
