/*
 * test_spool_state.c - unit tests of the archive's pending states and
 * claims (two threads racing for every entry), iteration order and the
 * day filter, recover of the garbage a crash leaves, retention with fake
 * dates (never a pending entry), and damaged entries (corrupt, truncated,
 * trailing bytes, missing meta). Every archive is in a private temp dir.
 */
#include "tlib.h"
#include "tlib_spool.h"
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#define DAY0 1796083200     /* 2026-12-01T00:00:00Z */

static char err[1024];

/* Open (create) a NOSYNC archive in a fresh temp dir. */
static tlsrpt_spool *fresh(const char *tag, char **dir, int flags)
{
    *dir = tsp_tmpdir(tag);
    return *dir ? tlsrpt_spool_open(*dir, TLSRPT_SPOOL_CREATE | flags, err, sizeof err) : NULL;
}

/* Close and remove an archive. */
static void done(tlsrpt_spool *sp, char *dir)
{
    tlsrpt_spool_close(sp);
    tsp_rmrf(dir);
    free(dir);
}

/* Create an empty file DIR/rel. */
static void touch(const char *dir, const char *rel)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0640);
    if (fd >= 0)
        close(fd);
}

/* 1 when DIR/rel exists. */
static int exists(const char *dir, const char *rel)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    return access(p, F_OK) == 0;
}

/* Collects (id, state) from tlsrpt_spool_pending. */
typedef struct plist {
    char ids[64][TLSRPT_SPOOL_ID_MAX];
    int states[64], n;
} plist;

/* pending callback. */
static int collect_pending(void *arg, const char *id, int state)
{
    plist *p = arg;
    if (p->n < 64) {
        snprintf(p->ids[p->n], TLSRPT_SPOOL_ID_MAX, "%s", id);
        p->states[p->n++] = state;
    }
    return 0;
}

/* The state machine: new -> counting -> done, partial, claims lost, listing. */
static void test_pending(void)
{
    char *dir, a[TLSRPT_SPOOL_ID_MAX], b[TLSRPT_SPOOL_ID_MAX], c[TLSRPT_SPOOL_ID_MAX], d[TLSRPT_SPOOL_ID_MAX];
    tlsrpt_spool *sp = fresh("pend", &dir, 0);      /* with fsync: the real paths */
    T_CHECK(tsp_put(sp, DAY0 + 86400 + 10, 1, 500, 500, TLSRPT_SPOOL_NEW, b, err, sizeof err) == 0 &&
            tsp_put(sp, DAY0 + 10, 2, 500, 500, TLSRPT_SPOOL_NEW, a, err, sizeof err) == 0 &&
            tsp_put(sp, DAY0 + 20, 3, 500, 500, TLSRPT_SPOOL_COUNTING, c, err, sizeof err) == 0 &&
            tsp_put(sp, DAY0 + 30, 4, 500, 500, 0, d, err, sizeof err) == 0, "pending: four commits");
    T_INTEQ(tlsrpt_spool_state(sp, a), TLSRPT_SPOOL_NEW, "pending: committed NEW is new");
    char pa[4300], da[4300];
    struct stat s1, s2;
    snprintf(pa, sizeof pa, "%s/pending/%s.new", dir, a);
    snprintf(da, sizeof da, "%s/2026-12-01/%s.eml.gz", dir, a);
    T_CHECK(stat(pa, &s1) == 0 && stat(da, &s2) == 0 && s1.st_ino == s2.st_ino && s2.st_nlink == 2,
            "pending: the pending file is a hard link to the data file (no inode of its own)");
    T_INTEQ(tlsrpt_spool_state(sp, c), TLSRPT_SPOOL_COUNTING, "pending: committed COUNTING is counting");
    T_INTEQ(tlsrpt_spool_state(sp, d), TLSRPT_SPOOL_DONE, "pending: committed with 0 is not pending");
    plist p = { .n = 0 };
    tlsrpt_spool_pending(sp, collect_pending, &p, err, sizeof err);
    T_CHECK(p.n == 3 && !strcmp(p.ids[0], a) && !strcmp(p.ids[1], c) && !strcmp(p.ids[2], b) &&
            p.states[1] == TLSRPT_SPOOL_COUNTING, "pending: listed oldest first with states, across days");
    T_INTEQ(tlsrpt_spool_set_state(sp, a, TLSRPT_SPOOL_NEW, TLSRPT_SPOOL_COUNTING, err, sizeof err), 0,
            "pending: new -> counting");
    T_INTEQ(tlsrpt_spool_set_state(sp, a, TLSRPT_SPOOL_NEW, TLSRPT_SPOOL_COUNTING, err, sizeof err), 1,
            "pending: a second new -> counting is refused (claim lost)");
    T_INTEQ(tlsrpt_spool_set_state(sp, a, TLSRPT_SPOOL_COUNTING, TLSRPT_SPOOL_DONE, err, sizeof err), 0,
            "pending: counting -> done");
    T_INTEQ(tlsrpt_spool_state(sp, a), TLSRPT_SPOOL_DONE, "pending: done entry is not pending");
    T_INTEQ(tlsrpt_spool_set_state(sp, a, TLSRPT_SPOOL_COUNTING, TLSRPT_SPOOL_DONE, err, sizeof err), 1,
            "pending: done twice is refused");
    T_INTEQ(tlsrpt_spool_set_state(sp, c, TLSRPT_SPOOL_COUNTING, TLSRPT_SPOOL_PARTIAL, err, sizeof err), 0,
            "pending: counting -> partial");
    T_INTEQ(tlsrpt_spool_state(sp, c), TLSRPT_SPOOL_PARTIAL, "pending: partial");
    T_INTEQ(tlsrpt_spool_done(sp, c, err, sizeof err), 0, "pending: done() removes a partial entry");
    T_INTEQ(tlsrpt_spool_done(sp, d, err, sizeof err), 1, "pending: done() of an entry not pending says 1");
    T_INTEQ(tlsrpt_spool_set_state(sp, "../x", 1, 2, err, sizeof err), -1, "pending: a bad id is an error");
    T_INTEQ(tlsrpt_spool_set_state(sp, b, TLSRPT_SPOOL_NEW, 7, err, sizeof err), -1, "pending: a bad state is an error");
    /* a pending file whose entry is not committed is not listed */
    char rel[256];
    snprintf(rel, sizeof rel, "pending/20261201T000000Z-%s-999999-1.new", tlsrpt_spool_archive_id(sp));
    touch(dir, rel);
    p.n = 0;
    tlsrpt_spool_pending(sp, collect_pending, &p, err, sizeof err);
    T_CHECK(p.n == 1 && !strcmp(p.ids[0], b), "pending: a pending file without a committed entry is skipped");
    T_CHECK(tlsrpt_spool_state(sp, b) == TLSRPT_SPOOL_NEW && exists(dir, "tmp") && tsp_count_files(dir, "tmp") == 0,
            "pending: tmp/ empty after commits");
    done(sp, dir);
}

