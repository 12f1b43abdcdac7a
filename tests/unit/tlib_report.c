/*
 * tlib_report.c - canonical report rendering and chunked decoding drivers
 * for the decoder tests (see tlib_report.h). Test-only code: aborts on
 * out of memory. Header splitting for the milter way follows RFC 5322:
 * a field runs until the next line that does not start with SP/HT; the
 * value loses its leading blanks and keeps its folding as LF + blank,
 * as libmilter hands it over; the body starts after the first empty line.
 */
#include "tlib_report.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Print a possibly-NULL string. */
static void put_str(FILE *f, const char *key, const char *v)
{
    if (v)
        fprintf(f, "%s=\"%s\"\n", key, v);
    else
        fprintf(f, "%s=(null)\n", key);
}

/* Print one failure-details entry. */
static void put_failure(FILE *f, const tlsrpt_failure *x)
{
    put_str(f, "  result-type", x->result_type);
    put_str(f, "  sending-mta-ip", x->sending_mta_ip);
    put_str(f, "  receiving-mx-hostname", x->receiving_mx_hostname);
    put_str(f, "  receiving-mx-helo", x->receiving_mx_helo);
    put_str(f, "  receiving-ip", x->receiving_ip);
    fprintf(f, "  failed-session-count=%lld has=%d\n", (long long)x->failed_session_count,
            x->has_failed_session_count);
    put_str(f, "  additional-information", x->additional_information);
    put_str(f, "  failure-reason-code", x->failure_reason_code);
}

/* Print one policies[] entry. */
static void put_policy(FILE *f, const tlsrpt_policy *p)
{
    put_str(f, " policy-type", p->policy_type);
    fprintf(f, " policy-string n=%zu\n", p->n_policy_string);
    for (size_t i = 0; i < p->n_policy_string; i++)
        put_str(f, "  ps", p->policy_string[i]);
    put_str(f, " policy-domain", p->policy_domain);
    fprintf(f, " from-header=%d source=%d\n mx-host n=%zu\n", p->policy_domain_from_header,
            p->policy_domain_source, p->n_mx_host);
    for (size_t i = 0; i < p->n_mx_host; i++)
        put_str(f, "  mx", p->mx_host[i]);
    fprintf(f, " succ=%lld has=%d fail=%lld has=%d failures=%zu\n",
            (long long)p->total_successful, p->has_total_successful,
            (long long)p->total_failure, p->has_total_failure, p->n_failures);
    for (size_t i = 0; i < p->n_failures; i++)
        put_failure(f, &p->failures[i]);
}

/* Render every field of a report. */
char *tlib_render(const tlsrpt_report *r)
{
    char *out = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    if (!f)
        abort();
    put_str(f, "organization-name", r->organization_name);
    put_str(f, "contact-info", r->contact_info);
    put_str(f, "report-id", r->report_id);
    put_str(f, "start-raw", r->start_raw);
    put_str(f, "end-raw", r->end_raw);
    fprintf(f, "start=%lld has=%d end=%lld has=%d day=%s\npolicies=%zu\n",
            (long long)r->start, r->has_start, (long long)r->end, r->has_end, r->day,
            r->n_policies);
    for (size_t i = 0; i < r->n_policies; i++)
        put_policy(f, &r->policies[i]);
    fclose(f);
    return out;
}

/* Write s with tab/CR/LF as spaces (oracle.py's s()). */
static void put_tsv(FILE *f, const char *s)
{
    for (; s && *s; s++)
        fputc(*s == '\t' || *s == '\r' || *s == '\n' ? ' ' : *s, f);
}

/* Compare two C strings for qsort (NULL sorts as ""). */
static int cmp_str(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    return strcmp(x ? x : "", y ? y : "");
}

