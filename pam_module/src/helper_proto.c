/* Result lines of mynaguard-auth-helper. */
#include "helper_proto.h"

#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "encoding.h"
#include "mg/config.h"

static const char *const reasons[] = {
    "locked",           "wrong-code", "replay",         "no-credential",
    "credential-error", "no-state",   "not-registered", "no-touch",
    "timeout",          "wrong-pin",  "pin-blocked",    "pin-missing",
    "uv-unavailable",   "key-error",  "bad-signature",  "counter-regression",
    "helper-error",     "wrong-user", "staff-disabled", NULL};

const char *mg_helper_reason(const char *text)
{
	for (size_t i = 0; reasons[i]; i++)
		if (strcmp(text, reasons[i]) == 0)
			return reasons[i];
	return NULL;
}

int mg_helper_result_format(const struct mg_auth_outcome *out, char *buf, size_t len)
{
	char *label = NULL;
	int r = 0;
	if (out->credential[0] && (r = mg_b64_encode((const unsigned char *)out->credential,
	                                             strlen(out->credential), &label)) < 0)
		return r;
	int n = snprintf(buf, len,
	                 "result %s reason=%s failures=%llu locked_now=%d unlocked_now=%d "
	                 "credential=%s\n",
	                 out->success ? "ok" : "fail", out->reason ? out->reason : "-",
	                 (unsigned long long)out->failures, out->locked_now ? 1 : 0,
	                 out->unlocked_now ? 1 : 0, label ? label : "-");
	free(label);
	return n < 0 || (size_t)n >= len ? -ERANGE : 0;
}

/* Next space-separated field of *p, "key=" stripped when key is given. */
static const char *field(char **p, const char *key)
{
	char *s = *p;
	if (!s || !*s)
		return NULL;
	char *sp = strchr(s, ' ');
	if (sp) {
		*sp = '\0';
		*p = sp + 1;
	} else {
		*p = NULL;
	}
	if (key) {
		size_t k = strlen(key);
		if (strncmp(s, key, k) != 0 || s[k] != '=')
			return NULL;
		s += k + 1;
	}
	return s;
}

int mg_helper_result_parse(const char *line, struct mg_auth_outcome *out)
{
	char buf[512];
	struct mg_auth_outcome o;
	uint64_t v;
	size_t n = strnlen(line, sizeof(buf));
	if (n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, line, n + 1);
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	memset(&o, 0, sizeof(o));
	char *p = buf;
	const char *f = field(&p, NULL);
	if (!f || strcmp(f, "result") != 0 || !(f = field(&p, NULL)))
		return -EINVAL;
	if (strcmp(f, "ok") == 0)
		o.success = true;
	else if (strcmp(f, "fail") != 0)
		return -EINVAL;
	if (!(f = field(&p, "reason")))
		return -EINVAL;
	if (strcmp(f, "-") != 0 && !(o.reason = mg_helper_reason(f)))
		return -EINVAL;
	if (o.success == (o.reason != NULL))
		return -EINVAL;
	if (!(f = field(&p, "failures")) || mg_parse_u64(f, 0, (uint64_t)1 << 53, &o.failures) < 0)
		return -EINVAL;
	if (!(f = field(&p, "locked_now")) || mg_parse_u64(f, 0, 1, &v) < 0)
		return -EINVAL;
	o.locked_now = v == 1;
	if (!(f = field(&p, "unlocked_now")) || mg_parse_u64(f, 0, 1, &v) < 0)
		return -EINVAL;
	o.unlocked_now = v == 1;
	if (!(f = field(&p, "credential")) || p != NULL)
		return -EINVAL;
	if (strcmp(f, "-") != 0) {
		unsigned char label[MG_CRED_LABEL_MAX + 3];
		size_t ll = 0;
		if (mg_b64_decode(f, label, MG_CRED_LABEL_MAX, &ll) < 0)
			return -EINVAL;
		label[ll] = '\0';
		if (!mg_cred_label_valid((const char *)label))
			return -EINVAL;
		memcpy(o.credential, label, ll + 1);
	}
	*out = o;
	return 0;
}

int mg_helper_assert_format(const unsigned char *id, size_t id_len,
                            const struct mg_fido2_assertion *a, char **line)
{
	char *bid = NULL, *bad = NULL, *bsig = NULL, *out = NULL;
	int r = mg_b64_encode(id, id_len, &bid);
	if (r == 0)
		r = mg_b64_encode(a->authdata, a->authdata_len, &bad);
	if (r == 0)
		r = mg_b64_encode(a->sig, a->sig_len, &bsig);
	if (r == 0 && asprintf(&out, "assert %d %s %s %s uv=%d\n", MG_HELPER_ASSERT_VERSION, bid,
	                       bad, bsig, a->uv_expected ? 1 : 0) < 0) {
		out = NULL;
		r = -ENOMEM;
	}
	if (r == 0 && strlen(out) >= MG_HELPER_LINE_MAX)
		r = -ERANGE;
	free(bid);
	free(bad);
	free(bsig);
	if (r < 0) {
		free(out);
		return r;
	}
	*line = out;
	return 0;
}

int mg_helper_assert_parse(const char *line, struct mg_helper_assert *out)
{
	static char buf[MG_HELPER_LINE_MAX];
	struct mg_helper_assert *a = out;
	uint64_t v = 0;
	size_t n = strnlen(line, sizeof(buf));
	if (n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, line, n + 1);
	char *p = buf;
	const char *verb = field(&p, NULL), *ver = field(&p, NULL), *bid = field(&p, NULL);
	const char *bad = field(&p, NULL), *bsig = field(&p, NULL), *uv = field(&p, "uv");
	int r = -EINVAL;
	memset(a, 0, sizeof(*a));
	if (!verb || strcmp(verb, "assert") != 0 || !ver ||
	    mg_parse_u64(ver, MG_HELPER_ASSERT_VERSION, MG_HELPER_ASSERT_VERSION, &v) < 0 || !bid ||
	    !bad || !bsig || !uv || p != NULL || mg_parse_u64(uv, 0, 1, &v) < 0)
		goto out;
	a->uv_expected = v == 1;
	if (mg_b64_decode(bid, a->id, sizeof(a->id), &a->id_len) < 0 || a->id_len == 0 ||
	    mg_b64_decode(bad, a->authdata, sizeof(a->authdata), &a->authdata_len) < 0 ||
	    a->authdata_len == 0 || mg_b64_decode(bsig, a->sig, sizeof(a->sig), &a->sig_len) < 0 ||
	    a->sig_len == 0)
		goto out;
	r = 0;
out:
	explicit_bzero(buf, n);
	if (r < 0)
		memset(a, 0, sizeof(*a));
	return r;
}