/* Two threads claim the same 300 entries: each must be claimed exactly once. */
typedef struct claimjob {
    tlsrpt_spool *sp;
    char (*ids)[TLSRPT_SPOOL_ID_MAX];
    int n, won, errors;
} claimjob;

/* Thread: try to claim every entry (new -> counting -> done). */
static void *claim_thread(void *arg)
{
    claimjob *j = arg;
    char e[512];
    for (int i = 0; i < j->n; i++) {
        int r = tlsrpt_spool_set_state(j->sp, j->ids[i], TLSRPT_SPOOL_NEW, TLSRPT_SPOOL_COUNTING, e, sizeof e);
        if (r == 0) {
            j->won++;
            j->errors += tlsrpt_spool_set_state(j->sp, j->ids[i], TLSRPT_SPOOL_COUNTING, TLSRPT_SPOOL_DONE, e, sizeof e) != 0;
        } else if (r < 0) {
            j->errors++;
        }
    }
    return NULL;
}

/* Claims are exclusive. */
static void test_claims(void)
{
    char *dir;
    enum { N = 300 };
    static char ids[N][TLSRPT_SPOOL_ID_MAX];
    tlsrpt_spool *sp = fresh("claim", &dir, TLSRPT_SPOOL_NOSYNC);
    int fails = 0;
    for (int i = 0; i < N; i++)
        fails += tsp_put(sp, DAY0 + i, (unsigned)i, 10, 10, TLSRPT_SPOOL_NEW, ids[i], err, sizeof err) < 0;
    claimjob j1 = { sp, ids, N, 0, 0 }, j2 = { sp, ids, N, 0, 0 };
    pthread_t t1, t2;
    pthread_create(&t1, NULL, claim_thread, &j1);
    pthread_create(&t2, NULL, claim_thread, &j2);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    T_CHECK(fails == 0 && j1.won + j2.won == N && j1.errors + j2.errors == 0,
            "claims: two racing threads, every entry claimed exactly once");
    T_INTEQ(tsp_count_files(dir, "pending"), 0, "claims: nothing left pending");
    done(sp, dir);
}

