/*
 * The collector's storage interface, with two backends behind it: SQLite (default; WAL,
 * synchronous=FULL, one writer thread that commits many pending requests in one transaction
 * and only then answers them) and PostgreSQL (libpq; several collectors may share one
 * database). Everything the HTTP layer needs goes through these functions; SQL lives only in
 * the backend files (store_sqlite*.c, store_pg*.c, store_schema_*.c).
 *
 * All functions return 0 or a negative errno: -ENOENT for a missing row; -EEXIST for a
 * uniqueness conflict; -EINVAL for an argument outside the limits below; -ENOSPC when the
 * disk is (nearly) full; -ETIMEDOUT when the database stayed busy past a bounded wait; -EIO
 * (errmsg filled where offered) for a database error. Out-parameters are written only on
 * success. Thread-safe: the HTTP layer calls them from its worker threads. Callbacks
 * (*_foreach, *_query) run while the store holds a database connection and must not call the
 * store; a callback returning non-zero stops the walk, and a negative value is returned.
 *
 * Strings are NUL-terminated, valid UTF-8 and bounded (sizes below); "" and NULL both mean
 * absent where a field is optional. Times are microseconds since the Unix epoch (UTC).
 *
 * Admin mutations take a `const struct mg_store_actor *by`: when it is not NULL, the action is
 * recorded in the admin action log and as an event row (type "admin.<action>", user = the
 * admin) in the same transaction as the change, so no change exists without its record.
 */
#ifndef MG_STORE_H
#define MG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mg_store;

/* Limits (bytes include the NUL where a buffer size is meant). */
#define MG_STORE_MAX_BATCH     10000u                /* events per mg_store_ingest() */
#define MG_STORE_MAX_ROWS      10000u                /* rows per query page */
#define MG_STORE_MAX_EVENT     (256u * 1024u)        /* one event's JSON (MG_EVENT_MAX_JSON) */
#define MG_STORE_MAX_POLICY    (64u * 1024u * 1024u) /* canonical policy JSON */
#define MG_STORE_MAX_SIGNATURE 4096u
#define MG_STORE_DEVSTR_SIZE   1024u /* device serial and name (a USB string is <= 378 bytes) */
#define MG_STORE_RULE_SIZE     4096u /* one rule in rules.conf syntax, one line */
#define MG_STORE_NAME_SIZE     64u   /* admin names, actions, request ids, versions */
#define MG_STORE_TEXT_SIZE     1024u /* reasons, notes, comments */

/*
 * "sqlite:/path/to/db" (the file is opened without following symlinks) or "postgresql://..." /
 * "postgres://..." (libpq URI; -ECONNREFUSED when it cannot connect). Creates or migrates the
 * schema; a database written by a newer collector is -EPROTO. errmsg: why, on failure.
 */
int mg_store_open(const char *url, struct mg_store **out, char *errmsg, size_t errlen);
/* Stops the writer, closes every connection. No call may be in flight. NULL accepted. */
void mg_store_close(struct mg_store **s);
/* "sqlite" or "postgresql". */
const char *mg_store_backend(const struct mg_store *s);
/*
 * Ingest answers -ENOSPC without storing when the database's file system has fewer than
 * bytes free (SQLite; the collector's 507). 0 (default) relies on the database's own
 * disk-full error. PostgreSQL: accepted and ignored (the server owns its disk).
 */
int mg_store_set_reserve(struct mg_store *s, uint64_t bytes);

/* Who performs an admin mutation (see the top comment). */
struct mg_store_actor {
	const char *admin;  /* admin account name, 1..63 bytes */
	const char *remote; /* client address; NULL: unknown */
};

/* Records an action that changes no stored data (login, logout, report export...).
 * action: [a-z0-9._-], 1..63 bytes; target: NULL or up to 127 bytes; detail_json: NULL or a
 * JSON object (up to 64 KiB), stored inside the event as "detail". */
int mg_store_admin_log(struct mg_store *s, const struct mg_store_actor *by, const char *action,
                       const char *target, const char *detail_json, int64_t now_us);

