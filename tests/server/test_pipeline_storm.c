/*
 * Issue 12 end to end: 200 terminals reconnect at once after an outage of the collector; the
 * collector paces them (503 + Retry-After above --max-inflight-ingests) and every event arrives
 * exactly once.
 *
 * The terminals are simulated in this process, one libcurl easy handle each on one multi
 * handle, speaking the terminal protocol as mynaguard-uplink does (agent/uplink/uplink_http.c:
 * HTTPS with the CA pinned from the enrolment answer, client certificate and key as blobs,
 * TLS 1.2 or later, "Expect:" off, JSON bodies, 30 s per request) with the upload policy of the
 * agent's pipeline (agent/daemon/pipeline.c): one batch at a time per terminal, the next one
 * right after the 200 that acknowledges it; 503 waits Retry-After (plus jitter here,
 * RETRY_JITTER_MS); 409 resends from resend_from; a transport error or any other status backs
 * off exponentially from 1 s with jitter, capped at 30 s (503s count as failures too, as in
 * the agent); 413 halves the batch; 400/422 stop the boot. A batch is the events after the
 * terminal's acknowledged seq, at most its batch cap (the agent reads its spool the same way,
 * with a cap of 1000).
 *
 * One deviation: the uplink gives up a connection attempt after 5 s; here all terminals share
 * one thread, whose TLS set-up costs about 25 ms per connection under ASan (OpenSSL 3 builds a
 * context and decodes the key for each): 200 handshakes at once take it longer than 5 s of its
 * own CPU, so a 5 s limit would time out connections the collector never saw yet. Connection
 * attempts get the whole 30 s of the request here.
 *
 * Sequence: enrol the terminals (one token with N uses), stop the collector (SIGTERM: the
 * outage), give each terminal a backlog of one boot (3 batches of chained agent.started
 * events); every EARLY_EVERY-th terminal tries once during the outage (connection refused:
 * back-off); restart the collector on the same address with a low --max-inflight-ingests and
 * let all terminals start at the same instant; then check every terminal's acknowledgements,
 * the answers, and the database row by row. Every AHEAD_EVERY-th terminal believes its first
 * batch was acknowledged before the outage (a collector restored from a backup): its first
 * batch is answered 409 and it resends from resend_from.
 *
 * Tuning for experiments (environment): MG_STORM_TERMINALS, MG_STORM_CAP_MIN, MG_STORM_CAP_MAX,
 * MG_STORM_INFLIGHT, MG_STORM_JITTER_MS, MG_STORM_SEED; MG_STORM_DEBUG=1 prints every request.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "api_harness.h"
#include "digest.h"
#include "mg/event.h"
#include "store.h"

#define TERMINALS       200
#define BATCHES         3   /* per terminal: its backlog is this many batches */
#define CAP_MIN         100 /* a terminal's batch cap: CAP_MIN..CAP_MAX events */
#define CAP_MAX         200
#define INFLIGHT        "2"   /* --max-inflight-ingests, below the 4 work threads: 503s */
#define PER_IP          "512" /* every terminal comes from 127.0.0.1 */
#define AHEAD_EVERY     20    /* every 20th terminal's local ack is ahead of the collector */
#define EARLY_EVERY     25    /* every 25th terminal tries once while the collector is down */
#define RETRY_JITTER_MS 1000  /* added to Retry-After (agent/daemon/pipeline.c adds none) */
#define DEADLINE_MS     90000 /* the storm must be over by then */

/* As agent/uplink/uplink_http.c and agent/daemon/pipeline.c (but the connection time, above). */
#define CONNECT_TIMEOUT_MS 30000L
#define TOTAL_TIMEOUT_MS   30000L
#define BACKOFF_CAP_MS     30000
#define USER_AGENT         "mynaguard-uplink/storm-sim"

struct buf {
	char *p;
	size_t n;
};