/* Collects entries from tlsrpt_spool_each. */
typedef struct elist {
    char ids[64][TLSRPT_SPOOL_ID_MAX];
    char days[64][11];
    int has_meta[64], n, stop_at;
} elist;

/* each callback. */
static int collect_each(void *arg, const tlsrpt_spool_entry *e)
{
    elist *l = arg;
    if (l->n < 64) {
        snprintf(l->ids[l->n], TLSRPT_SPOOL_ID_MAX, "%s", e->id);
        snprintf(l->days[l->n], 11, "%s", e->day);
        l->has_meta[l->n] = e->meta != NULL;
    }
    l->n++;
    return l->stop_at && l->n == l->stop_at ? 42 : 0;
}

/* Iteration in (day, id) order with numeric sequence order, and the day filter. */
static void test_each(void)
{
    char *dir, ids[24][TLSRPT_SPOOL_ID_MAX];
    tlsrpt_spool *sp = fresh("each", &dir, TLSRPT_SPOOL_NOSYNC);
    static const int day_of[24] = { 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1 };
    for (int i = 0; i < 24; i++)        /* 8 per day, same second: seq 1..24 interleaved */
        tsp_put(sp, DAY0 + day_of[i] * 86400 + 50, (unsigned)i, 100, 100, 0, ids[i], err, sizeof err);
    elist l = { .n = 0 };
    T_INTEQ(tlsrpt_spool_each(sp, NULL, NULL, collect_each, &l, err, sizeof err), 0, "each: returns 0");
    int order = l.n == 24;
    for (int k = 0, d = 0; order && d < 3; d++)
        for (int i = 0; i < 24; i++)
            if (day_of[i] == d)
                order &= strcmp(l.ids[k++], ids[i]) == 0 && l.has_meta[k - 1];
    T_CHECK(order, "each: 24 entries over 3 days in (day, id) order, seq 9 before 10");
    T_STREQ(l.days[0], "2026-12-01", "each: day of the first entry");
    l.n = 0;
    tlsrpt_spool_each(sp, "2026-12-02", "2026-12-02", collect_each, &l, err, sizeof err);
    T_CHECK(l.n == 8 && !strcmp(l.days[0], "2026-12-02") && !strcmp(l.days[7], "2026-12-02"), "each: --day filter gives one day");
    l.n = 0;
    tlsrpt_spool_each(sp, "2026-12-02", NULL, collect_each, &l, err, sizeof err);
    T_INTEQ(l.n, 16, "each: first_day only");
    l.n = 0;
    tlsrpt_spool_each(sp, NULL, "2026-11-30", collect_each, &l, err, sizeof err);
    T_INTEQ(l.n, 0, "each: a range before every day is empty");
    l.n = 0;
    l.stop_at = 5;
    T_INTEQ(tlsrpt_spool_each(sp, NULL, NULL, collect_each, &l, err, sizeof err), 42, "each: stops with the callback's value");
    T_INTEQ(l.n, 5, "each: no call after the stop");
    /* a writer in progress and an orphan meta are never listed */
    tlsrpt_spool_w *w = tlsrpt_spool_begin(sp, DAY0 + 100, err, sizeof err);
    tlsrpt_spool_write(w, "half", 4);
    char rel[256];
    snprintf(rel, sizeof rel, "2026-12-01/20261201T000000Z-%s-1-1.meta", tlsrpt_spool_archive_id(sp));
    touch(dir, rel);
    touch(dir, "2026-12-01/notes.txt");
    touch(dir, "2026-12-01/20261202T000000Z-x-1-1.eml.gz");     /* wrong day directory */
    l.n = 0;
    l.stop_at = 0;
    tlsrpt_spool_each(sp, NULL, NULL, collect_each, &l, err, sizeof err);
    T_INTEQ(l.n, 24, "each: entry being written, orphan meta, foreign files not listed");
    tlsrpt_spool_abort(w);
    T_INTEQ(tsp_count_files(dir, "tmp"), 0, "abort: tmp file removed");
    done(sp, dir);
}

/* Notes from recover / expire. */
static int n_notes;
static char last_note[512];
static void note(void *arg, const char *event, const char *path)
{
    (void)arg;
    n_notes++;
    snprintf(last_note, sizeof last_note, "%s %s", event, path);
}

