/* mg_usb_scan(): the USB devices of a sysfs tree, parents before children, interfaces and
 * foreign links skipped, a missing bus reported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "usb_scan.h"

struct seen {
	char *v[16];
	size_t n;
	int stop_after; /* 0: never */
};

static int collect(void *ctx, const char *devpath)
{
	struct seen *s = ctx;
	assert_true(s->n < 16);
	s->v[s->n++] = strdup(devpath);
	return s->stop_after && (int)s->n == s->stop_after ? -ECANCELED : 0;
}

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	s->n = 0;
}

#define CTRL "/devices/pci0000:00/0000:00:14.0"

static void link_dev(const char *root, const char *name, const char *devpath)
{
	char from[512], to[512];
	snprintf(from, sizeof(from), "%s/bus/usb/devices/%s", root, name);
	snprintf(to, sizeof(to), "../../..%s", devpath);
	assert_int_equal(symlink(to, from), 0);
}

static void order_and_filter(void **state)
{
	(void)state;
	char root[] = "/tmp/mg-usbscan-XXXXXX";
	assert_non_null(mkdtemp(root));
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/bus", root);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(dir, sizeof(dir), "%s/bus/usb", root);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(dir, sizeof(dir), "%s/bus/usb/devices", root);
	assert_int_equal(mkdir(dir, 0700), 0);
	/* readdir order is the file system's; the links are made children first. */
	link_dev(root, "1-3.2", CTRL "/usb1/1-3/1-3.2");
	link_dev(root, "1-3.2:1.0", CTRL "/usb1/1-3/1-3.2/1-3.2:1.0"); /* an interface */
	link_dev(root, "1-3", CTRL "/usb1/1-3");
	link_dev(root, "2-1", CTRL "/usb2/2-1");
	link_dev(root, "usb2", CTRL "/usb2");
	link_dev(root, "usb1", CTRL "/usb1");
	link_dev(root, "odd", "/elsewhere/x");     /* not below /devices */
	link_dev(root, "dots", "/devices/../etc"); /* not a valid DEVPATH */

	struct seen s = {0};
	assert_int_equal(mg_usb_scan(root, collect, &s), 0);
	const char *want[] = {CTRL "/usb1", CTRL "/usb1/1-3", CTRL "/usb1/1-3/1-3.2", CTRL "/usb2",
	                      CTRL "/usb2/2-1"};
	assert_int_equal(s.n, 5);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(s.v[i], want[i]);
	seen_free(&s);

	/* The callback's error stops the scan and is returned. */
	s.stop_after = 2;
	assert_int_equal(mg_usb_scan(root, collect, &s), -ECANCELED);
	assert_int_equal(s.n, 2);
	seen_free(&s);

	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	assert_int_equal(system(cmd), 0);
	/* No USB bus at all. */
	assert_int_equal(mg_usb_scan(root, collect, &s), -ENOENT);
	assert_int_equal(s.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {cmocka_unit_test(order_and_filter)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
