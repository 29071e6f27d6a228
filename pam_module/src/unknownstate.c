/* The bounded failure table of user names without an account (format: unknownstate.h). */
#include "unknownstate.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "safe_dir.h"

#define MAGIC     "MGUNKN01"
#define KEY_LEN   32u
#define TAG_LEN   16u
#define MAC_LEN   16u
#define MAC_INPUT 48u /* tag, failures, locked_until, last_used, 8 zero bytes */

struct mg_unknown_txn {
	int lock_fd;
	int dirfd;          /* state_dir, checked from / down */
	unsigned char *tab; /* the whole table (MG_UNKNOWN_FILE_SIZE bytes) */
	unsigned char key[KEY_LEN];
	unsigned char tag[TAG_LEN];
	uint64_t slot; /* index of the name's slot */
	uint64_t now;
	struct mg_authstate st;
};

static void put_u64(unsigned char *p, uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* HMAC-SHA256(key, a || b) of at most 56 bytes. */
static int hmac(const unsigned char key[KEY_LEN], const unsigned char *a, size_t alen,
                const unsigned char *b, size_t blen, unsigned char out[32])
{
	unsigned char buf[8 + MAC_INPUT];
	unsigned int len = 0;
	int r = 0;
	if (alen + blen > sizeof(buf))
		return -EINVAL;
	memcpy(buf, a, alen);
	memcpy(buf + alen, b, blen);
	if (!HMAC(EVP_sha256(), key, KEY_LEN, buf, alen + blen, out, &len) || len != 32)
		r = -EIO;
	explicit_bzero(buf, sizeof(buf));
	return r;
}

static int slot_mac(const unsigned char key[KEY_LEN], uint64_t index, const unsigned char *slot,
                    unsigned char out[MAC_LEN])
{
	unsigned char idx[8], full[32];
	put_u64(idx, index);
	int r = hmac(key, idx, sizeof(idx), slot, MAC_INPUT, full);
	memcpy(out, full, MAC_LEN);
	return r;
}

static bool all_zero(const unsigned char *p, size_t n)
{
	unsigned char acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/* A regular file of owner, one link, nothing for group/others. */
static int check_fd(int fd, uid_t owner, struct stat *st)
{
	if (fstat(fd, st) < 0)
		return -errno;
	if (!S_ISREG(st->st_mode))
		return -EINVAL;
	if (st->st_uid != owner || (st->st_mode & 077) || st->st_nlink != 1)
		return -EPERM;
	return 0;
}

/* A new table: the header with a fresh key, every slot empty. Written whole. */
static int create_table(int dirfd)
{
	unsigned char *buf = calloc(1, MG_UNKNOWN_FILE_SIZE);
	if (!buf)
		return -ENOMEM;
	int r = 0;
	memcpy(buf, MAGIC, 8);
	if (getrandom(buf + 8, KEY_LEN, 0) != (ssize_t)KEY_LEN)
		r = -EIO;
	else
		r = mg_pam_write_at(dirfd, MG_UNKNOWN_FILE, buf, MG_UNKNOWN_FILE_SIZE, 0600);
	explicit_bzero(buf, MG_UNKNOWN_HEADER);
	free(buf);
	return r;
}

/* Reads the whole table (a regular file of owner, 0600, one link, of the exact size). */
static int read_table(int dirfd, uid_t owner, unsigned char *tab)
{
	int fd = openat(dirfd, MG_UNKNOWN_FILE,
	                O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	struct stat st;
	int r = check_fd(fd, owner, &st);
	if (r == 0 && st.st_size != (off_t)MG_UNKNOWN_FILE_SIZE)
		r = -EBADMSG;
	if (r == 0) {
		ssize_t n = pread(fd, tab, MG_UNKNOWN_FILE_SIZE, 0);
		r = n < 0 ? -errno : (size_t)n == MG_UNKNOWN_FILE_SIZE ? 0 : -EBADMSG;
	}
	close(fd);
	return r;
}

/*
 * Sets the name's slot to the txn's state and replaces the table all or nothing (temporary
 * file, every byte written, fsync, renameat, fsync of the directory): the same kind of write
 * as a known user's state, so that both cost about the same.
 */
static int write_slot(struct mg_unknown_txn *t)
{
	unsigned char *slot = t->tab + MG_UNKNOWN_HEADER + t->slot * MG_UNKNOWN_SLOT;
	memset(slot, 0, MG_UNKNOWN_SLOT);
	memcpy(slot, t->tag, TAG_LEN);
	put_u64(slot + 16, t->st.failures);
	put_u64(slot + 24, t->st.locked_until);
	put_u64(slot + 32, t->now);
	int r = slot_mac(t->key, t->slot, slot, slot + MAC_INPUT);
	if (r < 0)
		return r;
	return mg_pam_write_at(t->dirfd, MG_UNKNOWN_FILE, t->tab, MG_UNKNOWN_FILE_SIZE, 0600);
}

/* Finds name's slot in its bucket (or the one it takes) and reads its state. */
static int find_slot(struct mg_unknown_txn *t, const char *name, uint64_t deny_after,
                     uint64_t unlock_after)
{
	unsigned char full[32];
	static const unsigned char prefix[] = "name"; /* with its NUL */
	unsigned char digest[32];
	/* Names of any length: the HMAC of "name\0" || SHA-256(name). */
	if (!EVP_Digest(name, strlen(name), digest, NULL, EVP_sha256(), NULL))
		return -EIO;
	int r = hmac(t->key, prefix, sizeof(prefix), digest, sizeof(digest), full);
	if (r < 0)
		return r;
	memcpy(t->tag, full, TAG_LEN);
	uint64_t b = get_u64(full + 16) % MG_UNKNOWN_BUCKETS;
	uint64_t first = b * MG_UNKNOWN_WAYS;
	const unsigned char *bucket = t->tab + MG_UNKNOWN_HEADER + first * MG_UNKNOWN_SLOT;
	int empty = -1, torn = -1, victim = -1;
	uint64_t victim_key = UINT64_MAX;
	bool victim_locked = true;
	for (unsigned w = 0; w < MG_UNKNOWN_WAYS; w++) {
		const unsigned char *s = bucket + w * MG_UNKNOWN_SLOT;
		unsigned char mac[MAC_LEN];
		if (all_zero(s, MG_UNKNOWN_SLOT)) {
			if (empty < 0)
				empty = (int)w;
			continue;
		}
		if ((r = slot_mac(t->key, first + w, s, mac)) < 0)
			return r;
		if (CRYPTO_memcmp(mac, s + MAC_INPUT, MAC_LEN) != 0) {
			if (torn < 0)
				torn = (int)w;
			continue;
		}
		uint64_t locked_until = get_u64(s + 24), used = get_u64(s + 32);
		if (CRYPTO_memcmp(s, t->tag, TAG_LEN) == 0) {
			t->slot = first + w;
			t->st.failures = get_u64(s + 16);
			t->st.locked_until = locked_until;
			return 0;
		}
		/* The victim: least recently used unlocked slot, else the lockout ending first. */
		bool locked = locked_until > t->now;
		uint64_t key = locked ? locked_until : used;
		if ((victim_locked && !locked) || (locked == victim_locked && key < victim_key)) {
			victim = (int)w;
			victim_key = key;
			victim_locked = locked;
		}
	}
	if (torn >= 0) { /* perhaps this name's, torn: locked, and written so now */
		t->slot = first + (uint64_t)torn;
		t->st.failures = deny_after;
		t->st.locked_until = MG_JSON_INT_MAX;
		if (unlock_after != 0 && t->now < MG_JSON_INT_MAX - unlock_after)
			t->st.locked_until = t->now + unlock_after;
		return write_slot(t);
	}
	if (empty < 0 && victim < 0)
		return -EIO; /* cannot happen: every slot is empty, torn or someone else's */
	t->slot = first + (uint64_t)(empty >= 0 ? empty : victim);
	return 0;
}

int mg_unknown_txn_begin(const char *state_dir, uid_t owner, const char *name, uint64_t now,
                         uint64_t deny_after, uint64_t unlock_after, struct mg_unknown_txn **out)
{
	struct mg_unknown_txn *t = calloc(1, sizeof(*t));
	struct stat st;
	int r;

	if (!t)
		return -ENOMEM;
	t->lock_fd = -1;
	t->now = now;
	t->dirfd = mg_pam_dir_open(state_dir, owner, NULL, 0);
	if (t->dirfd < 0) {
		r = t->dirfd;
		goto out;
	}
	t->lock_fd = openat(t->dirfd, MG_UNKNOWN_LOCK,
	                    O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
	if (t->lock_fd < 0) {
		r = -errno;
		goto out;
	}
	if ((r = check_fd(t->lock_fd, owner, &st)) < 0 || (r = mg_pam_lock_bounded(t->lock_fd)) < 0)
		goto out;
	if (!(t->tab = malloc(MG_UNKNOWN_FILE_SIZE))) {
		r = -ENOMEM;
		goto out;
	}
	r = read_table(t->dirfd, owner, t->tab);
	if (r == -ENOENT && (r = create_table(t->dirfd)) == 0)
		r = read_table(t->dirfd, owner, t->tab);
	if (r < 0)
		goto out;
	if (memcmp(t->tab, MAGIC, 8) != 0 || !all_zero(t->tab + 8 + KEY_LEN, 24)) {
		r = -EBADMSG;
		goto out;
	}
	memcpy(t->key, t->tab + 8, KEY_LEN);
	if ((r = find_slot(t, name, deny_after, unlock_after)) < 0)
		goto out;
	*out = t;
	t = NULL;
out:
	mg_unknown_txn_end(&t);
	return r;
}

struct mg_authstate *mg_unknown_txn_state(struct mg_unknown_txn *txn)
{
	return &txn->st;
}

int mg_unknown_txn_commit(struct mg_unknown_txn *txn)
{
	return write_slot(txn);
}

void mg_unknown_txn_end(struct mg_unknown_txn **txn)
{
	if (!txn || !*txn)
		return;
	if ((*txn)->dirfd >= 0)
		close((*txn)->dirfd);
	if ((*txn)->lock_fd >= 0)
		close((*txn)->lock_fd); /* releases the flock */
	if ((*txn)->tab) {
		explicit_bzero((*txn)->tab, MG_UNKNOWN_HEADER);
		free((*txn)->tab);
	}
	explicit_bzero((*txn)->key, sizeof((*txn)->key));
	free(*txn);
	*txn = NULL;
}
