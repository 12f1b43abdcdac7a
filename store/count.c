/*
 * count.c - the phases of counting one planned report (key schema v2):
 *   1. one burst: `add P seen:H` with the marker value (the spool entry id,
 *      or a token unique to this call), a get of the same key (so a marker
 *      that was there is read in the same round trip), and a get of every
 *      index set the report touches;
 *   2. new index members (index.c): nothing in the steady state, else one
 *      burst of markers and one of set writes, however many;
 *   3. before_counters(), then one burst: first, to the marker's server, a
 *      quiet set of the marker to "ENTRYID sent" (with an entry id), then
 *      every counter as increment-with-initial (one that lost a create race
 *      is sent again) and the org's display label. Increments saturate: each
 *      answers its new value, and one above 2^63-1 (or below its delta: it
 *      wrapped past 2^64) is set back to 2^63-1 in one more burst.
 * The marker rule: added = ours, count; found holding our entry id = an
 * earlier attempt of this entry stopped before its counter burst: ours,
 * count, info->resumed; found "ENTRYID sent" = that attempt's counter burst
 * went out: a partial count cannot be ruled out, fail with info->partial;
 * anything else = a duplicate. Because the marker's server is sent its part
 * first and nothing goes to the others when that fails, "no ' sent'" means
 * no counter of this entry reached any server (unless memcached lost the
 * marker: TLSRPT_REQ_RECOVER).
 * A failure in 1 or 2 (nothing counted) deletes a token marker again (best
 * effort); an entry id's marker stays, so the retry resumes.
 * Errors: TLSRPT_STORE_FAILED, errbuf naming the key, operation and message;
 * info->partial when part of the counter burst may be in (reason store-partial).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "store_int.h"

#define SENT_SUFFIX " sent"

/* Is id a usable spool entry id ([A-Za-z0-9.-], 1..99 bytes)? */
int st_entry_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n >= 100)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)id[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')
              || ch == '.' || ch == '-'))
            return 0;
    }
    return 1;
}

/* A value unique to this attempt, stored in the dedup marker without an entry id. */
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

/* Phase 1 answers: the dedup add, the marker's value and the index sets. */
typedef struct phase1 {
    st_sets *ss;
    st_guard *g;                /* per domain: its saturation guard */
    size_t n_dom;
    int add_answered;
    unsigned add_status;
    char add_msg[128];
    int have_val;               /* the get of the marker answered */
    char val[128];              /* its value (cut) */
    size_t vlen;
    int oom;
} phase1;

/* Burst callback of phase 1 (request 0 = add, 1 = get of the marker, 2.. = sets). */
static void on_phase1(void *arg, const st_ans *a)
{
    phase1 *ph = arg;
    if (a->req == 0) {
        ph->add_answered = 1;
        ph->add_status = a->status;
        snprintf(ph->add_msg, sizeof ph->add_msg, "%.*s", (int)(a->vlen < 100 ? a->vlen : 100), a->val);
    } else if (a->req == 1) {
        if (a->status == 0) {
            ph->have_val = 1;
            ph->vlen = a->vlen < sizeof ph->val - 1 ? a->vlen : sizeof ph->val - 1;
            memcpy(ph->val, a->val, ph->vlen);
            ph->val[ph->vlen] = 0;
        }
    } else if (a->req >= 2 + ph->ss->n) {
        size_t i = a->req - 2 - ph->ss->n;
        int64_t v;
        if (a->status == 0 && i < ph->n_dom && tlsrpt_store_parse_count(a->val, a->vlen, &v) == 0) {
            ph->g[i].present = 1;
            ph->g[i].value = (uint64_t)v;
        } else if (a->status == 0 && i < ph->n_dom) {
            ph->g[i].present = 1;       /* not a number: as if at the limit (checked) */
            ph->g[i].value = UINT64_MAX;
        }
    } else if (a->status == 0 && st_sets_got(ph->ss, a->req - 2, a->val, a->vlen, a->cas) != 0) {
        ph->oom = 1;
    }
}

