/*
 * mynaguard-enroll totp, as an administrator runs it (issue 13, findings 3, 9, 11, 12): the
 * secret never on the command line (--secret refused; --secret-stdin, --secret-file), secrets
 * shorter than 128 bits refused, the directories of a fresh install created, re-enrolment only
 * with --replace, unknown users only with --allow-unknown-user, QR codes that scan on light and
 * dark terminals (explicit colours, quiet zone) and as a PNG file (--qr-png). The enrol tool
 * runs as a child under nss_wrapper (users alice, bob, nobody).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <png.h>
#include <qrencode.h>
#include <security/pam_appl.h>

#include "pam_harness.h"

/* 20 bytes (160 bits) and 10 bytes (80 bits) in base32. */
#define SECRET_160 "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
#define SECRET_80  "JBSWY3DPEHPK3PXP"
#define QUIET      4 /* modules of light margin on each side (ISO/IEC 18004) */

static int setup(void **state)
{
	struct harness *h = calloc(1, sizeof(*h));
	h_new(h, "factors = totp\n");
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	struct harness *h = *state;
	h_free(h);
	free(h);
	return 0;
}

static const char *enroll(void)
{
	const char *e = getenv("MG_PAM_ENROLL");
	assert_non_null(e);
	return e;
}

static bool exists(const char *path)
{
	struct stat sb;
	return lstat(path, &sb) == 0;
}

static void totp_path(struct harness *h, const char *user, char *buf, size_t len)
{
	snprintf(buf, len, "%s/totp/%s.json", h->creds, user);
}

/* The secret= of the otpauth URI in out, decoded. */
static size_t uri_secret(const char *out, unsigned char *secret, size_t cap, char *b32,
                         size_t b32len)
{
	const char *s = strstr(out, "secret=");
	assert_non_null(s);
	s += 7;
	size_t n = strcspn(s, "&");
	assert_true(n < b32len);
	memcpy(b32, s, n);
	b32[n] = '\0';
	size_t len = 0;
	assert_int_equal(mg_base32_decode(b32, secret, cap, &len), 0);
	return len;
}

/* The first line of out (the otpauth URI) into uri. */
static void first_line(const char *out, char *uri, size_t len)
{
	const char *p = strstr(out, "otpauth://");
	assert_non_null(p);
	size_t n = strcspn(p, "\n");
	assert_true(n < len);
	memcpy(uri, p, n);
	uri[n] = '\0';
}

/* Finding 3: "--secret VALUE" is refused, naming the options that keep it out of argv. */
static void secret_on_command_line_refused(void **state)
{
	struct harness *h = *state;
	char out[8192], path[PATH_MAX + 64];
	const char *argv[] = {enroll(), "--config", h->conf,    "totp", "--user",
	                      "bob",    "--secret", SECRET_160, NULL};
	assert_int_equal(h_run(argv, NULL, out, sizeof(out)), 2);
	assert_non_null(strstr(out, "--secret-stdin"));
	assert_non_null(strstr(out, "--secret-file"));
	assert_null(strstr(out, "otpauth://"));
	totp_path(h, "bob", path, sizeof(path));
	assert_false(exists(path));
}

