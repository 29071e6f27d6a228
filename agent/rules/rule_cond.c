/*
 * USBGuard rule conditions (`if ...`): the parser of the condition part of a rule, its
 * canonical text and its evaluation. Grammar (usbguard-rules.conf(5)):
 *
 *   if [!]condition
 *   if [operator] { [!]condition [!]condition ... }
 *   operator  := all-of | one-of | none-of | equals | equals-ordered | match-all
 *   condition := true | false | localtime(HH:MM[:SS][-HH:MM[:SS]]) | allowed-matches(QUERY)
 *              | rule-applied[(DURATION)] | rule-evaluated[(DURATION)] | random[(P)]
 *   DURATION  := SS | HH:MM | HH:MM:SS            (0: ever)
 *
 * A parameter runs to the first ')' and is printed back as written, as USBGuard does. Where
 * USBGuard accepts a malformed parameter (minute 60, "08:00-", random(1.5)) this parser
 * refuses it with a message: see docs/AGENT.md, "Conditions".
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rule_internal.h"

#define MAX_PARAM 4096u

static const char *const cond_names[] = {
    [RULE_COND_TRUE] = "true",
    [RULE_COND_FALSE] = "false",
    [RULE_COND_LOCALTIME] = "localtime",
    [RULE_COND_ALLOWED_MATCHES] = "allowed-matches",
    [RULE_COND_RULE_APPLIED] = "rule-applied",
    [RULE_COND_RULE_EVALUATED] = "rule-evaluated",
    [RULE_COND_RANDOM] = "random",
};

void rule_conds_free(struct rule_conds **pc)
{
	struct rule_conds *c = pc ? *pc : NULL;
	if (!c)
		return;
	for (uint32_t i = 0; i < c->n; i++) {
		free(c->v[i].param);
		rule_free(&c->v[i].query);
	}
	free(c);
	*pc = NULL;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static void skip_blanks(const char *s, size_t len, size_t *pos)
{
	while (*pos < len && is_blank(s[*pos]))
		(*pos)++;
}

/* Unsigned decimal of 1..maxdigits digits at s[*pos]; -1 when none. */
static long long digits(const char *s, size_t len, size_t *pos, unsigned maxdigits)
{
	long long v = 0;
	unsigned n = 0;
	while (*pos < len && s[*pos] >= '0' && s[*pos] <= '9') {
		if (++n > maxdigits)
			return -1;
		v = v * 10 + (s[*pos] - '0');
		(*pos)++;
	}
	return n ? v : -1;
}

/* H[H]:M[M][:S[S]] at s[*pos]: seconds since midnight, or -1. */
static long daytime(const char *s, size_t len, size_t *pos)
{
	long long h = digits(s, len, pos, 2), m = -1, sec = 0;
	if (h < 0 || h > 23 || *pos >= len || s[*pos] != ':')
		return -1;
	(*pos)++;
	if ((m = digits(s, len, pos, 2)) < 0 || m > 59)
		return -1;
	if (*pos < len && s[*pos] == ':') {
		(*pos)++;
		if ((sec = digits(s, len, pos, 2)) < 0 || sec > 59)
			return -1;
	}
	return (long)(h * 3600 + m * 60 + sec);
}

static int parse_localtime(struct rule_cond *c, const char *p, size_t n, char *why, size_t wl)
{
	size_t pos = 0;
	skip_blanks(p, n, &pos);
	long b = daytime(p, n, &pos), e = b;
	if (b < 0) {
		snprintf(why, wl,
		         "localtime: expected HH:MM[:SS][-HH:MM[:SS]] (00:00 to 23:59:59)");
		return -EINVAL;
	}
	skip_blanks(p, n, &pos);
	if (pos < n && p[pos] == '-') {
		pos++;
		skip_blanks(p, n, &pos);
		if ((e = daytime(p, n, &pos)) < 0) {
			snprintf(why, wl, "localtime: expected a time HH:MM[:SS] after '-'");
			return -EINVAL;
		}
		skip_blanks(p, n, &pos);
	}
	if (pos != n) {
		snprintf(why, wl, "localtime: unexpected '%c' in the time range", p[pos]);
		return -EINVAL;
	}
	if (b > e) {
		snprintf(why, wl,
		         "localtime: the range ends before it begins (a window across midnight "
		         "takes two rules)");
		return -EINVAL;
	}
	c->begin = (int32_t)b;
	c->end = (int32_t)e;
	return 0;
}

