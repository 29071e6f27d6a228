/*
 * Device requests filed on this terminal (`mynaguardctl request`, POST /v1/requests), kept in
 * <state_dir>/requests.json (0600, atomic) until the collector answered, so that a request
 * survives restarts and outages. Each has a request id made here (the collector's idempotency
 * key), so a retry after a lost answer files nothing twice; a pending request is sent again
 * after a new policy version, and the collector's answer (same content: 200 with the current
 * state) updates its state (pending, approved, denied).
 */
#ifndef MG_REQUESTS_H
#define MG_REQUESTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MG_REQUESTS_MAX 1000u

struct mg_requests;

int mg_requests_open(const char *state_dir, struct mg_requests **out, char *why, size_t whylen);
void mg_requests_free(struct mg_requests **r);

/*
 * A new request for device (vendor_id, product_id, serial, name, hash: taken). reason 1-1023
 * bytes without control characters other than tab and newline; user 1-255 bytes without
 * control characters. id gets the request id. 0 or a negative errno with why.
 */
int mg_requests_add(struct mg_requests *r, const char *user, json_t *device, const char *reason,
                    char id[64], char *why, size_t whylen);

/*
 * The body of the next request to send: one not sent yet, or (refresh) the next pending one
 * of this round. 1 with *body (malloc'ed), 0 when there is none.
 */
int mg_requests_next(struct mg_requests *r, bool refresh, char **body);
/* The collector's answer to the request last returned by mg_requests_next(). 0 when it is
 * answered (state updated and kept), -EAGAIN when it must be sent again later. */
int mg_requests_answer(struct mg_requests *r, unsigned status, const char *body, size_t len,
                       const char *words);
/* True when a request waits to be sent. */
bool mg_requests_due(const struct mg_requests *r);
/* Every request (new reference). */
json_t *mg_requests_list(const struct mg_requests *r);

#endif
