/*
 * out_json.c - the JSON view, schema "tlsrpt-stats/2" (documented field by
 * field in tools/stats/README.md; within one schema fields are only ever added,
 * a change of meaning bumps it: /2 made an organisation's name its identity, the
 * signer's organisational domain, with the organization-name as its label).
 * Counts are JSON integers; 9223372036854775807 means "at least that" (saturated)
 * and the object it is in says so with "saturated": true.
 * Built with json-c, so every string is escaped by json-c; names are valid
 * UTF-8 already (ts_decode_name). The days arrays (numbers, booleans and day
 * names we formatted ourselves: nothing to escape) are written directly, and
 * each domain is serialized and freed before the next (bounded memory).
 * Shares have 4 decimals, rates 6.
 * Errors: returns -1 on a write error.
 */
#include <string.h>
#include <json-c/json.h>
#include "stats.h"

#define ADD(o, k, v) json_object_object_add((o), (k), (v))

/* A rounded double with a fixed number of decimals. */
static json_object *jdouble(double v, int decimals)
{
    char buf[64];

    snprintf(buf, sizeof(buf), "%.*f", decimals, v);
    return json_object_new_double_s(v, buf);
}

/* A string, or JSON null when s is NULL. */
static json_object *jstr(const char *s)
{
    return s ? json_object_new_string(s) : NULL;
}

/* The window's rules and thresholds. */
static void add_rules(json_object *root)
{
    json_object *rules = json_object_new_object(), *th = json_object_new_object();
    char buf[1024];
    int k;

    for (k = 0; k < TS_NRULES; k++) {
        ts_rules(k, buf, sizeof(buf));
        ADD(rules, ts_rule_keys[k], json_object_new_string(buf));
    }
    ADD(root, "rules", rules);
    ADD(th, "spike_factor", json_object_new_int(TS_SPIKE_FACTOR));
    ADD(th, "spike_floor", json_object_new_int(TS_SPIKE_FLOOR));
    ADD(th, "baseline_days", json_object_new_int(TS_LEAD_DAYS));
    ADD(th, "concentration_percent", json_object_new_int(TS_CONC_PERCENT));
    ADD(th, "majority_share", jdouble(0.5, 1));
    ADD(th, "ready_days", json_object_new_int(TS_READY_DAYS));
    ADD(th, "silent_days", json_object_new_int(TS_SILENT_DAYS));
    ADD(root, "thresholds", th);
}

/* Window sums per policy type, every type present. */
static json_object *types_total_json(const ts_domain *d)
{
    json_object *o = json_object_new_object();

    for (int k = 0; k < TS_NPT; k++) {
        json_object *t = json_object_new_object();
        ADD(t, "ok", json_object_new_int64(d->pt_ok[k]));
        ADD(t, "fail", json_object_new_int64(d->pt_fail[k]));
        ADD(t, "days", json_object_new_int(d->pt_days[k]));
        ADD(o, ts_pt_names[k], t);
    }
    return o;
}

/* The days marked partial, each with the command that rebuilds it. */
static json_object *partial_json(const ts_report *r, const ts_domain *d)
{
    json_object *a = json_object_new_array();
    char cmd[512];

    for (int w = 0; w < r->ndays; w++) {
        if (!TS_WDAY(d, w)->partial)
            continue;
        json_object *o = json_object_new_object();
        ADD(o, "day", json_object_new_string(TS_WNAME(r, w)));
        ADD(o, "rebuild", json_object_new_string(ts_rebuild_cmd(r, TS_WNAME(r, w), cmd,
                                                                sizeof cmd)));
        json_object_array_add(a, o);
    }
    return a;
}

/* The spike days. */
static json_object *spikes_json(const ts_report *r, const ts_domain *d)
{
    json_object *a = json_object_new_array();

    for (int w = 0; w < r->ndays; w++)
        if (TS_WDAY(d, w)->spike)
            json_object_array_add(a, json_object_new_string(TS_WNAME(r, w)));
    return a;
}

/* The daily trend array, one day a line, written directly: it holds numbers, booleans
   and our own day names only (nothing to escape), and is most of the document. */
