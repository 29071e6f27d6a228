/*
 * User enumeration (issue 13, finding 6): known and unknown user names must look the same.
 * A known user is locked after deny_after failures and then refused without a prompt; an
 * unknown name must be too (its failures are counted in one bounded table keyed by a keyed
 * hash of the name, never in a file per name). And one attempt must take about as long for
 * either: medians of many interleaved attempts of the module's own work (mg_authflow_run,
 * without libpam's start-up around it), compared with a generous factor.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <security/pam_appl.h>

#include "authflow.h"
#include "pam_conf.h"
#include "pam_harness.h"
#include "unknownstate.h"

static int setup(void **state)
{
	struct harness *h = calloc(1, sizeof(*h));
	h_new(h, "factors = totp\ndeny_after = 3\nunlock_after = 600\n");
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	struct harness *h = *state;
	h_free(h);
	free(h);
	return 0;
}

static int attempt(struct harness *h, const char *user, const char *answer, struct h_conv *c)
{
	memset(c, 0, sizeof(*c));
	c->answers[0] = answer;
	c->nanswers = 1;
	return h_auth(h, user, c);
}

/* Number of entries in the state directory (no file per attacker-chosen name). */
static int state_entries(const struct harness *h)
{
	int n = 0;
	DIR *d = opendir(h->state);
	assert_non_null(d);
	for (struct dirent *e; (e = readdir(d));)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
		    strcmp(e->d_name, "events.pending") != 0)
			n++;
	closedir(d);
	return n;
}

/*
 * deny_after = 3: three wrong codes, then the fourth attempt. A known user with TOTP (alice),
 * a known user without it (bob), an unknown name (mallory) and an invalid one must all get
 * the same: a prompt and "wrong" for the three, then no prompt and "locked".
 */
static void locked_alike_after_failures(void **state)
{
	struct harness *h = *state;
	static const char *const users[] = {"alice", "bob", "mallory", "Mallory!"};
	struct h_conv ref[4], c;
	char ev[4096];
	h_totp_enroll(h, "alice", MG_TOTP_SHA1, 6, 30, NULL);
	for (size_t u = 0; u < 4; u++) {
		h_events_clear(h);
		for (int i = 0; i < 3; i++) {
			assert_int_equal(attempt(h, users[u], "000000", &c), PAM_AUTH_ERR);
			assert_int_equal(c.nprompts, 1);
			h_conv_free(&c);
		}
		print_message("%s: %d lockout events\n", users[u],
		              h_events(h, "auth.lockout", ev, sizeof(ev)));
		assert_int_equal(h_events(h, "auth.lockout", ev, sizeof(ev)), 1);
		assert_int_equal(attempt(h, users[u], "000000", &ref[u]), PAM_AUTH_ERR);
		assert_int_equal(h_events(h, "auth.failure", ev, sizeof(ev)), 4);
		assert_non_null(strstr(ev, "\"reason\":\"locked\""));
	}
	for (size_t u = 1; u < 4; u++) {
		print_message("%s: %zu prompts, %zu errors\n", users[u], ref[u].nprompts,
		              ref[u].nerrors);
		assert_int_equal(ref[u].nprompts, ref[0].nprompts);
		assert_int_equal(ref[u].nerrors, ref[0].nerrors);
		assert_string_equal(ref[u].errors[0], ref[0].errors[0]);
		assert_int_equal(ref[u].ninfos, ref[0].ninfos);
	}
	assert_int_equal(ref[0].nprompts, 0);
	for (size_t u = 0; u < 4; u++)
		h_conv_free(&ref[u]);
	/* Other unknown names are not locked by it (nor is a known user). */
	assert_int_equal(attempt(h, "trudy", "000000", &c), PAM_AUTH_ERR);
	assert_int_equal(c.nprompts, 1);
	h_conv_free(&c);
	/* No file per name: alice's and bob's state and lock, the table and its lock. */
	assert_int_equal(state_entries(h), 6);
	for (int i = 0; i < 50; i++) {
		char name[32];
		snprintf(name, sizeof(name), "ghost%d", i);
		assert_int_equal(attempt(h, name, "000000", &c), PAM_AUTH_ERR);
		h_conv_free(&c);
	}
	assert_int_equal(state_entries(h), 6);
}

/* ---- timing: the module's own work, known and unknown, interleaved ---- */

static int answer(void *ctx, bool echo, const char *msg, char **out)
{
	(void)ctx;
	(void)echo;
	(void)msg;
	*out = strdup("000000");
	return *out ? 0 : -ENOMEM;
}

static void quiet(void *ctx, const char *msg)
{
	(void)ctx;
	(void)msg;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y ? 1 : 0;
}

#define ROUNDS 151

