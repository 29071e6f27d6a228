/*
 * One authentication attempt: lockout check, the configured factors in order, events.
 * Independent of libpam: people are reached through struct mg_pam_io (pam_entry.c maps it
 * onto the PAM conversation).
 */
#ifndef MG_PAM_AUTHFLOW_H
#define MG_PAM_AUTHFLOW_H

#include <stdbool.h>
#include <stddef.h>

#include "pam_conf.h"

struct mg_pam_io {
	void *ctx;
	/* Asks a question; *answer is malloc'd (the caller wipes and frees). 0 or -errno. */
	int (*prompt)(void *ctx, bool echo, const char *msg, char **answer);
	void (*info)(void *ctx, const char *msg);
	void (*error)(void *ctx, const char *msg);
	/* One event as canonical JSON. */
	void (*event)(void *ctx, const char *json);
};

struct mg_pam_attempt {
	const char *user; /* as PAM gives it: not validated */
	const char *service;
	const char *tty;   /* NULL: none */
	const char *rhost; /* NULL: none */
};

/*
 * Runs the attempt. 0: authenticated. -EACCES: refused (wrong code, no touch, locked, unknown
 * user, ...). -ENODEV: no factor could be used (no key and no other factor, or a remote login
 * with keys only). -ENOTSUP: not running as the trusted owner and the helper cannot run.
 * Other negative errno: an error (bad files, I/O); why names it for the log. Never succeeds
 * by default.
 */
int mg_authflow_run(const struct mg_pam_conf *conf, const struct mg_pam_io *io,
                    const struct mg_pam_attempt *att, char *why, size_t whylen);

#endif
