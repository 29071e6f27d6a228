/*
 * The agent's check of a policy bundle's signature (issue 12): Ed25519 (RFC 8032) with Nettle,
 * the library the agent already links for its hashes, so checking bundles costs the agent no
 * second crypto library (no libcrypto in the agent process). Same contract as the collector's
 * OpenSSL mg_policy_verify (canonical base64 only); tests/server/test_policy_cross.c checks
 * that both give the same answer on the collector's own signatures and on forged ones.
 */
#ifndef MG_ED25519_VERIFY_H
#define MG_ED25519_VERIFY_H

#include <stddef.h>

/*
 * Verifies sig_b64 (64 bytes as 88 characters of canonical base64) over data[0..len) with
 * pubkey_b64 (32 bytes as 44 characters). 0: valid; -EBADMSG: the signature does not match
 * (wrong key, changed data, a non-canonical signature); -EINVAL: key or signature malformed.
 * Fits mg_policy_sig_check (mg/policy_bundle.h) for mg_policy_accept().
 */
int mg_ed25519_verify_b64(const char *pubkey_b64, const void *data, size_t len,
                          const char *sig_b64);

#endif
