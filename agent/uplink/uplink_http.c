/* libcurl: one reused easy handle, pinned CA, client certificate blobs (uplink_http.h). */
#include "uplink_http.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "uplink_header.h"

#define CONNECT_TIMEOUT_MS 5000L
#define TOTAL_TIMEOUT_MS   30000L
#define USER_AGENT         "mynaguard-uplink/" MYNAGUARD_VERSION

struct mg_uplink_http {
	CURL *curl;
	char errbuf[CURL_ERROR_SIZE];
	/* the request under way */
	uint8_t *body;
	size_t body_len, body_cap;
	bool too_large;
	struct mg_uplink_headers hdr;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct mg_uplink_http *h = ud;
	size_t n = size * nmemb;
	if (n > MG_UPLINK_MAX_PAYLOAD - h->body_len) {
		h->too_large = true;
		return 0; /* CURLE_WRITE_ERROR */
	}
	if (h->body_len + n > h->body_cap) {
		size_t cap = h->body_cap ? h->body_cap : 16384;
		while (cap < h->body_len + n)
			cap *= 2;
		if (cap > MG_UPLINK_MAX_PAYLOAD)
			cap = MG_UPLINK_MAX_PAYLOAD;
		uint8_t *b = realloc(h->body, cap);
		if (!b)
			return 0;
		h->body = b;
		h->body_cap = cap;
	}
	memcpy(h->body + h->body_len, ptr, n);
	h->body_len += n;
	return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct mg_uplink_http *h = ud;
	mg_uplink_header_line(&h->hdr, ptr, size * nmemb);
	return size * nmemb;
}

/* The settings every request shares; a failure here is a libcurl without what we need. */
static int configure(CURL *c, struct mg_uplink_http *h)
{
	CURLcode r = CURLE_OK;
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (r == CURLE_OK)                                                                 \
			r = curl_easy_setopt(c, opt, val);                                         \
	} while (0)
	SET(CURLOPT_ERRORBUFFER, h->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_NOPROXY, "*");
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	/* Only the pinned CA blob: no bundle file, no directory of system CAs. */
	SET(CURLOPT_CAINFO, NULL);
	SET(CURLOPT_CAPATH, NULL);
	SET(CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	SET(CURLOPT_TIMEOUT_MS, TOTAL_TIMEOUT_MS);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)MG_UPLINK_MAX_PAYLOAD);
	SET(CURLOPT_USERAGENT, USER_AGENT);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, h);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, h);
#undef SET
	return r == CURLE_OK ? 0 : -ENOTSUP;
}

int mg_uplink_http_new(struct mg_uplink_http **out)
{
	struct mg_uplink_http *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->curl = curl_easy_init();
	if (!h->curl) {
		free(h);
		return -ENOMEM;
	}
	int r = configure(h->curl, h);
	if (r < 0) {
		mg_uplink_http_free(&h);
		return r;
	}
	*out = h;
	return 0;
}

void mg_uplink_http_free(struct mg_uplink_http **ph)
{
	struct mg_uplink_http *h = ph ? *ph : NULL;
	if (!h)
		return;
	curl_easy_cleanup(h->curl);
	free(h->body);
	free(h);
	*ph = NULL;
}

void mg_uplink_result_clear(struct mg_uplink_result *res)
{
	free(res->body);
	memset(res, 0, sizeof(*res));
}

