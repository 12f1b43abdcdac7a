/*
 * log.c - syslog + optional stderr logging with LogLevel filtering (see log.h).
 *
 * The level is a plain int read by all threads; it is only written before
 * the worker threads start. Lines are formatted into a bounded stack buffer,
 * so a call never allocates; stderr gets the line in one write(2).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "log.h"

static int log_level = LOG_INFO;
static int log_stderr;

/* Open the syslog connection. */
void tm_log_open(int to_stderr, int level)
{
    log_stderr = to_stderr;
    log_level = level;
    openlog("tlsrpt-milter", LOG_PID | LOG_NDELAY, LOG_MAIL);
}

/* Set the highest priority that is logged. */
void tm_log_set_level(int level)
{
    log_level = level;
}

/* Is prio logged at the current level? */
int tm_log_enabled(int prio)
{
    return prio <= log_level;
}

/* Name printed on stderr for a priority. */
static const char *prio_name(int prio)
{
    switch (prio) {
    case LOG_EMERG: case LOG_ALERT: case LOG_CRIT: case LOG_ERR: return "error";
    case LOG_WARNING: return "warning";
    case LOG_NOTICE: return "notice";
    case LOG_INFO: return "info";
    default: return "debug";
    }
}

/* Format and send one line. */
void tm_log(int prio, const char *fmt, ...)
{
    char line[TM_LOG_LINE_MAX];
    va_list ap;
    if (!tm_log_enabled(prio))
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    for (char *p = line; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    syslog(prio, "%s", line);
    if (log_stderr) {
        char out[TM_LOG_LINE_MAX + 64];
        time_t now = time(NULL);
        struct tm tm;
        char ts[32] = "";
        if (localtime_r(&now, &tm))
            strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
        int n = snprintf(out, sizeof out, "%s tlsrpt-milter[%ld]: %s: %s\n", ts,
                         (long)getpid(), prio_name(prio), line);
        if (n > 0) {
            size_t len = (size_t)n < sizeof out ? (size_t)n : sizeof out - 1;
            if (write(STDERR_FILENO, out, len) < 0) {
                /* nowhere left to report it */
            }
        }
    }
}

/* Close the syslog connection. */
void tm_log_close(void)
{
    closelog();
}
