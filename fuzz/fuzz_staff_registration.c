/*
 * libFuzzer target: the body of POST /v1/staff/registrations (server/api/api_staff_body.c,
 * issue 15) and its strict base64 decoder. What the parser accepts must be within its limits:
 * a valid login name, lengths within the buffers, base64 text that decodes to the bytes kept.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_staff_body.h"
#include "mg/user_name.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mg_staff_reg *r = malloc(sizeof(*r));
	unsigned char tmp[MG_STAFF_MAX_CRED_ID];
	char err[256];
	if (!r)
		return 0;
	if (mg_api_parse_staff_reg((const char *)data, size, r, err, sizeof(err)) == 0) {
		const struct mg_store_staff_key *k = &r->key;
		if (!mg_user_name_valid_str(k->login) || r->cred_id_len == 0 ||
		    r->cred_id_len > sizeof(r->cred_id) || r->pk_len == 0 ||
		    r->pk_len > sizeof(r->pk) || r->authdata_len == 0 ||
		    r->authdata_len > sizeof(r->authdata) || r->sig_len > sizeof(r->sig) ||
		    r->x5c_len > sizeof(r->x5c) || strlen(k->aaguid) != 32 || !k->label[0] ||
		    !k->rp_id[0] || !k->registration_id[0])
			abort();
		long n = mg_b64_decode_strict(k->credential_id, strlen(k->credential_id), tmp,
		                              sizeof(tmp));
		if (n != (long)r->cred_id_len || memcmp(tmp, r->cred_id, r->cred_id_len) != 0)
			abort();
	}
	/* The decoder alone on the raw bytes. */
	long n = mg_b64_decode_strict((const char *)data, size, tmp, sizeof(tmp));
	if (n > (long)sizeof(tmp))
		abort();
	free(r);
	return 0;
}
