/* Key table of pam.conf and the module arguments. */
#include "pam_conf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#ifndef MG_PAM_HELPER_PATH
#define MG_PAM_HELPER_PATH "/usr/libexec/mynaguard/mynaguard-auth-helper"
#endif

static const char *const uv_choices[] = {"required", "preferred", "discouraged", NULL};
static const char *const credentials_choices[] = {"local", "central", "both", NULL};
static const char *const factor_names[] = {
    [MG_PAM_FACTOR_FIDO2] = "fido2", [MG_PAM_FACTOR_TOTP] = "totp"};

static int check_factor(const char *text, char *msg, size_t len)
{
	if (strcmp(text, "fido2") == 0 || strcmp(text, "totp") == 0)
		return 0;
	snprintf(msg, len, "expected fido2 or totp");
	return -EINVAL;
}

/* A relying party id: a domain-like name or "pam://name"; printable ASCII, no spaces. */
static int check_rp_id(const char *text, char *msg, size_t len)
{
	size_t n = strlen(text);
	if (n > 255) {
		snprintf(msg, len, "longer than 255 bytes");
		return -EINVAL;
	}
	for (const char *p = text; *p; p++) {
		if (*p <= ' ' || *p > '~') {
			snprintf(msg, len, "only printable ASCII without spaces");
			return -EINVAL;
		}
	}
	return 0;
}

#define OFF(f) offsetof(struct mg_pam_conf, f)

const struct mg_config_key mg_pam_conf_keys[] = {
    {.name = "factors",
     .type = MG_CFG_LIST,
     .offset = OFF(factors_text),
     .def = "fido2, totp",
     .check = check_factor},
    {.name = "credential_dir",
     .type = MG_CFG_PATH,
     .offset = OFF(credential_dir),
     .def = "/var/lib/mynaguard/credentials"},
    {.name = "state_dir",
     .type = MG_CFG_PATH,
     .offset = OFF(state_dir),
     .def = "/var/lib/mynaguard/auth-state"},
    {.name = "rp_id",
     .type = MG_CFG_STRING,
     .offset = OFF(rp_id),
     .def = "pam://mynaguard",
     .check = check_rp_id},
    {.name = "uv",
     .type = MG_CFG_ENUM,
     .offset = OFF(uv),
     .def = "required",
     .choices = uv_choices},
    {.name = "fido2_timeout",
     .type = MG_CFG_DURATION,
     .offset = OFF(fido2_timeout),
     .def = "30",
     .min = 1,
     .max = 600},
    {.name = "insert_timeout",
     .type = MG_CFG_DURATION,
     .offset = OFF(insert_timeout),
     .def = "0",
     .min = 0,
     .max = 600},
    {.name = "totp_window",
     .type = MG_CFG_UINT,
     .offset = OFF(totp_window),
     .def = "1",
     .min = 0,
     .max = 10},
    {.name = "deny_after",
     .type = MG_CFG_UINT,
     .offset = OFF(deny_after),
     .def = "5",
     .min = 1,
     .max = 1000},
    {.name = "unlock_after",
     .type = MG_CFG_DURATION,
     .offset = OFF(unlock_after),
     .def = "900",
     .min = 0,
     .max = 366u * 86400u},
    {.name = "deny_remote", .type = MG_CFG_BOOL, .offset = OFF(deny_remote), .def = "yes"},
    {.name = "event_socket",
     .type = MG_CFG_PATH,
     .offset = OFF(event_socket),
     .def = "/run/mynaguard/events.sock"},
    {.name = "pending_max_bytes",
     .type = MG_CFG_UINT,
     .offset = OFF(pending_max_bytes),
     .def = "1048576",
     .min = 4096,
     .max = 64u * 1024u * 1024u},
    {.name = "helper", .type = MG_CFG_PATH, .offset = OFF(helper), .def = MG_PAM_HELPER_PATH},
    {.name = "fail_delay_ms",
     .type = MG_CFG_UINT,
     .offset = OFF(fail_delay_ms),
     .def = "2000",
     .min = 0,
     .max = 10000},
    {.name = "credentials",
     .type = MG_CFG_ENUM,
     .offset = OFF(credentials),
     .def = "both",
     .choices = credentials_choices},
    {.name = "staff_db",
     .type = MG_CFG_PATH,
     .offset = OFF(staff_db),
     .def = "/var/lib/mynaguard/staff.db"},
};

