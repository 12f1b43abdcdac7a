/*
 * test_store_bounds.c - the store's documented numbers exactly at their value and
 * one past it, against a real memcached this test starts itself (SKIP without the
 * binary): a TTL of 30 days (2592000 s, sent as is) and of 30 days + 1 s (sent as
 * an absolute time), read back with memcached's meta get (remaining TTL); a key
 * component of 120 encoded bytes kept and of 121 hashed ("~" + 32 hex); 256 policy
 * domains per report counted and the 257th (last by name) not; 1000 MX names per
 * domain counted and the 1001st (last by name, whatever the report's order) not;
 * a policy domain of 253 bytes counted and of 254 invalid-report, an MX name of 253
 * bytes counted per MX and of 254 folded into mx:~invalid; index markers living min(3600 s, CounterTTL) at 3599, 3600, 3601 and 0; 64
 * memcached servers accepted, 65 refused; counters saturating at 2^63-1 (reports of
 * 2^62, 2^62 and 2^63-1 sessions; a counter at 2^63-2 reaching exactly 2^63-1 and
 * then staying; a v1 counter past 2^64 - 1000 that memcached wraps; the saturation
 * guard d:D:Y:max bounding every counter of a day); a session count of
 * MaxSessionCount (2^40) counted and 2^40 + 1 invalid-report; counter values padded with
 * spaces read by tlsrpt_store_parse_count.
 * Key length (250 bytes) is in test_keys.c.
 */
#include <unistd.h>
#include <libmemcached/memcached.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "tlib.h"
#include "tlib_memcached.h"
#include "tlib_store.h"
#include "store.h"

static pid_t mc_pid;
static int mc_port;
static memcached_st *rd;
static char servers[64];

/* Remaining TTL of key in seconds (meta get "t": -1 no expiry), -2 missing, -3 error. */
static long remaining_ttl(const char *key)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)mc_port) };
    char cmd[400], ans[512];
    size_t n = 0;
    long ttl = -3;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return -3;
    }
    int len = snprintf(cmd, sizeof cmd, "mg %s t\r\n", key);
    if (write(fd, cmd, (size_t)len) == len) {
        while (n + 1 < sizeof ans && !memchr(ans, '\n', n)) {
            ssize_t got = read(fd, ans + n, sizeof ans - 1 - n);
            if (got <= 0)
                break;
            n += (size_t)got;
        }
        ans[n] = 0;
        if (strncmp(ans, "EN", 2) == 0)
            ttl = -2;
        else if (strncmp(ans, "HD", 2) == 0 && strstr(ans, " t"))
            ttl = strtol(strstr(ans, " t") + 2, NULL, 10);
    }
    close(fd);
    return ttl;
}

/* A store with the given counter and dedup TTL. */
static tlsrpt_store *ttl_store(const char *prefix, long ttl)
{
    char err[256];
    tlsrpt_store_conf conf = { .servers = servers, .prefix = prefix, .counter_ttl = ttl,
                               .dedup_ttl = ttl, .timeout_ms = 1000 };
    tlsrpt_store *st = tlsrpt_store_new(&conf, err, sizeof err);
    if (!st)
        printf("  store_new: %s\n", err);
    return st;
}

