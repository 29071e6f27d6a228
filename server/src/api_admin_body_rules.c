/* Parsers of the admin API's rule, policy and request bodies (api_admin_body_rules.h). */
#include "api_admin_body_rules.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "api_body.h"
#include "mg/time.h"

#define U53_MAX ((INT64_C(1) << 53) - 1)

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * One JSON object of at most MG_API_MAX_BODY bytes, no duplicate keys (jansson rejects
 * invalid UTF-8 and \u0000), whose keys are all in names (NULL-terminated). An empty body is
 * {} when empty_ok.
 */
static json_t *load_object(const char *buf, size_t len, bool empty_ok, const char *const *names,
                           char *err, size_t errlen)
{
	json_error_t je;
	json_t *root, *v;
	const char *key;
	if (len > MG_API_MAX_BODY) {
		seterr(err, errlen, "body larger than %u bytes", MG_API_MAX_BODY);
		return NULL;
	}
	if (len == 0 && empty_ok)
		return json_object();
	if (!buf) {
		seterr(err, errlen, "expected a JSON object");
		return NULL;
	}
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		/* je.text may quote the input: give only the position. */
		seterr(err, errlen, "invalid JSON (line %d, column %d)", je.line, je.column);
		return NULL;
	}
	if (!json_is_object(root)) {
		seterr(err, errlen, "expected a JSON object");
		json_decref(root);
		return NULL;
	}
	json_object_foreach(root, key, v)
	{
		bool known = false, printable = true;
		size_t n = strnlen(key, 64);
		(void)v;
		for (size_t i = 0; names[i]; i++)
			if (strcmp(key, names[i]) == 0)
				known = true;
		if (known)
			continue;
		/* The key is untrusted: shown only when short printable ASCII. */
		for (size_t i = 0; i < n; i++)
			if (key[i] < 0x20 || key[i] > 0x7e)
				printable = false;
		if (printable)
			seterr(err, errlen, "%.*s: unknown key", (int)n, key);
		else
			seterr(err, errlen, "(a key): unknown key");
		json_decref(root);
		return NULL;
	}
	return root;
}

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
	json_t *v = json_object_get(obj, key);
	size_t n;
	dst[0] = '\0';
	if (absent(obj, key)) {
		if (optional)
			return 0;
		seterr(err, errlen, "%s: missing", key);
		return -EINVAL;
	}
	if (!json_is_string(v)) {
		seterr(err, errlen, "%s: expected a string", key);
		return -EINVAL;
	}
	n = json_string_length(v);
	if (n < min || n >= size || memchr(json_string_value(v), '\0', n)) {
		seterr(err, errlen, "%s: must be %zu to %zu bytes", key, min, size - 1);
		return -EINVAL;
	}
	memcpy(dst, json_string_value(v), n + 1);
	return 0;
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
		seterr(err, errlen, "%s: expected an RFC 3339 time", key);
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
	json_t *root = load_object(buf, len, false, keys, err, errlen);
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
			seterr(err, errlen,
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
	json_t *root = load_object(buf, len, true, keys, err, errlen);
	int ret = -EINVAL;
	memset(&r, 0, sizeof(r));
	if (!root)
		goto fail;
	if (!json_is_string(json_object_get(root, "scope")) && !absent(root, "scope")) {
		seterr(err, errlen, "scope: expected \"host\" or \"all\"");
		goto fail;
	}
	if (get_str(root, "scope", true, 1, scope, sizeof(scope), NULL, 0) < 0 ||
	    (scope[0] && strcmp(scope, "host") != 0 && strcmp(scope, "all") != 0)) {
		seterr(err, errlen, "scope: expected \"host\" or \"all\"");
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
	json_t *root = load_object(buf, len, true, keys, err, errlen);
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
	json_t *root = load_object(buf, len, true, keys, err, errlen);
	if (!root)
		return -EINVAL;
	json_decref(root);
	return 0;
}
