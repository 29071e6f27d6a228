/*
 * Private to the rule engine (rule_*.c, ruleset.c): the parsed form of a rule, the limits,
 * and the helpers the files share. Nothing outside agent/rules/ includes this (the mg_rules
 * target alone defines MG_RULES_INTERNAL).
 */
#ifndef MG_RULE_INTERNAL_H
#define MG_RULE_INTERNAL_H

#ifndef MG_RULES_INTERNAL
#error "rule_internal.h is private to agent/rules/ (mg_rules): include rules.h"
#endif

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rule_lex.h"
#include "rules.h"

/* Limits (hostile or mistaken input fails with -E2BIG and a position). */
#define MG_RULES_MAX_LINE   (64u * 1024u)          /* bytes per line, without the newline */
#define MG_RULES_MAX_STRING (16u * 1024u)          /* bytes of one decoded string value */
#define MG_RULES_MAX_SET    4096u                  /* values in one { ... } set */
#define MG_RULES_MAX_RULES  1000000u               /* rules in one ruleset */
#define MG_RULES_MAX_VALUES 8000000u               /* attribute values in one ruleset */
#define MG_RULES_MAX_FILE   (128u * 1024u * 1024u) /* file size when the caller sets none */

/* Attributes in USBGuard's canonical order (RulePrivate::toString); the conditions (`if`,
 * struct rule_conds) follow them, then `expires`. */
enum rule_attr_kind {
	RULE_ID,
	RULE_SERIAL,
	RULE_NAME,
	RULE_HASH,
	RULE_PARENT_HASH,
	RULE_VIA_PORT,
	RULE_WITH_INTERFACE,
	RULE_WITH_CONNECT_TYPE,
	RULE_LABEL,
	RULE_ATTR_COUNT,
};

/* Set operators; EQUALS is the default and is not printed. */
enum rule_op {
	RULE_OP_EQUALS,
	RULE_OP_ALL_OF,
	RULE_OP_ONE_OF,
	RULE_OP_NONE_OF,
	RULE_OP_EQUALS_ORDERED,
	RULE_OP_MATCH_ALL,
	RULE_OP_COUNT,
};

/* id vvvv:pppp, vvvv:* or *:* */
enum rule_id_kind {
	RULE_ID_ANY,
	RULE_ID_VENDOR,
	RULE_ID_EXACT,
};

struct rule_devid {
	uint16_t vendor;
	uint16_t product;
	uint8_t kind; /* enum rule_id_kind */
};

/* with-interface cc:ss:pp, cc:ss:* or cc:*:* */
#define RULE_IF_SUB   0x1u
#define RULE_IF_PROTO 0x2u

struct rule_iftype {
	uint8_t cls, sub, proto;
	uint8_t mask; /* RULE_IF_SUB, RULE_IF_SUB|RULE_IF_PROTO, or 0 (class only) */
};

/* A decoded string: any bytes (\x00 included); use len, not a terminator. */
struct rule_str {
	char *s;
	uint32_t len;
};

union rule_value {
	struct rule_devid id;
	struct rule_iftype iface;
	struct rule_str str;
};

struct rule_attr {
	union rule_value *v;
	uint32_t n; /* 0: attribute absent */
	uint8_t op; /* enum rule_op */
};

/* ---- conditions (rule_cond.c) ---- */
#define RULE_CONDS_MAX 64u /* conditions in one set (USBGuard evaluates them into 64 bits) */

enum rule_cond_kind {
	RULE_COND_TRUE,
	RULE_COND_FALSE,
	RULE_COND_LOCALTIME,
	RULE_COND_ALLOWED_MATCHES,
	RULE_COND_RULE_APPLIED,
	RULE_COND_RULE_EVALUATED,
	RULE_COND_RANDOM,
};

