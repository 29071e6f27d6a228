/* Policy bundle JSON: canonical writer, strict parser, terminal-side check (policy_bundle.h). */
#include "mg/policy_bundle.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mg/time.h"
#include "mg/user_name.h"
#include "mg/utf8.h"

#define ID_TEXT_SIZE 17 /* 2^53-1 has 16 digits */

void mg_policy_bundle_free(struct mg_policy_bundle **b)
{
	if (!b || !*b)
		return;
	for (size_t i = 0; i < (*b)->n_hosts; i++)
		free((*b)->hosts[i].rules);
	free((*b)->hosts);
	free((*b)->scope_hosts);
	free((*b)->rules);
	json_decref((*b)->staff);
	free(*b);
	*b = NULL;
}

bool mg_policy_rules_text_valid(const char *text, size_t len)
{
	size_t line = 0;

	if (!text)
		return len == 0;
	if (len > MG_POLICY_MAX_RULES || !mg_utf8_valid(text, len))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c == '\n') {
			if (line == 0)
				return false; /* empty line */
			line = 0;
			continue;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
		if (++line > MG_POLICY_MAX_LINE)
			return false;
	}
	return line == 0; /* the last line ends in "\n" */
}

static bool host_id_ok(int64_t id)
{
	return id >= 1 && (uint64_t)id <= MG_POLICY_U53_MAX;
}