static int parse_duration(struct rule_cond *c, const char *p, size_t n, char *why, size_t wl)
{
	size_t pos = 0;
	long long a = digits(p, n, &pos, 10), b = -1, d = -1;
	if (a >= 0 && pos < n && p[pos] == ':') {
		pos++;
		b = digits(p, n, &pos, 2);
		if (b >= 0 && pos < n && p[pos] == ':') {
			pos++;
			d = digits(p, n, &pos, 2);
			if (d < 0)
				b = -1;
		}
		if (b < 0 || b > 59 || d > 59)
			a = -1;
	}
	if (a < 0 || pos != n) {
		snprintf(why, wl,
		         "%s: expected a duration SS, HH:MM or HH:MM:SS (minutes and seconds below "
		         "60)",
		         cond_names[c->kind]);
		return -EINVAL;
	}
	c->within_s = b < 0 ? a : d < 0 ? a * 3600 + b * 60 : a * 3600 + b * 60 + d;
	return 0;
}

static int parse_random(struct rule_cond *c, const char *p, size_t n, char *why, size_t wl)
{
	char buf[64];
	if (n >= sizeof(buf) || n == 0) {
		snprintf(why, wl, "random: expected a probability between 0 and 1");
		return -EINVAL;
	}
	memcpy(buf, p, n);
	buf[n] = '\0';
	char *end = NULL;
	errno = 0;
	double v = strtod(buf, &end);
	if (errno || end == buf || *end || !isfinite(v) || v < 0.0 || v > 1.0) {
		snprintf(why, wl, "random: expected a probability between 0 and 1, got '%s'", buf);
		return -EINVAL;
	}
	c->p_true = v;
	return 0;
}

/* allowed-matches(QUERY): QUERY is a rule without its target; its conditions are kept in the
 * text but never evaluated (as in USBGuard). */
static int parse_query(struct rule_cond *c, const char *p, size_t n, const char *file,
                       unsigned line, unsigned depth, char *why, size_t wl)
{
	if (depth > 1) {
		snprintf(why, wl, "allowed-matches: a query may not hold another allowed-matches");
		return -EINVAL;
	}
	char *text = malloc(n + 7);
	if (!text)
		return -ENOMEM;
	memcpy(text, "allow ", 6);
	memcpy(text + 6, p, n);
	text[n + 6] = '\0';
	struct rule_scratch sc;
	memset(&sc, 0, sizeof(sc));
	struct mg_rule_error err;
	memset(&err, 0, sizeof(err));
	size_t nv = 0;
	int r =
	    rule_parse_line_depth(&sc, file, line, text, n + 6, &c->query, &nv, &err, depth + 1);
	rule_scratch_fini(&sc);
	free(text);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		snprintf(why, wl, "allowed-matches: %s", err.msg);
		return -EINVAL;
	}
	if (!c->query) {
		snprintf(why, wl, "allowed-matches: empty query");
		return -EINVAL;
	}
	return 0;
}

/* One [!]name[(param)] at s[*pos]. */
static int parse_one(struct rule_cond *c, const char *s, size_t len, size_t *pos, const char *file,
                     unsigned line, unsigned depth, unsigned *errcol, char *why, size_t wl)
{
	memset(c, 0, sizeof(*c));
	*errcol = (unsigned)*pos + 1;
	if (*pos < len && s[*pos] == '!') {
		c->negated = true;
		(*pos)++;
	}
	const size_t name_at = *pos;
	while (*pos < len && ((s[*pos] >= 'a' && s[*pos] <= 'z') || s[*pos] == '-'))
		(*pos)++;
	const size_t nlen = *pos - name_at;
	int kind = -1;
	for (size_t k = 0; k < sizeof(cond_names) / sizeof(cond_names[0]); k++)
		if (strlen(cond_names[k]) == nlen && memcmp(cond_names[k], s + name_at, nlen) == 0)
			kind = (int)k;
	if (kind < 0) {
		size_t show = 0;
		while (name_at + show < len && show < 40 && !is_blank(s[name_at + show]))
			show++;
		snprintf(why, wl,
		         "unknown condition '%.*s' (expected true, false, localtime, "
		         "allowed-matches, rule-applied, rule-evaluated or random)",
		         (int)show, s + name_at);
		return -EINVAL;
	}
	c->kind = (uint8_t)kind;
	const char *param = NULL;
	size_t plen = 0;
	if (*pos < len && s[*pos] == '(') {
		const char *close = memchr(s + *pos + 1, ')', len - *pos - 1);
		if (!close) {
			snprintf(why, wl, "%s: expected ')' to close the parameter",
			         cond_names[kind]);
			return -EINVAL;
		}
		param = s + *pos + 1;
		plen = (size_t)(close - param);
		*errcol = (unsigned)(param - s) + 1;
		if (plen == 0) {
			snprintf(why, wl, "%s: empty parameter", cond_names[kind]);
			return -EINVAL;
		}
		if (plen > MAX_PARAM) {
			snprintf(why, wl, "%s: parameter longer than %u bytes", cond_names[kind],
			         MAX_PARAM);
			return -E2BIG;
		}
		*pos = (size_t)(close - s) + 1;
	}
	bool need = kind == RULE_COND_LOCALTIME || kind == RULE_COND_ALLOWED_MATCHES;
	bool may = need || kind == RULE_COND_RULE_APPLIED || kind == RULE_COND_RULE_EVALUATED ||
	           kind == RULE_COND_RANDOM;
	if (need && !param) {
		snprintf(why, wl, "%s needs a parameter in parentheses", cond_names[kind]);
		return -EINVAL;
	}
	if (param && !may) {
		snprintf(why, wl, "%s takes no parameter", cond_names[kind]);
		return -EINVAL;
	}
	c->p_true = 0.5;
	if (!param)
		return 0;
	if (!(c->param = malloc(plen + 1)))
		return -ENOMEM;
	memcpy(c->param, param, plen);
	c->param[plen] = '\0';
	switch (kind) {
	case RULE_COND_LOCALTIME:
		return parse_localtime(c, param, plen, why, wl);
	case RULE_COND_RULE_APPLIED:
	case RULE_COND_RULE_EVALUATED:
		return parse_duration(c, param, plen, why, wl);
	case RULE_COND_RANDOM:
		return parse_random(c, param, plen, why, wl);
	default:
		return parse_query(c, param, plen, file, line, depth, why, wl);
	}
}

