/*
 * outcome.c - the end-of-message decision for a report mail (see outcome.h).
 *
 *   decoded and counted (or a duplicate):
 *       Action discard: remove the report recipients (smfi_delrcpt, the
 *       strings exactly as received) when others remain, else discard;
 *       Action tag: add "X-TLSRPT-Status: counted; ..." and deliver.
 *   not counted (decoder error, store says not countable, store down):
 *       add "X-TLSRPT-Status: error; reason=TOKEN" and deliver; with
 *       OnStoreError tempfail a store failure answers 451 4.3.0 instead.
 * X-TLSRPT-Status fields already in the mail are deleted first (so a
 * sender cannot forge one) whenever the mail is delivered.
 * Any smfi_* failure is logged and the mail is delivered: never a reject.
 * Values put in the header are printable ASCII, quoted, at most
 * TM_VALUE_MAX bytes each.
 */
#include <stdio.h>
#include <string.h>
#include "outcome.h"
#include "log.h"

#define TM_VALUE_MAX 100

/* Copy s as a safe quoted-string body: printable ASCII, no '"' or '\\', cut with "...". */
static void clean(char *out, size_t outlen, const char *s)
{
    size_t n = 0;
    if (!s)
        s = "";
    for (; *s && n + 4 < outlen && n < TM_VALUE_MAX; s++) {
        unsigned char ch = (unsigned char)*s;
        out[n++] = (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') ? '?' : (char)ch;
    }
    if (*s && n + 4 <= outlen) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = 0;
}

/* Delete the status fields the mail came with (last first, indexes stay valid). */
static void remove_forged(SMFICTX *ctx, const tm_msg *m)
{
    for (unsigned i = m->n_status_hdrs; i > 0; i--)
        if (smfi_chgheader(ctx, TM_STATUS_HEADER, (int)i, NULL) != MI_SUCCESS)
            tm_logq(LOG_WARNING, m->queue_id, "could not delete an existing %s field",
                    TM_STATUS_HEADER);
}

/* Add our status field; a failure is only logged. */
static void add_status(SMFICTX *ctx, const tm_msg *m, const char *value)
{
    char v[512];
    snprintf(v, sizeof v, "%s", value);
    if (smfi_addheader(ctx, TM_STATUS_HEADER, v) != MI_SUCCESS)
        tm_logq(LOG_WARNING, m->queue_id, "could not add %s: %s", TM_STATUS_HEADER, value);
}

/* Deliver to everyone with "error; reason=TOKEN"; one log line with the detail. */
static sfsistat not_counted(SMFICTX *ctx, const tm_msg *m, const char *reason, const char *detail)
{
    char v[128];
    remove_forged(ctx, m);
    snprintf(v, sizeof v, "error; reason=%s", reason);
    add_status(ctx, m, v);
    tm_logq(LOG_WARNING, m->queue_id, "not counted: reason=%s (%s); delivered with %s", reason,
            detail && *detail ? detail : "no detail", TM_STATUS_HEADER);
    return SMFIS_ACCEPT;
}

/* Remove every report recipient; 0 when all went, -1 after the first failure. */
static int remove_rua(SMFICTX *ctx, const tm_msg *m)
{
    for (size_t i = 0; i < m->n_rua; i++) {
        if (smfi_delrcpt(ctx, m->rua[i]) != MI_SUCCESS) {
            tm_logq(LOG_ERR, m->queue_id, "smfi_delrcpt(%.200s) failed; delivering", m->rua[i]);
            return -1;
        }
    }
    return 0;
}

/* Counted or duplicate: discard, remove report recipients, or tag. */
static sfsistat counted(SMFICTX *ctx, const tm_msg *m, const tm_config *cfg,
                        const tlsrpt_report *r, const tlsrpt_count_info *info, int dup)
{
    char org[TM_VALUE_MAX + 8], rid[TM_VALUE_MAX + 8], v[400];
    const char *what = dup ? "duplicate" : "counted", *action;
    sfsistat ret = SMFIS_ACCEPT;
    clean(org, sizeof org, r->organization_name);
    clean(rid, sizeof rid, r->report_id);
    snprintf(v, sizeof v, "%s; org=\"%s\"; report-id=\"%s\"", what, org, rid);
    if (cfg->action == TM_ACTION_TAG || m->rua_lost) {
        remove_forged(ctx, m);
        add_status(ctx, m, v);
        action = "tagged";
    } else if (m->n_other == 0) {
        ret = SMFIS_DISCARD;
        action = "discarded";
    } else {
        remove_forged(ctx, m);
        if (remove_rua(ctx, m) == 0) {
            action = "report-recipients-removed";
        } else {
            add_status(ctx, m, v);
            action = "tagged";
        }
    }
    tm_logq(LOG_INFO, m->queue_id, "%s org=\"%s\" report-id=\"%s\" domains=%s ok=%lld fail=%lld "
            "action=%s", what, org, rid, info->domains[0] ? info->domains : "-",
            (long long)info->ok, (long long)info->fail, action);
    return ret;
}

/* The store failed: tempfail (OnStoreError tempfail) or deliver with an error status. */
static sfsistat store_failed(SMFICTX *ctx, const tm_msg *m, const tm_config *cfg,
                             const char *reason, const char *err)
{
    if (cfg->on_store_error != TM_STORE_ERR_TEMPFAIL)
        return not_counted(ctx, m, reason, err);
    char code[] = "451", xcode[] = "4.3.0";
    char text[] = "TLS-RPT report store unavailable, try again later";
    if (smfi_setreply(ctx, code, xcode, text) != MI_SUCCESS)
        tm_logq(LOG_WARNING, m->queue_id, "smfi_setreply failed");
    tm_logq(LOG_ERR, m->queue_id, "not counted: reason=%s (%s); temporary failure returned "
            "(OnStoreError tempfail)", reason, err && *err ? err : "no detail");
    return SMFIS_TEMPFAIL;
}

/* Decide and act for a report mail at end of message. */
sfsistat tm_outcome(SMFICTX *ctx, tm_msg *m, const tm_config *cfg, tlsrpt_store *st)
{
    if (m->fail_reason)
        return not_counted(ctx, m, m->fail_reason, "internal error");
    if (!m->dec)
        return not_counted(ctx, m, tlsrpt_reason(TLSRPT_ERR_NO_REPORT), "no headers seen");
    int rc = tlsrpt_finish(m->dec);
    const tlsrpt_report *r = tlsrpt_result(m->dec);
    if (rc != TLSRPT_OK || !r)
        return not_counted(ctx, m, tlsrpt_reason(rc != TLSRPT_OK ? rc : TLSRPT_ERR_USAGE),
                           tlsrpt_errstr(m->dec));
    tlsrpt_count_info info;
    char err[256] = "";
    memset(&info, 0, sizeof info);
    int s = tlsrpt_store_count(st, r, &info, err, sizeof err);
    switch (s) {
    case TLSRPT_COUNTED:
    case TLSRPT_DUPLICATE:
        return counted(ctx, m, cfg, r, &info, s == TLSRPT_DUPLICATE);
    case TLSRPT_NOT_COUNTABLE:
        return not_counted(ctx, m, info.reason[0] ? info.reason : "not-countable",
                           err[0] ? err : "no countable policy in the report");
    default:
        return store_failed(ctx, m, cfg, info.reason[0] ? info.reason : "store-unavailable", err);
    }
}
