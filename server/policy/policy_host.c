/* Per-host policy bundles and their cache (policy_host.h). */
#include "policy_host.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define U53_MAX ((INT64_C(1) << 53) - 1)

int mg_policy_host_view(const struct mg_policy_bundle *global, int64_t host_id,
                        struct mg_policy_host_view *out)
{
	if (!global || !out || host_id < 1 || host_id > U53_MAX)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->b.version = global->version;
	out->b.issued_us = global->issued_us;
	out->b.expires_us = global->expires_us;
	out->b.all_hosts = false;
	out->scope[0] = host_id;
	out->b.scope_hosts = out->scope;
	out->b.n_scope_hosts = 1;
	out->b.rules = global->rules;
	out->b.staff = global->staff; /* staff log in at any terminal (issue 15) */
	/* Only this host's own entry; every other host's rules stay out. */
	for (size_t i = 0; i < global->n_hosts; i++) {
		if (global->hosts[i].host_id == host_id) {
			out->b.hosts = &global->hosts[i];
			out->b.n_hosts = 1;
			break;
		}
	}
	return 0;
}

/* JSON and signature of host_id's view of global. */
static int sign_view(const struct mg_policy_key *key, const struct mg_policy_bundle *global,
                     int64_t host_id, char **json, size_t *len, char sig[MG_POLICY_SIG_B64_SIZE])
{
	struct mg_policy_host_view v;
	char *j = NULL;
	size_t n = 0;
	int r = mg_policy_host_view(global, host_id, &v);
	if (r == 0)
		r = mg_policy_bundle_to_json(&v.b, &j, &n);
	if (r == 0)
		r = mg_policy_sign(key, j, n, sig);
	if (r < 0) {
		free(j);
		return r;
	}
	*json = j;
	*len = n;
	return 0;
}

static int parse_global(const struct mg_store_policy *p, struct mg_policy_bundle **out)
{
	char err[128];
	int r = mg_policy_bundle_parse(p->json, p->json_len, out, err, sizeof(err));
	if (r == 0 && (*out)->version != p->version) {
		mg_policy_bundle_free(out);
		r = -EINVAL;
	}
	return r < 0 && r != -ENOMEM ? -EINVAL : r;
}

int mg_policy_host_sign(const struct mg_policy_key *key, const struct mg_store_policy *p,
                        int64_t host_id, char **json, size_t *len, char sig[MG_POLICY_SIG_B64_SIZE])
{
	struct mg_policy_bundle *g = NULL;
	int r;
	if (!key || !p || !p->json || !json || !len || !sig)
		return -EINVAL;
	r = parse_global(p, &g);
	if (r == 0)
		r = sign_view(key, g, host_id, json, len, sig);
	mg_policy_bundle_free(&g);
	return r;
}

/* ---- the cache ---- */

/* A parsed global version, shared by the builds that use it. */
struct global {
	struct mg_policy_bundle *b;
	unsigned refs;
};

struct entry {
	int64_t host_id;
	uint64_t version;
	char *json;
	size_t len;
	char sig[MG_POLICY_SIG_B64_SIZE];
	uint64_t used; /* tick of the last use: the least recently used goes first */
};

struct mg_policy_cache {
	pthread_mutex_t lock;
	struct entry *e;
	size_t n, max_hosts, bytes, max_bytes;
	uint64_t tick;
	struct global *g; /* the newest global parsed; NULL: none */
};

int mg_policy_cache_new(size_t max_hosts, size_t max_bytes, struct mg_policy_cache **out)
{
	struct mg_policy_cache *c;
	if (!out || max_hosts < 1 || max_bytes < 1)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
		free(c);
		return -ENOMEM;
	}
	c->max_hosts = max_hosts;
	c->max_bytes = max_bytes;
	*out = c;
	return 0;
}

static void global_put(struct global *g)
{
	if (g && --g->refs == 0) {
		mg_policy_bundle_free(&g->b);
		free(g);
	}
}

void mg_policy_cache_free(struct mg_policy_cache **c)
{
	if (!c || !*c)
		return;
	for (size_t i = 0; i < (*c)->n; i++)
		free((*c)->e[i].json);
	free((*c)->e);
	global_put((*c)->g);
	pthread_mutex_destroy(&(*c)->lock);
	free(*c);
	*c = NULL;
}

static struct entry *find(struct mg_policy_cache *c, int64_t host_id)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->e[i].host_id == host_id)
			return &c->e[i];
	return NULL;
}

