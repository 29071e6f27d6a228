/*
 * The bundle's "staff" member (docs/POLICY.md "Staff credentials", issue 15) from the staff
 * registry (store.h): every staff member by login, {"credentials":[...],"state":...
 * [,"unlocked_at":...]}; credentials are the member's approved, active keys (public data
 * only), none for a disabled member.
 */
#ifndef MG_POLICY_STAFF_H
#define MG_POLICY_STAFF_H

#include <jansson.h>

#include "store.h"

/*
 * *out: the member object (owned), or NULL when the registry has no staff at all (the bundle
 * then has no "staff" member, as before issue 15). 0, -EFBIG (more staff or keys than a
 * bundle holds), -EINVAL (the result fails mg_policy_staff_check), -ENOMEM or the store's
 * error.
 */
int mg_policy_staff_json(struct mg_store *s, json_t **out);

#endif
