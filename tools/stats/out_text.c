/*
 * out_text.c - the plain-text view: warnings first (counters lost, malformed
 * counters skipped, saturated counts), a summary table (one line per domain),
 * then per domain the daily trend (partial days marked, with the command that
 * rebuilds them), the policy types, the org and MX distributions, the result
 * types, MTA-STS readiness and silent reporters, then the report candidates not
 * counted and the rules. Tables fit 80 columns; longer names are cut with '~';
 * a saturated count (2^63-1) is shown as ">=2^63-1".
 *
 * Reporter strings are made terminal-safe: C0/C1 control characters, DEL and
 * bidirectional overrides become '?'. Widths count code points (wide CJK
 * characters may misalign a row; never overflow a buffer).
 * Errors: returns -1 when the stream has a write error.
 */
#include <string.h>
#include "stats.h"

#define WRAP 78

/* Copy s into out with terminal-unsafe characters replaced by '?'. */
static void clean(const char *s, char *out, size_t outlen)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;

    while (*p && o + 4 < outlen) {
        if (*p < 0x20 || *p == 0x7f) {
            out[o++] = '?';
            p++;
        } else if (p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F) {     /* C1 controls */
            out[o++] = '?';
            p += 2;
        } else if (p[0] == 0xE2 && ((p[1] == 0x80 && p[2] >= 0xAA && p[2] <= 0xAE) ||
                                    (p[1] == 0x81 && p[2] >= 0xA6 && p[2] <= 0xA9))) {
            out[o++] = '?';                                             /* bidi controls */
            p += 3;
        } else
            out[o++] = (char)*p++;
    }
    out[o] = '\0';
}

/* Print s left-aligned in width columns, cut with '~' when longer. */
static void col(FILE *f, const char *s, size_t width)
{
    char buf[2048];
    size_t cols, n;

    clean(s, buf, sizeof(buf));
    n = ts_utf8_prefix(buf, width, &cols);
    if (buf[n] != '\0') {
        n = ts_utf8_prefix(buf, width - 1, &cols);
        fprintf(f, "%.*s~", (int)n, buf);
        cols++;
    } else
        fputs(buf, f);
    for (; cols < width; cols++)
        fputc(' ', f);
}

/* Print text cleaned and word-wrapped at WRAP columns, each line indented. */
static void wrapped(FILE *f, const char *indent, const char *text)
{
    char buf[4096];
    const char *p = buf;
    size_t avail = WRAP - strlen(indent), n, cols, sp;

    clean(text, buf, sizeof(buf));
    while (*p) {
        n = ts_utf8_prefix(p, avail, &cols);
        if (p[n] != '\0') {
            for (sp = n; sp > 0 && p[sp] != ' '; sp--)
                ;
            if (sp > 0)
                n = sp;
        }
        fprintf(f, "%s%.*s\n", indent, (int)n, p);
        p += n;
        while (*p == ' ')
            p++;
    }
}

/* A count as a string (">=2^63-1" when saturated); returns buf. */
static const char *cnt(int64_t v, char *buf, size_t len)
{
    ts_format_count(v, buf, len);
    return buf;
}

/* Loss, malformed counters, saturation: said before anything else. */
static void warnings(FILE *f, const ts_report *r)
{
    char line[2048], cmd[512];
    size_t i;

    if (r->loss.why) {
        snprintf(line, sizeof(line), "WARNING: counters were lost: %s. The counts below are "
                 "too low; rebuild them from the archive with: %s", r->loss.text,
                 ts_rebuild_cmd(r, NULL, cmd, sizeof(cmd)));
        wrapped(f, "", line);
    }
    if (r->nbad) {
        snprintf(line, sizeof(line), "WARNING: %zu malformed counter%s skipped (not a number; "
                 "the rest is complete):", r->nbad, r->nbad == 1 ? "" : "s");
        wrapped(f, "", line);
        for (i = 0; i < r->nbad && i < TS_MAX_BAD; i++) {
            snprintf(line, sizeof(line), "%s holds \"%s\"", r->bad[i].key, r->bad[i].value);
            wrapped(f, "  ", line);
        }
    }
    if (r->saturated)
        wrapped(f, "", "NOTE: counts shown as >=2^63-1 are saturated: at least "
                "9223372036854775807 (the store stops there instead of wrapping).");
    if (r->loss.why || r->nbad || r->saturated)
        fputc('\n', f);
}

/* Short readiness label for the summary table. */
static void ready_label(const ts_domain *d, char *buf, size_t len)
{
    switch (d->ready.verdict) {
    case TS_READY_YES: snprintf(buf, len, "ready"); break;
    case TS_READY_MORE: snprintf(buf, len, "%d more days", d->ready.needed); break;
    case TS_READY_RESET: snprintf(buf, len, "%d more (reset)", d->ready.needed); break;
    case TS_READY_ENFORCING: snprintf(buf, len, "enforcing"); break;
    case TS_READY_MODE_NONE: snprintf(buf, len, "mode none"); break;
    default: snprintf(buf, len, "no sts"); break;
    }
}

