/* Strict JSON request bodies (json_body.h). */
#include "json_body.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void mg_body_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int mg_body_keys(json_t *obj, const char *const *names, char *err, size_t errlen)
{
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v)
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
			mg_body_err(err, errlen, "%.*s: unknown key", (int)n, key);
		else
			mg_body_err(err, errlen, "(a key): unknown key");
		return -EINVAL;
	}
	return 0;
}

json_t *mg_body_object(const char *buf, size_t len, bool empty_ok, const char *const *names,
                       char *err, size_t errlen)
{
	json_error_t je;
	json_t *root;
	if (len > MG_BODY_MAX) {
		mg_body_err(err, errlen, "body larger than %u bytes", MG_BODY_MAX);
		return NULL;
	}
	if (len == 0 && empty_ok)
		return json_object();
	if (!buf) {
		mg_body_err(err, errlen, "expected a JSON object");
		return NULL;
	}
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		/* je.text may quote the input (a password): give only the position. */
		mg_body_err(err, errlen, "invalid JSON (line %d, column %d)", je.line, je.column);
		return NULL;
	}
	if (!json_is_object(root)) {
		mg_body_err(err, errlen, "expected a JSON object");
		json_decref(root);
		return NULL;
	}
	if (mg_body_keys(root, names, err, errlen) < 0) {
		json_decref(root);
		return NULL;
	}
	return root;
}

int mg_body_str(json_t *obj, const char *key, unsigned flags, size_t min, char *dst, size_t size,
                char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	size_t n;
	dst[0] = '\0';
	if (!v || ((flags & MG_BODY_NULL_ABSENT) && json_is_null(v))) {
		if (flags & MG_BODY_OPTIONAL)
			return -ENOENT;
		mg_body_err(err, errlen, "%s: missing", key);
		return -EINVAL;
	}
	if (!json_is_string(v)) {
		mg_body_err(err, errlen, "%s: expected a string", key);
		return -EINVAL;
	}
	n = json_string_length(v);
	if (n < min || n >= size || memchr(json_string_value(v), '\0', n)) {
		mg_body_err(err, errlen, "%s: must be %zu to %zu bytes", key, min, size - 1);
		return -EINVAL;
	}
	memcpy(dst, json_string_value(v), n + 1);
	return 0;
}
