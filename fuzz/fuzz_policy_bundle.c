/*
 * libFuzzer target: the policy bundle parser (server/policy/policy_bundle.c) on arbitrary bytes.
 * Whatever it accepts must serialise, parse again, and serialise to the same bytes, and its
 * lookups must agree with the parsed struct. An accepted "staff" member must build a staff.db
 * that opens and finds every user.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mg/policy_bundle.h"
#include "mg/staff_db.h"

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
	if (b->staff) {
		unsigned char *db = NULL;
		size_t dblen = 0;
		struct mg_staff_entry e;
		const char *user;
		json_t *u;
		if (mg_staff_db_build(b->staff, b->version, b->issued_us, b->expires_us, &db,
		                      &dblen) < 0 ||
		    mg_staff_db_open(db, dblen, NULL) < 0)
			abort(); /* an accepted member must give a valid staff.db */
		json_object_foreach(b->staff, user, u)
		{
			if (mg_staff_db_find(db, dblen, user, &e) != 0 ||
			    e.disabled !=
			        (json_array_size(json_object_get(u, "credentials")) == 0 &&
			         json_string_value(json_object_get(u, "state"))[0] == 'd'))
				abort();
		}
		free(db);
	}
done:
	free(first);
	free(second);
	mg_policy_bundle_free(&b);
	mg_policy_bundle_free(&again);
	return 0;
}
