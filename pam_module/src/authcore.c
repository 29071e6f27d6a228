/* Locked state transactions: lockout, TOTP replay rule, FIDO2 counters. */
#include "authcore.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "authstate.h"
#include "credstore.h"
#include "lockout.h"
#include "totp_auth.h"

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

/* Begins the transaction and applies the lockout check. *locked tells the caller to stop. */
static int begin(const struct mg_pam_conf *conf, const char *user, uint64_t now,
                 struct mg_authstate_txn **txn, struct mg_auth_outcome *out, bool *locked)
{
	int r = mg_authstate_txn_begin(conf->state_dir, conf->owner, user, txn);
	if (r < 0)
		return r;
	struct mg_authstate *st = mg_authstate_txn_state(*txn);
	*locked = mg_lockout_check(st, now, &out->unlocked_now) < 0;
	out->failures = st->failures;
	if (*locked) {
		out->success = false;
		out->reason = "locked";
	}
	return 0;
}

int mg_auth_status(const struct mg_pam_conf *conf, const char *user, bool track, uint64_t now,
                   struct mg_auth_outcome *out)
{
	struct mg_authstate_txn *txn = NULL;
	bool locked = false;
	outcome_init(out);
	out->success = true;
	if (!track)
		return 0;
	int r = begin(conf, user, now, &txn, out, &locked);
	if (r == 0 && out->unlocked_now)
		r = mg_authstate_txn_commit(txn);
	if (r == 0 && !locked)
		out->success = true;
	mg_authstate_txn_end(&txn);
	return r;
}

int mg_auth_totp(const struct mg_pam_conf *conf, const char *user, bool track, const char *code,
                 uint64_t now, struct mg_auth_outcome *out)
{
	struct mg_totp_cred *cred = NULL;
	struct mg_authstate_txn *txn = NULL;
	char why[512];
	bool locked = false;
	int r = 0, load = -ENOENT;

	outcome_init(out);
	if (mg_pam_user_valid(user))
		load = mg_credstore_load_totp(conf->credential_dir, conf->owner, user, &cred, why,
		                              sizeof(why));
	if (load < 0 && load != -ENOENT) {
		/* A file that fails its checks: refuse, counted, and report the error. */
		if (track && (r = begin(conf, user, now, &txn, out, &locked)) == 0 && !locked) {
			count_failure(conf, mg_authstate_txn_state(txn), "credential-error", now,
			              out);
			r = mg_authstate_txn_commit(txn);
		}
		r = r < 0 ? r : load;
		goto out;
	}
	if (!cred) {
		mg_totp_verify_dummy(code, (time_t)now, (unsigned)conf->totp_window);
		out->reason = "no-credential";
		if (track && (r = begin(conf, user, now, &txn, out, &locked)) == 0 && !locked) {
			count_failure(conf, mg_authstate_txn_state(txn), "no-credential", now, out);
			r = mg_authstate_txn_commit(txn);
		}
		goto out;
	}
	snprintf(out->credential, sizeof(out->credential), "%s", cred->label);
	if (!track) { /* cannot happen for a user with a TOTP file, but never accept stateless */
		out->reason = "no-state";
		goto out;
	}
	if ((r = begin(conf, user, now, &txn, out, &locked)) < 0)
		goto out;
	if (locked) {
		if (out->unlocked_now)
			r = mg_authstate_txn_commit(txn);
		goto out;
	}
	struct mg_authstate *st = mg_authstate_txn_state(txn);
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
	r = mg_authstate_txn_commit(txn);
	if (r < 0)
		out->success = false;
out:
	mg_authstate_txn_end(&txn);
	mg_totp_cred_free(&cred);
	return r;
}

int mg_auth_fido2_finish(const struct mg_pam_conf *conf, const char *user, bool track,
                         const struct mg_fido2_cred *cred, uint64_t sigcount, uint64_t now,
                         struct mg_auth_outcome *out)
{
	struct mg_authstate_txn *txn = NULL;
	bool locked = false;
	char idh[65];
	outcome_init(out);
	snprintf(out->credential, sizeof(out->credential), "%s", cred->label);
	if (!track) {
		out->reason = "no-state";
		return 0;
	}
	int r = begin(conf, user, now, &txn, out, &locked);
	if (r < 0)
		goto out;
	struct mg_authstate *st = mg_authstate_txn_state(txn);
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
	if (!locked || out->unlocked_now)
		r = mg_authstate_txn_commit(txn);
	if (r < 0)
		out->success = false;
out:
	mg_authstate_txn_end(&txn);
	return r;
}

int mg_auth_fail(const struct mg_pam_conf *conf, const char *user, bool track, const char *reason,
                 uint64_t now, struct mg_auth_outcome *out)
{
	struct mg_authstate_txn *txn = NULL;
	bool locked = false;
	outcome_init(out);
	out->reason = reason;
	if (!track)
		return 0;
	int r = begin(conf, user, now, &txn, out, &locked);
	if (r == 0 && !locked) {
		count_failure(conf, mg_authstate_txn_state(txn), reason, now, out);
		r = mg_authstate_txn_commit(txn);
	} else if (r == 0 && out->unlocked_now) {
		r = mg_authstate_txn_commit(txn);
	}
	mg_authstate_txn_end(&txn);
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