/* Canonical decimal host id, 1..2^53-1, no sign or leading zero. */
static int host_id_parse(const char *s, int64_t *out)
{
	int64_t v = 0;
	size_t i = 0;

	if (!s || s[0] < '1' || s[0] > '9')
		return -EINVAL;
	for (; s[i]; i++) {
		if (i >= ID_TEXT_SIZE - 1 || s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	if (!host_id_ok(v))
		return -EINVAL;
	*out = v;
	return 0;
}

/* ---- writer ---- */

static int set_new(json_t *obj, const char *key, json_t *v)
{
	return v && json_object_set_new(obj, key, v) == 0 ? 0 : -ENOMEM;
}

static int time_json(json_t *obj, const char *key, int64_t us)
{
	char buf[MG_RFC3339_LEN];
	if (mg_time_format(us, buf) < 0)
		return -EINVAL;
	return set_new(obj, key, json_string(buf));
}

static int bundle_check(const struct mg_policy_bundle *b)
{
	size_t total = 0;

	if (b->version < 1 || b->version > MG_POLICY_U53_MAX || b->issued_us >= b->expires_us)
		return -EINVAL;
	if (!b->all_hosts && (b->n_scope_hosts == 0 || b->n_scope_hosts > MG_POLICY_MAX_HOSTS))
		return -EINVAL;
	for (size_t i = 0; !b->all_hosts && i < b->n_scope_hosts; i++)
		if (!host_id_ok(b->scope_hosts[i]) ||
		    (i > 0 && b->scope_hosts[i] <= b->scope_hosts[i - 1]))
			return -EINVAL;
	if (b->n_hosts > MG_POLICY_MAX_HOSTS)
		return -EINVAL;
	for (size_t i = 0; i < b->n_hosts; i++) {
		const char *t = b->hosts[i].rules;
		size_t n = t ? strlen(t) : 0;
		if (!host_id_ok(b->hosts[i].host_id) ||
		    (i > 0 && b->hosts[i].host_id <= b->hosts[i - 1].host_id) || n == 0 ||
		    !mg_policy_rules_text_valid(t, n))
			return -EINVAL;
		total += n;
	}
	size_t n = b->rules ? strlen(b->rules) : 0;
	if (!mg_policy_rules_text_valid(b->rules, n))
		return -EINVAL;
	total += n;
	if (b->staff && mg_policy_staff_check(b->staff, NULL, 0) < 0)
		return -EINVAL;
	return total > MG_POLICY_MAX_RULES ? -EFBIG : 0;
}

int mg_policy_bundle_to_json(const struct mg_policy_bundle *b, char **out, size_t *len)
{
	json_t *root = NULL, *scope = NULL, *hosts = NULL;
	char *text = NULL;
	char id[ID_TEXT_SIZE + 8];
	int r;

	if (!b || !out)
		return -EINVAL;
	r = bundle_check(b);
	if (r < 0)
		return r;
	root = json_object();
	scope = json_object();
	if (!root || !scope) {
		r = -ENOMEM;
		goto fail;
	}
	if ((r = set_new(root, "version", json_integer((json_int_t)b->version))) < 0 ||
	    (r = time_json(root, "issued_at", b->issued_us)) < 0 ||
	    (r = time_json(root, "expires_at", b->expires_us)) < 0 ||
	    (r = set_new(root, "rules", json_string(b->rules ? b->rules : ""))) < 0)
		goto fail;
	if (b->all_hosts) {
		r = set_new(scope, "hosts", json_string("all"));
	} else {
		json_t *arr = json_array();
		r = set_new(scope, "hosts", arr);
		for (size_t i = 0; r == 0 && i < b->n_scope_hosts; i++)
			r = json_array_append_new(arr, json_integer(b->scope_hosts[i])) == 0
			        ? 0
			        : -ENOMEM;
	}
	if (r < 0)
		goto fail;
	r = set_new(root, "scope", scope);
	scope = NULL;
	if (r < 0)
		goto fail;
	if (b->n_hosts > 0) {
		hosts = json_object();
		r = set_new(root, "host_rules", hosts);
		for (size_t i = 0; r == 0 && i < b->n_hosts; i++) {
			snprintf(id, sizeof(id), "%" PRId64, b->hosts[i].host_id);
			r = set_new(hosts, id, json_string(b->hosts[i].rules));
		}
		if (r < 0)
			goto fail;
	}
	if (b->staff && (r = set_new(root, "staff", json_incref(b->staff))) < 0)
		goto fail;
	text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text) {
		r = -ENOMEM;
		goto fail;
	}
	size_t n = strlen(text);
	if (n > MG_POLICY_MAX_BUNDLE) {
		free(text);
		r = -EFBIG;
		goto fail;
	}
	*out = text;
	if (len)
		*len = n;
	r = 0;
fail:
	json_decref(scope);
	json_decref(root);
	return r;
}

/* ---- parser ---- */

__attribute__((format(printf, 3, 4))) static int fail_msg(char *err, size_t errlen, const char *fmt,
                                                          ...)
{
	if (err && errlen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
		/* Keys may come from the input: show only printable ASCII. */
		for (char *p = err; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
				*p = '?';
	}
	return -EINVAL;
}

/* ---- staff (issue 15) ---- */

/* Canonical standard base64 (padding, no line breaks) of 1..max decoded bytes. */
static bool b64_ok(const char *s, size_t n, size_t max)
{
	size_t pad = 0;

	if (n == 0 || n % 4 != 0 || n / 4 * 3 > max + 2)
		return false;
	if (s[n - 1] == '=')
		pad = s[n - 2] == '=' ? 2 : 1;
	for (size_t i = 0; i < n - pad; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '/'))
			return false;
	}
	size_t dec = n / 4 * 3 - pad;
	if (dec == 0 || dec > max)
		return false;
	/* Canonical: the bits after the last byte are zero. */
	const char *tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	if (pad > 0) {
		int last = (int)(strchr(tab, s[n - pad - 1]) - tab);
		if ((pad == 1 && (last & 0x3)) || (pad == 2 && (last & 0xf)))
			return false;
	}
	return true;
}

static const char *str_of(json_t *o, const char *key, size_t *len)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_string(v))
		return NULL;
	*len = json_string_length(v);
	return json_string_value(v);
}

static bool keys_only(json_t *o, const char *const *keys, size_t n, const char **bad)
{
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v)
	{
		size_t i = 0;
		while (i < n && strcmp(key, keys[i]) != 0)
			i++;
		if (i == n) {
			*bad = key;
			return false;
		}
	}
	return true;
}

