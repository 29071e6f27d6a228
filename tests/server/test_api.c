/*
 * The collector's terminal API end to end: `mynaguard-collector init` into a temporary
 * directory, `serve` on 127.0.0.1 (a free port, announced on --ready-fd), requests over HTTPS
 * with libcurl and client certificates made here with OpenSSL. Outcomes are checked in the
 * answers and in the database (a second store handle on the same database).
 *
 * Backend: SQLite in the data directory; with MG_TEST_STORE_URL_FILE (the state file of
 * tests/server/pg-test-server.sh) a new database on that PostgreSQL server (exit 77: skipped
 * when the fixture says so).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "api.h"
#include "api_body.h"
#include "ca.h"
#include "mg/event.h"
#include "store.h"

#define BOOT    "7d2c0e4a-61b3-4f0e-8c55-3a9e1f04b2d7"
#define MAX_SEQ 64
#define WAIT_MS 30000

static const char *g_bin;
static char g_dir[512];
static pid_t g_pid = -1;
static unsigned g_port;
static char g_db[1024];            /* --db URL */
static const char *g_extra_header; /* one more request header for post(); NULL: none */

/* The enrolled host the event tests use, and its chain. */
static int64_t g_host_id;
static char g_key[PATH_MAX], g_cert[PATH_MAX];
static char g_hash[MAX_SEQ + 1][65];

/* ---- processes ---- */

static void start_server(void)
{
	int fds[2];
	char buf[32] = "";
	size_t got = 0;
	struct pollfd pfd;
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	g_pid = fork();
	assert_true(g_pid >= 0);
	if (g_pid == 0) {
		char listen[] = "127.0.0.1:0";
		dup2(fds[1], 3);
		execl(g_bin, g_bin, "serve", "--data-dir", g_dir, "--listen", listen, "--ready-fd",
		      "3", "--db", g_db, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	/* Bounded wait for the port line (the server writes it once it accepts). */
	pfd = (struct pollfd){.fd = fds[0], .events = POLLIN};
	while (!memchr(buf, '\n', got)) {
		ssize_t n;
		assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
		n = read(fds[0], buf + got, sizeof(buf) - 1 - got);
		assert_true(n > 0);
		got += (size_t)n;
		buf[got] = '\0';
	}
	close(fds[0]);
	g_port = (unsigned)strtoul(buf, NULL, 10);
	assert_true(g_port > 0 && g_port < 65536);
}

/* Reaps pid within WAIT_MS (then kills it and fails). Returns its wait status. */
static int reap(pid_t pid)
{
	int status = -1;
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd >= 0) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int r = poll(&pfd, 1, WAIT_MS);
		close(fd);
		if (r != 1) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			fail_msg("process %d did not end within %d ms", (int)pid, WAIT_MS);
		}
	}
	waitpid(pid, &status, 0);
	return status;
}

static int stop_server(int sig)
{
	pid_t pid = g_pid;
	if (pid <= 0)
		return -1;
	g_pid = -1;
	kill(pid, sig);
	return reap(pid);
}

