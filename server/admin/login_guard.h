/*
 * The login guard (issue 14, finding 3): who may try a password, and when. In memory, bounded,
 * thread-safe; no I/O, no store (the caller persists account locks).
 *
 *  - Per address (an IPv6 address counts as its /64): from the MG_LOGIN_ADDR_FREE-th failed
 *    login on, each failure sets a penalty of 1, 2, 4 ... seconds (at most MG_LOGIN_ADDR_MAX_S)
 *    from that failure, in the manner of OpenSSH's PerSourcePenalties. An address in penalty
 *    is refused (429 + Retry-After) before it reaches the password check.
 *  - Per name (any name, existing or not, so the answers are the same for both): from the
 *    MG_LOGIN_NAME_FREE-th consecutive failure on, a delay of 1, 2, 4 ... seconds (at most
 *    MG_LOGIN_NAME_MAX_S); at MG_LOGIN_LOCK_FAILURES the name is locked (the caller stores the
 *    lock of an existing account; an unknown name stays locked here, so it answers alike).
 *  - The password-check slot: at most `slots` checks at once, and one request per address
 *    holding or waiting for it; waiters are served first come, first served, so a flooding
 *    address gets one turn in between everyone else's. A bounded wait, then -ETIMEDOUT.
 *
 * Each table remembers MG_LOGIN_TABLE entries: when full, the entry idle the longest that is
 * not in use is replaced, so attacker-chosen names and addresses cost bounded memory. Entries
 * idle for MG_LOGIN_FORGET_S are forgotten.
 */
#ifndef MG_LOGIN_GUARD_H
#define MG_LOGIN_GUARD_H

#include <stdbool.h>
#include <stdint.h>

#define MG_LOGIN_ADDR_FREE     3u    /* the failure of one address that starts penalties */
#define MG_LOGIN_ADDR_MAX_S    300u  /* longest address penalty, seconds */
#define MG_LOGIN_NAME_FREE     7u    /* the consecutive failure of a name that starts delays */
#define MG_LOGIN_NAME_MAX_S    60u   /* longest name delay, seconds */
#define MG_LOGIN_LOCK_FAILURES 10u   /* consecutive failures that lock the name */
#define MG_LOGIN_TABLE         1024u /* addresses and names remembered (each table) */
#define MG_LOGIN_FORGET_S      3600  /* an entry without failure for this long is forgotten */
#define MG_LOGIN_KEY_SIZE      64u   /* addresses and names: at most 63 bytes */

struct mg_login_guard;

/* 0, -ENOMEM. */
int mg_login_guard_new(struct mg_login_guard **out);
/* NULL accepted; no request may be inside. */
void mg_login_guard_free(struct mg_login_guard **g);

/*
 * Before a password check from addr (the client address; NULL or "": unknown, not limited)
 * for name (NULL: none, e.g. a password change) at now_s (a monotonic clock, seconds): the
 * seconds to wait when the address or the name is in penalty (> 0), else 0. *locked (optional)
 * tells whether name has MG_LOGIN_LOCK_FAILURES consecutive failures.
 */
unsigned mg_login_guard_check(struct mg_login_guard *g, const char *addr, const char *name,
                              int64_t now_s, bool *locked);
/*
 * Takes one of `slots` password-check slots for addr, waiting at most wait_ms behind earlier
 * requests (at most `slots` requests wait: each waiter holds a work thread). 0 (give it back
 * with mg_login_guard_leave), -EBUSY (this address already holds or waits for a slot),
 * -EAGAIN (too many wait), -ETIMEDOUT (waited wait_ms).
 */
int mg_login_guard_enter(struct mg_login_guard *g, const char *addr, unsigned slots,
                         unsigned wait_ms);
void mg_login_guard_leave(struct mg_login_guard *g, const char *addr);
/* A failed login (wrong name or password, or a locked name) of addr for name at now_s: the
 * name's consecutive failures (0 when name is NULL). */
uint32_t mg_login_guard_failure(struct mg_login_guard *g, const char *addr, const char *name,
                                int64_t now_s);
/* A successful login: addr and name start afresh. */
void mg_login_guard_success(struct mg_login_guard *g, const char *addr, const char *name);
/* Forgets name's failures (its account was unlocked). */
void mg_login_guard_forget(struct mg_login_guard *g, const char *name);

/* The process's guard (created on first use; NULL when memory ran out). */
struct mg_login_guard *mg_login_guard_default(void);

#endif
