/*
 * Slow and unauthenticated clients against the collector (issue 14, findings 1, 2 and the log
 * bullet of 7), over loopback, bounded in time: clients without a client certificate must
 * never delay an enrolled terminal's upload or poll; bodies and request heads have deadlines;
 * a full body budget answers 503 with Retry-After after a bounded wait; refused certificates,
 * oversized bodies and overload are logged, rate-limited. Every 127.x.y.z address is loopback:
 * attackers use 127.0.0.2 and up as distinct sources, the terminal 127.0.0.1.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "api_harness.h"

#define BOOT     "5b1f2c3d-7a8e-4f90-9b1c-2d3e4f5a6b7c"
#define N_EVENTS 1000u
#define MIB      (1024u * 1024u)

static char g_log[PATH_MAX]; /* the collector's stderr */
static char g_logdir[512];   /* mkdtemp: the log and the foreign certificate */
static char *g_batch;        /* a 1,000-event batch of the enrolled terminal */
static size_t g_batch_len;
static char g_fkey[PATH_MAX + 16], g_fcert[PATH_MAX + 16]; /* a certificate of another CA */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- raw clients ---- */

/* A TCP connection from src (a loopback address) to the collector; -1 on failure. */
static int tcp_from(const char *src)
{
	struct sockaddr_in a = {.sin_family = AF_INET}, d = {.sin_family = AF_INET};
	struct timeval tv = {.tv_sec = 3};
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	inet_pton(AF_INET, src, &a.sin_addr);
	inet_pton(AF_INET, "127.0.0.1", &d.sin_addr);
	d.sin_port = htons((uint16_t)g_port);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    connect(fd, (struct sockaddr *)&d, sizeof(d)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static SSL_CTX *g_ctx_anon, *g_ctx_term, *g_ctx_foreign;

static SSL_CTX *ctx_new(const char *cert, const char *key)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());
	assert_non_null(c);
	SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
	if (cert) {
		assert_int_equal(SSL_CTX_use_certificate_file(c, cert, SSL_FILETYPE_PEM), 1);
		assert_int_equal(SSL_CTX_use_PrivateKey_file(c, key, SSL_FILETYPE_PEM), 1);
	}
	return c;
}

/* A TLS connection from src with ctx's certificate (if any); NULL on failure. */
static SSL *tls_from(const char *src, SSL_CTX *ctx)
{
	int fd = tcp_from(src);
	SSL *s;
	if (fd < 0)
		return NULL;
	s = SSL_new(ctx);
	if (!s || SSL_set_fd(s, fd) != 1 || SSL_connect(s) != 1) {
		SSL_free(s);
		close(fd);
		return NULL;
	}
	return s;
}

static void tls_close(SSL **s)
{
	if (!*s)
		return;
	int fd = SSL_get_fd(*s);
	SSL_free(*s);
	close(fd);
	*s = NULL;
}

/* Sends the head of a POST path announcing len body bytes. 0 or -1. */
static int send_head(SSL *s, const char *path, size_t len)
{
	char h[512];
	int n = snprintf(h, sizeof(h),
	                 "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
	                 "Content-Length: %zu\r\n\r\n",
	                 path, len);
	return SSL_write(s, h, n) == n ? 0 : -1;
}

/* Sends n spaces (a body). 0 or -1. */
static int send_spaces(SSL *s, size_t n)
{
	char b[16384];
	memset(b, ' ', sizeof(b));
	while (n > 0) {
		int k = (int)(n < sizeof(b) ? n : sizeof(b));
		if (SSL_write(s, b, k) != k)
			return -1;
		n -= (size_t)k;
	}
	return 0;
}

/* The status of the answer on s within timeout_ms; 0: none (closed or timed out). */
static int read_status(SSL *s, int timeout_ms)
{
	char buf[256];
	struct pollfd p = {.fd = SSL_get_fd(s), .events = POLLIN};
	int n;
	if (SSL_pending(s) == 0 && poll(&p, 1, timeout_ms) != 1)
		return 0;
	n = SSL_read(s, buf, (int)sizeof(buf) - 1);
	if (n <= 12)
		return 0;
	buf[n] = '\0';
	return strncmp(buf, "HTTP/1.1 ", 9) == 0 ? atoi(buf + 9) : 0;
}

