/* Admin passwords (Argon2id), sessions and the role table (admin_auth.h). */
#include "admin_auth.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <argon2.h>

#include "mg/utf8.h"

#define SALT_LEN 16u
#define HASH_LEN 32u

const struct mg_argon2_params mg_argon2_production = {
    .t_cost = 2, .m_cost_kib = 19u * 1024u, .parallelism = 1};
const struct mg_argon2_params mg_argon2_test = {.t_cost = 1, .m_cost_kib = 64, .parallelism = 1};

/*
 * Verified when the account does not exist, so that a login costs the same (time and memory)
 * either way: built from mg_argon2_production, so the two cannot drift apart (issue 14,
 * finding 4: a fixed m=64 MiB t=3 dummy cost five times a real login). Its hash matches no
 * password.
 */
static void dummy_hash(char out[MG_ADMIN_HASH_SIZE])
{
	snprintf(out, MG_ADMIN_HASH_SIZE,
	         "$argon2id$v=19$m=%u,t=%u,p=%u$bXluYWd1YXJkLWR1bW15$"
	         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	         (unsigned)mg_argon2_production.m_cost_kib, (unsigned)mg_argon2_production.t_cost,
	         (unsigned)mg_argon2_production.parallelism);
}

/* ---- role table: the least role allowed each action (admin < approver < auditor) ---- */
static const struct {
	const char *name;
	enum mg_admin_role least;
} actions[MG_ACT_COUNT] = {
    [MG_ACT_READ] = {"read", MG_ROLE_AUDITOR},
    [MG_ACT_OWN_PASSWORD] = {"own_password", MG_ROLE_AUDITOR},
    [MG_ACT_REQUEST_DECIDE] = {"request_decide", MG_ROLE_APPROVER},
    [MG_ACT_RULES_MANAGE] = {"rules_manage", MG_ROLE_APPROVER},
    [MG_ACT_POLICY_PUBLISH] = {"policy_publish", MG_ROLE_APPROVER},
    [MG_ACT_HOSTS_MANAGE] = {"hosts_manage", MG_ROLE_ADMIN},
    [MG_ACT_TOKENS_MANAGE] = {"tokens_manage", MG_ROLE_ADMIN},
    [MG_ACT_ADMINS_MANAGE] = {"admins_manage", MG_ROLE_ADMIN},
    [MG_ACT_STAFF_APPROVE] = {"staff_approve", MG_ROLE_APPROVER},
    [MG_ACT_STAFF_MANAGE] = {"staff_manage", MG_ROLE_ADMIN},
};

bool mg_admin_may(enum mg_admin_role role, enum mg_admin_action action)
{
	if (role != MG_ROLE_ADMIN && role != MG_ROLE_APPROVER && role != MG_ROLE_AUDITOR)
		return false;
	if ((unsigned)action >= MG_ACT_COUNT)
		return false;
	return role <= actions[action].least;
}

const char *mg_admin_action_name(enum mg_admin_action action)
{
	return (unsigned)action < MG_ACT_COUNT ? actions[action].name : NULL;
}

/* ---- passwords ---- */

int mg_admin_password_check(const char *password)
{
	size_t len, chars = 0;

	if (!password)
		return -EINVAL;
	len = strnlen(password, MG_ADMIN_PASSWORD_MAX + 1);
	if (len > MG_ADMIN_PASSWORD_MAX)
		return -ERANGE;
	if (!mg_utf8_valid(password, len))
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)password[i];
		if (c < 0x20 || c == 0x7f)
			return -EINVAL;
		if ((c & 0xc0) != 0x80) /* not a continuation byte: a new character */
			chars++;
	}
	return chars < MG_ADMIN_PASSWORD_MIN ? -ERANGE : 0;
}

int mg_admin_password_hash(const char *password, const struct mg_argon2_params *params,
                           char out[MG_ADMIN_HASH_SIZE])
{
	unsigned char salt[SALT_LEN];
	char encoded[MG_ADMIN_HASH_SIZE];
	int r;

	if (!params || !out)
		return -EINVAL;
	r = mg_admin_password_check(password);
	if (r < 0)
		return r;
	if (params->t_cost < ARGON2_MIN_TIME || params->parallelism < 1 ||
	    params->m_cost_kib < 8 * params->parallelism ||
	    argon2_encodedlen(params->t_cost, params->m_cost_kib, params->parallelism, SALT_LEN,
	                      HASH_LEN, Argon2_id) > sizeof(encoded))
		return -EINVAL;
	if (getrandom(salt, sizeof(salt), 0) != (ssize_t)sizeof(salt))
		return -EIO;
	r = argon2id_hash_encoded(params->t_cost, params->m_cost_kib, params->parallelism, password,
	                          strlen(password), salt, SALT_LEN, HASH_LEN, encoded,
	                          sizeof(encoded));
	if (r == ARGON2_MEMORY_ALLOCATION_ERROR)
		return -ENOMEM;
	if (r != ARGON2_OK)
		return -EIO;
	memcpy(out, encoded, sizeof(encoded));
	return 0;
}

