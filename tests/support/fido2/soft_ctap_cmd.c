/*
 * CTAP2 commands of the soft authenticator: authenticatorGetInfo (CTAP 2.1 §6.4),
 * authenticatorMakeCredential (§6.1), authenticatorGetAssertion (§6.2),
 * authenticatorGetNextAssertion (§6.3) and authenticatorSelection (§6.9).
 * authenticatorClientPIN (§6.5) is in soft_ctap_pin.c.
 *
 * A command that needs user presence returns SC_NEED_UP before any side effect; the
 * CTAPHID layer runs it again with up_granted once the simulated user touched.
 */
#include "soft_ctap_int.h"

#include <stdlib.h>
#include <string.h>

#define MAX_LIST         64   /* allowList / excludeList / pubKeyCredParams entries */
#define MAX_MSG_SIZE     1200 /* maxMsgSize in getInfo */
#define MAX_CRED_IN_LIST 8    /* maxCredentialCountInList in getInfo */
#define NAME_IN_MAX      1024 /* user.name accepted before truncation to 64 bytes */

/* Pushes item onto array and drops the caller's reference; false when either is NULL. */
static bool array_push(cbor_item_t *array, cbor_item_t *item)
{
	bool ok = array != NULL && item != NULL && cbor_array_push(array, item);
	if (item != NULL)
		cbor_decref(&item);
	return ok;
}

/* An array of text strings. */
static cbor_item_t *text_array(const char *const *v, size_t n)
{
	cbor_item_t *a = cbor_new_definite_array(n);
	bool ok = a != NULL;
	for (size_t i = 0; ok && i < n; i++)
		ok = array_push(a, cbor_build_string(v[i]));
	if (!ok && a != NULL)
		cbor_decref(&a);
	return a;
}

/* getInfo options (§6.4), in canonical order: shorter keys first (§8 canonical CBOR). */
static cbor_item_t *info_options(const struct soft_ctap *sc)
{
	cbor_item_t *o = cbor_new_definite_map(6);
	if (!sc_map_put_s(o, "rk", cbor_build_bool(true)) ||
	    !sc_map_put_s(o, "up", cbor_build_bool(true)) ||
	    !sc_map_put_s(o, "plat", cbor_build_bool(false)) ||
	    !sc_map_put_s(o, "clientPin", cbor_build_bool(sc->pin_set)) ||
	    !sc_map_put_s(o, "pinUvAuthToken", cbor_build_bool(true)) ||
	    !sc_map_put_s(o, "makeCredUvNotRqd", cbor_build_bool(true))) {
		if (o != NULL)
			cbor_decref(&o);
	}
	return o;
}

/* pinUvAuthProtocols: 2 first, the platform's preference order. */
static cbor_item_t *info_protocols(void)
{
	cbor_item_t *a = cbor_new_definite_array(2);
	if (!array_push(a, cbor_build_uint8(2)) || !array_push(a, cbor_build_uint8(1))) {
		if (a != NULL)
			cbor_decref(&a);
	}
	return a;
}

/* algorithms: [{alg, type: "public-key"}, ...] */
static cbor_item_t *info_algorithms(void)
{
	static const int ids[] = {SOFT_CTAP_COSE_ES256, SOFT_CTAP_COSE_EDDSA};
	cbor_item_t *a = cbor_new_definite_array(2);
	bool ok = a != NULL;
	for (size_t i = 0; ok && i < 2; i++) {
		cbor_item_t *m = cbor_new_definite_map(2);
		ok = sc_map_put_s(m, "alg", sc_cbor_int_item(ids[i])) &&
		     sc_map_put_s(m, "type", cbor_build_string("public-key"));
		if (!ok && m != NULL)
			cbor_decref(&m);
		ok = ok && array_push(a, m);
	}
	if (!ok && a != NULL)
		cbor_decref(&a);
	return a;
}

