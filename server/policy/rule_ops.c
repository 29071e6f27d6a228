/* Rule changes that end in a new signed policy version (rule_ops.h). */
#include "rule_ops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_body.h"
#include "mg/utf8.h"
#include "policy_build.h"
#include "rules.h"

/* 0-based offset of a '#' outside double quotes (a comment), or len when none. Called on
 * text the parser accepted, so quotes and escapes are well formed. */
static size_t comment_at(const char *text, size_t len)
{
	bool quoted = false;
	for (size_t i = 0; i < len; i++) {
		if (quoted && text[i] == '\\')
			i++;
		else if (text[i] == '"')
			quoted = !quoted;
		else if (!quoted && text[i] == '#')
			return i;
	}
	return len;
}

int mg_rule_check(const char *text, char *err, size_t errlen)
{
	struct mg_ruleset *rs = NULL;
	struct mg_rule_error re;
	size_t len, at;
	int r = -EINVAL;

	if (err && errlen)
		err[0] = '\0';
	if (!text) {
		mg_body_err(err, errlen, "rule:1:1: missing");
		return -EINVAL;
	}
	len = strnlen(text, MG_STORE_RULE_SIZE);
	if (len >= MG_STORE_RULE_SIZE) {
		mg_body_err(err, errlen, "rule:1:%u: longer than %u bytes", MG_STORE_RULE_SIZE,
		            MG_STORE_RULE_SIZE - 1);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		const unsigned char c = (unsigned char)text[i];
		if (c == '\n' || c == '\r') {
			mg_body_err(err, errlen, "rule:1:%zu: must be exactly one line", i + 1);
			return -EINVAL;
		}
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			mg_body_err(err, errlen, "rule:1:%zu: control character", i + 1);
			return -EINVAL;
		}
	}
	if (!mg_utf8_valid(text, len)) {
		mg_body_err(err, errlen, "rule:1:1: not valid UTF-8");
		return -EINVAL;
	}
	memset(&re, 0, sizeof(re));
	r = mg_ruleset_parse("rule", text, len, &rs, &re);
	if (r < 0) {
		if (r == -ENOMEM)
			goto out;
		/* The answer is JSON: a message that quotes a cut multibyte character is repaired.
		 */
		char *msg = mg_utf8_repair(re.msg, strnlen(re.msg, sizeof(re.msg)), NULL);
		mg_body_err(err, errlen, "rule:1:%u: %s", re.column ? re.column : 1,
		            msg ? msg : "invalid rule");
		free(msg);
		r = -EINVAL;
		goto out;
	}
	r = -EINVAL;
	at = comment_at(text, len);
	if (at < len) {
		mg_body_err(err, errlen, "rule:1:%zu: comments are not allowed in a stored rule",
		            at + 1);
		goto out;
	}
	if (mg_ruleset_count(rs) != 1) {
		mg_body_err(err, errlen, "rule:1:1: expected a rule (allow, block or reject ...)");
		goto out;
	}
	r = 0;
out:
	mg_ruleset_free(&rs);
	return r;
}

/* Appends s as a rules-syntax string ("..." with \" \\ and \xHH for bytes outside
 * 0x20..0x7e, as rule_print.c writes them). false when it does not fit. */
static bool put_quoted(char *out, size_t size, size_t *n, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	char esc[5];
	size_t k;
	if (*n + 1 >= size)
		return false;
	out[(*n)++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		k = 0;
		if (*p == '"' || *p == '\\') {
			esc[k++] = '\\';
			esc[k++] = (char)*p;
		} else if (*p >= 0x20 && *p < 0x7f) {
			esc[k++] = (char)*p;
		} else {
			esc[k++] = '\\';
			esc[k++] = 'x';
			esc[k++] = hex[*p >> 4];
			esc[k++] = hex[*p & 15];
		}
		if (*n + k + 1 >= size)
			return false;
		memcpy(out + *n, esc, k);
		*n += k;
	}
	if (*n + 1 >= size)
		return false;
	out[(*n)++] = '"';
	out[*n] = '\0';
	return true;
}

static bool put_str(char *out, size_t size, size_t *n, const char *s)
{
	size_t k = strlen(s);
	if (*n + k >= size)
		return false;
	memcpy(out + *n, s, k + 1);
	*n += k;
	return true;
}

static bool is_hex4(const char *s)
{
	return strlen(s) == 4 && strspn(s, "0123456789abcdef") == 4;
}

