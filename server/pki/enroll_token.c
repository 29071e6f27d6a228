/* Enrolment tokens (enroll_token.h). */
#include "enroll_token.h"

#include <errno.h>
#include <string.h>

#include "admin_auth.h"
#include "api_body.h"

_Static_assert(MG_ENROLL_TOKEN_SIZE == MG_ADMIN_TOKEN_SIZE, "same token format as sessions");

int mg_enroll_token_new(char token[MG_ENROLL_TOKEN_SIZE], char sha256_hex[65])
{
	char t[MG_ENROLL_TOKEN_SIZE];
	int r;
	/* Session tokens have exactly this format: 32 random bytes, base64url, no padding. */
	r = mg_admin_token_new(t);
	if (r == 0)
		r = mg_api_sha256_hex(t, MG_ENROLL_TOKEN_SIZE - 1, sha256_hex);
	if (r == 0)
		memcpy(token, t, sizeof(t));
	explicit_bzero(t, sizeof(t));
	return r < 0 ? -EIO : 0;
}
