/*
 * rebuild.c - `tlsrpt-parse --rebuild -c CONF [--day YYYY-MM-DD] [--force] [DIR...]`:
 * recompute the counters exactly from the archive (issue 10.3, PLAN-archive.md
 * "What --rebuild does with it", store/README.md "Rebuild").
 *
 * DIR... are archive directories, one per MX host (each has its own archive-id);
 * none given: the configuration's ArchiveDir. They are opened read-only (never
 * created, recovered or expired: they may be another host's). Every committed entry
 * is walked in arrival order (rbscan.c), every report whose report-verdict is
 * countable is decoded again from the entry's data and added to a tally
 * (tlsrpt_tally_add) with the identity recorded at arrival -- org_key = signer-org
 * when auth is dkim, else none; host id = the archive id; entry id; arrival -- so the
 * verdict recorded at arrival is trusted (DKIM keys rotate: nothing is re-verified).
 * A full rebuild also recounts the nc: counters (tlsrpt_tally_not_counted) from the
 * candidates the meta says were not counted and from the reports the store does not
 * count now (foreign-domain, ...). Then tlsrpt_store_rebuild replaces memcached's
 * keys: all days of the tally, or with --day Y only that report day, refusing a day
 * that hosts whose archives were not given counted into (P hosts:Y) unless --force,
 * and saying exactly what it replaced. Running it twice changes nothing.
 *
 * Output: a progress line on stderr when it is a terminal; the summary on stdout
 * (archives, entries read, reports counted, duplicates, not counted per reason, keys
 * replaced, time); with --verbose every changed key. Exit statuses: RB_* in
 * rebuild.h (0 rebuilt, 1 damaged entries and no --force: nothing written, 2 usage or
 * configuration, 3 memcached, 4 an archive cannot be opened or listed, 5 refused).
 * Decoding runs on `threads` threads in batches; the tally is fed in order by this
 * thread.
 */
#include "rebuild.h"
#include "config.h"
#include "store.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RB_BATCH 512
#define RB_MAX_REASONS 64

/* The whole run's state. */
typedef struct rb_run {
    tm_config cfg;
    tlsrpt_store *st;
    tlsrpt_tally *t;
    rb_set s;
    int force, verbose, tty;
    size_t counted, dups, damaged, done;
    struct { char name[64]; size_t n; } nc[RB_MAX_REASONS];
    size_t n_nc;
    double t0, last;
    char *defdir[1];            /* the configuration's ArchiveDir when no DIR is given */
} rb_run;

/* Seconds of the monotonic clock. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Count one not-counted reason for the summary. */
static void tally_reason(rb_run *r, const char *why)
{
    size_t i;
    for (i = 0; i < r->n_nc && strcmp(r->nc[i].name, why) != 0; i++)
        ;
    if (i == r->n_nc) {
        if (r->n_nc == RB_MAX_REASONS)
            why = "other", i = RB_MAX_REASONS - 1;
        else
            snprintf(r->nc[r->n_nc++].name, sizeof r->nc[0].name, "%s", why);
    }
    r->nc[i].n++;
}

/* The progress line (a terminal only, at most 4 times a second). */
static void progress(rb_run *r, int last)
{
    double t = now_s();
    if (!r->tty || (!last && t - r->last < 0.25))
        return;
    r->last = t;
    fprintf(stderr, "\rrebuild: %zu/%zu entries, %zu reports counted, %zu duplicates, %.1f s%s",
            r->done, r->s.n, r->counted, r->dups, t - r->t0, last ? "\n" : "");
}

/* Add one entry's reports and not-counted candidates to the tally; -1 = store error. */
static int add_entry(rb_run *r, rb_ent *e)
{
    char err[512];
    const char *host = tlsrpt_spool_archive_id(r->s.sp[e->arch]);
    if (e->err) {
        r->damaged++;
        fprintf(stderr, "%stlsrpt-parse: --rebuild: %s/%s: %s\n", r->tty ? "\r" : "",
                r->s.dirs[e->arch], e->id, e->err);
        return 0;
    }
    for (size_t i = 0; i < e->n_reps; i++)
        if (!e->reps[i].r) {    /* not decoded: a decoding thread could not start */
            r->damaged++;
            fprintf(stderr, "tlsrpt-parse: --rebuild: %s/%s: not decoded (out of memory)\n",
                    r->s.dirs[e->arch], e->id);
            return 0;
        }
    for (size_t i = 0; i < e->n_reps; i++) {
        tlsrpt_count_info info;
        memset(&info, 0, sizeof info);
        tlsrpt_count_req q = { .org_key = e->org_key, .entry_id = e->id, .host_id = host,
                               .arrival = e->arrival };
        int rc = tlsrpt_tally_add(r->t, e->reps[i].r, &q, &info, err, sizeof err);
        if (rc == TLSRPT_COUNTED)
            r->counted++;
        else if (rc == TLSRPT_DUPLICATE)
            r->dups++;
        else if (rc == TLSRPT_NOT_COUNTABLE) {
            tally_reason(r, info.reason);
            if (r->s.want_nc && tlsrpt_tally_not_counted(r->t, e->arrival, info.reason) < 0)
                return fprintf(stderr, "tlsrpt-parse: --rebuild: out of memory\n"), -1;
        } else {
            fprintf(stderr, "tlsrpt-parse: --rebuild: %s: %s\n", e->id, err);
            return -1;
        }
    }
    for (size_t i = 0; i < e->n_nc; i++) {
        tally_reason(r, e->nc[i]);
        if (tlsrpt_tally_not_counted(r->t, e->arrival, e->nc[i]) < 0)
            return fprintf(stderr, "tlsrpt-parse: --rebuild: out of memory\n"), -1;
    }
    return 0;
}

