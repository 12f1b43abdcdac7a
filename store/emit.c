/*
 * emit.c - build the keys of a plan's domains (key schema v2): per counted
 * domain D and report day Y
 *   d:D:Y:ok / fail / reports / mode:M           always (+0 still written)
 *   d:D:Y:ptype:T:ok / fail                      for each policy type T present
 *   d:D:Y:org:ORG:ok / fail                      always
 *   d:D:Y:type:RT, d:D:Y:mx:MX:fail              when > 0
 * and the index members P domains <- D, P d:D:days <- Y, d:D:Y:orgs <- ORG,
 * d:D:Y:types <- RT, d:D:Y:mxs <- MX; with a host id H, P arr:A:H:counted += 1
 * (A = arrival day) and P hosts:Y <- H. Keys and members are unique by
 * construction (the plan merged every sum first), so nothing is sorted.
 * The budget's decisions (budget.c) are applied here: a dropped domain gets
 * no key (its 4 sets are still listed, so set i of a domain stays at
 * ST_SET_*(i)), a folded org or MX counts under "~other", a dropped one not.
 * Limits: ST_MAX_OPS counters + members per report.
 * Errors: -1 on out of memory, a key that cannot be built, or too many keys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store_int.h"

static const char *const type_names[ST_N_TYPES + 1] = {
    "starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
    "certificate-not-trusted", "validation-failure", "tlsa-invalid", "dnssec-invalid",
    "dane-required", "sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid",
    "other"
};
static const char *const ptype_names[ST_PT_N] = { "sts", "tlsa", "no-policy-found", "other" };

/* The result type name of index t. */
const char *st_type_name(size_t t)
{
    return type_names[t <= ST_N_TYPES ? t : ST_N_TYPES];
}

/* The policy type name of class i. */
const char *st_ptype_name(size_t i)
{
    return ptype_names[i < ST_PT_N ? i : ST_PT_N - 1];
}

/* Grow *v (cap *cap, elements of size sz) to hold one more; -1 on out of memory. */
static int grow(void **v, size_t *cap, size_t n, size_t sz, size_t first)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : first;
    void *nv = realloc(*v, nc * sz);
    if (!nv)
        return -1;
    *v = nv;
    *cap = nc;
    return 0;
}

/* The key "P d:D:Y:" that most counters of a domain start with. */
typedef struct kbase {
    char buf[TLSRPT_KEY_MAX + 1];
    size_t len;
    long dom;                   /* the domain it is of */
} kbase;

/* Build key = base + comps[3..n) joined by ':' when that fits in 250 bytes (then it is
   what tlsrpt_key_build gives: it shortens only longer keys), else tlsrpt_key_build of
   all of comps. Length or -1. */
static int fast_key(const tlsrpt_store *st, const kbase *kb, char *out, const char *const *comps,
                    size_t n)
{
    size_t len = kb ? kb->len : 0, l[16];
    for (size_t i = 3; kb && kb->len && i < n && i < 16; i++)
        len += (l[i] = strlen(comps[i])) + (i + 1 < n);
    if (!kb || !kb->len || n > 16 || len > TLSRPT_KEY_MAX)
        return tlsrpt_key_build(out, TLSRPT_KEY_MAX + 1, st->prefix, comps, n);
    memcpy(out, kb->buf, kb->len);
    size_t o = kb->len;
    for (size_t i = 3; i < n; i++) {
        memcpy(out + o, comps[i], l[i]);
        o += l[i];
        if (i + 1 < n)
            out[o++] = ':';
    }
    out[o] = 0;
    return (int)o;
}

/* The per-domain key base for (D, Y) of domain dom; len 0 when it would not fit. */
static const kbase *make_base(const tlsrpt_store *st, kbase *kb, const char *D, const char *Y,
                              long dom)
{
    size_t pl = strlen(st->prefix), dl = strlen(D), yl = strlen(Y);
    kb->len = 0;
    kb->dom = dom;
    if (pl + 2 + dl + 1 + yl + 1 >= sizeof kb->buf)
        return kb;              /* too long for the fast path: tlsrpt_key_build */
    memcpy(kb->buf, st->prefix, pl);
    memcpy(kb->buf + pl, "d:", 2);
    memcpy(kb->buf + pl + 2, D, dl);
    kb->buf[pl + 2 + dl] = ':';
    memcpy(kb->buf + pl + 3 + dl, Y, yl);
    kb->buf[pl + 3 + dl + yl] = ':';
    kb->len = pl + 4 + dl + yl;
    kb->buf[kb->len] = 0;
    return kb;
}