static void drop(struct mg_policy_cache *c, size_t i)
{
	c->bytes -= c->e[i].len;
	free(c->e[i].json);
	c->e[i] = c->e[--c->n];
}

static int copy_out(const struct entry *e, char **json, size_t *len,
                    char sig[MG_POLICY_SIG_B64_SIZE])
{
	char *j = malloc(e->len + 1);
	if (!j)
		return -ENOMEM;
	memcpy(j, e->json, e->len + 1);
	*json = j;
	*len = e->len;
	memcpy(sig, e->sig, MG_POLICY_SIG_B64_SIZE);
	return 0;
}

int mg_policy_cache_lookup(struct mg_policy_cache *c, int64_t host_id, uint64_t version,
                           char **json, size_t *len, char sig[MG_POLICY_SIG_B64_SIZE])
{
	int r = -ENOENT;
	if (!c || !json || !len || !sig)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	struct entry *e = find(c, host_id);
	if (e && e->version == version) {
		e->used = ++c->tick;
		r = copy_out(e, json, len, sig);
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* Keeps a copy of host_id's bundle; the least recently used go while a bound is passed. An
 * entry of more than a quarter of the byte bound is not kept. Called with the lock held. */
static void insert(struct mg_policy_cache *c, int64_t host_id, uint64_t version, const char *json,
                   size_t len, const char sig[MG_POLICY_SIG_B64_SIZE])
{
	struct entry *e = find(c, host_id);
	char *copy;
	if (e) {
		if (e->version >= version)
			return; /* as new already */
		drop(c, (size_t)(e - c->e));
	}
	if (len > c->max_bytes / 4)
		return;
	while (c->n > 0 && (c->n >= c->max_hosts || c->bytes + len > c->max_bytes)) {
		size_t old = 0;
		for (size_t i = 1; i < c->n; i++)
			if (c->e[i].used < c->e[old].used)
				old = i;
		drop(c, old);
	}
	if (c->n == 0 && !c->e) {
		c->e = calloc(c->max_hosts, sizeof(*c->e));
		if (!c->e)
			return; /* served uncached */
	}
	if (!(copy = malloc(len + 1)))
		return;
	memcpy(copy, json, len + 1);
	e = &c->e[c->n++];
	e->host_id = host_id;
	e->version = version;
	e->json = copy;
	e->len = len;
	memcpy(e->sig, sig, MG_POLICY_SIG_B64_SIZE);
	e->used = ++c->tick;
	c->bytes += len;
}

int mg_policy_cache_build(struct mg_policy_cache *c, const struct mg_policy_key *key,
                          const struct mg_store_policy *p, uint64_t version, int64_t host_id,
                          char **json, size_t *len, char sig[MG_POLICY_SIG_B64_SIZE])
{
	struct global *g = NULL;
	char *j = NULL;
	size_t n = 0;
	int r;
	if (!c || !key || !json || !len || !sig || (p && (!p->json || p->version != version)))
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	if (c->g && c->g->b->version == version) {
		g = c->g;
		g->refs++;
	}
	pthread_mutex_unlock(&c->lock);
	if (!g && !p)
		return -ENOENT;
	if (!g) {
		/* Parsed outside the lock; kept when it is the newest version seen. */
		g = calloc(1, sizeof(*g));
		if (!g)
			return -ENOMEM;
		g->refs = 1;
		r = parse_global(p, &g->b);
		if (r < 0) {
			free(g);
			return r;
		}
		pthread_mutex_lock(&c->lock);
		if (!c->g || c->g->b->version < version) {
			global_put(c->g);
			c->g = g;
			g->refs++;
		}
		pthread_mutex_unlock(&c->lock);
	}
	r = sign_view(key, g->b, host_id, &j, &n, sig);
	pthread_mutex_lock(&c->lock);
	global_put(g);
	if (r == 0)
		insert(c, host_id, version, j, n, sig);
	pthread_mutex_unlock(&c->lock);
	if (r < 0)
		return r;
	*json = j;
	*len = n;
	return 0;
}

void mg_policy_cache_stats(struct mg_policy_cache *c, size_t *hosts, size_t *bytes)
{
	pthread_mutex_lock(&c->lock);
	if (hosts)
		*hosts = c->n;
	if (bytes)
		*bytes = c->bytes;
	pthread_mutex_unlock(&c->lock);
}
