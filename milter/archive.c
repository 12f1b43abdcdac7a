/*
 * archive.c - the milter's archive (see archive.h): the spool opened at
 * start, each report mail written while it streams, the in-process claims.
 *
 * What is written (PLAN-archive.md): every header as "Name:" + the value
 * exactly as libmilter gives it with SMFIP_HDR_LEADSPC (its leading blank
 * kept), "Name: value" when the MTA did not take LEADSPC, a line feed inside
 * a folded value written as CRLF (Postfix hands folded lines joined by a
 * bare LF), then CRLF, then the body chunks as received. The spool gzips on
 * the fly: nothing of the mail is held in memory (a writer holds ~272 KB of
 * zlib state and buffer while its mail streams).
 *
 * Errors: a writer error is sticky in the spool; the first one is copied to
 * the mail (a->err), the writer aborted at once (its tmp file removed) and
 * logged once; the mail is then delivered with reason=archive-failed.
 * Opening the archive at start fails the start (logged), as -n would say.
 * Counting an entry (tm_archive_before_counters, tm_archive_settle): the
 * pending state moves NEW -> COUNTING just before the first counter burst,
 * then to done, back to NEW or to PARTIAL (PLAN-archive.md).
 * Claims: a mutex-guarded list; a handful of entries at a time (one per mail
 * in flight plus the retry thread's), so a linear scan.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include "archive.h"
#include "log.h"
#include "metrics.h"

static tlsrpt_spool *g_sp;
static pthread_mutex_t g_claim_lock = PTHREAD_MUTEX_INITIALIZER;
static tm_claim g_claims = { &g_claims, &g_claims, "" };    /* list head */
static struct progress {
    char id[TLSRPT_SPOOL_ID_MAX];
    unsigned long long done;
} g_prog[TM_PROGRESS_MAX];                  /* under g_claim_lock; a ring, id "" = free */
static size_t g_prog_next;

/* recover's note callback: every file it removes or keeps, at debug level. */
static void note(void *arg, const char *event, const char *path)
{
    (void)arg;
    tm_log(LOG_DEBUG, "archive: %s %s", event, path);
}

/* tlsrpt_spool_pending callback: count. */
static int count_one_pending(void *arg, const char *id, int state)
{
    (void)id, (void)state;
    ++*(unsigned long *)arg;
    return 0;
}

/* Pending entries now, for the metrics gauge (a listing of pending/, at each write). */
static unsigned long pending_count(void)
{
    char err[128];
    unsigned long n = 0;
    if (g_sp)
        tlsrpt_spool_pending(g_sp, count_one_pending, &n, err, sizeof err);
    return n;
}

/* Open the archive and clean up after a crash. */
int tm_archive_open(const tm_config *cfg)
{
    char err[512];
    tlsrpt_spool_recover_stats rs;
    if (!cfg->archive_dir[0]) {
        tm_log(LOG_NOTICE, "no ArchiveDir: memcached holds the only copy of the counts (a "
               "memcached restart loses them for good, a store failure delivers the report)");
        return 0;
    }
    tlsrpt_spool *sp = tlsrpt_spool_open(cfg->archive_dir, TLSRPT_SPOOL_CREATE, err, sizeof err);
    if (!sp) {
        tm_log(LOG_ERR, "ArchiveDir: %s", err);
        return -1;
    }
    tlsrpt_spool_set_note(sp, note, NULL);
    memset(&rs, 0, sizeof rs);
    if (tlsrpt_spool_recover(sp, &rs, err, sizeof err) != 0) {
        tm_log(LOG_ERR, "ArchiveDir: recover: %s", err);
        tlsrpt_spool_close(sp);
        return -1;
    }
    tm_log(LOG_INFO, "archive %s (id %s): recovered: %ld unfinished mail(s) removed, %ld orphan "
           "meta, %ld orphan pending; pending: %ld new, %ld counting, %ld partial",
           cfg->archive_dir, tlsrpt_spool_archive_id(sp), rs.tmp_removed, rs.meta_orphans,
           rs.pending_orphans, rs.pending[TLSRPT_SPOOL_NEW], rs.pending[TLSRPT_SPOOL_COUNTING],
           rs.pending[TLSRPT_SPOOL_PARTIAL]);
    g_sp = sp;
    tm_metrics_set_pending_fn(pending_count);
    return 0;
}

