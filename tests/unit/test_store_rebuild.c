/*
 * test_store_rebuild.c - issue 10's keys and the rebuild against real memcacheds this
 * test starts itself (SKIP without the binary): 300 varied reports counted live (prefix
 * lv:) and recounted in a tally then written by tlsrpt_store_rebuild (prefix rb:) give
 * the same counters and index sets key for key; a second rebuild changes nothing; after
 * memcached lost its data the rebuild restores every counter; a --day rebuild of a day
 * with a wrong counter, a stale MX and a partial flag puts the recount back (stale keys
 * deleted, the flag cleared, other days untouched, every change reported); a day that
 * another host counted into is refused unless forced, and the forced result names the
 * host; P nc: counts and their index; P arr:A:H:counted and P hosts:Y; the partial flag;
 * the loss check (a restarted-empty server, evictions, MARK).
 */
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

#define N_REP 300
static const char *const orgs[] = { "Google Inc.", "Microsoft Corporation", "Mail.Ru", "Yahoo" };
static const char *const okeys[] = { "google.com", NULL, "mail.ru", NULL };
static const char *const doms[] = { "a.example", "b.example", "c.example" };
static const char *const types[] = { "certificate-expired", "starttls-not-supported", "odd-type" };
static const char *const mxs[] = { "mx1.a.example", "mx2.a.example", "MX1.B.example.", "bad mx" };

/* Report i of the test (deterministic), its request, and its archive entry id. */
static void gen(int i, tlib_tr *t, tlsrpt_count_req *q, char *rid, char *eid, const char *host)
{
    static char day[16];
    snprintf(rid, 32, "r-%d", i % 280);         /* 20 duplicates */
    snprintf(eid, 64, "20261101T000000Z-%s-1-%d", host, i);
    snprintf(day, sizeof day, "2026-10-%02d", 1 + i % 5);
    tlib_tr_init(t, orgs[i % 4], rid, day);
    int p = tlib_tr_policy(t, i % 3 ? "sts" : "tlsa", doms[i % 3], i % 17, i % 4);
    if (i % 4)
        tlib_tr_fail(t, p, types[i % 3], mxs[i % 4], i % 4);
    if (i % 5 == 0) {
        p = tlib_tr_policy(t, "tlsa", doms[i % 3], 3, 1);
        tlib_tr_fail(t, p, "dane-required", mxs[(i + 1) % 4], 1);
    }
    if (i % 7 == 0)
        tlib_tr_policy(t, "no-policy-found", doms[(i + 1) % 3], 2, 0);
    *q = (tlsrpt_count_req){ .org_key = okeys[i % 4], .entry_id = eid, .host_id = host,
                             .arrival = 1793500000 + 3600 * (i % 30) };
}

/* The value of key as a string ("" when missing). */
static const char *val(const char *key)
{
    static char v[70000];
    if (!tlib_mc_get_str(rd, key, v, sizeof v))
        v[0] = 0;
    return v;
}

