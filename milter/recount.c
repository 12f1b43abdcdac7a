/*
 * recount.c - count one pending archive entry from the archive (the retry
 * thread's work, retry.h): read it back, decode it again, count each report
 * the meta says was countable at arrival, under the identity recorded then
 * (org_key = signer-org when auth is dkim), as the entry (entry_id = its id,
 * host_id = the archive id, arrival = its arrival).
 *
 * The verdict recorded at arrival is trusted (no DKIM verification again:
 * keys rotate). One entry at a time, so the decoder's memory is one mail's
 * bound at the current limits, outside MaxDecodeMemory (which is for mails
 * in flight).
 * An entry with several reports of which an earlier attempt settled some
 * (the store failed on a later one): this process remembers which
 * (archive.h progress) and skips them; after a restart they are found
 * "ID sent" and taken as store-partial (flagged for a rebuild, never
 * counted twice).
 * Errors: an entry that cannot be read or decoded is logged and left
 * pending (it is tried again each round); a store failure ends the attempt
 * with the entry pending (NEW, or as it was).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "retry_int.h"
#include "archive.h"
#include "log.h"
#include "metrics.h"

#define TM_READ_CHUNK 65536

/* One entry being counted. */
typedef struct rc_entry {
    tlsrpt_spool *sp;
    tlsrpt_store *st;
    const char *id;
    int state;                      /* as claimed */
    int moved;                      /* NEW -> COUNTING done */
    time_t arrival;
    const char *org_key;            /* signer-org (auth dkim), else NULL */
    tlsrpt_decoder *dec;
    const tlsrpt_spool_meta *meta;
    unsigned long long done;        /* reports settled before (archive.h progress) */
} rc_entry;

/* Read entry id into a decoder (finished). NULL + logged on error; *rd to close. */
static tlsrpt_decoder *decode_entry(rc_entry *e, const tm_config *cfg, tlsrpt_spool_reader **rd)
{
    char err[320];
    *rd = tlsrpt_spool_reader_open(e->sp, e->id, err, sizeof err);
    if (!*rd) {
        tm_log(LOG_WARNING, "archive %s: cannot read it: %s", e->id, err);
        return NULL;
    }
    tlsrpt_decoder *d = tlsrpt_decoder_new(&cfg->limits, TLSRPT_MODE_MESSAGE);
    char *buf = malloc(TM_READ_CHUNK);
    long n = 0;
    while (d && buf && (n = tlsrpt_spool_reader_read(*rd, buf, TM_READ_CHUNK)) > 0)
        tlsrpt_feed(d, buf, (size_t)n);
    free(buf);
    if (!d || n < 0 || !buf) {
        tm_log(LOG_WARNING, "archive %s: cannot read it: %s", e->id, !d || !buf
               ? "out of memory" : tlsrpt_spool_reader_error(*rd));
        tlsrpt_decoder_free(d);
        return NULL;
    }
    tlsrpt_finish(d);
    return d;
}

/* before_counters of a NEW entry: claim it as COUNTING (once). */
static void to_counting(void *arg)
{
    rc_entry *e = arg;
    char err[320];
    if (e->moved)
        return;
    if (tlsrpt_spool_set_state(e->sp, e->id, TLSRPT_SPOOL_NEW, TLSRPT_SPOOL_COUNTING, err,
                               sizeof err) == 0)
        e->moved = 1;
    else
        tm_log(LOG_WARNING, "archive %s: new -> counting: %s", e->id, err);
}

/* Best effort nc: counter for entry e. */
static void nc(rc_entry *e, const char *reason)
{
    char err[256];
    if (tlsrpt_store_not_counted(e->st, e->arrival, reason, err, sizeof err) != TLSRPT_COUNTED)
        tm_log(LOG_WARNING, "archive %s: not-counted counter for reason=%s not written: %s",
               e->id, reason, err);
}

