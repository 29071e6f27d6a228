/*
 * auth.* events (docs/EVENTS.md) of the PAM module, as canonical JSON with seq 0. They go to
 * syslog (LOG_AUTHPRIV) as one line "mynaguard-event: {...}" and to the agent
 * (event_send.h); pam_entry.c, mynaguard-auth-helper and mynaguard-enroll send them.
 */
#ifndef MG_PAM_EVENTS_H
#define MG_PAM_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "authcore.h"
#include "mg/event.h"

struct mg_pam_event_info {
	const char *user;       /* as given to PAM; may be any bytes */
	const char *service;    /* PAM_SERVICE */
	const char *tty;        /* PAM_TTY, NULL: none */
	const char *rhost;      /* PAM_RHOST, NULL: none */
	const char *factor;     /* "fido2", "totp", NULL: none reached */
	const char *credential; /* credential label, NULL: none */
	const char *reason;     /* failure reason, NULL on success */
	uint64_t failures;      /* consecutive failures after this attempt */
	const char *central;    /* auth.failure: "expired"/"unavailable" (staff.db), NULL: none */
};

/*
 * Canonical JSON of one auth event (type: MG_EV_AUTH_*), time now, host and boot_id of this
 * machine, seq 0. *out is caller-owned. 0 or negative errno.
 */
int mg_pam_event_json(enum mg_event_type type, const struct mg_pam_event_info *info, char **out);

/* Where events go: the caller's function, given the JSON text. */
typedef void (*mg_pam_event_sink)(void *ctx, const char *json);

/*
 * The events of one decision, each to sink, in order: auth.unlock (reason "expired", or
 * o->unlock_reason: "central") when a lockout was cleared; then auth.success, or auth.failure
 * (reason "refused" when the outcome has none) followed by auth.lockout when this failure started a
 * lockout. who gives user, service, tty, rhost and central (for auth.failure; its other fields are
 * ignored); factor NULL: none reached. status: the outcome of a lockout check, which gives no
 * auth.success. Events whose JSON cannot be made are skipped.
 */
void mg_pam_outcome_events(const struct mg_pam_event_info *who, const char *factor,
                           const struct mg_auth_outcome *o, bool status, mg_pam_event_sink sink,
                           void *ctx);

#define MG_PAM_EVENT_PREFIX "mynaguard-event: "

#endif
