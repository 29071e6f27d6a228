/*
 * mynaguard-auth-helper: setuid-root helper for PAM stacks that run as the user (screen
 * lockers), in the manner of pam_unix's unix_chkpwd. It acts only for the calling user (the
 * real uid must be that user's), reads its configuration from a path fixed at build time,
 * never from the caller, and does the steps that need secrets or state: TOTP validation,
 * FIDO2 verification against a challenge it made itself, counters and lockout. It sends the
 * events of its decisions to the agent (the module, not root, cannot) before it answers.
 * Protocol: helper_proto.h. Exit status: 0 accepted, 1 refused, 2 error.
 */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "authcore.h"
#include "credstore.h"
#include "encoding.h"
#include "event_send.h"
#include "fido2_auth.h"
#include "helper_proto.h"
#include "mg/time.h"
#include "owner.h"
#include "pam_conf.h"
#include "pam_events.h"
#include "pam_user.h"
#include "staffdb_read.h"

#ifndef MG_PAM_HELPER_CONF
#define MG_PAM_HELPER_CONF MG_PAM_DEFAULT_CONF
#endif

#ifdef MG_PAM_HELPER_CONF_BESIDE_EXE
/*
 * Test build only (tests/pam: mynaguard-auth-helper-test, never installed): pam.conf in the
 * directory of the running executable, so that the test's setuid copy lives in a private
 * mkdtemp directory instead of a fixed path in /tmp. The caller cannot choose it: it is
 * where the real executable is (/proc/self/exe), and mg_pam_conf_load checks the owner.
 */
static const char *helper_conf_path(void)
{
	static char path[4096];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - sizeof("/pam.conf"));
	if (n <= 0 || (size_t)n >= sizeof(path) - sizeof("/pam.conf"))
		return ""; /* refused: no configuration */
	path[n] = '\0';
	char *slash = strrchr(path, '/');
	if (!slash)
		return ""; /* refused: no configuration */
	memcpy(slash, "/pam.conf", sizeof("/pam.conf"));
	return path;
}
#else
static const char *helper_conf_path(void)
{
	return MG_PAM_HELPER_CONF;
}
#endif

#define EXIT_REFUSED 1
#define EXIT_ERROR   2

static char line[MG_HELPER_LINE_MAX];

/*
 * The events of this run's decisions (the same the module logs): sent once the configuration
 * is loaded. Each run waits at most half of a login's bound for the agent: one login runs
 * the helper at most twice with events (the lockout check, then the deciding factor).
 */
static struct {
	const struct mg_pam_conf *conf; /* NULL: no events */
	struct mg_pam_event_info who;   /* user (checked), service, tty, rhost (the caller's) */
	const char *factor;             /* by mode; NULL for "status" */
	bool status;                    /* "status": a lockout check, no auth.success */
	unsigned wait_ms;
} ev = {.wait_ms = MG_PAM_EVENT_WAIT_MS / 2};

static void deliver_event(void *ctx, const char *json)
{
	char why[768], msg[1024];
	bool with_json = false;
	(void)ctx;
	enum mg_pam_event_route route =
	    mg_pam_event_deliver(ev.conf, json, &ev.wait_ms, why, sizeof(why));
	int prio = mg_pam_event_log_text(route, ev.conf, why, msg, sizeof(msg), &with_json);
	if (prio < 0)
		return;
	openlog("mynaguard-auth-helper", LOG_PID, LOG_AUTHPRIV);
	syslog(prio, "%s%s%s", msg, with_json ? ": " : "", with_json ? json : "");
	closelog();
}

