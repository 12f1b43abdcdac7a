/*
 * config.c - read and check tlsrpt-milter.conf (see config.h, tlsrpt-milter.conf(5)).
 *
 * One "Key value" per line; keys case-insensitive; '#' at the start of a
 * line (after blanks) makes a comment. Scalar keys: the last one wins;
 * ReportAddress and PolicyDomains add to their list. Errors do not stop
 * parsing: every bad line is reported as "FILE:LINE: message" into the
 * caller's buffer (truncated when full), and the count is returned.
 * Limits: see config.h. No libmilter here: this is config/ (libtlsrpt-config.a),
 * the one reader linked by tlsrpt-milter, tlsrpt-parse and tlsrpt-stats.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include "keydefs.h"

/* Append one "FILE:LINE: msg" (LINE omitted when 0) to the error buffer. */
static void add_error(char *err, size_t errlen, const char *fname, unsigned line, const char *msg)
{
    size_t used = err ? strnlen(err, errlen) : 0;
    if (!err || used + 1 >= errlen)
        return;
    if (line)
        snprintf(err + used, errlen - used, "%s:%u: %s\n", fname, line, msg);
    else
        snprintf(err + used, errlen - used, "%s: %s\n", fname, msg);
}

/* Handle one line (NUL-terminated, no newline) numbered lineno; fills msg and returns -1
   on an error. A key set without error remembers its line. */
static int parse_line(tm_config *cfg, char *s, unsigned lineno, char *msg)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    if (!*s || *s == '#')
        return 0;
    size_t klen = strcspn(s, " \t");
    char *val = s + klen;
    if (*val)
        *val++ = 0;
    while (isspace((unsigned char)*val))
        val++;
    for (int k = 0; k < TM_K_COUNT; k++) {
        const struct tm_keydef *d = &tm_keydefs[k];
        if (strcasecmp(s, d->name) != 0)
            continue;
        if (!*val && !d->allow_empty) {
            snprintf(msg, TM_MSG_MAX, "missing value for %s", d->name);
            return -1;
        }
        if (d->set(cfg, val, msg) != 0)
            return -1;
        cfg->line[k] = lineno;
        return 0;
    }
    snprintf(msg, TM_MSG_MAX, "unknown key '%.200s'", s);
    return -1;
}

/* Name of a key. */
const char *tm_config_key_name(int key)
{
    return key >= 0 && key < TM_K_COUNT ? tm_keydefs[key].name : NULL;
}