/* memcached reads an expiry over 30 days as a unix time: 2592000 relative, 2592001 absolute. */
static void test_ttl_30_days(void)
{
    static const long ttls[] = { 2592000L, 2592001L, 400L * 86400, 3600 };
    static const char *const pfx[] = { "t30:", "t30p1:", "t400:", "t1h:" };
    char name[160], key[200];
    for (size_t i = 0; i < sizeof ttls / sizeof ttls[0]; i++) {
        tlsrpt_store *st = ttl_store(pfx[i], ttls[i]);
        tlsrpt_count_info info;
        char err[256];
        tlib_tr t;
        tlib_tr_init(&t, "TTL Org", "ttl-1", "2026-06-01");
        tlib_tr_policy(&t, "sts", "ttl.example", 5, 0);
        snprintf(name, sizeof name, "TTL %ld: counted", ttls[i]);
        T_INTEQ(st ? tlsrpt_store_count(st, &t.r, &info, err, sizeof err) : -1, TLSRPT_COUNTED, name);
        snprintf(key, sizeof key, "%sd:ttl.example:2026-06-01:ok", pfx[i]);
        long left = remaining_ttl(key);
        snprintf(name, sizeof name, "TTL %ld: counter expires in %ld s (got %ld)", ttls[i],
                 ttls[i], left);
        T_CHECK(left <= ttls[i] + 1 && left >= ttls[i] - 5, name);   /* memcached clock: +-1 s */
        snprintf(key, sizeof key, "%sdomains", pfx[i]);
        left = remaining_ttl(key);
        snprintf(name, sizeof name, "TTL %ld: index set expires in %ld s (got %ld)", ttls[i],
                 ttls[i], left);
        T_CHECK(left <= ttls[i] + 1 && left >= ttls[i] - 5, name);   /* memcached clock: +-1 s */
        snprintf(name, sizeof name, "TTL %ld: dedup marker alive", ttls[i]);
        T_INTEQ(st ? tlsrpt_store_count(st, &t.r, &info, err, sizeof err) : -1, TLSRPT_DUPLICATE,
                name);
        tlsrpt_store_free(st);
    }
}

/* An org name of n plain bytes is kept whole up to 120, hashed from 121 on. */
static void test_component_120(void)
{
    tlsrpt_store *st = tlib_mkstore(servers, "c120:", NULL, 0);
    static char org[2][200];
    char err[256], v[4096], name[160];
    tlsrpt_count_info info;
    for (int k = 0; k < 2 && st; k++) {
        size_t n = 120 + (size_t)k;
        memset(org[k], k ? 'b' : 'a', n);
        org[k][n] = 0;
        tlib_tr t;
        tlib_tr_init(&t, org[k], k ? "c2" : "c1", "2026-06-02");
        tlib_tr_policy(&t, "sts", "comp.example", 1, 1);
        snprintf(name, sizeof name, "org of %zu bytes counted", n);
        T_INTEQ(tlsrpt_store_count(st, &t.r, &info, err, sizeof err), TLSRPT_COUNTED, name);
    }
    tlib_mc_get_str(rd, "c120:d:comp.example:2026-06-02:orgs", v, sizeof v);
    char want[200];
    memset(want, 'a', 120);
    want[120] = 0;
    T_CHECK(strstr(v, want) != NULL, "org of 120 encoded bytes: member kept whole");
    const char *h = strchr(v, '~');
    T_CHECK(!strstr(v, "bbbbbbbbbbbbbbbb") && h && strspn(h + 1, "0123456789abcdef") == 32
            && (h[33] == ' ' || h[33] == 0), "org of 121 encoded bytes: member hashed to ~ + 32 hex");
    char key[400];
    snprintf(key, sizeof key, "c120:d:comp.example:2026-06-02:org:%s:fail", want);
    tlib_mc_check_num(rd, key, 1, "org of 120 bytes: its own counter, name whole");
    /* 40 bytes that encode to 120 ('%XX' each) are kept, 41 are hashed */
    static char enc[2][60];
    for (int k = 0; k < 2 && st; k++) {
        memset(enc[k], k ? '!' : ' ', 40 + (size_t)k);
        enc[k][40 + k] = 0;
        tlib_tr t;
        tlib_tr_init(&t, enc[k], k ? "e2" : "e1", "2026-06-03");
        tlib_tr_policy(&t, "sts", "comp.example", 1, 1);
        tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
    }
    tlib_mc_get_str(rd, "c120:d:comp.example:2026-06-03:orgs", v, sizeof v);
    T_CHECK(strstr(v, "%20%20%20%20%20%20%20%20%20%20%20%20%20%20%20%20%20%20%20%20%20%20%20%20"
                      "%20%20%20%20%20%20%20%20%20%20%20%20%20%20%20%20") != NULL,
            "org of 40 spaces (120 encoded bytes) kept encoded");
    T_CHECK(strstr(v, "%21") == NULL && strchr(v, '~') != NULL,
            "org of 41 '!' (123 encoded bytes) hashed");
    tlsrpt_store_free(st);
}

