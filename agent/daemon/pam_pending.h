/*
 * The PAM module's pending events (docs/PAM.md "Events"): auth.* events that pam_mynaguard.so
 * could not hand to the event socket while the agent was not running, one canonical JSON
 * event per line in a root-owned file. The agent takes them into the spool when it starts and
 * at every heartbeat: the file is renamed to "<file>.taking" first (the module then starts a
 * new one), every complete line is checked (mg_eventlog_ingest: auth.* only) and recorded, the
 * spool synced, and the taken file removed. A torn last line (the module crashed while
 * writing) is skipped. A file that is not root's (or the agent's user's), or writable by
 * others, is not read: it is renamed to "<file>.refused" and the log says why.
 */
#ifndef MG_PAM_PENDING_H
#define MG_PAM_PENDING_H

#include <stddef.h>

#include "eventlog.h"

#define MG_PAM_PENDING_MAX (64u * 1024u * 1024u)

/* Takes the pending events into the spool. Returns the number taken (or a negative errno). */
int mg_pam_pending_take(const char *path, struct mg_eventlog *log);

#endif
