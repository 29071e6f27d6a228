/*
 * `mynaguard-collector init`: a new data directory (0700) with the CA, the TLS key and
 * certificate, the policy-signing key and the database with its first administrator.
 */
#include "collector_cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin_auth.h"
#include "ca.h"
#include "mg/i18n.h"
#include "mg/log.h"
#include "mg/time.h"
#include "policy_sign.h"

#define CA_DAYS     3650u
#define SERVER_DAYS 825u

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

static int init(const struct cli_opts *o)
{
	const char *names[4];
	size_t n = 0;
	struct mg_store *s = NULL;
	char hash[MG_ADMIN_HASH_SIZE];
	char keypath[PATH_MAX], pub[MG_POLICY_PUBKEY_B64_SIZE];
	struct mg_policy_key *pk = NULL;
	int r;

	/* Everything that can be checked is checked before anything is created. */
	if (cli_password_hash_from_file(o->admin_pw_file, hash) < 0)
		return CLI_RUNTIME;
	if (mkdir(o->data_dir, 0700) < 0 && errno != EEXIST)
		return mg_log_errno(MG_LOG_ERR, -errno, "mkdir %s", o->data_dir), CLI_RUNTIME;
	if (chmod(o->data_dir, 0700) < 0)
		return mg_log_errno(MG_LOG_ERR, -errno, "chmod %s", o->data_dir), CLI_RUNTIME;
	if (o->listen_name)
		names[n++] = o->listen_name;
	names[n++] = "localhost";
	names[n++] = "127.0.0.1";
	names[n++] = "::1";
	r = mg_ca_create(o->data_dir, CA_DAYS);
	if (r == -EEXIST)
		return mg_err("%s is already initialised (ca.key exists)", o->data_dir),
		       CLI_RUNTIME;
	if (r < 0)
		return mg_log_errno(MG_LOG_ERR, r, "creating the CA in %s", o->data_dir),
		       CLI_RUNTIME;
	r = mg_ca_create_server(o->data_dir, names, n, SERVER_DAYS);
	if (r < 0)
		return mg_log_errno(MG_LOG_ERR, r, "creating the TLS certificate"), CLI_RUNTIME;
	/* The policy-signing key: separate from the CA and TLS keys (docs/POLICY.md). */
	if (snprintf(keypath, sizeof(keypath), "%s/policy.key", o->data_dir) >=
	    (int)sizeof(keypath))
		return mg_err("%s: path too long", o->data_dir), CLI_RUNTIME;
	r = mg_policy_key_generate(keypath, &pk);
	if (r == 0)
		r = mg_policy_key_public_b64(pk, pub);
	mg_policy_key_free(&pk);
	if (r < 0)
		return mg_log_errno(MG_LOG_ERR, r, "creating the policy-signing key"), CLI_RUNTIME;
	if (cli_open_store(o, &s) < 0)
		return CLI_RUNTIME;
	r = add_first_admin(s, o->admin, hash);
	explicit_bzero(hash, sizeof(hash));
	mg_store_close(&s);
	if (r < 0)
		return CLI_RUNTIME;
	printf("initialised %s (CA: %s/ca.pem)\npolicy public key: %s\n", o->data_dir, o->data_dir,
	       pub);
	return CLI_OK;
}

int cli_init(int argc, char **argv)
{
	static const char *const allowed[] = {
	    "--config", "--data-dir", "--db", "--listen-name", "--admin", "--admin-password-file",
	    NULL};
	struct cli_opts o = {.ready_fd = -1};
	int ret = CLI_USAGE;
	if (cli_parse(argc, argv, allowed, 0, &o) < 0)
		goto done;
	if (!o.admin || !o.admin_pw_file) {
		cli_error(MG_TR("init には --admin NAME と --admin-password-file FILE "
		                "(最初の管理者) が必要です",
		                "init needs --admin NAME and --admin-password-file FILE (the first "
		                "administrator)"));
		goto done;
	}
	ret = init(&o);
done:
	cli_opts_free(&o);
	return ret;
}