/* A report with n policies for domains dNNN.cap.example, listed last name first. */
static void domains_report(tlib_tr *t, tlsrpt_policy *pol, char (*names)[40], int n, const char *rid)
{
    tlib_tr_init(t, "Cap Org", rid, "2026-06-04");
    for (int i = 0; i < n; i++) {
        int k = n - 1 - i;
        snprintf(names[k], 40, "d%03d.cap.example", k);
        memset(&pol[i], 0, sizeof pol[i]);
        pol[i].policy_type = "sts";
        pol[i].policy_domain = names[k];
        pol[i].total_successful = 2;
        pol[i].has_total_successful = pol[i].has_total_failure = 1;
    }
    t->r.policies = pol;
    t->r.n_policies = (size_t)n;
}

/* 256 domains per report are counted; of 257, the last by name is not. */
static void test_domain_cap(void)
{
    static tlsrpt_policy pol[257];
    static char names[257][40];
    tlsrpt_count_info info;
    char err[512], key[200];
    tlib_tr t;
    for (int n = 256; n <= 257; n++) {
        char pfx[16];
        snprintf(pfx, sizeof pfx, "dc%d:", n);
        tlsrpt_store *s2 = tlib_mkstore_b(servers, pfx, 100000, 0);   /* the cap, not the budget */
        domains_report(&t, pol, names, n, "dom-cap");
        T_INTEQ(s2 ? tlsrpt_store_count(s2, &t.r, &info, err, sizeof err) : -1, TLSRPT_COUNTED,
                n == 256 ? "report with 256 domains counted" : "report with 257 domains counted");
        T_INTEQ(info.n_domains, 256, n == 256 ? "256 domains: all counted"
                                             : "257 domains: 256 counted");
        snprintf(key, sizeof key, "%sd:d255.cap.example:2026-06-04:ok", pfx);
        tlib_mc_check_num(rd, key, 2, n == 256 ? "256 domains: the last by name counted"
                                                : "257 domains: the 256th by name counted");
        if (n == 257) {
            snprintf(key, sizeof key, "%sd:d256.cap.example:2026-06-04:ok", pfx);
            tlib_mc_check_num(rd, key, -1, "257 domains: the last by name not counted");
        }
        snprintf(key, sizeof key, "%sd:d000.cap.example:2026-06-04:ok", pfx);
        tlib_mc_check_num(rd, key, 2, "domain cap: the first by name counted");
        tlsrpt_store_free(s2);
    }
}

