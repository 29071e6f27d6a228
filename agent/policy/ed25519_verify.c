/* Ed25519 signature check with Nettle (ed25519_verify.h). */
#include "ed25519_verify.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <nettle/base64.h>
#include <nettle/eddsa.h>

#include "mg/log.h"

/* Canonical base64 (RFC 4648 section 4, padded, zero pad bits, nothing else) of exactly n
 * bytes: decodes into out, and re-encodes to make sure the spelling was the only one. */
static int b64_exact(const char *s, uint8_t *out, size_t n)
{
	const size_t slen = s ? strlen(s) : 0;
	if (slen != BASE64_ENCODE_RAW_LENGTH(n))
		return -EINVAL;
	struct base64_decode_ctx ctx;
	uint8_t buf[BASE64_DECODE_LENGTH(128)];
	size_t got = sizeof(buf);
	if (slen > 128)
		return -EINVAL;
	base64_decode_init(&ctx);
	if (!base64_decode_update(&ctx, &got, buf, slen, s) || !base64_decode_final(&ctx) ||
	    got != n)
		return -EINVAL;
	char again[BASE64_ENCODE_RAW_LENGTH(96) + 1];
	base64_encode_raw(again, n, buf);
	if (memcmp(again, s, slen) != 0)
		return -EINVAL; /* white space, pad bits, another alphabet: not the canonical form
		                 */
	memcpy(out, buf, n);
	return 0;
}

/* The group order L, little endian: a signature's S must be below it (RFC 8032 5.1.7). */
static const uint8_t order[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
                                  0xa2, 0xde, 0xf9, 0xde, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10};

static int s_canonical(const uint8_t s[32])
{
	for (int i = 31; i >= 0; i--) {
		if (s[i] != order[i])
			return s[i] < order[i];
	}
	return 0; /* S == L */
}

/*
 * Nettle's Ed25519 is in libhogweed, which pulls in GMP: about 0.5 MiB of the agent's resident
 * memory for a check made once a minute at most. The library is therefore loaded (by the
 * absolute path found at build time) only for the check and unloaded after it. A library that
 * cannot be loaded fails the check (the bundle is refused, the event says why).
 */
typedef int (*verify_fn)(const uint8_t *pub, size_t length, const uint8_t *msg,
                         const uint8_t *signature);

static int hogweed_verify(const uint8_t *pub, size_t len, const uint8_t *msg, const uint8_t *sig)
{
	void *h = dlopen(MG_HOGWEED_PATH, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		mg_log(MG_LOG_ERR, "cannot load the signature check (%s): %s", MG_HOGWEED_PATH,
		       dlerror());
		return -ENOSYS;
	}
	void *sym = dlsym(h, "nettle_ed25519_sha512_verify");
	int r = -ENOSYS;
	if (sym) {
		verify_fn fn;
		memcpy(&fn, &sym, sizeof(fn)); /* object to function pointer, as POSIX allows */
		r = fn(pub, len, msg, sig) ? 0 : -EBADMSG;
	} else {
		mg_log(MG_LOG_ERR, "%s has no nettle_ed25519_sha512_verify", MG_HOGWEED_PATH);
	}
	dlclose(h);
	return r;
}

int mg_ed25519_verify_b64(const char *pubkey_b64, const void *data, size_t len, const char *sig_b64)
{
	uint8_t pub[ED25519_KEY_SIZE], sig[ED25519_SIGNATURE_SIZE];
	if ((!data && len) || b64_exact(pubkey_b64, pub, sizeof(pub)) < 0 ||
	    b64_exact(sig_b64, sig, sizeof(sig)) < 0)
		return -EINVAL;
	if (!s_canonical(sig + 32))
		return -EBADMSG; /* S >= L: a malleated copy of a signature */
	static const uint8_t none[1];
	return hogweed_verify(pub, len, data ? data : none, sig);
}
