/*
 * mynaguard-enroll fido2 --central (issue 15): the registration of a new credential as the
 * body of POST /v1/staff/registrations (docs/API.md), filed through the agent's control
 * socket (command "staff-register", docs/AGENT.md), which answers when the collector has.
 *   request:  {"cmd":"staff-register","registration":{...}}\n
 *   answer:   {"ok":true,"id":N,"state":"pending"} | {"ok":false,"error":"..."}
 */
#ifndef MG_PAM_STAFF_REGISTER_H
#define MG_PAM_STAFF_REGISTER_H

#include <jansson.h>
#include <stddef.h>

#include "credfile.h"
#include "fido2_enroll.h"

#define MG_AGENT_SOCKET        "/run/mynaguard/agent.sock"
#define MG_AGENT_ANSWER_MAX    65536 /* bytes of one answer line */
#define MG_STAFF_REGISTER_WAIT 120   /* seconds the agent may take (it waits for the collector) */

/*
 * The registration body (new object in *out): registration_id (1-63 of A-Za-z0-9._-), user,
 * label, and the credential with its attestation. 0, -EINVAL, -ENOMEM.
 */
int mg_staff_registration_json(const char *registration_id, const char *user,
                               const struct mg_fido2_cred *c, const char *rp_id,
                               const struct mg_fido2_attestation *att, json_t **out);

/*
 * Sends the registration to the agent at socket_path and waits at most timeout_s for its
 * answer. 0 with *answer (an object; "ok" says the outcome), or a negative errno with err
 * (English) filled: -ECONNREFUSED/-ENOENT (no agent), -ETIMEDOUT, -EBADMSG (not an answer).
 */
int mg_staff_register_call(const char *socket_path, const json_t *registration, unsigned timeout_s,
                           json_t **answer, char *err, size_t errlen);

#endif
