/*
 * The event model and its canonical JSON (docs/EVENTS.md). One table per object drives
 * allocation, freeing, writing and parsing, so the writer and the parser cannot disagree.
 */
#include "mg/event.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mg/host.h"
#include "mg/time.h"
#include "mg/utf8.h"

/* 2^53 - 1: the largest integer that every JSON reader holds exactly. */
#define MAX_INT  ((UINT64_C(1) << 53) - 1)
#define MAX_STR  65536u /* bytes of one string value */
#define MAX_HOST 255u
#define KEY_LEN  32  /* a member name with "_hex", and its NUL */
#define PATH_LEN 112 /* "object.member_hex", or an unknown key cut to 64 bytes */

static const char *const type_names[MG_EV_TYPE_COUNT] = {
    [MG_EV_DEVICE_INSERTED] = "device.inserted", [MG_EV_DEVICE_ALLOWED] = "device.allowed",
    [MG_EV_DEVICE_BLOCKED] = "device.blocked",   [MG_EV_DEVICE_REJECTED] = "device.rejected",
    [MG_EV_DEVICE_REMOVED] = "device.removed",   [MG_EV_DEVICE_SUSPICIOUS] = "device.suspicious",
    [MG_EV_AUTH_SUCCESS] = "auth.success",       [MG_EV_AUTH_FAILURE] = "auth.failure",
    [MG_EV_AUTH_LOCKOUT] = "auth.lockout",       [MG_EV_AUTH_UNLOCK] = "auth.unlock",
    [MG_EV_POLICY_APPLIED] = "policy.applied",   [MG_EV_POLICY_REJECTED] = "policy.rejected",
    [MG_EV_AGENT_STARTED] = "agent.started",     [MG_EV_AGENT_STOPPED] = "agent.stopped",
    [MG_EV_SPOOL_DROPPED] = "spool.dropped",     [MG_EV_UPLOAD_STOPPED] = "upload.stopped",
};

const char *mg_event_type_name(enum mg_event_type type)
{
	if ((unsigned)type >= MG_EV_TYPE_COUNT)
		return NULL;
	return type_names[type];
}

