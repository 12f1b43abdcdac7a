/*
 * smtp-load.c - an SMTP load generator for `make bench`, like Postfix's
 * smtp-source but sending a list of distinct message files (smtp-source
 * repeats one file, which would make every report after the first a
 * duplicate for the milter).
 *
 * usage: smtp-load -p PORT [-s SESSIONS] [-f FROM] -t RCPT FILE...
 * Connects to 127.0.0.1:PORT only. SESSIONS parallel sessions each take the
 * next unsent file, send it (MAIL, RCPT, DATA with CRLF lines and
 * dot-stuffing) and repeat over one connection, then QUIT.
 * Prints one line: sent=N failed=N ms=N (failed: any non-2xx/3xx reply).
 * Limits: 1..256 sessions, 1..100000 files, a reply line of 4 KiB, a 60 s
 * socket timeout. Exit 0 when every file was accepted, 1 otherwise, 2 usage.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_SESS 256
#define MAX_FILES 100000

/* One message, already CRLF-terminated and dot-stuffed. */
typedef struct msg {
    char *data;
    size_t len;
} msg;

/* Shared run state. */
static struct {
    int port;
    const char *from, *rcpt;
    msg *msgs;
    size_t nmsgs;
    size_t next;            /* next file index, taken atomically */
    unsigned long sent, failed;
} g;

/* One session's buffered reader. */
typedef struct conn {
    int fd;
    char buf[4096];
    size_t have, off;
} conn;

/* Read one reply line into line; 0 or -1 on EOF/timeout/too long. */
static int read_line(conn *c, char *line, size_t cap)
{
    size_t n = 0;
    for (;;) {
        if (c->off == c->have) {
            ssize_t r = read(c->fd, c->buf, sizeof c->buf);
            if (r <= 0)
                return -1;
            c->have = (size_t)r;
            c->off = 0;
        }
        char ch = c->buf[c->off++];
        if (ch == '\n') {
            line[n > 0 && line[n - 1] == '\r' ? n - 1 : n] = 0;
            return 0;
        }
        if (n + 1 >= cap)
            return -1;
        line[n++] = ch;
    }
}

/* Read a whole (maybe multi-line) reply; its code, or -1. */
static int read_reply(conn *c)
{
    char line[4096];
    do {
        if (read_line(c, line, sizeof line) < 0 || strlen(line) < 3)
            return -1;
    } while (line[3] == '-');
    return atoi(line);
}

/* Write all of buf; 0 or -1. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w <= 0)
            return -1;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Send a command line and read the reply code (-1 on I/O error). */
static int command(conn *c, const char *cmd)
{
    if (write_all(c->fd, cmd, strlen(cmd)) < 0)
        return -1;
    return read_reply(c);
}

/* One transaction for message m; 0 accepted, 1 refused, -1 connection lost. */
static int send_one(conn *c, const msg *m)
{
    char cmd[1024];
    int rc;
    snprintf(cmd, sizeof cmd, "MAIL FROM:<%s>\r\n", g.from);
    if ((rc = command(c, cmd)) < 0)
        return -1;
    if (rc / 100 != 2)
        return command(c, "RSET\r\n") < 0 ? -1 : 1;
    snprintf(cmd, sizeof cmd, "RCPT TO:<%s>\r\n", g.rcpt);
    if ((rc = command(c, cmd)) < 0)
        return -1;
    if (rc / 100 != 2)
        return command(c, "RSET\r\n") < 0 ? -1 : 1;
    if ((rc = command(c, "DATA\r\n")) < 0)
        return -1;
    if (rc != 354)
        return command(c, "RSET\r\n") < 0 ? -1 : 1;
    if (write_all(c->fd, m->data, m->len) < 0 || write_all(c->fd, ".\r\n", 3) < 0)
        return -1;
    rc = read_reply(c);
    return rc < 0 ? -1 : rc / 100 == 2 ? 0 : 1;
}

