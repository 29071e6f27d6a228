/* The rule language's vocabulary: targets, attribute keywords, set operators. */
#include <errno.h>
#include <string.h>

#include "rule_internal.h"

static const char *const target_names[] = {
    [MG_TARGET_ALLOW] = "allow",
    [MG_TARGET_BLOCK] = "block",
    [MG_TARGET_REJECT] = "reject",
};

static const char *const attr_names[RULE_ATTR_COUNT] = {
    [RULE_ID] = "id",
    [RULE_SERIAL] = "serial",
    [RULE_NAME] = "name",
    [RULE_HASH] = "hash",
    [RULE_PARENT_HASH] = "parent-hash",
    [RULE_VIA_PORT] = "via-port",
    [RULE_WITH_INTERFACE] = "with-interface",
    [RULE_WITH_CONNECT_TYPE] = "with-connect-type",
    [RULE_LABEL] = "label",
};

static const char *const op_names[RULE_OP_COUNT] = {
    [RULE_OP_EQUALS] = "equals",
    [RULE_OP_ALL_OF] = "all-of",
    [RULE_OP_ONE_OF] = "one-of",
    [RULE_OP_NONE_OF] = "none-of",
    [RULE_OP_EQUALS_ORDERED] = "equals-ordered",
    [RULE_OP_MATCH_ALL] = "match-all",
};

const char *mg_target_name(enum mg_target t)
{
	if ((unsigned)t < sizeof(target_names) / sizeof(target_names[0]))
		return target_names[t];
	return "?";
}

static int lookup(const char *const *names, int n, const char *s, size_t len)
{
	for (int i = 0; i < n; i++)
		if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
			return i;
	return -1;
}

int mg_target_from_name(const char *s, enum mg_target *out)
{
	if (!s || !out)
		return -EINVAL;
	const int t = rule_target_from_name(s, strlen(s));
	if (t < 0)
		return -EINVAL;
	*out = (enum mg_target)t;
	return 0;
}

int rule_target_from_name(const char *s, size_t len)
{
	return lookup(target_names, (int)(sizeof(target_names) / sizeof(target_names[0])), s, len);
}

const char *rule_attr_name(enum rule_attr_kind k)
{
	return (unsigned)k < RULE_ATTR_COUNT ? attr_names[k] : "?";
}

int rule_attr_from_name(const char *s, size_t len)
{
	return lookup(attr_names, RULE_ATTR_COUNT, s, len);
}

const char *rule_op_name(enum rule_op op)
{
	return (unsigned)op < RULE_OP_COUNT ? op_names[op] : "?";
}

int rule_op_from_name(const char *s, size_t len)
{
	return lookup(op_names, RULE_OP_COUNT, s, len);
}

bool rule_attr_is_string(enum rule_attr_kind k)
{
	return k != RULE_ID && k != RULE_WITH_INTERFACE;
}
