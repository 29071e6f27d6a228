/*
 * Kernel USB authorization through sysfs (Documentation/usb/authorization.rst), always
 * through a directory fd opened once per device (openat: no path races):
 *   device:    authorized = 1 (allow) | 0 (block);  remove = 1 (reject)
 *   interface: authorized = 1 | 0; after 1, its name to /sys/bus/usb/drivers_probe
 *   root hub:  authorized_default = 0, interface_authorized_default = 0
 */
#ifndef MG_ENFORCE_H
#define MG_ENFORCE_H

#ifndef MG_AGENT_CORE_INTERNAL
#error "enforce.h is private to agent/daemon/ (mg_agent_core)"
#endif

#include <stdbool.h>

#include "rules.h"

/* Applies target to the device directory devfd. 0 or negative errno. */
int mg_enforce_device(int devfd, enum mg_target target);

/* Authorizes (allow) or deauthorizes an interface directory. 0 or negative errno. */
int mg_enforce_interface(int ifacefd, bool allow);

/*
 * Asks the kernel to bind a driver to the interface iface_name ("1-2:1.0") that was just
 * authorized: an interface created unauthorized (interface_authorized_default=0) is not
 * probed again when it is authorized later (Documentation/usb/authorization.rst). A bound
 * interface is left as it is. 0 or negative errno.
 */
#define MG_USB_BUS_DIR "/sys/bus/usb" /* its drivers_probe */
int mg_enforce_probe(const char *iface_name);

/*
 * On a root hub directory: authorized_default and interface_authorized_default set to
 * device_default and iface_default (0 or 1; -1 leaves it). 0 keeps every new device (and
 * interface) without a driver until the agent authorized it. 0, or the first error.
 */
int mg_enforce_root_hub(int hubfd, int device_default, int iface_default);

/* The current `authorized` value of a device or interface: 1, 0, or negative errno. */
int mg_read_authorized(int fd);

#endif
