/*
 * ixwrite.c - write the members whose markers this call won (index.c) into
 * the links of their sets, one burst (rarely more):
 *   - a set's new members go to its last link (link 0 while the set is one
 *     link) while it stays within ST_LINK_SOFT bytes; what does not fit goes
 *     to new links (each within ST_LINK_SOFT), added with `add`, and their
 *     tokens " +N" are appended to link 0 after them;
 *   - quiet `add` of a link phase 1 / the marker burst saw missing, quiet
 *     `append` otherwise; an add that finds the link there becomes an append,
 *     an append that finds it missing an add (at most ST_IX_ROUNDS rounds in
 *     all); an append refused as too large moves to a new link;
 *   - a long-lived set (P domains, d:D:days) that grows has every link touched
 *     so that no link expires before the set;
 *   - a v1 set over ST_LINK_SOFT (it may be at memcached's item size, with no
 *     room for a token) is migrated once: copied into link 1, and link 0
 *     replaced by its tokens with a set that must match phase 1's CAS.
 * Each write stores all or nothing, and no burst is resent after a lost
 * connection, so a member is never written twice by one call.
 * Errors: TLSRPT_STORE_FAILED with errbuf naming the key and operation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store_int.h"

#define ST_IX_ROUNDS 6

/* One write of won members (or of link tokens) to one link of a set. */
typedef struct ix_job {
    size_t set;
    unsigned link;              /* 0 = the set's key */
    char key[TLSRPT_KEY_MAX + 1];
    char *val;                  /* " m1 m2 ...": append sends it all, add skips the space */
    size_t vlen;
    int add;                    /* next write: 1 = add the link, 0 = append to it */
    int again, full, done;
    int tokens;                 /* " +N ..." appended to link 0 (never added) */
    int copy;                   /* link 1 := a sealed v1 link 0 (found there: someone did it) */
    uint64_t cas;               /* link 0 := "+1 ..." with a SET matching this CAS */
} ix_job;

/* All jobs of one call. */
typedef struct ix_jobs {
    ix_job *v;
    size_t n, cap;
    unsigned *top;              /* per set: highest link written or known */
    long *cas_job;              /* per set: its link-0 replacement job (sealed v1 set), -1 */
} ix_jobs;

/* A new job for link of set (key built); NULL on out of memory. */
static ix_job *new_job(const tlsrpt_store *st, ix_jobs *J, const st_sets *ss, size_t set,
                       unsigned link, int add)
{
    if (J->n == J->cap) {
        size_t nc = J->cap ? 2 * J->cap : 16;
        ix_job *nv = realloc(J->v, nc * sizeof *nv);
        if (!nv)
            return NULL;
        J->v = nv;
        J->cap = nc;
    }
    ix_job *j = &J->v[J->n];
    memset(j, 0, sizeof *j);
    j->set = set;
    j->link = link;
    j->add = add;
    if (link == 0)
        snprintf(j->key, sizeof j->key, "%s", ss->s[set].key);
    else if (tlsrpt_set_link_key(j->key, sizeof j->key, st->prefix, ss->s[set].key, link) < 0)
        return NULL;
    J->n++;
    return j;
}

/* Append " text" to a job's value; -1 on out of memory. */
static int job_put(ix_job *j, const char *text)
{
    size_t tl = strlen(text);
    char *nv = realloc(j->val, j->vlen + tl + 2);
    if (!nv)
        return -1;
    j->val = nv;
    j->val[j->vlen] = ' ';
    memcpy(j->val + j->vlen + 1, text, tl + 1);
    j->vlen += tl + 1;
    return 0;
}

/* Announce new link n of set in link 0 (one token job per set, or the set's link-0
   replacement while it is migrated); -1 on out of memory. */
