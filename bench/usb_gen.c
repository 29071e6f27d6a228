/*
 * mynaguard-bench-usbgen: writes the device set and the rule files of the USB decision
 * benchmark (bench/run-usb-bench.sh, docs/PERFORMANCE.md).
 *
 *   mynaguard-bench-usbgen OUTDIR NDEVICES R... [other:R...]
 *
 * Devices: one xHCI controller (PCI 0000:00:14.0) with a USB 2 and a USB 3 root hub; the
 * 12 ports of the USB 2 root hub are turned into 7-port hubs (Terminus FE2.1) from the
 * first one on until NDEVICES leaf devices fit. The leaves cycle through the test catalog
 * (tests/support/usb_catalog.c: flash drives, HDD, card reader, phones, network adapters,
 * keyboards, mice, security keys, smart-card reader, printer, NFC reader, BadUSB), each
 * with its real `descriptors` blob; models that have a serial get a distinct one per
 * instance. Leaves start unauthorized (authorized=0: waiting for a decision), hubs and root
 * hubs authorized. Written to OUTDIR:
 *
 *   present/NNN-KEY.umockdev  one file per leaf with its whole parent chain (PCI controller,
 *                             root hub, hub), as usbguard's umockdev backend needs; the
 *                             first file also carries the USB 3 root hub
 *   all.umockdev              every device once, parents first
 *   base.umockdev             the controller, root hubs and hubs only
 *   leaf/NNN.umockdev         the leaf alone (added to a testbed that has its parents)
 *   leaves.txt                "NNN DEVPATH" per leaf, in hot-plug order
 *   devices.txt               DEVPATH of every USB device (root hubs, hubs, leaves)
 *   rules-R.conf              for each R: R rules that match no device, then one allow rule
 *                             per device (generate-policy style), so that a device's
 *                             matching rule comes after all R others
 *   rules-R-other.conf        for each other:R: the same with the R rules naming other
 *                             products of the same vendors
 *
 * The R non-matching rules name the same vendor:product pairs as the devices (so id alone
 * never rules them out) with serials no device has; a quarter also carry a name, a quarter
 * with-interface, a quarter are block rules with a hash. Deterministic: same output for the
 * same arguments. Exit 0, or 1 with a message.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "usb_topology.h"

static struct bench_topology *topo;

static uint64_t rng_state = 0x6d796e6167756172ull; /* "mynaguar" */

static uint64_t rng(void)
{
	/* xorshift64*: reproducible, good enough for made-up serials */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static void mkdir_or_die(const char *path)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		bench_die(path);
}

static FILE *open_out(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "we");
	if (!f)
		bench_die(path);
	return f;
}

static void close_out(FILE *f)
{
	if (ferror(f) || fclose(f) != 0)
		bench_die("write");
}

static void write_pci(FILE *f)
{
	fprintf(f, "P: " BENCH_CONTROLLER "\n"
	           "E: DRIVER=xhci_hcd\n"
	           "E: PCI_CLASS=C0330\n"
	           "E: PCI_ID=8086:A36D\n"
	           "E: PCI_SUBSYS_ID=1028:085C\n"
	           "E: PCI_SLOT_NAME=0000:00:14.0\n"
	           "E: MODALIAS=pci:v00008086d0000A36Dsv00001028sd0000085Cbc0Csc03i30\n"
	           "E: SUBSYSTEM=pci\n"
	           "A: class=0x0c0330\\n\n"
	           "A: device=0xa36d\\n\n"
	           "A: vendor=0x8086\\n\n"
	           "A: subsystem_vendor=0x1028\\n\n"
	           "A: subsystem_device=0x085c\\n\n\n");
}

/* The sysfs `devpath` attribute: the port chain below the root hub ("3.4"; root hub "0"). */
static const char *devpath_attr(const struct bench_node *n)
{
	const char *dash = strchr(n->port, '-');
	return dash ? dash + 1 : "0";
}

