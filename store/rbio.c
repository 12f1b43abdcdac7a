/*
 * rbio.c - the rebuild's memcached I/O (rebuild.c): owned string lists,
 * batches of requests sent in bursts of RB_BURST (values of gets collected),
 * whole index sets read in two bursts (link 0s, then every link), and a set
 * queued as a fresh chain or deleted with its links.
 * Errors: -1 (errbuf of the call set for memcached errors).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "rbio.h"


/* Append a copy of s; -1 on out of memory. */
int rl_add(rb_list *l, const char *s)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? 2 * l->cap : 64;
        char **nv = realloc(l->v, nc * sizeof *nv);
        if (!nv)
            return -1;
        l->v = nv;
        l->cap = nc;
    }
    return (l->v[l->n] = strdup(s)) ? (int)(l->n++ * 0) : -1;
}

/* Free a list. */
void rl_free(rb_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}


/* Queue one request; key must outlive the batch, val is copied. -1 on out of memory. */
int rb_push(rb_batch *b, unsigned char op, const char *key, const char *val, size_t vlen,
                   time_t exp, int extras)
{
    if (b->n == b->cap) {
        size_t nc = b->cap ? 2 * b->cap : 256;
        st_req *nr = realloc(b->r, nc * sizeof *nr);
        char **no = nr ? realloc(b->own, nc * sizeof *no) : NULL;
        if (nr)
            b->r = nr;
        if (!no)
            return -1;
        b->own = no;
        b->cap = nc;
    }
    char *v = val ? malloc(vlen + 1) : NULL;
    if (val && !v)
        return -1;
    if (v) {
        memcpy(v, val, vlen);
        v[vlen] = 0;
    }
    b->r[b->n] = (st_req){ .opcode = op, .key = key, .val = v, .vlen = vlen, .extlen = (unsigned char)extras };
    if (extras == 8)
        st_put_exp(b->r[b->n].extras + 4, exp);
    b->own[b->n++] = v;
    return 0;
}

/* Empty a batch (values freed). */
void rb_clear(rb_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->own[i]);
    b->n = 0;
}

/* Answers of a batch: the first error, and per request a value (reads). */
typedef struct rb_ans {
    size_t base;                /* index of the first request of this burst */
    char **val;                 /* per request: the value read, or NULL */
    size_t nval;
    unsigned ignore;            /* a status to ignore (NOT_FOUND of a delete / EXISTS of an add) */
    size_t ignored;
    ix_err err;
} rb_ans;

/* Burst callback of a batch. */
static void on_rb(void *arg, const st_ans *a)
{
    rb_ans *x = arg;
    size_t i = x->base + a->req;
    if (a->status == 0 && x->val && i < x->nval) {
        free(x->val[i]);
        x->val[i] = strndup(a->val, a->vlen);
    } else if (a->status != 0 && a->status == x->ignore) {
        x->ignored++;
    } else if (a->status != 0 && a->status != ST_ST_NOT_FOUND) {
        st_ix_note(&x->err, a);
    }
}

/* Send a batch in bursts of RB_BURST; vals (b->n entries, may be NULL) get the values of
   gets. 0 or -1 with errbuf. */
int rb_send(st_call *c, rb_batch *b, char **vals, unsigned ignore, size_t *ignored)
{
    rb_ans x = { 0, vals, vals ? b->n : 0, ignore, 0, { 0, 0, 0, "" } };
    int maybe;
    for (size_t i = 0; i < b->n; i += RB_BURST) {
        size_t n = b->n - i < RB_BURST ? b->n - i : RB_BURST;
        x.base = i;
        if (st_burst(c, "rebuild", b->r + i, n, on_rb, &x, &maybe) != 0)
            return -1;
        if (x.err.failed)
            return st_ix_fail(c, "rebuild", b->r[i + x.err.req].key, &x.err, n) ? -1 : -1;
    }
    if (ignored)
        *ignored += x.ignored;
    return 0;
}

/* Read whole sets keys[0..n): link 0s in one batch, then every link in one more; ms[i]
   gets the members, links[i] the highest token. 0 or -1. */
