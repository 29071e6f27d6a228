/*
 * GET /v1/policy and POST /v1/policy/applied (docs/API.md): the host's own signed policy bundle
 * (docs/POLICY.md, "Per-host bundles": the global rules and that host's, scope naming it) with
 * a strong ETag "\"<version>\"", and the version a terminal applied.
 *
 * Terminals poll GET /v1/policy with If-None-Match; almost every poll is answered 304. That
 * path costs the client-certificate host lookup and nothing else: the latest version is kept
 * in struct mg_api and re-read from the store at most every MG_API_POLICY_RECHECK_US (other
 * collectors sharing PostgreSQL, or the admin API, may publish), or sooner when a publisher
 * calls mg_api_policy_published(). A full answer comes from the per-host cache
 * (policy_host.h), or is cut from the stored global version, signed for the host and cached.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "api.h"
#include "api_body.h"
#include "mg/time.h"
#include "policy_host.h"

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void mg_api_policy_published(void *ctx, uint64_t version)
{
	struct mg_api *api = ctx;
	uint64_t cur = atomic_load(&api->policy_latest);
	while (version > cur && !atomic_compare_exchange_weak(&api->policy_latest, &cur, version))
		;
}

/* Reads the latest version from the store into the cache. */
static int reread(struct mg_api *api, uint64_t *out)
{
	uint64_t v = 0;
	int r = mg_store_policy_latest(api->store, &v);
	if (r < 0)
		return r;
	mg_api_policy_published(api, v);
	*out = atomic_load(&api->policy_latest);
	return 0;
}

/* The latest published version as cached; one caller per interval re-reads it. */
static int latest_version(struct mg_api *api, uint64_t *out)
{
	int64_t now = mono_us();
	int64_t checked = atomic_load(&api->policy_checked_us);
	if ((checked == 0 || now - checked >= MG_API_POLICY_RECHECK_US) &&
	    atomic_compare_exchange_strong(&api->policy_checked_us, &checked, now)) {
		int r = reread(api, out);
		if (r < 0)
			atomic_store(&api->policy_checked_us, 0); /* the next caller tries again */
		return r;
	}
	*out = atomic_load(&api->policy_latest);
	return 0;
}

static int store_error(struct mg_http_response *resp, int r)
{
	if (r == -ETIMEDOUT) {
		resp->retry_after = 1;
		return mg_http_error(resp, 503, "database busy");
	}
	return r;
}

/*
 * True when an If-None-Match value matches etag: "*", or one of its comma-separated entity
 * tags, compared weakly (RFC 9110 13.1.2: a "W/" prefix is ignored). A malformed list matches
 * nothing (the full answer is always correct).
 */
static bool etag_matches(const char *inm, const char *etag)
{
	size_t elen = strlen(etag);
	const char *p = inm;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			return false;
		if (*p == '*')
			return true;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (*p != '"')
			return false;
		const char *q = strchr(p + 1, '"');
		if (!q)
			return false;
		if ((size_t)(q + 1 - p) == elen && memcmp(p, etag, elen) == 0)
			return true;
		p = q + 1;
	}
}

static void etag_of(uint64_t version, char etag[32])
{
	snprintf(etag, 32, "\"%" PRIu64 "\"", version);
}

static int not_modified(struct mg_http_response *resp, const char *etag)
{
	resp->status = 304;
	return mg_http_header(resp, "ETag", etag);
}

/* The per-host bundle cache of api, made on first use. NULL: out of memory. */
static struct mg_policy_cache *cache_of(struct mg_api *api)
{
	struct mg_policy_cache *c = atomic_load(&api->policy_cache), *mine = NULL;
	if (c)
		return c;
	if (mg_policy_cache_new(MG_POLICY_CACHE_HOSTS, MG_POLICY_CACHE_BYTES, &mine) < 0)
		return NULL;
	if (!atomic_compare_exchange_strong(&api->policy_cache, &c, mine)) {
		mg_policy_cache_free(&mine); /* another thread was first: c is its cache */
		return c;
	}
	return mine;
}

void mg_api_policy_cache_free(struct mg_api *api)
{
	struct mg_policy_cache *c = api ? atomic_exchange(&api->policy_cache, NULL) : NULL;
	mg_policy_cache_free(&c);
}

