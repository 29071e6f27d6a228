/* The PAM module's event socket (event_socket.h). */
#include "event_socket.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "mg/event.h"
#include "mg/log.h"

#define MAX_PEERS     16
#define ACCEPT_BUDGET 8

struct mg_event_socket {
	int fd, efd;
	int peers[MAX_PEERS];
	unsigned next_victim;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *buf; /* one message: MG_EVENT_MAX_JSON + 1 */
};

int mg_event_socket_new(const char *path, struct mg_event_socket **out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	struct mg_event_socket *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (int i = 0; i < MAX_PEERS; i++)
		s->peers[i] = -1;
	s->efd = -1;
	snprintf(s->path, sizeof(s->path), "%s", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int r = 0;
	s->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	s->efd = epoll_create1(EPOLL_CLOEXEC);
	s->buf = malloc(MG_EVENT_MAX_JSON + 1);
	if (s->fd < 0 || s->efd < 0 || !s->buf) {
		r = s->buf ? -errno : -ENOMEM;
		goto fail;
	}
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		(void)unlink(path);
	mode_t old = umask(0);
	int b = bind(s->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (b < 0 || chmod(path, 0666) < 0 || listen(s->fd, 16) < 0) {
		r = -errno;
		goto fail;
	}
	struct epoll_event ee = {.events = EPOLLIN, .data.u64 = UINT64_MAX}; /* the listener */
	if (epoll_ctl(s->efd, EPOLL_CTL_ADD, s->fd, &ee) < 0) {
		r = -errno;
		goto fail;
	}
	*out = s;
	return 0;
fail:
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	mg_event_socket_free(&s);
	return r;
}

void mg_event_socket_free(struct mg_event_socket **ps)
{
	struct mg_event_socket *s = ps ? *ps : NULL;
	if (!s)
		return;
	for (int i = 0; i < MAX_PEERS; i++)
		if (s->peers[i] >= 0)
			close(s->peers[i]);
	if (s->fd >= 0) {
		close(s->fd);
		(void)unlink(s->path);
	}
	if (s->efd >= 0)
		close(s->efd);
	free(s->buf);
	free(s);
	*ps = NULL;
}

int mg_event_socket_fd(const struct mg_event_socket *s)
{
	return s->efd;
}

static void drop(struct mg_event_socket *s, int i)
{
	epoll_ctl(s->efd, EPOLL_CTL_DEL, s->peers[i], NULL);
	close(s->peers[i]);
	s->peers[i] = -1;
}

static void accept_peers(struct mg_event_socket *s)
{
	for (int k = 0; k < ACCEPT_BUDGET; k++) {
		int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		struct ucred cred;
		socklen_t len = sizeof(cred);
		/* The PAM module runs as root: nobody else may add events (an agent that is not
		 * root, in tests, serves its own user as well). */
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
		    (cred.uid != 0 && cred.uid != geteuid())) {
			close(fd);
			continue;
		}
		int i = 0;
		while (i < MAX_PEERS && s->peers[i] >= 0)
			i++;
		if (i == MAX_PEERS) {
			i = (int)(s->next_victim++ % MAX_PEERS);
			drop(s, i);
		}
		s->peers[i] = fd;
		struct epoll_event ee = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = (uint64_t)i};
		if (epoll_ctl(s->efd, EPOLL_CTL_ADD, fd, &ee) < 0) {
			close(fd);
			s->peers[i] = -1;
		}
	}
}

static void serve(struct mg_event_socket *s, int i, struct mg_eventlog *log)
{
	ssize_t n = recv(s->peers[i], s->buf, MG_EVENT_MAX_JSON + 1, MSG_DONTWAIT | MSG_TRUNC);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		drop(s, i);
		return;
	}
	char why[300] = "";
	char answer[340];
	if ((size_t)n > MG_EVENT_MAX_JSON) {
		snprintf(answer, sizeof(answer), "error: event larger than %u bytes",
		         MG_EVENT_MAX_JSON);
	} else if (mg_eventlog_ingest(log, s->buf, (size_t)n, true, why, sizeof(why)) == 0) {
		snprintf(answer, sizeof(answer), "ok");
	} else {
		snprintf(answer, sizeof(answer), "error: %s", why);
		mg_log(MG_LOG_WARNING, "event socket: PAM event refused: %s", why);
	}
	(void)send(s->peers[i], answer, strlen(answer), MSG_DONTWAIT | MSG_NOSIGNAL);
	drop(s, i); /* one event per connection */
}

void mg_event_socket_handle(struct mg_event_socket *s, struct mg_eventlog *log)
{
	struct epoll_event evs[MAX_PEERS + 1];
	int n = epoll_wait(s->efd, evs, MAX_PEERS + 1, 0);
	for (int k = 0; k < n; k++) {
		uint64_t tag = evs[k].data.u64;
		if (tag == UINT64_MAX)
			accept_peers(s);
		else if (tag < MAX_PEERS && s->peers[tag] >= 0)
			serve(s, (int)tag, log);
	}
}
