/* soft_ctap internals shared by the CTAPHID layer, the CTAP2 commands, clientPIN and crypto. */
#ifndef MG_SOFT_CTAP_INT_H
#define MG_SOFT_CTAP_INT_H

#include "soft_ctap.h"

#include <cbor.h>

/* CTAP status codes (CTAP 2.1 §8.2 "Status codes"); libfido2's FIDO_ERR_* share the values. */
#define CTAP2_OK                          0x00
#define CTAP1_ERR_INVALID_COMMAND         0x01
#define CTAP1_ERR_INVALID_PARAMETER       0x02
#define CTAP1_ERR_INVALID_LENGTH          0x03
#define CTAP2_ERR_CBOR_UNEXPECTED_TYPE    0x11
#define CTAP2_ERR_INVALID_CBOR            0x12
#define CTAP2_ERR_MISSING_PARAMETER       0x14
#define CTAP2_ERR_LIMIT_EXCEEDED          0x15
#define CTAP2_ERR_CREDENTIAL_EXCLUDED     0x19
#define CTAP2_ERR_UNSUPPORTED_ALGORITHM   0x26
#define CTAP2_ERR_OPERATION_DENIED        0x27
#define CTAP2_ERR_KEY_STORE_FULL          0x28
#define CTAP2_ERR_UNSUPPORTED_OPTION      0x2B
#define CTAP2_ERR_INVALID_OPTION          0x2C
#define CTAP2_ERR_KEEPALIVE_CANCEL        0x2D
#define CTAP2_ERR_NO_CREDENTIALS          0x2E
#define CTAP2_ERR_USER_ACTION_TIMEOUT     0x2F
#define CTAP2_ERR_NOT_ALLOWED             0x30
#define CTAP2_ERR_PIN_INVALID             0x31
#define CTAP2_ERR_PIN_BLOCKED             0x32
#define CTAP2_ERR_PIN_AUTH_INVALID        0x33
#define CTAP2_ERR_PIN_AUTH_BLOCKED        0x34
#define CTAP2_ERR_PIN_NOT_SET             0x35
#define CTAP2_ERR_PUAT_REQUIRED           0x36 /* CTAP 2.0 name: PIN_REQUIRED */
#define CTAP2_ERR_PIN_POLICY_VIOLATION    0x37
#define CTAP2_ERR_UNAUTHORIZED_PERMISSION 0x40
#define CTAP1_ERR_OTHER                   0x7F

/* Internal: the command needs a touch; run it again with up_granted once the user touched. */
#define SC_NEED_UP 0x100

/* CTAP2 command bytes (CTAP 2.1 §6). */
#define CTAP_CMD_MAKE_CREDENTIAL    0x01
#define CTAP_CMD_GET_ASSERTION      0x02
#define CTAP_CMD_GET_INFO           0x04
#define CTAP_CMD_CLIENT_PIN         0x06
#define CTAP_CMD_RESET              0x07
#define CTAP_CMD_GET_NEXT_ASSERTION 0x08
#define CTAP_CMD_SELECTION          0x0B

/* pinUvAuthToken permissions (CTAP 2.1 §6.5.5.7). */
#define SC_PERM_MC 0x01
#define SC_PERM_GA 0x02

/* Authenticator data flags (WebAuthn §6.1). */
#define SC_FLAG_UP 0x01
#define SC_FLAG_UV 0x04
#define SC_FLAG_AT 0x40

#define SC_HID_MAX_MSG    7609 /* 57 + 128 * 59 bytes (CTAP 2.1 §11.2.4) */
#define SC_HID_CHANNELS   8
#define SC_HID_OUTQ       4
#define SC_NEXT_ASSERT_MS 30000 /* CTAP 2.1 §6.3: getNextAssertion timer */

struct sc_buf {
	uint8_t *p;
	size_t len;
};

/* A CTAPHID message waiting to be split into input reports. */
struct sc_out {
	uint8_t cid[4];
	uint8_t cmd;
	uint8_t *data;
	size_t len;
	size_t off; /* bytes already sent */
	uint8_t seq;
	bool started;
};

struct sc_hid {
	uint8_t chan[SC_HID_CHANNELS][4];
	size_t nchan;
	size_t chan_next; /* slot replaced when the table is full */

