/*
 * Whether a rule applies to a device: USBGuard 1.1 Rule::Attribute::appliesTo. R is the
 * rule's value list, D the device's: one value for every attribute but with-interface,
 * whose D is every interface descriptor of every configuration (alternate settings too).
 *
 *   all-of          every r matches some d
 *   one-of          some r matches some d
 *   none-of         no r matches any d
 *   equals          |R| == |D| and every r matches some d (not a bijection: USBGuard's)
 *   equals-ordered  |R| == |D| and r[i] matches d[i]
 *   match-all       every d is matched by some r
 *
 * "r matches d": ids and interface types with their '*' wildcards, strings bytewise.
 * match-all follows the documented meaning; USBGuard 1.1's code differs there (strings:
 * a stub that always matches; ids: wildcards not honoured). label never takes part.
 */
#include <string.h>

#include "rule_internal.h"

void rule_devview_init(struct rule_devview *v, const struct mg_device *dev)
{
	memset(v, 0, sizeof(*v));
	v->dev = dev;
	v->str[RULE_SERIAL] = dev->serial;
	v->str[RULE_NAME] = dev->name;
	v->str[RULE_HASH] = dev->hash;
	v->str[RULE_PARENT_HASH] = dev->parent_hash;
	v->str[RULE_VIA_PORT] = dev->port;
	v->str[RULE_WITH_CONNECT_TYPE] = dev->connect_type;
	for (int k = 0; k < RULE_ATTR_COUNT; k++) {
		if (!v->str[k])
			v->str[k] = "";
		v->len[k] = strlen(v->str[k]);
	}
	v->n_ifaces =
	    dev->desc.n_ifaces < MG_USB_MAX_IFACES ? dev->desc.n_ifaces : MG_USB_MAX_IFACES;
}

static bool iftype_matches(struct rule_iftype p, struct mg_usb_iftype t)
{
	if (p.cls != t.cls)
		return false;
	if ((p.mask & RULE_IF_SUB) && p.sub != t.sub)
		return false;
	if ((p.mask & RULE_IF_PROTO) && p.proto != t.proto)
		return false;
	return true;
}

/* Value rv of rule r against the device's value number di of attribute k. */
static bool value_matches(const struct mg_rule *r, enum rule_attr_kind k,
                          const union rule_svalue *rv, const struct rule_devview *v, size_t di)
{
	switch (k) {
	case RULE_ID:
		if (rv->id.kind == RULE_ID_ANY)
			return true;
		if (rv->id.vendor != v->dev->vendor)
			return false;
		return rv->id.kind == RULE_ID_VENDOR || rv->id.product == v->dev->product;
	case RULE_WITH_INTERFACE:
		return iftype_matches(rv->iface, v->dev->desc.ifaces[di].type);
	default:
		return rv->str.len == v->len[k] &&
		       memcmp(rule_sstr_bytes(r, rv), v->str[k], v->len[k]) == 0;
	}
}

static bool matches_some_device_value(const struct mg_rule *r, enum rule_attr_kind k,
                                      const union rule_svalue *rv, const struct rule_devview *v,
                                      size_t nd)
{
	for (size_t d = 0; d < nd; d++)
		if (value_matches(r, k, rv, v, d))
			return true;
	return false;
}

static bool every_rule_value_present(const struct mg_rule *r, enum rule_attr_kind k,
                                     const struct rule_aview *a, const struct rule_devview *v,
                                     size_t nd)
{
	for (uint32_t i = 0; i < a->n; i++)
		if (!matches_some_device_value(r, k, &a->v[i], v, nd))
			return false;
	return true;
}

static bool some_rule_value_present(const struct mg_rule *r, enum rule_attr_kind k,
                                    const struct rule_aview *a, const struct rule_devview *v,
                                    size_t nd)
{
	for (uint32_t i = 0; i < a->n; i++)
		if (matches_some_device_value(r, k, &a->v[i], v, nd))
			return true;
	return false;
}

static bool attr_applies(const struct mg_rule *r, enum rule_attr_kind k, const struct rule_aview *a,
                         const struct rule_devview *v)
{
	const size_t nd = k == RULE_WITH_INTERFACE ? v->n_ifaces : 1;
	switch ((enum rule_op)a->op) {
	case RULE_OP_EQUALS:
		return a->n == nd && every_rule_value_present(r, k, a, v, nd);
	case RULE_OP_ALL_OF:
		return every_rule_value_present(r, k, a, v, nd);
	case RULE_OP_ONE_OF:
		return some_rule_value_present(r, k, a, v, nd);
	case RULE_OP_NONE_OF:
		return !some_rule_value_present(r, k, a, v, nd);
	case RULE_OP_EQUALS_ORDERED:
		if (a->n != nd)
			return false;
		for (size_t i = 0; i < nd; i++)
			if (!value_matches(r, k, &a->v[i], v, i))
				return false;
		return true;
	case RULE_OP_MATCH_ALL:
		for (size_t d = 0; d < nd; d++) {
			bool covered = false;
			for (uint32_t i = 0; i < a->n && !covered; i++)
				covered = value_matches(r, k, &a->v[i], v, d);
			if (!covered)
				return false;
		}
		return true;
	case RULE_OP_COUNT:
		break;
	}
	return false;
}

bool rule_matches_view(const struct mg_rule *r, const struct rule_devview *v, int64_t now_us)
{
	int64_t expires_us;
	if (rule_expires_of(r, &expires_us) && expires_us <= now_us)
		return false;
	const struct rule_sattr *sa = r->attr;
	const union rule_svalue *val = rule_values_of(r);
	for (int k = 0; k < RULE_ATTR_COUNT; k++) {
		if (!(r->mask & 1u << k))
			continue;
		const struct rule_aview a = {.v = val, .n = sa->n, .op = sa->op};
		if (k != RULE_LABEL && !attr_applies(r, (enum rule_attr_kind)k, &a, v))
			return false;
		val += sa->n;
		sa++;
	}
	return true;
}

bool mg_rule_matches(const struct mg_rule *r, const struct mg_device *dev, int64_t now_us)
{
	if (!r || !dev)
		return false;
	struct rule_devview v;
	rule_devview_init(&v, dev);
	return rule_matches_view(r, &v, now_us);
}

/* Patterns always name a class in our syntax (cc is never '*'); none-of names by exclusion. */
bool mg_rule_names_interface(const struct mg_rule *r, struct mg_usb_iftype t)
{
	if (!r)
		return false;
	struct rule_aview a;
	if (!rule_attr_view(r, RULE_WITH_INTERFACE, &a) || a.op == RULE_OP_NONE_OF)
		return false;
	for (uint32_t i = 0; i < a.n; i++)
		if (iftype_matches(a.v[i].iface, t))
			return true;
	return false;
}
