/* The agent core: device table, decisions, enforcement and their events. */
#include "agent.h"

#include <dirent.h>
#include <malloc.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "device.h"
#include "enforce.h"
#include "lockout.h"
#include "mg/log.h"
#include "mg/safe_open.h"
#include "mg/time.h"

#ifndef MYNAGUARD_VERSION
#define MYNAGUARD_VERSION "0.0.0"
#endif

#define SYSFS_ROOT "/sys"

struct agent_dev {
	unsigned id;
	char *devpath;
	int dirfd;                  /* O_RDONLY|O_DIRECTORY, open for the device's lifetime */
	struct mg_device *dev;      /* NULL when it could not be read */
	char *read_error;           /* why it could not be read */
	enum mg_target target;      /* decided target */
	const struct mg_rule *rule; /* deciding rule in the current rule set; NULL: implicit */
	bool has_override;
	enum mg_target override;
	char *operator;         /* who set the override */
	const char *reason;     /* why this target when no rule explains it (static text) */
	char *expired;          /* while re-deciding because its rule expired: which rule */
	bool applied;           /* kernel state written */
	char *apply_error;      /* why it could not be written */
	struct mg_strv blocked; /* interface names kept off */
};

/* The central policy in force (version 0: none): its rules, before the local files. */
struct agent_central {
	uint64_t version;
	char *host; /* this host's rules; NULL: none */
	char *all;  /* the rules for every host */
};

static void central_free(struct agent_central *c)
{
	free(c->host);
	free(c->all);
	memset(c, 0, sizeof(*c));
}

struct mg_agent {
	struct mg_agent_conf conf;
	struct agent_central central;
	struct mg_file_rules file_rules; /* how rules files are opened (owner, size) */
	struct mg_ruleset *rules;
	char rules_sha256[65];
	struct mg_eventlog *log;
	struct agent_dev **devs;
	size_t n, cap;
	unsigned next_id;
};

static void dev_free(struct agent_dev **pd)
{
	struct agent_dev *d = *pd;
	if (!d)
		return;
	if (d->dirfd >= 0)
		close(d->dirfd);
	free(d->devpath);
	mg_device_free(&d->dev);
	free(d->read_error);
	free(d->apply_error);
	free(d->operator);
	mg_strv_free(&d->blocked);
	free(d);
	*pd = NULL;
}

int mg_agent_new(struct mg_agent_conf *conf, struct mg_ruleset *rules, struct mg_eventlog *log,
                 struct mg_agent **out)
{
	struct mg_agent *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->conf = *conf;
	memset(conf, 0, sizeof(*conf));
	a->rules = rules;
	a->log = log;
	a->file_rules = mg_root_config_rules;
	a->file_rules.max_size = 0; /* the rule engine's own cap: large rule sets exist */
	a->next_id = 1;
	*out = a;
	return 0;
}

void mg_agent_free(struct mg_agent **pa)
{
	struct mg_agent *a = *pa;
	if (!a)
		return;
	for (size_t i = 0; i < a->n; i++)
		dev_free(&a->devs[i]);
	free(a->devs);
	mg_ruleset_free(&a->rules);
	central_free(&a->central);
	mg_eventlog_close(&a->log);
	mg_agent_conf_free(&a->conf);
	free(a);
	*pa = NULL;
}

const struct mg_agent_conf *mg_agent_conf(const struct mg_agent *a)
{
	return &a->conf;
}

void mg_agent_set_file_rules(struct mg_agent *a, const struct mg_file_rules *rules)
{
	a->file_rules = *rules;
}

void mg_agent_scan_begin(struct mg_agent *a)
{
	mg_eventlog_defer(a->log, true);
}

int mg_agent_scan_end(struct mg_agent *a)
{
	mg_eventlog_defer(a->log, false);
	int r = mg_eventlog_sync(a->log);
	if (r == 0)
		return 0;
	/* No allow without a durable record: the scan's allows are undone. */
	mg_log_errno(MG_LOG_ERR, r, "cannot make the start-up decisions durable in %s",
	             mg_eventlog_path(a->log));
	for (size_t i = 0; i < a->n; i++) {
		struct agent_dev *d = a->devs[i];
		if (d->target == MG_TARGET_ALLOW && a->conf.mode == MG_MODE_ENFORCE) {
			(void)mg_enforce_device(d->dirfd, MG_TARGET_BLOCK);
			d->target = MG_TARGET_BLOCK;
		}
	}
	return r;
}

struct mg_eventlog *mg_agent_eventlog(struct mg_agent *a)
{
	return a->log;
}

size_t mg_agent_device_count(const struct mg_agent *a)
{
	return a->n;
}

static struct agent_dev *find_dev(const struct mg_agent *a, const char *devpath)
{
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->devs[i]->devpath, devpath) == 0)
			return a->devs[i];
	return NULL;
}

static struct agent_dev *find_id(const struct mg_agent *a, unsigned id)
{
	for (size_t i = 0; i < a->n; i++)
		if (a->devs[i]->id == id)
			return a->devs[i];
	return NULL;
}

/* ---- events ---- */

static int record_sync(struct mg_agent *a, struct mg_event *ev, bool sync)
{
	int r = sync ? mg_eventlog_append(a->log, ev) : mg_eventlog_append_nosync(a->log, ev);
	if (r < 0)
		mg_log_errno(MG_LOG_ERR, r, "cannot record %s event in %s",
		             mg_event_type_name(ev->type), mg_eventlog_path(a->log));
	return r;
}

static int record(struct mg_agent *a, struct mg_event *ev)
{
	return record_sync(a, ev, true);
}

