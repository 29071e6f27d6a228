/*
 * SQLite schema. Terminal events belong to a stream (host, boot_id) whose row is the
 * exactly-once cursor; the collector's own rows (admin actions, tamper alerts) have no
 * stream. Event indexes: the dedup key and one per admin filter (SQLite appends the rowid to
 * every index, so "filter = ? AND id > ? ORDER BY id" walks one index in order). Time is
 * indexed per host (host_id, time_us), never alone: agents send batches covering the same
 * hours, so an index on time alone would take each batch's rows at scattered places and cost
 * the ingest of 200 agents draining their spools 2.5 times its time (docs/PERFORMANCE.md);
 * per host, a batch's rows are neighbours. Version 1 databases lose events_time on open.
 */
#include "store_schema.h"

#include <stddef.h>

const char *const mg_store_sqlite_schema[] = {
    "CREATE TABLE IF NOT EXISTS meta ("
    " key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', 1), ('rules_revision', 0);",
    "CREATE TABLE IF NOT EXISTS tokens ("
    " hash TEXT PRIMARY KEY, expires_us INTEGER NOT NULL, uses_left INTEGER NOT NULL,"
    " created_us INTEGER NOT NULL) WITHOUT ROWID;",
    "CREATE TABLE IF NOT EXISTS hosts ("
    " id INTEGER PRIMARY KEY, hostname TEXT NOT NULL, cert_serial TEXT NOT NULL UNIQUE,"
    " enrolled_us INTEGER NOT NULL, last_seen_us INTEGER NOT NULL DEFAULT 0,"
    " revoked INTEGER NOT NULL DEFAULT 0, policy_version INTEGER NOT NULL DEFAULT 0,"
    " spool_depth INTEGER NOT NULL DEFAULT 0, oldest_unsent_us INTEGER NOT NULL DEFAULT 0,"
    " agent_version TEXT NOT NULL DEFAULT '');",
    "CREATE TABLE IF NOT EXISTS streams ("
    " id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, boot_id TEXT NOT NULL,"
    " last_seq INTEGER NOT NULL, last_hash TEXT NOT NULL, updated_us INTEGER NOT NULL,"
    " UNIQUE (host_id, boot_id));",
    "CREATE TABLE IF NOT EXISTS events ("
    " id INTEGER PRIMARY KEY, stream_id INTEGER, seq INTEGER, host_id INTEGER,"
    " time_us INTEGER NOT NULL, type TEXT NOT NULL, username TEXT, device_serial TEXT,"
    " hash TEXT, prev_hash TEXT, json TEXT NOT NULL, received_us INTEGER NOT NULL);"
    "CREATE UNIQUE INDEX IF NOT EXISTS events_stream_seq ON events(stream_id, seq);"
    "CREATE INDEX IF NOT EXISTS events_host ON events(host_id);"
    "DROP INDEX IF EXISTS events_time;"
    "CREATE INDEX IF NOT EXISTS events_host_time ON events(host_id, time_us);"
    "CREATE INDEX IF NOT EXISTS events_type ON events(type);"
    "CREATE INDEX IF NOT EXISTS events_user ON events(username) WHERE username IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS events_serial ON events(device_serial)"
    " WHERE device_serial IS NOT NULL;",
    "CREATE TABLE IF NOT EXISTS alerts ("
    " id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, boot_id TEXT NOT NULL,"
    " seq INTEGER NOT NULL, kind TEXT NOT NULL, time_us INTEGER NOT NULL, evidence TEXT);"
    "CREATE INDEX IF NOT EXISTS alerts_host ON alerts(host_id);",
    /* Names a host's events claimed that are another enrolled host's (one tamper alert
     * each); hostname indexed for that look-up. */
    "CREATE TABLE IF NOT EXISTS host_claims ("
    " host_id INTEGER NOT NULL, name TEXT NOT NULL, claimed_host_id INTEGER NOT NULL,"
    " first_us INTEGER NOT NULL, PRIMARY KEY (host_id, name)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS hosts_hostname ON hosts(hostname);",
    "CREATE TABLE IF NOT EXISTS devices ("
    " id INTEGER PRIMARY KEY, vendor_id TEXT NOT NULL, product_id TEXT NOT NULL,"
    " serial TEXT NOT NULL, hash TEXT NOT NULL, name TEXT NOT NULL,"
    " first_seen_us INTEGER NOT NULL, last_seen_us INTEGER NOT NULL,"
    " first_host_id INTEGER NOT NULL, last_host_id INTEGER NOT NULL,"
    " sightings INTEGER NOT NULL, UNIQUE (vendor_id, product_id, serial, hash));",
    "CREATE TABLE IF NOT EXISTS rules ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, text TEXT NOT NULL, host_id INTEGER NOT NULL,"
    " expires_us INTEGER NOT NULL, created_us INTEGER NOT NULL, created_by TEXT NOT NULL,"
    " request_id INTEGER NOT NULL, comment TEXT NOT NULL);",
    "CREATE TABLE IF NOT EXISTS policies ("
    " version INTEGER PRIMARY KEY, rules_revision INTEGER NOT NULL,"
    " created_us INTEGER NOT NULL, json TEXT NOT NULL, sig BLOB NOT NULL);",
    "CREATE TABLE IF NOT EXISTS requests ("
    " id INTEGER PRIMARY KEY, host_id INTEGER NOT NULL, request_id TEXT NOT NULL,"
    " username TEXT NOT NULL, vendor_id TEXT NOT NULL, product_id TEXT NOT NULL,"
    " serial TEXT NOT NULL, name TEXT NOT NULL, hash TEXT NOT NULL, reason TEXT NOT NULL,"
    " created_us INTEGER NOT NULL, state INTEGER NOT NULL DEFAULT 0,"
    " decided_us INTEGER NOT NULL DEFAULT 0, decided_by TEXT NOT NULL DEFAULT '',"
    " note TEXT NOT NULL DEFAULT '', rule_id INTEGER NOT NULL DEFAULT 0,"
    " UNIQUE (host_id, request_id));"
    "CREATE INDEX IF NOT EXISTS requests_state ON requests(state);",
    "CREATE TABLE IF NOT EXISTS admins ("
    " id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL,"
    " role TEXT NOT NULL CHECK (role IN ('admin', 'approver', 'auditor')),"
    " disabled INTEGER NOT NULL DEFAULT 0, created_us INTEGER NOT NULL);",
    "CREATE TABLE IF NOT EXISTS sessions ("
    " token_hash TEXT PRIMARY KEY, admin_id INTEGER NOT NULL, created_us INTEGER NOT NULL,"
    " expires_us INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS sessions_admin ON sessions(admin_id);",
    "CREATE TABLE IF NOT EXISTS admin_locks ("
    " admin_id INTEGER PRIMARY KEY, locked_us INTEGER NOT NULL);",
    /* Consecutive failed logins of an account, shared by every collector on the database. */
    "CREATE TABLE IF NOT EXISTS admin_failures ("
    " admin_id INTEGER PRIMARY KEY, failures INTEGER NOT NULL, last_us INTEGER NOT NULL);",
    "CREATE TABLE IF NOT EXISTS admin_actions ("
    " id INTEGER PRIMARY KEY, time_us INTEGER NOT NULL, admin TEXT NOT NULL,"
    " action TEXT NOT NULL, target TEXT NOT NULL, remote TEXT NOT NULL, detail TEXT,"
    " event_id INTEGER NOT NULL);",
    /* Staff registry (issue 15): login names are exact bytes (Tanaka and tanaka differ);
     * a credential id is unique over every key that was not denied. */
    "CREATE TABLE IF NOT EXISTS staff ("
    " id INTEGER PRIMARY KEY, login TEXT NOT NULL UNIQUE, display_name TEXT NOT NULL,"
    " department TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'active'"
    " CHECK (state IN ('active', 'disabled')), created_us INTEGER NOT NULL,"
    " updated_us INTEGER NOT NULL, unlocked_us INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS staff_keys ("
    " id INTEGER PRIMARY KEY, staff_id INTEGER NOT NULL, credential_id TEXT NOT NULL,"
    " public_key TEXT NOT NULL, cose_alg INTEGER NOT NULL, rp_id TEXT NOT NULL,"
    " uv INTEGER NOT NULL, aaguid TEXT NOT NULL, attestation_fmt TEXT NOT NULL,"
    " attestation_subject TEXT NOT NULL, label TEXT NOT NULL,"
    " registered_by_host INTEGER NOT NULL, registration_id TEXT NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('pending', 'active', 'revoked', 'denied')),"
    " created_us INTEGER NOT NULL, decided_by TEXT NOT NULL DEFAULT '',"
    " decided_us INTEGER NOT NULL DEFAULT 0, UNIQUE (registered_by_host, registration_id));"
    "CREATE UNIQUE INDEX IF NOT EXISTS staff_keys_cred ON staff_keys(credential_id)"
    " WHERE state <> 'denied';"
    "CREATE INDEX IF NOT EXISTS staff_keys_staff ON staff_keys(staff_id, id);"
    "CREATE INDEX IF NOT EXISTS staff_keys_state ON staff_keys(state, id);"
    "CREATE INDEX IF NOT EXISTS staff_keys_host ON staff_keys(registered_by_host, state);",
    NULL,
};

const char mg_store_sqlite_event_insert[] =
    "INSERT INTO events(stream_id, seq, host_id, time_us, type, username, device_serial, hash,"
    " prev_hash, json, received_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