/* 1000 MX names per domain get an mx: counter; of 1001, the last by name does not. */
static void test_mx_cap_order(void)
{
    enum { NMX = 1001 };
    static char names[NMX][32];
    tlsrpt_failure *f = calloc(NMX, sizeof *f);
    tlsrpt_count_info info;
    char err[512], key[200];
    if (!f)
        return;
    for (int n = 1000; n <= 1001; n++) {
        char pfx[16];
        snprintf(pfx, sizeof pfx, "mc%d:", n);
        tlsrpt_store *st = tlib_mkstore_b(servers, pfx, 100000, 0);   /* the cap, not the budget */
        tlib_tr t;
        tlib_tr_init(&t, "Cap", "mx-cap", "2026-06-05");
        int p = tlib_tr_policy(&t, "sts", "mxcap.example", 0, n);
        for (int i = 0; i < n; i++) {             /* last name first */
            int k = n - 1 - i;
            snprintf(names[k], sizeof names[k], "mx%04d.mxcap.example", k);
            memset(&f[i], 0, sizeof f[i]);
            f[i].result_type = "validation-failure";
            f[i].receiving_mx_hostname = names[k];
            f[i].failed_session_count = 1;
            f[i].has_failed_session_count = 1;
        }
        t.pol[p].failures = f;
        t.pol[p].n_failures = (size_t)n;
        T_INTEQ(st ? tlsrpt_store_count(st, &t.r, &info, err, sizeof err) : -1, TLSRPT_COUNTED,
                n == 1000 ? "1000-MX report counted" : "1001-MX report counted");
        snprintf(key, sizeof key, "%sd:mxcap.example:2026-06-05:type:validation-failure", pfx);
        tlib_mc_check_num(rd, key, n, "MX cap: every failure under type:");
        snprintf(key, sizeof key, "%sd:mxcap.example:2026-06-05:mx:mx0999.mxcap.example:fail", pfx);
        tlib_mc_check_num(rd, key, 1, n == 1000 ? "1000 MX: the last by name counted"
                                                 : "1001 MX: the 1000th by name counted");
        snprintf(key, sizeof key, "%sd:mxcap.example:2026-06-05:mx:mx0000.mxcap.example:fail", pfx);
        tlib_mc_check_num(rd, key, 1, "MX cap: the first by name counted (last in the report)");
        if (n == 1001) {
            snprintf(key, sizeof key, "%sd:mxcap.example:2026-06-05:mx:mx1000.mxcap.example:fail",
                     pfx);
            tlib_mc_check_num(rd, key, -1, "1001 MX: the last by name (first in the report) "
                              "not counted per MX");
        }
        tlsrpt_store_free(st);
    }
    free(f);
}

/* A DNS-like name of exactly n bytes: 62-byte labels, ending in ".example". */
static void long_name(char *out, size_t n)
{
    size_t body = n - strlen(".example");
    for (size_t i = 0; i < body; i++)
        out[i] = i % 63 == 62 ? '.' : (char)('a' + i % 26);
    if (body > 0 && out[body - 1] == '.')
        out[body - 1] = 'z';
    strcpy(out + body, ".example");
}

/* A policy domain of 253 bytes is counted, of 254 is no host name (invalid-report); an
   MX name of 253 bytes gets its mx: counter, of 254 counts under mx:~invalid. */
static void test_name_lengths(void)
{
    tlsrpt_store *st = tlib_mkstore(servers, "nl:", NULL, 0);
    static char dom[2][300], mx[2][300];
    char err[512], name[160], v[4096];
    tlsrpt_count_info info;
    for (int k = 0; k < 2 && st; k++) {
        tlib_tr t;
        long_name(dom[k], 253 + (size_t)k);
        tlib_tr_init(&t, "Len Org", k ? "nl-2" : "nl-1", "2026-06-07");
        tlib_tr_policy(&t, "sts", dom[k], 4, 0);
        int rc = tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
        snprintf(name, sizeof name, "policy domain of %d bytes %s", 253 + k,
                 k ? "not counted (invalid-report)" : "counted");
        T_CHECK(k ? rc == TLSRPT_NOT_COUNTABLE && strcmp(info.reason, "invalid-report") == 0
                  : rc == TLSRPT_COUNTED, name);
        long_name(mx[k], 253 + (size_t)k);
        tlib_tr_init(&t, "Len Org", k ? "mx-2" : "mx-1", "2026-06-07");
        int p = tlib_tr_policy(&t, "sts", "len.example", 0, 1);
        tlib_tr_fail(&t, p, "validation-failure", mx[k], 1);
        T_INTEQ(tlsrpt_store_count(st, &t.r, &info, err, sizeof err), TLSRPT_COUNTED,
                k ? "report with a 254-byte MX name counted" : "report with a 253-byte MX name counted");
    }
    tlib_mc_check_num(rd, "nl:d:len.example:2026-06-07:type:validation-failure", 2,
                      "MX names of 253 and 254 bytes: both failures under type:");
    tlib_mc_check_num(rd, "nl:d:len.example:2026-06-07:mx:~invalid:fail", 1,
                      "MX name of 254 bytes: counted under mx:~invalid");
    int hashed = 0, invalid = 0, others = 0;
    if (tlib_mc_get_str(rd, "nl:d:len.example:2026-06-07:mxs", v, sizeof v))
        for (char *save, *m = strtok_r(v, " ", &save); m; m = strtok_r(NULL, " ", &save)) {
            if (strcmp(m, "~invalid") == 0)
                invalid++;
            else if (strlen(m) == 33 && m[0] == '~' && strspn(m + 1, "0123456789abcdef") == 32)
                hashed++;
            else
                others++;
        }
    T_CHECK(hashed == 1 && invalid == 1 && others == 0,
            "mxs: the 253-byte MX as ~ + 32 hex, and ~invalid");
    tlsrpt_store_free(st);
}

