/*
 * b64.c - streaming base64 decoder (RFC 2045 section 6.8).
 *
 * Accepts any chunking and ragged line lengths; skips CR, LF, space and
 * tab anywhere. After '=' padding only whitespace and '=' may follow.
 * Errors: any other byte (-1 from b64_decode); a dangling 6-bit group at
 * the end (b64_finish returns -1). State is a few bytes; no allocation.
 */
#include "stages.h"

static signed char b64_val[256];
static int b64_ready;

/* Fill the decoding table once (idempotent; racing writers write equal values). */
static void b64_table(void)
{
    const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (b64_ready)
        return;
    for (int i = 0; i < 256; i++)
        b64_val[i] = -1;
    for (int i = 0; i < 64; i++)
        b64_val[(unsigned char)a[i]] = (signed char)i;
    b64_ready = 1;
}

/* Reset a decoder. */
void b64_init(b64_state *s)
{
    b64_table();
    s->acc = 0;
    s->nbits = 0;
    s->pad = 0;
}

/* Decode a chunk; returns bytes written to out or -1 on an invalid byte. */
long b64_decode(b64_state *s, const char *in, size_t len, unsigned char *out)
{
    long n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '\r' || c == '\n' || c == ' ' || c == '\t')
            continue;
        if (c == '=') {
            s->pad = 1;
            continue;
        }
        int v = b64_val[c];
        if (v < 0 || s->pad)
            return -1;
        s->acc = (s->acc << 6) | (unsigned)v;
        s->nbits += 6;
        if (s->nbits >= 8) {
            s->nbits -= 8;
            out[n++] = (unsigned char)(s->acc >> s->nbits);
            s->acc &= (1u << s->nbits) - 1;
        }
    }
    return n;
}

/* End of input: a lone 6-bit group means the data was truncated. */
int b64_finish(b64_state *s)
{
    return s->nbits >= 6 ? -1 : 0;
}
