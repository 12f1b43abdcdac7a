/*
 * test_outcome.c - every path of milter/outcome.c's decision, with the libmilter
 * calls replaced by recorders: discard, report recipients removed (1, 2 and 3 of
 * them, each exactly once, as received), tag, duplicate, an error, a store failure
 * (deliver / tempfail), the rua_lost fallback, and smfi_delrcpt failing on the
 * first, the second and the last recipient (the mail is then tagged). In every path
 * that delivers with our header, each forged X-TLSRPT-Status is deleted, last index
 * first, with an empty value. Header values are cut at 100 bytes. Mails of several
 * report parts: every mix of counted, duplicate and failed parts with Action discard
 * and tag (the header says counted=N; of=M); a store that fails, under OnStoreError
 * deliver and tempfail.
 * Includes milter/outcome.c (and archive.c, archmeta.c, which it calls) directly (its static functions are the paths); the
 * t-milter.sh scripts drive the same code through libmilter and a real store.
 * Limits: the recorder keeps 64 KiB of calls; more is a failed check.
 */
#include "../../milter/outcome.c"
#include "../../milter/archive.c"
#include "../../milter/archmeta.c"
#include "tlib.h"
#include <stdarg.h>

static char g_calls[65536];     /* one line per libmilter call, as milter-driver prints */
static size_t g_ncalls;
static int g_delrcpt_fail_at;   /* 1-based smfi_delrcpt call that fails, 0 none */
static int g_delrcpt_n;

/* Append one recorded line. */
static void rec(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(g_calls + g_ncalls, sizeof g_calls - g_ncalls, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < sizeof g_calls - g_ncalls)
        g_ncalls += (size_t)n;
}

/* Forget the recorded calls; fail_at: which smfi_delrcpt call fails (0 none). */
static void rec_reset(int fail_at)
{
    g_calls[0] = 0;
    g_ncalls = 0;
    g_delrcpt_fail_at = fail_at;
    g_delrcpt_n = 0;
}

/* Recorder: smfi_addheader. */
int smfi_addheader(SMFICTX *ctx, char *name, char *value)
{
    (void)ctx;
    rec("ADDHEADER %s: %s\n", name, value);
    return MI_SUCCESS;
}

/* Recorder: smfi_chgheader (a NULL value deletes the field). */
int smfi_chgheader(SMFICTX *ctx, char *name, int idx, char *value)
{
    (void)ctx;
    rec("CHGHEADER %d %s: %s\n", idx, name, value ? value : "");
    return MI_SUCCESS;
}

/* Recorder: smfi_delrcpt, failing on call g_delrcpt_fail_at. */
int smfi_delrcpt(SMFICTX *ctx, char *rcpt)
{
    (void)ctx;
    if (++g_delrcpt_n == g_delrcpt_fail_at) {
        rec("DELRCPT-FAILED %s\n", rcpt);
        return MI_FAILURE;
    }
    rec("DELRCPT %s\n", rcpt);
    return MI_SUCCESS;
}

/* Recorder: smfi_setreply (code and extended code only). */
int smfi_setreply(SMFICTX *ctx, char *code, char *xcode, char *text)
{
    (void)ctx;
    (void)text;
    rec("REPLYCODE %s %s\n", code, xcode);
    return MI_SUCCESS;
}

/* No retry thread here (t-milter-archive.sh runs it). */
void tm_retry_wake(void)
{
}

/* Log lines are not checked here (t-milter.sh reads the milter's log). */
void tm_log(int prio, const char *fmt, ...)
{
    (void)prio;
    (void)fmt;
}

/* Log lines with a queue id: not checked here either. */
void tm_logq(int prio, const char *qid, const char *fmt, ...)
{
    (void)prio;
    (void)qid;
    (void)fmt;
}

/* A message with n_rua report recipients (rua[]), n_other others and n_forged status fields. */
static void mk_msg(tm_msg *m, char **rua, size_t n_rua, size_t n_other, unsigned n_forged)
{
    memset(m, 0, sizeof *m);
    m->rua = rua;
    m->n_rua = n_rua;
    m->n_other = n_other;
    m->has_rua = 1;
    m->n_status_hdrs = n_forged;
    snprintf(m->queue_id, sizeof m->queue_id, "TESTQ");
}

