/*
 * Rule changes that end in a new signed policy version, shared by the admin API
 * (api_admin_rules.c) and the command line (`mynaguard-collector rules ...`): each checks the
 * rule text with the agents' own rules parser (mg_rules: what the collector accepts, every
 * terminal can parse), changes the store (recorded as `by`), then publishes a new policy
 * version with mg_policy_publish(). When the change is stored but publishing fails, the
 * change stays (the collector's policy refresh publishes it later) and the error is returned
 * with *version_out = 0.
 */
#ifndef MG_RULE_OPS_H
#define MG_RULE_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy_sign.h"
#include "store.h"

struct mg_rule_ops {
	struct mg_store *store;
	const struct mg_policy_key *key; /* signs the new version */
	int64_t validity_us;             /* lifetime of a published policy */
};

/*
 * 0 when text is exactly one rule (one line, no comment) that the agent's parser accepts;
 * -EINVAL with err = "rule:1:<column>: <what is wrong>".
 */
int mg_rule_check(const char *text, char *err, size_t errlen);

/*
 * The allow rule for a device: `allow id VVVV:PPPP serial "S" hash "H"` (serial and hash only
 * when known; strings escaped as the rules syntax needs). -E2BIG when it does not fit size.
 */
int mg_rule_for_device(const struct mg_store_device_id *dev, char *out, size_t size);

/* Adds a rule (host_id 0: all hosts; expires_us 0: never), then publishes. err: why -EINVAL. */
int mg_rule_ops_add(const struct mg_rule_ops *o, const struct mg_store_actor *by, const char *text,
                    int64_t host_id, int64_t expires_us, const char *comment, int64_t now_us,
                    int64_t *rule_id_out, uint64_t *version_out, char *err, size_t errlen);
/* Removes rule id (-ENOENT), then publishes. */
int mg_rule_ops_remove(const struct mg_rule_ops *o, const struct mg_store_actor *by, int64_t id,
                       int64_t now_us, uint64_t *version_out);
/*
 * Approves pending request id with the rule for its device (mg_rule_for_device), for the
 * requesting host only (all_hosts false) or every host, until expires_us (0: never), then
 * publishes. -ENOENT, -EALREADY (already decided).
 */
int mg_rule_ops_approve(const struct mg_rule_ops *o, const struct mg_store_actor *by,
                        int64_t request_id, bool all_hosts, int64_t expires_us, const char *note,
                        int64_t now_us, int64_t *rule_id_out, uint64_t *version_out);

#endif
