/*
 * spool.c - bench of the archive (spool/): what a mail costs to archive,
 * and how fast a rebuild can walk the archive. Prints figures, asserts none.
 *
 *   build/bench/spool [-d DIR] [-n ENTRIES] [-s SECTIONS] [-a ARCHIVE]
 *     DIR       scratch directory on the file system to measure (default
 *               $TMPDIR or /var/tmp); everything is made in a fresh
 *               subdirectory and removed at the end
 *     ENTRIES   entries for the iteration section (default 100000)
 *     SECTIONS  letters: f fsync costs, z gzip levels, w write+commit,
 *               s commit steps, c concurrency, m memory, i iterate
 *               (default "fzwscmi")
 *     ARCHIVE   section i uses (and keeps) this archive, filling it only when empty
 *
 * Inputs are synthetic TLS-RPT report mails made here (headers + base64
 * of a gzip'd JSON report with pseudo-random failure details): "small"
 * ~3 KB, "large" ~100 KB. Writes go in header-sized pieces, then 64 KB
 * body chunks, as the milter will write them.
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include "spool.h"
#include "spool_int.h"          /* the test hook: time each commit step */

static char base[4096];
static const char *given_archive;
static unsigned rng = 12345;

/* Seconds since an arbitrary point. */
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* CPU seconds of this process (load on a shared machine does not inflate it). */
static double cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* A pseudo-random number. */
static unsigned rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

/* A report mail of about `want` bytes into a malloc'd buffer. */
static unsigned char *make_mail(size_t want, size_t *len)
{
    size_t jcap = want * 8 + 4096, jl = 0;
    char *json = malloc(jcap);
    jl += (size_t)sprintf(json, "{\"organization-name\":\"Example Sender Inc.\",\"date-range\":{\"start-datetime\":"
                          "\"2026-11-30T00:00:00Z\",\"end-datetime\":\"2026-11-30T23:59:59Z\"},\"report-id\":"
                          "\"2026-11-30T00:00:00Z_example.com\",\"policies\":[{\"policy\":{\"policy-type\":\"sts\","
                          "\"policy-domain\":\"example.com\"},\"summary\":{\"total-successful-session-count\":%u,"
                          "\"total-failure-session-count\":%u},\"failure-details\":[", rnd() % 100000, rnd() % 100);
    unsigned char *gz = malloc(jcap);
    uLongf gl = 0;
    for (int k = 0;; k++) {                 /* grow the JSON until its gzip+base64 is big enough */
        jl += (size_t)snprintf(json + jl, jcap - jl, "%s{\"result-type\":\"certificate-expired\",\"sending-mta-ip\":"
                               "\"%u.%u.%u.%u\",\"receiving-mx-hostname\":\"mx%u.example.com\",\"failed-session-count\":%u}",
                               k ? "," : "", rnd() % 256, rnd() % 256, rnd() % 256, rnd() % 256, rnd() % 9, rnd() % 50);
        z_stream z;
        memset(&z, 0, sizeof z);
        deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
        z.next_in = (unsigned char *)json;
        z.avail_in = (uInt)jl;
        z.next_out = gz;
        z.avail_out = (uInt)jcap;
        deflate(&z, Z_FINISH);
        gl = z.total_out;
        deflateEnd(&z);
        if (gl * 4 / 3 + 1500 >= want || jl + 300 > jcap)
            break;
    }
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char *m = malloc(gl * 2 + 4096);
    size_t n = (size_t)sprintf((char *)m,
        "Received: from mail.sender.example (mail.sender.example [192.0.2.1])\r\n\tby mx.example.com (Postfix) with ESMTPS id 4ABCDEF\r\n"
        "\tfor <tlsrpt@example.com>; Mon, 30 Nov 2026 01:02:03 +0000 (UTC)\r\n"
        "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=sender.example; s=s1;\r\n\th=from:to:subject:date; bh=abcdefabcdefabcdefabcdefabcdefabcdefabcdefab=;\r\n"
        "\tb=AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGh\r\n"
        "From: noreply-smtp-tls-reporting@sender.example\r\nTo: tlsrpt@example.com\r\n"
        "Subject: Report Domain: example.com Submitter: sender.example Report-ID: <2026-11-30T00:00:00Z_example.com>\r\n"
        "Date: Mon, 30 Nov 2026 01:02:03 +0000\r\nMessage-ID: <%u@sender.example>\r\nTLS-Report-Domain: example.com\r\n"
        "TLS-Report-Submitter: sender.example\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
        "This is an aggregate TLS report from sender.example\r\n\r\n--b\r\nContent-Type: application/tlsrpt+gzip\r\n"
        "Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"r.json.gz\"\r\n\r\n", rnd());
    for (size_t i = 0, col = 0; i < gl; i += 3) {
        unsigned v = gz[i] << 16 | (i + 1 < gl ? gz[i + 1] << 8 : 0) | (i + 2 < gl ? gz[i + 2] : 0);
        m[n++] = (unsigned char)b64[v >> 18 & 63];
        m[n++] = (unsigned char)b64[v >> 12 & 63];
        m[n++] = i + 1 < gl ? (unsigned char)b64[v >> 6 & 63] : '=';
        m[n++] = i + 2 < gl ? (unsigned char)b64[v & 63] : '=';
        if ((col += 4) == 76 || i + 3 >= gl) {
            m[n++] = '\r';
            m[n++] = '\n';
            col = 0;
        }
    }
    n += (size_t)sprintf((char *)m + n, "\r\n--b--\r\n");
    free(json);
    free(gz);
    *len = n;
    return m;
}

