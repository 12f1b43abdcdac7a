/*
 * map.c - map a parsed JSON report (json-c object) to a tlsrpt_report,
 * checking types and counts (RFC 8460 section 4).
 *
 * Lenient on absence: every field but "policies" (an array, possibly
 * empty) may be missing (NULL / has_* = 0), a null is read as missing, unknown keys are ignored, unknown result-types
 * and policy-types are kept verbatim. Strict on counts: a count that is
 * negative, not an integer, beyond a signed 64-bit value or above
 * max_session_count (MaxSessionCount, default 2^40: RFC 8460 counts are
 * sessions per day, and nothing is counted from such a report) makes the whole
 * report invalid (TLSRPT_ERR_INVALID), as does a value of the wrong JSON
 * type for an object or array field. mx-host may be a string or an array.
 * A policy without policy-domain (missing, null, "" or ".") takes report_domain
 * (TLS-Report-Domain); without one (a bare file, a mail without the header) it
 * takes the one domain the report's other policies name (Postfix's reporter,
 * sys4 tlsrpt-reporter, leaves it out of its no-policy-found policies); when
 * they name several, the report is TLSRPT_ERR_NO_POLICY_DOMAIN ("no-policy-domain":
 * never a policy dropped silently); when no policy names one, the domain stays
 * NULL (and the store says no-policy-domain). policy_domain_source says which.
 * Every string is copied as well-formed UTF-8: json-c passes invalid bytes
 * inside JSON strings through (its UTF-8 check is off by default, and on it
 * would reject the whole report), so NUL bytes and ill-formed sequences
 * become U+FFFD here (utf8.c) before any string reaches a counter key,
 * --json, a log line or tlsrpt-stats. A repaired string takes at most 3
 * times its bytes of arena.
 */
#include "stages.h"
#include <stdio.h>
#include <stdlib.h>

/* Copy n bytes into the arena as well-formed UTF-8: NUL bytes and ill-formed
   sequences become U+FFFD (utf8.c); a second pass only for a string that needs it. */
static char *dup_utf8(tlsrpt_arena *a, const char *s, size_t n)
{
    if (utf8_valid(s, n)) {
        char *r = arena_alloc(a, n + 1);
        return r ? memcpy(r, s, n) : NULL;      /* arena memory is zeroed: NUL-terminated */
    }
    char *r = arena_alloc(a, utf8_repair(s, n, NULL) + 1);
    if (r)
        utf8_repair(s, n, r);
    return r;
}

/* Copy a JSON string (or a scalar's text) into the arena, repaired. */
static char *dup_str(tlsrpt_arena *a, struct json_object *o)
{
    return dup_utf8(a, json_object_get_string(o), (size_t)json_object_get_string_len(o));
}

