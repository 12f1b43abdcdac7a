/*
 * phases.c - what tlsrpt-stats reads, phase by phase, only through the index
 * keys of key schema v2 (store/README.md; v1 data is the same without chains):
 *
 *   A  P domains (when no domain is named)
 *   B  P d:D:days of every domain, P partial:days, P nc:days
 *   C  lead days: d:D:Y:fail (the spike baseline needs its value and that it exists:
 *      :fail is written with every report); window days: :reports, :ptype:T:ok for
 *      the 4 policy types, the index sets :orgs, :types, :mxs, and :partial when
 *      P partial:days lists Y; P nc:Y:reasons of the window days P nc:days lists
 *   D  :ptype:T:fail of the types whose :ok exists; :ok and :fail only of the days
 *      that have both sts and tlsa counters or none (v1 data): otherwise they are the
 *      sums of the policy types (rule 12 takes the larger of sts and tlsa per report,
 *      and adds the others); the counters the sets name
 *      (:org:ORG:ok|fail, :type:RT, :mx:MX:fail), P org:ORG:name of every
 *      organisation seen, the :mode:* counters of each domain's last listed window
 *      day, P nc:Y:REASON
 *   E  only when a domain's last listed day has no mode counted: the :mode:*
 *      counters of its other window days (the readiness rule's "last day with a mode")
 *
 * Each phase is one pipelined round trip per TS_MGET_CHUNK keys, plus one for the
 * links of chained sets (only big sets). Fewer keys than v1's reader per domain
 * and day: modes once per domain instead of per day, a lead day 1 key instead of 6,
 * ok and fail summed from the policy types where rule 12 allows it.
 * Limits: see stats.h (TS_MAX_*); every member is validated (ts_valid_member,
 * ts_parse_day) and an invalid one skipped with one warning.
 * Errors: TS_EXIT_UNREACHABLE (memcached), TS_EXIT_NODATA (no domains, or a named
 * domain without a listed window day); a malformed counter is skipped (fetch.c).
 */
#include <stdlib.h>
#include <string.h>
#include "fetch.h"

static const char *const set_words[3] = { "orgs", "types", "mxs" };

/* A set member as a NUL-terminated copy (members are at most TLSRPT_KEY_MAX bytes). */
static void copy_member(char *out, const char *m, size_t len)
{
    memcpy(out, m, len);
    out[len] = '\0';
}

/* Lead+window index of day string m, or -1 when it is not a day of that range. */
static long day_index(const ts_report *r, const char *m)
{
    time_t t, start = r->first - (time_t)TS_LEAD_DAYS * 86400;

    if (ts_parse_day(m, &t) < 0 || t < start)
        return -1;
    long i = (long)((t - start) / 86400);
    return i < r->ndays + TS_LEAD_DAYS ? i : -1;
}

/* Note that a member could not be kept (entity table full). */
static void full(fetch *f, const char *what)
{
    if (f->full++ == 0)
        snprintf(f->full_what, sizeof f->full_what, "%s", what);
}

/* One org / type / MX listed on window day w of domain d. */
static void day_member(fetch *f, int sk, int w, ts_domain *d, const char *m)
{
    ts_set *set = sk == SK_ORGS ? &d->orgs : sk == SK_TYPES ? &d->types : &d->mxs;
    long idx = ts_set_get(set, m, 1);
    ts_entity *ent;

    if (idx < 0) {
        full(f, d->name);
        return;
    }
    ent = &set->v[idx];
    if (ent->stamp == f->stamp)
        return;                         /* listed twice in one set */
    ent->stamp = f->stamp;
    if (ent->first_day < 0 || w < ent->first_day)
        ent->first_day = w;
    if (w > ent->last_day)
        ent->last_day = w;
    if (d->nmemb == d->capmemb) {
        d->capmemb = d->capmemb ? d->capmemb * 2 : 64;
        d->memb = ts_xrealloc(d->memb, d->capmemb * sizeof *d->memb);
    }
    d->memb[d->nmemb].ent = (uint32_t)idx;
    d->memb[d->nmemb].w = (uint16_t)w;
    d->memb[d->nmemb++].kind = (uint8_t)(sk - SK_ORGS);
    if (sk == SK_ORGS && m[0] != '~' && strcmp(m, "%00") != 0 &&
        ts_set_get(&f->r->labels, m, 1) < 0)
        full(f, "org labels");
}

