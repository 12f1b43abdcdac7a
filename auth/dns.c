/*
 * dns.c - the DNS TXT query for DKIM keys, with a hard deadline.
 *
 * Why not libopendkim's resolver: it keeps one unlocked res state per
 * library handle and libmilter calls us from many threads; and res_nquery's
 * timeout (retrans << try, per server) cannot promise "never past
 * DkimTimeout". This client sends one query (random id, RD, EDNS0 with a
 * 1232-byte UDP size) over a connected UDP socket per server, resends to the
 * next server when a slice of the remaining time passes without an answer,
 * listens on every socket it opened, and gives up at the deadline. A reply
 * must carry our id and our question; a truncated one is asked again over
 * TCP (same deadline). Servers: the conf's list, else /etc/resolv.conf's
 * nameserver lines (as glibc, at most AUTH_MAX_NS), else 127.0.0.1.
 * Uses only dn_skipname from the resolver (in libc since glibc 2.34).
 * Results: 0 record found (TXT strings joined, the first one that starts
 * "v=DKIM1", else the first), 1 NXDOMAIN or no TXT, -1 deadline passed,
 * -2 an error (rcode, refused, corrupt reply), with why.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include "auth_int.h"

#define DNS_UDP_SIZE 1232
#define DNS_QMAX 300

/* Monotonic milliseconds. */
int64_t auth_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One server "IP", "IP:port", "[IPv6]:port" or "IPv6" into ns; 0 or -1. */
static int ns_parse_one(const char *tok, struct auth_ns *ns)
{
    char host[INET6_ADDRSTRLEN + 2];
    unsigned long port = 53;
    const char *colon = strrchr(tok, ':');
    size_t hl;
    if (tok[0] == '[') {
        const char *rb = strchr(tok, ']');
        if (!rb)
            return -1;
        hl = (size_t)(rb - tok - 1);
        if (rb[1] == ':')
            port = strtoul(rb + 2, NULL, 10);
        else if (rb[1])
            return -1;
        tok++;
    } else if (colon && strchr(tok, ':') == colon) {
        hl = (size_t)(colon - tok);
        port = strtoul(colon + 1, NULL, 10);
    } else {
        hl = strlen(tok);
    }
    if (hl == 0 || hl >= sizeof host || port == 0 || port > 65535)
        return -1;
    memcpy(host, tok, hl);
    host[hl] = 0;
    memset(ns, 0, sizeof *ns);
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ns->addr;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ns->addr;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        ns->addrlen = sizeof *s4;
    } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        ns->addrlen = sizeof *s6;
    } else {
        return -1;
    }
    return 0;
}

/* Servers from list (or resolv.conf); returns how many, -1 with err. */
int auth_dns_parse_servers(const char *list, struct auth_ns *ns, int max, char *err, size_t errlen)
{
    int n = 0;
    char tok[128];
    if (list) {
        const char *p = list;
        while (*p) {
            size_t l = strcspn(p, ", \t");
            if (l > 0) {
                if (l >= sizeof tok || n == max) {
                    snprintf(err, errlen, "too many or too long nameservers (at most %d)", max);
                    return -1;
                }
                memcpy(tok, p, l);
                tok[l] = 0;
                if (ns_parse_one(tok, &ns[n]) < 0) {
                    snprintf(err, errlen, "bad nameserver '%.60s' (IP, IP:port or [IPv6]:port)", tok);
                    return -1;
                }
                n++;
            }
            p += l;
            p += strspn(p, ", \t");
        }
        if (n == 0) {
            snprintf(err, errlen, "no nameserver given");
            return -1;
        }
        return n;
    }
    FILE *f = fopen("/etc/resolv.conf", "r");
    char line[512];
    while (f && n < max && fgets(line, sizeof line, f)) {
        if (sscanf(line, " nameserver %127s", tok) == 1 && !strchr(tok, '%') &&
            ns_parse_one(tok, &ns[n]) == 0)
            n++;
    }
    if (f)
        fclose(f);
    if (n == 0)
        ns_parse_one("127.0.0.1", &ns[n++]);
    return n;
}

/* Build the query for name (TXT, IN, RD, EDNS0); its length or 0. */
static size_t build_query(unsigned char *q, const char *name, uint16_t id)
{
    size_t n = 12;
    memset(q, 0, 12);
    q[0] = (unsigned char)(id >> 8);
    q[1] = (unsigned char)id;
    q[2] = 0x01;                                    /* RD */
    q[5] = 1;                                       /* QDCOUNT */
    q[11] = 1;                                      /* ARCOUNT: OPT */
    for (const char *p = name; *p;) {
        size_t l = strcspn(p, ".");
        if (l == 0 || l > 63 || n + l + 1 > DNS_QMAX - 16)
            return 0;
        q[n++] = (unsigned char)l;
        memcpy(q + n, p, l);
        n += l;
        p += l;
        if (*p == '.')
            p++;
    }
    q[n++] = 0;
    q[n++] = 0, q[n++] = ns_t_txt, q[n++] = 0, q[n++] = ns_c_in;
    /* OPT: root name, type 41, class = UDP size, ttl 0, rdlen 0 */
    q[n++] = 0, q[n++] = 0, q[n++] = 41;
    q[n++] = DNS_UDP_SIZE >> 8, q[n++] = DNS_UDP_SIZE & 0xff;
    memset(q + n, 0, 6);
    return n + 6;
}

