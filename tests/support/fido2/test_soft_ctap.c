/*
 * libfido2's public API against the soft authenticators through the LD_PRELOAD shim (the
 * test runs with LD_PRELOAD=[libasan:]libmg_soft_fido2.so): enumeration, makeCredential
 * with packed self attestation, assertions and the signature counter, the touch knobs,
 * cancel and timeouts, clientPIN, persistence across processes, concurrent keys and
 * soft-fido2-ctl. Each test gets its own state file in a fresh directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fido.h>
#include <fido/eddsa.h>
#include <fido/es256.h>

#include "soft_state.h"

extern char **environ;

#define RP "mynaguard.test"

static const unsigned char enrol_cdh[32] = {0xe0, 0x01};
static const unsigned char login_cdh[32] = {0x10, 0x91};
static const unsigned char user_id[8] = {'u', 'i', 'd', '-', 'a', 'l', 'i', 'c'};

struct fx {
	char dir[256];
	char state[300];
};

struct enrolled {
	unsigned char id[128];
	size_t id_len;
	unsigned char pk[128];
	size_t pk_len;
	int type;
	uint8_t flags;
	uint32_t sigcount;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A fresh directory with a state file of n authenticators (PIN optional), exported. */
static int setup_n(void **state, size_t n, const char *pin)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s/mg-soft-fido2-XXXXXX", tmp != NULL ? tmp : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->state, sizeof(f->state), "%s/state.json", f->dir);
	struct soft_state *st = soft_state_new(n);
	assert_non_null(st);
	for (size_t i = 0; pin != NULL && i < n; i++)
		assert_int_equal(soft_ctap_set_pin(st->key[i].sc, pin), 0);
	assert_int_equal(soft_state_write(f->state, st), 0);
	soft_state_free(&st);
	assert_int_equal(setenv(SOFT_STATE_ENV, f->state, 1), 0);
	*state = f;
	return 0;
}

static int setup2(void **state)
{
	return setup_n(state, 2, NULL);
}

static int setup2_pin(void **state)
{
	return setup_n(state, 2, "1234");
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char p[320];
	static const char *const files[] = {"state.json", "state.json.lock", "show.out"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", f->dir, files[i]);
		unlink(p);
	}
	assert_int_equal(rmdir(f->dir), 0);
	free(f);
	return 0;
}

static fido_dev_t *open_dev(const char *path)
{
	fido_dev_t *d = fido_dev_new();
	assert_non_null(d);
	assert_int_equal(fido_dev_open(d, path), FIDO_OK);
	return d;
}

static void close_dev(fido_dev_t **d)
{
	assert_int_equal(fido_dev_close(*d), FIDO_OK);
	fido_dev_free(d);
}

static void knobs(const struct fx *f, const char *path, const struct soft_state_knobs *k)
{
	char err[256] = "";
	if (soft_state_set_knobs(f->state, path, k, err, sizeof(err)) != 0)
		fail_msg("set knobs: %s", err);
}

/* The state file as written by the authenticators. */
static struct soft_state *read_state(const struct fx *f)
{
	struct soft_state *st = NULL;
	char err[256] = "";
	if (soft_state_read(f->state, &st, err, sizeof(err)) != 0)
		fail_msg("read state: %s", err);
	return st;
}

static const struct soft_ctap *key_state(struct soft_state *st, const char *path)
{
	struct soft_state_key *k = soft_state_find(st, path);
	assert_non_null(k);
	return k->sc;
}

/* makeCredential on path; on success checks the packed self attestation and fills *e. */
static int enrol_on(fido_dev_t *dev, int type, const char *pin, bool rk, const unsigned char *uid,
                    size_t uid_len, struct enrolled *e)
{
	fido_cred_t *c = fido_cred_new();
	assert_non_null(c);
	assert_int_equal(fido_cred_set_type(c, type), FIDO_OK);
	assert_int_equal(fido_cred_set_clientdata_hash(c, enrol_cdh, sizeof(enrol_cdh)), FIDO_OK);
	assert_int_equal(fido_cred_set_rp(c, RP, "mynaguard tests"), FIDO_OK);
	assert_int_equal(fido_cred_set_user(c, uid, uid_len, "alice", "Alice", NULL), FIDO_OK);
	if (rk)
		assert_int_equal(fido_cred_set_rk(c, FIDO_OPT_TRUE), FIDO_OK);
	int r = fido_dev_make_cred(dev, c, pin);
	if (r == FIDO_OK) {
		assert_int_equal(fido_cred_verify_self(c), FIDO_OK);
		assert_string_equal(fido_cred_fmt(c), "packed");
		assert_null(fido_cred_x5c_ptr(c));
		assert_int_equal(fido_cred_type(c), type);
		assert_int_equal(fido_cred_aaguid_len(c), 16);
		assert_memory_equal(fido_cred_aaguid_ptr(c), "mynaguard soft\0\0", 16);
		e->id_len = fido_cred_id_len(c);
		e->pk_len = fido_cred_pubkey_len(c);
		assert_true(e->id_len > 0 && e->id_len <= sizeof(e->id));
		assert_true(e->pk_len > 0 && e->pk_len <= sizeof(e->pk));
		memcpy(e->id, fido_cred_id_ptr(c), e->id_len);
		memcpy(e->pk, fido_cred_pubkey_ptr(c), e->pk_len);
		e->type = type;
		e->flags = fido_cred_flags(c);
		e->sigcount = fido_cred_sigcount(c);
	}
	fido_cred_free(&c);
	return r;
}

