/*
 * The staff registry's front door (store.h, issue 15): argument checks against the limits of
 * store.h, the admin action record, then the shared SQL (store_sql_staff.c).
 */
#include "store_int.h"
#include "store_sql.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mg/user_name.h"
#include "mg/utf8.h"

static const char *const key_states[] = {
    [MG_STAFF_KEY_PENDING] = "pending",
    [MG_STAFF_KEY_ACTIVE] = "active",
    [MG_STAFF_KEY_REVOKED] = "revoked",
    [MG_STAFF_KEY_DENIED] = "denied",
};

const char *mg_staff_key_state_name(enum mg_staff_key_state s)
{
	return (unsigned)s < sizeof(key_states) / sizeof(key_states[0]) ? key_states[s] : NULL;
}

int mg_staff_key_state_from_name(const char *name, enum mg_staff_key_state *out)
{
	for (size_t i = 0; name && i < sizeof(key_states) / sizeof(key_states[0]); i++)
		if (strcmp(name, key_states[i]) == 0) {
			*out = (enum mg_staff_key_state)i;
			return 0;
		}
	return -EINVAL;
}

/* NULL or "" (when optional), else shorter than size, UTF-8, no control characters. */
static bool line_ok(const char *s, size_t size, bool optional)
{
	if (!s || !*s)
		return optional;
	size_t len = strnlen(s, size);
	if (len >= size || !mg_utf8_valid(s, len))
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static bool chars_ok(const char *s, size_t min, size_t size, const char *set)
{
	size_t len = strnlen(s, size);
	return len >= min && len < size && strspn(s, set) == len;
}

static bool b64_ok(const char *s, size_t size)
{
	return chars_ok(s, 4, size,
	                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") &&
	       strlen(s) % 4 == 0;
}

static int action_init(struct mg_store_action *a, const struct mg_store_actor *by,
                       const char *action, int64_t target_id, int64_t now_us)
{
	memset(a, 0, sizeof(*a));
	if (!by || !by->admin ||
	    !chars_ok(by->admin, 1, MG_STORE_NAME_SIZE,
	              "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	              "0123456789._@-"))
		return -EINVAL;
	if (by->remote && *by->remote && !line_ok(by->remote, 64, true))
		return -EINVAL;
	a->admin = by->admin;
	a->remote = by->remote;
	snprintf(a->action, sizeof(a->action), "%s", action);
	if (target_id > 0)
		snprintf(a->target, sizeof(a->target), "%s:%" PRId64,
		         strncmp(action, "staff.key", 9) == 0 ? "staff_key" : "staff", target_id);
	else
		a->target_kind = "staff";
	a->now_us = now_us;
	return 0;
}

static int action_detail(struct mg_store_action *a, json_t *o)
{
	if (!o)
		return -ENOMEM;
	a->detail = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return a->detail ? 0 : -ENOMEM;
}

int mg_store_staff_add(struct mg_store *s, const struct mg_store_actor *by, const char *login,
                       const char *display_name, const char *department, int64_t now_us,
                       int64_t *id_out)
{
	struct mg_store_action a = {0};
	int r = 0;
	if (!s || !login || !id_out || !mg_user_name_valid(login, strnlen(login, 256)) ||
	    !line_ok(display_name, MG_STORE_STAFF_TEXT, true) ||
	    !line_ok(department, MG_STORE_STAFF_TEXT, true))
		return -EINVAL;
	if (by) {
		r = action_init(&a, by, "staff.add", 0, now_us);
		if (r == 0)
			r = action_detail(&a,
			                  json_pack("{s:s,s:s,s:s}", "login", login, "display_name",
			                            display_name ? display_name : "", "department",
			                            department ? department : ""));
	}
	if (r == 0)
		r = mg_sql_staff_add(s, by ? &a : NULL, login, display_name ? display_name : "",
		                     department ? department : "", now_us, id_out);
	free(a.detail);
	return r;
}

struct first_staff {
	struct mg_store_staff *out;
	bool found;
};

static int first_staff_cb(void *ctx, const struct mg_store_staff *m)
{
	struct first_staff *f = ctx;
	*f->out = *m;
	f->found = true;
	return 1;
}

int mg_store_staff_get(struct mg_store *s, int64_t id, const char *login,
                       struct mg_store_staff *out)
{
	if (!s || !out || (login && !mg_user_name_valid(login, strnlen(login, 256))) ||
	    (!login && id <= 0))
		return -EINVAL;
	struct mg_store_staff *m = malloc(sizeof(*m));
	struct first_staff f = {m, false};
	if (!m)
		return -ENOMEM;
	int r = mg_sql_staff_foreach(s, login ? 0 : id, login, first_staff_cb, &f);
	if (r >= 0)
		r = f.found ? 0 : -ENOENT;
	if (r == 0)
		*out = *m;
	free(m);
	return r;
}

int mg_store_staff_foreach(struct mg_store *s, int (*cb)(void *ctx, const struct mg_store_staff *m),
                           void *ctx)
{
	if (!s || !cb)
		return -EINVAL;
	return mg_sql_staff_foreach(s, 0, NULL, cb, ctx);
}

int mg_store_staff_set_disabled(struct mg_store *s, const struct mg_store_actor *by, int64_t id,
                                bool disabled, int64_t now_us)
{
	struct mg_store_action a = {0};
	if (!s || id <= 0)
		return -EINVAL;
	if (by && action_init(&a, by, disabled ? "staff.disable" : "staff.enable", id, now_us) < 0)
		return -EINVAL;
	return mg_sql_staff_set_disabled(s, by ? &a : NULL, id, disabled, now_us);
}

int mg_store_staff_unlock(struct mg_store *s, const struct mg_store_actor *by, int64_t id,
                          int64_t now_us)
{
	struct mg_store_action a = {0};
	if (!s || id <= 0 || now_us <= 0)
		return -EINVAL;
	if (by && action_init(&a, by, "staff.unlock", id, now_us) < 0)
		return -EINVAL;
	return mg_sql_staff_unlock(s, by ? &a : NULL, id, now_us);
}

static bool key_ok(const struct mg_store_staff_key *k)
{
	static const char hex[] = "0123456789abcdef";
	static const char idchars[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
	return mg_user_name_valid(k->login, strnlen(k->login, sizeof(k->login))) &&
	       b64_ok(k->credential_id, sizeof(k->credential_id)) &&
	       b64_ok(k->public_key, sizeof(k->public_key)) &&
	       (k->cose_alg == -7 || k->cose_alg == -8 || k->cose_alg == -257) &&
	       line_ok(k->rp_id, sizeof(k->rp_id), false) && chars_ok(k->aaguid, 32, 33, hex) &&
	       chars_ok(k->attestation_fmt, 1, sizeof(k->attestation_fmt),
	                "abcdefghijklmnopqrstuvwxyz-") &&
	       line_ok(k->attestation_subject, sizeof(k->attestation_subject), true) &&
	       line_ok(k->label, sizeof(k->label), false) && k->registered_by_host > 0 &&
	       chars_ok(k->registration_id, 1, sizeof(k->registration_id), idchars);
}

int mg_store_staff_key_add(struct mg_store *s, const struct mg_store_staff_key *k, int64_t now_us,
                           int64_t *id_out, bool *created)
{
	if (!s || !k || !id_out || !created || !key_ok(k))
		return -EINVAL;
	return mg_sql_staff_key_add(s, k, now_us, id_out, created);
}

struct first_key {
	struct mg_store_staff_key *out;
	bool found;
};

static int first_key_cb(void *ctx, const struct mg_store_staff_key *k)
{
	struct first_key *f = ctx;
	*f->out = *k;
	f->found = true;
	return 1;
}

int mg_store_staff_key_get(struct mg_store *s, int64_t id, struct mg_store_staff_key *out)
{
	if (!s || id <= 0 || !out)
		return -EINVAL;
	struct mg_store_staff_key *k = malloc(sizeof(*k));
	struct first_key f = {k, false};
	if (!k)
		return -ENOMEM;
	int r = mg_sql_staff_keys_foreach(s, id, 0, NULL, first_key_cb, &f);
	if (r >= 0)
		r = f.found ? 0 : -ENOENT;
	if (r == 0)
		*out = *k;
	free(k);
	return r;
}

int mg_store_staff_keys_foreach(struct mg_store *s, int64_t staff_id, int state,
                                int (*cb)(void *ctx, const struct mg_store_staff_key *k), void *ctx)
{
	const char *name = NULL;
	if (!s || !cb || staff_id < 0 ||
	    (state >= 0 && !(name = mg_staff_key_state_name((enum mg_staff_key_state)state))))
		return -EINVAL;
	return mg_sql_staff_keys_foreach(s, 0, staff_id, name, cb, ctx);
}

int mg_store_staff_key_decide(struct mg_store *s, const struct mg_store_actor *by, int64_t id,
                              enum mg_staff_key_state to, int64_t now_us)
{
	struct mg_store_action a = {0};
	const char *action = to == MG_STAFF_KEY_ACTIVE    ? "staff.key_approve"
	                     : to == MG_STAFF_KEY_DENIED  ? "staff.key_deny"
	                     : to == MG_STAFF_KEY_REVOKED ? "staff.key_revoke"
	                                                  : NULL;
	if (!s || id <= 0 || !action)
		return -EINVAL;
	if (by && action_init(&a, by, action, id, now_us) < 0)
		return -EINVAL;
	return mg_sql_staff_key_decide(s, by ? &a : NULL, id, to, now_us);
}
