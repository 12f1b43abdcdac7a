/*
 * spool.h - the archive: a crash-safe spool of report mails, written first.
 *
 * One archive directory is one host's archive (DIR/archive-id names it).
 * The milter streams each report mail into it while the mail arrives, and
 * commits it -- durable, with the milter's verdict -- before it answers:
 *
 *     tlsrpt_spool *sp = tlsrpt_spool_open(dir, TLSRPT_SPOOL_CREATE, err, sizeof err);
 *     tlsrpt_spool_recover(sp, &rst, err, sizeof err);     // once, before writers
 *     w = tlsrpt_spool_begin(sp, time(NULL), err, sizeof err);
 *     tlsrpt_spool_write(w, buf, len) ...                   // header lines, body chunks
 *     tlsrpt_spool_commit(w, meta, TLSRPT_SPOOL_NEW, id, sizeof id, err, sizeof err);
 *     // then count: set_state(id, NEW -> COUNTING), burst, set_state(COUNTING -> DONE)
 *
 * Layout (see spool/README.md): DIR/archive-id, DIR/tmp/ID.eml.gz.tmp and
 * ID.meta.tmp while being written, DIR/YYYY-MM-DD/ID.eml.gz (gzip of the
 * bytes exactly as written) and ID.meta (text, "key value" lines) once
 * committed, DIR/pending/ID.STATE while the entry still has to be counted
 * (STATE is new, counting or partial; a hard link to the data file; the
 * state is in the name so that a change is one atomic rename, which is also
 * a claim: see set_state).
 * An entry is committed when, and only when, DIR/DAY/ID.eml.gz exists.
 *
 * Threads: a tlsrpt_spool may be shared by any number of threads (writers,
 * a retry thread, readers); a writer or reader belongs to one thread at a
 * time. Processes: several may open one directory (ids carry the pid); only
 * the one owning the archive (the milter) should call recover and expire.
 *
 * Errors: every call that can fail fills err (when given) with a message
 * naming the file and the system error ("archive /a: write tmp/X.eml.gz.tmp:
 * No space left on device"). Writer errors are sticky. Nothing is silently
 * lost: a mail whose commit did not return 0 is not in the archive.
 *
 * Depends on libc and zlib only.
 */
#ifndef TLSRPT_SPOOL_H
#define TLSRPT_SPOOL_H

#include <stddef.h>
#include <time.h>

/* Flags of tlsrpt_spool_open. */
#define TLSRPT_SPOOL_CREATE  0x01   /* create DIR, its subdirectories and archive-id when missing */
#define TLSRPT_SPOOL_NOSYNC  0x02   /* no fsync at all: survives a process crash, not a power loss */
#define TLSRPT_SPOOL_STRICT  0x04   /* also fsync pending/ and DAY/ between the dependent steps, for
                                       a filesystem that does not make metadata updates durable in
                                       order (ext4 and xfs do; btrfs does not across directories;
                                       see README.md) */
#define TLSRPT_SPOOL_LEVEL(n) (((n) & 0xf) << 8) /* gzip level 1..9; default 1 */

#define TLSRPT_SPOOL_ID_MAX 100         /* an entry id, with its NUL */
#define TLSRPT_SPOOL_ARCHIVE_ID_MAX 41  /* an archive id, with its NUL */
#define TLSRPT_SPOOL_VALUE_MAX 1024     /* a meta value longer than this is truncated */
#define TLSRPT_SPOOL_PAIRS_MAX 512      /* key/value lines per meta */

/* Pending states. DONE means "not pending" (no file in pending/). */
enum tlsrpt_spool_state {
    TLSRPT_SPOOL_DONE = 0,
    TLSRPT_SPOOL_NEW,           /* committed, nothing sent to the store yet: count it */
    TLSRPT_SPOOL_COUNTING,      /* the counter burst is (about to be) sent: after a crash
                                   the burst may be partly applied */
    TLSRPT_SPOOL_PARTIAL        /* known or feared partly counted: only a rebuild repairs it */
};

