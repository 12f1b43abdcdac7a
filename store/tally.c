/*
 * tally.c - the rebuild's recount in memory (issue 10): every counter, index
 * set, dedup marker and label that the reports fed to it would have written,
 * computed by the same planning code as live counting (st_plan_build, the
 * budgets, st_emit), with "already there" judged against the tally itself
 * (and, with TLSRPT_TALLY_KNOWN_DOMAINS, the domains memcached already lists).
 * Reports are deduplicated by identity and report-id across every archive fed,
 * as the live marker does. rebuild.c writes the result.
 * Feed the reports in archive order (arrival day, then id) so the budgets see
 * them in the order the milter did.
 * Limits: memory grows with the distinct keys and reports (about 150 bytes a
 * counter, 100 a report).
 * Errors: TLSRPT_STORE_FAILED with errbuf on out of memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "store_int.h"
#include "tally.h"

/* FNV-1a of a key. */
static size_t khash(const char *k)
{
    uint64_t h = 1469598103934665603ull;
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 1099511628211ull;
    return (size_t)h;
}

/* Entry index of key, or -1. */
long tl_find(const tl_map *m, const char *key)
{
    if (!m->tcap)
        return -1;
    for (size_t h = khash(key) & (m->tcap - 1); m->tab[h]; h = (h + 1) & (m->tcap - 1))
        if (strcmp(m->e[m->tab[h] - 1].key, key) == 0)
            return (long)(m->tab[h] - 1);
    return -1;
}

/* Rehash into a table of twice the entries; -1 on out of memory. */
static int tl_grow(tl_map *m)
{
    size_t nc = m->tcap ? 2 * m->tcap : 256;
    size_t *nt = calloc(nc, sizeof *nt);
    if (!nt)
        return -1;
    for (size_t i = 0; i < m->n; i++) {
        size_t h = khash(m->e[i].key) & (nc - 1);
        while (nt[h])
            h = (h + 1) & (nc - 1);
        nt[h] = i + 1;
    }
    free(m->tab);
    m->tab = nt;
    m->tcap = nc;
    return 0;
}

/* Entry of key, created (zeroed) when missing; NULL on out of memory. */
tl_ent *tl_put(tl_map *m, const char *key)
{
    long i = tl_find(m, key);
    if (i >= 0)
        return &m->e[i];
    if ((2 * (m->n + 1) > m->tcap && tl_grow(m) < 0))
        return NULL;
    if (m->n == m->cap) {
        size_t nc = m->cap ? 2 * m->cap : 256;
        tl_ent *ne = realloc(m->e, nc * sizeof *ne);
        if (!ne)
            return NULL;
        m->e = ne;
        m->cap = nc;
    }
    tl_ent *e = &m->e[m->n];
    memset(e, 0, sizeof *e);
    if (!(e->key = strdup(key)))
        return NULL;
    size_t h = khash(key) & (m->tcap - 1);
    while (m->tab[h])
        h = (h + 1) & (m->tcap - 1);
    m->tab[h] = ++m->n;
    return e;
}

/* Free a map and what its entries own. */
void tl_free(tl_map *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->e[i].key);
        free(m->e[i].str);
        tlsrpt_members_free(&m->e[i].mem);
    }
    free(m->e);
    free(m->tab);
    memset(m, 0, sizeof *m);
}

/* A new tally for store st (prefix, allow-list, budgets; st must outlive it). */
tlsrpt_tally *tlsrpt_tally_new(tlsrpt_store *st, unsigned flags, char *errbuf, size_t errlen)
{
    tlsrpt_tally *t = st ? calloc(1, sizeof *t) : NULL;
    char key[TLSRPT_KEY_MAX + 1];
    if (!t) {
        snprintf(errbuf, errlen, st ? "out of memory" : "tlsrpt_tally_new: no store");
        return NULL;
    }
    t->st = st;
    if (flags & TLSRPT_TALLY_KNOWN_DOMAINS) {
        char e[256] = "no free memcached connection";
        memcached_st *mc = st_pool_fetch(st, e, sizeof e);
        tlsrpt_key_build(key, sizeof key, st->prefix, (const char *const[]){ "domains" }, 1);
        int rc = mc ? tlsrpt_store_set_read(mc, st->prefix, key, &t->known_domains, e, sizeof e) : -1;
        if (mc)
            memcached_pool_release(st->pool, mc);
        if (rc < 0) {
            snprintf(errbuf, errlen, "reading the known domains: %s", e);
            free(t);
            return NULL;
        }
    }
    return t;
}

