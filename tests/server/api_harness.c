/*
 * Harness for the collector's HTTPS API tests (test_api*.c): `mynaguard-collector init` into a
 * temporary directory, `serve` on 127.0.0.1 (a free port, announced on --ready-fd), requests
 * with libcurl and client certificates made here with OpenSSL, and a second store handle on the
 * same database to check outcomes.
 *
 * Backend: SQLite in the data directory; with MG_TEST_STORE_URL_FILE (the state file of
 * tests/server/pg-test-server.sh) a new database on that PostgreSQL server (exit 77: skipped
 * when the fixture says so). api_main() runs a cmocka group with this setup and teardown.
 */
#include "api_harness.h"

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
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <libpq-fe.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "api_body.h"
#include "digest.h"
#include "mg/event.h"

const char *g_bin;
char g_dir[512];
pid_t g_pid = -1;
unsigned g_port;
char g_db[1024];
const char *g_extra_header;
const char *const *g_serve_args;
const char *g_listen;
char g_key[PATH_MAX], g_cert[PATH_MAX];

/* ---- processes ---- */

void start_server(void)
{
	int fds[2];
	char buf[32] = "";
	size_t got = 0;
	struct pollfd pfd;
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	g_pid = fork();
	assert_true(g_pid >= 0);
	if (g_pid == 0) {
		const char *argv[48] = {g_bin,        "serve",
		                        "--data-dir", g_dir,
		                        "--listen",   g_listen ? g_listen : "127.0.0.1:0",
		                        "--ready-fd", "3",
		                        "--db",       g_db};
		size_t n = 10;
		for (size_t i = 0; g_serve_args && g_serve_args[i] && n < 47; i++)
			argv[n++] = g_serve_args[i];
		argv[n] = NULL;
		dup2(fds[1], 3);
		execv(g_bin, (char *const *)(uintptr_t)argv);
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
int reap(pid_t pid)
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

int stop_server(int sig)
{
	pid_t pid = g_pid;
	if (pid <= 0)
		return -1;
	g_pid = -1;
	kill(pid, sig);
	return reap(pid);
}

/* Runs the collector with argv (NULL-terminated, without the program); its stdout (first line)
 * into out. Returns the exit status. */
int runv(char *out, size_t size, const char *const *args)
{
	int fds[2], status = -1;
	size_t got = 0;
	pid_t pid;
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		const char *argv[64] = {g_bin};
		size_t n = 1;
		for (size_t i = 0; args[i] && n < 63; i++)
			argv[n++] = args[i];
		argv[n] = NULL;
		dup2(fds[1], 1);
		execv(g_bin, (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	close(fds[1]);
	for (;;) {
		struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
		ssize_t n;
		if (got + 1 >= size || poll(&pfd, 1, WAIT_MS) != 1)
			break; /* reap() below fails the test */
		n = read(fds[0], out + got, size - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	out[got] = '\0';
	close(fds[0]);
	status = reap(pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int run(char *out, size_t size, const char *a1, const char *a2, const char *a3, const char *a4,
        const char *a5, const char *a6)
{
	const char *args[] = {a1, a2, a3, a4, a5, a6, NULL};
	int r = runv(out, size, args);
	out[strcspn(out, "\n")] = '\0';
	return r;
}

void token_create(char *tok, size_t size)
{
	assert_int_equal(run(tok, size, "token", "create", "--data-dir", g_dir, "--db", g_db), 0);
	assert_true(strlen(tok) >= 40);
}

struct mg_store *store(void)
{
	char msg[256];
	struct mg_store *s = NULL;
	assert_int_equal(mg_store_open(g_db, &s, msg, sizeof(msg)), 0);
	return s;
}

uint64_t event_count(int64_t host_id)
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

long api_call(const char *method, const char *path, const char *const *headers, const char *body,
              size_t len, const char *cert, const char *key, struct api_reply *out)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	struct buf b = {0}, hb = {0};
	char url[2048], ca[PATH_MAX + 16];
	long status = 0;
	assert_non_null(c);
	assert_true(strlen(path) < sizeof(url) - 64);
	snprintf(url, sizeof(url), "https://127.0.0.1:%u%s", g_port, path);
	snprintf(ca, sizeof(ca), "%s/ca.pem", g_dir);
	if (body)
		h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, g_extra_header ? g_extra_header : "Expect:");
	for (size_t i = 0; headers && headers[i]; i++)
		h = curl_slist_append(h, headers[i]);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	if (strcmp(method, body ? "POST" : "GET") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &hb);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	if (cert) {
		curl_easy_setopt(c, CURLOPT_SSLCERT, cert);
		curl_easy_setopt(c, CURLOPT_SSLKEY, key);
	}
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (out) {
		out->status = status;
		out->body = b.p;
		out->headers = hb.p;
		out->json = b.p ? json_loads(b.p, 0, NULL) : NULL;
	} else {
		free(b.p);
		free(hb.p);
	}
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return status;
}

void api_reply_free(struct api_reply *r)
{
	free(r->body);
	free(r->headers);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

const char *api_reply_header(const struct api_reply *r, const char *name, char *buf, size_t size)
{
	size_t n = strlen(name);
	for (const char *p = r->headers; p && *p;) {
		const char *eol = strchr(p, '\n');
		size_t llen = eol ? (size_t)(eol - p) : strlen(p);
		if (llen > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1;
			size_t vlen;
			while (*v == ' ')
				v++;
			vlen = (size_t)(p + llen - v);
			while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
				vlen--;
			if (vlen >= size)
				return NULL;
			memcpy(buf, v, vlen);
			buf[vlen] = '\0';
			return buf;
		}
		p = eol ? eol + 1 : p + llen;
	}
	return NULL;
}

long post(const char *path, const char *body, size_t len, const char *cert, const char *key,
          json_t **answer)
{
	struct api_reply r = {0};
	long st = api_call("POST", path, NULL, body, len, cert, key, &r);
	if (answer) {
		*answer = r.json;
		r.json = NULL;
	}
	api_reply_free(&r);
	return st;
}

long post_json(const char *path, json_t *o, bool with_cert, json_t **answer)
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

const char *err_of(json_t *a)
{
	const char *e = json_string_value(json_object_get(a, "error"));
	return e ? e : "";
}

/* ---- keys and certificates ---- */

EVP_PKEY *new_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	assert_non_null(k);
	return k;
}

char *make_csr(EVP_PKEY *key)
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

void write_key(EVP_PKEY *key, const char *path)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
}

void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

json_t *enroll_body(const char *token, const char *csr, const char *hostname)
{
	return json_pack("{s:s,s:s,s:s,s:s}", "token", token, "csr", csr, "hostname", hostname,
	                 "agent_version", "0.1.0");
}

int64_t enroll_pub(const char *name, char *keypath, char *certpath, char pub[45])
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
	memcpy(pub, pk, 45);
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

/* Enrols a host; its key and certificate go to DIR/<name>.key and DIR/<name>.pem. */
int64_t enroll(const char *name, char *keypath, char *certpath)
{
	char pub[45];
	return enroll_pub(name, keypath, certpath, pub);
}

/* ---- events ---- */

json_t *wire_event(const char *host, const char *boot, uint64_t seq, uint64_t pid, const char *prev,
                   char hash[65])
{
	struct mg_event *ev = mg_event_new(MG_EV_AGENT_STARTED);
	char *canon = NULL;
	size_t len = 0;
	json_t *o;
	assert_non_null(ev);
	ev->time_us = 1767225600000000LL + (int64_t)seq;
	ev->host = strdup(host);
	ev->seq = seq;
	memcpy(ev->boot_id, boot, sizeof(ev->boot_id));
	mg_event_agent(ev)->version = strdup("0.1.0");
	mg_event_agent(ev)->pid = pid;
	assert_int_equal(mg_event_to_json(ev, &canon, &len), 0);
	assert_int_equal(mg_sha256_hex(canon, len, hash), 0);
	o = json_loads(canon, 0, NULL);
	assert_non_null(o);
	json_object_set_new(o, "prev_hash", json_string(prev));
	json_object_set_new(o, "hash", json_string(hash));
	free(canon);
	mg_event_free(&ev);
	return o;
}

json_t *wire_batch(const char *host, const char *boot, uint64_t from, uint64_t to,
                   uint64_t pid_base, char (*hashes)[65])
{
	json_t *arr = json_array();
	for (uint64_t s = from; s <= to; s++)
		json_array_append_new(arr, wire_event(host, boot, s, pid_base + s,
		                                      s > 1 ? hashes[s - 1] : "", hashes[s]));
	return json_pack("{s:s,s:o}", "boot_id", boot, "events", arr);
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
	{
		char pw[sizeof(g_dir) + 16];
		FILE *f;
		snprintf(pw, sizeof(pw), "%s.admin-pw", g_dir);
		int fd = open(pw, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		f = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (!f)
			return -1;
		fputs(ADMIN_PASSWORD "\n", f);
		fclose(f);
		const char *args[] = {"init", "--data-dir", g_dir,      "--db",
		                      g_db,   "--admin",    ADMIN_NAME, "--admin-password-file",
		                      pw,     NULL};
		if (runv(out, sizeof(out), args) != 0)
			return -1;
	}
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
	char *slash = strrchr(g_dir, '/');
	if (!slash)
		return 0; /* the setup failed before making its directory */
	*slash = '\0';
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
	return system(cmd) == 0 ? 0 : -1;
}

int api_main(const char *name, const struct CMUnitTest *tests, size_t n)
{
	const char *pg = getenv("MG_TEST_STORE_URL_FILE");
	if (pg && *pg) {
		int r = pg_database(pg);
		if (r != 0)
			return r == 77 ? 77 : 1;
	}
	const char *filter = getenv("MG_TEST_FILTER"); /* one scenario while debugging */
	if (filter && *filter)
		cmocka_set_test_filter(filter);
	return _cmocka_run_group_tests(name, tests, n, setup, teardown);
}
