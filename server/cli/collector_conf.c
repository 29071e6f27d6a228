/*
 * collector.conf: the collector's key table (mg_config), read with `--config FILE`. The
 * defaults and ranges here are the ones docs/COLLECTOR-CLI.md lists; a limit given as a
 * `serve` option goes through the same table, so it gets the same checks.
 */
#include "collector_cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mg/safe_open.h"

#define CONF_MAX_SIZE (64u * 1024u)

int mg_collector_conf_split_listen(const char *s, char *addr, size_t size, uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	const char *a = s;
	size_t alen;
	uint64_t p;
	if (!colon || mg_parse_u64(colon + 1, 0, 65535, &p) < 0)
		return -EINVAL;
	alen = (size_t)(colon - s);
	if (alen >= 2 && s[0] == '[' && s[alen - 1] == ']') {
		a++;
		alen -= 2;
	}
	if (alen == 0 || alen >= size)
		return -EINVAL;
	memcpy(addr, a, alen);
	addr[alen] = '\0';
	*port = (uint16_t)p;
	return 0;
}

static int check_database(const char *text, char *msg, size_t len)
{
	if ((strncmp(text, "sqlite:", 7) == 0 && text[7]) ||
	    strncmp(text, "postgresql://", 13) == 0 || strncmp(text, "postgres://", 11) == 0)
		return 0;
	snprintf(msg, len, "expected sqlite:PATH or postgresql://...");
	return -EINVAL;
}

static int check_listen(const char *text, char *msg, size_t len)
{
	char addr[64];
	uint16_t port;
	if (mg_collector_conf_split_listen(text, addr, sizeof(addr), &port) == 0)
		return 0;
	snprintf(msg, len, "expected ADDR:PORT or [ADDR]:PORT");
	return -EINVAL;
}

#define OFF(f) offsetof(struct mg_collector_conf, f)
#define DAY    86400u

const struct mg_config_key mg_collector_conf_keys[] = {
    {.name = "data_dir", .type = MG_CFG_PATH, .offset = OFF(data_dir)},
    {.name = "database", .type = MG_CFG_STRING, .offset = OFF(database), .check = check_database},
    {.name = "listen", .type = MG_CFG_STRING, .offset = OFF(listen), .check = check_listen},
    /* HTTPS worker threads (libmicrohttpd's thread pool). */
    {.name = "threads",
     .type = MG_CFG_UINT,
     .offset = OFF(threads),
     .def = "4",
     .min = 1,
     .max = 256},
    /* Threads that run the requests that write (event batches, heartbeats, admin changes):
     * each waits for its commit there while the HTTPS threads serve other connections. */
    {.name = "work_threads",
     .type = MG_CFG_UINT,
     .offset = OFF(work_threads),
     .def = "4",
     .min = 1,
     .max = 64},
    /* Open connections in total, and per client address (terminals behind NAT share one). */
    {.name = "max_connections",
     .type = MG_CFG_UINT,
     .offset = OFF(max_connections),
     .def = "1024",
     .min = 1,
     .max = 65536},
    {.name = "per_ip_connections",
     .type = MG_CFG_UINT,
     .offset = OFF(per_ip_connections),
     .def = "64",
     .min = 1,
     .max = 65536},
    /* An idle connection is closed after this long. */
    {.name = "connection_timeout",
     .type = MG_CFG_DURATION,
     .offset = OFF(connection_timeout),
     .def = "30s",
     .min = 1,
     .max = 3600},
    /* Connections without a verified client certificate must complete the TLS handshake and
     * the request head within this (again between their requests); else they are closed. */
    {.name = "head_timeout",
     .type = MG_CFG_DURATION,
     .offset = OFF(head_timeout),
     .def = "5s",
     .min = 1,
     .max = 300},
    /* A request body must arrive whole within this once it may be read; else closed. */
    {.name = "body_timeout",
     .type = MG_CFG_DURATION,
     .offset = OFF(body_timeout),
     .def = "30s",
     .min = 1,
     .max = 3600},
    /* POST /v1/events handled at once; more get 503 with Retry-After. */
    {.name = "max_inflight_ingests",
     .type = MG_CFG_UINT,
     .offset = OFF(max_inflight_ingests),
     .def = "64",
     .min = 1,
     .max = 4096},
    /* Admin password checks at once (Argon2id takes 19 MiB each); more get 503. */
    {.name = "max_concurrent_logins",
     .type = MG_CFG_UINT,
     .offset = OFF(max_concurrent_logins),
     .def = "1",
     .min = 1,
     .max = 16},
    /* Lifetime of a published policy: how long a terminal may stay offline on it. */
    {.name = "policy_validity",
     .type = MG_CFG_DURATION,
     .offset = OFF(policy_validity),
     .def = "7d",
     .min = 3600,
     .max = 365 * DAY},
    /* Admin console sessions end after this long without a request. */
    {.name = "session_ttl",
     .type = MG_CFG_DURATION,
     .offset = OFF(session_ttl),
     .def = "30m",
     .min = 60,
     .max = DAY},
    /* Validity of the client certificates issued at enrolment. */
    {.name = "cert_days",
     .type = MG_CFG_UINT,
     .offset = OFF(cert_days),
     .def = "365",
     .min = 1,
     .max = 3650},
    /* SQLite: ingest answers 507 while the database's file system has less free. 0: off. */
    {.name = "disk_reserve_mib",
     .type = MG_CFG_UINT,
     .offset = OFF(disk_reserve_mib),
     .def = "0",
     .min = 0,
     .max = 1024 * 1024},
};

