/*
 * Pure parsers of the admin API's request bodies for rules, policy publishing and device
 * requests (docs/API.md, "Admin API"): bytes in, struct out, no I/O. Strict like api_body.h:
 * at most MG_API_MAX_BODY bytes, one JSON object, no duplicate or unknown keys, no wrong types,
 * valid UTF-8, no NUL inside strings; optional members may be absent or null. Bodies whose
 * members are all optional may also be empty (0 bytes). All return 0, -EINVAL with err (always
 * NUL-terminated when errlen > 0) naming the field, or -ENOMEM. Rule text is only bounded
 * here; mg_rule_check() (rule_ops.h) checks its syntax, and the endpoint checks that times
 * lie in the future.
 */
#ifndef MG_API_ADMIN_BODY_RULES_H
#define MG_API_ADMIN_BODY_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* POST /v1/admin/rules {"rule": s, "host_id"?: n, "expires_at"?: RFC 3339, "comment"?: s} */
struct mg_admin_rule_req {
	char rule[MG_STORE_RULE_SIZE];    /* 1..4095 bytes */
	int64_t host_id;                  /* 0..2^53-1; 0 (or absent): all hosts */
	int64_t expires_us;               /* 0: absent (never) */
	char comment[MG_STORE_TEXT_SIZE]; /* "": none */
};
int mg_admin_parse_rule(const char *buf, size_t len, struct mg_admin_rule_req *out, char *err,
                        size_t errlen);

/* POST /v1/admin/requests/{id}/approve {"scope"?: "host"|"all", "expires_at"?, "note"?} */
struct mg_admin_approve_req {
	bool all_hosts;                /* scope "all"; default "host" */
	int64_t expires_us;            /* 0: absent (never) */
	char note[MG_STORE_TEXT_SIZE]; /* "": none */
};
int mg_admin_parse_approve(const char *buf, size_t len, struct mg_admin_approve_req *out, char *err,
                           size_t errlen);

/* POST /v1/admin/requests/{id}/deny {"note"?: s} */
struct mg_admin_deny_req {
	char note[MG_STORE_TEXT_SIZE];
};
int mg_admin_parse_deny(const char *buf, size_t len, struct mg_admin_deny_req *out, char *err,
                        size_t errlen);

/* POST /v1/admin/policy/publish: an empty body or {}. */
int mg_admin_parse_publish(const char *buf, size_t len, char *err, size_t errlen);

#endif
