/*
 * Index of a ruleset, so that a device is checked only against the rules that can match it.
 *
 * Every rule gets one home: the buckets of one attribute's keys (hash, serial or id), or the
 * list of unindexed rules. A rule is put under keys K only when "the rule matches the
 * device" implies "one of the device's keys is in K"; the device's keys are its hash, its
 * serial, "vendor:product" and "vendor:*". Per operator, for a single-valued attribute:
 *
 *   equals, equals-ordered   one value: K = {it}; more values: the rule can never match
 *   one-of, match-all        K = every value (all must be keyable; *:* is not)
 *   all-of                   K = one keyable value (every value must equal the device's)
 *   none-of                  not keyable
 *
 * Matching merges the sorted rule numbers of the device's buckets and of the unindexed
 * list, and evaluates them in ascending order: the first match in file order, without
 * scanning rules that cannot match.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rule_internal.h"

enum ix_tag {
	IX_ID,
	IX_SERIAL,
	IX_HASH,
};

/*
 * A group is one 64-bit key: an id key, or FNV-1a of the tag and the string. Two strings with
 * the same key share a group, whose list is then the union of theirs: a device is checked
 * against a few more rules (every candidate is matched in full), never fewer. So the index
 * keeps neither the strings nor their lengths: 12 bytes per group (key and offset).
 */
struct ix_pair {
	uint64_t k;
	uint32_t rule;
};

struct rule_index {
	uint64_t *keys; /* per group, in ascending order */
	uint32_t *offs; /* per group, plus one: group g's rules are rules[offs[g] .. offs[g + 1]) */
	size_t n_groups;
	uint32_t *slots; /* group number + 1; 0: empty */
	size_t mask;
	uint32_t *rules;
	uint32_t *unindexed;
	size_t n_unindexed;
};

#define ID_EXACT_KEY(v, p) ((1ull << 32) | (uint64_t)(v) << 16 | (uint64_t)(p))
#define ID_VENDOR_KEY(v)   ((2ull << 32) | (uint64_t)(v) << 16)

static uint64_t str_key(uint8_t tag, const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	h ^= tag;
	h *= 0x100000001b3ull;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t mix(uint64_t k)
{
	k = (k ^ (k >> 30)) * 0xbf58476d1ce4e5b9ull;
	k = (k ^ (k >> 27)) * 0x94d049bb133111ebull;
	return k ^ (k >> 31);
}

enum plan_kind {
	PLAN_NONE,  /* this attribute gives no keys */
	PLAN_NEVER, /* the rule can never match */
	PLAN_KEYS,
};

struct plan {
	enum plan_kind kind;
	uint32_t first; /* values [first, first + count) are the keys */
	uint32_t count;
	bool has_empty; /* a key is "" (serial-less devices share it) */
};

static bool keyable(enum rule_attr_kind k, const union rule_svalue *v)
{
	return k != RULE_ID || v->id.kind != RULE_ID_ANY;
}

static struct plan attr_plan(enum rule_attr_kind k, const struct rule_aview *a)
{
	struct plan p = {.kind = PLAN_NONE};
	if (!a || k == RULE_WITH_INTERFACE || k == RULE_LABEL)
		return p;
	switch ((enum rule_op)a->op) {
	case RULE_OP_EQUALS:
	case RULE_OP_EQUALS_ORDERED:
		if (a->n != 1)
			p.kind = PLAN_NEVER;
		else if (keyable(k, &a->v[0]))
			p = (struct plan){.kind = PLAN_KEYS, .first = 0, .count = 1};
		break;
	case RULE_OP_ONE_OF:
	case RULE_OP_MATCH_ALL:
		p = (struct plan){.kind = PLAN_KEYS, .first = 0, .count = a->n};
		for (uint32_t i = 0; i < a->n; i++)
			if (!keyable(k, &a->v[i]))
				p.kind = PLAN_NONE;
		break;
	case RULE_OP_ALL_OF:
		for (uint32_t i = 0; i < a->n; i++) {
			if (!keyable(k, &a->v[i]))
				continue;
			if (p.kind == PLAN_NONE ||
			    (k == RULE_ID && a->v[i].id.kind == RULE_ID_EXACT &&
			     a->v[p.first].id.kind != RULE_ID_EXACT))
				p = (struct plan){.kind = PLAN_KEYS, .first = i, .count = 1};
		}
		break;
	case RULE_OP_NONE_OF:
	case RULE_OP_COUNT:
		break;
	}
	if (p.kind == PLAN_KEYS && k != RULE_ID)
		for (uint32_t i = p.first; i < p.first + p.count; i++)
			if (a->v[i].str.len == 0)
				p.has_empty = true;
	return p;
}

/* Chooses the home of r: *kind and *p, or returns false (unindexed) or PLAN_NEVER in p. */
static bool choose(const struct mg_rule *r, enum rule_attr_kind *kind, struct plan *p)
{
	struct plan plans[RULE_ATTR_COUNT];
	for (int k = 0; k < RULE_ATTR_COUNT; k++) {
		struct rule_aview a;
		const bool has = rule_attr_view(r, (enum rule_attr_kind)k, &a);
		plans[k] = attr_plan((enum rule_attr_kind)k, has ? &a : NULL);
		if (plans[k].kind == PLAN_NEVER) {
			*p = plans[k];
			return true;
		}
	}
	static const struct {
		enum rule_attr_kind kind;
		bool allow_empty;
	} order[] = {
	    {RULE_HASH, false}, {RULE_SERIAL, false}, {RULE_ID, false},
	    {RULE_HASH, true},  {RULE_SERIAL, true},
	};
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		const struct plan *c = &plans[order[i].kind];
		if (c->kind == PLAN_KEYS && (order[i].allow_empty || !c->has_empty)) {
			*kind = order[i].kind;
			*p = *c;
			return true;
		}
	}
	return false;
}