const size_t mg_collector_conf_nkeys =
    sizeof(mg_collector_conf_keys) / sizeof(mg_collector_conf_keys[0]);

static int fail(struct mg_config_error *err, const char *file, const char *msg, const char *why)
{
	snprintf(err->file, sizeof(err->file), "%s", file);
	err->line = 0;
	snprintf(err->msg, sizeof(err->msg), "%s%s%s", msg, why ? ": " : "", why ? why : "");
	return -EINVAL;
}

int mg_collector_conf_load(const char *path, struct mg_collector_conf *conf,
                           struct mg_config_error *err)
{
	/* The collector runs as its own user: its config belongs to root (0640 root:collector
	 * when it holds a database password) or to that user. */
	struct mg_file_rules rules = {.owner = MG_ANY_OWNER, .max_size = CONF_MAX_SIZE};
	const char *why = NULL;
	char *data = NULL;
	size_t len = 0;
	struct stat st;
	int r, fd = mg_safe_open(path, &rules, &why);
	if (fd < 0)
		return fail(err, path, "cannot be used", why ? why : strerror(-fd));
	if (fstat(fd, &st) < 0 || (st.st_uid != 0 && st.st_uid != geteuid())) {
		close(fd);
		return fail(err, path, "must be owned by root or by the user running the collector",
		            NULL);
	}
	r = mg_read_fd(fd, CONF_MAX_SIZE, &data, &len);
	close(fd);
	if (r < 0)
		return fail(err, path, "cannot be read", strerror(-r));
	r = mg_config_parse(path, data, len, mg_collector_conf_keys, mg_collector_conf_nkeys, conf,
	                    err);
	free(data);
	return r < 0 ? -EINVAL : 0;
}

int mg_collector_conf_set(struct mg_collector_conf *conf, const char *key, const char *value,
                          struct mg_config_error *err)
{
	char line[256];
	const struct mg_config_key *k = NULL;
	for (size_t i = 0; i < mg_collector_conf_nkeys; i++)
		if (strcmp(mg_collector_conf_keys[i].name, key) == 0)
			k = &mg_collector_conf_keys[i];
	if (!k || (k->type != MG_CFG_UINT && k->type != MG_CFG_DURATION))
		return -ENOENT;
	/* Numbers and durations only: nothing that the line syntax would read differently. */
	for (const char *p = value; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z')))
			return fail(err, key,
			            "expected a number or a duration such as 30s, 15m, 2h, 7d",
			            NULL);
	if (snprintf(line, sizeof(line), "%s = %s\n", key, value) >= (int)sizeof(line))
		return fail(err, key, "value too long", NULL);
	return mg_config_parse(key, line, strlen(line), k, 1, conf, err) < 0 ? -EINVAL : 0;
}

int mg_collector_conf_check(const struct mg_collector_conf *conf, char *msg, size_t len)
{
	if (conf->per_ip_connections > conf->max_connections) {
		snprintf(msg, len, "per_ip_connections (%llu) exceeds max_connections (%llu)",
		         (unsigned long long)conf->per_ip_connections,
		         (unsigned long long)conf->max_connections);
		return -EINVAL;
	}
	return 0;
}

void mg_collector_conf_free(struct mg_collector_conf *conf)
{
	mg_config_free(mg_collector_conf_keys, mg_collector_conf_nkeys, conf);
}
