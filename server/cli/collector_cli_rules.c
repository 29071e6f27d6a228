/*
 * `mynaguard-collector rules list|add|remove`: the collector's device rules. A change is
 * checked with the agents' own rules parser, recorded as an admin action of "cli.<user>" and
 * published at once as a new signed policy version (rule_ops.h), signed with DIR/policy.key.
 */
#include "collector_cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mg/i18n.h"
#include "mg/time.h"
#include "rule_ops.h"

#define W_ID      6u
#define W_HOST    8u
#define W_EXPIRES 25u
#define W_BY      16u

/* ---- list ---- */

struct list_ctx {
	bool json;
	int64_t now_us;
};

static int print_rule_json(const struct mg_store_rule *r)
{
	char exp[MG_RFC3339_LEN], created[MG_RFC3339_LEN];
	json_t *o;
	if (mg_time_format(r->created_us, created) < 0)
		created[0] = '\0';
	if (r->expires_us && mg_time_format(r->expires_us, exp) < 0)
		exp[0] = '\0';
	o = json_pack("{s:I,s:s,s:I,s:o,s:s,s:s,s:I,s:s}", "id", (json_int_t)r->id, "rule", r->text,
	              "host_id", (json_int_t)r->host_id, "expires",
	              r->expires_us ? json_string(exp) : json_null(), "created", created,
	              "created_by", r->created_by, "request_id", (json_int_t)r->request_id,
	              "comment", r->comment);
	return cli_json_line(o);
}

static int on_rule(void *ctx, const struct mg_store_rule *r)
{
	const struct list_ctx *l = ctx;
	char id[24], host[24], exp[96], text[MG_STORE_RULE_SIZE + MG_STORE_TEXT_SIZE + 8];
	if (l->json)
		return print_rule_json(r);
	snprintf(id, sizeof(id), "%" PRId64, r->id);
	if (r->host_id)
		snprintf(host, sizeof(host), "%" PRId64, r->host_id);
	else
		snprintf(host, sizeof(host), "%s", MG_TR("全端末", "all"));
	cli_time_text(r->expires_us, exp, sizeof(exp));
	if (r->expires_us && r->expires_us <= l->now_us) {
		size_t n = strlen(exp);
		snprintf(exp + n, sizeof(exp) - n, "%s", MG_TR(" (期限切れ)", " (expired)"));
	}
	snprintf(text, sizeof(text), "%s%s%s", r->text, r->comment[0] ? "  # " : "", r->comment);
	cli_cell(stdout, id, W_ID);
	cli_cell(stdout, host, W_HOST);
	cli_cell(stdout, exp, W_EXPIRES);
	cli_cell(stdout, r->created_by[0] ? r->created_by : "-", W_BY);
	cli_cell(stdout, text, 0);
	return ferror(stdout) ? -EIO : 0;
}

static int rules_list(struct cli_opts *o, struct mg_store *s, int64_t host_id)
{
	struct list_ctx l = {.json = o->json, .now_us = mg_now_us()};
	int r;
	if (!o->json) {
		cli_cell(stdout, "ID", W_ID);
		cli_cell(stdout, MG_TR("対象", "HOST"), W_HOST);
		cli_cell(stdout, MG_TR("期限", "EXPIRES"), W_EXPIRES);
		cli_cell(stdout, MG_TR("作成者", "BY"), W_BY);
		cli_cell(stdout, MG_TR("ルール", "RULE"), 0);
	}
	/* now 0: expired rules are listed too (and marked); they are no longer published. */
	r = mg_store_rules_foreach(s, host_id, 0, on_rule, &l);
	if (r == 0 && fflush(stdout) != 0)
		r = -EIO;
	if (r < 0) {
		cli_error(MG_TR("ルールを読めません: %s", "cannot read the rules: %s"),
		          strerror(-r));
		return CLI_RUNTIME;
	}
	return CLI_OK;
}

/* ---- add, remove ---- */

