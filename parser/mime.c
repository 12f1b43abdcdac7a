/*
 * mime.c - MIME structure of a report mail (RFC 2045/2046), streaming.
 *
 * Reads entity headers (with folding) and bodies line by line, keeps a
 * stack of open multipart boundaries (and message/rfc822 nestings) and
 * hands each leaf body to part.c. Only the first MIME_PEEK bytes of a body
 * line are held, to test for a boundary; longer lines, and lines not
 * starting with '-', stream straight through. Bare LF and CRLF both work.
 * An outer boundary closes inner multiparts that never closed; a last part
 * whose closing boundary never comes ends at end of input.
 * Limits (hard errors): a header field over max_header_bytes, counted
 * from its name to the end of its last line, that final line end not
 * counted (TLSRPT_ERR_HEADER_SIZE; the field before it, held until the
 * next line shows it is not continued, holds at most as many again), nesting over max_mime_depth
 * (TLSRPT_ERR_MIME_DEPTH), more than max_mime_parts parts
 * (TLSRPT_ERR_MIME_PARTS).
 */
#include "decoder_int.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

/* Handle one complete header field (the milter gives them this way too). */
int mime_header(tlsrpt_decoder *d, const char *name, const char *value)
{
    int which = strcasecmp(name, "Content-Type") == 0 ? 1
              : strcasecmp(name, "Content-Transfer-Encoding") == 0 ? 2
              : strcasecmp(name, "Content-Disposition") == 0 ? 3
              : strcasecmp(name, "TLS-Report-Domain") == 0 ? 4 : 0;
    if (!which)
        return TLSRPT_OK;
    char *v = strdup(value);
    if (!v)
        return dec_fail(d, TLSRPT_ERR_NOMEM, "out of memory");
    mime_unfold(v);
    if (which == 1)
        mime_parse_ctype(v, &d->ct);
    else if (which == 2)
        d->cte = mime_parse_cte(v);
    else if (which == 3)
        mime_parse_disposition(v, &d->ct);
    else if (!d->report_domain[0])
        tlsrpt_normalize_domain(v, d->report_domain, sizeof d->report_domain);
    free(v);
    return TLSRPT_OK;
}

/* Open a nesting level (multipart boundary or message/rfc822). */
static int push_level(tlsrpt_decoder *d, const char *boundary, int rfc822)
{
    if (d->depth >= d->lim.max_mime_depth)
        return dec_fail(d, TLSRPT_ERR_MIME_DEPTH, "MIME nesting deeper than the limit of %d",
                        d->lim.max_mime_depth);
    mime_level *l = &d->stack[d->depth++];
    snprintf(l->boundary, sizeof l->boundary, "%s", boundary);
    l->rfc822 = rfc822;
    return TLSRPT_OK;
}

/* Forget the current entity's headers. */
static void reset_entity(tlsrpt_decoder *d)
{
    memset(&d->ct, 0, sizeof d->ct);
    d->cte = CTE_IDENTITY;
}

/* End of an entity's headers: multipart, nested message, or leaf body. */
int mime_end_headers(tlsrpt_decoder *d)
{
    d->hlen = d->hline = 0;
    if (strncmp(d->ct.type, "multipart/", 10) == 0 && d->ct.boundary[0]) {
        d->st = M_PREAMBLE;
        return push_level(d, d->ct.boundary, 0);
    }
    if (strcmp(d->ct.type, "message/rfc822") == 0 && d->cte == CTE_IDENTITY) {
        reset_entity(d);
        d->st = M_HEADERS;
        return push_level(d, "", 1);
    }
    d->st = M_BODY;
    part_begin(d);
    return TLSRPT_OK;
}