/* Store a 32-bit value big-endian at p. */
static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (24 - 8 * i));
}

/* The outcome of a marker found in phase 1 (value ph->val) for our marker value mine. */
static int judge_marker(st_call *c, const st_plan *p, const phase1 *ph, const char *mine,
                        int own_id)
{
    size_t ml = strlen(mine);
    if (!ph->have_val) {
        snprintf(c->errbuf, c->errlen, "memcached: the dedup marker %s %s", p->seen_key,
                 ph->add_answered ? "vanished between add and get" : "is missing (memcached lost "
                 "it?): an earlier attempt of this entry may have counted");
        snprintf(c->info->reason, sizeof c->info->reason, ph->add_answered ? "store-unavailable"
                                                                           : "store-partial");
        c->info->partial = !ph->add_answered;
        return TLSRPT_STORE_FAILED;
    }
    if (own_id && ph->vlen == ml && memcmp(ph->val, mine, ml) == 0) {
        c->info->resumed = 1;
        return TLSRPT_COUNTED;
    }
    if (own_id && ph->vlen == ml + strlen(SENT_SUFFIX) && memcmp(ph->val, mine, ml) == 0
        && strcmp(ph->val + ml, SENT_SUFFIX) == 0) {
        snprintf(c->errbuf, c->errlen, "the counter burst of entry %s was sent before (marker %s): "
                 "a partial count cannot be ruled out", mine, p->seen_key);
        snprintf(c->info->reason, sizeof c->info->reason, "store-partial");
        c->info->partial = 1;
        return TLSRPT_STORE_FAILED;
    }
    return TLSRPT_DUPLICATE;
}

/* Phase 1, one round trip: add P seen:H (not when recovering), get it, read every set
   and every domain's saturation guard P d:D:Y:max.
   The reporter's count of new domains is not read here: the marker burst raises it,
   and its answer is exact (index.c). */
static int dedup_and_read(st_call *c, const st_plan *p, st_sets *ss, const char *mine,
                          int own_id, int recover, st_guard *g)
{
    st_req *reqs = calloc(ss->n + 2 + p->n_dom, sizeof *reqs);
    phase1 ph = { .ss = ss, .g = g, .n_dom = p->n_dom };
    int maybe, rc;
    if (!reqs)
        return st_fail(c, "add", p->seen_key, MEMCACHED_MEMORY_ALLOCATION_FAILURE);
    reqs[0] = (st_req){ .opcode = ST_OP_ADD, .key = p->seen_key, .extlen = 8,
                        .val = mine, .vlen = strlen(mine) };
    put_u32(reqs[0].extras + 4, (uint32_t)st_expiry(c->st->dedup_ttl));
    if (recover)        /* only look: a marker we added now would let a retry count again */
        reqs[0] = (st_req){ .opcode = ST_OP_GETK, .key = p->seen_key };
    reqs[1] = (st_req){ .opcode = ST_OP_GETKQ, .key = p->seen_key };
    for (size_t i = 0; i < ss->n; i++)
        reqs[i + 2] = (st_req){ .opcode = ST_OP_GETKQ, .key = ss->s[i].key };
    for (size_t i = 0; i < p->n_dom; i++)
        reqs[ss->n + 2 + i] = (st_req){ .opcode = ST_OP_GETKQ, .key = g[i].key };
    rc = st_burst(c, "add", reqs, ss->n + 2 + p->n_dom, on_phase1, &ph, &maybe);
    free(reqs);
    if (rc != 0) {              /* name the key and the sets (formatted only now: cheaper) */
        const char *on = strstr(c->errbuf, " failed on ");
        char rest[256];
        snprintf(rest, sizeof rest, "%s", on ? on : " failed");
        snprintf(c->errbuf, c->errlen, "memcached add %s + get of %zu index sets%s", p->seen_key,
                 ss->n, rest);
        return TLSRPT_STORE_FAILED;
    }
    if (ph.oom)
        return st_fail(c, "get", "(index sets)", MEMCACHED_MEMORY_ALLOCATION_FAILURE);
    if (recover) {
        ph.add_answered = 0;
        return judge_marker(c, p, &ph, mine, own_id);
    }
    if (ph.add_answered && (ph.add_status == ST_ST_EXISTS || ph.add_status == ST_ST_NOT_STORED))
        return judge_marker(c, p, &ph, mine, own_id);
    if (!ph.add_answered || ph.add_status != 0) {
        snprintf(c->errbuf, c->errlen, "memcached add %s failed: %s (status 0x%04x)", p->seen_key,
                 ph.add_msg[0] ? ph.add_msg : "no answer", ph.add_status);
        snprintf(c->info->reason, sizeof c->info->reason, "store-unavailable");
        return TLSRPT_STORE_FAILED;
    }
    return TLSRPT_COUNTED;
}