/* The spool, or NULL. */
tlsrpt_spool *tm_archive_spool(void)
{
    return g_sp;
}

/* Claim id unless another thread of ours holds it. */
int tm_archive_claim(tm_claim *c, const char *id)
{
    int busy = 0;
    pthread_mutex_lock(&g_claim_lock);
    for (tm_claim *p = g_claims.next; p != &g_claims; p = p->next)
        if (strcmp(p->id, id) == 0) {
            busy = 1;
            break;
        }
    if (!busy) {
        snprintf(c->id, sizeof c->id, "%s", id);
        c->next = &g_claims;
        c->prev = g_claims.prev;
        g_claims.prev->next = c;
        g_claims.prev = c;
    }
    pthread_mutex_unlock(&g_claim_lock);
    return busy;
}

/* Unlink a claim. */
void tm_archive_unclaim(tm_claim *c)
{
    pthread_mutex_lock(&g_claim_lock);
    if (c->next) {
        c->prev->next = c->next;
        c->next->prev = c->prev;
        c->prev = c->next = NULL;
    }
    pthread_mutex_unlock(&g_claim_lock);
}

/* The slot of id, or NULL (under the lock). */
static struct progress *prog_find(const char *id)
{
    for (size_t i = 0; i < TM_PROGRESS_MAX; i++)
        if (g_prog[i].id[0] && strcmp(g_prog[i].id, id) == 0)
            return &g_prog[i];
    return NULL;
}

/* Remember the reports of id already settled. */
void tm_archive_progress_set(const char *id, unsigned long long done)
{
    pthread_mutex_lock(&g_claim_lock);
    struct progress *p = prog_find(id);
    if (!p) {
        p = &g_prog[g_prog_next];
        g_prog_next = (g_prog_next + 1) % TM_PROGRESS_MAX;
        snprintf(p->id, sizeof p->id, "%s", id);
        p->done = 0;
    }
    p->done |= done;
    pthread_mutex_unlock(&g_claim_lock);
}

/* The reports of id already settled (0: none known). */
unsigned long long tm_archive_progress_get(const char *id)
{
    pthread_mutex_lock(&g_claim_lock);
    struct progress *p = prog_find(id);
    unsigned long long done = p ? p->done : 0;
    pthread_mutex_unlock(&g_claim_lock);
    return done;
}

/* Forget id's progress (it is done). */
void tm_archive_progress_drop(const char *id)
{
    pthread_mutex_lock(&g_claim_lock);
    struct progress *p = prog_find(id);
    if (p)
        p->id[0] = 0;
    pthread_mutex_unlock(&g_claim_lock);
}

/* Close a failing writer, keep its first error. */
static void writer_failed(tm_arch *a, const char *why)
{
    snprintf(a->err, sizeof a->err, "%s", why && *why ? why : "write failed");
    tlsrpt_spool_abort(a->w);
    a->w = NULL;
    a->failed = 1;
    tm_metrics_archive_error();
    tm_log(LOG_ERR, "archive: %s", a->err);
}

/* Start the mail's entry (its arrival time is now); the id is claimed at once. */
void tm_archive_begin(tm_arch *a, const char *qid)
{
    char err[320];
    if (!g_sp || a->w || a->failed || a->committed)
        return;
    a->arrival = time(NULL);
    a->w = tlsrpt_spool_begin(g_sp, a->arrival, err, sizeof err);
    if (!a->w) {
        snprintf(a->err, sizeof a->err, "%s", err);
        a->failed = 1;
        tm_metrics_archive_error();
        tm_logq(LOG_ERR, qid, "archive: %s", err);
        return;
    }
    snprintf(a->id, sizeof a->id, "%s", tlsrpt_spool_w_id(a->w));
    tm_archive_claim(&a->claim, a->id);     /* a new id: nobody else has it */
}

/* Append bytes; a failure closes the writer. */
static void put(tm_arch *a, const void *buf, size_t len)
{
    if (a->w && len && tlsrpt_spool_write(a->w, buf, len) != 0)
        writer_failed(a, tlsrpt_spool_w_error(a->w));
}

