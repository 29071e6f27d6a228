/*
 * Publishing a policy version: the collector's rules (store.h) become one signed global
 * bundle (policy_bundle.h) stored with mg_store_policy_add(). The stored signature is the
 * base64 text of mg_policy_sign() (88 ASCII bytes, no NUL), which is what the HTTP layer
 * serves beside the JSON.
 */
#ifndef MG_POLICY_BUILD_H
#define MG_POLICY_BUILD_H

#include <stdint.h>

#include "mg/policy_bundle.h"
#include "policy_sign.h"
#include "store.h"

/*
 * Builds the bundle of every rule not expired at now_us: rules with host_id 0 go to "rules",
 * the others to "host_rules"."<host_id>", each in rule id order, scope "all". version =
 * latest stored + 1; issued_at = now_us; expires_at = now_us + validity_us, brought forward
 * to the earliest expiry of an included rule (a temporary allowance never outlives its
 * rule: the caller republishes before then). Signs with key and stores it (by: the admin
 * action record, as for mg_store_policy_add()), retrying a few times when another collector
 * took the version. *version_out (optional) gets the new version. 0, -EINVAL (bad argument
 * or a stored rule that is not valid rules text), -EFBIG (rules too large), -EEXIST (lost
 * the race repeatedly), or the store's error.
 */
int mg_policy_publish(struct mg_store *s, const struct mg_store_actor *by,
                      const struct mg_policy_key *key, int64_t now_us, int64_t validity_us,
                      uint64_t *version_out);

/*
 * One attempt of mg_policy_publish() at a given version, labelled with rules_revision (read
 * before the rules are walked). -EEXIST when the version is taken (the caller decides again).
 */
int mg_policy_publish_version(struct mg_store *s, const struct mg_store_actor *by,
                              const struct mg_policy_key *key, uint64_t version,
                              uint64_t rules_revision, int64_t now_us, int64_t validity_us);

/*
 * Builds the bundle that mg_policy_publish() would sign for version (exposed for tests and
 * previews). *out owned by the caller.
 */
int mg_policy_build(struct mg_store *s, uint64_t version, int64_t now_us, int64_t validity_us,
                    struct mg_policy_bundle **out);

#endif
