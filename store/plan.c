/*
 * plan.c - turn one decoded report into the exact list of counter
 * increments and index-set members of key schema v1, before any I/O.
 *
 * Per (report, counted domain D, day Y), summed over D's policies:
 *   d:D:Y:ok/fail += total-successful/total-failure   (always written, may be +0)
 *   d:D:Y:reports += 1, d:D:Y:mode:M += 1              (M: strongest sts mode)
 *   d:D:Y:org:ORG:ok/fail                              (always written)
 *   d:D:Y:type:RT, d:D:Y:mx:MX:fail += failed sessions (skipped when 0)
 * Identical keys are merged (sorted), so each key is incremented once.
 * Limits: ST_MAX_OPS counters + members per report; ST_MAX_DOMAINS domains
 * per report (first by name); ST_MAX_MX MX names per report and domain (first
 * by name; the others count under type: only); negative counts count 0;
 * sums saturate at INT64_MAX. Errors: NOT_COUNTABLE (reason set) or
 * STORE_FAILED on out of memory / too many keys (errbuf set).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "store_int.h"
#include "sha256.h"

static const char *const rfc_types[] = {
    "starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
    "certificate-not-trusted", "validation-failure", "tlsa-invalid", "dnssec-invalid",
    "dane-required", "sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid"
};

/* One policy with its normalized domain, for grouping by domain. */
typedef struct pol_ref {
    char dom[256];
    size_t idx;
} pol_ref;

#define N_TYPES (sizeof rfc_types / sizeof rfc_types[0])

