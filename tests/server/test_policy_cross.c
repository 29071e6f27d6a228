/*
 * The agent's Ed25519 check (Nettle, agent/policy/ed25519_verify.c) against the collector's
 * (OpenSSL, server/policy/policy_sign.c): on the collector's own signatures, on changed data,
 * another key, flipped bits, a malleated signature (S + L) and malformed base64, both must
 * give the same answer; and a signed bundle is accepted by mg_policy_accept() through both.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ed25519_verify.h"
#include "mg/policy_bundle.h"
#include "policy_sign.h"

static char dir[64];

static struct mg_policy_key *new_key(const char *name, char pub[MG_POLICY_PUBKEY_B64_SIZE])
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s.pem", dir, name);
	struct mg_policy_key *k = NULL;
	assert_int_equal(mg_policy_key_generate(path, &k), 0);
	assert_int_equal(mg_policy_key_public_b64(k, pub), 0);
	return k;
}

/* Both verifiers on the same input: the same answer, which is returned. */
static int both(const char *pub, const void *data, size_t len, const char *sig)
{
	int a = mg_policy_verify(pub, data, len, sig);
	int b = mg_ed25519_verify_b64(pub, data, len, sig);
	if (a != b)
		fail_msg("OpenSSL says %d, Nettle says %d (pub %s, sig %s, %zu bytes)", a, b, pub,
		         sig, len);
	return a;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Adds L (the group order) to the S half of a signature: the same point, another encoding. */
static void malleate(char sig[MG_POLICY_SIG_B64_SIZE])
{
	uint8_t raw[66] = {0};
	unsigned bits = 0, acc = 0, n = 0;
	for (size_t i = 0; i < 86; i++) {
		acc = acc << 6 | (unsigned)(strchr(b64, sig[i]) - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			raw[n++] = (uint8_t)(acc >> bits);
		}
	}
	assert_int_equal(n, 64);
	static const uint8_t order[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
	                                  0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
	                                  0,    0,    0,    0,    0,    0,    0,    0,
	                                  0,    0,    0,    0,    0,    0,    0,    0x10};
	unsigned carry = 0;
	for (int i = 0; i < 32; i++) {
		unsigned v = raw[32 + i] + order[i] + carry;
		raw[32 + i] = (uint8_t)v;
		carry = v >> 8;
	}
	for (size_t i = 0, o = 0; i < 64; i += 3) {
		unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 | raw[i + 2];
		sig[o++] = b64[v >> 18 & 63];
		sig[o++] = b64[v >> 12 & 63];
		sig[o++] = i + 1 < 64 ? b64[v >> 6 & 63] : '=';
		sig[o++] = i + 2 < 64 ? b64[v & 63] : '=';
	}
}

static void signatures_agree(void **state)
{
	(void)state;
	char pub[MG_POLICY_PUBKEY_B64_SIZE], other_pub[MG_POLICY_PUBKEY_B64_SIZE];
	struct mg_policy_key *k = new_key("a", pub), *other = new_key("b", other_pub);
	unsigned char msg[1200];
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)(i * 131 + 7);
	for (size_t len = 0; len < sizeof(msg); len += len < 70 ? 1 : 97) {
		char sig[MG_POLICY_SIG_B64_SIZE], osig[MG_POLICY_SIG_B64_SIZE];
		assert_int_equal(mg_policy_sign(k, msg, len, sig), 0);
		assert_int_equal(both(pub, msg, len, sig), 0);
		if (len > 0) {
			msg[len / 2] ^= 1;
			assert_int_equal(both(pub, msg, len, sig), -EBADMSG);
			msg[len / 2] ^= 1;
		}
		assert_int_equal(both(other_pub, msg, len, sig), -EBADMSG);
		assert_int_equal(mg_policy_sign(other, msg, len, osig), 0);
		assert_int_equal(both(pub, msg, len, osig), -EBADMSG);
		/* A flipped bit in R, in S. */
		char bad[MG_POLICY_SIG_B64_SIZE];
		memcpy(bad, sig, sizeof(bad));
		bad[3] = bad[3] == 'A' ? 'B' : 'A';
		assert_true(both(pub, msg, len, bad) < 0);
		memcpy(bad, sig, sizeof(bad));
		bad[60] = bad[60] == 'A' ? 'B' : 'A';
		assert_true(both(pub, msg, len, bad) < 0);
		/* S + L: the same signature spelled differently is refused by both. */
		memcpy(bad, sig, sizeof(bad));
		malleate(bad);
		assert_true(both(pub, msg, len, bad) < 0);
	}
	/* Malformed keys and signatures: -EINVAL from both. */
	char sig[MG_POLICY_SIG_B64_SIZE];
	assert_int_equal(mg_policy_sign(k, "x", 1, sig), 0);
	char s2[MG_POLICY_SIG_B64_SIZE + 2], p2[MG_POLICY_PUBKEY_B64_SIZE + 2];
	snprintf(s2, sizeof(s2), " %s", sig);
	assert_int_equal(both(pub, "x", 1, s2), -EINVAL); /* white space */
	snprintf(p2, sizeof(p2), "%.43s", pub);
	assert_int_equal(both(p2, "x", 1, sig), -EINVAL); /* too short */
	memcpy(p2, pub, sizeof(pub));
	p2[42] = p2[42] == 'A' ? 'B' : 'A'; /* non-zero pad bits (the last character before '=') */
	int r = both(p2, "x", 1, sig);
	assert_true(r == -EINVAL || r == -EBADMSG);
	memcpy(s2, sig, sizeof(sig));
	s2[10] = '-'; /* the URL alphabet */
	assert_int_equal(both(pub, "x", 1, s2), -EINVAL);
	assert_int_equal(both("", "x", 1, sig), -EINVAL);
	assert_int_equal(both(pub, "x", 1, ""), -EINVAL);
	mg_policy_key_free(&k);
	mg_policy_key_free(&other);
}