int mg_admin_password_verify(const char *encoded, const char *password)
{
	size_t len;
	int r;

	if (!encoded || !password || strncmp(encoded, "$argon2id$", 10) != 0 ||
	    strnlen(encoded, MG_ADMIN_HASH_SIZE) >= MG_ADMIN_HASH_SIZE)
		return -EINVAL;
	len = strnlen(password, MG_ADMIN_PASSWORD_MAX + 1);
	if (len > MG_ADMIN_PASSWORD_MAX)
		return -EACCES; /* no stored password is that long */
	r = argon2id_verify(encoded, password, len);
	if (r == ARGON2_OK)
		return 0;
	if (r == ARGON2_VERIFY_MISMATCH)
		return -EACCES;
	if (r == ARGON2_MEMORY_ALLOCATION_ERROR)
		return -ENOMEM;
	return -EINVAL;
}

/* ---- tokens and sessions ---- */

int mg_admin_session_create(struct mg_store *s, int64_t admin_id, int64_t now_us, int64_t ttl_us,
                            char token[MG_ADMIN_TOKEN_SIZE])
{
	char t[MG_ADMIN_TOKEN_SIZE], h[MG_ADMIN_TOKEN_HASH_SIZE];
	int r;

	if (!s || !token || ttl_us <= 0 || now_us < 0 || ttl_us > INT64_MAX - now_us)
		return -EINVAL;
	if ((r = mg_token_new(t)) < 0 || (r = mg_token_hash(t, h)) < 0)
		goto fail;
	r = mg_store_session_add(s, h, admin_id, now_us, now_us + ttl_us);
	if (r < 0)
		goto fail;
	memcpy(token, t, sizeof(t));
fail:
	explicit_bzero(t, sizeof(t));
	return r;
}

int mg_admin_session_check(struct mg_store *s, const char *token, int64_t now_us,
                           struct mg_store_admin *admin)
{
	char h[MG_ADMIN_TOKEN_HASH_SIZE];
	struct mg_store_admin a;
	int r;

	if (!s)
		return -EINVAL;
	if (mg_token_hash(token, h) < 0)
		return -EACCES;
	r = mg_store_session_get(s, h, now_us, &a, NULL);
	if (r == -ENOENT)
		return -EACCES;
	if (r < 0)
		return r;
	explicit_bzero(a.password_hash, sizeof(a.password_hash));
	if (admin)
		*admin = a;
	return 0;
}

int mg_admin_session_end(struct mg_store *s, const char *token)
{
	char h[MG_ADMIN_TOKEN_HASH_SIZE];

	if (!s)
		return -EINVAL;
	if (mg_token_hash(token, h) < 0)
		return -ENOENT;
	return mg_store_session_delete(s, h);
}

int mg_admin_login(struct mg_store *s, const char *name, const char *password, int64_t now_us,
                   int64_t ttl_us, char token[MG_ADMIN_TOKEN_SIZE], struct mg_store_admin *admin)
{
	struct mg_store_admin a;
	char dummy[MG_ADMIN_HASH_SIZE];
	bool found;
	int r;

	if (!s || !name || !password || !token)
		return -EINVAL;
	r = mg_store_admin_get(s, name, &a);
	if (r < 0 && r != -ENOENT && r != -EINVAL)
		return r;
	found = r == 0;
	if (!found)
		dummy_hash(dummy);
	r = mg_admin_password_verify(found ? a.password_hash : dummy, password);
	if (found)
		explicit_bzero(a.password_hash, sizeof(a.password_hash));
	if (r == -ENOMEM)
		return r;
	if (r < 0 || !found || a.disabled)
		return -EACCES;
	r = mg_admin_session_create(s, a.id, now_us, ttl_us, token);
	if (r == 0 && admin)
		*admin = a;
	return r;
}