/* True when the peer closed s (EOF or reset) within timeout_ms. */
static bool closed_within(int fd, int timeout_ms)
{
	double end = now_s() + timeout_ms / 1000.0;
	char b[4096];
	while (now_s() < end) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 100) == 1) {
			ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
				return true;
		}
	}
	return false;
}

/* ---- trickling bodies: n connections announce len bytes, then one byte each period ---- */

struct trickle {
	SSL *s[16];
	unsigned n;
	double period_s, until; /* monotonic end of the attack */
	atomic_bool stop;
	atomic_uint closed; /* connections whose write failed (closed by the server) */
	pthread_t th;
};

static void *trickle_run(void *arg)
{
	struct trickle *t = arg;
	double next = now_s() + t->period_s;
	while (!atomic_load(&t->stop) && now_s() < t->until) {
		if (now_s() >= next) {
			for (unsigned i = 0; i < t->n; i++)
				if (t->s[i] && SSL_write(t->s[i], " ", 1) != 1) {
					tls_close(&t->s[i]);
					atomic_fetch_add(&t->closed, 1);
				}
			next += t->period_s;
		}
		usleep(20000);
	}
	return NULL;
}

/* Opens n connections with ctx from src_base + i announcing len on path, trickling. */
static void trickle_start(struct trickle *t, unsigned n, SSL_CTX *ctx, const char *path, size_t len,
                          double period_s, double duration_s)
{
	memset(t, 0, sizeof(*t));
	assert_true(n <= 16);
	for (unsigned i = 0; i < n; i++) {
		char src[32];
		snprintf(src, sizeof(src), "127.0.0.%u", 2 + i);
		t->s[i] = tls_from(src, ctx);
		assert_non_null(t->s[i]);
		assert_int_equal(send_head(t->s[i], path, len), 0);
		assert_int_equal(SSL_write(t->s[i], "{", 1), 1);
	}
	t->n = n;
	t->period_s = period_s;
	t->until = now_s() + duration_s;
	atomic_store(&t->stop, false);
	atomic_store(&t->closed, 0);
	assert_int_equal(pthread_create(&t->th, NULL, trickle_run, t), 0);
}

static void trickle_stop(struct trickle *t)
{
	atomic_store(&t->stop, true);
	pthread_join(t->th, NULL);
	for (unsigned i = 0; i < t->n; i++)
		tls_close(&t->s[i]);
}

/* The enrolled terminal uploads the 1,000-event batch; its status, *secs the time taken. */
static long upload(double *secs, struct api_reply *r)
{
	double t0 = now_s();
	long st = api_call("POST", "/v1/events", NULL, g_batch, g_batch_len, g_cert, g_key, r);
	*secs = now_s() - t0;
	return st;
}

static void restart(const char *const *args)
{
	assert_true(WIFEXITED(stop_server(SIGTERM)));
	g_serve_args = args;
	start_server();
}

/* ---- log ---- */

static size_t log_size(void)
{
	struct stat st;
	return stat(g_log, &st) == 0 ? (size_t)st.st_size : 0;
}

/* Lines of the log after offset `from` containing needle. */
static unsigned log_count(size_t from, const char *needle)
{
	FILE *f = fopen(g_log, "r");
	char line[2048];
	unsigned n = 0;
	assert_non_null(f);
	fseek(f, (long)from, SEEK_SET);
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

/* ---- tests ---- */

static void test_setup(void **state)
{
	static char hashes[N_EVENTS + 1][65];
	json_t *b;
	(void)state;
	enroll("term-slow", g_key, g_cert);
	b = wire_batch("term-slow", BOOT, 1, N_EVENTS, 100, hashes);
	g_batch = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	assert_non_null(g_batch);
	g_batch_len = strlen(g_batch);
	assert_true(g_batch_len >= 64u * 1024u); /* a body that needs the budget */
	printf("the terminal's batch: %u events, %zu bytes\n", N_EVENTS, g_batch_len);
	g_ctx_anon = ctx_new(NULL, NULL);
	g_ctx_term = ctx_new(g_cert, g_key);

	/* A certificate of another CA (self-signed), for the refused-certificate log. */
	EVP_PKEY *k = new_key();
	X509 *x = X509_new();
	FILE *f;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	                           (const unsigned char *)"intruder", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, k);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	snprintf(g_fkey, sizeof(g_fkey), "%s/foreign.key", g_logdir);
	snprintf(g_fcert, sizeof(g_fcert), "%s/foreign.pem", g_logdir);
	write_key(k, g_fkey);
	f = fopen(g_fcert, "w");
	assert_non_null(f);
	PEM_write_X509(f, x);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(k);
	g_ctx_foreign = ctx_new(g_fcert, g_fkey);

	/* the batch goes through on an idle collector */
	double secs;
	assert_int_equal(upload(&secs, NULL), 200);
}

