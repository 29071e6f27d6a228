/*
 * Keeping the published policy current (docs/API.md, "Policy refresh"): a new version when
 * none exists, when the rules changed since the latest one, and before the latest one runs
 * out; never a new version per check. The refresher is the collector's background thread
 * (serve) that checks every few seconds; rule changes through the admin API publish at once,
 * the refresher catches what they missed (a failed publish, another collector's change, a
 * rule that expired).
 */
#ifndef MG_POLICY_REFRESH_H
#define MG_POLICY_REFRESH_H

#include <stdint.h>

#include "policy_sign.h"
#include "store.h"

/*
 * Publishes the next version, signed with key and recorded as the system's (by NULL), when
 *   (a) no version was ever published;
 *   (b) the rules revision is above the latest version's rules_revision;
 *   (c) now_us reached the latest version's renewal time: issued_at + validity_us / 2, or its
 *       expires_at when earlier (an expiry brought forward to a rule's expiry: the new version
 *       leaves that rule out).
 * Otherwise nothing happens. A version published at now_us renews strictly after now_us, so
 * each event publishes once. When another collector takes the version first, the decision is
 * taken again on the new latest version. *published (optional) gets the new version, 0 when
 * none was needed. 0, -EINVAL (arguments, or a stored rule that is not valid rules text),
 * -EFBIG, -EBADMSG (the latest stored version does not parse), or the store's error.
 */
int mg_policy_refresh(struct mg_store *s, const struct mg_policy_key *key, int64_t now_us,
                      int64_t validity_us, uint64_t *published);

struct mg_policy_refresher_config {
	struct mg_store *store;          /* borrowed */
	const struct mg_policy_key *key; /* borrowed */
	int64_t validity_us;             /* lifetime of a published version */
	unsigned interval_s;             /* between checks, >= 1 */
	/* Called (optional) after each publish, on the refresher's thread. */
	void (*published)(void *ctx, uint64_t version);
	void *ctx;
};

struct mg_policy_refresher;

/*
 * Runs mg_policy_refresh() once in the caller (so a fresh collector serves version 1 before it
 * listens), then on a thread every interval_s until stopped. Publishes are logged (notice) and
 * failures too (error, once until the outcome changes); a failure is never fatal: the next
 * check retries. 0, -EINVAL, -ENOMEM, or pthread_create()'s error (negative).
 */
int mg_policy_refresher_start(const struct mg_policy_refresher_config *cfg,
                              struct mg_policy_refresher **out);
/* Wakes the thread, joins it (promptly: a check in progress finishes first). NULL accepted. */
void mg_policy_refresher_stop(struct mg_policy_refresher **r);

#endif
