/* Uevent classification and KEY=VALUE parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "uevent.h"

static void test_devpath_valid(void **state)
{
	(void)state;
	assert_true(mg_devpath_valid("/devices/pci0000:00/0000:00:14.0/usb1/1-2"));
	assert_true(mg_devpath_valid("/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0"));
	assert_false(mg_devpath_valid(NULL));
	assert_false(mg_devpath_valid(""));
	assert_false(mg_devpath_valid("/sys/devices/x"));
	assert_false(mg_devpath_valid("/devices/../../etc"));
	assert_false(mg_devpath_valid("/devices/a/./b"));
	assert_false(mg_devpath_valid("/devices//a"));
	assert_false(mg_devpath_valid("/devices/a/"));
	assert_false(mg_devpath_valid("/devices/a b"));
	assert_false(mg_devpath_valid("/devices/a\nb"));
	assert_false(mg_devpath_valid("/devices/\xc3\xa9"));
	char longp[MG_DEVPATH_MAX + 16] = "/devices/";
	memset(longp + 9, 'a', MG_DEVPATH_MAX);
	longp[MG_DEVPATH_MAX + 9] = '\0';
	assert_false(mg_devpath_valid(longp));
}

static void test_classify(void **state)
{
	(void)state;
	struct mg_uevent ev;
	char err[128];
	assert_int_equal(mg_uevent_from_fields("add", "/devices/p/usb1/1-2", "usb", "usb_device",
	                                       &ev, err, sizeof(err)),
	                 0);
	assert_int_equal(ev.action, MG_UEVENT_ADD);
	assert_int_equal(ev.kind, MG_UEVENT_USB_DEVICE);
	assert_string_equal(ev.devpath, "/devices/p/usb1/1-2");

	assert_int_equal(mg_uevent_from_fields("remove", "/devices/p/usb1/1-2/1-2:1.0", "usb",
	                                       "usb_interface", &ev, err, sizeof(err)),
	                 0);
	assert_int_equal(ev.action, MG_UEVENT_REMOVE);
	assert_int_equal(ev.kind, MG_UEVENT_USB_INTERFACE);

	/* Other subsystems and devtypes are ignored, even with odd paths. */
	assert_int_equal(
	    mg_uevent_from_fields("add", "garbage", "block", "disk", &ev, err, sizeof(err)), 0);
	assert_int_equal(ev.kind, MG_UEVENT_IGNORE);
	assert_int_equal(mg_uevent_from_fields("add", NULL, "usb", NULL, &ev, err, sizeof(err)), 0);
	assert_int_equal(ev.kind, MG_UEVENT_IGNORE);
	assert_int_equal(
	    mg_uevent_from_fields("move", "/devices/a", "usb", "usb_device", &ev, err, sizeof(err)),
	    0);
	assert_int_equal(ev.action, MG_UEVENT_OTHER);

	/* A USB event we cannot act upon is an error naming why. */
	ev.kind = MG_UEVENT_IGNORE;
	assert_int_equal(
	    mg_uevent_from_fields("add", NULL, "usb", "usb_device", &ev, err, sizeof(err)),
	    -EINVAL);
	assert_non_null(strstr(err, "without DEVPATH"));
	assert_int_equal(ev.kind, MG_UEVENT_IGNORE); /* untouched on failure */
	assert_int_equal(mg_uevent_from_fields("add", "/devices/../x", "usb", "usb_device", &ev,
	                                       err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "malformed DEVPATH"));
}

static void test_parse_file_and_netlink(void **state)
{
	(void)state;
	struct mg_uevent ev;
	char err[128];
	const char file[] = "MAJOR=189\nMINOR=1\nDEVNAME=bus/usb/001/002\nDEVTYPE=usb_device\n"
	                    "DRIVER=usb\nPRODUCT=781/5583/100\nTYPE=0/0/0\nBUSNUM=001\n";
	/* A sysfs uevent file has no ACTION/DEVPATH/SUBSYSTEM: not a USB event to act on. */
	assert_int_equal(mg_uevent_parse(file, sizeof(file) - 1, '\n', &ev, err, sizeof(err)), 0);
	assert_int_equal(ev.kind, MG_UEVENT_IGNORE);
	/* ...but it does say whether the directory is a USB device (a hub's parent check). */
	assert_true(mg_uevent_file_is_usb_device(file, sizeof(file) - 1));
	const char iface[] = "DEVTYPE=usb_interface\nDRIVER=usbhid\nINTERFACE=3/1/1\n";
	assert_false(mg_uevent_file_is_usb_device(iface, sizeof(iface) - 1));
	const char pci[] = "DRIVER=xhci_hcd\nPCI_CLASS=C0330\nXDEVTYPE=usb_device\n";
	assert_false(mg_uevent_file_is_usb_device(pci, sizeof(pci) - 1));
	const char last[] = "MAJOR=189\nDEVTYPE=usb_device"; /* no final newline */
	assert_true(mg_uevent_file_is_usb_device(last, sizeof(last) - 1));

	const char nl[] = "add@/devices/p/usb1/1-2\0ACTION=add\0DEVPATH=/devices/p/usb1/1-2\0"
	                  "SUBSYSTEM=usb\0DEVTYPE=usb_device\0SEQNUM=1234\0";
	assert_int_equal(mg_uevent_parse(nl, sizeof(nl) - 1, '\0', &ev, err, sizeof(err)), 0);
	assert_int_equal(ev.kind, MG_UEVENT_USB_DEVICE);
	assert_int_equal(ev.action, MG_UEVENT_ADD);
	assert_string_equal(ev.devpath, "/devices/p/usb1/1-2");

	const char dup[] = "ACTION=add\0ACTION=remove\0";
	assert_int_equal(mg_uevent_parse(dup, sizeof(dup) - 1, '\0', &ev, err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "duplicate ACTION"));

	const char noeq[] = "ACTION=add\nbogus\n";
	assert_int_equal(mg_uevent_parse(noeq, sizeof(noeq) - 1, '\n', &ev, err, sizeof(err)),
	                 -EINVAL);
	assert_non_null(strstr(err, "entry 2 has no '='"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_devpath_valid),
	    cmocka_unit_test(test_classify),
	    cmocka_unit_test(test_parse_file_and_netlink),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