/* Runs the collector with args; its stdout (first line) into out. Returns the exit status. */
static int run(char *out, size_t size, const char *a1, const char *a2, const char *a3,
               const char *a4, const char *a5, const char *a6)
{
	int fds[2], status = -1;
	size_t got = 0;
	pid_t pid;
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], 1);
		execl(g_bin, g_bin, a1, a2, a3, a4, a5, a6, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
		ssize_t n;
		if (poll(&pfd, 1, WAIT_MS) != 1)
			break; /* reap() below fails the test */
		n = read(fds[0], out + got, size - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	out[got] = '\0';
	out[strcspn(out, "\n")] = '\0';
	close(fds[0]);
	status = reap(pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void token_create(char *tok, size_t size)
{
	assert_int_equal(run(tok, size, "token", "create", "--data-dir", g_dir, "--db", g_db), 0);
	assert_true(strlen(tok) >= 40);
}

static struct mg_store *store(void)
{
	char msg[256];
	struct mg_store *s = NULL;
	assert_int_equal(mg_store_open(g_db, &s, msg, sizeof(msg)), 0);
	return s;
}

static uint64_t event_count(int64_t host_id)
{
	struct mg_store *s = store();
	struct mg_store_event_filter f = {.host_id = host_id, .type = "agent.started"};
	uint64_t n = 0;
	assert_int_equal(mg_store_events_count(s, &f, &n), 0);
	mg_store_close(&s);
	return n;
}

/* ---- HTTPS ---- */

struct buf {
	char *p;
	size_t n;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct buf *b = ud;
	char *p = realloc(b->p, b->n + size * nmemb + 1);
	if (!p)
		return 0;
	memcpy(p + b->n, ptr, size * nmemb);
	b->p = p;
	b->n += size * nmemb;
	b->p[b->n] = '\0';
	return size * nmemb;
}

/* POSTs body; returns the HTTP status (0 on a transport error) and the parsed JSON answer. */
static long post(const char *path, const char *body, size_t len, const char *cert, const char *key,
                 json_t **answer)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	struct buf b = {0};
	char url[128], ca[PATH_MAX + 16];
	long status = 0;
	assert_non_null(c);
	snprintf(url, sizeof(url), "https://127.0.0.1:%u%s", g_port, path);
	snprintf(ca, sizeof(ca), "%s/ca.pem", g_dir);
	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, g_extra_header ? g_extra_header : "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	if (cert) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, cert);
		curl_easy_setopt(c, CURLOPT_SSLKEY, key);
	}
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (answer)
		*answer = b.p ? json_loads(b.p, 0, NULL) : NULL;
	free(b.p);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return status;
}

static long post_json(const char *path, json_t *o, bool with_cert, json_t **answer)
{
	char *body = json_dumps(o, JSON_COMPACT);
	long st;
	assert_non_null(body);
	st = post(path, body, strlen(body), with_cert ? g_cert : NULL, with_cert ? g_key : NULL,
	          answer);
	free(body);
	json_decref(o);
	return st;
}

static const char *err_of(json_t *a)
{
	const char *e = json_string_value(json_object_get(a, "error"));
	return e ? e : "";
}

/* ---- keys and certificates ---- */

static EVP_PKEY *new_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	assert_non_null(k);
	return k;
}

static char *make_csr(EVP_PKEY *key)
{
	X509_REQ *req = X509_REQ_new();
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *pem;
	long n;
	assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
	assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
	assert_int_equal(PEM_write_bio_X509_REQ(bio, req), 1);
	n = BIO_get_mem_data(bio, &data);
	pem = strndup(data, (size_t)n);
	BIO_free(bio);
	X509_REQ_free(req);
	return pem;
}

static void write_key(EVP_PKEY *key, const char *path)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static json_t *enroll_body(const char *token, const char *csr, const char *hostname)
{
	return json_pack("{s:s,s:s,s:s,s:s}", "token", token, "csr", csr, "hostname", hostname,
	                 "agent_version", "0.1.0");
}

/* Enrols a host; its key and certificate go to DIR/<name>.key and DIR/<name>.pem. */
static int64_t enroll(const char *name, char *keypath, char *certpath)
{
	char tok[128];
	EVP_PKEY *key = new_key();
	char *csr = make_csr(key);
	json_t *a = NULL;
	int64_t id;
	token_create(tok, sizeof(tok));
	assert_int_equal(post_json("/v1/enroll", enroll_body(tok, csr, name), false, &a), 200);
	id = json_integer_value(json_object_get(a, "host_id"));
	assert_true(id > 0);
	/* The policy key terminals pin: 32 raw bytes in base64, and not the CA or TLS key. */
	const char *pk = json_string_value(json_object_get(a, "policy_public_key"));
	assert_non_null(pk);
	assert_int_equal(strlen(pk), 44);
	assert_int_equal(pk[43], '=');
	assert_non_null(strstr(json_string_value(json_object_get(a, "ca")), "BEGIN CERTIFICATE"));
	snprintf(keypath, PATH_MAX, "%s/%s.key", g_dir, name);
	snprintf(certpath, PATH_MAX, "%s/%s.pem", g_dir, name);
	write_key(key, keypath);
	write_text(certpath, json_string_value(json_object_get(a, "certificate")));
	json_decref(a);
	free(csr);
	EVP_PKEY_free(key);
	return id;
}

