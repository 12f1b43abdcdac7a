/*
 * fetch.h - the request machinery shared by fetch.c (what a hit does: counters,
 * index sets and their chains) and phases.c (which keys each phase asks for).
 *
 * A request is one key of the current batch (its index is the mget batch index);
 * q_* queue one and flush the batch when it holds TS_MGET_CHUNK keys. An index set
 * read with q_set is walked member by member as soon as it arrives; a chained one
 * (link 0 with tokens "+N", store/README.md "Index sets") is kept until f_flush has
 * read its links 1..N in one more round trip. Nothing is queued from inside a hit.
 */
#ifndef TLSRPT_STATS_FETCH_H
#define TLSRPT_STATS_FETCH_H

#include "stats.h"

/* Request kinds. */
enum { RQ_CNT, RQ_PTOK, RQ_ENT, RQ_SET, RQ_LINK, RQ_LABEL, RQ_FLAG, RQ_LEAD };
/* Index set kinds (what a member means). */
enum { SK_DOMAINS, SK_DAYS, SK_ORGS, SK_TYPES, SK_MXS, SK_PARTIAL, SK_NCDAYS, SK_NCREASONS };

typedef struct req {
    unsigned char kind;         /* RQ_* */
    unsigned char aux;          /* RQ_ENT: 0 ok, 1 fail; RQ_PTOK: policy type; RQ_SET: SK_* */
    uint32_t idx;               /* RQ_ENT: entity; RQ_SET: window day; RQ_LINK: link number */
    void *dst;                  /* RQ_CNT int64_t*, RQ_PTOK and RQ_LEAD ts_day*, RQ_ENT ts_set*,
                                   RQ_SET owner (ts_domain* or NULL), RQ_LINK struct chain*,
                                   RQ_LABEL ts_entity* of ts_report.labels,
                                   RQ_FLAG unsigned char* (set to 1 when the key exists) */
} req;

/* A chained index set waiting for its links. */
typedef struct chain {
    unsigned char sk;
    uint32_t idx;
    void *dst;
    char key[TLSRPT_KEY_MAX + 1];   /* link 0, for warnings */
    char *val;                      /* link 0's value */
    size_t len;
    unsigned n;                     /* links 1..n */
    char **link;                    /* link[k - 1]: value of link k, NULL when missing */
    size_t *llen;
} chain;

typedef struct fetch {
    ts_mget *g;
    ts_report *r;
    ts_err *e;
    req *v;
    size_t nv, capv;
    chain **ch;
    size_t nch, capch;
    int failed;                     /* a memcached error: stop */
    size_t bad_members;             /* invalid index members skipped */
    char bad_member_key[TLSRPT_KEY_MAX + 1];
    unsigned stamp;                 /* number of the set being walked (ts_entity.stamp) */
    size_t full;                    /* members dropped: TS_MAX_ENTITIES / TS_MAX_NC reached */
    char full_what[TLSRPT_KEY_MAX + 64];
    size_t capped;                  /* sets cut at their member limit */
    char capped_key[TLSRPT_KEY_MAX + 1];
} fetch;

/* Queue a key P + comps joined by ':' (TLSRPT_KEY_MAX rule of tlsrpt_key_build). 0 / -1. */
int q_key(fetch *f, int kind, int aux, uint32_t idx, void *dst, const char *const *comps,
          size_t n);
/* Queue an index set of kind sk (owner dst, window day idx). */
int q_set(fetch *f, int sk, uint32_t idx, void *dst, const char *const *comps, size_t n);
/* Run the batch, then read the links of the chained sets it found. 0 / -1. */
int f_flush(fetch *f);

/* Free what is left (after an error). */
void f_free(fetch *f);

/* phases.c: what to do with one member of a set. */
void member(fetch *f, int sk, uint32_t idx, void *dst, const char *m, size_t len,
            const char *setkey);

#endif
