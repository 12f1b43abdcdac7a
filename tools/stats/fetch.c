/*
 * fetch.c - the request machinery of tlsrpt-stats (fetch.h): queue keys built
 * from encoded components, send them in pipelined batches (mget.c) and put
 * each hit where its request says: a counter into its int64, a policy type
 * into its day, an index set member by member (phases.c: member()), a chained
 * set's links (store/README.md "Index sets") after one more round trip.
 *
 * Counters are read with the store's own tlsrpt_store_parse_count: memcached's
 * right-padded incr values are numbers, 2^63-1 and above read as 2^63-1
 * (saturated; sums saturate too, never wrap). A counter holding anything else
 * is malformed: it is skipped, named in ts_report.bad and on standard error, and
 * everything else is still read (issue 13).
 * Limits: a set value is taken up to TS_MAX_VALUE bytes per link (cut at a member
 * boundary), a chain up to TS_MAX_LINKS links (the store's own maximum); a
 * missing link (expired) is skipped. Errors: -1 with TS_EXIT_UNREACHABLE from
 * mget.c for memcached failures; out of memory ends the program (util.c).
 */
#include <stdlib.h>
#include <string.h>
#include "fetch.h"

/* Build P + comps into out (plain join, or tlsrpt_key_build past 250 bytes); length or -1. */
static int build_key(const ts_report *r, char *out, const char *const *comps, size_t n)
{
    size_t len = strlen(r->prefix), i, cl;

    memcpy(out, r->prefix, len);
    for (i = 0; i < n; i++) {
        cl = strlen(comps[i]);
        if (len + cl + (i > 0) > TLSRPT_KEY_MAX)
            return tlsrpt_key_build(out, TLSRPT_KEY_MAX + 1, r->prefix, comps, n);
        if (i > 0)
            out[len++] = ':';
        memcpy(out + len, comps[i], cl);
        len += cl;
    }
    out[len] = '\0';
    return (int)len;
}

/* Queue one request for a built key. */
static int q_raw(fetch *f, int kind, int aux, uint32_t idx, void *dst, const char *key,
                 size_t len)
{
    req *q;

    if (f->failed)
        return -1;
    if (ts_mget_pending(f->g) >= TS_MGET_CHUNK && f_flush(f) < 0)
        return -1;
    if (f->nv == f->capv) {
        f->capv = f->capv ? f->capv * 2 : 4096;
        f->v = ts_xrealloc(f->v, f->capv * sizeof *f->v);
    }
    q = &f->v[ts_mget_add(f->g, key, len)];
    f->nv++;
    q->kind = (unsigned char)kind;
    q->aux = (unsigned char)aux;
    q->idx = idx;
    q->dst = dst;
    return 0;
}

/* Queue P + comps. */
int q_key(fetch *f, int kind, int aux, uint32_t idx, void *dst, const char *const *comps,
          size_t n)
{
    char key[TLSRPT_KEY_MAX + 1];
    int len = build_key(f->r, key, comps, n);

    if (len < 0) {
        fprintf(stderr, "tlsrpt-stats: warning: cannot build a key for %s:%s...\n",
                n > 0 ? comps[0] : "", n > 1 ? comps[1] : "");
        return 0;
    }
    return q_raw(f, kind, aux, idx, dst, key, (size_t)len);
}

/* Queue an index set. */
int q_set(fetch *f, int sk, uint32_t idx, void *dst, const char *const *comps, size_t n)
{
    return q_key(f, RQ_SET, sk, idx, dst, comps, n);
}

/* Printable preview of a bad value. */
static void preview(const char *v, size_t n, char *out, size_t outlen)
{
    size_t i, o = 0;

    for (i = 0; i < n && o + 4 < outlen && i < 40; i++)
        out[o++] = (v[i] >= 0x20 && v[i] < 0x7f) ? v[i] : '?';
    if (i < n && o + 4 < outlen)
        o += (size_t)snprintf(out + o, outlen - o, "...");
    out[o] = '\0';
}