/* §6.4 */
int sc_cmd_get_info(struct soft_ctap *sc, const struct sc_cmd *c, struct sc_buf *out)
{
	static const char *const versions[] = {"FIDO_2_0", "FIDO_2_1"};
	static const char *const transports[] = {"usb"};

	if (c->len != 0)
		return CTAP1_ERR_INVALID_LENGTH;
	cbor_item_t *m = cbor_new_definite_map(11);
	if (!sc_map_put_u(m, 0x01, text_array(versions, 2)) ||
	    !sc_map_put_u(m, 0x03, cbor_build_bytestring(sc->aaguid, sizeof(sc->aaguid))) ||
	    !sc_map_put_u(m, 0x04, info_options(sc)) ||
	    !sc_map_put_u(m, 0x05, cbor_build_uint16(MAX_MSG_SIZE)) ||
	    !sc_map_put_u(m, 0x06, info_protocols()) ||
	    !sc_map_put_u(m, 0x07, cbor_build_uint8(MAX_CRED_IN_LIST)) ||
	    !sc_map_put_u(m, 0x08, cbor_build_uint8(SOFT_CTAP_CRED_ID_MAX)) ||
	    !sc_map_put_u(m, 0x09, text_array(transports, 1)) ||
	    !sc_map_put_u(m, 0x0A, info_algorithms()) ||
	    !sc_map_put_u(m, 0x0D, cbor_build_uint8(SOFT_CTAP_PIN_MIN)) ||
	    !sc_map_put_u(m, 0x0E, cbor_build_uint8(1))) {
		if (m != NULL)
			cbor_decref(&m);
		return CTAP1_ERR_OTHER;
	}
	return sc_cbor_finish(m, out);
}

/* ---- shared helpers ---- */

/* A PublicKeyCredentialDescriptor {type, id}: *id NULL when the type is not "public-key". */
static int descriptor(const cbor_item_t *d, const uint8_t **id, size_t *id_len)
{
	const cbor_item_t *type, *idv;
	char t[32];
	int r;

	*id = NULL;
	if (!cbor_isa_map(d))
		return CTAP2_ERR_CBOR_UNEXPECTED_TYPE;
	if ((r = sc_cbor_lookup(d, "type", &type)) != CTAP2_OK ||
	    (r = sc_cbor_lookup(d, "id", &idv)) != CTAP2_OK)
		return r;
	if (type == NULL || idv == NULL)
		return CTAP2_ERR_MISSING_PARAMETER;
	if ((r = sc_cbor_bytes(idv, id, id_len)) != CTAP2_OK)
		return r;
	r = sc_cbor_text(type, t, sizeof(t));
	if (r == CTAP2_ERR_LIMIT_EXCEEDED || (r == CTAP2_OK && strcmp(t, "public-key") != 0)) {
		*id = NULL; /* another credential type: skipped */
		return CTAP2_OK;
	}
	return r;
}

/* Index of our credential with this id for rp_id, or -1. */
static long find_cred(const struct soft_ctap *sc, const char *rp_id, const uint8_t *id, size_t len)
{
	for (size_t i = 0; i < sc->ncreds; i++) {
		const struct soft_ctap_cred *cr = &sc->creds[i];
		if (cr->id_len == len && memcmp(cr->id, id, len) == 0 &&
		    strcmp(cr->rp_id, rp_id) == 0)
			return (long)i;
	}
	return -1;
}

/* The first list entry that names one of our credentials for rp_id: index or -1. */
static int match_list(const struct soft_ctap *sc, const cbor_item_t *list, const char *rp_id,
                      long *found)
{
	*found = -1;
	if (!cbor_isa_array(list))
		return CTAP2_ERR_CBOR_UNEXPECTED_TYPE;
	if (cbor_array_size(list) > MAX_LIST)
		return CTAP2_ERR_LIMIT_EXCEEDED;
	cbor_item_t **v = cbor_array_handle(list);
	for (size_t i = 0; i < cbor_array_size(list); i++) {
		const uint8_t *id;
		size_t len;
		int r = descriptor(v[i], &id, &len);
		if (r != CTAP2_OK)
			return r;
		if (id != NULL && *found < 0)
			*found = find_cred(sc, rp_id, id, len);
	}
	return CTAP2_OK;
}

/* options map: text keys to booleans; an absent option leaves its variable alone. */
static int parse_options(const cbor_item_t *o, int *rk, int *up, int *uv)
{
	const cbor_item_t *v;
	bool b;
	int r;
	struct {
		const char *name;
		int *dst;
	} known[] = {{"rk", rk}, {"up", up}, {"uv", uv}};

	if (!cbor_isa_map(o))
		return CTAP2_ERR_CBOR_UNEXPECTED_TYPE;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if ((r = sc_cbor_lookup(o, known[i].name, &v)) != CTAP2_OK)
			return r;
		if (v == NULL)
			continue;
		if ((r = sc_cbor_bool(v, &b)) != CTAP2_OK)
			return r;
		*known[i].dst = b ? 1 : 0;
	}
	return CTAP2_OK;
}

