/*
 * Admin accounts from the command line: the password file that `init` and `admin passwd`
 * read, `admin passwd` (recovery of a lost password by whoever runs the collector) and
 * `admin unlock` (ends the lockout after failed logins, e.g. when every admin is locked out).
 * Changes are recorded as admin actions of "cli.<user>".
 */
#include "collector_cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin_auth.h"
#include "mg/i18n.h"
#include "mg/safe_open.h"
#include "mg/time.h"

int cli_password_hash_from_file(const char *file, char hash[MG_ADMIN_HASH_SIZE])
{
	struct mg_file_rules rules = {.owner = geteuid(), .secret = true, .max_size = 4096};
	const char *why = NULL;
	char *pw = NULL;
	size_t len = 0;
	int r = mg_safe_read_file(file, &rules, &pw, &len, &why);
	if (r < 0) {
		cli_error(MG_TR("%s: 使えません (%s)。自分の所有で 0600 のファイルにしてください",
		                "%s: refused (%s); it must be yours with mode 0600"),
		          file, why ? why : strerror(-r));
		return r;
	}
	pw[strcspn(pw, "\r\n")] = '\0';
	r = mg_admin_password_hash(pw, &mg_argon2_production, hash);
	explicit_bzero(pw, len);
	free(pw);
	if (r == -ERANGE || r == -EINVAL)
		cli_error(
		    MG_TR("%s: パスワードは制御文字を含まない UTF-8 の %u 文字以上にしてください",
		          "%s: the password must be %u or more characters of UTF-8 text "
		          "without control characters"),
		    file, MG_ADMIN_PASSWORD_MIN);
	else if (r < 0)
		cli_error(
		    MG_TR("パスワードをハッシュできません: %s", "cannot hash the password: %s"),
		    strerror(-r));
	return r;
}

static int passwd(const struct cli_opts *o)
{
	struct mg_store *s = NULL;
	struct mg_store_admin a;
	char hash[MG_ADMIN_HASH_SIZE], actor[MG_STORE_NAME_SIZE];
	struct mg_store_actor by = {.admin = actor, .remote = NULL};
	int r, ret = CLI_RUNTIME;

	if (cli_password_hash_from_file(o->password_file, hash) < 0)
		return CLI_RUNTIME;
	if (cli_open_store(o, &s) < 0)
		goto done;
	r = mg_store_admin_get(s, o->name, &a);
	explicit_bzero(a.password_hash, sizeof(a.password_hash));
	if (r == -ENOENT || r == -EINVAL) {
		cli_error(MG_TR("管理者 %s はいません", "no admin is named %s"), o->name);
		goto done;
	}
	cli_actor_name(actor);
	if (r == 0)
		r = mg_store_admin_set_password(s, &by, a.id, hash, mg_now_us());
	if (r < 0) {
		cli_error(MG_TR("パスワードを変更できません: %s", "cannot change the password: %s"),
		          strerror(-r));
		goto done;
	}
	printf(MG_TR("管理者 %s のパスワードを変更しました\n", "password of admin %s changed\n"),
	       o->name);
	if (a.disabled)
		cli_error(
		    MG_TR("注意: 管理者 %s は無効のままです", "note: admin %s stays disabled"),
		    o->name);
	ret = CLI_OK;
done:
	explicit_bzero(hash, sizeof(hash));
	mg_store_close(&s);
	return ret;
}

static int unlock(const struct cli_opts *o)
{
	struct mg_store *s = NULL;
	struct mg_store_admin a;
	char actor[MG_STORE_NAME_SIZE];
	struct mg_store_actor by = {.admin = actor, .remote = NULL};
	int r, ret = CLI_RUNTIME;

	if (cli_open_store(o, &s) < 0)
		goto done;
	r = mg_store_admin_get(s, o->name, &a);
	explicit_bzero(a.password_hash, sizeof(a.password_hash));
	if (r == -ENOENT || r == -EINVAL) {
		cli_error(MG_TR("管理者 %s はいません", "no admin is named %s"), o->name);
		goto done;
	}
	cli_actor_name(actor);
	if (r == 0)
		r = mg_store_admin_unlock(s, &by, a.id, mg_now_us());
	if (r == -EALREADY) {
		printf(MG_TR("管理者 %s はロックされていません\n", "admin %s is not locked\n"),
		       o->name);
		ret = CLI_OK;
		goto done;
	}
	if (r < 0) {
		cli_error(MG_TR("ロックを解除できません: %s", "cannot unlock: %s"), strerror(-r));
		goto done;
	}
	printf(MG_TR("管理者 %s のロックを解除しました\n", "admin %s unlocked\n"), o->name);
	ret = CLI_OK;
done:
	mg_store_close(&s);
	return ret;
}

int cli_admin(int argc, char **argv)
{
	static const char *const allowed[] = {"--config", "--data-dir",      "--db",
	                                      "--name",   "--password-file", NULL};
	static const char *const allowed_unlock[] = {"--config", "--data-dir", "--db", "--name",
	                                             NULL};
	struct cli_opts o = {.ready_fd = -1};
	int ret = CLI_USAGE;
	if (argc >= 1 && strcmp(argv[0], "unlock") == 0) {
		if (cli_parse(argc - 1, argv + 1, allowed_unlock, 0, &o) < 0)
			goto done;
		if (!o.name) {
			cli_error(MG_TR("admin unlock には --name NAME が必要です",
			                "admin unlock needs --name NAME"));
			goto done;
		}
		ret = unlock(&o);
		goto done;
	}
	if (argc < 1 || strcmp(argv[0], "passwd") != 0) {
		cli_error(
		    MG_TR("使い方: admin passwd --data-dir DIR --name NAME --password-file FILE\n"
		          "      admin unlock --data-dir DIR --name NAME",
		          "usage: admin passwd --data-dir DIR --name NAME --password-file FILE\n"
		          "       admin unlock --data-dir DIR --name NAME"));
		return CLI_USAGE;
	}
	if (cli_parse(argc - 1, argv + 1, allowed, 0, &o) < 0)
		goto done;
	if (!o.name || !o.password_file) {
		cli_error(MG_TR("admin passwd には --name NAME と --password-file FILE が必要です",
		                "admin passwd needs --name NAME and --password-file FILE"));
		goto done;
	}
	ret = passwd(&o);
done:
	cli_opts_free(&o);
	return ret;
}