struct term {
	int64_t host_id;
	char name[32];
	char boot[37];
	char *ca, *cert, *key; /* PEM */
	/* The spool: events 1..nev; event s is text[off[s] .. off[s + 1]) on the wire (its
	 * canonical JSON without the closing brace, then hash and prev_hash), and its canonical
	 * JSON is the first clen[s] - 1 bytes of that and "}". */
	char *text;
	size_t *off;
	uint32_t *clen;
	uint64_t nev, cap;
	bool ahead, early;
	/* the upload */
	uint64_t acked, batch_last;
	unsigned failures;
	int64_t next_at;
	bool busy, done, stopped;
	CURL *h;
	struct curl_slist *hdrs;
	char *body;
	size_t body_len;
	struct buf resp;
	unsigned retry_after;
	char errbuf[CURL_ERROR_SIZE];
	unsigned n200, n409, n503, ntransport;
	CURLcode first_rc;
	int64_t first_backoff_ms;
	/* verification */
	uint8_t *seen;
};

struct storm {
	struct term *t;
	size_t n, ndone, inflight, max_inflight, max_waiting;
	CURLM *m;
	uint64_t seed, events, stored, bytes, bytes_503;
	unsigned jitter_ms;
	/* answers */
	unsigned requests, n200, n409, n503, n503_no_ra, n5xx_other, n4xx_other, transport;
	unsigned ra_max, anomalies, connects;
	char first_transport[CURL_ERROR_SIZE + 64];
	int64_t t0, t_end, max_latency_ms;
	bool debug;
};

static struct storm g_s;

/* ---- helpers ---- */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (g_s.seed += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static unsigned env_uint(const char *name, unsigned def, unsigned lo, unsigned hi)
{
	const char *v = getenv(name);
	char *end;
	unsigned long x;
	if (!v || !*v)
		return def;
	x = strtoul(v, &end, 10);
	if (*end || x < lo || x > hi)
		fail_msg("%s=%s: expected %u..%u", name, v, lo, hi);
	return (unsigned)x;
}

static void anomaly(const char *fmt, ...)
{
	va_list ap;
	if (g_s.anomalies++ < 20) {
		va_start(ap, fmt);
		printf("storm: ");
		vprintf(fmt, ap);
		printf("\n");
		va_end(ap);
	}
}

static char *key_pem(EVP_PKEY *k)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *pem;
	long n;
	assert_non_null(bio);
	assert_int_equal(PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL), 1);
	n = BIO_get_mem_data(bio, &data);
	pem = strndup(data, (size_t)n);
	BIO_free(bio);
	assert_non_null(pem);
	return pem;
}

/* ---- enrolment ---- */

static void enrol_all(struct storm *s)
{
	char tok[256], out[256], uses[16];
	snprintf(uses, sizeof(uses), "%zu", s->n);
	const char *args[] = {"token", "create", "--data-dir", g_dir, "--db",
	                      g_db,    "--uses", uses,         NULL};
	assert_int_equal(runv(out, sizeof(out), args), 0);
	out[strcspn(out, "\n")] = '\0';
	snprintf(tok, sizeof(tok), "%s", out);
	assert_true(strlen(tok) >= 40);
	for (size_t i = 0; i < s->n; i++) {
		struct term *t = &s->t[i];
		EVP_PKEY *k = new_key();
		char *csr = make_csr(k);
		json_t *a = NULL;
		snprintf(t->name, sizeof(t->name), "mn-storm-%03zu", i);
		assert_int_equal(post_json("/v1/enroll", enroll_body(tok, csr, t->name), false, &a),
		                 200);
		t->host_id = json_integer_value(json_object_get(a, "host_id"));
		assert_true(t->host_id > 0);
		t->cert = strdup(json_string_value(json_object_get(a, "certificate")));
		t->ca = strdup(json_string_value(json_object_get(a, "ca")));
		assert_non_null(t->cert);
		assert_non_null(t->ca);
		t->key = key_pem(k);
		json_decref(a);
		free(csr);
		EVP_PKEY_free(k);
	}
	/* one use per enrolment: the token is used up now */
	{
		EVP_PKEY *k = new_key();
		char *csr = make_csr(k);
		json_t *a = NULL;
		assert_int_equal(
		    post_json("/v1/enroll", enroll_body(tok, csr, "mn-storm-extra"), false, &a),
		    409);
		json_decref(a);
		free(csr);
		EVP_PKEY_free(k);
	}
}

/* ---- the backlog ---- */

