/*
 * Cryptography of the soft authenticator, all through OpenSSL libcrypto: credential keys
 * (ES256, Ed25519), attestation/assertion signatures, COSE_Key encoding, and the
 * primitives of PIN/UV auth protocols 1 and 2 (CTAP 2.1 §6.5.6, §6.5.7).
 */
#include "soft_ctap_int.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define COSE_KTY_OKP          1
#define COSE_KTY_EC2          2
#define COSE_CRV_P256         1
#define COSE_CRV_ED25519      6
#define COSE_ECDH_ES_HKDF_256 (-25)

int sc_random(void *buf, size_t len)
{
	if (len > INT32_MAX || RAND_bytes(buf, (int)len) != 1)
		return -1;
	return 0;
}

void sc_sha256(const void *data, size_t len, uint8_t out[32])
{
	SHA256(data, len, out);
}

int sc_key_generate(int alg, EVP_PKEY **key)
{
	EVP_PKEY *k = NULL;
	if (alg == SOFT_CTAP_COSE_ES256)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else if (alg == SOFT_CTAP_COSE_EDDSA)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (k == NULL)
		return -1;
	*key = k;
	return 0;
}

int sc_ka_generate(EVP_PKEY **key)
{
	return sc_key_generate(SOFT_CTAP_COSE_ES256, key);
}

int sc_sign(EVP_PKEY *key, int alg, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
            uint8_t *sig, size_t *siglen)
{
	EVP_MD_CTX *ctx = NULL;
	uint8_t *msg = NULL;
	size_t len = 80;
	int r = -1;

	if (alen > SIZE_MAX - blen || (msg = OPENSSL_malloc(alen + blen + 1)) == NULL)
		goto out;
	memcpy(msg, a, alen);
	memcpy(msg + alen, b, blen);
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(ctx, NULL, alg == SOFT_CTAP_COSE_ES256 ? EVP_sha256() : NULL, NULL,
	                       key) != 1 ||
	    EVP_DigestSign(ctx, sig, &len, msg, alen + blen) != 1)
		goto out;
	*siglen = len;
	r = 0;
out:
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(msg);
	return r;
}

/* The uncompressed P-256 point of key: x and y, 32 bytes each. */
static int ec_point(EVP_PKEY *key, uint8_t x[32], uint8_t y[32])
{
	uint8_t pt[65];
	size_t len = 0;
	if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &len) !=
	        1 ||
	    len != sizeof(pt) || pt[0] != 0x04)
		return -1;
	memcpy(x, pt + 1, 32);
	memcpy(y, pt + 33, 32);
	return 0;
}

/* EC2 COSE_Key {1: 2, 3: alg, -1: 1, -2: x, -3: y} in canonical key order. */
static cbor_item_t *cose_ec2(EVP_PKEY *key, int alg)
{
	uint8_t x[32], y[32];
	cbor_item_t *m = NULL;
	if (ec_point(key, x, y) < 0 || (m = cbor_new_definite_map(5)) == NULL)
		return NULL;
	if (!sc_map_put(m, cbor_build_uint8(1), cbor_build_uint8(COSE_KTY_EC2)) ||
	    !sc_map_put(m, cbor_build_uint8(3), sc_cbor_int_item(alg)) ||
	    !sc_map_put(m, cbor_build_negint8(0), cbor_build_uint8(COSE_CRV_P256)) ||
	    !sc_map_put(m, cbor_build_negint8(1), cbor_build_bytestring(x, sizeof(x))) ||
	    !sc_map_put(m, cbor_build_negint8(2), cbor_build_bytestring(y, sizeof(y))))
		cbor_decref(&m);
	return m;
}

cbor_item_t *sc_cose_public(EVP_PKEY *key, int alg)
{
	if (alg == SOFT_CTAP_COSE_ES256)
		return cose_ec2(key, alg);
	if (alg != SOFT_CTAP_COSE_EDDSA)
		return NULL;

	uint8_t x[32];
	size_t len = sizeof(x);
	cbor_item_t *m = NULL;
	if (EVP_PKEY_get_raw_public_key(key, x, &len) != 1 || len != sizeof(x) ||
	    (m = cbor_new_definite_map(4)) == NULL)
		return NULL;
	/* OKP COSE_Key {1: 1, 3: -8, -1: 6, -2: x} */
	if (!sc_map_put(m, cbor_build_uint8(1), cbor_build_uint8(COSE_KTY_OKP)) ||
	    !sc_map_put(m, cbor_build_uint8(3), sc_cbor_int_item(alg)) ||
	    !sc_map_put(m, cbor_build_negint8(0), cbor_build_uint8(COSE_CRV_ED25519)) ||
	    !sc_map_put(m, cbor_build_negint8(1), cbor_build_bytestring(x, sizeof(x))))
		cbor_decref(&m);
	return m;
}

