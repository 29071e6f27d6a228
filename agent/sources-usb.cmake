set(MG_AGENT_USB_SOURCES src/usb_desc.c src/usb_hash.c)