static int add_token(const tlsrpt_store *st, ix_jobs *J, const st_sets *ss, size_t set, unsigned n)
{
    char tok[16];
    ix_job *t = J->cas_job[set] >= 0 ? &J->v[J->cas_job[set]] : NULL;
    for (size_t k = 0; k < J->n && !t; k++)
        if (J->v[k].tokens && J->v[k].set == set && !J->v[k].done)
            t = &J->v[k];
    if (!t && !(t = new_job(st, J, ss, set, 0, 0)))
        return -1;
    t->tokens = 1;
    snprintf(tok, sizeof tok, "+%u", n);
    return job_put(t, tok);
}

/* A v1 link 0 over ST_LINK_SOFT has no room for tokens (it may be at memcached's item
   size): copy it into link 1 and replace link 0 by the tokens, CAS-guarded (the CAS of
   phase 1: if anything changed link 0 meanwhile, the replacement becomes an append of
   the tokens). -1 on out of memory. */
static int migrate(const tlsrpt_store *st, ix_jobs *J, const st_sets *ss, size_t s)
{
    ix_job *cp = new_job(st, J, ss, s, 1, 1);
    if (!cp || !(cp->val = malloc(ss->s[s].vlen + 2)))
        return -1;
    cp->val[0] = ' ';
    memcpy(cp->val + 1, ss->s[s].value, ss->s[s].vlen + 1);
    cp->vlen = ss->s[s].vlen + 1;
    cp->copy = 1;
    ix_job *rj = new_job(st, J, ss, s, 0, 0);
    if (!rj || job_put(rj, "+1") < 0)
        return -1;
    rj->cas = ss->s[s].cas ? ss->s[s].cas : 1;
    rj->tokens = 1;
    J->cas_job[s] = (long)(rj - J->v);
    J->top[s] = 1;
    return 0;
}

/* The jobs of set s for its won members (the entries of need[] in set s): the current
   last link takes them up to ST_LINK_SOFT bytes, then new links, each announced. */
static int plan_set(const tlsrpt_store *st, const st_plan *p, const st_sets *ss, ix_jobs *J,
                    size_t s, const size_t *need, size_t nn)
{
    const st_set_state *st_s = &ss->s[s];
    unsigned link = st_s->links;
    size_t len = link ? st_s->tail_len : st_s->vlen;
    int exists = link ? st_s->tail_exists : st_s->exists, any = 0;
    ix_job *j = NULL;
    for (size_t k = 0; k < nn && !any; k++)
        any = p->mem[need[k]].set == s;
    if (any && link == 0 && exists && len > ST_LINK_SOFT) {     /* sealed v1 data */
        if (migrate(st, J, ss, s) < 0)
            return -1;
        link = ++J->top[s];
        len = 0;
        exists = 0;
        if (add_token(st, J, ss, s, link) < 0)
            return -1;
    }
    for (size_t k = 0; k < nn; k++) {
        const char *m = p->mem[need[k]].member;
        size_t ml = strlen(m) + 1;
        if (p->mem[need[k]].set != s)
            continue;
        if (len > 0 && len + ml > ST_LINK_SOFT) {       /* this link is full: the next one */
            link = ++J->top[s];
            len = 0;
            exists = 0;
            j = NULL;
            if (add_token(st, J, ss, s, link) < 0)
                return -1;
        }
        if (!j && !(j = new_job(st, J, ss, s, link, !exists)))
            return -1;
        if (job_put(j, m) < 0)
            return -1;
        len += ml;
    }
    return 0;
}

/* Answers of a set-write burst. */
typedef struct ix_writes {
    ix_jobs *J;
    size_t *job_of;             /* per request: its job */
    char *kind;                 /* per request: 'a' add, 'p' append, 't' touch, 'x' extra */
    ix_err err;
} ix_writes;

/* Burst callback of a set-write burst (quiet writes answer only when not stored). */
static void on_writes(void *arg, const st_ans *a)
{
    ix_writes *w = arg;
    char k = w->kind[a->req];
    if (a->status == 0 || k == 't' || k == 'x')
        return;                 /* touches and clean-ups are best effort */
    ix_job *j = &w->J->v[w->job_of[a->req]];
    if (k == 'c')
        j->again = 1;           /* link 0 changed since phase 1: append the tokens instead */
    else if (k == 'p' && a->status == ST_ST_TOO_LARGE && !j->tokens)
        j->full = 1;            /* past memcached's item size: the next link */
    else if (k == 'a' ? a->status == ST_ST_EXISTS || a->status == ST_ST_NOT_STORED
                      : a->status == ST_ST_NOT_FOUND || a->status == ST_ST_NOT_STORED)
        j->again = 1;           /* someone created the link / it is gone: switch */
    else
        st_ix_note(&w->err, a);
}