/* ---- events ---- */

/* The wire form of agent.started seq with pid, chained to prev (""), hash into hash. */
static json_t *wire_event(uint64_t seq, uint64_t pid, const char *prev, char hash[65])
{
	struct mg_event *ev = mg_event_new(MG_EV_AGENT_STARTED);
	char *canon = NULL;
	size_t len = 0;
	json_t *o;
	assert_non_null(ev);
	ev->time_us = 1767225600000000LL + (int64_t)seq;
	ev->host = strdup("mn-term-01");
	ev->seq = seq;
	memcpy(ev->boot_id, BOOT, sizeof(ev->boot_id));
	mg_event_agent(ev)->version = strdup("0.1.0");
	mg_event_agent(ev)->pid = pid;
	assert_int_equal(mg_event_to_json(ev, &canon, &len), 0);
	assert_int_equal(mg_api_sha256_hex(canon, len, hash), 0);
	o = json_loads(canon, 0, NULL);
	assert_non_null(o);
	json_object_set_new(o, "prev_hash", json_string(prev));
	json_object_set_new(o, "hash", json_string(hash));
	free(canon);
	mg_event_free(&ev);
	return o;
}

/* Batch of seq from..to (pid 100 + seq), chained through g_hash. */
static json_t *batch(uint64_t from, uint64_t to)
{
	json_t *arr = json_array();
	for (uint64_t s = from; s <= to; s++)
		json_array_append_new(
		    arr, wire_event(s, 100 + s, s > 1 ? g_hash[s - 1] : "", g_hash[s]));
	return json_pack("{s:s,s:o}", "boot_id", BOOT, "events", arr);
}

static uint64_t acked(json_t *a)
{
	return (uint64_t)json_integer_value(json_object_get(a, "acked_through"));
}

/* ---- tests (in order: later ones build on the stored state) ---- */

static void test_enroll(void **state)
{
	char tok[128];
	EVP_PKEY *key = new_key();
	char *csr = make_csr(key);
	json_t *a = NULL;
	struct mg_store *s;
	(void)state;

	g_host_id = enroll("host-a", g_key, g_cert);

	/* reuse: 409 */
	token_create(tok, sizeof(tok));
	assert_int_equal(post_json("/v1/enroll", enroll_body(tok, csr, "h2"), false, &a), 200);
	json_decref(a);
	assert_int_equal(post_json("/v1/enroll", enroll_body(tok, csr, "h2"), false, &a), 409);
	assert_non_null(strstr(err_of(a), "already used"));
	json_decref(a);

	/* expired: 403 with a clear error */
	s = store();
	{
		char hex[65];
		const char *t = "expired-token-for-the-test";
		assert_int_equal(mg_api_sha256_hex(t, strlen(t), hex), 0);
		assert_int_equal(mg_store_token_add(s, NULL, hex, 1000000, 1, 1), 0);
		mg_store_close(&s);
		assert_int_equal(post_json("/v1/enroll", enroll_body(t, csr, "h3"), false, &a),
		                 403);
		assert_non_null(strstr(err_of(a), "expired"));
		json_decref(a);
	}

	/* unknown token: 403 */
	assert_int_equal(post_json("/v1/enroll", enroll_body("nope", csr, "h4"), false, &a), 403);
	assert_non_null(strstr(err_of(a), "unknown"));
	json_decref(a);

	/* bad CSR: 400, and the token stays unused */
	token_create(tok, sizeof(tok));
	assert_int_equal(post_json("/v1/enroll",
	                           enroll_body(tok,
	                                       "-----BEGIN CERTIFICATE REQUEST"
	                                       "-----\nAAAA\n-----END "
	                                       "CERTIFICATE REQUEST-----\n",
	                                       "h5"),
	                           false, &a),
	                 400);
	assert_non_null(strstr(err_of(a), "csr"));
	json_decref(a);
	/* a CSR whose signature does not verify */
	{
		char *bad = strdup(csr);
		char *mid = bad + strlen(bad) - 40;
		*mid = *mid == 'A' ? 'B' : 'A';
		assert_int_equal(post_json("/v1/enroll", enroll_body(tok, bad, "h5"), false, &a),
		                 400);
		json_decref(a);
		free(bad);
	}
	/* a CSR with an RSA key */
	{
		EVP_PKEY *rsa = EVP_RSA_gen(2048);
		char *rsa_csr;
		assert_non_null(rsa);
		rsa_csr = make_csr(rsa);
		assert_int_equal(
		    post_json("/v1/enroll", enroll_body(tok, rsa_csr, "h5"), false, &a), 400);
		assert_non_null(strstr(err_of(a), "P-256"));
		json_decref(a);
		free(rsa_csr);
		EVP_PKEY_free(rsa);
	}
	assert_int_equal(post_json("/v1/enroll", enroll_body(tok, csr, "h5"), false, &a), 200);
	json_decref(a);
	free(csr);
	EVP_PKEY_free(key);
}