/* Decode and tally every entry, batch by batch; -1 on a store error. */
static int recount(rb_run *r)
{
    for (size_t lo = 0; lo < r->s.n; lo += RB_BATCH) {
        size_t hi = lo + RB_BATCH < r->s.n ? lo + RB_BATCH : r->s.n;
        rb_decode(&r->s, lo, hi);
        for (size_t i = lo; i < hi; i++) {
            if (add_entry(r, &r->s.e[i]) < 0)
                return -1;
            rb_release(&r->s.e[i]);
            r->done++;
        }
        progress(r, 0);
    }
    progress(r, 1);
    return r->s.oom ? -1 : 0;
}

/* on_change: with --verbose, one line per changed key. */
static void on_change(void *arg, const char *key, int64_t old_value, int64_t new_value)
{
    rb_run *r = arg;
    if (!r->verbose)
        return;
    char o[24] = "missing", n[24] = "deleted";
    if (old_value >= 0)
        snprintf(o, sizeof o, "%lld", (long long)old_value);
    if (new_value >= 0)
        snprintf(n, sizeof n, "%lld", (long long)new_value);
    printf("rebuild: changed %s %s -> %s\n", key, o, n);
}

/* Print the summary of the recount. */
static void summary(const rb_run *r)
{
    printf("rebuild: %zu archive%s:", r->s.n_sp, r->s.n_sp == 1 ? "" : "s");
    for (size_t i = 0; i < r->s.n_sp; i++)
        printf(" %s (%s, %ld entries)", tlsrpt_spool_archive_id(r->s.sp[i]), r->s.dirs[i],
               r->s.per_arch[i]);
    printf("\nrebuild: %zu entries read", r->s.listed);
    if (r->s.day)
        printf(" (%zu without a report of %s)", r->s.skipped, r->s.day);
    printf(", %zu reports counted, %zu duplicates, %zu damaged, not counted:", r->counted,
           r->dups, r->damaged);
    for (size_t i = 0; i < r->n_nc; i++)
        printf(" %s=%zu", r->nc[i].name, r->nc[i].n);
    printf("%s\n", r->n_nc ? "" : " none");
}

/* Open the configuration, the store and every archive. 0 or an exit status. */
static int open_all(rb_run *r, const char *conf, const char *servers, const char *prefix,
                    char **dirs, int ndirs)
{
    static char err[4096];
    tlsrpt_store_conf sc;
    if (tm_config_init(&r->cfg) != 0)
        return fprintf(stderr, "tlsrpt-parse: out of memory\n"), RB_USAGE;
    if (tm_config_load(&r->cfg, conf, err, sizeof err) != 0)
        return fprintf(stderr, "tlsrpt-parse: %s\n", err), RB_USAGE;
    if (ndirs == 0) {
        if (!r->cfg.archive_dir[0])
            return fprintf(stderr, "tlsrpt-parse: --rebuild: %s has no ArchiveDir and no "
                           "archive directory was given\n", conf), RB_USAGE;
        r->defdir[0] = r->cfg.archive_dir;
        dirs = r->defdir, ndirs = 1;
    }
    tm_config_store_conf(&r->cfg, 2, &sc);
    if (servers)
        sc.servers = servers;
    if (prefix)
        sc.prefix = prefix;
    if (!(r->st = tlsrpt_store_new(&sc, err, sizeof err)))
        return fprintf(stderr, "tlsrpt-parse: %s\n", err), RB_USAGE;
    r->s.sp = calloc((size_t)ndirs, sizeof *r->s.sp);
    r->s.per_arch = calloc((size_t)ndirs, sizeof *r->s.per_arch);
    r->s.dirs = (const char **)dirs;
    if (!r->s.sp || !r->s.per_arch)
        return fprintf(stderr, "tlsrpt-parse: out of memory\n"), RB_USAGE;
    for (int i = 0; i < ndirs; i++) {
        if (!(r->s.sp[i] = tlsrpt_spool_open(dirs[i], 0, err, 512)))
            return fprintf(stderr, "tlsrpt-parse: --rebuild: %s\n", err), RB_ARCHIVE;
        r->s.n_sp++;
        for (int k = 0; k < i; k++)
            if (strcmp(tlsrpt_spool_archive_id(r->s.sp[k]), tlsrpt_spool_archive_id(r->s.sp[i])) == 0)
                return fprintf(stderr, "tlsrpt-parse: --rebuild: %s and %s are the same archive "
                               "(archive-id %s)\n", dirs[k], dirs[i],
                               tlsrpt_spool_archive_id(r->s.sp[i])), RB_USAGE;
    }
    r->s.lim = r->cfg.limits;
    return 0;
}