/* Do lv:... and rb:... agree on every key a (domain, day) can have, and on its sets? */
static int same_day(const char *D, const char *Y, char *bad, size_t n)
{
    static const char *const fixed[] = { "ok", "fail", "reports", "partial", "mode:enforce",
        "mode:testing", "mode:none", "ptype:sts:ok", "ptype:sts:fail", "ptype:tlsa:ok",
        "ptype:tlsa:fail", "ptype:no-policy-found:ok", "ptype:no-policy-found:fail",
        "ptype:other:ok", "ptype:other:fail" };
    char a[300], b[300], va[70000];
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        snprintf(a, sizeof a, "lv:d:%s:%s:%s", D, Y, fixed[i]);
        snprintf(b, sizeof b, "rb:d:%s:%s:%s", D, Y, fixed[i]);
        snprintf(va, sizeof va, "%s", val(a));
        if (strcmp(va, val(b)) != 0)
            return snprintf(bad, n, "%s=%.60s vs %.60s", a, va, val(b)), 0;
    }
    static const char *const sets[] = { "orgs", "types", "mxs" };
    for (int s = 0; s < 3; s++) {
        char sa[300], sb[300];
        tlsrpt_members ma, mb;
        snprintf(sa, sizeof sa, "lv:d:%s:%s:%s", D, Y, sets[s]);
        snprintf(sb, sizeof sb, "rb:d:%s:%s:%s", D, Y, sets[s]);
        if (tlsrpt_store_set_read(rd, "lv:", sa, &ma, va, sizeof va) || tlsrpt_store_set_read(rd, "rb:", sb, &mb, va, sizeof va))
            return snprintf(bad, n, "read %s", sa), 0;
        int ok = ma.n == mb.n;
        for (size_t k = 0; ok && k < ma.n; k++) {
            int found = 0;
            for (size_t j = 0; j < mb.n && !found; j++)
                found = strcmp(ma.v[k], mb.v[j]) == 0;
            ok = found;
            const char *what = s == 0 ? "org" : s == 1 ? "type" : "mx";
            for (int f = 0; f < (s == 0 ? 2 : 1) && ok; f++) {
                const char *tail = s == 1 ? "" : f ? ":ok" : ":fail";
                snprintf(a, sizeof a, "lv:d:%s:%s:%s:%s%s", D, Y, what, ma.v[k], tail);
                snprintf(b, sizeof b, "rb:d:%s:%s:%s:%s%s", D, Y, what, ma.v[k], tail);
                snprintf(va, sizeof va, "%s", val(a));
                if (strcmp(va, val(b)) != 0)
                    ok = 0, snprintf(bad, n, "%s=%.60s vs %.60s", a, va, val(b));
            }
        }
        if (!ok && !bad[0])
            snprintf(bad, n, "set %s differs", sa);
        tlsrpt_members_free(&ma);
        tlsrpt_members_free(&mb);
        if (!ok)
            return 0;
    }
    return 1;
}

/* Every (domain, day) of the test: lv: and rb: agree; the first difference into bad. */
static int same_all(char *bad, size_t n)
{
    char d[24];
    bad[0] = 0;
    for (int y = 1; y <= 5; y++)
        for (int k = 0; k < 3; k++) {
            snprintf(d, sizeof d, "2026-10-%02d", y);
            if (!same_day(doms[k], d, bad, n))
                return 0;
        }
    return 1;
}

/* Changes reported by a rebuild. */
typedef struct changes {
    int n;
    char first[300];
    int saw_partial, saw_stale;
} changes;

/* on_change of the tests. */
static void on_change(void *arg, const char *key, int64_t old, int64_t now)
{
    changes *c = arg;
    if (c->n++ == 0)
        snprintf(c->first, sizeof c->first, "%s %lld -> %lld", key, (long long)old, (long long)now);
    c->saw_partial |= strstr(key, ":partial") && now == -1;
    c->saw_stale |= strstr(key, "mx:stale.a.example") && now == -1;
}

/* A tally of the 300 reports for store st (host id host). */
static tlsrpt_tally *tally_of(tlsrpt_store *st, const char *host, int first, int n)
{
    char err[256], rid[32], eid[64];
    tlsrpt_tally *t = tlsrpt_tally_new(st, 0, err, sizeof err);
    for (int i = first; t && i < first + n; i++) {
        tlib_tr tr;
        tlsrpt_count_req q;
        gen(i, &tr, &q, rid, eid, host);
        tlsrpt_tally_add(t, &tr.r, &q, NULL, err, sizeof err);
        if (i % 50 == 0)
            tlsrpt_tally_not_counted(t, q.arrival, "corrupt-json");
    }
    return t;
}

