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
#include "config.h"
#include "rcpt.h"

#define TM_MSG_MAX 512

typedef int (*tm_setter)(tm_config *cfg, const char *val, char *msg);

/* Replace *dst by a copy of val. */
static int set_str(char **dst, const char *val, char *msg)
{
    char *c = strdup(val);
    if (!c) {
        snprintf(msg, TM_MSG_MAX, "out of memory");
        return -1;
    }
    free(*dst);
    *dst = c;
    return 0;
}

/* Parse an unsigned decimal number with an optional one-letter suffix; -1 on junk or overflow. */
static int parse_scaled(const char *val, const char *suffixes, const unsigned long *mult,
                        unsigned long max, unsigned long *out)
{
    char *end;
    if (!isdigit((unsigned char)*val))
        return -1;
    errno = 0;
    unsigned long long n = strtoull(val, &end, 10);
    if (errno)
        return -1;
    unsigned long m = 1;
    if (*end) {
        const char *p = strchr(suffixes, *end);
        if (!p || end[1])
            return -1;
        m = mult[p - suffixes];
    }
    if (n > max / m)
        return -1;
    *out = (unsigned long)(n * m);
    return 0;
}

/* Duration: seconds, or with suffix s/m/h/d; at most 10 years. */
static int parse_duration(const char *val, long *out)
{
    static const unsigned long mult[] = { 1, 60, 3600, 86400 };
    unsigned long v;
    if (parse_scaled(val, "smhd", mult, 3650UL * 86400, &v) != 0)
        return -1;
    *out = (long)v;
    return 0;
}

/* Size in bytes with optional k/K or m/M suffix, between 1 and max. */
static int parse_size(const char *val, unsigned long max, size_t *out)
{
    static const unsigned long mult[] = { 1024, 1024, 1024 * 1024, 1024 * 1024 };
    unsigned long v;
    if (parse_scaled(val, "kKmM", mult, max, &v) != 0 || v == 0)
        return -1;
    *out = v;
    return 0;
}

/* Plain integer in [lo, hi]. */
static int parse_int(const char *val, long lo, long hi, int *out)
{
    unsigned long v;
    if (parse_scaled(val, "", NULL, (unsigned long)hi, &v) != 0 || (long)v < lo)
        return -1;
    *out = (int)v;
    return 0;
}

/* Next token of a space/comma separated list, copied into tok; NULL at the end. */
static const char *next_token(const char *p, char *tok, size_t toklen, int *toolong)
{
    while (*p && (isspace((unsigned char)*p) || *p == ','))
        p++;
    if (!*p)
        return NULL;
    size_t n = strcspn(p, " \t,");
    *toolong = n >= toklen;
    if (!*toolong) {
        memcpy(tok, p, n);
        tok[n] = 0;
    }
    return p + n;
}

/* Append a copy of s to a bounded string list. */
static int list_add(char ***list, size_t *n, size_t max, const char *s, char *msg)
{
    if (*n >= max) {
        snprintf(msg, TM_MSG_MAX, "too many entries (at most %zu)", max);
        return -1;
    }
    char **nl = realloc(*list, (*n + 1) * sizeof *nl);
    char *c = nl ? strdup(s) : NULL;
    if (nl)
        *list = nl;
    if (!c) {
        snprintf(msg, TM_MSG_MAX, "out of memory");
        return -1;
    }
    nl[(*n)++] = c;
    return 0;
}

/* ReportAddress: addresses or @domains, space/comma separated. */
static int set_report_address(tm_config *cfg, const char *val, char *msg)
{
    char tok[TM_CONF_ADDR_MAX + 2], norm[TM_CONF_ADDR_MAX];
    int toolong;
    const char *p = val;
    while ((p = next_token(p, tok, sizeof tok, &toolong)) != NULL) {
        if (toolong || tm_addr_normalize(tok, norm, sizeof norm) != 0
            || strrchr(norm, '@')[1] == 0 || strchr(norm, '@') != strrchr(norm, '@')) {
            snprintf(msg, TM_MSG_MAX, "bad value for ReportAddress: '%.*s' (expected "
                     "local@domain or @domain)", 200, toolong ? "(too long)" : tok);
            return -1;
        }
        if (list_add(&cfg->report_addrs, &cfg->n_report_addrs, TM_CONF_MAX_ADDRS, norm, msg))
            return -1;
    }
    return 0;
}

