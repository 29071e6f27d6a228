/* Bearer tokens (token.h). */
#include "token.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

#define TOKEN_RAW 32u

int mg_token_new(char out[MG_TOKEN_SIZE])
{
	unsigned char raw[TOKEN_RAW];
	char b64[4 * ((TOKEN_RAW + 2) / 3) + 1];

	if (!out)
		return -EINVAL;
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -EIO;
	EVP_EncodeBlock((unsigned char *)b64, raw, TOKEN_RAW);
	for (size_t i = 0; i < MG_TOKEN_SIZE - 1; i++)
		out[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
	out[MG_TOKEN_SIZE - 1] = '\0';
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(b64, sizeof(b64));
	return 0;
}

static bool token_format_ok(const char *t)
{
	if (!t || strnlen(t, MG_TOKEN_SIZE) != MG_TOKEN_SIZE - 1)
		return false;
	for (size_t i = 0; i < MG_TOKEN_SIZE - 1; i++) {
		char c = t[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

int mg_token_hash(const char *token, char out[MG_TOKEN_HASH_SIZE])
{
	if (!token_format_ok(token) || !out)
		return -EINVAL;
	return mg_sha256_hex(token, MG_TOKEN_SIZE - 1, out);
}
