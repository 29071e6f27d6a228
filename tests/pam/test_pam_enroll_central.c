/*
 * mynaguard-enroll fido2 --user NAME --central (issue 15): the credential is made on the
 * (software) key as today and filed through the agent's control socket as "staff-register".
 * A fake agent in this test (a thread on a Unix socket in the test's private directory)
 * checks the request with the agent's own parser (agent/daemon/ctl_proto.c), verifies the
 * attestation with libfido2 as the collector does, and answers as the collector would.
 */
#include <errno.h>
#include <pthread.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>
#include <fido.h>
#include <jansson.h>

#include "ctl_proto.h"
#include "encoding.h"
#include "pam_harness.h"

struct agent {
	int lfd;
	const char *answer;  /* the line sent back */
	char request[32768]; /* what was received */
	size_t request_len;
	pthread_t th;
};

struct fx {
	struct harness h;
	char softdir[PATH_MAX + 32];
	char soft[PATH_MAX + 64];
	char sock[PATH_MAX + 32];
	struct agent agent;
};

static void ctl(struct fx *f, const char *a1, const char *a2, const char *a3, const char *a4,
                const char *a5)
{
	const char *argv[] = {getenv("MG_SOFT_FIDO2_CTL"), a1, f->soft, a2, a3, a4, a5, NULL};
	char out[2048];
	if (h_run(argv, NULL, out, sizeof(out)) != 0)
		fail_msg("soft-fido2-ctl %s: %s", a1, out);
}

/* One connection, bounded to 20 s: read a line, answer, close. */
static void *agent_main(void *arg)
{
	struct agent *a = arg;
	struct pollfd p = {.fd = a->lfd, .events = POLLIN};
	if (poll(&p, 1, 20000) != 1)
		return NULL;
	int c = accept4(a->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return NULL;
	while (a->request_len < sizeof(a->request) - 1) {
		struct pollfd q = {.fd = c, .events = POLLIN};
		if (poll(&q, 1, 20000) != 1)
			break;
		ssize_t n =
		    read(c, a->request + a->request_len, sizeof(a->request) - 1 - a->request_len);
		if (n <= 0)
			break;
		a->request_len += (size_t)n;
		if (memchr(a->request, '\n', a->request_len))
			break;
	}
	a->request[a->request_len] = '\0';
	(void)!write(c, a->answer, strlen(a->answer));
	close(c);
	return NULL;
}

static void agent_start(struct fx *f, const char *answer)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	assert_true(strlen(f->sock) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, f->sock, strlen(f->sock) + 1);
	f->agent.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->agent.lfd >= 0);
	assert_int_equal(bind(f->agent.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->agent.lfd, 4), 0);
	f->agent.answer = answer;
	f->agent.request_len = 0;
	assert_int_equal(pthread_create(&f->agent.th, NULL, agent_main, &f->agent), 0);
}

static void agent_stop(struct fx *f)
{
	pthread_join(f->agent.th, NULL);
	close(f->agent.lfd);
	unlink(f->sock);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	h_new(&f->h, "factors = fido2\nrp_id = pam://test\n");
	snprintf(f->softdir, sizeof(f->softdir), "%s/soft", f->h.root);
	assert_int_equal(mkdir(f->softdir, 0755), 0);
	snprintf(f->soft, sizeof(f->soft), "%s/soft.json", f->softdir);
	snprintf(f->sock, sizeof(f->sock), "%s/agent.sock", f->h.root);
	setenv("MG_SOFT_FIDO2_STATE", f->soft, 1);
	ctl(f, "init", "--keys", "1", "--pin", "1234");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	h_free(&f->h);
	free(f);
	return 0;
}

static int enroll_central(struct fx *f, const char *user, char *out, size_t outlen)
{
	const char *argv[] = {getenv("MG_PAM_ENROLL"),
	                      "--config",
	                      f->h.conf,
	                      "fido2",
	                      "--user",
	                      user,
	                      "--label",
	                      "desk-key",
	                      "--central",
	                      "--agent-socket",
	                      f->sock,
	                      NULL};
	return h_run(argv, "1234\n", out, outlen);
}

static size_t b64(json_t *o, const char *key, unsigned char *buf, size_t cap)
{
	size_t n = 0;
	const char *s = json_string_value(json_object_get(o, key));
	assert_non_null(s);
	assert_int_equal(mg_b64_decode(s, buf, cap, &n), 0);
	return n;
}

/* The collector's check: the attestation verifies, and names this id and public key. */
static void verify_registration(json_t *reg, const char *user)
{
	static unsigned char authdata[4096], sig[1024], cdh[64], id[1024], pk[512];
	assert_string_equal(json_string_value(json_object_get(reg, "user")), user);
	assert_string_equal(json_string_value(json_object_get(reg, "label")), "desk-key");
	json_t *c = json_object_get(reg, "credential");
	json_t *a = json_object_get(c, "attestation");
	assert_string_equal(json_string_value(json_object_get(c, "rp_id")), "pam://test");
	assert_int_equal(json_integer_value(json_object_get(c, "cose_alg")), -7);
	assert_true(json_is_true(json_object_get(c, "uv")) ||
	            json_is_false(json_object_get(c, "uv")));
	size_t adl = b64(a, "authdata", authdata, sizeof(authdata));
	size_t sl = b64(a, "sig", sig, sizeof(sig));
	size_t cl = b64(a, "clientdata_hash", cdh, sizeof(cdh));
	size_t idl = b64(c, "id", id, sizeof(id));
	size_t pkl = b64(c, "public_key", pk, sizeof(pk));
	assert_int_equal(cl, 32);
	fido_cred_t *cred = fido_cred_new();
	assert_non_null(cred);
	assert_int_equal(fido_cred_set_type(cred, COSE_ES256), FIDO_OK);
	assert_int_equal(fido_cred_set_clientdata_hash(cred, cdh, cl), FIDO_OK);
	assert_int_equal(fido_cred_set_rp(cred, "pam://test", NULL), FIDO_OK);
	assert_int_equal(fido_cred_set_authdata(cred, authdata, adl), FIDO_OK);
	assert_int_equal(fido_cred_set_sig(cred, sig, sl), FIDO_OK);
	assert_int_equal(fido_cred_set_fmt(cred, json_string_value(json_object_get(a, "fmt"))),
	                 FIDO_OK);
	assert_int_equal(fido_cred_verify_self(cred), FIDO_OK);
	assert_int_equal(fido_cred_id_len(cred), idl);
	assert_memory_equal(fido_cred_id_ptr(cred), id, idl);
	assert_int_equal(fido_cred_pubkey_len(cred), pkl);
	assert_memory_equal(fido_cred_pubkey_ptr(cred), pk, pkl);
	fido_cred_free(&cred);
}

