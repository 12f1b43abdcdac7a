/*
 * utf8.c - UTF-8 well-formedness and repair for every string that leaves
 * the decoder (report strings, the TLS-Report-Domain header, error
 * messages): a report's strings go to counter keys, --json, log lines and
 * tlsrpt-stats, and json-c passes invalid bytes inside JSON strings through.
 *
 * Well-formed is Unicode's table 3-7 (RFC 3629): no overlong forms, no
 * surrogates (U+D800..DFFF), nothing above U+10FFFF, no truncated
 * sequences. Repair replaces each maximal ill-formed subpart (Unicode's
 * "U+FFFD substitution of maximal subparts", as browsers do) and each NUL
 * by U+FFFD: the output is at most 3 times the input. Never fails.
 * Hand-written: libc has no validator (mbrtowc depends on the locale and
 * accepts surrogates), and iconv would be a new dependency for ~60 lines.
 */
#include "stages.h"

/* Length of the well-formed sequence starting at s (1..4), or 0 when it is
   ill-formed or a NUL; *sub gets the length of the maximal ill-formed subpart. */
static size_t seq(const unsigned char *s, size_t n, size_t *sub)
{
    unsigned c = s[0], lo = 0x80, hi = 0xBF;
    size_t len, i;
    *sub = 1;
    if (c < 0x80)
        return c ? 1 : 0;
    if (c < 0xC2 || c > 0xF4)
        return 0;
    len = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (c == 0xE0)
        lo = 0xA0;                              /* overlong below U+0800 */
    else if (c == 0xED)
        hi = 0x9F;                              /* surrogates */
    else if (c == 0xF0)
        lo = 0x90;                              /* overlong below U+10000 */
    else if (c == 0xF4)
        hi = 0x8F;                              /* above U+10FFFF */
    for (i = 1; i < len; i++) {
        if (i >= n || s[i] < lo || s[i] > hi) {
            *sub = i;
            return 0;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    return len;
}

/* 1 when s[0, n) is well-formed UTF-8 without NUL bytes. */
int utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, k, sub;
    while (i < n) {
        if (p[i] && p[i] < 0x80) {              /* ASCII: the common case */
            i++;
            continue;
        }
        if (!(k = seq(p + i, n - i, &sub)))
            return 0;
        i += k;
    }
    return 1;
}

/* Write s[0, n) repaired to out (room for 3n bytes; NULL: only count); returns its length. */
size_t utf8_repair(const char *s, size_t n, char *out)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, w = 0, k, sub;
    while (i < n) {
        if ((k = seq(p + i, n - i, &sub))) {
            if (out)
                memcpy(out + w, p + i, k);
            w += k;
            i += k;
        } else {
            if (out)
                memcpy(out + w, "\xEF\xBF\xBD", 3);
            w += 3;
            i += sub;
        }
    }
    return w;
}

/* In place, for messages: each byte of an ill-formed sequence, and each control
   character, becomes '?' (the length stays). */
void utf8_sanitize(char *s)
{
    unsigned char *p = (unsigned char *)s;
    size_t n = strlen(s), i = 0, k, sub;
    while (i < n) {
        if (p[i] < 0x20 || p[i] == 0x7f) {
            p[i++] = '?';
        } else if ((k = seq(p + i, n - i, &sub))) {
            i += k;
        } else {
            memset(p + i, '?', sub);
            i += sub;
        }
    }
}
