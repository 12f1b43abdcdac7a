/*
 * rule.c - the verdict: does a signature count, and for each report, may it
 * be counted and under which identity.
 *
 * After dkim_eom every signature libopendkim listed (dkim_getsiglist) is
 * read back: it counts only when DKIM_SIGFLAG_PASSED is set AND the body
 * hash matched (DKIM_SIGBH_MATCH: PASSED alone survives a tampered body)
 * AND its error is DKIM_SIGERROR_OK AND it has no l= (checked again here,
 * not only in the prescreen). The first such signature, in header order,
 * is the signer. When none counts, the detail is the reason of the
 * signature that got furthest (enum auth_stage: a body hash mismatch says
 * more than "not aligned"); mail-level reasons (no signature, From
 * unusable, headers too large) come first.
 * tlsrpt_auth_judge adds the per-report checks: a contact-info that is an
 * address must be in the signer's organisation; a Reporters allow-list; a
 * TLS-Report-Submitter that is not in the signer's organisation (or not a
 * domain at all) is flagged, never enforced.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "auth_int.h"

/* Record why signature s does not count, at stage st. */
void auth_sig_fail(struct auth_sig *s, enum auth_stage st, const char *fmt, ...)
{
    char tmp[AUTH_WHY_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    s->stage = st;
    auth_clean(s->why, sizeof s->why, tmp);
}

/* Is a libopendkim signature error about the key? */
static int key_error(int err)
{
    switch (err) {
    case DKIM_SIGERROR_NOKEY: case DKIM_SIGERROR_KEYFAIL: case DKIM_SIGERROR_DNSSYNTAX:
    case DKIM_SIGERROR_MULTIREPLY: case DKIM_SIGERROR_KEYVERSION:
    case DKIM_SIGERROR_KEYUNKNOWNHASH: case DKIM_SIGERROR_KEYHASHMISMATCH:
    case DKIM_SIGERROR_NOTEMAILKEY: case DKIM_SIGERROR_KEYTYPEMISSING:
    case DKIM_SIGERROR_KEYTYPEUNKNOWN: case DKIM_SIGERROR_KEYREVOKED:
    case DKIM_SIGERROR_KEYDECODE: case DKIM_SIGERROR_KEYTOOSMALL:
        return 1;
    default:
        return 0;
    }
}

/* Judge one signature that survived the prescreen. */
static void sig_judge(tlsrpt_auth *a, struct auth_sig *s)
{
    DKIM_SIGINFO *si = s->si;
    unsigned flags = dkim_sig_getflags(si);
    int bh = dkim_sig_getbh(si), err = dkim_sig_geterror(si);
    const char *sel = (const char *)dkim_sig_getselector(si);
    struct auth_keyinfo *k = sel ? auth_key_find(a, sel, s->domain) : NULL;
    if ((flags & DKIM_SIGFLAG_PASSED) && bh == DKIM_SIGBH_MATCH && err == DKIM_SIGERROR_OK) {
        if (dkim_sig_gettagvalue(si, 0, (u_char *)"l") != NULL)
            auth_sig_fail(s, ST_REFUSED, "l= present (d=%s)", s->domain);
        else
            s->stage = ST_PASS;
    } else if (k && k->res != KEY_OK) {
        auth_sig_fail(s, ST_KEY, "%s (d=%s)", k->why, s->domain);
    } else if (key_error(err)) {
        auth_sig_fail(s, ST_KEY, "key unusable: %s (d=%s)", dkim_sig_geterrorstr(err), s->domain);
    } else if (bh == DKIM_SIGBH_MISMATCH) {
        auth_sig_fail(s, ST_BODYHASH, "body hash mismatch (d=%s)", s->domain);
    } else if (flags & DKIM_SIGFLAG_PROCESSED) {
        auth_sig_fail(s, ST_BADSIG, "signature did not verify (d=%s)", s->domain);
    } else {
        auth_sig_fail(s, ST_REFUSED, "signature not verified: %s (d=%s)",
                      err >= 0 ? dkim_sig_geterrorstr(err) : "not processed", s->domain);
    }
}

/* Mail-level reasons that come before any signature; NULL when none. */
static const char *mail_reason(tlsrpt_auth *a, char *buf, size_t len)
{
    if (a->fatal)
        return a->fatal_why;
    if (a->sig_headers == 0)
        return "no signature";
    if (a->from_count == 0)
        return "no From header";
    if (a->from_count > 1)
        return "several From headers";
    switch (a->from_err) {
    case 1: return "From address unreadable";
    case 2: return "no address in From";
    case 3: return "several From addresses";
    case 4:
        snprintf(buf, len, "From domain %.100s has no organisational domain", a->from_domain);
        return buf;
    }
    return NULL;
}

/* Decide the mail (tlsrpt_auth_finish). */
void auth_evaluate(tlsrpt_auth *a)
{
    char buf[AUTH_WHY_MAX];
    const char *why = mail_reason(a, buf, sizeof buf);
    a->authentic = 0;
    a->pass = -1;
    if (why) {
        auth_clean(a->detail, sizeof a->detail, why);
        return;
    }
    DKIM_SIGINFO **list = NULL;
    int n = 0;
    if (a->body_wanted && dkim_getsiglist(a->dkim, &list, &n) != DKIM_STAT_OK)
        n = 0;
    struct auth_sig *best = NULL;
    for (int i = 0; i < a->nsigs; i++) {
        struct auth_sig *s = &a->sigs[i];
        int listed = 0;
        for (int j = 0; j < n && !listed; j++)
            listed = list[j] == s->si;
        if (!s->ignored) {
            if (listed)
                sig_judge(a, s);
            else
                auth_sig_fail(s, ST_REFUSED, "signature not verified (d=%s)", s->domain);
        }
        if (s->stage == ST_PASS && a->pass < 0)
            a->pass = i;
        if (!best || s->stage > best->stage)
            best = s;
    }
    if (a->pass >= 0) {
        a->authentic = 1;
        snprintf(a->detail, sizeof a->detail, "dkim=pass d=%s", a->sigs[a->pass].domain);
    } else if (best) {
        snprintf(a->detail, sizeof a->detail, "%s", best->why);
    } else if (a->sig_skipped == a->sig_headers) {
        snprintf(a->detail, sizeof a->detail, "signatures not verified (too many or too long)");
    } else {
        snprintf(a->detail, sizeof a->detail, "no readable signature (%u unreadable)",
                 a->sig_syntax + a->sig_skipped);
    }
}

/* Fill the verdict's mail-level fields. */
static void verdict_base(tlsrpt_auth *a, tlsrpt_verdict *v)
{
    memset(v, 0, sizeof *v);
    v->lookups = a->lookups;
    v->signatures = a->sig_headers;
    auth_clean(v->from_domain, sizeof v->from_domain, a->from_domain);
    snprintf(v->detail, sizeof v->detail, "%s", a->detail);
    if (a->pass >= 0) {
        snprintf(v->signer, sizeof v->signer, "%s", a->sigs[a->pass].domain);
        snprintf(v->signer_org, sizeof v->signer_org, "%s", a->sigs[a->pass].org);
    }
}

/* Set v to not authentic with reason and detail. */
static void verdict_fail(tlsrpt_verdict *v, const char *reason, const char *detail)
{
    v->authentic = 0;
    snprintf(v->reason, sizeof v->reason, "%s", reason);
    auth_clean(v->detail, sizeof v->detail, detail);
}

/* The verdict on one report (auth.h). */
void tlsrpt_auth_judge(tlsrpt_auth *a, const char *contact_info, const char *submitter,
                       tlsrpt_verdict *v)
{
    if (!v)
        return;
    if (!a) {
        memset(v, 0, sizeof *v);
        verdict_fail(v, "unauthenticated", "no authentication state");
        return;
    }
    tlsrpt_auth_finish(a);
    verdict_base(a, v);
    const char *sub = submitter ? submitter : a->have_submitter ? a->submitter : NULL;
    if (sub && *sub) {
        char org[AUTH_DOMAIN_MAX];
        auth_clean(v->submitter, sizeof v->submitter, sub);
        v->submitter_disagrees = a->pass < 0 || tlsrpt_org_domain(sub, org, sizeof org) != 0 ||
                                 strcmp(org, v->signer_org) != 0;
    }
    if (!a->authentic) {
        verdict_fail(v, "unauthenticated", a->detail);
        return;
    }
    char dom[AUTH_DOMAIN_MAX], org[AUTH_DOMAIN_MAX], why[320];
    int c = auth_contact_domain(contact_info, dom, sizeof dom);
    if (c < 0 || (c == 1 && (tlsrpt_org_domain(dom, org, sizeof org) != 0 ||
                             strcmp(org, v->signer_org) != 0))) {
        snprintf(why, sizeof why, "contact-info in another organisation (%.100s, signer %.100s)",
                 c < 0 ? "unreadable" : dom, v->signer_org);
        verdict_fail(v, "unauthenticated", why);
        return;
    }
    tlsrpt_auth_lib *lib = a->lib;
    if (lib->nreporters > 0) {
        size_t i = 0;
        while (i < lib->nreporters && strcmp(lib->reporters[i], v->signer_org) != 0)
            i++;
        if (i == lib->nreporters) {
            snprintf(why, sizeof why, "signer %.200s not in Reporters", v->signer_org);
            verdict_fail(v, "unknown-reporter", why);
            return;
        }
    }
    v->authentic = 1;
}
