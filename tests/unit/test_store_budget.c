/*
 * test_store_budget.c - hostile senders' budgets (issue 13) against a real memcached
 * this test starts itself with 4 MB of memory (SKIP without the binary): the attack
 * report (256 policies x 100 MX names) creates at most MaxNewKeysPerReport new items
 * (memcached's curr_items before and after) and a victim's counters survive (no
 * eviction; the same report without the budget does evict, so the check can fail);
 * MX names beyond the budget fold into mx:~other in name order (counted items within
 * the budget, sums intact) and fold at no cost once ~other is there; a report with
 * nothing left is too-many-domains and leaves no marker; MaxDomainsPerReporter per
 * reporter and arrival day, exact with 4 threads racing for it; a day listing 1000
 * orgs takes a new one as org:~other.
 */
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <libmemcached/memcached.h>
#include "tlib.h"
#include "tlib_memcached.h"
#include "tlib_store.h"
#include "store.h"

static pid_t mc_pid;
static int mc_port;
static memcached_st *rd;
static char servers[64];

/* A report with nd domains "<tag>NNN.attack.example", each with nmx MX names. */
typedef struct attack {
    tlsrpt_report r;
    tlsrpt_policy *pol;
    tlsrpt_failure *f;
    char (*dom)[48];
    char (*mx)[64];
} attack;

/* Build the attack report (free with attack_free). */
static int attack_build(attack *a, const char *tag, const char *rid, int nd, int nmx)
{
    memset(a, 0, sizeof *a);
    a->pol = calloc((size_t)nd, sizeof *a->pol);
    a->f = calloc((size_t)nd * (size_t)nmx, sizeof *a->f);
    a->dom = calloc((size_t)nd, sizeof *a->dom);
    a->mx = calloc((size_t)nd * (size_t)nmx, sizeof *a->mx);
    if (!a->pol || !a->f || !a->dom || !a->mx)
        return -1;
    a->r.organization_name = "Attacker";
    a->r.report_id = (char *)rid;
    a->r.has_start = 1;
    strcpy(a->r.day, "2026-10-01");
    a->r.policies = a->pol;
    a->r.n_policies = (size_t)nd;
    for (int d = 0; d < nd; d++) {
        snprintf(a->dom[d], sizeof a->dom[d], "%s%03d.attack.example", tag, d);
        a->pol[d] = (tlsrpt_policy){ .policy_type = "sts", .policy_domain = a->dom[d],
                                     .total_successful = 1, .total_failure = nmx,
                                     .has_total_successful = 1, .has_total_failure = 1,
                                     .failures = a->f + (size_t)d * nmx, .n_failures = (size_t)nmx };
        for (int m = 0; m < nmx; m++) {
            size_t k = (size_t)d * nmx + (size_t)m;
            snprintf(a->mx[k], sizeof a->mx[k], "mx%03d.%s", m, a->dom[d]);
            a->f[k] = (tlsrpt_failure){ .result_type = m % 2 ? "validation-failure" : "dane-required",
                                        .receiving_mx_hostname = a->mx[k], .failed_session_count = 1,
                                        .has_failed_session_count = 1 };
        }
    }
    return 0;
}

/* Release an attack report. */
static void attack_free(attack *a)
{
    free(a->pol), free(a->f), free(a->dom), free(a->mx);
}

