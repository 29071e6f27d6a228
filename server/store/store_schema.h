/*
 * The schemas of both backends (version MG_STORE_SCHEMA_VERSION), and the one statement that
 * stores a terminal event, shared with bench/bench_sqlite_ceiling.c so that the raw ceiling
 * measures exactly the collector's table and indexes.
 */
#ifndef MG_STORE_SCHEMA_H
#define MG_STORE_SCHEMA_H

#define MG_STORE_SCHEMA_VERSION 1

/* NULL-terminated lists of SQL scripts, idempotent (CREATE ... IF NOT EXISTS): run them in
 * order inside one transaction. */
extern const char *const mg_store_sqlite_schema[];
extern const char *const mg_store_pg_schema[];

/* ?1 stream_id, ?2 seq, ?3 host_id, ?4 time_us, ?5 type, ?6 username, ?7 device_serial,
 * ?8 hash, ?9 prev_hash, ?10 json, ?11 received_us */
extern const char mg_store_sqlite_event_insert[];

#endif