static struct ix_pair make_pair(const struct mg_rule *r, enum rule_attr_kind k,
                                const union rule_svalue *v, uint32_t rule)
{
	struct ix_pair pr = {.rule = rule};
	if (k == RULE_ID)
		pr.k = v->id.kind == RULE_ID_EXACT ? ID_EXACT_KEY(v->id.vendor, v->id.product)
		                                   : ID_VENDOR_KEY(v->id.vendor);
	else
		pr.k = str_key(k == RULE_HASH ? IX_HASH : IX_SERIAL, rule_sstr_bytes(r, v),
		               v->str.len);
	return pr;
}

static int pair_cmp(const void *x, const void *y)
{
	const struct ix_pair *a = x, *b = y;
	if (a->k != b->k)
		return a->k < b->k ? -1 : 1;
	return a->rule < b->rule ? -1 : a->rule > b->rule ? 1 : 0;
}

static int push_pair(struct ix_pair **v, size_t *n, size_t *cap, struct ix_pair p)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 256;
		struct ix_pair *nv = realloc(*v, ncap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = ncap;
	}
	(*v)[(*n)++] = p;
	return 0;
}

/* Groups the sorted pairs into ix->keys/offs/rules and fills the hash table. */
static int build_table(struct rule_index *ix, const struct ix_pair *pairs, size_t n)
{
	size_t ng = 0;
	for (size_t i = 0; i < n; i++)
		if (i == 0 || pairs[i - 1].k != pairs[i].k)
			ng++;
	size_t slots = 16; /* at most 3/4 full */
	while (slots / 4 * 3 < ng)
		slots *= 2;
	ix->keys = calloc(ng ? ng : 1, sizeof(*ix->keys));
	ix->offs = calloc(ng + 1, sizeof(*ix->offs));
	ix->rules = calloc(n ? n : 1, sizeof(*ix->rules));
	ix->slots = calloc(slots, sizeof(*ix->slots));
	if (!ix->keys || !ix->offs || !ix->rules || !ix->slots)
		return -ENOMEM;
	ix->mask = slots - 1;
	uint32_t nr = 0;
	for (size_t i = 0; i < n; i++) {
		const struct ix_pair *p = &pairs[i];
		if (i == 0 || pairs[i - 1].k != p->k) {
			ix->keys[ix->n_groups] = p->k;
			ix->offs[ix->n_groups++] = nr;
			size_t at = mix(p->k) & ix->mask;
			while (ix->slots[at])
				at = (at + 1) & ix->mask;
			ix->slots[at] = (uint32_t)ix->n_groups;
		} else if (pairs[i - 1].rule == p->rule) {
			continue; /* the same key twice in one rule */
		}
		ix->rules[nr++] = p->rule;
	}
	ix->offs[ix->n_groups] = nr;
	if (nr < n) { /* keys repeated within rules: give the tail back */
		uint32_t *v = realloc(ix->rules, nr * sizeof(*v));
		if (v)
			ix->rules = v;
	}
	return 0;
}