cbor_item_t *sc_cose_ka_public(EVP_PKEY *key)
{
	/* CTAP 2.1 §6.5.6: alg is -25 although that is not the algorithm actually used. */
	return cose_ec2(key, COSE_ECDH_ES_HKDF_256);
}

/* The platform's P-256 key from its COSE_Key: EC2, crv P-256, 32-byte x and y on the curve. */
static int peer_key(const cbor_item_t *cose, EVP_PKEY **out)
{
	const cbor_item_t *kty = NULL, *crv = NULL, *x = NULL, *y = NULL;
	uint8_t pt[65];
	EVP_PKEY_CTX *ctx = NULL, *chk = NULL;
	EVP_PKEY *pk = NULL;
	int r = CTAP1_ERR_INVALID_PARAMETER;

	if (!cbor_isa_map(cose) || !cbor_map_is_definite(cose))
		return CTAP2_ERR_CBOR_UNEXPECTED_TYPE;
	const struct cbor_pair *p = cbor_map_handle(cose);
	for (size_t i = 0; i < cbor_map_size(cose); i++) {
		int64_t k;
		const cbor_item_t **slot = NULL;
		if (sc_cbor_int(p[i].key, &k) != CTAP2_OK)
			return CTAP2_ERR_CBOR_UNEXPECTED_TYPE;
		if (k == 1)
			slot = &kty;
		else if (k == -1)
			slot = &crv;
		else if (k == -2)
			slot = &x;
		else if (k == -3)
			slot = &y;
		if (slot == NULL)
			continue; /* alg (3) and unknown labels are not checked */
		if (*slot != NULL)
			return CTAP2_ERR_INVALID_CBOR;
		*slot = p[i].value;
	}
	if (kty == NULL || crv == NULL || x == NULL || y == NULL)
		return CTAP2_ERR_MISSING_PARAMETER;

	int64_t kv, cv;
	const uint8_t *xp, *yp;
	size_t xl, yl;
	if (sc_cbor_int(kty, &kv) != CTAP2_OK || sc_cbor_int(crv, &cv) != CTAP2_OK ||
	    sc_cbor_bytes(x, &xp, &xl) != CTAP2_OK || sc_cbor_bytes(y, &yp, &yl) != CTAP2_OK)
		return CTAP2_ERR_CBOR_UNEXPECTED_TYPE;
	if (kv != COSE_KTY_EC2 || cv != COSE_CRV_P256 || xl != 32 || yl != 32)
		return CTAP1_ERR_INVALID_PARAMETER;

	pt[0] = 0x04;
	memcpy(pt + 1, xp, 32);
	memcpy(pt + 33, yp, 32);
	char group[] = "prime256v1";
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
	    OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt)),
	    OSSL_PARAM_construct_end(),
	};
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	/* point on the curve, not at infinity */
	if ((chk = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL)) == NULL ||
	    EVP_PKEY_public_check(chk) != 1)
		goto out;
	*out = pk;
	pk = NULL;
	r = CTAP2_OK;
out:
	EVP_PKEY_CTX_free(chk);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pk);
	return r;
}

/* HKDF-SHA-256 with a 32-byte zero salt (CTAP 2.1 §6.5.7 kdf()). */
static int hkdf(const uint8_t *z, size_t zlen, const char *info, uint8_t out[32])
{
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	uint8_t salt[32] = {0};
	char digest[] = "SHA256";
	int r = -1;

	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)(uintptr_t)z, zlen),
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt, sizeof(salt)),
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)(uintptr_t)info,
	                                      strlen(info)),
	    OSSL_PARAM_construct_end(),
	};
	if ((kdf = EVP_KDF_fetch(NULL, "HKDF", NULL)) != NULL &&
	    (kctx = EVP_KDF_CTX_new(kdf)) != NULL && EVP_KDF_derive(kctx, out, 32, params) == 1)
		r = 0;
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return r;
}

