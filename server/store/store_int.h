/*
 * Inside the store: the table of backend operations that store.c dispatches to after it has
 * checked every argument, and the helpers both backends share (no SQL here). A backend
 * embeds struct mg_store as the first member of its own state.
 */
#ifndef MG_STORE_INT_H
#define MG_STORE_INT_H

#include "store.h"

/* An admin action to record with a change (store.c fills it; the backend completes target). */
struct mg_store_action {
	const char *admin;
	const char *remote; /* NULL: unknown */
	char action[MG_STORE_NAME_SIZE];
	char target[128];        /* "" + target_kind: the backend writes "<kind>:<new id>" */
	const char *target_kind; /* e.g. "rule"; NULL when target is already complete */
	char *detail;            /* JSON object text or NULL (owned) */
	int64_t now_us;
};

/* What store.c learnt about a batch before it reaches the backend. */
struct mg_store_batch {
	const char *boot_id;
	const struct mg_store_event *evs;
	size_t n;
	size_t chain_break; /* index of the first event whose prev_hash does not link; n: none */
	size_t devices;     /* events that update the device ledger */
};

/* A stored event read back to compare a resent one. */
struct mg_store_stored {
	uint64_t seq;
	const char *hash;
	const char *prev_hash;
	const char *json;
};

struct mg_sql; /* store_sql.h */

struct mg_store_ops {
	const char *name;
	void (*close)(struct mg_store *s);
	int (*set_reserve)(struct mg_store *s, uint64_t bytes);
	/* Runs fn(db, job) in one transaction (store_sql.h): on SQLite inside the writer's group
	 * commit, on PostgreSQL with retries of serialization failures, so fn must be repeatable.
	 */
	int (*write)(struct mg_store *s, int (*fn)(const struct mg_sql *db, void *job), void *job);
	/* Runs fn(db, job) on a pooled read connection. */
	int (*read)(struct mg_store *s, int (*fn)(const struct mg_sql *db, void *job), void *job);
	/* What the dialects do differently: ingest (prepared inserts in the writer's group
	 * commit, or COPY), the stream cursor, and the filtered event queries. */
	int (*ingest)(struct mg_store *s, int64_t host_id, const struct mg_store_batch *b,
	              int64_t now_us, struct mg_ingest_result *res);
	int (*cursor_get)(struct mg_store *s, int64_t host_id, const char *boot_id, uint64_t *out);
	int (*events_query)(struct mg_store *s, const struct mg_store_event_filter *f,
	                    int (*cb)(void *, const struct mg_store_event_row *), void *ctx);
	int (*events_count)(struct mg_store *s, const struct mg_store_event_filter *f,
	                    uint64_t *out);
};

struct mg_store {
	const struct mg_store_ops *ops;
};

/* Backends: open url (scheme already recognised) into *out. errmsg always written on error. */
int mg_store_sqlite_open(const char *path, struct mg_store **out, char *errmsg, size_t errlen);
int mg_store_pg_open(const char *url, struct mg_store **out, char *errmsg, size_t errlen);

/* ---- ingest decisions shared by both backends (store_ingest.c, pure) ---- */

/*
 * Checks a batch's arguments and links (no stored state): 0 and b filled, or -EINVAL with
 * errmsg. A prev_hash that does not link is not an error here: b->chain_break says where.
 */
int mg_store_batch_init(struct mg_store_batch *b, const char *boot_id,
                        const struct mg_store_event *evs, size_t n);
/* Number of leading events at or below the cursor (seq <= last_seq). */
size_t mg_store_batch_ndup(const struct mg_store_batch *b, uint64_t last_seq);
/* 0 when the resent event e matches what is stored, -1 when not (CONFLICT). */
int mg_store_event_matches(const struct mg_store_event *e, const struct mg_store_stored *st);
/*
 * The verdict once the duplicates matched: fills res and returns the index of the first event
 * to insert (res->status OK), or n when nothing is inserted (OK: all duplicates; GAP;
 * BROKEN_CHAIN at the link to the cursor). Not called when chain_break < n.
 */
size_t mg_store_batch_verdict(const struct mg_store_batch *b, size_t ndup, uint64_t last_seq,
                              const char *last_hash, struct mg_ingest_result *res);
/* True when e feeds the device ledger. */
int mg_store_event_is_device(const struct mg_store_event *e);

/* One device ledger update: the batch's events of one device (vendor, product, serial, hash). */
struct mg_store_ledger {
	const struct mg_store_event *first, *last; /* earliest and latest by time */
	const char *name;                          /* of the latest event that has one; "" */
	uint32_t sightings;
};
/*
 * Groups the device events of b->evs[from..n) by device, in key order (so that concurrent
 * writers lock ledger rows in the same order). *out (free()) holds *count entries; NULL and 0
 * when there are none. 0 or -ENOMEM.
 */
int mg_store_ledger_group(const struct mg_store_batch *b, size_t from, struct mg_store_ledger **out,
                          size_t *count);

/* ---- JSON of the collector's own event rows (store_action.c) ---- */

/* The event row of an admin action; *out owned by the caller (free()). 0 or -ENOMEM. */
int mg_store_action_event_json(const struct mg_store_action *act, char **out);
/* Sets act->target from target_kind and the id of the row the change created. */
void mg_store_action_set_target(struct mg_store_action *act, int64_t id);
/* The "collector.tamper" event row of an ingest alert: expected_hash is the stored hash of
 * that seq (conflict) or of the event before it (broken chain); received_hash what came. */
int mg_store_tamper_event_json(int64_t host_id, const char *boot_id, uint64_t seq, const char *kind,
                               const char *expected_hash, const char *received_hash, int64_t now_us,
                               char **out);

/*
 * The distinct host names that b->evs[from..n) claim and that differ from enrolled (the
 * sender's enrolled name), in batch order: *names (free(); NULL when none) holds *count
 * entries pointing into the batch, *first[i] (same array size) the index of the first event
 * claiming names[i]. 0 or -ENOMEM.
 */
int mg_store_batch_claims(const struct mg_store_batch *b, size_t from, const char *enrolled,
                          const char ***names, size_t **first, size_t *count);
/* The "collector.tamper" event row of a host_claim alert: host_id sent events of boot_id
 * (from seq on) naming claimed_host_id's enrolled name. */
int mg_store_claim_event_json(int64_t host_id, const char *boot_id, uint64_t seq, const char *name,
                              int64_t claimed_host_id, int64_t now_us, char **out);
#define MG_STORE_ALERT_HOST_CLAIM "host_claim"

/* "conflict" / "broken_chain" for the alert kind of a status. */
const char *mg_store_alert_kind(enum mg_ingest_status st);

#endif