/* Free a tally (NULL is fine). */
void tlsrpt_tally_free(tlsrpt_tally *t)
{
    if (!t)
        return;
    tl_free(&t->ctr);
    tl_free(&t->set);
    tl_free(&t->seen);
    tl_free(&t->label);
    tl_free(&t->rep);
    tlsrpt_members_free(&t->known_domains);
    free(t);
}

/* The budget's view of the tally: is member in the plan's set? */
typedef struct tl_view {
    tlsrpt_tally *t;
    const st_plan *p;
} tl_view;

/* View: the member is listed in the tally (or, for P domains, known from memcached). */
static int tv_known(void *arg, size_t set, const char *member)
{
    tl_view *v = arg;
    long i = tl_find(&v->t->set, v->p->set[set].key);
    if (i >= 0 && st_members_has(&v->t->set.e[i].mem, member))
        return 1;
    return set == ST_SET_DOMAINS && st_members_has(&v->t->known_domains, member);
}

/* View: the set exists in the tally (or memcached lists domains). */
static int tv_exists(void *arg, size_t set)
{
    tl_view *v = arg;
    return tl_find(&v->t->set, v->p->set[set].key) >= 0
           || (set == ST_SET_DOMAINS && v->t->known_domains.n > 0);
}

/* View: how many members the tally's set lists. */
static size_t tv_members(void *arg, size_t set)
{
    tl_view *v = arg;
    long i = tl_find(&v->t->set, v->p->set[set].key);
    return i >= 0 ? v->t->set.e[i].mem.n : 0;
}

/* Saturating add. */
static uint64_t sat(uint64_t a, uint64_t b)
{
    return a > (uint64_t)INT64_MAX - b ? (uint64_t)INT64_MAX : a + b;
}

/* Add the plan's keys to the tally; 0 or -1 on out of memory. */
static int tally_apply(tlsrpt_tally *t, const st_plan *p, const tlsrpt_count_req *q)
{
    for (size_t i = 0; i < p->n_ctr; i++) {
        tl_ent *e = tl_put(&t->ctr, p->ctr[i].key);
        if (!e)
            return -1;
        e->v = sat(e->v, p->ctr[i].delta);
        if (strncmp(p->ctr[i].key + strlen(t->st->prefix), "arr:", 4) != 0)
            memcpy(e->day, p->Y, sizeof e->day);       /* a report-day key */
    }
    for (size_t i = 0; i < p->n_mem; i++) {
        const st_pset *ps = &p->set[p->mem[i].set];
        tl_ent *e = tl_put(&t->set, ps->key);
        if (!e)
            return -1;
        e->ll = (unsigned char)ps->long_lived;
        if (!ps->long_lived)
            memcpy(e->day, p->Y, sizeof e->day);
        st_members_add(&e->mem, p->mem[i].member, strlen(p->mem[i].member));
        if (e->mem.oom)
            return -1;
    }
    tl_ent *s = tl_put(&t->seen, p->seen_key), *r = tl_put(&t->rep, p->rep_key);
    if (!s || !r)
        return -1;
    free(s->str);
    char v[128];
    snprintf(v, sizeof v, "%s rebuilt", q->entry_id ? q->entry_id : "-");
    s->str = strdup(v);
    r->v += p->rep_new;
    if (p->label_key[0]) {
        tl_ent *l = tl_put(&t->label, p->label_key);
        if (!l)
            return -1;
        free(l->str);
        l->str = strndup(p->label_val, p->label_len);
    }
    t->reports++;
    return 0;
}

