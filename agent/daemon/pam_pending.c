/* The PAM module's pending events, taken into the spool (pam_pending.h). */
#include "pam_pending.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mg/log.h"
#include "mg/safe_open.h"

int mg_pam_pending_take(const char *path, struct mg_eventlog *log)
{
	if (!path || !path[0])
		return 0;
	char taking[4200], refused[4200];
	snprintf(taking, sizeof(taking), "%s.taking", path);
	snprintf(refused, sizeof(refused), "%s.refused", path);
	/* A file taken before a crash comes first; else the current one, if any. */
	if (access(taking, F_OK) < 0 && rename(path, taking) < 0)
		return errno == ENOENT ? 0 : -errno;
	struct mg_file_rules own = {.owner = geteuid(), .max_size = MG_PAM_PENDING_MAX};
	char *data = NULL;
	size_t len = 0;
	const char *why = NULL;
	int r = mg_safe_read_file(taking, &own, &data, &len, &why);
	if (r < 0) {
		mg_log(MG_LOG_ERR, "PAM pending events %s not taken (%s): moved to %s", taking,
		       why ? why : strerror(-r), refused);
		(void)rename(taking, refused);
		return r;
	}
	int taken = 0, bad = 0;
	size_t off = 0, line = 0;
	while (off < len) {
		char *nl = memchr(data + off, '\n', len - off);
		line++;
		if (!nl) {
			mg_log(MG_LOG_WARNING, "%s: line %zu is incomplete (torn write): skipped",
			       taking, line);
			break;
		}
		size_t n = (size_t)(nl - (data + off));
		char err[256] = "";
		if (n > 0 && mg_eventlog_ingest(log, data + off, n, false, err, sizeof(err)) == 0) {
			taken++;
		} else if (n > 0) {
			bad++;
			mg_log(MG_LOG_WARNING, "%s: line %zu not taken: %s", taking, line, err);
		}
		off += n + 1;
	}
	free(data);
	if ((r = mg_eventlog_sync(log)) < 0) {
		mg_log_errno(MG_LOG_ERR, r, "PAM pending events: cannot sync the spool; %s kept",
		             taking);
		return r;
	}
	if (unlink(taking) < 0)
		mg_log_errno(MG_LOG_ERR, -errno, "cannot remove %s", taking);
	if (taken || bad)
		mg_log(MG_LOG_NOTICE,
		       "took %d PAM event%s written while the agent was not running%s", taken,
		       taken == 1 ? "" : "s", bad ? " (some lines refused)" : "");
	return taken;
}
