/*
 * The soft authenticators' state file: JSON naming one or more authenticators with their
 * persistent state and test knobs, so that enrolment and login can be separate processes.
 *
 * {
 *   "version": 1,
 *   "authenticators": [
 *     { "path": "soft:0",                 (required; "soft:N", N in 0..99, unique)
 *       "present": true,                  (listed by fido_dev_info_manifest, can be opened)
 *       "aaguid": "6d796e61-6775-6172-6420-736f66740000",
 *       "pin": null,                      (or the PIN as a string, 4..63 bytes)
 *       "pin_retries": 8,                 (0..8; 0 = blocked)
 *       "counter": 0,                     (global signature counter; next signature: +1)
 *       "touch": "yes",                   ("yes" | "no" | "timeout")
 *       "touch_delay_ms": 0,
 *       "credentials": [
 *         { "rp_id": "example.org", "id": "<base64url>", "alg": "es256" | "eddsa",
 *           "discoverable": false, "user_id": "<base64url>", "user_name": "alice",
 *           "private_key": "-----BEGIN PRIVATE KEY-----\n...(PKCS#8 PEM)" } ] } ] }
 *
 * Every member except "path" may be omitted (the defaults are shown); unknown members are
 * errors. Writes are atomic (temporary file + rename, mode 0600) and serialised: a
 * process-wide mutex and flock(2) on "<file>.lock".
 */
#ifndef MG_SOFT_STATE_H
#define MG_SOFT_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "soft_ctap.h"

#define SOFT_STATE_MAX_KEYS 16
#define SOFT_STATE_ENV      "MG_SOFT_FIDO2_STATE"

struct soft_state_key {
	char path[16]; /* "soft:N" */
	bool present;
	struct soft_ctap *sc;
};

struct soft_state {
	struct soft_state_key key[SOFT_STATE_MAX_KEYS];
	size_t n;
};

/* n (1..16) fresh authenticators soft:0 .. soft:n-1, all present; NULL on error. */
struct soft_state *soft_state_new(size_t n);
void soft_state_free(struct soft_state **stp);
/* The entry named path ("soft:N"), or NULL. */
struct soft_state_key *soft_state_find(struct soft_state *st, const char *path);

/* Parses JSON text strictly. 0 or -EINVAL/-ENOMEM; err gets a message naming the member. */
int soft_state_parse(const char *text, size_t len, struct soft_state **out, char *err,
                     size_t errlen);
/* The JSON text of st (malloc'd, NUL-terminated), or NULL on error. */
char *soft_state_format(const struct soft_state *st);

/* Reads and parses file. 0 or a negative errno; err as above. */
int soft_state_read(const char *file, struct soft_state **out, char *err, size_t errlen);
/* Writes st to file atomically (mode 0600), under the state lock. 0 or a negative errno. */
int soft_state_write(const char *file, const struct soft_state *st);

/* Copies the persistent state of src into dst (credentials deep-copied). 0 or -ENOMEM. */
int soft_state_copy_ctap(struct soft_ctap *dst, const struct soft_ctap *src);
/* Loads the entry path of file into sc (persistent fields only). -ENOENT when absent. */
int soft_state_load(const char *file, const char *path, struct soft_ctap *sc, bool *present);
/*
 * Saves what the authenticator changes (PIN, retries, counter, credentials) of sc into entry
 * path of file (locked read-modify-write); the knobs in the file are kept.
 */
int soft_state_store(const char *file, const char *path, const struct soft_ctap *sc);

/* Test knobs; a field left at its "unchanged" value (see SOFT_STATE_KNOBS_INIT) is kept. */
struct soft_state_knobs {
	int touch;           /* enum soft_ctap_touch, or -1 */
	long touch_delay_ms; /* or -1 */
	int64_t counter;     /* 0..UINT32_MAX, or -1 */
	const char *pin;     /* new PIN (retries back to 8), or NULL */
	bool clear_pin;      /* remove the PIN */
	int pin_retries;     /* 0..8, or -1 */
	int present;         /* 0/1, or -1 */
};
#define SOFT_STATE_KNOBS_INIT                                                                      \
	{                                                                                          \
		.touch = -1, .touch_delay_ms = -1, .counter = -1, .pin = NULL, .clear_pin = false, \
		.pin_retries = -1, .present = -1                                                   \
	}
/* Applies knobs to entry path of file (locked RMW). 0, -ENOENT, -EINVAL or an I/O errno. */
int soft_state_set_knobs(const char *file, const char *path, const struct soft_state_knobs *k,
                         char *err, size_t errlen);

/* Parses "yes"/"no"/"timeout"; -1 when unknown. */
int soft_state_touch_from_string(const char *s);
const char *soft_state_touch_to_string(enum soft_ctap_touch t);

/* base64url without padding (RFC 4648 §5): encode into a malloc'd string; NULL on ENOMEM. */
char *soft_b64url_encode(const uint8_t *p, size_t len);
/* Decodes into out[cap]; -1 on a bad character, padding, length or overflow. */
int soft_b64url_decode(const char *s, uint8_t *out, size_t cap, size_t *len);

#endif
