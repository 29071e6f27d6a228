/*
 * Issue 14, finding 3 over HTTPS on loopback (api_harness.h; production Argon2id, as `serve`
 * always uses): a login flood from one address does not lock the other administrators out
 * (bounded-time load test; the attacker and the real administrator use different 127.x
 * source addresses); an account locks after MG_LOGIN_LOCK_FAILURES failures, even for the
 * right password, recorded as admin.lock; an unknown name answers exactly the same and leaves
 * no row behind; unlock through the API and through `mynaguard-collector admin unlock`.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "admin_auth.h"
#include "api_harness.h"
#include "login_guard.h"
#include "mg/time.h"
#include "store.h"

#define VICTIM       "k.victim"
#define VICTIM_PW    "victim password 1234"
#define LOCKED_NAME  "k.locked"
#define LOCKED_PW    "locked password 5678"
#define UNKNOWN_NAME "k.nobody"
#define ATTACKERS    8
#define FLOOD_S      6 /* seconds of flood */

static char g_tok[MG_ADMIN_TOKEN_SIZE];
static int64_t g_locked_id;

/* ---- a login from a chosen loopback source address ---- */

struct answer {
	long status;
	unsigned retry_after;
	char error[256];
	char token[MG_ADMIN_TOKEN_SIZE]; /* 200: the session */
};

struct sink {
	char buf[4096];
	size_t n;
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct sink *s = ud;
	size_t n = size * nmemb, room = sizeof(s->buf) - 1 - s->n;
	memcpy(s->buf + s->n, p, n < room ? n : room);
	s->n += n < room ? n : room;
	s->buf[s->n] = '\0';
	return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	unsigned *ra = ud;
	size_t n = size * nmemb;
	if (n > 12 && strncasecmp(p, "Retry-After:", 12) == 0)
		*ra = (unsigned)strtoul(p + 12, NULL, 10);
	return n;
}

/* POST /v1/admin/login {name, pw} from source address src on handle c (NULL: a new one). */
static void login_from(CURL *c, const char *src, const char *name, const char *pw,
                       struct answer *out)
{
	char url[128], ca[PATH_MAX + 16], body[256];
	struct curl_slist *h = NULL;
	struct sink s = {.n = 0};
	CURL *own = c ? NULL : curl_easy_init();
	json_t *j;
	if (!c)
		c = own;
	memset(out, 0, sizeof(*out));
	snprintf(url, sizeof(url), "https://127.0.0.1:%u/v1/admin/login", g_port);
	snprintf(ca, sizeof(ca), "%s/ca.pem", g_dir);
	snprintf(body, sizeof(body), "{\"name\":\"%s\",\"password\":\"%s\"}", name, pw);
	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_INTERFACE, src);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &out->retry_after);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	j = json_loads(s.buf, 0, NULL);
	snprintf(out->error, sizeof(out->error), "%s", err_of(j));
	if (json_string_value(json_object_get(j, "token")))
		snprintf(out->token, sizeof(out->token), "%s",
		         json_string_value(json_object_get(j, "token")));
	json_decref(j);
	curl_slist_free_all(h);
	if (own)
		curl_easy_cleanup(own);
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An admin call with the session g_tok. */
static long admin_call(const char *method, const char *path, json_t **answer)
{
	char auth[128];
	const char *headers[] = {auth, NULL};
	struct api_reply r = {0};
	long st;
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", g_tok);
	st = api_call(method, path, headers, strcmp(method, "POST") == 0 ? "" : NULL, 0, NULL, NULL,
	              &r);
	if (answer) {
		*answer = r.json;
		r.json = NULL;
	}
	api_reply_free(&r);
	return st;
}

struct action_count {
	const char *action, *target, *admin;
	unsigned n;
};

static int count_action(void *ctx, const struct mg_store_admin_action *a)
{
	struct action_count *c = ctx;
	if (strcmp(a->action, c->action) == 0 &&
	    (!c->target || strcmp(a->target, c->target) == 0) &&
	    (!c->admin || strcmp(a->admin, c->admin) == 0))
		c->n++;
	return 0;
}

static unsigned actions(const char *action, const char *target, const char *admin)
{
	struct mg_store *s = store();
	struct action_count c = {action, target, admin, 0};
	assert_int_equal(mg_store_admin_actions_foreach(s, 0, 10000, count_action, &c), 0);
	mg_store_close(&s);
	return c.n;
}

static int name_seen(void *ctx, const struct mg_store_admin_action *a)
{
	if (strstr(a->admin, UNKNOWN_NAME) || strstr(a->target, UNKNOWN_NAME) ||
	    (a->detail && strstr(a->detail, UNKNOWN_NAME)))
		(*(unsigned *)ctx)++;
	return 0;
}

/* ---- tests, in order ---- */

