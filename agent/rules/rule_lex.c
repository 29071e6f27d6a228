/*
 * Tokenizer of one rules.conf line. Strings follow USBGuard 1.1: between double quotes,
 * any byte but CR/LF; escapes \" \\ and \xHH (Utility.cpp unescapeString accepts no other,
 * although its grammar lets \n, \t, \0 ... through to that error). We also refuse NUL
 * (done by the caller, per line) and raw bytes that are not UTF-8; \xHH can still write
 * any byte, since device strings may hold anything.
 */
#include "rule_lex.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg/utf8.h"
#include "rule_internal.h"

static int lex_fail(struct rule_lexer *lx, int code, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int lex_fail(struct rule_lexer *lx, int code, size_t pos, const char *fmt, ...)
{
	va_list ap;
	lx->err_col = (unsigned)pos + 1;
	va_start(ap, fmt);
	vsnprintf(lx->err_msg, sizeof(lx->err_msg), fmt, ap);
	va_end(ap);
	return code;
}

void rule_lex_reset(struct rule_lexer *lx, const char *line, size_t len)
{
	lx->line = line;
	lx->len = len;
	lx->pos = 0;
	lx->err_col = 0;
	lx->err_msg[0] = '\0';
}

void rule_lex_fini(struct rule_lexer *lx)
{
	free(lx->buf);
	lx->buf = NULL;
	lx->cap = 0;
}

static bool is_blank(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* Bytes of a bare word: printable ASCII except the characters that delimit tokens. */
static bool is_word(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '"' && c != '{' && c != '}' && c != '#';
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Length of the UTF-8 sequence that lead starts (RFC 3629), 0 if it starts none. */
static size_t utf8_seq_len(unsigned char lead)
{
	if (lead >= 0xc2 && lead <= 0xdf)
		return 2;
	if (lead >= 0xe0 && lead <= 0xef)
		return 3;
	if (lead >= 0xf0 && lead <= 0xf4)
		return 4;
	return 0;
}

static int buf_put(struct rule_lexer *lx, size_t *n, const char *src, size_t len, size_t at)
{
	if (*n + len > MG_RULES_MAX_STRING)
		return lex_fail(lx, -E2BIG, at, "string longer than %u bytes", MG_RULES_MAX_STRING);
	if (*n + len + 1 > lx->cap) {
		size_t cap = lx->cap ? lx->cap * 2 : 64;
		while (cap < *n + len + 1)
			cap *= 2;
		char *p = realloc(lx->buf, cap);
		if (!p)
			return -ENOMEM;
		lx->buf = p;
		lx->cap = cap;
	}
	memcpy(lx->buf + *n, src, len);
	*n += len;
	lx->buf[*n] = '\0';
	return 0;
}

/* One escape sequence at lx->pos (the backslash): appends its byte, advances. */
static int lex_escape(struct rule_lexer *lx, size_t *n)
{
	const unsigned char *s = (const unsigned char *)lx->line;
	const size_t at = lx->pos;
	if (at + 1 >= lx->len)
		return lex_fail(lx, -EINVAL, at, "unterminated string");
	const unsigned char e = s[at + 1];
	char c;
	if (e == '"' || e == '\\') {
		c = (char)e;
		lx->pos += 2;
	} else if (e == 'x') {
		int hi = at + 2 < lx->len ? hexval(s[at + 2]) : -1;
		int lo = at + 3 < lx->len ? hexval(s[at + 3]) : -1;
		if (hi < 0 || lo < 0)
			return lex_fail(lx, -EINVAL, at,
			                "invalid escape: \\x needs two hexadecimal digits");
		c = (char)(unsigned char)(hi << 4 | lo);
		lx->pos += 4;
	} else if (e > 0x20 && e < 0x7f) {
		return lex_fail(lx, -EINVAL, at,
		                "unknown escape sequence '\\%c' (use \\\", \\\\ or \\xHH)", e);
	} else {
		return lex_fail(lx, -EINVAL, at,
		                "unknown escape sequence (use \\\", \\\\ or \\xHH)");
	}
	return buf_put(lx, n, &c, 1, at);
}

/* A quoted string starting at lx->pos; the decoded bytes go to lx->buf. */
static int lex_string(struct rule_lexer *lx, struct rule_tok *tok)
{
	const unsigned char *s = (const unsigned char *)lx->line;
	const size_t start = lx->pos;
	size_t n = 0;
	int r;
	if ((r = buf_put(lx, &n, "", 0, start)) < 0)
		return r;
	lx->pos++;
	for (;;) {
		if (lx->pos >= lx->len)
			return lex_fail(lx, -EINVAL, start, "unterminated string");
		const unsigned char c = s[lx->pos];
		if (c == '"') {
			lx->pos++;
			break;
		}
		if (c == '\\') {
			r = lex_escape(lx, &n);
		} else if (c == '\r') {
			r = lex_fail(lx, -EINVAL, lx->pos, "carriage return inside a string");
		} else if (c < 0x80) {
			r = buf_put(lx, &n, lx->line + lx->pos, 1, lx->pos);
			lx->pos++;
		} else {
			const size_t l = utf8_seq_len(c);
			if (l == 0 || lx->pos + l > lx->len ||
			    !mg_utf8_valid(lx->line + lx->pos, l))
				return lex_fail(
				    lx, -EINVAL, lx->pos,
				    "invalid UTF-8 in string (write raw bytes as \\xHH)");
			r = buf_put(lx, &n, lx->line + lx->pos, l, lx->pos);
			lx->pos += l;
		}
		if (r < 0)
			return r;
	}
	tok->type = RULE_TOK_STRING;
	tok->text = lx->buf;
	tok->len = n;
	return 0;
}

int rule_lex_next(struct rule_lexer *lx, struct rule_tok *tok)
{
	const unsigned char *s = (const unsigned char *)lx->line;
	const size_t before = lx->pos;
	while (lx->pos < lx->len && is_blank(s[lx->pos]))
		lx->pos++;
	memset(tok, 0, sizeof(*tok));
	tok->spaced = lx->pos > before;
	tok->col = (unsigned)lx->pos + 1;
	if (lx->pos >= lx->len || s[lx->pos] == '#') {
		tok->type = RULE_TOK_EOL;
		lx->pos = lx->len;
		return 0;
	}
	const unsigned char c = s[lx->pos];
	if (c == '"')
		return lex_string(lx, tok);
	if (c == '{' || c == '}') {
		tok->type = c == '{' ? RULE_TOK_LBRACE : RULE_TOK_RBRACE;
		tok->text = lx->line + lx->pos;
		tok->len = 1;
		lx->pos++;
		return 0;
	}
	if (is_word(c)) {
		const size_t start = lx->pos;
		while (lx->pos < lx->len && is_word(s[lx->pos]))
			lx->pos++;
		tok->type = RULE_TOK_WORD;
		tok->text = lx->line + start;
		tok->len = lx->pos - start;
		return 0;
	}
	if (c == '\r')
		return lex_fail(lx, -EINVAL, lx->pos, "unexpected carriage return");
	if (c >= 0x80)
		return lex_fail(lx, -EINVAL, lx->pos,
		                "unexpected byte 0x%02x outside a string (non-ASCII text must be "
		                "quoted)",
		                c);
	return lex_fail(lx, -EINVAL, lx->pos, "unexpected control character 0x%02x", c);
}