/* Phase 3 answers: the first failed increment, the ones to send again and the ones
   that went past 2^63-1. */
typedef struct phase3 {
    int failed;
    size_t req;
    unsigned status;
    char msg[128];
    size_t *again;              /* requests whose create lost a race (NOT_STORED) */
    size_t n_again, cap_again;
    size_t first_ctr;           /* requests before it are the marker / label sets */
    const st_plan *p;
    const size_t *idx;          /* request first_ctr + i is counter idx[i] */
    size_t *clamp;              /* counters to set back to 2^63-1 */
    size_t n_clamp;
} phase3;

/* Big-endian 64-bit value at b. */
static uint64_t get_u64(const char *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | (unsigned char)b[i];
    return v;
}

/* Burst callback of phase 3: every increment answers with the new value; one above
   2^63-1, or below its own delta (it wrapped past 2^64), is clamped afterwards. An
   increment-with-initial of a missing key is an add inside memcached: when another
   client created the key first, it answers NOT_STORED and changed nothing, so it is
   sent again (the key exists now). */
static void on_phase3(void *arg, const st_ans *a)
{
    phase3 *ph = arg;
    if (a->status == 0 && a->req >= ph->first_ctr && a->opcode == ST_OP_INCREMENT && a->vlen == 8) {
        size_t k = ph->idx[a->req - ph->first_ctr];
        uint64_t v = get_u64(a->val);
        if ((v > (uint64_t)INT64_MAX || v < ph->p->ctr[k].delta) && ph->n_clamp < ph->cap_again)
            ph->clamp[ph->n_clamp++] = k;
    } else if (a->status == ST_ST_NOT_STORED && a->req >= ph->first_ctr && ph->n_again < ph->cap_again) {
        ph->again[ph->n_again++] = a->req - ph->first_ctr;
    } else if (a->status != 0 && ph->failed++ == 0) {
        ph->req = a->req;
        ph->status = a->status;
        snprintf(ph->msg, sizeof ph->msg, "%.*s", (int)(a->vlen < 100 ? a->vlen : 100), a->val);
    }
}

/* INCREMENT (INCREMENTQ when quiet) of counter ctr (delta = initial value) into r. */
static void incr_req(st_req *r, const st_counter *ctr, uint32_t exp, int quiet)
{
    *r = (st_req){ .opcode = quiet ? ST_OP_INCREMENTQ : ST_OP_INCREMENT, .key = ctr->key, .extlen = 20 };
    for (int b = 0; b < 8; b++) {
        r->extras[b] = (unsigned char)(ctr->delta >> (56 - 8 * b));
        r->extras[8 + b] = r->extras[b];
    }
    put_u32(r->extras + 16, exp);
}

/* Answers of the clamp burst (quiet sets: only failures answer). */
static void on_clamp(void *arg, const st_ans *a)
{
    phase3 *ph = arg;
    if (a->status != 0 && ph->failed++ == 0) {
        ph->req = a->req;
        ph->status = a->status;
        snprintf(ph->msg, sizeof ph->msg, "%.*s", (int)(a->vlen < 100 ? a->vlen : 100), a->val);
    }
}

/* Set every counter that went past 2^63-1 back to it (one more burst, only then):
   a set, not a decrement, so two clients clamping the same key at once cannot pull it
   below the limit. The key's TTL restarts there. 0 or -1 (errbuf set; bad = key). */
