/* Per-user state file: strict parser, writer and the locked transaction. */
#include "authstate.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/sha.h>

#include "encoding.h"
#include "mg/safe_open.h"
#include "pam_user.h"

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
}

/* Records the message and yields -EINVAL. A macro, not a function, so that the optimiser sees
 * the negative result at every call site: a function with variable arguments is never inlined,
 * and at -O3 GCC then assumes "r = fail(...) < 0" might not hold and warns that the outputs of
 * the getters below "may be used uninitialized". */
#define fail(err, errlen, ...) (set_err((err), (errlen), __VA_ARGS__), -EINVAL)

static bool hex64(const char *s)
{
	if (strlen(s) != 64)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static int get_u53(json_t *v, const char *key, uint64_t *out, char *err, size_t errlen)
{
	if (!v)
		return fail(err, errlen, "%s: missing", key);
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > MG_JSON_INT_MAX)
		return fail(err, errlen, "%.80s: expected an integer 0 to 2^53 - 1", key);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

int mg_authstate_parse(const char *buf, size_t len, struct mg_authstate *out, char *err,
                       size_t errlen)
{
	static const char *const keys[] = {"version",        "failures",       "locked_until",
	                                   "last_totp_step", "fido2_counters", NULL};
	struct mg_authstate st;
	json_error_t jerr;
	json_t *root = NULL, *v;
	const char *key;
	uint64_t version;
	int r;

	if (len > MG_AUTHSTATE_MAX_SIZE)
		return -EFBIG;
	memset(&st, 0, sizeof(st));
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return fail(err, errlen, "invalid JSON at line %d: %s", jerr.line, jerr.text);
	if (!json_is_object(root)) {
		r = fail(err, errlen, "top level: expected an object");
		goto out;
	}
	json_object_foreach(root, key, v)
	{
		bool ok = false;
		for (size_t i = 0; keys[i]; i++)
			ok = ok || strcmp(key, keys[i]) == 0;
		if (!ok) {
			r = fail(err, errlen, "%.64s: unknown key", key);
			goto out;
		}
	}
	if ((r = get_u53(json_object_get(root, "version"), "version", &version, err, errlen)) < 0)
		goto out;
	if (version != 1) {
		r = fail(err, errlen, "version: expected 1");
		goto out;
	}
	if ((r = get_u53(json_object_get(root, "failures"), "failures", &st.failures, err,
	                 errlen)) < 0 ||
	    (r = get_u53(json_object_get(root, "locked_until"), "locked_until", &st.locked_until,
	                 err, errlen)) < 0 ||
	    (r = get_u53(json_object_get(root, "last_totp_step"), "last_totp_step",
	                 &st.last_totp_step, err, errlen)) < 0)
		goto out;
	json_t *ctr = json_object_get(root, "fido2_counters");
	if (!json_is_object(ctr)) {
		r = fail(err, errlen, "fido2_counters: expected an object");
		goto out;
	}
	if (json_object_size(ctr) > MG_AUTHSTATE_MAX_COUNTERS) {
		r = fail(err, errlen, "fido2_counters: more than %d", MG_AUTHSTATE_MAX_COUNTERS);
		goto out;
	}
	json_object_foreach(ctr, key, v)
	{
		if (!hex64(key)) {
			r = fail(err, errlen, "fido2_counters: keys are SHA-256 hex digests");
			goto out;
		}
		struct mg_authstate_counter *c = &st.counters[st.ncounters];
		if ((r = get_u53(v, "fido2_counters value", &c->counter, err, errlen)) < 0)
			goto out;
		memcpy(c->id_hash, key, 65);
		st.ncounters++;
	}
	*out = st;
	r = 0;
out:
	json_decref(root);
	return r;
}

int mg_authstate_format(const struct mg_authstate *st, char **out, size_t *len)
{
	int r = -ENOMEM;
	json_t *root = json_object(), *ctr = json_object();
	char *s = NULL;
	if (!root || !ctr)
		goto out;
	if (st->failures > MG_JSON_INT_MAX || st->locked_until > MG_JSON_INT_MAX ||
	    st->last_totp_step > MG_JSON_INT_MAX) {
		r = -ERANGE;
		goto out;
	}
	if (json_object_set_new(root, "version", json_integer(1)) < 0 ||
	    json_object_set_new(root, "failures", json_integer((json_int_t)st->failures)) < 0 ||
	    json_object_set_new(root, "locked_until", json_integer((json_int_t)st->locked_until)) <
	        0 ||
	    json_object_set_new(root, "last_totp_step",
	                        json_integer((json_int_t)st->last_totp_step)) < 0 ||
	    json_object_set(root, "fido2_counters", ctr) < 0)
		goto out;
	for (size_t i = 0; i < st->ncounters && i < MG_AUTHSTATE_MAX_COUNTERS; i++) {
		const struct mg_authstate_counter *c = &st->counters[i];
		if (c->counter > MG_JSON_INT_MAX) {
			r = -ERANGE;
			goto out;
		}
		if (json_object_set_new(ctr, c->id_hash, json_integer((json_int_t)c->counter)) < 0)
			goto out;
	}
	s = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	if (!s)
		goto out;
	size_t n = strlen(s);
	char *t = realloc(s, n + 2);
	if (!t)
		goto out;
	s = t;
	s[n] = '\n';
	s[n + 1] = '\0';
	*out = s;
	s = NULL;
	if (len)
		*len = n + 1;
	r = 0;
out:
	free(s);
	json_decref(ctr);
	json_decref(root);
	return r;
}

void mg_authstate_id_hash(const unsigned char *id, size_t len, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256(id, len, md);
	mg_hex_encode(md, sizeof(md), out);
}

uint64_t mg_authstate_counter_get(const struct mg_authstate *st, const char id_hash[65])
{
	for (size_t i = 0; i < st->ncounters; i++)
		if (strcmp(st->counters[i].id_hash, id_hash) == 0)
			return st->counters[i].counter;
	return 0;
}

int mg_authstate_counter_set(struct mg_authstate *st, const char id_hash[65], uint64_t counter)
{
	for (size_t i = 0; i < st->ncounters; i++) {
		if (strcmp(st->counters[i].id_hash, id_hash) == 0) {
			st->counters[i].counter = counter;
			return 0;
		}
	}
	if (st->ncounters >= MG_AUTHSTATE_MAX_COUNTERS)
		return -ENOSPC;
	memcpy(st->counters[st->ncounters].id_hash, id_hash, 65);
	st->counters[st->ncounters].id_hash[64] = '\0';
	st->counters[st->ncounters].counter = counter;
	st->ncounters++;
	return 0;
}

void mg_authstate_counter_remove(struct mg_authstate *st, const char id_hash[65])
{
	for (size_t i = 0; i < st->ncounters; i++) {
		if (strcmp(st->counters[i].id_hash, id_hash) == 0) {
			memmove(&st->counters[i], &st->counters[i + 1],
			        (st->ncounters - i - 1) * sizeof(st->counters[0]));
			st->ncounters--;
			return;
		}
	}
}

/* ---- the locked transaction ---- */

struct mg_authstate_txn {
	int lock_fd;
	uid_t owner;
	char path[PATH_MAX];
	struct mg_authstate st;
};

int mg_pam_dir_check(const char *dir, uid_t owner)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	int r = fstat(fd, &st) < 0 ? -errno : 0;
	close(fd);
	if (r < 0)
		return r;
	if (st.st_uid != owner || (st.st_mode & (S_IWGRP | S_IWOTH)))
		return -EPERM;
	return 0;
}

