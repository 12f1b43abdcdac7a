/*
 * mget.c - pipelined multi-gets for tlsrpt-stats: a batch of up to TS_MGET_CHUNK
 * keys goes to the memcached servers in one round trip, as text-protocol
 * "get k1 k2 ..." lines (at most TS_MGET_LINE bytes each) written and read at
 * the same time on non-blocking sockets, so a batch of any size never fills
 * both sides' socket buffers and deadlocks.
 *
 * Why not libmemcached's memcached_mget: it sends one binary GETKQ request per
 * key; memcached spends about twice the CPU on that as on a text multi-get
 * (measured on 1.2 M keys: 2.4 s against 1.1 s) and libmemcached adds its own
 * per-key work, which together made 3,000 domains x 30 days take 4-6 s. Keys
 * still go where the store writes them: the server is chosen by libmemcached's
 * own consistent hashing (memcached_generate_hash on the store's memcached_st),
 * and the addresses come from the same handle (host:port or a UNIX socket).
 * Hits come back in request order per server, so a hit is matched to its
 * request by walking that server's keys forward (misses are skipped): no table.
 *
 * Limits: a value above TS_MAX_VALUE bytes is delivered cut to TS_MAX_VALUE
 * (the caller warns); every wait is bounded by the timeout (no progress for
 * timeout_ms fails the batch). Errors: -1 with ts_err TS_EXIT_UNREACHABLE naming
 * the server ("127.0.0.1:11211: connection closed"), never a partial batch.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <libmemcached/memcached.h>
#include "stats.h"

#define TS_MGET_LINE 16000      /* bytes per "get" line (memcached reads a get line of any
                                   length: its "large multiget" path past 2048 bytes) */
#define TS_MGET_CONNS 2         /* connections per server: memcached serves each connection
                                   on one worker thread, two let it use two cores */
#define RBUF_MIN (256 * 1024)

/* One server: its socket, what is queued for it and how far its answers are. */
typedef struct msrv {
    int fd;
    char name[300];             /* "host:port" or the socket path, for messages */
    uint32_t *q;                /* batch indexes of its keys, in request order */
    size_t nq, capq, next;      /* next: first request not yet answered or skipped */
    char *out;                  /* the "get" lines */
    size_t nout, capout, sent;
    size_t line_start;          /* where the current (unterminated) line starts */
    unsigned lines, ends;       /* "get" lines sent / END lines read */
    char *in;                   /* unparsed answer bytes [ipos, ilen) */
    size_t ipos, ilen, icap;
    size_t skip;                /* bytes still to drop: the rest of a value cut to TS_MAX_VALUE */
} msrv;

struct ts_mget {
    memcached_st *m;
    int timeout_ms;
    msrv *s;                    /* lanes: server i has lanes i * TS_MGET_CONNS ... */
    uint32_t ns, nserv;         /* lanes, servers */
    char *keys;                 /* key bytes of the batch, koff[i]..koff[i] + klen[i] */
    size_t nkeys_b, capkeys_b;
    size_t *koff;
    unsigned short *klen;
    size_t n, cap;              /* keys in the batch */
    unsigned round_trips;
    size_t keys_total;
};

/* Milliseconds since an arbitrary epoch. */
static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Grow *p (element size sz) to hold at least need elements. */
static void grow(void **p, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap)
        return;
    size_t c = *cap ? *cap : 1024;
    while (c < need)
        c *= 2;
    *p = ts_xrealloc(*p, c * sz);
    *cap = c;
}

/* Connect to one address with a deadline; fd or -1. */
static int connect_addr(const struct sockaddr *sa, socklen_t len, int family, int timeout_ms)
{
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), err = 0, one = 1;
    socklen_t el = sizeof err;
    struct pollfd p;

    if (fd < 0)
        return -1;
    if (connect(fd, sa, len) != 0) {
        p.fd = fd, p.events = POLLOUT, p.revents = 0;
        if (errno != EINPROGRESS || poll(&p, 1, timeout_ms) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err) {
            close(fd);
            return -1;
        }
    }
    if (family != AF_UNIX)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Open the connection of server i (as positioned in the memcached_st); 0 or -1. */