struct mg_store_admin_action {
	int64_t id;
	int64_t time_us;
	char admin[MG_STORE_NAME_SIZE];
	char action[MG_STORE_NAME_SIZE];
	char target[128];
	char remote[64];
	const char *detail; /* JSON object or NULL; valid during the callback only */
	int64_t event_id;   /* the matching row of mg_store_events_query() */
};
/* Actions with id > after_id in id order, at most limit (1..MG_STORE_MAX_ROWS). */
int mg_store_admin_actions_foreach(struct mg_store *s, int64_t after_id, uint32_t limit,
                                   int (*cb)(void *ctx, const struct mg_store_admin_action *a),
                                   void *ctx);

/* ---- enrolment tokens (stored hashed: 64 lower-case hex digits) ---- */
/* A token valid while now < expires_us, for uses enrolments (>= 1). -EEXIST when known. */
int mg_store_token_add(struct mg_store *s, const struct mg_store_actor *by,
                       const char *token_sha256_hex, int64_t expires_us, uint32_t uses,
                       int64_t now_us);
/*
 * Consumes one use of a token at now_us: 0, -ENOENT (unknown), -EALREADY (used up: the API
 * answers 409), -ETIME (expired).
 */
int mg_store_token_consume(struct mg_store *s, const char *token_sha256_hex, int64_t now_us);

/* ---- hosts (terminals) ---- */
struct mg_store_host {
	int64_t id;
	char hostname[256];
	char cert_serial[64]; /* serial of its client certificate (hex) */
	int64_t enrolled_us;
	int64_t last_seen_us; /* 0: never; heartbeats and ingests move it forward */
	bool revoked;
	uint64_t policy_version; /* last applied; 0: none */
	uint64_t spool_depth;    /* from the last heartbeat */
	int64_t oldest_unsent_us;
	char agent_version[MG_STORE_NAME_SIZE];
};
/* hostname 1..255 bytes; cert_serial 1..63 of [0-9A-Fa-f:]. -EEXIST: serial already known. */
int mg_store_host_add(struct mg_store *s, const char *hostname, const char *cert_serial,
                      int64_t now_us, int64_t *id_out);
int mg_store_host_get(struct mg_store *s, int64_t id, struct mg_store_host *out);
/* The host holding a client certificate (the HTTP layer's identity lookup). */
int mg_store_host_by_cert(struct mg_store *s, const char *cert_serial, struct mg_store_host *out);
/* Revoked hosts can no longer ingest (-EPERM). Revoking twice is 0. */
int mg_store_host_revoke(struct mg_store *s, const struct mg_store_actor *by, int64_t id,
                         int64_t now_us);
int mg_store_host_heartbeat(struct mg_store *s, int64_t id, int64_t now_us, uint64_t spool_depth,
                            int64_t oldest_unsent_us, uint64_t policy_version,
                            const char *agent_version);
/*
 * The policy version (1..2^53-1) host id reports as applied; only policy_version changes and
 * last_seen_us moves forward (the other heartbeat fields stay). -ENOENT: unknown host.
 */
int mg_store_host_policy_applied(struct mg_store *s, int64_t id, uint64_t version, int64_t now_us);
/* Calls cb for every host, ordered by id. */
int mg_store_host_foreach(struct mg_store *s, int (*cb)(void *ctx, const struct mg_store_host *h),
                          void *ctx);

/* ---- events: exactly-once ingest ---- */
struct mg_store_event {
	uint64_t seq;          /* 1 ..2^53 - 1 */
	int64_t time_us;       /* >= 0 */
	const char *type;      /* [a-z0-9._-], 1..63 bytes */
	const char *json;      /* canonical JSON of the event, stored verbatim */
	const char *hash;      /* hex SHA-256 (64 lower-case digits) computed by the caller */
	const char *prev_hash; /* hash chain link; NULL or "" for the first of a boot */
	/* Indexed fields for admin queries; NULL when absent. */
	const char *user;          /* up to 255 bytes */
	const char *device_serial; /* up to MG_STORE_DEVSTR_SIZE - 1 bytes */
	/*
	 * The device ledger: for a type starting with "device." whose vendor_id and
	 * product_id are given, the device (vendor_id, product_id, device_serial, device_hash)
	 * gets first/last seen and its latest name. JSON text of the fields (for bytes that are
	 * not UTF-8: the repaired text; the exact bytes stay in json).
	 */
	const char *device_vendor_id;  /* 4 lower-case hex digits */
	const char *device_product_id; /* 4 lower-case hex digits */
	const char *device_name;       /* up to MG_STORE_DEVSTR_SIZE - 1 bytes */
	const char *device_hash;       /* base64 USBGuard hash, up to 127 bytes */
	/*
	 * The host name the event claims (its "host" member; for bytes that are not UTF-8 the
	 * repaired text), up to 255 bytes; NULL when absent. Stored only inside json, as sent:
	 * the sender is host_id. A name that differs from the host's enrolled name and is
	 * another enrolled host's records one "host_claim" tamper alert per (host, name).
	 */
	const char *host;
};

