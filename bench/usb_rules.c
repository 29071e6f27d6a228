/*
 * mynaguard-bench-rules: the rule engine alone, on the rule files of the USB decision
 * benchmark (bench/run-usb-bench.sh writes them with mynaguard-bench-usbgen).
 *
 *   mynaguard-bench-rules GENDIR NDEVICES R... [other:R...]
 *
 * For each GENDIR/rules-R.conf (rules-R-other.conf): loads it with mg_ruleset_load() (the
 * engine's own file size limit) and reports the load time, the heap bytes the rule set
 * keeps (mallinfo2 in-use bytes, brk and mmapped, after minus before) and the process RSS after
 * malloc_trim(0) (what the agent does after a load) before and after the load; builds the
 * NDEVICES-leaf device set in memory (the same tree as the generator's, with USBGuard hashes),
 * checks that every device matches its own allow rule (the line after the R others), and times
 * mg_ruleset_match(). One Markdown table row per file on stdout. Exit 0, 1 on an error or a wrong
 * match.
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mg/safe_open.h"
#include "rules.h"
#include "usb_hash.h"
#include "usb_topology.h"

#define MATCHES_PER_DEVICE 2000

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *dup_or_die(const char *s)
{
	char *p = strdup(s);
	if (!p)
		bench_die("strdup");
	return p;
}

/* The mg_device the agent would read from sysfs for node i (device.c's fields). */
static struct mg_device *device_of(const struct bench_topology *t, size_t i,
                                   struct mg_device *const *devs)
{
	const struct bench_node *n = &t->nodes[i];
	const struct mg_cat_device *c = n->cat;
	struct mg_device *d = calloc(1, sizeof(*d));
	if (!d)
		bench_die("calloc");
	d->syspath = dup_or_die(n->path);
	d->port = dup_or_die(n->port);
	d->name = dup_or_die(c->product_name ? c->product_name : "");
	d->serial = dup_or_die(n->serial);
	snprintf(d->vendor_id, sizeof(d->vendor_id), "%04x", c->vendor);
	snprintf(d->product_id, sizeof(d->product_id), "%04x", c->product);
	d->vendor = c->vendor;
	d->product = c->product;
	d->root_hub = n->kind == BENCH_ROOT_HUB;
	d->connect_type = dup_or_die(d->root_hub ? "" : "hotplug");
	d->desc = *n->desc;
	char hash[MG_USB_HASH_LEN];
	errno = 0;
	if (mg_usb_hash_device(d->name, d->vendor_id, d->product_id, d->serial, c->descriptors,
	                       c->descriptors_len, hash) < 0)
		bench_die("hash");
	d->hash = dup_or_die(hash);
	if (n->parent >= 0) {
		d->parent_hash = dup_or_die(devs[n->parent]->hash);
	} else {
		if (mg_usb_hash_string(BENCH_CONTROLLER, hash) < 0)
			bench_die("hash");
		d->parent_hash = dup_or_die(hash);
	}
	return d;
}

/* Resident set size in bytes after giving free heap back (malloc_trim), as the agent does. */
static double rss_trimmed(void)
{
	malloc_trim(0);
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		bench_die("/proc/self/statm");
	if (fscanf(f, "%lu %lu", &size, &resident) != 2)
		bench_die("/proc/self/statm");
	fclose(f);
	return (double)resident * (double)sysconf(_SC_PAGESIZE);
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

/* "file:LINE" -> LINE, or 0. */
static unsigned long source_line(const char *source)
{
	const char *colon = strrchr(source, ':');
	return colon ? strtoul(colon + 1, NULL, 10) : 0;
}

static int measure(const char *gendir, const char *arg, const struct bench_topology *t,
                   struct mg_device *const *devs)
{
	bool other = strncmp(arg, "other:", 6) == 0;
	unsigned long r = parse_count(arg + (other ? 6 : 0), 1000000);
	char path[4096];
	snprintf(path, sizeof(path), "%s/rules-%lu%s.conf", gendir, r, other ? "-other" : "");

	struct mg_file_rules fr = mg_root_config_rules;
	fr.owner = geteuid();
	fr.max_size = 0; /* the engine's limit (MG_RULES_MAX_FILE), not safe_open's 1 MiB */
	struct mg_rule_error err;
	memset(&err, 0, sizeof(err));
	struct mg_ruleset *rs = NULL;
	double rss_before = rss_trimmed();
	struct mallinfo2 before = mallinfo2();
	double t0 = now_s();
	if (mg_ruleset_load(path, NULL, &fr, &rs, &err) < 0) {
		char buf[800];
		fprintf(stderr, "%s\n", mg_rule_error_str(&err, buf, sizeof(buf)));
		return -1;
	}
	double load_s = now_s() - t0;
	struct mallinfo2 after = mallinfo2();
	/* In use: the brk heap's chunks plus the mmapped ones. */
	size_t kept = (after.uordblks + after.hblkhd) - (before.uordblks + before.hblkhd);
	double rss_after = rss_trimmed();
	size_t count = mg_ruleset_count(rs);

	/* Each device's own rule is on line R + 2 + i (line 1 is a comment). */
	int status = 0;
	for (size_t i = 0; i < t->n; i++) {
		const struct mg_rule *m = mg_ruleset_match(rs, devs[i], 0);
		unsigned long want = r + 2 + i;
		char src[MG_RULE_SOURCE_MAX];
		if (!m || mg_rule_target(m) != MG_TARGET_ALLOW ||
		    source_line(mg_rule_source(m, src, sizeof(src))) != want) {
			fprintf(stderr, "%s: %s matched %s, want line %lu\n", path,
			        t->nodes[i].path,
			        m ? mg_rule_source(m, src, sizeof(src)) : "no rule", want);
			status = -1;
		}
	}
	const struct mg_rule *sink = NULL;
	t0 = now_s();
	for (unsigned k = 0; k < MATCHES_PER_DEVICE; k++)
		for (size_t i = 0; i < t->n; i++)
			sink = mg_ruleset_match(rs, devs[i], 0);
	double match_s = (now_s() - t0) / ((double)MATCHES_PER_DEVICE * (double)t->n);
	printf("| %lu%s | %zu | %.1f | %.2f | %.0f | %.2f | %.2f | %.3f |\n", r,
	       other ? " (other products)" : "", count, load_s * 1e3, (double)kept / 1048576.0,
	       (double)kept / (double)count, rss_before / 1048576.0, rss_after / 1048576.0,
	       match_s * 1e6);
	(void)sink;
	mg_ruleset_free(&rs);
	return status;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: mynaguard-bench-rules GENDIR NDEVICES R... [other:R...]\n");
		return 1;
	}
	struct bench_topology *t = calloc(1, sizeof(*t));
	if (!t)
		bench_die("calloc");
	bench_topology_build(t, (unsigned)parse_count(argv[2], 84));
	struct mg_device **devs = calloc(t->n, sizeof(*devs));
	if (!devs)
		bench_die("calloc");
	for (size_t i = 0; i < t->n; i++)
		devs[i] = device_of(t, i, devs);

	printf(
	    "| Rules | In the set | Load, ms | Heap kept, MiB | Bytes per rule | RSS before, MiB "
	    "| RSS after, MiB | Match, us |\n");
	printf("|---|---|---|---|---|---|---|---|\n");
	int status = 0;
	for (int i = 3; i < argc; i++)
		if (measure(argv[1], argv[i], t, devs) < 0)
			status = 1;

	for (size_t i = 0; i < t->n; i++)
		mg_device_free(&devs[i]);
	free(devs);
	bench_topology_free(t);
	free(t);
	return status;
}
