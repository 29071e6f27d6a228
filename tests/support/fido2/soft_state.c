/* The soft authenticators' JSON state file (format in soft_state.h). */
#include "soft_state.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "mg/safe_open.h"

#define STATE_MAX_SIZE  (4u << 20)
#define TOUCH_DELAY_MAX 3600000
#define PEM_MAX         4096

static pthread_mutex_t state_mutex = PTHREAD_MUTEX_INITIALIZER;

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- base64url (RFC 4648 §5, no padding) ---- */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *soft_b64url_encode(const uint8_t *p, size_t len)
{
	char *s = malloc(len / 3 * 4 + 5);
	size_t o = 0, i = 0;
	if (s == NULL)
		return NULL;
	for (; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		s[o++] = b64url[v >> 18 & 63];
		s[o++] = b64url[v >> 12 & 63];
		s[o++] = b64url[v >> 6 & 63];
		s[o++] = b64url[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		s[o++] = b64url[v >> 18 & 63];
		s[o++] = b64url[v >> 12 & 63];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		s[o++] = b64url[v >> 18 & 63];
		s[o++] = b64url[v >> 12 & 63];
		s[o++] = b64url[v >> 6 & 63];
	}
	s[o] = '\0';
	return s;
}

int soft_b64url_decode(const char *s, uint8_t *out, size_t cap, size_t *len)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t n = 0, slen = strlen(s);

	if (slen % 4 == 1)
		return -1;
	for (size_t i = 0; i < slen; i++) {
		const char *c = memchr(b64url, s[i], 64);
		if (s[i] == '\0' || c == NULL)
			return -1;
		acc = acc << 6 | (uint32_t)(c - b64url);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == cap)
				return -1;
			out[n++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0) /* non-canonical trailing bits */
		return -1;
	*len = n;
	return 0;
}

/* ---- small helpers ---- */

int soft_state_touch_from_string(const char *s)
{
	if (strcmp(s, "yes") == 0)
		return SOFT_CTAP_TOUCH_YES;
	if (strcmp(s, "no") == 0)
		return SOFT_CTAP_TOUCH_NO;
	if (strcmp(s, "timeout") == 0)
		return SOFT_CTAP_TOUCH_TIMEOUT;
	return -1;
}

const char *soft_state_touch_to_string(enum soft_ctap_touch t)
{
	switch (t) {
	case SOFT_CTAP_TOUCH_NO:
		return "no";
	case SOFT_CTAP_TOUCH_TIMEOUT:
		return "timeout";
	case SOFT_CTAP_TOUCH_YES:
	default:
		return "yes";
	}
}

