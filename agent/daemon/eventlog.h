/*
 * The agent's durable event log: one canonical JSON event per line in
 * <state_dir>/events.jsonl, each line fsync'ed before the append returns. It numbers events
 * (seq strictly increasing per boot_id, continued across agent restarts within a boot) and
 * stamps host and boot_id. The event-pipeline work replaces the file with the spool.
 */
#ifndef MG_EVENTLOG_H
#define MG_EVENTLOG_H

#include <stdbool.h>
#include <stdint.h>

#include "mg/event.h"

struct mg_eventlog;

/* Opens (creating 0600) state_dir/events.jsonl; recovers the last seq of this boot. */
int mg_eventlog_open(const char *state_dir, struct mg_eventlog **out);
void mg_eventlog_close(struct mg_eventlog **log);

/*
 * Stamps ev (host, boot_id, seq) and appends it durably (fdatasync before returning), unless
 * the log is deferred. 0 or negative errno.
 */
int mg_eventlog_append(struct mg_eventlog *log, struct mg_event *ev);
/* Appends without waiting for the disk: the next durable append or sync covers it. */
int mg_eventlog_append_nosync(struct mg_eventlog *log, struct mg_event *ev);

/*
 * Deferred mode (the start-up scan): appends write but do not sync until
 * mg_eventlog_sync(), which makes everything written so far durable. 0 or negative errno.
 */
void mg_eventlog_defer(struct mg_eventlog *log, bool deferred);
int mg_eventlog_sync(struct mg_eventlog *log);

uint64_t mg_eventlog_last_seq(const struct mg_eventlog *log);
const char *mg_eventlog_path(const struct mg_eventlog *log);

#endif
