/* Parsers of the collector API's request bodies (api_body.h, docs/API.md). */
#include "api_body.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "digest.h"
#include "json_arena.h"
#include "json_body.h"
#include "mg/event.h"
#include "mg/time.h"
#include "mg/utf8.h"

struct item {
	char *json;
	char hash[65];
	char prev_hash[65];
	char *user, *serial, *name, *dev_hash;
	char *host; /* the host name the event claims (repaired text) */
	char vid[5], pid[5];
};

struct batch_priv {
	struct item *items;
	size_t n;
};

/* Required string member of 1..size-1 bytes copied into dst. */
static int get_str(json_t *obj, const char *key, char *dst, size_t size, char *err, size_t errlen)
{
	return mg_body_str(obj, key, 0, 1, dst, size, err, errlen);
}

/* Required integer member in 0..2^53-1. */
static int get_uint(json_t *obj, const char *key, uint64_t *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	if (!v) {
		mg_body_err(err, errlen, "%s: missing", key);
		return -EINVAL;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > (json_int_t)((1ULL << 53) - 1)) {
		mg_body_err(err, errlen, "%s: expected an integer from 0 to 2^53 - 1", key);
		return -EINVAL;
	}
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static bool is_hex64(const char *s)
{
	size_t i;
	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return i == 64;
}

static bool is_hex4(const char *s)
{
	return s && strlen(s) == 4 && strspn(s, "0123456789abcdef") == 4;
}

void mg_enroll_req_clear(struct mg_enroll_req *r)
{
	if (!r)
		return;
	free(r->csr);
	explicit_bzero(r, sizeof(*r));
}

int mg_api_parse_enroll(const char *buf, size_t len, struct mg_enroll_req *out, char *err,
                        size_t errlen)
{
	static const char *const keys[] = {"token", "csr", "hostname", "agent_version", NULL};
	struct mg_enroll_req r = {0};
	json_t *root = mg_body_object(buf, len, false, keys, err, errlen);
	json_t *csr;
	int ret = -EINVAL;
	if (!root)
		goto fail;
	if (get_str(root, "token", r.token, sizeof(r.token), err, errlen) < 0 ||
	    get_str(root, "hostname", r.hostname, sizeof(r.hostname), err, errlen) < 0 ||
	    get_str(root, "agent_version", r.agent_version, sizeof(r.agent_version), err, errlen) <
	        0)
		goto fail;
	csr = json_object_get(root, "csr");
	if (!json_is_string(csr) || json_string_length(csr) == 0 ||
	    json_string_length(csr) > MG_API_MAX_CSR) {
		mg_body_err(err, errlen, "csr: expected a PEM string of at most %u bytes",
		            MG_API_MAX_CSR);
		goto fail;
	}
	r.csr_len = json_string_length(csr);
	r.csr = malloc(r.csr_len + 1);
	if (!r.csr) {
		ret = -ENOMEM;
		goto fail;
	}
	memcpy(r.csr, json_string_value(csr), r.csr_len + 1);
	*out = r;
	memset(&r, 0, sizeof(r));
	ret = 0;
fail:
	mg_enroll_req_clear(&r);
	json_decref(root);
	return ret;
}

int mg_api_parse_heartbeat(const char *buf, size_t len, struct mg_heartbeat_req *out, char *err,
                           size_t errlen)
{
	static const char *const keys[] = {"spool_depth", "oldest_unsent", "policy_version",
	                                   "agent_version", NULL};
	struct mg_heartbeat_req r = {0};
	json_t *root = mg_body_object(buf, len, false, keys, err, errlen);
	json_t *old;
	int ret = -EINVAL;
	if (!root)
		goto fail;
	if (get_uint(root, "spool_depth", &r.spool_depth, err, errlen) < 0 ||
	    get_uint(root, "policy_version", &r.policy_version, err, errlen) < 0 ||
	    get_str(root, "agent_version", r.agent_version, sizeof(r.agent_version), err, errlen) <
	        0)
		goto fail;
	old = json_object_get(root, "oldest_unsent");
	if (!old) {
		mg_body_err(err, errlen, "oldest_unsent: missing");
		goto fail;
	}
	if (!json_is_null(old) &&
	    (!json_is_string(old) || json_string_length(old) > 64 ||
	     mg_time_parse(json_string_value(old), &r.oldest_unsent_us) < 0)) {
		mg_body_err(err, errlen, "oldest_unsent: expected an RFC 3339 time or null");
		goto fail;
	}
	*out = r;
	ret = 0;
fail:
	json_decref(root);
	return ret;
}

static void priv_free(struct batch_priv *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->items[i].json);
		free(p->items[i].user);
		free(p->items[i].serial);
		free(p->items[i].name);
		free(p->items[i].dev_hash);
		free(p->items[i].host);
	}
	free(p->items);
	free(p);
}