/*
 * Finding 1: eight TLS connections without a client certificate announce 1 MiB on
 * POST /v1/events and trickle a byte a second (the whole default body budget of 8 MiB);
 * the enrolled terminal's 1,000-event batch must still go through within 2 s, and the
 * intruders are refused (401) without their body being waited for.
 */
static void test_unauthenticated_cannot_starve_uploads(void **state)
{
	struct trickle t;
	struct api_reply r = {0};
	double secs;
	long st;
	(void)state;
	trickle_start(&t, 8, g_ctx_anon, "/v1/events", MIB, 1.0, 6.0);
	usleep(300000);
	st = upload(&secs, &r);
	trickle_stop(&t);
	printf("upload under 8 unauthenticated 1 MiB tricklers: %ld in %.3f s\n", st, secs);
	assert_int_equal(st, 200);
	assert_true(secs < 2.0);
	api_reply_free(&r);

	/* each intruder gets 401 at once, its body unread */
	SSL *s = tls_from("127.0.0.9", g_ctx_anon);
	assert_non_null(s);
	assert_int_equal(send_head(s, "/v1/events", MIB), 0);
	assert_int_equal(read_status(s, 1000), 401);
	tls_close(&s);
}

/*
 * Finding 1: a certificate of this CA whose host is revoked is no better than none: eight
 * such connections announcing 1 MiB get 403 from the head, reserve nothing, and the enrolled
 * terminal's batch goes through.
 */
static void test_revoked_cannot_hold_budget(void **state)
{
	char kp[PATH_MAX], cp[PATH_MAX];
	(void)state;
	int64_t id = enroll("term-revoked-budget", kp, cp);
	struct mg_store *st = store();
	assert_int_equal(mg_store_host_revoke(st, NULL, id, 2000000), 0);
	mg_store_close(&st);
	SSL_CTX *ctx = ctx_new(cp, kp);
	SSL *held[8];
	for (int i = 0; i < 8; i++) {
		char src[32];
		snprintf(src, sizeof(src), "127.0.3.%d", 1 + i);
		held[i] = tls_from(src, ctx);
		assert_non_null(held[i]);
		assert_int_equal(send_head(held[i], "/v1/events", MIB), 0);
	}
	for (int i = 0; i < 8; i++) {
		assert_int_equal(read_status(held[i], 2000), 403);
		tls_close(&held[i]);
	}
	struct trickle t;
	struct api_reply r = {0};
	double secs;
	trickle_start(&t, 8, ctx, "/v1/events", MIB, 1.0, 6.0);
	usleep(300000);
	long code = upload(&secs, &r);
	trickle_stop(&t);
	printf("upload under 8 revoked 1 MiB tricklers: %ld in %.3f s\n", code, secs);
	assert_int_equal(code, 200);
	assert_true(secs < 2.0);
	api_reply_free(&r);
	SSL_CTX_free(ctx);
}

/*
 * Finding 1: when enrolled terminals hold the whole body budget, a further large upload waits
 * at most MG_HTTP_BODY_WAIT_S (5 s) and is answered 503 with Retry-After, never indefinitely.
 */
static void test_budget_wait_is_bounded(void **state)
{
	struct trickle t;
	struct api_reply r = {0};
	char ra[16];
	double secs;
	long st;
	(void)state;
	trickle_start(&t, 8, g_ctx_term, "/v1/events", MIB, 1.0, 12.0);
	usleep(300000);
	st = upload(&secs, &r);
	trickle_stop(&t);
	printf("upload with the budget held by 8 terminals: %ld in %.3f s\n", st, secs);
	assert_int_equal(st, 503);
	assert_non_null(api_reply_header(&r, "Retry-After", ra, sizeof(ra)));
	assert_true(atoi(ra) >= 1);
	assert_true(secs >= 4.0 && secs < 8.0);
	api_reply_free(&r);
}

