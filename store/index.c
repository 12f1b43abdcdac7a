/*
 * index.c - keep the index sets of key schema v1 (P domains, P d:D:days,
 * P d:D:Y:orgs|types|mxs): each value is members separated by single
 * spaces, each member at most once even when many processes add the same
 * member at the same time.
 *
 * How: store.c reads every set this report touches in the same burst as
 * the dedup marker (st_sets_*). A member already in its set costs nothing.
 * For the missing ones, one burst of quiet adds creates a marker key P ix:H
 * each (H = 32 hex of SHA-256(set key NUL member)); an answer means the
 * marker was there: someone else writes that member. Only the winners are
 * written, grouped per set, in one more burst: a quiet `add` of the set
 * with "m1 m2 ..." when phase 1 saw it missing, else a quiet `append` of
 * " m1 m2 ..." (+ `touch` for long-lived sets so they outlive their
 * markers). A set that answers exists / not stored is tried again with the
 * other operation in another burst (at most 4 in all). Each operation
 * stores all or nothing, and no burst is resent after a lost connection,
 * so a member is never written twice.
 * Markers live ST_MARKER_TTL seconds: long enough to cover the race, short
 * enough that a member whose writer died before appending comes back later.
 * Limits: members <= ST_COMP_MAX bytes (a domain: its full encoding, <= 253);
 * a set is bounded by memcached's item size (1 MB default; append fails
 * beyond it -> STORE_FAILED); per report the bursts hold every new member
 * (the plan caps members at ST_MAX_OPS).
 * Errors: TLSRPT_STORE_FAILED with errbuf naming the key and operation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store_int.h"
#include "sha256.h"

/* Is member one of the space-separated tokens of v? */
int st_has_member(const char *v, const char *member)
{
    size_t ml = strlen(member);
    for (const char *p = v; p && *p; ) {
        while (*p == ' ')
            p++;
        size_t tl = strcspn(p, " ");
        if (tl == ml && memcmp(p, member, ml) == 0)
            return 1;
        p += tl;
    }
    return 0;
}

/* Marker key of (set, member). */
static int marker_key(const tlsrpt_store *st, const st_plan *p, const st_member *m, char *out,
                      size_t outlen)
{
    tlsrpt_sha256_ctx c;
    unsigned char d[TLSRPT_SHA256_LEN];
    char hex[33];
    const char *set = p->set[m->set].key;
    tlsrpt_sha256_init(&c);
    tlsrpt_sha256_update(&c, set, strlen(set) + 1);
    tlsrpt_sha256_update(&c, m->member, strlen(m->member));
    tlsrpt_sha256_final(&c, d);
    tlsrpt_hex(hex, d, 16);
    return tlsrpt_key_build(out, outlen, st->prefix, (const char *const[]){ "ix", hex }, 2);
}

/* One state per set of the plan (same order); 0 or -1 on out of memory. */
int st_sets_init(st_sets *ss, const st_plan *p)
{
    ss->n = p->n_set;
    ss->s = calloc(p->n_set ? p->n_set : 1, sizeof *ss->s);
    if (!ss->s)
        return -1;
    for (size_t i = 0; i < p->n_set; i++)
        ss->s[i].key = p->set[i].key;
    return 0;
}

/* Remember the value read for set i; -1 on out of memory. */
int st_sets_got(st_sets *ss, size_t i, const char *val, size_t vlen)
{
    if (i >= ss->n || ss->s[i].value)
        return 0;
    ss->s[i].value = malloc(vlen + 1);
    if (!ss->s[i].value)
        return -1;
    memcpy(ss->s[i].value, val, vlen);
    ss->s[i].value[vlen] = 0;
    ss->s[i].exists = 1;
    return 0;
}

/* Release the values read. */
void st_sets_free(st_sets *ss)
{
    for (size_t i = 0; i < ss->n; i++)
        free(ss->s[i].value);
    free(ss->s);
    ss->s = NULL;
    ss->n = 0;
}

