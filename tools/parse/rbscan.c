/*
 * rbscan.c - tlsrpt-parse --rebuild: walk the archives and decode their entries again.
 *
 * rb_collect lists every committed entry of every archive given (tlsrpt_spool_each
 * per day directory, the day directories shared out to s->threads threads: metas
 * only, no decoding) and keeps, per entry, what PLAN-archive.md says the
 * rebuild counts: each report group whose report-verdict is countable (with --day
 * only those whose report-day is that day; then arrival days from the day before on,
 * as a reporter's clock may run ahead), the identity recorded at arrival (signer-org
 * when auth is dkim, else none: the organization-name), the arrival time, and for a
 * full rebuild the candidates not counted at arrival (each report group with another
 * report-verdict; the entry's own verdict when it is a reason no group carries: a mail
 * or a part that did not decode, archived with ArchiveAll). The entries of all
 * archives are then sorted by arrival (then id), the order live counting saw them in,
 * which decides which copy of a report is the duplicate and what the budgets let in.
 *
 * rb_decode reads and decodes a range of entries with several threads (each entry has
 * its own reader and decoder; a tlsrpt_spool may be shared), feeding the stored bytes
 * to the decoder as a message, with the configuration's limits. Report N of the meta is
 * matched to a decoded report by position and report-id (the index among decoded
 * reports; else the report with that report-id and organization-name; else part N).
 * An entry whose meta is missing or malformed, whose data is damaged (gzip trailer,
 * size) or whose countable report cannot be found again gets err: it is named, never
 * silently left out.
 *
 * Memory: per entry the meta fields kept (a few hundred bytes); decoded reports only
 * for the batch being counted. Errors: out of memory sets s->oom.
 */
#include "rebuild.h"
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One listing job: one day directory of one archive (a thread runs several), and
   the entries it kept. */
struct walk {
    const rb_set *s;
    unsigned arch;
    char day[11];
    rb_ent *e;
    size_t n, cap, listed, skipped;
    int oom, rc;
    char err[512];
};

/* Copy n bytes (NUL-terminated); NULL for NULL. */
static char *dupn(struct walk *s, const char *p, size_t n)
{
    if (!p)
        return NULL;
    char *r = malloc(n + 1);
    if (!r) {
        s->oom = 1;
        return NULL;
    }
    memcpy(r, p, n);
    r[n] = 0;
    return r;
}

/* Append reason to e's not-counted list. */
static void add_nc(struct walk *s, rb_ent *e, const char *reason)
{
    char **n = realloc(e->nc, (e->n_nc + 1) * sizeof *n);
    if (!n || !(n[e->n_nc] = dupn(s, reason, strlen(reason)))) {
        s->oom = 1;
        if (n)
            e->nc = n;
        return;
    }
    e->nc = n;
    e->n_nc++;
}

/* The groups of one meta into e; how many were countable. */
static size_t take_groups(struct walk *w, rb_ent *e, const tlsrpt_spool_meta *m)
{
    size_t ng = tlsrpt_spool_meta_n_reports(m);
    const char *verdict = tlsrpt_spool_meta_get(m, TLSRPT_SPOOL_K_VERDICT, NULL);
    int verdict_carried = 0;
    const rb_set *s = w->s;
    if (ng && !(e->reps = calloc(ng, sizeof *e->reps))) {
        w->oom = 1;
        return 0;
    }
    for (size_t i = 0; i < ng; i++) {
        tlsrpt_spool_report g;
        if (tlsrpt_spool_meta_report(m, i, &g) != 0)
            continue;
        if (s->day && (!g.day || strcmp(g.day, s->day) != 0))
            continue;
        if (!g.verdict || strcmp(g.verdict, "countable") != 0) {
            const char *why = g.verdict && *g.verdict ? g.verdict : "no-verdict";
            verdict_carried |= verdict && strcmp(why, verdict) == 0;
            if (s->want_nc)
                add_nc(w, e, why);
            continue;
        }
        rb_rep *r = &e->reps[e->n_reps++];
        r->index = g.index;
        r->rid = dupn(w, g.report_id, g.report_id_len), r->rid_len = g.report_id_len;
        r->org = dupn(w, g.org, g.org_len), r->org_len = g.org_len;
    }
    if (s->want_nc && verdict && *verdict && strcmp(verdict, "countable") != 0 && !verdict_carried)
        add_nc(w, e, verdict);
    return e->n_reps;
}