/* One policy's "rt=n,..." sorted by result type, counts summed. */
static void put_bytype(FILE *f, const tlsrpt_policy *p)
{
    char **types = calloc(p->n_failures + 1, sizeof *types);
    if (!types)
        abort();
    for (size_t i = 0; i < p->n_failures; i++)
        types[i] = p->failures[i].result_type;
    qsort(types, p->n_failures, sizeof *types, cmp_str);
    int first = 1;
    for (size_t i = 0; i < p->n_failures; i++) {
        if (i > 0 && cmp_str(&types[i], &types[i - 1]) == 0)
            continue;
        long long sum = 0;
        for (size_t j = 0; j < p->n_failures; j++)
            if (cmp_str(&types[i], &p->failures[j].result_type) == 0)
                sum += p->failures[j].failed_session_count;
        fputs(first ? "" : ",", f);
        put_tsv(f, types[i]);
        fprintf(f, "=%lld", sum);
        first = 0;
    }
    free(types);
}

/* The oracle's policies column. */
char *tlib_policies_tsv(const tlsrpt_report *r)
{
    char *out = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    if (!f)
        abort();
    for (size_t i = 0; i < r->n_policies; i++) {
        const tlsrpt_policy *p = &r->policies[i];
        fputs(i ? ";" : "", f);
        put_tsv(f, p->policy_domain);
        fputc(':', f);
        if (p->has_total_successful)
            fprintf(f, "%lld", (long long)p->total_successful);
        fputc(':', f);
        if (p->has_total_failure)
            fprintf(f, "%lld", (long long)p->total_failure);
        fputc(':', f);
        put_bytype(f, p);
    }
    fclose(f);
    return out;
}

/* The oracle's whole line for a decoded report. */
char *tlib_tsv_line(const char *file, const tlsrpt_report *r)
{
    char *pol = tlib_policies_tsv(r), *out = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    if (!f)
        abort();
    fprintf(f, "%s\t", file);
    put_tsv(f, r->organization_name);
    fputc('\t', f);
    put_tsv(f, r->report_id);
    fputc('\t', f);
    put_tsv(f, r->start_raw);
    fprintf(f, "\t%zu\t%s\t", r->n_policies, pol);
    fclose(f);
    free(pol);
    return out;
}

/* Feed buf to fn in the chunking `how`; stops at the first error. */
static int feed_cut(tlsrpt_decoder *d, int (*fn)(tlsrpt_decoder *, const void *, size_t),
                    const char *buf, size_t len, tlib_cut how)
{
    int rc = TLSRPT_OK;
    if (how.cut > 0 && how.cut < len) {
        rc = fn(d, buf, how.cut);
        if (rc == TLSRPT_OK)
            rc = fn(d, buf + how.cut, len - how.cut);
        return rc;
    }
    size_t step = how.chunk ? how.chunk : len;
    for (size_t off = 0; off < len && rc == TLSRPT_OK; off += step)
        rc = fn(d, buf + off, len - off < step ? len - off : step);
    return rc;
}

/* Append every report after the first and every failed report part to s. */
static char *more_outcome(tlsrpt_decoder *d, char *s)
{
    char *t;
    for (size_t i = 1; i < tlsrpt_result_count(d); i++) {
        char *body = tlib_render(tlsrpt_result_at(d, i));
        if (asprintf(&t, "%s=== report %zu\n%s", s, i, body) < 0)
            abort();
        free(body);
        free(s);
        s = t;
    }
    for (size_t i = 0; i < tlsrpt_part_count(d); i++) {
        tlsrpt_part p;
        if (tlsrpt_part_at(d, i, &p) == TLSRPT_OK)
            continue;
        if (asprintf(&t, "%s\n=== part %d: %s%s", s, p.part, tlsrpt_reason(p.err),
                     *p.msg ? "" : " (empty part message)") < 0)
            abort();
        free(s);
        s = t;
    }
    return s;
}

/* Finish d and turn the outcome into the canonical string: the first report (or the
   error), then the other reports and the failed report parts. */
