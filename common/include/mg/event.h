/*
 * The one event model shared by agent, PAM module and collector (docs/EVENTS.md).
 *
 * An event is a JSON object with stable key names. Every event has
 *   "type", "time" (RFC 3339 UTC, microseconds), "host", "seq", "boot_id"
 * and, depending on the type, the objects "device", "rule", "decision", "user", "auth",
 * "policy", "agent". mg_event_to_json() writes canonical JSON (compact, keys sorted), so the
 * same event always gives the same bytes (the event pipeline hashes them).
 *
 * Strings from devices may hold any bytes: in JSON a string field (host and every char *
 * member of the objects) whose value is not valid UTF-8 is written with each bad byte
 * replaced by U+FFFD, and the exact bytes are kept beside it as "<field>_hex" (lower-case
 * hex). mg_event_from_json() restores them, so a round trip is lossless. "_hex" appears
 * exactly when the value is not valid UTF-8. The fields are C strings, so they cannot hold
 * NUL: a "_hex" that decodes to a NUL byte is rejected. Array items (interfaces,
 * blocked_interfaces) have no "_hex" twin: they must be valid UTF-8.
 *
 * Limits: host 1-255 bytes; every other string at most 65536 bytes (counting the exact
 * bytes, not the repaired text); seq and all numbers at most 2^53 - 1; time within
 * 1970-01-01..9999-12-31 UTC; the whole JSON at most MG_EVENT_MAX_JSON bytes. NULL strings
 * are omitted; numbers, booleans and arrays of a present object are always written.
 */
#ifndef MG_EVENT_H
#define MG_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mg/config.h" /* struct mg_strv */

enum mg_event_type {
	MG_EV_DEVICE_INSERTED,
	MG_EV_DEVICE_ALLOWED,
	MG_EV_DEVICE_BLOCKED,
	MG_EV_DEVICE_REJECTED,
	MG_EV_DEVICE_REMOVED,
	MG_EV_DEVICE_SUSPICIOUS,
	MG_EV_AUTH_SUCCESS,
	MG_EV_AUTH_FAILURE,
	MG_EV_AUTH_LOCKOUT,
	MG_EV_AUTH_UNLOCK,
	MG_EV_POLICY_APPLIED,
	MG_EV_POLICY_REJECTED,
	MG_EV_AGENT_STARTED,
	MG_EV_AGENT_STOPPED,
	MG_EV_SPOOL_DROPPED,  /* events the full spool could not keep (counts in "spool") */
	MG_EV_UPLOAD_STOPPED, /* the collector refused the chain (422): upload of a boot stopped */
	MG_EV_TYPE_COUNT
};

/* "device.inserted", ...; NULL for an out-of-range value. */
const char *mg_event_type_name(enum mg_event_type type);
/* 0, or -EINVAL for an unknown name. */
int mg_event_type_from_name(const char *name, enum mg_event_type *out);

/* Identity of a USB device, as `mynaguardctl list-devices --json` prints it. */
struct mg_event_device {
	char *syspath;     /* below /sys, e.g. "/devices/pci0000:00/0000:00:14.0/usb1/1-2" */
	char *port;        /* "1-2" */
	char *vendor_id;   /* 4 lower-case hex digits */
	char *product_id;  /* 4 lower-case hex digits */
	char *serial;      /* may be any bytes; NULL: none */
	char *name;        /* product string; may be any bytes; NULL: none */
	char *hash;        /* USBGuard-compatible device hash (base64) */
	char *parent_hash; /* NULL: none */
	struct mg_strv interfaces; /* "cc:ss:pp", lower-case hex */
};

/* The rule that decided; the object is absent when the implicit target decided. */
struct mg_event_rule {
	char *text;   /* rule text in rules.conf syntax */
	char *source; /* "file:line" */
};

struct mg_event_decision {
	char *target;                      /* "allow", "block", "reject" */
	char *mode;                        /* "enforce", "audit" */
	bool applied;                      /* the kernel state was written (false in audit mode) */
	struct mg_strv blocked_interfaces; /* interface names deauthorized, e.g. "1-2:1.1" */
	char *error;                       /* why it could not be applied; NULL: none */
	char *reason;   /* why this target besides the rule, e.g. "device unreadable: ..."; NULL */
	char *operator; /* who overrode the decision (mynaguardctl allow-device); NULL: nobody */
};

struct mg_event_user {
	char *name;
	char *service; /* PAM service */
	char *tty;     /* NULL: none */
	char *rhost;   /* NULL: none */
};

struct mg_event_auth {
	char *factor;      /* "fido2", "totp"; NULL: none reached */
	char *credential;  /* credential label; NULL: none */
	char *reason;      /* failure reason, e.g. "wrong-code", "locked" ; NULL on success */
	uint64_t failures; /* consecutive failures counted so far */
	char *central;     /* central staff credentials not used: "expired", "unavailable"; NULL */
};

