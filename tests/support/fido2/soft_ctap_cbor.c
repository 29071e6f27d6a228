/*
 * CBOR for the soft authenticator: a bounded well-formedness check run on every request
 * before libcbor sees it, typed accessors that answer with CTAP status codes, and helpers
 * that build responses. Requests must be definite-length (CTAP 2.1 §8 "Message encoding":
 * CTAP2 canonical CBOR); tags and floats never occur in CTAP and are refused.
 */
#include "soft_ctap_int.h"

#include <stdlib.h>
#include <string.h>

#include "mg/utf8.h"

#define SC_CBOR_MAX_DEPTH 6 /* containers; CTAP requests nest at most 4 deep */

/* Reads one item head at *pos: major type, additional info and argument. */
static int cbor_head(const uint8_t *b, size_t len, size_t *pos, uint8_t *major, uint8_t *ai,
                     uint64_t *arg)
{
	if (*pos >= len)
		return -1;
	uint8_t ib = b[(*pos)++];
	*major = (uint8_t)(ib >> 5);
	*ai = (uint8_t)(ib & 0x1f);
	if (*ai < 24) {
		*arg = *ai;
		return 0;
	}
	size_t n;
	switch (*ai) {
	case 24:
		n = 1;
		break;
	case 25:
		n = 2;
		break;
	case 26:
		n = 4;
		break;
	case 27:
		n = 8;
		break;
	default:
		return -1; /* reserved, or indefinite length */
	}
	if (len - *pos < n)
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = (v << 8) | b[(*pos)++];
	*arg = v;
	return 0;
}

int sc_cbor_check(const uint8_t *buf, size_t len, unsigned maxdepth)
{
	uint64_t remaining[SC_CBOR_MAX_DEPTH + 1];
	size_t depth = 0, pos = 0;

	if (maxdepth > SC_CBOR_MAX_DEPTH)
		maxdepth = SC_CBOR_MAX_DEPTH;
	remaining[0] = 1;
	for (;;) {
		while (depth > 0 && remaining[depth] == 0)
			depth--;
		if (depth == 0 && remaining[0] == 0)
			break;
		remaining[depth]--;

		uint8_t major, ai;
		uint64_t arg;
		if (cbor_head(buf, len, &pos, &major, &ai, &arg) < 0)
			return CTAP2_ERR_INVALID_CBOR;
		switch (major) {
		case 0: /* unsigned */
		case 1: /* negative */
			break;
		case 2: /* byte string */
		case 3: /* text string */
			if (arg > len - pos)
				return CTAP2_ERR_INVALID_CBOR;
			pos += (size_t)arg;
			break;
		case 4: /* array */
		case 5: /* map */
			if (major == 5) {
				if (arg > UINT64_MAX / 2)
					return CTAP2_ERR_INVALID_CBOR;
				arg *= 2;
			}
			/* every item takes at least one byte */
			if (arg > len - pos)
				return CTAP2_ERR_INVALID_CBOR;
			if (arg == 0)
				break;
			if (depth >= maxdepth)
				return CTAP2_ERR_LIMIT_EXCEEDED;
			remaining[++depth] = arg;
			break;
		case 6: /* tag */
			return CTAP2_ERR_INVALID_CBOR;
		default: /* 7: only false, true and null */
			if (ai < 20 || ai > 22)
				return CTAP2_ERR_INVALID_CBOR;
			break;
		}
	}
	return pos == len ? CTAP2_OK : CTAP2_ERR_INVALID_CBOR;
}

int sc_cbor_parse_map(const uint8_t *buf, size_t len, cbor_item_t **map)
{
	struct cbor_load_result res;
	cbor_item_t *item;
	int r;

	if (len == 0)
		return CTAP2_ERR_MISSING_PARAMETER;
	if ((r = sc_cbor_check(buf, len, SC_CBOR_MAX_DEPTH)) != CTAP2_OK)
		return r;
	if ((item = cbor_load(buf, len, &res)) == NULL)
		return CTAP2_ERR_INVALID_CBOR;
	if (res.read != len) {
		cbor_decref(&item);
		return CTAP2_ERR_INVALID_CBOR;
	}
	if (!cbor_isa_map(item)) {
		cbor_decref(&item);
		return CTAP2_ERR_CBOR_UNEXPECTED_TYPE;
	}
	*map = item;
	return CTAP2_OK;
}

int sc_cbor_args(const cbor_item_t *map, const cbor_item_t **argv, size_t argc)
{
	const struct cbor_pair *p = cbor_map_handle(map);
	const size_t n = cbor_map_size(map);

	for (size_t i = 0; i < argc; i++)
		argv[i] = NULL;
	for (size_t i = 0; i < n; i++) {
		if (!cbor_isa_uint(p[i].key))
			return CTAP2_ERR_CBOR_UNEXPECTED_TYPE;
		uint64_t k = cbor_get_int(p[i].key);
		if (k == 0 || k >= argc)
			continue; /* unknown parameters are ignored */
		if (argv[k] != NULL)
			return CTAP2_ERR_INVALID_CBOR; /* duplicate key */
		argv[k] = p[i].value;
	}
	return CTAP2_OK;
}

