/*
 * Test helper for the differential test against USBGuard: prints, for each USB device, what
 * mynaguard computes for USBGuard's hash, parent-hash and with-interface.
 *
 *   usbguard_hash_probe FILE.umockdev...    devices described in umockdev files (P:/E:/A:/H:
 *                                           lines); the first definition of a path wins
 *   usbguard_hash_probe --sysfs ROOT DEVPATH...
 *                                           devices in a sysfs tree: ROOT is normally /sys,
 *                                           DEVPATH like /devices/pci0000:00/0000:00:14.0/usb1
 *
 * One line per device (usb_device), in input order:
 *   DEVPATH hash HASH parent-hash HASH with-interface 08:06:50,03:01:01   ("-": none)
 *   DEVPATH rejected ERRMSG
 * The parent-hash is the parent's hash when the parent is a usb_device, else the hash of the
 * parent's DEVPATH (a root hub under its PCI controller). Exit 0, or 1 on a usage or I/O error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "usb_desc.h"
#include "usb_hash.h"

#define MAX_DEVICES 128
#define MAX_ATTR    4096 /* USBGuard reads at most 4096 bytes of an attribute */
#define MAX_LINE    (2 * MG_USB_DESC_MAX + 64)

struct dev {
	char *path;
	bool usb_device;
	char *product, *vendor_id, *product_id, *serial;
	uint8_t *blob;
	size_t blob_len;
	bool have_blob;
	/* results */
	bool done, ok;
	char hash[MG_USB_HASH_LEN];
	char parent_hash[MG_USB_HASH_LEN];
	char why[160];
};

static struct dev devs[MAX_DEVICES];
static size_t n_devs;

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	return p;
}

static char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* USBGuard's SysFSDevice::readAttribute(trim): drop trailing \0 \n \r \t \b. */
static size_t trimmed_len(const char *s, size_t n)
{
	while (n > 0 && strchr("\n\r\t\b", s[n - 1]) != NULL)
		n--; /* strchr also matches the terminating NUL: '\0' is trimmed too */
	return n;
}

static struct dev *find(const char *path)
{
	for (size_t i = 0; i < n_devs; i++)
		if (strcmp(devs[i].path, path) == 0)
			return &devs[i];
	return NULL;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* umockdev A: value: \\ and \n escapes (what umockdev-record writes), then trimmed. */
static char *ascii_attr(const char *v, const char *file, unsigned line)
{
	size_t n = strlen(v), o = 0;
	char *out = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++) {
		if (v[i] != '\\') {
			out[o++] = v[i];
			continue;
		}
		if (v[i + 1] == 'n')
			out[o++] = '\n';
		else if (v[i + 1] == '\\')
			out[o++] = '\\';
		else {
			fprintf(stderr, "%s:%u: unsupported escape\n", file, line);
			exit(1);
		}
		i++;
	}
	out[trimmed_len(out, o)] = '\0';
	return out;
}

static void set_attr(struct dev *d, const char *kv, bool binary, const char *file, unsigned line)
{
	const char *eq = strchr(kv, '=');
	if (!eq) {
		fprintf(stderr, "%s:%u: attribute without '='\n", file, line);
		exit(1);
	}
	const size_t klen = (size_t)(eq - kv);
	const char *v = eq + 1;
	if (binary) {
		if (klen != strlen("descriptors") || strncmp(kv, "descriptors", klen) != 0)
			return;
		size_t n = strlen(v);
		if (n % 2) {
			fprintf(stderr, "%s:%u: odd hex length\n", file, line);
			exit(1);
		}
		free(d->blob);
		d->blob = xmalloc(n / 2);
		for (size_t i = 0; i < n / 2; i++) {
			int hi = hexval(v[2 * i]), lo = hexval(v[2 * i + 1]);
			if (hi < 0 || lo < 0) {
				fprintf(stderr, "%s:%u: bad hex\n", file, line);
				exit(1);
			}
			d->blob[i] = (uint8_t)(hi << 4 | lo);
		}
		d->blob_len = n / 2;
		d->have_blob = true;
		return;
	}
	char **slot = NULL;
	if (klen == 7 && strncmp(kv, "product", 7) == 0)
		slot = &d->product;
	else if (klen == 8 && strncmp(kv, "idVendor", 8) == 0)
		slot = &d->vendor_id;
	else if (klen == 9 && strncmp(kv, "idProduct", 9) == 0)
		slot = &d->product_id;
	else if (klen == 6 && strncmp(kv, "serial", 6) == 0)
		slot = &d->serial;
	if (!slot)
		return;
	free(*slot);
	*slot = ascii_attr(v, file, line);
}