/* pinUvAuthParam / pinUvAuthProtocol pair: steps 1 and 2 of §6.1.2 and §6.2.2. */
static int check_pin_params(const struct soft_ctap *sc, const struct sc_cmd *c,
                            const cbor_item_t *param, const cbor_item_t *proto_item,
                            const uint8_t **p, size_t *plen, uint64_t *proto)
{
	int r;
	*p = NULL;
	*plen = 0;
	if (param == NULL)
		return CTAP2_OK;
	if ((r = sc_cbor_bytes(param, p, plen)) != CTAP2_OK)
		return r;
	if (*plen == 0) {
		/* "touch to select" probe: wait for the touch, then tell the PIN state */
		if (!c->up_granted)
			return SC_NEED_UP;
		return sc->pin_set ? CTAP2_ERR_PIN_INVALID : CTAP2_ERR_PIN_NOT_SET;
	}
	if (proto_item == NULL)
		return CTAP2_ERR_MISSING_PARAMETER;
	if ((r = sc_cbor_uint(proto_item, proto)) != CTAP2_OK)
		return r;
	if (*proto != 1 && *proto != 2)
		return CTAP1_ERR_INVALID_PARAMETER;
	return CTAP2_OK;
}

/*
 * "uv": true without built-in user verification. CTAP 2.1 §6.1.2 step 5 / §6.2.2 step 4
 * answer CTAP2_ERR_INVALID_OPTION; with a PIN set we answer CTAP2_ERR_PUAT_REQUIRED
 * (CTAP 2.0: PIN_REQUIRED), telling a CTAP 2.0-style platform to use the PIN.
 */
static int uv_option_unsupported(const struct soft_ctap *sc)
{
	return sc->pin_set ? CTAP2_ERR_PUAT_REQUIRED : CTAP2_ERR_INVALID_OPTION;
}

static int next_counter(struct soft_ctap *sc, uint32_t *value)
{
	if (sc->counter < UINT32_MAX)
		sc->counter++;
	*value = sc->counter;
	return CTAP2_OK;
}

/*
 * Authenticator data (WebAuthn §6.1): rpIdHash(32) | flags(1) | signCount(4, big endian)
 * [| aaguid(16) | credIdLen(2) | credId | COSE_Key] with attested credential data.
 */
static int auth_data(const struct soft_ctap *sc, const uint8_t *rp_hash, uint8_t flags,
                     uint32_t count, const struct soft_ctap_cred *attest, struct sc_buf *ad)
{
	unsigned char *cose = NULL;
	size_t cose_len = 0, cap = 0;

	if (attest != NULL) {
		cbor_item_t *k = sc_cose_public(attest->key, attest->alg);
		if (k == NULL)
			return CTAP1_ERR_OTHER;
		cose_len = cbor_serialize_alloc(k, &cose, &cap);
		cbor_decref(&k);
		if (cose_len == 0) {
			free(cose);
			return CTAP1_ERR_OTHER;
		}
	}
	size_t len = 37 + (attest != NULL ? 16 + 2 + attest->id_len + cose_len : 0);
	uint8_t *p = malloc(len);
	if (p == NULL) {
		free(cose);
		return CTAP1_ERR_OTHER;
	}
	memcpy(p, rp_hash, 32);
	p[32] = flags;
	p[33] = (uint8_t)(count >> 24);
	p[34] = (uint8_t)(count >> 16);
	p[35] = (uint8_t)(count >> 8);
	p[36] = (uint8_t)count;
	if (attest != NULL) {
		uint8_t *q = p + 37;
		memcpy(q, sc->aaguid, 16);
		q[16] = (uint8_t)(attest->id_len >> 8);
		q[17] = (uint8_t)attest->id_len;
		memcpy(q + 18, attest->id, attest->id_len);
		memcpy(q + 18 + attest->id_len, cose, cose_len);
	}
	free(cose);
	ad->p = p;
	ad->len = len;
	return CTAP2_OK;
}

