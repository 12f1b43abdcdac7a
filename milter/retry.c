/*
 * retry.c - the background thread of retry.h: pending archive entries,
 * ArchiveDays expiry, the hourly loss line.
 *
 * Timing is on CLOCK_MONOTONIC (a condition variable with that clock), so a
 * clock step neither stops nor floods it. One round walks the pending
 * entries oldest first and stops at the first store failure (the store is
 * down: the next round comes after the backoff). A wake (a mail left an
 * entry pending) starts a round at once unless a backoff is running.
 * Errors: every failure is logged and retried; nothing here stops the milter.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "retry.h"
#include "retry_int.h"
#include "archive.h"
#include "gen.h"
#include "log.h"

static pthread_t g_thread;
static int g_started;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond;
static int g_woken;                     /* under g_lock */
static atomic_int g_stop, g_ended;
static char *g_conf_path;

/* Seconds on the monotonic clock. */
static double mono_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* One walk over the pending entries. */
typedef struct round {
    tlsrpt_spool *sp;
    tm_gen *g;
    int store_down;
    long settled, left, busy;       /* busy: claimed by a mail thread (left includes them) */
} round;

/* tlsrpt_spool_pending callback: claim, check the state again, count. */
static int each_pending(void *arg, const char *id, int state)
{
    round *r = arg;
    tm_claim c;
    memset(&c, 0, sizeof c);
    if (atomic_load(&g_stop))
        return 2;
    if (r->store_down) {                /* the store is down: only count what is left */
        r->left++;
        return 0;
    }
    if (tm_archive_claim(&c, id)) {     /* a mail thread is counting it */
        r->left++;
        r->busy++;
        return 0;
    }
    int now = tlsrpt_spool_state(r->sp, id);    /* it may have moved since the listing */
    int rc = 0;
    if (now == TLSRPT_SPOOL_NEW || now == TLSRPT_SPOOL_COUNTING || now == TLSRPT_SPOOL_PARTIAL)
        rc = tm_recount_entry(r->sp, r->g->store, &r->g->cfg, id, now);
    tm_archive_unclaim(&c);
    (void)state;
    if (rc) {
        r->store_down = 1;
        r->left++;
    } else if (now > 0) {
        r->settled++;
    }
    return 0;
}

/* One round; 1 when the store failed (entries left), else 0. *busy: entries a mail
   thread was counting (look again soon). */
static int retry_round(tlsrpt_spool *sp, tm_gen *g, long *busy)
{
    char err[320];
    round r;
    memset(&r, 0, sizeof r);
    r.sp = sp;
    r.g = g;
    if (tlsrpt_spool_pending(sp, each_pending, &r, err, sizeof err) < 0)
        tm_log(LOG_WARNING, "archive: listing the pending entries: %s", err);
    if (r.settled || r.store_down)
        tm_log(r.store_down ? LOG_NOTICE : LOG_INFO, "archive: retry: %ld entr%s settled, %ld "
               "still pending%s", r.settled, r.settled == 1 ? "y" : "ies", r.left,
               r.store_down ? " (the store fails: retried with backoff)" : "");
    *busy = r.busy;
    return r.store_down;
}

/* 1 when the archive holds a day directory (counting happened before). */
static int archive_has_entries(tlsrpt_spool *sp)
{
    int found = 0;
    DIR *d = sp ? opendir(tlsrpt_spool_dir(sp)) : NULL;
    struct dirent *de;
    while (d && !found && (de = readdir(d)) != NULL)
        found = strlen(de->d_name) == 10 && de->d_name[4] == '-' && de->d_name[7] == '-';
    if (d)
        closedir(d);
    return found;
}

/* The loss check; 0 when asked, -1 when no server answered (ask again soon). */
static int loss_check(tlsrpt_spool *sp, tm_gen *g)
{
    char err[256];
    tlsrpt_loss *loss = calloc(1, sizeof *loss);
    unsigned flags = TLSRPT_LOSS_MARK | (archive_has_entries(sp) ? TLSRPT_LOSS_EXPECT : 0);
    int rc = loss ? tlsrpt_store_check_loss(g->store, flags, loss, err, sizeof err) : -1;
    if (rc == 0 && loss->loss)
        tm_log(LOG_WARNING, "memcached counters lost: %s; the counts are too low: rebuild "
               "them from the archive with: tlsrpt-parse --rebuild -c %s%s", loss->text,
               g_conf_path, sp ? "" : " (this milter has no ArchiveDir: nothing to rebuild from)");
    else if (rc == 0 && loss->text[0])
        tm_log(LOG_NOTICE, "memcached: %s", loss->text);
    else if (rc != 0)
        tm_log(LOG_DEBUG, "loss check: %s", loss ? err : "out of memory");
    free(loss);
    return rc;
}

