/*
 * test_store_req.c - the request API of store/ (tlsrpt_store_count_req) against
 * real memcacheds this test starts itself (SKIP without the binary): identity
 * (the DKIM signer's organisational domain keys the dedup marker and the org
 * counters, the organization-name is a display label; a report signed by
 * evil.example with Google's name and report-id cannot make google.com's a
 * duplicate), the dedup marker holding the spool entry id (the hung-server case:
 * memcached stopped with SIGSTOP while the add is on its way, the client times out,
 * SIGCONT, the retry with the same entry id resumes and counts exactly once;
 * another entry id is a duplicate), before_counters, partial counter bursts (a
 * server stopped during the counter burst; a retry then fails "store-partial"),
 * TLSRPT_REQ_RECOVER, and two servers with the marker's server down at the
 * counter burst (nothing reaches the other one).
 */
#include <signal.h>
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

/* Key "P seen:H" for the signer org_key (NULL: organization-name org) and report-id rid. */
static void seen_key(char *out, size_t n, const char *prefix, const char *org_key,
                     const char *org, const char *rid)
{
    char buf[600], hex[65];
    size_t o = 0;
    if (org_key) {
        memcpy(buf, "dkim", 5);
        o = 5;
        memcpy(buf + o, org_key, strlen(org_key) + 1);
        o += strlen(org_key) + 1;
    } else {
        memcpy(buf, org, strlen(org) + 1);
        o = strlen(org) + 1;
    }
    memcpy(buf + o, rid, strlen(rid));
    o += strlen(rid);
    tlib_sha_hex(buf, o, hex);
    snprintf(out, n, "%sseen:%s", prefix, hex);
}

/* A one-policy report for domain dom with ok / fail sessions. */
static void one_report(tlib_tr *t, const char *org, const char *rid, const char *dom, int ok, int fail)
{
    tlib_tr_init(t, org, rid, "2026-07-01");
    int p = tlib_tr_policy(t, "sts", dom, ok, fail);
    tlib_tr_ps(t, p, "mode: enforce");
    if (fail)
        tlib_tr_fail(t, p, "certificate-expired", "mx1.example.net", fail);
}

/* The signer, not the self-declared name, is the identity. */
static void test_identity(void)
{
    tlsrpt_store *st = tlib_mkstore(servers, "id:", NULL, 0);
    tlsrpt_count_req google = { .org_key = "google.com" }, evil = { .org_key = "evil.example" };
    tlsrpt_count_info info;
    char err[512], key[300], v[512];
    tlib_tr t;
    if (!st)
        return;
    one_report(&t, "Google Inc.", "2026-07-01_victim", "victim.example", 100, 2);
    T_INTEQ(tlsrpt_store_count_req(st, &t.r, &evil, &info, err, sizeof err), TLSRPT_COUNTED,
            "identity: evil.example's report claiming Google's name counted");
    T_INTEQ(tlsrpt_store_count_req(st, &t.r, &google, &info, err, sizeof err), TLSRPT_COUNTED,
            "identity: google.com's report with the same name and report-id is no duplicate");
    T_INTEQ(tlsrpt_store_count_req(st, &t.r, &google, &info, err, sizeof err), TLSRPT_DUPLICATE,
            "identity: google.com's report again is a duplicate");
    T_INTEQ(tlsrpt_store_count_req(st, &t.r, &evil, &info, err, sizeof err), TLSRPT_DUPLICATE,
            "identity: evil.example's again is a duplicate of its own");
    T_INTEQ(tlsrpt_store_count_req(st, &t.r, NULL, &info, err, sizeof err), TLSRPT_COUNTED,
            "identity: without a signer (Authentication none) it is organization-name based");
    seen_key(key, sizeof key, "id:", "google.com", NULL, "2026-07-01_victim");
    T_CHECK(tlib_mc_get_str(rd, key, v, sizeof v), "identity: marker = SHA-256(\"dkim\" NUL "
            "org_key NUL report-id)");
    seen_key(key, sizeof key, "id:", NULL, "Google Inc.", "2026-07-01_victim");
    T_CHECK(tlib_mc_get_str(rd, key, v, sizeof v), "identity: v1 marker without a signer");
    tlib_mc_check_num(rd, "id:d:victim.example:2026-07-01:org:google.com:ok", 100,
                      "identity: org counter keyed by the signer");
    tlib_mc_check_num(rd, "id:d:victim.example:2026-07-01:org:evil.example:ok", 100,
                      "identity: the forger counts under its own signer");
    tlib_mc_check_num(rd, "id:d:victim.example:2026-07-01:org:Google%20Inc.:ok", 100,
                      "identity: the unsigned one under the organization-name");
    tlib_mc_check_num(rd, "id:d:victim.example:2026-07-01:reports", 3, "identity: 3 reports counted");
    tlib_mc_check_set(rd, "id:d:victim.example:2026-07-01:orgs", "evil.example google.com Google%20Inc.",
                      "identity: orgs set lists signers and the unsigned name");
    T_CHECK(tlib_mc_get_str(rd, "id:org:google.com:name", v, sizeof v)
            && strcmp(v, "Google%20Inc.") == 0, "identity: org:google.com:name = the encoded display name");
    T_CHECK(tlib_mc_get_str(rd, "id:org:evil.example:name", v, sizeof v)
            && strcmp(v, "Google%20Inc.") == 0, "identity: the forger's label is its own key");
    T_CHECK(!tlib_mc_get_str(rd, "id:org:Google%20Inc.:name", v, sizeof v),
            "identity: no label without a signer");
    tlsrpt_store_free(st);
}

