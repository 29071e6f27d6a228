/* From the store's rules to a signed, stored policy version (policy_build.h). */
#include "policy_build.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "policy_staff.h"

#define PUBLISH_TRIES 3

/* Growable text buffer; one per host plus the global one. */
struct text {
	char *p;
	size_t len, cap;
};

struct build_ctx {
	struct text all;
	struct {
		int64_t host_id;
		struct text t;
	} * hosts;
	size_t n_hosts, cap_hosts;
	size_t total;
	int64_t expires_us; /* earliest rule expiry; 0: none */
};

static int text_append_line(struct text *t, const char *line, size_t n)
{
	if (t->len + n + 2 > t->cap) {
		size_t cap = t->cap ? t->cap : 256;
		while (cap < t->len + n + 2)
			cap *= 2;
		char *p = realloc(t->p, cap);
		if (!p)
			return -ENOMEM;
		t->p = p;
		t->cap = cap;
	}
	memcpy(t->p + t->len, line, n);
	t->len += n;
	t->p[t->len++] = '\n';
	t->p[t->len] = '\0';
	return 0;
}

static struct text *host_text(struct build_ctx *c, int64_t host_id)
{
	for (size_t i = c->n_hosts; i > 0; i--)
		if (c->hosts[i - 1].host_id == host_id)
			return &c->hosts[i - 1].t;
	if (c->n_hosts == c->cap_hosts) {
		size_t cap = c->cap_hosts ? c->cap_hosts * 2 : 8;
		void *p = realloc(c->hosts, cap * sizeof(*c->hosts));
		if (!p)
			return NULL;
		c->hosts = p;
		c->cap_hosts = cap;
	}
	c->hosts[c->n_hosts].host_id = host_id;
	memset(&c->hosts[c->n_hosts].t, 0, sizeof(struct text));
	return &c->hosts[c->n_hosts++].t;
}

static int collect_rule(void *ctx, const struct mg_store_rule *r)
{
	struct build_ctx *c = ctx;
	size_t n = strnlen(r->text, sizeof(r->text));
	struct text *t;

	if (n == 0 || n > MG_POLICY_MAX_LINE || r->host_id < 0 ||
	    (uint64_t)r->host_id > MG_POLICY_U53_MAX)
		return -EINVAL;
	if (n + 1 > MG_POLICY_MAX_RULES - c->total)
		return -EFBIG;
	t = r->host_id == 0 ? &c->all : host_text(c, r->host_id);
	if (!t)
		return -ENOMEM;
	int e = text_append_line(t, r->text, n);
	if (e < 0)
		return e;
	/* Check the line as the bundle will hold it (UTF-8, no control characters). */
	if (!mg_policy_rules_text_valid(t->p + t->len - n - 1, n + 1))
		return -EINVAL;
	c->total += n + 1;
	if (r->expires_us > 0 && (c->expires_us == 0 || r->expires_us < c->expires_us))
		c->expires_us = r->expires_us;
	return 0;
}

static int cmp_host(const void *a, const void *b)
{
	int64_t x = ((const struct mg_policy_host_rules *)a)->host_id;
	int64_t y = ((const struct mg_policy_host_rules *)b)->host_id;
	return (x > y) - (x < y);
}

int mg_policy_build(struct mg_store *s, uint64_t version, int64_t now_us, int64_t validity_us,
                    struct mg_policy_bundle **out)
{
	struct build_ctx c = {0};
	struct mg_policy_bundle *b = NULL;
	int r;

	if (!s || !out || version < 1 || version > MG_POLICY_U53_MAX || now_us <= 0 ||
	    validity_us <= 0 || validity_us > INT64_MAX - now_us)
		return -EINVAL;
	r = mg_store_rules_foreach(s, 0, now_us, collect_rule, &c);
	if (r < 0)
		goto fail;
	b = calloc(1, sizeof(*b));
	if (!b || (c.n_hosts && !(b->hosts = calloc(c.n_hosts, sizeof(*b->hosts))))) {
		r = -ENOMEM;
		goto fail;
	}
	b->version = version;
	b->issued_us = now_us;
	b->expires_us = now_us + validity_us;
	if (c.expires_us > now_us && c.expires_us < b->expires_us)
		b->expires_us = c.expires_us;
	b->all_hosts = true;
	b->rules = c.all.p ? c.all.p : strdup("");
	c.all.p = NULL;
	if (!b->rules) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < c.n_hosts; i++) {
		b->hosts[i].host_id = c.hosts[i].host_id;
		b->hosts[i].rules = c.hosts[i].t.p;
		c.hosts[i].t.p = NULL;
		b->n_hosts++;
	}
	if (b->n_hosts > 1) /* qsort's array may not be NULL, even for 0 elements */
		qsort(b->hosts, b->n_hosts, sizeof(*b->hosts), cmp_host);
	/* Staff credentials (issue 15): absent while the registry is empty. */
	r = mg_policy_staff_json(s, &b->staff);
	if (r < 0)
		goto fail;
	*out = b;
	b = NULL;
	r = 0;
fail:
	free(c.all.p);
	for (size_t i = 0; i < c.n_hosts; i++)
		free(c.hosts[i].t.p);
	free(c.hosts);
	mg_policy_bundle_free(&b);
	return r;
}

int mg_policy_publish_version(struct mg_store *s, const struct mg_store_actor *by,
                              const struct mg_policy_key *key, uint64_t version,
                              uint64_t rules_revision, int64_t now_us, int64_t validity_us)
{
	struct mg_policy_bundle *b = NULL;
	char sig[MG_POLICY_SIG_B64_SIZE];
	char *json = NULL;
	size_t len = 0;
	int r;
	if (!s || !key)
		return -EINVAL;
	r = mg_policy_build(s, version, now_us, validity_us, &b);
	if (r == 0)
		r = mg_policy_bundle_to_json(b, &json, &len);
	if (r == 0)
		r = mg_policy_sign(key, json, len, sig);
	if (r == 0)
		r = mg_store_policy_add(s, by, version, rules_revision, json, (const uint8_t *)sig,
		                        strlen(sig), now_us);
	free(json);
	mg_policy_bundle_free(&b);
	return r;
}

int mg_policy_publish(struct mg_store *s, const struct mg_store_actor *by,
                      const struct mg_policy_key *key, int64_t now_us, int64_t validity_us,
                      uint64_t *version_out)
{
	uint64_t latest = 0, revision;
	int r = -EEXIST;

	if (!s || !key)
		return -EINVAL;
	for (int tries = 0; tries < PUBLISH_TRIES && r == -EEXIST; tries++) {
		/* Revision first: a rule change racing the walk gives a newer bundle labelled
		 * with an older revision, which only causes one more publish. */
		if ((r = mg_store_rules_revision(s, &revision)) < 0 ||
		    (r = mg_store_policy_latest(s, &latest)) < 0)
			return r;
		if (latest >= MG_POLICY_U53_MAX)
			return -EOVERFLOW;
		r = mg_policy_publish_version(s, by, key, latest + 1, revision, now_us,
		                              validity_us);
	}
	if (r == 0 && version_out)
		*version_out = latest + 1;
	return r;
}
