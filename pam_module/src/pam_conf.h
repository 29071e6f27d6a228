/*
 * Configuration of pam_mynaguard.so, mynaguard-enroll and mynaguard-auth-helper:
 * /etc/mynaguard/pam.conf, strict key = value (common/config). Keys: docs/PAM.md.
 */
#ifndef MG_PAM_CONF_H
#define MG_PAM_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mg/config.h"

#define MG_PAM_DEFAULT_CONF "/etc/mynaguard/pam.conf"

enum mg_pam_uv {
	MG_PAM_UV_REQUIRED,
	MG_PAM_UV_PREFERRED,
	MG_PAM_UV_DISCOURAGED,
};

enum mg_pam_factor {
	MG_PAM_FACTOR_FIDO2,
	MG_PAM_FACTOR_TOTP,
};

#define MG_PAM_MAX_FACTORS 2

/* Where FIDO2 credentials come from (issue 15). TOTP secrets are always local. */
enum mg_pam_credentials {
	MG_PAM_CRED_LOCAL,   /* credential_dir only: staff.db is not read */
	MG_PAM_CRED_CENTRAL, /* staff.db only (central disabling and unlock apply) */
	MG_PAM_CRED_BOTH,    /* both (the default) */
};

struct mg_pam_conf {
	struct mg_strv factors_text; /* "fido2", "totp": accepted, in this order */
	char *credential_dir;        /* fido2/<user>.json, totp/<user>.json */
	char *state_dir;             /* <user>.json, <user>.lock */
	char *rp_id;                 /* FIDO2 relying party id */
	int uv;                      /* enum mg_pam_uv */
	uint64_t fido2_timeout;      /* seconds to wait for a touch */
	uint64_t insert_timeout;     /* seconds to wait for a key to be inserted; 0: no wait */
	uint64_t totp_window;        /* steps accepted on each side of now */
	uint64_t deny_after;         /* consecutive failures before the lockout */
	uint64_t unlock_after;       /* seconds a lockout lasts; 0: until an admin unlocks */
	bool deny_remote;            /* refuse fido2 when PAM_RHOST is set */
	char *event_socket;          /* the agent's SOCK_SEQPACKET socket for events */
	uint64_t pending_max_bytes;  /* <state_dir>/events.pending grows at most to this */
	char *helper;                /* mynaguard-auth-helper, used when not running as root */
	uint64_t fail_delay_ms;      /* pam_fail_delay() after a refusal */
	int credentials;             /* enum mg_pam_credentials */
	char *staff_db;              /* the agent's staff.db (central staff credentials) */
	/* Derived by mg_pam_conf_load()/mg_pam_conf_parse(). */
	enum mg_pam_factor factors[MG_PAM_MAX_FACTORS];
	size_t nfactors;
	uid_t owner; /* required owner of pam.conf, credentials and state (see mg_pam_owner()) */
};

extern const struct mg_config_key mg_pam_conf_keys[];
extern const size_t mg_pam_conf_nkeys;

/*
 * Loads path (mg_safe_open: owned by owner, not group/world writable) into *conf (zeroed
 * first) and sets conf->owner. 0 or negative errno; err names file:line. On error *conf is
 * freed.
 */
int mg_pam_conf_load(const char *path, uid_t owner, struct mg_pam_conf *conf,
                     struct mg_config_error *err);

/* The same from a buffer (tests, fuzzing); conf->owner is set to owner. */
int mg_pam_conf_parse(const char *name, const char *buf, size_t len, uid_t owner,
                      struct mg_pam_conf *conf, struct mg_config_error *err);

void mg_pam_conf_free(struct mg_pam_conf *conf);

/* The factor's name: "fido2", "totp". */
const char *mg_pam_factor_name(enum mg_pam_factor f);

/*
 * Module arguments: "conf=PATH" (absolute). *conf_path points into argv or at the default.
 * 0, or -EINVAL with msg filled for anything else (unknown arguments are errors).
 */
int mg_pam_args_parse(int argc, const char **argv, const char **conf_path, char *msg,
                      size_t msglen);

#endif
