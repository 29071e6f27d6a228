/* Device requests of this terminal (requests.h). */
#include "requests.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "mg/safe_open.h"
#include "mg/time.h"

struct mg_requests {
	char path[4200];
	json_t *list; /* array of {"request_id","user","device","reason","state","filed_at",...} */
	size_t current; /* index of the request being sent, or SIZE_MAX */
	size_t cursor;  /* refresh round: the next index to look at */
	bool round;
};

static int save(struct mg_requests *r)
{
	char *text = json_dumps(r->list, JSON_INDENT(1) | JSON_SORT_KEYS);
	if (!text)
		return -ENOMEM;
	int e = mg_write_file_atomic(r->path, text, strlen(text), 0600);
	free(text);
	return e;
}

int mg_requests_open(const char *state_dir, struct mg_requests **out, char *why, size_t whylen)
{
	struct mg_requests *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->current = SIZE_MAX;
	snprintf(r->path, sizeof(r->path), "%s/requests.json", state_dir);
	struct mg_file_rules own = {.owner = geteuid(), .secret = true, .max_size = 16u << 20};
	char *data = NULL;
	size_t len = 0;
	const char *w = NULL;
	int e = mg_safe_read_file(r->path, &own, &data, &len, &w);
	if (e == -ENOENT) {
		r->list = json_array();
	} else if (e == 0) {
		json_error_t jerr;
		r->list = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_array(r->list)) {
			snprintf(why, whylen, "%s: not a JSON array (%s): starting empty", r->path,
			         jerr.text);
			json_decref(r->list);
			r->list = json_array();
		}
	} else {
		snprintf(why, whylen, "%s: %s: starting empty", r->path, w ? w : strerror(-e));
		r->list = json_array();
	}
	free(data);
	if (!r->list) {
		free(r);
		return -ENOMEM;
	}
	*out = r;
	return 0;
}

void mg_requests_free(struct mg_requests **pr)
{
	if (!pr || !*pr)
		return;
	json_decref((*pr)->list);
	free(*pr);
	*pr = NULL;
}

static bool text_ok(const char *s, size_t max, bool newlines)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > max)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p < 0x20 && !(newlines && (*p == '\t' || *p == '\n'))) || *p == 0x7f)
			return false;
	return true;
}

static const char *state_of(const json_t *o)
{
	const char *s = json_string_value(json_object_get(o, "state"));
	return s ? s : "";
}

int mg_requests_add(struct mg_requests *r, const char *user, json_t *device, const char *reason,
                    char id[64], char *why, size_t whylen)
{
	if (!text_ok(reason, 1023, true)) {
		snprintf(why, whylen,
		         "reason: 1-1023 bytes, no control characters but tab and newline");
		return -EINVAL;
	}
	if (!text_ok(user, 255, false)) {
		snprintf(why, whylen, "user: 1-255 bytes, no control characters");
		return -EINVAL;
	}
	/* Room: the oldest answered requests give way; unanswered ones never do. */
	while (json_array_size(r->list) >= MG_REQUESTS_MAX) {
		size_t i, victim = SIZE_MAX;
		json_t *o;
		json_array_foreach(r->list, i, o)
		{
			const char *st = state_of(o);
			if (strcmp(st, "unsent") != 0 && strcmp(st, "pending") != 0) {
				victim = i;
				break;
			}
		}
		if (victim == SIZE_MAX) {
			snprintf(why, whylen, "%u requests wait for an answer already",
			         MG_REQUESTS_MAX);
			return -ENOSPC;
		}
		json_array_remove(r->list, victim);
		r->current = SIZE_MAX;
	}
	uint32_t rnd = 0;
	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		snprintf(why, whylen, "no randomness for the request id");
		return -EIO;
	}
	int64_t now = mg_now_us();
	char t[MG_RFC3339_LEN];
	(void)mg_time_format(now, t);
	snprintf(id, 64, "r%lld-%08x", (long long)(now / 1000000), rnd);
	json_t *o = json_pack("{s:s, s:s, s:O, s:s, s:s, s:s}", "request_id", id, "user", user,
	                      "device", device, "reason", reason, "state", "unsent", "filed_at", t);
	if (!o || json_array_append_new(r->list, o) < 0) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	int e = save(r);
	if (e < 0) {
		json_array_remove(r->list, json_array_size(r->list) - 1);
		snprintf(why, whylen, "cannot keep the request in %s: %s", r->path, strerror(-e));
		return e;
	}
	return 0;
}

int mg_requests_next(struct mg_requests *r, bool refresh, char **body)
{
	size_t n = json_array_size(r->list), pick = SIZE_MAX;
	for (size_t i = 0; i < n && pick == SIZE_MAX; i++)
		if (strcmp(state_of(json_array_get(r->list, i)), "unsent") == 0)
			pick = i;
	if (pick == SIZE_MAX && refresh) {
		if (!r->round) {
			r->round = true;
			r->cursor = 0;
		}
		for (size_t i = r->cursor; i < n && pick == SIZE_MAX; i++)
			if (strcmp(state_of(json_array_get(r->list, i)), "pending") == 0)
				pick = i;
		r->cursor = pick == SIZE_MAX ? n : pick + 1;
		if (pick == SIZE_MAX)
			r->round = false;
	}
	if (pick == SIZE_MAX)
		return 0;
	json_t *o = json_array_get(r->list, pick);
	json_t *b =
	    json_pack("{s:O, s:O, s:O, s:O}", "request_id", json_object_get(o, "request_id"),
	              "user", json_object_get(o, "user"), "device", json_object_get(o, "device"),
	              "reason", json_object_get(o, "reason"));
	*body = b ? json_dumps(b, JSON_COMPACT) : NULL;
	json_decref(b);
	if (!*body)
		return -ENOMEM;
	r->current = pick;
	return 1;
}

int mg_requests_answer(struct mg_requests *r, unsigned status, const char *body, size_t len,
                       const char *words)
{
	json_t *o =
	    r->current < json_array_size(r->list) ? json_array_get(r->list, r->current) : NULL;
	r->current = SIZE_MAX;
	if (!o)
		return 0; /* it went meanwhile */
	if (status == 200 || status == 201) {
		json_error_t jerr;
		json_t *a = json_loadb(body, len, 0, &jerr);
		const char *st = json_string_value(json_object_get(a, "state"));
		json_t *id = json_object_get(a, "id");
		if (!st || !json_is_integer(id)) {
			json_decref(a);
			return -EAGAIN;
		}
		json_object_set_new(o, "state", json_string(st));
		json_object_set(o, "collector_id", id);
		json_decref(a);
	} else if (status == 409 || status == 400) {
		json_object_set_new(o, "state",
		                    json_string(status == 409 ? "conflict" : "refused"));
		json_object_set_new(o, "error", json_string(words));
	} else {
		return -EAGAIN;
	}
	char t[MG_RFC3339_LEN];
	if (mg_time_format(mg_now_us(), t) == 0)
		json_object_set_new(o, "answered_at", json_string(t));
	(void)save(r);
	return 0;
}

bool mg_requests_due(const struct mg_requests *r)
{
	size_t i;
	json_t *o;
	json_array_foreach(r->list, i, o) if (strcmp(state_of(o), "unsent") == 0) return true;
	return false;
}

json_t *mg_requests_list(const struct mg_requests *r)
{
	return json_deep_copy(r->list);
}
