/*
 * burst.c - pipelined binary-protocol requests: st_burst sends every
 * request of a batch to its server (libmemcached's consistent hashing on
 * the pooled handle decides, so keys land where every libmemcached reader
 * looks), all requests for one server in ONE write followed by a NOOP, then
 * reads every answer up to that NOOP. Quiet requests (INCREMENTQ, GETKQ)
 * answer only on error / on a hit; each request's index travels as the
 * "opaque" field, so an answer names its request. One round trip per
 * batch, over all servers at once - libmemcached itself flushes every
 * increment as its own packet (~10x a round trip for a report on a local
 * memcached).
 * Limits: an answer body over ST_MAX_BODY is a protocol error; all waits are
 * bounded by timeout_ms per batch; a connection that wrote nothing is
 * reopened once, never after part of a batch went out.
 * Errors: -1 with errbuf naming the server and what failed; *maybe says
 * whether some requests may have been executed anyway.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store_int.h"

#define HDR 24
#define OP_NOOP 0x0a
#define NOOP_OPAQUE 0xffffffffu
#define ST_MAX_BODY (2u << 20)

/* Store v big-endian in n bytes. */
static void put_be(unsigned char *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

/* Read a big-endian integer of n bytes. */
static uint32_t get_be(const unsigned char *p, int n)
{
    uint32_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Encode request r (key length kl, opaque = its index) into b; returns its size. */
static size_t put_req(unsigned char *b, const st_req *r, size_t kl, uint32_t opaque)
{
    size_t o = HDR;
    memset(b, 0, HDR);
    b[0] = 0x80;
    b[1] = r->opcode;
    put_be(b + 2, kl, 2);
    b[4] = r->extlen;
    put_be(b + 8, r->extlen + kl + r->vlen, 4);
    put_be(b + 12, opaque, 4);
    put_be(b + 16, r->cas, 8);
    memcpy(b + o, r->extras, r->extlen);
    o += r->extlen;
    memcpy(b + o, r->key, kl);
    o += kl;
    if (r->vlen)
        memcpy(b + o, r->val, r->vlen);
    return o + r->vlen;
}

/* All requests for server s, then a NOOP, in one buffer; NULL on out of memory. */
static unsigned char *build(const st_req *reqs, size_t n, const uint32_t *srv, const uint16_t *kl,
                            uint32_t s, size_t *len)
{
    size_t cap = HDR, o = 0;
    unsigned char *b;
    for (size_t i = 0; i < n; i++)
        if (srv[i] == s)
            cap += HDR + reqs[i].extlen + kl[i] + reqs[i].vlen;
    if (!(b = malloc(cap)))
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (srv[i] == s)
            o += put_req(b + o, &reqs[i], kl[i], (uint32_t)i);
    memset(b + o, 0, HDR);
    b[o] = 0x80;
    b[o + 1] = OP_NOOP;
    put_be(b + o + 12, NOOP_OPAQUE, 4);
    *len = o + HDR;
    return b;
}

/* Send one server its burst: 0 sent, -1 nothing sent (after one reconnect), -2 partly. */
static int send_one(st_call *c, st_pipe *pp, uint32_t s, const unsigned char *b, size_t len,
                    long long deadline)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = st_pipe_fd(c, pp, s);
        if (fd < 0)
            continue;
        size_t w = st_send_all(fd, b, len, deadline);
        if (w == len)
            return 0;
        st_pipe_drop(pp, s);
        if (w > 0)
            return -2;
    }
    return -1;
}

/* Buffered reading of one server's answers (few syscalls for many answers). */
typedef struct rbuf {
    int fd;
    size_t off, len;
    unsigned char b[16384];
} rbuf;

/* Copy n bytes of the answer stream into out before the deadline; 0 or -1. */
static int rb_read(rbuf *rb, unsigned char *out, size_t n, long long deadline)
{
    while (n > 0) {
        if (rb->off == rb->len) {
            rb->off = rb->len = 0;
            if (st_recv_some(rb->fd, rb->b, sizeof rb->b, &rb->len, deadline) < 0)
                return -1;
        }
        size_t take = rb->len - rb->off < n ? rb->len - rb->off : n;
        memcpy(out, rb->b + rb->off, take);
        rb->off += take;
        out += take;
        n -= take;
    }
    return 0;
}

/* Make n bytes (at most the buffer) contiguous at rb->b + rb->off; 0 or -1. */
static int rb_need(rbuf *rb, size_t n, long long deadline)
{
    if (rb->len - rb->off >= n)
        return 0;
    memmove(rb->b, rb->b + rb->off, rb->len - rb->off);
    rb->len -= rb->off;
    rb->off = 0;
    while (rb->len < n) {
        size_t got;
        if (st_recv_some(rb->fd, rb->b + rb->len, sizeof rb->b - rb->len, &got, deadline) < 0)
            return -1;
        rb->len += got;
    }
    return 0;
}

/* Read one server's answers up to the NOOP into cb; 0 or -1 (lost / protocol error).
   An answer that fits the buffer is handed over in place; a larger one is copied. */