static int clamp_counters(st_call *c, const st_plan *p, phase3 *ph, st_req *reqs,
                          const char **bad)
{
    static const char max[] = "9223372036854775807";
    uint32_t exp = (uint32_t)st_expiry(c->st->counter_ttl);
    st_burst_res res;
    for (size_t i = 0; i < ph->n_clamp; i++) {
        reqs[i] = (st_req){ .opcode = ST_OP_SETQ, .key = p->ctr[ph->clamp[i]].key, .extlen = 8,
                            .val = max, .vlen = sizeof max - 1 };
        put_u32(reqs[i].extras + 4, exp);
    }
    ph->failed = 0;
    ph->first_ctr = 0;
    if (st_burst_x(c, "set (saturated counters)", reqs, ph->n_clamp, on_clamp, ph, -1, &res) != 0)
        return -1;
    if (ph->failed)
        *bad = reqs[ph->req].key;
    c->info->saturated = (unsigned)ph->n_clamp;
    return 0;
}

/* The quiet sets that open the first counter round: the marker "ENTRYID sent"
   (request 0, so its server goes first) and the org label; returns how many. */
static size_t head_reqs(st_call *c, const st_plan *p, const char *sent, st_req *reqs)
{
    size_t n = 0;
    if (sent) {
        reqs[n] = (st_req){ .opcode = ST_OP_SETQ, .key = p->seen_key, .extlen = 8,
                            .val = sent, .vlen = strlen(sent) };
        put_u32(reqs[n++].extras + 4, (uint32_t)st_expiry(c->st->dedup_ttl));
    }
    if (p->label_key[0]) {
        reqs[n] = (st_req){ .opcode = ST_OP_SETQ, .key = p->label_key, .extlen = 8,
                            .val = p->label_val, .vlen = p->label_len };
        put_u32(reqs[n++].extras + 4, (uint32_t)st_expiry(c->st->counter_ttl));
    }
    return n;
}

/* errbuf (when an answer failed; a lost burst has set it already) and reason for a
   failed counter burst; TLSRPT_STORE_FAILED. */
static int counters_failed(st_call *c, const char *key, const phase3 *ph, size_t n, int sent_any)
{
    if (ph)
        snprintf(c->errbuf, c->errlen, "memcached %s %s failed: %s (status 0x%04x; %d of %zu failed)",
                 ph->req < ph->first_ctr ? "set" : "incr", key, ph->msg[0] ? ph->msg : "error",
                 ph->status, ph->failed, n);
    c->info->partial = sent_any;
    snprintf(c->info->reason, sizeof c->info->reason, sent_any ? "store-partial"
                                                               : "store-unavailable");
    return TLSRPT_STORE_FAILED;
}

/* Phase 3, one round trip (one more per lost create race, at most 3 in all): the
   marker and label sets, then every counter as increment-with-initial, quiet where the
   domain's guard allows it (g; counters of no domain always), else answering its value. */
