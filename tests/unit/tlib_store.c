/*
 * tlib_store.c - hand-built reports, a store on a test memcached, and hex
 * SHA-256 for the store tests (see tlib_store.h). A builder call past a
 * TLIB_TR_* limit prints the reason and aborts: it is a bug in the test.
 */
#include "tlib_store.h"
#include "sha256.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Stop the test: a builder was asked for more than its arrays hold. */
static void tr_overflow(const char *what)
{
    fprintf(stderr, "tlib_store: too many %s in a hand-built report\n", what);
    abort();
}

/* A report with no policies yet. */
void tlib_tr_init(tlib_tr *t, const char *org, const char *rid, const char *day)
{
    memset(t, 0, sizeof *t);
    t->r.organization_name = (char *)org;
    t->r.report_id = (char *)rid;
    t->r.has_start = day != NULL;
    snprintf(t->r.day, sizeof t->r.day, "%s", day ? day : "");
    t->r.policies = t->pol;
}

/* Add a policy; returns its index. */
int tlib_tr_policy(tlib_tr *t, const char *type, const char *domain, int64_t ok, int64_t fail)
{
    if (t->r.n_policies >= TLIB_TR_POL)
        tr_overflow("policies");
    int i = (int)t->r.n_policies++;
    tlsrpt_policy *p = &t->pol[i];
    p->policy_type = (char *)type;
    p->policy_domain = (char *)domain;
    p->total_successful = ok;
    p->total_failure = fail;
    p->has_total_successful = p->has_total_failure = 1;
    p->failures = t->f[i];
    p->policy_string = t->ps[i];
    return i;
}

/* Add a policy-string line to policy i. */
void tlib_tr_ps(tlib_tr *t, int i, const char *s)
{
    if (t->pol[i].n_policy_string >= TLIB_TR_PS)
        tr_overflow("policy-string lines");
    t->ps[i][t->pol[i].n_policy_string++] = (char *)s;
}

/* Add a failure-details entry to policy i. */
void tlib_tr_fail(tlib_tr *t, int i, const char *rt, const char *mx, int64_t n)
{
    if (t->pol[i].n_failures >= TLIB_TR_FAIL)
        tr_overflow("failure entries");
    tlsrpt_failure *f = &t->f[i][t->pol[i].n_failures++];
    f->result_type = (char *)rt;
    f->receiving_mx_hostname = (char *)mx;
    f->failed_session_count = n;
    f->has_failed_session_count = 1;
}

/* A store on servers with the given prefix and allow-list. */
tlsrpt_store *tlib_mkstore(const char *servers, const char *prefix, const char *const *allow, size_t n)
{
    char err[256];
    tlsrpt_store_conf conf = { .servers = servers, .prefix = prefix, .counter_ttl = 0,
                               .dedup_ttl = 0, .policy_domains = allow, .n_policy_domains = n,
                               .timeout_ms = 500, .pool_size = 8 };
    tlsrpt_store *st = tlsrpt_store_new(&conf, err, sizeof err);
    if (!st)
        printf("  store_new: %s\n", err);
    return st;
}

/* A store with its own budgets. */
tlsrpt_store *tlib_mkstore_b(const char *servers, const char *prefix, size_t new_keys, size_t rep)
{
    char err[256];
    tlsrpt_store_conf conf = { .servers = servers, .prefix = prefix, .timeout_ms = 500,
                               .pool_size = 8, .max_new_keys = new_keys,
                               .max_domains_per_reporter = rep };
    tlsrpt_store *st = tlsrpt_store_new(&conf, err, sizeof err);
    if (!st)
        printf("  store_new: %s\n", err);
    return st;
}

/* Hex digest of a buffer through the one-shot API. */
void tlib_sha_hex(const void *d, size_t n, char out[65])
{
    unsigned char dig[32];
    tlsrpt_sha256(d, n, dig);
    tlsrpt_hex(out, dig, 32);
}