void mg_uplink_result_fail(struct mg_uplink_result *res, const char *fmt, ...)
{
	va_list ap;
	mg_uplink_result_clear(res);
	va_start(ap, fmt);
	(void)vsnprintf(res->error, sizeof(res->error), fmt, ap);
	va_end(ap);
	for (char *p = res->error; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
	if (!res->error[0])
		snprintf(res->error, sizeof(res->error), "failed");
}

/* Whether part of u is present. */
static bool has_part(CURLU *u, CURLUPart what)
{
	char *part = NULL;
	bool has = curl_url_get(u, what, &part, 0) == CURLUE_OK && part && part[0];
	curl_free(part);
	return has;
}

int mg_uplink_url_check(const char *url, char *why, size_t whylen)
{
	CURLU *u = NULL;
	const char *bad = NULL;
	size_t n = url ? strnlen(url, MG_UPLINK_URL_MAX + 1) : 0;
	if (n == 0 || n > MG_UPLINK_URL_MAX) {
		bad = "expected an https:// URL of at most 511 bytes";
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (url[i] <= 0x20 || url[i] > 0x7e) {
			bad = "the URL holds a space or a character outside printable ASCII";
			goto out;
		}
	if (strncmp(url, "https://", 8) != 0) {
		bad = "expected an https:// URL";
		goto out;
	}
	u = curl_url();
	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		bad = "not a valid URL";
	else if (!has_part(u, CURLUPART_HOST))
		bad = "the URL has no host";
	else if (has_part(u, CURLUPART_USER) || has_part(u, CURLUPART_PASSWORD))
		bad = "the URL may not hold a user name or password";
	else if (has_part(u, CURLUPART_QUERY) || has_part(u, CURLUPART_FRAGMENT))
		bad = "the URL may not hold a query or a fragment";
out:
	curl_url_cleanup(u);
	if (bad) {
		snprintf(why, whylen, "%s", bad);
		return -EINVAL;
	}
	return 0;
}

/* How a failed transfer reads to an administrator. */
static void transfer_error(struct mg_uplink_http *h, const struct mg_uplink_http_req *req,
                           CURLcode rc, struct mg_uplink_result *res)
{
	const char *detail = h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc);
	long os_errno = 0;
	(void)curl_easy_getinfo(h->curl, CURLINFO_OS_ERRNO, &os_errno);
	switch (rc) {
	case CURLE_WRITE_ERROR:
	case CURLE_FILESIZE_EXCEEDED:
		if (h->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
			mg_uplink_result_fail(res, "answer too large");
			return;
		}
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
		mg_uplink_result_fail(res, "cannot resolve the host of %s: %s", req->collector,
		                      detail);
		return;
	case CURLE_COULDNT_CONNECT:
		if (os_errno > 0)
			mg_uplink_result_fail(res, "cannot connect to %s: %s", req->collector,
			                      strerror((int)os_errno));
		else
			mg_uplink_result_fail(res, "cannot connect to %s: %s", req->collector,
			                      detail);
		return;
	case CURLE_OPERATION_TIMEDOUT:
		mg_uplink_result_fail(res, "no answer from %s in time: %s", req->collector, detail);
		return;
	case CURLE_PEER_FAILED_VERIFICATION:
		mg_uplink_result_fail(
		    res, "TLS: certificate does not verify against the pinned CA (%s)", detail);
		return;
	case CURLE_SSL_CACERT_BADFILE:
		mg_uplink_result_fail(res, "TLS: the pinned CA cannot be loaded (%s)", detail);
		return;
	case CURLE_SSL_CERTPROBLEM:
		mg_uplink_result_fail(res, "TLS: the client certificate cannot be used (%s)",
		                      detail);
		return;
	case CURLE_SSL_CONNECT_ERROR:
		mg_uplink_result_fail(res, "TLS: handshake with %s failed (%s)", req->collector,
		                      detail);
		return;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
		mg_uplink_result_fail(res, "connection to %s lost: %s", req->collector, detail);
		return;
	default:
		break;
	}
	mg_uplink_result_fail(res, "%s: %s", req->collector, detail);
}

/* Per-request options. 0, or a CURLcode naming the option libcurl refused. */
static CURLcode set_request(struct mg_uplink_http *h, const struct mg_uplink_http_req *req,
                            const char *url, struct curl_slist *headers)
{
	CURL *c = h->curl;
	CURLcode r = CURLE_OK;
	/* curl copies the certificate and CA blobs; the key stays ours (wiped by the caller)
	 * and is unset once the transfer ends (mg_uplink_http_do). */
	struct curl_blob ca = {(void *)(uintptr_t)req->ca, req->ca_len, CURL_BLOB_COPY};
	struct curl_blob cert = {(void *)(uintptr_t)req->cert, req->cert_len, CURL_BLOB_COPY};
	struct curl_blob key = {(void *)(uintptr_t)req->key, req->key_len, CURL_BLOB_NOCOPY};
#define SET(opt, val)                                                                              \
	do {                                                                                       \
		if (r == CURLE_OK)                                                                 \
			r = curl_easy_setopt(c, opt, val);                                         \
	} while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_HTTPHEADER, headers);
	SET(CURLOPT_CAINFO_BLOB, &ca);
	SET(CURLOPT_SSLCERT_BLOB, req->cert ? &cert : NULL);
	SET(CURLOPT_SSLKEY_BLOB, req->key ? &key : NULL);
	if (req->body) {
		SET(CURLOPT_POSTFIELDS, req->body);
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		SET(CURLOPT_POST, 1L);
	} else {
		SET(CURLOPT_POSTFIELDS, NULL);
		SET(CURLOPT_HTTPGET, 1L);
	}
#undef SET
	return r;
}

