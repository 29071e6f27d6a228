/* Logging: one sink per process, chosen at start-up. */
#include "mg/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

static struct {
	char ident[64];
	enum mg_log_target target;
	enum mg_log_level max_level;
	bool syslog_open;
} g_log = {"mynaguard", MG_LOG_STDERR, MG_LOG_INFO, false};

static const char *const level_names[] = {
    [MG_LOG_ERR] = "err",   [MG_LOG_WARNING] = "warning", [MG_LOG_NOTICE] = "notice",
    [MG_LOG_INFO] = "info", [MG_LOG_DEBUG] = "debug",
};

void mg_log_open(const char *ident, enum mg_log_target target, int facility,
                 enum mg_log_level max_level)
{
	snprintf(g_log.ident, sizeof(g_log.ident), "%s", ident ? ident : "mynaguard");
	g_log.target = target;
	g_log.max_level = max_level;
	if (target == MG_LOG_SYSLOG) {
		openlog(g_log.ident, LOG_PID | LOG_NDELAY, facility);
		g_log.syslog_open = true;
	}
}

void mg_log_close(void)
{
	if (g_log.syslog_open) {
		closelog();
		g_log.syslog_open = false;
	}
	g_log.target = MG_LOG_STDERR;
}

void mg_log_set_level(enum mg_log_level max_level)
{
	g_log.max_level = max_level;
}

int mg_log_level_from_string(const char *s, enum mg_log_level *out)
{
	for (int l = MG_LOG_ERR; l <= MG_LOG_DEBUG; l++) {
		if (s && strcmp(s, level_names[l]) == 0) {
			*out = (enum mg_log_level)l;
			return 0;
		}
	}
	return -EINVAL;
}

bool mg_log_enabled(enum mg_log_level level)
{
	return level <= g_log.max_level;
}

static void log_va(enum mg_log_level level, int err, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void log_va(enum mg_log_level level, int err, const char *fmt, va_list ap)
{
	char msg[2048];
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	if (err != 0) {
		size_t used = strlen(msg);
		snprintf(msg + used, sizeof(msg) - used, ": %s", strerror(-err));
	}
	if (g_log.target == MG_LOG_SYSLOG) {
		syslog((int)level, "%s", msg);
		return;
	}
	/* "<N>" prefixes let journald assign the priority when stderr is the journal. */
	fprintf(stderr, "<%d>%s: %s\n", (int)level, g_log.ident, msg);
}

void mg_log(enum mg_log_level level, const char *fmt, ...)
{
	if (!mg_log_enabled(level))
		return;
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	log_va(level, 0, fmt, ap);
	va_end(ap);
	errno = saved;
}

int mg_log_errno(enum mg_log_level level, int err, const char *fmt, ...)
{
	if (mg_log_enabled(level)) {
		int saved = errno;
		va_list ap;
		va_start(ap, fmt);
		log_va(level, err < 0 ? err : -err, fmt, ap);
		va_end(ap);
		errno = saved;
	}
	return err < 0 ? err : -err;
}
