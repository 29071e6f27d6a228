/*
 * mynaguard-collector: the central collector's command line. The table below is the map of
 * the tool:
 *   init --data-dir DIR [--db URL] [--listen-name NAME] --admin NAME --admin-password-file FILE
 *   serve --data-dir DIR --listen ADDR:PORT [--db URL] [--threads N] [--ready-fd FD]
 *   token create --data-dir DIR [--db URL] [--expires DURATION] [--uses N]
 * The default database is sqlite:DIR/collector.db.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "api.h"
#include "admin_auth.h"
#include "api_body.h"
#include "ca.h"
#include "http.h"
#include "mg/config.h"
#include "mg/log.h"
#include "mg/safe_open.h"
#include "mg/time.h"
#include "store.h"

#define CA_DAYS            3650u
#define SERVER_DAYS        825u
#define POLICY_VALIDITY_US (INT64_C(7) * 86400 * 1000000) /* a terminal offline for a week */
#define SESSION_TTL_US     (INT64_C(30) * 60 * 1000000)   /* sliding */

struct opts {
	const char *data_dir;
	const char *db;
	const char *listen_name;
	const char *listen;
	const char *admin;
	const char *admin_pw_file;
	const char *expires;
	uint64_t uses;
	uint64_t threads;
	uint64_t cert_days;
	int ready_fd;
	char db_buf[PATH_MAX + 16];
};

static void usage(FILE *f)
{
	fputs("usage: mynaguard-collector init --data-dir DIR [--db URL] [--listen-name NAME]\n"
	      "                                --admin NAME --admin-password-file FILE\n"
	      "       mynaguard-collector serve --data-dir DIR --listen ADDR:PORT [--db URL]\n"
	      "                                 [--threads N] [--cert-days N] [--ready-fd FD]\n"
	      "       mynaguard-collector token create --data-dir DIR [--db URL]\n"
	      "                                 [--expires DURATION] [--uses N]\n",
	      f);
}

/* One option; -EINVAL for a bad value, -ENOENT for an unknown name. */
static int set_opt(struct opts *o, const char *k, const char *v)
{
	uint64_t n = 0;
	int r;
	if (strcmp(k, "--data-dir") == 0)
		o->data_dir = v;
	else if (strcmp(k, "--db") == 0)
		o->db = v;
	else if (strcmp(k, "--listen-name") == 0)
		o->listen_name = v;
	else if (strcmp(k, "--listen") == 0)
		o->listen = v;
	else if (strcmp(k, "--admin") == 0)
		o->admin = v;
	else if (strcmp(k, "--admin-password-file") == 0)
		o->admin_pw_file = v;
	else if (strcmp(k, "--expires") == 0)
		o->expires = v;
	else if (strcmp(k, "--uses") == 0)
		return mg_parse_u64(v, 1, 1000000, &o->uses);
	else if (strcmp(k, "--threads") == 0)
		return mg_parse_u64(v, 1, 256, &o->threads);
	else if (strcmp(k, "--cert-days") == 0)
		return mg_parse_u64(v, 1, 36500, &o->cert_days);
	else if (strcmp(k, "--ready-fd") == 0) {
		r = mg_parse_u64(v, 3, INT_MAX, &n);
		if (r == 0)
			o->ready_fd = (int)n;
		return r;
	} else
		return -ENOENT;
	return 0;
}

/*
 * Parses "--name VALUE" pairs, accepting only the options in allowed (NULL-terminated).
 * 0 or -EINVAL (already reported).
 */
