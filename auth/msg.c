/*
 * msg.c - one mail through libopendkim: tlsrpt_auth_new, _header, _eoh,
 * _body, _finish, _free.
 *
 * Each header goes to dkim_header as "Name:" + value (one blank put back
 * when the MTA stripped it, TLSRPT_AUTH_HDR_STRIPPED), bare LFs of folded
 * values made CRLF, no trailing CRLF. On the way this file notes what the
 * rule needs: the From header(s) and their address, the first
 * TLS-Report-Submitter, the DKIM-Signature count. A DKIM-Signature that
 * libopendkim cannot parse (dkim_header: DKIM_STAT_SYNTAX) is counted and
 * passed over, so a junk one cannot hide a valid one; signatures beyond
 * TLSRPT_AUTH_MAX_SIGS or longer than TLSRPT_AUTH_MAX_SIG_LEN are not given
 * to libopendkim at all. At end of headers nothing more is done when the
 * verdict is known already (no signature, From unusable): dkim_eoh runs the
 * prescreen and the key lookups, and when it finds nothing to verify the
 * body is not hashed. The body is streamed to dkim_body chunk by chunk, bare
 * LFs made CRLF (state kept across chunks), nothing kept here.
 * Errors: any libopendkim failure other than a verdict, and out of memory,
 * make the mail not authentic with the reason (auth_fatal).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "auth_int.h"

/* Mark the mail unverifiable (first reason wins). */
void auth_fatal(tlsrpt_auth *a, const char *why)
{
    if (a->fatal)
        return;
    a->fatal = 1;
    auth_clean(a->fatal_why, sizeof a->fatal_why, why);
}

/* Start one mail (auth.h). */
tlsrpt_auth *tlsrpt_auth_new(tlsrpt_auth_lib *lib, const char *log_id, unsigned flags)
{
    if (!lib)
        return NULL;
    tlsrpt_auth *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->lib = lib;
    a->flags = flags;
    a->pass = -1;
    auth_clean(a->id, sizeof a->id, log_id && *log_id ? log_id : "tlsrpt");
    DKIM_STAT st = DKIM_STAT_INTERNAL;
    a->dkim = dkim_verify(lib->dkim, (const unsigned char *)a->id, NULL, &st);
    if (!a->dkim) {
        char why[96];
        snprintf(why, sizeof why, "libopendkim: dkim_verify: %s", dkim_getresultstr(st));
        auth_fatal(a, why);
    } else {
        dkim_set_user_context(a->dkim, a);
    }
    return a;
}

/* Note a From header: count it, read its address list. */
static void note_from(tlsrpt_auth *a, const char *value)
{
    if (++a->from_count > 1)
        return;
    int n = auth_addr_list(value, a->from_domain, sizeof a->from_domain);
    if (n != 1) {
        a->from_err = n < 0 ? 1 : n == 0 ? 2 : 3;
        if (n < 0)
            a->from_domain[0] = 0;
    } else if (tlsrpt_org_domain(a->from_domain, a->from_org, sizeof a->from_org) != 0) {
        a->from_err = 4;
        a->from_org[0] = 0;
    }
}

/* Note the first TLS-Report-Submitter, blanks trimmed. */
static void note_submitter(tlsrpt_auth *a, const char *v, size_t vl)
{
    if (a->have_submitter)
        return;
    a->have_submitter = 1;
    while (vl > 0 && (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n'))
        v++, vl--;
    while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t' || v[vl - 1] == '\r' ||
                      v[vl - 1] == '\n'))
        vl--;
    if (vl >= sizeof a->submitter)
        vl = sizeof a->submitter - 1;
    memcpy(a->submitter, v, vl);
    a->submitter[vl] = 0;
}

