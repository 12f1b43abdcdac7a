/*
 * util.c - small helpers for tlsrpt-stats: checked allocation (out of memory
 * ends the program with TS_EXIT_INTERNAL), error messages, decoding reporter
 * strings into valid UTF-8, strict counter and day parsing, and the string-
 * indexed entity sets.
 *
 * Limits: a set holds at most TS_MAX_ENTITIES entities; names are decoded from
 * key components (<= 250 bytes), so a decoded name is at most 750 bytes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "stats.h"

/* malloc that never returns NULL: out of memory ends the program. */
void *ts_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (!p) {
        fputs("tlsrpt-stats: out of memory\n", stderr);
        exit(TS_EXIT_INTERNAL);
    }
    return p;
}

/* realloc that never returns NULL. */
void *ts_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (!q) {
        fputs("tlsrpt-stats: out of memory\n", stderr);
        exit(TS_EXIT_INTERNAL);
    }
    return q;
}

/* strdup that never returns NULL. */
char *ts_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;

    return memcpy(ts_xmalloc(n), s, n);
}

/* Fill an error: exit status and message. */
void ts_seterr(ts_err *e, int code, const char *fmt, ...)
{
    va_list ap;

    e->code = code;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t len, i;
    unsigned cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        len = 2, cp = s[0] & 0x1F;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        len = 3, cp = s[0] & 0x0F;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        len = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    if (cp >= 0xD800 && cp <= 0xDFFF)
        return 0;
    return len;
}

/* Decode an encoded component into a new valid-UTF-8 string (bad bytes and NUL -> U+FFFD). */
char *ts_decode_name(const char *enc)
{
    size_t elen = strlen(enc), i = 0, o = 0, k;
    char *raw = ts_xmalloc(elen + 1), *out;
    int n = tlsrpt_key_decode(raw, elen + 1, enc);

    if (n < 0) {                        /* not a valid encoding: show it as stored */
        memcpy(raw, enc, elen + 1);
        n = (int)elen;
    }
    out = ts_xmalloc((size_t)n * 3 + 1);
    while (i < (size_t)n) {
        k = raw[i] ? utf8_seq((const unsigned char *)raw + i, (size_t)n - i) : 0;
        if (k == 0) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(out + o, raw + i, k);
            o += k;
            i += k;
        }
    }
    out[o] = '\0';
    free(raw);
    return out;
}

/* 1 when s[0..len) can be used as a key component read from an index. */
int ts_valid_member(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || len > TLSRPT_KEY_MAX)
        return 0;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '%' || c == '~'))
            return 0;
    }
    return 1;
}

/* FNV-1a hash of a string. */
static size_t hash_str(const char *s)
{
    size_t h = (size_t)1469598103934665603ULL;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * (size_t)1099511628211ULL;
    return h;
}

/* Grow the hash slots of a set to twice its entity capacity. */
static void set_rehash(ts_set *s, size_t nslot)
{
    size_t i, h;

    free(s->slot);
    s->slot = ts_xmalloc(nslot * sizeof(*s->slot));
    memset(s->slot, 0, nslot * sizeof(*s->slot));
    s->nslot = nslot;
    for (i = 0; i < s->n; i++) {
        h = hash_str(s->v[i].enc) & (nslot - 1);
        while (s->slot[h])
            h = (h + 1) & (nslot - 1);
        s->slot[h] = i + 1;
    }
}

/* Index of the entity with encoded name enc; created when asked. -1 if absent or full. */
long ts_set_get(ts_set *s, const char *enc, int create)
{
    size_t h;
    ts_entity *e;

    if (s->nslot) {
        h = hash_str(enc) & (s->nslot - 1);
        for (; s->slot[h]; h = (h + 1) & (s->nslot - 1))
            if (strcmp(s->v[s->slot[h] - 1].enc, enc) == 0)
                return (long)(s->slot[h] - 1);
    }
    if (!create || s->n >= TS_MAX_ENTITIES)
        return -1;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = ts_xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    e = &s->v[s->n++];
    memset(e, 0, sizeof(*e));
    e->enc = ts_xstrdup(enc);
    e->name = ts_decode_name(enc);
    e->first_day = e->last_day = -1;
    if (s->n * 2 > s->nslot)
        set_rehash(s, s->nslot ? s->nslot * 4 : 64);
    else {
        h = hash_str(enc) & (s->nslot - 1);
        while (s->slot[h])
            h = (h + 1) & (s->nslot - 1);
        s->slot[h] = s->n;
    }
    return (long)(s->n - 1);
}

