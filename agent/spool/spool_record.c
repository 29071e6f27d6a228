/* Encoding and decoding of one spool record (see spool_record.h for the layout). */
#include "spool_record.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mg/bytes.h"

#include <nettle/sha2.h>

static const uint8_t magic[4] = {'M', 'G', 'S', 'R'};

static void check_of(const uint8_t *rec, size_t n, uint8_t out[32])
{
	struct sha256_ctx c;
	sha256_init(&c);
	sha256_update(&c, n, rec);
	sha256_digest(&c, SHA256_DIGEST_SIZE, out);
}

void mg_spool_payload_hash(const char *payload, size_t len, uint8_t out[32])
{
	check_of((const uint8_t *)payload, len, out);
}

static bool boot_id_ok(const char *s, size_t n)
{
	if (n != MG_SPOOL_BOOT_ID_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		const char c = s[i];
		const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}

int mg_spool_record_encode(const struct mg_spool_record *r, uint8_t *out, size_t outlen)
{
	if (!r || !r->payload || r->len == 0 || r->len > MG_SPOOL_MAX_PAYLOAD || r->seq == 0 ||
	    !boot_id_ok(r->boot_id, strnlen(r->boot_id, sizeof(r->boot_id))) ||
	    outlen < mg_spool_record_size(r->len))
		return -EINVAL;
	memcpy(out, magic, 4);
	out[4] = 1;
	out[5] = r->flags;
	out[6] = out[7] = 0;
	mg_le_put(out + 8, r->len, 4);
	mg_le_put(out + 12, r->seq, 8);
	memcpy(out + 20, r->boot_id, MG_SPOOL_BOOT_ID_LEN);
	memcpy(out + 56, r->prev, 32);
	memcpy(out + MG_SPOOL_HEADER, r->payload, r->len);
	check_of(out, MG_SPOOL_HEADER + r->len, out + MG_SPOOL_HEADER + r->len);
	return 0;
}

static int bad(char *why, size_t wl, const char *msg)
{
	if (why && wl)
		snprintf(why, wl, "%s", msg);
	return -EBADMSG;
}

int mg_spool_record_decode(const uint8_t *buf, size_t len, struct mg_spool_record *r, size_t *used,
                           char *why, size_t whylen)
{
	/* What is there of the header is checked first: a torn write leaves a prefix. */
	if (len < 4)
		return memcmp(buf, magic, len) == 0 ? -EAGAIN : bad(why, whylen, "bad magic");
	if (memcmp(buf, magic, 4) != 0)
		return bad(why, whylen, "bad magic");
	if (len < MG_SPOOL_HEADER)
		return -EAGAIN;
	if (buf[4] != 1)
		return bad(why, whylen, "unknown record version");
	if ((buf[5] & ~MG_SPOOL_SECURITY) != 0 || buf[6] != 0 || buf[7] != 0)
		return bad(why, whylen, "unknown flags");
	const uint64_t plen = mg_le_get(buf + 8, 4);
	if (plen == 0 || plen > MG_SPOOL_MAX_PAYLOAD)
		return bad(why, whylen, "payload length out of range");
	const uint64_t seq = mg_le_get(buf + 12, 8);
	if (seq == 0)
		return bad(why, whylen, "seq 0");
	if (!boot_id_ok((const char *)buf + 20, MG_SPOOL_BOOT_ID_LEN))
		return bad(why, whylen, "malformed boot_id");
	const size_t total = mg_spool_record_size((size_t)plen);
	if (len < total)
		return -EAGAIN;
	uint8_t check[32];
	check_of(buf, MG_SPOOL_HEADER + (size_t)plen, check);
	if (memcmp(check, buf + MG_SPOOL_HEADER + plen, 32) != 0)
		return bad(why, whylen, "checksum mismatch");
	memset(r, 0, sizeof(*r));
	r->flags = buf[5];
	r->seq = seq;
	memcpy(r->boot_id, buf + 20, MG_SPOOL_BOOT_ID_LEN);
	r->boot_id[MG_SPOOL_BOOT_ID_LEN] = '\0';
	memcpy(r->prev, buf + 56, 32);
	r->payload = (const char *)buf + MG_SPOOL_HEADER;
	r->len = (uint32_t)plen;
	*used = total;
	return 0;
}
