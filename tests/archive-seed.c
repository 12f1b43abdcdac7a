/*
 * archive-seed.c - write archive entries exactly as PLAN-archive.md says the milter
 * writes them, and (unless -n) count them into memcached as the milter does, for
 * tests/t-rebuild.sh, tests/t-stats-archive.sh and the bench's row 4.rebuild-archive.
 *
 *   archive-seed -d DIR [-c CONF] [-s SERVERS] [-p PREFIX] [-t TIME] [-i STEP]
 *                [-k SIGNER_ORG] [-v VERDICT] [-n] [-P] FILE...
 *       one entry per FILE (a report mail), arriving at TIME + k*STEP (unix seconds;
 *       default 1795000000, step 60): the message with CRLF line ends (the milter writes
 *       each header as "Name:" + value + CRLF, then CRLF, then the body as the MTA sent
 *       it, CRLF), meta queue-id, auth (dkim with -k, else none), auth-result, signer,
 *       signer-org, from-domain, verdict, and a report group per decoded report
 *       (report-day, -org, -id, -verdict). A mail with a countable report is committed
 *       pending NEW and counted at once with tlsrpt_store_count_req{ org_key = -k or
 *       NULL, entry_id, host_id = the archive id, arrival, before_counters = NEW ->
 *       COUNTING }, then done; a report the store does not count and each candidate not
 *       countable at arrival (-v REASON for its reports, a mail that does not decode:
 *       ArchiveAll) go to tlsrpt_store_not_counted. -n: archive only, count nothing.
 *       -P: commit countable mails pending NEW and count nothing (the store was down:
 *       the milter's retry thread would count them later).
 *       -c: the store's settings (servers, prefix, allow-list, budgets) from the milter's
 *       configuration file, as the milter and tlsrpt-parse --rebuild -c read them.
 *       Prints one line per entry: "ID counted=N duplicate=N notcounted=N".
 *   archive-seed -d DIR bench N [TIME]
 *       N generated report mails (base64 of gzip'd JSON, 2 domains, 40 reporters, 30
 *       report days, every report-id unique) arriving over 30 days from TIME, archived
 *       without fsync, not counted.
 *
 * Exit: 0, 1 on an archive or store error, 2 on a usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include "config.h"
#include "spool.h"
#include "store.h"
#include "tlsrpt.h"

typedef struct seed {
    tlsrpt_spool *sp;
    tlsrpt_store *st;           /* NULL with -n */
    const char *org;            /* -k */
    const char *verdict;        /* -v: the report-verdict of every report */
    int pending_only;           /* -P */
} seed;

/* A growing byte buffer; exits on out of memory. */
typedef struct buf { char *p; size_t n, cap; } buf;

