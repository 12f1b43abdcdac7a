/*
 * test_store_chain.c - index sets as chains (issue 13) against a real memcached this
 * test starts itself (SKIP without the binary): P domains filled through the store past
 * 1 MB of members (every link within 64 KB + one member, each member once, read back
 * with tlsrpt_store_set_read); then a real report for a new domain is counted and listed
 * with 4 round trips, 2 the next time, and a known domain deep in the chain is not
 * listed again; one day's MX set filled past 1 MB the same way (a new MX there costs 4
 * round trips, a known one 3: its anchor is read in the marker burst, and decides even
 * for a member deep in the chain whose index marker expired); a v1 set of
 * nearly 1 MB grows a link instead of failing; 4 threads adding new domains to the
 * chained set at once (each listed once); every link of a long-lived chain touched when
 * it grows; the reader helpers (tokens, hashed link keys).
 */
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <libmemcached/memcached.h>
#include "tlib.h"
#include "tlib_memcached.h"
#include "tlib_store.h"
#include "store.h"
#include "sha256.h"

static pid_t mc_pid;
static int mc_port;
static memcached_st *rd;
static char servers[64];

/* Reports of up to 256 policies, each its own domain, built in place. */
typedef struct many {
    tlsrpt_report r;
    tlsrpt_policy pol[256];
    tlsrpt_failure f[1000];
    char dom[256][64];
    char mx[1000][128];
} many;

/* A report of n new domains "<tag>-NNNNN-....example" (about 48 bytes each). */
static void many_domains(many *m, const char *rid, const char *tag, int base, int n, const char *day)
{
    memset(&m->r, 0, sizeof m->r);
    m->r.organization_name = "Filler";
    m->r.report_id = (char *)rid;
    m->r.has_start = 1;
    snprintf(m->r.day, sizeof m->r.day, "%s", day);
    m->r.policies = m->pol;
    m->r.n_policies = (size_t)n;
    for (int i = 0; i < n; i++) {
        snprintf(m->dom[i], sizeof m->dom[i], "%s-%05d-abcdefghijklmnopqrstuvwxyz.example", tag, base + i);
        m->pol[i] = (tlsrpt_policy){ .policy_type = "sts", .policy_domain = m->dom[i],
                                     .total_successful = 1, .has_total_successful = 1,
                                     .has_total_failure = 1 };
    }
}

/* A report for domain dom with n MX names "<tag>NNNN" + 90 bytes (one failure each). */
static void many_mx(many *m, const char *rid, const char *dom, const char *tag, int base, int n)
{
    memset(&m->r, 0, sizeof m->r);
    m->r.organization_name = "Filler";
    m->r.report_id = (char *)rid;
    m->r.has_start = 1;
    strcpy(m->r.day, "2026-11-01");
    m->r.policies = m->pol;
    m->r.n_policies = 1;
    m->pol[0] = (tlsrpt_policy){ .policy_type = "sts", .policy_domain = (char *)dom,
                                 .total_failure = n, .has_total_successful = 1,
                                 .has_total_failure = 1, .failures = m->f, .n_failures = (size_t)n };
    for (int i = 0; i < n; i++) {
        snprintf(m->mx[i], sizeof m->mx[i], "%s%05d.%s.%s.example", tag, base + i,
                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                 "bbbbbbbbbbbbbbbbbbbb");
        m->f[i] = (tlsrpt_failure){ .result_type = "validation-failure", .receiving_mx_hostname = m->mx[i],
                                    .failed_session_count = 1, .has_failed_session_count = 1 };
    }
}

