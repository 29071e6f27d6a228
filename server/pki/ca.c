/* The collector's certificate authority (ca.h). */
#include "ca.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "mg/safe_open.h"

#define MAX_PEM (64u * 1024u)

struct mg_ca {
	EVP_PKEY *key;
	X509 *cert;
	char *pem;
};

static void seterr(char *err, size_t errlen, const char *msg)
{
	if (err && errlen > 0)
		snprintf(err, errlen, "%s", msg);
}

static int path_in(const char *dir, const char *name, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* PEM of the private key (0600) or certificate into dir/name, atomically. */
static int write_pem(const char *dir, const char *name, EVP_PKEY *key, X509 *cert)
{
	char path[PATH_MAX];
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL;
	long len;
	int ret = -ENOMEM;
	if (!bio)
		goto fail;
	ret = path_in(dir, name, path, sizeof(path));
	if (ret < 0)
		goto fail;
	ret = -EIO;
	if (key && PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1)
		goto fail;
	if (cert && PEM_write_bio_X509(bio, cert) != 1)
		goto fail;
	len = BIO_get_mem_data(bio, &data);
	if (len <= 0)
		goto fail;
	ret = mg_write_file_atomic(path, data, (size_t)len, key ? 0600 : 0644);
	explicit_bzero(data, (size_t)len);
fail:
	BIO_free(bio);
	return ret;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;
	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -EINVAL;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : -EIO;
}

/* An unsigned certificate for pub with subject cn issued by issuer (NULL: self-issued). */
static int make_cert(EVP_PKEY *pub, const char *cn, X509 *issuer, const char *serial_hex,
                     uint32_t days, X509 **out)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	BIGNUM *bn = NULL;
	ASN1_INTEGER *serial = NULL;
	int ret = -ENOMEM;
	if (!x || !name)
		goto fail;
	ret = -EIO;
	if (BN_hex2bn(&bn, serial_hex) <= 0 || !(serial = BN_to_ASN1_INTEGER(bn, NULL)))
		goto fail;
	if (X509_set_version(x, 2) != 1 || X509_set_serialNumber(x, serial) != 1 ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -300) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, NULL) ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
	                               0) != 1 ||
	    X509_set_subject_name(x, name) != 1 ||
	    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) != 1 ||
	    X509_set_pubkey(x, pub) != 1)
		goto fail;
	ret = add_ext(x, issuer ? issuer : x, NID_subject_key_identifier, "hash");
	if (ret == 0)
		ret = add_ext(x, issuer ? issuer : x, NID_authority_key_identifier, "keyid:always");
	if (ret < 0)
		goto fail;
	*out = x;
	x = NULL;
	ret = 0;
fail:
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	X509_NAME_free(name);
	X509_free(x);
	return ret;
}

static int sign(X509 *x, EVP_PKEY *key)
{
	return X509_sign(x, key, EVP_sha256()) > 0 ? 0 : -EIO;
}

int mg_ca_new_serial(char hex[MG_CA_SERIAL_HEX])
{
	unsigned char b[16];
	static const char digits[] = "0123456789abcdef";
	if (RAND_bytes(b, sizeof(b)) != 1)
		return -EIO;
	b[0] = (unsigned char)((b[0] & 0x7f) | 0x10); /* positive, 16 bytes in DER */
	for (size_t i = 0; i < sizeof(b); i++) {
		hex[2 * i] = digits[b[i] >> 4];
		hex[2 * i + 1] = digits[b[i] & 15];
	}
	hex[32] = '\0';
	return 0;
}