/* The attack report: at most the budget of new items; the victim survives. */
static void test_attack(void)
{
    tlsrpt_store *st = tlib_mkstore(servers, "atk:", NULL, 0);
    tlsrpt_count_info info;
    char err[512];
    attack a;
    tlib_tr t;
    if (!st || attack_build(&a, "a", "attack-1", 256, 100) != 0)
        return;
    tlib_tr_init(&t, "Victim Reporter", "v1", "2026-10-01");
    int p = tlib_tr_policy(&t, "sts", "victim.example", 500, 3);
    tlib_tr_fail(&t, p, "certificate-expired", "mx.victim.example", 3);
    T_INTEQ(tlsrpt_store_count(st, &t.r, &info, err, sizeof err), TLSRPT_COUNTED, "victim report counted");
    long long before = tlib_mc_stat(mc_port, "curr_items");
    int rc = tlsrpt_store_count(st, &a.r, &info, err, sizeof err);
    long long after = tlib_mc_stat(mc_port, "curr_items");
    printf("  attack: %lld new items (bound %u), %u domains counted: %s\n", after - before,
           info.folded.new_items, (unsigned)info.n_domains, info.folded.text);
    T_INTEQ(rc, TLSRPT_COUNTED, "attack report: counted at the coarse levels");
    T_CHECK(before > 0 && after - before <= 2000, "attack report: at most MaxNewKeysPerReport (2000) new items");
    T_CHECK(after - before <= info.folded.new_items && info.folded.new_items <= 2000,
            "attack report: the store's count of new items is an upper bound");
    T_CHECK(info.folded.domains_budget > 0 && info.n_domains + info.folded.domains_budget == 256
            && strstr(info.folded.text, "MaxNewKeysPerReport 2000"), "attack report: the log line says what was left out");
    T_INTEQ(tlib_mc_stat(mc_port, "evictions"), 0, "attack report: nothing evicted");
    tlib_mc_check_num(rd, "atk:d:victim.example:2026-10-01:ok", 500, "victim's ok survives");
    tlib_mc_check_num(rd, "atk:d:victim.example:2026-10-01:mx:mx.victim.example:fail", 3,
                      "victim's MX counter survives");
    tlib_mc_check_num(rd, "atk:d:a000.attack.example:2026-10-01:reports", 1,
                      "attack: the first domain by name counted");
    tlsrpt_store_free(st);
    attack_free(&a);
    /* the same without the budget fills the 4 MB memcached: the check above can fail */
    st = tlib_mkstore_b(servers, "atk2:", 100000, 0);
    if (st && attack_build(&a, "b", "attack-2", 256, 100) == 0) {
        before = tlib_mc_stat(mc_port, "curr_items");
        rc = tlsrpt_store_count(st, &a.r, &info, err, sizeof err);
        long long ev = tlib_mc_stat(mc_port, "evictions");
        printf("  without the budget: %s, %lld evictions, %u new items planned\n",
               rc == TLSRPT_COUNTED ? "counted" : err, ev, info.folded.new_items);
        T_CHECK(info.folded.new_items > 50000 && ev > 0,
                "without the budget the same report creates > 50000 items and evicts");
    }
    attack_free(&a);
    tlsrpt_store_free(st);
}

/* One domain with nmx new MX names mxNN.<dom> (1 failure each) of report rid. */
static void mx_report(tlib_tr *t, tlsrpt_failure *f, char (*names)[40], const char *rid, int first,
                      int nmx)
{
    tlib_tr_init(t, "Fold Org", rid, "2026-10-02");
    int p = tlib_tr_policy(t, "sts", "fold.example", 0, nmx);
    for (int i = 0; i < nmx; i++) {         /* listed last name first */
        int k = first + nmx - 1 - i;
        snprintf(names[i], 40, "mx%02d.fold.example", k);
        f[i] = (tlsrpt_failure){ .result_type = "validation-failure", .receiving_mx_hostname = names[i],
                                 .failed_session_count = 1, .has_failed_session_count = 1 };
    }
    t->pol[p].failures = f;
    t->pol[p].n_failures = (size_t)nmx;
}

