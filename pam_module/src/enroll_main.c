/*
 * mynaguard-enroll: credentials of the PAM module, managed by an administrator (root).
 *
 *   mynaguard-enroll [--config PATH] totp   --user USER [--secret BASE32] [--algorithm A]
 *                                          [--digits 6|8] [--period S] [--label L] [--qr]
 *   mynaguard-enroll [--config PATH] fido2  --user USER [--label L] [--uv] [--device N]
 *   mynaguard-enroll [--config PATH] list   --user USER
 *   mynaguard-enroll [--config PATH] remove --user USER --label L
 *   mynaguard-enroll [--config PATH] unlock --user USER
 *
 * A PIN, when the key has one, is read from the terminal (echo off) or, when stdin is not a
 * terminal, from the first line of stdin.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <syslog.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <qrencode.h>

#include "authcore.h"
#include "authstate.h"
#include "credstore.h"
#include "event_send.h"
#include "fido2_enroll.h"
#include "mg/host.h"
#include "mg/i18n.h"
#include "mg/time.h"
#include "owner.h"
#include "pam_conf.h"
#include "pam_events.h"
#include "pam_user.h"

struct opts {
	const char *config;
	const char *user;
	const char *secret;
	const char *algorithm;
	const char *label;
	const char *device;
	unsigned digits;
	unsigned period;
	bool qr;
	bool uv;
};

struct command {
	const char *name;
	int (*run)(const struct mg_pam_conf *conf, const struct opts *o);
	const char *help;
};

static void now_text(char out[MG_TIME_TEXT_MAX])
{
	if (mg_time_format(mg_now_us(), out) < 0)
		snprintf(out, MG_TIME_TEXT_MAX, "1970-01-01T00:00:00.000000Z");
}

/* An event to syslog, and to the agent (else the pending file). */
static void event(const struct mg_pam_conf *conf, enum mg_event_type type, const char *user,
                  const char *reason)
{
	struct mg_pam_event_info info = {
	    .user = user, .service = "mynaguard-enroll", .reason = reason};
	char *json = NULL, why[768], msg[1024];
	unsigned wait_ms = MG_PAM_EVENT_WAIT_MS;
	bool with_json = false;
	if (mg_pam_event_json(type, &info, &json) < 0)
		return;
	openlog("mynaguard-enroll", LOG_PID, LOG_AUTHPRIV);
	syslog(LOG_NOTICE, MG_PAM_EVENT_PREFIX "%s", json);
	enum mg_pam_event_route route =
	    mg_pam_event_deliver(conf, json, &wait_ms, why, sizeof(why));
	int prio = mg_pam_event_log_text(route, conf, why, msg, sizeof(msg), &with_json);
	if (prio >= 0)
		syslog(prio, "%s%s%s", msg, with_json ? ": " : "", with_json ? json : "");
	if (route == MG_PAM_EVENT_LOST)
		fprintf(stderr, "%s: %s\n",
		        MG_TR("イベントを記録できませんでした", "the event could not be recorded"),
		        why);
	closelog();
	free(json);
}