static void filed_through_agent(void **state)
{
	struct fx *f = *state;
	char out[8192], path[PATH_MAX + 300];
	agent_start(f, "{\"id\":42,\"ok\":true,\"state\":\"pending\"}\n");
	int rc = enroll_central(f, "suzuki@city.local", out, sizeof(out));
	agent_stop(f);
	if (rc != 0)
		fail_msg("enroll --central: %d: %s", rc, out);
	assert_non_null(strstr(out, "id=42"));
	assert_non_null(strstr(out, "承認"));
	/* The agent's own parser takes the request as it is. */
	struct mg_ctl_request req;
	char err[256] = "";
	assert_true(f->agent.request_len > 0);
	assert_int_equal(f->agent.request[f->agent.request_len - 1], '\n');
	if (mg_ctl_request_parse(f->agent.request, f->agent.request_len - 1, &req, err,
	                         sizeof(err)) != 0)
		fail_msg("agent refuses the request: %s: %s", err, f->agent.request);
	assert_int_equal(req.cmd, MG_CTL_STAFF_REGISTER);
	json_t *root = json_loads(f->agent.request, JSON_DISABLE_EOF_CHECK, NULL);
	assert_non_null(root);
	assert_string_equal(json_string_value(json_object_get(root, "cmd")), "staff-register");
	json_t *reg = json_object_get(root, "registration");
	const char *rid = json_string_value(json_object_get(reg, "registration_id"));
	assert_non_null(rid);
	assert_true(strlen(rid) >= 1 && strlen(rid) <= 63);
	verify_registration(reg, "suzuki@city.local");
	json_decref(root);
	/* Not kept on this terminal: it works nowhere until approved. */
	assert_int_equal(mg_pam_user_path(path, sizeof(path), f->h.creds, f->h.state,
	                                  MG_PAM_FILE_FIDO2, "suzuki@city.local"),
	                 0);
	assert_int_not_equal(access(path, F_OK), 0);
}

static void refusal_is_shown(void **state)
{
	struct fx *f = *state;
	char out[8192];
	agent_start(f, "{\"error\":\"no staff member Tanaka: an administrator adds staff "
	               "first\",\"ok\":false}\n");
	int rc = enroll_central(f, "Tanaka", out, sizeof(out));
	agent_stop(f);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(out, "登録は拒否されました"));
	assert_non_null(strstr(out, "no staff member Tanaka: an administrator adds staff first"));
	/* With the collector's status the person reads what happened in Japanese too. */
	static const struct {
		const char *answer, *want;
	} said[] = {
	    {"{\"error\":\"staff registration failed: the collector answered 403: staff member "
	     "Tanaka is disabled\",\"ok\":false,\"status\":403}\n",
	     "無効"},
	    {"{\"error\":\"x\",\"ok\":false,\"status\":404}\n", "職員として登録されていません"},
	    {"{\"error\":\"x\",\"ok\":false,\"status\":409}\n", "登録済み"},
	    {"{\"error\":\"x\",\"ok\":false,\"status\":422}\n", "アテステーション"},
	    {"{\"error\":\"x\",\"ok\":false,\"status\":429}\n", "未承認の申請が多すぎます"},
	    {"{\"error\":\"x\",\"ok\":false,\"status\":0}\n", "コレクターから応答がありません"},
	};
	for (size_t i = 0; i < sizeof(said) / sizeof(said[0]); i++) {
		agent_start(f, said[i].answer);
		rc = enroll_central(f, "Tanaka", out, sizeof(out));
		agent_stop(f);
		assert_int_equal(rc, 1);
		if (!strstr(out, said[i].want))
			fail_msg("status answer %zu: no \"%s\" in: %s", i, said[i].want, out);
	}
	/* No agent at all: a clear message, failure. */
	rc = enroll_central(f, "Tanaka", out, sizeof(out));
	assert_int_equal(rc, 1);
	assert_non_null(strstr(out, "エージェントに登録を申請できません"));
	/* A garbage answer is not taken for an approval. */
	agent_start(f, "ok\n");
	rc = enroll_central(f, "Tanaka", out, sizeof(out));
	agent_stop(f);
	assert_int_equal(rc, 1);
	/* --central belongs to fido2 only. */
	const char *bad[] = {getenv("MG_PAM_ENROLL"),
	                     "--config",
	                     f->h.conf,
	                     "list",
	                     "--user",
	                     "Tanaka",
	                     "--central",
	                     NULL};
	assert_int_equal(h_run(bad, NULL, out, sizeof(out)), 2);
}

int main(void)
{
	h_global_setup();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(filed_through_agent, setup, teardown),
	    cmocka_unit_test_setup_teardown(refusal_is_shown, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
