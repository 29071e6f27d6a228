/* staff.db: build from the bundle's "staff" member, check and look up (staff_db.h). */
#include "mg/staff_db.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mg/bytes.h"
#include "mg/policy_bundle.h"
#include "mg/time.h"
#include "mg/user_name.h"

/* Header field offsets. */
#define H_FORMAT  8
#define H_COUNT   12
#define H_VERSION 16
#define H_ISSUED  24
#define H_EXPIRES 32

/* Index entry field offsets. */
#define E_NAME_OFF 0
#define E_NAME_LEN 4
#define E_REC_OFF  8
#define E_REC_LEN  12
#define E_FLAGS    16
#define E_RESERVED 20
#define E_UNLOCKED 24

struct build_item {
	const char *name;
	size_t name_len;
	char *record;
	size_t record_len;
	bool disabled;
	int64_t unlocked_us;
};

/* memcmp on the common prefix, then shorter first. */
static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	if (c != 0)
		return c;
	return (alen > blen) - (alen < blen);
}

static int item_cmp(const void *x, const void *y)
{
	const struct build_item *a = x, *b = y;
	return name_cmp(a->name, a->name_len, b->name, b->name_len);
}

int mg_staff_db_build(const json_t *staff, uint64_t bundle_version, int64_t issued_us,
                      int64_t expires_us, unsigned char **out, size_t *out_len)
{
	json_t *o = (json_t *)(uintptr_t)staff, *u;
	struct build_item *items = NULL;
	unsigned char *buf = NULL;
	const char *key;
	size_t n = 0, total;
	int r;

	if (!out || !out_len || issued_us >= expires_us)
		return -EINVAL;
	if (o && mg_policy_staff_check(o, NULL, 0) < 0)
		return -EINVAL;
	size_t count = o ? json_object_size(o) : 0;
	if (count > MG_STAFF_DB_MAX_USERS)
		return -EFBIG;
	if (count > 0) {
		items = calloc(count, sizeof(*items));
		if (!items)
			return -ENOMEM;
	}
	total = MG_STAFF_DB_HEADER + count * MG_STAFF_DB_ENTRY;
	json_object_foreach(o, key, u)
	{
		struct build_item *it = &items[n];
		json_t *rec = json_object();
		if (!rec ||
		    json_object_set(rec, "credentials", json_object_get(u, "credentials")) < 0) {
			json_decref(rec);
			r = -ENOMEM;
			goto out;
		}
		it->record = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(rec);
		if (!it->record) {
			r = -ENOMEM;
			goto out;
		}
		n++;
		it->record_len = strlen(it->record);
		it->name = key;
		it->name_len = strlen(key);
		it->disabled =
		    strcmp(json_string_value(json_object_get(u, "state")), "disabled") == 0;
		json_t *t = json_object_get(u, "unlocked_at");
		if (t && mg_time_parse(json_string_value(t), &it->unlocked_us) < 0) {
			r = -EINVAL;
			goto out;
		}
		if (it->record_len > MG_STAFF_DB_MAX_RECORD) {
			r = -EFBIG;
			goto out;
		}
		total += it->name_len + it->record_len;
		if (total > MG_STAFF_DB_MAX_FILE) {
			r = -EFBIG;
			goto out;
		}
	}
	if (n > 1)
		qsort(items, n, sizeof(*items), item_cmp);
	buf = malloc(total);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(buf, MG_STAFF_DB_MAGIC, 8);
	mg_le_put(buf + H_FORMAT, MG_STAFF_DB_FORMAT, 4);
	mg_le_put(buf + H_COUNT, n, 4);
	mg_le_put(buf + H_VERSION, bundle_version, 8);
	mg_le_put(buf + H_ISSUED, (uint64_t)issued_us, 8);
	mg_le_put(buf + H_EXPIRES, (uint64_t)expires_us, 8);
	size_t data = MG_STAFF_DB_HEADER + n * MG_STAFF_DB_ENTRY;
	for (size_t i = 0; i < n; i++) {
		unsigned char *e = buf + MG_STAFF_DB_HEADER + i * MG_STAFF_DB_ENTRY;
		mg_le_put(e + E_NAME_OFF, data, 4);
		mg_le_put(e + E_NAME_LEN, items[i].name_len, 4);
		memcpy(buf + data, items[i].name, items[i].name_len);
		data += items[i].name_len;
		mg_le_put(e + E_REC_OFF, data, 4);
		mg_le_put(e + E_REC_LEN, items[i].record_len, 4);
		memcpy(buf + data, items[i].record, items[i].record_len);
		data += items[i].record_len;
		mg_le_put(e + E_FLAGS, items[i].disabled ? MG_STAFF_DB_F_DISABLED : 0, 4);
		mg_le_put(e + E_RESERVED, 0, 4);
		mg_le_put(e + E_UNLOCKED, (uint64_t)items[i].unlocked_us, 8);
	}
	*out = buf;
	*out_len = total;
	buf = NULL;
	r = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(items[i].record);
	free(items);
	free(buf);
	return r;
}