/* Reads a PIN: the terminal with echo off, or the first line of stdin. Caller wipes. */
static int read_pin(char *buf, size_t len)
{
	struct termios old, noecho;
	bool tty = isatty(0) && tcgetattr(0, &old) == 0;
	if (tty) {
		fprintf(stderr, "%s", MG_TR("セキュリティキーの PIN: ", "Security key PIN: "));
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(0, TCSAFLUSH, &noecho);
	}
	char *p = fgets(buf, (int)len, stdin);
	if (tty) {
		tcsetattr(0, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (!p)
		return -EIO;
	buf[strcspn(buf, "\r\n")] = '\0';
	return 0;
}

static void print_qr(const char *text)
{
	QRcode *q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	if (!q) {
		fprintf(stderr, "%s\n", MG_TR("QR コードを作れません", "cannot make the QR code"));
		return;
	}
	/* Two modules per character cell; light modules are drawn, with a quiet zone of 2. */
	int w = q->width, m = 2;
	for (int y = -m; y < w + m; y += 2) {
		for (int x = -m; x < w + m; x++) {
			bool top = y >= 0 && y < w && x >= 0 && x < w && (q->data[y * w + x] & 1);
			bool bot = y + 1 >= 0 && y + 1 < w && x >= 0 && x < w &&
			           (q->data[(y + 1) * w + x] & 1);
			fputs(top ? (bot ? " " : "\u2584") : (bot ? "\u2580" : "\u2588"), stdout);
		}
		fputc('\n', stdout);
	}
	QRcode_free(q);
}

/* Percent-encodes s for an otpauth URI label or parameter. */
static void uri_escape(const char *s, char *out, size_t len)
{
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p && o + 4 < len; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~')
			out[o++] = (char)*p;
		else
			o += (size_t)snprintf(out + o, len - o, "%%%02X", *p);
	}
	out[o] = '\0';
}

static int cmd_totp(const struct mg_pam_conf *conf, const struct opts *o)
{
	struct mg_totp_cred c;
	char host[256] = "localhost", acct[600], esc[1800], *b32 = NULL;
	int r;
	memset(&c, 0, sizeof(c));
	snprintf(c.user, sizeof(c.user), "%s", o->user);
	snprintf(c.label, sizeof(c.label), "%s", o->label ? o->label : "totp");
	c.digits = o->digits ? o->digits : 6;
	c.period = o->period ? o->period : 30;
	if (mg_totp_alg_from_name(o->algorithm ? o->algorithm : "sha1", &c.algorithm) < 0 ||
	    (c.digits != 6 && c.digits != 8) || c.period < 15 || c.period > 300 ||
	    !mg_cred_label_valid(c.label)) {
		fprintf(stderr, "%s\n",
		        MG_TR("--algorithm は sha1/sha256/sha512、--digits は 6 か 8、--period は "
		              "15-300 秒です",
		              "--algorithm is sha1/sha256/sha512, --digits 6 or 8, --period 15-300 "
		              "seconds"));
		return 2;
	}
	if (o->secret) {
		r = mg_base32_decode(o->secret, c.secret, sizeof(c.secret), &c.secret_len);
		if (r < 0 || c.secret_len < MG_TOTP_SECRET_MIN) {
			fprintf(stderr, "%s\n",
			        MG_TR("--secret は 10-64 バイトの base32 です",
			              "--secret must be base32 of 10-64 bytes"));
			return 2;
		}
	} else {
		c.secret_len = c.algorithm == MG_TOTP_SHA1     ? 20
		               : c.algorithm == MG_TOTP_SHA256 ? 32
		                                               : 64;
		if (getrandom(c.secret, c.secret_len, 0) != (ssize_t)c.secret_len)
			return 1;
	}
	now_text(c.created);
	r = mg_credstore_save_totp(conf->credential_dir, conf->owner, &c);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", MG_TR("保存できません", "cannot save"), strerror(-r));
		explicit_bzero(&c, sizeof(c));
		return 1;
	}
	if (mg_base32_encode(c.secret, c.secret_len, &b32) < 0) {
		explicit_bzero(&c, sizeof(c));
		return 1;
	}
	mg_hostname(host, sizeof(host));
	snprintf(acct, sizeof(acct), "mynaguard:%s@%s", o->user, host);
	uri_escape(acct, esc, sizeof(esc));
	static const char *const upper[] = {"SHA1", "SHA256", "SHA512"};
	char *uri = NULL;
	if (asprintf(&uri,
	             "otpauth://totp/%s?secret=%s&issuer=mynaguard&algorithm=%s&digits=%u"
	             "&period=%u",
	             esc, b32, upper[c.algorithm], c.digits, c.period) < 0)
		uri = NULL;
	if (uri) {
		printf("%s\n", uri);
		if (o->qr)
			print_qr(uri);
		explicit_bzero(uri, strlen(uri));
		free(uri);
	}
	explicit_bzero(b32, strlen(b32));
	free(b32);
	explicit_bzero(&c, sizeof(c));
	return uri ? 0 : 1;
}

