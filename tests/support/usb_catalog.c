/*
 * The device catalog. One descriptor per line; the macros below write each descriptor's
 * fields in the order of the USB 2.0 spec, 9.6 (little-endian words split into two bytes),
 * so every line is exactly the bytes on the wire:
 *
 *   DEV  bLength 18, DEVICE, bcdUSB, class, subclass, protocol, bMaxPacketSize0, idVendor,
 *        idProduct, bcdDevice, iManufacturer, iProduct, iSerialNumber, bNumConfigurations
 *   CFG  bLength 9, CONFIGURATION, wTotalLength, bNumInterfaces, bConfigurationValue,
 *        iConfiguration, bmAttributes, bMaxPower (2 mA units; 8 mA at SuperSpeed)
 *   IAD  bLength 8, INTERFACE_ASSOCIATION (0x0b), bFirstInterface, bInterfaceCount, class,
 *        subclass, protocol, iFunction                       (USB ECN "IAD", 2003)
 *   IFC  bLength 9, INTERFACE, bInterfaceNumber, bAlternateSetting, bNumEndpoints, class,
 *        subclass, protocol, iInterface
 *   EP   bLength 7, ENDPOINT, bEndpointAddress, bmAttributes, wMaxPacketSize, bInterval
 *   SSC  bLength 6, SS_ENDPOINT_COMPANION (0x30), bMaxBurst, bmAttributes,
 *        wBytesPerInterval                                   (USB 3.2, 9.6.7)
 *   HID  bLength 9, HID (0x21), bcdHID, bCountryCode, bNumDescriptors 1, REPORT (0x22),
 *        wDescriptorLength                                   (HID 1.11, 6.2.1)
 * Class-specific descriptors (CDC functional, UAS pipe usage, CCID) have macros of their own,
 * below, in the same manner.
 */
#include "usb_catalog.h"

#include <stdio.h>
#include <string.h>

#define LE(w)   (uint8_t)((w)&0xff), (uint8_t)(((w) >> 8) & 0xff)
#define LE32(d) LE((d)&0xffff), LE(((d) >> 16) & 0xffff)

#define DEV(bcdusb, cls, sub, proto, mps0, vid, pid, bcddev, im, ip, is, ncfg)                     \
	18, 0x01, LE(bcdusb), cls, sub, proto, mps0, LE(vid), LE(pid), LE(bcddev), im, ip, is, ncfg
#define CFG(total, nif, value, iconf, attr, power)                                                 \
	9, 0x02, LE(total), nif, value, iconf, attr, power
#define IAD(first, count, cls, sub, proto, ifunc)  8, 0x0b, first, count, cls, sub, proto, ifunc
#define IFC(num, alt, neps, cls, sub, proto, istr) 9, 0x04, num, alt, neps, cls, sub, proto, istr
#define EP(addr, attr, mps, interval)              7, 0x05, addr, attr, LE(mps), interval
#define SSC(burst, attr, bpi)                      6, 0x30, burst, attr, LE(bpi)
#define HID(bcd, country, rlen)                    9, 0x21, LE(bcd), country, 1, 0x22, LE(rlen)

/* Class-specific descriptors (CS_INTERFACE 0x24 unless said otherwise). */
#define CDC_HEADER(bcd)           5, 0x24, 0x00, LE(bcd)    /* CDC 1.2, 5.2.3.1 */
#define CDC_CALL_MGMT(caps, data) 5, 0x24, 0x01, caps, data /* PSTN 1.2, 5.3.1 */
#define CDC_ACM(caps)             4, 0x24, 0x02, caps       /* PSTN 1.2, 5.3.2 */
#define CDC_UNION(ctrl, data)     5, 0x24, 0x06, ctrl, data /* CDC 1.2, 5.2.3.2 */
#define CDC_ETHER(imac, stats, maxseg, nmc, npf)                                                   \
	13, 0x24, 0x0f, imac, LE32(stats), LE(maxseg), LE(nmc), npf /* ECM 1.2, 5.4 */
#define UAS_PIPE(id) 4, 0x24, id, 0x00 /* UAS 1.0, 5.3.3.1: pipe usage */
/*
 * CCID class descriptor (type 0x21, 54 bytes; CCID 1.1, 5.1): bcdCCID 1.00, one slot, 5/3/1.8 V,
 * dwProtocols, clocks (kHz), data rates (bps), bNumDataRatesSupported, dwMaxIFSD, no synch
 * protocols, no mechanics, dwFeatures, dwMaxCCIDMessageLength, bClassGetResponse,
 * bClassEnvelope, no LCD, no PIN pad, one busy slot.
 */
#define CCID(proto, defclk, maxclk, rate, maxrate, nrates, ifsd, features, maxmsg, getresp, env)   \
	54, 0x21, LE(0x0100), 0, 0x07, LE32(proto), LE32(defclk), LE32(maxclk), 0, LE32(rate),     \
	    LE32(maxrate), nrates, LE32(ifsd), LE32(0), LE32(0), LE32(features), LE32(maxmsg),     \
	    getresp, env, LE(0), 0, 1