static int parse_opts(int argc, char **argv, const char *const *allowed, struct opts *o)
{
	for (int i = 0; i < argc; i += 2) {
		const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		bool ok = false;
		for (size_t j = 0; allowed[j]; j++)
			ok = ok || strcmp(k, allowed[j]) == 0;
		if (!ok) {
			fprintf(stderr, "mynaguard-collector: %s: unknown option\n", k);
			return -EINVAL;
		}
		if (!v) {
			fprintf(stderr, "mynaguard-collector: %s: missing value\n", k);
			return -EINVAL;
		}
		if (set_opt(o, k, v) < 0) {
			fprintf(stderr, "mynaguard-collector: %s %s: bad value\n", k, v);
			return -EINVAL;
		}
	}
	if (!o->data_dir) {
		fprintf(stderr, "mynaguard-collector: --data-dir is required\n");
		return -EINVAL;
	}
	if (!o->db) {
		int n =
		    snprintf(o->db_buf, sizeof(o->db_buf), "sqlite:%s/collector.db", o->data_dir);
		if (n < 0 || (size_t)n >= sizeof(o->db_buf))
			return -ENAMETOOLONG;
		o->db = o->db_buf;
	}
	return 0;
}

static int open_store(const struct opts *o, struct mg_store **s)
{
	char msg[256] = "";
	int r = mg_store_open(o->db, s, msg, sizeof(msg));
	if (r < 0)
		mg_err("database %s: %s (%s)", o->db, msg, strerror(-r));
	return r;
}

/*
 * The first admin's password hash: the password is the first line of file (which must not be
 * group or world readable), checked against the password policy and hashed with Argon2id.
 */
static int admin_password_from_file(const char *file, char hash[MG_ADMIN_HASH_SIZE])
{
	struct mg_file_rules rules = {.owner = geteuid(), .secret = true, .max_size = 4096};
	const char *why = NULL;
	char *pw = NULL;
	size_t len = 0;
	int r = mg_safe_read_file(file, &rules, &pw, &len, &why);
	if (r < 0)
		return mg_log_errno(MG_LOG_ERR, r, "%s%s%s", file, why ? ": " : "", why ? why : ""),
		       r;
	pw[strcspn(pw, "\r\n")] = '\0';
	r = mg_admin_password_hash(pw, &mg_argon2_production, hash);
	explicit_bzero(pw, len);
	free(pw);
	if (r == -ERANGE || r == -EINVAL)
		return mg_err(
		           "%s: the password must be %u or more characters of UTF-8 text without "
		           "control characters",
		           file, MG_ADMIN_PASSWORD_MIN),
		       r;
	if (r < 0)
		mg_log_errno(MG_LOG_ERR, r, "hashing the admin password");
	return r;
}

static int add_first_admin(struct mg_store *s, const char *name, const char *hash)
{
	int64_t id;
	int r = mg_store_admin_add(s, NULL, name, hash, MG_ROLE_ADMIN, mg_now_us(), &id);
	if (r == -EEXIST)
		mg_err("admin %s already exists", name);
	else if (r == -EINVAL)
		mg_err("admin name %s: use 1-63 of A-Z a-z 0-9 . _ @ -", name);
	else if (r < 0)
		mg_log_errno(MG_LOG_ERR, r, "storing admin %s", name);
	return r;
}