static int fill_device(struct mg_event *ev, const struct agent_dev *d)
{
	struct mg_event_device *ed = mg_event_device(ev);
	if (!ed)
		return -ENOMEM;
	int r = mg_set_str(&ed->syspath, d->devpath);
	const struct mg_device *dev = d->dev;
	if (r == 0 && !dev) {
		const char *slash = strrchr(d->devpath, '/');
		r = mg_set_str(&ed->port, slash ? slash + 1 : d->devpath);
	}
	if (r < 0 || !dev)
		return r;
	if ((r = mg_set_str(&ed->port, dev->port)) < 0 ||
	    (r = mg_set_str(&ed->vendor_id, dev->vendor_id)) < 0 ||
	    (r = mg_set_str(&ed->product_id, dev->product_id)) < 0 ||
	    (r = mg_set_str(&ed->serial, dev->serial[0] ? dev->serial : NULL)) < 0 ||
	    (r = mg_set_str(&ed->name, dev->name[0] ? dev->name : NULL)) < 0 ||
	    (r = mg_set_str(&ed->hash, dev->hash)) < 0 ||
	    (r = mg_set_str(&ed->parent_hash, dev->parent_hash)) < 0)
		return r;
	for (size_t i = 0; i < dev->desc.n_ifaces; i++) {
		char t[9];
		mg_usb_iftype_format(dev->desc.ifaces[i].type, t);
		if ((r = mg_strv_add(&ed->interfaces, t)) < 0)
			return r;
	}
	return 0;
}

static enum mg_event_type decision_type(enum mg_target t)
{
	return t == MG_TARGET_ALLOW   ? MG_EV_DEVICE_ALLOWED
	       : t == MG_TARGET_BLOCK ? MG_EV_DEVICE_BLOCKED
	                              : MG_EV_DEVICE_REJECTED;
}

/* Records the decision event (and device.suspicious when interfaces were kept off). */
static int record_decision(struct mg_agent *a, const struct agent_dev *d, enum mg_event_type type,
                           const char *error)
{
	struct mg_event *ev = mg_event_new(type);
	int r = -ENOMEM;
	if (!ev)
		return r;
	if ((r = fill_device(ev, d)) < 0)
		goto out;
	if (d->rule) {
		char source[MG_RULE_SOURCE_MAX];
		struct mg_event_rule *er = mg_event_rule(ev);
		if (!er || (r = mg_set_str(&er->text, mg_rule_text(d->rule))) < 0 ||
		    (r = mg_set_str(&er->source, mg_rule_source(d->rule, source, sizeof(source)))) <
		        0) {
			r = r < 0 ? r : -ENOMEM;
			goto out;
		}
	}
	struct mg_event_decision *dec = mg_event_decision(ev);
	r = -ENOMEM;
	if (!dec)
		goto out;
	if ((r = mg_set_str(&dec->target, mg_target_name(d->target))) < 0 ||
	    (r = mg_set_str(&dec->mode, a->conf.mode == MG_MODE_AUDIT ? "audit" : "enforce")) < 0 ||
	    (r = mg_strv_copy(&dec->blocked_interfaces, &d->blocked)) < 0 ||
	    (r = mg_set_str(&dec->error, error)) < 0 ||
	    (r = mg_set_str(&dec->reason, d->read_error ? d->read_error
	                                  : d->expired  ? d->expired
	                                                : d->reason)) < 0 ||
	    (r = mg_set_str(&dec->operator, d->has_override ? d->operator : NULL)) < 0)
		goto out;
	dec->applied = d->applied;
	r = record(a, ev);
out:
	mg_event_free(&ev);
	return r;
}

static int record_simple(struct mg_agent *a, const struct agent_dev *d, enum mg_event_type type)
{
	struct mg_event *ev = mg_event_new(type);
	if (!ev)
		return -ENOMEM;
	int r = fill_device(ev, d);
	/* device.inserted need not reach the disk before the decision: the decision's
	 * durable append covers it, and the device stays blocked until then anyway. */
	if (r == 0)
		r = record_sync(a, ev, type != MG_EV_DEVICE_INSERTED);
	mg_event_free(&ev);
	return r;
}

/* agent.started / agent.stopped with version, pid and reason. */
static int record_agent(struct mg_agent *a, enum mg_event_type type, const char *reason)
{
	struct mg_event *ev = mg_event_new(type);
	if (!ev)
		return -ENOMEM;
	struct mg_event_agent *ag = mg_event_agent(ev);
	int r = ag ? mg_set_str(&ag->version, MYNAGUARD_VERSION) : -ENOMEM;
	if (r == 0)
		r = mg_set_str(&ag->reason, reason);
	if (r == 0) {
		ag->pid = (uint64_t)getpid();
		r = record(a, ev);
	}
	mg_event_free(&ev);
	return r;
}

int mg_agent_started(struct mg_agent *a)
{
	return record_agent(a, MG_EV_AGENT_STARTED, NULL);
}

int mg_agent_stopping(struct mg_agent *a, const char *reason)
{
	return record_agent(a, MG_EV_AGENT_STOPPED, reason);
}

/* ---- interfaces ---- */

/*
 * Whether interface <cfg>.<ifnum> of d must stay off: some alternate setting of it has a
 * class in block_interfaces that the deciding rule does not name, or the descriptors do not
 * describe it at all (fail closed).
 */
static bool iface_blocked(const struct mg_agent *a, const struct agent_dev *d, unsigned cfg,
                          unsigned ifnum)
{
	if (!d->dev)
		return true;
	bool operator_allow = d->has_override && d->override == MG_TARGET_ALLOW;
	bool found = false;
	for (size_t i = 0; i < d->dev->desc.n_ifaces; i++) {
		const struct mg_usb_iface *it = &d->dev->desc.ifaces[i];
		if (it->config_value != cfg || it->number != ifnum)
			continue;
		found = true;
		if (!operator_allow &&
		    mg_agent_conf_blocks_iface(&a->conf, it->type.cls, it->type.sub,
		                               it->type.proto) &&
		    !(d->rule && mg_rule_names_interface(d->rule, it->type)))
			return true;
	}
	return !found;
}