static bool valid_path(const char *p)
{
	if (strncmp(p, "soft:", 5) != 0)
		return false;
	p += 5;
	size_t n = strlen(p);
	if (n < 1 || n > 2 || (n == 2 && p[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" */
static int parse_uuid(const char *s, uint8_t out[16])
{
	size_t o = 0;
	if (strlen(s) != 36)
		return -1;
	for (size_t i = 0; i < 36;) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i++] != '-')
				return -1;
			continue;
		}
		int hi = hexval(s[i]), lo = hexval(s[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[o++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	return 0;
}

static void format_uuid(const uint8_t u[16], char out[37])
{
	size_t o = 0;
	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		snprintf(out + o, 3, "%02x", u[i]);
		o += 2;
	}
	out[o] = '\0';
}

/* Every member of obj is one of allowed[]. */
static int check_members(json_t *obj, const char *const *allowed, const char *where, char *err,
                         size_t errlen)
{
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v)
	{
		bool ok = false;
		for (size_t i = 0; allowed[i] != NULL; i++)
			ok = ok || strcmp(k, allowed[i]) == 0;
		if (!ok) {
			seterr(err, errlen, "%s: unknown member \"%s\"", where, k);
			return -EINVAL;
		}
	}
	return 0;
}

/* An integer member in [lo, hi]; absent leaves *v. */
static int get_int(json_t *obj, const char *name, json_int_t lo, json_int_t hi, json_int_t *v,
                   const char *where, char *err, size_t errlen)
{
	json_t *j = json_object_get(obj, name);
	if (j == NULL)
		return 0;
	if (!json_is_integer(j) || json_integer_value(j) < lo || json_integer_value(j) > hi) {
		seterr(err, errlen,
		       "%s: \"%s\" must be an integer in %" JSON_INTEGER_FORMAT
		       "..%" JSON_INTEGER_FORMAT,
		       where, name, lo, hi);
		return -EINVAL;
	}
	*v = json_integer_value(j);
	return 0;
}

/* A string member; absent gives NULL (an error when required). */
static int get_str(json_t *obj, const char *name, bool required, const char **v, const char *where,
                   char *err, size_t errlen)
{
	json_t *j = json_object_get(obj, name);
	*v = NULL;
	if (j == NULL && !required)
		return 0;
	if (j == NULL || !json_is_string(j)) {
		seterr(err, errlen, "%s: \"%s\" must be a string", where, name);
		return -EINVAL;
	}
	*v = json_string_value(j);
	return 0;
}

/* ---- credentials ---- */

static EVP_PKEY *key_from_pem(const char *pem, int alg)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = b != NULL ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	if (k == NULL)
		return NULL;
	char group[32] = "";
	bool ok = alg == SOFT_CTAP_COSE_EDDSA
	              ? EVP_PKEY_is_a(k, "ED25519")
	              : EVP_PKEY_is_a(k, "EC") &&
	                    EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group,
	                                                   sizeof(group), NULL) == 1 &&
	                    strcmp(group, "prime256v1") == 0;
	if (!ok)
		EVP_PKEY_free(k);
	return ok ? k : NULL;
}

static char *key_to_pem(EVP_PKEY *key)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data = NULL, *pem = NULL;
	if (b != NULL && PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) == 1) {
		long n = BIO_get_mem_data(b, &data);
		if (n > 0 && (pem = malloc((size_t)n + 1)) != NULL) {
			memcpy(pem, data, (size_t)n);
			pem[n] = '\0';
		}
	}
	BIO_free(b);
	return pem;
}

static int parse_cred(json_t *j, struct soft_ctap *sc, const char *where, char *err, size_t errlen)
{
	static const char *const members[] = {"rp_id",   "id",        "alg",         "discoverable",
	                                      "user_id", "user_name", "private_key", NULL};
	struct soft_ctap_cred c = {0};
	const char *rp, *id, *alg, *uid, *uname, *pem;
	int r;

	if (!json_is_object(j)) {
		seterr(err, errlen, "%s: must be an object", where);
		return -EINVAL;
	}
	if ((r = check_members(j, members, where, err, errlen)) < 0 ||
	    (r = get_str(j, "rp_id", true, &rp, where, err, errlen)) < 0 ||
	    (r = get_str(j, "id", true, &id, where, err, errlen)) < 0 ||
	    (r = get_str(j, "alg", true, &alg, where, err, errlen)) < 0 ||
	    (r = get_str(j, "user_id", false, &uid, where, err, errlen)) < 0 ||
	    (r = get_str(j, "user_name", false, &uname, where, err, errlen)) < 0 ||
	    (r = get_str(j, "private_key", true, &pem, where, err, errlen)) < 0)
		return r;
	json_t *d = json_object_get(j, "discoverable");
	if (d != NULL && !json_is_boolean(d)) {
		seterr(err, errlen, "%s: \"discoverable\" must be true or false", where);
		return -EINVAL;
	}
	c.discoverable = d != NULL && json_is_true(d);
	if (strcmp(alg, "es256") == 0)
		c.alg = SOFT_CTAP_COSE_ES256;
	else if (strcmp(alg, "eddsa") == 0)
		c.alg = SOFT_CTAP_COSE_EDDSA;
	else {
		seterr(err, errlen, "%s: \"alg\" must be \"es256\" or \"eddsa\"", where);
		return -EINVAL;
	}
	if (soft_b64url_decode(id, c.id, sizeof(c.id), &c.id_len) < 0 || c.id_len == 0) {
		seterr(err, errlen, "%s: \"id\" must be 1..%d bytes of base64url", where,
		       SOFT_CTAP_CRED_ID_MAX);
		return -EINVAL;
	}
	if (uid != NULL &&
	    soft_b64url_decode(uid, c.user_id, sizeof(c.user_id), &c.user_id_len) < 0) {
		seterr(err, errlen, "%s: \"user_id\" must be 0..%d bytes of base64url", where,
		       SOFT_CTAP_USER_ID_MAX);
		return -EINVAL;
	}
	if (strlen(pem) > PEM_MAX || (c.key = key_from_pem(pem, c.alg)) == NULL) {
		seterr(err, errlen, "%s: \"private_key\" is not a PKCS#8 PEM %s key", where, alg);
		return -EINVAL;
	}
	c.rp_id = (char *)(uintptr_t)rp;
	c.user_name = (char *)(uintptr_t)uname;
	r = soft_ctap_cred_add(sc, &c);
	EVP_PKEY_free(c.key);
	if (r < 0)
		seterr(err, errlen,
		       "%s: invalid credential (rp_id or user_name too long, or too many)", where);
	return r;
}