static int open_server(ts_mget *g, uint32_t i, ts_err *e)
{
    const memcached_instance_st *in =
        memcached_server_instance_by_position(g->m, i / TS_MGET_CONNS);
    const char *host = in ? memcached_server_name(in) : NULL;
    struct addrinfo hints, *res = NULL;
    char port[16];
    msrv *s = &g->s[i];

    s->fd = -1;
    if (!host) {
        ts_seterr(e, TS_EXIT_UNREACHABLE, "memcached: no server at position %u", i);
        return -1;
    }
    if (host[0] == '/') {
        struct sockaddr_un un = { .sun_family = AF_UNIX };
        snprintf(s->name, sizeof s->name, "%s", host);
        if (strlen(host) < sizeof un.sun_path) {
            strcpy(un.sun_path, host);
            s->fd = connect_addr((struct sockaddr *)&un, sizeof un, AF_UNIX, g->timeout_ms);
        }
    } else {
        snprintf(port, sizeof port, "%u", (unsigned)memcached_server_port(in));
        snprintf(s->name, sizeof s->name, "%s:%s", host, port);
        memset(&hints, 0, sizeof hints);
        hints.ai_socktype = SOCK_STREAM;
        if (getaddrinfo(host, port, &hints, &res) == 0) {
            for (struct addrinfo *a = res; a && s->fd < 0; a = a->ai_next)
                s->fd = connect_addr(a->ai_addr, a->ai_addrlen, a->ai_family, g->timeout_ms);
            freeaddrinfo(res);
        }
    }
    if (s->fd < 0) {
        ts_seterr(e, TS_EXIT_UNREACHABLE, "memcached unreachable: cannot connect to %s", s->name);
        return -1;
    }
    return 0;
}

/* A reader over the servers of m (connected now). NULL with e filled. */
ts_mget *ts_mget_new(void *memc, int timeout_ms, ts_err *e)
{
    ts_mget *g = ts_xmalloc(sizeof *g);
    uint32_t i;

    memset(g, 0, sizeof *g);
    g->m = memc;
    g->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
    g->nserv = memcached_server_count(g->m);
    g->ns = g->nserv * TS_MGET_CONNS;
    g->s = ts_xmalloc((g->ns ? g->ns : 1) * sizeof *g->s);
    memset(g->s, 0, (g->ns ? g->ns : 1) * sizeof *g->s);
    for (i = 0; i < g->ns; i++)
        g->s[i].fd = -1;
    for (i = 0; i < g->ns; i++)
        if (open_server(g, i, e) < 0) {
            ts_mget_free(g);
            return NULL;
        }
    if (g->ns == 0) {
        ts_seterr(e, TS_EXIT_UNREACHABLE, "memcached: no servers");
        ts_mget_free(g);
        return NULL;
    }
    return g;
}

/* Close every connection and free the reader. */
void ts_mget_free(ts_mget *g)
{
    if (!g)
        return;
    for (uint32_t i = 0; i < g->ns; i++) {
        if (g->s[i].fd >= 0)
            close(g->s[i].fd);
        free(g->s[i].q);
        free(g->s[i].out);
        free(g->s[i].in);
    }
    free(g->s);
    free(g->keys);
    free(g->koff);
    free(g->klen);
    free(g);
}

/* Key of batch index i (valid until the batch ends: also inside the hit callback). */
const char *ts_mget_key(const ts_mget *g, size_t i, size_t *len)
{
    *len = g->klen[i];
    return g->keys + g->koff[i];
}

/* Keys waiting in the batch. */
size_t ts_mget_pending(const ts_mget *g)
{
    return g->n;
}

/* Round trips and keys so far (for -v). */
void ts_mget_counts(const ts_mget *g, unsigned *round_trips, size_t *keys)
{
    *round_trips = g->round_trips;
    *keys = g->keys_total;
}

/* Append bytes to a server's output. */
static void out_add(msrv *s, const char *p, size_t n)
{
    grow((void **)&s->out, &s->capout, s->nout + n, 1);
    memcpy(s->out + s->nout, p, n);
    s->nout += n;
}