static void put_days(FILE *f, const ts_report *r, const ts_domain *d, int ind)
{
    fprintf(f, "%*s\"days\": [", ind, "");
    for (int w = 0; w < r->ndays; w++) {
        const ts_day *day = TS_WDAY(d, w);
        int64_t sessions = ts_add64(day->ok, day->fail);
        char rate[32] = "null";
        if (sessions > 0)
            snprintf(rate, sizeof rate, "%.6f", ts_ratio(day->fail, sessions));
        fprintf(f, "%s\n%*s{ \"day\": \"%s\", \"has_reports\": %s, \"reports\": %lld, \"ok\": %lld, "
                "\"fail\": %lld, \"failure_rate\": %s, \"spike\": %s, \"baseline_median\": %.1f, "
                "\"baseline_days\": %d, \"partial\": %s, \"saturated\": %s, \"policy_types\": {",
                w ? "," : "", ind + 2, "", TS_WNAME(r, w), day->reports > 0 ? "true" : "false",
                (long long)day->reports, (long long)day->ok, (long long)day->fail, rate,
                day->spike ? "true" : "false", day->baseline, day->baseline_n,
                day->partial ? "true" : "false",
                TS_IS_SAT(day->ok) || TS_IS_SAT(day->fail) || TS_IS_SAT(day->reports) ? "true"
                                                                                      : "false");
        for (int k = 0, n = 0; k < TS_NPT; k++)
            if (day->pt_seen & (1u << k))
                fprintf(f, "%s \"%s\": { \"ok\": %lld, \"fail\": %lld }", n++ ? "," : "",
                        ts_pt_names[k], (long long)day->pt_ok[k], (long long)day->pt_fail[k]);
        fputs(" } }", f);
    }
    fprintf(f, "\n%*s]", ind, "");
}

/* A distribution object (organisations or MX hosts) with its rows. */
static json_object *dist_json(const ts_report *r, const ts_domain *d, const ts_set *s,
                              const ts_dist *di, int is_mx)
{
    json_object *o = json_object_new_object(), *rows = json_object_new_array();
    char advice[1024];
    size_t j;

    ADD(o, "verdict", json_object_new_string(ts_dist_names[di->verdict]));
    ADD(o, "top", di->top >= 0 ? json_object_new_string(s->v[di->top].name) : NULL);
    if (!is_mx)
        ADD(o, "top_label", jstr(di->top >= 0 ? s->v[di->top].label : NULL));
    ADD(o, "top_share", jdouble(di->top_share, 4));
    ADD(o, "failed_total", json_object_new_int64(di->total));
    ADD(o, "advice", json_object_new_string(ts_dist_advice(d, s, di, is_mx, advice,
                                                           sizeof(advice))));
    for (j = 0; j < s->n; j++) {
        const ts_entity *e = &s->v[s->order[j]];
        json_object *row = json_object_new_object();
        ADD(row, "name", json_object_new_string(e->name));
        if (!is_mx) {
            ADD(row, "label", jstr(e->label));
            ADD(row, "display", json_object_new_string(ts_org_display(e)));
            ADD(row, "ok", json_object_new_int64(e->ok));
        }
        ADD(row, "fail", json_object_new_int64(e->fail));
        ADD(row, "saturated", json_object_new_boolean(TS_IS_SAT(e->ok) || TS_IS_SAT(e->fail)));
        ADD(row, "share", jdouble(e->share, 4));
        ADD(row, "first_seen", jstr(e->first_day >= 0 ? TS_WNAME(r, e->first_day) : NULL));
        ADD(row, "last_seen", jstr(e->last_day >= 0 ? TS_WNAME(r, e->last_day) : NULL));
        json_object_array_add(rows, row);
    }
    ADD(o, "rows", rows);
    return o;
}

/* Result types with the majority headline. */
static json_object *types_json(const ts_domain *d)
{
    json_object *o = json_object_new_object(), *rows = json_object_new_array();
    const ts_rtype *t = d->majority >= 0 ? ts_rtype_find(d->types.v[d->majority].name) : NULL;
    char head[1024];
    int64_t total = 0;
    size_t j;

    ADD(o, "majority", d->majority >= 0 ? json_object_new_string(d->types.v[d->majority].name)
                                        : NULL);
    if (t)
        ts_rtype_headline(t, d->name, d->types.v[d->majority].share, head, sizeof(head));
    ADD(o, "headline", t ? json_object_new_string(head) : NULL);
    ADD(o, "meaning", t ? json_object_new_string(t->meaning) : NULL);
    for (j = 0; j < d->types.n; j++) {
        const ts_entity *e = &d->types.v[d->types.order[j]];
        json_object *row = json_object_new_object();
        total = ts_add64(total, e->fail);
        ADD(row, "type", json_object_new_string(e->name));
        ADD(row, "rfc8460", json_object_new_boolean(ts_rtype_find(e->name) != NULL));
        ADD(row, "fail", json_object_new_int64(e->fail));
        ADD(row, "share", jdouble(e->share, 4));
        json_object_array_add(rows, row);
    }
    ADD(o, "failed_total", json_object_new_int64(total));
    ADD(o, "rows", rows);
    return o;
}

