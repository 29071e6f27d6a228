/*
 * The event socket of the PAM module (issue 12, docs/PAM.md "Events"): pam_mynaguard.so (in a
 * root login stack, or its setuid helper) connects (AF_UNIX, SOCK_SEQPACKET), sends one auth.*
 * event as canonical JSON and waits for the answer: "ok" once the event is durably in the
 * spool, "error: <why>" when it is refused (malformed, not auth.*). Only peers with uid 0
 * (SO_PEERCRED) are served, and the agent's own user when it is not root (tests); anyone
 * else is disconnected without an answer. The agent never
 * waits for a peer: at most 16 connections are open, the oldest gives way.
 */
#ifndef MG_EVENT_SOCKET_H
#define MG_EVENT_SOCKET_H

#include "eventlog.h"

struct mg_event_socket;

/* Binds path (0666: access is decided per peer; a stale socket is replaced). */
int mg_event_socket_new(const char *path, struct mg_event_socket **out);
void mg_event_socket_free(struct mg_event_socket **s);
/* The one fd the event loop watches. */
int mg_event_socket_fd(const struct mg_event_socket *s);
/* Accepts, reads, records and answers what is ready. */
void mg_event_socket_handle(struct mg_event_socket *s, struct mg_eventlog *log);

#endif
