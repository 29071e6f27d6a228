/*
 * The exactly-once decisions of mg_store_ingest(), shared by both backends: argument checks
 * of a batch, the hash chain inside it, and the verdict against the stored cursor. Pure: no
 * I/O, no SQL. The backend supplies the cursor and the stored copies of resent events.
 *
 *   stored:  1 ........ last_seq                 cursor = (last_seq, last_hash)
 *   batch:        [ dup dup dup | new new new ]
 *                   must match    first new == last_seq + 1, prev_hash links
 */
#include "store_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mg/host.h"
#include "mg/utf8.h"

#define SEQ_MAX ((1ull << 53) - 1)

/* True when s[0..len) has no byte >= 0x80: valid UTF-8 without a closer look. */
static int ascii_only(const char *s, size_t len)
{
	uint64_t acc = 0;
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t w;
		memcpy(&w, s + i, sizeof(w));
		acc |= w;
	}
	for (; i < len; i++)
		acc |= (unsigned char)s[i];
	return (acc & 0x8080808080808080ull) == 0;
}

/* Every event's JSON passes here: ASCII (the common case) is checked a word at a time. */
static int text_ok(const char *s, size_t size, int required)
{
	if (!s || !*s)
		return required ? 0 : 1;
	size_t len = strnlen(s, size);
	return len < size && (ascii_only(s, len) || mg_utf8_valid(s, len));
}

/* Lower-case hex digits; a table because two hashes of every event pass here. */
static const unsigned char hexdig[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
};

/* Exactly len lower-case hex digits (a NUL stops the loop: it is no digit). */
static int hex_ok(const char *s, size_t len)
{
	if (!s)
		return 0;
	unsigned ok = 1;
	for (size_t i = 0; i < len && ok; i++)
		ok &= hexdig[(unsigned char)s[i]];
	return ok && s[len] == '\0';
}

static int hex64_ok(const char *s)
{
	return hex_ok(s, 64);
}

static int hex4_ok(const char *s)
{
	return hex_ok(s, 4);
}

static int type_ok(const char *s)
{
	if (!s || !*s)
		return 0;
	size_t i = 0;
	for (; s[i] && i < 64; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return 0;
	}
	return i < 64;
}

int mg_store_event_is_device(const struct mg_store_event *e)
{
	return strncmp(e->type, "device.", 7) == 0 && e->device_vendor_id && *e->device_vendor_id &&
	       e->device_product_id && *e->device_product_id;
}

static int event_ok(const struct mg_store_event *e)
{
	if (e->seq < 1 || e->seq > SEQ_MAX || e->time_us < 0 || !type_ok(e->type))
		return 0;
	if (!e->json || !*e->json || !text_ok(e->json, MG_STORE_MAX_EVENT + 1, 1))
		return 0;
	if (!hex64_ok(e->hash))
		return 0;
	if (e->prev_hash && *e->prev_hash && !hex64_ok(e->prev_hash))
		return 0;
	if (!text_ok(e->host, 256, 0) || !text_ok(e->user, 256, 0) ||
	    !text_ok(e->device_serial, MG_STORE_DEVSTR_SIZE, 0) ||
	    !text_ok(e->device_name, MG_STORE_DEVSTR_SIZE, 0) || !text_ok(e->device_hash, 128, 0))
		return 0;
	if (e->device_vendor_id && *e->device_vendor_id && !hex4_ok(e->device_vendor_id))
		return 0;
	if (e->device_product_id && *e->device_product_id && !hex4_ok(e->device_product_id))
		return 0;
	return 1;
}

static const char *nz(const char *s)
{
	return s ? s : "";
}

int mg_store_batch_init(struct mg_store_batch *b, const char *boot_id,
                        const struct mg_store_event *evs, size_t n)
{
	if (!b || !mg_uuid_valid(boot_id) || !evs || n < 1 || n > MG_STORE_MAX_BATCH)
		return -EINVAL;
	size_t chain_break = n, devices = 0;
	for (size_t i = 0; i < n; i++) {
		if (!event_ok(&evs[i]))
			return -EINVAL;
		if (i > 0 && evs[i].seq != evs[i - 1].seq + 1)
			return -EINVAL;
		if (i > 0 && chain_break == n && strcmp(nz(evs[i].prev_hash), evs[i - 1].hash) != 0)
			chain_break = i;
		if (mg_store_event_is_device(&evs[i]))
			devices++;
	}
	b->boot_id = boot_id;
	b->evs = evs;
	b->n = n;
	b->chain_break = chain_break;
	b->devices = devices;
	return 0;
}

size_t mg_store_batch_ndup(const struct mg_store_batch *b, uint64_t last_seq)
{
	if (b->evs[0].seq > last_seq)
		return 0;
	uint64_t d = last_seq - b->evs[0].seq + 1; /* seq are consecutive */
	return d >= b->n ? b->n : (size_t)d;
}

