/*
 * rebuild.h - tlsrpt-parse --rebuild internals: the archive walk and the parallel
 * decoding (rbscan.c), the recount and the replacement (rebuild.c).
 */
#ifndef TLSRPT_PARSE_REBUILD_H
#define TLSRPT_PARSE_REBUILD_H

#include <stddef.h>
#include <time.h>
#include "spool.h"
#include "tlsrpt.h"

/* Exit statuses of --rebuild (README, tlsrpt-parse(1)). */
enum { RB_OK = 0, RB_DAMAGED = 1, RB_USAGE = 2, RB_STORE = 3, RB_ARCHIVE = 4, RB_REFUSED = 5 };

/* One report group of an entry's meta to count (report-verdict countable). */
typedef struct rb_rep {
    long index;                 /* "report N" */
    char *rid, *org;            /* report-id, report-org from the meta (NULL: absent) */
    size_t rid_len, org_len;
    const tlsrpt_report *r;     /* after decoding: the matching report, or NULL */
} rb_rep;

/* One archived entry that has something to count. */
typedef struct rb_ent {
    unsigned arch;              /* index of its archive */
    char id[TLSRPT_SPOOL_ID_MAX];
    time_t arrival;
    char *org_key;              /* meta signer-org when auth is dkim, else NULL */
    rb_rep *reps;               /* countable groups (of --day only) */
    size_t n_reps;
    char **nc;                  /* reasons of the candidates not counted at arrival */
    size_t n_nc;
    tlsrpt_decoder *dec;        /* after decoding (owns the reports) */
    char *err;                  /* why it cannot be counted (damaged, not decodable) */
} rb_ent;

/* Every archive given, and the entries to count in arrival order. */
typedef struct rb_set {
    tlsrpt_spool **sp;
    const char **dirs;
    size_t n_sp;
    long *per_arch;             /* entries listed per archive */
    rb_ent *e;
    size_t n, cap;
    size_t listed;              /* committed entries seen */
    size_t skipped;             /* --day: entries without a report of that day */
    const char *day;            /* --day, or NULL */
    int want_nc;                /* collect not-counted reasons (a full rebuild) */
    tlsrpt_limits lim;
    int threads;
    int oom;
} rb_set;

/* List every archive (tlsrpt_spool_each; --day from the day before), keep the entries
   with something to count, sort them by arrival. 0, or -1 with err. */
int rb_collect(rb_set *s, char *err, size_t errlen);
/* Decode entries [lo, hi) with s->threads threads (readers are independent). */
void rb_decode(rb_set *s, size_t lo, size_t hi);
/* Free what decoding entry e made (its decoder and reports). */
void rb_release(rb_ent *e);
/* Free everything. */
void rb_set_free(rb_set *s);

/* --rebuild: returns the exit status. */
int rebuild_main(const char *conf, const char *servers, const char *prefix, const char *day,
                 int force, int verbose, int threads, char **dirs, int ndirs);

#endif