/* tlsrpt_spool_each callback: keep the entry when it has something to count. */
static int on_entry(void *arg, const tlsrpt_spool_entry *en)
{
    struct walk *w = arg;
    w->listed++;
    if (w->n == w->cap) {
        rb_ent *ne = realloc(w->e, (w->cap = w->cap ? w->cap * 2 : 256) * sizeof *ne);
        if (!ne)
            return w->oom = 1, -1;
        w->e = ne;
    }
    rb_ent *e = memset(&w->e[w->n], 0, sizeof *e);
    e->arch = w->arch;
    snprintf(e->id, sizeof e->id, "%s", en->id);
    if (!en->meta) {
        char why[300];
        snprintf(why, sizeof why, "meta: %s", en->meta_error && *en->meta_error ? en->meta_error
                                                                               : "missing");
        e->err = dupn(w, why, strlen(why));
        w->n++;
        return 0;
    }
    const char *arr = tlsrpt_spool_meta_get(en->meta, TLSRPT_SPOOL_K_ARRIVAL, NULL);
    const char *auth = tlsrpt_spool_meta_get(en->meta, TLSRPT_SPOOL_K_AUTH, NULL);
    const char *org = tlsrpt_spool_meta_get(en->meta, TLSRPT_SPOOL_K_SIGNER_ORG, NULL);
    e->arrival = arr ? (time_t)strtoll(arr, NULL, 10) : 0;
    if (take_groups(w, e, en->meta) == 0 && e->n_nc == 0) {
        free(e->reps);
        w->skipped += w->s->day != NULL;
        return w->oom ? -1 : 0;
    }
    if (e->n_reps && auth && strcmp(auth, "dkim") == 0) {
        if (!org || !*org)
            e->err = dupn(w, "meta: auth dkim without signer-org", 34);   /* strlen */
        else
            e->org_key = dupn(w, org, strlen(org));
    }
    if (e->arrival <= 0)
        e->err = dupn(w, "meta: no arrival time", 21);
    w->n++;
    return w->oom ? -1 : 0;
}

/* Free what entry e owns. */
static void rb_ent_free(rb_ent *e)
{
    rb_release(e);
    for (size_t k = 0; k < e->n_reps; k++)
        free(e->reps[k].rid), free(e->reps[k].org);
    for (size_t k = 0; k < e->n_nc; k++)
        free(e->nc[k]);
    free(e->reps), free(e->nc), free(e->org_key), free(e->err);
}

/* Arrival order: time, then the id order of the spool. */
static int cmp_ent(const void *a, const void *b)
{
    const rb_ent *x = a, *y = b;
    if (x->arrival != y->arrival)
        return x->arrival < y->arrival ? -1 : 1;
    return tlsrpt_spool_id_cmp(x->id, y->id);
}

/* Is name a day directory "YYYY-MM-DD" (at or after from, when given)? */
static int is_day(const char *name, const char *from)
{
    if (strlen(name) != 10 || name[4] != '-' || name[7] != '-')
        return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (name[i] < '0' || name[i] > '9'))
            return 0;
    return !from[0] || strcmp(name, from) >= 0;
}

/* The listing jobs: every day directory of every archive; NULL + err. */
static struct walk *list_days(rb_set *s, const char *from, size_t *njobs, char *err, size_t errlen)
{
    struct walk *j = NULL;
    size_t n = 0, cap = 0;
    for (unsigned a = 0; a < s->n_sp; a++) {
        DIR *d = opendir(tlsrpt_spool_dir(s->sp[a]));
        struct dirent *de;
        if (!d) {
            snprintf(err, errlen, "%s: %s", s->dirs[a], strerror(errno));
            free(j);
            return NULL;
        }
        while ((de = readdir(d)))
            if (is_day(de->d_name, from)) {
                if (n == cap) {
                    struct walk *nj = realloc(j, (cap = cap ? cap * 2 : 64) * sizeof *nj);
                    if (!nj) {
                        closedir(d);
                        free(j);
                        snprintf(err, errlen, "out of memory");
                        return NULL;
                    }
                    j = nj;
                }
                memset(&j[n], 0, sizeof j[n]);
                j[n].s = s, j[n].arch = a;
                memcpy(j[n++].day, de->d_name, 11);
            }
        closedir(d);
    }
    *njobs = n;
    if (!j)
        j = calloc(1, sizeof *j);       /* no day yet: an empty list */
    return j;
}

