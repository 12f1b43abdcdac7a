/*
 * test_config.c - tlsrpt-milter configuration reader: defaults, the sample
 * file, every key, suffixes, and error messages with file and line numbers;
 * every documented range at both ends and one past them (sizes, depths, parts,
 * StoreTimeout, UMask, TTLs, the Socket port, list lengths, line and file size).
 * The reader is config/ (libtlsrpt-config.a), linked like every module.
 */
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include "config.h"
#include "tlib.h"
#include <unistd.h>

/* Parse text into a fresh config; returns the error count, errors in err. */
static int parse(tm_config *c, const char *text, char *err, size_t errlen)
{
    if (tm_config_init(c) != 0)
        return -100;
    return tm_config_parse(c, text, strlen(text), "t.conf", err, errlen);
}

/* Built-in defaults match the documented ones and parser/tlsrpt.h. */
static void test_defaults(void)
{
    tm_config c;
    T_INTEQ(tm_config_init(&c), 0, "defaults: init");
    T_STREQ(c.socket, "unix:/run/tlsrpt-milter/tlsrpt-milter.sock", "defaults: socket");
    T_INTEQ(c.action, TM_ACTION_DISCARD, "defaults: action discard");
    T_INTEQ(c.on_store_error, TM_STORE_ERR_DELIVER, "defaults: on store error deliver");
    T_STREQ(c.memcached_servers, "127.0.0.1:11211", "defaults: memcached");
    T_STREQ(c.key_prefix, "tlsrpt:", "defaults: prefix");
    T_INTEQ(c.counter_ttl, 34560000, "defaults: counter ttl 400d");
    T_INTEQ(c.dedup_ttl, 7776000, "defaults: dedup ttl 90d");
    T_INTEQ(c.limits.max_message_bytes, TLSRPT_DEF_MAX_MESSAGE_BYTES, "defaults: max message");
    T_INTEQ(c.limits.max_report_bytes, TLSRPT_DEF_MAX_REPORT_BYTES, "defaults: max report");
    T_INTEQ(c.limits.max_header_bytes, TLSRPT_DEF_MAX_HEADER_BYTES, "defaults: max header");
    T_INTEQ(c.limits.max_json_depth, TLSRPT_DEF_MAX_JSON_DEPTH, "defaults: json depth");
    T_INTEQ(c.limits.max_mime_depth, TLSRPT_DEF_MAX_MIME_DEPTH, "defaults: mime depth");
    T_INTEQ(c.limits.max_mime_parts, TLSRPT_DEF_MAX_MIME_PARTS, "defaults: mime parts");
    T_INTEQ(c.limits.max_json_values, TLSRPT_DEF_MAX_JSON_VALUES, "defaults: json values");
    T_INTEQ(c.limits.max_session_count, TLSRPT_DEF_MAX_SESSION_COUNT, "defaults: session count");
    T_INTEQ(c.umask, 007, "defaults: umask");
    T_INTEQ(c.log_level, LOG_INFO, "defaults: log level info");
    T_INTEQ(c.store_timeout_ms, 1000, "defaults: store timeout");
    T_STREQ(c.user, "tlsrpt-milter", "defaults: user");
    T_STREQ(c.pidfile, "", "defaults: no pidfile");
    T_INTEQ(c.n_report_addrs, 0, "defaults: no report address");
    T_STREQ(c.archive_dir, "", "defaults: no ArchiveDir (the shipped file sets one)");
    T_INTEQ(c.archive_days, 400, "defaults: ArchiveDays 400");
    T_INTEQ(c.archive_all, 0, "defaults: ArchiveAll no");
    tm_config_free(&c);
}

/* The shipped sample parses cleanly and its values equal the defaults. */
static void test_sample(void)
{
    char path[4096], err[4096];
    tm_config c, d;
    snprintf(path, sizeof path, "%s/conf/tlsrpt-milter.conf", tlib_srcdir());
    tm_config_init(&c);
    tm_config_init(&d);
    int n = tm_config_load(&c, path, err, sizeof err);
    if (n)
        printf("# %s", err);
    T_INTEQ(n, 0, "sample: no errors");
    T_INTEQ(c.n_report_addrs, 1, "sample: one report address");
    T_STREQ(c.n_report_addrs ? c.report_addrs[0] : NULL, "tlsrpt@example.com", "sample: address");
    T_INTEQ(c.counter_ttl, d.counter_ttl, "sample: CounterTTL is the default");
    T_INTEQ(c.dedup_ttl, d.dedup_ttl, "sample: DedupTTL is the default");
    T_CHECK(memcmp(&c.limits, &d.limits, sizeof c.limits) == 0, "sample: limits are the defaults");
    T_STREQ(c.socket, d.socket, "sample: Socket is the default");
    T_INTEQ(c.umask, d.umask, "sample: UMask is the default");
    T_STREQ(c.archive_dir, "/var/lib/tlsrpt-milter/archive", "sample: ArchiveDir set (the "
            "package's directory)");
    T_INTEQ(c.archive_days, d.archive_days, "sample: ArchiveDays is the default");
    T_INTEQ(c.archive_all, d.archive_all, "sample: ArchiveAll is the default");
    tm_config_free(&c);
    tm_config_free(&d);
}

