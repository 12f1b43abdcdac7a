/*
 * test_store.c - unit tests of store/ counting against a real memcached
 * this test starts itself on 127.0.0.1 and a random free port (killed at
 * exit, on a signal, and by PR_SET_PDEATHSIG if we crash): server list
 * validation, every key of a report, allow-list and uncountable reports,
 * hostile strings, TTLs, the round trips of new index members (two bursts
 * however many) and the touch of long-lived sets, failed increments, the
 * dedup marker removed after a failure, the per-report MX cap, and a
 * memcached outage.
 * Reports are built by hand; only tlsrpt_normalize_domain comes from parser/.
 * Key encoding and SHA-256 are in test_keys.c; concurrency and two servers
 * in test_store_concurrency.c. Prints SKIP for the memcached part when no
 * memcached binary is installed.
 */
#include <time.h>
#include <unistd.h>
#include <libmemcached/memcached.h>
#include "tlib.h"
#include "tlib_memcached.h"
#include "tlib_store.h"
#include "store.h"

static pid_t mc_pid;                /* our memcached */
static int mc_port;
static memcached_st *rd;            /* reads values back */
static char servers[64];            /* "127.0.0.1:<mc_port>" */

/* ---------- counting ---------- */

/* Server list validation names the bad entry. */
static void test_servers(void)
{
    char err[256];
    tlsrpt_store_conf conf = { .servers = "127.0.0.1:99999" };
    tlsrpt_store *st = tlsrpt_store_new(&conf, err, sizeof err);
    T_CHECK(!st && strstr(err, "127.0.0.1:99999"), "bad port rejected, entry named");
    conf.servers = "127.0.0.1:11211, bad host!:1";
    st = tlsrpt_store_new(&conf, err, sizeof err);
    T_CHECK(!st && strstr(err, "'host!:1'"), "bad host rejected, entry named");
    conf.servers = " , ";
    st = tlsrpt_store_new(&conf, err, sizeof err);
    T_CHECK(!st && strstr(err, "no memcached servers"), "empty server list rejected");
    conf.servers = "::1:11211";
    st = tlsrpt_store_new(&conf, err, sizeof err);
    T_CHECK(!st && strstr(err, "::1:11211"), "unbracketed IPv6 rejected");
    conf.servers = "127.0.0.1:11211 [::1]:11212,localhost";
    st = tlsrpt_store_new(&conf, err, sizeof err);
    T_CHECK(st != NULL, "comma/space separated list with IPv6 and default port accepted");
    tlsrpt_store_free(st);
    conf.servers = "127.0.0.1:11211";
    conf.prefix = "bad prefix";
    st = tlsrpt_store_new(&conf, err, sizeof err);
    T_CHECK(!st && strstr(err, "prefix"), "prefix with a space rejected");
}

