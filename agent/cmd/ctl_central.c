/*
 * mynaguardctl commands of the event pipeline (issue 12): enroll, sync, request, requests.
 * They talk to the agent; the agent's uplink talks to the collector.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_client.h"
#include "mg/config.h"
#include "mg/i18n.h"
#include "mg/safe_open.h"

/* enroll --collector URL --token TOKEN --ca FILE [--force] */
int cmd_enroll(const struct ctl_opts *o, int argc, char **argv)
{
	static struct mg_ctl_request req; /* large: not on the stack */
	memset(&req, 0, sizeof(req));
	req.cmd = MG_CTL_ENROLL;
	const char *url = NULL, *token = NULL, *ca = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0 || strcmp(argv[i], "-f") == 0)
			req.force = true;
		else if (strcmp(argv[i], "--collector") == 0 && i + 1 < argc)
			url = argv[++i];
		else if (strcmp(argv[i], "--token") == 0 && i + 1 < argc)
			token = argv[++i];
		else if (strcmp(argv[i], "--ca") == 0 && i + 1 < argc)
			ca = argv[++i];
		else
			return 2;
	}
	if (!url || !token || !ca)
		return 2;
	if (strlen(url) > MG_CTL_MAX_URL || strlen(token) > MG_CTL_MAX_TOKEN) {
		fprintf(stderr, "mynaguardctl: %s\n",
		        MG_TR("URL またはトークンが長すぎます", "URL or token too long"));
		return 1;
	}
	/* The CA file is read here, with the caller's rights, and its text sent to the agent. */
	struct mg_file_rules any = {
	    .owner = MG_ANY_OWNER, .allow_group_write = false, .max_size = MG_CTL_MAX_CA};
	char *pem = NULL;
	size_t len = 0;
	const char *why = NULL;
	int r = mg_safe_read_file(ca, &any, &pem, &len, &why);
	if (r < 0 || len == 0 || !strstr(pem, "-----BEGIN CERTIFICATE-----")) {
		fprintf(stderr, "mynaguardctl: %s: %s\n", tty(ca),
		        r < 0 ? tty(why ? why : strerror(-r))
		        : len ? MG_TR("PEM 形式の証明書ではありません", "not a PEM certificate")
		              : MG_TR("空のファイルです", "empty file"));
		free(pem);
		return 1;
	}
	snprintf(req.collector, sizeof(req.collector), "%s", url);
	snprintf(req.token, sizeof(req.token), "%s", token);
	snprintf(req.ca, sizeof(req.ca), "%s", pem);
	free(pem);
	json_t *resp = call(o, &req);
	if (!resp)
		return 1;
	printf("%s: %s (host id %lld)\n", MG_TR("登録しました", "enrolled"),
	       tty(json_string_value(json_object_get(resp, "collector"))),
	       (long long)json_integer_value(json_object_get(resp, "host_id")));
	json_decref(resp);
	return 0;
}

int cmd_sync(const struct ctl_opts *o, int argc, char **argv)
{
	(void)argv;
	if (argc != 1)
		return 2;
	struct mg_ctl_request req = {.cmd = MG_CTL_SYNC};
	json_t *resp = call(o, &req);
	if (!resp)
		return 1;
	printf("%s: %s %lld, %s %lld\n", MG_TR("同期しました", "synchronised"),
	       MG_TR("未送信イベント", "events not sent"),
	       (long long)json_integer_value(json_object_get(resp, "spool_depth")),
	       MG_TR("ポリシー版", "policy version"),
	       (long long)json_integer_value(json_object_get(resp, "policy_version")));
	json_decref(resp);
	return 0;
}

/* request DEVICE-ID --reason TEXT [--user NAME] */
int cmd_request(const struct ctl_opts *o, int argc, char **argv)
{
	static struct mg_ctl_request req;
	memset(&req, 0, sizeof(req));
	req.cmd = MG_CTL_REQUEST;
	const char *id = NULL, *reason = NULL, *user = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc)
			reason = argv[++i];
		else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc)
			user = argv[++i];
		else if (!id)
			id = argv[i];
		else
			return 2;
	}
	uint64_t v;
	if (!id || !reason)
		return 2;
	if (mg_parse_u64(id, 1, 0x7fffffff, &v) < 0) {
		fprintf(stderr, "mynaguardctl: %s: '%s'\n",
		        MG_TR("デバイス ID が正しくありません", "not a device id"), tty(id));
		return 2;
	}
	if (strlen(reason) > MG_CTL_MAX_REASON || (user && strlen(user) > MG_CTL_MAX_USER)) {
		fprintf(stderr, "mynaguardctl: %s\n",
		        MG_TR("理由またはユーザー名が長すぎます", "reason or user name too long"));
		return 1;
	}
	req.id = (unsigned)v;
	snprintf(req.reason, sizeof(req.reason), "%s", reason);
	if (user)
		snprintf(req.user, sizeof(req.user), "%s", user);
	json_t *resp = call(o, &req);
	if (!resp)
		return 1;
	printf("%s: %s\n", MG_TR("申請しました", "requested"),
	       tty(json_string_value(json_object_get(resp, "request_id"))));
	json_decref(resp);
	return 0;
}

static const char *state_label(const char *s)
{
	if (!s)
		return "?";
	if (strcmp(s, "unsent") == 0)
		return MG_TR("未送信", "not sent yet");
	if (strcmp(s, "pending") == 0)
		return MG_TR("承認待ち", "pending");
	if (strcmp(s, "approved") == 0)
		return MG_TR("承認", "approved");
	if (strcmp(s, "denied") == 0)
		return MG_TR("却下", "denied");
	return s;
}

static void print_request(json_t *r)
{
	json_t *d = json_object_get(r, "device");
	printf("%s %-10s %s:%s %s %s\n", tty(json_string_value(json_object_get(r, "request_id"))),
	       tty(state_label(json_string_value(json_object_get(r, "state")))),
	       tty(json_string_value(json_object_get(d, "vendor_id"))),
	       tty(json_string_value(json_object_get(d, "product_id"))),
	       tty(json_string_value(json_object_get(r, "user"))),
	       tty(json_string_value(json_object_get(r, "reason"))));
}

int cmd_requests(const struct ctl_opts *o, int argc, char **argv)
{
	return list_command(o, argc, argv, MG_CTL_REQUESTS, "requests", print_request);
}