/* PolicyDomains: domains counted; others are "foreign-domain". */
static int set_policy_domains(tm_config *cfg, const char *val, char *msg)
{
    char tok[300], norm[300];
    int toolong;
    const char *p = val;
    while ((p = next_token(p, tok, sizeof tok, &toolong)) != NULL) {
        if (!toolong)
            tlsrpt_normalize_domain(tok, norm, sizeof norm);
        if (toolong || !*norm || strchr(norm, '@')) {
            snprintf(msg, TM_MSG_MAX, "bad value for PolicyDomains: '%.*s' (expected a domain)",
                     200, toolong ? "(too long)" : tok);
            return -1;
        }
        if (list_add(&cfg->policy_domains, &cfg->n_policy_domains, TM_CONF_MAX_DOMAINS,
                     norm, msg))
            return -1;
    }
    return 0;
}

/* Socket: unix:/path, local:/path, /path, inet:port[@host], inet6:port[@host]. */
static int set_socket(tm_config *cfg, const char *val, char *msg)
{
    const char *p = NULL;
    int ok = 0;
    if (!strncasecmp(val, "unix:", 5) || !strncasecmp(val, "local:", 6))
        ok = strchr(val, ':')[1] == '/';
    else if (val[0] == '/')
        ok = 1;
    else if (!strncasecmp(val, "inet:", 5))
        p = val + 5;
    else if (!strncasecmp(val, "inet6:", 6))
        p = val + 6;
    if (p) {
        char *end;
        long port = strtol(p, &end, 10);
        ok = isdigit((unsigned char)*p) && port > 0 && port < 65536 && (*end == 0 || *end == '@');
    }
    if (!ok) {
        snprintf(msg, TM_MSG_MAX, "bad value for Socket: '%.200s' (expected unix:/path, "
                 "local:/path, inet:port@host or inet6:port@host)", val);
        return -1;
    }
    return set_str(&cfg->socket, val, msg);
}

/* Action: discard | tag. */
static int set_action(tm_config *cfg, const char *val, char *msg)
{
    if (!strcasecmp(val, "discard"))
        cfg->action = TM_ACTION_DISCARD;
    else if (!strcasecmp(val, "tag"))
        cfg->action = TM_ACTION_TAG;
    else {
        snprintf(msg, TM_MSG_MAX, "bad value for Action: '%.200s' (expected discard or tag)", val);
        return -1;
    }
    return 0;
}

/* OnStoreError: deliver | tempfail. */
static int set_on_store_error(tm_config *cfg, const char *val, char *msg)
{
    if (!strcasecmp(val, "deliver"))
        cfg->on_store_error = TM_STORE_ERR_DELIVER;
    else if (!strcasecmp(val, "tempfail"))
        cfg->on_store_error = TM_STORE_ERR_TEMPFAIL;
    else {
        snprintf(msg, TM_MSG_MAX, "bad value for OnStoreError: '%.200s' "
                 "(expected deliver or tempfail)", val);
        return -1;
    }
    return 0;
}

static const struct { const char *name; int prio; } log_levels[] = {
    { "error", LOG_ERR }, { "warning", LOG_WARNING }, { "notice", LOG_NOTICE },
    { "info", LOG_INFO }, { "debug", LOG_DEBUG },
};

/* Name of a syslog priority used as a log level. */
const char *tm_log_level_name(int level)
{
    for (size_t i = 0; i < sizeof log_levels / sizeof log_levels[0]; i++)
        if (log_levels[i].prio == level)
            return log_levels[i].name;
    return "?";
}

/* LogLevel: error | warning | notice | info | debug. */
static int set_log_level(tm_config *cfg, const char *val, char *msg)
{
    for (size_t i = 0; i < sizeof log_levels / sizeof log_levels[0]; i++)
        if (!strcasecmp(val, log_levels[i].name)) {
            cfg->log_level = log_levels[i].prio;
            return 0;
        }
    snprintf(msg, TM_MSG_MAX, "bad value for LogLevel: '%.200s' "
             "(expected error, warning, notice, info or debug)", val);
    return -1;
}

