/*
 * The fake USB bus. Devices are written as umockdev descriptions (the format of
 * umockdev-record: "P:" path, "E:" udev property, "A:" attribute with C escapes, "H:" binary
 * attribute in hex, "L:" symlink) and added with umockdev_testbed_add_from_string(), which
 * writes every attribute first and only then sends the "add" uevent (add_device() with
 * set_attribute_binary() afterwards would announce a device without its descriptors).
 */
#include "testbed.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <umockdev.h>

#define PCI_DEVPATH     "/devices/pci0000:00/0000:00:14.0"
#define SENTINEL_PARENT "/devices/platform/mg-sentinel"
#define MAX_DEVS        64

struct tb_dev {
	char *devpath; /* "/devices/.../usb1/1-2" */
	char *port;    /* "1-2"; "usb1" for a root hub */
	const struct mg_cat_device *cat;
	unsigned bus, devnum;
	bool configured;
	bool gone;
};

struct mg_tb {
	UMockdevTestbed *tb;
	char *root;
	struct tb_dev devs[MAX_DEVS];
	size_t n;
	unsigned next_devnum[3];
	unsigned sentinels;
	char sentinel_path[256];
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* ---- umockdev descriptions ---- */

/* An "A:" line: bytes outside printable ASCII and '\' as octal escapes (g_strcompress). */
static void put_attr_bytes(GString *s, const char *key, const char *val, size_t len, bool nl)
{
	g_string_append_printf(s, "A: %s=", key);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)val[i];
		if (c >= 0x20 && c < 0x7f && c != '\\')
			g_string_append_c(s, (char)c);
		else
			g_string_append_printf(s, "\\%03o", c);
	}
	g_string_append(s, nl ? "\\n\n" : "\n");
}

static void put_attr(GString *s, const char *key, const char *val)
{
	put_attr_bytes(s, key, val, strlen(val), true);
}

