/*
 * store.c - the store handle and the counting entry points (key schema v2).
 *
 * tlsrpt_store holds a libmemcachedutil pool (handles, hashing, the rare
 * operations after a failure) and raw pipelined connections (pipe.c,
 * burst.c) for the bursts every report needs. tlsrpt_store_count_req plans
 * every key (plan.c: nothing is written for an uncountable report), takes a
 * pooled handle and runs the phases of count.c on it.
 * Errors: TLSRPT_STORE_FAILED with errbuf naming the key, the operation and
 * the server's or libmemcached's message; bad configuration ->
 * tlsrpt_store_new NULL with errbuf; a bad entry id -> TLSRPT_STORE_FAILED.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "store_int.h"

/* Check and copy the key prefix; -1 if unusable in a memcached key. */
static int set_prefix(tlsrpt_store *st, const char *prefix)
{
    const char *p = prefix ? prefix : ST_DEFAULT_PREFIX;
    size_t n = strlen(p);
    if (n > ST_PREFIX_MAX)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
            return -1;
    memcpy(st->prefix, p, n + 1);
    return 0;
}

/* Copy the allow-list, normalized like policy domains; -1 on out of memory, -2 (errbuf
   set) for an entry that is not a host name. */
static int set_allow(tlsrpt_store *st, const tlsrpt_store_conf *conf, char *errbuf, size_t errlen)
{
    char norm[256];
    if (!conf->policy_domains || conf->n_policy_domains == 0)
        return 0;                       /* no list: count every domain */
    st->allow = calloc(conf->n_policy_domains, sizeof *st->allow);
    if (!st->allow)
        return -1;
    for (size_t i = 0; i < conf->n_policy_domains; i++) {
        const char *d = conf->policy_domains[i] ? conf->policy_domains[i] : "";
        if (tlsrpt_store_normalize_domain(d, norm, sizeof norm) != 0) {
            snprintf(errbuf, errlen, "bad policy domain '%.80s': not a host name", d);
            return -2;
        }
        if (!(st->allow[i] = strdup(norm)))
            return -1;
        st->n_allow++;
    }
    return 0;
}

/* Create the store from its configuration; NULL with errbuf on a bad one. */
tlsrpt_store *tlsrpt_store_new(const tlsrpt_store_conf *conf, char *errbuf, size_t errlen)
{
    tlsrpt_store *st;
    int pool = conf && conf->pool_size > 0 ? conf->pool_size : 8, arc;
    if (!conf) {
        snprintf(errbuf, errlen, "no store configuration");
        return NULL;
    }
    if (conf->counter_ttl < 0 || conf->dedup_ttl < 0 || conf->timeout_ms < 0 || pool > 1024) {
        snprintf(errbuf, errlen, "bad store configuration: negative TTL/timeout or pool over 1024");
        return NULL;
    }
    st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&st->pipe_mu, NULL);
    st->counter_ttl = conf->counter_ttl;
    st->dedup_ttl = conf->dedup_ttl;
    st->max_count = (uint64_t)(conf->max_session_count > 0 ? conf->max_session_count
                                                            : TLSRPT_DEF_MAX_SESSION_COUNT);
    st->max_new_keys = conf->max_new_keys ? conf->max_new_keys : ST_DEF_NEW_KEYS;
    st->max_rep_domains = conf->max_domains_per_reporter ? conf->max_domains_per_reporter
                                                         : ST_DEF_REP_DOMAINS;
    st->timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms : 1000;
    if (set_prefix(st, conf->prefix) != 0) {
        snprintf(errbuf, errlen, "bad key prefix '%.80s': at most %d printable bytes, no spaces",
                 conf->prefix, ST_PREFIX_MAX);
    } else if ((arc = set_allow(st, conf, errbuf, errlen)) != 0) {
        if (arc == -1)
            snprintf(errbuf, errlen, "out of memory");
    } else if ((st->master = st_memc_create(conf->servers, st->timeout_ms, errbuf, errlen))) {
        st->pool = memcached_pool_create(st->master, 1, (uint32_t)pool);
        if (st->pool)
            return st;
        snprintf(errbuf, errlen, "cannot create a memcached connection pool of %d", pool);
    }
    tlsrpt_store_free(st);
    return NULL;
}

/* Free the store and its pool (no call may be in progress). */
void tlsrpt_store_free(tlsrpt_store *st)
{
    if (!st)
        return;
    if (st->pool)
        memcached_pool_destroy(st->pool);
    if (st->master)
        memcached_free(st->master);
    st_pipe_free_all(st);
    pthread_mutex_destroy(&st->pipe_mu);
    for (size_t i = 0; i < st->n_allow; i++)
        free(st->allow[i]);
    free(st->allow);
    free(st);
}

/* Count one validated report; dedup first (a request with every field default). */
int tlsrpt_store_count(tlsrpt_store *st, const tlsrpt_report *r, tlsrpt_count_info *info,
                       char *errbuf, size_t errlen)
{
    return tlsrpt_store_count_req(st, r, NULL, info, errbuf, errlen);
}

/* Count one validated report for request q; dedup first. */
int tlsrpt_store_count_req(tlsrpt_store *st, const tlsrpt_report *r, const tlsrpt_count_req *q,
                           tlsrpt_count_info *info, char *errbuf, size_t errlen)
{
    static const tlsrpt_count_req none;
    tlsrpt_count_info dummy;
    char nobuf[8];
    st_plan p;
    int rc;
    if (!info)
        info = &dummy;
    if (!errbuf || errlen == 0) {
        errbuf = nobuf;
        errlen = sizeof nobuf;
    }
    if (!q)
        q = &none;
    memset(info, 0, sizeof *info);
    errbuf[0] = 0;
    if (!st || !r || (q->entry_id && !st_entry_id_ok(q->entry_id))) {
        snprintf(errbuf, errlen, "tlsrpt_store_count: %s", !st || !r ? "no store or no report"
                 : "bad entry id (expected [A-Za-z0-9.-], at most 99 bytes)");
        snprintf(info->reason, sizeof info->reason, "store-unavailable");
        return TLSRPT_STORE_FAILED;
    }
    rc = st_plan_build(st, r, q, &p, info, errbuf, errlen);
    if (rc != TLSRPT_COUNTED)
        return rc;
    info->ok = p.ok;
    info->fail = p.fail;
    memcpy(info->pt_ok, p.pt_ok, sizeof info->pt_ok);
    memcpy(info->pt_fail, p.pt_fail, sizeof info->pt_fail);
    info->n_domains = p.n_domains;
    memcpy(info->domains, p.domains, sizeof info->domains);

    memcached_st *mc = st_pool_fetch(st, errbuf, errlen);
    st_call c = { st, mc, info, errbuf, errlen };
    if (!mc) {
        snprintf(info->reason, sizeof info->reason, "store-unavailable");
        st_plan_free(&p);
        return TLSRPT_STORE_FAILED;
    }
    rc = st_count_on(&c, &p, q);
    if (rc == TLSRPT_STORE_FAILED)
        memcached_quit(mc);         /* never hand back a connection in an unknown state */
    memcached_pool_release(st->pool, mc);
    st_plan_free(&p);
    return rc;
}