const size_t mg_pam_conf_nkeys = sizeof(mg_pam_conf_keys) / sizeof(mg_pam_conf_keys[0]);

const char *mg_pam_factor_name(enum mg_pam_factor f)
{
	return (size_t)f < sizeof(factor_names) / sizeof(factor_names[0]) ? factor_names[f] : "?";
}

/* Fills conf->factors from the list; duplicates and an empty list are errors. */
static int derive(const char *name, struct mg_pam_conf *conf, struct mg_config_error *err)
{
	const char *msg = NULL;
	conf->nfactors = 0;
	if (conf->factors_text.n == 0)
		msg = "'factors' must name at least one of fido2, totp";
	for (size_t i = 0; !msg && i < conf->factors_text.n; i++) {
		enum mg_pam_factor f = strcmp(conf->factors_text.v[i], "fido2") == 0
		                           ? MG_PAM_FACTOR_FIDO2
		                           : MG_PAM_FACTOR_TOTP;
		for (size_t j = 0; j < conf->nfactors; j++)
			if (conf->factors[j] == f)
				msg = "'factors' names a factor twice";
		if (!msg)
			conf->factors[conf->nfactors++] = f;
	}
	if (!msg && strcmp(conf->credential_dir, conf->state_dir) == 0)
		msg = "'state_dir' must differ from 'credential_dir'";
	if (!msg)
		return 0;
	if (err) {
		snprintf(err->file, sizeof(err->file), "%s", name);
		err->line = 0;
		snprintf(err->msg, sizeof(err->msg), "%s", msg);
	}
	return -EINVAL;
}

int mg_pam_conf_load(const char *path, uid_t owner, struct mg_pam_conf *conf,
                     struct mg_config_error *err)
{
	struct mg_file_rules rules = mg_root_config_rules;
	rules.owner = owner;
	rules.max_size = 64 * 1024;
	memset(conf, 0, sizeof(*conf));
	int r = mg_config_load(path, &rules, mg_pam_conf_keys, mg_pam_conf_nkeys, conf, err);
	if (r == 0)
		r = derive(path, conf, err);
	if (r < 0)
		mg_pam_conf_free(conf);
	else
		conf->owner = owner;
	return r;
}

int mg_pam_conf_parse(const char *name, const char *buf, size_t len, uid_t owner,
                      struct mg_pam_conf *conf, struct mg_config_error *err)
{
	memset(conf, 0, sizeof(*conf));
	int r = mg_config_init(mg_pam_conf_keys, mg_pam_conf_nkeys, conf, err);
	if (r == 0)
		r = mg_config_parse(name, buf, len, mg_pam_conf_keys, mg_pam_conf_nkeys, conf, err);
	if (r == 0)
		r = derive(name, conf, err);
	if (r < 0)
		mg_pam_conf_free(conf);
	else
		conf->owner = owner;
	return r;
}

void mg_pam_conf_free(struct mg_pam_conf *conf)
{
	mg_config_free(mg_pam_conf_keys, mg_pam_conf_nkeys, conf);
	memset(conf, 0, sizeof(*conf));
}

int mg_pam_args_parse(int argc, const char **argv, const char **conf_path, char *msg, size_t msglen)
{
	const char *path = MG_PAM_DEFAULT_CONF;
	bool seen = false;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (a && strncmp(a, "conf=", 5) == 0 && !seen) {
			path = a + 5;
			seen = true;
			if (path[0] != '/') {
				snprintf(msg, msglen, "conf= needs an absolute path");
				return -EINVAL;
			}
			continue;
		}
		snprintf(msg, msglen, "unknown or repeated module argument '%.64s'",
		         a ? a : "(null)");
		return -EINVAL;
	}
	*conf_path = path;
	return 0;
}