enum mg_ingest_status {
	MG_INGEST_OK,       /* stored; acked_through says up to where */
	MG_INGEST_GAP,      /* events missing before the batch: resend_from */
	MG_INGEST_CONFLICT, /* a seq already stored with different content: tamper alert */
	MG_INGEST_BROKEN_CHAIN,
};

struct mg_ingest_result {
	enum mg_ingest_status status;
	uint64_t acked_through; /* highest seq stored for (host, boot_id), after this batch */
	uint64_t resend_from;   /* MG_INGEST_GAP */
	uint64_t bad_seq;       /* MG_INGEST_CONFLICT / BROKEN_CHAIN: the offending seq */
	uint32_t stored;        /* events inserted by this call */
};

/*
 * Stores the events of one batch (1..MG_STORE_MAX_BATCH) of host for boot_id (a lower-case
 * UUID) exactly once: in one transaction with the per-(host, boot_id) cursor, only events
 * above the cursor are inserted; events at or below it must be identical to what is stored
 * (else CONFLICT); the first new event must be cursor + 1 (else GAP; a new boot's cursor is
 * 0, so it starts at seq 1); each prev_hash must be the hash of the event before it (else
 * BROKEN_CHAIN, nothing stored); the prev_hash of seq 1 is not checked. Returns after the
 * commit is durable, 0 with res filled for every status. A CONFLICT or BROKEN_CHAIN also
 * records a tamper alert row and a "collector.tamper" event row for the host. -EINVAL: seq
 * not consecutive (seq[i] == seq[i-1] + 1) or a field out of bounds; -ENOENT: unknown host;
 * -EPERM: revoked host; -ENOSPC: low disk (nothing stored, nothing acknowledged).
 */
int mg_store_ingest(struct mg_store *s, int64_t host_id, const char *boot_id,
                    const struct mg_store_event *evs, size_t n, int64_t now_us,
                    struct mg_ingest_result *res);

/* Current cursor of (host, boot_id): highest seq stored, 0 when none. */
int mg_store_cursor_get(struct mg_store *s, int64_t host_id, const char *boot_id,
                        uint64_t *acked_through);

struct mg_store_event_filter {
	int64_t host_id; /* 0: any */
	const char *type;
	const char *user;
	const char *device_serial;
	int64_t from_us, to_us; /* from_us <= time < to_us; 0: open */
	int64_t after_id;       /* pagination: rows with id > after_id */
	uint32_t limit;         /* 1..MG_STORE_MAX_ROWS (ignored by mg_store_events_count) */
};
/* Calls cb(ctx, row id, host id (0: the collector's own row), json) in id order. */
int mg_store_events_query(struct mg_store *s, const struct mg_store_event_filter *f,
                          int (*cb)(void *ctx, int64_t id, int64_t host_id, const char *json),
                          void *ctx);

/* One stored event row with the name the collector knows its sender by. */
struct mg_store_event_row {
	int64_t id;
	int64_t host_id;  /* 0: the collector's own row */
	const char *host; /* the enrolled name of host_id; "" for host 0 */
	const char *json; /* the stored event, as received */
};
/* As mg_store_events_query(), with rows (valid during the callback only). */
int mg_store_events_rows(struct mg_store *s, const struct mg_store_event_filter *f,
                         int (*cb)(void *ctx, const struct mg_store_event_row *row), void *ctx);
/*
 * The event of row as every output shows it (docs/API.md, "Events"): the stored event object
 * with "host_id" set to the row's host; for a terminal's event also "host" set to the
 * enrolled name and, when the event named another ("host" differs or "host_hex" is present),
 * that claim as "claimed_host" (and "claimed_host_hex"), never as "host". The collector's
 * own rows (admin.*, collector.*) keep their members. *out: canonical JSON (compact, sorted
 * keys; free()). 0, -EBADMSG (the stored text is not a JSON object) or -ENOMEM.
 */