/* The name interfaces of d start with: its port, or "<bus>-0" for root hub "usb<bus>". */
static void iface_prefix(const struct agent_dev *d, char *buf, size_t len)
{
	const char *port = strrchr(d->devpath, '/') + 1;
	if (strncmp(port, "usb", 3) == 0 && port[3] >= '0' && port[3] <= '9')
		snprintf(buf, len, "%s-0", port + 3);
	else
		snprintf(buf, len, "%s", port);
}

/* Parses "<port>:<cfg>.<ifnum>" for the device's port. -EINVAL when it is not one. */
static int parse_iface_name(const char *name, const char *port, unsigned *cfg, unsigned *ifnum)
{
	size_t plen = strlen(port);
	if (strncmp(name, port, plen) != 0 || name[plen] != ':')
		return -EINVAL;
	const char *p = name + plen + 1;
	unsigned v[2] = {0, 0};
	for (int f = 0; f < 2; f++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		unsigned x = 0;
		while (*p >= '0' && *p <= '9') {
			x = x * 10 + (unsigned)(*p - '0');
			if (x > 255)
				return -EINVAL;
			p++;
		}
		v[f] = x;
		if (f == 0 && *p++ != '.')
			return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;
	*cfg = v[0];
	*ifnum = v[1];
	return 0;
}

/* The interface names that block_interfaces keeps off, from the descriptors. */
static int compute_blocked(const struct mg_agent *a, struct agent_dev *d)
{
	mg_strv_free(&d->blocked);
	if (!d->dev || d->target != MG_TARGET_ALLOW)
		return 0;
	for (size_t i = 0; i < d->dev->desc.n_ifaces; i++) {
		const struct mg_usb_iface *it = &d->dev->desc.ifaces[i];
		if (!iface_blocked(a, d, it->config_value, it->number))
			continue;
		char name[300], prefix[64];
		iface_prefix(d, prefix, sizeof(prefix));
		snprintf(name, sizeof(name), "%s:%u.%u", prefix, it->config_value, it->number);
		if (mg_strv_contains(&d->blocked, name))
			continue;
		int r = mg_strv_add(&d->blocked, name);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Authorizes or deauthorizes one existing interface directory of d. */
static int apply_interface(const struct mg_agent *a, const struct agent_dev *d, const char *name)
{
	unsigned cfg, ifnum;
	char prefix[64];
	iface_prefix(d, prefix, sizeof(prefix));
	if (parse_iface_name(name, prefix, &cfg, &ifnum) < 0)
		return 0; /* not an interface of this device */
	bool allow = d->target == MG_TARGET_ALLOW && !iface_blocked(a, d, cfg, ifnum);
	int fd = openat(d->dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	int r = 0;
	bool authorized = false;
	if (a->conf.mode == MG_MODE_AUDIT) {
		/* Behave as without mynaguard: undo only the interface default. */
		if (mg_read_authorized(fd) == 0) {
			r = mg_enforce_interface(fd, true);
			authorized = r == 0;
		}
	} else {
		r = mg_enforce_interface(fd, allow);
		authorized = r == 0 && allow;
	}
	close(fd);
	/* An interface born unauthorized gets no driver until the kernel is asked to probe it. */
	if (authorized) {
		int p = mg_enforce_probe(name);
		if (p < 0)
			mg_log_errno(MG_LOG_WARNING, p,
			             "%s: cannot ask the kernel to bind a driver", name);
	}
	return r;
}

/* Applies the decision to every interface directory that exists now. */
static int apply_interfaces(const struct mg_agent *a, const struct agent_dev *d)
{
	int dfd = openat(d->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	DIR *dir = fdopendir(dfd);
	if (!dir) {
		int r = -errno;
		close(dfd);
		return r;
	}
	int first_error = 0;
	struct dirent *e;
	while ((e = readdir(dir))) {
		if (!strchr(e->d_name, ':'))
			continue;
		int r = apply_interface(a, d, e->d_name);
		if (r < 0 && first_error == 0)
			first_error = r;
	}
	closedir(dir);
	return first_error;
}

/* ---- decisions ---- */

static void set_error(char **dst, const char *what, int err)
{
	char buf[512];
	snprintf(buf, sizeof(buf), "%s: %s", what, strerror(-err));
	free(*dst);
	*dst = strdup(buf);
}

/*
 * Audit mode: nothing of the decision is applied, and devices behave as without mynaguard:
 * root hubs get authorized_default=1 and interface_authorized_default=1 back (the udev rule
 * set them to 0), and a device or interface left unauthorized only by that default is
 * authorized, as the kernel would have done.
 */
static void audit_passthrough(const struct mg_agent *a, struct agent_dev *d)
{
	if (d->dev && d->dev->root_hub)
		(void)mg_enforce_root_hub(d->dirfd, 1, 1);
	if (mg_read_authorized(d->dirfd) == 0)
		(void)mg_enforce_device(d->dirfd, MG_TARGET_ALLOW);
	(void)apply_interfaces(a, d);
}

/* Enforce mode: writes the decision; any failure leaves the device blocked. */
static void enforce(struct mg_agent *a, struct agent_dev *d)
{
	if (d->dev && d->dev->root_hub) {
		int r = mg_enforce_root_hub(d->dirfd,
		                            a->conf.authorized_default == MG_AUTHDEF_NONE ? 0 : -1,
		                            a->conf.block_interfaces.n > 0 ? 0 : -1);
		if (r < 0)
			mg_log_errno(MG_LOG_WARNING, r,
			             "%s: cannot set authorized_default on root hub", d->devpath);
	}
	int r = mg_enforce_device(d->dirfd, d->target);
	if (r < 0 && d->target == MG_TARGET_ALLOW) {
		/* Could not allow: make sure it stays blocked. */
		set_error(&d->apply_error, "writing authorized=1", r);
		(void)mg_enforce_device(d->dirfd, MG_TARGET_BLOCK);
		d->target = MG_TARGET_BLOCK;
		mg_strv_free(&d->blocked);
		return;
	}
	if (r < 0) {
		set_error(
		    &d->apply_error,
		    d->target == MG_TARGET_BLOCK ? "writing authorized=0" : "writing remove=1", r);
		return;
	}
	d->applied = true;
	if (d->target != MG_TARGET_ALLOW)
		return;
	r = apply_interfaces(a, d);
	if (r < 0) {
		/* An interface we had to keep off may be on: block the whole device. */
		set_error(&d->apply_error, "writing interface authorized", r);
		(void)mg_enforce_device(d->dirfd, MG_TARGET_BLOCK);
		d->target = MG_TARGET_BLOCK;
		mg_strv_free(&d->blocked);
	}
}

/* A device string fit for a log line: control characters as '?', at most len - 1 bytes. */
static void log_safe(const char *in, char *out, size_t len)
{
	size_t o = 0;
	for (; *in && o + 1 < len; in++)
		out[o++] = ((unsigned char)*in < 0x20 || *in == 0x7f || *in == '"') ? '?' : *in;
	out[o] = '\0';
}

/*
 * Decides d and writes the kernel state; records the decision. at_start: d was found by the
 * start-up scan, so present_device_policy applies (and only then).
 */
struct allowed_ctx {
	const struct mg_agent *a;
	const struct agent_dev *self;
	int64_t now;
};

/* allowed-matches(QUERY): a device allowed now (not the one being decided) matches QUERY. */
static bool allowed_matches(void *arg, const struct mg_rule *query)
{
	const struct allowed_ctx *c = arg;
	for (size_t i = 0; i < c->a->n; i++) {
		const struct agent_dev *o = c->a->devs[i];
		if (o != c->self && o->dev && o->target == MG_TARGET_ALLOW &&
		    mg_rule_matches(query, o->dev, c->now))
			return true;
	}
	return false;
}

/* The environment rule conditions see when d is decided at now (the clock is read only when
 * the rules have conditions). The context lives in a static: decisions are made one at a
 * time, on the event loop's thread. */
static void rule_env(const struct mg_agent *a, const struct agent_dev *d, int64_t now,
                     struct mg_rule_env *env)
{
	static struct allowed_ctx ctx;
	ctx = (struct allowed_ctx){.a = a, .self = d, .now = now};
	if (mg_ruleset_has_conditions(a->rules, NULL))
		mg_rule_env_now(env, now);
	else
		memset(env, 0, sizeof(*env));
	env->allowed_matches = allowed_matches;
	env->arg = &ctx;
}

static int decide(struct mg_agent *a, struct agent_dev *d, bool at_start)
{
	int64_t now = mg_now_us();
	d->rule = NULL;
	d->reason = NULL;
	if (!d->dev) {
		d->target = MG_TARGET_BLOCK; /* fail closed: unreadable or lying device */
	} else if (d->has_override) {
		d->target = d->override; /* the operator decided; no rule involved */
	} else {
		struct mg_rule_env env;
		rule_env(a, d, now, &env);
		d->rule = mg_ruleset_decide(a->rules, d->dev, now, &env);
		d->target =
		    d->rule ? mg_rule_target(d->rule) : (enum mg_target)a->conf.implicit_target;
		if (at_start) {
			switch (a->conf.present_device_policy) {
			case MG_PRESENT_ALLOW:
				d->target = MG_TARGET_ALLOW;
				d->rule = NULL;
				d->reason = "present at start: present_device_policy=allow";
				break;
			case MG_PRESENT_BLOCK:
				d->target = MG_TARGET_BLOCK;
				d->rule = NULL;
				d->reason = "present at start: present_device_policy=block";
				break;
			case MG_PRESENT_KEEP: {
				int cur = mg_read_authorized(d->dirfd);
				d->target = cur == 1 ? MG_TARGET_ALLOW : MG_TARGET_BLOCK;
				d->rule = NULL;
				d->reason = "present at start: present_device_policy=keep";
				break;
			}
			default:
				break;
			}
		}
	}

	int r = compute_blocked(a, d);
	if (r < 0)
		return r;

	free(d->apply_error);
	d->apply_error = NULL;
	d->applied = false;
	if (a->conf.mode == MG_MODE_AUDIT)
		audit_passthrough(a, d);
	else
		enforce(a, d);

	r = record_decision(a, d, decision_type(d->target), d->apply_error);
	if (r < 0 && d->target == MG_TARGET_ALLOW && a->conf.mode == MG_MODE_ENFORCE) {
		/* No allow without a durable record. */
		mg_log(MG_LOG_ERR, "%s: blocking again: the decision could not be recorded",
		       d->devpath);
		(void)mg_enforce_device(d->dirfd, MG_TARGET_BLOCK);
		d->target = MG_TARGET_BLOCK;
		d->applied = true;
	}
	if (r == 0 && d->target == MG_TARGET_ALLOW && d->blocked.n > 0)
		r = record_decision(a, d, MG_EV_DEVICE_SUSPICIOUS, NULL);
	char name[80];
	log_safe(d->dev ? d->dev->name : "", name, sizeof(name));
	mg_log(MG_LOG_INFO, "%s %s:%s \"%s\" -> %s%s%s", d->devpath,
	       d->dev ? d->dev->vendor_id : "????", d->dev ? d->dev->product_id : "????", name,
	       mg_target_name(d->target),
	       a->conf.mode == MG_MODE_AUDIT ? " (audit: not applied)" : "",
	       d->blocked.n ? " with interfaces kept off" : "");
	return r == -ENOMEM ? r : 0;
}

/* The hash of the parent USB device, reading it first if it is not known yet. */
static int parent_hash(struct mg_agent *a, const char *devpath, bool at_start, const char **out)
{
	char parent[MG_DEVPATH_MAX + 1];
	*out = NULL;
	if (mg_devpath_parent(devpath, parent, sizeof(parent)) < 0)
		return 0;
	struct agent_dev *p = find_dev(a, parent);
	if (p) {
		*out = p->dev ? p->dev->hash : NULL;
		return p->dev ? 0 : -ENODEV;
	}
	/* Not known: is the parent a USB device at all? */
	char path[PATH_MAX];
	snprintf(path, sizeof(path), SYSFS_ROOT "%s", parent);
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	char buf[MG_DEVICE_ATTR_MAX + 1];
	size_t len = 0;
	int r = mg_sysfs_read_attr(fd, "uevent", buf, sizeof(buf), &len);
	close(fd);
	if (r < 0 || !mg_uevent_file_is_usb_device(buf, len))
		return 0; /* a root hub's parent (PCI controller, platform device) */
	/* Decide the parent first (it was there before its child); the path is shorter each time.
	 */
	r = mg_agent_device_added(a, parent, at_start);
	if (r < 0)
		return r;
	p = find_dev(a, parent);
	if (!p || !p->dev)
		return -ENODEV;
	*out = p->dev->hash;
	return 0;
}

static int add_entry(struct mg_agent *a, struct agent_dev *d)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 32;
		struct agent_dev **nd = realloc(a->devs, cap * sizeof(*nd));
		if (!nd)
			return -ENOMEM;
		a->devs = nd;
		a->cap = cap;
	}
	a->devs[a->n++] = d;
	return 0;
}

static void remove_entry(struct mg_agent *a, struct agent_dev *d)
{
	for (size_t i = 0; i < a->n; i++) {
		if (a->devs[i] == d) {
			memmove(&a->devs[i], &a->devs[i + 1], (a->n - i - 1) * sizeof(*a->devs));
			a->n--;
			break;
		}
	}
	dev_free(&d);
}

int mg_agent_device_added(struct mg_agent *a, const char *devpath, bool at_start)
{
	struct agent_dev *old = find_dev(a, devpath);
	if (old)
		remove_entry(a, old); /* a repeated add: decide afresh */

	struct agent_dev *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->id = a->next_id++;
	d->dirfd = -1;
	d->devpath = strdup(devpath);
	if (!d->devpath) {
		dev_free(&d);
		return -ENOMEM;
	}
	int r = add_entry(a, d);
	if (r < 0) {
		dev_free(&d);
		return r;
	}

	char path[PATH_MAX];
	snprintf(path, sizeof(path), SYSFS_ROOT "%s", devpath);
	d->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (d->dirfd < 0) {
		/* Gone already (never authorized), or not a directory: record it and forget it. */
		r = -errno;
		mg_log_errno(MG_LOG_WARNING, r, "%s: cannot open", devpath);
		d->target = MG_TARGET_BLOCK;
		d->read_error = strdup("device vanished before it could be read");
		set_error(&d->apply_error, "opening its sysfs directory", r);
		r = record_decision(a, d, MG_EV_DEVICE_BLOCKED, d->apply_error);
		remove_entry(a, d);
		return r == -ENOMEM ? r : 0;
	}

	const char *phash = NULL;
	char errmsg[256] = "";
	r = parent_hash(a, devpath, at_start, &phash);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		snprintf(errmsg, sizeof(errmsg), "parent device unreadable");
	} else {
		r = mg_device_read(d->dirfd, devpath, phash, &d->dev, errmsg, sizeof(errmsg));
		if (r == -ENOMEM)
			return r;
	}
	if (r < 0) {
		char buf[300];
		snprintf(buf, sizeof(buf), "device unreadable: %s", errmsg);
		d->read_error = strdup(buf);
		mg_log(MG_LOG_WARNING, "%s: %s: blocking", devpath, buf);
	}
	if (!at_start) {
		r = record_simple(a, d, MG_EV_DEVICE_INSERTED);
		if (r == -ENOMEM)
			return r;
	}
	return decide(a, d, at_start);
}

int mg_agent_device_removed(struct mg_agent *a, const char *devpath)
{
	struct agent_dev *d = find_dev(a, devpath);
	if (!d)
		return 0;
	int r = record_simple(a, d, MG_EV_DEVICE_REMOVED);
	remove_entry(a, d);
	return r == -ENOMEM ? r : 0;
}

int mg_agent_rescan_device(struct mg_agent *a, const char *devpath)
{
	if (find_dev(a, devpath))
		return 0; /* known and decided: keep its decision (and any override) */
	return mg_agent_device_added(a, devpath, false);
}

int mg_agent_prune_vanished(struct mg_agent *a)
{
	for (size_t i = 0; i < a->n;) {
		struct agent_dev *d = a->devs[i];
		if (faccessat(d->dirfd, "idVendor", F_OK, 0) == 0 || errno != ENOENT) {
			i++;
			continue;
		}
		int r = mg_agent_device_removed(a, d->devpath); /* removes a->devs[i] */
		if (r < 0)
			return r;
	}
	return 0;
}

int mg_agent_interface_added(struct mg_agent *a, const char *devpath)
{
	char parent[MG_DEVPATH_MAX + 1];
	if (mg_devpath_parent(devpath, parent, sizeof(parent)) < 0)
		return 0;
	const char *name = strrchr(devpath, '/') + 1;
	struct agent_dev *d = find_dev(a, parent);
	if (!d) {
		/* An interface of a device we have not decided: keep it off (audit: leave it). */
		if (a->conf.mode == MG_MODE_AUDIT)
			return 0;
		char path[PATH_MAX];
		snprintf(path, sizeof(path), SYSFS_ROOT "%s", devpath);
		int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0) {
			(void)mg_enforce_interface(fd, false);
			close(fd);
		}
		return 0;
	}
	int r = apply_interface(a, d, name);
	if (r < 0)
		mg_log_errno(MG_LOG_ERR, r, "%s: cannot set interface authorization", devpath);
	return 0;
}

int mg_agent_handle_uevent(struct mg_agent *a, const struct mg_uevent *ev)
{
	if (ev->kind == MG_UEVENT_USB_DEVICE) {
		if (ev->action == MG_UEVENT_ADD)
			return mg_agent_device_added(a, ev->devpath, false);
		if (ev->action == MG_UEVENT_REMOVE)
			return mg_agent_device_removed(a, ev->devpath);
	} else if (ev->kind == MG_UEVENT_USB_INTERFACE) {
		if (ev->action == MG_UEVENT_ADD || ev->action == MG_UEVENT_BIND)
			return mg_agent_interface_added(a, ev->devpath);
	}
	return 0;
}

/* ---- rules ---- */

static int record_policy_v(struct mg_agent *a, enum mg_event_type type, uint64_t version,
                           const char *sha256, const char *reason)
{
	struct mg_event *ev = mg_event_new(type);
	if (!ev)
		return -ENOMEM;
	struct mg_event_policy *p = mg_event_policy(ev);
	int r = p ? 0 : -ENOMEM;
	if (p)
		p->version = version;
	if (r == 0 && (r = mg_set_str(&p->sha256, sha256)) == 0 &&
	    (r = mg_set_str(&p->reason, reason)) == 0)
		r = record(a, ev);
	mg_event_free(&ev);
	return r;
}

static int record_policy(struct mg_agent *a, enum mg_event_type type, const char *sha256,
                         const char *reason)
{
	return record_policy_v(a, type, a->central.version, sha256, reason);
}

int mg_agent_record_policy(struct mg_agent *a, bool applied, uint64_t version, const char *sha256,
                           const char *reason)
{
	if (!applied)
		mg_log(MG_LOG_ERR, "central policy version %llu rejected: %s",
		       (unsigned long long)version, reason ? reason : "?");
	return record_policy_v(a, applied ? MG_EV_POLICY_APPLIED : MG_EV_POLICY_REJECTED, version,
	                       sha256, reason);
}

int mg_agent_swap_rules(struct mg_agent *a, struct mg_ruleset *rules, const char *sha256)
{
	struct mg_ruleset *old = a->rules;
	a->rules = rules;
	snprintf(a->rules_sha256, sizeof(a->rules_sha256), "%s", sha256 ? sha256 : "");
	/* Re-decide every present device against the new rules before the old ones go. */
	int r = 0;
	for (size_t i = 0; i < a->n && r != -ENOMEM; i++)
		r = decide(a, a->devs[i], false);
	mg_ruleset_free(&old);
	malloc_trim(0); /* give the parser's and the old set's memory back to the system */
	if (r == -ENOMEM)
		return r;
	return record_policy(a, MG_EV_POLICY_APPLIED, sha256, NULL);
}

size_t mg_agent_lockout(const struct mg_agent *a, const struct mg_ruleset *rules, char *why,
                        size_t whylen)
{
	size_t n = 0;
	if (why && whylen)
		why[0] = '\0';
	int64_t now = mg_now_us();
	for (size_t i = 0; i < a->n; i++) {
		const struct agent_dev *d = a->devs[i];
		const char *kind = mg_lockout_kind(d->dev);
		if (!kind || d->target != MG_TARGET_ALLOW || d->has_override)
			continue;
		const struct mg_rule *rule = mg_ruleset_match(rules, d->dev, now);
		enum mg_target t =
		    rule ? mg_rule_target(rule) : (enum mg_target)a->conf.implicit_target;
		if (t == MG_TARGET_ALLOW)
			continue;
		n++;
		mg_lockout_append(why, whylen, d->dev, kind);
	}
	return n;
}

static void rules_rejected(struct mg_agent *a, const char *why)
{
	mg_log(MG_LOG_ERR, "rules rejected, the previous rules stay in force: %s", why);
	(void)record_policy(a, MG_EV_POLICY_REJECTED, NULL, why);
}

/* The rules in force: the host's central rules, the global central rules, then rules_file
 * and rules_dir (first match wins). */
static int load_rules(struct mg_agent *a, const struct agent_central *c, struct mg_ruleset **rs,
                      struct mg_rule_error *err)
{
	char host_name[64], all_name[64];
	snprintf(host_name, sizeof(host_name), "central-v%llu-host",
	         (unsigned long long)c->version);
	snprintf(all_name, sizeof(all_name), "central-v%llu", (unsigned long long)c->version);
	struct mg_rules_text texts[2] = {{host_name, c->host}, {all_name, c->all}};
	return mg_ruleset_load_after(texts, c->version ? 2 : 0, a->conf.rules_file,
	                             a->conf.rules_dir, &a->file_rules, rs, err);
}

/* Loads c's rules with the files, checks the lock-out guard, swaps them in. */
static int apply_rules(struct mg_agent *a, const struct agent_central *c, bool force,
                       struct mg_rule_error *err, struct mg_ruleset **out, char *hex)
{
	struct mg_ruleset *rs = NULL;
	int r = load_rules(a, c, &rs, err);
	if (r < 0)
		return r;
	char list[150]; /* fits err->msg with its prefix */
	size_t cut = mg_agent_lockout(a, rs, list, sizeof(list));
	if (cut > 0 && !force) {
		memset(err, 0, sizeof(*err));
		snprintf(err->msg, sizeof(err->msg),
		         "lock-out: the rules would block %zu device%s in use: %s", cut,
		         cut == 1 ? "" : "s", list);
		mg_ruleset_free(&rs);
		return -EPERM;
	}
	if (cut > 0)
		mg_log(MG_LOG_WARNING, "rules applied with --force although they block: %s", list);
	/* A digest of the rule texts identifies what is in force. */
	struct sha256_ctx ctx;
	uint8_t md[SHA256_DIGEST_SIZE];
	sha256_init(&ctx);
	for (size_t i = 0; i < mg_ruleset_count(rs); i++) {
		const char *t = mg_rule_text(mg_ruleset_rule(rs, i));
		sha256_update(&ctx, strlen(t) + 1, (const uint8_t *)t);
	}
	sha256_digest(&ctx, sizeof(md), md);
	for (size_t i = 0; i < sizeof(md); i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	mg_log(MG_LOG_NOTICE, "rules loaded: %zu rules (sha256 %s)", mg_ruleset_count(rs), hex);
	*out = rs;
	return 0;
}

int mg_agent_reload(struct mg_agent *a, bool force, struct mg_rule_error *err)
{
	struct mg_ruleset *rs = NULL;
	char hex[2 * SHA256_DIGEST_SIZE + 1];
	int r = apply_rules(a, &a->central, force, err, &rs, hex);
	if (r < 0) {
		char buf[800];
		rules_rejected(a,
		               err->file[0] ? mg_rule_error_str(err, buf, sizeof(buf)) : err->msg);
		return r;
	}
	return mg_agent_swap_rules(a, rs, hex);
}

int mg_agent_set_central(struct mg_agent *a, uint64_t version, const char *host_rules,
                         const char *all_rules, const char *bundle_sha256, char *why, size_t whylen)
{
	struct agent_central c = {.version = version};
	if (version && ((host_rules && !(c.host = strdup(host_rules))) ||
	                (all_rules && !(c.all = strdup(all_rules))))) {
		central_free(&c);
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	struct mg_rule_error err;
	memset(&err, 0, sizeof(err));
	struct mg_ruleset *rs = NULL;
	char hex[2 * SHA256_DIGEST_SIZE + 1];
	int r = apply_rules(a, &c, false, &err, &rs, hex);
	if (r < 0) {
		char buf[800];
		snprintf(why, whylen, "%s",
		         err.file[0]  ? mg_rule_error_str(&err, buf, sizeof(buf))
		         : err.msg[0] ? err.msg
		                      : strerror(-r));
		central_free(&c);
		return r;
	}
	central_free(&a->central);
	a->central = c;
	struct mg_ruleset *old = a->rules;
	a->rules = rs;
	snprintf(a->rules_sha256, sizeof(a->rules_sha256), "%s", hex);
	for (size_t i = 0; i < a->n && r != -ENOMEM; i++)
		r = decide(a, a->devs[i], false);
	mg_ruleset_free(&old);
	malloc_trim(0);
	if (r == -ENOMEM)
		return r;
	if (!version) { /* the caller records why */
		mg_log(MG_LOG_NOTICE, "central policy withdrawn: local rules only");
		return 0;
	}
	mg_log(MG_LOG_NOTICE, "central policy version %llu applied", (unsigned long long)version);
	return record_policy_v(a, MG_EV_POLICY_APPLIED, version, bundle_sha256, NULL);
}

uint64_t mg_agent_central_version(const struct mg_agent *a)
{
	return a->central.version;
}

int mg_agent_override(struct mg_agent *a, unsigned id, enum mg_target target, const char *who)
{
	struct agent_dev *d = find_id(a, id);
	if (!d)
		return -ENOENT;
	char *op = strdup(who ? who : "?");
	if (!op)
		return -ENOMEM;
	free(d->operator);
	d->operator= op;
	d->has_override = true;
	d->override = target;
	mg_log(MG_LOG_NOTICE, "%s: %s by operator %s until removal", d->devpath,
	       mg_target_name(target), who ? who : "?");
	return decide(a, d, false);
}

/* ---- reports ---- */

int mg_agent_device_identity(const struct mg_agent *a, unsigned id, json_t **device, bool *allowed)
{
	const struct agent_dev *d = find_id(a, id);
	if (!d)
		return -ENOENT;
	if (!d->dev)
		return -ENODATA; /* unreadable: nothing to identify it by */
	json_t *o = json_pack("{s:s, s:s}", "vendor_id", d->dev->vendor_id, "product_id",
	                      d->dev->product_id);
	if (!o)
		return -ENOMEM;
	/* The device's strings may be any bytes: only valid UTF-8 of the collector's length
	 * goes into a request (json_string refuses the rest; the ids identify the device). */
	const char *strs[3][2] = {
	    {"serial", d->dev->serial}, {"name", d->dev->name}, {"hash", d->dev->hash}};
	for (size_t i = 0; i < 3; i++) {
		const char *v = strs[i][1];
		if (v && v[0] && strlen(v) <= 1023)
			(void)json_object_set_new(o, strs[i][0], json_string(v));
	}
	*device = o;
	*allowed = d->target == MG_TARGET_ALLOW;
	return 0;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* JSON string of possibly non-UTF-8 device bytes: the event module's lossy repair. */
static json_t *device_json(const struct agent_dev *d)
{
	struct mg_event *ev = mg_event_new(MG_EV_DEVICE_INSERTED);
	if (!ev)
		return NULL;
	json_t *obj = NULL;
	if (fill_device(ev, d) == 0)
		obj = mg_event_device_to_json(ev->device);
	mg_event_free(&ev);
	if (!obj)
		return NULL;
	char source[MG_RULE_SOURCE_MAX];
	json_t *blocked = json_array();
	for (size_t i = 0; blocked && i < d->blocked.n; i++)
		json_array_append_new(blocked, json_string(d->blocked.v[i]));
	json_object_set_new(obj, "id", json_integer(d->id));
	json_object_set_new(obj, "target", json_string(mg_target_name(d->target)));
	json_object_set_new(obj, "rule",
	                    d->rule ? json_string(mg_rule_text(d->rule)) : json_null());
	json_object_set_new(obj, "rule_source",
	                    d->rule ? json_string(mg_rule_source(d->rule, source, sizeof(source)))
	                            : json_null());
	json_object_set_new(obj, "blocked_interfaces", blocked ? blocked : json_array());
	json_object_set_new(obj, "applied", json_boolean(d->applied));
	json_object_set_new(obj, "override", json_boolean(d->has_override));
	json_object_set_new(obj, "error",
	                    str_or_null(d->apply_error ? d->apply_error : d->read_error));
	return obj;
}

json_t *mg_agent_list_devices(const struct mg_agent *a)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < a->n; i++) {
		json_t *o = device_json(a->devs[i]);
		if (!o || json_array_append_new(arr, o) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

json_t *mg_agent_status(const struct mg_agent *a)
{
	size_t counts[3] = {0, 0, 0};
	for (size_t i = 0; i < a->n; i++)
		counts[a->devs[i]->target]++;
	return json_pack(
	    "{s:s, s:s, s:s, s:I, s:s, s:{s:I, s:I, s:I}, s:I, s:s, s:s, s:s}", "version",
	    MYNAGUARD_VERSION, "mode", a->conf.mode == MG_MODE_AUDIT ? "audit" : "enforce",
	    "implicit_target", mg_target_name((enum mg_target)a->conf.implicit_target), "rules",
	    (json_int_t)mg_ruleset_count(a->rules), "rules_sha256", a->rules_sha256, "devices",
	    "allow", (json_int_t)counts[MG_TARGET_ALLOW], "block",
	    (json_int_t)counts[MG_TARGET_BLOCK], "reject", (json_int_t)counts[MG_TARGET_REJECT],
	    "last_event_seq", (json_int_t)mg_eventlog_last_seq(a->log), "event_log",
	    mg_eventlog_path(a->log), "rules_file", a->conf.rules_file ? a->conf.rules_file : "",
	    "rules_dir", a->conf.rules_dir ? a->conf.rules_dir : "");
}

/* When the next localtime() condition of the rules changes value (a whole second), 0: none. */
static int64_t next_daytime_change(const struct mg_agent *a, int64_t now)
{
	bool localtime = false;
	(void)mg_ruleset_has_conditions(a->rules, &localtime);
	if (a->n == 0 || !localtime)
		return 0; /* armed every loop round: no clock reading without localtime() rules */
	struct mg_rule_env env;
	mg_rule_env_now(&env, now);
	int32_t delta = mg_ruleset_next_daytime_change(a->rules, env.daytime);
	if (delta <= 0)
		return 0;
	return (now / 1000000 + delta) * 1000000;
}

int64_t mg_agent_next_expiry(const struct mg_agent *a)
{
	int64_t next = 0;
	for (size_t i = 0; i < a->n; i++) {
		const struct agent_dev *d = a->devs[i];
		int64_t e = d->rule ? mg_rule_expires_us(d->rule) : 0;
		if (e > 0 && (next == 0 || e < next))
			next = e;
	}
	int64_t t = next_daytime_change(a, mg_now_us());
	if (t > 0 && (next == 0 || t < next))
		next = t;
	return next;
}

/* Re-decides the devices whose deciding rule changes now that a localtime() window opened or
 * closed; the others keep their decision (and no event). */
static int redecide_daytime(struct mg_agent *a, int64_t now_us)
{
	bool localtime = false;
	(void)mg_ruleset_has_conditions(a->rules, &localtime);
	if (!localtime)
		return 0;
	int first_error = 0;
	for (size_t i = 0; i < a->n; i++) {
		struct agent_dev *d = a->devs[i];
		if (!d->dev || d->has_override)
			continue;
		struct mg_rule_env env;
		rule_env(a, d, now_us, &env);
		const struct mg_rule *r = mg_ruleset_match_env(a->rules, d->dev, now_us, &env);
		enum mg_target t = r ? mg_rule_target(r) : (enum mg_target)a->conf.implicit_target;
		if (r == d->rule && t == d->target)
			continue;
		static char why[] =
		    "re-decided: a localtime() condition of the rules changed value";
		d->expired = why;
		int rr = decide(a, d, false);
		d->expired = NULL;
		if (rr < 0 && first_error == 0)
			first_error = rr;
	}
	return first_error;
}

int mg_agent_expire(struct mg_agent *a, int64_t now_us)
{
	int first_error = 0;
	for (size_t i = 0; i < a->n; i++) {
		struct agent_dev *d = a->devs[i];
		int64_t e = d->rule ? mg_rule_expires_us(d->rule) : 0;
		if (e <= 0 || e > now_us)
			continue;
		char source[MG_RULE_SOURCE_MAX], when[MG_RFC3339_LEN];
		if (mg_time_format(e, when) < 0)
			snprintf(when, sizeof(when), "?");
		size_t len = sizeof(source) + strlen(mg_rule_text(d->rule)) + 96;
		d->expired = malloc(len);
		if (!d->expired) {
			first_error = first_error ? first_error : -ENOMEM;
			continue;
		}
		snprintf(d->expired, len, "the deciding rule expired at %s: %s: %s", when,
		         mg_rule_source(d->rule, source, sizeof(source)), mg_rule_text(d->rule));
		int r = decide(a, d, false);
		free(d->expired);
		d->expired = NULL;
		if (r < 0 && first_error == 0)
			first_error = r;
	}
	int r = redecide_daytime(a, now_us);
	return first_error ? first_error : r;
}

int mg_agent_generate_policy(const struct mg_agent *a, bool with_ports, char **out)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	buf[0] = '\0';
	for (size_t i = 0; i < a->n; i++) {
		const struct agent_dev *d = a->devs[i];
		if (!d->dev)
			continue;
		char *rule = NULL;
		bool port = with_ports || !d->dev->serial || !d->dev->serial[0];
		int r = mg_rule_generate(d->dev, MG_TARGET_ALLOW, port, &rule);
		if (r < 0) {
			free(buf);
			return r;
		}
		size_t n = strlen(rule);
		if (len + n + 2 > cap) {
			while (len + n + 2 > cap)
				cap *= 2;
			char *nb = realloc(buf, cap);
			if (!nb) {
				free(rule);
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		memcpy(buf + len, rule, n);
		len += n;
		buf[len++] = '\n';
		buf[len] = '\0';
		free(rule);
	}
	*out = buf;
	return 0;
}