/* The credential descriptor of an assertion response: {"id": id, "type": "public-key"}. */
static cbor_item_t *cred_descriptor(const struct soft_ctap_cred *cr)
{
	cbor_item_t *d = cbor_new_definite_map(2);
	if (!sc_map_put_s(d, "id", cbor_build_bytestring(cr->id, cr->id_len)) ||
	    !sc_map_put_s(d, "type", cbor_build_string("public-key"))) {
		if (d != NULL)
			cbor_decref(&d);
		return NULL;
	}
	return d;
}

/* user of a discoverable credential: the id; the name only after UV (§6.2.2 step 12). */
static cbor_item_t *user_entity(const struct soft_ctap_cred *cr, uint8_t flags)
{
	cbor_item_t *u = cbor_new_definite_map(2);
	if (!sc_map_put_s(u, "id", cbor_build_bytestring(cr->user_id, cr->user_id_len)) ||
	    ((flags & SC_FLAG_UV) != 0 && cr->user_name != NULL &&
	     !sc_map_put_s(u, "name", cbor_build_string(cr->user_name)))) {
		if (u != NULL)
			cbor_decref(&u);
	}
	return u;
}

/* Packed self attestation statement (WebAuthn §8.2): {alg, sig}, no x5c. */
static cbor_item_t *att_stmt(int alg, const uint8_t *sig, size_t siglen)
{
	cbor_item_t *m = cbor_new_definite_map(2);
	if (!sc_map_put_s(m, "alg", sc_cbor_int_item(alg)) ||
	    !sc_map_put_s(m, "sig", cbor_build_bytestring(sig, siglen))) {
		if (m != NULL)
			cbor_decref(&m);
	}
	return m;
}

/* One assertion response (§6.2.2 step 11/12): signs authData || clientDataHash. */
static int assertion(struct soft_ctap *sc, const struct soft_ctap_cred *cr, const uint8_t *rp_hash,
                     const uint8_t *cdh, uint8_t flags, size_t count, struct sc_buf *out)
{
	struct sc_buf ad = {0};
	uint8_t sig[80];
	size_t siglen = 0;
	uint32_t counter;
	int r;

	if ((r = next_counter(sc, &counter)) != CTAP2_OK ||
	    (r = auth_data(sc, rp_hash, flags, counter, NULL, &ad)) != CTAP2_OK)
		return r;
	if (sc_sign(cr->key, cr->alg, ad.p, ad.len, cdh, 32, sig, &siglen) < 0) {
		free(ad.p);
		return CTAP1_ERR_OTHER;
	}
	cbor_item_t *m = cbor_new_definite_map(5);
	bool ok = sc_map_put_u(m, 0x01, cred_descriptor(cr)) &&
	          sc_map_put_u(m, 0x02, cbor_build_bytestring(ad.p, ad.len)) &&
	          sc_map_put_u(m, 0x03, cbor_build_bytestring(sig, siglen)) &&
	          (!cr->discoverable || sc_map_put_u(m, 0x04, user_entity(cr, flags))) &&
	          (count <= 1 || sc_map_put_u(m, 0x05, sc_cbor_int_item((int64_t)count)));
	free(ad.p);
	if (!ok) {
		if (m != NULL)
			cbor_decref(&m);
		return CTAP1_ERR_OTHER;
	}
	if ((r = sc_persist(sc)) != CTAP2_OK) {
		cbor_decref(&m);
		return r;
	}
	return sc_cbor_finish(m, out);
}

/* Truncates a UTF-8 string to at most max bytes without splitting a character. */
static void utf8_truncate(char *s, size_t max)
{
	size_t len = strlen(s);
	if (len <= max)
		return;
	len = max;
	while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
		len--;
	s[len] = '\0';
}

static void cred_remove(struct soft_ctap *sc, size_t i)
{
	struct soft_ctap_cred *cr = &sc->creds[i];
	free(cr->rp_id);
	free(cr->user_name);
	EVP_PKEY_free(cr->key);
	memmove(cr, cr + 1, (sc->ncreds - i - 1) * sizeof(*cr));
	sc->ncreds--;
}

