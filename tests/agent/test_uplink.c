/*
 * mynaguard-uplink (agent/uplink/, agent/cmd/uplink_main.c) against a real mynaguard-collector
 * on SQLite over loopback (tests/server/api_harness.h). Each test spawns the uplink (MG_UPLINK)
 * as the agent does: fd 3 = a socketpair, fd 4 = its directory; it sends frames and checks the
 * answers, the files in the directory, the rows in the collector's database and the uplink's
 * exit status. The pure parts (response headers, URL check) are tested first, in process.
 */
#include <dirent.h>
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "api_harness.h"
#include "uplink_header.h"
#include "uplink_http.h"
#include "uplink_proto.h"

#define HOST "mn-uplink-01"
#define BOOT "5e3c1a7b-2f4d-4b8e-9a61-0c7d2e9f4b13"

static const char *g_uplink; /* MG_UPLINK */
static char g_base[600];     /* the directory above g_dir (removed by the harness) */
static char g_enrolled[PATH_MAX];
static int64_t g_host_id;
static char g_etag[MG_UPLINK_MAX_ETAG + 1];
static uint64_t g_version;
static uint32_t g_next_id = 1;

struct uplink {
	pid_t pid;
	int sock;
};

struct reply {
	uint16_t status;
	uint32_t retry_after;
	char etag[MG_UPLINK_MAX_ETAG + 1];
	char error[MG_UPLINK_MAX_ERROR + 1];
	char *body; /* NUL-terminated copy */
	size_t body_len;
	json_t *json;
};

/* ---- helpers ---- */

