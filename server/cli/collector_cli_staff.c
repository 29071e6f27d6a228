/*
 * `mynaguard-collector staff` (issue 15, docs/COLLECTOR-CLI.md): the staff registry from the
 * command line. list / show print (a table for people, or --json one JSON object per line);
 * add, disable, enable, approve, revoke-key and unlock change it, are recorded as admin
 * actions of "cli.<user>", and are published at once as a new signed policy version (signed
 * with DIR/policy.key; a failed publish leaves the change stored for the policy refresh of
 * `serve`, and says so).
 */
#include "collector_cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mg/i18n.h"
#include "mg/time.h"
#include "mg/user_name.h"
#include "policy_build.h"

static json_t *time_or_null(int64_t us)
{
	char buf[MG_RFC3339_LEN];
	if (us <= 0 || mg_time_format(us, buf) < 0)
		return json_null();
	return json_string(buf);
}

static json_t *staff_json(const struct mg_store_staff *m)
{
	return json_pack("{s:I,s:s,s:s,s:s,s:s,s:o,s:o}", "id", (json_int_t)m->id, "login",
	                 m->login, "display_name", m->display_name, "department", m->department,
	                 "state", m->disabled ? "disabled" : "active", "created_at",
	                 time_or_null(m->created_us), "unlocked_at", time_or_null(m->unlocked_us));
}

static json_t *key_json(const struct mg_store_staff_key *k)
{
	return json_pack("{s:I,s:s,s:s,s:s,s:s,s:b,s:s,s:I,s:o,s:s}", "id", (json_int_t)k->id,
	                 "login", k->login, "label", k->label, "credential_id", k->credential_id,
	                 "state", mg_staff_key_state_name(k->state), "uv", (int)k->uv, "aaguid",
	                 k->aaguid, "registered_by_host", (json_int_t)k->registered_by_host,
	                 "decided_at", time_or_null(k->decided_us), "decided_by", k->decided_by);
}

static const char *state_text(bool disabled)
{
	return disabled ? MG_TR("無効", "disabled") : MG_TR("有効", "active");
}

static int on_staff(void *ctx, const struct mg_store_staff *m)
{
	const bool *json = ctx;
	char id[24];
	if (*json)
		return cli_json_line(staff_json(m));
	snprintf(id, sizeof(id), "%" PRId64, m->id);
	cli_cell(stdout, id, 6);
	cli_cell(stdout, m->login, 24);
	cli_cell(stdout, m->display_name, 20);
	cli_cell(stdout, m->department, 16);
	cli_cell(stdout, state_text(m->disabled), 0);
	return ferror(stdout) ? -EIO : 0;
}

static int on_key(void *ctx, const struct mg_store_staff_key *k)
{
	const bool *json = ctx;
	char id[24];
	if (*json)
		return cli_json_line(key_json(k));
	snprintf(id, sizeof(id), "%" PRId64, k->id);
	printf("  %s %s: %s  %s  %s\n", MG_TR("鍵", "key"), id, k->label,
	       mg_staff_key_state_name(k->state), k->credential_id);
	return ferror(stdout) ? -EIO : 0;
}

/* Publishes after a change; prints what happened. */
static int publish(const struct cli_opts *o, struct mg_store *s, const struct mg_store_actor *by,
                   const char *done)
{
	char keypath[PATH_MAX];
	struct mg_policy_key *pk = NULL;
	uint64_t version = 0;
	int r = -ENAMETOOLONG;
	if (snprintf(keypath, sizeof(keypath), "%s/policy.key", o->data_dir) < (int)sizeof(keypath))
		r = mg_policy_key_load(keypath, &pk);
	if (r == 0)
		r = mg_policy_publish(s, by, pk, mg_now_us(),
		                      (int64_t)o->conf.policy_validity * 1000000, &version);
	mg_policy_key_free(&pk);
	if (r < 0) {
		cli_error(MG_TR("%s。ただし新しいポリシー版を公開できませんでした: %s (serve "
		                "のポリシー更新が後で公開します)",
		                "%s, but no policy version was published: %s (the policy refresh "
		                "of serve publishes it later)"),
		          done, strerror(-r));
		return CLI_RUNTIME;
	}
	if (o->json)
		printf("{\"policy_version\":%" PRIu64 "}\n", version);
	else
		printf(MG_TR("%s。ポリシー版 %" PRIu64 " を公開しました\n",
		             "%s; policy version %" PRIu64 " published\n"),
		       done, version);
	return fflush(stdout) == 0 ? CLI_OK : CLI_RUNTIME;
}