static void write_device(FILE *f, const struct bench_node *n)
{
	const struct mg_cat_device *c = n->cat;
	const uint8_t *b = c->descriptors;
	const uint8_t *cfg = c->descriptors_len >= 18 + 9 ? b + 18 : NULL;
	const bool leaf = n->kind == BENCH_LEAF;
	fprintf(f, "P: %s\n", n->path);
	fprintf(f, "E: DEVTYPE=usb_device\nE: DRIVER=usb\n");
	fprintf(f, "E: PRODUCT=%x/%x/%x\n", c->vendor, c->product, c->bcd_device);
	fprintf(f, "E: TYPE=%u/%u/%u\n", b[4], b[5], b[6]);
	fprintf(f, "E: BUSNUM=%03u\nE: DEVNUM=%03u\n", n->bus, n->devnum);
	fprintf(f, "E: SUBSYSTEM=usb\n");
	fprintf(f, "A: authorized=%d\\n\n", leaf ? 0 : 1);
	if (n->kind == BENCH_ROOT_HUB)
		fprintf(f, "A: authorized_default=1\\n\nA: interface_authorized_default=1\\n\n");
	fprintf(f, "A: avoid_reset_quirk=0\\n\n");
	if (leaf)
		fprintf(f, "A: bConfigurationValue=\\n\n"); /* unconfigured until authorized */
	else
		fprintf(f, "A: bConfigurationValue=%u\\n\n", c->config_value);
	fprintf(f,
	        "A: bDeviceClass=%02x\\n\nA: bDeviceProtocol=%02x\\n\nA: bDeviceSubClass=%02x\\n\n",
	        b[4], b[6], b[5]);
	fprintf(f, "A: bMaxPacketSize0=%u\\n\nA: bMaxPower=%s\\n\n", b[7], c->max_power);
	fprintf(f, "A: bNumConfigurations=%u\\n\n", b[17]);
	if (cfg)
		fprintf(f, "A: bNumInterfaces=%2u\\n\nA: bmAttributes=%x\\n\n", cfg[4], cfg[7]);
	fprintf(f, "A: bcdDevice=%04x\\n\n", c->bcd_device);
	fprintf(f, "A: busnum=%u\\n\nA: devnum=%u\\n\nA: devpath=%s\\n\n", n->bus, n->devnum,
	        devpath_attr(n));
	fprintf(f, "A: idProduct=%04x\\n\nA: idVendor=%04x\\n\n", c->product, c->vendor);
	fprintf(f, "A: ltm_capable=no\\n\n");
	if (c->manufacturer)
		fprintf(f, "A: manufacturer=%s\\n\n", c->manufacturer);
	fprintf(f, "A: maxchild=%u\\n\n", c->maxchild);
	if (n->kind != BENCH_ROOT_HUB)
		fprintf(f, "A: port/connect_type=hotplug\\n\n");
	if (c->product_name)
		fprintf(f, "A: product=%s\\n\n", c->product_name);
	fprintf(f, "A: quirks=0x0\\n\nA: removable=%s\\n\n",
	        n->kind == BENCH_ROOT_HUB ? "unknown" : "removable");
	fprintf(f, "A: remove=\n"); /* write-only in the kernel: declared so that writes work */
	if (n->serial[0])
		fprintf(f, "A: serial=%s\\n\n", n->serial);
	fprintf(f, "A: speed=%s\\n\n", c->speed);
	fprintf(f, "A: version=%2x.%02x\\n\n", c->bcd_usb >> 8, c->bcd_usb & 0xff);
	fprintf(f, "H: descriptors=");
	for (size_t i = 0; i < c->descriptors_len; i++)
		fprintf(f, "%02X", b[i]);
	fprintf(f, "\n\n");
}

static void write_chain(FILE *f, const struct bench_node *n)
{
	if (n->parent >= 0)
		write_chain(f, &topo->nodes[n->parent]);
	write_device(f, n);
}

static void write_devices(const char *out)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/present", out);
	mkdir_or_die(dir);
	snprintf(dir, sizeof(dir), "%s/leaf", out);
	mkdir_or_die(dir);

	FILE *all = open_out(out, "all.umockdev");
	FILE *base = open_out(out, "base.umockdev");
	FILE *leaves = open_out(out, "leaves.txt");
	FILE *devs = open_out(out, "devices.txt");
	write_pci(all);
	write_pci(base);
	bool first = true;
	for (size_t i = 0; i < topo->n; i++) {
		const struct bench_node *n = &topo->nodes[i];
		write_device(all, n);
		fprintf(devs, "%s\n", n->path);
		if (n->kind != BENCH_LEAF) {
			write_device(base, n);
			continue;
		}
		char name[128];
		snprintf(name, sizeof(name), "present/%03u-%s.umockdev", n->leaf_no, n->cat->key);
		FILE *f = open_out(out, name);
		write_pci(f);
		if (first) {
			write_device(f, &topo->nodes[1]); /* usb2, which has no leaf */
			first = false;
		}
		write_chain(f, n);
		close_out(f);
		snprintf(name, sizeof(name), "leaf/%03u.umockdev", n->leaf_no);
		f = open_out(out, name);
		write_device(f, n);
		close_out(f);
		fprintf(leaves, "%03u %s\n", n->leaf_no, n->path);
	}
	close_out(all);
	close_out(base);
	close_out(leaves);
	close_out(devs);
}

/* with-interface as generate-policy writes it: one value, or a set in descriptor order. */
static void print_ifaces(FILE *f, const struct mg_usb_desc *d)
{
	char t[9];
	if (d->n_ifaces == 0)
		return;
	if (d->n_ifaces == 1) {
		mg_usb_iftype_format(d->ifaces[0].type, t);
		fprintf(f, " with-interface %s", t);
		return;
	}
	fprintf(f, " with-interface {");
	for (size_t i = 0; i < d->n_ifaces; i++) {
		mg_usb_iftype_format(d->ifaces[i].type, t);
		fprintf(f, " %s", t);
	}
	fprintf(f, " }");
}

