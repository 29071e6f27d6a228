/* Base64 through OpenSSL's EVP block coder, with a strict alphabet check first. */
#include "encoding.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

int mg_b64_encode(const unsigned char *in, size_t len, char **out)
{
	if (len > INT_MAX / 2)
		return -EFBIG;
	size_t n = 4 * ((len + 2) / 3);
	char *s = malloc(n + 1);
	if (!s)
		return -ENOMEM;
	EVP_EncodeBlock((unsigned char *)s, in, (int)len);
	s[n] = '\0';
	*out = s;
	return 0;
}

static int b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

int mg_b64_decode(const char *in, unsigned char *out, size_t cap, size_t *outlen)
{
	size_t n = strlen(in);
	if (n == 0 || n % 4 != 0 || n > INT_MAX / 2)
		return -EINVAL;
	size_t pad = 0;
	if (in[n - 1] == '=')
		pad++;
	if (in[n - 2] == '=')
		pad++;
	for (size_t i = 0; i < n - pad; i++)
		if (!b64_char(in[i]))
			return -EINVAL;
	if (pad == 1 && in[n - 2] == '=')
		return -EINVAL;
	size_t dlen = n / 4 * 3;
	if (dlen - pad > cap)
		return -EFBIG;
	unsigned char *tmp = malloc(dlen);
	if (!tmp)
		return -ENOMEM;
	int r = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)n);
	if (r < 0 || (size_t)r != dlen) {
		free(tmp);
		return -EINVAL;
	}
	memcpy(out, tmp, dlen - pad);
	explicit_bzero(tmp, dlen);
	free(tmp);
	/* Reject non-canonical encodings (stray bits in the last character). */
	char *again = NULL;
	r = mg_b64_encode(out, dlen - pad, &again);
	if (r < 0)
		return r;
	r = strcmp(again, in) == 0 ? 0 : -EINVAL;
	free(again);
	if (r == 0)
		*outlen = dlen - pad;
	return r;
}

void mg_hex_encode(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
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

int mg_hex_decode(const char *in, unsigned char *out, size_t len)
{
	if (strlen(in) != 2 * len)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}