/* Shared state of the listing threads. */
struct lister { struct walk *j; size_t n; atomic_size_t next; };

/* A listing thread: the next day directory until none is left. */
static void *lister_run(void *arg)
{
    struct lister *l = arg;
    size_t i;
    while ((i = atomic_fetch_add(&l->next, 1)) < l->n) {
        struct walk *w = &l->j[i];
        w->rc = tlsrpt_spool_each(w->s->sp[w->arch], w->day, w->day, on_entry, w, w->err,
                                  sizeof w->err);
    }
    return NULL;
}

/* Move the jobs' entries into s (in any order: sorted next); -1 on an error. */
static int gather(rb_set *s, struct walk *j, size_t n, char *err, size_t errlen)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        struct walk *w = &j[i];
        if ((w->rc != 0 || w->oom || s->oom) && rc == 0) {
            snprintf(err, errlen, "%s: %s", s->dirs[w->arch], w->oom || s->oom ? "out of memory"
                     : w->err);
            rc = -1;
        }
        if (rc == 0 && s->n + w->n > s->cap) {
            size_t nc = s->cap * 2 + w->n + 1024;
            rb_ent *ne = realloc(s->e, nc * sizeof *ne);
            if (ne)
                s->e = ne, s->cap = nc;
            else
                s->oom = 1;
        }
        if (rc == 0 && !s->oom) {
            memcpy(s->e + s->n, w->e, w->n * sizeof *w->e);
            s->n += w->n;
        } else {
            for (size_t k = 0; k < w->n; k++)   /* not kept: free what the entry owns */
                rb_ent_free(&w->e[k]);
        }
        s->listed += w->listed, s->skipped += w->skipped, s->per_arch[w->arch] += (long)w->listed;
        free(w->e);
    }
    return rc || s->oom ? -1 : 0;
}

/* List every archive, day directories on s->threads threads, and sort (file comment). */
int rb_collect(rb_set *s, char *err, size_t errlen)
{
    char from[11] = "";
    size_t n = 0;
    pthread_t th[16];
    int nt = 0;
    if (s->day) {
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        strptime(s->day, "%Y-%m-%d", &tm);
        time_t t = timegm(&tm) - 86400;
        gmtime_r(&t, &tm);
        strftime(from, sizeof from, "%Y-%m-%d", &tm);
    }
    struct walk *j = list_days(s, from, &n, err, errlen);
    if (!j)
        return -1;
    struct lister l = { .j = j, .n = n };
    atomic_init(&l.next, 0);
    for (int k = 1; k < s->threads && k < 16 && (size_t)k < n; k++)
        if (pthread_create(&th[nt], NULL, lister_run, &l) == 0)
            nt++;
    lister_run(&l);
    for (int k = 0; k < nt; k++)
        pthread_join(th[k], NULL);
    int rc = gather(s, j, n, err, errlen);
    free(j);
    if (rc < 0)
        return -1;
    if (s->n)
        qsort(s->e, s->n, sizeof *s->e, cmp_ent);
    return 0;
}

/* Do the meta's bytes (n, maybe truncated at the meta's limit) name the string v? */
static int same(const char *m, size_t n, const char *v)
{
    if (!m)
        return 1;               /* absent in the meta: anything */
    size_t vl = v ? strlen(v) : 0;
    if (n >= TLSRPT_SPOOL_VALUE_MAX)
        return vl >= n && memcmp(m, v, n) == 0;
    return v && vl == n && memcmp(m, v, n) == 0;
}

/* Find the decoded report of group r (file comment). */
static const tlsrpt_report *match(const tlsrpt_decoder *d, const rb_rep *r)
{
    size_t n = tlsrpt_result_count(d);
    const tlsrpt_report *x = r->index >= 0 && (size_t)r->index < n ? tlsrpt_result_at(d, (size_t)r->index) : NULL;
    if (x && same(r->rid, r->rid_len, x->report_id))
        return x;
    for (size_t i = 0; r->rid && i < n; i++) {
        x = tlsrpt_result_at(d, i);
        if (same(r->rid, r->rid_len, x->report_id) && same(r->org, r->org_len, x->organization_name))
            return x;
    }
    tlsrpt_part p;
    if (r->index >= 0 && tlsrpt_part_at(d, (size_t)r->index, &p) == TLSRPT_OK && p.report
        && same(r->rid, r->rid_len, p.report->report_id))
        return p.report;
    return NULL;
}