/* Remaining TTL of the index marker of member in set (full key), -2 when missing. */
static long marker_ttl(const char *prefix, const char *set, const char *member)
{
    char buf[600], hex[65], key[300];
    size_t sl = strlen(set), ml = strlen(member);
    memcpy(buf, set, sl + 1);
    memcpy(buf + sl + 1, member, ml);
    tlib_sha_hex(buf, sl + 1 + ml, hex);
    snprintf(key, sizeof key, "%six:%.32s", prefix, hex);
    return remaining_ttl(key);
}

/* Index markers live min(120 s, CounterTTL); 120 s when counters never expire. */
static void test_marker_ttl(void)
{
    static const long ttls[] = { 119, 120, 121, 0 }, want[] = { 119, 120, 120, 120 };
    static const char *const pfx[] = { "mk119:", "mk120:", "mk121:", "mk0:" };
    char name[160], set[100];
    for (size_t i = 0; i < sizeof ttls / sizeof ttls[0]; i++) {
        tlsrpt_store *st = ttl_store(pfx[i], ttls[i]);
        tlsrpt_count_info info;
        char err[256];
        tlib_tr t;
        tlib_tr_init(&t, "Mark Org", "mk-1", "2026-06-06");
        tlib_tr_policy(&t, "sts", "mark.example", 5, 0);
        if (st)
            tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
        snprintf(set, sizeof set, "%sdomains", pfx[i]);
        long left = marker_ttl(pfx[i], set, "mark.example");
        snprintf(name, sizeof name, "CounterTTL %ld: index marker lives %ld s (got %ld)", ttls[i],
                 want[i], left);
        T_CHECK(left <= want[i] + 1 && left >= want[i] - 5, name);
        tlsrpt_store_free(st);
    }
}

/* At most 64 memcached servers: 64 accepted, 65 refused naming the limit. */
static void test_server_count(void)
{
    for (int n = 64; n <= 65; n++) {
        char list[2048], err[256] = "";
        size_t o = 0;
        for (int i = 0; i < n; i++)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s127.0.0.1:%d", i ? "," : "", 20000 + i);
        tlsrpt_store_conf conf = { .servers = list, .timeout_ms = 100 };
        tlsrpt_store *st = tlsrpt_store_new(&conf, err, sizeof err);
        if (n == 64)
            T_CHECK(st != NULL, "64 memcached servers accepted");
        else
            T_CHECK(!st && strstr(err, "too many memcached servers (max 64)"),
                    "65 memcached servers refused, the limit named");
        tlsrpt_store_free(st);
    }
}

/* Value of key as a string ("" when missing). */
static const char *raw(const char *key)
{
    static char v[64];
    if (!tlib_mc_get_str(rd, key, v, sizeof v))
        v[0] = 0;
    return v;
}