/* pubKeyCredParams: the first supported algorithm (§6.1.2 step 3). */
static int choose_alg(const cbor_item_t *params, int *alg)
{
	*alg = 0;
	if (!cbor_isa_array(params))
		return CTAP2_ERR_CBOR_UNEXPECTED_TYPE;
	if (cbor_array_size(params) > MAX_LIST)
		return CTAP2_ERR_LIMIT_EXCEEDED;
	cbor_item_t **v = cbor_array_handle(params);
	for (size_t i = 0; i < cbor_array_size(params); i++) {
		const cbor_item_t *type, *algv;
		char t[32];
		int64_t a;
		int r;
		if (!cbor_isa_map(v[i]))
			return CTAP2_ERR_CBOR_UNEXPECTED_TYPE;
		if ((r = sc_cbor_lookup(v[i], "type", &type)) != CTAP2_OK ||
		    (r = sc_cbor_lookup(v[i], "alg", &algv)) != CTAP2_OK)
			return r;
		if (type == NULL || algv == NULL)
			return CTAP2_ERR_MISSING_PARAMETER;
		if ((r = sc_cbor_int(algv, &a)) != CTAP2_OK)
			return r;
		r = sc_cbor_text(type, t, sizeof(t));
		if (r == CTAP2_ERR_LIMIT_EXCEEDED)
			continue;
		if (r != CTAP2_OK)
			return r;
		if (strcmp(t, "public-key") != 0)
			continue;
		if (*alg == 0 && (a == SOFT_CTAP_COSE_ES256 || a == SOFT_CTAP_COSE_EDDSA))
			*alg = (int)a;
	}
	return *alg != 0 ? CTAP2_OK : CTAP2_ERR_UNSUPPORTED_ALGORITHM;
}

struct mc_req {
	const uint8_t *cdh;
	char rp_id[SOFT_CTAP_RP_ID_MAX + 1];
	uint8_t user_id[SOFT_CTAP_USER_ID_MAX];
	size_t user_id_len;
	char user_name[NAME_IN_MAX];
	bool has_name;
	int alg;
	int rk, up, uv;
	const uint8_t *pin_param;
	size_t pin_param_len;
	uint64_t proto;
};

static int mc_parse(const struct soft_ctap *sc, const struct sc_cmd *c, const cbor_item_t **a,
                    struct mc_req *q)
{
	const cbor_item_t *v;
	const uint8_t *p;
	size_t len;
	int r;

	if (a[1] == NULL || a[2] == NULL || a[3] == NULL || a[4] == NULL)
		return CTAP2_ERR_MISSING_PARAMETER;
	if ((r = sc_cbor_bytes(a[1], &q->cdh, &len)) != CTAP2_OK)
		return r;
	if (len != 32)
		return CTAP1_ERR_INVALID_LENGTH;
	/* rp: {id, name?} */
	if (!cbor_isa_map(a[2]))
		return CTAP2_ERR_CBOR_UNEXPECTED_TYPE;
	if ((r = sc_cbor_lookup(a[2], "id", &v)) != CTAP2_OK)
		return r;
	if (v == NULL)
		return CTAP2_ERR_MISSING_PARAMETER;
	if ((r = sc_cbor_text(v, q->rp_id, sizeof(q->rp_id))) != CTAP2_OK)
		return r;
	/* user: {id, name?, displayName?} */
	if (!cbor_isa_map(a[3]))
		return CTAP2_ERR_CBOR_UNEXPECTED_TYPE;
	if ((r = sc_cbor_lookup(a[3], "id", &v)) != CTAP2_OK)
		return r;
	if (v == NULL)
		return CTAP2_ERR_MISSING_PARAMETER;
	if ((r = sc_cbor_bytes(v, &p, &len)) != CTAP2_OK)
		return r;
	if (len > SOFT_CTAP_USER_ID_MAX)
		return CTAP2_ERR_LIMIT_EXCEEDED;
	memcpy(q->user_id, p, len);
	q->user_id_len = len;
	if ((r = sc_cbor_lookup(a[3], "name", &v)) != CTAP2_OK)
		return r;
	if (v != NULL) {
		if ((r = sc_cbor_text(v, q->user_name, sizeof(q->user_name))) != CTAP2_OK)
			return r;
		utf8_truncate(q->user_name, SOFT_CTAP_USER_NAME_MAX);
		q->has_name = true;
	}