/* The policy-signing key and the rest of what publishing needs. */
static int ops_open(const struct cli_opts *o, struct mg_store *s, struct mg_policy_key **pk,
                    struct mg_rule_ops *ops)
{
	char keypath[PATH_MAX];
	int r;
	if (snprintf(keypath, sizeof(keypath), "%s/policy.key", o->data_dir) >=
	    (int)sizeof(keypath))
		return -ENAMETOOLONG;
	r = mg_policy_key_load(keypath, pk);
	if (r < 0) {
		cli_error(MG_TR("署名鍵 %s を読めません: %s (コレクターの利用者で実行してください)",
		                "cannot load the policy-signing key %s: %s (run this as the "
		                "collector's user)"),
		          keypath, strerror(-r));
		return r;
	}
	*ops = (struct mg_rule_ops){
	    .store = s, .key = *pk, .validity_us = (int64_t)o->conf.policy_validity * 1000000};
	return 0;
}

static void print_result(const struct cli_opts *o, const char *what, int64_t rule_id,
                         uint64_t version)
{
	if (o->json)
		printf("{\"policy_version\":%" PRIu64 ",\"rule_id\":%" PRId64 "}\n", version,
		       rule_id);
	else if (strcmp(what, "add") == 0)
		printf(MG_TR("ルール %" PRId64 " を追加し、ポリシー版 %" PRIu64 " を発行しました\n",
		             "rule %" PRId64 " added; policy version %" PRIu64 " published\n"),
		       rule_id, version);
	else
		printf(MG_TR("ルール %" PRId64 " を削除し、ポリシー版 %" PRIu64 " を発行しました\n",
		             "rule %" PRId64 " removed; policy version %" PRIu64 " published\n"),
		       rule_id, version);
}

/* The change is stored but no version was published (rule_ops.h). */
static int publish_failed(int64_t rule_id, int r)
{
	cli_error(MG_TR("ルール %" PRId64 " は保存しましたが、ポリシーを発行できませんでした: %s "
	                "(動作中のコレクターが後で発行します)",
	                "rule %" PRId64 " is stored, but no policy version was published: %s (a "
	                "running collector publishes it later)"),
	          rule_id, strerror(-r));
	return CLI_RUNTIME;
}

static int rules_add(const struct cli_opts *o, struct mg_store *s, int64_t host_id)
{
	struct mg_policy_key *pk = NULL;
	struct mg_rule_ops ops;
	char actor[MG_STORE_NAME_SIZE], err[512] = "";
	struct mg_store_actor by = {.admin = actor, .remote = NULL};
	int64_t now = mg_now_us(), expires = 0, id = 0;
	uint64_t version = 0;
	int r, ret = CLI_RUNTIME;

	if (o->expires && (cli_parse_when(o->expires, now, &expires) < 0 || expires <= now)) {
		cli_error(MG_TR("--expires %s: 未来の時刻 (RFC 3339) か期間 (90m, 8h, 30d) で"
		                "指定してください",
		                "--expires %s: expected a future RFC 3339 time or a duration such "
		                "as 90m, 8h, 30d"),
		          o->expires);
		return CLI_USAGE;
	}
	/* Checked before the key is needed: a bad rule is reported the same everywhere. */
	if (mg_rule_check(o->rule, err, sizeof(err)) < 0) {
		cli_error(MG_TR("ルールが正しくありません: %s", "bad rule: %s"), err);
		return CLI_RUNTIME;
	}
	if (ops_open(o, s, &pk, &ops) < 0)
		goto done;
	cli_actor_name(actor);
	r = mg_rule_ops_add(&ops, &by, o->rule, host_id, expires, o->comment, now, &id, &version,
	                    err, sizeof(err));
	if (r < 0 && id > 0) {
		ret = publish_failed(id, r);
		goto done;
	}
	if (r < 0) {
		cli_error(MG_TR("ルールを追加できません: %s", "cannot add the rule: %s"),
		          err[0] ? err : strerror(-r));
		goto done;
	}
	print_result(o, "add", id, version);
	ret = CLI_OK;
done:
	mg_policy_key_free(&pk);
	return ret;
}

struct find {
	int64_t id;
	bool found;
};

static int find_rule(void *ctx, const struct mg_store_rule *r)
{
	struct find *f = ctx;
	if (r->id != f->id)
		return 0;
	f->found = true;
	return 1;
}

