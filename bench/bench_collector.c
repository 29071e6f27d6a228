/*
 * The collector end to end over HTTPS (docs/PERFORMANCE.md, "Collector end to end"): starts
 * `mynaguard-collector serve` on a new data directory, enrols AGENTS simulated terminals (one
 * token with --uses AGENTS, one EC P-256 key and CSR each), then drives them from one thread
 * with the libcurl multi interface: one keep-alive TLS connection per agent, with its own
 * client certificate and its own loopback source address (127.0.x.y: the collector allows 64
 * connections per address, a real site has one address per terminal).
 *
 *   mynaguard-bench-collector -C COLLECTOR -D DIR [-u DB_URL] [-a AGENTS] [-n BATCHES]
 *       [-r RATE] [-s EVENTS] [-d SECONDS] [-p SECONDS] [-t THREADS] [-w WORK_THREADS]
 *       [-l LABEL]
 *
 * Phases, each printed as one Markdown table row:
 *   connect   one GET /v1/policy per agent (TLS handshakes with client certificates)
 *   ingest    every agent sends BATCHES consecutive batches of 1,000 hash-chained events of
 *             its own boot_id as fast as they are acknowledged (-n, default 2), over a
 *             connection of its own opened (before the clock) by the lean client
 *             (bench_poller.c): libcurl took a third of the shared CPUs here
 *   paced     RATE events/s in all (-r, default 1000) in batches of EVENTS (-s, default 10),
 *             one batch every EVENTS/RATE s, taking the agents in turn, for SECONDS (-d, 30);
 *             latency counts from the scheduled send time
 *   polls     every agent polls GET /v1/policy with If-None-Match of the current ETag back to
 *             back for SECONDS (-p, default 10) over a connection of its own opened by the lean
 *             poller (bench_poller.c); polls/s answered 304
 * then the collector's peak RSS (VmHWM) and its RSS after each phase. Every request body is
 * made before the clock starts (events from tests/server/store_testgen.c, written in
 * canonical form and hashed with SHA-256 as an agent does). Every acknowledgement is checked
 * (acked_through = the batch's last seq). DIR must not exist; it is left for the caller.
 * Every wait is bounded: the collector is killed if it does not stop within 30 s.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "api_body.h"
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "digest.h"
#include "mg/config.h"
#include "bench_poller.h"
#include "mg/event.h"
#include "store_testgen.h"

#define WAIT_MS      30000
#define BIG_BATCH    1000u
#define RESP_MAX     1024u
#define ADMIN_PW     "bench admin password, long enough for the policy"
#define MAX_LAT_REQS 4000000u

struct body {
	char *p;
	size_t len;
	uint64_t last_seq;
	size_t events;
};

struct agent {
	CURL *h;
	char name[32];
	char src[40];  /* CURLOPT_INTERFACE "host!127.0.x.y" */
	char *cert;    /* PEM */
	char *key;     /* PEM */
	char boot[37]; /* one boot for the whole run */
	struct body *bodies;
	size_t nbodies, next;
	bool busy;
	double sched; /* when the request in flight was due (latency origin) */
	char resp[RESP_MAX];
	size_t resp_len;
	char etag[64];
};

struct bench {
	const char *collector, *dir;
	char db[1024];
	char url_events[64], url_policy[64], url_enroll[64];
	char ca_path[4096];
	uint64_t agents, batches, rate, small, paced_s, polls_s, threads, work_threads;
	const char *label;
	pid_t pid;
	unsigned port;
	CURLM *multi;
	struct agent *a;
	struct curl_slist *post_hdrs;
	struct curl_slist *get_hdrs; /* the connect phase's GET */
	double *lat;
	size_t nlat, caplat;
	uint64_t ok, failed, busy503, events;
	uint64_t new_conns; /* TLS connections opened in the phase */
	uint64_t st_304, st_200, st_other;
	long last_status;
	char last_err[256];
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

/* ---- the collector process ---- */

/* Waits for pid within ms (kills it after that); its wait status, -1 when killed. */
static int reap(pid_t pid, int ms)
{
	int status = -1;
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd >= 0) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int r = poll(&pfd, 1, ms);
		close(fd);
		if (r != 1) {
			fprintf(stderr, "process %d did not end within %d ms: killed\n", (int)pid,
			        ms);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
	}
	waitpid(pid, &status, 0);
	return status;
}