	if ((r = check_pin_params(sc, c, a[8], a[9], &q->pin_param, &q->pin_param_len,
	                          &q->proto)) != CTAP2_OK)
		return r;
	if ((r = choose_alg(a[4], &q->alg)) != CTAP2_OK)
		return r;
	q->rk = 0;
	q->up = 1;
	q->uv = 0;
	if (a[7] != NULL && (r = parse_options(a[7], &q->rk, &q->up, &q->uv)) != CTAP2_OK)
		return r;
	if (a[6] != NULL && !cbor_isa_map(a[6]))
		return CTAP2_ERR_CBOR_UNEXPECTED_TYPE; /* extensions: none supported, ignored */
	if (a[10] != NULL)
		return CTAP1_ERR_INVALID_PARAMETER; /* enterpriseAttestation not supported */
	return CTAP2_OK;
}

/* §6.1.2 */
int sc_cmd_make_credential(struct soft_ctap *sc, const struct sc_cmd *c, struct sc_buf *out)
{
	cbor_item_t *map = NULL;
	const cbor_item_t *a[11];
	struct mc_req *q = calloc(1, sizeof(*q));
	struct soft_ctap_cred cr = {0};
	struct sc_buf ad = {0};
	uint8_t flags = SC_FLAG_UP | SC_FLAG_AT, rp_hash[32], sig[80];
	size_t siglen = 0;
	uint32_t counter;
	long excluded = -1;
	int r;

	if (q == NULL)
		return CTAP1_ERR_OTHER;
	if ((r = sc_cbor_parse_map(c->params, c->len, &map)) != CTAP2_OK ||
	    (r = sc_cbor_args(map, a, 11)) != CTAP2_OK || (r = mc_parse(sc, c, a, q)) != CTAP2_OK)
		goto out;

	/* step 5: options */
	if (q->up == 0) {
		r = CTAP2_ERR_INVALID_OPTION;
		goto out;
	}
	if (q->pin_param != NULL)
		q->uv = 0; /* pinUvAuthParam takes precedence */
	if (q->uv == 1) {
		r = uv_option_unsupported(sc);
		goto out;
	}
	/* step 11: user verification with the pinUvAuthToken */
	if (q->pin_param != NULL) {
		r = sc_pin_check_token(sc, q->proto, q->cdh, q->pin_param, q->pin_param_len,
		                       SC_PERM_MC, q->rp_id);
		if (r != CTAP2_OK)
			goto out;
		flags |= SC_FLAG_UV;
	} else if (sc->pin_set && q->rk == 1) {
		/* makeCredUvNotRqd covers non-discoverable credentials only */
		r = CTAP2_ERR_PUAT_REQUIRED;
		goto out;
	}
	/* step 12: excludeList */
	if (a[5] != NULL && (r = match_list(sc, a[5], q->rp_id, &excluded)) != CTAP2_OK)
		goto out;
	/* step 14: user presence (also before telling that a credential is excluded) */
	if (!c->up_granted) {
		r = SC_NEED_UP;
		goto out;
	}
	if (excluded >= 0) {
		r = CTAP2_ERR_CREDENTIAL_EXCLUDED;
		goto out;
	}

	/* step 15: the new credential; a discoverable one replaces the same rp/user */
	if (q->rk == 1)
		for (size_t i = sc->ncreds; i-- > 0;)
			if (sc->creds[i].discoverable &&
			    strcmp(sc->creds[i].rp_id, q->rp_id) == 0 &&
			    sc->creds[i].user_id_len == q->user_id_len &&
			    memcmp(sc->creds[i].user_id, q->user_id, q->user_id_len) == 0)
				cred_remove(sc, i);
	if (sc->ncreds >= SOFT_CTAP_MAX_CREDS) {
		r = CTAP2_ERR_KEY_STORE_FULL;
		goto out;
	}
	cr.rp_id = q->rp_id;
	cr.user_name = q->has_name ? q->user_name : NULL;
	cr.alg = q->alg;
	cr.discoverable = q->rk == 1;
	memcpy(cr.user_id, q->user_id, q->user_id_len);
	cr.user_id_len = q->user_id_len;
	cr.id_len = SOFT_CTAP_CRED_ID_LEN;
	if (sc_random(cr.id, cr.id_len) < 0 || sc_key_generate(q->alg, &cr.key) < 0 ||
	    soft_ctap_cred_add(sc, &cr) != 0) {
		r = CTAP1_ERR_OTHER;
		goto out;
	}
	sc_sha256(q->rp_id, strlen(q->rp_id), rp_hash);
	if ((r = next_counter(sc, &counter)) != CTAP2_OK ||
	    (r = auth_data(sc, rp_hash, flags, counter, &cr, &ad)) != CTAP2_OK)
		goto out;
	/* step 16: packed self attestation (WebAuthn §8.2): sig over authData || cdh */
	if (sc_sign(cr.key, cr.alg, ad.p, ad.len, q->cdh, 32, sig, &siglen) < 0) {
		r = CTAP1_ERR_OTHER;
		goto out;
	}
	cbor_item_t *m = cbor_new_definite_map(3);
	if (!sc_map_put_u(m, 0x01, cbor_build_string("packed")) ||
	    !sc_map_put_u(m, 0x02, cbor_build_bytestring(ad.p, ad.len)) ||
	    !sc_map_put_u(m, 0x03, att_stmt(cr.alg, sig, siglen))) {
		if (m != NULL)
			cbor_decref(&m);
		r = CTAP1_ERR_OTHER;
		goto out;
	}
	if (q->pin_param != NULL)
		sc_pin_token_used(sc);
	if ((r = sc_persist(sc)) != CTAP2_OK) {
		cbor_decref(&m);
		goto out;
	}
	r = sc_cbor_finish(m, out);
out:
	EVP_PKEY_free(cr.key);
	free(ad.p);
	if (map != NULL)
		cbor_decref(&map);
	free(q);
	return r;
}

