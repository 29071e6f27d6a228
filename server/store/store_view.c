/*
 * The event of a stored row as outputs show it (store.h, mg_store_event_view): the sender is
 * the host the collector enrolled (host_id and its name), never the name an event claims. The
 * stored text itself is not changed: it stays the canonical form its hash covers.
 */
#include "store_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* The collector's own rows (admin actions, tamper alerts) carry no claim of a terminal. */
static bool own_row(const char *type)
{
	return !type || strncmp(type, "admin.", 6) == 0 || strncmp(type, "collector.", 10) == 0;
}

static int set(json_t *o, const char *key, json_t *v)
{
	return v && json_object_set_new(o, key, v) == 0 ? 0 : -ENOMEM;
}

int mg_store_event_view(const struct mg_store_event_row *row, char **out)
{
	json_t *o;
	int r = 0;
	if (!row || !row->json || !out)
		return -EINVAL;
	o = json_loads(row->json, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		return -EBADMSG;
	}
	if (row->host_id > 0 && !own_row(json_string_value(json_object_get(o, "type")))) {
		const char *enrolled = row->host && *row->host ? row->host : NULL;
		json_t *claim = json_object_get(o, "host");
		json_t *claim_hex = json_object_get(o, "host_hex");
		bool differs = claim_hex != NULL || !json_is_string(claim) || !enrolled ||
		               strcmp(json_string_value(claim), enrolled) != 0;
		if (differs && json_is_string(claim))
			r = set(o, "claimed_host", json_incref(claim));
		if (r == 0 && differs && claim_hex)
			r = set(o, "claimed_host_hex", json_incref(claim_hex));
		if (r == 0)
			r = set(o, "host", enrolled ? json_string(enrolled) : json_null());
		json_object_del(o, "host_hex");
	}
	if (r == 0)
		r = set(o, "host_id", json_integer(row->host_id));
	if (r == 0) {
		*out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
		r = *out ? 0 : -ENOMEM;
	}
	json_decref(o);
	return r;
}
