/* The agent's configuration file (/etc/mynaguard/agent.conf), read with common/config. */
#ifndef MG_AGENT_CONF_H
#define MG_AGENT_CONF_H

#include <stdbool.h>
#include <stdint.h>

#include "mg/config.h"

enum mg_present_policy {
	MG_PRESENT_APPLY_POLICY,
	MG_PRESENT_KEEP,
	MG_PRESENT_ALLOW,
	MG_PRESENT_BLOCK,
};

enum mg_agent_mode {
	MG_MODE_ENFORCE,
	MG_MODE_AUDIT, /* decide and report "would block", change nothing */
};

enum mg_authorized_default {
	MG_AUTHDEF_NONE, /* write authorized_default=0 on every root hub */
	MG_AUTHDEF_KEEP, /* leave the kernel's setting */
};

enum mg_uevent_source {
	MG_SOURCE_KERNEL, /* raw kernel uevents (earliest; libudev checks the sender) */
	MG_SOURCE_UDEV,   /* after udevd processed them */
};

/*
 * Interface classes kept off on allowed devices unless the deciding rule names them: every
 * class except HID (03), hub (09) and smart card (0b).
 */
#define MG_AGENT_DEFAULT_BLOCK_INTERFACES                                                          \
	"01:*:* 02:*:* 05:*:* 06:*:* 07:*:* 08:*:* 0a:*:* 0d:*:* 0e:*:* 0f:*:* 10:*:* 11:*:* "     \
	"12:*:* dc:*:* e0:*:* ef:*:* fe:*:* ff:*:*"

struct mg_agent_conf {
	char *rules_file;
	char *rules_dir;
	int implicit_target; /* enum mg_target */
	int present_device_policy;
	int mode;
	int authorized_default;
	struct mg_strv block_interfaces; /* "cc:ss:pp" with '*' */
	char *state_dir;
	char *socket;
	struct mg_strv allowed_groups;
	int uevent_source;
	int log_level; /* enum mg_log_level via index: err, warning, notice, info, debug */
	/* The event pipeline (issue 12). */
	uint64_t spool_max_bytes;
	char *event_socket;     /* auth.* events of the PAM module (uid 0 peers only) */
	char *pam_pending_file; /* the PAM module's events written while the agent was down */
	char *staff_db;         /* the central staff credentials for the PAM module (issue 15) */
	char *uplink_user;      /* the unprivileged user mynaguard-uplink runs as */
	char *uplink_binary;
	uint64_t heartbeat_interval; /* seconds */
	uint64_t poll_interval;      /* seconds */
};

extern const struct mg_config_key mg_agent_conf_keys[];
extern const size_t mg_agent_conf_nkeys;

/* Loads path (root-owned unless rules->owner says otherwise) into conf. */
int mg_agent_conf_load(const char *path, const struct mg_file_rules *rules,
                       struct mg_agent_conf *conf, struct mg_config_error *err);
void mg_agent_conf_free(struct mg_agent_conf *conf);

/* Parses "cc:ss:pp" where each field is two hex digits or '*' (USBGuard's pattern forms:
 * "cc:*:*", "cc:ss:*", "cc:ss:pp"). 0 or -EINVAL. */
int mg_iface_pattern_parse(const char *s, uint8_t value[3], bool wild[3]);

/* True when type t matches one of the block_interfaces patterns. */
bool mg_agent_conf_blocks_iface(const struct mg_agent_conf *conf, uint8_t cls, uint8_t sub,
                                uint8_t proto);

#endif
