/* mynaguardctl: the agent's local command-line interface. The table below is its map. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent_conf.h"
#include "ctl_client.h"
#include "ctl_proto.h"
#include "lockout_scan.h"
#include "mg/config.h"
#include "mg/i18n.h"
#include "mg/safe_open.h"
#include "mg/utf8.h"
#include "rules.h"

static int cmd_status(const struct ctl_opts *o, int argc, char **argv);
static int cmd_list_devices(const struct ctl_opts *o, int argc, char **argv);
static int cmd_allow_device(const struct ctl_opts *o, int argc, char **argv);
static int cmd_block_device(const struct ctl_opts *o, int argc, char **argv);
static int cmd_reload(const struct ctl_opts *o, int argc, char **argv);
static int cmd_generate_policy(const struct ctl_opts *o, int argc, char **argv);
static int cmd_check_rules(const struct ctl_opts *o, int argc, char **argv);
static int cmd_staff_register(const struct ctl_opts *o, int argc, char **argv);

static const struct {
	const char *name;
	int (*fn)(const struct ctl_opts *o, int argc, char **argv);
	const char *args;
	const char *help_ja, *help_en;
} commands[] = {
    {"status", cmd_status, "[--json]", "エージェントの状態を表示", "show the agent's state"},
    {"list-devices", cmd_list_devices, "[--json]", "接続中のデバイスと判定を一覧表示",
     "list present devices and their decisions"},
    {"allow-device", cmd_allow_device, "ID", "デバイスを取り外すまで一時的に許可",
     "allow a device until it is removed"},
    {"block-device", cmd_block_device, "ID", "デバイスを取り外すまで一時的に遮断",
     "block a device until it is removed"},
    {"reload", cmd_reload, "[--force]",
     "ルールを再読み込みし全デバイスを再判定 (使用中のルートハブ・ハブ・キーボード等を遮断する"
     "ルールは --force なしでは拒否)",
     "reload the rules and re-decide every device (rules that would block a root hub, hub or "
     "HID device in use are refused without --force)"},
    {"generate-policy", cmd_generate_policy, "[--with-ports]",
     "接続中のデバイスごとに許可ルールを出力 (USBGuard 互換: via-port はシリアル番号のない"
     "デバイスのみ、--with-ports で全デバイス)",
     "print one allow rule per present device (USBGuard-compatible: via-port only for devices "
     "without a serial number, for all with --with-ports)"},
    {"check-rules", cmd_check_rules, "FILE [--force]",
     "ルールファイルを検査 (誤りは 行:桁 で表示; 使用中のルートハブ・ハブ・キーボード等を遮断する"
     "ルールは --force なしでは不合格)",
     "check a rules file (errors as line:column; rules that would block a root hub, hub or HID "
     "device in use fail without --force)"},
    {"enroll", cmd_enroll, "--collector URL --token TOKEN --ca FILE [--force]",
     "この端末をコレクターに登録 (root; 登録済みなら --force が必要)",
     "enrol this terminal to a collector (root; --force when enrolled already)"},
    {"sync", cmd_sync, "", "ポリシーの取得とイベント送信を今すぐ実行",
     "poll the policy and upload events now"},
    {"request", cmd_request, "ID --reason TEXT [--user NAME]",
     "遮断されたデバイスの許可を管理者に申請 (--user は root のみ)",
     "ask the administrators to allow a blocked device (--user: root only)"},
    {"requests", cmd_requests, "[--json]", "この端末からの申請と状態を一覧表示",
     "list this terminal's device requests and their state"},
    {"staff-register", cmd_staff_register, "--file JSON",
     "職員のセキュリティキー登録をコレクターに申請 (root; 通常は mynaguard-enroll fido2 "
     "--central が使用)",
     "file a staff security key registration with the collector (root; normally used by "
     "mynaguard-enroll fido2 --central)"},
    {"events", cmd_events, "[--state-dir DIR] [--after SEQ]",
     "スプールのイベントをハッシュ連鎖付きで出力 (root; エージェント停止中も可)",
     "print the spooled events with their hash chain (root; also while the agent is stopped)"},
};

/* staff-register --file JSON: the body of POST /v1/staff/registrations (issue 15). */
static int cmd_staff_register(const struct ctl_opts *o, int argc, char **argv)
{
	static struct mg_ctl_request req; /* large: not on the stack */
	const char *file = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--file") == 0 && i + 1 < argc && !file)
			file = argv[++i];
		else
			return 2;
	}
	if (!file)
		return 2;
	struct mg_file_rules any = {
	    .owner = MG_ANY_OWNER, .allow_group_write = false, .max_size = MG_CTL_MAX_REGISTRATION};
	char *text = NULL, err[300] = "";
	size_t len = 0;
	const char *why = NULL;
	int r = mg_safe_read_file(file, &any, &text, &len, &why);
	if (r < 0) {
		fprintf(stderr, "mynaguardctl: %s: %s\n", tty(file), tty(why ? why : strerror(-r)));
		return 1;
	}
	/* The agent checks it again; checked here too for a message before anything is sent. */
	json_error_t jerr;
	json_t *reg = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	json_t *wrap =
	    reg ? json_pack("{s:s, s:o}", "cmd", "staff-register", "registration", reg) : NULL;
	char *line = wrap ? json_dumps(wrap, JSON_COMPACT) : NULL;
	json_decref(wrap);
	r = line ? mg_ctl_request_parse(line, strlen(line), &req, err, sizeof(err)) : -EINVAL;
	free(line);
	if (r < 0) {
		fprintf(stderr, "mynaguardctl: %s: %s: %s\n", tty(file),
		        MG_TR("登録申請の形式が正しくありません", "not a valid registration"),
		        tty(err[0] ? err : jerr.text));
		return 1;
	}
	json_t *resp = call(o, &req);
	if (!resp)
		return 1;
	printf("%s (id %lld, %s: %s)\n",
	       MG_TR("登録を申請しました。承認者の承認後に有効になります",
	             "registration filed; it works once an approver approves it"),
	       (long long)json_integer_value(json_object_get(resp, "id")), MG_TR("状態", "state"),
	       tty(json_string_value(json_object_get(resp, "state"))));
	json_decref(resp);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "%s: mynaguardctl [--socket PATH] COMMAND [ARGS]\n", MG_TR("使い方", "usage"));
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-16s %-9s %s\n", commands[i].name, commands[i].args,
		        MG_TR(commands[i].help_ja, commands[i].help_en));
}

