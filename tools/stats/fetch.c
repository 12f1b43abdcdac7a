/*
 * fetch.c - read the counters of key schema v1 (store/store.h) from memcached
 * into an ts_report, only through the index keys, with batched multi-gets.
 *
 * Round trips: 1 for "P domains" (when no domain is named), then the days
 * indexes, then each listed day's counters and index sets, then the per-org /
 * per-MX / per-type counters those sets name; each phase is sent as
 * memcached_mget calls of up to TS_MGET_CHUNK keys (never one per key).
 * Keys are built with tlsrpt_key_build from encoded components: domain and
 * members as they appear in the indexes, fixed words encoded by us.
 *
 * Limits: TS_MAX_MEMBERS members per index value (the rest ignored with a
 * warning), TS_MAX_VALUE bytes per index value; members that are not valid
 * encoded components are skipped with a warning. A missing counter reads 0.
 * Errors: TS_EXIT_UNREACHABLE on any memcached error (never a partial report),
 * TS_EXIT_MALFORMED for a counter key holding anything but a decimal number,
 * TS_EXIT_NODATA for no domains at all or a named domain without a listed
 * day in the window.
 */
#include <string.h>
#include <stdlib.h>
#include <libmemcached/memcached.h>
#include "stats.h"

enum { RQ_DAY, RQ_ENT, RQ_STRING };
enum { SET_ORGS, SET_TYPES, SET_MXS };
static const char *const set_words[3] = { "orgs", "types", "mxs" };

/* One key asked for and where its value goes. */
typedef struct req {
    char key[TLSRPT_KEY_MAX + 1];
    unsigned short klen;
    unsigned char kind, served;
    int field;                  /* RQ_ENT: 0 ok, 1 fail */
    long idx;                   /* RQ_ENT: entity index */
    void *dst;                  /* RQ_DAY int64_t*, RQ_ENT ts_set*, RQ_STRING char** */
} req;

/* Keys waiting for the next round trip (at most TS_MGET_CHUNK). */
typedef struct batch {
    memcached_st *m;
    ts_report *r;
    memcached_result_st *res;   /* points to resbuf: libmemcached frees a result it
                                   allocated itself at the end of each fetch loop */
    memcached_result_st resbuf;
    req v[TS_MGET_CHUNK];
    size_t n;
    unsigned short slot[1024];  /* key hash -> index + 1 */
} batch;

/* FNV-1a over a key. */
static unsigned key_hash(const char *k, size_t n)
{
    unsigned h = 2166136261u;

    while (n--)
        h = (h ^ (unsigned char)*k++) * 16777619u;
    return h;
}

/* The unserved request for the key a server returned, or NULL. */
static req *batch_find(batch *b, const char *k, size_t n)
{
    unsigned h = key_hash(k, n) & 1023;

    for (; b->slot[h]; h = (h + 1) & 1023) {
        req *q = &b->v[b->slot[h] - 1];
        if (!q->served && q->klen == n && memcmp(q->key, k, n) == 0)
            return q;
    }
    return NULL;
}

/* Printable preview of a bad value for an error message. */
static void preview(const char *v, size_t n, char *out, size_t outlen)
{
    size_t i, o = 0;

    for (i = 0; i < n && o + 4 < outlen && i < 40; i++)
        out[o++] = (v[i] >= 0x20 && v[i] < 0x7f) ? v[i] : '?';
    if (i < n && o + 4 < outlen)
        o += (size_t)snprintf(out + o, outlen - o, "...");
    out[o] = '\0';
}

/* Store one returned value where its request says. */
static int deliver(req *q, const char *v, size_t n, ts_err *e)
{
    int64_t x;
    char pv[64];

    q->served = 1;
    if (q->kind == RQ_STRING) {
        char **dst = q->dst;
        if (n > TS_MAX_VALUE) {
            fprintf(stderr, "tlsrpt-stats: warning: %s: index value of %zu bytes cut to %u\n",
                    q->key, n, TS_MAX_VALUE);
            n = TS_MAX_VALUE;
            while (n > 0 && v[n - 1] != ' ')        /* do not keep half a member */
                n--;
        }
        free(*dst);
        *dst = ts_xmalloc(n + 1);
        memcpy(*dst, v, n);
        (*dst)[n] = '\0';
        return 0;
    }
    if (ts_parse_counter(v, n, &x) < 0) {
        preview(v, n, pv, sizeof(pv));
        ts_seterr(e, TS_EXIT_MALFORMED, "malformed counter: key '%s' holds \"%s\", not a number",
                  q->key, pv);
        return -1;
    }
    if (q->kind == RQ_DAY) {
        int64_t *dst = q->dst;
        *dst = ts_add64(*dst, x);
    } else {
        ts_entity *ent = &((ts_set *)q->dst)->v[q->idx];
        if (q->field == 0)
            ent->ok = ts_add64(ent->ok, x);
        else
            ent->fail = ts_add64(ent->fail, x);
    }
    return 0;
}