/* Queue one key (at most TLSRPT_KEY_MAX bytes, no blanks); returns its batch index. */
size_t ts_mget_add(ts_mget *g, const char *key, size_t klen)
{
    uint32_t sv = g->nserv == 1 ? 0 : memcached_generate_hash(g->m, key, klen) % g->nserv;
    size_t i = g->n;
    msrv *s = &g->s[sv * TS_MGET_CONNS + (uint32_t)(i % TS_MGET_CONNS)];

    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 4096;
        g->koff = ts_xrealloc(g->koff, g->cap * sizeof *g->koff);
        g->klen = ts_xrealloc(g->klen, g->cap * sizeof *g->klen);
    }
    grow((void **)&g->keys, &g->capkeys_b, g->nkeys_b + klen, 1);
    memcpy(g->keys + g->nkeys_b, key, klen);
    g->koff[i] = g->nkeys_b;
    g->klen[i] = (unsigned short)klen;
    g->nkeys_b += klen;
    g->n++;
    grow((void **)&s->q, &s->capq, s->nq + 1, sizeof *s->q);
    s->q[s->nq++] = (uint32_t)i;
    if (s->nout > s->line_start && s->nout - s->line_start + klen + 3 > TS_MGET_LINE) {
        out_add(s, "\r\n", 2);
        s->lines++;
    }
    if (s->nout == 0 || s->out[s->nout - 1] == '\n') {
        s->line_start = s->nout;
        out_add(s, "get", 3);
    }
    out_add(s, " ", 1);
    out_add(s, key, klen);
    return i;
}

/* A server's answer is broken: fail the batch naming the server. */
static int proto_err(msrv *s, const char *what, const char *line, size_t n, ts_err *e)
{
    char pv[80];
    size_t i;

    for (i = 0; i < n && i + 1 < sizeof pv; i++)
        pv[i] = (line[i] >= 0x20 && line[i] < 0x7f) ? line[i] : '?';
    pv[i] = '\0';
    ts_seterr(e, TS_EXIT_UNREACHABLE, "memcached %s: %s: \"%s\"", s->name, what, pv);
    return -1;
}

/* Match a hit's key to the server's next requests (misses skipped); batch index or -1. */
static long match(ts_mget *g, msrv *s, const char *k, size_t n)
{
    while (s->next < s->nq) {
        uint32_t i = s->q[s->next++];
        if (g->klen[i] == n && memcmp(g->keys + g->koff[i], k, n) == 0)
            return (long)i;
    }
    return -1;
}

/* Parse what a server sent so far; deliver complete hits. 0, or -1 with e. */
static int parse(ts_mget *g, msrv *s, ts_mget_fn *fn, void *arg, ts_err *e)
{
    for (;;) {
        size_t avail = s->ilen - s->ipos;
        if (s->skip) {                          /* the tail of a value cut short */
            size_t k = s->skip < avail ? s->skip : avail;
            s->skip -= k;
            s->ipos += k;
            if (s->skip)
                return 0;
            avail -= k;
        }
        char *p = s->in + s->ipos, *nl;
        if (avail == 0 || !(nl = memchr(p, '\n', avail)))
            return 0;
        size_t ll = (size_t)(nl - p) + 1;
        if (ll == 5 && memcmp(p, "END\r\n", 5) == 0) {
            s->ends++;
            s->ipos += ll;
            continue;
        }
        if (ll < 8 || memcmp(p, "VALUE ", 6) != 0)
            return proto_err(s, "unexpected answer", p, ll - 1, e);
        char *k = p + 6, *sp = memchr(k, ' ', ll - 6);
        char *sp2 = sp ? memchr(sp + 1, ' ', (size_t)(nl - sp - 1)) : NULL;
        if (!sp2)
            return proto_err(s, "bad VALUE line", p, ll - 1, e);
        unsigned long long vlen = strtoull(sp2 + 1, NULL, 10);
        size_t take = vlen > TS_MAX_VALUE ? TS_MAX_VALUE : (size_t)vlen;
        size_t need = ll + take + (take == vlen ? 2 : 0);
        if (avail < need) {                     /* the value is not all here yet */
            if (s->ipos > 0 && need > s->icap - s->ipos) {
                memmove(s->in, s->in + s->ipos, avail);
                s->ilen = avail;
                s->ipos = 0;
            }
            grow((void **)&s->in, &s->icap, need, 1);
            return 0;
        }
        long idx = match(g, s, k, (size_t)(sp - k));
        if (idx >= 0)
            fn(arg, (size_t)idx, nl + 1, take, take != vlen);
        s->ipos += need;
        if (take != vlen)
            s->skip = (size_t)(vlen - take) + 2;
    }
}

