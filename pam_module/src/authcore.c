/* Locked state transactions: lockout, TOTP replay rule, FIDO2 counters. */
#include "authcore.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "authstate.h"
#include "credstore.h"
#include "lockout.h"
#include "mg/time.h"
#include "staffdb_read.h"
#include "totp_auth.h"
#include "unknownstate.h"

/*
 * One locked transaction: the user's own state for an existing account (track), else the
 * slot of the name in the table of names without an account (unknownstate.h), so that an
 * unknown name is counted and locked like a known one (issue 13, finding 6).
 */
struct txn {
	struct mg_authstate_txn *known;
	struct mg_unknown_txn *unknown;
	bool dirty; /* changed by begin() itself (central unlock recorded) */
};

static struct mg_authstate *txn_state(struct txn *t)
{
	return t->known ? mg_authstate_txn_state(t->known) : mg_unknown_txn_state(t->unknown);
}

static int txn_commit(struct txn *t)
{
	return t->known ? mg_authstate_txn_commit(t->known) : mg_unknown_txn_commit(t->unknown);
}

static void txn_end(struct txn *t)
{
	mg_authstate_txn_end(&t->known);
	mg_unknown_txn_end(&t->unknown);
}

static void outcome_init(struct mg_auth_outcome *out)
{
	memset(out, 0, sizeof(*out));
}

/* Counts a failure in st (the lock is held) and fills out. */
static void count_failure(const struct mg_pam_conf *conf, struct mg_authstate *st,
                          const char *reason, uint64_t now, struct mg_auth_outcome *out)
{
	mg_lockout_failure(st, conf->deny_after, conf->unlock_after, now, &out->locked_now);
	out->success = false;
	out->reason = reason;
	out->failures = st->failures;
}

/*
 * A central unlock (unlocked_us) newer than the one applied last clears a lockout that began
 * before it, once. The lockout began unlock_after seconds before locked_until (unknown for
 * unlock_after = 0: such a lockout waits for an administrator, and this is one).
 */
static void central_unlock(const struct mg_pam_conf *conf, const struct mg_central *c,
                           struct mg_authstate *st, uint64_t now, struct txn *txn,
                           struct mg_auth_outcome *out)
{
	if (c->unlocked_us <= 0 || (uint64_t)c->unlocked_us > MG_JSON_INT_MAX)
		return;
	uint64_t u = (uint64_t)c->unlocked_us;
	if (u <= mg_authstate_counter_get(st, MG_AUTH_CENTRAL_UNLOCK_KEY))
		return; /* applied already */
	bool clear = false;
	if (st->locked_until != 0 && now < st->locked_until) {
		uint64_t began = 0;
		if (conf->unlock_after != 0 && st->locked_until != MG_JSON_INT_MAX &&
		    st->locked_until >= conf->unlock_after)
			began = st->locked_until - conf->unlock_after;
		clear = began < (u + 999999u) / 1000000u; /* began (s) * 10^6 < u (µs) */
	}
	/* Recorded first: when it cannot be recorded, it is not applied (never twice). */
	if (mg_authstate_counter_set(st, MG_AUTH_CENTRAL_UNLOCK_KEY, u) < 0)
		return;
	txn->dirty = true;
	if (clear && mg_lockout_unlock(st)) {
		out->unlocked_now = true;
		out->unlock_reason = "central";
	}
}