/* Every key with non-default values, keys in odd case, suffixes, lists. */
static void test_all_keys(void)
{
    char err[4096] = "";
    tm_config c;
    const char *text =
        "# comment\n\n   # indented comment\n"
        "socket   inet:8895@127.0.0.1\n"
        "REPORTADDRESS <TLSRPT@Example.COM>, @reports.example.net\n"
        "ReportAddress tls-rpt@example.org.\n"
        "RecipientDelimiter +-\n"
        "Action tag\r\n"
        "OnStoreError TEMPFAIL\n"
        "MemcachedServers 10.0.0.1:11211, 10.0.0.2:11211\n"
        "KeyPrefix t2:\n"
        "CounterTTL 400d\n"
        "DedupTTL 2h\n"
        "PolicyDomains Example.COM. example.net\n"
        "PolicyDomains example.org\n"
        "MaxMessageBytes 2M\n"
        "MaxReportBytes 512k\n"
        "MaxHeaderBytes 1000\n"
        "MaxJsonDepth 10\n"
        "maxjsonvalues 5000\n"
        "MaxSessionCount 1000000\n"
        "MaxMimeDepth 3\n"
        "MaxMimeParts 7\n"
        "User nobody\n"
        "Group nogroup\n"
        "UMask 027\n"
        "PidFile /run/x.pid\n"
        "LogLevel Debug\n"
        "LogTarget STDERR\n"
        "LogFormat json\n"
        "StoreTimeout 250\n";
    int n = parse(&c, text, err, sizeof err);
    if (n)
        printf("# %s", err);
    T_INTEQ(n, 0, "keys: no errors");
    T_STREQ(c.socket, "inet:8895@127.0.0.1", "keys: Socket");
    T_INTEQ(c.n_report_addrs, 3, "keys: three report addresses");
    if (c.n_report_addrs == 3) {
        T_STREQ(c.report_addrs[0], "tlsrpt@example.com", "keys: address normalized");
        T_STREQ(c.report_addrs[1], "@reports.example.net", "keys: @domain kept");
        T_STREQ(c.report_addrs[2], "tls-rpt@example.org", "keys: trailing dot removed");
    }
    T_STREQ(c.rcpt_delim, "+-", "keys: RecipientDelimiter");
    T_INTEQ(c.action, TM_ACTION_TAG, "keys: Action tag (CRLF line)");
    T_INTEQ(c.on_store_error, TM_STORE_ERR_TEMPFAIL, "keys: OnStoreError tempfail");
    T_STREQ(c.memcached_servers, "10.0.0.1:11211, 10.0.0.2:11211", "keys: MemcachedServers");
    T_STREQ(c.key_prefix, "t2:", "keys: KeyPrefix");
    T_INTEQ(c.counter_ttl, 400L * 86400, "keys: CounterTTL 400d");
    T_INTEQ(c.dedup_ttl, 7200, "keys: DedupTTL 2h");
    T_INTEQ(c.n_policy_domains, 3, "keys: PolicyDomains repeated");
    if (c.n_policy_domains == 3)
        T_STREQ(c.policy_domains[0], "example.com", "keys: policy domain normalized");
    T_INTEQ(c.limits.max_message_bytes, 2 * 1024 * 1024, "keys: MaxMessageBytes 2M");
    T_INTEQ(c.limits.max_report_bytes, 512 * 1024, "keys: MaxReportBytes 512k");
    T_INTEQ(c.limits.max_header_bytes, 1000, "keys: MaxHeaderBytes");
    T_INTEQ(c.limits.max_json_depth, 10, "keys: MaxJsonDepth");
    T_INTEQ(c.limits.max_mime_depth, 3, "keys: MaxMimeDepth");
    T_INTEQ(c.limits.max_mime_parts, 7, "keys: MaxMimeParts");
    T_INTEQ(c.limits.max_json_values, 5000, "keys: MaxJsonValues");
    T_INTEQ(c.limits.max_session_count, 1000000, "keys: MaxSessionCount");
    T_STREQ(c.user, "nobody", "keys: User");
    T_STREQ(c.group, "nogroup", "keys: Group");
    T_INTEQ(c.umask, 027, "keys: UMask octal");
    T_STREQ(c.pidfile, "/run/x.pid", "keys: PidFile");
    T_INTEQ(c.log_level, LOG_DEBUG, "keys: LogLevel debug");
    T_INTEQ(c.store_timeout_ms, 250, "keys: StoreTimeout");
    T_INTEQ(c.log_target, TM_LOG_STDERR, "keys: LogTarget stderr");
    T_INTEQ(c.log_format, TM_LOG_JSON, "keys: LogFormat json");
    T_INTEQ(c.line[TM_K_SOCKET], 4, "keys: line of Socket");
    T_INTEQ(c.line[TM_K_REPORT_ADDRESS], 6, "keys: line of the last ReportAddress");
    T_INTEQ(c.line[TM_K_STORE_TIMEOUT], 31, "keys: line of StoreTimeout");
    T_INTEQ(c.line[TM_K_MAX_JSON_VALUES], 20, "keys: line of MaxJsonValues");
    tm_config_free(&c);
}