/* After a condition: a blank, the end, or (in a set) '}'. */
static bool at_separator(const char *s, size_t len, size_t pos, bool in_set)
{
	return pos >= len || is_blank(s[pos]) || s[pos] == '#' || (in_set && s[pos] == '}');
}

static int push(struct rule_conds **pc, uint32_t *cap)
{
	struct rule_conds *c = *pc;
	if (c && c->n < *cap)
		return 0;
	uint32_t ncap = *cap ? *cap * 2 : 2;
	if (ncap > RULE_CONDS_MAX)
		ncap = RULE_CONDS_MAX;
	struct rule_conds *nc = realloc(c, sizeof(*nc) + ncap * sizeof(nc->v[0]));
	if (!nc)
		return -ENOMEM;
	if (!c)
		memset(nc, 0, sizeof(*nc));
	*pc = nc;
	*cap = ncap;
	return 0;
}

int rule_conds_parse(const char *s, size_t len, size_t *pos, const char *file, unsigned line,
                     unsigned depth, struct rule_conds **out, unsigned *errcol, char *why,
                     size_t wl)
{
	struct rule_conds *c = NULL;
	uint32_t cap = 0;
	int r = 0;
	*out = NULL;
	*errcol = (unsigned)*pos + 1;
	if (*pos >= len || !is_blank(s[*pos])) {
		snprintf(why, wl, "expected whitespace after 'if'");
		return -EINVAL;
	}
	skip_blanks(s, len, pos);
	*errcol = (unsigned)*pos + 1;
	if (*pos >= len || s[*pos] == '#') {
		snprintf(why, wl, "expected a condition after 'if'");
		return -EINVAL;
	}
	int op = RULE_OP_EQUALS;
	bool set = false;
	size_t w = *pos;
	while (w < len && ((s[w] >= 'a' && s[w] <= 'z') || s[w] == '-'))
		w++;
	int named = rule_op_from_name(s + *pos, w - *pos);
	if (named >= 0) {
		size_t after = w;
		skip_blanks(s, len, &after);
		if (after > w && after < len && s[after] == '{') {
			op = named;
			set = true;
			*pos = after;
		}
	}
	if (!set && s[*pos] == '{')
		set = true;
	if ((r = push(&c, &cap)) < 0)
		return r;
	c->op = (uint8_t)op;
	if (!set) {
		c->n = 1; /* counted even on failure: its parameter is freed with the set */
		if ((r = parse_one(&c->v[0], s, len, pos, file, line, depth, errcol, why, wl)) < 0)
			goto fail;
		if (!at_separator(s, len, *pos, false)) {
			*errcol = (unsigned)*pos + 1;
			snprintf(why, wl, "expected whitespace after the condition");
			r = -EINVAL;
			goto fail;
		}
	} else {
		const unsigned open = (unsigned)*pos + 1;
		(*pos)++;
		for (;;) {
			skip_blanks(s, len, pos);
			if (*pos < len && s[*pos] == '}') {
				(*pos)++;
				break;
			}
			if (*pos >= len || s[*pos] == '#') {
				*errcol = (unsigned)*pos + 1;
				snprintf(why, wl,
				         "expected '}' to close the set opened at column %u", open);
				r = -EINVAL;
				goto fail;
			}
			if (c->n >= RULE_CONDS_MAX) {
				*errcol = (unsigned)*pos + 1;
				snprintf(why, wl, "more than %u conditions in one set",
				         RULE_CONDS_MAX);
				r = -E2BIG;
				goto fail;
			}
			if ((r = push(&c, &cap)) < 0)
				goto fail;
			r = parse_one(&c->v[c->n], s, len, pos, file, line, depth, errcol, why, wl);
			c->n++; /* counted even on failure: its parameter is freed with the set */
			if (r < 0)
				goto fail;
			if (!at_separator(s, len, *pos, true)) {
				*errcol = (unsigned)*pos + 1;
				snprintf(why, wl, "expected whitespace or '}' after the condition");
				r = -EINVAL;
				goto fail;
			}
		}
		if (c->n == 0) {
			*errcol = open;
			snprintf(why, wl, "empty set of conditions");
			r = -EINVAL;
			goto fail;
		}
		if (*pos < len && !is_blank(s[*pos]) && s[*pos] != '#') {
			*errcol = (unsigned)*pos + 1;
			snprintf(why, wl, "expected whitespace after '}'");
			r = -EINVAL;
			goto fail;
		}
	}
	for (uint32_t i = 0; i < c->n; i++)
		c->has_localtime |= c->v[i].kind == RULE_COND_LOCALTIME;
	*out = c;
	return 0;
fail:
	rule_conds_free(&c);
	return r;
}