/* MX names beyond the budget: in name order, the rest under mx:~other. */
static void test_mx_fold(void)
{
    static tlsrpt_failure f[40];
    static char names[40][40];
    tlsrpt_store *st = tlib_mkstore_b(servers, "fold:", 40, 0);
    tlsrpt_count_info info;
    char err[512], key[200];
    tlib_tr t;
    if (!st)
        return;
    mx_report(&t, f, names, "f1", 0, 20);
    long long before = tlib_mc_stat(mc_port, "curr_items");
    T_INTEQ(tlsrpt_store_count(st, &t.r, &info, err, sizeof err), TLSRPT_COUNTED, "fold: counted");
    long long made = tlib_mc_stat(mc_port, "curr_items") - before;
    printf("  fold: %lld items, %s\n", made, info.folded.text);
    T_CHECK(made <= 40 && made <= info.folded.new_items, "fold: at most MaxNewKeysPerReport (40) new items");
    long long kept = 0, sum = 0;
    int in_order = 1, seen_gap = 0;
    for (int k = 0; k < 20; k++) {
        snprintf(key, sizeof key, "fold:d:fold.example:2026-10-02:mx:mx%02d.fold.example:fail", k);
        long long v = tlib_mc_get_num(rd, key);
        if (v == 1) {
            kept++, sum++;
            in_order &= !seen_gap;
        } else {
            seen_gap = 1;
        }
    }
    long long other = tlib_mc_get_num(rd, "fold:d:fold.example:2026-10-02:mx:~other:fail");
    T_CHECK(kept > 0 && kept < 20 && in_order, "fold: the first MX names by name kept (not report order)");
    T_CHECK(other == 20 - kept && info.folded.mx_other == 20 - kept && info.folded.mx_dropped == 0,
            "fold: the rest under mx:~other");
    T_INTEQ(sum + other, 20, "fold: per-MX sums add up to the failures");
    tlib_mc_check_num(rd, "fold:d:fold.example:2026-10-02:type:validation-failure", 20, "fold: type: has all");
    tlsrpt_store_free(st);
    st = tlib_mkstore_b(servers, "fold:", 8, 0);
    mx_report(&t, f, names, "f2", 20, 5);
    before = tlib_mc_stat(mc_port, "curr_items");
    T_INTEQ(st ? tlsrpt_store_count(st, &t.r, &info, err, sizeof err) : -1, TLSRPT_COUNTED,
            "fold again: counted");
    made = tlib_mc_stat(mc_port, "curr_items") - before;
    long long other2 = tlib_mc_get_num(rd, "fold:d:fold.example:2026-10-02:mx:~other:fail");
    T_CHECK(made <= 8 && info.folded.mx_other >= 4 && other2 == other + info.folded.mx_other,
            "fold again: ~other is there, new names fold into it at no cost");
    tlsrpt_store_free(st);
}

/* Nothing left: too-many-domains, no marker, nothing written. */
static void test_nothing_left(void)
{
    tlsrpt_store *st = tlib_mkstore_b(servers, "tmd:", 5, 0);
    tlsrpt_count_info info;
    char err[512], v[64];
    tlib_tr t;
    tlib_tr_init(&t, "O", "n1", "2026-10-03");
    tlib_tr_policy(&t, "sts", "new.example", 1, 0);
    int rc = st ? tlsrpt_store_count(st, &t.r, &info, err, sizeof err) : -1;
    printf("  nothing left: %s\n", err);
    T_CHECK(rc == TLSRPT_NOT_COUNTABLE && strcmp(info.reason, "too-many-domains") == 0,
            "budget 5: a new domain does not fit: too-many-domains");
    T_CHECK(!tlib_mc_get_str(rd, "tmd:d:new.example:2026-10-03:ok", v, sizeof v)
            && !tlib_mc_get_str(rd, "tmd:domains", v, sizeof v), "too-many-domains: nothing written");
    rc = st ? tlsrpt_store_count(st, &t.r, &info, err, sizeof err) : -1;
    T_CHECK(rc == TLSRPT_NOT_COUNTABLE && strcmp(info.reason, "too-many-domains") == 0,
            "too-many-domains again, not a duplicate (no marker left)");
    tlsrpt_store_free(st);
}

/* A report of reporter org (org_key okey) with n domains tagNN.rep.example. */
static int rep_count(tlsrpt_store *st, const char *okey, const char *rid, const char *tag, int first,
                     int n, time_t arrival, tlsrpt_count_info *info)
{
    char dom[8][40], err[512];
    tlsrpt_policy pol[8];
    tlsrpt_count_req q = { .org_key = okey, .arrival = arrival };
    tlib_tr t;
    tlib_tr_init(&t, "Rep Org", rid, "2026-10-04");
    for (int i = 0; i < n && i < 8; i++) {
        snprintf(dom[i], sizeof dom[i], "%s%02d.rep.example", tag, first + i);
        pol[i] = (tlsrpt_policy){ .policy_type = "sts", .policy_domain = dom[i], .total_successful = 1,
                                  .has_total_successful = 1, .has_total_failure = 1 };
    }
    t.r.policies = pol;
    t.r.n_policies = (size_t)(n < 8 ? n : 8);
    return tlsrpt_store_count_req(st, &t.r, &q, info, err, sizeof err);
}

