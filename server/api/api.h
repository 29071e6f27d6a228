/*
 * The terminal API (docs/API.md) on top of the store, the CA and the HTTP adapter: the
 * endpoints a terminal calls with its client certificate: POST /v1/enroll, /v1/events,
 * /v1/heartbeat, /v1/requests, /v1/policy/applied, GET /v1/policy. struct mg_api is also
 * the context of the admin API (admin/api_admin.h), which builds on this one; router/router.h
 * joins the two. Nothing here logs (answers carry the reason).
 */
#ifndef MG_API_H
#define MG_API_H

#include <stdatomic.h>
#include <stdint.h>

#include <jansson.h>

#include "ca.h"
#include "http.h"
#include "policy_sign.h"
#include "store.h"

struct mg_argon2_params; /* admin/admin_auth.h */
struct mg_policy_cache;  /* policy/policy_host.h */

struct mg_api {
	struct mg_store *store;                 /* borrowed */
	struct mg_ca *ca;                       /* borrowed */
	const struct mg_policy_key *policy_key; /* borrowed: signs new policy versions */
	uint32_t cert_days;                     /* validity of issued client certificates */
	unsigned max_inflight;                  /* concurrent /v1/events ingests; more: 503 */
	atomic_uint inflight;
	char policy_pubkey[MG_POLICY_PUBKEY_B64_SIZE]; /* base64 Ed25519 key terminals pin */
	int64_t policy_validity_us;                    /* lifetime of a published policy */
	/* Admin side. */
	int64_t session_ttl_us;                /* sliding session lifetime */
	const struct mg_argon2_params *argon2; /* cost of new password hashes */
	unsigned max_logins;                   /* concurrent password checks; more: 503 */
	atomic_uint logins;
	/* GET /v1/policy (api_policy.c): the latest published version as last seen, re-read from
	 * the store at most every MG_API_POLICY_RECHECK_US (CLOCK_MONOTONIC; 0: never read). */
	_Atomic uint64_t policy_latest;
	_Atomic int64_t policy_checked_us;
	/* Per-host signed bundles (policy/policy_host.h), made on first use; freed by
	 * mg_api_policy_cache_free(). */
	_Atomic(struct mg_policy_cache *) policy_cache;
};

#define MG_API_POLICY_RECHECK_US 1000000

/* The terminal routes (ctx: struct mg_api *): 404 for any other path, 405 for a wrong method. */
int mg_api_handle(void *ctx, const struct mg_http_request *req, struct mg_http_response *resp);
/* The requests that may carry a body of 64 KiB or more (mg_http_config.large_body): only
 * POST /v1/events, and the HTTP layer takes it only from a verified client certificate. */
bool mg_api_large_body(const char *method, const char *url);
/* http's peer_enrolled (ctx: the struct mg_api): the certificate serial names an enrolled,
 * not revoked host. */
bool mg_api_peer_enrolled(void *ctx, const char *serial);

/* Endpoints (req has a body, method POST checked by mg_api_handle()). */
int mg_api_enroll(struct mg_api *api, const struct mg_http_request *req,
                  struct mg_http_response *resp);
int mg_api_events(struct mg_api *api, const struct mg_http_request *req,
                  struct mg_http_response *resp);
int mg_api_heartbeat(struct mg_api *api, const struct mg_http_request *req,
                     struct mg_http_response *resp);
/* GET /v1/policy (api_policy.c). */
int mg_api_policy_get(struct mg_api *api, const struct mg_http_request *req,
                      struct mg_http_response *resp);
/*
 * Tells the API (ctx: struct mg_api *) that version was just published, so GET /v1/policy
 * serves it at once instead of after the next re-check. Thread-safe; lower versions are
 * ignored. Fits mg_policy_refresher's published callback.
 */
void mg_api_policy_published(void *ctx, uint64_t version);
/* Frees the per-host bundle cache of api (after the server stopped). */
void mg_api_policy_cache_free(struct mg_api *api);
/* POST /v1/policy/applied (api_policy.c). */
int mg_api_policy_applied(struct mg_api *api, const struct mg_http_request *req,
                          struct mg_http_response *resp);
/* POST /v1/staff/registrations (api_staff.c, issue 15). */
int mg_api_staff_registrations(struct mg_api *api, const struct mg_http_request *req,
                               struct mg_http_response *resp);
/* POST /v1/requests (api_requests.c). */
int mg_api_requests(struct mg_api *api, const struct mg_http_request *req,
                    struct mg_http_response *resp);

/*
 * The enrolled, non-revoked host behind req's client certificate, or resp filled with 401
 * (no certificate), 403 (unverifiable, unknown or revoked) and a negative return.
 */
int mg_api_host(struct mg_api *api, const struct mg_http_request *req,
                struct mg_http_response *resp, struct mg_store_host *host);

#endif
