/*
 * Pure parsers of the admin API's request bodies for accounts, sessions and enrolment tokens
 * (docs/API.md, "Admin API"): bytes in, struct out, no I/O. Strict like api_body.h: at most
 * MG_API_MAX_BODY bytes, one JSON object, no duplicate or unknown keys, no wrong types, valid
 * UTF-8, no NUL inside strings. All return 0, -EINVAL with err (always NUL-terminated when
 * errlen > 0) naming the field, or -ENOMEM. Password fields are only checked for size here;
 * the password policy is mg_admin_password_check(). Structs holding passwords are wiped by
 * the caller (explicit_bzero); the parsers wipe their own copies.
 */
#ifndef MG_API_ADMIN_BODY_H
#define MG_API_ADMIN_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "admin_auth.h"
#include "store.h"

#define MG_ADMIN_PW_BUF (MG_ADMIN_PASSWORD_MAX + 1)

/* Enrolment tokens: lifetime in seconds and number of uses. */
#define MG_ADMIN_TOKEN_EXPIRES_MIN INT64_C(60)
#define MG_ADMIN_TOKEN_EXPIRES_MAX (INT64_C(3650) * 86400)
#define MG_ADMIN_TOKEN_EXPIRES_DEF INT64_C(86400)
#define MG_ADMIN_TOKEN_USES_MAX    1000000u

/* POST /v1/admin/login {"name": s, "password": s} */
struct mg_admin_login_req {
	char name[MG_STORE_NAME_SIZE]; /* 1..63 bytes, any UTF-8 (unknown names fail later) */
	char password[MG_ADMIN_PW_BUF];
};
int mg_admin_parse_login(const char *buf, size_t len, struct mg_admin_login_req *out, char *err,
                         size_t errlen);

/* POST /v1/admin/password {"old_password": s, "new_password": s} */
struct mg_admin_password_req {
	char old_password[MG_ADMIN_PW_BUF];
	char new_password[MG_ADMIN_PW_BUF];
};
int mg_admin_parse_password(const char *buf, size_t len, struct mg_admin_password_req *out,
                            char *err, size_t errlen);

/* POST /v1/admin/admins {"name": s, "password": s, "role": "admin"|"approver"|"auditor"} */
struct mg_admin_new_req {
	char name[MG_STORE_NAME_SIZE]; /* [A-Za-z0-9._@-], 1..63 bytes */
	char password[MG_ADMIN_PW_BUF];
	enum mg_admin_role role;
};
int mg_admin_parse_admin_new(const char *buf, size_t len, struct mg_admin_new_req *out, char *err,
                             size_t errlen);

/* POST /v1/admin/admins/{id} {"role"?: s, "disabled"?: bool, "password"?: s}, at least one. */
struct mg_admin_update_req {
	bool has_role, has_disabled, has_password;
	enum mg_admin_role role;
	bool disabled;
	char password[MG_ADMIN_PW_BUF];
};
int mg_admin_parse_admin_update(const char *buf, size_t len, struct mg_admin_update_req *out,
                                char *err, size_t errlen);

/*
 * POST /v1/admin/tokens {"expires_in"?: seconds, "uses"?: n}; an empty body takes the
 * defaults (MG_ADMIN_TOKEN_EXPIRES_DEF, 1 use).
 */
struct mg_admin_token_req {
	int64_t expires_in_s; /* MG_ADMIN_TOKEN_EXPIRES_MIN..MAX */
	uint32_t uses;        /* 1..MG_ADMIN_TOKEN_USES_MAX */
};
int mg_admin_parse_token(const char *buf, size_t len, struct mg_admin_token_req *out, char *err,
                         size_t errlen);

/* True when name is a valid admin account name: [A-Za-z0-9._@-], 1..63 bytes. */
bool mg_admin_name_ok(const char *name);

#endif
