/*
 * The per-user state under a hostile process environment (issue 13, finding 1): a tiny
 * RLIMIT_FSIZE with SIGXFSZ ignored must never leave a torn record that reads as valid, never
 * lose a lock or last_totp_step, and never let an attempt through; the setuid helper resets
 * the limits it inherits. The helper part needs root (a setuid copy); skipped otherwise.
 * The file holds two slots written in turn (docs/PAM.md section 3): in place, a torn slot
 * never valid and the other kept, generations ordered across the wrap, both damaged fails
 * closed until the administrator's repair, older formats read and converted.
 * And (finding 8) state_dir and credential_dir are checked from / down, and their files
 * opened relative to the checked directory, never again by path.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "authcore.h"
#include "authflow.h"
#include "authstate.h"
#include "credstore.h"
#include "mg/time.h"
#include "pam_conf.h"
#include "safe_dir.h"
#include "safe_tmp.h"
#include "totp_auth.h"

#define SMALL_FSIZE 24 /* bytes: a few digits of a record */

struct fx {
	char root[256];
	char creds[PATH_MAX];
	char state[PATH_MAX];
	struct mg_pam_conf conf;
	struct mg_totp_cred totp;
};

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void conf_for(struct fx *f, const char *extra)
{
	char text[3 * PATH_MAX];
	struct mg_config_error err;
	mg_pam_conf_free(&f->conf);
	snprintf(text, sizeof(text),
	         "credential_dir = %s\nstate_dir = %s\nevent_socket = %s/events.sock\n"
	         "factors = totp\nfail_delay_ms = 0\n%s",
	         f->creds, f->state, f->root, extra);
	assert_int_equal(
	    mg_pam_conf_parse("test.conf", text, strlen(text), geteuid(), &f->conf, &err), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f || t_safe_mkdtemp(f->root, sizeof(f->root), "mg-pam-state.") < 0)
		return -1;
	snprintf(f->creds, sizeof(f->creds), "%s/credentials", f->root);
	snprintf(f->state, sizeof(f->state), "%s/auth-state", f->root);
	if (mkdir(f->creds, 0755) < 0 || mkdir(f->state, 0700) < 0 || chmod(f->creds, 0755) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	mg_pam_conf_free(&f->conf);
	(void)nftw(f->root, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void enroll(struct fx *f, const char *user)
{
	memset(&f->totp, 0, sizeof(f->totp));
	snprintf(f->totp.user, sizeof(f->totp.user), "%s", user);
	snprintf(f->totp.label, sizeof(f->totp.label), "phone");
	f->totp.secret_len = 20;
	for (size_t i = 0; i < f->totp.secret_len; i++)
		f->totp.secret[i] = (unsigned char)(0x40 + i);
	f->totp.algorithm = MG_TOTP_SHA1;
	f->totp.digits = 6;
	f->totp.period = 30;
	mg_time_format(mg_now_us(), f->totp.created);
	assert_int_equal(mg_credstore_save_totp(f->creds, geteuid(), &f->totp), 0);
}

/* The TOTP code steps periods away from now, and that step. */
static uint64_t code_at(const struct fx *f, int steps, char code[16])
{
	time_t t = time(NULL) + (time_t)steps * 30;
	assert_int_equal(mg_totp_generate(&f->totp, t, code, 16), 0);
	return (uint64_t)t / 30;
}

static void avoid_step_edge(void)
{
	for (int i = 0; i < 40 && 30 - time(NULL) % 30 <= 3; i++) {
		struct timespec d = {0, 100 * 1000 * 1000};
		nanosleep(&d, NULL);
	}
}

static void put_state(struct fx *f, const char *user, const struct mg_authstate *st)
{
	struct mg_authstate_txn *txn = NULL;
	assert_int_equal(mg_authstate_txn_begin(f->state, geteuid(), user, &txn), 0);
	*mg_authstate_txn_state(txn) = *st;
	assert_int_equal(mg_authstate_txn_commit(txn), 0);
	mg_authstate_txn_end(&txn);
}

/* Reads the state as the module does: it must parse (a torn record would fail). */
static struct mg_authstate get_state(struct fx *f, const char *user)
{
	struct mg_authstate_txn *txn = NULL;
	int r = mg_authstate_txn_begin(f->state, geteuid(), user, &txn);
	if (r < 0)
		fail_msg("state of %s cannot be read: %s", user, strerror(-r));
	struct mg_authstate st = *mg_authstate_txn_state(txn);
	mg_authstate_txn_end(&txn);
	return st;
}

/* A tiny file size limit (hard too unless soft_only) with SIGXFSZ ignored: writes get cut. */
static void small_fsize_ex(bool soft_only)
{
	struct rlimit rl = {SMALL_FSIZE, soft_only ? RLIM_INFINITY : SMALL_FSIZE};
	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
		_exit(90);
}

static void small_fsize(void)
{
	small_fsize_ex(false);
}

static int wait_child(pid_t pid)
{
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st))
		fail_msg("child died by signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : -1);
	return WEXITSTATUS(st);
}

/* Pieces of two records of the same length never make a valid third one. */
static void torn_record_never_valid(void **state)
{
	(void)state;
	struct mg_authstate a, b, back;
	char *ta = NULL, *tb = NULL, err[256], idh[65];
	size_t la = 0, lb = 0;
	memset(&a, 0, sizeof(a));
	a.failures = 1;
	a.locked_until = 1111111111;
	a.last_totp_step = 55555555;
	mg_authstate_id_hash((const unsigned char *)"key", 3, idh);
	assert_int_equal(mg_authstate_counter_set(&a, idh, 41), 0);
	b = a;
	b.failures = 2;
	b.locked_until = 2222222222;
	b.last_totp_step = 55555556;
	assert_int_equal(mg_authstate_counter_set(&b, idh, 42), 0);
	assert_int_equal(mg_authstate_format(&a, &ta, &la), 0);
	assert_int_equal(mg_authstate_format(&b, &tb, &lb), 0);
	assert_int_equal(la, lb);
	char torn[1024];
	assert_true(la < sizeof(torn));
	size_t valid = 0;
	for (size_t k = 1; k < la; k++) {
		memcpy(torn, tb, k); /* the new record's first k bytes reached the disk */
		memcpy(torn + k, ta + k, la - k);
		if (memcmp(torn, ta, la) == 0 || memcmp(torn, tb, la) == 0)
			continue;
		if (mg_authstate_parse(torn, la, &back, err, sizeof(err)) == 0)
			valid++;
	}
	free(ta);
	ta = NULL;
	assert_int_equal(valid, 0);
	/* Truncated (a short write; only the final newline may go) or one digit changed: refused.
	 */
	for (size_t k = 1; k + 1 < la; k++)
		assert_int_not_equal(mg_authstate_parse(tb, k, &back, err, sizeof(err)), 0);
	char *digit = strstr(tb, "\"failures\":2");
	assert_non_null(digit);
	digit[11] = '3';
	int r = mg_authstate_parse(tb, lb, &back, err, sizeof(err));
	free(tb);
	assert_int_equal(r, -EINVAL);
}

/* Bytes [off, off + len) of path into buf (the file must have them). */
static void read_range(const char *path, off_t off, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	ssize_t n = pread(fd, buf, len, off);
	close(fd);
	assert_int_equal(n, (ssize_t)len);
}

static off_t file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

static ino_t file_ino(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_ino;
}

/* Nothing but <user>.json and <user>.lock in state_dir (no temporary file). */
static void only_state_files(struct fx *f, const char *user)
{
	char ls[PATH_MAX + 128];
	snprintf(ls, sizeof(ls), "ls -A '%s' | grep -v -x -e %s.json -e %s.lock", f->state, user,
	         user);
	assert_int_not_equal(system(ls), 0);
}

/*
 * A commit that cannot write everything fails, and the previous record stays byte for byte
 * in its slot and is what is read. Once with the record in slot 0 (the write goes to slot 1,
 * beyond the limit: nothing written) and once in slot 1 (the write to slot 0 is cut short).
 */
static void commit_short_write_keeps_previous(void **state)
{
	struct fx *f = *state;
	struct mg_authstate st;
	char path[PATH_MAX + 32], before[MG_AUTHSTATE_SLOT_SMALL], after[MG_AUTHSTATE_SLOT_SMALL];
	snprintf(path, sizeof(path), "%s/alice.json", f->state);
	memset(&st, 0, sizeof(st));
	for (unsigned round = 0; round < 2; round++) {
		st.failures = 4 + round;
		st.locked_until = (uint64_t)time(NULL) + 3600;
		st.last_totp_step = 60000000 + round;
		put_state(f, "alice", &st);
		assert_int_equal(file_size(path), 2 * MG_AUTHSTATE_SLOT_SMALL);
		off_t cur = (off_t)(round * MG_AUTHSTATE_SLOT_SMALL); /* slot 0, then slot 1 */
		read_range(path, cur, before, sizeof(before));
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct mg_authstate_txn *txn = NULL;
			if (mg_authstate_txn_begin(f->state, geteuid(), "alice", &txn) < 0)
				_exit(91);
			struct mg_authstate *s = mg_authstate_txn_state(txn);
			s->failures = 0;
			s->locked_until = 0;
			s->last_totp_step = 0;
			small_fsize();
			int r = mg_authstate_txn_commit(txn);
			_exit(r < 0 ? 0 : 1);
		}
		assert_int_equal(wait_child(pid), 0); /* the commit reported the failure */
		read_range(path, cur, after, sizeof(after));
		assert_memory_equal(after, before, sizeof(before));
		assert_int_equal(file_size(path), 2 * MG_AUTHSTATE_SLOT_SMALL);
		struct mg_authstate back = get_state(f, "alice");
		assert_int_equal(back.failures, 4 + round);
		assert_int_equal(back.last_totp_step, 60000000 + round);
		only_state_files(f, "alice");
	}
}

/*
 * The module in a process with a tiny RLIMIT_FSIZE (su and other setuid programs keep the
 * caller's): a wrong code that would lock the user, and then a right code, are refused; the
 * stored state is never a mix (failures counted but the lock lost) and last_totp_step stays.
 */
static void module_low_fsize_fails_closed(void **state)
{
	struct fx *f = *state;
	char code[16];
	enroll(f, "alice");
	conf_for(f, "deny_after = 3\nunlock_after = 600\n");
	avoid_step_edge();
	struct mg_authstate st;
	memset(&st, 0, sizeof(st));
	st.failures = 2;
	st.last_totp_step = code_at(f, -1, code);
	put_state(f, "alice", &st);
	uint64_t now = (uint64_t)time(NULL);

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct mg_auth_outcome o;
		code_at(f, 20, code); /* far outside the window: wrong */
		small_fsize();
		int r = mg_auth_totp(&f->conf, "alice", true, code, now, &o);
		_exit(r < 0 ? 0 : o.success ? 2 : 1);
	}
	int rc = wait_child(pid);
	assert_true(rc == 0 || rc == 1);
	struct mg_authstate back = get_state(f, "alice");
	/* Either untouched or the whole new record: the third failure always comes with its lock.
	 */
	if (back.failures >= 3)
		assert_true(back.locked_until > now);
	else
		assert_int_equal(back.failures, 2);
	assert_int_equal(back.last_totp_step, st.last_totp_step);

	/* The right code under the same limit: never a success that was not stored. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct mg_auth_outcome o;
		code_at(f, 0, code);
		small_fsize();
		int r = mg_auth_totp(&f->conf, "alice", true, code, now, &o);
		_exit(r < 0 ? 0 : o.success ? 2 : 1);
	}
	rc = wait_child(pid);
	assert_int_not_equal(rc, 2);
	back = get_state(f, "alice");
	assert_int_equal(back.last_totp_step, st.last_totp_step);
	if (back.failures >= 3)
		assert_true(back.locked_until > now);
}

/* ---- the two-slot state file (format 3) ---- */

/*
 * After the first write, a state write goes in place: the same file (no new inode, no
 * rename, no directory sync), the slots taken in turn, the slot of the previous record left
 * byte for byte as it was.
 */
static void steady_write_in_place(void **state)
{
	struct fx *f = *state;
	struct mg_authstate st;
	char path[PATH_MAX + 32], prev[MG_AUTHSTATE_SLOT_SMALL], now[MG_AUTHSTATE_SLOT_SMALL];
	snprintf(path, sizeof(path), "%s/alice.json", f->state);
	memset(&st, 0, sizeof(st));
	put_state(f, "alice", &st);
	ino_t ino = file_ino(path);
	put_state(f, "alice", &st);
	if (file_ino(path) != ino)
		fail_msg("the state file was replaced (new inode), not written in place");
	for (unsigned i = 1; i <= 5; i++) {
		off_t prev_off = (off_t)((i % 2) * MG_AUTHSTATE_SLOT_SMALL); /* the current slot */
		read_range(path, prev_off, prev, sizeof(prev));
		st.failures = i;
		st.last_totp_step = 1000 + i;
		put_state(f, "alice", &st);
		assert_int_equal(file_ino(path), ino);
		assert_int_equal(file_size(path), 2 * MG_AUTHSTATE_SLOT_SMALL);
		read_range(path, prev_off, now, sizeof(now));
		assert_memory_equal(now, prev, sizeof(prev));
		struct mg_authstate back = get_state(f, "alice");
		assert_int_equal(back.failures, i);
		assert_int_equal(back.last_totp_step, 1000 + i);
		only_state_files(f, "alice");
	}
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
}

/*
 * A write cut at any point (RLIMIT_FSIZE just past the start of the slot being written,
 * SIGXFSZ ignored) damages only that slot, is reported, and the previous record in the other
 * slot is what is read, with the next write succeeding. Both directions: into slot 1 while
 * slot 0 holds the record, and into slot 0 while slot 1 does.
 */
static void torn_slot_keeps_other(void **state)
{
	struct fx *f = *state;
	/* In the header, the record, the padding, the checksum (its first and last bytes). */
	static const size_t cuts[] = {1,
	                              30,
	                              MG_AUTHSTATE_SLOT_HDR - 1,
	                              MG_AUTHSTATE_SLOT_HDR,
	                              MG_AUTHSTATE_SLOT_HDR + 30,
	                              400,
	                              MG_AUTHSTATE_SLOT_SMALL - MG_AUTHSTATE_SLOT_TAIL,
	                              MG_AUTHSTATE_SLOT_SMALL - 60,
	                              MG_AUTHSTATE_SLOT_SMALL - 2};
	static char prev[MG_AUTHSTATE_SLOT_SMALL], now[MG_AUTHSTATE_SLOT_SMALL];
	static char all[2 * MG_AUTHSTATE_SLOT_SMALL];
	static struct mg_authstate st, tmp, back;
	char path[PATH_MAX + 32], idh[65];
	snprintf(path, sizeof(path), "%s/alice.json", f->state);
	mg_authstate_id_hash((const unsigned char *)"key", 3, idh);
	uint64_t n = 0;
	for (unsigned into = 0; into < 2; into++) {
		for (size_t c = 0; c < sizeof(cuts) / sizeof(cuts[0]); c++) {
			memset(&st, 0, sizeof(st));
			st.failures = ++n;
			st.last_totp_step = 50000000 + n;
			assert_int_equal(mg_authstate_counter_set(&st, idh, 100 + n), 0);
			/* Make the record sit in the slot other than "into". */
			for (int k = 0; k < 3; k++) {
				put_state(f, "alice", &st);
				read_range(path, (off_t)((1 - into) * MG_AUTHSTATE_SLOT_SMALL),
				           prev, sizeof(prev));
				struct mg_authstate_where w;
				char err[256];
				read_range(path, 0, all, sizeof(all));
				assert_int_equal(mg_authstate_file_parse(all, sizeof(all), &tmp, &w,
				                                         err, sizeof(err)),
				                 0);
				if (w.slot == 1 - into)
					break;
			}
			pid_t pid = fork();
			assert_true(pid >= 0);
			if (pid == 0) {
				struct mg_authstate_txn *txn = NULL;
				if (mg_authstate_txn_begin(f->state, geteuid(), "alice", &txn) < 0)
					_exit(91);
				struct mg_authstate *s = mg_authstate_txn_state(txn);
				s->failures = 999;
				s->last_totp_step = 1;
				s->locked_until = 0;
				struct rlimit rl = {
				    (rlim_t)(into * MG_AUTHSTATE_SLOT_SMALL + cuts[c]),
				    RLIM_INFINITY};
				signal(SIGXFSZ, SIG_IGN);
				if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
					_exit(90);
				int r = mg_authstate_txn_commit(txn);
				_exit(r < 0 ? 0 : 1);
			}
			if (wait_child(pid) != 0)
				fail_msg("cut at %zu into slot %u: the commit did not fail",
				         cuts[c], into);
			read_range(path, (off_t)((1 - into) * MG_AUTHSTATE_SLOT_SMALL), now,
			           sizeof(now));
			assert_memory_equal(now, prev, sizeof(prev));
			/* The slot written was changed (torn), yet the previous record is read. */
			read_range(path, (off_t)(into * MG_AUTHSTATE_SLOT_SMALL), now, sizeof(now));
			back = get_state(f, "alice");
			if (back.failures != n || back.last_totp_step != 50000000 + n ||
			    mg_authstate_counter_get(&back, idh) != 100 + n)
				fail_msg("cut at %zu into slot %u: read failures %llu", cuts[c],
				         into, (unsigned long long)back.failures);
			only_state_files(f, "alice");
		}
	}
	/* And the next write goes through. */
	memset(&st, 0, sizeof(st));
	st.failures = 77;
	put_state(f, "alice", &st);
	assert_int_equal(get_state(f, "alice").failures, 77);
}

/* A state file of two slots, each with its generation and failure count (0: slot empty). */
static void write_slots(struct fx *f, const char *user, uint64_t g0, uint64_t fail0, uint64_t g1,
                        uint64_t fail1)
{
	static char buf[2 * MG_AUTHSTATE_SLOT_SMALL];
	static struct mg_authstate st;
	char path[PATH_MAX + 32];
	memset(buf, 0, sizeof(buf));
	memset(&st, 0, sizeof(st));
	if (fail0) {
		st.failures = fail0;
		assert_int_equal(mg_authstate_slot_encode(&st, g0, buf, MG_AUTHSTATE_SLOT_SMALL),
		                 0);
	}
	if (fail1) {
		st.failures = fail1;
		assert_int_equal(mg_authstate_slot_encode(&st, g1, buf + MG_AUTHSTATE_SLOT_SMALL,
		                                          MG_AUTHSTATE_SLOT_SMALL),
		                 0);
	}
	snprintf(path, sizeof(path), "%s/%s.json", f->state, user);
	(void)unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	close(fd);
}

/* The generation of the slot holding the record, from its header. */
static uint64_t slot_gen(struct fx *f, const char *user, unsigned slot)
{
	char path[PATH_MAX + 32], hdr[MG_AUTHSTATE_SLOT_HDR + 1];
	snprintf(path, sizeof(path), "%s/%s.json", f->state, user);
	read_range(path, (off_t)(slot * MG_AUTHSTATE_SLOT_SMALL), hdr, MG_AUTHSTATE_SLOT_HDR);
	hdr[MG_AUTHSTATE_SLOT_HDR] = '\0';
	assert_memory_equal(hdr, "mynaguard-state 3 gen ", 22);
	return strtoull(hdr + 22, NULL, 10);
}

static uint64_t failures_of(struct fx *f, const char *user)
{
	return get_state(f, user).failures;
}

/* The newer generation wins, also across 2^64 - 1 -> 0; equal generations fail closed. */
static void generation_order_and_wrap(void **state)
{
	struct fx *f = *state;
	struct mg_authstate_txn *txn = NULL;
	assert_true(mg_authstate_gen_newer(1, 0));
	assert_false(mg_authstate_gen_newer(0, 1));
	assert_true(mg_authstate_gen_newer(0, UINT64_MAX));
	assert_false(mg_authstate_gen_newer(UINT64_MAX, 0));
	assert_false(mg_authstate_gen_newer(7, 7));
	write_slots(f, "alice", 5, 1, 4, 2);
	assert_int_equal(failures_of(f, "alice"), 1);
	write_slots(f, "alice", 4, 1, 5, 2);
	assert_int_equal(failures_of(f, "alice"), 2);
	write_slots(f, "alice", UINT64_MAX, 1, 0, 2);
	assert_int_equal(failures_of(f, "alice"), 2);
	write_slots(f, "alice", 0, 1, UINT64_MAX, 2);
	assert_int_equal(failures_of(f, "alice"), 1);
	/* Writing on from there: slot 1 (generation 2^64 - 1) is the older one and is replaced
	 * with generation 1. */
	struct mg_authstate st;
	memset(&st, 0, sizeof(st));
	st.failures = 3;
	put_state(f, "alice", &st);
	assert_int_equal(slot_gen(f, "alice", 0), 0);
	assert_int_equal(slot_gen(f, "alice", 1), 1);
	assert_int_equal(failures_of(f, "alice"), 3);
	/* Only slot 0 valid, at 2^64 - 1: the next write is generation 0 in slot 1, and wins. */
	write_slots(f, "alice", UINT64_MAX, 1, 0, 0);
	st.failures = 4;
	put_state(f, "alice", &st);
	assert_int_equal(slot_gen(f, "alice", 1), 0);
	assert_int_equal(failures_of(f, "alice"), 4);
	/* Two valid slots of the same generation: which is current cannot be told. */
	write_slots(f, "alice", 9, 1, 9, 2);
	assert_int_equal(mg_authstate_txn_begin(f->state, geteuid(), "alice", &txn), -EBADMSG);
	assert_null(txn);
}

/* Flips one byte at off of user's state file. */
static void flip_byte(struct fx *f, const char *user, off_t off)
{
	char path[PATH_MAX + 32], c;
	snprintf(path, sizeof(path), "%s/%s.json", f->state, user);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c = (char)(c ^ 0x01);
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

/*
 * Both slots damaged: no record can be trusted, the state cannot be read and a right code is
 * refused (fail closed); the administrator's repair (mynaguard-enroll unlock, through
 * mg_authstate_txn_begin_repair) keeps the largest step and counters of the two slots.
 * One slot damaged: the other is read, no repair needed.
 */
static void both_slots_damaged_fail_closed(void **state)
{
	struct fx *f = *state;
	struct mg_authstate_txn *txn = NULL;
	struct mg_authstate_repair rep;
	char code[16], idh[65];
	enroll(f, "alice");
	conf_for(f, "deny_after = 3\nunlock_after = 600\n");
	avoid_step_edge();
	mg_authstate_id_hash((const unsigned char *)"key", 3, idh);
	struct mg_authstate st;
	memset(&st, 0, sizeof(st));
	st.failures = 1;
	st.last_totp_step = code_at(f, -2, code);
	assert_int_equal(mg_authstate_counter_set(&st, idh, 41), 0);
	put_state(f, "alice", &st); /* slot 0 */
	st.failures = 2;
	st.last_totp_step = code_at(f, -1, code);
	assert_int_equal(mg_authstate_counter_set(&st, idh, 42), 0);
	put_state(f, "alice", &st); /* slot 1 */
	/* A byte of the record in slot 1 changed: slot 0 (the previous record) is read. */
	flip_byte(f, "alice", MG_AUTHSTATE_SLOT_SMALL + MG_AUTHSTATE_SLOT_HDR + 3);
	assert_int_equal(get_state(f, "alice").failures, 1);
	/* And one of the checksum in slot 0: nothing valid. */
	flip_byte(f, "alice", MG_AUTHSTATE_SLOT_SMALL - 1);
	assert_int_equal(mg_authstate_txn_begin(f->state, geteuid(), "alice", &txn), -EBADMSG);
	assert_null(txn);
	struct mg_auth_outcome o;
	memset(&o, 0, sizeof(o));
	code_at(f, 0, code);
	int r = mg_auth_totp(&f->conf, "alice", true, code, (uint64_t)time(NULL), &o);
	assert_true(r < 0 || !o.success);
	/* The repair: the larger step and counter of the two slots, failures dropped. */
	assert_int_equal(mg_authstate_txn_begin_repair(f->state, geteuid(), "alice", &txn, &rep),
	                 0);
	assert_true(rep.repaired);
	assert_false(rep.fresh);
	assert_true(rep.step_kept);
	assert_int_equal(rep.counters_kept, 1);
	struct mg_authstate *s = mg_authstate_txn_state(txn);
	assert_int_equal(s->failures, 0);
	assert_int_equal(s->last_totp_step, st.last_totp_step);
	assert_int_equal(mg_authstate_counter_get(s, idh), 42);
	assert_int_equal(mg_authstate_txn_commit(txn), 0);
	mg_authstate_txn_end(&txn);
	struct mg_authstate back = get_state(f, "alice");
	assert_int_equal(back.last_totp_step, st.last_totp_step);
	assert_int_equal(mg_authstate_counter_get(&back, idh), 42);
	/* Now usable again: the right code of this step is accepted. */
	memset(&o, 0, sizeof(o));
	code_at(f, 0, code);
	assert_int_equal(mg_auth_totp(&f->conf, "alice", true, code, (uint64_t)time(NULL), &o), 0);
	assert_true(o.success);
}

/*
 * Files written before: format 1 (the 512-byte record written in place, no checksum) and
 * format 2 (one JSON record with checksum, replaced by rename) are read as they are; the next
 * write converts them to two slots, and the one after that goes in place.
 */
static void older_formats_read_and_converted(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX + 32], v1[512], *v2 = NULL, head[32];
	size_t v2len = 0;
	snprintf(path, sizeof(path), "%s/alice.json", f->state);
	int n = snprintf(v1, sizeof(v1),
	                 "{\"failures\":2,\"fido2_counters\":{},\"last_totp_step\":777,"
	                 "\"locked_until\":0,\"version\":1}");
	memset(v1 + n, ' ', sizeof(v1) - (size_t)n - 1);
	v1[sizeof(v1) - 1] = '\n';
	struct mg_authstate st;
	memset(&st, 0, sizeof(st));
	st.failures = 3;
	st.last_totp_step = 888;
	assert_int_equal(mg_authstate_format(&st, &v2, &v2len), 0);
	for (int which = 0; which < 2; which++) {
		(void)unlink(path);
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		assert_true(fd >= 0);
		const char *text = which == 0 ? v1 : v2;
		size_t len = which == 0 ? sizeof(v1) : v2len;
		assert_int_equal(write(fd, text, len), (ssize_t)len);
		close(fd);
		struct mg_authstate back = get_state(f, "alice");
		assert_int_equal(back.failures, which == 0 ? 2 : 3);
		assert_int_equal(back.last_totp_step, which == 0 ? 777 : 888);
		back.failures++;
		put_state(f, "alice", &back); /* converted */
		assert_int_equal(file_size(path), 2 * MG_AUTHSTATE_SLOT_SMALL);
		read_range(path, 0, head, 18);
		assert_memory_equal(head, "mynaguard-state 3 ", 18);
		ino_t ino = file_ino(path);
		back = get_state(f, "alice");
		assert_int_equal(back.failures, which == 0 ? 3 : 4);
		assert_int_equal(back.last_totp_step, which == 0 ? 777 : 888);
		put_state(f, "alice", &back);
		assert_int_equal(file_ino(path), ino); /* in place from now on */
		only_state_files(f, "alice");
	}
	free(v2);
}

/* A record too large for 4 KiB slots (many FIDO2 counters) gets 8 KiB slots, and back. */
static void large_record_larger_slots(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX + 32], idh[65];
	snprintf(path, sizeof(path), "%s/alice.json", f->state);
	struct mg_authstate st;
	memset(&st, 0, sizeof(st));
	put_state(f, "alice", &st);
	assert_int_equal(file_size(path), 2 * MG_AUTHSTATE_SLOT_SMALL);
	for (unsigned i = 0; i < MG_AUTHSTATE_MAX_COUNTERS; i++) {
		mg_authstate_id_hash((const unsigned char *)&i, sizeof(i), idh);
		assert_int_equal(mg_authstate_counter_set(&st, idh, MG_JSON_INT_MAX - i), 0);
	}
	put_state(f, "alice", &st);
	assert_int_equal(file_size(path), 2 * MG_AUTHSTATE_SLOT_LARGE);
	ino_t ino = file_ino(path);
	st.failures = 1;
	put_state(f, "alice", &st);
	st.failures = 2;
	put_state(f, "alice", &st);
	assert_int_equal(file_ino(path), ino);
	struct mg_authstate back = get_state(f, "alice");
	assert_int_equal(back.failures, 2);
	assert_int_equal(back.ncounters, MG_AUTHSTATE_MAX_COUNTERS);
	mg_authstate_id_hash((const unsigned char *)&(unsigned){63}, sizeof(unsigned), idh);
	assert_int_equal(mg_authstate_counter_get(&back, idh), MG_JSON_INT_MAX - 63);
	/* Small again: the large slots stay. */
	st.ncounters = 0;
	put_state(f, "alice", &st);
	assert_int_equal(file_size(path), 2 * MG_AUTHSTATE_SLOT_LARGE);
	assert_int_equal(get_state(f, "alice").ncounters, 0);
}

