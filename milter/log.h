/*
 * log.h - logging for tlsrpt-milter: one line per call, to syslog (facility
 * mail, ident "tlsrpt-milter") or to stderr (LogTarget), as text or as one
 * JSON object per line (LogFormat). Messages above LogLevel are dropped.
 *
 * Where lines go:
 *   - LogTarget syslog: syslog only; but when there is no syslog socket
 *     (/dev/log) at start, stderr instead (never nowhere).
 *   - LogTarget stderr: stderr only. When stderr is the systemd journal
 *     (JOURNAL_STREAM names it) a line is "<PRIO>message", so the journal
 *     keeps the priority and adds the time and pid itself.
 *   - until start-up is over (tm_log_startup_done), errors also go to stderr
 *     when that is not where the lines go anyway and not the journal: a
 *     start failure always reaches the terminal that started the daemon.
 * Every line is made safe first: control characters and bytes that are not
 * valid UTF-8 become '?'; JSON strings are escaped. At most TM_LOG_LINE_MAX
 * bytes of message (longer ones are cut). Thread-safe; no allocation.
 */
#ifndef TM_LOG_H
#define TM_LOG_H

#include <syslog.h>

#define TM_LOG_LINE_MAX 2048

/* Start logging: target/format as enum tm_log_target/tm_log_format, level a syslog
   priority. Decides the effective target (see above). */
void tm_log_open(int target, int format, int level);
/* Change level and format (SIGHUP); the target stays. */
void tm_log_set(int level, int format);
/* 1 when lines go to stderr (LogTarget stderr, or no syslog socket). */
int tm_log_to_stderr(void);
/* Start-up is over: errors are no longer copied to stderr. */
void tm_log_startup_done(void);
/* 1 when messages at prio are logged (to skip building expensive ones). */
int tm_log_enabled(int prio);
/* Log one line at prio. */
void tm_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Log one line about a mail: queue id qid ("" or NULL = not known yet). Text lines
   start "QID: " ("NOQUEUE: " when unknown); JSON lines get a "queue_id" member. */
void tm_logq(int prio, const char *qid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void tm_log_close(void);

#endif