/* Append a counter built from comps (comps 0..2 = "d", D, Y when kb is given);
   -1 when out of memory / too many keys. */
static int add_ctr_b(const tlsrpt_store *st, st_plan *p, const kbase *kb, const char *const *comps,
                     size_t n, uint64_t delta, int keep_zero)
{
    if (delta == 0 && !keep_zero)
        return 0;
    if (p->n_ctr + p->n_mem >= ST_MAX_OPS
        || grow((void **)&p->ctr, &p->cap_ctr, p->n_ctr, sizeof *p->ctr, 48) < 0)
        return -1;
    st_counter *c = &p->ctr[p->n_ctr];
    if (fast_key(st, kb, c->key, comps, n) < 0)
        return -1;
    c->delta = delta;
    c->keep_zero = keep_zero;
    c->dom = kb ? kb->dom : -1;
    p->n_ctr++;
    return 0;
}

/* Append a counter built from comps; -1 when out of memory / too many keys. */
static int add_ctr(const tlsrpt_store *st, st_plan *p, const char *const *comps, size_t n,
                   uint64_t delta, int keep_zero)
{
    if (delta == 0 && !keep_zero)
        return 0;
    if (p->n_ctr + p->n_mem >= ST_MAX_OPS
        || grow((void **)&p->ctr, &p->cap_ctr, p->n_ctr, sizeof *p->ctr, 48) < 0)
        return -1;
    st_counter *c = &p->ctr[p->n_ctr];
    if (tlsrpt_key_build(c->key, sizeof c->key, st->prefix, comps, n) < 0)
        return -1;
    c->delta = delta;
    c->keep_zero = keep_zero;
    c->dom = -1;
    p->n_ctr++;
    return 0;
}

/* Append a set (key from comps); its index, or -1. */
static long add_set(const tlsrpt_store *st, st_plan *p, const char *const *comps, size_t n,
                    int long_lived)
{
    if (grow((void **)&p->set, &p->cap_set, p->n_set, sizeof *p->set, 16) < 0)
        return -1;
    st_pset *s = &p->set[p->n_set];
    if (tlsrpt_key_build(s->key, sizeof s->key, st->prefix, comps, n) < 0)
        return -1;
    s->long_lived = long_lived;
    return (long)p->n_set++;
}

/* Append a member of set index set for domain dom, anchored by counter index anchor
   (or ST_ANCHOR_*); -1 when out of memory / too many. */
static int add_mem(st_plan *p, long set, const char *member, long dom, long anchor)
{
    if (set < 0 || p->n_ctr + p->n_mem >= ST_MAX_OPS || strlen(member) >= ST_DOMAIN_ENC_MAX
        || grow((void **)&p->mem, &p->cap_mem, p->n_mem, sizeof *p->mem, 32) < 0)
        return -1;
    p->mem[p->n_mem].set = (size_t)set;
    p->mem[p->n_mem].dom = dom;
    p->mem[p->n_mem].anchor = anchor;
    strcpy(p->mem[p->n_mem].member, member);
    p->n_mem++;
    return 0;
}

/* The index of the counter just added: the anchor of the member that follows it. */
#define LAST(p) ((long)(p)->n_ctr - 1)

/* type: and mx: counters of domain i and their members, as the budget decided. */
static int emit_failures(const tlsrpt_store *st, st_plan *p, size_t i, const kbase *kb)
{
    const st_dom *d = &p->dom[i];
    const char *D = d->D, *Y = p->Y;
    uint64_t other = 0;
    for (size_t t = 0; t <= ST_N_TYPES; t++)
        if (d->type[t] && (add_ctr_b(st, p, kb, (const char *const[]){ "d", D, Y, "type", st_type_name(t) },
                                   5, d->type[t], 0) < 0
                           || add_mem(p, ST_SET_TYPES(i), st_type_name(t), (long)i, LAST(p)) < 0))
            return -1;
    for (size_t j = 0; j < d->n_mx; j++) {
        if (d->mx[j].fold == ST_OTHER)
            other += d->mx[j].cnt;
        if (d->mx[j].fold == ST_KEEP
            && (add_ctr_b(st, p, kb, (const char *const[]){ "d", D, Y, "mx", d->mx[j].name, "fail" }, 6,
                        d->mx[j].cnt, 0) < 0
                || add_mem(p, ST_SET_MXS(i), d->mx[j].name, (long)i, LAST(p)) < 0))
            return -1;
    }
    if (other && (add_ctr_b(st, p, kb, (const char *const[]){ "d", D, Y, "mx", ST_FOLD_OTHER, "fail" }, 6,
                          other, 0) < 0 || add_mem(p, ST_SET_MXS(i), ST_FOLD_OTHER, (long)i, LAST(p)) < 0))
        return -1;
    return 0;
}

