/*
 * keys.c - every key of tlsrpt-milter.conf: its default, its setter (value
 * check, with the message the user sees after "FILE:LINE: ") and its
 * printer (the effective value as a config line, for tlsrpt-milter -n -v).
 * The grammar of the file itself (lines, comments, errors) is in config.c.
 *
 * Values are taken verbatim (no quotes, no comment after a value). Numbers
 * are plain decimal with an optional one-letter unit; everything is checked
 * against overflow and the documented range. MemcachedServers and KeyPrefix
 * are checked by the store module itself (tlsrpt_store_new, which does not
 * connect), so a value the milter would refuse at start is refused on its
 * line, by every program that reads the file.
 * Ownership: strings and lists belong to the tm_config (tm_config_free).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <sys/un.h>
#include "keydefs.h"
#include "rcpt.h"

/* Duration: seconds, or with suffix s/m/h/d; at most 10 years. */
static int parse_duration(const char *val, long *out)
{
    static const unsigned long mult[] = { 1, 60, 3600, 86400 };
    unsigned long v;
    if (tm_kp_parse_scaled(val, "smhd", mult, 3650UL * 86400, &v) != 0)
        return -1;
    *out = (long)v;
    return 0;
}

/* Size in bytes with optional k/K or m/M suffix, between 1 and max. */
static int parse_size(const char *val, unsigned long max, size_t *out)
{
    static const unsigned long mult[] = { 1024, 1024, 1024 * 1024, 1024 * 1024 };
    unsigned long v;
    if (tm_kp_parse_scaled(val, "kKmM", mult, max, &v) != 0 || v == 0)
        return -1;
    *out = v;
    return 0;
}