/* Members of set key (read with the store's reader), -1 on error; *bytes = link sizes. */
static long set_size(const char *prefix, const char *key, size_t *max_link, unsigned *links)
{
    tlsrpt_members ms;
    char err[256], v[1 << 16], lk[300];
    size_t len;
    uint32_t fl;
    memcached_return_t rc;
    *max_link = 0;
    *links = 0;
    char *l0 = memcached_get(rd, key, strlen(key), &len, &fl, &rc);
    if (l0) {
        *max_link = len;
        *links = tlsrpt_set_links(l0, len);
        free(l0);
    }
    for (unsigned k = 1; k <= *links; k++) {
        tlsrpt_set_link_key(lk, sizeof lk, prefix, key, k);
        if (tlib_mc_get_str(rd, lk, v, sizeof v) && strlen(v) > *max_link)
            *max_link = strlen(v);
    }
    if (tlsrpt_store_set_read(rd, prefix, key, &ms, err, sizeof err) != 0) {
        printf("  set_read: %s\n", err);
        return -1;
    }
    long n = (long)ms.n;
    tlsrpt_members_free(&ms);
    return n;
}

/* Does the whole set key list member (through the reader)? */
static int set_has(const char *prefix, const char *key, const char *member)
{
    tlsrpt_members ms;
    char err[256];
    int found = 0;
    if (tlsrpt_store_set_read(rd, prefix, key, &ms, err, sizeof err) != 0)
        return 0;
    for (size_t i = 0; i < ms.n && !found; i++)
        found = strcmp(ms.v[i], member) == 0;
    tlsrpt_members_free(&ms);
    return found;
}

/* Count one plain report of domain dom / mx (may be NULL) and day; its round trips. */
static unsigned count_one(tlsrpt_store *st, const char *rid, const char *dom, const char *mx,
                          const char *day, int *rc)
{
    tlsrpt_count_info info;
    char err[512];
    tlib_tr t;
    tlib_tr_init(&t, "Real Org", rid, day);
    int p = tlib_tr_policy(&t, "sts", dom, 5, mx ? 1 : 0);
    if (mx)
        tlib_tr_fail(&t, p, "validation-failure", mx, 1);
    *rc = tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
    if (*rc != TLSRPT_COUNTED)
        printf("  %s: %s\n", rid, err);
    return info.round_trips;
}

/* P domains past 1 MB; then a real report for a new domain. */
static void test_domains(void)
{
    static many m;
    tlsrpt_store *fill = tlib_mkstore_b(servers, "ch:", 100000, 100000);
    tlsrpt_store *st = tlib_mkstore(servers, "ch:", NULL, 0);
    tlsrpt_count_info info;
    char err[512], rid[32];
    int rc, ok = 1;
    size_t max_link;
    unsigned links;
    if (!fill || !st)
        return;
    for (int r = 0; r < 96 && ok; r++) {        /* 96 x 256 domains of ~50 bytes: 1.2 MB */
        snprintf(rid, sizeof rid, "fill-%d", r);
        many_domains(&m, rid, "fill", 256 * r, 256, "2026-11-01");
        ok = tlsrpt_store_count(fill, &m.r, &info, err, sizeof err) == TLSRPT_COUNTED;
        if (!ok)
            printf("  fill %d: %s\n", r, err);
    }
    T_CHECK(ok, "domains: 96 reports of 256 new domains each counted");
    long n = set_size("ch:", "ch:domains", &max_link, &links);
    printf("  domains: %ld members in %u + 1 links, largest %zu bytes\n", n, links, max_link);
    T_INTEQ(n, 96 * 256, "domains: every member listed, each once");
    T_CHECK(links >= 16 && max_link <= 65536 + 64, "domains: past 1 MB in links of at most 64 KB + one member");
    unsigned rt1 = count_one(st, "real-1", "real-new.example", NULL, "2026-11-02", &rc);
    T_CHECK(rc == TLSRPT_COUNTED && rt1 == 4, "a real report for a new domain: counted, 4 round trips");
    T_CHECK(set_has("ch:", "ch:domains", "real-new.example"), "the new domain is listed");
    tlib_mc_check_num(rd, "ch:d:real-new.example:2026-11-02:ok", 5, "the new domain is counted");
    unsigned rt2 = count_one(st, "real-2", "real-new.example", NULL, "2026-11-02", &rc);
    T_CHECK(rc == TLSRPT_COUNTED && rt2 == 2, "the same domain again: 2 round trips");
    unsigned rt3 = count_one(st, "real-3", m.dom[3], NULL, "2026-11-03", &rc);
    T_CHECK(rc == TLSRPT_COUNTED && rt3 == 4, "a domain of the last link on a new day: 4 round trips");
    unsigned rt4 = count_one(st, "real-4", "fill-00007-abcdefghijklmnopqrstuvwxyz.example", NULL,
                             "2026-11-03", &rc);
    T_CHECK(rc == TLSRPT_COUNTED && rt4 == 4, "a domain of link 0 on a new day: 4 round trips");
    n = set_size("ch:", "ch:domains", &max_link, &links);
    T_INTEQ(n, 96 * 256 + 1, "known domains deep in the chain are not listed again");
    tlsrpt_store_free(fill);
    tlsrpt_store_free(st);
}