int st_write_counters(st_call *c, const st_plan *p, const char *sent, st_guard *g)
{
    size_t n = p->n_ctr + 2, *idx = malloc(n * sizeof *idx);
    st_req *reqs = malloc(n * sizeof *reqs);    /* every request is assigned whole */
    uint32_t exp = (uint32_t)st_expiry(c->st->counter_ttl);
    phase3 ph = { .again = malloc(n * sizeof *ph.again), .cap_again = n, .p = p, .idx = idx,
                  .clamp = malloc(n * sizeof *ph.clamp) };
    st_burst_res res;
    int rc = 0, sent_any = 0;
    const char *bad = NULL;
    if (!reqs || !idx || !ph.again || !ph.clamp) {
        free(reqs), free(idx), free(ph.again), free(ph.clamp);
        return st_fail(c, "incr", "(counters)", MEMCACHED_MEMORY_ALLOCATION_FAILURE);
    }
    for (size_t i = 0; i < p->n_ctr; i++)
        idx[i] = i;
    n = p->n_ctr;
    for (int round = 0; round < 3 && (n > 0 || round == 0) && rc == 0 && !bad; round++) {
        size_t h = round == 0 ? head_reqs(c, p, sent, reqs) : 0;
        for (size_t i = 0; i < n; i++) {
            long d = p->ctr[idx[i]].dom;
            incr_req(&reqs[h + i], &p->ctr[idx[i]], exp, d < 0 || (g && g[d].quiet));
        }
        ph.n_again = 0;
        ph.first_ctr = h;
        rc = st_burst_x(c, "incr (counters)", reqs, h + n, on_phase3, &ph, sent ? 0 : -1, &res);
        sent_any |= res.sent_any;
        if (rc == 0 && ph.failed)
            bad = ph.req < h ? reqs[ph.req].key : p->ctr[idx[ph.req - h]].key;
        for (size_t i = 0; i < ph.n_again; i++)
            ph.again[i] = idx[ph.again[i]];
        memcpy(idx, ph.again, ph.n_again * sizeof *idx);
        n = ph.n_again;
    }
    if (rc == 0 && !bad && n > 0) {
        ph.failed = 1;
        ph.req = ph.first_ctr;
        ph.status = ST_ST_NOT_STORED;
        snprintf(ph.msg, sizeof ph.msg, "Not stored (lost the create race 3 times)");
        bad = p->ctr[idx[0]].key;
    }
    if (rc == 0 && !bad && ph.n_clamp > 0)
        rc = clamp_counters(c, p, &ph, reqs, &bad);
    if (rc != 0 || bad)
        rc = counters_failed(c, bad, bad ? &ph : NULL, p->n_ctr, sent_any);
    else
        rc = TLSRPT_COUNTED;
    free(reqs);
    free(idx);
    free(ph.again);
    free(ph.clamp);
    return rc;
}

/* The budget's view of phase 1. */
typedef struct p1view {
    const st_sets *ss;
    const st_plan *p;
} p1view;

/* A member is known when link 0 lists it, or (chained P domains) its d:D:days exists;
   in any other chained set it is taken as new (the marker burst decides later). */
static int ss_known(void *arg, size_t set, const char *member)
{
    const p1view *v = arg;
    const st_set_state *s = set < v->ss->n ? &v->ss->s[set] : NULL;
    if (!s)
        return 0;
    if (s->value && st_set_has(s, member))
        return 1;
    if (set != ST_SET_DOMAINS || s->links == 0)
        return 0;
    for (size_t i = 0; i < v->p->n_dom; i++)
        if (strcmp(v->p->dom[i].D, member) == 0)
            return v->ss->s[ST_SET_DAYS(i)].exists;
    return 0;
}

/* The budget's view of phase 1: the set exists. */
static int ss_exists(void *arg, size_t set)
{
    const p1view *v = arg;
    return set < v->ss->n && v->ss->s[set].exists;
}

/* The budget's view of phase 1: how many members the set lists (link 0's, times the
   links when chained: an estimate that can only be high). */
static size_t ss_members(void *arg, size_t set)
{
    const p1view *v = arg;
    const st_set_state *s = set < v->ss->n ? &v->ss->s[set] : NULL;
    return s ? s->ntok * (s->links + 1) : 0;
}

/* The report's sums after the budgets into info. */
static void info_sums(tlsrpt_count_info *info, st_plan *p)
{
    st_plan_sums(p);
    info->ok = p->ok;
    info->fail = p->fail;
    memcpy(info->pt_ok, p->pt_ok, sizeof info->pt_ok);
    memcpy(info->pt_fail, p->pt_fail, sizeof info->pt_fail);
    info->n_domains = p->n_domains;
    memcpy(info->domains, p->domains, sizeof info->domains);
}

/* Nothing left to count after the budgets: remove our marker (the report was not
   counted, so a resend must not look like a duplicate); NOT_COUNTABLE. */