/* §6.2.2 */
int sc_cmd_get_assertion(struct soft_ctap *sc, const struct sc_cmd *c, struct sc_buf *out)
{
	cbor_item_t *map = NULL;
	const cbor_item_t *a[8];
	char rp_id[SOFT_CTAP_RP_ID_MAX + 1];
	const uint8_t *cdh, *pin_param = NULL;
	size_t len, pin_param_len = 0, found[SOFT_CTAP_MAX_CREDS], nfound = 0;
	uint64_t proto = 0;
	uint8_t flags = 0, rp_hash[32];
	int rk = -1, up = 1, uv = 0, r;

	if ((r = sc_cbor_parse_map(c->params, c->len, &map)) != CTAP2_OK ||
	    (r = sc_cbor_args(map, a, 8)) != CTAP2_OK)
		goto out;
	if (a[1] == NULL || a[2] == NULL) {
		r = CTAP2_ERR_MISSING_PARAMETER;
		goto out;
	}
	if ((r = sc_cbor_text(a[1], rp_id, sizeof(rp_id))) != CTAP2_OK ||
	    (r = sc_cbor_bytes(a[2], &cdh, &len)) != CTAP2_OK)
		goto out;
	if (len != 32) {
		r = CTAP1_ERR_INVALID_LENGTH;
		goto out;
	}
	if ((r = check_pin_params(sc, c, a[6], a[7], &pin_param, &pin_param_len, &proto)) !=
	    CTAP2_OK)
		goto out;
	if (a[4] != NULL && !cbor_isa_map(a[4])) {
		r = CTAP2_ERR_CBOR_UNEXPECTED_TYPE; /* extensions: none supported, ignored */
		goto out;
	}
	/* step 4: options */
	if (a[5] != NULL && (r = parse_options(a[5], &rk, &up, &uv)) != CTAP2_OK)
		goto out;
	if (rk != -1) {
		r = CTAP2_ERR_UNSUPPORTED_OPTION;
		goto out;
	}
	if (pin_param != NULL)
		uv = 0;
	if (uv == 1) {
		r = uv_option_unsupported(sc);
		goto out;
	}
	/* step 6: user verification with the pinUvAuthToken */
	if (pin_param != NULL) {
		r = sc_pin_check_token(sc, proto, cdh, pin_param, pin_param_len, SC_PERM_GA, rp_id);
		if (r != CTAP2_OK)
			goto out;
		flags |= SC_FLAG_UV;
	}
	/* step 7: applicable credentials */
	if (a[3] != NULL) {
		long i;
		if ((r = match_list(sc, a[3], rp_id, &i)) != CTAP2_OK)
			goto out;
		if (i >= 0)
			found[nfound++] = (size_t)i;
	} else {
		/* discoverable credentials of the rp, most recently created first */
		for (size_t i = sc->ncreds; i-- > 0;)
			if (sc->creds[i].discoverable && strcmp(sc->creds[i].rp_id, rp_id) == 0)
				found[nfound++] = i;
	}
	/* step 9: user presence, before disclosing whether we hold a credential */
	if (up == 1) {
		if (!c->up_granted) {
			r = SC_NEED_UP;
			goto out;
		}
		flags |= SC_FLAG_UP;
	}
	if (nfound == 0) {
		r = CTAP2_ERR_NO_CREDENTIALS;
		goto out;
	}
	sc_sha256(rp_id, strlen(rp_id), rp_hash);
	if (pin_param != NULL)
		sc_pin_token_used(sc);
	/* A rogue key for tests: takes the PIN, then signs an answer without the UV flag. */
	if (getenv("MG_SOFT_FIDO2_ROGUE_NO_UV"))
		flags &= (uint8_t)~SC_FLAG_UV;
	r = assertion(sc, &sc->creds[found[0]], rp_hash, cdh, flags, nfound, out);
	if (r == CTAP2_OK && nfound > 1) {
		struct sc_next_assert *n = &sc->next;
		n->active = true;
		n->expires_ms = c->now_ms + SC_NEXT_ASSERT_MS;
		memcpy(n->rp_hash, rp_hash, 32);
		memcpy(n->cdh, cdh, 32);
		n->flags = flags;
		memcpy(n->idx, found, nfound * sizeof(found[0]));
		n->n = nfound;
		n->next = 1;
	}
out:
	if (map != NULL)
		cbor_decref(&map);
	return r;
}

