/* The agent's event recorder on the spool (see eventlog.h). */
#include "eventlog.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg/host.h"
#include "spool.h"

struct mg_eventlog {
	struct mg_spool *spool;
	struct mg_spool_recovery rec;
	bool deferred;
	uint64_t dropped_routine, dropped_security; /* not yet reported */
	bool reporting;                             /* appending spool.dropped now */
	uint64_t last_security;                     /* seq of the last security event */
	uint64_t last_urgent; /* seq of the last security event or device decision */
	char boot_id[37];
	char host[256];
	char path[PATH_MAX];
};

int mg_eventlog_open(const char *state_dir, uint64_t max_bytes, struct mg_eventlog **out, char *err,
                     size_t errlen)
{
	struct mg_eventlog *log = calloc(1, sizeof(*log));
	if (!log)
		return -ENOMEM;
	int r;
	if (snprintf(log->path, sizeof(log->path), "%s/spool", state_dir) >=
	    (int)sizeof(log->path)) {
		snprintf(err, errlen, "%s: path too long", state_dir);
		r = -ENAMETOOLONG;
		goto fail;
	}
	if ((r = mg_boot_id(log->boot_id)) < 0) {
		snprintf(err, errlen, "cannot read the boot id: %s", strerror(-r));
		goto fail;
	}
	if ((r = mg_hostname(log->host, sizeof(log->host))) < 0) {
		snprintf(err, errlen, "cannot read the host name: %s", strerror(-r));
		goto fail;
	}
	/* Segments of a sixteenth of the spool (at most 1 MiB): space comes back in steps that
	 * small when the collector acknowledges, also in a tiny spool. */
	uint64_t max = max_bytes ? max_bytes : UINT64_C(256) << 20;
	struct mg_spool_opts o = {.dir = log->path,
	                          .boot_id = log->boot_id,
	                          .max_bytes = max,
	                          .segment_bytes = max / 16 < (1u << 20) ? max / 16 : (1u << 20)};
	if ((r = mg_spool_open(&o, &log->spool, &log->rec, err, errlen)) < 0)
		goto fail;
	*out = log;
	return 0;
fail:
	mg_eventlog_close(&log);
	return r;
}

void mg_eventlog_close(struct mg_eventlog **log)
{
	if (!log || !*log)
		return;
	mg_spool_close(&(*log)->spool);
	free(*log);
	*log = NULL;
}

bool mg_event_is_security(const struct mg_event *ev)
{
	switch (ev->type) {
	case MG_EV_DEVICE_BLOCKED:
	case MG_EV_DEVICE_REJECTED:
	case MG_EV_DEVICE_SUSPICIOUS:
	case MG_EV_AUTH_FAILURE:
	case MG_EV_AUTH_LOCKOUT:
	case MG_EV_POLICY_REJECTED:
	case MG_EV_SPOOL_DROPPED:
	case MG_EV_UPLOAD_STOPPED:
		return true;
	default:
		return false;
	}
}

static int append(struct mg_eventlog *log, struct mg_event *ev, bool sync);

/* After a successful append: the events the full spool refused, as one event. */
static void report_dropped(struct mg_eventlog *log, bool sync)
{
	uint64_t routine, security;
	mg_spool_take_dropped(log->spool, &routine, &security);
	log->dropped_routine += routine;
	log->dropped_security += security;
	if (log->reporting || (!log->dropped_routine && !log->dropped_security))
		return;
	struct mg_event *ev = mg_event_new(MG_EV_SPOOL_DROPPED);
	struct mg_event_spool *sp = ev ? mg_event_spool(ev) : NULL;
	if (sp) {
		sp->dropped_routine = log->dropped_routine;
		sp->dropped_security = log->dropped_security;
		log->reporting = true;
		int r = append(log, ev, sync);
		if (r == 0) {
			log->dropped_routine = log->dropped_security = 0;
		} else if (r == -ENOSPC) { /* the report itself is not a lost event */
			mg_spool_take_dropped(log->spool, &routine, &security);
			log->dropped_routine += routine;
			log->dropped_security += security ? security - 1 : 0;
		}
		log->reporting = false;
	}
	mg_event_free(&ev);
}

