/*
 * libFuzzer target: the event JSON parser on arbitrary bytes. Whatever it accepts must
 * serialise, parse again, and serialise to the same bytes (the canonical form is stable), and
 * the collector's shortcut (mg_event_to_json_from: the parsed tree written again) must give
 * exactly those bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mg/event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mg_event *ev = NULL, *again = NULL;
	char *first = NULL, *second = NULL;
	size_t len1 = 0, len2 = 0;
	char err[256];

	if (mg_event_from_json((const char *)data, size, &ev, err, sizeof(err)) < 0)
		goto done;
	if (mg_event_to_json(ev, &first, &len1) < 0)
		abort(); /* an accepted event must be writable */
	if (mg_event_from_json(first, len1, &again, err, sizeof(err)) < 0)
		abort(); /* and its canonical form must parse */
	if (mg_event_to_json(again, &second, &len2) < 0)
		abort();
	if (len1 != len2 || memcmp(first, second, len1) != 0)
		abort();
	json_t *root =
	    json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
	if (!root)
		abort(); /* it parsed above */
	char *fast = NULL;
	size_t len3 = 0;
	if (mg_event_to_json_from(root, ev, &fast, &len3) < 0 || len3 != len1 ||
	    memcmp(fast, first, len1) != 0)
		abort();
	free(fast);
	json_decref(root);
done:
	free(first);
	free(second);
	mg_event_free(&ev);
	mg_event_free(&again);
	return 0;
}