/* One day's MX set past 1 MB; a real report's new MX is counted and listed. */
static void test_mxs(void)
{
    static many m;
    tlsrpt_store *fill = tlib_mkstore_b(servers, "cm:", 100000, 0);
    tlsrpt_store *st = tlib_mkstore(servers, "cm:", NULL, 0);
    tlsrpt_count_info info;
    char err[512], rid[32];
    const char *set = "cm:d:victim.example:2026-11-01:mxs";
    int rc, ok = 1;
    size_t max_link;
    unsigned links;
    if (!fill || !st)
        return;
    for (int r = 0; r < 12 && ok; r++) {        /* 12 x 1000 MX names of ~100 bytes: 1.2 MB */
        snprintf(rid, sizeof rid, "mxfill-%d", r);
        many_mx(&m, rid, "victim.example", "m", 1000 * r, 1000);
        ok = tlsrpt_store_count(fill, &m.r, &info, err, sizeof err) == TLSRPT_COUNTED;
        if (!ok)
            printf("  mx fill %d: %s\n", r, err);
    }
    T_CHECK(ok, "mxs: 12 reports of 1000 new MX names counted");
    long n = set_size("cm:", set, &max_link, &links);
    printf("  mxs: %ld members in %u + 1 links, largest %zu bytes\n", n, links, max_link);
    T_CHECK(n == 12000 && links >= 16 && max_link <= 65536 + 128,
            "mxs: past 1 MB, links of at most 64 KB, each member once");
    unsigned rt = count_one(st, "mreal-1", "victim.example", "mx1.victim.example", "2026-11-01", &rc);
    T_CHECK(rc == TLSRPT_COUNTED && rt == 4, "a real report with a new MX on that day: 4 round trips");
    T_CHECK(set_has("cm:", set, "mx1.victim.example"), "the new MX is listed");
    tlib_mc_check_num(rd, "cm:d:victim.example:2026-11-01:mx:mx1.victim.example:fail", 1, "and counted");
    rt = count_one(st, "mreal-2", "victim.example", "mx1.victim.example", "2026-11-01", &rc);
    T_CHECK(rc == TLSRPT_COUNTED && rt == 3, "the same MX again: 3 round trips (anchor in the marker burst)");
    rt = count_one(st, "mreal-3", "victim.example", m.mx[5], "2026-11-01", &rc);
    T_CHECK(rc == TLSRPT_COUNTED && rt == 3, "a known MX of the last link: 3 round trips");
    char first[128];                            /* an MX of the 6th fill report: in a middle link */
    snprintf(first, sizeof first, "m%05d.%s.%s.example", 5005,
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbb");
    char mk[128], hex[33];                      /* its index marker gone (expired after 2 minutes) */
    unsigned char dg[TLSRPT_SHA256_LEN];
    tlsrpt_sha256_ctx sc;
    tlsrpt_sha256_init(&sc);
    tlsrpt_sha256_update(&sc, set, strlen(set) + 1);
    tlsrpt_sha256_update(&sc, first, strlen(first));
    tlsrpt_sha256_final(&sc, dg);
    tlsrpt_hex(hex, dg, 16);
    snprintf(mk, sizeof mk, "cm:ix:%s", hex);
    T_CHECK(memcached_delete(rd, mk, strlen(mk), 0) == MEMCACHED_SUCCESS,
            "the deep MX's index marker exists, and is deleted (as if expired)");
    rt = count_one(st, "mreal-deep", "victim.example", first, "2026-11-01", &rc);
    T_CHECK(rc == TLSRPT_COUNTED && rt == 3, "a known MX deep in the chain: 3 round trips (its anchor says listed)");
    n = set_size("cm:", set, &max_link, &links);
    T_INTEQ(n, 12001, "mxs: nothing listed twice (a known MX deep in the chain is not appended again)");
    rt = count_one(st, "mreal-4", "victim.example", "mx1.victim.example", "2026-11-02", &rc);
    T_CHECK(rc == TLSRPT_COUNTED && rt == 4, "another day of the same domain is a normal day (4, new day)");
    tlsrpt_store_free(fill);
    tlsrpt_store_free(st);
}

/* A v1 set of nearly 1 MB grows a link instead of failing. */
static void test_v1_full(void)
{
    const char *big = "v1:d:big.example:days";
    size_t n = 1048576;
    char *v = malloc(n);
    tlsrpt_store *st = tlib_mkstore(servers, "v1:", NULL, 0);
    int rc;
    if (!v || !st)
        goto out;
    for (size_t i = 0; i < n; i++)
        v[i] = i % 11 == 10 ? ' ' : (char)('0' + i % 10);
    while (n > 900000 && memcached_set(rd, big, strlen(big), v, n, 0, 0) != MEMCACHED_SUCCESS)
        n -= 11;                /* the largest value memcached takes */
    T_CHECK(n > 900000, "v1: a near-1MB set stored");
    count_one(st, "v1-1", "big.example", NULL, "2026-05-22", &rc);
    T_INTEQ(rc, TLSRPT_COUNTED, "v1: a new member of a full v1 set is counted");
    T_CHECK(set_has("v1:", big, "2026-05-22") && set_has("v1:", big, "0123456789")
            && set_has("v1:", big, "8901234567"), "v1: listed in a new link, the old members still there");
    char lk[300], lv[256];
    T_CHECK(tlib_mc_get_str(rd, big, lv, sizeof lv) && strcmp(lv, "+1 +2") == 0,
            "v1: migrated: link 0 holds only the tokens");
    tlsrpt_set_link_key(lk, sizeof lk, "v1:", big, 2);
    T_CHECK(tlib_mc_get_str(rd, lk, lv, sizeof lv) && strcmp(lv, "2026-05-22") == 0,
            "v1: the old members in link 1, the new one in link 2");
    count_one(st, "v1-2", "big.example", NULL, "2026-05-23", &rc);
    T_CHECK(rc == TLSRPT_COUNTED && tlib_mc_get_str(rd, lk, lv, sizeof lv)
            && strcmp(lv, "2026-05-22 2026-05-23") == 0, "v1: the next member appended to link 2");
out:
    free(v);
    tlsrpt_store_free(st);
}

/* 4 threads add new domains to the chained P domains at once: each listed once. */
typedef struct race_arg {
    tlsrpt_store *st;
    int id;
    int failed;
    pthread_barrier_t *go;
} race_arg;

/* Thread body: 3 reports of 100 domains, the same ones as the next thread's. */
static void *race_thread(void *v)
{
    static many m[4];
    race_arg *a = v;
    tlsrpt_count_info info;
    char err[512], rid[32];
    pthread_barrier_wait(a->go);
    for (int r = 0; r < 3; r++) {
        snprintf(rid, sizeof rid, "race-%d-%d", a->id, r);
        many_domains(&m[a->id], rid, "race", 100 * ((a->id + r) % 4), 100, "2026-11-04");
        if (tlsrpt_store_count(a->st, &m[a->id].r, &info, err, sizeof err) != TLSRPT_COUNTED)
            a->failed++;
    }
    return NULL;
}

/* 4 threads add overlapping new domains to the chained P domains. */
static void test_race(void)
{
    tlsrpt_store *st = tlib_mkstore_b(servers, "ch:", 100000, 100000);
    pthread_barrier_t go;
    pthread_t th[4];
    race_arg a[4];
    int failed = 0;
    size_t max_link;
    unsigned links;
    if (!st)
        return;
    pthread_barrier_init(&go, NULL, 4);
    for (int i = 0; i < 4; i++) {
        a[i] = (race_arg){ st, i, 0, &go };
        pthread_create(&th[i], NULL, race_thread, &a[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        failed += a[i].failed;
    }
    pthread_barrier_destroy(&go);
    T_INTEQ(failed, 0, "race: every report counted");
    long n = set_size("ch:", "ch:domains", &max_link, &links);
    T_INTEQ(n, 96 * 256 + 1 + 400, "race: 400 new domains into the chain, each listed once");
    tlsrpt_store_free(st);
}

/* Every link of a long-lived chain is touched when it grows. */
static void test_touch(void)
{
    static many m;
    char err[512], rid[32], lk[300], v[70000];
    tlsrpt_store_conf conf = { .servers = servers, .prefix = "tch:", .counter_ttl = 3, .timeout_ms = 500,
                               .max_new_keys = 100000, .max_domains_per_reporter = 100000 };
    tlsrpt_store *st = tlsrpt_store_new(&conf, err, sizeof err);
    tlsrpt_count_info info;
    int ok = 1;
    for (int r = 0; r < 7 && st && ok; r++) {   /* 7 x 256 x 50 bytes: 90 KB, two links */
        snprintf(rid, sizeof rid, "t-%d", r);
        many_domains(&m, rid, "tch", 256 * r, 256, "2026-11-05");
        ok = tlsrpt_store_count(st, &m.r, &info, err, sizeof err) == TLSRPT_COUNTED;
    }
    sleep(2);
    many_domains(&m, "t-late", "late", 0, 1, "2026-11-05");
    ok = ok && st && tlsrpt_store_count(st, &m.r, &info, err, sizeof err) == TLSRPT_COUNTED;
    sleep(2);
    tlsrpt_set_link_key(lk, sizeof lk, "tch:", "tch:domains", 1);
    T_CHECK(ok && tlib_mc_get_str(rd, "tch:domains", v, sizeof v) && tlsrpt_set_links(v, strlen(v)) >= 1,
            "touch: link 0 of the chain alive after 4 s (3 s TTL, grown at 2 s)");
    T_CHECK(tlib_mc_get_str(rd, lk, v, sizeof v), "touch: link 1 alive too (touched with the growth)");
    tlsrpt_store_free(st);
}

/* The reader helpers. */
static void test_reader(void)
{
    static const char v[] = " a +1 bb +3  c +2 +x +12345678 d";
    char got[64] = "", key[400], out[300];
    size_t o = 0;
    T_INTEQ(tlsrpt_set_links(v, strlen(v)), 3, "reader: highest token +3 (+x and a too big one ignored)");
    size_t n = tlsrpt_set_each(v, strlen(v), NULL, NULL);
    T_INTEQ(n, 4, "reader: 4 members, tokens skipped");
    T_INTEQ(tlsrpt_set_link_key(out, sizeof out, "p:", "p:domains", 2), 12, "reader: link key p:domains:+2");
    T_STREQ(out, "p:domains:+2", "reader: link key text");
    memset(key, 'k', 249);
    key[249] = 0;
    int len = tlsrpt_set_link_key(out, sizeof out, "p:", key, 7);
    T_CHECK(len > 0 && len <= 250 && strncmp(out, "p:link:", 7) == 0 && strstr(out, ":+7"),
            "reader: a link key over 250 bytes is P link:H:+N");
    (void)got;
    (void)o;
}

/* The index marker of member in set (P ix: + 32 hex of SHA-256(set NUL member)). */
static void ix_marker(const char *prefix, const char *set, const char *member, char *out, size_t n)
{
    char hex[33];
    unsigned char dg[TLSRPT_SHA256_LEN];
    tlsrpt_sha256_ctx sc;
    tlsrpt_sha256_init(&sc);
    tlsrpt_sha256_update(&sc, set, strlen(set) + 1);
    tlsrpt_sha256_update(&sc, member, strlen(member));
    tlsrpt_sha256_final(&sc, dg);
    tlsrpt_hex(hex, dg, 16);
    snprintf(out, n, "%six:%s", prefix, hex);
}

/* A marker left by an earlier attempt of the same archive entry (it won the marker, then
   stopped before writing the member) is ours: the retry lists the member. A marker of
   someone else's still means "someone else writes it". */
static void test_own_marker(void)
{
    tlsrpt_store *st = tlib_mkstore(servers, "om:", NULL, 0);
    tlsrpt_count_info info;
    char err[512], mk[128];
    static const char *const who[] = { "20261201T000000Z-h-x-1-1", "someone-else" };
    static const char *const dom[] = { "own-marker.example", "other-marker.example" };
    for (int i = 0; st && i < 2; i++) {
        ix_marker("om:", "om:domains", dom[i], mk, sizeof mk);
        memcached_set(rd, mk, strlen(mk), who[i], strlen(who[i]), 120, 0);
        tlib_tr t;
        tlib_tr_init(&t, "Real Org", i ? "om-2" : "om-1", "2026-11-05");
        tlib_tr_policy(&t, "sts", dom[i], 5, 0);
        tlsrpt_count_req q = { .entry_id = who[0] };
        int rc = tlsrpt_store_count_req(st, &t.r, &q, &info, err, sizeof err);
        T_CHECK(rc == TLSRPT_COUNTED, i ? "a marker of someone else's: the report is counted"
                                        : "a marker holding our entry id: the report is counted");
        T_CHECK(set_has("om:", "om:domains", dom[i]) == !i, i
                ? "a marker of someone else's: the member is left to its writer"
                : "a marker holding our entry id (an earlier attempt): the member is listed");
    }
    tlsrpt_store_free(st);
}

/* The reader helpers offline, then the chains against one memcached with 256 MB. */
int main(void)
{
    char err[256];
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    static const char *const big[] = { "-m", "256", NULL };     /* the fills: ~50 MB */
    test_reader();
    if (!tlib_mc_have_binary()) {
        T_SKIP("store chains", "no memcached binary on PATH");
        T_MAIN_END();
    }
    tlib_mc_cleanup_on_exit();
    if (tlib_mc_start_x(&mc_port, &mc_pid, big) != 0) {
        T_CHECK(0, "memcached -m 256 started");
        T_MAIN_END();
    }
    snprintf(servers, sizeof servers, "127.0.0.1:%d", mc_port);
    tlsrpt_store_conf rconf = { .servers = servers, .timeout_ms = 2000 };
    rd = tlsrpt_store_memc_new(&rconf, err, sizeof err);
    if (!rd) {
        T_CHECK(rd != NULL, "store chains: reader connects");
        T_MAIN_END();
    }
    test_v1_full();
    test_domains();
    test_race();
    test_mxs();
    test_touch();
    test_own_marker();
    T_INTEQ(tlib_mc_stat(mc_port, "evictions"), 0, "chains: nothing evicted (the checks saw everything)");
    memcached_free(rd);
    tlib_mc_stop(&mc_pid);
    T_MAIN_END();
}
