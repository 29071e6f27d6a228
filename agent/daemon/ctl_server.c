/* Control socket server: peer authorization and command dispatch. */
#include "ctl_server.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl_proto.h"
#include "pipeline.h"
#include "mg/log.h"

#define MAX_GROUPS  64
#define MAX_CLIENTS 16
/* Connections accepted per call of mg_ctl_server_handle(): the event loop gets back to the
 * uevents in between, whatever a flood of connections does (the listening socket stays
 * readable and is served on the next round). */
#define ACCEPT_BUDGET 8
/* Answer bytes held for clients that do not read them, all clients together: past it the
 * client whose answer would not fit is dropped. */
#define MAX_BUFFERED (32u * 1024u * 1024u)

/* A connected, authorized peer: its request line arriving, then its answer leaving. */
struct ctl_client {
	int fd;       /* -1: slot free */
	uint32_t gen; /* bumped whenever the slot is reused: tickets of deferred answers */
	bool waiting; /* the answer comes later (mg_ctl_server_reply) */
	struct ucred cred;
	size_t len;
	char buf[MG_CTL_MAX_REQUEST + 1];
	char *out; /* the answer not sent yet (NULL while reading the request) */
	size_t out_len, out_off;
};

struct mg_ctl_server {
	int fd;  /* listening socket */
	int efd; /* epoll over fd and the clients: the one fd the event loop watches */
	struct ctl_client clients[MAX_CLIENTS];
	unsigned next_victim; /* slot reused when all are busy */
	size_t buffered;      /* answer bytes held for all clients */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	gid_t gids[MAX_GROUPS];
	size_t n_gids;
};

int mg_ctl_server_new(const char *path, const struct mg_strv *allowed_groups,
                      struct mg_ctl_server **out)
{
	struct mg_ctl_server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fd = -1;
	s->efd = -1;
	for (size_t i = 0; i < MAX_CLIENTS; i++)
		s->clients[i].fd = -1;
	int r = -ENAMETOOLONG;
	if (strlen(path) >= sizeof(s->path))
		goto fail;
	memcpy(s->path, path, strlen(path) + 1);
	for (size_t i = 0; allowed_groups && i < allowed_groups->n; i++) {
		struct group *g = getgrnam(allowed_groups->v[i]);
		if (!g) {
			mg_log(MG_LOG_WARNING, "allowed_groups: no group '%s'; ignored",
			       allowed_groups->v[i]);
			continue;
		}
		if (s->n_gids < MAX_GROUPS)
			s->gids[s->n_gids++] = g->gr_gid;
	}
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->fd < 0) {
		r = -errno;
		goto fail;
	}
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, s->path, strlen(s->path) + 1);
	/* Replace a stale socket, never anything else. */
	struct stat st;
	if (lstat(s->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			r = -EEXIST;
			goto fail;
		}
		unlink(s->path);
	}
	mode_t old = umask(0111);
	r = bind(s->fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || listen(s->fd, 16) < 0) {
		r = -errno;
		goto fail;
	}
	s->efd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ee = {.events = EPOLLIN, .data.ptr = NULL};
	if (s->efd < 0 || epoll_ctl(s->efd, EPOLL_CTL_ADD, s->fd, &ee) < 0) {
		r = -errno;
		goto fail;
	}
	*out = s;
	return 0;
fail:
	mg_ctl_server_free(&s);
	return r;
}

void mg_ctl_server_free(struct mg_ctl_server **ps)
{
	struct mg_ctl_server *s = *ps;
	if (!s)
		return;
	for (size_t i = 0; i < MAX_CLIENTS; i++) {
		if (s->clients[i].fd >= 0)
			close(s->clients[i].fd);
		free(s->clients[i].out);
	}
	if (s->efd >= 0)
		close(s->efd);
	if (s->fd >= 0) {
		close(s->fd);
		unlink(s->path);
	}
	free(s);
	*ps = NULL;
}

int mg_ctl_server_fd(const struct mg_ctl_server *s)
{
	return s->efd;
}

