/*
 * store.c - store cost for `make bench`: the time tlsrpt_store_count takes
 * to count one report with about 40 distinct counter keys into a real
 * memcached, against the time of one plain memcached incr round trip (binary
 * protocol, as the store uses, on its own connection).
 *
 * usage: store SERVERS N RUNS
 *        store --rebuild SERVERS N     (tally N small archived reports, then write them)
 * Each run counts N reports (each with its own report-id, so none is a
 * duplicate), each followed by one increment (interleaved: on a shared machine
 * two separate loops see different loads); one line per run:
 *   run=I store_us=F incr_us=F keys=K round_trips=R p50_us=F max_us=F incr_p50_us=F
 * (microseconds per report / per incr; keys = counter keys of one report as
 * planned, 44 since schema v2's ptype: counters; round_trips =
 * tlsrpt_count_info.round_trips of the last report; p50_us / max_us: median and
 * slowest single report, to show stalls).
 * The rebuild mode prints one line:
 *   rebuild reports=N tally_s=F write_s=F reports_per_s=F keys=K
 * (the tally of N reports of 2 domains over 30 days from 40 reporters, with a
 * failure each, then tlsrpt_store_rebuild of every day into an empty prefix).
 * Errors: exit 1 when memcached fails or a report is not counted.
 */
#include <libmemcached/memcached.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "store.h"

#define N_DOM 2
#define N_TYPE 6
#define N_MX 8

/* The per-run state: one report whose report-id is rewritten per count. */
typedef struct bench_report {
    tlsrpt_report r;
    tlsrpt_policy pol[N_DOM];
    tlsrpt_failure fail[N_DOM][N_TYPE * N_MX];
    char *pstr[1];
    char rid[64];
    char mx[N_MX][32];
} bench_report;

static const char *const types[N_TYPE] = {
    "starttls-not-supported", "certificate-host-mismatch", "certificate-expired",
    "certificate-not-trusted", "validation-failure", "sts-policy-invalid"
};
static const char *const doms[N_DOM] = { "store-a.example", "store-b.example" };

/* Fill a report of N_DOM policies, each with N_TYPE result types x N_MX MXs:
   per domain 6 fixed counters + N_TYPE + N_MX = 20, 40 in all. */
static void build(bench_report *b)
{
    memset(b, 0, sizeof *b);
    b->pstr[0] = "version: STSv1\nmode: enforce\nmx: *.example\nmax_age: 86400";
    b->r.organization_name = "Store Bench Inc.";
    b->r.report_id = b->rid;
    b->r.start_raw = "2026-11-29T00:00:00Z";
    b->r.end_raw = "2026-11-29T23:59:59Z";
    b->r.start = 1795910400;
    b->r.end = b->r.start + 86399;
    b->r.has_start = b->r.has_end = 1;
    strcpy(b->r.day, "2026-11-29");
    b->r.policies = b->pol;
    b->r.n_policies = N_DOM;
    for (int m = 0; m < N_MX; m++)
        snprintf(b->mx[m], sizeof b->mx[m], "mx%d.store.example", m);
    for (int d = 0; d < N_DOM; d++) {
        tlsrpt_policy *p = &b->pol[d];
        p->policy_type = "sts";
        p->policy_string = b->pstr;
        p->n_policy_string = 1;
        p->policy_domain = (char *)doms[d];
        p->total_successful = 1000;
        p->total_failure = N_TYPE * N_MX;
        p->has_total_successful = p->has_total_failure = 1;
        p->failures = b->fail[d];
        p->n_failures = N_TYPE * N_MX;
        for (int i = 0; i < N_TYPE * N_MX; i++) {
            tlsrpt_failure *f = &b->fail[d][i];
            f->result_type = (char *)types[i % N_TYPE];
            f->receiving_mx_hostname = b->mx[i / N_TYPE];
            f->failed_session_count = 1;
            f->has_failed_session_count = 1;
        }
    }
}

/* Seconds since an arbitrary origin. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Compare two doubles for qsort. */
static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Count n reports with fresh report-ids, each followed by one increment of a plain key
   (interleaved, so both see the same load on a shared machine); microseconds per
   report into *store_us and per incr into *incr_us, -1 on failure. lat / ilat (n
   entries) receive each report's / incr's time in microseconds. */
static int run_both(tlsrpt_store *st, memcached_st *mc, bench_report *b, int run, long n, unsigned *rt,
                    double *lat, double *ilat, double *store_us, double *incr_us)
{
    static const char key[] = "tlsrpt-bench:incr";
    tlsrpt_count_info info;
    char err[512];
    uint64_t v;
    double ts = 0, ti = 0;
    memcached_return_t mrc = memcached_set(mc, key, strlen(key), "0", 1, 0, 0);
    for (long i = 0; i < n && mrc == MEMCACHED_SUCCESS; i++) {
        snprintf(b->rid, sizeof b->rid, "store-bench-%ld-%d-%ld", (long)time(NULL), run, i);
        double t0 = now();
        int rc = tlsrpt_store_count(st, &b->r, &info, err, sizeof err);
        double t1 = now();
        mrc = memcached_increment(mc, key, strlen(key), 1, &v);
        double t2 = now();
        if (rc != TLSRPT_COUNTED) {
            fprintf(stderr, "store: report %ld not counted (%d): %s\n", i, rc, err);
            return -1;
        }
        *rt = info.round_trips;
        lat[i] = (t1 - t0) * 1e6;
        ilat[i] = (t2 - t1) * 1e6;
        ts += t1 - t0;
        ti += t2 - t1;
    }
    if (mrc != MEMCACHED_SUCCESS) {
        fprintf(stderr, "store: incr failed: %s\n", memcached_strerror(mc, mrc));
        return -1;
    }
    *store_us = ts * 1e6 / (double)n;
    *incr_us = ti * 1e6 / (double)n;
    return 0;
}