static int cmd_init(int argc, char **argv)
{
	static const char *const allowed[] = {
	    "--data-dir", "--db", "--listen-name", "--admin", "--admin-password-file", NULL};
	struct opts o = {0};
	const char *names[4];
	size_t n = 0;
	struct mg_store *s = NULL;
	char hash[MG_ADMIN_HASH_SIZE];
	int r = parse_opts(argc, argv, allowed, &o);
	if (r < 0)
		return 2;
	if (!o.admin || !o.admin_pw_file) {
		fprintf(stderr, "mynaguard-collector: init needs --admin NAME and "
		                "--admin-password-file FILE (the first administrator)\n");
		return 2;
	}
	/* Everything that can be checked is checked before anything is created. */
	if (admin_password_from_file(o.admin_pw_file, hash) < 0)
		return 1;
	if (mkdir(o.data_dir, 0700) < 0 && errno != EEXIST)
		return mg_log_errno(MG_LOG_ERR, -errno, "mkdir %s", o.data_dir), 1;
	if (chmod(o.data_dir, 0700) < 0)
		return mg_log_errno(MG_LOG_ERR, -errno, "chmod %s", o.data_dir), 1;
	if (o.listen_name)
		names[n++] = o.listen_name;
	names[n++] = "localhost";
	names[n++] = "127.0.0.1";
	names[n++] = "::1";
	r = mg_ca_create(o.data_dir, CA_DAYS);
	if (r == -EEXIST)
		return mg_err("%s is already initialised (ca.key exists)", o.data_dir), 1;
	if (r < 0)
		return mg_log_errno(MG_LOG_ERR, r, "creating the CA in %s", o.data_dir), 1;
	r = mg_ca_create_server(o.data_dir, names, n, SERVER_DAYS);
	if (r < 0)
		return mg_log_errno(MG_LOG_ERR, r, "creating the TLS certificate"), 1;
	/* The policy-signing key: separate from the CA and TLS keys (docs/POLICY.md). */
	char keypath[PATH_MAX], pub[MG_POLICY_PUBKEY_B64_SIZE];
	struct mg_policy_key *pk = NULL;
	if (snprintf(keypath, sizeof(keypath), "%s/policy.key", o.data_dir) >= (int)sizeof(keypath))
		return mg_err("%s: path too long", o.data_dir), 1;
	r = mg_policy_key_generate(keypath, &pk);
	if (r == 0)
		r = mg_policy_key_public_b64(pk, pub);
	mg_policy_key_free(&pk);
	if (r < 0)
		return mg_log_errno(MG_LOG_ERR, r, "creating the policy-signing key"), 1;
	if (open_store(&o, &s) < 0)
		return 1;
	r = add_first_admin(s, o.admin, hash);
	explicit_bzero(hash, sizeof(hash));
	mg_store_close(&s);
	if (r < 0)
		return 1;
	printf("initialised %s (CA: %s/ca.pem)\npolicy public key: %s\n", o.data_dir, o.data_dir,
	       pub);
	return 0;
}

/* "ADDR:PORT" or "[ADDR]:PORT" into addr and port. */
static int split_listen(const char *s, char *addr, size_t size, uint16_t *port)
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

static int cmd_serve(int argc, char **argv)
{
	static const char *const allowed[] = {"--data-dir",  "--db",       "--listen", "--threads",
	                                      "--cert-days", "--ready-fd", NULL};
	struct opts o = {.threads = 4, .cert_days = 365, .ready_fd = -1};
	char addr[64];
	struct mg_http_config cfg = {0};
	struct mg_api api = {0};
	struct mg_http_server *srv = NULL;
	struct mg_store *s = NULL;
	struct mg_ca *ca = NULL;
	struct mg_policy_key *pk = NULL;
	char *key = NULL, *cert = NULL;
	sigset_t set;
	int sig = 0, ret = 1;

	if (parse_opts(argc, argv, allowed, &o) < 0)
		return 2;
	if (!o.listen || split_listen(o.listen, addr, sizeof(addr), &cfg.port) < 0) {
		fprintf(stderr, "mynaguard-collector: --listen ADDR:PORT is required\n");
		return 2;
	}
	/* Signals are taken by sigwait() below; the server's threads inherit the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

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
	if (open_store(&o, &s) < 0)
		goto done;
	api.store = s;
	api.ca = ca;
	api.policy_key = pk;
	api.policy_validity_us = POLICY_VALIDITY_US;
	api.cert_days = (uint32_t)o.cert_days;
	api.max_inflight = 64;
	api.session_ttl_us = SESSION_TTL_US;
	api.argon2 = &mg_argon2_production;
	/* Argon2id at production cost takes 64 MiB per check: one at a time keeps the RSS bounded
	 * and slows password guessing. */
	api.max_logins = 1;
	cfg.address = addr;
	cfg.key_pem = key;
	cfg.cert_pem = cert;
	cfg.trust_pem = mg_ca_pem(ca);
	cfg.threads = (unsigned)o.threads;
	cfg.max_connections = 1024;
	cfg.per_ip = 64;
	cfg.timeout_s = 30;
	cfg.handler = mg_api_handle;
	cfg.handler_ctx = &api;
	if (mg_http_start(&cfg, &srv) < 0) {
		mg_err("cannot listen on %s", o.listen);
		goto done;
	}
	mg_notice("listening on %s port %u (database: %s)", addr, mg_http_port(srv),
	          mg_store_backend(s));
	if (o.ready_fd >= 0) {
		dprintf(o.ready_fd, "%u\n", mg_http_port(srv));
		close(o.ready_fd);
	}
	if (sigwait(&set, &sig) == 0)
		mg_notice("signal %d: stopping", sig);
	ret = 0;
done:
	mg_http_stop(&srv);
	mg_store_close(&s);
	mg_ca_free(&ca);
	mg_policy_key_free(&pk);
	if (key) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	free(cert);
	return ret;
}

