/*
 * The device tree of the USB decision benchmark: one xHCI controller, a USB 2 and a USB 3 root
 * hub, 7-port hubs on the first root ports as needed, and leaf devices cycling through the
 * test catalog (tests/support/usb_catalog.h) with a distinct serial per instance.
 */
#ifndef MG_BENCH_USB_TOPOLOGY_H
#define MG_BENCH_USB_TOPOLOGY_H

#include <stddef.h>

#include "usb_catalog.h"
#include "usb_desc.h"

#define BENCH_CONTROLLER "/devices/pci0000:00/0000:00:14.0"
#define BENCH_MAX_NODES  512

enum bench_node_kind {
	BENCH_ROOT_HUB,
	BENCH_HUB,
	BENCH_LEAF,
};

struct bench_node {
	enum bench_node_kind kind;
	const struct mg_cat_device *cat;
	char path[256]; /* DEVPATH */
	char port[64];  /* sysfs name: "usb1", "1-3", "1-3.4" */
	int parent;     /* node index; -1: the PCI controller */
	unsigned bus, devnum;
	char serial[64];          /* "" when the model has none */
	unsigned leaf_no;         /* 1.. for leaves */
	struct mg_usb_desc *desc; /* parsed descriptors (owned) */
};

/* Nodes in enumeration order: parents before children. */
struct bench_topology {
	struct bench_node nodes[BENCH_MAX_NODES];
	size_t n;
};

/* Leaf models in plug order (root hubs and the hub model excluded). */
extern const char *const bench_leaf_keys[];
extern const size_t bench_n_leaf_keys;

/* Builds the tree for nleaves leaves (at most 84); exits with a message on error. */
void bench_topology_build(struct bench_topology *t, unsigned nleaves);

/* Frees what bench_topology_build() allocated. */
void bench_topology_free(struct bench_topology *t);

/* The catalog device with that key; exits if there is none. */
const struct mg_cat_device *bench_cat(const char *key);

/* Prints "PROGRAM: what: strerror(errno)" (or "error" when errno is 0) and exits 1. */
void bench_die(const char *what) __attribute__((noreturn));

#endif
