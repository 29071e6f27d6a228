/*
 * Policy bundles: the signed document the collector publishes and terminals apply
 * (docs/POLICY.md). A bundle is canonical JSON (jansson JSON_COMPACT | JSON_SORT_KEYS):
 *
 *   {"expires_at":"<RFC 3339>","host_rules":{"<host id>":"<rules>",...},
 *    "issued_at":"<RFC 3339>","rules":"<rules>","scope":{"hosts":"all"},"version":N}
 *
 * "rules" holds the rules for every host in scope, "host_rules" (omitted when empty) the
 * extra rules of single hosts by their collector host id (decimal), applied before "rules"
 * (a host's exception wins; docs/AGENT.md "Central policy and the collector").
 * "scope"."hosts" is "all" or a strictly increasing array of host ids. Rules text is USBGuard
 * rules.conf syntax, one rule per line, each line ending in "\n" ("" for none).
 *
 * This file is pure (bytes in, struct out; no I/O) and needs only mg_common and libcrypto,
 * so the agent can link it.
 */
#ifndef MG_POLICY_BUNDLE_H
#define MG_POLICY_BUNDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MG_POLICY_MAX_RULES       (16u * 1024u * 1024u) /* all rules text of a bundle together */
#define MG_POLICY_MAX_BUNDLE      (64u * 1024u * 1024u) /* the JSON (= MG_STORE_MAX_POLICY) */
#define MG_POLICY_MAX_LINE        4095u                 /* one rule, without its "\n" */
#define MG_POLICY_MAX_HOSTS       100000u               /* scope list and host_rules entries */
#define MG_POLICY_U53_MAX         ((UINT64_C(1) << 53) - 1)
#define MG_POLICY_MAX_STAFF       100000u /* users in "staff" (issue 15) */
#define MG_POLICY_MAX_STAFF_CREDS 16u     /* credentials of one user */
#define MG_POLICY_MAX_CRED_ID     1024u   /* bytes of a credential id (decoded) */
#define MG_POLICY_MAX_CRED_PK     512u    /* bytes of a public key (decoded) */
#define MG_POLICY_MAX_CRED_LABEL  64u
#define MG_POLICY_MAX_RP_ID       255u

struct json_t; /* jansson */

struct mg_policy_host_rules {
	int64_t host_id; /* 1..2^53-1 */
	char *rules;     /* non-empty rules text */
};

struct mg_policy_bundle {
	uint64_t version;              /* 1..2^53-1 */
	int64_t issued_us, expires_us; /* issued < expires */
	bool all_hosts;                /* scope "all"; else scope_hosts */
	int64_t *scope_hosts;          /* strictly increasing host ids */
	size_t n_scope_hosts;
	char *rules;                        /* rules text for every host in scope; "" none */
	struct mg_policy_host_rules *hosts; /* strictly increasing host_id */
	size_t n_hosts;
	/* The optional "staff" member (issue 15): NULL when absent, else an object checked by
	   mg_policy_staff_check; owned (a jansson reference, freed with the bundle). */
	struct json_t *staff;
};

void mg_policy_bundle_free(struct mg_policy_bundle **b);

/*
 * True when text is valid rules text: "" or lines of 1..MG_POLICY_MAX_LINE bytes each ended by
 * "\n", valid UTF-8, no control characters other than tab. len bytes, NUL not allowed.
 */
bool mg_policy_rules_text_valid(const char *text, size_t len);

/*
 * Checks a "staff" member (docs/POLICY.md "Staff credentials"): an object of at most
 * MG_POLICY_MAX_STAFF users keyed by valid user names (mg_user_name_valid), each
 * {"credentials":[...],"state":"active"|"disabled"[,"unlocked_at":"<RFC 3339>"]}; a disabled
 * user has no credentials; at most MG_POLICY_MAX_STAFF_CREDS credentials
 * {"aaguid":"<32 lower-case hex>","cose_alg":-7|-8|-257,"id":"<base64>","label":"<1-64>",
 * "public_key":"<base64>","rp_id":"<1-255>","uv":true|false}, ids unique per user; unknown or
 * missing keys are errors. 0 or -EINVAL with err naming the field.
 */
int mg_policy_staff_check(const struct json_t *staff, char *err, size_t errlen);

/*
 * Canonical JSON of b; *out NUL-terminated, owned by the caller, *len (optional) its length.
 * 0, -EINVAL (b would not parse back), -EFBIG, -ENOMEM.
 */
int mg_policy_bundle_to_json(const struct mg_policy_bundle *b, char **out, size_t *len);

/*
 * Parses untrusted bytes strictly: unknown, missing or duplicate keys, wrong types, version
 * outside 1..2^53-1, times that are not RFC 3339 or issued_at >= expires_at, bad scope or
 * host ids, invalid rules text, more than MG_POLICY_MAX_RULES bytes of rules, more than
 * MG_POLICY_MAX_BUNDLE bytes, a "staff" member that mg_policy_staff_check refuses are errors. 0,
 * -EINVAL, -EFBIG, -ENOMEM; err (optional) names the field. *out written only on 0.
 */
int mg_policy_bundle_parse(const char *buf, size_t len, struct mg_policy_bundle **out, char *err,
                           size_t errlen);

/* The rules text that applies to host_id only (NULL: none); a terminal puts it before "rules". */
const char *mg_policy_bundle_host_rules(const struct mg_policy_bundle *b, int64_t host_id);
/* True when host_id is in the bundle's scope. */
bool mg_policy_bundle_in_scope(const struct mg_policy_bundle *b, int64_t host_id);

/*
 * An Ed25519 check of sig_b64 over data[0..len) with pubkey_b64 (both canonical base64):
 * 0 valid, -EBADMSG wrong signature or key, -EINVAL malformed key or signature. The collector
 * passes its OpenSSL one (mg_policy_verify, server/policy/policy_sign.c), the agent its Nettle
 * one (agent/policy/ed25519_verify.c); a test checks that both agree.
 */
typedef int (*mg_policy_sig_check)(const char *pubkey_b64, const void *data, size_t len,
                                   const char *sig_b64);

/*
 * The terminal's acceptance check of a downloaded bundle: signature by the pinned key with
 * check (-EBADMSG: wrong signature or another key; -EINVAL: malformed key/signature/bundle),
 * then parse, then version > current_version (-ESTALE), now_us < expires_at (-ETIME), and,
 * when host_id > 0, host_id in scope (-EPERM). *out (optional) gets the bundle on 0.
 */
int mg_policy_accept(mg_policy_sig_check check, const char *pubkey_b64, const char *json,
                     size_t len, const char *sig_b64, uint64_t current_version, int64_t now_us,
                     int64_t host_id, struct mg_policy_bundle **out, char *err, size_t errlen);

#endif
