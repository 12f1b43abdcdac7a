/*
 * archmeta.c - the meta of an archived mail (spool's TLSRPT_SPOOL_K_* keys,
 * PLAN-archive.md): what the milter decided when the mail arrived.
 *
 * queue-id, auth (dkim | none), auth-result (pass | fail | none),
 * auth-detail, signer (d=), signer-org, from-domain, verdict, and one
 * report group per report part that decoded (report-day, report-org,
 * report-id, report-verdict). Values are any bytes: the spool escapes them
 * and truncates a value over 1024 bytes (the message bytes stay complete).
 * Errors: -1 / NULL on no memory only.
 */
#include <stdio.h>
#include <string.h>
#include "archive.h"

/* Set key to value when value is not empty; 0 or -1 (no memory). */
static int set_nonempty(tlsrpt_spool_meta *m, const char *key, const char *value)
{
    return value && *value && tlsrpt_spool_meta_set(m, key, value) < 0 ? -1 : 0;
}

/* The mail's meta. */
tlsrpt_spool_meta *tm_archive_meta(const char *qid, tlsrpt_auth *auth, const char *verdict)
{
    tlsrpt_spool_meta *m = tlsrpt_spool_meta_new();
    if (!m)
        return NULL;
    int bad = set_nonempty(m, TLSRPT_SPOOL_K_QUEUE_ID, qid);
    bad |= tlsrpt_spool_meta_set(m, TLSRPT_SPOOL_K_AUTH, auth ? "dkim" : "none") < 0;
    if (auth) {
        tlsrpt_verdict v;
        tlsrpt_auth_judge(auth, NULL, NULL, &v);    /* the mail's own verdict, no report */
        bad |= tlsrpt_spool_meta_set(m, TLSRPT_SPOOL_K_AUTH_RESULT, v.authentic ? "pass"
                                     : "fail") < 0;
        bad |= set_nonempty(m, TLSRPT_SPOOL_K_AUTH_DETAIL, v.detail);
        bad |= set_nonempty(m, TLSRPT_SPOOL_K_SIGNER, v.signer);
        bad |= set_nonempty(m, TLSRPT_SPOOL_K_SIGNER_ORG, v.signer_org);
        bad |= set_nonempty(m, TLSRPT_SPOOL_K_FROM_DOMAIN, v.from_domain);
    } else {
        bad |= tlsrpt_spool_meta_set(m, TLSRPT_SPOOL_K_AUTH_RESULT, "none") < 0;
    }
    bad |= tlsrpt_spool_meta_set(m, TLSRPT_SPOOL_K_VERDICT, verdict) < 0;
    if (bad) {
        tlsrpt_spool_meta_free(m);
        return NULL;
    }
    return m;
}

/* One report group. */
int tm_archive_meta_report(tlsrpt_spool_meta *meta, size_t index, const tlsrpt_report *r,
                           const char *verdict)
{
    tlsrpt_spool_report sr;
    memset(&sr, 0, sizeof sr);
    sr.index = (long)index;
    sr.day = r->day[0] ? r->day : NULL;
    sr.org = r->organization_name;
    sr.org_len = r->organization_name ? strlen(r->organization_name) : 0;
    sr.report_id = r->report_id;
    sr.report_id_len = r->report_id ? strlen(r->report_id) : 0;
    sr.verdict = verdict;
    return tlsrpt_spool_meta_add_report(meta, &sr) < 0 ? -1 : 0;
}