/* One bad line: count 1 and the exact "t.conf:LINE: message". */
static void expect_error(const char *text, const char *want, const char *name)
{
    char err[4096] = "";
    tm_config c;
    int n = parse(&c, text, err, sizeof err);
    T_INTEQ(n, 1, name);
    char label[200];
    snprintf(label, sizeof label, "%s: message", name);
    T_CHECK(strstr(err, want) != NULL, label);
    if (!strstr(err, want))
        printf("# got: %s# want: %s\n", err, want);
    tm_config_free(&c);
}

#define RA "ReportAddress a@b.example\n"

/* Bad values, unknown keys and missing required keys. */
static void test_errors(void)
{
    expect_error(RA "\n# x\nFoo bar\n", "t.conf:4: unknown key 'Foo'\n", "err unknown key");
    expect_error(RA "Action x\n", "t.conf:2: bad value for Action: 'x' (expected discard or tag)",
                 "err action");
    expect_error("Action tag\n", "t.conf: no ReportAddress configured", "err no report address");
    expect_error(RA "OnStoreError maybe\n", "t.conf:2: bad value for OnStoreError: 'maybe'",
                 "err on store error");
    expect_error(RA "CounterTTL 5w\n", "t.conf:2: bad value for CounterTTL: '5w'", "err ttl suffix");
    expect_error(RA "DedupTTL 99999999999999999999\n", "t.conf:2: bad value for DedupTTL",
                 "err ttl overflow");
    expect_error(RA "DedupTTL 3651d\n", "t.conf:2: bad value for DedupTTL", "err ttl too long");
    expect_error(RA "DedupTTL -1\n", "t.conf:2: bad value for DedupTTL", "err ttl negative");
    expect_error(RA "MaxMessageBytes 0\n", "t.conf:2: bad value for MaxMessageBytes: '0'",
                 "err size zero");
    expect_error(RA "MaxReportBytes 2G\n", "t.conf:2: bad value for MaxReportBytes", "err size G");
    expect_error(RA "MaxReportBytes 2048M\n", "t.conf:2: bad value for MaxReportBytes",
                 "err size over 1024M");
    expect_error(RA "MaxJsonDepth 0\n", "t.conf:2: bad value for MaxJsonDepth", "err depth 0");
    expect_error(RA "MaxMimeParts 12x\n", "t.conf:2: bad value for MaxMimeParts", "err parts junk");
    expect_error(RA "UMask 999\n", "t.conf:2: bad value for UMask: '999'", "err umask");
    expect_error(RA "Socket tcp:1\n", "t.conf:2: bad value for Socket: 'tcp:1'", "err socket");
    expect_error(RA "Socket inet:70000@localhost\n", "t.conf:2: bad value for Socket",
                 "err socket port");
    expect_error(RA "Socket unix:relative\n", "t.conf:2: bad value for Socket", "err socket rel");
    expect_error(RA "LogLevel loud\n", "t.conf:2: bad value for LogLevel: 'loud'", "err loglevel");
    expect_error(RA "ReportAddress nobody\n", "t.conf:2: bad value for ReportAddress: 'nobody'",
                 "err address without @");
    expect_error(RA "ReportAddress user@\n", "t.conf:2: bad value for ReportAddress: 'user@'",
                 "err address without domain");
    expect_error(RA "ReportAddress\n", "t.conf:2: missing value for ReportAddress",
                 "err missing value");
    expect_error(RA "PidFile run/x.pid\n", "t.conf:2: bad value for PidFile", "err pidfile rel");
    expect_error(RA "PolicyDomains a@b\n", "t.conf:2: bad value for PolicyDomains", "err domain");
    expect_error(RA "PolicyDomains ok.example bad_name.example\n",
                 "t.conf:2: bad value for PolicyDomains: 'bad_name.example' (expected a host name)",
                 "err domain that is not a host name");
    expect_error(RA "MaxNewKeysPerReport 0\n", "t.conf:2: bad value for MaxNewKeysPerReport",
                 "err MaxNewKeysPerReport 0");
    expect_error(RA "MaxDomainsPerReporter 100001\n", "t.conf:2: bad value for MaxDomainsPerReporter",
                 "err MaxDomainsPerReporter 100001");
    expect_error(RA "MetricsInterval 0\n", "t.conf:2: bad value for MetricsInterval: '0' "
                 "(expected seconds 1..3600)", "err MetricsInterval 0");
    expect_error(RA "MetricsInterval 3601\n", "t.conf:2: bad value for MetricsInterval",
                 "err MetricsInterval 3601");
    expect_error(RA "MetricsFile metrics.prom\n", "t.conf:2: bad value for MetricsFile: "
                 "'metrics.prom' (expected an absolute path of a file", "err MetricsFile relative");
    expect_error(RA "MetricsFile /var/lib/\n", "t.conf:2: bad value for MetricsFile",
                 "err MetricsFile a directory path");
    {
        tm_config c;
        char e[512] = "", big[1100];
        memset(big, 'a', sizeof big);
        big[0] = '/';
        big[1025] = 0;
        int n = parse(&c, RA "MetricsInterval 3600\n", e, sizeof e);
        T_CHECK(n == 0 && c.metrics_interval_s == 3600 && c.metrics_file[0] == 0,
                "MetricsInterval 3600 taken; MetricsFile empty by default");
        tm_config_free(&c);
        n = parse(&c, RA "MetricsInterval 1\nMetricsFile /x/m.prom\n", e, sizeof e);
        T_CHECK(n == 0 && c.metrics_interval_s == 1 && !strcmp(c.metrics_file, "/x/m.prom"),
                "MetricsInterval 1 and MetricsFile taken");
        tm_config_free(&c);
        n = parse(&c, RA, e, sizeof e);
        T_CHECK(n == 0 && c.metrics_interval_s == 60, "MetricsInterval default 60");
        tm_config_free(&c);
        char line[1200];
        big[1024] = 0;
        snprintf(line, sizeof line, RA "MetricsFile %s\n", big);
        n = parse(&c, line, e, sizeof e);
        T_CHECK(n == 0, "MetricsFile of 1024 bytes taken");
        tm_config_free(&c);
        memset(big, 'a', 1025);
        big[0] = '/';
        big[1025] = 0;
        snprintf(line, sizeof line, RA "MetricsFile %s\n", big);
        n = parse(&c, line, e, sizeof e);
        T_CHECK(n == 1 && strstr(e, "at most 1024 bytes"), "MetricsFile of 1025 bytes refused");
        tm_config_free(&c);
    }
    {
        tm_config c;
        tlsrpt_store_conf sc;
        char e[512] = "";
        int n = parse(&c, RA "MaxNewKeysPerReport 50\nMaxDomainsPerReporter 100000\n", e, sizeof e);
        tm_config_store_conf(&c, 4, &sc);
        T_CHECK(n == 0 && sc.max_new_keys == 50 && sc.max_domains_per_reporter == 100000,
                "MaxNewKeysPerReport / MaxDomainsPerReporter reach the store configuration");
        tm_config_free(&c);
        n = parse(&c, RA, e, sizeof e);
        tm_config_store_conf(&c, 4, &sc);
        T_CHECK(n == 0 && sc.max_new_keys == 2000 && sc.max_domains_per_reporter == 1000,
                "budget defaults 2000 / 1000");
        tm_config_free(&c);
    }
    {
        tm_config c;
        char e[512] = "";
        int n = parse(&c, RA "PolicyDomains B\xc3\x9c" "cher.test.\n", e, sizeof e);
        T_CHECK(n == 0 && c.n_policy_domains == 1 && strcmp(c.policy_domains[0], "xn--bcher-kva.test") == 0,
                "PolicyDomains: a U-label is kept as its A-label");
        tm_config_free(&c);
    }
    expect_error(RA "StoreTimeout 0\n", "t.conf:2: bad value for StoreTimeout", "err timeout");
    expect_error(RA "LogTarget journal\n",
                 "t.conf:2: bad value for LogTarget: 'journal' (expected syslog or stderr)",
                 "err log target");
    expect_error(RA "LogFormat xml\n",
                 "t.conf:2: bad value for LogFormat: 'xml' (expected text or json)", "err log format");
    expect_error(RA "KeyPrefix has\001ctl\n", "t.conf:2: bad value for KeyPrefix: bad key prefix",
                 "err key prefix (the store's rule)");
    expect_error(RA "KeyPrefix " "x123456789x123456789x123456789x123456789x123456789x123456789xxxxx\n",
                 "t.conf:2: bad value for KeyPrefix: bad key prefix", "err key prefix too long");
    expect_error(RA "\nMemcachedServers :\n", "t.conf:3: bad value for MemcachedServers:",
                 "err memcached servers (the store's parser)");
    expect_error(RA "Socket unix:/" "x123456789x123456789x123456789x123456789x123456789"
                 "x123456789x123456789x123456789x123456789x123456789x123456789\n",
                 "t.conf:2: bad value for Socket: the path is 111 bytes, a UNIX socket path holds "
                 "at most 107", "err socket path longer than sun_path");

    char *big = malloc(TM_CONF_LINE_MAX + 100);
    if (big) {
        strcpy(big, RA "KeyPrefix ");
        size_t n = strlen(big);
        memset(big + n, 'x', TM_CONF_LINE_MAX);
        strcpy(big + n + TM_CONF_LINE_MAX, "\n");
        expect_error(big, "t.conf:2: line too long", "err line too long");
        free(big);
    }
}