/* Every key of one report with two domains, then the duplicate. */
static void test_basic(tlsrpt_store *st)
{
    tlib_tr t;
    tlsrpt_count_info info;
    char err[512], hex[65], key[300], org[64];
    tlib_tr_init(&t, "Example Org", "r1", "2026-05-11");
    int p = tlib_tr_policy(&t, "sts", "Example.COM.", 10, 3);
    tlib_tr_ps(&t, p, "version: STSv1");
    tlib_tr_ps(&t, p, "mode: testing");
    tlib_tr_ps(&t, p, "mx: mx1.example.com");
    tlib_tr_fail(&t, p, "certificate-expired", "MX1.Example.com.", 2);
    tlib_tr_fail(&t, p, "weird-new-type", NULL, 1);
    tlib_tr_fail(&t, p, "starttls-not-supported", "", 0);
    p = tlib_tr_policy(&t, "tlsa", "example.com", 5, 0);
    p = tlib_tr_policy(&t, "sts", "other.org", 1, 0);
    tlib_tr_ps(&t, p, "version: STSv1\nmode: enforce\nmax_age: 86400");
    int rc = tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
    if (rc != TLSRPT_COUNTED)
        printf("  count: %s\n", err);
    T_INTEQ(rc, TLSRPT_COUNTED, "basic report counted");
    T_CHECK(info.ok == 11 && info.fail == 3 && info.n_domains == 2,
            "info sums (rule 12: example.com's sts 13 sessions beat its tlsa 5) and domain count");
    T_STREQ(info.domains, "example.com,other.org", "info domains");
    T_CHECK(info.round_trips >= 3, "round trips counted");
    tlib_mc_check_num(rd, "tlsrpt:d:example.com:2026-05-11:ok", 10, "ok: sts beats tlsa (rule 12)");
    tlib_mc_check_num(rd, "tlsrpt:d:example.com:2026-05-11:fail", 3, "fail summed");
    tlib_mc_check_num(rd, "tlsrpt:d:example.com:2026-05-11:reports", 1, "reports once per domain");
    tlib_mc_check_num(rd, "tlsrpt:d:example.com:2026-05-11:type:certificate-expired", 2, "RFC type verbatim");
    tlib_mc_check_num(rd, "tlsrpt:d:example.com:2026-05-11:type:other", 1, "unknown type -> other");
    tlib_mc_check_num(rd, "tlsrpt:d:example.com:2026-05-11:type:starttls-not-supported", -1, "zero type skipped");
    tlib_mc_check_num(rd, "tlsrpt:d:example.com:2026-05-11:mx:mx1.example.com:fail", 2, "mx normalized");
    tlib_mc_check_num(rd, "tlsrpt:d:example.com:2026-05-11:org:Example%20Org:ok", 10, "org ok");
    tlib_mc_check_num(rd, "tlsrpt:d:example.com:2026-05-11:org:Example%20Org:fail", 3, "org fail");
    tlib_mc_check_num(rd, "tlsrpt:d:example.com:2026-05-11:mode:testing", 1, "sts mode testing");
    tlib_mc_check_num(rd, "tlsrpt:d:example.com:2026-05-11:mode:none", -1, "tlsa policy adds no second mode");
    tlib_mc_check_num(rd, "tlsrpt:d:other.org:2026-05-11:ok", 1, "second domain ok");
    tlib_mc_check_num(rd, "tlsrpt:d:other.org:2026-05-11:fail", 0, "zero fail key still exists");
    tlib_mc_check_num(rd, "tlsrpt:d:other.org:2026-05-11:mode:enforce", 1, "mode in a multi-line policy-string");
    tlib_mc_check_set(rd, "tlsrpt:domains", "example.com other.org", "domains set");
    tlib_mc_check_set(rd, "tlsrpt:d:example.com:days", "2026-05-11", "days set");
    tlib_mc_check_set(rd, "tlsrpt:d:example.com:2026-05-11:orgs", "Example%20Org", "orgs set");
    tlib_mc_check_set(rd, "tlsrpt:d:example.com:2026-05-11:types", "certificate-expired other", "types set");
    tlib_mc_check_set(rd, "tlsrpt:d:example.com:2026-05-11:mxs", "mx1.example.com", "mxs set");
    memcpy(org, "Example Org\0r1", 14);
    tlib_sha_hex(org, 14, hex);
    snprintf(key, sizeof key, "tlsrpt:seen:%s", hex);
    T_CHECK(tlib_mc_get_str(rd, key, err, sizeof err), "dedup marker = SHA-256(org NUL report-id)");
    rc = tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
    T_INTEQ(rc, TLSRPT_DUPLICATE, "same report again is a duplicate");
    tlib_mc_check_num(rd, "tlsrpt:d:example.com:2026-05-11:ok", 10, "duplicate left ok unchanged");
    tlib_mc_check_num(rd, "tlsrpt:d:example.com:2026-05-11:reports", 1, "duplicate left reports unchanged");
    tlib_tr_init(&t, "Example Org", "r2", "2026-05-11");
    p = tlib_tr_policy(&t, "sts", "example.com", 4, 1);
    tlib_tr_ps(&t, p, "mode: testing");
    tlib_tr_fail(&t, p, "certificate-expired", "mx1.example.com", 1);
    rc = tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
    T_CHECK(rc == TLSRPT_COUNTED && info.round_trips == 2, "steady state costs 2 round trips");
    tlib_mc_check_num(rd, "tlsrpt:d:example.com:2026-05-11:ok", 14, "second report added");
    tlib_mc_check_set(rd, "tlsrpt:d:example.com:2026-05-11:types", "certificate-expired other",
                      "types set unchanged");
}