static int cmd_fido2(const struct mg_pam_conf *conf, const struct opts *o)
{
	struct mg_fido2_credfile *f = NULL;
	struct mg_fido2_devs *devs = NULL;
	struct mg_fido2_cred c;
	char why[512] = "", pin[256] = "";
	const char *ferr = NULL;
	size_t idx = 0;
	int rc = 1;
	memset(&c, 0, sizeof(c));
	int r = mg_credstore_load_fido2(conf->credential_dir, conf->owner, o->user, &f, why,
	                                sizeof(why));
	if (r == -ENOENT)
		f = mg_fido2_credfile_new(o->user);
	if (!f) {
		fprintf(stderr, "%s: %s\n",
		        MG_TR("登録情報を読めません", "cannot read credentials"),
		        why[0] ? why : strerror(-r));
		return 1;
	}
	if (o->label)
		snprintf(c.label, sizeof(c.label), "%s", o->label);
	else
		snprintf(c.label, sizeof(c.label), "key-%zu", f->n + 1);
	for (size_t i = 0; i < f->n; i++) {
		if (strcmp(f->creds[i].label, c.label) == 0) {
			fprintf(stderr, "%s: %s\n",
			        MG_TR("ラベルが使用済みです", "label already used"), c.label);
			goto out;
		}
	}
	if (!mg_cred_label_valid(c.label) || f->n >= MG_FIDO2_MAX_CREDS) {
		fprintf(stderr, "%s\n",
		        MG_TR("ラベルが不正か、登録数の上限です",
		              "bad label, or too many credentials"));
		goto out;
	}
	fprintf(stderr, "%s\n",
	        MG_TR("セキュリティキーを挿入してください", "Insert the security key"));
	if ((r = mg_fido2_devs_open(30000, &devs)) < 0) {
		fprintf(stderr, "%s\n",
		        MG_TR("セキュリティキーが見つかりません", "no security key found"));
		goto out;
	}
	if (o->device) {
		char *end = NULL;
		unsigned long n = strtoul(o->device, &end, 10);
		if (!end || *end || n >= mg_fido2_devs_count(devs)) {
			fprintf(stderr, "%s\n",
			        MG_TR("--device の番号が不正です", "bad --device number"));
			goto out;
		}
		idx = (size_t)n;
	} else if (mg_fido2_devs_count(devs) > 1) {
		fprintf(stderr, "%s\n",
		        MG_TR("登録するキーに触れてください", "Touch the key to register"));
		if (mg_fido2_select_by_touch(devs, 30000, &idx) < 0) {
			fprintf(stderr, "%s\n",
			        MG_TR("キーが選ばれませんでした", "no key was chosen"));
			goto out;
		}
	}
	c.uv = o->uv;
	if (o->uv && !mg_fido2_dev_has_pin(devs, idx) && !mg_fido2_dev_has_uv(devs, idx)) {
		fprintf(stderr, "%s\n",
		        MG_TR("--uv にはキーの PIN か生体認証が必要です",
		              "--uv needs a key with a PIN or built-in verification"));
		goto out;
	}
	if (mg_fido2_dev_has_pin(devs, idx) && read_pin(pin, sizeof(pin)) < 0)
		goto out;
	fprintf(stderr, "%s\n",
	        MG_TR("セキュリティキーに触れてください", "Touch the security key"));
	r = mg_fido2_make_cred(devs, idx, conf->rp_id, o->user, f, pin, o->uv, &c, &ferr);
	explicit_bzero(pin, sizeof(pin));
	if (r < 0) {
		fprintf(stderr, "%s (%s)\n",
		        r == -EEXIST
		            ? MG_TR("このキーは登録済みです", "this key is already registered")
		        : r == -EACCES  ? MG_TR("PIN が正しくありません", "wrong PIN")
		        : r == -EBADMSG ? MG_TR("アテステーションを検証できません",
		                                "the attestation does not verify")
		                        : MG_TR("登録できませんでした", "registration failed"),
		        ferr ? ferr : "");
		goto out;
	}
	now_text(c.created);
	if ((r = mg_fido2_credfile_add(f, &c)) < 0 ||
	    (r = mg_credstore_save_fido2(conf->credential_dir, conf->owner, f)) < 0) {
		fprintf(stderr, "%s: %s\n", MG_TR("保存できません", "cannot save"), strerror(-r));
		goto out;
	}
	printf("%s %s aaguid=%s uv=%s\n", MG_TR("登録しました:", "registered:"), c.label, c.aaguid,
	       c.uv ? "yes" : "no");
	rc = 0;
out:
	mg_fido2_devs_free(&devs);
	mg_fido2_credfile_free(&f);
	return rc;
}

