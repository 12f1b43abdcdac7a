/*
 * report.c - the ts_report that tlsrpt-stats fills and prints: its window of
 * days and its list of domains.
 *
 * Limits: at most TS_MAX_DAYS window days and TS_MAX_DOMAINS domains; a domain
 * named twice is kept once; the prefix is at most 64 bytes without blanks or
 * control characters. Errors: TS_EXIT_USAGE for a bad window or prefix,
 * TS_EXIT_NODATA when the domain list is full.
 */
#include <stdlib.h>
#include <string.h>
#include "stats.h"

const char *const ts_mode_names[TS_NMODES] = { "enforce", "testing", "none" };
const char *const ts_pt_names[TS_NPT] = { "sts", "tlsa", "no-policy-found", "other" };
const char *const ts_lost_names[3] = { "restart", "evictions", "archive" };

/* FNV-1a of a domain's encoded name. */
static size_t dom_hash(const char *s)
{
    size_t h = (size_t)1469598103934665603ULL;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * (size_t)1099511628211ULL;
    return h;
}

/* Rebuild the domain hash slots for at least n domains. */
static void dom_rehash(ts_report *r, size_t n)
{
    size_t i, h;

    free(r->dslot);
    for (r->ndslot = 64; r->ndslot < 2 * n; r->ndslot *= 2)
        ;
    r->dslot = ts_xmalloc(r->ndslot * sizeof *r->dslot);
    memset(r->dslot, 0, r->ndslot * sizeof *r->dslot);
    for (i = 0; i < r->ndom; i++) {
        for (h = dom_hash(r->dom[i].enc) & (r->ndslot - 1); r->dslot[h]; h = (h + 1) & (r->ndslot - 1))
            ;
        r->dslot[h] = i + 1;
    }
}

/* Set up an empty report for ndays days ending with the day of today. */
int ts_report_init(ts_report *r, int ndays, time_t today, const char *prefix, ts_err *e)
{
    int i, total = ndays + TS_LEAD_DAYS;
    time_t day0 = today - today % 86400;

    memset(r, 0, sizeof(*r));
    if (ndays < 1 || ndays > TS_MAX_DAYS) {
        ts_seterr(e, TS_EXIT_USAGE, "--days must be between 1 and %d", TS_MAX_DAYS);
        return -1;
    }
    if (strlen(prefix) > 64 || prefix[strcspn(prefix, " \t\r\n\x7f")] != '\0') {
        ts_seterr(e, TS_EXIT_USAGE, "key prefix longer than 64 bytes or with blanks");
        return -1;
    }
    for (i = 0; prefix[i]; i++)
        if ((unsigned char)prefix[i] < 0x20) {
            ts_seterr(e, TS_EXIT_USAGE, "key prefix with a control character");
            return -1;
        }
    strcpy(r->prefix, prefix);
    r->ndays = ndays;
    r->first = day0 - (time_t)(ndays - 1) * 86400;
    r->dayname = ts_xmalloc((size_t)total * sizeof(*r->dayname));
    for (i = 0; i < total; i++)
        ts_format_day(r->first + (time_t)(i - TS_LEAD_DAYS) * 86400, r->dayname[i]);
    r->generated = time(NULL);
    return 0;
}

/* Add a domain by its encoded component (name NULL: decoded from enc). Duplicates are ignored. */
int ts_report_add_domain(ts_report *r, const char *enc, const char *name, int requested,
                         ts_err *e)
{
    size_t total = (size_t)(r->ndays + TS_LEAD_DAYS);
    ts_domain *d;

    size_t h;

    if (r->ndslot < 2 * (r->ndom + 1))
        dom_rehash(r, r->ndom + 1);
    for (h = dom_hash(enc) & (r->ndslot - 1); r->dslot[h]; h = (h + 1) & (r->ndslot - 1))
        if (strcmp(r->dom[r->dslot[h] - 1].enc, enc) == 0)
            return 0;
    if (r->ndom >= TS_MAX_DOMAINS) {
        ts_seterr(e, TS_EXIT_NODATA, "more than %d domains", TS_MAX_DOMAINS);
        return -1;
    }
    if (strlen(enc) > TLSRPT_KEY_MAX) {
        ts_seterr(e, TS_EXIT_USAGE, "domain name too long");
        return -1;
    }
    if (r->ndom % 16 == 0)
        r->dom = ts_xrealloc(r->dom, (r->ndom + 16) * sizeof(*r->dom));
    r->dslot[h] = r->ndom + 1;
    d = &r->dom[r->ndom++];
    memset(d, 0, sizeof(*d));
    strcpy(d->enc, enc);
    d->name = name ? ts_xstrdup(name) : ts_domain_name(enc);
    d->requested = requested;
    d->day = ts_xmalloc(total * sizeof(*d->day));
    memset(d->day, 0, total * sizeof(*d->day));
    d->latest = -1;
    d->majority = -1;
    return 0;
}

/* Release everything a report owns. */
void ts_report_free(ts_report *r)
{
    size_t i;

    for (i = 0; i < r->ndom; i++) {
        ts_domain *d = &r->dom[i];
        free(d->memb);
        free(d->name);
        free(d->day);
        free(d->silent);
        ts_set_free(&d->orgs);
        ts_set_free(&d->mxs);
        ts_set_free(&d->types);
    }
    free(r->dom);
    free(r->dslot);
    free(r->dayname);
    free(r->nc);
    free(r->nc_day);
    free(r->partial_day);
    ts_set_free(&r->labels);
    ts_set_free(&r->nc_reasons);
    memset(r, 0, sizeof(*r));
}
