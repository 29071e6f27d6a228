/* Lock-out guard: the devices a rule change must not cut off (see lockout.h). */
#include "lockout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mg/utf8.h"

#define USB_CLASS_HID 0x03
#define USB_CLASS_HUB 0x09

static bool has_interface_class(const struct mg_device *dev, unsigned cls)
{
	for (size_t i = 0; i < dev->desc.n_ifaces; i++)
		if (dev->desc.ifaces[i].type.cls == cls)
			return true;
	return false;
}

const char *mg_lockout_kind(const struct mg_device *dev)
{
	if (!dev)
		return NULL;
	if (dev->root_hub)
		return "root hub";
	if (dev->desc.dev_class == USB_CLASS_HUB || has_interface_class(dev, USB_CLASS_HUB))
		return "hub";
	if (has_interface_class(dev, USB_CLASS_HID))
		return "HID";
	return NULL;
}

void mg_lockout_append(char *buf, size_t len, const struct mg_device *dev, const char *kind)
{
	if (!buf || len < 4 || !dev)
		return;
	size_t used = strlen(buf);
	if (used >= len - 4 || (used >= 3 && strcmp(buf + used - 3, "...") == 0))
		return;
	char *esc = mg_utf8_escape_terminal(dev->name ? dev->name : "");
	char name[96];
	snprintf(name, sizeof(name), "%s", esc ? esc : "?");
	free(esc);
	char item[256];
	int n = snprintf(item, sizeof(item), "%s%s (%s %s:%s%s%s%s)", used ? ", " : "",
	                 dev->port ? dev->port : "?", kind ? kind : "device", dev->vendor_id,
	                 dev->product_id, name[0] ? " \"" : "", name, name[0] ? "\"" : "");
	if (n < 0)
		return;
	if (used + (size_t)n + 4 > len) {
		snprintf(buf + used, len - used, "%s...", used ? ", " : "");
		return;
	}
	memcpy(buf + used, item, (size_t)n + 1);
}