/* Readiness object. */
static json_object *ready_json(const ts_report *r, const ts_domain *d)
{
    json_object *o = json_object_new_object();
    const ts_ready *rd = &d->ready;
    char msg[512];

    ts_ready_message(r, d, msg, sizeof(msg));
    ADD(o, "mode", rd->mode >= 0 ? json_object_new_string(ts_mode_names[rd->mode]) : NULL);
    ADD(o, "mode_day", jstr(rd->mode_day >= 0 ? TS_WNAME(r, rd->mode_day) : NULL));
    ADD(o, "clean_days", json_object_new_int(rd->clean));
    ADD(o, "required_days", json_object_new_int(TS_READY_DAYS));
    ADD(o, "more_days_needed", json_object_new_int(rd->needed));
    ADD(o, "reset_day", jstr(rd->reset_day >= 0 ? TS_WNAME(r, rd->reset_day) : NULL));
    ADD(o, "verdict", json_object_new_string(ts_ready_names[rd->verdict]));
    ADD(o, "message", json_object_new_string(msg));
    return o;
}

/* One domain object. */
static json_object *domain_json(const ts_report *r, const ts_domain *d)
{
    json_object *o = json_object_new_object(), *tot = json_object_new_object(), *sil;
    int64_t sessions = ts_add64(d->ok, d->fail);
    char line[1024];
    size_t j;

    ADD(o, "domain", json_object_new_string(d->name));
    ts_summary_line(r, d, line, sizeof(line));
    ADD(o, "summary", json_object_new_string(line));
    ADD(tot, "reports", json_object_new_int64(d->reports));
    ADD(tot, "ok", json_object_new_int64(d->ok));
    ADD(tot, "fail", json_object_new_int64(d->fail));
    ADD(tot, "failure_rate", sessions > 0 ? jdouble(ts_ratio(d->fail, sessions), 6) : NULL);
    ADD(tot, "report_days", json_object_new_int(d->report_days));
    ADD(tot, "saturated", json_object_new_boolean(d->saturated));
    ADD(o, "totals", tot);
    ADD(o, "policy_types", types_total_json(d));
    ADD(o, "partial_days", partial_json(r, d));
    ADD(o, "latest_day", jstr(d->latest >= 0 ? TS_WNAME(r, d->latest) : NULL));
    ADD(o, "spikes", spikes_json(r, d));
    ADD(o, "organisations", dist_json(r, d, &d->orgs, &d->orgdist, 0));
    ADD(o, "mx_hosts", dist_json(r, d, &d->mxs, &d->mxdist, 1));
    ADD(o, "result_types", types_json(d));
    ADD(o, "readiness", ready_json(r, d));
    sil = json_object_new_array();
    for (j = 0; j < d->nsilent; j++) {
        const ts_entity *e = &d->orgs.v[d->silent[j]];
        json_object *row = json_object_new_object();
        ADD(row, "name", json_object_new_string(e->name));
        ADD(row, "label", jstr(e->label));
        ADD(row, "last_seen", json_object_new_string(TS_WNAME(r, e->last_day)));
        json_object_array_add(sil, row);
    }
    ADD(o, "silent_reporters", sil);
    return o;
}

/* Whether counters were lost, why, and the command that rebuilds them. */
static json_object *loss_json(const ts_report *r)
{
    json_object *o = json_object_new_object(), *why = json_object_new_array();
    char cmd[512];

    for (int k = 0; k < 3; k++)
        if (r->loss.why & (1u << k))
            json_object_array_add(why, json_object_new_string(ts_lost_names[k]));
    ADD(o, "checked", json_object_new_boolean(r->loss.checked));
    ADD(o, "archive_checked", json_object_new_boolean(r->loss.archive_checked));
    ADD(o, "lost", json_object_new_boolean(r->loss.why != 0));
    ADD(o, "reasons", why);
    ADD(o, "message", r->loss.why ? json_object_new_string(r->loss.text) : NULL);
    ADD(o, "rebuild", r->loss.why ? json_object_new_string(ts_rebuild_cmd(r, NULL, cmd,
                                                                          sizeof cmd)) : NULL);
    return o;
}

/* The malformed counters that were skipped (the first TS_MAX_BAD named). */
static json_object *bad_json(const ts_report *r)
{
    json_object *o = json_object_new_object(), *a = json_object_new_array();

    for (size_t i = 0; i < r->nbad && i < TS_MAX_BAD; i++) {
        json_object *k = json_object_new_object();
        ADD(k, "key", json_object_new_string(r->bad[i].key));
        ADD(k, "value", json_object_new_string(r->bad[i].value));
        json_object_array_add(a, k);
    }
    ADD(o, "total", json_object_new_int64((int64_t)r->nbad));
    ADD(o, "keys", a);
    return o;
}

/* o[key] += n (two encodings of one reason decode alike: never a duplicate key). */
static void add_sum(json_object *o, const char *key, int64_t n)
{
    json_object *old;

    if (json_object_object_get_ex(o, key, &old))
        n = ts_add64(n, json_object_get_int64(old));
    ADD(o, key, json_object_new_int64(n));
}