/* "90", "90s", "15m", "2h", "7d" into microseconds. */
static int parse_duration(const char *s, int64_t *us)
{
	char num[24];
	size_t n = strspn(s, "0123456789");
	uint64_t v, mult = 1;
	if (n == 0 || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, n);
	num[n] = '\0';
	switch (s[n]) {
	case '\0':
	case 's':
		break;
	case 'm':
		mult = 60;
		break;
	case 'h':
		mult = 3600;
		break;
	case 'd':
		mult = 86400;
		break;
	default:
		return -EINVAL;
	}
	if (s[n] && s[n + 1])
		return -EINVAL;
	if (mg_parse_u64(num, 1, 3650ull * 86400, &v) < 0 || v * mult > 3650ull * 86400)
		return -EINVAL;
	*us = (int64_t)(v * mult) * 1000000;
	return 0;
}

static int cmd_token(int argc, char **argv)
{
	static const char *const allowed[] = {"--data-dir", "--db", "--expires", "--uses", NULL};
	struct opts o = {.uses = 1, .expires = "24h"};
	unsigned char raw[32];
	unsigned char b64[48];
	char hex[65];
	struct mg_store *s = NULL;
	int64_t ttl, now = mg_now_us();
	int n, r, ret = 1;

	if (argc < 1 || strcmp(argv[0], "create") != 0) {
		usage(stderr);
		return 2;
	}
	if (parse_opts(argc - 1, argv + 1, allowed, &o) < 0)
		return 2;
	if (parse_duration(o.expires, &ttl) < 0) {
		fprintf(stderr,
		        "mynaguard-collector: --expires %s: expected e.g. 90s, 15m, 2h, 7d\n",
		        o.expires);
		return 2;
	}
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return mg_err("no random bytes"), 1;
	n = EVP_EncodeBlock(b64, raw, sizeof(raw));
	explicit_bzero(raw, sizeof(raw));
	/* base64url without padding */
	for (int i = 0; i < n; i++) {
		if (b64[i] == '+')
			b64[i] = '-';
		else if (b64[i] == '/')
			b64[i] = '_';
		else if (b64[i] == '=')
			b64[i] = '\0';
	}
	if (mg_api_sha256_hex(b64, strlen((char *)b64), hex) < 0 || open_store(&o, &s) < 0)
		goto done;
	r = mg_store_token_add(s, NULL, hex, now + ttl, (uint32_t)o.uses, now);
	if (r < 0) {
		mg_log_errno(MG_LOG_ERR, r, "storing the token");
		goto done;
	}
	printf("%s\n", (char *)b64);
	ret = 0;
done:
	explicit_bzero(b64, sizeof(b64));
	mg_store_close(&s);
	return ret;
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
} subcommands[] = {
    {"init", cmd_init},
    {"serve", cmd_serve},
    {"token", cmd_token},
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
			return 0;
		}
	}
	usage(stderr);
	return 2;
}