static int enrol(const char *path, int type, const char *pin, struct enrolled *e)
{
	fido_dev_t *dev = open_dev(path);
	int r = enrol_on(dev, type, pin, false, user_id, sizeof(user_id), e);
	close_dev(&dev);
	return r;
}

static fido_assert_t *new_assert(const struct enrolled *allow, fido_opt_t uv)
{
	fido_assert_t *a = fido_assert_new();
	assert_non_null(a);
	assert_int_equal(fido_assert_set_rp(a, RP), FIDO_OK);
	assert_int_equal(fido_assert_set_clientdata_hash(a, login_cdh, sizeof(login_cdh)), FIDO_OK);
	assert_int_equal(fido_assert_set_up(a, FIDO_OPT_TRUE), FIDO_OK);
	assert_int_equal(fido_assert_set_uv(a, uv), FIDO_OK);
	if (allow != NULL)
		assert_int_equal(fido_assert_allow_cred(a, allow->id, allow->id_len), FIDO_OK);
	return a;
}

/* fido_assert_verify of statement idx with the enrolled public key. */
static int verify(const fido_assert_t *a, size_t idx, const struct enrolled *e)
{
	int r;
	if (e->type == COSE_EDDSA) {
		eddsa_pk_t *pk = eddsa_pk_new();
		assert_int_equal(eddsa_pk_from_ptr(pk, e->pk, e->pk_len), FIDO_OK);
		r = fido_assert_verify(a, idx, COSE_EDDSA, pk);
		eddsa_pk_free(&pk);
	} else {
		es256_pk_t *pk = es256_pk_new();
		assert_int_equal(es256_pk_from_ptr(pk, e->pk, e->pk_len), FIDO_OK);
		r = fido_assert_verify(a, idx, COSE_ES256, pk);
		es256_pk_free(&pk);
	}
	return r;
}

/* One assertion on path with e in the allow list; verified; returns the fido status. */
static int login(const char *path, const struct enrolled *e, const char *pin, fido_opt_t uv,
                 uint32_t *sigcount)
{
	fido_dev_t *dev = open_dev(path);
	fido_assert_t *a = new_assert(e, uv);
	int r = fido_dev_get_assert(dev, a, pin);
	if (r == FIDO_OK) {
		assert_int_equal(fido_assert_count(a), 1);
		assert_int_equal(verify(a, 0, e), FIDO_OK);
		assert_int_equal(fido_assert_id_len(a, 0), e->id_len);
		assert_memory_equal(fido_assert_id_ptr(a, 0), e->id, e->id_len);
		if (sigcount != NULL)
			*sigcount = fido_assert_sigcount(a, 0);
	}
	fido_assert_free(&a);
	close_dev(&dev);
	return r;
}

