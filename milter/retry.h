/*
 * retry.h - the milter's background thread: counts archive entries left
 * pending (the store failed, or the milter stopped, mid-way), expires the
 * archive, and says once an hour when memcached lost counters.
 *
 *   - pending entries (tlsrpt_spool_pending, oldest first), each claimed in
 *     this process first (archive.h: never one a mail thread is counting):
 *       new       decoded again from the archive and counted as the mail
 *                 thread would (entry id = the marker's value: an earlier
 *                 attempt's own marker resumes);
 *       counting  (left by a crash) counted with TLSRPT_REQ_RECOVER: counted
 *                 when nothing of it went out, else partial;
 *       partial   its report days flagged (tlsrpt_store_mark_partial), one
 *                 nc: "partial-count", then done;
 *     while the store fails: rounds with backoff 1 s, doubling to 60 s; a
 *     round every 60 s besides (and when a mail thread leaves an entry
 *     pending: tm_retry_wake);
 *   - tlsrpt_spool_expire per ArchiveDays at start and once a day;
 *   - tlsrpt_store_check_loss (MARK; EXPECT when the archive holds entries)
 *     at start and at most once an hour: lost counters give one log line with
 *     the word "lost" and the rebuild command.
 * The thread uses the current generation (its store and ArchiveDays), held
 * while it works (tm_gen_hold: not a mail in flight).
 * Stop: tm_retry_stop asks it to end, tm_retry_join waits at most TM_RETRY_STOP_MS (a
 * store call under way may take longer: the thread is then left to the exit;
 * the entry it was counting stays pending, safe to count after a restart).
 */
#ifndef TM_RETRY_H
#define TM_RETRY_H

#define TM_RETRY_STOP_MS 200
#define TM_RETRY_BACKOFF_MAX 60     /* seconds */
#define TM_RETRY_SCAN_S 60          /* a round at least this often while entries are pending */
#define TM_RETRY_LOSS_S 3600        /* the loss check */
#define TM_RETRY_EXPIRE_S 86400     /* ArchiveDays */

/* Start the thread (after the first generation is installed and the archive opened).
   conf_path is named in the loss line. 0, or -1 (logged). */
int tm_retry_start(const char *conf_path);
/* A mail thread left an entry pending: count it soon (not before a running backoff). */
void tm_retry_wake(void);
/* Ask the thread to stop (at once, from the stop's signal thread). */
void tm_retry_stop(void);
/* Wait for it, at most TM_RETRY_STOP_MS (main thread, after smfi_main). */
void tm_retry_join(void);

#endif
