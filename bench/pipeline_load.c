/*
 * mynaguard-bench-pipeline-load: the "100 other uplinks" of the event pipeline benchmark
 * (bench/run-pipeline-bench.sh, docs/PERFORMANCE.md "Event pipeline (issue 12)").
 *
 *   mynaguard-bench-pipeline-load --port PORT --ca FILE --token TOKEN [--agents N]
 *       [--events B] [--interval-ms MS] [--max-seconds S]
 *
 * Enrols N simulated terminals (POST /v1/enroll, one EC P-256 key and CSR each, TOKEN must
 * have N uses), opens one keep-alive HTTPS connection per terminal (its own client
 * certificate, its own loopback source address 127.0.1.x: the collector allows 64 connections
 * per address), prints "ready" and waits. SIGUSR1 starts sending: every terminal posts a batch
 * of B hash-chained events of its own boot (canonical JSON with "hash" and "prev_hash", as an
 * uplink sends them) every MS milliseconds, the terminals spread evenly over the interval;
 * each acknowledgement is checked (acked_through = the batch's last seq). SIGUSR2 stops
 * sending, waits for the answers in flight and prints one line of key=value figures for the
 * period (batches, events, failures, slots missed because the previous batch was not yet
 * answered, acknowledgement latency). SIGTERM (or --max-seconds, default 1200) ends it.
 * Defaults: 100 terminals, 10 events per batch, one batch per second each (1,000 events/s,
 * 100 requests/s in all). Exit 0, 1 on a setup failure.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "digest.h"
#include "mg/config.h"
#include "mg/event.h"
#include "store_testgen.h"

#define RESP_MAX 1024u
#define MAX_LAT  2000000u

struct term {
	CURL *h;
	char name[32];
	char src[40]; /* CURLOPT_INTERFACE "host!127.0.1.x" */
	char *cert, *key;
	char boot[37];
	char prev[65];   /* hash of the last event acknowledged */
	uint64_t next;   /* seq of the next event to send */
	char *body;      /* the batch in flight (or to send again) */
	size_t body_len; /* 0: none */
	uint64_t last;   /* its last seq */
	char prev_after[65];
	bool busy;
	double due, sent; /* next slot; when the batch in flight was sent */
	char resp[RESP_MAX];
	size_t resp_len;
};

static volatile sig_atomic_t want_run, want_report, want_stop;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		want_run = 1;
	else if (sig == SIGUSR2)
		want_report = 1;
	else
		want_stop = 1;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double self_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

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
	struct term *t = ud;
	size_t n = size * nmemb, room = RESP_MAX - 1 - t->resp_len;
	memcpy(t->resp + t->resp_len, ptr, n < room ? n : room);
	t->resp_len += n < room ? n : room;
	t->resp[t->resp_len] = '\0';
	return n;
}

static size_t to_memstream(char *ptr, size_t size, size_t nmemb, void *ud)
{
	return fwrite(ptr, size, nmemb, (FILE *)ud);
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

/* POST /v1/enroll for t: its key, its certificate. 0 or -1. */
static int enroll(CURL *h, const char *token, struct term *t)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	char *csr = k ? csr_of_key(k) : NULL;
	t->key = k ? pem_of_key(k) : NULL;
	EVP_PKEY_free(k);
	json_t *o = csr ? json_pack("{s:s,s:s,s:s,s:s}", "token", token, "csr", csr, "hostname",
	                            t->name, "agent_version", "0.1.0")
	                : NULL;
	char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	free(csr);
	if (!body || !t->key) {
		free(body);
		return -1;
	}
	char *ans_text = NULL;
	size_t ans_len = 0;
	FILE *mem = open_memstream(&ans_text, &ans_len);
	if (!mem) {
		free(body);
		return -1;
	}
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, to_memstream);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, mem);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	long status = 0;
	CURLcode cr = curl_easy_perform(h);
	fclose(mem);
	free(body);
	if (cr == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	json_t *ans = status == 200 && ans_text ? json_loads(ans_text, 0, NULL) : NULL;
	const char *cert = json_string_value(json_object_get(ans, "certificate"));
	if (!cert)
		fprintf(stderr, "enrolment of %s: HTTP %ld (%s) %.200s\n", t->name, status,
		        curl_easy_strerror(cr), ans_text ? ans_text : "");
	else
		t->cert = strdup(cert);
	json_decref(ans);
	free(ans_text);
	return t->cert ? 0 : -1;
}

