/* The event pipeline on the terminal: upload, heartbeat, policy, enrolment (pipeline.h). */
#include "pipeline.h"

#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "backoff.h"
#include "central.h"
#include "enrolment.h"
#include "eventlog.h"
#include "mg/host.h"
#include "mg/log.h"
#include "mg/safe_open.h"
#include "mg/time.h"
#include "pam_pending.h"
#include "requests.h"
#include "spool.h"
#include "uplink_sup.h"

#define SEC           1000000LL
#define ROUTINE_DELAY (2 * SEC)         /* routine events wait at most this long */
#define BACKOFF_CAP   MG_BACKOFF_CAP_US /* upload retries */
#define BATCH_EVENTS  1000u             /* POST /v1/events: at most 1000 events */
#define BATCH_BYTES   (800u * 1024u)    /* payload bytes: the body stays below 1 MiB */
#define REQUEST_RETRY (30 * SEC)        /* device requests not answered */
#define MAX_STOPPED   16u
#define MAX_SYNC      8u

struct mg_pipeline {
	struct mg_agent *agent;
	const struct mg_agent_conf *conf;
	struct mg_eventlog *log;
	struct mg_spool *spool;
	mg_pipeline_reply_fn reply;
	void *reply_ctx;
	struct mg_uplink_sup *sup;
	struct mg_enrolment enr;

	/* upload */
	bool up_busy, up_now;
	uint32_t up_id;
	char up_boot[MG_SPOOL_BOOT_ID_LEN + 1];
	int64_t up_retry_at, unsent_since;
	unsigned up_failures;
	size_t up_max_events;
	char stopped[MAX_STOPPED][MG_SPOOL_BOOT_ID_LEN + 1];
	size_t nstopped;
	/* The collector asked for events it had acknowledged before (a database restored from
	 * a backup): send this boot again from rw_after + 1, ahead of everything else. */
	char rw_boot[MG_SPOOL_BOOT_ID_LEN + 1];
	uint64_t rw_after;
	int64_t last_upload_us; /* realtime of the last acknowledgement */
	char last_error[400];

	/* heartbeat and poll */
	bool hb_busy, poll_busy;
	uint32_t hb_id, poll_id;
	int64_t hb_next, poll_next;
	char etag[MG_UPLINK_MAX_ETAG + 1];
	uint64_t rejected_version;
	char rejected_why[600];
	int64_t policy_expires_us; /* realtime expiry of the applied bundle, 0: none */

	/* enrolment and sync (deferred control answers) */
	bool enroll_busy;
	uint32_t enroll_id;
	uint64_t enroll_ticket;
	char enroll_collector[512];
	uint64_t sync_tickets[MAX_SYNC];
	size_t nsync;
	bool sync_polled;
	/* staff-register (issue 15): one at a time */
	bool staff_busy;
	uint32_t staff_id;
	uint64_t staff_ticket;

	/* device requests */
	struct mg_requests *reqs;
	bool req_busy, req_refresh;
	uint32_t req_id;
	int64_t req_next;

	int64_t pam_next;
};

static int64_t mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * SEC + ts.tv_nsec / 1000;
}

static void set_error(struct mg_pipeline *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_error(struct mg_pipeline *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->last_error, sizeof(p->last_error), fmt, ap);
	va_end(ap);
}

/* "collector answered 503: <its error>" or the uplink's words for no answer. */
static void answer_words(const struct mg_uplink_answer *a, char *buf, size_t len)
{
	if (a->status == 0) {
		snprintf(buf, len, "no answer from the collector: %.*s", (int)a->error_len,
		         a->error_len ? a->error : "unknown error");
		return;
	}
	json_error_t jerr;
	json_t *o = a->body_len ? json_loadb((const char *)a->body, a->body_len, 0, &jerr) : NULL;
	const char *e = json_string_value(json_object_get(o, "error"));
	snprintf(buf, len, "the collector answered %u%s%.200s", (unsigned)a->status, e ? ": " : "",
	         e ? e : "");
	json_decref(o);
}

/* True when s[0..n) is printable ASCII (a word from the collector shown as it is). */
static bool string_printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return n > 0;
}

static void reply(struct mg_pipeline *p, uint64_t ticket, json_t *answer)
{
	if (p->reply)
		p->reply(p->reply_ctx, ticket, answer);
	json_decref(answer);
}