/* Header and one summary row per domain. */
static void summary(FILE *f, const ts_report *r)
{
    char label[32], line[1024], a[24], b[24], c[24];
    size_t i;

    fprintf(f, "TLS-RPT %s .. %s (%d days, UTC), %zu domain%s\n\n", TS_WNAME(r, 0),
            TS_WNAME(r, r->ndays - 1), r->ndays, r->ndom, r->ndom == 1 ? "" : "s");
    warnings(f, r);
    fprintf(f, "%-22s %8s %10s %8s %7s %3s %s\n", "DOMAIN", "REPORTS", "OK", "FAILED",
            "RATE", "SPK", "READINESS");
    for (i = 0; i < r->ndom; i++) {
        const ts_domain *d = &r->dom[i];
        ready_label(d, label, sizeof(label));
        col(f, d->name, 22);
        fprintf(f, " %8s %10s %8s %6.2f%% %3d %s\n", cnt(d->reports, a, sizeof a),
                cnt(d->ok, b, sizeof b), cnt(d->fail, c, sizeof c),
                100.0 * ts_ratio(d->fail, ts_add64(d->ok, d->fail)), d->spikes, label);
    }
    fputc('\n', f);
    for (i = 0; i < r->ndom; i++) {
        ts_summary_line(r, &r->dom[i], line, sizeof(line));
        wrapped(f, "", line);
    }
}

/* Daily trend table of a domain, then the partial days with their rebuild command. */
static void trend(FILE *f, const ts_report *r, const ts_domain *d)
{
    char a[24], b[24], c[24], line[1024], cmd[512];
    int w;

    fprintf(f, "\nDaily trend\n%-10s %8s %12s %10s %8s  %s\n", "DAY", "REPORTS", "OK",
            "FAILED", "RATE", "NOTE");
    for (w = 0; w < r->ndays; w++) {
        const ts_day *day = TS_WDAY(d, w);
        if (day->reports <= 0) {
            fprintf(f, "%-10s %8s %12s %10s %8s  no reports\n", TS_WNAME(r, w), "-", "-", "-",
                    "-");
            continue;
        }
        fprintf(f, "%-10s %8s %12s %10s %7.2f%%", TS_WNAME(r, w), cnt(day->reports, a, sizeof a),
                cnt(day->ok, b, sizeof b), cnt(day->fail, c, sizeof c),
                100.0 * ts_ratio(day->fail, ts_add64(day->ok, day->fail)));
        if (day->spike)
            fprintf(f, "  SPIKE (median %g)", day->baseline);
        if (day->partial)
            fprintf(f, "  PARTIAL?");
        fputc('\n', f);
    }
    for (w = 0; w < r->ndays; w++)
        if (TS_WDAY(d, w)->partial) {
            snprintf(line, sizeof(line), "PARTIAL? %s: memcached failed during a report's "
                     "counting, a partial count cannot be ruled out; rebuild that day with: %s",
                     TS_WNAME(r, w), ts_rebuild_cmd(r, TS_WNAME(r, w), cmd, sizeof(cmd)));
            wrapped(f, "  ", line);
        }
}

/* Sessions per policy type (rule 12: ok / failed above count sts and tlsa once). */
static void ptypes(FILE *f, const ts_domain *d)
{
    char a[24], b[24];
    int k;

    fprintf(f, "\nSessions by policy type\n");
    wrapped(f, "  ", "a session reported under both sts and tlsa counts once in the totals "
            "(the larger of the two per report); here each type has its own sums");
    fprintf(f, "%-20s %14s %12s %6s\n", "POLICY TYPE", "OK", "FAILED", "DAYS");
    for (k = 0; k < TS_NPT; k++)
        fprintf(f, "%-20s %14s %12s %6d\n", ts_pt_names[k], cnt(d->pt_ok[k], a, sizeof a),
                cnt(d->pt_fail[k], b, sizeof b), d->pt_days[k]);
}

/* Organisation table with its verdict. */
static void orgs(FILE *f, const ts_report *r, const ts_domain *d)
{
    char advice[1024];
    size_t j;

    fprintf(f, "\nFailed sessions by reporting organisation\n");
    wrapped(f, "  ", ts_dist_advice(d, &d->orgs, &d->orgdist, 0, advice, sizeof(advice)));
    if (d->orgs.n == 0)
        return;
    fprintf(f, "%-38s %10s %9s %7s  %s\n", "ORGANISATION", "OK", "FAILED", "SHARE",
            "LAST SEEN");
    for (j = 0; j < d->orgs.n; j++) {
        const ts_entity *e = &d->orgs.v[d->orgs.order[j]];
        char a[24], b[24];
        col(f, ts_org_display(e), 38);
        fprintf(f, " %10s %9s %6.1f%%  %s\n", cnt(e->ok, a, sizeof a), cnt(e->fail, b, sizeof b),
                100.0 * e->share, e->last_day >= 0 ? TS_WNAME(r, e->last_day) : "-");
    }
}

