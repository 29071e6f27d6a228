/*
 * One request from the agent to its answer: which HTTP call a frame type is (docs/API.md), with
 * the enrolment read from the uplink's directory for each call (keep-alive and TLS sessions
 * live in the reused curl handle, not here).
 *
 *   EVENTS          POST /v1/events          body = payload
 *   HEARTBEAT       POST /v1/heartbeat       body = payload
 *   POLICY_APPLIED  POST /v1/policy/applied  body = payload
 *   REQUEST         POST /v1/requests        body = payload
 *   POLICY_POLL     GET  /v1/policy          payload = If-None-Match ("" : none)
 *   ENROLL          uplink_enroll.h
 */
#ifndef MG_UPLINK_REQUEST_H
#define MG_UPLINK_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "uplink_http.h"

/* Answers one request of type (an agent -> uplink type) into res (always set). */
void mg_uplink_request(struct mg_uplink_http *h, int dirfd, uint8_t type, const uint8_t *payload,
                       size_t len, struct mg_uplink_result *res);

#endif
