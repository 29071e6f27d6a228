/*
 * The terminal-facing collector API (docs/API.md) on top of the store, the CA and the HTTP
 * adapter: POST /v1/enroll, /v1/events, /v1/heartbeat. mg_api_handle() is an
 * mg_http_handler; it never logs (answers carry the reason).
 */
#ifndef MG_API_H
#define MG_API_H

#include <stdatomic.h>
#include <stdint.h>

#include "ca.h"
#include "http.h"
#include "policy_sign.h"
#include "store.h"

struct mg_api {
	struct mg_store *store; /* borrowed */
	struct mg_ca *ca;       /* borrowed */
	uint32_t cert_days;     /* validity of issued client certificates */
	unsigned max_inflight;  /* concurrent /v1/events ingests; more: 503 */
	atomic_uint inflight;
	char policy_pubkey[MG_POLICY_PUBKEY_B64_SIZE]; /* base64 Ed25519 key terminals pin */
};

int mg_api_handle(void *ctx, const struct mg_http_request *req, struct mg_http_response *resp);

/* Endpoints (req has a body, method POST checked by mg_api_handle()). */
int mg_api_enroll(struct mg_api *api, const struct mg_http_request *req,
                  struct mg_http_response *resp);
int mg_api_events(struct mg_api *api, const struct mg_http_request *req,
                  struct mg_http_response *resp);
int mg_api_heartbeat(struct mg_api *api, const struct mg_http_request *req,
                     struct mg_http_response *resp);

/*
 * The enrolled, non-revoked host behind req's client certificate, or resp filled with 401
 * (no certificate), 403 (unverifiable, unknown or revoked) and a negative return.
 */
int mg_api_host(struct mg_api *api, const struct mg_http_request *req,
                struct mg_http_response *resp, struct mg_store_host *host);

#endif