/* The CHGHEADER lines deleting n forged fields, last first. */
static const char *forged_lines(unsigned n)
{
    static char buf[1024];
    size_t o = 0;
    buf[0] = 0;
    for (unsigned i = n; i > 0 && o < sizeof buf; i--)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "CHGHEADER %u X-TLSRPT-Status: \n", i);
    return buf;
}

/* Run the disposition of a mail whose one report part was counted (or a duplicate). */
static sfsistat run_counted(tm_msg *m, int action, int dup, const char *org, const char *rid)
{
    tm_config cfg;
    tlsrpt_report r;
    tm_tally t;
    memset(&cfg, 0, sizeof cfg);
    memset(&r, 0, sizeof r);
    memset(&t, 0, sizeof t);
    cfg.action = action;
    r.organization_name = (char *)org;
    r.report_id = (char *)rid;
    t.parts = 1;
    t.one.r = &r;
    t.one.fate = dup ? TM_FATE_DUPLICATE : TM_FATE_COUNTED;
    tally_add(&t, &t.one);
    return dispose(NULL, m, &cfg, &t);
}

/* Run the disposition of a mail of several report parts with the given fates ('c'
   counted, 'd' duplicate, 'f' failed with reason corrupt-gzip, 's' store-unavailable). */
static sfsistat run_parts(tm_msg *m, int action, const char *fates)
{
    tm_config cfg;
    tm_tally t;
    tlsrpt_report r;
    memset(&cfg, 0, sizeof cfg);
    memset(&t, 0, sizeof t);
    memset(&r, 0, sizeof r);
    r.organization_name = (char *)"Org";
    r.report_id = (char *)"id-p";
    cfg.action = action;
    t.parts = strlen(fates);
    for (const char *f = fates; *f; f++) {
        tm_rep p;
        memset(&p, 0, sizeof p);
        p.r = &r;
        if (*f == 'c' || *f == 'd')
            p.fate = *f == 'c' ? TM_FATE_COUNTED : TM_FATE_DUPLICATE;
        else
            rep_fail(&p, TM_FATE_FAILED, *f == 'f' ? "corrupt-gzip" : "store-unavailable", "x");
        tally_add(&t, &p);
        if (t.parts == 1)
            t.one = p;
    }
    return dispose(NULL, m, &cfg, &t);
}

/* Counted, Action discard, 1..3 report recipients alone and with others, 0..3 forged. */
static void test_discard_paths(void)
{
    char *rua[] = { "<rua@rua.test>", "<RUA+x@Rua.Test>", "<second@rua.test>" };
    char name[160], want[2048];
    for (size_t nr = 1; nr <= 3; nr++) {
        for (unsigned nf = 0; nf <= 3; nf++) {
            tm_msg m;
            mk_msg(&m, rua, nr, 0, nf);
            rec_reset(0);
            sfsistat s = run_counted(&m, TM_ACTION_DISCARD, 0, "Org", "id-1");
            snprintf(name, sizeof name, "discard: %zu rua only, %u forged: discarded", nr, nf);
            T_INTEQ(s, SMFIS_DISCARD, name);
            snprintf(name, sizeof name, "discard: %zu rua only, %u forged: no change asked", nr, nf);
            T_STREQ(g_calls, "", name);
            for (size_t no = 1; no <= 2; no++) {
                mk_msg(&m, rua, nr, no, nf);
                rec_reset(0);
                s = run_counted(&m, TM_ACTION_DISCARD, (int)(no - 1), "Org", "id-1");
                snprintf(want, sizeof want, "%s", forged_lines(nf));
                for (size_t i = 0; i < nr; i++)
                    snprintf(want + strlen(want), sizeof want - strlen(want), "DELRCPT %s\n", rua[i]);
                snprintf(name, sizeof name, "discard: %zu rua + %zu other(s), %u forged, %s: "
                         "accepted", nr, no, nf, no == 2 ? "duplicate" : "counted");
                T_INTEQ(s, SMFIS_ACCEPT, name);
                snprintf(name, sizeof name, "discard: %zu rua + %zu other(s), %u forged, %s: "
                         "forged deleted, each rua removed once, no header", nr, no, nf,
                         no == 2 ? "duplicate" : "counted");
                T_STREQ(g_calls, want, name);
            }
        }
    }
}

