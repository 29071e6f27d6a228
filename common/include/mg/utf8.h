/* UTF-8 validation and lossy repair for strings that come from devices, files and users. */
#ifndef MG_UTF8_H
#define MG_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True when s[0..len) is well-formed UTF-8 (RFC 3629: no overlongs, surrogates, or > U+10FFFF). */
bool mg_utf8_valid(const char *s, size_t len);

/*
 * Returns a NUL-terminated copy of s[0..len) in which every byte that is not part of a
 * well-formed sequence is replaced by U+FFFD, and NUL bytes by U+FFFD too; NULL on ENOMEM.
 * *changed (optional) tells whether anything was replaced. The caller frees the result.
 */
char *mg_utf8_repair(const char *s, size_t len, bool *changed);

/*
 * A copy of s (NUL-terminated, UTF-8) fit for a terminal: every character a terminal would act
 * on is written as an escape instead: C0 controls and DEL as \xHH, C1 controls (U+0080 to
 * U+009F) and the bidirectional embeddings, overrides and isolates (U+202A to U+202E, U+2066 to
 * U+2069) as \uHHHH, and the backslash itself as \\. Everything else is kept. For human
 * output of strings that devices, files or users chose. NULL on ENOMEM; the caller frees it.
 */
char *mg_utf8_escape_terminal(const char *s);

#endif
