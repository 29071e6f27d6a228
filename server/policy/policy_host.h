/*
 * Per-host policy bundles (docs/POLICY.md, "Per-host bundles"). The collector stores one global
 * version (policy_build.c: every host's rules); a terminal is served only its own part of it:
 * the rules for all hosts plus that host's host_rules entry, scope {"hosts": [host_id]}, same
 * version, issued_at and expires_at, signed for that host. The result of one (host, version)
 * never changes (Ed25519 is deterministic), so it is cached per host, bounded by entries and
 * bytes; the global bundle of the latest version is parsed once and shared.
 */
#ifndef MG_POLICY_HOST_H
#define MG_POLICY_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "mg/policy_bundle.h"
#include "policy_sign.h"
#include "store.h"

/* Default bounds of the cache: hosts, and bytes of bundle JSON held in total. */
#define MG_POLICY_CACHE_HOSTS 8192u
#define MG_POLICY_CACHE_BYTES (16u * 1024u * 1024u)

/*
 * The bundle of host_id (1..2^53-1) cut from global: a shallow view, valid while global is;
 * free nothing but the scope array through mg_policy_host_view_done(). 0 or -EINVAL.
 */
struct mg_policy_host_view {
	struct mg_policy_bundle b;
	int64_t scope[1];
};
int mg_policy_host_view(const struct mg_policy_bundle *global, int64_t host_id,
                        struct mg_policy_host_view *out);

/*
 * The canonical JSON of host_id's bundle of the stored global version p, and its signature
 * (base64) by key. *json owned by the caller. 0, -EINVAL (p does not parse, or bad host),
 * -ENOMEM, or the signer's error.
 */
int mg_policy_host_sign(const struct mg_policy_key *key, const struct mg_store_policy *p,
                        int64_t host_id, char **json, size_t *len,
                        char sig[MG_POLICY_SIG_B64_SIZE]);

struct mg_policy_cache;
/* max_hosts >= 1 entries, max_bytes >= 1 of JSON in total. 0 or -EINVAL / -ENOMEM. */
int mg_policy_cache_new(size_t max_hosts, size_t max_bytes, struct mg_policy_cache **out);
void mg_policy_cache_free(struct mg_policy_cache **c);

/*
 * Signed bundle of host_id at version from the cache: *json (a copy, owned by the caller),
 * *len, sig. 0, or -ENOENT when not cached. Thread-safe.
 */
int mg_policy_cache_lookup(struct mg_policy_cache *c, int64_t host_id, uint64_t version,
                           char **json, size_t *len, char sig[MG_POLICY_SIG_B64_SIZE]);
/*
 * Builds, signs and caches host_id's bundle: from p (a stored global version), or with p NULL
 * from the global of version already parsed by an earlier build (-ENOENT when that is not
 * version). Outputs as for lookup. Thread-safe; builds and signatures run outside the lock.
 */
int mg_policy_cache_build(struct mg_policy_cache *c, const struct mg_policy_key *key,
                          const struct mg_store_policy *p, uint64_t version, int64_t host_id,
                          char **json, size_t *len, char sig[MG_POLICY_SIG_B64_SIZE]);
/* Entries and bytes held (tests). */
void mg_policy_cache_stats(struct mg_policy_cache *c, size_t *hosts, size_t *bytes);

#endif