/* Error for a failed memcached call. */
static int memc_fail(batch *b, memcached_return_t rc, ts_err *e)
{
    const char *detail = memcached_last_error_message(b->m);

    ts_seterr(e, TS_EXIT_UNREACHABLE, "memcached: %s%s%s", memcached_strerror(b->m, rc),
              detail ? ": " : "", detail ? detail : "");
    return -1;
}

/* Send the waiting keys in one memcached_mget and read every value back. */
static int batch_flush(batch *b, ts_err *e)
{
    const char *keys[TS_MGET_CHUNK];
    size_t lens[TS_MGET_CHUNK], i;
    memcached_return_t rc;
    int bad = 0;

    if (b->n == 0)
        return 0;
    memset(b->slot, 0, sizeof(b->slot));
    for (i = 0; i < b->n; i++) {
        unsigned h = key_hash(b->v[i].key, b->v[i].klen) & 1023;
        while (b->slot[h])
            h = (h + 1) & 1023;
        b->slot[h] = (unsigned short)(i + 1);
        keys[i] = b->v[i].key;
        lens[i] = b->v[i].klen;
    }
    b->r->round_trips++;
    b->r->keys += b->n;
    rc = memcached_mget(b->m, keys, lens, b->n);
    b->n = 0;
    if (rc != MEMCACHED_SUCCESS)
        return memc_fail(b, rc, e);
    while (memcached_fetch_result(b->m, b->res, &rc) != NULL) {
        req *q = batch_find(b, memcached_result_key_value(b->res),
                            memcached_result_key_length(b->res));
        if (q && !bad && deliver(q, memcached_result_value(b->res),
                                 memcached_result_length(b->res), e) < 0)
            bad = 1;                    /* keep reading so the connection stays in sync */
    }
    if (bad)
        return -1;
    if (rc != MEMCACHED_END && rc != MEMCACHED_NOTFOUND && rc != MEMCACHED_SUCCESS)
        return memc_fail(b, rc, e);
    return 0;
}

/* Queue one key (prefix + components); flushes when the batch is full. */
static int batch_add(batch *b, int kind, void *dst, long idx, int field,
                     const char *const *comps, size_t n, ts_err *e)
{
    req *q;
    int len;

    if (b->n == TS_MGET_CHUNK && batch_flush(b, e) < 0)
        return -1;
    q = &b->v[b->n];
    len = tlsrpt_key_build(q->key, sizeof(q->key), b->r->prefix, comps, n);
    if (len < 0) {
        fprintf(stderr, "tlsrpt-stats: warning: cannot build a key for %s:%s...\n",
                n > 0 ? comps[0] : "", n > 1 ? comps[1] : "");
        return 0;
    }
    q->klen = (unsigned short)len;
    q->kind = (unsigned char)kind;
    q->served = 0;
    q->dst = dst;
    q->idx = idx;
    q->field = field;
    b->n++;
    return 0;
}

/* Call fn for each valid member of an index value (at most TS_MAX_MEMBERS). */
static int each_member(const char *val, const char *what,
                       int (*fn)(void *ctx, const char *member), void *ctx)
{
    char m[TLSRPT_KEY_MAX + 1];
    size_t len, count = 0, skipped = 0;
    const char *p = val;

    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
        len = strcspn(p, " \t\r\n");
        if (len == 0)
            break;
        if (!ts_valid_member(p, len))
            skipped++;
        else if (count++ >= TS_MAX_MEMBERS) {
            fprintf(stderr, "tlsrpt-stats: warning: %s: more than %d members, rest ignored\n",
                    what, TS_MAX_MEMBERS);
            break;
        } else {
            memcpy(m, p, len);
            m[len] = '\0';
            if (fn(ctx, m) < 0)
                return -1;
        }
        p += len;
    }
    if (skipped)
        fprintf(stderr, "tlsrpt-stats: warning: %s: %zu invalid member(s) skipped\n",
                what, skipped);
    return 0;
}

/* each_member callback: a domain from "P domains". */
static int add_domain_cb(void *ctx, const char *member)
{
    ts_err e;

    return ts_report_add_domain(ctx, member, NULL, 0, &e) < 0 ? -1 : 0;
}

