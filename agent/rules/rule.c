/*
 * The parsed rule as an object: one block holding the struct, its present attributes, their
 * values and the canonical text (rule_internal.h draws the layout), made from a parser's
 * draft, on its own or in a rule set's arena; and the public accessors.
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
	struct rule_conds *c = rule_conds_of(*rp);
	rule_conds_free(&c);
	if (!((*rp)->flags & RULE_F_ARENA))
		free(*rp);
	*rp = NULL;
}

struct rule_arena_block {
	struct rule_arena_block *next;
	size_t size; /* usable bytes */
	_Alignas(16) unsigned char data[];
};

void *rule_arena_alloc(struct rule_arena *a, size_t size)
{
	if (size > SIZE_MAX - 2 * sizeof(struct rule_arena_block) - 8)
		return NULL;
	size = (size + 7) & ~(size_t)7;
	if (a->head && a->cap - a->used >= size) {
		void *p = a->head->data + a->used;
		a->used += size;
		return p;
	}
	/* 4 KiB blocks, so that a small set wastes little; RULE_ARENA_BLOCK from 256 KiB on. */
	const size_t block = a->total >= 256u * 1024u ? RULE_ARENA_BLOCK : 4096u;
	const bool own = size > block / 4;
	const size_t usable = own ? size : block - sizeof(struct rule_arena_block);
	struct rule_arena_block *b = malloc(sizeof(*b) + usable);
	if (!b)
		return NULL;
	b->size = usable;
	a->total += usable;
	if (own && a->head) { /* behind the block being filled, which goes on */
		b->next = a->head->next;
		a->head->next = b;
		return b->data;
	}
	b->next = a->head;
	a->head = b;
	a->cap = usable;
	a->used = size;
	return b->data;
}

void rule_arena_fini(struct rule_arena *a)
{
	while (a->head) {
		struct rule_arena_block *b = a->head;
		a->head = b->next;
		free(b);
	}
	memset(a, 0, sizeof(*a));
}

void rule_scratch_fini(struct rule_scratch *sc)
{
	rule_lex_fini(&sc->lx);
	free(sc->text.p);
	free(sc->str_at);
	memset(sc, 0, sizeof(*sc));
}

bool rule_attr_view(const struct mg_rule *r, enum rule_attr_kind k, struct rule_aview *out)
{
	const unsigned bit = 1u << k;
	memset(out, 0, sizeof(*out));
	if (!(r->mask & bit))
		return false;
	const union rule_svalue *v = rule_values_of(r);
	const unsigned at = (unsigned)__builtin_popcount(r->mask & (bit - 1));
	for (unsigned i = 0; i < at; i++)
		v += r->attr[i].n;
	*out = (struct rule_aview){.v = v, .n = r->attr[at].n, .op = r->attr[at].op};
	return true;
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
	return r ? (enum mg_target)r->target : MG_TARGET_BLOCK;
}

const char *mg_rule_text(const struct mg_rule *r)
{
	if (!r)
		return "";
	/* The text follows the values. */
	const unsigned na = (unsigned)__builtin_popcount(r->mask);
	size_t nv = 0;
	for (unsigned i = 0; i < na; i++)
		nv += r->attr[i].n;
	return (const char *)(rule_values_of(r) + nv);
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
	const struct rule_conds *c = r ? rule_conds_of(r) : NULL;
	if (!c)
		return true;
	struct rule_cond_state st = {.env = env, .last_evaluated_us = -1, .last_applied_us = -1};
	return rule_conds_eval(c, &st);
}

bool mg_rule_has_conditions(const struct mg_rule *r, bool *random)
{
	bool rnd = false;
	const struct rule_conds *c = r ? rule_conds_of(r) : NULL;
	for (uint32_t i = 0; c && i < c->n; i++)
		rnd |= c->v[i].kind == RULE_COND_RANDOM;
	if (random)
		*random = rnd;
	return c != NULL;
}

int64_t mg_rule_expires_us(const struct mg_rule *r)
{
	int64_t us = 0;
	return r && rule_expires_of(r, &us) ? us : 0;
}

/*
 * Packs the draft and its canonical text into one block (rule_internal.h draws it). A string
 * that needs no escapes is an offset into the text instead of having its own copy.
 */
int rule_seal(struct rule_draft *d, struct rule_scratch *sc, const char *file, unsigned lineno,
              struct mg_rule **out)
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
	const size_t extra = (d->conds ? 8u : 0u) + (d->has_expires ? 8u : 0u);
	const size_t head = rule_head_size((unsigned)na);
	const size_t size = head + extra + nv * sizeof(union rule_svalue) + tl + 1 + nb;
	if (size > UINT32_MAX) /* string offsets are 32 bits; the line limits make it ~1 MiB */
		return -ENOMEM;
	for (int k = 0; k < RULE_ATTR_COUNT; k++)
		if (d->attr[k].n > UINT16_MAX)
			return -ENOMEM; /* the parser's set limit is lower */
	struct mg_rule *r = sc->arena ? rule_arena_alloc(sc->arena, size) : malloc(size);
	if (!r)
		return -ENOMEM;
	memset(r, 0, head);
	r->target = (uint8_t)d->target;
	r->flags = (uint8_t)((d->has_expires ? RULE_F_EXPIRES : 0u) |
	                     (sc->arena ? RULE_F_ARENA : 0u) | (d->conds ? RULE_F_CONDS : 0u));
	unsigned char *x = (unsigned char *)r + head;
	if (d->conds) {
		memcpy(x, &d->conds, sizeof(d->conds));
		x += 8;
	}
	if (d->has_expires) {
		memcpy(x, &d->expires_us, sizeof(d->expires_us));
		x += 8;
	}
	union rule_svalue *v = (union rule_svalue *)(void *)x;
	char *text = (char *)(v + nv);
	memcpy(text, sc->text.p, tl + 1);
	char *b = text + tl + 1;
	r->file = file;
	r->line = lineno;
	size_t si = 0, ai = 0;
	for (int k = 0; k < RULE_ATTR_COUNT; k++) {
		const struct rule_attr *da = &d->attr[k];
		if (da->n == 0)
			continue;
		struct rule_sattr *a = &r->attr[ai++];
		r->mask = (uint16_t)(r->mask | 1u << k);
		a->n = (uint16_t)da->n;
		a->op = da->op;
		const bool is_str = rule_attr_is_string((enum rule_attr_kind)k);
		for (uint32_t i = 0; i < da->n; i++, v++) {
			memset(v, 0, sizeof(*v));
			if (!is_str) {
				if (k == RULE_WITH_INTERFACE)
					v->iface = da->v[i].iface;
				else
					v->id = da->v[i].id;
				continue;
			}
			const struct rule_str *str = &da->v[i].str;
			const char *at;
			if (rule_str_plain(str->s, str->len)) {
				at = text + sc->str_at[si++];
			} else {
				memcpy(b, str->s, str->len);
				at = b;
				b += str->len;
				si++;
			}
			v->str.off = (uint32_t)(at - (const char *)r);
			v->str.len = str->len;
		}
	}
	d->conds = NULL; /* moved into r */
	*out = r;
	return 0;
}
