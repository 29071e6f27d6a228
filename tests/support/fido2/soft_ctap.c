/*
 * The soft authenticator object and its CTAPHID transport (CTAP 2.1 §11.2): channel
 * allocation, message reassembly, response framing, KEEPALIVE, CANCEL and the touch knobs.
 *
 *   init report:  CID(4) | CMD|0x80 (1) | BCNTH | BCNTL | DATA(57)
 *   cont report:  CID(4) | SEQ 0..127 (1) | DATA(59)
 */
#include "soft_ctap_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* CTAPHID commands and errors (CTAP 2.1 §11.2.9). */
#define HID_PING      0x01
#define HID_MSG       0x03
#define HID_LOCK      0x04
#define HID_INIT      0x06
#define HID_WINK      0x08
#define HID_CBOR      0x10
#define HID_CANCEL    0x11
#define HID_KEEPALIVE 0x3B
#define HID_ERROR     0x3F

#define HID_ERR_INVALID_CMD     0x01
#define HID_ERR_INVALID_LEN     0x03
#define HID_ERR_INVALID_SEQ     0x04
#define HID_ERR_MSG_TIMEOUT     0x05
#define HID_ERR_CHANNEL_BUSY    0x06
#define HID_ERR_INVALID_CHANNEL 0x0B

#define KEEPALIVE_UPNEEDED 2

#define CAP_WINK 0x01
#define CAP_CBOR 0x04
#define CAP_NMSG 0x08 /* no CTAPHID_MSG: a FIDO2-only device */

#define INIT_DATA          57
#define CONT_DATA          59
#define HID_MSG_TIMEOUT_MS 3000 /* between the reports of one request */

static const uint8_t broadcast[4] = {0xff, 0xff, 0xff, 0xff};

/* "mynaguard soft\0\0" as the default AAGUID. */
static const uint8_t default_aaguid[SOFT_CTAP_AAGUID_LEN] = {'m', 'y', 'n', 'a', 'g', 'u', 'a', 'r',
                                                             'd', ' ', 's', 'o', 'f', 't', 0,   0};

static void cred_free_fields(struct soft_ctap_cred *c)
{
	free(c->rp_id);
	free(c->user_name);
	EVP_PKEY_free(c->key);
	OPENSSL_cleanse(c, sizeof(*c));
}

struct soft_ctap *soft_ctap_new(void)
{
	struct soft_ctap *sc = calloc(1, sizeof(*sc));
	if (sc == NULL)
		return NULL;
	memcpy(sc->aaguid, default_aaguid, sizeof(sc->aaguid));
	sc->pin_retries = SOFT_CTAP_PIN_RETRIES;
	sc->touch = SOFT_CTAP_TOUCH_YES;
	if ((sc->hid.rx_buf = malloc(SC_HID_MAX_MSG)) == NULL || sc_pin_init(sc) < 0)
		soft_ctap_free(&sc);
	return sc;
}

void soft_ctap_free(struct soft_ctap **scp)
{
	struct soft_ctap *sc;
	if (scp == NULL || (sc = *scp) == NULL)
		return;
	soft_ctap_hid_reset(sc);
	soft_ctap_cred_clear(sc);
	EVP_PKEY_free(sc->ka_key);
	free(sc->hid.rx_buf);
	OPENSSL_cleanse(sc, sizeof(*sc));
	free(sc);
	*scp = NULL;
}

void soft_ctap_set_persist(struct soft_ctap *sc, soft_ctap_persist_fn fn, void *ctx)
{
	sc->persist = fn;
	sc->persist_ctx = ctx;
}

int sc_persist(struct soft_ctap *sc)
{
	if (sc->persist != NULL && sc->persist(sc->persist_ctx, sc) != 0)
		return CTAP1_ERR_OTHER;
	return CTAP2_OK;
}

const uint8_t *soft_ctap_aaguid(const struct soft_ctap *sc)
{
	return sc->aaguid;
}

void soft_ctap_set_aaguid(struct soft_ctap *sc, const uint8_t aaguid[SOFT_CTAP_AAGUID_LEN])
{
	memcpy(sc->aaguid, aaguid, SOFT_CTAP_AAGUID_LEN);
}

const char *soft_ctap_pin(const struct soft_ctap *sc)
{
	return sc->pin_set ? sc->pin : NULL;
}