static void test_events_exactly_once(void **state)
{
	json_t *a = NULL;
	(void)state;
	assert_int_equal(post_json("/v1/events", batch(1, 3), true, &a), 200);
	assert_int_equal(acked(a), 3);
	assert_int_equal(json_integer_value(json_object_get(a, "stored")), 3);
	json_decref(a);
	/* the same batch again: acknowledged, nothing stored twice */
	assert_int_equal(post_json("/v1/events", batch(1, 3), true, &a), 200);
	assert_int_equal(acked(a), 3);
	assert_int_equal(json_integer_value(json_object_get(a, "stored")), 0);
	json_decref(a);
	assert_int_equal(event_count(g_host_id), 3);
}

static void test_events_gap_conflict_chain(void **state)
{
	json_t *a = NULL, *b;
	char h[65];
	struct mg_store *s;
	uint64_t alerts = 0;
	(void)state;

	/* gap */
	assert_int_equal(post_json("/v1/events", batch(10, 11), true, &a), 409);
	assert_int_equal(json_integer_value(json_object_get(a, "resend_from")), 4);
	json_decref(a);

	/* conflicting content for a stored seq (hash consistent with it): 422 + tamper alert */
	b = json_pack("{s:s,s:[o]}", "boot_id", BOOT, "events", wire_event(2, 999, g_hash[1], h));
	assert_int_equal(post_json("/v1/events", b, true, &a), 422);
	assert_int_equal(json_integer_value(json_object_get(a, "seq")), 2);
	json_decref(a);
	s = store();
	assert_int_equal(mg_store_alerts_count(s, g_host_id, &alerts), 0);
	mg_store_close(&s);
	assert_int_equal(alerts, 1);

	/* broken hash: the hash does not match the event */
	b = json_pack("{s:s,s:[o]}", "boot_id", BOOT, "events", wire_event(4, 104, g_hash[3], h));
	json_object_set_new(json_array_get(json_object_get(b, "events"), 0), "hash",
	                    json_string(g_hash[1]));
	assert_int_equal(post_json("/v1/events", b, true, &a), 422);
	assert_non_null(strstr(err_of(a), "hash"));
	json_decref(a);

	/* broken chain: prev_hash is not the hash of seq 3 */
	b = json_pack("{s:s,s:[o]}", "boot_id", BOOT, "events", wire_event(4, 104, g_hash[1], h));
	assert_int_equal(post_json("/v1/events", b, true, &a), 422);
	assert_non_null(strstr(err_of(a), "chain"));
	json_decref(a);
	assert_int_equal(event_count(g_host_id), 3);
}