/* Several errors: all reported, each with its line; empty values where allowed. */
static void test_many_errors(void)
{
    char err[4096] = "";
    tm_config c;
    int n = parse(&c, "Bad 1\nAction x\nPidFile\nRecipientDelimiter\nUMask 8\n", err, sizeof err);
    T_INTEQ(n, 4, "many: unknown + action + umask + no address");
    T_CHECK(strstr(err, "t.conf:1: unknown key 'Bad'") != NULL, "many: line 1");
    T_CHECK(strstr(err, "t.conf:2: bad value for Action") != NULL, "many: line 2");
    T_CHECK(strstr(err, "t.conf:5: bad value for UMask") != NULL, "many: line 5");
    T_CHECK(strstr(err, "t.conf:3") == NULL && strstr(err, "t.conf:4") == NULL,
            "many: empty PidFile / RecipientDelimiter accepted");
    tm_config_free(&c);

    char small[40];
    n = parse(&c, "A 1\nB 2\nC 3\nD 4\nE 5\nF 6\n", small, sizeof small);
    T_INTEQ(n, 7, "many: count beyond a full buffer");
    T_CHECK(strlen(small) < sizeof small, "many: error buffer bounded");
    tm_config_free(&c);
}

/* Loading: a missing file and a file with a bad line. */
static void test_load(void)
{
    char err[1024], path[] = "/tmp/tlsrpt-test-conf-XXXXXX";
    tm_config c;
    tm_config_init(&c);
    T_INTEQ(tm_config_load(&c, "/nonexistent/tlsrpt.conf", err, sizeof err), 1, "load: missing");
    T_CHECK(strstr(err, "/nonexistent/tlsrpt.conf: cannot open") != NULL, "load: missing msg");
    tm_config_free(&c);
    int fd = mkstemp(path);
    if (fd < 0) {
        T_SKIP("load: file", "mkstemp failed");
        return;
    }
    const char body[] = "ReportAddress r@example.com\nLogLevel info\nAction Discard\nNope\n";
    T_CHECK(write(fd, body, sizeof body - 1) == (ssize_t)(sizeof body - 1), "load: write tmp");
    close(fd);
    tm_config_init(&c);
    T_INTEQ(tm_config_load(&c, path, err, sizeof err), 1, "load: one error");
    char want[200];
    snprintf(want, sizeof want, "%s:4: unknown key 'Nope'", path);
    T_CHECK(strstr(err, want) != NULL, "load: file name and line in message");
    unlink(path);
    tm_config_free(&c);
}