/* Reads one line from stdin into line (without '\n'). 0 or -1. */
static int read_request(void)
{
	size_t used = 0;
	while (used + 1 < sizeof(line)) {
		ssize_t n = read(0, line + used, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		if (line[used] == '\n') {
			line[used] = '\0';
			return 0;
		}
		used++;
	}
	return -1;
}

static int finish(const struct mg_auth_outcome *o)
{
	char out[512];
	if (ev.conf)
		mg_pam_outcome_events(&ev.who, ev.factor, o, ev.status, deliver_event, NULL);
	if (mg_helper_result_format(o, out, sizeof(out)) < 0)
		return EXIT_ERROR;
	fputs(out, stdout);
	fflush(stdout);
	return o->success ? 0 : EXIT_REFUSED;
}

static int refuse(const char *reason)
{
	struct mg_auth_outcome o;
	memset(&o, 0, sizeof(o));
	o.reason = reason;
	finish(&o);
	return EXIT_ERROR;
}

/* "fail REASON" with a known reason. */
static const char *fail_reason(void)
{
	if (strncmp(line, "fail ", 5) != 0)
		return NULL;
	return mg_helper_reason(line + 5);
}

/* The credential of f whose id is the assertion's, or NULL. */
static const struct mg_fido2_cred *find_cred(const struct mg_fido2_credfile *f,
                                             const struct mg_helper_assert *as)
{
	for (size_t i = 0; f && i < f->n; i++)
		if (f->creds[i].id_len == as->id_len &&
		    memcmp(f->creds[i].id, as->id, as->id_len) == 0)
			return &f->creds[i];
	return NULL;
}

static int do_fido2(const struct mg_pam_conf *conf, const char *user)
{
	struct mg_auth_outcome o;
	struct mg_fido2_credfile *creds = NULL;
	unsigned char cdh[MG_FIDO2_CDH_LEN];
	static struct mg_helper_assert as;
	char hex[2 * MG_FIDO2_CDH_LEN + 1], why[512];
	uint64_t now = (uint64_t)time(NULL);
	int r = mg_auth_status(conf, user, true, now, &o);
	if (r < 0)
		return refuse("helper-error");
	if (!o.success)
		return finish(&o);
	if (getrandom(cdh, sizeof(cdh), 0) != (ssize_t)sizeof(cdh))
		return refuse("helper-error");
	mg_hex_encode(cdh, sizeof(cdh), hex);
	printf("challenge %s\n", hex);
	fflush(stdout);
	if (read_request() < 0 || strcmp(line, "abort") == 0)
		return EXIT_REFUSED;
	now = (uint64_t)time(NULL);
	const char *reason = fail_reason();
	if (reason) {
		r = mg_auth_fail(conf, user, true, reason, now, &o);
		return r < 0 ? refuse("helper-error") : finish(&o);
	}
	/* Versioned and bounded (helper_proto.h); uv=1: the key was asked with its PIN. */
	if (mg_helper_assert_parse(line, &as) < 0)
		return refuse("helper-error");
	/*
	 * The credential is looked up here, as root, in local ∪ central (staff.db, issue 15,
	 * read again by the helper itself: what the module asked the key for is not trusted).
	 */
	if (conf->credentials != MG_PAM_CRED_CENTRAL) {
		r = mg_credstore_load_fido2(conf->credential_dir, conf->owner, user, &creds, why,
		                            sizeof(why));
		if (r < 0 && r != -ENOENT)
			return refuse("credential-error");
	}
	struct mg_central central;
	/* staff.db's validity to the microsecond (the lockout clock counts seconds). */
	if (mg_central_lookup(conf, user, mg_now_us(), true, &central, why, sizeof(why)) < 0) {
		mg_fido2_credfile_free(&creds);
		return refuse("helper-error");
	}
	const struct mg_fido2_credfile *central_creds =
	    central.state == MG_CENTRAL_ACTIVE ? central.creds : NULL;
	if ((!creds || creds->n == 0) && (!central_creds || central_creds->n == 0)) {
		mg_fido2_credfile_free(&creds);
		mg_central_free(&central);
		return refuse("not-registered");
	}
	const struct mg_fido2_cred *cred = find_cred(creds, &as);
	if (!cred)
		cred = find_cred(central_creds, &as);
	if (!cred) {
		r = mg_auth_fail(conf, user, true, "not-registered", now, &o);
	} else {
		uint64_t sigcount = 0;
		bool uv_done = false;
		/* uv = preferred and a key with a PIN: the module asked for the PIN (uv=1), so the
		 * signed authenticator data must carry the UV flag. */
		bool uv_required = conf->uv == MG_PAM_UV_REQUIRED || cred->uv || as.uv_expected;
		int v = mg_fido2_verify(cred, conf->rp_id, cdh, as.authdata, as.authdata_len,
		                        as.sig, as.sig_len, uv_required, &sigcount, &uv_done);
		if (v == -EBADMSG)
			r = mg_auth_fail(conf, user, true, "bad-signature", now, &o);
		else if (v < 0)
			r = v;
		else
			r = mg_auth_fido2_finish(conf, user, true, cred, sigcount, now, &o);
		snprintf(o.credential, sizeof(o.credential), "%s", cred->label);
	}
	mg_fido2_credfile_free(&creds);
	mg_central_free(&central);
	return r < 0 ? refuse("helper-error") : finish(&o);
}

/*
 * One limit: want (soft and hard), or, where raising the hard limit is not permitted (no
 * CAP_SYS_RESOURCE), the soft limit up to the caller's hard one, which must then be at least
 * minimum. 0 or -1.
 */
#ifdef __GLIBC__
typedef __rlimit_resource_t rlimit_res; /* glibc's enum under _GNU_SOURCE */
#else
typedef int rlimit_res;
#endif

static int reset_limit(rlimit_res resource, rlim_t want, rlim_t minimum)
{
	struct rlimit rl = {want, want};
	if (setrlimit(resource, &rl) == 0)
		return 0;
	if (getrlimit(resource, &rl) < 0)
		return -1;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(resource, &rl) < 0)
		return -1;
	return rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < minimum ? -1 : 0;
}

