/*
 * store.c - count one decoded report into memcached (key schema v1).
 *
 * tlsrpt_store holds a libmemcachedutil pool; each tlsrpt_store_count takes
 * a connection, and in this order:
 *   1. plans every key (plan.c) - nothing is written for an uncountable report;
 *   2. dedup: `add P seen:H` (H from org + report-id); NOTSTORED = duplicate;
 *   3. index sets (index.c);
 *   4. counters: quiet (noreply) increment-with-initial for every counter,
 *      then one multi-get of them all as a barrier that also surfaces any
 *      error a quiet increment answered with.
 * Round trips in the steady state: dedup 1 + index mget 1 + barrier 1.
 * A failure in 3 deletes the dedup marker again (best effort) so that the
 * report can be counted when replayed; a failure in 4 keeps it (some
 * counters may already be in: a replay must not count them twice).
 * Errors: TLSRPT_STORE_FAILED with errbuf naming the key, the operation and
 * libmemcached's message; bad configuration -> tlsrpt_store_new NULL.
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

/* Copy the allow-list, normalized; -1 on out of memory. */
static int set_allow(tlsrpt_store *st, const tlsrpt_store_conf *conf)
{
    if (!conf->policy_domains || conf->n_policy_domains == 0)
        return 0;                       /* no list: count every domain */
    st->allow = calloc(conf->n_policy_domains, sizeof *st->allow);
    if (!st->allow)
        return -1;
    for (size_t i = 0; i < conf->n_policy_domains; i++) {
        const char *d = conf->policy_domains[i] ? conf->policy_domains[i] : "";
        size_t n = strlen(d) + 1;
        st->allow[i] = malloc(n);
        if (!st->allow[i])
            return -1;
        tlsrpt_normalize_domain(d, st->allow[i], n);
        st->n_allow++;
    }
    return 0;
}

/* Create the store from its configuration; NULL with errbuf on a bad one. */
tlsrpt_store *tlsrpt_store_new(const tlsrpt_store_conf *conf, char *errbuf, size_t errlen)
{
    tlsrpt_store *st;
    int pool = conf && conf->pool_size > 0 ? conf->pool_size : 8;
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
    st->counter_ttl = conf->counter_ttl;
    st->dedup_ttl = conf->dedup_ttl;
    st->timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms : 1000;
    if (set_prefix(st, conf->prefix) != 0) {
        snprintf(errbuf, errlen, "bad key prefix '%.80s': at most %d printable bytes, no spaces",
                 conf->prefix, ST_PREFIX_MAX);
    } else if (set_allow(st, conf) != 0) {
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
    for (size_t i = 0; i < st->n_allow; i++)
        free(st->allow[i]);
    free(st->allow);
    free(st);
}

/* A value unique to this attempt, stored in the dedup marker. */
static void make_token(char *buf, size_t n)
{
    static unsigned long seq;
    unsigned long s = __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED);
    snprintf(buf, n, "%ld.%ld.%lu", (long)time(NULL), (long)getpid(), s);
}

/* After a retried add said NOTSTORED: was the stored marker our own first try? */
static int marker_is_ours(st_call *c, const char *key, const char *token)
{
    size_t len;
    uint32_t flags;
    memcached_return_t rc;
    char *v;
    c->info->round_trips++;
    v = memcached_get(c->mc, key, strlen(key), &len, &flags, &rc);
    int ours = v && rc == MEMCACHED_SUCCESS && len == strlen(token) && memcmp(v, token, len) == 0;
    free(v);
    return ours;
}

/* Step 2: the dedup marker. COUNTED (go on), DUPLICATE or STORE_FAILED. */
static int dedup(st_call *c, const st_plan *p)
{
    char token[64];
    time_t exp = st_expiry(c->st->dedup_ttl);
    memcached_return_t rc;
    make_token(token, sizeof token);
    c->info->round_trips++;
    rc = memcached_add(c->mc, p->seen_key, strlen(p->seen_key), token, strlen(token), exp, 0);
    if (st_conn_error(rc)) {
        memcached_quit(c->mc);
        c->info->round_trips++;
        rc = memcached_add(c->mc, p->seen_key, strlen(p->seen_key), token, strlen(token), exp, 0);
        if (st_not_stored(rc) && marker_is_ours(c, p->seen_key, token))
            rc = MEMCACHED_SUCCESS;
    }
    if (st_not_stored(rc))
        return TLSRPT_DUPLICATE;
    if (rc != MEMCACHED_SUCCESS)
        return st_fail(c, "add", p->seen_key, rc);
    return TLSRPT_COUNTED;
}

/* Barrier state: how many planned counters the mget returned as numbers. */
typedef struct barrier {
    const st_plan *p;
    size_t found, bad;
} barrier;

