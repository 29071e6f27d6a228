/* The event spool: segments, recovery, append, read, acknowledgement (see spool.h). */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_MAX     (256u * 1024u * 1024u)
#define DEFAULT_SEGMENT (1024u * 1024u)
#define MAX_SEGMENTS    (1u << 20)

/* The events of one boot inside one segment. */
struct seg_boot {
	char boot_id[MG_SPOOL_BOOT_ID_LEN + 1];
	uint64_t min_seq, max_seq;
};

struct seg {
	uint64_t no; /* file name: %016x.seg */
	uint64_t bytes;
	struct seg_boot *boots;
	size_t nb;
};

struct ack {
	char boot_id[MG_SPOOL_BOOT_ID_LEN + 1];
	uint64_t acked;
};

struct mg_spool {
	int dfd;
	char boot_id[MG_SPOOL_BOOT_ID_LEN + 1];
	uint64_t max_bytes, seg_bytes, total;
	struct seg *segs;
	size_t ns, cap;
	int fd; /* the last segment, for appending; -1 until needed */
	uint64_t last_seq;
	uint8_t last_hash[32];
	bool have_hash;
	bool dirty, dir_dirty;
	uint64_t dropped_routine, dropped_security;
	uint8_t *buf;
	size_t bufcap;
	struct ack *acks;
	size_t nacks;
};

static void seg_name(uint64_t no, char name[32])
{
	snprintf(name, 32, "%016" PRIx64 ".seg", no);
}