static int cmd_list(const struct mg_pam_conf *conf, const struct opts *o)
{
	struct mg_fido2_credfile *f = NULL;
	struct mg_totp_cred *t = NULL;
	struct mg_auth_outcome st;
	char why[512] = "";
	int rc = 0;
	int r = mg_credstore_load_totp(conf->credential_dir, conf->owner, o->user, &t, why,
	                               sizeof(why));
	if (r == 0)
		printf("totp  %s algorithm=%s digits=%u period=%u created=%s\n", t->label,
		       mg_totp_alg_name(t->algorithm), t->digits, t->period, t->created);
	else if (r != -ENOENT)
		rc = fprintf(stderr, "totp: %s\n", why[0] ? why : strerror(-r)) > 0;
	mg_totp_cred_free(&t);
	r = mg_credstore_load_fido2(conf->credential_dir, conf->owner, o->user, &f, why,
	                            sizeof(why));
	for (size_t i = 0; r == 0 && i < f->n; i++)
		printf("fido2 %s cose_alg=%d aaguid=%s uv=%s created=%s\n", f->creds[i].label,
		       f->creds[i].cose_alg, f->creds[i].aaguid, f->creds[i].uv ? "yes" : "no",
		       f->creds[i].created);
	if (r < 0 && r != -ENOENT)
		rc = fprintf(stderr, "fido2: %s\n", why[0] ? why : strerror(-r)) > 0;
	mg_fido2_credfile_free(&f);
	if (mg_auth_status(conf, o->user, true, (uint64_t)time(NULL), &st) == 0)
		printf("state failures=%llu locked=%s\n", (unsigned long long)st.failures,
		       st.success ? "no" : "yes");
	return rc;
}

static int cmd_remove(const struct mg_pam_conf *conf, const struct opts *o)
{
	struct mg_fido2_credfile *f = NULL;
	struct mg_totp_cred *t = NULL;
	char why[512] = "";
	bool done = false;
	int r;
	if (!o->label) {
		fprintf(stderr, "%s\n", MG_TR("--label が必要です", "--label is required"));
		return 2;
	}
	if (mg_credstore_load_totp(conf->credential_dir, conf->owner, o->user, &t, why,
	                           sizeof(why)) == 0 &&
	    strcmp(t->label, o->label) == 0)
		done = mg_credstore_remove_totp(conf->credential_dir, conf->owner, o->user) == 0;
	mg_totp_cred_free(&t);
	r = mg_credstore_load_fido2(conf->credential_dir, conf->owner, o->user, &f, why,
	                            sizeof(why));
	for (size_t i = 0; !done && r == 0 && i < f->n; i++) {
		if (strcmp(f->creds[i].label, o->label) != 0)
			continue;
		struct mg_fido2_cred gone = f->creds[i];
		mg_fido2_credfile_remove(f, o->label);
		done = mg_credstore_save_fido2(conf->credential_dir, conf->owner, f) == 0;
		if (done)
			mg_auth_forget_counter(conf, o->user, &gone);
	}
	mg_fido2_credfile_free(&f);
	if (!done) {
		fprintf(stderr, "%s: %s\n", MG_TR("見つかりません", "not found"), o->label);
		return 1;
	}
	printf("%s %s\n", MG_TR("削除しました:", "removed:"), o->label);
	return 0;
}