/* Whole-file errors name the line where the key was set, or say it is the default. */
static void test_errorf(void)
{
    char err[1024] = "";
    tm_config c;
    T_INTEQ(parse(&c, RA "# c\nUser nobody\n", err, sizeof err), 0, "errorf: parses");
    T_INTEQ(tm_config_errorf(&c, TM_K_USER, err, sizeof err, "unknown user '%s'", c.user), 1,
            "errorf: counts one");
    T_INTEQ(tm_config_errorf(&c, TM_K_SOCKET, err, sizeof err, "no directory"), 1,
            "errorf: default counts one");
    T_STREQ(err, "t.conf:3: unknown user 'nobody'\n"
            "t.conf: no directory (Socket: the default)\n", "errorf: FILE:LINE and default");
    T_STREQ(tm_config_key_name(TM_K_KEY_PREFIX), "KeyPrefix", "errorf: key name");
    T_CHECK(tm_config_key_name(TM_K_COUNT) == NULL, "errorf: no name out of range");
    tm_config_free(&c);
}

/* Print the effective configuration of text into a malloc'd string. */
static char *printed(const char *text, int *nerr)
{
    char err[4096], *buf = NULL;
    size_t len = 0;
    tm_config c;
    *nerr = parse(&c, text, err, sizeof err);
    FILE *f = open_memstream(&buf, &len);
    if (f) {
        tm_config_print(f, &c);
        fclose(f);
    }
    tm_config_free(&c);
    return buf;
}