int sc_ka_decapsulate(EVP_PKEY *own, const cbor_item_t *peer, unsigned proto, uint8_t *shared,
                      size_t *shared_len)
{
	EVP_PKEY *pk = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	uint8_t z[32];
	size_t zlen = sizeof(z);
	int r;

	if ((r = peer_key(peer, &pk)) != CTAP2_OK)
		return r;
	r = CTAP1_ERR_INVALID_PARAMETER;
	/* ecdh(): Z is the x-coordinate of the shared point (CTAP 2.1 §6.5.6) */
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, own, NULL)) == NULL ||
	    EVP_PKEY_derive_init(ctx) != 1 || EVP_PKEY_derive_set_peer(ctx, pk) != 1 ||
	    EVP_PKEY_derive(ctx, z, &zlen) != 1 || zlen != sizeof(z))
		goto out;
	if (proto == 1) {
		sc_sha256(z, zlen, shared); /* §6.5.6 kdf(Z) = SHA-256(Z) */
		*shared_len = 32;
	} else {
		/* §6.5.7 kdf(Z) = HKDF(Z, "CTAP2 HMAC key") || HKDF(Z, "CTAP2 AES key") */
		if (hkdf(z, zlen, "CTAP2 HMAC key", shared) < 0 ||
		    hkdf(z, zlen, "CTAP2 AES key", shared + 32) < 0)
			goto out;
		*shared_len = 64;
	}
	r = CTAP2_OK;
out:
	OPENSSL_cleanse(z, sizeof(z));
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pk);
	return r;
}

static int aes256_cbc(const uint8_t *key, const uint8_t *iv, const uint8_t *in, size_t len,
                      uint8_t *out, int enc)
{
	EVP_CIPHER_CTX *ctx = NULL;
	int n = 0, f = 0, r = -1;
	if (len % 16 != 0 || len > INT32_MAX)
		return -1;
	if ((ctx = EVP_CIPHER_CTX_new()) != NULL &&
	    EVP_CipherInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, iv, enc) == 1 &&
	    EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
	    EVP_CipherUpdate(ctx, out, &n, in, (int)len) == 1 &&
	    EVP_CipherFinal_ex(ctx, out + n, &f) == 1 && (size_t)n + (size_t)f == len)
		r = 0;
	EVP_CIPHER_CTX_free(ctx);
	return r;
}

int sc_pp_encrypt(unsigned proto, const uint8_t *shared, const uint8_t *in, size_t len,
                  uint8_t *out, size_t *outlen)
{
	if (proto == 1) {
		/* §6.5.6 encrypt(): AES-256-CBC, IV = 0 */
		uint8_t iv[16] = {0};
		if (aes256_cbc(shared, iv, in, len, out, 1) < 0)
			return -1;
		*outlen = len;
		return 0;
	}
	/* §6.5.7 encrypt(): random IV || AES-256-CBC(AES key = second half of the secret) */
	if (sc_random(out, 16) < 0 || aes256_cbc(shared + 32, out, in, len, out + 16, 1) < 0)
		return -1;
	*outlen = len + 16;
	return 0;
}

int sc_pp_decrypt(unsigned proto, const uint8_t *shared, const uint8_t *in, size_t len,
                  uint8_t *out, size_t *outlen)
{
	if (proto == 1) {
		uint8_t iv[16] = {0};
		if (aes256_cbc(shared, iv, in, len, out, 0) < 0)
			return -1;
		*outlen = len;
		return 0;
	}
	if (len < 16 || aes256_cbc(shared + 32, in, in + 16, len - 16, out, 0) < 0)
		return -1;
	*outlen = len - 16;
	return 0;
}

bool sc_pp_verify(unsigned proto, const uint8_t *key, size_t keylen, const uint8_t *msg,
                  size_t msglen, const uint8_t *msg2, size_t msg2len, const uint8_t *sig,
                  size_t siglen)
{
	/* §6.5.6 authenticate(): LEFT(HMAC-SHA-256, 16); §6.5.7: all 32 bytes */
	const size_t want = proto == 1 ? 16 : 32;
	uint8_t mac[32];
	size_t maclen = 0;
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
	    OSSL_PARAM_construct_end(),
	};
	EVP_MAC_CTX *ctx = NULL;
	bool ok = false;

	if (siglen != want)
		return false;
	EVP_MAC *mac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (mac_alg != NULL && (ctx = EVP_MAC_CTX_new(mac_alg)) != NULL &&
	    EVP_MAC_init(ctx, key, keylen, params) == 1 && EVP_MAC_update(ctx, msg, msglen) == 1 &&
	    (msg2len == 0 || EVP_MAC_update(ctx, msg2, msg2len) == 1) &&
	    EVP_MAC_final(ctx, mac, &maclen, sizeof(mac)) == 1 && maclen == sizeof(mac))
		ok = CRYPTO_memcmp(mac, sig, want) == 0;
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac_alg);
	OPENSSL_cleanse(mac, sizeof(mac));
	return ok;
}
