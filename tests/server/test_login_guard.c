/*
 * The login guard alone (server/admin/login_guard.c, issue 14 finding 3): address penalties
 * and name delays with a given clock, the lock count, bounded tables, IPv6 /64 keys, and the
 * fair password-check slot (one request per address; waiters served in arrival order).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "login_guard.h"

static void test_address_penalty(void **state)
{
	struct mg_login_guard *g = NULL;
	bool locked = true;
	(void)state;
	assert_int_equal(mg_login_guard_new(&g), 0);
	/* free failures: no penalty */
	for (unsigned i = 1; i < MG_LOGIN_ADDR_FREE; i++) {
		mg_login_guard_failure(g, "192.0.2.1", NULL, 1000);
		assert_int_equal(mg_login_guard_check(g, "192.0.2.1", "a", 1000, &locked), 0);
		assert_false(locked);
	}
	/* then 1, 2, 4 ... s from each failure, up to the cap */
	mg_login_guard_failure(g, "192.0.2.1", NULL, 1000);
	assert_int_equal(mg_login_guard_check(g, "192.0.2.1", "a", 1000, NULL), 1);
	assert_int_equal(mg_login_guard_check(g, "192.0.2.1", "a", 1001, NULL), 0);
	mg_login_guard_failure(g, "192.0.2.1", NULL, 1001);
	assert_int_equal(mg_login_guard_check(g, "192.0.2.1", "a", 1001, NULL), 2);
	mg_login_guard_failure(g, "192.0.2.1", NULL, 1003);
	assert_int_equal(mg_login_guard_check(g, "192.0.2.1", "a", 1003, NULL), 4);
	for (unsigned i = 0; i < 40; i++)
		mg_login_guard_failure(g, "192.0.2.1", NULL, 1003);
	assert_int_equal(mg_login_guard_check(g, "192.0.2.1", "a", 1003, NULL),
	                 MG_LOGIN_ADDR_MAX_S);
	/* other addresses are not affected; the same IPv6 /64 is one address */
	assert_int_equal(mg_login_guard_check(g, "192.0.2.2", "a", 1003, NULL), 0);
	for (unsigned i = 0; i < MG_LOGIN_ADDR_FREE; i++)
		mg_login_guard_failure(g, "2001:db8::1", NULL, 1000);
	assert_int_equal(mg_login_guard_check(g, "2001:db8::ffff:2", NULL, 1000, NULL), 1);
	assert_int_equal(mg_login_guard_check(g, "2001:db8:0:1::1", NULL, 1000, NULL), 0);
	/* success starts afresh; long idle entries are forgotten */
	mg_login_guard_success(g, "192.0.2.1", NULL);
	assert_int_equal(mg_login_guard_check(g, "192.0.2.1", "a", 1003, NULL), 0);
	assert_int_equal(
	    mg_login_guard_check(g, "2001:db8::1", NULL, 1000 + MG_LOGIN_FORGET_S + 1, NULL), 0);
	mg_login_guard_free(&g);
	assert_null(g);
}

static void test_name_delay_and_lock(void **state)
{
	struct mg_login_guard *g = NULL;
	bool locked = false;
	char addr[32];
	int64_t t = 5000;
	(void)state;
	assert_int_equal(mg_login_guard_new(&g), 0);
	for (uint32_t i = 1; i <= MG_LOGIN_LOCK_FAILURES; i++) {
		snprintf(addr, sizeof(addr), "10.0.0.%u", i);
		assert_int_equal(mg_login_guard_failure(g, addr, "k.tanaka", t), i);
		unsigned w = mg_login_guard_check(g, "10.1.0.1", "k.tanaka", t, &locked);
		if (i < MG_LOGIN_NAME_FREE)
			assert_int_equal(w, 0);
		else if (i < MG_LOGIN_LOCK_FAILURES)
			assert_int_equal(w, 1u << (i - MG_LOGIN_NAME_FREE));
		assert_int_equal(locked, i >= MG_LOGIN_LOCK_FAILURES);
		t += 100;
	}
	/* locked names are not forgotten by time */
	mg_login_guard_check(g, "10.1.0.1", "k.tanaka", t + 10 * MG_LOGIN_FORGET_S, &locked);
	assert_true(locked);
	/* forget (unlock) */
	mg_login_guard_forget(g, "k.tanaka");
	assert_int_equal(mg_login_guard_check(g, "10.1.0.1", "k.tanaka", t, &locked), 0);
	assert_false(locked);
	mg_login_guard_free(&g);
}

