/*
 * Supervision of mynaguard-uplink (issue 12, docs/ARCHITECTURE.md "Trust boundaries"): the
 * agent starts it with fork+exec over a socketpair, as the unprivileged uplink_user when the
 * agent is root (never as root: a missing user means no uplink), with fd 3 = its end of the
 * socketpair and fd 4 = its own directory (<state_dir>/uplink, owned by that user, 0700),
 * nothing else. Frames (uplink_proto.h) go out through a buffer and come in through another:
 * the agent never blocks on the uplink. When it dies it is restarted with backoff (1 s
 * doubling to 60 s; reset after a minute of good health) and the requests it held are
 * answered with status 0.
 */
#ifndef MG_UPLINK_SUP_H
#define MG_UPLINK_SUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uplink_proto.h"

struct mg_uplink_sup;

struct mg_uplink_sup_opts {
	const char *binary;    /* mynaguard-uplink */
	const char *user;      /* uplink_user: used when the agent runs as root */
	const char *state_dir; /* its directory is <state_dir>/uplink */
	const char *log_level; /* passed as --log-level */
};

/* An answer from the uplink (or status 0 with error when the uplink died or refused). */
typedef void (*mg_uplink_answer_cb)(void *ctx, uint32_t id, uint8_t req_type,
                                    const struct mg_uplink_answer *a);

int mg_uplink_sup_new(const struct mg_uplink_sup_opts *o, mg_uplink_answer_cb cb, void *ctx,
                      struct mg_uplink_sup **out);
/* Stops the uplink (EOF, then SIGKILL after a grace period) and frees. */
void mg_uplink_sup_free(struct mg_uplink_sup **s);

/* Starts the uplink when it is not running and its restart time (monotonic µs) has come. */
void mg_uplink_sup_tick(struct mg_uplink_sup *s, int64_t now_mono);
/* The monotonic µs of the next restart attempt, 0 when none is pending. */
int64_t mg_uplink_sup_next_start(const struct mg_uplink_sup *s);

/* The socket to watch (-1 when not running) and the epoll events it needs now. */
int mg_uplink_sup_fd(const struct mg_uplink_sup *s);
uint32_t mg_uplink_sup_events(const struct mg_uplink_sup *s);
/* Reads answers (calling cb) and writes what is buffered. */
void mg_uplink_sup_io(struct mg_uplink_sup *s, uint32_t events, int64_t now_mono);

/*
 * Queues a request; *id gets its id. A request accepted (0) is answered exactly once, always
 * after this returned; a refused one never. -ENOTCONN when the uplink is not running (nothing
 * queued), -EPIPE when writing to it failed (it is stopped and restarts after the backoff),
 * -ENOBUFS when more than 8 MiB wait, -EINVAL for a payload too large.
 */
int mg_uplink_sup_send(struct mg_uplink_sup *s, uint8_t type, const void *payload, size_t len,
                       uint32_t *id);
/* Requests sent and not answered yet. */
size_t mg_uplink_sup_in_flight(const struct mg_uplink_sup *s);

bool mg_uplink_sup_running(const struct mg_uplink_sup *s);
/* The state in words: "running (pid N)", "restarting in N s: <why>", "disabled: <why>". */
void mg_uplink_sup_state(const struct mg_uplink_sup *s, int64_t now_mono, char *buf, size_t len);

#endif
