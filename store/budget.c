/*
 * budget.c - what one report may create (issue 13): at most
 * MaxNewKeysPerReport new memcached items (counters, index markers, new set
 * keys, the report's own marker and label), and per reporter (the signer's
 * organisational domain, or the organization-name without DKIM) and arrival
 * day at most MaxDomainsPerReporter domains new to P domains.
 *
 * Newness comes from a view of the index sets (phase 1's reads, or the
 * rebuild tally): a member not in its set is new, and so are its counters;
 * a new day makes the domain's fixed counters new; the mode: and ptype:
 * counters of a known day have no index, so they are taken as new (the
 * count is an upper bound, never an underestimate).
 * Greedy, in domain-name order, coarse levels first:
 *   1. each domain's core: ok, fail, reports, mode, ptype, its result types
 *      (type: counters and members) and its domain and day members - the
 *      "coarse levels"; a domain whose core does not fit, or a new domain past
 *      the reporter's allowance, is not counted at all;
 *   2. its org (org:ORG:ok/fail and member), else org:~other when that is
 *      already there (no new item), else no org counter; and a domain's day
 *      that lists ST_ORGS_CAP orgs already takes a new one as org:~other
 *      (across reports: without DKIM an organization-name costs nothing);
 *   3. its MX names in name order, each kept, else folded into mx:~other
 *      (while ~other fits), else counted under type: only.
 * Errors: none; the decisions are in the plan's st_dom, what was left out in
 * info->folded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store_int.h"

/* The running count of one report's new items. */
typedef struct bctx {
    st_plan *p;
    const st_view *v;
    size_t used, limit;
    unsigned char *paid;        /* per set: its creation is already counted */
} bctx;

/* Is member in set s (by the view)? */
static int known(const bctx *b, size_t s, const char *member)
{
    return b->v->known(b->v->arg, s, member);
}

/* New items of one new member of set s: its marker, and the set when it is created. */
static size_t member_cost(const bctx *b, size_t s)
{
    return 1 + (!b->paid[s] && !b->v->exists(b->v->arg, s));
}

/* Take cost items if they fit; 1 when taken. */
static int take(bctx *b, size_t cost)
{
    if (b->used + cost > b->limit)
        return 0;
    b->used += cost;
    return 1;
}

/* New items of domain i's result types (type: counters, members, the set). */
static size_t types_cost(const bctx *b, size_t i, int *any)
{
    const st_dom *d = &b->p->dom[i];
    size_t cost = 0, s = ST_SET_TYPES(i);
    *any = 0;
    for (size_t t = 0; t <= ST_N_TYPES; t++)
        if (d->type[t] && !known(b, s, st_type_name(t))) {
            cost += 1 + (*any ? 1 : member_cost(b, s));
            *any = 1;
        }
    return cost;
}

/* Pass 1: the domain cores, and the reporter's allowance of new domains. */
static void pass_cores(bctx *b, tlsrpt_fold_info *f, size_t rep_left)
{
    st_plan *p = b->p;
    for (size_t i = 0; i < p->n_dom; i++) {
        st_dom *d = &p->dom[i];
        int dom_new = !known(b, ST_SET_DOMAINS, d->D), day_new = !known(b, ST_SET_DAYS(i), p->Y);
        int new_types;
        size_t npt = 0, cost;
        for (size_t c = 0; c < ST_PT_N; c++)
            npt += d->pt_has[c];
        cost = (day_new ? 5 : 1) + 2 * npt;     /* ok, fail, reports, mode, guard + ptype */
        cost += dom_new ? member_cost(b, ST_SET_DOMAINS) : 0;
        cost += day_new ? member_cost(b, ST_SET_DAYS(i)) : 0;
        cost += types_cost(b, i, &new_types);
        if (dom_new && rep_left == 0) {
            d->drop = ST_DROP_REPORTER;
            f->domains_reporter++;
        } else if (!take(b, cost)) {
            d->drop = ST_DROP_BUDGET;
            f->domains_budget++;
        } else {
            b->paid[ST_SET_DOMAINS] |= dom_new;
            b->paid[ST_SET_DAYS(i)] |= day_new;
            b->paid[ST_SET_TYPES(i)] |= new_types;
            if (dom_new) {
                rep_left--;
                p->rep_new++;
                d->new_domain = 1;
            }
        }
    }
}

/* Pass 2: each counted domain's org: kept, else ~other when it is there, else none. */
static void pass_orgs(bctx *b, tlsrpt_fold_info *f)
{
    for (size_t i = 0; i < b->p->n_dom; i++) {
        st_dom *d = &b->p->dom[i];
        size_t s = ST_SET_ORGS(i);
        if (d->drop || known(b, s, b->p->org))
            continue;
        if (b->v->members(b->v->arg, s) >= ST_ORGS_CAP) {
            int other = known(b, s, ST_FOLD_OTHER);
            if (other || take(b, 2 + member_cost(b, s))) {
                b->paid[s] |= !other;
                d->org_fold = ST_OTHER;
                f->org_other++;
            } else {
                d->org_fold = ST_DROP;
                f->org_dropped++;
            }
        } else if (take(b, 2 + member_cost(b, s))) {
            b->paid[s] = 1;
        } else if (known(b, s, ST_FOLD_OTHER)) {
            d->org_fold = ST_OTHER;
            f->org_other++;
        } else {
            d->org_fold = ST_DROP;
            f->org_dropped++;
        }
    }
}