/* §6.3 */
int sc_cmd_get_next_assertion(struct soft_ctap *sc, const struct sc_cmd *c, struct sc_buf *out)
{
	struct sc_next_assert *n = &sc->next;
	if (!n->active || c->now_ms > n->expires_ms || n->next >= n->n) {
		n->active = false;
		return CTAP2_ERR_NOT_ALLOWED;
	}
	const struct soft_ctap_cred *cr = &sc->creds[n->idx[n->next++]];
	n->expires_ms = c->now_ms + SC_NEXT_ASSERT_MS;
	int r = assertion(sc, cr, n->rp_hash, n->cdh, n->flags, 0, out);
	if (n->next >= n->n)
		n->active = false;
	return r;
}

/* §6.9: the user picks this authenticator by touching it. */
int sc_cmd_selection(struct soft_ctap *sc, const struct sc_cmd *c, struct sc_buf *out)
{
	(void)sc;
	(void)out;
	if (c->len != 0)
		return CTAP1_ERR_INVALID_LENGTH;
	return c->up_granted ? CTAP2_OK : SC_NEED_UP;
}

int sc_cmd_dispatch(struct soft_ctap *sc, const uint8_t *msg, size_t len, bool up_granted,
                    uint64_t now_ms, struct sc_buf *out)
{
	struct sc_cmd c = {
	    .params = msg + 1, .len = len - 1, .up_granted = up_granted, .now_ms = now_ms};
	out->p = NULL;
	out->len = 0;
	if (len < 1)
		return CTAP1_ERR_INVALID_LENGTH;
	/* any other command ends a getAssertion/getNextAssertion sequence (§6.3) */
	if (msg[0] != CTAP_CMD_GET_NEXT_ASSERTION)
		sc->next.active = false;
	switch (msg[0]) {
	case CTAP_CMD_MAKE_CREDENTIAL:
		return sc_cmd_make_credential(sc, &c, out);
	case CTAP_CMD_GET_ASSERTION:
		return sc_cmd_get_assertion(sc, &c, out);
	case CTAP_CMD_GET_INFO:
		return sc_cmd_get_info(sc, &c, out);
	case CTAP_CMD_CLIENT_PIN:
		return sc_cmd_client_pin(sc, &c, out);
	case CTAP_CMD_GET_NEXT_ASSERTION:
		return sc_cmd_get_next_assertion(sc, &c, out);
	case CTAP_CMD_SELECTION:
		return sc_cmd_selection(sc, &c, out);
	default: /* authenticatorReset and the management commands are not implemented */
		return CTAP1_ERR_INVALID_COMMAND;
	}
}