static json_t *error_answer(const char *msg)
{
	return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

/* An agent-object event (upload.stopped), recorded at once. */
static void alert(struct mg_pipeline *p, enum mg_event_type type, const char *reason)
{
	struct mg_event *ev = mg_event_new(type);
	struct mg_event_agent *ag = ev ? mg_event_agent(ev) : NULL;
	if (ag && mg_set_str(&ag->version, MYNAGUARD_VERSION) == 0 &&
	    mg_set_str(&ag->reason, reason) == 0) {
		ag->pid = (uint64_t)getpid();
		int r = mg_eventlog_append(p->log, ev);
		if (r < 0)
			mg_log_errno(MG_LOG_ERR, r, "cannot record %s", mg_event_type_name(type));
	}
	mg_event_free(&ev);
}

static void sync_check(struct mg_pipeline *p);
static void on_answer(void *ctx, uint32_t id, uint8_t type, const struct mg_uplink_answer *a);

int mg_pipeline_new(struct mg_agent *agent, mg_pipeline_reply_fn rfn, void *rctx,
                    struct mg_pipeline **out)
{
	struct mg_pipeline *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->agent = agent;
	p->conf = mg_agent_conf(agent);
	p->log = mg_agent_eventlog(agent);
	p->spool = mg_eventlog_spool(p->log);
	p->reply = rfn;
	p->reply_ctx = rctx;
	p->up_max_events = BATCH_EVENTS;
	static const char *const levels[] = {"err", "warning", "notice", "info", "debug"};
	struct mg_uplink_sup_opts o = {.binary = p->conf->uplink_binary,
	                               .user = p->conf->uplink_user,
	                               .state_dir = p->conf->state_dir,
	                               .log_level = levels[p->conf->log_level % 5]};
	int r = mg_uplink_sup_new(&o, on_answer, p, &p->sup);
	char why[256] = "";
	if (r == 0 && (r = mg_requests_open(p->conf->state_dir, &p->reqs, why, sizeof(why))) < 0)
		mg_log(MG_LOG_ERR, "device requests: %s", why);
	if (r < 0) {
		mg_pipeline_free(&p);
		return r;
	}
	*out = p;
	return 0;
}

void mg_pipeline_free(struct mg_pipeline **pp)
{
	struct mg_pipeline *p = pp ? *pp : NULL;
	if (!p)
		return;
	mg_uplink_sup_free(&p->sup);
	mg_requests_free(&p->reqs);
	for (size_t i = 0; i < p->nsync; i++)
		reply(p, p->sync_tickets[i], error_answer("the agent is stopping"));
	if (p->enroll_busy)
		reply(p, p->enroll_ticket, error_answer("the agent is stopping"));
	if (p->staff_busy)
		reply(p, p->staff_ticket, error_answer("the agent is stopping"));
	free(p);
	*pp = NULL;
}

/* ---- central policy ---- */

/* Records a rejection once per version and reason (a bad bundle is polled again and again). */
static void policy_rejected(struct mg_pipeline *p, uint64_t version, const char *why)
{
	if (version == p->rejected_version && strcmp(why, p->rejected_why) == 0)
		return;
	p->rejected_version = version;
	snprintf(p->rejected_why, sizeof(p->rejected_why), "%s", why);
	(void)mg_agent_record_policy(p->agent, false, version, NULL, why);
}

/* A poll answer (or the saved one at boot): check, apply, keep. true when applied. */
static bool take_policy(struct mg_pipeline *p, const char *body, size_t len, bool boot)
{
	struct mg_central_bundle b;
	uint64_t version = 0;
	char why[320];
	uint64_t current = mg_agent_central_version(p->agent);
	int r = mg_central_check(body, len, p->enr.policy_key, current, mg_now_us(), p->enr.host_id,
	                         &b, &version, why, sizeof(why));
	if (r == -ESTALE && version == current && current > 0)
		return false; /* the version in force, fetched again (e.g. after a restart) */
	if (r < 0) {
		if (boot && r == -ETIME) {
			char msg[520];
			snprintf(msg, sizeof(msg),
			         "the last central policy (version %llu) %s: local rules only "
			         "(storage stays blocked) until a new one arrives",
			         (unsigned long long)version, why);
			policy_rejected(p, version, msg);
		} else {
			policy_rejected(p, version, why);
		}
		return false;
	}
	r = mg_agent_set_central(p->agent, b.version, b.host_rules, b.all_rules, b.sha256, why,
	                         sizeof(why));
	if (r < 0) {
		policy_rejected(p, b.version, why);
		mg_central_bundle_free(&b);
		return false;
	}
	p->policy_expires_us = b.expires_us;
	p->req_refresh = true; /* approvals may have changed the state of requests */
	/* Issue 15: the staff credentials for the PAM module (at boot too: the kept bundle). */
	if (mg_central_write_staff(p->conf->staff_db, &b, why, sizeof(why)) < 0)
		mg_log(MG_LOG_ERR,
		       "staff credentials: %s (central staff keys refused until the next "
		       "policy)",
		       why);
	mg_central_bundle_free(&b);
	if (!boot && (r = mg_central_save(p->conf->state_dir, body, len)) < 0)
		mg_log_errno(MG_LOG_ERR, r, "cannot keep the central policy in %s/policy.json",
		             p->conf->state_dir);
	char applied[64];
	uint32_t id;
	int n = snprintf(applied, sizeof(applied), "{\"version\":%llu}",
	                 (unsigned long long)mg_agent_central_version(p->agent));
	(void)mg_uplink_sup_send(p->sup, MG_UPLINK_POLICY_APPLIED, applied, (size_t)n, &id);
	return true;
}

static void policy_expiry(struct mg_pipeline *p)
{
	if (!p->policy_expires_us || mg_now_us() < p->policy_expires_us)
		return;
	uint64_t v = mg_agent_central_version(p->agent);
	char why[256], t[MG_RFC3339_LEN] = "?";
	(void)mg_time_format(p->policy_expires_us, t);
	p->policy_expires_us = 0;
	if (mg_agent_set_central(p->agent, 0, NULL, NULL, NULL, why, sizeof(why)) < 0) {
		mg_log(MG_LOG_ERR, "cannot withdraw the expired central policy: %s", why);
		return;
	}
	snprintf(why, sizeof(why),
	         "version %llu expired at %s: local rules only (storage stays blocked) until a new "
	         "one arrives",
	         (unsigned long long)v, t);
	policy_rejected(p, v, why);
}

void mg_pipeline_boot(struct mg_pipeline *p)
{
	char why[320];
	int r = mg_enrolment_load(p->conf->state_dir, &p->enr, why, sizeof(why));
	if (r < 0 && r != -ENOENT)
		mg_log(MG_LOG_ERR, "enrolment: %s", why);
	if (p->enr.enrolled) {
		char *body = NULL;
		size_t len = 0;
		r = mg_central_load(p->conf->state_dir, &body, &len);
		if (r == 0)
			(void)take_policy(p, body, len, true);
		else if (r != -ENOENT)
			policy_rejected(p, 0,
			                "the kept central policy cannot be read: local rules only");
		free(body);
	}
	int64_t now = mono_now();
	p->poll_next = p->hb_next = now;
	p->pam_next = now;
	mg_pam_pending_take(p->conf->pam_pending_file, p->log);
}

/* ---- upload ---- */

struct batch {
	json_t *events;
	uint64_t last;
};

static void hex(const uint8_t *h, char out[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static int add_event(void *ctx, const struct mg_spool_record *r, const uint8_t hash[32])
{
	struct batch *b = ctx;
	static const uint8_t zero[32];
	json_error_t jerr;
	json_t *o = json_loadb(r->payload, r->len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o)
		return -EBADMSG;
	char h[65], prev[65] = "";
	hex(hash, h);
	if (memcmp(r->prev, zero, 32) != 0)
		hex(r->prev, prev);
	if (json_object_set_new(o, "hash", json_string(h)) < 0 ||
	    json_object_set_new(o, "prev_hash", json_string(prev)) < 0 ||
	    json_array_append_new(b->events, o) < 0)
		return -ENOMEM;
	b->last = r->seq;
	return 0;
}

static bool boot_stopped(const struct mg_pipeline *p, const char *boot)
{
	for (size_t i = 0; i < p->nstopped; i++)
		if (strcmp(p->stopped[i], boot) == 0)
			return true;
	return false;
}

/* The collector refuses this boot's chain or content: keep its events, send no more of them,
 * and raise the alarm locally. */
static void stop_boot(struct mg_pipeline *p, const char *boot, const char *why)
{
	if (!boot_stopped(p, boot) && p->nstopped < MAX_STOPPED)
		snprintf(p->stopped[p->nstopped++], sizeof(p->stopped[0]), "%s", boot);
	if (strcmp(p->rw_boot, boot) == 0)
		p->rw_boot[0] = '\0';
	char msg[600];
	snprintf(msg, sizeof(msg),
	         "upload of boot %s stopped, its events are kept in the spool: %s", boot, why);
	set_error(p, "%s", msg);
	mg_log(MG_LOG_ERR, "%s", msg);
	alert(p, MG_EV_UPLOAD_STOPPED, msg);
}

static void upload_maybe(struct mg_pipeline *p, int64_t now)
{
	if (!p->enr.enrolled || p->up_busy || !mg_uplink_sup_running(p->sup) ||
	    now < p->up_retry_at)
		return;
	char boot[MG_SPOOL_BOOT_ID_LEN + 1];
	uint64_t acked = 0;
	const bool rewind = p->rw_boot[0] != '\0';
	if (rewind) {
		memcpy(boot, p->rw_boot, sizeof(boot));
		acked = p->rw_after;
	} else if (!mg_spool_pending_except(p->spool,
	                                    (const char(*)[MG_SPOOL_BOOT_ID_LEN + 1]) p->stopped,
	                                    p->nstopped, boot, &acked)) {
		p->unsent_since = 0;
		p->up_now = false;
		sync_check(p);
		return;
	}
	const bool current = strcmp(boot, mg_eventlog_boot_id(p->log)) == 0;
	const bool urgent =
	    rewind || p->up_now || !current || mg_eventlog_last_urgent_seq(p->log) > acked;
	if (!urgent) {
		if (!p->unsent_since)
			p->unsent_since = now;
		if (now < p->unsent_since + ROUTINE_DELAY)
			return;
	}
	struct batch b = {.events = json_array()};
	int n = b.events ? mg_spool_read(p->spool, boot, acked, p->up_max_events, BATCH_BYTES,
	                                 add_event, &b)
	                 : -ENOMEM;
	if (n <= 0) {
		json_decref(b.events);
		if (n < 0) {
			set_error(p, "cannot read the spool: %s", strerror(-n));
			p->up_retry_at = now + BACKOFF_CAP;
		} else if (rewind) {
			p->rw_boot[0] =
			    '\0'; /* resent all it asked for: back to the spool's cursor */
			upload_maybe(p, now);
		}
		return;
	}
	json_t *body = json_pack("{s:s, s:o}", "boot_id", boot, "events", b.events);
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text)
		return;
	int r = mg_uplink_sup_send(p->sup, MG_UPLINK_EVENTS, text, strlen(text), &p->up_id);
	free(text);
	if (n >= 64)
		malloc_trim(0); /* a large batch's tree leaves the heap fragmented: give it back */
	if (r < 0)
		return;
	p->up_busy = true;
	memcpy(p->up_boot, boot, sizeof(p->up_boot));
}

static void upload_retry_later(struct mg_pipeline *p, const struct mg_uplink_answer *a, int64_t now)
{
	p->up_failures++;
	uint64_t rnd = 0;
	(void)!getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK);
	int64_t delay = mg_backoff_delay_us(a->retry_after, p->up_failures, rnd);
	p->up_retry_at = now + delay;
}

static uint64_t json_u64(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v)
	                                                       : 0;
}