static char *outcome(tlsrpt_decoder *d, int rc, int *rcp)
{
    char *s = NULL;
    if (rc == TLSRPT_OK)
        rc = tlsrpt_finish(d);
    else
        (void)tlsrpt_finish(d);         /* must keep returning the sticky error */
    if (rc == TLSRPT_OK && tlsrpt_result(d)) {
        char *body = tlib_render(tlsrpt_result(d));
        if (asprintf(&s, "OK\n%s", body) < 0)
            abort();
        free(body);
        s = more_outcome(d, s);
    } else if (asprintf(&s, "ERR %s%s", tlsrpt_reason(rc),
                        rc == TLSRPT_OK ? " (OK without a result)" :
                        !*tlsrpt_errstr(d) ? " (empty error string)" :
                        tlsrpt_error(d) != rc ? " (tlsrpt_error differs)" : "") < 0) {
        abort();
    }
    if (rcp)
        *rcp = rc;
    return s;
}

/* Decode by tlsrpt_feed in the given chunking. */
char *tlib_decode_feed(const void *buf, size_t len, const tlsrpt_limits *lim,
                       enum tlsrpt_mode mode, tlib_cut how, int *rc)
{
    tlsrpt_decoder *d = tlsrpt_decoder_new(lim, mode);
    if (!d)
        abort();
    char *s = outcome(d, feed_cut(d, tlsrpt_feed, buf, len, how), rc);
    tlsrpt_decoder_free(d);
    return s;
}

/* Split one header field [p,e) into name and LF-folded value; feed it. */
static int feed_field(tlsrpt_decoder *d, const char *p, const char *e)
{
    const char *colon = memchr(p, ':', (size_t)(e - p));
    if (!colon)
        return TLSRPT_OK;               /* not a field; libmilter would not pass it */
    char *name = strndup(p, (size_t)(colon - p));
    const char *v = colon + 1;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    char *val = malloc((size_t)(e - v) + 1), *w = val;
    if (!name || !val)
        abort();
    for (; v < e; v++)
        if (*v != '\r')
            *w++ = *v;
    while (w > val && w[-1] == '\n')
        w--;
    *w = 0;
    int rc = tlsrpt_feed_header(d, name, val);
    free(name);
    free(val);
    return rc;
}

/* Decode the milter way. */
char *tlib_decode_milter(const void *vbuf, size_t len, const tlsrpt_limits *lim,
                         tlib_cut how, int *rcp)
{
    const char *buf = vbuf, *p = buf, *end = buf + len;
    tlsrpt_decoder *d = tlsrpt_decoder_new(lim, TLSRPT_MODE_MESSAGE);
    int rc = TLSRPT_OK;
    if (!d)
        abort();
    while (p < end && rc == TLSRPT_OK) {
        if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n')) {
            p += *p == '\n' ? 1 : 2;                /* empty line: body follows */
            break;
        }
        const char *e = p;
        for (;;) {                                  /* to the end of the folded field */
            const char *nl = memchr(e, '\n', (size_t)(end - e));
            e = nl ? nl + 1 : end;
            if (e >= end || (*e != ' ' && *e != '\t'))
                break;
        }
        rc = feed_field(d, p, e);
        p = e;
    }
    if (rc == TLSRPT_OK)
        rc = tlsrpt_end_headers(d);
    if (rc == TLSRPT_OK)
        rc = feed_cut(d, tlsrpt_feed_body, p, (size_t)(end - p), how);
    char *s = outcome(d, rc, rcp);
    tlsrpt_decoder_free(d);
    return s;
}

/* Decode in one go and take the report. */
tlsrpt_report *tlib_decode(const void *buf, size_t len, const tlsrpt_limits *lim,
                           enum tlsrpt_mode mode, int *rc, char *err, size_t errlen)
{
    tlsrpt_report *r = NULL;
    char e[512];
    int x = tlsrpt_decode_buffer(buf, len, lim, mode, &r, e, sizeof e);
    if (rc)
        *rc = x;
    if (err && errlen)
        snprintf(err, errlen, "%s", x == TLSRPT_OK ? "" : e);
    return r;
}
