/* The bundle's "staff" member from the staff registry (policy_staff.h). */
#include "policy_staff.h"

#include <errno.h>
#include <string.h>

#include "mg/policy_bundle.h"
#include "mg/time.h"

struct staff_ctx {
	json_t *staff;
	size_t n;
};

static int add_member(void *ctx, const struct mg_store_staff *m)
{
	struct staff_ctx *c = ctx;
	json_t *o;
	if (++c->n > MG_POLICY_MAX_STAFF)
		return -EFBIG;
	o = json_pack("{s:[],s:s}", "credentials", "state", m->disabled ? "disabled" : "active");
	if (!o)
		return -ENOMEM;
	if (m->unlocked_us > 0) {
		char t[MG_RFC3339_LEN];
		if (mg_time_format(m->unlocked_us, t) < 0 ||
		    json_object_set_new(o, "unlocked_at", json_string(t)) < 0) {
			json_decref(o);
			return -EINVAL;
		}
	}
	return json_object_set_new(c->staff, m->login, o) < 0 ? -ENOMEM : 0;
}

static int add_key(void *ctx, const struct mg_store_staff_key *k)
{
	struct staff_ctx *c = ctx;
	json_t *m = json_object_get(c->staff, k->login);
	json_t *creds = json_object_get(m, "credentials");
	const char *state = json_string_value(json_object_get(m, "state"));
	if (!creds || !state)
		return 0; /* a member added after the member walk: the next version has it */
	if (strcmp(state, "active") != 0)
		return 0; /* disabled: no credentials anywhere */
	if (json_array_size(creds) >= MG_POLICY_MAX_STAFF_CREDS)
		return -EFBIG;
	json_t *o = json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:b}", "aaguid", k->aaguid, "cose_alg",
	                      k->cose_alg, "id", k->credential_id, "label", k->label, "public_key",
	                      k->public_key, "rp_id", k->rp_id, "uv", (int)k->uv);
	return !o || json_array_append_new(creds, o) < 0 ? -ENOMEM : 0;
}

int mg_policy_staff_json(struct mg_store *s, json_t **out)
{
	struct staff_ctx c = {json_object(), 0};
	int r;
	if (!c.staff)
		return -ENOMEM;
	r = mg_store_staff_foreach(s, add_member, &c);
	if (r == 0 && c.n > 0)
		r = mg_store_staff_keys_foreach(s, 0, MG_STAFF_KEY_ACTIVE, add_key, &c);
	if (r == 0 && c.n > 0 && mg_policy_staff_check(c.staff, NULL, 0) < 0)
		r = -EINVAL;
	if (r < 0) {
		json_decref(c.staff);
		return r;
	}
	if (c.n == 0) {
		json_decref(c.staff);
		c.staff = NULL;
	}
	*out = c.staff;
	return 0;
}