/* Runs the collector with args (NULL-terminated); stdout (first line) into out. Exit status. */
static int run_collector(const struct bench *b, const char *const *args, char *out, size_t size)
{
	int fds[2];
	size_t got = 0;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		const char *argv[32] = {b->collector};
		size_t n = 1;
		for (size_t i = 0; args[i] && n < 31; i++)
			argv[n++] = args[i];
		argv[n] = NULL;
		dup2(fds[1], 1);
		execv(b->collector, (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
		if (got + 1 >= size || poll(&pfd, 1, WAIT_MS) != 1)
			break;
		ssize_t n = read(fds[0], out + got, size - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	out[got] = '\0';
	out[strcspn(out, "\n")] = '\0';
	close(fds[0]);
	int st = reap(pid, WAIT_MS);
	return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int start_server(struct bench *b)
{
	int fds[2];
	char buf[32] = "", threads[24], work[24];
	size_t got = 0;
	snprintf(threads, sizeof(threads), "%" PRIu64, b->threads);
	snprintf(work, sizeof(work), "%" PRIu64, b->work_threads);
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	b->pid = fork();
	if (b->pid < 0)
		return -1;
	if (b->pid == 0) {
		const char *argv[] = {b->collector,     "serve",       "--data-dir", b->dir,
		                      "--listen",       "127.0.0.1:0", "--ready-fd", "3",
		                      "--db",           b->db,         "--threads",  threads,
		                      "--work-threads", work,          NULL};
		dup2(fds[1], 3);
		execv(b->collector, (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	close(fds[1]);
	while (!memchr(buf, '\n', got)) {
		struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
		if (got + 1 >= sizeof(buf) || poll(&pfd, 1, WAIT_MS) != 1)
			break;
		ssize_t n = read(fds[0], buf + got, sizeof(buf) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
	}
	close(fds[0]);
	uint64_t port = 0;
	buf[strcspn(buf, "\n")] = '\0';
	if (mg_parse_u64(buf, 1, 65535, &port) < 0) {
		fprintf(stderr, "the collector did not announce its port\n");
		return -1;
	}
	b->port = (unsigned)port;
	return 0;
}

/* VmHWM / VmRSS of the collector in KiB (0 when unreadable). */
static uint64_t proc_status_kib(pid_t pid, const char *field)
{
	char path[64], line[256];
	uint64_t v = 0;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = strlen(field);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, n) == 0 && line[n] == ':') {
			v = strtoull(line + n + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* CPU seconds (user + system) used by pid so far. */
static double proc_cpu_s(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	unsigned long long ut = 0, st = 0;
	/* after ")": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
	 * stime */
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- keys, enrolment ---- */

static char *pem_of_key(EVP_PKEY *k)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *pem = NULL;
	if (bio && PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL) == 1) {
		long n = BIO_get_mem_data(bio, &data);
		pem = strndup(data, (size_t)n);
	}
	BIO_free(bio);
	return pem;
}

static char *csr_of_key(EVP_PKEY *k)
{
	X509_REQ *req = X509_REQ_new();
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *pem = NULL;
	if (req && bio && X509_REQ_set_pubkey(req, k) == 1 &&
	    X509_REQ_sign(req, k, EVP_sha256()) > 0 && PEM_write_bio_X509_REQ(bio, req) == 1) {
		long n = BIO_get_mem_data(bio, &data);
		pem = strndup(data, (size_t)n);
	}
	BIO_free(bio);
	X509_REQ_free(req);
	return pem;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct agent *a = ud;
	size_t n = size * nmemb, room = RESP_MAX - 1 - a->resp_len;
	memcpy(a->resp + a->resp_len, ptr, n < room ? n : room);
	a->resp_len += n < room ? n : room;
	a->resp[a->resp_len] = '\0';
	return n;
}

/* ETag from response header lines. */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct agent *a = ud;
	size_t n = size * nmemb;
	if (n > 5 && strncasecmp(ptr, "etag:", 5) == 0) {
		size_t i = 5, e = n;
		while (i < n && ptr[i] == ' ')
			i++;
		while (e > i && (ptr[e - 1] == '\r' || ptr[e - 1] == '\n' || ptr[e - 1] == ' '))
			e--;
		if (e - i < sizeof(a->etag)) {
			memcpy(a->etag, ptr + i, e - i);
			a->etag[e - i] = '\0';
		}
	}
	return n;
}

/* The agent's handle: its certificate, source address, keep-alive, the CA pinned. */
static int agent_handle(struct bench *b, struct agent *a)
{
	struct curl_blob cert = {.data = a->cert, .len = strlen(a->cert), .flags = CURL_BLOB_COPY};
	struct curl_blob key = {.data = a->key, .len = strlen(a->key), .flags = CURL_BLOB_COPY};
	a->h = curl_easy_init();
	if (!a->h)
		return -ENOMEM;
	curl_easy_setopt(a->h, CURLOPT_CAINFO, b->ca_path);
	curl_easy_setopt(a->h, CURLOPT_SSLCERT_BLOB, &cert);
	curl_easy_setopt(a->h, CURLOPT_SSLKEY_BLOB, &key);
	curl_easy_setopt(a->h, CURLOPT_SSLCERTTYPE, "PEM");
	curl_easy_setopt(a->h, CURLOPT_SSLKEYTYPE, "PEM");
	curl_easy_setopt(a->h, CURLOPT_INTERFACE, a->src);
	curl_easy_setopt(a->h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(a->h, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(a->h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(a->h, CURLOPT_HEADERDATA, a);
	curl_easy_setopt(a->h, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(a->h, CURLOPT_PRIVATE, a);
	curl_easy_setopt(a->h, CURLOPT_TCP_NODELAY, 1L);
	return 0;
}

static int enroll_all(struct bench *b, const char *token)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
	int ret = -1;
	hd = curl_slist_append(hd, "Expect:");
	if (!h || !hd)
		goto done;
	curl_easy_setopt(h, CURLOPT_URL, b->url_enroll);
	curl_easy_setopt(h, CURLOPT_CAINFO, b->ca_path);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	for (size_t i = 0; i < b->agents; i++) {
		struct agent *a = &b->a[i];
		EVP_PKEY *k = EVP_EC_gen("P-256");
		char *csr = k ? csr_of_key(k) : NULL;
		a->key = k ? pem_of_key(k) : NULL;
		EVP_PKEY_free(k);
		json_t *o = csr ? json_pack("{s:s,s:s,s:s,s:s}", "token", token, "csr", csr,
		                            "hostname", a->name, "agent_version", "0.1.0")
		                : NULL;
		char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		free(csr);
		if (!body || !a->key)
			goto done;
		char *big = NULL;
		size_t biglen = 0;
		FILE *mem = open_memstream(&big, &biglen);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, mem);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, NULL);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		long status = 0;
		CURLcode cr = curl_easy_perform(h);
		fclose(mem);
		free(body);
		if (cr == CURLE_OK)
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		json_t *ans = status == 200 ? json_loads(big, 0, NULL) : NULL;
		const char *cert = json_string_value(json_object_get(ans, "certificate"));
		if (!cert) {
			fprintf(stderr, "enrolment %zu: HTTP %ld (%s) %.200s\n", i, status,
			        curl_easy_strerror(cr), big ? big : "");
			json_decref(ans);
			free(big);
			goto done;
		}
		a->cert = strdup(cert);
		json_decref(ans);
		free(big);
		if (!a->cert || agent_handle(b, a) < 0)
			goto done;
	}
	ret = 0;
done:
	curl_slist_free_all(hd);
	curl_easy_cleanup(h);
	return ret;
}

/* ---- request bodies ---- */

/*
 * The body of events from..to of agent a as the agent sends it: each event in canonical form
 * (mg_event_to_json of the parsed test event) with "hash" (its SHA-256) and "prev_hash"
 * (chained through prev, which is updated).
 */
static int make_body(const struct agent *a, uint64_t from, uint64_t to, char prev[65],
                     struct body *out)
{
	struct tg_batch tb;
	char *p = NULL;
	size_t len = 0;
	int ret = -ENOMEM;
	if (tg_batch_make(&tb, a->name, a->boot, from, to, 0, TG_MIXED) < 0)
		return -ENOMEM;
	FILE *f = open_memstream(&p, &len);
	if (!f)
		goto done;
	fprintf(f, "{\"boot_id\":\"%s\",\"events\":[", a->boot);
	for (size_t i = 0; i < tb.n; i++) {
		struct mg_event *ev = NULL;
		char *canon = NULL, msg[160], hash[65];
		size_t clen = 0;
		const char *j = tb.evs[i].json;
		if (mg_event_from_json(j, strlen(j), &ev, msg, sizeof(msg)) < 0 ||
		    mg_event_to_json(ev, &canon, &clen) < 0 ||
		    mg_sha256_hex(canon, clen, hash) < 0) {
			fprintf(stderr, "test event %" PRIu64 ": %s\n", tb.evs[i].seq, msg);
			mg_event_free(&ev);
			free(canon);
			ret = -EINVAL;
			fclose(f);
			goto done;
		}
		/* canonical "{...}" without its last brace, then the two chain members */
		fprintf(f, "%s%.*s,\"hash\":\"%s\",\"prev_hash\":\"%s\"}", i ? "," : "",
		        (int)(clen - 1), canon, hash, prev);
		memcpy(prev, hash, 65);
		mg_event_free(&ev);
		free(canon);
	}
	fputs("]}", f);
	if (fclose(f) != 0)
		goto done;
	out->p = p;
	out->len = len;
	out->last_seq = to;
	out->events = tb.n;
	p = NULL;
	ret = 0;
done:
	free(p);
	tg_batch_free(&tb);
	return ret;
}

static void random_uuid(char out[37])
{
	unsigned char r[16] = {0};
	FILE *f = fopen("/dev/urandom", "rb");
	if (!f || fread(r, 1, sizeof(r), f) != sizeof(r)) {
		uint64_t x = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
		memcpy(r, &x, sizeof(x));
	}
	if (f)
		fclose(f);
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
	         r[13], r[14], r[15]);
}

/* ---- the driver ---- */

static void lat_add(struct bench *b, double ms)
{
	if (b->nlat < b->caplat)
		b->lat[b->nlat++] = ms;
}

static int start_post(struct bench *b, struct agent *a, double sched)
{
	struct body *bd = &a->bodies[a->next];
	a->resp_len = 0;
	a->resp[0] = '\0';
	a->sched = sched;
	a->busy = true;
	curl_easy_setopt(a->h, CURLOPT_URL, b->url_events);
	curl_easy_setopt(a->h, CURLOPT_HTTPHEADER, b->post_hdrs);
	curl_easy_setopt(a->h, CURLOPT_POSTFIELDS, bd->p);
	curl_easy_setopt(a->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)bd->len);
	return curl_multi_add_handle(b->multi, a->h) == CURLM_OK ? 0 : -EIO;
}

static int start_get(struct bench *b, struct agent *a, double sched, struct curl_slist *hdrs)
{
	a->resp_len = 0;
	a->resp[0] = '\0';
	a->sched = sched;
	a->busy = true;
	curl_easy_setopt(a->h, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(a->h, CURLOPT_URL, b->url_policy);
	curl_easy_setopt(a->h, CURLOPT_HTTPHEADER, hdrs);
	return curl_multi_add_handle(b->multi, a->h) == CURLM_OK ? 0 : -EIO;
}

/* A finished POST /v1/events: checks the acknowledgement. A batch answered 503 stays the
 * agent's next one (sent again in the agent's next slot). */
static void post_done(struct bench *b, struct agent *a, CURLcode cr, long status, double t)
{
	const struct body *bd = &a->bodies[a->next];
	lat_add(b, (t - a->sched) * 1e3);
	if (cr == CURLE_OK && status == 503) {
		b->busy503++;
		return;
	}
	const char *p = strstr(a->resp, "\"acked_through\":");
	if (cr != CURLE_OK || status != 200 || !p ||
	    strtoull(p + strlen("\"acked_through\":"), NULL, 10) != bd->last_seq) {
		b->failed++;
		b->last_status = cr == CURLE_OK ? status : -(long)cr;
		snprintf(b->last_err, sizeof(b->last_err), "%s: %.200s", a->name,
		         cr == CURLE_OK ? a->resp : curl_easy_strerror(cr));
	} else {
		b->ok++;
		b->events += bd->events;
	}
	a->next++;
}

/* Runs transfers until none is running or deadline; on each completion calls done(). */
typedef void (*done_fn)(struct bench *b, struct agent *a, CURLcode cr, long status, double t);

static int pump(struct bench *b, int timeout_ms, done_fn done)
{
	int running = 0, nq;
	CURLMsg *m;
	if (curl_multi_perform(b->multi, &running) != CURLM_OK)
		return -EIO;
	while ((m = curl_multi_info_read(b->multi, &nq)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		CURL *h = m->easy_handle;
		CURLcode cr = m->data.result;
		struct agent *a = NULL;
		long status = 0;
		curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&a);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		long nc = 0;
		curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &nc);
		b->new_conns += (uint64_t)(nc > 0 ? nc : 0);
		curl_multi_remove_handle(b->multi, h);
		a->busy = false;
		done(b, a, cr, status, now_s());
	}
	if (timeout_ms > 0 && curl_multi_poll(b->multi, NULL, 0, timeout_ms, NULL) != CURLM_OK)
		return -EIO;
	return running;
}

/* connect: one GET /v1/policy per agent, all at once. */
static void connect_done(struct bench *b, struct agent *a, CURLcode cr, long status, double t)
{
	lat_add(b, (t - a->sched) * 1e3);
	b->last_status = cr == CURLE_OK ? status : -(long)cr;
	if (cr != CURLE_OK) {
		b->failed++;
		snprintf(b->last_err, sizeof(b->last_err), "%s: %s", a->name,
		         curl_easy_strerror(cr));
	} else {
		b->ok++;
		if (status == 200)
			b->st_200++;
		else if (status == 304)
			b->st_304++;
		else
			b->st_other++;
	}
}

static void paced_done(struct bench *b, struct agent *a, CURLcode cr, long status, double t)
{
	post_done(b, a, cr, status, t);
}

struct phase_stats {
	double t0, cpu_srv, cpu_self;
};

static void phase_begin(struct bench *b, struct phase_stats *ps)
{
	b->nlat = 0;
	b->ok = b->failed = b->busy503 = b->events = b->new_conns = 0;
	b->st_200 = b->st_304 = b->st_other = 0;
	b->last_status = 0;
	b->last_err[0] = '\0';
	ps->cpu_srv = proc_cpu_s(b->pid);
	ps->cpu_self = self_cpu_s();
	ps->t0 = now_s();
}

/* Prints the row: | label | phase | requests | units | s | units/s | p50 | p99 | max | CPU | */
static void phase_end(struct bench *b, const struct phase_stats *ps, const char *phase,
                      uint64_t units)
{
	double wall = now_s() - ps->t0;
	double srv = proc_cpu_s(b->pid) - ps->cpu_srv, self = self_cpu_s() - ps->cpu_self;
	qsort(b->lat, b->nlat, sizeof(double), cmp_double);
	double p50 = b->nlat ? b->lat[b->nlat / 2] : 0,
	       p99 = b->nlat ? b->lat[b->nlat * 99 / 100] : 0,
	       mx = b->nlat ? b->lat[b->nlat - 1] : 0;
	printf("| %s | %s | %zu | %" PRIu64 " | %.2f | %.0f | %.1f | %.1f | %.1f | %.0f%% / %.0f%% "
	       "| %.1f |\n",
	       b->label, phase, b->nlat, units, wall, (double)units / wall, p50, p99, mx,
	       100.0 * srv / wall, 100.0 * self / wall,
	       (double)proc_status_kib(b->pid, "VmRSS") / 1024.0);
	if (b->new_conns) /* counted by libcurl; the lean client's are opened before */
		fprintf(stderr, "%s, %s: %" PRIu64 " new connections\n", b->label, phase,
		        b->new_conns);
	if (b->failed || b->busy503 || b->st_other)
		fprintf(stderr,
		        "%s, %s: %" PRIu64 " failed, %" PRIu64 " answered 503, %" PRIu64
		        " other statuses (last %ld: %s)\n",
		        b->label, phase, b->failed, b->busy503, b->st_other, b->last_status,
		        b->last_err);
	fflush(stdout);
}

/*
 * Waits (at most 15 s) until GET /v1/policy answers something other than 404 (the collector
 * publishes version 1 shortly after it starts). Its last status.
 */
static long wait_policy(struct bench *b)
{
	struct agent *a = &b->a[0];
	long status = 0;
	for (int i = 0; i < 60; i++) {
		curl_easy_setopt(a->h, CURLOPT_HTTPGET, 1L);
		curl_easy_setopt(a->h, CURLOPT_URL, b->url_policy);
		curl_easy_setopt(a->h, CURLOPT_HTTPHEADER, NULL);
		a->resp_len = 0;
		status = 0;
		if (curl_easy_perform(a->h) == CURLE_OK)
			curl_easy_getinfo(a->h, CURLINFO_RESPONSE_CODE, &status);
		if (status != 404 && status != 0)
			break;
		struct timespec ts = {0, 250000000};
		nanosleep(&ts, NULL);
	}
	a->etag[0] = '\0';
	return status;
}

/* The agents as the lean client (bench_poller.h) sees them; with_posts: their big batches. */
struct lean_agents {
	struct poller_agent *pa;
	char (*srcs)[24];
	struct poller_post *posts;
	size_t n;
};

static void lean_agents_free(struct lean_agents *la)
{
	free(la->pa);
	free(la->srcs);
	free(la->posts);
	memset(la, 0, sizeof(*la));
}

static int lean_agents_make(const struct bench *b, bool with_posts, struct lean_agents *la)
{
	const size_t A = b->agents, N = with_posts ? b->batches : 0;
	la->n = A;
	la->pa = calloc(A, sizeof(*la->pa));
	la->srcs = calloc(A, sizeof(*la->srcs));
	la->posts = calloc(A * N + 1, sizeof(*la->posts));
	if (!la->pa || !la->srcs || !la->posts) {
		lean_agents_free(la);
		return -ENOMEM;
	}
	for (size_t i = 0; i < A; i++) {
		const struct agent *a = &b->a[i];
		snprintf(la->srcs[i], sizeof(la->srcs[i]), "%s", a->src + strlen("host!"));
		for (size_t k = 0; k < N; k++)
			la->posts[i * N + k] =
			    (struct poller_post){.body = a->bodies[k].p,
			                         .len = a->bodies[k].len,
			                         .last_seq = a->bodies[k].last_seq,
			                         .events = a->bodies[k].events};
		la->pa[i] = (struct poller_agent){.cert_pem = a->cert,
		                                  .key_pem = a->key,
		                                  .src = la->srcs[i],
		                                  .etag = a->etag[0] ? a->etag : "\"0\"",
		                                  .posts = N ? &la->posts[i * N] : NULL,
		                                  .n_posts = N};
	}
	return 0;
}

/*
 * ingest: every agent sends its batches 0..batches-1 back to back on a connection of the
 * lean client (handshakes before the clock).
 */
static int lean_ingest(struct bench *b)
{
	struct lean_agents la;
	struct poller *p = NULL;
	struct phase_stats ps;
	int r = lean_agents_make(b, true, &la);
	if (r < 0)
		return r;
	r = poller_open(b->ca_path, b->port, la.pa, la.n, &p);
	if (r == 0) {
		struct poller_result pr = {.lat_ms = b->lat, .cap_lat = b->caplat};
		phase_begin(b, &ps);
		r = poller_send(p, 600, &pr);
		b->nlat = pr.n_lat;
		b->failed = pr.failed;
		b->busy503 = pr.busy503;
		b->last_status = pr.last_status;
		snprintf(b->last_err, sizeof(b->last_err), "%s", pr.err);
		char name[96];
		snprintf(name, sizeof(name),
		         "ingest: %" PRIu64 " agents x %" PRIu64 " batches of %u", b->agents,
		         b->batches, BIG_BATCH);
		phase_end(b, &ps, name, pr.events);
		if (r == 0 && (pr.failed || pr.events != b->agents * b->batches * BIG_BATCH))
			r = -EIO;
	} else {
		fprintf(stderr, "lean client: %s\n", strerror(-r));
	}
	poller_free(&p);
	/* The paced phase goes on with the batches after these, from the curl handles. */
	for (size_t i = 0; i < b->agents; i++)
		b->a[i].next = b->batches;
	lean_agents_free(&la);
	return r;
}

static int run_phases(struct bench *b)
{
	struct phase_stats ps;
	const size_t A = b->agents;
	int r;

	long first = wait_policy(b);
	fprintf(stderr, "GET /v1/policy: %ld\n", first);

	/* connect */
	phase_begin(b, &ps);
	b->get_hdrs = curl_slist_append(NULL, "Accept: application/json");
	for (size_t i = 0; i < A; i++)
		if (start_get(b, &b->a[i], ps.t0, b->get_hdrs) < 0)
			return -EIO;
	double limit = ps.t0 + 120;
	while ((r = pump(b, 100, connect_done)) > 0 && now_s() < limit)
		;
	while (pump(b, 0, connect_done) > 0 && now_s() < limit)
		;
	phase_end(b, &ps, "connect: GET /v1/policy, new TLS connection", A);
	long policy_status = b->last_status;
	bool have_etag = b->st_200 == A && b->a[0].etag[0];
	if (b->failed)
		return -EIO;

	/* ingest: the lean client, over connections of its own (opened before the clock) */
	r = lean_ingest(b);
	if (r < 0)
		return r;

	/* paced: slot k at t0 + k * interval goes to agent k % A */
	phase_begin(b, &ps);
	double interval = (double)b->small / (double)b->rate;
	size_t slots = A * (b->a[0].nbodies - b->batches);
	size_t k = 0;
	limit = ps.t0 + (double)slots * interval + 60;
	for (;;) {
		double t = now_s();
		for (; k < slots && ps.t0 + (double)k * interval <= t; k++) {
			struct agent *a = &b->a[k % A];
			if (a->busy) /* previous one not answered: the delay counts in latency */
				break;
			start_post(b, a, ps.t0 + (double)k * interval);
		}
		int wait = 1;
		if (k < slots) {
			double dt = ps.t0 + (double)k * interval - now_s();
			wait = dt > 0 ? (int)(dt * 1e3) + 1 : 0;
		}
		r = pump(b, wait > 0 ? wait : 0, paced_done);
		if (r < 0)
			return r;
		if ((k >= slots && r == 0) || now_s() > limit)
			break;
	}
	char name[96];
	snprintf(name, sizeof(name), "paced: %" PRIu64 " events/s in batches of %" PRIu64, b->rate,
	         b->small);
	phase_end(b, &ps, name, b->events);
	if (b->failed)
		return -EIO;

	/* polls: the lean poller, over connections of its own (opened before the clock) */
	if (!have_etag) {
		printf(
		    "| %s | polls: GET /v1/policy answered %ld, no ETag: not measured | | | | | | "
		    "| | | |\n",
		    b->label, policy_status);
		return 0;
	}
	struct lean_agents la;
	struct poller *p = NULL;
	r = lean_agents_make(b, false, &la);
	if (r < 0)
		return r;
	r = poller_open(b->ca_path, b->port, la.pa, A, &p);
	if (r == 0) {
		struct poller_result pr = {.lat_ms = b->lat, .cap_lat = b->caplat};
		phase_begin(b, &ps);
		r = poller_run(p, (double)b->polls_s, &pr);
		b->nlat = pr.n_lat;
		b->failed = pr.failed;
		b->st_other = pr.nother + pr.n200;
		b->last_status = pr.last_status;
		snprintf(b->last_err, sizeof(b->last_err), "%s", pr.err);
		phase_end(b, &ps, "polls: GET /v1/policy, If-None-Match, answered 304", pr.n304);
		if (pr.n200 || pr.nother)
			fprintf(stderr, "polls: %" PRIu64 " answered 200, %" PRIu64 " other\n",
			        pr.n200, pr.nother);
	} else {
		fprintf(stderr, "poller: %s\n", strerror(-r));
	}
	poller_free(&p);
	lean_agents_free(&la);
	return r;
}

static void usage(const char *argv0)
{
	fprintf(stderr,
	        "usage: %s -C COLLECTOR -D DIR [-u DB_URL] [-a AGENTS] [-n BATCHES] [-r RATE]\n"
	        "          [-s EVENTS] [-d SECONDS] [-p SECONDS] [-t THREADS] [-w WORK_THREADS]\n"
	        "          [-l LABEL]\n",
	        argv0);
}

int main(int argc, char **argv)
{
	struct bench b = {.agents = 200,
	                  .batches = 2,
	                  .rate = 1000,
	                  .small = 10,
	                  .paced_s = 30,
	                  .polls_s = 10,
	                  .threads = 4,
	                  .work_threads = 4,
	                  .label = NULL,
	                  .pid = -1};
	const char *url = NULL;
	int opt, ret = 1;
	while ((opt = getopt(argc, argv, "C:D:u:a:n:r:s:d:p:t:w:l:")) != -1) {
		int r = 0;
		switch (opt) {
		case 'C':
			b.collector = optarg;
			break;
		case 'D':
			b.dir = optarg;
			break;
		case 'u':
			url = optarg;
			break;
		case 'l':
			b.label = optarg;
			break;
		case 'a':
			r = mg_parse_u64(optarg, 1, 60000, &b.agents);
			break;
		case 'n':
			r = mg_parse_u64(optarg, 1, 1000, &b.batches);
			break;
		case 'r':
			r = mg_parse_u64(optarg, 1, 1000000, &b.rate);
			break;
		case 's':
			r = mg_parse_u64(optarg, 1, BIG_BATCH, &b.small);
			break;
		case 'd':
			r = mg_parse_u64(optarg, 1, 600, &b.paced_s);
			break;
		case 'p':
			r = mg_parse_u64(optarg, 1, 600, &b.polls_s);
			break;
		case 't':
			r = mg_parse_u64(optarg, 1, 256, &b.threads);
			break;
		case 'w':
			r = mg_parse_u64(optarg, 1, 64, &b.work_threads);
			break;
		default:
			r = -EINVAL;
		}
		if (r < 0) {
			usage(argv[0]);
			return 2;
		}
	}
	if (!b.collector || !b.dir || optind != argc) {
		usage(argv[0]);
		return 2;
	}
	if (url)
		snprintf(b.db, sizeof(b.db), "%s", url);
	else
		snprintf(b.db, sizeof(b.db), "sqlite:%s/collector.db", b.dir);
	if (!b.label)
		b.label = strncmp(b.db, "sqlite:", 7) == 0 ? "SQLite" : "PostgreSQL";
	snprintf(b.ca_path, sizeof(b.ca_path), "%s/ca.pem", b.dir);
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;

	/* init, token */
	char pw[4200], out[512], uses[24];
	snprintf(pw, sizeof(pw), "%s.admin-pw", b.dir);
	int fd = open(pw, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, ADMIN_PW "\n", strlen(ADMIN_PW) + 1) < 0 || close(fd) < 0) {
		fprintf(stderr, "%s: %s\n", pw, strerror(errno));
		return 1;
	}
	const char *init[] = {"init", "--data-dir", b.dir,        "--db",
	                      b.db,   "--admin",    "benchadmin", "--admin-password-file",
	                      pw,     NULL};
	if (run_collector(&b, init, out, sizeof(out)) != 0) {
		fprintf(stderr, "mynaguard-collector init failed\n");
		return 1;
	}
	unlink(pw);
	snprintf(uses, sizeof(uses), "%" PRIu64, b.agents);
	const char *tok[] = {"token", "create", "--data-dir", b.dir, "--db",
	                     b.db,    "--uses", uses,         NULL};
	char token[256];
	if (run_collector(&b, tok, token, sizeof(token)) != 0 || strlen(token) < 40) {
		fprintf(stderr, "mynaguard-collector token create failed\n");
		return 1;
	}

	/* agents and their bodies, before the clock starts */
	uint64_t per_agent_paced = (b.rate * b.paced_s / b.small + b.agents - 1) / b.agents;
	b.a = calloc(b.agents, sizeof(*b.a));
	b.caplat = b.agents * (b.batches + per_agent_paced) + b.agents * 20000;
	if (b.caplat > MAX_LAT_REQS)
		b.caplat = MAX_LAT_REQS;
	b.lat = calloc(b.caplat, sizeof(double));
	if (!b.a || !b.lat)
		return 1;
	double tg = now_s();
	for (size_t i = 0; i < b.agents; i++) {
		struct agent *a = &b.a[i];
		char prev[65] = "";
		uint64_t seq = 1;
		snprintf(a->name, sizeof(a->name), "bench-%04zu", i);
		/* 127.0.1.1 .. : one source address per agent */
		snprintf(a->src, sizeof(a->src), "host!127.%zu.%zu.%zu", (i / 250 / 250) % 250,
		         1 + (i / 250) % 250, 1 + i % 250);
		random_uuid(a->boot);
		a->nbodies = b.batches + per_agent_paced;
		a->bodies = calloc(a->nbodies, sizeof(*a->bodies));
		if (!a->bodies)
			return 1;
		for (size_t k = 0; k < a->nbodies; k++) {
			uint64_t n = k < b.batches ? BIG_BATCH : b.small;
			if (make_body(a, seq, seq + n - 1, prev, &a->bodies[k]) < 0)
				return 1;
			seq += n;
		}
	}
	fprintf(stderr, "bodies made in %.1f s\n", now_s() - tg);

	b.post_hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	b.post_hdrs = curl_slist_append(b.post_hdrs, "Expect:");
	b.multi = curl_multi_init();
	if (!b.post_hdrs || !b.multi)
		return 1;
	curl_multi_setopt(b.multi, CURLMOPT_MAXCONNECTS, (long)(b.agents * 2));
	curl_multi_setopt(b.multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);

	if (start_server(&b) < 0)
		goto done;
	snprintf(b.url_events, sizeof(b.url_events), "https://127.0.0.1:%u/v1/events", b.port);
	snprintf(b.url_policy, sizeof(b.url_policy), "https://127.0.0.1:%u/v1/policy", b.port);
	snprintf(b.url_enroll, sizeof(b.url_enroll), "https://127.0.0.1:%u/v1/enroll", b.port);
	double te = now_s();
	if (enroll_all(&b, token) < 0)
		goto done;
	fprintf(stderr, "%" PRIu64 " agents enrolled in %.1f s\n", b.agents, now_s() - te);
	printf(
	    "| Backend | Phase | requests | events or polls | s | per s | p50 ms | p99 ms | max ms "
	    "| CPU collector / generator | collector RSS MiB |\n"
	    "|---|---|---|---|---|---|---|---|---|---|---|\n");
	if (run_phases(&b) < 0) {
		fprintf(stderr, "a phase failed\n");
		goto done;
	}
	printf("| %s | collector peak RSS (VmHWM) | | | | | | | | | %.1f |\n", b.label,
	       (double)proc_status_kib(b.pid, "VmHWM") / 1024.0);
	ret = 0;
done:
	if (b.pid > 0) {
		kill(b.pid, SIGTERM);
		int st = reap(b.pid, WAIT_MS);
		if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "the collector did not stop cleanly (status %d)\n", st);
			ret = 1;
		}
	}
	for (size_t i = 0; b.a && i < b.agents; i++) {
		if (b.a[i].h)
			curl_easy_cleanup(b.a[i].h);
		for (size_t k = 0; k < b.a[i].nbodies; k++)
			free(b.a[i].bodies[k].p);
		free(b.a[i].bodies);
		free(b.a[i].cert);
		free(b.a[i].key);
	}
	if (b.multi)
		curl_multi_cleanup(b.multi);
	curl_slist_free_all(b.post_hdrs);
	curl_slist_free_all(b.get_hdrs);
	free(b.a);
	free(b.lat);
	curl_global_cleanup();
	return ret;
}