/* bmAttributes of endpoints */
#define ISO  0x01
#define BULK 0x02
#define INTR 0x03

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define DEVICE(name, ...)                                                                          \
	static const struct mg_cat_device name = {                                                 \
	    __VA_ARGS__, .descriptors = name##_desc, .descriptors_len = sizeof(name##_desc),       \
	    .ifaces = name##_ifaces, .n_ifaces = N(name##_ifaces)}

/* ---- root hubs (Linux 6.1 xHCI: drivers/usb/core/hcd.c usb2_rh_dev_descriptor etc.) ---- */

/* clang-format off */
static const uint8_t rh2_desc[] = {
	DEV(0x0200, 0x09, 0x00, 0x01, 64, 0x1d6b, 0x0002, 0x0601, 3, 2, 1, 1), /* hub, single TT */
	CFG(25, 1, 1, 0, 0xe0, 0),              /* self-powered, remote wakeup */
	IFC(0, 0, 1, 0x09, 0x00, 0x00, 0),      /* hub */
	EP(0x81, INTR, 4, 12),                  /* status change, 2^(12-1) uframes */
};
/* clang-format on */
static const struct mg_cat_iface rh2_ifaces[] = {{0, 0x09, 0x00, 0x00, 1}};
DEVICE(rh2, .key = MG_CAT_ROOT_HUB_USB2, .description = "Linux 2.0 root hub (xHCI)",
       .vendor = 0x1d6b, .product = 0x0002, .bcd_device = 0x0601, .bcd_usb = 0x0200,
       .manufacturer = "Linux 6.1.0-26-amd64 xhci-hcd", .product_name = "xHCI Host Controller",
       .serial = "0000:00:14.0", .speed = "480", .max_power = "0mA", .config_value = 1,
       .maxchild = 16);

/* clang-format off */
static const uint8_t rh3_desc[] = {
	DEV(0x0300, 0x09, 0x00, 0x03, 9, 0x1d6b, 0x0003, 0x0601, 3, 2, 1, 1), /* SuperSpeed hub */
	CFG(31, 1, 1, 0, 0xe0, 0),
	IFC(0, 0, 1, 0x09, 0x00, 0x00, 0),      /* hub */
	EP(0x81, INTR, 4, 12),                  /* status */
	SSC(0, 0, 2),                           /* companion */
};
/* clang-format on */
static const struct mg_cat_iface rh3_ifaces[] = {{0, 0x09, 0x00, 0x00, 1}};
DEVICE(rh3, .key = MG_CAT_ROOT_HUB_USB3, .description = "Linux 3.0 root hub (xHCI)",
       .vendor = 0x1d6b, .product = 0x0003, .bcd_device = 0x0601, .bcd_usb = 0x0300,
       .manufacturer = "Linux 6.1.0-26-amd64 xhci-hcd", .product_name = "xHCI Host Controller",
       .serial = "0000:00:14.0", .speed = "5000", .max_power = "0mA", .config_value = 1,
       .maxchild = 10);

/* ---- mass storage ---- */

/* SanDisk Ultra Fit, USB 3.2 Gen 1, bulk-only transport. */
/* clang-format off */
static const uint8_t flash_sandisk_desc[] = {
	DEV(0x0320, 0x00, 0x00, 0x00, 9, 0x0781, 0x5583, 0x0100, 1, 2, 3, 1),
	CFG(44, 1, 1, 0, 0x80, 112),            /* 896 mA */
	IFC(0, 0, 2, 0x08, 0x06, 0x50, 0),      /* SCSI, BOT */
	EP(0x81, BULK, 1024, 0),                /* bulk IN */
	SSC(15, 0, 0),                          /* 16 packets */
	EP(0x02, BULK, 1024, 0),                /* bulk OUT */
	SSC(15, 0, 0),
};
/* clang-format on */
static const struct mg_cat_iface flash_sandisk_ifaces[] = {{0, 0x08, 0x06, 0x50, 2}};
DEVICE(flash_sandisk, .key = "flash_sandisk", .description = "USB flash drive (SanDisk Ultra Fit)",
       .vendor = 0x0781, .product = 0x5583, .bcd_device = 0x0100, .bcd_usb = 0x0320,
       .manufacturer = " SanDisk", .product_name = " SanDisk 3.2Gen1",
       .serial = "4C530001230825117283", .speed = "5000", .max_power = "896mA", .config_value = 1);

/* Kingston DataTraveler 100 G3, USB 3.0. */
/* clang-format off */
static const uint8_t flash_kingston_desc[] = {
	DEV(0x0300, 0x00, 0x00, 0x00, 9, 0x0951, 0x1666, 0x0110, 1, 2, 3, 1),
	CFG(44, 1, 1, 0, 0x80, 37),             /* 296 mA */
	IFC(0, 0, 2, 0x08, 0x06, 0x50, 0),      /* SCSI, BOT */
	EP(0x81, BULK, 1024, 0),                /* bulk IN */
	SSC(15, 0, 0),
	EP(0x02, BULK, 1024, 0),                /* bulk OUT */
	SSC(15, 0, 0),
};
/* clang-format on */
static const struct mg_cat_iface flash_kingston_ifaces[] = {{0, 0x08, 0x06, 0x50, 2}};
DEVICE(flash_kingston, .key = "flash_kingston",
       .description = "USB flash drive (Kingston DataTraveler 100 G3)", .vendor = 0x0951,
       .product = 0x1666, .bcd_device = 0x0110, .bcd_usb = 0x0300, .manufacturer = "Kingston",
       .product_name = "DataTraveler 3.0", .serial = "60A44C413A8CF1A0B99B0157", .speed = "5000",
       .max_power = "296mA", .config_value = 1);

/*
 * Seagate Expansion portable drive: bulk-only in alternate setting 0, UAS in 1 (UAS 1.0,
 * 5.3.3: each endpoint is followed by its SuperSpeed companion and a Pipe Usage descriptor
 * 04 24 id 00, id 1 command, 2 status, 3 data-in, 4 data-out).
 */
/* clang-format off */
static const uint8_t hdd_uas_desc[] = {
	DEV(0x0300, 0x00, 0x00, 0x00, 9, 0x0bc2, 0x2322, 0x0708, 1, 2, 3, 1),
	CFG(121, 1, 1, 0, 0x80, 112),           /* 896 mA */
	IFC(0, 0, 2, 0x08, 0x06, 0x50, 0),      /* alt 0: bulk-only */
	EP(0x81, BULK, 1024, 0),                /* bulk IN */
	SSC(15, 0, 0),
	EP(0x02, BULK, 1024, 0),                /* bulk OUT */
	SSC(15, 0, 0),
	IFC(0, 1, 4, 0x08, 0x06, 0x62, 0),      /* alt 1: UAS */
	EP(0x81, BULK, 1024, 0),
	SSC(15, 0x05, 0),                       /* 2^5 streams */
	UAS_PIPE(2),                            /* status */
	EP(0x02, BULK, 1024, 0),
	SSC(0, 0x00, 0),
	UAS_PIPE(1),                            /* command */
	EP(0x83, BULK, 1024, 0),
	SSC(15, 0x05, 0),
	UAS_PIPE(3),                            /* data-in */
	EP(0x04, BULK, 1024, 0),
	SSC(15, 0x05, 0),
	UAS_PIPE(4),                            /* data-out */
};
/* clang-format on */
static const struct mg_cat_iface hdd_uas_ifaces[] = {{0, 0x08, 0x06, 0x50, 2}};
DEVICE(hdd_uas, .key = "hdd_uas", .description = "USB HDD with UAS (Seagate Expansion)",
       .vendor = 0x0bc2, .product = 0x2322, .bcd_device = 0x0708, .bcd_usb = 0x0300,
       .manufacturer = "Seagate", .product_name = "Expansion", .serial = "NAAB1234",
       .speed = "5000", .max_power = "896mA", .config_value = 1);

/* Genesys Logic GL3224 SD/microSD reader, USB 3.0. */
/* clang-format off */
static const uint8_t sd_reader_desc[] = {
	DEV(0x0300, 0x00, 0x00, 0x00, 9, 0x05e3, 0x0749, 0x1532, 3, 4, 5, 1),
	CFG(44, 1, 1, 0, 0x80, 112),
	IFC(0, 0, 2, 0x08, 0x06, 0x50, 0),      /* SCSI, BOT */
	EP(0x81, BULK, 1024, 0),                /* bulk IN */
	SSC(4, 0, 0),
	EP(0x02, BULK, 1024, 0),                /* bulk OUT */
	SSC(4, 0, 0),
};
/* clang-format on */
static const struct mg_cat_iface sd_reader_ifaces[] = {{0, 0x08, 0x06, 0x50, 2}};
DEVICE(sd_reader, .key = "sd_reader", .description = "SD card reader (Genesys Logic GL3224)",
       .vendor = 0x05e3, .product = 0x0749, .bcd_device = 0x1532, .bcd_usb = 0x0300,
       .manufacturer = "Generic", .product_name = "USB3.0 Card Reader", .serial = "000000001532",
       .speed = "5000", .max_power = "896mA", .config_value = 1);

/* ---- phones ---- */

/* Pixel 7 in "File transfer" mode with USB debugging: MTP + ADB (Android gadget). */
/* clang-format off */
static const uint8_t phone_mtp_desc[] = {
	DEV(0x0210, 0x00, 0x00, 0x00, 64, 0x18d1, 0x4ee2, 0x0440, 1, 2, 3, 1),
	CFG(62, 2, 1, 0, 0x80, 250),            /* 500 mA */
	IFC(0, 0, 3, 0x06, 0x01, 0x01, 5),      /* MTP (still image) */
	EP(0x81, BULK, 512, 0),                 /* bulk IN */
	EP(0x01, BULK, 512, 0),                 /* bulk OUT */
	EP(0x82, INTR, 28, 6),                  /* events */
	IFC(1, 0, 2, 0xff, 0x42, 0x01, 6),      /* ADB */
	EP(0x02, BULK, 512, 0),                 /* bulk OUT */
	EP(0x83, BULK, 512, 0),                 /* bulk IN */
};
/* clang-format on */
static const struct mg_cat_iface phone_mtp_ifaces[] = {{0, 0x06, 0x01, 0x01, 3},
                                                       {1, 0xff, 0x42, 0x01, 2}};
DEVICE(phone_mtp, .key = "phone_mtp", .description = "Android phone in MTP mode with ADB",
       .vendor = 0x18d1, .product = 0x4ee2, .bcd_device = 0x0440, .bcd_usb = 0x0210,
       .manufacturer = "Google", .product_name = "Pixel 7", .serial = "28011FDH2000JN",
       .speed = "480", .max_power = "500mA", .config_value = 1);

/*
 * The same phone tethering: RNDIS with the wireless-controller class Android sets
 * (drivers/usb/gadget/function/f_rndis.c, wceis), an IAD over control + data.
 */
/* clang-format off */
static const uint8_t phone_rndis_desc[] = {
	DEV(0x0210, 0xef, 0x02, 0x01, 64, 0x18d1, 0x4ee3, 0x0440, 1, 2, 3, 1), /* misc/IAD */
	CFG(75, 2, 1, 0, 0x80, 250),
	IAD(0, 2, 0xe0, 0x01, 0x03, 7),         /* RNDIS function: 0 and 1 */
	IFC(0, 0, 1, 0xe0, 0x01, 0x03, 5),      /* RNDIS control */
	CDC_HEADER(0x0110),
	CDC_CALL_MGMT(0x00, 1),
	CDC_ACM(0x00),
	CDC_UNION(0, 1),
	EP(0x81, INTR, 8, 9),                   /* notification */
	IFC(1, 0, 2, 0x0a, 0x00, 0x00, 6),      /* CDC data */
	EP(0x82, BULK, 512, 0),
	EP(0x01, BULK, 512, 0),
};
/* clang-format on */
static const struct mg_cat_iface phone_rndis_ifaces[] = {{0, 0xe0, 0x01, 0x03, 1},
                                                         {1, 0x0a, 0x00, 0x00, 2}};
DEVICE(phone_rndis, .key = "phone_rndis", .description = "Android phone in RNDIS tethering mode",
       .vendor = 0x18d1, .product = 0x4ee3, .bcd_device = 0x0440, .bcd_usb = 0x0210,
       .manufacturer = "Google", .product_name = "Pixel 7", .serial = "28011FDH2000JN",
       .speed = "480", .max_power = "500mA", .config_value = 1);

/* ---- network ---- */

/*
 * Realtek RTL8153 gigabit adapter: configuration 1 vendor-specific (r8152 driver),
 * configuration 2 CDC ECM (cdc_ether); the kernel picks 1.
 */
/* clang-format off */
static const uint8_t eth_rtl8153_desc[] = {
	DEV(0x0300, 0x00, 0x00, 0x00, 9, 0x0bda, 0x8153, 0x3000, 1, 2, 6, 2), /* 2 configs */
	CFG(57, 1, 1, 0, 0xa0, 36),             /* 1: vendor-specific, 288 mA */
	IFC(0, 0, 3, 0xff, 0xff, 0x00, 0),
	EP(0x81, BULK, 1024, 0),
	SSC(3, 0, 0),
	EP(0x02, BULK, 1024, 0),
	SSC(3, 0, 0),
	EP(0x83, INTR, 2, 8),                   /* link status */
	SSC(0, 0, 2),
	CFG(98, 2, 2, 0, 0xa0, 36),             /* 2: CDC ECM */
	IFC(0, 0, 1, 0x02, 0x06, 0x00, 5),      /* ECM control */
	CDC_HEADER(0x0110),
	CDC_UNION(0, 1),
	CDC_ETHER(3, 0, 1514, 0, 0),            /* MAC in string 3 */
	EP(0x83, INTR, 16, 8),                  /* notification */
	SSC(0, 0, 16),
	IFC(1, 0, 0, 0x0a, 0x00, 0x00, 0),      /* data, idle */
	IFC(1, 1, 2, 0x0a, 0x00, 0x00, 0),      /* data, active */
	EP(0x81, BULK, 1024, 0),
	SSC(3, 0, 0),
	EP(0x02, BULK, 1024, 0),
	SSC(3, 0, 0),
};
/* clang-format on */
static const struct mg_cat_iface eth_rtl8153_ifaces[] = {{0, 0xff, 0xff, 0x00, 3}};
DEVICE(eth_rtl8153, .key = "eth_rtl8153", .description = "USB Ethernet adapter (Realtek RTL8153)",
       .vendor = 0x0bda, .product = 0x8153, .bcd_device = 0x3000, .bcd_usb = 0x0300,
       .manufacturer = "Realtek", .product_name = "USB 10/100/1000 LAN", .serial = "000001",
       .speed = "5000", .max_power = "288mA", .config_value = 1);

/* Realtek RTL8812BU 802.11ac dongle (rtw88_8822bu), one vendor interface. */
/* clang-format off */
static const uint8_t wifi_rtl8812bu_desc[] = {
	DEV(0x0210, 0x00, 0x00, 0x00, 64, 0x0bda, 0xb812, 0x0210, 1, 2, 3, 1),
	CFG(53, 1, 1, 0, 0x80, 250),            /* 500 mA */
	IFC(0, 0, 5, 0xff, 0xff, 0xff, 2),      /* vendor */
	EP(0x84, BULK, 512, 0),                 /* rx */
	EP(0x05, BULK, 512, 0),                 /* tx */
	EP(0x06, BULK, 512, 0),                 /* tx */
	EP(0x87, INTR, 64, 3),                  /* interrupt */
	EP(0x08, BULK, 512, 0),                 /* tx */
};
/* clang-format on */
static const struct mg_cat_iface wifi_rtl8812bu_ifaces[] = {{0, 0xff, 0xff, 0xff, 5}};
DEVICE(wifi_rtl8812bu, .key = "wifi_rtl8812bu", .description = "Wi-Fi dongle (Realtek RTL8812BU)",
       .vendor = 0x0bda, .product = 0xb812, .bcd_device = 0x0210, .bcd_usb = 0x0210,
       .manufacturer = "Realtek", .product_name = "802.11ac NIC", .serial = "123456",
       .speed = "480", .max_power = "500mA", .config_value = 1);

/*
 * CSR8510 A10 Bluetooth dongle: HCI events and ACL on interface 0, SCO on interface 1 with
 * isochronous alternate settings 0-5 (Bluetooth Core 5.3, Vol 4, Part B, 2.1.1).
 */
/* clang-format off */
static const uint8_t bt_csr_desc[] = {
	DEV(0x0200, 0xe0, 0x01, 0x01, 64, 0x0a12, 0x0001, 0x8891, 0, 2, 0, 1), /* wireless/BT */
	CFG(177, 2, 1, 0, 0xe0, 50),            /* 100 mA */
	IFC(0, 0, 3, 0xe0, 0x01, 0x01, 0),      /* HCI */
	EP(0x81, INTR, 16, 1),                  /* events */
	EP(0x02, BULK, 64, 1),                  /* ACL out */
	EP(0x82, BULK, 64, 1),                  /* ACL in */
	IFC(1, 0, 2, 0xe0, 0x01, 0x01, 0),      /* SCO, alt 0 */
	EP(0x03, ISO, 0, 1),
	EP(0x83, ISO, 0, 1),
	IFC(1, 1, 2, 0xe0, 0x01, 0x01, 0),      /* SCO, 1 voice */
	EP(0x03, ISO, 9, 1),
	EP(0x83, ISO, 9, 1),
	IFC(1, 2, 2, 0xe0, 0x01, 0x01, 0),
	EP(0x03, ISO, 17, 1),
	EP(0x83, ISO, 17, 1),
	IFC(1, 3, 2, 0xe0, 0x01, 0x01, 0),
	EP(0x03, ISO, 25, 1),
	EP(0x83, ISO, 25, 1),
	IFC(1, 4, 2, 0xe0, 0x01, 0x01, 0),
	EP(0x03, ISO, 33, 1),
	EP(0x83, ISO, 33, 1),
	IFC(1, 5, 2, 0xe0, 0x01, 0x01, 0),
	EP(0x03, ISO, 49, 1),
	EP(0x83, ISO, 49, 1),
};
/* clang-format on */
static const struct mg_cat_iface bt_csr_ifaces[] = {{0, 0xe0, 0x01, 0x01, 3},
                                                    {1, 0xe0, 0x01, 0x01, 2}};
DEVICE(bt_csr, .key = "bt_csr", .description = "Bluetooth adapter (CSR8510 A10)", .vendor = 0x0a12,
       .product = 0x0001, .bcd_device = 0x8891, .bcd_usb = 0x0200, .manufacturer = NULL,
       .product_name = "CSR8510 A10", .serial = NULL, .speed = "12", .max_power = "100mA",
       .config_value = 1);

/* ---- input and security devices ---- */

/* Logitech K120: boot keyboard + consumer-control interface, low speed. */
/* clang-format off */
static const uint8_t keyboard_desc[] = {
	DEV(0x0110, 0x00, 0x00, 0x00, 8, 0x046d, 0xc31c, 0x6410, 1, 2, 0, 1),
	CFG(59, 2, 1, 0, 0xa0, 45),             /* 90 mA */
	IFC(0, 0, 1, 0x03, 0x01, 0x01, 0),      /* boot keyboard */
	HID(0x0110, 0, 65),
	EP(0x81, INTR, 8, 10),
	IFC(1, 0, 1, 0x03, 0x00, 0x00, 0),      /* media keys */
	HID(0x0110, 0, 159),
	EP(0x82, INTR, 8, 255),
};
/* clang-format on */
static const struct mg_cat_iface keyboard_ifaces[] = {{0, 0x03, 0x01, 0x01, 1},
                                                      {1, 0x03, 0x00, 0x00, 1}};
DEVICE(keyboard, .key = "keyboard", .description = "keyboard (Logitech K120)", .vendor = 0x046d,
       .product = 0xc31c, .bcd_device = 0x6410, .bcd_usb = 0x0110, .manufacturer = "Logitech",
       .product_name = "USB Keyboard", .serial = NULL, .speed = "1.5", .max_power = "90mA",
       .config_value = 1);

/* Logitech B100 optical mouse. */
/* clang-format off */
static const uint8_t mouse_desc[] = {
	DEV(0x0200, 0x00, 0x00, 0x00, 8, 0x046d, 0xc077, 0x7200, 1, 2, 0, 1),
	CFG(34, 1, 1, 0, 0xa0, 50),             /* 100 mA */
	IFC(0, 0, 1, 0x03, 0x01, 0x02, 0),      /* boot mouse */
	HID(0x0111, 0, 67),
	EP(0x81, INTR, 4, 10),
};
/* clang-format on */
static const struct mg_cat_iface mouse_ifaces[] = {{0, 0x03, 0x01, 0x02, 1}};
DEVICE(mouse, .key = "mouse", .description = "mouse (Logitech B100)", .vendor = 0x046d,
       .product = 0xc077, .bcd_device = 0x7200, .bcd_usb = 0x0200, .manufacturer = "Logitech",
       .product_name = "USB Optical Mouse", .serial = NULL, .speed = "1.5", .max_power = "100mA",
       .config_value = 1);

/* PixArt no-name mouse: no serial number, sold by the thousand with the same ids. */
/* clang-format off */
static const uint8_t mouse_cheap_desc[] = {
	DEV(0x0200, 0x00, 0x00, 0x00, 8, 0x093a, 0x2510, 0x0100, 1, 2, 0, 1),
	CFG(34, 1, 1, 0, 0xa0, 50),
	IFC(0, 0, 1, 0x03, 0x01, 0x02, 0),      /* boot mouse */
	HID(0x0111, 0, 52),
	EP(0x81, INTR, 4, 10),
};
/* clang-format on */
static const struct mg_cat_iface mouse_cheap_ifaces[] = {{0, 0x03, 0x01, 0x02, 1}};
DEVICE(mouse_cheap, .key = "mouse_cheap", .description = "no-name mouse without serial (PixArt)",
       .vendor = 0x093a, .product = 0x2510, .bcd_device = 0x0100, .bcd_usb = 0x0200,
       .manufacturer = "PixArt", .product_name = "USB Optical Mouse", .serial = NULL,
       .speed = "1.5", .max_power = "100mA", .config_value = 1);

/* Security Key by Yubico: FIDO2/U2F only, CTAPHID on a usage-page 0xF1D0 HID interface. */
/* clang-format off */
static const uint8_t fido_key_desc[] = {
	DEV(0x0200, 0x00, 0x00, 0x00, 64, 0x1050, 0x0120, 0x0526, 1, 2, 0, 1),
	CFG(41, 1, 1, 0, 0x80, 15),             /* 30 mA */
	IFC(0, 0, 2, 0x03, 0x00, 0x00, 0),      /* FIDO HID */
	HID(0x0110, 0, 34),
	EP(0x04, INTR, 64, 5),                  /* out */
	EP(0x84, INTR, 64, 5),                  /* in */
};
/* clang-format on */
static const struct mg_cat_iface fido_key_ifaces[] = {{0, 0x03, 0x00, 0x00, 2}};
DEVICE(fido_key, .key = "fido_key", .description = "FIDO2 security key (Yubico Security Key)",
       .vendor = 0x1050, .product = 0x0120, .bcd_device = 0x0526, .bcd_usb = 0x0200,
       .manufacturer = "Yubico", .product_name = "Security Key by Yubico", .serial = NULL,
       .speed = "12", .max_power = "30mA", .config_value = 1);

/* YubiKey 5 NFC: OTP keyboard + FIDO + CCID (PIV, OpenPGP). */
/* clang-format off */
static const uint8_t yubikey5_desc[] = {
	DEV(0x0200, 0x00, 0x00, 0x00, 64, 0x1050, 0x0407, 0x0571, 1, 2, 0, 1),
	CFG(143, 3, 1, 0, 0x80, 15),            /* 30 mA */
	IFC(0, 0, 1, 0x03, 0x01, 0x01, 0),      /* OTP keyboard */
	HID(0x0111, 0, 71),
	EP(0x81, INTR, 8, 10),
	IFC(1, 0, 2, 0x03, 0x00, 0x00, 0),      /* FIDO */
	HID(0x0111, 0, 34),
	EP(0x04, INTR, 64, 2),
	EP(0x84, INTR, 64, 2),
	IFC(2, 0, 2, 0x0b, 0x00, 0x00, 0),      /* CCID: PIV, OpenPGP */
	CCID(2, 4000, 4000, 9600, 9600, 0, 254, 0x000400fe, 3072, 0xff, 0xff), /* T=1, ext APDU */
	EP(0x02, BULK, 64, 0),
	EP(0x82, BULK, 64, 0),
};
/* clang-format on */
static const struct mg_cat_iface yubikey5_ifaces[] = {
    {0, 0x03, 0x01, 0x01, 1}, {1, 0x03, 0x00, 0x00, 2}, {2, 0x0b, 0x00, 0x00, 2}};
DEVICE(yubikey5, .key = "yubikey5", .description = "YubiKey 5 NFC (OTP + FIDO + CCID)",
       .vendor = 0x1050, .product = 0x0407, .bcd_device = 0x0571, .bcd_usb = 0x0200,
       .manufacturer = "Yubico", .product_name = "YubiKey OTP+FIDO+CCID", .serial = NULL,
       .speed = "12", .max_power = "30mA", .config_value = 1);

/* SCM Microsystems SCR3310 v2.0: the contact reader municipalities use for My Number cards. */
/* clang-format off */
static const uint8_t ccid_reader_desc[] = {
	DEV(0x0110, 0x00, 0x00, 0x00, 16, 0x04e6, 0x5116, 0x0502, 1, 2, 5, 1),
	CFG(93, 1, 1, 0, 0xa0, 50),             /* 100 mA */
	IFC(0, 0, 3, 0x0b, 0x00, 0x00, 0),      /* CCID */
	CCID(3, 4800, 4800, 12903, 825806, 53, 254, 0x000100ba, 271, 0, 0), /* T=0/1, TPDU */
	EP(0x01, BULK, 64, 0),                  /* commands */
	EP(0x82, BULK, 64, 0),                  /* responses */
	EP(0x83, INTR, 4, 16),                  /* card inserted/removed */
};
/* clang-format on */
static const struct mg_cat_iface ccid_reader_ifaces[] = {{0, 0x0b, 0x00, 0x00, 3}};
DEVICE(ccid_reader, .key = "ccid_reader",
       .description = "CCID smart-card reader (SCM SCR3310 v2.0, My Number card)", .vendor = 0x04e6,
       .product = 0x5116, .bcd_device = 0x0502, .bcd_usb = 0x0110,
       .manufacturer = "SCM Microsystems Inc.", .product_name = "SCR3310 v2.0 USB SC Reader",
       .serial = "21120844308162", .speed = "12", .max_power = "100mA", .config_value = 1);

/* A keyboard with a built-in card reader: keyboard + media keys + mass storage. */
/* clang-format off */
static const uint8_t keyboard_storage_desc[] = {
	DEV(0x0200, 0x00, 0x00, 0x00, 64, 0x1a2c, 0x0e24, 0x0110, 1, 2, 0, 1),
	CFG(82, 3, 1, 0, 0xa0, 50),
	IFC(0, 0, 1, 0x03, 0x01, 0x01, 0),      /* boot keyboard */
	HID(0x0110, 0, 62),
	EP(0x81, INTR, 8, 10),
	IFC(1, 0, 1, 0x03, 0x00, 0x00, 0),      /* media keys */
	HID(0x0110, 0, 177),
	EP(0x82, INTR, 16, 10),
	IFC(2, 0, 2, 0x08, 0x06, 0x50, 0),      /* card reader */
	EP(0x83, BULK, 64, 0),
	EP(0x04, BULK, 64, 0),
};
/* clang-format on */
static const struct mg_cat_iface keyboard_storage_ifaces[] = {
    {0, 0x03, 0x01, 0x01, 1}, {1, 0x03, 0x00, 0x00, 1}, {2, 0x08, 0x06, 0x50, 2}};
DEVICE(keyboard_storage, .key = "keyboard_storage",
       .description = "keyboard with a built-in card reader (HID + storage)", .vendor = 0x1a2c,
       .product = 0x0e24, .bcd_device = 0x0110, .bcd_usb = 0x0200, .manufacturer = "SEMICO",
       .product_name = "USB Keyboard", .serial = NULL, .speed = "12", .max_power = "100mA",
       .config_value = 1);

/* "BadUSB": a programmable board (pid.codes test id) posing as a disk that also types. */
/* clang-format off */
static const uint8_t badusb_desc[] = {
	DEV(0x0200, 0x00, 0x00, 0x00, 64, 0x1209, 0x0001, 0x0100, 1, 2, 0, 1),
	CFG(57, 2, 1, 0, 0x80, 50),
	IFC(0, 0, 2, 0x08, 0x06, 0x50, 0),      /* storage */
	EP(0x81, BULK, 64, 0),
	EP(0x02, BULK, 64, 0),
	IFC(1, 0, 1, 0x03, 0x01, 0x01, 0),      /* keyboard */
	HID(0x0111, 0, 63),
	EP(0x83, INTR, 8, 1),                   /* 1 ms polling */
};
/* clang-format on */
static const struct mg_cat_iface badusb_ifaces[] = {{0, 0x08, 0x06, 0x50, 2},
                                                    {1, 0x03, 0x01, 0x01, 1}};
DEVICE(badusb, .key = "badusb", .description = "BadUSB: storage + keyboard with a generic name",
       .vendor = 0x1209, .product = 0x0001, .bcd_device = 0x0100, .bcd_usb = 0x0200,
       .manufacturer = "Generic", .product_name = "USB Disk", .serial = NULL, .speed = "12",
       .max_power = "100mA", .config_value = 1);

/* ---- hub, printer, vendor-specific ---- */

/* Terminus FE2.1 multi-TT USB 2.0 hub (alt 0: single TT, alt 1: multi TT). */
/* clang-format off */
static const uint8_t hub_desc[] = {
	DEV(0x0200, 0x09, 0x00, 0x02, 64, 0x1a40, 0x0201, 0x0100, 0, 1, 0, 1), /* multi TT */
	CFG(41, 1, 1, 0, 0xe0, 50),
	IFC(0, 0, 1, 0x09, 0x00, 0x01, 0),      /* single TT */
	EP(0x81, INTR, 1, 12),
	IFC(0, 1, 1, 0x09, 0x00, 0x02, 0),      /* multi TT */
	EP(0x81, INTR, 1, 12),
};
/* clang-format on */
static const struct mg_cat_iface hub_ifaces[] = {{0, 0x09, 0x00, 0x01, 1}};
DEVICE(hub, .key = "hub", .description = "USB 2.0 hub (Terminus FE2.1, multi TT)", .vendor = 0x1a40,
       .product = 0x0201, .bcd_device = 0x0100, .bcd_usb = 0x0200, .manufacturer = NULL,
       .product_name = "USB 2.0 Hub [MTT]", .serial = NULL, .speed = "480", .max_power = "100mA",
       .config_value = 1, .maxchild = 7);

/* HP LaserJet 1020, bidirectional printer class. */
/* clang-format off */
static const uint8_t printer_desc[] = {
	DEV(0x0200, 0x00, 0x00, 0x00, 64, 0x03f0, 0x2b17, 0x0100, 1, 2, 3, 1),
	CFG(32, 1, 1, 0, 0xc0, 1),              /* self-powered */
	IFC(0, 0, 2, 0x07, 0x01, 0x02, 0),      /* printer, bidir */
	EP(0x01, BULK, 64, 0),
	EP(0x81, BULK, 64, 0),
};
/* clang-format on */
static const struct mg_cat_iface printer_ifaces[] = {{0, 0x07, 0x01, 0x02, 2}};
DEVICE(printer, .key = "printer", .description = "printer (HP LaserJet 1020)", .vendor = 0x03f0,
       .product = 0x2b17, .bcd_device = 0x0100, .bcd_usb = 0x0200,
       .manufacturer = "Hewlett-Packard", .product_name = "HP LaserJet 1020", .serial = "FN16VKB",
       .speed = "12", .max_power = "2mA", .config_value = 1);

/* Sony PaSoRi RC-S380: NFC reader (also used for My Number cards), vendor-specific. */
/* clang-format off */
static const uint8_t vendor_pasori_desc[] = {
	DEV(0x0200, 0x00, 0x00, 0x00, 64, 0x054c, 0x06c3, 0x0111, 1, 2, 0, 1),
	CFG(32, 1, 1, 0, 0x80, 250),
	IFC(0, 0, 2, 0xff, 0xff, 0xff, 0),      /* vendor */
	EP(0x81, BULK, 64, 0),
	EP(0x02, BULK, 64, 0),
};
/* clang-format on */
static const struct mg_cat_iface vendor_pasori_ifaces[] = {{0, 0xff, 0xff, 0xff, 2}};
DEVICE(vendor_pasori, .key = "vendor_pasori",
       .description = "vendor-specific device (Sony PaSoRi RC-S380 NFC reader)", .vendor = 0x054c,
       .product = 0x06c3, .bcd_device = 0x0111, .bcd_usb = 0x0200, .manufacturer = "SONY",
       .product_name = "RC-S380/P", .serial = NULL, .speed = "12", .max_power = "500mA",
       .config_value = 1);

const struct mg_cat_device *const mg_cat_all[] = {
    &rh2,       &rh3,         &flash_sandisk, &flash_kingston, &hdd_uas,     &sd_reader,
    &phone_mtp, &phone_rndis, &eth_rtl8153,   &wifi_rtl8812bu, &bt_csr,      &keyboard,
    &mouse,     &mouse_cheap, &fido_key,      &yubikey5,       &ccid_reader, &keyboard_storage,
    &badusb,    &hub,         &printer,       &vendor_pasori,  NULL,
};

const struct mg_cat_device *mg_cat_find(const char *key)
{
	for (size_t i = 0; mg_cat_all[i]; i++)
		if (strcmp(mg_cat_all[i]->key, key) == 0)
			return mg_cat_all[i];
	return NULL;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		snprintf(why, whylen, __VA_ARGS__);                                                \
		return -1;                                                                         \
	} while (0)

/* Checks the configuration bundle cfg[0..total): interface count and, for the active one,
 * the sysfs interface list. */
static int check_config(const struct mg_cat_device *dev, const uint8_t *cfg, size_t total,
                        char *why, size_t whylen)
{
	bool seen[256] = {false};
	unsigned distinct = 0;
	size_t alt0 = 0;
	bool active = cfg[5] == dev->config_value;
	for (size_t off = 0; off < total; off += cfg[off]) {
		const uint8_t *d = cfg + off;
		if (d[1] != 0x04)
			continue;
		if (!seen[d[2]]) {
			seen[d[2]] = true;
			distinct++;
		}
		if (!active || d[3] != 0)
			continue;
		if (alt0 >= dev->n_ifaces)
			FAIL("%s: more interfaces than listed", dev->key);
		const struct mg_cat_iface *it = &dev->ifaces[alt0++];
		if (it->number != d[2] || it->cls != d[5] || it->sub != d[6] || it->proto != d[7] ||
		    it->num_endpoints != d[4])
			FAIL("%s: interface %u differs from its listing", dev->key, d[2]);
	}
	if (distinct != cfg[4])
		FAIL("%s: bNumInterfaces %u, found %u", dev->key, cfg[4], distinct);
	if (active && alt0 != dev->n_ifaces)
		FAIL("%s: %zu interfaces listed, %zu described", dev->key, dev->n_ifaces, alt0);
	return 0;
}

int mg_cat_check(const struct mg_cat_device *dev, char *why, size_t whylen)
{
	const uint8_t *b = dev->descriptors;
	size_t len = dev->descriptors_len;
	if (len < 18 || b[0] != 18 || b[1] != 0x01)
		FAIL("%s: no device descriptor first", dev->key);
	if (le16(b + 2) != dev->bcd_usb || le16(b + 8) != dev->vendor ||
	    le16(b + 10) != dev->product || le16(b + 12) != dev->bcd_device)
		FAIL("%s: device descriptor differs from the entry", dev->key);
	if ((b[14] != 0) != (dev->manufacturer != NULL) ||
	    (b[15] != 0) != (dev->product_name != NULL) || (b[16] != 0) != (dev->serial != NULL))
		FAIL("%s: string indexes differ from the strings given", dev->key);
	for (size_t off = 0; off < len;) {
		if (len - off < 2 || b[off] < 2 || b[off] > len - off)
			FAIL("%s: bad bLength at offset %zu", dev->key, off);
		off += b[off];
	}
	unsigned configs = 0;
	bool active_seen = false;
	size_t off = 18;
	while (off < len) {
		const uint8_t *cfg = b + off;
		if (cfg[0] != 9 || cfg[1] != 0x02)
			FAIL("%s: expected a configuration descriptor at offset %zu", dev->key,
			     off);
		size_t total = le16(cfg + 2);
		/* The bundle ends where the next configuration starts, or at the end. */
		size_t end = off + cfg[0];
		while (end < len && b[end + 1] != 0x02)
			end += b[end];
		if (total != end - off)
			FAIL("%s: wTotalLength %zu, bundle of %zu bytes", dev->key, total,
			     end - off);
		if (check_config(dev, cfg, total, why, whylen) < 0)
			return -1;
		active_seen |= cfg[5] == dev->config_value;
		configs++;
		off = end;
	}
	if (configs != b[17])
		FAIL("%s: bNumConfigurations %u, found %u", dev->key, b[17], configs);
	if (!active_seen)
		FAIL("%s: no configuration %u", dev->key, dev->config_value);
	return 0;
}
