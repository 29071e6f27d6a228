/*
 * libFuzzer target: the policy bundle parser (server/policy/policy_bundle.c) on arbitrary bytes.
 * Whatever it accepts must serialise, parse again, and serialise to the same bytes, and its
 * lookups must agree with the parsed struct.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mg/policy_bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mg_policy_bundle *b = NULL, *again = NULL;
	char *first = NULL, *second = NULL;
	size_t len1 = 0, len2 = 0;
	char err[256];

	if (mg_policy_bundle_parse((const char *)data, size, &b, err, sizeof(err)) < 0)
		goto done;
	if (mg_policy_bundle_to_json(b, &first, &len1) < 0)
		abort(); /* an accepted bundle must be writable */
	if (mg_policy_bundle_parse(first, len1, &again, err, sizeof(err)) < 0)
		abort(); /* and its canonical form must parse */
	if (mg_policy_bundle_to_json(again, &second, &len2) < 0)
		abort();
	if (len1 != len2 || memcmp(first, second, len1) != 0)
		abort();
	for (size_t i = 0; i < b->n_hosts; i++)
		if (mg_policy_bundle_host_rules(b, b->hosts[i].host_id) != b->hosts[i].rules)
			abort();
	for (size_t i = 0; i < b->n_scope_hosts; i++)
		if (!mg_policy_bundle_in_scope(b, b->scope_hosts[i]))
			abort();
done:
	free(first);
	free(second);
	mg_policy_bundle_free(&b);
	mg_policy_bundle_free(&again);
	return 0;
}
