/*
 * out.c - tlsrpt-parse output: the normalized report as JSON (one object
 * per input, one per line) and the oracle's TSV line.
 *
 * JSON: RFC 8460 field names; domains and MX names lower-cased without a
 * trailing dot; dates as UTC "YYYY-MM-DDTHH:MM:SSZ" (the raw string when
 * it could not be read); "day" the report's UTC day; absent fields left out.
 * Each policies[] entry with a domain also has "domain_source": "report" (its own
 * policy-domain), "header" (TLS-Report-Domain) or "other-policies" (the one
 * domain the report's other policies name: no header, e.g. a bare file).
 * TSV: exactly ../shared/corpus/oracle.py's columns (see parse.h).
 */
#include "parse.h"
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Add a string member when present. */
static void add_str(struct json_object *o, const char *k, const char *v)
{
    if (v)
        json_object_object_add(o, k, json_object_new_string(v));
}

/* Add a normalized domain member when present. */
static void add_domain(struct json_object *o, const char *k, const char *v)
{
    char buf[1024];
    if (!v)
        return;
    tlsrpt_normalize_domain(v, buf, sizeof buf);
    json_object_object_add(o, k, json_object_new_string(buf));
}

/* Add a date as UTC Zulu text (raw when unreadable). */
static void add_date(struct json_object *o, const char *k, const char *raw, int ok, time_t t)
{
    char buf[32];
    struct tm tm;
    if (!raw)
        return;
    if (ok && gmtime_r(&t, &tm) && strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm))
        add_str(o, k, buf);
    else
        add_str(o, k, raw);
}

/* A string array, optionally normalized as domains. */
static struct json_object *str_array(char **v, size_t n, int domains)
{
    struct json_object *a = json_object_new_array();
    char buf[1024];
    for (size_t i = 0; i < n; i++) {
        if (domains)
            tlsrpt_normalize_domain(v[i], buf, sizeof buf);
        json_object_array_add(a, json_object_new_string(domains ? buf : v[i]));
    }
    return a;
}

/* One failure-details entry as JSON. */
static struct json_object *failure_json(const tlsrpt_failure *f)
{
    struct json_object *o = json_object_new_object();
    add_str(o, "result-type", f->result_type);
    add_str(o, "sending-mta-ip", f->sending_mta_ip);
    add_domain(o, "receiving-mx-hostname", f->receiving_mx_hostname);
    add_str(o, "receiving-mx-helo", f->receiving_mx_helo);
    add_str(o, "receiving-ip", f->receiving_ip);
    if (f->has_failed_session_count)
        json_object_object_add(o, "failed-session-count", json_object_new_int64(f->failed_session_count));
    add_str(o, "additional-information", f->additional_information);
    add_str(o, "failure-reason-code", f->failure_reason_code);
    return o;
}

/* One policies[] entry as JSON. */
static struct json_object *policy_json(const tlsrpt_policy *p)
{
    struct json_object *o = json_object_new_object(), *po = json_object_new_object();
    struct json_object *so = json_object_new_object(), *fa = json_object_new_array();
    add_str(po, "policy-type", p->policy_type);
    if (p->policy_string)
        json_object_object_add(po, "policy-string", str_array(p->policy_string, p->n_policy_string, 0));
    add_domain(po, "policy-domain", p->policy_domain);
    if (p->mx_host)
        json_object_object_add(po, "mx-host", str_array(p->mx_host, p->n_mx_host, 1));
    json_object_object_add(o, "policy", po);
    if (p->policy_domain)       /* where the domain came from: report, header, other-policies */
        add_str(o, "domain_source", tlsrpt_domain_source_name(p->policy_domain_source));
    if (p->has_total_successful)
        json_object_object_add(so, "total-successful-session-count", json_object_new_int64(p->total_successful));
    if (p->has_total_failure)
        json_object_object_add(so, "total-failure-session-count", json_object_new_int64(p->total_failure));
    json_object_object_add(o, "summary", so);
    for (size_t i = 0; i < p->n_failures; i++)
        json_object_array_add(fa, failure_json(&p->failures[i]));
    json_object_object_add(o, "failure-details", fa);
    return o;
}