/* Finding 3: the secret from stdin or from a file; argv never holds it. */
static void secret_from_stdin_or_file(void **state)
{
	struct harness *h = *state;
	char out[8192], b32[256], path[PATH_MAX + 64], file[PATH_MAX + 64];
	unsigned char secret[64];
	const char *argv[] = {enroll(), "--config", h->conf,          "totp",
	                      "--user", "bob",      "--secret-stdin", NULL};
	for (size_t i = 0; argv[i]; i++)
		assert_null(strstr(argv[i], SECRET_160));
	assert_int_equal(h_run(argv, "jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp\n", out, sizeof(out)),
	                 0);
	assert_int_equal(uri_secret(out, secret, sizeof(secret), b32, sizeof(b32)), 20);
	assert_string_equal(b32, SECRET_160);
	/* The stored file holds that secret: its codes log in. */
	struct mg_totp_cred c;
	struct h_conv conv;
	char code[16];
	memset(&c, 0, sizeof(c));
	memcpy(c.secret, secret, 20);
	c.secret_len = 20;
	c.digits = 6;
	c.period = 30;
	h_avoid_step_edge(30);
	h_totp_code(&c, 0, code, sizeof(code));
	memset(&conv, 0, sizeof(conv));
	conv.answers[0] = code;
	conv.nanswers = 1;
	assert_int_equal(h_auth(h, "bob", &conv), PAM_SUCCESS);
	h_conv_free(&conv);

	/* --secret-file: a file the administrator prepared (first line). */
	snprintf(file, sizeof(file), "%s/secret.txt", h->root);
	int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	const char *text = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n"; /* "1234567890" twice */
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	const char *fromfile[] = {enroll(),  "--config", h->conf,         "totp", "--user", "alice",
	                          "--label", "phone",    "--secret-file", file,   NULL};
	assert_int_equal(h_run(fromfile, NULL, out, sizeof(out)), 0);
	assert_int_equal(uri_secret(out, secret, sizeof(secret), b32, sizeof(b32)), 20);
	assert_memory_equal(secret, "12345678901234567890", 20);
	totp_path(h, "alice", path, sizeof(path));
	assert_true(exists(path));

	/* A missing file, an empty one and one far too large are refused with a message. */
	const char *missing[] = {enroll(), "--config", h->conf,         "totp",
	                         "--user", "nobody",   "--secret-file", "/nonexistent/secret",
	                         NULL};
	assert_int_equal(h_run(missing, NULL, out, sizeof(out)), 2);
	assert_non_null(strstr(out, "--secret-file"));
	char big[8192];
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	const char *nobody[] = {enroll(), "--config", h->conf,          "totp",
	                        "--user", "nobody",   "--secret-stdin", NULL};
	assert_int_equal(h_run(nobody, big, out, sizeof(out)), 2);
	assert_int_equal(h_run(nobody, "", out, sizeof(out)), 2);
	/* Both sources at once: refused. */
	const char *both[] = {enroll(), "--config",       h->conf,         "totp", "--user",
	                      "nobody", "--secret-stdin", "--secret-file", file,   NULL};
	assert_int_equal(h_run(both, SECRET_160 "\n", out, sizeof(out)), 2);
	totp_path(h, "nobody", path, sizeof(path));
	assert_false(exists(path));
}

/* Finding 9: an 80-bit secret is refused at enrolment; generated secrets are >= 160 bits. */
static void short_secret_refused(void **state)
{
	struct harness *h = *state;
	char out[8192], b32[256], path[PATH_MAX + 64];
	unsigned char secret[64];
	const char *argv[] = {enroll(), "--config", h->conf,          "totp",
	                      "--user", "bob",      "--secret-stdin", NULL};
	assert_int_equal(h_run(argv, SECRET_80 "\n", out, sizeof(out)), 2);
	assert_non_null(strstr(out, "128"));
	totp_path(h, "bob", path, sizeof(path));
	assert_false(exists(path));
	static const char *const algs[] = {"sha1", "sha256", "sha512"};
	static const size_t want[] = {20, 32, 64};
	for (size_t i = 0; i < 3; i++) {
		const char *gen[] = {enroll(), "--config",    h->conf, "totp",      "--user",
		                     "bob",    "--algorithm", algs[i], "--replace", NULL};
		assert_int_equal(h_run(gen, NULL, out, sizeof(out)), 0);
		assert_int_equal(uri_secret(out, secret, sizeof(secret), b32, sizeof(b32)),
		                 want[i]);
	}
}