/* Allow-list, uncountable reports, mode fallbacks. */
static void test_rules(void)
{
    const char *allow[] = { "Allowed.Example." };
    tlsrpt_store *st = tlib_mkstore(servers, "a:", allow, 1);
    tlsrpt_count_info info;
    char err[512], v[64];
    tlib_tr t;
    int rc, p;
    T_CHECK(st != NULL, "store with allow-list");
    if (!st)
        return;
    tlib_tr_init(&t, "O", "x1", "2026-05-12");
    tlib_tr_policy(&t, "sts", "foreign.example", 1, 1);
    rc = tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
    T_CHECK(rc == TLSRPT_NOT_COUNTABLE && strcmp(info.reason, "foreign-domain") == 0,
            "only foreign domains -> foreign-domain");
    T_CHECK(!tlib_mc_get_str(rd, "a:domains", v, sizeof v), "foreign report wrote nothing");
    tlib_tr_policy(&t, "no-policy-found", "allowed.example", 7, 0);
    rc = tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
    T_INTEQ(rc, TLSRPT_COUNTED, "allowed domain of a mixed report counted");
    tlib_mc_check_num(rd, "a:d:allowed.example:2026-05-12:ok", 7, "allowed domain counted");
    tlib_mc_check_num(rd, "a:d:foreign.example:2026-05-12:ok", -1, "foreign domain not counted");
    tlib_mc_check_num(rd, "a:d:allowed.example:2026-05-12:mode:none", 1, "no-policy-found -> mode none");
    tlib_mc_check_set(rd, "a:domains", "allowed.example", "domains lists allowed only");
    tlib_tr_init(&t, "O", "x2", "2026-05-12");
    tlib_tr_policy(&t, "sts", NULL, 1, 1);
    tlib_tr_policy(&t, "sts", ".", 1, 1);
    rc = tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
    T_CHECK(rc == TLSRPT_NOT_COUNTABLE && strcmp(info.reason, "no-policy-domain") == 0,
            "no domain -> no-policy-domain");
    tlib_tr_init(&t, "O", "x3", NULL);
    tlib_tr_policy(&t, "sts", "allowed.example", 1, 1);
    rc = tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
    T_CHECK(rc == TLSRPT_NOT_COUNTABLE && strcmp(info.reason, "no-date") == 0, "no start -> no-date");
    tlib_tr_init(&t, "O", "x4", "2026-05-13");
    p = tlib_tr_policy(&t, "sts", "allowed.example", 0, 0);
    tlib_tr_ps(&t, p, "version: STSv1");
    rc = tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
    T_INTEQ(rc, TLSRPT_COUNTED, "all-zero report counted");
    tlib_mc_check_num(rd, "a:d:allowed.example:2026-05-13:ok", 0, "zero ok key exists");
    tlib_mc_check_num(rd, "a:d:allowed.example:2026-05-13:fail", 0, "zero fail key exists");
    tlib_mc_check_num(rd, "a:d:allowed.example:2026-05-13:reports", 1, "zero report still a report");
    tlib_mc_check_num(rd, "a:d:allowed.example:2026-05-13:mode:none", 1, "sts without mode -> none");
    tlib_mc_check_set(rd, "a:d:allowed.example:days", "2026-05-12 2026-05-13", "days set grows");
    tlsrpt_store_free(st);
}

