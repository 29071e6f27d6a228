/*
 * JSON of the event rows the collector writes itself: admin actions ("admin.<action>") and
 * tamper alerts ("collector.tamper"). Canonical form as for terminal events (compact, sorted
 * keys). Shared by both backends; no SQL.
 *
 *   {"action":"rule.add","admin":"sato","detail":{...},"remote":"192.0.2.7",
 *    "target":"rule:12","time":"2026-11-25T21:17:59.123456Z","type":"admin.rule.add"}
 */
#include "store_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mg/time.h"

static int set_str(json_t *o, const char *key, const char *v)
{
	json_t *s = json_string(v);
	return s && json_object_set_new(o, key, s) == 0 ? 0 : -ENOMEM;
}

static int set_time(json_t *o, int64_t us)
{
	char buf[MG_RFC3339_LEN];
	if (mg_time_format(us < 0 ? 0 : us, buf) < 0)
		snprintf(buf, sizeof(buf), "%s", "1970-01-01T00:00:00.000000Z");
	return set_str(o, "time", buf);
}

static int dump(json_t *o, char **out)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	if (!s)
		return -ENOMEM;
	*out = s;
	return 0;
}

void mg_store_action_set_target(struct mg_store_action *act, int64_t id)
{
	if (act && act->target_kind)
		snprintf(act->target, sizeof(act->target), "%s:%" PRId64, act->target_kind, id);
}

int mg_store_action_event_json(const struct mg_store_action *act, char **out)
{
	int r = -ENOMEM;
	char type[8 + MG_STORE_NAME_SIZE];
	json_t *o = json_object();
	if (!o)
		goto fail;
	snprintf(type, sizeof(type), "admin.%s", act->action);
	if (set_str(o, "type", type) < 0 || set_str(o, "action", act->action) < 0 ||
	    set_str(o, "admin", act->admin) < 0 || set_time(o, act->now_us) < 0)
		goto fail;
	if (act->remote && *act->remote && set_str(o, "remote", act->remote) < 0)
		goto fail;
	if (act->target[0] && set_str(o, "target", act->target) < 0)
		goto fail;
	if (act->detail) {
		json_t *d = json_loads(act->detail, JSON_REJECT_DUPLICATES, NULL);
		if (!d || json_object_set_new(o, "detail", d) < 0) {
			r = d ? -ENOMEM : -EINVAL;
			goto fail;
		}
	}
	r = dump(o, out);
fail:
	json_decref(o);
	return r;
}

int mg_store_tamper_event_json(int64_t host_id, const char *boot_id, uint64_t seq, const char *kind,
                               const char *expected_hash, const char *received_hash, int64_t now_us,
                               char **out)
{
	int r = -ENOMEM;
	json_t *o = json_object();
	if (!o)
		goto fail;
	if (set_str(o, "type", "collector.tamper") < 0 || set_str(o, "kind", kind) < 0 ||
	    set_str(o, "boot_id", boot_id) < 0 || set_time(o, now_us) < 0 ||
	    json_object_set_new(o, "host_id", json_integer(host_id)) < 0 ||
	    json_object_set_new(o, "seq", json_integer((json_int_t)seq)) < 0)
		goto fail;
	if (expected_hash && *expected_hash && set_str(o, "expected_hash", expected_hash) < 0)
		goto fail;
	if (received_hash && *received_hash && set_str(o, "received_hash", received_hash) < 0)
		goto fail;
	r = dump(o, out);
fail:
	json_decref(o);
	return r;
}

int mg_store_claim_event_json(int64_t host_id, const char *boot_id, uint64_t seq, const char *name,
                              int64_t claimed_host_id, int64_t now_us, char **out)
{
	int r = -ENOMEM;
	json_t *o = json_object();
	if (!o)
		goto fail;
	if (set_str(o, "type", "collector.tamper") < 0 ||
	    set_str(o, "kind", MG_STORE_ALERT_HOST_CLAIM) < 0 ||
	    set_str(o, "boot_id", boot_id) < 0 || set_time(o, now_us) < 0 ||
	    set_str(o, "claimed_host", name) < 0 ||
	    json_object_set_new(o, "claimed_host_id", json_integer(claimed_host_id)) < 0 ||
	    json_object_set_new(o, "host_id", json_integer(host_id)) < 0 ||
	    json_object_set_new(o, "seq", json_integer((json_int_t)seq)) < 0)
		goto fail;
	r = dump(o, out);
fail:
	json_decref(o);
	return r;
}