/* 16-bit big-endian at p. */
static unsigned get16(const unsigned char *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

/* The TXT strings of one rdata joined into out; -1 when corrupt. */
static int txt_join(const unsigned char *rd, size_t rdlen, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < rdlen;) {
        size_t l = rd[i++];
        if (i + l > rdlen)
            return -1;
        if (o + l >= outlen)
            return -1;
        memcpy(out + o, rd + i, l);
        o += l;
        i += l;
    }
    out[o] = 0;
    return memchr(out, 0, o) ? -1 : 0;
}

/* Parse a reply to query q (qlen). -3 not ours, -4 truncated, else as auth_dns_txt. */
static int parse_reply(const unsigned char *r, size_t n, const unsigned char *q, size_t qlen,
                       char *out, size_t outlen, char *why, size_t whylen)
{
    size_t qsec = qlen - 12 - 11;                   /* question section, without the OPT */
    if (n < 12 + qsec || r[0] != q[0] || r[1] != q[1] || !(r[2] & 0x80) ||
        get16(r + 4) != 1 || memcmp(r + 12 + qsec - 4, q + 12 + qsec - 4, 4) != 0)
        return -3;
    for (size_t i = 12; i < 12 + qsec - 4; i++)     /* names compare case-insensitively */
        if (r[i] != q[i] && !(isalpha(r[i]) && (r[i] | 0x20) == (q[i] | 0x20)))
            return -3;
    if (r[2] & 0x02)
        return -4;
    unsigned rcode = r[3] & 0x0f;
    if (rcode == ns_r_nxdomain)
        return 1;
    if (rcode != ns_r_noerror) {
        snprintf(why, whylen, "DNS error (rcode %u%s)", rcode,
                 rcode == ns_r_servfail ? " SERVFAIL" : rcode == ns_r_refused ? " REFUSED" : "");
        return -2;
    }
    const unsigned char *p = r + 12 + qsec, *end = r + n;
    unsigned an = get16(r + 6);
    int found = 0;
    char tmp[4096];
    for (unsigned k = 0; k < an; k++) {
        int sk = dn_skipname(p, end);
        if (sk < 0 || p + sk + 10 > end)
            goto corrupt;
        p += sk;
        unsigned type = get16(p), cls = get16(p + 2), rdlen = get16(p + 8);
        p += 10;
        if (p + rdlen > end)
            goto corrupt;
        if (type == ns_t_txt && cls == ns_c_in) {
            if (txt_join(p, rdlen, tmp, sizeof tmp) < 0)
                goto corrupt;
            if (!found || (strncmp(out, "v=DKIM1", 7) != 0 && strncmp(tmp, "v=DKIM1", 7) == 0)) {
                if (strlen(tmp) >= outlen)
                    goto corrupt;
                strcpy(out, tmp);
                found = 1;
            }
        }
        p += rdlen;
    }
    return found ? 0 : 1;
corrupt:
    snprintf(why, whylen, "DNS reply corrupt or too long");
    return -2;
}

/* Wait until fd is ready for events or the deadline; 1 ready, 0 timeout, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - auth_now_ms();
        if (left <= 0)
            return 0;
        struct pollfd pfd = { .fd = fd, .events = events };
        int rc = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
        if (rc > 0)
            return (pfd.revents & (POLLERR | POLLNVAL)) && !(pfd.revents & events) ? -1 : 1;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
}

/* Read or write exactly len bytes on a non-blocking fd before the deadline. */
static int io_full(int fd, unsigned char *buf, size_t len, int wr, int64_t deadline)
{
    size_t done = 0;
    while (done < len) {
        int w = wait_fd(fd, wr ? POLLOUT : POLLIN, deadline);
        if (w <= 0)
            return w == 0 ? -1 : -2;
        ssize_t k = wr ? send(fd, buf + done, len - done, MSG_NOSIGNAL)
                       : recv(fd, buf + done, len - done, 0);
        if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
            return -2;
        if (k > 0)
            done += (size_t)k;
    }
    return 0;
}

