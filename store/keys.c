/*
 * keys.c - memcached key encoding for schema v1 (see store.h).
 *
 * A component keeps [A-Za-z0-9._-] and writes every other byte as %XX
 * (upper-case hex), so a key can never hold a space, CR, LF, ':' or a
 * control byte. tlsrpt_key_build joins prefix + components with ':' and,
 * while the key is over TLSRPT_KEY_MAX (250) bytes, replaces the longest
 * component by "~" + 32 hex digits (first 16 bytes of its SHA-256); "~" is
 * never produced by the encoding, so a hashed component cannot collide with
 * a plain one. st_canon additionally hashes any component over ST_COMP_MAX
 * bytes so that index-set members stay short and rebuild the same key.
 * Errors: -1 when an output buffer is too small or a key cannot be shortened.
 */
#include <string.h>
#include "store_int.h"
#include "sha256.h"

/* Is byte c kept as-is by the component encoding? */
static int plain_byte(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
        || c == '.' || c == '_' || c == '-';
}

/* Encode one component; returns its length or -1 when out is too small. */
int tlsrpt_key_component(char *out, size_t outlen, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    if (!out || outlen == 0)
        return -1;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        size_t need = plain_byte(*p) ? 1 : 3;
        if (n + need + 1 > outlen) {
            out[0] = 0;
            return -1;
        }
        if (need == 1) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = 0;
    return (int)n;
}

/* Value of one hex digit, -1 if not one. */
static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decode a component; -1 on a byte the encoder never writes (including "~" hashes). */
int tlsrpt_key_decode(char *out, size_t outlen, const char *comp)
{
    size_t n = 0;
    if (!out || outlen == 0 || !comp)
        return -1;
    for (const char *p = comp; *p; ) {
        int c;
        if (*p == '%') {
            int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = hi * 16 + lo;
            p += 3;
        } else if (plain_byte((unsigned char)*p)) {
            c = (unsigned char)*p++;
        } else {
            return -1;
        }
        if (n + 2 > outlen)
            return -1;
        out[n++] = (char)c;
    }
    out[n] = 0;
    return (int)n;
}

/* "~" + 32 lower-case hex of the first 16 bytes of SHA-256(s). */
void st_hash_comp(char *out, const char *s, size_t len)
{
    unsigned char d[TLSRPT_SHA256_LEN];
    tlsrpt_sha256(s, len, d);
    out[0] = '~';
    tlsrpt_hex(out + 1, d, 16);
}

/* Canonical component of a raw string: encoded, or "~hash" of the encoding if long. */
int st_canon(char *out, size_t outlen, const char *raw)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p;
    size_t enc = 0;
    if (outlen < ST_HASHED_LEN + 1)
        return -1;
    for (p = (const unsigned char *)(raw ? raw : ""); *p; p++)
        enc += plain_byte(*p) ? 1 : 3;
    if (enc <= ST_COMP_MAX)
        return tlsrpt_key_component(out, outlen, raw);
    /* Too long: hash the encoded form without building it in memory. */
    tlsrpt_sha256_ctx c;
    unsigned char d[TLSRPT_SHA256_LEN];
    tlsrpt_sha256_init(&c);
    for (p = (const unsigned char *)raw; *p; p++) {
        char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };
        if (plain_byte(*p))
            tlsrpt_sha256_update(&c, p, 1);
        else
            tlsrpt_sha256_update(&c, e, 3);
    }
    tlsrpt_sha256_final(&c, d);
    out[0] = '~';
    tlsrpt_hex(out + 1, d, 16);
    return ST_HASHED_LEN;
}

/* Join prefix + comps with ':'; hash the longest component while over 250 bytes. */
int tlsrpt_key_build(char *out, size_t outlen, const char *prefix,
                     const char *const *comps, size_t n)
{
    char hashed[16][ST_HASHED_LEN + 1];
    const char *use[16];
    size_t len[16], total, plen = prefix ? strlen(prefix) : 0;
    if (!out || n == 0 || n > 16)
        return -1;
    total = plen + (n - 1);
    for (size_t i = 0; i < n; i++) {
        use[i] = comps[i] ? comps[i] : "";
        len[i] = strlen(use[i]);
        total += len[i];
    }
    while (total > TLSRPT_KEY_MAX) {
        size_t best = 0;
        for (size_t i = 1; i < n; i++)
            if (len[i] > len[best])
                best = i;
        if (len[best] <= ST_HASHED_LEN)
            return -1;          /* nothing left to shorten (prefix too long) */
        st_hash_comp(hashed[best], use[best], len[best]);
        total -= len[best] - ST_HASHED_LEN;
        use[best] = hashed[best];
        len[best] = ST_HASHED_LEN;
    }
    if (total + 1 > outlen)
        return -1;
    size_t o = 0;
    memcpy(out, prefix ? prefix : "", plen);
    o = plen;
    for (size_t i = 0; i < n; i++) {
        if (i)
            out[o++] = ':';
        memcpy(out + o, use[i], len[i]);
        o += len[i];
    }
    out[o] = 0;
    return (int)o;
}
