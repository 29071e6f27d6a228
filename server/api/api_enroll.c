/* POST /v1/enroll (docs/API.md): a one-time token and a CSR in, a client certificate out. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api.h"
#include "api_body.h"
#include "digest.h"
#include "mg/time.h"

static int token_error(struct mg_http_response *resp, int r)
{
	switch (r) {
	case -ENOENT:
		return mg_http_error(resp, 403, "unknown enrolment token");
	case -ETIME:
		return mg_http_error(resp, 403, "enrolment token expired");
	case -EALREADY:
		return mg_http_error(resp, 409, "enrolment token already used");
	case -ETIMEDOUT:
		resp->retry_after = 1;
		return mg_http_error(resp, 503, "database busy");
	default:
		return r;
	}
}

int mg_api_enroll(struct mg_api *api, const struct mg_http_request *req,
                  struct mg_http_response *resp)
{
	struct mg_enroll_req er = {0};
	char err[256] = "";
	char token_hex[65];
	char serial[MG_CA_SERIAL_HEX];
	char *cert = NULL;
	int64_t host_id = 0;
	int64_t now = mg_now_us();
	int r = mg_api_parse_enroll(req->body, req->body_len, &er, err, sizeof(err));
	if (r == -EINVAL || (r == 0 && mg_ca_check_csr(er.csr, er.csr_len, err, sizeof(err)) < 0)) {
		r = mg_http_error(resp, 400, err);
		goto done;
	}
	if (r < 0)
		goto done;
	r = mg_sha256_hex(er.token, strlen(er.token), token_hex);
	if (r < 0)
		goto done;
	r = mg_store_token_consume(api->store, token_hex, now);
	if (r < 0) {
		r = token_error(resp, r);
		goto done;
	}
	r = mg_ca_new_serial(serial);
	if (r == 0)
		r = mg_store_host_add(api->store, er.hostname, serial, now, &host_id);
	if (r == 0)
		r = mg_ca_sign_csr(api->ca, er.csr, er.csr_len, host_id, serial, api->cert_days,
		                   &cert);
	if (r < 0)
		goto done;
	r = mg_http_json(resp, 200,
	                 json_pack("{s:I,s:s,s:s,s:s}", "host_id", (json_int_t)host_id,
	                           "certificate", cert, "ca", mg_ca_pem(api->ca),
	                           "policy_public_key", api->policy_pubkey));
done:
	free(cert);
	mg_enroll_req_clear(&er);
	return r;
}
