/*
 * A fake USB bus in a umockdev testbed (libumockdev): a PCI xHCI controller with its USB 2
 * root hub usb1 and USB 3 root hub usb2, and catalog devices plugged into ports, as the
 * kernel shows them in sysfs (Documentation/ABI/testing/sysfs-bus-usb,
 * Documentation/usb/authorization.rst).
 *
 * The process must run under umockdev's preload (umockdev-wrapper, or
 * LD_PRELOAD=libumockdev-preload.so.0): then umockdev sends uevents to every libudev monitor
 * of the processes that share the testbed (its environment variable UMOCKDEV_DIR, which
 * mg_tb_new() sets, is inherited by the children it spawns). Sysfs files are plain files:
 * writing `authorized` changes nothing else, so mg_tb_settle() plays the kernel's part.
 *
 * Pitfall: at most /proc/sys/net/unix/max_dgram_qlen (10 here) uevents may wait unread in a
 * listener's socket; past that umockdev's sender gives up and exits the process. Let the
 * agent catch up (wait for its event) before sending more.
 */
#ifndef MG_TEST_TESTBED_H
#define MG_TEST_TESTBED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "usb_catalog.h"

struct mg_tb;

/*
 * Creates the testbed with the controller and both root hubs (authorized=1,
 * authorized_default=1, interface_authorized_default=1: the kernel's defaults). -ENOTSUP
 * when the process does not run under the umockdev preload, -ENOMEM.
 */
int mg_tb_new(struct mg_tb **out);
/* Removes the testbed directory (g_object_unref) and unsets UMOCKDEV_DIR. */
void mg_tb_free(struct mg_tb **tb);

/* The testbed's root directory: sysfs is <root>/sys. */
const char *mg_tb_root(const struct mg_tb *tb);
/* DEVPATH of the root hub of bus 1 (USB 2) or 2 (USB 3); NULL for another bus. */
const char *mg_tb_root_hub(const struct mg_tb *tb, unsigned bus);

/* A new device's `authorized`. */
enum mg_tb_auth {
	MG_TB_AUTH_DEFAULT, /* the root hub's authorized_default, as the kernel does */
	MG_TB_AUTH_NO,
	MG_TB_AUTH_YES,
};

struct mg_tb_opts {
	/* Initial `authorized`. An authorized device is configured at once, as by the kernel:
	 * its interfaces exist, authorized per the root hub's interface_authorized_default. */
	enum mg_tb_auth authorized;
	/* Overrides of what the catalog says, for hostile devices: */
	const char *serial;         /* serial bytes (any but NUL); NULL: the catalog's */
	size_t serial_len;          /* 0: strlen(serial) */
	bool no_serial;             /* no `serial` attribute at all */
	const char *product_name;   /* `product`; NULL: the catalog's */
	const char *id_vendor;      /* `idVendor` text; NULL: from the catalog */
	const uint8_t *descriptors; /* `descriptors` bytes; NULL: the catalog's */
	size_t descriptors_len;
	bool no_descriptors; /* no `descriptors` attribute */
};

/*
 * Plugs dev into port: "1-2" (bus 1, root port 2), "1-3.1" (port 1 of the hub at 1-3, which
 * must have been added). Writes every attribute, then umockdev sends one "add" uevent for
 * the device, and one per interface when it is authorized (and so configured). opts may be
 * NULL (the catalog device as it is, `authorized` from the root hub). Returns the DEVPATH
 * ("/devices/...", owned by tb), NULL on error (the port is taken, the parent is unknown).
 */
const char *mg_tb_add(struct mg_tb *tb, const struct mg_cat_device *dev, const char *port,
                      const struct mg_tb_opts *opts);

/* The DEVPATH of the device at port, NULL when none is plugged there. */
const char *mg_tb_devpath(const struct mg_tb *tb, const char *port);

/*
 * Unplugs the device at devpath: "remove" uevents for its interfaces and child devices (leaves
 * first) and then for itself, and its directory goes away. 0 or -ENOENT.
 */
int mg_tb_remove(struct mg_tb *tb, const char *devpath);

/*
 * The kernel's reaction to an `authorized` write: a device now authorized and not configured
 * gets its interfaces "<port>:<cfg>.<n>" with `authorized` taken from its root hub's
 * interface_authorized_default, one "add" uevent each; a device now unauthorized loses them
 * ("remove" uevents). Returns the number of uevents sent, or a negative errno.
 */
int mg_tb_settle(struct mg_tb *tb, const char *devpath);

/*
 * What udev-rules/70-mynaguard.rules does when a root hub appears: authorized_default=0 and
 * interface_authorized_default=0 on both root hubs (no uevent).
 */
void mg_tb_udev_rule(struct mg_tb *tb);

/* Whether the device's interface directories exist. */
bool mg_tb_configured(const struct mg_tb *tb, const char *devpath);

/* DEVPATH of interface n of the device at devpath (configuration 1) into buf. */
const char *mg_tb_iface(const struct mg_tb *tb, const char *devpath, unsigned n, char *buf,
                        size_t len);

/* Attribute attr of devpath (a device or an interface), trailing '\n' removed. 0 or -errno. */
int mg_tb_read(const struct mg_tb *tb, const char *devpath, const char *attr, char *buf,
               size_t len);
/* `authorized` of devpath: 1 or 0; -1 when missing or anything else. */
int mg_tb_authorized(const struct mg_tb *tb, const char *devpath);
/* Overwrites an attribute (as a test step, e.g. a device that changes under the agent). */
void mg_tb_write(struct mg_tb *tb, const char *devpath, const char *attr, const char *value);

/* Sends a uevent ("add", "remove", "change", "bind") for devpath. */
void mg_tb_uevent(struct mg_tb *tb, const char *devpath, const char *action);

/*
 * A barrier for agents in enforce mode: creates an interface of no USB device (its parent
 * is a platform device) with authorized=1 and sends its "add" uevent. An agent keeps such an
 * interface off, so once its `authorized` reads 0 the agent has handled every uevent sent
 * before. Returns its DEVPATH (owned by tb) or NULL.
 */
const char *mg_tb_sentinel(struct mg_tb *tb);

/*
 * A barrier that needs no enforcement (audit mode): adds a USB device without attributes
 * under a platform device (its "add" uevent; the agent records a decision for it, blocked as
 * unreadable). Returns its DEVPATH (owned by tb); remove it with mg_tb_sentinel_remove(),
 * which sends its "remove" uevent (the agent records device.removed).
 */
const char *mg_tb_sentinel_device(struct mg_tb *tb);
void mg_tb_sentinel_remove(struct mg_tb *tb, const char *devpath);

#endif
