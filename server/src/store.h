/*
 * The collector's storage interface, with two backends behind it: SQLite (default; WAL,
 * synchronous=FULL, one writer thread that commits many pending requests in one transaction
 * and only then answers them) and PostgreSQL (libpq; several collectors may share one
 * database). Everything the HTTP layer needs goes through these functions; SQL lives only in
 * store_sqlite.c and store_pg.c. All functions return 0 or a negative errno; -ENOENT for a
 * missing row; -EEXIST for a uniqueness conflict; -EIO (errmsg filled where offered) for a
 * database error. Thread-safe: the HTTP layer calls them from its worker threads.
 */
#ifndef MG_STORE_H
#define MG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mg_store;

/* "sqlite:/path/to/db" or "postgresql://..." (libpq URI). Creates or migrates the schema. */
int mg_store_open(const char *url, struct mg_store **out, char *errmsg, size_t errlen);
void mg_store_close(struct mg_store **s);
/* "sqlite" or "postgresql". */
const char *mg_store_backend(const struct mg_store *s);

/* ---- enrolment tokens (stored hashed) ---- */
int mg_store_token_add(struct mg_store *s, const char *token_sha256_hex, int64_t expires_us,
		       uint32_t uses);
/*
 * Consumes one use of a token at now_us: 0, -ENOENT (unknown), -EALREADY (used up: the API
 * answers 409), -ETIME (expired).
 */
int mg_store_token_consume(struct mg_store *s, const char *token_sha256_hex, int64_t now_us);

/* ---- hosts (terminals) ---- */
struct mg_store_host {
	int64_t id;
	char hostname[256];
	char cert_serial[64];	 /* serial of its client certificate (hex) */
	int64_t enrolled_us;
	int64_t last_seen_us;	 /* 0: never */
	bool revoked;
	uint64_t policy_version; /* last applied; 0: none */
	uint64_t spool_depth;	 /* from the last heartbeat */
	int64_t oldest_unsent_us;
	char agent_version[64];
};
int mg_store_host_add(struct mg_store *s, const char *hostname, const char *cert_serial,
		      int64_t now_us, int64_t *id_out);
int mg_store_host_get(struct mg_store *s, int64_t id, struct mg_store_host *out);
int mg_store_host_revoke(struct mg_store *s, int64_t id);
int mg_store_host_heartbeat(struct mg_store *s, int64_t id, int64_t now_us, uint64_t spool_depth,
			    int64_t oldest_unsent_us, uint64_t policy_version,
			    const char *agent_version);
/* Calls cb for every host, ordered by id; cb returning < 0 stops with that value. */
int mg_store_host_foreach(struct mg_store *s,
			  int (*cb)(void *ctx, const struct mg_store_host *h), void *ctx);

/* ---- events: exactly-once ingest ---- */
struct mg_store_event {
	uint64_t seq;
	int64_t time_us;
	const char *type;
	const char *json;      /* canonical JSON of the event, stored verbatim */
	const char *hash;      /* hex SHA-256 of json (computed by the caller) */
	const char *prev_hash; /* hash chain link; NULL or "" for the first of a boot */
	/* Indexed fields for admin queries; NULL when absent. */
	const char *user;
	const char *device_serial;
};

enum mg_ingest_status {
	MG_INGEST_OK,	    /* stored; acked_through says up to where */
	MG_INGEST_GAP,	    /* events missing before the batch: resend_from */
	MG_INGEST_CONFLICT, /* a seq already stored with different content: tamper alert */
	MG_INGEST_BROKEN_CHAIN,
};

struct mg_ingest_result {
	enum mg_ingest_status status;
	uint64_t acked_through; /* highest seq stored for (host, boot_id), after this batch */
	uint64_t resend_from;	/* MG_INGEST_GAP */
	uint64_t bad_seq;	/* MG_INGEST_CONFLICT / BROKEN_CHAIN: the offending seq */
};

/*
 * Stores the events of one batch of host for boot_id (seq strictly increasing within the
 * batch) exactly once: in one transaction with the per-(host, boot_id) cursor, only events
 * above the cursor are inserted; events at or below it must be identical to what is stored
 * (else CONFLICT); the first new event must be cursor + 1 (else GAP); each prev_hash must be
 * the hash of the event before it (else BROKEN_CHAIN, nothing stored). Returns after the
 * commit is durable. A CONFLICT or BROKEN_CHAIN also records a tamper alert row.
 */
int mg_store_ingest(struct mg_store *s, int64_t host_id, const char *boot_id,
		    const struct mg_store_event *evs, size_t n, int64_t now_us,
		    struct mg_ingest_result *res);

struct mg_store_event_filter {
	int64_t host_id; /* 0: any */
	const char *type;
	const char *user;
	const char *device_serial;
	int64_t from_us, to_us; /* 0: open */
	int64_t after_id;	/* pagination: rows with id > after_id */
	uint32_t limit;		/* at most 10,000 */
};
/* Calls cb(ctx, row id, host id, json) in id order. */
int mg_store_events_query(struct mg_store *s, const struct mg_store_event_filter *f,
			  int (*cb)(void *ctx, int64_t id, int64_t host_id, const char *json),
			  void *ctx);

/* Tamper alerts recorded by ingest (for the admin API). */
int mg_store_alerts_count(struct mg_store *s, int64_t host_id, uint64_t *out);

#endif