/* Build "Name:[ ]value" in a->hbuf with CRLF line breaks; its length or -1. */
static long build_header(tlsrpt_auth *a, const char *name, size_t nl, const char *v, size_t vl,
                         int add_space)
{
    size_t need = nl + 2 + 2 * vl + 1;
    if (need > a->hcap) {
        char *nb = realloc(a->hbuf, need);
        if (!nb)
            return -1;
        a->hbuf = nb, a->hcap = need;
    }
    while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
        vl--;
    size_t n = nl;
    memcpy(a->hbuf, name, nl);
    a->hbuf[n++] = ':';
    if (add_space)
        a->hbuf[n++] = ' ';
    for (size_t i = 0; i < vl; i++) {
        if (v[i] == '\n' && (i == 0 || v[i - 1] != '\r'))
            a->hbuf[n++] = '\r';
        a->hbuf[n++] = v[i];
    }
    a->hbuf[n] = 0;
    return (long)n;
}

/* A header name libopendkim can take: printable, no blank, no colon. */
static int name_ok(const char *name, size_t nl)
{
    if (nl == 0)
        return 0;
    for (size_t i = 0; i < nl; i++)
        if ((unsigned char)name[i] <= 0x20 || (unsigned char)name[i] >= 0x7f || name[i] == ':')
            return 0;
    return 1;
}

/* One header: value NUL-terminated at value[vl]; add_space puts the blank back. */
static void header_add(tlsrpt_auth *a, const char *name, size_t nl, const char *value,
                       size_t vl, int add_space)
{
    if (a->eoh_done || a->fatal || !name_ok(name, nl))
        return;
    a->hdr_bytes += nl + vl + 4;
    if (a->hdr_bytes > TLSRPT_AUTH_MAX_HEADER_BYTES) {
        auth_fatal(a, "headers too large");
        return;
    }
    int is_sig = nl == 14 && strncasecmp(name, "DKIM-Signature", 14) == 0;
    if (is_sig) {
        if (++a->sig_headers > TLSRPT_AUTH_MAX_SIGS || vl > TLSRPT_AUTH_MAX_SIG_LEN) {
            a->sig_skipped++;
            return;
        }
    } else if (nl == 4 && strncasecmp(name, "From", 4) == 0) {
        note_from(a, value);
    } else if (nl == 20 && strncasecmp(name, "TLS-Report-Submitter", 20) == 0) {
        note_submitter(a, value, vl);
    }
    long len = build_header(a, name, nl, value, vl, add_space);
    if (len < 0) {
        auth_fatal(a, "out of memory");
        return;
    }
    DKIM_STAT st = dkim_header(a->dkim, (unsigned char *)a->hbuf, (size_t)len);
    if (st == DKIM_STAT_SYNTAX) {
        if (is_sig)
            a->sig_syntax++;                    /* junk signature: passed over */
    } else if (st != DKIM_STAT_OK) {
        char why[96];
        snprintf(why, sizeof why, "libopendkim: dkim_header: %s", dkim_getresultstr(st));
        auth_fatal(a, why);
    }
}

/* A header whose value is exactly what followed the colon (feed.c). */
void auth_header_exact(tlsrpt_auth *a, const char *name, size_t nl, const char *value,
                       size_t vl)
{
    header_add(a, name, nl, value, vl, 0);
}

/* One header as the milter got it (auth.h). */
void tlsrpt_auth_header(tlsrpt_auth *a, const char *name, const char *value)
{
    if (!a || !name || !value)
        return;
    int add = (a->flags & TLSRPT_AUTH_HDR_STRIPPED) && value[0] != ' ' && value[0] != '\t';
    header_add(a, name, strlen(name), value, strlen(value), add);
}

/* End of headers (auth.h). */
int tlsrpt_auth_eoh(tlsrpt_auth *a)
{
    if (!a)
        return 0;
    if (a->eoh_done)
        return a->body_wanted;
    a->eoh_done = 1;
    if (a->fatal || a->from_count != 1 || a->from_err || a->sig_headers == 0)
        return 0;                               /* verdict known: nothing to verify */
    DKIM_STAT st = dkim_eoh(a->dkim);
    if (st == DKIM_STAT_OK) {
        a->body_wanted = 1;
    } else if (st != DKIM_STAT_NOSIG) {         /* e.g. libopendkim cannot read the From */
        char why[AUTH_WHY_MAX];
        const char *e = dkim_geterror(a->dkim);
        snprintf(why, sizeof why, "libopendkim: dkim_eoh: %s%s%.80s", dkim_getresultstr(st),
                 e && *e ? ": " : "", e ? e : "");
        auth_fatal(a, why);
    }
    return a->body_wanted;
}