/* One not-counted reason listed on window day w. */
static void nc_member(fetch *f, int w, const char *m)
{
    ts_report *r = f->r;
    long idx = r->nc_reasons.n < TS_MAX_NC || ts_set_get(&r->nc_reasons, m, 0) >= 0
                   ? ts_set_get(&r->nc_reasons, m, 1) : -1;

    if (idx < 0) {
        full(f, "not-counted reasons");
        return;
    }
    if (r->nc_reasons.v[idx].stamp == f->stamp)
        return;
    r->nc_reasons.v[idx].stamp = f->stamp;
    if (r->nnc % 64 == 0)
        r->nc = ts_xrealloc(r->nc, (r->nnc + 64) * sizeof *r->nc);
    r->nc[r->nnc].w = w;
    r->nc[r->nnc].reason = idx;
    r->nc[r->nnc++].n = 0;
}

/* What one member of a set means (fetch.h). */
void member(fetch *f, int sk, uint32_t idx, void *dst, const char *m, size_t len,
            const char *setkey)
{
    ts_report *r = f->r;
    char mm[TLSRPT_KEY_MAX + 1];
    ts_err e;
    long i;

    (void)setkey;
    copy_member(mm, m, len);
    switch (sk) {
    case SK_DOMAINS:
        if (ts_report_add_domain(r, mm, NULL, 0, &e) < 0)
            full(f, "domains");
        break;
    case SK_DAYS:
        if ((i = day_index(r, mm)) >= 0)
            ((ts_domain *)dst)->day[i].listed = 1;
        break;
    case SK_PARTIAL:
        if ((i = day_index(r, mm)) >= 0)
            r->partial_day[i] = 1;
        break;
    case SK_NCDAYS:
        if ((i = day_index(r, mm)) >= TS_LEAD_DAYS)
            r->nc_day[i - TS_LEAD_DAYS] = 1;
        break;
    case SK_NCREASONS:
        nc_member(f, (int)idx, mm);
        break;
    default:
        day_member(f, sk, (int)idx, dst, mm);
        break;
    }
}

/* Phase A: the domain list. */
static int phase_domains(fetch *f)
{
    static const char *const comps[1] = { "domains" };

    if (q_set(f, SK_DOMAINS, 0, NULL, comps, 1) < 0 || f_flush(f) < 0)
        return -1;
    if (f->r->ndom == 0) {
        ts_seterr(f->e, TS_EXIT_NODATA, "no data: no domains counted yet (key '%sdomains' "
                  "is missing or empty)", f->r->prefix);
        return -1;
    }
    return 0;
}

/* Phase B: days indexes, the partial and not-counted day lists; named domains need data. */
static int phase_days(fetch *f)
{
    static const char *const pc[2] = { "partial", "days" }, *const nc[2] = { "nc", "days" };
    ts_report *r = f->r;
    size_t i;
    int w;

    for (i = 0; i < r->ndom; i++) {
        const char *comps[3] = { "d", r->dom[i].enc, "days" };
        if (q_set(f, SK_DAYS, 0, &r->dom[i], comps, 3) < 0)
            return -1;
    }
    if (q_set(f, SK_PARTIAL, 0, NULL, pc, 2) < 0 || q_set(f, SK_NCDAYS, 0, NULL, nc, 2) < 0 ||
        f_flush(f) < 0)
        return -1;
    for (i = 0; i < r->ndom; i++) {
        if (!r->dom[i].requested)
            continue;
        for (w = 0; w < r->ndays && !TS_WDAY(&r->dom[i], w)->listed; w++)
            ;
        if (w == r->ndays) {
            ts_seterr(f->e, TS_EXIT_NODATA, "no data for %s from %s to %s (key '%sd:%s:days' "
                      "lists no day in that window)", r->dom[i].name, TS_WNAME(r, 0),
                      TS_WNAME(r, r->ndays - 1), r->prefix, r->dom[i].enc);
            return -1;
        }
    }
    return 0;
}