/* Runs argv (absolute path) to completion; stdout to out_path when given. Exit status. */
static int run(const char *const argv[], const char *out_path)
{
	posix_spawn_file_actions_t fa;
	char *v[16];
	pid_t pid;
	int status = 0;
	size_t n = 0;

	/* posix_spawn() takes char *const[] but does not write through it */
	for (; argv[n] != NULL; n++) {
		assert_true(n + 1 < sizeof(v) / sizeof(v[0]));
		v[n] = (char *)(uintptr_t)argv[n];
	}
	v[n] = NULL;
	assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
	if (out_path != NULL)
		assert_int_equal(posix_spawn_file_actions_addopen(
		                     &fa, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600),
		                 0);
	assert_int_equal(posix_spawn(&pid, v[0], &fa, NULL, v, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* ---- enumeration and getInfo ---- */

static void test_manifest(void **state)
{
	struct fx *f = *state;
	fido_dev_info_t *di = fido_dev_info_new(8);
	size_t n = 0;

	assert_non_null(di);
	assert_int_equal(fido_dev_info_manifest(di, 8, &n), FIDO_OK);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		const fido_dev_info_t *e = fido_dev_info_ptr(di, i);
		char want[32];
		snprintf(want, sizeof(want), "soft:%zu", i);
		assert_string_equal(fido_dev_info_path(e), want);
		assert_string_equal(fido_dev_info_manufacturer_string(e), "mynaguard");
		assert_string_equal(fido_dev_info_product_string(e), "soft-ctap");
		assert_int_equal(fido_dev_info_vendor(e), 0x1209);
		assert_int_equal(fido_dev_info_product(e), 0x0001);
	}

	/* fido_dev_new_with_info + fido_dev_open_with_info (TESTING.md §3's pitfall) */
	fido_dev_t *dev = fido_dev_new_with_info(fido_dev_info_ptr(di, 0));
	assert_non_null(dev);
	assert_int_equal(fido_dev_open_with_info(dev), FIDO_OK);
	assert_true(fido_dev_is_fido2(dev));
	close_dev(&dev);

	/* only one entry fits */
	assert_int_equal(fido_dev_info_manifest(di, 1, &n), FIDO_OK);
	assert_int_equal(n, 1);
	fido_dev_info_free(&di, 8);

	/* an absent key is neither listed nor openable */
	struct soft_state_knobs k = SOFT_STATE_KNOBS_INIT;
	k.present = 0;
	knobs(f, "soft:1", &k);
	di = fido_dev_info_new(8);
	assert_int_equal(fido_dev_info_manifest(di, 8, &n), FIDO_OK);
	assert_int_equal(n, 1);
	assert_string_equal(fido_dev_info_path(fido_dev_info_ptr(di, 0)), "soft:0");
	fido_dev_info_free(&di, 8);
	dev = fido_dev_new();
	assert_int_not_equal(fido_dev_open(dev, "soft:1"), FIDO_OK);
	assert_int_not_equal(fido_dev_open(dev, "soft:7"), FIDO_OK);
	fido_dev_free(&dev);
}

static bool has_string(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

static void test_info(void **state)
{
	struct fx *f = *state;
	fido_dev_t *dev = open_dev("soft:0");
	fido_cbor_info_t *ci = fido_cbor_info_new();

	assert_true(fido_dev_is_fido2(dev));
	assert_false(fido_dev_has_pin(dev));
	assert_true(fido_dev_supports_pin(dev));
	assert_false(fido_dev_has_uv(dev));
	assert_false(fido_dev_supports_uv(dev));
	assert_true(fido_dev_supports_permissions(dev));
	assert_int_equal(fido_dev_get_cbor_info(dev, ci), FIDO_OK);
	assert_true(has_string(fido_cbor_info_versions_ptr(ci), fido_cbor_info_versions_len(ci),
	                       "FIDO_2_0"));
	assert_true(has_string(fido_cbor_info_versions_ptr(ci), fido_cbor_info_versions_len(ci),
	                       "FIDO_2_1"));
	assert_int_equal(fido_cbor_info_protocols_len(ci), 2);
	assert_int_equal(fido_cbor_info_protocols_ptr(ci)[0], 2);
	assert_int_equal(fido_cbor_info_protocols_ptr(ci)[1], 1);
	assert_int_equal(fido_cbor_info_maxcredidlen(ci), 128);
	assert_int_equal(fido_cbor_info_algorithm_count(ci), 2);
	assert_int_equal(fido_cbor_info_algorithm_cose(ci, 0), COSE_ES256);
	assert_int_equal(fido_cbor_info_algorithm_cose(ci, 1), COSE_EDDSA);
	assert_memory_equal(fido_cbor_info_aaguid_ptr(ci), "mynaguard soft\0\0", 16);
	bool plat = true;
	char **names = fido_cbor_info_options_name_ptr(ci);
	for (size_t i = 0; i < fido_cbor_info_options_len(ci); i++)
		if (strcmp(names[i], "plat") == 0)
			plat = fido_cbor_info_options_value_ptr(ci)[i];
	assert_false(plat);
	fido_cbor_info_free(&ci);
	close_dev(&dev);

	/* a PIN set through the state file shows on the next open */
	struct soft_state_knobs k = SOFT_STATE_KNOBS_INIT;
	k.pin = "246810";
	knobs(f, "soft:0", &k);
	dev = open_dev("soft:0");
	assert_true(fido_dev_has_pin(dev));
	close_dev(&dev);
	dev = open_dev("soft:1");
	assert_false(fido_dev_has_pin(dev));
	close_dev(&dev);
}

/* ---- credentials and assertions ---- */

static void test_make_cred_es256(void **state)
{
	struct fx *f = *state;
	struct enrolled e;

	assert_int_equal(enrol("soft:0", COSE_ES256, NULL, &e), FIDO_OK);
	assert_int_equal(e.id_len, SOFT_CTAP_CRED_ID_LEN);
	assert_int_equal(e.flags, 0x41); /* UP | AT */
	assert_int_equal(e.sigcount, 1);

	struct soft_state *st = read_state(f);
	const struct soft_ctap *k0 = key_state(st, "soft:0");
	assert_int_equal(soft_ctap_cred_count(k0), 1);
	const struct soft_ctap_cred *c = soft_ctap_cred_at(k0, 0);
	assert_string_equal(c->rp_id, RP);
	assert_int_equal(c->alg, SOFT_CTAP_COSE_ES256);
	assert_false(c->discoverable);
	assert_memory_equal(c->id, e.id, e.id_len);
	assert_memory_equal(c->user_id, user_id, sizeof(user_id));
	assert_string_equal(c->user_name, "alice");
	assert_int_equal(soft_ctap_counter(k0), 1);
	assert_int_equal(soft_ctap_cred_count(key_state(st, "soft:1")), 0);
	soft_state_free(&st);
}

static void test_eddsa(void **state)
{
	struct enrolled e;
	uint32_t n = 0;
	(void)state;
	assert_int_equal(enrol("soft:1", COSE_EDDSA, NULL, &e), FIDO_OK);
	assert_int_equal(login("soft:1", &e, NULL, FIDO_OPT_OMIT, &n), FIDO_OK);
	assert_int_equal(n, 2);
}

static void test_assert_counter(void **state)
{
	struct fx *f = *state;
	struct enrolled e;
	uint32_t s1 = 0, s2 = 0;

	assert_int_equal(enrol("soft:0", COSE_ES256, NULL, &e), FIDO_OK);
	assert_int_equal(login("soft:0", &e, NULL, FIDO_OPT_OMIT, &s1), FIDO_OK);
	assert_int_equal(login("soft:0", &e, NULL, FIDO_OPT_OMIT, &s2), FIDO_OK);
	assert_int_equal(s1, 2);
	assert_int_equal(s2, s1 + 1);

	/* the signature covers the client data hash: another hash does not verify */
	fido_dev_t *dev = open_dev("soft:0");
	fido_assert_t *a = new_assert(&e, FIDO_OPT_OMIT);
	assert_int_equal(fido_dev_get_assert(dev, a, NULL), FIDO_OK);
	fido_assert_t *b = fido_assert_new();
	static const unsigned char other[32] = {0x66};
	assert_int_equal(fido_assert_set_rp(b, RP), FIDO_OK);
	assert_int_equal(fido_assert_set_clientdata_hash(b, other, sizeof(other)), FIDO_OK);
	assert_int_equal(fido_assert_set_count(b, 1), FIDO_OK);
	assert_int_equal(fido_assert_set_authdata(b, 0, fido_assert_authdata_ptr(a, 0),
	                                          fido_assert_authdata_len(a, 0)),
	                 FIDO_OK);
	assert_int_equal(
	    fido_assert_set_sig(b, 0, fido_assert_sig_ptr(a, 0), fido_assert_sig_len(a, 0)),
	    FIDO_OK);
	assert_int_equal(verify(a, 0, &e), FIDO_OK);
	assert_int_equal(verify(b, 0, &e), FIDO_ERR_INVALID_SIG);
	assert_int_equal(fido_assert_flags(a, 0), 0x01); /* UP, no UV */
	fido_assert_free(&b);
	fido_assert_free(&a);
	close_dev(&dev);

	struct soft_state *st = read_state(f);
	assert_int_equal(soft_ctap_counter(key_state(st, "soft:0")), 4);
	soft_state_free(&st);
}

static void test_counter_override(void **state)
{
	struct fx *f = *state;
	struct enrolled e;
	uint32_t s = 0;
	const char *ctl = getenv("MG_SOFT_FIDO2_CTL");

	assert_non_null(ctl);
	assert_int_equal(enrol("soft:0", COSE_ES256, NULL, &e), FIDO_OK);
	assert_int_equal(login("soft:0", &e, NULL, FIDO_OPT_OMIT, &s), FIDO_OK);
	assert_int_equal(s, 2);

	/* a cloned key: the counter goes back (set by the command-line tool) */
	const char *argv[] = {ctl, "set", f->state, "--key", "0", "--counter", "0", NULL};
	assert_int_equal(run(argv, NULL), 0);
	assert_int_equal(login("soft:0", &e, NULL, FIDO_OPT_OMIT, &s), FIDO_OK);
	assert_int_equal(s, 1);
}

static void test_no_touch(void **state)
{
	struct fx *f = *state;
	struct enrolled e;
	struct soft_state_knobs k = SOFT_STATE_KNOBS_INIT;

	assert_int_equal(enrol("soft:0", COSE_ES256, NULL, &e), FIDO_OK);
	fido_dev_t *open_before = open_dev("soft:0");
	k.touch = SOFT_CTAP_TOUCH_NO;
	k.touch_delay_ms = 20;
	knobs(f, "soft:0", &k);

	/* knobs are read on open; the save after this assertion keeps the file's knobs */
	fido_assert_t *a = new_assert(&e, FIDO_OPT_OMIT);
	assert_int_equal(fido_dev_get_assert(open_before, a, NULL), FIDO_OK);
	fido_assert_free(&a);
	close_dev(&open_before);

	assert_int_equal(login("soft:0", &e, NULL, FIDO_OPT_OMIT, NULL), FIDO_ERR_OPERATION_DENIED);
	struct enrolled e2;
	assert_int_equal(enrol("soft:0", COSE_ES256, NULL, &e2), FIDO_ERR_OPERATION_DENIED);

	struct soft_state *st = read_state(f);
	assert_int_equal(soft_ctap_counter(key_state(st, "soft:0")), 2);
	assert_int_equal(soft_ctap_cred_count(key_state(st, "soft:0")), 1);
	assert_int_equal(soft_ctap_touch(key_state(st, "soft:0")), SOFT_CTAP_TOUCH_NO);
	soft_state_free(&st);
}

struct async_assert {
	fido_dev_t *dev;
	fido_assert_t *a;
	int result;
	bool done;
	pthread_mutex_t mu;
	pthread_cond_t cond;
};

static void *assert_thread(void *arg)
{
	struct async_assert *x = arg;
	int r = fido_dev_get_assert(x->dev, x->a, NULL);
	pthread_mutex_lock(&x->mu);
	x->result = r;
	x->done = true;
	pthread_cond_signal(&x->cond);
	pthread_mutex_unlock(&x->mu);
	return NULL;
}

static void test_timeout_cancel(void **state)
{
	struct fx *f = *state;
	struct enrolled e;
	struct soft_state_knobs k = SOFT_STATE_KNOBS_INIT;
	struct async_assert x = {.done = false};
	pthread_condattr_t ca;
	pthread_t t;

	assert_int_equal(enrol("soft:0", COSE_ES256, NULL, &e), FIDO_OK);
	k.touch = SOFT_CTAP_TOUCH_TIMEOUT;
	knobs(f, "soft:0", &k);

	x.dev = open_dev("soft:0");
	x.a = new_assert(&e, FIDO_OPT_OMIT);
	pthread_mutex_init(&x.mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&x.cond, &ca);
	pthread_condattr_destroy(&ca);
	const uint64_t t0 = mono_ms();
	assert_int_equal(pthread_create(&t, NULL, assert_thread, &x), 0);

	/*
	 * The authenticator keeps sending KEEPALIVE. Cancel from this thread; a CANCEL that
	 * arrives before the request is ignored, so repeat until the assertion returns.
	 */
	pthread_mutex_lock(&x.mu);
	while (!x.done && mono_ms() - t0 < 10000) {
		pthread_mutex_unlock(&x.mu);
		assert_int_equal(fido_dev_cancel(x.dev), FIDO_OK);
		pthread_mutex_lock(&x.mu);
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += 50 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		if (!x.done)
			pthread_cond_timedwait(&x.cond, &x.mu, &ts);
	}
	const bool done = x.done;
	pthread_mutex_unlock(&x.mu);
	if (!done)
		fail_msg("the assertion did not end within 10 s of fido_dev_cancel");
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(x.result, FIDO_ERR_KEEPALIVE_CANCEL);
	assert_true(mono_ms() - t0 < 5000);

	/* the key is usable again at once */
	fido_cbor_info_t *ci = fido_cbor_info_new();
	assert_int_equal(fido_dev_get_cbor_info(x.dev, ci), FIDO_OK);
	fido_cbor_info_free(&ci);
	fido_assert_free(&x.a);
	close_dev(&x.dev);
	pthread_cond_destroy(&x.cond);
	pthread_mutex_destroy(&x.mu);

	struct soft_state *st = read_state(f);
	assert_int_equal(soft_ctap_counter(key_state(st, "soft:0")), 1);
	soft_state_free(&st);
}

static void test_timeout_ms(void **state)
{
	struct fx *f = *state;
	struct enrolled e;
	struct soft_state_knobs k = SOFT_STATE_KNOBS_INIT;

	assert_int_equal(enrol("soft:0", COSE_ES256, NULL, &e), FIDO_OK);
	k.touch = SOFT_CTAP_TOUCH_TIMEOUT;
	knobs(f, "soft:0", &k);

	/* libfido2's own timeout: the read gives up while KEEPALIVEs keep coming */
	fido_dev_t *dev = open_dev("soft:0");
	assert_int_equal(fido_dev_set_timeout(dev, 300), FIDO_OK);
	fido_assert_t *a = new_assert(&e, FIDO_OPT_OMIT);
	const uint64_t t0 = mono_ms();
	assert_int_equal(fido_dev_get_assert(dev, a, NULL), FIDO_ERR_RX);
	const uint64_t took = mono_ms() - t0;
	assert_true(took >= 250 && took < 3000);

	/*
	 * The abandoned command is still pending (KEEPALIVEs): cancel it. Its answer,
	 * KEEPALIVE_CANCEL, now waits in the input queue as with hidraw, so reopen.
	 */
	assert_int_equal(fido_dev_cancel(dev), FIDO_OK);
	close_dev(&dev);
	dev = open_dev("soft:0");
	fido_cbor_info_t *ci = fido_cbor_info_new();
	assert_int_equal(fido_dev_get_cbor_info(dev, ci), FIDO_OK);
	fido_cbor_info_free(&ci);

	/* touch-to-select: no touch within 200 ms, then cancel */
	int touched = -1;
	assert_int_equal(fido_dev_get_touch_begin(dev), FIDO_OK);
	assert_int_equal(fido_dev_get_touch_status(dev, &touched, 200), FIDO_OK);
	assert_int_equal(touched, 0);
	assert_int_equal(fido_dev_cancel(dev), FIDO_OK);
	fido_assert_free(&a);
	close_dev(&dev);
}

/* ---- PIN ---- */

static void test_pin_uv(void **state)
{
	struct enrolled e;
	uint32_t n = 0;
	(void)state;

	assert_int_equal(enrol("soft:0", COSE_ES256, "1234", &e), FIDO_OK);
	assert_int_equal(e.flags, 0x45); /* UP | UV | AT */

	fido_dev_t *dev = open_dev("soft:0");
	assert_true(fido_dev_has_pin(dev));
	fido_assert_t *a = new_assert(&e, FIDO_OPT_TRUE);
	assert_int_equal(fido_dev_get_assert(dev, a, "1234"), FIDO_OK);
	assert_int_equal(fido_assert_flags(a, 0), 0x05); /* UP | UV */
	assert_int_equal(verify(a, 0, &e), FIDO_OK);     /* checks UV, as set in new_assert */
	fido_assert_free(&a);

	/* without the PIN: no UV flag, and a verifier that requires UV refuses */
	a = new_assert(&e, FIDO_OPT_OMIT);
	assert_int_equal(fido_dev_get_assert(dev, a, NULL), FIDO_OK);
	assert_int_equal(fido_assert_flags(a, 0), 0x01);
	assert_int_equal(fido_assert_set_uv(a, FIDO_OPT_TRUE), FIDO_OK);
	assert_int_not_equal(verify(a, 0, &e), FIDO_OK);
	fido_assert_free(&a);
	close_dev(&dev);

	assert_int_equal(login("soft:0", &e, "1234", FIDO_OPT_TRUE, &n), FIDO_OK);
	assert_int_equal(n, 4);
}

static int pin_retries(const char *path)
{
	int n = -1;
	fido_dev_t *dev = open_dev(path);
	assert_int_equal(fido_dev_get_retry_count(dev, &n), FIDO_OK);
	close_dev(&dev);
	return n;
}

static void test_pin_wrong(void **state)
{
	struct fx *f = *state;
	struct enrolled e;

	assert_int_equal(enrol("soft:0", COSE_ES256, "1234", &e), FIDO_OK);
	assert_int_equal(pin_retries("soft:0"), 8);
	assert_int_equal(login("soft:0", &e, "9999", FIDO_OPT_TRUE, NULL), FIDO_ERR_PIN_INVALID);
	assert_int_equal(pin_retries("soft:0"), 7);
	assert_int_equal(login("soft:0", &e, "0000", FIDO_OPT_TRUE, NULL), FIDO_ERR_PIN_INVALID);
	assert_int_equal(pin_retries("soft:0"), 6);
	struct soft_state *st = read_state(f);
	assert_int_equal(soft_ctap_pin_retries(key_state(st, "soft:0")), 6);
	soft_state_free(&st);
	assert_int_equal(login("soft:0", &e, "1234", FIDO_OPT_TRUE, NULL), FIDO_OK);
	assert_int_equal(pin_retries("soft:0"), 8);

	/* the last retry: blocked, even for the right PIN */
	struct soft_state_knobs k = SOFT_STATE_KNOBS_INIT;
	k.pin_retries = 1;
	knobs(f, "soft:0", &k);
	assert_int_equal(login("soft:0", &e, "9999", FIDO_OPT_TRUE, NULL), FIDO_ERR_PIN_BLOCKED);
	assert_int_equal(login("soft:0", &e, "1234", FIDO_OPT_TRUE, NULL), FIDO_ERR_PIN_BLOCKED);
	assert_int_equal(pin_retries("soft:0"), 0);
	/* a key without a PIN */
	k = (struct soft_state_knobs)SOFT_STATE_KNOBS_INIT;
	k.clear_pin = true;
	knobs(f, "soft:1", &k);
	assert_int_equal(login("soft:1", &e, "1234", FIDO_OPT_TRUE, NULL), FIDO_ERR_PIN_NOT_SET);
}

static void test_pin_required(void **state)
{
	struct enrolled e;
	(void)state;
	assert_int_equal(enrol("soft:0", COSE_ES256, "1234", &e), FIDO_OK);
	assert_int_equal(login("soft:0", &e, NULL, FIDO_OPT_TRUE, NULL), FIDO_ERR_PIN_REQUIRED);
	/* a discoverable credential needs the PIN once one is set */
	struct enrolled r;
	fido_dev_t *dev = open_dev("soft:0");
	assert_int_equal(enrol_on(dev, COSE_ES256, NULL, true, user_id, sizeof(user_id), &r),
	                 FIDO_ERR_PIN_REQUIRED);
	close_dev(&dev);
}

static void test_set_pin(void **state)
{
	struct fx *f = *state;
	fido_dev_t *dev = open_dev("soft:1");

	assert_int_equal(fido_dev_set_pin(dev, "4321", NULL), FIDO_OK);
	assert_int_equal(fido_dev_set_pin(dev, "5678", "0000"), FIDO_ERR_PIN_INVALID);
	assert_int_equal(fido_dev_set_pin(dev, "5678", "4321"), FIDO_OK);
	assert_int_equal(fido_dev_set_pin(dev, "12", "5678"), FIDO_ERR_PIN_POLICY_VIOLATION);
	close_dev(&dev);
	struct soft_state *st = read_state(f);
	assert_string_equal(soft_ctap_pin(key_state(st, "soft:1")), "5678");
	assert_null(soft_ctap_pin(key_state(st, "soft:0")));
	soft_state_free(&st);
}

static void test_no_credentials(void **state)
{
	struct enrolled e;
	(void)state;
	assert_int_equal(enrol("soft:0", COSE_ES256, NULL, &e), FIDO_OK);
	assert_int_equal(login("soft:1", &e, NULL, FIDO_OPT_OMIT, NULL), FIDO_ERR_NO_CREDENTIALS);
	e.id[0] ^= 1;
	assert_int_equal(login("soft:0", &e, NULL, FIDO_OPT_OMIT, NULL), FIDO_ERR_NO_CREDENTIALS);
}

static void test_resident(void **state)
{
	struct enrolled e1, e2;
	static const unsigned char bob[3] = {'b', 'o', 'b'};
	(void)state;

	fido_dev_t *dev = open_dev("soft:0");
	assert_int_equal(enrol_on(dev, COSE_ES256, NULL, true, user_id, sizeof(user_id), &e1),
	                 FIDO_OK);
	assert_int_equal(enrol_on(dev, COSE_EDDSA, NULL, true, bob, sizeof(bob), &e2), FIDO_OK);
	fido_assert_t *a = new_assert(NULL, FIDO_OPT_OMIT);
	assert_int_equal(fido_dev_get_assert(dev, a, NULL), FIDO_OK);
	assert_int_equal(fido_assert_count(a), 2);
	/* most recently created first */
	assert_int_equal(fido_assert_user_id_len(a, 0), sizeof(bob));
	assert_memory_equal(fido_assert_user_id_ptr(a, 0), bob, sizeof(bob));
	assert_int_equal(verify(a, 0, &e2), FIDO_OK);
	assert_int_equal(fido_assert_user_id_len(a, 1), sizeof(user_id));
	assert_int_equal(verify(a, 1, &e1), FIDO_OK);
	fido_assert_free(&a);

	/* touch-to-select */
	int touched = 0;
	assert_int_equal(fido_dev_get_touch_begin(dev), FIDO_OK);
	assert_int_equal(fido_dev_get_touch_status(dev, &touched, 5000), FIDO_OK);
	assert_int_equal(touched, 1);
	close_dev(&dev);
}

/* ---- processes, threads, the tool ---- */

static int child_assert(int argc, char **argv)
{
	/* argv: --child-assert STATE ID_B64URL PUBKEY_B64URL */
	struct enrolled e = {.type = COSE_ES256};
	uint32_t n = 0;
	if (argc != 5 || setenv(SOFT_STATE_ENV, argv[2], 1) != 0 ||
	    soft_b64url_decode(argv[3], e.id, sizeof(e.id), &e.id_len) != 0 ||
	    soft_b64url_decode(argv[4], e.pk, sizeof(e.pk), &e.pk_len) != 0)
		return 2;
	fido_dev_t *dev = fido_dev_new();
	fido_assert_t *a = new_assert(&e, FIDO_OPT_OMIT);
	int r = fido_dev_open(dev, "soft:0");
	if (r == FIDO_OK && (r = fido_dev_get_assert(dev, a, NULL)) == FIDO_OK &&
	    (r = verify(a, 0, &e)) == FIDO_OK)
		n = fido_assert_sigcount(a, 0);
	fido_dev_close(dev);
	fido_dev_free(&dev);
	fido_assert_free(&a);
	if (r != FIDO_OK) {
		fprintf(stderr, "child: %s\n", fido_strerr(r));
		return 1;
	}
	return n == 2 ? 0 : 3;
}

static void test_cross_process(void **state)
{
	struct fx *f = *state;
	struct enrolled e;
	char self[4096];

	assert_int_equal(enrol("soft:0", COSE_ES256, NULL, &e), FIDO_OK);
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(len > 0);
	self[len] = '\0';
	char *id = soft_b64url_encode(e.id, e.id_len);
	char *pk = soft_b64url_encode(e.pk, e.pk_len);
	const char *argv[] = {self, "--child-assert", f->state, id, pk, NULL};
	assert_int_equal(run(argv, NULL), 0);
	free(id);
	free(pk);

	/* the child's signature advanced the counter in the file; we continue from there */
	struct soft_state *st = read_state(f);
	assert_int_equal(soft_ctap_counter(key_state(st, "soft:0")), 2);
	soft_state_free(&st);
	uint32_t n = 0;
	assert_int_equal(login("soft:0", &e, NULL, FIDO_OPT_OMIT, &n), FIDO_OK);
	assert_int_equal(n, 3);
}

struct worker {
	const char *path;
	struct enrolled e;
	int failures;
	pthread_t t;
};

static void *login_loop(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < 8; i++) {
		fido_dev_t *dev = fido_dev_new();
		fido_assert_t *a = fido_assert_new();
		if (dev == NULL || a == NULL || fido_dev_open(dev, w->path) != FIDO_OK ||
		    fido_assert_set_rp(a, RP) != FIDO_OK ||
		    fido_assert_set_clientdata_hash(a, login_cdh, sizeof(login_cdh)) != FIDO_OK ||
		    fido_assert_allow_cred(a, w->e.id, w->e.id_len) != FIDO_OK ||
		    fido_dev_get_assert(dev, a, NULL) != FIDO_OK ||
		    verify(a, 0, &w->e) != FIDO_OK || fido_assert_sigcount(a, 0) != (uint32_t)i + 2)
			w->failures++;
		fido_dev_close(dev);
		fido_dev_free(&dev);
		fido_assert_free(&a);
	}
	return NULL;
}

static void test_concurrent_keys(void **state)
{
	struct fx *f = *state;
	struct worker w[2] = {{.path = "soft:0"}, {.path = "soft:1"}};

	for (size_t i = 0; i < 2; i++)
		assert_int_equal(enrol(w[i].path, COSE_ES256, NULL, &w[i].e), FIDO_OK);
	for (size_t i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&w[i].t, NULL, login_loop, &w[i]), 0);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(w[i].t, NULL), 0);
		assert_int_equal(w[i].failures, 0);
	}
	/* both authenticators' writes survived: no lost update in the shared file */
	struct soft_state *st = read_state(f);
	assert_int_equal(soft_ctap_counter(key_state(st, "soft:0")), 9);
	assert_int_equal(soft_ctap_counter(key_state(st, "soft:1")), 9);
	assert_int_equal(soft_ctap_cred_count(key_state(st, "soft:1")), 1);
	soft_state_free(&st);
}