int soft_ctap_set_pin(struct soft_ctap *sc, const char *pin)
{
	if (pin == NULL) {
		OPENSSL_cleanse(sc->pin, sizeof(sc->pin));
		sc->pin_set = false;
		sc->pin_retries = SOFT_CTAP_PIN_RETRIES;
		return 0;
	}
	size_t len = strlen(pin);
	if (len < SOFT_CTAP_PIN_MIN || len > SOFT_CTAP_PIN_MAX)
		return -EINVAL;
	memcpy(sc->pin, pin, len + 1);
	sc->pin_set = true;
	sc->pin_retries = SOFT_CTAP_PIN_RETRIES;
	return 0;
}

unsigned soft_ctap_pin_retries(const struct soft_ctap *sc)
{
	return sc->pin_retries;
}

void soft_ctap_set_pin_retries(struct soft_ctap *sc, unsigned retries)
{
	sc->pin_retries = retries > SOFT_CTAP_PIN_RETRIES ? SOFT_CTAP_PIN_RETRIES : retries;
}

uint32_t soft_ctap_counter(const struct soft_ctap *sc)
{
	return sc->counter;
}

void soft_ctap_set_counter(struct soft_ctap *sc, uint32_t counter)
{
	sc->counter = counter;
}

enum soft_ctap_touch soft_ctap_touch(const struct soft_ctap *sc)
{
	return sc->touch;
}

unsigned soft_ctap_touch_delay_ms(const struct soft_ctap *sc)
{
	return sc->touch_delay_ms;
}

void soft_ctap_set_touch(struct soft_ctap *sc, enum soft_ctap_touch touch, unsigned delay_ms)
{
	sc->touch = touch;
	sc->touch_delay_ms = delay_ms;
}

size_t soft_ctap_cred_count(const struct soft_ctap *sc)
{
	return sc->ncreds;
}

const struct soft_ctap_cred *soft_ctap_cred_at(const struct soft_ctap *sc, size_t i)
{
	return i < sc->ncreds ? &sc->creds[i] : NULL;
}

int soft_ctap_cred_add(struct soft_ctap *sc, const struct soft_ctap_cred *cred)
{
	if (cred->rp_id == NULL || strlen(cred->rp_id) > SOFT_CTAP_RP_ID_MAX || cred->id_len == 0 ||
	    cred->id_len > SOFT_CTAP_CRED_ID_MAX || cred->user_id_len > SOFT_CTAP_USER_ID_MAX ||
	    cred->key == NULL ||
	    (cred->alg != SOFT_CTAP_COSE_ES256 && cred->alg != SOFT_CTAP_COSE_EDDSA) ||
	    (cred->user_name != NULL && strlen(cred->user_name) > SOFT_CTAP_USER_NAME_MAX))
		return -EINVAL;
	if (sc->ncreds >= SOFT_CTAP_MAX_CREDS)
		return -ENOSPC;

	struct soft_ctap_cred *v = realloc(sc->creds, (sc->ncreds + 1) * sizeof(*v));
	if (v == NULL)
		return -ENOMEM;
	sc->creds = v;
	struct soft_ctap_cred c = *cred;
	c.rp_id = strdup(cred->rp_id);
	c.user_name = cred->user_name != NULL ? strdup(cred->user_name) : NULL;
	if (c.rp_id == NULL || (cred->user_name != NULL && c.user_name == NULL) ||
	    EVP_PKEY_up_ref(cred->key) != 1) {
		free(c.rp_id);
		free(c.user_name);
		return -ENOMEM;
	}
	sc->creds[sc->ncreds++] = c;
	sc->next.active = false; /* indices changed */
	return 0;
}

void soft_ctap_cred_clear(struct soft_ctap *sc)
{
	for (size_t i = 0; i < sc->ncreds; i++)
		cred_free_fields(&sc->creds[i]);
	free(sc->creds);
	sc->creds = NULL;
	sc->ncreds = 0;
	sc->next.active = false;
}

/* ---- CTAPHID ---- */

static bool cid_eq(const uint8_t *a, const uint8_t *b)
{
	return memcmp(a, b, 4) == 0;
}

static bool chan_known(const struct sc_hid *h, const uint8_t *cid)
{
	for (size_t i = 0; i < h->nchan; i++)
		if (cid_eq(h->chan[i], cid))
			return true;
	return false;
}

/* Allocates a fresh channel id: not 0, not broadcast, not in use (§11.2.9.1.3). */
static int chan_alloc(struct sc_hid *h, uint8_t cid[4])
{
	static const uint8_t zero[4] = {0};
	do {
		if (sc_random(cid, 4) < 0)
			return -1;
	} while (cid_eq(cid, zero) || cid_eq(cid, broadcast) || chan_known(h, cid));
	if (h->nchan < SC_HID_CHANNELS) {
		memcpy(h->chan[h->nchan++], cid, 4);
	} else {
		memcpy(h->chan[h->chan_next], cid, 4);
		h->chan_next = (h->chan_next + 1) % SC_HID_CHANNELS;
	}
	return 0;
}

