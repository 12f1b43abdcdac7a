/*
 * out_html.c - one self-contained HTML page: inline CSS, inline SVG charts
 * (html_svg.c), no external assets and no script. Warnings first (counters
 * lost, malformed counters skipped, saturated counts); per domain: summary,
 * readiness verdict, partial days with their rebuild command, daily chart,
 * policy types, result types, reporter and MX tables and silent reporters;
 * then the report candidates not counted and the rules.
 *
 * Every string that comes from memcached is written through ts_html_escape.
 * Errors: returns -1 on a write error.
 */
#include <string.h>
#include "stats.h"

static const char css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:20px;color:#222;background:#fff}"
    "h1{font-size:22px}h2{font-size:18px;border-bottom:2px solid #ccc;margin-top:36px}"
    "h3{font-size:15px;margin:18px 0 6px}"
    "table{border-collapse:collapse;margin:6px 0}td,th{padding:3px 10px;border-bottom:1px "
    "solid #e4e4e4;text-align:left}td.n,th.n{text-align:right;font-variant-numeric:"
    "tabular-nums}th{background:#f3f3f3}"
    ".verdict{padding:8px 12px;border-radius:4px;margin:8px 0;font-weight:600}"
    ".good{background:#e3f4e4;border-left:6px solid #2e7d32}"
    ".warn{background:#fff4dc;border-left:6px solid #ef9a00}"
    ".bad{background:#fde4e4;border-left:6px solid #c62828}"
    ".note{background:#eef2f8;border-left:6px solid #607d9b}"
    ".advice{margin:4px 0 8px;font-style:italic}"
    "svg text{font:11px system-ui,sans-serif;fill:#333}svg .cap{font-weight:600}"
    "svg .ok{fill:#43a047}svg .fail{fill:#e53935}svg .spike{fill:#8e0000}"
    "svg .spiketext{fill:#8e0000;font-weight:700}svg .nodata{fill:#e8e8e8}"
    "svg .axis{stroke:#999;stroke-width:1}"
    "ul.rules li{margin:4px 0}code{font:13px ui-monospace,monospace}";

/* Class of the readiness box. */
static const char *ready_class(int verdict)
{
    switch (verdict) {
    case TS_READY_YES: case TS_READY_ENFORCING: return "good";
    case TS_READY_MORE: return "warn";
    case TS_READY_RESET: return "bad";
    default: return "note";
    }
}

/* A table cell holding an escaped string. */
static void td_str(FILE *f, const char *s)
{
    fputs("<td>", f);
    ts_html_escape(f, s);
    fputs("</td>", f);
}

/* A count cell, ">=2^63-1" when saturated. */
static void td_cnt(FILE *f, int64_t v)
{
    char buf[24];

    ts_format_count(v, buf, sizeof(buf));
    fprintf(f, "<td class=\"n\">%s</td>", buf);
}

/* Loss, malformed counters and saturation, each in its own box. */
static void warnings(FILE *f, const ts_report *r)
{
    char cmd[512];
    size_t i;

    if (r->loss.why) {
        fputs("<div class=\"verdict bad lost\">Counters were lost: ", f);
        ts_html_escape(f, r->loss.text);
        fputs(". The counts below are too low; rebuild them from the archive with <code>", f);
        ts_html_escape(f, ts_rebuild_cmd(r, NULL, cmd, sizeof(cmd)));
        fputs("</code></div>\n", f);
    }
    if (r->nbad) {
        fprintf(f, "<div class=\"verdict warn malformed\">%zu malformed counter%s skipped "
                "(not a number; the rest is complete):<ul>", r->nbad, r->nbad == 1 ? "" : "s");
        for (i = 0; i < r->nbad && i < TS_MAX_BAD; i++) {
            fputs("<li><code>", f);
            ts_html_escape(f, r->bad[i].key);
            fputs("</code> holds &quot;", f);
            ts_html_escape(f, r->bad[i].value);
            fputs("&quot;</li>", f);
        }
        fputs("</ul></div>\n", f);
    }
    if (r->saturated)
        fputs("<div class=\"verdict note saturated\">Counts shown as &gt;=2^63-1 are saturated: "
              "at least 9223372036854775807 (the store stops there instead of wrapping).</div>\n",
              f);
}