int mg_ca_create(const char *dir, uint32_t days)
{
	char path[PATH_MAX];
	char serial[MG_CA_SERIAL_HEX];
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	int ret = path_in(dir, "ca.key", path, sizeof(path));
	if (ret < 0)
		goto fail;
	if (access(path, F_OK) == 0) {
		ret = -EEXIST;
		goto fail;
	}
	ret = mg_ca_new_serial(serial);
	if (ret < 0)
		goto fail;
	ret = -EIO;
	key = EVP_EC_gen("P-256");
	if (!key)
		goto fail;
	ret = make_cert(key, "mynaguard collector CA", NULL, serial, days, &x);
	if (ret == 0)
		ret = add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
	if (ret == 0)
		ret = add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	if (ret == 0)
		ret = sign(x, key);
	if (ret == 0)
		ret = write_pem(dir, "ca.key", key, NULL);
	if (ret == 0)
		ret = write_pem(dir, "ca.pem", NULL, x);
fail:
	X509_free(x);
	EVP_PKEY_free(key);
	return ret;
}

int mg_ca_create_server(const char *dir, const char *const *names, size_t n, uint32_t days)
{
	struct mg_ca *ca = NULL;
	char serial[MG_CA_SERIAL_HEX];
	char san[2048] = "";
	size_t used = 0;
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	int ret = -EINVAL;
	if (n == 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		unsigned char addr[16];
		bool ip = inet_pton(AF_INET, names[i], addr) == 1 ||
		          inet_pton(AF_INET6, names[i], addr) == 1;
		int w;
		if (!names[i][0] || (!ip && strpbrk(names[i], ",: \n")))
			goto fail;
		w = snprintf(san + used, sizeof(san) - used, "%s%s:%s", i ? "," : "",
		             ip ? "IP" : "DNS", names[i]);
		if (w < 0 || (size_t)w >= sizeof(san) - used)
			goto fail;
		used += (size_t)w;
	}
	ret = mg_ca_load(dir, &ca);
	if (ret == 0)
		ret = mg_ca_new_serial(serial);
	if (ret < 0)
		goto fail;
	ret = -EIO;
	key = EVP_EC_gen("P-256");
	if (!key)
		goto fail;
	ret = make_cert(key, names[0], ca->cert, serial, days, &x);
	if (ret == 0)
		ret = add_ext(x, ca->cert, NID_basic_constraints, "critical,CA:FALSE");
	if (ret == 0)
		ret = add_ext(x, ca->cert, NID_key_usage, "critical,digitalSignature");
	if (ret == 0)
		ret = add_ext(x, ca->cert, NID_ext_key_usage, "serverAuth");
	if (ret == 0)
		ret = add_ext(x, ca->cert, NID_subject_alt_name, san);
	if (ret == 0)
		ret = sign(x, ca->key);
	if (ret == 0)
		ret = write_pem(dir, "server.key", key, NULL);
	if (ret == 0)
		ret = write_pem(dir, "server.pem", NULL, x);
fail:
	X509_free(x);
	EVP_PKEY_free(key);
	mg_ca_free(&ca);
	return ret;
}

static int read_file(const char *dir, const char *name, bool secret, char **data, size_t *len)
{
	char path[PATH_MAX];
	struct mg_file_rules rules = {.owner = geteuid(), .secret = secret, .max_size = MAX_PEM};
	int ret = path_in(dir, name, path, sizeof(path));
	if (ret < 0)
		return ret;
	return mg_safe_read_file(path, &rules, data, len, NULL);
}