/* MaxDomainsPerReporter: 5 new domains per reporter and arrival day. */
static void test_reporter(void)
{
    tlsrpt_store *st = tlib_mkstore_b(servers, "rep:", 0, 5);
    tlsrpt_count_info info;
    time_t day1 = 1790000000, day2 = day1 + 86400;
    char v[64];
    if (!st)
        return;
    T_CHECK(rep_count(st, NULL, "r1", "d", 0, 3, day1, &info) == TLSRPT_COUNTED && info.n_domains == 3,
            "reporter: 3 new domains counted");
    T_CHECK(rep_count(st, NULL, "r2", "d", 3, 3, day1, &info) == TLSRPT_COUNTED && info.n_domains == 2
            && info.folded.domains_reporter == 1 && strstr(info.folded.text, "MaxDomainsPerReporter 5"),
            "reporter: of 3 more, 2 counted, 1 not (said in the log line)");
    tlib_mc_check_num(rd, "rep:d:d05.rep.example:2026-10-04:ok", -1, "reporter: the last by name not counted");
    T_CHECK(rep_count(st, NULL, "r3", "d", 4, 3, day1, &info) == TLSRPT_COUNTED && info.n_domains == 1,
            "reporter: a known domain still counted, the new ones not");
    T_CHECK(rep_count(st, NULL, "r4", "e", 0, 2, day1, &info) == TLSRPT_NOT_COUNTABLE
            && strcmp(info.reason, "too-many-domains") == 0, "reporter: only new domains: too-many-domains");
    T_CHECK(rep_count(st, "other.example", "r5", "e", 0, 2, day1, &info) == TLSRPT_COUNTED && info.n_domains == 2,
            "reporter: another reporter has its own allowance");
    T_CHECK(rep_count(st, NULL, "r6", "f", 0, 2, day2, &info) == TLSRPT_COUNTED && info.n_domains == 2,
            "reporter: the next arrival day has a new allowance");
    T_CHECK(tlib_mc_get_str(rd, "rep:org:Rep%20Org:2026-09-21:newdomains", v, sizeof v) && atoi(v) == 5,
            "reporter: P org:ORG:A:newdomains = 5");
    tlsrpt_store_free(st);
}

/* 4 threads race for one reporter's allowance of 15: exactly 15 counted. */
typedef struct race_arg {
    tlsrpt_store *st;
    int id;
    size_t counted;
    pthread_barrier_t *go;
} race_arg;

/* Thread body of the reporter race. */
static void *race_thread(void *v)
{
    race_arg *a = v;
    tlsrpt_count_info info;
    char rid[32], tag[16];
    snprintf(rid, sizeof rid, "race-%d", a->id);
    snprintf(tag, sizeof tag, "t%d-", a->id);
    pthread_barrier_wait(a->go);
    for (int k = 0; k < 2; k++) {       /* two reports of 5 new domains each */
        char r2[48];
        snprintf(r2, sizeof r2, "%s-%d", rid, k);
        if (rep_count(a->st, "race.example", r2, tag, 5 * k, 5, 1790000000, &info) == TLSRPT_COUNTED)
            a->counted += info.n_domains;
    }
    return NULL;
}