static void make_backlog(struct term *t, size_t idx)
{
	static const char tail[] = ",\"hash\":\"\",\"prev_hash\":\"\"}";
	size_t size = 0, used = 0;
	char prev[MG_SHA256_HEX_SIZE] = "";
	snprintf(t->boot, sizeof(t->boot), "%08x-%04x-4%03x-8%03x-%012llx", (unsigned)rnd(),
	         (unsigned)(rnd() & 0xffff), (unsigned)(rnd() & 0xfff), (unsigned)(rnd() & 0xfff),
	         (unsigned long long)(rnd() & 0xffffffffffffull));
	/* BATCHES batches of at most cap, the last one at least half of it */
	t->nev = (BATCHES - 1) * t->cap + t->cap / 2 + rnd_below(t->cap - t->cap / 2) + 1;
	t->off = calloc(t->nev + 2, sizeof(*t->off));
	t->clen = calloc(t->nev + 1, sizeof(*t->clen));
	t->seen = calloc(t->nev + 1, 1);
	assert_non_null(t->off);
	assert_non_null(t->clen);
	assert_non_null(t->seen);
	for (uint64_t seq = 1; seq <= t->nev; seq++) {
		struct mg_event *ev = mg_event_new(MG_EV_AGENT_STARTED);
		char *canon = NULL, hash[MG_SHA256_HEX_SIZE];
		size_t len = 0, need;
		assert_non_null(ev);
		ev->time_us =
		    1767225600000000LL + (int64_t)idx * 1000000000LL + (int64_t)seq * 1000;
		ev->host = strdup(t->name);
		ev->seq = seq;
		memcpy(ev->boot_id, t->boot, sizeof(ev->boot_id));
		mg_event_agent(ev)->version = strdup("0.1.0");
		mg_event_agent(ev)->pid = 1000 + seq;
		assert_int_equal(mg_event_to_json(ev, &canon, &len), 0);
		assert_int_equal(mg_sha256_hex(canon, len, hash), 0);
		assert_true(len > 2 && canon[len - 1] == '}');
		need = len - 1 + sizeof(tail) - 1 + 64 + strlen(prev);
		if (used + need + 1 > size) {
			size = (used + need + 1) * 2;
			t->text = realloc(t->text, size);
			assert_non_null(t->text);
		}
		t->off[seq] = used;
		t->clen[seq] = (uint32_t)len;
		used += (size_t)snprintf(t->text + used, size - used,
		                         "%.*s,\"hash\":\"%s\",\"prev_hash\":\"%s\"}",
		                         (int)(len - 1), canon, hash, prev);
		memcpy(prev, hash, sizeof(prev));
		free(canon);
		mg_event_free(&ev);
	}
	t->off[t->nev + 1] = used;
}

/* ---- the simulated uplink ---- */

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct buf *b = &((struct term *)ud)->resp;
	size_t n = size * nmemb;
	char *p = realloc(b->p, b->n + n + 1);
	if (!p)
		return 0;
	memcpy(p + b->n, ptr, n);
	b->p = p;
	b->n += n;
	b->p[b->n] = '\0';
	return n;
}

/* Retry-After: delay-seconds, as agent/uplink/uplink_header.c reads it. */
static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct term *t = ud;
	size_t n = size * nmemb;
	if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0)
		t->retry_after = 0;
	else if (n > 12 && strncasecmp(ptr, "Retry-After:", 12) == 0)
		t->retry_after = (unsigned)strtoul(ptr + 12, NULL, 10);
	return n;
}

static void setup_handle(struct term *t)
{
	char url[64];
	struct curl_blob ca = {t->ca, strlen(t->ca), CURL_BLOB_COPY};
	struct curl_blob cert = {t->cert, strlen(t->cert), CURL_BLOB_COPY};
	struct curl_blob key = {t->key, strlen(t->key), CURL_BLOB_COPY};
	CURL *c = curl_easy_init();
	CURLcode r = CURLE_OK;
	assert_non_null(c);
	snprintf(url, sizeof(url), "https://127.0.0.1:%u/v1/events", g_port);
	t->hdrs = curl_slist_append(NULL, "Expect:");
	t->hdrs = curl_slist_append(t->hdrs, "Content-Type: application/json");
	assert_non_null(t->hdrs);
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (r == CURLE_OK)                                                                 \
			r = curl_easy_setopt(c, opt, val);                                         \
	} while (0)
	SET(CURLOPT_ERRORBUFFER, t->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_NOPROXY, "*");
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_CAINFO, NULL);
	SET(CURLOPT_CAPATH, NULL);
	SET(CURLOPT_CAINFO_BLOB, &ca);
	SET(CURLOPT_SSLCERT_BLOB, &cert);
	SET(CURLOPT_SSLKEY_BLOB, &key);
	SET(CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	SET(CURLOPT_TIMEOUT_MS, TOTAL_TIMEOUT_MS);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_USERAGENT, USER_AGENT);
	SET(CURLOPT_URL, url);
	SET(CURLOPT_HTTPHEADER, t->hdrs);
	SET(CURLOPT_POST, 1L);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, t);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, t);
	SET(CURLOPT_PRIVATE, t);