/* 200 with host's bundle of version (json, sig) and its ETag. Takes json. */
static int full_answer(struct mg_http_response *resp, uint64_t version, char *json, size_t len,
                       const char *sig)
{
	char etag[32];
	int r = mg_http_json(resp, 200,
	                     json_pack("{s:I,s:s%,s:s}", "version", (json_int_t)version, "bundle",
	                               json, len, "signature", sig));
	free(json);
	etag_of(version, etag);
	if (r == 0)
		r = mg_http_header(resp, "ETag", etag);
	return r;
}

int mg_api_policy_get(struct mg_api *api, const struct mg_http_request *req,
                      struct mg_http_response *resp)
{
	struct mg_store_host host;
	struct mg_store_policy *p = NULL;
	struct mg_policy_cache *cache;
	char etag[32], sig[MG_POLICY_SIG_B64_SIZE];
	char *json = NULL;
	size_t len = 0;
	uint64_t v = 0;
	int r = mg_api_host(api, req, resp, &host);
	if (r < 0)
		return r == -EACCES ? 0 : r;
	r = latest_version(api, &v);
	if (r < 0)
		return store_error(resp, r);
	if (v > 0 && req->if_none_match) {
		etag_of(v, etag);
		if (etag_matches(req->if_none_match, etag))
			return not_modified(resp, etag);
	}
	/* Changed, or first download: this host's bundle, from the cache when it holds the
	 * latest version, else cut from the global version already parsed, else from the store
	 * (and a fresh look at the latest). */
	if (v > 0 && !api->policy_key)
		return mg_http_error(resp, 500, "the policy signing key is not loaded");
	cache = v > 0 ? cache_of(api) : NULL;
	if (v > 0 && !cache)
		return -ENOMEM;
	if (cache && (mg_policy_cache_lookup(cache, host.id, v, &json, &len, sig) == 0 ||
	              mg_policy_cache_build(cache, api->policy_key, NULL, v, host.id, &json, &len,
	                                    sig) == 0))
		return full_answer(resp, v, json, len, sig);
	r = mg_store_policy_get(api->store, 0, &p);
	if (r == -ENOENT)
		return mg_http_error(resp, 404, "no policy has been published yet");
	if (r < 0)
		return store_error(resp, r);
	mg_api_policy_published(api, p->version);
	etag_of(p->version, etag);
	if (req->if_none_match && etag_matches(req->if_none_match, etag)) {
		r = not_modified(resp, etag);
		goto done;
	}
	if (!api->policy_key) {
		r = mg_http_error(resp, 500, "the policy signing key is not loaded");
		goto done;
	}
	if (!cache && !(cache = cache_of(api))) {
		r = -ENOMEM;
		goto done;
	}
	r = mg_policy_cache_build(cache, api->policy_key, p, p->version, host.id, &json, &len, sig);
	if (r == 0)
		r = full_answer(resp, p->version, json, len, sig);
	else if (r == -EINVAL)
		r = mg_http_error(resp, 500, "the stored policy does not parse");
done:
	mg_store_policy_free(&p);
	return r;
}

int mg_api_policy_applied(struct mg_api *api, const struct mg_http_request *req,
                          struct mg_http_response *resp)
{
	struct mg_store_host host;
	struct mg_policy_applied_req a;
	char err[256] = "";
	uint64_t latest = 0;
	int r = mg_api_host(api, req, resp, &host);
	if (r < 0)
		return r == -EACCES ? 0 : r;
	r = mg_api_parse_policy_applied(req->body, req->body_len, &a, err, sizeof(err));
	if (r == -EINVAL)
		return mg_http_error(resp, 400, err);
	if (r < 0)
		return r;
	r = latest_version(api, &latest);
	if (r == 0 && a.version > latest)
		r = reread(api, &latest); /* published a moment ago? */
	if (r < 0)
		return store_error(resp, r);
	if (a.version > latest)
		return mg_http_error(resp, 409, "version was never published");
	r = mg_store_host_policy_applied(api->store, host.id, a.version, mg_now_us());
	if (r == -ENOENT)
		return mg_http_error(resp, 403, "unknown client certificate");
	if (r < 0)
		return store_error(resp, r);
	resp->status = 204;
	return 0;
}
