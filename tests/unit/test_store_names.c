/*
 * test_store_names.c - domain names are names (issue 13): tlsrpt_store_normalize_domain
 * (U-labels to A-labels with libidn2, lower-case, one trailing dot, host-name syntax,
 * 63-byte labels, 253-byte names), then, against a real memcached this test starts
 * itself (SKIP without the binary): "bücher.test" and "xn--bcher-kva.test" count
 * under one key; "victim.test x" is invalid-report and writes nothing; an MX that is
 * not a host name counts under mx:~invalid; an IDN MX gets its A-label; the allow-list
 * matches U-labels and refuses a non-name; a signer spelled in upper case is the same
 * identity.
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

/* A name of n bytes: labels of `lab` bytes joined by dots, ending in ".test". */
static void name_of(char *out, size_t n, size_t lab)
{
    size_t body = n - 5;
    for (size_t i = 0; i < body; i++)
        out[i] = (i + 1) % (lab + 1) == 0 ? '.' : (char)('a' + i % 26);
    if (body && out[body - 1] == '.')
        out[body - 1] = 'z';
    strcpy(out + body, ".test");
}

/* The normalization table. */
static void test_normalize(void)
{
    static char n253[260], n254[260], l63[80], l64[80];
    name_of(n253, 253, 62);
    name_of(n254, 254, 62);
    memset(l63, 'a', 63);
    strcpy(l63 + 63, ".test");
    memset(l64, 'a', 64);
    strcpy(l64 + 64, ".test");
    const struct { const char *in, *want; } cases[] = {
        { "example.com", "example.com" }, { "Example.COM.", "example.com" },
        { "b\xc3\xbc" "cher.test", "xn--bcher-kva.test" },
        { "B\xc3\x9c" "CHER.test.", "xn--bcher-kva.test" },
        { "xn--bcher-kva.test", "xn--bcher-kva.test" }, { "XN--BCHER-KVA.TEST", "xn--bcher-kva.test" },
        { "\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88", "xn--r8jz45g.xn--zckzah" },
        { "\xe4\xbe\x8b\xe3\x81\x88\xe3\x80\x82\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88", "xn--r8jz45g.xn--zckzah" },
        { "mx-1.a1.test", "mx-1.a1.test" }, { "192.0.2.1", "192.0.2.1" }, { l63, l63 }, { n253, n253 },
        { "victim.test x", NULL }, { "a..b", NULL }, { ".a.test", NULL }, { "", NULL }, { ".", NULL },
        { "-a.test", NULL }, { "a-.test", NULL }, { "a_b.test", NULL }, { "a/b", NULL },
        { "2001:db8::1", NULL }, { "[192.0.2.1]", NULL }, { l64, NULL }, { n254, NULL },
        { "\xef\xbf\xbd.test", NULL }, { "a.test\r\n", NULL }, { "a\x01.test", NULL },
    };
    char out[256], name[400];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = tlsrpt_store_normalize_domain(cases[i].in, out, sizeof out);
        char shown[80];
        tlsrpt_key_component(shown, sizeof shown, strlen(cases[i].in) > 24 ? "(long name)" : cases[i].in);
        snprintf(name, sizeof name, "normalize %s -> %s", shown, cases[i].want
                 ? (strlen(cases[i].want) > 30 ? "(itself)" : cases[i].want) : "not a host name");
        T_CHECK(cases[i].want ? rc == 0 && strcmp(out, cases[i].want) == 0 : rc == -1 && !out[0], name);
    }
    T_INTEQ(tlsrpt_store_normalize_domain("example.com", out, 5), -2, "normalize: out too small -> -2");
}

