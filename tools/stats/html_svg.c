/*
 * html_svg.c - the inline SVG charts of the HTML page and its escaping:
 * the daily chart (sessions per day as stacked ok / failed bars, then failed
 * sessions per day on their own scale with spikes marked and days without
 * reports shaded) and the result-type bar chart.
 *
 * Every string from memcached goes through ts_html_escape (& < > " ' and
 * control characters). Charts need no script: details are in <title> tooltips.
 * Limits: sized for up to TS_MAX_DAYS days (bars get thinner). No errors.
 */
#include <string.h>
#include "stats.h"

#define CW 1100         /* chart width */
#define CL 70           /* left margin for the axis labels */
#define CR 10           /* right margin */
#define PH 120          /* height of one panel */

/* Write s escaped for HTML text and attribute values. */
void ts_html_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default:
            if ((unsigned char)*s < 0x20 || *s == 0x7f)
                fputc('?', f);
            else
                fputc(*s, f);
        }
    }
}

/* A bar's tooltip: day and its numbers. */
static void bar_title(FILE *f, const char *day, const ts_day *d)
{
    if (d->reports <= 0)
        fprintf(f, "<title>%s: no reports</title>", day);
    else
        fprintf(f, "<title>%s: %lld reports, %lld ok, %lld failed (%.2f%%)%s</title>", day,
                (long long)d->reports, (long long)d->ok, (long long)d->fail,
                100.0 * ts_ratio(d->fail, ts_add64(d->ok, d->fail)), d->spike ? ", spike" : "");
}

/* Axis of one panel: baseline, top value and caption. */
static void axis(FILE *f, int y0, int64_t max, const char *caption)
{
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"axis\"/>\n", CL, y0 + PH,
            CW - CR, y0 + PH);
    fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"lab\" text-anchor=\"end\">%lld</text>\n",
            CL - 6, y0 + 10, (long long)max);
    fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"lab\" text-anchor=\"end\">0</text>\n", CL - 6,
            y0 + PH);
    fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"cap\">%s</text>\n", CL + 4, y0 - 6, caption);
}

/* Largest day value in the window (ok + fail, or fail only); at least 1. */
static int64_t window_max(const ts_report *r, const ts_domain *d, int fail_only)
{
    int64_t m = 1, v;
    int w;

    for (w = 0; w < r->ndays; w++) {
        const ts_day *day = TS_WDAY(d, w);
        v = fail_only ? day->fail : ts_add64(day->ok, day->fail);
        if (v > m)
            m = v;
    }
    return m;
}

/* Height in pixels of v on a panel scaled to max. */
static double scale(int64_t v, int64_t max)
{
    return (double)PH * (double)v / (double)max;
}

/* Top panel: stacked ok (green) and failed (red) sessions per day. */
static void panel_sessions(FILE *f, const ts_report *r, const ts_domain *d, int y0, double bw)
{
    int64_t max = window_max(r, d, 0);
    int w;

    axis(f, y0, max, "sessions per day (green ok, red failed)");
    for (w = 0; w < r->ndays; w++) {
        const ts_day *day = TS_WDAY(d, w);
        double x = CL + w * bw + 1, hok = scale(day->ok, max), hf = scale(day->fail, max);
        fprintf(f, "<g>");
        bar_title(f, TS_WNAME(r, w), day);
        if (day->reports <= 0)
            fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" class=\"nodata\"/>",
                    x, y0, bw - 2, PH);
        else {
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" class=\"ok\"/>",
                    x, y0 + PH - hok, bw - 2, hok);
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                    "class=\"fail\"/>", x, y0 + PH - hok - hf, bw - 2, hf);
        }
        fprintf(f, "</g>\n");
    }
}

/* Bottom panel: failed sessions per day, spikes marked. */
static void panel_failed(FILE *f, const ts_report *r, const ts_domain *d, int y0, double bw)
{
    int64_t max = window_max(r, d, 1);
    int w;

    axis(f, y0, max, "failed sessions per day (spikes marked)");
    for (w = 0; w < r->ndays; w++) {
        const ts_day *day = TS_WDAY(d, w);
        double x = CL + w * bw + 1, h = scale(day->fail, max);
        fprintf(f, "<g>");
        bar_title(f, TS_WNAME(r, w), day);
        if (day->reports <= 0)
            fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" class=\"nodata\"/>",
                    x, y0, bw - 2, PH);
        else
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" class=\"%s\"/>",
                    x, y0 + PH - h, bw - 2, h, day->spike ? "spike" : "fail");
        fprintf(f, "</g>\n");
        if (day->spike)
            fprintf(f, "<path d=\"M%.1f %.1f l6 -10 l-12 0 z\" class=\"spike\"/>"
                    "<text x=\"%.1f\" y=\"%.1f\" class=\"spiketext\" text-anchor=\"middle\">"
                    "spike</text>\n", x + (bw - 2) / 2, y0 + PH - h - 2, x + (bw - 2) / 2,
                    y0 + PH - h - 15);
    }
}

/* The daily chart of a domain: two panels and the day labels. */
void ts_svg_daily(FILE *f, const ts_report *r, const ts_domain *d)
{
    double bw = (double)(CW - CL - CR) / r->ndays;
    int w, step = r->ndays > 14 ? (r->ndays + 9) / 10 : 1, h = 2 * PH + 110;

    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"daily\" width=\"%d\" "
            "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"daily sessions of ",
            CW, h, CW, h);
    ts_html_escape(f, d->name);
    fprintf(f, "\">\n");
    panel_sessions(f, r, d, 30, bw);
    panel_failed(f, r, d, PH + 75, bw);
    for (w = 0; w < r->ndays; w += step)
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" class=\"lab\" text-anchor=\"middle\">%s</text>\n",
                CL + w * bw + bw / 2, 2 * PH + 95, TS_WNAME(r, w) + 5);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" class=\"nodata\"/>"
            "<text x=\"%d\" y=\"%d\" class=\"lab\">no reports</text>\n", CW - 110, 2 * PH + 100,
            CW - 96, 2 * PH + 109);
    fprintf(f, "</svg>\n");
}

/* Horizontal bars: failed sessions by result type with shares. */
void ts_svg_types(FILE *f, const ts_domain *d)
{
    size_t j, n = d->types.n;
    int h = (int)n * 26 + 10;

    if (n == 0)
        return;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"types\" width=\"%d\" "
            "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"result types\">\n",
            CW, h, CW, h);
    for (j = 0; j < n; j++) {
        const ts_entity *e = &d->types.v[d->types.order[j]];
        int y = 5 + (int)j * 26;
        double wdt = 700.0 * e->share;
        fprintf(f, "<g><title>");
        ts_html_escape(f, e->name);
        fprintf(f, ": %lld failed sessions</title>", (long long)e->fail);
        fprintf(f, "<text x=\"230\" y=\"%d\" class=\"lab\" text-anchor=\"end\">", y + 15);
        ts_html_escape(f, e->name);
        fprintf(f, "</text><rect x=\"240\" y=\"%d\" width=\"%.1f\" height=\"20\" class=\"%s\"/>",
                y, wdt < 1 ? 1 : wdt, (long)d->types.order[j] == d->majority ? "spike" : "fail");
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" class=\"lab\">%.1f%% (%lld)</text></g>\n",
                246 + wdt, y + 15, 100.0 * e->share, (long long)e->fail);
    }
    fprintf(f, "</svg>\n");
}