/* Begins the transaction and applies the lockout check. *locked tells the caller to stop. */
static int begin(const struct mg_pam_conf *conf, const char *user, bool track, uint64_t now,
                 struct txn *txn, struct mg_auth_outcome *out, bool *locked)
{
	int r = track ? mg_authstate_txn_begin(conf->state_dir, conf->owner, user, &txn->known)
	              : mg_unknown_txn_begin(conf->state_dir, conf->owner, user ? user : "", now,
	                                     conf->deny_after, conf->unlock_after, &txn->unknown);
	if (r < 0)
		return r;
	struct mg_authstate *st = txn_state(txn);
	struct mg_central c;
	bool disabled = false;
	if (track) {
		/* staff.db's validity to the microsecond: the caller's second (the lockout clock),
		 * refined by the clock when it is the current one (tests pass other times). */
		int64_t now_us = now < (uint64_t)INT64_MAX / 1000000u ? (int64_t)now * 1000000 : 0;
		int64_t real = mg_now_us();
		if (real / 1000000 == now_us / 1000000)
			now_us = real;
		if ((r = mg_central_lookup(conf, user, now_us, false, &c, NULL, 0)) < 0)
			return r;
		disabled = c.state == MG_CENTRAL_DISABLED;
		if (c.state == MG_CENTRAL_ACTIVE || disabled)
			central_unlock(conf, &c, st, now, txn, out);
		mg_central_free(&c);
	}
	bool expired = false;
	*locked = mg_lockout_check(st, now, &expired) < 0;
	out->unlocked_now = out->unlocked_now || expired;
	out->failures = st->failures;
	if (*locked) {
		out->success = false;
		out->reason = "locked";
	}
	if (disabled) { /* refused on every factor, nothing counted */
		*locked = true;
		out->success = false;
		out->reason = "staff-disabled";
	}
	return 0;
}

int mg_auth_status(const struct mg_pam_conf *conf, const char *user, bool track, uint64_t now,
                   struct mg_auth_outcome *out)
{
	struct txn txn = {NULL, NULL, false};
	bool locked = false;
	outcome_init(out);
	out->success = true;
	int r = begin(conf, user, track, now, &txn, out, &locked);
	if (r == 0 && (out->unlocked_now || txn.dirty))
		r = txn_commit(&txn);
	if (r == 0 && !locked)
		out->success = true;
	txn_end(&txn);
	return r;
}

int mg_auth_totp(const struct mg_pam_conf *conf, const char *user, bool track, const char *code,
                 uint64_t now, struct mg_auth_outcome *out)
{
	struct mg_totp_cred *cred = NULL;
	struct txn txn = {NULL, NULL, false};
	char why[512];
	bool locked = false;
	int r = 0, load = -ENOENT;

	outcome_init(out);
	if (mg_pam_user_valid(user))
		load = mg_credstore_load_totp(conf->credential_dir, conf->owner, user, &cred, why,
		                              sizeof(why));
	if (load < 0 && load != -ENOENT) {
		/* A file that fails its checks: refuse, counted, and report the error. */
		if ((r = begin(conf, user, track, now, &txn, out, &locked)) == 0 && !locked) {
			count_failure(conf, txn_state(&txn), "credential-error", now, out);
			r = txn_commit(&txn);
		}
		r = r < 0 ? r : load;
		goto out;
	}
	if (!cred) {
		mg_totp_verify_dummy(code, (time_t)now, (unsigned)conf->totp_window);
		out->reason = "no-credential";
		if ((r = begin(conf, user, track, now, &txn, out, &locked)) == 0 && !locked) {
			count_failure(conf, txn_state(&txn), "no-credential", now, out);
			r = txn_commit(&txn);
		}
		goto out;
	}
	snprintf(out->credential, sizeof(out->credential), "%s", cred->label);
	if (!track) { /* cannot happen for a user with a TOTP file, but never accept stateless */
		out->reason = "no-state";
		goto out;
	}
	if ((r = begin(conf, user, track, now, &txn, out, &locked)) < 0)
		goto out;
	if (locked) {
		if (out->unlocked_now || txn.dirty)
			r = txn_commit(&txn);
		goto out;
	}
	struct mg_authstate *st = txn_state(&txn);
	uint64_t step = 0;
	int v = mg_totp_verify(cred, code, (time_t)now, (unsigned)conf->totp_window,
	                       st->last_totp_step, &step);
	if (v == 0) {
		st->last_totp_step = step;
		mg_lockout_success(st);
		out->success = true;
		out->reason = NULL;
		out->failures = 0;
	} else if (v == -EACCES || v == -EALREADY) {
		count_failure(conf, st, v == -EALREADY ? "replay" : "wrong-code", now, out);
	} else {
		r = v;
		goto out;
	}
	r = txn_commit(&txn);
	if (r < 0)
		out->success = false;
out:
	txn_end(&txn);
	mg_totp_cred_free(&cred);
	return r;
}

