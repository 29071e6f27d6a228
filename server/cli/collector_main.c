/*
 * mynaguard-collector: the central collector's command line. The table at the end is the map
 * of the tool; each subcommand lives in its own file (collector_cli_*.c), `serve` here:
 *   init --data-dir DIR [--db URL] [--listen-name NAME] --admin NAME --admin-password-file FILE
 *   serve --data-dir DIR --listen ADDR:PORT [--db URL] [--config FILE] [limits] [--ready-fd FD]
 *   token create --data-dir DIR [--db URL] [--expires DURATION] [--uses N]
 *   events --data-dir DIR [filters] [--limit N] [--json]
 *   hosts --data-dir DIR [--json]
 *   rules list|add|remove --data-dir DIR ...
 *   admin passwd --data-dir DIR --name NAME --password-file FILE
 *   admin unlock --data-dir DIR --name NAME
 *   staff list|show LOGIN|add --login L|disable|enable|unlock LOGIN|approve|revoke-key ID
 * Every command takes --config FILE (collector.conf: data_dir, database, listen and the
 * limits). The default database is sqlite:DIR/collector.db. docs/COLLECTOR-CLI.md.
 */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <syslog.h>
#include <unistd.h>

#include "admin_auth.h"
#include "api.h"
#include "router.h"
#include "ca.h"
#include "collector_cli.h"
#include "http.h"
#include "json_arena.h"
#include "mg/i18n.h"
#include "mg/log.h"
#include "mg/safe_open.h"
#include "policy_refresh.h"
#include "store.h"

#define US_PER_S         INT64_C(1000000)
#define POLICY_REFRESH_S 30u /* between policy refresh checks */

static void usage(FILE *f)
{
	fputs(
	    "usage: mynaguard-collector init --data-dir DIR [--db URL] [--listen-name NAME]\n"
	    "                                --admin NAME --admin-password-file FILE\n"
	    "       mynaguard-collector serve --data-dir DIR --listen ADDR:PORT [--db URL]\n"
	    "                                 [--threads N] [--max-connections N]\n"
	    "                                 [--per-ip-connections N] [--connection-timeout D]\n"
	    "                                 [--head-timeout D] [--body-timeout D]\n"
	    "                                 [--max-inflight-ingests N]\n"
	    "                                 [--max-concurrent-logins N] [--policy-validity D]\n"
	    "                                 [--session-ttl D] [--cert-days N]\n"
	    "                                 [--disk-reserve-mib N] [--ready-fd FD]\n"
	    "       mynaguard-collector token create --data-dir DIR [--db URL]\n"
	    "                                 [--expires DURATION] [--uses N]\n"
	    "       mynaguard-collector events --data-dir DIR [--db URL] [--host ID|HOSTNAME]\n"
	    "                                 [--type T] [--user U] [--serial S]\n"
	    "                                 [--from TIME] [--to TIME] [--limit N] [--json]\n"
	    "       mynaguard-collector hosts --data-dir DIR [--db URL] [--json]\n"
	    "       mynaguard-collector rules list --data-dir DIR [--db URL] [--host ID] [--json]\n"
	    "       mynaguard-collector rules add --data-dir DIR [--db URL] [--host ID]\n"
	    "                                 [--expires DURATION|TIME] [--comment TEXT]\n"
	    "                                 --rule 'allow id 0781:5581 serial \"X\"'\n"
	    "       mynaguard-collector rules remove --data-dir DIR [--db URL] ID\n"
	    "       mynaguard-collector admin passwd --data-dir DIR [--db URL] --name NAME\n"
	    "                                 --password-file FILE\n"
	    "       mynaguard-collector admin unlock --data-dir DIR [--db URL] --name NAME\n"
	    "       mynaguard-collector staff list|show LOGIN --data-dir DIR [--db URL] [--json]\n"
	    "       mynaguard-collector staff add --data-dir DIR [--db URL] --login LOGIN\n"
	    "                                 [--display-name NAME] [--department DEPT]\n"
	    "       mynaguard-collector staff disable|enable|unlock --data-dir DIR LOGIN\n"
	    "       mynaguard-collector staff approve|revoke-key --data-dir DIR KEY_ID\n"
	    "Every command also takes --config FILE (collector.conf). D: 90s, 15m, 2h, 7d;\n"
	    "TIME: RFC 3339 (2026-11-26T09:00:00+09:00). See docs/COLLECTOR-CLI.md.\n",
	    f);
}