static void test_setup(void **state)
{
	struct mg_store *s = store();
	struct mg_store_actor by = {ADMIN_NAME, NULL};
	char hash[MG_ADMIN_HASH_SIZE];
	struct answer a;
	int64_t id;
	(void)state;
	assert_int_equal(mg_admin_password_hash(VICTIM_PW, &mg_argon2_production, hash), 0);
	assert_int_equal(
	    mg_store_admin_add(s, &by, VICTIM, hash, MG_ROLE_APPROVER, mg_now_us(), &id), 0);
	assert_int_equal(mg_admin_password_hash(LOCKED_PW, &mg_argon2_production, hash), 0);
	assert_int_equal(mg_store_admin_add(s, &by, LOCKED_NAME, hash, MG_ROLE_AUDITOR, mg_now_us(),
	                                    &g_locked_id),
	                 0);
	mg_store_close(&s);
	login_from(NULL, "127.0.0.1", ADMIN_NAME, ADMIN_PASSWORD, &a);
	assert_int_equal(a.status, 200);
	memcpy(g_tok, a.token, sizeof(g_tok));
	assert_int_equal(strlen(g_tok), MG_ADMIN_TOKEN_SIZE - 1);
}

struct flood {
	pthread_t t;
	atomic_uint *ok, *unauthorized, *too_many, *busy, *other;
	int64_t until_ms;
};

static void *attacker(void *arg)
{
	struct flood *f = arg;
	CURL *c = curl_easy_init();
	struct answer a;
	unsigned i = 0;
	char pw[64];
	while (c && mono_ms() < f->until_ms) {
		snprintf(pw, sizeof(pw), "guess number %u", i++);
		login_from(c, "127.0.0.2", VICTIM, pw, &a);
		atomic_fetch_add(a.status == 200   ? f->ok
		                 : a.status == 401 ? f->unauthorized
		                 : a.status == 429 ? f->too_many
		                 : a.status == 503 ? f->busy
		                                   : f->other,
		                 1);
	}
	curl_easy_cleanup(c);
	return NULL;
}

/* While 8 threads from 127.0.0.2 post wrong passwords, the real administrator's logins from
 * 127.0.0.1 all succeed, each within a few seconds; the flood is answered early (429) and gets
 * only a handful of password checks. */
static void test_flood_fairness(void **state)
{
	atomic_uint ok = 0, unauthorized = 0, too_many = 0, busy = 0, other = 0;
	struct flood f[ATTACKERS];
	unsigned real_ok = 0, real = 0;
	int64_t start = mono_ms(), worst = 0;
	(void)state;
	for (unsigned i = 0; i < ATTACKERS; i++) {
		f[i] = (struct flood){.ok = &ok,
		                      .unauthorized = &unauthorized,
		                      .too_many = &too_many,
		                      .busy = &busy,
		                      .other = &other,
		                      .until_ms = start + FLOOD_S * 1000};
		assert_int_equal(pthread_create(&f[i].t, NULL, attacker, &f[i]), 0);
	}
	usleep(300000); /* the flood is on */
	while (mono_ms() < start + (FLOOD_S - 1) * 1000) {
		struct answer a;
		int64_t t0 = mono_ms();
		login_from(NULL, "127.0.0.1", ADMIN_NAME, ADMIN_PASSWORD, &a);
		if (mono_ms() - t0 > worst)
			worst = mono_ms() - t0;
		real++;
		if (a.status == 200)
			real_ok++;
		else
			print_message("real login: %ld %s\n", a.status, a.error);
		usleep(200000);
	}
	for (unsigned i = 0; i < ATTACKERS; i++)
		pthread_join(f[i].t, NULL);
	print_message("flood: %u 401, %u 429, %u 503, %u other; real logins %u/%u, slowest %" PRId64
	              " ms\n",
	              atomic_load(&unauthorized), atomic_load(&too_many), atomic_load(&busy),
	              atomic_load(&other), real_ok, real, worst);
	assert_true(real >= 3);
	assert_int_equal(real_ok, real);
	assert_true(worst < 4000);
	assert_int_equal(atomic_load(&ok), 0);
	/* the flooding address got few password checks: 3 free, then 1, 2, 4 ... s apart */
	assert_true(atomic_load(&unauthorized) <= MG_LOGIN_ADDR_FREE + 4);
	assert_true(atomic_load(&too_many) > 0);
}

/* One attempt for name from a fresh source address, retried after its Retry-After while the
 * name is delayed (bounded); the 429 waits are counted in *delays. */