static void reply_free(struct reply *r)
{
	free(r->body);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

/* A new directory under g_base for an uplink, 0700, into path. */
static void new_dir(const char *name, char *path)
{
	snprintf(path, PATH_MAX, "%s/%s", g_base, name);
	assert_int_equal(mkdir(path, 0700), 0);
}

static void start_uplink(struct uplink *u, const char *dir)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	u->pid = fork();
	assert_true(u->pid >= 0);
	if (u->pid == 0) {
		/* Above 4 first, so that neither dup2 below overwrites the other's source. */
		int s = fcntl(sv[1], F_DUPFD, 10), d = fcntl(dfd, F_DUPFD, 10);
		if (s < 0 || d < 0 || dup2(s, 3) < 0 || dup2(d, 4) < 0)
			_exit(126);
		execl(g_uplink, "mynaguard-uplink", "--log-level", "debug", (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	close(dfd);
	u->sock = sv[0];
}

/* Closes the agent's end and returns the uplink's exit code (-1: killed by a signal). */
static int stop_uplink(struct uplink *u)
{
	if (u->sock >= 0)
		close(u->sock);
	u->sock = -1;
	int st = reap(u->pid);
	u->pid = -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void send_raw(struct uplink *u, const void *buf, size_t len)
{
	assert_int_equal(send(u->sock, buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

static void read_exact(int fd, uint8_t *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		assert_int_equal(poll(&p, 1, WAIT_MS), 1);
		ssize_t n = read(fd, buf + got, len - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
}

/* Sends a request frame and reads its answer into r. */
static void call(struct uplink *u, uint8_t type, const void *payload, size_t len, struct reply *r)
{
	const uint32_t id = g_next_id++;
	size_t flen = mg_uplink_frame_size(len);
	uint8_t *frame = malloc(flen), hdr[MG_UPLINK_HEADER];
	assert_non_null(frame);
	assert_int_equal(mg_uplink_frame_encode(type, id, payload, len, frame, flen), 0);
	send_raw(u, frame, flen);
	free(frame);

	read_exact(u->sock, hdr, sizeof(hdr));
	uint32_t plen = (uint32_t)hdr[8] | (uint32_t)hdr[9] << 8 | (uint32_t)hdr[10] << 16 |
	                (uint32_t)hdr[11] << 24;
	assert_true(plen <= MG_UPLINK_MAX_PAYLOAD);
	frame = malloc(MG_UPLINK_HEADER + plen);
	assert_non_null(frame);
	memcpy(frame, hdr, sizeof(hdr));
	read_exact(u->sock, frame + MG_UPLINK_HEADER, plen);
	struct mg_uplink_frame f;
	struct mg_uplink_answer a;
	size_t used = 0;
	char why[128];
	assert_int_equal(
	    mg_uplink_frame_decode(frame, MG_UPLINK_HEADER + plen, &f, &used, why, sizeof(why)), 0);
	assert_int_equal(f.type, MG_UPLINK_ANSWER);
	assert_int_equal(f.id, id);
	assert_int_equal(mg_uplink_answer_parse(f.payload, f.len, &a, why, sizeof(why)), 0);
	memset(r, 0, sizeof(*r));
	r->status = a.status;
	r->retry_after = a.retry_after;
	memcpy(r->etag, a.etag, a.etag_len);
	memcpy(r->error, a.error, a.error_len);
	r->body = malloc(a.body_len + 1);
	assert_non_null(r->body);
	if (a.body_len)
		memcpy(r->body, a.body, a.body_len);
	r->body[a.body_len] = '\0';
	r->body_len = a.body_len;
	r->json = a.body_len ? json_loads(r->body, 0, NULL) : NULL;
	free(frame);
	printf("# %s: status %u error \"%s\" etag \"%s\" body %zu bytes\n",
	       mg_uplink_type_name(type), r->status, r->error, r->etag, r->body_len);
}

static void call_json(struct uplink *u, uint8_t type, json_t *o, struct reply *r)
{
	char *text = json_dumps(o, JSON_COMPACT);
	assert_non_null(text);
	call(u, type, text, strlen(text), r);
	free(text);
	json_decref(o);
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 65537);
	assert_non_null(f);
	assert_non_null(buf);
	size_t n = fread(buf, 1, 65536, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static char *collector_url(void)
{
	char *url = NULL;
	assert_true(asprintf(&url, "https://127.0.0.1:%u", g_port) > 0);
	return url;
}

static char *collector_ca(void)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/ca.pem", g_dir);
	return read_text(path);
}

/* The ENROLL payload. */
static json_t *enroll_payload(const char *url, const char *token, const char *ca)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "collector", url, "token", token, "ca", ca,
	                 "hostname", HOST, "agent_version", "0.1.0");
}

/* Number of entries in dir besides . and .. */
static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* A self-signed CA certificate that did not issue the collector's. */
static char *other_ca(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	BIO *b = BIO_new(BIO_s_mem());
	X509_NAME *n;
	char *data, *pem;
	long len;
	assert_non_null(k);
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 4242), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	n = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	                                            (const unsigned char *)"not the collector CA",
	                                            -1, -1, 0),
	                 1);
	assert_int_equal(X509_set_issuer_name(x, n), 1);
	assert_int_equal(X509_set_pubkey(x, k), 1);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	assert_int_equal(PEM_write_bio_X509(b, x), 1);
	len = BIO_get_mem_data(b, &data);
	pem = strndup(data, (size_t)len);
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(k);
	return pem;
}

/* ---- pure parts ---- */

static void headers_retry_after_and_etag(void **state)
{
	(void)state;
	struct mg_uplink_headers h;
	memset(&h, 0, sizeof(h));
#define LINE(s) mg_uplink_header_line(&h, s, strlen(s))
	LINE("HTTP/1.1 503 Service Unavailable\r\n");
	LINE("Retry-After: 7\r\n");
	assert_int_equal(h.retry_after, 7);
	LINE("retry-after:   120  \r\n");
	assert_int_equal(h.retry_after, 120);
	LINE("Retry-After: 99999999999999999999\r\n"); /* capped, no overflow */
	assert_int_equal(h.retry_after, MG_UPLINK_RETRY_AFTER_MAX);
	LINE("Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n"); /* HTTP-date: 0 */
	assert_int_equal(h.retry_after, 0);
	LINE("Retry-After: -5\r\n");
	assert_int_equal(h.retry_after, 0);
	LINE("ETag:  \"7\" \r\n");
	assert_string_equal(h.etag, "\"7\"");
	assert_int_equal(h.etag_len, 3);
	LINE("ETag: W/\"a b\"\r\n"); /* a space: not passed on */
	assert_int_equal(h.etag_len, 0);
	char big[MG_UPLINK_MAX_ETAG + 32];
	memset(big, 'x', sizeof(big));
	memcpy(big, "ETag: ", 6);
	big[sizeof(big) - 1] = '\0';
	LINE(big);
	assert_int_equal(h.etag_len, 0);
	LINE("ETag: \"8\"\r\n");
	LINE("Retry-After: 3\r\n");
	LINE("ETagX: \"9\"\r\n"); /* another header */
	assert_string_equal(h.etag, "\"8\"");
	LINE("HTTP/1.1 200 OK\r\n"); /* a new response starts clean */
	assert_int_equal(h.etag_len, 0);
	assert_int_equal(h.retry_after, 0);
#undef LINE
}

static void url_check(void **state)
{
	(void)state;
	char why[128];
	assert_int_equal(mg_uplink_url_check("https://collector.example.lg.jp:8443", why, 128), 0);
	assert_int_equal(mg_uplink_url_check("https://10.0.0.5/mynaguard/", why, 128), 0);
	assert_int_equal(mg_uplink_url_check("http://10.0.0.5", why, 128), -EINVAL);
	assert_int_equal(mg_uplink_url_check("HTTPS://10.0.0.5", why, 128), -EINVAL);
	assert_int_equal(mg_uplink_url_check("https://", why, 128), -EINVAL);
	assert_int_equal(mg_uplink_url_check("https://u:p@10.0.0.5", why, 128), -EINVAL);
	assert_int_equal(mg_uplink_url_check("https://10.0.0.5/?a=b", why, 128), -EINVAL);
	assert_int_equal(mg_uplink_url_check("https://10.0.0.5/#x", why, 128), -EINVAL);
	assert_int_equal(mg_uplink_url_check("https://10.0.0.5/a b", why, 128), -EINVAL);
	assert_int_equal(mg_uplink_url_check("https://10.0.0.5\r\nX: y", why, 128), -EINVAL);
	assert_int_equal(mg_uplink_url_check("", why, 128), -EINVAL);
	char longer[600];
	memset(longer, 'a', sizeof(longer));
	memcpy(longer, "https://", 8);
	longer[sizeof(longer) - 1] = '\0';
	assert_int_equal(mg_uplink_url_check(longer, why, 128), -EINVAL);
}

/* ---- the process against the collector ---- */

static int setup_base(void)
{
	g_uplink = getenv("MG_UPLINK");
	if (!g_uplink)
		return -1;
	snprintf(g_base, sizeof(g_base), "%s", g_dir);
	*strrchr(g_base, '/') = '\0';
	return 0;
}

static void not_enrolled(void **state)
{
	(void)state;
	struct uplink u;
	struct reply r;
	char dir[PATH_MAX];
	assert_int_equal(setup_base(), 0);
	new_dir("empty", dir);
	start_uplink(&u, dir);
	const uint8_t types[] = {MG_UPLINK_POLICY_POLL, MG_UPLINK_HEARTBEAT, MG_UPLINK_EVENTS,
	                         MG_UPLINK_POLICY_APPLIED, MG_UPLINK_REQUEST};
	for (size_t i = 0; i < sizeof(types); i++) {
		call(&u, types[i], "{}", types[i] == MG_UPLINK_POLICY_POLL ? 0 : 2, &r);
		assert_int_equal(r.status, 0);
		assert_string_equal(r.error, "not enrolled");
		assert_int_equal(r.body_len, 0);
		reply_free(&r);
	}
	assert_int_equal(stop_uplink(&u), 0);
	assert_int_equal(entries(dir), 0);
}

static void enroll_wrong_ca_stores_nothing(void **state)
{
	(void)state;
	struct uplink u;
	struct reply r;
	char dir[PATH_MAX], tok[128];
	char *url = collector_url(), *ca = other_ca();
	new_dir("wrong-ca", dir);
	token_create(tok, sizeof(tok));
	start_uplink(&u, dir);
	call_json(&u, MG_UPLINK_ENROLL, enroll_payload(url, tok, ca), &r);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.error, "TLS: certificate does not verify against the pinned CA"));
	reply_free(&r);
	assert_int_equal(stop_uplink(&u), 0);
	assert_int_equal(entries(dir), 0);
	free(url);
	free(ca);
}

static void enroll_unknown_token_passes_403(void **state)
{
	(void)state;
	struct uplink u;
	struct reply r;
	char dir[PATH_MAX];
	char *url = collector_url(), *ca = collector_ca();
	new_dir("bad-token", dir);
	start_uplink(&u, dir);
	call_json(&u, MG_UPLINK_ENROLL,
	          enroll_payload(url, "gFWqouqm8f43bn152XXOorWd_734jT130sW6q_Ro6MM", ca), &r);
	assert_int_equal(r.status, 403);
	assert_string_equal(r.error, "");
	assert_string_equal(err_of(r.json), "unknown enrolment token");
	reply_free(&r);
	assert_int_equal(stop_uplink(&u), 0);
	assert_int_equal(entries(dir), 0);
	free(url);
	free(ca);
}

static void enroll_bad_requests(void **state)
{
	(void)state;
	struct uplink u;
	struct reply r;
	char dir[PATH_MAX];
	char *ca = collector_ca();
	new_dir("bad-enroll", dir);
	start_uplink(&u, dir);
	call_json(&u, MG_UPLINK_ENROLL, enroll_payload("http://127.0.0.1:1", "t", ca), &r);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.error, "collector: expected an https:// URL"));
	reply_free(&r);
	json_t *o = enroll_payload("https://127.0.0.1:1", "t", ca);
	json_object_set_new(o, "force", json_true());
	call_json(&u, MG_UPLINK_ENROLL, o, &r);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.error, "unknown key"));
	reply_free(&r);
	call_json(&u, MG_UPLINK_ENROLL, enroll_payload("https://127.0.0.1:1", "t", "not a PEM"),
	          &r);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.error, "ca: not a PEM certificate"));
	reply_free(&r);
	call(&u, MG_UPLINK_ENROLL, "{\"token\":", 9, &r);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.error, "not valid JSON"));
	reply_free(&r);
	assert_int_equal(stop_uplink(&u), 0);
	assert_int_equal(entries(dir), 0);
	free(ca);
}

