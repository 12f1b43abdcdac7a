/*
 * test_auth_dns.c - auth/'s DNS key lookups and its thread safety, against a
 * real DNS server of our own on 127.0.0.1 (UDP and TCP, a thread of this
 * program) that serves the keys made at test time (tlib_dkim.h), or stays
 * silent, or answers SERVFAIL, or truncates every UDP answer (TCP then).
 * Checks: verdicts over DNS equal those from the key file; a silent server
 * costs at most DkimTimeout per mail, however many signatures; a refused
 * port, SERVFAIL and NXDOMAIN give their reason; a silent first server is
 * passed over for the second; 8 threads x 50 mails at once, over the key
 * file and over DNS, all with the right verdict. SKIP without python3-dkim.
 */
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "tlib.h"
#include "tlib_dkim.h"

enum { FD_ANSWER, FD_SILENT, FD_SERVFAIL, FD_TRUNCATE };

struct fakedns {
    int udp, tcp, port, mode;
    pthread_t th;
    atomic_int stop, queries;
};

static char (*knames)[300], (*krecs)[2048];
static int nk;

/* Load keys.txt of the fixtures into the table the server answers from. */
static void keys_load(const char *dir)
{
    char path[300], line[4096];
    snprintf(path, sizeof path, "%s/keys.txt", dir);
    FILE *f = fopen(path, "r");
    knames = calloc(200, sizeof *knames);
    krecs = calloc(200, sizeof *krecs);
    while (f && nk < 200 && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *sp = strchr(line, ' ');
        if (line[0] == '#' || !sp)
            continue;
        *sp = 0;
        snprintf(knames[nk], sizeof knames[nk], "%.299s", line);
        snprintf(krecs[nk++], sizeof krecs[0], "%.2047s", sp + 1);
    }
    if (f)
        fclose(f);
}

/* The answer to query q (n bytes) into r; its length, 0 for no answer. */
static size_t answer(const struct fakedns *d, const unsigned char *q, size_t n, unsigned char *r,
                     int tcp)
{
    char name[300];
    size_t i = 12, o = 0;
    if (n < 17)
        return 0;
    while (i < n && q[i] && o + q[i] + 1 < sizeof name) {
        size_t l = q[i++];
        for (size_t k = 0; k < l && i < n; k++)
            name[o++] = (char)(q[i] >= 'A' && q[i] <= 'Z' ? q[i] + 32 : q[i]), i++;
        name[o++] = '.';
    }
    if (o)
        o--;
    name[o] = 0;
    size_t qend = i + 5;
    if (qend > n)
        return 0;
    const char *rec = NULL;
    for (int k = 0; k < nk && !rec; k++)
        if (strcmp(knames[k], name) == 0)
            rec = krecs[k];
    memcpy(r, q, qend);
    r[2] = 0x81, r[3] = 0x80;                   /* QR RD, RA */
    r[6] = r[7] = r[8] = r[9] = r[10] = r[11] = 0;
    if (d->mode == FD_SERVFAIL)
        r[3] |= 2;
    else if (d->mode == FD_TRUNCATE && !tcp)
        r[2] |= 0x02;
    else if (!rec)
        r[3] |= 3;
    else {
        size_t rl = strlen(rec), p = qend + 12, start = p;
        r[7] = 1;
        memcpy(r + qend, "\xc0\x0c\x00\x10\x00\x01\x00\x00\x01\x2c", 10);
        for (size_t k = 0; k < rl; k += 255) {
            size_t l = rl - k < 255 ? rl - k : 255;
            r[p++] = (unsigned char)l;
            memcpy(r + p, rec + k, l);
            p += l;
        }
        r[qend + 10] = (unsigned char)((p - start) >> 8), r[qend + 11] = (unsigned char)(p - start);
        return p;
    }
    return qend;
}