#undef SET
	assert_int_equal(r, CURLE_OK);
	t->h = c;
}

/* The next batch: the events after the acknowledged seq, at most cap of them. */
static void start_batch(struct storm *s, struct term *t, int64_t now)
{
	static const char head[] = "{\"boot_id\":\"\",\"events\":[";
	uint64_t from = t->acked + 1, to = t->acked + t->cap;
	size_t len, size;
	char *p;
	if (to > t->nev)
		to = t->nev;
	size = sizeof(head) + 36 + (t->off[to + 1] - t->off[from]) + (to - from) + 4;
	free(t->body);
	p = t->body = malloc(size);
	assert_non_null(p);
	len = (size_t)snprintf(p, size, "{\"boot_id\":\"%s\",\"events\":[", t->boot);
	for (uint64_t seq = from; seq <= to; seq++) {
		size_t n = t->off[seq + 1] - t->off[seq];
		if (seq > from)
			p[len++] = ',';
		memcpy(p + len, t->text + t->off[seq], n);
		len += n;
	}
	p[len++] = ']';
	p[len++] = '}';
	p[len] = '\0';
	assert_true(len < size);
	t->batch_last = to;
	t->body_len = len;
	s->bytes += len;
	t->resp.n = 0;
	t->retry_after = 0;
	t->errbuf[0] = '\0';
	t->next_at = now; /* the request's start, for its latency */
	curl_easy_setopt(t->h, CURLOPT_POSTFIELDS, t->body);
	curl_easy_setopt(t->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	assert_int_equal(curl_multi_add_handle(s->m, t->h), CURLM_OK);
	t->busy = true;
	if (++s->inflight > s->max_inflight)
		s->max_inflight = s->inflight;
}

/* agent/daemon/pipeline.c upload_retry_later(), plus jitter on Retry-After. */
static void retry_later(struct storm *s, struct term *t, unsigned retry_after, int64_t now)
{
	int64_t delay;
	t->failures++;
	if (retry_after > 0) {
		delay = (int64_t)retry_after * 1000 + (int64_t)rnd_below(s->jitter_ms + 1);
	} else {
		unsigned shift = t->failures > 6 ? 6 : t->failures - 1;
		delay = (int64_t)1000 << shift;
		if (delay > BACKOFF_CAP_MS)
			delay = BACKOFF_CAP_MS;
		delay = delay / 2 + (int64_t)rnd_below((uint64_t)delay / 2 + 1);
	}
	t->next_at = now + delay;
}

static uint64_t json_u64(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v)
	                                                       : 0;
}