/* An error about a key, with the line where it was set (see config.h). */
int tm_config_errorf(const tm_config *cfg, int key, char *err, size_t errlen,
                     const char *fmt, ...)
{
    char msg[TM_MSG_MAX], full[TM_MSG_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *src = cfg->source && cfg->source[0] ? cfg->source : "(built-in defaults)";
    unsigned line = key >= 0 && key < TM_K_COUNT ? cfg->line[key] : 0;
    if (line == 0 && key >= 0 && key < TM_K_COUNT) {
        snprintf(full, sizeof full, "%s (%s: the default)", msg, tm_keydefs[key].name);
        add_error(err, errlen, src, 0, full);
    } else
        add_error(err, errlen, src, line, msg);
    return 1;
}

/* One mail's decoder bound (config.h). Measured (README "Decoder limits",
   tests/unit/test_memory.c): at most 103 bytes of estimate per weighted value (an object
   of a million members), 5 bytes per report byte (an 8 MiB string of invalid UTF-8);
   kept reports 0.95 bytes per byte of their JSON (failure-details of one-letter fields,
   the most fields per byte). */
size_t tm_decode_mail_bound(const tlsrpt_limits *lim)
{
    tlsrpt_limits d;
    tlsrpt_limits_default(&d);
    size_t v = lim->max_json_values ? lim->max_json_values : d.max_json_values;
    size_t r = lim->max_report_bytes ? lim->max_report_bytes : d.max_report_bytes;
    size_t msg = lim->max_message_bytes ? lim->max_message_bytes : d.max_message_bytes;
    return TM_BOUND_PER_VALUE * v + TM_BOUND_PER_BYTE * r + TM_BOUND_FIXED +
           TM_BOUND_KEPT_PER_BYTE * (msg > r ? msg : r);
}

/* Whole-file checks after parsing. Returns the number of errors. */
static int config_check(const tm_config *cfg, const char *fname, char *err, size_t errlen)
{
    int nerr = 0;
    if (cfg->n_report_addrs == 0) {
        add_error(err, errlen, fname, 0, "no ReportAddress configured (at least one is required)");
        nerr++;
    }
    size_t mail = tm_decode_mail_bound(&cfg->limits);
    if (cfg->max_decode_memory < mail)
        nerr += tm_config_errorf(cfg, TM_K_MAX_DECODE_MEMORY, err, errlen, "MaxDecodeMemory "
                                 "%zuM is less than one mail's decoder may hold at these limits "
                                 "(%zuM: MaxJsonValues x %d + MaxReportBytes x %d + %d x the "
                                 "larger of MaxMessageBytes and MaxReportBytes + 2M); raise it or "
                                 "lower those", cfg->max_decode_memory >> 20,
                                 (mail + (1 << 20) - 1) >> 20, TM_BOUND_PER_VALUE,
                                 TM_BOUND_PER_BYTE, TM_BOUND_KEPT_PER_BYTE);
    return nerr;
}

/* Print every key with its effective value, in table order. */
int tm_config_print(FILE *f, const tm_config *cfg)
{
    for (int k = 0; k < TM_K_COUNT; k++)
        tm_keydefs[k].print(f, tm_keydefs[k].name, cfg);
    return ferror(f) ? -1 : 0;
}

/* Parse config text line by line (see config.h). */
int tm_config_parse(tm_config *cfg, const char *text, size_t len, const char *fname,
                    char *err, size_t errlen)
{
    char line[TM_CONF_LINE_MAX + 1], msg[TM_MSG_MAX];
    int nerr = 0;
    unsigned lineno = 0;
    size_t pos = 0;
    if (err && errlen)
        err[0] = 0;
    char *src = strdup(fname ? fname : "");
    if (src) {
        free(cfg->source);
        cfg->source = src;
    }
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        lineno++;
        if (n > TM_CONF_LINE_MAX || memchr(text + pos, 0, n)) {
            if (n > TM_CONF_LINE_MAX)
                snprintf(msg, sizeof msg, "line too long (at most %d bytes)", TM_CONF_LINE_MAX);
            else
                snprintf(msg, sizeof msg, "NUL byte in line");
            add_error(err, errlen, fname, lineno, msg);
            nerr++;
        } else {
            memcpy(line, text + pos, n);
            line[n] = 0;
            if (parse_line(cfg, line, lineno, msg) != 0) {
                add_error(err, errlen, fname, lineno, msg);
                nerr++;
            }
        }
        pos += n + 1;
    }
    return nerr + config_check(cfg, fname, err, errlen);
}

/* Read the whole file (bounded) and parse it. */
int tm_config_load(tm_config *cfg, const char *path, char *err, size_t errlen)
{
    char msg[TM_MSG_MAX];
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(msg, sizeof msg, "cannot open: %s", strerror(errno));
        if (err && errlen)
            err[0] = 0;
        add_error(err, errlen, path, 0, msg);
        return 1;
    }
    char *buf = malloc(TM_CONF_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, TM_CONF_FILE_MAX + 1, f) : 0;
    int rerr = ferror(f);
    fclose(f);
    if (!buf || rerr || n > TM_CONF_FILE_MAX) {
        if (buf && !rerr)
            snprintf(msg, sizeof msg, "file too large (at most %d bytes)", TM_CONF_FILE_MAX);
        else
            snprintf(msg, sizeof msg, "%s", buf ? "read error" : "out of memory");
        free(buf);
        if (err && errlen)
            err[0] = 0;
        add_error(err, errlen, path, 0, msg);
        return 1;
    }
    int nerr = tm_config_parse(cfg, buf, n, path, err, errlen);
    free(buf);
    return nerr;
}

/* Fill a store configuration from cfg (shared by the milter and tlsrpt-parse --push). */
void tm_config_store_conf(const tm_config *cfg, int pool_size, tlsrpt_store_conf *sc)
{
    memset(sc, 0, sizeof *sc);
    sc->servers = cfg->memcached_servers;
    sc->prefix = cfg->key_prefix;
    sc->counter_ttl = cfg->counter_ttl;
    sc->dedup_ttl = cfg->dedup_ttl;
    sc->policy_domains = (const char *const *)cfg->policy_domains;
    sc->n_policy_domains = cfg->n_policy_domains;
    sc->timeout_ms = cfg->store_timeout_ms;
    sc->pool_size = pool_size;
    sc->max_session_count = cfg->limits.max_session_count;
    sc->max_new_keys = (size_t)cfg->max_new_keys;
    sc->max_domains_per_reporter = (size_t)cfg->max_domains_per_reporter;
}