static void out_drop_head(struct sc_hid *h)
{
	free(h->outq[0].data);
	memmove(&h->outq[0], &h->outq[1], (h->outq_n - 1) * sizeof(h->outq[0]));
	h->outq_n--;
}

/* Queues a response message; copies data. A full queue drops its oldest message. */
static void out_push(struct sc_hid *h, const uint8_t *cid, uint8_t cmd, const uint8_t *data,
                     size_t len)
{
	struct sc_out o = {.cmd = cmd, .len = len};
	memcpy(o.cid, cid, 4);
	if (len > SC_HID_MAX_MSG)
		return;
	if ((o.data = malloc(len + 1)) == NULL)
		return;
	if (len > 0)
		memcpy(o.data, data, len);
	if (h->outq_n == SC_HID_OUTQ)
		out_drop_head(h);
	h->outq[h->outq_n++] = o;
}

static void out_error(struct sc_hid *h, const uint8_t *cid, uint8_t err)
{
	out_push(h, cid, HID_ERROR, &err, 1);
}

/* A CBOR response: status byte, then the body. */
static void out_cbor(struct sc_hid *h, const uint8_t *cid, int status, const struct sc_buf *body)
{
	uint8_t *m = malloc(1 + (body != NULL ? body->len : 0));
	if (m == NULL)
		return;
	m[0] = (uint8_t)status;
	size_t len = 1;
	if (status == CTAP2_OK && body != NULL && body->len > 0) {
		memcpy(m + 1, body->p, body->len);
		len += body->len;
	}
	out_push(h, cid, HID_CBOR, m, len);
	free(m);
}

static void busy_end(struct sc_hid *h)
{
	free(h->busy_req);
	h->busy_req = NULL;
	h->busy_len = 0;
	h->busy = false;
}

void soft_ctap_hid_reset(struct soft_ctap *sc)
{
	struct sc_hid *h = &sc->hid;
	busy_end(h);
	while (h->outq_n > 0)
		out_drop_head(h);
	h->nchan = 0;
	h->chan_next = 0;
	h->rx_active = false;
}

bool soft_ctap_hid_busy(const struct soft_ctap *sc)
{
	return sc->hid.busy;
}

/* Runs a CBOR command; a command that needs a touch becomes the pending operation. */
static void run_cbor(struct soft_ctap *sc, const uint8_t *cid, const uint8_t *msg, size_t len,
                     uint64_t now)
{
	struct sc_hid *h = &sc->hid;
	struct sc_buf out = {0};
	int r = sc_cmd_dispatch(sc, msg, len, false, now, &out);

	if (r == SC_NEED_UP && sc->touch == SOFT_CTAP_TOUCH_YES && sc->touch_delay_ms == 0)
		r = sc_cmd_dispatch(sc, msg, len, true, now, &out);
	if (r != SC_NEED_UP) {
		out_cbor(h, cid, r, &out);
		free(out.p);
		return;
	}

	/* wait for the (simulated) user: KEEPALIVE UPNEEDED meanwhile (§11.2.9.1.7) */
	if ((h->busy_req = malloc(len)) == NULL) {
		out_cbor(h, cid, CTAP1_ERR_OTHER, NULL);
		return;
	}
	memcpy(h->busy_req, msg, len);
	h->busy_len = len;
	h->busy = true;
	memcpy(h->busy_cid, cid, 4);
	h->busy_keepalive = now;
	h->busy_keepalive_sent = false;
	switch (sc->touch) {
	case SOFT_CTAP_TOUCH_YES:
		h->busy_outcome = CTAP2_OK;
		h->busy_deadline = now + sc->touch_delay_ms;
		break;
	case SOFT_CTAP_TOUCH_NO:
		h->busy_outcome = CTAP2_ERR_OPERATION_DENIED;
		h->busy_deadline = now + sc->touch_delay_ms;
		break;
	case SOFT_CTAP_TOUCH_TIMEOUT:
		h->busy_outcome = CTAP2_ERR_USER_ACTION_TIMEOUT;
		h->busy_deadline = now + SOFT_CTAP_UP_TIMEOUT_MS;
		break;
	}
	if (sc->touch_delay_ms > SOFT_CTAP_UP_TIMEOUT_MS) {
		h->busy_outcome = CTAP2_ERR_USER_ACTION_TIMEOUT;
		h->busy_deadline = now + SOFT_CTAP_UP_TIMEOUT_MS;
	}
}

