/*
 * mimehdr.c - MIME header field helpers: Content-Type, Content-Disposition,
 * Content-Transfer-Encoding, parameters (RFC 2045, RFC 2231).
 *
 * Parameters may come in any order and case, quoted or not, split into
 * RFC 2231 continuations (name*0=, name*1*=) and percent-encoded with a
 * charset'lang' prefix. Values longer than the output buffer keep their
 * tail (so a file name's suffix survives truncation). At most
 * MIME_MAX_SEGMENTS continuation segments are joined. Never fails: a
 * malformed parameter is skipped.
 */
#include "stages.h"
#include <ctype.h>

#define MIME_MAX_SEGMENTS 32
#define MIME_PARAM_MAX 1024

/* Lower-case a string in place. */
static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* Copy src into out (size outlen), keeping the tail when it does not fit. */
static void copy_tail(char *out, size_t outlen, const char *src, size_t n)
{
    if (outlen == 0)
        return;
    if (n >= outlen) {
        src += n - (outlen - 1);
        n = outlen - 1;
    }
    memcpy(out, src, n);
    out[n] = 0;
}

/* Unfold a header value in place: drop every CR and LF. */
void mime_unfold(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++)
        if (*r != '\r' && *r != '\n')
            *w++ = *r;
    *w = 0;
}

/* Read one "; name=value" parameter at *pp; 1 if one was read, 0 at the end. */
static int next_param(const char **pp, char *name, size_t nlen, char *val, size_t vlen)
{
    const char *p = *pp;
    while (*p && *p != ';')
        p++;                                    /* to the next ';' */
    if (!*p)
        return 0;
    p++;
    while (isspace((unsigned char)*p))
        p++;
    size_t n = 0;
    while (*p && *p != '=' && *p != ';' && !isspace((unsigned char)*p)) {
        if (n + 1 < nlen)
            name[n++] = (char)tolower((unsigned char)*p);
        p++;
    }
    name[n] = 0;
    while (isspace((unsigned char)*p))
        p++;
    size_t v = 0;
    val[0] = 0;
    if (*p == '=') {
        p++;
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '"') {
            for (p++; *p && *p != '"'; p++) {
                if (*p == '\\' && p[1])
                    p++;
                if (v + 1 < vlen)
                    val[v++] = *p;
            }
            if (*p == '"')
                p++;
        } else {
            for (; *p && *p != ';' && !isspace((unsigned char)*p); p++)
                if (v + 1 < vlen)
                    val[v++] = *p;
        }
        val[v] = 0;
    }
    *pp = p;
    return 1;
}

