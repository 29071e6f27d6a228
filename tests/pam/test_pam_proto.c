/*
 * What crosses a privilege boundary on the FIDO2 path, parsed by the side with more rights:
 * - the assertion line from the module to mynaguard-auth-helper (helper_proto.c): versioned,
 *   every field bounded, and the "uv" fact (the key was asked with its PIN) carried through,
 *   so that the helper requires the UV flag then (issue 13, uv = preferred follow-up);
 * - the answer of the unprivileged child that talked to the keys (fido2_child.c): the root
 *   parent refuses anything garbled or out of range, and the child really drops root
 *   (issue 13, finding 13).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fido2_child.h"
#include "helper_proto.h"

static struct mg_fido2_assertion sample(bool uv)
{
	struct mg_fido2_assertion a;
	memset(&a, 0, sizeof(a));
	for (size_t i = 0; i < 37; i++)
		a.authdata[i] = (unsigned char)i;
	a.authdata_len = 37;
	for (size_t i = 0; i < 70; i++)
		a.sig[i] = (unsigned char)(0xa0 + i);
	a.sig_len = 70;
	a.uv_expected = uv;
	return a;
}

static void round_trip_carries_uv(void **state)
{
	static const unsigned char id[16] = "0123456789abcdef";
	static struct mg_helper_assert p;
	(void)state;
	for (int uv = 0; uv <= 1; uv++) {
		struct mg_fido2_assertion a = sample(uv == 1);
		char *line = NULL;
		assert_int_equal(mg_helper_assert_format(id, sizeof(id), &a, &line), 0);
		assert_non_null(strstr(line, uv ? " uv=1\n" : " uv=0\n"));
		assert_memory_equal(line, "assert 2 ", 9);
		line[strlen(line) - 1] = '\0';
		assert_int_equal(mg_helper_assert_parse(line, &p), 0);
		assert_int_equal(p.uv_expected, uv == 1);
		assert_int_equal(p.id_len, sizeof(id));
		assert_memory_equal(p.id, id, sizeof(id));
		assert_int_equal(p.authdata_len, a.authdata_len);
		assert_memory_equal(p.authdata, a.authdata, a.authdata_len);
		assert_int_equal(p.sig_len, a.sig_len);
		assert_memory_equal(p.sig, a.sig, a.sig_len);
		free(line);
	}
}

/* Every reason authcore gives passes the result line (issue 15: "staff-disabled"). */
static void result_carries_staff_disabled(void **state)
{
	(void)state;
	struct mg_auth_outcome o, back;
	char line[512];
	memset(&o, 0, sizeof(o));
	o.reason = "staff-disabled";
	assert_int_equal(mg_helper_result_format(&o, line, sizeof(line)), 0);
	assert_int_equal(mg_helper_result_parse(line, &back), 0);
	assert_false(back.success);
	assert_non_null(back.reason);
	assert_string_equal(back.reason, "staff-disabled");
	assert_int_equal(mg_helper_result_parse("result fail reason=staff-enabled failures=0 "
	                                        "locked_now=0 unlocked_now=0 credential=-",
	                                        &back),
	                 -EINVAL);
}

static void malformed_lines_refused(void **state)
{
	static struct mg_helper_assert p;
	static const char *const bad[] = {
	    "",
	    "assert",
	    /* the old line without version and uv: refused, never read as uv=0 */
	    "assert AAAA AAAA AAAA",
	    "assert 1 AAAA AAAA AAAA uv=1",
	    "assert 3 AAAA AAAA AAAA uv=1",
	    "assert 2 AAAA AAAA AAAA",
	    "assert 2 AAAA AAAA AAAA uv=2",
	    "assert 2 AAAA AAAA AAAA uv=",
	    "assert 2 AAAA AAAA AAAA pin=1",
	    "assert 2 AAAA AAAA AAAA uv=1 extra",
	    "assert 2 AAAA AAAA AAAA uv=1 ",
	    "assert 2 A!AA AAAA AAAA uv=1",
	    "assert 2  AAAA AAAA uv=1",
	    "assert 2 AAAA AAAA AAAA uv=01x",
	    "fail no-touch",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p.uv_expected = true;
		if (mg_helper_assert_parse(bad[i], &p) != -EINVAL)
			fail_msg("accepted: \"%s\"", bad[i]);
		assert_false(p.uv_expected);
	}
}

/* Every field has a bound: an id, authdata or signature larger than its buffer is refused,
 * as is a line longer than MG_HELPER_LINE_MAX. */
