/*
 * meta.c - an entry's metadata: an ordered list of key/value pairs, and its
 * file format.
 *
 * File format (one pair per line, LF-terminated, the first line "version 1"):
 *     key SP value LF          or  key LF  for an empty value
 * key: 1..32 of [a-z-]. value: every byte that is '%', <= 0x20 (space and
 * controls, NUL included), 0x7f, or not part of a valid UTF-8 sequence
 * (overlong forms, surrogates and > U+10FFFF are invalid) is written %XX
 * (upper-case hex); valid UTF-8 stays as it is, so a file is readable and
 * never holds a newline, a control byte or invalid UTF-8 whatever the mail
 * said. Repeated keys are allowed (the per-report groups use them). The
 * version line belongs to the format: format writes it, parse checks it,
 * neither keeps it among the pairs (a "version" pair is never written).
 *
 * Limits: a value is at most TLSRPT_SPOOL_VALUE_MAX bytes (longer ones are
 * truncated when set: the meta is for finding and filtering entries, the
 * message bytes stay complete), at most TLSRPT_SPOOL_PAIRS_MAX pairs.
 * The parser rejects anything else with "line N: why".
 *
 * Storage: pairs in an array, values in one growing buffer (offsets), so a
 * meta is two allocations however many pairs. Pointers returned by get/at
 * stay valid until m is changed or freed.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "spool_int.h"

typedef struct sp_pair {
    char key[SP_KEY_MAX + 1];
    size_t off, len;
} sp_pair;

struct tlsrpt_spool_meta {
    sp_pair *p;
    size_t n, cap;
    char *buf;
    size_t blen, bcap;
};

/* A new, empty meta; NULL on out of memory. */
tlsrpt_spool_meta *tlsrpt_spool_meta_new(void)
{
    return calloc(1, sizeof(tlsrpt_spool_meta));
}

/* Free a meta; NULL is fine. */
void tlsrpt_spool_meta_free(tlsrpt_spool_meta *m)
{
    if (!m)
        return;
    free(m->p);
    free(m->buf);
    free(m);
}

/* 1 for a key of 1..32 [a-z-]. */
static int key_ok(const char *k, size_t n)
{
    if (n < 1 || n > SP_KEY_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((k[i] >= 'a' && k[i] <= 'z') || k[i] == '-'))
            return 0;
    return 1;
}

/* Store value bytes (with a NUL) in the buffer; offset or (size_t)-1. */
static size_t store(tlsrpt_spool_meta *m, const void *v, size_t len)
{
    if (m->blen + len + 1 > m->bcap) {
        size_t nc = m->bcap ? m->bcap : 512;
        while (nc < m->blen + len + 1)
            nc *= 2;
        char *nb = realloc(m->buf, nc);
        if (!nb)
            return (size_t)-1;
        m->buf = nb;
        m->bcap = nc;
    }
    size_t off = m->blen;
    if (len)
        memcpy(m->buf + off, v, len);
    m->buf[off + len] = 0;
    m->blen += len + 1;
    return off;
}

/* Append or replace (replace=1: the first pair with the key). */
static int put(tlsrpt_spool_meta *m, const char *key, const void *value, size_t len, int replace)
{
    size_t kl = key ? strlen(key) : 0;
    int trunc = 0;
    if (!m || !key_ok(key, kl) || (!value && len))
        return -1;
    if (len > TLSRPT_SPOOL_VALUE_MAX) {
        len = TLSRPT_SPOOL_VALUE_MAX;
        trunc = 1;
    }
    sp_pair *slot = NULL;
    for (size_t i = 0; replace && i < m->n && !slot; i++)
        if (strcmp(m->p[i].key, key) == 0)
            slot = &m->p[i];
    if (!slot) {
        if (m->n >= TLSRPT_SPOOL_PAIRS_MAX)
            return -1;
        if (m->n == m->cap) {
            size_t nc = m->cap ? m->cap * 2 : 16;
            sp_pair *np = realloc(m->p, nc * sizeof *np);
            if (!np)
                return -1;
            m->p = np;
            m->cap = nc;
        }
        slot = &m->p[m->n];
    }
    size_t off = store(m, value, len);
    if (off == (size_t)-1)
        return -1;
    if (slot == &m->p[m->n]) {
        memcpy(slot->key, key, kl + 1);
        m->n++;
    }
    slot->off = off;
    slot->len = len;
    return trunc;
}

/* Set key (first pair with it, else appended). */
int tlsrpt_spool_meta_setn(tlsrpt_spool_meta *m, const char *key, const void *value, size_t len)
{
    return put(m, key, value, len, 1);
}

/* Set key to a NUL-terminated string (NULL: empty). */
int tlsrpt_spool_meta_set(tlsrpt_spool_meta *m, const char *key, const char *value)
{
    return put(m, key, value ? value : "", value ? strlen(value) : 0, 1);
}

