/* Control protocol requests: parsing and formatting. */
#include "ctl_proto.h"

#include <errno.h>
#include <stddef.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg/user_name.h"
#include "mg/utf8.h"

static const char *const names[] = {
    [MG_CTL_STATUS] = "status",
    [MG_CTL_LIST_DEVICES] = "list-devices",
    [MG_CTL_ALLOW_DEVICE] = "allow-device",
    [MG_CTL_BLOCK_DEVICE] = "block-device",
    [MG_CTL_RELOAD] = "reload",
    [MG_CTL_GENERATE_POLICY] = "generate-policy",
    [MG_CTL_ENROLL] = "enroll",
    [MG_CTL_SYNC] = "sync",
    [MG_CTL_REQUEST] = "request",
    [MG_CTL_REQUESTS] = "requests",
    [MG_CTL_STAFF_REGISTER] = "staff-register",
};

/* The string members: which command takes each, its bound, whether it is required. */
static const struct {
	const char *key;
	enum mg_ctl_cmd cmd;
	size_t off, max;
	bool required, newlines;
} strings[] = {
    {"collector", MG_CTL_ENROLL, offsetof(struct mg_ctl_request, collector), MG_CTL_MAX_URL, true,
     false},
    {"token", MG_CTL_ENROLL, offsetof(struct mg_ctl_request, token), MG_CTL_MAX_TOKEN, true, false},
    {"ca", MG_CTL_ENROLL, offsetof(struct mg_ctl_request, ca), MG_CTL_MAX_CA, true, true},
    {"reason", MG_CTL_REQUEST, offsetof(struct mg_ctl_request, reason), MG_CTL_MAX_REASON, true,
     true},
    {"user", MG_CTL_REQUEST, offsetof(struct mg_ctl_request, user), MG_CTL_MAX_USER, false, false},
};
#define NSTRINGS (sizeof(strings) / sizeof(strings[0]))

/* A string member: 1..max bytes, no NUL, no control characters (tab and newline where
 * newlines). */
static bool string_ok(const char *s, size_t len, size_t max, bool newlines)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && !(newlines && (c == '\t' || c == '\n' || c == '\r'))) || c == 0x7f)
			return false;
	}
	return true;
}
#define NCMDS (sizeof(names) / sizeof(names[0]))

/* ---- staff-register (issue 15): the registration, checked before it goes anywhere ---- */

#define REG_MAX_B64 4096 /* characters of one base64 field (an attestation certificate fits) */

static bool b64_chars(json_t *v, size_t min, size_t max)
{
	if (!json_is_string(v))
		return false;
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (n < min || n > max || n % 4 != 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		          (c >= '0' && c <= '9') || c == '+' || c == '/' ||
		          (c == '=' && i + 2 >= n);
		if (!ok)
			return false;
	}
	return true;
}

/* Only the given keys; every key not marked optional (the NULL-terminated list) present. */
static bool reg_keys(json_t *o, const char *const *keys, size_t n, const char *const *optional,
                     const char **bad)
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
	for (size_t i = 0; i < n; i++) {
		bool opt = false;
		for (size_t k = 0; optional && optional[k]; k++)
			opt = opt || strcmp(keys[i], optional[k]) == 0;
		if (!json_object_get(o, keys[i]) && !opt) {
			*bad = keys[i];
			return false;
		}
	}
	return true;
}