/* recover removes crash garbage, keeps committed entries and a live writer's files. */
static void test_recover(void)
{
    char *dir, a[TLSRPT_SPOOL_ID_MAX], b[TLSRPT_SPOOL_ID_MAX], rel[300], why[512];
    tlsrpt_spool *sp = fresh("recover", &dir, TLSRPT_SPOOL_NOSYNC);
    const char *aid = tlsrpt_spool_archive_id(sp);
    tsp_put(sp, DAY0 + 10, 1, 3000, 512, TLSRPT_SPOOL_NEW, a, err, sizeof err);
    tsp_put(sp, DAY0 + 20, 2, 3000, 512, 0, b, err, sizeof err);
    long me = (long)getpid();
    /* garbage of an earlier process with our pid: stale, as recover runs before our writers */
    snprintf(rel, sizeof rel, "tmp/20261201T000001Z-%s-%ld-77.eml.gz.tmp", aid, me);
    touch(dir, rel);
    snprintf(rel, sizeof rel, "tmp/20261201T000001Z-%s-%ld-77.meta.tmp", aid, me);
    touch(dir, rel);
    snprintf(rel, sizeof rel, "2026-12-01/20261201T000002Z-%s-%ld-78.meta", aid, me);
    touch(dir, rel);
    snprintf(rel, sizeof rel, "pending/20261201T000003Z-%s-%ld-79.new", aid, me);
    touch(dir, rel);
    snprintf(rel, sizeof rel, "pending/%s.counting", a);      /* a duplicate of a's state */
    touch(dir, rel);
    /* files of a live writer in another process (pid 1 is alive) stay */
    snprintf(rel, sizeof rel, "tmp/20261201T000004Z-%s-1-5.eml.gz.tmp", aid);
    touch(dir, rel);
    tlsrpt_spool_set_note(sp, note, NULL);
    tlsrpt_spool_recover_stats st;
    T_INTEQ(tlsrpt_spool_recover(sp, &st, err, sizeof err), 0, "recover: returns 0");
    T_INTEQ(st.tmp_removed, 2, "recover: 2 tmp files of a dead writer removed");
    T_INTEQ(st.meta_orphans, 1, "recover: meta without data removed");
    T_INTEQ(st.pending_orphans, 2, "recover: pending without data and a duplicate removed");
    T_INTEQ(st.live_skipped, 1, "recover: a live writer's tmp file kept");
    T_CHECK(exists(dir, rel), "recover: the live writer's file is still there");
    T_CHECK(st.pending[TLSRPT_SPOOL_COUNTING] == 1 && st.pending[TLSRPT_SPOOL_NEW] == 0,
            "recover: the duplicate kept the most advanced state (counting)");
    T_INTEQ(n_notes, 6, "recover: a note per removed or kept file");
    T_CHECK(tsp_check(sp, a, why, sizeof why) && tsp_check(sp, b, why, sizeof why), "recover: committed entries intact");
    done(sp, dir);
}

/* Retention: fake dates, pending entries kept, foreign files kept. */
static void test_expire(void)
{
    char *dir, id[8][TLSRPT_SPOOL_ID_MAX];
    tlsrpt_spool *sp = fresh("expire", &dir, TLSRPT_SPOOL_NOSYNC);
    time_t now = DAY0 + 12 * 3600;                  /* 2026-12-01 12:00 */
    static const int ago[8] = { 500, 500, 401, 401, 400, 399, 1, 0 };
    for (int i = 0; i < 8; i++)
        tsp_put(sp, DAY0 - (time_t)ago[i] * 86400 + 600, (unsigned)i, 200, 200, i == 1 ? TLSRPT_SPOOL_NEW : 0,
                id[i], err, sizeof err);
    char notes[64];
    time_t t401 = DAY0 - 401 * 86400;
    strftime(notes, sizeof notes, "%Y-%m-%d/admin-notes.txt", gmtime(&t401));
    touch(dir, notes);                              /* a foreign file, 401 days ago */
    tlsrpt_spool_expire_stats st;
    n_notes = 0;
    tlsrpt_spool_set_note(sp, note, NULL);
    T_INTEQ(tlsrpt_spool_expire(sp, 0, now, &st, err, sizeof err), 0, "expire: 0 days = forever");
    T_INTEQ(st.entries_removed + n_notes, 0, "expire: 0 removes nothing");
    T_INTEQ(tlsrpt_spool_expire(sp, 400, now, &st, err, sizeof err), 0, "expire: 400 days");
    T_INTEQ(st.entries_removed, 3, "expire: entries of days 500 and 401 days ago removed");
    T_INTEQ(st.kept_pending, 1, "expire: the pending one kept");
    T_INTEQ(st.kept_other, 1, "expire: a foreign file kept");
    T_INTEQ(st.days_removed, 0, "expire: no day directory empty (pending, foreign file)");
    T_CHECK(tlsrpt_spool_state(sp, id[1]) == TLSRPT_SPOOL_NEW, "expire: pending entry still pending");
    elist l = { .n = 0 };
    tlsrpt_spool_each(sp, NULL, NULL, collect_each, &l, err, sizeof err);
    T_CHECK(l.n == 5 && !strcmp(l.ids[0], id[1]) && !strcmp(l.ids[1], id[4]) && l.has_meta[0],
            "expire: left: the pending one (with meta) and days 400 .. 0");
    tlsrpt_spool_done(sp, id[1], err, sizeof err);
    tlsrpt_spool_expire(sp, 400, now, &st, err, sizeof err);
    T_CHECK(st.entries_removed == 1 && st.days_removed == 1, "expire: once done, the old entry and its day go");
    tlsrpt_spool_expire(sp, 1, now, &st, err, sizeof err);
    l.n = 0;
    tlsrpt_spool_each(sp, NULL, NULL, collect_each, &l, err, sizeof err);
    T_CHECK(l.n == 2 && !strcmp(l.ids[0], id[6]), "expire: 1 day keeps yesterday and today (>= 24 h)");
    done(sp, dir);
}