/* Touches of every link of the long-lived sets that grow (first round only). */
static size_t touch_reqs(const tlsrpt_store *st, const st_plan *p, const st_sets *ss, ix_jobs *J,
                         time_t exp, st_req *reqs, ix_writes *w, char (*tk)[TLSRPT_KEY_MAX + 1])
{
    size_t n = 0, nt = 0;
    for (size_t s = 0; s < ss->n && exp; s++) {
        int grows = 0;
        for (size_t k = 0; k < J->n && !grows; k++)
            grows = J->v[k].set == s && !J->v[k].tokens;
        if (!grows || !p->set[s].long_lived || !ss->s[s].exists)
            continue;
        for (unsigned l = 0; l <= ss->s[s].links; l++) {
            if (l == 0)
                snprintf(tk[nt], sizeof tk[nt], "%s", ss->s[s].key);
            else if (tlsrpt_set_link_key(tk[nt], sizeof tk[nt], st->prefix, ss->s[s].key, l) < 0)
                continue;
            reqs[n] = (st_req){ .opcode = ST_OP_TOUCH, .key = tk[nt++], .extlen = 4 };
            st_put_exp(reqs[n].extras, exp);
            w->kind[n] = 't';
            w->job_of[n++] = 0;
        }
    }
    return n;
}

/* The requests of one round for the pending jobs (token appends last); how many. */
static size_t write_reqs(ix_jobs *J, time_t exp, st_req *reqs, ix_writes *w, size_t n)
{
    for (int tokens = 0; tokens < 2; tokens++)
        for (size_t k = 0; k < J->n; k++) {
            ix_job *j = &J->v[k];
            if (j->done || j->tokens != tokens)
                continue;
            j->again = j->full = 0;
            w->job_of[n] = k;
            w->kind[n] = j->cas ? 'c' : j->add ? 'a' : 'p';
            if (j->cas) {
                reqs[n] = (st_req){ .opcode = ST_OP_SETQ, .key = j->key, .extlen = 8,
                                    .val = j->val + 1, .vlen = j->vlen - 1, .cas = j->cas };
                st_put_exp(reqs[n].extras + 4, exp);
            } else if (j->add) {
                reqs[n] = (st_req){ .opcode = ST_OP_ADDQ, .key = j->key, .extlen = 8,
                                    .val = j->val + 1, .vlen = j->vlen - 1 };
                st_put_exp(reqs[n].extras + 4, exp);
            } else {
                reqs[n] = (st_req){ .opcode = ST_OP_APPENDQ, .key = j->key, .val = j->val,
                                    .vlen = j->vlen };
            }
            n++;
        }
    return n;
}

/* After a round: switch add/append, move full links on, mark the rest done. */
static int after_round(const tlsrpt_store *st, ix_jobs *J, const st_sets *ss)
{
    size_t n = J->n;
    for (size_t k = 0; k < n; k++) {
        ix_job *j = &J->v[k];
        if (j->done)
            continue;
        if (j->full) {
            unsigned link = ++J->top[j->set];
            if (add_token(st, J, ss, j->set, link) < 0)
                return -1;
            j = &J->v[k];       /* add_token may have moved the array */
            if (tlsrpt_set_link_key(j->key, sizeof j->key, st->prefix, ss->s[j->set].key, link) < 0)
                return -1;
            j->link = link;
            j->add = 1;
        } else if (j->again && j->cas) {
            j->cas = 0;         /* someone else migrated it (or it changed): append ours */
        } else if (j->again && !j->tokens && !j->copy) {
            j->add = !j->add;
        } else {                /* written (a copy that was there, a token append to a
                                   vanished link 0: moot) */
            j->done = 1;
        }
    }
    return 0;
}

