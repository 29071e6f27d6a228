/*
 * The terminal's enrolment as the root agent keeps it (<state_dir>/enrolment.json, 0600): the
 * collector URL, the host id and the pinned policy public key. The TLS key, certificate and CA
 * are the uplink's (<state_dir>/uplink/); the policy key is the agent's alone, so a
 * compromised uplink cannot make the agent accept a forged policy.
 */
#ifndef MG_ENROLMENT_H
#define MG_ENROLMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mg_enrolment {
	bool enrolled;
	char collector[512];
	int64_t host_id;
	char policy_key[45]; /* 32 bytes, standard base64 */
	int64_t enrolled_us;
};

/* 0 (enrolled), -ENOENT (not enrolled), or another negative errno with why. */
int mg_enrolment_load(const char *state_dir, struct mg_enrolment *e, char *why, size_t whylen);
int mg_enrolment_save(const char *state_dir, const struct mg_enrolment *e);
/*
 * The collector's answer to POST /v1/enroll: host_id and policy_public_key into e (collector
 * set by the caller). 0 or -EINVAL with why.
 */
int mg_enrolment_from_answer(const char *body, size_t len, struct mg_enrolment *e, char *why,
                             size_t whylen);

#endif