/* Stop memcached and wait (at most 2 s) until it really is stopped: kill() returns
   before the signal takes effect, and memcached could still answer a burst meanwhile. */
static void stop_mc(void)
{
    char path[64], buf[256];
    kill(mc_pid, SIGSTOP);
    snprintf(path, sizeof path, "/proc/%d/stat", (int)mc_pid);
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f)
            fclose(f);
        buf[n] = 0;
        const char *close_paren = strrchr(buf, ')');
        if (close_paren && (close_paren[2] == 'T' || close_paren[2] == 't'))
            return;
        usleep(10000);
    }
}

/* before_counters: called once, before any counter of the report exists. */
typedef struct bc_arg {
    int calls;
    long long reports_then;     /* the reports counter when called */
    const char *key;
    int stop;                   /* SIGSTOP memcached in the callback */
} bc_arg;

/* The before_counters callback of the tests. */
static void on_before(void *v)
{
    bc_arg *a = v;
    a->calls++;
    a->reports_then = tlib_mc_get_num(rd, a->key);
    if (a->stop)
        stop_mc();
}

/* Wait (at most 3 s) until key holds a value; 1 when it does. */
static int wait_for(const char *key, char *v, size_t n)
{
    for (int i = 0; i < 60; i++) {
        if (tlib_mc_get_str(rd, key, v, n))
            return 1;
        usleep(50000);
    }
    return 0;
}

/* The hung server: the add reaches memcached after the client gave up. */
static void test_hung_add(void)
{
    tlsrpt_store *st = tlib_mkstore(servers, "hung:", NULL, 0);
    bc_arg bc = { .key = "hung:d:hung.example:2026-07-01:reports" };
    tlsrpt_count_req q = { .org_key = "example.org", .entry_id = "20260701T000000Z-h1-1-1",
                           .before_counters = on_before, .arg = &bc };
    tlsrpt_count_info info;
    char err[512], key[300], v[256];
    tlib_tr t;
    if (!st)
        return;
    one_report(&t, "Example", "hung-1", "hung.example", 7, 1);
    stop_mc();
    int rc = tlsrpt_store_count_req(st, &t.r, &q, &info, err, sizeof err);
    kill(mc_pid, SIGCONT);
    printf("  hung add: %s\n", err);
    T_CHECK(rc == TLSRPT_STORE_FAILED && !info.partial && strcmp(info.reason, "store-unavailable") == 0,
            "hung add: client timed out, nothing applied (not partial)");
    T_INTEQ(bc.calls, 0, "hung add: before_counters not called");
    seen_key(key, sizeof key, "hung:", "example.org", NULL, "hung-1");
    T_CHECK(wait_for(key, v, sizeof v) && strcmp(v, q.entry_id) == 0,
            "hung add: after SIGCONT the late add holds the entry id");
    tlib_mc_check_num(rd, bc.key, -1, "hung add: no counter yet");
    rc = tlsrpt_store_count_req(st, &t.r, &q, &info, err, sizeof err);
    if (rc != TLSRPT_COUNTED)
        printf("  retry: %s\n", err);
    T_CHECK(rc == TLSRPT_COUNTED && info.resumed, "hung add: the retry with the same entry id "
            "resumes (counted, not a duplicate)");
    T_CHECK(bc.calls == 1 && bc.reports_then == -1, "before_counters: once, before any counter");
    tlib_mc_check_num(rd, bc.key, 1, "hung add: counted exactly once");
    tlib_mc_check_num(rd, "hung:d:hung.example:2026-07-01:ok", 7, "hung add: ok exact");
    T_CHECK(tlib_mc_get_str(rd, key, v, sizeof v) && strcmp(v, "20260701T000000Z-h1-1-1 sent") == 0,
            "marker says the counter burst was sent");
    tlsrpt_count_req other = { .org_key = "example.org", .entry_id = "20260701T000001Z-h1-1-2" };
    T_INTEQ(tlsrpt_store_count_req(st, &t.r, &other, &info, err, sizeof err), TLSRPT_DUPLICATE,
            "another entry id is a duplicate");
    rc = tlsrpt_store_count_req(st, &t.r, &q, &info, err, sizeof err);
    T_CHECK(rc == TLSRPT_STORE_FAILED && info.partial && strcmp(info.reason, "store-partial") == 0,
            "the same entry after its counter burst: store-partial, not counted again");
    tlib_mc_check_num(rd, bc.key, 1, "still counted once");
    tlsrpt_store_free(st);
}

