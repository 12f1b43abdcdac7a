/*
 * outcome.c - the end-of-message decision for a report mail (see outcome.h).
 *
 * Every report part of the mail is decoded, judged, counted and
 * deduplicated on its own (README "What happens to a mail"). With
 * Authentication dkim each decoded report is judged first
 * (tlsrpt_auth_judge with its own contact-info: RFC 8460 section 3) and
 * counted under its signer's organisational domain (the store's org_key: the
 * identity for dedup and the per-organisation counters), else under its
 * organization-name. Each part ends as one of
 *   counted     its counters were written;
 *   duplicate   the same report was counted before: nothing written;
 *   ignored     not authentic, with OnUnauthenticated discard;
 *   failed      not counted: decoder error of that part, not authentic
 *               (OnUnauthenticated deliver), unknown reporter, nothing
 *               countable, store failure (OnStoreError deliver), a hard
 *               error of the whole mail;
 * and the mail follows from them:
 *   a part failed      delivered to every recipient with
 *                      "X-TLSRPT-Status: error; reason=TOKEN" (one report
 *                      part) or "error; reason=TOKEN; counted=N; of=M"
 *                      (several: TOKEN is the first failed part's, N the
 *                      parts counted or duplicate), so the uncounted report
 *                      is never lost;
 *   all counted/dup    (ignored parts besides them are only logged)
 *                      Action discard: remove the report recipients
 *                      (smfi_delrcpt, the strings exactly as received) when
 *                      others remain, else discard; Action tag (or report
 *                      recipients not all remembered): deliver with
 *                      "counted; org=...; report-id=..." (one part) or
 *                      "counted; counted=N; of=M" ("duplicate; ..." when
 *                      none was new);
 *   all ignored        the report recipients removed, or the mail discarded
 *                      when they were all (whatever Action); delivered with
 *                      "error; reason=TOKEN" only when a report recipient
 *                      could not be remembered;
 *   store failure with OnStoreError tempfail: 451 4.3.0 at once (the parts
 *                      counted before it are duplicates when the sender
 *                      retries) -- but a partial count (store-partial) is
 *                      delivered: its retry would only be a duplicate.
 * With an archive (ArchiveDir, archive.h) the mail is first committed to it
 * (pending NEW) when a part is countable -- before any answer -- and counted
 * as that entry; a store failure then makes the part "pending" (handled as
 * counted, tagged "pending; ..."), the retry thread (retry.h) counts it
 * later; a mail that cannot be archived is delivered with
 * reason=archive-failed (451 with OnStoreError tempfail), never discarded.
 * Every part or mail not counted adds to nc:A:REASON (best effort).
 * Log: a mail with one report part gets one line naming the action; with
 * several, one line per part (report=K/M) and a summary line with the action.
 * X-TLSRPT-Status fields already in the mail are deleted first (so a sender
 * cannot forge one) whenever the mail is delivered with ours. Any smfi_*
 * failure is logged and the mail is delivered: never a reject. Values put in
 * the header are printable ASCII, quoted, at most TM_VALUE_MAX bytes each.
 */
#include <stdio.h>
#include <string.h>
#include "outcome.h"
#include "log.h"
#include "metrics.h"
#include "retry.h"

#define TM_VALUE_MAX 100
#define TM_STATUS_MAX 640

/* What became of one report part. */
enum tm_fate { TM_FATE_COUNTED, TM_FATE_DUPLICATE, TM_FATE_IGNORED, TM_FATE_FAILED,
               TM_FATE_TEMPFAIL, TM_FATE_PENDING /* archived; the store failed: retry.c */ };

/* One report part's result, kept until its log line is written. */
typedef struct tm_rep {
    int fate;                       /* enum tm_fate */
    char reason[64];                /* token when failed / tempfail */
    char detail[320];               /* why, when failed / tempfail */
    const tlsrpt_report *r;         /* NULL for a part that did not decode */
    tlsrpt_count_info info;         /* counted, duplicate */
    char signer[256];               /* the signer's organisational domain ("" none) */
    char submitter[128];            /* TLS-Report-Submitter, when it disagrees */
} tm_rep;

