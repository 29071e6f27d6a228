/* The device model: one USB device read from sysfs through an open directory fd. */
#include "device.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "usb_hash.h"

static bool trim_char(char c)
{
	return c == '\0' || c == '\n' || c == '\r' || c == '\t' || c == '\b';
}

int mg_sysfs_read_attr(int dirfd, const char *name, char *buf, size_t len, size_t *outlen)
{
	if (len == 0)
		return -EINVAL;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	size_t used = 0;
	int r = 0;
	for (;;) {
		if (used == len - 1) {
			/* Full: anything more means the value is too long. */
			char extra;
			ssize_t n = read(fd, &extra, 1);
			if (n > 0)
				r = -E2BIG;
			break;
		}
		ssize_t n = read(fd, buf + used, len - 1 - used);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	close(fd);
	if (r < 0)
		return r;
	while (used > 0 && trim_char(buf[used - 1]))
		used--;
	buf[used] = '\0';
	if (outlen)
		*outlen = used;
	return 0;
}

int mg_sysfs_write_attr(int dirfd, const char *name, const char *value)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	size_t len = strlen(value);
	ssize_t n;
	do {
		n = write(fd, value, len);
	} while (n < 0 && errno == EINTR);
	int r = n < 0 ? -errno : (size_t)n != len ? -EIO : 0;
	if (close(fd) < 0 && r == 0 && errno != EINTR)
		r = -errno;
	return r;
}

int mg_devpath_parent(const char *devpath, char *buf, size_t len)
{
	const char *slash = strrchr(devpath, '/');
	if (!slash || slash == devpath)
		return -EINVAL;
	size_t n = (size_t)(slash - devpath);
	if (n >= len)
		return -ENAMETOOLONG;
	memcpy(buf, devpath, n);
	buf[n] = '\0';
	return 0;
}

void mg_device_free(struct mg_device **dev)
{
	if (!dev || !*dev)
		return;
	struct mg_device *d = *dev;
	free(d->syspath);
	free(d->port);
	free(d->name);
	free(d->serial);
	free(d->connect_type);
	free(d->hash);
	free(d->parent_hash);
	free(d);
	*dev = NULL;
}

/* An optional string attribute: "" when absent. */
static int read_optional(int dirfd, const char *name, char **out, char *errmsg, size_t errlen)
{
	char buf[MG_DEVICE_ATTR_MAX + 1];
	size_t len = 0;
	int r = mg_sysfs_read_attr(dirfd, name, buf, sizeof(buf), &len);
	if (r == -ENOENT) {
		buf[0] = '\0';
	} else if (r < 0) {
		snprintf(errmsg, errlen, "attribute '%s': %s", name,
		         r == -E2BIG ? "longer than 4096 bytes" : strerror(-r));
		return r == -E2BIG ? -EINVAL : r;
	} else if (memchr(buf, '\0', len)) {
		snprintf(errmsg, errlen, "attribute '%s': contains a NUL byte", name);
		return -EINVAL;
	}
	*out = strdup(buf);
	return *out ? 0 : -ENOMEM;
}

