/*
 * The pure parser of POST /v1/staff/registrations bodies (server/api/api_staff_body.c, issue
 * 15) and its strict base64 decoder: what is accepted, and that each malformed field is refused
 * with an error naming it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "api_staff_body.h"

static const char *const good =
    "{\"registration_id\":\"r-1.x_2\",\"user\":\"suzuki@city.local\",\"label\":\"鍵 1\","
    "\"credential\":{\"id\":\"AAECAw==\",\"public_key\":\"BAUG\",\"cose_alg\":-7,"
    "\"rp_id\":\"mynaguard\",\"uv\":false,\"aaguid\":\"00112233445566778899aabbccddeeff\","
    "\"attestation\":{\"fmt\":\"packed\",\"authdata\":\"WCU=\","
    "\"clientdata_hash\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\"sig\":\"MEU=\"}}}";

/* good with the member at path (a.b.c) replaced by v (consumed; NULL: removed). */
static char *edit(const char *path, json_t *v)
{
	json_t *root = json_loads(good, 0, NULL), *o = root;
	char key[128], *dot, buf[128];
	snprintf(buf, sizeof(buf), "%s", path);
	char *p = buf;
	while ((dot = strchr(p, '.')) != NULL) {
		*dot = '\0';
		o = json_object_get(o, p);
		p = dot + 1;
	}
	snprintf(key, sizeof(key), "%s", p);
	if (v)
		json_object_set_new(o, key, v);
	else
		json_object_del(o, key);
	char *s = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return s;
}

static void refused(const char *path, json_t *v, const char *want)
{
	struct mg_staff_reg *r = malloc(sizeof(*r));
	char err[256] = "", *s = edit(path, v);
	assert_non_null(r);
	int rc = mg_api_parse_staff_reg(s, strlen(s), r, err, sizeof(err));
	if (rc != -EINVAL || !strstr(err, want))
		fail_msg("%s: %d \"%s\", expected -EINVAL naming \"%s\"", path, rc, err, want);
	free(s);
	free(r);
}

static void test_accepts(void **state)
{
	struct mg_staff_reg *r = malloc(sizeof(*r));
	char err[256] = "";
	(void)state;
	assert_non_null(r);
	assert_int_equal(mg_api_parse_staff_reg(good, strlen(good), r, err, sizeof(err)), 0);
	assert_string_equal(r->key.login, "suzuki@city.local");
	assert_string_equal(r->key.registration_id, "r-1.x_2");
	assert_string_equal(r->key.label, "鍵 1");
	assert_int_equal(r->cred_id_len, 4);
	assert_memory_equal(r->cred_id, "\x00\x01\x02\x03", 4);
	assert_string_equal(r->key.credential_id, "AAECAw==");
	assert_int_equal(r->pk_len, 3);
	assert_int_equal(r->key.cose_alg, -7);
	assert_false(r->key.uv);
	assert_string_equal(r->key.attestation_fmt, "packed");
	assert_int_equal(r->authdata_len, 2);
	assert_int_equal(r->sig_len, 2);
	assert_int_equal(r->x5c_len, 0);
	free(r);
}

static void test_refuses(void **state)
{
	(void)state;
	refused("extra", json_true(), "extra: unknown key");
	refused("credential.extra", json_true(), "extra: unknown key");
	refused("credential.attestation.extra", json_true(), "extra: unknown key");
	refused("registration_id", json_string("a b"), "registration_id");
	refused("registration_id", json_string(""), "registration_id");
	refused("user", json_string("Tanaka/x"), "user");
	refused("user", json_string(".hidden"), "user");
	refused("user", NULL, "user: missing");
	refused("label", json_string("a\tb"), "label");
	refused("label",
	        json_string("0123456789012345678901234567890123456789012345678901234567890123x"),
	        "label");
	refused("credential.id", json_string("AAECAw"), "credential.id");     /* no padding */
	refused("credential.id", json_string("AAECAx=="), "credential.id");   /* not canonical */
	refused("credential.id", json_string("AAEC\nAw=="), "credential.id"); /* line break */
	refused("credential.id", json_string("AA-_"), "credential.id");       /* base64url */
	refused("credential.public_key", json_integer(1), "credential.public_key");
	refused("credential.cose_alg", json_integer(-6), "credential.cose_alg");
	refused("credential.cose_alg", json_string("-7"), "credential.cose_alg");
	refused("credential.rp_id", json_string("my naguard"), "credential.rp_id");
	refused("credential.uv", json_integer(1), "credential.uv");
	refused("credential.aaguid", json_string("00112233445566778899AABBCCDDEEFF"),
	        "credential.aaguid");
	refused("credential.aaguid", json_string("0011"), "credential.aaguid");
	refused("credential.attestation", json_string("x"), "credential.attestation");
	refused("credential.attestation.fmt", json_string("tpm"), "credential.attestation.fmt");
	refused("credential.attestation.clientdata_hash", json_string("AAAA"), "clientdata_hash");
	refused("credential.attestation.sig", NULL, "credential.attestation.sig: missing");
	refused("credential.attestation.fmt", json_string("none"), "fmt \"none\" has no sig");
	/* Not an object, duplicate keys, too large, invalid UTF-8. */
	struct mg_staff_reg *r = malloc(sizeof(*r));
	char err[256];
	assert_int_equal(mg_api_parse_staff_reg("[]", 2, r, err, sizeof(err)), -EINVAL);
	const char *dup = "{\"user\":\"a\",\"user\":\"b\"}";
	assert_int_equal(mg_api_parse_staff_reg(dup, strlen(dup), r, err, sizeof(err)), -EINVAL);
	free(r);
}

static void test_b64(void **state)
{
	unsigned char out[8];
	(void)state;
	assert_int_equal(mg_b64_decode_strict("AAECAw==", 8, out, sizeof(out)), 4);
	assert_int_equal(mg_b64_decode_strict("AAECAwQ=", 8, out, sizeof(out)), 5);
	assert_int_equal(mg_b64_decode_strict("AAECAwQF", 8, out, sizeof(out)), 6);
	assert_int_equal(mg_b64_decode_strict("AAECAwQF", 8, out, 5), -EINVAL); /* too long */
	assert_int_equal(mg_b64_decode_strict("AAE=CAwQ", 8, out, sizeof(out)), -EINVAL);
	assert_int_equal(mg_b64_decode_strict("====", 4, out, sizeof(out)), -EINVAL);
	assert_int_equal(mg_b64_decode_strict("", 0, out, sizeof(out)), -EINVAL);
	assert_int_equal(mg_b64_decode_strict("AAECAwR=", 8, out, sizeof(out)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accepts),
	    cmocka_unit_test(test_refuses),
	    cmocka_unit_test(test_b64),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