static const char *or_none(json_t *v)
{
	return json_is_string(v) ? tty(json_string_value(v)) : MG_TR("なし", "none");
}

/* The event pipeline's part of status. */
static void print_pipeline(json_t *st)
{
	if (!json_object_get(st, "enrolled"))
		return;
	if (json_is_true(json_object_get(st, "enrolled")))
		printf("%s: %s (host id %lld)\n", MG_TR("登録先", "enrolled to"),
		       tty(json_string_value(json_object_get(st, "collector"))),
		       (long long)json_integer_value(json_object_get(st, "host_id")));
	else
		printf("%s: %s\n", MG_TR("登録先", "enrolled to"),
		       MG_TR("未登録 (mynaguardctl enroll)", "not enrolled (mynaguardctl enroll)"));
	printf("%s: %lld (%s %s)\n", MG_TR("未送信イベント", "events not sent"),
	       (long long)json_integer_value(json_object_get(st, "spool_depth")),
	       MG_TR("最古", "oldest"), or_none(json_object_get(st, "oldest_unsent")));
	printf("%s: %s\n", MG_TR("最終送信", "last upload"),
	       or_none(json_object_get(st, "last_upload")));
	printf("%s: %s\n", MG_TR("最後のエラー", "last error"),
	       or_none(json_object_get(st, "last_error")));
	printf("%s: %lld (%s %s)\n", MG_TR("適用中のポリシー版", "policy version"),
	       (long long)json_integer_value(json_object_get(st, "policy_version")),
	       MG_TR("有効期限", "expires"), or_none(json_object_get(st, "policy_expires")));
	printf("%s: %s\n", MG_TR("アップリンク", "uplink"),
	       tty(json_string_value(json_object_get(st, "uplink"))));
}

