/* The order of one attempt: lockout, factors, outcome, events. */
#include "authflow.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "authcore.h"
#include "credstore.h"
#include "fido2_auth.h"
#include "fido2_child.h"
#include "helper_client.h"
#include "messages.h"
#include "mg/time.h"
#include "pam_events.h"
#include "pam_user.h"
#include "safe_dir.h"
#include "staffdb_read.h"

struct flow {
	const struct mg_pam_conf *conf;
	const struct mg_pam_io *io;
	const struct mg_pam_attempt *att;
	bool valid;                /* the user name may be used in paths */
	bool track;                /* an existing account: state is kept */
	bool direct;               /* running as the trusted owner: no helper */
	struct mg_central central; /* staff.db (issue 15): read once per attempt */
	char *why;
	size_t whylen;
};

static uint64_t now_s(void)
{
	return (uint64_t)time(NULL);
}

static bool user_exists(const char *user)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	return getpwnam_r(user, &pw, buf, sizeof(buf), &res) == 0 && res != NULL;
}

static void emit(struct flow *f, enum mg_event_type type, const char *factor,
                 const char *credential, const char *reason, uint64_t failures)
{
	struct mg_pam_event_info info = {
	    .user = f->att->user,
	    .service = f->att->service,
	    .tty = f->att->tty,
	    .rhost = f->att->rhost,
	    .factor = factor,
	    .credential = credential && credential[0] ? credential : NULL,
	    .reason = reason,
	    .failures = failures,
	    .central = type == MG_EV_AUTH_FAILURE ? mg_central_note(&f->central) : NULL,
	};
	char *json = NULL;
	if (mg_pam_event_json(type, &info, &json) == 0 && f->io->event)
		f->io->event(f->io->ctx, json);
	free(json);
}

/* Events for an outcome of factor (status: of the lockout check), as the helper sends them. */
static void report_outcome(struct flow *f, const char *factor, const struct mg_auth_outcome *o,
                           bool status)
{
	struct mg_pam_event_info who = {
	    .user = f->att->user,
	    .service = f->att->service,
	    .tty = f->att->tty,
	    .rhost = f->att->rhost,
	    .central = mg_central_note(&f->central),
	};
	mg_pam_outcome_events(&who, factor, o, status, f->io->event, f->io->ctx);
}

static void report(struct flow *f, const char *factor, const struct mg_auth_outcome *o)
{
	report_outcome(f, factor, o, false);
}

/* The attempt as the helper needs it: the user and the PAM items for its events. */
static struct mg_helper_who helper_who(const struct flow *f)
{
	struct mg_helper_who w = {
	    .user = f->att->user,
	    .service = f->att->service ? f->att->service : "",
	    .tty = f->att->tty,
	    .rhost = f->att->rhost,
	};
	return w;
}

static void say(struct flow *f, bool error, enum mg_pam_msg m)
{
	if (error && f->io->error)
		f->io->error(f->io->ctx, mg_pam_msg(m));
	else if (!error && f->io->info)
		f->io->info(f->io->ctx, mg_pam_msg(m));
}

