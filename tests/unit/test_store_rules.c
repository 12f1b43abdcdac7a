/*
 * test_store_rules.c - the counting rules of issue 12 against a real memcached this
 * test starts itself (SKIP without the binary): within one report and domain,
 * policies of one type add up; sts and tlsa describe the same sessions, so the
 * domain's ok/fail (and the org's) take the type with more sessions (a tie goes to
 * more failures); no-policy-found and any other type add; every policy type's own
 * sums are in d:D:Y:ptype:T:ok / fail; result type and MX counters keep every
 * failure of every policy; tlsrpt_count_info's sums follow the same rule. The
 * real Microsoft report of the shared corpus (sts + tlsa for one domain, SKIP when
 * the corpus is absent) counts its sessions once.
 */
#include <time.h>
#include <unistd.h>
#include <libmemcached/memcached.h>
#include "tlib.h"
#include "tlib_memcached.h"
#include "tlib_report.h"
#include "tlib_store.h"
#include "store.h"

static pid_t mc_pid;
static int mc_port;
static memcached_st *rd;
static char servers[64];

/* One case: up to 4 policies (type, ok, fail) of domain "r.example", and what D gets. */
typedef struct r12_case {
    const char *what;
    struct { const char *type; int ok, fail; } pol[TLIB_TR_POL];
    long long want_ok, want_fail;
} r12_case;

static const r12_case cases[] = {
    { "sts 10/3 beats tlsa 5/0", { { "sts", 10, 3 }, { "tlsa", 5, 0 } }, 10, 3 },
    { "tlsa 7/1 beats sts 2/0", { { "sts", 2, 0 }, { "tlsa", 7, 1 } }, 7, 1 },
    { "tie 10 = 10: more failures win (sts 5/5)", { { "tlsa", 8, 2 }, { "sts", 5, 5 } }, 5, 5 },
    { "tie 10 = 10: more failures win (tlsa 4/6)", { { "sts", 7, 3 }, { "tlsa", 4, 6 } }, 4, 6 },
    { "two sts policies add (two versions), then beat tlsa", { { "sts", 4, 0 }, { "sts", 6, 1 },
                                                            { "tlsa", 9, 0 } }, 10, 1 },
    { "no-policy-found adds to sts", { { "no-policy-found", 3, 1 }, { "sts", 2, 0 } }, 5, 1 },
    { "an unknown type adds like no-policy-found", { { "weird", 2, 2 }, { "tlsa", 4, 0 } }, 6, 2 },
    { "only no-policy-found, two of them", { { "no-policy-found", 1, 0 },
                                             { "no-policy-found", 2, 1 } }, 3, 1 },
    { "policy type case does not matter", { { "STS", 3, 0 }, { "Tlsa", 3, 1 } }, 3, 1 },
    { "sts, tlsa, no-policy-found and other together", { { "sts", 5, 0 }, { "tlsa", 1, 1 },
                                                         { "no-policy-found", 2, 0 },
                                                         { NULL, 1, 1 } }, 8, 1 },
};

/* Class of a case's type string, as the store defines it. */
static int pclass(const char *t)
{
    return !t ? 3 : !strcasecmp(t, "sts") ? 0 : !strcasecmp(t, "tlsa") ? 1
         : !strcasecmp(t, "no-policy-found") ? 2 : 3;
}

/* Count case i under its own prefix and check every domain-level key. */
static void run_case(size_t i)
{
    static const char *const pt[] = { "sts", "tlsa", "no-policy-found", "other" };
    const r12_case *c = &cases[i];
    char pfx[16], key[200], name[200], err[512];
    long long pok[4] = { 0 }, pfail[4] = { 0 };
    int has[4] = { 0 };
    tlsrpt_count_info info;
    tlib_tr t;
    snprintf(pfx, sizeof pfx, "r%zu:", i);
    tlsrpt_store *st = tlib_mkstore(servers, pfx, NULL, 0);
    tlib_tr_init(&t, "Rules Org", "r12", "2026-08-01");
    for (int k = 0; k < TLIB_TR_POL && (c->pol[k].type || c->pol[k].ok); k++) {
        int p = tlib_tr_policy(&t, c->pol[k].type, "r.example", c->pol[k].ok, c->pol[k].fail);
        if (c->pol[k].fail)
            tlib_tr_fail(&t, p, "validation-failure", "mx.r.example", c->pol[k].fail);
        int cl = pclass(c->pol[k].type);
        pok[cl] += c->pol[k].ok, pfail[cl] += c->pol[k].fail, has[cl] = 1;
    }
    int rc = st ? tlsrpt_store_count(st, &t.r, &info, err, sizeof err) : -1;
    snprintf(name, sizeof name, "%s: counted", c->what);
    T_INTEQ(rc, TLSRPT_COUNTED, name);
    snprintf(key, sizeof key, "%sd:r.example:2026-08-01:ok", pfx);
    snprintf(name, sizeof name, "%s: ok", c->what);
    tlib_mc_check_num(rd, key, c->want_ok, name);
    snprintf(key, sizeof key, "%sd:r.example:2026-08-01:fail", pfx);
    snprintf(name, sizeof name, "%s: fail", c->what);
    tlib_mc_check_num(rd, key, c->want_fail, name);
    snprintf(key, sizeof key, "%sd:r.example:2026-08-01:org:Rules%%20Org:ok", pfx);
    snprintf(name, sizeof name, "%s: the org's ok follows the rule", c->what);
    tlib_mc_check_num(rd, key, c->want_ok, name);
    snprintf(name, sizeof name, "%s: info ok/fail follow the rule", c->what);
    T_CHECK(info.ok == c->want_ok && info.fail == c->want_fail, name);
    long long all_fail = 0;
    for (int k = 0; k < 4; k++) {
        all_fail += pfail[k];
        snprintf(key, sizeof key, "%sd:r.example:2026-08-01:ptype:%s:ok", pfx, pt[k]);
        snprintf(name, sizeof name, "%s: ptype:%s:ok %s", c->what, pt[k], has[k] ? "summed" : "absent");
        tlib_mc_check_num(rd, key, has[k] ? pok[k] : -1, name);
        snprintf(key, sizeof key, "%sd:r.example:2026-08-01:ptype:%s:fail", pfx, pt[k]);
        snprintf(name, sizeof name, "%s: ptype:%s:fail", c->what, pt[k]);
        tlib_mc_check_num(rd, key, has[k] ? pfail[k] : -1, name);
        snprintf(name, sizeof name, "%s: info pt sums of %s", c->what, pt[k]);
        T_CHECK(info.pt_ok[k] == pok[k] && info.pt_fail[k] == pfail[k], name);
    }
    snprintf(key, sizeof key, "%sd:r.example:2026-08-01:type:validation-failure", pfx);
    snprintf(name, sizeof name, "%s: type counter keeps every failure detail", c->what);
    tlib_mc_check_num(rd, key, all_fail ? all_fail : -1, name);
    snprintf(key, sizeof key, "%sd:r.example:2026-08-01:mx:mx.r.example:fail", pfx);
    snprintf(name, sizeof name, "%s: MX counter keeps every failure detail", c->what);
    tlib_mc_check_num(rd, key, all_fail ? all_fail : -1, name);
    tlsrpt_store_free(st);
}

