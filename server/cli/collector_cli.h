/*
 * What the subcommand files of mynaguard-collector (collector_main.c, collector_cli_*.c)
 * share: the collector.conf key table (collector_conf.c), strict option parsing and opening
 * the store (collector_opts.c), and tables printed for people (collector_table.c).
 * The commands are listed in collector_main.c; docs/COLLECTOR-CLI.md describes them.
 *
 * Exit statuses: 0 success, 1 runtime error, 2 usage or configuration error. Messages for
 * people are MG_TR("日本語", "English") pairs (Japanese by default); log lines are English.
 */
#ifndef MG_COLLECTOR_CLI_H
#define MG_COLLECTOR_CLI_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "admin_auth.h"
#include "mg/config.h"
#include "store.h"

#define CLI_OK      0
#define CLI_RUNTIME 1
#define CLI_USAGE   2

/* collector.conf (`--config FILE`); every limit key is also a `serve` option (--key-name). */
struct mg_collector_conf {
	char *data_dir; /* data_dir */
	char *database; /* database: sqlite:PATH or postgresql://... */
	char *listen;   /* listen: ADDR:PORT or [ADDR]:PORT */
	uint64_t threads;
	uint64_t work_threads;
	uint64_t max_connections;
	uint64_t per_ip_connections;
	uint64_t connection_timeout; /* seconds */
	uint64_t head_timeout;       /* seconds: TLS handshake and request head */
	uint64_t body_timeout;       /* seconds: a whole request body */
	uint64_t max_inflight_ingests;
	uint64_t max_concurrent_logins;
	uint64_t policy_validity; /* seconds */
	uint64_t session_ttl;     /* seconds */
	uint64_t cert_days;
	uint64_t disk_reserve_mib;
};

extern const struct mg_config_key mg_collector_conf_keys[];
extern const size_t mg_collector_conf_nkeys;

/*
 * Loads path (owned by root or by the calling user, not group or world writable, at most
 * 64 KiB) over conf, which holds the defaults (mg_config_init). 0 or -EINVAL with err.
 */
int mg_collector_conf_load(const char *path, struct mg_collector_conf *conf,
                           struct mg_config_error *err);
/* Sets one limit key from a command-line value. -ENOENT: not a limit key; -EINVAL with err. */
int mg_collector_conf_set(struct mg_collector_conf *conf, const char *key, const char *value,
                          struct mg_config_error *err);
/* Checks that span keys (per_ip_connections <= max_connections). -EINVAL with msg. */
int mg_collector_conf_check(const struct mg_collector_conf *conf, char *msg, size_t len);
void mg_collector_conf_free(struct mg_collector_conf *conf);

/* "ADDR:PORT" or "[ADDR]:PORT" into addr and port. 0 or -EINVAL. */
int mg_collector_conf_split_listen(const char *s, char *addr, size_t size, uint16_t *port);

/* In a command's list of allowed options: every limit key of collector.conf as --key-name. */
#define CLI_LIMIT_OPTS "--<limits>"

/* The parsed command line of one subcommand. */
struct cli_opts {
	/* Resolved: option, else the config file, else the default (db: sqlite:DIR/collector.db).
	 */
	const char *data_dir;
	const char *db;
	const char *listen;
	struct mg_collector_conf conf; /* defaults, then --config FILE, then limit options */
	/* As given (NULL: absent). */
	const char *config;
	const char *listen_name, *admin, *admin_pw_file, *name, *password_file;
	const char *expires, *comment, *rule;
	const char *login, *display_name, *department; /* staff add (issue 15) */
	const char *host, *type, *user, *serial, *from, *to;
	uint64_t uses, limit;
	int ready_fd;
	bool json;
	const char *pos[4]; /* arguments that are not options */
	size_t npos;
	/* Internal. */
	const char *opt_data_dir, *opt_db, *opt_listen;
	struct {
		const char *key, *value;
	} limits[16];
	size_t nlimits;
	bool conf_ready;
	char db_buf[PATH_MAX + 16];
};

/*
 * Parses argv (after the subcommand) into o: options from allowed (NULL-terminated) as
 * "--name VALUE" or flags ("--json"), and at most max_pos other arguments; then loads
 * --config and resolves data_dir and db (data_dir required). Callers set defaults in o first.
 * 0, or -EINVAL after a message on stderr (exit CLI_USAGE). Free with cli_opts_free().
 */
int cli_parse(int argc, char **argv, const char *const *allowed, size_t max_pos,
              struct cli_opts *o);
void cli_opts_free(struct cli_opts *o);

/* "mynaguard-collector: " + the message + "\n" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Opens o->db; on failure says why (and returns the negative errno). */
int cli_open_store(const struct cli_opts *o, struct mg_store **s);

/* "90", "90s", "15m", "2h", "7d" (at most 3650 days) into microseconds. 0 or -EINVAL. */
int cli_parse_duration(const char *s, int64_t *us);
/* A point in time: RFC 3339, or a duration from now_us. 0 or -EINVAL. */
int cli_parse_when(const char *s, int64_t now_us, int64_t *us);

/* The admin name recorded for actions taken on the command line: "cli.<unix user>". */
void cli_actor_name(char out[MG_STORE_NAME_SIZE]);

/* ---- tables for people and JSON lines (collector_table.c) ---- */

/* Columns a UTF-8 string takes on a terminal (East Asian wide characters count 2). */
size_t cli_text_width(const char *s);
/*
 * Prints s as one cell: control and bidirectional-override characters (from devices and
 * terminals: untrusted) as '?', cut to width columns (a '~' marks the cut) and padded, then
 * two spaces;
 * width 0: the last cell (not cut), then a newline.
 */
void cli_cell(FILE *f, const char *s, size_t width);
/* Local time with its UTC offset, "2026-11-26 06:17:59 +0900"; "-" for 0. */
void cli_time_text(int64_t us, char *buf, size_t size);
/* Prints o (consumed) on stdout as one line of compact JSON with sorted keys (--json).
 * 0, -ENOMEM, or -EIO once stdout has failed. */
int cli_json_line(json_t *o);

/*
 * The Argon2id hash of the password on the first line of file (owned by the caller, mode
 * 0600), after the password policy. 0 or a negative errno (reported).
 */
int cli_password_hash_from_file(const char *file, char hash[MG_ADMIN_HASH_SIZE]);

/* ---- subcommands (collector_cli_*.c) ---- */
int cli_admin(int argc, char **argv);
int cli_init(int argc, char **argv);
int cli_token(int argc, char **argv);
int cli_events(int argc, char **argv);
int cli_hosts(int argc, char **argv);
int cli_rules(int argc, char **argv);
int cli_staff(int argc, char **argv);

#endif