/* Count a one-policy report of ok sessions for sat.example into st; the status. */
static int count_ok(tlsrpt_store *st, const char *rid, int64_t ok, int64_t failed,
                    tlsrpt_count_info *info)
{
    char err[512];
    tlib_tr t;
    tlib_tr_init(&t, "Sat Org", rid, "2026-06-08");
    int p = tlib_tr_policy(&t, "sts", "sat.example", ok, failed);
    if (failed)
        tlib_tr_fail(&t, p, "validation-failure", "mx.sat.example", failed);
    int rc = tlsrpt_store_count(st, &t.r, info, err, sizeof err);
    if (rc != TLSRPT_COUNTED)
        printf("  %s: %s\n", rid, err);
    return rc;
}

/* Increments saturate at 2^63-1 instead of wrapping. */
static void test_saturation(void)
{
    static const char max[] = "9223372036854775807";
    char err[256];
    tlsrpt_store_conf conf = { .servers = servers, .prefix = "sat:", .timeout_ms = 1000,
                               .max_session_count = INT64_MAX };
    tlsrpt_store *st = tlsrpt_store_new(&conf, err, sizeof err);
    tlsrpt_count_info info;
    const char *ok = "sat:d:sat.example:2026-06-08:ok", *org = "sat:d:sat.example:2026-06-08:org:Sat%20Org:ok";
    if (!st)
        return;
    T_INTEQ(count_ok(st, "s1", (int64_t)1 << 62, 0, &info), TLSRPT_COUNTED, "2^62 sessions counted");
    T_INTEQ(count_ok(st, "s2", (int64_t)1 << 62, 0, &info), TLSRPT_COUNTED, "2^62 more counted");
    T_CHECK(strcmp(raw(ok), max) == 0 && info.saturated >= 2, "2^62 + 2^62 = 2^63: saturated at 2^63-1");
    T_INTEQ(count_ok(st, "s3", INT64_MAX, 0, &info), TLSRPT_COUNTED,
            "2^63-1 more: counted (no 'Non-numeric server-side value')");
    T_STREQ(raw(ok), max, "ok still 2^63-1, no wrap, no padding");
    T_STREQ(raw(org), max, "org ok saturated too");
    T_STREQ(raw("sat:d:sat.example:2026-06-08:reports"), "3", "3 reports");
    /* near the limit through the store: 2^63-2, then + 1 (exactly 2^63-1), then + 1 more */
    const char *k = "sat:d:sat.example:2026-06-09:ok";
    tlib_tr t;
    tlib_tr_init(&t, "Sat Org", "s4a", "2026-06-09");
    tlib_tr_policy(&t, "sts", "sat.example", INT64_MAX - 1, 0);
    T_INTEQ(tlsrpt_store_count(st, &t.r, &info, err, sizeof err), TLSRPT_COUNTED, "2^63-2 counted");
    tlib_tr_init(&t, "Sat Org", "s4", "2026-06-09");
    tlib_tr_policy(&t, "sts", "sat.example", 1, 0);
    T_INTEQ(tlsrpt_store_count(st, &t.r, &info, err, sizeof err), TLSRPT_COUNTED, "2^63-2 + 1 counted");
    T_CHECK(strcmp(raw(k), max) == 0 && info.saturated == 0, "2^63-2 + 1 = 2^63-1 exactly: not clamped");
    tlib_tr_init(&t, "Sat Org", "s5", "2026-06-09");
    tlib_tr_policy(&t, "sts", "sat.example", 1, 0);
    T_INTEQ(tlsrpt_store_count(st, &t.r, &info, err, sizeof err), TLSRPT_COUNTED, "2^63-1 + 1 counted");
    T_CHECK(strcmp(raw(k), max) == 0 && info.saturated >= 1,
            "2^63-1 + 1: checked (the guard is past 2^62), clamped back to 2^63-1");
    T_STREQ(raw("sat:d:sat.example:2026-06-09:max"), max, "the guard is saturated too");
    /* v1 data: a wrapped v1 counter on a day the v1 index lists, no guard */
    k = "sat:d:sat.example:2026-06-10:ok";
    const char *days = "sat:d:sat.example:days";
    memcached_append(rd, days, strlen(days), " 2026-06-10", 11, 0, 0);
    memcached_set(rd, k, strlen(k), "18446744073709551000", 20, 0, 0);
    tlib_tr_init(&t, "Sat Org", "s6", "2026-06-10");
    tlib_tr_policy(&t, "sts", "sat.example", 2000, 0);
    T_INTEQ(tlsrpt_store_count(st, &t.r, &info, err, sizeof err), TLSRPT_COUNTED,
            "a v1 counter past 2^64 - 1000 + 2000 counted");
    T_CHECK(strcmp(raw(k), max) == 0 && info.saturated == 1,
            "known day without a guard: checked; memcached wrapped it (answer below the delta): clamped");
    T_CHECK(!raw("sat:d:sat.example:2026-06-10:max")[0],
            "known day without a guard: it stays unguarded (checked from now on)");
    /* a normal day: the guard bounds every counter, and the increments were quiet */
    tlib_tr_init(&t, "Sat Org", "s7", "2026-06-11");
    int p = tlib_tr_policy(&t, "sts", "sat.example", 70, 5);
    tlib_tr_fail(&t, p, "validation-failure", "mx.sat.example", 5);
    T_INTEQ(tlsrpt_store_count(st, &t.r, &info, err, sizeof err), TLSRPT_COUNTED, "a normal report counted");
    T_STREQ(raw("sat:d:sat.example:2026-06-11:max"), "70", "a new day's guard = the report's largest delta");
    tlib_tr_init(&t, "Sat Org", "s8", "2026-06-11");
    p = tlib_tr_policy(&t, "sts", "sat.example", 3, 9);
    tlib_tr_fail(&t, p, "validation-failure", "mx.sat.example", 9);
    tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
    T_CHECK(atoll(raw("sat:d:sat.example:2026-06-11:max")) == 79 && atoll(raw("sat:d:sat.example:2026-06-11:ok")) == 73
            && atoll(raw("sat:d:sat.example:2026-06-11:fail")) == 14, "the guard (79) bounds every counter (73, 14)");
    tlsrpt_store_free(st);
}

