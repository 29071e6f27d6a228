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
#include <string.h>

#include "mg/host.h"
#include "mg/utf8.h"

#define SEQ_MAX ((1ull << 53) - 1)

static int text_ok(const char *s, size_t size, int required)
{
	if (!s || !*s)
		return required ? 0 : 1;
	size_t len = strnlen(s, size);
	return len < size && mg_utf8_valid(s, len);
}

static int hex64_ok(const char *s)
{
	if (!s)
		return 0;
	for (size_t i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[64] == '\0';
}

static int hex4_ok(const char *s)
{
	for (size_t i = 0; i < 4; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[4] == '\0';
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
	return strncmp(e->type, "device.", 7) == 0 && e->device_vendor_id &&
	       *e->device_vendor_id && e->device_product_id && *e->device_product_id;
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
	if (!text_ok(e->user, 256, 0) || !text_ok(e->device_serial, MG_STORE_DEVSTR_SIZE, 0) ||
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

const char *mg_store_alert_kind(enum mg_ingest_status st)
{
	return st == MG_INGEST_CONFLICT ? "conflict" : "broken_chain";
}
