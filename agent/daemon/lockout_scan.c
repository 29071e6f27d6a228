/* The lock-out check on the devices present in sysfs (see lockout_scan.h). */
#include "lockout_scan.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device.h"
#include "lockout.h"
#include "mg/time.h"
#include "uevent.h"
#include "usb_scan.h"

/* Reads the device at devpath; its parent first when that is a USB device (for parent-hash
 * rules), at most depth levels up (USB allows 7 tiers). NULL when it cannot be read. */
static struct mg_device *read_device(const char *root, const char *devpath, int depth)
{
	if (depth <= 0 || !mg_devpath_valid(devpath))
		return NULL;
	char parent[MG_DEVPATH_MAX + 1], path[PATH_MAX];
	struct mg_device *p = NULL;
	if (mg_devpath_parent(devpath, parent, sizeof(parent)) == 0) {
		snprintf(path, sizeof(path), "%s%s", root, parent);
		int pfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pfd >= 0) {
			char buf[MG_DEVICE_ATTR_MAX + 1];
			size_t len = 0;
			if (mg_sysfs_read_attr(pfd, "uevent", buf, sizeof(buf), &len) == 0 &&
			    mg_uevent_file_is_usb_device(buf, len)) {
				p = read_device(root, parent, depth - 1);
				if (!p) {
					close(pfd);
					return NULL;
				}
			}
			close(pfd);
		}
	}
	snprintf(path, sizeof(path), "%s%s", root, devpath);
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct mg_device *d = NULL;
	char err[160];
	if (fd >= 0 && mg_device_read(fd, devpath, p ? p->hash : NULL, &d, err, sizeof(err)) < 0)
		d = NULL;
	if (fd >= 0)
		close(fd);
	mg_device_free(&p);
	return d;
}

struct scan {
	const char *root;
	const struct mg_ruleset *rules;
	enum mg_target implicit;
	int64_t now;
	size_t count;
	char *why;
	size_t whylen;
};

static int check_device(void *ctx, const char *devpath)
{
	struct scan *sc = ctx;
	char path[PATH_MAX];
	int plen = snprintf(path, sizeof(path), "%s%s", sc->root, devpath);
	int fd = plen > 0 && (size_t)plen < sizeof(path)
	             ? open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
	             : -1;
	if (fd < 0)
		return 0;
	char auth[8];
	size_t alen = 0;
	int r = mg_sysfs_read_attr(fd, "authorized", auth, sizeof(auth), &alen);
	close(fd);
	if (r < 0 || strcmp(auth, "1") != 0)
		return 0; /* not in use */
	struct mg_device *d = read_device(sc->root, devpath, 16);
	const char *kind = mg_lockout_kind(d);
	if (kind) {
		const struct mg_rule *rule = mg_ruleset_match(sc->rules, d, sc->now);
		if ((rule ? mg_rule_target(rule) : sc->implicit) != MG_TARGET_ALLOW) {
			sc->count++;
			mg_lockout_append(sc->why, sc->whylen, d, kind);
		}
	}
	mg_device_free(&d);
	return 0;
}

int mg_lockout_scan(const char *root, const struct mg_ruleset *rules, enum mg_target implicit,
                    size_t *count, char *why, size_t whylen)
{
	if (why && whylen)
		why[0] = '\0';
	struct scan sc = {.root = root,
	                  .rules = rules,
	                  .implicit = implicit,
	                  .now = mg_now_us(),
	                  .why = why,
	                  .whylen = whylen};
	int r = mg_usb_scan(root, check_device, &sc);
	*count = sc.count;
	return r;
}