static void enroll_stores_the_enrolment(void **state)
{
	(void)state;
	struct uplink u;
	struct reply r;
	char tok[128], p[PATH_MAX + 16];
	char *url = collector_url(), *ca = collector_ca();
	struct stat st;
	new_dir("enrolled", g_enrolled);
	token_create(tok, sizeof(tok));
	start_uplink(&u, g_enrolled);
	call_json(&u, MG_UPLINK_ENROLL, enroll_payload(url, tok, ca), &r);
	assert_true(r.status == 200 || r.status == 201);
	assert_string_equal(r.error, "");
	assert_non_null(r.json);
	g_host_id = json_integer_value(json_object_get(r.json, "host_id"));
	assert_true(g_host_id > 0);
	const char *pk = json_string_value(json_object_get(r.json, "policy_public_key"));
	assert_non_null(pk);
	assert_int_equal(strlen(pk), 44);
	/* The files: the key 0600, the certificate the collector issued, the CA, the URL. */
	snprintf(p, sizeof(p), "%s/key.pem", g_enrolled);
	assert_int_equal(lstat(p, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	snprintf(p, sizeof(p), "%s/cert.pem", g_enrolled);
	char *cert = read_text(p);
	assert_string_equal(cert, json_string_value(json_object_get(r.json, "certificate")));
	snprintf(p, sizeof(p), "%s/ca.pem", g_enrolled);
	char *stored_ca = read_text(p);
	assert_string_equal(stored_ca, ca);
	snprintf(p, sizeof(p), "%s/collector", g_enrolled);
	char *stored_url = read_text(p);
	char *line = NULL;
	assert_true(asprintf(&line, "%s\n", url) > 0);
	assert_string_equal(stored_url, line);
	assert_int_equal(entries(g_enrolled), 4); /* no temp file left */
	reply_free(&r);
	assert_int_equal(stop_uplink(&u), 0);
	free(line);
	free(stored_url);
	free(stored_ca);
	free(cert);
	free(url);
	free(ca);
}

/* A failed enrolment over a stored one leaves it as it was. */
static void failed_enroll_keeps_the_enrolment(void **state)
{
	(void)state;
	struct uplink u;
	struct reply r;
	char p[PATH_MAX + 16];
	char *url = collector_url(), *ca = collector_ca();
	snprintf(p, sizeof(p), "%s/key.pem", g_enrolled);
	char *key = read_text(p);
	start_uplink(&u, g_enrolled);
	call_json(&u, MG_UPLINK_ENROLL,
	          enroll_payload(url, "gFWqouqm8f43bn152XXOorWd_734jT130sW6q_Ro6MM", ca), &r);
	assert_int_equal(r.status, 403);
	reply_free(&r);
	assert_int_equal(stop_uplink(&u), 0);
	char *after = read_text(p);
	assert_string_equal(after, key);
	assert_int_equal(entries(g_enrolled), 4);
	free(after);
	free(key);
	free(url);
	free(ca);
}

static void events_heartbeat_policy_request(void **state)
{
	(void)state;
	struct uplink u;
	struct reply r;
	char hashes[8][65];
	start_uplink(&u, g_enrolled);

	/* EVENTS: stored once, acknowledged. */
	call_json(&u, MG_UPLINK_EVENTS, wire_batch(HOST, BOOT, 1, 3, 500, hashes), &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_integer_value(json_object_get(r.json, "acked_through")), 3);
	reply_free(&r);
	assert_int_equal(event_count(g_host_id), 3);
	/* A gap: the 409 and its body come back as they are. */
	call_json(&u, MG_UPLINK_EVENTS, wire_batch(HOST, BOOT, 5, 5, 500, hashes), &r);
	assert_int_equal(r.status, 409);
	assert_int_equal(json_integer_value(json_object_get(r.json, "resend_from")), 4);
	assert_int_equal(json_integer_value(json_object_get(r.json, "acked_through")), 3);
	reply_free(&r);

	/* POLICY_POLL without an ETag, then with it. */
	call(&u, MG_UPLINK_POLICY_POLL, NULL, 0, &r);
	assert_int_equal(r.status, 200);
	assert_true(strlen(r.etag) >= 3);
	assert_int_equal(r.etag[0], '"');
	assert_non_null(json_string_value(json_object_get(r.json, "bundle")));
	assert_non_null(json_string_value(json_object_get(r.json, "signature")));
	g_version = (uint64_t)json_integer_value(json_object_get(r.json, "version"));
	assert_true(g_version >= 1);
	snprintf(g_etag, sizeof(g_etag), "%s", r.etag);
	reply_free(&r);
	call(&u, MG_UPLINK_POLICY_POLL, g_etag, strlen(g_etag), &r);
	assert_int_equal(r.status, 304);
	assert_string_equal(r.etag, g_etag);
	assert_int_equal(r.body_len, 0);
	reply_free(&r);
	/* An ETag with CR/LF is not sent. */
	call(&u, MG_UPLINK_POLICY_POLL, "\"1\"\r\nX: y", 10, &r);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.error, "ETag"));
	reply_free(&r);

	/* HEARTBEAT, POLICY_APPLIED: 204. */
	call_json(&u, MG_UPLINK_HEARTBEAT,
	          json_pack("{s:i, s:n, s:I, s:s}", "spool_depth", 0, "oldest_unsent",
	                    "policy_version", (json_int_t)g_version, "agent_version", "0.1.0"),
	          &r);
	assert_int_equal(r.status, 204);
	assert_int_equal(r.body_len, 0);
	reply_free(&r);
	call_json(&u, MG_UPLINK_POLICY_APPLIED,
	          json_pack("{s:I}", "version", (json_int_t)g_version), &r);
	assert_int_equal(r.status, 204);
	reply_free(&r);
	struct mg_store *s = store();
	struct mg_store_host h;
	assert_int_equal(mg_store_host_get(s, g_host_id, &h), 0);
	assert_int_equal(h.policy_version, g_version);
	assert_string_equal(h.hostname, HOST);
	assert_string_equal(h.agent_version, "0.1.0");
	mg_store_close(&s);

	/* REQUEST: 201, and the same again: 200. */
	json_t *req = json_pack("{s:s, s:s, s:{s:s, s:s}, s:s}", "request_id", "20261125-0001",
	                        "user", "tanaka", "device", "vendor_id", "0781", "product_id",
	                        "5581", "reason", "住民票データの移送");
	json_incref(req);
	call_json(&u, MG_UPLINK_REQUEST, req, &r);
	assert_int_equal(r.status, 201);
	assert_string_equal(json_string_value(json_object_get(r.json, "state")), "pending");
	reply_free(&r);
	call_json(&u, MG_UPLINK_REQUEST, req, &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);

	assert_int_equal(stop_uplink(&u), 0);
	assert_int_equal(entries(g_enrolled), 4);
}

