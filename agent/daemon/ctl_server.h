/*
 * The agent's control socket. Peers are identified with SO_PEERCRED / SO_PEERGROUPS:
 * root, or a member of one of allowed_groups; anyone else gets an error and nothing else.
 */
#ifndef MG_CTL_SERVER_H
#define MG_CTL_SERVER_H

#include <stdint.h>

#include "agent.h"

struct mg_ctl_server;

/* Binds path (replacing a stale socket; mode 0666, access is decided per peer). */
int mg_ctl_server_new(const char *path, const struct mg_strv *allowed_groups,
                      struct mg_ctl_server **out);
void mg_ctl_server_free(struct mg_ctl_server **s);
int mg_ctl_server_fd(const struct mg_ctl_server *s);

/* Accepts pending connections and answers each one request (pipe may be NULL: no event
 * pipeline). 0 or negative errno. */
struct mg_pipeline;
int mg_ctl_server_handle(struct mg_ctl_server *s, struct mg_agent *agent, struct mg_pipeline *pipe);
/* The answer to a request the pipeline deferred (ticket); resp stays the caller's. Nothing
 * happens when that client is gone. */
void mg_ctl_server_reply(struct mg_ctl_server *s, uint64_t ticket, json_t *resp);

#endif