static bool peer_allowed(const struct mg_ctl_server *s, int fd, struct ucred *cred)
{
	socklen_t len = sizeof(*cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &len) < 0)
		return false;
	if (cred->uid == 0)
		return true;
	if (s->n_gids == 0)
		return false;
	gid_t groups[256];
	socklen_t glen = sizeof(groups);
	size_t ng = 0;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0)
		ng = glen / sizeof(gid_t);
	for (size_t i = 0; i < s->n_gids; i++) {
		if (cred->gid == s->gids[i])
			return true;
		for (size_t j = 0; j < ng; j++)
			if (groups[j] == s->gids[i])
				return true;
	}
	return false;
}

/* The refusal of a peer that is neither root nor in allowed_groups: a constant, so that a
 * flood of unprivileged connections costs the agent no allocation and no formatting. */
static const char denied[] =
    "{\"error\":\"permission denied: root or a member of allowed_groups only\",\"ok\":false}\n";

static json_t *error_json(const char *msg)
{
	return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

/* Answers NULL on ENOMEM; *deferred when the pipeline answers later (ticket). */
static json_t *dispatch(struct mg_agent *agent, struct mg_pipeline *pipe,
                        const struct mg_ctl_request *req, const struct ucred *cred, uint64_t ticket,
                        bool *deferred)
{
	char who[64];
	struct passwd *pw = getpwuid(cred->uid);
	snprintf(who, sizeof(who), "%s(uid %u)", pw ? pw->pw_name : "?", (unsigned)cred->uid);
	json_t *answer = NULL;
	if (req->cmd == MG_CTL_ENROLL && cred->uid != 0)
		return error_json("permission denied: enroll is for root only");
	if (req->cmd == MG_CTL_STAFF_REGISTER && cred->uid != 0)
		return error_json("permission denied: staff-register is for root only");
	switch (req->cmd) {
	case MG_CTL_ENROLL:
	case MG_CTL_STAFF_REGISTER:
	case MG_CTL_SYNC:
	case MG_CTL_REQUEST:
	case MG_CTL_REQUESTS:
		if (!pipe)
			return error_json("the event pipeline is not running");
		break;
	default:
		break;
	}
	switch (req->cmd) {
	case MG_CTL_ENROLL:
		*deferred = mg_pipeline_enroll(pipe, req->collector, req->token, req->ca,
		                               req->force, ticket, &answer) == 1;
		return answer;
	case MG_CTL_SYNC:
		*deferred = mg_pipeline_sync(pipe, ticket, &answer) == 1;
		return answer;
	case MG_CTL_STAFF_REGISTER:
		*deferred =
		    mg_pipeline_staff_register(pipe, req->registration, ticket, &answer) == 1;
		return answer;
	case MG_CTL_REQUEST: {
		if (req->user[0] && cred->uid != 0)
			return error_json("permission denied: --user is for root only");
		char user[256];
		snprintf(user, sizeof(user), "%s",
		         req->user[0] ? req->user
		         : pw         ? pw->pw_name
		                      : "unknown");
		if (!pw && !req->user[0])
			snprintf(user, sizeof(user), "uid %u", (unsigned)cred->uid);
		return mg_pipeline_request(pipe, req->id, req->reason, user);
	}
	case MG_CTL_REQUESTS:
		return mg_pipeline_requests(pipe);
	case MG_CTL_STATUS: {
		json_t *st = mg_agent_status(agent);
		if (!st)
			return NULL;
		if (pipe)
			mg_pipeline_status(pipe, st);
		json_object_set_new(st, "ok", json_true());
		return st;
	}
	case MG_CTL_LIST_DEVICES: {
		json_t *devs = mg_agent_list_devices(agent);
		return devs ? json_pack("{s:b, s:o}", "ok", 1, "devices", devs) : NULL;
	}
	case MG_CTL_ALLOW_DEVICE:
	case MG_CTL_BLOCK_DEVICE: {
		int r = mg_agent_override(
		    agent, req->id,
		    req->cmd == MG_CTL_ALLOW_DEVICE ? MG_TARGET_ALLOW : MG_TARGET_BLOCK, who);
		if (r == -ENOENT)
			return error_json("no device with that id");
		if (r < 0)
			return error_json(strerror(-r));
		return json_pack("{s:b}", "ok", 1);
	}
	case MG_CTL_RELOAD: {
		struct mg_rule_error err;
		memset(&err, 0, sizeof(err));
		int r = mg_agent_reload(agent, req->force, &err);
		if (r < 0) {
			char buf[800];
			return error_json(err.file[0]  ? mg_rule_error_str(&err, buf, sizeof(buf))
			                  : err.msg[0] ? err.msg
			                               : strerror(-r));
		}
		return json_pack("{s:b}", "ok", 1);
	}
	case MG_CTL_GENERATE_POLICY: {
		char *text = NULL;
		int r = mg_agent_generate_policy(agent, req->with_ports, &text);
		if (r < 0)
			return error_json(strerror(-r));
		json_t *o = json_pack("{s:b, s:s}", "ok", 1, "rules", text);
		free(text);
		return o;
	}
	}
	return error_json("unknown command");
}

static void client_close(struct mg_ctl_server *s, struct ctl_client *c)
{
	if (c->fd < 0)
		return;
	epoll_ctl(s->efd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->len = 0;
	c->waiting = false;
	c->gen++;
	if (c->out) {
		s->buffered -= c->out_len - c->out_off;
		free(c->out);
		c->out = NULL;
	}
	c->out_len = c->out_off = 0;
}

/* Sends what the socket takes now, never waiting. 1: all sent, 0: more to send, -1: error. */
static int client_flush(struct ctl_client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
		                 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0)
			return -1;
		c->out_off += (size_t)n;
	}
	return 1;
}

