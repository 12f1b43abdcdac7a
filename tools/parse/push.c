/*
 * push.c - `tlsrpt-parse --push`: count decoded reports into memcached
 * through the same store code and dedup as the milter (store/store.h),
 * with the servers, prefix, TTLs, allow-list and limits of the milter's
 * configuration file (-c), or --servers / --prefix.
 * Replaying the same files twice changes nothing (dedup by org + report-id).
 */
#include "parse.h"
#include "config.h"
#include "store.h"
#include <stdio.h>
#include <stdlib.h>

struct push_ctx {
    tm_config cfg;
    tlsrpt_store *st;
};

/* Open the store from a config file and/or explicit servers and prefix. */
push_ctx *push_open(const char *conf_file, const char *servers, const char *prefix,
                    tlsrpt_limits *lim)
{
    char err[4096];
    push_ctx *p = calloc(1, sizeof *p);
    if (!p || tm_config_init(&p->cfg) != 0) {
        fprintf(stderr, "tlsrpt-parse: out of memory\n");
        free(p);
        return NULL;
    }
    if (conf_file && tm_config_load(&p->cfg, conf_file, err, sizeof err) != 0) {
        fprintf(stderr, "tlsrpt-parse: %s\n", err);
        goto fail;
    }
    tlsrpt_store_conf sc;
    tm_config_store_conf(&p->cfg, 1, &sc);
    if (servers)
        sc.servers = servers;
    if (prefix)
        sc.prefix = prefix;
    if (!(p->st = tlsrpt_store_new(&sc, err, sizeof err))) {
        fprintf(stderr, "tlsrpt-parse: %s\n", err);
        goto fail;
    }
    if (lim)
        *lim = p->cfg.limits;
    return p;
fail:
    tm_config_free(&p->cfg);
    free(p);
    return NULL;
}

/* Count one report and say what happened on stdout. */
int push_report(push_ctx *p, const char *name, const tlsrpt_report *r)
{
    tlsrpt_count_info info = { 0 };
    char err[512] = "";
    int st = tlsrpt_store_count(p->st, r, &info, err, sizeof err);
    const char *org = r->organization_name ? r->organization_name : "";
    const char *id = r->report_id ? r->report_id : "";
    switch (st) {
    case TLSRPT_COUNTED:
        printf("%s: counted org=\"%s\" report-id=%s domains=%s ok=%lld fail=%lld\n", name, org, id,
               info.domains, (long long)info.ok, (long long)info.fail);
        return 0;
    case TLSRPT_DUPLICATE:
        printf("%s: duplicate org=\"%s\" report-id=%s (already counted)\n", name, org, id);
        return 0;
    case TLSRPT_NOT_COUNTABLE:
        printf("%s: not counted: reason=%s\n", name, info.reason);
        return 1;
    default:
        printf("%s: not counted: reason=store-unavailable (%s)\n", name, err);
        return 1;
    }
}

/* Close the store. */
void push_close(push_ctx *p)
{
    if (!p)
        return;
    tlsrpt_store_free(p->st);
    tm_config_free(&p->cfg);
    free(p);
}