/* Header check; *count and the size of the index. */
static int header_check(const unsigned char *b, size_t len, struct mg_staff_db_info *info)
{
	if (!b || len < MG_STAFF_DB_HEADER || len > MG_STAFF_DB_MAX_FILE ||
	    memcmp(b, MG_STAFF_DB_MAGIC, 8) != 0 ||
	    mg_le_get(b + H_FORMAT, 4) != MG_STAFF_DB_FORMAT)
		return -EBADMSG;
	uint64_t count = mg_le_get(b + H_COUNT, 4);
	int64_t issued = (int64_t)mg_le_get(b + H_ISSUED, 8);
	int64_t expires = (int64_t)mg_le_get(b + H_EXPIRES, 8);
	if (count > MG_STAFF_DB_MAX_USERS || count * MG_STAFF_DB_ENTRY > len - MG_STAFF_DB_HEADER ||
	    issued >= expires)
		return -EBADMSG;
	info->count = (uint32_t)count;
	info->bundle_version = mg_le_get(b + H_VERSION, 8);
	info->issued_us = issued;
	info->expires_us = expires;
	return 0;
}

/* The fields of one 32-byte index entry p, bounds checked against a file of len bytes. */
struct raw_entry {
	uint64_t noff, nlen, roff, rlen;
	bool disabled;
	int64_t unlocked;
};

static int entry_parse(const unsigned char *p, size_t len, uint32_t count, struct raw_entry *x)
{
	uint64_t data = MG_STAFF_DB_HEADER + (uint64_t)count * MG_STAFF_DB_ENTRY;
	uint64_t flags = mg_le_get(p + E_FLAGS, 4);
	x->noff = mg_le_get(p + E_NAME_OFF, 4);
	x->nlen = mg_le_get(p + E_NAME_LEN, 4);
	x->roff = mg_le_get(p + E_REC_OFF, 4);
	x->rlen = mg_le_get(p + E_REC_LEN, 4);
	x->unlocked = (int64_t)mg_le_get(p + E_UNLOCKED, 8);
	x->disabled = (flags & MG_STAFF_DB_F_DISABLED) != 0;
	if (x->noff < data || x->nlen < 1 || x->nlen > MG_USER_NAME_MAX ||
	    x->noff + x->nlen > len || x->roff < data || x->rlen < 2 ||
	    x->rlen > MG_STAFF_DB_MAX_RECORD || x->roff + x->rlen > len ||
	    (flags & ~(uint64_t)MG_STAFF_DB_F_DISABLED) != 0 || mg_le_get(p + E_RESERVED, 4) != 0 ||
	    x->unlocked < 0)
		return -EBADMSG;
	return 0;
}

/* Entry i: bounds and fields; *e filled (pointers into b). */
static int entry_get(const unsigned char *b, size_t len, uint32_t count, size_t i,
                     struct mg_staff_entry *e)
{
	struct raw_entry x;
	if (entry_parse(b + MG_STAFF_DB_HEADER + i * MG_STAFF_DB_ENTRY, len, count, &x) < 0)
		return -EBADMSG;
	e->user = (const char *)b + x.noff;
	e->user_len = (size_t)x.nlen;
	e->record = (const char *)b + x.roff;
	e->record_len = (size_t)x.rlen;
	e->disabled = x.disabled;
	e->unlocked_us = x.unlocked;
	if (!mg_user_name_valid(e->user, e->user_len) || e->record[0] != '{' ||
	    e->record[x.rlen - 1] != '}')
		return -EBADMSG;
	return 0;
}

