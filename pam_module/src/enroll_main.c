/*
 * mynaguard-enroll: credentials of the PAM module, managed by an administrator (root).
 *
 *   mynaguard-enroll [--config PATH] totp   --user USER [--secret-stdin | --secret-file FILE]
 *                                          [--algorithm A] [--digits 6|8] [--period S]
 *                                          [--label L] [--qr] [--qr-png FILE] [--replace]
 *                                          [--allow-unknown-user]
 *   mynaguard-enroll [--config PATH] fido2  --user USER [--label L] [--uv] [--device N]
 *                                          [--central [--agent-socket PATH]]
 *   mynaguard-enroll [--config PATH] list   --user USER
 *   mynaguard-enroll [--config PATH] remove --user USER --label L
 *   mynaguard-enroll [--config PATH] unlock --user USER [--reset-totp-step]
 *   (also: unlock USER [--reset-totp-step]; repairs a damaged state file, keeping what it can)
 *
 * A PIN, when the key has one, is read from the terminal (echo off) or, when stdin is not a
 * terminal, from the first line of stdin. A TOTP secret is never taken from the command line
 * (every local user can read /proc/PID/cmdline): --secret VALUE is refused.
 *
 * At every start the credential and state directories are created when missing (a fresh
 * install): credential_dir and its fido2/ 0755, its totp/ 0700, state_dir 0700, owned by the
 * user running the tool (the trusted owner).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <syslog.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <png.h>
#include <qrencode.h>

#include "authcore.h"
#include "authstate.h"
#include "credstore.h"
#include "event_send.h"
#include "fido2_enroll.h"
#include "lockout.h"
#include "mg/host.h"
#include "mg/i18n.h"
#include "mg/time.h"
#include "mg/utf8.h"
#include "owner.h"
#include "pam_conf.h"
#include "pam_events.h"
#include "pam_user.h"
#include "safe_dir.h"
#include "staff_register.h"

struct opts {
	const char *config;
	const char *user;
	const char *algorithm;
	const char *label;
	const char *device;
	const char *secret_file; /* --secret-file FILE */
	const char *qr_png;      /* --qr-png FILE */
	unsigned digits;
	unsigned period;
	bool qr;
	bool uv;
	bool secret_stdin;        /* --secret-stdin */
	bool secret_argv;         /* --secret VALUE was given: refused */
	bool replace;             /* --replace: an enrolled TOTP secret may be replaced */
	bool allow_unknown;       /* --allow-unknown-user */
	bool reset_totp_step;     /* unlock --reset-totp-step */
	bool central;             /* fido2 --central: filed with the collector, not kept here */
	const char *agent_socket; /* --agent-socket PATH (fido2 --central) */
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

/*
 * QR codes. Both renderings draw dark modules dark and light ones light whatever the terminal's
 * colours are, with the quiet zone of 4 light modules the standard asks for (ISO/IEC 18004
 * 7.3.7): a terminal with a light background showed the old rendering (light modules in the
 * foreground colour) inverted, which many phone apps do not scan.
 */
#define QR_QUIET     4 /* modules */
#define QR_PNG_SCALE 8 /* pixels per module */

static QRcode *make_qr(const char *text)
{
	QRcode *q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	if (!q)
		fprintf(stderr, "%s\n", MG_TR("QR コードを作れません", "cannot make the QR code"));
	return q;
}

/* Module (x, y) of q is dark; anything outside the symbol (the quiet zone) is light. */
static bool qr_dark(const QRcode *q, int x, int y)
{
	int w = q->width;
	return x >= 0 && y >= 0 && x < w && y < w && (q->data[y * w + x] & 1);
}

/*
 * Two modules per character cell: "▀" with the upper module in the foreground colour and the
 * lower one in the background colour, both set explicitly (SGR 30/40 black, 97/107 bright
 * white), and a reset at the end of each line.
 */
