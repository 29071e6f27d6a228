/*
 * A lean HTTPS client for bench_collector.c: one TLS connection per agent (OpenSSL, the
 * agent's client certificate and loopback source address), all connections driven by one
 * epoll loop. Two uses: polls (the same precomputed "GET /v1/policy" with If-None-Match
 * written again as soon as the answer is read) and ingest (each agent's event batches,
 * POST /v1/events one after the other, each acknowledgement checked). libcurl's cost per
 * transfer (about 0.2 ms) and its walk over every handle on each wake-up would make the load
 * generator, which shares the collector's CPUs, take a third of the machine.
 */
#ifndef MG_BENCH_POLLER_H
#define MG_BENCH_POLLER_H

#include <stddef.h>
#include <stdint.h>

/* One POST /v1/events: the body and the acknowledgement it must get. */
struct poller_post {
	const char *body;
	size_t len;
	uint64_t last_seq; /* "acked_through" expected */
	uint64_t events;
};

struct poller_agent {
	const char *cert_pem, *key_pem;  /* the agent's client certificate and key */
	const char *src;                 /* source IPv4 address */
	const char *etag;                /* If-None-Match value (polls) */
	const struct poller_post *posts; /* poller_send(): sent in order */
	size_t n_posts;
};

struct poller_result {
	uint64_t n304, n200, nother, failed;
	uint64_t acked, events, busy503; /* poller_send() */
	long last_status;
	char err[256];
	double *lat_ms; /* caller's array of cap_lat entries */
	size_t cap_lat, n_lat;
};

struct poller;

/* Connects every agent to 127.0.0.1:port (TLS handshakes, not timed). 0 or -errno. */
int poller_open(const char *ca_path, unsigned port, const struct poller_agent *agents, size_t n,
                struct poller **out);
/* Polls back to back on every connection for seconds. 0 or -errno; res filled. */
int poller_run(struct poller *p, double seconds, struct poller_result *res);
/*
 * Sends every agent's posts, each after the previous one's answer (a 503 is sent again after
 * a second); gives up after limit_s. res: acked (answered 200 with the expected
 * acked_through), events (theirs), busy503, failed and other statuses, one latency per
 * answer (from the start of its request). 0 or -errno.
 */
int poller_send(struct poller *p, double limit_s, struct poller_result *res);
void poller_free(struct poller **p);

#endif
