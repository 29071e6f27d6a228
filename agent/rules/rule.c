/*
 * The parsed rule as an object: one allocation holding the struct, its present attributes,
 * their values, the canonical text and "file:line" (rule_internal.h draws the layout), made
 * from a parser's draft; and the public accessors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rule_internal.h"

void rule_free(struct mg_rule **rp)
{
	if (!rp || !*rp)
		return;
	rule_conds_free(&(*rp)->conds);
	free(*rp);
	*rp = NULL;
}

void rule_scratch_fini(struct rule_scratch *sc)
{
	rule_lex_fini(&sc->lx);
	free(sc->text.p);
	free(sc->str_at);
	memset(sc, 0, sizeof(*sc));
}

const struct rule_attr *rule_attr_get(const struct mg_rule *r, enum rule_attr_kind k)
{
	const unsigned bit = 1u << k;
	if (!(r->mask & bit))
		return NULL;
	return &r->attr[__builtin_popcount(r->mask & (bit - 1))];
}

void rule_draft_clear(struct rule_draft *d)
{
	for (int k = 0; k < RULE_ATTR_COUNT; k++) {
		struct rule_attr *a = &d->attr[k];
		if (rule_attr_is_string((enum rule_attr_kind)k))
			for (uint32_t i = 0; i < a->n; i++)
				free(a->v[i].str.s);
		free(a->v);
	}
	rule_conds_free(&d->conds);
	memset(d, 0, sizeof(*d));
}

enum mg_target mg_rule_target(const struct mg_rule *r)
{
	return r ? r->target : MG_TARGET_BLOCK;
}

const char *mg_rule_text(const struct mg_rule *r)
{
	return r ? r->text : "";
}

const char *mg_rule_source(const struct mg_rule *r, char *buf, size_t len)
{
	if (len == 0)
		return buf;
	if (r)
		snprintf(buf, len, "%s:%u", r->file, r->line);
	else
		buf[0] = '\0';
	return buf;
}

bool mg_rule_conditions_hold(const struct mg_rule *r, const struct mg_rule_env *env)
{
	if (!r || !r->conds)
		return true;
	struct rule_cond_state st = {.env = env, .last_evaluated_us = -1, .last_applied_us = -1};
	return rule_conds_eval(r->conds, &st);
}

bool mg_rule_has_conditions(const struct mg_rule *r, bool *random)
{
	bool rnd = false;
	for (uint32_t i = 0; r && r->conds && i < r->conds->n; i++)
		rnd |= r->conds->v[i].kind == RULE_COND_RANDOM;
	if (random)
		*random = rnd;
	return r && r->conds;
}

int64_t mg_rule_expires_us(const struct mg_rule *r)
{
	return r && r->has_expires ? r->expires_us : 0;
}

/*
 * Packs the draft, its canonical text and "file:line" into one allocation. A string that
 * needs no escapes points into the text instead of having its own copy.
 */
int rule_seal(const struct rule_draft *d, struct rule_scratch *sc, const char *file,
              unsigned lineno, struct mg_rule **out)
{
	size_t na = 0, nv = 0, ns = 0, nb = 0;
	for (int k = 0; k < RULE_ATTR_COUNT; k++) {
		na += d->attr[k].n > 0;
		nv += d->attr[k].n;
		if (rule_attr_is_string((enum rule_attr_kind)k))
			ns += d->attr[k].n;
	}
	if (ns > sc->str_cap) {
		size_t *v = realloc(sc->str_at, ns * sizeof(*v));
		if (!v)
			return -ENOMEM;
		sc->str_at = v;
		sc->str_cap = ns;
	}
	sc->text.len = 0;
	rule_format(d, &sc->text, sc->str_at);
	if (sc->text.oom)
		return -ENOMEM;
	for (int k = 0; k < RULE_ATTR_COUNT; k++)
		if (rule_attr_is_string((enum rule_attr_kind)k))
			for (uint32_t i = 0; i < d->attr[k].n; i++)
				if (!rule_str_plain(d->attr[k].v[i].str.s, d->attr[k].v[i].str.len))
					nb += d->attr[k].v[i].str.len;
	const size_t tl = sc->text.len;
	struct mg_rule *r = malloc(sizeof(*r) + na * sizeof(struct rule_attr) +
	                           nv * sizeof(union rule_value) + tl + 1 + nb);
	if (!r)
		return -ENOMEM;
	memset(r, 0, sizeof(*r));
	r->target = d->target;
	r->has_expires = d->has_expires;
	r->expires_us = d->expires_us;
	union rule_value *v = (union rule_value *)(void *)(r->attr + na);
	char *text = (char *)(v + nv);
	memcpy(text, sc->text.p, tl + 1);
	char *b = text + tl + 1;
	r->text = text;
	r->file = file;
	r->line = lineno;
	size_t si = 0, ai = 0;
	for (int k = 0; k < RULE_ATTR_COUNT; k++) {
		const struct rule_attr *da = &d->attr[k];
		if (da->n == 0)
			continue;
		struct rule_attr *a = &r->attr[ai++];
		r->mask = (uint16_t)(r->mask | 1u << k);
		a->n = da->n;
		a->op = da->op;
		a->v = v;
		memcpy(v, da->v, da->n * sizeof(*v));
		v += da->n;
		if (!rule_attr_is_string((enum rule_attr_kind)k))
			continue;
		for (uint32_t i = 0; i < a->n; i++, si++) {
			struct rule_str *str = &a->v[i].str;
			if (rule_str_plain(str->s, str->len)) {
				str->s = text + sc->str_at[si];
			} else {
				memcpy(b, str->s, str->len);
				str->s = b;
				b += str->len;
			}
		}
	}
	*out = r;
	return 0;
}