static int store_failed(int r, const char *what)
{
	if (r == -ENOENT)
		cli_error(MG_TR("%s が見つかりません", "%s: not found"), what);
	else if (r == -EALREADY)
		cli_error(MG_TR("%s はすでにその状態です", "%s is already in that state"), what);
	else if (r == -EEXIST)
		cli_error(MG_TR("%s はすでに登録されています", "%s is already registered"), what);
	else if (r == -EDQUOT)
		cli_error(MG_TR("%s: 職員の有効な鍵は %u 個までです",
		                "%s: a staff member has at most %u active keys"),
		          what, MG_STORE_MAX_STAFF_KEYS);
	else if (r == -EINVAL)
		cli_error(
		    MG_TR("%s: 値が正しくありません (ログイン名は A-Z a-z 0-9 @ . - _ の 1〜255 "
		          "バイト、先頭は - と . 以外)",
		          "%s: invalid value (a login name is 1-255 bytes of A-Z a-z 0-9 @ . - "
		          "_, not starting with - or .)"),
		    what);
	else
		cli_error(MG_TR("%s: 保存できません: %s", "%s: cannot store: %s"), what,
		          strerror(-r));
	return CLI_RUNTIME;
}

static int member_arg(const struct cli_opts *o, struct mg_store *s, struct mg_store_staff *m)
{
	if (o->npos != 1 || !mg_user_name_valid_str(o->pos[0])) {
		cli_error(
		    MG_TR("職員のログイン名を 1 つ指定してください", "give one staff login name"));
		return CLI_USAGE;
	}
	int r = mg_store_staff_get(s, 0, o->pos[0], m);
	return r < 0 ? store_failed(r, o->pos[0]) : 0;
}

static int key_arg(const struct cli_opts *o, int64_t *id)
{
	uint64_t v = 0;
	if (o->npos != 1 || mg_parse_u64(o->pos[0], 1, INT64_MAX, &v) < 0) {
		cli_error(MG_TR("鍵の ID を 1 つ指定してください", "give one key id"));
		return CLI_USAGE;
	}
	*id = (int64_t)v;
	return 0;
}

