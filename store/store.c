/*
 * store.c - count one decoded report into memcached (key schema v1).
 *
 * tlsrpt_store holds a libmemcachedutil pool (handles, hashing, the rare
 * index writes) and raw pipelined connections (pipe.c, burst.c) for the
 * two batches every report needs. tlsrpt_store_count:
 *   0. plans every key (plan.c) - nothing is written for an uncountable report;
 *   1. one burst: `add P seen:H` (dedup; exists = duplicate) and a get of
 *      every index set the report touches;
 *   2. adds missing index members (index.c): nothing in the steady state,
 *      else one burst of markers and one of set writes, however many;
 *   3. one burst: every counter as increment-with-initial (quiet; a failure
 *      answers with its key; one that lost a create race is sent again).
 * Round trips: 2 in the steady state, 4 with new index members.
 * A failure in 1 or 2 deletes the dedup marker again when it holds this
 * call's token (best effort), so the report can be counted when replayed;
 * a failure in 3 keeps it (some counters may be in: no double count).
 * Errors: TLSRPT_STORE_FAILED with errbuf naming the key, the operation and
 * the server's or libmemcached's message; bad configuration ->
 * tlsrpt_store_new NULL with errbuf.
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
    pthread_mutex_init(&st->pipe_mu, NULL);
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
    st_pipe_free_all(st);
    pthread_mutex_destroy(&st->pipe_mu);
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

/* Best effort after a failure: delete the dedup marker if it holds our token. */
static void unmark(st_call *c, const char *key, const char *token)
{
    size_t len;
    uint32_t flags;
    memcached_return_t rc;
    char *v;
    memcached_quit(c->mc);
    c->info->round_trips++;
    v = memcached_get(c->mc, key, strlen(key), &len, &flags, &rc);
    if (v && len == strlen(token) && memcmp(v, token, len) == 0)
        (void)st_store_op(c, 'd', key, NULL, 0, 0);
    free(v);
}

/* Phase 1 answers: the dedup add and the index sets. */
typedef struct phase1 {
    st_sets *ss;
    int add_answered;
    unsigned add_status;
    char add_msg[128];
    int oom;
} phase1;

/* Burst callback of phase 1 (request 0 = add, 1.. = sets). */
static void on_phase1(void *arg, const st_ans *a)
{
    phase1 *ph = arg;
    if (a->req == 0) {
        ph->add_answered = 1;
        ph->add_status = a->status;
        snprintf(ph->add_msg, sizeof ph->add_msg, "%.*s", (int)(a->vlen < 100 ? a->vlen : 100), a->val);
    } else if (a->status == 0 && st_sets_got(ph->ss, a->req - 1, a->val, a->vlen) != 0) {
        ph->oom = 1;
    }
}

/* Phase 1, one round trip: add P seen:H and read every index set. */
static int dedup_and_read(st_call *c, const st_plan *p, st_sets *ss, const char *token)
{
    st_req *reqs = calloc(ss->n + 1, sizeof *reqs);
    phase1 ph = { ss, 0, 0, "", 0 };
    int maybe, rc;
    if (!reqs)
        return st_fail(c, "add", p->seen_key, MEMCACHED_MEMORY_ALLOCATION_FAILURE);
    reqs[0] = (st_req){ .opcode = ST_OP_ADD, .key = p->seen_key, .extlen = 8,
                        .val = token, .vlen = strlen(token) };
    uint32_t exp = (uint32_t)st_expiry(c->st->dedup_ttl);
    for (int i = 0; i < 4; i++)
        reqs[0].extras[4 + i] = (unsigned char)(exp >> (24 - 8 * i));
    for (size_t i = 0; i < ss->n; i++)
        reqs[i + 1] = (st_req){ .opcode = ST_OP_GETKQ, .key = ss->s[i].key };
    char what[TLSRPT_KEY_MAX + 64];
    snprintf(what, sizeof what, "add %s + get of %zu index sets", p->seen_key, ss->n);
    rc = st_burst(c, what, reqs, ss->n + 1, on_phase1, &ph, &maybe);
    free(reqs);
    if (rc != 0) {
        unmark(c, p->seen_key, token);
        return TLSRPT_STORE_FAILED;
    }
    if (ph.add_answered && (ph.add_status == 0x0002 || ph.add_status == 0x0005))
        return TLSRPT_DUPLICATE;
    if (!ph.add_answered || ph.add_status != 0 || ph.oom) {
        snprintf(c->errbuf, c->errlen, "memcached add %s failed: %s (status 0x%04x)", p->seen_key,
                 ph.oom ? "out of memory" : ph.add_msg[0] ? ph.add_msg : "no answer", ph.add_status);
        snprintf(c->info->reason, sizeof c->info->reason, "store-unavailable");
        if (ph.oom)
            unmark(c, p->seen_key, token);
        return TLSRPT_STORE_FAILED;
    }
    return TLSRPT_COUNTED;
}