int mg_store_event_matches(const struct mg_store_event *e, const struct mg_store_stored *st)
{
	if (st->seq != e->seq || strcmp(nz(st->hash), e->hash) != 0 ||
	    strcmp(nz(st->prev_hash), nz(e->prev_hash)) != 0 || strcmp(nz(st->json), e->json) != 0)
		return -1;
	return 0;
}

size_t mg_store_batch_verdict(const struct mg_store_batch *b, size_t ndup, uint64_t last_seq,
                              const char *last_hash, struct mg_ingest_result *res)
{
	memset(res, 0, sizeof(*res));
	res->status = MG_INGEST_OK;
	res->acked_through = last_seq;
	if (ndup == b->n)
		return b->n;
	const struct mg_store_event *first = &b->evs[ndup];
	if (first->seq != last_seq + 1) {
		res->status = MG_INGEST_GAP;
		res->resend_from = last_seq + 1;
		return b->n;
	}
	/* With ndup > 0 the link to the cursor was checked inside the batch and against the
	 * stored duplicate; seq 1 starts a boot and links to nothing we hold. */
	if (ndup == 0 && last_seq >= 1 && strcmp(nz(first->prev_hash), nz(last_hash)) != 0) {
		res->status = MG_INGEST_BROKEN_CHAIN;
		res->bad_seq = first->seq;
		return b->n;
	}
	res->acked_through = b->evs[b->n - 1].seq;
	res->stored = (uint32_t)(b->n - ndup);
	return ndup;
}

static int device_cmp(const void *a, const void *b)
{
	const struct mg_store_event *x = *(const struct mg_store_event *const *)a;
	const struct mg_store_event *y = *(const struct mg_store_event *const *)b;
	int d = strcmp(x->device_vendor_id, y->device_vendor_id);
	if (d == 0)
		d = strcmp(x->device_product_id, y->device_product_id);
	if (d == 0)
		d = strcmp(nz(x->device_serial), nz(y->device_serial));
	if (d == 0)
		d = strcmp(nz(x->device_hash), nz(y->device_hash));
	if (d == 0) /* stable: keep batch order within a device */
		d = x < y ? -1 : x > y;
	return d;
}

static int same_device(const struct mg_store_event *x, const struct mg_store_event *y)
{
	return strcmp(x->device_vendor_id, y->device_vendor_id) == 0 &&
	       strcmp(x->device_product_id, y->device_product_id) == 0 &&
	       strcmp(nz(x->device_serial), nz(y->device_serial)) == 0 &&
	       strcmp(nz(x->device_hash), nz(y->device_hash)) == 0;
}

int mg_store_ledger_group(const struct mg_store_batch *b, size_t from, struct mg_store_ledger **out,
                          size_t *count)
{
	*out = NULL;
	*count = 0;
	if (b->devices == 0)
		return 0;
	const struct mg_store_event **evs = malloc(b->devices * sizeof(*evs));
	struct mg_store_ledger *l = calloc(b->devices, sizeof(*l));
	if (!evs || !l) {
		free(evs);
		free(l);
		return -ENOMEM;
	}
	size_t n = 0, k = 0;
	for (size_t i = from; i < b->n; i++)
		if (mg_store_event_is_device(&b->evs[i]))
			evs[n++] = &b->evs[i];
	qsort(evs, n, sizeof(*evs), device_cmp);
	for (size_t i = 0; i < n; i++) {
		const struct mg_store_event *e = evs[i];
		if (k == 0 || !same_device(l[k - 1].first, e)) {
			l[k].first = l[k].last = e;
			l[k].name = "";
			k++;
		}
		struct mg_store_ledger *g = &l[k - 1];
		if (e->time_us < g->first->time_us)
			g->first = e;
		if (e->time_us >= g->last->time_us)
			g->last = e;
		if (e->device_name && *e->device_name)
			g->name = e->device_name;
		g->sightings++;
	}
	free(evs);
	if (k == 0) {
		free(l);
		l = NULL;
	}
	*out = l;
	*count = k;
	return 0;
}

const char *mg_store_alert_kind(enum mg_ingest_status st)
{
	return st == MG_INGEST_CONFLICT ? "conflict" : "broken_chain";
}

int mg_store_batch_claims(const struct mg_store_batch *b, size_t from, const char *enrolled,
                          const char ***names, size_t **first, size_t *count)
{
	const char **nm = NULL;
	size_t *fi = NULL, k = 0;
	*names = NULL;
	*first = NULL;
	*count = 0;
	for (size_t i = from; i < b->n; i++) {
		const char *h = b->evs[i].host;
		size_t j = 0;
		if (!h || !*h || strcmp(h, nz(enrolled)) == 0)
			continue;
		while (j < k && strcmp(nm[j], h) != 0)
			j++;
		if (j < k)
			continue;
		if (!nm) {
			nm = malloc((b->n - from) * sizeof(*nm));
			fi = malloc((b->n - from) * sizeof(*fi));
			if (!nm || !fi) {
				free(nm);
				free(fi);
				return -ENOMEM;
			}
		}
		nm[k] = h;
		fi[k++] = i;
	}
	*names = nm;
	*first = fi;
	*count = k;
	return 0;
}