static int nothing_left(st_call *c, const st_plan *p)
{
    (void)st_store_op(c, 'd', p->seen_key, NULL, 0, 0);
    snprintf(c->info->reason, sizeof c->info->reason, "too-many-domains");
    snprintf(c->errbuf, c->errlen, "nothing left to count: %s", c->info->folded.text);
    return TLSRPT_NOT_COUNTABLE;
}

/* Budgets and index members (phase 2): TLSRPT_COUNTED when counters are to be sent. */
static int budget_and_index(st_call *c, st_plan *p, st_sets *ss)
{
    p1view pv = { ss, p };
    st_view v = { ss_known, ss_exists, ss_members, &pv, 0 };   /* rep count: see phase 1 */
    size_t overhead = 2 + (p->label_key[0] != 0)    /* marker, reporter count, label */
                      + (p->host[0] ? 3 : 0);       /* arr:, hosts:Y member and set */
    if (st_budget(c->st, p, &v, overhead, c->info) == 0)
        return nothing_left(c, p);
    if (st_budget_folded(p) && st_emit(c->st, p) < 0)
        return st_fail(c, "plan", "(budget)", MEMCACHED_MEMORY_ALLOCATION_FAILURE);
    unsigned before = c->info->folded.domains_reporter;
    st_rep rep = { p->rep_key, p->rep_new, c->st->max_rep_domains, 0, 0 };
    int rc = st_index_write(c, p, ss, &rep);
    if (rc != TLSRPT_COUNTED || c->info->folded.domains_reporter == before)
        return rc;
    st_fold_describe(c->st, &c->info->folded);     /* the reporter's race cost domains */
    int left = 0;
    for (size_t i = 0; i < p->n_dom; i++)
        left += !p->dom[i].drop;
    if (!left)
        return nothing_left(c, p);
    return st_emit(c->st, p) < 0 ? st_fail(c, "plan", "(budget)", MEMCACHED_MEMORY_ALLOCATION_FAILURE)
                                 : TLSRPT_COUNTED;
}

/* Each counted domain's mode: quiet when its guard (read in phase 1) is at most
   ST_GUARD_QUIET and no delta passes ST_DELTA_QUIET, or when the day is new; a known
   day without a guard (v1 data, an eviction, a rebuild) is checked and stays unguarded. */
static void guard_modes(const st_plan *p, const st_sets *ss, st_guard *g)
{
    for (size_t k = 0; k < p->n_ctr; k++) {
        long d = p->ctr[k].dom;
        if (d >= 0 && p->ctr[k].delta > g[d].add)
            g[d].add = p->ctr[k].delta;
    }
    for (size_t i = 0; i < p->n_dom; i++) {
        const st_set_state *days = &ss->s[ST_SET_DAYS(i)];
        int known = (days->value && st_set_has(days, p->Y)) || days->links > 0;
        int small = g[i].add <= ST_DELTA_QUIET;
        g[i].add = g[i].add ? g[i].add : 1;
        if (g[i].present && g[i].value != UINT64_MAX) {
            g[i].quiet = small && g[i].value <= ST_GUARD_QUIET;
            g[i].touch = 1;
        } else {
            g[i].quiet = small && !g[i].present && !known;
            g[i].touch = !g[i].present && !known;
        }
    }
}

/* Append each counted domain's guard increment to the plan's counters; 0 or -1. */
static int add_guards(st_plan *p, const st_guard *g)
{
    for (size_t i = 0; i < p->n_dom; i++) {
        if (p->dom[i].drop || !g[i].touch)
            continue;
        if (p->n_ctr == p->cap_ctr) {
            st_counter *nc = realloc(p->ctr, (p->cap_ctr + p->n_dom) * sizeof *nc);
            if (!nc)
                return -1;
            p->ctr = nc;
            p->cap_ctr += p->n_dom;
        }
        st_counter *c = &p->ctr[p->n_ctr++];
        memcpy(c->key, g[i].key, sizeof c->key);
        c->delta = g[i].add;
        c->keep_zero = 1;
        c->dom = (long)i;
    }
    return 0;
}