/* Serve one TCP client. */
static void serve_tcp(struct fakedns *d, int c)
{
    unsigned char q[512], r[4096];
    struct pollfd p = { .fd = c, .events = POLLIN };
    size_t got = 0;
    while (poll(&p, 1, 2000) > 0) {
        ssize_t k = read(c, q + got, sizeof q - got);
        if (k <= 0)
            break;
        got += (size_t)k;
        if (got >= 2 && got >= 2u + (q[0] << 8 | q[1])) {
            size_t n = answer(d, q + 2, got - 2, r + 2, 1);
            r[0] = (unsigned char)(n >> 8), r[1] = (unsigned char)n;
            if (write(c, r, n + 2) < 0)
                break;
            break;
        }
    }
    close(c);
}

/* The server thread. */
static void *serve(void *arg)
{
    struct fakedns *d = arg;
    unsigned char q[512], r[4096];
    while (!atomic_load(&d->stop)) {
        struct pollfd p[2] = { { .fd = d->udp, .events = POLLIN }, { .fd = d->tcp, .events = POLLIN } };
        if (poll(p, 2, 50) <= 0)
            continue;
        if (p[0].revents & POLLIN) {
            struct sockaddr_storage from;
            socklen_t fl = sizeof from;
            ssize_t n = recvfrom(d->udp, q, sizeof q, 0, (struct sockaddr *)&from, &fl);
            if (n <= 0)
                continue;
            atomic_fetch_add(&d->queries, 1);
            size_t rl = d->mode == FD_SILENT ? 0 : answer(d, q, (size_t)n, r, 0);
            if (rl)
                (void)sendto(d->udp, r, rl, 0, (struct sockaddr *)&from, fl);
        }
        if (p[1].revents & POLLIN) {
            int c = accept(d->tcp, NULL, NULL);
            if (c >= 0)
                serve_tcp(d, c);
        }
    }
    return NULL;
}

/* Start a server in mode on a free port (UDP and TCP the same); 0 or -1. */
static int dns_start(struct fakedns *d, int mode)
{
    memset(d, 0, sizeof *d);
    d->mode = mode;
    for (int tries = 0; tries < 20; tries++) {
        struct sockaddr_in a = { .sin_family = AF_INET };
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t al = sizeof a;
        d->udp = socket(AF_INET, SOCK_DGRAM, 0);
        if (bind(d->udp, (struct sockaddr *)&a, sizeof a) < 0 ||
            getsockname(d->udp, (struct sockaddr *)&a, &al) < 0) {
            close(d->udp);
            continue;
        }
        d->tcp = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(d->tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(d->tcp, (struct sockaddr *)&a, sizeof a) == 0 && listen(d->tcp, 16) == 0) {
            d->port = ntohs(a.sin_port);
            return pthread_create(&d->th, NULL, serve, d) == 0 ? 0 : -1;
        }
        close(d->udp), close(d->tcp);
    }
    return -1;
}

/* Stop the server. */
static void dns_stop(struct fakedns *d)
{
    atomic_store(&d->stop, 1);
    pthread_join(d->th, NULL);
    close(d->udp), close(d->tcp);
}

/* A lib asking servers (a "127.0.0.1:P ..." list) with a timeout. */
static tlsrpt_auth_lib *dns_lib(const char *servers, int timeout)
{
    char err[256];
    tlsrpt_auth_conf c = { .nameservers = servers, .timeout_s = timeout };
    tlsrpt_auth_lib *lib = tlsrpt_auth_lib_new(&c, err, sizeof err);
    if (!lib)
        printf("FAIL: lib for %s: %s\n", servers, err), tlib_failed++;
    return lib;
}

