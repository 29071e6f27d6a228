/*
 * auth.* events (docs/EVENTS.md) of the PAM module, as canonical JSON. Until the agent's
 * event socket exists (event-pipeline issue) they go to syslog (LOG_AUTHPRIV) as one line
 * "mynaguard-event: {...}" with seq 0; pam_entry.c sends them.
 */
#ifndef MG_PAM_EVENTS_H
#define MG_PAM_EVENTS_H

#include <stdint.h>

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
};

/*
 * Canonical JSON of one auth event (type: MG_EV_AUTH_*), time now, host and boot_id of this
 * machine, seq 0. *out is caller-owned. 0 or negative errno.
 */
int mg_pam_event_json(enum mg_event_type type, const struct mg_pam_event_info *info, char **out);

/* Where events go: the caller's function, given the JSON text. */
typedef void (*mg_pam_event_sink)(void *ctx, const char *json);

#define MG_PAM_EVENT_PREFIX "mynaguard-event: "

#endif
