/* TOTP through liboath: oath_totp_validate4_callback with a constant-time comparison. */
#include "totp_auth.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/random.h>

#include <liboath/oath.h>
#include <openssl/crypto.h>

static int oath_flags(enum mg_totp_alg a)
{
	switch (a) {
	case MG_TOTP_SHA256:
		return OATH_TOTP_HMAC_SHA256;
	case MG_TOTP_SHA512:
		return OATH_TOTP_HMAC_SHA512;
	case MG_TOTP_SHA1:
		break;
	}
	return 0;
}

struct cmp_ctx {
	const char *code;
	size_t len;
};

/* liboath's compare callback: 0 when equal, 1 otherwise; time independent of the content. */
static int ct_compare(void *handle, const char *test_otp)
{
	const struct cmp_ctx *ctx = handle;
	if (strlen(test_otp) != ctx->len)
		return 1;
	return CRYPTO_memcmp(test_otp, ctx->code, ctx->len) == 0 ? 0 : 1;
}

static bool code_ok(const char *code, unsigned digits)
{
	size_t n = strnlen(code, MG_TOTP_CODE_MAX + 1);
	if (n != digits)
		return false;
	for (size_t i = 0; i < n; i++)
		if (code[i] < '0' || code[i] > '9')
			return false;
	return true;
}

int mg_totp_verify(const struct mg_totp_cred *c, const char *code, time_t now, unsigned window,
                   uint64_t last_step, uint64_t *step)
{
	if (!code_ok(code, c->digits))
		return -EACCES;
	struct cmp_ctx ctx = {code, c->digits};
	int pos = 0;
	uint64_t t = 0;
	if (oath_init() != OATH_OK)
		return -EIO;
	int r = oath_totp_validate4_callback((const char *)c->secret, c->secret_len, now, c->period,
	                                     0, c->digits, window, &pos, &t,
	                                     oath_flags(c->algorithm), ct_compare, &ctx);
	oath_done();
	if (r == OATH_INVALID_OTP)
		return -EACCES;
	if (r < 0)
		return -EIO;
	if (t <= last_step)
		return -EALREADY;
	*step = t;
	return 0;
}

void mg_totp_verify_dummy(const char *code, time_t now, unsigned window)
{
	struct mg_totp_cred c;
	uint64_t step;
	memset(&c, 0, sizeof(c));
	c.secret_len = 20;
	c.digits = 6;
	c.period = 30;
	if (getrandom(c.secret, c.secret_len, 0) != (ssize_t)c.secret_len)
		memset(c.secret, 0x5a, c.secret_len);
	const char *probe = code_ok(code, 6) ? code : "000000";
	(void)mg_totp_verify(&c, probe, now, window, UINT64_MAX, &step);
	explicit_bzero(&c, sizeof(c));
}

int mg_totp_generate(const struct mg_totp_cred *c, time_t t, char *buf, size_t len)
{
	if (len < c->digits + 1u)
		return -ERANGE;
	if (oath_init() != OATH_OK)
		return -EIO;
	int r = oath_totp_generate2((const char *)c->secret, c->secret_len, t, c->period, 0,
	                            c->digits, oath_flags(c->algorithm), buf);
	oath_done();
	return r == OATH_OK ? 0 : -EIO;
}