/* UMask: octal 0..0777. */
static int set_umask(tm_config *cfg, const char *val, char *msg)
{
    char *end;
    errno = 0;
    long v = strtol(val, &end, 8);
    if (!isdigit((unsigned char)*val) || *end || errno || v < 0 || v > 0777) {
        snprintf(msg, TM_MSG_MAX, "bad value for UMask: '%.200s' (expected octal 000..777)", val);
        return -1;
    }
    cfg->umask = (mode_t)v;
    return 0;
}

/* Report a bad value of a numeric key. */
static int bad_number(const char *key, const char *val, const char *expect, char *msg)
{
    snprintf(msg, TM_MSG_MAX, "bad value for %s: '%.200s' (expected %s)", key, val, expect);
    return -1;
}

#define DUR_EXPECT "seconds, or a number with suffix s, m, h or d, at most 3650d"
#define SIZE_EXPECT(max) "bytes with optional k or M suffix, 1.." max
static int set_counter_ttl(tm_config *c, const char *v, char *m)
{ return parse_duration(v, &c->counter_ttl) ? bad_number("CounterTTL", v, DUR_EXPECT, m) : 0; }
static int set_dedup_ttl(tm_config *c, const char *v, char *m)
{ return parse_duration(v, &c->dedup_ttl) ? bad_number("DedupTTL", v, DUR_EXPECT, m) : 0; }
static int set_max_message(tm_config *c, const char *v, char *m)
{ return parse_size(v, 1UL << 30, &c->limits.max_message_bytes)
         ? bad_number("MaxMessageBytes", v, SIZE_EXPECT("1024M"), m) : 0; }
static int set_max_report(tm_config *c, const char *v, char *m)
{ return parse_size(v, 1UL << 30, &c->limits.max_report_bytes)
         ? bad_number("MaxReportBytes", v, SIZE_EXPECT("1024M"), m) : 0; }
static int set_max_header(tm_config *c, const char *v, char *m)
{ return parse_size(v, 16UL << 20, &c->limits.max_header_bytes)
         ? bad_number("MaxHeaderBytes", v, SIZE_EXPECT("16M"), m) : 0; }
static int set_json_depth(tm_config *c, const char *v, char *m)
{ return parse_int(v, 1, 1000, &c->limits.max_json_depth)
         ? bad_number("MaxJsonDepth", v, "an integer 1..1000", m) : 0; }
static int set_mime_depth(tm_config *c, const char *v, char *m)
{ return parse_int(v, 1, 100, &c->limits.max_mime_depth)
         ? bad_number("MaxMimeDepth", v, "an integer 1..100", m) : 0; }
static int set_mime_parts(tm_config *c, const char *v, char *m)
{ return parse_int(v, 1, 100000, &c->limits.max_mime_parts)
         ? bad_number("MaxMimeParts", v, "an integer 1..100000", m) : 0; }
static int set_store_timeout(tm_config *c, const char *v, char *m)
{ return parse_int(v, 1, 600000, &c->store_timeout_ms)
         ? bad_number("StoreTimeout", v, "milliseconds 1..600000", m) : 0; }
static int set_delim(tm_config *c, const char *v, char *m) { return set_str(&c->rcpt_delim, v, m); }
static int set_servers(tm_config *c, const char *v, char *m) { return set_str(&c->memcached_servers, v, m); }
static int set_prefix(tm_config *c, const char *v, char *m) { return set_str(&c->key_prefix, v, m); }
static int set_user(tm_config *c, const char *v, char *m) { return set_str(&c->user, v, m); }
static int set_group(tm_config *c, const char *v, char *m) { return set_str(&c->group, v, m); }
static int set_pidfile(tm_config *c, const char *v, char *m)
{
    if (*v && *v != '/') {
        snprintf(m, TM_MSG_MAX, "bad value for PidFile: '%.200s' (expected an absolute path)", v);
        return -1;
    }
    return set_str(&c->pidfile, v, m);
}