/* Is this line a boundary of an open multipart? Returns the level or -1; sets *close. */
static int boundary_level(tlsrpt_decoder *d, const char *line, size_t n, int *close)
{
    if (n < 3 || line[0] != '-' || line[1] != '-')
        return -1;
    while (n > 0 && isspace((unsigned char)line[n - 1]))
        n--;
    for (int i = d->depth - 1; i >= 0; i--) {
        const mime_level *l = &d->stack[i];
        size_t bl = strlen(l->boundary);
        if (l->rfc822 || n < 2 + bl || memcmp(line + 2, l->boundary, bl) != 0)
            continue;
        size_t rest = n - 2 - bl;
        if (rest == 0 || (rest == 2 && line[2 + bl] == '-' && line[3 + bl] == '-')) {
            *close = rest == 2;
            return i;
        }
    }
    return -1;
}

/* A boundary line of level i: end the current part, open the next or close. */
static int on_boundary(tlsrpt_decoder *d, int i, int close)
{
    if (d->st == M_BODY)
        part_end(d);
    d->hlen = d->hline = 0;
    d->depth = i + 1;
    if (close) {
        d->depth = i;
        d->st = d->depth > 0 ? M_PREAMBLE : M_DONE;
        return TLSRPT_OK;
    }
    if (++d->parts > d->lim.max_mime_parts)
        return dec_fail(d, TLSRPT_ERR_MIME_PARTS, "more MIME parts than the limit of %d",
                        d->lim.max_mime_parts);
    reset_entity(d);
    d->st = M_HEADERS;
    return TLSRPT_OK;
}

/* Process the pending logical header hbuf[0, hline). */
static int flush_header(tlsrpt_decoder *d)
{
    if (d->hline == 0)
        return TLSRPT_OK;
    d->hbuf[d->hline] = 0;
    char *colon = memchr(d->hbuf, ':', d->hline);
    if (!colon)
        return TLSRPT_OK;                   /* not a header field: ignored */
    char *e = colon;
    while (e > d->hbuf && isspace((unsigned char)e[-1]))
        e--;
    *e = 0;
    return mime_header(d, d->hbuf, colon + 1);
}

/* A complete physical header line sits at hbuf[hline, hlen). */
static int header_line(tlsrpt_decoder *d)
{
    char *l = d->hbuf + d->hline;
    size_t n = d->hlen - d->hline;
    int close, lvl = boundary_level(d, l, n, &close);
    if (lvl >= 0)
        return on_boundary(d, lvl, close);
    if (n == 1 || (n == 2 && l[0] == '\r')) {       /* blank line: end of headers */
        d->hlen = d->hline;
        int rc = flush_header(d);
        return rc != TLSRPT_OK ? rc : mime_end_headers(d);
    }
    if ((l[0] == ' ' || l[0] == '\t') && d->hline > 0) {
        d->hline = d->hlen;                          /* folded continuation */
        return TLSRPT_OK;
    }
    char first = l[0];                               /* flush_header ends the field at l[0] */
    int rc = flush_header(d);
    l[0] = first;
    memmove(d->hbuf, l, n);
    d->hlen = d->hline = n;
    return rc;
}

/* Bytes of the field that the line being read belongs to, once buf[0, n) is added, its
   final line end (LF, CRLF, or a CR that may be one) not counted: the previous field
   still waiting in hbuf (it may be continued) is not part of a new field. */
static size_t field_bytes(const tlsrpt_decoder *d, const char *buf, size_t n, int lf)
{
    char first = d->hlen > d->hline ? d->hbuf[d->hline] : buf[0];
    size_t start = d->hline > 0 && (first == ' ' || first == '\t') ? 0 : d->hline;
    size_t f = d->hlen - start + n;
    char last = n > 0 ? buf[n - 1] : 0, before = n > 1 ? buf[n - 2]
                : d->hlen > start ? d->hbuf[d->hlen - 1] : 0;
    if (lf && last == '\n')
        f -= before == '\r' ? 2 : 1;
    else if (last == '\r')
        f--;
    return f;
}