/* Append a pair. */
int tlsrpt_spool_meta_add(tlsrpt_spool_meta *m, const char *key, const void *value, size_t len)
{
    return put(m, key, value, len, 0);
}

/* First value of key. */
const char *tlsrpt_spool_meta_get(const tlsrpt_spool_meta *m, const char *key, size_t *len)
{
    for (size_t i = 0; m && key && i < m->n; i++)
        if (strcmp(m->p[i].key, key) == 0) {
            if (len)
                *len = m->p[i].len;
            return m->buf + m->p[i].off;
        }
    return NULL;
}

/* Number of pairs. */
size_t tlsrpt_spool_meta_count(const tlsrpt_spool_meta *m)
{
    return m ? m->n : 0;
}

/* Pair i. */
int tlsrpt_spool_meta_at(const tlsrpt_spool_meta *m, size_t i, const char **key,
                         const char **value, size_t *len)
{
    if (!m || i >= m->n)
        return -1;
    if (key)
        *key = m->p[i].key;
    if (value)
        *value = m->buf + m->p[i].off;
    if (len)
        *len = m->p[i].len;
    return 0;
}

/* Append a report group. */
int tlsrpt_spool_meta_add_report(tlsrpt_spool_meta *m, const tlsrpt_spool_report *r)
{
    char ix[32];
    int rc = 0, t;
    snprintf(ix, sizeof ix, "%ld", r->index < 0 ? 0 : r->index);
    if ((t = put(m, TLSRPT_SPOOL_K_REPORT, ix, strlen(ix), 0)) < 0)
        return -1;
    rc |= t;
    if (r->day && (t = put(m, TLSRPT_SPOOL_K_REPORT_DAY, r->day, strlen(r->day), 0)) < 0)
        return -1;
    rc |= r->day ? t : 0;
    if (r->org && (t = put(m, TLSRPT_SPOOL_K_REPORT_ORG, r->org,
                           r->org_len ? r->org_len : strlen(r->org), 0)) < 0)
        return -1;
    rc |= r->org ? t : 0;
    if (r->report_id && (t = put(m, TLSRPT_SPOOL_K_REPORT_ID, r->report_id,
                                 r->report_id_len ? r->report_id_len : strlen(r->report_id), 0)) < 0)
        return -1;
    rc |= r->report_id ? t : 0;
    if (r->verdict && put(m, TLSRPT_SPOOL_K_REPORT_VERDICT, r->verdict, strlen(r->verdict), 0) < 0)
        return -1;
    return rc;
}

/* Number of report groups. */
size_t tlsrpt_spool_meta_n_reports(const tlsrpt_spool_meta *m)
{
    size_t n = 0;
    for (size_t i = 0; m && i < m->n; i++)
        n += strcmp(m->p[i].key, TLSRPT_SPOOL_K_REPORT) == 0;
    return n;
}

/* Report group i: its "report" line and the report-* lines after it. */
int tlsrpt_spool_meta_report(const tlsrpt_spool_meta *m, size_t i, tlsrpt_spool_report *r)
{
    size_t k = 0, seen = 0;
    memset(r, 0, sizeof *r);
    for (; m && k < m->n; k++)
        if (strcmp(m->p[k].key, TLSRPT_SPOOL_K_REPORT) == 0 && seen++ == i)
            break;
    if (!m || k >= m->n)
        return -1;
    const char *ix = m->buf + m->p[k].off;
    r->index = strspn(ix, "0123456789") == strlen(ix) && *ix && strlen(ix) < 12 ? atol(ix) : -1;
    for (k++; k < m->n && strncmp(m->p[k].key, "report-", 7) == 0; k++) {
        const char *v = m->buf + m->p[k].off;
        const char *key = m->p[k].key;
        if (strcmp(key, TLSRPT_SPOOL_K_REPORT_DAY) == 0)
            r->day = v;
        else if (strcmp(key, TLSRPT_SPOOL_K_REPORT_ORG) == 0)
            r->org = v, r->org_len = m->p[k].len;
        else if (strcmp(key, TLSRPT_SPOOL_K_REPORT_ID) == 0)
            r->report_id = v, r->report_id_len = m->p[k].len;
        else if (strcmp(key, TLSRPT_SPOOL_K_REPORT_VERDICT) == 0)
            r->verdict = v;
    }
    return 0;
}

/* Length of the valid UTF-8 sequence (2..4 bytes) at p, 0 when invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t len;
    unsigned min, cp;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000, cp = c & 0x07;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Escape value bytes into out (room for 3 * len); returns the length written. */
static size_t escape(char *out, const unsigned char *v, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        unsigned c = v[i];
        size_t u = c >= 0x80 ? utf8_len(v + i, len - i) : 0;
        if (u) {
            memcpy(out + o, v + i, u);
            o += u;
            i += u;
        } else if (c == '%' || c <= 0x20 || c >= 0x7f) {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
            i++;
        } else {
            out[o++] = (char)c;
            i++;
        }
    }
    return o;
}