/* The next batch of t (seq t->next .. + n - 1), chained from t->prev, as an uplink sends it. */
static int make_body(struct term *t, uint64_t n)
{
	struct tg_batch tb;
	char *p = NULL;
	size_t len = 0;
	char prev[65];
	memcpy(prev, t->prev, sizeof(prev));
	if (tg_batch_make(&tb, t->name, t->boot, t->next, t->next + n - 1, 0, TG_MIXED) < 0)
		return -ENOMEM;
	FILE *f = open_memstream(&p, &len);
	if (!f) {
		tg_batch_free(&tb);
		return -ENOMEM;
	}
	fprintf(f, "{\"boot_id\":\"%s\",\"events\":[", t->boot);
	int ret = 0;
	for (size_t i = 0; i < tb.n && ret == 0; i++) {
		struct mg_event *ev = NULL;
		char *canon = NULL, msg[160], hash[65];
		size_t clen = 0;
		const char *j = tb.evs[i].json;
		if (mg_event_from_json(j, strlen(j), &ev, msg, sizeof(msg)) < 0 ||
		    mg_event_to_json(ev, &canon, &clen) < 0 ||
		    mg_sha256_hex(canon, clen, hash) < 0) {
			fprintf(stderr, "test event %" PRIu64 ": %s\n", tb.evs[i].seq, msg);
			ret = -EINVAL;
		} else {
			fprintf(f, "%s%.*s,\"hash\":\"%s\",\"prev_hash\":\"%s\"}", i ? "," : "",
			        (int)(clen - 1), canon, hash, prev);
			memcpy(prev, hash, sizeof(prev));
		}
		mg_event_free(&ev);
		free(canon);
	}
	fputs("]}", f);
	if (fclose(f) != 0)
		ret = -ENOMEM;
	tg_batch_free(&tb);
	if (ret < 0) {
		free(p);
		return ret;
	}
	free(t->body);
	t->body = p;
	t->body_len = len;
	t->last = t->next + n - 1;
	memcpy(t->prev_after, prev, sizeof(prev));
	return 0;
}

struct period {
	uint64_t batches, events, failed, busy503, late;
	double t0, cpu0;
	double *lat;
	size_t nlat;
};

static void report(struct period *p, unsigned no)
{
	double wall = now_s() - p->t0, cpu = self_cpu_s() - p->cpu0;
	qsort(p->lat, p->nlat, sizeof(double), cmp_double);
	double p50 = p->nlat ? p->lat[p->nlat / 2] : 0,
	       p99 = p->nlat ? p->lat[(p->nlat * 99) / 100] : 0,
	       mx = p->nlat ? p->lat[p->nlat - 1] : 0;
	printf("period=%u seconds=%.1f batches=%" PRIu64 " events=%" PRIu64 " events_per_s=%.0f "
	       "failed=%" PRIu64 " busy503=%" PRIu64 " late=%" PRIu64
	       " ack_p50_ms=%.1f ack_p99_ms=%.1f ack_max_ms=%.1f cpu_pct=%.0f\n",
	       no, wall, p->batches, p->events, wall > 0 ? (double)p->events / wall : 0, p->failed,
	       p->busy503, p->late, p50, p99, mx, wall > 0 ? 100.0 * cpu / wall : 0);
	fflush(stdout);
}

