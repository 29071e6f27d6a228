/* mynaguard-agent: the USB device control daemon (see docs/ARCHITECTURE.md). */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "agent.h"
#include "ctl_server.h"
#include "event_socket.h"
#include "mg/log.h"
#include "mg/safe_open.h"
#include "mg/time.h"
#include "monitor.h"
#include "notify.h"
#include "pipeline.h"

#define DEFAULT_CONFIG "/etc/mynaguard/agent.conf"

static void usage(FILE *f)
{
	fprintf(f, "usage: mynaguard-agent [--config FILE] [--version]\n"
	           "  --config FILE   configuration (default " DEFAULT_CONFIG ")\n");
}

/* Deferred control answers (enroll, sync) go to the control server, once it exists. */
static void ctl_reply(void *ctx, uint64_t ticket, json_t *answer)
{
	struct mg_ctl_server **ctl = ctx;
	if (*ctl)
		mg_ctl_server_reply(*ctl, ticket, answer);
}

/* Arms a CLOCK_MONOTONIC timerfd for at (µs; 0: disarmed). */
static void arm_mono(int tfd, int64_t at)
{
	struct itimerspec its = {0};
	if (at > 0) {
		its.it_value.tv_sec = at / 1000000;
		its.it_value.tv_nsec = (at % 1000000) * 1000;
		if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
			its.it_value.tv_nsec = 1;
	}
	(void)timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* Keeps the uplink's socket in the epoll set as it comes and goes. */
static void watch_uplink(int ep, const struct mg_pipeline *pipe, int *watched, uint32_t *events)
{
	int fd = mg_pipeline_uplink_fd(pipe);
	uint32_t want = fd >= 0 ? mg_pipeline_uplink_events(pipe) : 0;
	if (fd == *watched && want == *events)
		return;
	if (*watched >= 0 && *watched != fd)
		(void)epoll_ctl(ep, EPOLL_CTL_DEL, *watched, NULL);
	if (fd >= 0) {
		struct epoll_event ee = {.events = want, .data.fd = fd};
		/* A restarted uplink may have the old number: closing removed the old one. */
		if (epoll_ctl(ep, fd == *watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ee) < 0 &&
		    (errno != ENOENT || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ee) < 0))
			mg_log_errno(MG_LOG_ERR, -errno, "epoll (uplink)");
	}
	*watched = fd;
	*events = want;
}

static int scan_cb(void *ctx, const char *devpath)
{
	if (!mg_devpath_valid(devpath))
		return 0;
	return mg_agent_device_added(ctx, devpath, true);
}

static int rescan_cb(void *ctx, const char *devpath)
{
	if (!mg_devpath_valid(devpath))
		return 0;
	return mg_agent_rescan_device(ctx, devpath);
}

static int ensure_dir(const char *path, mode_t mode)
{
	if (mkdir(path, mode) == 0 || errno == EEXIST)
		return 0;
	return -errno;
}

static int ensure_parent_dir(const char *path)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	return ensure_dir(dir, 0755);
}

static int drain_monitor(struct mg_monitor *mon, struct mg_agent *agent)
{
	for (;;) {
		struct mg_uevent ev;
		char err[128] = "";
		int r = mg_monitor_receive(mon, &ev, err, sizeof(err));
		if (r == 0)
			return 0;
		if (r == -ENOBUFS) {
			mg_log(MG_LOG_WARNING, "uevents were lost (socket overrun): rescanning");
			r = mg_agent_prune_vanished(agent);
			if (r == 0)
				r = mg_monitor_enumerate(mon, rescan_cb, agent);
			if (r < 0)
				return r;
			continue;
		}
		if (r < 0) {
			mg_log(MG_LOG_WARNING, "ignoring a malformed uevent: %s", err);
			continue;
		}
		r = mg_agent_handle_uevent(agent, &ev);
		if (r < 0)
			return r;
	}
}

/* Arms tfd for the earliest expiry of a rule that decided a present device (disarms when
 * there is none): the only timer of the loop, so an idle agent uses no CPU. */
static void arm_expiry(int tfd, const struct mg_agent *agent)
{
	int64_t next = mg_agent_next_expiry(agent);
	struct itimerspec its = {0};
	if (next > 0) {
		its.it_value.tv_sec = (time_t)(next / 1000000);
		its.it_value.tv_nsec = (long)(next % 1000000) * 1000;
	}
	if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		mg_log_errno(MG_LOG_ERR, -errno, "cannot arm the rule expiry timer");
}