static bool add_header(struct curl_slist **l, const char *line)
{
	struct curl_slist *n = curl_slist_append(*l, line);
	if (!n)
		return false;
	*l = n;
	return true;
}

void mg_uplink_http_do(struct mg_uplink_http *h, const struct mg_uplink_http_req *req,
                       struct mg_uplink_result *res)
{
	struct curl_slist *headers = NULL;
	char url[MG_UPLINK_URL_MAX + 64], inm[MG_UPLINK_MAX_ETAG + 32];
	size_t base = strlen(req->collector);
	long status = 0;
	CURLcode rc;
	mg_uplink_result_clear(res);
	while (base && req->collector[base - 1] == '/')
		base--;
	if (base > MG_UPLINK_URL_MAX || strlen(req->path) > 32 ||
	    (req->if_none_match && (strlen(req->if_none_match) > MG_UPLINK_MAX_ETAG ||
	                            strpbrk(req->if_none_match, "\r\n")))) {
		mg_uplink_result_fail(res, "collector URL or If-None-Match too long or malformed");
		return;
	}
	snprintf(url, sizeof(url), "%.*s%s", (int)base, req->collector, req->path);
	h->body_len = 0;
	h->too_large = false;
	h->errbuf[0] = '\0';
	memset(&h->hdr, 0, sizeof(h->hdr));
	/* "Expect:" off: the collector answers at once, a 100-continue round trip only waits. */
	bool ok = add_header(&headers, "Expect:");
	if (ok && req->body)
		ok = add_header(&headers, "Content-Type: application/json");
	if (ok && req->if_none_match && req->if_none_match[0]) {
		snprintf(inm, sizeof(inm), "If-None-Match: %s", req->if_none_match);
		ok = add_header(&headers, inm);
	}
	if (!ok) {
		curl_slist_free_all(headers);
		mg_uplink_result_fail(res, "out of memory");
		return;
	}
	rc = set_request(h, req, url, headers);
	if (rc == CURLE_OK)
		rc = curl_easy_perform(h->curl);
	else
		snprintf(h->errbuf, sizeof(h->errbuf), "libcurl refused an option: %s",
		         curl_easy_strerror(rc));
	(void)curl_easy_setopt(h->curl, CURLOPT_SSLKEY_BLOB, NULL);
	(void)curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(headers);
	if (rc == CURLE_OK)
		(void)curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK) {
		transfer_error(h, req, rc, res);
	} else if (status < 100 || status > 599) {
		mg_uplink_result_fail(res, "%s answered with no valid HTTP status", req->collector);
	} else {
		res->status = (uint16_t)status;
		res->retry_after = h->hdr.retry_after;
		memcpy(res->etag, h->hdr.etag, h->hdr.etag_len);
		res->etag_len = h->hdr.etag_len;
		if (h->body_len) { /* handed over */
			res->body = h->body;
			res->body_len = h->body_len;
			h->body = NULL;
			h->body_cap = 0;
		}
	}
	h->body_len = 0;
}