/* A server stopped during the counter burst: partial; the retry cannot count twice. */
static void test_hung_counters(void)
{
    tlsrpt_store *st = tlib_mkstore(servers, "hc:", NULL, 0);
    bc_arg bc = { .key = "hc:d:hc.example:2026-07-01:reports", .stop = 1 };
    tlsrpt_count_req q = { .entry_id = "20260701T000000Z-h1-1-3", .before_counters = on_before,
                           .arg = &bc };
    tlsrpt_count_info info;
    char err[512], key[300], v[256];
    tlib_tr t;
    if (!st)
        return;
    one_report(&t, "Example", "hc-1", "hc.example", 3, 0);
    int rc = tlsrpt_store_count_req(st, &t.r, &q, &info, err, sizeof err);
    kill(mc_pid, SIGCONT);
    printf("  hung counters: %s\n", err);
    T_CHECK(rc == TLSRPT_STORE_FAILED && info.partial && strcmp(info.reason, "store-partial") == 0,
            "counter burst timed out: partial (store-partial)");
    seen_key(key, sizeof key, "hc:", NULL, "Example", "hc-1");
    T_CHECK(wait_for(bc.key, v, sizeof v), "the stopped server applied the burst after SIGCONT");
    bc.stop = 0;
    rc = tlsrpt_store_count_req(st, &t.r, &q, &info, err, sizeof err);
    T_CHECK(rc == TLSRPT_STORE_FAILED && info.partial, "retry after a partial burst: store-partial");
    tlib_mc_check_num(rd, bc.key, 1, "hung counters: counted once");
    tlsrpt_store_free(st);
}

/* TLSRPT_REQ_RECOVER: count only when our marker from before the burst is there. */
static void test_recover(void)
{
    tlsrpt_store *st = tlib_mkstore(servers, "rc:", NULL, 0);
    tlsrpt_count_req q = { .entry_id = "20260701T000000Z-h1-1-4", .flags = TLSRPT_REQ_RECOVER };
    tlsrpt_count_info info;
    char err[512], key[300], v[256];
    tlib_tr t;
    if (!st)
        return;
    one_report(&t, "Example", "rc-1", "rc.example", 4, 0);
    int rc = tlsrpt_store_count_req(st, &t.r, &q, &info, err, sizeof err);
    printf("  recover, no marker: %s\n", err);
    seen_key(key, sizeof key, "rc:", NULL, "Example", "rc-1");
    T_CHECK(rc == TLSRPT_STORE_FAILED && info.partial, "recover: marker missing (lost) -> partial");
    T_CHECK(!tlib_mc_get_str(rd, key, v, sizeof v), "recover: no marker added");
    tlib_mc_check_num(rd, "rc:d:rc.example:2026-07-01:ok", -1, "recover: nothing counted");
    memcached_set(rd, key, strlen(key), q.entry_id, strlen(q.entry_id), 0, 0);
    rc = tlsrpt_store_count_req(st, &t.r, &q, &info, err, sizeof err);
    T_CHECK(rc == TLSRPT_COUNTED && info.resumed, "recover: own marker from before the burst -> counted");
    tlib_mc_check_num(rd, "rc:d:rc.example:2026-07-01:ok", 4, "recover: counted once");
    memcached_set(rd, key, strlen(key), "someone-else", 12, 0, 0);
    T_INTEQ(tlsrpt_store_count_req(st, &t.r, &q, &info, err, sizeof err), TLSRPT_DUPLICATE,
            "recover: another entry's marker -> duplicate");
    tlsrpt_count_req bad = { .entry_id = "bad id" };
    T_CHECK(tlsrpt_store_count_req(st, &t.r, &bad, &info, err, sizeof err) == TLSRPT_STORE_FAILED
            && strstr(err, "entry id"), "an entry id with a space is refused");
    tlsrpt_store_free(st);
}