int mg_auth_fido2_finish(const struct mg_pam_conf *conf, const char *user, bool track,
                         const struct mg_fido2_cred *cred, uint64_t sigcount, uint64_t now,
                         struct mg_auth_outcome *out)
{
	struct txn txn = {NULL, NULL, false};
	bool locked = false;
	char idh[65];
	outcome_init(out);
	snprintf(out->credential, sizeof(out->credential), "%s", cred->label);
	if (!track) {
		out->reason = "no-state";
		return 0;
	}
	int r = begin(conf, user, track, now, &txn, out, &locked);
	if (r < 0)
		goto out;
	struct mg_authstate *st = txn_state(&txn);
	if (!locked) {
		mg_authstate_id_hash(cred->id, cred->id_len, idh);
		uint64_t stored = mg_authstate_counter_get(st, idh);
		/* A key without a counter always reports 0; otherwise it must go up. */
		if ((sigcount != 0 || stored != 0) && sigcount <= stored) {
			count_failure(conf, st, "counter-regression", now, out);
		} else if ((r = mg_authstate_counter_set(st, idh, sigcount)) < 0) {
			goto out;
		} else {
			mg_lockout_success(st);
			out->success = true;
			out->reason = NULL;
			out->failures = 0;
		}
	}
	if (!locked || out->unlocked_now || txn.dirty)
		r = txn_commit(&txn);
	if (r < 0)
		out->success = false;
out:
	txn_end(&txn);
	return r;
}

int mg_auth_fail(const struct mg_pam_conf *conf, const char *user, bool track, const char *reason,
                 uint64_t now, struct mg_auth_outcome *out)
{
	struct txn txn = {NULL, NULL, false};
	bool locked = false;
	outcome_init(out);
	out->reason = reason;
	int r = begin(conf, user, track, now, &txn, out, &locked);
	if (r == 0 && !locked) {
		count_failure(conf, txn_state(&txn), reason, now, out);
		r = txn_commit(&txn);
	} else if (r == 0 && (out->unlocked_now || txn.dirty)) {
		r = txn_commit(&txn);
	}
	txn_end(&txn);
	return r;
}

int mg_auth_unlock(const struct mg_pam_conf *conf, const char *user, struct mg_auth_outcome *out)
{
	struct mg_authstate_txn *txn = NULL;
	outcome_init(out);
	int r = mg_authstate_txn_begin(conf->state_dir, conf->owner, user, &txn);
	if (r < 0)
		return r;
	struct mg_authstate *st = mg_authstate_txn_state(txn);
	out->failures = st->failures;
	out->success = mg_lockout_unlock(st);
	r = mg_authstate_txn_commit(txn);
	mg_authstate_txn_end(&txn);
	return r;
}

int mg_auth_forget_counter(const struct mg_pam_conf *conf, const char *user,
                           const struct mg_fido2_cred *cred)
{
	struct mg_authstate_txn *txn = NULL;
	char idh[65];
	int r = mg_authstate_txn_begin(conf->state_dir, conf->owner, user, &txn);
	if (r < 0)
		return r;
	mg_authstate_id_hash(cred->id, cred->id_len, idh);
	mg_authstate_counter_remove(mg_authstate_txn_state(txn), idh);
	r = mg_authstate_txn_commit(txn);
	mg_authstate_txn_end(&txn);
	return r;
}