static void test_events_auth(void **state)
{
	json_t *a = NULL;
	EVP_PKEY *cakey = new_key(), *key = new_key();
	X509 *ca = X509_new(), *x = X509_new();
	X509 *ours = NULL;
	FILE *f;
	char kp[PATH_MAX], cp[PATH_MAX];
	char *body;
	(void)state;

	/* no client certificate */
	assert_int_equal(post_json("/v1/events", batch(1, 1), false, &a), 401);
	json_decref(a);

	/* a foreign CA's certificate carrying the serial of host-a's certificate */
	f = fopen(g_cert, "r");
	assert_non_null(f);
	ours = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(ours);
	X509_set_version(ca, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(ca), 1);
	X509_gmtime_adj(X509_getm_notBefore(ca), -60);
	X509_gmtime_adj(X509_getm_notAfter(ca), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(ca), "CN", MBSTRING_ASC,
	                           (const unsigned char *)"mynaguard collector CA", -1, -1, 0);
	X509_set_issuer_name(ca, X509_get_subject_name(ca));
	X509_set_pubkey(ca, cakey);
	assert_true(X509_sign(ca, cakey, EVP_sha256()) > 0);
	X509_set_version(x, 2);
	X509_set_serialNumber(x, X509_get_serialNumber(ours));
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_subject_name(x, X509_get_subject_name(ours));
	X509_set_issuer_name(x, X509_get_subject_name(ca));
	X509_set_pubkey(x, key);
	assert_true(X509_sign(x, cakey, EVP_sha256()) > 0);
	snprintf(kp, sizeof(kp), "%s/foreign.key", g_dir);
	snprintf(cp, sizeof(cp), "%s/foreign.pem", g_dir);
	write_key(key, kp);
	f = fopen(cp, "w");
	assert_non_null(f);
	PEM_write_X509(f, x);
	fclose(f);
	{
		json_t *b = batch(4, 4);
		body = json_dumps(b, JSON_COMPACT);
		json_decref(b);
	}
	assert_int_equal(post("/v1/events", body, strlen(body), cp, kp, &a), 403);
	json_decref(a);
	free(body);
	assert_int_equal(event_count(g_host_id), 3);

	X509_free(ours);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(cakey);
}

static void test_limits(void **state)
{
	json_t *a = NULL;
	size_t big = 2u * 1024u * 1024u;
	char *body = malloc(big);
	const char *trunc = "{\"boot_id\":\"" BOOT "\",\"events\":[{\"type\":";
	const char bad_utf8[] = "{\"boot_id\":\"\xff\xfe\",\"events\":[]}";
	json_t *arr;
	(void)state;

	assert_non_null(body);
	memset(body, ' ', big);
	body[0] = '{';
	body[big - 1] = '}';
	/* announced by Content-Length (the client waits for 100 Continue): refused unread */
	g_extra_header = "Expect: 100-continue";
	assert_int_equal(post("/v1/events", body, big, g_cert, g_key, &a), 413);
	json_decref(a);
	/* chunked, no length announced: the cap is enforced while receiving */
	g_extra_header = "Transfer-Encoding: chunked";
	assert_int_equal(post("/v1/events", body, big, g_cert, g_key, &a), 413);
	assert_non_null(strstr(err_of(a), "1 MiB"));
	json_decref(a);
	free(body);
	/* chunked and endless (here 5 MiB): the connection is closed, the server lives on */
	big = 5u * 1024u * 1024u;
	body = malloc(big);
	assert_non_null(body);
	memset(body, ' ', big);
	assert_int_equal(post("/v1/events", body, big, g_cert, g_key, &a), 0);
	json_decref(a);
	g_extra_header = NULL;
	free(body);

	assert_int_equal(post("/v1/events", trunc, strlen(trunc), g_cert, g_key, &a), 400);
	assert_non_null(a); /* a JSON error body */
	assert_true(strlen(err_of(a)) > 0);
	json_decref(a);

	assert_int_equal(post("/v1/events", bad_utf8, sizeof(bad_utf8) - 1, g_cert, g_key, &a),
	                 400);
	assert_true(strlen(err_of(a)) > 0);
	json_decref(a);

	/* more than 1000 events */
	arr = json_array();
	for (int i = 0; i < 1001; i++)
		json_array_append_new(arr, json_object());
	assert_int_equal(post_json("/v1/events",
	                           json_pack("{s:s,s:o}", "boot_id", BOOT, "events", arr), true,
	                           &a),
	                 413);
	json_decref(a);
	assert_int_equal(event_count(g_host_id), 3);
}