/* Finding 11: a fresh install has neither credentials/ nor auth-state/. */
static void fresh_install_creates_directories(void **state)
{
	struct harness *h = *state;
	char out[8192], path[PATH_MAX + 64], b32[256];
	unsigned char secret[64];
	snprintf(path, sizeof(path), "%s/totp", h->creds);
	assert_int_equal(rmdir(path), 0);
	snprintf(path, sizeof(path), "%s/fido2", h->creds);
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(rmdir(h->creds), 0);
	assert_int_equal(rmdir(h->state), 0);
	const char *argv[] = {enroll(), "--config", h->conf,          "totp",
	                      "--user", "bob",      "--secret-stdin", NULL};
	assert_int_equal(h_run(argv, SECRET_160 "\n", out, sizeof(out)), 0);
	static const struct {
		const char *sub;
		bool state;
		mode_t mode;
	} dirs[] = {
	    {"", false, 0755}, {"/fido2", false, 0755}, {"/totp", false, 0700}, {"", true, 0700}};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		struct stat sb;
		snprintf(path, sizeof(path), "%s%s", dirs[i].state ? h->state : h->creds,
		         dirs[i].sub);
		assert_int_equal(lstat(path, &sb), 0);
		assert_true(S_ISDIR(sb.st_mode));
		assert_int_equal(sb.st_uid, geteuid());
		assert_int_equal(sb.st_mode & 07777, dirs[i].mode);
	}
	/* And the user can log in with it. */
	struct mg_totp_cred c;
	struct h_conv conv;
	char code[16];
	memset(&c, 0, sizeof(c));
	c.secret_len = uri_secret(out, secret, sizeof(secret), b32, sizeof(b32));
	memcpy(c.secret, secret, c.secret_len);
	c.digits = 6;
	c.period = 30;
	h_avoid_step_edge(30);
	h_totp_code(&c, 0, code, sizeof(code));
	memset(&conv, 0, sizeof(conv));
	conv.answers[0] = code;
	conv.nanswers = 1;
	assert_int_equal(h_auth(h, "bob", &conv), PAM_SUCCESS);
	h_conv_free(&conv);
}