/* ---- authenticators ---- */

static int parse_key(json_t *j, struct soft_state_key *k, const char *where, char *err,
                     size_t errlen)
{
	static const char *const members[] = {"path",        "present", "aaguid", "pin",
	                                      "pin_retries", "counter", "touch",  "touch_delay_ms",
	                                      "credentials", NULL};
	const char *path, *aaguid, *touch;
	json_int_t retries = SOFT_CTAP_PIN_RETRIES, counter = 0, delay = 0;
	int r;

	if (!json_is_object(j)) {
		seterr(err, errlen, "%s: must be an object", where);
		return -EINVAL;
	}
	if ((r = check_members(j, members, where, err, errlen)) < 0 ||
	    (r = get_str(j, "path", true, &path, where, err, errlen)) < 0 ||
	    (r = get_str(j, "aaguid", false, &aaguid, where, err, errlen)) < 0 ||
	    (r = get_str(j, "touch", false, &touch, where, err, errlen)) < 0 ||
	    (r = get_int(j, "pin_retries", 0, SOFT_CTAP_PIN_RETRIES, &retries, where, err,
	                 errlen)) < 0 ||
	    (r = get_int(j, "counter", 0, UINT32_MAX, &counter, where, err, errlen)) < 0 ||
	    (r = get_int(j, "touch_delay_ms", 0, TOUCH_DELAY_MAX, &delay, where, err, errlen)) < 0)
		return r;
	if (!valid_path(path)) {
		seterr(err, errlen, "%s: \"path\" must be \"soft:N\" with N in 0..99", where);
		return -EINVAL;
	}
	snprintf(k->path, sizeof(k->path), "%s", path);

	json_t *present = json_object_get(j, "present");
	if (present != NULL && !json_is_boolean(present)) {
		seterr(err, errlen, "%s: \"present\" must be true or false", where);
		return -EINVAL;
	}
	k->present = present == NULL || json_is_true(present);

	if ((k->sc = soft_ctap_new()) == NULL)
		return -ENOMEM;
	if (aaguid != NULL) {
		uint8_t u[16];
		if (parse_uuid(aaguid, u) < 0) {
			seterr(err, errlen, "%s: \"aaguid\" must be a UUID", where);
			return -EINVAL;
		}
		soft_ctap_set_aaguid(k->sc, u);
	}
	json_t *pin = json_object_get(j, "pin");
	if (pin != NULL && !json_is_null(pin) &&
	    (!json_is_string(pin) || soft_ctap_set_pin(k->sc, json_string_value(pin)) < 0)) {
		seterr(err, errlen, "%s: \"pin\" must be null or a string of %d..%d bytes", where,
		       SOFT_CTAP_PIN_MIN, SOFT_CTAP_PIN_MAX);
		return -EINVAL;
	}
	soft_ctap_set_pin_retries(k->sc, (unsigned)retries);
	soft_ctap_set_counter(k->sc, (uint32_t)counter);
	int t = touch != NULL ? soft_state_touch_from_string(touch) : SOFT_CTAP_TOUCH_YES;
	if (t < 0) {
		seterr(err, errlen, "%s: \"touch\" must be \"yes\", \"no\" or \"timeout\"", where);
		return -EINVAL;
	}
	soft_ctap_set_touch(k->sc, (enum soft_ctap_touch)t, (unsigned)delay);

	json_t *creds = json_object_get(j, "credentials");
	if (creds == NULL)
		return 0;
	if (!json_is_array(creds) || json_array_size(creds) > SOFT_CTAP_MAX_CREDS) {
		seterr(err, errlen, "%s: \"credentials\" must be an array of at most %d", where,
		       SOFT_CTAP_MAX_CREDS);
		return -EINVAL;
	}
	for (size_t i = 0; i < json_array_size(creds); i++) {
		char w[96];
		snprintf(w, sizeof(w), "%s.credentials[%zu]", where, i);
		if ((r = parse_cred(json_array_get(creds, i), k->sc, w, err, errlen)) < 0)
			return r;
	}
	return 0;
}

