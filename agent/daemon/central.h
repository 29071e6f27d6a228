/*
 * Central policy on the terminal (issue 12, docs/POLICY.md "Acceptance on a terminal"): the
 * answer of GET /v1/policy ({"version", "bundle", "signature"}) as the uplink handed it over,
 * checked by the agent itself with the policy key pinned at enrolment: signature over the
 * exact bundle bytes (Nettle Ed25519, agent/policy), version above the applied one (no
 * rollback), not expired, in scope for this host. The last good answer is kept in
 * <state_dir>/policy.json (0600, atomic) and applied at boot without network.
 */
#ifndef MG_CENTRAL_H
#define MG_CENTRAL_H

#include <stddef.h>
#include <stdint.h>

struct json_t;

struct mg_central_bundle {
	uint64_t version;
	int64_t issued_us, expires_us;
	char *host_rules;     /* this host's rules, NULL: none */
	char *all_rules;      /* the rules for every host */
	char sha256[65];      /* of the signed bundle bytes */
	struct json_t *staff; /* the bundle's "staff" member (issue 15), NULL: none; owned */
};

/*
 * Checks a poll answer. 0 with *out filled, or a negative errno with why in words (for the
 * policy.rejected event); version (when readable) is set even on an error.
 */
int mg_central_check(const char *answer, size_t len, const char *pubkey_b64,
                     uint64_t current_version, int64_t now_us, int64_t host_id,
                     struct mg_central_bundle *out, uint64_t *version, char *why, size_t whylen);
void mg_central_bundle_free(struct mg_central_bundle *b);

/* The last good answer: saved atomically, loaded (-ENOENT: none). */
int mg_central_save(const char *state_dir, const char *answer, size_t len);
int mg_central_load(const char *state_dir, char **answer, size_t *len);

/*
 * Issue 15: writes the staff credentials of an accepted bundle for the PAM module into
 * path (agent.conf `staff_db`; mg_staff_db_build; 0644, outside the root-only state_dir so that
 * the module can read it also as the user in a screen locker; atomic: temp file,
 * fsync, rename, fsync of the directory), or removes that file when the bundle has no "staff"
 * member. The file carries the bundle's expires_us: the PAM module ignores an expired one. When
 * the new file cannot be written the old one is removed (fail closed: a revoked key must not
 * stay usable), and the error is returned with why in words. 0 or a negative errno.
 */
int mg_central_write_staff(const char *path, const struct mg_central_bundle *b, char *why,
                           size_t whylen);

#endif
