/* libfido2: all present keys asked at once, bounded by a deadline, then verified. */
#include "fido2_auth.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fido.h>
#include <fido/eddsa.h>
#include <fido/es256.h>
#include <fido/rs256.h>

#define POLL_MS 200

struct mg_fido2_devs {
	size_t n;
	fido_dev_t *dev[MG_FIDO2_MAX_DEVS];
	char path[MG_FIDO2_MAX_DEVS][256];
	char name[MG_FIDO2_MAX_DEVS][128];
};

const char *mg_fido2_status_reason(enum mg_fido2_status s)
{
	switch (s) {
	case MG_FIDO2_OK:
		return NULL;
	case MG_FIDO2_NOT_REGISTERED:
		return "not-registered";
	case MG_FIDO2_NO_TOUCH:
		return "no-touch";
	case MG_FIDO2_TIMEOUT:
		return "timeout";
	case MG_FIDO2_WRONG_PIN:
		return "wrong-pin";
	case MG_FIDO2_PIN_BLOCKED:
		return "pin-blocked";
	case MG_FIDO2_PIN_MISSING:
		return "pin-missing";
	case MG_FIDO2_UV_UNAVAILABLE:
		return "uv-unavailable";
	case MG_FIDO2_ERROR:
		break;
	}
	return "key-error";
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void mg_fido2_devs_free(struct mg_fido2_devs **d)
{
	if (!d || !*d)
		return;
	for (size_t i = 0; i < (*d)->n; i++) {
		fido_dev_close((*d)->dev[i]);
		fido_dev_free(&(*d)->dev[i]);
	}
	free(*d);
	*d = NULL;
}

/* One pass over the manifest: opens what it lists. */
static int open_present(struct mg_fido2_devs *d)
{
	size_t found = 0;
	fido_dev_info_t *list = fido_dev_info_new(MG_FIDO2_MAX_DEVS);
	if (!list)
		return -ENOMEM;
	if (fido_dev_info_manifest(list, MG_FIDO2_MAX_DEVS, &found) != FIDO_OK)
		found = 0;
	for (size_t i = 0; i < found && d->n < MG_FIDO2_MAX_DEVS; i++) {
		const fido_dev_info_t *di = fido_dev_info_ptr(list, i);
		const char *path = fido_dev_info_path(di);
		if (!path || strlen(path) >= sizeof(d->path[0]))
			continue;
		fido_dev_t *dev = fido_dev_new();
		if (!dev)
			continue;
		if (fido_dev_open(dev, path) != FIDO_OK) {
			fido_dev_free(&dev);
			continue;
		}
		snprintf(d->path[d->n], sizeof(d->path[0]), "%s", path);
		snprintf(d->name[d->n], sizeof(d->name[0]), "%s %s",
		         fido_dev_info_manufacturer_string(di)
		             ? fido_dev_info_manufacturer_string(di)
		             : "",
		         fido_dev_info_product_string(di) ? fido_dev_info_product_string(di) : "");
		d->dev[d->n++] = dev;
	}
	fido_dev_info_free(&list, MG_FIDO2_MAX_DEVS);
	return 0;
}

int mg_fido2_devs_open(unsigned wait_ms, struct mg_fido2_devs **out)
{
	struct mg_fido2_devs *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	fido_init(0);
	uint64_t deadline = mono_ms() + wait_ms;
	int r;
	for (;;) {
		if ((r = open_present(d)) < 0)
			break;
		if (d->n > 0)
			break;
		uint64_t now = mono_ms();
		if (now >= deadline) {
			r = -ENODEV;
			break;
		}
		sleep_ms((unsigned)(deadline - now < POLL_MS ? deadline - now : POLL_MS));
	}
	if (r == 0) {
		*out = d;
		d = NULL;
	}
	mg_fido2_devs_free(&d);
	return r;
}

size_t mg_fido2_devs_count(const struct mg_fido2_devs *d)
{
	return d ? d->n : 0;
}

const char *mg_fido2_devs_path(const struct mg_fido2_devs *d, size_t i)
{
	return i < d->n ? d->path[i] : NULL;
}

const char *mg_fido2_devs_name(const struct mg_fido2_devs *d, size_t i)
{
	return i < d->n ? d->name[i] : NULL;
}

void *mg_fido2_devs_dev(struct mg_fido2_devs *d, size_t i)
{
	return i < d->n ? d->dev[i] : NULL;
}

enum dev_mode { MODE_UP, MODE_UV_BUILTIN, MODE_UV_PIN, MODE_PIN_MISSING, MODE_UNUSABLE };

static enum dev_mode dev_mode(fido_dev_t *dev, bool uv_required, bool uv_preferred, bool pin_given)
{
	if (!uv_required && !uv_preferred)
		return MODE_UP;
	if (fido_dev_has_uv(dev))
		return MODE_UV_BUILTIN;
	if (fido_dev_has_pin(dev)) {
		/* A key with a PIN set needs it under "preferred" too: an empty PIN is no
		 * touch-only downgrade (issue 13, finding 7). */
		if (pin_given)
			return MODE_UV_PIN;
		return MODE_PIN_MISSING;
	}
	return uv_required ? MODE_UNUSABLE : MODE_UP;
}

bool mg_fido2_key_asks_uv(const struct mg_fido2_devs *d, size_t i,
                          const struct mg_fido2_request *req)
{
	if (i >= d->n)
		return true; /* no such key: the strict answer */
	enum dev_mode m =
	    dev_mode(d->dev[i], req->uv_required, req->uv_preferred, req->pin && req->pin[0]);
	return m == MODE_UV_PIN || m == MODE_UV_BUILTIN;
}

bool mg_fido2_needs_pin(const struct mg_fido2_devs *d, bool uv_required, bool uv_preferred)
{
	for (size_t i = 0; i < d->n; i++)
		if (dev_mode(d->dev[i], uv_required, uv_preferred, true) == MODE_UV_PIN)
			return true;
	return false;
}

static enum mg_fido2_status map_rc(int rc)
{
	switch (rc) {
	case FIDO_OK:
		return MG_FIDO2_OK;
	case FIDO_ERR_NO_CREDENTIALS:
		return MG_FIDO2_NOT_REGISTERED;
	case FIDO_ERR_OPERATION_DENIED:
	case FIDO_ERR_USER_ACTION_TIMEOUT:
	case FIDO_ERR_ACTION_TIMEOUT:
	case FIDO_ERR_UP_REQUIRED:
		return MG_FIDO2_NO_TOUCH;
	case FIDO_ERR_PIN_INVALID:
	case FIDO_ERR_PIN_AUTH_INVALID:
	case FIDO_ERR_UV_INVALID:
		return MG_FIDO2_WRONG_PIN;
	case FIDO_ERR_PIN_BLOCKED:
	case FIDO_ERR_PIN_AUTH_BLOCKED:
	case FIDO_ERR_UV_BLOCKED:
		return MG_FIDO2_PIN_BLOCKED;
	case FIDO_ERR_PIN_REQUIRED:
		return MG_FIDO2_PIN_MISSING;
	case FIDO_ERR_PIN_NOT_SET:
	case FIDO_ERR_UNSUPPORTED_OPTION:
		return MG_FIDO2_UV_UNAVAILABLE;
	case FIDO_ERR_KEEPALIVE_CANCEL:
		return MG_FIDO2_TIMEOUT;
	default:
		return MG_FIDO2_ERROR;
	}
}

/* Which failure to report when no key succeeded: the most telling one. */
static int rank(enum mg_fido2_status s)
{
	static const int ranks[] = {
	    [MG_FIDO2_OK] = 100,      [MG_FIDO2_WRONG_PIN] = 90,   [MG_FIDO2_PIN_BLOCKED] = 85,
	    [MG_FIDO2_NO_TOUCH] = 70, [MG_FIDO2_PIN_MISSING] = 60, [MG_FIDO2_UV_UNAVAILABLE] = 55,
	    [MG_FIDO2_TIMEOUT] = 50,  [MG_FIDO2_ERROR] = 20,       [MG_FIDO2_NOT_REGISTERED] = 10,
	};
	return ranks[s];
}

struct job {
	struct shared *sh;
	fido_dev_t *dev;
	fido_assert_t *assert;
	const char *pin;
	bool uv; /* asked with the PIN or built-in UV */
	pthread_t thread;
	bool started;
	bool done;
	int rc;
};

struct shared {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	size_t done;
	bool winner;
};

static void *job_run(void *arg)
{
	struct job *j = arg;
	int rc = fido_dev_get_assert(j->dev, j->assert, j->pin);
	pthread_mutex_lock(&j->sh->mu);
	j->rc = rc;
	j->done = true;
	j->sh->done++;
	if (rc == FIDO_OK)
		j->sh->winner = true;
	pthread_cond_signal(&j->sh->cond);
	pthread_mutex_unlock(&j->sh->mu);
	return NULL;
}

static int prepare(const struct mg_fido2_request *req, enum dev_mode mode, fido_assert_t **out)
{
	fido_assert_t *a = fido_assert_new();
	int r = -EINVAL;
	if (!a)
		return -ENOMEM;
	if (fido_assert_set_rp(a, req->rp_id) != FIDO_OK ||
	    fido_assert_set_clientdata_hash(a, req->cdh, sizeof(req->cdh)) != FIDO_OK ||
	    fido_assert_set_up(a, FIDO_OPT_TRUE) != FIDO_OK ||
	    fido_assert_set_uv(a, mode == MODE_UV_BUILTIN ? FIDO_OPT_TRUE : FIDO_OPT_OMIT) !=
	        FIDO_OK)
		goto fail;
	for (size_t i = 0; i < req->nallow; i++)
		if (fido_assert_allow_cred(a, req->allow[i].id, req->allow[i].len) != FIDO_OK)
			goto fail;
	*out = a;
	return 0;
fail:
	fido_assert_free(&a);
	return r;
}

/* The PIN goes only to a key that holds an allowed credential (issue 13, finding 4): a
 * silent request first (up = false, no PIN, no UV) tells which keys hold one, so no other
 * key, rogue or not, receives the PIN or loses a retry. Anything but a yes leaves the key out
 * (fail closed). */
static enum mg_fido2_status probe(const struct mg_fido2_request *req, fido_dev_t *dev)
{
	fido_assert_t *a = NULL;
	if (prepare(req, MODE_UV_PIN, &a) < 0)
		return MG_FIDO2_ERROR;
	int rc = FIDO_ERR_INTERNAL;
	if (fido_assert_set_up(a, FIDO_OPT_FALSE) == FIDO_OK)
		rc = fido_dev_get_assert(dev, a, NULL);
	fido_assert_free(&a);
	if (rc == FIDO_OK)
		return MG_FIDO2_OK;
	return rc == FIDO_ERR_NO_CREDENTIALS ? MG_FIDO2_NOT_REGISTERED : MG_FIDO2_ERROR;
}

/* Copies the winning statement; MG_FIDO2_ERROR when it is malformed. */
static enum mg_fido2_status collect(const struct mg_fido2_request *req, const fido_assert_t *a,
                                    struct mg_fido2_assertion *out)
{
	if (fido_assert_count(a) < 1)
		return MG_FIDO2_ERROR;
	const unsigned char *id = fido_assert_id_ptr(a, 0);
	size_t idlen = fido_assert_id_len(a, 0), idx = req->nallow;
	if (idlen == 0 && req->nallow == 1)
		idx = 0;
	for (size_t i = 0; idlen > 0 && i < req->nallow; i++)
		if (req->allow[i].len == idlen && memcmp(req->allow[i].id, id, idlen) == 0)
			idx = i;
	size_t alen = fido_assert_authdata_len(a, 0), slen = fido_assert_sig_len(a, 0);
	if (idx == req->nallow || alen == 0 || alen > sizeof(out->authdata) || slen == 0 ||
	    slen > sizeof(out->sig))
		return MG_FIDO2_ERROR;
	out->allow_index = idx;
	memcpy(out->authdata, fido_assert_authdata_ptr(a, 0), alen);
	out->authdata_len = alen;
	memcpy(out->sig, fido_assert_sig_ptr(a, 0), slen);
	out->sig_len = slen;
	return MG_FIDO2_OK;
}

int mg_fido2_get_assertion(struct mg_fido2_devs *d, const struct mg_fido2_request *req,
                           enum mg_fido2_status *status, struct mg_fido2_assertion *out)
{
	struct shared sh = {.done = 0, .winner = false};
	struct job jobs[MG_FIDO2_MAX_DEVS];
	enum mg_fido2_status best = MG_FIDO2_NOT_REGISTERED;
	bool pin_given = req->pin && req->pin[0];
	size_t started = 0;
	bool timed_out = false;
	pthread_condattr_t ca;
	int r = 0;

	memset(jobs, 0, sizeof(jobs));
	if (d->n == 0) {
		*status = MG_FIDO2_ERROR;
		return 0;
	}
	pthread_mutex_init(&sh.mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sh.cond, &ca);
	pthread_condattr_destroy(&ca);

	for (size_t i = 0; i < d->n; i++) {
		struct job *j = &jobs[i];
		enum dev_mode mode =
		    dev_mode(d->dev[i], req->uv_required, req->uv_preferred, pin_given);
		j->sh = &sh;
		j->dev = d->dev[i];
		if (mode == MODE_PIN_MISSING || mode == MODE_UNUSABLE) {
			enum mg_fido2_status s = mode == MODE_PIN_MISSING ? MG_FIDO2_PIN_MISSING
			                                                  : MG_FIDO2_UV_UNAVAILABLE;
			if (rank(s) > rank(best))
				best = s;
			continue;
		}
		/* A backstop in case a key ignores the cancel: libfido2's own bound. */
		fido_dev_set_timeout(j->dev, (int)req->timeout_ms + 2000);
		if (mode == MODE_UV_PIN) {
			enum mg_fido2_status s = probe(req, j->dev);
			if (s != MG_FIDO2_OK) {
				if (rank(s) > rank(best))
					best = s;
				continue;
			}
		}
		if ((r = prepare(req, mode, &j->assert)) < 0)
			goto out;
		j->pin = mode == MODE_UV_PIN ? req->pin : NULL;
		j->uv = mode == MODE_UV_PIN || mode == MODE_UV_BUILTIN;
		if (pthread_create(&j->thread, NULL, job_run, j) != 0) {
			r = -EAGAIN;
			goto out;
		}
		j->started = true;
		started++;
	}

	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += (time_t)(req->timeout_ms / 1000);
	deadline.tv_nsec += (long)(req->timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&sh.mu);
	while (!sh.winner && sh.done < started) {
		if (pthread_cond_timedwait(&sh.cond, &sh.mu, &deadline) == ETIMEDOUT) {
			timed_out = !sh.winner && sh.done < started;
			break;
		}
	}
	pthread_mutex_unlock(&sh.mu);

out:
	/* Cancel whatever still waits for a touch, then wait for every thread. */
	for (size_t i = 0; i < d->n; i++) {
		pthread_mutex_lock(&sh.mu);
		bool running = jobs[i].started && !jobs[i].done;
		pthread_mutex_unlock(&sh.mu);
		if (running)
			fido_dev_cancel(jobs[i].dev);
	}
	for (size_t i = 0; i < d->n; i++)
		if (jobs[i].started)
			pthread_join(jobs[i].thread, NULL);
	if (r == 0) {
		bool won = false;
		for (size_t i = 0; i < d->n && !won; i++) {
			if (!jobs[i].started)
				continue;
			enum mg_fido2_status s = map_rc(jobs[i].rc);
			if (s == MG_FIDO2_OK) {
				s = collect(req, jobs[i].assert, out);
				won = s == MG_FIDO2_OK;
				if (won) {
					out->uv_expected = jobs[i].uv;
					out->key_index = i;
				}
			}
			if (won || rank(s) > rank(best))
				best = s;
		}
		if (!won && timed_out && rank(best) < rank(MG_FIDO2_NO_TOUCH))
			best = MG_FIDO2_TIMEOUT;
		*status = best;
	}
	for (size_t i = 0; i < d->n; i++)
		fido_assert_free(&jobs[i].assert);
	pthread_cond_destroy(&sh.cond);
	pthread_mutex_destroy(&sh.mu);
	return r;
}

/*
 * Before libfido2 decodes it as root: authdata must be one definite CBOR byte string (header
 * and length exact, nothing after it) holding rpIdHash | flags | signCount, without attested
 * credential data (AT, 0x40) or extensions (ED, 0x80), which an assertion we asked for never
 * carries. So the only CBOR root reads from a key's answer is this header, checked here.
 */
static bool authdata_plain(const unsigned char *ad, size_t len)
{
	size_t hdr, n;
	if (len < 1 || (ad[0] & 0xe0) != 0x40)
		return false;
	if (ad[0] < 0x58) {
		hdr = 1;
		n = ad[0] & 0x1fu;
	} else if (ad[0] == 0x58 && len >= 2) {
		hdr = 2;
		n = ad[1];
	} else if (ad[0] == 0x59 && len >= 3) {
		hdr = 3;
		n = (size_t)ad[1] << 8 | ad[2];
	} else {
		return false;
	}
	if (n != len - hdr || n < 37)
		return false;
	return (ad[hdr + 32] & 0xc0) == 0;
}

int mg_fido2_verify(const struct mg_fido2_cred *cred, const char *rp_id,
                    const unsigned char cdh[MG_FIDO2_CDH_LEN], const unsigned char *authdata,
                    size_t authdata_len, const unsigned char *sig, size_t sig_len, bool uv_required,
                    uint64_t *sigcount, bool *uv_done)
{
	fido_assert_t *a = fido_assert_new();
	es256_pk_t *es = NULL;
	rs256_pk_t *rs = NULL;
	eddsa_pk_t *ed = NULL;
	const void *pk = NULL;
	int r = -EINVAL;

	if (!a)
		return -ENOMEM;
	if (!authdata_plain(authdata, authdata_len)) {
		r = -EBADMSG;
		goto out;
	}
	switch (cred->cose_alg) {
	case MG_COSE_ES256:
		if ((es = es256_pk_new()) &&
		    es256_pk_from_ptr(es, cred->pk, cred->pk_len) == FIDO_OK)
			pk = es;
		break;
	case MG_COSE_RS256:
		if ((rs = rs256_pk_new()) &&
		    rs256_pk_from_ptr(rs, cred->pk, cred->pk_len) == FIDO_OK)
			pk = rs;
		break;
	case MG_COSE_EDDSA:
		if ((ed = eddsa_pk_new()) &&
		    eddsa_pk_from_ptr(ed, cred->pk, cred->pk_len) == FIDO_OK)
			pk = ed;
		break;
	default:
		break;
	}
	if (!pk)
		goto out;
	if (fido_assert_set_count(a, 1) != FIDO_OK || fido_assert_set_rp(a, rp_id) != FIDO_OK ||
	    fido_assert_set_clientdata_hash(a, cdh, MG_FIDO2_CDH_LEN) != FIDO_OK ||
	    fido_assert_set_authdata(a, 0, authdata, authdata_len) != FIDO_OK ||
	    fido_assert_set_sig(a, 0, sig, sig_len) != FIDO_OK ||
	    fido_assert_set_up(a, FIDO_OPT_TRUE) != FIDO_OK ||
	    fido_assert_set_uv(a, uv_required ? FIDO_OPT_TRUE : FIDO_OPT_OMIT) != FIDO_OK) {
		r = -EBADMSG;
		goto out;
	}
	if (fido_assert_verify(a, 0, cred->cose_alg, pk) != FIDO_OK) {
		r = -EBADMSG;
		goto out;
	}
	uint8_t flags = fido_assert_flags(a, 0);
	if (!(flags & 0x01) || (uv_required && !(flags & 0x04))) {
		r = -EBADMSG;
		goto out;
	}
	*sigcount = fido_assert_sigcount(a, 0);
	*uv_done = (flags & 0x04) != 0;
	r = 0;
out:
	es256_pk_free(&es);
	rs256_pk_free(&rs);
	eddsa_pk_free(&ed);
	fido_assert_free(&a);
	return r;
}