/* ---- state_dir and credential_dir checked from / down (issue 13, finding 8) ---- */

/* <root>/<parent> with uid and mode, and <root>/<parent>/auth-state (trusted owner, 0700). */
static void make_parent(struct fx *f, const char *parent, uid_t uid, mode_t mode, char *out,
                        size_t outlen)
{
	char p[PATH_MAX + 64];
	snprintf(p, sizeof(p), "%s/%s", f->root, parent);
	assert_int_equal(mkdir(p, 0755), 0);
	snprintf(out, outlen, "%s/auth-state", p);
	assert_int_equal(mkdir(out, 0700), 0);
	assert_int_equal(chown(p, uid, (gid_t)uid), 0);
	assert_int_equal(chmod(p, mode), 0);
}

static void parents_checked_from_root(void **state)
{
	struct fx *f = *state;
	struct mg_authstate_txn *txn = NULL;
	char dir[PATH_MAX + 64], why[320];
	static const struct {
		const char *name;
		bool other_owner; /* owned by uid 1001 (needs root) */
		mode_t mode;
		const char *why;
	} cases[] = {
	    {"user-owned", true, 0755, "owned by uid 1001"},
	    {"world-writable", false, 0777, "writable by group or others"},
	    {"sticky", false, 01777, "writable by group or others"},
	    {"group-writable", false, 0775, "writable by group or others"},
	};
	make_parent(f, "fine", geteuid(), 0755, dir, sizeof(dir));
	assert_int_equal(mg_authstate_txn_begin(dir, geteuid(), "alice", &txn), 0);
	mg_authstate_txn_end(&txn);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].other_owner && geteuid() != 0)
			continue;
		make_parent(f, cases[i].name, cases[i].other_owner ? 1001 : geteuid(),
		            cases[i].mode, dir, sizeof(dir));
		assert_int_equal(mg_authstate_txn_begin(dir, geteuid(), "alice", &txn), -EPERM);
		assert_null(txn);
		/* The reason names the directory at fault (what the log line shows). */
		assert_non_null(strstr(mg_pam_dir_why(), cases[i].name));
		assert_non_null(strstr(mg_pam_dir_why(), cases[i].why));
		int fd = mg_pam_dir_open(dir, geteuid(), why, sizeof(why));
		assert_int_equal(fd, -EPERM);
		assert_string_equal(why, mg_pam_dir_why());
		/* Nothing was created under it. */
		char lock[PATH_MAX + 80];
		snprintf(lock, sizeof(lock), "%s/alice.lock", dir);
		assert_int_equal(access(lock, F_OK), -1);
	}
	/* credential_dir under a directory of another user: refused, with the reason. */
	if (geteuid() == 0) {
		struct mg_totp_cred *c = NULL;
		char creds[PATH_MAX];
		snprintf(creds, sizeof(creds), "%s/user-owned/credentials", f->root);
		assert_int_equal(mkdir(creds, 0755), 0);
		snprintf(dir, sizeof(dir), "%s/totp", creds);
		assert_int_equal(mkdir(dir, 0700), 0);
		assert_int_equal(mg_credstore_load_totp(creds, 0, "alice", &c, why, sizeof(why)),
		                 -EPERM);
		assert_non_null(strstr(why, "user-owned: owned by uid 1001"));
	}
}