/* Feed one mail into w as the milter would: header lines, then 64 KB body chunks. */
static int feed(tlsrpt_spool_w *w, const unsigned char *m, size_t len)
{
    size_t i = 0;
    while (i < len) {                   /* headers: one write per line, up to the empty line */
        const unsigned char *nl = memchr(m + i, '\n', len - i);
        size_t l = nl ? (size_t)(nl - (m + i)) + 1 : len - i;
        if (tlsrpt_spool_write(w, m + i, l) < 0)
            return -1;
        i += l;
        if (l == 2)
            break;
    }
    for (; i < len; i += 65535)
        if (tlsrpt_spool_write(w, m + i, len - i < 65535 ? len - i : 65535) < 0)
            return -1;
    return 0;
}

static int flow;     /* put() also does what the milter does after commit: new -> counting -> done */

/* One archived mail. */
static int put(tlsrpt_spool *sp, const unsigned char *m, size_t len, time_t t, tlsrpt_spool_meta *meta)
{
    char err[512], id[TLSRPT_SPOOL_ID_MAX];
    tlsrpt_spool_w *w = tlsrpt_spool_begin(sp, t, err, sizeof err);
    if (w && feed(w, m, len) < 0) {
        snprintf(err, sizeof err, "%s", tlsrpt_spool_w_error(w));
        tlsrpt_spool_abort(w);
        w = NULL;
    }
    if (!w || tlsrpt_spool_commit(w, meta, TLSRPT_SPOOL_NEW, id, sizeof id, err, sizeof err) < 0) {
        fprintf(stderr, "bench: %s\n", err);     /* commit frees w, also when it fails */
        return -1;
    }
    if (flow && (tlsrpt_spool_set_state(sp, id, TLSRPT_SPOOL_NEW, TLSRPT_SPOOL_COUNTING, err, sizeof err) != 0 ||
                 tlsrpt_spool_set_state(sp, id, TLSRPT_SPOOL_COUNTING, TLSRPT_SPOOL_DONE, err, sizeof err) != 0)) {
        fprintf(stderr, "bench: %s\n", err);
        return -1;
    }
    return 0;
}