static void upload_answer(struct mg_pipeline *p, const struct mg_uplink_answer *a)
{
	int64_t now = mono_now();
	p->up_busy = false;
	char words[400];
	json_error_t jerr;
	json_t *o = a->body_len ? json_loadb((const char *)a->body, a->body_len, 0, &jerr) : NULL;
	uint64_t acked = json_u64(o, "acked_through"), resend = json_u64(o, "resend_from");
	switch (a->status) {
	case 200:
		(void)mg_spool_ack(p->spool, p->up_boot, acked);
		if (strcmp(p->rw_boot, p->up_boot) == 0)
			p->rw_after = acked;
		mg_eventlog_report_dropped(p->log); /* room again: say what was lost */
		p->up_failures = 0;
		p->up_retry_at = 0;
		p->up_max_events = BATCH_EVENTS;
		p->last_upload_us = mg_now_us();
		p->last_error[0] = '\0';
		p->unsent_since = 0;
		break;
	case 409:
		if (acked)
			(void)mg_spool_ack(p->spool, p->up_boot, acked);
		if (resend) {
			uint64_t first = mg_spool_first_seq(p->spool, p->up_boot);
			if (first > resend) {
				char why[200];
				snprintf(why, sizeof(why),
				         "the collector misses events from seq %llu on, the spool "
				         "starts at seq %llu",
				         (unsigned long long)resend, (unsigned long long)first);
				stop_boot(p, p->up_boot, why);
			} else if (resend - 1 < mg_spool_acked(p->spool, p->up_boot)) {
				/* it lost what it had acknowledged: send that part again */
				memcpy(p->rw_boot, p->up_boot, sizeof(p->rw_boot));
				p->rw_after = resend - 1;
				mg_log(MG_LOG_WARNING,
				       "the collector asks for boot %s again from seq %llu on "
				       "(restored "
				       "from a backup?): sending it again from the spool",
				       p->up_boot, (unsigned long long)resend);
			}
			/* else the next batch starts after acked_through = resend_from - 1 */
			p->up_retry_at = 0;
			break;
		}
		answer_words(a, words, sizeof(words));
		set_error(p, "%s", words);
		upload_retry_later(p, a, now);
		break;
	case 400:
	case 422:
		answer_words(a, words, sizeof(words));
		stop_boot(p, p->up_boot, words);
		break;
	case 413:
		p->up_max_events = p->up_max_events > 1 ? p->up_max_events / 2 : 1;
		break;
	default:
		answer_words(a, words, sizeof(words));
		set_error(p, "%s", words);
		upload_retry_later(p, a, now);
	}
	json_decref(o);
	upload_maybe(p, now);
	sync_check(p);
}

