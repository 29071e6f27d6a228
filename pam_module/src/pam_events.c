/* Builds the PAM module's auth.* events. */
#include "pam_events.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg/host.h"

/* Strings from PAM items are capped so one event always fits a syslog line. */
#define FIELD_MAX 256

static int set_capped(char **dst, const char *src)
{
	if (!src)
		return 0;
	char buf[FIELD_MAX + 1];
	snprintf(buf, sizeof(buf), "%s", src);
	return mg_set_str(dst, buf);
}

int mg_pam_event_json(enum mg_event_type type, const struct mg_pam_event_info *info, char **out)
{
	char host[256];
	int r = -ENOMEM;
	struct mg_event *ev = mg_event_new(type);
	if (!ev)
		return -ENOMEM;
	if (mg_hostname(host, sizeof(host)) < 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "localhost");
	if (mg_boot_id(ev->boot_id) < 0)
		snprintf(ev->boot_id, sizeof(ev->boot_id), "00000000-0000-0000-0000-000000000000");
	ev->seq = 0;
	struct mg_event_user *u = mg_event_user(ev);
	struct mg_event_auth *a = mg_event_auth(ev);
	if (!u || !a)
		goto out;
	if (set_capped(&ev->host, host) < 0 ||
	    set_capped(&u->name, info->user ? info->user : "") < 0 ||
	    set_capped(&u->service, info->service ? info->service : "") < 0 ||
	    set_capped(&u->tty, info->tty) < 0 || set_capped(&u->rhost, info->rhost) < 0 ||
	    set_capped(&a->factor, info->factor) < 0 ||
	    set_capped(&a->credential, info->credential) < 0 ||
	    set_capped(&a->reason, info->reason) < 0 ||
	    (type == MG_EV_AUTH_FAILURE && set_capped(&a->central, info->central) < 0))
		goto out;
	a->failures = info->failures;
	r = mg_event_to_json(ev, out, NULL);
out:
	mg_event_free(&ev);
	return r;
}

static void one(const struct mg_pam_event_info *who, enum mg_event_type type, const char *factor,
                const char *credential, const char *reason, uint64_t failures,
                mg_pam_event_sink sink, void *ctx)
{
	struct mg_pam_event_info info = {
	    .user = who->user,
	    .service = who->service,
	    .tty = who->tty,
	    .rhost = who->rhost,
	    .factor = factor,
	    .credential = credential && credential[0] ? credential : NULL,
	    .reason = reason,
	    .failures = failures,
	    .central = who->central,
	};
	char *json = NULL;
	if (mg_pam_event_json(type, &info, &json) == 0)
		sink(ctx, json);
	free(json);
}

void mg_pam_outcome_events(const struct mg_pam_event_info *who, const char *factor,
                           const struct mg_auth_outcome *o, bool status, mg_pam_event_sink sink,
                           void *ctx)
{
	const char *reason = o->reason ? o->reason : "refused";
	if (!sink)
		return;
	if (o->unlocked_now)
		one(who, MG_EV_AUTH_UNLOCK, NULL, NULL,
		    o->unlock_reason ? o->unlock_reason : "expired", 0, sink, ctx);
	if (o->success) {
		if (!status)
			one(who, MG_EV_AUTH_SUCCESS, factor, o->credential, NULL, 0, sink, ctx);
		return;
	}
	one(who, MG_EV_AUTH_FAILURE, factor, o->credential, reason, o->failures, sink, ctx);
	if (o->locked_now)
		one(who, MG_EV_AUTH_LOCKOUT, factor, o->credential, reason, o->failures, sink, ctx);
}