/* A typical verdict meta. */
static tlsrpt_spool_meta *verdict(void)
{
    tlsrpt_spool_meta *m = tlsrpt_spool_meta_new();
    tlsrpt_spool_meta_set(m, TLSRPT_SPOOL_K_QUEUE_ID, "4ABCDEF");
    tlsrpt_spool_meta_set(m, TLSRPT_SPOOL_K_AUTH, "dkim");
    tlsrpt_spool_meta_set(m, TLSRPT_SPOOL_K_AUTH_RESULT, "pass");
    tlsrpt_spool_meta_set(m, TLSRPT_SPOOL_K_SIGNER, "sender.example");
    tlsrpt_spool_meta_set(m, TLSRPT_SPOOL_K_SIGNER_ORG, "sender.example");
    tlsrpt_spool_meta_set(m, TLSRPT_SPOOL_K_FROM_DOMAIN, "sender.example");
    tlsrpt_spool_meta_set(m, TLSRPT_SPOOL_K_VERDICT, "countable");
    tlsrpt_spool_report r = { 0, "2026-11-30", "Example Sender Inc.", 0, "2026-11-30T00:00:00Z_example.com", 0, "countable" };
    tlsrpt_spool_meta_add_report(m, &r);
    return m;
}

/* nftw: remove. */
static int rm_one(const char *p, const struct stat *sb, int f, struct FTW *ftw)
{
    (void)sb, (void)f, (void)ftw;
    return remove(p);
}

/* A fresh archive directory under base. Nothing is removed before the end of the run:
   ext4 makes file creations scan past recently freed inodes, so removing one archive
   would slow the next measurement down. */
static tlsrpt_spool *fresh(const char *name, int flags, char *path)
{
    char err[512];
    static int serial;
    snprintf(path, 4200, "%s/%s%d", base, name, serial++);
    tlsrpt_spool *sp = tlsrpt_spool_open(path, TLSRPT_SPOOL_CREATE | flags, err, sizeof err);
    if (!sp)
        fprintf(stderr, "bench: %s\n", err);
    return sp;
}

/* f: what one fdatasync / directory fsync costs here. */
static void bench_fsync(void)
{
    char p[4300], q[4400];
    char buf[3000];
    memset(buf, 'x', sizeof buf);
    snprintf(p, sizeof p, "%s/fsync", base);
    mkdir(p, 0750);
    int dfd = open(p, O_RDONLY | O_DIRECTORY);
    double t_create = 0, t_data = 0, t_dir = 0;
    int n = 300;
    for (int i = 0; i < n; i++) {
        snprintf(q, sizeof q, "%s/f%d", p, i);
        double t0 = now();
        int fd = open(q, O_WRONLY | O_CREAT | O_EXCL, 0640);
        if (write(fd, buf, sizeof buf) < 0)
            perror("write");
        double t1 = now();
        fdatasync(fd);
        double t2 = now();
        close(fd);
        fsync(dfd);
        double t3 = now();
        t_create += t1 - t0, t_data += t2 - t1, t_dir += t3 - t2;
    }
    close(dfd);
    nftw(p, rm_one, 32, FTW_DEPTH | FTW_PHYS);
    printf("f  fsync costs (%d x 3 KB files): create+write %.3f ms, fdatasync %.3f ms, fsync(dir) %.3f ms\n",
           n, t_create * 1e3 / n, t_data * 1e3 / n, t_dir * 1e3 / n);
}

