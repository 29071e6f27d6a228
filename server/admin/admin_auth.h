/*
 * Admin authentication for the collector's API: Argon2id password hashes (libargon2),
 * the password policy, session tokens and the role table.
 *
 * Session tokens are 32 random bytes as unpadded base64url (43 characters). Only their
 * SHA-256 (64 lower-case hex digits) is stored (mg_store_session_*), so the database never
 * holds a usable token and the lookup compares hashes, not secrets.
 */
#ifndef MG_ADMIN_AUTH_H
#define MG_ADMIN_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "token.h"

/* Argon2id cost. */
struct mg_argon2_params {
	uint32_t t_cost;      /* passes */
	uint32_t m_cost_kib;  /* memory in KiB */
	uint32_t parallelism; /* lanes and threads */
};
/*
 * t=2, m=19 MiB, p=1 (OWASP Password Storage Cheat Sheet, Argon2id). RFC 9106's second option
 * (m=64 MiB, t=3) would lift the collector's peak RSS above its 64 MB budget during a login;
 * hashes carry their parameters, so stronger ones can be introduced without breaking logins.
 */
extern const struct mg_argon2_params mg_argon2_production;
/* t=1, m=64 KiB, p=1: for tests only. */
extern const struct mg_argon2_params mg_argon2_test;

#define MG_ADMIN_PASSWORD_MIN    12u   /* characters (code points) */
#define MG_ADMIN_PASSWORD_MAX    1024u /* bytes */
#define MG_ADMIN_HASH_SIZE       256u  /* = sizeof(struct mg_store_admin.password_hash) */
#define MG_ADMIN_TOKEN_SIZE      MG_TOKEN_SIZE
#define MG_ADMIN_TOKEN_HASH_SIZE MG_TOKEN_HASH_SIZE

/*
 * The password policy: valid UTF-8 without control characters, at least
 * MG_ADMIN_PASSWORD_MIN characters, at most MG_ADMIN_PASSWORD_MAX bytes. 0, -EINVAL (not
 * UTF-8 or a control character), -ERANGE (too short or too long).
 */
int mg_admin_password_check(const char *password);

/*
 * Checks the policy, then hashes with a random 16-byte salt into the Argon2id encoded form
 * ("$argon2id$v=19$m=...,t=...,p=...$salt$hash"). 0, the policy's error, -ENOMEM, -EIO.
 */
int mg_admin_password_hash(const char *password, const struct mg_argon2_params *params,
                           char out[MG_ADMIN_HASH_SIZE]);
/*
 * 0 when password matches encoded (compared in constant time by libargon2), -EACCES when it
 * does not, -EINVAL when encoded is not an Argon2id hash.
 */
int mg_admin_password_verify(const char *encoded, const char *password);

/* Session tokens are bearer tokens of pki/token.h: mg_token_new(), mg_token_hash(). */

/*
 * Logs in: checks name and password against the store (an unknown or disabled account costs
 * the same hash as a wrong password and gives the same -EACCES), then creates a session
 * valid until now_us + ttl_us. token gets the session token, *admin (optional) the account.
 * The caller wipes its copy of password. 0, -EACCES, or the store's error.
 */
int mg_admin_login(struct mg_store *s, const char *name, const char *password, int64_t now_us,
                   int64_t ttl_us, char token[MG_ADMIN_TOKEN_SIZE], struct mg_store_admin *admin);
/* Creates a session for admin_id valid until now_us + ttl_us. */
int mg_admin_session_create(struct mg_store *s, int64_t admin_id, int64_t now_us, int64_t ttl_us,
                            char token[MG_ADMIN_TOKEN_SIZE]);
/*
 * The admin behind token at now_us: 0, -EACCES (malformed or unknown token), -ETIME (expired),
 * -EPERM (account disabled), or the store's error. The returned admin has password_hash wiped.
 */
int mg_admin_session_check(struct mg_store *s, const char *token, int64_t now_us,
                           struct mg_store_admin *admin);
/* Logout. -ENOENT when unknown. */
int mg_admin_session_end(struct mg_store *s, const char *token);

/* What an API call does; the role table in admin_auth.c maps each to the least role. */
enum mg_admin_action {
	MG_ACT_READ,           /* events, hosts, devices, requests, rules, policies, audit log */
	MG_ACT_OWN_PASSWORD,   /* change one's own password */
	MG_ACT_REQUEST_DECIDE, /* approve or deny device requests */
	MG_ACT_RULES_MANAGE,   /* add and remove rules */
	MG_ACT_POLICY_PUBLISH, /* sign and publish a policy version */
	MG_ACT_HOSTS_MANAGE,   /* revoke terminals */
	MG_ACT_TOKENS_MANAGE,  /* enrolment tokens */
	MG_ACT_ADMINS_MANAGE,  /* admin accounts and roles */
	MG_ACT_STAFF_APPROVE,  /* approve or deny staff key registrations (issue 15) */
	MG_ACT_STAFF_MANAGE,   /* staff members, central unlock, key revocation (issue 15) */
	MG_ACT_COUNT
};

/* admin may do everything, approver what an auditor may plus requests, rules and policy;
 * auditor only reads. False for an unknown role or action. */
bool mg_admin_may(enum mg_admin_role role, enum mg_admin_action action);
/* "read", "own_password", ...; NULL for an unknown action. */
const char *mg_admin_action_name(enum mg_admin_action action);

#endif