static void batch_done(struct storm *s, struct term *t, CURLcode rc)
{
	int64_t now = now_ms();
	long status = 0, conns = 0;
	json_t *o;
	curl_multi_remove_handle(s->m, t->h);
	t->busy = false;
	s->inflight--;
	s->requests++;
	curl_easy_getinfo(t->h, CURLINFO_NUM_CONNECTS, &conns);
	s->connects += (unsigned)conns;
	if (rc == CURLE_OK)
		curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &status);
	if (s->debug)
		printf("storm: %s seq %llu..%llu: +%lld..+%lld ms, %ld %s\n", t->name,
		       (unsigned long long)t->acked + 1, (unsigned long long)t->batch_last,
		       (long long)(t->next_at - s->t0), (long long)(now - s->t0), status,
		       rc == CURLE_OK ? "" : t->errbuf);
	if (now - t->next_at > s->max_latency_ms)
		s->max_latency_ms = now - t->next_at;
	if (rc != CURLE_OK) {
		if (!s->transport++)
			snprintf(s->first_transport, sizeof(s->first_transport), "%s: %s", t->name,
			         t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc));
		if (!t->ntransport++)
			t->first_rc = rc;
		retry_later(s, t, 0, now);
		if (t->ntransport == 1)
			t->first_backoff_ms = t->next_at - now;
		return;
	}
	o = t->resp.n ? json_loadb(t->resp.p, t->resp.n, 0, NULL) : NULL;
	switch (status) {
	case 200: {
		uint64_t acked = json_u64(o, "acked_through");
		s->n200++;
		t->n200++;
		s->stored += json_u64(o, "stored");
		if (acked != t->batch_last)
			anomaly("%s: 200 with acked_through %llu for a batch ending at %llu",
			        t->name, (unsigned long long)acked,
			        (unsigned long long)t->batch_last);
		if (acked > t->acked)
			t->acked = acked;
		t->failures = 0;
		t->next_at = now;
		if (t->acked >= t->nev) {
			t->done = true;
			s->ndone++;
		}
		break;
	}
	case 409: {
		uint64_t resend = json_u64(o, "resend_from");
		s->n409++;
		t->n409++;
		if (!resend || resend > t->acked + 1) {
			anomaly("%s: 409 with resend_from %llu (acknowledged: %llu): %s", t->name,
			        (unsigned long long)resend, (unsigned long long)t->acked,
			        t->resp.p ? t->resp.p : "");
			retry_later(s, t, 0, now);
			break;
		}
		/* the spool still holds them: the next batch starts at resend_from */
		t->acked = resend - 1;
		t->next_at = now;
		break;
	}
	case 503:
		s->bytes_503 += t->body_len;
		s->n503++;
		t->n503++;
		if (!t->retry_after)
			s->n503_no_ra++;
		if (t->retry_after > s->ra_max)
			s->ra_max = t->retry_after;
		retry_later(s, t, t->retry_after, now);
		break;
	default:
		anomaly("%s: %ld %s", t->name, status, t->resp.p ? t->resp.p : "");
		if (status >= 500)
			s->n5xx_other++;
		else
			s->n4xx_other++;
		if (status == 400 || status == 422) { /* the agent stops this boot's upload */
			t->stopped = t->done = true;
			s->ndone++;
		} else if (status == 413) {
			t->cap = t->cap > 1 ? t->cap / 2 : 1;
		} else {
			retry_later(s, t, t->retry_after, now);
		}
	}
	json_decref(o);
}

static void storm_init(struct storm *s)
{
	s->m = curl_multi_init();
	assert_non_null(s->m);
	curl_multi_setopt(s->m, CURLMOPT_MAXCONNECTS, (long)(2 * s->n));
	for (size_t i = 0; i < s->n; i++) {
		setup_handle(&s->t[i]);
		s->t[i].next_at = INT64_MAX; /* not yet */
	}
}

/*
 * Runs the transfers: with starts, every terminal starts its next batch when due, until all
 * are done or deadline (monotonic ms); without, only the transfers under way finish.
 */
static void pump(struct storm *s, bool starts, int64_t deadline)
{
	int running;
	while (starts ? s->ndone < s->n : s->inflight > 0) {
		int64_t now = now_ms(), wake = now + 250;
		CURLMsg *msg;
		int left;
		size_t waiting = 0;
		if (now > deadline)
			break;
		for (size_t i = 0; starts && i < s->n; i++) {
			struct term *t = &s->t[i];
			if (t->busy || t->done)
				continue;
			if (t->next_at <= now) {
				start_batch(s, t, now);
			} else {
				waiting++;
				if (t->next_at < wake)
					wake = t->next_at;
			}
		}
		if (waiting > s->max_waiting)
			s->max_waiting = waiting;
		curl_multi_perform(s->m, &running);
		while ((msg = curl_multi_info_read(s->m, &left))) {
			struct term *t = NULL;
			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
			batch_done(s, t, msg->data.result);
		}
		now = now_ms();
		curl_multi_poll(s->m, NULL, 0, wake > now ? (int)(wake - now) : 0, NULL);
	}
}

/* During the outage: the early terminals' first attempt (refused), then their back-off. */
static void storm_early(struct storm *s)
{
	int64_t now = now_ms();
	s->t0 = now;
	for (size_t i = 0; i < s->n; i++)
		if (s->t[i].early)
			start_batch(s, &s->t[i], now);
	pump(s, false, now + 20000);
	assert_int_equal(s->inflight, 0);
}

