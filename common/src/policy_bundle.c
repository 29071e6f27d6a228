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
	static const char *const known[] = {"version", "issued_at", "expires_at",
	                                    "scope",   "rules",     "host_rules"};
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
