/*
 * pam_sm_* entry points of pam_mynaguard.so: the only place that maps negative errno to
 * PAM_* codes and the only place that logs. Every error path refuses.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define PAM_SM_AUTH
#define PAM_SM_ACCOUNT
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "authcore.h"
#include "authflow.h"
#include "event_send.h"
#include "helper_client.h"
#include "messages.h"
#include "owner.h"
#include "pam_conf.h"
#include "pam_events.h"
#include "pam_user.h"

#define DEFAULT_FAIL_DELAY_US 2000000u

struct entry {
	pam_handle_t *pamh;
	bool silent;
	const struct mg_pam_conf *conf;
	bool deliver;     /* running as the trusted owner: events go to the agent too */
	unsigned wait_ms; /* what this attempt may still wait for the agent */
};

static int conv_prompt(void *ctx, bool echo, const char *msg, char **answer)
{
	struct entry *e = ctx;
	char *resp = NULL;
	int r =
	    pam_prompt(e->pamh, echo ? PAM_PROMPT_ECHO_ON : PAM_PROMPT_ECHO_OFF, &resp, "%s", msg);
	if (r != PAM_SUCCESS) {
		if (resp) {
			explicit_bzero(resp, strlen(resp));
			free(resp);
		}
		return -ECONNABORTED;
	}
	*answer = resp;
	return 0;
}

static void conv_info(void *ctx, const char *msg)
{
	struct entry *e = ctx;
	if (!e->silent)
		pam_info(e->pamh, "%s", msg);
}

static void conv_error(void *ctx, const char *msg)
{
	struct entry *e = ctx;
	if (!e->silent)
		pam_error(e->pamh, "%s", msg);
}

/*
 * Syslog always; the agent (else the pending file) when running as the trusted owner. Not as
 * the owner (screen lockers), the helper sends the events of its decisions itself. Delivery
 * never changes the result of the attempt.
 */
static void send_event(void *ctx, const char *json)
{
	struct entry *e = ctx;
	char why[768], msg[1024];
	bool with_json = false;
	pam_syslog(e->pamh, LOG_NOTICE, MG_PAM_EVENT_PREFIX "%s", json);
	if (!e->deliver)
		return;
	enum mg_pam_event_route route =
	    mg_pam_event_deliver(e->conf, json, &e->wait_ms, why, sizeof(why));
	int prio = mg_pam_event_log_text(route, e->conf, why, msg, sizeof(msg), &with_json);
	if (prio >= 0)
		pam_syslog(e->pamh, prio, "%s%s%s", msg, with_json ? ": " : "",
		           with_json ? json : "");
}

/*
 * The errno -> PAM mapping of authentication. Nothing maps to success but 0. Every way a
 * credential or state file can be refused gives one code, PAM_AUTHINFO_UNAVAIL (docs/PAM.md
 * section 1): a symlink (-ELOOP), wrong owner or mode (-EPERM), not a regular file, i.e. a
 * directory or FIFO (-EINVAL), too large (-EFBIG), a path component that is not a directory
 * (-ENOTDIR), content that does not parse (-EBADMSG). What someone put in place of the file
 * cannot choose the code; PAM_SERVICE_ERR stays for arguments, configuration, internal errors.
 */
static int auth_code(int r)
{
	switch (r) {
	case 0:
		return PAM_SUCCESS;
	case -EACCES:
	case -ECONNABORTED:
		return PAM_AUTH_ERR;
	case -ENODEV:
	case -ENOTSUP:
	case -EPERM:
	case -ELOOP:
	case -EBADMSG:
	case -EINVAL:
	case -EFBIG:
	case -ENOTDIR:
		return PAM_AUTHINFO_UNAVAIL;
	default:
		return PAM_SERVICE_ERR;
	}
}

static const char *item(pam_handle_t *pamh, int type)
{
	const void *v = NULL;
	if (pam_get_item(pamh, type, &v) != PAM_SUCCESS)
		return NULL;
	return v;
}