/* Print one input's result as a JSON line. */
void out_json(FILE *f, const char *name, const tlsrpt_report *r, int err, const char *errmsg)
{
    struct json_object *o = json_object_new_object();
    add_str(o, "file", name);
    if (!r) {
        add_str(o, "error", errmsg);
        add_str(o, "reason", tlsrpt_reason(err));
    } else {
        struct json_object *dr = json_object_new_object(), *pa = json_object_new_array();
        add_str(o, "organization-name", r->organization_name);
        add_str(o, "contact-info", r->contact_info);
        add_str(o, "report-id", r->report_id);
        add_date(dr, "start-datetime", r->start_raw, r->has_start, r->start);
        add_date(dr, "end-datetime", r->end_raw, r->has_end, r->end);
        json_object_object_add(o, "date-range", dr);
        if (r->has_start)
            add_str(o, "day", r->day);
        for (size_t i = 0; i < r->n_policies; i++)
            json_object_array_add(pa, policy_json(&r->policies[i]));
        json_object_object_add(o, "policies", pa);
    }
    fprintf(f, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
}

/* Print a TSV-safe string: tab, CR and LF become spaces; NULL prints nothing. */
static void tsv_str(FILE *f, const char *s)
{
    while (s && *s) {
        size_t n = strcspn(s, "\t\r\n");
        fwrite(s, 1, n, f);
        if (!s[n])
            break;
        fputc(' ', f);
        s += n + 1;
    }
}

/* Compare result-type totals by name (byte order = code point order for UTF-8). */
static int cmp_rt(const void *a, const void *b)
{
    const struct rt_sum *x = a, *y = b;
    return strcmp(x->name, y->name);
}

/* Print "domain:succ:fail:rt=n,..." for one policy. */
static void tsv_policy(FILE *f, const tlsrpt_policy *p)
{
    struct rt_sum *sums = calloc(p->n_failures ? p->n_failures : 1, sizeof *sums);
    size_t ns = 0;
    tsv_str(f, p->policy_domain);
    fputc(':', f);
    if (p->has_total_successful)
        fprintf(f, "%lld", (long long)p->total_successful);
    fputc(':', f);
    if (p->has_total_failure)
        fprintf(f, "%lld", (long long)p->total_failure);
    fputc(':', f);
    for (size_t i = 0; sums && i < p->n_failures; i++) {
        const char *rt = p->failures[i].result_type ? p->failures[i].result_type : "";
        size_t j = 0;
        while (j < ns && strcmp(sums[j].name, rt) != 0)
            j++;
        if (j == ns)
            sums[ns++].name = rt;
        sums[j].n += p->failures[i].failed_session_count;
    }
    if (sums)
        qsort(sums, ns, sizeof *sums, cmp_rt);
    for (size_t j = 0; j < ns; j++) {
        fprintf(f, "%s", j ? "," : "");
        tsv_str(f, sums[j].name);
        fprintf(f, "=%lld", (long long)sums[j].n);
    }
    free(sums);
}

/* Print the TSV header line. */
void out_tsv_header(FILE *f)
{
    fprintf(f, "file\torg\treport_id\tstart\tnpolicies\tpolicies\terror\n");
}

/* Print one input's TSV line. */
void out_tsv(FILE *f, const char *name, const tlsrpt_report *r, const char *errmsg)
{
    tsv_str(f, name);
    if (!r) {
        fprintf(f, "\t\t\t\t\t\t");
        tsv_str(f, errmsg);
        fputc('\n', f);
        return;
    }
    fputc('\t', f);
    tsv_str(f, r->organization_name);
    fputc('\t', f);
    tsv_str(f, r->report_id);
    fputc('\t', f);
    tsv_str(f, r->start_raw);
    fprintf(f, "\t%zu\t", r->n_policies);
    for (size_t i = 0; i < r->n_policies; i++) {
        if (i)
            fputc(';', f);
        tsv_policy(f, &r->policies[i]);
    }
    fprintf(f, "\t\n");
}
