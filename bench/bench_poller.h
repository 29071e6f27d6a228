/*
 * A lean policy poller for bench_collector.c: one TLS connection per agent (OpenSSL, the
 * agent's client certificate and loopback source address), the same precomputed
 * "GET /v1/policy" with If-None-Match written again as soon as the answer is read, all
 * connections driven by one epoll loop. libcurl's per-transfer cost (about 0.2 ms) would make
 * the load generator, not the collector, the limit of this phase.
 */
#ifndef MG_BENCH_POLLER_H
#define MG_BENCH_POLLER_H

#include <stddef.h>
#include <stdint.h>

struct poller_agent {
	const char *cert_pem, *key_pem; /* the agent's client certificate and key */
	const char *src;                /* source IPv4 address */
	const char *etag;               /* If-None-Match value */
};

struct poller_result {
	uint64_t n304, n200, nother, failed;
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
void poller_free(struct poller **p);

#endif