/* Symlinked files are refused, not followed. */
static void symlinked_key_refused(void **state)
{
	(void)state;
	struct uplink u;
	struct reply r;
	char dir[PATH_MAX], from[PATH_MAX + 16], to[PATH_MAX + 16];
	new_dir("symlinked", dir);
	const char *names[] = {"cert.pem", "ca.pem", "collector"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(from, sizeof(from), "%s/%s", g_enrolled, names[i]);
		snprintf(to, sizeof(to), "%s/%s", dir, names[i]);
		char *t = read_text(from);
		write_text(to, t);
		free(t);
	}
	snprintf(from, sizeof(from), "%s/key.pem", g_enrolled);
	snprintf(to, sizeof(to), "%s/key.pem", dir);
	assert_int_equal(symlink(from, to), 0);
	start_uplink(&u, dir);
	call(&u, MG_UPLINK_POLICY_POLL, NULL, 0, &r);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.error, "key.pem: a symbolic link"));
	reply_free(&r);
	assert_int_equal(stop_uplink(&u), 0);
}

/* The collector gone: status 0 and what happened in words. */
static void collector_stopped(void **state)
{
	(void)state;
	struct uplink u;
	struct reply r;
	char *url = collector_url(), *want = NULL;
	start_uplink(&u, g_enrolled);
	call(&u, MG_UPLINK_POLICY_POLL, NULL, 0, &r); /* a kept-alive connection first */
	assert_int_equal(r.status, 200);
	reply_free(&r);
	stop_server(SIGTERM);
	call_json(&u, MG_UPLINK_HEARTBEAT,
	          json_pack("{s:i, s:n, s:i, s:s}", "spool_depth", 0, "oldest_unsent",
	                    "policy_version", 0, "agent_version", "0.1.0"),
	          &r);
	assert_int_equal(r.status, 0);
	assert_true(asprintf(&want, "cannot connect to %s: Connection refused", url) > 0);
	assert_string_equal(r.error, want);
	reply_free(&r);
	assert_int_equal(stop_uplink(&u), 0);
	free(want);
	free(url);
}