/* The rebuild mode: tally n small reports and write them; 0 or 1. */
static int bench_rebuild(const char *servers, long n)
{
    static bench_report b;
    tlsrpt_store_conf conf;
    char err[512], eid[64], org[32];
    memset(&conf, 0, sizeof conf);
    conf.servers = servers;
    conf.prefix = "tlsrpt-rbench:";
    conf.counter_ttl = 3600;
    conf.dedup_ttl = 3600;
    tlsrpt_store *st = tlsrpt_store_new(&conf, err, sizeof err);
    tlsrpt_tally *t = st ? tlsrpt_tally_new(st, 0, err, sizeof err) : NULL;
    if (!t) {
        fprintf(stderr, "store: %s\n", err);
        return 1;
    }
    build(&b);
    for (int d = 0; d < N_DOM; d++)
        b.pol[d].n_failures = 1;                /* small reports: one failure each */
    double t0 = now();
    for (long i = 0; i < n; i++) {
        tlsrpt_count_req q = { .entry_id = eid, .host_id = "bench-host", .arrival = 1793000000 + 60 * i };
        snprintf(b.rid, sizeof b.rid, "rb-%ld", i);
        snprintf(eid, sizeof eid, "20261101T000000Z-bench-1-%ld", i);
        snprintf(org, sizeof org, "Reporter %ld", i % 40);
        snprintf(b.r.day, sizeof b.r.day, "2026-10-%02ld", 1 + i % 30);
        b.r.organization_name = org;
        if (tlsrpt_tally_add(t, &b.r, &q, NULL, err, sizeof err) != TLSRPT_COUNTED) {
            fprintf(stderr, "store: tally of report %ld: %s\n", i, err);
            return 1;
        }
    }
    double t1 = now();
    tlsrpt_rebuild_result res;
    tlsrpt_rebuild_opts o = { .hosts = (const char *const[]){ "bench-host" }, .n_hosts = 1 };
    if (tlsrpt_store_rebuild(st, t, &o, &res, err, sizeof err) != 0) {
        fprintf(stderr, "store: rebuild: %s\n", err);
        return 1;
    }
    double t2 = now();
    printf("rebuild reports=%ld tally_s=%.3f write_s=%.3f reports_per_s=%.0f keys=%zu\n", n, t1 - t0,
           t2 - t1, (double)n / (t2 - t0), res.written);
    tlsrpt_tally_free(t);
    tlsrpt_store_free(st);
    return 0;
}

int main(int argc, char **argv)
{
    static bench_report b;
    tlsrpt_store_conf conf;
    char err[512];
    unsigned rt = 0;

    if (argc == 4 && strcmp(argv[1], "--rebuild") == 0)
        return bench_rebuild(argv[2], atol(argv[3]));
    if (argc != 4) {
        fputs("usage: store SERVERS N RUNS | store --rebuild SERVERS N\n", stderr);
        return 2;
    }
    long n = atol(argv[2]), runs = atol(argv[3]);
    if (n < 1 || runs < 1)
        return 2;
    memset(&conf, 0, sizeof conf);
    conf.servers = argv[1];
    conf.prefix = "tlsrpt-bench:";
    conf.counter_ttl = 3600;
    conf.dedup_ttl = 3600;
    tlsrpt_store *st = tlsrpt_store_new(&conf, err, sizeof err);
    memcached_st *mc = memcached_create(NULL);
    if (!st || !mc) {
        fprintf(stderr, "store: %s\n", st ? "out of memory" : err);
        return 1;
    }
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 1);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
    memcached_server_list_st list = memcached_servers_parse(argv[1]);
    if (!list || memcached_server_push(mc, list) != MEMCACHED_SUCCESS) {
        fprintf(stderr, "store: bad server list %s\n", argv[1]);
        return 1;
    }
    memcached_server_list_free(list);
    double *lat = calloc((size_t)n, sizeof *lat), *ilat = calloc((size_t)n, sizeof *ilat);
    if (!lat || !ilat)
        return 1;
    build(&b);
    for (long r = 0; r < runs; r++) {
        double s, i;
        if (run_both(st, mc, &b, (int)r, n, &rt, lat, ilat, &s, &i) < 0)
            return 1;
        qsort(lat, (size_t)n, sizeof *lat, cmp_dbl);
        qsort(ilat, (size_t)n, sizeof *ilat, cmp_dbl);
        printf("run=%ld store_us=%.2f incr_us=%.2f keys=%d round_trips=%u p50_us=%.1f max_us=%.1f "
               "incr_p50_us=%.1f\n", r, s, i, N_DOM * (8 + N_TYPE + N_MX), rt, lat[n / 2], lat[n - 1],
               ilat[n / 2]);
        fflush(stdout);
    }
    free(lat);
    free(ilat);
    memcached_free(mc);
    tlsrpt_store_free(st);
    return 0;
}