/* Phase C for one domain: its days' counters and index sets. */
static int day_counters(fetch *f, ts_domain *d)
{
    ts_report *r = f->r;
    int i, k, total = r->ndays + TS_LEAD_DAYS;

    for (i = 0; i < total; i++) {
        ts_day *day = &d->day[i];
        const char *y = r->dayname[i];
        if (!day->listed)
            continue;
        const char *fc[4] = { "d", d->enc, y, "fail" }, *rc[4] = { "d", d->enc, y, "reports" };
        if (i < TS_LEAD_DAYS) {         /* the baseline needs fail and "had reports" only */
            if (q_key(f, RQ_LEAD, 0, 0, day, fc, 4) < 0)
                return -1;
            continue;
        }
        if (q_key(f, RQ_CNT, 0, 0, &day->reports, rc, 4) < 0)
            return -1;
        for (k = 0; k < TS_NPT; k++) {
            const char *pc[6] = { "d", d->enc, y, "ptype", ts_pt_names[k], "ok" };
            if (q_key(f, RQ_PTOK, k, 0, day, pc, 6) < 0)
                return -1;
        }
        for (k = 0; k < 3; k++) {
            const char *sc[4] = { "d", d->enc, y, set_words[k] };
            if (q_set(f, SK_ORGS + k, (uint32_t)(i - TS_LEAD_DAYS), d, sc, 4) < 0)
                return -1;
        }
        const char *pa[4] = { "d", d->enc, y, "partial" };
        if (r->partial_day[i] && q_key(f, RQ_FLAG, 0, 0, &day->partial, pa, 4) < 0)
            return -1;
    }
    return 0;
}

/* Phase C: every domain, and the reasons of the not-counted days. */
static int phase_counters(fetch *f)
{
    ts_report *r = f->r;

    for (size_t i = 0; i < r->ndom; i++)
        if (day_counters(f, &r->dom[i]) < 0)
            return -1;
    for (int w = 0; w < r->ndays; w++) {
        const char *comps[3] = { "nc", TS_WNAME(r, w), "reasons" };
        if (r->nc_day[w] && q_set(f, SK_NCREASONS, (uint32_t)w, NULL, comps, 3) < 0)
            return -1;
    }
    return f_flush(f);
}

/* Queue the mode counters of lead+window day i of d. */
static int q_modes(fetch *f, ts_domain *d, int i)
{
    d->day[i].mode_read = 1;
    for (int k = 0; k < TS_NMODES; k++) {
        const char *comps[5] = { "d", d->enc, f->r->dayname[i], "mode", ts_mode_names[k] };
        if (q_key(f, RQ_CNT, 0, 0, &d->day[i].mode[k], comps, 5) < 0)
            return -1;
    }
    return 0;
}

/* Can a day's ok / fail be summed from its policy types? Rule 12 counts the larger of
   sts and tlsa per report, so only when the day has policy-type counters and not both
   of those; v1 data (no ptype keys) and sts+tlsa days read :ok and :fail themselves. */
static int derivable(const ts_day *day)
{
    unsigned both = (1u << TS_PT_STS) | (1u << TS_PT_TLSA);

    return day->pt_seen != 0 && (day->pt_seen & both) != both;
}