/* The keys; allow_empty: an empty value is meaningful ("none"). */
static const struct tm_key {
    const char *name;
    tm_setter set;
    int allow_empty;
} keys[] = {
    { "Socket", set_socket, 0 }, { "ReportAddress", set_report_address, 0 },
    { "RecipientDelimiter", set_delim, 1 }, { "Action", set_action, 0 },
    { "OnStoreError", set_on_store_error, 0 }, { "MemcachedServers", set_servers, 0 },
    { "KeyPrefix", set_prefix, 0 }, { "CounterTTL", set_counter_ttl, 0 },
    { "DedupTTL", set_dedup_ttl, 0 }, { "PolicyDomains", set_policy_domains, 1 },
    { "MaxMessageBytes", set_max_message, 0 }, { "MaxReportBytes", set_max_report, 0 },
    { "MaxHeaderBytes", set_max_header, 0 }, { "MaxJsonDepth", set_json_depth, 0 },
    { "MaxMimeDepth", set_mime_depth, 0 }, { "MaxMimeParts", set_mime_parts, 0 },
    { "User", set_user, 1 }, { "Group", set_group, 1 }, { "UMask", set_umask, 0 },
    { "PidFile", set_pidfile, 1 }, { "LogLevel", set_log_level, 0 },
    { "StoreTimeout", set_store_timeout, 0 },
};

/* Set the built-in defaults. */
int tm_config_init(tm_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->socket = strdup("unix:/run/tlsrpt-milter/tlsrpt-milter.sock");
    cfg->rcpt_delim = strdup("");
    cfg->memcached_servers = strdup("127.0.0.1:11211");
    cfg->key_prefix = strdup("tlsrpt:");
    cfg->user = strdup("tlsrpt-milter");
    cfg->group = strdup("");
    cfg->pidfile = strdup("");
    cfg->action = TM_ACTION_DISCARD;
    cfg->on_store_error = TM_STORE_ERR_DELIVER;
    cfg->counter_ttl = 34560000;
    cfg->dedup_ttl = 7776000;
    tlsrpt_limits_default(&cfg->limits);
    cfg->umask = 007;
    cfg->log_level = LOG_INFO;
    cfg->store_timeout_ms = 1000;
    if (!cfg->socket || !cfg->rcpt_delim || !cfg->memcached_servers || !cfg->key_prefix
        || !cfg->user || !cfg->group || !cfg->pidfile) {
        tm_config_free(cfg);
        return -1;
    }
    return 0;
}

/* Free a string list. */
static void list_free(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

/* Release all that cfg owns. */
void tm_config_free(tm_config *cfg)
{
    free(cfg->socket);
    list_free(cfg->report_addrs, cfg->n_report_addrs);
    free(cfg->rcpt_delim);
    free(cfg->memcached_servers);
    free(cfg->key_prefix);
    list_free(cfg->policy_domains, cfg->n_policy_domains);
    free(cfg->user);
    free(cfg->group);
    free(cfg->pidfile);
    memset(cfg, 0, sizeof *cfg);
}

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

/* Handle one line (NUL-terminated, no newline); fills msg and returns -1 on an error. */
static int parse_line(tm_config *cfg, char *s, char *msg)
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
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (strcasecmp(s, keys[i].name) != 0)
            continue;
        if (!*val && !keys[i].allow_empty) {
            snprintf(msg, TM_MSG_MAX, "missing value for %s", keys[i].name);
            return -1;
        }
        return keys[i].set(cfg, val, msg);
    }
    snprintf(msg, TM_MSG_MAX, "unknown key '%.200s'", s);
    return -1;
}

/* Whole-file checks after parsing. Returns the number of errors. */
static int config_check(const tm_config *cfg, const char *fname, char *err, size_t errlen)
{
    int nerr = 0;
    if (cfg->n_report_addrs == 0) {
        add_error(err, errlen, fname, 0, "no ReportAddress configured (at least one is required)");
        nerr++;
    }
    return nerr;
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
            if (parse_line(cfg, line, msg) != 0) {
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
}