static void oversized_fields_refused(void **state)
{
	static struct mg_helper_assert p;
	static char line[MG_HELPER_LINE_MAX + 64];
	(void)state;
	size_t big = 4 * ((MG_FIDO2_MAX_SIG + 3) / 3) + 8; /* base64 of more than the cap */
	char *b = malloc(big + 1);
	assert_non_null(b);
	memset(b, 'A', big);
	b[big] = '\0';
	snprintf(line, sizeof(line), "assert 2 AAAA AAAA %s uv=1", b);
	assert_int_equal(mg_helper_assert_parse(line, &p), -EINVAL);
	snprintf(line, sizeof(line), "assert 2 AAAA %s AAAA uv=1", b);
	assert_int_equal(mg_helper_assert_parse(line, &p), -EINVAL);
	snprintf(line, sizeof(line), "assert 2 %s AAAA AAAA uv=1", b);
	assert_int_equal(mg_helper_assert_parse(line, &p), -EINVAL);
	free(b);
	memset(line, 'A', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	memcpy(line, "assert 2 ", 9);
	assert_int_equal(mg_helper_assert_parse(line, &p), -EINVAL);
}

/* ---- the child's answer ---- */

static void child_answer_round_trip(void **state)
{
	static unsigned char buf[MG_FIDO2_ANSWER_MAX];
	static struct mg_fido2_assertion a, b;
	enum mg_fido2_status st = MG_FIDO2_ERROR;
	size_t key = 9;
	(void)state;
	a = sample(false);
	a.allow_index = 2;
	size_t len = mg_fido2_answer_format(MG_FIDO2_OK, 1, &a, buf);
	assert_int_equal(len, MG_FIDO2_ANSWER_HEAD + 37 + 70);
	assert_int_equal(mg_fido2_answer_parse(buf, len, 2, 3, &st, &key, &b), 0);
	assert_int_equal(st, MG_FIDO2_OK);
	assert_int_equal(key, 1);
	assert_int_equal(b.allow_index, 2);
	assert_int_equal(b.authdata_len, 37);
	assert_memory_equal(b.authdata, a.authdata, 37);
	assert_int_equal(b.sig_len, 70);
	assert_memory_equal(b.sig, a.sig, 70);
	assert_false(b.uv_expected); /* never from the child */
	len = mg_fido2_answer_format(MG_FIDO2_NO_TOUCH, 0, &a, buf);
	assert_int_equal(len, MG_FIDO2_ANSWER_HEAD);
	assert_int_equal(mg_fido2_answer_parse(buf, len, 2, 3, &st, &key, &b), 0);
	assert_int_equal(st, MG_FIDO2_NO_TOUCH);
}

/* A forged or garbled child answer: every corruption of a good record is refused. */
static void child_answer_garbled_refused(void **state)
{
	static unsigned char good[MG_FIDO2_ANSWER_MAX], buf[MG_FIDO2_ANSWER_MAX + 8];
	static struct mg_fido2_assertion a, out;
	enum mg_fido2_status st;
	size_t key;
	(void)state;
	a = sample(true);
	a.allow_index = 1;
	size_t len = mg_fido2_answer_format(MG_FIDO2_OK, 1, &a, good);
	struct {
		const char *what;
		size_t off;
		unsigned char val;
	} flips[] = {
	    {"magic", 0, 'X'},
	    {"version", 4, 2},
	    {"status out of range", 5, 200},
	    {"key index beyond the keys", 6, 2},
	    {"allow index beyond the list", 7, 2},
	    {"allow index high byte", 8, 1},
	    {"authdata length", 9, 36},
	    {"authdata length high byte", 10, 0x10},
	    {"signature length", 11, 71},
	    {"signature length zero", 11, 0},
	};
	for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
		memcpy(buf, good, len);
		buf[flips[i].off] = flips[i].val;
		st = MG_FIDO2_OK;
		if (mg_fido2_answer_parse(buf, len, 2, 2, &st, &key, &out) != -EBADMSG)
			fail_msg("accepted: %s", flips[i].what);
	}
	/* Truncated at every length, one byte too many, and empty. */
	for (size_t n = 0; n < len; n++)
		assert_int_equal(mg_fido2_answer_parse(good, n, 2, 2, &st, &key, &out), -EBADMSG);
	memcpy(buf, good, len);
	buf[len] = 0;
	assert_int_equal(mg_fido2_answer_parse(buf, len + 1, 2, 2, &st, &key, &out), -EBADMSG);
	/* A failure status that carries data. */
	len = mg_fido2_answer_format(MG_FIDO2_WRONG_PIN, 0, &a, buf);
	buf[7] = 1;
	assert_int_equal(mg_fido2_answer_parse(buf, len, 2, 2, &st, &key, &out), -EBADMSG);
	/* No key at all: a success names a key that does not exist. */
	len = mg_fido2_answer_format(MG_FIDO2_OK, 0, &a, buf);
	assert_int_equal(mg_fido2_answer_parse(buf, len, 0, 2, &st, &key, &out), -EBADMSG);
}