/* The pending operation's deadline passed: touch granted, denied or timed out. */
static void busy_finish(struct soft_ctap *sc, uint64_t now)
{
	struct sc_hid *h = &sc->hid;
	uint8_t cid[4];
	memcpy(cid, h->busy_cid, 4);
	if (h->busy_outcome != CTAP2_OK) {
		out_cbor(h, cid, h->busy_outcome, NULL);
		busy_end(h);
		return;
	}
	struct sc_buf out = {0};
	int r = sc_cmd_dispatch(sc, h->busy_req, h->busy_len, true, now, &out);
	if (r == SC_NEED_UP)
		r = CTAP1_ERR_OTHER;
	busy_end(h);
	out_cbor(h, cid, r, &out);
	free(out.p);
}

/* CTAPHID_INIT (§11.2.9.1.3): nonce(8) | cid(4) | protocol 2 | major | minor | build | caps. */
static void hid_init(struct soft_ctap *sc, const uint8_t *cid, const uint8_t *data, size_t len)
{
	struct sc_hid *h = &sc->hid;
	uint8_t resp[17];

	if (len != 8) {
		out_error(h, cid, HID_ERR_INVALID_LEN);
		return;
	}
	if (!cid_eq(cid, broadcast) && !chan_known(h, cid)) {
		out_error(h, cid, HID_ERR_INVALID_CHANNEL);
		return;
	}
	memcpy(resp, data, 8);
	if (cid_eq(cid, broadcast)) {
		if (chan_alloc(h, resp + 8) < 0)
			return;
	} else {
		/* resynchronise an existing channel: abandon what it had pending */
		if (h->busy && cid_eq(h->busy_cid, cid))
			busy_end(h);
		memcpy(resp + 8, cid, 4);
	}
	resp[12] = 2; /* CTAPHID protocol version */
	resp[13] = 1;
	resp[14] = 0;
	resp[15] = 0;
	resp[16] = CAP_WINK | CAP_CBOR | CAP_NMSG;
	out_push(h, cid, HID_INIT, resp, sizeof(resp));
}

/* A complete request message. */
static void hid_message(struct soft_ctap *sc, const uint8_t *cid, uint8_t cmd, const uint8_t *data,
                        size_t len, uint64_t now)
{
	struct sc_hid *h = &sc->hid;

	if (cmd == HID_INIT) {
		hid_init(sc, cid, data, len);
		return;
	}
	if (cid_eq(cid, broadcast) || !chan_known(h, cid)) {
		out_error(h, cid, HID_ERR_INVALID_CHANNEL);
		return;
	}
	switch (cmd) {
	case HID_PING: /* §11.2.9.1.4: echo */
		out_push(h, cid, HID_PING, data, len);
		break;
	case HID_WINK: /* §11.2.9.2.1: nothing to blink */
		out_push(h, cid, HID_WINK, NULL, 0);
		break;
	case HID_CANCEL: /* §11.2.9.1.5: no response of its own */
		if (h->busy && cid_eq(h->busy_cid, cid)) {
			busy_end(h);
			out_cbor(h, cid, CTAP2_ERR_KEEPALIVE_CANCEL, NULL);
		}
		break;
	case HID_CBOR: /* §11.2.9.1.2 */
		if (len < 1)
			out_error(h, cid, HID_ERR_INVALID_LEN);
		else if (h->busy)
			out_error(h, cid, HID_ERR_CHANNEL_BUSY);
		else
			run_cbor(sc, cid, data, len, now);
		break;
	case HID_MSG:  /* U2F is not offered (CAP_NMSG) */
	case HID_LOCK: /* optional; not implemented */
	default:
		out_error(h, cid, HID_ERR_INVALID_CMD);
		break;
	}
}