/* The first failed answer of an index burst. */
typedef struct ix_err {
    int failed;
    size_t req;
    unsigned status;
    char msg[128];
} ix_err;

/* Remember answer a as a failure (only the first one is kept in detail). */
static void ix_note(ix_err *e, const st_ans *a)
{
    if (e->failed++ == 0) {
        e->req = a->req;
        e->status = a->status;
        snprintf(e->msg, sizeof e->msg, "%.*s", (int)(a->vlen < 100 ? a->vlen : 100), a->val);
    }
}

/* errbuf for a failed answer of an index burst; returns TLSRPT_STORE_FAILED. */
static int ix_fail(st_call *c, const char *op, const char *key, const ix_err *e, size_t n)
{
    snprintf(c->errbuf, c->errlen, "memcached %s %s failed: %s (status 0x%04x; %d of %zu failed)",
             op, key, e->msg[0] ? e->msg : "error", e->status, e->failed, n);
    snprintf(c->info->reason, sizeof c->info->reason, "store-unavailable");
    return TLSRPT_STORE_FAILED;
}

/* Store a 32-bit expiry big-endian at p. */
static void put_exp(unsigned char *p, time_t exp)
{
    uint32_t v = (uint32_t)exp;
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (24 - 8 * i));
}

/* Answers of the marker burst: which markers were already there, and the reporter's
   new-domain count (request n, when asked). */
typedef struct ix_marks {
    unsigned char *lost;        /* per request: someone else holds this marker */
    size_t n;                   /* marker requests */
    st_rep *rep;
    ix_err err;
} ix_marks;

/* Burst callback of the marker burst (ADDQ answers only when not stored). */
static void on_marks(void *arg, const st_ans *a)
{
    ix_marks *m = arg;
    if (a->req == m->n && m->rep) {
        if (a->status == 0 && a->vlen == 8) {
            m->rep->answered = 1;
            for (int i = 0; i < 8; i++)
                m->rep->total = m->rep->total << 8 | (unsigned char)a->val[i];
        } else if (a->status != 0) {
            ix_note(&m->err, a);
        }
    } else if (a->status == ST_ST_EXISTS || a->status == ST_ST_NOT_STORED)
        m->lost[a->req] = 1;
    else if (a->status != 0)
        ix_note(&m->err, a);
}

/* The reporter's increment (request of the marker burst): +add, created with add. */
static void rep_req(st_req *r, const st_rep *rep)
{
    *r = (st_req){ .opcode = ST_OP_INCREMENT, .key = rep->key, .extlen = 20 };
    for (int b = 0; b < 8; b++) {
        r->extras[b] = (unsigned char)(rep->add >> (56 - 8 * b));
        r->extras[8 + b] = r->extras[b];
    }
    put_exp(r->extras + 16, st_expiry(ST_REP_TTL));
}

/* One burst of marker adds for need[0..*nn) (and the reporter's increment); keeps in
   need only the ones we won; mk gets every marker key. */