/* qsort: MX sums by name. */
static int cmp_mx(const void *a, const void *b)
{
    return strcmp(((const st_mx *)a)->name, ((const st_mx *)b)->name);
}

/* Pass 3: each counted domain's MX names. When all its new ones fit they are kept;
   else, in name order (whatever the report's order), each is kept while it fits with
   room left for mx:~other, and the rest fold into ~other (or, without room even for
   that, count under type: only). */
static void pass_mx(bctx *b, tlsrpt_fold_info *f)
{
    for (size_t i = 0; i < b->p->n_dom; i++) {
        st_dom *d = &b->p->dom[i];
        size_t s = ST_SET_MXS(i), all = 0, n_new = 0, reserve = 0;
        int other = 0, folding;
        if (d->drop)
            continue;
        for (size_t j = 0; j < d->n_mx; j++)
            n_new += !known(b, s, d->mx[j].name);
        if (n_new)
            all = 2 * n_new + (!b->paid[s] && !b->v->exists(b->v->arg, s));
        if (!(folding = b->used + all > b->limit)) {
            b->used += all;
            b->paid[s] |= n_new > 0;
            continue;
        }
        qsort(d->mx, d->n_mx, sizeof *d->mx, cmp_mx);
        other = known(b, s, ST_FOLD_OTHER);
        reserve = other ? 0 : 1 + member_cost(b, s);
        for (size_t j = 0; j < d->n_mx; j++) {
            st_mx *m = &d->mx[j];
            if (known(b, s, m->name))
                continue;
            if (b->used + 1 + member_cost(b, s) + reserve <= b->limit) {
                b->used += 1 + member_cost(b, s);
                b->paid[s] = 1;
                reserve = other ? 0 : 1 + member_cost(b, s);
                continue;
            }
            if (!other && take(b, reserve)) {
                other = 1;
                b->paid[s] = 1;
            }
            m->fold = other ? ST_OTHER : ST_DROP;
            if (other)
                f->mx_other++;
            else
                f->mx_dropped++;
        }
    }
}

/* The log line of what was left out ("" when nothing). */
void st_fold_describe(const tlsrpt_store *st, tlsrpt_fold_info *f)
{
    size_t limit = st->max_new_keys, rep_limit = st->max_rep_domains;
    size_t o = 0;
    char *t = f->text;
    t[0] = 0;
#define ADD(cond, ...) if (cond && o < sizeof f->text) \
        o += (size_t)snprintf(t + o, sizeof f->text - o, __VA_ARGS__)
    ADD(f->domains_reporter, "%s%u new domains not counted (MaxDomainsPerReporter %zu)", o ? "; " : "",
        f->domains_reporter, rep_limit);
    ADD(f->domains_budget, "%s%u domains not counted (MaxNewKeysPerReport %zu)", o ? "; " : "",
        f->domains_budget, limit);
    ADD(f->org_other, "%s%u domains' org folded into org:~other", o ? "; " : "", f->org_other);
    ADD(f->org_dropped, "%s%u domains without org: counters", o ? "; " : "", f->org_dropped);
    ADD(f->mx_other, "%s%u MX names folded into mx:~other", o ? "; " : "", f->mx_other);
    ADD(f->mx_dropped, "%s%u MX names without an mx: counter", o ? "; " : "", f->mx_dropped);
#undef ADD
}

/* Decide what fits; returns how many domains are left to count. */
size_t st_budget(const tlsrpt_store *st, st_plan *p, const st_view *v, size_t overhead,
                 tlsrpt_count_info *info)
{
    bctx b = { p, v, overhead, st->max_new_keys, calloc(p->n_set ? p->n_set : 1, 1) };
    tlsrpt_fold_info *f = &info->folded;
    size_t left = 0;
    memset(f, 0, sizeof *f);
    p->rep_new = 0;
    if (!b.paid)
        b.limit = overhead;     /* out of memory: count nothing new rather than too much */
    pass_cores(&b, f, st->max_rep_domains > v->rep_count ? st->max_rep_domains - v->rep_count : 0);
    if (b.paid) {
        pass_orgs(&b, f);
        pass_mx(&b, f);
    }
    free(b.paid);
    f->new_items = (unsigned)b.used;
    st_fold_describe(st, f);
    for (size_t i = 0; i < p->n_dom; i++)
        left += !p->dom[i].drop;
    return left;
}

/* Drop the last n domains taken as new for the reporter; how many were dropped. */
size_t st_budget_unnew(st_plan *p, size_t n, tlsrpt_count_info *info)
{
    size_t done = 0;
    for (size_t i = p->n_dom; i-- > 0 && done < n; )
        if (p->dom[i].new_domain && !p->dom[i].drop) {
            p->dom[i].drop = ST_DROP_REPORTER;
            p->dom[i].new_domain = 0;
            p->rep_new--;
            info->folded.domains_reporter++;
            done++;
        }
    return done;
}

/* Does any decision differ from "count everything"? */
int st_budget_folded(const st_plan *p)
{
    for (size_t i = 0; i < p->n_dom; i++) {
        const st_dom *d = &p->dom[i];
        if (d->drop || d->org_fold)
            return 1;
        for (size_t j = 0; j < d->n_mx; j++)
            if (d->mx[j].fold)
                return 1;
    }
    return 0;
}