/* Hostile strings: encoded keys, long org hashed, member rebuilds the key. */
static void test_hostile(tlsrpt_store *st)
{
    static char longorg[400];
    tlsrpt_count_info info;
    char err[512], v[1024], key[300], dec[300];
    tlib_tr t;
    memset(longorg, 'L', 300);
    tlib_tr_init(&t, "evil org\r\nset x 0 0 1\r\n", "h1", "2026-05-14");
    tlib_tr_policy(&t, "sts", "inject.example", 2, 0);
    T_INTEQ(tlsrpt_store_count(st, &t.r, &info, err, sizeof err), TLSRPT_COUNTED, "hostile org counted");
    tlib_mc_check_num(rd, "tlsrpt:d:inject.example:2026-05-14:org:evil%20org%0D%0Aset%20x%200%200%201%0D%0A:ok",
              2, "CR/LF/space encoded in key");
    T_CHECK(!tlib_mc_get_str(rd, "x", v, sizeof v), "no injected key");
    tlib_mc_get_str(rd, "tlsrpt:d:inject.example:2026-05-14:orgs", v, sizeof v);
    T_CHECK(tlsrpt_key_decode(dec, sizeof dec, v) > 0 && strcmp(dec, "evil org\r\nset x 0 0 1\r\n") == 0,
            "orgs member decodes to the raw name");
    tlib_tr_init(&t, longorg, "h2", "2026-05-14");
    tlib_tr_policy(&t, "sts", "inject.example", 3, 1);
    T_INTEQ(tlsrpt_store_count(st, &t.r, &info, err, sizeof err), TLSRPT_COUNTED, "long org counted");
    tlib_mc_get_str(rd, "tlsrpt:d:inject.example:2026-05-14:orgs", v, sizeof v);
    char *m = strchr(v, '~');
    T_CHECK(m && strlen(m) == 33, "long org member is ~ + 32 hex");
    const char *c[] = { "d", "inject.example", "2026-05-14", "org", m ? m : "", "fail" };
    tlsrpt_key_build(key, sizeof key, "tlsrpt:", c, 6);
    tlib_mc_check_num(rd, key, 1, "key rebuilt from hashed member holds the count");
    static char longdom[256];
    char enc[800];
    for (int i = 0; i < 240; i++)       /* labels of 59 bytes, no empty one */
        longdom[i] = (i % 60 == 59 && i < 239) ? '.' : 'a' + i % 26;
    strcpy(longdom + 240, ".example");
    tlib_tr_init(&t, "O", "h3", "2026-05-14");
    tlib_tr_policy(&t, "sts", longdom, 6, 0);
    T_INTEQ(tlsrpt_store_count(st, &t.r, &info, err, sizeof err), TLSRPT_COUNTED, "248-byte domain counted");
    tlsrpt_key_component(enc, sizeof enc, longdom);
    const char *cd[] = { "d", enc, "2026-05-14", "ok" };
    tlsrpt_key_build(key, sizeof key, "tlsrpt:", cd, 4);
    tlib_mc_check_num(rd, key, 6, "long domain: reader encoding the name itself finds the key");
    const char *cdays[] = { "d", enc, "days" };
    tlsrpt_key_build(key, sizeof key, "tlsrpt:", cdays, 3);
    tlib_mc_check_set(rd, key, "2026-05-14", "long domain: days set found the same way");
    memset(longdom, '!', 90);           /* 90 '!' encode to 270 bytes: no DNS name */
    strcpy(longdom + 90, ".example");
    tlib_tr_init(&t, "O", "h4", "2026-05-14");
    tlib_tr_policy(&t, "sts", longdom, 6, 0);
    T_CHECK(tlsrpt_store_count(st, &t.r, &info, err, sizeof err) == TLSRPT_NOT_COUNTABLE
            && strcmp(info.reason, "invalid-report") == 0 && strstr(err, "%21%21"),
            "a policy-domain that is not a host name: invalid-report, named encoded");
}

