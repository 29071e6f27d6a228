/*
 * libfido2 adapter. Only the public API is used (fido_dev_info_manifest, fido_dev_open by
 * path, fido_dev_get_assert, fido_dev_cancel, fido_assert_verify), so any transport that
 * libfido2 supports works, and so does the test suite's software authenticator.
 *
 * All present keys are asked at once: one thread per key runs fido_dev_get_assert with the
 * user's allow list; the first success wins and the others are cancelled (fido_dev_cancel);
 * the wait is bounded by a deadline, after which every key is cancelled.
 */
#ifndef MG_PAM_FIDO2_AUTH_H
#define MG_PAM_FIDO2_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "credfile.h"

#define MG_FIDO2_MAX_DEVS     8
#define MG_FIDO2_CDH_LEN      32
#define MG_FIDO2_MAX_AUTHDATA 1024
#define MG_FIDO2_MAX_SIG      1024

enum mg_fido2_status {
	MG_FIDO2_OK,
	MG_FIDO2_NOT_REGISTERED, /* no key holds an allowed credential */
	MG_FIDO2_NO_TOUCH,       /* the key refused or timed out waiting for presence */
	MG_FIDO2_TIMEOUT,        /* our deadline passed; the keys were cancelled */
	MG_FIDO2_WRONG_PIN,
	MG_FIDO2_PIN_BLOCKED,
	MG_FIDO2_PIN_MISSING,    /* UV required and no PIN given */
	MG_FIDO2_UV_UNAVAILABLE, /* UV required and the key has neither PIN nor built-in UV */
	MG_FIDO2_ERROR,          /* transport or protocol error */
};

/* The event reason of a status ("not-registered", ...); NULL for MG_FIDO2_OK. */
const char *mg_fido2_status_reason(enum mg_fido2_status s);

/* The keys present, opened. */
struct mg_fido2_devs;

/*
 * Lists and opens the keys present, waiting up to wait_ms for one to be inserted (polling
 * the manifest every 200 ms). 0, -ENODEV when there is none, or negative errno.
 */
int mg_fido2_devs_open(unsigned wait_ms, struct mg_fido2_devs **out);
size_t mg_fido2_devs_count(const struct mg_fido2_devs *d);
/* Path and "manufacturer product" of key i. */
const char *mg_fido2_devs_path(const struct mg_fido2_devs *d, size_t i);
const char *mg_fido2_devs_name(const struct mg_fido2_devs *d, size_t i);
/* The libfido2 device i (fido_dev_t *), for enrolment. */
void *mg_fido2_devs_dev(struct mg_fido2_devs *d, size_t i);
void mg_fido2_devs_free(struct mg_fido2_devs **d);

/* True when, under the policy, some present key will be asked for its PIN. */
bool mg_fido2_needs_pin(const struct mg_fido2_devs *d, bool uv_required, bool uv_preferred);

struct mg_fido2_allow {
	const unsigned char *id;
	size_t len;
};

struct mg_fido2_request {
	const char *rp_id;
	unsigned char cdh[MG_FIDO2_CDH_LEN]; /* client data hash: the fresh random challenge */
	const struct mg_fido2_allow *allow;
	size_t nallow;
	bool uv_required;
	bool uv_preferred;
	const char *pin; /* NULL or "": none given */
	unsigned timeout_ms;
};

struct mg_fido2_assertion {
	size_t key_index;                              /* which key answered */
	size_t allow_index;                            /* which allowed credential answered */
	unsigned char authdata[MG_FIDO2_MAX_AUTHDATA]; /* CBOR byte string, as libfido2 gives it */
	size_t authdata_len;
	unsigned char sig[MG_FIDO2_MAX_SIG];
	size_t sig_len;
	bool uv_expected; /* the key was asked with its PIN or built-in UV: the verifier requires
	                   * the UV flag (issue 13: uv = preferred and a key with a PIN) */
};

/* Whether key i is asked with its PIN or built-in UV under req (then UV is required). */
bool mg_fido2_key_asks_uv(const struct mg_fido2_devs *d, size_t i,
                          const struct mg_fido2_request *req);

/*
 * Asks every key at once. 0 with *status set (and *out filled when MG_FIDO2_OK), or a
 * negative errno for an internal error (threads, memory).
 */
int mg_fido2_get_assertion(struct mg_fido2_devs *d, const struct mg_fido2_request *req,
                           enum mg_fido2_status *status, struct mg_fido2_assertion *out);

/*
 * Verifies an assertion against the stored public key: rp id hash, challenge, signature,
 * user presence, and user verification when uv_required. 0 with *sigcount, -EBADMSG when it
 * does not verify, -EINVAL/-ENOMEM.
 */
int mg_fido2_verify(const struct mg_fido2_cred *cred, const char *rp_id,
                    const unsigned char cdh[MG_FIDO2_CDH_LEN], const unsigned char *authdata,
                    size_t authdata_len, const unsigned char *sig, size_t sig_len, bool uv_required,
                    uint64_t *sigcount, bool *uv_done);

#endif