/* A malformed counter: name it on stderr (the first TS_MAX_BAD) and remember it. */
static void bad_counter(fetch *f, size_t i, const char *v, size_t n)
{
    ts_report *r = f->r;
    size_t klen;
    const char *k = ts_mget_key(f->g, i, &klen);
    char pv[48];

    preview(v, n, pv, sizeof pv);
    if (r->nbad < TS_MAX_BAD) {
        ts_bad *b = &r->bad[r->nbad];
        snprintf(b->key, sizeof b->key, "%.*s", (int)klen, k);
        snprintf(b->value, sizeof b->value, "%s", pv);
        fprintf(stderr, "tlsrpt-stats: warning: malformed counter skipped: key '%s' holds "
                "\"%s\", not a number\n", b->key, pv);
    }
    r->nbad++;
}

/* Walk the members of one link value of a set; *count counts them across links. */
static void walk(fetch *f, int sk, uint32_t idx, void *dst, const char *v, size_t len,
                 const char *key, size_t *count)
{
    size_t max = sk == SK_DOMAINS ? TS_MAX_DOMAINS : TS_MAX_MEMBERS, i = 0, s;

    while (i < len) {
        while (i < len && v[i] == ' ')
            i++;
        for (s = i; i < len && v[i] != ' '; i++)
            ;
        if (i == s || v[s] == '+')          /* nothing, or a link token */
            continue;
        if (!ts_valid_member(v + s, i - s)) {
            if (f->bad_members++ == 0)
                snprintf(f->bad_member_key, sizeof f->bad_member_key, "%s", key);
            continue;
        }
        if ((*count)++ >= max) {
            if (f->capped++ == 0)
                snprintf(f->capped_key, sizeof f->capped_key, "%s (more than %zu members)",
                         key, max);
            return;
        }
        member(f, sk, idx, dst, v + s, i - s, key);
    }
}

/* A set value arrived: walk it now, or keep it until its links are read. */
static void got_set(fetch *f, size_t i, const req *q, const char *v, size_t n, int cut)
{
    size_t klen, count = 0;
    const char *k = ts_mget_key(f->g, i, &klen);
    char key[TLSRPT_KEY_MAX + 1];
    unsigned links;

    snprintf(key, sizeof key, "%.*s", (int)klen, k);
    if (cut) {
        fprintf(stderr, "tlsrpt-stats: warning: %s: index value cut to %u bytes\n", key,
                TS_MAX_VALUE);
        while (n > 0 && v[n - 1] != ' ')        /* do not keep half a member */
            n--;
    }
    links = tlsrpt_set_links(v, n);
    if (links == 0) {
        f->stamp++;
        walk(f, q->aux, q->idx, q->dst, v, n, key, &count);
        return;
    }
    chain *c = ts_xmalloc(sizeof *c);
    memset(c, 0, sizeof *c);
    c->sk = q->aux;
    c->idx = q->idx;
    c->dst = q->dst;
    snprintf(c->key, sizeof c->key, "%s", key);
    c->val = ts_xmalloc(n + 1);
    memcpy(c->val, v, n);
    c->len = n;
    c->n = links > TS_MAX_LINKS ? TS_MAX_LINKS : links;
    c->link = ts_xmalloc(c->n * sizeof *c->link);
    c->llen = ts_xmalloc(c->n * sizeof *c->llen);
    memset(c->link, 0, c->n * sizeof *c->link);
    if (f->nch == f->capch) {
        f->capch = f->capch ? f->capch * 2 : 16;
        f->ch = ts_xrealloc(f->ch, f->capch * sizeof *f->ch);
    }
    f->ch[f->nch++] = c;
}