/* ReportAddress: addresses or @domains, space/comma separated. */
static int set_report_address(tm_config *cfg, const char *val, char *msg)
{
    char tok[TM_CONF_ADDR_MAX + 2], norm[TM_CONF_ADDR_MAX];
    int toolong;
    const char *p = val;
    while ((p = tm_kp_next_token(p, tok, sizeof tok, &toolong)) != NULL) {
        if (toolong || tm_addr_normalize(tok, norm, sizeof norm) != 0
            || strrchr(norm, '@')[1] == 0 || strchr(norm, '@') != strrchr(norm, '@')) {
            snprintf(msg, TM_MSG_MAX, "bad value for ReportAddress: '%.*s' (expected "
                     "local@domain or @domain)", 200, toolong ? "(too long)" : tok);
            return -1;
        }
        if (tm_kp_list_add(&cfg->report_addrs, &cfg->n_report_addrs, TM_CONF_MAX_ADDRS, norm, msg))
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
    while ((p = tm_kp_next_token(p, tok, sizeof tok, &toolong)) != NULL) {
        if (toolong || tlsrpt_store_normalize_domain(tok, norm, sizeof norm) != 0) {
            snprintf(msg, TM_MSG_MAX, "bad value for PolicyDomains: '%.*s' (expected a host name)",
                     200, toolong ? "(too long)" : tok);
            return -1;
        }
        if (tm_kp_list_add(&cfg->policy_domains, &cfg->n_policy_domains, TM_CONF_MAX_DOMAINS,
                     norm, msg))
            return -1;
    }
    return 0;
}

/* The file system path of a unix:/local:/bare-path socket spec, else NULL. */
const char *tm_socket_path(const char *spec)
{
    if (!strncasecmp(spec, "unix:", 5))
        return spec + 5;
    if (!strncasecmp(spec, "local:", 6))
        return spec + 6;
    return spec[0] == '/' ? spec : NULL;
}

/* Socket: unix:/path, local:/path, /path, inet:port[@host], inet6:port[@host]. */
static int set_socket(tm_config *cfg, const char *val, char *msg)
{
    const char *p = NULL, *path = tm_socket_path(val);
    int ok = path && path[0] == '/';
    if (!strncasecmp(val, "inet:", 5))
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
    if (path && strlen(path) >= sizeof ((struct sockaddr_un *)0)->sun_path) {
        snprintf(msg, TM_MSG_MAX, "bad value for Socket: the path is %zu bytes, a UNIX socket "
                 "path holds at most %zu", strlen(path),
                 sizeof ((struct sockaddr_un *)0)->sun_path - 1);
        return -1;
    }
    return tm_kp_set_str(&cfg->socket, val, msg);
}

static const char *const action_names[] = { "discard", "tag", NULL };
static const char *const store_err_names[] = { "deliver", "tempfail", NULL };
static const char *const target_names[] = { "syslog", "stderr", NULL };
static const char *const format_names[] = { "text", "json", NULL };

static int set_action(tm_config *c, const char *v, char *m)
{ return tm_kp_set_enum("Action", action_names, v, &c->action, m); }
static int set_on_store_error(tm_config *c, const char *v, char *m)
{ return tm_kp_set_enum("OnStoreError", store_err_names, v, &c->on_store_error, m); }
static int set_log_target(tm_config *c, const char *v, char *m)
{ return tm_kp_set_enum("LogTarget", target_names, v, &c->log_target, m); }
static int set_log_format(tm_config *c, const char *v, char *m)
{ return tm_kp_set_enum("LogFormat", format_names, v, &c->log_format, m); }

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

/* Ask the store whether it takes these servers and this prefix (it does not connect). */
static int store_accepts(const char *key, const char *servers, const char *prefix, char *msg)
{
    char err[256];
    tlsrpt_store_conf sc;
    memset(&sc, 0, sizeof sc);
    sc.servers = servers;
    sc.prefix = prefix;
    sc.pool_size = 1;
    tlsrpt_store *st = tlsrpt_store_new(&sc, err, sizeof err);
    if (st) {
        tlsrpt_store_free(st);
        return 0;
    }
    snprintf(msg, TM_MSG_MAX, "bad value for %s: %s", key, err);
    return -1;
}

/* MemcachedServers: host:port list, as the store parses it. */
static int set_servers(tm_config *c, const char *v, char *m)
{
    if (store_accepts("MemcachedServers", v, c->key_prefix, m) != 0)
        return -1;
    return tm_kp_set_str(&c->memcached_servers, v, m);
}

/* KeyPrefix: printable, no spaces, short enough (the store's rule). */
static int set_prefix(tm_config *c, const char *v, char *m)
{
    if (store_accepts("KeyPrefix", c->memcached_servers, v, m) != 0)
        return -1;
    return tm_kp_set_str(&c->key_prefix, v, m);
}

#define DUR_EXPECT "seconds, or a number with suffix s, m, h or d, at most 3650d"
#define SIZE_EXPECT(max) "bytes with optional k or M suffix, 1.." max
static int set_counter_ttl(tm_config *c, const char *v, char *m)
{ return parse_duration(v, &c->counter_ttl) ? tm_kp_bad_number("CounterTTL", v, DUR_EXPECT, m) : 0; }
static int set_dedup_ttl(tm_config *c, const char *v, char *m)
{ return parse_duration(v, &c->dedup_ttl) ? tm_kp_bad_number("DedupTTL", v, DUR_EXPECT, m) : 0; }
static int set_max_message(tm_config *c, const char *v, char *m)
{ return parse_size(v, 1UL << 30, &c->limits.max_message_bytes)
         ? tm_kp_bad_number("MaxMessageBytes", v, SIZE_EXPECT("1024M"), m) : 0; }
static int set_max_report(tm_config *c, const char *v, char *m)
{ return parse_size(v, 1UL << 30, &c->limits.max_report_bytes)
         ? tm_kp_bad_number("MaxReportBytes", v, SIZE_EXPECT("1024M"), m) : 0; }
static int set_max_header(tm_config *c, const char *v, char *m)
{ return parse_size(v, 16UL << 20, &c->limits.max_header_bytes)
         ? tm_kp_bad_number("MaxHeaderBytes", v, SIZE_EXPECT("16M"), m) : 0; }
static int set_json_depth(tm_config *c, const char *v, char *m)
{ return tm_kp_parse_int(v, 1, 1000, &c->limits.max_json_depth)
         ? tm_kp_bad_number("MaxJsonDepth", v, "an integer 1..1000", m) : 0; }
static int set_json_values(tm_config *c, const char *v, char *m)
{
    unsigned long n;
    if (tm_kp_parse_scaled(v, "", NULL, TM_CONF_MAX_JSON_VALUES, &n) != 0 || n == 0)
        return tm_kp_bad_number("MaxJsonValues", v, "an integer 1..100000000", m);
    c->limits.max_json_values = n;
    return 0;
}
static int set_session_count(tm_config *c, const char *v, char *m)
{
    unsigned long n;
    if (tm_kp_parse_scaled(v, "", NULL, (unsigned long)TM_CONF_MAX_SESSION_COUNT, &n) != 0 || n == 0)
        return tm_kp_bad_number("MaxSessionCount", v, "an integer 1..4611686018427387904 (2^62)", m);
    c->limits.max_session_count = (int64_t)n;
    return 0;
}
/* MaxDecodeMemory: bytes with k, M or G, 1 .. 1T (at least one part's bound: config.c). */
static int set_decode_memory(tm_config *c, const char *v, char *m)
{
    static const unsigned long mult[] = { 1UL << 10, 1UL << 10, 1UL << 20, 1UL << 20,
                                          1UL << 30, 1UL << 30 };
    unsigned long n;
    if (tm_kp_parse_scaled(v, "kKmMgG", mult, TM_CONF_MAX_DECODE_MEMORY, &n) != 0 || n == 0)
        return tm_kp_bad_number("MaxDecodeMemory", v, "bytes with optional k, M or G suffix, "
                                "1..1024G", m);
    c->max_decode_memory = n;
    return 0;
}
static int set_mime_depth(tm_config *c, const char *v, char *m)
{ return tm_kp_parse_int(v, 1, 100, &c->limits.max_mime_depth)
         ? tm_kp_bad_number("MaxMimeDepth", v, "an integer 1..100", m) : 0; }
static int set_mime_parts(tm_config *c, const char *v, char *m)
{ return tm_kp_parse_int(v, 1, 100000, &c->limits.max_mime_parts)
         ? tm_kp_bad_number("MaxMimeParts", v, "an integer 1..100000", m) : 0; }
static int set_store_timeout(tm_config *c, const char *v, char *m)
{ return tm_kp_parse_int(v, 1, 600000, &c->store_timeout_ms)
         ? tm_kp_bad_number("StoreTimeout", v, "milliseconds 1..600000", m) : 0; }
static int set_new_keys(tm_config *c, const char *v, char *m)
{ return tm_kp_parse_int(v, 1, 100000, &c->max_new_keys)
         ? tm_kp_bad_number("MaxNewKeysPerReport", v, "an integer 1..100000", m) : 0; }
static int set_rep_domains(tm_config *c, const char *v, char *m)
{ return tm_kp_parse_int(v, 1, 100000, &c->max_domains_per_reporter)
         ? tm_kp_bad_number("MaxDomainsPerReporter", v, "an integer 1..100000", m) : 0; }
static int set_delim(tm_config *c, const char *v, char *m) { return tm_kp_set_str(&c->rcpt_delim, v, m); }
static int set_user(tm_config *c, const char *v, char *m) { return tm_kp_set_str(&c->user, v, m); }
static int set_group(tm_config *c, const char *v, char *m) { return tm_kp_set_str(&c->group, v, m); }
static int set_pidfile(tm_config *c, const char *v, char *m)
{
    if (*v && *v != '/') {
        snprintf(m, TM_MSG_MAX, "bad value for PidFile: '%.200s' (expected an absolute path)", v);
        return -1;
    }
    return tm_kp_set_str(&c->pidfile, v, m);
}
/* ArchiveDir: an absolute directory path, or empty (no archive). */
static int set_archive_dir(tm_config *c, const char *v, char *m)
{
    if (*v && *v != '/') {
        snprintf(m, TM_MSG_MAX, "bad value for ArchiveDir: '%.200s' (expected an absolute path, "
                 "or nothing for no archive)", v);
        return -1;
    }
    return tm_kp_set_str(&c->archive_dir, v, m);
}
static int set_archive_days(tm_config *c, const char *v, char *m)
{ return tm_kp_parse_int(v, 0, TM_CONF_MAX_ARCHIVE_DAYS, &c->archive_days)
         ? tm_kp_bad_number("ArchiveDays", v, "days 0..36500 (0 = keep forever)", m) : 0; }
static const char *const yesno_names[] = { "no", "yes", NULL };
static int set_archive_all(tm_config *c, const char *v, char *m)
{ return tm_kp_set_enum("ArchiveAll", yesno_names, v, &c->archive_all, m); }

/* Seconds in the largest unit that divides them exactly. */
static void put_duration(FILE *f, const char *name, long s)
{
    static const struct { long mult; char unit; } u[] = { { 86400, 'd' }, { 3600, 'h' }, { 60, 'm' } };
    for (size_t i = 0; s > 0 && i < sizeof u / sizeof u[0]; i++)
        if (s % u[i].mult == 0) {
            fprintf(f, "%s %ld%c\n", name, s / u[i].mult, u[i].unit);
            return;
        }
    fprintf(f, "%s %ld\n", name, s);
}

/* Bytes in M or k when they divide exactly. */
static void put_size(FILE *f, const char *name, size_t v)
{
    if (v % (1024 * 1024) == 0)
        fprintf(f, "%s %zuM\n", name, v / (1024 * 1024));
    else if (v % 1024 == 0)
        fprintf(f, "%s %zuk\n", name, v / 1024);
    else
        fprintf(f, "%s %zu\n", name, v);
}

#define PRINTER(fn, body) static void fn(FILE *f, const char *n, const tm_config *c) { body; }
PRINTER(pr_socket, tm_kp_put(f, n, c->socket))
PRINTER(pr_addrs, tm_kp_put_list(f, n, c->report_addrs, c->n_report_addrs, 0))
PRINTER(pr_delim, tm_kp_put(f, n, c->rcpt_delim))
PRINTER(pr_action, tm_kp_put(f, n, tm_kp_enum_name(action_names, c->action)))
PRINTER(pr_store_err, tm_kp_put(f, n, tm_kp_enum_name(store_err_names, c->on_store_error)))
PRINTER(pr_servers, tm_kp_put(f, n, c->memcached_servers))
PRINTER(pr_prefix, tm_kp_put(f, n, c->key_prefix))
PRINTER(pr_counter_ttl, put_duration(f, n, c->counter_ttl))
PRINTER(pr_dedup_ttl, put_duration(f, n, c->dedup_ttl))
PRINTER(pr_domains, tm_kp_put_list(f, n, c->policy_domains, c->n_policy_domains, 1))
PRINTER(pr_max_message, put_size(f, n, c->limits.max_message_bytes))
PRINTER(pr_max_report, put_size(f, n, c->limits.max_report_bytes))
PRINTER(pr_max_header, put_size(f, n, c->limits.max_header_bytes))
PRINTER(pr_json_depth, fprintf(f, "%s %d\n", n, c->limits.max_json_depth))
PRINTER(pr_json_values, fprintf(f, "%s %zu\n", n, c->limits.max_json_values))
PRINTER(pr_session_count, fprintf(f, "%s %lld\n", n, (long long)c->limits.max_session_count))
PRINTER(pr_mime_depth, fprintf(f, "%s %d\n", n, c->limits.max_mime_depth))
PRINTER(pr_decode_memory, put_size(f, n, c->max_decode_memory))
PRINTER(pr_mime_parts, fprintf(f, "%s %d\n", n, c->limits.max_mime_parts))
PRINTER(pr_user, tm_kp_put(f, n, c->user))
PRINTER(pr_group, tm_kp_put(f, n, c->group))
PRINTER(pr_umask, fprintf(f, "%s %03o\n", n, (unsigned)c->umask))
PRINTER(pr_pidfile, tm_kp_put(f, n, c->pidfile))
PRINTER(pr_log_level, tm_kp_put(f, n, tm_log_level_name(c->log_level)))
PRINTER(pr_log_target, tm_kp_put(f, n, tm_kp_enum_name(target_names, c->log_target)))
PRINTER(pr_log_format, tm_kp_put(f, n, tm_kp_enum_name(format_names, c->log_format)))
PRINTER(pr_store_timeout, fprintf(f, "%s %d\n", n, c->store_timeout_ms))
PRINTER(pr_new_keys, fprintf(f, "%s %d\n", n, c->max_new_keys))
PRINTER(pr_rep_domains, fprintf(f, "%s %d\n", n, c->max_domains_per_reporter))
PRINTER(pr_archive_dir, tm_kp_put(f, n, c->archive_dir))
PRINTER(pr_archive_days, fprintf(f, "%s %d\n", n, c->archive_days))
PRINTER(pr_archive_all, tm_kp_put(f, n, tm_kp_enum_name(yesno_names, c->archive_all)))

const struct tm_keydef tm_keydefs[TM_K_COUNT] = {
    [TM_K_SOCKET] = { "Socket", set_socket, pr_socket, 0 },
    [TM_K_REPORT_ADDRESS] = { "ReportAddress", set_report_address, pr_addrs, 0 },
    [TM_K_RCPT_DELIM] = { "RecipientDelimiter", set_delim, pr_delim, 1 },
    [TM_K_ACTION] = { "Action", set_action, pr_action, 0 },
    [TM_K_ON_STORE_ERROR] = { "OnStoreError", set_on_store_error, pr_store_err, 0 },
    [TM_K_MEMCACHED_SERVERS] = { "MemcachedServers", set_servers, pr_servers, 0 },
    [TM_K_KEY_PREFIX] = { "KeyPrefix", set_prefix, pr_prefix, 0 },
    [TM_K_COUNTER_TTL] = { "CounterTTL", set_counter_ttl, pr_counter_ttl, 0 },
    [TM_K_DEDUP_TTL] = { "DedupTTL", set_dedup_ttl, pr_dedup_ttl, 0 },
    [TM_K_POLICY_DOMAINS] = { "PolicyDomains", set_policy_domains, pr_domains, 1 },
    [TM_K_AUTHENTICATION] = { "Authentication", tm_set_authentication, tm_pr_authentication, 0 },
    [TM_K_ON_UNAUTH] = { "OnUnauthenticated", tm_set_on_unauth, tm_pr_on_unauth, 0 },
    [TM_K_REPORTERS] = { "Reporters", tm_set_reporters, tm_pr_reporters, 1 },
    [TM_K_DKIM_TIMEOUT] = { "DkimTimeout", tm_set_dkim_timeout, tm_pr_dkim_timeout, 0 },
    [TM_K_DKIM_KEY_FILE] = { "DkimKeyFile", tm_set_dkim_key_file, tm_pr_dkim_key_file, 1 },
    [TM_K_DKIM_REQUIRE_TLSRPT] = { "DkimRequireTlsrptService", tm_set_dkim_require,
                                   tm_pr_dkim_require, 0 },
    [TM_K_DKIM_NAMESERVERS] = { "DkimNameservers", tm_set_dkim_nameservers,
                                tm_pr_dkim_nameservers, 1 },
    [TM_K_MAX_MESSAGE] = { "MaxMessageBytes", set_max_message, pr_max_message, 0 },
    [TM_K_MAX_REPORT] = { "MaxReportBytes", set_max_report, pr_max_report, 0 },
    [TM_K_MAX_HEADER] = { "MaxHeaderBytes", set_max_header, pr_max_header, 0 },
    [TM_K_MAX_JSON_DEPTH] = { "MaxJsonDepth", set_json_depth, pr_json_depth, 0 },
    [TM_K_MAX_JSON_VALUES] = { "MaxJsonValues", set_json_values, pr_json_values, 0 },
    [TM_K_MAX_SESSION_COUNT] = { "MaxSessionCount", set_session_count, pr_session_count, 0 },
    [TM_K_MAX_MIME_DEPTH] = { "MaxMimeDepth", set_mime_depth, pr_mime_depth, 0 },
    [TM_K_MAX_MIME_PARTS] = { "MaxMimeParts", set_mime_parts, pr_mime_parts, 0 },
    [TM_K_MAX_DECODE_MEMORY] = { "MaxDecodeMemory", set_decode_memory, pr_decode_memory, 0 },
    [TM_K_USER] = { "User", set_user, pr_user, 1 },
    [TM_K_GROUP] = { "Group", set_group, pr_group, 1 },
    [TM_K_UMASK] = { "UMask", set_umask, pr_umask, 0 },
    [TM_K_PIDFILE] = { "PidFile", set_pidfile, pr_pidfile, 1 },
    [TM_K_LOG_LEVEL] = { "LogLevel", set_log_level, pr_log_level, 0 },
    [TM_K_LOG_TARGET] = { "LogTarget", set_log_target, pr_log_target, 0 },
    [TM_K_LOG_FORMAT] = { "LogFormat", set_log_format, pr_log_format, 0 },
    [TM_K_STORE_TIMEOUT] = { "StoreTimeout", set_store_timeout, pr_store_timeout, 0 },
    [TM_K_MAX_NEW_KEYS] = { "MaxNewKeysPerReport", set_new_keys, pr_new_keys, 0 },
    [TM_K_MAX_DOMAINS_PER_REPORTER] = { "MaxDomainsPerReporter", set_rep_domains, pr_rep_domains, 0 },
    [TM_K_ARCHIVE_DIR] = { "ArchiveDir", set_archive_dir, pr_archive_dir, 1 },
    [TM_K_ARCHIVE_DAYS] = { "ArchiveDays", set_archive_days, pr_archive_days, 0 },
    [TM_K_ARCHIVE_ALL] = { "ArchiveAll", set_archive_all, pr_archive_all, 0 },
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
    cfg->source = strdup("");
    cfg->archive_dir = strdup("");
    cfg->archive_days = TM_CONF_DEF_ARCHIVE_DAYS;
    cfg->action = TM_ACTION_DISCARD;
    cfg->on_store_error = TM_STORE_ERR_DELIVER;
    cfg->counter_ttl = 34560000;
    cfg->dedup_ttl = 7776000;
    tlsrpt_limits_default(&cfg->limits);
    cfg->umask = 007;
    cfg->log_level = LOG_INFO;
    cfg->log_target = TM_LOG_SYSLOG;
    cfg->log_format = TM_LOG_TEXT;
    cfg->store_timeout_ms = 1000;
    cfg->max_decode_memory = TM_CONF_DEF_DECODE_MEMORY;
    cfg->max_new_keys = 2000;
    cfg->max_domains_per_reporter = 1000;
    if (tm_auth_defaults(cfg) != 0 || !cfg->socket || !cfg->rcpt_delim || !cfg->memcached_servers || !cfg->key_prefix
        || !cfg->user || !cfg->group || !cfg->pidfile || !cfg->source || !cfg->archive_dir) {
        tm_config_free(cfg);
        return -1;
    }
    return 0;
}

/* Release all that cfg owns. */
void tm_config_free(tm_config *cfg)
{
    free(cfg->socket);
    tm_kp_list_free(cfg->report_addrs, cfg->n_report_addrs);
    free(cfg->rcpt_delim);
    free(cfg->memcached_servers);
    free(cfg->key_prefix);
    tm_kp_list_free(cfg->policy_domains, cfg->n_policy_domains);
    free(cfg->user);
    free(cfg->group);
    free(cfg->pidfile);
    free(cfg->source);
    free(cfg->archive_dir);
    tm_auth_free(cfg);
    memset(cfg, 0, sizeof *cfg);
}
