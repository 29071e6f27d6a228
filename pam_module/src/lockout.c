/* Consecutive-failure counting and lock periods. */
#include "lockout.h"

#include <errno.h>

int mg_lockout_check(struct mg_authstate *st, uint64_t now, bool *expired)
{
	*expired = false;
	if (st->locked_until == 0)
		return 0;
	if (now < st->locked_until)
		return -EACCES;
	st->locked_until = 0;
	st->failures = 0;
	*expired = true;
	return 0;
}

void mg_lockout_failure(struct mg_authstate *st, uint64_t deny_after, uint64_t unlock_after,
                        uint64_t now, bool *locked_now)
{
	*locked_now = false;
	if (st->failures < MG_JSON_INT_MAX)
		st->failures++;
	if (st->locked_until == 0 && st->failures >= deny_after) {
		uint64_t until = MG_JSON_INT_MAX;
		if (unlock_after != 0 && now < MG_JSON_INT_MAX - unlock_after)
			until = now + unlock_after;
		st->locked_until = until;
		*locked_now = true;
	}
}

void mg_lockout_success(struct mg_authstate *st)
{
	st->failures = 0;
	st->locked_until = 0;
}

bool mg_lockout_unlock(struct mg_authstate *st)
{
	bool was = st->failures != 0 || st->locked_until != 0;
	st->failures = 0;
	st->locked_until = 0;
	return was;
}