/* Attacker-chosen names cost bounded memory: the table keeps MG_LOGIN_TABLE entries. */
static void test_bounded(void **state)
{
	struct mg_login_guard *g = NULL;
	char name[32];
	bool locked = false;
	(void)state;
	assert_int_equal(mg_login_guard_new(&g), 0);
	for (unsigned i = 0; i < MG_LOGIN_LOCK_FAILURES; i++)
		mg_login_guard_failure(g, NULL, "first", 10);
	for (unsigned i = 0; i < 3 * MG_LOGIN_TABLE; i++) {
		snprintf(name, sizeof(name), "n%u", i);
		mg_login_guard_failure(g, NULL, name, 20 + i);
	}
	mg_login_guard_check(g, NULL, "first", 20, &locked);
	assert_false(locked); /* replaced */
	snprintf(name, sizeof(name), "n%u", 3 * MG_LOGIN_TABLE - 1);
	assert_int_equal(mg_login_guard_failure(g, NULL, name, 20 + 3 * MG_LOGIN_TABLE), 2);
	mg_login_guard_free(&g);
}

struct holder {
	struct mg_login_guard *g;
	const char *addr;
	atomic_int *order;
	int got;
	int r;
};

static void *waiter(void *arg)
{
	struct holder *h = arg;
	h->r = mg_login_guard_enter(h->g, h->addr, 1, 5000);
	if (h->r == 0) {
		h->got = atomic_fetch_add(h->order, 1);
		usleep(20000);
		mg_login_guard_leave(h->g, h->addr);
	}
	return NULL;
}

/* One request per address holds or waits; a waiter from another address gets the slot before
 * the holder's address can take it again. */
static void test_fair_slot(void **state)
{
	struct mg_login_guard *g = NULL;
	atomic_int order = 0;
	struct holder b;
	pthread_t t;
	(void)state;
	assert_int_equal(mg_login_guard_new(&g), 0);
	assert_int_equal(mg_login_guard_enter(g, "10.0.0.1", 1, 100), 0);
	/* the same address again: at once -EBUSY */
	assert_int_equal(mg_login_guard_enter(g, "10.0.0.1", 1, 100), -EBUSY);
	/* another address waits, bounded */
	assert_int_equal(mg_login_guard_enter(g, "10.0.0.2", 1, 50), -ETIMEDOUT);
	b = (struct holder){g, "10.0.0.2", &order, -1, -1};
	assert_int_equal(pthread_create(&t, NULL, waiter, &b), 0);
	usleep(100000); /* b waits */
	/* a third address finds the queue full (one waiter per slot) */
	assert_int_equal(mg_login_guard_enter(g, "10.0.0.3", 1, 50), -EAGAIN);
	mg_login_guard_leave(g, "10.0.0.1");
	/* the flooding address comes straight back: refused while b waits, or queued behind b,
	 * never ahead of it */
	int r;
	for (unsigned i = 0; (r = mg_login_guard_enter(g, "10.0.0.1", 1, 2000)) == -EAGAIN; i++) {
		assert_true(i < 2000);
		usleep(1000);
	}
	assert_int_equal(r, 0);
	int mine = atomic_fetch_add(&order, 1);
	mg_login_guard_leave(g, "10.0.0.1");
	pthread_join(t, NULL);
	assert_int_equal(b.r, 0);
	assert_int_equal(b.got, 0);
	assert_int_equal(mine, 1);
	/* no address left behind as busy */
	assert_int_equal(mg_login_guard_enter(g, "10.0.0.2", 1, 100), 0);
	mg_login_guard_leave(g, "10.0.0.2");
	/* a NULL address (password changes of a session) is not limited per address */
	assert_int_equal(mg_login_guard_enter(g, NULL, 2, 100), 0);
	assert_int_equal(mg_login_guard_enter(g, NULL, 2, 100), 0);
	assert_int_equal(mg_login_guard_enter(g, NULL, 2, 50), -ETIMEDOUT);
	mg_login_guard_leave(g, NULL);
	mg_login_guard_leave(g, NULL);
	mg_login_guard_free(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_address_penalty),
	    cmocka_unit_test(test_name_delay_and_lock),
	    cmocka_unit_test(test_bounded),
	    cmocka_unit_test(test_fair_slot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
