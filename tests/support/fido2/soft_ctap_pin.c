/*
 * authenticatorClientPIN (CTAP 2.1 §6.5) with PIN/UV auth protocols 1 and 2: getPINRetries,
 * getKeyAgreement, setPIN, changePIN, getPinToken and
 * getPinUvAuthTokenUsingPinWithPermissions, plus the pinUvAuthToken checks used by
 * makeCredential and getAssertion.
 */
#include "soft_ctap_int.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define CTAP2_ERR_INVALID_SUBCOMMAND 0x3E

/* subCommand values (§6.5.5) */
#define SUB_GET_PIN_RETRIES     0x01
#define SUB_GET_KEY_AGREEMENT   0x02
#define SUB_SET_PIN             0x03
#define SUB_CHANGE_PIN          0x04
#define SUB_GET_PIN_TOKEN       0x05
#define SUB_GET_TOKEN_USING_PIN 0x09

/* permissions we can grant; cm, be, lbw and acfg are features we do not have */
#define PERM_SUPPORTED (SC_PERM_MC | SC_PERM_GA)
#define MAX_MISMATCHES 3 /* consecutive, before a power cycle is needed */

/* clientPIN parameters (§6.5.5). */
enum {
	P_PROTOCOL = 1,
	P_SUBCOMMAND = 2,
	P_KEY_AGREEMENT = 3,
	P_AUTH_PARAM = 4,
	P_NEW_PIN_ENC = 5,
	P_PIN_HASH_ENC = 6,
	P_PERMISSIONS = 9,
	P_RP_ID = 10,
	P_COUNT = 11,
};

struct pin_req {
	const cbor_item_t *a[P_COUNT];
	unsigned proto;
	uint8_t shared[64];
	size_t shared_len;
};

int sc_pin_init(struct soft_ctap *sc)
{
	EVP_PKEY_free(sc->ka_key);
	sc->ka_key = NULL;
	sc->token_in_use = false;
	sc->token_perms = 0;
	sc->token_has_rp = false;
	if (sc_ka_generate(&sc->ka_key) < 0 || sc_random(sc->token, sizeof(sc->token)) < 0)
		return -1;
	return 0;
}

/* regenerate() (§6.5.6): a new key agreement key; the old shared secrets die. */
static int regenerate(struct soft_ctap *sc)
{
	EVP_PKEY *k = NULL;
	if (sc_ka_generate(&k) < 0)
		return CTAP1_ERR_OTHER;
	EVP_PKEY_free(sc->ka_key);
	sc->ka_key = k;
	return CTAP2_OK;
}

int sc_pin_check_token(struct soft_ctap *sc, uint64_t proto, const uint8_t *cdh,
                       const uint8_t *param, size_t param_len, uint8_t perm, const char *rp_id)
{
	if (!sc->pin_set || !sc->token_in_use)
		return CTAP2_ERR_PIN_AUTH_INVALID;
	if (!sc_pp_verify((unsigned)proto, sc->token, sizeof(sc->token), cdh, 32, NULL, 0, param,
	                  param_len))
		return CTAP2_ERR_PIN_AUTH_INVALID;
	if ((sc->token_perms & perm) == 0)
		return CTAP2_ERR_PIN_AUTH_INVALID;
	if (sc->token_has_rp && strcmp(sc->token_rp, rp_id) != 0)
		return CTAP2_ERR_PIN_AUTH_INVALID;
	return CTAP2_OK;
}

void sc_pin_token_used(struct soft_ctap *sc)
{
	/* clearUserPresentFlag(), clearUserVerifiedFlag(), clearPinUvAuthTokenPermissions... */
	sc->token_perms = 0;
	sc->token_has_rp = false;
}

/* Protocol (required here) and the shared secret from the platform's keyAgreement. */
static int shared_secret(struct soft_ctap *sc, struct pin_req *q)
{
	if (q->a[P_KEY_AGREEMENT] == NULL)
		return CTAP2_ERR_MISSING_PARAMETER;
	return sc_ka_decapsulate(sc->ka_key, q->a[P_KEY_AGREEMENT], q->proto, q->shared,
	                         &q->shared_len);
}

/*
 * Checks pinHashEnc against LEFT(SHA-256(PIN), 16) after spending one retry
 * (§6.5.5.7.2 steps 8-10; §6.5.5.6 for changePIN).
 */