int mg_store_event_view(const struct mg_store_event_row *row, char **out);
/* Number of rows matching f (after_id counts, limit does not). */
int mg_store_events_count(struct mg_store *s, const struct mg_store_event_filter *f, uint64_t *out);

/* Tamper alerts recorded by ingest (for the admin API). host_id 0: every host. */
int mg_store_alerts_count(struct mg_store *s, int64_t host_id, uint64_t *out);

struct mg_store_alert {
	int64_t id;
	int64_t host_id;
	char boot_id[37];
	uint64_t seq;  /* the offending seq */
	char kind[16]; /* "conflict", "broken_chain" or "host_claim" */
	int64_t time_us;
	const char *evidence; /* the received event's JSON; valid during the callback only */
};
int mg_store_alerts_foreach(struct mg_store *s, int64_t host_id, int64_t after_id, uint32_t limit,
                            int (*cb)(void *ctx, const struct mg_store_alert *a), void *ctx);

/* ---- device ledger: every device any terminal reported ---- */
struct mg_store_device_id {
	char vendor_id[8];                 /* 4 lower-case hex digits */
	char product_id[8];                /* 4 lower-case hex digits */
	char serial[MG_STORE_DEVSTR_SIZE]; /* "": none */
	char name[MG_STORE_DEVSTR_SIZE];   /* "": none */
	char hash[128];                    /* "": none */
};
struct mg_store_device {
	int64_t id;
	struct mg_store_device_id dev;
	int64_t first_seen_us, last_seen_us; /* event times */
	int64_t first_host_id, last_host_id;
	uint64_t sightings; /* device.* events that named it */
};
int mg_store_device_get(struct mg_store *s, int64_t id, struct mg_store_device *out);
/* Devices with id > after_id, in id order, at most limit (1..MG_STORE_MAX_ROWS). */
int mg_store_devices_foreach(struct mg_store *s, int64_t after_id, uint32_t limit,
                             int (*cb)(void *ctx, const struct mg_store_device *d), void *ctx);

/* ---- rules and policy versions ---- */
struct mg_store_rule {
	int64_t id;
	char text[MG_STORE_RULE_SIZE]; /* rules.conf syntax; not parsed here */
	int64_t host_id;               /* 0: all hosts */
	int64_t expires_us;            /* 0: never */
	int64_t created_us;
	char created_by[MG_STORE_NAME_SIZE]; /* "" when by was NULL */
	int64_t request_id;                  /* device request it came from; 0: none */
	char comment[MG_STORE_TEXT_SIZE];
};
/*
 * Adds a rule (text: one line, 1..4095 bytes; host_id 0 or an existing host; comment NULL or
 * up to 1023 bytes). Every rule change increments the rules revision in the same
 * transaction; the caller then builds, signs and adds a new policy version.
 */
int mg_store_rule_add(struct mg_store *s, const struct mg_store_actor *by, const char *text,
                      int64_t host_id, int64_t expires_us, const char *comment, int64_t now_us,
                      int64_t *id_out);
int mg_store_rule_remove(struct mg_store *s, const struct mg_store_actor *by, int64_t id,
                         int64_t now_us);
/* host_id 0: every rule; else the rules for all hosts plus that host's own. now_us > 0 leaves
 * out rules expired at now_us. Ordered by id. */
int mg_store_rules_foreach(struct mg_store *s, int64_t host_id, int64_t now_us,
                           int (*cb)(void *ctx, const struct mg_store_rule *r), void *ctx);
/* Incremented by every rule change; 0 before the first. */
int mg_store_rules_revision(struct mg_store *s, uint64_t *out);

struct mg_store_policy {
	uint64_t version;
	uint64_t rules_revision; /* the revision the policy was built from */
	int64_t created_us;
	char *json; /* canonical policy JSON, NUL-terminated (owned) */
	size_t json_len;
	uint8_t *sig; /* signature over json, opaque here (owned) */
	size_t sig_len;
};
/*
 * Stores a signed policy version. version must be greater than every stored version (checked
 * atomically, also across collectors sharing PostgreSQL), else -EEXIST: rebuild with a
 * fresh version. json: up to MG_STORE_MAX_POLICY bytes; sig: 1..MG_STORE_MAX_SIGNATURE.
 */