/* Finding 1: a body that trickles in is cut off at its deadline (--body-timeout). */
static void test_body_deadline(void **state)
{
	static const char *const args[] = {"--body-timeout", "2s", NULL};
	struct trickle t;
	double t0;
	(void)state;
	restart(args);
	trickle_start(&t, 1, g_ctx_term, "/v1/events", 100000, 0.2, 8.0);
	t0 = now_s();
	/* the trickler writes; the server closes it: the write fails and the slot empties */
	while (now_s() - t0 < 7.0 && atomic_load(&t.closed) == 0)
		usleep(50000);
	double secs = now_s() - t0;
	trickle_stop(&t);
	printf("trickled body closed after %.3f s (deadline 2 s)\n", secs);
	assert_true(secs < 4.0);
}

/*
 * The overload limit (--max-inflight-ingests) is reachable and decided before the body: with
 * one large upload in progress and a limit of 1, the next is answered 503 at once.
 */
static void test_inflight_limit_before_body(void **state)
{
	static const char *const args[] = {"--max-inflight-ingests", "1", NULL};
	struct api_reply r = {0};
	char ra[16];
	double secs;
	SSL *s;
	(void)state;
	restart(args);
	s = tls_from("127.0.0.1", g_ctx_term);
	assert_non_null(s);
	assert_int_equal(send_head(s, "/v1/events", 200000), 0);
	usleep(300000);
	long st = upload(&secs, &r);
	printf("second large upload with --max-inflight-ingests 1: %ld in %.3f s\n", st, secs);
	assert_int_equal(st, 503);
	assert_non_null(api_reply_header(&r, "Retry-After", ra, sizeof(ra)));
	assert_true(secs < 1.0);
	api_reply_free(&r);
	tls_close(&s);
}

/* Finding 2: a TCP connection that never starts TLS, and one that sends its request head a
 * byte a second, are closed at the head deadline (default 5 s; the idle timeout is 30 s). */
static void test_head_deadline(void **state)
{
	static const char *const defaults[] = {NULL};
	int fd;
	double t0;
	(void)state;
	restart(defaults);
	fd = tcp_from("127.0.0.30");
	assert_true(fd >= 0);
	t0 = now_s();
	bool closed = closed_within(fd, 9000);
	printf("idle TCP connection closed: %s after %.3f s (deadline 5 s)\n",
	       closed ? "yes" : "no", now_s() - t0);
	assert_true(closed);
	assert_true(now_s() - t0 < 7.0);
	close(fd);
	SSL *s = tls_from("127.0.0.31", g_ctx_anon);
	assert_non_null(s);
	t0 = now_s();
	while (now_s() - t0 < 9.0 && SSL_write(s, "G", 1) == 1)
		usleep(500000);
	printf("slow head closed after %.3f s (deadline 5 s)\n", now_s() - t0);
	assert_true(now_s() - t0 < 7.5);
	tls_close(&s);
}

/* ---- finding 2: 1,100 idle or slow connections from 20 addresses ---- */

#define FLOOD_ADDRS 20u
#define FLOOD_PER   55u /* below the default 64 per address */
#define FLOOD_N     (FLOOD_ADDRS * FLOOD_PER)
#define FLOOD_TLS   100u /* the first ones: slow TLS, a header byte a second; the rest idle TCP */

struct flood {
	int fd[FLOOD_N];
	SSL *ssl[FLOOD_N];
	atomic_bool stop;
	atomic_uint open_now, reopened;
	pthread_t th;
};

static void flood_open(struct flood *f, unsigned i)
{
	char src[32];
	snprintf(src, sizeof(src), "127.0.1.%u", 1 + i % FLOOD_ADDRS);
	if (i < FLOOD_TLS) {
		f->ssl[i] = tls_from(src, g_ctx_anon);
		f->fd[i] = f->ssl[i] ? SSL_get_fd(f->ssl[i]) : -1;
	} else {
		f->fd[i] = tcp_from(src);
	}
}

static void flood_close(struct flood *f, unsigned i)
{
	if (f->ssl[i])
		tls_close(&f->ssl[i]);
	else if (f->fd[i] >= 0)
		close(f->fd[i]);
	f->fd[i] = -1;
}