int sc_cbor_lookup(const cbor_item_t *map, const char *key, const cbor_item_t **val)
{
	const size_t klen = strlen(key);
	*val = NULL;
	if (!cbor_isa_map(map))
		return CTAP2_ERR_CBOR_UNEXPECTED_TYPE;
	const struct cbor_pair *p = cbor_map_handle(map);
	for (size_t i = 0; i < cbor_map_size(map); i++) {
		if (!cbor_isa_string(p[i].key))
			continue;
		if (cbor_string_length(p[i].key) != klen ||
		    memcmp(cbor_string_handle(p[i].key), key, klen) != 0)
			continue;
		if (*val != NULL)
			return CTAP2_ERR_INVALID_CBOR;
		*val = p[i].value;
	}
	return CTAP2_OK;
}

int sc_cbor_bytes(const cbor_item_t *it, const uint8_t **p, size_t *len)
{
	if (it == NULL || !cbor_isa_bytestring(it) || !cbor_bytestring_is_definite(it))
		return CTAP2_ERR_CBOR_UNEXPECTED_TYPE;
	*p = cbor_bytestring_handle(it);
	*len = cbor_bytestring_length(it);
	if (*p == NULL)
		*p = (const uint8_t *)"";
	return CTAP2_OK;
}

int sc_cbor_text(const cbor_item_t *it, char *out, size_t outsz)
{
	if (it == NULL || !cbor_isa_string(it) || !cbor_string_is_definite(it))
		return CTAP2_ERR_CBOR_UNEXPECTED_TYPE;
	const char *s = (const char *)cbor_string_handle(it);
	const size_t len = cbor_string_length(it);
	if (len >= outsz)
		return CTAP2_ERR_LIMIT_EXCEEDED;
	if (len > 0 && (memchr(s, '\0', len) != NULL || !mg_utf8_valid(s, len)))
		return CTAP2_ERR_INVALID_CBOR;
	if (len > 0)
		memcpy(out, s, len);
	out[len] = '\0';
	return CTAP2_OK;
}

int sc_cbor_uint(const cbor_item_t *it, uint64_t *v)
{
	if (it == NULL || !cbor_isa_uint(it))
		return CTAP2_ERR_CBOR_UNEXPECTED_TYPE;
	*v = cbor_get_int(it);
	return CTAP2_OK;
}

int sc_cbor_int(const cbor_item_t *it, int64_t *v)
{
	if (it == NULL || !(cbor_isa_uint(it) || cbor_isa_negint(it)))
		return CTAP2_ERR_CBOR_UNEXPECTED_TYPE;
	uint64_t u = cbor_get_int(it);
	if (u > INT64_MAX)
		return CTAP2_ERR_LIMIT_EXCEEDED;
	/* a negative integer encodes -1 - u */
	*v = cbor_isa_uint(it) ? (int64_t)u : -1 - (int64_t)u;
	return CTAP2_OK;
}

int sc_cbor_bool(const cbor_item_t *it, bool *v)
{
	if (it == NULL || !cbor_is_bool(it))
		return CTAP2_ERR_CBOR_UNEXPECTED_TYPE;
	*v = cbor_get_bool(it);
	return CTAP2_OK;
}

bool sc_map_put(cbor_item_t *map, cbor_item_t *key, cbor_item_t *val)
{
	bool ok = map != NULL && key != NULL && val != NULL &&
	          cbor_map_add(map, (struct cbor_pair){.key = key, .value = val});
	if (key != NULL)
		cbor_decref(&key);
	if (val != NULL)
		cbor_decref(&val);
	return ok;
}

bool sc_map_put_u(cbor_item_t *map, uint8_t key, cbor_item_t *val)
{
	return sc_map_put(map, cbor_build_uint8(key), val);
}

bool sc_map_put_s(cbor_item_t *map, const char *key, cbor_item_t *val)
{
	return sc_map_put(map, cbor_build_string(key), val);
}

cbor_item_t *sc_cbor_int_item(int64_t v)
{
	/* the smallest width, as canonical CBOR and libfido2's key checks expect */
	uint64_t u = v >= 0 ? (uint64_t)v : (uint64_t)(-1 - v);
	cbor_item_t *it;
	if (u <= UINT8_MAX)
		it = v >= 0 ? cbor_build_uint8((uint8_t)u) : cbor_build_negint8((uint8_t)u);
	else if (u <= UINT16_MAX)
		it = v >= 0 ? cbor_build_uint16((uint16_t)u) : cbor_build_negint16((uint16_t)u);
	else if (u <= UINT32_MAX)
		it = v >= 0 ? cbor_build_uint32((uint32_t)u) : cbor_build_negint32((uint32_t)u);
	else
		it = v >= 0 ? cbor_build_uint64(u) : cbor_build_negint64(u);
	return it;
}

int sc_cbor_finish(cbor_item_t *item, struct sc_buf *out)
{
	unsigned char *buf = NULL;
	size_t cap = 0, len = 0;
	if (item != NULL) {
		len = cbor_serialize_alloc(item, &buf, &cap);
		cbor_decref(&item);
	}
	if (len == 0) {
		free(buf);
		return CTAP1_ERR_OTHER;
	}
	out->p = buf;
	out->len = len;
	return CTAP2_OK;
}