static int cmd_status(const struct ctl_opts *o, int argc, char **argv)
{
	bool json;
	if (json_option(o, argc, argv, &json))
		return 2;
	json_t *st;
	if (simple(o, MG_CTL_STATUS, 0, &st))
		return 1;
	json_object_del(st, "ok");
	if (json) {
		json_dumpf(st, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		putchar('\n');
	} else {
		json_t *d = json_object_get(st, "devices");
		printf("%s: %s\n", MG_TR("モード", "mode"),
		       tty(json_string_value(json_object_get(st, "mode"))));
		printf("%s: %lld (sha256 %s)\n", MG_TR("ルール数", "rules"),
		       (long long)json_integer_value(json_object_get(st, "rules")),
		       tty(json_string_value(json_object_get(st, "rules_sha256"))));
		printf("%s: %s %lld / %s %lld / %s %lld\n", MG_TR("デバイス", "devices"),
		       MG_TR("許可", "allowed"),
		       (long long)json_integer_value(json_object_get(d, "allow")),
		       MG_TR("遮断", "blocked"),
		       (long long)json_integer_value(json_object_get(d, "block")),
		       MG_TR("拒否", "rejected"),
		       (long long)json_integer_value(json_object_get(d, "reject")));
		printf("%s: %s (seq %lld)\n", MG_TR("イベントスプール", "event spool"),
		       tty(json_string_value(json_object_get(st, "event_log"))),
		       (long long)json_integer_value(json_object_get(st, "last_event_seq")));
		print_pipeline(st);
	}
	json_decref(st);
	return 0;
}

static const char *target_label(const char *t)
{
	if (!t)
		return "?";
	if (strcmp(t, "allow") == 0)
		return MG_TR("許可", "allow");
	if (strcmp(t, "block") == 0)
		return MG_TR("遮断", "block");
	if (strcmp(t, "reject") == 0)
		return MG_TR("拒否", "reject");
	return t;
}

static void print_device(json_t *d)
{
	const char *name = json_string_value(json_object_get(d, "name"));
	printf("%3lld %-6s %s:%s %-10s %s\n",
	       (long long)json_integer_value(json_object_get(d, "id")),
	       tty(target_label(json_string_value(json_object_get(d, "target")))),
	       tty(json_string_value(json_object_get(d, "vendor_id"))),
	       tty(json_string_value(json_object_get(d, "product_id"))),
	       tty(json_string_value(json_object_get(d, "port"))), tty(name ? name : ""));
	json_t *bl = json_object_get(d, "blocked_interfaces");
	if (json_array_size(bl) > 0) {
		printf("    %s:", MG_TR("無効化したインターフェース", "interfaces kept off"));
		size_t j;
		json_t *b;
		json_array_foreach(bl, j, b) printf(" %s", tty(json_string_value(b)));
		putchar('\n');
	}
	const char *src = json_string_value(json_object_get(d, "rule_source"));
	printf("    %s: %s\n", MG_TR("判定ルール", "rule"),
	       src ? tty(src) : MG_TR("(既定の判定)", "(implicit target)"));
}

static int cmd_list_devices(const struct ctl_opts *o, int argc, char **argv)
{
	return list_command(o, argc, argv, MG_CTL_LIST_DEVICES, "devices", print_device);
}

static int parse_id(const char *s, unsigned *id)
{
	uint64_t v;
	if (mg_parse_u64(s, 1, 0x7fffffff, &v) < 0) {
		fprintf(stderr, "mynaguardctl: %s: '%s'\n",
		        MG_TR("デバイス ID が正しくありません", "not a device id"), s);
		return -EINVAL;
	}
	*id = (unsigned)v;
	return 0;
}

static int override(const struct ctl_opts *o, int argc, char **argv, enum mg_ctl_cmd cmd)
{
	unsigned id;
	if (argc != 2)
		return 2;
	if (parse_id(argv[1], &id) < 0)
		return 2;
	return simple(o, cmd, id, NULL);
}

static int cmd_allow_device(const struct ctl_opts *o, int argc, char **argv)
{
	return override(o, argc, argv, MG_CTL_ALLOW_DEVICE);
}

static int cmd_block_device(const struct ctl_opts *o, int argc, char **argv)
{
	return override(o, argc, argv, MG_CTL_BLOCK_DEVICE);
}

static int cmd_reload(const struct ctl_opts *o, int argc, char **argv)
{
	struct mg_ctl_request req = {.cmd = MG_CTL_RELOAD};
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0 || strcmp(argv[i], "-f") == 0)
			req.force = true;
		else
			return 2;
	}
	json_t *resp = call(o, &req);
	if (!resp)
		return 1;
	json_decref(resp);
	return 0;
}

