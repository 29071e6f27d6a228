/* Uevent property validation and KEY=VALUE parsing. */
#include "uevent.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define MAX_ENTRIES 256
#define MAX_VALUE   MG_DEVPATH_MAX

int mg_devpath_valid(const char *p)
{
	if (!p || strncmp(p, "/devices/", 9) != 0)
		return 0;
	size_t n = strlen(p);
	if (n > MG_DEVPATH_MAX)
		return 0;
	const char *c = p + 1; /* start of the first component ("devices") */
	while (*c) {
		const char *end = strchr(c, '/');
		size_t clen = end ? (size_t)(end - c) : strlen(c);
		if (clen == 0 || (clen == 1 && c[0] == '.') ||
		    (clen == 2 && c[0] == '.' && c[1] == '.'))
			return 0;
		for (size_t i = 0; i < clen; i++)
			if ((unsigned char)c[i] <= 0x20 || (unsigned char)c[i] >= 0x7f)
				return 0;
		if (!end)
			break;
		c = end + 1;
		if (*c == '\0')
			return 0; /* trailing slash */
	}
	return 1;
}

static enum mg_uevent_action parse_action(const char *a)
{
	static const struct {
		const char *name;
		enum mg_uevent_action action;
	} actions[] = {
	    {"add", MG_UEVENT_ADD},   {"remove", MG_UEVENT_REMOVE}, {"change", MG_UEVENT_CHANGE},
	    {"bind", MG_UEVENT_BIND}, {"unbind", MG_UEVENT_UNBIND},
	};
	for (size_t i = 0; a && i < sizeof(actions) / sizeof(actions[0]); i++)
		if (strcmp(a, actions[i].name) == 0)
			return actions[i].action;
	return MG_UEVENT_OTHER;
}

int mg_uevent_from_fields(const char *action, const char *devpath, const char *subsystem,
                          const char *devtype, struct mg_uevent *out, char *errmsg, size_t errlen)
{
	char dummy[1];
	if (!errmsg || errlen == 0) {
		errmsg = dummy;
		errlen = sizeof(dummy);
	}
	struct mg_uevent ev;
	memset(&ev, 0, sizeof(ev));
	ev.action = parse_action(action);
	ev.kind = MG_UEVENT_IGNORE;
	if (subsystem && strcmp(subsystem, "usb") == 0 && devtype) {
		if (strcmp(devtype, "usb_device") == 0)
			ev.kind = MG_UEVENT_USB_DEVICE;
		else if (strcmp(devtype, "usb_interface") == 0)
			ev.kind = MG_UEVENT_USB_INTERFACE;
	}
	if (ev.kind != MG_UEVENT_IGNORE) {
		if (!devpath) {
			snprintf(errmsg, errlen, "USB uevent without DEVPATH");
			return -EINVAL;
		}
		if (!mg_devpath_valid(devpath)) {
			snprintf(errmsg, errlen, "USB uevent with a malformed DEVPATH");
			return -EINVAL;
		}
		memcpy(ev.devpath, devpath, strlen(devpath) + 1);
	}
	*out = ev;
	return 0;
}

bool mg_uevent_file_is_usb_device(const char *buf, size_t len)
{
	static const char want[] = "DEVTYPE=usb_device";
	size_t pos = 0;
	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (buf + pos)) : len - pos;
		if (n == sizeof(want) - 1 && memcmp(buf + pos, want, n) == 0)
			return true;
		pos += n + 1;
	}
	return false;
}

int mg_uevent_parse(const char *buf, size_t len, char sep, struct mg_uevent *out, char *errmsg,
                    size_t errlen)
{
	char dummy[1];
	if (!errmsg || errlen == 0) {
		errmsg = dummy;
		errlen = sizeof(dummy);
	}
	static const char *const wanted[] = {"ACTION", "DEVPATH", "SUBSYSTEM", "DEVTYPE"};
	char values[4][MAX_VALUE + 1];
	bool seen[4] = {false, false, false, false};
	size_t pos = 0, entries = 0;
	while (pos < len) {
		const char *start = buf + pos;
		const char *end = memchr(start, sep, len - pos);
		size_t n = end ? (size_t)(end - start) : len - pos;
		pos += n + (end ? 1 : 0);
		if (n == 0)
			continue;
		if (++entries > MAX_ENTRIES) {
			snprintf(errmsg, errlen, "more than %d entries", MAX_ENTRIES);
			return -EINVAL;
		}
		const char *eq = memchr(start, '=', n);
		if (!eq) {
			if (entries == 1 && sep == '\0' && memchr(start, '@', n))
				continue; /* netlink header "add@/devices/..." */
			snprintf(errmsg, errlen, "entry %zu has no '='", entries);
			return -EINVAL;
		}
		size_t klen = (size_t)(eq - start), vlen = n - klen - 1;
		for (size_t w = 0; w < 4; w++) {
			if (strlen(wanted[w]) != klen || memcmp(start, wanted[w], klen) != 0)
				continue;
			if (seen[w]) {
				snprintf(errmsg, errlen, "duplicate %s", wanted[w]);
				return -EINVAL;
			}
			if (vlen > MAX_VALUE || memchr(eq + 1, '\0', vlen)) {
				snprintf(errmsg, errlen, "%s value too long or has a NUL byte",
				         wanted[w]);
				return -EINVAL;
			}
			memcpy(values[w], eq + 1, vlen);
			values[w][vlen] = '\0';
			seen[w] = true;
		}
	}
	return mg_uevent_from_fields(seen[0] ? values[0] : NULL, seen[1] ? values[1] : NULL,
	                             seen[2] ? values[2] : NULL, seen[3] ? values[3] : NULL, out,
	                             errmsg, errlen);
}