/* Phase 1: the domain list from "P domains". */
static int fetch_domains(batch *b, ts_err *e)
{
    const char *comps[1] = { "domains" };
    char *val = NULL;
    int rc;

    if (batch_add(b, RQ_STRING, &val, 0, 0, comps, 1, e) < 0 || batch_flush(b, e) < 0) {
        free(val);
        return -1;
    }
    rc = each_member(val, "domains index", add_domain_cb, b->r);
    free(val);
    if (rc < 0 || b->r->ndom == 0) {
        ts_seterr(e, TS_EXIT_NODATA, "no data: no domains counted yet (key '%sdomains' %s)",
                  b->r->prefix, rc < 0 ? "lists too many" : "is missing or empty");
        return -1;
    }
    return 0;
}

/* Context for marking the days a domain's days index lists. */
struct days_ctx { ts_report *r; ts_domain *d; };

/* each_member callback: one day from "P d:D:days". */
static int mark_day_cb(void *ctx, const char *member)
{
    struct days_ctx *c = ctx;
    time_t t, start = c->r->first - (time_t)TS_LEAD_DAYS * 86400;
    long i;

    if (ts_parse_day(member, &t) < 0 || t < start)
        return 0;
    i = (long)((t - start) / 86400);
    if (i < c->r->ndays + TS_LEAD_DAYS)
        c->d->day[i].listed = 1;
    return 0;
}

/* Phase 2: every domain's days index; a named domain needs a listed window day. */
static int fetch_days(batch *b, ts_err *e)
{
    ts_report *r = b->r;
    char **vals = ts_xmalloc(r->ndom * sizeof(*vals));
    size_t i;
    int w, rc = 0;

    for (i = 0; i < r->ndom; i++) {
        const char *comps[3] = { "d", r->dom[i].enc, "days" };
        vals[i] = NULL;
        if (rc == 0 && batch_add(b, RQ_STRING, &vals[i], 0, 0, comps, 3, e) < 0)
            rc = -1;
    }
    if (rc == 0)
        rc = batch_flush(b, e);
    for (i = 0; i < r->ndom; i++) {
        struct days_ctx c = { r, &r->dom[i] };
        char what[TLSRPT_KEY_MAX + 32];
        snprintf(what, sizeof(what), "days index of %s", r->dom[i].enc);
        if (rc == 0)
            each_member(vals[i], what, mark_day_cb, &c);
        free(vals[i]);
        if (rc == 0 && r->dom[i].requested) {
            for (w = 0; w < r->ndays && !TS_WDAY(&r->dom[i], w)->listed; w++)
                ;
            if (w == r->ndays) {
                ts_seterr(e, TS_EXIT_NODATA, "no data for %s from %s to %s (key '%sd:%s:days' "
                          "lists no day in that window)", r->dom[i].name, TS_WNAME(r, 0),
                          TS_WNAME(r, r->ndays - 1), r->prefix, r->dom[i].enc);
                rc = -1;
            }
        }
    }
    free(vals);
    return rc;
}

/* Phase 3: counters of each listed day, index sets of each listed window day. */
static int fetch_day_counters(batch *b, ts_domain *d, ts_err *e)
{
    static const char *const words[3] = { "ok", "fail", "reports" };
    ts_report *r = b->r;
    int i, k, total = r->ndays + TS_LEAD_DAYS;

    for (i = 0; i < total; i++) {
        ts_day *day = &d->day[i];
        int64_t *dst[3] = { &day->ok, &day->fail, &day->reports };
        if (!day->listed)
            continue;
        for (k = 0; k < 3; k++) {
            const char *comps[4] = { "d", d->enc, r->dayname[i], words[k] };
            if (batch_add(b, RQ_DAY, dst[k], 0, 0, comps, 4, e) < 0)
                return -1;
        }
        for (k = 0; k < TS_NMODES; k++) {
            const char *comps[5] = { "d", d->enc, r->dayname[i], "mode", ts_mode_names[k] };
            if (batch_add(b, RQ_DAY, &day->mode[k], 0, 0, comps, 5, e) < 0)
                return -1;
        }
        if (i < TS_LEAD_DAYS)
            continue;
        if (!d->sets) {
            d->sets = ts_xmalloc((size_t)r->ndays * 3 * sizeof(*d->sets));
            memset(d->sets, 0, (size_t)r->ndays * 3 * sizeof(*d->sets));
        }
        for (k = 0; k < 3; k++) {
            const char *comps[4] = { "d", d->enc, r->dayname[i], set_words[k] };
            char **sdst = &d->sets[(i - TS_LEAD_DAYS) * 3 + k];
            if (batch_add(b, RQ_STRING, sdst, 0, 0, comps, 4, e) < 0)
                return -1;
        }
    }
    return 0;
}