static int rules_remove(const struct cli_opts *o, struct mg_store *s, int64_t id)
{
	struct mg_policy_key *pk = NULL;
	struct mg_rule_ops ops;
	char actor[MG_STORE_NAME_SIZE];
	struct mg_store_actor by = {.admin = actor, .remote = NULL};
	uint64_t version = 0;
	struct find f = {.id = id};
	int r, ret = CLI_RUNTIME;

	if (ops_open(o, s, &pk, &ops) < 0)
		goto done;
	cli_actor_name(actor);
	r = mg_rule_ops_remove(&ops, &by, id, mg_now_us(), &version);
	if (r == -ENOENT) {
		cli_error(
		    MG_TR("ルール %" PRId64 " はありません", "rule %" PRId64 " does not exist"),
		    id);
		goto done;
	}
	/* Removed but not published, or not removed: the rule tells which. */
	if (r < 0 && mg_store_rules_foreach(s, 0, 0, find_rule, &f) == 0 && !f.found) {
		ret = publish_failed(id, r);
		goto done;
	}
	if (r < 0) {
		cli_error(MG_TR("ルール %" PRId64 " を削除できません: %s",
		                "cannot remove rule %" PRId64 ": %s"),
		          id, strerror(-r));
		goto done;
	}
	print_result(o, "remove", id, version);
	ret = CLI_OK;
done:
	mg_policy_key_free(&pk);
	return ret;
}

/* --host ID into host_id (0: absent). 0, or an exit status (reported). */
static int host_arg(const struct cli_opts *o, struct mg_store *s, int64_t *host_id)
{
	struct mg_store_host h;
	uint64_t n;
	*host_id = 0;
	if (!o->host)
		return 0;
	if (mg_parse_u64(o->host, 1, INT64_MAX, &n) < 0) {
		cli_error(MG_TR("--host %s: 端末の ID (hosts で確認できます) で指定してください",
		                "--host %s: expected a host id (see `hosts`)"),
		          o->host);
		return CLI_USAGE;
	}
	if (mg_store_host_get(s, (int64_t)n, &h) < 0) {
		cli_error(MG_TR("--host %s: その ID の端末はありません",
		                "--host %s: no host has this id"),
		          o->host);
		return CLI_RUNTIME;
	}
	*host_id = (int64_t)n;
	return 0;
}

int cli_rules(int argc, char **argv)
{
	static const char *const list_opts[] = {"--config", "--data-dir", "--db",
	                                        "--host",   "--json",     NULL};
	static const char *const add_opts[] = {"--config", "--data-dir", "--db",
	                                       "--host",   "--expires",  "--comment",
	                                       "--rule",   "--json",     NULL};
	static const char *const remove_opts[] = {"--config", "--data-dir", "--db", "--json", NULL};
	struct cli_opts o = {.ready_fd = -1};
	struct mg_store *s = NULL;
	const char *sub = argc > 0 ? argv[0] : "";
	bool list = strcmp(sub, "list") == 0, add = strcmp(sub, "add") == 0,
	     remove = strcmp(sub, "remove") == 0;
	int64_t host_id = 0;
	uint64_t rule_id = 0;
	int ret = CLI_USAGE;

	if (!list && !add && !remove) {
		cli_error(MG_TR("使い方: rules list|add|remove --data-dir DIR ...",
		                "usage: rules list|add|remove --data-dir DIR ..."));
		return CLI_USAGE;
	}
	if (cli_parse(argc - 1, argv + 1,
	              list  ? list_opts
	              : add ? add_opts
	                    : remove_opts,
	              remove ? 1 : 0, &o) < 0)
		goto done;
	if (add && !o.rule) {
		cli_error(MG_TR("rules add には --rule 'allow id VVVV:PPPP ...' が必要です",
		                "rules add needs --rule 'allow id VVVV:PPPP ...'"));
		goto done;
	}
	if (remove && (o.npos != 1 || mg_parse_u64(o.pos[0], 1, INT64_MAX, &rule_id) < 0)) {
		cli_error(MG_TR("rules remove には削除するルールの ID が必要です",
		                "rules remove needs the id of the rule to remove"));
		goto done;
	}
	ret = CLI_RUNTIME;
	if (cli_open_store(&o, &s) < 0)
		goto done;
	if ((ret = host_arg(&o, s, &host_id)) != 0)
		goto done;
	ret = list  ? rules_list(&o, s, host_id)
	      : add ? rules_add(&o, s, host_id)
	            : rules_remove(&o, s, (int64_t)rule_id);
done:
	mg_store_close(&s);
	cli_opts_free(&o);
	return ret;
}
