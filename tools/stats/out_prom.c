/*
 * out_prom.c - Prometheus text exposition for node_exporter's textfile
 * collector. All metrics are gauges (window sums fall when old days leave the
 * window, so none is a counter and none ends in _total); no per-day labels:
 * window totals, latest-day values, the clean-day run and readiness.
 * Families are written whole, one after the other, each with HELP and TYPE.
 *
 * Label values are escaped (\\, \", \n) and other control characters become
 * '?'; names and labels are valid UTF-8 already. Cardinality: per domain 2 + 12 +
 * 8 policy-type series + the orgs and MX hosts seen in the window (bounded by
 * TS_MAX_ENTITIES); globally 3 loss series and one per not-counted reason.
 * Errors: returns -1 on a write error.
 */
#include <stdlib.h>
#include <string.h>
#include "stats.h"

#define STR_(x) #x
#define XSTR(x) STR_(x)

/* A label value escaped for the exposition format (new string). */
static char *label_str(const char *s)
{
    char *out = ts_xmalloc(strlen(s) * 2 + 1), *o = out;

    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            *o++ = '\\', *o++ = *s;
        else if (*s == '\n')
            *o++ = '\\', *o++ = 'n';
        else if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *o++ = '?';
        else
            *o++ = *s;
    }
    *o = '\0';
    return out;
}

/* Write a label value escaped for the exposition format. */
static void label(FILE *f, const char *s)
{
    char *l = label_str(s);

    fputs(l, f);
    free(l);
}