int mg_store_policy_add(struct mg_store *s, const struct mg_store_actor *by, uint64_t version,
                        uint64_t rules_revision, const char *json, const uint8_t *sig,
                        size_t sig_len, int64_t now_us);
/* Highest stored version; 0 when none. */
int mg_store_policy_latest(struct mg_store *s, uint64_t *version);
/* version 0: the latest. -ENOENT when none. */
int mg_store_policy_get(struct mg_store *s, uint64_t version, struct mg_store_policy **out);
void mg_store_policy_free(struct mg_store_policy **p);

/* ---- device requests from terminals ---- */
enum mg_request_state {
	MG_REQUEST_PENDING,
	MG_REQUEST_APPROVED,
	MG_REQUEST_DENIED,
};
/* "pending", "approved", "denied"; "unknown" for another value. */
const char *mg_request_state_name(enum mg_request_state s);
struct mg_store_request {
	int64_t id;
	char request_id[MG_STORE_NAME_SIZE]; /* the terminal's idempotency key, [A-Za-z0-9._-] */
	int64_t host_id;
	char user[256];
	struct mg_store_device_id dev;
	char reason[MG_STORE_TEXT_SIZE];
	int64_t created_us;
	enum mg_request_state state;
	int64_t decided_us;
	char decided_by[MG_STORE_NAME_SIZE];
	char note[MG_STORE_TEXT_SIZE];
	int64_t rule_id; /* the rule an approval created */
};
/* Pending requests one host may have at once (issue 14, finding 7). */
#define MG_STORE_MAX_PENDING_REQUESTS 100
/*
 * Files a request: host_id, request_id, user, dev and reason of r are read. Idempotent: the
 * same (host_id, request_id) with the same content returns the existing id; with different
 * content -EEXIST. A new request of a host that has MG_STORE_MAX_PENDING_REQUESTS pending
 * ones: -EDQUOT.
 */
int mg_store_request_add(struct mg_store *s, const struct mg_store_request *r, int64_t now_us,
                         int64_t *id_out);
int mg_store_request_get(struct mg_store *s, int64_t id, struct mg_store_request *out);
/*
 * Approves a pending request and adds its rule in the same transaction (rule_text, rule_host_id,
 * expires_us as for mg_store_rule_add; the rule records request_id). -EALREADY when the
 * request was already decided.
 */
int mg_store_request_approve(struct mg_store *s, const struct mg_store_actor *by, int64_t id,
                             const char *rule_text, int64_t rule_host_id, int64_t expires_us,
                             const char *note, int64_t now_us, int64_t *rule_id_out);
int mg_store_request_deny(struct mg_store *s, const struct mg_store_actor *by, int64_t id,
                          const char *note, int64_t now_us);
/* state < 0: every state. Requests with id > after_id in id order, at most limit. */
int mg_store_requests_foreach(struct mg_store *s, int state, int64_t after_id, uint32_t limit,
                              int (*cb)(void *ctx, const struct mg_store_request *r), void *ctx);

/* ---- admin accounts and sessions ---- */
enum mg_admin_role {
	MG_ROLE_ADMIN = 1,
	MG_ROLE_APPROVER,
	MG_ROLE_AUDITOR,
};
/* "admin", "approver", "auditor"; NULL for another value. */
const char *mg_admin_role_name(enum mg_admin_role role);
int mg_admin_role_from_name(const char *name, enum mg_admin_role *out);

struct mg_store_admin {
	int64_t id;
	char name[MG_STORE_NAME_SIZE]; /* [A-Za-z0-9._@-], 1..63 bytes */
	char password_hash[256];       /* Argon2id encoded string, opaque here (printable ASCII) */
	enum mg_admin_role role;
	bool disabled;
	int64_t created_us;
};
/* -EEXIST when the name is taken. */
int mg_store_admin_add(struct mg_store *s, const struct mg_store_actor *by, const char *name,
                       const char *password_hash, enum mg_admin_role role, int64_t now_us,
                       int64_t *id_out);