/* After a full rebuild the counters hold everything the archives hold: a server that
   lost its data (no P epoch) gets a new epoch, so the loss is no longer reported. A
   --day rebuild repairs one day only and leaves the loss said. */
static void mark_epoch(tlsrpt_store *st)
{
    char err[256];
    tlsrpt_loss *loss = calloc(1, sizeof *loss);
    int marked = 0;
    if (loss && tlsrpt_store_check_loss(st, TLSRPT_LOSS_MARK, loss, err, sizeof err) == 0)
        for (size_t i = 0; i < loss->n; i++)
            marked += loss->s[i].marked != 0;
    if (marked)
        printf("rebuild: %d memcached server%s marked as counted from now on (P epoch): the "
               "loss they showed is repaired\n", marked, marked == 1 ? "" : "s");
    free(loss);
}

/* Replace the store's keys by the tally's; the exit status. */
static int replace(rb_run *r)
{
    char err[512];
    const char **hosts = calloc(r->s.n_sp, sizeof *hosts);
    tlsrpt_rebuild_result res;
    if (!hosts)
        return fprintf(stderr, "tlsrpt-parse: out of memory\n"), RB_STORE;
    for (size_t i = 0; i < r->s.n_sp; i++)
        hosts[i] = tlsrpt_spool_archive_id(r->s.sp[i]);
    tlsrpt_rebuild_opts o = { .day = r->s.day, .hosts = hosts, .n_hosts = r->s.n_sp,
                              .force = r->force, .on_change = on_change, .arg = r };
    memset(&res, 0, sizeof res);
    int rc = tlsrpt_store_rebuild(r->st, r->t, &o, &res, err, sizeof err);
    free(hosts);
    if (rc == TLSRPT_REBUILD_REFUSED) {
        fprintf(stderr, "tlsrpt-parse: --rebuild refused: host(s) %s counted into %s too and "
                "their archives were not given; nothing was written. Give every host's archive "
                "directory, or --force to replace their counts with this recount\n",
                res.other_hosts, r->s.day ? r->s.day : "these days");
        return RB_REFUSED;
    }
    if (rc < 0)
        return fprintf(stderr, "tlsrpt-parse: --rebuild: memcached: %s\n", err), RB_STORE;
    printf("rebuild: %zu report day%s replaced: %zu keys replaced (%zu written, %zu deleted), "
           "%zu unchanged, %zu index sets written, %zu dedup markers added\n", res.days,
           res.days == 1 ? "" : "s", res.written + res.deleted, res.written, res.deleted,
           res.unchanged, res.sets, res.markers);
    if (res.other_hosts[0])     /* forced: the store's line says whose counts went */
        printf("rebuild: %s\n", res.text);
    if (!r->s.day)
        mark_epoch(r->st);
    return RB_OK;
}

/* --rebuild (file comment). */
int rebuild_main(const char *conf, const char *servers, const char *prefix, const char *day,
                 int force, int verbose, int threads, char **dirs, int ndirs)
{
    rb_run *r = calloc(1, sizeof *r);
    char err[512];
    int rc;
    if (!r)
        return fprintf(stderr, "tlsrpt-parse: out of memory\n"), RB_USAGE;
    r->force = force, r->verbose = verbose, r->tty = isatty(2);
    r->s.day = day, r->s.want_nc = day == NULL, r->s.threads = threads;
    r->t0 = now_s();
    if ((rc = open_all(r, conf, servers, prefix, dirs, ndirs)) != 0)
        goto out;
    if (rb_collect(&r->s, err, sizeof err) < 0) {
        fprintf(stderr, "tlsrpt-parse: --rebuild: %s\n", err);
        rc = RB_ARCHIVE;
        goto out;
    }
    if (!(r->t = tlsrpt_tally_new(r->st, day ? TLSRPT_TALLY_KNOWN_DOMAINS : 0, err, sizeof err))) {
        fprintf(stderr, "tlsrpt-parse: --rebuild: %s\n", err);
        rc = RB_STORE;
        goto out;
    }
    if (recount(r) < 0) {
        rc = RB_STORE;
        goto out;
    }
    summary(r);
    if (r->damaged && !force) {
        fprintf(stderr, "tlsrpt-parse: --rebuild: %zu entr%s could not be counted (above); nothing "
                "was written. Repair or remove them, or --force to rebuild without them\n",
                r->damaged, r->damaged == 1 ? "y" : "ies");
        rc = RB_DAMAGED;
        goto out;
    }
    rc = replace(r);
    double dt = now_s() - r->t0;
    printf("rebuild: %.2f s (%.0f reports/s)%s\n", dt, dt > 0 ? (double)(r->counted + r->dups) / dt : 0.0,
           rc == RB_OK ? "" : ", nothing written");
out:
    tlsrpt_tally_free(r->t);
    rb_set_free(&r->s);
    tlsrpt_store_free(r->st);
    tm_config_free(&r->cfg);
    free(r);
    return rc;
}