/* z: gzip level 1 vs 6 on the mails, in memory. */
static void bench_gzip(const unsigned char *small, size_t sl, const unsigned char *large, size_t ll)
{
    static unsigned char out[1 << 20];
    for (int level = 1; level <= 6; level += 5)
        for (int which = 0; which < 3; which++) {
            if (which == 2 && level != 1)
                continue;               /* level 1 Huffman-only: what the writer switches to */
            const unsigned char *m = which ? large : small;
            size_t len = which ? ll : sl, total = 0, zout = 0;
            int reps = which ? 300 : 3000;
            double t0 = cpu();
            for (int r = 0; r < reps; r++) {
                z_stream z;
                memset(&z, 0, sizeof z);
                deflateInit2(&z, level, Z_DEFLATED, 31, 8, which == 2 ? Z_HUFFMAN_ONLY : Z_DEFAULT_STRATEGY);
                z.next_in = (unsigned char *)m;
                z.avail_in = (uInt)len;
                z.next_out = out;
                z.avail_out = sizeof out;
                deflate(&z, Z_FINISH);
                zout += z.total_out;
                total += len;
                deflateEnd(&z);
            }
            double t = cpu() - t0;
            printf("z  gzip level %d%s, %d x %s mail (%zu B): %.1f MB/s, %.0f mails/s of CPU time, compressed to %.1f%%\n",
                   level, which == 2 ? " Huffman-only" : "", reps, which ? "large" : "small", len, total / t / 1e6,
                   reps / t, 100.0 * zout / total);
        }
}

/* w: write + commit, per size, level and sync. */
static void bench_write(const unsigned char *small, size_t sl, const unsigned char *large, size_t ll)
{
    char path[4200];
    tlsrpt_spool_meta *meta = verdict();
    for (int sync = 0; sync < 2; sync++)
        for (int level = 1; level <= 6; level += 5)
            for (int which = 0; which < 2; which++) {
                int flags = TLSRPT_SPOOL_LEVEL(level) | (sync ? 0 : TLSRPT_SPOOL_NOSYNC);
                tlsrpt_spool *sp = fresh("w", flags, path);
                int n = which ? (sync ? 200 : 300) : (sync ? 500 : 3000);
                size_t len = which ? ll : sl;
                double t0 = now();
                for (int i = 0; sp && i < n; i++)
                    if (put(sp, which ? large : small, len, 1796083200 + i, meta) < 0)
                        break;
                double t = now() - t0;
                printf("w  write+commit %s mail (%zu B), level %d, %s: %.0f entries/s, %.1f MB/s, %.3f ms/entry\n",
                       which ? "large" : "small", len, level, sync ? "fsync" : "no fsync", n / t, n * (double)len / t / 1e6,
                       t * 1e3 / n);
                tlsrpt_spool_close(sp);
            }
    tlsrpt_spool_meta_free(meta);
}

/* Threads of the concurrency and fill sections. */
typedef struct job {
    tlsrpt_spool *sp;
    const unsigned char *m;
    size_t len;
    int n, t0;
    tlsrpt_spool_meta *meta;
} job;
static void *put_thread(void *arg)
{
    job *j = arg;
    for (int i = 0; i < j->n; i++)
        if (put(j->sp, j->m, j->len, 1796083200 + (time_t)(j->t0 + i) * 300, j->meta) < 0)
            break;
    return NULL;
}