/* ---- heartbeat ---- */

static int oldest_cb(void *ctx, const struct mg_spool_record *r, const uint8_t hash[32])
{
	(void)hash;
	json_error_t jerr;
	json_t *o = json_loadb(r->payload, r->len, 0, &jerr);
	const char *t = json_string_value(json_object_get(o, "time"));
	if (t)
		snprintf(ctx, MG_RFC3339_LEN, "%s", t);
	json_decref(o);
	return 0;
}

/* The time of the oldest event not acknowledged ("" when none). */
static void oldest_unsent(const struct mg_pipeline *p, char out[MG_RFC3339_LEN])
{
	out[0] = '\0';
	char boot[MG_SPOOL_BOOT_ID_LEN + 1];
	uint64_t acked;
	if (mg_spool_pending(p->spool, boot, &acked))
		(void)mg_spool_read(p->spool, boot, acked, 1, 1, oldest_cb, out);
}

static void heartbeat(struct mg_pipeline *p)
{
	char oldest[MG_RFC3339_LEN];
	oldest_unsent(p, oldest);
	json_t *o = json_pack(
	    "{s:I, s:o, s:I, s:s}", "spool_depth", (json_int_t)mg_spool_unacked(p->spool),
	    "oldest_unsent", oldest[0] ? json_string(oldest) : json_null(), "policy_version",
	    (json_int_t)mg_agent_central_version(p->agent), "agent_version", MYNAGUARD_VERSION);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (text &&
	    mg_uplink_sup_send(p->sup, MG_UPLINK_HEARTBEAT, text, strlen(text), &p->hb_id) == 0)
		p->hb_busy = true;
	free(text);
}