/* Report candidates not counted: window sums per reason and per arrival day. */
static json_object *nc_json(const ts_report *r)
{
    json_object *o = json_object_new_object(), *by = json_object_new_object();
    json_object *days = json_object_new_array(), *cur = NULL, *reasons = NULL;
    int cur_w = -1;

    for (size_t i = 0; i < r->nc_reasons.n; i++)
        add_sum(by, r->nc_reasons.v[i].name, r->nc_reasons.v[i].fail);
    for (size_t i = 0; i < r->nnc; i++) {          /* sorted by day (analyze.c) */
        const ts_nc *n = &r->nc[i];
        if (n->w != cur_w) {
            cur = json_object_new_object();
            reasons = json_object_new_object();
            ADD(cur, "day", json_object_new_string(TS_WNAME(r, n->w)));
            ADD(cur, "reasons", reasons);
            json_object_array_add(days, cur);
            cur_w = n->w;
        }
        add_sum(reasons, r->nc_reasons.v[n->reason].name, n->n);
    }
    ADD(o, "total", json_object_new_int64(r->nc_total));
    ADD(o, "by_reason", by);
    ADD(o, "days", days);
    return o;
}

#define JFLAGS (JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE)

/* Write s[0..n), every line after the first indented by ind spaces. */
static void put_text(FILE *f, const char *s, size_t n, int ind)
{
    const char *end = s + n, *nl;

    while ((nl = memchr(s, '\n', (size_t)(end - s))) != NULL) {
        fwrite(s, 1, (size_t)(nl - s) + 1, f);
        fprintf(f, "%*s", ind, "");
        s = nl + 1;
    }
    fwrite(s, 1, (size_t)(end - s), f);
}

/* Write o serialized by json-c, indented by ind spaces. */
static void put_indented(FILE *f, json_object *o, int ind)
{
    const char *s = json_object_to_json_string_ext(o, JFLAGS);

    put_text(f, s, strlen(s), ind);
}

/* One domain: its object by json-c, then the days array spliced in before its '}'. */
static void put_domain(FILE *f, const ts_report *r, const ts_domain *d, int ind)
{
    json_object *o = domain_json(r, d);
    const char *s = json_object_to_json_string_ext(o, JFLAGS);
    size_t n = strlen(s);

    while (n > 0 && s[n - 1] != '}')            /* a pretty object ends "\n}" */
        n--;
    while (n > 1 && (s[n - 2] == ' ' || s[n - 2] == '\n'))
        n--;
    put_text(f, s, n - 1, ind);
    fputs(",\n", f);
    put_days(f, r, d, ind + 2);
    fprintf(f, "\n%*s}", ind, "");
    json_object_put(o);
}

/* The whole JSON document. The domains are built and written one at a time, so the
   tree json-c holds is one domain, not all of them, and the days arrays are written
   directly (3,000 domains x 30 days: 4.5 s and 270 MB as one json-c tree). */
int ts_out_json(FILE *f, const ts_report *r)
{
    json_object *root = json_object_new_object(), *win = json_object_new_object();
    char gen[32];
    struct tm tm;
    size_t i;

    gmtime_r(&r->generated, &tm);
    strftime(gen, sizeof(gen), "%Y-%m-%dT%H:%M:%SZ", &tm);
    ADD(root, "schema", json_object_new_string(TS_SCHEMA));
    ADD(root, "generated", json_object_new_string(gen));
    ADD(win, "first_day", json_object_new_string(TS_WNAME(r, 0)));
    ADD(win, "last_day", json_object_new_string(TS_WNAME(r, r->ndays - 1)));
    ADD(win, "days", json_object_new_int(r->ndays));
    ADD(root, "window", win);
    add_rules(root);
    ADD(root, "loss", loss_json(r));
    ADD(root, "malformed_counters", bad_json(r));
    ADD(root, "saturated", json_object_new_boolean(r->saturated));
    ADD(root, "not_counted", nc_json(r));
    fputs("{\n", f);
    json_object_object_foreach(root, key, val) {
        json_object *k = json_object_new_string(key);
        fputs("  ", f);
        put_indented(f, k, 2);
        fputs(": ", f);
        if (val)
            put_indented(f, val, 2);
        else
            fputs("null", f);
        fputs(",\n", f);
        json_object_put(k);
    }
    json_object_put(root);
    fputs("  \"domains\": [", f);
    for (i = 0; i < r->ndom; i++) {
        fputs(i ? ",\n    " : "\n    ", f);
        put_domain(f, r, &r->dom[i], 4);
    }
    fputs(r->ndom ? "\n  ]\n}\n" : " ]\n}\n", f);
    return ferror(f) ? -1 : 0;
}