static void load_umockdev(const char *file)
{
	FILE *f = fopen(file, "re");
	if (!f) {
		fprintf(stderr, "%s: %s\n", file, strerror(errno));
		exit(1);
	}
	char *buf = xmalloc(MAX_LINE);
	struct dev *cur = NULL;
	bool skip = false; /* a path defined by an earlier file: USBGuard keeps the first */
	unsigned line = 0;
	while (fgets(buf, MAX_LINE, f)) {
		line++;
		size_t n = strlen(buf);
		if (n > 0 && buf[n - 1] == '\n')
			buf[--n] = '\0';
		if (n == 0) {
			cur = NULL;
			continue;
		}
		if (n < 2 || buf[1] != ':') {
			fprintf(stderr, "%s:%u: not a umockdev line\n", file, line);
			exit(1);
		}
		const char *v = buf + 2;
		while (*v == ' ')
			v++;
		if (buf[0] == 'P') {
			skip = find(v) != NULL;
			if (skip)
				continue;
			if (n_devs == MAX_DEVICES) {
				fprintf(stderr, "%s:%u: too many devices\n", file, line);
				exit(1);
			}
			cur = &devs[n_devs++];
			cur->path = xstrndup(v, strlen(v));
			continue;
		}
		if (skip)
			continue;
		if (!cur) {
			fprintf(stderr, "%s:%u: line outside a device\n", file, line);
			exit(1);
		}
		if (buf[0] == 'E' && strcmp(v, "DEVTYPE=usb_device") == 0)
			cur->usb_device = true;
		else if (buf[0] == 'A' || buf[0] == 'H')
			set_attr(cur, v, buf[0] == 'H', file, line);
	}
	free(buf);
	fclose(f);
}

/* Reads dir/name whole (at most max bytes); NULL when absent. */
static char *read_file(const char *dir, const char *name, size_t max, size_t *len)
{
	char path[4096];
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	char *buf = xmalloc(max + 1);
	size_t used = 0;
	for (;;) {
		ssize_t r = read(fd, buf + used, max + 1 - used);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		used += (size_t)r;
		if (used == max + 1)
			break;
	}
	close(fd);
	buf[used < max ? used : max] = '\0';
	*len = used; /* max + 1: too long */
	return buf;
}

static char *sysfs_str(const char *dir, const char *name)
{
	size_t len = 0;
	char *s = read_file(dir, name, MAX_ATTR, &len);
	if (!s)
		return NULL;
	if (len > MAX_ATTR)
		len = MAX_ATTR;
	s[trimmed_len(s, len)] = '\0';
	return s;
}

/* Adds DEVPATH and, first, its usb_device ancestors (their hashes are needed). */
static struct dev *load_sysfs(const char *root, const char *devpath)
{
	struct dev *d = find(devpath);
	if (d)
		return d;
	char dir[4096];
	if ((size_t)snprintf(dir, sizeof(dir), "%s%s", root, devpath) >= sizeof(dir)) {
		fprintf(stderr, "%s: path too long\n", devpath);
		exit(1);
	}
	size_t len = 0;
	char *uevent = read_file(dir, "uevent", MAX_ATTR, &len);
	bool usb = uevent && (strncmp(uevent, "DEVTYPE=usb_device\n", 19) == 0 ||
	                      strstr(uevent, "\nDEVTYPE=usb_device\n") != NULL);
	free(uevent);
	const char *slash = strrchr(devpath, '/');
	if (usb && slash && slash != devpath) {
		char *parent = xstrndup(devpath, (size_t)(slash - devpath));
		(void)load_sysfs(root, parent);
		free(parent);
	}
	if (n_devs == MAX_DEVICES) {
		fprintf(stderr, "too many devices\n");
		exit(1);
	}
	d = &devs[n_devs++];
	d->path = xstrndup(devpath, strlen(devpath));
	d->usb_device = usb;
	if (!usb)
		return d;
	d->product = sysfs_str(dir, "product");
	d->vendor_id = sysfs_str(dir, "idVendor");
	d->product_id = sysfs_str(dir, "idProduct");
	d->serial = sysfs_str(dir, "serial");
	char *blob = read_file(dir, "descriptors", MG_USB_DESC_MAX, &len);
	if (blob) {
		d->blob = (uint8_t *)blob;
		d->blob_len = len; /* MG_USB_DESC_MAX + 1 when longer: the parser refuses it */
		d->have_blob = true;
	}
	return d;
}