/* Percent-decode an RFC 2231 extended value, dropping a charset'lang' prefix if asked. */
static size_t decode_ext(char *s, int has_charset)
{
    char *r = s, *w = s;
    if (has_charset) {
        char *q1 = strchr(s, '\'');
        char *q2 = q1 ? strchr(q1 + 1, '\'') : NULL;
        if (q2)
            r = q2 + 1;
    }
    while (*r) {
        if (r[0] == '%' && isxdigit((unsigned char)r[1]) && isxdigit((unsigned char)r[2])) {
            char hex[3] = { r[1], r[2], 0 };
            *w++ = (char)strtol(hex, NULL, 16);
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = 0;
    return (size_t)(w - s);
}

/* Parse "param*N" or "param*N*" suffixes; returns segment number, -2 for "param*", -1 otherwise. */
static int segment_of(const char *name, const char *param, int *ext)
{
    size_t pl = strlen(param);
    *ext = 0;
    if (strncmp(name, param, pl) != 0)
        return -1;
    const char *r = name + pl;
    if (*r == 0)
        return -3;                              /* plain */
    if (*r != '*')
        return -1;
    r++;
    if (*r == 0) {
        *ext = 1;
        return -2;
    }
    if (!isdigit((unsigned char)*r))
        return -1;
    int seg = 0;
    while (isdigit((unsigned char)*r) && seg < 1000)
        seg = seg * 10 + (*r++ - '0');
    if (*r == '*') {
        *ext = 1;
        r++;
    }
    return *r == 0 ? seg : -1;
}

/* Get a parameter value (see stages.h). */
int mime_get_param(const char *value, const char *param, char *out, size_t outlen)
{
    char name[128], val[MIME_PARAM_MAX];
    char *segs[MIME_MAX_SEGMENTS] = { 0 };
    int segext[MIME_MAX_SEGMENTS] = { 0 };
    char plain[MIME_PARAM_MAX], extv[MIME_PARAM_MAX];
    int have_plain = 0, have_ext = 0, have_seg = 0, ext;
    const char *p = value;

    while (next_param(&p, name, sizeof name, val, sizeof val)) {
        int seg = segment_of(name, param, &ext);
        if (seg == -3 && !have_plain) {
            strcpy(plain, val);
            have_plain = 1;
        } else if (seg == -2 && !have_ext) {
            strcpy(extv, val);
            decode_ext(extv, 1);
            have_ext = 1;
        } else if (seg >= 0 && seg < MIME_MAX_SEGMENTS && !segs[seg]) {
            segs[seg] = strdup(val);
            segext[seg] = ext;
            have_seg = 1;
        }
    }
    int found = 0;
    if (have_seg && segs[0]) {
        char joined[MIME_PARAM_MAX * 2];
        size_t jl = 0;
        for (int i = 0; i < MIME_MAX_SEGMENTS && segs[i]; i++) {
            if (segext[i])
                decode_ext(segs[i], i == 0);
            size_t l = strlen(segs[i]);
            if (jl + l >= sizeof joined)
                l = sizeof joined - 1 - jl;
            memcpy(joined + jl, segs[i], l);
            jl += l;
        }
        copy_tail(out, outlen, joined, jl);
        found = 1;
    } else if (have_ext) {
        copy_tail(out, outlen, extv, strlen(extv));
        found = 1;
    } else if (have_plain) {
        copy_tail(out, outlen, plain, strlen(plain));
        found = 1;
    }
    for (int i = 0; i < MIME_MAX_SEGMENTS; i++)
        free(segs[i]);
    return found;
}

/* Parse a Content-Type value (type/subtype lower-cased, boundary, name, report-type). */
void mime_parse_ctype(const char *value, mime_ctype *ct)
{
    const char *p = value;
    size_t n = 0;
    while (isspace((unsigned char)*p))
        p++;
    while (*p && *p != ';' && !isspace((unsigned char)*p) && *p != '(') {
        if (n + 1 < sizeof ct->type)
            ct->type[n++] = (char)tolower((unsigned char)*p);
        p++;
    }
    ct->type[n] = 0;
    if (!mime_get_param(value, "boundary", ct->boundary, sizeof ct->boundary))
        ct->boundary[0] = 0;
    if (!ct->name[0] && !mime_get_param(value, "name", ct->name, sizeof ct->name))
        ct->name[0] = 0;
    if (mime_get_param(value, "report-type", ct->report_type, sizeof ct->report_type))
        lower(ct->report_type);
    else
        ct->report_type[0] = 0;
}

/* Parse a Content-Disposition value: filename (preferred over Content-Type name). */
void mime_parse_disposition(const char *value, mime_ctype *ct)
{
    char fn[sizeof ct->name];
    if (mime_get_param(value, "filename", fn, sizeof fn))
        strcpy(ct->name, fn);
}

/* Map a Content-Transfer-Encoding value to CTE_*. */
int mime_parse_cte(const char *value)
{
    char v[32];
    size_t n = 0;
    while (isspace((unsigned char)*value))
        value++;
    while (*value && !isspace((unsigned char)*value) && *value != ';' && n + 1 < sizeof v)
        v[n++] = (char)tolower((unsigned char)*value++);
    v[n] = 0;
    if (strcmp(v, "base64") == 0)
        return CTE_BASE64;
    if (strcmp(v, "quoted-printable") == 0)
        return CTE_QP;
    return CTE_IDENTITY;
}