void mg_events_batch_free(struct mg_events_batch **b)
{
	if (!b || !*b)
		return;
	priv_free((*b)->priv);
	free((*b)->evs);
	free(*b);
	*b = NULL;
}

/* An index field: the repaired UTF-8 text when it fits in size bytes; NULL otherwise. */
static int index_str(const char *s, size_t size, char **out)
{
	*out = NULL;
	if (!s || strlen(s) >= size)
		return 0;
	*out = mg_utf8_repair(s, strlen(s), NULL);
	if (!*out)
		return -ENOMEM;
	if (strlen(*out) >= size) {
		free(*out);
		*out = NULL;
	}
	return 0;
}

/* Takes "hash" and "prev_hash" out of o (which the caller owns) into it. */
static int take_hashes(json_t *o, size_t i, struct item *it, char *err, size_t errlen)
{
	json_t *h = json_object_get(o, "hash");
	json_t *p = json_object_get(o, "prev_hash");
	if (!json_is_string(h) || !is_hex64(json_string_value(h))) {
		mg_body_err(err, errlen, "events[%zu].hash: expected 64 lower-case hex digits", i);
		return -EINVAL;
	}
	if (!json_is_string(p) || (json_string_length(p) != 0 && !is_hex64(json_string_value(p)))) {
		mg_body_err(err, errlen,
		            "events[%zu].prev_hash: expected \"\" or 64 lower-case hex digits", i);
		return -EINVAL;
	}
	memcpy(it->hash, json_string_value(h), 65);
	memcpy(it->prev_hash, json_string_value(p), json_string_length(p) + 1);
	json_object_del(o, "hash");
	json_object_del(o, "prev_hash");
	return 0;
}

static int parse_one(json_t *elem, size_t i, const char *boot_id, struct item *it,
                     struct mg_store_event *se, char *err, size_t errlen)
{
	char msg[160] = "";
	char hex[65];
	size_t jlen = 0;
	struct mg_event *ev = NULL;
	json_t *o = NULL;
	int ret = -EINVAL;

	if (!json_is_object(elem)) {
		mg_body_err(err, errlen, "events[%zu]: expected an object", i);
		goto fail;
	}
	/* The hash members come out of the body's own object (the body is discarded after
	 * parsing), and the event is checked on that tree: no copy, no second parse. */
	o = json_incref(elem);
	if (take_hashes(o, i, it, err, errlen) < 0)
		goto fail;
	ret = mg_event_from_json_value(o, &ev, msg, sizeof(msg));
	if (ret < 0) {
		mg_body_err(err, errlen, "events[%zu]: %s", i, msg);
		ret = ret == -ENOMEM ? -ENOMEM : -EINVAL;
		goto fail;
	}
	ret = -EINVAL;
	if (strcmp(ev->boot_id, boot_id) != 0) {
		mg_body_err(err, errlen, "events[%zu].boot_id: differs from the batch's boot_id",
		            i);
		goto fail;
	}
	if (ev->seq == 0) {
		mg_body_err(err, errlen, "events[%zu].seq: must be at least 1", i);
		goto fail;
	}
	/* The canonical text outlives the batch's tree: written outside its arena. */
	mg_json_arena_pause();
	ret = mg_event_to_json_from(o, ev, &it->json, &jlen);
	mg_json_arena_resume();
	if (ret < 0) {
		mg_body_err(err, errlen, "events[%zu]: cannot be written canonically", i);
		goto fail;
	}
	ret = -EINVAL;
	if (jlen > MG_EVENT_MAX_JSON) {
		mg_body_err(err, errlen, "events[%zu]: event larger than %u bytes", i,
		            MG_EVENT_MAX_JSON);
		goto fail;
	}
	ret = mg_sha256_hex(it->json, jlen, hex);
	if (ret < 0)
		goto fail;
	if (strcmp(hex, it->hash) != 0) {
		mg_body_err(err, errlen, "events[%zu].hash: does not match the event", i);
		ret = -EBADMSG;
		goto fail;
	}
	ret = -ENOMEM;
	if (index_str(ev->host, 256, &it->host) < 0)
		goto fail;
	if (ev->user && index_str(ev->user->name, 256, &it->user) < 0)
		goto fail;
	if (ev->device) {
		if (index_str(ev->device->serial, MG_STORE_DEVSTR_SIZE, &it->serial) < 0 ||
		    index_str(ev->device->name, MG_STORE_DEVSTR_SIZE, &it->name) < 0 ||
		    index_str(ev->device->hash, 128, &it->dev_hash) < 0)
			goto fail;
		if (is_hex4(ev->device->vendor_id) && is_hex4(ev->device->product_id)) {
			memcpy(it->vid, ev->device->vendor_id, 5);
			memcpy(it->pid, ev->device->product_id, 5);
		}
	}
	*se = (struct mg_store_event){
	    .seq = ev->seq,
	    .time_us = ev->time_us,
	    .type = mg_event_type_name(ev->type),
	    .json = it->json,
	    .hash = it->hash,
	    .prev_hash = it->prev_hash,
	    .user = it->user,
	    .device_serial = it->serial,
	    .device_vendor_id = it->vid[0] ? it->vid : NULL,
	    .device_product_id = it->pid[0] ? it->pid : NULL,
	    .device_name = it->name,
	    .device_hash = it->dev_hash,
	    .host = it->host,
	};
	ret = 0;
fail:
	mg_event_free(&ev);
	json_decref(o);
	return ret;
}