static int staff_cred_check(json_t *c, const char *user, size_t k, char *err, size_t errlen)
{
	static const char *const keys[] = {"aaguid",     "cose_alg", "id", "label",
	                                   "public_key", "rp_id",    "uv"};
	const char *bad = NULL, *s;
	size_t n = 0;
	json_t *v;

	if (!json_is_object(c))
		return fail_msg(err, errlen, "staff.%s.credentials[%zu]: expected an object", user,
		                k);
	if (!keys_only(c, keys, sizeof(keys) / sizeof(keys[0]), &bad))
		return fail_msg(err, errlen, "staff.%s.credentials[%zu].%.64s: unknown key", user,
		                k, bad);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!json_object_get(c, keys[i]))
			return fail_msg(err, errlen, "staff.%s.credentials[%zu].%s: missing", user,
			                k, keys[i]);
	s = str_of(c, "aaguid", &n);
	bool hex = s && n == 32;
	for (size_t i = 0; hex && i < n; i++)
		hex = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
	if (!hex)
		return fail_msg(
		    err, errlen,
		    "staff.%s.credentials[%zu].aaguid: expected 32 lower-case hex digits", user, k);
	v = json_object_get(c, "cose_alg");
	if (!json_is_integer(v) || (json_integer_value(v) != -7 && json_integer_value(v) != -8 &&
	                            json_integer_value(v) != -257))
		return fail_msg(err, errlen,
		                "staff.%s.credentials[%zu].cose_alg: expected -7, -8 or -257", user,
		                k);
	s = str_of(c, "id", &n);
	if (!s || !b64_ok(s, n, MG_POLICY_MAX_CRED_ID))
		return fail_msg(err, errlen,
		                "staff.%s.credentials[%zu].id: expected base64 of 1-%u bytes", user,
		                k, MG_POLICY_MAX_CRED_ID);
	s = str_of(c, "public_key", &n);
	if (!s || !b64_ok(s, n, MG_POLICY_MAX_CRED_PK))
		return fail_msg(
		    err, errlen,
		    "staff.%s.credentials[%zu].public_key: expected base64 of 1-%u bytes", user, k,
		    MG_POLICY_MAX_CRED_PK);
	s = str_of(c, "label", &n);
	bool ok = s && n >= 1 && n <= MG_POLICY_MAX_CRED_LABEL && mg_utf8_valid(s, n);
	for (size_t i = 0; ok && i < n; i++)
		ok = (unsigned char)s[i] >= 0x20 && s[i] != 0x7f;
	if (!ok)
		return fail_msg(
		    err, errlen,
		    "staff.%s.credentials[%zu].label: expected 1-%u bytes of UTF-8 without "
		    "control characters",
		    user, k, MG_POLICY_MAX_CRED_LABEL);
	s = str_of(c, "rp_id", &n);
	ok = s && n >= 1 && n <= MG_POLICY_MAX_RP_ID;
	for (size_t i = 0; ok && i < n; i++)
		ok = s[i] > 0x20 && s[i] < 0x7f;
	if (!ok)
		return fail_msg(
		    err, errlen,
		    "staff.%s.credentials[%zu].rp_id: expected 1-%u printable ASCII bytes", user, k,
		    MG_POLICY_MAX_RP_ID);
	if (!json_is_boolean(json_object_get(c, "uv")))
		return fail_msg(err, errlen, "staff.%s.credentials[%zu].uv: expected true or false",
		                user, k);
	return 0;
}

