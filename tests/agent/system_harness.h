/*
 * The harness of the agent system tests (test_agent_umockdev.c). A scenario ("sc") is a
 * umockdev testbed, a scratch directory (agent.conf 0600, rules, rules.d, state_dir, socket)
 * and one mynaguard-agent process spawned from the harness, so that it inherits the preload
 * and UMOCKDEV_DIR.
 *
 * Synchronisation, never a fixed sleep:
 *   - start-up and SIGHUP: sd_notify "READY=1" ("RELOADING=1" first) on our NOTIFY_SOCKET;
 *   - a decision: its record in the spool, <state_dir>/spool (inotify, bounded wait; each
 *     record is checked with the strict event parser and against the hash chain);
 *   - uevents without an event of their own (interfaces): sync_agent(), a sentinel uevent
 *     sent after them; the agent handles uevents in order.
 * Every wait is bounded (WAIT_MS). Failures are cmocka failures; those that involve the
 * agent print its log and events first.
 */
#ifndef MG_TEST_SYSTEM_HARNESS_H
#define MG_TEST_SYSTEM_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "testbed.h"
#include "usb_catalog.h"

#define WAIT_MS 8000 /* any single wait; a healthy run needs a few milliseconds */

struct sc {
	struct mg_tb *tb;
	char dir[64];
	char conf[128], rules[128], rules_dir[128], state[128], sock[128], events[160], log[128];
	char notify[128];
	int notify_fd;
	pid_t pid;             /* the agent, -1 when not running */
	bool enforce;          /* mode = enforce */
	json_t *evs;           /* every event read so far, in order */
	uint64_t last_seq;     /* of the last event read */
	uint8_t last_hash[32]; /* its chain hash */
	int ino_fd;
	bool spool_watched;
	bool allow_gaps; /* records may be acknowledged and deleted before they are read */
	/* pam_pending_file of agent.conf; "": <dir>/events.pending. The PAM module's state_dir
	 * (where it keeps that file) may not be under /dev/shm or /tmp (checked from / down). */
	char pam_pending[256];
	/* staff_db of agent.conf; "": <state_dir>/staff.db. The PAM module reads it with its
	 * safe-open rules (parents checked from / down), so a test that logs in with it puts it
	 * in the PAM harness's tree (test_staff_e2e.c). */
	char staff_db[256];
};

/* Reads MG_AGENT_BIN and MG_CTL_BIN. 0, or -1 with a message. */
int harness_init(void);

/* cmocka setup/teardown: a fresh scenario (testbed, directory); teardown kills the agent. */
int sc_setup(void **state);
int sc_teardown(void **state);

void dump_agent(struct sc *sc);
#define FAIL_WITH_LOG(sc, ...)                                                                     \
	do {                                                                                       \
		dump_agent(sc);                                                                    \
		fail_msg(__VA_ARGS__);                                                             \
	} while (0)

void write_file(const char *path, const char *text, mode_t mode);
/* The whole file, NUL-terminated and malloc'ed; NULL when it cannot be read. */
char *read_all(const char *path, size_t *len);

void write_rules(struct sc *sc, const char *text);
/* agent.conf: the scenario's paths, then extra (policy keys, mode). */
void write_conf(struct sc *sc, const char *extra);
/* Starts the agent and returns at once (no READY wait). */
void agent_spawn(struct sc *sc);
/* Waits for a notification line ("READY=1"). */
void wait_notify(struct sc *sc, const char *want);
/* write_rules + write_conf + agent_spawn + READY=1. */
void agent_start(struct sc *sc, const char *rules, const char *conf_extra);
/* SIGTERM: the agent must exit 0 and record agent.stopped. */
void agent_stop(struct sc *sc);

/* The event spool: read_events() appends new events (each checked by mg_event_from_json and
 * the hash chain). */
void read_events(struct sc *sc);
json_int_t ev_seq(const json_t *ev);
/* Dotted lookups ("device.syspath"); NULL when absent. */
const char *jstr(const json_t *o, const char *path);
const json_t *jget(const json_t *o, const char *path);
/* The seq of the last event read: later finds and waits look after it. */
json_int_t mark(struct sc *sc);
/* First event after `after` of type (NULL: any decision) about syspath (NULL: any device). */
json_t *find_event(struct sc *sc, const char *type, const char *syspath, json_int_t after);
json_t *wait_event(struct sc *sc, const char *type, const char *syspath, json_int_t after);
json_t *wait_decision(struct sc *sc, const char *syspath, json_int_t after);

/* Barrier: every uevent sent before it has been handled by the agent. */
void sync_agent(struct sc *sc);
/* The kernel's part after an `authorized` write (mg_tb_settle), then sync_agent(). */
void settle(struct sc *sc, const char *devpath);

/* mynaguardctl: exit status and output (English messages). */
struct run {
	int status;
	char *out, *err;
};
void run_free(struct run *r);
/* Runs mynaguardctl [--socket S] args... (args NULL-terminated). */
void ctl_argv(struct sc *sc, struct run *r, bool with_socket, const char *const *args);
#define CTL(sc, r, ...) ctl_argv(sc, r, true, (const char *const[]){__VA_ARGS__, NULL})
/* `list-devices --json`, parsed; the caller decrefs. */
json_t *list_devices(struct sc *sc);
json_t *listed(json_t *arr, const char *syspath);
unsigned listed_id(json_t *arr, const char *syspath);

/* Devices. */
const struct mg_cat_device *catalog(const char *key);
/*
 * Hot-plugs catalog device key at port (the kernel sets `authorized` from the root hub's
 * authorized_default), waits for the decision (device.inserted first), settles and syncs.
 * Returns the decision event; *devpath (optional) gets the DEVPATH.
 */
json_t *plug_opts(struct sc *sc, const char *key, const char *port, const struct mg_tb_opts *o,
                  const char **devpath);
json_t *plug(struct sc *sc, const char *key, const char *port, const char **devpath);
/* Unplugs and waits for device.removed. */
void unplug(struct sc *sc, const char *devpath);

/* Assertions on events and on the fake kernel's state. */
void assert_type(struct sc *sc, const json_t *ev, const char *type);
void assert_authorized(struct sc *sc, const char *devpath, int want);
void assert_iface(struct sc *sc, const char *devpath, unsigned n, int want);
void assert_attr(struct sc *sc, const char *devpath, const char *attr, const char *want);
void assert_strv(const json_t *arr, const char *const *want);
#define STRV(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NOSTRV    ((const char *const[]){NULL})
/* arr lists every interface descriptor of c as "cc:ss:pp", as events do. */
void assert_interfaces(const json_t *arr, const struct mg_cat_device *c);
/* The decision's rule: text and "<rules.conf>:<rule_line>", or none when text is NULL. */
void assert_rule(struct sc *sc, const json_t *ev, const char *text, unsigned rule_line);

#endif