/* Connect to 127.0.0.1:port with a 60 s I/O timeout; fd or -1. */
static int dial(void)
{
    struct sockaddr_in sa;
    struct timeval tv = { 60, 0 };
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)g.port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Thread body: one SMTP session sending files until none is left. */
static void *session(void *arg)
{
    conn *c = calloc(1, sizeof *c);
    unsigned long sent = 0, failed = 0;
    size_t i;
    (void)arg;
    if (!c || (c->fd = dial()) < 0 || read_reply(c) != 220 ||
        command(c, "EHLO load.bench.invalid\r\n") != 250) {
        fprintf(stderr, "smtp-load: cannot open a session on port %d\n", g.port);
        failed = 1;
    } else {
        while ((i = __atomic_fetch_add(&g.next, 1, __ATOMIC_RELAXED)) < g.nmsgs) {
            int rc = send_one(c, &g.msgs[i]);
            if (rc == 0)
                sent++;
            else
                failed++;
            if (rc < 0)
                break;
        }
        (void)command(c, "QUIT\r\n");
    }
    if (c && c->fd > 0)
        close(c->fd);
    free(c);
    __atomic_add_fetch(&g.sent, sent, __ATOMIC_RELAXED);
    __atomic_add_fetch(&g.failed, failed, __ATOMIC_RELAXED);
    return NULL;
}

/* Load a file as CRLF lines with dot-stuffing; 0 or -1. */
static int load(const char *path, msg *m)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 4096, n = 0;
    int ch, bol = 1;
    char *d = malloc(cap);
    if (!f || !d) {
        if (f)
            fclose(f);
        free(d);
        return -1;
    }
    while ((ch = getc(f)) != EOF) {
        if (n + 4 > cap) {
            char *nd = realloc(d, cap *= 2);
            if (!nd) {
                free(d);
                fclose(f);
                return -1;
            }
            d = nd;
        }
        if (bol && ch == '.')
            d[n++] = '.';
        if (ch == '\n' && (n == 0 || d[n - 1] != '\r'))
            d[n++] = '\r';
        d[n++] = (char)ch;
        bol = ch == '\n';
    }
    fclose(f);
    if (!bol) {
        d[n++] = '\r';
        d[n++] = '\n';
    }
    m->data = d;
    m->len = n;
    return 0;
}

int main(int argc, char **argv)
{
    static pthread_t tid[MAX_SESS];
    struct timespec t0, t1;
    int ch, nsess = 1;

    g.from = "sender@load.bench.invalid";
    while ((ch = getopt(argc, argv, "p:s:f:t:")) != -1) {
        switch (ch) {
        case 'p': g.port = atoi(optarg); break;
        case 's': nsess = atoi(optarg); break;
        case 'f': g.from = optarg; break;
        case 't': g.rcpt = optarg; break;
        default: goto usage;
        }
    }
    g.nmsgs = (size_t)(argc - optind);
    if (g.port < 1 || g.port > 65535 || nsess < 1 || nsess > MAX_SESS || !g.rcpt ||
        g.nmsgs < 1 || g.nmsgs > MAX_FILES)
        goto usage;
    if (!(g.msgs = calloc(g.nmsgs, sizeof *g.msgs)))
        return 2;
    for (size_t i = 0; i < g.nmsgs; i++)
        if (load(argv[optind + (int)i], &g.msgs[i]) < 0) {
            fprintf(stderr, "smtp-load: cannot read %s\n", argv[optind + (int)i]);
            return 2;
        }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int k = 0; k < nsess; k++)
        if (pthread_create(&tid[k], NULL, session, NULL) != 0)
            return 2;
    for (int k = 0; k < nsess; k++)
        pthread_join(tid[k], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("sent=%lu failed=%lu ms=%ld\n", g.sent, g.failed,
           (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
    for (size_t i = 0; i < g.nmsgs; i++)
        free(g.msgs[i].data);
    free(g.msgs);
    return g.failed == 0 && g.sent == g.nmsgs ? 0 : 1;
usage:
    fputs("usage: smtp-load -p PORT [-s SESSIONS] [-f FROM] -t RCPT FILE...\n", stderr);
    return 2;
}
