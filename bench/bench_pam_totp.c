/*
 * PAM benchmarks (docs/PERFORMANCE.md, section PAM). Run through bench/run-pam-bench.sh,
 * which preloads pam_wrapper and nss_wrapper (and the soft FIDO2 shim for "fido2").
 *
 *   bench_pam_totp totp N MODULE PAM_OATH   whole-stack TOTP logins through libpam:
 *       pam_mynaguard.so (replay protection and lockout on) and Debian's pam_oath.so
 *       (usersfile, window 1) interleaved in the same run, N users, each logging in once
 *       with its current code (both modules refuse a reused code), plus N wrong codes;
 *       every user has failed once before (not measured), so that mynaguard's state file
 *       exists as it does after a user's first login.
 *   bench_pam_totp state N                  the state transaction alone (lock, read, one
 *       changed record written durably, unlock) on one user's existing state file.
 *   bench_pam_totp fido2 N MODULE           FIDO2 with the software authenticator: the
 *       whole login through libpam, the key's part alone, and mynaguard's verification
 *       (signature, counter, state transaction) excluding the key.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_appl.h>

#include "authcore.h"
#include "authstate.h"
#include "credstore.h"
#include "fido2_auth.h"
#include "fido2_enroll.h"
#include "mg/time.h"
#include "pam_conf.h"
#include "safe_dir.h"
#include "totp_auth.h"

static char g_dir[256];
static const char *g_answer;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void put(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		perror(path);
		exit(1);
	}
	fchmod(fd, mode);
	close(fd);
}

static int conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	(void)data;
	struct pam_response *r = calloc((size_t)n, sizeof(*r));
	for (int i = 0; i < n; i++)
		if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF ||
		    msg[i]->msg_style == PAM_PROMPT_ECHO_ON)
			r[i].resp = strdup(g_answer ? g_answer : "");
	*resp = r;
	return PAM_SUCCESS;
}

/* One whole-stack authentication; returns its time in ms and the PAM code in *rc. */
static double login(const char *service, const char *user, const char *answer, int *rc)
{
	struct pam_conv c = {conv, NULL};
	pam_handle_t *ph = NULL;
	g_answer = answer;
	double t0 = now_ms();
	int r = pam_start(service, user, &c, &ph);
	if (r == PAM_SUCCESS)
		r = pam_authenticate(ph, 0);
	pam_end(ph, r);
	*rc = r;
	return now_ms() - t0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *what, double *v, size_t n, int ok, int expect_ok)
{
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += v[i];
	qsort(v, n, sizeof(*v), cmp);
	printf("| %s | %zu | %.3f | %.3f | %.3f | %d/%d |\n", what, n, sum / (double)n, v[n / 2],
	       v[(size_t)((double)n * 0.95)], ok, expect_ok);
}

static void secret_of(int i, struct mg_totp_cred *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->user, sizeof(c->user), "u%04d", i);
	snprintf(c->label, sizeof(c->label), "totp");
	c->secret_len = 20;
	for (size_t k = 0; k < 20; k++)
		c->secret[k] = (unsigned char)(i * 31 + (int)k + 1);
	c->digits = 6;
	c->period = 30;
	mg_time_format(mg_now_us(), c->created);
}