/* Write the won members need[0..nn) into their sets' links; the first round also
   carries extra[0..n_extra) (clean-ups, best effort). */
int st_write_members(st_call *c, const st_plan *p, st_sets *ss, const size_t *need, size_t nn,
                     const st_req *extra, size_t n_extra)
{
    ix_jobs J = { NULL, 0, 0, calloc(ss->n ? ss->n : 1, sizeof *J.top),
                  malloc((ss->n ? ss->n : 1) * sizeof *J.cas_job) };
    time_t exp = st_expiry(c->st->counter_ttl);
    size_t ntk = 0;
    int rc = TLSRPT_COUNTED, maybe;
    for (size_t s = 0; s < ss->n; s++)
        ntk += p->set[s].long_lived ? ss->s[s].links + 1 : 0;
    char (*tk)[TLSRPT_KEY_MAX + 1] = calloc(ntk + 1, sizeof *tk);
    if (!J.top || !tk || !J.cas_job)
        rc = st_fail(c, "append", "(index sets)", MEMCACHED_MEMORY_ALLOCATION_FAILURE);
    for (size_t s = 0; J.cas_job && s < ss->n; s++)
        J.cas_job[s] = -1;
    for (size_t s = 0; s < ss->n && rc == TLSRPT_COUNTED; s++) {
        J.top[s] = ss->s[s].links;
        if (plan_set(c->st, p, ss, &J, s, need, nn) < 0)
            rc = st_fail(c, "append", "(index sets)", MEMCACHED_MEMORY_ALLOCATION_FAILURE);
    }
    for (int round = 0; round < ST_IX_ROUNDS && rc == TLSRPT_COUNTED; round++) {
        size_t cap = J.n + ntk + n_extra + 1, n = 0;
        st_req *reqs = calloc(cap, sizeof *reqs);
        ix_writes w = { &J, calloc(cap, sizeof *w.job_of), calloc(cap, 1), { 0, 0, 0, "" } };
        if (!reqs || !w.job_of || !w.kind) {
            rc = st_fail(c, "append", "(index sets)", MEMCACHED_MEMORY_ALLOCATION_FAILURE);
        } else {
            n = round == 0 ? touch_reqs(c->st, p, ss, &J, exp, reqs, &w, tk) : 0;
            n = write_reqs(&J, exp, reqs, &w, n);
            for (size_t e = 0; round == 0 && e < n_extra; e++, n++) {
                reqs[n] = extra[e];
                w.kind[n] = 'x';
            }
        }
        if (rc == TLSRPT_COUNTED && n == 0) {
            free(reqs), free(w.job_of), free(w.kind);
            break;
        }
        if (rc == TLSRPT_COUNTED && st_burst(c, "add/append (index sets)", reqs, n, on_writes, &w, &maybe) != 0)
            rc = TLSRPT_STORE_FAILED;
        else if (rc == TLSRPT_COUNTED && w.err.failed)
            rc = st_ix_fail(c, w.kind[w.err.req] == 'a' ? "add" : "append", reqs[w.err.req].key, &w.err, n);
        else if (rc == TLSRPT_COUNTED && after_round(c->st, &J, ss) < 0)
            rc = st_fail(c, "append", "(index sets)", MEMCACHED_MEMORY_ALLOCATION_FAILURE);
        free(reqs), free(w.job_of), free(w.kind);
    }
    for (size_t k = 0; k < J.n && rc == TLSRPT_COUNTED; k++)
        if (!J.v[k].done) {
            ix_err e = { 1, 0, ST_ST_NOT_STORED, "not stored (a link kept appearing and vanishing)" };
            rc = st_ix_fail(c, J.v[k].add ? "add" : "append", J.v[k].key, &e, J.n);
        }
    for (size_t k = 0; k < J.n; k++)
        free(J.v[k].val);
    free(J.v), free(J.top), free(J.cas_job), free(tk);
    return rc;
}