static void put_attrf(GString *s, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void put_attrf(GString *s, const char *key, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *v = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	put_attr(s, key, v);
	g_free(v);
}

static void put_hex(GString *s, const char *key, const uint8_t *b, size_t len)
{
	g_string_append_printf(s, "H: %s=", key);
	for (size_t i = 0; i < len; i++)
		g_string_append_printf(s, "%02X", b[i]);
	g_string_append_c(s, '\n');
}

static int add_string(struct mg_tb *tb, const GString *s)
{
	GError *err = NULL;
	if (!umockdev_testbed_add_from_string(tb->tb, s->str, &err)) {
		fprintf(stderr, "testbed: umockdev rejected a description: %s\n%s",
		        err ? err->message : "?", s->str);
		g_clear_error(&err);
		return -EINVAL;
	}
	return 0;
}

/* Properties and attributes every USB device has (drivers/usb/core/sysfs.c). */
static void describe_device(GString *s, const struct tb_dev *d, const struct mg_tb_opts *o,
                            bool root_hub, int authorized)
{
	const struct mg_cat_device *c = d->cat;
	const uint8_t *desc = o->descriptors ? o->descriptors : c->descriptors;
	size_t desc_len = o->descriptors ? o->descriptors_len : c->descriptors_len;
	const uint8_t *db = c->descriptors; /* the catalog's device descriptor for the class */

	g_string_append_printf(s, "P: %s\n", d->devpath);
	g_string_append(s, "E: SUBSYSTEM=usb\nE: DEVTYPE=usb_device\n");
	g_string_append_printf(s, "E: DRIVER=usb\nE: PRODUCT=%x/%x/%x\nE: TYPE=%u/%u/%u\n",
	                       c->vendor, c->product, c->bcd_device, db[4], db[5], db[6]);
	g_string_append_printf(s, "E: BUSNUM=%03u\nE: DEVNUM=%03u\n", d->bus, d->devnum);
	g_string_append_printf(s, "E: DEVNAME=bus/usb/%03u/%03u\nE: MAJOR=189\nE: MINOR=%u\n",
	                       d->bus, d->devnum, (d->bus - 1) * 128 + d->devnum - 1);

	bool configured = authorized == 1;
	put_attrf(s, "authorized", "%d", authorized);
	put_attr(s, "avoid_reset_quirk", "0");
	put_attrf(s, "bConfigurationValue", "%s", configured ? "1" : "");
	put_attrf(s, "bDeviceClass", "%02x", db[4]);
	put_attrf(s, "bDeviceSubClass", "%02x", db[5]);
	put_attrf(s, "bDeviceProtocol", "%02x", db[6]);
	put_attrf(s, "bMaxPacketSize0", "%u", db[7]);
	put_attr(s, "bMaxPower", configured ? c->max_power : "0mA");
	put_attrf(s, "bNumConfigurations", "%u", db[17]);
	put_attrf(s, "bNumInterfaces", "%2zu", configured ? c->n_ifaces : 0);
	put_attrf(s, "bcdDevice", "%04x", c->bcd_device);
	put_attrf(s, "bmAttributes", "%02x", c->descriptors[18 + 7]);
	put_attrf(s, "busnum", "%u", d->bus);
	put_attrf(s, "devnum", "%u", d->devnum);
	put_attrf(s, "dev", "189:%u", (d->bus - 1) * 128 + d->devnum - 1);
	const char *dash = strchr(d->port, '-');
	put_attr(s, "devpath", root_hub ? "0" : dash + 1);
	if (o->id_vendor)
		put_attr(s, "idVendor", o->id_vendor);
	else
		put_attrf(s, "idVendor", "%04x", c->vendor);
	put_attrf(s, "idProduct", "%04x", c->product);
	put_attr(s, "ltm_capable", "no");
	put_attrf(s, "maxchild", "%u", c->maxchild);
	put_attr(s, "quirks", "0x0");
	put_attr(s, "removable", root_hub ? "unknown" : "removable");
	put_attr_bytes(s, "remove", "", 0, false); /* write-only in sysfs; must exist here */
	put_attr(s, "rx_lanes", "1");
	put_attr(s, "tx_lanes", "1");
	put_attr(s, "speed", c->speed);
	put_attr(s, "urbnum", "0");
	put_attrf(s, "version", "%2x.%02x", c->bcd_usb >> 8, c->bcd_usb & 0xff);
	if (c->manufacturer)
		put_attr(s, "manufacturer", c->manufacturer);
	const char *product = o->product_name ? o->product_name : c->product_name;
	if (product)
		put_attr(s, "product", product);
	if (!o->no_serial && (o->serial || c->serial)) {
		const char *serial = o->serial ? o->serial : c->serial;
		size_t len = o->serial && o->serial_len ? o->serial_len : strlen(serial);
		put_attr_bytes(s, "serial", serial, len, true);
	}
	if (root_hub) {
		put_attr(s, "authorized_default", "1");
		put_attr(s, "interface_authorized_default", "1");
	} else {
		/* port -> the hub port's directory in the parent hub's interface 0 */
		const char *dot = strrchr(d->port, '.');
		if (dot)
			g_string_append_printf(s, "L: port=../%.*s:1.0/%.*s-port%s\n",
			                       (int)(dot - d->port), d->port, (int)(dot - d->port),
			                       d->port, dot + 1);
		else
			g_string_append_printf(s, "L: port=../%u-0:1.0/usb%u-port%s\n", d->bus,
			                       d->bus, dash + 1);
	}
	if (!o->no_descriptors)
		put_hex(s, "descriptors", desc, desc_len);
	g_string_append_c(s, '\n');
}

/* Interface n of d's active configuration: its sysfs name. */
static void iface_name(const struct tb_dev *d, unsigned n, char *buf, size_t len)
{
	if (strncmp(d->port, "usb", 3) == 0)
		snprintf(buf, len, "%u-0:%u.%u", d->bus, d->cat->config_value, n);
	else
		snprintf(buf, len, "%s:%u.%u", d->port, d->cat->config_value, n);
}

static void describe_iface(GString *s, const struct tb_dev *d, const struct mg_cat_iface *it,
                           int authorized)
{
	const struct mg_cat_device *c = d->cat;
	const uint8_t *db = c->descriptors;
	char modalias[128];
	snprintf(modalias, sizeof(modalias),
	         "usb:v%04Xp%04Xd%04Xdc%02Xdsc%02Xdp%02Xic%02Xisc%02Xip%02Xin%02X", c->vendor,
	         c->product, c->bcd_device, db[4], db[5], db[6], it->cls, it->sub, it->proto,
	         it->number);
	char name[80];
	iface_name(d, it->number, name, sizeof(name));

	g_string_append_printf(s, "P: %s/%s\n", d->devpath, name);
	g_string_append(s, "E: SUBSYSTEM=usb\nE: DEVTYPE=usb_interface\n");
	g_string_append_printf(s, "E: PRODUCT=%x/%x/%x\nE: TYPE=%u/%u/%u\nE: INTERFACE=%u/%u/%u\n",
	                       c->vendor, c->product, c->bcd_device, db[4], db[5], db[6], it->cls,
	                       it->sub, it->proto);
	g_string_append_printf(s, "E: MODALIAS=%s\n", modalias);
	put_attrf(s, "authorized", "%d", authorized);
	put_attr(s, "bAlternateSetting", " 0");
	put_attrf(s, "bInterfaceClass", "%02x", it->cls);
	put_attrf(s, "bInterfaceSubClass", "%02x", it->sub);
	put_attrf(s, "bInterfaceProtocol", "%02x", it->proto);
	put_attrf(s, "bInterfaceNumber", "%02x", it->number);
	put_attrf(s, "bNumEndpoints", "%02x", it->num_endpoints);
	put_attr(s, "modalias", modalias);
	put_attr(s, "supports_autosuspend", "1");
	g_string_append_c(s, '\n');
}

/* ---- the device table ---- */

/* Index of the present device at port / with devpath; tb->n when none. */
static size_t port_index(const struct mg_tb *tb, const char *port)
{
	size_t i = 0;
	while (i < tb->n && (tb->devs[i].gone || strcmp(tb->devs[i].port, port) != 0))
		i++;
	return i;
}

static size_t devpath_index(const struct mg_tb *tb, const char *devpath)
{
	size_t i = 0;
	while (i < tb->n && (tb->devs[i].gone || strcmp(tb->devs[i].devpath, devpath) != 0))
		i++;
	return i;
}

static struct tb_dev *find_port(struct mg_tb *tb, const char *port)
{
	size_t i = port_index(tb, port);
	return i < tb->n ? &tb->devs[i] : NULL;
}

static struct tb_dev *find_devpath(struct mg_tb *tb, const char *devpath)
{
	size_t i = devpath_index(tb, devpath);
	return i < tb->n ? &tb->devs[i] : NULL;
}

static const struct tb_dev *find_devpath_c(const struct mg_tb *tb, const char *devpath)
{
	size_t i = devpath_index(tb, devpath);
	return i < tb->n ? &tb->devs[i] : NULL;
}

static char *sys_path(const char *devpath)
{
	return g_strconcat("/sys", devpath, NULL);
}

static struct tb_dev *new_entry(struct mg_tb *tb, const struct mg_cat_device *cat, const char *port,
                                const char *devpath, unsigned bus)
{
	if (tb->n == MAX_DEVS || bus < 1 || bus > 2)
		return NULL;
	struct tb_dev *d = &tb->devs[tb->n++];
	memset(d, 0, sizeof(*d));
	d->devpath = g_strdup(devpath);
	d->port = g_strdup(port);
	d->cat = cat;
	d->bus = bus;
	d->devnum = ++tb->next_devnum[bus];
	return d;
}

/* The root hub's interface_authorized_default: what new interfaces start with. */
static int iface_default(const struct mg_tb *tb, const struct tb_dev *d)
{
	char buf[16];
	const char *hub = mg_tb_root_hub(tb, d->bus);
	if (!hub || mg_tb_read(tb, hub, "interface_authorized_default", buf, sizeof(buf)) < 0)
		return 1;
	return strcmp(buf, "0") == 0 ? 0 : 1;
}

int mg_tb_new(struct mg_tb **out)
{
	struct mg_tb *tb = g_new0(struct mg_tb, 1);
	tb->tb = umockdev_testbed_new();
	tb->root = umockdev_testbed_get_root_dir(tb->tb);
	/* umockdev's own test (umockdev_in_mock_environment) but uncached: /sys is the
	 * testbed's, not sysfs (inode 1), only under the preload. */
	struct stat st;
	if (stat("/sys", &st) < 0 || st.st_ino <= 1) {
		fprintf(stderr, "testbed: not running under the umockdev preload "
		                "(run me with umockdev-wrapper)\n");
		mg_tb_free(&tb);
		return -ENOTSUP;
	}

	GString *s = g_string_new(NULL);
	g_string_append(s, "P: " PCI_DEVPATH "\n"
	                   "E: SUBSYSTEM=pci\nE: DRIVER=xhci_hcd\nE: PCI_CLASS=C0330\n"
	                   "E: PCI_ID=8086:A36D\nE: PCI_SUBSYS_ID=17AA:3102\n"
	                   "E: PCI_SLOT_NAME=0000:00:14.0\n"
	                   "E: MODALIAS=pci:v00008086d0000A36Dsv000017AAsd00003102bc0Csc03i30\n"
	                   "A: vendor=0x8086\\n\nA: device=0xa36d\\n\nA: class=0x0c0330\\n\n\n");
	g_string_append(s, "P: " SENTINEL_PARENT "\nE: SUBSYSTEM=platform\nE: DRIVER=mg-sentinel\n"
	                   "A: driver_override=(null)\\n\n\n");
	const struct mg_tb_opts none = {0};
	for (unsigned bus = 1; bus <= 2; bus++) {
		const struct mg_cat_device *cat =
		    mg_cat_find(bus == 1 ? MG_CAT_ROOT_HUB_USB2 : MG_CAT_ROOT_HUB_USB3);
		char port[8], devpath[128];
		snprintf(port, sizeof(port), "usb%u", bus);
		snprintf(devpath, sizeof(devpath), PCI_DEVPATH "/usb%u", bus);
		struct tb_dev *d = new_entry(tb, cat, port, devpath, bus);
		if (!cat || !d) {
			g_string_free(s, TRUE);
			mg_tb_free(&tb);
			return -ENOSPC;
		}
		describe_device(s, d, &none, true, 1);
		describe_iface(s, d, &cat->ifaces[0], 1);
		d->configured = true;
	}
	int r = add_string(tb, s);
	g_string_free(s, TRUE);
	if (r < 0) {
		mg_tb_free(&tb);
		return r;
	}
	*out = tb;
	return 0;
}

void mg_tb_free(struct mg_tb **ptb)
{
	struct mg_tb *tb = *ptb;
	if (!tb)
		return;
	for (size_t i = 0; i < tb->n; i++) {
		g_free(tb->devs[i].devpath);
		g_free(tb->devs[i].port);
	}
	/* umockdev's own removal walks the tree through its preload (slow); empty it first. */
	if (tb->root) {
		char *sys = g_strconcat(tb->root, "/sys", NULL);
		(void)nftw(sys, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		g_free(sys);
	}
	g_free(tb->root);
	g_clear_object(&tb->tb);
	g_free(tb);
	*ptb = NULL;
}

const char *mg_tb_root(const struct mg_tb *tb)
{
	return tb->root;
}

const char *mg_tb_root_hub(const struct mg_tb *tb, unsigned bus)
{
	char port[8];
	snprintf(port, sizeof(port), "usb%u", bus);
	size_t i = port_index(tb, port);
	return i < tb->n ? tb->devs[i].devpath : NULL;
}

const char *mg_tb_devpath(const struct mg_tb *tb, const char *port)
{
	size_t i = port_index(tb, port);
	return i < tb->n ? tb->devs[i].devpath : NULL;
}

const char *mg_tb_add(struct mg_tb *tb, const struct mg_cat_device *dev, const char *port,
                      const struct mg_tb_opts *opts)
{
	const struct mg_tb_opts none = {0};
	const struct mg_tb_opts *o = opts ? opts : &none;
	char *end = NULL;
	unsigned long bus = strtoul(port, &end, 10);
	if (!dev || find_port(tb, port) || end == port || *end != '-' || end[1] == '\0')
		return NULL;
	/* The parent: the hub whose port this is, or the root hub. */
	char parent_port[64];
	const char *dot = strrchr(port, '.');
	if (dot)
		snprintf(parent_port, sizeof(parent_port), "%.*s", (int)(dot - port), port);
	else
		snprintf(parent_port, sizeof(parent_port), "usb%lu", bus);
	struct tb_dev *parent = find_port(tb, parent_port);
	if (!parent)
		return NULL;
	/* The parent hub's port directory, where connect_type lives. */
	char portdir[256];
	if (dot)
		snprintf(portdir, sizeof(portdir), "%s:1.0/%s-port%s/connect_type", parent_port,
		         parent_port, dot + 1);
	else
		snprintf(portdir, sizeof(portdir), "%lu-0:1.0/usb%lu-port%s/connect_type", bus, bus,
		         end + 1);
	char *parent_sys = sys_path(parent->devpath);
	umockdev_testbed_set_attribute(tb->tb, parent_sys, portdir,
	                               dot ? "unknown\n" : "hotplug\n");
	g_free(parent_sys);

	char devpath[512];
	snprintf(devpath, sizeof(devpath), "%s/%s", parent->devpath, port);
	struct tb_dev *d = new_entry(tb, dev, port, devpath, (unsigned)bus);
	if (!d)
		return NULL;
	char def[16];
	int auth = o->authorized == MG_TB_AUTH_YES  ? 1
	           : o->authorized == MG_TB_AUTH_NO ? 0
	           : mg_tb_read(tb, mg_tb_root_hub(tb, d->bus), "authorized_default", def,
	                        sizeof(def)) == 0 &&
	                   strcmp(def, "0") == 0
	               ? 0
	               : 1;
	GString *s = g_string_new(NULL);
	describe_device(s, d, o, false, auth);
	if (auth == 1) {
		int iface_auth = iface_default(tb, d);
		for (size_t i = 0; i < dev->n_ifaces; i++)
			describe_iface(s, d, &dev->ifaces[i], iface_auth);
		d->configured = true;
	}
	int r = add_string(tb, s);
	g_string_free(s, TRUE);
	if (r < 0) {
		d->gone = true;
		return NULL;
	}
	return d->devpath;
}

/*
 * One sysfs node goes: its "remove" uevent while it still exists (the sender reads it), then
 * its directory and /sys/bus/usb/devices link. Done here rather than with
 * umockdev_testbed_remove_device(), which sends no uevent before umockdev 0.18.4 and one of
 * its own (children included) since.
 */
static void remove_node(struct mg_tb *tb, const char *devpath)
{
	mg_tb_uevent(tb, devpath, "remove");
	char *dir = g_strconcat(tb->root, "/sys", devpath, NULL);
	(void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	g_free(dir);
	const char *base = strrchr(devpath, '/') + 1;
	char *link = g_strconcat(tb->root, "/sys/bus/usb/devices/", base, NULL);
	(void)unlink(link);
	g_free(link);
}

static void remove_ifaces(struct mg_tb *tb, struct tb_dev *d)
{
	for (size_t i = 0; d->configured && i < d->cat->n_ifaces; i++) {
		char name[64];
		iface_name(d, d->cat->ifaces[i].number, name, sizeof(name));
		char *path = g_strconcat(d->devpath, "/", name, NULL);
		remove_node(tb, path);
		g_free(path);
	}
	d->configured = false;
}

/* As usb_disconnect(): the devices behind a hub first, then the interfaces, then itself. */
static void unplug(struct mg_tb *tb, struct tb_dev *d)
{
	size_t plen = strlen(d->devpath);
	for (size_t i = 0; i < tb->n; i++) {
		struct tb_dev *c = &tb->devs[i];
		if (!c->gone && strncmp(c->devpath, d->devpath, plen) == 0 &&
		    c->devpath[plen] == '/' && !strchr(c->devpath + plen + 1, '/'))
			unplug(tb, c);
	}
	remove_ifaces(tb, d);
	remove_node(tb, d->devpath);
	d->gone = true;
}

int mg_tb_remove(struct mg_tb *tb, const char *devpath)
{
	struct tb_dev *d = find_devpath(tb, devpath);
	if (!d)
		return -ENOENT;
	unplug(tb, d);
	return 0;
}

int mg_tb_settle(struct mg_tb *tb, const char *devpath)
{
	struct tb_dev *d = find_devpath(tb, devpath);
	if (!d)
		return -ENOENT;
	int auth = mg_tb_authorized(tb, devpath);
	int sent = 0;
	if (auth == 1 && !d->configured) {
		GString *s = g_string_new(NULL);
		int def = iface_default(tb, d);
		for (size_t i = 0; i < d->cat->n_ifaces; i++)
			describe_iface(s, d, &d->cat->ifaces[i], def);
		int r = d->cat->n_ifaces ? add_string(tb, s) : 0;
		g_string_free(s, TRUE);
		if (r < 0)
			return r;
		mg_tb_write(tb, devpath, "bConfigurationValue", "1\n");
		d->configured = true;
		sent = (int)d->cat->n_ifaces;
	} else if (auth == 0 && d->configured) {
		sent = (int)d->cat->n_ifaces;
		remove_ifaces(tb, d);
		mg_tb_write(tb, devpath, "bConfigurationValue", "\n");
	}
	return sent;
}

bool mg_tb_configured(const struct mg_tb *tb, const char *devpath)
{
	const struct tb_dev *d = find_devpath_c(tb, devpath);
	return d && d->configured;
}

const char *mg_tb_iface(const struct mg_tb *tb, const char *devpath, unsigned n, char *buf,
                        size_t len)
{
	const struct tb_dev *d = find_devpath_c(tb, devpath);
	if (!d)
		return NULL;
	char name[64];
	iface_name(d, n, name, sizeof(name));
	snprintf(buf, len, "%s/%s", devpath, name);
	return buf;
}

int mg_tb_read(const struct mg_tb *tb, const char *devpath, const char *attr, char *buf, size_t len)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/sys%s/%s", tb->root, devpath, attr);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, len - 1);
	int r = n < 0 ? -errno : 0;
	close(fd);
	if (r < 0)
		return r;
	while (n > 0 && buf[n - 1] == '\n')
		n--;
	buf[n] = '\0';
	return 0;
}

int mg_tb_authorized(const struct mg_tb *tb, const char *devpath)
{
	char buf[16];
	if (mg_tb_read(tb, devpath, "authorized", buf, sizeof(buf)) < 0)
		return -1;
	return strcmp(buf, "1") == 0 ? 1 : strcmp(buf, "0") == 0 ? 0 : -1;
}

void mg_tb_write(struct mg_tb *tb, const char *devpath, const char *attr, const char *value)
{
	char *sys = sys_path(devpath);
	umockdev_testbed_set_attribute(tb->tb, sys, attr, value);
	g_free(sys);
}

void mg_tb_uevent(struct mg_tb *tb, const char *devpath, const char *action)
{
	char *sys = sys_path(devpath);
	umockdev_testbed_uevent(tb->tb, sys, action);
	g_free(sys);
}

void mg_tb_udev_rule(struct mg_tb *tb)
{
	for (unsigned bus = 1; bus <= 2; bus++) {
		mg_tb_write(tb, mg_tb_root_hub(tb, bus), "authorized_default", "0\n");
		mg_tb_write(tb, mg_tb_root_hub(tb, bus), "interface_authorized_default", "0\n");
	}
}

const char *mg_tb_sentinel_device(struct mg_tb *tb)
{
	unsigned n = tb->sentinels++;
	snprintf(tb->sentinel_path, sizeof(tb->sentinel_path), SENTINEL_PARENT "/9-%u", n + 1);
	GString *s = g_string_new(NULL);
	g_string_append_printf(s, "P: %s\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_device\n",
	                       tb->sentinel_path);
	g_string_append(s, "A: authorized=0\\n\n\n");
	int r = add_string(tb, s);
	g_string_free(s, TRUE);
	return r < 0 ? NULL : tb->sentinel_path;
}

void mg_tb_sentinel_remove(struct mg_tb *tb, const char *devpath)
{
	remove_node(tb, devpath);
}

const char *mg_tb_sentinel(struct mg_tb *tb)
{
	unsigned n = tb->sentinels++;
	snprintf(tb->sentinel_path, sizeof(tb->sentinel_path), SENTINEL_PARENT "/9-0:1.%u", n);
	GString *s = g_string_new(NULL);
	g_string_append_printf(s, "P: %s\nE: SUBSYSTEM=usb\nE: DEVTYPE=usb_interface\n",
	                       tb->sentinel_path);
	g_string_append(s,
	                "E: INTERFACE=255/0/0\nA: authorized=1\\n\nA: bInterfaceClass=ff\\n\n\n");
	int r = add_string(tb, s);
	g_string_free(s, TRUE);
	return r < 0 ? NULL : tb->sentinel_path;
}
