/*
 * metrics.c - the milter's own figures as a Prometheus textfile (see metrics.h).
 *
 * Every figure is a C11 atomic (relaxed adds: a mail never waits for the
 * writer, the writer never waits for a mail). The writer thread sleeps on a
 * condition variable (CLOCK_MONOTONIC) for MetricsInterval seconds, then
 * writes MetricsFile.tmp (unlinked first, created O_EXCL|O_NOFOLLOW, mode
 * 0644 so node_exporter can read it) and renames it over MetricsFile. The
 * file is hand-written text: the exposition format is a few printf lines, and
 * Debian has no C client library for it that writes textfiles.
 * Histogram: per-bucket counts, made cumulative when written; _count is the
 * sum of the buckets, so _count always equals the +Inf bucket. A snapshot is
 * not one instant (figures of a mail finishing during the write may show in
 * some families only); every figure only grows between writes.
 * Limits: the path is at most TM_CONF_PATH_MAX bytes (config/).
 * Errors: a failed write is logged once (warning), and once more when writing
 * works again (notice); the milter goes on either way.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "metrics.h"
#include "gen.h"
#include "log.h"

/* The reason tokens a not-counted figure may carry (README "Reason tokens"). */
static const char *const nc_names[] = {
    "no-report", "unauthenticated", "unknown-reporter", "corrupt-base64", "corrupt-gzip",
    "corrupt-json", "unsupported-archive", "invalid-report", "message-too-large",
    "report-too-large", "header-too-long", "json-too-deep", "json-too-many-values",
    "mime-too-deep", "mime-too-many-parts", "foreign-domain", "no-policy-domain", "no-date",
    "too-many-domains", "not-countable", "store-unavailable", "store-partial",
    "archive-failed", "out-of-memory", "other",
};
#define NC_N (sizeof nc_names / sizeof nc_names[0])

static const char *const tf_names[] = { "memory-budget", "stopping", "store-unavailable",
                                        "other" };
#define TF_N (sizeof tf_names / sizeof tf_names[0])

static const char *const dkim_names[] = { "pass", "fail", "none" };

/* Histogram bucket bounds of the time per mail, seconds (then +Inf). */
static const double buckets[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                  1, 2.5, 5, 10 };
#define NB (sizeof buckets / sizeof buckets[0])

static struct {
    atomic_ulong mails, counted, duplicate, store_err, archive_err, pending;
    atomic_ulong nc[NC_N], tf[TF_N], dkim[3];
    atomic_ulong hist[NB + 1];           /* per bucket, the last one +Inf */
    atomic_ullong sum_ns;                /* total time, nanoseconds */
    atomic_ulong generation, reloads_ok, reloads_failed;
    _Atomic(unsigned long (*)(void)) pending_fn;
    _Atomic long long start_time;
} M;

/* The writer's state, under w_lock. */
static pthread_mutex_t w_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t w_cond;
static pthread_t w_thread;
static int w_running, w_stop, w_changed;
static char *w_path;                     /* owned; "" = no file */
static int w_interval = 60;
static int w_failing;                    /* the last write failed (logged once) */

/* Index of token in names (n entries, the last one "other"). */
static size_t token_index(const char *const *names, size_t n, const char *token)
{
    for (size_t i = 0; token && i + 1 < n; i++)
        if (strcmp(names[i], token) == 0)
            return i;
    return n - 1;
}

void tm_metrics_counted(void) { atomic_fetch_add_explicit(&M.counted, 1, memory_order_relaxed); }
void tm_metrics_duplicate(void) { atomic_fetch_add_explicit(&M.duplicate, 1, memory_order_relaxed); }
void tm_metrics_store_error(void) { atomic_fetch_add_explicit(&M.store_err, 1, memory_order_relaxed); }
void tm_metrics_archive_error(void)
{ atomic_fetch_add_explicit(&M.archive_err, 1, memory_order_relaxed); }
void tm_metrics_set_pending(unsigned long n) { atomic_store(&M.pending, n); }
void tm_metrics_set_pending_fn(unsigned long (*fn)(void)) { atomic_store(&M.pending_fn, fn); }
void tm_metrics_reload_failed(void) { atomic_fetch_add(&M.reloads_failed, 1); }

/* Count a not-counted part or mail under its (known) reason. */
void tm_metrics_not_counted(const char *reason)
{
    atomic_fetch_add_explicit(&M.nc[token_index(nc_names, NC_N, reason)], 1, memory_order_relaxed);
}

/* Count a temporary failure under its (known) reason. */
void tm_metrics_tempfail(const char *why)
{
    atomic_fetch_add_explicit(&M.tf[token_index(tf_names, TF_N, why)], 1, memory_order_relaxed);
}

/* Count a DKIM result. */
void tm_metrics_dkim(int result)
{
    if (result < TM_DKIM_PASS || result > TM_DKIM_NONE)
        result = TM_DKIM_NONE;
    atomic_fetch_add_explicit(&M.dkim[result], 1, memory_order_relaxed);
}