static int cmd_generate_policy(const struct ctl_opts *o, int argc, char **argv)
{
	struct mg_ctl_request req = {.cmd = MG_CTL_GENERATE_POLICY};
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--with-ports") == 0 || strcmp(argv[i], "-p") == 0)
			req.with_ports = true;
		else
			return 2;
	}
	json_t *resp = call(o, &req);
	if (!resp)
		return 1;
	fputs(json_string_value(json_object_get(resp, "rules")), stdout);
	json_decref(resp);
	return 0;
}

/* The implicit target of the installed agent.conf; block when it cannot be read. */
static enum mg_target installed_implicit_target(void)
{
	struct mg_agent_conf conf;
	struct mg_file_rules any = {.owner = MG_ANY_OWNER, .allow_group_write = true};
	struct mg_config_error err;
	if (mg_agent_conf_load(DEFAULT_AGENT_CONFIG, &any, &conf, &err) < 0)
		return MG_TARGET_BLOCK;
	enum mg_target t = (enum mg_target)conf.implicit_target;
	mg_agent_conf_free(&conf);
	return t;
}

static int cmd_check_rules(const struct ctl_opts *o, int argc, char **argv)
{
	(void)o;
	const char *file = NULL;
	bool force = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0 || strcmp(argv[i], "-f") == 0)
			force = true;
		else if (!file)
			file = argv[i];
		else
			return 2;
	}
	if (!file)
		return 2;
	struct mg_file_rules any = {.owner = MG_ANY_OWNER, .allow_group_write = true};
	struct mg_ruleset *rs = NULL;
	struct mg_rule_error err;
	memset(&err, 0, sizeof(err));
	if (mg_ruleset_load(file, NULL, &any, &rs, &err) < 0) {
		char buf[800];
		fprintf(stderr, "%s\n", tty(mg_rule_error_str(&err, buf, sizeof(buf))));
		return 1;
	}
	/* Lock-out guard: the devices of this machine that the rules would cut off. */
	size_t cut = 0;
	char list[1024];
	int r = mg_lockout_scan("/sys", rs, installed_implicit_target(), &cut, list, sizeof(list));
	if (r < 0)
		fprintf(
		    stderr, "%s: %s: %s\n", tty(file),
		    MG_TR("使用中のデバイスを確認できません", "cannot check the devices in use"),
		    strerror(-r));
	if (cut > 0) {
		if (!mg_i18n_english())
			fprintf(
			    stderr,
			    "%s: %slock-out: 使用中のデバイス %zu 台を遮断するルールです: %s%s\n",
			    tty(file), force ? "警告: " : "", cut, tty(list),
			    force ? "" : " (それでも適用するには --force)");
		else
			fprintf(stderr,
			        "%s: %slock-out: the rules would block %zu device%s in use: %s%s\n",
			        tty(file), force ? "warning: " : "", cut, cut == 1 ? "" : "s",
			        tty(list), force ? "" : " (--force to accept)");
		if (!force) {
			mg_ruleset_free(&rs);
			return 1;
		}
	}
	printf("%s: %zu %s\n", tty(file), mg_ruleset_count(rs),
	       MG_TR("件のルール (正常)", "rules, OK"));
	mg_ruleset_free(&rs);
	return 0;
}

int main(int argc, char **argv)
{
	struct ctl_opts o = {.socket = DEFAULT_SOCKET, .json = false};
	static const struct option opts[] = {{"socket", required_argument, NULL, 's'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "+s:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.socket = optarg;
			break;
		case 'j':
			o.json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[optind], commands[i].name) == 0) {
			int r = commands[i].fn(&o, argc - optind, argv + optind);
			if (r == 2)
				usage(stderr);
			return r;
		}
	}
	fprintf(stderr, "mynaguardctl: %s: %s\n", MG_TR("不明なコマンド", "unknown command"),
	        argv[optind]);
	usage(stderr);
	return 2;
}