/* Phases 1-3 on one pooled connection. */
int st_count_on(st_call *c, st_plan *p, const tlsrpt_count_req *q)
{
    char token[64], sent[128];
    st_sets ss;
    st_guard *g = calloc(p->n_dom ? p->n_dom : 1, sizeof *g);
    int rc, own_id = q->entry_id != NULL;
    for (size_t i = 0; g && i < p->n_dom; i++)
        if (tlsrpt_key_build(g[i].key, sizeof g[i].key, c->st->prefix,
                             (const char *const[]){ "d", p->dom[i].D, p->Y, "max" }, 4) < 0)
            g[i].key[0] = 0;
    if (!g || st_sets_init(&ss, p) != 0) {
        free(g);
        return st_fail(c, "get", "(index sets)", MEMCACHED_MEMORY_ALLOCATION_FAILURE);
    }
    if (own_id)
        snprintf(token, sizeof token, "%s", q->entry_id);
    else
        make_token(token, sizeof token);
    snprintf(sent, sizeof sent, "%s" SENT_SUFFIX, token);
    snprintf(p->mtoken, sizeof p->mtoken, "%s", token);
    rc = dedup_and_read(c, p, &ss, token, own_id, own_id && (q->flags & TLSRPT_REQ_RECOVER), g);
    if (rc == TLSRPT_COUNTED)
        rc = budget_and_index(c, p, &ss);
    if (rc == TLSRPT_COUNTED)
        guard_modes(p, &ss, g);
    st_sets_free(&ss);
    info_sums(c->info, p);
    if (rc == TLSRPT_STORE_FAILED && !own_id && !c->info->partial)
        unmark(c, p->seen_key, token);      /* nothing counted yet: allow a replay */
    if (rc == TLSRPT_COUNTED && add_guards(p, g) < 0)
        rc = st_fail(c, "incr", "(guards)", MEMCACHED_MEMORY_ALLOCATION_FAILURE);
    if (rc != TLSRPT_COUNTED) {
        free(g);
        return rc;
    }
    if (q->before_counters)
        q->before_counters(q->arg);
    rc = st_write_counters(c, p, own_id ? sent : NULL, g);
    free(g);
    return rc;
}

/* Burst callback of st_run_plain's read: link 0 of each set. */
static void on_plain(void *arg, const st_ans *a)
{
    st_sets *ss = arg;
    if (a->status == 0 && st_sets_got(ss, a->req, a->val, a->vlen, a->cas) != 0)
        ss->oom = 1;
}

/* A plan without dedup marker (not-counted counts, partial flags): read its sets, write
   its new members, then its counters; 2 round trips, 4 with new members. */
int st_run_plain(st_call *c, st_plan *p)
{
    st_sets ss;
    int rc = TLSRPT_COUNTED, maybe;
    if (st_sets_init(&ss, p) != 0)
        return st_fail(c, "get", "(index sets)", MEMCACHED_MEMORY_ALLOCATION_FAILURE);
    st_req *reqs = calloc(ss.n ? ss.n : 1, sizeof *reqs);
    if (!reqs)
        rc = st_fail(c, "get", "(index sets)", MEMCACHED_MEMORY_ALLOCATION_FAILURE);
    for (size_t i = 0; reqs && i < ss.n; i++)
        reqs[i] = (st_req){ .opcode = ST_OP_GETKQ, .key = ss.s[i].key };
    if (rc == TLSRPT_COUNTED && ss.n && st_burst(c, "get (index sets)", reqs, ss.n, on_plain, &ss, &maybe) != 0)
        rc = TLSRPT_STORE_FAILED;
    else if (rc == TLSRPT_COUNTED && ss.oom)
        rc = st_fail(c, "get", "(index sets)", MEMCACHED_MEMORY_ALLOCATION_FAILURE);
    free(reqs);
    if (rc == TLSRPT_COUNTED)
        rc = st_index_write(c, p, &ss, NULL);
    st_sets_free(&ss);
    return rc == TLSRPT_COUNTED ? st_write_counters(c, p, NULL, NULL) : rc;
}