int mg_store_admin_get(struct mg_store *s, const char *name, struct mg_store_admin *out);
int mg_store_admin_get_id(struct mg_store *s, int64_t id, struct mg_store_admin *out);
/* A new password also ends every session of the account (a stolen session dies with the
 * password it came from). */
int mg_store_admin_set_password(struct mg_store *s, const struct mg_store_actor *by, int64_t id,
                                const char *password_hash, int64_t now_us);
int mg_store_admin_set_role(struct mg_store *s, const struct mg_store_actor *by, int64_t id,
                            enum mg_admin_role role, int64_t now_us);
/* Disabling also ends the account's sessions. */
int mg_store_admin_set_disabled(struct mg_store *s, const struct mg_store_actor *by, int64_t id,
                                bool disabled, int64_t now_us);
int mg_store_admins_foreach(struct mg_store *s,
                            int (*cb)(void *ctx, const struct mg_store_admin *a), void *ctx);
/*
 * Account lockout after repeated failed logins (issue 14, finding 3). Locking records
 * "admin.lock" (by: the account itself with the client address, for a lock the login throttle
 * decides; detail {"failures": n}), unlocking "admin.unlock" (by: the admin who unlocks), each
 * with its event in the same transaction. lock: -EALREADY when already locked, -ENOENT for
 * no such account. unlock: -EALREADY when not locked, -ENOENT for no such account. locked:
 * 0 and *locked_us (optional) when locked, -ENOENT when not.
 */
int mg_store_admin_lock(struct mg_store *s, const struct mg_store_actor *by, int64_t id,
                        uint32_t failures, int64_t now_us);
int mg_store_admin_unlock(struct mg_store *s, const struct mg_store_actor *by, int64_t id,
                          int64_t now_us);
int mg_store_admin_locked(struct mg_store *s, int64_t id, int64_t *locked_us);
/*
 * Consecutive failed logins of account id, counted in the database so that every collector on
 * it counts the same (a count idle for forget_us starts again at 1): failed adds one and gives
 * the count, ok (a good login) clears it; an unlock clears it as well.
 */
int mg_store_admin_login_failed(struct mg_store *s, int64_t id, int64_t now_us, int64_t forget_us,
                                uint32_t *failures);
int mg_store_admin_login_ok(struct mg_store *s, int64_t id);

/* Sessions are stored by the SHA-256 (64 lower-case hex digits) of their token. */
int mg_store_session_add(struct mg_store *s, const char *token_sha256_hex, int64_t admin_id,
                         int64_t now_us, int64_t expires_us);
/*
 * The admin behind a session valid at now_us (now < expires): 0, -ENOENT (unknown or
 * logged out), -ETIME (expired), -EPERM (account disabled). expires_us optional.
 */
int mg_store_session_get(struct mg_store *s, const char *token_sha256_hex, int64_t now_us,
                         struct mg_store_admin *admin, int64_t *expires_us);
/* Moves the expiry of a valid session (sliding expiry). */
int mg_store_session_extend(struct mg_store *s, const char *token_sha256_hex, int64_t expires_us);
/* Logout; -ENOENT when unknown. */
int mg_store_session_delete(struct mg_store *s, const char *token_sha256_hex);
/* Deletes sessions expired at now_us; *deleted (optional) counts them. */
int mg_store_sessions_purge(struct mg_store *s, int64_t now_us, uint64_t *deleted);