struct rule_cond {
	uint8_t kind; /* enum rule_cond_kind */
	bool negated;
	int32_t begin, end;    /* localtime: seconds since local midnight, both included */
	int64_t within_s;      /* rule-applied/-evaluated: 0 = ever */
	double p_true;         /* random */
	struct mg_rule *query; /* allowed-matches: the query as a rule (target allow) */
	char *param;           /* the parameter as written; NULL when none */
};

struct rule_conds {
	uint8_t op; /* enum rule_op: how the conditions combine */
	bool has_localtime;
	uint32_t n;
	struct rule_cond v[];
};

/* What one evaluation sees: the environment and this rule's history (-1: never). */
struct rule_cond_state {
	const struct mg_rule_env *env;
	int64_t last_evaluated_us, last_applied_us; /* CLOCK_MONOTONIC */
};

/*
 * Parses the condition part of s[0..len) from *pos (just after the word `if`) and advances
 * *pos past it. depth: 0 for a rule, 1 inside an allowed-matches() query. 0; -EINVAL or
 * -E2BIG with *errcol (1-based) and why; -ENOMEM.
 */
int rule_conds_parse(const char *s, size_t len, size_t *pos, const char *file, unsigned line,
                     unsigned depth, struct rule_conds **out, unsigned *errcol, char *why,
                     size_t wl);
void rule_conds_free(struct rule_conds **c);
/* Whether the conditions hold (each negated where written, combined by the operator). */
bool rule_conds_eval(const struct rule_conds *c, const struct rule_cond_state *st);
/* Seconds from daytime until some localtime() of c changes value; -1 when c has none. */
int32_t rule_conds_next_change(const struct rule_conds *c, int32_t daytime);

/* A rule being parsed: a slot per attribute, values in their own allocations. */
struct rule_draft {
	struct rule_attr attr[RULE_ATTR_COUNT];
	struct rule_conds *conds; /* NULL: no `if` */
	enum mg_target target;
	bool has_expires;
	int64_t expires_us;
};

/*
 * A parsed rule is one block, compact because a rule set may hold 100,000 of them:
 *
 *   struct mg_rule (16 bytes), then per present attribute (kind order) a struct rule_sattr
 *   (4 bytes), padding to 8; the pointer to its conditions (RULE_F_CONDS) and its expiry
 *   (RULE_F_EXPIRES) when it has them, 8 bytes each; the values of every attribute, one after
 *   the other (union rule_svalue, 8 bytes: a string is an offset and a length in the block);
 *   the canonical text and its NUL; the string bytes that the text does not hold verbatim.
 *
 * file must outlive the rule (the rule set interns it). The conditions are a second
 * allocation that rule_free() frees with it. The block is its own allocation, or
 * (RULE_F_ARENA) part of a rule set's arena, freed with the arena.
 */
#define RULE_F_EXPIRES 0x1u /* an expiry follows the attributes (after the conditions) */
#define RULE_F_ARENA   0x2u /* the block belongs to an arena: rule_free() does not free it */
#define RULE_F_CONDS   0x4u /* a struct rule_conds pointer follows the attributes */

/* A sealed attribute: its n values follow those of the attributes before it. */
struct rule_sattr {
	uint16_t n; /* <= MG_RULES_MAX_SET */
	uint8_t op; /* enum rule_op */
	uint8_t pad;
};

/* A sealed string: len bytes (any, \x00 included) at off bytes from the rule's start. */
struct rule_sstr {
	uint32_t off;
	uint32_t len;
};

union rule_svalue {
	struct rule_devid id;
	struct rule_iftype iface;
	struct rule_sstr str;
};

struct mg_rule {
	uint8_t target; /* enum mg_target */
	uint8_t flags;  /* RULE_F_* */
	uint16_t mask;  /* bit k: attribute k is present */
	uint32_t line;
	const char *file; /* interned by the rule set: one copy per file, not per rule */
	struct rule_sattr attr[];
};

/* One attribute of a sealed rule, as rule_attr_view() finds it. */
struct rule_aview {
	const union rule_svalue *v;
	uint32_t n;
	uint8_t op; /* enum rule_op */
};