/* Context for queueing the counters an index set names. */
struct member_ctx {
    batch *b;
    ts_domain *d;
    int w, kind;
    int full_warned;
    ts_err *e;
};

/* each_member callback: queue the counters of one org / type / MX on one day. */
static int member_cb(void *ctx, const char *m)
{
    struct member_ctx *c = ctx;
    ts_set *set = c->kind == SET_ORGS ? &c->d->orgs : c->kind == SET_TYPES ? &c->d->types
                                                                              : &c->d->mxs;
    const char *day = TS_WNAME(c->b->r, c->w);
    long idx = ts_set_get(set, m, 1);
    ts_entity *ent;

    if (idx < 0) {                      /* TS_MAX_ENTITIES reached */
        if (!c->full_warned++)
            fprintf(stderr, "tlsrpt-stats: warning: %s: more than %d %s, rest ignored\n",
                    c->d->name, TS_MAX_ENTITIES, set_words[c->kind]);
        return 0;
    }
    ent = &set->v[idx];
    if (ent->last_day == c->w)
        return 0;                       /* listed twice the same day */
    if (ent->first_day < 0)
        ent->first_day = c->w;
    ent->last_day = c->w;
    if (c->kind == SET_ORGS) {
        const char *ok[6] = { "d", c->d->enc, day, "org", m, "ok" };
        const char *fail[6] = { "d", c->d->enc, day, "org", m, "fail" };
        if (batch_add(c->b, RQ_ENT, set, idx, 0, ok, 6, c->e) < 0 ||
            batch_add(c->b, RQ_ENT, set, idx, 1, fail, 6, c->e) < 0)
            return -1;
    } else if (c->kind == SET_TYPES) {
        const char *comps[5] = { "d", c->d->enc, day, "type", m };
        if (batch_add(c->b, RQ_ENT, set, idx, 1, comps, 5, c->e) < 0)
            return -1;
    } else {
        const char *comps[6] = { "d", c->d->enc, day, "mx", m, "fail" };
        if (batch_add(c->b, RQ_ENT, set, idx, 1, comps, 6, c->e) < 0)
            return -1;
    }
    return 0;
}

/* Phase 4: the per-org, per-type and per-MX counters of one domain. */
static int fetch_members(batch *b, ts_domain *d, ts_err *e)
{
    struct member_ctx c = { b, d, 0, 0, 0, e };
    char what[2 * TLSRPT_KEY_MAX + 128];
    int k;

    if (!d->sets)
        return 0;
    for (c.w = 0; c.w < b->r->ndays; c.w++) {
        for (k = 0; k < 3; k++) {
            char **val = &d->sets[c.w * 3 + k];
            c.kind = k;
            snprintf(what, sizeof(what), "%sd:%s:%s:%s", b->r->prefix, d->enc,
                     TS_WNAME(b->r, c.w), set_words[k]);
            if (*val && each_member(*val, what, member_cb, &c) < 0)
                return -1;
            free(*val);
            *val = NULL;
        }
    }
    return 0;
}

/* Read everything the report needs; all_domains: take the list from "P domains". */
int ts_fetch(void *memc, ts_report *r, int all_domains, ts_err *e)
{
    batch *b = ts_xmalloc(sizeof(*b));
    size_t i;
    int rc = -1;

    b->m = memc;
    b->r = r;
    b->n = 0;
    b->res = memcached_result_create(memc, &b->resbuf);
    if (!b->res) {
        ts_seterr(e, TS_EXIT_INTERNAL, "out of memory");
        free(b);
        return -1;
    }
    if (all_domains && fetch_domains(b, e) < 0)
        goto out;
    if (fetch_days(b, e) < 0)
        goto out;
    for (i = 0; i < r->ndom; i++)
        if (fetch_day_counters(b, &r->dom[i], e) < 0)
            goto out;
    if (batch_flush(b, e) < 0)
        goto out;
    for (i = 0; i < r->ndom; i++)
        if (fetch_members(b, &r->dom[i], e) < 0)
            goto out;
    if (batch_flush(b, e) < 0)
        goto out;
    rc = 0;
out:
    memcached_result_free(b->res);
    free(b);
    return rc;
}