struct soft_state *soft_state_new(size_t n)
{
	struct soft_state *st;
	if (n < 1 || n > SOFT_STATE_MAX_KEYS || (st = calloc(1, sizeof(*st))) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		snprintf(st->key[i].path, sizeof(st->key[i].path), "soft:%zu", i);
		st->key[i].present = true;
		if ((st->key[i].sc = soft_ctap_new()) == NULL) {
			st->n = i;
			soft_state_free(&st);
			return NULL;
		}
	}
	st->n = n;
	return st;
}

void soft_state_free(struct soft_state **stp)
{
	struct soft_state *st;
	if (stp == NULL || (st = *stp) == NULL)
		return;
	for (size_t i = 0; i < SOFT_STATE_MAX_KEYS; i++)
		soft_ctap_free(&st->key[i].sc);
	free(st);
	*stp = NULL;
}

struct soft_state_key *soft_state_find(struct soft_state *st, const char *path)
{
	for (size_t i = 0; i < st->n; i++)
		if (strcmp(st->key[i].path, path) == 0)
			return &st->key[i];
	return NULL;
}

int soft_state_parse(const char *text, size_t len, struct soft_state **out, char *err,
                     size_t errlen)
{
	static const char *const members[] = {"version", "authenticators", NULL};
	json_error_t je;
	struct soft_state *st = NULL;
	json_int_t version = 0;
	int r = -EINVAL;

	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL) {
		seterr(err, errlen, "line %d: %s", je.line, je.text);
		return -EINVAL;
	}
	if (!json_is_object(root)) {
		seterr(err, errlen, "top level: must be an object");
		goto out;
	}
	if ((r = check_members(root, members, "top level", err, errlen)) < 0 ||
	    (r = get_int(root, "version", 1, 1, &version, "top level", err, errlen)) < 0)
		goto out;
	r = -EINVAL;
	json_t *keys = json_object_get(root, "authenticators");
	if (version != 1 || keys == NULL || !json_is_array(keys) ||
	    json_array_size(keys) > SOFT_STATE_MAX_KEYS) {
		seterr(err, errlen,
		       "top level: needs \"version\": 1 and \"authenticators\": an "
		       "array of at most %d",
		       SOFT_STATE_MAX_KEYS);
		goto out;
	}
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < json_array_size(keys); i++) {
		char where[48];
		snprintf(where, sizeof(where), "authenticators[%zu]", i);
		st->n = i + 1;
		if ((r = parse_key(json_array_get(keys, i), &st->key[i], where, err, errlen)) < 0)
			goto out;
		for (size_t j = 0; j < i; j++)
			if (strcmp(st->key[j].path, st->key[i].path) == 0) {
				seterr(err, errlen, "%s: duplicate path \"%s\"", where,
				       st->key[i].path);
				r = -EINVAL;
				goto out;
			}
	}
	*out = st;
	st = NULL;
	r = 0;