/* The state file is written through the held descriptor of the checked directory: a parent
 * swapped for a symlink after the check does not redirect the write, and is refused next. */
static void parent_swapped_to_symlink_not_followed(void **state)
{
	struct fx *f = *state;
	struct mg_authstate_txn *txn = NULL;
	char dir[PATH_MAX + 64], p[PATH_MAX + 64], old[PATH_MAX + 64], evil[PATH_MAX + 64];
	make_parent(f, "p", geteuid(), 0755, dir, sizeof(dir));
	assert_int_equal(mg_authstate_txn_begin(dir, geteuid(), "alice", &txn), 0);
	/* Between the check and the write: p becomes a symlink to a directory elsewhere. */
	snprintf(p, sizeof(p), "%s/p", f->root);
	snprintf(old, sizeof(old), "%s/p.old", f->root);
	snprintf(evil, sizeof(evil), "%s/evil", f->root);
	assert_int_equal(rename(p, old), 0);
	assert_int_equal(mkdir(evil, 0755), 0);
	strcat(evil, "/auth-state");
	assert_int_equal(mkdir(evil, 0700), 0);
	assert_int_equal(symlink("evil", p), 0);
	mg_authstate_txn_state(txn)->failures = 7;
	assert_int_equal(mg_authstate_txn_commit(txn), 0);
	mg_authstate_txn_end(&txn);
	strcat(evil, "/alice.json");
	assert_int_equal(access(evil, F_OK), -1); /* not redirected */
	strcat(old, "/auth-state/alice.json");
	assert_int_equal(access(old, F_OK), 0); /* written where it was checked */
	/* The path now goes through a symlink: refused. */
	assert_int_equal(mg_authstate_txn_begin(dir, geteuid(), "alice", &txn), -ELOOP);
	assert_non_null(strstr(mg_pam_dir_why(), "a symbolic link"));
}

