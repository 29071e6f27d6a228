/*
 * Strict "key = value" configuration reader, driven by a table of keys.
 *
 *   # comment                 (a '#' at the start of a line, or after white space)
 *   key = value               (keys are [a-z0-9_]+; white space around '=' is optional)
 *
 * Unknown keys, duplicate keys, malformed lines, bad or out-of-range values, NUL bytes and
 * invalid UTF-8 are errors naming file:line. Defaults are given as text in the table and go
 * through the same checks as file values.
 */
#ifndef MG_CONFIG_H
#define MG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mg/safe_open.h"

enum mg_config_type {
	MG_CFG_STRING,   /* char *, any non-empty UTF-8 text */
	MG_CFG_PATH,     /* char *, an absolute path */
	MG_CFG_UINT,     /* uint64_t, decimal, within [min, max] */
	MG_CFG_DURATION, /* uint64_t seconds: "90", "90s", "15m", "2h", "7d", within [min, max] */
	MG_CFG_BOOL,     /* bool: yes/no, true/false, on/off, 1/0 */
	MG_CFG_ENUM,     /* int: index into choices */
	MG_CFG_LIST,     /* struct mg_strv: items separated by commas and/or white space */
};

struct mg_strv {
	char **v;
	size_t n;
};

/* Optional extra check of a parsed value; returns 0, or -EINVAL with msg filled. */
typedef int (*mg_config_check_fn)(const char *text, char *msg, size_t msglen);

struct mg_config_key {
	const char *name;
	enum mg_config_type type;
	size_t offset;              /* offsetof() the field in the target struct */
	const char *def;            /* default as text, NULL: none */
	bool required;              /* must appear in the file (or have a default) */
	uint64_t min, max;          /* MG_CFG_UINT, MG_CFG_DURATION */
	const char *const *choices; /* MG_CFG_ENUM: NULL-terminated names */
	mg_config_check_fn check;   /* STRING/PATH: the value; LIST: each item */
};

struct mg_config_error {
	char file[256];
	unsigned line; /* 0: not about one line */
	char msg[512];
};

/* Applies the defaults of keys to target (which must be zeroed first). 0 or negative errno. */
int mg_config_init(const struct mg_config_key *keys, size_t nkeys, void *target,
                   struct mg_config_error *err);

/* Parses buf[0..len), named name in errors, into target (after mg_config_init()). */
int mg_config_parse(const char *name, const char *buf, size_t len, const struct mg_config_key *keys,
                    size_t nkeys, void *target, struct mg_config_error *err);

/* mg_config_init() + mg_safe_read_file(path, rules) + mg_config_parse(). */
int mg_config_load(const char *path, const struct mg_file_rules *rules,
                   const struct mg_config_key *keys, size_t nkeys, void *target,
                   struct mg_config_error *err);

/* Frees the strings and lists that target holds and zeroes them. */
void mg_config_free(const struct mg_config_key *keys, size_t nkeys, void *target);

/* "file:line: msg" (or "file: msg") into buf. Returns buf. */
const char *mg_config_error_str(const struct mg_config_error *err, char *buf, size_t len);

/* Range-checked unsigned decimal: no sign, no spaces, no leading zeros beyond "0". */
int mg_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* A duration in seconds: digits with an optional unit s, m, h or d ("90", "15m", "7d").
 * 0 or -EINVAL / -ERANGE. */
int mg_parse_duration(const char *s, uint64_t *seconds);

void mg_strv_free(struct mg_strv *sv);
/* Appends a copy of s[0..len) (mg_strv_add: all of s). 0 or -ENOMEM (sv keeps its items). */
int mg_strv_addn(struct mg_strv *sv, const char *s, size_t len);
int mg_strv_add(struct mg_strv *sv, const char *s);
/* Replaces dst with a copy of src. 0 or -ENOMEM (dst then empty). */
int mg_strv_copy(struct mg_strv *dst, const struct mg_strv *src);
bool mg_strv_contains(const struct mg_strv *sv, const char *s);

#endif
