/*
 * loss.c - is memcached still holding what was counted? (issue 10)
 *
 * Each server holds its own P epoch: the unix time counting into that server
 * began, written with `add` directly to the server (not through the key
 * hashing, so it stays on its server whatever the server list). A server
 * that restarted empty has no epoch: when another server has one, or the
 * caller knows counting happened before (TLSRPT_LOSS_EXPECT: its archive is
 * not empty), that server lost its data. memcached's own stats say more:
 * uptime (an epoch older than the server's start means a restart that kept
 * the data), evictions (items pushed out under memory pressure: counters may
 * be missing; they are any client's, so this says "may"), curr_items.
 * The milter checks at start and hourly with TLSRPT_LOSS_MARK (so the next
 * check compares against now), tlsrpt-stats without (it only looks).
 * Round trips: 1 (a get and a STAT per server), 1 more to mark.
 * Errors: -1 with errbuf when no server could be asked; a server that does
 * not answer is reachable = 0 (not a loss by itself).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "store_int.h"

/* Answers of the check burst: request 2s = get epoch, 2s+1 = STAT of server s. */
typedef struct loss_ans {
    tlsrpt_loss *out;
    long long *srv_time;        /* per server: its clock (stats "time") */
} loss_ans;

/* Burst callback: the epoch value and the interesting stats. */
static void on_loss(void *arg, const st_ans *a)
{
    loss_ans *l = arg;
    size_t s = a->req / 2;
    tlsrpt_server_state *ss = &l->out->s[s];
    char v[32];
    if (s >= l->out->n)
        return;
    ss->reachable = 1;
    snprintf(v, sizeof v, "%.*s", (int)(a->vlen < 31 ? a->vlen : 31), a->val);
    if (a->req % 2 == 0) {
        if (a->status == 0)
            ss->epoch = atoll(v);
        return;
    }
    if (a->status != 0 || a->klen == 0)
        return;
    if (a->klen == 6 && memcmp(a->key, "uptime", 6) == 0)
        ss->uptime = atoll(v);
    else if (a->klen == 9 && memcmp(a->key, "evictions", 9) == 0)
        ss->evictions = atoll(v);
    else if (a->klen == 10 && memcmp(a->key, "curr_items", 10) == 0)
        ss->curr_items = atoll(v);
    else if (a->klen == 4 && memcmp(a->key, "time", 4) == 0)
        l->srv_time[s] = atoll(v);
}

/* Judge each server and write the log line. */
static void judge(tlsrpt_loss *out, const long long *srv_time, unsigned flags)
{
    int any_epoch = 0;
    size_t o = 0;
    for (size_t s = 0; s < out->n; s++)
        any_epoch |= out->s[s].epoch > 0;
    out->text[0] = 0;
    for (size_t s = 0; s < out->n; s++) {
        tlsrpt_server_state *v = &out->s[s];
        if (!v->reachable)
            continue;
        v->lost = v->epoch == 0 && (any_epoch || (flags & TLSRPT_LOSS_EXPECT));
        v->restarted = v->epoch > 0 && srv_time[s] > 0 && v->epoch < srv_time[s] - v->uptime;
        out->loss |= v->lost || v->evictions > 0;
        if ((v->lost || v->evictions > 0 || v->restarted) && o < sizeof out->text)
            o += (size_t)snprintf(out->text + o, sizeof out->text - o, "%s%s: %s%s%s", o ? "; " : "",
                                  v->server, v->lost ? "lost its data (no epoch: restarted empty?)" : "",
                                  v->restarted ? "restarted, data kept" : "",
                                  v->evictions > 0 ? (v->lost || v->restarted ? ", evictions" : "evictions")
                                                   : "");
        if (v->evictions > 0 && o < sizeof out->text)
            o += (size_t)snprintf(out->text + o, sizeof out->text - o, " %lld (counters may be missing)",
                                  v->evictions);
    }
}

/* Add P epoch = now on every reachable server that has none. */
static int mark(st_call *c, tlsrpt_loss *out, const char *key)
{
    st_req reqs[64];
    char now[24];
    size_t n = 0;
    int maybe;
    snprintf(now, sizeof now, "%lld", (long long)time(NULL));
    for (size_t s = 0; s < out->n; s++)
        if (out->s[s].reachable && out->s[s].epoch == 0) {
            reqs[n] = (st_req){ .opcode = ST_OP_ADDQ, .key = key, .extlen = 8, .val = now,
                                .vlen = strlen(now), .direct = 1, .srv = (uint32_t)s };
            out->s[s].epoch = atoll(now);
            out->s[s].marked = 1;
            n++;
        }
    return n ? st_burst(c, "add (epoch)", reqs, n, NULL, NULL, &maybe) : 0;
}

/* Ask every server for P epoch and its stats; mark with TLSRPT_LOSS_MARK. */
int tlsrpt_store_check_loss(tlsrpt_store *st, unsigned flags, tlsrpt_loss *out,
                            char *errbuf, size_t errlen)
{
    char key[TLSRPT_KEY_MAX + 1], nobuf[8];
    tlsrpt_count_info info;
    if (!errbuf || !errlen)
        errbuf = nobuf, errlen = sizeof nobuf;
    memset(out, 0, sizeof *out);
    memset(&info, 0, sizeof info);
    if (!st || tlsrpt_key_build(key, sizeof key, st->prefix, (const char *const[]){ "epoch" }, 1) < 0) {
        snprintf(errbuf, errlen, "tlsrpt_store_check_loss: no store");
        return -1;
    }
    memcached_st *mc = st_pool_fetch(st, errbuf, errlen);
    if (!mc)
        return -1;
    st_call c = { st, mc, &info, errbuf, errlen };
    out->n = memcached_server_count(mc);
    out->n = out->n < 64 ? out->n : 64;
    st_req reqs[128];
    long long srv_time[64] = { 0 };
    for (size_t s = 0; s < out->n; s++) {
        st_server_label(mc, (uint32_t)s, out->s[s].server, sizeof out->s[s].server);
        reqs[2 * s] = (st_req){ .opcode = ST_OP_GETK, .key = key, .direct = 1, .srv = (uint32_t)s };
        reqs[2 * s + 1] = (st_req){ .opcode = ST_OP_STAT, .key = "", .direct = 1, .srv = (uint32_t)s };
    }
    loss_ans la = { out, srv_time };
    int maybe, reachable = 0;
    (void)st_burst(&c, "get (epoch) + stats", reqs, 2 * out->n, on_loss, &la, &maybe);
    for (size_t s = 0; s < out->n; s++)
        reachable += out->s[s].reachable;
    judge(out, srv_time, flags);
    if (reachable && (flags & TLSRPT_LOSS_MARK))
        (void)mark(&c, out, key);
    memcached_pool_release(st->pool, mc);
    if (!reachable) {
        snprintf(errbuf, errlen, "no memcached server answered");
        return -1;
    }
    errbuf[0] = 0;
    return 0;
}