static int verify_pin_hash(struct soft_ctap *sc, struct pin_req *q)
{
	const uint8_t *enc;
	size_t enc_len, dec_len = 0;
	uint8_t dec[64], want[32];
	int r;

	if ((r = sc_cbor_bytes(q->a[P_PIN_HASH_ENC], &enc, &enc_len)) != CTAP2_OK)
		return r;
	/* the retry is spent and stored before the comparison (no power-cut bypass) */
	sc->pin_retries--;
	if ((r = sc_persist(sc)) != CTAP2_OK)
		return r;

	sc_sha256(sc->pin, strlen(sc->pin), want);
	bool match = enc_len <= sizeof(dec) &&
	             sc_pp_decrypt(q->proto, q->shared, enc, enc_len, dec, &dec_len) == 0 &&
	             dec_len == 16 && CRYPTO_memcmp(dec, want, 16) == 0;
	OPENSSL_cleanse(dec, sizeof(dec));
	OPENSSL_cleanse(want, sizeof(want));
	if (!match) {
		if ((r = regenerate(sc)) != CTAP2_OK)
			return r;
		sc->pin_mismatches++;
		if (sc->pin_retries == 0)
			return CTAP2_ERR_PIN_BLOCKED;
		if (sc->pin_mismatches >= MAX_MISMATCHES)
			return CTAP2_ERR_PIN_AUTH_BLOCKED;
		return CTAP2_ERR_PIN_INVALID;
	}
	sc->pin_mismatches = 0;
	sc->pin_retries = SOFT_CTAP_PIN_RETRIES;
	return sc_persist(sc);
}

/* Decrypts newPinEnc: 64 bytes of PIN padded with zeros (§6.5.5.5 steps 6-8). */
static int new_pin(struct pin_req *q, char pin[SOFT_CTAP_PIN_MAX + 1])
{
	const uint8_t *enc;
	size_t enc_len, dec_len = 0, len;
	uint8_t dec[80];
	int r;

	if ((r = sc_cbor_bytes(q->a[P_NEW_PIN_ENC], &enc, &enc_len)) != CTAP2_OK)
		return r;
	if (enc_len > sizeof(dec) ||
	    sc_pp_decrypt(q->proto, q->shared, enc, enc_len, dec, &dec_len) < 0 || dec_len != 64)
		return CTAP1_ERR_INVALID_PARAMETER;
	for (len = 0; len < 64 && dec[len] != 0; len++)
		;
	/* at most 63 bytes, at least minPINLength code points, UTF-8 */
	size_t cps = 0;
	for (size_t i = 0; i < len; i++)
		cps += (dec[i] & 0xC0) != 0x80;
	r = CTAP2_OK;
	if (len > SOFT_CTAP_PIN_MAX || cps < SOFT_CTAP_PIN_MIN)
		r = CTAP2_ERR_PIN_POLICY_VIOLATION;
	else
		memcpy(pin, dec, len);
	pin[r == CTAP2_OK ? len : 0] = '\0';
	OPENSSL_cleanse(dec, sizeof(dec));
	return r;
}

static int get_retries(struct soft_ctap *sc, struct sc_buf *out)
{
	cbor_item_t *m = cbor_new_definite_map(2);
	if (!sc_map_put_u(m, 0x03, cbor_build_uint8((uint8_t)sc->pin_retries)) ||
	    !sc_map_put_u(m, 0x04, cbor_build_bool(sc->pin_mismatches >= MAX_MISMATCHES))) {
		if (m != NULL)
			cbor_decref(&m);
		return CTAP1_ERR_OTHER;
	}
	return sc_cbor_finish(m, out);
}

static int get_key_agreement(struct soft_ctap *sc, struct sc_buf *out)
{
	cbor_item_t *m = cbor_new_definite_map(1);
	if (!sc_map_put_u(m, 0x01, sc_cose_ka_public(sc->ka_key))) {
		if (m != NULL)
			cbor_decref(&m);
		return CTAP1_ERR_OTHER;
	}
	return sc_cbor_finish(m, out);
}