int main(int argc, char **argv)
{
	const char *config = DEFAULT_CONFIG;
	static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
	                                     {"version", no_argument, NULL, 'V'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {NULL, 0, NULL, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "c:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'V':
			printf("mynaguard-agent %s\n", MYNAGUARD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	/* A fixed mmap threshold: buffers of 256 KiB and more (spool segments read for an
	 * upload, batch texts) go back to the system when freed. glibc's default raises the
	 * threshold after the first such free and keeps every later one in the heap. */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	mg_log_open("mynaguard-agent", MG_LOG_STDERR, 0, MG_LOG_INFO);

	/* Everything the agent reads must belong to the user it runs as (root in production). */
	struct mg_file_rules own = mg_root_config_rules;
	own.owner = geteuid();

	struct mg_agent_conf conf;
	struct mg_config_error cerr;
	char buf[1024];
	if (mg_agent_conf_load(config, &own, &conf, &cerr) < 0) {
		mg_err("%s", mg_config_error_str(&cerr, buf, sizeof(buf)));
		return 1;
	}
	mg_log_set_level((enum mg_log_level)(MG_LOG_ERR + conf.log_level));

	struct mg_ruleset *rules = NULL;
	struct mg_rule_error rerr;
	memset(&rerr, 0, sizeof(rerr));
	struct mg_file_rules rules_own = own;
	rules_own.max_size = 0; /* the rule engine's cap (large rule sets exist) */
	if (mg_ruleset_load(conf.rules_file, conf.rules_dir, &rules_own, &rules, &rerr) < 0) {
		mg_err("rules rejected: %s", mg_rule_error_str(&rerr, buf, sizeof(buf)));
		mg_err("not starting: new USB devices stay unauthorized by the kernel "
		       "(authorized_default=0)");
		mg_agent_conf_free(&conf);
		return 1;
	}

	int r = ensure_dir(conf.state_dir, 0700);
	struct mg_eventlog *log = NULL;
	char lerr[256] = "";
	if (r == 0)
		r = mg_eventlog_open(conf.state_dir, conf.spool_max_bytes, &log, lerr,
		                     sizeof(lerr));
	if (r < 0) {
		mg_log_errno(MG_LOG_ERR, r, "cannot open the event spool in %s%s%s", conf.state_dir,
		             lerr[0] ? ": " : "", lerr);
		mg_ruleset_free(&rules);
		mg_agent_conf_free(&conf);
		return 1;
	}
	uint64_t cut = 0;
	const char *cut_why = "";
	uint64_t kept = mg_eventlog_recovered(log, &cut, &cut_why);
	if (cut)
		mg_warn("event spool: %llu bytes of a torn or damaged record cut off (%s); %llu "
		        "events kept",
		        (unsigned long long)cut, cut_why, (unsigned long long)kept);
	bool kernel_source = conf.uevent_source == MG_SOURCE_KERNEL;
	struct mg_agent *agent = NULL;
	if ((r = mg_agent_new(&conf, rules, log, &agent)) < 0) {
		mg_log_errno(MG_LOG_ERR, r, "cannot start");
		return 1;
	}
	const struct mg_agent_conf *ac = mg_agent_conf(agent);
	mg_agent_set_file_rules(agent, &rules_own);
	mg_agent_started(agent);

	/* The event pipeline: the last good central policy applies before any device is
	 * decided; the uplink starts with the first tick of the loop. */
	struct mg_ctl_server *ctl = NULL;
	struct mg_pipeline *pipe = NULL;
	if ((r = mg_pipeline_new(agent, ctl_reply, &ctl, &pipe)) < 0)
		mg_log_errno(MG_LOG_ERR, r,
		             "event pipeline: cannot start; events stay in the spool");
	else
		mg_pipeline_boot(pipe);
	malloc_trim(0); /* the rules parser's temporary memory goes back to the system */

	/* Signals through a signalfd; the monitor before the scan so no uevent is lost. */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	struct mg_monitor *mon = NULL;
	struct mg_event_socket *evs_sock = NULL;
	int ep = -1, status = 1, up_fd = -1;
	uint32_t up_events = 0;
	int tfd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
	int pfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (tfd < 0 || pfd < 0) {
		mg_log_errno(MG_LOG_ERR, -errno, "cannot create the rule expiry timer");
		goto out;
	}
	if (sfd < 0 || (r = mg_monitor_new(kernel_source, &mon)) < 0) {
		mg_log_errno(MG_LOG_ERR, sfd < 0 ? -errno : r, "cannot watch uevents");
		goto out;
	}
	mg_agent_scan_begin(agent);
	r = mg_monitor_enumerate(mon, scan_cb, agent);
	int r2 = mg_agent_scan_end(agent);
	if (r < 0 || r2 < 0) {
		mg_log_errno(MG_LOG_ERR, r < 0 ? r : r2, "cannot decide the present USB devices");
		goto out;
	}
	if ((r = ensure_parent_dir(ac->socket)) < 0 ||
	    (r = mg_ctl_server_new(ac->socket, &ac->allowed_groups, &ctl)) < 0) {
		mg_log_errno(MG_LOG_ERR, r, "cannot listen on %s", ac->socket);
		goto out;
	}
	if ((r = ensure_parent_dir(ac->event_socket)) < 0 ||
	    (r = mg_event_socket_new(ac->event_socket, &evs_sock)) < 0)
		mg_log_errno(MG_LOG_WARNING, r,
		             "cannot listen on %s: PAM events reach the spool through the pending "
		             "file only",
		             ac->event_socket);
	ep = epoll_create1(EPOLL_CLOEXEC);
	int fds[6] = {sfd,
	              mg_monitor_fd(mon),
	              mg_ctl_server_fd(ctl),
	              tfd,
	              pfd,
	              evs_sock ? mg_event_socket_fd(evs_sock) : -1};
	for (int i = 0; i < 6 && ep >= 0; i++) {
		if (fds[i] < 0)
			continue;
		struct epoll_event ee = {.events = EPOLLIN, .data.fd = fds[i]};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ee) < 0) {
			mg_log_errno(MG_LOG_ERR, -errno, "epoll");
			goto out;
		}
	}
	mg_notice("ready: %zu present devices decided, mode %s, control socket %s",
	          mg_agent_device_count(agent), ac->mode == MG_MODE_AUDIT ? "audit" : "enforce",
	          ac->socket);
	mg_notify("READY=1");

	/* Uevents that arrived during the scan are waiting in the monitor socket. */
	bool running = drain_monitor(mon, agent) == 0;
	const char *stop_reason = "signal";
	while (running) {
		arm_expiry(tfd, agent); /* decisions, reloads and overrides change it */
		if (pipe) {
			mg_pipeline_tick(pipe);
			arm_mono(pfd, mg_pipeline_next_wake(pipe));
			watch_uplink(ep, pipe, &up_fd, &up_events);
		}
		struct epoll_event evs[8];
		int n = epoll_wait(ep, evs, 8, -1); /* no timeout: idle means no CPU */
		if (n < 0) {
			if (errno == EINTR)
				continue;
			mg_log_errno(MG_LOG_ERR, -errno, "epoll_wait");
			stop_reason = "internal error";
			break;
		}
		for (int i = 0; i < n && running; i++) {
			int fd = evs[i].data.fd;
			if (fd == sfd) {
				struct signalfd_siginfo si;
				while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
					if (si.ssi_signo == SIGHUP) {
						struct mg_rule_error e;
						memset(&e, 0, sizeof(e));
						mg_notify("RELOADING=1");
						/* SIGHUP never forces past the lock-out guard. */
						(void)mg_agent_reload(agent, false, &e);
						mg_notify("READY=1");
					} else {
						running = false;
					}
				}
			} else if (fd == mg_monitor_fd(mon)) {
				if (drain_monitor(mon, agent) < 0) {
					stop_reason = "out of memory";
					running = false;
				}
			} else if (fd == up_fd && pipe) {
				mg_pipeline_uplink_io(pipe, evs[i].events);
			} else if (fd == pfd) {
				uint64_t ticks;
				(void)!read(pfd, &ticks, sizeof(ticks));
			} else if (evs_sock && fd == mg_event_socket_fd(evs_sock)) {
				mg_event_socket_handle(evs_sock, mg_agent_eventlog(agent));
			} else if (fd == mg_ctl_server_fd(ctl)) {
				r = mg_ctl_server_handle(ctl, agent, pipe);
				if (r < 0)
					mg_log_errno(MG_LOG_WARNING, r, "control socket");
			} else if (fd == tfd) {
				uint64_t ticks;
				if (read(tfd, &ticks, sizeof(ticks)) == (ssize_t)sizeof(ticks) &&
				    (r = mg_agent_expire(agent, mg_now_us())) < 0)
					mg_log_errno(MG_LOG_ERR, r,
					             "cannot re-decide after a rule expired");
			}
		}
	}
	mg_notify("STOPPING=1");
	mg_agent_stopping(agent, stop_reason);
	if (pipe)
		mg_pipeline_drain(pipe, 2000);
	mg_notice("stopping (%s)", stop_reason);
	status = 0;
out:
	if (ep >= 0)
		close(ep);
	if (sfd >= 0)
		close(sfd);
	if (tfd >= 0)
		close(tfd);
	if (pfd >= 0)
		close(pfd);
	mg_pipeline_free(&pipe); /* answers deferred control requests: before the server goes */
	mg_event_socket_free(&evs_sock);
	mg_ctl_server_free(&ctl);
	mg_monitor_free(&mon);
	mg_agent_free(&agent);
	return status;
}
