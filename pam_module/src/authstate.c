/* Per-user state file: strict parser, writer and the locked transaction. */
#include "authstate.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "encoding.h"
#include "mg/safe_open.h"
#include "pam_user.h"
#include "safe_dir.h"

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

/* SHA-256 hex of the canonical text (compact, sorted keys) of root without "checksum". */
static int canonical_sum(json_t *root, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	json_t *copy = json_copy(root);
	char *text = NULL;
	int r = -ENOMEM;
	if (!copy)
		return r;
	json_object_del(copy, "checksum");
	text = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
	if (text) {
		SHA256((const unsigned char *)text, strlen(text), md);
		mg_hex_encode(md, sizeof(md), out);
		r = 0;
	}
	free(text);
	json_decref(copy);
	return r;
}

/*
 * Version 2 records carry the SHA-256 of their own canonical text: a record made of pieces
 * of two writes (a torn write) or damaged on disk never reads as valid. Version 1 (written
 * before issue 13) has none and is accepted as it is until the next write replaces it.
 */
static int check_sum(json_t *root, uint64_t version, char *err, size_t errlen)
{
	json_t *v = json_object_get(root, "checksum");
	char want[65];
	if (version == 1)
		return v ? fail(err, errlen, "checksum: not in a version 1 record") : 0;
	if (!json_is_string(v) || !hex64(json_string_value(v)))
		return fail(err, errlen, "checksum: expected the SHA-256 of the record (hex)");
	if (canonical_sum(root, want) < 0)
		return -ENOMEM;
	if (strcmp(want, json_string_value(v)) != 0)
		return fail(err, errlen, "checksum: does not match (damaged or partly written)");
	return 0;
}