static void bundle_accepted_by_both(void **state)
{
	(void)state;
	char pub[MG_POLICY_PUBKEY_B64_SIZE];
	struct mg_policy_key *k = new_key("c", pub);
	static const char json[] =
	    "{\"expires_at\":\"2099-01-01T00:00:00.000000Z\",\"host_rules\":{},"
	    "\"issued_at\":\"2026-01-01T00:00:00.000000Z\",\"rules\":\"allow id 1234:5678\\n\","
	    "\"scope\":{\"hosts\":\"all\"},\"version\":7}";
	struct mg_policy_bundle *b = NULL;
	char err[256] = "";
	if (mg_policy_bundle_parse(json, sizeof(json) - 1, &b, err, sizeof(err)) < 0)
		fail_msg("the test bundle does not parse: %s", err);
	char *canon = NULL;
	size_t clen = 0;
	assert_int_equal(mg_policy_bundle_to_json(b, &canon, &clen), 0);
	mg_policy_bundle_free(&b);
	char sig[MG_POLICY_SIG_B64_SIZE];
	assert_int_equal(mg_policy_sign(k, canon, clen, sig), 0);
	const int64_t now = 1767225600000000; /* 2026-01-01 */
	mg_policy_sig_check checks[] = {mg_policy_verify, mg_ed25519_verify_b64};
	for (int i = 0; i < 2; i++) {
		assert_int_equal(mg_policy_accept(checks[i], pub, canon, clen, sig, 6, now, 0, &b,
		                                  err, sizeof(err)),
		                 0);
		assert_int_equal(b->version, 7);
		mg_policy_bundle_free(&b);
		/* A replayed older version, and a changed byte. */
		assert_int_equal(mg_policy_accept(checks[i], pub, canon, clen, sig, 7, now, 0, NULL,
		                                  err, sizeof(err)),
		                 -ESTALE);
		canon[clen / 2] ^= 1;
		assert_int_equal(mg_policy_accept(checks[i], pub, canon, clen, sig, 0, now, 0, NULL,
		                                  err, sizeof(err)),
		                 -EBADMSG);
		canon[clen / 2] ^= 1;
	}
	free(canon);
	mg_policy_key_free(&k);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/mg-polx-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* True when a mapping of this process comes from a file whose name contains name. */
static bool mapped(const char *name)
{
	FILE *f = fopen("/proc/self/maps", "r");
	assert_non_null(f);
	char line[512];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, name) != NULL;
	fclose(f);
	return found;
}

/* The agent's check loads libhogweed (and with it GMP) only while it runs: after a check,
 * neither stays in the process, valid signature or not. */
static void verifier_unloaded_after_check(void **state)
{
	(void)state;
	char pub[MG_POLICY_PUBKEY_B64_SIZE], sig[MG_POLICY_SIG_B64_SIZE];
	struct mg_policy_key *k = new_key("unload", pub);
	static const char data[] = "{\"version\":1}";
	assert_int_equal(mg_policy_sign(k, data, strlen(data), sig), 0);
	assert_false(mapped("libhogweed"));
	assert_int_equal(mg_ed25519_verify_b64(pub, data, strlen(data), sig), 0);
	assert_false(mapped("libhogweed"));
	assert_false(mapped("libgmp"));
	assert_int_equal(mg_ed25519_verify_b64(pub, data, strlen(data) - 1, sig), -EBADMSG);
	assert_false(mapped("libhogweed"));
	mg_policy_key_free(&k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(signatures_agree),
	    cmocka_unit_test(bundle_accepted_by_both),
	    cmocka_unit_test(verifier_unloaded_after_check),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
