/*
 * stats-seed.c - seed memcached for tests/t-stats.sh and the bench's scale row
 * through the store's own code (store/store.h), never by writing keys by hand.
 *
 *   stats-seed [-s SERVERS] [-p PREFIX] [-k ORG_KEY] [-n MAXNEWKEYS] [-D MAXDOMAINS] count FILE...
 *       decode each report file (JSON, gzip, zip or mail) and count it with
 *       tlsrpt_store_count_req; -k gives the DKIM signer's organisational domain
 *       (identity, org:ORG:name label), as the milter does with Authentication.
 *   stats-seed [-s ...] partial FILE...
 *       mark each report's domains and day partial (tlsrpt_store_mark_partial), as the
 *       milter does when a count stopped half-way (info->partial)
 *   stats-seed [-s ...] nc DAY REASON [N]
 *       count N (1) report candidates not counted, arriving at noon UTC of DAY, for
 *       REASON (tlsrpt_store_not_counted)
 *   stats-seed [-s ...] mark
 *       write P epoch where it is missing (tlsrpt_store_check_loss with MARK), as the
 *       milter does at start; prints "lost" when the check found a loss, else "ok"
 *   stats-seed [-s ...] bench NDOMAINS NDAYS LASTDAY
 *       generate and count the scale data set: NDOMAINS domains d00000.bench.example...
 *       for the NDAYS days ending LASTDAY, reported every day by two signers
 *       (google.com "Google LLC", microsoft.com "Microsoft Corporation") in reports of
 *       250 policies; domain i: sts ok 1000 from Google with i % 5 failures
 *       (certificate-expired at mx1), sts ok 500 from Microsoft, and a tlsa twin of the
 *       Google policy when i % 10 == 0 (rule 12: counted once). Prints the reports counted.
 *
 * bench marks P epoch first (mark). Budgets are raised (-n and -D for MaxNewKeysPerReport
 * and MaxDomainsPerReporter; both default to 100000 for bench)
 * so that the generated reports are counted whole. Exit: 0 when every report was
 * counted (or a duplicate), 1 otherwise, 2 on a usage error.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "store.h"
#include "tlsrpt.h"

/* Options shared by the commands. */
typedef struct seed_opts {
    const char *servers, *prefix, *org_key;
    size_t max_new_keys;
    size_t max_domains;             /* -D: MaxDomainsPerReporter, 0 = the store default */
} seed_opts;

/* A growing text buffer; exits on out of memory. */
typedef struct sbuf { char *p; size_t n, cap; } sbuf;

/* Append printf output to b. */
static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->n) {
            b->n += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (size_t)(n > 0 ? n : 0) + 4096;
        if (!(b->p = realloc(b->p, b->cap))) {
            fputs("stats-seed: out of memory\n", stderr);
            exit(1);
        }
    }
}

/* Count one decoded report; 0 counted or duplicate, 1 otherwise (reason printed). */
static int count_one(tlsrpt_store *st, const seed_opts *o, const char *name,
                     const tlsrpt_report *r)
{
    tlsrpt_count_req q;
    tlsrpt_count_info info;
    char err[512] = "";

    memset(&q, 0, sizeof q);
    memset(&info, 0, sizeof info);
    q.org_key = o->org_key;
    int rc = tlsrpt_store_count_req(st, r, &q, &info, err, sizeof err);
    if (rc == TLSRPT_COUNTED || rc == TLSRPT_DUPLICATE)
        return 0;
    fprintf(stderr, "stats-seed: %s: not counted: %s %s\n", name, info.reason, err);
    return 1;
}

/* Decode buf and count every report in it. */
static int count_buf(tlsrpt_store *st, const seed_opts *o, const char *name, const char *buf,
                     size_t len)
{
    tlsrpt_report *r = NULL;
    char err[512];

    if (tlsrpt_decode_buffer(buf, len, NULL, TLSRPT_MODE_AUTO, &r, err, sizeof err) != TLSRPT_OK) {
        fprintf(stderr, "stats-seed: %s: %s\n", name, err);
        return 1;
    }
    int rc = count_one(st, o, name, r);
    tlsrpt_report_free(r);
    return rc;
}