/* Read optional string member `key`; scalars are converted to text. 0 ok, -1 error. */
static int get_str(tlsrpt_arena *a, struct json_object *obj, const char *key, char **out,
                   char *err)
{
    struct json_object *v;
    *out = NULL;
    if (!json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
        return 0;
    if (json_object_is_type(v, json_type_object) || json_object_is_type(v, json_type_array)) {
        snprintf(err, TLSRPT_ERRLEN, "\"%s\" is not a string", key);
        return -1;
    }
    *out = dup_str(a, v);
    if (!*out) {
        snprintf(err, TLSRPT_ERRLEN, "out of memory");
        return -1;
    }
    return 0;
}

/* Read optional count member `key` (at most max) into *out; 1 if present, 0 absent, -1 invalid. */
static int get_count(struct json_object *obj, const char *key, int64_t max, int64_t *out, char *err)
{
    struct json_object *v;
    *out = 0;
    if (!json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
        return 0;
    if (!json_object_is_type(v, json_type_int)) {
        snprintf(err, TLSRPT_ERRLEN, "\"%s\" is not an integer: %.40s", key,
                 json_object_to_json_string(v));
        return -1;
    }
    int64_t i = json_object_get_int64(v);
    if (i == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX) {
        snprintf(err, TLSRPT_ERRLEN, "\"%s\" is beyond a signed 64-bit value", key);
        return -1;
    }
    if (i < 0) {
        snprintf(err, TLSRPT_ERRLEN, "\"%s\" is negative: %lld", key, (long long)i);
        return -1;
    }
    if (i > max) {
        snprintf(err, TLSRPT_ERRLEN, "\"%s\" is %lld, above the limit of %lld sessions "
                 "(MaxSessionCount)", key, (long long)i, (long long)max);
        return -1;
    }
    *out = i;
    return 1;
}

/* Get an optional member that must be of `type`; NULL if absent/null, sets *bad if mistyped. */
static struct json_object *get_typed(struct json_object *obj, const char *key,
                                     enum json_type type, int *bad, char *err)
{
    struct json_object *v;
    if (!json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
        return NULL;
    if (!json_object_is_type(v, type)) {
        snprintf(err, TLSRPT_ERRLEN, "\"%s\" is not %s", key,
                 type == json_type_array ? "an array" : "an object");
        *bad = 1;
        return NULL;
    }
    return v;
}

/* Read a string-or-array-of-strings member into a string array. */
static int get_str_list(tlsrpt_arena *a, struct json_object *obj, const char *key, char ***out,
                        size_t *n, char *err)
{
    struct json_object *v;
    *out = NULL;
    *n = 0;
    if (!json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
        return 0;
    size_t cnt = json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 1;
    if (json_object_is_type(v, json_type_object)) {
        snprintf(err, TLSRPT_ERRLEN, "\"%s\" is not a string or an array", key);
        return -1;
    }
    *out = cnt <= SIZE_MAX / sizeof **out ? arena_alloc(a, cnt * sizeof **out) : NULL;
    if (!*out)
        goto nomem;
    for (size_t i = 0; i < cnt; i++) {
        struct json_object *e = json_object_is_type(v, json_type_array)
                                ? json_object_array_get_idx(v, i) : v;
        if (!e || json_object_is_type(e, json_type_null))
            continue;
        if (json_object_is_type(e, json_type_object) || json_object_is_type(e, json_type_array)) {
            snprintf(err, TLSRPT_ERRLEN, "\"%s\" holds a non-string entry", key);
            return -1;
        }
        if (!((*out)[(*n)++] = dup_str(a, e)))
            goto nomem;
    }
    return 0;
nomem:
    snprintf(err, TLSRPT_ERRLEN, "out of memory");
    return -1;
}

/* Map one failure-details entry. */
static int map_failure(tlsrpt_arena *a, struct json_object *o, int64_t max, tlsrpt_failure *f,
                       char *err)
{
    if (!json_object_is_type(o, json_type_object)) {
        snprintf(err, TLSRPT_ERRLEN, "a failure-details entry is not an object");
        return -1;
    }
    int c;
    if (get_str(a, o, "result-type", &f->result_type, err) ||
        get_str(a, o, "sending-mta-ip", &f->sending_mta_ip, err) ||
        get_str(a, o, "receiving-mx-hostname", &f->receiving_mx_hostname, err) ||
        get_str(a, o, "receiving-mx-helo", &f->receiving_mx_helo, err) ||
        get_str(a, o, "receiving-ip", &f->receiving_ip, err) ||
        get_str(a, o, "additional-information", &f->additional_information, err) ||
        get_str(a, o, "failure-reason-code", &f->failure_reason_code, err))
        return -1;
    if ((c = get_count(o, "failed-session-count", max, &f->failed_session_count, err)) < 0)
        return -1;
    f->has_failed_session_count = c;
    return 0;
}

/* Map the "policy" object of a policies[] entry. */
static int map_policy_obj(tlsrpt_arena *a, struct json_object *po, tlsrpt_policy *p, char *err)
{
    if (get_str(a, po, "policy-type", &p->policy_type, err) ||
        get_str(a, po, "policy-domain", &p->policy_domain, err) ||
        get_str_list(a, po, "policy-string", &p->policy_string, &p->n_policy_string, err) ||
        get_str_list(a, po, "mx-host", &p->mx_host, &p->n_mx_host, err))
        return -1;
    return 0;
}

/* Does a policy-domain value name no domain (missing, "" or ".")? */
static int no_domain(const char *d)
{
    return !d || !d[0] || strcmp(d, ".") == 0;
}

/* Policies without a domain take the one domain the others name (file comment);
   0, or TLSRPT_ERR_NO_POLICY_DOMAIN / -1 (out of memory) with err. */
static int fill_from_others(tlsrpt_report *r, char *err)
{
    char one[256] = "", cur[256];
    const char *first = NULL;   /* the first naming policy's domain, as it spells it */
    size_t missing = 0, first_missing = 0, names = 0;
    for (size_t i = 0; i < r->n_policies; i++) {
        const tlsrpt_policy *p = &r->policies[i];
        if (no_domain(p->policy_domain)) {
            if (!missing++)
                first_missing = i;
            continue;
        }
        tlsrpt_normalize_domain(p->policy_domain, cur, sizeof cur);
        if (!names)
            memcpy(one, cur, sizeof one), names = 1, first = p->policy_domain;
        else if (strcmp(cur, one) != 0)
            names = 2;
    }
    if (!missing || !names)
        return 0;               /* nothing to fill, or nothing to fill from */
    if (names > 1) {
        snprintf(err, TLSRPT_ERRLEN, "policy %zu has no policy-domain, there is no "
                 "TLS-Report-Domain, and the other policies name several domains",
                 first_missing + 1);
        return TLSRPT_ERR_NO_POLICY_DOMAIN;
    }
    for (size_t i = 0; i < r->n_policies; i++) {
        tlsrpt_policy *p = &r->policies[i];
        if (!no_domain(p->policy_domain))
            continue;
        if (!(p->policy_domain = dup_utf8(r->arena, first, strlen(first)))) {
            snprintf(err, TLSRPT_ERRLEN, "out of memory");
            return -1;
        }
        p->policy_domain_source = TLSRPT_DOMAIN_OTHER_POLICIES;
    }
    return 0;
}

/* Map one policies[] entry (policy, summary, failure-details). */
static int map_policy(tlsrpt_arena *a, struct json_object *o, tlsrpt_policy *p,
                      const char *report_domain, int64_t max, char *err)
{
    int bad = 0, c;
    if (!json_object_is_type(o, json_type_object)) {
        snprintf(err, TLSRPT_ERRLEN, "a policies entry is not an object");
        return -1;
    }
    struct json_object *po = get_typed(o, "policy", json_type_object, &bad, err);
    struct json_object *so = bad ? NULL : get_typed(o, "summary", json_type_object, &bad, err);
    struct json_object *fa = bad ? NULL : get_typed(o, "failure-details", json_type_array, &bad, err);
    if (bad || (po && map_policy_obj(a, po, p, err)))
        return -1;
    if (!no_domain(p->policy_domain))
        p->policy_domain_source = TLSRPT_DOMAIN_REPORT;
    else if (report_domain && *report_domain) {
        if (!(p->policy_domain = dup_utf8(a, report_domain, strlen(report_domain)))) {
            snprintf(err, TLSRPT_ERRLEN, "out of memory");
            return -1;
        }
        p->policy_domain_from_header = 1;
        p->policy_domain_source = TLSRPT_DOMAIN_HEADER;
    }
    if (so) {
        if ((c = get_count(so, "total-successful-session-count", max, &p->total_successful, err)) < 0)
            return -1;
        p->has_total_successful = c;
        if ((c = get_count(so, "total-failure-session-count", max, &p->total_failure, err)) < 0)
            return -1;
        p->has_total_failure = c;
    }
    size_t n = fa ? json_object_array_length(fa) : 0;
    if (n && !(p->failures = arena_alloc(a, n * sizeof *p->failures))) {
        snprintf(err, TLSRPT_ERRLEN, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++)                  /* count first: freed on error too */
        if (p->n_failures++, map_failure(a, json_object_array_get_idx(fa, i), max, &p->failures[i], err))
            return -1;
    return 0;
}

/* Map the date-range object, parsing dates as UTC. */
static int map_dates(struct json_object *obj, tlsrpt_report *r, char *err)
{
    tlsrpt_arena *a = r->arena;
    int bad = 0;
    struct json_object *dr = get_typed(obj, "date-range", json_type_object, &bad, err);
    if (bad)
        return -1;
    if (!dr)
        return 0;
    if (get_str(a, dr, "start-datetime", &r->start_raw, err) ||
        get_str(a, dr, "end-datetime", &r->end_raw, err))
        return -1;
    r->has_start = r->start_raw && tlsrpt_parse_datetime(r->start_raw, &r->start) == 0;
    r->has_end = r->end_raw && tlsrpt_parse_datetime(r->end_raw, &r->end) == 0;
    if (r->has_start) {
        struct tm tm;
        gmtime_r(&r->start, &tm);
        strftime(r->day, sizeof r->day, "%Y-%m-%d", &tm);
    }
    return 0;
}

/* Map the top-level report (see file comment). */
static int map_top(struct json_object *obj, const char *report_domain, int64_t max,
                   tlsrpt_report *r, char *err)
{
    tlsrpt_arena *a = r->arena;
    int bad = 0;
    if (!json_object_is_type(obj, json_type_object)) {
        snprintf(err, TLSRPT_ERRLEN, "report JSON is not an object");
        return -1;
    }
    if (get_str(a, obj, "organization-name", &r->organization_name, err) ||
        get_str(a, obj, "contact-info", &r->contact_info, err) ||
        get_str(a, obj, "report-id", &r->report_id, err) || map_dates(obj, r, err))
        return -1;
    struct json_object *pa = get_typed(obj, "policies", json_type_array, &bad, err);
    if (bad)
        return -1;
    if (!pa) {                                      /* RFC 8460: required */
        snprintf(err, TLSRPT_ERRLEN, "\"policies\" is missing: not a TLS-RPT report");
        return -1;
    }
    size_t n = pa ? json_object_array_length(pa) : 0;
    if (n && !(r->policies = arena_alloc(a, n * sizeof *r->policies))) {
        snprintf(err, TLSRPT_ERRLEN, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++)                  /* count first: freed on error too */
        if (r->n_policies++, map_policy(a, json_object_array_get_idx(pa, i), &r->policies[i],
                                        report_domain, max, err))
            return -1;
    return fill_from_others(r, err);
}

/* Map obj to a new report in *out with the default MaxSessionCount (see stages.h). */
int tlsrpt_map_report(struct json_object *obj, const char *report_domain,
                      tlsrpt_report **out, char *err)
{
    return tlsrpt_map_report_max(obj, report_domain, TLSRPT_DEF_MAX_SESSION_COUNT, out, err);
}

/* Map obj to a new report in *out, every session count at most max_count. */
int tlsrpt_map_report_max(struct json_object *obj, const char *report_domain, int64_t max_count,
                          tlsrpt_report **out, char *err)
{
    tlsrpt_arena *a = arena_new();
    tlsrpt_report *r = a ? arena_alloc(a, sizeof *r) : NULL;
    *out = NULL;
    if (!r) {
        arena_free(a);
        snprintf(err, TLSRPT_ERRLEN, "out of memory");
        return TLSRPT_ERR_NOMEM;
    }
    r->arena = a;
    int rc = map_top(obj, report_domain, max_count, r, err);
    if (rc) {
        tlsrpt_report_free(r);
        return rc == TLSRPT_ERR_NO_POLICY_DOMAIN ? rc : TLSRPT_ERR_INVALID;
    }
    *out = r;
    return TLSRPT_OK;
}