static void base64_32(char out[45])
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint8_t b[33];
	for (size_t i = 0; i < 32; i++)
		b[i] = (uint8_t)(rng() >> 56);
	b[32] = 0;
	size_t o = 0;
	for (size_t i = 0; i < 33; i += 3) {
		uint32_t v = (uint32_t)b[i] << 16 | (uint32_t)b[i + 1] << 8 | b[i + 2];
		out[o++] = a[(v >> 18) & 63];
		out[o++] = a[(v >> 12) & 63];
		out[o++] = a[(v >> 6) & 63];
		out[o++] = a[v & 63];
	}
	out[43] = '=';
	out[44] = '\0';
}

/*
 * rules-R.conf, or with other_ids rules-R-other.conf: the same, but the non-matching rules
 * name other products of the same vendors (product id with bit 15 flipped), so that an
 * engine that compares the id first rules them out at once.
 */
static void write_rules(const char *out, unsigned long r, bool other_ids)
{
	char name[64];
	snprintf(name, sizeof(name), "rules-%lu%s.conf", r, other_ids ? "-other" : "");
	FILE *f = open_out(out, name);
	fprintf(f,
	        "# mynaguard USB decision benchmark: %lu rules that match no device%s, then one "
	        "allow rule per device.\n",
	        r, other_ids ? " (other products)" : "");
	/* Every model of the set, hub and root hubs included, names the non-matching rules. */
	const struct mg_cat_device *models[64];
	if (bench_n_leaf_keys + 3 > sizeof(models) / sizeof(models[0]))
		bench_die("too many models");
	size_t nm = 0;
	for (size_t i = 0; i < bench_n_leaf_keys; i++)
		models[nm++] = bench_cat(bench_leaf_keys[i]);
	models[nm++] = bench_cat("hub");
	models[nm++] = bench_cat(MG_CAT_ROOT_HUB_USB2);
	models[nm++] = bench_cat(MG_CAT_ROOT_HUB_USB3);
	rng_state = 0x6d796e6167756172ull ^ r;
	for (unsigned long i = 0; i < r; i++) {
		const struct mg_cat_device *src = models[i % nm];
		struct mg_cat_device m_other;
		const struct mg_cat_device *m = src;
		if (other_ids) {
			m_other = *src;
			m_other.product = (uint16_t)(src->product ^ 0x8000u);
			m = &m_other;
		}
		char serial[32];
		snprintf(serial, sizeof(serial), "%016llX", (unsigned long long)rng());
		switch (i % 4) {
		case 0:
			fprintf(f, "allow id %04x:%04x serial \"%s\"\n", m->vendor, m->product,
			        serial);
			break;
		case 1:
			fprintf(f, "allow id %04x:%04x serial \"%s\" name \"%s\"\n", m->vendor,
			        m->product, serial,
			        m->product_name ? m->product_name : "USB Device");
			break;
		case 2: {
			struct mg_usb_desc *d = calloc(1, sizeof(*d));
			char why[192];
			if (!d || mg_usb_desc_parse(m->descriptors, m->descriptors_len, d, why,
			                            sizeof(why)) < 0)
				bench_die("descriptors");
			fprintf(f, "allow id %04x:%04x serial \"%s\"", m->vendor, m->product,
			        serial);
			print_ifaces(f, d);
			fprintf(f, "\n");
			free(d);
			break;
		}
		default: {
			char hash[45];
			base64_32(hash);
			fprintf(f, "block id %04x:%04x serial \"%s\" hash \"%s\"\n", m->vendor,
			        m->product, serial, hash);
			break;
		}
		}
	}
	/* The devices' own rules, last. */
	for (size_t i = 0; i < topo->n; i++) {
		const struct bench_node *n = &topo->nodes[i];
		fprintf(f, "allow id %04x:%04x", n->cat->vendor, n->cat->product);
		if (n->serial[0])
			fprintf(f, " serial \"%s\"", n->serial);
		else
			fprintf(f, " via-port \"%s\"", n->port);
		print_ifaces(f, n->desc);
		fprintf(f, "\n");
	}
	close_out(f);
}

static unsigned long parse_count(const char *s, unsigned long max)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > max || s[0] == '-') {
		errno = 0;
		bench_die("expected a number");
	}
	return v;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr,
		        "usage: mynaguard-bench-usbgen OUTDIR NDEVICES [R...] [other:R...]\n");
		return 1;
	}
	for (size_t i = 0; mg_cat_all[i]; i++) {
		char why[256];
		if (mg_cat_check(mg_cat_all[i], why, sizeof(why)) < 0) {
			errno = 0;
			bench_die(why);
		}
	}
	const char *out = argv[1];
	unsigned nleaves = (unsigned)parse_count(argv[2], 84);
	mkdir_or_die(out);
	topo = calloc(1, sizeof(*topo));
	if (!topo)
		bench_die("calloc");
	bench_topology_build(topo, nleaves);
	write_devices(out);
	for (int i = 3; i < argc; i++) {
		bool other = strncmp(argv[i], "other:", 6) == 0;
		write_rules(out, parse_count(argv[i] + (other ? 6 : 0), 1000000), other);
	}
	bench_topology_free(topo);
	free(topo);
	return 0;
}
