/*
 * test_store_concurrency.c - store/ counting under load against real
 * memcacheds this test starts itself on 127.0.0.1 and random free ports
 * (killed at exit, on a signal, and by PR_SET_PDEATHSIG if we crash):
 * 8 threads counting overlapping reports, each twice (every sum and
 * index set exact, each report counted once), two stores racing on the
 * same new index members (each member once), and a store over two
 * servers (every key lands where libmemcached's hashing reads it).
 * Reports are built by hand. Prints SKIP when no memcached is installed.
 */
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <libmemcached/memcached.h>
#include "tlib.h"
#include "tlib_memcached.h"
#include "tlib_store.h"
#include "store.h"

static pid_t mc_pid, mc_pid2;       /* main memcached, second one (two-server test) */
static int mc_port;
static memcached_st *rd;            /* reads values back from the main one */
static char servers[64];            /* "127.0.0.1:<mc_port>" */

#define CT_THREADS 8
#define CT_PER 40
#define CT_N (CT_THREADS * CT_PER)
static const char *const ct_orgs[] = { "org0", "Org One", "org2", "org3", "org4" };
static const char *const ct_doms[] = { "c1.example", "c2.example", "c3.example" };
static const char *const ct_days[] = { "2026-06-01", "2026-06-02" };
static const char *const ct_types[] = { "dnssec-invalid", "tlsa-invalid", "zzz", "dane-required" };
static const char *const ct_mxs[] = { "mx-a.example", "mx-b.example", "mx-c.example" };
static const char *const ct_orgenc[] = { "org0", "Org%20One", "org2", "org3", "org4" };

typedef struct ct_arg {
    tlsrpt_store *st;
    int id;
    int counted, dup, failed;
} ct_arg;

/* Build report g of the concurrency test. */
static void ct_report(tlib_tr *t, int g, char *rid, size_t n)
{
    snprintf(rid, n, "c-%d", g);
    tlib_tr_init(t, ct_orgs[g % 5], rid, ct_days[(g / 3) % 2]);
    int p = tlib_tr_policy(t, "sts", ct_doms[g % 3], g % 7, g % 4);
    tlib_tr_ps(t, p, g % 2 ? "mode: enforce" : "mode: testing");
    tlib_tr_fail(t, p, ct_types[g % 4], ct_mxs[g % 3], g % 3);
}

/* Thread body: count its own reports and its neighbour's (duplicates race). */
static void *ct_thread(void *v)
{
    ct_arg *a = v;
    char rid[32], err[512];
    tlsrpt_count_info info;
    tlib_tr t;
    for (int j = 0; j < CT_PER; j++) {
        for (int k = 0; k < 2; k++) {
            int g = ((a->id + k) % CT_THREADS) * CT_PER + j;
            ct_report(&t, g, rid, sizeof rid);
            int rc = tlsrpt_store_count(a->st, &t.r, &info, err, sizeof err);
            a->counted += rc == TLSRPT_COUNTED;
            a->dup += rc == TLSRPT_DUPLICATE;
            if (rc == TLSRPT_STORE_FAILED && a->failed++ == 0)
                printf("  thread %d: %s\n", a->id, err);
        }
    }
    return NULL;
}

