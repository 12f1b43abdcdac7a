/*
 * analyze.c - turn the counters of an ts_report into what a postmaster reads:
 * window totals, spike days, the org / MX distribution verdicts, the majority
 * result type, MTA-STS enforce readiness and silent reporters. The rules are
 * worded in rtypes.c (ts_rules) and must stay in step with the code here.
 *
 * Limits: the spike baseline is the median of at most TS_LEAD_DAYS values.
 * No errors: every input (including saturated counters) gives a result.
 */
#include <stdlib.h>
#include <string.h>
#include "stats.h"

const char *const ts_dist_names[] = { "none", "concentrated", "spread", "single" };
const char *const ts_ready_names[] = { "ready", "more-days-needed", "reset",
                                       "already-enforcing", "mode-none", "no-sts" };

/* Ascending int64 compare for qsort. */
static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

/* Median of n values (sorted in place); 0 when n is 0. */
static double median(int64_t *v, int n)
{
    if (n == 0)
        return 0.0;
    qsort(v, (size_t)n, sizeof(*v), cmp_i64);
    if (n % 2)
        return (double)v[n / 2];
    return ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2.0;
}

/* Window totals, latest report day and spike flags. */
static void trend(ts_report *r, ts_domain *d)
{
    int w, k, n;
    int64_t prev[TS_LEAD_DAYS];

    for (w = 0; w < r->ndays; w++) {
        ts_day *day = TS_WDAY(d, w);
        d->reports = ts_add64(d->reports, day->reports);
        d->ok = ts_add64(d->ok, day->ok);
        d->fail = ts_add64(d->fail, day->fail);
        for (k = 0; k < TS_NPT; k++) {
            d->pt_ok[k] = ts_add64(d->pt_ok[k], day->pt_ok[k]);
            d->pt_fail[k] = ts_add64(d->pt_fail[k], day->pt_fail[k]);
            d->pt_days[k] += (day->pt_seen >> k) & 1;
        }
        d->partial_days += day->partial;
        if (TS_IS_SAT(day->ok) || TS_IS_SAT(day->fail) || TS_IS_SAT(day->reports))
            d->saturated = 1;
        if (day->reports > 0) {
            d->report_days++;
            d->latest = w;
        }
        for (k = 1, n = 0; k <= TS_LEAD_DAYS; k++) {
            const ts_day *p = day - k;              /* lead days sit before window day 0 */
            if (p->reports > 0)
                prev[n++] = p->fail;
        }
        day->baseline_n = n;
        day->baseline = median(prev, n);
        day->spike = day->reports > 0 && day->fail >= TS_SPIKE_FLOOR &&
                     (double)day->fail > TS_SPIKE_FACTOR * day->baseline;
        d->spikes += day->spike;
    }
}