/* HELP and TYPE lines of a gauge family. */
static void family(FILE *f, const char *name, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

/* One sample: name{domain="D"[,k="v"]} value. */
static void sample(FILE *f, const char *name, const ts_domain *d, const char *k, const char *v,
                   double value)
{
    fprintf(f, "%s{domain=\"", name);
    label(f, d->name);
    if (k) {
        fprintf(f, "\",%s=\"", k);
        label(f, v);
    }
    fprintf(f, "\"} %.12g\n", value);
}

/* A label value and its summed failed sessions. */
typedef struct lv { char *lab; double v; } lv;

/* qsort order of lv by label. */
static int cmp_lv(const void *a, const void *b)
{
    return strcmp(((const lv *)a)->lab, ((const lv *)b)->lab);
}

/* key="name" (and for orgs ,org_label="label") of one entity, escaped (new string). */
static char *pair_str(const char *key, const char *name, const char *label, int with_label)
{
    char *n = label_str(name), *l = label_str(label ? label : "");
    size_t len = strlen(key) + strlen(n) + strlen(l) + 32;
    char *out = ts_xmalloc(len);

    if (with_label)
        snprintf(out, len, "%s=\"%s\",org_label=\"%s\"", key, n, l);
    else
        snprintf(out, len, "%s=\"%s\"", key, n);
    free(n);
    free(l);
    return out;
}

/* Failed sessions of a set, one sample per distinct escaped label set (hostile names that
   escape alike are summed, so no series is ever duplicated); rfc: add 0 for absent types;
   orgs: with their org_label. */
static void merged(FILE *f, const char *name, const ts_domain *d, const char *key,
                   const ts_set *s, int rfc)
{
    size_t n = 0, i, j, cap = s->n + (rfc ? ts_n_rtypes : 0);
    lv *v = ts_xmalloc((cap ? cap : 1) * sizeof(*v));
    char *dom = label_str(d->name);
    int orgs = strcmp(key, "org") == 0;

    for (i = 0; i < s->n; i++)
        v[n].lab = pair_str(key, s->v[i].name, s->v[i].label, orgs),
        v[n++].v = (double)s->v[i].fail;
    for (i = 0; rfc && i < ts_n_rtypes; i++)
        v[n].lab = pair_str(key, ts_rtypes[i].name, NULL, 0), v[n++].v = 0.0;
    qsort(v, n, sizeof(*v), cmp_lv);
    for (i = 0; i < n; i = j) {
        double sum = v[i].v;
        for (j = i + 1; j < n && strcmp(v[j].lab, v[i].lab) == 0; j++)
            sum += v[j].v;
        fprintf(f, "%s{domain=\"%s\",%s} %.12g\n", name, dom, v[i].lab, sum);
    }
    for (i = 0; i < n; i++)
        free(v[i].lab);
    free(v);
    free(dom);
}

/* Window totals: reports, sessions, failure ratio, spikes, result types. */
static void window_metrics(FILE *f, const ts_report *r)
{
    size_t i;

    family(f, "tlsrpt_window_reports", "Reports counted in the window, per policy domain.");
    for (i = 0; i < r->ndom; i++)
        sample(f, "tlsrpt_window_reports", &r->dom[i], NULL, NULL, (double)r->dom[i].reports);
    family(f, "tlsrpt_window_sessions", "TLS sessions reported in the window, by result.");
    for (i = 0; i < r->ndom; i++) {
        sample(f, "tlsrpt_window_sessions", &r->dom[i], "result", "ok", (double)r->dom[i].ok);
        sample(f, "tlsrpt_window_sessions", &r->dom[i], "result", "fail",
               (double)r->dom[i].fail);
    }
    family(f, "tlsrpt_window_failure_ratio", "Failed / all sessions in the window.");
    for (i = 0; i < r->ndom; i++)
        sample(f, "tlsrpt_window_failure_ratio", &r->dom[i], NULL, NULL,
               ts_ratio(r->dom[i].fail, ts_add64(r->dom[i].ok, r->dom[i].fail)));
    family(f, "tlsrpt_window_spikes", "Spike days in the window (failed >= "
           XSTR(TS_SPIKE_FLOOR) " and > " XSTR(TS_SPIKE_FACTOR) " x median of the previous "
           XSTR(TS_LEAD_DAYS) " report days).");
    for (i = 0; i < r->ndom; i++)
        sample(f, "tlsrpt_window_spikes", &r->dom[i], NULL, NULL, r->dom[i].spikes);
    family(f, "tlsrpt_window_policy_type_sessions", "TLS sessions in the window per policy "
           "type (sts, tlsa, no-policy-found, other), by result; a session reported under both "
           "sts and tlsa is in both here, once in tlsrpt_window_sessions.");
    for (i = 0; i < r->ndom; i++) {
        char *dom = label_str(r->dom[i].name);
        for (int k = 0; k < TS_NPT; k++)
            fprintf(f, "tlsrpt_window_policy_type_sessions{domain=\"%s\",policy_type=\"%s\","
                    "result=\"ok\"} %.12g\ntlsrpt_window_policy_type_sessions{domain=\"%s\","
                    "policy_type=\"%s\",result=\"fail\"} %.12g\n", dom, ts_pt_names[k],
                    (double)r->dom[i].pt_ok[k], dom, ts_pt_names[k], (double)r->dom[i].pt_fail[k]);
        free(dom);
    }
    family(f, "tlsrpt_window_partial_marks", "Window days marked partial: a partial count cannot "
           "be ruled out (tlsrpt-parse --rebuild -c CONF --day DAY repairs them).");
    for (i = 0; i < r->ndom; i++)
        sample(f, "tlsrpt_window_partial_marks", &r->dom[i], NULL, NULL,
               r->dom[i].partial_days);
    family(f, "tlsrpt_window_saturated", "1 when a count of the domain in the window reached "
           "2^63-1 (saturated: the value is at least that).");
    for (i = 0; i < r->ndom; i++)
        sample(f, "tlsrpt_window_saturated", &r->dom[i], NULL, NULL, r->dom[i].saturated);
    family(f, "tlsrpt_window_failed_sessions", "Failed sessions in the window by RFC 8460 "
           "result type.");
    for (i = 0; i < r->ndom; i++)
        merged(f, "tlsrpt_window_failed_sessions", &r->dom[i], "result_type", &r->dom[i].types,
               1);
}

/* Failed sessions per reporting organisation and per MX host. */
static void spread_metrics(FILE *f, const ts_report *r)
{
    size_t i;

    family(f, "tlsrpt_window_org_failed_sessions", "Failed sessions in the window by "
           "reporting organisation.");
    for (i = 0; i < r->ndom; i++)
        merged(f, "tlsrpt_window_org_failed_sessions", &r->dom[i], "org", &r->dom[i].orgs, 0);
    family(f, "tlsrpt_window_mx_failed_sessions", "Failed sessions in the window by "
           "receiving MX host.");
    for (i = 0; i < r->ndom; i++)
        merged(f, "tlsrpt_window_mx_failed_sessions", &r->dom[i], "mx", &r->dom[i].mxs, 0);
    family(f, "tlsrpt_silent_reporters", "Organisations that reported earlier in the window "
           "but not in its last " XSTR(TS_SILENT_DAYS) " days.");
    for (i = 0; i < r->ndom; i++)
        sample(f, "tlsrpt_silent_reporters", &r->dom[i], NULL, NULL, (double)r->dom[i].nsilent);
}

/* Values of the latest day with reports. */
static void latest_metrics(FILE *f, const ts_report *r)
{
    size_t i;

    family(f, "tlsrpt_latest_day_timestamp_seconds", "Start (00:00 UTC) of the latest day "
           "with reports in the window.");
    for (i = 0; i < r->ndom; i++)
        if (r->dom[i].latest >= 0)
            sample(f, "tlsrpt_latest_day_timestamp_seconds", &r->dom[i], NULL, NULL,
                   (double)(r->first + (time_t)r->dom[i].latest * 86400));
    family(f, "tlsrpt_latest_day_sessions", "TLS sessions of the latest day with reports, "
           "by result.");
    for (i = 0; i < r->ndom; i++) {
        const ts_domain *d = &r->dom[i];
        if (d->latest < 0)
            continue;
        sample(f, "tlsrpt_latest_day_sessions", d, "result", "ok",
               (double)TS_WDAY(d, d->latest)->ok);
        sample(f, "tlsrpt_latest_day_sessions", d, "result", "fail",
               (double)TS_WDAY(d, d->latest)->fail);
    }
    family(f, "tlsrpt_latest_day_spike", "1 when the latest day with reports is a spike.");
    for (i = 0; i < r->ndom; i++)
        if (r->dom[i].latest >= 0)
            sample(f, "tlsrpt_latest_day_spike", &r->dom[i], NULL, NULL,
                   TS_WDAY(&r->dom[i], r->dom[i].latest)->spike);
}

/* MTA-STS mode, clean-day run and readiness. */
static void sts_metrics(FILE *f, const ts_report *r)
{
    size_t i;
    int k;

    family(f, "tlsrpt_sts_mode", "1 for the MTA-STS mode reported most recently.");
    for (i = 0; i < r->ndom; i++)
        if (r->dom[i].ready.mode >= 0)
            for (k = 0; k < TS_NMODES; k++)
                sample(f, "tlsrpt_sts_mode", &r->dom[i], "mode", ts_mode_names[k],
                       r->dom[i].ready.mode == k);
    family(f, "tlsrpt_sts_clean_day_run", "Current run of clean days (reports, 0 failed; "
           "days without reports skipped).");
    for (i = 0; i < r->ndom; i++)
        sample(f, "tlsrpt_sts_clean_day_run", &r->dom[i], NULL, NULL, r->dom[i].ready.clean);
    family(f, "tlsrpt_sts_enforce_ready", "1 when in testing mode with >= "
           XSTR(TS_READY_DAYS) " clean days: ready to switch to enforce.");
    for (i = 0; i < r->ndom; i++)
        sample(f, "tlsrpt_sts_enforce_ready", &r->dom[i], NULL, NULL,
               r->dom[i].ready.verdict == TS_READY_YES);
}

/* Loss, not-counted reports and malformed counters: not per domain. */
static void health_metrics(FILE *f, const ts_report *r)
{
    size_t i, j;

    family(f, "tlsrpt_counters_lost", "1 when counters were lost (reason: restart = a memcached "
           "server lost its data since counting began, evictions = memcached evicted items, "
           "archive = the archive holds reports the counters lack); rebuild with tlsrpt-parse "
           "--rebuild -c CONF.");
    for (int k = 0; k < 3; k++)
        fprintf(f, "tlsrpt_counters_lost{reason=\"%s\"} %d\n", ts_lost_names[k],
                (r->loss.why >> k) & 1);
    family(f, "tlsrpt_counters_loss_checked", "1 when the loss check ran (memcached answered "
           "its stats); 0 means tlsrpt_counters_lost says nothing.");
    fprintf(f, "tlsrpt_counters_loss_checked %d\n", r->loss.checked);
    family(f, "tlsrpt_not_counted", "Report candidates not counted in the window (by arrival "
           "day), by reason.");
    lv *v = ts_xmalloc((r->nc_reasons.n ? r->nc_reasons.n : 1) * sizeof(*v));
    for (i = 0; i < r->nc_reasons.n; i++)
        v[i].lab = label_str(r->nc_reasons.v[i].name), v[i].v = (double)r->nc_reasons.v[i].fail;
    qsort(v, r->nc_reasons.n, sizeof(*v), cmp_lv);
    for (i = 0; i < r->nc_reasons.n; i = j) {       /* names that escape alike: summed */
        double sum = v[i].v;
        for (j = i + 1; j < r->nc_reasons.n && strcmp(v[j].lab, v[i].lab) == 0; j++)
            sum += v[j].v;
        fprintf(f, "tlsrpt_not_counted{reason=\"%s\"} %.12g\n", v[i].lab, sum);
    }
    for (i = 0; i < r->nc_reasons.n; i++)
        free(v[i].lab);
    free(v);
    family(f, "tlsrpt_stats_malformed_counters", "Counter keys holding something that is not a "
           "number, skipped by tlsrpt-stats (named on its standard error).");
    fprintf(f, "tlsrpt_stats_malformed_counters %zu\n", r->nbad);
}

/* The whole exposition. */
int ts_out_prom(FILE *f, const ts_report *r)
{
    family(f, "tlsrpt_window_start_timestamp_seconds", "Start (00:00 UTC) of the first "
           "window day.");
    fprintf(f, "tlsrpt_window_start_timestamp_seconds %lld\n", (long long)r->first);
    family(f, "tlsrpt_window_end_timestamp_seconds", "End (24:00 UTC) of the last window day.");
    fprintf(f, "tlsrpt_window_end_timestamp_seconds %lld\n",
            (long long)(r->first + (time_t)r->ndays * 86400));
    family(f, "tlsrpt_stats_generated_timestamp_seconds", "When tlsrpt-stats wrote this.");
    fprintf(f, "tlsrpt_stats_generated_timestamp_seconds %lld\n", (long long)r->generated);
    health_metrics(f, r);
    window_metrics(f, r);
    spread_metrics(f, r);
    latest_metrics(f, r);
    sts_metrics(f, r);
    return ferror(f) ? -1 : 0;
}
