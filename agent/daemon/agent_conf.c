/* Agent configuration keys and the interface-class patterns of block_interfaces. */
#include "agent_conf.h"

#include <errno.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

static const char *const targets[] = {"allow", "block", "reject", NULL};
static const char *const present_policies[] = {"apply-policy", "keep", "allow", "block", NULL};
static const char *const modes[] = {"enforce", "audit", NULL};
static const char *const authdefs[] = {"none", "keep", NULL};
static const char *const sources[] = {"kernel", "udev", NULL};
static const char *const levels[] = {"err", "warning", "notice", "info", "debug", NULL};

static int check_pattern(const char *text, char *msg, size_t len)
{
	uint8_t v[3];
	bool w[3];
	if (mg_iface_pattern_parse(text, v, w) < 0) {
		snprintf(msg, len,
		         "expected cc:ss:pp (two hex digits or '*' each; '*' fields last)");
		return -EINVAL;
	}
	return 0;
}

static int check_group(const char *text, char *msg, size_t len)
{
	for (const char *p = text; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.')) {
			snprintf(msg, len, "not a valid group name");
			return -EINVAL;
		}
	}
	return 0;
}

#ifndef MG_UPLINK_BINARY
#define MG_UPLINK_BINARY "/usr/libexec/mynaguard/mynaguard-uplink"
#endif

#define OFF(f) offsetof(struct mg_agent_conf, f)

const struct mg_config_key mg_agent_conf_keys[] = {
    {.name = "rules_file",
     .type = MG_CFG_PATH,
     .offset = OFF(rules_file),
     .def = "/etc/mynaguard/rules.conf"},
    {.name = "rules_dir",
     .type = MG_CFG_PATH,
     .offset = OFF(rules_dir),
     .def = "/etc/mynaguard/rules.d"},
    {.name = "implicit_target",
     .type = MG_CFG_ENUM,
     .offset = OFF(implicit_target),
     .def = "block",
     .choices = targets},
    {.name = "present_device_policy",
     .type = MG_CFG_ENUM,
     .offset = OFF(present_device_policy),
     .def = "apply-policy",
     .choices = present_policies},
    {.name = "mode", .type = MG_CFG_ENUM, .offset = OFF(mode), .def = "enforce", .choices = modes},
    {.name = "authorized_default",
     .type = MG_CFG_ENUM,
     .offset = OFF(authorized_default),
     .def = "none",
     .choices = authdefs},
    {.name = "block_interfaces",
     .type = MG_CFG_LIST,
     .offset = OFF(block_interfaces),
     .def = MG_AGENT_DEFAULT_BLOCK_INTERFACES,
     .check = check_pattern},
    {.name = "state_dir",
     .type = MG_CFG_PATH,
     .offset = OFF(state_dir),
     .def = "/var/lib/mynaguard/agent"},
    {.name = "socket",
     .type = MG_CFG_PATH,
     .offset = OFF(socket),
     .def = "/run/mynaguard/agent.sock"},
    {.name = "allowed_groups",
     .type = MG_CFG_LIST,
     .offset = OFF(allowed_groups),
     .def = "",
     .check = check_group},
    {.name = "uevent_source",
     .type = MG_CFG_ENUM,
     .offset = OFF(uevent_source),
     .def = "kernel",
     .choices = sources},
    {.name = "log_level",
     .type = MG_CFG_ENUM,
     .offset = OFF(log_level),
     .def = "info",
     .choices = levels},
    {.name = "spool_max_bytes",
     .type = MG_CFG_UINT,
     .offset = OFF(spool_max_bytes),
     .def = "268435456",
     .min = 4096,
     .max = UINT64_C(1) << 40},
    {.name = "event_socket",
     .type = MG_CFG_PATH,
     .offset = OFF(event_socket),
     .def = "/run/mynaguard/events.sock"},
    {.name = "pam_pending_file",
     .type = MG_CFG_PATH,
     .offset = OFF(pam_pending_file),
     .def = "/var/lib/mynaguard/auth-state/events.pending"},
    {.name = "staff_db",
     .type = MG_CFG_PATH,
     .offset = OFF(staff_db),
     .def = "/var/lib/mynaguard/staff.db"},
    {.name = "uplink_user",
     .type = MG_CFG_STRING,
     .offset = OFF(uplink_user),
     .def = "mynaguard",
     .check = check_group},
    {.name = "uplink_binary",
     .type = MG_CFG_PATH,
     .offset = OFF(uplink_binary),
     .def = MG_UPLINK_BINARY},
    {.name = "heartbeat_interval",
     .type = MG_CFG_DURATION,
     .offset = OFF(heartbeat_interval),
     .def = "60",
     .min = 1,
     .max = 86400},
    {.name = "poll_interval",
     .type = MG_CFG_DURATION,
     .offset = OFF(poll_interval),
     .def = "60",
     .min = 1,
     .max = 86400},
};

const size_t mg_agent_conf_nkeys = sizeof(mg_agent_conf_keys) / sizeof(mg_agent_conf_keys[0]);

int mg_agent_conf_load(const char *path, const struct mg_file_rules *rules,
                       struct mg_agent_conf *conf, struct mg_config_error *err)
{
	memset(conf, 0, sizeof(*conf));
	int r = mg_config_load(path, rules, mg_agent_conf_keys, mg_agent_conf_nkeys, conf, err);
	if (r < 0)
		mg_agent_conf_free(conf);
	return r;
}

void mg_agent_conf_free(struct mg_agent_conf *conf)
{
	mg_config_free(mg_agent_conf_keys, mg_agent_conf_nkeys, conf);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int mg_iface_pattern_parse(const char *s, uint8_t value[3], bool wild[3])
{
	const char *p = s;
	bool seen_wild = false;
	for (int f = 0; f < 3; f++) {
		if (f > 0 && *p++ != ':')
			return -EINVAL;
		if (p[0] == '*' && (p[1] == ':' || p[1] == '\0')) {
			if (f == 0)
				return -EINVAL; /* the class is always named */
			wild[f] = true;
			value[f] = 0;
			seen_wild = true;
			p += 1;
			continue;
		}
		int hi = hexval(p[0]), lo = hi < 0 ? -1 : hexval(p[1]);
		if (hi < 0 || lo < 0 || seen_wild)
			return -EINVAL;
		value[f] = (uint8_t)(hi * 16 + lo);
		wild[f] = false;
		p += 2;
	}
	return *p == '\0' ? 0 : -EINVAL;
}

bool mg_agent_conf_blocks_iface(const struct mg_agent_conf *conf, uint8_t cls, uint8_t sub,
                                uint8_t proto)
{
	const uint8_t t[3] = {cls, sub, proto};
	for (size_t i = 0; i < conf->block_interfaces.n; i++) {
		uint8_t v[3];
		bool w[3];
		if (mg_iface_pattern_parse(conf->block_interfaces.v[i], v, w) < 0)
			return true; /* cannot happen after loading; fail closed */
		bool match = true;
		for (int f = 0; f < 3; f++)
			if (!w[f] && v[f] != t[f])
				match = false;
		if (match)
			return true;
	}
	return false;
}
