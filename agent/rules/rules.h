/*
 * Device rules in USBGuard's rules.conf syntax (USBGuard 1.1 "Rule Language"), plus the
 * mynaguard extension `expires "RFC 3339 time"`. Public contract of the rule engine:
 * parse, match (first match wins, indexed), print, and generate from a device.
 *
 *   allow id 1050:0407 serial "0001234" with-interface { 03:00:00 03:01:01 } label "key"
 *   block with-interface one-of { 08:*:* 06:*:* }
 *   reject via-port "1-2"  expires "2026-12-31T17:00:00+09:00"
 */
#ifndef MG_RULES_H
#define MG_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "device.h"

enum mg_target {
	MG_TARGET_ALLOW,
	MG_TARGET_BLOCK,
	MG_TARGET_REJECT,
};

/* "allow", "block", "reject". */
const char *mg_target_name(enum mg_target t);
/* 0 or -EINVAL. */
int mg_target_from_name(const char *s, enum mg_target *out);

struct mg_rule;    /* one parsed rule (opaque) */
struct mg_ruleset; /* an ordered, indexed, immutable set of rules (opaque) */

struct mg_rule_error {
	char file[256];
	unsigned line;   /* 1-based; 0 when not about one line */
	unsigned column; /* 1-based byte column; 0 when not about one position */
	char msg[256];
};

/* "file:line:column: msg" into buf; returns buf. */
const char *mg_rule_error_str(const struct mg_rule_error *err, char *buf, size_t len);

/*
 * Parses rules text (one rule per line, '#' comments, blank lines) named name in errors.
 * Any error rejects the whole text. 0, -EINVAL (err filled), -ENOMEM, -E2BIG (over a limit:
 * line, string, set or rule count; the limits are in rule_internal.h).
 */
int mg_ruleset_parse(const char *name, const char *text, size_t len, struct mg_ruleset **out,
                     struct mg_rule_error *err);

/*
 * Loads rules_file (may be NULL) then every "*.conf" in rules_dir (may be NULL or missing;
 * name order, hidden files skipped), each opened with mg_safe_open() under rules (root-owned,
 * not group/world writable; NULL: mg_root_config_rules; max_size 0: 128 MiB). All or nothing.
 */
struct mg_file_rules;
int mg_ruleset_load(const char *rules_file, const char *rules_dir,
                    const struct mg_file_rules *rules, struct mg_ruleset **out,
                    struct mg_rule_error *err);

/*
 * The same, after rules given as text (central policy: the host's rules, then the global
 * ones); each text is named in rule sources ("<name>:<line>"). First match wins, so these come
 * before the files.
 */
struct mg_rules_text {
	const char *name;
	const char *text; /* NUL-terminated; NULL: skipped */
};
int mg_ruleset_load_after(const struct mg_rules_text *texts, size_t n, const char *rules_file,
                          const char *rules_dir, const struct mg_file_rules *rules,
                          struct mg_ruleset **out, struct mg_rule_error *err);

void mg_ruleset_free(struct mg_ruleset **rs);
size_t mg_ruleset_count(const struct mg_ruleset *rs);
const struct mg_rule *mg_ruleset_rule(const struct mg_ruleset *rs, size_t i);

/*
 * What rule conditions (`if ...`) are evaluated against. allowed_matches(arg, query): whether
 * a device allowed now matches query's attributes (NULL: none is); allowed-matches() asks it.
 */
struct mg_rule_env {
	int64_t mono_us; /* CLOCK_MONOTONIC now: rule-applied(D) and rule-evaluated(D) */
	int32_t daytime; /* local time of day in seconds (0..86399): localtime() */
	bool (*allowed_matches)(void *arg, const struct mg_rule *query);
	void *arg;
};

/* The environment of wall-clock time now_us in the local time zone; no device allowed. */
void mg_rule_env_now(struct mg_rule_env *env, int64_t now_us);

/*
 * The first rule, in file order, that matches dev at time now_us (an expired rule does
 * not match) and whose conditions hold in env (NULL: mg_rule_env_now(now_us)); NULL when
 * none. Indexed by id, serial and hash: the cost grows with the number of candidate rules,
 * not the size of the set. Changes nothing: what would decide now.
 */
const struct mg_rule *mg_ruleset_match(const struct mg_ruleset *rs, const struct mg_device *dev,
                                       int64_t now_us);
const struct mg_rule *mg_ruleset_match_env(const struct mg_ruleset *rs, const struct mg_device *dev,
                                           int64_t now_us, const struct mg_rule_env *env);
/*
 * The same for a decision: every rule whose attributes matched and whose conditions were
 * evaluated is recorded as evaluated, the rule returned as applied (rule-evaluated,
 * rule-applied).
 */
const struct mg_rule *mg_ruleset_decide(struct mg_ruleset *rs, const struct mg_device *dev,
                                        int64_t now_us, const struct mg_rule_env *env);
/* Whether some rule of the set has conditions, and (localtime, may be NULL) whether one of
 * them is localtime(): without them a decision needs no clock reading for its conditions. */
bool mg_ruleset_has_conditions(const struct mg_ruleset *rs, bool *localtime);
/* Seconds from daytime until a localtime() condition of the set changes value; -1: none. */
int32_t mg_ruleset_next_daytime_change(const struct mg_ruleset *rs, int32_t daytime);

/*
 * Whether r's conditions hold in env for a rule with no history (never evaluated, never
 * applied); true when r has none. random conditions draw anew on every call.
 */
bool mg_rule_conditions_hold(const struct mg_rule *r, const struct mg_rule_env *env);
/* Whether r has conditions, and whether one of them is random (not reproducible). */
bool mg_rule_has_conditions(const struct mg_rule *r, bool *random);

/* Whether dev matches r's attributes (and r has not expired); r's conditions are not
 * evaluated (as for the query of allowed-matches()). */
bool mg_rule_matches(const struct mg_rule *r, const struct mg_device *dev, int64_t now_us);
enum mg_target mg_rule_target(const struct mg_rule *r);
/* Canonical text of the rule (re-parses to an equal rule). */
const char *mg_rule_text(const struct mg_rule *r);
/* "file:line" where the rule was read, written into buf (MG_RULE_SOURCE_MAX fits any);
 * returns buf. */
#define MG_RULE_SOURCE_MAX 4200
const char *mg_rule_source(const struct mg_rule *r, char *buf, size_t len);
/* Expiry in microseconds since the epoch; 0: none. */
int64_t mg_rule_expires_us(const struct mg_rule *r);

/*
 * True when the rule's with-interface attribute names an interface of type t explicitly:
 * some listed pattern matches t and its class is not '*' (e.g. 08:06:50 or 08:*:*).
 * The agent keeps such interfaces even when their class is in block_interfaces.
 */
bool mg_rule_names_interface(const struct mg_rule *r, struct mg_usb_iftype t);

/*
 * A rule for dev as `usbguard generate-policy` writes it:
 *   <target> id VID:PID serial "..." name "..." hash "..." parent-hash "..." via-port "..."
 *   with-interface { ... } with-connect-type "..."
 * (with-interface as one value when the device has one interface). *out is malloc'ed.
 */
int mg_rule_generate(const struct mg_device *dev, enum mg_target target, bool with_port,
                     char **out);

#endif