static int cmd_unlock(const struct mg_pam_conf *conf, const struct opts *o)
{
	struct mg_auth_outcome out;
	int r = mg_auth_unlock(conf, o->user, &out);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", MG_TR("解除できません", "cannot unlock"), strerror(-r));
		return 1;
	}
	event(conf, MG_EV_AUTH_UNLOCK, o->user, "admin");
	printf("%s %s\n", MG_TR("ロックを解除しました:", "unlocked:"), o->user);
	return 0;
}

static const struct command commands[] = {
    {"totp", cmd_totp,
     "--user USER [--secret B32] [--algorithm sha1|sha256|sha512] "
     "[--digits 6|8] [--period S] [--label L] [--qr]"},
    {"fido2", cmd_fido2, "--user USER [--label L] [--uv] [--device N]"},
    {"list", cmd_list, "--user USER"},
    {"remove", cmd_remove, "--user USER --label L"},
    {"unlock", cmd_unlock, "--user USER"},
};

static int usage(void)
{
	fprintf(stderr, "usage: mynaguard-enroll [--config PATH] COMMAND ...\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(stderr, "  %-6s %s\n", commands[i].name, commands[i].help);
	return 2;
}

static int num(const char *s, unsigned *out)
{
	uint64_t v;
	if (mg_parse_u64(s, 1, 100000, &v) < 0)
		return -1;
	*out = (unsigned)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"config", required_argument, NULL, 'c'}, {"user", required_argument, NULL, 'u'},
	    {"secret", required_argument, NULL, 's'}, {"algorithm", required_argument, NULL, 'a'},
	    {"digits", required_argument, NULL, 'd'}, {"period", required_argument, NULL, 'p'},
	    {"label", required_argument, NULL, 'l'},  {"device", required_argument, NULL, 'D'},
	    {"qr", no_argument, NULL, 'q'},           {"uv", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
	struct opts o = {.config = MG_PAM_DEFAULT_CONF};
	struct mg_pam_conf conf;
	struct mg_config_error err;
	char msg[600];
	uid_t owner = 0;
	int c;
	while ((c = getopt_long(argc, argv, "c:u:s:a:d:p:l:D:qvh", lopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o.config = optarg;
			break;
		case 'u':
			o.user = optarg;
			break;
		case 's':
			o.secret = optarg;
			break;
		case 'a':
			o.algorithm = optarg;
			break;
		case 'd':
			if (num(optarg, &o.digits) < 0)
				return usage();
			break;
		case 'p':
			if (num(optarg, &o.period) < 0)
				return usage();
			break;
		case 'l':
			o.label = optarg;
			break;
		case 'D':
			o.device = optarg;
			break;
		case 'q':
			o.qr = true;
			break;
		case 'v':
			o.uv = true;
			break;
		default:
			return usage();
		}
	}
	if (optind != argc - 1)
		return usage();
	const struct command *cmd = NULL;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[optind], commands[i].name) == 0)
			cmd = &commands[i];
	if (!cmd)
		return usage();
	if (!o.user || !mg_pam_user_valid(o.user)) {
		fprintf(stderr, "%s\n",
		        MG_TR("--user に正しいユーザー名を指定してください",
		              "--user needs a valid user name"));
		return 2;
	}
	if (mg_pam_owner_of_code(&owner) < 0)
		owner = 0;
	if (geteuid() != owner) {
		fprintf(stderr, "%s\n", MG_TR("root で実行してください", "run as root"));
		return 1;
	}
	if (mg_pam_conf_load(o.config, owner, &conf, &err) < 0) {
		fprintf(stderr, "%s\n", mg_config_error_str(&err, msg, sizeof(msg)));
		return 1;
	}
	umask(022);
	int rc = cmd->run(&conf, &o);
	mg_pam_conf_free(&conf);
	return rc;
}