static int staff_user_check(const char *user, json_t *u, char *err, size_t errlen)
{
	static const char *const keys[] = {"credentials", "state", "unlocked_at"};
	const char *bad = NULL, *state;
	size_t n = 0, k;
	json_t *creds, *c;
	int64_t us;

	if (!json_is_object(u))
		return fail_msg(err, errlen, "staff.%s: expected an object", user);
	if (!keys_only(u, keys, 3, &bad))
		return fail_msg(err, errlen, "staff.%s.%.64s: unknown key", user, bad);
	state = str_of(u, "state", &n);
	if (!state || (strcmp(state, "active") != 0 && strcmp(state, "disabled") != 0) ||
	    strlen(state) != n)
		return fail_msg(err, errlen, "staff.%s.state: expected \"active\" or \"disabled\"",
		                user);
	creds = json_object_get(u, "credentials");
	if (!json_is_array(creds))
		return fail_msg(err, errlen, "staff.%s.credentials: expected an array", user);
	if (json_array_size(creds) > MG_POLICY_MAX_STAFF_CREDS)
		return fail_msg(err, errlen, "staff.%s.credentials: more than %u", user,
		                MG_POLICY_MAX_STAFF_CREDS);
	if (state[0] == 'd' && json_array_size(creds) != 0)
		return fail_msg(err, errlen, "staff.%s.credentials: a disabled user has none",
		                user);
	json_array_foreach(creds, k, c)
	{
		int r = staff_cred_check(c, user, k, err, errlen);
		if (r < 0)
			return r;
		for (size_t j = 0; j < k; j++)
			if (json_equal(json_object_get(json_array_get(creds, j), "id"),
			               json_object_get(c, "id")))
				return fail_msg(err, errlen,
				                "staff.%s.credentials[%zu].id: listed twice", user,
				                k);
	}
	json_t *t = json_object_get(u, "unlocked_at");
	if (t && (!json_is_string(t) || json_string_length(t) >= MG_RFC3339_LEN ||
	          mg_time_parse(json_string_value(t), &us) < 0 || us <= 0))
		return fail_msg(err, errlen, "staff.%s.unlocked_at: expected an RFC 3339 time",
		                user);
	return 0;
}