/* Expected sums for one (domain, day) of the concurrency test. */
static void ct_check_dd(int d, int y)
{
    long long ok = 0, fail = 0, reps = 0, org_ok[5] = { 0 }, type[4] = { 0 }, mx[3] = { 0 }, enf = 0;
    char key[300], want_orgs[200] = "", want_types[200] = "", want_mxs[200] = "";
    for (int g = 0; g < CT_N; g++) {
        if (g % 3 != d || (g / 3) % 2 != y)
            continue;
        ok += g % 7, fail += g % 4, reps++, org_ok[g % 5] += g % 7, enf += g % 2;
        type[g % 4] += g % 3, mx[g % 3] += g % 3;
    }
    snprintf(key, sizeof key, "c:d:%s:%s:", ct_doms[d], ct_days[y]);
    size_t kl = strlen(key);
    snprintf(key + kl, sizeof key - kl, "ok");
    tlib_mc_check_num(rd, key, ok, "concurrent ok exact");
    snprintf(key + kl, sizeof key - kl, "fail");
    tlib_mc_check_num(rd, key, fail, "concurrent fail exact");
    snprintf(key + kl, sizeof key - kl, "reports");
    tlib_mc_check_num(rd, key, reps, "concurrent reports exact");
    snprintf(key + kl, sizeof key - kl, "mode:enforce");
    tlib_mc_check_num(rd, key, enf ? enf : -1, "concurrent mode exact");
    for (int o = 0; o < 5; o++) {
        snprintf(key + kl, sizeof key - kl, "org:%s:ok", ct_orgenc[o]);
        tlib_mc_check_num(rd, key, org_ok[o] || reps ? org_ok[o] : -1, "concurrent org ok exact");
        strcat(want_orgs, " "), strcat(want_orgs, ct_orgenc[o]);
    }
    for (int i = 0; i < 4; i++) {
        const char *tn = i == 2 ? "other" : ct_types[i];
        snprintf(key + kl, sizeof key - kl, "type:%s", tn);
        tlib_mc_check_num(rd, key, type[i] ? type[i] : -1, "concurrent type exact");
        if (type[i])
            strcat(want_types, " "), strcat(want_types, tn);
    }
    for (int i = 0; i < 3; i++) {
        snprintf(key + kl, sizeof key - kl, "mx:%s:fail", ct_mxs[i]);
        tlib_mc_check_num(rd, key, mx[i] ? mx[i] : -1, "concurrent mx exact");
        if (mx[i])
            strcat(want_mxs, " "), strcat(want_mxs, ct_mxs[i]);
    }
    snprintf(key + kl, sizeof key - kl, "orgs");
    tlib_mc_check_set(rd, key, want_orgs, "concurrent orgs set: each once");
    snprintf(key + kl, sizeof key - kl, "types");
    tlib_mc_check_set(rd, key, want_types, "concurrent types set: each once");
    snprintf(key + kl, sizeof key - kl, "mxs");
    tlib_mc_check_set(rd, key, want_mxs, "concurrent mxs set: each once");
}

/* 8 threads, overlapping orgs/domains/days, every report counted twice. */
static void test_concurrency(void)
{
    tlsrpt_store *st = tlib_mkstore(servers, "c:", NULL, 0);
    pthread_t th[CT_THREADS];
    ct_arg args[CT_THREADS];
    int counted = 0, dup = 0, failed = 0;
    char key[100];
    T_CHECK(st != NULL, "concurrency: store created");
    if (!st)
        return;
    for (int i = 0; i < CT_THREADS; i++) {
        args[i] = (ct_arg){ st, i, 0, 0, 0 };
        pthread_create(&th[i], NULL, ct_thread, &args[i]);
    }
    for (int i = 0; i < CT_THREADS; i++) {
        pthread_join(th[i], NULL);
        counted += args[i].counted, dup += args[i].dup, failed += args[i].failed;
    }
    T_INTEQ(failed, 0, "no store failure under concurrency");
    T_INTEQ(counted, CT_N, "each report counted exactly once");
    T_INTEQ(dup, CT_N, "each second count a duplicate");
    tlib_mc_check_set(rd, "c:domains", "c1.example c2.example c3.example",
                      "concurrent domains set: each once");
    for (int d = 0; d < 3; d++) {
        snprintf(key, sizeof key, "c:d:%s:days", ct_doms[d]);
        tlib_mc_check_set(rd, key, "2026-06-01 2026-06-02", "concurrent days set: each once");
        for (int y = 0; y < 2; y++)
            ct_check_dd(d, y);
    }
    tlsrpt_store_free(st);
}

#define RC_ROUNDS 60
#define RC_MX 4