/* Phase D for one domain: policy-type failures, member counters, the last day's modes. */
static int member_counters(fetch *f, ts_domain *d)
{
    ts_report *r = f->r;
    int w, k, last = -1;

    for (w = 0; w < r->ndays; w++) {
        ts_day *day = TS_WDAY(d, w);
        if (day->listed)
            last = w;
        if (day->listed && !derivable(day)) {
            const char *oc[4] = { "d", d->enc, TS_WNAME(r, w), "ok" };
            const char *fc[4] = { "d", d->enc, TS_WNAME(r, w), "fail" };
            if (q_key(f, RQ_CNT, 0, 0, &day->ok, oc, 4) < 0 ||
                q_key(f, RQ_CNT, 0, 0, &day->fail, fc, 4) < 0)
                return -1;
        }
        for (k = 0; k < TS_NPT; k++) {
            const char *pc[6] = { "d", d->enc, TS_WNAME(r, w), "ptype", ts_pt_names[k], "fail" };
            if ((day->pt_seen & (1u << k)) && q_key(f, RQ_CNT, 0, 0, &day->pt_fail[k], pc, 6) < 0)
                return -1;
        }
    }
    for (size_t j = 0; j < d->nmemb; j++) {
        const ts_memb *mb = &d->memb[j];
        const char *y = TS_WNAME(r, mb->w);
        ts_set *set = mb->kind == 0 ? &d->orgs : mb->kind == 1 ? &d->types : &d->mxs;
        const char *m = set->v[mb->ent].enc;
        const char *ok[6] = { "d", d->enc, y, "org", m, "ok" };
        const char *fl[6] = { "d", d->enc, y, "org", m, "fail" };
        const char *ty[5] = { "d", d->enc, y, "type", m };
        const char *mx[6] = { "d", d->enc, y, "mx", m, "fail" };
        int rc = mb->kind == 0 ? (q_key(f, RQ_ENT, 0, mb->ent, set, ok, 6) < 0 ||
                                  q_key(f, RQ_ENT, 1, mb->ent, set, fl, 6) < 0 ? -1 : 0)
               : mb->kind == 1 ? q_key(f, RQ_ENT, 1, mb->ent, set, ty, 5)
                               : q_key(f, RQ_ENT, 1, mb->ent, set, mx, 6);
        if (rc < 0)
            return -1;
    }
    free(d->memb);
    d->memb = NULL;
    d->nmemb = d->capmemb = 0;
    return last >= 0 ? q_modes(f, d, last + TS_LEAD_DAYS) : 0;
}

/* Phase D: every domain, the org labels, the not-counted counters. */
static int phase_members(fetch *f)
{
    ts_report *r = f->r;
    size_t i;

    for (i = 0; i < r->ndom; i++)
        if (member_counters(f, &r->dom[i]) < 0)
            return -1;
    for (i = 0; i < r->labels.n; i++) {
        const char *comps[3] = { "org", r->labels.v[i].enc, "name" };
        if (q_key(f, RQ_LABEL, 0, 0, &r->labels.v[i], comps, 3) < 0)
            return -1;
    }
    for (i = 0; i < r->nnc; i++) {
        const char *comps[3] = { "nc", TS_WNAME(r, r->nc[i].w), r->nc_reasons.v[r->nc[i].reason].enc };
        if (q_key(f, RQ_CNT, 0, 0, &r->nc[i].n, comps, 3) < 0)
            return -1;
    }
    return f_flush(f);
}

/* Phase E: modes of the other window days of domains whose last listed day had none. */
static int phase_modes(fetch *f)
{
    ts_report *r = f->r;
    size_t i;
    int w, k, any = 0;

    for (i = 0; i < r->ndom; i++) {
        ts_domain *d = &r->dom[i];
        int found = 0, read = 0;
        for (w = 0; w < r->ndays; w++) {
            const ts_day *day = TS_WDAY(d, w);
            read |= day->mode_read;
            for (k = 0; k < TS_NMODES; k++)
                found |= day->mode[k] > 0;
        }
        if (!read || found)
            continue;
        for (w = 0; w < r->ndays; w++)
            if (TS_WDAY(d, w)->listed && !TS_WDAY(d, w)->mode_read) {
                if (q_modes(f, d, w + TS_LEAD_DAYS) < 0)
                    return -1;
                any = 1;
            }
    }
    return any ? f_flush(f) : 0;
}