/* Give n bytes of body to libopendkim. */
static void body_put(tlsrpt_auth *a, const char *p, size_t n)
{
    if (n == 0 || a->fatal)
        return;
    DKIM_STAT st = dkim_body(a->dkim, (unsigned char *)p, n);
    if (st != DKIM_STAT_OK) {
        char why[96];
        snprintf(why, sizeof why, "libopendkim: dkim_body: %s", dkim_getresultstr(st));
        auth_fatal(a, why);
    }
}

/* One body chunk, bare LFs made CRLF (auth.h). */
void tlsrpt_auth_body(tlsrpt_auth *a, const void *buf, size_t len)
{
    if (!a || a->finished || len == 0)
        return;
    if (!a->eoh_done)
        tlsrpt_auth_eoh(a);
    if (!a->body_wanted || a->fatal)
        return;
    const char *p = buf, *start = p;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '\n' && !(i > 0 ? p[i - 1] == '\r' : a->last_cr)) {
            body_put(a, start, (size_t)(p + i - start));
            body_put(a, "\r\n", 2);
            start = p + i + 1;
        }
    }
    body_put(a, start, (size_t)(p + len - start));
    a->last_cr = p[len - 1] == '\r';
    a->last_lf = p[len - 1] == '\n';
    a->body_bytes += len;
}

/* dkim_eom, after the CRLF that ends every body (RFC 6376 3.4.3) when the
 * input lacked it; a failure that is not a verdict makes the mail fatal. */
static void eom(tlsrpt_auth *a)
{
    if (a->body_bytes > 0 && !a->last_lf)
        body_put(a, "\r\n", 2);
    if (a->fatal)
        return;
    DKIM_STAT st = dkim_eom(a->dkim, NULL);
    if (st != DKIM_STAT_OK && st != DKIM_STAT_BADSIG && st != DKIM_STAT_NOKEY &&
        st != DKIM_STAT_CANTVRFY && st != DKIM_STAT_KEYFAIL && st != DKIM_STAT_REVOKED &&
        st != DKIM_STAT_NOSIG) {
        char why[AUTH_WHY_MAX];
        const char *e = dkim_geterror(a->dkim);
        snprintf(why, sizeof why, "libopendkim: dkim_eom: %s%s%.80s", dkim_getresultstr(st),
                 e && *e ? ": " : "", e ? e : "");
        auth_fatal(a, why);
    }
}

/* End of message (auth.h). */
int tlsrpt_auth_finish(tlsrpt_auth *a)
{
    if (!a)
        return 0;
    if (a->finished)
        return a->authentic;
    if (a->feed.used)
        tlsrpt_auth_feed(a, NULL, 0);           /* flush what the splitter holds */
    if (!a->eoh_done)
        tlsrpt_auth_eoh(a);
    if (a->body_wanted && !a->fatal)
        eom(a);
    a->finished = 1;
    auth_evaluate(a);
    atomic_fetch_add(&a->lib->st_mails, 1);
    if (a->authentic)
        atomic_fetch_add(&a->lib->st_authentic, 1);
    return a->authentic;
}

/* Key lookups made for this mail. */
unsigned tlsrpt_auth_lookups(const tlsrpt_auth *a)
{
    return a ? a->lookups : 0;
}

/* Free a per-mail handle. */
void tlsrpt_auth_free(tlsrpt_auth *a)
{
    if (!a)
        return;
    if (a->dkim)
        dkim_free(a->dkim);
    free(a->hbuf);
    free(a->feed.buf);
    free(a->sigs);
    free(a);
}