/* Milliseconds of a verification of fixture name, verdict in v. */
static long timed(tlsrpt_auth_lib *lib, const char *name, tlsrpt_verdict *v)
{
    struct timespec t0, t1;
    size_t len;
    char *m = tdk_load(name, &len);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    tdk_verify_milter(lib, m, len, 0, 0, NULL, v);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    free(m);
    return (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
}

/* Over DNS, every default-conf case has the verdict it has with the key file. */
static void test_answers(void)
{
    struct fakedns d;
    char sv[64], why[400], name[600];
    if (dns_start(&d, FD_ANSWER) < 0) {
        T_CHECK(0, "DNS server started");
        return;
    }
    snprintf(sv, sizeof sv, "127.0.0.1:%d", d.port);
    tlsrpt_auth_lib *lib = dns_lib(sv, 5);
    const struct tdk_case *cs;
    int n = tdk_cases(&cs), bad = 0, checked = 0;
    unsigned lookups = 0;
    for (int i = 0; lib && i < n; i++) {
        if (strcmp(cs[i].conf, "default") != 0)
            continue;
        size_t len;
        char *m = tdk_load(cs[i].name, &len);
        tlsrpt_verdict v;
        tdk_verify_feed(lib, m, len, 1024, cs[i].contact, &v);
        free(m);
        checked++;
        lookups += v.lookups;
        if (!tdk_matches(&cs[i], &v, why, sizeof why)) {
            snprintf(name, sizeof name, "DNS: %s: %s", cs[i].name, why);
            T_CHECK(0, name);
            bad++;
        }
    }
    snprintf(name, sizeof name, "DNS: %d cases, same verdicts as with the key file", checked);
    T_CHECK(lib && checked > 30 && bad == 0, name);
    T_CHECK((unsigned)atomic_load(&d.queries) == lookups,
            "DNS: one query per key lookup, none for ignored signatures");
    tlsrpt_verdict v;
    timed(lib, "key_not_found", &v);
    T_CHECK(!v.authentic && strstr(v.detail, "key not found"), "DNS: NXDOMAIN is key not found");
    tlsrpt_auth_lib_free(lib);
    dns_stop(&d);
}

/* Silence, SERVFAIL, truncation, refusal, a second server. */
static void test_failures(void)
{
    struct fakedns s, f, t, ok;
    char sv[128];
    tlsrpt_verdict v;
    if (dns_start(&s, FD_SILENT) < 0 || dns_start(&f, FD_SERVFAIL) < 0 ||
        dns_start(&t, FD_TRUNCATE) < 0 || dns_start(&ok, FD_ANSWER) < 0) {
        T_CHECK(0, "DNS servers started");
        return;
    }
    snprintf(sv, sizeof sv, "127.0.0.1:%d", s.port);
    tlsrpt_auth_lib *lib = dns_lib(sv, 1);
    long ms = timed(lib, "signed_google", &v);
    printf("INFO: silent DNS server, DkimTimeout 1: gave up after %ld ms\n", ms);
    T_CHECK(!v.authentic && strstr(v.detail, "DNS timeout (d=google.com)") && ms >= 900 &&
            ms < 2500, "silent server: DNS timeout, after about DkimTimeout (1 s), no hang");
    ms = timed(lib, "nokey_then_good", &v);
    T_CHECK(!v.authentic && strstr(v.detail, "DNS timeout") && ms < 2500,
            "silent server, two signatures: one deadline for the whole mail");
    tlsrpt_auth_stats st;
    tlsrpt_auth_lib_stats(lib, &st);
    T_CHECK(st.dns_timeouts >= 2, "timeouts counted");
    tlsrpt_auth_lib_free(lib);
    snprintf(sv, sizeof sv, "127.0.0.1:%d", f.port);
    lib = dns_lib(sv, 2);
    timed(lib, "signed_google", &v);
    T_CHECK(!v.authentic && strstr(v.detail, "SERVFAIL"), "SERVFAIL: DNS error with the rcode");
    tlsrpt_auth_lib_free(lib);
    snprintf(sv, sizeof sv, "127.0.0.1:%d", t.port);
    lib = dns_lib(sv, 2);
    timed(lib, "signed_google", &v);
    T_CHECK(v.authentic, "truncated UDP answer: asked again over TCP, authentic");
    tlsrpt_auth_lib_free(lib);
    int dead = s.port;                          /* a port with nothing behind it */
    dns_stop(&s);
    snprintf(sv, sizeof sv, "127.0.0.1:%d", dead);
    lib = dns_lib(sv, 3);
    ms = timed(lib, "signed_google", &v);
    T_CHECK(!v.authentic && strstr(v.detail, "DNS error") && ms < 1500,
            "closed port: DNS error (refused), at once");
    tlsrpt_auth_lib_free(lib);
    struct fakedns s2;
    dns_start(&s2, FD_SILENT);
    snprintf(sv, sizeof sv, "127.0.0.1:%d, 127.0.0.1:%d", s2.port, ok.port);
    lib = dns_lib(sv, 4);
    ms = timed(lib, "signed_google", &v);
    T_CHECK(v.authentic && ms < 4000, "silent first server: the second one answers");
    tlsrpt_auth_lib_free(lib);
    dns_stop(&s2), dns_stop(&f), dns_stop(&t), dns_stop(&ok);
}

/* ---------- threads ---------- */

static const char *const tmails[] = { "signed_google", "body_tampered", "unaligned", "fifty_sigs",
                                      "microsoft_1024", "key_not_found", "ed25519", "l_appended",
                                      "junk_then_valid", "canon_simple_simple" };
#define NTM (sizeof tmails / sizeof tmails[0])
static char *tm_data[NTM];
static size_t tm_len[NTM];

struct worker {
    tlsrpt_auth_lib *lib;
    int seed, wrong, done;
};

/* 50 mails in a rotating order, each checked against its case. */
static void *work(void *arg)
{
    struct worker *w = arg;
    char why[400];
    for (int i = 0; i < 50; i++) {
        size_t k = (size_t)(w->seed * 7 + i) % NTM;
        const struct tdk_case *c = tdk_case_get(tmails[k]);
        tlsrpt_verdict v;
        if (!c || !tm_data[k]) {
            w->wrong++;
            continue;
        }
        tdk_verify_milter(w->lib, tm_data[k], tm_len[k], 512 + (size_t)i * 13, 0, c->contact, &v);
        w->wrong += !tdk_matches(c, &v, why, sizeof why);
        w->done++;
    }
    return NULL;
}

/* 8 threads x 50 mails on one lib. */
static void threads_on(tlsrpt_auth_lib *lib, const char *what)
{
    pthread_t th[8];
    struct worker w[8];
    int wrong = 0, done = 0;
    char name[160];
    for (int i = 0; i < 8; i++) {
        w[i] = (struct worker){ .lib = lib, .seed = i };
        pthread_create(&th[i], NULL, work, &w[i]);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        wrong += w[i].wrong, done += w[i].done;
    }
    snprintf(name, sizeof name, "8 threads x 50 mails at once (%s): %d verified, %d wrong", what,
             done, wrong);
    T_CHECK(done == 400 && wrong == 0, name);
}

/* Concurrency over the key file and over DNS. */
static void test_threads(void)
{
    for (size_t i = 0; i < NTM; i++)
        tm_data[i] = tdk_load(tmails[i], &tm_len[i]);
    tlsrpt_auth_lib *lib = tdk_lib("default");
    threads_on(lib, "key file");
    tlsrpt_auth_lib_free(lib);
    struct fakedns d;
    char sv[64];
    if (dns_start(&d, FD_ANSWER) == 0) {
        snprintf(sv, sizeof sv, "127.0.0.1:%d", d.port);
        lib = dns_lib(sv, 10);
        threads_on(lib, "DNS");
        tlsrpt_auth_lib_free(lib);
        dns_stop(&d);
    }
    for (size_t i = 0; i < NTM; i++)
        free(tm_data[i]);
}

int main(void)
{
    const char *why, *dir = tdk_fixtures(&why);
    if (!dir) {
        T_SKIP("DKIM over DNS and threads", why);
        T_MAIN_END();
    }
    keys_load(dir);
    test_answers();
    test_failures();
    test_threads();
    free(knames);
    free(krecs);
    T_MAIN_END();
}