static void print_qr(const QRcode *q)
{
	int side = q->width + 2 * QR_QUIET;
	for (int y = 0; y < side; y += 2) {
		int fg = -1, bg = -1;
		for (int x = 0; x < side; x++) {
			int top = qr_dark(q, x - QR_QUIET, y - QR_QUIET);
			int bot = qr_dark(q, x - QR_QUIET, y + 1 - QR_QUIET);
			if (top != fg || bot != bg)
				printf("\033[%d;%dm", top ? 30 : 97, bot ? 40 : 107);
			fg = top;
			bg = bot;
			fputs("\u2580", stdout);
		}
		fputs("\033[0m\n", stdout);
	}
}

/*
 * Creates path for the PNG: a new file only (O_EXCL, never through a symbolic link), 0600 as
 * it holds the secret. Opened before the secret is stored, so that a refused path changes
 * nothing. The stream, or NULL after a message.
 */
static FILE *open_png(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
	if (!f) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		fprintf(stderr, "%s: %s: %s\n",
		        MG_TR("--qr-png のファイルを作れません (既存のファイルは上書きしません)",
		              "--qr-png: cannot create the file (an existing file is never "
		              "overwritten)"),
		        path, strerror(e));
	}
	return f;
}

/* 8-bit grey PNG of q: QR_PNG_SCALE pixels a module, black on white, quiet zone included. */
static int write_png(const QRcode *q, FILE *f)
{
	unsigned side = (unsigned)(q->width + 2 * QR_QUIET) * QR_PNG_SCALE;
	png_image img;
	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	img.width = side;
	img.height = side;
	img.format = PNG_FORMAT_GRAY;
	unsigned char *px = malloc((size_t)side * side);
	if (!px)
		return -ENOMEM;
	for (unsigned y = 0; y < side; y++)
		for (unsigned x = 0; x < side; x++)
			px[(size_t)y * side + x] = qr_dark(q, (int)(x / QR_PNG_SCALE) - QR_QUIET,
			                                   (int)(y / QR_PNG_SCALE) - QR_QUIET)
			                               ? 0
			                               : 255;
	int ok = png_image_write_to_stdio(&img, f, 0, px, (png_int_32)side, NULL);
	png_image_free(&img);
	free(px);
	if (!ok)
		return -EIO;
	if (fflush(f) != 0 || fsync(fileno(f)) < 0)
		return -errno;
	return 0;
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

/* The most a secret's line may hold: 64 bytes are 103 base32 characters, with room for spaces. */
#define SECRET_TEXT_MAX 1024

/*
 * Reads the first line of fd (the secret in base32) into buf, bounded: 0, -ENODATA for an empty
 * line, -EFBIG for a line longer than len - 1, or the read(2) error. The caller wipes buf.
 */
static int read_secret_line(int fd, char *buf, size_t len)
{
	size_t n = 0;
	for (;;) {
		char ch;
		ssize_t k = read(fd, &ch, 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0 || ch == '\n')
			break;
		if (n + 1 >= len)
			return -EFBIG;
		buf[n++] = ch;
	}
	while (n > 0 && (buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	return n == 0 ? -ENODATA : 0;
}

/*
 * The secret given with --secret-stdin (the terminal with echo off, or the first line of
 * stdin) or --secret-file FILE (its first line; a pipe such as <(...) works too). 0, or an
 * exit status after a message.
 */
static int given_secret(const struct opts *o, struct mg_totp_cred *c)
{
	char text[SECRET_TEXT_MAX];
	struct termios old, noecho;
	int fd = 0, r;
	bool tty = false;
	if (o->secret_file) {
		fd = open(o->secret_file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) {
			fprintf(stderr, "--secret-file %s: %s\n", o->secret_file, strerror(errno));
			return 2;
		}
	} else if (isatty(0) && tcgetattr(0, &old) == 0) {
		tty = true;
		fprintf(stderr, "%s", MG_TR("TOTP の秘密鍵 (base32): ", "TOTP secret (base32): "));
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(0, TCSAFLUSH, &noecho);
	}
	r = read_secret_line(fd, text, sizeof(text));
	if (tty) {
		tcsetattr(0, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (fd != 0)
		close(fd);
	if (r == 0)
		r = mg_base32_decode(text, c->secret, sizeof(c->secret), &c->secret_len);
	explicit_bzero(text, sizeof(text));
	if (r < 0 || c->secret_len < MG_TOTP_SECRET_MIN) {
		fprintf(stderr, "%s (%s)\n",
		        MG_TR("秘密鍵は 16-64 バイト (128 ビット以上、推奨 160 ビット) の base32 "
		              "を 1 行で与えてください",
		              "the secret must be one line of base32 of 16-64 bytes (at least 128 "
		              "bits, 160 recommended)"),
		        o->secret_file ? "--secret-file" : "--secret-stdin");
		explicit_bzero(c->secret, sizeof(c->secret));
		return 2;
	}
	return 0;
}

/* True when the system knows user (getpwnam), or --allow-unknown-user; else a message. */
static bool user_known(const struct opts *o)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	if (o->allow_unknown ||
	    (getpwnam_r(o->user, &pw, buf, sizeof(buf), &res) == 0 && res != NULL))
		return true;
	fprintf(stderr, "%s: %s\n",
	        MG_TR("このユーザーはシステムに存在しません (それでも登録するには "
	              "--allow-unknown-user)",
	              "no such user on this system (to enrol anyway: --allow-unknown-user)"),
	        o->user);
	return false;
}

static int cmd_totp(const struct mg_pam_conf *conf, const struct opts *o)
{
	struct mg_totp_cred c, *old = NULL;
	char host[256] = "localhost", acct[600], esc[1800], why[512] = "", *b32 = NULL;
	QRcode *q = NULL;
	FILE *png = NULL;
	int r, rc = 1;
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
	if (!user_known(o))
		return 1;
	/* A secret already enrolled is replaced only when asked: the old one stops working. */
	r = mg_credstore_load_totp(conf->credential_dir, conf->owner, o->user, &old, why,
	                           sizeof(why));
	mg_totp_cred_free(&old);
	if (r != -ENOENT && !o->replace) {
		fprintf(
		    stderr, "%s: %s%s%s\n",
		    r == 0 ? MG_TR("TOTP は登録済みです。置き換えるには --replace を付けてください",
		                   "a TOTP secret is already enrolled: add --replace to replace it")
		           : MG_TR("登録済みの TOTP ファイルを読めません。置き換えるには "
		                   "--replace を付けてください",
		                   "the enrolled TOTP file cannot be read: add --replace to "
		                   "replace it"),
		    o->user, why[0] ? ": " : "", why);
		return 1;
	}
	if (o->secret_stdin || o->secret_file) {
		if ((r = given_secret(o, &c)) != 0)
			return r;
	} else {
		/* 160 bits or more (RFC 4226 recommends 160): the hash's own output length. */
		c.secret_len = c.algorithm == MG_TOTP_SHA1     ? 20
		               : c.algorithm == MG_TOTP_SHA256 ? 32
		                                               : 64;
		if (getrandom(c.secret, c.secret_len, 0) != (ssize_t)c.secret_len)
			goto out;
	}
	if (mg_base32_encode(c.secret, c.secret_len, &b32) < 0)
		goto out;
	mg_hostname(host, sizeof(host));
	snprintf(acct, sizeof(acct), "mynaguard:%s@%s", o->user, host);
	uri_escape(acct, esc, sizeof(esc));
	static const char *const upper[] = {"SHA1", "SHA256", "SHA512"};
	char *uri = NULL;
	if (asprintf(&uri,
	             "otpauth://totp/%s?secret=%s&issuer=mynaguard&algorithm=%s&digits=%u"
	             "&period=%u",
	             esc, b32, upper[c.algorithm], c.digits, c.period) < 0) {
		uri = NULL;
		goto out;
	}
	if ((o->qr || o->qr_png) && !(q = make_qr(uri)))
		goto out_uri;
	if (o->qr_png && !(png = open_png(o->qr_png)))
		goto out_uri;
	now_text(c.created);
	r = mg_credstore_save_totp(conf->credential_dir, conf->owner, &c);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", MG_TR("保存できません", "cannot save"), strerror(-r));
		if (png) {
			fclose(png);
			png = NULL;
			unlink(o->qr_png);
		}
		goto out_uri;
	}
	printf("%s\n", uri);
	if (o->qr)
		print_qr(q);
	rc = 0;
	if (png) {
		r = write_png(q, png);
		if (fclose(png) != 0 && r == 0)
			r = -errno;
		png = NULL;
		if (r < 0) {
			fprintf(stderr, "--qr-png %s: %s\n", o->qr_png, strerror(-r));
			unlink(o->qr_png);
			rc = 1;
		}
	}
out_uri:
	explicit_bzero(uri, strlen(uri));
	free(uri);
out:
	if (q) {
		explicit_bzero(q->data, (size_t)q->width * (size_t)q->width);
		QRcode_free(q);
	}
	if (b32) {
		explicit_bzero(b32, strlen(b32));
		free(b32);
	}
	explicit_bzero(&c, sizeof(c));
	return rc;
}

/* What a refusal of the collector (its HTTP status; 0: no answer) means for the person. */
static const char *refusal_words(json_int_t status)
{
	switch (status) {
	case 0:
		return MG_TR("コレクターから応答がありません (ネットワークまたはコレクターの停止)。"
		             "後でもう一度申請してください",
		             "no answer from the collector (network or collector down); file again "
		             "later");
	case 400:
		return MG_TR("申請の内容が正しくありません", "the registration is malformed");
	case 403:
		return MG_TR("この職員は無効にされています。管理者に確認してください",
		             "this staff member is disabled; ask an administrator");
	case 404:
		return MG_TR("このユーザーはコレクターに職員として登録されていません。"
		             "管理者が職員を追加してから申請してください",
		             "this user is not in the collector's staff registry; an administrator "
		             "adds the member first");
	case 409:
		return MG_TR("このセキュリティキーの認証情報は登録済みです",
		             "this security key's credential is already registered");
	case 422:
		return MG_TR("セキュリティキーの証明 (アテステーション) を検証できません",
		             "the security key's attestation does not verify");
	case 429:
		return MG_TR("この端末からの未承認の申請が多すぎます。承認者の判断を待ってから"
		             "申請してください",
		             "too many pending registrations from this terminal; wait for an "
		             "approver's decisions");
	case 503:
		return MG_TR("コレクターが混み合っています。後でもう一度申請してください",
		             "the collector is busy; file again later");
	default:
		return NULL;
	}
}

/*
 * fido2 --central: the new credential goes to the collector as a pending registration
 * through the agent (staff-register); it is not kept in this terminal's credential_dir and
 * works nowhere until an approver approves it. 0, or 1 with the reason printed.
 */
static int file_central(const struct mg_pam_conf *conf, const struct opts *o,
                        const struct mg_fido2_cred *c, const struct mg_fido2_attestation *att)
{
	unsigned char rnd[16];
	char regid[33], err[512] = "";
	json_t *reg = NULL, *answer = NULL;
	int rc = 1;
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		fprintf(stderr, "%s\n", MG_TR("乱数を得られません", "no random bytes"));
		return 1;
	}
	static const char hexd[] = "0123456789abcdef";
	for (size_t i = 0; i < sizeof(rnd); i++) {
		regid[2 * i] = hexd[rnd[i] >> 4];
		regid[2 * i + 1] = hexd[rnd[i] & 15];
	}
	regid[32] = '\0';
	if (mg_staff_registration_json(regid, o->user, c, conf->rp_id, att, &reg) < 0) {
		fprintf(stderr, "%s\n",
		        MG_TR("登録申請を作成できません", "cannot make the registration"));
		return 1;
	}
	fprintf(stderr, "%s\n",
	        MG_TR("コレクターに登録を申請しています...",
	              "Filing the registration with the collector..."));
	int r = mg_staff_register_call(o->agent_socket ? o->agent_socket : MG_AGENT_SOCKET, reg,
	                               MG_STAFF_REGISTER_WAIT, &answer, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "%s: %s\n",
		        MG_TR("エージェントに登録を申請できません",
		              "cannot file the registration with the agent"),
		        err);
		goto out;
	}
	if (!json_is_true(json_object_get(answer, "ok"))) {
		const char *e = json_string_value(json_object_get(answer, "error"));
		char *safe = mg_utf8_escape_terminal(e ? e : "?");
		json_t *st = json_object_get(answer, "status");
		const char *what =
		    json_is_integer(st) ? refusal_words(json_integer_value(st)) : NULL;
		fprintf(stderr, "%s: %s%s%s\n",
		        MG_TR("登録は拒否されました", "the registration was refused"),
		        what ? what : "", what ? "\n  " : "", safe ? safe : "?");
		free(safe);
		goto out;
	}
	json_t *id = json_object_get(answer, "id");
	const char *state = json_string_value(json_object_get(answer, "state"));
	char *st = mg_utf8_escape_terminal(state ? state : "pending");
	printf("%s %s id=%lld state=%s aaguid=%s uv=%s\n",
	       MG_TR("登録を申請しました (承認後に全端末で使えます):",
	             "registration filed (usable on every terminal once approved):"),
	       c->label, json_is_integer(id) ? (long long)json_integer_value(id) : -1LL,
	       st ? st : "?", c->aaguid, c->uv ? "yes" : "no");
	free(st);
	rc = 0;
out:
	json_decref(answer);
	json_decref(reg);
	return rc;
}

static int cmd_fido2(const struct mg_pam_conf *conf, const struct opts *o)
{
	struct mg_fido2_credfile *f = NULL;
	struct mg_fido2_devs *devs = NULL;
	struct mg_fido2_cred c;
	struct mg_fido2_attestation att;
	char why[512] = "", pin[256] = "";
	const char *ferr = NULL;
	size_t idx = 0;
	int rc = 1;
	memset(&c, 0, sizeof(c));
	memset(&att, 0, sizeof(att));
	if (!user_known(o))
		return 1;
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
	/* Central: a key that holds this user's local credential may still be registered. */
	r = mg_fido2_make_cred_attested(devs, idx, conf->rp_id, o->user, o->central ? NULL : f, pin,
	                                o->uv, &c, o->central ? &att : NULL, &ferr);
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
	if (o->central) {
		rc = file_central(conf, o, &c, &att);
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
	mg_fido2_attestation_free(&att);
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

/*
 * Clears failures and the lockout; --reset-totp-step also last_totp_step (a clock that once ran
 * ahead made every code "already used"). A state file that cannot be used (damaged, torn,
 * unsafe) is rebuilt from what can be kept, and the administrator is told what was lost.
 * Each action is an auth.unlock event: reason "admin", "repaired", "totp-step-reset".
 */
static int cmd_unlock(const struct mg_pam_conf *conf, const struct opts *o)
{
	struct mg_authstate_txn *txn = NULL;
	struct mg_authstate_repair rep;
	int r = mg_authstate_txn_begin_repair(conf->state_dir, conf->owner, o->user, &txn, &rep);
	if (r < 0) {
		const char *why = mg_pam_dir_why();
		fprintf(stderr, "%s: %s%s%s\n", MG_TR("解除できません", "cannot unlock"),
		        strerror(-r), why[0] ? ": " : "", why);
		return 1;
	}
	struct mg_authstate *st = mg_authstate_txn_state(txn);
	(void)mg_lockout_unlock(st);
	if (o->reset_totp_step)
		st->last_totp_step = 0;
	r = mg_authstate_txn_commit(txn);
	mg_authstate_txn_end(&txn);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", MG_TR("解除できません", "cannot unlock"), strerror(-r));
		return 1;
	}
	if (rep.repaired) {
		event(conf, MG_EV_AUTH_UNLOCK, o->user, "repaired");
		if (rep.fresh)
			printf(
			    "%s\n",
			    MG_TR("状態ファイルが壊れていたため、新しく作り直しました "
			          "(FIDO2 の署名カウンタと TOTP の使用済みステップは失われました)",
			          "the state file was damaged and has been written anew (FIDO2 "
			          "signature counters and the last used TOTP step are lost)"));
		else
			printf(
			    "%s %zu%s\n",
			    MG_TR(
			        "状態ファイルが壊れていたため修復しました。引き継いだ FIDO2 "
			        "署名カウンタ:",
			        "the state file was damaged and has been repaired; FIDO2 signature "
			        "counters kept:"),
			    rep.counters_kept,
			    rep.step_kept ? MG_TR("、TOTP の使用済みステップも引き継ぎました",
			                          ", the last used TOTP step too")
			                  : MG_TR("、TOTP の使用済みステップは失われました",
			                          ", the last used TOTP step is lost"));
	}
	if (o->reset_totp_step) {
		event(conf, MG_EV_AUTH_UNLOCK, o->user, "totp-step-reset");
		printf("%s\n", MG_TR("TOTP の使用済みステップを消去しました",
		                     "the last used TOTP step has been cleared"));
	}
	event(conf, MG_EV_AUTH_UNLOCK, o->user, "admin");
	printf("%s %s\n", MG_TR("ロックを解除しました:", "unlocked:"), o->user);
	return 0;
}

/*
 * Creates path with mode when it is missing, and its missing parents with 0755 (the umask is
 * 022). An existing directory is left as it is: every later access checks owner and mode.
 * 1 created, 0 present, or negative errno.
 */
static int make_dir(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	if (path[0] != '/')
		return -EINVAL;
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) == 0)
		return 1;
	return errno == EEXIST ? 0 : -errno;
}