/* The parts of one mail, summed. */
typedef struct tm_tally {
    size_t parts, counted, duplicate, ignored, failed, pending;
    char reason[64];                /* the first failed part's token */
    char ignored_reason[64];        /* the first ignored part's token */
    tm_rep one;                     /* the part of a mail with one report part */
} tm_tally;

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

/* Add our status field (with the blank after the colon when HDR_LEADSPC was negotiated:
   the MTA then writes the value as it is); a failure is only logged. */
static void add_status(SMFICTX *ctx, const tm_msg *m, const char *value)
{
    char v[TM_STATUS_MAX + 1];
    snprintf(v, sizeof v, "%s%s", m->leadspc ? " " : "", value);
    if (smfi_addheader(ctx, TM_STATUS_HEADER, v) != MI_SUCCESS)
        tm_logq(LOG_WARNING, m->queue_id, "could not add %s: %s", TM_STATUS_HEADER, value);
}

/* Deliver to everyone with our status (forged ones removed first). */
static sfsistat deliver_status(SMFICTX *ctx, const tm_msg *m, const char *status)
{
    remove_forged(ctx, m);
    add_status(ctx, m, status);
    return SMFIS_ACCEPT;
}

/* A mail-level failure (nothing decoded, internal error): "error; reason=TOKEN", one line. */
static sfsistat not_counted(SMFICTX *ctx, const tm_msg *m, const char *reason, const char *detail)
{
    char v[128];
    snprintf(v, sizeof v, "error; reason=%s", reason);
    tm_metrics_not_counted(reason);
    deliver_status(ctx, m, v);
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

/* A handled mail (all counted or duplicate): tag, or discard / remove the report
   recipients; status is the tag, also used when a removal fails. */
static sfsistat handled(SMFICTX *ctx, const tm_msg *m, int tag, const char *status,
                        const char **action)
{
    if (tag || m->rua_lost) {
        remove_forged(ctx, m);
        add_status(ctx, m, status);
        *action = "tagged";
        return SMFIS_ACCEPT;
    }
    if (m->n_other == 0) {
        *action = "discarded";
        return SMFIS_DISCARD;
    }
    remove_forged(ctx, m);
    if (remove_rua(ctx, m) == 0) {
        *action = "report-recipients-removed";
    } else {
        add_status(ctx, m, status);
        *action = "tagged";
    }
    return SMFIS_ACCEPT;
}

/* Answer 451 4.3.0 (OnStoreError tempfail). */
static sfsistat tempfail(SMFICTX *ctx, const tm_msg *m)
{
    char code[] = "451", xcode[] = "4.3.0";
    char text[] = "TLS-RPT report store unavailable, try again later";
    tm_metrics_tempfail("store-unavailable");
    if (smfi_setreply(ctx, code, xcode, text) != MI_SUCCESS)
        tm_logq(LOG_WARNING, m->queue_id, "smfi_setreply failed");
    return SMFIS_TEMPFAIL;
}

/* " org=... [signer=...] report-id=..." of a part ("" for a part that did not decode). */
static void report_names(char *out, size_t outlen, const tm_rep *p)
{
    char org[TM_VALUE_MAX + 8], rid[TM_VALUE_MAX + 8];
    out[0] = 0;
    if (!p->r)
        return;
    clean(org, sizeof org, p->r->organization_name);
    clean(rid, sizeof rid, p->r->report_id);
    snprintf(out, outlen, " org=\"%s\"%s%s report-id=\"%s\"", org, p->signer[0] ? " signer="
             : "", p->signer, rid);
}

/* The log line of one part: k of n; action (one-part mails) says what became of the
   mail, NULL for a part of a mail with several. */
static void log_rep(const tm_msg *m, const tm_rep *p, size_t k, size_t n, const char *action)
{
    char names[2 * TM_VALUE_MAX + 320], where[64 + TLSRPT_SPOOL_ID_MAX] = "", tail[128];
    char sub[200] = "";
    report_names(names, sizeof names, p);
    if (n > 1)
        snprintf(where, sizeof where, " report=%zu/%zu", k, n);
    if (m->arch.committed)                      /* the archive entry: " archive=ID" */
        snprintf(where + strlen(where), sizeof where - strlen(where), " archive=%s", m->arch.id);
    if (p->fate == TM_FATE_PENDING) {
        tm_logq(LOG_WARNING, m->queue_id, "pending: reason=%s (%s)%s; kept in the archive, %s"
                "%s%s%s", p->reason, p->detail, names, p->info.partial ? "may be partly counted: "
                "its days are flagged for a rebuild" : "counted when the store is back", where,
                action ? " action=" : "", action ? action : "");
        return;
    }
    if (p->submitter[0])
        snprintf(sub, sizeof sub, " submitter=\"%s\" (not in the signer's organisation)",
                 p->submitter);
    if (p->fate == TM_FATE_COUNTED || p->fate == TM_FATE_DUPLICATE) {
        char fold[sizeof p->info.folded.text + 16] = "";
        if (p->info.folded.text[0])             /* what the store's budgets left out */
            snprintf(fold, sizeof fold, " folded=\"%s\"", p->info.folded.text);
        snprintf(tail, sizeof tail, "%s%s", action ? " action=" : "", action ? action : "");
        tm_logq(LOG_INFO, m->queue_id, "%s%s domains=%s ok=%lld fail=%lld%s%s%s%s",
                p->fate == TM_FATE_DUPLICATE ? "duplicate" : "counted", names,
                p->info.domains[0] ? p->info.domains : "-", (long long)p->info.ok,
                (long long)p->info.fail, fold, sub, where, tail);
        return;
    }
    if (p->fate == TM_FATE_TEMPFAIL)
        snprintf(tail, sizeof tail, "; temporary failure returned (OnStoreError tempfail)");
    else if (p->fate == TM_FATE_IGNORED)
        snprintf(tail, sizeof tail, "; ignored (OnUnauthenticated discard)%s%s",
                 action ? ": " : "", action ? action : "");
    else if (action)
        snprintf(tail, sizeof tail, "; delivered with %s", TM_STATUS_HEADER);
    else
        tail[0] = 0;
    tm_logq(p->fate == TM_FATE_TEMPFAIL ? LOG_ERR : LOG_WARNING, m->queue_id,
            "not counted: reason=%s (%s)%s%s%s", p->reason, p->detail[0] ? p->detail : "no detail",
            names, where, tail);
}

/* Mark a part failed with a token and a detail. */
static void rep_fail(tm_rep *p, int fate, const char *reason, const char *detail)
{
    p->fate = fate;
    tm_metrics_not_counted(reason);
    snprintf(p->reason, sizeof p->reason, "%s", reason);
    snprintf(p->detail, sizeof p->detail, "%s", detail && *detail ? detail : "no detail");
}

/* Count one decoded report into st, under its signer when it has one; with an archive
   entry e, as that entry (its id is the dedup marker's value). */
static void count_report(const tm_config *cfg, tlsrpt_store *st, tm_entry *e, tm_rep *p)
{
    char err[256] = "";
    tlsrpt_count_req q;
    memset(&q, 0, sizeof q);
    q.org_key = p->signer[0] ? p->signer : NULL;
    q.arrival = e->arrival;
    if (e->sp) {
        q.entry_id = e->id;
        q.host_id = tlsrpt_spool_archive_id(e->sp);
        q.before_counters = tm_archive_before_counters;
        q.arg = e;
    }
    int s = tlsrpt_store_count_req(st, p->r, &q, &p->info, err, sizeof err);
    switch (s) {
    case TLSRPT_COUNTED:
        tm_metrics_counted();
        p->fate = TM_FATE_COUNTED;
        break;
    case TLSRPT_DUPLICATE:
        tm_metrics_duplicate();
        p->fate = TM_FATE_DUPLICATE;
        break;
    case TLSRPT_NOT_COUNTABLE:
        rep_fail(p, TM_FATE_FAILED, p->info.reason[0] ? p->info.reason : "not-countable",
                 err[0] ? err : "no countable policy in the report");
        break;
    default:
        tm_metrics_store_error();
        if (e->sp) {                            /* archived: counted later (retry.c) */
            rep_fail(p, TM_FATE_PENDING, p->info.reason[0] ? p->info.reason
                     : "store-unavailable", err);
            e->pending++;
            e->partial += p->info.partial != 0;
            break;
        }                                       /* a partial count: a retry cannot help */
        rep_fail(p, cfg->on_store_error == TM_STORE_ERR_TEMPFAIL && !p->info.partial
                 ? TM_FATE_TEMPFAIL : TM_FATE_FAILED,
                 p->info.reason[0] ? p->info.reason : "store-unavailable", err);
    }
}

/* Authentication dkim: judge a decoded report (its own contact-info); 0 when authentic
   (p->signer set), else -1 with p failed or ignored. */
static int judge_report(const tm_msg *m, const tm_config *cfg, tm_rep *p)
{
    tlsrpt_verdict v;
    if (!m->auth) {
        tm_metrics_dkim(TM_DKIM_NONE);
        rep_fail(p, TM_FATE_FAILED, "unauthenticated", "no DKIM verification for this mail");
        return -1;
    }
    tlsrpt_auth_judge(m->auth, p->r->contact_info, NULL, &v);
    tm_metrics_dkim(v.authentic ? TM_DKIM_PASS : v.signatures ? TM_DKIM_FAIL : TM_DKIM_NONE);
    if (v.submitter_disagrees && v.submitter[0])
        snprintf(p->submitter, sizeof p->submitter, "%s", v.submitter);
    if (!v.authentic) {
        rep_fail(p, cfg->on_unauth == TM_UNAUTH_DISCARD ? TM_FATE_IGNORED : TM_FATE_FAILED,
                 v.reason[0] ? v.reason : "unauthenticated", v.detail);
        return -1;
    }
    snprintf(p->signer, sizeof p->signer, "%s", v.signer_org);
    return 0;
}

/* Report part i of the mail before counting: its decoder error, or judged. mail_rc is
   the mail's own error (a hard error after some parts): then nothing counts. 0 when the
   part is to be counted, else -1 (p failed or ignored). */
static int judge_part(const tm_msg *m, const tm_config *cfg, size_t i, int mail_rc, tm_rep *p)
{
    tlsrpt_part part;
    memset(p, 0, sizeof *p);
    int err = tlsrpt_part_at(m->dec, i, &part);
    if (err != TLSRPT_OK || !part.report) {
        rep_fail(p, TM_FATE_FAILED, tlsrpt_reason(err != TLSRPT_OK ? err : TLSRPT_ERR_USAGE),
                 err != TLSRPT_OK ? part.msg : "report already taken");
        return -1;
    }
    p->r = part.report;
    if (mail_rc != TLSRPT_OK) {
        rep_fail(p, TM_FATE_FAILED, tlsrpt_reason(mail_rc), tlsrpt_errstr(m->dec));
        return -1;
    }
    if (cfg->authentication == TM_AUTH_DKIM && judge_report(m, cfg, p) != 0)
        return -1;
    return 0;
}

/* Best effort: count a report candidate that was not counted (P nc:A:REASON). After
   the first store failure of a mail the rest are skipped (*down). */
static void nc_count(tlsrpt_store *st, const tm_msg *m, const char *reason, int *down)
{
    char err[256];
    if (*down || !st)
        return;
    if (tlsrpt_store_not_counted(st, m->arch.arrival, reason, err, sizeof err) != TLSRPT_COUNTED) {
        *down = 1;
        tm_logq(LOG_WARNING, m->queue_id, "not-counted counter for reason=%s not written: %s%s",
                reason, err, m->arch.committed ? " (the archive keeps the mail)" : "");
    }
}

/* ArchiveAll: keep a mail that is not counted, with its reason as the verdict (meta:
   the one built, or NULL for a mail-level failure). Frees meta. */
static void keep_uncounted(tm_msg *m, const tm_config *cfg, tlsrpt_spool_meta *meta,
                           const char *verdict)
{
    if (!meta)
        meta = tm_archive_meta(m->queue_id, cfg->authentication == TM_AUTH_DKIM ? m->auth
                               : NULL, verdict);
    if (!meta || tlsrpt_spool_meta_set(meta, TLSRPT_SPOOL_K_VERDICT, verdict) < 0) {
        snprintf(m->arch.err, sizeof m->arch.err, "out of memory for the meta");
        tm_archive_drop(&m->arch);
    } else if (m->arch.w && tm_archive_commit(&m->arch, meta, 0) == 0) {
        tm_logq(LOG_DEBUG, m->queue_id, "archived (ArchiveAll) as %s: reason=%s", m->arch.id,
                verdict);
    }
    if (!m->arch.committed && m->arch.err[0])
        tm_logq(LOG_WARNING, m->queue_id, "not archived (ArchiveAll): %s", m->arch.err);
    tlsrpt_spool_meta_free(meta);
}

/* Archive a mail whose parts are about to be counted: judge every part for the meta,
   then commit it pending NEW when a part is countable; else ArchiveAll keeps it with
   its reason, or it is dropped. 0, or -1: a countable mail is not archived (m->arch.err). */
static int archive_mail(tm_msg *m, const tm_config *cfg, size_t np, int rc, tm_entry *e)
{
    tm_rep p;
    size_t countable = 0;
    char reason[64] = "", ignored[64] = "";
    tlsrpt_spool_meta *meta = tm_archive_meta(m->queue_id, cfg->authentication == TM_AUTH_DKIM
                                              ? m->auth : NULL, "countable");
    int bad = !meta;
    for (size_t i = 0; i < np; i++) {
        int ok = judge_part(m, cfg, i, rc, &p) == 0;
        countable += ok;
        if (!ok && p.fate == TM_FATE_IGNORED && !ignored[0])
            snprintf(ignored, sizeof ignored, "%s", p.reason);
        else if (!ok && p.fate != TM_FATE_IGNORED && !reason[0])
            snprintf(reason, sizeof reason, "%s", p.reason);
        if (meta && p.r && tm_archive_meta_report(meta, i, p.r, ok ? "countable" : p.reason))
            bad = 1;
    }
    if (countable == 0) {
        if (cfg->archive_all && m->arch.w)
            keep_uncounted(m, cfg, meta, reason[0] ? reason : ignored);
        else
            tlsrpt_spool_meta_free(meta);
        tm_archive_drop(&m->arch);
        return 0;
    }
    int r = -1;
    if (bad) {
        snprintf(m->arch.err, sizeof m->arch.err, "out of memory for the meta");
        tm_archive_drop(&m->arch);
    } else {
        r = tm_archive_commit(&m->arch, meta, TLSRPT_SPOOL_NEW);
    }
    tlsrpt_spool_meta_free(meta);
    if (r == 0) {
        e->sp = tm_archive_spool();
        e->id = m->arch.id;
    }
    return r;
}

/* A countable mail that could not be archived: never discarded. Delivered with
   reason=archive-failed (not counted: the archive is where counting starts), or 451
   with OnStoreError tempfail. */
static sfsistat archive_failed(SMFICTX *ctx, tm_msg *m, const tm_config *cfg, tlsrpt_store *st)
{
    int down = 0;
    if (cfg->on_store_error == TM_STORE_ERR_TEMPFAIL) {
        tm_logq(LOG_ERR, m->queue_id, "not counted: reason=archive-failed (%s); temporary "
                "failure returned (OnStoreError tempfail)", m->arch.err);
        return tempfail(ctx, m);
    }
    nc_count(st, m, "archive-failed", &down);
    return not_counted(ctx, m, "archive-failed", m->arch.err);
}

/* Add a part's result to the tally. */
static void tally_add(tm_tally *t, const tm_rep *p)
{
    if (p->fate == TM_FATE_COUNTED)
        t->counted++;
    else if (p->fate == TM_FATE_DUPLICATE)
        t->duplicate++;
    else if (p->fate == TM_FATE_PENDING)
        t->pending++;
    else if (p->fate == TM_FATE_IGNORED && t->ignored++ == 0)
        snprintf(t->ignored_reason, sizeof t->ignored_reason, "%s", p->reason);
    else if (p->fate != TM_FATE_IGNORED && t->failed++ == 0)
        snprintf(t->reason, sizeof t->reason, "%s", p->reason);
}

/* The status value for a handled mail (Action tag, or when removal fails). */
static void handled_status(char *v, size_t vlen, const tm_tally *t)
{
    const char *what = t->pending ? "pending" : t->counted ? "counted" : "duplicate";
    if (t->parts == 1) {
        char org[TM_VALUE_MAX + 8], rid[TM_VALUE_MAX + 8];
        clean(org, sizeof org, t->one.r ? t->one.r->organization_name : "");
        clean(rid, sizeof rid, t->one.r ? t->one.r->report_id : "");
        snprintf(v, vlen, "%s; org=\"%s\"; report-id=\"%s\"%s%s", what, org, rid,
                 t->one.signer[0] ? "; signer=" : "", t->one.signer);
    } else {
        snprintf(v, vlen, "%s; counted=%zu; of=%zu", what,
                 t->counted + t->duplicate + t->pending, t->parts);
    }
}

/* Act on the mail from its tally and write the remaining log line(s). */
static sfsistat dispose(SMFICTX *ctx, const tm_msg *m, const tm_config *cfg, const tm_tally *t)
{
    char status[TM_STATUS_MAX];
    const char *action = "delivered";
    sfsistat ret;
    size_t in = t->counted + t->duplicate + t->pending;
    if (t->failed) {
        if (t->parts > 1)
            snprintf(status, sizeof status, "error; reason=%s; counted=%zu; of=%zu", t->reason,
                     in, t->parts);
        else
            snprintf(status, sizeof status, "error; reason=%s", t->reason);
        ret = deliver_status(ctx, m, status);
    } else if (in > 0) {
        handled_status(status, sizeof status, t);
        ret = handled(ctx, m, cfg->action == TM_ACTION_TAG, status, &action);
    } else {                                    /* every part ignored: not for the rua */
        snprintf(status, sizeof status, "error; reason=%s", t->ignored_reason);
        ret = handled(ctx, m, 0, status, &action);
    }
    if (t->parts == 1) {
        log_rep(m, &t->one, 1, 1, action);
    } else {
        char pend[32] = "";
        if (t->pending)
            snprintf(pend, sizeof pend, "pending=%zu ", t->pending);
        tm_logq(t->failed ? LOG_WARNING : LOG_INFO, m->queue_id, "%zu report parts: counted=%zu "
                "duplicate=%zu %snot-counted=%zu action=%s%s%s%s%s%s", t->parts, t->counted,
                t->duplicate, pend, t->failed + t->ignored,
                action, ret == SMFIS_DISCARD ? "" : " status=\"",
                ret == SMFIS_DISCARD ? "" : status, ret == SMFIS_DISCARD ? "" : "\"",
                m->arch.committed ? " archive=" : "", m->arch.committed ? m->arch.id : "");
    }
    return ret;
}

/* A mail-level failure: ArchiveAll keeps it, nc: counts it, it is delivered. */
static sfsistat mail_not_counted(SMFICTX *ctx, tm_msg *m, const tm_config *cfg,
                                 tlsrpt_store *st, const char *reason, const char *detail)
{
    int down = 0;
    if (cfg->archive_all && m->arch.w)
        keep_uncounted(m, cfg, NULL, reason);
    tm_archive_drop(&m->arch);
    nc_count(st, m, reason, &down);
    return not_counted(ctx, m, reason, detail);
}

/* The reports of a mail counted (or pending) so far, with their figures. */
typedef struct tm_seen {
    size_t n;
    const tlsrpt_report *r[TM_SEEN_MAX];
    tlsrpt_count_info info[TM_SEEN_MAX];
} tm_seen;

/* A report that came earlier in the same mail (counted, duplicate or pending) is a
   duplicate now, with the earlier one's figures; 1 when p was settled so. */
static int seen_before(const tm_seen *s, tm_rep *p)
{
    long k = tm_seen_index(s->r, s->n, p->r, p->signer[0] != 0);
    if (k < 0)
        return 0;
    p->info = s->info[k];
    p->fate = TM_FATE_DUPLICATE;
    tm_metrics_duplicate();
    return 1;
}

/* Remember a report whose fate the store decided (the first TM_SEEN_MAX). */
static void seen_add(tm_seen *s, const tm_rep *p)
{
    if (s->n < TM_SEEN_MAX && (p->fate == TM_FATE_COUNTED || p->fate == TM_FATE_DUPLICATE
                               || p->fate == TM_FATE_PENDING)) {
        s->r[s->n] = p->r;
        s->info[s->n++] = p->info;
    }
}

/* Decide and act for a report mail at end of message: archive (when ArchiveDir is set),
   count, answer. */
sfsistat tm_outcome(SMFICTX *ctx, tm_msg *m, const tm_config *cfg, tlsrpt_store *st)
{
    if (m->fail_reason)
        return mail_not_counted(ctx, m, cfg, st, m->fail_reason, "internal error");
    if (!m->dec)
        return mail_not_counted(ctx, m, cfg, st, tlsrpt_reason(TLSRPT_ERR_NO_REPORT),
                                "no headers seen");
    int rc = tlsrpt_finish(m->dec);
    size_t np = tlsrpt_part_count(m->dec);
    if ((rc != TLSRPT_OK && np <= 1) || np == 0)
        return mail_not_counted(ctx, m, cfg, st, tlsrpt_reason(rc != TLSRPT_OK ? rc
                                : TLSRPT_ERR_NO_REPORT), tlsrpt_errstr(m->dec));
    tm_entry e;
    memset(&e, 0, sizeof e);
    e.arrival = m->arch.arrival;
    e.qid = m->queue_id;
    if (tm_archive_spool() && archive_mail(m, cfg, np, rc, &e) != 0)
        return archive_failed(ctx, m, cfg, st);
    tm_tally t;
    memset(&t, 0, sizeof t);
    t.parts = np;
    int down = 0;
    tm_seen seen;
    seen.n = 0;
    for (size_t i = 0; i < np; i++) {
        tm_rep p;
        if (judge_part(m, cfg, i, rc, &p) == 0) {
            if (!seen_before(&seen, &p))
                count_report(cfg, st, &e, &p);
            if (p.fate != TM_FATE_PENDING && i < 64)
                e.done |= 1ULL << i;
            seen_add(&seen, &p);
        }
        if (p.fate == TM_FATE_TEMPFAIL) {
            log_rep(m, &p, i + 1, np, NULL);
            return tempfail(ctx, m);
        }
        if (p.fate == TM_FATE_FAILED && strncmp(p.reason, "store-", 6) == 0)
            down = 1;                           /* no archive: the store just failed us */
        if (p.fate == TM_FATE_FAILED || p.fate == TM_FATE_IGNORED)
            nc_count(st, m, p.reason, &down);
        tally_add(&t, &p);
        if (np == 1)
            t.one = p;
        else
            log_rep(m, &p, i + 1, np, NULL);
    }
    if (rc != TLSRPT_OK)                        /* a hard error of the whole mail */
        snprintf(t.reason, sizeof t.reason, "%s", tlsrpt_reason(rc));
    if (e.sp) {
        tm_archive_settle(&e);
        tm_archive_unclaim(&m->arch.claim);     /* the retry thread may take it now */
        if (e.pending)
            tm_retry_wake();
    }
    return dispose(ctx, m, cfg, &t);
}
