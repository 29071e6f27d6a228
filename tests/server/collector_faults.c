/*
 * Fault points for the crash tests (tests/server/test_api_policy.c), linked only into
 * mynaguard-collector-faults: the collector's own sources, linked with
 * -Wl,--wrap=mg_store_ingest,--wrap=sqlite3_step,--wrap=PQexec so that the production code
 * carries no hook. MG_FAULT_POINT (read at each call) says where the process kills itself
 * with SIGKILL, as kill -9 would:
 *
 *   ingest.before_commit  at the COMMIT of the transaction that stores a batch, after its
 *                         inserts (SQLite: the writer's group commit; PostgreSQL: the ingest
 *                         transaction); armed while an mg_store_ingest() call is in progress
 *   events.after_commit   after mg_store_ingest() returned having stored events, before the
 *                         HTTP answer is sent
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "store.h"

int __real_mg_store_ingest(struct mg_store *s, int64_t host_id, const char *boot_id,
                           const struct mg_store_event *evs, size_t n, int64_t now_us,
                           struct mg_ingest_result *res);
int __wrap_mg_store_ingest(struct mg_store *s, int64_t host_id, const char *boot_id,
                           const struct mg_store_event *evs, size_t n, int64_t now_us,
                           struct mg_ingest_result *res);
int __real_sqlite3_step(sqlite3_stmt *st);
int __wrap_sqlite3_step(sqlite3_stmt *st);
PGresult *__real_PQexec(PGconn *conn, const char *sql);
PGresult *__wrap_PQexec(PGconn *conn, const char *sql);

static atomic_int ingesting; /* mg_store_ingest() calls in progress */

static bool armed(const char *point)
{
	const char *p = getenv("MG_FAULT_POINT");
	return p && strcmp(p, point) == 0;
}

static void commit_point(const char *sql)
{
	if (sql && strcmp(sql, "COMMIT") == 0 && atomic_load(&ingesting) > 0 &&
	    armed("ingest.before_commit"))
		raise(SIGKILL);
}

int __wrap_mg_store_ingest(struct mg_store *s, int64_t host_id, const char *boot_id,
                           const struct mg_store_event *evs, size_t n, int64_t now_us,
                           struct mg_ingest_result *res)
{
	atomic_fetch_add(&ingesting, 1);
	int r = __real_mg_store_ingest(s, host_id, boot_id, evs, n, now_us, res);
	atomic_fetch_sub(&ingesting, 1);
	if (r == 0 && res->stored > 0 && armed("events.after_commit"))
		raise(SIGKILL);
	return r;
}

int __wrap_sqlite3_step(sqlite3_stmt *st)
{
	commit_point(sqlite3_sql(st));
	return __real_sqlite3_step(st);
}

PGresult *__wrap_PQexec(PGconn *conn, const char *sql)
{
	commit_point(sql);
	return __real_PQexec(conn, sql);
}