	/* the request being reassembled */
	bool rx_active;
	uint8_t rx_cid[4];
	uint8_t rx_cmd;
	uint8_t rx_seq;
	size_t rx_len, rx_have;
	uint64_t rx_last_ms;
	uint8_t *rx_buf; /* SC_HID_MAX_MSG */

	/* the CBOR command waiting for a touch */
	bool busy;
	uint8_t busy_cid[4];
	uint8_t *busy_req;
	size_t busy_len;
	uint64_t busy_deadline;  /* touch result (or USER_ACTION_TIMEOUT) due */
	uint64_t busy_keepalive; /* next KEEPALIVE due */
	bool busy_keepalive_sent;
	int busy_outcome; /* what happens at the deadline: CTAP2_OK (touch) or an error */

	struct sc_out outq[SC_HID_OUTQ];
	size_t outq_n;
};

/* The remaining credentials of a getAssertion without allowList (CTAP 2.1 §6.3). */
struct sc_next_assert {
	bool active;
	uint64_t expires_ms;
	uint8_t rp_hash[32];
	uint8_t cdh[32];
	uint8_t flags;
	size_t idx[SOFT_CTAP_MAX_CREDS];
	size_t n, next;
};

struct soft_ctap {
	/* persistent */
	uint8_t aaguid[SOFT_CTAP_AAGUID_LEN];
	bool pin_set;
	char pin[SOFT_CTAP_PIN_MAX + 1];
	unsigned pin_retries;
	uint32_t counter;
	enum soft_ctap_touch touch;
	unsigned touch_delay_ms;
	struct soft_ctap_cred *creds;
	size_t ncreds;

	soft_ctap_persist_fn persist;
	void *persist_ctx;

	/* volatile: one power cycle (CTAP 2.1 §6.5.4 initialize()) */
	EVP_PKEY *ka_key; /* P-256 key agreement key */
	uint8_t token[32];
	bool token_in_use;
	uint8_t token_perms;
	bool token_has_rp;
	char token_rp[SOFT_CTAP_RP_ID_MAX + 1];
	unsigned pin_mismatches; /* consecutive, this power cycle */
	struct sc_next_assert next;

	struct sc_hid hid;
};

/* A CTAP2 command as the handlers see it: parameters after the command byte. */
struct sc_cmd {
	const uint8_t *params;
	size_t len;
	bool up_granted; /* the user touched (second run after SC_NEED_UP) */
	uint64_t now_ms;
};

/* CTAP2 commands: CTAP status (response CBOR in *out on CTAP2_OK) or SC_NEED_UP. */
int sc_cmd_get_info(struct soft_ctap *sc, const struct sc_cmd *c, struct sc_buf *out);
int sc_cmd_make_credential(struct soft_ctap *sc, const struct sc_cmd *c, struct sc_buf *out);
int sc_cmd_get_assertion(struct soft_ctap *sc, const struct sc_cmd *c, struct sc_buf *out);
int sc_cmd_get_next_assertion(struct soft_ctap *sc, const struct sc_cmd *c, struct sc_buf *out);
int sc_cmd_selection(struct soft_ctap *sc, const struct sc_cmd *c, struct sc_buf *out);
int sc_cmd_client_pin(struct soft_ctap *sc, const struct sc_cmd *c, struct sc_buf *out);
/* Runs one CTAP2 command (first byte of msg) and returns its status. */
int sc_cmd_dispatch(struct soft_ctap *sc, const uint8_t *msg, size_t len, bool up_granted,
                    uint64_t now_ms, struct sc_buf *out);

/* Reports persistent changes; 0 or CTAP1_ERR_OTHER. */
int sc_persist(struct soft_ctap *sc);

/*
 * pinUvAuthParam check shared by makeCredential and getAssertion (CTAP 2.1 §6.1.2 step 11,
 * §6.2.2 step 6): verifies param over cdh with the current token, its permission and rp.
 */
int sc_pin_check_token(struct soft_ctap *sc, uint64_t proto, const uint8_t *cdh,
                       const uint8_t *param, size_t param_len, uint8_t perm, const char *rp_id);
/* After a command that used the token: clear its permissions (CTAP 2.1 §6.2.2 step 9). */
void sc_pin_token_used(struct soft_ctap *sc);
/* Power-up: new key agreement key and token. 0 or -1. */
int sc_pin_init(struct soft_ctap *sc);