static void attempt(const char *name, const char *pw, unsigned *src, unsigned *delays,
                    struct answer *a)
{
	char addr[32];
	for (unsigned tries = 0; tries < 20; tries++) {
		snprintf(addr, sizeof(addr), "127.0.%u.%u", 10 + *src / 200, 1 + *src % 200);
		(*src)++;
		login_from(NULL, addr, name, pw, a);
		if (a->status != 429)
			return;
		(*delays)++;
		assert_true(a->retry_after >= 1 && a->retry_after <= MG_LOGIN_NAME_MAX_S);
		sleep(a->retry_after);
	}
	fail_msg("still delayed");
}

/* Lockout after MG_LOGIN_LOCK_FAILURES failures, the right password refused afterwards, and an
 * unknown name answering exactly the same at every step without leaving a row. */
static void test_lockout_and_unknown_names(void **state)
{
	enum { STEPS = MG_LOGIN_LOCK_FAILURES + 2 };
	struct answer k, u, ks[STEPS], us[STEPS];
	unsigned src = 0, dk = 0, du = 0, seen = 0, kd[STEPS], ud[STEPS];
	struct mg_store *s;
	char target[64];
	(void)state;
	/* the same steps for an account and for a name that does not exist: the same answers,
	 * and the same delays (429 + Retry-After) before the same steps */
	for (unsigned i = 0; i < STEPS; i++) {
		kd[i] = dk;
		attempt(LOCKED_NAME, "not the password", &src, &dk, &ks[i]);
		kd[i] = dk - kd[i];
	}
	for (unsigned i = 0; i < STEPS; i++) {
		ud[i] = du;
		attempt(UNKNOWN_NAME, "not the password", &src, &du, &us[i]);
		ud[i] = du - ud[i];
	}
	for (unsigned i = 0; i < STEPS; i++) {
		assert_int_equal(ks[i].status, us[i].status);
		assert_string_equal(ks[i].error, us[i].error);
		assert_int_equal(kd[i], ud[i]);
		assert_int_equal(ks[i].status, i < MG_LOGIN_LOCK_FAILURES ? 401 : 403);
	}
	k = ks[STEPS - 1];
	u = us[STEPS - 1];
	assert_non_null(strstr(k.error, "locked"));
	assert_string_equal(k.error, u.error);
	assert_true(dk > 0); /* delayed before the lock */
	/* the right password does not open a locked account */
	attempt(LOCKED_NAME, LOCKED_PW, &src, &dk, &k);
	assert_int_equal(k.status, 403);
	assert_non_null(strstr(k.error, "locked"));
	/* stored and recorded once, by the account, as an action and an event */
	s = store();
	assert_int_equal(mg_store_admin_locked(s, g_locked_id, NULL), 0);
	{
		struct mg_store_admin a;
		assert_int_equal(mg_store_admin_get(s, ADMIN_NAME, &a), 0);
		assert_int_equal(mg_store_admin_locked(s, a.id, NULL), -ENOENT);
	}
	assert_int_equal(mg_store_admin_actions_foreach(s, 0, 10000, name_seen, &seen), 0);
	{
		struct mg_store_event_filter ef = {.type = "admin.admin.lock"};
		uint64_t n = 0;
		assert_int_equal(mg_store_events_count(s, &ef, &n), 0);
		assert_int_equal(n, 1);
	}
	mg_store_close(&s);
	snprintf(target, sizeof(target), "admin:%" PRId64, g_locked_id);
	assert_int_equal(actions("admin.lock", target, LOCKED_NAME), 1);
	assert_int_equal(seen, 0); /* no row names the unknown name */
}

/* Unlock through the API: shown as locked, unlocked (recorded), then the password works. */
static void test_unlock_api(void **state)
{
	char path[96], target[64];
	json_t *a = NULL, *v;
	struct answer k;
	size_t i;
	bool seen = false;
	(void)state;
	assert_int_equal(admin_call("GET", "/v1/admin/admins", &a), 200);
	json_array_foreach(json_object_get(a, "admins"), i, v)
	{
		bool locked = json_is_true(json_object_get(v, "locked"));
		assert_true(json_is_boolean(json_object_get(v, "locked")));
		assert_int_equal(locked,
		                 json_integer_value(json_object_get(v, "id")) == g_locked_id);
		seen = seen || locked;
	}
	json_decref(a);
	assert_true(seen);
	snprintf(path, sizeof(path), "/v1/admin/admins/%" PRId64 "/unlock", g_locked_id);
	assert_int_equal(admin_call("POST", path, &a), 200);
	assert_false(json_is_true(json_object_get(a, "locked")));
	assert_string_equal(json_string_value(json_object_get(a, "name")), LOCKED_NAME);
	json_decref(a);
	assert_int_equal(admin_call("POST", path, &a), 409);
	json_decref(a);
	assert_int_equal(admin_call("POST", "/v1/admin/admins/999999/unlock", &a), 404);
	json_decref(a);
	snprintf(target, sizeof(target), "admin:%" PRId64, g_locked_id);
	assert_int_equal(actions("admin.unlock", target, ADMIN_NAME), 1);
	login_from(NULL, "127.0.3.1", LOCKED_NAME, LOCKED_PW, &k);
	assert_int_equal(k.status, 200);
}