/* Report group i of the meta as a decoded report when it was countable at arrival. */
static const tlsrpt_report *countable_report(rc_entry *e, size_t i, tlsrpt_spool_report *sr)
{
    tlsrpt_part part;
    if (tlsrpt_spool_meta_report(e->meta, i, sr) != 0 || !sr->verdict
        || strcmp(sr->verdict, "countable") != 0 || sr->index < 0)
        return NULL;
    if (tlsrpt_part_at(e->dec, (size_t)sr->index, &part) != TLSRPT_OK || !part.report) {
        tm_log(LOG_WARNING, "archive %s: report %ld does not decode again: not counted",
               e->id, sr->index);
        return NULL;
    }
    return part.report;
}

/* Flag the days of every countable report not known to be counted in full partial, one
   nc:partial-count, done. 0 / 1. */
static int settle_partial(rc_entry *e)
{
    char err[320];
    tlsrpt_count_req q;
    tlsrpt_spool_report sr;
    char days[120] = "";
    memset(&q, 0, sizeof q);
    q.org_key = e->org_key;
    q.entry_id = e->id;
    q.host_id = tlsrpt_spool_archive_id(e->sp);
    q.arrival = e->arrival;
    for (size_t i = 0; i < tlsrpt_spool_meta_n_reports(e->meta); i++) {
        const tlsrpt_report *r = countable_report(e, i, &sr);
        if (r && sr.index < 64 && (e->done >> sr.index & 1))
            continue;                   /* known to be counted in full */
        if (r && r->day[0] && !strstr(days, r->day) && strlen(days) + 12 < sizeof days)
            snprintf(days + strlen(days), sizeof days - strlen(days), "%s%s", days[0] ? " "
                     : "", r->day);
        if (r && tlsrpt_store_mark_partial(e->st, r, &q, err, sizeof err) == TLSRPT_STORE_FAILED) {
            tm_log(LOG_WARNING, "archive %s: partly counted; flagging it failed (retried): %s",
                   e->id, err);
            return 1;
        }
    }
    nc(e, "partial-count");
    if (tlsrpt_spool_done(e->sp, e->id, err, sizeof err) < 0)
        tm_log(LOG_WARNING, "archive %s: %s", e->id, err);
    tm_archive_progress_drop(e->id);
    tm_log(LOG_WARNING, "archive %s: may be partly counted (a counter burst was cut short): "
           "report day(s) %s flagged partial; tlsrpt-parse --rebuild --day DAY repairs each",
           e->id, days[0] ? days : "-");
    return 0;
}

/* Count report r (group sr) of the entry: 0 fine, 1 store failed, 2 partial. */
static int count_one(rc_entry *e, const tlsrpt_report *r, const tlsrpt_spool_report *sr)
{
    char err[256] = "";
    tlsrpt_count_info info;
    tlsrpt_count_req q;
    memset(&q, 0, sizeof q);
    q.org_key = e->org_key;
    q.entry_id = e->id;
    q.host_id = tlsrpt_spool_archive_id(e->sp);
    q.arrival = e->arrival;
    q.flags = e->state == TLSRPT_SPOOL_COUNTING ? TLSRPT_REQ_RECOVER : 0;
    if (e->state == TLSRPT_SPOOL_NEW) {
        q.before_counters = to_counting;
        q.arg = e;
    }
    int s = tlsrpt_store_count_req(e->st, r, &q, &info, err, sizeof err);
    if (s == TLSRPT_STORE_FAILED) {
        tm_metrics_store_error();
        return info.partial ? 2 : 1;
    }
    if (s == TLSRPT_NOT_COUNTABLE) {
        nc(e, info.reason[0] ? info.reason : "not-countable");
        tm_metrics_not_counted(info.reason[0] ? info.reason : "not-countable");
    } else if (s == TLSRPT_COUNTED) {
        tm_metrics_counted();
    } else {
        tm_metrics_duplicate();
    }
    tm_log(s == TLSRPT_NOT_COUNTABLE ? LOG_WARNING : LOG_INFO, "archive %s: %s%s%s report %ld "
           "org=\"%.100s\" report-id=\"%.100s\" domains=%s ok=%lld fail=%lld (retry)", e->id,
           s == TLSRPT_COUNTED ? "counted" : s == TLSRPT_DUPLICATE ? "duplicate"
           : "not counted: reason=", s == TLSRPT_NOT_COUNTABLE ? info.reason : "",
           info.resumed ? " (resumed)" : "", sr->index, sr->org ? sr->org : "",
           sr->report_id ? sr->report_id : "", info.domains[0] ? info.domains : "-",
           (long long)info.ok, (long long)info.fail);
    return 0;
}

