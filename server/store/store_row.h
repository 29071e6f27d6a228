/*
 * The row layer both backends share: for each table, the column list its SELECTs name
 * (MG_ROW_*_COLS, "... FROM table") and the mapping of one result row onto the struct of
 * store.h. A backend wraps its result row in a struct mg_row (the SQLite statement, or the
 * PostgreSQL result and row number) and hands it to the handlers below; the backends keep
 * only their SQL, their parameters and their connection handling.
 */
#ifndef MG_STORE_ROW_H
#define MG_STORE_ROW_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define MG_ROW_HOST_COLS                                                                           \
	"id, hostname, cert_serial, enrolled_us, last_seen_us, revoked, policy_version,"           \
	" spool_depth, oldest_unsent_us, agent_version FROM hosts"
#define MG_ROW_ADMIN_COLS "id, name, password_hash, role, disabled, created_us FROM admins"
/* An admin (as MG_ROW_ADMIN_COLS) and the session's expiry in column 6. */
#define MG_ROW_SESSION_COLS                                                                        \
	"a.id, a.name, a.password_hash, a.role, a.disabled, a.created_us, s.expires_us"            \
	" FROM sessions s JOIN admins a ON a.id = s.admin_id"
#define MG_ROW_ACTION_COLS                                                                         \
	"id, time_us, admin, action, target, remote, detail, event_id FROM admin_actions"
#define MG_ROW_ALERT_COLS "id, host_id, boot_id, seq, kind, time_us, evidence FROM alerts"
#define MG_ROW_DEVICE_COLS                                                                         \
	"id, vendor_id, product_id, serial, name, hash, first_seen_us, last_seen_us,"              \
	" first_host_id, last_host_id, sightings FROM devices"
#define MG_ROW_RULE_COLS                                                                           \
	"id, text, host_id, expires_us, created_us, created_by, request_id, comment FROM rules"
#define MG_ROW_POLICY_COLS "version, rules_revision, created_us, json, sig FROM policies"
#define MG_ROW_REQUEST_COLS                                                                        \
	"id, request_id, host_id, username, vendor_id, product_id, serial, name, hash, reason,"    \
	" created_us, state, decided_us, decided_by, note, rule_id FROM requests"
#define MG_ROW_STAFF_COLS                                                                          \
	"id, login, display_name, department, state, created_us, updated_us, unlocked_us"          \
	" FROM staff"
#define MG_ROW_STAFF_KEY_COLS                                                                      \
	"k.id, k.staff_id, s.login, k.credential_id, k.public_key, k.cose_alg, k.rp_id, k.uv,"     \
	" k.aaguid, k.attestation_fmt, k.attestation_subject, k.label, k.registered_by_host,"      \
	" k.registration_id, k.state, k.created_us, k.decided_by, k.decided_us"                    \
	" FROM staff_keys k JOIN staff s ON s.id = k.staff_id"

struct mg_row;

/* How a backend reads a column of its current row. */
struct mg_row_ops {
	/* The integer of col; SQL NULL is 0, a PostgreSQL boolean 1 or 0. */
	int64_t (*i64)(const struct mg_row *r, int col);
	/* The text of col (NUL-terminated, valid until the next row), NULL for SQL NULL; *len
	 * (optional) gets its length in bytes. */
	const char *(*text)(const struct mg_row *r, int col, size_t *len);
	/* A malloc'd copy of the bytes of a blob (bytea) column in *out (never NULL on success)
	 * and their number in *len. 0 or -ENOMEM. */
	int (*blob)(const struct mg_row *r, int col, uint8_t **out, size_t *len);
};

/* One result row of either backend. */
struct mg_row {
	const struct mg_row_ops *ops;
	const void *res; /* sqlite3_stmt * or PGresult * */
	int i;           /* the row of a PostgreSQL result */
};

/* What a reader passes to the handlers below: the caller's callback (a foreach's
 * int (*)(void *ctx, const struct mg_store_X *), cast back by the handler), its context, a
 * result buffer of the handler's type and a number. */
struct mg_row_sink {
	void (*cb)(void);
	void *ctx;
	void *buf;
	int64_t i64;
};

/*
 * Row handlers, int (*)(const struct mg_row *, void *sink): what a backend's read loop calls
 * for each row; each maps the row onto its struct (zeroed first; text that does not fit is
 * cut). A "get" handler fills sink->buf (or sink->i64) and returns 1 (stop: one row
 * wanted); an "each" handler maps the row into a struct (sink->buf when the struct is large)
 * and returns what the caller's callback returns (non-zero stops). Borrowed pointers in the
 * struct (an action's detail, an alert's evidence) are valid during the callback only.
 */
int mg_row_host_get(const struct mg_row *r, void *sink);
int mg_row_host_each(const struct mg_row *r, void *sink);
int mg_row_admin_get(const struct mg_row *r, void *sink);
int mg_row_admin_each(const struct mg_row *r, void *sink);
/* An admin into sink->buf and the session expiry into sink->i64. */
int mg_row_session_get(const struct mg_row *r, void *sink);
int mg_row_action_each(const struct mg_row *r, void *sink);
int mg_row_alert_each(const struct mg_row *r, void *sink);
int mg_row_device_each(const struct mg_row *r, void *sink);  /* buf: struct mg_store_device */
int mg_row_rule_each(const struct mg_row *r, void *sink);    /* buf: struct mg_store_rule */
int mg_row_request_each(const struct mg_row *r, void *sink); /* buf: struct mg_store_request */
/* A new struct mg_store_policy (owned by the caller) in sink->buf; -ENOMEM. */
int mg_row_policy_get(const struct mg_row *r, void *sink);
/* Column 0 as an integer into sink->i64. */
int mg_row_i64_get(const struct mg_row *r, void *sink);

#endif