static void *flood_run(void *arg)
{
	struct flood *f = arg;
	double next_byte = now_s() + 1.0;
	while (!atomic_load(&f->stop)) {
		unsigned open = 0, budget = 40; /* reconnects per round */
		bool tick = now_s() >= next_byte;
		for (unsigned i = 0; i < FLOOD_N && !atomic_load(&f->stop); i++) {
			if (f->fd[i] >= 0) {
				char b[256];
				ssize_t n = recv(f->fd[i], b, sizeof(b), MSG_DONTWAIT);
				if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
				    (tick && f->ssl[i] && SSL_write(f->ssl[i], "P", 1) != 1))
					flood_close(f, i);
			}
			if (f->fd[i] < 0 && budget > 0) {
				budget--;
				flood_open(f, i);
				atomic_fetch_add(&f->reopened, 1);
			}
			if (f->fd[i] >= 0)
				open++;
		}
		if (tick)
			next_byte += 1.0;
		atomic_store(&f->open_now, open);
		usleep(100000);
	}
	return NULL;
}

static void test_slots_under_flood(void **state)
{
	static struct flood f;
	static const char *const defaults[] = {NULL};
	struct rlimit rl;
	double worst_poll = 0, worst_up = 0, t0;
	unsigned polls = 0, ups = 0, bad = 0, peak = 0;
	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < FLOOD_N + 256) {
		rl.rlim_cur = rl.rlim_max;
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	assert_true(rl.rlim_cur >= FLOOD_N + 256);
	restart(defaults);
	size_t from = log_size();
	memset(&f, 0, sizeof(f));
	for (unsigned i = 0; i < FLOOD_N; i++)
		f.fd[i] = -1;
	/* open them all before measuring */
	for (unsigned i = 0; i < FLOOD_N; i++)
		flood_open(&f, i);
	for (unsigned i = 0; i < FLOOD_N; i++)
		if (f.fd[i] >= 0)
			peak++;
	printf("flood: %u of %u connections open\n", peak, FLOOD_N);
	assert_true(peak >= 1000);
	assert_int_equal(pthread_create(&f.th, NULL, flood_run, &f), 0);
	t0 = now_s();
	while (now_s() - t0 < 8.0) {
		struct api_reply r = {0};
		double t1 = now_s(), secs;
		long st = api_call("GET", "/v1/policy", NULL, NULL, 0, g_cert, g_key, &r);
		secs = now_s() - t1;
		api_reply_free(&r);
		polls++;
		if (secs > worst_poll)
			worst_poll = secs;
		if (st != 200 && st != 304)
			bad++;
		if (atomic_load(&f.open_now) > peak)
			peak = atomic_load(&f.open_now);
		st = upload(&secs, &r);
		api_reply_free(&r);
		ups++;
		if (secs > worst_up)
			worst_up = secs;
		if (st != 200)
			bad++;
		usleep(400000);
	}
	atomic_store(&f.stop, true);
	pthread_join(f.th, NULL);
	for (unsigned i = 0; i < FLOOD_N; i++)
		flood_close(&f, i);
	printf("under a flood of %u connections (%u idle TCP, %u slow TLS) from %u addresses, %u "
	       "reconnects: %u polls (worst %.3f s), %u uploads of 1,000 events (worst %.3f s), "
	       "%u failed\n",
	       FLOOD_N, FLOOD_N - FLOOD_TLS, FLOOD_TLS, FLOOD_ADDRS, atomic_load(&f.reopened),
	       polls, worst_poll, ups, worst_up, bad);
	assert_int_equal(bad, 0);
	assert_true(worst_poll < 1.0);
	assert_true(worst_up < 1.0);
	/* connections without a certificate were held to three quarters of the 1024 slots */
	assert_true(log_count(from, "without a client certificate (limit 768)") >= 1);
}

/*
 * 7: refused certificates, oversized bodies and overload are logged, rate-limited: a burst
 * gives one line per kind, and the next line (after the window) says how many were left out.
 */
