/* Logging to stderr or syslog with levels. Library code does not log: callers log once. */
#ifndef MG_LOG_H
#define MG_LOG_H

#include <stdbool.h>

enum mg_log_level {
	MG_LOG_ERR = 3,
	MG_LOG_WARNING = 4,
	MG_LOG_NOTICE = 5,
	MG_LOG_INFO = 6,
	MG_LOG_DEBUG = 7,
};

enum mg_log_target {
	MG_LOG_STDERR, /* "<level>ident: message" lines, journald-compatible prefixes */
	MG_LOG_SYSLOG, /* syslog(3) with the facility given to mg_log_open() */
};

/* Sets identity, target, syslog facility (LOG_DAEMON, LOG_AUTHPRIV, ...) and the threshold. */
void mg_log_open(const char *ident, enum mg_log_target target, int facility,
                 enum mg_log_level max_level);
void mg_log_close(void);
void mg_log_set_level(enum mg_log_level max_level);
/* Parses "err", "warning", "notice", "info", "debug"; returns 0 or -EINVAL. */
int mg_log_level_from_string(const char *s, enum mg_log_level *out);
bool mg_log_enabled(enum mg_log_level level);

void mg_log(enum mg_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Logs fmt followed by ": " and strerror(-err); returns err (negative errno) for chaining. */
int mg_log_errno(enum mg_log_level level, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define mg_err(...)    mg_log(MG_LOG_ERR, __VA_ARGS__)
#define mg_warn(...)   mg_log(MG_LOG_WARNING, __VA_ARGS__)
#define mg_notice(...) mg_log(MG_LOG_NOTICE, __VA_ARGS__)
#define mg_info(...)   mg_log(MG_LOG_INFO, __VA_ARGS__)
#define mg_debug(...)  mg_log(MG_LOG_DEBUG, __VA_ARGS__)

#endif
