/*
 * Canonical text of a rule, as USBGuard 1.1 prints it (RulePrivate::toString and
 * Rule::Attribute::toRuleString): target, then id serial name hash parent-hash via-port
 * with-interface with-connect-type label; one value with the default operator prints bare,
 * anything else as "[op ]{ v1 v2 }"; ids and interface types in lower-case hex; strings
 * quoted with Utility::escapeString (\" \\ and \xHH for bytes outside 0x20..0x7e). The
 * mynaguard `expires` comes last, in UTC. And mg_rule_generate(), in the same form.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg/time.h"
#include "rule_internal.h"

void rule_buf_add(struct rule_buf *b, const char *s, size_t len)
{
	if (b->oom)
		return;
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 128;
		while (cap < b->len + len + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, len);
	b->len += len;
	b->p[b->len] = '\0';
}

void rule_buf_adds(struct rule_buf *b, const char *s)
{
	rule_buf_add(b, s, strlen(s));
}

void rule_buf_add_quoted(struct rule_buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char chunk[256];
	size_t n = 0;
	chunk[n++] = '"';
	for (size_t i = 0; i < len; i++) {
		const unsigned char c = (unsigned char)s[i];
		if (n + 4 + 1 > sizeof(chunk)) { /* an escape and the closing quote */
			rule_buf_add(b, chunk, n);
			n = 0;
		}
		if (c == '"' || c == '\\') {
			chunk[n++] = '\\';
			chunk[n++] = (char)c;
		} else if (c >= 0x20 && c < 0x7f) {
			chunk[n++] = (char)c;
		} else {
			chunk[n++] = '\\';
			chunk[n++] = 'x';
			chunk[n++] = hex[c >> 4];
			chunk[n++] = hex[c & 0xf];
		}
	}
	chunk[n++] = '"';
	rule_buf_add(b, chunk, n);
}

void rule_buf_add_id(struct rule_buf *b, struct rule_devid id)
{
	char s[16];
	if (id.kind == RULE_ID_ANY)
		snprintf(s, sizeof(s), "*:*");
	else if (id.kind == RULE_ID_VENDOR)
		snprintf(s, sizeof(s), "%04x:*", id.vendor);
	else
		snprintf(s, sizeof(s), "%04x:%04x", id.vendor, id.product);
	rule_buf_adds(b, s);
}

void rule_buf_add_iftype(struct rule_buf *b, struct rule_iftype t)
{
	char s[16];
	if (!(t.mask & RULE_IF_SUB))
		snprintf(s, sizeof(s), "%02x:*:*", t.cls);
	else if (!(t.mask & RULE_IF_PROTO))
		snprintf(s, sizeof(s), "%02x:%02x:*", t.cls, t.sub);
	else
		snprintf(s, sizeof(s), "%02x:%02x:%02x", t.cls, t.sub, t.proto);
	rule_buf_adds(b, s);
}

bool rule_str_plain(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		const unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			return false;
	}
	return true;
}

static void add_value(struct rule_buf *b, enum rule_attr_kind k, const union rule_value *v,
                      size_t **str_at)
{
	if (k == RULE_ID) {
		rule_buf_add_id(b, v->id);
	} else if (k == RULE_WITH_INTERFACE) {
		rule_buf_add_iftype(b, v->iface);
	} else {
		if (*str_at)
			*(*str_at)++ = b->len + 1;
		rule_buf_add_quoted(b, v->str.s, v->str.len);
	}
}