/* Bytes before the optional fields: the header and the attributes, padded to 8. */
static inline size_t rule_head_size(unsigned n_attrs)
{
	return (sizeof(struct mg_rule) + n_attrs * sizeof(struct rule_sattr) + 7u) & ~(size_t)7u;
}

/* The optional fields after r's attributes: 8 bytes each, conditions first. */
static inline const unsigned char *rule_extra(const struct mg_rule *r)
{
	return (const unsigned char *)r + rule_head_size((unsigned)__builtin_popcount(r->mask));
}

/* r's conditions; NULL: no `if`. */
static inline struct rule_conds *rule_conds_of(const struct mg_rule *r)
{
	struct rule_conds *c = NULL;
	if (r->flags & RULE_F_CONDS)
		memcpy(&c, rule_extra(r), sizeof(c));
	return c;
}

/* Whether r expires, and when (*us). */
static inline bool rule_expires_of(const struct mg_rule *r, int64_t *us)
{
	if (!(r->flags & RULE_F_EXPIRES))
		return false;
	memcpy(us, rule_extra(r) + (r->flags & RULE_F_CONDS ? 8u : 0u), sizeof(*us));
	return true;
}

/* r's first value (the attributes' values follow one another in attribute order). */
static inline const union rule_svalue *rule_values_of(const struct mg_rule *r)
{
	const unsigned extra =
	    (r->flags & RULE_F_CONDS ? 8u : 0u) + (r->flags & RULE_F_EXPIRES ? 8u : 0u);
	return (const union rule_svalue *)(const void *)(rule_extra(r) + extra);
}

/* The bytes of string value v of r. */
static inline const char *rule_sstr_bytes(const struct mg_rule *r, const union rule_svalue *v)
{
	return (const char *)r + v->str.off;
}

/*
 * A bump allocator for the rules of one rule set: blocks of 4 KiB, of RULE_ARENA_BLOCK bytes
 * once the arena holds 256 KiB (a rule larger than a quarter of the block gets a block of its
 * own), freed all at once. It saves the allocator's header and rounding per rule and keeps the
 * rules together, away from the parser's temporaries. Zero-initialise.
 */
#define RULE_ARENA_BLOCK (32u * 1024u)

struct rule_arena {
	struct rule_arena_block *head; /* the block being filled, then the older ones */
	size_t used;                   /* bytes used in head */
	size_t cap;                    /* bytes usable in head */
	size_t total;                  /* bytes usable in all blocks */
};

/* size bytes aligned for struct mg_rule, or NULL (ENOMEM). */
void *rule_arena_alloc(struct rule_arena *a, size_t size);
void rule_arena_fini(struct rule_arena *a);

/* A growable byte buffer (rule_print.c). */
struct rule_buf {
	char *p;
	size_t len;
	size_t cap;
	bool oom; /* an append failed; p stays valid */
};

/* ---- rule_names.c: the vocabulary ---- */
/* Target keyword of s[0..len) (enum mg_target), or -1. */
int rule_target_from_name(const char *s, size_t len);
const char *rule_attr_name(enum rule_attr_kind k);
/* Attribute keyword of s[0..len), or -1. */
int rule_attr_from_name(const char *s, size_t len);
const char *rule_op_name(enum rule_op op);
/* Operator keyword of s[0..len), or -1. */
int rule_op_from_name(const char *s, size_t len);
bool rule_attr_is_string(enum rule_attr_kind k);

/* Buffers reused from line to line while parsing one text; zero-initialise. */
struct rule_scratch {
	struct rule_lexer lx;
	struct rule_buf text;
	size_t *str_at; /* rule_format()'s string offsets */
	size_t str_cap;
	struct rule_arena *arena; /* NULL: each rule is its own allocation */
};

