/* Control protocol request parsing and formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_proto.h"

static int parse(const char *s, struct mg_ctl_request *req, char *err, size_t len)
{
	return mg_ctl_request_parse(s, strlen(s), req, err, len);
}

/* Requests are large (an enrolment carries a CA certificate): kept off the stack. */
static struct mg_ctl_request req_a, req_b, req_c;

static struct mg_ctl_request *fresh(struct mg_ctl_request *r, enum mg_ctl_cmd cmd)
{
	memset(r, 0, sizeof(*r));
	r->cmd = cmd;
	return r;
}

static void test_round_trip(void **state)
{
	(void)state;
	for (int c = MG_CTL_STATUS; c <= MG_CTL_REQUESTS; c++) {
		struct mg_ctl_request *r = fresh(&req_a, (enum mg_ctl_cmd)c), *back = &req_b;
		if (c == MG_CTL_ALLOW_DEVICE || c == MG_CTL_BLOCK_DEVICE || c == MG_CTL_REQUEST)
			r->id = 42;
		if (c == MG_CTL_ENROLL) {
			strcpy(r->collector, "https://collector.example:8443");
			strcpy(r->token, "tok");
			strcpy(r->ca,
			       "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
			r->force = true;
		}
		if (c == MG_CTL_REQUEST) {
			strcpy(r->reason, "窓口の書類スキャン\t(課長承認)");
			strcpy(r->user, "tanaka");
		}
		char *line = NULL;
		assert_int_equal(mg_ctl_request_format(r, &line), 0);
		assert_non_null(strchr(line, '\n'));
		assert_int_equal(mg_ctl_request_parse(line, strlen(line) - 1, back, NULL, 0), 0);
		assert_int_equal(back->cmd, r->cmd);
		assert_int_equal(back->id, r->id);
		assert_int_equal(back->force, r->force);
		assert_string_equal(back->collector, r->collector);
		assert_string_equal(back->token, r->token);
		assert_string_equal(back->ca, r->ca);
		assert_string_equal(back->reason, r->reason);
		assert_string_equal(back->user, r->user);
		free(line);
	}
	struct mg_ctl_request *req = fresh(&req_a, MG_CTL_ALLOW_DEVICE), *back = &req_b;
	req->id = 7;
	char *line = NULL;
	assert_int_equal(mg_ctl_request_format(req, &line), 0);
	assert_string_equal(line, "{\"cmd\":\"allow-device\",\"id\":7}\n");
	free(line);
	/* generate-policy --with-ports: via-port for every device, as usbguard's -p. */
	struct mg_ctl_request *gen = fresh(&req_c, MG_CTL_GENERATE_POLICY);
	gen->with_ports = true;
	assert_int_equal(mg_ctl_request_format(gen, &line), 0);
	assert_string_equal(line, "{\"cmd\":\"generate-policy\",\"with_ports\":true}\n");
	assert_int_equal(mg_ctl_request_parse(line, strlen(line) - 1, back, NULL, 0), 0);
	assert_int_equal(back->cmd, MG_CTL_GENERATE_POLICY);
	assert_true(back->with_ports);
	free(line);
	assert_int_equal(parse("{\"cmd\":\"generate-policy\"}", back, NULL, 0), 0);
	assert_false(back->with_ports);
	assert_int_equal(parse("{\"cmd\":\"generate-policy\",\"with_ports\":false}", back, NULL, 0),
	                 0);
	assert_false(back->with_ports);
	/* reload --force: past the lock-out guard. */
	struct mg_ctl_request *rl = fresh(&req_c, MG_CTL_RELOAD);
	rl->force = true;
	assert_int_equal(mg_ctl_request_format(rl, &line), 0);
	assert_string_equal(line, "{\"cmd\":\"reload\",\"force\":true}\n");
	assert_int_equal(mg_ctl_request_parse(line, strlen(line) - 1, back, NULL, 0), 0);
	assert_int_equal(back->cmd, MG_CTL_RELOAD);
	assert_true(back->force);
	free(line);
	assert_int_equal(parse("{\"cmd\":\"reload\"}", back, NULL, 0), 0);
	assert_false(back->force);
}

static void test_rejects(void **state)
{
	(void)state;
	static const struct {
		const char *in, *msg;
	} cases[] = {
	    {"", "not JSON"},
	    {"[1]", "not a JSON object"},
	    {"{}", "cmd: missing"},
	    {"{\"cmd\":\"format-disk\"}", "cmd: unknown command"},
	    {"{\"cmd\":3}", "cmd: unknown command"},
	    {"{\"cmd\":\"status\",\"x\":1}", "x: unknown key"},
	    {"{\"cmd\":\"status\",\"id\":1}", "id: not expected"},
	    {"{\"cmd\":\"allow-device\"}", "id: missing"},
	    {"{\"cmd\":\"allow-device\",\"id\":0}", "id: expected a device id"},
	    {"{\"cmd\":\"allow-device\",\"id\":-5}", "id: expected a device id"},
	    {"{\"cmd\":\"allow-device\",\"id\":\"5\"}", "id: expected a device id"},
	    {"{\"cmd\":\"allow-device\",\"id\":99999999999999999999}", "not JSON"},
	    {"{\"cmd\":\"status\",\"cmd\":\"reload\"}", "not JSON"},
	    {"{\"cmd\":\"status\",\"with_ports\":true}", "with_ports: not expected"},
	    {"{\"cmd\":\"status\",\"force\":true}", "force: not expected"},
	    {"{\"cmd\":\"reload\",\"force\":1}", "force: expected true or false"},
	    {"{\"cmd\":\"generate-policy\",\"with_ports\":1}",
	     "with_ports: expected true or false"},
	    {"{\"cmd\":\"generate-policy\",\"with_ports\":\"yes\"}",
	     "with_ports: expected true or false"},
	    /* the event pipeline's commands */
	    {"{\"cmd\":\"enroll\",\"token\":\"t\",\"ca\":\"c\"}", "collector: missing"},
	    {"{\"cmd\":\"enroll\",\"collector\":\"https://x\",\"ca\":\"c\"}", "token: missing"},
	    {"{\"cmd\":\"enroll\",\"collector\":\"https://x\",\"token\":\"t\"}", "ca: missing"},
	    {"{\"cmd\":\"status\",\"token\":\"t\"}", "token: not expected"},
	    {"{\"cmd\":\"enroll\",\"collector\":\"https://x\",\"token\":\"t\\n\",\"ca\":\"c\"}",
	     "token: expected"},
	    {"{\"cmd\":\"enroll\",\"collector\":\"\",\"token\":\"t\",\"ca\":\"c\"}",
	     "collector: expected"},
	    {"{\"cmd\":\"enroll\",\"collector\":1,\"token\":\"t\",\"ca\":\"c\"}",
	     "collector: expected"},
	    {"{\"cmd\":\"request\",\"reason\":\"r\"}", "id: missing"},
	    {"{\"cmd\":\"request\",\"id\":3}", "reason: missing"},
	    {"{\"cmd\":\"request\",\"id\":3,\"reason\":\"a\\u001bb\"}", "reason: expected"},
	    {"{\"cmd\":\"request\",\"id\":3,\"reason\":\"r\",\"user\":\"a\\nb\"}",
	     "user: expected"},
	    {"{\"cmd\":\"requests\",\"force\":true}", "force: not expected"},
	    {"{\"cmd\":\"sync\",\"reason\":\"r\"}", "reason: not expected"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mg_ctl_request *req = fresh(&req_a, MG_CTL_RELOAD);
		req->id = 99;
		char err[256] = "";
		assert_int_equal(parse(cases[i].in, req, err, sizeof(err)), -EINVAL);
		if (!strstr(err, cases[i].msg)) {
			print_error("case %zu: '%s' gave '%s'\n", i, cases[i].in, err);
			fail();
		}
		assert_int_equal(req->cmd, MG_CTL_RELOAD); /* untouched */
		assert_int_equal(req->id, 99);
	}
	/* A user name or reason of the collector's maximum length passes, one byte more not. */
	char reason[MG_CTL_MAX_REASON + 2], in[MG_CTL_MAX_REASON + 100];
	memset(reason, 'r', sizeof(reason));
	reason[MG_CTL_MAX_REASON] = '\0';
	snprintf(in, sizeof(in), "{\"cmd\":\"request\",\"id\":3,\"reason\":\"%s\"}", reason);
	assert_int_equal(parse(in, &req_a, NULL, 0), 0);
	reason[MG_CTL_MAX_REASON] = 'r';
	reason[MG_CTL_MAX_REASON + 1] = '\0';
	snprintf(in, sizeof(in), "{\"cmd\":\"request\",\"id\":3,\"reason\":\"%s\"}", reason);
	assert_int_equal(parse(in, &req_a, NULL, 0), -EINVAL);
	static char big[MG_CTL_MAX_REQUEST + 2];
	memset(big, ' ', sizeof(big));
	char err[128];
	assert_int_equal(mg_ctl_request_parse(big, sizeof(big), &req_a, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "larger than"));
}

/* Issue 15: staff-register carries the POST /v1/staff/registrations body, checked. */
#define REG_CRED                                                                                   \
	"\"credential\":{\"aaguid\":\"0123456789abcdef0123456789abcdef\",\"attestation\":{"        \
	"\"authdata\":\"AQIDBA==\",\"clientdata_hash\":"                                           \
	"\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\"fmt\":\"packed\",\"sig\":\"AQID\"},"   \
	"\"cose_alg\":-7,\"id\":\"AQID\",\"public_key\":\"cHVibGljLWtleQ==\",\"rp_id\":"           \
	"\"mynaguard\",\"uv\":true}"

static void test_staff_register(void **state)
{
	(void)state;
	static const char good[] = "{\"cmd\":\"staff-register\",\"registration\":{"
	                           "\"user\":\"suzuki@city.local\",\"registration_id\":\"a-1.x_Y\","
	                           "\"label\":\"予備の鍵\"," REG_CRED "}}";
	char err[256] = "";
	struct mg_ctl_request *r = fresh(&req_a, MG_CTL_STATUS), *back = &req_b;
	assert_int_equal(mg_ctl_cmd_from_name("staff-register", &r->cmd), 0);
	assert_int_equal(r->cmd, MG_CTL_STAFF_REGISTER);
	if (parse(good, r, err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
	assert_int_equal(r->cmd, MG_CTL_STAFF_REGISTER);
	/* kept as canonical JSON (sorted keys), the user name exactly as given */
	assert_non_null(strstr(r->registration, "{\"credential\":{\"aaguid\""));
	assert_non_null(strstr(r->registration, "\"user\":\"suzuki@city.local\"}"));
	char *line = NULL;
	assert_int_equal(mg_ctl_request_format(r, &line), 0);
	assert_int_equal(mg_ctl_request_parse(line, strlen(line) - 1, back, err, sizeof(err)), 0);
	assert_string_equal(back->registration, r->registration);
	free(line);
	/* Tanaka and a 255-byte name are user names too */
	char name[256], in[2048];
	memset(name, 'T', 255);
	name[255] = '\0';
	snprintf(in, sizeof(in),
	         "{\"cmd\":\"staff-register\",\"registration\":{\"user\":\"%s\","
	         "\"registration_id\":\"r\",\"label\":\"k\"," REG_CRED "}}",
	         name);
	assert_int_equal(parse(in, r, err, sizeof(err)), 0);

	static const struct {
		const char *reg, *msg;
	} bad[] = {
	    {"\"user\":\"a/b\",\"registration_id\":\"r\",\"label\":\"k\"," REG_CRED,
	     "registration.user"},
	    {"\"user\":\"-x\",\"registration_id\":\"r\",\"label\":\"k\"," REG_CRED,
	     "registration.user"},
	    {"\"user\":\"Tanaka\",\"registration_id\":\"r/1\",\"label\":\"k\"," REG_CRED,
	     "registration_id"},
	    {"\"user\":\"Tanaka\",\"registration_id\":\"r\",\"label\":\"\"," REG_CRED,
	     "registration.label"},
	    {"\"user\":\"Tanaka\",\"registration_id\":\"r\",\"label\":\"a\\nb\"," REG_CRED,
	     "registration.label"},
	    {"\"user\":\"Tanaka\",\"registration_id\":\"r\",\"label\":\"k\",\"extra\":1," REG_CRED,
	     "registration.extra"},
	    {"\"user\":\"Tanaka\",\"registration_id\":\"r\"," REG_CRED, "registration.label"},
	    {"\"user\":\"Tanaka\",\"registration_id\":\"r\",\"label\":\"k\",\"credential\":{}",
	     "registration.credential."},
	    {"\"user\":\"Tanaka\",\"registration_id\":\"r\",\"label\":\"k\",\"credential\":"
	     "{\"aaguid\":\"0123456789ABCDEF0123456789abcdef\",\"attestation\":{\"authdata\":"
	     "\"AQID\",\"clientdata_hash\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
	     "\"fmt\":\"packed\",\"sig\":\"AQID\"},\"cose_alg\":-7,\"id\":\"AQID\","
	     "\"public_key\":\"AQID\",\"rp_id\":\"r\",\"uv\":true}",
	     "aaguid"},
	    {"\"user\":\"Tanaka\",\"registration_id\":\"r\",\"label\":\"k\",\"credential\":"
	     "{\"aaguid\":\"0123456789abcdef0123456789abcdef\",\"attestation\":{\"authdata\":"
	     "\"AQID\",\"clientdata_hash\":\"AAAA\",\"fmt\":\"packed\",\"sig\":\"AQID\"},"
	     "\"cose_alg\":-7,\"id\":\"AQID\",\"public_key\":\"AQID\",\"rp_id\":\"r\",\"uv\":"
	     "true}",
	     "clientdata_hash"},
	    {"\"user\":\"Tanaka\",\"registration_id\":\"r\",\"label\":\"k\",\"credential\":"
	     "{\"aaguid\":\"0123456789abcdef0123456789abcdef\",\"attestation\":{\"authdata\":"
	     "\"AQID\",\"clientdata_hash\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
	     "\"fmt\":\"tpm\",\"sig\":\"AQID\"},\"cose_alg\":-7,\"id\":\"AQID\","
	     "\"public_key\":\"AQID\",\"rp_id\":\"r\",\"uv\":true}",
	     "fmt"},
	    {"\"user\":\"Tanaka\",\"registration_id\":\"r\",\"label\":\"k\",\"credential\":"
	     "{\"aaguid\":\"0123456789abcdef0123456789abcdef\",\"attestation\":{\"authdata\":"
	     "\"AQID\",\"clientdata_hash\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
	     "\"fmt\":\"packed\",\"sig\":\"AQID\"},\"cose_alg\":-7,\"id\":\"A?ID\","
	     "\"public_key\":\"AQID\",\"rp_id\":\"r\",\"uv\":true}",
	     "base64"},
	    {"\"user\":\"Tanaka\",\"registration_id\":\"r\",\"label\":\"k\",\"credential\":"
	     "{\"aaguid\":\"0123456789abcdef0123456789abcdef\",\"attestation\":{\"authdata\":"
	     "\"AQID\",\"clientdata_hash\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
	     "\"fmt\":\"packed\",\"sig\":\"AQID\",\"y\":1},\"cose_alg\":-7,\"id\":\"AQID\","
	     "\"public_key\":\"AQID\",\"rp_id\":\"r\",\"uv\":true}",
	     "attestation.y"},
	    {"\"user\":\"Tanaka\",\"registration_id\":\"r\",\"label\":\"k\",\"credential\":"
	     "{\"aaguid\":\"0123456789abcdef0123456789abcdef\",\"attestation\":{\"authdata\":"
	     "\"AQID\",\"clientdata_hash\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
	     "\"fmt\":\"none\",\"sig\":\"AQID\"},\"cose_alg\":-7,\"id\":\"AQID\","
	     "\"public_key\":\"AQID\",\"rp_id\":\"r\",\"uv\":true}",
	     "has no sig"},
	    {"\"user\":\"Tanaka\",\"registration_id\":\"r\",\"label\":\"k\",\"credential\":"
	     "{\"aaguid\":\"0123456789abcdef0123456789abcdef\",\"attestation\":{\"authdata\":"
	     "\"AQID\",\"clientdata_hash\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\","
	     "\"fmt\":\"packed\"},\"cose_alg\":-7,\"id\":\"AQID\","
	     "\"public_key\":\"AQID\",\"rp_id\":\"r\",\"uv\":true}",
	     "have a sig"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(in, sizeof(in), "{\"cmd\":\"staff-register\",\"registration\":{%s}}",
		         bad[i].reg);
		err[0] = '\0';
		assert_int_equal(parse(in, fresh(r, MG_CTL_RELOAD), err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].msg))
			fail_msg("case %zu gave '%s'", i, err);
		assert_int_equal(r->cmd, MG_CTL_RELOAD);
	}
	/* registration is for staff-register only, and staff-register needs it */
	assert_int_equal(parse("{\"cmd\":\"staff-register\"}", r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "registration: missing"));
	snprintf(in, sizeof(in),
	         "{\"cmd\":\"sync\",\"registration\":{\"user\":\"T\",\"registration_id\":\"r\","
	         "\"label\":\"k\"," REG_CRED "}}");
	assert_int_equal(parse(in, r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "registration: not expected"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_rejects),
	    cmocka_unit_test(test_staff_register),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