/* The file text. */
char *tlsrpt_spool_meta_format(const tlsrpt_spool_meta *m, size_t *len)
{
    size_t cap = 16;
    for (size_t i = 0; m && i < m->n; i++)
        cap += strlen(m->p[i].key) + 2 + 3 * m->p[i].len;
    char *out = malloc(cap), *o = out;
    if (!out)
        return NULL;
    o += sprintf(o, "version 1\n");
    for (size_t i = 0; m && i < m->n; i++) {
        if (strcmp(m->p[i].key, TLSRPT_SPOOL_K_VERSION) == 0)
            continue;
        size_t kl = strlen(m->p[i].key);
        memcpy(o, m->p[i].key, kl);
        o += kl;
        if (m->p[i].len) {
            *o++ = ' ';
            o += escape(o, (const unsigned char *)m->buf + m->p[i].off, m->p[i].len);
        }
        *o++ = '\n';
    }
    *o = 0;
    if (len)
        *len = (size_t)(o - out);
    return out;
}

/* Value of a hex digit, -1 if none. */
static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
         : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decode one escaped value into out (room for len); its length or -1 with why. */
static long unescape(char *out, const unsigned char *v, size_t len, const char **why)
{
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        unsigned c = v[i];
        if (c == '%') {
            int a = i + 1 < len ? hexval(v[i + 1]) : -1, b = i + 2 < len ? hexval(v[i + 2]) : -1;
            if (a < 0 || b < 0)
                return *why = "bad %XX escape", -1;
            out[o++] = (char)(a << 4 | b);
            i += 3;
        } else if (c >= 0x80) {
            size_t u = utf8_len(v + i, len - i);
            if (!u)
                return *why = "invalid UTF-8", -1;
            memcpy(out + o, v + i, u);
            o += u;
            i += u;
        } else if (c <= 0x20 || c == 0x7f) {
            return *why = c == ' ' ? "space in a value" : "control byte", -1;
        } else {
            out[o++] = (char)c;
            i++;
        }
    }
    return (long)o;
}

/* Parse one line into m; -1 with why. */
static int parse_line(tlsrpt_spool_meta *m, const char *line, size_t len, char *tmp,
                      const char **why)
{
    const char *sp = memchr(line, ' ', len);
    size_t kl = sp ? (size_t)(sp - line) : len;
    if (!key_ok(line, kl))
        return *why = "bad key (want 1-32 of [a-z-])", -1;
    size_t vl = sp ? len - kl - 1 : 0;
    if (vl > 3 * TLSRPT_SPOOL_VALUE_MAX)
        return *why = "value too long", -1;
    long n = unescape(tmp, (const unsigned char *)line + kl + 1, vl, why);
    if (n < 0)
        return -1;
    if ((size_t)n > TLSRPT_SPOOL_VALUE_MAX)
        return *why = "value too long", -1;
    char key[SP_KEY_MAX + 1];
    memcpy(key, line, kl);
    key[kl] = 0;
    if (put(m, key, tmp, (size_t)n, 0) < 0)
        return *why = m->n >= TLSRPT_SPOOL_PAIRS_MAX ? "too many lines" : "out of memory", -1;
    return 0;
}

/* Read a meta file's text. */
tlsrpt_spool_meta *tlsrpt_spool_meta_parse(const char *text, size_t len, char *err, size_t errlen)
{
    tlsrpt_spool_meta *m = tlsrpt_spool_meta_new();
    char *tmp = malloc(3 * TLSRPT_SPOOL_VALUE_MAX + 1);
    const char *why = NULL;
    size_t lineno = 0, pos = 0;
    if (!m || !tmp) {
        why = "out of memory";
        goto fail;
    }
    if (len > SP_META_FILE_MAX) {
        why = "file too long";
        goto fail;
    }
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        lineno++;
        if (!nl) {
            why = "no newline at the end (truncated?)";
            goto fail;
        }
        size_t ll = (size_t)(nl - (text + pos));
        if (lineno == 1 && !(ll == 9 && memcmp(text + pos, "version 1", 9) == 0)) {
            why = ll > 8 && memcmp(text + pos, "version ", 8) == 0 ? "unsupported version"
                                                                   : "first line is not \"version 1\"";
            goto fail;
        }
        if (lineno > 1 && parse_line(m, text + pos, ll, tmp, &why) < 0)
            goto fail;
        pos += ll + 1;
    }
    if (lineno == 0) {
        lineno = 1;
        why = "empty";
        goto fail;
    }
    free(tmp);
    return m;
fail:
    if (err && errlen)
        snprintf(err, errlen, "line %zu: %s", lineno, why);
    free(tmp);
    tlsrpt_spool_meta_free(m);
    return NULL;
}