/* ---- CBOR (soft_ctap_cbor.c) ---- */

/* Checks and loads a request: one definite, well-formed item filling buf, a map. */
int sc_cbor_parse_map(const uint8_t *buf, size_t len, cbor_item_t **map);
/* Well-formedness only (definite lengths, no tags or floats, nesting <= maxdepth). */
int sc_cbor_check(const uint8_t *buf, size_t len, unsigned maxdepth);
/* argv[k] = value of unsigned key k (1 <= k < argc); other unsigned keys are ignored. */
int sc_cbor_args(const cbor_item_t *map, const cbor_item_t **argv, size_t argc);
/* Value of text key `key` in map (NULL when absent); duplicate keys fail. */
int sc_cbor_lookup(const cbor_item_t *map, const char *key, const cbor_item_t **val);
int sc_cbor_bytes(const cbor_item_t *it, const uint8_t **p, size_t *len);
/* Copies a UTF-8 text string into out[outsz] (NUL-terminated); no embedded NUL. */
int sc_cbor_text(const cbor_item_t *it, char *out, size_t outsz);
int sc_cbor_uint(const cbor_item_t *it, uint64_t *v);
int sc_cbor_int(const cbor_item_t *it, int64_t *v);
int sc_cbor_bool(const cbor_item_t *it, bool *v);
/* Adds key/val to map and drops the caller's references; false when anything is NULL. */
bool sc_map_put(cbor_item_t *map, cbor_item_t *key, cbor_item_t *val);
bool sc_map_put_u(cbor_item_t *map, uint8_t key, cbor_item_t *val);
bool sc_map_put_s(cbor_item_t *map, const char *key, cbor_item_t *val);
cbor_item_t *sc_cbor_int_item(int64_t v);
/* Serialises item into out (malloc'd); CTAP2_OK or CTAP1_ERR_OTHER. Drops the reference. */
int sc_cbor_finish(cbor_item_t *item, struct sc_buf *out);

/* ---- crypto (soft_ctap_crypto.c) ---- */

int sc_random(void *buf, size_t len);
void sc_sha256(const void *data, size_t len, uint8_t out[32]);
/* New credential key for alg (ES256 or EdDSA); 0 or -1. */
int sc_key_generate(int alg, EVP_PKEY **key);
/* Signs a || b with key (ES256: DER ECDSA over SHA-256; EdDSA: Ed25519). sig[80]. 0 or -1. */
int sc_sign(EVP_PKEY *key, int alg, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
            uint8_t *sig, size_t *siglen);
/* COSE_Key of the public half (RFC 9053 §7; kty/alg/crv/x[/y]); NULL on error. */
cbor_item_t *sc_cose_public(EVP_PKEY *key, int alg);
/* The key agreement public key as COSE_Key with alg -25 (CTAP 2.1 §6.5.6 getPublicKey). */
cbor_item_t *sc_cose_ka_public(EVP_PKEY *key);
int sc_ka_generate(EVP_PKEY **key);
/*
 * decapsulate() (CTAP 2.1 §6.5.6/§6.5.7): ECDH with the platform's COSE_Key, then the
 * protocol's KDF. shared[64]; *shared_len 32 (protocol 1) or 64 (protocol 2). CTAP status.
 */
int sc_ka_decapsulate(EVP_PKEY *own, const cbor_item_t *peer, unsigned proto, uint8_t *shared,
                      size_t *shared_len);
/* encrypt()/decrypt() of the PIN protocols: AES-256-CBC, no padding. out needs len + 16. */
int sc_pp_encrypt(unsigned proto, const uint8_t *shared, const uint8_t *in, size_t len,
                  uint8_t *out, size_t *outlen);
int sc_pp_decrypt(unsigned proto, const uint8_t *shared, const uint8_t *in, size_t len,
                  uint8_t *out, size_t *outlen);
/* verify(): HMAC-SHA-256 with the protocol's key part, 16 (protocol 1) or 32 bytes compared. */
bool sc_pp_verify(unsigned proto, const uint8_t *key, size_t keylen, const uint8_t *msg,
                  size_t msglen, const uint8_t *msg2, size_t msg2len, const uint8_t *sig,
                  size_t siglen);

#endif
