/*
 * The soft authenticator's state machine driven directly with a simulated clock: CTAPHID
 * framing and errors, KEEPALIVE timing, CANCEL, the touch knobs, strict CBOR parsing, the
 * authenticator-side answers libfido2 never provokes (uv option, PIN protocol 1,
 * getNextAssertion, excludeList) and persistence failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "soft_ctap_int.h"

#define HID_PING      0x01
#define HID_MSG       0x03
#define HID_INIT      0x06
#define HID_CBOR      0x10
#define HID_CANCEL    0x11
#define HID_KEEPALIVE 0x3B
#define HID_ERROR     0x3F

static const uint8_t broadcast[4] = {0xff, 0xff, 0xff, 0xff};

struct rig {
	struct soft_ctap *sc;
	uint64_t now;
	uint8_t cid[4];
	int persist_calls;
	int persist_result;
};

struct msg {
	uint8_t cid[4];
	uint8_t cmd;
	size_t len;
	uint8_t data[SC_HID_MAX_MSG];
};

static int persist_cb(void *ctx, const struct soft_ctap *sc)
{
	struct rig *r = ctx;
	(void)sc;
	r->persist_calls++;
	return r->persist_result;
}

/* Splits a message into reports and writes them (CTAP 2.1 §11.2.4). */
static void send_msg(struct rig *r, const uint8_t *cid, uint8_t cmd, const uint8_t *data,
                     size_t len)
{
	uint8_t rep[64];
	size_t off = 0;
	uint8_t seq = 0;

	memset(rep, 0, sizeof(rep));
	memcpy(rep, cid, 4);
	rep[4] = (uint8_t)(0x80 | cmd);
	rep[5] = (uint8_t)(len >> 8);
	rep[6] = (uint8_t)len;
	off = len < 57 ? len : 57;
	if (off > 0)
		memcpy(rep + 7, data, off);
	assert_int_equal(soft_ctap_hid_write(r->sc, rep, sizeof(rep), r->now), 0);
	while (off < len) {
		size_t n = len - off < 59 ? len - off : 59;
		memset(rep, 0, sizeof(rep));
		memcpy(rep, cid, 4);
		rep[4] = seq++;
		memcpy(rep + 5, data + off, n);
		assert_int_equal(soft_ctap_hid_write(r->sc, rep, sizeof(rep), r->now), 0);
		off += n;
	}
}

/* Reads one whole message due at r->now; false when no report is due. */
static bool recv_msg(struct rig *r, struct msg *m)
{
	uint8_t rep[64];
	if (soft_ctap_hid_read(r->sc, rep, r->now) != 1)
		return false;
	assert_true(rep[4] & 0x80);
	memcpy(m->cid, rep, 4);
	m->cmd = rep[4] & 0x7f;
	m->len = (size_t)rep[5] << 8 | rep[6];
	assert_true(m->len <= SC_HID_MAX_MSG);
	size_t have = m->len < 57 ? m->len : 57;
	memcpy(m->data, rep + 7, have);
	for (uint8_t seq = 0; have < m->len; seq++) {
		assert_int_equal(soft_ctap_hid_read(r->sc, rep, r->now), 1);
		assert_memory_equal(rep, m->cid, 4);
		assert_int_equal(rep[4], seq);
		size_t n = m->len - have < 59 ? m->len - have : 59;
		memcpy(m->data + have, rep + 5, n);
		have += n;
	}
	return true;
}