static char *slurp(const char *path)
{
	static char buf[8192];
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static void test_ctl(void **state)
{
	struct fx *f = *state;
	const char *ctl = getenv("MG_SOFT_FIDO2_CTL");
	char out[320];

	assert_non_null(ctl);
	snprintf(out, sizeof(out), "%s/show.out", f->dir);
	const char *init[] = {ctl, "init", f->state, "--keys", "3", "--pin", "1234", NULL};
	assert_int_equal(run(init, NULL), 0);
	const char *set[] = {ctl,         "set",       f->state,  "--key", "2",
	                     "--present", "no",        "--touch", "no",    "--counter",
	                     "42",        "--retries", "3",       NULL};
	assert_int_equal(run(set, NULL), 0);
	const char *show[] = {ctl, "show", f->state, NULL};
	assert_int_equal(run(show, out), 0);
	const char *text = slurp(out);
	assert_non_null(strstr(text, "soft:0 present=yes"));
	assert_non_null(strstr(text, "pin=set retries=8 counter=0 touch=yes"));
	assert_non_null(strstr(text, "soft:2 present=no"));
	assert_non_null(strstr(text, "pin=set retries=3 counter=42 touch=no"));

	struct soft_state *st = read_state(f);
	assert_int_equal(st->n, 3);
	assert_false(soft_state_find(st, "soft:2")->present);
	assert_string_equal(soft_ctap_pin(key_state(st, "soft:1")), "1234");
	soft_state_free(&st);

	/* usage errors and unknown keys */
	const char *bad[] = {ctl, "set", f->state, "--key", "2", "--touch", "maybe", NULL};
	assert_int_equal(run(bad, NULL), 2);
	const char *nokey[] = {ctl, "set", f->state, "--key", "9", "--touch", "yes", NULL};
	assert_int_equal(run(nokey, NULL), 1);
}

static void test_state_strict(void **state)
{
	struct fx *f = *state;
	struct soft_state *st = NULL;
	char err[256] = "";
	static const char bad[] =
	    "{\"version\": 1, \"authenticators\": [{\"path\": \"soft:0\", \"tuoch\": \"no\"}]}";

	assert_int_equal(soft_state_parse(bad, strlen(bad), &st, err, sizeof(err)), -EINVAL);
	assert_null(st);
	assert_non_null(strstr(err, "authenticators[0]: unknown member \"tuoch\""));
	static const char dup[] = "{\"version\": 1, \"authenticators\": [{\"path\": \"soft:0\"}, "
	                          "{\"path\": \"soft:0\"}]}";
	assert_int_equal(soft_state_parse(dup, strlen(dup), &st, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "duplicate path"));

	/* a broken state file makes enumeration fail loudly; no variable: libfido2's own */
	FILE *fp = fopen(f->state, "w");
	assert_non_null(fp);
	fputs(bad, fp);
	fclose(fp);
	fido_dev_info_t *di = fido_dev_info_new(4);
	size_t n = 99;
	assert_int_equal(fido_dev_info_manifest(di, 4, &n), FIDO_ERR_INTERNAL);
	assert_int_equal(n, 0);
	assert_int_equal(unsetenv(SOFT_STATE_ENV), 0);
	assert_int_equal(fido_dev_info_manifest(di, 4, &n), FIDO_OK);
	fido_dev_info_free(&di, 4);
	fido_dev_t *dev = fido_dev_new();
	assert_int_not_equal(fido_dev_open(dev, "soft:0"), FIDO_OK);
	fido_dev_free(&dev);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--child-assert") == 0)
		return child_assert(argc, argv);
	if (getenv("LD_PRELOAD") == NULL || strstr(getenv("LD_PRELOAD"), "mg_soft_fido2") == NULL) {
		fprintf(stderr, "run with LD_PRELOAD=[libasan.so:]libmg_soft_fido2.so\n");
		return 1;
	}
	fido_init(0);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_manifest, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_info, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_make_cred_es256, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_eddsa, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_assert_counter, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_counter_override, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_no_touch, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout_cancel, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout_ms, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_pin_uv, setup2_pin, teardown),
	    cmocka_unit_test_setup_teardown(test_pin_wrong, setup2_pin, teardown),
	    cmocka_unit_test_setup_teardown(test_pin_required, setup2_pin, teardown),
	    cmocka_unit_test_setup_teardown(test_set_pin, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_no_credentials, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_resident, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_cross_process, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_keys, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_ctl, setup2, teardown),
	    cmocka_unit_test_setup_teardown(test_state_strict, setup2, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