out:
	soft_state_free(&st);
	json_decref(root);
	return r;
}

static json_t *format_cred(const struct soft_ctap_cred *c)
{
	char *id = soft_b64url_encode(c->id, c->id_len);
	char *uid = soft_b64url_encode(c->user_id, c->user_id_len);
	char *pem = key_to_pem(c->key);
	json_t *j = NULL;

	if (id != NULL && uid != NULL && pem != NULL &&
	    (j = json_pack("{s:s, s:s, s:s, s:b, s:s}", "rp_id", c->rp_id, "id", id, "alg",
	                   c->alg == SOFT_CTAP_COSE_EDDSA ? "eddsa" : "es256", "discoverable",
	                   c->discoverable, "user_id", uid)) != NULL) {
		if ((c->user_name != NULL &&
		     json_object_set_new(j, "user_name", json_string(c->user_name)) < 0) ||
		    json_object_set_new(j, "private_key", json_string(pem)) < 0) {
			json_decref(j);
			j = NULL;
		}
	}
	free(id);
	free(uid);
	if (pem != NULL) {
		OPENSSL_cleanse(pem, strlen(pem));
		free(pem);
	}
	return j;
}

static json_t *format_key(const struct soft_state_key *k)
{
	const struct soft_ctap *sc = k->sc;
	char aaguid[37];
	format_uuid(soft_ctap_aaguid(sc), aaguid);
	const char *pin = soft_ctap_pin(sc);
	json_t *creds = json_array();
	json_t *j = json_pack(
	    "{s:s, s:b, s:s, s:o, s:i, s:I, s:s, s:i}", "path", k->path, "present", k->present,
	    "aaguid", aaguid, "pin", pin != NULL ? json_string(pin) : json_null(), "pin_retries",
	    (int)soft_ctap_pin_retries(sc), "counter", (json_int_t)soft_ctap_counter(sc), "touch",
	    soft_state_touch_to_string(soft_ctap_touch(sc)), "touch_delay_ms",
	    (int)soft_ctap_touch_delay_ms(sc));
	bool ok = j != NULL && creds != NULL;
	for (size_t i = 0; ok && i < soft_ctap_cred_count(sc); i++)
		ok = json_array_append_new(creds, format_cred(soft_ctap_cred_at(sc, i))) == 0;
	if (ok && json_object_set_new(j, "credentials", creds) == 0)
		return j;
	if (!ok)
		json_decref(creds);
	json_decref(j);
	return NULL;
}

char *soft_state_format(const struct soft_state *st)
{
	json_t *keys = json_array();
	json_t *root = json_pack("{s:i}", "version", 1);
	char *text = NULL;
	bool ok = keys != NULL && root != NULL;

	for (size_t i = 0; ok && i < st->n; i++)
		ok = json_array_append_new(keys, format_key(&st->key[i])) == 0;
	if (ok && json_object_set_new(root, "authenticators", keys) == 0) {
		keys = NULL;
		text = json_dumps(root, JSON_INDENT(2));
	}
	json_decref(keys);
	json_decref(root);
	return text;
}

int soft_state_read(const char *file, struct soft_state **out, char *err, size_t errlen)
{
	const struct mg_file_rules rules = {
	    .owner = MG_ANY_OWNER, .allow_group_write = true, .max_size = STATE_MAX_SIZE};
	const char *why = NULL;
	char *text = NULL, e[256] = "";
	size_t len = 0;

	int r = mg_safe_read_file(file, &rules, &text, &len, &why);
	if (r < 0) {
		seterr(err, errlen, "%s: %s", file, why != NULL ? why : strerror(-r));
		return r;
	}
	r = soft_state_parse(text, len, out, e, sizeof(e));
	if (r < 0)
		seterr(err, errlen, "%s: %s", file, e);
	free(text);
	return r;
}