/* Append header bytes up to and including a LF; returns bytes used or -1. */
static long header_bytes(tlsrpt_decoder *d, const char *buf, size_t len)
{
    const char *lf = memchr(buf, '\n', len);
    size_t n = lf ? (size_t)(lf - buf) + 1 : len;
    if (field_bytes(d, buf, n, lf != NULL) > d->lim.max_header_bytes) {
        dec_fail(d, TLSRPT_ERR_HEADER_SIZE, "header field longer than the limit of %zu bytes",
                 d->lim.max_header_bytes);
        return -1;
    }
    if (d->hlen + n + 1 > d->hcap) {
        size_t cap = d->hcap ? d->hcap : 1024;
        while (cap < d->hlen + n + 1)
            cap *= 2;
        char *nb = realloc(d->hbuf, cap);
        if (!nb) {
            dec_fail(d, TLSRPT_ERR_NOMEM, "out of memory");
            return -1;
        }
        d->hbuf = nb;
        d->hcap = cap;
    }
    memcpy(d->hbuf + d->hlen, buf, n);
    d->hlen += n;
    if (lf && header_line(d) != TLSRPT_OK)
        return -1;
    return (long)n;
}

/* Body bytes of a line that cannot be a boundary. */
static int body_bytes(tlsrpt_decoder *d, const char *buf, size_t n)
{
    return d->st == M_BODY ? part_feed(d, buf, n) : TLSRPT_OK;
}

/* A held line (peek) is complete or over-long: boundary or content. */
static int peek_line(tlsrpt_decoder *d)
{
    int close, lvl = boundary_level(d, d->peek, d->npeek, &close);
    size_t n = d->npeek;
    d->npeek = 0;
    if (lvl >= 0)
        return on_boundary(d, lvl, close);
    return body_bytes(d, d->peek, n);
}

/* Consume body-side bytes up to and including a LF; returns bytes used or -1. */
static long line_bytes(tlsrpt_decoder *d, const char *buf, size_t len)
{
    const char *lf = memchr(buf, '\n', len);
    size_t n = lf ? (size_t)(lf - buf) + 1 : len;
    int rc;
    if (d->npeek == 0 && !d->long_line && buf[0] != '-')
        d->long_line = 1;                    /* cannot be a boundary: stream it */
    if (d->long_line) {
        rc = body_bytes(d, buf, n);
        d->long_line = lf == NULL;
        return rc == TLSRPT_OK ? (long)n : -1;
    }
    size_t room = MIME_PEEK - d->npeek, take = n < room ? n : room;
    memcpy(d->peek + d->npeek, buf, take);
    d->npeek += take;
    if (take < n || (!lf && d->npeek == MIME_PEEK)) {
        rc = body_bytes(d, d->peek, d->npeek);       /* too long for a boundary */
        d->npeek = 0;
        d->long_line = 1;
        return rc == TLSRPT_OK ? (long)take : -1;
    }
    if (lf)
        rc = peek_line(d);
    else
        rc = TLSRPT_OK;
    return rc == TLSRPT_OK ? (long)take : -1;
}

/* Feed message bytes (headers and body) through the MIME structure. */
int mime_body(tlsrpt_decoder *d, const char *buf, size_t len)
{
    while (len > 0 && d->err == TLSRPT_OK) {
        if (d->st == M_DONE)
            return TLSRPT_OK;                        /* epilogue */
        long used = d->st == M_HEADERS ? header_bytes(d, buf, len) : line_bytes(d, buf, len);
        if (used < 0)
            return d->err;
        buf += used;
        len -= (size_t)used;
    }
    return d->err;
}

/* End of input: close what is open (a part may never see its boundary). */
int mime_finish(tlsrpt_decoder *d)
{
    int rc = TLSRPT_OK;
    if (d->st == M_HEADERS) {
        if (d->hlen > d->hline)
            d->hline = d->hlen;                      /* last line had no LF */
        rc = flush_header(d);
        if (rc == TLSRPT_OK && d->depth == 0)
            rc = mime_end_headers(d);                /* a message with no body */
    } else if (d->npeek > 0 && d->st != M_DONE) {
        rc = peek_line(d);
    }
    if (rc == TLSRPT_OK && d->st == M_BODY)
        part_end(d);
    return rc != TLSRPT_OK ? rc : d->err;
}

/* Free MIME buffers. */
void mime_free(tlsrpt_decoder *d)
{
    free(d->hbuf);
    free(d->stack);
    d->hbuf = NULL;
    d->stack = NULL;
}