/* Index of a result type in rfc_types, N_TYPES ("other") when not an RFC 8460 one. */
static size_t type_index(const char *rt)
{
    for (size_t i = 0; rt && i < N_TYPES; i++)
        if (rt[0] == rfc_types[i][0] && strcmp(rt, rfc_types[i]) == 0)
            return i;
    return N_TYPES;
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

/* Append a counter built from comps; -1 when out of memory / too many keys. */
static int add_ctr(const tlsrpt_store *st, st_plan *p, const char *const *comps, size_t n,
                   uint64_t delta, int keep_zero)
{
    if (delta == 0 && !keep_zero)
        return 0;
    if (p->n_ctr + p->n_mem >= ST_MAX_OPS)
        return -1;
    if (p->n_ctr == p->cap_ctr) {
        size_t nc = p->cap_ctr ? p->cap_ctr * 2 : 32;
        st_counter *nv = realloc(p->ctr, nc * sizeof *nv);
        if (!nv)
            return -1;
        p->ctr = nv;
        p->cap_ctr = nc;
    }
    st_counter *c = &p->ctr[p->n_ctr];
    if (tlsrpt_key_build(c->key, sizeof c->key, st->prefix, comps, n) < 0)
        return -1;
    c->delta = delta;
    c->keep_zero = keep_zero;
    p->n_ctr++;
    return 0;
}

/* Append an index member (set key from comps); -1 when out of memory / too many. */
static int add_mem(const tlsrpt_store *st, st_plan *p, const char *const *comps, size_t n,
                   const char *member, int long_lived)
{
    if (p->n_ctr + p->n_mem >= ST_MAX_OPS)
        return -1;
    if (p->n_mem == p->cap_mem) {
        size_t nc = p->cap_mem ? p->cap_mem * 2 : 16;
        st_member *nv = realloc(p->mem, nc * sizeof *nv);
        if (!nv)
            return -1;
        p->mem = nv;
        p->cap_mem = nc;
    }
    st_member *m = &p->mem[p->n_mem];
    if (tlsrpt_key_build(m->set, sizeof m->set, st->prefix, comps, n) < 0
        || strlen(member) >= sizeof m->member)
        return -1;
    strcpy(m->member, member);
    m->long_lived = long_lived;
    p->n_mem++;
    return 0;
}

/* Failed sessions of one receiving MX (canonical name). */
typedef struct mx_sum {
    char name[ST_COMP_MAX + 1];
    uint64_t cnt;
} mx_sum;

/* Canonical MX name of a failure into out; 0 when it has none (not counted per MX). */
static int failure_mx(const tlsrpt_failure *f, char *out, size_t outlen)
{
    char mxn[256];
    if (!f->receiving_mx_hostname || strlen(f->receiving_mx_hostname) > 254)
        return 0;
    tlsrpt_normalize_domain(f->receiving_mx_hostname, mxn, sizeof mxn);
    return mxn[0] && st_canon(out, outlen, mxn) > 0;
}

/* qsort: MX sums by name. */
static int cmp_mx(const void *a, const void *b)
{
    return strcmp(((const mx_sum *)a)->name, ((const mx_sum *)b)->name);
}

/* Collect the per-MX sums of a domain's failures, merged by name in a hash table, in the
   order first seen; over ST_MAX_MX names, sorted so that the first ST_MAX_MX by name are
   the ones counted (whatever the report's order); -1 on out of memory. */
static int collect_mx(const tlsrpt_report *r, const pol_ref *g, size_t n, mx_sum **out, size_t *nout)
{
    size_t nf = 0, k = 0, cap = 16, last_at = 0;
    for (size_t i = 0; i < n; i++)
        nf += r->policies[g[i].idx].n_failures;
    while (cap < 2 * nf)
        cap *= 2;
    size_t *slot = calloc(cap, sizeof *slot);          /* 0 empty, else index + 1 */
    mx_sum *v = malloc((nf ? nf : 1) * sizeof *v);
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

/* type: and mx: counters (and their set members) of one domain, each summed first. */
static int plan_failures(const tlsrpt_store *st, const tlsrpt_report *r, st_plan *p,
                         const pol_ref *g, size_t n, const char *D, const char *Y)
{
    uint64_t per_type[N_TYPES + 1] = { 0 };
    mx_sum *mx = NULL;
    size_t nmx = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        const tlsrpt_policy *pol = &r->policies[g[i].idx];
        for (size_t j = 0; j < pol->n_failures; j++) {
            size_t t = type_index(pol->failures[j].result_type);
            per_type[t] = sat_add(per_type[t], nonneg(pol->failures[j].failed_session_count));
        }
    }
    for (size_t t = 0; t <= N_TYPES && rc == 0; t++) {
        const char *rt = t < N_TYPES ? rfc_types[t] : "other";
        if (per_type[t] && (add_ctr(st, p, (const char *const[]){ "d", D, Y, "type", rt }, 5, per_type[t], 0) < 0
                            || add_mem(st, p, (const char *const[]){ "d", D, Y, "types" }, 4, rt, 0) < 0))
            rc = -1;
    }
    if (rc == 0 && collect_mx(r, g, n, &mx, &nmx) < 0)
        rc = -1;
    for (size_t i = 0; i < nmx && rc == 0; i++)
        if (add_ctr(st, p, (const char *const[]){ "d", D, Y, "mx", mx[i].name, "fail" }, 6, mx[i].cnt, 0) < 0
            || add_mem(st, p, (const char *const[]){ "d", D, Y, "mxs" }, 4, mx[i].name, 0) < 0)
            rc = -1;
    free(mx);
    return rc;
}

/* Everything for one counted domain (group g of n policies). */
static int plan_domain(const tlsrpt_store *st, const tlsrpt_report *r, st_plan *p,
                       const pol_ref *g, size_t n)
{
    char D[ST_DOMAIN_ENC_MAX], Y[ST_COMP_MAX + 1];
    const char *O = p->org;
    uint64_t ok = 0, fail = 0;
    /* The domain is encoded in full (never "~"-shortened here), so a reader that
       encodes a domain name itself builds the same keys with tlsrpt_key_build. */
    if (tlsrpt_key_component(D, sizeof D, g[0].dom) < 0 || st_canon(Y, sizeof Y, r->day) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const tlsrpt_policy *pol = &r->policies[g[i].idx];
        ok = sat_add(ok, nonneg(pol->total_successful));
        fail = sat_add(fail, nonneg(pol->total_failure));
    }
    if (plan_failures(st, r, p, g, n, D, Y) < 0
        || add_ctr(st, p, (const char *const[]){ "d", D, Y, "ok" }, 4, ok, 1) < 0
        || add_ctr(st, p, (const char *const[]){ "d", D, Y, "fail" }, 4, fail, 1) < 0
        || add_ctr(st, p, (const char *const[]){ "d", D, Y, "reports" }, 4, 1, 1) < 0
        || add_ctr(st, p, (const char *const[]){ "d", D, Y, "org", O, "ok" }, 6, ok, 1) < 0
        || add_ctr(st, p, (const char *const[]){ "d", D, Y, "org", O, "fail" }, 6, fail, 1) < 0
        || add_ctr(st, p, (const char *const[]){ "d", D, Y, "mode", domain_mode(r, g, n) }, 5, 1, 1) < 0
        || add_mem(st, p, (const char *const[]){ "domains" }, 1, D, 1) < 0
        || add_mem(st, p, (const char *const[]){ "d", D, "days" }, 3, Y, 1) < 0
        || add_mem(st, p, (const char *const[]){ "d", D, Y, "orgs" }, 4, O, 0) < 0)
        return -1;
    p->ok = (int64_t)sat_add((uint64_t)p->ok, ok);
    p->fail = (int64_t)sat_add((uint64_t)p->fail, fail);
    p->n_domains++;
    size_t used = strlen(p->domains);
    snprintf(p->domains + used, sizeof p->domains - used, "%s%s", used ? "," : "", g[0].dom);
    return 0;
}

/* qsort: policies by domain, then position. */
static int cmp_ref(const void *a, const void *b)
{
    const pol_ref *x = a, *y = b;
    int c = strcmp(x->dom, y->dom);
    return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* qsort: counters by key. */
static int cmp_ctr(const void *a, const void *b)
{
    return strcmp(((const st_counter *)a)->key, ((const st_counter *)b)->key);
}

/* qsort: members by set key, then member. */
static int cmp_mem(const void *a, const void *b)
{
    const st_member *x = a, *y = b;
    int c = strcmp(x->set, y->set);
    return c ? c : strcmp(x->member, y->member);
}

/* Sort and merge equal counter keys / members so each is written once. */
static void merge_plan(st_plan *p)
{
    size_t o = 0;
    if (p->n_ctr)
        qsort(p->ctr, p->n_ctr, sizeof *p->ctr, cmp_ctr);
    for (size_t i = 0; i < p->n_ctr; i++) {
        if (o > 0 && strcmp(p->ctr[o - 1].key, p->ctr[i].key) == 0) {
            p->ctr[o - 1].delta = sat_add(p->ctr[o - 1].delta, p->ctr[i].delta);
            p->ctr[o - 1].keep_zero |= p->ctr[i].keep_zero;
        } else {
            p->ctr[o++] = p->ctr[i];
        }
    }
    p->n_ctr = o;
    o = 0;
    if (p->n_mem)
        qsort(p->mem, p->n_mem, sizeof *p->mem, cmp_mem);
    for (size_t i = 0; i < p->n_mem; i++)
        if (o == 0 || cmp_mem(&p->mem[o - 1], &p->mem[i]) != 0)
            p->mem[o++] = p->mem[i];
    p->n_mem = o;
}

/* Dedup key P seen:H: H = hex SHA-256("dkim" NUL org_key NUL report-id) with a signer,
   else hex SHA-256(organization-name NUL report-id) (schema v1). */
static int plan_seen(const tlsrpt_store *st, const tlsrpt_report *r, const tlsrpt_count_req *q,
                     st_plan *p)
{
    tlsrpt_sha256_ctx c;
    unsigned char d[TLSRPT_SHA256_LEN];
    char hex[2 * TLSRPT_SHA256_LEN + 1];
    const char *org = r->organization_name ? r->organization_name : "";
    const char *rid = r->report_id ? r->report_id : "";
    tlsrpt_sha256_init(&c);
    if (q->org_key) {
        tlsrpt_sha256_update(&c, "dkim", 5);
        tlsrpt_sha256_update(&c, q->org_key, strlen(q->org_key) + 1);
    } else {
        tlsrpt_sha256_update(&c, org, strlen(org) + 1);
    }
    tlsrpt_sha256_update(&c, rid, strlen(rid));
    tlsrpt_sha256_final(&c, d);
    tlsrpt_hex(hex, d, sizeof d);
    return tlsrpt_key_build(p->seen_key, sizeof p->seen_key, st->prefix,
                            (const char *const[]){ "seen", hex }, 2) < 0 ? -1 : 0;
}

/* The ORG component (signer, else organization-name; "%00" for none) and, with a
   signer, the display label P org:ORG:name = encoded organization-name. */
static int plan_identity(const tlsrpt_store *st, const tlsrpt_report *r,
                         const tlsrpt_count_req *q, st_plan *p)
{
    const char *name = r->organization_name;
    if (q->org_key && q->org_key[0]) {
        size_t n = strlen(name ? name : "");
        if (st_canon(p->org, sizeof p->org, q->org_key) < 0
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
        return 0;
    }
    if (name && name[0])
        return st_canon(p->org, sizeof p->org, name) < 0 ? -1 : 0;
    strcpy(p->org, "%00");      /* never produced by a real name (no NUL in strings) */
    return 0;
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
                       int *saw_foreign)
{
    pol_ref *refs = r->n_policies ? calloc(r->n_policies, sizeof *refs) : NULL;
    char enc[ST_DOMAIN_ENC_MAX];
    size_t n = 0;
    int rc = 0;
    if (r->n_policies && !refs)
        return -1;
    for (size_t i = 0; i < r->n_policies; i++) {
        const char *pd = r->policies[i].policy_domain;
        if (!pd || strlen(pd) > 254)
            continue;           /* no (or an impossible, over-long) domain */
        tlsrpt_normalize_domain(pd, refs[n].dom, sizeof refs[n].dom);
        if (!refs[n].dom[0] || tlsrpt_key_component(enc, sizeof enc, refs[n].dom) < 0)
            continue;           /* none, or its encoding is longer than any DNS name */
        if (!allowed(st, refs[n].dom)) {
            *saw_foreign = 1;
            continue;
        }
        refs[n++].idx = i;
    }
    if (n)
        qsort(refs, n, sizeof *refs, cmp_ref);
    for (size_t i = 0, j, groups = 0; i < n && rc == 0 && groups < ST_MAX_DOMAINS; i = j, groups++) {
        for (j = i + 1; j < n && strcmp(refs[j].dom, refs[i].dom) == 0; j++)
            ;
        rc = plan_domain(st, r, p, refs + i, j - i);
    }
    free(refs);
    return rc;
}

/* Compute the whole plan; TLSRPT_COUNTED when there is something to write. */
int st_plan_build(const tlsrpt_store *st, const tlsrpt_report *r, const tlsrpt_count_req *q,
                  st_plan *p, tlsrpt_count_info *info, char *errbuf, size_t errlen)
{
    int saw_foreign = 0;
    memset(p, 0, sizeof *p);
    if (!r->has_start || !r->day[0]) {
        snprintf(info->reason, sizeof info->reason, "no-date");
        snprintf(errbuf, errlen, "report has no start date");
        return TLSRPT_NOT_COUNTABLE;
    }
    if (plan_identity(st, r, q, p) < 0 || plan_groups(st, r, p, &saw_foreign) < 0
        || plan_seen(st, r, q, p) < 0) {
        snprintf(info->reason, sizeof info->reason, "store-unavailable");
        snprintf(errbuf, errlen, "cannot plan counters: out of memory or over %d keys",
                 ST_MAX_OPS);
        st_plan_free(p);
        return TLSRPT_STORE_FAILED;
    }
    if (p->n_domains == 0) {
        snprintf(info->reason, sizeof info->reason, "%s",
                 saw_foreign ? "foreign-domain" : "no-policy-domain");
        snprintf(errbuf, errlen, "%s", saw_foreign ? "no policy domain is in the allow-list"
                                                   : "no policy has a policy-domain");
        st_plan_free(p);
        return TLSRPT_NOT_COUNTABLE;
    }
    merge_plan(p);
    return TLSRPT_COUNTED;
}

/* Release the plan's arrays. */
void st_plan_free(st_plan *p)
{
    free(p->ctr);
    free(p->mem);
    free(p->label_val);
    p->ctr = NULL;
    p->mem = NULL;
    p->label_val = NULL;
    p->n_ctr = p->n_mem = p->cap_ctr = p->cap_mem = 0;
}