/* One header line: Name ":" value CRLF, a bare LF in the value written as CRLF. */
void tm_archive_header(tm_arch *a, const char *name, const char *value, int leadspc)
{
    if (!a->w || !name || !value)
        return;
    put(a, name, strlen(name));
    put(a, leadspc ? ":" : ": ", leadspc ? 1 : 2);
    size_t n = strlen(value);
    while (n > 0 && (value[n - 1] == '\n' || value[n - 1] == '\r'))
        n--;
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        if (value[i] != '\n' || (i > 0 && value[i - 1] == '\r'))
            continue;
        put(a, value + from, i - from);
        put(a, "\r\n", 2);
        from = i + 1;
    }
    put(a, value + from, n - from);
    put(a, "\r\n", 2);
}

/* The empty line between headers and body. */
void tm_archive_eoh(tm_arch *a)
{
    put(a, "\r\n", 2);
}

/* A body chunk, as received. */
void tm_archive_body(tm_arch *a, const void *buf, size_t len)
{
    put(a, buf, len);
}

/* Commit: durable and visible before the milter answers. */
int tm_archive_commit(tm_arch *a, const tlsrpt_spool_meta *meta, int pending)
{
    char err[320];
    if (!a->w) {
        if (!a->failed)
            snprintf(a->err, sizeof a->err, "no archive entry was started");
        a->failed = 1;
        return -1;
    }
    tlsrpt_spool_w *w = a->w;
    a->w = NULL;
    if (tlsrpt_spool_commit(w, meta, pending, a->id, sizeof a->id, err, sizeof err) != 0) {
        snprintf(a->err, sizeof a->err, "%s", err);
        a->failed = 1;
        tm_metrics_archive_error();
        return -1;
    }
    a->committed = 1;
    return 0;
}

/* Not archived after all. */
void tm_archive_drop(tm_arch *a)
{
    tlsrpt_spool_abort(a->w);
    a->w = NULL;
}

/* End of the message for the archive. */
void tm_archive_reset(tm_arch *a)
{
    tlsrpt_spool_abort(a->w);
    tm_archive_unclaim(&a->claim);
    memset(a, 0, sizeof *a);
}

/* The NEW -> COUNTING move just before a report's counter burst (once per entry). */
void tm_archive_before_counters(void *arg)
{
    tm_entry *e = arg;
    char err[320];
    if (e->moved)
        return;
    int r = tlsrpt_spool_set_state(e->sp, e->id, TLSRPT_SPOOL_NEW, TLSRPT_SPOOL_COUNTING, err,
                                   sizeof err);
    if (r == 0)
        e->moved = 1;
    else
        tm_logq(LOG_WARNING, e->qid, "archive %s: new -> counting: %s", e->id,
                r > 0 ? "not in state new" : err);
}

/* After counting an archived mail (archive.h). */
void tm_archive_settle(tm_entry *e)
{
    char err[320] = "";
    int from = e->moved ? TLSRPT_SPOOL_COUNTING : TLSRPT_SPOOL_NEW, r = 0;
    if (e->partial)
        r = tlsrpt_spool_set_state(e->sp, e->id, from, TLSRPT_SPOOL_PARTIAL, err, sizeof err);
    else if (e->pending && e->moved)
        r = tlsrpt_spool_set_state(e->sp, e->id, from, TLSRPT_SPOOL_NEW, err, sizeof err);
    else if (!e->pending)
        r = tlsrpt_spool_done(e->sp, e->id, err, sizeof err);
    if (r < 0)
        tm_logq(LOG_WARNING, e->qid, "archive %s: %s", e->id, err);
    if ((e->pending || e->partial) && e->done)  /* the retry skips what is settled */
        tm_archive_progress_set(e->id, e->done);
}

/* Same dedup identity within one mail (see archive.h). */
int tm_same_report(const tlsrpt_report *a, const tlsrpt_report *b, int signed_mail)
{
    const char *ra = a->report_id ? a->report_id : "", *rb = b->report_id ? b->report_id : "";
    const char *oa = a->organization_name ? a->organization_name : "";
    const char *ob = b->organization_name ? b->organization_name : "";
    return strcmp(ra, rb) == 0 && (signed_mail || strcmp(oa, ob) == 0);
}

/* Which earlier report of the mail r repeats (see archive.h). */
long tm_seen_index(const tlsrpt_report *const *prev, size_t n, const tlsrpt_report *r,
                   int signed_mail)
{
    for (size_t k = 0; r && k < n; k++)
        if (tm_same_report(prev[k], r, signed_mail))
            return (long)k;
    return -1;
}
