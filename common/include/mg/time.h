/* Wall-clock time as RFC 3339 text. */
#ifndef MG_TIME_H
#define MG_TIME_H

#include <stddef.h>
#include <stdint.h>

#define MG_RFC3339_LEN 32 /* "2026-11-25T21:17:59.123456Z" and its NUL, with room */

/* Microseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t mg_now_us(void);

/* Writes "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" (always UTC, 6 fractional digits). 0 or -ERANGE. */
int mg_time_format(int64_t us, char buf[MG_RFC3339_LEN]);

/*
 * Parses RFC 3339 date-time: "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)", 't'/'z' accepted,
 * years 1970-9999, fraction up to 9 digits (truncated to microseconds). 0 or -EINVAL.
 */
int mg_time_parse(const char *s, int64_t *us);

#endif
