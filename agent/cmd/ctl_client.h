/*
 * What the commands of mynaguardctl share: the options, the call over the control socket,
 * escaping for the terminal, and the agent's configuration file.
 */
#ifndef MG_CTL_CLIENT_H
#define MG_CTL_CLIENT_H

#include <jansson.h>
#include <stdbool.h>

#include "ctl_proto.h"

#define DEFAULT_SOCKET       "/run/mynaguard/agent.sock"
#define DEFAULT_AGENT_CONFIG "/etc/mynaguard/agent.conf"

struct ctl_opts {
	const char *socket;
	bool json;
};

/*
 * s escaped for the terminal (mg_utf8_escape_terminal): device names, ports, paths and error
 * texts come from devices and files and must not reach the operator's terminal raw. The
 * result lives until eight more calls; "?" for NULL or on ENOMEM.
 */
const char *tty(const char *s);

/* Sends one request; the answer object when it says ok, else NULL (the error printed). */
json_t *call(const struct ctl_opts *o, const struct mg_ctl_request *req);
/* call() for a request with only a command and an id. 0, or 1 after an error message. */
int simple(const struct ctl_opts *o, enum mg_ctl_cmd cmd, unsigned id, json_t **out);
/* The only arguments are --json (any number of times): 0 and *json (also set by o->json), or 2
 * (the usage exit status) for anything else. */
int json_option(const struct ctl_opts *o, int argc, char **argv, bool *json);
/*
 * A listing command ("list-devices", "requests"): takes [--json], asks cmd, and prints the
 * answer's array under key, as JSON or an item at a time with print. The exit status (2 for
 * an unknown argument).
 */
int list_command(const struct ctl_opts *o, int argc, char **argv, enum mg_ctl_cmd cmd,
                 const char *key, void (*print)(json_t *item));

/* mynaguardctl events (ctl_events.c). */
int cmd_events(const struct ctl_opts *o, int argc, char **argv);
/* enroll, sync, request, requests (ctl_central.c). */
int cmd_enroll(const struct ctl_opts *o, int argc, char **argv);
int cmd_sync(const struct ctl_opts *o, int argc, char **argv);
int cmd_request(const struct ctl_opts *o, int argc, char **argv);
int cmd_requests(const struct ctl_opts *o, int argc, char **argv);

#endif