/* §6.5.5.5 */
static int set_pin(struct soft_ctap *sc, struct pin_req *q)
{
	const uint8_t *enc, *auth;
	size_t enc_len, auth_len;
	char pin[SOFT_CTAP_PIN_MAX + 1];
	int r;

	if (q->a[P_KEY_AGREEMENT] == NULL || q->a[P_NEW_PIN_ENC] == NULL ||
	    q->a[P_AUTH_PARAM] == NULL)
		return CTAP2_ERR_MISSING_PARAMETER;
	if (sc->pin_set)
		return CTAP2_ERR_NOT_ALLOWED;
	if ((r = shared_secret(sc, q)) != CTAP2_OK)
		return r;
	if ((r = sc_cbor_bytes(q->a[P_NEW_PIN_ENC], &enc, &enc_len)) != CTAP2_OK ||
	    (r = sc_cbor_bytes(q->a[P_AUTH_PARAM], &auth, &auth_len)) != CTAP2_OK)
		return r;
	if (!sc_pp_verify(q->proto, q->shared, 32, enc, enc_len, NULL, 0, auth, auth_len))
		return CTAP2_ERR_PIN_AUTH_INVALID;
	if ((r = new_pin(q, pin)) != CTAP2_OK)
		return r;
	r = soft_ctap_set_pin(sc, pin) == 0 ? sc_persist(sc) : CTAP2_ERR_PIN_POLICY_VIOLATION;
	OPENSSL_cleanse(pin, sizeof(pin));
	return r;
}

/* §6.5.5.6 */
static int change_pin(struct soft_ctap *sc, struct pin_req *q)
{
	const uint8_t *enc, *hash, *auth;
	size_t enc_len, hash_len, auth_len;
	char pin[SOFT_CTAP_PIN_MAX + 1];
	int r;

	if (q->a[P_KEY_AGREEMENT] == NULL || q->a[P_NEW_PIN_ENC] == NULL ||
	    q->a[P_PIN_HASH_ENC] == NULL || q->a[P_AUTH_PARAM] == NULL)
		return CTAP2_ERR_MISSING_PARAMETER;
	if (!sc->pin_set)
		return CTAP2_ERR_PIN_NOT_SET;
	if (sc->pin_retries == 0)
		return CTAP2_ERR_PIN_BLOCKED;
	if (sc->pin_mismatches >= MAX_MISMATCHES)
		return CTAP2_ERR_PIN_AUTH_BLOCKED;
	if ((r = shared_secret(sc, q)) != CTAP2_OK)
		return r;
	if ((r = sc_cbor_bytes(q->a[P_NEW_PIN_ENC], &enc, &enc_len)) != CTAP2_OK ||
	    (r = sc_cbor_bytes(q->a[P_PIN_HASH_ENC], &hash, &hash_len)) != CTAP2_OK ||
	    (r = sc_cbor_bytes(q->a[P_AUTH_PARAM], &auth, &auth_len)) != CTAP2_OK)
		return r;
	/* pinUvAuthParam = authenticate(shared, newPinEnc || pinHashEnc) */
	if (!sc_pp_verify(q->proto, q->shared, 32, enc, enc_len, hash, hash_len, auth, auth_len))
		return CTAP2_ERR_PIN_AUTH_INVALID;
	if ((r = verify_pin_hash(sc, q)) != CTAP2_OK)
		return r;
	if ((r = new_pin(q, pin)) != CTAP2_OK)
		return r;
	r = soft_ctap_set_pin(sc, pin) == 0 ? sc_persist(sc) : CTAP2_ERR_PIN_POLICY_VIOLATION;
	OPENSSL_cleanse(pin, sizeof(pin));
	/* resetPinUvAuthToken(): tokens obtained with the old PIN are dead */
	sc->token_in_use = false;
	return r;
}