/* A failed-sessions table (MX hosts or result types). */
static void fail_table(FILE *f, const char *title, const ts_set *s)
{
    size_t j;

    if (s->n == 0)
        return;
    fprintf(f, "%-58s %10s %7s\n", title, "FAILED", "SHARE");
    for (j = 0; j < s->n; j++) {
        const ts_entity *e = &s->v[s->order[j]];
        char a[24];
        col(f, strcmp(e->name, "~invalid") == 0 ? "~invalid (not host names)"
               : strcmp(e->name, "~other") == 0 ? "~other (folded by the per-report budget)"
                                               : e->name, 58);
        fprintf(f, " %10s %6.1f%%\n", cnt(e->fail, a, sizeof a), 100.0 * e->share);
    }
}

/* Result types with the majority headline. */
static void types(FILE *f, const ts_domain *d)
{
    char line[1024];
    const ts_rtype *t;

    fprintf(f, "\nResult types of failed sessions\n");
    if (d->majority >= 0 && (t = ts_rtype_find(d->types.v[d->majority].name)) != NULL) {
        ts_rtype_headline(t, d->name, d->types.v[d->majority].share, line, sizeof(line));
        wrapped(f, "  ", line);
    } else if (d->majority >= 0) {
        snprintf(line, sizeof(line), "%.0f%% of failed sessions are %s (not an RFC 8460 type)",
                 100.0 * d->types.v[d->majority].share, d->types.v[d->majority].name);
        wrapped(f, "  ", line);
    } else
        wrapped(f, "  ", d->types.n ? "no result type has the majority of failed sessions"
                                    : "no failed sessions");
    fail_table(f, "RESULT TYPE", &d->types);
}

/* Readiness and silent reporters. */
static void ready_silent(FILE *f, const ts_report *r, const ts_domain *d)
{
    char msg[512], line[1024];
    size_t j;

    ts_ready_message(r, d, msg, sizeof(msg));
    snprintf(line, sizeof(line), "mode %s%s%s%s, %d clean day%s: %s",
             d->ready.mode >= 0 ? ts_mode_names[d->ready.mode] : "unknown",
             d->ready.mode_day >= 0 ? " (reported " : "",
             d->ready.mode_day >= 0 ? TS_WNAME(r, d->ready.mode_day) : "",
             d->ready.mode_day >= 0 ? ")" : "", d->ready.clean, d->ready.clean == 1 ? "" : "s",
             msg);
    fprintf(f, "\nMTA-STS enforce readiness\n");
    wrapped(f, "  ", line);
    fprintf(f, "\nSilent reporters (no report in the last %d days)\n", TS_SILENT_DAYS);
    if (d->nsilent == 0)
        fprintf(f, "  none\n");
    for (j = 0; j < d->nsilent; j++) {
        const ts_entity *e = &d->orgs.v[d->silent[j]];
        fputs("  ", f);
        col(f, ts_org_display(e), 50);
        fprintf(f, " last report %s\n", TS_WNAME(r, e->last_day));
    }
}

/* Report candidates not counted, per arrival day and reason. */
static void not_counted(FILE *f, const ts_report *r)
{
    char a[24];
    size_t i;

    fprintf(f, "\nReport candidates not counted (arrival day, UTC)\n");
    if (r->nnc == 0) {
        fprintf(f, "  none\n");
        return;
    }
    fprintf(f, "%-10s %-40s %12s\n", "DAY", "REASON", "COUNT");
    for (i = 0; i < r->nnc; i++) {
        fprintf(f, "%-10s ", TS_WNAME(r, r->nc[i].w));
        col(f, r->nc_reasons.v[r->nc[i].reason].name, 40);
        fprintf(f, " %12s\n", cnt(r->nc[i].n, a, sizeof a));
    }
    fprintf(f, "%-10s %-40s %12s\n", "window", "all reasons", cnt(r->nc_total, a, sizeof a));
}

/* The whole text report. */
int ts_out_text(FILE *f, const ts_report *r)
{
    char advice[1024], rule[768];   /* a rule is a few hundred bytes: room for its key */
    size_t i;
    int k;

    summary(f, r);
    for (i = 0; i < r->ndom; i++) {
        const ts_domain *d = &r->dom[i];
        fputc('\n', f);
        wrapped(f, "== ", d->name);
        trend(f, r, d);
        ptypes(f, d);
        orgs(f, r, d);
        fprintf(f, "\nFailed sessions by receiving MX\n");
        wrapped(f, "  ", ts_dist_advice(d, &d->mxs, &d->mxdist, 1, advice, sizeof(advice)));
        fail_table(f, "MX HOST", &d->mxs);
        types(f, d);
        ready_silent(f, r, d);
    }
    not_counted(f, r);
    fprintf(f, "\nRules\n");
    for (k = 0; k < TS_NRULES; k++) {
        ts_rules(k, rule, sizeof(rule));
        snprintf(advice, sizeof(advice), "%s: %s", ts_rule_keys[k], rule);
        wrapped(f, "  ", advice);
    }
    return ferror(f) ? -1 : 0;
}
