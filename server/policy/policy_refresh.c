/* The policy refresh: when to publish (mg_policy_refresh) and the serve thread that asks. */
#include "policy_refresh.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mg/log.h"
#include "mg/time.h"
#include "policy_build.h"

#define REFRESH_TRIES 3

/* What the decision needs of the latest stored version. */
struct latest {
	uint64_t version; /* 0: none */
	uint64_t rules_revision;
	int64_t issued_us, expires_us;
};

static int latest_get(struct mg_store *s, struct latest *out)
{
	struct mg_store_policy *p = NULL;
	struct mg_policy_bundle *b = NULL;
	int r = mg_store_policy_get(s, 0, &p);
	if (r == -ENOENT) {
		memset(out, 0, sizeof(*out));
		return 0;
	}
	if (r < 0)
		return r;
	r = mg_policy_bundle_parse(p->json, p->json_len, &b, NULL, 0);
	if (r == 0) {
		out->version = p->version;
		out->rules_revision = p->rules_revision;
		out->issued_us = b->issued_us;
		out->expires_us = b->expires_us;
	} else if (r == -EINVAL || r == -EFBIG) {
		r = -EBADMSG;
	}
	mg_policy_bundle_free(&b);
	mg_store_policy_free(&p);
	return r;
}

static bool due(const struct latest *l, uint64_t revision, int64_t now_us, int64_t validity_us)
{
	int64_t renew = l->expires_us;
	if (l->version == 0 || revision > l->rules_revision)
		return true;
	if (l->issued_us <= INT64_MAX - validity_us / 2 && l->issued_us + validity_us / 2 < renew)
		renew = l->issued_us + validity_us / 2;
	return now_us >= renew;
}

int mg_policy_refresh(struct mg_store *s, const struct mg_policy_key *key, int64_t now_us,
                      int64_t validity_us, uint64_t *published)
{
	struct latest l;
	uint64_t revision = 0;
	int r = -EEXIST;
	if (!s || !key || now_us <= 0 || validity_us < 2)
		return -EINVAL;
	for (int tries = 0; tries < REFRESH_TRIES && r == -EEXIST; tries++) {
		/* Revision first, as mg_policy_publish() does: a rule change racing the build
		 * gives a newer bundle labelled with the older revision, so one more publish. */
		if ((r = mg_store_rules_revision(s, &revision)) < 0 || (r = latest_get(s, &l)) < 0)
			return r;
		if (!due(&l, revision, now_us, validity_us)) {
			if (published)
				*published = 0;
			return 0;
		}
		if (l.version >= MG_POLICY_U53_MAX)
			return -EOVERFLOW;
		r = mg_policy_publish_version(s, NULL, key, l.version + 1, revision, now_us,
		                              validity_us);
	}
	if (r == 0 && published)
		*published = l.version + 1;
	return r;
}

/* ---- the serve thread ---- */

struct mg_policy_refresher {
	struct mg_policy_refresher_config cfg;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stopping;
	int last_err; /* outcome of the previous check, so a lasting failure is logged once */
};

static void check(struct mg_policy_refresher *pr)
{
	uint64_t v = 0;
	int r = mg_policy_refresh(pr->cfg.store, pr->cfg.key, mg_now_us(), pr->cfg.validity_us, &v);
	if (r < 0 && r != pr->last_err)
		mg_log_errno(MG_LOG_ERR, r, "policy refresh: cannot publish a policy version");
	else if (r == 0 && pr->last_err < 0)
		mg_notice("policy refresh: working again");
	pr->last_err = r;
	if (r == 0 && v > 0) {
		mg_notice("published policy version %llu", (unsigned long long)v);
		if (pr->cfg.published)
			pr->cfg.published(pr->cfg.ctx, v);
	}
}

static void *refresher_main(void *arg)
{
	struct mg_policy_refresher *pr = arg;
	struct timespec at;
	pthread_mutex_lock(&pr->mu);
	while (!pr->stopping) {
		clock_gettime(CLOCK_MONOTONIC, &at);
		at.tv_sec += (time_t)pr->cfg.interval_s;
		while (!pr->stopping && pthread_cond_timedwait(&pr->cv, &pr->mu, &at) != ETIMEDOUT)
			;
		if (pr->stopping)
			break;
		pthread_mutex_unlock(&pr->mu);
		check(pr);
		pthread_mutex_lock(&pr->mu);
	}
	pthread_mutex_unlock(&pr->mu);
	return NULL;
}

int mg_policy_refresher_start(const struct mg_policy_refresher_config *cfg,
                              struct mg_policy_refresher **out)
{
	struct mg_policy_refresher *pr;
	pthread_condattr_t attr;
	int r;
	if (!cfg || !cfg->store || !cfg->key || cfg->interval_s < 1 || cfg->validity_us < 2 || !out)
		return -EINVAL;
	pr = calloc(1, sizeof(*pr));
	if (!pr)
		return -ENOMEM;
	pr->cfg = *cfg;
	pthread_mutex_init(&pr->mu, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&pr->cv, &attr);
	pthread_condattr_destroy(&attr);
	check(pr);
	r = pthread_create(&pr->thread, NULL, refresher_main, pr);
	if (r != 0) {
		pthread_cond_destroy(&pr->cv);
		pthread_mutex_destroy(&pr->mu);
		free(pr);
		return -r;
	}
	*out = pr;
	return 0;
}

void mg_policy_refresher_stop(struct mg_policy_refresher **p)
{
	struct mg_policy_refresher *pr;
	if (!p || !*p)
		return;
	pr = *p;
	pthread_mutex_lock(&pr->mu);
	pr->stopping = true;
	pthread_cond_signal(&pr->cv);
	pthread_mutex_unlock(&pr->mu);
	pthread_join(pr->thread, NULL);
	pthread_cond_destroy(&pr->cv);
	pthread_mutex_destroy(&pr->mu);
	free(pr);
	*p = NULL;
}