/* §6.5.5.7.1 getPinToken and §6.5.5.7.2 getPinUvAuthTokenUsingPinWithPermissions */
static int get_token(struct soft_ctap *sc, struct pin_req *q, bool with_perms, struct sc_buf *out)
{
	uint64_t perms = SC_PERM_MC | SC_PERM_GA;
	char rp_id[SOFT_CTAP_RP_ID_MAX + 1] = "";
	uint8_t enc[48];
	size_t enc_len = 0;
	int r;

	if (q->a[P_KEY_AGREEMENT] == NULL || q->a[P_PIN_HASH_ENC] == NULL ||
	    (with_perms && q->a[P_PERMISSIONS] == NULL))
		return CTAP2_ERR_MISSING_PARAMETER;
	if (!with_perms && (q->a[P_PERMISSIONS] != NULL || q->a[P_RP_ID] != NULL))
		return CTAP1_ERR_INVALID_PARAMETER;
	if (with_perms) {
		if ((r = sc_cbor_uint(q->a[P_PERMISSIONS], &perms)) != CTAP2_OK)
			return r;
		if (perms == 0)
			return CTAP1_ERR_INVALID_PARAMETER;
		if ((perms & ~(uint64_t)PERM_SUPPORTED) != 0)
			return CTAP2_ERR_UNAUTHORIZED_PERMISSION;
		if (q->a[P_RP_ID] != NULL &&
		    (r = sc_cbor_text(q->a[P_RP_ID], rp_id, sizeof(rp_id))) != CTAP2_OK)
			return r;
	}
	if (!sc->pin_set)
		return CTAP2_ERR_PIN_NOT_SET;
	if (sc->pin_retries == 0)
		return CTAP2_ERR_PIN_BLOCKED;
	if (sc->pin_mismatches >= MAX_MISMATCHES)
		return CTAP2_ERR_PIN_AUTH_BLOCKED;
	if ((r = shared_secret(sc, q)) != CTAP2_OK || (r = verify_pin_hash(sc, q)) != CTAP2_OK)
		return r;

	/* resetPinUvAuthToken() and beginUsingPinUvAuthToken(userIsPresent: false) */
	if (sc_random(sc->token, sizeof(sc->token)) < 0)
		return CTAP1_ERR_OTHER;
	sc->token_in_use = true;
	sc->token_perms = (uint8_t)perms;
	sc->token_has_rp = q->a[P_RP_ID] != NULL;
	memcpy(sc->token_rp, rp_id, sizeof(rp_id));
	if (sc_pp_encrypt(q->proto, q->shared, sc->token, sizeof(sc->token), enc, &enc_len) < 0)
		return CTAP1_ERR_OTHER;
	cbor_item_t *m = cbor_new_definite_map(1);
	if (!sc_map_put_u(m, 0x02, cbor_build_bytestring(enc, enc_len))) {
		if (m != NULL)
			cbor_decref(&m);
		return CTAP1_ERR_OTHER;
	}
	return sc_cbor_finish(m, out);
}

/* §6.5.5 */
int sc_cmd_client_pin(struct soft_ctap *sc, const struct sc_cmd *c, struct sc_buf *out)
{
	cbor_item_t *map = NULL;
	struct pin_req *q = calloc(1, sizeof(*q));
	uint64_t sub, proto = 0;
	int r;

	if (q == NULL)
		return CTAP1_ERR_OTHER;
	if ((r = sc_cbor_parse_map(c->params, c->len, &map)) != CTAP2_OK ||
	    (r = sc_cbor_args(map, q->a, P_COUNT)) != CTAP2_OK)
		goto out;
	if (q->a[P_SUBCOMMAND] == NULL) {
		r = CTAP2_ERR_MISSING_PARAMETER;
		goto out;
	}
	if ((r = sc_cbor_uint(q->a[P_SUBCOMMAND], &sub)) != CTAP2_OK)
		goto out;
	if (sub == SUB_GET_PIN_RETRIES) {
		r = get_retries(sc, out);
		goto out;
	}
	/* every other subcommand names a supported protocol */
	if (q->a[P_PROTOCOL] == NULL) {
		r = CTAP2_ERR_MISSING_PARAMETER;
		goto out;
	}
	if ((r = sc_cbor_uint(q->a[P_PROTOCOL], &proto)) != CTAP2_OK)
		goto out;
	if (proto != 1 && proto != 2) {
		r = CTAP1_ERR_INVALID_PARAMETER;
		goto out;
	}
	q->proto = (unsigned)proto;
	switch (sub) {
	case SUB_GET_KEY_AGREEMENT:
		r = get_key_agreement(sc, out);
		break;
	case SUB_SET_PIN:
		r = set_pin(sc, q);
		break;
	case SUB_CHANGE_PIN:
		r = change_pin(sc, q);
		break;
	case SUB_GET_PIN_TOKEN:
		r = get_token(sc, q, false, out);
		break;
	case SUB_GET_TOKEN_USING_PIN:
		r = get_token(sc, q, true, out);
		break;
	default: /* 0x06/0x07 need built-in UV, which this authenticator does not have */
		r = CTAP2_ERR_INVALID_SUBCOMMAND;
		break;
	}
out:
	OPENSSL_cleanse(q->shared, sizeof(q->shared));
	free(q);
	if (map != NULL)
		cbor_decref(&map);
	return r;
}