static int read_pem(const char *dir, const char *name, bool secret, char **out)
{
	char path[PATH_MAX];
	struct mg_file_rules rules = {.owner = geteuid(), .secret = secret, .max_size = 65536};
	size_t len;
	const char *why = NULL;
	int r;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	r = mg_safe_read_file(path, &rules, out, &len, &why);
	if (r < 0)
		mg_log_errno(MG_LOG_ERR, r, "%s%s%s", path, why ? ": " : "", why ? why : "");
	return r;
}

/* Room for max_connections sockets plus the database, keys and the pool's own descriptors. */
static void raise_fd_limit(uint64_t max_connections)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)max_connections + 128;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < want)
		mg_warn("open file limit %llu is below max_connections + 128 (%llu): connections "
		        "beyond it are refused",
		        (unsigned long long)rl.rlim_cur, (unsigned long long)want);
}

static int cmd_serve(int argc, char **argv)
{
	static const char *const allowed[] = {"--config",   "--data-dir",   "--db", "--listen",
	                                      "--ready-fd", CLI_LIMIT_OPTS, NULL};
	struct cli_opts o = {.ready_fd = -1};
	const struct mg_collector_conf *c = &o.conf;
	char addr[64];
	struct mg_http_config cfg = {0};
	struct mg_api api = {0};
	struct mg_http_server *srv = NULL;
	struct mg_store *s = NULL;
	struct mg_ca *ca = NULL;
	struct mg_policy_key *pk = NULL;
	struct mg_policy_refresher *refresher = NULL;
	char *key = NULL, *cert = NULL;
	sigset_t set;
	int sig = 0, ret = CLI_USAGE;

	if (cli_parse(argc, argv, allowed, 0, &o) < 0)
		goto done;
	if (!o.listen ||
	    mg_collector_conf_split_listen(o.listen, addr, sizeof(addr), &cfg.port) < 0) {
		cli_error(MG_TR("--listen ADDR:PORT (または設定ファイルの listen) が必要です",
		                "--listen ADDR:PORT (or listen in the config file) is required"));
		goto done;
	}
	ret = CLI_RUNTIME;
	/* An event batch is thousands of small JSON nodes freed at once, then large buffers:
	 * glibc's fastbins made it merge them all again on each large request (8% of the
	 * ingest threads' time, docs/PERFORMANCE.md). Without fastbins, small frees go to the
	 * thread cache or are merged as they come. */
	mallopt(M_MXFAST, 0);
	/* Request bodies (up to 1 MiB) and a batch's arrays come from mmap and go back to the
	 * system when freed: glibc would otherwise raise this threshold after the first such free
	 * and keep the memory in each thread's arena (RSS, docs/PERFORMANCE.md). */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	/* Event batches are parsed with their nodes in a per-thread arena (json_arena.h). */
	mg_json_arena_install();
	/* Signals are taken by sigwait() below; the server's threads inherit the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit(c->max_connections);

	if (read_pem(o.data_dir, "server.key", true, &key) < 0 ||
	    read_pem(o.data_dir, "server.pem", false, &cert) < 0)
		goto done;
	if (mg_ca_load(o.data_dir, &ca) < 0) {
		mg_err("cannot load the CA from %s", o.data_dir);
		goto done;
	}
	char keypath[PATH_MAX];
	snprintf(keypath, sizeof(keypath), "%s/policy.key", o.data_dir);
	if (mg_policy_key_load(keypath, &pk) < 0 ||
	    mg_policy_key_public_b64(pk, api.policy_pubkey) < 0) {
		mg_err("cannot load the policy-signing key %s", keypath);
		goto done;
	}
	if (cli_open_store(&o, &s) < 0)
		goto done;
	if (mg_store_set_reserve(s, c->disk_reserve_mib * 1024 * 1024) < 0) {
		mg_err("cannot set the disk reserve");
		goto done;
	}
	api.store = s;
	api.ca = ca;
	api.policy_key = pk;
	api.policy_validity_us = (int64_t)c->policy_validity * US_PER_S;
	api.cert_days = (uint32_t)c->cert_days;
	api.max_inflight = (unsigned)c->max_inflight_ingests;
	api.session_ttl_us = (int64_t)c->session_ttl * US_PER_S;
	api.argon2 = &mg_argon2_production;
	/* Argon2id at production cost takes 19 MiB per check: few at a time keeps the RSS bounded
	 * and slows password guessing. */
	api.max_logins = (unsigned)c->max_concurrent_logins;
	cfg.address = addr;
	cfg.key_pem = key;
	cfg.cert_pem = cert;
	cfg.trust_pem = mg_ca_pem(ca);
	cfg.threads = (unsigned)c->threads;
	cfg.offload = mg_router_offload;
	cfg.work_threads = (unsigned)c->work_threads;
	cfg.max_connections = (unsigned)c->max_connections;
	cfg.per_ip = (unsigned)c->per_ip_connections;
	cfg.timeout_s = (unsigned)c->connection_timeout;
	cfg.head_timeout_s = (unsigned)c->head_timeout;
	cfg.body_timeout_s = (unsigned)c->body_timeout;
	cfg.large_body = mg_api_large_body;
	cfg.peer_enrolled = mg_api_peer_enrolled;
	cfg.max_large = (unsigned)c->max_inflight_ingests; /* before the body: 503 */
	cfg.handler = mg_router_handle;
	cfg.handler_ctx = &api;
	/* Publishes version 1 now when there is none, then keeps the policy current. */
	struct mg_policy_refresher_config prc = {.store = s,
	                                         .key = pk,
	                                         .validity_us = api.policy_validity_us,
	                                         .interval_s = POLICY_REFRESH_S,
	                                         .published = mg_api_policy_published,
	                                         .ctx = &api};
	if (mg_policy_refresher_start(&prc, &refresher) < 0) {
		mg_err("cannot start the policy refresh");
		goto done;
	}
	if (mg_http_start(&cfg, &srv) < 0) {
		mg_err("cannot listen on %s", o.listen);
		goto done;
	}
	mg_notice("listening on %s port %u (database: %s; threads %u + %u, connections %u, per IP "
	          "%u, timeout %us, ingests %u)",
	          addr, mg_http_port(srv), mg_store_backend(s), cfg.threads, cfg.work_threads,
	          cfg.max_connections, cfg.per_ip, cfg.timeout_s, api.max_inflight);
	if (o.ready_fd >= 0) {
		dprintf(o.ready_fd, "%u\n", mg_http_port(srv));
		close(o.ready_fd);
	}
	if (sigwait(&set, &sig) == 0)
		mg_notice("signal %d: stopping", sig);
	ret = CLI_OK;
done:
	mg_http_stop(&srv);
	mg_policy_refresher_stop(&refresher);
	mg_api_policy_cache_free(&api);
	mg_store_close(&s);
	mg_ca_free(&ca);
	mg_policy_key_free(&pk);
	if (key) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	free(cert);
	cli_opts_free(&o);
	return ret;
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} subcommands[] = {
    {"init", cli_init},   {"serve", cmd_serve}, {"token", cli_token}, {"events", cli_events},
    {"hosts", cli_hosts}, {"rules", cli_rules}, {"admin", cli_admin}, {"staff", cli_staff},
};

int main(int argc, char **argv)
{
	mg_log_open("mynaguard-collector", MG_LOG_STDERR, LOG_DAEMON, MG_LOG_INFO);
	if (argc >= 2) {
		for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
			if (strcmp(argv[1], subcommands[i].name) == 0)
				return subcommands[i].fn(argc - 2, argv + 2);
		if (strcmp(argv[1], "--help") == 0) {
			usage(stdout);
			return CLI_OK;
		}
		cli_error(MG_TR("%s: 不明なコマンドです", "%s: unknown command"), argv[1]);
	}
	usage(stderr);
	return CLI_USAGE;
}