/* Live counting vs the rebuild, then its idempotence, then repairing a lost memcached. */
static void test_same(tlsrpt_store *lv, tlsrpt_store *rb)
{
    char err[512], rid[32], eid[64], bad[600];
    int counted = 0, dups = 0;
    for (int i = 0; i < N_REP; i++) {
        tlib_tr tr;
        tlsrpt_count_req q;
        tlsrpt_count_info info;
        gen(i, &tr, &q, rid, eid, "hostA");
        int rc = tlsrpt_store_count_req(lv, &tr.r, &q, &info, err, sizeof err);
        counted += rc == TLSRPT_COUNTED;
        dups += rc == TLSRPT_DUPLICATE;
        if (i % 50 == 0)
            tlsrpt_store_not_counted(lv, q.arrival, "corrupt-json", err, sizeof err);
    }
    T_CHECK(counted == 280 && dups == 20, "live: 280 reports counted, 20 duplicates");
    tlsrpt_tally *t = tally_of(rb, "hostA", 0, N_REP);
    tlsrpt_rebuild_result res;
    changes ch = { 0 };
    tlsrpt_rebuild_opts o = { .hosts = (const char *const[]){ "hostA" }, .n_hosts = 1,
                              .on_change = on_change, .arg = &ch };
    int rc = t ? tlsrpt_store_rebuild(rb, t, &o, &res, err, sizeof err) : -1;
    printf("  rebuild: %s\n", rc == 0 ? res.text : err);
    T_CHECK(rc == 0 && res.days == 5 && res.written > 0 && ch.n == (int)res.written,
            "rebuild of every day: written, each change reported");
    T_CHECK(same_all(bad, sizeof bad), "rebuild = live counting, key for key (counters and index sets)");
    if (bad[0])
        printf("  first difference: %s\n", bad);
    T_STREQ(val("rb:arr:2026-11-02:hostA:counted"), val("lv:arr:2026-11-02:hostA:counted"),
            "P arr:A:H:counted the same");
    T_CHECK(val("lv:arr:2026-11-02:hostA:counted")[0], "P arr:A:H:counted written live");
    T_STREQ(val("rb:nc:2026-11-02:corrupt-json"), val("lv:nc:2026-11-02:corrupt-json"), "P nc:A:REASON the same");
    tlib_mc_check_set(rd, "rb:nc:days", val("lv:nc:days"), "P nc:days the same");
    tlib_mc_check_set(rd, "rb:hosts:2026-10-01", "hostA", "P hosts:Y lists the host");
    tlib_mc_check_set(rd, "lv:hosts:2026-10-01", "hostA", "P hosts:Y written live");
    tlib_mc_check_set(rd, "rb:domains", "a.example b.example c.example", "P domains");
    T_STREQ(val("rb:org:google.com:name"), "Google%20Inc.", "the org label");
    ch = (changes){ 0 };
    rc = tlsrpt_store_rebuild(rb, t, &o, &res, err, sizeof err);
    T_CHECK(rc == 0 && res.written == 0 && res.deleted == 0 && res.sets == 0 && ch.n == 0 && res.markers == 0,
            "a second rebuild changes nothing");
    if (ch.n)
        printf("  changed: %s\n", ch.first);
    memcached_flush(rd, 0);
    tlsrpt_tally_free(t);
    t = tally_of(rb, "hostA", 0, N_REP);
    rc = t ? tlsrpt_store_rebuild(rb, t, &o, &res, err, sizeof err) : -1;
    T_CHECK(rc == 0 && val("rb:d:a.example:2026-10-01:ok")[0] && res.markers == 280,
            "after memcached lost everything: counters and 280 markers back");
    char rid2[32], eid2[64];
    tlib_tr tr;
    tlsrpt_count_req q;
    tlsrpt_count_info info;
    gen(3, &tr, &q, rid2, eid2, "hostA");
    T_INTEQ(tlsrpt_store_count_req(rb, &tr.r, &q, &info, err, sizeof err), TLSRPT_DUPLICATE,
            "after the rebuild a retry of a counted entry is a duplicate, not store-partial");
    tlsrpt_tally_free(t);
}