/* Overwrite DIR/rel with len bytes of data (at offset off; truncate when trunc). */
static void damage(const char *dir, const char *id, long off, const char *bytes, size_t len, long trunc)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/2026-12-01/%s.eml.gz", dir, id);
    int fd = open(p, O_WRONLY);
    if (trunc >= 0 && ftruncate(fd, trunc) < 0)
        perror("ftruncate");
    if (len && pwrite(fd, bytes, len, off < 0 ? lseek(fd, 0, SEEK_END) : off) < 0)
        perror("pwrite");
    close(fd);
}

/* Damaged entries are errors, never short mails. */
static void test_damaged(void)
{
    char *dir, id[5][TLSRPT_SPOOL_ID_MAX], why[512], rel[300];
    tlsrpt_spool *sp = fresh("dmg", &dir, TLSRPT_SPOOL_NOSYNC);
    for (int i = 0; i < 5; i++)
        tsp_put(sp, DAY0 + 10, (unsigned)i, 50000, 4096, 0, id[i], err, sizeof err);
    damage(dir, id[0], 5000, "\xff\x00\xff\x00garbage", 11, -1);
    damage(dir, id[1], 0, NULL, 0, 2000);
    damage(dir, id[2], -1, "extra", 5, -1);
    snprintf(rel, sizeof rel, "%s/2026-12-01/%s.meta", dir, id[3]);
    unlink(rel);
    size_t len;
    unsigned char *m = tsp_read_all(sp, id[0], 4096, &len, why, sizeof why);
    T_CHECK(!m && strstr(why, id[0]), "damaged: corrupt gzip data is an error naming the entry");
    free(m);
    m = tsp_read_all(sp, id[1], 4096, &len, why, sizeof why);
    T_CHECK(!m && strstr(why, "truncated"), "damaged: a truncated file is an error");
    free(m);
    m = tsp_read_all(sp, id[2], 4096, &len, why, sizeof why);
    T_CHECK(!m && strstr(why, "after the gzip stream"), "damaged: trailing bytes are an error");
    free(m);
    T_CHECK(!tlsrpt_spool_reader_open(sp, id[3], why, sizeof why) && strstr(why, ".meta"),
            "damaged: data without meta cannot be opened");
    T_CHECK(tsp_check(sp, id[4], why, sizeof why), "damaged: the untouched entry still reads back");
    T_CHECK(!tlsrpt_spool_reader_open(sp, "20261201T000000Z-nope-1-1", why, sizeof why) && strstr(why, "no committed entry"),
            "damaged: unknown id");
    elist l = { .n = 0 };
    tlsrpt_spool_each(sp, NULL, NULL, collect_each, &l, err, sizeof err);
    int k = -1;
    for (int i = 0; i < l.n && i < 64; i++)
        if (!strcmp(l.ids[i], id[3]))
            k = i;
    T_CHECK(l.n == 5 && k >= 0 && !l.has_meta[k], "damaged: each lists data without meta, with meta NULL");
    n_notes = 0;
    tlsrpt_spool_set_note(sp, note, NULL);
    tlsrpt_spool_recover(sp, NULL, err, sizeof err);
    T_CHECK(n_notes == 1 && strstr(last_note, "damaged-no-meta"), "damaged: recover reports, never removes, data without meta");
    done(sp, dir);
}

int main(void)
{
    umask(0);
    test_pending();
    test_claims();
    test_each();
    test_recover();
    test_expire();
    test_damaged();
    T_MAIN_END();
}
