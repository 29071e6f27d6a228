/* Ed25519 policy signatures with OpenSSL EVP (policy_sign.h). */
#include "policy_sign.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "mg/safe_open.h"

#define RAW_PUB 32
#define RAW_SIG 64

struct mg_policy_key {
	EVP_PKEY *pkey;
};

/* Canonical base64 of exactly n raw bytes into raw; -EINVAL for anything else. */
static int b64_decode_exact(const char *s, unsigned char *raw, size_t n)
{
	size_t want = 4 * ((n + 2) / 3);
	unsigned char buf[4 * ((RAW_SIG + 2) / 3)];
	char again[4 * ((RAW_SIG + 2) / 3) + 1];

	if (!s || n > RAW_SIG || strnlen(s, want + 1) != want)
		return -EINVAL;
	if (EVP_DecodeBlock(buf, (const unsigned char *)s, (int)want) != (int)(want / 4 * 3))
		return -EINVAL;
	/* Re-encoding must give the same text: rejects bad padding and non-zero pad bits. */
	EVP_EncodeBlock((unsigned char *)again, buf, (int)n);
	if (memcmp(again, s, want) != 0)
		return -EINVAL;
	memcpy(raw, buf, n);
	return 0;
}

static struct mg_policy_key *key_wrap(EVP_PKEY *pkey)
{
	struct mg_policy_key *k = calloc(1, sizeof(*k));
	if (k)
		k->pkey = pkey;
	return k;
}

void mg_policy_key_free(struct mg_policy_key **k)
{
	if (!k || !*k)
		return;
	EVP_PKEY_free((*k)->pkey);
	free(*k);
	*k = NULL;
}

int mg_policy_key_generate(const char *path, struct mg_policy_key **out)
{
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	struct mg_policy_key *k = NULL;
	struct stat st;
	char *pem = NULL;
	long pem_len;
	int r;

	if (!path || !*path)
		return -EINVAL;
	if (lstat(path, &st) == 0)
		return -EEXIST;
	if (errno != ENOENT)
		return -errno;
	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	bio = BIO_new(BIO_s_secmem()); /* cleared when freed */
	if (!pkey || !bio) {
		r = -ENOMEM;
		goto fail;
	}
	if (PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1) {
		r = -EIO;
		goto fail;
	}
	pem_len = BIO_get_mem_data(bio, &pem);
	if (pem_len <= 0) {
		r = -EIO;
		goto fail;
	}
	r = mg_write_file_atomic(path, pem, (size_t)pem_len, 0600);
	if (r < 0)
		goto fail;
	if (out) {
		k = key_wrap(pkey);
		if (!k) {
			r = -ENOMEM;
			goto fail;
		}
		pkey = NULL;
		*out = k;
	}
	r = 0;
fail:
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	return r;
}

int mg_policy_key_from_pem(const char *pem, size_t len, struct mg_policy_key **out)
{
	BIO *bio = NULL;
	EVP_PKEY *pkey = NULL;
	struct mg_policy_key *k = NULL;
	int r;

	if (!pem || !out || len == 0 || len > MG_POLICY_KEY_MAX_PEM)
		return -EINVAL;
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return -ENOMEM;
	pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (!pkey || !EVP_PKEY_is_a(pkey, "ED25519")) {
		r = -EINVAL;
		goto fail;
	}
	k = key_wrap(pkey);
	if (!k) {
		r = -ENOMEM;
		goto fail;
	}
	pkey = NULL;
	*out = k;
	r = 0;
fail:
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	return r;
}

int mg_policy_key_load(const char *path, struct mg_policy_key **out)
{
	const struct mg_file_rules rules = {
	    .owner = geteuid(),
	    .secret = true,
	    .max_size = MG_POLICY_KEY_MAX_PEM,
	};
	char *pem = NULL;
	size_t len = 0;
	int r;

	if (!path || !out)
		return -EINVAL;
	r = mg_safe_read_file(path, &rules, &pem, &len, NULL);
	if (r < 0)
		return r;
	r = mg_policy_key_from_pem(pem, len, out);
	OPENSSL_cleanse(pem, len);
	free(pem);
	return r;
}

int mg_policy_key_public_b64(const struct mg_policy_key *k, char out[MG_POLICY_PUBKEY_B64_SIZE])
{
	unsigned char raw[RAW_PUB];
	size_t n = sizeof(raw);

	if (!k || !out)
		return -EINVAL;
	if (EVP_PKEY_get_raw_public_key(k->pkey, raw, &n) != 1 || n != RAW_PUB)
		return -EIO;
	EVP_EncodeBlock((unsigned char *)out, raw, RAW_PUB);
	return 0;
}

int mg_policy_sign(const struct mg_policy_key *k, const void *data, size_t len,
                   char out[MG_POLICY_SIG_B64_SIZE])
{
	EVP_MD_CTX *ctx = NULL;
	unsigned char sig[RAW_SIG];
	size_t n = sizeof(sig);
	int r;

	if (!k || (!data && len) || !out)
		return -EINVAL;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) != 1 ||
	    EVP_DigestSign(ctx, sig, &n, data ? data : "", len) != 1 || n != RAW_SIG) {
		r = -EIO;
		goto fail;
	}
	EVP_EncodeBlock((unsigned char *)out, sig, RAW_SIG);
	r = 0;
fail:
	EVP_MD_CTX_free(ctx);
	return r;
}

int mg_policy_verify(const char *pubkey_b64, const void *data, size_t len, const char *sig_b64)
{
	unsigned char pub[RAW_PUB], sig[RAW_SIG];
	EVP_PKEY *pkey = NULL;
	EVP_MD_CTX *ctx = NULL;
	int r;

	if (!data && len)
		return -EINVAL;
	if (b64_decode_exact(pubkey_b64, pub, RAW_PUB) < 0 ||
	    b64_decode_exact(sig_b64, sig, RAW_SIG) < 0)
		return -EINVAL;
	pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, RAW_PUB);
	if (!pkey)
		return -EINVAL; /* not a point on the curve */
	ctx = EVP_MD_CTX_new();
	if (!ctx) {
		r = -ENOMEM;
		goto fail;
	}
	if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) != 1) {
		r = -EIO;
		goto fail;
	}
	r = EVP_DigestVerify(ctx, sig, RAW_SIG, data ? data : "", len) == 1 ? 0 : -EBADMSG;
fail:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return r;
}

int mg_policy_verify_bundle(const char *pubkey_b64, const char *json, size_t len,
                            const char *sig_b64, uint64_t current_version, int64_t now_us,
                            int64_t host_id, struct mg_policy_bundle **out, char *err,
                            size_t errlen)
{
	return mg_policy_accept(mg_policy_verify, pubkey_b64, json, len, sig_b64, current_version,
	                        now_us, host_id, out, err, errlen);
}
