/*
 * extra.c - the counts of issue 10 besides a report's own:
 *   tlsrpt_store_not_counted: P nc:A:REASON += 1 for a report candidate that
 *     was not counted (A = its arrival day, UTC; REASON = the README's reason
 *     token), listed in P nc:days (A) and P nc:A:reasons (REASON);
 *   tlsrpt_store_mark_partial: P d:D:Y:partial += 1 for every domain of a
 *     report whose count may be partial (a counter burst cut short), listed in
 *     P partial:days (Y); tlsrpt-stats marks those days, a rebuild of the day
 *     clears them.
 * Both are small plans run through count.c's phases (no dedup marker):
 * 2 round trips, 4 when their index members are new.
 * Errors: TLSRPT_STORE_FAILED with errbuf; a reason that is not a token
 * ([a-z0-9-], 1..63 bytes) is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "store_int.h"

/* Is r a reason token ([a-z0-9-], 1..63 bytes)? */
static int token_ok(const char *r)
{
    size_t n = r ? strlen(r) : 0;
    if (n == 0 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') || r[i] == '-'))
            return 0;
    return 1;
}

/* Append to the plan a set (key from comps); its index or -1. */
static long x_set(const tlsrpt_store *st, st_plan *p, const char *const *comps, size_t n, int ll)
{
    st_pset *nv = realloc(p->set, (p->n_set + 1) * sizeof *nv);
    if (!nv)
        return -1;
    p->set = nv;
    p->cap_set = p->n_set + 1;
    if (tlsrpt_key_build(p->set[p->n_set].key, sizeof p->set[p->n_set].key, st->prefix, comps, n) < 0)
        return -1;
    p->set[p->n_set].long_lived = ll;
    return (long)p->n_set++;
}

/* Append to the plan a counter (+1) and, when set >= 0, its member; 0 or -1. */
static int x_ctr(const tlsrpt_store *st, st_plan *p, const char *const *comps, size_t n, long set,
                 const char *member, long anchor)
{
    st_counter *nc = realloc(p->ctr, (p->n_ctr + 1) * sizeof *nc);
    if (!nc)
        return -1;
    p->ctr = nc;
    p->cap_ctr = p->n_ctr + 1;
    if (comps) {
        if (tlsrpt_key_build(p->ctr[p->n_ctr].key, sizeof p->ctr[p->n_ctr].key, st->prefix, comps, n) < 0)
            return -1;
        p->ctr[p->n_ctr].delta = 1;
        p->ctr[p->n_ctr].dom = -1;
        p->ctr[p->n_ctr++].keep_zero = 1;
    }
    if (set < 0)
        return 0;
    st_member *nm = realloc(p->mem, (p->n_mem + 1) * sizeof *nm);
    if (!nm || strlen(member) >= sizeof nm->member)
        return nm ? (p->mem = nm, -1) : -1;
    p->mem = nm;
    p->cap_mem = p->n_mem + 1;
    p->mem[p->n_mem] = (st_member){ .set = (size_t)set, .dom = -1, .anchor = anchor };
    strcpy(p->mem[p->n_mem++].member, member);
    return 0;
}

/* Run plan p on a pooled handle; a tlsrpt_count_status (COUNTED = written). */
static int run(tlsrpt_store *st, st_plan *p, tlsrpt_count_info *info, char *errbuf, size_t errlen)
{
    memcached_st *mc = st_pool_fetch(st, errbuf, errlen);
    st_call c = { st, mc, info, errbuf, errlen };
    if (!mc)
        return TLSRPT_STORE_FAILED;
    int rc = st_run_plain(&c, p);
    if (rc == TLSRPT_STORE_FAILED)
        memcached_quit(mc);
    memcached_pool_release(st->pool, mc);
    return rc;
}

/* Count a report candidate that was not counted: P nc:A:REASON += 1. */
int tlsrpt_store_not_counted(tlsrpt_store *st, time_t arrival, const char *reason,
                             char *errbuf, size_t errlen)
{
    tlsrpt_count_info info;
    char A[11], nobuf[8];
    st_plan p;
    int rc = -1;
    if (!errbuf || !errlen)
        errbuf = nobuf, errlen = sizeof nobuf;
    memset(&info, 0, sizeof info);
    memset(&p, 0, sizeof p);
    if (!st || !token_ok(reason)) {
        snprintf(errbuf, errlen, "tlsrpt_store_not_counted: %s", st ? "bad reason token" : "no store");
        return TLSRPT_STORE_FAILED;
    }
    st_day_of(arrival ? arrival : time(NULL), A);
    long days = x_set(st, &p, (const char *const[]){ "nc", "days" }, 2, 1);
    long reasons = days < 0 ? -1 : x_set(st, &p, (const char *const[]){ "nc", A, "reasons" }, 3, 0);
    if (reasons >= 0
        && x_ctr(st, &p, (const char *const[]){ "nc", A, reason }, 3, reasons, reason, 0) == 0
        && x_ctr(st, &p, NULL, 0, days, A, ST_ANCHOR_NONE) == 0)
        rc = run(st, &p, &info, errbuf, errlen);
    else
        snprintf(errbuf, errlen, "tlsrpt_store_not_counted: out of memory");
    st_plan_free(&p);
    return rc == TLSRPT_COUNTED ? TLSRPT_COUNTED : TLSRPT_STORE_FAILED;
}

/* Flag every (domain, day) of report r as possibly partial: P d:D:Y:partial += 1. */
int tlsrpt_store_mark_partial(tlsrpt_store *st, const tlsrpt_report *r, const tlsrpt_count_req *q,
                              char *errbuf, size_t errlen)
{
    static const tlsrpt_count_req none;
    tlsrpt_count_info info;
    char nobuf[8];
    st_plan p, x;
    if (!errbuf || !errlen)
        errbuf = nobuf, errlen = sizeof nobuf;
    memset(&info, 0, sizeof info);
    memset(&x, 0, sizeof x);
    if (!st || !r) {
        snprintf(errbuf, errlen, "tlsrpt_store_mark_partial: no store or no report");
        return TLSRPT_STORE_FAILED;
    }
    int rc = st_plan_build(st, r, q ? q : &none, &p, &info, errbuf, errlen);
    if (rc != TLSRPT_COUNTED)
        return rc;
    long days = x_set(st, &x, (const char *const[]){ "partial", "days" }, 2, 1);
    rc = days < 0 || x_ctr(st, &x, NULL, 0, days, p.Y, ST_ANCHOR_NONE) < 0 ? -1 : 0;
    for (size_t i = 0; i < p.n_dom && rc == 0; i++)
        rc = x_ctr(st, &x, (const char *const[]){ "d", p.dom[i].D, p.Y, "partial" }, 4, -1, NULL, 0);
    if (rc == 0)
        rc = run(st, &x, &info, errbuf, errlen);
    else
        snprintf(errbuf, errlen, "tlsrpt_store_mark_partial: out of memory");
    st_plan_free(&p);
    st_plan_free(&x);
    return rc == TLSRPT_COUNTED ? TLSRPT_COUNTED : TLSRPT_STORE_FAILED;
}