typedef struct tlsrpt_spool tlsrpt_spool;
typedef struct tlsrpt_spool_w tlsrpt_spool_w;
typedef struct tlsrpt_spool_meta tlsrpt_spool_meta;
typedef struct tlsrpt_spool_reader tlsrpt_spool_reader;

/* ---- the archive ---- */

/* Open (and with TLSRPT_SPOOL_CREATE make) an archive directory. NULL + err on failure. */
tlsrpt_spool *tlsrpt_spool_open(const char *dir, int flags, char *err, size_t errlen);
void tlsrpt_spool_close(tlsrpt_spool *sp);
/* This archive's id ([A-Za-z0-9.-], at most 40 bytes) and directory. */
const char *tlsrpt_spool_archive_id(const tlsrpt_spool *sp);
const char *tlsrpt_spool_dir(const tlsrpt_spool *sp);

/* Called by recover and expire for every file they remove or keep on purpose:
   event is e.g. "removed-tmp", "removed-orphan-meta", "expired", "kept-pending";
   path is relative to DIR. */
typedef void tlsrpt_spool_note_fn(void *arg, const char *event, const char *path);
void tlsrpt_spool_set_note(tlsrpt_spool *sp, tlsrpt_spool_note_fn *fn, void *arg);

/* ---- writing one entry ---- */

/* Start an entry arriving at `arrival` (its id and day dir come from it). NULL + err. */
tlsrpt_spool_w *tlsrpt_spool_begin(tlsrpt_spool *sp, time_t arrival, char *err, size_t errlen);
/* Append message bytes (gzip on the fly, bounded memory). 0, or -1 (sticky; see w_error). */
int tlsrpt_spool_write(tlsrpt_spool_w *w, const void *buf, size_t len);
/* The writer's first error, "" while there is none. */
const char *tlsrpt_spool_w_error(const tlsrpt_spool_w *w);
/* The entry's id (also before commit, e.g. for a log line). */
const char *tlsrpt_spool_w_id(const tlsrpt_spool_w *w);
/* Make the entry durable and visible with its meta; `pending` is 0 (nothing to count),
   TLSRPT_SPOOL_NEW or TLSRPT_SPOOL_COUNTING. Always frees w. 0 = committed (id copied to
   id_out); -1 = not archived at all (nothing left behind), err says why. */
int tlsrpt_spool_commit(tlsrpt_spool_w *w, const tlsrpt_spool_meta *meta, int pending,
                        char *id_out, size_t idlen, char *err, size_t errlen);
/* Drop an entry being written (removes its tmp file) and free w. NULL is fine. */
void tlsrpt_spool_abort(tlsrpt_spool_w *w);

/* ---- pending entries (what still has to be counted) ---- */

/* Atomically move entry `id` from state `from` to `to` (TLSRPT_SPOOL_DONE removes the
   pending file). 0 = moved; 1 = the entry was not in state `from` (another thread or
   process took it, or it is done): do not count it; -1 = error.
   A move to NEW, COUNTING or PARTIAL is durable when it returns (fsync); a move to DONE
   is not (after a power loss the entry may come back as COUNTING, never as NEW). */
int tlsrpt_spool_set_state(tlsrpt_spool *sp, const char *id, int from, int to,
                           char *err, size_t errlen);
/* Remove the pending file of `id`, whatever its state. 0, 1 = was not pending, -1. */
int tlsrpt_spool_done(tlsrpt_spool *sp, const char *id, char *err, size_t errlen);
/* The state of `id` (TLSRPT_SPOOL_DONE when not pending), -1 on error. */
int tlsrpt_spool_state(tlsrpt_spool *sp, const char *id);
/* "new", "counting", "partial", "done". */
const char *tlsrpt_spool_state_name(int state);
/* Call fn for every pending committed entry, oldest first. A pending file whose entry
   is not (yet) committed is skipped. 0, -1 + err, or fn's first non-zero return. */
typedef int tlsrpt_spool_pending_fn(void *arg, const char *id, int state);
int tlsrpt_spool_pending(tlsrpt_spool *sp, tlsrpt_spool_pending_fn *fn, void *arg,
                         char *err, size_t errlen);

/* ---- reading committed entries ---- */