static void same_time_known_and_unknown(void **state)
{
	struct harness *h = *state;
	struct mg_pam_conf conf;
	struct mg_config_error err;
	static double known[ROUNDS], unknown[ROUNDS];
	char why[256], name[32];
	/* No lockout in the way: every attempt is a full wrong-code attempt. */
	h_write_conf(h, "factors = totp\ndeny_after = 1000\n");
	h_totp_enroll(h, "alice", MG_TOTP_SHA1, 6, 30, NULL);
	assert_int_equal(mg_pam_conf_load(h->conf, geteuid(), &conf, &err), 0);
	struct mg_pam_io io = {.prompt = answer, .info = quiet, .error = quiet};
	for (int i = 0; i < ROUNDS; i++) {
		/* A fresh unknown name each time, as an attacker probing names would use. */
		snprintf(name, sizeof(name), "nobody%d", i);
		struct mg_pam_attempt k = {.user = "alice", .service = "login"};
		struct mg_pam_attempt u = {.user = name, .service = "login"};
		for (int j = 0; j < 2; j++) {
			bool first_known = (i + j) % 2 == 0;
			double t0 = now_ms();
			int r =
			    mg_authflow_run(&conf, &io, first_known ? &k : &u, why, sizeof(why));
			double t1 = now_ms();
			assert_int_equal(r, -EACCES);
			(first_known ? known : unknown)[i] = t1 - t0;
		}
	}
	mg_pam_conf_free(&conf);
	qsort(known, ROUNDS, sizeof(double), cmp_double);
	qsort(unknown, ROUNDS, sizeof(double), cmp_double);
	double mk = known[ROUNDS / 2], mu = unknown[ROUNDS / 2];
	print_message("median per attempt: known %.3f ms, unknown %.3f ms\n", mk, mu);
	assert_true(mk < 3.0 * mu);
	assert_true(mu < 3.0 * mk);
}

/* ---- the table itself ---- */

static void table_path(const struct harness *h, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", h->state, MG_UNKNOWN_FILE);
}

/* One counted failure of name through the table. */
static void count_one(struct harness *h, const char *name)
{
	struct mg_unknown_txn *t = NULL;
	assert_int_equal(mg_unknown_txn_begin(h->state, geteuid(), name, 1000, 3, 600, &t), 0);
	mg_unknown_txn_state(t)->failures++;
	assert_int_equal(mg_unknown_txn_commit(t), 0);
	mg_unknown_txn_end(&t);
}

/* The table is root's: 0600, the exact size and header, no symlink; else refused. */
static void table_checked(void **state)
{
	struct harness *h = *state;
	struct mg_unknown_txn *t = NULL;
	char path[PATH_MAX + 64], other[PATH_MAX + 80];
	struct stat st;
	count_one(h, "mallory");
	table_path(h, path, sizeof(path));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, MG_UNKNOWN_FILE_SIZE);
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(mg_unknown_txn_begin(h->state, geteuid(), "x", 1000, 3, 600, &t), -EPERM);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(truncate(path, MG_UNKNOWN_FILE_SIZE - 1), 0);
	assert_int_equal(mg_unknown_txn_begin(h->state, geteuid(), "x", 1000, 3, 600, &t),
	                 -EBADMSG);
	snprintf(other, sizeof(other), "%s.real", path);
	assert_int_equal(rename(path, other), 0);
	assert_int_equal(symlink(other, path), 0);
	assert_int_equal(mg_unknown_txn_begin(h->state, geteuid(), "x", 1000, 3, 600, &t), -ELOOP);
	assert_null(t);
}

/*
 * A slot whose MAC does not match (a torn or edited slot) counts as a lockout of the name that
 * finds no slot of its own there, and is rewritten so at once: damage never unlocks.
 */
static void damaged_slot_locks(void **state)
{
	struct harness *h = *state;
	struct mg_unknown_txn *t = NULL;
	char path[PATH_MAX + 64];
	static unsigned char tab[MG_UNKNOWN_FILE_SIZE];
	count_one(h, "mallory");
	table_path(h, path, sizeof(path));
	FILE *f = fopen(path, "r+b");
	assert_non_null(f);
	assert_int_equal(fread(tab, 1, sizeof(tab), f), sizeof(tab));
	size_t used = 0, at = 0;
	for (size_t off = MG_UNKNOWN_HEADER; off < sizeof(tab); off += MG_UNKNOWN_SLOT) {
		unsigned char acc = 0;
		for (size_t i = 0; i < MG_UNKNOWN_SLOT; i++)
			acc |= tab[off + i];
		if (acc) {
			used++;
			at = off;
		}
	}
	assert_int_equal(used, 1); /* one name, one slot */
	tab[at + 16] ^= 0x01;      /* its failure count, without a new MAC */
	assert_int_equal(fseek(f, 0, SEEK_SET), 0);
	assert_int_equal(fwrite(tab, 1, sizeof(tab), f), sizeof(tab));
	fclose(f);
	assert_int_equal(mg_unknown_txn_begin(h->state, geteuid(), "mallory", 1000, 3, 600, &t), 0);
	assert_int_equal(mg_unknown_txn_state(t)->failures, 3);
	assert_int_equal(mg_unknown_txn_state(t)->locked_until, 1600);
	mg_unknown_txn_end(&t);
	/* Rewritten with a good MAC: the same name now finds its slot, still locked. */
	assert_int_equal(mg_unknown_txn_begin(h->state, geteuid(), "mallory", 1001, 3, 600, &t), 0);
	assert_int_equal(mg_unknown_txn_state(t)->locked_until, 1600);
	mg_unknown_txn_end(&t);
}

int main(void)
{
	h_global_setup();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(locked_alike_after_failures, setup, teardown),
	    cmocka_unit_test_setup_teardown(same_time_known_and_unknown, setup, teardown),
	    cmocka_unit_test_setup_teardown(table_checked, setup, teardown),
	    cmocka_unit_test_setup_teardown(damaged_slot_locks, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
