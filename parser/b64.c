/*
 * b64.c - streaming base64 decoder (RFC 2045 section 6.8).
 *
 * Accepts any chunking and ragged line lengths; skips CR, LF, space and
 * tab anywhere. After '=' padding only whitespace and '=' may follow.
 * Errors: any other byte (-1 from b64_decode); a dangling 6-bit group at
 * the end (b64_finish returns -1). State is a few bytes; no allocation.
 * Whole 4-character groups are decoded at once while no bits are pending.
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

/* Decode whole 4-character groups at in[*i] while no bits are pending; returns bytes written. */
static long b64_groups(b64_state *s, const unsigned char *in, size_t len, size_t *i,
                       unsigned char *out)
{
    long n = 0;
    if (s->nbits || s->pad)
        return 0;
    while (*i + 4 <= len) {
        int a = b64_val[in[*i]], b = b64_val[in[*i + 1]], c = b64_val[in[*i + 2]],
            d = b64_val[in[*i + 3]];
        if ((a | b | c | d) < 0)
            break;                              /* whitespace, '=' or bad: slow path */
        out[n++] = (unsigned char)(a << 2 | b >> 4);
        out[n++] = (unsigned char)(b << 4 | c >> 2);
        out[n++] = (unsigned char)(c << 6 | d);
        *i += 4;
    }
    return n;
}

/* Decode a chunk; returns bytes written to out or -1 on an invalid byte. */
long b64_decode(b64_state *s, const char *inp, size_t len, unsigned char *out)
{
    const unsigned char *in = (const unsigned char *)inp;
    long n = 0;
    for (size_t i = 0; i < len; i++) {
        n += b64_groups(s, in, len, &i, out + n);
        if (i >= len)
            break;
        unsigned char c = in[i];
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
