/*
 * mynaguard-bench-ctlflood: connects to the agent's control socket and closes again, as fast
 * as it can, for SECONDS (bench/run-ctl-flood-bench.sh runs it as an unprivileged user: all it
 * can get is the refusal). Waits up to 10 s for the socket to appear first.
 *
 *   mynaguard-bench-ctlflood SOCKET SECONDS
 *
 * Stops after SECONDS or on SIGTERM and prints "connections=N refused_answers=M seconds=S
 * per_second=R". Exit 0, 1 on an error, 2 on usage.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: mynaguard-bench-ctlflood SOCKET SECONDS\n");
		return 2;
	}
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "ctlflood: socket path too long\n");
		return 2;
	}
	memcpy(sa.sun_path, argv[1], strlen(argv[1]) + 1);
	double seconds = atof(argv[2]);
	struct sigaction act = {.sa_handler = on_term};
	sigaction(SIGTERM, &act, NULL);
	for (double t0 = now_s(); access(argv[1], F_OK) != 0; usleep(1000))
		if (now_s() - t0 > 10) {
			fprintf(stderr, "ctlflood: %s did not appear\n", argv[1]);
			return 1;
		}
	unsigned long conns = 0, answers = 0;
	char buf[256];
	double start = now_s();
	for (double end = start + seconds; !stop && now_s() < end;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			fprintf(stderr, "ctlflood: socket: %s\n", strerror(errno));
			return 1;
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			conns++;
			if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
				answers++;
		}
		close(fd);
	}
	double took = now_s() - start;
	printf("connections=%lu refused_answers=%lu seconds=%.3f per_second=%.0f\n", conns, answers,
	       took, took > 0 ? (double)conns / took : 0.0);
	return 0;
}