static int take_markers(st_call *c, const st_plan *p, size_t *need, size_t *nn, st_rep *rep,
                        char (*mk)[TLSRPT_KEY_MAX + 1])
{
    st_req *reqs = calloc(*nn + 1, sizeof *reqs);
    ix_marks m = { calloc(*nn, 1), *nn, rep && rep->add ? rep : NULL, { 0, 0, 0, "" } };
    long mttl = c->st->counter_ttl > 0 && c->st->counter_ttl < ST_MARKER_TTL
                    ? c->st->counter_ttl : ST_MARKER_TTL;
    int rc = TLSRPT_COUNTED, maybe;
    if (!mk || !reqs || !m.lost)
        rc = st_fail(c, "add", "(index markers)", MEMCACHED_MEMORY_ALLOCATION_FAILURE);
    for (size_t k = 0; k < *nn && rc == TLSRPT_COUNTED; k++) {
        if (marker_key(c->st, p, &p->mem[need[k]], mk[k], sizeof mk[k]) < 0)
            rc = st_fail(c, "build-key", p->set[p->mem[need[k]].set].key, MEMCACHED_FAILURE);
        reqs[k] = (st_req){ .opcode = ST_OP_ADDQ, .key = mk[k], .extlen = 8, .val = "1", .vlen = 1 };
        put_exp(reqs[k].extras + 4, st_expiry(mttl));
    }
    if (m.rep && reqs)
        rep_req(&reqs[*nn], m.rep);
    if (rc == TLSRPT_COUNTED && st_burst(c, "add (index markers)", reqs, *nn + (m.rep != NULL),
                                         on_marks, &m, &maybe) != 0)
        rc = TLSRPT_STORE_FAILED;
    else if (rc == TLSRPT_COUNTED && m.err.failed)
        rc = ix_fail(c, m.err.req == *nn ? "incr" : "add", reqs[m.err.req].key, &m.err, *nn);
    if (rc == TLSRPT_COUNTED) {
        size_t w = 0;
        for (size_t k = 0; k < *nn; k++)
            if (!m.lost[k]) {
                need[w] = need[k];
                memmove(mk[w++], mk[k], sizeof mk[k]);
            }
        *nn = w;
    }
    free(reqs);
    free(m.lost);
    return rc;
}

/* One set that gets members whose markers this call won. */
typedef struct ix_job {
    st_set_state *s;
    char *val;                  /* " m1 m2 ...": append sends it all, add skips the space */
    size_t vlen;
    int long_lived;
    int add;                    /* next write: 1 = add the set, 0 = append to it */
    int again;                  /* the last write found the set missing / existing */
    int done;
} ix_job;

/* Group the won members by set: jobs[k] for set state k; -1 on out of memory. */
static int build_jobs(const st_plan *p, st_sets *ss, const size_t *won, size_t nw, ix_job *jobs)
{
    size_t *len = calloc(ss->n ? ss->n : 1, sizeof *len);
    if (!len)
        return -1;
    for (size_t k = 0; k < nw; k++)
        len[p->mem[won[k]].set] += 1 + strlen(p->mem[won[k]].member);
    for (size_t j = 0; j < ss->n; j++) {
        jobs[j].s = &ss->s[j];
        jobs[j].add = !ss->s[j].exists;
        jobs[j].done = len[j] == 0;
        jobs[j].long_lived = p->set[j].long_lived;
        if (len[j] && !(jobs[j].val = malloc(len[j] + 1))) {
            free(len);
            return -1;
        }
    }
    free(len);
    for (size_t k = 0; k < nw; k++) {
        const st_member *m = &p->mem[won[k]];
        ix_job *j = &jobs[m->set];
        size_t ml = strlen(m->member);
        j->val[j->vlen] = ' ';
        memcpy(j->val + j->vlen + 1, m->member, ml + 1);
        j->vlen += 1 + ml;
    }
    return 0;
}

/* Answers of a set-write burst. */
typedef struct ix_writes {
    ix_job *jobs;
    size_t *job_of;             /* per request: its job */
    char *kind;                 /* per request: 'a' add, 'p' append, 't' touch */
    size_t n_job_reqs;          /* requests after these are clean-ups (round 0 only) */
    ix_err err;
} ix_writes;

/* Burst callback of a set-write burst (ADDQ/APPENDQ answer only when not stored). */
static void on_writes(void *arg, const st_ans *a)
{
    ix_writes *w = arg;
    if (a->req >= w->n_job_reqs || a->status == 0)
        return;                 /* a touch that worked, or a clean-up request (best effort) */
    ix_job *j = &w->jobs[w->job_of[a->req]];
    char k = w->kind[a->req];
    if (k == 'a' ? a->status == ST_ST_EXISTS || a->status == ST_ST_NOT_STORED
                 : a->status == ST_ST_NOT_FOUND || a->status == ST_ST_NOT_STORED)
        j->again = 1;           /* someone created the set / it is gone: switch */
    else
        ix_note(&w->err, a);
}

