/* Parsers of the admin API's rule, policy and request bodies (api_admin_body_rules.h). */
#include "api_admin_body_rules.h"

#include <errno.h>
#include <string.h>

#include <jansson.h>

#include "json_body.h"
#include "mg/time.h"

#define U53_MAX ((INT64_C(1) << 53) - 1)

/* Member key is absent or null. */
static bool absent(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return !v || json_is_null(v);
}

/* String member of min..size-1 bytes into dst; absent or null leaves dst "" when optional. */
static int get_str(json_t *obj, const char *key, bool optional, size_t min, char *dst, size_t size,
                   char *err, size_t errlen)
{
	int r = mg_body_str(obj, key, MG_BODY_NULL_ABSENT | (optional ? MG_BODY_OPTIONAL : 0u), min,
	                    dst, size, err, errlen);
	return r == -ENOENT ? 0 : r;
}

/* Optional RFC 3339 time member; 0 when absent or null. */
static int get_time(json_t *obj, const char *key, int64_t *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	int64_t us = 0;
	*out = 0;
	if (absent(obj, key))
		return 0;
	if (!json_is_string(v) || json_string_length(v) >= MG_RFC3339_LEN + 8 ||
	    mg_time_parse(json_string_value(v), &us) < 0 || us <= 0) {
		mg_body_err(err, errlen, "%s: expected an RFC 3339 time", key);
		return -EINVAL;
	}
	*out = us;
	return 0;
}

int mg_admin_parse_rule(const char *buf, size_t len, struct mg_admin_rule_req *out, char *err,
                        size_t errlen)
{
	static const char *const keys[] = {"rule", "host_id", "expires_at", "comment", NULL};
	struct mg_admin_rule_req r;
	json_t *root = mg_body_object(buf, len, false, keys, err, errlen);
	json_t *h;
	int ret = -EINVAL;
	memset(&r, 0, sizeof(r));
	if (!root)
		goto fail;
	if (get_str(root, "rule", false, 1, r.rule, sizeof(r.rule), err, errlen) < 0 ||
	    get_time(root, "expires_at", &r.expires_us, err, errlen) < 0 ||
	    get_str(root, "comment", true, 0, r.comment, sizeof(r.comment), err, errlen) < 0)
		goto fail;
	h = json_object_get(root, "host_id");
	if (!absent(root, "host_id")) {
		if (!json_is_integer(h) || json_integer_value(h) < 0 ||
		    json_integer_value(h) > U53_MAX) {
			mg_body_err(err, errlen,
			            "host_id: expected 0 (all hosts) or a host id up to 2^53 - 1");
			goto fail;
		}
		r.host_id = (int64_t)json_integer_value(h);
	}
	*out = r;
	ret = 0;
fail:
	json_decref(root);
	return ret;
}

int mg_admin_parse_approve(const char *buf, size_t len, struct mg_admin_approve_req *out, char *err,
                           size_t errlen)
{
	static const char *const keys[] = {"scope", "expires_at", "note", NULL};
	struct mg_admin_approve_req r;
	char scope[8];
	json_t *root = mg_body_object(buf, len, true, keys, err, errlen);
	int ret = -EINVAL;
	memset(&r, 0, sizeof(r));
	if (!root)
		goto fail;
	if (!json_is_string(json_object_get(root, "scope")) && !absent(root, "scope")) {
		mg_body_err(err, errlen, "scope: expected \"host\" or \"all\"");
		goto fail;
	}
	if (get_str(root, "scope", true, 1, scope, sizeof(scope), NULL, 0) < 0 ||
	    (scope[0] && strcmp(scope, "host") != 0 && strcmp(scope, "all") != 0)) {
		mg_body_err(err, errlen, "scope: expected \"host\" or \"all\"");
		goto fail;
	}
	r.all_hosts = strcmp(scope, "all") == 0;
	if (get_time(root, "expires_at", &r.expires_us, err, errlen) < 0 ||
	    get_str(root, "note", true, 0, r.note, sizeof(r.note), err, errlen) < 0)
		goto fail;
	*out = r;
	ret = 0;
fail:
	json_decref(root);
	return ret;
}

int mg_admin_parse_deny(const char *buf, size_t len, struct mg_admin_deny_req *out, char *err,
                        size_t errlen)
{
	static const char *const keys[] = {"note", NULL};
	struct mg_admin_deny_req r;
	json_t *root = mg_body_object(buf, len, true, keys, err, errlen);
	int ret = -EINVAL;
	memset(&r, 0, sizeof(r));
	if (!root)
		goto fail;
	if (get_str(root, "note", true, 0, r.note, sizeof(r.note), err, errlen) < 0)
		goto fail;
	*out = r;
	ret = 0;
fail:
	json_decref(root);
	return ret;
}

int mg_admin_parse_publish(const char *buf, size_t len, char *err, size_t errlen)
{
	static const char *const keys[] = {NULL};
	json_t *root = mg_body_object(buf, len, true, keys, err, errlen);
	if (!root)
		return -EINVAL;
	json_decref(root);
	return 0;
}
