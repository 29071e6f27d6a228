/*
 * The command line of mynaguard-collector's subcommands: strict option parsing (unknown,
 * repeated and misplaced options are errors), --config, the data directory and database,
 * and the small value parsers the subcommands share.
 */
#include "collector_cli.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mg/i18n.h"
#include "mg/log.h"
#include "mg/time.h"

void cli_error(const char *fmt, ...)
{
	va_list ap;
	fputs("mynaguard-collector: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static bool is_flag(const char *k)
{
	return strcmp(k, "--json") == 0;
}

/* One option with a value; -EINVAL for a bad value, -ENOENT for an unknown name. */
static int set_opt(struct cli_opts *o, const char *k, const char *v)
{
	uint64_t n = 0;
	int r;
	static const struct {
		const char *name;
		size_t offset;
	} strs[] = {
	    {"--config", offsetof(struct cli_opts, config)},
	    {"--data-dir", offsetof(struct cli_opts, opt_data_dir)},
	    {"--db", offsetof(struct cli_opts, opt_db)},
	    {"--listen", offsetof(struct cli_opts, opt_listen)},
	    {"--listen-name", offsetof(struct cli_opts, listen_name)},
	    {"--admin", offsetof(struct cli_opts, admin)},
	    {"--admin-password-file", offsetof(struct cli_opts, admin_pw_file)},
	    {"--name", offsetof(struct cli_opts, name)},
	    {"--password-file", offsetof(struct cli_opts, password_file)},
	    {"--expires", offsetof(struct cli_opts, expires)},
	    {"--comment", offsetof(struct cli_opts, comment)},
	    {"--rule", offsetof(struct cli_opts, rule)},
	    {"--host", offsetof(struct cli_opts, host)},
	    {"--type", offsetof(struct cli_opts, type)},
	    {"--user", offsetof(struct cli_opts, user)},
	    {"--serial", offsetof(struct cli_opts, serial)},
	    {"--from", offsetof(struct cli_opts, from)},
	    {"--to", offsetof(struct cli_opts, to)},
	    {"--login", offsetof(struct cli_opts, login)},
	    {"--display-name", offsetof(struct cli_opts, display_name)},
	    {"--department", offsetof(struct cli_opts, department)},
	};
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		if (strcmp(k, strs[i].name) == 0) {
			if (!*v)
				return -EINVAL;
			*(const char **)(void *)((char *)o + strs[i].offset) = v;
			return 0;
		}
	}
	if (strcmp(k, "--uses") == 0)
		return mg_parse_u64(v, 1, 1000000, &o->uses);
	if (strcmp(k, "--limit") == 0)
		return mg_parse_u64(v, 1, UINT64_C(1) << 53, &o->limit);
	if (strcmp(k, "--ready-fd") == 0) {
		r = mg_parse_u64(v, 3, INT_MAX, &n);
		if (r == 0)
			o->ready_fd = (int)n;
		return r;
	}
	return -ENOENT;
}

/* "--max-connections" -> "max_connections" when that is a limit key of collector.conf. */
static bool limit_key(const char *opt, char *key, size_t size)
{
	size_t n = strlen(opt);
	if (n < 3 || n - 2 >= size || strncmp(opt, "--", 2) != 0)
		return false;
	for (size_t i = 2; i <= n; i++)
		key[i - 2] = opt[i] == '-' ? '_' : opt[i];
	for (size_t i = 0; i < mg_collector_conf_nkeys; i++) {
		const struct mg_config_key *k = &mg_collector_conf_keys[i];
		if (strcmp(k->name, key) == 0)
			return k->type == MG_CFG_UINT || k->type == MG_CFG_DURATION;
	}
	return false;
}

static bool allowed_has(const char *const *allowed, const char *k)
{
	for (size_t j = 0; allowed[j]; j++)
		if (strcmp(k, allowed[j]) == 0)
			return true;
	return false;
}

/* The options of argv into o, before the config file. 0 or -EINVAL (reported). */
static int parse_argv(int argc, char **argv, const char *const *allowed, size_t max_pos,
                      struct cli_opts *o)
{
	const char *seen[48];
	size_t nseen = 0;
	char key[64];
	for (int i = 0; i < argc; i++) {
		const char *k = argv[i], *v;
		bool limit;
		if (strncmp(k, "--", 2) != 0) {
			if (o->npos >= max_pos || o->npos >= sizeof(o->pos) / sizeof(o->pos[0])) {
				cli_error(MG_TR("%s: 余分な引数です", "%s: unexpected argument"),
				          k);
				return -EINVAL;
			}
			o->pos[o->npos++] = k;
			continue;
		}
		limit = allowed_has(allowed, CLI_LIMIT_OPTS) && limit_key(k, key, sizeof(key));
		if (!limit && !allowed_has(allowed, k)) {
			cli_error(MG_TR("%s: このコマンドにはないオプションです",
			                "%s: unknown option for this command"),
			          k);
			return -EINVAL;
		}
		for (size_t j = 0; j < nseen; j++) {
			if (strcmp(seen[j], k) == 0) {
				cli_error(MG_TR("%s: 二度指定されています", "%s: given twice"), k);
				return -EINVAL;
			}
		}
		if (nseen < sizeof(seen) / sizeof(seen[0]))
			seen[nseen++] = k;
		if (is_flag(k)) {
			o->json = true;
			continue;
		}
		if (i + 1 >= argc) {
			cli_error(MG_TR("%s: 値がありません", "%s: missing value"), k);
			return -EINVAL;
		}
		v = argv[++i];
		if (limit) {
			if (o->nlimits >= sizeof(o->limits) / sizeof(o->limits[0]))
				return cli_error("%s: too many options", k), -EINVAL;
			/* key points into argv: the option text minus "--", dashes as given */
			o->limits[o->nlimits].key = k;
			o->limits[o->nlimits++].value = v;
			continue;
		}
		if (set_opt(o, k, v) < 0) {
			cli_error(MG_TR("%s %s: 値が正しくありません", "%s %s: bad value"), k, v);
			return -EINVAL;
		}
	}
	return 0;
}

/* Defaults, --config FILE, then the limit options. 0 or -EINVAL (reported). */
static int load_conf(struct cli_opts *o)
{
	struct mg_config_error err = {0};
	char buf[800], msg[256], key[64];
	int r = mg_config_init(mg_collector_conf_keys, mg_collector_conf_nkeys, &o->conf, &err);
	o->conf_ready = true;
	if (r == 0 && o->config)
		r = mg_collector_conf_load(o->config, &o->conf, &err);
	if (r < 0) {
		cli_error(MG_TR("設定エラー: %s", "configuration error: %s"),
		          mg_config_error_str(&err, buf, sizeof(buf)));
		return -EINVAL;
	}
	for (size_t i = 0; i < o->nlimits; i++) {
		limit_key(o->limits[i].key, key, sizeof(key));
		if (mg_collector_conf_set(&o->conf, key, o->limits[i].value, &err) < 0) {
			cli_error(
			    MG_TR("%s %s: 値が正しくありません (%s)", "%s %s: bad value (%s)"),
			    o->limits[i].key, o->limits[i].value, err.msg);
			return -EINVAL;
		}
	}
	if (mg_collector_conf_check(&o->conf, msg, sizeof(msg)) < 0) {
		cli_error(MG_TR("設定エラー: %s", "configuration error: %s"), msg);
		return -EINVAL;
	}
	return 0;
}

int cli_parse(int argc, char **argv, const char *const *allowed, size_t max_pos, struct cli_opts *o)
{
	if (parse_argv(argc, argv, allowed, max_pos, o) < 0 || load_conf(o) < 0)
		return -EINVAL;
	o->data_dir = o->opt_data_dir ? o->opt_data_dir : o->conf.data_dir;
	o->listen = o->opt_listen ? o->opt_listen : o->conf.listen;
	o->db = o->opt_db ? o->opt_db : o->conf.database;
	if (!o->data_dir) {
		cli_error(MG_TR("--data-dir DIR (または設定ファイルの data_dir) が必要です",
		                "--data-dir DIR (or data_dir in the config file) is required"));
		return -EINVAL;
	}
	if (!o->db) {
		int n =
		    snprintf(o->db_buf, sizeof(o->db_buf), "sqlite:%s/collector.db", o->data_dir);
		if (n < 0 || (size_t)n >= sizeof(o->db_buf)) {
			cli_error("%s: %s", o->data_dir,
			          MG_TR("パスが長すぎます", "path too long"));
			return -EINVAL;
		}
		o->db = o->db_buf;
	}
	return 0;
}

void cli_opts_free(struct cli_opts *o)
{
	if (o->conf_ready)
		mg_collector_conf_free(&o->conf);
	o->conf_ready = false;
}

int cli_open_store(const struct cli_opts *o, struct mg_store **s)
{
	char msg[256] = "";
	int r = mg_store_open(o->db, s, msg, sizeof(msg));
	if (r < 0)
		cli_error(MG_TR("データベース %s を開けません: %s (%s)",
		                "cannot open the database %s: %s (%s)"),
		          o->db, msg, strerror(-r));
	return r;
}

int cli_parse_duration(const char *s, int64_t *us)
{
	uint64_t v;
	if (mg_parse_duration(s, &v) < 0 || v < 1 || v > 3650ull * 86400)
		return -EINVAL;
	*us = (int64_t)v * 1000000;
	return 0;
}

int cli_parse_when(const char *s, int64_t now_us, int64_t *us)
{
	int64_t d;
	if (mg_time_parse(s, us) == 0)
		return 0;
	if (cli_parse_duration(s, &d) < 0)
		return -EINVAL;
	*us = now_us + d;
	return 0;
}

void cli_actor_name(char out[MG_STORE_NAME_SIZE])
{
	char buf[4096];
	struct passwd pw, *res = NULL;
	size_t n;
	uid_t uid = geteuid();
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) != 0 || !res)
		res = NULL;
	if (res && res->pw_name[0])
		snprintf(out, MG_STORE_NAME_SIZE, "cli.%s", res->pw_name);
	else
		snprintf(out, MG_STORE_NAME_SIZE, "cli.uid%u", (unsigned)uid);
	/* The store takes [A-Za-z0-9._@-]; a user name may hold more. */
	n = strlen(out);
	for (size_t i = 0; i < n; i++) {
		char c = out[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '@' || c == '-'))
			out[i] = '_';
	}
}
