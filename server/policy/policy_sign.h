/*
 * Ed25519 signatures over policy bundles (RFC 8032, OpenSSL EVP). The collector holds one
 * policy-signing key (PEM, PKCS#8, mode 0600); terminals pin its raw 32-byte public key as
 * base64 (44 characters) and check each bundle's detached signature (raw 64 bytes as base64,
 * 88 characters) with mg_policy_verify(), which needs only libcrypto and mg_common.
 *
 * Base64 here is RFC 4648 section 4 with padding, in canonical form only (no white space,
 * zero pad bits): any other spelling of a key or signature is -EINVAL.
 */
#ifndef MG_POLICY_SIGN_H
#define MG_POLICY_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "mg/policy_bundle.h"

#define MG_POLICY_PUBKEY_B64_SIZE 45 /* 44 characters and the NUL */
#define MG_POLICY_SIG_B64_SIZE    89 /* 88 characters and the NUL */
#define MG_POLICY_KEY_MAX_PEM     16384u

struct mg_policy_key;

/*
 * Generates a key and writes it to path (PEM, 0600, atomically). -EEXIST when path exists
 * (a signing key is never overwritten). *out (optional) gets the key.
 */
int mg_policy_key_generate(const char *path, struct mg_policy_key **out);
/*
 * Loads a PEM Ed25519 private key from path: a regular file owned by the caller's euid with
 * no group/other access (else -EPERM), at most MG_POLICY_KEY_MAX_PEM bytes. -EINVAL: not an
 * Ed25519 private key.
 */
int mg_policy_key_load(const char *path, struct mg_policy_key **out);
/* The same from a PEM buffer. */
int mg_policy_key_from_pem(const char *pem, size_t len, struct mg_policy_key **out);
void mg_policy_key_free(struct mg_policy_key **k);

/* The raw public key as base64 (what terminals pin). 0 or -EIO. */
int mg_policy_key_public_b64(const struct mg_policy_key *k, char out[MG_POLICY_PUBKEY_B64_SIZE]);
/* Signs data[0..len); out gets the detached signature as base64. 0, -EIO. */
int mg_policy_sign(const struct mg_policy_key *k, const void *data, size_t len,
                   char out[MG_POLICY_SIG_B64_SIZE]);
/*
 * Verifies sig_b64 over data[0..len) with pubkey_b64. 0: valid; -EBADMSG: the signature does
 * not match; -EINVAL: key or signature malformed; -ENOMEM, -EIO.
 */
int mg_policy_verify(const char *pubkey_b64, const void *data, size_t len, const char *sig_b64);

/* mg_policy_accept() (mg/policy_bundle.h) with mg_policy_verify: the collector's and its
 * tests' view of what a terminal accepts. */
int mg_policy_verify_bundle(const char *pubkey_b64, const char *json, size_t len,
                            const char *sig_b64, uint64_t current_version, int64_t now_us,
                            int64_t host_id, struct mg_policy_bundle **out, char *err,
                            size_t errlen);

#endif