int mg_policy_staff_check(const struct json_t *staff, char *err, size_t errlen)
{
	json_t *o = (json_t *)(uintptr_t)staff, *u;
	const char *key;

	if (!json_is_object(o))
		return fail_msg(err, errlen, "staff: expected an object");
	if (json_object_size(o) > MG_POLICY_MAX_STAFF)
		return fail_msg(err, errlen, "staff: more than %u users", MG_POLICY_MAX_STAFF);
	json_object_foreach(o, key, u)
	{
		/* jansson keys are NUL-terminated; a NUL inside would make strlen shorter. */
		if (!mg_user_name_valid_str(key))
			return fail_msg(err, errlen, "staff.%.64s: not a valid user name", key);
		int r = staff_user_check(key, u, err, errlen);
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_time(json_t *v, const char *key, int64_t *out, char *err, size_t errlen)
{
	if (!json_is_string(v) || json_string_length(v) >= MG_RFC3339_LEN * 2 ||
	    mg_time_parse(json_string_value(v), out) < 0)
		return fail_msg(err, errlen, "%s: expected an RFC 3339 time", key);
	return 0;
}

/* Copies a rules string after checking it; *total counts bytes against the bundle cap. */
static int parse_rules(json_t *v, const char *what, char **out, size_t *total, char *err,
                       size_t errlen)
{
	if (!json_is_string(v))
		return fail_msg(err, errlen, "%s: expected a string", what);
	size_t n = json_string_length(v);
	if (n > MG_POLICY_MAX_RULES - *total) {
		fail_msg(err, errlen, "%s: rules exceed %u bytes", what, MG_POLICY_MAX_RULES);
		return -EFBIG;
	}
	if (!mg_policy_rules_text_valid(json_string_value(v), n))
		return fail_msg(err, errlen, "%s: invalid rules text", what);
	*out = strdup(json_string_value(v));
	if (!*out)
		return -ENOMEM;
	*total += n;
	return 0;
}

static int parse_scope(json_t *v, struct mg_policy_bundle *b, char *err, size_t errlen)
{
	const char *key;
	json_t *hosts, *item;
	size_t i;

	if (!json_is_object(v))
		return fail_msg(err, errlen, "scope: expected an object");
	json_object_foreach(v, key, item)
	{
		if (strcmp(key, "hosts") != 0)
			return fail_msg(err, errlen, "scope.%.64s: unknown key", key);
	}
	hosts = json_object_get(v, "hosts");
	if (!hosts)
		return fail_msg(err, errlen, "scope.hosts: missing");
	if (json_is_string(hosts)) {
		if (strcmp(json_string_value(hosts), "all") != 0 || json_string_length(hosts) != 3)
			return fail_msg(err, errlen, "scope.hosts: expected \"all\" or host ids");
		b->all_hosts = true;
		return 0;
	}
	if (!json_is_array(hosts) || json_array_size(hosts) == 0 ||
	    json_array_size(hosts) > MG_POLICY_MAX_HOSTS)
		return fail_msg(err, errlen, "scope.hosts: expected \"all\" or host ids");
	b->scope_hosts = calloc(json_array_size(hosts), sizeof(*b->scope_hosts));
	if (!b->scope_hosts)
		return -ENOMEM;
	json_array_foreach(hosts, i, item)
	{
		if (!json_is_integer(item) || !host_id_ok(json_integer_value(item)) ||
		    (i > 0 && json_integer_value(item) <= b->scope_hosts[i - 1]))
			return fail_msg(err, errlen,
			                "scope.hosts[%zu]: expected an increasing host id", i);
		b->scope_hosts[i] = json_integer_value(item);
		b->n_scope_hosts = i + 1;
	}
	return 0;
}

static int cmp_host(const void *a, const void *b)
{
	int64_t x = ((const struct mg_policy_host_rules *)a)->host_id;
	int64_t y = ((const struct mg_policy_host_rules *)b)->host_id;
	return (x > y) - (x < y);
}

static int parse_host_rules(json_t *v, struct mg_policy_bundle *b, size_t *total, char *err,
                            size_t errlen)
{
	const char *key;
	json_t *item;
	int r;

	if (!json_is_object(v))
		return fail_msg(err, errlen, "host_rules: expected an object");
	if (json_object_size(v) > MG_POLICY_MAX_HOSTS)
		return fail_msg(err, errlen, "host_rules: too many hosts");
	if (json_object_size(v) == 0)
		return 0;
	b->hosts = calloc(json_object_size(v), sizeof(*b->hosts));
	if (!b->hosts)
		return -ENOMEM;
	json_object_foreach(v, key, item)
	{
		struct mg_policy_host_rules *h = &b->hosts[b->n_hosts];
		if (host_id_parse(key, &h->host_id) < 0)
			return fail_msg(err, errlen, "host_rules.%.64s: expected a host id", key);
		r = parse_rules(item, "host_rules", &h->rules, total, err, errlen);
		if (r < 0)
			return r;
		b->n_hosts++;
		if (h->rules[0] == '\0')
			return fail_msg(err, errlen, "host_rules.%s: empty rules", key);
	}
	/* Keys are canonical decimals and unique, so ids are unique: sort for lookups. */
	qsort(b->hosts, b->n_hosts, sizeof(*b->hosts), cmp_host);
	return 0;
}

int mg_policy_bundle_parse(const char *buf, size_t len, struct mg_policy_bundle **out, char *err,
                           size_t errlen)
{
	static const char *const known[] = {"version", "issued_at",  "expires_at", "scope",
	                                    "rules",   "host_rules", "staff"};
	struct mg_policy_bundle *b = NULL;
	json_t *root = NULL, *v;
	json_error_t jerr;
	const char *key;
	size_t total = 0;
	int r;

	if (err && errlen > 0)
		err[0] = '\0';
	if (!out || (!buf && len))
		return -EINVAL;
	if (len > MG_POLICY_MAX_BUNDLE) {
		fail_msg(err, errlen, "bundle larger than %u bytes", MG_POLICY_MAX_BUNDLE);
		return -EFBIG;
	}
	root = json_loadb(buf ? buf : "", len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		r = fail_msg(err, errlen, "not JSON: %s", jerr.text);
		goto fail;
	}
	if (!json_is_object(root)) {
		r = fail_msg(err, errlen, "expected an object");
		goto fail;
	}
	json_object_foreach(root, key, v)
	{
		size_t i = 0;
		while (i < sizeof(known) / sizeof(known[0]) && strcmp(key, known[i]) != 0)
			i++;
		if (i == sizeof(known) / sizeof(known[0])) {
			r = fail_msg(err, errlen, "%.64s: unknown key", key);
			goto fail;
		}
	}
	for (size_t i = 0; i < 5; i++) /* every key but host_rules is required */
		if (!json_object_get(root, known[i])) {
			r = fail_msg(err, errlen, "%s: missing", known[i]);
			goto fail;
		}
	b = calloc(1, sizeof(*b));
	if (!b) {
		r = -ENOMEM;
		goto fail;
	}
	v = json_object_get(root, "version");
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    (uint64_t)json_integer_value(v) > MG_POLICY_U53_MAX) {
		r = fail_msg(err, errlen, "version: expected an integer 1..2^53-1");
		goto fail;
	}
	b->version = (uint64_t)json_integer_value(v);
	if ((r = parse_time(json_object_get(root, "issued_at"), "issued_at", &b->issued_us, err,
	                    errlen)) < 0 ||
	    (r = parse_time(json_object_get(root, "expires_at"), "expires_at", &b->expires_us, err,
	                    errlen)) < 0)
		goto fail;
	if (b->issued_us >= b->expires_us) {
		r = fail_msg(err, errlen, "expires_at: not after issued_at");
		goto fail;
	}
	if ((r = parse_scope(json_object_get(root, "scope"), b, err, errlen)) < 0 ||
	    (r = parse_rules(json_object_get(root, "rules"), "rules", &b->rules, &total, err,
	                     errlen)) < 0)
		goto fail;
	v = json_object_get(root, "host_rules");
	if (v && (r = parse_host_rules(v, b, &total, err, errlen)) < 0)
		goto fail;
	v = json_object_get(root, "staff");
	if (v) {
		if ((r = mg_policy_staff_check(v, err, errlen)) < 0)
			goto fail;
		b->staff = json_incref(v);
	}
	*out = b;
	b = NULL;
	r = 0;
fail:
	mg_policy_bundle_free(&b);
	json_decref(root);
	return r;
}

const char *mg_policy_bundle_host_rules(const struct mg_policy_bundle *b, int64_t host_id)
{
	struct mg_policy_host_rules key = {.host_id = host_id}, *h;

	if (!b || b->n_hosts == 0)
		return NULL;
	h = bsearch(&key, b->hosts, b->n_hosts, sizeof(*b->hosts), cmp_host);
	return h ? h->rules : NULL;
}

bool mg_policy_bundle_in_scope(const struct mg_policy_bundle *b, int64_t host_id)
{
	if (!b)
		return false;
	if (b->all_hosts)
		return true;
	for (size_t i = 0; i < b->n_scope_hosts; i++)
		if (b->scope_hosts[i] == host_id)
			return true;
	return false;
}

int mg_policy_accept(mg_policy_sig_check check, const char *pubkey_b64, const char *json,
                     size_t len, const char *sig_b64, uint64_t current_version, int64_t now_us,
                     int64_t host_id, struct mg_policy_bundle **out, char *err, size_t errlen)
{
	struct mg_policy_bundle *b = NULL;
	int r;

	if (err && errlen > 0)
		err[0] = '\0';
	if (len > MG_POLICY_MAX_BUNDLE)
		return -EFBIG;
	r = check ? check(pubkey_b64, json, len, sig_b64) : -EINVAL;
	if (r < 0) {
		fail_msg(err, errlen, "%s",
		         r == -EBADMSG  ? "bad signature"
		         : r == -ENOSYS ? "the signature check cannot run (see the agent's log)"
		                        : "malformed key or signature");
		return r;
	}
	r = mg_policy_bundle_parse(json, len, &b, err, errlen);
	if (r < 0)
		return r;
	if (b->version <= current_version) {
		fail_msg(err, errlen, "version %" PRIu64 " not newer than %" PRIu64, b->version,
		         current_version);
		r = -ESTALE;
	} else if (now_us >= b->expires_us) {
		fail_msg(err, errlen, "expired");
		r = -ETIME;
	} else if (host_id > 0 && !mg_policy_bundle_in_scope(b, host_id)) {
		fail_msg(err, errlen, "host %" PRId64 " not in scope", host_id);
		r = -EPERM;
	}
	if (r == 0 && out) {
		*out = b;
		b = NULL;
	}
	mg_policy_bundle_free(&b);
	return r;
}
