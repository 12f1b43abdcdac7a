/*
 * log.h - logging for tlsrpt-milter: syslog (LOG_MAIL, ident "tlsrpt-milter")
 * and, in the foreground (-f), stderr as well. Messages above the LogLevel
 * (syslog priority) are dropped. Thread-safe; one line per call, at most
 * TM_LOG_LINE_MAX bytes (longer lines are truncated); control characters in
 * the message are written as '?'.
 */
#ifndef TM_LOG_H
#define TM_LOG_H

#include <syslog.h>

#define TM_LOG_LINE_MAX 2048

/* Open syslog; to_stderr: also write each line to stderr; level: highest priority logged. */
void tm_log_open(int to_stderr, int level);
/* Change the level (syslog priority, LOG_ERR .. LOG_DEBUG). */
void tm_log_set_level(int level);
/* 1 when messages at prio are logged (to skip building expensive ones). */
int tm_log_enabled(int prio);
/* Log one line at prio. */
void tm_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tm_log_close(void);

#endif