void rule_format(const struct rule_draft *r, struct rule_buf *b, size_t *str_at)
{
	rule_buf_adds(b, mg_target_name(r->target));
	for (int k = 0; k < RULE_ATTR_COUNT; k++) {
		const struct rule_attr *a = &r->attr[k];
		if (a->n == 0)
			continue;
		rule_buf_adds(b, " ");
		rule_buf_adds(b, rule_attr_name((enum rule_attr_kind)k));
		rule_buf_adds(b, " ");
		const bool multiset = a->n > 1 || a->op != RULE_OP_EQUALS;
		if (multiset) {
			if (a->op != RULE_OP_EQUALS) {
				rule_buf_adds(b, rule_op_name((enum rule_op)a->op));
				rule_buf_adds(b, " ");
			}
			rule_buf_adds(b, "{ ");
		}
		for (uint32_t i = 0; i < a->n; i++) {
			add_value(b, (enum rule_attr_kind)k, &a->v[i], &str_at);
			if (multiset)
				rule_buf_adds(b, " ");
		}
		if (multiset)
			rule_buf_adds(b, "}");
	}
	if (r->conds)
		rule_conds_format(r->conds, b);
	if (r->has_expires) {
		char t[MG_RFC3339_LEN];
		if (mg_time_format(r->expires_us, t) < 0)
			snprintf(t, sizeof(t), "invalid");
		rule_buf_adds(b, " expires ");
		rule_buf_add_quoted(b, t, strlen(t));
	}
}

static void add_string_attr(struct rule_buf *b, const char *name, const char *value)
{
	if (!value)
		value = "";
	rule_buf_adds(b, " ");
	rule_buf_adds(b, name);
	rule_buf_adds(b, " ");
	rule_buf_add_quoted(b, value, strlen(value));
}

/*
 * DevicePrivate::getDeviceRule(with_port, with_parent_hash=true) printed by toString():
 * serial, name and with-connect-type always (possibly ""), with-interface only when the
 * device has interfaces (bare when it has one), every interface descriptor in blob order.
 */
int mg_rule_generate(const struct mg_device *dev, enum mg_target target, bool with_port, char **out)
{
	struct rule_buf b = {0};
	int r = -EINVAL;
	if (!dev || !out || (unsigned)target > MG_TARGET_REJECT)
		goto out;
	const char *const strs[] = {dev->serial,      dev->name, dev->hash,
	                            dev->parent_hash, dev->port, dev->connect_type};
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		if (strs[i] && strlen(strs[i]) > MG_RULES_MAX_STRING) {
			r = -E2BIG;
			goto out;
		}
	}
	rule_buf_adds(&b, mg_target_name(target));
	rule_buf_adds(&b, " id ");
	rule_buf_add_id(&b, (struct rule_devid){.vendor = dev->vendor,
	                                        .product = dev->product,
	                                        .kind = RULE_ID_EXACT});
	add_string_attr(&b, "serial", dev->serial);
	add_string_attr(&b, "name", dev->name);
	if (dev->hash && dev->hash[0])
		add_string_attr(&b, "hash", dev->hash);
	if (dev->parent_hash && dev->parent_hash[0])
		add_string_attr(&b, "parent-hash", dev->parent_hash);
	if (with_port)
		add_string_attr(&b, "via-port", dev->port);
	size_t n = dev->desc.n_ifaces;
	if (n > MG_USB_MAX_IFACES)
		n = MG_USB_MAX_IFACES;
	if (n > 0) {
		rule_buf_adds(&b, " with-interface ");
		if (n > 1)
			rule_buf_adds(&b, "{ ");
		for (size_t i = 0; i < n; i++) {
			const struct mg_usb_iftype t = dev->desc.ifaces[i].type;
			rule_buf_add_iftype(
			    &b, (struct rule_iftype){.cls = t.cls,
			                             .sub = t.sub,
			                             .proto = t.proto,
			                             .mask = RULE_IF_SUB | RULE_IF_PROTO});
			if (n > 1)
				rule_buf_adds(&b, " ");
		}
		if (n > 1)
			rule_buf_adds(&b, "}");
	}
	add_string_attr(&b, "with-connect-type", dev->connect_type);
	if (b.oom) {
		r = -ENOMEM;
		goto out;
	}
	/* What we write must parse back: refuse what the parser's limits would. */
	if (b.len > MG_RULES_MAX_LINE) {
		r = -E2BIG;
		goto out;
	}
	*out = b.p;
	b.p = NULL;
	r = 0;
out:
	free(b.p);
	return r;
}
