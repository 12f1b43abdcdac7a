/*
 * pipe.c - raw connections to the memcached servers for bursts (burst.c):
 * one set of connections per concurrent caller (st_pipe), handed out and
 * taken back under a mutex like the pool's handles, opened lazily with a
 * non-blocking connect bounded by timeout_ms, TCP_NODELAY, and reopened
 * when found closed or readable while idle (server restarted).
 * Server addresses come from the libmemcached handle (same list, same
 * positions as its consistent hashing), "host:port" or a unix socket path.
 * Limits: one connection per server per concurrent call; all waits bounded.
 * Errors: -1 / short counts; the caller closes a connection after any error.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "store_int.h"

/* Milliseconds since an arbitrary epoch. */
long long st_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for ev on fd until the deadline; 1 ready, 0 timeout/error. */
static int wait_fd(int fd, short ev, long long deadline)
{
    for (;;) {
        long long left = deadline - st_now_ms();
        struct pollfd p = { fd, ev, 0 };
        if (left <= 0)
            return 0;
        int r = poll(&p, 1, (int)left);
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return 0;
    }
}

/* Non-blocking connect to one address within the deadline; fd or -1. */
static int connect_addr(const struct sockaddr *sa, socklen_t len, int family, long long deadline)
{
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), err = 0, one = 1;
    socklen_t el = sizeof err;
    if (fd < 0)
        return -1;
    if (connect(fd, sa, len) != 0 && (errno != EINPROGRESS || !wait_fd(fd, POLLOUT, deadline)
                                      || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err)) {
        close(fd);
        return -1;
    }
    if (family != AF_UNIX)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Open a connection to the server at position idx of mc; fd or -1. */
static int open_server(memcached_st *mc, uint32_t idx, int timeout_ms)
{
    const memcached_instance_st *in = memcached_server_instance_by_position(mc, idx);
    const char *host = in ? memcached_server_name(in) : NULL;
    long long deadline = st_now_ms() + timeout_ms;
    char port[16];
    struct addrinfo hints, *res = NULL;
    int fd = -1;
    if (!host)
        return -1;
    if (host[0] == '/') {
        struct sockaddr_un un = { .sun_family = AF_UNIX };
        if (strlen(host) >= sizeof un.sun_path)
            return -1;
        strcpy(un.sun_path, host);
        return connect_addr((struct sockaddr *)&un, sizeof un, AF_UNIX, deadline);
    }
    snprintf(port, sizeof port, "%u", (unsigned)memcached_server_port(in));
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -1;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next)
        fd = connect_addr(a->ai_addr, a->ai_addrlen, a->ai_family, deadline);
    freeaddrinfo(res);
    return fd;
}

/* Is an idle connection still usable (not closed by the peer, nothing unread)? */
static int idle_ok(int fd)
{
    struct pollfd p = { fd, POLLIN, 0 };
    return poll(&p, 1, 0) == 0;
}

/* Get a pipe for this call (reused or new). NULL on out of memory. */
st_pipe *st_pipe_take(tlsrpt_store *st, size_t nservers)
{
    st_pipe *p;
    pthread_mutex_lock(&st->pipe_mu);
    p = st->pipes;
    if (p)
        st->pipes = p->next;
    pthread_mutex_unlock(&st->pipe_mu);
    if (p && p->n == nservers)
        return p;
    st_pipe_free(p);
    p = calloc(1, sizeof *p);
    if (!p || !(p->fd = malloc(nservers * sizeof *p->fd))) {
        free(p);
        return NULL;
    }
    p->n = nservers;
    for (size_t i = 0; i < nservers; i++)
        p->fd[i] = -1;
    return p;
}

/* Hand a pipe back for the next call. */
void st_pipe_give(tlsrpt_store *st, st_pipe *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&st->pipe_mu);
    p->next = st->pipes;
    st->pipes = p;
    pthread_mutex_unlock(&st->pipe_mu);
}

/* Close and free one pipe (NULL is fine). */
void st_pipe_free(st_pipe *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        if (p->fd[i] >= 0)
            close(p->fd[i]);
    free(p->fd);
    free(p);
}

/* Write len bytes before the deadline; returns how many were written. */
size_t st_send_all(int fd, const unsigned char *b, size_t len, long long deadline)
{
    size_t off = 0;
    while (off < len) {
        ssize_t w = send(fd, b + off, len - off, MSG_NOSIGNAL);
        if (w > 0)
            off += (size_t)w;
        else if (w < 0 && errno == EINTR)
            continue;
        else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && wait_fd(fd, POLLOUT, deadline))
            continue;
        else
            break;
    }
    return off;
}

/* Receive what is there (at least 1 byte) before the deadline into b; 0 or -1. */
int st_recv_some(int fd, unsigned char *b, size_t cap, size_t *got, long long deadline)
{
    for (;;) {
        ssize_t r = recv(fd, b, cap, 0);
        if (r > 0) {
            *got = (size_t)r;
            return 0;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && wait_fd(fd, POLLIN, deadline))
            continue;
        return -1;
    }
}

/* Open (or keep) a healthy connection to server position s; fd or -1. */
int st_pipe_fd(st_call *c, st_pipe *pp, uint32_t s)
{
    if (s >= pp->n)
        return -1;
    if (pp->fd[s] >= 0 && !idle_ok(pp->fd[s]))
        st_pipe_drop(pp, s);
    if (pp->fd[s] < 0)
        pp->fd[s] = open_server(c->mc, s, c->st->timeout_ms);
    return pp->fd[s];
}

/* Close the connection to server position s (after an error). */
void st_pipe_drop(st_pipe *pp, uint32_t s)
{
    if (s < pp->n && pp->fd[s] >= 0) {
        close(pp->fd[s]);
        pp->fd[s] = -1;
    }
}

/* "host:port" (or socket path) of server position s, for messages. */
void st_server_label(memcached_st *mc, uint32_t s, char *buf, size_t n)
{
    const memcached_instance_st *in = memcached_server_instance_by_position(mc, s);
    if (!in)
        snprintf(buf, n, "server #%u", (unsigned)s);
    else if (memcached_server_name(in)[0] == '/')
        snprintf(buf, n, "%s", memcached_server_name(in));
    else
        snprintf(buf, n, "%s:%u", memcached_server_name(in), (unsigned)memcached_server_port(in));
}

/* Close every idle pipe of the store (at tlsrpt_store_free). */
void st_pipe_free_all(tlsrpt_store *st)
{
    while (st->pipes) {
        st_pipe *p = st->pipes;
        st->pipes = p->next;
        st_pipe_free(p);
    }
}