/* One committed entry as given by tlsrpt_spool_each. */
typedef struct tlsrpt_spool_entry {
    const char *id;
    const char *day;                    /* "YYYY-MM-DD", the arrival day (UTC) */
    const tlsrpt_spool_meta *meta;      /* NULL when the meta is missing or malformed */
    const char *meta_error;             /* why meta is NULL, else "" */
} tlsrpt_spool_entry;
typedef int tlsrpt_spool_each_fn(void *arg, const tlsrpt_spool_entry *e);
/* Every committed entry with first_day <= day <= last_day (NULL: no bound), in (day, id)
   order. An entry being written is never seen. 0, -1 + err, or fn's first non-zero. */
int tlsrpt_spool_each(tlsrpt_spool *sp, const char *first_day, const char *last_day,
                      tlsrpt_spool_each_fn *fn, void *arg, char *err, size_t errlen);

/* Open a committed entry: its meta and its original message bytes. NULL + err. */
tlsrpt_spool_reader *tlsrpt_spool_reader_open(tlsrpt_spool *sp, const char *id,
                                              char *err, size_t errlen);
/* Next message bytes: > 0, 0 at the end (gzip trailer and size checked), -1 on error. */
long tlsrpt_spool_reader_read(tlsrpt_spool_reader *r, void *buf, size_t len);
const tlsrpt_spool_meta *tlsrpt_spool_reader_meta(const tlsrpt_spool_reader *r);
const char *tlsrpt_spool_reader_error(const tlsrpt_spool_reader *r);
void tlsrpt_spool_reader_close(tlsrpt_spool_reader *r);

/* ---- start-up and retention ---- */

typedef struct tlsrpt_spool_recover_stats {
    long tmp_removed;           /* tmp/ files of writers that are gone */
    long meta_orphans;          /* DAY/ID.meta without its ID.eml.gz (a crash mid-commit) */
    long pending_orphans;       /* pending/ files without a committed entry */
    long live_skipped;          /* garbage-looking files of another live process, kept */
    long pending[4];            /* pending entries left, by state (index = state) */
} tlsrpt_spool_recover_stats;
/* Remove what crashed writers left. Call before this process starts writers. 0 / -1. */
int tlsrpt_spool_recover(tlsrpt_spool *sp, tlsrpt_spool_recover_stats *st,
                         char *err, size_t errlen);

typedef struct tlsrpt_spool_expire_stats {
    long days_removed;          /* day directories removed */
    long entries_removed;       /* committed entries removed */
    long kept_pending;          /* entries kept because still pending */
    long kept_other;            /* files kept because they are not ours */
} tlsrpt_spool_expire_stats;
/* Remove the entries of every arrival day D older than `days` days: D before the day of
   now - days * 86400 (so every entry is kept at least `days` x 24 h), never a pending
   one, and the day directories left empty; days <= 0 removes nothing. 0 / -1. */
int tlsrpt_spool_expire(tlsrpt_spool *sp, int days, time_t now, tlsrpt_spool_expire_stats *st,
                        char *err, size_t errlen);

/* ---- ids ---- */

/* 1 when s is a well-formed entry id. */
int tlsrpt_spool_id_valid(const char *s);
/* Order of ids: by time, then archive id, pid and sequence (numerically). */
int tlsrpt_spool_id_cmp(const char *a, const char *b);
/* The arrival day "YYYY-MM-DD" of an id into day[11]; -1 when id is not valid. */
int tlsrpt_spool_id_day(const char *id, char day[11]);

/* ---- metadata: an ordered list of key/value pairs ---- */