/* Two domains: the rule applies per domain, and the report's sums add the domains. */
static void test_two_domains(void)
{
    tlsrpt_store *st = tlib_mkstore(servers, "r2d:", NULL, 0);
    tlsrpt_count_info info;
    char err[512];
    tlib_tr t;
    tlib_tr_init(&t, "O", "two", "2026-08-02");
    tlib_tr_policy(&t, "sts", "a.example", 10, 0);
    tlib_tr_policy(&t, "tlsa", "a.example", 10, 0);
    tlib_tr_policy(&t, "tlsa", "b.example", 4, 2);
    tlib_tr_policy(&t, "sts", "b.example", 1, 0);
    T_INTEQ(st ? tlsrpt_store_count(st, &t.r, &info, err, sizeof err) : -1, TLSRPT_COUNTED,
            "two domains: counted");
    tlib_mc_check_num(rd, "r2d:d:a.example:2026-08-02:ok", 10, "two domains: a's twins counted once");
    tlib_mc_check_num(rd, "r2d:d:b.example:2026-08-02:ok", 4, "two domains: b takes tlsa");
    T_CHECK(info.ok == 14 && info.fail == 2, "two domains: info sums add the domains");
    T_CHECK(info.pt_ok[TLSRPT_PT_STS] == 11 && info.pt_ok[TLSRPT_PT_TLSA] == 14,
            "two domains: info per-type sums");
    tlsrpt_store_free(st);
}

/* The Microsoft report of the shared corpus: sts 2/0 and tlsa 2/0 for random.net. */
static void test_microsoft(void)
{
    char path[600], err[512];
    const char *dir = tlib_corpus_dir();
    size_t len;
    snprintf(path, sizeof path, "%s/real/dmarc-report-viewer__microsoft.json", dir ? dir : ".");
    char *buf = dir ? tlib_read_file(path, &len) : NULL;
    if (!buf) {
        T_SKIP("Microsoft corpus report counted once", "shared corpus absent");
        return;
    }
    int rc;
    tlsrpt_report *r = tlib_decode(buf, len, NULL, TLSRPT_MODE_AUTO, &rc, err, sizeof err);
    tlsrpt_store *st = tlib_mkstore(servers, "ms:", NULL, 0);
    tlsrpt_count_info info;
    T_CHECK(r != NULL, "Microsoft corpus report decoded");
    if (r && st) {
        T_INTEQ(tlsrpt_store_count(st, r, &info, err, sizeof err), TLSRPT_COUNTED,
                "Microsoft corpus report counted");
        tlib_mc_check_num(rd, "ms:d:random.net:2025-05-23:ok", 2,
                          "Microsoft: sts + tlsa of one domain are 2 sessions, not 4");
        tlib_mc_check_num(rd, "ms:d:random.net:2025-05-23:ptype:sts:ok", 2, "Microsoft: ptype:sts:ok");
        tlib_mc_check_num(rd, "ms:d:random.net:2025-05-23:ptype:tlsa:ok", 2, "Microsoft: ptype:tlsa:ok");
        tlib_mc_check_num(rd, "ms:d:random.net:2025-05-23:reports", 1, "Microsoft: one report");
    }
    tlsrpt_report_free(r);
    tlsrpt_store_free(st);
    free(buf);
}

int main(void)
{
    char err[256];
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    if (tlib_mc_boot("store rules", &mc_port, &mc_pid, servers, sizeof servers) != 0)
        T_MAIN_END();
    tlsrpt_store_conf rconf = { .servers = servers, .timeout_ms = 1000 };
    rd = tlsrpt_store_memc_new(&rconf, err, sizeof err);
    if (!rd) {
        T_CHECK(rd != NULL, "store rules: reader connects");
        T_MAIN_END();
    }
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(i);
    test_two_domains();
    test_microsoft();
    memcached_free(rd);
    tlib_mc_stop(&mc_pid);
    T_MAIN_END();
}
