/* The terminal's enrolment record (enrolment.h). */
#include "enrolment.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mg/safe_open.h"
#include "mg/time.h"

static int path_of(const char *state_dir, char *path, size_t len)
{
	return snprintf(path, len, "%s/enrolment.json", state_dir) >= (int)len ? -ENAMETOOLONG : 0;
}

static bool key_ok(const char *k)
{
	if (!k || strlen(k) != 44 || k[43] != '=')
		return false;
	for (size_t i = 0; i < 43; i++) {
		char c = k[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '/'))
			return false;
	}
	return true;
}

static int from_json(json_t *o, struct mg_enrolment *e, bool with_collector, char *why,
                     size_t whylen)
{
	json_t *id = json_object_get(o, "host_id"), *k = json_object_get(o, "policy_public_key");
	if (!json_is_integer(id) || json_integer_value(id) < 1) {
		snprintf(why, whylen, "host_id: expected a positive integer");
		return -EINVAL;
	}
	if (!key_ok(json_string_value(k))) {
		snprintf(why, whylen, "policy_public_key: expected 32 bytes in base64");
		return -EINVAL;
	}
	e->host_id = json_integer_value(id);
	snprintf(e->policy_key, sizeof(e->policy_key), "%s", json_string_value(k));
	if (with_collector) {
		const char *c = json_string_value(json_object_get(o, "collector"));
		if (!c || strncmp(c, "https://", 8) != 0 || strlen(c) >= sizeof(e->collector)) {
			snprintf(why, whylen, "collector: expected an https:// URL");
			return -EINVAL;
		}
		snprintf(e->collector, sizeof(e->collector), "%s", c);
		const char *t = json_string_value(json_object_get(o, "enrolled_at"));
		if (!t || mg_time_parse(t, &e->enrolled_us) < 0)
			e->enrolled_us = 0;
	}
	e->enrolled = true;
	return 0;
}

int mg_enrolment_load(const char *state_dir, struct mg_enrolment *e, char *why, size_t whylen)
{
	memset(e, 0, sizeof(*e));
	char path[4096];
	int r = path_of(state_dir, path, sizeof(path));
	if (r < 0)
		return r;
	struct mg_file_rules own = {.owner = geteuid(), .secret = true, .max_size = 65536};
	char *data = NULL;
	size_t len = 0;
	const char *w = NULL;
	if ((r = mg_safe_read_file(path, &own, &data, &len, &w)) < 0) {
		snprintf(why, whylen, "%s: %s", path, w ? w : strerror(-r));
		return r;
	}
	json_error_t jerr;
	json_t *o = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
	free(data);
	if (!o) {
		snprintf(why, whylen, "%s: not JSON: %s", path, jerr.text);
		return -EINVAL;
	}
	r = from_json(o, e, true, why, whylen);
	json_decref(o);
	if (r < 0)
		memset(e, 0, sizeof(*e));
	return r;
}

int mg_enrolment_save(const char *state_dir, const struct mg_enrolment *e)
{
	char path[4096], t[MG_RFC3339_LEN];
	int r = path_of(state_dir, path, sizeof(path));
	if (r < 0)
		return r;
	if (mg_time_format(e->enrolled_us, t) < 0)
		return -EINVAL;
	json_t *o =
	    json_pack("{s:s, s:I, s:s, s:s}", "collector", e->collector, "host_id",
	              (json_int_t)e->host_id, "policy_public_key", e->policy_key, "enrolled_at", t);
	char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	if (!text)
		return -ENOMEM;
	r = mg_write_file_atomic(path, text, strlen(text), 0600);
	free(text);
	return r;
}

int mg_enrolment_from_answer(const char *body, size_t len, struct mg_enrolment *e, char *why,
                             size_t whylen)
{
	json_error_t jerr;
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o) {
		snprintf(why, whylen, "the collector's answer is not JSON: %s", jerr.text);
		return -EINVAL;
	}
	int r = from_json(o, e, false, why, whylen);
	json_decref(o);
	return r;
}
