/*
 * push.c - `tlsrpt-parse --push`: count decoded reports into memcached
 * through the same store code and dedup as the milter (store/store.h),
 * with the servers, prefix, TTLs, allow-list and limits of the milter's
 * configuration file (-c), or --servers / --prefix.
 * A report judged authentic (verify.c) is counted under its signer's
 * organisational domain, exactly as the milter counts it; a bare report
 * under its organization-name (Authentication none's identity).
 * Replaying the same files twice changes nothing (dedup by identity + report-id).
 */
#include "parse.h"
#include "config.h"
#include "store.h"
#include <stdio.h>
#include <stdlib.h>

struct push_ctx {
    tlsrpt_store *st;
};

/* Open the store from the configuration, with explicit servers and prefix over it. */
push_ctx *push_open(const tm_config *cfg, const char *servers, const char *prefix)
{
    char err[4096];
    push_ctx *p = calloc(1, sizeof *p);
    if (!p) {
        fprintf(stderr, "tlsrpt-parse: out of memory\n");
        return NULL;
    }
    tlsrpt_store_conf sc;
    tm_config_store_conf(cfg, 1, &sc);
    if (servers)
        sc.servers = servers;
    if (prefix)
        sc.prefix = prefix;
    if (!(p->st = tlsrpt_store_new(&sc, err, sizeof err))) {
        fprintf(stderr, "tlsrpt-parse: %s\n", err);
        free(p);
        return NULL;
    }
    return p;
}

/* Count one report (under its signer when v says authentic) and say what happened. */
int push_report(push_ctx *p, const char *name, const tlsrpt_report *r, const tlsrpt_verdict *v)
{
    tlsrpt_count_info info = { 0 };
    tlsrpt_count_req q = { 0 };
    char err[512] = "";
    const char *org = r->organization_name ? r->organization_name : "";
    const char *id = r->report_id ? r->report_id : "";
    if (v && !v->authentic) {
        printf("%s: not counted: reason=%s (%s)\n", name, v->reason[0] ? v->reason : "unauthenticated",
               v->detail);
        return 1;
    }
    q.org_key = v ? v->signer_org : NULL;
    int st = tlsrpt_store_count_req(p->st, r, &q, &info, err, sizeof err);
    switch (st) {
    case TLSRPT_COUNTED:
        printf("%s: counted org=\"%s\"%s%s report-id=%s domains=%s ok=%lld fail=%lld\n", name, org,
               v ? " signer=" : "", v ? v->signer_org : "", id, info.domains, (long long)info.ok,
               (long long)info.fail);
        return 0;
    case TLSRPT_DUPLICATE:
        printf("%s: duplicate org=\"%s\"%s%s report-id=%s (already counted)\n", name, org,
               v ? " signer=" : "", v ? v->signer_org : "", id);
        return 0;
    case TLSRPT_NOT_COUNTABLE:
        printf("%s: not counted: reason=%s\n", name, info.reason);
        return 1;
    default:
        printf("%s: not counted: reason=%s (%s)\n", name,
               info.partial ? "store-partial" : "store-unavailable", err);
        return 1;
    }
}

/* Close the store. */
void push_close(push_ctx *p)
{
    if (!p)
        return;
    tlsrpt_store_free(p->st);
    free(p);
}