struct io_count {
	int prompts;
};

static int io_prompt(void *ctx, bool echo, const char *msg, char **answer)
{
	(void)echo;
	(void)msg;
	((struct io_count *)ctx)->prompts++;
	*answer = strdup("123456");
	return *answer ? 0 : -ENOMEM;
}

static void io_msg(void *ctx, const char *msg)
{
	(void)ctx;
	(void)msg;
}

/* What the module logs ("refused: <why>: <error>") names the directory at fault. */
static void refused_dir_named_in_log(void **state)
{
	struct fx *f = *state;
	char dir[PATH_MAX + 64], why[512], keep[PATH_MAX];
	if (geteuid() != 0)
		skip(); /* chown */
	make_parent(f, "user-owned", 1001, 0755, dir, sizeof(dir));
	enroll(f, "nobody");
	for (int which = 0; which < 2; which++) {
		char *field = which == 0 ? f->state : f->creds;
		snprintf(keep, sizeof(keep), "%s", field);
		snprintf(field, PATH_MAX, "%s/user-owned/%s", f->root,
		         which == 0 ? "auth-state" : "credentials");
		if (which == 1)
			assert_int_equal(mkdir(field, 0755), 0);
		conf_for(f, "");
		struct io_count n = {0};
		struct mg_pam_io io = {&n, io_prompt, io_msg, io_msg, io_msg};
		struct mg_pam_attempt att = {.user = "nobody", .service = "login"};
		int r = mg_authflow_run(&f->conf, &io, &att, why, sizeof(why));
		assert_int_equal(r, -EPERM);
		assert_int_equal(n.prompts, 0);
		if (!strstr(why, which == 0 ? "state_dir refused: " : "credential_dir refused: ") ||
		    !strstr(why, "/user-owned: owned by uid 1001"))
			fail_msg("log line does not name the directory: %s", why);
		snprintf(field, PATH_MAX, "%s", keep);
	}
}

