/*
 * Uevent properties: validation of what libudev hands us (ACTION, DEVPATH, SUBSYSTEM,
 * DEVTYPE) and a parser of the KEY=VALUE form (sysfs `uevent` files: '\n'-separated;
 * netlink messages: '\0'-separated). Pure, no I/O. What is not a USB device or interface
 * event is classified MG_UEVENT_IGNORE, never an error.
 */
#ifndef MG_UEVENT_H
#define MG_UEVENT_H

#include <stdbool.h>
#include <stddef.h>

#define MG_DEVPATH_MAX 1024

enum mg_uevent_action {
	MG_UEVENT_ADD,
	MG_UEVENT_REMOVE,
	MG_UEVENT_CHANGE,
	MG_UEVENT_BIND,
	MG_UEVENT_UNBIND,
	MG_UEVENT_OTHER, /* move, online, offline, ...: not acted upon */
};

enum mg_uevent_kind {
	MG_UEVENT_IGNORE,        /* not subsystem usb, or a devtype we do not decide */
	MG_UEVENT_USB_DEVICE,    /* SUBSYSTEM=usb DEVTYPE=usb_device */
	MG_UEVENT_USB_INTERFACE, /* SUBSYSTEM=usb DEVTYPE=usb_interface */
};

struct mg_uevent {
	enum mg_uevent_action action;
	enum mg_uevent_kind kind;
	char devpath[MG_DEVPATH_MAX + 1];
};

/*
 * Classifies one event from its fields (any may be NULL). A USB event with a missing or
 * malformed DEVPATH is an error (-EINVAL, errmsg says which): such an event cannot be acted
 * upon and is reported. Out-parameter written only on success.
 */
int mg_uevent_from_fields(const char *action, const char *devpath, const char *subsystem,
                          const char *devtype, struct mg_uevent *out, char *errmsg, size_t errlen);

/* Parses buf[0..len) of KEY=VALUE entries separated by sep ('\n' or '\0'), then classifies. */
int mg_uevent_parse(const char *buf, size_t len, char sep, struct mg_uevent *out, char *errmsg,
                    size_t errlen);

/*
 * True when a sysfs `uevent` file (KEY=VALUE lines; it has no SUBSYSTEM line) describes a
 * USB device (a line "DEVTYPE=usb_device").
 */
bool mg_uevent_file_is_usb_device(const char *buf, size_t len);

/*
 * True for a DEVPATH we accept: "/devices/" followed by components of printable ASCII other
 * than '/', none empty, "." or "..", at most MG_DEVPATH_MAX bytes.
 */
int mg_devpath_valid(const char *devpath);

#endif