/* ---- device requests ---- */

static void requests_maybe(struct mg_pipeline *p, int64_t now)
{
	if (!p->enr.enrolled || p->req_busy || !mg_uplink_sup_running(p->sup) || now < p->req_next)
		return;
	char *body = NULL;
	if (mg_requests_next(p->reqs, p->req_refresh, &body) <= 0) {
		p->req_refresh = false;
		return;
	}
	if (mg_uplink_sup_send(p->sup, MG_UPLINK_REQUEST, body, strlen(body), &p->req_id) == 0)
		p->req_busy = true;
	free(body);
}

static void request_answer(struct mg_pipeline *p, const struct mg_uplink_answer *a)
{
	p->req_busy = false;
	char words[400];
	answer_words(a, words, sizeof(words));
	int r = mg_requests_answer(p->reqs, a->status, (const char *)a->body, a->body_len, words);
	if (r < 0) { /* not answered: try again later */
		p->req_next = mono_now() + REQUEST_RETRY;
		set_error(p, "device request: %s", words);
	}
	requests_maybe(p, mono_now());
}

/* ---- enrolment and sync ---- */

static void enroll_answer(struct mg_pipeline *p, const struct mg_uplink_answer *a)
{
	p->enroll_busy = false;
	char words[400];
	if (a->status != 200 && a->status != 201) {
		answer_words(a, words, sizeof(words));
		char msg[460];
		snprintf(msg, sizeof(msg), "enrolment failed: %s", words);
		reply(p, p->enroll_ticket, error_answer(msg));
		return;
	}
	struct mg_enrolment e = {0};
	char why[256];
	if (mg_enrolment_from_answer((const char *)a->body, a->body_len, &e, why, sizeof(why)) <
	    0) {
		char msg[300];
		snprintf(msg, sizeof(msg), "enrolment failed: %s", why);
		reply(p, p->enroll_ticket, error_answer(msg));
		return;
	}
	snprintf(e.collector, sizeof(e.collector), "%s", p->enroll_collector);
	e.enrolled_us = mg_now_us();
	int r = mg_enrolment_save(p->conf->state_dir, &e);
	if (r < 0) {
		snprintf(why, sizeof(why), "cannot store the enrolment in %s: %s",
		         p->conf->state_dir, strerror(-r));
		reply(p, p->enroll_ticket, error_answer(why));
		return;
	}
	/* A new collector has its own version sequence: the old central policy goes. */
	if (mg_agent_central_version(p->agent) > 0 &&
	    mg_agent_set_central(p->agent, 0, NULL, NULL, NULL, why, sizeof(why)) < 0)
		mg_log(MG_LOG_ERR, "cannot withdraw the previous central policy: %s", why);
	char path[4200];
	snprintf(path, sizeof(path), "%s/policy.json", p->conf->state_dir);
	(void)unlink(path);
	/* and so do its staff credentials (issue 15): the PAM module must not keep using them */
	(void)unlink(p->conf->staff_db);
	p->policy_expires_us = 0;
	p->enr = e;
	p->etag[0] = '\0';
	p->rejected_version = 0;
	p->rejected_why[0] = '\0';
	p->nstopped = 0;
	p->poll_next = p->hb_next = 0;
	p->up_retry_at = 0;
	p->up_now = true;
	mg_log(MG_LOG_NOTICE, "enrolled to %s as host %lld", e.collector, (long long)e.host_id);
	reply(p, p->enroll_ticket,
	      json_pack("{s:b, s:I, s:s}", "ok", 1, "host_id", (json_int_t)e.host_id, "collector",
	                e.collector));
}