/* mget callback of the barrier. */
static int got_counter(void *arg, const char *key, size_t klen, const char *val, size_t vlen)
{
    barrier *b = arg;
    (void)key;
    (void)klen;
    int digits = vlen > 0 && vlen <= 20;
    for (size_t i = 0; digits && i < vlen; i++)
        digits = val[i] >= '0' && val[i] <= '9';
    if (digits)
        b->found++;
    else
        b->bad++;
    return 0;
}

/* Step 4: quiet increments, then one barrier mget. */
static int write_counters(st_call *c, const st_plan *p)
{
    time_t exp = st_expiry(c->st->counter_ttl);
    memcached_return_t rc = MEMCACHED_SUCCESS;
    const char **keys = calloc(p->n_ctr, sizeof *keys);
    barrier b = { p, 0, 0 };
    size_t i;
    if (!keys)
        return st_fail(c, "incr", "(counters)", MEMCACHED_MEMORY_ALLOCATION_FAILURE);
    memcached_behavior_set(c->mc, MEMCACHED_BEHAVIOR_NOREPLY, 1);
    for (i = 0; i < p->n_ctr && rc == MEMCACHED_SUCCESS; i++) {
        keys[i] = p->ctr[i].key;
        rc = memcached_increment_with_initial(c->mc, p->ctr[i].key, strlen(p->ctr[i].key),
                                              p->ctr[i].delta, p->ctr[i].delta, exp, NULL);
    }
    memcached_behavior_set(c->mc, MEMCACHED_BEHAVIOR_NOREPLY, 0);
    if (rc != MEMCACHED_SUCCESS) {
        free(keys);
        return st_fail(c, "incr", p->ctr[i - 1].key, rc);
    }
    rc = st_mget(c, keys, p->n_ctr, 0, got_counter, &b);
    free(keys);
    if (rc == MEMCACHED_SUCCESS && (b.found != p->n_ctr || b.bad)) {
        if (c->errbuf && c->errlen)
            snprintf(c->errbuf, c->errlen,
                     "memcached incr not confirmed: %zu of %zu counters read back as numbers (%s)",
                     b.found, p->n_ctr, memcached_last_error_message(c->mc));
        snprintf(c->info->reason, sizeof c->info->reason, "store-unavailable");
        return TLSRPT_STORE_FAILED;
    }
    if (rc != MEMCACHED_SUCCESS)
        return st_fail(c, "get (increment barrier)", p->ctr[0].key, rc);
    return TLSRPT_COUNTED;
}

/* Steps 2-4 on one pooled connection. */
static int count_on(st_call *c, const st_plan *p)
{
    int rc = dedup(c, p);
    if (rc != TLSRPT_COUNTED)
        return rc;
    rc = st_index_update(c, p);
    if (rc != TLSRPT_COUNTED) {
        memcached_quit(c->mc);
        (void)st_store_op(c, 'd', p->seen_key, NULL, 0, 0);     /* allow a replay */
        return rc;
    }
    return write_counters(c, p);
}

/* Count one validated report; dedup first. */
int tlsrpt_store_count(tlsrpt_store *st, const tlsrpt_report *r, tlsrpt_count_info *info,
                       char *errbuf, size_t errlen)
{
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
    memset(info, 0, sizeof *info);
    errbuf[0] = 0;
    if (!st || !r) {
        snprintf(errbuf, errlen, "tlsrpt_store_count: no store or no report");
        snprintf(info->reason, sizeof info->reason, "store-unavailable");
        return TLSRPT_STORE_FAILED;
    }
    rc = st_plan_build(st, r, &p, info, errbuf, errlen);
    if (rc != TLSRPT_COUNTED)
        return rc;
    info->ok = p.ok;
    info->fail = p.fail;
    info->n_domains = p.n_domains;
    memcpy(info->domains, p.domains, sizeof info->domains);

    struct timespec wait = { st->timeout_ms / 1000 + 1, 0 };
    memcached_return_t prc = MEMCACHED_SUCCESS;
    memcached_st *mc = memcached_pool_fetch(st->pool, &wait, &prc);
    st_call c = { st, mc, info, errbuf, errlen };
    if (!mc) {
        snprintf(errbuf, errlen, "no free memcached connection in the pool: %s",
                 memcached_strerror(NULL, prc));
        snprintf(info->reason, sizeof info->reason, "store-unavailable");
        st_plan_free(&p);
        return TLSRPT_STORE_FAILED;
    }
    rc = count_on(&c, &p);
    if (rc == TLSRPT_STORE_FAILED)
        memcached_quit(mc);         /* never hand back a connection in an unknown state */
    memcached_pool_release(st->pool, mc);
    st_plan_free(&p);
    return rc;
}