/* ---- through the setuid helper (root only) ---- */

static char g_helper_dir[64];
static pid_t g_main_pid;

static void remove_helper_dir(void)
{
	char path[128];
	if (getpid() != g_main_pid || !g_helper_dir[0])
		return;
	snprintf(path, sizeof(path), "%s/mynaguard-auth-helper", g_helper_dir);
	(void)chmod(path, 0700); /* never a setuid file left, even if the removal fails */
	(void)nftw(g_helper_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	g_helper_dir[0] = '\0';
}

static int copy_file(const char *from, const char *to, mode_t mode)
{
	static char buf[16384];
	int in = open(from, O_RDONLY | O_CLOEXEC);
	int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
	int r = in >= 0 && out >= 0 ? 0 : -1;
	for (ssize_t n; r == 0 && (n = read(in, buf, sizeof(buf))) != 0;)
		r = n < 0 || write(out, buf, (size_t)n) != n ? -1 : 0;
	if (r == 0 && (fchown(out, 0, 0) < 0 || fchmod(out, mode) < 0))
		r = -1;
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) < 0)
		r = -1;
	return r;
}

enum limit { NORMAL, SMALL_SOFT, SMALL_HARD };

/* Runs "helper totp nobody" as uid 65534, with a tiny RLIMIT_FSIZE and SIGXFSZ ignored. */
static int helper_totp_as_nobody(const char *helper, const char *code, enum limit lim)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (dup2(p[0], 0) < 0 || devnull < 0 || dup2(devnull, 1) < 0)
			_exit(92);
		close(p[1]);
		if (lim != NORMAL)
			small_fsize_ex(lim == SMALL_SOFT);
		if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
		    setresuid(65534, 65534, 65534) < 0)
			_exit(93);
		execl(helper, helper, "totp", "nobody", (char *)NULL);
		_exit(94);
	}
	close(p[0]);
	char line[64];
	int n = snprintf(line, sizeof(line), "code %s\n", code);
	assert_int_equal(write(p[1], line, (size_t)n), n);
	close(p[1]);
	return wait_child(pid);
}