/* All terminals at the same instant (the early ones when their back-off ends); returns when
 * all are done or at the deadline. */
static void storm_run(struct storm *s)
{
	s->t0 = now_ms();
	for (size_t i = 0; i < s->n; i++)
		if (!s->t[i].early)
			s->t[i].next_at = s->t0;
	pump(s, true, s->t0 + DEADLINE_MS);
	s->t_end = now_ms();
}

static void storm_free(struct storm *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct term *t = &s->t[i];
		if (t->h) {
			if (t->busy)
				curl_multi_remove_handle(s->m, t->h);
			curl_easy_cleanup(t->h);
		}
		curl_slist_free_all(t->hdrs);
		free(t->body);
		free(t->resp.p);
		free(t->ca);
		free(t->cert);
		if (t->key) {
			explicit_bzero(t->key, strlen(t->key));
			free(t->key);
		}
		free(t->text);
		free(t->off);
		free(t->clen);
		free(t->seen);
	}
	if (s->m)
		curl_multi_cleanup(s->m);
	free(s->t);
	memset(s, 0, sizeof(*s));
}

/* ---- what the collector stored ---- */

struct scan {
	struct storm *s;
	struct term **by_host; /* host id -> terminal */
	int64_t max_host, last_id;
	uint64_t rows, dup, foreign, differ;
};

static int on_row(void *ctx, int64_t id, int64_t host_id, const char *json)
{
	struct scan *sc = ctx;
	struct term *t = host_id > 0 && host_id <= sc->max_host ? sc->by_host[host_id] : NULL;
	const char *p = strstr(json, "\"seq\":");
	uint64_t seq = p ? strtoull(p + 6, NULL, 10) : 0;
	sc->last_id = id;
	sc->rows++;
	if (!t || seq == 0 || seq > t->nev) {
		if (sc->foreign++ < 5)
			printf("storm: row %lld of host %lld: %.200s\n", (long long)id,
			       (long long)host_id, json);
		return 0;
	}
	if (t->seen[seq]++ && sc->dup++ < 5)
		printf("storm: row %lld: %s seq %llu stored twice\n", (long long)id, t->name,
		       (unsigned long long)seq);
	/* stored verbatim: the canonical form of the event sent */
	size_t clen = t->clen[seq];
	if (strlen(json) != clen || memcmp(json, t->text + t->off[seq], clen - 1) != 0 ||
	    json[clen - 1] != '}') {
		if (sc->differ++ < 5)
			printf("storm: row %lld: %s seq %llu differs from the event sent\n",
			       (long long)id, t->name, (unsigned long long)seq);
	}
	return 0;
}

static void verify_store(struct storm *s)
{
	struct mg_store *st = store();
	struct scan sc = {.s = s};
	uint64_t n = 0, missing = 0, alerts = 0;
	int64_t t0 = now_ms(), t1;
	for (size_t i = 0; i < s->n; i++)
		if (s->t[i].host_id > sc.max_host)
			sc.max_host = s->t[i].host_id;
	sc.by_host = calloc((size_t)sc.max_host + 1, sizeof(*sc.by_host));
	assert_non_null(sc.by_host);
	for (size_t i = 0; i < s->n; i++)
		sc.by_host[s->t[i].host_id] = &s->t[i];
	/* per host: the cursor and the count */
	for (size_t i = 0; i < s->n; i++) {
		struct term *t = &s->t[i];
		/* by host alone: with a type too, SQLite (no ANALYZE) takes the index events_type
		 * and reads the agent.started rows of every host, for each host */
		struct mg_store_event_filter f = {.host_id = t->host_id};
		uint64_t cursor = 0, cnt = 0;
		assert_int_equal(mg_store_cursor_get(st, t->host_id, t->boot, &cursor), 0);
		assert_int_equal(mg_store_events_count(st, &f, &cnt), 0);
		if (cursor != t->nev || cnt != t->nev)
			fail_msg("%s: cursor %llu, %llu events stored, %llu sent", t->name,
			         (unsigned long long)cursor, (unsigned long long)cnt,
			         (unsigned long long)t->nev);
	}
	t1 = now_ms();
	/* every row, once: each event sent stored exactly once, verbatim, and nothing else */
	{
		struct mg_store_event_filter f = {.limit = MG_STORE_MAX_ROWS};
		struct mg_store_event_filter ft = {.type = "agent.started"};
		assert_int_equal(mg_store_events_count(st, &ft, &n), 0);
		assert_int_equal(n, s->events);
		assert_int_equal(mg_store_events_count(st, &f, &n), 0);
		for (;;) {
			uint64_t before = sc.rows;
			f.after_id = sc.last_id;
			assert_int_equal(mg_store_events_query(st, &f, on_row, &sc), 0);
			if (sc.rows == before)
				break;
		}
	}
	for (size_t i = 0; i < s->n; i++)
		for (uint64_t seq = 1; seq <= s->t[i].nev; seq++)
			missing += s->t[i].seen[seq] == 0;
	assert_int_equal(mg_store_alerts_count(st, 0, &alerts), 0);
	mg_store_close(&st);
	free(sc.by_host);
	printf("storm: store: cursors and counts per host (%.1f s), %llu rows scanned (%llu "
	       "counted; %.1f s), %llu duplicates, %llu missing, %llu differing, %llu not ours, "
	       "%llu tamper alerts\n",
	       (double)(t1 - t0) / 1000.0, (unsigned long long)sc.rows, (unsigned long long)n,
	       (double)(now_ms() - t1) / 1000.0, (unsigned long long)sc.dup,
	       (unsigned long long)missing, (unsigned long long)sc.differ,
	       (unsigned long long)sc.foreign, (unsigned long long)alerts);
	assert_int_equal(sc.rows, s->events);
	assert_int_equal(n, s->events);
	assert_int_equal(sc.dup, 0);
	assert_int_equal(missing, 0);
	assert_int_equal(sc.differ, 0);
	assert_int_equal(sc.foreign, 0);
	assert_int_equal(alerts, 0);
}