/* Counter TTL over 30 days is sent as an absolute time (key must exist). */
static void test_ttl(void)
{
    char err[256];
    tlsrpt_store_conf conf = { .servers = servers, .prefix = "ttl:", .counter_ttl = 40L * 86400,
                               .dedup_ttl = 90L * 86400, .timeout_ms = 500 };
    tlsrpt_store *st = tlsrpt_store_new(&conf, err, sizeof err);
    tlsrpt_count_info info;
    tlib_tr t;
    tlib_tr_init(&t, "O", "t1", "2026-05-15");
    tlib_tr_policy(&t, "sts", "ttl.example", 5, 0);
    T_INTEQ(st ? tlsrpt_store_count(st, &t.r, &info, err, sizeof err) : -1, TLSRPT_COUNTED,
            "count with 40-day TTL");
    tlib_mc_check_num(rd, "ttl:d:ttl.example:2026-05-15:ok", 5, "40-day TTL counter alive (absolute expiry)");
    tlib_mc_check_set(rd, "ttl:domains", "ttl.example", "40-day TTL set alive");
    T_INTEQ(st ? tlsrpt_store_count(st, &t.r, &info, err, sizeof err) : -1, TLSRPT_DUPLICATE,
            "90-day dedup marker alive");
    tlsrpt_store_free(st);
}

/* Report with policies for dom[0..nd) (mx "mxJ.<domain>" each, nf per policy). */
static void ib_report(tlib_tr *t, const char *rid, const char *day, char dom[][32],
                      char mx[][TLIB_TR_FAIL][48], int nd, int nf)
{
    static const char *const rt[] = { "validation-failure", "dane-required", "tlsa-invalid",
                                      "certificate-expired" };
    tlib_tr_init(t, "IB Org", rid, day);
    for (int d = 0; d < nd; d++) {
        int p = tlib_tr_policy(t, "sts", dom[d], 10, nf);
        for (int f = 0; f < nf; f++)
            tlib_tr_fail(t, p, rt[f], mx[d][f], 1);
    }
}

/* New index members cost one marker burst and one set burst, however many they are. */
static void test_index_bursts(void)
{
    tlsrpt_store *st = tlib_mkstore(servers, "ib:", NULL, 0);
    static char dom[TLIB_TR_POL][32], mx[TLIB_TR_POL][TLIB_TR_FAIL][48];
    char err[512], key[300], want[1024];
    tlsrpt_count_info info;
    unsigned rt[4];
    tlib_tr t;
    if (!st)
        return;
    for (int d = 0; d < TLIB_TR_POL; d++) {
        snprintf(dom[d], sizeof dom[d], "d%d.ib.example", d);
        for (int f = 0; f < TLIB_TR_FAIL; f++)
            snprintf(mx[d][f], sizeof mx[d][f], "mx%d.d%d.ib.example", f, d);
    }
    const char *days[] = { "2026-05-23", "2026-05-23", "2026-05-24", "2026-05-24" };
    const int nd[] = { 1, TLIB_TR_POL, TLIB_TR_POL, TLIB_TR_POL }, nf[] = { 1, TLIB_TR_FAIL, 2, 2 };
    for (int i = 0; i < 4; i++) {       /* 5 new members, 5 + 32 new, 4 days appended, none */
        char rid[16];
        snprintf(rid, sizeof rid, "ib%d", i);
        ib_report(&t, rid, days[i], dom, mx, nd[i], nf[i]);
        int rc = tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
        if (rc != TLSRPT_COUNTED)
            printf("  index bursts: %s\n", err);
        rt[i] = rc == TLSRPT_COUNTED ? info.round_trips : 0;
    }
    printf("  round trips: 1 domain 1 mx %u, 4 domains 16 mxs %u, new day %u, known %u\n",
           rt[0], rt[1], rt[2], rt[3]);
    T_CHECK(rt[0] == 4 && rt[1] == 4, "new members: 4 round trips for 5 or for 37 of them");
    T_CHECK(rt[2] == 4, "members appended to existing sets: 4 round trips");
    T_INTEQ(rt[3], 2, "no new member: 2 round trips");
    snprintf(want, sizeof want, "%s %s %s %s", dom[0], dom[1], dom[2], dom[3]);
    tlib_mc_check_set(rd, "ib:domains", want, "batched domains set");
    for (int d = 0; d < TLIB_TR_POL; d++) {
        snprintf(key, sizeof key, "ib:d:%s:days", dom[d]);
        tlib_mc_check_set(rd, key, "2026-05-23 2026-05-24", "batched days set (added, then appended)");
        snprintf(key, sizeof key, "ib:d:%s:2026-05-23:mxs", dom[d]);
        snprintf(want, sizeof want, "%s %s %s %s", mx[d][0], mx[d][1], mx[d][2], mx[d][3]);
        tlib_mc_check_set(rd, key, want, "batched mxs set: every member once");
    }
    tlib_mc_check_set(rd, "ib:d:d0.ib.example:2026-05-23:types",
                      "validation-failure dane-required tlsa-invalid certificate-expired",
                      "batched types set");
    tlsrpt_store_free(st);
}

