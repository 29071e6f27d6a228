/* libFuzzer target: uevent KEY=VALUE parsing, both separators. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uevent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	char sep = (data[0] & 1) ? '\0' : '\n';
	struct mg_uevent ev;
	char err[128];
	if (mg_uevent_parse((const char *)data + 1, size - 1, sep, &ev, err, sizeof(err)) == 0 &&
	    ev.kind != MG_UEVENT_IGNORE && !mg_devpath_valid(ev.devpath))
		abort(); /* an accepted USB event always has a valid DEVPATH */
	return 0;
}
