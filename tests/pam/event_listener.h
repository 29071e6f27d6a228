/*
 * A stand-in for the agent's event socket in tests: a thread that listens on a
 * SOCK_SEQPACKET socket, reads one message per connection, records it and answers as told
 * (docs/PAM.md section 6).
 */
#ifndef MG_TEST_EVENT_LISTENER_H
#define MG_TEST_EVENT_LISTENER_H

#include <stddef.h>

enum l_reply {
	L_REPLY_OK,      /* "ok" */
	L_REPLY_ERROR,   /* "error: malformed" */
	L_REPLY_SILENT,  /* nothing; the connection stays open until l_stop() */
	L_REPLY_GARBAGE, /* "maybe" */
	L_REPLY_CLOSE,   /* closes the connection without a reply */
};

#define L_MAX_MSGS 16

struct listener;

/* Listens on path (removed first) and starts the thread. Aborts on failure. */
struct listener *l_start(const char *path, enum l_reply reply);
/* Number of messages received so far. */
size_t l_count(struct listener *l);
/* A copy of message i ("" when there is none). */
void l_message(struct listener *l, size_t i, char *buf, size_t len);
/* Stops the thread, closes every connection, removes the socket file, frees; NULL ok. */
void l_stop(struct listener **l);

#endif