int mg_event_type_from_name(const char *name, enum mg_event_type *out)
{
	if (!name)
		return -EINVAL;
	for (unsigned i = 0; i < MG_EV_TYPE_COUNT; i++) {
		if (strcmp(name, type_names[i]) == 0) {
			*out = (enum mg_event_type)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* Members of the objects: strings are optional; numbers, booleans and arrays always present. */
enum kind { STR, U64, BOOL, STRV };

struct member {
	const char *name;
	enum kind kind;
	size_t off;
};

#define M(obj, field, k)                                                                           \
	{                                                                                          \
		.name = #field, .kind = k, .off = offsetof(struct mg_event_##obj, field)           \
	}

static const struct member device_members[] = {
    M(device, syspath, STR),    M(device, port, STR),        M(device, vendor_id, STR),
    M(device, product_id, STR), M(device, serial, STR),      M(device, name, STR),
    M(device, hash, STR),       M(device, parent_hash, STR), M(device, interfaces, STRV),
};
static const struct member rule_members[] = {
    M(rule, text, STR),
    M(rule, source, STR),
};
static const struct member decision_members[] = {
    M(decision, target, STR),   M(decision, mode, STR),
    M(decision, applied, BOOL), M(decision, blocked_interfaces, STRV),
    M(decision, error, STR),    M(decision, reason, STR),
    M(decision, operator, STR),
};
static const struct member user_members[] = {
    M(user, name, STR),
    M(user, service, STR),
    M(user, tty, STR),
    M(user, rhost, STR),
};
static const struct member auth_members[] = {
    M(auth, factor, STR),   M(auth, credential, STR), M(auth, reason, STR),
    M(auth, failures, U64), M(auth, central, STR),
};
static const struct member policy_members[] = {
    M(policy, version, U64),
    M(policy, sha256, STR),
    M(policy, reason, STR),
};
static const struct member agent_members[] = {
    M(agent, version, STR),
    M(agent, pid, U64),
    M(agent, reason, STR),
};
static const struct member spool_members[] = {
    M(spool, dropped_routine, U64),
    M(spool, dropped_security, U64),
};

#undef M

struct object {
	const char *name;
	const struct member *members;
	size_t nmembers;
	size_t size;
	void *(*get)(const struct mg_event *ev);
	void (*set)(struct mg_event *ev, void *obj);
};

#define ACCESSORS(obj)                                                                             \
	static void *get_##obj(const struct mg_event *ev)                                          \
	{                                                                                          \
		return ev->obj;                                                                    \
	}                                                                                          \
	static void set_##obj(struct mg_event *ev, void *p)                                        \
	{                                                                                          \
		ev->obj = p;                                                                       \
	}
ACCESSORS(device)
ACCESSORS(rule)
ACCESSORS(decision)
ACCESSORS(user)
ACCESSORS(auth)
ACCESSORS(policy)
ACCESSORS(agent)
ACCESSORS(spool)
#undef ACCESSORS

#define OBJECT(obj)                                                                                \
	{                                                                                          \
		.name = #obj, .members = obj##_members,                                            \
		.nmembers = sizeof(obj##_members) / sizeof(obj##_members[0]),                      \
		.size = sizeof(struct mg_event_##obj), .get = get_##obj, .set = set_##obj          \
	}

enum {
	OBJ_DEVICE,
	OBJ_RULE,
	OBJ_DECISION,
	OBJ_USER,
	OBJ_AUTH,
	OBJ_POLICY,
	OBJ_AGENT,
	OBJ_SPOOL,
	OBJ_COUNT
};

static const struct object objects[OBJ_COUNT] = {
    [OBJ_DEVICE] = OBJECT(device), [OBJ_RULE] = OBJECT(rule),   [OBJ_DECISION] = OBJECT(decision),
    [OBJ_USER] = OBJECT(user),     [OBJ_AUTH] = OBJECT(auth),   [OBJ_POLICY] = OBJECT(policy),
    [OBJ_AGENT] = OBJECT(agent),   [OBJ_SPOOL] = OBJECT(spool),
};

#undef OBJECT

static void *at(void *obj, const struct member *m)
{
	return (char *)obj + m->off;
}

static const void *cat(const void *obj, const struct member *m)
{
	return (const char *)obj + m->off;
}

static void free_object(const struct object *o, void *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < o->nmembers; i++) {
		const struct member *m = &o->members[i];
		if (m->kind == STR)
			free(*(char **)at(p, m));
		else if (m->kind == STRV)
			mg_strv_free(at(p, m));
	}
	free(p);
}

static void *object_of(struct mg_event *ev, const struct object *o)
{
	if (!ev)
		return NULL;
	void *p = o->get(ev);
	if (!p) {
		p = calloc(1, o->size);
		if (p)
			o->set(ev, p);
	}
	return p;
}

struct mg_event_device *mg_event_device(struct mg_event *ev)
{
	return object_of(ev, &objects[OBJ_DEVICE]);
}

struct mg_event_rule *mg_event_rule(struct mg_event *ev)
{
	return object_of(ev, &objects[OBJ_RULE]);
}

struct mg_event_decision *mg_event_decision(struct mg_event *ev)
{
	return object_of(ev, &objects[OBJ_DECISION]);
}

struct mg_event_user *mg_event_user(struct mg_event *ev)
{
	return object_of(ev, &objects[OBJ_USER]);
}

struct mg_event_auth *mg_event_auth(struct mg_event *ev)
{
	return object_of(ev, &objects[OBJ_AUTH]);
}

struct mg_event_policy *mg_event_policy(struct mg_event *ev)
{
	return object_of(ev, &objects[OBJ_POLICY]);
}

struct mg_event_agent *mg_event_agent(struct mg_event *ev)
{
	return object_of(ev, &objects[OBJ_AGENT]);
}

struct mg_event_spool *mg_event_spool(struct mg_event *ev)
{
	return object_of(ev, &objects[OBJ_SPOOL]);
}

struct mg_event *mg_event_new(enum mg_event_type type)
{
	if (!mg_event_type_name(type)) {
		errno = EINVAL;
		return NULL;
	}
	struct mg_event *ev = calloc(1, sizeof(*ev));
	if (!ev)
		return NULL;
	ev->type = type;
	ev->time_us = mg_now_us();
	return ev;
}

void mg_event_free(struct mg_event **ev)
{
	if (!ev || !*ev)
		return;
	for (size_t i = 0; i < OBJ_COUNT; i++)
		free_object(&objects[i], objects[i].get(*ev));
	free((*ev)->host);
	free(*ev);
	*ev = NULL;
}

int mg_set_str(char **dst, const char *src)
{
	char *copy = NULL;
	if (src) {
		copy = strdup(src);
		if (!copy)
			return -ENOMEM;
	}
	free(*dst);
	*dst = copy;
	return 0;
}

/* --- writing -------------------------------------------------------------------------- */

static char *hex_encode(const char *s, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	if (len > (SIZE_MAX - 1) / 2)
		return NULL;
	char *out = malloc(len * 2 + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		const unsigned char c = (unsigned char)s[i];
		out[2 * i] = digits[c >> 4];
		out[2 * i + 1] = digits[c & 15];
	}
	out[len * 2] = '\0';
	return out;
}

/* json_object_set_new() takes v even when it fails; a NULL v is an allocation failure. */
static int set_new(json_t *obj, const char *key, json_t *v)
{
	return json_object_set_new(obj, key, v) < 0 ? -ENOMEM : 0;
}

/* name = s, or its repaired text plus name_hex = the exact bytes when s is not UTF-8. */
static int put_str(json_t *obj, const char *name, const char *s, size_t max)
{
	char key[KEY_LEN];
	char *fixed = NULL, *hex = NULL;
	int r;
	const size_t len = strlen(s);

	if (len > max)
		return -EINVAL;
	if (mg_utf8_valid(s, len))
		return set_new(obj, name, json_stringn(s, len));
	r = -ENOMEM;
	fixed = mg_utf8_repair(s, len, NULL);
	hex = hex_encode(s, len);
	if (!fixed || !hex)
		goto fail;
	snprintf(key, sizeof(key), "%s_hex", name);
	r = set_new(obj, name, json_string(fixed));
	if (r == 0)
		r = set_new(obj, key, json_string(hex));
fail:
	free(fixed);
	free(hex);
	return r;
}

/* Array items cannot carry a _hex twin: they must be valid UTF-8 already. */
static int put_strv(json_t *obj, const char *name, const struct mg_strv *sv)
{
	int r = -EINVAL;
	json_t *a = json_array();
	if (!a)
		return -ENOMEM;
	if (sv->n > 0 && !sv->v)
		goto fail;
	for (size_t i = 0; i < sv->n; i++) {
		const char *s = sv->v[i];
		const size_t len = s ? strlen(s) : 0;
		r = -EINVAL;
		if (!s || len > MAX_STR || !mg_utf8_valid(s, len))
			goto fail;
		r = -ENOMEM;
		if (json_array_append_new(a, json_stringn(s, len)) < 0)
			goto fail;
	}
	return set_new(obj, name, a);
fail:
	json_decref(a);
	return r;
}

static int put_u64(json_t *obj, const char *name, uint64_t v)
{
	if (v > MAX_INT)
		return -ERANGE;
	return set_new(obj, name, json_integer((json_int_t)v));
}

static int put_object(json_t *root, const struct object *o, const void *p)
{
	int r = 0;
	json_t *j = json_object();
	if (!j)
		return -ENOMEM;
	for (size_t i = 0; i < o->nmembers && r == 0; i++) {
		const struct member *m = &o->members[i];
		switch (m->kind) {
		case STR: {
			const char *s = *(char *const *)cat(p, m);
			if (s)
				r = put_str(j, m->name, s, MAX_STR);
			break;
		}
		case U64:
			r = put_u64(j, m->name, *(const uint64_t *)cat(p, m));
			break;
		case BOOL:
			r = set_new(j, m->name, json_boolean(*(const bool *)cat(p, m)));
			break;
		case STRV:
			r = put_strv(j, m->name, cat(p, m));
			break;
		}
	}
	if (r < 0) {
		json_decref(j);
		return r;
	}
	return set_new(root, o->name, j);
}

json_t *mg_event_device_to_json(const struct mg_event_device *dev)
{
	json_t *holder = json_object();
	if (!holder || put_object(holder, &objects[OBJ_DEVICE], dev) < 0) {
		json_decref(holder);
		return NULL;
	}
	json_t *obj = json_incref(json_object_get(holder, objects[OBJ_DEVICE].name));
	json_decref(holder);
	return obj;
}

int mg_event_to_json(const struct mg_event *ev, char **out, size_t *len)
{
	char when[MG_RFC3339_LEN];
	json_t *root = NULL;
	char *text = NULL;
	int r = -EINVAL;

	if (!ev || !out)
		goto fail;
	const char *type = mg_event_type_name(ev->type);
	if (!type || !ev->host || ev->host[0] == '\0' ||
	    !memchr(ev->boot_id, '\0', sizeof(ev->boot_id)) || !mg_uuid_valid(ev->boot_id))
		goto fail;
	r = mg_time_format(ev->time_us, when);
	if (r < 0)
		goto fail;
	r = -ENOMEM;
	root = json_object();
	if (!root)
		goto fail;
	if ((r = set_new(root, "type", json_string(type))) < 0 ||
	    (r = set_new(root, "time", json_string(when))) < 0 ||
	    (r = set_new(root, "boot_id", json_string(ev->boot_id))) < 0 ||
	    (r = put_str(root, "host", ev->host, MAX_HOST)) < 0 ||
	    (r = put_u64(root, "seq", ev->seq)) < 0)
		goto fail;
	for (size_t i = 0; i < OBJ_COUNT; i++) {
		const void *p = objects[i].get(ev);
		if (p && (r = put_object(root, &objects[i], p)) < 0)
			goto fail;
	}
	r = -ENOMEM;
	text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text)
		goto fail;
	const size_t n = strlen(text);
	r = -EFBIG;
	if (n > MG_EVENT_MAX_JSON)
		goto fail;
	*out = text;
	text = NULL;
	if (len)
		*len = n;
	r = 0;
fail:
	free(text);
	json_decref(root);
	return r;
}

/* True when every object in v has its keys in byte order already (jansson keeps the order
 * of the text): writing it needs no sort then. */
static bool keys_sorted(const json_t *v)
{
	const char *key, *prev = NULL;
	json_t *m;
	size_t i;
	if (json_is_object(v)) {
		json_object_foreach((json_t *)(uintptr_t)v, key, m)
		{
			if ((prev && strcmp(prev, key) >= 0) || !keys_sorted(m))
				return false;
			prev = key;
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, m) if (!keys_sorted(m)) return false;
	}
	return true;
}

int mg_event_to_json_from(const json_t *root, const struct mg_event *ev, char **out, size_t *len)
{
	char when[MG_RFC3339_LEN];
	const char *t = json_string_value(json_object_get(root, "time"));
	if (!ev || !out || !t || mg_time_format(ev->time_us, when) < 0 || strcmp(t, when) != 0)
		return mg_event_to_json(ev, out, len);
	char *text = json_dumps(root, JSON_COMPACT | (keys_sorted(root) ? 0 : JSON_SORT_KEYS));
	if (!text)
		return -ENOMEM;
	const size_t n = strlen(text);
	if (n > MG_EVENT_MAX_JSON) {
		free(text);
		return -EFBIG;
	}
	*out = text;
	if (len)
		*len = n;
	return 0;
}

/* --- parsing -------------------------------------------------------------------------- */

struct perr {
	char *msg;
	size_t len;
};

static void set_msg(struct perr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The message may quote input: anything but printable ASCII becomes '?'. */
static void set_msg(struct perr *e, const char *fmt, ...)
{
	if (!e->msg || e->len == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->msg, e->len, fmt, ap);
	va_end(ap);
	for (char *p = e->msg; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
}

/* Sets the message of the struct perr *e in scope and gives -EINVAL. */
#define FAIL(...) (set_msg(e, __VA_ARGS__), -EINVAL)

/* "where.name", or "name" at the top level. */
static const char *path_of(char buf[PATH_LEN], const char *where, const char *name)
{
	snprintf(buf, PATH_LEN, "%s%s%.64s", where, where[0] ? "." : "", name);
	return buf;
}

static int nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The member's path for a message, made only when there is one (a path costs a printf). */
#define PATH  path_of(path, where, name)
#define HPATH path_of(hpath, where, key)

/* An optional string member with its optional "_hex" twin; *out stays NULL when absent. */
static int get_str(struct perr *e, const char *where, json_t *j, const char *name, size_t max,
                   char **out)
{
	char key[KEY_LEN], path[PATH_LEN], hpath[PATH_LEN];
	char *raw = NULL, *fixed = NULL;
	int r;

	/* "name_hex" (names are short constants); the paths are made only for a message */
	const size_t nlen = strlen(name);
	if (nlen + sizeof("_hex") > sizeof(key))
		return -EINVAL;
	memcpy(key, name, nlen);
	memcpy(key + nlen, "_hex", sizeof("_hex"));
	json_t *v = json_object_get(j, name);
	json_t *h = json_object_get(j, key);
	if (!v)
		return h ? FAIL("%s: present without %s", HPATH, PATH) : 0;
	if (!json_is_string(v))
		return FAIL("%s: expected a string", PATH);
	const char *text = json_string_value(v);
	const size_t tlen = json_string_length(v);
	if (!h) {
		if (tlen > max)
			return FAIL("%s: longer than %zu bytes", PATH, max);
		if (memchr(text, '\0', tlen))
			return FAIL("%s: contains a NUL byte", PATH);
		raw = strndup(text, tlen);
		if (!raw)
			return -ENOMEM;
		*out = raw;
		return 0;
	}

	if (!json_is_string(h))
		return FAIL("%s: expected a string", HPATH);
	const char *hex = json_string_value(h);
	const size_t hlen = json_string_length(h);
	if (hlen % 2 != 0)
		return FAIL("%s: odd number of hex digits", HPATH);
	const size_t n = hlen / 2;
	if (n > max)
		return FAIL("%s: longer than %zu bytes", HPATH, max);
	r = -ENOMEM;
	raw = malloc(n + 1);
	if (!raw)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			r = FAIL("%s: expected lower-case hex digits", HPATH);
			goto fail;
		}
		raw[i] = (char)(hi << 4 | lo);
	}
	raw[n] = '\0';
	if (memchr(raw, '\0', n)) {
		r = FAIL("%s: holds a NUL byte, which an event string cannot", HPATH);
		goto fail;
	}
	r = -ENOMEM;
	fixed = mg_utf8_repair(raw, n, NULL);
	if (!fixed)
		goto fail;
	if (strlen(fixed) != tlen || memcmp(fixed, text, tlen) != 0) {
		r = FAIL("%s: does not match %s", HPATH, PATH);
		goto fail;
	}
	if (mg_utf8_valid(raw, n)) {
		r = FAIL("%s: not needed, %s is valid UTF-8", HPATH, PATH);
		goto fail;
	}
	*out = raw;
	raw = NULL;
	r = 0;
fail:
	free(raw);
	free(fixed);
	return r;
}

static int get_u64(struct perr *e, const char *where, json_t *j, const char *name, uint64_t *out)
{
	char path[PATH_LEN];
	json_t *v = json_object_get(j, name);
	if (!v)
		return FAIL("%s: missing", PATH);
	if (!json_is_integer(v))
		return FAIL("%s: expected an integer", PATH);
	const json_int_t i = json_integer_value(v);
	if (i < 0)
		return FAIL("%s: must not be negative", PATH);
	if ((uint64_t)i > MAX_INT)
		return FAIL("%s: larger than 2^53 - 1", PATH);
	*out = (uint64_t)i;
	return 0;
}

static int get_bool(struct perr *e, const char *where, json_t *j, const char *name, bool *out)
{
	char path[PATH_LEN];
	json_t *v = json_object_get(j, name);
	if (!v)
		return FAIL("%s: missing", PATH);
	if (!json_is_boolean(v))
		return FAIL("%s: expected true or false", PATH);
	*out = json_is_true(v);
	return 0;
}

static int get_strv(struct perr *e, const char *where, json_t *j, const char *name,
                    struct mg_strv *out)
{
	char path[PATH_LEN];
	struct mg_strv sv = {NULL, 0};
	int r;
	json_t *a = json_object_get(j, name);
	if (!a)
		return FAIL("%s: missing", PATH);
	if (!json_is_array(a))
		return FAIL("%s: expected an array of strings", PATH);
	const size_t n = json_array_size(a);
	if (n > 0) {
		sv.v = calloc(n, sizeof(*sv.v));
		if (!sv.v)
			return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(a, i);
		if (!json_is_string(v)) {
			r = FAIL("%s[%zu]: expected a string", PATH, i);
			goto fail;
		}
		const size_t len = json_string_length(v);
		if (len > MAX_STR || memchr(json_string_value(v), '\0', len)) {
			r = FAIL("%s[%zu]: longer than %u bytes or holds a NUL byte", PATH, i,
			         MAX_STR);
			goto fail;
		}
		r = -ENOMEM;
		sv.v[i] = strndup(json_string_value(v), len);
		if (!sv.v[i])
			goto fail;
		sv.n = i + 1;
	}
	mg_strv_free(out);
	*out = sv;
	return 0;
fail:
	mg_strv_free(&sv);
	return r;
}

#undef PATH
#undef HPATH

/* True when key is a member of ms, or "<string member>_hex". */
static bool known_key(const struct member *ms, size_t n, const char *key)
{
	const size_t klen = strlen(key);
	for (size_t i = 0; i < n; i++) {
		const size_t nlen = strlen(ms[i].name);
		if (strcmp(key, ms[i].name) == 0)
			return true;
		if (ms[i].kind == STR && klen == nlen + 4 && strncmp(key, ms[i].name, nlen) == 0 &&
		    strcmp(key + nlen, "_hex") == 0)
			return true;
	}
	return false;
}

static int parse_object(struct perr *e, const struct object *o, json_t *j, void *p)
{
	char path[PATH_LEN];
	const char *key;
	json_t *v;
	int r = 0;

	if (!json_is_object(j))
		return FAIL("%s: expected an object", o->name);
	json_object_foreach(j, key, v)
	{
		if (!known_key(o->members, o->nmembers, key))
			return FAIL("%s: unknown key", path_of(path, o->name, key));
	}
	for (size_t i = 0; i < o->nmembers && r == 0; i++) {
		const struct member *m = &o->members[i];
		switch (m->kind) {
		case STR:
			r = get_str(e, o->name, j, m->name, MAX_STR, at(p, m));
			break;
		case U64:
			r = get_u64(e, o->name, j, m->name, at(p, m));
			break;
		case BOOL:
			r = get_bool(e, o->name, j, m->name, at(p, m));
			break;
		case STRV:
			r = get_strv(e, o->name, j, m->name, at(p, m));
			break;
		}
	}
	return r;
}

static bool known_top_key(const char *key)
{
	static const char *const plain[] = {"type", "time", "host", "host_hex", "seq", "boot_id"};
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		if (strcmp(key, plain[i]) == 0)
			return true;
	for (size_t i = 0; i < OBJ_COUNT; i++)
		if (strcmp(key, objects[i].name) == 0)
			return true;
	return false;
}

/* A required string member at the top level, with no "_hex" twin. */
static int get_text(struct perr *e, json_t *root, const char *name, const char **out)
{
	json_t *v = json_object_get(root, name);
	if (!v)
		return FAIL("%s: missing", name);
	if (!json_is_string(v))
		return FAIL("%s: expected a string", name);
	*out = json_string_value(v);
	if (strlen(*out) != json_string_length(v))
		return FAIL("%s: contains a NUL byte", name);
	return 0;
}

static int parse_event(struct perr *e, json_t *root, struct mg_event *ev)
{
	char path[PATH_LEN];
	const char *key, *s;
	json_t *v;
	int r;

	if (!json_is_object(root))
		return FAIL("expected a JSON object");
	json_object_foreach(root, key, v)
	{
		if (!known_top_key(key))
			return FAIL("%s: unknown key", path_of(path, "", key));
	}
	if ((r = get_text(e, root, "type", &s)) < 0)
		return r;
	if (mg_event_type_from_name(s, &ev->type) < 0)
		return FAIL("type: unknown event type \"%.64s\"", s);
	if ((r = get_text(e, root, "time", &s)) < 0)
		return r;
	if (mg_time_parse(s, &ev->time_us) < 0)
		return FAIL("time: expected an RFC 3339 date-time in years 1970-9999");
	if ((r = get_str(e, "", root, "host", MAX_HOST, &ev->host)) < 0)
		return r;
	if (!ev->host)
		return FAIL("host: missing");
	if (ev->host[0] == '\0')
		return FAIL("host: empty");
	if ((r = get_u64(e, "", root, "seq", &ev->seq)) < 0)
		return r;
	if ((r = get_text(e, root, "boot_id", &s)) < 0)
		return r;
	if (!mg_uuid_valid(s))
		return FAIL("boot_id: expected a lower-case UUID");
	memcpy(ev->boot_id, s, sizeof(ev->boot_id));
	for (size_t i = 0; i < OBJ_COUNT; i++) {
		json_t *j = json_object_get(root, objects[i].name);
		if (!j)
			continue;
		void *p = object_of(ev, &objects[i]);
		if (!p)
			return -ENOMEM;
		if ((r = parse_object(e, &objects[i], j, p)) < 0)
			return r;
	}
	return 0;
}

int mg_event_from_json(const char *buf, size_t len, struct mg_event **out, char *errmsg,
                       size_t errlen)
{
	struct perr err = {errmsg, errlen}, *e = &err;
	json_t *root = NULL;
	json_error_t jerr;
	int r;

	if (errmsg && errlen > 0)
		errmsg[0] = '\0';
	if (!out || (!buf && len > 0)) {
		r = FAIL("no input buffer or no output");
		goto fail;
	}
	if (len > MG_EVENT_MAX_JSON) {
		set_msg(e, "event larger than %u bytes", MG_EVENT_MAX_JSON);
		r = -EFBIG;
		goto fail;
	}
	root = json_loadb(buf ? buf : "", len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!root) {
		if (json_error_code(&jerr) == json_error_out_of_memory) {
			r = -ENOMEM;
			goto fail;
		}
		r = FAIL("invalid JSON at line %d, column %d: %s", jerr.line, jerr.column,
		         jerr.text);
		goto fail;
	}
	r = mg_event_from_json_value(root, out, errmsg, errlen);
fail:
	if (r == -ENOMEM)
		set_msg(e, "out of memory");
	json_decref(root);
	return r;
}

int mg_event_from_json_value(json_t *root, struct mg_event **out, char *errmsg, size_t errlen)
{
	struct perr err = {errmsg, errlen}, *e = &err;
	struct mg_event *ev = NULL;
	int r = -ENOMEM;

	if (errmsg && errlen > 0)
		errmsg[0] = '\0';
	if (!out || !root)
		return FAIL("no input or no output");
	ev = calloc(1, sizeof(*ev));
	if (!ev)
		goto fail;
	r = parse_event(e, root, ev);
	if (r < 0)
		goto fail;
	*out = ev;
	ev = NULL;
fail:
	if (r == -ENOMEM)
		set_msg(e, "out of memory");
	mg_event_free(&ev);
	return r;
}