static void wipe_free(char **s)
{
	if (*s) {
		explicit_bzero(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

/* Counts a refusal that happened outside authcore (no touch, wrong PIN, ...). */
static int count_fail(struct flow *f, const char *reason, struct mg_auth_outcome *o)
{
	if (f->direct)
		return mg_auth_fail(f->conf, f->att->user, f->track, reason, now_s(), o);
	struct mg_helper_who w = helper_who(f);
	return mg_helper_fail(f->conf->helper, &w, reason, o);
}

/* ---- TOTP ---- */

/*
 * A TOTP file that fails its checks (directory, FIFO, too large, symlink, mode, content) is
 * refused before the prompt, counted and reported as after it: nobody types a code that can
 * never be checked. Through the helper the module cannot read the file; the helper checks it.
 */
static int totp_precheck(struct flow *f)
{
	struct mg_totp_cred *cred = NULL;
	struct mg_auth_outcome o;
	if (!f->direct || !f->valid)
		return 0;
	int r = mg_credstore_load_totp(f->conf->credential_dir, f->conf->owner, f->att->user, &cred,
	                               f->why, f->whylen);
	mg_totp_cred_free(&cred);
	if (r == 0 || r == -ENOENT)
		return 0;
	int c = mg_auth_fail(f->conf, f->att->user, f->track, "credential-error", now_s(), &o);
	emit(f, MG_EV_AUTH_FAILURE, "totp", NULL, "credential-error", 0);
	say(f, true, MG_MSG_MISCONFIGURED);
	return c < 0 ? c : r;
}

static int run_totp(struct flow *f)
{
	struct mg_auth_outcome o;
	char *code = NULL;
	int r = totp_precheck(f);
	if (r < 0)
		return r;
	r = f->io->prompt(f->io->ctx, false, mg_pam_msg(MG_MSG_TOTP_PROMPT), &code);
	if (r < 0)
		return r;
	const char *c = code ? code : "";
	struct mg_helper_who w = helper_who(f);
	if (f->direct)
		r = mg_auth_totp(f->conf, f->att->user, f->track, c, now_s(), &o);
	else
		r = mg_helper_totp(f->conf->helper, &w, c, &o);
	wipe_free(&code);
	if (r < 0) {
		if (r == -EBADMSG || r == -EPERM || r == -ELOOP || r == -EINVAL)
			snprintf(f->why, f->whylen,
			         "TOTP credential or state of this user refused");
		emit(f, MG_EV_AUTH_FAILURE, "totp", NULL, "credential-error", 0);
		say(f, true, MG_MSG_MISCONFIGURED);
		return r;
	}
	report(f, "totp", &o);
	if (o.success)
		return 0;
	if (o.reason && strcmp(o.reason, "replay") == 0)
		say(f, true, MG_MSG_CODE_REUSED);
	else if (o.reason && strcmp(o.reason, "locked") == 0)
		say(f, true, MG_MSG_LOCKED);
	else
		say(f, true, MG_MSG_AUTH_FAILED);
	return -EACCES;
}

/* ---- FIDO2 ---- */

static enum mg_pam_msg fido2_msg(enum mg_fido2_status s)
{
	switch (s) {
	case MG_FIDO2_WRONG_PIN:
		return MG_MSG_WRONG_PIN;
	case MG_FIDO2_PIN_BLOCKED:
		return MG_MSG_PIN_BLOCKED;
	case MG_FIDO2_PIN_MISSING:
		return MG_MSG_PIN_MISSING;
	case MG_FIDO2_UV_UNAVAILABLE:
		return MG_MSG_UV_UNAVAILABLE;
	case MG_FIDO2_NOT_REGISTERED:
		return MG_MSG_NOT_REGISTERED;
	case MG_FIDO2_NO_TOUCH:
		return MG_MSG_NO_TOUCH;
	case MG_FIDO2_TIMEOUT:
		return MG_MSG_TIMEOUT;
	case MG_FIDO2_OK:
	case MG_FIDO2_ERROR:
		break;
	}
	return MG_MSG_AUTH_FAILED;
}

/* The verdict on a successful assertion, direct or through the helper. */
static int fido2_finish(struct flow *f, const struct mg_fido2_credfile *creds,
                        const struct mg_fido2_request *req, const struct mg_fido2_assertion *a,
                        struct mg_helper **h, struct mg_auth_outcome *o)
{
	const struct mg_fido2_cred *cred = creds ? &creds->creds[a->allow_index] : NULL;
	if (!cred) /* a key answered for the random id of a user without keys: broken key */
		return h && *h ? mg_helper_fido2_end(h, "key-error", o)
		               : count_fail(f, "key-error", o);
	if (!f->direct)
		return mg_helper_fido2_assert(h, cred->id, cred->id_len, a, o);
	uint64_t sigcount = 0;
	bool uv_done = false;
	int r = mg_fido2_verify(cred, f->conf->rp_id, req->cdh, a->authdata, a->authdata_len,
	                        a->sig, a->sig_len, req->uv_required || cred->uv || a->uv_expected,
	                        &sigcount, &uv_done);
	if (r == -EBADMSG) {
		r = count_fail(f, "bad-signature", o);
		snprintf(o->credential, sizeof(o->credential), "%s", cred->label);
		return r;
	}
	if (r < 0)
		return r;
	return mg_auth_fido2_finish(f->conf, f->att->user, f->track, cred, sigcount, now_s(), o);
}

/*
 * Allowed credentials = local ∪ central (staff.db, only those for conf rp_id; issue 15). The
 * list holds at most MG_FIDO2_MAX_CREDS: local ones first, then central ones not already
 * there (same credential id), as many as fit. 0 or -ENOMEM.
 */
static int add_central(struct flow *f, struct mg_fido2_credfile **creds)
{
	const struct mg_fido2_credfile *c = f->central.creds;
	if (f->central.state != MG_CENTRAL_ACTIVE || !c || c->n == 0)
		return 0;
	if (!*creds && !(*creds = mg_fido2_credfile_new(f->att->user)))
		return -ENOMEM;
	struct mg_fido2_credfile *all = *creds;
	for (size_t i = 0; i < c->n && all->n < MG_FIDO2_MAX_CREDS; i++) {
		bool dup = false;
		for (size_t j = 0; j < all->n && !dup; j++)
			dup = all->creds[j].id_len == c->creds[i].id_len &&
			      memcmp(all->creds[j].id, c->creds[i].id, c->creds[i].id_len) == 0;
		if (!dup)
			all->creds[all->n++] = c->creds[i];
	}
	return 0;
}

#define FIDO2_NO_KEY         1 /* no key present: the next factor is tried */
#define FIDO2_NOT_REGISTERED 2 /* the keys hold none of the user's credentials: likewise */

/* 0 success, -EACCES refused, FIDO2_NO_KEY, FIDO2_NOT_REGISTERED, or negative errno. */
static int run_fido2(struct flow *f)
{
	const struct mg_pam_conf *conf = f->conf;
	struct mg_fido2_credfile *creds = NULL;
	struct mg_fido2_devs *devs = NULL;
	struct mg_helper *h = NULL;
	struct mg_fido2_allow allow[MG_FIDO2_MAX_CREDS];
	struct mg_fido2_request req;
	struct mg_fido2_assertion a;
	struct mg_auth_outcome o;
	enum mg_fido2_status st = MG_FIDO2_ERROR;
	unsigned char dummy[48];
	char *pin = NULL;
	int r;

	memset(&req, 0, sizeof(req));
	memset(&o, 0, sizeof(o));
	if (f->valid && conf->credentials != MG_PAM_CRED_CENTRAL) {
		r = mg_credstore_load_fido2(conf->credential_dir, conf->owner, f->att->user, &creds,
		                            f->why, f->whylen);
		if (r < 0 && r != -ENOENT) {
			emit(f, MG_EV_AUTH_FAILURE, "fido2", NULL, "credential-error", 0);
			say(f, true, MG_MSG_MISCONFIGURED);
			goto out;
		}
	}
	if ((r = add_central(f, &creds)) < 0)
		goto out;
	r = mg_fido2_devs_open(0, &devs);
	if (r == -ENODEV && conf->insert_timeout > 0) {
		say(f, false, MG_MSG_INSERT_KEY);
		r = mg_fido2_devs_open((unsigned)conf->insert_timeout * 1000u, &devs);
	}
	if (r == -ENODEV) {
		r = FIDO2_NO_KEY;
		goto out;
	}
	if (r < 0)
		goto out;

	/* The same exchange for everyone: a user without keys gets a random credential id. */
	bool all_uv = creds && creds->n > 0, any_uv = false;
	if (creds && creds->n > 0) {
		for (size_t i = 0; i < creds->n; i++) {
			allow[i].id = creds->creds[i].id;
			allow[i].len = creds->creds[i].id_len;
			all_uv = all_uv && creds->creds[i].uv;
			any_uv = any_uv || creds->creds[i].uv;
		}
		req.nallow = creds->n;
	} else {
		if (getrandom(dummy, sizeof(dummy), 0) != (ssize_t)sizeof(dummy)) {
			r = -EIO;
			goto out;
		}
		allow[0].id = dummy;
		allow[0].len = sizeof(dummy);
		req.nallow = 1;
		mg_fido2_credfile_free(&creds);
	}
	req.allow = allow;
	req.rp_id = conf->rp_id;
	req.uv_required = conf->uv == MG_PAM_UV_REQUIRED || all_uv;
	req.uv_preferred = conf->uv == MG_PAM_UV_PREFERRED || any_uv;
	req.timeout_ms = (unsigned)conf->fido2_timeout * 1000u;

	if (mg_fido2_needs_pin(devs, req.uv_required, req.uv_preferred)) {
		r = f->io->prompt(f->io->ctx, false, mg_pam_msg(MG_MSG_PIN_PROMPT), &pin);
		if (r < 0)
			goto out;
		req.pin = pin;
	}
	if (f->direct) {
		if (getrandom(req.cdh, sizeof(req.cdh), 0) != (ssize_t)sizeof(req.cdh)) {
			r = -EIO;
			goto out;
		}
	} else {
		struct mg_helper_who w = helper_who(f);
		r = mg_helper_fido2_begin(conf->helper, &w, req.timeout_ms, &h, req.cdh, &o);
		if (r < 0)
			goto out;
		if (!h) { /* refused at once (locked meanwhile) */
			report(f, "fido2", &o);
			say(f, true, MG_MSG_LOCKED);
			r = -EACCES;
			goto out;
		}
	}
	say(f, false, MG_MSG_TOUCH_KEY);
	/* As root: the keys' answers are read and parsed by an unprivileged child. */
	r = mg_fido2_get_assertion_isolated(devs, &req, &st, &a);
	wipe_free(&pin);
	if (r < 0)
		goto out;
	if (st == MG_FIDO2_NOT_REGISTERED) {
		/* Not a guess: nothing is counted and the next factor may follow. */
		say(f, true, MG_MSG_NOT_REGISTERED);
		if (h)
			r = mg_helper_fido2_end(&h, NULL, &o);
		r = r < 0 ? r : FIDO2_NOT_REGISTERED;
		goto out;
	}
	if (st == MG_FIDO2_OK) {
		r = fido2_finish(f, creds, &req, &a, &h, &o);
	} else if (h) {
		r = mg_helper_fido2_end(&h, mg_fido2_status_reason(st), &o);
	} else {
		r = count_fail(f, mg_fido2_status_reason(st), &o);
	}
	if (r < 0)
		goto out;
	if (!o.reason && !o.success)
		o.reason = "refused";
	report(f, "fido2", &o);
	if (o.success) {
		r = 0;
		goto out;
	}
	if (st != MG_FIDO2_OK)
		say(f, true, fido2_msg(st));
	else if (strcmp(o.reason, "locked") == 0)
		say(f, true, MG_MSG_LOCKED);
	else
		say(f, true, MG_MSG_KEY_UNTRUSTED);
	r = -EACCES;
out:
	if (h)
		mg_helper_fido2_end(&h, NULL, &o);
	wipe_free(&pin);
	mg_fido2_devs_free(&devs);
	mg_fido2_credfile_free(&creds);
	return r;
}

int mg_authflow_run(const struct mg_pam_conf *conf, const struct mg_pam_io *io,
                    const struct mg_pam_attempt *att, char *why, size_t whylen)
{
	struct flow f = {.conf = conf, .io = io, .att = att, .why = why, .whylen = whylen};
	struct mg_auth_outcome o;
	bool remote = att->rhost && att->rhost[0];
	bool remote_skipped = false, not_registered = false;
	int r;

	why[0] = '\0';
	f.valid = mg_pam_user_valid(att->user);
	f.track = f.valid && user_exists(att->user);
	f.direct = geteuid() == conf->owner;
	f.central.state = MG_CENTRAL_OFF;
	if (f.valid) {
		/* Once per attempt, also as the user (staff.db is public data, 0644): the allowed
		 * credentials to ask the key for. The decisions read it again themselves (authcore
		 * under the lock; through the helper, the helper as root), never trusting this. */
		char cwhy[320] = "";
		r = mg_central_lookup(conf, att->user, mg_now_us(), true, &f.central, cwhy,
		                      sizeof(cwhy));
		if (r < 0)
			return r;
		if (mg_central_note(&f.central))
			snprintf(why, whylen, "central credentials not used: %s", cwhy);
	}
	if (!f.direct && access(conf->helper, X_OK) != 0) {
		snprintf(why, whylen, "not running as uid %u and %s cannot run",
		         (unsigned)conf->owner, conf->helper);
		say(&f, true, MG_MSG_HELPER_UNAVAILABLE);
		emit(&f, MG_EV_AUTH_FAILURE, NULL, NULL, "helper-unavailable", 0);
		r = -ENOTSUP;
		goto out;
	}

	struct mg_helper_who w = helper_who(&f);
	if (f.direct)
		r = mg_auth_status(conf, att->user, f.track, now_s(), &o);
	else
		r = mg_helper_status(conf->helper, &w, &o);
	if (r < 0) {
		/* A refused state_dir names the directory at fault (issue 13, finding 8). */
		snprintf(why, whylen, "authentication state of this user cannot be used%s%s",
		         f.direct && mg_pam_dir_why()[0] ? ": state_dir refused: " : "",
		         f.direct ? mg_pam_dir_why() : "");
		say(&f, true, MG_MSG_MISCONFIGURED);
		emit(&f, MG_EV_AUTH_FAILURE, NULL, NULL, "state-error", 0);
		goto out;
	}
	if (!o.success && !o.reason)
		o.reason = "locked";
	report_outcome(&f, NULL, &o, true);
	if (!o.success) {
		/* Locked, disabled centrally (or the helper refused to act for this user): refused
		 * without a prompt, on every factor. */
		bool locked = strcmp(o.reason, "locked") == 0;
		say(&f, true,
		    locked                                    ? MG_MSG_LOCKED
		    : strcmp(o.reason, "staff-disabled") == 0 ? MG_MSG_STAFF_DISABLED
		                                              : MG_MSG_HELPER_UNAVAILABLE);
		r = -EACCES;
		goto out;
	}

	for (size_t i = 0; i < conf->nfactors; i++) {
		if (conf->factors[i] == MG_PAM_FACTOR_FIDO2) {
			if (remote && conf->deny_remote) {
				remote_skipped = true;
				continue;
			}
			r = run_fido2(&f);
			if (r <= 0)
				goto out;
			not_registered = not_registered || r == FIDO2_NOT_REGISTERED;
		} else {
			r = run_totp(&f);
			goto out;
		}
	}
	/* No factor could be used: nothing was guessed, nothing is counted. */
	if (not_registered) {
		emit(&f, MG_EV_AUTH_FAILURE, "fido2", NULL, "not-registered", o.failures);
		r = -EACCES;
		goto out;
	}
	say(&f, true, remote_skipped ? MG_MSG_REMOTE_KEY : MG_MSG_NO_FACTOR);
	emit(&f, MG_EV_AUTH_FAILURE, NULL, NULL, remote_skipped ? "remote" : "no-factor", 0);
	r = -ENODEV;
out:
	mg_central_free(&f.central);
	return r;
}