/* The reporter race: 4 threads, 2 reports of 5 new domains each, an allowance of 15. */
static void test_reporter_race(void)
{
    tlsrpt_store *st = tlib_mkstore_b(servers, "rrc:", 0, 15);
    pthread_barrier_t go;
    pthread_t th[4];
    race_arg a[4];
    size_t total = 0;
    char v[4096];
    if (!st)
        return;
    pthread_barrier_init(&go, NULL, 4);
    for (int i = 0; i < 4; i++) {
        a[i] = (race_arg){ st, i, 0, &go };
        pthread_create(&th[i], NULL, race_thread, &a[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        total += a[i].counted;
    }
    pthread_barrier_destroy(&go);
    int members = 0;
    if (tlib_mc_get_str(rd, "rrc:domains", v, sizeof v))
        for (char *save, *m = strtok_r(v, " ", &save); m; m = strtok_r(NULL, " ", &save))
            members++;
    printf("  race: %zu domains counted, %d listed\n", total, members);
    T_INTEQ(total, 15, "reporter race: exactly MaxDomainsPerReporter (15) of 40 new domains counted");
    T_INTEQ(members, 15, "reporter race: exactly 15 domains listed");
    T_CHECK(tlib_mc_get_str(rd, "rrc:org:race.example:2026-09-21:newdomains", v, sizeof v) && atoi(v) == 15,
            "reporter race: the count says 15");
    tlsrpt_store_free(st);
}

/* A day that lists ST_ORGS_CAP (1000) orgs takes a new one as org:~other. */
static void test_orgs_cap(void)
{
    tlsrpt_store *st = tlib_mkstore(servers, "oc:", NULL, 0);
    const char *set = "oc:d:orgs.example:2026-10-05:orgs";
    char *v = malloc(1000 * 8), err[512];
    tlsrpt_count_info info;
    tlib_tr t;
    size_t o = 0;
    if (!st || !v)
        goto out;
    for (int i = 0; i < 1000; i++)
        o += (size_t)sprintf(v + o, "%so%04d", i ? " " : "", i);
    tlib_tr_init(&t, "First", "oc0", "2026-10-05");
    tlib_tr_policy(&t, "sts", "orgs.example", 1, 0);
    tlsrpt_store_count(st, &t.r, &info, err, sizeof err);    /* the day exists */
    memcached_set(rd, set, strlen(set), v, o, 0, 0);
    for (int k = 0; k < 2; k++) {
        char rid[16], org[24];
        snprintf(rid, sizeof rid, "oc%d", k + 1);
        snprintf(org, sizeof org, "Late %d", k);
        tlib_tr_init(&t, org, rid, "2026-10-05");
        tlib_tr_policy(&t, "sts", "orgs.example", 10, 1);
        T_CHECK(tlsrpt_store_count(st, &t.r, &info, err, sizeof err) == TLSRPT_COUNTED
                && info.folded.org_other == 1, k ? "orgs cap: the next new org folds too"
                                                 : "orgs cap: the 1001st org folds into org:~other");
    }
    tlib_mc_check_num(rd, "oc:d:orgs.example:2026-10-05:org:~other:ok", 20, "orgs cap: org:~other sums them");
    tlib_mc_check_num(rd, "oc:d:orgs.example:2026-10-05:org:Late%200:ok", -1, "orgs cap: no own counter");
out:
    free(v);
    tlsrpt_store_free(st);
}

/* The budget tests against one memcached with 4 MB. */
int main(void)
{
    static const char *const small[] = { "-m", "4", NULL };
    char err[256];
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    if (!tlib_mc_have_binary()) {
        T_SKIP("store budgets", "no memcached binary on PATH");
        T_MAIN_END();
    }
    tlib_mc_cleanup_on_exit();
    if (tlib_mc_start_x(&mc_port, &mc_pid, small) != 0) {
        T_CHECK(0, "memcached -m 4 started");
        T_MAIN_END();
    }
    snprintf(servers, sizeof servers, "127.0.0.1:%d", mc_port);
    tlsrpt_store_conf rconf = { .servers = servers, .timeout_ms = 1000 };
    rd = tlsrpt_store_memc_new(&rconf, err, sizeof err);
    if (!rd) {
        T_CHECK(rd != NULL, "store budgets: reader connects");
        T_MAIN_END();
    }
    test_mx_fold();
    test_nothing_left();
    test_reporter();
    test_reporter_race();
    test_orgs_cap();
    test_attack();
    memcached_free(rd);
    tlib_mc_stop(&mc_pid);
    T_MAIN_END();
}