static void test_heartbeat(void **state)
{
	json_t *a = NULL;
	struct mg_store *s;
	struct mg_store_host h;
	(void)state;
	assert_int_equal(post_json("/v1/heartbeat",
	                           json_pack("{s:i,s:s,s:i,s:s}", "spool_depth", 17,
	                                     "oldest_unsent", "2026-11-25T21:17:59.123456Z",
	                                     "policy_version", 4, "agent_version", "0.1.1"),
	                           true, &a),
	                 204);
	json_decref(a);
	s = store();
	assert_int_equal(mg_store_host_get(s, g_host_id, &h), 0);
	mg_store_close(&s);
	assert_int_equal(h.spool_depth, 17);
	assert_int_equal(h.policy_version, 4);
	assert_string_equal(h.agent_version, "0.1.1");
	assert_int_equal(post_json("/v1/heartbeat", json_pack("{s:i}", "spool_depth", 1), true, &a),
	                 400);
	json_decref(a);
}

static void test_kill9_retry(void **state)
{
	json_t *a = NULL;
	int st;
	(void)state;
	assert_int_equal(post_json("/v1/events", batch(4, 5), true, &a), 200);
	assert_int_equal(acked(a), 5);
	json_decref(a);
	st = stop_server(SIGKILL);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	start_server();
	/* the agent never saw the answer: it retries the last batch */
	assert_int_equal(post_json("/v1/events", batch(4, 5), true, &a), 200);
	assert_int_equal(acked(a), 5);
	assert_int_equal(json_integer_value(json_object_get(a, "stored")), 0);
	json_decref(a);
	assert_int_equal(event_count(g_host_id), 5);
}

/* mg_api_handle() in process, on a second store handle: overload and a full disk. */
static void test_overload_and_disk_full(void **state)
{
	struct mg_api api = {.cert_days = 1};
	struct mg_http_request req = {.method = "POST", .url = "/v1/events"};
	struct mg_http_response resp = {0};
	struct mg_store_host h;
	json_t *b = batch(6, 6);
	char *body = json_dumps(b, JSON_COMPACT);
	char ca_dir[sizeof(g_dir)];
	(void)state;
	json_decref(b);
	snprintf(ca_dir, sizeof(ca_dir), "%s", g_dir);
	api.store = store();
	assert_int_equal(mg_ca_load(ca_dir, &api.ca), 0);
	assert_int_equal(mg_store_host_get(api.store, g_host_id, &h), 0);
	req.body = body;
	req.body_len = strlen(body);
	req.peer = MG_PEER_VERIFIED;
	snprintf(req.serial, sizeof(req.serial), "%s", h.cert_serial);

	api.max_inflight = 0; /* every ingest is one too many */
	assert_int_equal(mg_api_handle(&api, &req, &resp), 0);
	assert_int_equal(resp.status, 503);
	assert_int_equal(resp.retry_after, 1);
	free(resp.body);
	resp = (struct mg_http_response){0};

	/* the reserve is a SQLite feature (PostgreSQL owns its disk) */
	if (strcmp(mg_store_backend(api.store), "sqlite") == 0) {
		api.max_inflight = 4;
		assert_int_equal(mg_store_set_reserve(api.store, UINT64_MAX), 0);
		assert_int_equal(mg_api_handle(&api, &req, &resp), 0);
		assert_int_equal(resp.status, 507);
		assert_null(strstr(resp.body, "acked_through"));
		free(resp.body);
	}

	mg_ca_free(&api.ca);
	mg_store_close(&api.store);
	free(body);
	assert_int_equal(event_count(g_host_id), 5);
}