static int read_one(int fd, size_t nreq, long long deadline, st_ans_cb cb, void *arg)
{
    static _Thread_local rbuf rb;   /* 16 KB: kept off small thread stacks */
    rb.fd = fd;
    rb.off = rb.len = 0;
    for (;;) {
        unsigned char h[HDR], *body;
        if (rb_need(&rb, HDR, deadline) < 0)
            return -1;
        memcpy(h, rb.b + rb.off, HDR);
        uint32_t blen = get_be(h + 8, 4), opaque = get_be(h + 12, 4);
        size_t klen = get_be(h + 2, 2), elen = h[4];
        int big = HDR + (size_t)blen > sizeof rb.b, bad = 0;
        if (h[0] != 0x81 || blen > ST_MAX_BODY || elen + klen > blen)
            return -1;
        if (!big) {
            if (rb_need(&rb, HDR + blen, deadline) < 0)
                return -1;
            body = rb.b + rb.off + HDR;
            rb.off += HDR + blen;
        } else {
            rb.off += HDR;
            if (!(body = malloc(blen + 1)))
                return -1;
            bad = rb_read(&rb, body, blen, deadline) < 0;
        }
        int done = !bad && h[1] == OP_NOOP && opaque == NOOP_OPAQUE;
        if (!bad && !done && opaque < nreq && cb) {
            st_ans a = { opaque, h[1], get_be(h + 6, 2), (const char *)body + elen, klen,
                         (const char *)body + elen + klen, blen - elen - klen,
                         (uint64_t)get_be(h + 16, 4) << 32 | get_be(h + 20, 4) };
            cb(arg, &a);
        }
        if (big)
            free(body);
        if (bad || done)
            return bad ? -1 : 0;
    }
}

/* Note the first failure of a burst in errbuf. */
static void burst_fail(st_call *c, int *failed, const char *what, uint32_t s, const char *why)
{
    char srv[300];
    if ((*failed)++)
        return;
    st_server_label(c->mc, s, srv, sizeof srv);
    snprintf(c->errbuf, c->errlen, "memcached %s failed on %s: %s", what, srv, why);
    snprintf(c->info->reason, sizeof c->info->reason, "store-unavailable");
}

/* Send one server its part; 1 sent, 0 nothing to send, -1 failed (noted). */
static int send_part(st_call *c, st_pipe *pp, const char *what, const st_req *reqs, size_t n,
                     const uint32_t *srv, const uint16_t *kl, uint32_t s, long long deadline,
                     st_burst_res *res, int *failed)
{
    size_t len, any = 0;
    for (size_t i = 0; i < n && !any; i++)
        any = srv[i] == s;
    if (!any)
        return 0;
    unsigned char *b = build(reqs, n, srv, kl, s, &len);
    int r = b ? send_one(c, pp, s, b, len, deadline) : -3;
    free(b);
    if (r == 0) {
        res->sent_any = 1;
        return 1;
    }
    burst_fail(c, failed, what, s, r == -1 ? "cannot connect (tried twice)"
                                 : r == -2 ? "connection lost while sending" : "out of memory");
    if (r == -2)
        res->maybe = res->sent_any = 1;
    return -1;
}

/* Send each server its part; sent[s] = 1 when all of it went out. Server `first` (or
   none: UINT32_MAX) goes first, and when it fails nothing is sent to the others. */
static void send_parts(st_call *c, st_pipe *pp, const char *what, const st_req *reqs, size_t n,
                       const uint32_t *srv, const uint16_t *kl, uint32_t first, char *sent,
                       int *failed, st_burst_res *res)
{
    long long deadline = st_now_ms() + c->st->timeout_ms;
    if (first < pp->n) {
        int r = send_part(c, pp, what, reqs, n, srv, kl, first, deadline, res, failed);
        if (r < 0)
            return;
        sent[first] = r == 1;
    }
    for (uint32_t s = 0; s < pp->n; s++)
        if (s != first)
            sent[s] = send_part(c, pp, what, reqs, n, srv, kl, s, deadline, res, failed) == 1;
}

/* One batch, one round trip over all servers; 0 or -1 with errbuf set. */
int st_burst_x(st_call *c, const char *what, const st_req *reqs, size_t n, st_ans_cb cb,
               void *arg, long first_req, st_burst_res *res)
{
    size_t nsrv = memcached_server_count(c->mc);
    st_pipe *pp = st_pipe_take(c->st, nsrv);
    uint32_t *srv = malloc((n ? n : 1) * (sizeof *srv + sizeof(uint16_t))), first = UINT32_MAX;
    uint16_t *kl = srv ? (uint16_t *)(srv + (n ? n : 1)) : NULL;
    char *sent = calloc(nsrv ? nsrv : 1, 1);
    int failed = 0;
    res->maybe = res->sent_any = 0;
    if (!pp || !srv || !sent) {
        burst_fail(c, &failed, what, 0, "out of memory");
    } else {
        for (size_t i = 0; i < n; i++) {     /* one server: no hashing needed */
            kl[i] = (uint16_t)strlen(reqs[i].key);
            srv[i] = reqs[i].direct ? reqs[i].srv : nsrv == 1 ? 0
                   : memcached_generate_hash(c->mc, reqs[i].key, kl[i]);
            srv[i] = srv[i] < nsrv ? srv[i] : 0;
        }
        if (first_req >= 0 && (size_t)first_req < n)
            first = srv[first_req];
        c->info->round_trips++;
        send_parts(c, pp, what, reqs, n, srv, kl, first, sent, &failed, res);
        long long deadline = st_now_ms() + c->st->timeout_ms;
        for (uint32_t s = 0; s < nsrv; s++)
            if (sent[s] && read_one(pp->fd[s], n, deadline, cb, arg) < 0) {
                st_pipe_drop(pp, s);
                res->maybe = 1;
                burst_fail(c, &failed, what, s, "no answer (connection lost or timed out)");
            }
    }
    st_pipe_give(c->st, pp);
    free(srv);
    free(sent);
    return failed ? -1 : 0;
}

/* st_burst_x with no server order; *maybe as st_burst_res.maybe. */
int st_burst(st_call *c, const char *what, const st_req *reqs, size_t n, st_ans_cb cb,
             void *arg, int *maybe)
{
    st_burst_res res;
    int rc = st_burst_x(c, what, reqs, n, cb, arg, -1, &res);
    *maybe = res.maybe;
    return rc;
}
