/* Key, CSR, POST /v1/enroll, storing the result (uplink_enroll.h). */
#include "uplink_enroll.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "uplink_creds.h"
#include "uplink_files.h"

#define CSR_SUBJECT "mynaguard-terminal"

struct enroll_req {
	const char *collector, *token, *ca, *hostname, *agent_version;
	size_t ca_len;
};

static const struct {
	const char *key;
	size_t max;
	size_t off;
} fields[] = {
    {"collector", MG_UPLINK_URL_MAX, offsetof(struct enroll_req, collector)},
    {"token", 255, offsetof(struct enroll_req, token)},
    {"ca", MG_UPLINK_FILE_MAX, offsetof(struct enroll_req, ca)},
    {"hostname", 255, offsetof(struct enroll_req, hostname)},
    {"agent_version", 63, offsetof(struct enroll_req, agent_version)},
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

/* One PEM certificate; NULL when text is not one. */
static X509 *pem_cert(const char *text, size_t len)
{
	BIO *b = BIO_new_mem_buf(text, (int)len);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	return x;
}

/* The strict parse of the agent's payload (pointers into o). 0 or -EINVAL with why. */
static int parse_req(json_t *o, struct enroll_req *r, char *why, size_t whylen)
{
	const char *k;
	json_t *v;
	if (!json_is_object(o)) {
		snprintf(why, whylen, "expected a JSON object");
		return -EINVAL;
	}
	json_object_foreach(o, k, v)
	{
		size_t i = 0;
		while (i < NFIELDS && strcmp(fields[i].key, k) != 0)
			i++;
		if (i == NFIELDS) {
			snprintf(why, whylen, "unknown key");
			return -EINVAL;
		}
		size_t n = json_string_length(v);
		const char *s = json_string_value(v);
		if (!s || n == 0 || n > fields[i].max || strlen(s) != n) {
			snprintf(why, whylen, "%s: expected a string of 1-%zu bytes", k,
			         fields[i].max);
			return -EINVAL;
		}
		memcpy((char *)r + fields[i].off, &s, sizeof(s));
	}
	for (size_t i = 0; i < NFIELDS; i++) {
		const char *s;
		memcpy(&s, (const char *)r + fields[i].off, sizeof(s));
		if (!s) {
			snprintf(why, whylen, "%s: missing", fields[i].key);
			return -EINVAL;
		}
	}
	r->ca_len = strlen(r->ca);
	char w[128];
	if (mg_uplink_url_check(r->collector, w, sizeof(w)) < 0) {
		snprintf(why, whylen, "collector: %s", w);
		return -EINVAL;
	}
	X509 *x = pem_cert(r->ca, r->ca_len);
	if (!x) {
		snprintf(why, whylen, "ca: not a PEM certificate");
		return -EINVAL;
	}
	X509_free(x);
	return 0;
}

/* The contents of a memory BIO as a NUL-terminated string of ours. */
static char *bio_text(BIO *b, size_t *len)
{
	char *data = NULL;
	long n = BIO_get_mem_data(b, &data);
	char *s = n > 0 ? malloc((size_t)n + 1) : NULL;
	if (s) {
		memcpy(s, data, (size_t)n);
		s[n] = '\0';
		*len = (size_t)n;
	}
	return s;
}

/* A new P-256 key (PEM, PKCS#8) and a CSR signed with it. 0 or -ENOMEM/-EIO. */
static int key_and_csr(char **key_pem, size_t *key_len, char **csr_pem)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	BIO *kb = BIO_new(BIO_s_secmem()), *cb = BIO_new(BIO_s_mem());
	size_t csr_len = 0;
	int r = -EIO;
	*key_pem = *csr_pem = NULL;
	if (!key || !req || !name || !kb || !cb)
		goto out;
	if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)CSR_SUBJECT,
	                               -1, -1, 0) != 1 ||
	    X509_REQ_set_version(req, 0) != 1 || X509_REQ_set_subject_name(req, name) != 1 ||
	    X509_REQ_set_pubkey(req, key) != 1 || X509_REQ_sign(req, key, EVP_sha256()) <= 0 ||
	    PEM_write_bio_X509_REQ(cb, req) != 1 ||
	    PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL) != 1)
		goto out;
	*key_pem = bio_text(kb, key_len);
	*csr_pem = bio_text(cb, &csr_len);
	r = *key_pem && *csr_pem ? 0 : -ENOMEM;
	if (r < 0) {
		if (*key_pem)
			explicit_bzero(*key_pem, *key_len);
		free(*key_pem);
		free(*csr_pem);
		*key_pem = *csr_pem = NULL;
	}