/* Add one report for request q (NULL = defaults) as live counting would. */
int tlsrpt_tally_add(tlsrpt_tally *t, const tlsrpt_report *r, const tlsrpt_count_req *q,
                     tlsrpt_count_info *info, char *errbuf, size_t errlen)
{
    static const tlsrpt_count_req none;
    tlsrpt_count_info dummy;
    char nobuf[8];
    st_plan p;
    if (!info)
        info = &dummy;
    if (!errbuf || !errlen)
        errbuf = nobuf, errlen = sizeof nobuf;
    memset(info, 0, sizeof *info);
    q = q ? q : &none;
    int rc = st_plan_build(t->st, r, q, &p, info, errbuf, errlen);
    if (rc != TLSRPT_COUNTED)
        return rc;
    if (tl_find(&t->seen, p.seen_key) >= 0) {
        t->dups++;
        st_plan_free(&p);
        return TLSRPT_DUPLICATE;
    }
    tl_view tv = { t, &p };
    long ri = tl_find(&t->rep, p.rep_key);
    st_view v = { tv_known, tv_exists, tv_members, &tv, ri >= 0 ? t->rep.e[ri].v : 0 };
    size_t overhead = 2 + (p.label_key[0] != 0) + (p.host[0] ? 3 : 0);
    if (st_budget(t->st, &p, &v, overhead, info) == 0) {
        snprintf(info->reason, sizeof info->reason, "too-many-domains");
        snprintf(errbuf, errlen, "nothing left to count: %s", info->folded.text);
        st_plan_free(&p);
        return TLSRPT_NOT_COUNTABLE;
    }
    if ((st_budget_folded(&p) && st_emit(t->st, &p) < 0) || tally_apply(t, &p, q) < 0) {
        snprintf(errbuf, errlen, "tally: out of memory");
        snprintf(info->reason, sizeof info->reason, "out-of-memory");
        st_plan_free(&p);
        return TLSRPT_STORE_FAILED;
    }
    st_plan_sums(&p);
    info->ok = p.ok;
    info->fail = p.fail;
    info->n_domains = p.n_domains;
    memcpy(info->domains, p.domains, sizeof info->domains);
    st_plan_free(&p);
    return TLSRPT_COUNTED;
}

/* Add one report candidate not counted (P nc:A:REASON += 1 and its index members). */
int tlsrpt_tally_not_counted(tlsrpt_tally *t, time_t arrival, const char *reason)
{
    char A[11], key[TLSRPT_KEY_MAX + 1];
    const char *pf = t->st->prefix;
    st_day_of(arrival ? arrival : time(NULL), A);
    if (!reason || !reason[0] || strlen(reason) > 63 || strspn(reason, "abcdefghijklmnopqrstuvwxyz0123456789-")
                                                          != strlen(reason))
        return -1;
    tl_ent *e;
    if (tlsrpt_key_build(key, sizeof key, pf, (const char *const[]){ "nc", A, reason }, 3) < 0
        || !(e = tl_put(&t->ctr, key)))
        return -1;
    e->v = sat(e->v, 1);
    strcpy(e->day, "nc");
    if (tlsrpt_key_build(key, sizeof key, pf, (const char *const[]){ "nc", "days" }, 2) < 0
        || !(e = tl_put(&t->set, key)))
        return -1;
    e->ll = 1;
    st_members_add(&e->mem, A, strlen(A));
    if (tlsrpt_key_build(key, sizeof key, pf, (const char *const[]){ "nc", A, "reasons" }, 3) < 0
        || !(e = tl_put(&t->set, key)))
        return -1;
    strcpy(e->day, "nc");
    st_members_add(&e->mem, reason, strlen(reason));
    return e->mem.oom ? -1 : 0;
}
