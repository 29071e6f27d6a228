/* Retry-After and ETag from raw response header lines (uplink_header.h). */
#include "uplink_header.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The value of line when its name is name (case-insensitive), trimmed; NULL otherwise. */
static const char *value_of(const char *line, size_t len, const char *name, size_t *vlen)
{
	size_t n = strlen(name);
	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return NULL;
	const char *v = line + n + 1, *end = line + len;
	while (v < end && is_space(*v))
		v++;
	while (end > v && is_space(end[-1]))
		end--;
	*vlen = (size_t)(end - v);
	return v;
}

/* delay-seconds (RFC 9110 10.2.3): digits only; capped. Anything else: 0. */
static uint32_t retry_after(const char *v, size_t n)
{
	uint32_t s = 0;
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return 0;
		if (s <= MG_UPLINK_RETRY_AFTER_MAX)
			s = s * 10u + (uint32_t)(v[i] - '0');
	}
	return s > MG_UPLINK_RETRY_AFTER_MAX ? MG_UPLINK_RETRY_AFTER_MAX : s;
}

void mg_uplink_header_line(struct mg_uplink_headers *h, const char *line, size_t len)
{
	const char *v;
	size_t n = 0;
	if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
		memset(h, 0, sizeof(*h));
		return;
	}
	if ((v = value_of(line, len, "Retry-After", &n))) {
		h->retry_after = retry_after(v, n);
		return;
	}
	if ((v = value_of(line, len, "ETag", &n))) {
		bool ok = n > 0 && n <= MG_UPLINK_MAX_ETAG;
		for (size_t i = 0; ok && i < n; i++)
			ok = v[i] >= 0x21 && v[i] <= 0x7e;
		h->etag_len = ok ? n : 0;
		if (ok)
			memcpy(h->etag, v, n);
		h->etag[h->etag_len] = '\0';
	}
}