static void usage(void)
{
	fprintf(stderr, "usage: mynaguard-bench-pipeline-load --port PORT --ca FILE --token TOKEN "
	                "[--agents N] [--events B] [--interval-ms MS] [--max-seconds S]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	uint64_t port = 0, agents = 100, events = 10, interval_ms = 1000, max_s = 1200;
	const char *ca = NULL, *token = NULL;
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		const char *a = argv[i], *v = argv[++i];
		int r = 0;
		if (strcmp(a, "--port") == 0)
			r = mg_parse_u64(v, 1, 65535, &port);
		else if (strcmp(a, "--ca") == 0)
			ca = v;
		else if (strcmp(a, "--token") == 0)
			token = v;
		else if (strcmp(a, "--agents") == 0)
			r = mg_parse_u64(v, 1, 250, &agents);
		else if (strcmp(a, "--events") == 0)
			r = mg_parse_u64(v, 1, 1000, &events);
		else if (strcmp(a, "--interval-ms") == 0)
			r = mg_parse_u64(v, 1, 600000, &interval_ms);
		else if (strcmp(a, "--max-seconds") == 0)
			r = mg_parse_u64(v, 1, 86400, &max_s);
		else
			usage();
		if (r < 0)
			usage();
	}
	if (!port || !ca || !token)
		usage();
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	const double t_end = now_s() + (double)max_s;
	char url_events[80], url_enroll[80], url_policy[80];
	snprintf(url_events, sizeof(url_events), "https://127.0.0.1:%" PRIu64 "/v1/events", port);
	snprintf(url_enroll, sizeof(url_enroll), "https://127.0.0.1:%" PRIu64 "/v1/enroll", port);
	snprintf(url_policy, sizeof(url_policy), "https://127.0.0.1:%" PRIu64 "/v1/policy", port);

	struct term *ts = calloc(agents, sizeof(*ts));
	struct period per = {.lat = calloc(MAX_LAT, sizeof(double))};
	struct curl_slist *post_hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	post_hdrs = curl_slist_append(post_hdrs, "Expect:");
	CURLM *multi = curl_multi_init();
	CURL *eh = curl_easy_init();
	int ret = 1;
	if (!ts || !per.lat || !post_hdrs || !multi || !eh)
		goto done;
	curl_easy_setopt(eh, CURLOPT_URL, url_enroll);
	curl_easy_setopt(eh, CURLOPT_CAINFO, ca);
	curl_easy_setopt(eh, CURLOPT_HTTPHEADER, post_hdrs);
	curl_easy_setopt(eh, CURLOPT_TIMEOUT, 30L);
	double te = now_s();
	for (size_t i = 0; i < agents; i++) {
		struct term *t = &ts[i];
		snprintf(t->name, sizeof(t->name), "load-%03zu", i);
		snprintf(t->src, sizeof(t->src), "host!127.0.1.%zu", i + 1);
		random_uuid(t->boot);
		t->next = 1;
		if (enroll(eh, token, t) < 0)
			goto done;
		struct curl_blob cert = {
		    .data = t->cert, .len = strlen(t->cert), .flags = CURL_BLOB_COPY};
		struct curl_blob key = {
		    .data = t->key, .len = strlen(t->key), .flags = CURL_BLOB_COPY};
		if (!(t->h = curl_easy_init()))
			goto done;
		curl_easy_setopt(t->h, CURLOPT_CAINFO, ca);
		curl_easy_setopt(t->h, CURLOPT_SSLCERT_BLOB, &cert);
		curl_easy_setopt(t->h, CURLOPT_SSLKEY_BLOB, &key);
		curl_easy_setopt(t->h, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(t->h, CURLOPT_SSLKEYTYPE, "PEM");
		curl_easy_setopt(t->h, CURLOPT_INTERFACE, t->src);
		curl_easy_setopt(t->h, CURLOPT_WRITEFUNCTION, on_data);
		curl_easy_setopt(t->h, CURLOPT_WRITEDATA, t);
		curl_easy_setopt(t->h, CURLOPT_TIMEOUT, 60L);
		curl_easy_setopt(t->h, CURLOPT_PRIVATE, t);
		curl_easy_setopt(t->h, CURLOPT_TCP_NODELAY, 1L);
	}
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)(agents * 2));
	fprintf(stderr, "pipeline-load: %" PRIu64 " terminals enrolled in %.1f s\n", agents,
	        now_s() - te);
	/* One GET /v1/policy each: the TLS connections are open before the first period. */
	for (size_t i = 0; i < agents; i++) {
		curl_easy_setopt(ts[i].h, CURLOPT_URL, url_policy);
		curl_easy_setopt(ts[i].h, CURLOPT_HTTPGET, 1L);
		curl_multi_add_handle(multi, ts[i].h);
	}
	for (int running = 1; running > 0 && now_s() < te + 120;) {
		curl_multi_perform(multi, &running);
		if (running)
			curl_multi_poll(multi, NULL, 0, 100, NULL);
	}
	CURLMsg *m;
	int nq;
	while ((m = curl_multi_info_read(multi, &nq)) != NULL)
		if (m->msg == CURLMSG_DONE)
			curl_multi_remove_handle(multi, m->easy_handle);
	for (size_t i = 0; i < agents; i++) {
		curl_easy_setopt(ts[i].h, CURLOPT_URL, url_events);
		curl_easy_setopt(ts[i].h, CURLOPT_HTTPHEADER, post_hdrs);
		ts[i].resp_len = 0;
	}
	printf("ready agents=%" PRIu64 " events=%" PRIu64 " interval_ms=%" PRIu64 "\n", agents,
	       events, interval_ms);
	fflush(stdout);

	const double iv = (double)interval_ms / 1000.0;
	bool running = false;
	unsigned period_no = 0;
	size_t inflight = 0;
	ret = 0;
	while (!want_stop && now_s() < t_end) {
		if (want_run && !running) {
			want_run = 0;
			running = true;
			double t0 = now_s();
			per = (struct period){.lat = per.lat, .t0 = t0, .cpu0 = self_cpu_s()};
			for (size_t i = 0; i < agents; i++)
				ts[i].due = t0 + iv * (double)i / (double)agents;
		}
		if (want_report && running && inflight == 0) {
			want_report = 0;
			running = false;
			report(&per, ++period_no);
		}
		double t = now_s();
		double next = t + 0.05;
		for (size_t i = 0; running && !want_report && i < agents; i++) {
			struct term *s = &ts[i];
			if (s->due > t) {
				if (s->due < next)
					next = s->due;
				continue;
			}
			if (s->busy) { /* not answered by its next slot: skip the slot */
				per.late++;
				s->due += iv;
				continue;
			}
			if (!s->body_len && make_body(s, events) < 0) {
				ret = 1;
				want_stop = 1;
				break;
			}
			s->resp_len = 0;
			curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, s->body);
			curl_easy_setopt(s->h, CURLOPT_POSTFIELDSIZE_LARGE,
			                 (curl_off_t)s->body_len);
			curl_easy_setopt(s->h, CURLOPT_POST, 1L);
			if (curl_multi_add_handle(multi, s->h) == CURLM_OK) {
				s->busy = true;
				s->sent = t;
				inflight++;
			}
			s->due += iv;
			if (s->due < next)
				next = s->due;
		}
		int still = 0;
		curl_multi_perform(multi, &still);
		while ((m = curl_multi_info_read(multi, &nq)) != NULL) {
			if (m->msg != CURLMSG_DONE)
				continue;
			struct term *s = NULL;
			long status = 0;
			CURLcode cr = m->data.result;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
			curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
			curl_multi_remove_handle(multi, m->easy_handle);
			s->busy = false;
			inflight--;
			if (per.nlat < MAX_LAT)
				per.lat[per.nlat++] = (now_s() - s->sent) * 1e3;
			const char *p = strstr(s->resp, "\"acked_through\":");
			if (cr == CURLE_OK && status == 503) {
				per.busy503++;
			} else if (cr != CURLE_OK || status != 200 || !p ||
			           strtoull(p + strlen("\"acked_through\":"), NULL, 10) !=
			               s->last) {
				per.failed++;
				fprintf(stderr, "%s: %ld %s %.200s\n", s->name, status,
				        curl_easy_strerror(cr), s->resp);
			} else {
				per.batches++;
				per.events += s->last - s->next + 1;
				s->next = s->last + 1;
				memcpy(s->prev, s->prev_after, sizeof(s->prev));
				s->body_len = 0; /* acknowledged: the next batch is new */
			}
		}
		double wait = next - now_s();
		int ms = wait > 0 ? (int)(wait * 1e3) + 1 : 0;
		if (ms > 50)
			ms = 50;
		curl_multi_poll(multi, NULL, 0, ms, NULL);
	}
	if (running)
		report(&per, ++period_no);
done:
	for (size_t i = 0; ts && i < agents; i++) {
		if (ts[i].h) {
			curl_multi_remove_handle(multi, ts[i].h);
			curl_easy_cleanup(ts[i].h);
		}
		free(ts[i].cert);
		free(ts[i].key);
		free(ts[i].body);
	}
	if (multi)
		curl_multi_cleanup(multi);
	curl_easy_cleanup(eh);
	curl_slist_free_all(post_hdrs);
	free(ts);
	free(per.lat);
	curl_global_cleanup();
	return ret;
}