/* After the reads: labels onto the org entities, not-counted sums, warnings. */
static void finish(fetch *f)
{
    ts_report *r = f->r;
    size_t i, j;

    for (i = 0; i < r->ndom; i++)
        for (j = 0; j < r->dom[i].orgs.n; j++) {
            ts_entity *e = &r->dom[i].orgs.v[j];
            long l = ts_set_get(&r->labels, e->enc, 0);
            if (l < 0 || !r->labels.v[l].display)
                continue;
            e->label = r->labels.v[l].display;
            size_t n = strlen(e->name) + strlen(e->label) + 4;
            e->display = ts_xmalloc(n);
            snprintf(e->display, n, "%s (%s)", e->name, e->label);
        }
    for (i = 0; i < r->ndom; i++)
        for (int w = 0; w < r->ndays; w++) {
            ts_day *day = TS_WDAY(&r->dom[i], w);
            if (!day->listed || !derivable(day))
                continue;
            for (int k = 0; k < TS_NPT; k++) {
                day->ok = ts_add64(day->ok, day->pt_ok[k]);
                day->fail = ts_add64(day->fail, day->pt_fail[k]);
            }
        }
    for (i = 0; i < r->nnc; i++) {
        ts_entity *re = &r->nc_reasons.v[r->nc[i].reason];
        re->fail = ts_add64(re->fail, r->nc[i].n);
        r->nc_total = ts_add64(r->nc_total, r->nc[i].n);
    }
}

/* Say once what was skipped. */
static void warnings(const fetch *f)
{
    if (f->bad_members)
        fprintf(stderr, "tlsrpt-stats: warning: %zu invalid member(s) skipped (first in %s)\n",
                f->bad_members, f->bad_member_key);
    if (f->capped)
        fprintf(stderr, "tlsrpt-stats: warning: %zu index set(s) cut, first %s\n", f->capped,
                f->capped_key);
    if (f->full)
        fprintf(stderr, "tlsrpt-stats: warning: %zu member(s) ignored: too many (first: %s)\n",
                f->full, f->full_what);
    if (f->r->nbad > TS_MAX_BAD)
        fprintf(stderr, "tlsrpt-stats: warning: %zu malformed counters skipped in all\n",
                f->r->nbad);
}

/* Read everything the report needs; all_domains: take the list from "P domains". */
int ts_fetch(void *memc, ts_report *r, int all_domains, ts_err *e)
{
    fetch f;
    int rc = -1;

    memset(&f, 0, sizeof f);
    f.r = r;
    f.e = e;
    if (!(f.g = ts_mget_new(memc, 5000, e)))
        return -1;
    r->nc_day = ts_xmalloc((size_t)r->ndays);
    memset(r->nc_day, 0, (size_t)r->ndays);
    r->partial_day = ts_xmalloc((size_t)(r->ndays + TS_LEAD_DAYS));
    memset(r->partial_day, 0, (size_t)(r->ndays + TS_LEAD_DAYS));
    if ((!all_domains || phase_domains(&f) == 0) && phase_days(&f) == 0 &&
        phase_counters(&f) == 0 && phase_members(&f) == 0 && phase_modes(&f) == 0) {
        finish(&f);
        rc = 0;
    }
    warnings(&f);
    ts_mget_counts(f.g, &r->round_trips, &r->keys);
    ts_mget_free(f.g);
    f_free(&f);
    free(r->nc_day);
    free(r->partial_day);
    r->nc_day = r->partial_day = NULL;
    return rc;
}