/* Action tag, and the rua_lost fallback: forged deleted, our header added, nobody removed. */
static void test_tag_paths(void)
{
    char *rua[] = { "<rua@rua.test>", "<second@rua.test>" };
    char name[160], want[2048];
    for (int lost = 0; lost <= 1; lost++) {
        for (int dup = 0; dup <= 1; dup++) {
            for (size_t nr = 1; nr <= 2; nr++) {
                for (unsigned nf = 0; nf <= 2; nf++) {
                    tm_msg m;
                    mk_msg(&m, rua, nr, nr == 1 ? 1 : 0, nf);
                    m.rua_lost = lost;
                    rec_reset(0);
                    sfsistat s = run_counted(&m, lost ? TM_ACTION_DISCARD : TM_ACTION_TAG, dup,
                                             "Org", "id-2");
                    snprintf(want, sizeof want, "%sADDHEADER X-TLSRPT-Status: %s; org=\"Org\"; "
                             "report-id=\"id-2\"\n", forged_lines(nf), dup ? "duplicate" : "counted");
                    snprintf(name, sizeof name, "%s, %s, %zu rua, %u forged: accepted",
                             lost ? "rua lost" : "tag", dup ? "duplicate" : "counted", nr, nf);
                    T_INTEQ(s, SMFIS_ACCEPT, name);
                    snprintf(name, sizeof name, "%s, %s, %zu rua, %u forged: forged deleted, "
                             "status added, nobody removed", lost ? "rua lost" : "tag",
                             dup ? "duplicate" : "counted", nr, nf);
                    T_STREQ(g_calls, want, name);
                }
            }
        }
    }
}

/* smfi_delrcpt fails on recipient k of 3: the mail is tagged, forged fields deleted. */
static void test_delrcpt_failure(void)
{
    char *rua[] = { "<a@rua.test>", "<b@rua.test>", "<c@rua.test>" };
    char name[160], want[2048];
    for (int k = 1; k <= 3; k++) {
        tm_msg m;
        mk_msg(&m, rua, 3, 1, 2);
        rec_reset(k);
        sfsistat s = run_counted(&m, TM_ACTION_DISCARD, 0, "Org", "id-3");
        snprintf(want, sizeof want, "%s", forged_lines(2));
        for (int i = 0; i < k; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "DELRCPT%s %s\n",
                     i + 1 == k ? "-FAILED" : "", rua[i]);
        snprintf(want + strlen(want), sizeof want - strlen(want),
                 "ADDHEADER X-TLSRPT-Status: counted; org=\"Org\"; report-id=\"id-3\"\n");
        snprintf(name, sizeof name, "delrcpt fails on recipient %d of 3: accepted", k);
        T_INTEQ(s, SMFIS_ACCEPT, name);
        snprintf(name, sizeof name, "delrcpt fails on recipient %d of 3: stops, tags, "
                 "forged deleted", k);
        T_STREQ(g_calls, want, name);
    }
}