/* mget callback: one hit. */
static void hit(void *arg, size_t i, const char *v, size_t n, int cut)
{
    fetch *f = arg;
    req *q = &f->v[i];
    int64_t x = 0;

    if (q->kind == RQ_SET) {
        got_set(f, i, q, v, n, cut);
        return;
    }
    if (q->kind == RQ_LINK) {
        chain *c = q->dst;
        if (cut)
            while (n > 0 && v[n - 1] != ' ')
                n--;
        c->link[q->idx - 1] = memcpy(ts_xmalloc(n + 1), v, n);
        c->llen[q->idx - 1] = n;
        return;
    }
    if (q->kind == RQ_FLAG) {
        *(unsigned char *)q->dst = 1;
        return;
    }
    if (q->kind == RQ_LABEL) {
        ts_entity *lab = q->dst;
        char raw[1024];
        snprintf(raw, sizeof raw, "%.*s", (int)(n < sizeof raw - 1 ? n : sizeof raw - 1), v);
        free(lab->display);
        lab->display = raw[0] ? ts_decode_name(raw) : NULL;
        return;
    }
    if (cut || tlsrpt_store_parse_count(v, n, &x) < 0) {
        bad_counter(f, i, v, n);
        return;
    }
    if (TS_IS_SAT(x))
        f->r->saturated = 1;
    if (q->kind == RQ_CNT) {
        int64_t *dst = q->dst;
        *dst = ts_add64(*dst, x);
    } else if (q->kind == RQ_LEAD) {   /* a lead day's fail: it had reports */
        ts_day *day = q->dst;
        day->fail = ts_add64(day->fail, x);
        day->reports = 1;
    } else if (q->kind == RQ_PTOK) {
        ts_day *day = q->dst;
        day->pt_ok[q->aux] = ts_add64(day->pt_ok[q->aux], x);
        day->pt_seen |= (unsigned char)(1u << q->aux);
    } else {
        ts_entity *ent = &((ts_set *)q->dst)->v[q->idx];
        if (q->aux == 0)
            ent->ok = ts_add64(ent->ok, x);
        else
            ent->fail = ts_add64(ent->fail, x);
    }
}

/* Send the batch and deliver its hits. */
static int run(fetch *f)
{
    int rc = ts_mget_run(f->g, hit, f, f->e);

    f->nv = 0;
    if (rc < 0)
        f->failed = 1;
    return rc;
}

/* Walk every chained set of this flush: link 0, then links 1..n; free them. */
static void walk_chains(fetch *f, chain **ch, size_t nch)
{
    for (size_t i = 0; i < nch; i++) {
        chain *c = ch[i];
        size_t count = 0;
        f->stamp++;
        walk(f, c->sk, c->idx, c->dst, c->val, c->len, c->key, &count);
        for (unsigned k = 0; k < c->n; k++) {
            if (c->link[k])
                walk(f, c->sk, c->idx, c->dst, c->link[k], c->llen[k], c->key, &count);
            free(c->link[k]);
        }
        free(c->val);
        free(c->link);
        free(c->llen);
        free(c);
    }
    free(ch);
}

/* Run the batch, then (one more round trip, only for chained sets) their links. */
int f_flush(fetch *f)
{
    char key[TLSRPT_KEY_MAX + 1];

    if (run(f) < 0)
        return -1;
    while (f->nch > 0) {                /* links hold members only: one more pass is all */
        chain **ch = f->ch;
        size_t nch = f->nch;
        f->ch = NULL;
        f->nch = f->capch = 0;
        for (size_t i = 0; i < nch && !f->failed; i++)
            for (unsigned k = 1; k <= ch[i]->n; k++) {
                int len = tlsrpt_set_link_key(key, sizeof key, f->r->prefix, ch[i]->key, k);
                if (len > 0 && ts_mget_pending(f->g) >= TS_MGET_CHUNK && run(f) < 0)
                    break;
                if (len > 0 && q_raw(f, RQ_LINK, 0, k, ch[i], key, (size_t)len) < 0)
                    break;
            }
        if (!f->failed)
            run(f);
        if (!f->failed)
            walk_chains(f, ch, nch);
        else {
            f->ch = ch, f->nch = f->capch = nch;    /* freed by f_free */
            return -1;
        }
    }
    return f->failed ? -1 : 0;
}

/* Free what a failed fetch left (chains waiting for links, the request array). */
void f_free(fetch *f)
{
    for (size_t i = 0; i < f->nch; i++) {
        for (unsigned k = 0; k < f->ch[i]->n; k++)
            free(f->ch[i]->link[k]);
        free(f->ch[i]->val);
        free(f->ch[i]->link);
        free(f->ch[i]->llen);
        free(f->ch[i]);
    }
    free(f->ch);
    free(f->v);
    f->ch = NULL;
    f->v = NULL;
    f->nch = f->nv = 0;
}
