/*
 * log.c - syslog or stderr, text or JSON, LogLevel filtering (see log.h).
 *
 * The settings are atomics: the signal thread changes level and format on
 * SIGHUP while worker threads log. A line is built in bounded stack buffers
 * (no allocation) and written with one syslog(3) or one write(2) call, so
 * lines of different threads never mix. UTF-8 is checked by hand (a few
 * lines; glibc has no validator and this must not allocate).
 * Errors: a failed write to stderr is ignored (there is nowhere to say it).
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "config.h"
#include "log.h"

#define TM_SYSLOG_SOCKET "/dev/log"

static atomic_int log_level = LOG_INFO;
static atomic_int log_format = TM_LOG_TEXT;
static atomic_int log_stderr;           /* lines go to stderr instead of syslog */
static atomic_int log_mirror = 1;       /* start-up: errors to stderr too */
static int log_journal;                 /* stderr is the systemd journal */

/* Is stderr the journal stream systemd gave us (JOURNAL_STREAM=dev:ino)? */
static int stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) != 0)
        return 0;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

/* Decide where lines go and open syslog when it is used. */
void tm_log_open(int target, int format, int level)
{
    struct stat st;
    int no_syslog = stat(TM_SYSLOG_SOCKET, &st) != 0 || !S_ISSOCK(st.st_mode);
    log_journal = stderr_is_journal();
    atomic_store(&log_level, level);
    atomic_store(&log_format, format);
    atomic_store(&log_stderr, target == TM_LOG_STDERR || no_syslog);
    if (!atomic_load(&log_stderr))
        openlog("tlsrpt-milter", LOG_PID | LOG_NDELAY, LOG_MAIL);
    else if (target != TM_LOG_STDERR)
        tm_log(LOG_NOTICE, "no syslog socket %s: logging to stderr", TM_SYSLOG_SOCKET);
}

/* New level and format (reload). */
void tm_log_set(int level, int format)
{
    atomic_store(&log_level, level);
    atomic_store(&log_format, format);
}

/* Do lines go to stderr? */
int tm_log_to_stderr(void)
{
    return atomic_load(&log_stderr);
}

/* Start-up is over. */
void tm_log_startup_done(void)
{
    atomic_store(&log_mirror, 0);
}

/* Is prio logged at the current level? */
int tm_log_enabled(int prio)
{
    return prio <= atomic_load(&log_level);
}

/* Name printed for a priority. */
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

/* Length of the valid UTF-8 sequence at s (1..4), 0 when invalid; C0/C1 controls and
   DEL count as invalid. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80)
        return c >= 0x20 && c != 0x7f;
    size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    if (n == 0 || c > 0xf4)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f)       /* overlong, surrogate */
        || (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f)    /* overlong, > U+10FFFF */
        || (c == 0xc2 && s[1] < 0xa0))                                 /* C1 controls */
        return 0;
    return n;
}

/* Make s safe in place: every byte of an invalid sequence or control becomes '?'. */
static void sanitize(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        size_t n = utf8_len(p);
        if (n == 0)
            *p++ = '?';
        else
            p += n;
    }
}

/* Copy s into out as JSON string content (s is already sanitized). Returns the length. */
static size_t json_escape(char *out, size_t outlen, const char *s)
{
    size_t n = 0;
    for (; *s && n + 3 < outlen; s++) {
        if (*s == '"' || *s == '\\')
            out[n++] = '\\';
        out[n++] = *s;
    }
    out[n] = 0;
    return n;
}

/* Write a whole buffer to stderr, ignoring errors. */
static void put_stderr(const char *buf, int n, size_t cap)
{
    if (n <= 0)
        return;
    size_t len = (size_t)n < cap ? (size_t)n : cap - 1;
    if (write(STDERR_FILENO, buf, len) < 0) {
        /* nowhere left to report it */
    }
}

/* Format one sanitized message for syslog (sl) and for stderr (el). */
static void format_line(int prio, const char *qid, const char *msg, int json, char *sl,
                        size_t sllen, char *el, size_t ellen, int *elen)
{
    char ts[40] = "", qe[2 * 64 + 8], me[2 * TM_LOG_LINE_MAX + 8];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    if (json) {
        if (gmtime_r(&now.tv_sec, &tm))
            strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
        int hasq = qid && *qid;
        json_escape(me, sizeof me, msg);
        json_escape(qe, sizeof qe, hasq ? qid : "");
        int n = snprintf(sl, sllen, "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\",\"pid\":%ld,%s%s%s"
                         "\"message\":\"%s\"}", ts, now.tv_nsec / 1000000, prio_name(prio),
                         (long)getpid(), hasq ? "\"queue_id\":\"" : "", hasq ? qe : "",
                         hasq ? "\"," : "", me);
        if (n < 0 || n >= (int)sllen)   /* cannot happen with the sizes in vlog; stay valid */
            snprintf(sl, sllen, "{\"level\":\"error\",\"message\":\"log line too long\"}");
        *elen = log_journal ? snprintf(el, ellen, "<%d>%s\n", prio, sl)
                            : snprintf(el, ellen, "%s\n", sl);
        return;
    }
    snprintf(sl, sllen, "%s%s%s", qid ? (*qid ? qid : "NOQUEUE") : "", qid ? ": " : "", msg);
    if (log_journal) {
        *elen = snprintf(el, ellen, "<%d>%s\n", prio, sl);
        return;
    }
    if (localtime_r(&now.tv_sec, &tm))
        strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
    *elen = snprintf(el, ellen, "%s tlsrpt-milter[%ld]: %s: %s\n", ts, (long)getpid(),
                     prio_name(prio), sl);
}

/* Format and send one line about mail qid (NULL: not about a mail). */
static void vlog(int prio, const char *qid, const char *fmt, va_list ap)
{
    char msg[TM_LOG_LINE_MAX], q[64], sl[2 * TM_LOG_LINE_MAX + 512], el[sizeof sl + 128];
    int elen = 0;
    if (!tm_log_enabled(prio))
        return;
    vsnprintf(msg, sizeof msg, fmt, ap);
    sanitize(msg);
    if (qid) {
        snprintf(q, sizeof q, "%s", qid);
        sanitize(q);
        qid = q;
    }
    format_line(prio, qid, msg, atomic_load(&log_format) == TM_LOG_JSON, sl, sizeof sl, el,
                sizeof el, &elen);
    int to_stderr = atomic_load(&log_stderr);
    if (!to_stderr)
        syslog(prio, "%s", sl);
    if (to_stderr || (prio <= LOG_ERR && atomic_load(&log_mirror) && !log_journal))
        put_stderr(el, elen, sizeof el);
}

/* Log one line. */
void tm_log(int prio, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(prio, NULL, fmt, ap);
    va_end(ap);
}

/* Log one line about a mail. */
void tm_logq(int prio, const char *qid, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(prio, qid ? qid : "", fmt, ap);
    va_end(ap);
}

/* Close the syslog connection. */
void tm_log_close(void)
{
    if (!atomic_load(&log_stderr))
        closelog();
}