static int lock_with_bound(int fd)
{
	/* Holders never wait for a person, so the lock is free within milliseconds. */
	for (int i = 0; i < 500; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

int mg_authstate_txn_begin(const char *state_dir, uid_t owner, const char *user,
                           struct mg_authstate_txn **out)
{
	char lock_path[PATH_MAX];
	char *data = NULL;
	size_t len = 0;
	struct mg_authstate_txn *t = NULL;
	int r;

	if ((r = mg_pam_dir_check(state_dir, owner)) < 0)
		return r;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->lock_fd = -1;
	t->owner = owner;
	if ((r = mg_pam_user_path(lock_path, sizeof(lock_path), "", state_dir, MG_PAM_FILE_LOCK,
	                          user)) < 0 ||
	    (r = mg_pam_user_path(t->path, sizeof(t->path), "", state_dir, MG_PAM_FILE_STATE,
	                          user)) < 0)
		goto out;
	t->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
	if (t->lock_fd < 0) {
		r = -errno;
		goto out;
	}
	struct stat lst;
	if (fstat(t->lock_fd, &lst) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(lst.st_mode) || lst.st_uid != owner || (lst.st_mode & (S_IWGRP | S_IWOTH))) {
		r = -EPERM;
		goto out;
	}
	if ((r = lock_with_bound(t->lock_fd)) < 0)
		goto out;
	struct mg_file_rules rules = {
	    .owner = owner, .secret = true, .max_size = MG_AUTHSTATE_MAX_SIZE};
	r = mg_safe_read_file(t->path, &rules, &data, &len, NULL);
	if (r == -ENOENT) {
		r = 0;
	} else if (r == 0) {
		char err[256];
		r = mg_authstate_parse(data, len, &t->st, err, sizeof(err));
		if (r == -EINVAL)
			r = -EBADMSG;
	}
	if (r < 0)
		goto out;
	*out = t;
	t = NULL;
out:
	free(data);
	mg_authstate_txn_end(&t);
	return r;
}

struct mg_authstate *mg_authstate_txn_state(struct mg_authstate_txn *txn)
{
	return &txn->st;
}

/*
 * A state that fits is kept as one 512-byte record (the JSON padded with spaces and a final
 * newline), so that a login can overwrite it in place and wait for one fdatasync of one
 * sector instead of a new file, a rename and two fsyncs: the cost pam_oath does not pay at
 * all (it never syncs). A sector is written whole or not at all by the disk; a record that
 * nevertheless fails to parse refuses the login (fail closed) until an administrator unlocks
 * the user. Larger states (many FIDO2 counters) and new files go through temp file + rename.
 */
#define STATE_RECORD 512

/* Overwrites an existing, safe, record-sized state file in place. 0, or negative errno. */
static int overwrite_record(const struct mg_authstate_txn *txn, const char *rec)
{
	int fd = open(txn->path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	struct stat st;
	int r = 0;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode) || st.st_uid != txn->owner || (st.st_mode & 077) ||
	         st.st_size != STATE_RECORD || st.st_nlink != 1)
		r = -EINVAL;
	else if (pwrite(fd, rec, STATE_RECORD, 0) != STATE_RECORD)
		r = errno ? -errno : -EIO;
	else if (fdatasync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

int mg_authstate_txn_commit(struct mg_authstate_txn *txn)
{
	char *text = NULL;
	size_t len = 0;
	int r = mg_authstate_format(&txn->st, &text, &len);
	if (r < 0)
		return r;
	if (len >= STATE_RECORD) {
		r = mg_write_file_atomic(txn->path, text, len, 0600);
		free(text);
		return r;
	}
	char rec[STATE_RECORD];
	memcpy(rec, text, len);
	memset(rec + len, ' ', STATE_RECORD - len - 1);
	rec[STATE_RECORD - 1] = '\n';
	free(text);
	r = overwrite_record(txn, rec);
	if (r < 0) /* no file yet, or not a record: write a new one */
		r = mg_write_file_atomic(txn->path, rec, STATE_RECORD, 0600);
	explicit_bzero(rec, sizeof(rec));
	return r;
}

void mg_authstate_txn_end(struct mg_authstate_txn **txn)
{
	if (!txn || !*txn)
		return;
	if ((*txn)->lock_fd >= 0)
		close((*txn)->lock_fd); /* releases the flock */
	free(*txn);
	*txn = NULL;
}
