/* A synthetic staff set (staff_gen.h). */
#include "staff_gen.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#include "encoding.h"

void mg_test_staff_name(char *buf, size_t len, unsigned i)
{
	if (i % 3 == 0)
		snprintf(buf, len, "Staff%05u", i);
	else if (i % 3 == 1)
		snprintf(buf, len, "staff%05u@city.local", i);
	else
		snprintf(buf, len, "s.%05u-kanri", i);
}

static char *b64_random(size_t n)
{
	unsigned char raw[128];
	char *s = NULL;
	if (n > sizeof(raw) || getrandom(raw, n, 0) != (ssize_t)n || mg_b64_encode(raw, n, &s) < 0)
		return NULL;
	return s;
}

json_t *mg_test_staff_json(unsigned staff, unsigned creds)
{
	json_t *o = json_object();
	char name[64];
	for (unsigned i = 0; o && i < staff; i++) {
		json_t *arr = json_array();
		unsigned mine = creds / staff + (i < creds % staff ? 1u : 0u);
		for (unsigned k = 0; arr && k < mine; k++) {
			char *id = b64_random(64), *pk = b64_random(64), label[32];
			snprintf(label, sizeof(label), "key-%u", k + 1);
			json_t *c = id && pk
			                ? json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:b}", "aaguid",
			                            "00112233445566778899aabbccddeeff", "cose_alg",
			                            -7, "id", id, "label", label, "public_key", pk,
			                            "rp_id", "pam://mynaguard", "uv", 1)
			                : NULL;
			free(id);
			free(pk);
			if (!c || json_array_append_new(arr, c) < 0) {
				json_decref(arr);
				arr = NULL;
			}
		}
		mg_test_staff_name(name, sizeof(name), i);
		json_t *u =
		    arr ? json_pack("{s:o,s:s}", "credentials", arr, "state", "active") : NULL;
		if (!u || json_object_set_new(o, name, u) < 0) {
			json_decref(o);
			o = NULL;
		}
	}
	return o;
}