/* Count every countable report of the entry, then settle its state. 0 / 1. */
static int count_entry(rc_entry *e)
{
    char err[320] = "";
    tlsrpt_spool_report sr;
    int failed = 0, partial = 0;
    const tlsrpt_report *seen[TM_SEEN_MAX];
    size_t nseen = 0;
    for (size_t i = 0; i < tlsrpt_spool_meta_n_reports(e->meta) && !failed; i++) {
        const tlsrpt_report *r = countable_report(e, i, &sr);
        int dup = tm_seen_index(seen, nseen, r, e->org_key && e->org_key[0]) >= 0;
        if (r && !dup && nseen < TM_SEEN_MAX)  /* dup: the same report earlier in this mail */
            seen[nseen++] = r;
        if (r && sr.index < 64 && (e->done >> sr.index & 1))
            continue;                   /* counted by an earlier attempt of this process */
        int c = r && !dup ? count_one(e, r, &sr) : 0;
        failed |= c == 1;
        partial |= c == 2;
        if (c == 0 && r && sr.index < 64)
            e->done |= 1ULL << sr.index;
    }
    int from = e->moved ? TLSRPT_SPOOL_COUNTING : e->state, r = 0;
    if (partial) {                      /* PARTIAL first: flagging may fail too */
        if (from != TLSRPT_SPOOL_PARTIAL &&
            tlsrpt_spool_set_state(e->sp, e->id, from, TLSRPT_SPOOL_PARTIAL, err, sizeof err) < 0)
            tm_log(LOG_WARNING, "archive %s: %s", e->id, err);
        return failed ? 1 : settle_partial(e);
    }
    if (failed && e->moved)
        r = tlsrpt_spool_set_state(e->sp, e->id, from, TLSRPT_SPOOL_NEW, err, sizeof err);
    else if (!failed)
        r = tlsrpt_spool_done(e->sp, e->id, err, sizeof err);
    if (r < 0)
        tm_log(LOG_WARNING, "archive %s: %s", e->id, err);
    if (failed && e->done)
        tm_archive_progress_set(e->id, e->done);
    else if (!failed)
        tm_archive_progress_drop(e->id);
    return failed;
}

/* Count (or flag) one claimed pending entry. */
int tm_recount_entry(tlsrpt_spool *sp, tlsrpt_store *st, const tm_config *cfg, const char *id,
                     int state)
{
    rc_entry e;
    tlsrpt_spool_reader *rd = NULL;
    memset(&e, 0, sizeof e);
    e.sp = sp;
    e.st = st;
    e.id = id;
    e.state = state;
    e.done = tm_archive_progress_get(id);
    if (!(e.dec = decode_entry(&e, cfg, &rd))) {
        tlsrpt_spool_reader_close(rd);
        return 0;
    }
    e.meta = tlsrpt_spool_reader_meta(rd);
    const char *auth = tlsrpt_spool_meta_get(e.meta, TLSRPT_SPOOL_K_AUTH, NULL);
    const char *arr = tlsrpt_spool_meta_get(e.meta, TLSRPT_SPOOL_K_ARRIVAL, NULL);
    e.arrival = arr ? (time_t)strtoll(arr, NULL, 10) : 0;
    if (auth && strcmp(auth, "dkim") == 0)
        e.org_key = tlsrpt_spool_meta_get(e.meta, TLSRPT_SPOOL_K_SIGNER_ORG, NULL);
    int rc = state == TLSRPT_SPOOL_PARTIAL ? settle_partial(&e) : count_entry(&e);
    tlsrpt_decoder_free(e.dec);
    tlsrpt_spool_reader_close(rd);
    return rc;
}