/* Arguments and configuration; logs and returns a PAM code on error. */
static int load(pam_handle_t *pamh, int argc, const char **argv, struct mg_pam_conf *conf,
                bool silent)
{
	const char *path = NULL;
	char msg[512];
	struct mg_config_error err;
	uid_t owner = 0;
	if (mg_pam_args_parse(argc, argv, &path, msg, sizeof(msg)) < 0) {
		pam_syslog(pamh, LOG_ERR, "%s", msg);
		return PAM_SERVICE_ERR;
	}
	if (mg_pam_owner_of_code(&owner) < 0)
		owner = 0;
	memset(&err, 0, sizeof(err));
	int r = mg_pam_conf_load(path, owner, conf, &err);
	if (r < 0) {
		pam_syslog(pamh, LOG_ERR, "%s", mg_config_error_str(&err, msg, sizeof(msg)));
		if (!silent)
			pam_error(pamh, "%s", mg_pam_msg(MG_MSG_MISCONFIGURED));
		return PAM_SERVICE_ERR;
	}
	return PAM_SUCCESS;
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct mg_pam_conf conf;
	struct entry e = {.pamh = pamh,
	                  .silent = ((unsigned)flags & (unsigned)PAM_SILENT) != 0,
	                  .conf = &conf,
	                  .wait_ms = MG_PAM_EVENT_WAIT_MS};
	const char *user = NULL;
	char why[512];

	memset(&conf, 0, sizeof(conf));
	/* libpam keeps the largest delay asked for: ask once, after the configuration. */
	int code = load(pamh, argc, argv, &conf, e.silent);
	if (code != PAM_SUCCESS) {
		pam_fail_delay(pamh, DEFAULT_FAIL_DELAY_US);
		return code;
	}
	pam_fail_delay(pamh, (unsigned)conf.fail_delay_ms * 1000u);
	e.deliver = geteuid() == conf.owner;
	if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || !user || !user[0]) {
		mg_pam_conf_free(&conf);
		return PAM_AUTH_ERR;
	}
	struct mg_pam_attempt att = {
	    .user = user,
	    .service = item(pamh, PAM_SERVICE),
	    .tty = item(pamh, PAM_TTY),
	    .rhost = item(pamh, PAM_RHOST),
	};
	struct mg_pam_io io = {&e, conv_prompt, conv_info, conv_error, send_event};
	int r = mg_authflow_run(&conf, &io, &att, why, sizeof(why));
	code = auth_code(r);
	if (code != PAM_SUCCESS && r != -EACCES && r != -ECONNABORTED)
		pam_syslog(pamh, LOG_ERR, "refused: %s%s%s", why[0] ? why : "", why[0] ? ": " : "",
		           strerror(-r));
	mg_pam_conf_free(&conf);
	return code;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	(void)pamh;
	(void)flags;
	(void)argc;
	(void)argv;
	return PAM_SUCCESS;
}

/* Account: a locked user is refused here too (logins that skip auth, e.g. SSH keys). */
PAM_EXTERN int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	struct mg_pam_conf conf;
	struct mg_auth_outcome o;
	const char *user = NULL;
	bool silent = ((unsigned)flags & (unsigned)PAM_SILENT) != 0;
	memset(&conf, 0, sizeof(conf));
	int code = load(pamh, argc, argv, &conf, silent);
	if (code != PAM_SUCCESS)
		return code;
	if (pam_get_user(pamh, &user, NULL) != PAM_SUCCESS || !user || !user[0]) {
		mg_pam_conf_free(&conf);
		return PAM_USER_UNKNOWN;
	}
	struct passwd pw, *res = NULL;
	char buf[4096];
	int r;
	if (!mg_pam_user_valid(user) || getpwnam_r(user, &pw, buf, sizeof(buf), &res) != 0 || !res)
		r = -EINVAL;
	else if (geteuid() == conf.owner)
		r = mg_auth_status(&conf, user, true, (uint64_t)time(NULL), &o);
	else
		r = mg_helper_status(conf.helper, &(struct mg_helper_who){.user = user}, &o);
	if (r == -EINVAL) {
		code = PAM_USER_UNKNOWN;
	} else if (r < 0) {
		pam_syslog(pamh, LOG_ERR, "account: state of %s cannot be read: %s", user,
		           strerror(-r));
		code = PAM_AUTHINFO_UNAVAIL;
	} else if (!o.success) {
		if (!silent)
			pam_error(pamh, "%s", mg_pam_msg(MG_MSG_LOCKED));
		code = PAM_PERM_DENIED;
	} else {
		code = PAM_SUCCESS;
	}
	mg_pam_conf_free(&conf);
	return code;
}
