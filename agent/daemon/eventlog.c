/* Durable JSON-lines event log with per-boot sequence numbers. */
#include "eventlog.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mg/host.h"

struct mg_eventlog {
	int fd;
	bool deferred;
	uint64_t seq;
	char boot_id[37];
	char host[256];
	char path[PATH_MAX];
};

/*
 * Drops an incomplete last line (a crash during a write) and returns the seq of the last
 * line of this boot (0 when the last complete line is of another boot or none parses).
 */
static uint64_t recover_seq(int fd, const char *boot_id)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size == 0)
		return 0;
	size_t want =
	    st.st_size > (off_t)MG_EVENT_MAX_JSON * 2 ? MG_EVENT_MAX_JSON * 2 : (size_t)st.st_size;
	off_t base = st.st_size - (off_t)want;
	char *buf = malloc(want + 1);
	if (!buf)
		return 0;
	ssize_t n = pread(fd, buf, want, base);
	uint64_t seq = 0;
	if (n <= 0)
		goto out;
	size_t end = (size_t)n;
	if (buf[end - 1] != '\n') {
		while (end > 0 && buf[end - 1] != '\n')
			end--;
		if (ftruncate(fd, base + (off_t)end) < 0)
			goto out;
	}
	/* The last complete line that parses decides. */
	while (end > 0) {
		size_t line_end = end - 1; /* index of its '\n' */
		size_t start = line_end;
		while (start > 0 && buf[start - 1] != '\n')
			start--;
		struct mg_event *ev = NULL;
		if (mg_event_from_json(buf + start, line_end - start, &ev, NULL, 0) == 0) {
			if (strcmp(ev->boot_id, boot_id) == 0)
				seq = ev->seq;
			mg_event_free(&ev);
			break;
		}
		end = start;
	}
out:
	free(buf);
	return seq;
}

int mg_eventlog_open(const char *state_dir, struct mg_eventlog **out)
{
	struct mg_eventlog *log = calloc(1, sizeof(*log));
	if (!log)
		return -ENOMEM;
	int r;
	log->fd = -1;
	if (snprintf(log->path, sizeof(log->path), "%s/events.jsonl", state_dir) >=
	    (int)sizeof(log->path)) {
		r = -ENAMETOOLONG;
		goto fail;
	}
	if ((r = mg_boot_id(log->boot_id)) < 0 ||
	    (r = mg_hostname(log->host, sizeof(log->host))) < 0)
		goto fail;
	log->fd = open(log->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (log->fd < 0) {
		r = -errno;
		goto fail;
	}
	log->seq = recover_seq(log->fd, log->boot_id);
	*out = log;
	return 0;
fail:
	mg_eventlog_close(&log);
	return r;
}

void mg_eventlog_close(struct mg_eventlog **log)
{
	if (!log || !*log)
		return;
	if ((*log)->fd >= 0)
		close((*log)->fd);
	free(*log);
	*log = NULL;
}

static int append(struct mg_eventlog *log, struct mg_event *ev, bool sync)
{
	int r = mg_set_str(&ev->host, log->host);
	if (r < 0)
		return r;
	memcpy(ev->boot_id, log->boot_id, sizeof(ev->boot_id));
	ev->seq = log->seq + 1;
	char *json = NULL;
	size_t len = 0;
	r = mg_event_to_json(ev, &json, &len);
	if (r < 0)
		return r;
	char *line = realloc(json, len + 1);
	if (!line) {
		free(json);
		return -ENOMEM;
	}
	line[len++] = '\n';
	off_t before = lseek(log->fd, 0, SEEK_END);
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(log->fd, line + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		off += (size_t)n;
	}
	free(line);
	if (r < 0 && before >= 0 && ftruncate(log->fd, before) < 0)
		r = -errno; /* keep the file line-aligned for the next append */
	if (r == 0 && sync && !log->deferred && fdatasync(log->fd) < 0)
		r = -errno;
	if (r == 0)
		log->seq = ev->seq;
	return r;
}

int mg_eventlog_append(struct mg_eventlog *log, struct mg_event *ev)
{
	return append(log, ev, true);
}

int mg_eventlog_append_nosync(struct mg_eventlog *log, struct mg_event *ev)
{
	return append(log, ev, false);
}

void mg_eventlog_defer(struct mg_eventlog *log, bool deferred)
{
	log->deferred = deferred;
}

int mg_eventlog_sync(struct mg_eventlog *log)
{
	return fdatasync(log->fd) < 0 ? -errno : 0;
}

uint64_t mg_eventlog_last_seq(const struct mg_eventlog *log)
{
	return log->seq;
}

const char *mg_eventlog_path(const struct mg_eventlog *log)
{
	return log->path;
}
