/*
 * Policy signing (policy_sign.c), the bundle format (policy_bundle.c) and publishing from the
 * store (policy_build.c), on a throwaway SQLite store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "mg/safe_open.h"
#include "policy_build.h"
#include "policy_host.h"

#define T0  INT64_C(1795564800000000) /* 2026-11-25T00:00:00Z */
#define DAY INT64_C(86400000000)

static char g_dir[PATH_MAX];

static void path_in_dir(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", g_dir, name);
}

static struct mg_policy_key *new_key(const char *name)
{
	char path[PATH_MAX + 64];
	struct mg_policy_key *k = NULL;
	path_in_dir(path, sizeof(path), name);
	unlink(path);
	assert_int_equal(mg_policy_key_generate(path, &k), 0);
	assert_non_null(k);
	return k;
}

static void flip_sig_bit(const char *sig, char out[MG_POLICY_SIG_B64_SIZE], unsigned bit)
{
	unsigned char raw[66];
	assert_int_equal(EVP_DecodeBlock(raw, (const unsigned char *)sig, 88), 66);
	raw[bit / 8] ^= (unsigned char)(1u << (bit % 8));
	EVP_EncodeBlock((unsigned char *)out, raw, 64);
}

/* ---- signing ---- */

static void test_sign_roundtrip(void **state)
{
	(void)state;
	char path[PATH_MAX + 64], pub[MG_POLICY_PUBKEY_B64_SIZE], pub2[MG_POLICY_PUBKEY_B64_SIZE];
	char sig[MG_POLICY_SIG_B64_SIZE];
	struct mg_policy_key *k = NULL, *loaded = NULL;
	struct stat st;
	const char msg[] = "{\"version\":1}";

	path_in_dir(path, sizeof(path), "sign.pem");
	unlink(path);
	assert_int_equal(mg_policy_key_generate(path, &k), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(mg_policy_key_generate(path, NULL), -EEXIST); /* never overwritten */

	assert_int_equal(mg_policy_key_load(path, &loaded), 0);
	assert_int_equal(mg_policy_key_public_b64(k, pub), 0);
	assert_int_equal(mg_policy_key_public_b64(loaded, pub2), 0);
	assert_int_equal(strlen(pub), 44);
	assert_string_equal(pub, pub2);

	assert_int_equal(mg_policy_sign(loaded, msg, strlen(msg), sig), 0);
	assert_int_equal(strlen(sig), 88);
	assert_int_equal(mg_policy_verify(pub, msg, strlen(msg), sig), 0);
	/* Ed25519 is deterministic: the same key and bytes give the same signature. */
	char sig2[MG_POLICY_SIG_B64_SIZE];
	assert_int_equal(mg_policy_sign(k, msg, strlen(msg), sig2), 0);
	assert_string_equal(sig, sig2);
	/* Empty data is signable too. */
	assert_int_equal(mg_policy_sign(k, NULL, 0, sig2), 0);
	assert_int_equal(mg_policy_verify(pub, NULL, 0, sig2), 0);

	/* A key readable by others is refused. */
	assert_int_equal(chmod(path, 0644), 0);
	mg_policy_key_free(&loaded);
	assert_int_equal(mg_policy_key_load(path, &loaded), -EPERM);
	assert_null(loaded);
	mg_policy_key_free(&k);
	assert_null(k);
	mg_policy_key_free(&k); /* NULL accepted */
}

static void test_sign_tamper(void **state)
{
	(void)state;
	struct mg_policy_key *k = new_key("tamper.pem");
	char pub[MG_POLICY_PUBKEY_B64_SIZE], sig[MG_POLICY_SIG_B64_SIZE],
	    bad[MG_POLICY_SIG_B64_SIZE];
	char msg[] = "allow id 1d6b:0002\n";
	size_t n = strlen(msg);

	assert_int_equal(mg_policy_key_public_b64(k, pub), 0);
	assert_int_equal(mg_policy_sign(k, msg, n, sig), 0);
	for (unsigned bit = 0; bit < n * 8; bit += 7) {
		msg[bit / 8] ^= (char)(1u << (bit % 8));
		assert_int_equal(mg_policy_verify(pub, msg, n, sig), -EBADMSG);
		msg[bit / 8] ^= (char)(1u << (bit % 8));
	}
	assert_int_equal(mg_policy_verify(pub, msg, n - 1, sig), -EBADMSG); /* truncated */
	for (unsigned bit = 0; bit < 512; bit += 13) {
		flip_sig_bit(sig, bad, bit);
		assert_int_equal(mg_policy_verify(pub, msg, n, bad), -EBADMSG);
	}
	assert_int_equal(mg_policy_verify(pub, msg, n, sig), 0);

	/* Malformed key or signature text. */
	strcpy(bad, sig);
	bad[87] = 'A'; /* "==" padding broken */
	assert_int_equal(mg_policy_verify(pub, msg, n, bad), -EINVAL);
	assert_int_equal(mg_policy_verify(pub, msg, n, "AAAA"), -EINVAL);
	assert_int_equal(mg_policy_verify(pub, msg, n, NULL), -EINVAL);
	assert_int_equal(mg_policy_verify("AAAA", msg, n, sig), -EINVAL);
	char pub_bad[MG_POLICY_PUBKEY_B64_SIZE];
	strcpy(pub_bad, pub);
	pub_bad[42] = pub_bad[42] == 'B' ? 'C' : 'B'; /* non-zero pad bits: not canonical */
	assert_int_equal(mg_policy_verify(pub_bad, msg, n, sig), -EINVAL);
	mg_policy_key_free(&k);
}

static void test_sign_wrong_key(void **state)
{
	(void)state;
	struct mg_policy_key *a = new_key("a.pem"), *b = new_key("b.pem");
	char pub_a[MG_POLICY_PUBKEY_B64_SIZE], pub_b[MG_POLICY_PUBKEY_B64_SIZE];
	char sig[MG_POLICY_SIG_B64_SIZE];

	assert_int_equal(mg_policy_key_public_b64(a, pub_a), 0);
	assert_int_equal(mg_policy_key_public_b64(b, pub_b), 0);
	assert_string_not_equal(pub_a, pub_b);
	assert_int_equal(mg_policy_sign(a, "x", 1, sig), 0);
	assert_int_equal(mg_policy_verify(pub_a, "x", 1, sig), 0);
	assert_int_equal(mg_policy_verify(pub_b, "x", 1, sig), -EBADMSG);
	mg_policy_key_free(&a);
	mg_policy_key_free(&b);
}

static int run(const char *cmd)
{
	int st = system(cmd);
	return st == -1 ? -1 : WEXITSTATUS(st);
}

/* Cross-check with the openssl command line: key, public key export and signature. */
static void test_sign_openssl_cli(void **state)
{
	(void)state;
	char key[PATH_MAX + 64], data[PATH_MAX + 64], sigf[PATH_MAX + 64], cmd[4 * PATH_MAX];
	char pub[MG_POLICY_PUBKEY_B64_SIZE], cli_pub[128] = "", sig[MG_POLICY_SIG_B64_SIZE];
	struct mg_policy_key *k = NULL;
	unsigned char raw[128];
	char *bytes = NULL;
	size_t len = 0;
	const char msg[] = "{\"rules\":\"allow\\n\",\"version\":3}";

	if (run("command -v openssl >/dev/null 2>&1") != 0)
		skip();
	path_in_dir(key, sizeof(key), "cli.pem");
	path_in_dir(data, sizeof(data), "cli.data");
	path_in_dir(sigf, sizeof(sigf), "cli.sig");
	unlink(key);
	snprintf(cmd, sizeof(cmd), "openssl genpkey -algorithm ed25519 -out '%s'", key);
	assert_int_equal(run(cmd), 0);
	assert_int_equal(chmod(key, 0600), 0);
	assert_int_equal(mg_policy_key_load(key, &k), 0);
	assert_int_equal(mg_policy_key_public_b64(k, pub), 0);

	/* The raw public key is the last 32 bytes of the DER SubjectPublicKeyInfo. */
	snprintf(cmd, sizeof(cmd),
	         "openssl pkey -in '%s' -pubout -outform DER | tail -c 32 | base64", key);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(cli_pub, sizeof(cli_pub), p));
	assert_int_equal(pclose(p), 0);
	cli_pub[strcspn(cli_pub, "\n")] = '\0';
	assert_string_equal(pub, cli_pub);

	assert_int_equal(mg_write_file_atomic(data, msg, strlen(msg), 0600), 0);
	snprintf(cmd, sizeof(cmd), "openssl pkeyutl -sign -rawin -inkey '%s' -in '%s' -out '%s'",
	         key, data, sigf);
	assert_int_equal(run(cmd), 0);
	int fd = open(sigf, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(mg_read_fd(fd, 1024, &bytes, &len), 0);
	close(fd);
	assert_int_equal(len, 64);
	memcpy(raw, bytes, 64);
	EVP_EncodeBlock((unsigned char *)sig, raw, 64);
	assert_int_equal(mg_policy_verify(pub, msg, strlen(msg), sig), 0);
	assert_int_equal(mg_policy_verify(pub, msg, strlen(msg) - 1, sig), -EBADMSG);

	/* And ours equals the command line's (Ed25519 is deterministic). */
	char ours[MG_POLICY_SIG_B64_SIZE];
	assert_int_equal(mg_policy_sign(k, msg, strlen(msg), ours), 0);
	assert_string_equal(ours, sig);
	free(bytes);
	mg_policy_key_free(&k);
}

/* ---- bundle format ---- */

static void test_bundle_canonical(void **state)
{
	(void)state;
	struct mg_policy_host_rules hosts[] = {{12, (char[]){"block id 0781:5581\n"}},
	                                       {3, (char[]){"allow id 046d:c52b\n"}}};
	struct mg_policy_bundle b = {
	    .version = 7,
	    .issued_us = T0,
	    .expires_us = T0 + DAY,
	    .all_hosts = true,
	    .rules = (char[]){"allow id 1d6b:0002\nallow with-interface 03:*:*\n"},
	    .hosts = hosts,
	    .n_hosts = 2,
	};
	const char *want =
	    "{\"expires_at\":\"2026-11-26T00:00:00.000000Z\",\"host_rules\":{\"12\":\"block id "
	    "0781:5581\\n\",\"3\":\"allow id 046d:c52b\\n\"},\"issued_at\":\"2026-11-25T00:00:"
	    "00.000000Z\",\"rules\":\"allow id 1d6b:0002\\nallow with-interface "
	    "03:*:*\\n\",\"scope\":{\"hosts\":\"all\"},\"version\":7}";
	char *json = NULL, *again = NULL;
	size_t len = 0, len2 = 0;
	struct mg_policy_bundle *p = NULL;
	char err[256];

	/* host_rules must be in increasing id order */
	assert_int_equal(mg_policy_bundle_to_json(&b, &json, &len), -EINVAL);
	hosts[0] = (struct mg_policy_host_rules){3, (char[]){"allow id 046d:c52b\n"}};
	hosts[1] = (struct mg_policy_host_rules){12, (char[]){"block id 0781:5581\n"}};
	assert_int_equal(mg_policy_bundle_to_json(&b, &json, &len), 0);
	assert_string_equal(json, want);
	assert_int_equal(len, strlen(want));

	assert_int_equal(mg_policy_bundle_parse(json, len, &p, err, sizeof(err)), 0);
	assert_int_equal(p->version, 7);
	assert_int_equal(p->issued_us, T0);
	assert_int_equal(p->expires_us, T0 + DAY);
	assert_true(p->all_hosts);
	assert_string_equal(p->rules, b.rules);
	assert_int_equal(p->n_hosts, 2);
	assert_string_equal(mg_policy_bundle_host_rules(p, 12), "block id 0781:5581\n");
	assert_string_equal(mg_policy_bundle_host_rules(p, 3), "allow id 046d:c52b\n");
	assert_null(mg_policy_bundle_host_rules(p, 4));
	assert_true(mg_policy_bundle_in_scope(p, 99));
	assert_int_equal(mg_policy_bundle_to_json(p, &again, &len2), 0);
	assert_string_equal(again, want);
	mg_policy_bundle_free(&p);
	assert_null(p);
	free(json);
	free(again);

	/* Per-host scope, no host rules, no rules: host_rules is left out. */
	int64_t scope[] = {2, 5};
	struct mg_policy_bundle c = {.version = 1,
	                             .issued_us = 0,
	                             .expires_us = 1,
	                             .scope_hosts = scope,
	                             .n_scope_hosts = 2,
	                             .rules = (char[]){""}};
	assert_int_equal(mg_policy_bundle_to_json(&c, &json, NULL), 0);
	assert_string_equal(json, "{\"expires_at\":\"1970-01-01T00:00:00.000001Z\",\"issued_at\":"
	                          "\"1970-01-01T00:00:00.000000Z\",\"rules\":\"\",\"scope\":{"
	                          "\"hosts\":[2,5]},\"version\":1}");
	assert_int_equal(mg_policy_bundle_parse(json, strlen(json), &p, err, sizeof(err)), 0);
	assert_false(p->all_hosts);
	assert_true(mg_policy_bundle_in_scope(p, 5));
	assert_false(mg_policy_bundle_in_scope(p, 3));
	mg_policy_bundle_free(&p);
	free(json);
}

#define HEAD "{\"expires_at\":\"2026-11-26T00:00:00Z\",\"issued_at\":\"2026-11-25T00:00:00Z\","

static void expect_reject(const char *json, int want)
{
	struct mg_policy_bundle *p = (struct mg_policy_bundle *)0x1;
	char err[256] = "";
	int r = mg_policy_bundle_parse(json, strlen(json), &p, err, sizeof(err));
	if (r != want)
		fail_msg("%s: got %d, want %d (%s)", json, r, want, err);
	assert_ptr_equal(p, (struct mg_policy_bundle *)0x1); /* untouched */
	assert_true(err[0] != '\0');
}

static void test_bundle_parse_rejects(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "",
	    "not json",
	    "[]",
	    "{}",
	    HEAD "\"rules\":\"\",\"scope\":{\"hosts\":\"all\"}}", /* no version */
	    HEAD
	    "\"rules\":\"\",\"scope\":{\"hosts\":\"all\"},\"version\":1,\"x\":1}", /* unknown */
	    HEAD "\"rules\":\"\",\"scope\":{\"hosts\":\"all\"},\"version\":1,\"version\":2}",
	    HEAD "\"rules\":\"\",\"scope\":{\"hosts\":\"all\"},\"version\":0}",
	    HEAD "\"rules\":\"\",\"scope\":{\"hosts\":\"all\"},\"version\":-1}",
	    HEAD "\"rules\":\"\",\"scope\":{\"hosts\":\"all\"},\"version\":9007199254740992}",
	    HEAD "\"rules\":\"\",\"scope\":{\"hosts\":\"all\"},\"version\":1.0}",
	    HEAD "\"rules\":\"\",\"scope\":{\"hosts\":\"all\"},\"version\":\"1\"}",
	    /* times */
	    "{\"expires_at\":\"2026-11-26\",\"issued_at\":\"2026-11-25T00:00:00Z\",\"rules\":\"\","
	    "\"scope\":{\"hosts\":\"all\"},\"version\":1}",
	    "{\"expires_at\":\"2026-11-25T00:00:00Z\",\"issued_at\":\"2026-11-25T00:00:00Z\","
	    "\"rules\":\"\",\"scope\":{\"hosts\":\"all\"},\"version\":1}",
	    "{\"expires_at\":1,\"issued_at\":\"2026-11-25T00:00:00Z\",\"rules\":\"\","
	    "\"scope\":{\"hosts\":\"all\"},\"version\":1}",
	    /* scope */
	    HEAD "\"rules\":\"\",\"scope\":\"all\",\"version\":1}",
	    HEAD "\"rules\":\"\",\"scope\":{},\"version\":1}",
	    HEAD "\"rules\":\"\",\"scope\":{\"hosts\":\"some\"},\"version\":1}",
	    HEAD "\"rules\":\"\",\"scope\":{\"hosts\":\"all\",\"x\":1},\"version\":1}",
	    HEAD "\"rules\":\"\",\"scope\":{\"hosts\":[]},\"version\":1}",
	    HEAD "\"rules\":\"\",\"scope\":{\"hosts\":[2,1]},\"version\":1}",
	    HEAD "\"rules\":\"\",\"scope\":{\"hosts\":[1,1]},\"version\":1}",
	    HEAD "\"rules\":\"\",\"scope\":{\"hosts\":[0]},\"version\":1}",
	    HEAD "\"rules\":\"\",\"scope\":{\"hosts\":[\"1\"]},\"version\":1}",
	    /* rules text */
	    HEAD "\"rules\":1,\"scope\":{\"hosts\":\"all\"},\"version\":1}",
	    HEAD "\"rules\":\"allow\",\"scope\":{\"hosts\":\"all\"},\"version\":1}",
	    HEAD "\"rules\":\"allow\\n\\nblock\\n\",\"scope\":{\"hosts\":\"all\"},\"version\":1}",
	    HEAD "\"rules\":\"allow\\r\\n\",\"scope\":{\"hosts\":\"all\"},\"version\":1}",
	    HEAD "\"rules\":\"allow\\u0001\\n\",\"scope\":{\"hosts\":\"all\"},\"version\":1}",
	    HEAD "\"rules\":\"allow\\u0000\\n\",\"scope\":{\"hosts\":\"all\"},\"version\":1}",
	    HEAD "\"rules\":\"allow \xff\\n\",\"scope\":{\"hosts\":\"all\"},\"version\":1}",
	    HEAD "\"rules\":\"allow \\ud800\\n\",\"scope\":{\"hosts\":\"all\"},\"version\":1}",
	    /* host_rules */
	    HEAD "\"host_rules\":[],\"rules\":\"\",\"scope\":{\"hosts\":\"all\"},\"version\":1}",
	    HEAD "\"host_rules\":{\"012\":\"a\\n\"},\"rules\":\"\",\"scope\":{\"hosts\":\"all\"},"
	         "\"version\":1}",
	    HEAD "\"host_rules\":{\"0\":\"a\\n\"},\"rules\":\"\",\"scope\":{\"hosts\":\"all\"},"
	         "\"version\":1}",
	    HEAD "\"host_rules\":{\"x\":\"a\\n\"},\"rules\":\"\",\"scope\":{\"hosts\":\"all\"},"
	         "\"version\":1}",
	    HEAD "\"host_rules\":{\"9007199254740992\":\"a\\n\"},\"rules\":\"\",\"scope\":{"
	         "\"hosts\":\"all\"},\"version\":1}",
	    HEAD "\"host_rules\":{\"1\":\"\"},\"rules\":\"\",\"scope\":{\"hosts\":\"all\"},"
	         "\"version\":1}",
	    HEAD "\"host_rules\":{\"1\":\"a\"},\"rules\":\"\",\"scope\":{\"hosts\":\"all\"},"
	         "\"version\":1}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_reject(bad[i], -EINVAL);

	/* The smallest valid neighbours of the cases above are accepted. */
	struct mg_policy_bundle *p = NULL;
	const char *ok = HEAD "\"host_rules\":{\"9007199254740991\":\"a\\n\"},\"rules\":\"\","
	                      "\"scope\":{\"hosts\":[1,9007199254740991]},\"version\":"
	                      "9007199254740991}";
	assert_int_equal(mg_policy_bundle_parse(ok, strlen(ok), &p, NULL, 0), 0);
	assert_int_equal(p->version, UINT64_C(9007199254740991));
	assert_string_equal(mg_policy_bundle_host_rules(p, INT64_C(9007199254740991)), "a\n");
	mg_policy_bundle_free(&p);

	/* A line of 4095 bytes is fine, 4096 is not. */
	char *line = malloc(4200 + 200);
	assert_non_null(line);
	for (size_t n = 4095; n <= 4096; n++) {
		int len = snprintf(line, 200, HEAD "\"rules\":\"");
		memset(line + len, 'a', n);
		snprintf(line + (size_t)len + n, 200,
		         "\\n\",\"scope\":{\"hosts\":\"all\"},\"version\":1}");
		int r = mg_policy_bundle_parse(line, strlen(line), &p, NULL, 0);
		assert_int_equal(r, n == 4095 ? 0 : -EINVAL);
		mg_policy_bundle_free(&p);
	}
	free(line);
}

static void test_bundle_parse_limits(void **state)
{
	(void)state;
	struct mg_policy_bundle *p = NULL;
	char err[256];
	/* Rules of exactly 16 MiB (16384 lines of 1024 bytes) pass; one more rule anywhere,
	 * in "rules" or in "host_rules", is over the cap of the whole bundle. */
	static const char *const tails[] = {
	    "\",\"scope\":{\"hosts\":\"all\"},\"version\":1}",
	    "r\\n\",\"scope\":{\"hosts\":\"all\"},\"version\":1}",
	    "\",\"host_rules\":{\"1\":\"r\\n\"},\"scope\":{\"hosts\":\"all\"},\"version\":1}",
	};
	size_t lines = MG_POLICY_MAX_RULES / 1024;
	char *buf = malloc(lines * 1025 + 1024);
	assert_non_null(buf);
	for (size_t t = 0; t < 3; t++) {
		size_t len = (size_t)snprintf(buf, 512, HEAD "\"rules\":\"");
		for (size_t i = 0; i < lines; i++) {
			memset(buf + len, 'r', 1023);
			memcpy(buf + len + 1023, "\\n", 2);
			len += 1025;
		}
		len += (size_t)snprintf(buf + len, 512, "%s", tails[t]);
		int r = mg_policy_bundle_parse(buf, len, &p, err, sizeof(err));
		assert_int_equal(r, t == 0 ? 0 : -EFBIG);
		if (t == 0) {
			assert_int_equal(strlen(p->rules), MG_POLICY_MAX_RULES);
			mg_policy_bundle_free(&p);
		}
		assert_null(p);
	}
	free(buf);

	/* Input above the bundle cap is refused before parsing. */
	buf = calloc(1, MG_POLICY_MAX_BUNDLE + 1u);
	assert_non_null(buf);
	assert_int_equal(
	    mg_policy_bundle_parse(buf, MG_POLICY_MAX_BUNDLE + 1u, &p, err, sizeof(err)), -EFBIG);
	free(buf);
}

/* ---- publishing ---- */

struct fixture {
	struct mg_store *s;
	struct mg_policy_key *key;
	char pub[MG_POLICY_PUBKEY_B64_SIZE];
};

static int setup_store(void **state)
{
	static int counter;
	char url[PATH_MAX + 64], msg[256];
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(url, sizeof(url), "sqlite:%s/store%d.db", g_dir, ++counter);
	if (mg_store_open(url, &f->s, msg, sizeof(msg)) < 0) {
		free(f);
		return -1;
	}
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/publish%d.pem", g_dir, counter);
	if (mg_policy_key_generate(path, &f->key) < 0 ||
	    mg_policy_key_public_b64(f->key, f->pub) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown_store(void **state)
{
	struct fixture *f = *state;
	mg_store_close(&f->s);
	mg_policy_key_free(&f->key);
	free(f);
	return 0;
}

/* The stored policy version, checked as a terminal would. */
static int terminal_check(struct fixture *f, uint64_t version, uint64_t current, int64_t now,
                          int64_t host, struct mg_policy_bundle **out)
{
	struct mg_store_policy *p = NULL;
	char sig[MG_POLICY_SIG_B64_SIZE] = "";
	char err[256];
	assert_int_equal(mg_store_policy_get(f->s, version, &p), 0);
	assert_int_equal(p->sig_len, 88);
	memcpy(sig, p->sig, p->sig_len);
	int r = mg_policy_verify_bundle(f->pub, p->json, p->json_len, sig, current, now, host, out,
	                                err, sizeof(err));
	mg_store_policy_free(&p);
	return r;
}

static void test_publish_versions(void **state)
{
	struct fixture *f = *state;
	const struct mg_store_actor by = {.admin = "alice", .remote = "192.0.2.1"};
	struct mg_policy_bundle *b = NULL;
	int64_t host = 0, rule = 0;
	uint64_t v = 0, latest = 0;

	assert_int_equal(mg_store_host_add(f->s, "pc-01", "0a:1b", T0, &host), 0);
	assert_int_equal(mg_store_rule_add(f->s, &by, "allow id 1d6b:0002", 0, 0, NULL, T0, &rule),
	                 0);
	assert_int_equal(mg_store_rule_add(f->s, &by, "allow id 0781:5581 serial \"4C53\"", host, 0,
	                                   "USB memory for the counter", T0, &rule),
	                 0);
	assert_int_equal(mg_policy_publish(f->s, &by, f->key, T0, 7 * DAY, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(mg_store_policy_latest(f->s, &latest), 0);
	assert_int_equal(latest, 1);

	assert_int_equal(terminal_check(f, 1, 0, T0 + 1, host, &b), 0);
	assert_int_equal(b->version, 1);
	assert_int_equal(b->issued_us, T0);
	assert_int_equal(b->expires_us, T0 + 7 * DAY);
	assert_true(b->all_hosts);
	assert_string_equal(b->rules, "allow id 1d6b:0002\n");
	assert_string_equal(mg_policy_bundle_host_rules(b, host),
	                    "allow id 0781:5581 serial \"4C53\"\n");
	mg_policy_bundle_free(&b);

	/* A second rule, expiring in one day, gives version 2 expiring with it. */
	assert_int_equal(
	    mg_store_rule_add(f->s, &by, "allow id 046d:c52b", 0, T0 + DAY, NULL, T0 + 10, &rule),
	    0);
	assert_int_equal(mg_policy_publish(f->s, &by, f->key, T0 + 20, 7 * DAY, &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(terminal_check(f, 2, 1, T0 + 30, host, &b), 0);
	assert_string_equal(b->rules, "allow id 1d6b:0002\nallow id 046d:c52b\n");
	assert_int_equal(b->expires_us, T0 + DAY);
	mg_policy_bundle_free(&b);
	/* A terminal on version 2 refuses version 1 and version 2 again. */
	assert_int_equal(terminal_check(f, 1, 2, T0 + 30, host, NULL), -ESTALE);
	assert_int_equal(terminal_check(f, 2, 2, T0 + 30, host, NULL), -ESTALE);

	/* After the rule's expiry it is left out of version 3. */
	assert_int_equal(mg_policy_publish(f->s, &by, f->key, T0 + DAY, 7 * DAY, &v), 0);
	assert_int_equal(v, 3);
	assert_int_equal(terminal_check(f, 3, 2, T0 + DAY + 1, host, &b), 0);
	assert_string_equal(b->rules, "allow id 1d6b:0002\n");
	mg_policy_bundle_free(&b);

	/* The publications are in the admin action log. */
	uint64_t rev = 0;
	assert_int_equal(mg_store_rules_revision(f->s, &rev), 0);
	assert_true(rev >= 3);
	struct mg_store_policy *p = NULL;
	assert_int_equal(mg_store_policy_get(f->s, 0, &p), 0);
	assert_int_equal(p->version, 3);
	assert_int_equal(p->rules_revision, rev);
	mg_store_policy_free(&p);

	/* A stored rule that is not valid rules text stops publishing; nothing is stored. */
	assert_int_equal(mg_store_rule_add(f->s, &by, "allow id 1234:5678 name \"a\x01b\"", 0, 0,
	                                   NULL, T0 + DAY, &rule),
	                 0);
	assert_int_equal(mg_policy_publish(f->s, &by, f->key, T0 + DAY, 7 * DAY, &v), -EINVAL);
	assert_int_equal(mg_store_policy_latest(f->s, &latest), 0);
	assert_int_equal(latest, 3);

	/* Bad arguments. */
	assert_int_equal(mg_policy_publish(f->s, &by, NULL, T0, DAY, &v), -EINVAL);
	assert_int_equal(mg_policy_publish(f->s, &by, f->key, T0, 0, &v), -EINVAL);
	assert_int_equal(v, 3);
}

static void test_verify_bundle_refusals(void **state)
{
	struct fixture *f = *state;
	struct mg_policy_key *other = new_key("other.pem");
	struct mg_policy_bundle *b = NULL;
	int64_t scope[] = {4, 9};
	struct mg_policy_bundle src = {.version = 5,
	                               .issued_us = T0,
	                               .expires_us = T0 + DAY,
	                               .scope_hosts = scope,
	                               .n_scope_hosts = 2,
	                               .rules = (char[]){"allow id 1d6b:0002\n"}};
	char *json = NULL, sig[MG_POLICY_SIG_B64_SIZE], other_sig[MG_POLICY_SIG_B64_SIZE];
	char err[256];
	size_t len = 0;

	assert_int_equal(mg_policy_bundle_to_json(&src, &json, &len), 0);
	assert_int_equal(mg_policy_sign(f->key, json, len, sig), 0);
	assert_int_equal(mg_policy_sign(other, json, len, other_sig), 0);

	assert_int_equal(
	    mg_policy_verify_bundle(f->pub, json, len, sig, 4, T0, 9, &b, err, sizeof(err)), 0);
	assert_int_equal(b->version, 5);
	mg_policy_bundle_free(&b);
	/* older or same version */
	assert_int_equal(
	    mg_policy_verify_bundle(f->pub, json, len, sig, 5, T0, 9, &b, err, sizeof(err)),
	    -ESTALE);
	assert_null(b);
	assert_int_equal(mg_policy_verify_bundle(f->pub, json, len, sig, 6, T0, 9, &b, NULL, 0),
	                 -ESTALE);
	/* expired: valid until just before expires_at */
	assert_int_equal(
	    mg_policy_verify_bundle(f->pub, json, len, sig, 0, T0 + DAY - 1, 4, NULL, NULL, 0), 0);
	assert_int_equal(
	    mg_policy_verify_bundle(f->pub, json, len, sig, 0, T0 + DAY, 4, &b, err, sizeof(err)),
	    -ETIME);
	assert_string_equal(err, "expired");
	/* signed by another key */
	assert_int_equal(
	    mg_policy_verify_bundle(f->pub, json, len, other_sig, 0, T0, 4, &b, err, sizeof(err)),
	    -EBADMSG);
	/* a changed byte */
	json[len - 2] = '6'; /* version 5 -> 6 */
	assert_int_equal(mg_policy_verify_bundle(f->pub, json, len, sig, 0, T0, 4, &b, NULL, 0),
	                 -EBADMSG);
	json[len - 2] = '5';
	/* host not in scope */
	assert_int_equal(mg_policy_verify_bundle(f->pub, json, len, sig, 0, T0, 5, &b, NULL, 0),
	                 -EPERM);
	assert_null(b);
	/* a validly signed document that is not a bundle */
	assert_int_equal(mg_policy_sign(f->key, "{}", 2, sig), 0);
	assert_int_equal(
	    mg_policy_verify_bundle(f->pub, "{}", 2, sig, 0, T0, 4, &b, err, sizeof(err)), -EINVAL);
	free(json);
	mg_policy_key_free(&other);
}

/* Issue 14, finding 6: per-host bundles cut from the stored global version, signed per host,
 * and the bounded per-host cache. */
static void test_host_bundles_cache(void **state)
{
	struct fixture *f = *state;
	struct mg_store_policy *p = NULL;
	struct mg_policy_cache *c = NULL;
	struct mg_policy_bundle *b = NULL;
	int64_t h[3] = {0}, rule = 0;
	char *json[3] = {NULL}, *again = NULL, sig[3][MG_POLICY_SIG_B64_SIZE], sig2[89], err[128];
	size_t len[3] = {0}, n = 0, bytes = 0, alen = 0;
	uint64_t v = 0;

	assert_int_equal(mg_store_host_add(f->s, "pc-01", "0a:01", T0, &h[0]), 0);
	assert_int_equal(mg_store_host_add(f->s, "pc-02", "0a:02", T0, &h[1]), 0);
	assert_int_equal(mg_store_host_add(f->s, "pc-03", "0a:03", T0, &h[2]), 0);
	assert_int_equal(mg_store_rule_add(f->s, NULL, "allow id 1d6b:0002", 0, 0, NULL, T0, &rule),
	                 0);
	assert_int_equal(mg_store_rule_add(f->s, NULL, "allow id 0781:5581 serial \"HOST-ONE\"",
	                                   h[0], 0, NULL, T0, &rule),
	                 0);
	assert_int_equal(mg_store_rule_add(f->s, NULL, "allow id 0781:5581 serial \"HOST-TWO\"",
	                                   h[1], 0, NULL, T0, &rule),
	                 0);
	assert_int_equal(mg_policy_publish(f->s, NULL, f->key, T0, 7 * DAY, &v), 0);
	assert_int_equal(mg_store_policy_get(f->s, v, &p), 0);
	/* the stored global version holds both hosts' rules */
	assert_non_null(strstr(p->json, "HOST-ONE"));
	assert_non_null(strstr(p->json, "HOST-TWO"));

	/* room for two hosts */
	assert_int_equal(mg_policy_cache_new(2, 1 << 20, &c), 0);
	assert_int_equal(mg_policy_cache_lookup(c, h[0], v, &json[0], &len[0], sig[0]), -ENOENT);
	/* nothing parsed yet: a build needs the stored version */
	assert_int_equal(mg_policy_cache_build(c, f->key, NULL, v, h[0], &json[0], &len[0], sig[0]),
	                 -ENOENT);
	assert_int_equal(mg_policy_cache_build(c, f->key, p, v, h[0], &json[0], &len[0], sig[0]),
	                 0);
	assert_int_equal(mg_policy_cache_build(c, f->key, NULL, v, h[1], &json[1], &len[1], sig[1]),
	                 0);
	for (int i = 0; i < 2; i++) {
		int64_t other = h[1 - i];
		assert_int_equal(mg_policy_verify_bundle(f->pub, json[i], len[i], sig[i], 0, T0 + 1,
		                                         h[i], &b, err, sizeof(err)),
		                 0);
		assert_false(b->all_hosts);
		assert_int_equal(b->n_scope_hosts, 1);
		assert_int_equal(b->scope_hosts[0], h[i]);
		assert_string_equal(b->rules, "allow id 1d6b:0002\n");
		assert_int_equal(b->n_hosts, 1);
		assert_int_equal(b->hosts[0].host_id, h[i]);
		mg_policy_bundle_free(&b);
		/* another host's terminal refuses it */
		assert_int_equal(mg_policy_verify_bundle(f->pub, json[i], len[i], sig[i], 0, T0 + 1,
		                                         other, &b, err, sizeof(err)),
		                 -EPERM);
	}
	assert_non_null(strstr(json[0], "HOST-ONE"));
	assert_null(strstr(json[0], "HOST-TWO"));
	assert_non_null(strstr(json[1], "HOST-TWO"));
	assert_null(strstr(json[1], "HOST-ONE"));
	/* a host without own rules: the global ones only */
	assert_int_equal(mg_policy_cache_build(c, f->key, NULL, v, h[2], &json[2], &len[2], sig[2]),
	                 0);
	assert_null(strstr(json[2], "HOST-"));
	assert_null(strstr(json[2], "host_rules"));

	/* bounded: three hosts in a cache of two, the least recently used went */
	mg_policy_cache_stats(c, &n, &bytes);
	assert_int_equal(n, 2);
	assert_int_equal(bytes, len[1] + len[2]);
	assert_int_equal(mg_policy_cache_lookup(c, h[0], v, &again, &alen, sig2), -ENOENT);
	assert_int_equal(mg_policy_cache_lookup(c, h[1], v + 1, &again, &alen, sig2), -ENOENT);
	assert_int_equal(mg_policy_cache_lookup(c, h[1], v, &again, &alen, sig2), 0);
	assert_int_equal(alen, len[1]);
	assert_string_equal(again, json[1]);
	assert_string_equal(sig2, sig[1]);
	free(again);
	/* the same (host, version) is the same bytes, uncached too */
	assert_int_equal(mg_policy_host_sign(f->key, p, h[0], &again, &alen, sig2), 0);
	assert_string_equal(again, json[0]);
	assert_string_equal(sig2, sig[0]);
	free(again);
	mg_policy_cache_free(&c);
	assert_null(c);

	/* a byte bound smaller than four bundles: nothing is kept, answers still come */
	assert_int_equal(mg_policy_cache_new(8, len[0] * 2, &c), 0);
	assert_int_equal(mg_policy_cache_build(c, f->key, p, v, h[0], &again, &alen, sig2), 0);
	free(again);
	mg_policy_cache_stats(c, &n, &bytes);
	assert_int_equal(n, 0);
	assert_int_equal(bytes, 0);
	mg_policy_cache_free(&c);
	for (int i = 0; i < 3; i++)
		free(json[i]);
	mg_store_policy_free(&p);
}

static int rm_dir(void)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
	return run(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sign_roundtrip),
	    cmocka_unit_test(test_sign_tamper),
	    cmocka_unit_test(test_sign_wrong_key),
	    cmocka_unit_test(test_sign_openssl_cli),
	    cmocka_unit_test(test_bundle_canonical),
	    cmocka_unit_test(test_bundle_parse_rejects),
	    cmocka_unit_test(test_bundle_parse_limits),
	    cmocka_unit_test_setup_teardown(test_publish_versions, setup_store, teardown_store),
	    cmocka_unit_test_setup_teardown(test_host_bundles_cache, setup_store, teardown_store),
	    cmocka_unit_test_setup_teardown(test_verify_bundle_refusals, setup_store,
	                                    teardown_store),
	};
	const char *tmp = getenv("TMPDIR");
	snprintf(g_dir, sizeof(g_dir), "%s/mg-policy-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(g_dir))
		return 1;
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	rm_dir();
	return r;
}