/* The requests of one set-write round for the pending jobs; returns how many. */
static size_t write_reqs(ix_job *jobs, size_t nj, time_t exp, st_req *reqs, ix_writes *w)
{
    size_t n = 0;
    for (size_t j = 0; j < nj; j++) {
        if (jobs[j].done)
            continue;
        jobs[j].again = 0;
        w->job_of[n] = j;
        w->kind[n] = jobs[j].add ? 'a' : 'p';
        if (jobs[j].add) {
            reqs[n] = (st_req){ .opcode = ST_OP_ADDQ, .key = jobs[j].s->key, .extlen = 8,
                                .val = jobs[j].val + 1, .vlen = jobs[j].vlen - 1 };
            put_exp(reqs[n].extras + 4, exp);
        } else {
            reqs[n] = (st_req){ .opcode = ST_OP_APPENDQ, .key = jobs[j].s->key,
                                .val = jobs[j].val, .vlen = jobs[j].vlen };
        }
        n++;
        if (!jobs[j].add && jobs[j].long_lived && exp) {
            w->job_of[n] = j;
            w->kind[n] = 't';
            reqs[n] = (st_req){ .opcode = ST_OP_TOUCH, .key = jobs[j].s->key, .extlen = 4 };
            put_exp(reqs[n].extras, exp);
            n++;
        }
    }
    return n;
}

/* Write every job's members: add the set or append to it, one burst per round; the
   first round also carries the n_extra clean-up requests. */
static int write_sets(st_call *c, ix_job *jobs, size_t nj, const st_req *extra, size_t n_extra)
{
    st_req *reqs = calloc(2 * nj + n_extra, sizeof *reqs);
    ix_writes w = { jobs, calloc(2 * nj, sizeof *w.job_of), calloc(2 * nj, 1), 0, { 0, 0, 0, "" } };
    time_t exp = st_expiry(c->st->counter_ttl);
    int rc = TLSRPT_COUNTED, maybe;
    size_t n = 0;
    if (!reqs || !w.job_of || !w.kind)
        rc = st_fail(c, "append", "(index sets)", MEMCACHED_MEMORY_ALLOCATION_FAILURE);
    for (int round = 0; round < 4 && rc == TLSRPT_COUNTED; round++) {
        w.n_job_reqs = n = write_reqs(jobs, nj, exp, reqs, &w);
        if (round == 0 && n_extra)
            memcpy(reqs + n, extra, n_extra * sizeof *extra);
        n += round == 0 ? n_extra : 0;
        if (n == 0)
            break;
        if (st_burst(c, "add/append (index sets)", reqs, n, on_writes, &w, &maybe) != 0)
            rc = TLSRPT_STORE_FAILED;
        else if (w.err.failed)
            rc = ix_fail(c, w.kind[w.err.req] == 'a' ? "add" : w.kind[w.err.req] == 'p' ? "append"
                         : "touch", reqs[w.err.req].key, &w.err, n);
        for (size_t j = 0; j < nj && rc == TLSRPT_COUNTED; j++) {
            if (jobs[j].done)
                continue;
            jobs[j].add = jobs[j].again ? !jobs[j].add : jobs[j].add;
            jobs[j].done = !jobs[j].again;
            jobs[j].s->exists = jobs[j].s->exists || jobs[j].done;
        }
        n = 0;
    }
    for (size_t j = 0; j < nj && rc == TLSRPT_COUNTED; j++)
        if (!jobs[j].done) {
            ix_err e = { 1, 0, ST_ST_NOT_STORED, "not stored (set full, or it kept appearing and vanishing)" };
            rc = ix_fail(c, jobs[j].add ? "add" : "append", jobs[j].s->key, &e, nj);
        }
    free(reqs);
    free(w.job_of);
    free(w.kind);
    return rc;
}