static int append(struct mg_eventlog *log, struct mg_event *ev, bool sync)
{
	int r = mg_set_str(&ev->host, log->host);
	if (r < 0)
		return r;
	memcpy(ev->boot_id, log->boot_id, sizeof(ev->boot_id));
	ev->seq = mg_spool_next_seq(log->spool);
	char *json = NULL;
	size_t len = 0;
	if ((r = mg_event_to_json(ev, &json, &len)) < 0)
		return r;
	uint8_t flags = mg_event_is_security(ev) ? MG_SPOOL_SECURITY : 0;
	/* An allow is routine, but one that cannot be recorded is undone (no allow without a
	 * record): when routine room is gone it takes the security reserve rather than cut a
	 * keyboard off. */
	if (!flags && ev->type == MG_EV_DEVICE_ALLOWED && !mg_spool_fits(log->spool, len, 0))
		flags = MG_SPOOL_SECURITY;
	const bool fits = mg_spool_fits(log->spool, len, flags);
	r = mg_spool_append(log->spool, json, len, ev->seq, flags, sync && !log->deferred, NULL);
	free(json);
	if (r < 0 && fits &&
	    !log->reporting) { /* the disk refused it (full, I/O error): lost too */
		if (flags & MG_SPOOL_SECURITY)
			log->dropped_security++;
		else
			log->dropped_routine++;
	}
	if (r == 0 && mg_event_is_security(ev))
		log->last_security = ev->seq;
	if (r == 0 && (mg_event_is_security(ev) || ev->type == MG_EV_DEVICE_ALLOWED))
		log->last_urgent = ev->seq;
	if (r == 0)
		report_dropped(log, sync);
	return r;
}

void mg_eventlog_report_dropped(struct mg_eventlog *log)
{
	report_dropped(log, true);
}

int mg_eventlog_append(struct mg_eventlog *log, struct mg_event *ev)
{
	return append(log, ev, true);
}

int mg_eventlog_append_nosync(struct mg_eventlog *log, struct mg_event *ev)
{
	return append(log, ev, false);
}

void mg_eventlog_defer(struct mg_eventlog *log, bool deferred)
{
	log->deferred = deferred;
}

int mg_eventlog_sync(struct mg_eventlog *log)
{
	return mg_spool_sync(log->spool);
}

uint64_t mg_eventlog_last_seq(const struct mg_eventlog *log)
{
	return mg_spool_next_seq(log->spool) - 1;
}

uint64_t mg_eventlog_last_security_seq(const struct mg_eventlog *log)
{
	return log->last_security;
}

uint64_t mg_eventlog_last_urgent_seq(const struct mg_eventlog *log)
{
	return log->last_urgent;
}

int mg_eventlog_ingest(struct mg_eventlog *log, const char *json, size_t len, bool sync, char *why,
                       size_t whylen)
{
	struct mg_event *ev = NULL;
	int r = mg_event_from_json(json, len, &ev, why, whylen);
	if (r < 0)
		return r;
	if (ev->type != MG_EV_AUTH_SUCCESS && ev->type != MG_EV_AUTH_FAILURE &&
	    ev->type != MG_EV_AUTH_LOCKOUT && ev->type != MG_EV_AUTH_UNLOCK) {
		snprintf(why, whylen, "type: only auth.* events are taken from the PAM module");
		mg_event_free(&ev);
		return -EINVAL;
	}
	r = append(log, ev, sync);
	if (r < 0)
		snprintf(why, whylen, "cannot record it: %s", strerror(-r));
	mg_event_free(&ev);
	return r;
}

const char *mg_eventlog_path(const struct mg_eventlog *log)
{
	return log->path;
}

struct mg_spool *mg_eventlog_spool(struct mg_eventlog *log)
{
	return log->spool;
}

const char *mg_eventlog_host(const struct mg_eventlog *log)
{
	return log->host;
}

const char *mg_eventlog_boot_id(const struct mg_eventlog *log)
{
	return log->boot_id;
}

uint64_t mg_eventlog_recovered(const struct mg_eventlog *log, uint64_t *cut_bytes,
                               const char **cut_why)
{
	if (cut_bytes)
		*cut_bytes = log->rec.cut_bytes;
	if (cut_why)
		*cut_why = log->rec.cut_why;
	return log->rec.records;
}
