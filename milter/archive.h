/*
 * archive.h - the milter's side of the archive (spool/, ArchiveDir): one
 * spool opened at start, each report mail streamed into it as it arrives
 * and committed at end of message before the milter answers, and the
 * in-process claims that keep the retry thread (retry.h) off an entry a
 * mail thread is still counting. The contract is PLAN-archive.md and
 * spool/README.md; what a mail becomes is in README "The archive".
 *
 * Counting: tm_entry with tm_archive_before_counters / tm_archive_settle.
 * Per mail (all no-ops when there is no archive or the mail's writer has
 * failed): tm_archive_begin at the first header (or end of headers) of a
 * report candidate, tm_archive_header / _eoh / _body as the mail streams,
 * then at end of message tm_archive_commit (or tm_archive_drop), and
 * tm_archive_reset from the message reset (aborts an uncommitted writer and
 * drops the claim). A writer that fails (disk full, EACCES) is closed at
 * once and remembered: the mail is then delivered with reason=archive-failed.
 *
 * Ownership: the spool belongs to this module (opened by tm_archive_open,
 * never closed before exit: libmilter's threads may still run); a mail's
 * writer and claim belong to its tm_msg.
 */
#ifndef TM_ARCHIVE_H
#define TM_ARCHIVE_H

#include <stddef.h>
#include <time.h>
#include "spool.h"
#include "config.h"
#include "tlsrpt.h"
#include "auth.h"

/* An entry being counted by a thread of this process (linked while claimed). */
typedef struct tm_claim {
    struct tm_claim *prev, *next;
    char id[TLSRPT_SPOOL_ID_MAX];
} tm_claim;

/* A mail's archive state (embedded in tm_msg). */
typedef struct tm_arch {
    tlsrpt_spool_w *w;          /* the writer, NULL when none / closed */
    int failed;                 /* the writer failed: err says why */
    int committed;              /* id is a committed entry */
    time_t arrival;             /* when the writer began (0: none) */
    char id[TLSRPT_SPOOL_ID_MAX];
    char err[320];
    tm_claim claim;
} tm_arch;

/* At start, after the user change: open (creating) cfg->archive_dir and recover what a
   crash left. Nothing when ArchiveDir is empty. 0, or -1 (logged). */
int tm_archive_open(const tm_config *cfg);
/* The spool, NULL without an archive. */
tlsrpt_spool *tm_archive_spool(void);

/* Claim entry id for this thread: 0 = ours (c linked), 1 = another thread has it. */
int tm_archive_claim(tm_claim *c, const char *id);
/* Drop a claim (nothing when c is not linked). */
void tm_archive_unclaim(tm_claim *c);

/* Progress of an entry left pending with some of its reports settled (counted, duplicate
   or not countable), by report index (bit i = report i; reports from 64 on are not
   remembered): the retry thread of this process skips them, so a report whose counters
   went out is not taken for a partial count. In memory only (at most TM_PROGRESS_MAX
   entries, the oldest forgotten first): after a restart such a report is flagged partial
   instead (never counted twice). */
#define TM_PROGRESS_MAX 1024
void tm_archive_progress_set(const char *id, unsigned long long done);
unsigned long long tm_archive_progress_get(const char *id);
void tm_archive_progress_drop(const char *id);

/* Is report b the same report as a, which came earlier in the same mail: the store's
   dedup identity (the signer's organisational domain when signed is set, else the
   organization-name; and the report-id)? A mail that holds one report twice has it
   counted once: with an archive every report of a mail is counted as the same entry
   id, so the store would take the second for a retry of a partly sent first one. */
int tm_same_report(const tlsrpt_report *a, const tlsrpt_report *b, int signed_mail);
/* The reports of one mail remembered for tm_same_report (the first TM_SEEN_MAX). */
#define TM_SEEN_MAX 8
/* Index in prev[0..n) of the earlier report r is the same as (tm_same_report), or -1. */
long tm_seen_index(const tlsrpt_report *const *prev, size_t n, const tlsrpt_report *r,
                   int signed_mail);

/* The archive entry of a mail being counted (sp NULL: not archived). */
typedef struct tm_entry {
    tlsrpt_spool *sp;
    const char *id;                 /* the committed entry (tm_arch.id) */
    const char *qid;
    time_t arrival;                 /* 0 = now (no archive) */
    int moved;                      /* NEW -> COUNTING done (before the first burst) */
    int pending, partial;           /* reports the store failed on / of them partly counted */
    unsigned long long done;        /* bit i: report part i settled by the store */
} tm_entry;
/* before_counters of tlsrpt_count_req (arg: the tm_entry): NEW -> COUNTING, once. */
void tm_archive_before_counters(void *arg);
/* After counting: done, back to NEW for the retry thread (the store failed before any
   counter went out), or PARTIAL (a burst was cut short); the settled reports are
   remembered for the retry (progress). */
void tm_archive_settle(tm_entry *e);

/* The meta of a mail (archmeta.c): queue id, the DKIM result when auth is given
   (Authentication dkim; NULL: "auth none"), the mail's verdict ("countable" or a reason
   token). NULL on no memory. Free with tlsrpt_spool_meta_free. */
tlsrpt_spool_meta *tm_archive_meta(const char *qid, tlsrpt_auth *auth, const char *verdict);
/* Add report group `index` (its part in the mail) of report r with its verdict. 0 / -1. */
int tm_archive_meta_report(tlsrpt_spool_meta *meta, size_t index, const tlsrpt_report *r,
                           const char *verdict);

/* Per mail, see above. qid names the mail in log lines. */
void tm_archive_begin(tm_arch *a, const char *qid);
void tm_archive_header(tm_arch *a, const char *name, const char *value, int leadspc);
void tm_archive_eoh(tm_arch *a);
void tm_archive_body(tm_arch *a, const void *buf, size_t len);
/* Commit the mail with meta (pending: 0 or TLSRPT_SPOOL_NEW). 0 = committed (a->id),
   -1 = not archived (a->err, logged by the caller). Frees the writer either way. */
int tm_archive_commit(tm_arch *a, const tlsrpt_spool_meta *meta, int pending);
/* The mail will not be archived: abort the writer. */
void tm_archive_drop(tm_arch *a);
/* The message ends: abort an uncommitted writer, drop the claim, clear a. */
void tm_archive_reset(tm_arch *a);

#endif