/*
 * A fresh install has no credential or state directory: without them nobody can be enrolled
 * and every login fails. Made here, owned by the user running the tool (the trusted owner):
 * credential_dir and fido2/ 0755 (the module reads public FIDO2 data as the user in screen
 * lockers), totp/ and state_dir 0700. deploy/tmpfiles/mynaguard-pam.conf makes the same.
 */
static int ensure_dirs(const struct mg_pam_conf *conf)
{
	char fido2[PATH_MAX], totp[PATH_MAX];
	if (snprintf(fido2, sizeof(fido2), "%s/fido2", conf->credential_dir) >=
	        (int)sizeof(fido2) ||
	    snprintf(totp, sizeof(totp), "%s/totp", conf->credential_dir) >= (int)sizeof(totp))
		return -ENAMETOOLONG;
	const struct {
		const char *path;
		mode_t mode;
	} dirs[] = {
	    {conf->credential_dir, 0755}, {fido2, 0755}, {totp, 0700}, {conf->state_dir, 0700}};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		int r = make_dir(dirs[i].path, dirs[i].mode);
		if (r < 0) {
			fprintf(stderr, "%s: %s: %s\n",
			        MG_TR("ディレクトリを作れません", "cannot create the directory"),
			        dirs[i].path, strerror(-r));
			return r;
		}
		if (r > 0)
			fprintf(stderr, "%s: %s (%04o)\n", MG_TR("作成しました", "created"),
			        dirs[i].path, (unsigned)dirs[i].mode);
	}
	return 0;
}