/* A long-lived set that grows by append gets its TTL renewed (touch in the set burst). */
static void test_index_touch(void)
{
    char err[256];
    tlsrpt_store_conf conf = { .servers = servers, .prefix = "tt:", .counter_ttl = 3, .timeout_ms = 500 };
    tlsrpt_store *st = tlsrpt_store_new(&conf, err, sizeof err);
    tlsrpt_count_info info;
    tlib_tr t;
    int rc1, rc2;
    tlib_tr_init(&t, "O", "tt1", "2026-05-25");
    tlib_tr_policy(&t, "sts", "tt.example", 1, 0);
    rc1 = st ? tlsrpt_store_count(st, &t.r, &info, err, sizeof err) : -1;
    sleep(2);
    tlib_tr_init(&t, "O", "tt2", "2026-05-26");
    tlib_tr_policy(&t, "sts", "tt.example", 1, 0);
    rc2 = st ? tlsrpt_store_count(st, &t.r, &info, err, sizeof err) : -1;
    T_CHECK(rc1 == TLSRPT_COUNTED && rc2 == TLSRPT_COUNTED, "touch: both reports counted");
    sleep(2);
    tlib_mc_check_num(rd, "tt:d:tt.example:2026-05-25:ok", -1, "touch: 3 s counter expired after 4 s");
    tlib_mc_check_set(rd, "tt:d:tt.example:days", "2026-05-25 2026-05-26",
                      "touch: appended long-lived set renewed, still there after 4 s");
    tlsrpt_store_free(st);
}

/* A counter holding a non-number makes the quiet incr fail: must be reported. */
static void test_quiet_error(tlsrpt_store *st)
{
    const char *k = "tlsrpt:d:bad.example:2026-05-16:fail";
    tlsrpt_count_info info;
    char err[512];
    tlib_tr t;
    memcached_set(rd, k, strlen(k), "abc", 3, 0, 0);
    tlib_tr_init(&t, "O", "q1", "2026-05-16");
    tlib_tr_policy(&t, "sts", "bad.example", 5, 1);
    int rc = tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
    printf("  quiet error: %s\n", err);
    T_CHECK(rc == TLSRPT_STORE_FAILED && strcmp(info.reason, "store-partial") == 0 && err[0]
            && strstr(err, k), "failed quiet increment detected by the barrier, key named");
    T_INTEQ(info.partial, 1, "a counter burst with one failed increment is partial (others are in)");
    tlib_mc_check_num(rd, "tlsrpt:d:bad.example:2026-05-16:ok", 5, "the other counters of it are in");
    tlib_tr_init(&t, "O", "q2", "2026-05-16");
    tlib_tr_policy(&t, "sts", "good.example", 5, 1);
    rc = tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
    T_INTEQ(rc, TLSRPT_COUNTED, "next report on the pool counts fine");
    tlib_mc_check_num(rd, "tlsrpt:d:good.example:2026-05-16:ok", 5, "next report exact");
}

