/*
 * The lock-out check without the agent: reads the USB devices present in sysfs (as
 * `mynaguardctl check-rules` does before an operator installs a rules file) and counts the
 * root hubs, hubs and HID devices that are authorized now and that rules would block.
 */
#ifndef MG_AGENT_LOCKOUT_SCAN_H
#define MG_AGENT_LOCKOUT_SCAN_H

#include <stddef.h>

#include "rules.h"

/*
 * Devices below sysfs_root ("/sys") whose `authorized` is 1, protected (lockout.h), and whose
 * target under rules (a match, or implicit when none) is not allow: their number in *count,
 * their list in why. Unreadable devices are skipped (the agent blocks them anyway).
 * 0 or negative errno (the bus directory cannot be read).
 */
int mg_lockout_scan(const char *sysfs_root, const struct mg_ruleset *rules, enum mg_target implicit,
                    size_t *count, char *why, size_t whylen);

#endif