/* The state lock: in-process mutex, then flock(2) on "<file>.lock". Returns the fd. */
static int state_lock(const char *file)
{
	char lock[4096];
	if (snprintf(lock, sizeof(lock), "%s.lock", file) >= (int)sizeof(lock))
		return -ENAMETOOLONG;
	pthread_mutex_lock(&state_mutex);
	int fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		int e = -errno;
		if (fd >= 0)
			close(fd);
		pthread_mutex_unlock(&state_mutex);
		return e;
	}
	return fd;
}

static void state_unlock(int fd)
{
	close(fd);
	pthread_mutex_unlock(&state_mutex);
}

/*
 * Replaces file atomically: a temporary file beside it (O_EXCL, 0600), then rename(2).
 * No fsync: a test fixture needs atomicity against concurrent readers, not durability,
 * and the fsyncs would dominate a test's run time. Called under the state lock.
 */
static int write_atomic(const char *file, const char *data, size_t len)
{
	char tmp[4096];
	int r = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", file, (long)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	unlink(tmp); /* a crashed writer's leftover */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	for (size_t off = 0; off < len && r == 0;) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0 && errno != EINTR)
			r = -errno;
		else if (n > 0)
			off += (size_t)n;
	}
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, file) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

static int write_locked(const char *file, const struct soft_state *st)
{
	char *text = soft_state_format(st);
	if (text == NULL)
		return -ENOMEM;
	size_t len = strlen(text);
	char *line = malloc(len + 2);
	int r = -ENOMEM;
	if (line != NULL) {
		memcpy(line, text, len);
		line[len] = '\n';
		r = write_atomic(file, line, len + 1);
		OPENSSL_cleanse(line, len + 1);
		free(line);
	}
	OPENSSL_cleanse(text, len);
	free(text);
	return r;
}

int soft_state_write(const char *file, const struct soft_state *st)
{
	int fd = state_lock(file);
	if (fd < 0)
		return fd;
	int r = write_locked(file, st);
	state_unlock(fd);
	return r;
}

int soft_state_copy_ctap(struct soft_ctap *dst, const struct soft_ctap *src)
{
	soft_ctap_set_aaguid(dst, soft_ctap_aaguid(src));
	if (soft_ctap_set_pin(dst, soft_ctap_pin(src)) < 0)
		return -EINVAL;
	soft_ctap_set_pin_retries(dst, soft_ctap_pin_retries(src));
	soft_ctap_set_counter(dst, soft_ctap_counter(src));
	soft_ctap_set_touch(dst, soft_ctap_touch(src), soft_ctap_touch_delay_ms(src));
	soft_ctap_cred_clear(dst);
	for (size_t i = 0; i < soft_ctap_cred_count(src); i++) {
		int r = soft_ctap_cred_add(dst, soft_ctap_cred_at(src, i));
		if (r < 0)
			return r;
	}
	return 0;
}

int soft_state_load(const char *file, const char *path, struct soft_ctap *sc, bool *present)
{
	struct soft_state *st = NULL;
	int r = soft_state_read(file, &st, NULL, 0);
	if (r < 0)
		return r;
	struct soft_state_key *k = soft_state_find(st, path);
	if (k == NULL) {
		r = -ENOENT;
	} else {
		*present = k->present;
		r = soft_state_copy_ctap(sc, k->sc);
	}
	soft_state_free(&st);
	return r;
}