/* Phase 3 answers: the first failed increment, and the ones to send again. */
typedef struct phase3 {
    int failed;
    size_t req;
    unsigned status;
    char msg[128];
    size_t *again;              /* requests whose create lost a race (NOT_STORED) */
    size_t n_again, cap_again;
} phase3;

/* Burst callback of phase 3: quiet increments answer only on error. An
   increment-with-initial of a missing key is an add inside memcached: when
   another client created the key first, it answers NOT_STORED and changed
   nothing, so it is sent again (the key exists now). */
static void on_phase3(void *arg, const st_ans *a)
{
    phase3 *ph = arg;
    if (a->status == ST_ST_NOT_STORED && ph->n_again < ph->cap_again)
        ph->again[ph->n_again++] = a->req;
    else if (a->status != 0 && ph->failed++ == 0) {
        ph->req = a->req;
        ph->status = a->status;
        snprintf(ph->msg, sizeof ph->msg, "%.*s", (int)(a->vlen < 100 ? a->vlen : 100), a->val);
    }
}

/* INCREMENTQ of counter i (delta = initial value) into r. */
static void incr_req(st_req *r, const st_counter *ctr, uint32_t exp)
{
    r->opcode = ST_OP_INCREMENTQ;
    r->key = ctr->key;
    r->extlen = 20;
    for (int b = 0; b < 8; b++) {
        r->extras[b] = (unsigned char)(ctr->delta >> (56 - 8 * b));
        r->extras[8 + b] = r->extras[b];
    }
    for (int b = 0; b < 4; b++)
        r->extras[16 + b] = (unsigned char)(exp >> (24 - 8 * b));
}

/* Phase 3, one round trip (one more per lost create race, at most 3 in all):
   every counter as INCREMENTQ (delta = initial). */
static int write_counters(st_call *c, const st_plan *p)
{
    size_t n = p->n_ctr ? p->n_ctr : 1, *idx = malloc(n * sizeof *idx);
    st_req *reqs = calloc(n, sizeof *reqs);
    uint32_t exp = (uint32_t)st_expiry(c->st->counter_ttl);
    phase3 ph = { 0, 0, 0, "", malloc(n * sizeof *ph.again), 0, n };
    int maybe, rc = 0;
    if (!reqs || !idx || !ph.again) {
        free(reqs), free(idx), free(ph.again);
        return st_fail(c, "incr", "(counters)", MEMCACHED_MEMORY_ALLOCATION_FAILURE);
    }
    for (size_t i = 0; i < p->n_ctr; i++)
        idx[i] = i;
    n = p->n_ctr;
    for (int round = 0; round < 3 && n > 0 && rc == 0 && !ph.failed; round++) {
        for (size_t i = 0; i < n; i++)
            incr_req(&reqs[i], &p->ctr[idx[i]], exp);
        ph.n_again = 0;
        rc = st_burst(c, "incr (counters)", reqs, n, on_phase3, &ph, &maybe);
        ph.req = ph.failed ? idx[ph.req] : 0;
        for (size_t i = 0; i < ph.n_again; i++)
            ph.again[i] = idx[ph.again[i]];
        memcpy(idx, ph.again, ph.n_again * sizeof *idx);
        n = ph.n_again;
    }
    if (rc == 0 && !ph.failed && n > 0) {
        ph.failed = 1;
        ph.req = idx[0];
        ph.status = ST_ST_NOT_STORED;
        snprintf(ph.msg, sizeof ph.msg, "Not stored (lost the create race 3 times)");
    }
    free(reqs);
    free(idx);
    free(ph.again);
    if (rc != 0)
        return TLSRPT_STORE_FAILED;
    if (ph.failed) {
        snprintf(c->errbuf, c->errlen, "memcached incr %s failed: %s (status 0x%04x; %d of %zu failed)",
                 p->ctr[ph.req].key, ph.msg[0] ? ph.msg : "error", ph.status, ph.failed, p->n_ctr);
        snprintf(c->info->reason, sizeof c->info->reason, "store-unavailable");
        return TLSRPT_STORE_FAILED;
    }
    return TLSRPT_COUNTED;
}

/* Phases 1-3 on one pooled connection. */
static int count_on(st_call *c, const st_plan *p)
{
    char token[64];
    st_sets ss;
    int rc;
    if (st_sets_init(&ss, p) != 0)
        return st_fail(c, "get", "(index sets)", MEMCACHED_MEMORY_ALLOCATION_FAILURE);
    make_token(token, sizeof token);
    rc = dedup_and_read(c, p, &ss, token);
    if (rc == TLSRPT_COUNTED) {
        rc = st_index_write(c, p, &ss);
        if (rc != TLSRPT_COUNTED)
            unmark(c, p->seen_key, token);      /* nothing counted yet: allow a replay */
    }
    st_sets_free(&ss);
    return rc == TLSRPT_COUNTED ? write_counters(c, p) : rc;
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