struct mg_event_policy {
	uint64_t version;
	char *sha256; /* hex digest of the policy bundle; NULL: unknown */
	char *reason; /* why it was rejected; NULL: none */
};

struct mg_event_agent {
	char *version;
	uint64_t pid;
	char *reason; /* e.g. why it stopped; NULL: none */
};

struct mg_event_spool {
	uint64_t dropped_routine;  /* routine events not kept since the last report */
	uint64_t dropped_security; /* security events not kept */
};

struct mg_event {
	enum mg_event_type type;
	int64_t time_us; /* microseconds since the Unix epoch, UTC */
	char *host;
	uint64_t seq;     /* per boot_id, strictly increasing; at most 2^53 - 1 */
	char boot_id[37]; /* lower-case UUID */
	/* Type-specific objects; NULL when absent. Owned by the event. */
	struct mg_event_device *device;
	struct mg_event_rule *rule;
	struct mg_event_decision *decision;
	struct mg_event_user *user;
	struct mg_event_auth *auth;
	struct mg_event_policy *policy;
	struct mg_event_agent *agent;
	struct mg_event_spool *spool;
};

/* A new event of type with time = now; everything else empty. NULL on ENOMEM (or EINVAL). */
struct mg_event *mg_event_new(enum mg_event_type type);
/* Frees *ev (NULL accepted) and sets *ev to NULL. */
void mg_event_free(struct mg_event **ev);

/*
 * Allocates the named object if absent and returns it (NULL on ENOMEM):
 * mg_event_device(ev)->serial = strdup(...), and so on.
 */
struct mg_event_device *mg_event_device(struct mg_event *ev);
struct mg_event_rule *mg_event_rule(struct mg_event *ev);
struct mg_event_decision *mg_event_decision(struct mg_event *ev);
struct mg_event_user *mg_event_user(struct mg_event *ev);
struct mg_event_auth *mg_event_auth(struct mg_event *ev);
struct mg_event_policy *mg_event_policy(struct mg_event *ev);
struct mg_event_agent *mg_event_agent(struct mg_event *ev);
struct mg_event_spool *mg_event_spool(struct mg_event *ev);

/* Replaces *dst with a copy of src (NULL allowed). 0 or -ENOMEM. */
int mg_set_str(char **dst, const char *src);

/*
 * The "device" object alone, as it appears in events (same keys, same _hex rule), for
 * reports such as `mynaguardctl list-devices --json`. New reference; NULL on error.
 */
json_t *mg_event_device_to_json(const struct mg_event_device *dev);

/*
 * Canonical JSON (compact, sorted keys, no newline). *out is NUL-terminated and owned by
 * the caller (free()); *len (optional) gets its length. 0, or -EINVAL when the event would
 * not parse back (unknown type, host NULL/empty/too long, boot_id not a UUID, a string too
 * long, an array item NULL or not valid UTF-8), -ERANGE for a number above 2^53 - 1 or a
 * time outside the range, -EFBIG when the JSON exceeds MG_EVENT_MAX_JSON, -ENOMEM.
 */
int mg_event_to_json(const struct mg_event *ev, char **out, size_t *len);

#define MG_EVENT_MAX_JSON (256u * 1024u)

/*
 * Parses one event from untrusted bytes (at most MG_EVENT_MAX_JSON). Strict: unknown keys,
 * duplicate keys, wrong types, missing required keys (type, time, host, seq, boot_id; and
 * the numbers, booleans and arrays of a present object), unknown event types, bad times,
 * bad boot ids, out-of-range numbers, over-long strings and a "_hex" that is malformed,
 * unneeded or does not match its field are errors; errmsg (optional, always NUL-terminated
 * when errlen > 0) gets e.g. "device.serial: expected a string", with any byte outside
 * printable ASCII shown as '?'. 0 or -EINVAL / -ENOMEM / -EFBIG; *out written only on 0.
 * Which objects an event carries is not checked against its type.
 */
int mg_event_from_json(const char *buf, size_t len, struct mg_event **out, char *errmsg,
                       size_t errlen);

/*
 * The same checks on a JSON value already parsed (with JSON_REJECT_DUPLICATES), for callers
 * that hold the event inside a larger document (the collector's batches): saves writing and
 * parsing it again. The size limit is the caller's. root is not modified.
 */
struct json_t;
int mg_event_from_json_value(struct json_t *root, struct mg_event **out, char *errmsg,
                             size_t errlen);

/*
 * mg_event_to_json(ev) for an ev that mg_event_from_json_value() made from root, without
 * building a second tree when it can: root written with sorted keys and no white space is
 * the canonical form whenever root's time is already written canonically (the parser rejects
 * unknown members, needs every member the writer always writes, keeps strings as they are
 * and checks "_hex" twins, so the time spelling is what writing the parsed event changes).
 * fuzz_event compares the two. Same results as mg_event_to_json().
 */
int mg_event_to_json_from(const struct json_t *root, const struct mg_event *ev, char **out,
                          size_t *len);

#endif
