/* Strict key = value configuration reader. */
#include "mg/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg/utf8.h"

#define MAX_LINE 4096
#define MAX_KEYS 128

static int fail(struct mg_config_error *err, const char *file, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct mg_config_error *err, const char *file, unsigned line, const char *fmt, ...)
{
	if (err) {
		snprintf(err->file, sizeof(err->file), "%s", file ? file : "(config)");
		err->line = line;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

const char *mg_config_error_str(const struct mg_config_error *err, char *buf, size_t len)
{
	if (err->line)
		snprintf(buf, len, "%s:%u: %s", err->file, err->line, err->msg);
	else
		snprintf(buf, len, "%s: %s", err->file, err->msg);
	return buf;
}

int mg_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	if (s[0] == '0' && s[1] != '\0')
		return -EINVAL;
	uint64_t v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

void mg_strv_free(struct mg_strv *sv)
{
	if (!sv)
		return;
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = 0;
}

int mg_strv_addn(struct mg_strv *sv, const char *s, size_t len)
{
	char **nv = realloc(sv->v, (sv->n + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	sv->v = nv;
	if (!(nv[sv->n] = strndup(s, len)))
		return -ENOMEM;
	sv->n++;
	return 0;
}

int mg_strv_add(struct mg_strv *sv, const char *s)
{
	return mg_strv_addn(sv, s, strlen(s));
}

int mg_strv_copy(struct mg_strv *dst, const struct mg_strv *src)
{
	mg_strv_free(dst);
	for (size_t i = 0; i < src->n; i++) {
		if (mg_strv_add(dst, src->v[i]) < 0) {
			mg_strv_free(dst);
			return -ENOMEM;
		}
	}
	return 0;
}

bool mg_strv_contains(const struct mg_strv *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i], s) == 0)
			return true;
	return false;
}

static void *field(void *target, const struct mg_config_key *k)
{
	return (char *)target + k->offset;
}

int mg_parse_duration(const char *s, uint64_t *out)
{
	char num[32];
	size_t n = strlen(s);
	uint64_t mult = 1;
	if (n == 0 || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, n + 1);
	switch (num[n - 1]) {
	case 's':
		mult = 1;
		break;
	case 'm':
		mult = 60;
		break;
	case 'h':
		mult = 3600;
		break;
	case 'd':
		mult = 86400;
		break;
	default:
		if (num[n - 1] < '0' || num[n - 1] > '9')
			return -EINVAL;
		n++;
	}
	num[n - 1] = '\0';
	uint64_t v;
	int r = mg_parse_u64(num, 0, UINT64_MAX / mult, &v);
	if (r < 0)
		return r;
	*out = v * mult;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int set_list(const struct mg_config_key *k, const char *value, void *target,
                    struct mg_config_error *err, const char *file, unsigned line)
{
	struct mg_strv sv = {NULL, 0};
	const char *p = value;
	int r = 0;
	while (*p) {
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		size_t n = strcspn(p, ", \t");
		if ((r = mg_strv_addn(&sv, p, n)) < 0)
			goto out;
		if (k->check) {
			char msg[256] = "";
			if (k->check(sv.v[sv.n - 1], msg, sizeof(msg)) < 0) {
				r = fail(err, file, line, "bad item '%s' in '%s': %s",
				         sv.v[sv.n - 1], k->name, msg);
				goto out;
			}
		}
		p += n;
	}
	struct mg_strv *dst = field(target, k);
	mg_strv_free(dst);
	*dst = sv;
	return 0;
out:
	mg_strv_free(&sv);
	return r;
}

/* Parses value for key k into target; errors name file:line. */
static int set_value(const struct mg_config_key *k, const char *value, void *target,
                     struct mg_config_error *err, const char *file, unsigned line)
{
	int r;
	if (k->type == MG_CFG_LIST)
		return set_list(k, value, target, err, file, line);
	if (value[0] == '\0')
		return fail(err, file, line, "empty value for '%s'", k->name);
	switch (k->type) {
	case MG_CFG_PATH:
		if (value[0] != '/')
			return fail(err, file, line, "'%s' must be an absolute path, got '%s'",
			            k->name, value);
		__attribute__((fallthrough));
	case MG_CFG_STRING: {
		if (k->check) {
			char msg[256] = "";
			if (k->check(value, msg, sizeof(msg)) < 0)
				return fail(err, file, line, "bad value '%s' for '%s': %s", value,
				            k->name, msg);
		}
		char *copy = strdup(value);
		if (!copy)
			return -ENOMEM;
		char **dst = field(target, k);
		free(*dst);
		*dst = copy;
		return 0;
	}
	case MG_CFG_UINT:
	case MG_CFG_DURATION: {
		uint64_t v;
		r = k->type == MG_CFG_UINT ? mg_parse_u64(value, 0, UINT64_MAX, &v)
		                           : mg_parse_duration(value, &v);
		if (r == -EINVAL)
			return fail(err, file, line, "'%s' must be %s, got '%s'", k->name,
			            k->type == MG_CFG_UINT
			                ? "a decimal number"
			                : "a duration (seconds, or a number with s, m, h or d)",
			            value);
		if (r < 0 || v < k->min || v > k->max)
			return fail(err, file, line,
			            "value '%s' for '%s' is out of range [%llu, %llu]%s", value,
			            k->name, (unsigned long long)k->min, (unsigned long long)k->max,
			            k->type == MG_CFG_DURATION ? " seconds" : "");
		*(uint64_t *)field(target, k) = v;
		return 0;
	}
	case MG_CFG_BOOL:
		if (parse_bool(value, field(target, k)) < 0)
			return fail(err, file, line, "'%s' must be yes or no, got '%s'", k->name,
			            value);
		return 0;
	case MG_CFG_ENUM: {
		char allowed[256] = "";
		size_t used = 0;
		for (int i = 0; k->choices && k->choices[i]; i++) {
			if (strcmp(value, k->choices[i]) == 0) {
				*(int *)field(target, k) = i;
				return 0;
			}
			int n = snprintf(allowed + used, sizeof(allowed) - used, "%s%s",
			                 i ? ", " : "", k->choices[i]);
			if (n > 0 && (size_t)n < sizeof(allowed) - used)
				used += (size_t)n;
		}
		return fail(err, file, line, "'%s' must be one of %s, got '%s'", k->name, allowed,
		            value);
	}
	case MG_CFG_LIST:
		break;
	}
	return fail(err, file, line, "internal: bad type for '%s'", k->name);
}

int mg_config_init(const struct mg_config_key *keys, size_t nkeys, void *target,
                   struct mg_config_error *err)
{
	for (size_t i = 0; i < nkeys; i++) {
		if (!keys[i].def)
			continue;
		int r = set_value(&keys[i], keys[i].def, target, err, "(defaults)", 0);
		if (r < 0)
			return r;
	}
	return 0;
}

static bool key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

int mg_config_parse(const char *name, const char *buf, size_t len, const struct mg_config_key *keys,
                    size_t nkeys, void *target, struct mg_config_error *err)
{
	unsigned seen_line[MAX_KEYS] = {0};
	char line[MAX_LINE + 1];
	unsigned lineno = 0;
	size_t pos = 0;

	if (nkeys > MAX_KEYS)
		return fail(err, name, 0, "internal: too many keys");
	if (memchr(buf, '\0', len)) {
		size_t off = (size_t)((const char *)memchr(buf, '\0', len) - buf);
		unsigned l = 1;
		for (size_t i = 0; i < off; i++)
			l += buf[i] == '\n';
		return fail(err, name, l, "NUL byte in file");
	}
	while (pos < len) {
		lineno++;
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (buf + pos)) : len - pos;
		if (n > MAX_LINE)
			return fail(err, name, lineno, "line longer than %d bytes", MAX_LINE);
		memcpy(line, buf + pos, n);
		line[n] = '\0';
		pos += n + (nl ? 1 : 0);
		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		if (!mg_utf8_valid(line, n))
			return fail(err, name, lineno, "invalid UTF-8");
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)line[i] < 0x20 && line[i] != '\t')
				return fail(err, name, lineno, "control character in line");

		/* Strip a comment: '#' at the start or after white space. */
		for (size_t i = 0; i < n; i++) {
			if (line[i] == '#' && (i == 0 || blank(line[i - 1]))) {
				line[i] = '\0';
				n = i;
				break;
			}
		}
		char *p = line;
		while (blank(*p))
			p++;
		char *end = line + n;
		while (end > p && blank(end[-1]))
			*--end = '\0';
		if (*p == '\0')
			continue;

		char *key = p;
		while (key_char(*p))
			p++;
		char *key_end = p;
		while (blank(*p))
			p++;
		if (key_end == key || *p != '=') {
			if (key_end == key)
				return fail(err, name, lineno,
				            "expected 'key = value' (keys are lower-case letters, "
				            "digits and '_')");
			*key_end = '\0';
			return fail(err, name, lineno, "expected '=' after '%s'", key);
		}
		*key_end = '\0';
		p++;
		while (blank(*p))
			p++;

		const struct mg_config_key *k = NULL;
		size_t ki = 0;
		for (; ki < nkeys; ki++) {
			if (strcmp(keys[ki].name, key) == 0) {
				k = &keys[ki];
				break;
			}
		}
		if (!k)
			return fail(err, name, lineno, "unknown key '%s'", key);
		if (seen_line[ki])
			return fail(err, name, lineno, "duplicate key '%s' (first set on line %u)",
			            key, seen_line[ki]);
		seen_line[ki] = lineno;
		int r = set_value(k, p, target, err, name, lineno);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < nkeys; i++)
		if (keys[i].required && !seen_line[i] && !keys[i].def)
			return fail(err, name, 0, "missing required key '%s'", keys[i].name);
	return 0;
}

int mg_config_load(const char *path, const struct mg_file_rules *rules,
                   const struct mg_config_key *keys, size_t nkeys, void *target,
                   struct mg_config_error *err)
{
	int r = mg_config_init(keys, nkeys, target, err);
	if (r < 0)
		return r;
	char *data = NULL;
	size_t len = 0;
	const char *why = NULL;
	r = mg_safe_read_file(path, rules, &data, &len, &why);
	if (r < 0) {
		fail(err, path, 0, "refused: %s (%s)", why ? why : "cannot be read", strerror(-r));
		return r;
	}
	r = mg_config_parse(path, data, len, keys, nkeys, target, err);
	free(data);
	return r;
}

void mg_config_free(const struct mg_config_key *keys, size_t nkeys, void *target)
{
	for (size_t i = 0; i < nkeys; i++) {
		const struct mg_config_key *k = &keys[i];
		if (k->type == MG_CFG_STRING || k->type == MG_CFG_PATH) {
			char **s = field(target, k);
			free(*s);
			*s = NULL;
		} else if (k->type == MG_CFG_LIST) {
			mg_strv_free(field(target, k));
		}
	}
}
