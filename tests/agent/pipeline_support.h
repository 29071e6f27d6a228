/*
 * What the end-to-end tests of the event pipeline share (test_pipeline.c,
 * test_pipeline_pam.c): the collector of api_harness and the agent of system_harness, an
 * agent configuration with the uplink, enrolment through mynaguardctl, and the check that the
 * collector holds exactly the events of the agent's spool.
 */
#ifndef MG_TEST_PIPELINE_SUPPORT_H
#define MG_TEST_PIPELINE_SUPPORT_H

#include <sys/types.h>

#include "system_harness.h"
#undef WAIT_MS /* the two harnesses wait for different things */
#include "api_harness.h"

/* Events reach the collector: a healthy run needs well under 2 s; after an outage the next
 * retry may be up to the backoff cap (30 s) away. */
#define ARRIVE_MS 45000

/* Hubs and input devices allowed, everything else blocked (the shipped profile's core). */
#define PIPELINE_RULES                                                                             \
	"allow with-interface match-all { 09:00:* }\n"                                             \
	"allow with-interface one-of { 03:*:* 0b:*:* }\n"

extern const char *uplink_bin; /* MG_UPLINK_BIN */
extern char conf_extra[1024];  /* the last pipeline_conf() */

/* harness_init() and MG_UPLINK_BIN. 0, or -1 with a message. */
int pipeline_init(void);
void sleep_ms(unsigned ms);
int64_t mono_ms(void);
/* Waits up to ms for the child pid; its wait status, or -1 (then it is killed and reaped). */
int wait_child(pid_t pid, int ms);

/* Agent configuration lines for the uplink (nobody as root), 1 s poll and heartbeat, then
 * extra; the text lives in conf_extra. */
const char *pipeline_conf(const char *extra);
/* agent_start() with PIPELINE_RULES and pipeline_conf("implicit_target = block"). */
void start_agent(struct sc *sc);
/* The collector again, on the port the terminal was enrolled with. */
void restart_server(unsigned port);
/* `mynaguardctl status --json`, parsed. */
json_t *status(struct sc *sc);
/* Enrols the agent to the running collector (checking the enrolment files); its host id. */
int64_t enroll_agent(struct sc *sc);
/* The events the collector stored for host, in the order it stored them. */
json_t *collector_events(int64_t host);
/* Waits (ARRIVE_MS) until the collector holds exactly the spool's events, seq 1..N once each,
 * and the running agent reports nothing unsent. */
void assert_exactly_once(struct sc *sc, int64_t host);

#endif