/* -n -v output: every key, defaults included, and it parses back to the same output. */
static void test_print(void)
{
    int n1 = -1, n2 = -1;
    char *p1 = printed(RA, &n1);
    T_INTEQ(n1, 0, "print: defaults parse");
    T_CHECK(p1 && strstr(p1, "Socket unix:/run/tlsrpt-milter/tlsrpt-milter.sock\n"), "print: Socket");
    T_CHECK(p1 && strstr(p1, "\nCounterTTL 400d\nDedupTTL 90d\n"), "print: TTLs in days");
    T_CHECK(p1 && strstr(p1, "\nMaxMessageBytes 16M\n"), "print: size in M");
    T_CHECK(p1 && strstr(p1, "\nMaxHeaderBytes 64k\n"), "print: size in k");
    T_CHECK(p1 && strstr(p1, "\nRecipientDelimiter\nAction discard\n"), "print: empty value bare");
    T_CHECK(p1 && strstr(p1, "\nUMask 007\n"), "print: umask octal");
    T_CHECK(p1 && strstr(p1, "\nLogTarget syslog\nLogFormat text\n"), "print: log defaults");
    int keys = 0;
    for (const char *q = p1; q && *q; q = strchr(q, '\n') ? strchr(q, '\n') + 1 : "")
        keys += *q != '#';
    T_INTEQ(keys, TM_K_COUNT, "print: one line per key");
    char *p2 = p1 ? printed(p1, &n2) : NULL;
    T_INTEQ(n2, 0, "print: output parses");
    T_STREQ(p2, p1, "print: output round-trips");
    free(p1);
    free(p2);
    const char *many = RA "ReportAddress @x.example\nPolicyDomains a.example b.example\n"
                       "CounterTTL 90m\nDedupTTL 61\nMaxMessageBytes 1000\nAction tag\n"
                       "LogFormat json\nPidFile /run/p.pid\nGroup mail\n";
    p1 = printed(many, &n1);
    p2 = p1 ? printed(p1, &n2) : NULL;
    T_CHECK(n1 == 0 && n2 == 0, "print: lists parse");
    T_CHECK(p1 && strstr(p1, "ReportAddress a@b.example\nReportAddress @x.example\n"),
            "print: one line per address");
    T_CHECK(p1 && strstr(p1, "CounterTTL 90m\nDedupTTL 61\n"), "print: minutes, seconds");
    T_STREQ(p2, p1, "print: lists round-trip");
    free(p1);
    free(p2);
}

/* One setting: accepted with the value read back as want (ok), or refused. */
static void expect_value(const char *line, int ok, long long want)
{
    char text[256], err[4096] = "", name[300];
    tm_config c;
    char shown[200];
    snprintf(text, sizeof text, RA "%s\n", line);
    snprintf(shown, sizeof shown, "%s", line);
    for (char *q = shown; *q; q++)
        *q = *q == '\n' ? ',' : *q;            /* a second line, shown on one */
    line = shown;
    int n = parse(&c, text, err, sizeof err);
    snprintf(name, sizeof name, "bound: '%s' %s", line, ok ? "accepted" : "refused");
    T_INTEQ(n, ok ? 0 : 1, name);
    if (ok) {
        const char *k = line;
        long long got = !strncmp(k, "MaxMessageBytes", 15) ? (long long)c.limits.max_message_bytes
            : !strncmp(k, "MaxReportBytes", 14) ? (long long)c.limits.max_report_bytes
            : !strncmp(k, "MaxHeaderBytes", 14) ? (long long)c.limits.max_header_bytes
            : !strncmp(k, "MaxJsonDepth", 12) ? c.limits.max_json_depth
            : !strncmp(k, "MaxMimeDepth", 12) ? c.limits.max_mime_depth
            : !strncmp(k, "MaxMimeParts", 12) ? c.limits.max_mime_parts
            : !strncmp(k, "MaxJsonValues", 13) ? (long long)c.limits.max_json_values
            : !strncmp(k, "MaxSessionCount", 15) ? (long long)c.limits.max_session_count
            : !strncmp(k, "MaxDecodeMemory", 15) ? (long long)c.max_decode_memory
            : !strncmp(k, "StoreTimeout", 12) ? c.store_timeout_ms
            : !strncmp(k, "UMask", 5) ? (long long)c.umask
            : !strncmp(k, "ArchiveDays", 11) ? c.archive_days
            : !strncmp(k, "ArchiveAll", 10) ? c.archive_all
            : !strncmp(k, "CounterTTL", 10) ? c.counter_ttl
            : !strncmp(k, "DedupTTL", 8) ? c.dedup_ttl : -1;
        snprintf(name, sizeof name, "bound: '%s' reads %lld", line, want);
        T_INTEQ(got, want, name);
    } else if (n == 1) {
        snprintf(name, sizeof name, "bound: '%s' names the key and line", line);
        T_CHECK(strncmp(err, "t.conf:2: bad value for ", 24) == 0, name);
    }
    tm_config_free(&c);
}