/* A --day rebuild repairs one day; other days untouched; hosts checked. */
static void test_day(tlsrpt_store *rb)
{
    char err[512], rid[32], eid[64], before[64];
    tlsrpt_tally *t = tally_of(rb, "hostA", 0, N_REP);
    tlsrpt_rebuild_result res;
    tlsrpt_count_info info;
    changes ch = { 0 };
    tlsrpt_rebuild_opts o = { .day = "2026-10-02", .hosts = (const char *const[]){ "hostA" }, .n_hosts = 1,
                              .on_change = on_change, .arg = &ch };
    const char *k = "rb:d:a.example:2026-10-02:ok", *mxset = "rb:d:a.example:2026-10-02:mxs";
    snprintf(before, sizeof before, "%s", val(k));
    memcached_set(rd, k, strlen(k), "999999", 6, 0, 0);
    const char *stale = "rb:d:a.example:2026-10-02:mx:stale.a.example:fail";
    memcached_set(rd, stale, strlen(stale), "5", 1, 0, 0);
    memcached_append(rd, mxset, strlen(mxset), " stale.a.example", 16, 0, 0);
    tlib_tr tr;
    tlsrpt_count_req q;
    gen(1, &tr, &q, rid, eid, "hostA");        /* report 1 is of 2026-10-02 */
    T_INTEQ(tlsrpt_store_mark_partial(rb, &tr.r, &q, err, sizeof err), TLSRPT_COUNTED, "partial flag set");
    T_CHECK(val("rb:d:b.example:2026-10-02:partial")[0] && strstr(val("rb:partial:days"), "2026-10-02"),
            "P d:D:Y:partial and P partial:days written");
    char other[64];
    snprintf(other, sizeof other, "%s", val("rb:d:a.example:2026-10-03:ok"));
    int rc = t ? tlsrpt_store_rebuild(rb, t, &o, &res, err, sizeof err) : -1;
    printf("  --day: %s (first change %s)\n", rc == 0 ? res.text : err, ch.first);
    T_CHECK(rc == 0 && res.days == 1, "--day rebuild done");
    T_STREQ(val(k), before, "--day: the wrong counter put back");
    T_CHECK(!val(stale)[0] && ch.saw_stale, "--day: a counter the recount lacks deleted, and reported");
    T_CHECK(!strstr(val(mxset), "stale") && val(mxset)[0], "--day: the MX set rewritten without it");
    T_CHECK(!val("rb:d:b.example:2026-10-02:partial")[0] && ch.saw_partial, "--day: the partial flag cleared");
    T_STREQ(val("rb:d:a.example:2026-10-03:ok"), other, "--day: another day untouched");
    T_CHECK(ch.n >= 3, "--day: every change reported (wrong value, stale key, partial flag)");
    /* another host counted into the day: refused unless forced */
    tlsrpt_count_req qb = { .host_id = "hostB", .entry_id = "20261101T000000Z-hostB-1-1" };
    tlib_tr_init(&tr, "Other Host Org", "hb-1", "2026-10-02");
    tlib_tr_policy(&tr, "sts", "a.example", 1000, 0);
    T_INTEQ(tlsrpt_store_count_req(rb, &tr.r, &qb, &info, err, sizeof err), TLSRPT_COUNTED, "hostB counts into the day");
    snprintf(before, sizeof before, "%s", val(k));
    rc = tlsrpt_store_rebuild(rb, t, &o, &res, err, sizeof err);
    printf("  refused: %s\n", err);
    T_CHECK(rc == TLSRPT_REBUILD_REFUSED && strcmp(res.other_hosts, "hostB") == 0 && strstr(err, "hostB"),
            "--day: a day with another host's counts refused, the host named");
    T_STREQ(val(k), before, "--day refused: nothing written");
    o.force = 1;
    rc = tlsrpt_store_rebuild(rb, t, &o, &res, err, sizeof err);
    printf("  forced: %s\n", rc == 0 ? res.text : err);
    T_CHECK(rc == 0 && strstr(res.text, "hostB") && strstr(res.text, "forced"),
            "--day forced: done, and it says whose counts it replaced");
    T_CHECK(strcmp(val(k), before) != 0 && !strstr(val("rb:d:a.example:2026-10-02:orgs"), "Other"),
            "--day forced: hostB's counts replaced by the recount");
    tlib_mc_check_set(rd, "rb:hosts:2026-10-02", "hostA", "--day forced: P hosts:Y lists the hosts recounted");
    tlsrpt_tally_free(t);
}