/* A report candidate starts: count it, note the time. */
void tm_metrics_mail_start(struct timespec *t0)
{
    atomic_fetch_add_explicit(&M.mails, 1, memory_order_relaxed);
    clock_gettime(CLOCK_MONOTONIC, t0);
}

/* A report candidate got its answer: observe its time. */
void tm_metrics_mail_done(const struct timespec *t0)
{
    struct timespec t;
    if (t0->tv_sec == 0 && t0->tv_nsec == 0)
        return;
    clock_gettime(CLOCK_MONOTONIC, &t);
    long long ns = (long long)(t.tv_sec - t0->tv_sec) * 1000000000LL + (t.tv_nsec - t0->tv_nsec);
    if (ns < 0)
        ns = 0;
    double s = (double)ns / 1e9;
    size_t b = 0;
    while (b < NB && s > buckets[b])
        b++;
    atomic_fetch_add_explicit(&M.hist[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&M.sum_ns, (unsigned long long)ns, memory_order_relaxed);
}

/* HELP and TYPE of a family. */
static void family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One family of one unlabelled sample. */
static void single(FILE *f, const char *name, const char *type, const char *help,
                   unsigned long v)
{
    family(f, name, type, help);
    fprintf(f, "%s %lu\n", name, v);
}

/* One counter family with a label over a fixed table of values. */
static void labelled(FILE *f, const char *name, const char *help, const char *label,
                     const char *const *names, size_t n, atomic_ulong *v)
{
    family(f, name, "counter", help);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s{%s=\"%s\"} %lu\n", name, label, names[i], atomic_load(&v[i]));
}

/* The time-per-mail histogram. */
static void histogram(FILE *f)
{
    const char *n = "tlsrpt_milter_mail_duration_seconds";
    unsigned long cum = 0;
    family(f, n, "histogram", "Time per report mail, from its first header to the "
           "end-of-message answer.");
    for (size_t b = 0; b < NB; b++) {
        cum += atomic_load(&M.hist[b]);
        fprintf(f, "%s_bucket{le=\"%g\"} %lu\n", n, buckets[b], cum);
    }
    cum += atomic_load(&M.hist[NB]);
    fprintf(f, "%s_bucket{le=\"+Inf\"} %lu\n", n, cum);
    fprintf(f, "%s_sum %.9f\n%s_count %lu\n", n, (double)atomic_load(&M.sum_ns) / 1e9, n, cum);
}

/* The whole exposition. */
int tm_metrics_write(FILE *f)
{
    unsigned long (*pfn)(void) = atomic_load(&M.pending_fn);
    family(f, "tlsrpt_milter_start_time_seconds", "gauge", "When the milter started, "
           "seconds since the epoch.");
    fprintf(f, "tlsrpt_milter_start_time_seconds %lld\n", (long long)atomic_load(&M.start_time));
    family(f, "tlsrpt_milter_build_info", "gauge", "Always 1; the version as a label.");
    fprintf(f, "tlsrpt_milter_build_info{version=\"%s\"} 1\n", TLSRPT_VERSION);
    single(f, "tlsrpt_milter_config_generation", "gauge", "The configuration generation in "
           "use: 1 at start, +1 per successful reload.", atomic_load(&M.generation));
    family(f, "tlsrpt_milter_config_reloads_total", "counter", "SIGHUP reloads, by result.");
    fprintf(f, "tlsrpt_milter_config_reloads_total{result=\"ok\"} %lu\n"
            "tlsrpt_milter_config_reloads_total{result=\"failed\"} %lu\n",
            atomic_load(&M.reloads_ok), atomic_load(&M.reloads_failed));
    single(f, "tlsrpt_milter_mails_in_flight", "gauge", "Mails in flight now.",
           tm_gen_inflight());
    single(f, "tlsrpt_milter_report_mails_total", "counter", "Report candidates seen: mails "
           "to a report address whose headers reached the milter.", atomic_load(&M.mails));
    single(f, "tlsrpt_milter_reports_counted_total", "counter", "Report parts counted.",
           atomic_load(&M.counted));
    single(f, "tlsrpt_milter_reports_duplicate_total", "counter", "Report parts already "
           "counted before (nothing written).", atomic_load(&M.duplicate));
    labelled(f, "tlsrpt_milter_not_counted_total", "Report parts (or mails without a report) "
             "not counted, by reason token.", "reason", nc_names, NC_N, M.nc);
    labelled(f, "tlsrpt_milter_tempfail_total", "Report mails answered with a temporary "
             "failure, by reason.", "reason", tf_names, TF_N, M.tf);
    single(f, "tlsrpt_milter_store_errors_total", "counter", "Reports memcached failed for "
           "(store-unavailable, store-partial).", atomic_load(&M.store_err));
    single(f, "tlsrpt_milter_archive_errors_total", "counter", "Archive writes or reads that "
           "failed.", atomic_load(&M.archive_err));
    single(f, "tlsrpt_milter_archive_pending", "gauge", "Archive entries waiting to be "
           "counted.", pfn ? pfn() : atomic_load(&M.pending));
    labelled(f, "tlsrpt_milter_dkim_results_total", "DKIM results of judged reports: pass "
             "(authentic), fail (signed, not authentic), none (no signature).", "result",
             dkim_names, 3, M.dkim);
    histogram(f);
    return ferror(f) ? -1 : 0;
}

/* Write path atomically (path.tmp, then rename). 0, or -1 with what failed in why. */
static int write_file(const char *path, char *why, size_t whylen)
{
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(why, whylen, "cannot create %.300s: %s", tmp, strerror(errno));
        return -1;
    }
    fchmod(fd, 0644);                           /* whatever UMask says: node_exporter reads it */
    FILE *f = fdopen(fd, "w");
    if (!f) {
        snprintf(why, whylen, "%.300s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    int rc = tm_metrics_write(f);
    if (fclose(f) != 0 || rc != 0) {
        snprintf(why, whylen, "writing %.300s: %s", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        snprintf(why, whylen, "rename %.300s to %.300s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* One write of the file named now (none when MetricsFile is empty); logs changes of state. */
static void write_now(void)
{
    char path[PATH_MAX], why[800];
    pthread_mutex_lock(&w_lock);
    snprintf(path, sizeof path, "%s", w_path ? w_path : "");
    pthread_mutex_unlock(&w_lock);
    if (!path[0])
        return;
    int rc = write_file(path, why, sizeof why);
    if (rc != 0 && !w_failing)
        tm_log(LOG_WARNING, "MetricsFile: %s (retried every MetricsInterval)", why);
    else if (rc == 0 && w_failing)
        tm_log(LOG_NOTICE, "MetricsFile: %s written again", path);
    w_failing = rc != 0;
}

/* The writer thread: every interval (or at once after a change), and a last time at stop. */
static void *writer_main(void *arg)
{
    (void)arg;
    struct timespec next;
    pthread_mutex_lock(&w_lock);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &next);
        next.tv_sec += w_interval;
        w_changed = 0;
        while (!w_stop && !w_changed)
            if (pthread_cond_timedwait(&w_cond, &w_lock, &next) == ETIMEDOUT)
                break;
        int stop = w_stop;
        pthread_mutex_unlock(&w_lock);
        write_now();
        if (stop)
            return NULL;
        pthread_mutex_lock(&w_lock);
    }
}

/* Take cfg's file and interval (under the lock); signals the writer. */
static int set_conf(const tm_config *cfg)
{
    char *p = strdup(cfg->metrics_file);
    if (!p)
        return -1;
    pthread_mutex_lock(&w_lock);
    int changed = !w_path || strcmp(w_path, p) != 0 || w_interval != cfg->metrics_interval_s;
    free(w_path);
    w_path = p;
    w_interval = cfg->metrics_interval_s;
    if (changed) {
        w_changed = 1;
        pthread_cond_signal(&w_cond);
    }
    pthread_mutex_unlock(&w_lock);
    return 0;
}

/* Start the writer (once). */
int tm_metrics_start(const tm_config *cfg)
{
    pthread_condattr_t ca;
    atomic_store(&M.start_time, (long long)time(NULL));
    atomic_store(&M.generation, 1);
    if (set_conf(cfg) != 0) {
        errno = ENOMEM;
        return -1;
    }
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w_cond, &ca);
    pthread_condattr_destroy(&ca);
    if ((errno = pthread_create(&w_thread, NULL, writer_main, NULL)) != 0)
        return -1;
    w_running = 1;
    if (cfg->metrics_file[0])
        tm_log(LOG_INFO, "metrics: writing %s every %d s", cfg->metrics_file,
               cfg->metrics_interval_s);
    return 0;
}

/* A reload: the new generation and its file settings. */
void tm_metrics_configure(const tm_config *cfg, unsigned long generation)
{
    atomic_store(&M.generation, generation);
    atomic_fetch_add(&M.reloads_ok, 1);
    if (set_conf(cfg) != 0)
        tm_log(LOG_ERR, "metrics: out of memory: MetricsFile unchanged");
}

/* Last write, end the thread. */
void tm_metrics_stop(void)
{
    if (!w_running)
        return;
    pthread_mutex_lock(&w_lock);
    w_stop = 1;
    pthread_cond_signal(&w_cond);
    pthread_mutex_unlock(&w_lock);
    pthread_join(w_thread, NULL);
    w_running = 0;
    pthread_mutex_lock(&w_lock);
    free(w_path);
    w_path = NULL;
    pthread_mutex_unlock(&w_lock);
}