/* A failure while writing the index removes the dedup marker: the replay counts. The
   failure: the reporter's new-domain count holds a non-number, so its increment in the
   marker burst fails (a full set no longer fails: it grows a link, test_store_chain). */
static void test_unmark(void)
{
    char err[512], hex[65], key[300], buf[64], rep[128], day[16];
    tlsrpt_store *st = tlib_mkstore(servers, "u:", NULL, 0);
    tlsrpt_count_info info;
    time_t now = time(NULL);
    struct tm tm;
    tlib_tr t;
    if (!st)
        return;
    gmtime_r(&now, &tm);
    strftime(day, sizeof day, "%Y-%m-%d", &tm);
    snprintf(rep, sizeof rep, "u:org:U:%s:newdomains", day);
    memcached_set(rd, rep, strlen(rep), "abc", 3, 0, 0);
    tlib_tr_init(&t, "U", "u1", "2026-05-22");
    tlib_tr_policy(&t, "sts", "big.example", 9, 0);
    int rc = tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
    printf("  marker burst: %s\n", err);
    T_CHECK(rc == TLSRPT_STORE_FAILED && strstr(err, rep) && !info.partial,
            "a failed marker burst fails the report, key named, nothing counted");
    tlib_sha_hex("U\0u1", 4, hex);
    snprintf(key, sizeof key, "u:seen:%s", hex);
    T_CHECK(!tlib_mc_get_str(rd, key, buf, sizeof buf), "dedup marker removed after the failure");
    tlib_mc_check_num(rd, "u:d:big.example:2026-05-22:ok", -1, "no counter written");
    memcached_delete(rd, rep, strlen(rep), 0);
    T_INTEQ(tlsrpt_store_count(st, &t.r, &info, err, sizeof err), TLSRPT_COUNTED, "replay counts");
    tlib_mc_check_num(rd, "u:d:big.example:2026-05-22:ok", 9, "replay counted once");
    tlsrpt_store_free(st);
}

/* A report naming 1005 distinct MX: 1000 get mx: counters, all count under type:
   (with a MaxNewKeysPerReport that allows them all: the cap, not the budget). */
static void test_mx_cap(void)
{
    tlsrpt_store *st = tlib_mkstore_b(servers, NULL, 100000, 0);
    enum { NMX = 1005 };
    static char names[NMX][32];
    tlsrpt_failure *f = calloc(NMX, sizeof *f);
    tlsrpt_count_info info;
    char err[512], key[300];
    size_t len;
    uint32_t fl;
    memcached_return_t rc;
    tlib_tr t;
    if (!f || !st) {
        free(f);
        tlsrpt_store_free(st);
        return;
    }
    tlib_tr_init(&t, "Cap", "cap1", "2026-05-23");
    int p = tlib_tr_policy(&t, "sts", "cap.example", 0, NMX);
    for (int i = 0; i < NMX; i++) {
        snprintf(names[i], sizeof names[i], "mx%04d.cap.example", i);
        f[i].result_type = "validation-failure";
        f[i].receiving_mx_hostname = names[i];
        f[i].failed_session_count = 1;
    }
    t.pol[p].failures = f;
    t.pol[p].n_failures = NMX;
    T_INTEQ(tlsrpt_store_count(st, &t.r, &info, err, sizeof err), TLSRPT_COUNTED, "1005-MX report counted");
    tlib_mc_check_num(rd, "tlsrpt:d:cap.example:2026-05-23:type:validation-failure", NMX,
                      "all failures under type:");
    tlib_mc_check_num(rd, "tlsrpt:d:cap.example:2026-05-23:mx:mx0999.cap.example:fail", 1, "1000th MX counted");
    tlib_mc_check_num(rd, "tlsrpt:d:cap.example:2026-05-23:mx:mx1000.cap.example:fail", -1,
                      "1001st MX not counted per MX");
    snprintf(key, sizeof key, "tlsrpt:d:cap.example:2026-05-23:mxs");
    char *v = memcached_get(rd, key, strlen(key), &len, &fl, &rc);
    int members = 0;
    for (size_t i = 0; v && i < len; i++)
        members += v[i] != ' ' && (i == 0 || v[i - 1] == ' ');
    T_INTEQ(members, 1000, "mxs set holds 1000 members");
    free(v);
    free(f);
    tlsrpt_store_free(st);
}