static void channel(struct rig *r)
{
	static const uint8_t nonce[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	struct msg m;
	send_msg(r, broadcast, HID_INIT, nonce, sizeof(nonce));
	assert_true(recv_msg(r, &m));
	assert_int_equal(m.cmd, HID_INIT);
	assert_memory_equal(m.cid, broadcast, 4);
	assert_int_equal(m.len, 17);
	assert_memory_equal(m.data, nonce, 8);
	memcpy(r->cid, m.data + 8, 4);
}

static int setup(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	r->sc = soft_ctap_new();
	assert_non_null(r->sc);
	r->now = 1000;
	soft_ctap_set_persist(r->sc, persist_cb, r);
	channel(r);
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	struct rig *r = *state;
	soft_ctap_free(&r->sc);
	assert_null(r->sc);
	free(r);
	return 0;
}

/* A CTAP2 command with raw parameter bytes; returns the status, body in *m. */
static int ctap_raw(struct rig *r, uint8_t cmd, const uint8_t *params, size_t len, struct msg *m)
{
	uint8_t buf[SC_HID_MAX_MSG];
	buf[0] = cmd;
	if (len > 0)
		memcpy(buf + 1, params, len);
	send_msg(r, r->cid, HID_CBOR, buf, len + 1);
	assert_true(recv_msg(r, m));
	assert_int_equal(m->cmd, HID_CBOR);
	assert_true(m->len >= 1);
	return m->data[0];
}

/* Sends a CTAP2 command with a CBOR map (consumed; NULL for none). */
static void ctap_send(struct rig *r, uint8_t cmd, cbor_item_t *params)
{
	uint8_t msg[SC_HID_MAX_MSG];
	unsigned char *buf = NULL;
	size_t cap = 0, len = 0;
	if (params != NULL) {
		len = cbor_serialize_alloc(params, &buf, &cap);
		assert_true(len > 0 && len < sizeof(msg));
		cbor_decref(&params);
	}
	msg[0] = cmd;
	if (len > 0)
		memcpy(msg + 1, buf, len);
	free(buf);
	send_msg(r, r->cid, HID_CBOR, msg, len + 1);
}

/* A CTAP2 command answered at once: its status, the response in *m. */
static int ctap(struct rig *r, uint8_t cmd, cbor_item_t *params, struct msg *m)
{
	ctap_send(r, cmd, params);
	assert_true(recv_msg(r, m));
	assert_int_equal(m->cmd, HID_CBOR);
	assert_true(m->len >= 1);
	return m->data[0];
}

/* The response body of m as a map, with argv[k] = value of key k. */
static cbor_item_t *body(const struct msg *m, const cbor_item_t **argv, size_t argc)
{
	cbor_item_t *map = NULL;
	assert_int_equal(sc_cbor_parse_map(m->data + 1, m->len - 1, &map), CTAP2_OK);
	assert_int_equal(sc_cbor_args(map, argv, argc), CTAP2_OK);
	return map;
}

static cbor_item_t *bytes_item(const uint8_t *p, size_t len)
{
	return cbor_build_bytestring(p, len);
}

static const uint8_t cdh[32] = {0xcd, 0xcd, 0xcd};

/* makeCredential for rp "example.org" with ES256; rk as given; extra params optional. */
static cbor_item_t *mc_params(bool rk, cbor_item_t *exclude)
{
	static const uint8_t uid[4] = {'u', 's', 'e', 'r'};
	cbor_item_t *m = cbor_new_definite_map(8);
	cbor_item_t *rp = cbor_new_definite_map(1);
	cbor_item_t *user = cbor_new_definite_map(2);
	cbor_item_t *params = cbor_new_definite_array(1);
	cbor_item_t *p = cbor_new_definite_map(2);
	assert_true(sc_map_put_s(rp, "id", cbor_build_string("example.org")));
	assert_true(sc_map_put_s(user, "id", bytes_item(uid, sizeof(uid))));
	assert_true(sc_map_put_s(user, "name", cbor_build_string("alice")));
	assert_true(sc_map_put_s(p, "alg", sc_cbor_int_item(-7)));
	assert_true(sc_map_put_s(p, "type", cbor_build_string("public-key")));
	assert_true(cbor_array_push(params, p));
	cbor_decref(&p);
	assert_true(sc_map_put_u(m, 1, bytes_item(cdh, sizeof(cdh))));
	assert_true(sc_map_put_u(m, 2, rp));
	assert_true(sc_map_put_u(m, 3, user));
	assert_true(sc_map_put_u(m, 4, params));
	if (exclude != NULL)
		assert_true(sc_map_put_u(m, 5, exclude));
	if (rk) {
		cbor_item_t *o = cbor_new_definite_map(1);
		assert_true(sc_map_put_s(o, "rk", cbor_build_bool(true)));
		assert_true(sc_map_put_u(m, 7, o));
	}
	return m;
}

/* Creates a credential and returns its id. */
static size_t make_cred(struct rig *r, bool rk, uint8_t id[SOFT_CTAP_CRED_ID_MAX])
{
	struct msg m;
	const cbor_item_t *a[4];
	const uint8_t *ad;
	size_t adlen;
	assert_int_equal(ctap(r, CTAP_CMD_MAKE_CREDENTIAL, mc_params(rk, NULL), &m), CTAP2_OK);
	cbor_item_t *map = body(&m, a, 4);
	assert_int_equal(sc_cbor_bytes(a[2], &ad, &adlen), CTAP2_OK);
	size_t idlen = (size_t)ad[53] << 8 | ad[54];
	assert_int_equal(idlen, SOFT_CTAP_CRED_ID_LEN);
	memcpy(id, ad + 55, idlen);
	cbor_decref(&map);
	return idlen;
}

/* getAssertion for "example.org"; optional allowList id, options and pin params. */
static cbor_item_t *ga_params(const uint8_t *id, size_t idlen, cbor_item_t *opts)
{
	cbor_item_t *m = cbor_new_definite_map(7);
	assert_true(sc_map_put_u(m, 1, cbor_build_string("example.org")));
	assert_true(sc_map_put_u(m, 2, bytes_item(cdh, sizeof(cdh))));
	if (id != NULL) {
		cbor_item_t *list = cbor_new_definite_array(1);
		cbor_item_t *d = cbor_new_definite_map(2);
		assert_true(sc_map_put_s(d, "id", bytes_item(id, idlen)));
		assert_true(sc_map_put_s(d, "type", cbor_build_string("public-key")));
		assert_true(cbor_array_push(list, d));
		cbor_decref(&d);
		assert_true(sc_map_put_u(m, 3, list));
	}
	if (opts != NULL)
		assert_true(sc_map_put_u(m, 5, opts));
	return m;
}

static cbor_item_t *opt1(const char *name, bool v)
{
	cbor_item_t *o = cbor_new_definite_map(1);
	assert_true(sc_map_put_s(o, name, cbor_build_bool(v)));
	return o;
}

/* ---- CTAPHID ---- */

static void test_init(void **state)
{
	struct rig *r = *state;
	struct msg m;
	static const uint8_t nonce[8] = {9, 9, 9, 9, 9, 9, 9, 9};
	uint8_t first[4];

	memcpy(first, r->cid, 4);
	assert_memory_not_equal(first, broadcast, 4);
	channel(r);
	assert_memory_not_equal(first, r->cid, 4);

	/* the INIT response: protocol version 2, capabilities WINK|CBOR|NMSG */
	send_msg(r, broadcast, HID_INIT, nonce, sizeof(nonce));
	assert_true(recv_msg(r, &m));
	assert_int_equal(m.data[12], 2);
	assert_int_equal(m.data[16], 0x01 | 0x04 | 0x08);

	/* resynchronisation on an allocated channel keeps the channel id */
	send_msg(r, r->cid, HID_INIT, nonce, sizeof(nonce));
	assert_true(recv_msg(r, &m));
	assert_memory_equal(m.cid, r->cid, 4);
	assert_memory_equal(m.data + 8, r->cid, 4);

	/* a nonce of 7 bytes */
	send_msg(r, broadcast, HID_INIT, nonce, 7);
	assert_true(recv_msg(r, &m));
	assert_int_equal(m.cmd, HID_ERROR);
	assert_int_equal(m.data[0], 0x03); /* ERR_INVALID_LEN */
}

static void test_ping_framing(void **state)
{
	struct rig *r = *state;
	uint8_t data[200];
	struct msg m;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	send_msg(r, r->cid, HID_PING, data, sizeof(data));
	assert_true(recv_msg(r, &m)); /* checks the sequence numbers of 4 reports */
	assert_int_equal(m.cmd, HID_PING);
	assert_int_equal(m.len, sizeof(data));
	assert_memory_equal(m.data, data, sizeof(data));
	assert_int_equal(soft_ctap_hid_next_ms(r->sc), UINT64_MAX);
	assert_false(recv_msg(r, &m));
}

static void test_hid_errors(void **state)
{
	struct rig *r = *state;
	static const uint8_t other[4] = {0x11, 0x22, 0x33, 0x44};
	uint8_t rep[64] = {0};
	struct msg m;

	/* a channel nobody allocated */
	send_msg(r, other, HID_PING, rep, 1);
	assert_true(recv_msg(r, &m));
	assert_int_equal(m.cmd, HID_ERROR);
	assert_int_equal(m.data[0], 0x0B); /* ERR_INVALID_CHANNEL */

	/* U2F messages are not offered */
	send_msg(r, r->cid, HID_MSG, rep, 4);
	assert_true(recv_msg(r, &m));
	assert_int_equal(m.data[0], 0x01); /* ERR_INVALID_CMD */

	/* too long */
	memcpy(rep, r->cid, 4);
	rep[4] = 0x80 | HID_PING;
	rep[5] = 0x1d;
	rep[6] = 0xba; /* 7610 */
	assert_int_equal(soft_ctap_hid_write(r->sc, rep, 64, r->now), 0);
	assert_true(recv_msg(r, &m));
	assert_int_equal(m.data[0], 0x03); /* ERR_INVALID_LEN */

	/* wrong sequence number */
	rep[5] = 0;
	rep[6] = 100;
	assert_int_equal(soft_ctap_hid_write(r->sc, rep, 64, r->now), 0);
	rep[4] = 1;
	assert_int_equal(soft_ctap_hid_write(r->sc, rep, 64, r->now), 0);
	assert_true(recv_msg(r, &m));
	assert_int_equal(m.data[0], 0x04); /* ERR_INVALID_SEQ */

	/* a continuation nobody started is ignored; a short report is refused */
	rep[4] = 0;
	assert_int_equal(soft_ctap_hid_write(r->sc, rep, 64, r->now), 0);
	assert_false(recv_msg(r, &m));
	assert_int_equal(soft_ctap_hid_write(r->sc, rep, 63, r->now), -EINVAL);

	/* another channel speaking in the middle of a message */
	uint8_t mine[4];
	memcpy(mine, r->cid, 4);
	channel(r);
	rep[4] = 0x80 | HID_PING;
	rep[5] = 0;
	rep[6] = 100;
	assert_int_equal(soft_ctap_hid_write(r->sc, rep, 64, r->now), 0); /* on `mine` */
	uint8_t rep2[64] = {0};
	memcpy(rep2, r->cid, 4);
	rep2[4] = 0x80 | HID_PING;
	rep2[6] = 1;
	assert_int_equal(soft_ctap_hid_write(r->sc, rep2, 64, r->now), 0);
	assert_true(recv_msg(r, &m));
	assert_memory_equal(m.cid, r->cid, 4);
	assert_int_equal(m.data[0], 0x06); /* ERR_CHANNEL_BUSY */

	/* ... and the half-sent message times out */
	r->now += 5000;
	assert_int_equal(soft_ctap_hid_write(r->sc, rep2, 64, r->now), 0);
	assert_true(recv_msg(r, &m));
	assert_memory_equal(m.cid, mine, 4);
	assert_int_equal(m.data[0], 0x05); /* ERR_MSG_TIMEOUT */
	assert_true(recv_msg(r, &m));      /* the new ping went through */
	assert_int_equal(m.cmd, HID_PING);
}

/* ---- touch, KEEPALIVE, CANCEL ---- */

static void expect_keepalive(struct rig *r)
{
	struct msg m;
	assert_true(recv_msg(r, &m));
	assert_int_equal(m.cmd, HID_KEEPALIVE);
	assert_int_equal(m.len, 1);
	assert_int_equal(m.data[0], 2); /* UPNEEDED */
}

static void test_keepalive_timing(void **state)
{
	struct rig *r = *state;
	struct msg m;

	soft_ctap_set_touch(r->sc, SOFT_CTAP_TOUCH_YES, 250);
	const uint64_t t0 = r->now;
	ctap_send(r, CTAP_CMD_MAKE_CREDENTIAL, mc_params(false, NULL));
	assert_true(soft_ctap_hid_busy(r->sc));
	expect_keepalive(r);
	assert_int_equal(soft_ctap_hid_next_ms(r->sc), t0 + 100);
	r->now = t0 + 99;
	assert_false(recv_msg(r, &m));
	r->now = t0 + 100;
	expect_keepalive(r);
	r->now = t0 + 200;
	expect_keepalive(r);
	assert_int_equal(soft_ctap_hid_next_ms(r->sc), t0 + 250);
	assert_int_equal(r->persist_calls, 0); /* nothing happened before the touch */
	r->now = t0 + 250;
	assert_true(recv_msg(r, &m));
	assert_int_equal(m.cmd, HID_CBOR);
	assert_int_equal(m.data[0], CTAP2_OK);
	assert_false(soft_ctap_hid_busy(r->sc));
	assert_int_equal(soft_ctap_cred_count(r->sc), 1);
	assert_int_equal(r->persist_calls, 1);
	assert_int_equal(soft_ctap_counter(r->sc), 1);
}

static void test_touch_no(void **state)
{
	struct rig *r = *state;
	uint8_t id[SOFT_CTAP_CRED_ID_MAX];
	size_t idlen = make_cred(r, false, id);
	struct msg m;

	soft_ctap_set_touch(r->sc, SOFT_CTAP_TOUCH_NO, 0);
	/* the user is asked (KEEPALIVE), then refuses */
	ctap_send(r, CTAP_CMD_GET_ASSERTION, ga_params(id, idlen, NULL));
	expect_keepalive(r);
	assert_true(recv_msg(r, &m));
	assert_int_equal(m.cmd, HID_CBOR);
	assert_int_equal(m.len, 1);
	assert_int_equal(m.data[0], CTAP2_ERR_OPERATION_DENIED);
	assert_false(soft_ctap_hid_busy(r->sc));
	assert_int_equal(soft_ctap_counter(r->sc), 1); /* only the makeCredential */
}

static void test_cancel(void **state)
{
	struct rig *r = *state;
	uint8_t id[SOFT_CTAP_CRED_ID_MAX];
	size_t idlen = make_cred(r, false, id);
	uint8_t mine[4];
	struct msg m;

	soft_ctap_set_touch(r->sc, SOFT_CTAP_TOUCH_TIMEOUT, 0);
	ctap_send(r, CTAP_CMD_GET_ASSERTION, ga_params(id, idlen, NULL));
	expect_keepalive(r);
	r->now += 10000;
	expect_keepalive(r);

	/* busy: another channel is refused; its CANCEL does not touch our command */
	memcpy(mine, r->cid, 4);
	channel(r);
	send_msg(r, r->cid, HID_CBOR, (const uint8_t[]){CTAP_CMD_GET_INFO}, 1);
	assert_true(recv_msg(r, &m));
	assert_int_equal(m.cmd, HID_ERROR);
	assert_int_equal(m.data[0], 0x06); /* ERR_CHANNEL_BUSY */
	send_msg(r, r->cid, HID_CANCEL, NULL, 0);
	assert_true(soft_ctap_hid_busy(r->sc));

	/* our CANCEL ends it with CTAP2_ERR_KEEPALIVE_CANCEL */
	send_msg(r, mine, HID_CANCEL, NULL, 0);
	assert_true(recv_msg(r, &m));
	assert_memory_equal(m.cid, mine, 4);
	assert_int_equal(m.cmd, HID_CBOR);
	assert_int_equal(m.len, 1);
	assert_int_equal(m.data[0], CTAP2_ERR_KEEPALIVE_CANCEL);
	assert_false(soft_ctap_hid_busy(r->sc));
	assert_int_equal(soft_ctap_counter(r->sc), 1);

	/* the device serves again; without a CANCEL the user times out after 30 s */
	assert_int_equal(ctap(r, CTAP_CMD_GET_INFO, NULL, &m), CTAP2_OK);
	ctap_send(r, CTAP_CMD_GET_ASSERTION, ga_params(id, idlen, NULL));
	expect_keepalive(r);
	r->now += SOFT_CTAP_UP_TIMEOUT_MS;
	assert_true(recv_msg(r, &m));
	assert_int_equal(m.cmd, HID_CBOR);
	assert_int_equal(m.data[0], CTAP2_ERR_USER_ACTION_TIMEOUT);
}

/* ---- CTAP2 ---- */

static void test_get_info(void **state)
{
	struct rig *r = *state;
	struct msg m;
	const cbor_item_t *a[15], *v;
	bool b;

	assert_int_equal(ctap(r, CTAP_CMD_GET_INFO, NULL, &m), CTAP2_OK);
	cbor_item_t *map = body(&m, a, 15);
	assert_int_equal(cbor_array_size(a[1]), 2);
	assert_int_equal(cbor_bytestring_length(a[3]), 16);
	assert_memory_equal(cbor_bytestring_handle(a[3]), soft_ctap_aaguid(r->sc), 16);
	assert_int_equal(sc_cbor_lookup(a[4], "clientPin", &v), CTAP2_OK);
	assert_int_equal(sc_cbor_bool(v, &b), CTAP2_OK);
	assert_false(b);
	assert_int_equal(sc_cbor_lookup(a[4], "uv", &v), CTAP2_OK);
	assert_null(v);                               /* no built-in user verification */
	cbor_item_t *first = cbor_array_get(a[6], 0); /* a new reference */
	assert_int_equal(cbor_get_int(first), 2);
	cbor_decref(&first);
	cbor_decref(&map);

	assert_int_equal(soft_ctap_set_pin(r->sc, "1234"), 0);
	assert_int_equal(ctap(r, CTAP_CMD_GET_INFO, NULL, &m), CTAP2_OK);
	map = body(&m, a, 15);
	assert_int_equal(sc_cbor_lookup(a[4], "clientPin", &v), CTAP2_OK);
	assert_int_equal(sc_cbor_bool(v, &b), CTAP2_OK);
	assert_true(b);
	cbor_decref(&map);

	/* unknown commands; getInfo takes no parameters */
	assert_int_equal(ctap_raw(r, 0x07, NULL, 0, &m), CTAP1_ERR_INVALID_COMMAND);
	assert_int_equal(ctap_raw(r, CTAP_CMD_GET_INFO, (const uint8_t[]){0xa0}, 1, &m),
	                 CTAP1_ERR_INVALID_LENGTH);
}

static void test_cbor_strict(void **state)
{
	struct rig *r = *state;
	struct msg m;
	static const struct {
		const char *what;
		uint8_t bytes[16];
		size_t len;
		int status;
	} cases[] = {
	    {"truncated map", {0xa2, 0x01, 0x61}, 3, CTAP2_ERR_INVALID_CBOR},
	    {"indefinite map", {0xbf, 0x01, 0x01, 0xff}, 4, CTAP2_ERR_INVALID_CBOR},
	    {"trailing byte", {0xa0, 0x00}, 2, CTAP2_ERR_INVALID_CBOR},
	    {"tag", {0xa1, 0x01, 0xc1, 0x00}, 4, CTAP2_ERR_INVALID_CBOR},
	    {"float", {0xa1, 0x01, 0xf9, 0x3c, 0x00}, 5, CTAP2_ERR_INVALID_CBOR},
	    {"reserved info", {0xa1, 0x01, 0x1c}, 3, CTAP2_ERR_INVALID_CBOR},
	    {"huge length",
	     {0xa1, 0x01, 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	     11,
	     CTAP2_ERR_INVALID_CBOR},
	    {"deep nesting",
	     {0xa1, 0x01, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x00},
	     9,
	     CTAP2_ERR_LIMIT_EXCEEDED},
	    {"not a map", {0x80}, 1, CTAP2_ERR_CBOR_UNEXPECTED_TYPE},
	    {"text key", {0xa1, 0x61, 0x61, 0x00}, 4, CTAP2_ERR_CBOR_UNEXPECTED_TYPE},
	    {"duplicate key", {0xa2, 0x01, 0x00, 0x01, 0x00}, 5, CTAP2_ERR_INVALID_CBOR},
	    {"missing rpId", {0xa1, 0x02, 0x40}, 3, CTAP2_ERR_MISSING_PARAMETER},
	    {"rpId as bytes",
	     {0xa2, 0x01, 0x41, 0x61, 0x02, 0x40},
	     6,
	     CTAP2_ERR_CBOR_UNEXPECTED_TYPE},
	    {"short cdh", {0xa2, 0x01, 0x61, 0x61, 0x02, 0x41, 0x00}, 7, CTAP1_ERR_INVALID_LENGTH},
	    {"invalid UTF-8", {0xa2, 0x01, 0x61, 0xff, 0x02, 0x40}, 6, CTAP2_ERR_INVALID_CBOR},
	    {"empty", {0}, 0, CTAP2_ERR_MISSING_PARAMETER},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int st = ctap_raw(r, CTAP_CMD_GET_ASSERTION, cases[i].bytes, cases[i].len, &m);
		if (st != cases[i].status)
			fail_msg("%s: status 0x%02x, expected 0x%02x", cases[i].what, st,
			         cases[i].status);
	}
	/* the checker alone: nesting exactly at the limit passes */
	static const uint8_t ok[] = {0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x00};
	assert_int_equal(sc_cbor_check(ok, sizeof(ok), 6), CTAP2_OK);
	assert_int_equal(sc_cbor_check(ok, sizeof(ok), 5), CTAP2_ERR_LIMIT_EXCEEDED);
	assert_int_equal(r->persist_calls, 0);
}

static void test_make_cred_checks(void **state)
{
	struct rig *r = *state;
	uint8_t id[SOFT_CTAP_CRED_ID_MAX];
	size_t idlen = make_cred(r, false, id);
	struct msg m;

	/* excludeList naming our credential: touch, then CREDENTIAL_EXCLUDED */
	cbor_item_t *list = cbor_new_definite_array(1);
	cbor_item_t *d = cbor_new_definite_map(2);
	assert_true(sc_map_put_s(d, "id", bytes_item(id, idlen)));
	assert_true(sc_map_put_s(d, "type", cbor_build_string("public-key")));
	assert_true(cbor_array_push(list, d));
	cbor_decref(&d);
	assert_int_equal(ctap(r, CTAP_CMD_MAKE_CREDENTIAL, mc_params(false, list), &m),
	                 CTAP2_ERR_CREDENTIAL_EXCLUDED);
	assert_int_equal(soft_ctap_cred_count(r->sc), 1);

	/* no supported algorithm (RS256 only) */
	cbor_item_t *p = mc_params(false, NULL);
	cbor_item_t *algs = cbor_new_definite_array(1);
	cbor_item_t *a = cbor_new_definite_map(2);
	assert_true(sc_map_put_s(a, "alg", sc_cbor_int_item(-257)));
	assert_true(sc_map_put_s(a, "type", cbor_build_string("public-key")));
	assert_true(cbor_array_push(algs, a));
	cbor_decref(&a);
	struct cbor_pair *pairs = cbor_map_handle(p);
	for (size_t i = 0; i < cbor_map_size(p); i++)
		if (cbor_get_int(pairs[i].key) == 4) {
			cbor_decref(&pairs[i].value);
			pairs[i].value = algs;
		}
	assert_int_equal(ctap(r, CTAP_CMD_MAKE_CREDENTIAL, p, &m), CTAP2_ERR_UNSUPPORTED_ALGORITHM);

	/* "up": false is not allowed for makeCredential */
	p = mc_params(false, NULL);
	assert_true(sc_map_put_u(p, 7, opt1("up", false)));
	assert_int_equal(ctap(r, CTAP_CMD_MAKE_CREDENTIAL, p, &m), CTAP2_ERR_INVALID_OPTION);

	/* a failed save is a failed command */
	r->persist_result = -1;
	assert_int_equal(ctap(r, CTAP_CMD_MAKE_CREDENTIAL, mc_params(false, NULL), &m),
	                 CTAP1_ERR_OTHER);
	assert_int_equal(ctap(r, CTAP_CMD_GET_ASSERTION, ga_params(id, idlen, NULL), &m),
	                 CTAP1_ERR_OTHER);
}

static void test_uv_option(void **state)
{
	struct rig *r = *state;
	uint8_t id[SOFT_CTAP_CRED_ID_MAX];
	size_t idlen = make_cred(r, false, id);
	struct msg m;

	/* no built-in UV and no PIN: the uv option is invalid (CTAP 2.1 §6.2.2 step 4) */
	assert_int_equal(
	    ctap(r, CTAP_CMD_GET_ASSERTION, ga_params(id, idlen, opt1("uv", true)), &m),
	    CTAP2_ERR_INVALID_OPTION);
	/* with a PIN the platform is told to use it */
	assert_int_equal(soft_ctap_set_pin(r->sc, "1234"), 0);
	assert_int_equal(
	    ctap(r, CTAP_CMD_GET_ASSERTION, ga_params(id, idlen, opt1("uv", true)), &m),
	    CTAP2_ERR_PUAT_REQUIRED);
	/* a discoverable credential needs the PIN (makeCredUvNotRqd covers only rk=false) */
	assert_int_equal(ctap(r, CTAP_CMD_MAKE_CREDENTIAL, mc_params(true, NULL), &m),
	                 CTAP2_ERR_PUAT_REQUIRED);
	/* "rk" in getAssertion options */
	assert_int_equal(
	    ctap(r, CTAP_CMD_GET_ASSERTION, ga_params(id, idlen, opt1("rk", true)), &m),
	    CTAP2_ERR_UNSUPPORTED_OPTION);
	/* silent assertion: no touch, UP flag clear */
	soft_ctap_set_touch(r->sc, SOFT_CTAP_TOUCH_NO, 0);
	assert_int_equal(
	    ctap(r, CTAP_CMD_GET_ASSERTION, ga_params(id, idlen, opt1("up", false)), &m), CTAP2_OK);
	const cbor_item_t *a[6];
	const uint8_t *ad;
	size_t adlen;
	cbor_item_t *map = body(&m, a, 6);
	assert_int_equal(sc_cbor_bytes(a[2], &ad, &adlen), CTAP2_OK);
	assert_int_equal(adlen, 37);
	assert_int_equal(ad[32], 0);
	assert_null(a[4]); /* no user for a non-discoverable credential */
	cbor_decref(&map);
	/* touch-to-select probe: a zero-length pinUvAuthParam after the touch */
	soft_ctap_set_touch(r->sc, SOFT_CTAP_TOUCH_YES, 0);
	cbor_item_t *p = mc_params(false, NULL);
	assert_true(sc_map_put_u(p, 8, cbor_build_bytestring((const uint8_t *)"", 0)));
	assert_true(sc_map_put_u(p, 9, cbor_build_uint8(2)));
	assert_int_equal(ctap(r, CTAP_CMD_MAKE_CREDENTIAL, p, &m), CTAP2_ERR_PIN_INVALID);
}

static void test_next_assertion(void **state)
{
	struct rig *r = *state;
	uint8_t id1[SOFT_CTAP_CRED_ID_MAX], id2[SOFT_CTAP_CRED_ID_MAX];
	const cbor_item_t *a[6];
	const uint8_t *got;
	size_t len;
	struct msg m;
	uint64_t n;

	make_cred(r, true, id1);
	/* a second user of the same rp */
	cbor_item_t *p = mc_params(true, NULL);
	struct cbor_pair *pairs = cbor_map_handle(p);
	for (size_t i = 0; i < cbor_map_size(p); i++)
		if (cbor_get_int(pairs[i].key) == 3) {
			cbor_decref(&pairs[i].value);
			pairs[i].value = cbor_new_definite_map(1);
			assert_true(sc_map_put_s(pairs[i].value, "id",
			                         cbor_build_bytestring((const uint8_t *)"bob", 3)));
		}
	assert_int_equal(ctap(r, CTAP_CMD_MAKE_CREDENTIAL, p, &m), CTAP2_OK);
	cbor_item_t *map = body(&m, a, 4);
	assert_int_equal(sc_cbor_bytes(a[2], &got, &len), CTAP2_OK);
	memcpy(id2, got + 55, SOFT_CTAP_CRED_ID_LEN);
	cbor_decref(&map);

	/* the same user again replaces the first credential */
	make_cred(r, true, id1);
	assert_int_equal(soft_ctap_cred_count(r->sc), 2);

	assert_int_equal(ctap(r, CTAP_CMD_GET_ASSERTION, ga_params(NULL, 0, NULL), &m), CTAP2_OK);
	map = body(&m, a, 6);
	assert_int_equal(sc_cbor_uint(a[5], &n), CTAP2_OK);
	assert_int_equal(n, 2);
	const cbor_item_t *v;
	assert_int_equal(sc_cbor_lookup(a[1], "id", &v), CTAP2_OK);
	assert_int_equal(sc_cbor_bytes(v, &got, &len), CTAP2_OK);
	assert_memory_equal(got, id1, SOFT_CTAP_CRED_ID_LEN); /* most recent first */
	assert_int_equal(sc_cbor_lookup(a[4], "id", &v), CTAP2_OK);
	assert_int_equal(sc_cbor_bytes(v, &got, &len), CTAP2_OK);
	assert_int_equal(len, 4);
	assert_memory_equal(got, "user", 4);
	cbor_decref(&map);

	assert_int_equal(ctap(r, CTAP_CMD_GET_NEXT_ASSERTION, NULL, &m), CTAP2_OK);
	map = body(&m, a, 6);
	assert_null(a[5]);
	assert_int_equal(sc_cbor_lookup(a[1], "id", &v), CTAP2_OK);
	assert_int_equal(sc_cbor_bytes(v, &got, &len), CTAP2_OK);
	assert_memory_equal(got, id2, SOFT_CTAP_CRED_ID_LEN);
	cbor_decref(&map);
	assert_int_equal(ctap(r, CTAP_CMD_GET_NEXT_ASSERTION, NULL, &m), CTAP2_ERR_NOT_ALLOWED);

	/* the sequence expires after 30 s */
	assert_int_equal(ctap(r, CTAP_CMD_GET_ASSERTION, ga_params(NULL, 0, NULL), &m), CTAP2_OK);
	r->now += SC_NEXT_ASSERT_MS + 1;
	assert_int_equal(ctap(r, CTAP_CMD_GET_NEXT_ASSERTION, NULL, &m), CTAP2_ERR_NOT_ALLOWED);
	assert_int_equal(soft_ctap_counter(r->sc), 3 + 3);

	/* unknown rp: touch first, then NO_CREDENTIALS */
	p = ga_params(NULL, 0, NULL);
	pairs = cbor_map_handle(p);
	cbor_decref(&pairs[0].value);
	pairs[0].value = cbor_build_string("other.example");
	assert_int_equal(ctap(r, CTAP_CMD_GET_ASSERTION, p, &m), CTAP2_ERR_NO_CREDENTIALS);
}

/* ---- clientPIN, played by a minimal platform ---- */

struct platform {
	EVP_PKEY *key;
	unsigned proto;
	uint8_t shared[64];
	size_t shared_len;
};

/* getKeyAgreement, then decapsulate() with our own key: ECDH is symmetric. */
static void key_agreement(struct rig *r, struct platform *pf)
{
	struct msg m;
	const cbor_item_t *a[2];
	cbor_item_t *p = cbor_new_definite_map(2);
	assert_true(sc_map_put_u(p, 1, cbor_build_uint8((uint8_t)pf->proto)));
	assert_true(sc_map_put_u(p, 2, cbor_build_uint8(2)));
	assert_int_equal(ctap(r, CTAP_CMD_CLIENT_PIN, p, &m), CTAP2_OK);
	cbor_item_t *map = body(&m, a, 2);
	EVP_PKEY_free(pf->key);
	assert_int_equal(sc_ka_generate(&pf->key), 0);
	assert_int_equal(sc_ka_decapsulate(pf->key, a[1], pf->proto, pf->shared, &pf->shared_len),
	                 CTAP2_OK);
	cbor_decref(&map);
}

/* getPinUvAuthTokenUsingPinWithPermissions (ga, example.org); status, token in tok[32]. */
static int get_token(struct rig *r, struct platform *pf, const char *pin, uint8_t tok[32])
{
	uint8_t h[32], enc[32], dec[48];
	size_t enc_len = 0, dec_len = 0;
	const cbor_item_t *a[3];
	struct msg m;

	key_agreement(r, pf);
	sc_sha256(pin, strlen(pin), h);
	assert_int_equal(sc_pp_encrypt(pf->proto, pf->shared, h, 16, enc, &enc_len), 0);
	cbor_item_t *p = cbor_new_definite_map(6);
	assert_true(sc_map_put_u(p, 1, cbor_build_uint8((uint8_t)pf->proto)));
	assert_true(sc_map_put_u(p, 2, cbor_build_uint8(9)));
	assert_true(sc_map_put_u(p, 3, sc_cose_public(pf->key, SOFT_CTAP_COSE_ES256)));
	assert_true(sc_map_put_u(p, 6, bytes_item(enc, enc_len)));
	assert_true(sc_map_put_u(p, 9, cbor_build_uint8(SC_PERM_GA)));
	assert_true(sc_map_put_u(p, 10, cbor_build_string("example.org")));
	int st = ctap(r, CTAP_CMD_CLIENT_PIN, p, &m);
	if (st != CTAP2_OK)
		return st;
	cbor_item_t *map = body(&m, a, 3);
	const uint8_t *t;
	size_t tlen;
	assert_int_equal(sc_cbor_bytes(a[2], &t, &tlen), CTAP2_OK);
	assert_int_equal(tlen, pf->proto == 2 ? 48 : 32);
	assert_int_equal(sc_pp_decrypt(pf->proto, pf->shared, t, tlen, dec, &dec_len), 0);
	assert_int_equal(dec_len, 32);
	memcpy(tok, dec, 32);
	cbor_decref(&map);
	return st;
}

static unsigned retries(struct rig *r)
{
	struct msg m;
	const cbor_item_t *a[5];
	uint64_t n;
	cbor_item_t *p = cbor_new_definite_map(2);
	assert_true(sc_map_put_u(p, 1, cbor_build_uint8(2)));
	assert_true(sc_map_put_u(p, 2, cbor_build_uint8(1)));
	assert_int_equal(ctap(r, CTAP_CMD_CLIENT_PIN, p, &m), CTAP2_OK);
	cbor_item_t *map = body(&m, a, 5);
	assert_int_equal(sc_cbor_uint(a[3], &n), CTAP2_OK);
	cbor_decref(&map);
	return (unsigned)n;
}

/* getAssertion with pinUvAuthParam = authenticate(token, cdh). */
static int assert_with_token(struct rig *r, struct platform *pf, const uint8_t *id, size_t idlen,
                             const uint8_t tok[32], struct msg *m)
{
	uint8_t mac[32];
	unsigned maclen = 0;
	assert_non_null(HMAC(EVP_sha256(), tok, 32, cdh, sizeof(cdh), mac, &maclen));
	cbor_item_t *p = ga_params(id, idlen, NULL);
	assert_true(sc_map_put_u(p, 6, bytes_item(mac, pf->proto == 1 ? 16 : 32)));
	assert_true(sc_map_put_u(p, 7, cbor_build_uint8((uint8_t)pf->proto)));
	return ctap(r, CTAP_CMD_GET_ASSERTION, p, m);
}

static void test_client_pin(void **state)
{
	struct rig *r = *state;
	uint8_t id[SOFT_CTAP_CRED_ID_MAX], tok[32];
	size_t idlen = make_cred(r, false, id);
	struct platform pf = {.proto = 2};
	struct msg m;

	assert_int_equal(get_token(r, &pf, "1234", tok), CTAP2_ERR_PIN_NOT_SET);
	assert_int_equal(soft_ctap_set_pin(r->sc, "1234"), 0);
	r->persist_calls = 0;

	for (unsigned proto = 1; proto <= 2; proto++) {
		pf.proto = proto;
		assert_int_equal(get_token(r, &pf, "1234", tok), CTAP2_OK);
		assert_int_equal(assert_with_token(r, &pf, id, idlen, tok, &m), CTAP2_OK);
		const cbor_item_t *a[6];
		const uint8_t *ad;
		size_t adlen;
		cbor_item_t *map = body(&m, a, 6);
		assert_int_equal(sc_cbor_bytes(a[2], &ad, &adlen), CTAP2_OK);
		assert_int_equal(ad[32], SC_FLAG_UP | SC_FLAG_UV);
		cbor_decref(&map);
		/* the token's permissions are spent by one command */
		assert_int_equal(assert_with_token(r, &pf, id, idlen, tok, &m),
		                 CTAP2_ERR_PIN_AUTH_INVALID);
	}

	/* wrong PINs: retries go down and are saved; three in a row need a power cycle */
	assert_int_equal(retries(r), 8);
	assert_int_equal(get_token(r, &pf, "0000", tok), CTAP2_ERR_PIN_INVALID);
	assert_int_equal(retries(r), 7);
	assert_int_equal(soft_ctap_pin_retries(r->sc), 7);
	assert_int_equal(get_token(r, &pf, "0000", tok), CTAP2_ERR_PIN_INVALID);
	assert_int_equal(get_token(r, &pf, "0000", tok), CTAP2_ERR_PIN_AUTH_BLOCKED);
	assert_int_equal(get_token(r, &pf, "1234", tok), CTAP2_ERR_PIN_AUTH_BLOCKED);
	assert_int_equal(retries(r), 5);
	assert_true(r->persist_calls >= 3);

	/* a new power cycle; the right PIN restores the retries; at 0 the PIN is blocked */
	soft_ctap_free(&r->sc);
	r->sc = soft_ctap_new();
	soft_ctap_set_persist(r->sc, persist_cb, r);
	channel(r);
	assert_int_equal(soft_ctap_set_pin(r->sc, "1234"), 0);
	soft_ctap_set_pin_retries(r->sc, 5);
	assert_int_equal(get_token(r, &pf, "1234", tok), CTAP2_OK);
	assert_int_equal(retries(r), 8);
	soft_ctap_set_pin_retries(r->sc, 1);
	assert_int_equal(get_token(r, &pf, "0000", tok), CTAP2_ERR_PIN_BLOCKED);
	assert_int_equal(get_token(r, &pf, "1234", tok), CTAP2_ERR_PIN_BLOCKED);
	assert_int_equal(retries(r), 0);
	EVP_PKEY_free(pf.key);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_init, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ping_framing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hid_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keepalive_timing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_touch_no, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_get_info, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cbor_strict, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_make_cred_checks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_uv_option, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_next_assertion, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_client_pin, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