/* The JSON text of resp with its newline (malloc'ed), or NULL. */
static char *answer_text(json_t *resp, size_t *len)
{
	char *t = resp ? json_dumps(resp, JSON_COMPACT) : NULL;
	if (!t)
		return NULL;
	size_t n = strlen(t);
	char *line = realloc(t, n + 2);
	if (!line) {
		free(t);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	*len = n + 1;
	return line;
}

static void client_send(struct mg_ctl_server *s, struct ctl_client *c, json_t *resp);

/* Answers the complete request line in c: what the socket takes now is sent at once, the rest
 * when it becomes writable (EPOLLOUT); the agent never waits for a client. A command that
 * waits for the collector is answered later (mg_ctl_server_reply). */
static void client_answer(struct mg_ctl_server *s, struct mg_agent *agent, struct mg_pipeline *pipe,
                          struct ctl_client *c)
{
	char *nl = memchr(c->buf, '\n', c->len);
	json_t *resp;
	static struct mg_ctl_request req; /* large: not on the stack */
	char err[256];
	bool deferred = false;
	if (!nl) {
		resp = error_json("incomplete or oversized request");
	} else if (mg_ctl_request_parse(c->buf, (size_t)(nl - c->buf), &req, err, sizeof(err)) <
	           0) {
		resp = error_json(err);
	} else {
		uint64_t ticket = (uint64_t)(c - s->clients) << 32 | c->gen;
		resp = dispatch(agent, pipe, &req, &c->cred, ticket, &deferred);
		if (deferred) {
			c->waiting = true;
			/* Only a hang-up is watched while the answer is pending. */
			struct epoll_event ee = {.events = EPOLLRDHUP, .data.ptr = c};
			if (epoll_ctl(s->efd, EPOLL_CTL_MOD, c->fd, &ee) < 0)
				client_close(s, c);
			return;
		}
		if (!resp)
			resp = error_json("out of memory");
	}
	client_send(s, c, resp);
}

void mg_ctl_server_reply(struct mg_ctl_server *s, uint64_t ticket, json_t *resp)
{
	size_t slot = (size_t)(ticket >> 32);
	if (slot >= MAX_CLIENTS)
		return;
	struct ctl_client *c = &s->clients[slot];
	if (c->fd < 0 || !c->waiting || c->gen != (uint32_t)ticket)
		return; /* the client went away meanwhile */
	c->waiting = false;
	json_incref(resp);
	client_send(s, c, resp);
}

/* Sends resp (taken) to c. */
static void client_send(struct mg_ctl_server *s, struct ctl_client *c, json_t *resp)
{
	c->out = answer_text(resp, &c->out_len);
	json_decref(resp);
	c->out_off = 0;
	if (!c->out) {
		static const char oom[] = "{\"error\":\"out of memory\",\"ok\":false}\n";
		(void)!send(c->fd, oom, sizeof(oom) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		client_close(s, c);
		return;
	}
	int r = client_flush(c);
	if (r != 0) {
		client_close(s, c);
		return;
	}
	size_t left = c->out_len - c->out_off;
	if (left > MAX_BUFFERED - s->buffered) {
		mg_log(MG_LOG_WARNING,
		       "control client (uid %u) does not read its answer and %zu bytes "
		       "are already held: dropped",
		       (unsigned)c->cred.uid, s->buffered);
		client_close(s, c);
		return;
	}
	s->buffered += left;
	struct epoll_event ee = {.events = EPOLLOUT | EPOLLRDHUP, .data.ptr = c};
	if (epoll_ctl(s->efd, EPOLL_CTL_MOD, c->fd, &ee) < 0)
		client_close(s, c);
}

/* The client can take more of its answer. */
static void client_write(struct mg_ctl_server *s, struct ctl_client *c)
{
	size_t before = c->out_off;
	int r = client_flush(c);
	s->buffered -= c->out_off - before;
	if (r != 0)
		client_close(s, c);
}

static void client_accept(struct mg_ctl_server *s)
{
	for (int k = 0; k < ACCEPT_BUDGET; k++) {
		int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return; /* EAGAIN, or an error for this one connection */
		struct ucred cred;
		if (!peer_allowed(s, fd, &cred)) {
			(void)!send(fd, denied, sizeof(denied) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
			close(fd);
			continue;
		}
		struct ctl_client *c = NULL;
		for (size_t i = 0; i < MAX_CLIENTS && !c; i++)
			if (s->clients[i].fd < 0)
				c = &s->clients[i];
		if (!c) {
			/* All slots held by silent peers: the oldest slot gives way. */
			c = &s->clients[s->next_victim++ % MAX_CLIENTS];
			client_close(s, c);
		}
		c->fd = fd;
		c->cred = cred;
		c->len = 0;
		c->out = NULL;
		c->out_len = c->out_off = 0;
		struct epoll_event ee = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
		if (epoll_ctl(s->efd, EPOLL_CTL_ADD, fd, &ee) < 0)
			client_close(s, c);
	}
}

/* Reads what the client sent; answers once a line (or too much) has arrived. */
static void client_read(struct mg_ctl_server *s, struct mg_agent *agent, struct mg_pipeline *pipe,
                        struct ctl_client *c)
{
	for (;;) {
		ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return; /* wait for more */
		if (n <= 0) {
			client_close(s, c); /* closed without a complete request */
			return;
		}
		c->len += (size_t)n;
		if (memchr(c->buf, '\n', c->len) || c->len == sizeof(c->buf) - 1) {
			client_answer(s, agent, pipe, c);
			return;
		}
	}
}

int mg_ctl_server_handle(struct mg_ctl_server *s, struct mg_agent *agent, struct mg_pipeline *pipe)
{
	struct epoll_event evs[MAX_CLIENTS + 1];
	int n = epoll_wait(s->efd, evs, MAX_CLIENTS + 1, 0);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct ctl_client *c = evs[i].data.ptr;
		if (!c)
			client_accept(s);
		else if (c->fd >= 0 && c->waiting)
			client_close(s, c); /* hung up while its answer was pending */
		else if (c->fd >= 0 && c->out)
			client_write(s, c);
		else if (c->fd >= 0)
			client_read(s, agent, pipe, c);
	}
	return 0;
}