/* MaxDecodeMemory must hold one mail's decoder bound at the limits: exactly it, one less. */
static void test_decode_memory(void)
{
    tlsrpt_limits lim;
    char text[256], err[4096];
    tm_config c;
    tlsrpt_limits_default(&lim);
    size_t part = tm_decode_mail_bound(&lim);
    T_INTEQ(part, 104 * 1000000 + 5 * (8 << 20) + (2 << 20) + 2 * (16 << 20), "decode memory: "
            "the mail bound at the defaults is MaxJsonValues x 104 + MaxReportBytes x 5 + "
            "2 x MaxMessageBytes + 2M");
    T_CHECK(part <= TM_CONF_DEF_DECODE_MEMORY, "decode memory: the default budget holds it");
    snprintf(text, sizeof text, RA "MaxDecodeMemory %zu\n", part);
    T_INTEQ(parse(&c, text, err, sizeof err), 0, "decode memory: exactly the mail bound accepted");
    tm_config_free(&c);
    snprintf(text, sizeof text, RA "MaxDecodeMemory %zu\n", part - 1);
    T_INTEQ(parse(&c, text, err, sizeof err), 1, "decode memory: one byte less refused");
    T_CHECK(strncmp(err, "t.conf:2: MaxDecodeMemory 173M is less than one mail's decoder "
                    "may hold at these limits (174M: ", 86) == 0,
            "decode memory: ... with its line and both figures");
    tm_config_free(&c);
    T_INTEQ(parse(&c, RA "MaxJsonValues 3000000\n", err, sizeof err), 1,
            "decode memory: the default budget refused for three times the values");
    T_CHECK(strstr(err, "t.conf: MaxDecodeMemory 256M is less") &&
            strstr(err, "(MaxDecodeMemory: the default)"), "decode memory: ... naming the default");
    tm_config_free(&c);
}

/* Every documented range of tlsrpt-milter.conf(5) at both ends and one past them. */
static void test_bounds(void)
{
    expect_value("MaxMessageBytes 1", 1, 1);
    expect_value("MaxMessageBytes 1024M\nMaxDecodeMemory 4G", 1, 1LL << 30);
    expect_value("MaxMessageBytes 1073741824\nMaxDecodeMemory 4G", 1, 1LL << 30);
    expect_value("MaxMessageBytes 1073741825", 0, 0);
    expect_value("MaxMessageBytes 1025M", 0, 0);
    expect_value("MaxMessageBytes 1048577k", 0, 0);
    expect_value("MaxReportBytes 1", 1, 1);
    expect_value("MaxReportBytes 1024M\nMaxDecodeMemory 12G", 1, 1LL << 30);
    expect_value("MaxReportBytes 1073741825", 0, 0);
    expect_value("MaxReportBytes 0", 0, 0);
    expect_value("MaxHeaderBytes 1", 1, 1);
    expect_value("MaxHeaderBytes 16M", 1, 16LL << 20);
    expect_value("MaxHeaderBytes 16384k", 1, 16LL << 20);
    expect_value("MaxHeaderBytes 16777217", 0, 0);
    expect_value("MaxHeaderBytes 0", 0, 0);
    expect_value("MaxJsonDepth 1", 1, 1);
    expect_value("MaxJsonDepth 1000", 1, 1000);
    expect_value("MaxJsonDepth 1001", 0, 0);
    expect_value("MaxMimeDepth 1", 1, 1);
    expect_value("MaxMimeDepth 100", 1, 100);
    expect_value("MaxMimeDepth 101", 0, 0);
    expect_value("MaxMimeDepth 0", 0, 0);
    expect_value("MaxMimeParts 1", 1, 1);
    expect_value("MaxMimeParts 100000", 1, 100000);
    expect_value("MaxMimeParts 100001", 0, 0);
    expect_value("MaxMimeParts 0", 0, 0);
    expect_value("MaxJsonValues 1", 1, 1);
    expect_value("MaxJsonValues 100000000\nMaxDecodeMemory 16G", 1, 100000000);
    expect_value("MaxJsonValues 100000001", 0, 0);
    expect_value("MaxJsonValues 0", 0, 0);
    expect_value("MaxJsonValues 10k", 0, 0);
    expect_value("MaxSessionCount 1", 1, 1);
    expect_value("MaxSessionCount 4611686018427387904", 1, 4611686018427387904LL);
    expect_value("MaxSessionCount 4611686018427387905", 0, 0);
    expect_value("MaxSessionCount 18446744073709551616", 0, 0);
    expect_value("MaxSessionCount 0", 0, 0);
    expect_value("MaxSessionCount -1", 0, 0);
    /* MaxDecodeMemory: 1..1024G, and at least one report part's bound at the limits */
    expect_value("MaxDecodeMemory 1024G\nMaxJsonValues 1", 1, 1LL << 40);
    expect_value("MaxDecodeMemory 1099511627777", 0, 0);
    expect_value("MaxDecodeMemory 1025G", 0, 0);
    expect_value("MaxDecodeMemory 0", 0, 0);
    expect_value("MaxDecodeMemory 256M", 1, 256LL << 20);
    expect_value("StoreTimeout 1", 1, 1);
    expect_value("StoreTimeout 600000", 1, 600000);
    expect_value("StoreTimeout 600001", 0, 0);
    expect_value("UMask 000", 1, 0);
    expect_value("UMask 777", 1, 0777);
    expect_value("UMask 1000", 0, 0);
    expect_value("ArchiveDays 0", 1, 0);
    expect_value("ArchiveDays 36500", 1, 36500);
    expect_value("ArchiveDays 36501", 0, 0);
    expect_value("ArchiveDays -1", 0, 0);
    expect_value("ArchiveAll yes", 1, 1);
    expect_value("ArchiveAll NO", 1, 0);
    expect_value("ArchiveAll 1", 0, 0);
    expect_value("ArchiveDir relative/dir", 0, 0);
    expect_value("CounterTTL 0", 1, 0);
    expect_value("CounterTTL 3650d", 1, 3650LL * 86400);
    expect_value("CounterTTL 315360000", 1, 315360000);
    expect_value("CounterTTL 315360001", 0, 0);
    expect_value("DedupTTL 87600h", 1, 315360000);
    expect_value("DedupTTL 5256001m", 0, 0);
    expect_value("Socket inet:65535@127.0.0.1", 1, -1);
    expect_value("Socket inet:65536@127.0.0.1", 0, 0);
    expect_value("Socket inet:0@127.0.0.1", 0, 0);

    /* lists: 256 report addresses, 4096 policy domains; one more is an error */
    for (int lst = 0; lst < 2; lst++) {
        size_t max = lst ? TM_CONF_MAX_DOMAINS : TM_CONF_MAX_ADDRS;
        for (size_t extra = 0; extra <= 1; extra++) {
            size_t cap = (max + 1) * 40 + 100, o = 0;
            char *t = malloc(cap), err[4096] = "", name[160];
            tm_config c;
            if (!t)
                abort();
            o += (size_t)snprintf(t + o, cap - o, lst ? RA : "");
            for (size_t i = 0; i < max + extra; i++)
                o += (size_t)snprintf(t + o, cap - o, lst ? "PolicyDomains d%zu.example\n"
                                      : "ReportAddress r%zu@example.com\n", i);
            int n = parse(&c, t, err, sizeof err);
            snprintf(name, sizeof name, "bound: %zu %s %s", max + extra,
                     lst ? "policy domains" : "report addresses", extra ? "refused" : "accepted");
            T_CHECK(extra ? n == 1 && strstr(err, "too many entries") : n == 0, name);
            if (!extra) {
                snprintf(name, sizeof name, "bound: %zu %s kept", max, lst ? "policy domains"
                         : "report addresses");
                T_INTEQ(lst ? c.n_policy_domains : c.n_report_addrs, max, name);
            }
            tm_config_free(&c);
            free(t);
        }
    }

    /* a line of exactly TM_CONF_LINE_MAX bytes (its LF not counted), and one more */
    for (size_t extra = 0; extra <= 1; extra++) {
        char *t = malloc(TM_CONF_LINE_MAX + 100), err[4096] = "";
        tm_config c;
        if (!t)
            abort();
        /* PidFile: a value with no length limit of its own (KeyPrefix now has one) */
        strcpy(t, RA "PidFile /");
        size_t n = strlen(t), v = TM_CONF_LINE_MAX + extra - strlen("PidFile /");
        memset(t + n, 'k', v);
        strcpy(t + n + v, "\n");
        int e = parse(&c, t, err, sizeof err);
        T_INTEQ(e, (int)extra, extra ? "bound: line of 4097 bytes refused"
                                     : "bound: line of 4096 bytes accepted");
        if (!extra)
            T_INTEQ(strlen(c.pidfile), v + 1, "bound: 4096-byte line read whole");
        tm_config_free(&c);
        free(t);
    }
}

