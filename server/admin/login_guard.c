/* The login guard (login_guard.h): penalties per address and per name, the fair slot. */
#include "login_guard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_WAITERS 64u

struct entry {
	char key[MG_LOGIN_KEY_SIZE]; /* "": free */
	uint32_t failures;
	int64_t last_s;  /* last failure (or creation) */
	int64_t until_s; /* penalty or delay ends */
	bool busy;       /* addresses: holds or waits for a slot (never replaced meanwhile) */
};

struct mg_login_guard {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned holders;
	uint64_t queue[MAX_WAITERS]; /* tickets of the waiters, first come first */
	unsigned nq;
	uint64_t next_ticket;
	struct entry addrs[MG_LOGIN_TABLE];
	struct entry names[MG_LOGIN_TABLE];
};

int mg_login_guard_new(struct mg_login_guard **out)
{
	struct mg_login_guard *g = calloc(1, sizeof(*g));
	pthread_condattr_t ca;
	if (!g)
		return -ENOMEM;
	if (pthread_condattr_init(&ca) != 0) {
		free(g);
		return -ENOMEM;
	}
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (pthread_mutex_init(&g->mu, NULL) != 0 || pthread_cond_init(&g->cv, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		free(g);
		return -ENOMEM;
	}
	pthread_condattr_destroy(&ca);
	*out = g;
	return 0;
}

void mg_login_guard_free(struct mg_login_guard **g)
{
	if (!g || !*g)
		return;
	pthread_cond_destroy(&(*g)->cv);
	pthread_mutex_destroy(&(*g)->mu);
	free(*g);
	*g = NULL;
}

static struct mg_login_guard *default_guard;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void default_init(void)
{
	if (mg_login_guard_new(&default_guard) < 0)
		default_guard = NULL;
}

struct mg_login_guard *mg_login_guard_default(void)
{
	pthread_once(&default_once, default_init);
	return default_guard;
}

/* The key of a client address: an IPv6 address by its /64 (one host gets a whole /64). */
static void addr_key(const char *addr, char out[MG_LOGIN_KEY_SIZE])
{
	struct in6_addr a6;
	if (strchr(addr, ':') && inet_pton(AF_INET6, addr, &a6) == 1) {
		memset(a6.s6_addr + 8, 0, 8);
		if (inet_ntop(AF_INET6, &a6, out, MG_LOGIN_KEY_SIZE))
			return;
	}
	snprintf(out, MG_LOGIN_KEY_SIZE, "%s", addr);
}

/* 2^(n - free) seconds, at most max (n >= free). */
static int64_t backoff(uint32_t n, uint32_t free_n, unsigned max)
{
	uint32_t k = n - free_n;
	return k >= 30 || (1u << k) > max ? (int64_t)max : (int64_t)(1u << k);
}

/* The entry of key in t, or (create) a new one in place of a free or the longest idle entry
 * not busy; NULL when none. Entries idle for MG_LOGIN_FORGET_S are forgotten on the way, except
 * locked names (locks_at: the failures that lock; 0: none), which only make room when full. */
static struct entry *find(struct entry *t, const char *key, int64_t now_s, bool create,
                          uint32_t locks_at)
{
	struct entry *victim = NULL;
	for (unsigned i = 0; i < MG_LOGIN_TABLE; i++) {
		struct entry *e = &t[i];
		if (e->key[0] && !e->busy && now_s - e->last_s > MG_LOGIN_FORGET_S &&
		    (locks_at == 0 || e->failures < locks_at))
			memset(e, 0, sizeof(*e));
		if (e->key[0] && strcmp(e->key, key) == 0)
			return e;
		if (e->busy)
			continue;
		if (!victim || (victim->key[0] && (!e->key[0] || e->last_s < victim->last_s)))
			victim = e;
	}
	if (!create || !victim)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	snprintf(victim->key, sizeof(victim->key), "%s", key);
	victim->last_s = now_s;
	return victim;
}

static bool usable(const char *s)
{
	return s && *s && strlen(s) < MG_LOGIN_KEY_SIZE;
}

unsigned mg_login_guard_check(struct mg_login_guard *g, const char *addr, const char *name,
                              int64_t now_s, bool *locked)
{
	char k[MG_LOGIN_KEY_SIZE];
	int64_t wait = 0;
	bool lk = false;
	pthread_mutex_lock(&g->mu);
	if (usable(addr)) {
		addr_key(addr, k);
		struct entry *a = find(g->addrs, k, now_s, false, 0);
		if (a && a->until_s > now_s)
			wait = a->until_s - now_s;
	}
	if (usable(name)) {
		struct entry *n = find(g->names, name, now_s, false, MG_LOGIN_LOCK_FAILURES);
		if (n && n->failures >= MG_LOGIN_LOCK_FAILURES)
			lk = true;
		else if (n && n->until_s > now_s && n->until_s - now_s > wait)
			wait = n->until_s - now_s;
	}
	pthread_mutex_unlock(&g->mu);
	if (locked)
		*locked = lk;
	return (unsigned)wait;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void drop_ticket(struct mg_login_guard *g, uint64_t ticket)
{
	for (unsigned i = 0; i < g->nq; i++)
		if (g->queue[i] == ticket) {
			memmove(&g->queue[i], &g->queue[i + 1],
			        (g->nq - i - 1) * sizeof(g->queue[0]));
			g->nq--;
			return;
		}
}

int mg_login_guard_enter(struct mg_login_guard *g, const char *addr, unsigned slots,
                         unsigned wait_ms)
{
	char k[MG_LOGIN_KEY_SIZE];
	struct entry *e = NULL;
	unsigned max_wait = slots < MAX_WAITERS ? slots : MAX_WAITERS;
	int64_t deadline = mono_ms() + wait_ms;
	struct timespec ts = {.tv_sec = deadline / 1000, .tv_nsec = (deadline % 1000) * 1000000};
	uint64_t ticket;
	int r = 0;

	if (slots == 0)
		return -EBUSY;
	pthread_mutex_lock(&g->mu);
	if (usable(addr)) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		addr_key(addr, k);
		e = find(g->addrs, k, now.tv_sec, true, 0);
		if (!e || e->busy) {
			r = -EBUSY; /* one request per address holds or waits */
			goto out;
		}
	}
	if (g->nq == 0 && g->holders < slots) {
		g->holders++;
		goto taken;
	}
	if (g->nq >= (max_wait ? max_wait : 1)) {
		r = -EAGAIN;
		goto out;
	}
	ticket = g->next_ticket++;
	g->queue[g->nq++] = ticket;
	if (e)
		e->busy = true;
	while (g->queue[0] != ticket || g->holders >= slots) {
		if (pthread_cond_timedwait(&g->cv, &g->mu, &ts) == ETIMEDOUT &&
		    (g->queue[0] != ticket || g->holders >= slots)) {
			drop_ticket(g, ticket);
			if (e)
				e->busy = false;
			pthread_cond_broadcast(&g->cv);
			r = -ETIMEDOUT;
			goto out;
		}
	}
	drop_ticket(g, ticket);
	g->holders++;
	pthread_cond_broadcast(&g->cv); /* the next waiter may fit too */
taken:
	if (e)
		e->busy = true;
out:
	pthread_mutex_unlock(&g->mu);
	return r;
}

void mg_login_guard_leave(struct mg_login_guard *g, const char *addr)
{
	char k[MG_LOGIN_KEY_SIZE];
	pthread_mutex_lock(&g->mu);
	if (g->holders > 0)
		g->holders--;
	if (usable(addr)) {
		addr_key(addr, k);
		for (unsigned i = 0; i < MG_LOGIN_TABLE; i++)
			if (g->addrs[i].busy && strcmp(g->addrs[i].key, k) == 0)
				g->addrs[i].busy = false;
	}
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

uint32_t mg_login_guard_failure(struct mg_login_guard *g, const char *addr, const char *name,
                                int64_t now_s)
{
	char k[MG_LOGIN_KEY_SIZE];
	uint32_t n = 0;
	pthread_mutex_lock(&g->mu);
	if (usable(addr)) {
		addr_key(addr, k);
		struct entry *a = find(g->addrs, k, now_s, true, 0);
		if (a) {
			if (a->failures < UINT32_MAX)
				a->failures++;
			a->last_s = now_s;
			if (a->failures >= MG_LOGIN_ADDR_FREE)
				a->until_s = now_s + backoff(a->failures, MG_LOGIN_ADDR_FREE,
				                             MG_LOGIN_ADDR_MAX_S);
		}
	}
	if (usable(name)) {
		struct entry *e = find(g->names, name, now_s, true, MG_LOGIN_LOCK_FAILURES);
		if (e) {
			if (e->failures < UINT32_MAX)
				e->failures++;
			e->last_s = now_s;
			if (e->failures >= MG_LOGIN_NAME_FREE)
				e->until_s = now_s + backoff(e->failures, MG_LOGIN_NAME_FREE,
				                             MG_LOGIN_NAME_MAX_S);
			n = e->failures;
		}
	}
	pthread_mutex_unlock(&g->mu);
	return n;
}

/* Resets the failures of key in t (keeps a busy address's entry). */
static void reset(struct entry *t, const char *key)
{
	for (unsigned i = 0; i < MG_LOGIN_TABLE; i++)
		if (t[i].key[0] && strcmp(t[i].key, key) == 0) {
			t[i].failures = 0;
			t[i].until_s = 0;
		}
}

void mg_login_guard_success(struct mg_login_guard *g, const char *addr, const char *name)
{
	char k[MG_LOGIN_KEY_SIZE];
	pthread_mutex_lock(&g->mu);
	if (usable(addr)) {
		addr_key(addr, k);
		reset(g->addrs, k);
	}
	if (usable(name))
		reset(g->names, name);
	pthread_mutex_unlock(&g->mu);
}

void mg_login_guard_forget(struct mg_login_guard *g, const char *name)
{
	if (!usable(name))
		return;
	pthread_mutex_lock(&g->mu);
	reset(g->names, name);
	pthread_mutex_unlock(&g->mu);
}