/* Two servers; the marker's server dies before the counter burst: nothing reaches
   the other one, and after it comes back empty the retry counts exactly once. */
typedef struct two_arg {
    pid_t *victim;
} two_arg;

/* before_counters of the two-server test: kill the marker's server. */
static void kill_victim(void *v)
{
    tlib_mc_stop(((two_arg *)v)->victim);
}

static void test_two_servers(void)
{
    pid_t pid2;
    int port2;
    char list[128], err[512], key[300];
    if (tlib_mc_start(&port2, &pid2) != 0) {
        T_CHECK(0, "second memcached started");
        return;
    }
    snprintf(list, sizeof list, "%s,127.0.0.1:%d", servers, port2);
    tlsrpt_store *st = tlib_mkstore(list, "two:", NULL, 0);
    tlsrpt_store_conf rc2 = { .servers = list, .timeout_ms = 1000 };
    memcached_st *both = tlsrpt_store_memc_new(&rc2, err, sizeof err);
    int found = 0;
    tlib_tr t;
    char rid[32], dom[64];
    /* a report whose marker lives on the second server and whose counters partly on the first */
    for (int i = 0; i < 200 && st && both && !found; i++) {
        snprintf(rid, sizeof rid, "two-%d", i);
        seen_key(key, sizeof key, "two:", NULL, "Two", rid);
        found = memcached_generate_hash(both, key, strlen(key)) == 1;
    }
    snprintf(dom, sizeof dom, "two.example");
    if (found) {
        pid_t victim = pid2;
        two_arg ta = { &victim };
        tlsrpt_count_req q = { .entry_id = "20260701T000000Z-h1-1-5", .before_counters = kill_victim,
                               .arg = &ta };
        tlsrpt_count_info info;
        one_report(&t, "Two", rid, dom, 9, 0);
        int rc = tlsrpt_store_count_req(st, &t.r, &q, &info, err, sizeof err);
        printf("  marker server down: %s\n", err);
        T_CHECK(rc == TLSRPT_STORE_FAILED && !info.partial,
                "marker's server down at the counter burst: failed, nothing applied");
        char k[200], v[64];
        int any = 0;
        static const char *const sfx[] = { "ok", "fail", "reports", "mode:enforce", "org:Two:ok" };
        for (size_t j = 0; j < 5; j++) {
            snprintf(k, sizeof k, "two:d:%s:2026-07-01:%s", dom, sfx[j]);
            any |= memcached_generate_hash(both, k, strlen(k)) == 0 && tlib_mc_get_str(both, k, v, sizeof v);
        }
        T_CHECK(!any, "no counter reached the other server");
        T_CHECK(tlib_mc_spawn(port2, &pid2) == 0, "marker's server back, empty");
        for (int i = 0; i < 40 && (rc = tlsrpt_store_count_req(st, &t.r, &q, &info, err, sizeof err))
                                   == TLSRPT_STORE_FAILED; i++)
            usleep(100000);
        T_INTEQ(rc, TLSRPT_COUNTED, "retry after it came back empty: counted");
        snprintf(k, sizeof k, "two:d:%s:2026-07-01:ok", dom);
        tlib_mc_check_num(both, k, 9, "two servers: counted exactly once");
    } else {
        T_CHECK(found, "found a report id whose marker hashes to the second server");
    }
    if (both)
        memcached_free(both);
    tlsrpt_store_free(st);
    tlib_mc_stop(&pid2);
}

int main(void)
{
    char err[256];
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    if (tlib_mc_boot("store requests", &mc_port, &mc_pid, servers, sizeof servers) != 0)
        T_MAIN_END();
    tlsrpt_store_conf rconf = { .servers = servers, .timeout_ms = 1000 };
    rd = tlsrpt_store_memc_new(&rconf, err, sizeof err);
    if (!rd) {
        T_CHECK(rd != NULL, "store requests: reader connects");
        T_MAIN_END();
    }
    test_identity();
    test_hung_add();
    test_hung_counters();
    test_recover();
    test_two_servers();
    memcached_free(rd);
    tlib_mc_stop(&mc_pid);
    T_MAIN_END();
}
