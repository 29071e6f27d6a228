/* mynaguardctl: the call over the control socket and terminal escaping (ctl_client.h). */
#include "ctl_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "mg/i18n.h"
#include "mg/utf8.h"

const char *tty(const char *s)
{
	static char *ring[8];
	static unsigned k;
	unsigned i = k++ % 8;
	free(ring[i]);
	ring[i] = s ? mg_utf8_escape_terminal(s) : NULL;
	return ring[i] ? ring[i] : "?";
}

json_t *call(const struct ctl_opts *o, const struct mg_ctl_request *req)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (fd < 0 || strlen(o->socket) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "mynaguardctl: %s\n",
		        MG_TR("ソケットを作成できません", "cannot create a socket"));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	memcpy(sa.sun_path, o->socket, strlen(o->socket) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "mynaguardctl: %s %s: %s\n",
		        MG_TR("エージェントに接続できません", "cannot connect to the agent at"),
		        o->socket, strerror(errno));
		close(fd);
		return NULL;
	}
	struct timeval tv = {.tv_sec = 30, .tv_usec = 0};
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	char *line = NULL;
	json_t *resp = NULL;
	if (mg_ctl_request_format(req, &line) < 0) {
		fprintf(stderr, "mynaguardctl: %s\n", MG_TR("メモリ不足", "out of memory"));
		close(fd);
		return NULL;
	}
	/* The agent may answer and close before the request is read (a refused peer): the
	 * answer is read even when sending fails, so the refusal is shown, not lost. */
	int send_err = 0;
	if (send(fd, line, strlen(line), MSG_NOSIGNAL) != (ssize_t)strlen(line))
		send_err = errno ? errno : EIO;
	json_error_t jerr;
	FILE *f = fdopen(fd, "r");
	if (f) {
		resp = json_loadf(f, JSON_DISABLE_EOF_CHECK, &jerr);
		fclose(f);
		fd = -1;
	}
	if (!resp && send_err)
		fprintf(
		    stderr, "mynaguardctl: %s: %s\n",
		    MG_TR("エージェントに要求を送れません", "cannot send the request to the agent"),
		    strerror(send_err));
	else if (!resp)
		fprintf(stderr, "mynaguardctl: %s\n",
		        MG_TR("エージェントの応答を読めません", "no valid answer from the agent"));
	free(line);
	if (fd >= 0)
		close(fd);
	if (resp && !json_is_true(json_object_get(resp, "ok"))) {
		const char *e = json_string_value(json_object_get(resp, "error"));
		fprintf(stderr, "mynaguardctl: %s: %s\n", MG_TR("エラー", "error"), tty(e));
		json_decref(resp);
		resp = NULL;
	}
	return resp;
}

int json_option(const struct ctl_opts *o, int argc, char **argv, bool *json)
{
	*json = o->json;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") != 0)
			return 2;
		*json = true;
	}
	return 0;
}

int list_command(const struct ctl_opts *o, int argc, char **argv, enum mg_ctl_cmd cmd,
                 const char *key, void (*print)(json_t *item))
{
	bool json;
	if (json_option(o, argc, argv, &json))
		return 2;
	json_t *resp;
	if (simple(o, cmd, 0, &resp))
		return 1;
	json_t *list = json_object_get(resp, key);
	if (json) {
		json_dumpf(list, stdout, JSON_INDENT(2));
		putchar('\n');
	} else {
		size_t i;
		json_t *item;
		json_array_foreach(list, i, item) print(item);
	}
	json_decref(resp);
	return 0;
}

int simple(const struct ctl_opts *o, enum mg_ctl_cmd cmd, unsigned id, json_t **out)
{
	struct mg_ctl_request req = {.cmd = cmd, .id = id};
	json_t *resp = call(o, &req);
	if (!resp)
		return 1;
	if (out)
		*out = resp;
	else
		json_decref(resp);
	return 0;
}