static const struct command commands[] = {
    {"totp", cmd_totp,
     "--user USER [--secret-stdin | --secret-file FILE] [--algorithm sha1|sha256|sha512] "
     "[--digits 6|8] [--period S] [--label L] [--qr] [--qr-png FILE] [--replace] "
     "[--allow-unknown-user]"},
    {"fido2", cmd_fido2,
     "--user USER [--label L] [--uv] [--device N] [--allow-unknown-user] "
     "[--central [--agent-socket PATH]]"},
    {"list", cmd_list, "--user USER"},
    {"remove", cmd_remove, "--user USER --label L"},
    {"unlock", cmd_unlock, "--user USER [--reset-totp-step]"},
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
	static const struct option lopts[] = {{"config", required_argument, NULL, 'c'},
	                                      {"user", required_argument, NULL, 'u'},
	                                      {"secret", required_argument, NULL, 's'},
	                                      {"algorithm", required_argument, NULL, 'a'},
	                                      {"digits", required_argument, NULL, 'd'},
	                                      {"period", required_argument, NULL, 'p'},
	                                      {"label", required_argument, NULL, 'l'},
	                                      {"device", required_argument, NULL, 'D'},
	                                      {"qr", no_argument, NULL, 'q'},
	                                      {"uv", no_argument, NULL, 'v'},
	                                      {"help", no_argument, NULL, 'h'},
	                                      {"secret-stdin", no_argument, NULL, 'S'},
	                                      {"secret-file", required_argument, NULL, 'F'},
	                                      {"qr-png", required_argument, NULL, 'P'},
	                                      {"replace", no_argument, NULL, 'r'},
	                                      {"allow-unknown-user", no_argument, NULL, 'U'},
	                                      {"reset-totp-step", no_argument, NULL, 'R'},
	                                      {"central", no_argument, NULL, 'C'},
	                                      {"agent-socket", required_argument, NULL, 'A'},
	                                      {NULL, 0, NULL, 0}};
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
			/* Already readable in /proc/PID/cmdline: refused below; shortened
			 * meanwhile. */
			explicit_bzero(optarg, strlen(optarg));
			o.secret_argv = true;
			break;
		case 'S':
			o.secret_stdin = true;
			break;
		case 'F':
			o.secret_file = optarg;
			break;
		case 'P':
			o.qr_png = optarg;
			break;
		case 'r':
			o.replace = true;
			break;
		case 'U':
			o.allow_unknown = true;
			break;
		case 'R':
			o.reset_totp_step = true;
			break;
		case 'C':
			o.central = true;
			break;
		case 'A':
			o.agent_socket = optarg;
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
	if (o.secret_argv) {
		fprintf(
		    stderr, "%s\n",
		    MG_TR("--secret は使えません (秘密鍵が他のユーザーからプロセス一覧で見えます)。"
		          "--secret-stdin (標準入力) か --secret-file FILE を使ってください",
		          "--secret is refused (the secret would be visible to other users in "
		          "the process list): use --secret-stdin (standard input) or "
		          "--secret-file FILE"));
		return 2;
	}
	if (o.secret_stdin && o.secret_file) {
		fprintf(stderr, "%s\n",
		        MG_TR("--secret-stdin と --secret-file は同時に使えません",
		              "--secret-stdin and --secret-file exclude each other"));
		return 2;
	}
	/* "unlock USER" as well as "unlock --user USER". */
	if (optind == argc - 2 && strcmp(argv[optind], "unlock") == 0 && !o.user)
		o.user = argv[optind + 1];
	else if (optind != argc - 1)
		return usage();
	if (o.reset_totp_step && strcmp(argv[optind], "unlock") != 0)
		return usage();
	if ((o.central || o.agent_socket) &&
	    (strcmp(argv[optind], "fido2") != 0 || (o.agent_socket && !o.central)))
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
	if (ensure_dirs(&conf) < 0) {
		mg_pam_conf_free(&conf);
		return 1;
	}
	int rc = cmd->run(&conf, &o);
	mg_pam_conf_free(&conf);
	return rc;
}
