/*
 * mynaguardctl events: the events in the spool (<state_dir>/spool), read directly (root; the
 * agent need not run), one per line in the form POST /v1/events sends them: the canonical
 * JSON plus "prev_hash" and "hash", so that an auditor can check the chain end to end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_conf.h"
#include "ctl_client.h"
#include "mg/i18n.h"
#include "mg/safe_open.h"
#include "spool.h"

struct dump {
	uint64_t after;
	unsigned long long printed;
};

static void hex(const uint8_t h[32], char out[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static int print_one(void *ctx, const struct mg_spool_record *r, const uint8_t hash[32])
{
	struct dump *d = ctx;
	if (r->seq <= d->after)
		return 0;
	static const uint8_t zero[32];
	char h[65], p[65] = "";
	hex(hash, h);
	if (memcmp(r->prev, zero, 32) != 0)
		hex(r->prev, p);
	/* The payload is canonical JSON ending in '}': the two members go before it. */
	if (r->len < 2 || r->payload[r->len - 1] != '}')
		return 0;
	printf("%.*s,\"hash\":\"%s\",\"prev_hash\":\"%s\"}\n", (int)(r->len - 1), r->payload, h, p);
	d->printed++;
	return 0;
}

int cmd_events(const struct ctl_opts *o, int argc, char **argv)
{
	(void)o;
	const char *state_dir = NULL;
	struct dump d = {0};
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--state-dir") == 0 && i + 1 < argc)
			state_dir = argv[++i];
		else if (strcmp(argv[i], "--after") == 0 && i + 1 < argc) {
			if (mg_parse_u64(argv[++i], 0, UINT64_MAX, &d.after) < 0)
				return 2;
		} else
			return 2;
	}
	struct mg_agent_conf conf = {0};
	if (!state_dir) {
		struct mg_config_error err;
		char buf[512];
		if (mg_agent_conf_load(DEFAULT_AGENT_CONFIG, &mg_root_config_rules, &conf, &err) <
		    0) {
			fprintf(stderr, "mynaguardctl: %s\n",
			        tty(mg_config_error_str(&err, buf, sizeof(buf))));
			return 1;
		}
		state_dir = conf.state_dir;
	}
	char dir[4096], err[256] = "";
	snprintf(dir, sizeof(dir), "%s/spool", state_dir);
	int r = mg_spool_scan(dir, print_one, &d, err, sizeof(err));
	fflush(stdout);
	if (r < 0 || err[0]) {
		fprintf(stderr, "mynaguardctl: %s: %s\n",
		        MG_TR("スプールを読めません", "cannot read the spool"),
		        tty(err[0] ? err : strerror(-r)));
		mg_agent_conf_free(&conf);
		return 1;
	}
	mg_agent_conf_free(&conf);
	return 0;
}