out:
	BIO_free(kb);
	BIO_free(cb);
	X509_NAME_free(name);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	return r;
}

/* The certificate of a 200/201 answer, checked against key: a copy, or NULL with why. */
static char *issued_cert(const struct mg_uplink_result *res, const char *key, size_t key_len,
                         size_t *len, const char **why)
{
	json_t *o =
	    json_loadb((const char *)res->body, res->body_len, JSON_REJECT_DUPLICATES, NULL);
	const char *pem = json_string_value(json_object_get(o, "certificate"));
	size_t n = pem ? json_string_length(json_object_get(o, "certificate")) : 0;
	char *copy = NULL;
	*why = "the collector's answer has no certificate";
	if (pem && n > 0 && n <= MG_UPLINK_FILE_MAX && strlen(pem) == n) {
		X509 *x = pem_cert(pem, n);
		BIO *kb = BIO_new_mem_buf(key, (int)key_len);
		EVP_PKEY *k = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
		if (!x)
			*why = "the collector's certificate is not a PEM certificate";
		else if (!k || X509_check_private_key(x, k) != 1)
			*why = "the collector's certificate is not for the key just made";
		else if ((copy = strndup(pem, n)))
			*len = n;
		else
			*why = "out of memory";
		EVP_PKEY_free(k);
		BIO_free(kb);
		X509_free(x);
	}
	json_decref(o);
	return copy;
}

void mg_uplink_enroll(struct mg_uplink_http *h, int dirfd, const uint8_t *payload, size_t len,
                      struct mg_uplink_result *res)
{
	struct enroll_req rq = {0};
	struct mg_uplink_creds c = {0};
	json_t *o = NULL, *body = NULL;
	char *key = NULL, *csr = NULL, *text = NULL, why[256];
	size_t key_len = 0;
	const char *w = NULL;
	int r;
	mg_uplink_result_clear(res);
	if (len > MG_UPLINK_ENROLL_MAX) {
		mg_uplink_result_fail(res, "enrolment request: too large");
		goto out;
	}
	o = json_loadb((const char *)payload, len, JSON_REJECT_DUPLICATES, NULL);
	if (!o) {
		mg_uplink_result_fail(res, "enrolment request: not valid JSON");
		goto out;
	}
	if (parse_req(o, &rq, why, sizeof(why)) < 0) {
		mg_uplink_result_fail(res, "enrolment request: %s", why);
		goto out;
	}
	if (key_and_csr(&key, &key_len, &csr) < 0) {
		mg_uplink_result_fail(res, "cannot make a key and a certificate request");
		goto out;
	}
	body = json_pack("{s:s, s:s, s:s, s:s}", "token", rq.token, "csr", csr, "hostname",
	                 rq.hostname, "agent_version", rq.agent_version);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	if (!text) {
		mg_uplink_result_fail(res, "out of memory");
		goto out;
	}
	const struct mg_uplink_http_req hr = {
	    .collector = rq.collector,
	    .path = "/v1/enroll",
	    .body = text,
	    .body_len = strlen(text),
	    .ca = rq.ca,
	    .ca_len = rq.ca_len,
	};
	mg_uplink_http_do(h, &hr, res);
	if (res->status != 200 && res->status != 201)
		goto out; /* passed on as it came; nothing stored */
	c.cert = issued_cert(res, key, key_len, &c.cert_len, &w);
	c.ca = strdup(rq.ca);
	c.collector = strdup(rq.collector);
	if (!c.cert || !c.ca || !c.collector) {
		mg_uplink_result_fail(res, "enrolment not stored: %s",
		                      c.cert ? "out of memory" : w);
		goto out;
	}
	c.ca_len = rq.ca_len;
	c.key = key;
	c.key_len = key_len;
	key = NULL; /* c owns it now */
	r = mg_uplink_creds_store(dirfd, &c);
	if (r < 0)
		mg_uplink_result_fail(
		    res, "enrolment not stored: cannot write the uplink's files: %s", strerror(-r));
out:
	mg_uplink_creds_clear(&c);
	if (key)
		explicit_bzero(key, key_len);
	free(key);
	free(csr);
	free(text);
	json_decref(body);
	json_decref(o);
}
