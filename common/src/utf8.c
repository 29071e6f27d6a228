/* UTF-8 validation per RFC 3629, table 3-7 of the Unicode standard. */
#include "mg/utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the well-formed sequence at s[0..len), or 0 when it is not well-formed. */
static size_t seq_len(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	size_t n;
	unsigned char lo = 0x80, hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		else if (c == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90; /* overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* > U+10FFFF */
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

bool mg_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < len) {
		size_t n = seq_len(p + i, len - i);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

char *mg_utf8_repair(const char *s, size_t len, bool *changed)
{
	static const char replacement[] = "\xef\xbf\xbd";
	const unsigned char *p = (const unsigned char *)s;
	if (len > (SIZE_MAX - 1) / 3)
		return NULL;
	char *out = malloc(len * 3 + 1); /* worst case: every byte replaced */
	if (!out)
		return NULL;
	size_t o = 0, i = 0;
	bool any = false;
	while (i < len) {
		size_t n = seq_len(p + i, len - i);
		if (n == 0 || p[i] == 0) {
			memcpy(out + o, replacement, 3);
			o += 3;
			i += 1;
			any = true;
			continue;
		}
		memcpy(out + o, p + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
	if (changed)
		*changed = any;
	return out;
}

char *mg_utf8_escape_terminal(const char *s)
{
	size_t n = strlen(s);
	/* The longest escape, \uHHHH (6 bytes), replaces at least 2 input bytes; \xHH (4) 1. */
	char *out = malloc(4 * n + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		unsigned c = p[i];
		unsigned cp = 0;
		size_t len = 0;
		if (c == 0xc2 && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f) {
			cp = p[i + 1];
			len = 2;
		} else if (c == 0xe2 && i + 2 < n && p[i + 1] == 0x80 && p[i + 2] >= 0xaa &&
		           p[i + 2] <= 0xae) {
			cp = 0x2000u + (p[i + 2] & 0x3fu) + 0x40u * (p[i + 1] & 0x3fu);
			len = 3;
		} else if (c == 0xe2 && i + 2 < n && p[i + 1] == 0x81 && p[i + 2] >= 0xa6 &&
		           p[i + 2] <= 0xa9) {
			cp = 0x2000u + (p[i + 2] & 0x3fu) + 0x40u * (p[i + 1] & 0x3fu);
			len = 3;
		}
		if (len) {
			o += (size_t)snprintf(out + o, 7, "\\u%04x", cp);
			i += len;
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
			i++;
		} else if (c == '\\') {
			out[o++] = '\\';
			out[o++] = '\\';
			i++;
		} else {
			out[o++] = (char)c;
			i++;
		}
	}
	out[o] = '\0';
	return out;
}