int mg_api_parse_events(const char *buf, size_t len, struct mg_events_batch **out, char *err,
                        size_t errlen)
{
	static const char *const keys[] = {"boot_id", "events", NULL};
	struct mg_events_batch *b = NULL;
	struct batch_priv *p = NULL;
	/* The whole tree in this thread's arena, dropped at once below (json_arena.h). */
	(void)mg_json_arena_begin();
	json_t *root = mg_body_object(buf, len, false, keys, err, errlen);
	json_t *arr;
	size_t n;
	int ret = -EINVAL;

	if (!root)
		goto fail;
	ret = -ENOMEM;
	b = calloc(1, sizeof(*b));
	p = calloc(1, sizeof(*p));
	if (!b || !p)
		goto fail;
	ret = -EINVAL;
	if (get_str(root, "boot_id", b->boot_id, sizeof(b->boot_id), err, errlen) < 0)
		goto fail;
	arr = json_object_get(root, "events");
	if (!json_is_array(arr) || json_array_size(arr) == 0) {
		mg_body_err(err, errlen, "events: expected a non-empty array");
		goto fail;
	}
	n = json_array_size(arr);
	if (n > MG_API_MAX_EVENTS) {
		mg_body_err(err, errlen, "events: more than %u events", MG_API_MAX_EVENTS);
		ret = -EFBIG;
		goto fail;
	}
	ret = -ENOMEM;
	p->items = calloc(n, sizeof(*p->items));
	b->evs = calloc(n, sizeof(*b->evs));
	if (!p->items || !b->evs)
		goto fail;
	p->n = n;
	for (size_t i = 0; i < n; i++) {
		ret = parse_one(json_array_get(arr, i), i, b->boot_id, &p->items[i], &b->evs[i],
		                err, errlen);
		if (ret < 0)
			goto fail;
		/* The event's tree is no longer needed (its canonical text is kept): free it now,
		 * so a batch in flight holds one tree, not a thousand (in the arena: at its end).
		 */
		if (json_array_set_new(arr, i, json_null()) < 0) {
			ret = -ENOMEM;
			goto fail;
		}
	}
	b->n = n;
	b->priv = p;
	p = NULL;
	*out = b;
	b = NULL;
	ret = 0;
fail:
	priv_free(p);
	mg_events_batch_free(&b);
	json_decref(root);
	mg_json_arena_end();
	return ret;
}

int mg_api_parse_policy_applied(const char *buf, size_t len, struct mg_policy_applied_req *out,
                                char *err, size_t errlen)
{
	static const char *const keys[] = {"version", NULL};
	struct mg_policy_applied_req r = {0};
	json_t *root = mg_body_object(buf, len, false, keys, err, errlen);
	int ret = -EINVAL;
	if (!root)
		goto fail;
	if (get_uint(root, "version", &r.version, err, errlen) < 0)
		goto fail;
	if (r.version == 0) {
		mg_body_err(err, errlen, "version: must be at least 1");
		goto fail;
	}
	*out = r;
	ret = 0;
fail:
	json_decref(root);
	return ret;
}