static void helper_resets_rlimits(void **state)
{
	struct fx *f = *state;
	char helper[128], conf[128], text[3 * PATH_MAX], code[16];
	const char *src = getenv("MG_PAM_HELPER");
	if (geteuid() != 0 || !src) {
		printf("helper_resets_rlimits: needs root and MG_PAM_HELPER; skipped\n");
		skip();
	}
	snprintf(g_helper_dir, sizeof(g_helper_dir), "/tmp/mg-state-helper.XXXXXX");
	assert_non_null(mkdtemp(g_helper_dir));
	assert_int_equal(chmod(g_helper_dir, 0755), 0);
	snprintf(helper, sizeof(helper), "%s/mynaguard-auth-helper", g_helper_dir);
	snprintf(conf, sizeof(conf), "%s/pam.conf", g_helper_dir);
	assert_int_equal(copy_file(src, helper, 04755), 0);
	snprintf(text, sizeof(text),
	         "credential_dir = %s\nstate_dir = %s\nevent_socket = %s/events.sock\n"
	         "factors = totp\nfail_delay_ms = 0\ndeny_after = 2\nunlock_after = 600\n",
	         f->creds, f->state, f->root);
	int fd = open(conf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	enroll(f, "nobody");
	avoid_step_edge();
	code_at(f, 20, code); /* wrong */
	/* First failure with normal limits: a state record exists. */
	assert_int_equal(helper_totp_as_nobody(helper, code, NORMAL), 1);
	assert_int_equal(get_state(f, "nobody").failures, 1);
	uint64_t now = (uint64_t)time(NULL);
	/* Second failure with a tiny file size limit (soft; the hard one the helper may keep):
	 * counted and locked all the same. */
	int rc = helper_totp_as_nobody(helper, code, SMALL_SOFT);
	struct mg_authstate st = get_state(f, "nobody");
	assert_int_equal(st.failures, 2);
	assert_true(st.locked_until >= now + 600);
	assert_int_equal(rc, 1);
	/* The hard limit tiny too: the helper raises it where it may (CAP_SYS_RESOURCE), or refuses
	 * before deciding anything; never a success, never a torn record. */
	code_at(f, 0, code);
	rc = helper_totp_as_nobody(helper, code, SMALL_HARD);
	assert_true(rc == 1 || rc == 2);
	st = get_state(f, "nobody");
	assert_int_equal(st.failures, 2);
	assert_true(st.locked_until >= now + 600);
	assert_int_equal(st.last_totp_step, 0);
	remove_helper_dir();
}

int main(void)
{
	g_main_pid = getpid();
	atexit(remove_helper_dir);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(torn_record_never_valid),
	    cmocka_unit_test_setup_teardown(commit_short_write_keeps_previous, setup, teardown),
	    cmocka_unit_test_setup_teardown(steady_write_in_place, setup, teardown),
	    cmocka_unit_test_setup_teardown(torn_slot_keeps_other, setup, teardown),
	    cmocka_unit_test_setup_teardown(generation_order_and_wrap, setup, teardown),
	    cmocka_unit_test_setup_teardown(both_slots_damaged_fail_closed, setup, teardown),
	    cmocka_unit_test_setup_teardown(older_formats_read_and_converted, setup, teardown),
	    cmocka_unit_test_setup_teardown(large_record_larger_slots, setup, teardown),
	    cmocka_unit_test_setup_teardown(module_low_fsize_fails_closed, setup, teardown),
	    cmocka_unit_test_setup_teardown(helper_resets_rlimits, setup, teardown),
	    cmocka_unit_test_setup_teardown(parents_checked_from_root, setup, teardown),
	    cmocka_unit_test_setup_teardown(parent_swapped_to_symlink_not_followed, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(refused_dir_named_in_log, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