int mg_ca_load(const char *dir, struct mg_ca **out)
{
	struct mg_ca *ca = calloc(1, sizeof(*ca));
	char *keypem = NULL;
	size_t keylen = 0, pemlen = 0;
	BIO *bio = NULL;
	int ret = -ENOMEM;
	if (!ca)
		goto fail;
	ret = read_file(dir, "ca.key", true, &keypem, &keylen);
	if (ret == 0)
		ret = read_file(dir, "ca.pem", false, &ca->pem, &pemlen);
	if (ret < 0)
		goto fail;
	ret = -EINVAL;
	bio = BIO_new_mem_buf(keypem, (int)keylen);
	if (!bio || !(ca->key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)))
		goto fail;
	BIO_free(bio);
	bio = BIO_new_mem_buf(ca->pem, (int)pemlen);
	if (!bio || !(ca->cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		goto fail;
	if (X509_check_private_key(ca->cert, ca->key) != 1)
		goto fail;
	*out = ca;
	ca = NULL;
	ret = 0;
fail:
	BIO_free(bio);
	if (keypem) {
		explicit_bzero(keypem, keylen);
		free(keypem);
	}
	mg_ca_free(&ca);
	return ret;
}

void mg_ca_free(struct mg_ca **ca)
{
	if (!ca || !*ca)
		return;
	EVP_PKEY_free((*ca)->key);
	X509_free((*ca)->cert);
	free((*ca)->pem);
	free(*ca);
	*ca = NULL;
}

const char *mg_ca_pem(const struct mg_ca *ca)
{
	return ca->pem;
}

/* Parses and checks a CSR; *out owns the request. */
static int load_csr(const char *pem, size_t len, X509_REQ **out, char *err, size_t errlen)
{
	BIO *bio = NULL;
	X509_REQ *req = NULL;
	EVP_PKEY *pub;
	char group[64] = "";
	size_t glen = 0;
	int ret = -EINVAL;
	if (len == 0 || len > MAX_PEM) {
		seterr(err, errlen, "csr: empty or too large");
		goto fail;
	}
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio) {
		ret = -ENOMEM;
		goto fail;
	}
	req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
	if (!req) {
		seterr(err, errlen, "csr: not a PEM certificate request");
		goto fail;
	}
	pub = X509_REQ_get0_pubkey(req);
	if (!pub || !EVP_PKEY_is_a(pub, "EC") ||
	    EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
	                                   &glen) != 1 ||
	    (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0)) {
		seterr(err, errlen, "csr: the key must be EC P-256");
		goto fail;
	}
	if (X509_REQ_verify(req, pub) != 1) {
		seterr(err, errlen, "csr: signature does not verify");
		goto fail;
	}
	*out = req;
	req = NULL;
	ret = 0;
fail:
	X509_REQ_free(req);
	BIO_free(bio);
	return ret;
}

int mg_ca_check_csr(const char *pem, size_t len, char *err, size_t errlen)
{
	X509_REQ *req = NULL;
	int ret = load_csr(pem, len, &req, err, errlen);
	X509_REQ_free(req);
	return ret;
}

int mg_ca_sign_csr(struct mg_ca *ca, const char *csr_pem, size_t len, int64_t host_id,
                   const char *serial_hex, uint32_t days, char **pem_out)
{
	X509_REQ *req = NULL;
	X509 *x = NULL;
	BIO *bio = NULL;
	char cn[64];
	char *data = NULL, *copy = NULL;
	long n;
	int ret = load_csr(csr_pem, len, &req, NULL, 0);
	if (ret < 0)
		goto fail;
	snprintf(cn, sizeof(cn), "mynaguard-host-%lld", (long long)host_id);
	ret = make_cert(X509_REQ_get0_pubkey(req), cn, ca->cert, serial_hex, days, &x);
	if (ret == 0)
		ret = add_ext(x, ca->cert, NID_basic_constraints, "critical,CA:FALSE");
	if (ret == 0)
		ret = add_ext(x, ca->cert, NID_key_usage, "critical,digitalSignature");
	if (ret == 0)
		ret = add_ext(x, ca->cert, NID_ext_key_usage, "clientAuth");
	if (ret == 0)
		ret = sign(x, ca->key);
	if (ret < 0)
		goto fail;
	ret = -ENOMEM;
	bio = BIO_new(BIO_s_mem());
	if (!bio || PEM_write_bio_X509(bio, x) != 1)
		goto fail;
	n = BIO_get_mem_data(bio, &data);
	if (n <= 0 || !(copy = strndup(data, (size_t)n)))
		goto fail;
	*pem_out = copy;
	ret = 0;
fail:
	BIO_free(bio);
	X509_free(x);
	X509_REQ_free(req);
	return ret;
}
