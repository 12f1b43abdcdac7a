/*
 * plan.c - turn one decoded report into a plan (key schema v2): the counted
 * domains in name order, each with its sums (st_dom), before any I/O; emit.c
 * then builds the keys.
 *
 * Per (report, counted domain D), rule 12 of README: the policies of D are
 * summed per policy type (sts, tlsa, no-policy-found, other = any other
 * string); sts and tlsa describe the same sessions, so D's ok/fail take the
 * one with more sessions (ok + fail; a tie goes to more failures), and
 * no-policy-found and other add to it. Result types and MX names keep every
 * failure of every policy (types are not exclusive in RFC 8460). mode: the
 * strongest sts mode (enforce > testing > none).
 * Limits: ST_MAX_DOMAINS domains per report (first by name); ST_MAX_MX MX
 * names per report and domain (first by name; the others count under type:
 * only); negative counts count 0; sums saturate at INT64_MAX.
 * Errors: NOT_COUNTABLE (reason set) or STORE_FAILED on out of memory / too
 * many keys (errbuf set).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include "store_int.h"
#include "sha256.h"

/* One policy with its normalized domain, for grouping by domain. */
typedef struct pol_ref {
    char dom[256];
    size_t idx;
} pol_ref;

/* Index of a result type (0..ST_N_TYPES - 1), ST_N_TYPES ("other") when not an RFC 8460
   one: compared by length first (called for every failure entry). */
static size_t type_index(const char *rt)
{
    static size_t len[ST_N_TYPES];
    size_t n = rt ? strlen(rt) : 0;
    for (size_t i = 0; n && i < ST_N_TYPES; i++) {
        const char *name = st_type_name(i);
        size_t l = __atomic_load_n(&len[i], __ATOMIC_RELAXED);
        if (!l)
            __atomic_store_n(&len[i], l = strlen(name), __ATOMIC_RELAXED);
        if (l == n && rt[0] == name[0] && memcmp(rt, name, n) == 0)
            return i;
    }
    return ST_N_TYPES;
}

/* Policy type class of rule 12: 0 sts, 1 tlsa, 2 no-policy-found, 3 anything else. */
static size_t ptype_class(const char *t)
{
    for (size_t i = 0; t && i < 3; i++)
        if (strcasecmp(t, st_ptype_name(i)) == 0)
            return i;
    return 3;
}

/* A count as an unsigned delta (negative -> 0). */
static uint64_t nonneg(int64_t v)
{
    return v > 0 ? (uint64_t)v : 0;
}

/* Saturating add for the summed counts. */
static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > (uint64_t)INT64_MAX - b ? (uint64_t)INT64_MAX : a + b;
}