/* The page head and the summary table of all domains. */
static void head(FILE *f, const ts_report *r)
{
    char line[1024];
    size_t i;

    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            "<title>TLS-RPT %s .. %s</title>\n<style>%s</style></head>\n<body>\n",
            TS_WNAME(r, 0), TS_WNAME(r, r->ndays - 1), css);
    fprintf(f, "<h1>TLS-RPT: %zu domain%s, %s .. %s (%d days, UTC)</h1>\n", r->ndom,
            r->ndom == 1 ? "" : "s", TS_WNAME(r, 0), TS_WNAME(r, r->ndays - 1), r->ndays);
    warnings(f, r);
    fprintf(f, "<table class=\"summary\"><tr><th>domain</th><th class=\"n\">reports</th>"
            "<th class=\"n\">ok</th><th class=\"n\">failed</th><th class=\"n\">rate</th>"
            "<th class=\"n\">spikes</th><th>MTA-STS readiness</th></tr>\n");
    for (i = 0; i < r->ndom; i++) {
        const ts_domain *d = &r->dom[i];
        fprintf(f, "<tr><td><a href=\"#d%zu\">", i);
        ts_html_escape(f, d->name);
        fputs("</a></td>", f);
        td_cnt(f, d->reports);
        td_cnt(f, d->ok);
        td_cnt(f, d->fail);
        fprintf(f, "<td class=\"n\">%.2f%%</td><td class=\"n\">%d</td>",
                100.0 * ts_ratio(d->fail, ts_add64(d->ok, d->fail)), d->spikes);
        ts_ready_message(r, d, line, sizeof(line));
        td_str(f, line);
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
}

/* Reporter table with its verdict. */
static void org_table(FILE *f, const ts_report *r, const ts_domain *d)
{
    char advice[1024];
    size_t j;

    fputs("<h3>Failed sessions by reporting organisation</h3>\n<p class=\"advice\">", f);
    ts_html_escape(f, ts_dist_advice(d, &d->orgs, &d->orgdist, 0, advice, sizeof(advice)));
    fputs("</p>\n", f);
    if (d->orgs.n == 0)
        return;
    fputs("<table class=\"orgs\"><tr><th>organisation</th><th class=\"n\">ok</th>"
          "<th class=\"n\">failed</th><th class=\"n\">share</th><th>first seen</th>"
          "<th>last seen</th></tr>\n", f);
    for (j = 0; j < d->orgs.n; j++) {
        const ts_entity *e = &d->orgs.v[d->orgs.order[j]];
        fputs("<tr>", f);
        td_str(f, ts_org_display(e));
        td_cnt(f, e->ok);
        td_cnt(f, e->fail);
        fprintf(f, "<td class=\"n\">%.1f%%</td><td>%s</td><td>%s</td></tr>\n", 100.0 * e->share, e->first_day >= 0 ? TS_WNAME(r, e->first_day) : "-",
                e->last_day >= 0 ? TS_WNAME(r, e->last_day) : "-");
    }
    fputs("</table>\n", f);
}

/* MX table with its verdict. */
static void mx_table(FILE *f, const ts_domain *d)
{
    char advice[1024];
    size_t j;

    fputs("<h3>Failed sessions by receiving MX</h3>\n<p class=\"advice\">", f);
    ts_html_escape(f, ts_dist_advice(d, &d->mxs, &d->mxdist, 1, advice, sizeof(advice)));
    fputs("</p>\n", f);
    if (d->mxs.n == 0)
        return;
    fputs("<table class=\"mx\"><tr><th>MX host</th><th class=\"n\">failed</th>"
          "<th class=\"n\">share</th></tr>\n", f);
    for (j = 0; j < d->mxs.n; j++) {
        const ts_entity *e = &d->mxs.v[d->mxs.order[j]];
        fputs("<tr>", f);
        td_str(f, e->name);
        td_cnt(f, e->fail);
        fprintf(f, "<td class=\"n\">%.1f%%</td></tr>\n", 100.0 * e->share);
    }
    fputs("</table>\n", f);
}