static bool parse_seg_name(const char *s, uint64_t *no)
{
	if (strlen(s) != 20 || strcmp(s + 16, ".seg") != 0)
		return false;
	uint64_t v = 0;
	for (int i = 0; i < 16; i++) {
		char c = s[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*no = v;
	return true;
}

static int by_no(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;
	return x->no < y->no ? -1 : x->no > y->no;
}

static uint64_t acked_of(const struct mg_spool *sp, const char *boot_id)
{
	for (size_t i = 0; i < sp->nacks; i++)
		if (strcmp(sp->acks[i].boot_id, boot_id) == 0)
			return sp->acks[i].acked;
	return 0;
}

/* Notes that segment s holds seq of boot_id. */
static int seg_note(struct seg *s, const char *boot_id, uint64_t seq)
{
	if (s->nb && strcmp(s->boots[s->nb - 1].boot_id, boot_id) == 0) {
		struct seg_boot *b = &s->boots[s->nb - 1];
		if (seq > b->max_seq)
			b->max_seq = seq;
		if (seq < b->min_seq)
			b->min_seq = seq;
		return 0;
	}
	struct seg_boot *nb = realloc(s->boots, (s->nb + 1) * sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	s->boots = nb;
	memcpy(nb[s->nb].boot_id, boot_id, MG_SPOOL_BOOT_ID_LEN + 1);
	nb[s->nb].min_seq = nb[s->nb].max_seq = seq;
	s->nb++;
	return 0;
}

/* Reads segment s into a new buffer (*data, *len). */
static int read_seg(struct mg_spool *sp, const struct seg *s, uint8_t **data, size_t *len)
{
	char name[32];
	seg_name(s->no, name);
	int fd = openat(sp->dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	size_t n = (size_t)st.st_size, got = 0;
	uint8_t *b = malloc(n ? n : 1);
	if (!b) {
		close(fd);
		return -ENOMEM;
	}
	while (got < n) {
		ssize_t r = pread(fd, b + got, n - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r < 0 ? -errno : -EIO;
			free(b);
			close(fd);
			return e;
		}
		got += (size_t)r;
	}
	close(fd);
	*data = b;
	*len = n;
	return 0;
}

/* Scans segment s, cuts what follows the last intact record, notes boots and this boot's
 * chain. */
static int recover_seg(struct mg_spool *sp, struct seg *s, struct mg_spool_recovery *rec)
{
	uint8_t *data = NULL;
	size_t len = 0, off = 0;
	int r = read_seg(sp, s, &data, &len);
	if (r < 0)
		return r;
	char why[96] = "";
	while (off < len) {
		struct mg_spool_record rr;
		size_t used = 0;
		r = mg_spool_record_decode(data + off, len - off, &rr, &used, why, sizeof(why));
		if (r == -EAGAIN) {
			snprintf(why, sizeof(why), "torn record at the end");
			break;
		}
		if (r < 0)
			break;
		const bool mine = strcmp(rr.boot_id, sp->boot_id) == 0;
		uint8_t h[32];
		mg_spool_payload_hash(rr.payload, rr.len, h);
		if (mine && sp->have_hash &&
		    (rr.seq != sp->last_seq + 1 || memcmp(rr.prev, sp->last_hash, 32) != 0)) {
			snprintf(why, sizeof(why), "seq %" PRIu64 " does not follow the chain",
			         rr.seq);
			break;
		}
		if ((r = seg_note(s, rr.boot_id, rr.seq)) < 0) {
			free(data);
			return r;
		}
		if (mine) {
			sp->last_seq = rr.seq;
			memcpy(sp->last_hash, h, 32);
			sp->have_hash = true;
		}
		rec->records++;
		off += used;
	}
	free(data);
	if (off < len) {
		char name[32];
		seg_name(s->no, name);
		int fd = openat(sp->dfd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 || ftruncate(fd, (off_t)off) < 0 || fsync(fd) < 0) {
			r = -errno;
			if (fd >= 0)
				close(fd);
			return r;
		}
		close(fd);
		rec->cut_bytes += len - off;
		if (!rec->cut_why[0])
			snprintf(rec->cut_why, sizeof(rec->cut_why), "%s: %s", name, why);
	}
	s->bytes = off;
	sp->total += off;
	return 0;
}

void mg_spool_close(struct mg_spool **psp)
{
	struct mg_spool *sp = psp ? *psp : NULL;
	if (!sp)
		return;
	(void)mg_spool_sync(sp);
	if (sp->fd >= 0)
		close(sp->fd);
	if (sp->dfd >= 0)
		close(sp->dfd);
	for (size_t i = 0; i < sp->ns; i++)
		free(sp->segs[i].boots);
	free(sp->segs);
	free(sp->buf);
	free(sp->acks);
	free(sp);
	*psp = NULL;
}

int mg_spool_open(const struct mg_spool_opts *o, struct mg_spool **out,
                  struct mg_spool_recovery *rec, char *err, size_t errlen)
{
	struct mg_spool_recovery dummy;
	if (!rec)
		rec = &dummy;
	memset(rec, 0, sizeof(*rec));
	if (!o || !o->dir || !o->boot_id || strlen(o->boot_id) != MG_SPOOL_BOOT_ID_LEN) {
		snprintf(err, errlen, "spool: invalid options");
		return -EINVAL;
	}
	struct mg_spool *sp = calloc(1, sizeof(*sp));
	if (!sp)
		return -ENOMEM;
	sp->fd = -1;
	sp->max_bytes = o->max_bytes ? o->max_bytes : DEFAULT_MAX;
	sp->seg_bytes = o->segment_bytes ? o->segment_bytes : DEFAULT_SEGMENT;
	memcpy(sp->boot_id, o->boot_id, MG_SPOOL_BOOT_ID_LEN + 1);
	int r;
	if (mkdir(o->dir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		snprintf(err, errlen, "spool: cannot create %s: %s", o->dir, strerror(-r));
		goto fail;
	}
	sp->dfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (sp->dfd < 0) {
		r = -errno;
		snprintf(err, errlen, "spool: cannot open %s: %s", o->dir, strerror(-r));
		goto fail;
	}
	int lfd = dup(sp->dfd);
	DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
	if (!d) {
		r = -errno;
		if (lfd >= 0)
			close(lfd);
		snprintf(err, errlen, "spool: cannot list %s: %s", o->dir, strerror(-r));
		goto fail;
	}
	struct dirent *e;
	r = 0;
	while ((e = readdir(d))) {
		uint64_t no;
		if (!parse_seg_name(e->d_name, &no))
			continue;
		if (sp->ns == sp->cap) {
			size_t nc = sp->cap ? 2 * sp->cap : 16;
			struct seg *v =
			    nc <= MAX_SEGMENTS ? realloc(sp->segs, nc * sizeof(*v)) : NULL;
			if (!v) {
				r = -ENOMEM;
				break;
			}
			sp->segs = v;
			sp->cap = nc;
		}
		memset(&sp->segs[sp->ns], 0, sizeof(sp->segs[0]));
		sp->segs[sp->ns++].no = no;
	}
	closedir(d);
	if (r < 0) {
		snprintf(err, errlen, "spool: out of memory");
		goto fail;
	}
	if (sp->ns > 1)
		qsort(sp->segs, sp->ns, sizeof(*sp->segs), by_no);
	for (size_t i = 0; i < sp->ns; i++) {
		if ((r = recover_seg(sp, &sp->segs[i], rec)) < 0) {
			snprintf(err, errlen, "spool: cannot recover segment %zu: %s", i,
			         strerror(-r));
			goto fail;
		}
	}
	*out = sp;
	return 0;
fail:
	mg_spool_close(&sp);
	return r;
}

uint64_t mg_spool_next_seq(const struct mg_spool *sp)
{
	return sp->last_seq + 1;
}

/* Opens the last segment for appending, or starts a new one when it is full. */
static int writable_seg(struct mg_spool *sp, size_t need)
{
	struct seg *last = sp->ns ? &sp->segs[sp->ns - 1] : NULL;
	if (last && sp->fd >= 0 && (last->bytes == 0 || last->bytes + need <= sp->seg_bytes))
		return 0;
	if (last && sp->fd < 0 && last->bytes + need <= sp->seg_bytes) {
		char name[32];
		seg_name(last->no, name);
		sp->fd = openat(sp->dfd, name, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
		return sp->fd < 0 ? -errno : 0;
	}
	if (sp->fd >= 0) { /* the full segment: durable before the next one starts */
		if (sp->dirty && fdatasync(sp->fd) < 0)
			return -errno;
		sp->dirty = false;
		close(sp->fd);
		sp->fd = -1;
	}
	const uint64_t no = last ? last->no + 1 : 1; /* before the array may move */
	if (sp->ns == sp->cap) {
		size_t nc = sp->cap ? 2 * sp->cap : 16;
		struct seg *v = nc <= MAX_SEGMENTS ? realloc(sp->segs, nc * sizeof(*v)) : NULL;
		if (!v)
			return -ENOMEM;
		sp->segs = v;
		sp->cap = nc;
	}
	struct seg *s = &sp->segs[sp->ns];
	memset(s, 0, sizeof(*s));
	s->no = no;
	char name[32];
	seg_name(s->no, name);
	sp->fd = openat(sp->dfd, name,
	                O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (sp->fd < 0)
		return -errno;
	sp->ns++;
	sp->dir_dirty = true;
	return 0;
}

bool mg_spool_fits(const struct mg_spool *sp, size_t len, uint8_t flags)
{
	const uint64_t limit = (flags & MG_SPOOL_SECURITY) ? sp->max_bytes : sp->max_bytes / 10 * 9;
	return sp->total + mg_spool_record_size(len) <= limit;
}

int mg_spool_append(struct mg_spool *sp, const char *json, size_t len, uint64_t seq, uint8_t flags,
                    bool sync, uint8_t hash[32])
{
	if (!sp || !json || len == 0 || len > MG_SPOOL_MAX_PAYLOAD || seq != sp->last_seq + 1 ||
	    (flags & ~MG_SPOOL_SECURITY))
		return -EINVAL;
	const size_t size = mg_spool_record_size(len);
	const bool security = flags & MG_SPOOL_SECURITY;
	const uint64_t limit = security ? sp->max_bytes : sp->max_bytes / 10 * 9;
	if (sp->total + size > limit) {
		if (security)
			sp->dropped_security++;
		else
			sp->dropped_routine++;
		return -ENOSPC;
	}
	if (size > sp->bufcap) {
		uint8_t *b = realloc(sp->buf, size);
		if (!b)
			return -ENOMEM;
		sp->buf = b;
		sp->bufcap = size;
	}
	struct mg_spool_record r = {
	    .flags = flags, .seq = seq, .payload = json, .len = (uint32_t)len};
	memcpy(r.boot_id, sp->boot_id, sizeof(r.boot_id));
	if (sp->have_hash)
		memcpy(r.prev, sp->last_hash, 32);
	int e = mg_spool_record_encode(&r, sp->buf, size);
	if (e < 0)
		return e;
	if ((e = writable_seg(sp, size)) < 0)
		return e;
	struct seg *s = &sp->segs[sp->ns - 1];
	size_t done = 0;
	while (done < size) {
		ssize_t w = write(sp->fd, sp->buf + done, size - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			e = w < 0 ? -errno : -EIO;
			/* Nothing of a record that is not whole stays in the file. */
			if (ftruncate(sp->fd, (off_t)s->bytes) < 0)
				e = -errno;
			return e;
		}
		done += (size_t)w;
	}
	if ((e = seg_note(s, sp->boot_id, seq)) < 0)
		return e;
	s->bytes += size;
	sp->total += size;
	sp->last_seq = seq;
	mg_spool_payload_hash(json, len, sp->last_hash);
	sp->have_hash = true;
	sp->dirty = true;
	if (hash)
		memcpy(hash, sp->last_hash, 32);
	return sync ? mg_spool_sync(sp) : 0;
}

int mg_spool_sync(struct mg_spool *sp)
{
	if (sp->fd >= 0 && sp->dirty) {
		if (fdatasync(sp->fd) < 0)
			return -errno;
		sp->dirty = false;
	}
	if (sp->dir_dirty) {
		if (fsync(sp->dfd) < 0)
			return -errno;
		sp->dir_dirty = false;
	}
	return 0;
}

int mg_spool_read(struct mg_spool *sp, const char *boot_id, uint64_t after_seq, size_t max_events,
                  size_t max_bytes, mg_spool_cb cb, void *ctx)
{
	size_t n = 0, bytes = 0;
	uint8_t prev_hash[32];
	bool have_prev = false;
	for (size_t i = 0; i < sp->ns && n < max_events; i++) {
		const struct seg *s = &sp->segs[i];
		bool wanted = false;
		for (size_t b = 0; b < s->nb; b++)
			wanted |= strcmp(s->boots[b].boot_id, boot_id) == 0 &&
			          s->boots[b].max_seq > after_seq;
		if (!wanted)
			continue;
		if (sp->fd >= 0 && sp->dirty && i == sp->ns - 1) {
			int e = mg_spool_sync(sp); /* never send what is not on disk */
			if (e < 0)
				return e;
		}
		uint8_t *data = NULL;
		size_t len = 0, off = 0;
		int r = read_seg(sp, s, &data, &len);
		if (r < 0)
			return r;
		while (off < len && n < max_events) {
			struct mg_spool_record rec;
			size_t used = 0;
			if (mg_spool_record_decode(data + off, len - off, &rec, &used, NULL, 0) < 0)
				break; /* changed under us: what follows is not sent */
			off += used;
			if (strcmp(rec.boot_id, boot_id) != 0)
				continue;
			uint8_t h[32];
			mg_spool_payload_hash(rec.payload, rec.len, h);
			if (rec.seq > after_seq) {
				if (n > 0 && bytes + rec.len > max_bytes)
					break;
				if (have_prev && memcmp(rec.prev, prev_hash, 32) != 0)
					break; /* never send a broken chain */
				if ((r = cb(ctx, &rec, h)) < 0) {
					free(data);
					return r;
				}
				n++;
				bytes += rec.len;
			}
			memcpy(prev_hash, h, 32);
			have_prev = true;
		}
		free(data);
		if (n > 0 && bytes >= max_bytes)
			break;
	}
	return (int)n;
}

int mg_spool_ack(struct mg_spool *sp, const char *boot_id, uint64_t acked_through)
{
	size_t i;
	for (i = 0; i < sp->nacks; i++)
		if (strcmp(sp->acks[i].boot_id, boot_id) == 0)
			break;
	if (i == sp->nacks) {
		struct ack *v = realloc(sp->acks, (sp->nacks + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
		sp->acks = v;
		snprintf(v[i].boot_id, sizeof(v[i].boot_id), "%s", boot_id);
		v[i].acked = 0;
		sp->nacks++;
	}
	if (acked_through > sp->acks[i].acked)
		sp->acks[i].acked = acked_through;
	/* Delete whole segments from the oldest while everything in them is acknowledged. The
	 * last segment stays: its last record carries this boot's seq and chain across a
	 * restart (seq is never reused within a boot). */
	size_t del = 0;
	while (del + 1 < sp->ns) {
		const struct seg *s = &sp->segs[del];
		bool done = true;
		for (size_t b = 0; b < s->nb && done; b++)
			done = s->boots[b].max_seq <= acked_of(sp, s->boots[b].boot_id);
		if (!done)
			break;
		del++;
	}
	for (size_t k = 0; k < del; k++) {
		struct seg *s = &sp->segs[k];
		char name[32];
		seg_name(s->no, name);
		if (unlinkat(sp->dfd, name, 0) < 0 && errno != ENOENT)
			return -errno;
		sp->total -= s->bytes;
		free(s->boots);
	}
	if (del) {
		memmove(sp->segs, sp->segs + del, (sp->ns - del) * sizeof(*sp->segs));
		sp->ns -= del;
		sp->dir_dirty = true;
	}
	return mg_spool_sync(sp);
}

bool mg_spool_pending(const struct mg_spool *sp, char boot_id[MG_SPOOL_BOOT_ID_LEN + 1],
                      uint64_t *acked)
{
	return mg_spool_pending_except(sp, NULL, 0, boot_id, acked);
}

bool mg_spool_pending_except(const struct mg_spool *sp,
                             const char (*skip)[MG_SPOOL_BOOT_ID_LEN + 1], size_t nskip,
                             char boot_id[MG_SPOOL_BOOT_ID_LEN + 1], uint64_t *acked)
{
	for (size_t i = 0; i < sp->ns; i++)
		for (size_t b = 0; b < sp->segs[i].nb; b++) {
			const struct seg_boot *sb = &sp->segs[i].boots[b];
			bool skipped = false;
			for (size_t k = 0; k < nskip && !skipped; k++)
				skipped = strcmp(skip[k], sb->boot_id) == 0;
			uint64_t a = acked_of(sp, sb->boot_id);
			if (!skipped && sb->max_seq > a) {
				memcpy(boot_id, sb->boot_id, MG_SPOOL_BOOT_ID_LEN + 1);
				*acked = a;
				return true;
			}
		}
	return false;
}

uint64_t mg_spool_acked(const struct mg_spool *sp, const char *boot_id)
{
	return acked_of(sp, boot_id);
}

uint64_t mg_spool_first_seq(const struct mg_spool *sp, const char *boot_id)
{
	for (size_t i = 0; i < sp->ns; i++)
		for (size_t b = 0; b < sp->segs[i].nb; b++)
			if (strcmp(sp->segs[i].boots[b].boot_id, boot_id) == 0)
				return sp->segs[i].boots[b].min_seq;
	return 0;
}

uint64_t mg_spool_bytes(const struct mg_spool *sp)
{
	return sp->total;
}

uint64_t mg_spool_unacked(const struct mg_spool *sp)
{
	uint64_t n = 0;
	for (size_t i = 0; i < sp->ns; i++)
		for (size_t b = 0; b < sp->segs[i].nb; b++) {
			const struct seg_boot *sb = &sp->segs[i].boots[b];
			uint64_t a = acked_of(sp, sb->boot_id);
			if (sb->max_seq > a)
				n += sb->max_seq - (sb->min_seq > a ? sb->min_seq - 1 : a);
		}
	return n;
}

void mg_spool_take_dropped(struct mg_spool *sp, uint64_t *routine, uint64_t *security)
{
	*routine = sp->dropped_routine;
	*security = sp->dropped_security;
	sp->dropped_routine = sp->dropped_security = 0;
}

int mg_spool_scan(const char *dir, mg_spool_cb cb, void *ctx, char *err, size_t errlen)
{
	struct mg_spool sp = {.fd = -1};
	sp.dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (sp.dfd < 0) {
		int e = -errno;
		snprintf(err, errlen, "cannot open %s: %s", dir, strerror(-e));
		return e;
	}
	int lfd = dup(sp.dfd);
	DIR *d = lfd >= 0 ? fdopendir(lfd) : NULL;
	int r = 0;
	if (!d) {
		r = -errno;
		if (lfd >= 0)
			close(lfd);
		snprintf(err, errlen, "cannot list %s: %s", dir, strerror(-r));
		close(sp.dfd);
		return r;
	}
	struct dirent *e;
	while ((e = readdir(d)) && r == 0) {
		uint64_t no;
		if (!parse_seg_name(e->d_name, &no))
			continue;
		struct seg *v =
		    sp.ns < MAX_SEGMENTS ? realloc(sp.segs, (sp.ns + 1) * sizeof(*v)) : NULL;
		if (!v) {
			r = -ENOMEM;
			break;
		}
		sp.segs = v;
		memset(&sp.segs[sp.ns], 0, sizeof(sp.segs[0]));
		sp.segs[sp.ns++].no = no;
	}
	closedir(d);
	if (sp.ns > 1)
		qsort(sp.segs, sp.ns, sizeof(*sp.segs), by_no);
	int n = 0;
	for (size_t i = 0; i < sp.ns && r == 0; i++) {
		uint8_t *data = NULL;
		size_t len = 0, off = 0;
		r = read_seg(&sp, &sp.segs[i], &data, &len);
		if (r == -ENOENT) { /* deleted after an acknowledgement meanwhile */
			r = 0;
			continue;
		}
		if (r < 0) {
			snprintf(err, errlen, "cannot read segment %016" PRIx64 ": %s",
			         sp.segs[i].no, strerror(-r));
			break;
		}
		while (off < len) {
			struct mg_spool_record rec;
			size_t used = 0;
			char why[96];
			int dr = mg_spool_record_decode(data + off, len - off, &rec, &used, why,
			                                sizeof(why));
			if (dr == -EAGAIN && i + 1 == sp.ns)
				break; /* being written, or torn: the agent cuts it when it opens */
			if (dr < 0) {
				snprintf(err, errlen, "segment %016" PRIx64 " at byte %zu: %s",
				         sp.segs[i].no, off, dr == -EAGAIN ? "torn record" : why);
				break;
			}
			uint8_t h[32];
			mg_spool_payload_hash(rec.payload, rec.len, h);
			if ((r = cb(ctx, &rec, h)) < 0)
				break;
			n++;
			off += used;
		}
		free(data);
	}
	free(sp.segs);
	close(sp.dfd);
	return r < 0 ? r : n;
}