static void compute(struct dev *d)
{
	if (d->done)
		return;
	d->done = true;
	struct mg_usb_desc *desc = xmalloc(sizeof(*desc));
	char err[128];
	int r;
	if (!d->have_blob || !d->vendor_id || !d->product_id) {
		snprintf(d->why, sizeof(d->why), "no descriptors, idVendor or idProduct");
		goto out;
	}
	r = mg_usb_desc_parse(d->blob, d->blob_len, desc, err, sizeof(err));
	if (r < 0) {
		snprintf(d->why, sizeof(d->why), "%s", err);
		goto out;
	}
	r = mg_usb_hash_device(d->product ? d->product : "", d->vendor_id, d->product_id,
	                       d->serial ? d->serial : "", d->blob, d->blob_len, d->hash);
	if (r < 0) {
		snprintf(d->why, sizeof(d->why), "hash: %s", strerror(-r));
		goto out;
	}
	char *parent = xstrndup(d->path, (size_t)(strrchr(d->path, '/') - d->path));
	struct dev *p = find(parent);
	if (p && p->usb_device) {
		compute(p);
		if (!p->ok)
			snprintf(d->why, sizeof(d->why), "parent %s rejected", parent);
		else
			memcpy(d->parent_hash, p->hash, sizeof(d->parent_hash));
	} else {
		r = mg_usb_hash_string(parent, d->parent_hash);
		if (r < 0)
			snprintf(d->why, sizeof(d->why), "parent hash: %s", strerror(-r));
	}
	free(parent);
	if (d->why[0])
		goto out;
	d->ok = true;
	printf("%s hash %s parent-hash %s with-interface ", d->path, d->hash, d->parent_hash);
	for (size_t i = 0; i < desc->n_ifaces; i++) {
		char t[9];
		mg_usb_iftype_format(desc->ifaces[i].type, t);
		printf("%s%s", i ? "," : "", t);
	}
	printf("%s\n", desc->n_ifaces ? "" : "-");
out:
	if (!d->ok)
		printf("%s rejected %s\n", d->path, d->why);
	free(desc);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE.umockdev... | --sysfs ROOT DEVPATH...\n", argv[0]);
		return 1;
	}
	size_t first = n_devs;
	if (strcmp(argv[1], "--sysfs") == 0) {
		if (argc < 4) {
			fprintf(stderr, "usage: %s --sysfs ROOT DEVPATH...\n", argv[0]);
			return 1;
		}
		for (int i = 3; i < argc; i++)
			if (argv[i][0] != '/' || !load_sysfs(argv[2], argv[i])->usb_device) {
				fprintf(stderr, "%s: not a usb_device\n", argv[i]);
				return 1;
			}
	} else {
		for (int i = 1; i < argc; i++)
			load_umockdev(argv[i]);
	}
	for (size_t i = first; i < n_devs; i++)
		if (devs[i].usb_device && strrchr(devs[i].path, '/') != devs[i].path)
			compute(&devs[i]);
	for (size_t i = 0; i < n_devs; i++) {
		free(devs[i].path);
		free(devs[i].product);
		free(devs[i].vendor_id);
		free(devs[i].product_id);
		free(devs[i].serial);
		free(devs[i].blob);
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
