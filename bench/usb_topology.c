/* The device tree of the USB decision benchmark (usb_topology.h). */
#include "usb_topology.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HUB_PORTS 7
#define RH_PORTS  12

void bench_die(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what,
	        errno ? strerror(errno) : "error");
	exit(1);
}

const struct mg_cat_device *bench_cat(const char *key)
{
	const struct mg_cat_device *d = mg_cat_find(key);
	if (!d) {
		errno = 0;
		bench_die(key);
	}
	return d;
}

static struct bench_node *add_node(struct bench_topology *t, enum bench_node_kind kind,
                                   const struct mg_cat_device *c, int parent, const char *port)
{
	if (t->n == BENCH_MAX_NODES) {
		errno = 0;
		bench_die("too many devices");
	}
	struct bench_node *n = &t->nodes[t->n++];
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	n->cat = c;
	n->parent = parent;
	if (snprintf(n->port, sizeof(n->port), "%s", port) >= (int)sizeof(n->port) ||
	    snprintf(n->path, sizeof(n->path), "%s/%s",
	             parent < 0 ? BENCH_CONTROLLER : t->nodes[parent].path,
	             port) >= (int)sizeof(n->path)) {
		errno = 0;
		bench_die("device path too long");
	}
	n->bus = kind == BENCH_ROOT_HUB ? (unsigned)(port[3] - '0') : t->nodes[parent].bus;
	n->desc = calloc(1, sizeof(*n->desc));
	char why[192];
	if (!n->desc)
		bench_die("calloc");
	if (mg_usb_desc_parse(c->descriptors, c->descriptors_len, n->desc, why, sizeof(why)) < 0) {
		errno = 0;
		bench_die(why);
	}
	return n;
}

const char *const bench_leaf_keys[] = {
    "flash_sandisk", "keyboard",         "mouse",       "flash_kingston",
    "fido_key",      "phone_mtp",        "hdd_uas",     "mouse_cheap",
    "sd_reader",     "yubikey5",         "eth_rtl8153", "ccid_reader",
    "printer",       "wifi_rtl8812bu",   "phone_rndis", "bt_csr",
    "vendor_pasori", "keyboard_storage", "badusb",
};
const size_t bench_n_leaf_keys = sizeof(bench_leaf_keys) / sizeof(bench_leaf_keys[0]);

void bench_topology_build(struct bench_topology *t, unsigned nleaves)
{
	t->n = 0;
	int usb1 = (int)t->n;
	add_node(t, BENCH_ROOT_HUB, bench_cat(MG_CAT_ROOT_HUB_USB2), -1, "usb1");
	add_node(t, BENCH_ROOT_HUB, bench_cat(MG_CAT_ROOT_HUB_USB3), -1, "usb2");
	/* Hubs on root ports 1..k; k is the least with (12 - k) + 7k >= nleaves. */
	unsigned k = 0;
	while (k < RH_PORTS && RH_PORTS - k + HUB_PORTS * k < nleaves)
		k++;
	if (RH_PORTS - k + HUB_PORTS * k < nleaves) {
		errno = 0;
		bench_die("too many devices for two hub tiers (at most 84)");
	}
	int hubs[RH_PORTS];
	for (unsigned p = 1; p <= k; p++) {
		char port[64];
		snprintf(port, sizeof(port), "1-%u", p);
		hubs[p - 1] = (int)t->n;
		add_node(t, BENCH_HUB, bench_cat("hub"), usb1, port);
	}
	/* Leaves: behind the hubs first, then on the free root ports. */
	unsigned placed = 0;
	for (unsigned h = 0; h < k && placed < nleaves; h++) {
		for (unsigned p = 1; p <= HUB_PORTS && placed < nleaves; p++) {
			char port[64];
			snprintf(port, sizeof(port), "1-%u.%u", h + 1, p);
			struct bench_node *n = add_node(
			    t, BENCH_LEAF, bench_cat(bench_leaf_keys[placed % bench_n_leaf_keys]),
			    hubs[h], port);
			n->leaf_no = ++placed;
		}
	}
	for (unsigned p = k + 1; p <= RH_PORTS && placed < nleaves; p++) {
		char port[64];
		snprintf(port, sizeof(port), "1-%u", p);
		struct bench_node *n =
		    add_node(t, BENCH_LEAF, bench_cat(bench_leaf_keys[placed % bench_n_leaf_keys]),
		             usb1, port);
		n->leaf_no = ++placed;
	}
	/* Device numbers in enumeration order; distinct serials per instance. */
	unsigned devnum[3] = {0, 0, 0};
	for (size_t i = 0; i < t->n; i++) {
		struct bench_node *n = &t->nodes[i];
		n->devnum = ++devnum[n->bus];
		const char *s = n->cat->serial;
		if (!s)
			continue;
		if (n->kind != BENCH_LEAF) {
			snprintf(n->serial, sizeof(n->serial), "%s", s);
			continue;
		}
		/* The catalog serial with its last four characters replaced by the leaf number. */
		size_t len = strlen(s);
		if (len < 4 || len >= sizeof(n->serial)) {
			errno = 0;
			bench_die("catalog serial shorter than 4 characters");
		}
		snprintf(n->serial, sizeof(n->serial), "%.*s%04X", (int)(len - 4), s, n->leaf_no);
	}
}

void bench_topology_free(struct bench_topology *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->nodes[i].desc);
		t->nodes[i].desc = NULL;
	}
	t->n = 0;
}
