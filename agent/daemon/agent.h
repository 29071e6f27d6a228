/*
 * The agent's core: the table of present USB devices, their decisions, and what happens on
 * add, remove, reload and operator overrides. Independent of libudev (monitor.c feeds it)
 * and of the control socket (ctl_server.c calls it). Single-threaded.
 */
#ifndef MG_AGENT_H
#define MG_AGENT_H

#include <jansson.h>
#include <stdbool.h>

#include "agent_conf.h"
#include "eventlog.h"
#include "rules.h"
#include "uevent.h"

struct mg_agent;

/* Takes ownership of conf's contents (conf is zeroed), rules and log. */
int mg_agent_new(struct mg_agent_conf *conf, struct mg_ruleset *rules, struct mg_eventlog *log,
                 struct mg_agent **out);
void mg_agent_free(struct mg_agent **agent);

const struct mg_agent_conf *mg_agent_conf(const struct mg_agent *agent);

/* How rules files are opened on reload (owner; max_size 0: the rule engine's cap). The
 * default is root-owned, not group/world writable. */
struct mg_file_rules;
void mg_agent_set_file_rules(struct mg_agent *agent, const struct mg_file_rules *rules);

/*
 * The start-up scan: between begin and end, decisions are written to the event log without
 * waiting for the disk each time; end makes them durable at once (one fdatasync), and if
 * that fails, undoes the scan's allows. 0 or negative errno.
 */
void mg_agent_scan_begin(struct mg_agent *agent);
int mg_agent_scan_end(struct mg_agent *agent);

/* Appends an agent.started event (version, pid). */
int mg_agent_started(struct mg_agent *agent);
int mg_agent_stopping(struct mg_agent *agent, const char *reason);

/*
 * A USB device appeared (at_start: found by the start-up scan, so present_device_policy
 * applies; otherwise hot-plugged). Decides it, writes the kernel state, records the events.
 * Errors are recorded in the device's entry and its event; the return value is negative
 * only for ENOMEM.
 */
int mg_agent_device_added(struct mg_agent *agent, const char *devpath, bool at_start);
int mg_agent_device_removed(struct mg_agent *agent, const char *devpath);
/* A USB interface appeared: authorize it or not, by its device's decision. */
int mg_agent_interface_added(struct mg_agent *agent, const char *devpath);
/*
 * After lost uevents (socket overrun): a device found by the rescan is added (as
 * hot-plugged) only when it is not known, and known devices whose sysfs directory is gone
 * are removed. Decisions and overrides of known devices stay.
 */
int mg_agent_rescan_device(struct mg_agent *agent, const char *devpath);
int mg_agent_prune_vanished(struct mg_agent *agent);
/* Dispatches a classified uevent to the three functions above. */
int mg_agent_handle_uevent(struct mg_agent *agent, const struct mg_uevent *ev);

/*
 * Loads the rules again (rules_file, rules_dir) and, when they are valid, swaps them in and
 * re-decides every present device. A rules error leaves the old rules in force, records a
 * policy.rejected event and fills err. So does a rule set that would block a root hub, hub
 * or HID device that is present and allowed now (lock-out guard, lockout.h), unless force:
 * then -EPERM and err->msg names the devices (err->file empty). 0 or negative errno.
 */
int mg_agent_reload(struct mg_agent *agent, bool force, struct mg_rule_error *err);
/*
 * The lock-out check alone: how many present, allowed root hubs, hubs and HID devices rules
 * would block (by a rule or the implicit target; an operator override stays as it is);
 * their list in why.
 */
size_t mg_agent_lockout(const struct mg_agent *agent, const struct mg_ruleset *rules, char *why,
                        size_t whylen);
/* Same, with an already parsed rule set (taken). */
int mg_agent_swap_rules(struct mg_agent *agent, struct mg_ruleset *rules, const char *sha256);

/*
 * Central policy (issue 12): the rules of a verified bundle, version > 0 (the host's own
 * rules, then the global ones), put before rules_file and rules_dir; swapped in atomically
 * and every present device re-decided; a policy.applied event (version, bundle_sha256). On
 * an error (rules invalid, lock-out guard: central bundles are never forced) nothing changes,
 * why says what was wrong and the caller records policy.rejected. Version 0 withdraws the
 * central rules (an expired bundle: local rules only). 0 or negative errno.
 */
int mg_agent_set_central(struct mg_agent *agent, uint64_t version, const char *host_rules,
                         const char *all_rules, const char *bundle_sha256, char *why,
                         size_t whylen);
uint64_t mg_agent_central_version(const struct mg_agent *agent);
/* Records policy.applied or policy.rejected for a central bundle. */
int mg_agent_record_policy(struct mg_agent *agent, bool applied, uint64_t version,
                           const char *sha256, const char *reason);
/* The recorder, for the event pipeline (PAM events, upload alerts). */
struct mg_eventlog *mg_agent_eventlog(struct mg_agent *agent);
/* A present device by its id (for device requests): NULL when there is none. Fills the
 * request's device fields: vendor_id, product_id, serial, name, hash; *allowed. */
int mg_agent_device_identity(const struct mg_agent *agent, unsigned id, json_t **device,
                             bool *allowed);

/*
 * Operator override of one device until it is removed (mynaguardctl allow-device/
 * block-device). -ENOENT when no device has that id.
 */
int mg_agent_override(struct mg_agent *agent, unsigned id, enum mg_target target, const char *who);

/* JSON array of the present devices (see docs and mynaguardctl list-devices --json). */
json_t *mg_agent_list_devices(const struct mg_agent *agent);
/* JSON object: mode, rules count, devices by target, last event seq, ... */
json_t *mg_agent_status(const struct mg_agent *agent);
/*
 * The earliest expiry (microseconds since the epoch) of a rule that decided a present device,
 * or the next second at which a localtime() condition of the rules changes value, whichever
 * comes first; 0 when none. The daemon arms a timer for it, so a temporary permission ends on
 * time for a device that stays plugged in, and "the scanner only during office hours" opens
 * and closes on time.
 */
int64_t mg_agent_next_expiry(const struct mg_agent *agent);
/* Re-decides every device whose deciding rule expired at or before now_us (each decision
 * event names the expired rule), and every device whose deciding rule is another one now
 * that a localtime() window opened or closed. 0, or the first error. */
int mg_agent_expire(struct mg_agent *agent, int64_t now_us);

/*
 * One allow rule per present device (USBGuard generate-policy form); *out malloc'ed. As
 * usbguard generate-policy: via-port only for a device without a serial number (a device
 * with one stays allowed on another port), for every device when with_ports (its -p).
 */
int mg_agent_generate_policy(const struct mg_agent *agent, bool with_ports, char **out);

size_t mg_agent_device_count(const struct mg_agent *agent);

#endif