/* Result types: headline and chart. */
static void types(FILE *f, const ts_domain *d)
{
    const ts_rtype *t = d->majority >= 0 ? ts_rtype_find(d->types.v[d->majority].name) : NULL;
    char line[1024];

    fputs("<h3>Result types of failed sessions</h3>\n", f);
    if (t) {
        ts_rtype_headline(t, d->name, d->types.v[d->majority].share, line, sizeof(line));
        fputs("<p class=\"verdict bad headline\">", f);
        ts_html_escape(f, line);
        fputs("</p>\n", f);
    } else if (d->majority >= 0) {
        snprintf(line, sizeof(line), "%.0f%% of failed sessions are %s (not an RFC 8460 type)",
                 100.0 * d->types.v[d->majority].share, d->types.v[d->majority].name);
        fputs("<p class=\"verdict bad headline\">", f);
        ts_html_escape(f, line);
        fputs("</p>\n", f);
    } else if (d->types.n == 0)
        fputs("<p class=\"advice\">no failed sessions</p>\n", f);
    else
        fputs("<p class=\"advice\">no result type has the majority of failed sessions</p>\n", f);
    ts_svg_types(f, d);
}

/* The daily numbers as a table folded under the chart (no script needed). */
static void day_table(FILE *f, const ts_report *r, const ts_domain *d)
{
    int w;

    fputs("<details><summary>daily numbers</summary>\n<table class=\"days\"><tr><th>day</th>"
          "<th class=\"n\">reports</th><th class=\"n\">ok</th><th class=\"n\">failed</th>"
          "<th class=\"n\">failure rate</th><th></th></tr>\n", f);
    for (w = 0; w < r->ndays; w++) {
        const ts_day *day = TS_WDAY(d, w);
        if (day->reports <= 0) {
            fprintf(f, "<tr><td>%s</td><td colspan=\"5\">no reports</td></tr>\n",
                    TS_WNAME(r, w));
            continue;
        }
        fprintf(f, "<tr><td>%s</td>", TS_WNAME(r, w));
        td_cnt(f, day->reports);
        td_cnt(f, day->ok);
        td_cnt(f, day->fail);
        fprintf(f, "<td class=\"n\">%.2f%%</td><td>%s%s%s</td></tr>\n",
                100.0 * ts_ratio(day->fail, ts_add64(day->ok, day->fail)),
                day->spike ? "spike" : "", day->spike && day->partial ? ", " : "",
                day->partial ? "partial?" : "");
    }
    fputs("</table></details>\n", f);
}

/* Silent reporters list. */
static void silent(FILE *f, const ts_report *r, const ts_domain *d)
{
    size_t j;

    fprintf(f, "<h3>Silent reporters (no report in the last %d days)</h3>\n", TS_SILENT_DAYS);
    if (d->nsilent == 0) {
        fputs("<p class=\"advice\">none</p>\n", f);
        return;
    }
    fputs("<ul class=\"silent\">\n", f);
    for (j = 0; j < d->nsilent; j++) {
        const ts_entity *e = &d->orgs.v[d->silent[j]];
        fputs("<li>", f);
        ts_html_escape(f, ts_org_display(e));
        fprintf(f, ": last report %s</li>\n", TS_WNAME(r, e->last_day));
    }
    fputs("</ul>\n", f);
}

/* Partial days: a box each with the command that rebuilds the day. */
static void partial(FILE *f, const ts_report *r, const ts_domain *d)
{
    char cmd[512];

    for (int w = 0; w < r->ndays; w++) {
        if (!TS_WDAY(d, w)->partial)
            continue;
        fprintf(f, "<div class=\"verdict warn partial\">%s: memcached failed during a report's "
                "counting, a partial count cannot be ruled out; rebuild that day with <code>",
                TS_WNAME(r, w));
        ts_html_escape(f, ts_rebuild_cmd(r, TS_WNAME(r, w), cmd, sizeof(cmd)));
        fputs("</code></div>\n", f);
    }
}