/* Protocol errors end the uplink with status 1; EOF with 0. */
static void garbage_frame_exits_1(void **state)
{
	(void)state;
	struct uplink u;
	start_uplink(&u, g_enrolled);
	send_raw(&u, "GET / HTTP/1.1\r\n\r\n", 18);
	int st = reap(u.pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 1);
	close(u.sock);
}

static void answer_frame_from_agent_exits_1(void **state)
{
	(void)state;
	struct uplink u;
	uint8_t frame[MG_UPLINK_HEADER + 12];
	struct mg_uplink_answer a = {.status = 200};
	uint8_t payload[12];
	assert_int_equal(mg_uplink_answer_encode(&a, payload, sizeof(payload)), 0);
	assert_int_equal(
	    mg_uplink_frame_encode(MG_UPLINK_ANSWER, 1, payload, 12, frame, sizeof(frame)), 0);
	start_uplink(&u, g_enrolled);
	send_raw(&u, frame, sizeof(frame));
	int st = reap(u.pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 1);
	close(u.sock);
}

static void eof_exits_0(void **state)
{
	(void)state;
	struct uplink u;
	start_uplink(&u, g_enrolled);
	assert_int_equal(stop_uplink(&u), 0);
	/* Also half a frame, then EOF. */
	start_uplink(&u, g_enrolled);
	send_raw(&u, "\x01\x02\x00\x00", 4);
	assert_int_equal(stop_uplink(&u), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(headers_retry_after_and_etag),
	    cmocka_unit_test(url_check),
	    cmocka_unit_test(not_enrolled),
	    cmocka_unit_test(enroll_wrong_ca_stores_nothing),
	    cmocka_unit_test(enroll_unknown_token_passes_403),
	    cmocka_unit_test(enroll_bad_requests),
	    cmocka_unit_test(enroll_stores_the_enrolment),
	    cmocka_unit_test(failed_enroll_keeps_the_enrolment),
	    cmocka_unit_test(events_heartbeat_policy_request),
	    cmocka_unit_test(symlinked_key_refused),
	    cmocka_unit_test(collector_stopped),
	    cmocka_unit_test(garbage_frame_exits_1),
	    cmocka_unit_test(answer_frame_from_agent_exits_1),
	    cmocka_unit_test(eof_exits_0),
	};
	return api_main("uplink", tests, sizeof(tests) / sizeof(tests[0]));
}