int mg_rule_for_device(const struct mg_store_device_id *dev, char *out, size_t size)
{
	char buf[MG_STORE_RULE_SIZE * 4];
	size_t n = 0;
	if (!dev || !out || size == 0 || !is_hex4(dev->vendor_id) || !is_hex4(dev->product_id) ||
	    strnlen(dev->serial, sizeof(dev->serial)) >= sizeof(dev->serial) ||
	    strnlen(dev->hash, sizeof(dev->hash)) >= sizeof(dev->hash))
		return -EINVAL;
	if (!put_str(buf, sizeof(buf), &n, "allow id ") ||
	    !put_str(buf, sizeof(buf), &n, dev->vendor_id) || !put_str(buf, sizeof(buf), &n, ":") ||
	    !put_str(buf, sizeof(buf), &n, dev->product_id))
		return -E2BIG;
	if (dev->serial[0] && (!put_str(buf, sizeof(buf), &n, " serial ") ||
	                       !put_quoted(buf, sizeof(buf), &n, dev->serial)))
		return -E2BIG;
	if (dev->hash[0] && (!put_str(buf, sizeof(buf), &n, " hash ") ||
	                     !put_quoted(buf, sizeof(buf), &n, dev->hash)))
		return -E2BIG;
	if (n >= size)
		return -E2BIG;
	memcpy(out, buf, n + 1);
	return 0;
}

/* Publishes after a stored change; *version_out 0 when publishing fails. */
static int publish(const struct mg_rule_ops *o, const struct mg_store_actor *by, int64_t now_us,
                   uint64_t *version_out)
{
	uint64_t v = 0;
	int r = mg_policy_publish(o->store, by, o->key, now_us, o->validity_us, &v);
	if (version_out)
		*version_out = r < 0 ? 0 : v;
	return r;
}

static bool ops_ok(const struct mg_rule_ops *o)
{
	return o && o->store && o->key && o->validity_us > 0;
}

/* expires_us is 0 (never) or after now_us. */
static int check_expiry(int64_t expires_us, int64_t now_us, char *err, size_t errlen)
{
	if (expires_us < 0 || (expires_us != 0 && expires_us <= now_us)) {
		mg_body_err(err, errlen, "expires_at: must be in the future");
		return -EINVAL;
	}
	return 0;
}

int mg_rule_ops_add(const struct mg_rule_ops *o, const struct mg_store_actor *by, const char *text,
                    int64_t host_id, int64_t expires_us, const char *comment, int64_t now_us,
                    int64_t *rule_id_out, uint64_t *version_out, char *err, size_t errlen)
{
	int64_t id = 0;
	int r;
	if (err && errlen)
		err[0] = '\0';
	if (!ops_ok(o) || now_us <= 0)
		return -EINVAL;
	if ((r = mg_rule_check(text, err, errlen)) < 0)
		return r;
	if (host_id < 0) {
		mg_body_err(err, errlen, "host_id: must be 0 (all hosts) or a host id");
		return -EINVAL;
	}
	if ((r = check_expiry(expires_us, now_us, err, errlen)) < 0)
		return r;
	if (comment && strnlen(comment, MG_STORE_TEXT_SIZE) >= MG_STORE_TEXT_SIZE) {
		mg_body_err(err, errlen, "comment: longer than %u bytes", MG_STORE_TEXT_SIZE - 1);
		return -EINVAL;
	}
	r = mg_store_rule_add(o->store, by, text, host_id, expires_us, comment, now_us, &id);
	if (r < 0)
		return r;
	if (rule_id_out)
		*rule_id_out = id;
	return publish(o, by, now_us, version_out);
}

int mg_rule_ops_remove(const struct mg_rule_ops *o, const struct mg_store_actor *by, int64_t id,
                       int64_t now_us, uint64_t *version_out)
{
	int r;
	if (!ops_ok(o) || now_us <= 0 || id <= 0)
		return -EINVAL;
	r = mg_store_rule_remove(o->store, by, id, now_us);
	if (r < 0)
		return r;
	return publish(o, by, now_us, version_out);
}

int mg_rule_ops_approve(const struct mg_rule_ops *o, const struct mg_store_actor *by,
                        int64_t request_id, bool all_hosts, int64_t expires_us, const char *note,
                        int64_t now_us, int64_t *rule_id_out, uint64_t *version_out)
{
	struct mg_store_request req;
	char rule[MG_STORE_RULE_SIZE];
	int64_t rule_id = 0;
	int r;
	if (!ops_ok(o) || now_us <= 0 || request_id <= 0 ||
	    check_expiry(expires_us, now_us, NULL, 0) < 0)
		return -EINVAL;
	r = mg_store_request_get(o->store, request_id, &req);
	if (r < 0)
		return r;
	if (req.state != MG_REQUEST_PENDING)
		return -EALREADY;
	r = mg_rule_for_device(&req.dev, rule, sizeof(rule));
	if (r < 0)
		return r;
	/* What the collector publishes, every terminal must parse. */
	if (mg_rule_check(rule, NULL, 0) < 0)
		return -EINVAL;
	r = mg_store_request_approve(o->store, by, request_id, rule, all_hosts ? 0 : req.host_id,
	                             expires_us, note, now_us, &rule_id);
	if (r < 0)
		return r;
	if (rule_id_out)
		*rule_id_out = rule_id;
	return publish(o, by, now_us, version_out);
}