int mg_authstate_parse(const char *buf, size_t len, struct mg_authstate *out, char *err,
                       size_t errlen)
{
	static const char *const keys[] = {
	    "version",  "failures", "locked_until", "last_totp_step", "fido2_counters",
	    "checksum", NULL};
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
	if (version != 1 && version != MG_AUTHSTATE_VERSION) {
		r = fail(err, errlen, "version: expected 1 or %d", MG_AUTHSTATE_VERSION);
		goto out;
	}
	if ((r = check_sum(root, version, err, errlen)) < 0)
		goto out;
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
	if (json_object_set_new(root, "version", json_integer(MG_AUTHSTATE_VERSION)) < 0 ||
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
	char sum[65];
	if ((r = canonical_sum(root, sum)) < 0)
		goto out;
	r = -ENOMEM;
	if (json_object_set_new(root, "checksum", json_string(sum)) < 0)
		goto out;
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

/* ---- the state file, format 3: two slots (authstate.h) ---- */

#define SLOT_MAGIC     "mynaguard-state "
#define SLOT_MAGIC_LEN 16u
#define SLOT_GEN_AT    22u /* after "mynaguard-state 3 gen " */
#define SLOT_LEN_AT    47u /* after " len " */

bool mg_authstate_gen_newer(uint64_t a, uint64_t b)
{
	uint64_t d = a - b;
	return d != 0 && d < (UINT64_C(1) << 63);
}

/* SHA-256 hex of the header and the record. 0 or -ENOMEM. */
static int slot_sum(const char *slot, const char *rec, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	         EVP_DigestUpdate(ctx, slot, MG_AUTHSTATE_SLOT_HDR) == 1 &&
	         EVP_DigestUpdate(ctx, rec, len) == 1 && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 &&
	         mdlen == SHA256_DIGEST_LENGTH;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return -ENOMEM;
	mg_hex_encode(md, SHA256_DIGEST_LENGTH, out);
	return 0;
}

int mg_authstate_slot_encode(const struct mg_authstate *st, uint64_t gen, char *slot,
                             size_t slot_size)
{
	char *text = NULL, sum[65];
	size_t len = 0;
	if (slot_size != MG_AUTHSTATE_SLOT_SMALL && slot_size != MG_AUTHSTATE_SLOT_LARGE)
		return -EINVAL;
	int r = mg_authstate_format(st, &text, &len);
	if (r < 0)
		return r;
	if (len > slot_size - MG_AUTHSTATE_SLOT_HDR - MG_AUTHSTATE_SLOT_TAIL) {
		r = -EFBIG;
		goto out;
	}
	memset(slot, 0, slot_size);
	int n =
	    snprintf(slot, slot_size, "mynaguard-state 3 gen %020" PRIu64 " len %05zu\n", gen, len);
	if (n != (int)MG_AUTHSTATE_SLOT_HDR) {
		r = -EINVAL;
		goto out;
	}
	memcpy(slot + MG_AUTHSTATE_SLOT_HDR, text, len);
	if ((r = slot_sum(slot, text, len, sum)) < 0)
		goto out;
	/* Last in the slot, so that a write cut short never carries its own checksum. */
	memcpy(slot + slot_size - MG_AUTHSTATE_SLOT_TAIL, "sha256 ", 7);
	memcpy(slot + slot_size - 64, sum, 64);
out:
	if (text)
		explicit_bzero(text, len);
	free(text);
	return r;
}

/* n decimal digits at p into *out, refusing overflow. */
static bool digits(const char *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		uint64_t d = (uint64_t)(p[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

/* One slot: its generation and record if the header is well-formed and the checksum holds. */
static int slot_decode(const char *slot, size_t size, uint64_t *gen, struct mg_authstate *st,
                       char *err, size_t errlen)
{
	char sum[65], hex[65];
	uint64_t g, len;
	if (memcmp(slot, "mynaguard-state 3 gen ", SLOT_GEN_AT) != 0 ||
	    !digits(slot + SLOT_GEN_AT, 20, &g) ||
	    memcmp(slot + SLOT_GEN_AT + 20, " len ", 5) != 0 ||
	    !digits(slot + SLOT_LEN_AT, 5, &len) || slot[MG_AUTHSTATE_SLOT_HDR - 1] != '\n' ||
	    len > size - MG_AUTHSTATE_SLOT_HDR - MG_AUTHSTATE_SLOT_TAIL)
		return fail(err, errlen, "header damaged or not written");
	memcpy(hex, slot + size - 64, 64);
	hex[64] = '\0';
	if (memcmp(slot + size - MG_AUTHSTATE_SLOT_TAIL, "sha256 ", 7) != 0 || !hex64(hex))
		return fail(err, errlen, "checksum damaged or not written");
	const char *rec = slot + MG_AUTHSTATE_SLOT_HDR;
	if (slot_sum(slot, rec, (size_t)len, sum) < 0)
		return -ENOMEM;
	if (memcmp(sum, hex, 64) != 0)
		return fail(err, errlen, "checksum does not match (damaged or partly written)");
	int r = mg_authstate_parse(rec, (size_t)len, st, err, errlen);
	if (r == 0)
		*gen = g;
	return r;
}

int mg_authstate_file_parse(const char *buf, size_t len, struct mg_authstate *out,
                            struct mg_authstate_where *where, char *err, size_t errlen)
{
	struct mg_authstate st[2];
	char e[2][160];
	uint64_t gen[2] = {0, 0};
	bool ok[2];
	int r;
	if (len > MG_AUTHSTATE_MAX_SIZE)
		return -EFBIG;
	if (len < SLOT_MAGIC_LEN || memcmp(buf, SLOT_MAGIC, SLOT_MAGIC_LEN) != 0) {
		/* Format 1 or 2: one JSON record, converted at the next write. */
		r = mg_authstate_parse(buf, len, &st[0], err, errlen);
		if (r < 0)
			return r == -EINVAL ? -EBADMSG : r;
		*out = st[0];
		memset(where, 0, sizeof(*where));
		return 0;
	}
	if (len != 2 * MG_AUTHSTATE_SLOT_SMALL && len != 2 * MG_AUTHSTATE_SLOT_LARGE) {
		set_err(err, errlen, "format 3: %zu bytes, expected %u or %u", len,
		        2 * MG_AUTHSTATE_SLOT_SMALL, 2 * MG_AUTHSTATE_SLOT_LARGE);
		return -EBADMSG;
	}
	size_t size = len / 2;
	for (unsigned i = 0; i < 2; i++) {
		r = slot_decode(buf + i * size, size, &gen[i], &st[i], e[i], sizeof(e[i]));
		if (r == -ENOMEM)
			return r;
		ok[i] = r == 0;
	}
	unsigned pick;
	if (ok[0] && ok[1]) {
		if (!mg_authstate_gen_newer(gen[0], gen[1]) &&
		    !mg_authstate_gen_newer(gen[1], gen[0])) {
			set_err(err, errlen, "format 3: both slots hold generation %" PRIu64,
			        gen[0]);
			return -EBADMSG;
		}
		pick = mg_authstate_gen_newer(gen[1], gen[0]) ? 1 : 0;
	} else if (ok[0] || ok[1]) {
		pick = ok[1] ? 1 : 0;
	} else {
		set_err(err, errlen, "format 3: no valid slot: slot 0: %s; slot 1: %s", e[0], e[1]);
		return -EBADMSG;
	}
	*out = st[pick];
	where->slot_size = size;
	where->slot = pick;
	where->gen = gen[pick];
	return 0;
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
	int dir_fd; /* state_dir, checked from / down: every file is opened relative to it */
	int lock_fd;
	int fd; /* the state file for writes in place (format 3, checked), else -1 */
	uid_t owner;
	char name[MG_PAM_USER_MAX + 8];  /* <user>.json */
	struct mg_authstate_where where; /* of the record read (slot_size 0: none or format 1/2) */
	struct mg_authstate st;
};

int mg_pam_dir_check(const char *dir, uid_t owner)
{
	int fd = mg_pam_dir_open(dir, owner, NULL, 0);
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

/*
 * A process whose file size limit could not hold a whole state file (up to 16 KiB: two slots)
 * would only lose its writes: refuse before anything is decided, so that no attempt is ever
 * evaluated without its result being stored.
 */
static int fsize_limit_ok(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_FSIZE, &rl) < 0)
		return -errno;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)MG_AUTHSTATE_MAX_SIZE)
		return -EFBIG;
	return 0;
}

static int open_txn(const char *state_dir, uid_t owner, const char *user,
                    struct mg_authstate_txn **out)
{
	char lock_name[MG_PAM_USER_MAX + 8];
	struct mg_authstate_txn *t = NULL;
	int r;
	if (!mg_pam_user_valid(user))
		return -EINVAL;
	if ((r = fsize_limit_ok()) < 0)
		return r;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->lock_fd = -1;
	t->dir_fd = -1;
	t->fd = -1;
	t->owner = owner;
	/* File names of the user (pam_user.h: collision-free, "Tanaka" -> "%54anaka.json"). */
	if (mg_pam_user_file(t->name, sizeof(t->name), user, ".json") < 0 ||
	    mg_pam_user_file(lock_name, sizeof(lock_name), user, ".lock") < 0) {
		r = -EINVAL;
		goto out;
	}
	t->dir_fd = mg_pam_dir_open(state_dir, owner, NULL, 0);
	if (t->dir_fd < 0) {
		r = t->dir_fd;
		goto out;
	}
	t->lock_fd = openat(t->dir_fd, lock_name,
	                    O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
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
	if ((r = mg_pam_lock_bounded(t->lock_fd)) < 0)
		goto out;
	*out = t;
	t = NULL;
out:
	mg_authstate_txn_end(&t);
	return r;
}

/*
 * The state file opened for writes in place: the same inode as the one read (same when NULL
 * is given), a regular file of the owner, 0600 or stricter, one link, exactly two slots. The
 * descriptor, or -1: the next commit then writes a whole new file.
 */
static int open_inplace(const struct mg_authstate_txn *t, const struct stat *read)
{
	struct stat st;
	int fd =
	    openat(t->dir_fd, t->name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != t->owner ||
	    (st.st_mode & 077) || st.st_nlink != 1 ||
	    st.st_size != (off_t)(2 * t->where.slot_size) ||
	    (read && (st.st_dev != read->st_dev || st.st_ino != read->st_ino))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads the state file under the lock: 0 (none yet: all zero), or negative errno. */
static int read_state(struct mg_authstate_txn *t, char *err, size_t errlen)
{
	char *data = NULL;
	size_t len = 0;
	struct stat rst;
	struct mg_file_rules rules = {
	    .owner = t->owner, .secret = true, .max_size = MG_AUTHSTATE_MAX_SIZE};
	int fd = mg_pam_open_at(t->dir_fd, t->name, &rules, NULL);
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	int r = fstat(fd, &rst) < 0 ? -errno : mg_read_fd(fd, MG_AUTHSTATE_MAX_SIZE, &data, &len);
	close(fd);
	if (r == 0)
		r = mg_authstate_file_parse(data, len, &t->st, &t->where, err, errlen);
	if (r == 0 && t->where.slot_size)
		t->fd = open_inplace(t, &rst);
	free(data);
	return r;
}

int mg_authstate_txn_begin(const char *state_dir, uid_t owner, const char *user,
                           struct mg_authstate_txn **out)
{
	struct mg_authstate_txn *t = NULL;
	char err[256];
	int r = open_txn(state_dir, owner, user, &t);
	if (r < 0)
		return r;
	if ((r = read_state(t, err, sizeof(err))) < 0) {
		mg_authstate_txn_end(&t);
		return r;
	}
	*out = t;
	return 0;
}

/* Takes what is well-formed in one JSON record into out (the larger value of each). */
static void salvage_json(const char *buf, size_t len, struct mg_authstate *out,
                         struct mg_authstate_repair *rep)
{
	json_error_t jerr;
	json_t *root = NULL, *v;
	const char *key;
	char e[8];
	uint64_t n;
	if (!buf || len > MG_AUTHSTATE_MAX_SIZE)
		return;
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(root))
		goto out;
	if (get_u53(json_object_get(root, "last_totp_step"), "s", &n, e, sizeof(e)) == 0) {
		if (!rep->step_kept || n > out->last_totp_step)
			out->last_totp_step = n;
		rep->step_kept = true;
	}
	json_t *ctr = json_object_get(root, "fido2_counters");
	if (!json_is_object(ctr))
		goto out;
	json_object_foreach(ctr, key, v)
	{
		if (!hex64(key) || get_u53(v, "c", &n, e, sizeof(e)) < 0)
			continue;
		uint64_t have = mg_authstate_counter_get(out, key);
		if (n >= have)
			(void)mg_authstate_counter_set(out, key,
			                               n); /* -ENOSPC: table full, dropped */
	}
out:
	json_decref(root);
}

void mg_authstate_salvage(const char *buf, size_t len, struct mg_authstate *out,
                          struct mg_authstate_repair *rep)
{
	memset(out, 0, sizeof(*out));
	memset(rep, 0, sizeof(*rep));
	rep->repaired = true;
	if (buf && len <= MG_AUTHSTATE_MAX_SIZE && len >= SLOT_MAGIC_LEN &&
	    memcmp(buf, SLOT_MAGIC, SLOT_MAGIC_LEN) == 0) {
		/* Format 3: the record of each slot, whatever its header says, up to the padding.
		 */
		size_t size = len >= 2 * MG_AUTHSTATE_SLOT_LARGE ? MG_AUTHSTATE_SLOT_LARGE
		                                                 : MG_AUTHSTATE_SLOT_SMALL;
		for (size_t off = 0; off + MG_AUTHSTATE_SLOT_HDR < len && off < 2 * size;
		     off += size) {
			const char *rec = buf + off + MG_AUTHSTATE_SLOT_HDR;
			size_t n = len - off - MG_AUTHSTATE_SLOT_HDR;
			if (n > size - MG_AUTHSTATE_SLOT_HDR - MG_AUTHSTATE_SLOT_TAIL)
				n = size - MG_AUTHSTATE_SLOT_HDR - MG_AUTHSTATE_SLOT_TAIL;
			const char *nul = memchr(rec, '\0', n);
			salvage_json(rec, nul ? (size_t)(nul - rec) : n, out, rep);
		}
	} else {
		salvage_json(buf, len, out, rep);
	}
	rep->counters_kept = out->ncounters;
	rep->fresh = !rep->step_kept && rep->counters_kept == 0;
}

int mg_authstate_txn_begin_repair(const char *state_dir, uid_t owner, const char *user,
                                  struct mg_authstate_txn **out, struct mg_authstate_repair *rep)
{
	struct mg_authstate_txn *t = NULL;
	char err[256], *data = NULL;
	size_t len = 0;
	memset(rep, 0, sizeof(*rep));
	int r = open_txn(state_dir, owner, user, &t);
	if (r < 0)
		return r;
	r = read_state(t, err, sizeof(err));
	if (r == -EBADMSG || r == -EFBIG) {
		/* Damaged: read it once more as bytes (still a safe regular file) and keep what
		 * can be kept. */
		struct mg_file_rules rules = {
		    .owner = owner, .secret = true, .max_size = MG_AUTHSTATE_MAX_SIZE};
		if (mg_pam_read_at(t->dir_fd, t->name, &rules, &data, &len, NULL) < 0) {
			data = NULL;
			len = 0;
		}
		mg_authstate_salvage(data, len, &t->st, rep);
		free(data);
		r = 0;
	} else if (r == -EPERM || r == -ELOOP || r == -EINVAL) {
		/* Not a file root may trust (owner, mode, symlink): nothing is read from it. */
		mg_authstate_salvage(NULL, 0, &t->st, rep);
		r = 0;
	}
	if (r < 0) {
		mg_authstate_txn_end(&t);
		return r;
	}
	*out = t;
	return 0;
}

struct mg_authstate *mg_authstate_txn_state(struct mg_authstate_txn *txn)
{
	return &txn->st;
}

/* Every byte at off or an error: a short write (RLIMIT_FSIZE, a full disk) is never done. */
static int pwrite_all(int fd, const char *p, size_t len, off_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

int mg_authstate_txn_commit(struct mg_authstate_txn *txn)
{
	/* Both slots: slot 0 the record, slot 1 empty when a whole file is written. */
	char buf[2 * MG_AUTHSTATE_SLOT_LARGE];
	uint64_t gen = txn->where.gen + 1; /* mod 2^64; 1 for a new or converted file */
	size_t size = txn->where.slot_size;
	int r = -EFBIG;
	if (txn->fd >= 0) {
		/* In place: the slot not holding the current record, one pwrite, one fdatasync. A
		 * torn write damages only that slot; the current one stays the record read. */
		unsigned to = 1 - txn->where.slot;
		r = mg_authstate_slot_encode(&txn->st, gen, buf, size);
		if (r == 0) {
			r = pwrite_all(txn->fd, buf, size, (off_t)(to * size));
			if (r == 0 && fdatasync(txn->fd) < 0)
				r = -errno;
			if (r == 0) {
				txn->where.slot = to;
				txn->where.gen = gen;
			}
		}
		if (r != -EFBIG || size == MG_AUTHSTATE_SLOT_LARGE)
			goto out;
	}
	/* A new file, a format 1/2 file, or a record that outgrew its slots: a whole new file. */
	size = MG_AUTHSTATE_SLOT_SMALL;
	r = mg_authstate_slot_encode(&txn->st, gen, buf, size);
	if (r == -EFBIG) {
		size = MG_AUTHSTATE_SLOT_LARGE;
		r = mg_authstate_slot_encode(&txn->st, gen, buf, size);
	}
	if (r < 0)
		goto out;
	memset(buf + size, 0, size);
	if ((r = mg_pam_write_at(txn->dir_fd, txn->name, buf, 2 * size, 0600)) < 0)
		goto out;
	txn->where.slot_size = size;
	txn->where.slot = 0;
	txn->where.gen = gen;
	if (txn->fd >= 0)
		close(txn->fd);
	txn->fd = open_inplace(txn, NULL);
out:
	explicit_bzero(buf, sizeof(buf));
	return r;
}

void mg_authstate_txn_end(struct mg_authstate_txn **txn)
{
	if (!txn || !*txn)
		return;
	if ((*txn)->fd >= 0)
		close((*txn)->fd);
	if ((*txn)->lock_fd >= 0)
		close((*txn)->lock_fd); /* releases the flock */
	if ((*txn)->dir_fd >= 0)
		close((*txn)->dir_fd);
	free(*txn);
	*txn = NULL;
}