/* A file of exactly TM_CONF_FILE_MAX bytes loads; one byte more is refused. */
static void test_file_bound(void)
{
    for (size_t extra = 0; extra <= 1; extra++) {
        char path[] = "/tmp/tlsrpt-test-conf-XXXXXX", err[1024] = "";
        int fd = mkstemp(path);
        if (fd < 0) {
            T_SKIP("bound: file size", "mkstemp failed");
            return;
        }
        size_t total = TM_CONF_FILE_MAX + extra, o = 0;
        char *t = malloc(total + 1);
        if (!t)
            abort();
        o = (size_t)snprintf(t, total + 1, RA);
        memset(t + o, '\n', total - o);             /* blank lines */
        T_CHECK(write(fd, t, total) == (ssize_t)total, "bound: write the file");
        close(fd);
        tm_config c;
        tm_config_init(&c);
        int n = tm_config_load(&c, path, err, sizeof err);
        T_CHECK(extra ? n == 1 && strstr(err, "file too large") : n == 0,
                extra ? "bound: file of 1 MiB + 1 refused" : "bound: file of 1 MiB loads");
        tm_config_free(&c);
        unlink(path);
        free(t);
    }
}

int main(void)
{
    test_defaults();
    test_sample();
    test_all_keys();
    test_errors();
    test_many_errors();
    test_load();
    test_errorf();
    test_print();
    test_bounds();
    test_decode_memory();
    test_file_bound();
    T_MAIN_END();
}