/* Not counted and store failures: error header after the forged ones; tempfail changes nothing. */
static void test_error_paths(void)
{
    char *rua[] = { "<rua@rua.test>", "<second@rua.test>" };
    char name[160], want[1024];
    tm_config cfg;
    memset(&cfg, 0, sizeof cfg);
    for (size_t nr = 1; nr <= 2; nr++) {
        for (unsigned nf = 0; nf <= 3; nf++) {
            tm_msg m;
            mk_msg(&m, rua, nr, 1, nf);
            rec_reset(0);
            sfsistat s = not_counted(NULL, &m, "corrupt-gzip", "detail");
            snprintf(want, sizeof want, "%sADDHEADER X-TLSRPT-Status: error; reason=corrupt-gzip\n",
                     forged_lines(nf));
            snprintf(name, sizeof name, "error, %zu rua, %u forged: accepted", nr, nf);
            T_INTEQ(s, SMFIS_ACCEPT, name);
            snprintf(name, sizeof name, "error, %zu rua, %u forged: forged deleted, reason added",
                     nr, nf);
            T_STREQ(g_calls, want, name);

            rec_reset(0);
            s = run_parts(&m, TM_ACTION_DISCARD, "s");
            snprintf(want, sizeof want, "%sADDHEADER X-TLSRPT-Status: error; "
                     "reason=store-unavailable\n", forged_lines(nf));
            snprintf(name, sizeof name, "store down, deliver, %zu rua, %u forged: accepted", nr, nf);
            T_INTEQ(s, SMFIS_ACCEPT, name);
            snprintf(name, sizeof name, "store down, deliver, %zu rua, %u forged: forged deleted, "
                     "reason added", nr, nf);
            T_STREQ(g_calls, want, name);

            rec_reset(0);
            s = tempfail(NULL, &m);
            snprintf(name, sizeof name, "store down, tempfail, %zu rua, %u forged: 451", nr, nf);
            T_INTEQ(s, SMFIS_TEMPFAIL, name);
            snprintf(name, sizeof name, "store down, tempfail, %zu rua, %u forged: only the reply",
                     nr, nf);
            T_STREQ(g_calls, "REPLYCODE 451 4.3.0\n", name);
        }
    }
    /* tm_outcome's own early exits: an internal failure, no headers seen */
    tm_msg m;
    mk_msg(&m, rua, 2, 0, 1);
    m.fail_reason = "out-of-memory";
    rec_reset(0);
    T_INTEQ(tm_outcome(NULL, &m, &cfg, NULL), SMFIS_ACCEPT, "internal failure: delivered");
    T_STREQ(g_calls, "CHGHEADER 1 X-TLSRPT-Status: \nADDHEADER X-TLSRPT-Status: error; "
            "reason=out-of-memory\n", "internal failure: forged deleted, reason out-of-memory");
    mk_msg(&m, rua, 2, 0, 1);
    rec_reset(0);
    T_INTEQ(tm_outcome(NULL, &m, &cfg, NULL), SMFIS_ACCEPT, "no headers seen: delivered");
    T_STREQ(g_calls, "CHGHEADER 1 X-TLSRPT-Status: \nADDHEADER X-TLSRPT-Status: error; "
            "reason=no-report\n", "no headers seen: forged deleted, reason no-report");
}

/* Values in the header: exactly 100 bytes kept, 101 cut with "...", unsafe bytes as '?'. */
static void test_value_cut(void)
{
    char org100[101], org101[102], want[512];
    memset(org100, 'o', 100);
    org100[100] = 0;
    memset(org101, 'o', 101);
    org101[101] = 0;
    char *rua[] = { "<rua@rua.test>" };
    tm_msg m;
    mk_msg(&m, rua, 1, 0, 0);
    rec_reset(0);
    run_counted(&m, TM_ACTION_TAG, 0, org100, "a\"b\\c\r\n\x7f\xc3\xa9");
    snprintf(want, sizeof want, "ADDHEADER X-TLSRPT-Status: counted; org=\"%s\"; "
             "report-id=\"a?b?c?????\"\n", org100);
    T_STREQ(g_calls, want, "header value of exactly 100 bytes kept whole; unsafe bytes as ?");
    rec_reset(0);
    run_counted(&m, TM_ACTION_TAG, 0, org101, "");
    snprintf(want, sizeof want, "ADDHEADER X-TLSRPT-Status: counted; org=\"%s...\"; "
             "report-id=\"\"\n", org100);
    T_STREQ(g_calls, want, "header value of 101 bytes cut to 100 + ...");
}

/* Several report parts: any failed part delivers the mail to all with the first failed
   part's reason and "counted=N; of=M"; all counted or duplicate is a counted mail. */