/*
 * What root still reads of a key's answer, authdata (the parent after the child, the helper
 * after the module), must be one plain definite CBOR byte string: rpIdHash | flags | counter,
 * nothing else (no extensions, no attested credential data, nothing after it). Checked before
 * anything else: the credential here has no usable key (cose_alg 0), so an authdata that
 * passes the check gets -EINVAL from the key, and one that fails it -EBADMSG.
 */
static void verify_refuses_cbor_beyond_plain_authdata(void **state)
{
	static struct mg_fido2_cred cred;
	unsigned char cdh[MG_FIDO2_CDH_LEN], sig[8], ad[64];
	uint64_t count = 0;
	bool uv = false;
	(void)state;
	memset(&cred, 0, sizeof(cred));
	memset(cdh, 1, sizeof(cdh));
	memset(sig, 2, sizeof(sig));
	memset(ad, 0, sizeof(ad));
	ad[0] = 0x58; /* byte string, one length byte */
	ad[1] = 37;
	ad[2 + 32] = 0x05; /* UP, UV */
	assert_int_equal(mg_fido2_verify(&cred, "pam://t", cdh, ad, 39, sig, 8, false, &count, &uv),
	                 -EINVAL);
	struct {
		const char *what;
		size_t off, len;
		unsigned char val;
	} bad[] = {
	    {"extensions flag", 34, 39, 0x85},
	    {"attested credential data flag", 34, 39, 0x45},
	    {"a byte after the string", 1, 40, 37},
	    {"length beyond the data", 1, 39, 38},
	    {"shorter than 37 bytes", 1, 38, 36},
	    {"indefinite length", 0, 39, 0x5f},
	    {"an array, not a byte string", 0, 39, 0x98},
	    {"a text string", 0, 39, 0x78},
	    {"8-byte length form", 0, 39, 0x5b},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned char b[64];
		memcpy(b, ad, sizeof(b));
		b[bad[i].off] = bad[i].val;
		if (mg_fido2_verify(&cred, "pam://t", cdh, b, bad[i].len, sig, 8, false, &count,
		                    &uv) != -EBADMSG)
			fail_msg("not refused as malformed: %s", bad[i].what);
	}
	assert_int_equal(mg_fido2_verify(&cred, "pam://t", cdh, ad, 0, sig, 8, false, &count, &uv),
	                 -EBADMSG);
}

/* The child's first step, in a forked process: root is gone for good. Needs root. */
static void child_drops_root(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	assert_int_equal(mg_fido2_child_drop(0, 0), -EINVAL);
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int res[8];
		uid_t r, e, s;
		gid_t rg, eg, sg, groups[4];
		close(p[0]);
		res[0] = mg_fido2_child_drop(65534, 65534);
		getresuid(&r, &e, &s);
		getresgid(&rg, &eg, &sg);
		res[1] = (int)r == 65534 && (int)e == 65534 && (int)s == 65534;
		res[2] = (int)rg == 65534 && (int)eg == 65534 && (int)sg == 65534;
		res[3] = getgroups(4, groups);
		res[4] = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
		res[5] = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
		res[6] = setuid(0) == 0 || setgid(0) == 0;
		res[7] = 0;
		_exit(write(p[1], res, sizeof(res)) == (ssize_t)sizeof(res) ? 0 : 1);
	}
	close(p[1]);
	int res[8] = {-1, 0, 0, -1, -1, -1, 1, -1};
	assert_int_equal(read(p[0], res, sizeof(res)), sizeof(res));
	close(p[0]);
	int ws;
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_int_equal(res[0], 0);
	assert_int_equal(res[1], 1); /* real, effective, saved uid */
	assert_int_equal(res[2], 1); /* real, effective, saved gid */
	assert_int_equal(res[3], 0); /* no supplementary groups */
	assert_int_equal(res[4], 1); /* no new privileges */
	assert_int_equal(res[5], 0); /* not dumpable */
	assert_int_equal(res[6], 0); /* root cannot be regained */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(child_answer_round_trip),
	    cmocka_unit_test(child_answer_garbled_refused),
	    cmocka_unit_test(child_drops_root),
	    cmocka_unit_test(verify_refuses_cbor_beyond_plain_authdata),
	    cmocka_unit_test(round_trip_carries_uv),
	    cmocka_unit_test(malformed_lines_refused),
	    cmocka_unit_test(result_carries_staff_disabled),
	    cmocka_unit_test(oversized_fields_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