/* After the marker burst: when the reporter's count went past its limit (another
   report of the same reporter took part of the allowance meanwhile), drop the last new
   domains (budget.c), take their won members out of need, and fill extra with the
   deletes of their markers and the decrement of the count; returns how many extras. */
static size_t rep_overshoot(st_plan *p, st_rep *rep, size_t *need, size_t *nn,
                            char (*mk)[TLSRPT_KEY_MAX + 1], st_req *extra, tlsrpt_count_info *info)
{
    size_t n_extra = 0, w = 0;
    if (!rep || !rep->answered || rep->total <= rep->limit)
        return 0;
    uint64_t over = rep->total - rep->limit;
    size_t dropped = st_budget_unnew(p, over < rep->add ? (size_t)over : rep->add, info);
    for (size_t k = 0; k < *nn; k++) {
        long d = p->mem[need[k]].dom;
        if (d >= 0 && p->dom[d].drop)
            extra[n_extra++] = (st_req){ .opcode = ST_OP_DELETEQ, .key = mk[k] };
        else {
            need[w] = need[k];
            memmove(mk[w++], mk[k], sizeof mk[k]);
        }
    }
    *nn = w;
    if (dropped) {
        st_req *r = &extra[n_extra++];
        *r = (st_req){ .opcode = ST_OP_DECREMENTQ, .key = rep->key, .extlen = 20 };
        for (int b = 0; b < 8; b++)
            r->extras[b] = (unsigned char)((uint64_t)dropped >> (56 - 8 * b));
        put_exp(r->extras + 16, st_expiry(ST_REP_TTL));
    }
    return n_extra;
}

/* Make sure every member of the plan is in its set (values already read into ss):
   one burst for the markers of the new members (with the reporter's increment), one
   (rarely more) for the sets. */
int st_index_write(st_call *c, st_plan *p, st_sets *ss, st_rep *rep)
{
    size_t *need = malloc((p->n_mem ? p->n_mem : 1) * sizeof *need), nn = 0, n_extra = 0;
    char (*mk)[TLSRPT_KEY_MAX + 1] = calloc(p->n_mem ? p->n_mem : 1, sizeof *mk);
    st_req *extra = calloc(p->n_mem + 1, sizeof *extra);
    ix_job *jobs = NULL;
    int rc = TLSRPT_COUNTED;
    if (!need || !mk || !extra) {
        free(need), free(mk), free(extra);
        return st_fail(c, "add", "(index markers)", MEMCACHED_MEMORY_ALLOCATION_FAILURE);
    }
    for (size_t i = 0; i < p->n_mem; i++) {
        const st_set_state *s = &ss->s[p->mem[i].set];
        if (!(s->value && st_has_member(s->value, p->mem[i].member)))
            need[nn++] = i;
    }
    if (rc == TLSRPT_COUNTED && nn > 0)
        rc = take_markers(c, p, need, &nn, rep, mk);
    if (rc == TLSRPT_COUNTED)
        n_extra = rep_overshoot(p, rep, need, &nn, mk, extra, c->info);
    if (rc == TLSRPT_COUNTED && nn + n_extra > 0) {
        if (!(jobs = calloc(ss->n, sizeof *jobs)) || build_jobs(p, ss, need, nn, jobs) != 0)
            rc = st_fail(c, "append", "(index sets)", MEMCACHED_MEMORY_ALLOCATION_FAILURE);
        else
            rc = write_sets(c, jobs, ss->n, extra, n_extra);
    }
    for (size_t j = 0; jobs && j < ss->n; j++)
        free(jobs[j].val);
    free(jobs);
    free(need);
    free(mk);
    free(extra);
    return rc;
}
