/*
 * Grammar of one rule (USBGuard 1.1 RuleParser/Grammar.hpp, without conditions):
 *
 *   line      = blank* [rule] blank* ["#" comment]
 *   rule      = target [blank+ device-id] (blank+ attribute)*
 *   target    = "allow" | "block" | "reject"          ("match", "device": refused)
 *   attribute = name blank+ (value | [operator blank+] "{" blank* value (blank+ value)* blank* "}")
 *   operator  = "all-of" | "one-of" | "none-of" | "equals" | "equals-ordered" | "match-all"
 *   value     = device-id (id) | interface-type (with-interface) | string (the others)
 *   extension = "expires" blank+ string                 (RFC 3339 time)
 *
 * Each attribute at most once; `if` is an error, never ignored.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg/time.h"
#include "rule_internal.h"
#include "rule_lex.h"

struct parser {
	const char *file;
	unsigned line;
	struct rule_lexer *lx;
	struct rule_tok tok;
	struct rule_draft *r;
	size_t n_values;
	struct mg_rule_error *err;
	unsigned depth; /* 1 inside an allowed-matches() query */
};

int rule_fail(struct mg_rule_error *err, int code, const char *file, unsigned line, unsigned col,
              const char *fmt, ...)
{
	if (err) {
		snprintf(err->file, sizeof(err->file), "%s", file ? file : "(rules)");
		err->line = line;
		err->column = col;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}

const char *mg_rule_error_str(const struct mg_rule_error *err, char *buf, size_t len)
{
	if (!buf || len == 0)
		return buf;
	if (!err)
		snprintf(buf, len, "(no error)");
	else if (err->line && err->column)
		snprintf(buf, len, "%s:%u:%u: %s", err->file, err->line, err->column, err->msg);
	else if (err->line)
		snprintf(buf, len, "%s:%u: %s", err->file, err->line, err->msg);
	else
		snprintf(buf, len, "%s: %s", err->file, err->msg);
	return buf;
}

static int fail_at(struct parser *p, int code, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_at(struct parser *p, int code, unsigned col, const char *fmt, ...)
{
	char msg[sizeof(p->err->msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return rule_fail(p->err, code, p->file, p->line, col, "%s", msg);
}

static int next(struct parser *p)
{
	int r = rule_lex_next(p->lx, &p->tok);
	if (r == -EINVAL || r == -E2BIG)
		return fail_at(p, r, p->lx->err_col, "%s", p->lx->err_msg);
	return r;
}

/* "'word'", "a string", "'{'", "end of line": for messages. */
static const char *describe(const struct rule_tok *t, char *buf, size_t len)
{
	switch (t->type) {
	case RULE_TOK_WORD:
		if (t->len > 40)
			snprintf(buf, len, "'%.40s...'", t->text);
		else
			snprintf(buf, len, "'%.*s'", (int)t->len, t->text);
		return buf;
	case RULE_TOK_STRING:
		return "a quoted string";
	case RULE_TOK_LBRACE:
		return "'{'";
	case RULE_TOK_RBRACE:
		return "'}'";
	case RULE_TOK_EOL:
		break;
	}
	return "end of line";
}

static bool word_is(const struct rule_tok *t, const char *s)
{
	return t->type == RULE_TOK_WORD && strlen(s) == t->len && memcmp(t->text, s, t->len) == 0;
}

static bool hexn(const char *s, size_t n, unsigned *out)
{
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		const char c = s[i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return false;
		v = v << 4 | d;
	}
	*out = v;
	return true;
}

/* vvvv:pppp, vvvv:* or *:* (USBDeviceID::checkDeviceID refuses *:pppp). */
static bool parse_devid(const char *s, size_t len, struct rule_devid *out)
{
	unsigned v, pr;
	if (len == 3 && memcmp(s, "*:*", 3) == 0) {
		*out = (struct rule_devid){.kind = RULE_ID_ANY};
		return true;
	}
	if (len < 6 || s[4] != ':' || !hexn(s, 4, &v))
		return false;
	if (len == 6 && s[5] == '*') {
		*out = (struct rule_devid){.vendor = (uint16_t)v, .kind = RULE_ID_VENDOR};
		return true;
	}
	if (len != 9 || !hexn(s + 5, 4, &pr))
		return false;
	*out = (struct rule_devid){
	    .vendor = (uint16_t)v, .product = (uint16_t)pr, .kind = RULE_ID_EXACT};
	return true;
}

/* cc:ss:pp, cc:ss:* or cc:*:* (USBInterfaceType: a '*' subclass needs a '*' protocol). */
static bool parse_iftype(const char *s, size_t len, struct rule_iftype *out)
{
	unsigned c, sub = 0, proto = 0;
	if (len < 5 || s[2] != ':' || !hexn(s, 2, &c))
		return false;
	struct rule_iftype t = {.cls = (uint8_t)c};
	if (len == 6 && memcmp(s + 2, ":*:*", 4) == 0) {
		*out = t;
		return true;
	}
	if (len < 6 || s[5] != ':' || !hexn(s + 3, 2, &sub))
		return false;
	t.sub = (uint8_t)sub;
	t.mask = RULE_IF_SUB;
	if (len == 7 && s[6] == '*') {
		*out = t;
		return true;
	}
	if (len != 8 || !hexn(s + 6, 2, &proto))
		return false;
	t.proto = (uint8_t)proto;
	t.mask = RULE_IF_SUB | RULE_IF_PROTO;
	*out = t;
	return true;
}

static int parse_value(struct parser *p, enum rule_attr_kind kind, union rule_value *out)
{
	char d[64];
	const struct rule_tok *t = &p->tok;
	const char *name = rule_attr_name(kind);
	if (kind == RULE_ID) {
		if (t->type != RULE_TOK_WORD || !parse_devid(t->text, t->len, &out->id))
			return fail_at(p, -EINVAL, t->col,
			               "invalid device id %s (expected vvvv:pppp, vvvv:* or *:*)",
			               describe(t, d, sizeof(d)));
		return 0;
	}
	if (kind == RULE_WITH_INTERFACE) {
		if (t->type != RULE_TOK_WORD || !parse_iftype(t->text, t->len, &out->iface))
			return fail_at(p, -EINVAL, t->col,
			               "invalid interface type %s (expected cc:ss:pp, cc:ss:* or "
			               "cc:*:*)",
			               describe(t, d, sizeof(d)));
		return 0;
	}
	if (t->type != RULE_TOK_STRING)
		return fail_at(p, -EINVAL, t->col, "expected a quoted string for '%s', got %s",
		               name, describe(t, d, sizeof(d)));
	char *s = malloc(t->len + 1);
	if (!s)
		return -ENOMEM;
	memcpy(s, t->text, t->len);
	s[t->len] = '\0';
	out->str.s = s;
	out->str.len = (uint32_t)t->len;
	return 0;
}

static int append_value(struct parser *p, enum rule_attr_kind kind, uint32_t *cap)
{
	struct rule_attr *a = &p->r->attr[kind];
	if (a->n >= MG_RULES_MAX_SET)
		return fail_at(p, -E2BIG, p->tok.col, "more than %u values in one set",
		               MG_RULES_MAX_SET);
	if (a->n == *cap) {
		uint32_t ncap = *cap ? *cap * 2 : 1;
		union rule_value *v = realloc(a->v, ncap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		a->v = v;
		*cap = ncap;
	}
	union rule_value val;
	memset(&val, 0, sizeof(val));
	int r = parse_value(p, kind, &val);
	if (r < 0)
		return r;
	a->v[a->n++] = val;
	p->n_values++;
	return 0;
}

/* The keyword is the current token; on return the token after the attribute is. */
static int parse_attribute(struct parser *p, enum rule_attr_kind kind)
{
	char d[64];
	struct rule_attr *a = &p->r->attr[kind];
	const char *name = rule_attr_name(kind);
	uint32_t cap = 0;
	int r;
	if (a->n)
		return fail_at(p, -EINVAL, p->tok.col, "%s attribute already defined", name);
	if ((r = next(p)) < 0)
		return r;
	if (p->tok.type == RULE_TOK_EOL)
		return fail_at(p, -EINVAL, p->tok.col, "expected a value after '%s'", name);
	if (!p->tok.spaced)
		return fail_at(p, -EINVAL, p->tok.col, "expected whitespace after '%s'", name);
	int op = RULE_OP_EQUALS;
	if (p->tok.type == RULE_TOK_WORD &&
	    (op = rule_op_from_name(p->tok.text, p->tok.len)) >= 0) {
		const char *opname = rule_op_name((enum rule_op)op);
		if ((r = next(p)) < 0)
			return r;
		if (p->tok.type != RULE_TOK_LBRACE)
			return fail_at(p, -EINVAL, p->tok.col, "expected '{' after '%s', got %s",
			               opname, describe(&p->tok, d, sizeof(d)));
		if (!p->tok.spaced)
			return fail_at(p, -EINVAL, p->tok.col, "expected whitespace after '%s'",
			               opname);
	} else {
		op = RULE_OP_EQUALS;
	}
	a->op = (uint8_t)op;
	if (p->tok.type != RULE_TOK_LBRACE) {
		if ((r = append_value(p, kind, &cap)) < 0)
			return r;
		return next(p);
	}
	const unsigned open = p->tok.col;
	for (;;) {
		if ((r = next(p)) < 0)
			return r;
		if (p->tok.type == RULE_TOK_RBRACE)
			break;
		if (p->tok.type == RULE_TOK_EOL)
			return fail_at(p, -EINVAL, p->tok.col,
			               "expected '}' to close the set opened at column %u", open);
		if (a->n > 0 && !p->tok.spaced)
			return fail_at(p, -EINVAL, p->tok.col, "expected whitespace before %s",
			               describe(&p->tok, d, sizeof(d)));
		if ((r = append_value(p, kind, &cap)) < 0)
			return r;
	}
	if (a->n == 0)
		return fail_at(p, -EINVAL, open, "empty set for '%s'", name);
	return next(p);
}

/* expires "RFC 3339 time" (mynaguard extension). */
static int parse_expires(struct parser *p)
{
	char d[64];
	const unsigned kw = p->tok.col;
	int r;
	if (p->r->has_expires)
		return fail_at(p, -EINVAL, kw, "expires attribute already defined");
	if ((r = next(p)) < 0)
		return r;
	if (p->tok.type == RULE_TOK_EOL)
		return fail_at(p, -EINVAL, p->tok.col, "expected a time after 'expires'");
	if (!p->tok.spaced)
		return fail_at(p, -EINVAL, p->tok.col, "expected whitespace after 'expires'");
	if (p->tok.type != RULE_TOK_STRING)
		return fail_at(p, -EINVAL, p->tok.col,
		               "expires takes one quoted RFC 3339 time such as "
		               "\"2026-12-31T17:00:00+09:00\", got %s",
		               describe(&p->tok, d, sizeof(d)));
	int64_t us = 0;
	if (memchr(p->tok.text, '\0', p->tok.len) || mg_time_parse(p->tok.text, &us) < 0)
		return fail_at(p, -EINVAL, p->tok.col,
		               "invalid time for 'expires' (expected RFC 3339 such as "
		               "\"2026-12-31T17:00:00+09:00\")");
	if (us <= 0)
		return fail_at(p, -EINVAL, p->tok.col, "expires must be after the Unix epoch");
	p->r->has_expires = true;
	p->r->expires_us = us;
	return next(p);
}

/* if ... (rule_cond.c reads the raw line: parameters hold blanks, quotes and parentheses). */
static int parse_conditions(struct parser *p)
{
	if (p->r->conds)
		return fail_at(p, -EINVAL, p->tok.col, "conditions already defined");
	size_t pos = p->lx->pos;
	unsigned col = p->tok.col;
	char why[256];
	int r = rule_conds_parse(p->lx->line, p->lx->len, &pos, p->file, p->line, p->depth,
	                         &p->r->conds, &col, why, sizeof(why));
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return fail_at(p, r, col, "%s", why);
	p->n_values += p->r->conds->n;
	p->lx->pos = pos;
	return next(p);
}

static int parse_target(struct parser *p)
{
	char d[64];
	const struct rule_tok *t = &p->tok;
	const int target = t->type == RULE_TOK_WORD ? rule_target_from_name(t->text, t->len) : -1;
	if (target >= 0) {
		p->r->target = (enum mg_target)target;
		return 0;
	}
	if (word_is(t, "match") || word_is(t, "device"))
		return fail_at(p, -EINVAL, t->col,
		               "target %s is not supported (use allow, block or reject)",
		               describe(t, d, sizeof(d)));
	if (t->type == RULE_TOK_WORD)
		return fail_at(p, -EINVAL, t->col,
		               "unknown target %s (expected allow, block or reject)",
		               describe(t, d, sizeof(d)));
	return fail_at(p, -EINVAL, t->col, "expected a target (allow, block or reject), got %s",
	               describe(t, d, sizeof(d)));
}

static int parse_rule(struct parser *p)
{
	char d[64];
	int r;
	if ((r = parse_target(p)) < 0 || (r = next(p)) < 0)
		return r;
	/* USBGuard's older form: a device id right after the target ("allow 1050:0407"). */
	if (p->tok.type == RULE_TOK_WORD && p->tok.spaced && memchr(p->tok.text, ':', p->tok.len) &&
	    rule_attr_from_name(p->tok.text, p->tok.len) < 0) {
		uint32_t cap = 0;
		if ((r = append_value(p, RULE_ID, &cap)) < 0 || (r = next(p)) < 0)
			return r;
	}
	while (p->tok.type != RULE_TOK_EOL) {
		const struct rule_tok *t = &p->tok;
		if (!t->spaced)
			return fail_at(p, -EINVAL, t->col, "expected whitespace before %s",
			               describe(t, d, sizeof(d)));
		if (word_is(t, "if")) {
			r = parse_conditions(p);
		} else if (word_is(t, "expires")) {
			r = parse_expires(p);
		} else {
			const int kind =
			    t->type == RULE_TOK_WORD ? rule_attr_from_name(t->text, t->len) : -1;
			if (kind < 0 && t->type == RULE_TOK_WORD)
				return fail_at(p, -EINVAL, t->col, "unknown attribute %s",
				               describe(t, d, sizeof(d)));
			if (kind < 0)
				return fail_at(p, -EINVAL, t->col,
				               "expected an attribute name, got %s",
				               describe(t, d, sizeof(d)));
			r = parse_attribute(p, (enum rule_attr_kind)kind);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

int rule_parse_line(struct rule_scratch *sc, const char *file, unsigned line, const char *text,
                    size_t len, struct mg_rule **out, size_t *n_values, struct mg_rule_error *err)
{
	return rule_parse_line_depth(sc, file, line, text, len, out, n_values, err, 0);
}

int rule_parse_line_depth(struct rule_scratch *sc, const char *file, unsigned line,
                          const char *text, size_t len, struct mg_rule **out, size_t *n_values,
                          struct mg_rule_error *err, unsigned depth)
{
	struct rule_draft draft;
	struct parser p = {.file = file ? file : "(rules)",
	                   .line = line,
	                   .err = err,
	                   .lx = &sc->lx,
	                   .depth = depth};
	int r;
	memset(&draft, 0, sizeof(draft));
	rule_lex_reset(&sc->lx, text, len);
	if ((r = next(&p)) < 0)
		goto out;
	if (p.tok.type == RULE_TOK_EOL) {
		*out = NULL;
		*n_values = 0;
		goto out;
	}
	p.r = &draft;
	if ((r = parse_rule(&p)) < 0 || (r = rule_seal(&draft, sc, p.file, line, out)) < 0)
		goto out;
	*n_values = p.n_values;
out:
	rule_draft_clear(&draft);
	return r;
}
