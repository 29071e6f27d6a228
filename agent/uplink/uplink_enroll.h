/*
 * Enrolment (MG_UPLINK_ENROLL): a new EC P-256 key and a PKCS#10 request signed with it,
 * POST {collector}/v1/enroll verified against exactly the CA the agent passed (no client
 * certificate), and on 200/201 the key, the issued certificate, that CA and the collector URL
 * stored in the uplink's directory (uplink_creds.h). An enrolment already stored is replaced
 * only then.
 */
#ifndef MG_UPLINK_ENROLL_H
#define MG_UPLINK_ENROLL_H

#include <stddef.h>
#include <stdint.h>

#include "uplink_http.h"

#define MG_UPLINK_ENROLL_MAX (128u * 1024u) /* the request payload */

/*
 * payload: {"collector": "https://...", "token": "...", "ca": "<PEM>", "hostname": "...",
 * "agent_version": "..."}, all required, nothing else. res gets the collector's answer byte for
 * byte, or status 0 with why (a malformed request, no answer, or the answer could not be
 * stored: then the agent must not consider the terminal enrolled).
 */
void mg_uplink_enroll(struct mg_uplink_http *h, int dirfd, const uint8_t *payload, size_t len,
                      struct mg_uplink_result *res);

#endif