int mg_pipeline_enroll(struct mg_pipeline *p, const char *collector, const char *token,
                       const char *ca, bool force, uint64_t ticket, json_t **answer)
{
	char msg[700];
	if (p->enroll_busy) {
		*answer = error_answer("an enrolment is already in progress");
		return 0;
	}
	if (p->enr.enrolled && !force) {
		snprintf(msg, sizeof(msg),
		         "already enrolled to %s as host %lld: --force to enrol again",
		         p->enr.collector, (long long)p->enr.host_id);
		*answer = error_answer(msg);
		return 0;
	}
	if (strncmp(collector, "https://", 8) != 0 ||
	    strlen(collector) >= sizeof(p->enroll_collector)) {
		*answer = error_answer("collector: expected an https:// URL");
		return 0;
	}
	if (!mg_uplink_sup_running(p->sup)) {
		char st[300];
		mg_uplink_sup_state(p->sup, mono_now(), st, sizeof(st));
		snprintf(msg, sizeof(msg), "the uplink is not running (%s)", st);
		*answer = error_answer(msg);
		return 0;
	}
	char host[256] = "";
	(void)mg_hostname(host, sizeof(host));
	json_t *o =
	    json_pack("{s:s, s:s, s:s, s:s, s:s}", "collector", collector, "token", token, "ca", ca,
	              "hostname", host[0] ? host : "unknown", "agent_version", MYNAGUARD_VERSION);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	int r =
	    text ? mg_uplink_sup_send(p->sup, MG_UPLINK_ENROLL, text, strlen(text), &p->enroll_id)
	         : -ENOMEM;
	free(text);
	if (r < 0) {
		snprintf(msg, sizeof(msg), "cannot reach the uplink: %s", strerror(-r));
		*answer = error_answer(msg);
		return 0;
	}
	p->enroll_busy = true;
	p->enroll_ticket = ticket;
	snprintf(p->enroll_collector, sizeof(p->enroll_collector), "%s", collector);
	return 1;
}

static void sync_check(struct mg_pipeline *p)
{
	if (!p->nsync || !p->sync_polled || p->up_busy)
		return;
	char boot[MG_SPOOL_BOOT_ID_LEN + 1];
	uint64_t acked;
	bool pending =
	    mg_spool_pending_except(p->spool, (const char(*)[MG_SPOOL_BOOT_ID_LEN + 1]) p->stopped,
	                            p->nstopped, boot, &acked);
	if (pending && p->up_failures == 0)
		return; /* still uploading */
	for (size_t i = 0; i < p->nsync; i++) {
		json_t *ans =
		    p->last_error[0] && pending
		        ? error_answer(p->last_error)
		        : json_pack("{s:b, s:I, s:I}", "ok", 1, "spool_depth",
		                    (json_int_t)mg_spool_unacked(p->spool), "policy_version",
		                    (json_int_t)mg_agent_central_version(p->agent));
		reply(p, p->sync_tickets[i], ans);
	}
	p->nsync = 0;
}

int mg_pipeline_sync(struct mg_pipeline *p, uint64_t ticket, json_t **answer)
{
	if (!p->enr.enrolled) {
		*answer = error_answer("not enrolled: mynaguardctl enroll first");
		return 0;
	}
	if (p->nsync == MAX_SYNC) {
		*answer = error_answer("too many sync requests at once");
		return 0;
	}
	p->sync_tickets[p->nsync++] = ticket;
	p->sync_polled = false;
	p->poll_next = p->hb_next = 0;
	p->up_retry_at = 0;
	p->up_failures = 0;
	p->up_now = true;
	p->req_next = 0;
	mg_pipeline_tick(p);
	return 1;
}

/* ---- staff-register (issue 15) ---- */

static void staff_answer(struct mg_pipeline *p, const struct mg_uplink_answer *a)
{
	p->staff_busy = false;
	char words[400];
	json_t *o = NULL;
	if (a->status == 200 || a->status == 201) {
		json_error_t jerr;
		o = a->body_len <= 4096 ? json_loadb((const char *)a->body, a->body_len,
		                                     JSON_REJECT_DUPLICATES, &jerr)
		                        : NULL;
		json_t *id = json_object_get(o, "id"), *st = json_object_get(o, "state");
		if (json_is_integer(id) && json_integer_value(id) > 0 && json_is_string(st) &&
		    json_string_length(st) <= 32 &&
		    string_printable(json_string_value(st), json_string_length(st))) {
			json_t *ans =
			    json_pack("{s:b, s:I, s:s}", "ok", 1, "id", json_integer_value(id),
			              "state", json_string_value(st));
			json_decref(o);
			reply(p, p->staff_ticket, ans);
			return;
		}
		json_decref(o);
		reply(p, p->staff_ticket,
		      error_answer("staff registration: the collector's answer is malformed"));
		return;
	}
	answer_words(a, words, sizeof(words));
	char msg[460];
	snprintf(msg, sizeof(msg), "staff registration failed: %s", words);
	/* With the collector's status (0: no answer), from which mynaguard-enroll tells the
	 * person what happened in their language. */
	json_t *ans = error_answer(msg);
	if (ans)
		(void)json_object_set_new(ans, "status", json_integer(a->status));
	reply(p, p->staff_ticket, ans);
}