/* The 4 sets of domain i (always, so set indexes stay ST_SET_*(i)). */
static int emit_sets(const tlsrpt_store *st, st_plan *p, size_t i)
{
    const char *D = p->dom[i].D, *Y = p->Y;
    return add_set(st, p, (const char *const[]){ "d", D, "days" }, 3, 1) < 0
        || add_set(st, p, (const char *const[]){ "d", D, Y, "orgs" }, 4, 0) < 0
        || add_set(st, p, (const char *const[]){ "d", D, Y, "types" }, 4, 0) < 0
        || add_set(st, p, (const char *const[]){ "d", D, Y, "mxs" }, 4, 0) < 0 ? -1 : 0;
}

/* Every key of counted domain i. */
static int emit_domain(const tlsrpt_store *st, st_plan *p, size_t i)
{
    const st_dom *d = &p->dom[i];
    const char *D = d->D, *Y = p->Y, *O = d->org_fold == ST_OTHER ? ST_FOLD_OTHER : p->org;
    long dom = (long)i;
    kbase kbuf;
    const kbase *kb = make_base(st, &kbuf, D, Y, dom);
    if (emit_failures(st, p, i, kb) < 0
        || add_ctr_b(st, p, kb, (const char *const[]){ "d", D, Y, "ok" }, 4, d->ok, 1) < 0
        || add_ctr_b(st, p, kb, (const char *const[]){ "d", D, Y, "fail" }, 4, d->fail, 1) < 0
        || add_ctr_b(st, p, kb, (const char *const[]){ "d", D, Y, "reports" }, 4, 1, 1) < 0
        || add_mem(p, ST_SET_DAYS(i), Y, dom, LAST(p)) < 0
        || add_ctr_b(st, p, kb, (const char *const[]){ "d", D, Y, "mode", d->mode }, 5, 1, 1) < 0
        || add_mem(p, ST_SET_DOMAINS, D, dom, ST_ANCHOR_DAYS) < 0)
        return -1;
    if (d->org_fold != ST_DROP
        && (add_ctr_b(st, p, kb, (const char *const[]){ "d", D, Y, "org", O, "ok" }, 6, d->ok, 1) < 0
            || add_mem(p, ST_SET_ORGS(i), O, dom, LAST(p)) < 0
            || add_ctr_b(st, p, kb, (const char *const[]){ "d", D, Y, "org", O, "fail" }, 6, d->fail, 1) < 0))
        return -1;
    for (size_t c = 0; c < ST_PT_N; c++)
        if (d->pt_has[c]
            && (add_ctr_b(st, p, kb, (const char *const[]){ "d", D, Y, "ptype", st_ptype_name(c), "ok" },
                        6, d->pt_ok[c], 1) < 0
                || add_ctr_b(st, p, kb, (const char *const[]){ "d", D, Y, "ptype", st_ptype_name(c), "fail" },
                           6, d->pt_fail[c], 1) < 0))
            return -1;
    return 0;
}

/* Build every counter, set and member of the plan's domains. */
int st_emit(const tlsrpt_store *st, st_plan *p)
{
    p->n_ctr = p->n_mem = p->n_set = 0;
    if (add_set(st, p, (const char *const[]){ "domains" }, 1, 1) != 0)
        return -1;
    for (size_t i = 0; i < p->n_dom; i++)
        if (emit_sets(st, p, i) < 0)
            return -1;
    if (p->host[0] && add_set(st, p, (const char *const[]){ "hosts", p->Y }, 2, 0) < 0)
        return -1;
    for (size_t i = 0; i < p->n_dom; i++)
        if (!p->dom[i].drop && emit_domain(st, p, i) < 0)
            return -1;
    if (p->host[0]
        && (add_ctr(st, p, (const char *const[]){ "arr", p->arr_day, p->host, "counted" }, 4, 1, 1) < 0
            || add_mem(p, ST_SET_HOSTS(p), p->host, -1, ST_ANCHOR_NONE) < 0))
        return -1;
    return 0;
}
