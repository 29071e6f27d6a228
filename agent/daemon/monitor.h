/*
 * libudev adapter: a uevent monitor for subsystem "usb" and the enumeration of present USB
 * devices. The monitor is created (and receiving) before enumeration starts, so uevents that
 * arrive during the scan wait in its socket and are processed afterwards.
 */
#ifndef MG_MONITOR_H
#define MG_MONITOR_H

#include <stdbool.h>

#include "uevent.h"

struct mg_monitor;

/* kernel: raw kernel uevents (libudev accepts only the kernel as sender); else udev's. */
int mg_monitor_new(bool kernel_source, struct mg_monitor **out);
void mg_monitor_free(struct mg_monitor **m);
int mg_monitor_fd(const struct mg_monitor *m);

/*
 * Receives one uevent: 1 and *ev filled, 0 when nothing is pending, -ENOBUFS when the
 * kernel dropped events (the caller must rescan), -EINVAL (errmsg) for a malformed one.
 */
int mg_monitor_receive(struct mg_monitor *m, struct mg_uevent *ev, char *errmsg, size_t errlen);

/* Calls cb for every present USB device (not interfaces), parents before children. */
int mg_monitor_enumerate(struct mg_monitor *m, int (*cb)(void *ctx, const char *devpath),
                         void *ctx);

#endif
