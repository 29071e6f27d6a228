/*
 * libFuzzer target: what the network hands the root agent through the uplink: a policy poll
 * answer (agent/daemon/central.c, checked against a fixed pinned key) and an enrolment answer
 * (agent/daemon/enrolment.c). Neither may crash or accept garbage: a random answer never
 * carries a valid signature of the pinned key, so mg_central_check must refuse it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "central.h"
#include "enrolment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char key[] = "q2Xap3jMu8b9RnrOZbkFa+HAEls3rx5nHb2KJ86oi7Q=";
	struct mg_central_bundle b;
	uint64_t version = 0;
	char why[320];
	if (mg_central_check((const char *)data, size, key, 0, 1800000000000000LL, 12, &b, &version,
	                     why, sizeof(why)) == 0)
		abort(); /* no forged bundle is accepted */
	struct mg_enrolment e;
	memset(&e, 0, sizeof(e));
	if (mg_enrolment_from_answer((const char *)data, size, &e, why, sizeof(why)) == 0 &&
	    (e.host_id < 1 || strlen(e.policy_key) != 44))
		abort();
	return 0;
}