/* The query again over TCP to one server (after a truncated UDP reply). */
static int tcp_query(const struct auth_ns *ns, const unsigned char *q, size_t qlen,
                     int64_t deadline, char *out, size_t outlen, char *why, size_t whylen)
{
    int rc = -2;
    unsigned char *r = NULL, hdr[2];
    int fd = socket(ns->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    snprintf(why, whylen, "DNS error (TCP)");
    if (fd < 0)
        return -2;
    if (connect(fd, (const struct sockaddr *)&ns->addr, ns->addrlen) < 0 && errno != EINPROGRESS)
        goto out;
    unsigned char msg[DNS_QMAX + 2];
    msg[0] = (unsigned char)(qlen >> 8), msg[1] = (unsigned char)qlen;
    memcpy(msg + 2, q, qlen);
    if ((rc = io_full(fd, msg, qlen + 2, 1, deadline)) < 0 ||
        (rc = io_full(fd, hdr, 2, 0, deadline)) < 0)
        goto out;
    size_t rl = get16(hdr);
    if (!(r = malloc(rl ? rl : 1))) {
        rc = -2;
        goto out;
    }
    if ((rc = io_full(fd, r, rl, 0, deadline)) < 0)
        goto out;
    rc = parse_reply(r, rl, q, qlen, out, outlen, why, whylen);
    if (rc < -2) {
        snprintf(why, whylen, "DNS reply over TCP unusable");
        rc = -2;
    }
out:
    if (rc == -1)
        snprintf(why, whylen, "DNS timeout");
    free(r);
    close(fd);
    return rc;
}

/* errno's text, thread-safe. */
static const char *errtext(int e)
{
    const char *d = strerrordesc_np(e);
    return d ? d : "error";
}

/* The sockets of one lookup, one per server: -1 not opened, -2 given up. */
struct dns_socks {
    int fd[AUTH_MAX_NS];
    int dead;
};

/* Listen on every open socket until slice_end for a reply to q; the result
 * (as auth_dns_txt), or -1 when none came. */
static int dns_listen(const struct auth_ns *ns, int nns, struct dns_socks *so,
                      const unsigned char *q, size_t qlen, int64_t slice_end, int64_t deadline,
                      char *out, size_t outlen, char *why, size_t whylen)
{
    unsigned char r[4096];
    while (so->dead < nns) {
        struct pollfd pfd[AUTH_MAX_NS];
        int idx[AUTH_MAX_NS], np = 0;
        int64_t left = slice_end - auth_now_ms();
        if (left <= 0)
            return -1;
        for (int j = 0; j < nns; j++)
            if (so->fd[j] >= 0)
                pfd[np] = (struct pollfd){ .fd = so->fd[j], .events = POLLIN }, idx[np++] = j;
        if (np == 0 || poll(pfd, (nfds_t)np, (int)left) <= 0)
            continue;
        for (int j = 0; j < np; j++) {
            if (!(pfd[j].revents & (POLLIN | POLLERR)))
                continue;
            ssize_t got = recv(pfd[j].fd, r, sizeof r, 0);
            if (got < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    continue;
                snprintf(why, whylen, "DNS error (%s)", errtext(errno));
                close(so->fd[idx[j]]);
                so->fd[idx[j]] = -2, so->dead++;
                continue;
            }
            int pr = parse_reply(r, (size_t)got, q, qlen, out, outlen, why, whylen);
            if (pr == -4)
                pr = tcp_query(&ns[idx[j]], q, qlen, deadline, out, outlen, why, whylen);
            if (pr != -3)
                return pr;
        }
    }
    return -1;
}

/* Open (once) the UDP socket of server i; 0, or -1 when it cannot be used. */
static int dns_open(const struct auth_ns *ns, struct dns_socks *so, int i, char *why,
                    size_t whylen)
{
    if (so->fd[i] >= 0)
        return 0;
    if (so->fd[i] == -2)
        return -1;
    int fd = socket(ns[i].addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (const struct sockaddr *)&ns[i].addr, ns[i].addrlen) < 0) {
        snprintf(why, whylen, "DNS error (%s)", errtext(errno));
        if (fd >= 0)
            close(fd);
        so->fd[i] = -2, so->dead++;
        return -1;
    }
    so->fd[i] = fd;
    return 0;
}

/* Look up the TXT record of name before deadline (see the file comment). */
int auth_dns_txt(const struct auth_ns *ns, int nns, const char *name, int64_t deadline,
                 char *out, size_t outlen, char *why, size_t whylen)
{
    unsigned char q[DNS_QMAX];
    uint16_t id;
    int rc = -1;
    struct dns_socks so = { .dead = 0 };
    if (getrandom(&id, sizeof id, GRND_NONBLOCK) != sizeof id)
        id = (uint16_t)(auth_now_ms() ^ (int64_t)getpid());
    size_t qlen = build_query(q, name, id);
    if (qlen == 0) {
        snprintf(why, whylen, "key name too long");
        return -2;
    }
    for (int i = 0; i < nns; i++)
        so.fd[i] = -1;
    int attempts = 2 * nns;                     /* every server twice, time split evenly */
    for (int k = 0; k < attempts && rc == -1 && so.dead < nns; k++) {
        int64_t now = auth_now_ms();
        if (now >= deadline)
            break;
        if (dns_open(ns, &so, k % nns, why, whylen) < 0)
            continue;
        (void)send(so.fd[k % nns], q, qlen, MSG_NOSIGNAL);
        rc = dns_listen(ns, nns, &so, q, qlen, now + (deadline - now) / (attempts - k), deadline,
                        out, outlen, why, whylen);
    }
    for (int i = 0; i < nns; i++)
        if (so.fd[i] >= 0)
            close(so.fd[i]);
    if (rc == -1 && so.dead == nns)
        rc = -2;
    if (rc == -1)
        snprintf(why, whylen, "DNS timeout");
    return rc;
}
