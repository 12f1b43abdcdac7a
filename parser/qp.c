/*
 * qp.c - streaming quoted-printable decoder (RFC 2045 section 6.7).
 *
 * Lenient like most readers: a bad "=XY" escape is kept verbatim, and
 * trailing whitespace before a line end is dropped (as the RFC says) only
 * when it fits the hold buffer (76 bytes); longer runs pass through.
 * Soft line breaks ("=" at line end, CRLF or LF) are removed. Never fails.
 */
#include "stages.h"

/* Reset a decoder. */
void qp_init(qp_state *s)
{
    s->npend = 0;
    s->nws = 0;
    s->ws_overflow = 0;
}

/* Value of a hex digit or -1. */
static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Emit held whitespace (it was not trailing after all). */
static size_t flush_ws(qp_state *s, unsigned char *out)
{
    size_t n = (size_t)s->nws;
    memcpy(out, s->ws, n);
    s->nws = 0;
    return n;
}

/* Handle a byte following a pending '=' (or "=X"); returns bytes written. */
static size_t qp_escape(qp_state *s, unsigned char c, unsigned char *out)
{
    size_t n = 0;
    if (s->npend == 1) {
        if (c == '\n') {                /* soft break "=\n" */
            s->npend = 0;
            return 0;
        }
        if (c == '\r' || hexval(c) >= 0 || c == ' ' || c == '\t') {
            s->pend[1] = (char)c;
            s->npend = 2;
            return 0;
        }
        out[n++] = '=';
        out[n++] = c;
        s->npend = 0;
        return n;
    }
    /* npend == 2 */
    unsigned char p = (unsigned char)s->pend[1];
    s->npend = 0;
    if (p == '\r' && c == '\n')
        return 0;                       /* soft break "=\r\n" */
    if ((p == ' ' || p == '\t') && (c == ' ' || c == '\t' || c == '\r')) {
        s->pend[1] = (char)c;           /* "=  \r\n": whitespace after soft break */
        s->npend = 2;
        return 0;
    }
    if ((p == ' ' || p == '\t') && c == '\n')
        return 0;
    if (hexval(p) >= 0 && hexval(c) >= 0) {
        out[n++] = (unsigned char)(hexval(p) * 16 + hexval(c));
        return n;
    }
    out[n++] = '=';
    out[n++] = p;
    out[n++] = c;
    return n;
}

/* Decode a chunk; out must hold len + sizeof(s->ws) + 3 bytes. */
size_t qp_decode(qp_state *s, const char *in, size_t len, unsigned char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (s->npend) {
            n += qp_escape(s, c, out + n);
            continue;
        }
        if (c == '=') {
            n += flush_ws(s, out + n);
            s->pend[0] = '=';
            s->npend = 1;
        } else if (c == ' ' || c == '\t') {
            if (s->nws == (int)sizeof s->ws)
                n += flush_ws(s, out + n);
            s->ws[s->nws++] = (char)c;
        } else if (c == '\r' || c == '\n') {
            s->nws = 0;                 /* trailing whitespace dropped */
            out[n++] = c;
        } else {
            n += flush_ws(s, out + n);
            out[n++] = c;
        }
    }
    return n;
}

/* End of part: emit what is still held. */
size_t qp_finish(qp_state *s, unsigned char *out)
{
    size_t n = flush_ws(s, out);
    if (s->npend >= 1)
        out[n++] = '=';
    if (s->npend == 2)
        out[n++] = (unsigned char)s->pend[1];
    s->npend = 0;
    return n;
}