int mg_pipeline_staff_register(struct mg_pipeline *p, const char *registration, uint64_t ticket,
                               json_t **answer)
{
	char msg[400];
	if (!p->enr.enrolled) {
		*answer = error_answer("not enrolled: mynaguardctl enroll first");
		return 0;
	}
	if (p->staff_busy) {
		*answer = error_answer("a staff registration is already in progress: try again");
		return 0;
	}
	if (!mg_uplink_sup_running(p->sup)) {
		char st[300];
		mg_uplink_sup_state(p->sup, mono_now(), st, sizeof(st));
		snprintf(msg, sizeof(msg), "the uplink is not running (%s)", st);
		*answer = error_answer(msg);
		return 0;
	}
	int r = mg_uplink_sup_send(p->sup, MG_UPLINK_STAFF_REGISTER, registration,
	                           strlen(registration), &p->staff_id);
	if (r < 0) {
		snprintf(msg, sizeof(msg), "cannot reach the uplink: %s", strerror(-r));
		*answer = error_answer(msg);
		return 0;
	}
	p->staff_busy = true;
	p->staff_ticket = ticket;
	return 1;
}

json_t *mg_pipeline_request(struct mg_pipeline *p, unsigned device_id, const char *reason,
                            const char *user)
{
	json_t *dev = NULL;
	bool allowed = false;
	int r = mg_agent_device_identity(p->agent, device_id, &dev, &allowed);
	if (r == -ENOENT)
		return error_answer("no device with that id");
	if (r < 0)
		return error_answer("the device could not be read: nothing to identify it by");
	if (allowed) {
		json_decref(dev);
		return error_answer("the device is allowed already");
	}
	char id[64], why[256];
	r = mg_requests_add(p->reqs, user, dev, reason, id, why, sizeof(why));
	json_decref(dev);
	if (r < 0)
		return error_answer(why);
	p->req_next = 0;
	requests_maybe(p, mono_now());
	return json_pack("{s:b, s:s, s:s}", "ok", 1, "request_id", id, "state",
	                 p->enr.enrolled ? "sending" : "waiting for enrolment");
}

json_t *mg_pipeline_requests(const struct mg_pipeline *p)
{
	json_t *list = mg_requests_list(p->reqs);
	return list ? json_pack("{s:b, s:o}", "ok", 1, "requests", list) : NULL;
}

/* ---- the loop ---- */

static void on_answer(void *ctx, uint32_t id, uint8_t type, const struct mg_uplink_answer *a)
{
	struct mg_pipeline *p = ctx;
	char words[400];
	switch (type) {
	case MG_UPLINK_EVENTS:
		if (p->up_busy && id == p->up_id)
			upload_answer(p, a);
		break;
	case MG_UPLINK_HEARTBEAT:
		p->hb_busy = false;
		if (a->status != 204) {
			answer_words(a, words, sizeof(words));
			set_error(p, "heartbeat: %s", words);
		}
		break;
	case MG_UPLINK_POLICY_POLL:
		p->poll_busy = false;
		if (a->status == 200 || a->status == 304) {
			if (a->etag_len < sizeof(p->etag)) {
				memcpy(p->etag, a->etag, a->etag_len);
				p->etag[a->etag_len] = '\0';
			}
			if (a->status == 200)
				(void)take_policy(p, (const char *)a->body, a->body_len, false);
		} else {
			answer_words(a, words, sizeof(words));
			set_error(p, "policy poll: %s", words);
		}
		p->sync_polled = true;
		sync_check(p);
		break;
	case MG_UPLINK_POLICY_APPLIED:
		if (a->status != 204) {
			answer_words(a, words, sizeof(words));
			set_error(p, "policy report: %s", words);
		}
		break;
	case MG_UPLINK_REQUEST:
		if (p->req_busy && id == p->req_id)
			request_answer(p, a);
		break;
	case MG_UPLINK_ENROLL:
		if (p->enroll_busy && id == p->enroll_id)
			enroll_answer(p, a);
		break;
	case MG_UPLINK_STAFF_REGISTER:
		if (p->staff_busy && id == p->staff_id)
			staff_answer(p, a);
		break;
	default:
		break;
	}
}

void mg_pipeline_tick(struct mg_pipeline *p)
{
	int64_t now = mono_now();
	mg_uplink_sup_tick(p->sup, now);
	policy_expiry(p);
	/* The PAM pending file is read with the heartbeat, one wake-up for both. */
	const bool hb_due =
	    p->enr.enrolled && mg_uplink_sup_running(p->sup) && !p->hb_busy && now >= p->hb_next;
	if (now >= p->pam_next || hb_due) {
		mg_pam_pending_take(p->conf->pam_pending_file, p->log);
		p->pam_next = now + (int64_t)p->conf->heartbeat_interval * SEC;
	}
	if (!mg_uplink_sup_running(p->sup)) {
		if (p->nsync) { /* no uplink: sync cannot happen */
			char st[300], msg[340];
			mg_uplink_sup_state(p->sup, now, st, sizeof(st));
			snprintf(msg, sizeof(msg), "the uplink is not running (%s)", st);
			for (size_t i = 0; i < p->nsync; i++)
				reply(p, p->sync_tickets[i], error_answer(msg));
			p->nsync = 0;
		}
		return;
	}
	if (!p->enr.enrolled)
		return;
	if (!p->poll_busy && now >= p->poll_next) {
		uint32_t id;
		if (mg_uplink_sup_send(p->sup, MG_UPLINK_POLICY_POLL, p->etag, strlen(p->etag),
		                       &id) == 0) {
			p->poll_busy = true;
			p->poll_id = id;
			p->poll_next = now + (int64_t)p->conf->poll_interval * SEC;
		} else { /* not sent (the uplink died on the write): again once it is back */
			p->poll_next = now + SEC;
		}
	}
	if (!p->hb_busy && now >= p->hb_next) {
		heartbeat(p);
		p->hb_next = now + (int64_t)p->conf->heartbeat_interval * SEC;
	}
	upload_maybe(p, now);
	requests_maybe(p, now);
}