/* Counting under the one spelling. */
static void test_counting(void)
{
    tlsrpt_store *st = tlib_mkstore(servers, "nm:", NULL, 0);
    tlsrpt_count_info info;
    char err[512], v[512];
    tlib_tr t;
    if (!st)
        return;
    tlib_tr_init(&t, "O", "u1", "2026-09-01");
    int p = tlib_tr_policy(&t, "sts", "b\xc3\xbc" "cher.test", 3, 2);
    tlib_tr_fail(&t, p, "validation-failure", "MX1.B\xc3\xbc" "cher.test.", 1);
    tlib_tr_fail(&t, p, "certificate-expired", "mx 1.example", 1);
    T_INTEQ(tlsrpt_store_count(st, &t.r, &info, err, sizeof err), TLSRPT_COUNTED, "U-label domain counted");
    T_STREQ(info.domains, "xn--bcher-kva.test", "info names the A-label");
    tlib_tr_init(&t, "O", "u2", "2026-09-01");
    tlib_tr_policy(&t, "sts", "XN--BCHER-KVA.test", 4, 0);
    T_INTEQ(tlsrpt_store_count(st, &t.r, &info, err, sizeof err), TLSRPT_COUNTED, "A-label domain counted");
    tlib_mc_check_num(rd, "nm:d:xn--bcher-kva.test:2026-09-01:reports", 2, "both spellings: one key");
    tlib_mc_check_num(rd, "nm:d:xn--bcher-kva.test:2026-09-01:ok", 7, "both spellings: ok summed");
    tlib_mc_check_set(rd, "nm:domains", "xn--bcher-kva.test", "domains: one member");
    tlib_mc_check_num(rd, "nm:d:xn--bcher-kva.test:2026-09-01:mx:mx1.xn--bcher-kva.test:fail", 1,
                      "IDN MX: its A-label");
    tlib_mc_check_num(rd, "nm:d:xn--bcher-kva.test:2026-09-01:mx:~invalid:fail", 1,
                      "MX with a space: mx:~invalid");
    tlib_mc_check_set(rd, "nm:d:xn--bcher-kva.test:2026-09-01:mxs", "mx1.xn--bcher-kva.test ~invalid",
                      "mxs: the A-label and ~invalid");
    tlib_mc_check_num(rd, "nm:d:xn--bcher-kva.test:2026-09-01:type:certificate-expired", 1,
                      "the invalid MX's failure still counts under type:");
    tlib_tr_init(&t, "O", "u3", "2026-09-01");
    tlib_tr_policy(&t, "sts", "good.test", 1, 0);
    tlib_tr_policy(&t, "sts", "victim.test x", 9, 9);
    int rc = tlsrpt_store_count(st, &t.r, &info, err, sizeof err);
    T_CHECK(rc == TLSRPT_NOT_COUNTABLE && strcmp(info.reason, "invalid-report") == 0
            && strstr(err, "victim.test%20x"), "'victim.test x': invalid-report, named encoded");
    T_CHECK(!tlib_mc_get_str(rd, "nm:d:good.test:2026-09-01:ok", v, sizeof v),
            "invalid report: nothing written (not even its valid domain)");
    tlsrpt_count_req up = { .org_key = "Google.COM." }, low = { .org_key = "google.com" };
    tlib_tr_init(&t, "Google Inc.", "u4", "2026-09-01");
    tlib_tr_policy(&t, "sts", "good.test", 1, 0);
    T_INTEQ(tlsrpt_store_count_req(st, &t.r, &up, &info, err, sizeof err), TLSRPT_COUNTED,
            "signer in upper case counted");
    T_INTEQ(tlsrpt_store_count_req(st, &t.r, &low, &info, err, sizeof err), TLSRPT_DUPLICATE,
            "the same signer in lower case: one identity");
    tlib_mc_check_num(rd, "nm:d:good.test:2026-09-01:org:google.com:ok", 1, "signer normalized in the key");
    tlsrpt_store_free(st);
}

/* The allow-list: normalized the same way; a non-name refused. */
static void test_allow(void)
{
    const char *allow[] = { "B\xc3\x9c" "CHER.test" }, *bad[] = { "ok.test", "bad name" };
    tlsrpt_store *st = tlib_mkstore(servers, "al:", allow, 1);
    tlsrpt_count_info info;
    char err[512];
    tlib_tr t;
    tlib_tr_init(&t, "O", "a1", "2026-09-02");
    tlib_tr_policy(&t, "sts", "xn--bcher-kva.test", 2, 0);
    T_INTEQ(st ? tlsrpt_store_count(st, &t.r, &info, err, sizeof err) : -1, TLSRPT_COUNTED,
            "allow-list U-label matches the report's A-label");
    tlsrpt_store_free(st);
    tlsrpt_store_conf conf = { .servers = servers, .policy_domains = bad, .n_policy_domains = 2 };
    st = tlsrpt_store_new(&conf, err, sizeof err);
    T_CHECK(!st && strstr(err, "'bad name'"), "allow-list entry that is not a host name refused, named");
    tlsrpt_store_free(st);
}

int main(void)
{
    char err[256];
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    test_normalize();
    if (tlib_mc_boot("store names", &mc_port, &mc_pid, servers, sizeof servers) != 0)
        T_MAIN_END();
    tlsrpt_store_conf rconf = { .servers = servers, .timeout_ms = 1000 };
    rd = tlsrpt_store_memc_new(&rconf, err, sizeof err);
    if (!rd) {
        T_CHECK(rd != NULL, "store names: reader connects");
        T_MAIN_END();
    }
    test_counting();
    test_allow();
    memcached_free(rd);
    tlib_mc_stop(&mc_pid);
    T_MAIN_END();
}