/* Read what a server has; -1 on error or a closed connection. */
static int read_some(ts_mget *g, msrv *s, ts_mget_fn *fn, void *arg, ts_err *e)
{
    if (s->ipos == s->ilen)
        s->ipos = s->ilen = 0;
    else if (s->icap - s->ilen < RBUF_MIN / 4) {
        memmove(s->in, s->in + s->ipos, s->ilen - s->ipos);
        s->ilen -= s->ipos;
        s->ipos = 0;
    }
    grow((void **)&s->in, &s->icap, s->ilen + RBUF_MIN / 4, 1);
    ssize_t r = read(s->fd, s->in + s->ilen, s->icap - s->ilen);
    if (r == 0) {
        ts_seterr(e, TS_EXIT_UNREACHABLE, "memcached %s: connection closed", s->name);
        return -1;
    }
    if (r < 0)
        return errno == EAGAIN || errno == EINTR ? 0
               : (ts_seterr(e, TS_EXIT_UNREACHABLE, "memcached %s: read: %s", s->name,
                            strerror(errno)), -1);
    s->ilen += (size_t)r;
    return parse(g, s, fn, arg, e);
}

/* Write what a server still has to get; -1 on error. */
static int write_some(msrv *s, ts_err *e)
{
    ssize_t w = send(s->fd, s->out + s->sent, s->nout - s->sent, MSG_NOSIGNAL);

    if (w < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return 0;
        ts_seterr(e, TS_EXIT_UNREACHABLE, "memcached %s: write: %s", s->name, strerror(errno));
        return -1;
    }
    s->sent += (size_t)w;
    return 0;
}

/* Reset every server's per-batch state. */
static void batch_reset(ts_mget *g)
{
    for (uint32_t i = 0; i < g->ns; i++) {
        msrv *s = &g->s[i];
        s->nq = s->next = s->nout = s->sent = s->line_start = 0;
        s->lines = s->ends = 0;
        s->skip = 0;
    }
    g->n = 0;
    g->nkeys_b = 0;
}

/* Poll the servers until every line is sent and answered. 0 or -1. */
static int exchange(ts_mget *g, ts_mget_fn *fn, void *arg, ts_err *e)
{
    struct pollfd *pf = ts_xmalloc(g->ns * sizeof *pf);
    long long last = now_ms();
    int rc = 0;

    for (;;) {
        uint32_t np = 0, i;
        for (i = 0; i < g->ns; i++) {
            msrv *s = &g->s[i];
            if (s->ends >= s->lines && s->sent == s->nout)
                continue;
            pf[np].fd = s->fd;
            pf[np].events = (short)(POLLIN | (s->sent < s->nout ? POLLOUT : 0));
            pf[np].revents = 0;
            np++;
        }
        if (np == 0)
            break;
        int pr = poll(pf, np, 200);
        if (pr < 0 && errno != EINTR) {
            ts_seterr(e, TS_EXIT_UNREACHABLE, "memcached: poll: %s", strerror(errno));
            rc = -1;
            break;
        }
        if (pr <= 0) {
            if (now_ms() - last > g->timeout_ms) {
                ts_seterr(e, TS_EXIT_UNREACHABLE, "memcached: no answer for %d ms",
                          g->timeout_ms);
                rc = -1;
                break;
            }
            continue;
        }
        last = now_ms();
        for (uint32_t k = 0; k < np && rc == 0; k++) {
            msrv *s = NULL;
            for (i = 0; i < g->ns && !s; i++)
                if (g->s[i].fd == pf[k].fd)
                    s = &g->s[i];
            if ((pf[k].revents & POLLOUT) && write_some(s, e) < 0)
                rc = -1;
            else if ((pf[k].revents & (POLLIN | POLLHUP | POLLERR)) && read_some(g, s, fn, arg, e) < 0)
                rc = -1;
        }
        if (rc < 0)
            break;
    }
    free(pf);
    return rc;
}

/* Send the batch, call fn for every hit (misses are not reported), empty the batch. */
int ts_mget_run(ts_mget *g, ts_mget_fn *fn, void *arg, ts_err *e)
{
    int rc;

    if (g->n == 0)
        return 0;
    for (uint32_t i = 0; i < g->ns; i++) {
        msrv *s = &g->s[i];
        if (s->nout > 0 && s->out[s->nout - 1] != '\n') {
            out_add(s, "\r\n", 2);
            s->lines++;
        }
    }
    g->round_trips++;
    g->keys_total += g->n;
    rc = exchange(g, fn, arg, e);
    batch_reset(g);
    return rc;
}