static void test_multi_paths(void)
{
    char *rua[] = { "<rua@rua.test>" };
    static const struct {
        const char *fates;
        int action, others;
        sfsistat want;
        const char *calls;
    } cases[] = {
        { "cc", TM_ACTION_DISCARD, 0, SMFIS_DISCARD, "" },
        { "cd", TM_ACTION_DISCARD, 0, SMFIS_DISCARD, "" },
        { "cd", TM_ACTION_DISCARD, 1, SMFIS_ACCEPT, "CHGHEADER 1 X-TLSRPT-Status: \n"
          "DELRCPT <rua@rua.test>\n" },
        { "cc", TM_ACTION_TAG, 0, SMFIS_ACCEPT, "CHGHEADER 1 X-TLSRPT-Status: \n"
          "ADDHEADER X-TLSRPT-Status: counted; counted=2; of=2\n" },
        { "dcd", TM_ACTION_TAG, 0, SMFIS_ACCEPT, "CHGHEADER 1 X-TLSRPT-Status: \n"
          "ADDHEADER X-TLSRPT-Status: counted; counted=3; of=3\n" },
        { "dd", TM_ACTION_TAG, 0, SMFIS_ACCEPT, "CHGHEADER 1 X-TLSRPT-Status: \n"
          "ADDHEADER X-TLSRPT-Status: duplicate; counted=2; of=2\n" },
        { "cfc", TM_ACTION_DISCARD, 0, SMFIS_ACCEPT, "CHGHEADER 1 X-TLSRPT-Status: \n"
          "ADDHEADER X-TLSRPT-Status: error; reason=corrupt-gzip; counted=2; of=3\n" },
        { "dsf", TM_ACTION_TAG, 1, SMFIS_ACCEPT, "CHGHEADER 1 X-TLSRPT-Status: \n"
          "ADDHEADER X-TLSRPT-Status: error; reason=store-unavailable; counted=1; of=3\n" },
        { "ff", TM_ACTION_DISCARD, 0, SMFIS_ACCEPT, "CHGHEADER 1 X-TLSRPT-Status: \n"
          "ADDHEADER X-TLSRPT-Status: error; reason=corrupt-gzip; counted=0; of=2\n" },
    };
    char name[200];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tm_msg m;
        mk_msg(&m, rua, 1, (size_t)cases[i].others, 1);
        rec_reset(0);
        sfsistat s = run_parts(&m, cases[i].action, cases[i].fates);
        snprintf(name, sizeof name, "parts %s, %s%s: %s", cases[i].fates,
                 cases[i].action == TM_ACTION_TAG ? "tag" : "discard",
                 cases[i].others ? ", + person" : "", cases[i].want == SMFIS_DISCARD ? "discarded"
                 : "accepted");
        T_INTEQ(s, cases[i].want, name);
        snprintf(name, sizeof name, "parts %s, %s%s: the calls", cases[i].fates,
                 cases[i].action == TM_ACTION_TAG ? "tag" : "discard",
                 cases[i].others ? ", + person" : "");
        T_STREQ(g_calls, cases[i].calls, name);
    }
}

/* A store that fails: OnStoreError deliver makes the part failed, tempfail a tempfail. */
static void test_store_choice(void)
{
    char serr[256];
    tlsrpt_store_conf sc;
    memset(&sc, 0, sizeof sc);
    sc.servers = "127.0.0.1:1";
    sc.timeout_ms = 200;
    sc.pool_size = 1;
    tlsrpt_store *st = tlsrpt_store_new(&sc, serr, sizeof serr);
    T_CHECK(st != NULL, "store on a closed port: created (connects lazily)");
    if (!st)
        return;
    tlsrpt_report *r = NULL;
    char err[256];
    const char *json = "{\"organization-name\":\"O\",\"report-id\":\"x\",\"date-range\":"
        "{\"start-datetime\":\"2026-01-01T00:00:00Z\",\"end-datetime\":\"2026-01-01T23:59:59Z\"},"
        "\"policies\":[{\"policy\":{\"policy-type\":\"sts\",\"policy-domain\":\"a.example\"},"
        "\"summary\":{\"total-successful-session-count\":1,\"total-failure-session-count\":0}}]}";
    T_INTEQ(tlsrpt_decode_buffer(json, strlen(json), NULL, TLSRPT_MODE_RAW, &r, err, sizeof err),
            TLSRPT_OK, "store choice: the report decodes");
    for (int mode = 0; r && mode < 2; mode++) {
        tm_config cfg;
        tm_rep p;
        tm_entry e;                     /* no archive: OnStoreError decides */
        memset(&cfg, 0, sizeof cfg);
        memset(&p, 0, sizeof p);
        memset(&e, 0, sizeof e);
        cfg.on_store_error = mode ? TM_STORE_ERR_TEMPFAIL : TM_STORE_ERR_DELIVER;
        p.r = r;
        count_report(&cfg, st, &e, &p);
        T_INTEQ(p.fate, mode ? TM_FATE_TEMPFAIL : TM_FATE_FAILED, mode
                ? "store down, OnStoreError tempfail: the part is a tempfail"
                : "store down, OnStoreError deliver: the part failed");
        T_STREQ(p.reason, "store-unavailable", "store down: reason store-unavailable");
    }
    tlsrpt_report_free(r);
    tlsrpt_store_free(st);
}

/* Every path, then the value cut. */
int main(void)
{
    test_discard_paths();
    test_tag_paths();
    test_delrcpt_failure();
    test_error_paths();
    test_multi_paths();
    test_store_choice();
    test_value_cut();
    T_MAIN_END();
}