/* MaxSessionCount: 2^40 sessions counted, 2^40 + 1 make the report invalid. */
static void test_session_limit(void)
{
    tlsrpt_store *st = tlib_mkstore(servers, "msc:", NULL, 0);
    tlsrpt_count_info info;
    char err[256], v[64];
    tlib_tr t;
    int64_t lim = TLSRPT_DEF_MAX_SESSION_COUNT;
    if (!st)
        return;
    tlib_tr_init(&t, "O", "m1", "2026-06-11");
    int p = tlib_tr_policy(&t, "sts", "msc.example", lim, lim);
    tlib_tr_fail(&t, p, "validation-failure", "mx.msc.example", lim);
    T_INTEQ(tlsrpt_store_count(st, &t.r, &info, err, sizeof err), TLSRPT_COUNTED,
            "session counts of exactly 2^40 counted");
    tlib_tr_init(&t, "O", "m2", "2026-06-12");
    tlib_tr_policy(&t, "sts", "msc.example", lim + 1, 0);
    T_CHECK(tlsrpt_store_count(st, &t.r, &info, err, sizeof err) == TLSRPT_NOT_COUNTABLE
            && strcmp(info.reason, "invalid-report") == 0, "a total of 2^40 + 1: invalid-report");
    tlib_tr_init(&t, "O", "m3", "2026-06-12");
    p = tlib_tr_policy(&t, "sts", "msc.example", 1, 0);
    tlib_tr_fail(&t, p, "validation-failure", "mx.msc.example", lim + 1);
    T_CHECK(tlsrpt_store_count(st, &t.r, &info, err, sizeof err) == TLSRPT_NOT_COUNTABLE
            && strcmp(info.reason, "invalid-report") == 0, "a failed-session-count of 2^40 + 1: invalid-report");
    T_CHECK(!tlib_mc_get_str(rd, "msc:d:msc.example:2026-06-12:ok", v, sizeof v),
            "an invalid report wrote nothing");
    tlsrpt_store_free(st);
}