/* Run `threads` threads writing `per` entries each into sp; seconds. */
static double run_threads(tlsrpt_spool *sp, int threads, int per, const unsigned char *m, size_t len, int spread)
{
    pthread_t th[64];
    job jobs[64];
    tlsrpt_spool_meta *meta = verdict();
    double t0 = now();
    for (int i = 0; i < threads; i++) {
        jobs[i] = (job){ sp, m, len, per, spread ? i * per : 0, meta };
        pthread_create(&th[i], NULL, put_thread, &jobs[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    tlsrpt_spool_meta_free(meta);
    return now() - t0;
}

/* Step timing through the test hook. */
static const char *const steps[] = { "begin", "data-written", "meta-written", "synced", "pending-created",
                                     "meta-renamed", "data-renamed", "committed" };
static double step_t[8], step_last;
static int step_on;
static void step_hook(const char *point)
{
    double t = now();
    for (int i = 0; step_on && i < 8; i++)
        if (!strcmp(point, steps[i])) {
            if (i > 0)
                step_t[i] += t - step_last;
            step_last = t;
        }
}

/* s: where the time of one commit goes (small mails, fsync), and a state change. */
static void bench_steps(const unsigned char *small, size_t sl)
{
    char path[4200], err[512], id[TLSRPT_SPOOL_ID_MAX];
    tlsrpt_spool *sp = fresh("s", 0, path);
    tlsrpt_spool_meta *meta = verdict();
    int n = 300;
    double t_state = 0;
    memset(step_t, 0, sizeof step_t);
    tlsrpt_spool_test_hook = step_hook;
    step_on = 1;
    for (int i = 0; sp && i < n; i++) {
        tlsrpt_spool_w *w = tlsrpt_spool_begin(sp, 1796083200 + i, err, sizeof err);
        if (w && feed(w, small, sl) < 0) {
            tlsrpt_spool_abort(w);
            break;
        }
        if (!w || tlsrpt_spool_commit(w, meta, TLSRPT_SPOOL_NEW, id, sizeof id, err, sizeof err) < 0)
            break;
        double t0 = now();
        tlsrpt_spool_set_state(sp, id, TLSRPT_SPOOL_NEW, TLSRPT_SPOOL_COUNTING, err, sizeof err);
        t_state += now() - t0;
        tlsrpt_spool_set_state(sp, id, TLSRPT_SPOOL_COUNTING, TLSRPT_SPOOL_DONE, err, sizeof err);
    }
    step_on = 0;
    tlsrpt_spool_test_hook = NULL;
    printf("s  commit steps, %d small mails, fsync, ms each:", n);
    static const char *const what[] = { "", "write+finish", "meta", "2 x fdatasync", "pending", "mkdir+rename meta",
                                        "rename data", "fsync day" };
    for (int i = 1; i < 8; i++)
        printf(" %s %.3f%s", what[i], step_t[i] * 1e3 / n, i < 7 ? ";" : "");
    printf("; then new->counting (rename + fsync pending/) %.3f\n", t_state * 1e3 / n);
    tlsrpt_spool_meta_free(meta);
    tlsrpt_spool_close(sp);
}

/* c: 1 vs 32 concurrent writers with fsync (group commit). */
static void bench_concurrency(const unsigned char *small, size_t sl)
{
    char path[4200];
    for (flow = 0; flow < 2; flow++)
        for (int threads = 1; threads <= 32; threads *= 32) {
            tlsrpt_spool *sp = fresh("c", 0, path);
            int per = threads == 1 ? 400 : 40;
            double t = run_threads(sp, threads, per, small, sl, 0);
            printf("c  %2d writer threads, small mails, fsync, %s: %.0f entries/s (%.3f ms per entry and thread)\n",
                   threads, flow ? "commit + new->counting->done" : "commit", threads * per / t, t * 1e3 / per);
            tlsrpt_spool_close(sp);
        }
    flow = 0;
}

/* VmRSS in kB. */
static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

/* m: memory of 64 writers open at once. */
static void bench_memory(const unsigned char *large, size_t ll)
{
    char path[4200], err[512];
    tlsrpt_spool *sp = fresh("m", TLSRPT_SPOOL_NOSYNC, path);
    tlsrpt_spool_w *w[64];
    long before = rss_kb();
    for (int i = 0; i < 64; i++) {
        w[i] = tlsrpt_spool_begin(sp, 1796083200, err, sizeof err);
        feed(w[i], large, ll);
    }
    long after = rss_kb();
    for (int i = 0; i < 64; i++)
        tlsrpt_spool_abort(w[i]);
    printf("m  64 writers open at once (each fed a large mail): %.0f KB RSS per writer\n", (after - before) / 64.0);
    tlsrpt_spool_close(sp);
}

/* Iteration callbacks: count; read every entry whole. */
typedef struct walk {
    tlsrpt_spool *sp;
    long n, bytes, bad, reports;
    int read;
} walk;
static int walk_cb(void *arg, const tlsrpt_spool_entry *e)
{
    walk *w = arg;
    static unsigned char buf[65536];
    char err[512];
    w->n++;
    w->reports += (long)tlsrpt_spool_meta_n_reports(e->meta);
    if (!w->read)
        return 0;
    tlsrpt_spool_reader *r = tlsrpt_spool_reader_open(w->sp, e->id, err, sizeof err);
    long got = 0;
    while (r && (got = tlsrpt_spool_reader_read(r, buf, sizeof buf)) > 0)
        w->bytes += got;
    w->bad += !r || got < 0;
    tlsrpt_spool_reader_close(r);
    return 0;
}

/* i: fill N entries (8 threads, no fsync), then list+meta and list+meta+read. */
static void bench_iterate(const unsigned char *small, size_t sl, int n)
{
    char path[4200], err[512];
    tlsrpt_spool *sp;
    walk probe = { NULL, 0, 0, 0, 0, 0 };
    if (given_archive) {
        snprintf(path, sizeof path, "%s", given_archive);
        if (!(sp = tlsrpt_spool_open(path, TLSRPT_SPOOL_CREATE | TLSRPT_SPOOL_NOSYNC, err, sizeof err))) {
            fprintf(stderr, "bench: %s\n", err);
            return;
        }
        tlsrpt_spool_each(sp, NULL, NULL, walk_cb, &probe, err, sizeof err);
    } else {
        sp = fresh("i", TLSRPT_SPOOL_NOSYNC, path);
    }
    if (probe.n == 0) {
        double tf = run_threads(sp, 8, n / 8, small, sl, 1);
        printf("i  filled %d small entries, one per 5 minutes (%d days), in %.1f s (8 threads, no fsync)\n", n / 8 * 8,
               n / 8 * 8 / 288 + 1, tf);
    }
    for (int read = 0; read < 2; read++) {
        walk w = { sp, 0, 0, 0, 0, read };
        double t0 = now();
        tlsrpt_spool_each(sp, NULL, NULL, walk_cb, &w, err, sizeof err);
        double t = now() - t0;
        printf("i  each %s: %ld entries (%ld report lines) in %.2f s: %.0f entries/s%s\n",
               read ? "+ reader (gunzip every mail)" : "(list + parse meta)", w.n, w.reports, t, w.n / t,
               read ? (w.bad ? ", READ ERRORS" : ", all read back") : "");
    }
    tlsrpt_spool_close(sp);
}

int main(int argc, char **argv)
{
    const char *dir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
    const char *sections = "fzwscmi";
    int n = 100000, opt;
    while ((opt = getopt(argc, argv, "a:d:n:s:")) != -1) {
        if (opt == 'a')
            given_archive = optarg;
        else if (opt == 'd')
            dir = optarg;
        else if (opt == 'n')
            n = atoi(optarg);
        else if (opt == 's')
            sections = optarg;
        else {
            fprintf(stderr, "usage: spool [-d DIR] [-n ENTRIES] [-s fzwscmi] [-a ARCHIVE]\n");
            return 2;
        }
    }
    snprintf(base, sizeof base, "%s/tlsrpt-bench-spool-%ld", dir, (long)getpid());
    if (mkdir(base, 0750) < 0) {
        perror(base);
        return 1;
    }
    size_t sl, ll;
    unsigned char *small = make_mail(3000, &sl), *large = make_mail(100000, &ll);
    printf("# archive bench in %s: small mail %zu B, large mail %zu B\n", base, sl, ll);
    for (const char *s = sections; *s; s++)
        switch (*s) {
        case 'f': bench_fsync(); break;
        case 'z': bench_gzip(small, sl, large, ll); break;
        case 'w': bench_write(small, sl, large, ll); break;
        case 'c': bench_concurrency(small, sl); break;
        case 's': bench_steps(small, sl); break;
        case 'm': bench_memory(large, ll); break;
        case 'i': bench_iterate(small, sl, n < 8 ? 8 : n); break;
        }
    nftw(base, rm_one, 32, FTW_DEPTH | FTW_PHYS);
    free(small);
    free(large);
    return 0;
}