static int run(const char *sub, const struct cli_opts *o, struct mg_store *s)
{
	char actor[MG_STORE_NAME_SIZE], what[320];
	struct mg_store_actor by = {.admin = actor, .remote = NULL};
	struct mg_store_staff m;
	bool json = o->json;
	int64_t id = 0;
	int r;
	cli_actor_name(actor);
	if (strcmp(sub, "list") == 0) {
		if (!json) {
			cli_cell(stdout, "ID", 6);
			cli_cell(stdout, MG_TR("ログイン名", "LOGIN"), 24);
			cli_cell(stdout, MG_TR("氏名", "NAME"), 20);
			cli_cell(stdout, MG_TR("所属", "DEPARTMENT"), 16);
			cli_cell(stdout, MG_TR("状態", "STATE"), 0);
		}
		r = mg_store_staff_foreach(s, on_staff, &json);
		return r < 0 ? store_failed(r, MG_TR("職員一覧", "staff list")) : CLI_OK;
	}
	if (strcmp(sub, "show") == 0) {
		if ((r = member_arg(o, s, &m)) != 0)
			return r;
		if (!json) {
			printf("%s: %s\n%s: %s\n%s: %s\n%s: %s\n", MG_TR("ログイン名", "login"),
			       m.login, MG_TR("氏名", "name"), m.display_name,
			       MG_TR("所属", "department"), m.department, MG_TR("状態", "state"),
			       state_text(m.disabled));
		} else if (cli_json_line(staff_json(&m)) < 0) {
			return CLI_RUNTIME;
		}
		r = mg_store_staff_keys_foreach(s, m.id, -1, on_key, &json);
		return r < 0 ? store_failed(r, m.login) : CLI_OK;
	}
	if (strcmp(sub, "add") == 0) {
		if (!o->login || o->npos) {
			cli_error(MG_TR("staff add には --login NAME が必要です",
			                "staff add needs --login NAME"));
			return CLI_USAGE;
		}
		r = mg_store_staff_add(s, &by, o->login, o->display_name, o->department,
		                       mg_now_us(), &id);
		if (r < 0)
			return store_failed(r, o->login);
		snprintf(what, sizeof(what),
		         MG_TR("職員 %s を追加しました (ID %" PRId64 ")",
		               "staff member %s added (id %" PRId64 ")"),
		         o->login, id);
		return publish(o, s, &by, what);
	}
	if (strcmp(sub, "disable") == 0 || strcmp(sub, "enable") == 0 ||
	    strcmp(sub, "unlock") == 0) {
		if ((r = member_arg(o, s, &m)) != 0)
			return r;
		if (strcmp(sub, "unlock") == 0)
			r = mg_store_staff_unlock(s, &by, m.id, mg_now_us());
		else
			r = mg_store_staff_set_disabled(s, &by, m.id, strcmp(sub, "disable") == 0,
			                                mg_now_us());
		if (r < 0)
			return store_failed(r, m.login);
		snprintf(what, sizeof(what), "%s: %s", m.login,
		         strcmp(sub, "unlock") == 0 ? MG_TR("全端末でロックを解除", "unlocked")
		         : strcmp(sub, "disable") == 0 ? MG_TR("無効にしました", "disabled")
		                                       : MG_TR("有効にしました", "enabled"));
		return publish(o, s, &by, what);
	}
	/* approve, revoke-key */
	if ((r = key_arg(o, &id)) != 0)
		return r;
	bool approve = strcmp(sub, "approve") == 0;
	r = mg_store_staff_key_decide(
	    s, &by, id, approve ? MG_STAFF_KEY_ACTIVE : MG_STAFF_KEY_REVOKED, mg_now_us());
	snprintf(what, sizeof(what), MG_TR("鍵 %" PRId64, "key %" PRId64), id);
	if (r < 0)
		return store_failed(r, what);
	snprintf(what, sizeof(what),
	         approve ? MG_TR("鍵 %" PRId64 " を承認しました", "key %" PRId64 " approved")
	                 : MG_TR("鍵 %" PRId64 " を失効させました", "key %" PRId64 " revoked"),
	         id);
	return publish(o, s, &by, what);
}

int cli_staff(int argc, char **argv)
{
	static const char *const read_opts[] = {"--config", "--data-dir", "--db", "--json", NULL};
	static const char *const add_opts[] = {
	    "--config",       "--data-dir",   "--db",   "--login",
	    "--display-name", "--department", "--json", NULL};
	static const char *const subs[] = {"list",   "show",    "add",        "disable",
	                                   "enable", "approve", "revoke-key", "unlock"};
	struct cli_opts o = {.ready_fd = -1};
	struct mg_store *s = NULL;
	const char *sub = argc > 0 ? argv[0] : "";
	bool known = false;
	int ret = CLI_USAGE;
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		known = known || strcmp(sub, subs[i]) == 0;
	if (!known) {
		cli_error(
		    MG_TR("使い方: staff list|show|add|disable|enable|approve|revoke-key|unlock "
		          "--data-dir DIR ...",
		          "usage: staff list|show|add|disable|enable|approve|revoke-key|unlock "
		          "--data-dir DIR ..."));
		return CLI_USAGE;
	}
	if (cli_parse(argc - 1, argv + 1, strcmp(sub, "add") == 0 ? add_opts : read_opts,
	              strcmp(sub, "list") == 0 || strcmp(sub, "add") == 0 ? 0 : 1, &o) < 0)
		goto done;
	ret = CLI_RUNTIME;
	if (cli_open_store(&o, &s) < 0)
		goto done;
	ret = run(sub, &o, s);
	if (ret == CLI_OK && fflush(stdout) != 0)
		ret = CLI_RUNTIME;
done:
	mg_store_close(&s);
	cli_opts_free(&o);
	return ret;
}
