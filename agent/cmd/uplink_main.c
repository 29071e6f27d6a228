/*
 * mynaguard-uplink: the agent's network side, unprivileged (docs/ARCHITECTURE.md, issue 12).
 * Started by mynaguard-agent with fd 3 = its end of a socketpair (frames of uplink_proto.h) and
 * fd 4 = its own directory; serves until the agent closes fd 3 (uplink_loop.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "mg/log.h"
#include "uplink_loop.h"

#define SOCK_FD 3
#define DIR_FD  4

static void usage(FILE *f)
{
	fprintf(f, "usage: mynaguard-uplink [--log-level LEVEL]\n"
	           "  --log-level LEVEL  err, warning, notice, info (default) or debug\n"
	           "Started by mynaguard-agent: fd 3 is the agent's socket, fd 4 the uplink's "
	           "directory.\n");
}

/* fd is open, of the kind wanted (S_IFSOCK or S_IFDIR), and closed on exec. */
static int check_fd(int fd, mode_t kind, const char *what)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return mg_log_errno(MG_LOG_ERR, -errno, "fd %d (%s)", fd, what);
	if ((st.st_mode & S_IFMT) != kind) {
		mg_log(MG_LOG_ERR, "fd %d is not %s", fd, what);
		return -EINVAL;
	}
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return mg_log_errno(MG_LOG_ERR, -errno, "fd %d (%s)", fd, what);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"log-level", required_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	enum mg_log_level level = MG_LOG_INFO;
	int c;
	mg_log_open("mynaguard-uplink", MG_LOG_STDERR, 0, level);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (mg_log_level_from_string(optarg, &level) < 0) {
				fprintf(stderr,
				        "mynaguard-uplink: --log-level: unknown level '%s'\n",
				        optarg);
				return 2;
			}
			mg_log_set_level(level);
			break;
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
	if (check_fd(SOCK_FD, S_IFSOCK, "the agent's socket") < 0 ||
	    check_fd(DIR_FD, S_IFDIR, "the uplink's directory") < 0)
		return 1;
	umask(077);
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		mg_log(MG_LOG_ERR, "cannot initialise libcurl");
		return 1;
	}
	mg_log(MG_LOG_DEBUG, "started (%s)", curl_version());
	int code = mg_uplink_loop(SOCK_FD, DIR_FD);
	curl_global_cleanup();
	return code;
}
