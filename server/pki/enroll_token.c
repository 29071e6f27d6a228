/* Enrolment tokens (enroll_token.h). */
#include "enroll_token.h"

#include <errno.h>
#include <string.h>

#include "token.h"

_Static_assert(MG_ENROLL_TOKEN_SIZE == MG_TOKEN_SIZE, "a bearer token of token.h");

int mg_enroll_token_new(char token[MG_ENROLL_TOKEN_SIZE], char sha256_hex[65])
{
	char t[MG_ENROLL_TOKEN_SIZE];
	int r;
	r = mg_token_new(t);
	if (r == 0)
		r = mg_token_hash(t, sha256_hex);
	if (r == 0)
		memcpy(token, t, sizeof(t));
	explicit_bzero(t, sizeof(t));
	return r < 0 ? -EIO : 0;
}