/* Set e->err to a formatted message (the first one stays). */
static void fail(rb_ent *e, const char *what, const char *why)
{
    if (e->err)
        return;
    size_t n = strlen(what) + strlen(why) + 3;
    if ((e->err = malloc(n)))
        snprintf(e->err, n, "%s: %s", what, why);
}

/* Read and decode one entry, and match its countable groups. */
static void decode_one(rb_set *s, rb_ent *e, char *buf, size_t bufsz)
{
    char err[512];
    if (e->err || !e->n_reps)
        return;
    tlsrpt_spool_reader *rd = tlsrpt_spool_reader_open(s->sp[e->arch], e->id, err, sizeof err);
    if (!rd) {
        fail(e, "read", err);
        return;
    }
    e->dec = tlsrpt_decoder_new(&s->lim, TLSRPT_MODE_MESSAGE);
    long n = 0;
    int rc = e->dec ? TLSRPT_OK : TLSRPT_ERR_NOMEM;
    while (rc == TLSRPT_OK && (n = tlsrpt_spool_reader_read(rd, buf, bufsz)) > 0)
        rc = tlsrpt_feed(e->dec, buf, (size_t)n);
    if (n < 0)
        fail(e, "read", tlsrpt_spool_reader_error(rd));
    tlsrpt_spool_reader_close(rd);
    if (e->err)
        return;
    if (rc == TLSRPT_OK)
        rc = tlsrpt_finish(e->dec);
    if (rc != TLSRPT_OK && tlsrpt_result_count(e->dec) == 0) {
        fail(e, "decode", e->dec ? tlsrpt_errstr(e->dec) : "out of memory");
        return;
    }
    for (size_t i = 0; i < e->n_reps; i++)
        if (!(e->reps[i].r = match(e->dec, &e->reps[i]))) {
            snprintf(err, sizeof err, "report %ld (report-id %.200s) is not in the entry's data "
                     "as decoded now", e->reps[i].index, e->reps[i].rid ? e->reps[i].rid : "none");
            fail(e, "decode", err);
        }
}

/* Shared state of one rb_decode call. */
struct job { rb_set *s; size_t hi; atomic_size_t next; };

/* A decoding thread: the next entry until none is left. */
static void *worker(void *arg)
{
    struct job *j = arg;
    char *buf = malloc(65536);
    size_t i;
    while (buf && (i = atomic_fetch_add(&j->next, 1)) < j->hi)
        decode_one(j->s, &j->s->e[i], buf, 65536);
    if (!buf)
        j->s->oom = 1;
    free(buf);
    return NULL;
}

/* Decode [lo, hi) with s->threads threads (this one included). */
void rb_decode(rb_set *s, size_t lo, size_t hi)
{
    struct job j = { .s = s, .hi = hi };
    pthread_t th[16];
    int n = 0;
    atomic_init(&j.next, lo);
    for (int k = 1; k < s->threads && k < 16; k++)
        if (pthread_create(&th[n], NULL, worker, &j) == 0)
            n++;
    worker(&j);
    for (int k = 0; k < n; k++)
        pthread_join(th[k], NULL);
}

/* Free entry e's decoder (its reports go with it). */
void rb_release(rb_ent *e)
{
    tlsrpt_decoder_free(e->dec);
    e->dec = NULL;
    for (size_t i = 0; i < e->n_reps; i++)
        e->reps[i].r = NULL;
}

/* Free the set and every entry. */
void rb_set_free(rb_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        rb_ent_free(&s->e[i]);
    free(s->e);
    for (size_t i = 0; i < s->n_sp; i++)
        tlsrpt_spool_close(s->sp[i]);
    free(s->sp);
    free(s->per_arch);
    s->e = NULL, s->sp = NULL, s->per_arch = NULL, s->n = s->n_sp = 0;
}
