/*
 * test_metrics.c - milter/metrics.c: every event call moves its own figure and no
 * other; reason tokens outside the fixed table (a stranger's string, NULL, one
 * with a quote and a newline) are counted as "other", never as a label; the
 * histogram's buckets are cumulative, +Inf = _count, _sum in seconds; the file is
 * written atomically (no .tmp left, mode 0644 whatever the umask), by the thread at
 * once after a MetricsFile change, again after MetricsInterval, and a last time at
 * tm_metrics_stop, which returns within a second; a directory that is not
 * writable leaves the old file and the milter running.
 * Includes milter/metrics.c directly; tm_gen_inflight and the log are stubs.
 * Limits: one exposition text of at most 64 KiB.
 */
#include "../../milter/metrics.c"
#include "tlib.h"
#include <stdarg.h>
#include <sys/stat.h>

static unsigned g_inflight = 3;
static int g_warnings;

/* Stub: mails in flight. */
unsigned tm_gen_inflight(void)
{
    return g_inflight;
}

/* Stub: counts the warnings (write failures). */
void tm_log(int prio, const char *fmt, ...)
{
    (void)fmt;
    if (prio == LOG_WARNING)
        g_warnings++;
}

/* The exposition text now (static buffer). */
static const char *text(void)
{
    static char buf[65536];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    if (!f)
        return "";
    tm_metrics_write(f);
    fclose(f);
    return buf;
}

/* Value of the sample "name{labels}" (exactly as written), -1 when absent. */
static double value(const char *sample)
{
    const char *t = text();
    size_t n = strlen(sample);
    for (const char *l = t; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l))
        if (strncmp(l, sample, n) == 0 && l[n] == ' ')
            return atof(l + n + 1);
    return -1;
}

/* Every sample line of the text (no comments) sums to this; for "no other moved". */
static double total(void)
{
    const char *t = text();
    double s = 0;
    for (const char *l = t; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) {
        const char *sp = strchr(l, ' ');
        if (*l != '#' && sp && strncmp(l, "tlsrpt_milter_mail_duration", 27) != 0
            && strncmp(l, "tlsrpt_milter_start_time", 24) != 0)
            s += atof(sp + 1);
    }
    return s;
}

/* Each event moves exactly its figure by one. */
static void test_events(void)
{
    struct { void (*fn)(void); const char *sample; } ev[] = {
        { tm_metrics_counted, "tlsrpt_milter_reports_counted_total" },
        { tm_metrics_duplicate, "tlsrpt_milter_reports_duplicate_total" },
        { tm_metrics_store_error, "tlsrpt_milter_store_errors_total" },
        { tm_metrics_archive_error, "tlsrpt_milter_archive_errors_total" },
        { tm_metrics_reload_failed, "tlsrpt_milter_config_reloads_total{result=\"failed\"}" },
    };
    char name[200];
    for (size_t i = 0; i < sizeof ev / sizeof ev[0]; i++) {
        double before = value(ev[i].sample), all = total();
        ev[i].fn();
        snprintf(name, sizeof name, "%s: +1", ev[i].sample);
        T_CHECK(value(ev[i].sample) == before + 1, name);
        snprintf(name, sizeof name, "%s: nothing else moved", ev[i].sample);
        T_CHECK(total() == all + 1, name);
    }
    double all = total();
    tm_metrics_not_counted("foreign-domain");
    tm_metrics_not_counted("corrupt-gzip");
    tm_metrics_not_counted("corrupt-gzip");
    T_CHECK(value("tlsrpt_milter_not_counted_total{reason=\"foreign-domain\"}") == 1,
            "not counted: foreign-domain 1");
    T_CHECK(value("tlsrpt_milter_not_counted_total{reason=\"corrupt-gzip\"}") == 2,
            "not counted: corrupt-gzip 2");
    tm_metrics_not_counted("evil\"}\n1 2 3");
    tm_metrics_not_counted(NULL);
    tm_metrics_not_counted("other-than-listed");
    tm_metrics_not_counted("ok");
    T_CHECK(value("tlsrpt_milter_not_counted_total{reason=\"other\"}") == 4,
            "not counted: unknown tokens, a hostile one and NULL are \"other\"");
    T_CHECK(strstr(text(), "evil") == NULL, "a hostile token never reaches the text");
    T_CHECK(total() == all + 7, "not counted: nothing else moved");
    tm_metrics_tempfail("memory-budget");
    tm_metrics_tempfail("x");
    T_CHECK(value("tlsrpt_milter_tempfail_total{reason=\"memory-budget\"}") == 1, "tempfail: "
            "memory-budget");
    T_CHECK(value("tlsrpt_milter_tempfail_total{reason=\"other\"}") == 1, "tempfail: other");
    tm_metrics_dkim(TM_DKIM_PASS);
    tm_metrics_dkim(TM_DKIM_FAIL);
    tm_metrics_dkim(TM_DKIM_FAIL);
    tm_metrics_dkim(99);
    T_CHECK(value("tlsrpt_milter_dkim_results_total{result=\"pass\"}") == 1, "dkim pass 1");
    T_CHECK(value("tlsrpt_milter_dkim_results_total{result=\"fail\"}") == 2, "dkim fail 2");
    T_CHECK(value("tlsrpt_milter_dkim_results_total{result=\"none\"}") == 1,
            "dkim: an out-of-range result is none");
    tm_metrics_set_pending(42);
    T_CHECK(value("tlsrpt_milter_archive_pending") == 42, "pending: the value set");
    T_CHECK(value("tlsrpt_milter_mails_in_flight") == 3, "in flight: from gen.c");
}

