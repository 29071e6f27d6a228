/*
 * libFuzzer target: the admin API's rule, request and policy bodies
 * (server/admin/api_admin_body_rules.c) and the one-rule check (mg_rule_check, rule_ops.c). The
 * first byte picks the parser, the rest is the body. What mg_rule_check() accepts must be one
 * rule that the agents' parser reads and that a policy bundle can carry.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api_admin_body_rules.h"
#include "mg/utf8.h"
#include "mg/policy_bundle.h"
#include "rule_ops.h"
#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An accepted rule: exactly one parsed rule, valid bundle rules text. */
static void check_rule(const char *text)
{
	struct mg_ruleset *rs = NULL;
	struct mg_rule_error re;
	size_t n = strlen(text);
	char *line = malloc(n + 2);
	if (!line)
		return;
	memcpy(line, text, n);
	line[n] = '\n';
	line[n + 1] = '\0';
	if (n == 0 || n >= MG_STORE_RULE_SIZE || !mg_policy_rules_text_valid(line, n + 1))
		abort();
	if (mg_ruleset_parse("rule", text, n, &rs, &re) != 0 || mg_ruleset_count(rs) != 1)
		abort();
	mg_ruleset_free(&rs);
	free(line);
}

static void check_text(const char *s, size_t size)
{
	size_t n = strnlen(s, size);
	if (n >= size || !mg_utf8_valid(s, n))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	const char *body = (const char *)data + 1;
	if (size < 1)
		return 0;
	size--;
	err[0] = '\0';
	switch (data[0] % 5) {
	case 0: {
		struct mg_admin_rule_req r;
		if (mg_admin_parse_rule(body, size, &r, err, sizeof(err)) == 0) {
			check_text(r.rule, sizeof(r.rule));
			check_text(r.comment, sizeof(r.comment));
			if (!r.rule[0] || r.host_id < 0 || r.expires_us < 0)
				abort();
			if (mg_rule_check(r.rule, err, sizeof(err)) == 0)
				check_rule(r.rule);
		}
		break;
	}
	case 1: {
		struct mg_admin_approve_req r;
		if (mg_admin_parse_approve(body, size, &r, err, sizeof(err)) == 0) {
			check_text(r.note, sizeof(r.note));
			if (r.expires_us < 0)
				abort();
		}
		break;
	}
	case 2: {
		struct mg_admin_deny_req r;
		if (mg_admin_parse_deny(body, size, &r, err, sizeof(err)) == 0)
			check_text(r.note, sizeof(r.note));
		break;
	}
	case 3:
		(void)mg_admin_parse_publish(body, size, err, sizeof(err));
		break;
	default: {
		char *text = malloc(size + 1);
		if (!text)
			return 0;
		memcpy(text, body, size);
		text[size] = '\0';
		if (mg_rule_check(text, err, sizeof(err)) == 0)
			check_rule(text);
		else if (strncmp(err, "rule:1:", 7) != 0)
			abort();
		free(text);
		break;
	}
	}
	if (memchr(err, '\0', sizeof(err)) == NULL)
		abort();
	return 0;
}