/* The loss check: epochs, a server restarted empty, evictions. */
static void test_loss(void)
{
    static const char *const tiny[] = { "-m", "2", NULL };
    pid_t p2;
    int port2;
    char list[128], err[256];
    if (tlib_mc_start_x(&port2, &p2, tiny) != 0) {
        T_CHECK(0, "second memcached started");
        return;
    }
    snprintf(list, sizeof list, "%s,127.0.0.1:%d", servers, port2);
    tlsrpt_store *st = tlib_mkstore(list, "ls:", NULL, 0);
    tlsrpt_loss l;
    int rc = st ? tlsrpt_store_check_loss(st, TLSRPT_LOSS_MARK, &l, err, sizeof err) : -1;
    T_CHECK(rc == 0 && l.n == 2 && !l.loss && l.s[0].marked && l.s[1].marked && l.s[0].uptime >= 0,
            "loss: first check marks both servers, no loss");
    rc = tlsrpt_store_check_loss(st, 0, &l, err, sizeof err);
    T_CHECK(rc == 0 && !l.loss && !l.s[1].marked && l.s[1].epoch > 0, "loss: second check: epochs there");
    tlib_mc_stop(&p2);
    T_CHECK(tlib_mc_spawn_x(port2, &p2, tiny) == 0, "loss: the second server restarted empty");
    for (int i = 0; i < 20 && (rc = tlsrpt_store_check_loss(st, 0, &l, err, sizeof err)) == 0 && !l.s[1].reachable; i++)
        usleep(100000);
    printf("  loss: %s\n", l.text);
    T_CHECK(rc == 0 && l.loss && l.s[1].lost && !l.s[0].lost && strstr(l.text, "lost its data"),
            "loss: the restarted server lost its data (the other still has its epoch)");
    tlsrpt_store_check_loss(st, TLSRPT_LOSS_MARK, &l, err, sizeof err);
    rc = tlsrpt_store_check_loss(st, 0, &l, err, sizeof err);
    T_CHECK(rc == 0 && !l.s[1].lost, "loss: marked again, no longer lost");
    char *big = malloc(500000);
    memcached_st *m2 = memcached_create(NULL);
    memcached_server_add(m2, "127.0.0.1", (in_port_t)port2);
    for (int i = 0; big && i < 40; i++) {
        char key[32];
        snprintf(key, sizeof key, "fill-%d", i);
        memset(big, 'x', 500000);
        memcached_set(m2, key, strlen(key), big, 500000, 0, 0);
    }
    rc = tlsrpt_store_check_loss(st, 0, &l, err, sizeof err);
    printf("  evictions: %s\n", l.text);
    T_CHECK(rc == 0 && l.loss && l.s[1].evictions > 0 && strstr(l.text, "evictions"),
            "loss: evictions said");
    tlsrpt_store *one = tlib_mkstore(servers, "ls1:", NULL, 0);
    memcached_flush(rd, 0);
    rc = one ? tlsrpt_store_check_loss(one, TLSRPT_LOSS_EXPECT, &l, err, sizeof err) : -1;
    T_CHECK(rc == 0 && l.loss && l.s[0].lost, "loss: one server without epoch, archive not empty: lost");
    free(big);
    memcached_free(m2);
    tlsrpt_store_free(one);
    tlsrpt_store_free(st);
    tlib_mc_stop(&p2);
}

/* The rebuild and loss tests against one memcached (a second one for the loss check). */
int main(void)
{
    char err[256];
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    if (tlib_mc_boot("store rebuild", &mc_port, &mc_pid, servers, sizeof servers) != 0)
        T_MAIN_END();
    tlsrpt_store_conf rconf = { .servers = servers, .timeout_ms = 1000 };
    rd = tlsrpt_store_memc_new(&rconf, err, sizeof err);
    tlsrpt_store *lv = tlib_mkstore(servers, "lv:", NULL, 0), *rb = tlib_mkstore(servers, "rb:", NULL, 0);
    if (!rd || !lv || !rb) {
        T_CHECK(0, "store rebuild: reader and stores");
        T_MAIN_END();
    }
    test_same(lv, rb);
    test_day(rb);
    test_loss();
    tlsrpt_store_free(lv);
    tlsrpt_store_free(rb);
    memcached_free(rd);
    tlib_mc_stop(&mc_pid);
    T_MAIN_END();
}