/* Append n bytes to b. */
static void put(buf *b, const void *s, size_t n)
{
    if (b->cap - b->n < n + 1) {
        b->cap = (b->cap + n + 1) * 2;
        if (!(b->p = realloc(b->p, b->cap))) {
            fputs("archive-seed: out of memory\n", stderr);
            exit(1);
        }
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

/* The file's bytes with every bare LF made CRLF (the milter's view of a mail). */
static int read_crlf(const char *path, buf *out)
{
    FILE *f = fopen(path, "rb");
    int c, prev = 0;
    if (!f)
        return -1;
    out->n = 0;
    while ((c = getc(f)) != EOF) {
        if (c == '\n' && prev != '\r')
            put(out, "\r", 1);
        char ch = (char)c;
        put(out, &ch, 1);
        prev = c;
    }
    fclose(f);
    return 0;
}

/* before_counters: NEW -> COUNTING, as the milter claims the entry. */
static void claim(void *arg)
{
    void **a = arg;
    char err[256];
    if (tlsrpt_spool_set_state(a[0], a[1], TLSRPT_SPOOL_NEW, TLSRPT_SPOOL_COUNTING, err, sizeof err) < 0)
        fprintf(stderr, "archive-seed: %s\n", err);
}

/* Not counted: one candidate (arrival, reason). */
static int nc(const seed *s, time_t arrival, const char *reason, int *n)
{
    char err[512];
    ++*n;
    if (!s->st || tlsrpt_store_not_counted(s->st, arrival, reason, err, sizeof err) == TLSRPT_COUNTED)
        return 0;
    fprintf(stderr, "archive-seed: not_counted: %s\n", err);
    return 1;
}

/* The meta of one mail: verdict and a group per decoded report. */
static tlsrpt_spool_meta *make_meta(const seed *s, const tlsrpt_decoder *d, int rc, unsigned k)
{
    tlsrpt_spool_meta *m = tlsrpt_spool_meta_new();
    char q[32];
    size_t n = rc == TLSRPT_OK ? tlsrpt_result_count(d) : 0;
    snprintf(q, sizeof q, "Q%08X", k);
    tlsrpt_spool_meta_set(m, TLSRPT_SPOOL_K_QUEUE_ID, q);
    tlsrpt_spool_meta_set(m, TLSRPT_SPOOL_K_AUTH, s->org ? "dkim" : "none");
    tlsrpt_spool_meta_set(m, TLSRPT_SPOOL_K_AUTH_RESULT, s->org ? "pass" : "none");
    if (s->org) {
        tlsrpt_spool_meta_set(m, TLSRPT_SPOOL_K_SIGNER, s->org);
        tlsrpt_spool_meta_set(m, TLSRPT_SPOOL_K_SIGNER_ORG, s->org);
        tlsrpt_spool_meta_set(m, TLSRPT_SPOOL_K_FROM_DOMAIN, s->org);
    }
    tlsrpt_spool_meta_set(m, TLSRPT_SPOOL_K_VERDICT, rc != TLSRPT_OK ? tlsrpt_reason(rc)
                          : s->verdict ? s->verdict : "countable");
    for (size_t i = 0; i < n; i++) {
        const tlsrpt_report *r = tlsrpt_result_at(d, i);
        tlsrpt_spool_report g = { .index = (long)i, .day = r->day[0] ? r->day : NULL,
            .org = r->organization_name, .report_id = r->report_id,
            .org_len = r->organization_name ? strlen(r->organization_name) : 0,
            .report_id_len = r->report_id ? strlen(r->report_id) : 0,
            .verdict = s->verdict ? s->verdict : "countable" };
        tlsrpt_spool_meta_add_report(m, &g);
    }
    return m;
}

/* Does an earlier report of the mail have report i's identity and report-id? (Two
   identical attachments: the second is a duplicate. Counted with the same entry id the
   store would find its own marker "sent" and say store-partial, so the milter must
   judge it itself, as here.) */
static int same_as_earlier(const tlsrpt_decoder *d, size_t i, const char *org)
{
    const tlsrpt_report *r = tlsrpt_result_at(d, i);
    for (size_t k = 0; k < i; k++) {
        const tlsrpt_report *x = tlsrpt_result_at(d, k);
        if ((org || (x->organization_name && r->organization_name &&
                     strcmp(x->organization_name, r->organization_name) == 0)) &&
            x->report_id && r->report_id && strcmp(x->report_id, r->report_id) == 0)
            return 1;
    }
    return 0;
}

/* Count the reports of a committed entry as the milter does; the line printed. */
static int count_entry(const seed *s, const tlsrpt_decoder *d, int rc, const char *id, time_t arrival)
{
    int counted = 0, dup = 0, notc = 0, bad = 0;
    char err[512];
    void *arg[2] = { s->sp, (void *)id };
    if (rc != TLSRPT_OK)
        bad |= nc(s, arrival, tlsrpt_reason(rc), &notc);
    for (size_t i = 0; rc == TLSRPT_OK && i < tlsrpt_result_count(d); i++) {
        if (s->verdict) {
            bad |= nc(s, arrival, s->verdict, &notc);
            continue;
        }
        if (!s->st)
            continue;
        if (same_as_earlier(d, i, s->org)) {    /* one entry id for both: the store would */
            dup++;                              /* take the second for a partial retry */
            continue;
        }
        tlsrpt_count_info info;
        memset(&info, 0, sizeof info);
        tlsrpt_count_req q = { .org_key = s->org, .entry_id = id,
            .host_id = tlsrpt_spool_archive_id(s->sp), .arrival = arrival,
            .before_counters = claim, .arg = arg };
        int st = tlsrpt_store_count_req(s->st, tlsrpt_result_at(d, i), &q, &info, err, sizeof err);
        if (st == TLSRPT_COUNTED)
            counted++;
        else if (st == TLSRPT_DUPLICATE)
            dup++;
        else if (st == TLSRPT_NOT_COUNTABLE)
            bad |= nc(s, arrival, info.reason, &notc);
        else
            fprintf(stderr, "archive-seed: %s: store: %s\n", id, err), bad = 1;
    }
    if (s->st && tlsrpt_spool_done(s->sp, id, err, sizeof err) < 0)
        fprintf(stderr, "archive-seed: %s\n", err), bad = 1;
    printf("%s counted=%d duplicate=%d notcounted=%d\n", id, counted, dup, notc);
    return bad;
}

/* Archive one mail (bytes m) arriving at t, then count it. */
static int seed_mail(const seed *s, const buf *m, time_t t, unsigned k)
{
    char err[512], id[TLSRPT_SPOOL_ID_MAX];
    tlsrpt_decoder *d = tlsrpt_decoder_new(NULL, TLSRPT_MODE_MESSAGE);
    int rc = d ? tlsrpt_feed(d, m->p, m->n) : TLSRPT_ERR_NOMEM;
    if (rc == TLSRPT_OK)
        rc = tlsrpt_finish(d);
    int countable = rc == TLSRPT_OK && !s->verdict;
    tlsrpt_spool_meta *meta = make_meta(s, d, rc, k);
    tlsrpt_spool_w *w = tlsrpt_spool_begin(s->sp, t, err, sizeof err);
    if (!w || tlsrpt_spool_write(w, m->p, m->n) < 0 ||
        tlsrpt_spool_commit(w, meta, countable && (s->st || s->pending_only) ? TLSRPT_SPOOL_NEW : 0,
                            id, sizeof id, err, sizeof err) < 0) {
        fprintf(stderr, "archive-seed: %s\n", w ? tlsrpt_spool_w_error(w)[0] ? tlsrpt_spool_w_error(w) : err : err);
        tlsrpt_spool_meta_free(meta);
        tlsrpt_decoder_free(d);
        return 1;
    }
    tlsrpt_spool_meta_free(meta);
    if (s->pending_only) {
        printf("%s pending\n", id);
        tlsrpt_decoder_free(d);
        return 0;
    }
    int bad = count_entry(s, d, rc, id, t);
    tlsrpt_decoder_free(d);
    return bad;
}

/* Base64 of n bytes, 76 columns, CRLF. */
static void put_b64(buf *b, const unsigned char *p, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char q[4];
    for (size_t i = 0, col = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        q[0] = a[v >> 18 & 63], q[1] = a[v >> 12 & 63];
        q[2] = i + 1 < n ? a[v >> 6 & 63] : '=', q[3] = i + 2 < n ? a[v & 63] : '=';
        put(b, q, 4);
        if ((col += 4) == 76 || i + 3 >= n)
            put(b, "\r\n", 2), col = 0;
    }
}

/* gzip of n bytes into out (level 6). */
static void gzip_to(buf *out, const char *p, size_t n)
{
    z_stream z;
    unsigned char o[16384];
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
    z.next_in = (unsigned char *)p, z.avail_in = (uInt)n;
    out->n = 0;
    int rc;
    do {
        z.next_out = o, z.avail_out = sizeof o;
        rc = deflate(&z, Z_FINISH);
        put(out, o, sizeof o - z.avail_out);
    } while (rc == Z_OK);
    deflateEnd(&z);
}

/* bench N [TIME]: generated report mails, archived only. */
static int cmd_bench(seed *s, long n, time_t t0)
{
    buf json = { 0 }, gz = { 0 }, m = { 0 };
    char day[11], hdr[1024];
    for (long i = 0; i < n; i++) {
        int rep = (int)(i % 40), dom = (int)(i / 40 % 2), dd = (int)(i % 30);
        time_t start = t0 - 86400 * (30 - dd), arrival = t0 + (time_t)(i * (30 * 86400 / n));
        struct tm tm;
        gmtime_r(&start, &tm);
        strftime(day, sizeof day, "%Y-%m-%d", &tm);
        json.n = 0;
        int len = snprintf(hdr, sizeof hdr, "{\"organization-name\":\"Reporter %d\",\"date-range\":"
            "{\"start-datetime\":\"%sT00:00:00Z\",\"end-datetime\":\"%sT23:59:59Z\"},"
            "\"contact-info\":\"tlsrpt@r%d.example\",\"report-id\":\"bench-%ld\",\"policies\":[{\"policy\":"
            "{\"policy-type\":\"sts\",\"policy-string\":[\"version: STSv1\",\"mode: enforce\",\"mx: "
            "mx1.d%d.example\",\"max_age: 86400\"],\"policy-domain\":\"d%d.example\",\"mx-host\":"
            "[\"mx1.d%d.example\"]},\"summary\":{\"total-successful-session-count\":%ld,"
            "\"total-failure-session-count\":%ld},\"failure-details\":[{\"result-type\":"
            "\"certificate-expired\",\"sending-mta-ip\":\"192.0.2.%d\",\"receiving-mx-hostname\":"
            "\"mx1.d%d.example\",\"failed-session-count\":%ld}]}]}",
            rep, day, day, rep, i, dom, dom, dom, 100 + i % 900, i % 7, rep + 1, dom, i % 7);
        put(&json, hdr, (size_t)len);
        gzip_to(&gz, json.p, json.n);
        m.n = 0;
        len = snprintf(hdr, sizeof hdr, "From: noreply@r%d.example\r\nTo: tlsrpt@d%d.example\r\n"
            "Subject: Report Domain: d%d.example Submitter: r%d.example Report-ID: <bench-%ld>\r\n"
            "Message-ID: <bench-%ld@r%d.example>\r\nTLS-Report-Domain: d%d.example\r\n"
            "TLS-Report-Submitter: r%d.example\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; "
            "report-type=\"tlsrpt\";\r\n\tboundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
            "This is an aggregate TLS report.\r\n\r\n--b\r\nContent-Type: application/tlsrpt+gzip\r\n"
            "Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"r.json.gz\"\r\n\r\n",
            rep, dom, dom, rep, i, i, rep, dom, rep);
        put(&m, hdr, (size_t)len);
        put_b64(&m, (unsigned char *)gz.p, gz.n);
        put(&m, "\r\n--b--\r\n", 9);
        if (seed_mail(s, &m, arrival, (unsigned)i))
            return 1;
    }
    free(json.p), free(gz.p), free(m.p);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *servers = NULL, *prefix = NULL, *conf = NULL;
    time_t t = 1795000000;
    long step = 60;
    int no_count = 0, c;
    seed s = { 0 };
    char err[512];
    setvbuf(stdout, NULL, _IOLBF, 0);
    while ((c = getopt(argc, argv, "d:c:s:p:t:i:k:v:nP")) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'c': conf = optarg; break;
        case 's': servers = optarg; break;
        case 'p': prefix = optarg; break;
        case 't': t = (time_t)atoll(optarg); break;
        case 'i': step = atol(optarg); break;
        case 'k': s.org = optarg; break;
        case 'v': s.verdict = optarg; break;
        case 'n': no_count = 1; break;
        case 'P': s.pending_only = no_count = 1; break;
        default: return 2;
        }
    }
    int bench = optind < argc && strcmp(argv[optind], "bench") == 0;
    if (!dir || optind >= argc || (bench && optind + 1 >= argc) || (!bench && !no_count && !servers && !conf)) {
        fputs("usage: archive-seed -d DIR [-s SERVERS] [-p PREFIX] [-t TIME] [-i STEP] [-k ORG] "
              "[-v VERDICT] [-n] [-P] FILE... | -d DIR bench N [TIME]\n", stderr);
        return 2;
    }
    if (!(s.sp = tlsrpt_spool_open(dir, TLSRPT_SPOOL_CREATE | TLSRPT_SPOOL_NOSYNC, err, sizeof err))) {
        fprintf(stderr, "archive-seed: %s\n", err);
        return 1;
    }
    tm_config cfg;
    tlsrpt_store_conf sc;
    static char cerr[4096];
    if (tm_config_init(&cfg) != 0 || (conf && tm_config_load(&cfg, conf, cerr, sizeof cerr) != 0)) {
        fprintf(stderr, "archive-seed: %s\n", cerr);
        return 2;
    }
    tm_config_store_conf(&cfg, 1, &sc);
    if (servers)
        sc.servers = servers;
    if (prefix)
        sc.prefix = prefix;
    if (!bench && !no_count && !(s.st = tlsrpt_store_new(&sc, err, sizeof err))) {
        fprintf(stderr, "archive-seed: %s\n", err);
        return 1;
    }
    int bad = 0;
    if (bench) {
        bad = cmd_bench(&s, atol(argv[optind + 1]), optind + 2 < argc ? (time_t)atoll(argv[optind + 2]) : t);
    } else {
        buf m = { 0 };
        for (int i = optind; i < argc; i++, t += step) {
            if (read_crlf(argv[i], &m) < 0) {
                perror(argv[i]);
                bad = 1;
                continue;
            }
            bad |= seed_mail(&s, &m, t, (unsigned)i);
        }
        free(m.p);
    }
    tlsrpt_store_free(s.st);
    tlsrpt_spool_close(s.sp);
    tm_config_free(&cfg);
    return bad;
}