static void test_revoked(void **state)
{
	json_t *a = NULL;
	struct mg_store *s = store();
	(void)state;
	assert_int_equal(mg_store_host_revoke(s, NULL, g_host_id, 2000000), 0);
	mg_store_close(&s);
	assert_int_equal(post_json("/v1/events", batch(6, 6), true, &a), 403);
	json_decref(a);
	assert_int_equal(event_count(g_host_id), 5);
}

static void test_cli(void **state)
{
	char out[512];
	struct stat st;
	(void)state;
	/* init refuses to replace an existing CA */
	assert_int_equal(run(out, sizeof(out), "init", "--data-dir", g_dir, "--db", g_db, NULL), 1);
	assert_int_equal(stat(g_dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	{
		char p[sizeof(g_dir) + 16];
		snprintf(p, sizeof(p), "%s/ca.key", g_dir);
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
		snprintf(p, sizeof(p), "%s/server.key", g_dir);
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
	}
	/* bad values and options meant for another subcommand */
	assert_int_equal(
	    run(out, sizeof(out), "token", "create", "--data-dir", g_dir, "--expires", "0"), 2);
	assert_int_equal(
	    run(out, sizeof(out), "token", "create", "--data-dir", g_dir, "--uses", "0"), 2);
	assert_int_equal(
	    run(out, sizeof(out), "init", "--data-dir", g_dir, "--listen", "x:1", NULL), 2);
}

static void test_sigterm(void **state)
{
	int st = stop_server(SIGTERM);
	(void)state;
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/*
 * g_db: a new database on the fixture's PostgreSQL server. 0, 77 (skip: no server and not
 * under CI) or -1.
 */
static int pg_database(const char *state_file)
{
	FILE *f = fopen(state_file, "r");
	char line[900], sql[128];
	int r = getenv("CI") ? -1 : 77;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "url ", 4) == 0) {
			PGconn *c = PQconnectdb(line + 4);
			char *slash = strrchr(line + 4, '/');
			r = -1;
			snprintf(sql, sizeof(sql), "CREATE DATABASE api_%d", (int)getpid());
			if (slash && PQstatus(c) == CONNECTION_OK) {
				PGresult *res = PQexec(c, sql);
				if (PQresultStatus(res) == PGRES_COMMAND_OK) {
					*slash = '\0';
					snprintf(g_db, sizeof(g_db), "%s/api_%d", line + 4,
					         (int)getpid());
					r = 0;
				}
				PQclear(res);
			}
			PQfinish(c);
			break;
		}
	}
	fclose(f);
	return r;
}

static int setup(void **state)
{
	char out[512];
	const char *tmp = getenv("TMPDIR");
	(void)state;
	g_bin = getenv("MG_COLLECTOR");
	if (!g_bin)
		return -1;
	snprintf(g_dir, sizeof(g_dir), "%s/mg-api-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(g_dir))
		return -1;
	strcat(g_dir, "/data");
	if (!g_db[0])
		snprintf(g_db, sizeof(g_db), "sqlite:%s/collector.db", g_dir);
	if (run(out, sizeof(out), "init", "--data-dir", g_dir, "--db", g_db, NULL) != 0)
		return -1;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	start_server();
	return 0;
}

static int teardown(void **state)
{
	char cmd[PATH_MAX + 16];
	(void)state;
	stop_server(SIGKILL);
	curl_global_cleanup();
	*strrchr(g_dir, '/') = '\0';
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const char *pg = getenv("MG_TEST_STORE_URL_FILE");
	if (pg && *pg) {
		int r = pg_database(pg);
		if (r != 0)
			return r == 77 ? 77 : 1;
	}
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_enroll),
	    cmocka_unit_test(test_events_exactly_once),
	    cmocka_unit_test(test_events_gap_conflict_chain),
	    cmocka_unit_test(test_events_auth),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_heartbeat),
	    cmocka_unit_test(test_kill9_retry),
	    cmocka_unit_test(test_overload_and_disk_full),
	    cmocka_unit_test(test_revoked),
	    cmocka_unit_test(test_cli),
	    cmocka_unit_test(test_sigterm),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
