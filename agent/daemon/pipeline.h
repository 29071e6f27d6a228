/*
 * The event pipeline on the terminal (issue 12): what the root agent sends to the collector
 * through mynaguard-uplink and what it does with the answers. The agent decides, the uplink
 * only carries:
 *   - upload: batches of at most 1,000 events / 1 MiB from the spool, security events at
 *     once and routine ones within 2 s; the spool forgets events only up to the collector's
 *     acked_through; 409 resends from resend_from; 422 stops the upload of that boot, keeps
 *     its events and records upload.stopped; anything else retries with exponential backoff
 *     and jitter (at most 30 s) or after Retry-After;
 *   - heartbeat every heartbeat_interval;
 *   - policy poll every poll_interval with If-None-Match; every bundle verified here
 *     (central.h) and applied through mg_agent_set_central(); the last good one applies at
 *     boot, an expired one falls back to the local rules;
 *   - enrolment, device requests (kept in <state_dir>/requests.json until answered), sync.
 * Single-threaded, driven by the agent's event loop: the uplink's socket and one timer.
 */
#ifndef MG_PIPELINE_H
#define MG_PIPELINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent.h"

struct mg_pipeline;

/* A deferred control-socket answer (enroll, sync): the pipeline calls back with it. */
typedef void (*mg_pipeline_reply_fn)(void *ctx, uint64_t ticket, json_t *answer);

/* Uses the agent's configuration and recorder; the agent outlives the pipeline. */
int mg_pipeline_new(struct mg_agent *agent, mg_pipeline_reply_fn reply, void *reply_ctx,
                    struct mg_pipeline **out);
void mg_pipeline_free(struct mg_pipeline **p);

/*
 * At start, before the start-up scan: reads the enrolment and applies the last good central
 * policy (or records why not); then takes the PAM module's pending events into the spool.
 */
void mg_pipeline_boot(struct mg_pipeline *p);

/* Does whatever is due (uplink start, upload, heartbeat, poll, expiry, retries). */
void mg_pipeline_tick(struct mg_pipeline *p);
/* CLOCK_MONOTONIC µs of the next thing due (0: nothing). */
int64_t mg_pipeline_next_wake(const struct mg_pipeline *p);

/* At a clean stop: the events not sent yet (agent.stopped among them) go out if the collector
 * answers within timeout_ms; otherwise they wait in the spool for the next start. */
void mg_pipeline_drain(struct mg_pipeline *p, int timeout_ms);

/* The uplink's socket (-1: not running) and the epoll events it needs. */
int mg_pipeline_uplink_fd(const struct mg_pipeline *p);
uint32_t mg_pipeline_uplink_events(const struct mg_pipeline *p);
void mg_pipeline_uplink_io(struct mg_pipeline *p, uint32_t events);

/* Members for `mynaguardctl status` (added to status). */
void mg_pipeline_status(const struct mg_pipeline *p, json_t *status);

/*
 * Control commands. A command that waits for the collector returns 1 and answers later
 * through the reply function with ticket; 0 with *answer set when answered at once.
 */
int mg_pipeline_enroll(struct mg_pipeline *p, const char *collector, const char *token,
                       const char *ca, bool force, uint64_t ticket, json_t **answer);
int mg_pipeline_sync(struct mg_pipeline *p, uint64_t ticket, json_t **answer);
/* staff-register (issue 15): registration (checked JSON) to POST /v1/staff/registrations;
   answers {"ok":true,"id":N,"state":"pending"} or {"ok":false,"error":<the collector's words>}. */
int mg_pipeline_staff_register(struct mg_pipeline *p, const char *registration, uint64_t ticket,
                               json_t **answer);
json_t *mg_pipeline_request(struct mg_pipeline *p, unsigned device_id, const char *reason,
                            const char *user);
json_t *mg_pipeline_requests(const struct mg_pipeline *p);

#endif