static unsigned long pending17(void) { return 17; }

/* The histogram: cumulative buckets, +Inf = _count, _sum. */
static void test_histogram(void)
{
    struct timespec t0;
    double c0 = value("tlsrpt_milter_report_mails_total");
    tm_metrics_mail_start(&t0);
    T_CHECK(value("tlsrpt_milter_report_mails_total") == c0 + 1, "mail start: seen +1");
    struct timespec d = { 0, 30 * 1000000L };
    nanosleep(&d, NULL);
    tm_metrics_mail_done(&t0);
    struct timespec zero = { 0, 0 };
    tm_metrics_mail_done(&zero);                /* never started: not observed */
    const char *h = "tlsrpt_milter_mail_duration_seconds";
    char s[200];
    snprintf(s, sizeof s, "%s_count", h);
    T_CHECK(value(s) == 1, "histogram: one mail observed");
    snprintf(s, sizeof s, "%s_bucket{le=\"+Inf\"}", h);
    T_CHECK(value(s) == 1, "histogram: +Inf = count");
    snprintf(s, sizeof s, "%s_bucket{le=\"0.025\"}", h);
    T_CHECK(value(s) == 0, "histogram: a 30 ms mail is not <= 25 ms");
    snprintf(s, sizeof s, "%s_bucket{le=\"0.05\"}", h);
    double b50 = value(s);
    snprintf(s, sizeof s, "%s_bucket{le=\"10\"}", h);
    T_CHECK(b50 <= 1 && value(s) == 1, "histogram: cumulative up to 10 s");
    snprintf(s, sizeof s, "%s_sum", h);
    T_CHECK(value(s) >= 0.03 && value(s) < 5, "histogram: _sum in seconds");
    tm_metrics_set_pending_fn(pending17);
    T_CHECK(value("tlsrpt_milter_archive_pending") == 17, "pending: the callback wins");
    tm_metrics_set_pending_fn(NULL);
}

/* Milliseconds since t0. */
static long ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Wait up to ms for path to contain needle. */
static int wait_for(const char *path, const char *needle, long ms)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        char *c = tlib_read_file(path, NULL);
        int ok = c && strstr(c, needle);
        free(c);
        if (ok)
            return 1;
        struct timespec d = { 0, 10 * 1000000L };
        nanosleep(&d, NULL);
    } while (ms_since(&t0) < ms);
    return 0;
}

/* The writer thread: atomic file, interval, reload, stop. */
static void test_writer(void)
{
    char dir[] = "/tmp/test_metrics.XXXXXX", path[200], tmp[220], other[200];
    if (!mkdtemp(dir)) {
        T_CHECK(0, "writer: a temp directory");
        return;
    }
    snprintf(path, sizeof path, "%s/m.prom", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    snprintf(other, sizeof other, "%s/ro/x.prom", dir);
    tm_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.metrics_file = path;
    cfg.metrics_interval_s = 1;
    umask(077);
    T_INTEQ(tm_metrics_start(&cfg), 0, "writer: starts");
    T_CHECK(wait_for(path, "tlsrpt_milter_config_generation 1\n", 2000),
            "writer: the file is written at once");
    struct stat st;
    T_CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644, "writer: mode 0644 under "
            "umask 077");
    T_CHECK(stat(tmp, &st) != 0, "writer: no .tmp left");
    tm_metrics_counted();
    char want[100];
    snprintf(want, sizeof want, "tlsrpt_milter_reports_counted_total %.0f\n",
             value("tlsrpt_milter_reports_counted_total"));
    T_CHECK(wait_for(path, want, 2500), "writer: rewritten after MetricsInterval");
    cfg.metrics_interval_s = 3600;
    tm_metrics_configure(&cfg, 2);
    T_CHECK(wait_for(path, "tlsrpt_milter_config_generation 2\n", 2000),
            "writer: a reload rewrites at once");
    T_CHECK(value("tlsrpt_milter_config_reloads_total{result=\"ok\"}") == 1, "reload ok: 1");
    char ro[200];
    snprintf(ro, sizeof ro, "%s/ro", dir);
    mkdir(ro, 0755);
    mkdir(other, 0755);                         /* a directory where the file should be */
    cfg.metrics_file = other;
    int w0 = g_warnings;
    tm_metrics_configure(&cfg, 3);
    struct timespec d = { 0, 300 * 1000000L };
    nanosleep(&d, NULL);
    T_CHECK(g_warnings == w0 + 1, "writer: a failed write is logged once");
    cfg.metrics_file = path;
    tm_metrics_configure(&cfg, 4);
    T_CHECK(wait_for(path, "tlsrpt_milter_config_generation 4\n", 2000),
            "writer: back to the first file");
    tm_metrics_duplicate();
    snprintf(want, sizeof want, "tlsrpt_milter_reports_duplicate_total %.0f\n",
             value("tlsrpt_milter_reports_duplicate_total"));
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    tm_metrics_stop();
    T_CHECK(ms_since(&t0) < 1000, "stop: within a second (interval 3600 s)");
    char *c = tlib_read_file(path, NULL);
    T_CHECK(c && strstr(c, want), "stop: the last figures are written");
    free(c);
    tm_metrics_stop();                          /* twice: harmless */
    rmdir(other);
    rmdir(ro);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    test_events();
    test_histogram();
    test_writer();
    T_MAIN_END();
}
