/*
 * Tokenizer of one rules.conf line (private to the rule engine). Tokens: bare words
 * (keywords, ids, interface types), quoted strings with USBGuard's escapes, '{', '}', and
 * the end of the line (a '#' outside a string starts a comment that runs to the end).
 */
#ifndef MG_RULE_LEX_H
#define MG_RULE_LEX_H

#ifndef MG_RULES_INTERNAL
#error "rule_lex.h is private to agent/rules/ (mg_rules): include rules.h"
#endif

#include <stdbool.h>
#include <stddef.h>

enum rule_tok_type {
	RULE_TOK_EOL,
	RULE_TOK_WORD,
	RULE_TOK_STRING,
	RULE_TOK_LBRACE,
	RULE_TOK_RBRACE,
};

struct rule_tok {
	enum rule_tok_type type;
	unsigned col;     /* 1-based byte column of the token's first byte */
	bool spaced;      /* one or more blanks (space, tab) precede it */
	const char *text; /* WORD: into the line; STRING: the decoded bytes (lexer-owned) */
	size_t len;
};

struct rule_lexer {
	const char *line;
	size_t len;
	size_t pos;
	char *buf; /* decoded string of the last STRING token */
	size_t cap;
	unsigned err_col; /* set on error */
	char err_msg[160];
};

/* Starts lexing line[0..len); lx is zero-initialised first, its buffer is kept. */
void rule_lex_reset(struct rule_lexer *lx, const char *line, size_t len);
/* Frees the lexer's buffer. */
void rule_lex_fini(struct rule_lexer *lx);
/*
 * Reads the next token into *tok. 0; -EINVAL or -E2BIG (string too long) with err_col and
 * err_msg set; -ENOMEM. A token stays valid until the next call.
 */
int rule_lex_next(struct rule_lexer *lx, struct rule_tok *tok);

#endif
