set(MG_AGENT_USB_SOURCES usb/usb_desc.c usb/usb_hash.c)
