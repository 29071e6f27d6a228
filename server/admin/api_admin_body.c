/* Parsers of the admin API's account, session and token bodies (api_admin_body.h). */
#include "api_admin_body.h"

#include <errno.h>
#include <string.h>

#include <jansson.h>

#include "json_body.h"

bool mg_admin_name_ok(const char *name)
{
	size_t n;
	if (!name)
		return false;
	n = strnlen(name, MG_STORE_NAME_SIZE);
	if (n == 0 || n >= MG_STORE_NAME_SIZE)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '@' || c == '-'))
			return false;
	}
	return true;
}

/* String member key of 1..size-1 bytes into dst; absent: -ENOENT when optional. */
static int get_str(json_t *obj, const char *key, bool optional, char *dst, size_t size, char *err,
                   size_t errlen)
{
	return mg_body_str(obj, key, optional ? MG_BODY_OPTIONAL : 0, 1, dst, size, err, errlen);
}

static int get_role(json_t *obj, bool optional, enum mg_admin_role *out, char *err, size_t errlen)
{
	char s[16];
	int r = get_str(obj, "role", optional, s, sizeof(s), err, errlen);
	if (r == -EINVAL && json_is_string(json_object_get(obj, "role")))
		r = -ERANGE; /* too long: not a role either */
	if (r == -ENOENT)
		return r;
	if (r == -ERANGE || (r == 0 && mg_admin_role_from_name(s, out) < 0)) {
		mg_body_err(err, errlen, "role: expected \"admin\", \"approver\" or \"auditor\"");
		return -EINVAL;
	}
	return r;
}

/* Integer member key in min..max; def when absent. */
static int get_int(json_t *obj, const char *key, int64_t min, int64_t max, int64_t def,
                   int64_t *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	if (!v) {
		*out = def;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		mg_body_err(err, errlen, "%s: expected an integer from %lld to %lld", key,
		            (long long)min, (long long)max);
		return -EINVAL;
	}
	*out = (int64_t)json_integer_value(v);
	return 0;
}

int mg_admin_parse_login(const char *buf, size_t len, struct mg_admin_login_req *out, char *err,
                         size_t errlen)
{
	static const char *const keys[] = {"name", "password", NULL};
	struct mg_admin_login_req r = {0};
	json_t *root = mg_body_object(buf, len, false, keys, err, errlen);
	int ret = -EINVAL;
	if (!root)
		goto done;
	if (get_str(root, "name", false, r.name, sizeof(r.name), err, errlen) < 0 ||
	    get_str(root, "password", false, r.password, sizeof(r.password), err, errlen) < 0)
		goto done;
	*out = r;
	ret = 0;
done:
	explicit_bzero(&r, sizeof(r));
	json_decref(root); /* jansson does not wipe: the body buffer holds the secret anyway */
	return ret;
}

int mg_admin_parse_password(const char *buf, size_t len, struct mg_admin_password_req *out,
                            char *err, size_t errlen)
{
	static const char *const keys[] = {"old_password", "new_password", NULL};
	struct mg_admin_password_req r = {0};
	json_t *root = mg_body_object(buf, len, false, keys, err, errlen);
	int ret = -EINVAL;
	if (!root)
		goto done;
	if (get_str(root, "old_password", false, r.old_password, sizeof(r.old_password), err,
	            errlen) < 0 ||
	    get_str(root, "new_password", false, r.new_password, sizeof(r.new_password), err,
	            errlen) < 0)
		goto done;
	*out = r;
	ret = 0;
done:
	explicit_bzero(&r, sizeof(r));
	json_decref(root);
	return ret;
}

int mg_admin_parse_admin_new(const char *buf, size_t len, struct mg_admin_new_req *out, char *err,
                             size_t errlen)
{
	static const char *const keys[] = {"name", "password", "role", NULL};
	struct mg_admin_new_req r = {0};
	json_t *root = mg_body_object(buf, len, false, keys, err, errlen);
	int ret = -EINVAL;
	if (!root)
		goto done;
	if (get_str(root, "name", false, r.name, sizeof(r.name), err, errlen) < 0)
		goto done;
	if (!mg_admin_name_ok(r.name)) {
		mg_body_err(err, errlen, "name: use 1 to 63 of A-Z a-z 0-9 . _ @ -");
		goto done;
	}
	if (get_str(root, "password", false, r.password, sizeof(r.password), err, errlen) < 0 ||
	    get_role(root, false, &r.role, err, errlen) < 0)
		goto done;
	*out = r;
	ret = 0;
done:
	explicit_bzero(&r, sizeof(r));
	json_decref(root);
	return ret;
}

int mg_admin_parse_admin_update(const char *buf, size_t len, struct mg_admin_update_req *out,
                                char *err, size_t errlen)
{
	static const char *const keys[] = {"role", "disabled", "password", NULL};
	struct mg_admin_update_req r = {0};
	json_t *root = mg_body_object(buf, len, false, keys, err, errlen);
	json_t *d;
	int ret = -EINVAL, k;
	if (!root)
		goto done;
	k = get_role(root, true, &r.role, err, errlen);
	if (k == -EINVAL)
		goto done;
	r.has_role = k == 0;
	d = json_object_get(root, "disabled");
	if (d) {
		if (!json_is_boolean(d)) {
			mg_body_err(err, errlen, "disabled: expected true or false");
			goto done;
		}
		r.has_disabled = true;
		r.disabled = json_is_true(d);
	}
	k = get_str(root, "password", true, r.password, sizeof(r.password), err, errlen);
	if (k == -EINVAL)
		goto done;
	r.has_password = k == 0;
	if (!r.has_role && !r.has_disabled && !r.has_password) {
		mg_body_err(err, errlen, "expected at least one of role, disabled, password");
		goto done;
	}
	*out = r;
	ret = 0;
done:
	explicit_bzero(&r, sizeof(r));
	json_decref(root);
	return ret;
}

int mg_admin_parse_token(const char *buf, size_t len, struct mg_admin_token_req *out, char *err,
                         size_t errlen)
{
	static const char *const keys[] = {"expires_in", "uses", NULL};
	struct mg_admin_token_req r = {MG_ADMIN_TOKEN_EXPIRES_DEF, 1};
	json_t *root;
	int64_t uses;
	int ret = -EINVAL;
	if (len == 0) {
		*out = r;
		return 0;
	}
	root = mg_body_object(buf, len, false, keys, err, errlen);
	if (!root)
		return -EINVAL;
	if (get_int(root, "expires_in", MG_ADMIN_TOKEN_EXPIRES_MIN, MG_ADMIN_TOKEN_EXPIRES_MAX,
	            MG_ADMIN_TOKEN_EXPIRES_DEF, &r.expires_in_s, err, errlen) < 0 ||
	    get_int(root, "uses", 1, MG_ADMIN_TOKEN_USES_MAX, 1, &uses, err, errlen) < 0)
		goto done;
	r.uses = (uint32_t)uses;
	*out = r;
	ret = 0;
done:
	json_decref(root);
	return ret;
}
