/*
 * A fixed pool of threads running queued items in arrival order. The items are intrusive
 * (embedded in the caller's own struct), so queueing never allocates and never fails.
 *
 *   producer                   pool (n threads)
 *   mg_workq_push(it) --> [it][it][it] --> it->fn(it)
 *
 * The HTTPS server uses it to run request handlers that wait for a database commit off
 * libmicrohttpd's connection threads (http.c).
 */
#ifndef MG_WORKQ_H
#define MG_WORKQ_H

struct mg_workq_item {
	struct mg_workq_item *next; /* the queue's own */
	void (*fn)(struct mg_workq_item *it);
};

struct mg_workq;

/* Starts n (1..256) threads named name (at most 15 bytes). 0, -EINVAL, -ENOMEM or -EAGAIN. */
int mg_workq_start(unsigned n, const char *name, struct mg_workq **out);
/* Queues it; one of the threads runs it->fn(it). Not after mg_workq_stop(). */
void mg_workq_push(struct mg_workq *q, struct mg_workq_item *it);
/* Runs every item still queued, then stops and joins the threads; NULL accepted. */
void mg_workq_stop(struct mg_workq **q);

#endif
