/* The USB devices present, from <sysfs>/bus/usb/devices (see usb_scan.h). */
#include "usb_scan.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "uevent.h"

static int by_devpath(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int mg_usb_scan(const char *sysfs_root, int (*cb)(void *ctx, const char *devpath), void *ctx)
{
	char bus[PATH_MAX];
	int n = snprintf(bus, sizeof(bus), "%s/bus/usb/devices", sysfs_root);
	if (n < 0 || (size_t)n >= sizeof(bus))
		return -ENAMETOOLONG;
	DIR *dir = opendir(bus);
	if (!dir)
		return -errno;
	char **paths = NULL;
	size_t np = 0, cap = 0;
	int r = 0;
	struct dirent *e;
	while ((e = readdir(dir))) {
		if (e->d_name[0] == '.' || strchr(e->d_name, ':'))
			continue; /* ".", "..", interfaces */
		char target[PATH_MAX];
		ssize_t len = readlinkat(dirfd(dir), e->d_name, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		const char *devpath = strstr(target, "/devices/");
		if (!devpath || !mg_devpath_valid(devpath))
			continue;
		if (np == cap) {
			if (cap >= MG_USB_SCAN_MAX)
				break;
			size_t ncap = cap ? 2 * cap : 64;
			char **np2 = realloc(paths, ncap * sizeof(*paths));
			if (!np2) {
				r = -ENOMEM;
				break;
			}
			paths = np2;
			cap = ncap;
		}
		if (!(paths[np] = strdup(devpath))) {
			r = -ENOMEM;
			break;
		}
		np++;
	}
	closedir(dir);
	if (r == 0 && np > 1)
		qsort(paths, np, sizeof(*paths), by_devpath);
	for (size_t i = 0; i < np; i++) {
		if (r == 0)
			r = cb(ctx, paths[i]);
		free(paths[i]);
	}
	free(paths);
	return r < 0 ? r : 0;
}
