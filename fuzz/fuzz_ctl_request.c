/* libFuzzer target: control-socket requests (from any local user). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mg_ctl_request req, back; /* large: off the stack */
	char err[256];
	if (mg_ctl_request_parse((const char *)data, size, &req, err, sizeof(err)) != 0)
		return 0;
	char *line = NULL;
	if (mg_ctl_request_format(&req, &line) != 0)
		abort();
	if (mg_ctl_request_parse(line, strlen(line) - 1, &back, err, sizeof(err)) != 0 ||
	    back.cmd != req.cmd || back.id != req.id || back.force != req.force ||
	    strcmp(back.collector, req.collector) != 0 || strcmp(back.token, req.token) != 0 ||
	    strcmp(back.ca, req.ca) != 0 || strcmp(back.reason, req.reason) != 0 ||
	    strcmp(back.user, req.user) != 0)
		abort();
	free(line);
	return 0;
}