/* Read a whole file into b; 0 or -1. */
static int read_file(const char *path, sbuf *b)
{
    FILE *f = fopen(path, "rb");
    char chunk[65536];
    size_t n;

    if (!f)
        return -1;
    b->n = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        while (b->cap - b->n < n + 1) {
            if (!(b->p = realloc(b->p, b->cap = b->cap * 2 + n + 1))) {
                fputs("stats-seed: out of memory\n", stderr);
                exit(1);
            }
        }
        memcpy(b->p + b->n, chunk, n);
        b->n += n;
    }
    int err = ferror(f);
    fclose(f);
    return err ? -1 : 0;
}

/* count FILE...: every file through the decoder and the store. */
static int cmd_count(tlsrpt_store *st, const seed_opts *o, int argc, char **argv)
{
    sbuf b = { NULL, 0, 0 };
    int bad = 0;

    for (int i = 0; i < argc; i++) {
        if (read_file(argv[i], &b) < 0) {
            perror(argv[i]);
            bad = 1;
            continue;
        }
        bad |= count_buf(st, o, argv[i], b.p ? b.p : "", b.n);
    }
    free(b.p);
    return bad;
}

/* partial FILE...: flag each report's domains and day. */
static int cmd_partial(tlsrpt_store *st, const seed_opts *o, int argc, char **argv)
{
    sbuf b = { NULL, 0, 0 };
    char err[512];
    int bad = 0;

    for (int i = 0; i < argc; i++) {
        tlsrpt_report *r = NULL;
        tlsrpt_count_req q;
        memset(&q, 0, sizeof q);
        q.org_key = o->org_key;
        if (read_file(argv[i], &b) < 0 ||
            tlsrpt_decode_buffer(b.p ? b.p : "", b.n, NULL, TLSRPT_MODE_AUTO, &r, err,
                                 sizeof err) != TLSRPT_OK ||
            tlsrpt_store_mark_partial(st, r, &q, err, sizeof err) != TLSRPT_COUNTED) {
            fprintf(stderr, "stats-seed: %s: cannot mark partial\n", argv[i]);
            bad = 1;
        }
        tlsrpt_report_free(r);
    }
    free(b.p);
    return bad;
}

/* nc DAY REASON [N]: report candidates not counted. */
static int cmd_nc(tlsrpt_store *st, int argc, char **argv)
{
    struct tm tm;
    char err[512];

    memset(&tm, 0, sizeof tm);
    if (argc < 2 || argc > 3 || !strptime(argv[0], "%Y-%m-%d", &tm))
        return 2;
    time_t arrival = timegm(&tm) + 12 * 3600;
    int n = argc == 3 ? atoi(argv[2]) : 1;
    for (int i = 0; i < n; i++)
        if (tlsrpt_store_not_counted(st, arrival, argv[1], err, sizeof err) != TLSRPT_COUNTED) {
            fprintf(stderr, "stats-seed: not_counted: %s\n", err);
            return 1;
        }
    return 0;
}

/* mark: P epoch where missing; verbose: say whether the check found a loss. */
static int cmd_mark(tlsrpt_store *st, int verbose)
{
    tlsrpt_loss loss;
    char err[512];

    if (tlsrpt_store_check_loss(st, TLSRPT_LOSS_MARK, &loss, err, sizeof err) < 0) {
        fprintf(stderr, "stats-seed: check_loss: %s\n", err);
        return 1;
    }
    if (verbose)
        printf("%s\n", loss.loss ? "lost" : "ok");
    return 0;
}

/* One generated report: signer org (0 Google, 1 Microsoft), day, domains [from, to). */
static void bench_report(sbuf *b, int org, const char *day, int from, int to)
{
    static const char *const names[2] = { "Google LLC", "Microsoft Corporation" };

    b->n = 0;
    sb_printf(b, "{\"organization-name\":\"%s\",\"date-range\":{\"start-datetime\":"
              "\"%sT00:00:00Z\",\"end-datetime\":\"%sT23:59:59Z\"},\"contact-info\":"
              "\"tlsrpt@bench.example\",\"report-id\":\"%d/%s/%d\",\"policies\":[",
              names[org], day, day, org, day, from);
    for (int i = from; i < to; i++) {
        int fail = org == 0 ? i % 5 : 0, twin = org == 0 && i % 10 == 0;
        for (int t = 0; t <= twin; t++) {
            sb_printf(b, "%s{\"policy\":{\"policy-type\":\"%s\",\"policy-string\":"
                      "[\"version: STSv1\",\"mode: testing\",\"max_age: 86400\"],"
                      "\"policy-domain\":\"d%05d.bench.example\"},\"summary\":"
                      "{\"total-successful-session-count\":%d,"
                      "\"total-failure-session-count\":%d}",
                      i == from && t == 0 ? "" : ",", t ? "tlsa" : "sts", i,
                      org == 0 ? 1000 : 500, fail);
            if (fail)
                sb_printf(b, ",\"failure-details\":[{\"result-type\":\"certificate-expired\","
                          "\"receiving-mx-hostname\":\"mx1.d%05d.bench.example\","
                          "\"failed-session-count\":%d}]", i, fail);
            sb_printf(b, "}");
        }
    }
    sb_printf(b, "]}");
}