/* ---------- outage ---------- */

/* memcached stopped -> clear failure; restarted -> counting works again. */
static void test_outage(tlsrpt_store *st)
{
    tlsrpt_count_info info;
    char err[512];
    tlib_tr t;
    int rc = -1;
    tlib_mc_stop(&mc_pid);
    tlib_tr_init(&t, "O", "o1", "2026-05-20");
    tlib_tr_policy(&t, "sts", "down.example", 3, 0);
    time_t t0 = time(NULL);
    rc = tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
    printf("  down: %s\n", err);
    T_CHECK(rc == TLSRPT_STORE_FAILED && strcmp(info.reason, "store-unavailable") == 0,
            "memcached down -> TLSRPT_STORE_FAILED");
    T_CHECK(strstr(err, "seen:") && strstr(err, "add") && strlen(err) > 30,
            "failure names operation and key");
    T_CHECK(time(NULL) - t0 <= 5, "failure is quick (timeouts honoured)");
    T_CHECK(tlib_mc_spawn(mc_port, &mc_pid) == 0, "memcached restarted on the same port");
    for (int i = 0; i < 40 && rc != TLSRPT_COUNTED; i++) {
        rc = tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
        if (rc != TLSRPT_COUNTED)
            usleep(100000);
    }
    if (rc != TLSRPT_COUNTED)
        printf("  after restart: %s\n", err);
    T_INTEQ(rc, TLSRPT_COUNTED, "counting works after restart (same report: marker was not kept)");
    tlib_mc_check_num(rd, "tlsrpt:d:down.example:2026-05-20:ok", 3, "counted once after restart");
}

/* Offline checks, then everything against a private memcached. */
int main(void)
{
    tlsrpt_store *st;
    char err[256];
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    test_servers();
    if (tlib_mc_boot("store counting", &mc_port, &mc_pid, servers, sizeof servers) != 0)
        T_MAIN_END();
    tlsrpt_store_conf rconf = { .servers = servers, .timeout_ms = 1000 };
    rd = tlsrpt_store_memc_new(&rconf, err, sizeof err);
    T_CHECK(rd != NULL, "tlsrpt_store_memc_new connects");
    st = tlib_mkstore(servers, NULL, NULL, 0);
    T_CHECK(st != NULL, "store created");
    if (rd && st) {
        test_basic(st);
        test_rules();
        test_hostile(st);
        test_ttl();
        test_index_bursts();
        test_index_touch();
        test_quiet_error(st);
        test_unmark();
        test_mx_cap();
        test_outage(st);
    }
    tlsrpt_store_free(st);
    if (rd)
        memcached_free(rd);
    rconf.servers = "127.0.0.1:1";
    void *none = tlsrpt_store_memc_new(&rconf, err, sizeof err);
    T_CHECK(none == NULL && strstr(err, "127.0.0.1:1"), "memc_new reports an unreachable server");
    tlib_mc_stop(&mc_pid);
    T_MAIN_END();
}
