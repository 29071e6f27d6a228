/*
 * `mynaguard-collector hosts`: the enrolled terminals, as a table for people or (--json) one
 * JSON object per line.
 */
#include "collector_cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mg/i18n.h"
#include "mg/time.h"

#define W_ID     6u
#define W_HOST   24u
#define W_SEEN   25u
#define W_POLICY 10u
#define W_SPOOL  10u

/* RFC 3339 text of us, or JSON null for 0 (never). */
static json_t *time_or_null(int64_t us)
{
	char buf[MG_RFC3339_LEN];
	if (us <= 0 || mg_time_format(us, buf) < 0)
		return json_null();
	return json_string(buf);
}

static int print_json(const struct mg_store_host *h)
{
	return cli_json_line(json_pack(
	    "{s:I,s:s,s:s,s:o,s:o,s:b,s:I,s:I,s:o,s:s}", "id", (json_int_t)h->id, "hostname",
	    h->hostname, "cert_serial", h->cert_serial, "enrolled", time_or_null(h->enrolled_us),
	    "last_seen", time_or_null(h->last_seen_us), "revoked", h->revoked, "policy_version",
	    (json_int_t)h->policy_version, "spool_depth", (json_int_t)h->spool_depth,
	    "oldest_unsent", time_or_null(h->oldest_unsent_us), "agent_version", h->agent_version));
}

static int on_host(void *ctx, const struct mg_store_host *h)
{
	const bool *json = ctx;
	char id[24], seen[64], policy[24], spool[24];
	if (*json)
		return print_json(h);
	snprintf(id, sizeof(id), "%" PRId64, h->id);
	cli_time_text(h->last_seen_us, seen, sizeof(seen));
	snprintf(policy, sizeof(policy), "%" PRIu64, h->policy_version);
	snprintf(spool, sizeof(spool), "%" PRIu64, h->spool_depth);
	cli_cell(stdout, id, W_ID);
	cli_cell(stdout, h->hostname, W_HOST);
	cli_cell(stdout, seen, W_SEEN);
	cli_cell(stdout, h->policy_version ? policy : "-", W_POLICY);
	cli_cell(stdout, spool, W_SPOOL);
	cli_cell(stdout, h->revoked ? MG_TR("失効", "revoked") : "-", 0);
	return ferror(stdout) ? -EIO : 0;
}

int cli_hosts(int argc, char **argv)
{
	static const char *const allowed[] = {"--config", "--data-dir", "--db", "--json", NULL};
	struct cli_opts o = {.ready_fd = -1};
	struct mg_store *s = NULL;
	int r, ret = CLI_USAGE;

	if (cli_parse(argc, argv, allowed, 0, &o) < 0)
		goto done;
	ret = CLI_RUNTIME;
	if (cli_open_store(&o, &s) < 0)
		goto done;
	if (!o.json) {
		cli_cell(stdout, "ID", W_ID);
		cli_cell(stdout, MG_TR("ホスト名", "HOSTNAME"), W_HOST);
		cli_cell(stdout, MG_TR("最終受信", "LAST SEEN"), W_SEEN);
		cli_cell(stdout, MG_TR("ポリシー版", "POLICY"), W_POLICY);
		cli_cell(stdout, MG_TR("未送信", "SPOOL"), W_SPOOL);
		cli_cell(stdout, MG_TR("状態", "STATE"), 0);
	}
	r = mg_store_host_foreach(s, on_host, &o.json);
	if (r == 0 && fflush(stdout) != 0)
		r = -EIO;
	if (r < 0) {
		cli_error(MG_TR("端末の一覧を読めません: %s", "cannot read the hosts: %s"),
		          strerror(-r));
		goto done;
	}
	ret = CLI_OK;
done:
	mg_store_close(&s);
	cli_opts_free(&o);
	return ret;
}
