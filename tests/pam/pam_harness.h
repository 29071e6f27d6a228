/*
 * Test harness for pam_mynaguard.so under pam_wrapper + libpamtest (+ nss_wrapper): a fresh
 * directory tree per test (pam.conf, credentials, state, PAM service files, passwd/group),
 * a conversation that answers prompts and records every message, and capture of the events
 * the module writes through pam_syslog (PAM_WRAPPER_DEBUGLEVEL prints them on stderr).
 * See ../shared/TESTING.md section 2.
 */
#ifndef MG_TEST_PAM_HARNESS_H
#define MG_TEST_PAM_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "credfile.h"

#define H_MAX_MSGS 32

struct h_conv {
	const char *answers[8]; /* answers to prompts, in order; NULL: the conversation fails */
	size_t nanswers;
	size_t next;
	char *prompts[H_MAX_MSGS];
	size_t nprompts;
	char *infos[H_MAX_MSGS];
	size_t ninfos;
	char *errors[H_MAX_MSGS];
	size_t nerrors;
};

struct harness {
	char root[128];
	char conf[PATH_MAX];
	char creds[PATH_MAX];
	char state[PATH_MAX];
	char events_file[PATH_MAX];
	char event_socket[PATH_MAX]; /* the conf's event_socket: <root>/events.sock (no listener) */
	char pending[PATH_MAX];      /* <state>/events.pending */
	char extra_conf[1024];
};

/*
 * Test users in the nss_wrapper passwd file: alice 1001, bob 1002, nobody 65534. The PAM
 * service points at one pam.conf for the process: MG_PAM_TEST_CONF when set.
 */
void h_global_setup(void);

/*
 * New tree; conf gets credential_dir, state_dir, event_socket (in the tree, so that no test
 * reaches a real agent), fail_delay_ms = 0 and extra_conf lines.
 */
int h_new(struct harness *h, const char *extra_conf);
void h_free(struct harness *h);
/* Rewrites pam.conf with extra lines. */
void h_write_conf(struct harness *h, const char *extra_conf);
/* Absolute path of the module under test. */
const char *h_module(void);

/* Writes an enrolled TOTP credential for user (secret: bytes 1..n). */
void h_totp_enroll(struct harness *h, const char *user, enum mg_totp_alg alg, unsigned digits,
                   unsigned period, struct mg_totp_cred *out);
/* Writes the code for now + steps periods; returns the time step it belongs to, which is
 * what the module stores as last_totp_step (compare with this, not with a later time()). */
long long h_totp_code(const struct mg_totp_cred *c, int steps, char *buf, size_t len);
/* Waits (at most 3 s) while fewer than 3 s remain in the current TOTP step. */
void h_avoid_step_edge(unsigned period);

/*
 * One pam_authenticate (service "mynaguard", pam_set_items.so first, so PAM_RHOST/PAM_TTY
 * come from the environment) as user; returns the PAM code. Events go to h->events_file.
 */
int h_auth(struct harness *h, const char *user, struct h_conv *conv);
/* pam_acct_mgmt. */
int h_account(struct harness *h, const char *user);
void h_conv_free(struct h_conv *c);

/* Number of events of type (e.g. "auth.failure") captured so far; *last gets the last one. */
int h_events(struct harness *h, const char *type, char *last, size_t lastlen);
/* Empties the captured events. */
void h_events_clear(struct harness *h);

/*
 * Lines of the pending file (h->pending) holding an event of type (NULL: every line);
 * *last gets the last one without its "\n". -1 when there is no pending file.
 */
int h_pending(struct harness *h, const char *type, char *last, size_t lastlen);

/* The 255-byte test user ("Long.Name-Long.Name-...", in the passwd file). Also in the
 * passwd file: Tanaka 1003, tanaka 1004, suzuki@city.local 1005. */
const char *h_long_user(void);

/* The user's state: the current record of a two-slot file, else the file's bytes ("" when
 * absent). */
void h_state(struct harness *h, const char *user, char *buf, size_t len);
/* A JSON field of the user's state (-1 when absent). */
long long h_state_field(struct harness *h, const char *user, const char *field);
/* Writes the state file. */
void h_write_state(struct harness *h, const char *user, const char *json);

/*
 * pam_wrapper gives each process that starts PAM a directory /tmp/pam.X holding a "pid" file;
 * its destructor removes it, which a child leaving with _exit() never runs. The parent calls
 * this after waitpid() to remove the one its child made.
 */
void h_remove_pam_wrapper_dir(pid_t child);

/*
 * pam_wrapper chooses that directory from the process id with lstat() then mkdir(): processes
 * that start PAM at the same moment can pick the same letter, and the loser removes the
 * winner's directory (PAM then fails in both). A forked child that will race others calls
 * this first, one child at a time: it makes the child's directory (pam_start, pam_end) so that
 * the later attempts reuse it. Returns 0, or -1 when pam_start failed.
 */
int h_pam_wrapper_prepare(struct harness *h);

/* Runs argv (NULL-terminated) with stdin text; returns the exit status; output into out. */
int h_run(const char *const argv[], const char *stdin_text, char *out, size_t outlen);

#endif
