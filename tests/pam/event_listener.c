/* Test stand-in for the agent's event socket. */
#include "event_listener.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MSG_MAX (256 * 1024)

struct listener {
	char path[108];
	int fd;
	int stop[2];
	enum l_reply reply;
	pthread_t thread;
	pthread_mutex_t mu;
	char *msgs[L_MAX_MSGS];
	size_t nmsgs;
	int held[L_MAX_MSGS]; /* L_REPLY_SILENT: connections kept open */
	size_t nheld;
};

static void die(const char *what)
{
	fprintf(stderr, "listener: %s: %s\n", what, strerror(errno));
	abort();
}

/* One connection: one message, one answer. */
static void serve(struct listener *l, int c)
{
	static const char ok[] = "ok", err[] = "error: malformed", garbage[] = "maybe";
	char *buf = malloc(MSG_MAX + 1);
	if (!buf)
		die("malloc");
	struct pollfd p[2] = {{c, POLLIN, 0}, {l->stop[0], POLLIN, 0}};
	ssize_t n = -1;
	if (poll(p, 2, 5000) > 0 && (p[0].revents & POLLIN))
		n = recv(c, buf, MSG_MAX, 0);
	if (n > 0) {
		buf[n] = '\0';
		pthread_mutex_lock(&l->mu);
		if (l->nmsgs < L_MAX_MSGS)
			l->msgs[l->nmsgs++] = strdup(buf);
		pthread_mutex_unlock(&l->mu);
	}
	free(buf);
	switch (l->reply) {
	case L_REPLY_OK:
		(void)send(c, ok, strlen(ok), MSG_NOSIGNAL);
		break;
	case L_REPLY_ERROR:
		(void)send(c, err, strlen(err), MSG_NOSIGNAL);
		break;
	case L_REPLY_GARBAGE:
		(void)send(c, garbage, strlen(garbage), MSG_NOSIGNAL);
		break;
	case L_REPLY_SILENT:
		if (l->nheld < L_MAX_MSGS) {
			l->held[l->nheld++] = c;
			return;
		}
		break;
	case L_REPLY_CLOSE:
		break;
	}
	close(c);
}

static void *run(void *arg)
{
	struct listener *l = arg;
	for (;;) {
		struct pollfd p[2] = {{l->fd, POLLIN, 0}, {l->stop[0], POLLIN, 0}};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		int c = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
		if (c >= 0)
			serve(l, c);
	}
	return NULL;
}

struct listener *l_start(const char *path, enum l_reply reply)
{
	struct listener *l = calloc(1, sizeof(*l));
	struct sockaddr_un sa;
	if (!l || strlen(path) >= sizeof(sa.sun_path))
		die("l_start");
	snprintf(l->path, sizeof(l->path), "%s", path);
	l->reply = reply;
	pthread_mutex_init(&l->mu, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	(void)unlink(path);
	l->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (l->fd < 0 || bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(l->fd, 8) < 0 || pipe(l->stop) < 0)
		die(path);
	if (pthread_create(&l->thread, NULL, run, l) != 0)
		die("pthread_create");
	return l;
}

size_t l_count(struct listener *l)
{
	pthread_mutex_lock(&l->mu);
	size_t n = l->nmsgs;
	pthread_mutex_unlock(&l->mu);
	return n;
}

void l_message(struct listener *l, size_t i, char *buf, size_t len)
{
	pthread_mutex_lock(&l->mu);
	snprintf(buf, len, "%s", i < l->nmsgs ? l->msgs[i] : "");
	pthread_mutex_unlock(&l->mu);
}

void l_stop(struct listener **lp)
{
	struct listener *l = lp ? *lp : NULL;
	if (!l)
		return;
	if (write(l->stop[1], "x", 1) != 1)
		die("stop");
	pthread_join(l->thread, NULL);
	for (size_t i = 0; i < l->nheld; i++)
		close(l->held[i]);
	for (size_t i = 0; i < l->nmsgs; i++)
		free(l->msgs[i]);
	close(l->fd);
	close(l->stop[0]);
	close(l->stop[1]);
	(void)unlink(l->path);
	pthread_mutex_destroy(&l->mu);
	free(l);
	*lp = NULL;
}