/* bench NDOMAINS NDAYS LASTDAY: the scale data set. */
static int cmd_bench(tlsrpt_store *st, seed_opts *o, int argc, char **argv)
{
    static const char *const keys[2] = { "google.com", "microsoft.com" };
    struct tm tm;
    sbuf b = { NULL, 0, 0 };
    int bad = 0, n = 0;

    if (argc != 3)
        return 2;
    int ndom = atoi(argv[0]), ndays = atoi(argv[1]);
    memset(&tm, 0, sizeof tm);
    if (ndom < 1 || ndays < 1 || !strptime(argv[2], "%Y-%m-%d", &tm))
        return 2;
    time_t last = timegm(&tm);
    for (int d = ndays - 1; d >= 0; d--) {
        char day[11];
        time_t t = last - (time_t)d * 86400;
        strftime(day, sizeof day, "%Y-%m-%d", gmtime_r(&t, &tm));
        for (int org = 0; org < 2; org++)
            for (int from = 0; from < ndom; from += 250) {
                int to = from + 250 < ndom ? from + 250 : ndom;
                bench_report(&b, org, day, from, to);
                o->org_key = keys[org];
                bad |= count_buf(st, o, day, b.p, b.n);
                n++;
            }
    }
    free(b.p);
    printf("%d\n", n);
    return bad;
}

/* Parse the options, open the store, run the command. */
int main(int argc, char **argv)
{
    seed_opts o = { "127.0.0.1:11211", "tlsrpt:", NULL, 0, 0 };
    tlsrpt_store_conf sc;
    char err[512];
    int c, rc;

    while ((c = getopt(argc, argv, "s:p:k:n:D:")) != -1) {
        switch (c) {
        case 's': o.servers = optarg; break;
        case 'p': o.prefix = optarg; break;
        case 'k': o.org_key = optarg; break;
        case 'n': o.max_new_keys = (size_t)atol(optarg); break;
        case 'D': o.max_domains = (size_t)atol(optarg); break;
        default: return 2;
        }
    }
    if (optind >= argc) {
        fputs("usage: stats-seed [-s SERVERS] [-p PREFIX] [-k ORG_KEY] [-n N] [-D N] count FILE... |\n"
              "       partial FILE... | nc DAY REASON [N] | mark | bench NDOMAINS NDAYS LASTDAY\n",
              stderr);
        return 2;
    }
    const char *cmd = argv[optind++];
    int bench = strcmp(cmd, "bench") == 0;
    memset(&sc, 0, sizeof sc);
    sc.servers = o.servers;
    sc.prefix = o.prefix;
    sc.timeout_ms = 5000;
    sc.pool_size = 1;
    sc.max_new_keys = o.max_new_keys ? o.max_new_keys : bench ? 100000 : 0;
    sc.max_domains_per_reporter = o.max_domains ? o.max_domains : bench ? 100000 : 0;
    tlsrpt_store *st = tlsrpt_store_new(&sc, err, sizeof err);
    if (!st) {
        fprintf(stderr, "stats-seed: %s\n", err);
        return 1;
    }
    if (bench) {
        rc = cmd_mark(st, 0) != 0;              /* as the milter does at start */
        if (rc == 0)
            rc = cmd_bench(st, &o, argc - optind, argv + optind);
    } else if (strcmp(cmd, "partial") == 0)
        rc = cmd_partial(st, &o, argc - optind, argv + optind);
    else if (strcmp(cmd, "nc") == 0)
        rc = cmd_nc(st, argc - optind, argv + optind);
    else if (strcmp(cmd, "mark") == 0)
        rc = cmd_mark(st, 1);
    else if (strcmp(cmd, "count") == 0)
        rc = cmd_count(st, &o, argc - optind, argv + optind);
    else
        rc = 2;
    if (rc == 2)
        fprintf(stderr, "stats-seed: bad command line\n");
    tlsrpt_store_free(st);
    return rc;
}