static int bench_totp(int n, const char *module, const char *oath)
{
	char path[320], text[1024], *users = calloc((size_t)n, 128), *pw = calloc((size_t)n, 128);
	double *tm = calloc((size_t)n, sizeof(double)), *to = calloc((size_t)n, sizeof(double));
	double *wm = calloc((size_t)n, sizeof(double)), *wo = calloc((size_t)n, sizeof(double));
	int okm = 0, oko = 0, rc;
	char creds[320];
	snprintf(creds, sizeof(creds), "%s/credentials", g_dir);
	mkdir(creds, 0755);
	snprintf(path, sizeof(path), "%s/state", g_dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/pam.conf", g_dir);
	snprintf(text, sizeof(text),
	         "factors = totp\ncredential_dir = %s/credentials\nstate_dir = %s/state\n"
	         "fail_delay_ms = 0\ndeny_after = 5\nunlock_after = 15m\ntotp_window = 1\n",
	         g_dir, g_dir);
	put(path, text, 0644);
	/* pam_oath's usersfile and nss_wrapper's passwd, one line per user. */
	size_t ul = 0, pl = 0;
	pl += (size_t)snprintf(pw + pl, 128, "root:x:0:0::/root:/bin/sh\n");
	for (int i = 0; i < n; i++) {
		struct mg_totp_cred c;
		char hex[41];
		secret_of(i, &c);
		if (mg_credstore_save_totp(creds, geteuid(), &c) < 0)
			return 1;
		for (int k = 0; k < 20; k++)
			snprintf(hex + 2 * k, 3, "%02x", c.secret[k]);
		ul += (size_t)snprintf(users + ul, 128, "HOTP/T30 u%04d - %s\n", i, hex);
		pl += (size_t)snprintf(pw + pl, 128, "u%04d:x:%d:%d::/h:/bin/sh\n", i, 2000 + i,
		                       2000 + i);
	}
	snprintf(path, sizeof(path), "%s/users.oath", g_dir);
	put(path, users, 0600);
	snprintf(path, sizeof(path), "%s/passwd", g_dir);
	put(path, pw, 0644);
	setenv("NSS_WRAPPER_PASSWD", path, 1);
	snprintf(path, sizeof(path), "%s/group", g_dir);
	put(path, "root:x:0:\n", 0644);
	setenv("NSS_WRAPPER_GROUP", path, 1);
	snprintf(path, sizeof(path), "%s/services", g_dir);
	mkdir(path, 0755);
	setenv("PAM_WRAPPER_SERVICE_DIR", path, 1);
	snprintf(path, sizeof(path), "%s/services/mynaguard", g_dir);
	snprintf(text, sizeof(text), "auth required %s conf=%s/pam.conf\n", module, g_dir);
	put(path, text, 0644);
	snprintf(path, sizeof(path), "%s/services/oath", g_dir);
	snprintf(text, sizeof(text), "auth required %s usersfile=%s/users.oath window=1\n", oath,
	         g_dir);
	put(path, text, 0644);
	snprintf(path, sizeof(path), "%s/services/other", g_dir);
	put(path, "auth required pam_deny.so\n", 0644);

	/*
	 * Steady state, not first logins: every user has logged in (here: failed) once before,
	 * so mynaguard's per-user state file exists, as pam_oath's usersfile always does.
	 */
	for (int i = 0; i < n; i++) {
		char user[16];
		snprintf(user, sizeof(user), "u%04d", i);
		(void)login("mynaguard", user, "000000", &rc);
		(void)login("oath", user, "000000", &rc);
	}
	for (int i = 0; i < n; i++) {
		struct mg_totp_cred c;
		char user[16], code[16];
		secret_of(i, &c);
		snprintf(user, sizeof(user), "u%04d", i);
		mg_totp_generate(&c, time(NULL), code, sizeof(code));
		/* Interleaved, the order alternating, so both see the same machine state. */
		if (i % 2) {
			to[i] = login("oath", user, code, &rc);
			oko += rc == PAM_SUCCESS;
			tm[i] = login("mynaguard", user, code, &rc);
			okm += rc == PAM_SUCCESS;
		} else {
			tm[i] = login("mynaguard", user, code, &rc);
			okm += rc == PAM_SUCCESS;
			to[i] = login("oath", user, code, &rc);
			oko += rc == PAM_SUCCESS;
		}
		wm[i] = login("mynaguard", user, "000000", &rc);
		wo[i] = login("oath", user, "000000", &rc);
	}
	printf("| module, whole-stack TOTP through libpam | logins | mean ms | p50 ms | p95 ms | "
	       "accepted |\n|---|---|---|---|---|---|\n");
	report("pam_mynaguard.so, right code", tm, (size_t)n, okm, n);
	report("pam_oath.so, right code", to, (size_t)n, oko, n);
	report("pam_mynaguard.so, wrong code", wm, (size_t)n, 0, 0);
	report("pam_oath.so, wrong code", wo, (size_t)n, 0, 0);
	return okm == n && oko == n ? 0 : 1;
}

static int bench_state(int n)
{
	char dir[320];
	double *v = calloc((size_t)n, sizeof(double));
	int ok = 0;
	snprintf(dir, sizeof(dir), "%s/state", g_dir);
	if (!v || mkdir(dir, 0700) < 0) {
		free(v);
		return 1;
	}
	/* i = -1: the first write creates the file (not measured). */
	for (int i = -1; i < n; i++) {
		struct mg_authstate_txn *txn = NULL;
		double t0 = now_ms();
		if (mg_authstate_txn_begin(dir, geteuid(), "bench", &txn) < 0)
			break;
		struct mg_authstate *st = mg_authstate_txn_state(txn);
		st->failures = (uint64_t)(i + 1) % 5;
		st->last_totp_step = (uint64_t)(i + 100);
		int r = mg_authstate_txn_commit(txn);
		mg_authstate_txn_end(&txn);
		if (i >= 0) {
			v[i] = now_ms() - t0;
			ok += r == 0;
		}
	}
	printf("| state transaction | runs | mean ms | p50 ms | p95 ms | written |\n"
	       "|---|---|---|---|---|---|\n");
	report("lock, read, write in place, fdatasync, unlock", v, (size_t)n, ok, n);
	free(v);
	return ok == n ? 0 : 1;
}

/*
 * As root the module talks to the keys from a child dropped to "nobody" (issue 13, finding
 * 13): the software keys' state (a file in a directory of its own, run-pam-bench.sh) is given
 * to uid 65534 before each whole login, as the key's part run here as root takes it back.
 */
static void chown_nobody(const char *path)
{
	if (chown(path, 65534, 65534) < 0)
		fprintf(stderr, "chown %s: %s\n", path, strerror(errno));
}

static void give_soft_to_nobody(void)
{
	const char *state = getenv("MG_SOFT_FIDO2_STATE");
	char p[PATH_MAX];
	if (geteuid() != 0 || !state || snprintf(p, sizeof(p), "%s", state) >= (int)sizeof(p))
		return;
	chown_nobody(state);
	if (snprintf(p, sizeof(p), "%s.lock", state) < (int)sizeof(p))
		chown_nobody(p);
	char *slash = strrchr(p, '/');
	if (slash && slash != p) {
		*slash = '\0';
		chown_nobody(p);
	}
}

static int bench_fido2(int n, const char *module)
{
	char path[320], text[1024];
	struct mg_pam_conf conf;
	struct mg_config_error err;
	struct mg_fido2_devs *devs = NULL;
	struct mg_fido2_credfile *f = NULL;
	double *whole = calloc((size_t)n, sizeof(double)), *key = calloc((size_t)n, sizeof(double));
	double *ver = calloc((size_t)n, sizeof(double));
	int okw = 0, okv = 0, rc;
	snprintf(path, sizeof(path), "%s/credentials", g_dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/state", g_dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/pam.conf", g_dir);
	snprintf(text, sizeof(text),
	         "factors = fido2\ncredential_dir = %s/credentials\nstate_dir = %s/state\n"
	         "fail_delay_ms = 0\nuv = discouraged\nrp_id = pam://bench\n",
	         g_dir, g_dir);
	put(path, text, 0644);
	if (mg_pam_conf_load(path, geteuid(), &conf, &err) < 0 ||
	    mg_fido2_devs_open(0, &devs) < 0) {
		fprintf(stderr, "no configuration or no (soft) key\n");
		return 1;
	}
	f = mg_fido2_credfile_new("root");
	struct mg_fido2_cred c;
	memset(&c, 0, sizeof(c));
	snprintf(c.label, sizeof(c.label), "bench");
	mg_time_format(mg_now_us(), c.created);
	if (mg_fido2_make_cred(devs, 0, conf.rp_id, "root", f, NULL, false, &c, NULL) < 0 ||
	    mg_fido2_credfile_add(f, &c) < 0 ||
	    mg_credstore_save_fido2(conf.credential_dir, geteuid(), f) < 0) {
		fprintf(stderr, "enrolment failed\n");
		return 1;
	}
	mg_fido2_devs_free(&devs);
	snprintf(path, sizeof(path), "%s/services", g_dir);
	mkdir(path, 0755);
	setenv("PAM_WRAPPER_SERVICE_DIR", path, 1);
	snprintf(path, sizeof(path), "%s/services/mynaguard", g_dir);
	snprintf(text, sizeof(text), "auth required %s conf=%s/pam.conf\n", module, g_dir);
	put(path, text, 0644);
	struct mg_fido2_allow allow = {c.id, c.id_len};
	for (int i = 0; i < n; i++) {
		give_soft_to_nobody();
		whole[i] = login("mynaguard", "root", "", &rc);
		okw += rc == PAM_SUCCESS;
		struct mg_fido2_request req = {
		    .rp_id = conf.rp_id, .allow = &allow, .nallow = 1, .timeout_ms = 5000};
		struct mg_fido2_assertion a;
		struct mg_auth_outcome o;
		enum mg_fido2_status st;
		uint64_t sc = 0;
		bool uv = false;
		memset(req.cdh, i, sizeof(req.cdh));
		if (mg_fido2_devs_open(0, &devs) < 0)
			return 1;
		double t0 = now_ms();
		if (mg_fido2_get_assertion(devs, &req, &st, &a) < 0 || st != MG_FIDO2_OK) {
			fprintf(stderr, "assertion failed: %s\n", mg_fido2_status_reason(st));
			return 1;
		}
		double t1 = now_ms();
		mg_fido2_devs_free(&devs);
		int r = mg_fido2_verify(&c, conf.rp_id, req.cdh, a.authdata, a.authdata_len, a.sig,
		                        a.sig_len, false, &sc, &uv);
		if (r == 0)
			r = mg_auth_fido2_finish(&conf, "root", true, &c, sc, (uint64_t)time(NULL),
			                         &o);
		double t2 = now_ms();
		okv += r == 0 && o.success;
		key[i] = t1 - t0;
		ver[i] = t2 - t1;
	}
	printf("| FIDO2, software authenticator | logins | mean ms | p50 ms | p95 ms | accepted "
	       "|\n|---|---|---|---|---|---|\n");
	report("whole login through libpam (pam_mynaguard.so)", whole, (size_t)n, okw, n);
	report("the key's part (libfido2 + soft authenticator)", key, (size_t)n, okv, n);
	report("mynaguard verification excluding the key", ver, (size_t)n, okv, n);
	mg_fido2_devs_free(&devs);
	mg_fido2_credfile_free(&f);
	mg_pam_conf_free(&conf);
	return okw == n && okv == n ? 0 : 1;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/*
 * The module refuses a state_dir below a directory writable by others (such as /tmp): the
 * directory goes under $MG_PAM_BENCH_DIR, else /run for root, else $HOME, checked as the
 * module checks it (tests/pam/safe_tmp.c does the same for the tests).
 */
static int bench_mkdtemp(void)
{
	const char *base = getenv("MG_PAM_BENCH_DIR");
	char why[320];
	if (!base || !base[0])
		base = geteuid() == 0 ? "/run" : getenv("HOME");
	int fd = base ? mg_pam_dir_open(base, geteuid(), why, sizeof(why)) : -1;
	if (fd < 0) {
		fprintf(stderr,
		        "no safe base directory for the benchmark: %s; set MG_PAM_BENCH_DIR to a "
		        "directory whose parents belong to root or you and are not group/world "
		        "writable\n",
		        base ? why : "no HOME");
		return -1;
	}
	close(fd);
	if (snprintf(g_dir, sizeof(g_dir), "%s/mg-pam-bench.XXXXXX", base) >= (int)sizeof(g_dir) ||
	    !mkdtemp(g_dir) || chmod(g_dir, 0755) < 0) {
		perror("mkdtemp");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s totp N MODULE PAM_OATH | state N | fido2 N MODULE\n",
		        argv[0]);
		return 2;
	}
	uint64_t nn = 0;
	if (mg_parse_u64(argv[2], 1, 100000, &nn) < 0)
		return 2;
	int n = (int)nn;
	if (bench_mkdtemp() < 0)
		return 1;
	int r = strcmp(argv[1], "totp") == 0 && argc == 5    ? bench_totp(n, argv[3], argv[4])
	        : strcmp(argv[1], "state") == 0 && argc == 3 ? bench_state(n)
	        : strcmp(argv[1], "fido2") == 0 && argc == 4 ? bench_fido2(n, argv[3])
	                                                     : 2;
	/* nftw, not system("rm -rf"): a shell under pam_wrapper would leave a copy of the
	 * service directory in /tmp. */
	if (nftw(g_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS) != 0)
		r = 1;
	return r;
}
