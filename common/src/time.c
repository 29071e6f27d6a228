/* RFC 3339 timestamps (section 5.6) in UTC, with the civil-calendar arithmetic done here. */
#include "mg/time.h"

#include <errno.h>
#include <stdbool.h>
#include <time.h>

#define US_PER_SEC  INT64_C(1000000)
#define SEC_PER_DAY INT64_C(86400)
#define MIN_YEAR    1970u
#define MAX_YEAR    9999u
/* 9999-12-31T23:59:59.999999Z */
#define MAX_US INT64_C(253402300799999999)

int64_t mg_now_us(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
		return 0;
	return (int64_t)ts.tv_sec * US_PER_SEC + (int64_t)(ts.tv_nsec / 1000);
}

static bool leap_year(unsigned y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(unsigned y, unsigned m)
{
	static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && leap_year(y) ? 29u : dim[m - 1];
}

/*
 * Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar, for y >= 1 (H. Hinnant,
 * "chrono-Compatible Low-Level Date Algorithms"): years start in March, so the leap day is
 * the last day of the year; an era is 400 years = 146097 days.
 */
static int64_t days_from_civil(unsigned y, unsigned m, unsigned d)
{
	if (m <= 2)
		y--;
	const unsigned era = y / 400;
	const unsigned yoe = y - era * 400;                                   /* [0, 399] */
	const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
	return (int64_t)era * 146097 + (int64_t)doe - 719468;
}

/* The inverse of days_from_civil() for days >= 0. */
static void civil_from_days(int64_t days, unsigned *y, unsigned *m, unsigned *d)
{
	const int64_t z = days + 719468;
	const int64_t era = z / 146097;
	const unsigned doe = (unsigned)(z - era * 146097);
	const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	const unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (unsigned)era * 400 + yoe + (*m <= 2 ? 1u : 0u);
}

/* Writes v as exactly width decimal digits. */
static char *put_digits(char *p, unsigned v, unsigned width)
{
	for (unsigned i = width; i > 0; i--) {
		p[i - 1] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + width;
}

int mg_time_format(int64_t us, char buf[MG_RFC3339_LEN])
{
	if (us < 0 || us > MAX_US)
		return -ERANGE;
	const int64_t secs = us / US_PER_SEC;
	const unsigned frac = (unsigned)(us % US_PER_SEC);
	const unsigned sod = (unsigned)(secs % SEC_PER_DAY);
	unsigned y, m, d;
	civil_from_days(secs / SEC_PER_DAY, &y, &m, &d);

	char *p = buf;
	p = put_digits(p, y, 4);
	*p++ = '-';
	p = put_digits(p, m, 2);
	*p++ = '-';
	p = put_digits(p, d, 2);
	*p++ = 'T';
	p = put_digits(p, sod / 3600, 2);
	*p++ = ':';
	p = put_digits(p, sod / 60 % 60, 2);
	*p++ = ':';
	p = put_digits(p, sod % 60, 2);
	*p++ = '.';
	p = put_digits(p, frac, 6);
	*p++ = 'Z';
	*p = '\0';
	return 0;
}

/* Reads exactly n digits at *p into *out and advances *p; false when they are not there. */
static bool get_digits(const char **p, unsigned n, unsigned *out)
{
	unsigned v = 0;
	for (unsigned i = 0; i < n; i++) {
		const char c = (*p)[i];
		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (unsigned)(c - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static bool get_char(const char **p, char a, char b)
{
	if (**p != a && **p != b)
		return false;
	(*p)++;
	return true;
}

/*
 *   date-time = YYYY "-" MM "-" DD ("T"/"t") hh ":" mm ":" ss ["." 1*9DIGIT]
 *               ("Z"/"z" / ("+"/"-") hh ":" mm)
 */
int mg_time_parse(const char *s, int64_t *us)
{
	unsigned y, mo, d, h, mi, sec, oh = 0, om = 0;
	unsigned frac = 0, nfrac = 0;
	int sign = 0;
	const char *p = s;

	if (!s || !us)
		return -EINVAL;
	if (!get_digits(&p, 4, &y) || !get_char(&p, '-', '-') || !get_digits(&p, 2, &mo) ||
	    !get_char(&p, '-', '-') || !get_digits(&p, 2, &d) || !get_char(&p, 'T', 't') ||
	    !get_digits(&p, 2, &h) || !get_char(&p, ':', ':') || !get_digits(&p, 2, &mi) ||
	    !get_char(&p, ':', ':') || !get_digits(&p, 2, &sec))
		return -EINVAL;
	if (get_char(&p, '.', '.')) {
		while (*p >= '0' && *p <= '9') {
			if (++nfrac > 9)
				return -EINVAL;
			if (nfrac <= 6)
				frac = frac * 10 + (unsigned)(*p - '0');
			p++;
		}
		if (nfrac == 0)
			return -EINVAL;
		for (unsigned i = nfrac; i < 6; i++)
			frac *= 10;
	}
	if (get_char(&p, 'Z', 'z')) {
		sign = 0;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '+' ? 1 : -1;
		if (!get_digits(&p, 2, &oh) || !get_char(&p, ':', ':') || !get_digits(&p, 2, &om))
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;

	if (y < MIN_YEAR || y > MAX_YEAR || mo < 1 || mo > 12 || d < 1 ||
	    d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60 || oh > 23 || om > 59)
		return -EINVAL;

	int64_t t = days_from_civil(y, mo, d) * SEC_PER_DAY + (int64_t)h * 3600 + (int64_t)mi * 60;
	if (sec == 60) /* a leap second: the last microsecond of the minute */
		t = (t + 59) * US_PER_SEC + 999999;
	else
		t = (t + sec) * US_PER_SEC + frac;
	t -= sign * ((int64_t)oh * 3600 + (int64_t)om * 60) * US_PER_SEC;
	if (t < 0 || t > MAX_US)
		return -EINVAL;
	*us = t;
	return 0;
}
