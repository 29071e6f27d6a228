/*
 * The control protocol between mynaguardctl and the agent, over a Unix stream socket: one
 * request per connection, one line of JSON each way.
 *   request:  {"cmd":"list-devices"} | {"cmd":"allow-device","id":3} | ...
 *   response: {"ok":true, ...} | {"ok":false,"error":"..."}
 */
#ifndef MG_CTL_PROTO_H
#define MG_CTL_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#define MG_CTL_MAX_REQUEST 4096

enum mg_ctl_cmd {
	MG_CTL_STATUS,
	MG_CTL_LIST_DEVICES,
	MG_CTL_ALLOW_DEVICE,
	MG_CTL_BLOCK_DEVICE,
	MG_CTL_RELOAD,
	MG_CTL_GENERATE_POLICY,
};

struct mg_ctl_request {
	enum mg_ctl_cmd cmd;
	unsigned id;     /* allow-device, block-device */
	bool with_ports; /* generate-policy: via-port for every device, not only serial-less ones */
	bool force;      /* reload: apply rules that block a root hub, hub or HID device in use */
};

/* "status", "list-devices", ...; NULL when out of range. */
const char *mg_ctl_cmd_name(enum mg_ctl_cmd cmd);
int mg_ctl_cmd_from_name(const char *name, enum mg_ctl_cmd *out);

/* Parses one request (strict: unknown keys, missing or extra id are errors). 0 or -EINVAL. */
int mg_ctl_request_parse(const char *buf, size_t len, struct mg_ctl_request *out, char *errmsg,
                         size_t errlen);

/* The request as one line of JSON (with '\n'); *out malloc'ed. */
int mg_ctl_request_format(const struct mg_ctl_request *req, char **out);

#endif