static void add_cond(struct rule_buf *b, const struct rule_cond *c)
{
	if (c->negated)
		rule_buf_add(b, "!", 1);
	rule_buf_adds(b, cond_names[c->kind]);
	if (c->param) {
		rule_buf_add(b, "(", 1);
		rule_buf_adds(b, c->param);
		rule_buf_add(b, ")", 1);
	}
}

/* As USBGuard prints them: one condition alone, a set with its operator (equals, the
 * default, not printed) in braces; a one-element set without operator prints as the
 * condition alone. */
void rule_conds_format(const struct rule_conds *c, struct rule_buf *b)
{
	rule_buf_adds(b, " if ");
	if (c->n == 1 && c->op == RULE_OP_EQUALS) {
		add_cond(b, &c->v[0]);
		return;
	}
	if (c->op != RULE_OP_EQUALS) {
		rule_buf_adds(b, rule_op_name((enum rule_op)c->op));
		rule_buf_add(b, " ", 1);
	}
	rule_buf_add(b, "{", 1);
	for (uint32_t i = 0; i < c->n; i++) {
		rule_buf_add(b, " ", 1);
		add_cond(b, &c->v[i]);
	}
	rule_buf_adds(b, " }");
}

static bool within(int64_t last_us, int64_t within_s, int64_t mono_us)
{
	if (last_us < 0)
		return false;
	return within_s == 0 || mono_us - last_us <= within_s * 1000000;
}

static bool eval_one(const struct rule_cond *c, const struct rule_cond_state *st)
{
	const struct mg_rule_env *env = st->env;
	bool v = false;
	switch (c->kind) {
	case RULE_COND_TRUE:
		v = true;
		break;
	case RULE_COND_FALSE:
		v = false;
		break;
	case RULE_COND_LOCALTIME:
		v = env->daytime >= c->begin && env->daytime <= c->end;
		break;
	case RULE_COND_ALLOWED_MATCHES:
		v = env->allowed_matches && env->allowed_matches(env->arg, c->query);
		break;
	case RULE_COND_RULE_APPLIED:
		v = within(st->last_applied_us, c->within_s, env->mono_us);
		break;
	case RULE_COND_RULE_EVALUATED:
		v = within(st->last_evaluated_us, c->within_s, env->mono_us);
		break;
	case RULE_COND_RANDOM:
		v = (double)arc4random() < c->p_true * 4294967296.0;
		break;
	default:
		v = false;
	}
	return c->negated ? !v : v;
}

bool rule_conds_eval(const struct rule_conds *c, const struct rule_cond_state *st)
{
	uint32_t n_true = 0;
	for (uint32_t i = 0; i < c->n; i++)
		n_true += eval_one(&c->v[i], st);
	switch (c->op) {
	case RULE_OP_ONE_OF:
		return n_true > 0;
	case RULE_OP_NONE_OF:
		return n_true == 0;
	default: /* all-of, equals, equals-ordered, match-all: every condition */
		return n_true == c->n;
	}
}

int32_t rule_conds_next_change(const struct rule_conds *c, int32_t daytime)
{
	int32_t best = -1;
	for (uint32_t i = 0; i < c->n; i++) {
		const struct rule_cond *x = &c->v[i];
		if (x->kind != RULE_COND_LOCALTIME)
			continue;
		const int32_t edges[2] = {x->begin, x->end + 1};
		for (int k = 0; k < 2; k++) {
			int32_t d = edges[k] - daytime;
			if (d <= 0)
				d += 86400;
			if (best < 0 || d < best)
				best = d;
		}
	}
	return best;
}