/* qsort_r order: failed desc, ok desc, name asc. */
static int cmp_ent(const void *a, const void *b, void *ctx)
{
    const ts_entity *v = ctx, *x = &v[*(const size_t *)a], *y = &v[*(const size_t *)b];

    if (x->fail != y->fail)
        return x->fail > y->fail ? -1 : 1;
    if (x->ok != y->ok)
        return x->ok > y->ok ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Shares of failures and display order of a set; returns its failed total. */
static int64_t rank(ts_set *s)
{
    int64_t total = 0;
    size_t i;

    for (i = 0; i < s->n; i++)
        total = ts_add64(total, s->v[i].fail);
    s->order = ts_xmalloc(s->n * sizeof(*s->order));
    for (i = 0; i < s->n; i++) {
        s->order[i] = i;
        s->v[i].share = ts_ratio(s->v[i].fail, total);
    }
    qsort_r(s->order, s->n, sizeof(*s->order), cmp_ent, s->v);
    return total;
}

/* Distribution verdict of a ranked set; single_ok: one member alone is "single". */
static void distribution(ts_set *s, ts_dist *di, int single_ok)
{
    di->total = rank(s);
    di->top = -1;
    di->top_share = 0.0;
    if (di->total == 0) {
        di->verdict = TS_DIST_NONE;
        return;
    }
    di->top = (long)s->order[0];
    di->top_share = s->v[di->top].share;
    if (single_ok && s->n == 1)
        di->verdict = TS_DIST_SINGLE;
    else if (di->top_share * 100.0 >= TS_CONC_PERCENT)
        di->verdict = TS_DIST_CONCENTRATED;
    else
        di->verdict = TS_DIST_SPREAD;
}

/* MTA-STS mode, clean-day run and enforce verdict. */
static void readiness(ts_report *r, ts_domain *d)
{
    ts_ready *rd = &d->ready;
    int w, k;

    rd->mode = -1;
    rd->mode_day = -1;
    for (w = r->ndays - 1; w >= 0 && rd->mode < 0; w--) {
        const ts_day *day = TS_WDAY(d, w);
        for (k = 0; k < TS_NMODES; k++)
            if (day->mode[k] > 0 && (rd->mode < 0 || day->mode[k] > day->mode[rd->mode]))
                rd->mode = k;
        if (rd->mode >= 0)
            rd->mode_day = w;
    }
    rd->clean = 0;
    rd->reset_day = -1;
    for (w = r->ndays - 1; w >= 0; w--) {
        const ts_day *day = TS_WDAY(d, w);
        if (day->reports <= 0)
            continue;
        if (day->fail > 0) {
            rd->reset_day = w;
            break;
        }
        rd->clean++;
    }
    rd->needed = rd->clean >= TS_READY_DAYS ? 0 : TS_READY_DAYS - rd->clean;
    if (rd->mode < 0)
        rd->verdict = TS_READY_NO_STS;
    else if (rd->mode == TS_MODE_ENFORCE)
        rd->verdict = TS_READY_ENFORCING;
    else if (rd->mode == TS_MODE_NONE)
        rd->verdict = TS_READY_MODE_NONE;
    else if (rd->needed == 0)
        rd->verdict = TS_READY_YES;
    else
        rd->verdict = rd->reset_day >= 0 ? TS_READY_RESET : TS_READY_MORE;
}

/* Organisations seen earlier in the window but not in its last TS_SILENT_DAYS days. */
static void silent(ts_report *r, ts_domain *d)
{
    size_t i, j;

    d->silent = ts_xmalloc(d->orgs.n * sizeof(*d->silent));
    d->nsilent = 0;
    for (j = 0; j < d->orgs.n; j++) {
        i = d->orgs.order[j];
        if (d->orgs.v[i].last_day >= 0 && d->orgs.v[i].last_day < r->ndays - TS_SILENT_DAYS)
            d->silent[d->nsilent++] = i;
    }
}

/* Did any count of a set reach 2^63-1? */
static int set_saturated(const ts_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (TS_IS_SAT(s->v[i].ok) || TS_IS_SAT(s->v[i].fail))
            return 1;
    return 0;
}

/* qsort_r order of the not-counted entries: day, then reason name. */
static int cmp_nc(const void *a, const void *b, void *ctx)
{
    const ts_nc *x = a, *y = b;
    const ts_set *reasons = ctx;

    if (x->w != y->w)
        return x->w < y->w ? -1 : 1;
    return strcmp(reasons->v[x->reason].name, reasons->v[y->reason].name);
}

/* Run every analysis on every domain. */
void ts_analyze(ts_report *r)
{
    size_t i;

    if (r->nnc > 1)
        qsort_r(r->nc, r->nnc, sizeof *r->nc, cmp_nc, &r->nc_reasons);
    for (i = 0; i < r->ndom; i++) {
        ts_domain *d = &r->dom[i];
        ts_dist types;
        trend(r, d);
        distribution(&d->orgs, &d->orgdist, 1);
        distribution(&d->mxs, &d->mxdist, 0);
        distribution(&d->types, &types, 0);
        d->majority = types.top >= 0 && types.top_share > 0.5 ? types.top : -1;
        readiness(r, d);
        silent(r, d);
        if (TS_IS_SAT(d->reports) || TS_IS_SAT(d->ok) || TS_IS_SAT(d->fail) ||
            set_saturated(&d->orgs) || set_saturated(&d->mxs) || set_saturated(&d->types))
            d->saturated = 1;
        if (d->saturated)
            r->saturated = 1;
    }
}

/* Advice sentence for an org (is_mx 0) or MX (is_mx 1) distribution. */
const char *ts_dist_advice(const ts_domain *d, const ts_set *s, const ts_dist *di, int is_mx,
                           char *buf, size_t len)
{
    const char *top = di->top >= 0 ? (is_mx ? s->v[di->top].name : ts_org_display(&s->v[di->top]))
                                   : "";
    double pct = di->top_share * 100.0;

    (void)d;
    switch (di->verdict) {
    case TS_DIST_NONE:
        snprintf(buf, len, "no failed sessions");
        break;
    case TS_DIST_SINGLE:
        snprintf(buf, len, "single: only %s reports for this domain, so its side cannot be "
                 "told from yours", top);
        break;
    case TS_DIST_CONCENTRATED:
        snprintf(buf, len, "concentrated: %s has %.0f%% of failed sessions; look at %s", top,
                 pct, is_mx ? "that MX" : "that reporter's side");
        break;
    default:
        snprintf(buf, len, "spread: the top %s, %s, has %.0f%% of failed sessions; look at %s",
                 is_mx ? "MX" : "reporter", top, pct,
                 is_mx ? "all your MX hosts" : "your policy");
        break;
    }
    return buf;
}

/* Readiness sentence. */
void ts_ready_message(const ts_report *r, const ts_domain *d, char *buf, size_t len)
{
    const ts_ready *rd = &d->ready;

    switch (rd->verdict) {
    case TS_READY_YES:
        snprintf(buf, len, "ready to switch to enforce (%d clean days in testing mode)",
                 rd->clean);
        break;
    case TS_READY_RESET:
        snprintf(buf, len, "failures on %s reset the count: %d more clean days needed",
                 TS_WNAME(r, rd->reset_day), rd->needed);
        break;
    case TS_READY_MORE:
        snprintf(buf, len, "%d more clean days needed (%d so far)", rd->needed, rd->clean);
        break;
    case TS_READY_ENFORCING:
        snprintf(buf, len, "already enforcing");
        break;
    case TS_READY_MODE_NONE:
        snprintf(buf, len, "policy mode none: publish mode testing first");
        break;
    default:
        snprintf(buf, len, "no MTA-STS policy reported");
        break;
    }
}

/* One-line summary of a domain. */
void ts_summary_line(const ts_report *r, const ts_domain *d, char *out, size_t outlen)
{
    char ready[256];

    ts_ready_message(r, d, ready, sizeof(ready));
    if (d->reports == 0) {
        snprintf(out, outlen, "%s: no reports in the window; %s", d->name, ready);
        return;
    }
    snprintf(out, outlen, "%s: %lld reports, %lld ok, %lld failed (%.2f%%), %d spike%s; %s",
             d->name, (long long)d->reports, (long long)d->ok, (long long)d->fail,
             100.0 * ts_ratio(d->fail, ts_add64(d->ok, d->fail)), d->spikes,
             d->spikes == 1 ? "" : "s", ready);
}