/* Sessions per policy type. */
static void ptypes(FILE *f, const ts_domain *d)
{
    fputs("<h3>Sessions by policy type</h3>\n<p class=\"advice\">a session reported under both "
          "sts and tlsa counts once in the totals (the larger of the two per report); here each "
          "type has its own sums</p>\n<table class=\"ptypes\"><tr><th>policy type</th>"
          "<th class=\"n\">ok</th><th class=\"n\">failed</th><th class=\"n\">days</th></tr>\n",
          f);
    for (int k = 0; k < TS_NPT; k++) {
        fprintf(f, "<tr><td>%s</td>", ts_pt_names[k]);
        td_cnt(f, d->pt_ok[k]);
        td_cnt(f, d->pt_fail[k]);
        fprintf(f, "<td class=\"n\">%d</td></tr>\n", d->pt_days[k]);
    }
    fputs("</table>\n", f);
}

/* Report candidates not counted, per arrival day and reason. */
static void not_counted(FILE *f, const ts_report *r)
{
    fputs("<section class=\"nc\"><h2>Report candidates not counted</h2>\n", f);
    if (r->nnc == 0) {
        fputs("<p class=\"advice\">none in the window</p></section>\n", f);
        return;
    }
    fputs("<table class=\"nc\"><tr><th>arrival day (UTC)</th><th>reason</th>"
          "<th class=\"n\">count</th></tr>\n", f);
    for (size_t i = 0; i < r->nnc; i++) {
        fprintf(f, "<tr><td>%s</td>", TS_WNAME(r, r->nc[i].w));
        td_str(f, r->nc_reasons.v[r->nc[i].reason].name);
        td_cnt(f, r->nc[i].n);
        fputs("</tr>\n", f);
    }
    fputs("<tr><td>window</td><td>all reasons</td>", f);
    td_cnt(f, r->nc_total);
    fputs("</tr></table></section>\n", f);
}

/* One domain's section. */
static void domain(FILE *f, const ts_report *r, const ts_domain *d, size_t i)
{
    char line[1024];

    fprintf(f, "<section class=\"domain\" id=\"d%zu\"><h2>", i);
    ts_html_escape(f, d->name);
    fputs("</h2>\n<p class=\"summary\">", f);
    ts_summary_line(r, d, line, sizeof(line));
    ts_html_escape(f, line);
    fprintf(f, "</p>\n<div class=\"verdict %s readiness\">MTA-STS (mode %s, %d clean day%s): ",
            ready_class(d->ready.verdict),
            d->ready.mode >= 0 ? ts_mode_names[d->ready.mode] : "unknown", d->ready.clean,
            d->ready.clean == 1 ? "" : "s");
    ts_ready_message(r, d, line, sizeof(line));
    ts_html_escape(f, line);
    fputs("</div>\n", f);
    partial(f, r, d);
    fputs("<h3>Daily trend</h3>\n", f);
    ts_svg_daily(f, r, d);
    day_table(f, r, d);
    ptypes(f, d);
    types(f, d);
    org_table(f, r, d);
    mx_table(f, d);
    silent(f, r, d);
    fputs("</section>\n", f);
}

/* The whole page. */
int ts_out_html(FILE *f, const ts_report *r)
{
    char rule[1024];
    size_t i;
    int k;

    head(f, r);
    for (i = 0; i < r->ndom; i++)
        domain(f, r, &r->dom[i], i);
    not_counted(f, r);
    fputs("<section><h2>Rules</h2>\n<ul class=\"rules\">\n", f);
    for (k = 0; k < TS_NRULES; k++) {
        ts_rules(k, rule, sizeof(rule));
        fprintf(f, "<li><b>%s</b>: ", ts_rule_keys[k]);
        ts_html_escape(f, rule);
        fputs("</li>\n", f);
    }
    fputs("</ul></section>\n</body></html>\n", f);
    return ferror(f) ? -1 : 0;
}