/* Release a set's entities and index. */
void ts_set_free(ts_set *s)
{
    size_t i;

    for (i = 0; i < s->n; i++) {
        free(s->v[i].enc);
        free(s->v[i].name);
        free(s->v[i].display);
    }
    free(s->v);
    free(s->slot);
    free(s->order);
    memset(s, 0, sizeof(*s));
}

/* Saturating addition of two non-negative counters. */
int64_t ts_add64(int64_t a, int64_t b)
{
    int64_t r;

    if (__builtin_add_overflow(a, b, &r))
        return INT64_MAX;
    return r;
}

/* A count for text and HTML: the number, or ">=2^63-1" when saturated. */
void ts_format_count(int64_t v, char *out, size_t outlen)
{
    if (TS_IS_SAT(v))
        snprintf(out, outlen, ">=2^63-1");
    else
        snprintf(out, outlen, "%lld", (long long)v);
}

/* How an organisation is shown: "google.com (Google LLC)" with a label, else its name. */
const char *ts_org_display(const ts_entity *e)
{
    return e->display ? e->display : e->name;
}

/* The command that rebuilds the counters (of one arrival day when day is set). */
char *ts_rebuild_cmd(const ts_report *r, const char *day, char *out, size_t outlen)
{
    snprintf(out, outlen, "tlsrpt-parse --rebuild -c %s%s%s",
             r->conf ? r->conf : "/etc/tlsrpt-milter.conf",
             day ? " --day " : "", day ? day : "");
    return out;
}

/* Parse a strict YYYY-MM-DD day into its 00:00 UTC time. 0 or -1. */
int ts_parse_day(const char *s, time_t *out)
{
    struct tm tm;
    int y, m, d, i;
    char back[11];

    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return -1;
    for (i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return -1;
    y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900, tm.tm_mon = m - 1, tm.tm_mday = d;
    *out = timegm(&tm);
    ts_format_day(*out, back);
    return strcmp(back, s) == 0 ? 0 : -1;      /* rejects 2025-02-30 */
}

/* Format a UTC time as YYYY-MM-DD. */
void ts_format_day(time_t t, char out[11])
{
    struct tm tm;

    gmtime_r(&t, &tm);
    snprintf(out, 11, "%04u-%02u-%02u", (unsigned)(tm.tm_year + 1900) % 10000u,
             (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u);
}

/* part / whole, 0 when whole is 0. */
double ts_ratio(int64_t part, int64_t whole)
{
    return whole > 0 ? (double)part / (double)whole : 0.0;
}

/* Bytes of the longest prefix of UTF-8 s holding at most maxcols code points. */
size_t ts_utf8_prefix(const char *s, size_t maxcols, size_t *cols)
{
    size_t i = 0, c = 0;

    while (s[i] && c < maxcols) {
        i++;
        while ((s[i] & 0xC0) == 0x80)
            i++;
        c++;
    }
    if (cols)
        *cols = c;
    return i;
}

/* Display name of a domain: the decoded name when it is plain [A-Za-z0-9._-] and
   canonically encoded, else the encoded form itself (so names stay unique and safe). */
char *ts_domain_name(const char *enc)
{
    char raw[TLSRPT_KEY_MAX + 1], back[TLSRPT_KEY_MAX + 1];
    int n = tlsrpt_key_decode(raw, sizeof(raw), enc);

    if (n < 0 || (size_t)n != strlen(raw) || !ts_valid_member(raw, (size_t)n) ||
        strpbrk(raw, "%~") || tlsrpt_key_component(back, sizeof(back), raw) < 0 ||
        strcmp(back, enc) != 0)
        return ts_xstrdup(enc);
    return ts_xstrdup(raw);
}