/* Locked read-modify-write of one entry. */
static int update(const char *file, const char *path,
                  int (*fn)(struct soft_state_key *k, const void *ctx, char *err, size_t errlen),
                  const void *ctx, char *err, size_t errlen)
{
	struct soft_state *st = NULL;
	int fd = state_lock(file);
	if (fd < 0) {
		seterr(err, errlen, "%s.lock: %s", file, strerror(-fd));
		return fd;
	}
	int r = soft_state_read(file, &st, err, errlen);
	if (r == 0) {
		struct soft_state_key *k = soft_state_find(st, path);
		if (k == NULL) {
			seterr(err, errlen, "%s: no authenticator \"%s\"", file, path);
			r = -ENOENT;
		} else if ((r = fn(k, ctx, err, errlen)) == 0 && (r = write_locked(file, st)) < 0) {
			seterr(err, errlen, "%s: %s", file, strerror(-r));
		}
	}
	soft_state_free(&st);
	state_unlock(fd);
	return r;
}

/*
 * What the authenticator itself changes: PIN, retries, counter, credentials. The knobs
 * (touch, delay, aaguid, present) stay as the file has them, so that a test harness may
 * turn them while a key is open elsewhere.
 */
static int store_fn(struct soft_state_key *k, const void *ctx, char *err, size_t errlen)
{
	const struct soft_ctap *src = ctx;
	struct soft_ctap *dst = k->sc;
	(void)err;
	(void)errlen;
	if (soft_ctap_set_pin(dst, soft_ctap_pin(src)) < 0)
		return -EINVAL;
	soft_ctap_set_pin_retries(dst, soft_ctap_pin_retries(src));
	soft_ctap_set_counter(dst, soft_ctap_counter(src));
	soft_ctap_cred_clear(dst);
	for (size_t i = 0; i < soft_ctap_cred_count(src); i++) {
		int r = soft_ctap_cred_add(dst, soft_ctap_cred_at(src, i));
		if (r < 0)
			return r;
	}
	return 0;
}

int soft_state_store(const char *file, const char *path, const struct soft_ctap *sc)
{
	return update(file, path, store_fn, sc, NULL, 0);
}

static int knobs_fn(struct soft_state_key *key, const void *ctx, char *err, size_t errlen)
{
	const struct soft_state_knobs *k = ctx;
	struct soft_ctap *sc = key->sc;

	if ((k->touch != -1 &&
	     (k->touch < SOFT_CTAP_TOUCH_YES || k->touch > SOFT_CTAP_TOUCH_TIMEOUT)) ||
	    k->touch_delay_ms < -1 || k->touch_delay_ms > TOUCH_DELAY_MAX || k->counter < -1 ||
	    k->counter > (int64_t)UINT32_MAX || k->pin_retries < -1 ||
	    k->pin_retries > SOFT_CTAP_PIN_RETRIES || k->present < -1 || k->present > 1) {
		seterr(err, errlen, "invalid knob value");
		return -EINVAL;
	}
	if (k->clear_pin)
		soft_ctap_set_pin(sc, NULL);
	if (k->pin != NULL && soft_ctap_set_pin(sc, k->pin) < 0) {
		seterr(err, errlen, "a PIN has %d..%d bytes", SOFT_CTAP_PIN_MIN, SOFT_CTAP_PIN_MAX);
		return -EINVAL;
	}
	if (k->pin_retries != -1)
		soft_ctap_set_pin_retries(sc, (unsigned)k->pin_retries);
	if (k->counter != -1)
		soft_ctap_set_counter(sc, (uint32_t)k->counter);
	enum soft_ctap_touch t =
	    k->touch != -1 ? (enum soft_ctap_touch)k->touch : soft_ctap_touch(sc);
	unsigned delay =
	    k->touch_delay_ms != -1 ? (unsigned)k->touch_delay_ms : soft_ctap_touch_delay_ms(sc);
	soft_ctap_set_touch(sc, t, delay);
	if (k->present != -1)
		key->present = k->present == 1;
	return 0;
}

int soft_state_set_knobs(const char *file, const char *path, const struct soft_state_knobs *k,
                         char *err, size_t errlen)
{
	return update(file, path, knobs_fn, k, err, errlen);
}