static void test_attack_log(void **state)
{
	static const char *const args[] = {"--max-inflight-ingests", "1", NULL};
	size_t from;
	(void)state;
	restart(args);
	from = log_size();
	for (int i = 0; i < 20; i++) {
		char src[32];
		snprintf(src, sizeof(src), "127.0.2.%d", 1 + i);
		SSL *s = tls_from(src, g_ctx_foreign);
		assert_non_null(s);
		static const char get[] = "GET /v1/policy HTTP/1.1\r\nHost: x\r\n\r\n";
		assert_int_equal(SSL_write(s, get, (int)sizeof(get) - 1), (int)sizeof(get) - 1);
		assert_int_equal(read_status(s, 2000), 403);
		tls_close(&s);
	}
	for (int i = 0; i < 5; i++) {
		SSL *s = tls_from("127.0.2.40", g_ctx_term);
		assert_non_null(s);
		assert_int_equal(send_head(s, "/v1/events", 2 * MIB), 0);
		assert_int_equal(read_status(s, 2000), 413);
		tls_close(&s);
	}
	{
		SSL *hold = tls_from("127.0.0.1", g_ctx_term);
		assert_non_null(hold);
		assert_int_equal(send_head(hold, "/v1/events", 200000), 0);
		usleep(200000);
		for (int i = 0; i < 5; i++) {
			SSL *s = tls_from("127.0.2.41", g_ctx_term);
			assert_non_null(s);
			assert_int_equal(send_head(s, "/v1/events", 200000), 0);
			assert_int_equal(send_spaces(s, 200000), 0);
			assert_int_equal(read_status(s, 2000), 503);
			tls_close(&s);
		}
		tls_close(&hold);
	}
	{
		/* a certificate of this CA whose host was revoked: refused, logged */
		char kp[PATH_MAX], cp[PATH_MAX];
		int64_t id = enroll("term-revoked", kp, cp);
		struct mg_store *st = store();
		assert_int_equal(mg_store_host_revoke(st, NULL, id, 2000000), 0);
		mg_store_close(&st);
		assert_int_equal(api_call("GET", "/v1/policy", NULL, NULL, 0, cp, kp, NULL), 403);
	}
	usleep(300000);
	assert_int_equal(log_count(from, "is revoked"), 1);
	printf("log lines: certificate %u, body %u, overload %u\n",
	       log_count(from, "does not verify against the collector CA"),
	       log_count(from, "refused request body"), log_count(from, "overloaded"));
	assert_int_equal(log_count(from, "does not verify against the collector CA"), 1);
	assert_int_equal(log_count(from, "refused request body"), 1);
	assert_int_equal(log_count(from, "overloaded"), 1);
	/* the source address is named */
	assert_true(log_count(from, "from 127.0.2.1") >= 1);
	/* after the window, the left-out ones are counted */
	sleep(11);
	assert_true(log_count(from, "19 more") >= 1);
	assert_true(log_count(from, "4 more") >= 2);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	int fd, r;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_setup),
	    cmocka_unit_test(test_unauthenticated_cannot_starve_uploads),
	    cmocka_unit_test(test_revoked_cannot_hold_budget),
	    cmocka_unit_test(test_budget_wait_is_bounded),
	    cmocka_unit_test(test_body_deadline),
	    cmocka_unit_test(test_inflight_limit_before_body),
	    cmocka_unit_test(test_head_deadline),
	    cmocka_unit_test(test_slots_under_flood),
	    cmocka_unit_test(test_attack_log),
	};
	signal(SIGPIPE, SIG_IGN);
	/* The collector inherits stderr: it goes to a file the log test reads. */
	snprintf(g_logdir, sizeof(g_logdir), "%s/mg-slow-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(g_logdir))
		return 1;
	snprintf(g_log, sizeof(g_log), "%s/collector.log", g_logdir);
	fd = open(g_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	int saved = dup(2);
	if (fd < 0 || saved < 0 || dup2(fd, 2) < 0)
		return 1;
	close(fd);
	r = api_main("api_slow", tests, sizeof(tests) / sizeof(tests[0]));
	dup2(saved, 2);
	close(saved);
	{
		/* the collector's log, for whoever reads the test output */
		FILE *f = fopen(g_log, "r");
		char line[2048];
		unsigned n = 0;
		while (f && fgets(line, sizeof(line), f) && n++ < 400)
			printf("collector: %s", line);
		if (f)
			fclose(f);
		fflush(stdout);
	}
	unlink(g_log);
	unlink(g_fkey);
	unlink(g_fcert);
	rmdir(g_logdir);
	free(g_batch);
	SSL_CTX_free(g_ctx_anon);
	SSL_CTX_free(g_ctx_term);
	SSL_CTX_free(g_ctx_foreign);
	return r;
}