/* ---- the test ---- */

static void test_storm(void **state)
{
	struct storm *s = &g_s;
	const char *seed_env = getenv("MG_STORM_SEED");
	unsigned cap_min, cap_max, ahead = 0, early = 0;
	char inflight[16];
	int64_t t_start = now_ms(), t_enrol, t_gen, t_verify;
	int st;
	(void)state;
	memset(s, 0, sizeof(*s));
	s->n = env_uint("MG_STORM_TERMINALS", TERMINALS, 1, 2000);
	cap_min = env_uint("MG_STORM_CAP_MIN", CAP_MIN, 1, 1000);
	cap_max = env_uint("MG_STORM_CAP_MAX", CAP_MAX, cap_min, 1000);
	s->jitter_ms = env_uint("MG_STORM_JITTER_MS", RETRY_JITTER_MS, 0, 10000);
	snprintf(inflight, sizeof(inflight), "%u",
	         env_uint("MG_STORM_INFLIGHT", (unsigned)atoi(INFLIGHT), 1, 4096));
	s->debug = getenv("MG_STORM_DEBUG") != NULL;
	s->seed = seed_env ? (uint64_t)strtoull(seed_env, NULL, 0)
	                   : (uint64_t)time(NULL) ^ (uint64_t)(unsigned)getpid();
	printf("storm: %zu terminals, batch cap %u..%u, %u batches, --max-inflight-ingests %s, "
	       "Retry-After jitter %u ms, seed %llu\n",
	       s->n, cap_min, cap_max, BATCHES, inflight, s->jitter_ms,
	       (unsigned long long)s->seed);
	s->t = calloc(s->n, sizeof(*s->t));
	assert_non_null(s->t);

	/* enrolment, on the collector as started by the harness */
	enrol_all(s);
	t_enrol = now_ms();

	/* the outage; meanwhile every terminal's spool fills */
	st = stop_server(SIGTERM);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	for (size_t i = 0; i < s->n; i++) {
		struct term *t = &s->t[i];
		t->cap = cap_min + rnd_below(cap_max - cap_min + 1);
		make_backlog(t, i);
		s->events += t->nev;
		/* restored collector: the terminal's first batch was acknowledged before */
		if (i % AHEAD_EVERY == AHEAD_EVERY - 1) {
			t->ahead = true;
			t->acked = t->cap;
			ahead++;
		}
		if (i % EARLY_EVERY == EARLY_EVERY / 2) {
			t->early = true;
			early++;
		}
	}
	t_gen = now_ms();
	storm_init(s);
	storm_early(s);

	/* back on the same address, with a low ingest limit; all terminals at once */
	{
		static const char *args[8];
		static char listen[32];
		unsigned port = g_port;
		snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
		args[0] = "--max-inflight-ingests";
		args[1] = inflight;
		args[2] = "--per-ip-connections";
		args[3] = PER_IP;
		args[4] = NULL;
		g_serve_args = args;
		g_listen = listen;
		start_server();
		assert_int_equal(g_port, port);
	}
	storm_run(s);

	printf("storm: %.1f s, %llu events (%.0f/s), %zu/%zu terminals done\n",
	       (double)(s->t_end - s->t0) / 1000.0, (unsigned long long)s->events,
	       (double)s->events * 1000.0 / (double)(s->t_end - s->t0 + 1), s->ndone, s->n);
	printf("storm: %u requests: %u x 200 (batches stored), %u x 503 (max Retry-After %u s, %u "
	       "without), %u x 409, %u transport errors%s%s%s, %u other 5xx, %u other 4xx\n",
	       s->requests, s->n200, s->n503, s->ra_max, s->n503_no_ra, s->n409, s->transport,
	       s->transport ? " (first: " : "", s->transport ? s->first_transport : "",
	       s->transport ? ")" : "", s->n5xx_other, s->n4xx_other);
	printf("storm: %u connections, max %zu requests in flight, max %zu terminals waiting to "
	       "retry, slowest answer %.1f s; %.1f MiB of batches uploaded, %.1f MiB of them "
	       "answered 503\n",
	       s->connects, s->max_inflight, s->max_waiting, (double)s->max_latency_ms / 1000.0,
	       (double)s->bytes / 1048576.0, (double)s->bytes_503 / 1048576.0);
	for (size_t i = 0, shown = 0; i < s->n && shown < 10; i++)
		if (!s->t[i].done || s->t[i].stopped) {
			struct term *t = &s->t[i];
			printf(
			    "storm: not done: %s acked %llu of %llu (%s, %u failures, %u x 503)\n",
			    t->name, (unsigned long long)t->acked, (unsigned long long)t->nev,
			    t->stopped ? "stopped"
			    : t->busy  ? "in flight"
			               : "waiting",
			    t->failures, t->n503);
			shown++;
		}

	/* the terminals: all acknowledged, paced, and nothing but 200, 409 and 503 */
	assert_true(s->t_end - s->t0 <= DEADLINE_MS);
	assert_int_equal(s->ndone, s->n);
	for (size_t i = 0; i < s->n; i++) {
		struct term *t = &s->t[i];
		assert_false(t->stopped);
		assert_int_equal(t->acked, t->nev);
		assert_int_equal(t->n409, t->ahead ? 1 : 0);
		assert_true(t->n200 >= BATCHES);
		if (t->early) { /* refused during the outage, then the agent's first back-off */
			assert_int_equal(t->first_rc, CURLE_COULDNT_CONNECT);
			assert_in_range(t->first_backoff_ms, 500, 1000);
		}
	}
	assert_true(s->transport >= early);
	assert_int_equal(s->anomalies, 0);
	assert_int_equal(s->n5xx_other, 0);
	assert_int_equal(s->n4xx_other, 0);
	assert_true(s->n503 > 0);
	assert_int_equal(s->n503_no_ra, 0);
	assert_int_equal(s->n409, ahead);
	/* every event was stored by exactly one answer (a resent batch stores nothing) */
	assert_int_equal(s->stored, s->events);

	/* the collector stops cleanly after the storm; then the database, row by row */
	st = stop_server(SIGTERM);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	verify_store(s);
	t_verify = now_ms();
	printf("storm: total %.1f s (enrolment %.1f s, backlogs %.1f s, storm %.1f s, checks "
	       "%.1f s)\n",
	       (double)(t_verify - t_start) / 1000.0, (double)(t_enrol - t_start) / 1000.0,
	       (double)(t_gen - t_enrol) / 1000.0, (double)(s->t_end - s->t0) / 1000.0,
	       (double)(t_verify - s->t_end) / 1000.0);
	storm_free(s);
}

static int teardown_storm(void **state)
{
	(void)state;
	storm_free(&g_s);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_storm, teardown_storm),
	};
	setvbuf(stdout, NULL, _IOLBF, 0);
	return api_main("test_pipeline_storm", tests, sizeof(tests) / sizeof(tests[0]));
}