static int hex4(const char *s, uint16_t *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char c = s[i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else
			return -EINVAL;
		v = v * 16 + d;
	}
	if (s[4] != '\0')
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

static int read_id(int dirfd, const char *name, char out[5], uint16_t *value, char *errmsg,
                   size_t errlen)
{
	char buf[16];
	size_t len;
	int r = mg_sysfs_read_attr(dirfd, name, buf, sizeof(buf), &len);
	if (r < 0 || len != 4 || hex4(buf, value) < 0) {
		snprintf(errmsg, errlen, "attribute '%s': %s", name,
		         r == -ENOENT ? "missing"
		         : r < 0      ? "unreadable"
		                      : "not 4 hexadecimal digits");
		return -EINVAL;
	}
	snprintf(out, 5, "%04x", *value);
	return 0;
}

int mg_device_read(int dirfd, const char *devpath, const char *parent_hash, struct mg_device **out,
                   char *errmsg, size_t errlen)
{
	char dummy[1];
	if (!errmsg || errlen == 0) {
		errmsg = dummy;
		errlen = sizeof(dummy);
	}
	errmsg[0] = '\0';
	if (!devpath || strncmp(devpath, "/devices/", 9) != 0) {
		snprintf(errmsg, errlen, "DEVPATH does not start with /devices/");
		return -EINVAL;
	}
	struct mg_device *d = calloc(1, sizeof(*d));
	uint8_t *blob = NULL;
	int r = -ENOMEM;
	if (!d)
		goto fail;
	d->syspath = strdup(devpath);
	const char *base = strrchr(devpath, '/') + 1;
	d->port = strdup(base);
	if (!d->syspath || !d->port)
		goto fail;
	d->root_hub = strncmp(base, "usb", 3) == 0;

	r = read_id(dirfd, "idVendor", d->vendor_id, &d->vendor, errmsg, errlen);
	if (r < 0)
		goto fail;
	r = read_id(dirfd, "idProduct", d->product_id, &d->product, errmsg, errlen);
	if (r < 0)
		goto fail;
	if ((r = read_optional(dirfd, "product", &d->name, errmsg, errlen)) < 0 ||
	    (r = read_optional(dirfd, "serial", &d->serial, errmsg, errlen)) < 0)
		goto fail;
	if (d->root_hub) {
		d->connect_type = strdup("");
		r = d->connect_type ? 0 : -ENOMEM;
	} else {
		r = read_optional(dirfd, "port/connect_type", &d->connect_type, errmsg, errlen);
	}
	if (r < 0)
		goto fail;

	/* The descriptors blob: bounded read, then the strict parser. */
	int fd = openat(dirfd, "descriptors", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		r = -errno;
		snprintf(errmsg, errlen, "attribute 'descriptors': %s", strerror(-r));
		goto fail;
	}
	blob = malloc(MG_USB_DESC_MAX + 1);
	size_t len = 0;
	r = blob ? 0 : -ENOMEM;
	while (r == 0 && len <= MG_USB_DESC_MAX) {
		ssize_t n = read(fd, blob + len, MG_USB_DESC_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = -errno;
		else if (n == 0)
			break;
		else
			len += (size_t)n;
	}
	close(fd);
	if (r < 0) {
		snprintf(errmsg, errlen, "attribute 'descriptors': %s", strerror(-r));
		goto fail;
	}
	if (len > MG_USB_DESC_MAX) {
		snprintf(errmsg, errlen, "attribute 'descriptors': larger than %u bytes",
		         MG_USB_DESC_MAX);
		r = -EINVAL;
		goto fail;
	}
	char why[192];
	r = mg_usb_desc_parse(blob, len, &d->desc, why, sizeof(why));
	if (r < 0) {
		snprintf(errmsg, errlen, "descriptors: %s", why);
		r = -EINVAL;
		goto fail;
	}
	if (d->desc.vendor != d->vendor || d->desc.product != d->product) {
		snprintf(errmsg, errlen,
		         "descriptors: device descriptor says %04x:%04x but sysfs says %s:%s",
		         d->desc.vendor, d->desc.product, d->vendor_id, d->product_id);
		r = -EINVAL;
		goto fail;
	}

	char hash[MG_USB_HASH_LEN];
	r = mg_usb_hash_device(d->name, d->vendor_id, d->product_id, d->serial, blob, len, hash);
	if (r < 0) {
		snprintf(errmsg, errlen, "hash: %s", strerror(-r));
		goto fail;
	}
	d->hash = strdup(hash);
	if (parent_hash) {
		d->parent_hash = strdup(parent_hash);
	} else {
		char parent[4096];
		r = mg_devpath_parent(devpath, parent, sizeof(parent));
		if (r < 0 || (r = mg_usb_hash_string(parent, hash)) < 0) {
			snprintf(errmsg, errlen, "parent hash: %s", strerror(-r));
			goto fail;
		}
		d->parent_hash = strdup(hash);
	}
	r = -ENOMEM;
	if (!d->hash || !d->parent_hash)
		goto fail;
	free(blob);
	*out = d;
	return 0;
fail:
	free(blob);
	mg_device_free(&d);
	return r;
}