/* ArchiveDays: remove old entries. */
static void expire(tlsrpt_spool *sp, const tm_gen *g)
{
    char err[320];
    tlsrpt_spool_expire_stats xs;
    memset(&xs, 0, sizeof xs);
    if (g->cfg.archive_days <= 0)
        return;
    if (tlsrpt_spool_expire(sp, g->cfg.archive_days, time(NULL), &xs, err, sizeof err) != 0)
        tm_log(LOG_WARNING, "archive: expire: %s", err);
    else if (xs.entries_removed || xs.kept_pending)
        tm_log(LOG_INFO, "archive: ArchiveDays %d: %ld entr%s of %ld day(s) removed, %ld kept "
               "(still pending)", g->cfg.archive_days, xs.entries_removed,
               xs.entries_removed == 1 ? "y" : "ies", xs.days_removed, xs.kept_pending);
}

/* Wait until `until` (monotonic seconds), a stop, or (when wakeable) a wake. */
static void nap(double until, int wakeable)
{
    pthread_mutex_lock(&g_lock);
    while (!atomic_load(&g_stop) && !(wakeable && g_woken)) {
        double now = mono_now();
        if (now >= until)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        double d = until - now;
        ts.tv_sec += (time_t)d;
        ts.tv_nsec += (long)((d - (double)(time_t)d) * 1e9);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&g_cond, &g_lock, &ts);
    }
    g_woken = 0;
    pthread_mutex_unlock(&g_lock);
}

/* The thread. */
static void *retry_main(void *arg)
{
    (void)arg;
    tlsrpt_spool *sp = tm_archive_spool();
    double next_loss = 0, next_expire = 0, next_round = 0, backoff = 0;
    long busy = 0;
    while (!atomic_load(&g_stop)) {
        double now = mono_now();
        tm_gen *g = tm_gen_hold();
        if (g && now >= next_loss)
            next_loss = now + (loss_check(sp, g) == 0 ? TM_RETRY_LOSS_S : TM_RETRY_SCAN_S);
        if (g && sp && now >= next_expire) {
            expire(sp, g);
            next_expire = now + TM_RETRY_EXPIRE_S;
        }
        if (g && sp && now >= next_round && !atomic_load(&g_stop)) {
            int down = retry_round(sp, g, &busy);
            backoff = down ? (backoff > 0 ? backoff * 2 : 1) : 0;
            if (backoff > TM_RETRY_BACKOFF_MAX)
                backoff = TM_RETRY_BACKOFF_MAX;
            next_round = mono_now() + (down ? backoff : busy ? 1 : TM_RETRY_SCAN_S);
        }
        tm_gen_drop(g);
        double until = next_loss < next_round || !sp ? next_loss : next_round;
        if (sp && next_expire < until)
            until = next_expire;
        nap(until, backoff == 0);
        if (backoff == 0)
            next_round = 0;             /* woken, or the scan is due */
    }
    atomic_store(&g_ended, 1);
    return NULL;
}

/* Start it. */
int tm_retry_start(const char *conf_path)
{
    pthread_condattr_t ca;
    if (!(g_conf_path = strdup(conf_path)))
        return -1;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g_cond, &ca);
    pthread_condattr_destroy(&ca);
    if ((errno = pthread_create(&g_thread, NULL, retry_main, NULL)) != 0) {
        tm_log(LOG_ERR, "cannot start the retry thread: %s", strerror(errno));
        return -1;
    }
    g_started = 1;
    return 0;
}

/* Count soon. */
void tm_retry_wake(void)
{
    pthread_mutex_lock(&g_lock);
    g_woken = 1;
    pthread_cond_signal(&g_cond);
    pthread_mutex_unlock(&g_lock);
}

/* Ask the thread to stop. */
void tm_retry_stop(void)
{
    atomic_store(&g_stop, 1);
    pthread_mutex_lock(&g_lock);
    pthread_cond_signal(&g_cond);
    pthread_mutex_unlock(&g_lock);
}

/* Wait at most TM_RETRY_STOP_MS for the thread. */
void tm_retry_join(void)
{
    if (!g_started)
        return;
    tm_retry_stop();
    double until = mono_now() + TM_RETRY_STOP_MS / 1000.0;
    while (!atomic_load(&g_ended) && mono_now() < until) {
        struct timespec d = { 0, 5 * 1000000L };
        nanosleep(&d, NULL);
    }
    if (atomic_load(&g_ended))
        pthread_join(g_thread, NULL);
    else
        tm_log(LOG_NOTICE, "stop: the retry thread is still in a store call: left to the exit "
               "(its entry stays pending)");
    g_started = 0;
}
