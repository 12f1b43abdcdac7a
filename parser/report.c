/*
 * report.c - report helpers: freeing, RFC 3339 dates read as UTC, domain
 * normalization, error reason tokens and default limits.
 *
 * Dates: "YYYY-MM-DDTHH:MM:SS" with optional fraction, then "Z", an offset
 * "+HH:MM" / "-HH:MM", or nothing (read as UTC, as Microsoft sends them);
 * a space may stand for the 'T'. Years 1970..9999.
 */
#include "stages.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const reasons[TLSRPT_ERR__COUNT] = {
    [TLSRPT_OK] = "ok",
    [TLSRPT_ERR_NO_REPORT] = "no-report",
    [TLSRPT_ERR_MESSAGE_SIZE] = "message-too-large",
    [TLSRPT_ERR_REPORT_SIZE] = "report-too-large",
    [TLSRPT_ERR_JSON_DEPTH] = "json-too-deep",
    [TLSRPT_ERR_MIME_DEPTH] = "mime-too-deep",
    [TLSRPT_ERR_MIME_PARTS] = "mime-too-many-parts",
    [TLSRPT_ERR_HEADER_SIZE] = "header-too-long",
    [TLSRPT_ERR_BASE64] = "corrupt-base64",
    [TLSRPT_ERR_GZIP] = "corrupt-gzip",
    [TLSRPT_ERR_JSON] = "corrupt-json",
    [TLSRPT_ERR_INVALID] = "invalid-report",
    [TLSRPT_ERR_NOMEM] = "out-of-memory",
    [TLSRPT_ERR_USAGE] = "usage",
    [TLSRPT_ERR_UNSUPPORTED_ARCHIVE] = "unsupported-archive",
    [TLSRPT_ERR_JSON_VALUES] = "json-too-many-values",
    [TLSRPT_ERR_NO_POLICY_DOMAIN] = "no-policy-domain",
    [TLSRPT_ERR_CANCELLED] = "cancelled",
};

/* Name of a tlsrpt_domain_source. */
const char *tlsrpt_domain_source_name(int source)
{
    static const char *const names[] = { "none", "report", "header", "other-policies" };
    return source >= 0 && source < 4 ? names[source] : "none";
}

/* Stable short token for an error code. */
const char *tlsrpt_reason(int err)
{
    if (err < 0 || err >= TLSRPT_ERR__COUNT)
        return "unknown";
    return reasons[err];
}

/* Every limit at its default. */
void tlsrpt_limits_default(tlsrpt_limits *lim)
{
    lim->max_message_bytes = TLSRPT_DEF_MAX_MESSAGE_BYTES;
    lim->max_report_bytes = TLSRPT_DEF_MAX_REPORT_BYTES;
    lim->max_header_bytes = TLSRPT_DEF_MAX_HEADER_BYTES;
    lim->max_json_depth = TLSRPT_DEF_MAX_JSON_DEPTH;
    lim->max_mime_depth = TLSRPT_DEF_MAX_MIME_DEPTH;
    lim->max_mime_parts = TLSRPT_DEF_MAX_MIME_PARTS;
    lim->max_json_values = TLSRPT_DEF_MAX_JSON_VALUES;
    lim->max_session_count = TLSRPT_DEF_MAX_SESSION_COUNT;
}

/* Free a report made by the decoder: all of it lives in its arena. */
void tlsrpt_report_free(tlsrpt_report *r)
{
    if (r)
        arena_free(r->arena);
}

/* Read exactly n digits at *p into *v. */
static int digits(const char **p, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (!isdigit((unsigned char)**p))
            return -1;
        *v = *v * 10 + (**p - '0');
    }
    return 0;
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static long days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Parse an RFC 3339 date-time as UTC (see file comment). */
int tlsrpt_parse_datetime(const char *s, time_t *out)
{
    int y, mo, d, h, mi, se, oh = 0, om = 0, sign = 0;
    const char *p = s;
    while (isspace((unsigned char)*p))
        p++;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &d) || (*p != 'T' && *p != 't' && *p != ' '))
        return -1;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' ||
        digits(&p, 2, &se))
        return -1;
    if (*p == '.' || *p == ',')
        for (p++; isdigit((unsigned char)*p); p++)
            ;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '-' ? -1 : 1;
        if (digits(&p, 2, &oh))
            return -1;
        if (*p == ':')
            p++;
        if (digits(&p, 2, &om))
            return -1;
    }
    while (isspace((unsigned char)*p))
        p++;
    if (*p || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        se > 60 || oh > 23 || om > 59)
        return -1;
    long long t = (long long)days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    t -= (long long)sign * (oh * 3600 + om * 60);
    *out = (time_t)t;
    return 0;
}

/* Lower-case a domain and drop one trailing dot; truncates to outlen-1, never inside
   a UTF-8 sequence. */
void tlsrpt_normalize_domain(const char *in, char *out, size_t outlen)
{
    size_t n = 0;
    if (!outlen)
        return;
    while (in && *in && isspace((unsigned char)*in))
        in++;
    for (; in && *in && n + 1 < outlen; in++)
        out[n++] = (char)(*in >= 'A' && *in <= 'Z' ? *in - 'A' + 'a' : *in);
    if (in && ((unsigned char)*in & 0xC0) == 0x80) {    /* cut inside a UTF-8 sequence */
        while (n > 0 && ((unsigned char)out[n - 1] & 0xC0) == 0x80)
            n--;
        if (n > 0 && (unsigned char)out[n - 1] >= 0xC0)
            n--;                                        /* and its lead byte */
    }
    while (n > 0 && isspace((unsigned char)out[n - 1]))
        n--;
    if (n > 0 && out[n - 1] == '.')
        n--;
    out[n] = 0;
}
