/*
 * Strict JSON request bodies, shared by the body parsers (api_body.c, api_admin_body.c,
 * api_admin_body_rules.c): pure, no I/O. Untrusted input: the size is capped at
 * MG_BODY_MAX, duplicate keys, unknown keys and invalid UTF-8 are errors, and no error
 * quotes the input (only positions, field names and printable ASCII keys). err is always
 * NUL-terminated when errlen > 0.
 */
#ifndef MG_JSON_BODY_H
#define MG_JSON_BODY_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define MG_BODY_MAX (1024u * 1024u) /* bytes of one request body */

/* printf into err (nothing when err is NULL or errlen is 0). */
void mg_body_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * One JSON object of at most MG_BODY_MAX bytes, no duplicate keys (jansson rejects invalid
 * UTF-8 and \u0000), whose keys are all in names (NULL-terminated). An empty body is {} when
 * empty_ok. The object (owned by the caller), or NULL with err set.
 */
json_t *mg_body_object(const char *buf, size_t len, bool empty_ok, const char *const *names,
                       char *err, size_t errlen);

/* Every key of obj is in names (NULL-terminated): 0, or -EINVAL with "<key>: unknown key" (a
 * key that is not short printable ASCII is shown as "(a key)"). */
int mg_body_keys(json_t *obj, const char *const *names, char *err, size_t errlen);

/* Flags of mg_body_str(). */
#define MG_BODY_OPTIONAL    1u /* absent: "" in dst and -ENOENT, not an error */
#define MG_BODY_NULL_ABSENT 2u /* null counts as absent (else it is not a string) */

/*
 * String member key of min..size-1 bytes without NUL, copied into dst (size > 0; dst is ""
 * on any failure). 0, -ENOENT (absent and optional), or -EINVAL with err "key: missing",
 * "key: expected a string" or "key: must be <min> to <size-1> bytes".
 */
int mg_body_str(json_t *obj, const char *key, unsigned flags, size_t min, char *dst, size_t size,
                char *err, size_t errlen);

#endif