int rule_index_build(struct mg_rule *const *rules, size_t n, struct rule_index **out)
{
	struct rule_index *ix = calloc(1, sizeof(*ix));
	struct ix_pair *pairs = NULL;
	size_t np = 0, cap = 0;
	int r = -ENOMEM;
	if (!ix || n > UINT32_MAX)
		goto out;
	ix->unindexed = calloc(n ? n : 1, sizeof(*ix->unindexed));
	if (!ix->unindexed)
		goto out;
	for (size_t i = 0; i < n; i++) {
		enum rule_attr_kind kind = RULE_ID;
		struct plan p;
		if (!choose(rules[i], &kind, &p)) {
			ix->unindexed[ix->n_unindexed++] = (uint32_t)i;
			continue;
		}
		if (p.kind == PLAN_NEVER)
			continue;
		struct rule_aview a;
		rule_attr_view(rules[i], kind, &a);
		for (uint32_t j = p.first; j < p.first + p.count; j++)
			if ((r = push_pair(&pairs, &np, &cap,
			                   make_pair(rules[i], kind, &a.v[j], (uint32_t)i))) < 0)
				goto out;
	}
	if (ix->n_unindexed < n) { /* trim to size: the set lives as long as the agent */
		uint32_t *v =
		    realloc(ix->unindexed, (ix->n_unindexed ? ix->n_unindexed : 1) * sizeof(*v));
		if (v)
			ix->unindexed = v;
	}
	if (np)
		qsort(pairs, np, sizeof(*pairs), pair_cmp);
	if ((r = build_table(ix, pairs, np)) < 0)
		goto out;
	*out = ix;
	ix = NULL;
	r = 0;
out:
	free(pairs);
	rule_index_free(&ix);
	return r;
}

void rule_index_free(struct rule_index **ixp)
{
	if (!ixp || !*ixp)
		return;
	struct rule_index *ix = *ixp;
	free(ix->keys);
	free(ix->offs);
	free(ix->slots);
	free(ix->rules);
	free(ix->unindexed);
	free(ix);
	*ixp = NULL;
}

struct ix_list {
	const uint32_t *p;
	size_t n;
};

static struct ix_list lookup(const struct rule_index *ix, uint64_t k)
{
	for (size_t at = mix(k) & ix->mask; ix->slots[at]; at = (at + 1) & ix->mask) {
		const size_t g = ix->slots[at] - 1;
		if (ix->keys[g] == k)
			return (struct ix_list){ix->rules + ix->offs[g],
			                        ix->offs[g + 1] - ix->offs[g]};
	}
	return (struct ix_list){NULL, 0};
}

const struct mg_rule *rule_index_match(const struct rule_index *ix, struct mg_rule *const *rules,
                                       const struct rule_devview *v, int64_t now_us,
                                       bool (*accept)(void *ctx, uint32_t i), void *ctx)
{
	const struct mg_device *dev = v->dev;
	struct ix_list lists[5] = {
	    lookup(ix, str_key(IX_HASH, v->str[RULE_HASH], v->len[RULE_HASH])),
	    lookup(ix, str_key(IX_SERIAL, v->str[RULE_SERIAL], v->len[RULE_SERIAL])),
	    lookup(ix, ID_EXACT_KEY(dev->vendor, dev->product)),
	    lookup(ix, ID_VENDOR_KEY(dev->vendor)),
	    {ix->unindexed, ix->n_unindexed},
	};
	for (;;) {
		uint32_t min = UINT32_MAX;
		bool any = false;
		for (size_t i = 0; i < 5; i++) {
			if (lists[i].n && lists[i].p[0] <= min) {
				min = lists[i].p[0];
				any = true;
			}
		}
		if (!any)
			return NULL;
		for (size_t i = 0; i < 5; i++) {
			if (lists[i].n && lists[i].p[0] == min) {
				lists[i].p++;
				lists[i].n--;
			}
		}
		if (rule_matches_view(rules[min], v, now_us) && (!accept || accept(ctx, min)))
			return rules[min];
	}
}