/* Rank of the "mode:" value in one sts policy-string entry (3 enforce .. 1 none, 0 absent). */
static int mode_rank_of(const char *s)
{
    int best = 0;
    for (const char *line = s; line && *line; ) {
        const char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncasecmp(p, "mode", 4) == 0) {
            p += 4;
            while (*p == ' ' || *p == '\t')
                p++;
            if (*p == ':') {
                p++;
                while (*p == ' ' || *p == '\t')
                    p++;
                size_t n = strcspn(p, " \t\r\n;");
                int r = (n == 7 && strncasecmp(p, "enforce", 7) == 0) ? 3
                      : (n == 7 && strncasecmp(p, "testing", 7) == 0) ? 2 : 1;
                if (r > best)
                    best = r;
            }
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return best;
}

/* Strongest MTA-STS mode over the given policies ("none" when no sts mode). */
static const char *domain_mode(const tlsrpt_report *r, const pol_ref *g, size_t n)
{
    int best = 1;
    for (size_t i = 0; i < n; i++) {
        const tlsrpt_policy *pol = &r->policies[g[i].idx];
        if (!pol->policy_type || strcasecmp(pol->policy_type, "sts") != 0)
            continue;
        for (size_t j = 0; j < pol->n_policy_string; j++) {
            int m = mode_rank_of(pol->policy_string[j]);
            if (m > best)
                best = m;
        }
    }
    return best == 3 ? "enforce" : best == 2 ? "testing" : "none";
}

/* FNV-1a hash of a canonical MX name, for merging the per-MX sums. */
static uint64_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Canonical MX name of a failure into out; 0 when it has none (not counted per MX). */
static int failure_mx(const tlsrpt_failure *f, char *out, size_t outlen)
{
    char mxn[256];
    const char *raw = f->receiving_mx_hostname;
    if (!raw || !raw[0])
        return 0;
    if (tlsrpt_store_normalize_domain(raw, mxn, sizeof mxn) != 0) {
        snprintf(out, outlen, "%s", ST_MX_INVALID);     /* not a host name (13) */
        return 1;
    }
    size_t n = strlen(mxn);     /* [a-z0-9.-] only: a short one encodes to itself */
    if (n <= ST_COMP_MAX && n < outlen) {
        memcpy(out, mxn, n + 1);
        return 1;
    }
    return st_canon(out, outlen, mxn) > 0;
}

/* qsort: MX sums by name. */
static int cmp_mx(const void *a, const void *b)
{
    return strcmp(((const st_mx *)a)->name, ((const st_mx *)b)->name);
}

/* Collect the per-MX sums of a domain's failures, merged by name in a hash table, in the
   order first seen; over ST_MAX_MX names, sorted so that the first ST_MAX_MX by name are
   the ones counted (whatever the report's order); -1 on out of memory. */
static int collect_mx(const tlsrpt_report *r, const pol_ref *g, size_t n, st_mx **out, size_t *nout)
{
    size_t nf = 0, k = 0, cap = 16, last_at = 0;
    for (size_t i = 0; i < n; i++)
        nf += r->policies[g[i].idx].n_failures;
    while (cap < 2 * nf)
        cap *= 2;
    size_t *slot = calloc(cap, sizeof *slot);          /* 0 empty, else index + 1 */
    st_mx *v = malloc((nf ? nf : 1) * sizeof *v);
    const char *last = NULL;    /* raw name of the previous failure: reports repeat one MX */
    char name[sizeof v->name];
    if (!slot || !v) {
        free(slot);
        free(v);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const tlsrpt_policy *pol = &r->policies[g[i].idx];
        for (size_t j = 0; j < pol->n_failures; j++) {
            uint64_t cnt = nonneg(pol->failures[j].failed_session_count);
            const char *raw = pol->failures[j].receiving_mx_hostname;
            if (cnt == 0)
                continue;
            if (!(last && raw && strcmp(raw, last) == 0)) {
                if (!failure_mx(&pol->failures[j], name, sizeof name))
                    continue;
                size_t h = (size_t)str_hash(name) & (cap - 1);
                while (slot[h] && strcmp(v[slot[h] - 1].name, name) != 0)
                    h = (h + 1) & (cap - 1);
                if (!slot[h]) {
                    memcpy(v[k].name, name, sizeof name);
                    v[k].cnt = 0;
                    v[k].fold = ST_KEEP;
                    slot[h] = ++k;
                }
                last = raw;
                last_at = slot[h] - 1;
            }
            v[last_at].cnt = sat_add(v[last_at].cnt, cnt);
        }
    }
    free(slot);
    if (k > ST_MAX_MX)
        qsort(v, k, sizeof *v, cmp_mx);
    *out = v;
    *nout = k < ST_MAX_MX ? k : ST_MAX_MX;  /* beyond: counted under type: only */
    return 0;
}

/* Rule 12: D's sessions = the larger of sts and tlsa (ok + fail; a tie goes to more
   failures), plus no-policy-found and other. */
static void twin_rule(st_dom *d)
{
    uint64_t s = sat_add(d->pt_ok[0], d->pt_fail[0]), t = sat_add(d->pt_ok[1], d->pt_fail[1]);
    size_t w = s > t || (s == t && d->pt_fail[0] >= d->pt_fail[1]) ? 0 : 1;
    d->ok = sat_add(d->pt_ok[w], sat_add(d->pt_ok[2], d->pt_ok[3]));
    d->fail = sat_add(d->pt_fail[w], sat_add(d->pt_fail[2], d->pt_fail[3]));
}

/* Sums of one counted domain (group g of n policies) into d; -1 on out of memory. */
static int analyze_domain(const tlsrpt_report *r, const pol_ref *g, size_t n, st_dom *d)
{
    memset(d, 0, sizeof *d);
    memcpy(d->name, g[0].dom, sizeof d->name);     /* both 256 bytes, NUL-terminated */
    /* The domain is encoded in full (never "~"-shortened), so a reader that encodes a
       domain name itself builds the same keys with tlsrpt_key_build. */
    if (tlsrpt_key_component(d->D, sizeof d->D, d->name) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const tlsrpt_policy *pol = &r->policies[g[i].idx];
        size_t c = ptype_class(pol->policy_type);
        d->pt_has[c] = 1;
        d->pt_ok[c] = sat_add(d->pt_ok[c], nonneg(pol->total_successful));
        d->pt_fail[c] = sat_add(d->pt_fail[c], nonneg(pol->total_failure));
        const char *prev = NULL;    /* reports list one type many times: look it up once */
        size_t t = ST_N_TYPES;
        for (size_t j = 0; j < pol->n_failures; j++) {
            const char *rt = pol->failures[j].result_type;
            if (!prev || !rt || (rt != prev && strcmp(rt, prev) != 0))
                t = type_index(rt);
            prev = rt;
            d->type[t] = sat_add(d->type[t], nonneg(pol->failures[j].failed_session_count));
        }
    }
    twin_rule(d);
    d->mode = domain_mode(r, g, n);
    return collect_mx(r, g, n, &d->mx, &d->n_mx);
}

/* Add the domain's sums to the plan's (info) sums and domain list. */
static void sum_domain(st_plan *p, const st_dom *d)
{
    if (d->drop)
        return;
    p->ok = (int64_t)sat_add((uint64_t)p->ok, d->ok);
    p->fail = (int64_t)sat_add((uint64_t)p->fail, d->fail);
    for (size_t c = 0; c < ST_PT_N; c++) {
        p->pt_ok[c] = (int64_t)sat_add((uint64_t)p->pt_ok[c], d->pt_ok[c]);
        p->pt_fail[c] = (int64_t)sat_add((uint64_t)p->pt_fail[c], d->pt_fail[c]);
    }
    p->n_domains++;
    size_t used = strlen(p->domains), dl = strlen(d->name);
    if (used + 1 + dl < sizeof p->domains) {        /* else cut: the list is for messages */
        if (used)
            p->domains[used++] = ',';
        memcpy(p->domains + used, d->name, dl + 1);
    }
}

/* qsort: policies by domain, then position. */
static int cmp_ref(const void *a, const void *b)
{
    const pol_ref *x = a, *y = b;
    int c = strcmp(x->dom, y->dom);
    return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Dedup key P seen:H: H = hex SHA-256("dkim" NUL org_key NUL report-id) with a signer,
   else hex SHA-256(organization-name NUL report-id) (schema v1). */
static int plan_seen(const tlsrpt_store *st, const tlsrpt_report *r, st_plan *p)
{
    tlsrpt_sha256_ctx c;
    unsigned char d[TLSRPT_SHA256_LEN];
    char hex[2 * TLSRPT_SHA256_LEN + 1];
    const char *org = r->organization_name ? r->organization_name : "";
    const char *rid = r->report_id ? r->report_id : "";
    tlsrpt_sha256_init(&c);
    if (p->org_key[0]) {
        tlsrpt_sha256_update(&c, "dkim", 5);
        tlsrpt_sha256_update(&c, p->org_key, strlen(p->org_key) + 1);
    } else {
        tlsrpt_sha256_update(&c, org, strlen(org) + 1);
    }
    tlsrpt_sha256_update(&c, rid, strlen(rid));
    tlsrpt_sha256_final(&c, d);
    tlsrpt_hex(hex, d, sizeof d);
    return tlsrpt_key_build(p->seen_key, sizeof p->seen_key, st->prefix,
                            (const char *const[]){ "seen", hex }, 2) < 0 ? -1 : 0;
}

/* The reporter's key of new domains on the arrival day: P org:ORG:A:newdomains. */
static int plan_reporter(const tlsrpt_store *st, const tlsrpt_count_req *q, st_plan *p)
{
    st_day_of(q->arrival ? q->arrival : time(NULL), p->arr_day);
    if (q->host_id && q->host_id[0] && st_canon(p->host, sizeof p->host, q->host_id) < 0)
        return -1;
    return tlsrpt_key_build(p->rep_key, sizeof p->rep_key, st->prefix,
                            (const char *const[]){ "org", p->org, p->arr_day, "newdomains" }, 4) < 0
               ? -1 : 0;
}

/* The ORG component (signer, else organization-name; "%00" for none) and, with a
   signer, the display label P org:ORG:name = encoded organization-name. */
static int plan_identity(const tlsrpt_store *st, const tlsrpt_report *r,
                         const tlsrpt_count_req *q, st_plan *p)
{
    const char *name = r->organization_name;
    if (q->org_key && q->org_key[0]) {
        size_t n = strlen(name ? name : "");
        char *norm = p->org_key;
        if (tlsrpt_store_normalize_domain(q->org_key, norm, sizeof p->org_key) != 0)
            snprintf(norm, sizeof p->org_key, "%s", q->org_key);   /* not ours to refuse: encoded */
        if (st_canon(p->org, sizeof p->org, norm) < 0
            || tlsrpt_key_build(p->label_key, sizeof p->label_key, st->prefix,
                                (const char *const[]){ "org", p->org, "name" }, 3) < 0)
            return -1;
        n = n > ST_LABEL_MAX ? ST_LABEL_MAX : n;
        if (!(p->label_val = malloc(3 * n + 4)))
            return -1;
        char *raw = strndup(name ? name : "", n);
        int len = raw ? tlsrpt_key_component(p->label_val, 3 * n + 4, raw) : -1;
        free(raw);
        if (len < 0)
            return -1;
        p->label_len = (size_t)len;
        return plan_reporter(st, q, p);
    }
    if (name && name[0]) {
        if (st_canon(p->org, sizeof p->org, name) < 0)
            return -1;
    } else {
        strcpy(p->org, "%00");  /* never produced by a real name (no NUL in strings) */
    }
    return plan_reporter(st, q, p);
}


/* Is the normalized domain counted under the allow-list? */
static int allowed(const tlsrpt_store *st, const char *dom)
{
    if (!st->allow)
        return 1;
    for (size_t i = 0; i < st->n_allow; i++)
        if (strcmp(st->allow[i], dom) == 0)
            return 1;
    return 0;
}

/* Group the countable policies by domain and plan each group. */
static int plan_groups(const tlsrpt_store *st, const tlsrpt_report *r, st_plan *p,
                       int *saw_foreign, const char **bad_domain)
{
    pol_ref *refs = r->n_policies ? calloc(r->n_policies, sizeof *refs) : NULL;
    size_t n = 0;
    int rc = 0;
    if (r->n_policies && !refs)
        return -1;
    for (size_t i = 0; i < r->n_policies; i++) {
        const char *pd = r->policies[i].policy_domain;
        if (!pd || !pd[0] || strcmp(pd, ".") == 0)
            continue;           /* no domain */
        if (tlsrpt_store_normalize_domain(pd, refs[n].dom, sizeof refs[n].dom) != 0) {
            if (!*bad_domain)
                *bad_domain = pd;   /* not a host name: the report is invalid (13) */
            continue;
        }
        if (!allowed(st, refs[n].dom)) {
            *saw_foreign = 1;
            continue;
        }
        refs[n++].idx = i;
    }
    if (n)
        qsort(refs, n, sizeof *refs, cmp_ref);
    size_t groups = 0;
    for (size_t i = 0, j; i < n; i = j, groups++)
        for (j = i + 1; j < n && strcmp(refs[j].dom, refs[i].dom) == 0; j++)
            ;
    groups = groups < ST_MAX_DOMAINS ? groups : ST_MAX_DOMAINS;
    p->dom = groups ? calloc(groups, sizeof *p->dom) : NULL;
    if (groups && !p->dom)
        rc = -1;
    for (size_t i = 0, j; i < n && rc == 0 && p->n_dom < groups; i = j) {
        for (j = i + 1; j < n && strcmp(refs[j].dom, refs[i].dom) == 0; j++)
            ;
        rc = analyze_domain(r, refs + i, j - i, &p->dom[p->n_dom]);
        if (rc == 0)
            sum_domain(p, &p->dom[p->n_dom++]);
    }
    free(refs);
    return rc;
}

/* The UTC day "YYYY-MM-DD" of t. */
void st_day_of(time_t t, char *out)
{
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(out, 11, "%Y-%m-%d", &tm) != 10)
        strcpy(out, "1970-01-01");
}

/* The plan's info sums over the domains still counted (after the budgets). */
void st_plan_sums(st_plan *p)
{
    p->ok = p->fail = 0;
    memset(p->pt_ok, 0, sizeof p->pt_ok);
    memset(p->pt_fail, 0, sizeof p->pt_fail);
    p->n_domains = 0;
    p->domains[0] = 0;
    for (size_t i = 0; i < p->n_dom; i++)
        sum_domain(p, &p->dom[i]);
}

/* Is any session count of the report above the store's limit (or negative)? */
static int count_too_big(const tlsrpt_store *st, const tlsrpt_report *r)
{
    for (size_t i = 0; i < r->n_policies; i++) {
        const tlsrpt_policy *pol = &r->policies[i];
        if (nonneg(pol->total_successful) > st->max_count || nonneg(pol->total_failure) > st->max_count)
            return 1;
        for (size_t j = 0; j < pol->n_failures; j++)
            if (nonneg(pol->failures[j].failed_session_count) > st->max_count)
                return 1;
    }
    return 0;
}

/* Compute the whole plan; TLSRPT_COUNTED when there is something to write. */
int st_plan_build(const tlsrpt_store *st, const tlsrpt_report *r, const tlsrpt_count_req *q,
                  st_plan *p, tlsrpt_count_info *info, char *errbuf, size_t errlen)
{
    int saw_foreign = 0;
    const char *bad = NULL;
    memset(p, 0, sizeof *p);
    if (!r->has_start || !r->day[0]) {
        snprintf(info->reason, sizeof info->reason, "no-date");
        snprintf(errbuf, errlen, "report has no start date");
        return TLSRPT_NOT_COUNTABLE;
    }
    if (count_too_big(st, r)) {
        snprintf(info->reason, sizeof info->reason, "invalid-report");
        snprintf(errbuf, errlen, "a session count is above %llu", (unsigned long long)st->max_count);
        return TLSRPT_NOT_COUNTABLE;
    }
    if (plan_identity(st, r, q, p) < 0 || plan_groups(st, r, p, &saw_foreign, &bad) < 0
        || (!bad && plan_seen(st, r, p) < 0) || st_canon(p->Y, sizeof p->Y, r->day) < 0
        || (!bad && p->n_domains > 0 && st_emit(st, p) < 0)) {
        snprintf(info->reason, sizeof info->reason, "store-unavailable");
        snprintf(errbuf, errlen, "cannot plan counters: out of memory or over %d keys",
                 ST_MAX_OPS);
        st_plan_free(p);
        return TLSRPT_STORE_FAILED;
    }
    if (bad) {
        char cut[41], shown[124];
        snprintf(cut, sizeof cut, "%s", bad);
        tlsrpt_key_component(shown, sizeof shown, cut);     /* hostile bytes: %XX */
        snprintf(info->reason, sizeof info->reason, "invalid-report");
        snprintf(errbuf, errlen, "policy-domain '%s%s' is not a host name", shown,
                 strlen(bad) > 40 ? "..." : "");
        st_plan_free(p);
        return TLSRPT_NOT_COUNTABLE;
    }
    if (p->n_domains == 0) {
        snprintf(info->reason, sizeof info->reason, "%s",
                 saw_foreign ? "foreign-domain" : "no-policy-domain");
        snprintf(errbuf, errlen, "%s", saw_foreign ? "no policy domain is in the allow-list"
                                                   : "no policy has a policy-domain");
        st_plan_free(p);
        return TLSRPT_NOT_COUNTABLE;
    }
    return TLSRPT_COUNTED;
}

/* Release the plan's arrays. */
void st_plan_free(st_plan *p)
{
    for (size_t i = 0; i < p->n_dom; i++)
        free(p->dom[i].mx);
    free(p->dom);
    free(p->ctr);
    free(p->mem);
    free(p->set);
    free(p->label_val);
    p->dom = NULL;
    p->ctr = NULL;
    p->mem = NULL;
    p->set = NULL;
    p->label_val = NULL;
    p->n_dom = p->n_ctr = p->n_mem = p->n_set = p->cap_ctr = p->cap_mem = p->cap_set = 0;
}