/* ---- staff registry (issue 15): staff members and their FIDO2 credentials ---- */
#define MG_STORE_LOGIN_SIZE                256u  /* mg_user_name_valid names: 1..255 bytes */
#define MG_STORE_STAFF_TEXT                256u  /* display name, department */
#define MG_STORE_CRED_ID_B64               1400u /* base64 of a credential id (<= 1024 bytes) */
#define MG_STORE_CRED_PK_B64               700u  /* base64 of a public key (<= 512 bytes) */
#define MG_STORE_MAX_STAFF_KEYS            16u /* active keys of one staff member (the bundle's bound) */
#define MG_STORE_MAX_PENDING_REGISTRATIONS 100u /* pending key registrations of one host */
struct mg_store_staff {
	int64_t id;
	char login[MG_STORE_LOGIN_SIZE]; /* exact bytes, unique; mg_user_name_valid */
	char display_name[MG_STORE_STAFF_TEXT];
	char department[MG_STORE_STAFF_TEXT];
	bool disabled;
	int64_t created_us, updated_us;
	int64_t unlocked_us; /* latest central unlock; 0: none */
};
enum mg_staff_key_state {
	MG_STAFF_KEY_PENDING,
	MG_STAFF_KEY_ACTIVE,
	MG_STAFF_KEY_REVOKED,
	MG_STAFF_KEY_DENIED,
};
/* "pending", "active", "revoked", "denied"; NULL for another value. */
const char *mg_staff_key_state_name(enum mg_staff_key_state s);
int mg_staff_key_state_from_name(const char *name, enum mg_staff_key_state *out);
struct mg_store_staff_key {
	int64_t id;
	int64_t staff_id;
	char login[MG_STORE_LOGIN_SIZE];          /* of staff_id (read only) */
	char credential_id[MG_STORE_CRED_ID_B64]; /* standard base64 */
	char public_key[MG_STORE_CRED_PK_B64];    /* standard base64, libfido2 raw form */
	int cose_alg;                             /* -7, -8 or -257 */
	char rp_id[256];
	bool uv;
	char aaguid[33]; /* 32 lower-case hex digits */
	char attestation_fmt[16];
	char attestation_subject[MG_STORE_TEXT_SIZE]; /* "" when none */
	char label[65];
	int64_t registered_by_host;
	char registration_id[MG_STORE_NAME_SIZE];
	enum mg_staff_key_state state;
	int64_t created_us;
	char decided_by[MG_STORE_NAME_SIZE];
	int64_t decided_us;
};
/* login: mg_user_name_valid; display_name, department: NULL or up to 255 bytes, one line.
 * -EEXIST when the login exists. Changes the bundle (rules revision bumped). */
int mg_store_staff_add(struct mg_store *s, const struct mg_store_actor *by, const char *login,
                       const char *display_name, const char *department, int64_t now_us,
                       int64_t *id_out);
/* By id (login NULL) or by exact login. */
int mg_store_staff_get(struct mg_store *s, int64_t id, const char *login,
                       struct mg_store_staff *out);
/* Every staff member in id order. */
int mg_store_staff_foreach(struct mg_store *s, int (*cb)(void *ctx, const struct mg_store_staff *m),
                           void *ctx);
/* Disable / enable: -EALREADY when already so, -ENOENT when unknown. */
int mg_store_staff_set_disabled(struct mg_store *s, const struct mg_store_actor *by, int64_t id,
                                bool disabled, int64_t now_us);
/* Central unlock: unlocked_us = now_us. */
int mg_store_staff_unlock(struct mg_store *s, const struct mg_store_actor *by, int64_t id,
                          int64_t now_us);
/*
 * Files a registration (pending) from host k->registered_by_host for login k->login; the other
 * fields of k are read (checked for bounds here, the attestation by the caller). Idempotent
 * by (host, registration_id): the same content returns the existing id with *created false,
 * other content -EEXIST. -ENOENT: no such staff member; -EPERM: staff disabled; -EEXIST: the
 * credential id is already registered (a row that is not denied); -EDQUOT: the host has
 * MG_STORE_MAX_PENDING_REGISTRATIONS registrations pending already.
 */
int mg_store_staff_key_add(struct mg_store *s, const struct mg_store_staff_key *k, int64_t now_us,
                           int64_t *id_out, bool *created);
int mg_store_staff_key_get(struct mg_store *s, int64_t id, struct mg_store_staff_key *out);
/* staff_id 0: every member; state < 0: every state. In id order. */
int mg_store_staff_keys_foreach(struct mg_store *s, int64_t staff_id, int state,
                                int (*cb)(void *ctx, const struct mg_store_staff_key *k),
                                void *ctx);
/*
 * approve (pending -> active), deny (pending -> denied), revoke (pending or active ->
 * revoked). -EALREADY: not in a state that allows it; -ENOENT: unknown; -EDQUOT: approving
 * would give the member more than MG_STORE_MAX_STAFF_KEYS active keys.
 */
int mg_store_staff_key_decide(struct mg_store *s, const struct mg_store_actor *by, int64_t id,
                              enum mg_staff_key_state to, int64_t now_us);

#endif
