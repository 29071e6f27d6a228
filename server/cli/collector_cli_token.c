/*
 * `mynaguard-collector token create`: a new enrolment token (enroll_token.h). The token is
 * printed once; the store keeps only its SHA-256 (docs/API.md, POST /v1/enroll).
 */
#include "collector_cli.h"

#include <string.h>

#include "enroll_token.h"
#include "mg/i18n.h"
#include "mg/time.h"

static int token_create(const struct cli_opts *o, int64_t ttl)
{
	char tok[MG_ENROLL_TOKEN_SIZE], hex[65];
	struct mg_store *s = NULL;
	int64_t now = mg_now_us();
	int r, ret = CLI_RUNTIME;

	if (mg_enroll_token_new(tok, hex) < 0) {
		cli_error(MG_TR("乱数を得られません", "no random bytes"));
		return CLI_RUNTIME;
	}
	if (cli_open_store(o, &s) < 0)
		goto done;
	r = mg_store_token_add(s, NULL, hex, now + ttl, (uint32_t)o->uses, now);
	if (r < 0) {
		cli_error(MG_TR("トークンを保存できません: %s", "cannot store the token: %s"),
		          strerror(-r));
		goto done;
	}
	printf("%s\n", tok);
	ret = CLI_OK;
done:
	explicit_bzero(tok, sizeof(tok));
	mg_store_close(&s);
	return ret;
}

int cli_token(int argc, char **argv)
{
	static const char *const allowed[] = {"--config",  "--data-dir", "--db",
	                                      "--expires", "--uses",     NULL};
	struct cli_opts o = {.uses = 1, .expires = "24h", .ready_fd = -1};
	int64_t ttl;
	int ret = CLI_USAGE;

	if (argc < 1 || strcmp(argv[0], "create") != 0) {
		cli_error(
		    MG_TR("使い方: token create --data-dir DIR [--expires DURATION] [--uses N]",
		          "usage: token create --data-dir DIR [--expires DURATION] [--uses N]"));
		return CLI_USAGE;
	}
	if (cli_parse(argc - 1, argv + 1, allowed, 0, &o) < 0)
		goto done;
	if (cli_parse_duration(o.expires, &ttl) < 0) {
		cli_error(MG_TR("--expires %s: 90s, 15m, 2h, 7d のように指定してください",
		                "--expires %s: expected e.g. 90s, 15m, 2h, 7d"),
		          o.expires);
		goto done;
	}
	ret = token_create(&o, ttl);
done:
	cli_opts_free(&o);
	return ret;
}
