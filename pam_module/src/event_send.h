/*
 * Delivery of the PAM module's events to the agent (docs/PAM.md section 6): one
 * SOCK_SEQPACKET message (the canonical JSON) to event_socket and one reply, "ok" or
 * "error: <why>"; when the agent cannot be reached in time, one line appended to
 * <state_dir>/events.pending, which the agent takes in when it starts. Used by
 * pam_mynaguard.so, mynaguard-auth-helper and mynaguard-enroll, each running as the trusted
 * owner (owner.h). Nothing here logs: the caller logs once, with the event.
 */
#ifndef MG_PAM_EVENT_SEND_H
#define MG_PAM_EVENT_SEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pam_conf.h"

/* Most one login waits for the agent, all its events together (connect, send, reply). */
#define MG_PAM_EVENT_WAIT_MS 2000u
/* The pending file, in state_dir. */
#define MG_PAM_PENDING_NAME "events.pending"

enum mg_pam_event_route {
	MG_PAM_EVENT_SENT,    /* the agent answered "ok": the event is in its spool */
	MG_PAM_EVENT_REFUSED, /* the agent answered "error: ...": malformed, not kept anywhere */
	MG_PAM_EVENT_PENDING, /* appended to the pending file */
	MG_PAM_EVENT_LOST,    /* neither (pending file full or refused): only syslog has it */
};

/*
 * Sends json as one message to the agent's SOCK_SEQPACKET socket at path, whose listening
 * process must run as owner (SO_PEERCRED), and waits for its reply; timeout_ms bounds the
 * whole exchange. 0: "ok". -EBADMSG: "error: ..." (why gets the agent's text). Any other
 * negative errno: not delivered (-ETIMEDOUT: no reply in time); why says why.
 */
int mg_pam_event_send(const char *path, uid_t owner, const char *json, unsigned timeout_ms,
                      char *why, size_t whylen);

/*
 * Appends json and "\n" with one write() and fsync to <state_dir>/events.pending (created
 * 0600; never through a symlink; must be a regular file owned by owner, with one link, not
 * group/world writable, in a state_dir that passes mg_pam_dir_check()). A torn last line left
 * by an interrupted writer is ended with "\n" first. When the file was renamed away (taken by
 * the agent) during the append, the line is written again to the new file. 0, or a negative
 * errno with nothing written: -ENOSPC when the file would grow beyond max_bytes,
 * -ELOOP/-EPERM/-EINVAL/-EISDIR for an unsafe file or directory, -EINVAL for json that is not
 * one line; or the error of write() or fsync() (a short write leaves a torn line). why says
 * why.
 */
int mg_pam_event_append(const char *state_dir, uid_t owner, uint64_t max_bytes, const char *json,
                        char *why, size_t whylen);

/*
 * mg_pam_event_send() to conf->event_socket, waiting at most *wait_ms (reduced by the time
 * spent, 0 after a timeout; 0: the agent is not tried; NULL: MG_PAM_EVENT_WAIT_MS), else
 * mg_pam_event_append() with conf->state_dir and conf->pending_max_bytes. Both check against
 * conf->owner. why: the agent's reason (REFUSED), why it was not sent (PENDING), why it was
 * not kept and not sent (LOST).
 */
enum mg_pam_event_route mg_pam_event_deliver(const struct mg_pam_conf *conf, const char *json,
                                             unsigned *wait_ms, char *why, size_t whylen);

/*
 * What the caller logs after mg_pam_event_deliver() (besides the event's own syslog line):
 * returns the syslog priority, -1 when there is nothing to log (SENT); msg gets
 * "event kept in <state_dir>/events.pending: <why>", "event refused by the agent: <why>" or
 * "event lost: <why>"; *with_json: the caller adds ": " and the event (refused, lost).
 */
int mg_pam_event_log_text(enum mg_pam_event_route route, const struct mg_pam_conf *conf,
                          const char *why, char *msg, size_t msglen, bool *with_json);

#endif