/* Unlock with `mynaguard-collector admin unlock`, while `serve` runs: the serving collector
 * takes the store's word (its own memory of the failures is dropped). */
static void test_unlock_cli(void **state)
{
	char out[512];
	struct mg_store *s;
	struct mg_store_actor by = {LOCKED_NAME, "127.0.0.9"};
	struct answer k;
	unsigned src = 300, d = 0;
	(void)state;
	/* locked again by failures */
	for (unsigned i = 0; i < MG_LOGIN_LOCK_FAILURES; i++) {
		attempt(LOCKED_NAME, "wrong again", &src, &d, &k);
		assert_int_equal(k.status, 401);
	}
	attempt(LOCKED_NAME, LOCKED_PW, &src, &d, &k);
	assert_int_equal(k.status, 403);
	/* usage and unknown names */
	assert_int_equal(
	    run(out, sizeof(out), "admin", "unlock", "--data-dir", g_dir, "--db", g_db), 2);
	{
		const char *args[] = {"admin", "unlock", "--data-dir", g_dir, "--db",
		                      g_db,    "--name", "nobody",     NULL};
		assert_int_equal(runv(out, sizeof(out), args), 1);
	}
	{
		const char *args[] = {"admin", "unlock", "--data-dir", g_dir, "--db",
		                      g_db,    "--name", LOCKED_NAME,  NULL};
		assert_int_equal(runv(out, sizeof(out), args), 0);
		assert_non_null(strstr(out, LOCKED_NAME));
		assert_int_equal(actions("admin.unlock", NULL, NULL), 2);
		/* not locked any more: said so, exit 0 */
		assert_int_equal(runv(out, sizeof(out), args), 0);
		assert_int_equal(actions("admin.unlock", NULL, NULL), 2);
	}
	login_from(NULL, "127.0.4.1", LOCKED_NAME, LOCKED_PW, &k);
	assert_int_equal(k.status, 200);
	/* a lock written by another collector on the same database counts at once */
	s = store();
	assert_int_equal(mg_store_admin_lock(s, &by, g_locked_id, 10, mg_now_us()), 0);
	assert_int_equal(mg_store_admin_lock(s, &by, g_locked_id, 10, mg_now_us()), -EALREADY);
	mg_store_close(&s);
	login_from(NULL, "127.0.4.2", LOCKED_NAME, LOCKED_PW, &k);
	assert_int_equal(k.status, 403);
}

/*
 * The failures that lock an account are counted in the database: two collectors on one
 * database (here: the collector restarted, which forgets what it counted in memory) lock it
 * after MG_LOGIN_LOCK_FAILURES failures in all, not that many at each.
 */
static void test_failures_shared_across_collectors(void **state)
{
	struct mg_store *s = store();
	struct mg_store_actor by = {ADMIN_NAME, NULL};
	char hash[MG_ADMIN_HASH_SIZE];
	struct answer k;
	unsigned src = 600, d = 0;
	int64_t id;
	const unsigned first = MG_LOGIN_NAME_FREE - 1; /* no delays yet in the first collector */
	(void)state;
	assert_int_equal(mg_admin_password_hash(LOCKED_PW, &mg_argon2_production, hash), 0);
	assert_int_equal(
	    mg_store_admin_add(s, &by, "k.shared", hash, MG_ROLE_AUDITOR, mg_now_us(), &id), 0);
	mg_store_close(&s);
	for (unsigned i = 0; i < first; i++) {
		attempt("k.shared", "wrong", &src, &d, &k);
		assert_int_equal(k.status, 401);
	}
	assert_true(WIFEXITED(stop_server(SIGTERM)));
	start_server();
	for (unsigned i = first; i < MG_LOGIN_LOCK_FAILURES; i++) {
		attempt("k.shared", "wrong", &src, &d, &k);
		assert_int_equal(k.status, 401);
	}
	s = store();
	assert_int_equal(mg_store_admin_locked(s, id, NULL), 0);
	mg_store_close(&s);
	attempt("k.shared", LOCKED_PW, &src, &d, &k);
	assert_int_equal(k.status, 403);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_setup),
	    cmocka_unit_test(test_flood_fairness),
	    cmocka_unit_test(test_lockout_and_unknown_names),
	    cmocka_unit_test(test_unlock_api),
	    cmocka_unit_test(test_unlock_cli),
	    cmocka_unit_test(test_failures_shared_across_collectors),
	};
	curl_global_init(CURL_GLOBAL_DEFAULT);
	return api_main("test_admin_lockout", tests, sizeof(tests) / sizeof(tests[0]));
}
