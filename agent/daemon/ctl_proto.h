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

#define MG_CTL_MAX_REQUEST 16384 /* a CA certificate fits (enroll) */

enum mg_ctl_cmd {
	MG_CTL_STATUS,
	MG_CTL_LIST_DEVICES,
	MG_CTL_ALLOW_DEVICE,
	MG_CTL_BLOCK_DEVICE,
	MG_CTL_RELOAD,
	MG_CTL_GENERATE_POLICY,
	MG_CTL_ENROLL,         /* collector, token, ca, [force]: waits for the collector */
	MG_CTL_SYNC,           /* poll and upload now: waits for the collector */
	MG_CTL_REQUEST,        /* id, reason, [user] (root only): a device request */
	MG_CTL_REQUESTS,       /* the device requests of this terminal */
	MG_CTL_STAFF_REGISTER, /* registration (root only): a staff key to the collector (issue 15);
	                          waits for the collector */
};

#define MG_CTL_MAX_URL          511
#define MG_CTL_MAX_TOKEN        255
#define MG_CTL_MAX_CA           12288
#define MG_CTL_MAX_REASON       1023
#define MG_CTL_MAX_USER         255
#define MG_CTL_MAX_REGISTRATION MG_CTL_MAX_CA /* the registration as canonical JSON */

struct mg_ctl_request {
	enum mg_ctl_cmd cmd;
	unsigned id;     /* allow-device, block-device */
	bool with_ports; /* generate-policy: via-port for every device, not only serial-less ones */
	bool force;      /* reload: apply rules that block a root hub, hub or HID device in use;
	                    enroll: enrol again */
	char collector[MG_CTL_MAX_URL + 1]; /* enroll */
	char token[MG_CTL_MAX_TOKEN + 1];   /* enroll */
	union {
		char ca[MG_CTL_MAX_CA + 1]; /* enroll: PEM text */
		/* staff-register: the body of POST /v1/staff/registrations (docs/API.md), checked
		   (keys, types, bounds, user name) and kept as canonical JSON (compact, sorted
		   keys) */
		char registration[MG_CTL_MAX_REGISTRATION + 1];
	};
	char reason[MG_CTL_MAX_REASON + 1]; /* request */
	char user[MG_CTL_MAX_USER + 1];     /* request ("" : the peer) */
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