int mg_staff_db_open(const void *buf, size_t len, struct mg_staff_db_info *info)
{
	const unsigned char *b = buf;
	struct mg_staff_db_info inf;
	struct mg_staff_entry prev = {0}, cur;

	if (header_check(b, len, &inf) < 0)
		return -EBADMSG;
	for (size_t i = 0; i < inf.count; i++) {
		if (entry_get(b, len, inf.count, i, &cur) < 0)
			return -EBADMSG;
		if (i > 0 && name_cmp(prev.user, prev.user_len, cur.user, cur.user_len) >= 0)
			return -EBADMSG; /* not sorted, or a name twice */
		prev = cur;
	}
	if (info)
		*info = inf;
	return 0;
}

int mg_staff_db_find(const void *buf, size_t len, const char *user, struct mg_staff_entry *out)
{
	const unsigned char *b = buf;
	struct mg_staff_db_info inf;
	struct mg_staff_entry e;

	if (header_check(b, len, &inf) < 0)
		return -EBADMSG;
	if (!user || !out)
		return -ENOENT;
	size_t ulen = strnlen(user, MG_USER_NAME_MAX + 1);
	if (!mg_user_name_valid(user, ulen))
		return -ENOENT;
	size_t lo = 0, hi = inf.count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (entry_get(b, len, inf.count, mid, &e) < 0)
			return -EBADMSG;
		int c = name_cmp(e.user, e.user_len, user, ulen);
		if (c == 0) {
			*out = e;
			return 0;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -ENOENT;
}

/* Exactly n bytes at off through the reader, inside the file. */
static int rd_get(const struct mg_staff_db_reader *rd, uint64_t off, void *dst, size_t n)
{
	if (off > rd->len || n > rd->len - off)
		return -EBADMSG;
	return rd->read(rd->ctx, off, dst, n);
}

int mg_staff_db_find_read(const struct mg_staff_db_reader *rd, const char *user,
                          struct mg_staff_db_info *info, struct mg_staff_entry *out, char *rec,
                          size_t reclen)
{
	unsigned char hdr[MG_STAFF_DB_HEADER], ent[MG_STAFF_DB_ENTRY];
	char name[MG_USER_NAME_MAX];
	struct mg_staff_db_info inf;
	struct raw_entry x;
	int r;

	if (!rd || !rd->read || rd->len < MG_STAFF_DB_HEADER)
		return -EBADMSG;
	if ((r = rd_get(rd, 0, hdr, sizeof(hdr))) < 0)
		return r;
	if (header_check(hdr, rd->len, &inf) < 0)
		return -EBADMSG;
	if (info)
		*info = inf;
	if (!user || !out || !rec || reclen < MG_STAFF_DB_MAX_RECORD)
		return -ENOENT;
	size_t ulen = strnlen(user, MG_USER_NAME_MAX + 1);
	if (!mg_user_name_valid(user, ulen))
		return -ENOENT;
	size_t lo = 0, hi = inf.count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if ((r = rd_get(rd, MG_STAFF_DB_HEADER + (uint64_t)mid * MG_STAFF_DB_ENTRY, ent,
		                sizeof(ent))) < 0)
			return r;
		if (entry_parse(ent, rd->len, inf.count, &x) < 0)
			return -EBADMSG;
		if ((r = rd_get(rd, x.noff, name, (size_t)x.nlen)) < 0)
			return r;
		if (!mg_user_name_valid(name, (size_t)x.nlen))
			return -EBADMSG;
		int c = name_cmp(name, (size_t)x.nlen, user, ulen);
		if (c == 0) {
			if ((r = rd_get(rd, x.roff, rec, (size_t)x.rlen)) < 0)
				return r;
		} else { /* the visited record's first and last byte, as mg_staff_db_find checks */
			if ((r = rd_get(rd, x.roff, rec, 1)) < 0 ||
			    (r = rd_get(rd, x.roff + x.rlen - 1, rec + x.rlen - 1, 1)) < 0)
				return r;
		}
		if (rec[0] != '{' || rec[x.rlen - 1] != '}')
			return -EBADMSG;
		if (c == 0) {
			out->user = user;
			out->user_len = ulen;
			out->record = rec;
			out->record_len = (size_t)x.rlen;
			out->disabled = x.disabled;
			out->unlocked_us = x.unlocked;
			return 0;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -ENOENT;
}