void mg_pipeline_drain(struct mg_pipeline *p, int timeout_ms)
{
	if (!p->enr.enrolled || !mg_uplink_sup_running(p->sup) || p->up_failures > 0)
		return; /* no collector to reach: the events wait in the spool */
	int64_t end = mono_now() + (int64_t)timeout_ms * 1000;
	p->up_now = true;
	p->up_retry_at = 0;
	for (int64_t now = mono_now(); now < end; now = mono_now()) {
		upload_maybe(p, now);
		if (!p->up_busy)
			return;
		struct pollfd pfd = {.fd = mg_uplink_sup_fd(p->sup),
		                     .events = (short)mg_uplink_sup_events(p->sup)};
		int left = (int)((end - now + 999) / 1000);
		if (poll(&pfd, 1, left) <= 0)
			return;
		mg_uplink_sup_io(p->sup, (uint32_t)pfd.revents, mono_now());
	}
}

static void earliest(int64_t *best, int64_t t)
{
	if (t > 0 && (*best == 0 || t < *best))
		*best = t;
}

int64_t mg_pipeline_next_wake(const struct mg_pipeline *p)
{
	int64_t next = 0;
	earliest(&next, mg_uplink_sup_next_start(p->sup));
	earliest(&next, p->pam_next);
	if (p->policy_expires_us) {
		int64_t left = p->policy_expires_us - mg_now_us();
		earliest(&next, mono_now() + (left > 0 ? left : 1));
	}
	if (!p->enr.enrolled || !mg_uplink_sup_running(p->sup))
		return next;
	earliest(&next, p->poll_next > 0 ? p->poll_next : 1);
	earliest(&next, p->hb_next > 0 ? p->hb_next : 1);
	if (!p->up_busy) {
		if (p->up_retry_at)
			earliest(&next, p->up_retry_at);
		else if (p->unsent_since)
			earliest(&next, p->unsent_since + ROUTINE_DELAY);
	}
	if (!p->req_busy && p->req_next && mg_requests_due(p->reqs))
		earliest(&next, p->req_next);
	return next;
}

int mg_pipeline_uplink_fd(const struct mg_pipeline *p)
{
	return mg_uplink_sup_fd(p->sup);
}

uint32_t mg_pipeline_uplink_events(const struct mg_pipeline *p)
{
	return mg_uplink_sup_events(p->sup);
}

void mg_pipeline_uplink_io(struct mg_pipeline *p, uint32_t events)
{
	mg_uplink_sup_io(p->sup, events, mono_now());
}

static json_t *time_or_null(int64_t us)
{
	char t[MG_RFC3339_LEN];
	return us > 0 && mg_time_format(us, t) == 0 ? json_string(t) : json_null();
}

void mg_pipeline_status(const struct mg_pipeline *p, json_t *st)
{
	char oldest[MG_RFC3339_LEN], up[300];
	oldest_unsent(p, oldest);
	mg_uplink_sup_state(p->sup, mono_now(), up, sizeof(up));
	json_object_set_new(st, "enrolled", json_boolean(p->enr.enrolled));
	json_object_set_new(st, "collector",
	                    p->enr.enrolled ? json_string(p->enr.collector) : json_null());
	json_object_set_new(st, "host_id",
	                    p->enr.enrolled ? json_integer(p->enr.host_id) : json_null());
	json_object_set_new(st, "spool_depth",
	                    json_integer((json_int_t)mg_spool_unacked(p->spool)));
	json_object_set_new(st, "spool_bytes", json_integer((json_int_t)mg_spool_bytes(p->spool)));
	json_object_set_new(st, "oldest_unsent", oldest[0] ? json_string(oldest) : json_null());
	json_object_set_new(st, "last_upload", time_or_null(p->last_upload_us));
	json_object_set_new(st, "last_error",
	                    p->last_error[0] ? json_string(p->last_error) : json_null());
	json_object_set_new(st, "policy_version",
	                    json_integer((json_int_t)mg_agent_central_version(p->agent)));
	json_object_set_new(st, "policy_expires", time_or_null(p->policy_expires_us));
	json_object_set_new(st, "uplink", json_string(up));
}
