/*
 * mproto.c - milter packet I/O for the test driver: socket connect with a
 * timeout, length-prefixed packets, option negotiation.
 *
 * Limits: replies over MP_MAX_PACKET bytes are refused; every socket wait is
 * bounded by the connection's timeout_ms. Errors: -1 with c->err filled
 * (timeouts say "timeout", a closed peer says "connection closed").
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "mproto.h"

/* Wait until fd is readable (ev=POLLIN) or writable (POLLOUT) or time runs out. */
static int wait_fd(mp_conn *c, short ev)
{
    struct pollfd p = { .fd = c->fd, .events = ev, .revents = 0 };
    int r;

    do
        r = poll(&p, 1, c->timeout_ms);
    while (r < 0 && errno == EINTR);
    if (r == 0) {
        snprintf(c->err, sizeof(c->err), "timeout after %d ms", c->timeout_ms);
        return -1;
    }
    if (r < 0) {
        snprintf(c->err, sizeof(c->err), "poll: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* Write all of buf, waiting for the socket with the timeout. */
static int write_all(mp_conn *c, const unsigned char *buf, size_t len)
{
    while (len > 0) {
        if (wait_fd(c, POLLOUT) < 0)
            return -1;
        ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0) {
            snprintf(c->err, sizeof(c->err), "write: %s", strerror(errno));
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Read exactly len bytes, waiting with the timeout. */
static int read_all(mp_conn *c, unsigned char *buf, size_t len)
{
    while (len > 0) {
        if (wait_fd(c, POLLIN) < 0)
            return -1;
        ssize_t n = read(c->fd, buf, len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n == 0) {
            snprintf(c->err, sizeof(c->err), "connection closed by the filter");
            return -1;
        }
        if (n < 0) {
            snprintf(c->err, sizeof(c->err), "read: %s", strerror(errno));
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Non-blocking connect to one address, bounded by the timeout. */
static int connect_addr(mp_conn *c, int family, const struct sockaddr *sa, socklen_t salen)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(c->err, sizeof(c->err), "socket: %s", strerror(errno));
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    c->fd = fd;
    if (connect(fd, sa, salen) < 0) {
        if (errno != EINPROGRESS) {
            snprintf(c->err, sizeof(c->err), "connect: %s", strerror(errno));
            goto fail;
        }
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (wait_fd(c, POLLOUT) < 0)
            goto fail;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr != 0) {
            snprintf(c->err, sizeof(c->err), "connect: %s", strerror(soerr ? soerr : errno));
            goto fail;
        }
    }
    return 0;
fail:
    close(fd);
    c->fd = -1;
    return -1;
}

/* Connect to "inet:port@host" (host name or address). */
static int connect_inet(mp_conn *c, const char *spec)
{
    char port[32], host[256];
    const char *at = strchr(spec, '@');
    struct addrinfo hints, *res = NULL, *ai;
    int rc = -1;

    if (!at || (size_t)(at - spec) >= sizeof(port) || strlen(at + 1) >= sizeof(host)
        || at == spec || at[1] == '\0') {
        snprintf(c->err, sizeof(c->err), "bad inet socket spec (want inet:port@host)");
        return -1;
    }
    memcpy(port, spec, (size_t)(at - spec));
    port[at - spec] = '\0';
    snprintf(host, sizeof(host), "%s", at + 1);
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0 || !res) {
        snprintf(c->err, sizeof(c->err), "cannot resolve %.100s port %.20s", host, port);
        return -1;
    }
    for (ai = res; ai; ai = ai->ai_next)
        if ((rc = connect_addr(c, ai->ai_family, ai->ai_addr, ai->ai_addrlen)) == 0)
            break;
    freeaddrinfo(res);
    return rc;
}

int mp_connect(mp_conn *c, const char *spec, int timeout_ms)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
    if (strncmp(spec, "inet:", 5) == 0)
        return connect_inet(c, spec + 5);
    if (strncmp(spec, "unix:", 5) == 0 || strncmp(spec, "local:", 6) == 0 || spec[0] == '/') {
        struct sockaddr_un sun;
        const char *path = spec[0] == '/' ? spec : strchr(spec, ':') + 1;
        memset(&sun, 0, sizeof(sun));
        sun.sun_family = AF_UNIX;
        if (strlen(path) >= sizeof(sun.sun_path)) {
            snprintf(c->err, sizeof(c->err), "unix socket path too long");
            return -1;
        }
        memcpy(sun.sun_path, path, strlen(path) + 1);
        return connect_addr(c, AF_UNIX, (struct sockaddr *)&sun, sizeof(sun));
    }
    snprintf(c->err, sizeof(c->err), "unknown socket spec %.100s (want unix:/path or inet:port@host)", spec);
    return -1;
}

void mp_close(mp_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->rbuf);
    c->rbuf = NULL;
    c->rcap = 0;
}

int mp_send(mp_conn *c, int cmd, const void *data, size_t len)
{
    unsigned char hdr[5];
    uint32_t n = (uint32_t)len + 1;

    if (len > MP_MAX_PACKET) {
        snprintf(c->err, sizeof(c->err), "packet too large to send");
        return -1;
    }
    hdr[0] = (unsigned char)(n >> 24);
    hdr[1] = (unsigned char)(n >> 16);
    hdr[2] = (unsigned char)(n >> 8);
    hdr[3] = (unsigned char)n;
    hdr[4] = (unsigned char)cmd;
    if (write_all(c, hdr, sizeof(hdr)) < 0)
        return -1;
    return len ? write_all(c, data, len) : 0;
}

int mp_recv(mp_conn *c, int *cmd, size_t *len)
{
    unsigned char hdr[5];
    uint32_t n;

    if (read_all(c, hdr, sizeof(hdr)) < 0)
        return -1;
    n = ((uint32_t)hdr[0] << 24) | ((uint32_t)hdr[1] << 16) | ((uint32_t)hdr[2] << 8) | hdr[3];
    if (n == 0 || n > MP_MAX_PACKET) {
        snprintf(c->err, sizeof(c->err), "bad reply length %u", (unsigned)n);
        return -1;
    }
    *cmd = hdr[4];
    *len = n - 1;
    if (c->rcap < n) {
        unsigned char *p = realloc(c->rbuf, n);
        if (!p) {
            snprintf(c->err, sizeof(c->err), "out of memory");
            return -1;
        }
        c->rbuf = p;
        c->rcap = n;
    }
    if (*len && read_all(c, c->rbuf, *len) < 0)
        return -1;
    c->rbuf[*len] = '\0';
    return 0;
}

/* Read a big-endian 32-bit value. */
static uint32_t get_u32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

int mp_optneg(mp_conn *c, int no_leadspc)
{
    uint32_t offer = no_leadspc ? SMFIP_ALL & ~SMFIP_HDR_LEADSPC : SMFIP_ALL;
    mp_buf b = { 0 };
    int cmd, rc;
    size_t len;

    mp_buf_u32(&b, SMFI_VERSION_MTA);
    mp_buf_u32(&b, SMFIF_ALL);
    mp_buf_u32(&b, offer);
    rc = mp_send(c, SMFIC_OPTNEG, b.p, b.len);
    mp_buf_free(&b);
    if (rc < 0 || mp_recv(c, &cmd, &len) < 0)
        return -1;
    if (cmd != SMFIC_OPTNEG || len < 12) {
        snprintf(c->err, sizeof(c->err), "bad OPTNEG reply '%c' (%zu bytes)", cmd, len);
        return -1;
    }
    c->version = get_u32(c->rbuf);
    c->actions = get_u32(c->rbuf + 4);
    c->prot = get_u32(c->rbuf + 8);
    if (c->version < 2 || c->version > SMFI_VERSION_MTA) {
        snprintf(c->err, sizeof(c->err), "filter speaks unsupported version %u", (unsigned)c->version);
        return -1;
    }
    if ((c->prot & ~offer) || (c->actions & ~SMFIF_ALL)) {
        snprintf(c->err, sizeof(c->err), "filter asked for flags not offered (act %#x prot %#x)",
                 (unsigned)c->actions, (unsigned)c->prot);
        return -1;
    }
    return 0;
}

void mp_buf_add(mp_buf *b, const void *data, size_t len)
{
    if (b->oom)
        return;
    if (len > MP_MAX_PACKET - b->len) {
        b->oom = 1;
        return;
    }
    if (b->len + len > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap < b->len + len)
            ncap *= 2;
        unsigned char *p = realloc(b->p, ncap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
}

void mp_buf_str(mp_buf *b, const char *s)
{
    mp_buf_add(b, s, strlen(s) + 1);
}

void mp_buf_u32(mp_buf *b, uint32_t v)
{
    unsigned char x[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
                           (unsigned char)(v >> 8), (unsigned char)v };
    mp_buf_add(b, x, 4);
}

void mp_buf_free(mp_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}