/* No byte below 0x20 (except those in allowed) and no DEL. */
static bool no_controls(const char *s, const char *allowed)
{
	for (; *s; s++)
		if (((unsigned char)*s < 0x20 && !strchr(allowed, *s)) || *s == 0x7f)
			return false;
	return true;
}

/* Optional string member: absent, or a string of 0..size-1 bytes without NUL. */
static int get_opt_str(json_t *obj, const char *key, char *dst, size_t size, char *err,
                       size_t errlen)
{
	int r = mg_body_str(obj, key, MG_BODY_OPTIONAL, 0, dst, size, err, errlen);
	if (r == -EINVAL && json_is_string(json_object_get(obj, key)))
		mg_body_err(err, errlen, "%s: must be at most %zu bytes", key, size - 1);
	return r == -ENOENT ? 0 : r;
}

static int parse_device(json_t *dev, struct mg_store_device_id *d, char *err, size_t errlen)
{
	static const char *const keys[] = {"vendor_id", "product_id", "serial",
	                                   "name",      "hash",       NULL};
	char e[160] = "";
	int r = -EINVAL;
	if (!json_is_object(dev)) {
		mg_body_err(err, errlen, "device: expected an object");
		return -EINVAL;
	}
	if (mg_body_keys(dev, keys, e, sizeof(e)) < 0 ||
	    get_str(dev, "vendor_id", d->vendor_id, sizeof(d->vendor_id), e, sizeof(e)) < 0 ||
	    get_str(dev, "product_id", d->product_id, sizeof(d->product_id), e, sizeof(e)) < 0 ||
	    get_opt_str(dev, "serial", d->serial, sizeof(d->serial), e, sizeof(e)) < 0 ||
	    get_opt_str(dev, "name", d->name, sizeof(d->name), e, sizeof(e)) < 0 ||
	    get_opt_str(dev, "hash", d->hash, sizeof(d->hash), e, sizeof(e)) < 0)
		goto fail;
	if (!is_hex4(d->vendor_id)) {
		snprintf(e, sizeof(e), "vendor_id: expected 4 lower-case hex digits");
		goto fail;
	}
	if (!is_hex4(d->product_id)) {
		snprintf(e, sizeof(e), "product_id: expected 4 lower-case hex digits");
		goto fail;
	}
	if (strspn(d->hash, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") !=
	    strlen(d->hash)) {
		snprintf(e, sizeof(e), "hash: expected base64");
		goto fail;
	}
	r = 0;
fail:
	if (r < 0)
		mg_body_err(err, errlen, "device.%s", e);
	return r;
}

int mg_api_parse_request(const char *buf, size_t len, struct mg_store_request *out, char *err,
                         size_t errlen)
{
	static const char *const keys[] = {"request_id", "user", "device", "reason", NULL};
	struct mg_store_request *r = calloc(1, sizeof(*r));
	json_t *root = mg_body_object(buf, len, false, keys, err, errlen);
	int ret = -EINVAL;
	if (!r) {
		ret = -ENOMEM;
		goto fail;
	}
	if (!root)
		goto fail;
	if (get_str(root, "request_id", r->request_id, sizeof(r->request_id), err, errlen) < 0 ||
	    get_str(root, "user", r->user, sizeof(r->user), err, errlen) < 0 ||
	    get_str(root, "reason", r->reason, sizeof(r->reason), err, errlen) < 0)
		goto fail;
	if (strspn(r->request_id,
	           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") !=
	    strlen(r->request_id)) {
		mg_body_err(err, errlen, "request_id: use only A-Z a-z 0-9 . _ -");
		goto fail;
	}
	if (!no_controls(r->user, "")) {
		mg_body_err(err, errlen, "user: control characters are not allowed");
		goto fail;
	}
	if (!no_controls(r->reason, "\t\n")) {
		mg_body_err(err, errlen,
		            "reason: control characters other than tab and newline are not "
		            "allowed");
		goto fail;
	}
	if (!json_object_get(root, "device")) {
		mg_body_err(err, errlen, "device: missing");
		goto fail;
	}
	if (parse_device(json_object_get(root, "device"), &r->dev, err, errlen) < 0)
		goto fail;
	*out = *r;
	ret = 0;
fail:
	free(r);
	json_decref(root);
	return ret;
}
