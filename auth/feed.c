/*
 * feed.c - tlsrpt_auth_feed: a raw message, in chunks of any size, split
 * into headers and body for the tools (tlsrpt-parse) and the tests.
 *
 * Lines end in LF or CRLF. A leading mbox "From " line is skipped. A header
 * is its first line plus every following line that starts with a blank
 * (folding kept, given to libopendkim as CRLF); its value is exactly what
 * follows the colon. The first empty line ends the headers; so does, as in
 * Postfix, a line that is neither a header nor a continuation: it is the
 * first line of the body. The body is streamed to tlsrpt_auth_body as it
 * comes. Only the current header is buffered: one longer than
 * TLSRPT_AUTH_MAX_HEADER makes the mail not authentic ("header too long")
 * and the rest of the input is ignored.
 */
#include <stdlib.h>
#include <string.h>
#include "auth_int.h"

enum { F_FIRST = 0, F_HEADERS, F_BODY, F_DEAD };

/* Give the header held in buf[0..hl) to the message (name, exact value). */
static void flush_header(tlsrpt_auth *a, size_t hl)
{
    struct auth_feed *f = &a->feed;
    while (hl > 0 && (f->buf[hl - 1] == '\n' || f->buf[hl - 1] == '\r'))
        hl--;
    if (hl == 0)
        return;
    char *colon = memchr(f->buf, ':', hl);
    if (!colon)
        return;
    size_t nl = (size_t)(colon - f->buf);
    while (nl > 0 && (f->buf[nl - 1] == ' ' || f->buf[nl - 1] == '\t'))
        nl--;
    char save = f->buf[hl];
    f->buf[hl] = 0;
    auth_header_exact(a, f->buf, nl, colon + 1, (size_t)(f->buf + hl - colon - 1));
    f->buf[hl] = save;
}

/* The headers are over; the body follows. */
static void to_body(tlsrpt_auth *a)
{
    a->feed.state = F_BODY;
    a->feed.len = a->feed.line_off = 0;
    tlsrpt_auth_eoh(a);
}

/* A complete physical line sits at buf[line_off..len). */
static void line_done(tlsrpt_auth *a)
{
    struct auth_feed *f = &a->feed;
    char *line = f->buf + f->line_off;
    size_t ll = f->len - f->line_off, cl = ll;
    while (cl > 0 && (line[cl - 1] == '\n' || line[cl - 1] == '\r'))
        cl--;
    if (f->state == F_FIRST) {
        f->state = F_HEADERS;
        if (cl >= 5 && memcmp(line, "From ", 5) == 0) {
            f->len = f->line_off = 0;
            return;
        }
    }
    if (cl == 0) {                              /* empty line: end of headers */
        flush_header(a, f->line_off);
        to_body(a);
        return;
    }
    if (line[0] == ' ' || line[0] == '\t') {    /* continuation */
        if (f->line_off == 0)
            f->len = 0;                         /* nothing to continue: dropped */
        else
            f->line_off = f->len;
        return;
    }
    flush_header(a, f->line_off);
    memmove(f->buf, line, ll);
    f->len = ll;
    f->line_off = ll;
    if (!memchr(f->buf, ':', cl)) {             /* not a header: the body starts here */
        char *keep = f->buf;
        size_t kl = f->len;
        f->buf = NULL, f->cap = 0;
        to_body(a);
        tlsrpt_auth_body(a, keep, kl);
        free(keep);
    }
}

/* Append n bytes to the header buffer; -1 when too long or out of memory. */
static int buf_add(tlsrpt_auth *a, const char *p, size_t n)
{
    struct auth_feed *f = &a->feed;
    if (f->len + n > TLSRPT_AUTH_MAX_HEADER) {
        auth_fatal(a, "header too long");
        return -1;
    }
    if (f->len + n + 1 > f->cap) {
        size_t nc = f->cap ? f->cap : 1024;
        while (nc < f->len + n + 1)
            nc *= 2;
        char *nb = realloc(f->buf, nc);
        if (!nb) {
            auth_fatal(a, "out of memory");
            return -1;
        }
        f->buf = nb, f->cap = nc;
    }
    memcpy(f->buf + f->len, p, n);
    f->len += n;
    return 0;
}

/* The end of the input: a last unterminated header line, then end of headers. */
static void feed_end(tlsrpt_auth *a)
{
    struct auth_feed *f = &a->feed;
    if (f->state == F_BODY || f->state == F_DEAD)
        return;
    if (f->len > f->line_off) {
        if (buf_add(a, "\n", 1) < 0) {
            f->state = F_DEAD;
            return;
        }
        line_done(a);
    }
    if (f->state != F_BODY) {
        flush_header(a, f->len);
        to_body(a);
    }
}

/* A raw message chunk (auth.h); NULL buf marks the end (tlsrpt_auth_finish). */
void tlsrpt_auth_feed(tlsrpt_auth *a, const void *buf, size_t len)
{
    if (!a || a->finished)
        return;
    struct auth_feed *f = &a->feed;
    f->used = 1;
    if (!buf) {
        feed_end(a);
        return;
    }
    const char *p = buf, *end = p + len;
    while (p < end && (f->state == F_FIRST || f->state == F_HEADERS)) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t take = nl ? (size_t)(nl + 1 - p) : (size_t)(end - p);
        if (buf_add(a, p, take) < 0) {
            f->state = F_DEAD;
            return;
        }
        p += take;
        if (nl)
            line_done(a);
    }
    if (f->state == F_BODY && p < end)
        tlsrpt_auth_body(a, p, (size_t)(end - p));
}