/* ---- rule.c: the rule object ---- */
/* Attribute k of r into *out; false (out zeroed) when absent. */
bool rule_attr_view(const struct mg_rule *r, enum rule_attr_kind k, struct rule_aview *out);
/*
 * Packs d, its canonical text and "file:line" into one new block (*out), from sc->arena when
 * set, and moves d's conditions into it. A string that needs no escapes shares the text's
 * bytes. 0 or -ENOMEM (d unchanged).
 */
int rule_seal(struct rule_draft *d, struct rule_scratch *sc, const char *file, unsigned line,
              struct mg_rule **out);
/* Frees a draft's values and zeroes it. */
void rule_draft_clear(struct rule_draft *d);
void rule_free(struct mg_rule **r);
void rule_scratch_fini(struct rule_scratch *sc);

/* ---- rule_parse.c ---- */
/*
 * Parses one line (no newline; NUL bytes already refused). *out is NULL for a blank or
 * comment line, else a new rule with text/source set ("file:line"). *n_values gets the
 * number of attribute values. 0, -EINVAL/-E2BIG (err filled), -ENOMEM.
 */
int rule_parse_line(struct rule_scratch *sc, const char *file, unsigned line, const char *text,
                    size_t len, struct mg_rule **out, size_t *n_values, struct mg_rule_error *err);
/* Same, at a nesting depth (an allowed-matches() query is parsed at depth 1). */
int rule_parse_line_depth(struct rule_scratch *sc, const char *file, unsigned line,
                          const char *text, size_t len, struct mg_rule **out, size_t *n_values,
                          struct mg_rule_error *err, unsigned depth);
/* The canonical text of conditions (" if ..."), appended to b. */
void rule_conds_format(const struct rule_conds *c, struct rule_buf *b);
/* Fills err (when not NULL) and returns code. */
int rule_fail(struct mg_rule_error *err, int code, const char *file, unsigned line, unsigned col,
              const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* ---- rule_print.c ---- */
void rule_buf_add(struct rule_buf *b, const char *s, size_t len);
void rule_buf_adds(struct rule_buf *b, const char *s);
/* "..." with USBGuard's escapes: \" \\ and \xHH for bytes outside 0x20..0x7e. */
void rule_buf_add_quoted(struct rule_buf *b, const char *s, size_t len);
void rule_buf_add_id(struct rule_buf *b, struct rule_devid id);
void rule_buf_add_iftype(struct rule_buf *b, struct rule_iftype t);
/*
 * Canonical text of r into b (USBGuard's toString order, then `expires`). str_at (may be
 * NULL) gets the offset in b of the first byte inside the quotes of each string value, in
 * attribute order.
 */
void rule_format(const struct rule_draft *r, struct rule_buf *b, size_t *str_at);
/* True when s[0..len) prints as itself between quotes (no escapes). */
bool rule_str_plain(const char *s, size_t len);

/* ---- rule_match.c ---- */
/* The device's attribute values, computed once per device. */
struct rule_devview {
	const struct mg_device *dev;
	const char *str[RULE_ATTR_COUNT]; /* string attributes; "" when the device has none */
	size_t len[RULE_ATTR_COUNT];
	size_t n_ifaces;
};

void rule_devview_init(struct rule_devview *v, const struct mg_device *dev);
bool rule_matches_view(const struct mg_rule *r, const struct rule_devview *v, int64_t now_us);

/* ---- rule_index.c ---- */
struct rule_index;
/* Indexes rules[0..n) by id, serial and hash. 0 or -ENOMEM. */
int rule_index_build(struct mg_rule *const *rules, size_t n, struct rule_index **out);
void rule_index_free(struct rule_index **ix);
/* First rule, in order, that matches v and that accept (may be NULL: any) takes, given the
 * rule's index; NULL when none. */
const struct mg_rule *rule_index_match(const struct rule_index *ix, struct mg_rule *const *rules,
                                       const struct rule_devview *v, int64_t now_us,
                                       bool (*accept)(void *ctx, uint32_t i), void *ctx);

#endif