/* Counter values memcached pads with spaces (an incr result shorter than the value). */
static void test_padded(void)
{
    static const struct { const char *v; int rc; int64_t n; } cases[] = {
        { "12", 0, 12 }, { "1004  ", 0, 1004 }, { " 7 ", 0, 7 }, { "12\r\n", 0, 12 },
        { "0", 0, 0 }, { "9223372036854775806", 0, INT64_MAX - 1 },
        { "9223372036854775807", 0, INT64_MAX }, { "9223372036854775808", 0, INT64_MAX },
        { "18446744073709551615", 0, INT64_MAX }, { "99999999999999999999999", 0, INT64_MAX },
        { "", -1, 0 }, { "   ", -1, 0 }, { "abc", -1, 0 }, { "1 2", -1, 0 }, { "-1", -1, 0 },
        { "12x", -1, 0 },
    };
    char name[120];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t n = -5;
        int rc = tlsrpt_store_parse_count(cases[i].v, strlen(cases[i].v), &n);
        char shown[40];
        size_t o = 0;
        for (const char *c = cases[i].v; *c && o + 3 < sizeof shown; c++)
            o += (size_t)snprintf(shown + o, sizeof shown - o, *c == '\r' ? "\\r" : *c == '\n'
                                  ? "\\n" : "%c", *c);
        shown[o] = 0;
        snprintf(name, sizeof name, "parse_count \"%s\" -> %s %lld", shown,
                 cases[i].rc ? "error" : "ok", (long long)cases[i].n);
        T_CHECK(rc == cases[i].rc && (rc || n == cases[i].n), name);
    }
    /* memcached itself pads: a value of 6 bytes incremented to a 4-digit number */
    tlsrpt_store *st = tlib_mkstore(servers, "pad:", NULL, 0);
    tlsrpt_count_info info;
    char err[256], v[64];
    const char *k = "pad:d:pad.example:2026-06-13:ok";
    memcached_set(rd, k, strlen(k), "999   ", 6, 0, 0);
    tlib_tr t;
    tlib_tr_init(&t, "O", "p1", "2026-06-13");
    tlib_tr_policy(&t, "sts", "pad.example", 5, 0);
    T_INTEQ(st ? tlsrpt_store_count(st, &t.r, &info, err, sizeof err) : -1, TLSRPT_COUNTED,
            "a padded counter is incremented");
    int64_t n = 0;
    T_CHECK(tlib_mc_get_str(rd, k, v, sizeof v) && tlsrpt_store_parse_count(v, strlen(v), &n) == 0
            && n == 1004, "the padded result reads 1004");
    tlsrpt_store_free(st);
}

int main(void)
{
    char err[256];
    if (tlib_mc_boot("store bounds", &mc_port, &mc_pid, servers, sizeof servers) != 0)
        T_MAIN_END();
    tlsrpt_store_conf rconf = { .servers = servers, .timeout_ms = 1000 };
    rd = tlsrpt_store_memc_new(&rconf, err, sizeof err);
    if (!rd) {
        T_CHECK(rd != NULL, "store bounds: reader connects");
        T_MAIN_END();
    }
    test_server_count();
    test_ttl_30_days();
    test_marker_ttl();
    test_component_120();
    test_domain_cap();
    test_mx_cap_order();
    test_name_lengths();
    test_saturation();
    test_session_limit();
    test_padded();
    memcached_free(rd);
    tlib_mc_stop(&mc_pid);
    T_MAIN_END();
}