/* One of two racing stores (as two processes would be: own connections). */
typedef struct rc_arg {
    tlsrpt_store *st;
    pthread_barrier_t *bar;
    char side;
    int counted, failed;
    unsigned rt_hist[8];        /* round trips per report (7 = 7 or more) */
} rc_arg;

/* Thread body: each round, count a report whose index members are all new
   (side a: mx0..mx3, side b: mx2..mx5, so both may create the same set). */
static void *rc_thread(void *v)
{
    rc_arg *a = v;
    char rid[32], dom[40], mx[RC_MX][64], err[512];
    tlsrpt_count_info info;
    tlib_tr t;
    for (int r = 0; r < RC_ROUNDS; r++) {
        snprintf(rid, sizeof rid, "%c-%d", a->side, r);
        snprintf(dom, sizeof dom, "r%d.race.example", r);
        tlib_tr_init(&t, "Race Org", rid, "2026-06-03");
        int p = tlib_tr_policy(&t, "sts", dom, 10, RC_MX);
        for (int i = 0; i < RC_MX; i++) {
            snprintf(mx[i], sizeof mx[i], "mx%d.%s", i + (a->side == 'b') * 2, dom);
            tlib_tr_fail(&t, p, ct_types[i], mx[i], 1);
        }
        pthread_barrier_wait(a->bar);
        int rc = tlsrpt_store_count(a->st, &t.r, &info, err, sizeof err);
        a->counted += rc == TLSRPT_COUNTED;
        if (rc == TLSRPT_COUNTED)
            a->rt_hist[info.round_trips < 7 ? info.round_trips : 7]++;
        if (rc == TLSRPT_STORE_FAILED && a->failed++ == 0)
            printf("  race %c: %s\n", a->side, err);
    }
    return NULL;
}

/* Two stores count different reports with the same new members at the same moment. */
static void test_race_new_members(void)
{
    pthread_barrier_t bar;
    pthread_t th[2];
    rc_arg a[2] = { { tlib_mkstore(servers, "rc:", NULL, 0), &bar, 'a', 0, 0, { 0 } },
                    { tlib_mkstore(servers, "rc:", NULL, 0), &bar, 'b', 0, 0, { 0 } } };
    char key[200], want[4096] = "", mxs[600];
    T_CHECK(a[0].st && a[1].st, "race: two stores created");
    if (a[0].st && a[1].st) {
        pthread_barrier_init(&bar, NULL, 2);
        for (int i = 0; i < 2; i++)
            pthread_create(&th[i], NULL, rc_thread, &a[i]);
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&bar);
        printf("  race: reports by round trips 3:%u 4:%u 5:%u 6+:%u\n",
               a[0].rt_hist[3] + a[1].rt_hist[3], a[0].rt_hist[4] + a[1].rt_hist[4],
               a[0].rt_hist[5] + a[1].rt_hist[5], a[0].rt_hist[6] + a[1].rt_hist[6] + a[0].rt_hist[7] + a[1].rt_hist[7]);
        T_INTEQ(a[0].failed + a[1].failed, 0, "race: no store failure");
        T_INTEQ(a[0].counted + a[1].counted, 2 * RC_ROUNDS, "race: every report counted");
        int sets_ok = 1;
        for (int r = 0; r < RC_ROUNDS; r++) {
            size_t wl = strlen(want);
            snprintf(want + wl, sizeof want - wl, " r%d.race.example", r);
            snprintf(key, sizeof key, "rc:d:r%d.race.example:2026-06-03:ok", r);
            sets_ok &= tlib_mc_get_num(rd, key) == 20;
            snprintf(key, sizeof key, "rc:d:r%d.race.example:2026-06-03:mxs", r);
            mxs[0] = 0;
            for (int i = 0; i < RC_MX + 2; i++) {
                size_t ml = strlen(mxs);
                snprintf(mxs + ml, sizeof mxs - ml, " mx%d.r%d.race.example", i, r);
            }
            tlib_mc_check_set(rd, key, mxs, "race: mxs set lists each member once");
            snprintf(key, sizeof key, "rc:d:r%d.race.example:days", r);
            tlib_mc_check_set(rd, key, "2026-06-03", "race: days set lists the day once");
        }
        T_CHECK(sets_ok, "race: both reports in every ok counter");
        tlib_mc_check_set(rd, "rc:domains", want, "race: domains set lists each domain once");
    }
    tlsrpt_store_free(a[0].st);
    tlsrpt_store_free(a[1].st);
}

