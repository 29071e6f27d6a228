/*
 * The agent's event recorder: stamps each event (host, boot_id, seq strictly increasing per
 * boot, continued across agent restarts within a boot) and appends its canonical JSON to the
 * spool in <state_dir>/spool/ (agent/spool/spool.h), durably unless deferred. Security events
 * (blocked/rejected/suspicious devices, failed logins, lock-outs, rejected policies, stopped
 * uploads, dropped events) may use the whole spool, routine ones 90% of it (an allow decision
 * beyond that uses the reserve too: an allow that cannot be recorded is undone); what the full
 * spool refuses is counted and reported as one spool.dropped event as soon as an append
 * succeeds again. Device decisions never wait for the network: the uplink reads the spool.
 */
#ifndef MG_EVENTLOG_H
#define MG_EVENTLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mg/event.h"

struct mg_eventlog;
struct mg_spool;

/* Opens (creating 0700, recovering) state_dir/spool. max_bytes 0: 256 MiB. On an error, err
 * says what was wrong. */
int mg_eventlog_open(const char *state_dir, uint64_t max_bytes, struct mg_eventlog **out, char *err,
                     size_t errlen);
void mg_eventlog_close(struct mg_eventlog **log);

/* Whether events of this type take priority in a full spool. */
bool mg_event_is_security(const struct mg_event *ev);

/*
 * Stamps ev (host, boot_id, seq) and appends it durably (fdatasync before returning), unless
 * the log is deferred. 0 or negative errno (-ENOSPC: the spool is full for this priority; the
 * event is counted for spool.dropped).
 */
int mg_eventlog_append(struct mg_eventlog *log, struct mg_event *ev);
/* Records the spool.dropped report now if events were refused since the last one and there
 * is room (the upload calls it after acknowledged segments went). */
void mg_eventlog_report_dropped(struct mg_eventlog *log);

/* Appends without waiting for the disk: the next durable append or sync covers it. */
int mg_eventlog_append_nosync(struct mg_eventlog *log, struct mg_event *ev);

/*
 * Deferred mode (the start-up scan): appends write but do not sync until
 * mg_eventlog_sync(), which makes everything written so far durable. 0 or negative errno.
 */
void mg_eventlog_defer(struct mg_eventlog *log, bool deferred);
int mg_eventlog_sync(struct mg_eventlog *log);

uint64_t mg_eventlog_last_seq(const struct mg_eventlog *log);
/* The seq of the last security event recorded by this process (0: none): the upload sends
 * at once when it is not sent yet. */
uint64_t mg_eventlog_last_security_seq(const struct mg_eventlog *log);
/* The seq of the last event the pipeline sends at once: a security event or a device decision
 * (an allowed device too: the administrator sees what is in use within a second). Inserted,
 * removed and the like wait a little to go in one batch. */
uint64_t mg_eventlog_last_urgent_seq(const struct mg_eventlog *log);

/*
 * An auth.* event of the PAM module (event socket, pending file): parsed strictly, only
 * auth.* types, then stamped with this machine's host, boot and seq like any other. 0, or a
 * negative errno with why.
 */
int mg_eventlog_ingest(struct mg_eventlog *log, const char *json, size_t len, bool sync, char *why,
                       size_t whylen);
/* The spool directory (for messages). */
const char *mg_eventlog_path(const struct mg_eventlog *log);
/* The spool itself, for the upload (read, acknowledge). */
struct mg_spool *mg_eventlog_spool(struct mg_eventlog *log);
/* This machine's host name and boot id, as stamped on events. */
const char *mg_eventlog_host(const struct mg_eventlog *log);
const char *mg_eventlog_boot_id(const struct mg_eventlog *log);
/* What opening the spool found: records kept, bytes cut and why ("" when nothing). */
uint64_t mg_eventlog_recovered(const struct mg_eventlog *log, uint64_t *cut_bytes,
                               const char **cut_why);

#endif