int read_sets(st_call *c, char *const *keys, size_t n, tlsrpt_members *ms, unsigned *links)
{
    rb_batch b = { 0 };
    rb_list lk = { 0 };
    size_t *owner = NULL;
    char **v = calloc(n ? n : 1, sizeof *v), **lv = NULL;
    int rc = v ? 0 : -1;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = rb_push(&b, ST_OP_GETKQ, keys[i], NULL, 0, 0, 0);
    if (rc == 0)
        rc = rb_send(c, &b, v, 0, NULL);
    for (size_t i = 0; i < n && rc == 0; i++) {
        links[i] = v[i] ? tlsrpt_set_links(v[i], strlen(v[i])) : 0;
        if (v[i])
            tlsrpt_set_each(v[i], strlen(v[i]), st_members_add, &ms[i]);
        for (unsigned k = 1; k <= links[i] && rc == 0; k++) {
            char key[TLSRPT_KEY_MAX + 1];
            size_t *no = realloc(owner, (lk.n + 1) * sizeof *no);
            if (!no) {
                rc = -1;
                break;
            }
            owner = no;
            owner[lk.n] = i;
            rc = tlsrpt_set_link_key(key, sizeof key, c->st->prefix, keys[i], k) > 0 ? rl_add(&lk, key) : -1;
        }
    }
    rb_clear(&b);
    for (size_t i = 0; i < lk.n && rc == 0; i++)
        rc = rb_push(&b, ST_OP_GETKQ, lk.v[i], NULL, 0, 0, 0);
    if (rc == 0 && lk.n && (lv = calloc(lk.n, sizeof *lv)))
        rc = rb_send(c, &b, lv, 0, NULL);
    for (size_t i = 0; lv && i < lk.n; i++) {
        if (lv[i])
            tlsrpt_set_each(lv[i], strlen(lv[i]), st_members_add, &ms[owner[i]]);
        free(lv[i]);
    }
    for (size_t i = 0; i < n; i++)
        free(v ? v[i] : NULL);
    rb_clear(&b);
    free(b.r), free(b.own), free(v), free(lv), free(owner);
    rl_free(&lk);
    return rc;
}

/* Fill buf with the members of ms from *i on, up to ST_LINK_SOFT bytes (at least one). */
static size_t chunk(const tlsrpt_members *ms, size_t *i, char *buf)
{
    size_t len = 0;
    for (; *i < ms->n && (len == 0 || len + strlen(ms->v[*i]) + 1 <= ST_LINK_SOFT); (*i)++)
        len += (size_t)sprintf(buf + len, "%s%s", len ? " " : "", ms->v[*i]);
    return len;
}

/* Queue set key as a fresh chain of ms: links 1.. (within ST_LINK_SOFT each), then link 0
   with the first members and the tokens, then deletes of the old chain's further links. */
int push_chain(st_call *c, rb_batch *b, rb_list *own, const char *key, const tlsrpt_members *ms,
               unsigned old_links)
{
    uint32_t exp = (uint32_t)st_expiry(c->st->counter_ttl);
    char *buf = malloc(ST_LINK_SOFT + 300), lk[TLSRPT_KEY_MAX + 1];
    size_t i = 0;
    unsigned links = 0;
    if (!buf)
        return -1;
    size_t l0len = chunk(ms, &i, buf);
    char *l0 = malloc(l0len + 16 * (ms->n + 1) + 1);
    int rc = l0 ? 0 : -1;
    if (l0)
        memcpy(l0, buf, l0len);
    while (rc == 0 && i < ms->n) {
        size_t len = chunk(ms, &i, buf);
        rc = tlsrpt_set_link_key(lk, sizeof lk, c->st->prefix, key, ++links) < 0 || rl_add(own, lk) < 0
             ? -1 : rb_push(b, ST_OP_SETQ, own->v[own->n - 1], buf, len, exp, 8);
    }
    for (unsigned k = 1; rc == 0 && k <= links; k++)
        l0len += (size_t)sprintf(l0 + l0len, " +%u", k);
    if (rc == 0)
        rc = rb_push(b, ST_OP_SETQ, key, l0, l0len, exp, 8);
    for (unsigned k = links + 1; rc == 0 && k <= old_links; k++)
        rc = tlsrpt_set_link_key(lk, sizeof lk, c->st->prefix, key, k) < 0 || rl_add(own, lk) < 0
             ? -1 : rb_push(b, ST_OP_DELETEQ, own->v[own->n - 1], NULL, 0, 0, 0);
    free(buf);
    free(l0);
    return rc;
}

/* Queue the delete of set key's whole chain (links 0..old_links). */
int push_unset(st_call *c, rb_batch *b, rb_list *own, const char *key, unsigned old_links)
{
    char lk[TLSRPT_KEY_MAX + 1];
    int rc = rb_push(b, ST_OP_DELETEQ, key, NULL, 0, 0, 0);
    for (unsigned k = 1; rc == 0 && k <= old_links; k++)
        rc = tlsrpt_set_link_key(lk, sizeof lk, c->st->prefix, key, k) < 0 || rl_add(own, lk) < 0
             ? -1 : rb_push(b, ST_OP_DELETEQ, own->v[own->n - 1], NULL, 0, 0, 0);
    return rc;
}