/* Bursts must put every key where libmemcached's consistent hashing reads it. */
static void test_two_servers(void)
{
    char two[128], err[512], key[400];
    int port2 = tlib_mc_free_port();
    tlsrpt_count_info info;
    tlib_tr t;
    if (port2 < 0 || tlib_mc_spawn(port2, &mc_pid2) != 0) {
        T_CHECK(0, "second memcached started");
        return;
    }
    snprintf(two, sizeof two, "%s, 127.0.0.1:%d", servers, port2);
    tlsrpt_store_conf conf = { .servers = two, .prefix = "two:", .timeout_ms = 500 };
    tlsrpt_store *st = tlsrpt_store_new(&conf, err, sizeof err);
    memcached_st *r2 = tlsrpt_store_memc_new(&conf, err, sizeof err);     /* reads both servers */
    T_CHECK(st && r2, "two-server store and reader");
    if (!st || !r2)
        goto out;
    tlib_tr_init(&t, "Two Org", "2s", "2026-05-21");
    int p = tlib_tr_policy(&t, "sts", "two.example", 50, 20);
    static char mx[4][32];
    for (int i = 0; i < 4; i++) {
        snprintf(mx[i], sizeof mx[i], "mx%d.two.example", i);
        tlib_tr_fail(&t, p, "validation-failure", mx[i], 5);
    }
    T_INTEQ(tlsrpt_store_count(st, &t.r, &info, err, sizeof err), TLSRPT_COUNTED, "two-server count");
    tlib_mc_check_num(r2, "two:d:two.example:2026-05-21:ok", 50, "two servers: ok where libmemcached looks");
    tlib_mc_check_num(r2, "two:d:two.example:2026-05-21:type:validation-failure", 20, "two servers: type");
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "two:d:two.example:2026-05-21:mx:%s:fail", mx[i]);
        tlib_mc_check_num(r2, key, 5, "two servers: mx counter where libmemcached looks");
    }
    tlib_mc_check_set(r2, "two:d:two.example:2026-05-21:mxs",
                      "mx0.two.example mx1.two.example mx2.two.example mx3.two.example", "two servers: mxs set");
    long long on_main = 0;
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "two:d:two.example:2026-05-21:mx:%s:fail", mx[i]);
        on_main += tlib_mc_get_num(rd, key) > 0;
    }
    printf("  %lld of 4 mx counters on the first server\n", on_main);
    T_INTEQ(tlsrpt_store_count(st, &t.r, &info, err, sizeof err), TLSRPT_DUPLICATE, "two-server duplicate");
out:
    if (r2)
        memcached_free(r2);
    tlsrpt_store_free(st);
    tlib_mc_stop(&mc_pid2);
}

/* Concurrency and two-server checks against private memcacheds. */
int main(void)
{
    char err[256];
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    if (tlib_mc_boot("store concurrency", &mc_port, &mc_pid, servers, sizeof servers) != 0)
        T_MAIN_END();
    tlsrpt_store_conf rconf = { .servers = servers, .timeout_ms = 1000 };
    rd = tlsrpt_store_memc_new(&rconf, err, sizeof err);
    if (!rd) {
        printf("  memc_new: %s\n", err);
        T_CHECK(0, "reader connects");
    } else {
        test_concurrency();
        test_race_new_members();
        test_two_servers();
        memcached_free(rd);
    }
    tlib_mc_stop(&mc_pid);
    T_MAIN_END();
}