static int registration_check(json_t *r, char *errmsg, size_t errlen)
{
	static const char *const top[] = {"credential", "label", "registration_id", "user"};
	static const char *const cred[] = {"aaguid",     "attestation", "cose_alg", "id",
	                                   "public_key", "rp_id",       "uv"};
	static const char *const att[] = {"authdata", "clientdata_hash", "fmt", "sig", "x5c"};
	const char *bad = NULL, *s;
	size_t n;
	json_t *c, *a, *v;

	if (!json_is_object(r)) {
		snprintf(errmsg, errlen, "registration: expected an object");
		return -EINVAL;
	}
	if (!reg_keys(r, top, 4, NULL, &bad)) {
		snprintf(errmsg, errlen, "registration.%.64s: unknown or missing", bad);
		return -EINVAL;
	}
	v = json_object_get(r, "registration_id");
	s = json_string_value(v);
	n = s ? json_string_length(v) : 0;
	bool ok = n >= 1 && n <= 63;
	for (size_t i = 0; ok && i < n; i++)
		ok = (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		     (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-';
	if (!ok) {
		snprintf(errmsg, errlen,
		         "registration.registration_id: expected 1-63 of A-Z a-z 0-9 . _ -");
		return -EINVAL;
	}
	v = json_object_get(r, "user");
	if (!json_is_string(v) ||
	    !mg_user_name_valid(json_string_value(v), json_string_length(v))) {
		snprintf(errmsg, errlen, "registration.user: not a valid user name");
		return -EINVAL;
	}
	v = json_object_get(r, "label");
	if (!json_is_string(v) || json_string_length(v) > 64 ||
	    !mg_utf8_valid(json_string_value(v), json_string_length(v)) ||
	    !string_ok(json_string_value(v), json_string_length(v), 64, false)) {
		snprintf(
		    errmsg, errlen,
		    "registration.label: expected 1-64 bytes of UTF-8 without control characters");
		return -EINVAL;
	}
	c = json_object_get(r, "credential");
	if (!json_is_object(c) || !reg_keys(c, cred, 7, NULL, &bad)) {
		snprintf(errmsg, errlen, "registration.credential%s%.64s: unknown or missing",
		         bad ? "." : "", bad ? bad : "");
		return -EINVAL;
	}
	v = json_object_get(c, "aaguid");
	s = json_string_value(v);
	ok = s && json_string_length(v) == 32;
	for (size_t i = 0; ok && i < 32; i++)
		ok = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
	if (!ok) {
		snprintf(errmsg, errlen,
		         "registration.credential.aaguid: expected 32 lower-case hex digits");
		return -EINVAL;
	}
	v = json_object_get(c, "cose_alg");
	if (!json_is_integer(v) || json_integer_value(v) < -65536 ||
	    json_integer_value(v) > 65535) {
		snprintf(errmsg, errlen, "registration.credential.cose_alg: expected an integer");
		return -EINVAL;
	}
	if (!b64_chars(json_object_get(c, "id"), 4, 1368) ||
	    !b64_chars(json_object_get(c, "public_key"), 4, 684)) {
		snprintf(errmsg, errlen,
		         "registration.credential: id and public_key: expected base64");
		return -EINVAL;
	}
	v = json_object_get(c, "rp_id");
	s = json_string_value(v);
	n = s ? json_string_length(v) : 0;
	ok = n >= 1 && n <= 255;
	for (size_t i = 0; ok && i < n; i++)
		ok = s[i] > 0x20 && s[i] < 0x7f;
	if (!ok) {
		snprintf(errmsg, errlen,
		         "registration.credential.rp_id: expected 1-255 printable ASCII bytes");
		return -EINVAL;
	}
	if (!json_is_boolean(json_object_get(c, "uv"))) {
		snprintf(errmsg, errlen, "registration.credential.uv: expected true or false");
		return -EINVAL;
	}
	a = json_object_get(c, "attestation");
	bad = NULL;
	static const char *const att_optional[] = {"sig", "x5c", NULL};
	if (!json_is_object(a) || !reg_keys(a, att, 5, att_optional, &bad)) {
		snprintf(errmsg, errlen,
		         "registration.credential.attestation%s%.64s: unknown or missing",
		         bad ? "." : "", bad ? bad : "");
		return -EINVAL;
	}
	s = json_string_value(json_object_get(a, "fmt"));
	if (!s ||
	    (strcmp(s, "packed") != 0 && strcmp(s, "fido-u2f") != 0 && strcmp(s, "none") != 0)) {
		snprintf(
		    errmsg, errlen,
		    "registration.credential.attestation.fmt: expected packed, fido-u2f or none");
		return -EINVAL;
	}
	/* Self attestation ("none") has no signature and no certificate; the others a signature. */
	bool none = strcmp(s, "none") == 0;
	v = json_object_get(a, "sig");
	if (none ? v || json_object_get(a, "x5c") : !v) {
		snprintf(errmsg, errlen,
		         "registration.credential.attestation: fmt \"none\" has no sig or x5c, "
		         "\"packed\" and \"fido-u2f\" have a sig");
		return -EINVAL;
	}
	if (!b64_chars(json_object_get(a, "authdata"), 4, REG_MAX_B64) ||
	    !b64_chars(json_object_get(a, "clientdata_hash"), 44, 44) ||
	    (v && !b64_chars(v, 4, REG_MAX_B64)) ||
	    (json_object_get(a, "x5c") && !b64_chars(json_object_get(a, "x5c"), 4, REG_MAX_B64))) {
		snprintf(
		    errmsg, errlen,
		    "registration.credential.attestation: authdata, clientdata_hash, sig, x5c: "
		    "expected base64");
		return -EINVAL;
	}
	return 0;
}

const char *mg_ctl_cmd_name(enum mg_ctl_cmd cmd)
{
	return (size_t)cmd < NCMDS ? names[cmd] : NULL;
}

int mg_ctl_cmd_from_name(const char *name, enum mg_ctl_cmd *out)
{
	for (size_t i = 0; name && i < NCMDS; i++) {
		if (strcmp(name, names[i]) == 0) {
			*out = (enum mg_ctl_cmd)i;
			return 0;
		}
	}
	return -EINVAL;
}

static bool needs_id(enum mg_ctl_cmd cmd)
{
	return cmd == MG_CTL_ALLOW_DEVICE || cmd == MG_CTL_BLOCK_DEVICE || cmd == MG_CTL_REQUEST;
}

int mg_ctl_request_parse(const char *buf, size_t len, struct mg_ctl_request *out, char *errmsg,
                         size_t errlen)
{
	char dummy[1];
	if (!errmsg || errlen == 0) {
		errmsg = dummy;
		errlen = sizeof(dummy);
	}
	if (len > MG_CTL_MAX_REQUEST) {
		snprintf(errmsg, errlen, "request larger than %d bytes", MG_CTL_MAX_REQUEST);
		return -EINVAL;
	}
	json_error_t jerr;
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	int r = -EINVAL;
	if (!root) {
		snprintf(errmsg, errlen, "not JSON: %s", jerr.text);
		return r;
	}
	static struct mg_ctl_request req; /* large (a CA certificate): not on the stack */
	memset(&req, 0, sizeof(req));
	bool have_id = false;
	if (!json_is_object(root)) {
		snprintf(errmsg, errlen, "request is not a JSON object");
		goto out;
	}
	const char *key;
	json_t *val;
	json_object_foreach(root, key, val)
	{
		if (strcmp(key, "cmd") == 0) {
			if (!json_is_string(val) ||
			    mg_ctl_cmd_from_name(json_string_value(val), &req.cmd) < 0) {
				snprintf(errmsg, errlen, "cmd: unknown command");
				goto out;
			}
		} else if (strcmp(key, "id") == 0) {
			json_int_t v = json_is_integer(val) ? json_integer_value(val) : -1;
			if (v < 1 || v > 0x7fffffff) {
				snprintf(errmsg, errlen, "id: expected a device id (1 or more)");
				goto out;
			}
			req.id = (unsigned)v;
			have_id = true;
		} else if (strcmp(key, "with_ports") == 0) {
			if (!json_is_boolean(val)) {
				snprintf(errmsg, errlen, "with_ports: expected true or false");
				goto out;
			}
			req.with_ports = json_is_true(val);
		} else if (strcmp(key, "force") == 0) {
			if (!json_is_boolean(val)) {
				snprintf(errmsg, errlen, "force: expected true or false");
				goto out;
			}
			req.force = json_is_true(val);
		} else if (strcmp(key, "registration") == 0) {
			if (registration_check(val, errmsg, errlen) < 0)
				goto out;
			char *text = json_dumps(val, JSON_COMPACT | JSON_SORT_KEYS);
			if (!text || strlen(text) > MG_CTL_MAX_REGISTRATION) {
				snprintf(errmsg, errlen, "registration: larger than %d bytes",
				         MG_CTL_MAX_REGISTRATION);
				free(text);
				goto out;
			}
			memcpy(req.registration, text, strlen(text) + 1);
			free(text);
		} else {
			size_t k = 0;
			while (k < NSTRINGS && strcmp(key, strings[k].key) != 0)
				k++;
			if (k == NSTRINGS) {
				snprintf(errmsg, errlen, "%.64s: unknown key", key);
				goto out;
			}
			if (!json_is_string(val) ||
			    !string_ok(json_string_value(val), json_string_length(val),
			               strings[k].max, strings[k].newlines)) {
				snprintf(
				    errmsg, errlen,
				    "%s: expected 1-%zu bytes of text without control characters",
				    key, strings[k].max);
				goto out;
			}
			memcpy((char *)&req + strings[k].off, json_string_value(val),
			       json_string_length(val) + 1);
		}
	}
	if (!json_object_get(root, "cmd")) {
		snprintf(errmsg, errlen, "cmd: missing");
		goto out;
	}
	if (json_object_get(root, "with_ports") && req.cmd != MG_CTL_GENERATE_POLICY) {
		snprintf(errmsg, errlen, "with_ports: not expected for %s", names[req.cmd]);
		goto out;
	}
	for (size_t k = 0; k < NSTRINGS; k++) {
		bool present = json_object_get(root, strings[k].key) != NULL;
		if (present && req.cmd != strings[k].cmd) {
			snprintf(errmsg, errlen, "%s: not expected for %s", strings[k].key,
			         names[req.cmd]);
			goto out;
		}
		if (!present && req.cmd == strings[k].cmd && strings[k].required) {
			snprintf(errmsg, errlen, "%s: missing for %s", strings[k].key,
			         names[req.cmd]);
			goto out;
		}
	}
	if ((json_object_get(root, "registration") != NULL) != (req.cmd == MG_CTL_STAFF_REGISTER)) {
		snprintf(errmsg, errlen,
		         req.cmd == MG_CTL_STAFF_REGISTER ? "registration: missing for %s"
		                                          : "registration: not expected for %s",
		         names[req.cmd]);
		goto out;
	}
	if (json_object_get(root, "force") && req.cmd != MG_CTL_RELOAD &&
	    req.cmd != MG_CTL_ENROLL) {
		snprintf(errmsg, errlen, "force: not expected for %s", names[req.cmd]);
		goto out;
	}
	if (needs_id(req.cmd) != have_id) {
		snprintf(errmsg, errlen, have_id ? "id: not expected for %s" : "id: missing for %s",
		         names[req.cmd]);
		goto out;
	}
	*out = req;
	r = 0;
out:
	json_decref(root);
	return r;
}

int mg_ctl_request_format(const struct mg_ctl_request *req, char **out)
{
	json_t *o = json_pack("{s:s}", "cmd", names[req->cmd]);
	if (!o)
		return -ENOMEM;
	int bad = 0;
	if (needs_id(req->cmd))
		bad |= json_object_set_new(o, "id", json_integer((json_int_t)req->id));
	if (req->cmd == MG_CTL_GENERATE_POLICY && req->with_ports)
		bad |= json_object_set_new(o, "with_ports", json_true());
	if ((req->cmd == MG_CTL_RELOAD || req->cmd == MG_CTL_ENROLL) && req->force)
		bad |= json_object_set_new(o, "force", json_true());
	for (size_t k = 0; k < NSTRINGS; k++) {
		const char *v = (const char *)req + strings[k].off;
		if (req->cmd == strings[k].cmd && v[0])
			bad |= json_object_set_new(o, strings[k].key, json_string(v));
	}
	if (req->cmd == MG_CTL_STAFF_REGISTER) {
		json_error_t jerr;
		json_t *reg = json_loads(req->registration, JSON_REJECT_DUPLICATES, &jerr);
		bad |= reg ? json_object_set_new(o, "registration", reg) : -1;
	}
	if (bad) {
		json_decref(o);
		return -EINVAL;
	}
	char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	if (!s)
		return -ENOMEM;
	size_t n = strlen(s);
	char *line = realloc(s, n + 2);
	if (!line) {
		free(s);
		return -ENOMEM;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	*out = line;
	return 0;
}