/*
 * The caller chooses the resource limits, signal dispositions and signal mask this setuid
 * program starts with: a tiny RLIMIT_FSIZE with SIGXFSZ ignored made state writes stop
 * half-way (issue 13, finding 1). Reset them first, as unix_chkpwd and sudo do; a limit that
 * cannot be made sane refuses the run (fail closed). 0 or -1.
 */
static int reset_process(void)
{
	static const struct {
		rlimit_res resource;
		rlim_t want, minimum;
	} limits[] = {
	    {RLIMIT_FSIZE, RLIM_INFINITY, 1024 * 1024}, /* a whole state or pending file */
	    {RLIMIT_CPU, RLIM_INFINITY, 60},            /* alarm() bounds the run instead */
	    {RLIMIT_DATA, RLIM_INFINITY, 0},
	    {RLIMIT_AS, RLIM_INFINITY, 0},
	    {RLIMIT_NOFILE, 1024, 64},
	};
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++)
		if (reset_limit(limits[i].resource, limits[i].want, limits[i].minimum) < 0)
			return -1;
	struct rlimit core = {0, 0}; /* never a core file of a root process */
	if (setrlimit(RLIMIT_CORE, &core) < 0)
		return -1;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &sa, NULL); /* glibc's own signals: EINVAL, kept */
	sigset_t none;
	sigemptyset(&none);
	return sigprocmask(SIG_SETMASK, &none, NULL) < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct mg_pam_conf conf;
	struct mg_config_error err;
	struct mg_auth_outcome o;
	struct passwd pw, *res = NULL;
	char pwbuf[4096];
	uid_t owner = 0;
	int rc;

	umask(077);
	clearenv();
	if (reset_process() < 0)
		return refuse("helper-error");
	memset(&conf, 0, sizeof(conf));
	if (argc != 3 && argc != 6) {
		fprintf(
		    stderr,
		    "usage: mynaguard-auth-helper status|totp|fido2|fail USER [SERVICE TTY RHOST]\n"
		    "(run by pam_mynaguard.so, not by people)\n");
		return EXIT_ERROR;
	}
	const char *mode = argv[1], *user = argv[2];
	if (!mg_pam_user_valid(user) ||
	    getpwuid_r(getuid(), &pw, pwbuf, sizeof(pwbuf), &res) != 0 || !res ||
	    strcmp(res->pw_name, user) != 0)
		return refuse("wrong-user");
	if (mg_pam_owner_of_code(&owner) < 0 || geteuid() != owner)
		return refuse("helper-error");
	if (mg_pam_conf_load(helper_conf_path(), owner, &conf, &err) < 0)
		return refuse("helper-error");
	alarm(strcmp(mode, "fido2") == 0 ? (unsigned)conf.fido2_timeout + 30u : 30u);
	/* Events: always for the deciding modes; for "status" only in a login (PAM items given),
	 * not in the account phase, as when the module runs as the owner. */
	ev.status = strcmp(mode, "status") == 0;
	ev.factor = strcmp(mode, "totp") == 0 ? "totp" : ev.status ? NULL : "fido2";
	ev.who.user = user;
	/* The events' "central" note (staff.db expired or unavailable), as the module's. */
	struct mg_central central;
	if (mg_central_lookup(&conf, user, mg_now_us(), false, &central, NULL, 0) == 0) {
		ev.who.central = mg_central_note(&central);
		mg_central_free(&central);
	}
	if (argc == 6) {
		ev.who.service = argv[3];
		ev.who.tty = argv[4][0] ? argv[4] : NULL;
		ev.who.rhost = argv[5][0] ? argv[5] : NULL;
	}
	bool known = ev.status || strcmp(mode, "totp") == 0 || strcmp(mode, "fido2") == 0 ||
	             strcmp(mode, "fail") == 0;
	if (known && (!ev.status || argc == 6))
		ev.conf = &conf;

	uint64_t now = (uint64_t)time(NULL);
	if (strcmp(mode, "status") == 0) {
		rc = mg_auth_status(&conf, user, true, now, &o) < 0 ? refuse("helper-error")
		                                                    : finish(&o);
	} else if (strcmp(mode, "totp") == 0) {
		if (read_request() < 0 || strncmp(line, "code ", 5) != 0) {
			rc = refuse("helper-error");
		} else {
			int r = mg_auth_totp(&conf, user, true, line + 5, now, &o);
			rc = r < 0 ? refuse("credential-error") : finish(&o);
		}
	} else if (strcmp(mode, "fail") == 0) {
		const char *reason = read_request() == 0 ? fail_reason() : NULL;
		rc = !reason                                                ? refuse("helper-error")
		     : mg_auth_fail(&conf, user, true, reason, now, &o) < 0 ? refuse("helper-error")
		                                                            : finish(&o);
	} else if (strcmp(mode, "fido2") == 0) {
		rc = do_fido2(&conf, user);
	} else {
		rc = refuse("helper-error");
	}
	explicit_bzero(line, sizeof(line));
	mg_pam_conf_free(&conf);
	return rc;
}