static void read_text(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/* Finding 11: enrolling again replaces the secret only with --replace. */
static void reenrol_needs_replace(void **state)
{
	struct harness *h = *state;
	char out[8192], path[PATH_MAX + 64], before[4096], after[4096];
	const char *argv[] = {enroll(), "--config", h->conf, "totp", "--user", "bob", NULL};
	assert_int_equal(h_run(argv, NULL, out, sizeof(out)), 0);
	totp_path(h, "bob", path, sizeof(path));
	read_text(path, before, sizeof(before));
	assert_int_not_equal(h_run(argv, NULL, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "--replace"));
	assert_null(strstr(out, "otpauth://"));
	read_text(path, after, sizeof(after));
	assert_string_equal(before, after);
	const char *again[] = {enroll(), "--config", h->conf,     "totp",
	                       "--user", "bob",      "--replace", NULL};
	assert_int_equal(h_run(again, NULL, out, sizeof(out)), 0);
	read_text(path, after, sizeof(after));
	assert_string_not_equal(before, after);
}

/* Finding 11: a user the system does not know is refused unless --allow-unknown-user. */
static void unknown_user_needs_flag(void **state)
{
	struct harness *h = *state;
	char out[8192], path[PATH_MAX + 64];
	const char *argv[] = {enroll(), "--config", h->conf, "totp", "--user", "mallory", NULL};
	assert_int_not_equal(h_run(argv, NULL, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "--allow-unknown-user"));
	totp_path(h, "mallory", path, sizeof(path));
	assert_false(exists(path));
	const char *fido2[] = {enroll(), "--config", h->conf, "fido2", "--user", "mallory", NULL};
	assert_int_not_equal(h_run(fido2, NULL, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "--allow-unknown-user"));
	const char *allowed[] = {
	    enroll(), "--config", h->conf, "totp", "--user", "mallory", "--allow-unknown-user",
	    NULL};
	assert_int_equal(h_run(allowed, NULL, out, sizeof(out)), 0);
	assert_true(exists(path));
}

/* The modules libqrencode makes of uri, as mynaguard-enroll asks for them. */
static QRcode *expected_qr(const char *uri)
{
	QRcode *q = QRcode_encodeString(uri, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	assert_non_null(q);
	return q;
}

static bool qr_dark(const QRcode *q, int x, int y)
{
	int w = q->width;
	return x >= 0 && y >= 0 && x < w && y < w && (q->data[y * w + x] & 1);
}

/*
 * Finding 12: the terminal QR code sets both colours of every cell (black 30/40, bright white
 * 97/107, "▀": top module in the foreground colour, bottom module in the background colour),
 * so it does not depend on the terminal's own colours, and has a light quiet zone of 4 modules.
 */
static void qr_terminal_explicit_colours(void **state)
{
	struct harness *h = *state;
	static char out[65536];
	char uri[2048];
	const char *argv[] = {enroll(), "--config", h->conf, "totp", "--user", "bob", "--qr", NULL};
	assert_int_equal(h_run(argv, NULL, out, sizeof(out)), 0);
	first_line(out, uri, sizeof(uri));
	QRcode *q = expected_qr(uri);
	int side = q->width + 2 * QUIET;
	int row = 0, lines = 0;
	for (const char *line = strchr(out, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
		const char *p = line + 1;
		size_t n = strcspn(p, "\n");
		if (!memmem(p, n, "\u2580", 3))
			continue;
		lines++;
		int fg = -1, bg = -1, col = 0;
		const char *end = p + n;
		while (p < end) {
			if (p[0] == '\033') {
				assert_true(p + 1 < end && p[1] == '[');
				p += 2;
				while (p < end && *p != 'm') {
					char *e = NULL;
					long v = strtol(p, &e, 10);
					assert_true(e > p);
					if (v == 30 || v == 97)
						fg = v == 30 ? 1 : 0;
					else if (v == 40 || v == 107)
						bg = v == 40 ? 1 : 0;
					else
						assert_int_equal(v, 0); /* reset only at the end */
					if (v == 0)
						fg = bg = -1;
					p = e;
					if (p < end && *p == ';')
						p++;
				}
				assert_true(p < end);
				p++;
				continue;
			}
			assert_memory_equal(p, "\u2580", 3); /* nothing drawn without colours */
			p += 3;
			assert_true(fg >= 0 && bg >= 0);
			int x = col - QUIET, y = row - QUIET;
			assert_int_equal(fg, qr_dark(q, x, y));
			assert_int_equal(bg, qr_dark(q, x, y + 1));
			col++;
		}
		assert_int_equal(col, side);
		assert_int_equal(fg, -1); /* the line ends with a reset */
		row += 2;
	}
	assert_int_equal(lines, (side + 1) / 2);
	QRcode_free(q);
}

/* Finding 12: --qr-png FILE writes a PNG (0600: it holds the secret) that decodes to the code. */
static void qr_png_output(void **state)
{
	struct harness *h = *state;
	char out[8192], uri[2048], png[PATH_MAX + 64];
	snprintf(png, sizeof(png), "%s/bob-totp.png", h->root);
	const char *argv[] = {enroll(), "--config", h->conf, "totp", "--user",
	                      "bob",    "--qr-png", png,     NULL};
	assert_int_equal(h_run(argv, NULL, out, sizeof(out)), 0);
	first_line(out, uri, sizeof(uri));
	struct stat sb;
	assert_int_equal(lstat(png, &sb), 0);
	assert_true(S_ISREG(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0600);
	png_image img;
	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	assert_int_not_equal(png_image_begin_read_from_file(&img, png), 0);
	img.format = PNG_FORMAT_GRAY;
	unsigned char *px = malloc(PNG_IMAGE_SIZE(img));
	assert_non_null(px);
	assert_int_not_equal(png_image_finish_read(&img, NULL, px, 0, NULL), 0);
	QRcode *q = expected_qr(uri);
	int side = q->width + 2 * QUIET;
	assert_int_equal(img.width, img.height);
	assert_int_equal(img.width % (unsigned)side, 0);
	int scale = (int)img.width / side;
	assert_true(scale >= 4);
	for (int my = 0; my < side; my++) {
		for (int mx = 0; mx < side; mx++) {
			bool dark = qr_dark(q, mx - QUIET, my - QUIET);
			/* every pixel of the module has its colour */
			for (int dy = 0; dy < scale; dy++)
				for (int dx = 0; dx < scale; dx++) {
					size_t i = (size_t)(my * scale + dy) * img.width +
					           (size_t)(mx * scale + dx);
					assert_int_equal(px[i], dark ? 0 : 255);
				}
		}
	}
	free(px);
	QRcode_free(q);
	/* An existing file is never overwritten (nor followed, if a link). */
	const char *again[] = {enroll(), "--config",  h->conf,    "totp", "--user",
	                       "bob",    "--replace", "--qr-png", png,    NULL};
	assert_int_not_equal(h_run(again, NULL, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "--qr-png"));
}

int main(void)
{
	h_global_setup();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(secret_on_command_line_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(secret_from_stdin_or_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(short_secret_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(fresh_install_creates_directories, setup, teardown),
	    cmocka_unit_test_setup_teardown(reenrol_needs_replace, setup, teardown),
	    cmocka_unit_test_setup_teardown(unknown_user_needs_flag, setup, teardown),
	    cmocka_unit_test_setup_teardown(qr_terminal_explicit_colours, setup, teardown),
	    cmocka_unit_test_setup_teardown(qr_png_output, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