/* Keys written by the spool itself at commit (a caller may not set them). */
#define TLSRPT_SPOOL_K_VERSION     "version"      /* the format's first line, "version 1" (not a pair) */
#define TLSRPT_SPOOL_K_ID          "id"
#define TLSRPT_SPOOL_K_ARCHIVE_ID  "archive-id"
#define TLSRPT_SPOOL_K_ARRIVAL     "arrival"      /* unix seconds */
#define TLSRPT_SPOOL_K_ARRIVAL_UTC "arrival-utc"  /* YYYY-MM-DDTHH:MM:SSZ */
#define TLSRPT_SPOOL_K_SIZE        "size"         /* message bytes written */
/* The milter's verdict (set by the caller). */
#define TLSRPT_SPOOL_K_QUEUE_ID    "queue-id"
#define TLSRPT_SPOOL_K_AUTH        "auth"         /* dkim | none */
#define TLSRPT_SPOOL_K_AUTH_RESULT "auth-result"  /* pass | fail */
#define TLSRPT_SPOOL_K_AUTH_DETAIL "auth-detail"
#define TLSRPT_SPOOL_K_SIGNER      "signer"       /* d= */
#define TLSRPT_SPOOL_K_SIGNER_ORG  "signer-org"
#define TLSRPT_SPOOL_K_FROM_DOMAIN "from-domain"
#define TLSRPT_SPOOL_K_VERDICT     "verdict"      /* countable | a reason token */
/* Per report in the mail: a "report INDEX" line, then its report-* lines. */
#define TLSRPT_SPOOL_K_REPORT      "report"
#define TLSRPT_SPOOL_K_REPORT_DAY  "report-day"   /* YYYY-MM-DD of the report's start */
#define TLSRPT_SPOOL_K_REPORT_ORG  "report-org"   /* organization-name */
#define TLSRPT_SPOOL_K_REPORT_ID   "report-id"
#define TLSRPT_SPOOL_K_REPORT_VERDICT "report-verdict" /* countable | the reason token, decided at
                                                     arrival (the meta is written before counting) */

/* One report of a mail, as kept in the meta. Strings point into the meta (NUL-terminated;
   org and report_id may hold NUL bytes: use the lengths); NULL when absent. */
typedef struct tlsrpt_spool_report {
    long index;
    const char *day;
    const char *org;
    size_t org_len;
    const char *report_id;
    size_t report_id_len;
    const char *verdict;
} tlsrpt_spool_report;

tlsrpt_spool_meta *tlsrpt_spool_meta_new(void);
void tlsrpt_spool_meta_free(tlsrpt_spool_meta *m);
/* Set key to value (the first line with that key, else a new last line). Key: 1..32 of
   [a-z-]. value: len bytes, any bytes; longer than TLSRPT_SPOOL_VALUE_MAX is truncated.
   0, 1 = set but truncated, -1 = bad key, too many pairs or out of memory. */
int tlsrpt_spool_meta_setn(tlsrpt_spool_meta *m, const char *key, const void *value, size_t len);
int tlsrpt_spool_meta_set(tlsrpt_spool_meta *m, const char *key, const char *value);
/* Append a line, even when the key exists already. Returns as setn. */
int tlsrpt_spool_meta_add(tlsrpt_spool_meta *m, const char *key, const void *value, size_t len);
/* The first value of key (NUL-terminated; *len its length when len is given), or NULL. */
const char *tlsrpt_spool_meta_get(const tlsrpt_spool_meta *m, const char *key, size_t *len);
/* Number of lines, and line i. */
size_t tlsrpt_spool_meta_count(const tlsrpt_spool_meta *m);
int tlsrpt_spool_meta_at(const tlsrpt_spool_meta *m, size_t i, const char **key,
                         const char **value, size_t *len);
/* Append one report group (report INDEX + report-* lines; NULL fields are left out). */
int tlsrpt_spool_meta_add_report(tlsrpt_spool_meta *m, const tlsrpt_spool_report *r);
/* Number of report groups, and group i. */
size_t tlsrpt_spool_meta_n_reports(const tlsrpt_spool_meta *m);
int tlsrpt_spool_meta_report(const tlsrpt_spool_meta *m, size_t i, tlsrpt_spool_report *r);
/* The file text of m (version line first); caller frees. NULL on out of memory. */
char *tlsrpt_spool_meta_format(const tlsrpt_spool_meta *m, size_t *len);
/* Read a meta file's text. NULL + err ("line 3: bad escape") when malformed. */
tlsrpt_spool_meta *tlsrpt_spool_meta_parse(const char *text, size_t len, char *err, size_t errlen);

#endif