int soft_ctap_hid_write(struct soft_ctap *sc, const uint8_t *report, size_t len, uint64_t now_ms)
{
	struct sc_hid *h = &sc->hid;
	const uint8_t *cid = report;

	if (len != SOFT_CTAP_REPORT_LEN)
		return -EINVAL;

	/* a request whose continuation never came is abandoned (§11.2.9.1.6 ERR_MSG_TIMEOUT) */
	if (h->rx_active && now_ms - h->rx_last_ms > HID_MSG_TIMEOUT_MS) {
		out_error(h, h->rx_cid, HID_ERR_MSG_TIMEOUT);
		h->rx_active = false;
	}

	if ((report[4] & 0x80) == 0) {
		/* continuation report: only for the message being reassembled */
		if (!h->rx_active || !cid_eq(cid, h->rx_cid))
			return 0; /* spurious: ignored (§11.2.4) */
		if (report[4] != h->rx_seq) {
			out_error(h, cid, HID_ERR_INVALID_SEQ);
			h->rx_active = false;
			return 0;
		}
		size_t n = h->rx_len - h->rx_have;
		if (n > CONT_DATA)
			n = CONT_DATA;
		memcpy(h->rx_buf + h->rx_have, report + 5, n);
		h->rx_have += n;
		h->rx_seq++;
		h->rx_last_ms = now_ms;
	} else {
		const uint8_t cmd = report[4] & 0x7f;
		const size_t bcnt = (size_t)report[5] << 8 | report[6];
		if (h->rx_active && cmd == HID_CANCEL)
			return 0; /* a request still arriving has nothing to cancel yet */
		if (h->rx_active && !cid_eq(cid, h->rx_cid)) {
			/* another channel is mid-message (§11.2.4) */
			out_error(h, cid, HID_ERR_CHANNEL_BUSY);
			return 0;
		}
		if (h->rx_active && cmd != HID_INIT) {
			out_error(h, cid, HID_ERR_INVALID_SEQ);
			h->rx_active = false;
			return 0;
		}
		if (bcnt > SC_HID_MAX_MSG) {
			h->rx_active = false;
			out_error(h, cid, HID_ERR_INVALID_LEN);
			return 0;
		}
		h->rx_active = true;
		memcpy(h->rx_cid, cid, 4);
		h->rx_cmd = cmd;
		h->rx_len = bcnt;
		h->rx_have = bcnt < INIT_DATA ? bcnt : INIT_DATA;
		h->rx_seq = 0;
		h->rx_last_ms = now_ms;
		memcpy(h->rx_buf, report + 7, h->rx_have);
	}
	if (h->rx_have < h->rx_len)
		return 0;

	h->rx_active = false;
	uint8_t rcid[4];
	memcpy(rcid, h->rx_cid, 4);
	hid_message(sc, rcid, h->rx_cmd, h->rx_buf, h->rx_len, now_ms);
	return 0;
}

/* Fills one input report from the head of the output queue. */
static void out_frame(struct sc_hid *h, uint8_t *r)
{
	struct sc_out *o = &h->outq[0];
	size_t n;

	memset(r, 0, SOFT_CTAP_REPORT_LEN);
	memcpy(r, o->cid, 4);
	if (!o->started) {
		r[4] = (uint8_t)(0x80 | o->cmd);
		r[5] = (uint8_t)(o->len >> 8);
		r[6] = (uint8_t)(o->len & 0xff);
		n = o->len < INIT_DATA ? o->len : INIT_DATA;
		if (n > 0)
			memcpy(r + 7, o->data, n);
		o->started = true;
	} else {
		r[4] = o->seq++;
		n = o->len - o->off < CONT_DATA ? o->len - o->off : CONT_DATA;
		memcpy(r + 5, o->data + o->off, n);
	}
	o->off += n;
	if (o->off >= o->len)
		out_drop_head(h);
}

int soft_ctap_hid_read(struct soft_ctap *sc, uint8_t report[SOFT_CTAP_REPORT_LEN], uint64_t now_ms)
{
	struct sc_hid *h = &sc->hid;

	if (h->outq_n == 0 && h->busy) {
		/* one KEEPALIVE before any outcome, so that "no" is seen waiting first */
		bool keepalive = now_ms >= h->busy_keepalive &&
		                 (now_ms < h->busy_deadline || !h->busy_keepalive_sent);
		if (keepalive) {
			uint8_t status = KEEPALIVE_UPNEEDED;
			out_push(h, h->busy_cid, HID_KEEPALIVE, &status, 1);
			h->busy_keepalive_sent = true;
			h->busy_keepalive = now_ms + SOFT_CTAP_KEEPALIVE_MS;
		} else if (now_ms >= h->busy_deadline) {
			busy_finish(sc, now_ms);
		}
	}
	if (h->outq_n == 0)
		return 0;
	out_frame(h, report);
	return 1;
}

uint64_t soft_ctap_hid_next_ms(const struct soft_ctap *sc)
{
	const struct sc_hid *h = &sc->hid;
	if (h->outq_n > 0)
		return 0;
	if (!h->busy)
		return UINT64_MAX;
	if (!h->busy_keepalive_sent)
		return h->busy_keepalive;
	return h->busy_keepalive < h->busy_deadline ? h->busy_keepalive : h->busy_deadline;
}
