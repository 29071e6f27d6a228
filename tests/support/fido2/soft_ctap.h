/*
 * soft_ctap: a software FIDO2 authenticator (CTAP 2.1) behind a CTAPHID frame interface.
 *
 * A pure state machine: the caller writes 64-byte HID output reports, reads 64-byte input
 * reports and supplies the time (milliseconds, any monotonic origin) on every call. There
 * is no I/O, no thread and no clock inside; the caller serialises calls (one lock per
 * authenticator) and asks soft_ctap_hid_next_ms() when the next report becomes due
 * (KEEPALIVE while "waiting for touch", the touch result, a USER_ACTION_TIMEOUT).
 *
 * Persistent state (aaguid, PIN, retries, signature counter, touch knobs, credentials) is
 * read and written through the accessors below; every change made by a CTAP command is
 * reported to the persist callback before the response is released. Volatile state (the
 * key agreement key, the pinUvAuthToken, consecutive PIN mismatches) lives as long as the
 * object: one object is one power cycle.
 */
#ifndef MG_SOFT_CTAP_H
#define MG_SOFT_CTAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#define SOFT_CTAP_REPORT_LEN    64 /* CTAPHID report size (CTAP 2.1 §11.2.4) */
#define SOFT_CTAP_AAGUID_LEN    16
#define SOFT_CTAP_CRED_ID_MAX   128   /* maxCredentialIdLength in getInfo */
#define SOFT_CTAP_CRED_ID_LEN   48    /* length of the ids this authenticator generates */
#define SOFT_CTAP_USER_ID_MAX   64    /* CTAP 2.1 §6.1: user.id is at most 64 bytes */
#define SOFT_CTAP_RP_ID_MAX     255   /* our bound on rp.id / rpId (bytes) */
#define SOFT_CTAP_USER_NAME_MAX 64    /* CTAP 2.1 §6.1: name truncated to 64 bytes */
#define SOFT_CTAP_PIN_MIN       4     /* minPINLength (code points) */
#define SOFT_CTAP_PIN_MAX       63    /* CTAP 2.1 §6.5.5.5: at most 63 bytes */
#define SOFT_CTAP_PIN_RETRIES   8     /* maxPINRetries */
#define SOFT_CTAP_MAX_CREDS     64    /* credential store size; more gives KEY_STORE_FULL */
#define SOFT_CTAP_KEEPALIVE_MS  100   /* KEEPALIVE period while waiting for touch */
#define SOFT_CTAP_UP_TIMEOUT_MS 30000 /* user presence wait before USER_ACTION_TIMEOUT */

#define SOFT_CTAP_COSE_ES256 (-7)
#define SOFT_CTAP_COSE_EDDSA (-8)

/* How the simulated user reacts when a command needs a touch (user presence). */
enum soft_ctap_touch {
	SOFT_CTAP_TOUCH_YES,     /* touch after touch_delay_ms */
	SOFT_CTAP_TOUCH_NO,      /* refuse: one KEEPALIVE, then OPERATION_DENIED after the delay */
	SOFT_CTAP_TOUCH_TIMEOUT, /* never touch: KEEPALIVE until CANCEL (or USER_ACTION_TIMEOUT) */
};

/* One stored credential. Strings are NUL-terminated and owned by the authenticator. */
struct soft_ctap_cred {
	char *rp_id;
	uint8_t id[SOFT_CTAP_CRED_ID_MAX];
	size_t id_len;
	uint8_t user_id[SOFT_CTAP_USER_ID_MAX];
	size_t user_id_len;
	char *user_name; /* NULL when the platform sent none */
	int alg;         /* SOFT_CTAP_COSE_ES256 or SOFT_CTAP_COSE_EDDSA */
	EVP_PKEY *key;   /* the credential private key */
	bool discoverable;
};

struct soft_ctap;

/*
 * Called after a command changed persistent state and before its response is released;
 * non-zero makes the command fail with CTAP1_ERR_OTHER (a failed flash write).
 */
typedef int (*soft_ctap_persist_fn)(void *ctx, const struct soft_ctap *sc);

/* A new authenticator with no PIN, no credentials, counter 0, touch "yes"; NULL on ENOMEM. */
struct soft_ctap *soft_ctap_new(void);
/* Frees *scp (NULL allowed) and clears the pointer. */
void soft_ctap_free(struct soft_ctap **scp);

void soft_ctap_set_persist(struct soft_ctap *sc, soft_ctap_persist_fn fn, void *ctx);

const uint8_t *soft_ctap_aaguid(const struct soft_ctap *sc);
void soft_ctap_set_aaguid(struct soft_ctap *sc, const uint8_t aaguid[SOFT_CTAP_AAGUID_LEN]);

/* The PIN, or NULL when none is set. */
const char *soft_ctap_pin(const struct soft_ctap *sc);
/* Sets (4..63 bytes of UTF-8) or clears (NULL) the PIN; retries back to 8. 0 or -EINVAL. */
int soft_ctap_set_pin(struct soft_ctap *sc, const char *pin);
unsigned soft_ctap_pin_retries(const struct soft_ctap *sc);
/* Retries are capped at SOFT_CTAP_PIN_RETRIES; 0 means blocked. */
void soft_ctap_set_pin_retries(struct soft_ctap *sc, unsigned retries);

/* The global signature counter: the next signature carries counter + 1. */
uint32_t soft_ctap_counter(const struct soft_ctap *sc);
void soft_ctap_set_counter(struct soft_ctap *sc, uint32_t counter);

enum soft_ctap_touch soft_ctap_touch(const struct soft_ctap *sc);
unsigned soft_ctap_touch_delay_ms(const struct soft_ctap *sc);
void soft_ctap_set_touch(struct soft_ctap *sc, enum soft_ctap_touch touch, unsigned delay_ms);

size_t soft_ctap_cred_count(const struct soft_ctap *sc);
/* The i-th credential (creation order), or NULL; valid until the next call that changes them. */
const struct soft_ctap_cred *soft_ctap_cred_at(const struct soft_ctap *sc, size_t i);
/* Stores a deep copy of *cred (the key is reference-counted). 0, -EINVAL, -ENOSPC, -ENOMEM. */
int soft_ctap_cred_add(struct soft_ctap *sc, const struct soft_ctap_cred *cred);
void soft_ctap_cred_clear(struct soft_ctap *sc);

/*
 * CTAPHID (CTAP 2.1 §11.2). Writes one output report (64 bytes, without the report id).
 * Returns 0, or -EINVAL when len is not 64.
 */
int soft_ctap_hid_write(struct soft_ctap *sc, const uint8_t *report, size_t len, uint64_t now_ms);
/* Produces the next input report due at now_ms: 1 (report[] filled), 0 (none due). */
int soft_ctap_hid_read(struct soft_ctap *sc, uint8_t report[SOFT_CTAP_REPORT_LEN], uint64_t now_ms);
/* When the next input report becomes due: <= now when one is ready, UINT64_MAX when idle. */
uint64_t soft_ctap_hid_next_ms(const struct soft_ctap *sc);
/* Forgets channels, partial messages, queued reports and the pending operation. */
void soft_ctap_hid_reset(struct soft_ctap *sc);
/* True while a command waits for a touch. */
bool soft_ctap_hid_busy(const struct soft_ctap *sc);

#endif
