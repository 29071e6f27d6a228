/* Retry delays of the upload (see backoff.h). */
#include "backoff.h"

#define SEC 1000000LL

int64_t mg_backoff_delay_us(uint32_t retry_after_s, unsigned failures, uint64_t rnd)
{
	if (retry_after_s > 0) {
		int64_t delay = (int64_t)(retry_after_s > 86400 ? 86400 : retry_after_s) * SEC;
		return delay + (int64_t)(rnd % (uint64_t)(delay / 2 + 1));
	}
	unsigned shift = failures > 6 ? 6 : failures > 0 ? failures - 1 : 0;
	int64_t delay = SEC << shift;
	if (delay > MG_BACKOFF_CAP_US)
		delay = MG_BACKOFF_CAP_US;
	return delay / 2 + (int64_t)(rnd % (uint64_t)(delay / 2 + 1));
}
