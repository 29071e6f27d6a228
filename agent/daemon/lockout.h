/*
 * Lock-out guard: which devices a rule change must never cut off without the operator saying
 * so (--force). Root hubs, hubs and HID devices (the keyboard and mouse in use): blocking a
 * root hub or hub disconnects everything behind it; blocking the keyboard leaves nobody able
 * to type the fix. Pure: used by the agent (reload, SIGHUP, central policy) and by
 * `mynaguardctl check-rules` on the devices it reads from sysfs.
 */
#ifndef MG_AGENT_LOCKOUT_H
#define MG_AGENT_LOCKOUT_H

#include <stdbool.h>
#include <stddef.h>

#include "device.h"

/* What kind of protected device dev is: "root hub", "hub", "HID"; NULL when none. */
const char *mg_lockout_kind(const struct mg_device *dev);

/*
 * Appends one protected device to the list in buf ("usb1 (root hub 1d6b:0002), 1-1 (HID
 * 046d:c31c "USB Keyboard")"): control characters in the name are escaped; the list is
 * truncated with "..." when buf is full. buf must be initialised ("" or a list).
 */
void mg_lockout_append(char *buf, size_t len, const struct mg_device *dev, const char *kind);

#endif
