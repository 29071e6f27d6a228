/* When to try an upload again after a failure: a pure function of the collector's Retry-After,
 * the number of failures in a row and a random value, so that it can be tested. */
#ifndef MG_BACKOFF_H
#define MG_BACKOFF_H

#include <stdint.h>

#define MG_BACKOFF_CAP_US (30 * 1000000LL)

/*
 * Microseconds to wait before the next attempt. retry_after_s > 0 (the collector's Retry-After,
 * at most 86400): at least that long and at most half as long again, spread by rnd, so that
 * terminals told the same value do not all come back at the same instant. Otherwise
 * exponential from 1 s (failures = 1) to MG_BACKOFF_CAP_US with "equal jitter": between half
 * and all of the step.
 */
int64_t mg_backoff_delay_us(uint32_t retry_after_s, unsigned failures, uint64_t rnd);

#endif
