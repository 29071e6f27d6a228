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
 * Calendar dates are checked (no Feb 30, Feb 29 only in leap years), hours 00-23, offsets
 * at most 23:59. Second 60 (a leap second) is accepted and folded to the minute's last
 * microsecond, :59.999999. The UTC result must lie in 1970-01-01..9999-12-31, as for
 * mg_time_format(). Nothing depends on TZ or the C library's time functions.
 */
int mg_time_parse(const char *s, int64_t *us);

#endif
