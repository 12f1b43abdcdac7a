/*
 * keyparse.c - the value helpers every key's setter and printer shares
 * (keys.c, keys_auth.c): strings, bounded numbers with a one-letter unit,
 * token lists, enums, and the printed forms.
 * Numbers are plain decimal, checked against overflow and the caller's range.
 * Errors: setters fill msg (TM_MSG_MAX bytes, shown after "FILE:LINE: ") and
 * return -1. Ownership: list entries and strings are malloc'd copies owned by
 * the tm_config (freed with tm_kp_list_free / free).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "keydefs.h"

/* Replace *dst by a copy of val. */
int tm_kp_set_str(char **dst, const char *val, char *msg)
{
    char *c = strdup(val);
    if (!c) {
        snprintf(msg, TM_MSG_MAX, "out of memory");
        return -1;
    }
    free(*dst);
    *dst = c;
    return 0;
}

/* Parse an unsigned decimal number with an optional one-letter suffix; -1 on junk or overflow. */
int tm_kp_parse_scaled(const char *val, const char *suffixes, const unsigned long *mult,
                        unsigned long max, unsigned long *out)
{
    char *end;
    if (!isdigit((unsigned char)*val))
        return -1;
    errno = 0;
    unsigned long long n = strtoull(val, &end, 10);
    if (errno)
        return -1;
    unsigned long m = 1;
    if (*end) {
        const char *p = strchr(suffixes, *end);
        if (!p || end[1])
            return -1;
        m = mult[p - suffixes];
    }
    if (n > max / m)
        return -1;
    *out = (unsigned long)(n * m);
    return 0;
}

/* Plain integer in [lo, hi]. */
int tm_kp_parse_int(const char *val, long lo, long hi, int *out)
{
    unsigned long v;
    if (tm_kp_parse_scaled(val, "", NULL, (unsigned long)hi, &v) != 0 || (long)v < lo)
        return -1;
    *out = (int)v;
    return 0;
}

/* Next token of a space/comma separated list, copied into tok; NULL at the end. */
const char *tm_kp_next_token(const char *p, char *tok, size_t toklen, int *toolong)
{
    while (*p && (isspace((unsigned char)*p) || *p == ','))
        p++;
    if (!*p)
        return NULL;
    size_t n = strcspn(p, " \t,");
    *toolong = n >= toklen;
    if (!*toolong) {
        memcpy(tok, p, n);
        tok[n] = 0;
    }
    return p + n;
}

/* Append a copy of s to a bounded string list. */
int tm_kp_list_add(char ***list, size_t *n, size_t max, const char *s, char *msg)
{
    if (*n >= max) {
        snprintf(msg, TM_MSG_MAX, "too many entries (at most %zu)", max);
        return -1;
    }
    char **nl = realloc(*list, (*n + 1) * sizeof *nl);
    char *c = nl ? strdup(s) : NULL;
    if (nl)
        *list = nl;
    if (!c) {
        snprintf(msg, TM_MSG_MAX, "out of memory");
        return -1;
    }
    nl[(*n)++] = c;
    return 0;
}

/* Name of value v in a NULL-terminated name list indexed by value, or "?". */
const char *tm_kp_enum_name(const char *const *names, int v)
{
    for (int i = 0; names[i]; i++)
        if (i == v)
            return names[i];
    return "?";
}

/* Set *out to the index of val in names (without case), or explain what was expected. */
int tm_kp_set_enum(const char *key, const char *const *names, const char *val, int *out,
                    char *msg)
{
    for (int i = 0; names[i]; i++)
        if (!strcasecmp(val, names[i])) {
            *out = i;
            return 0;
        }
    snprintf(msg, TM_MSG_MAX, "bad value for %s: '%.200s' (expected %s or %s)", key, val,
             names[0], names[1]);
    return -1;
}

/* Report a bad value of a numeric key. */
int tm_kp_bad_number(const char *key, const char *val, const char *expect, char *msg)
{
    snprintf(msg, TM_MSG_MAX, "bad value for %s: '%.200s' (expected %s)", key, val, expect);
    return -1;
}

/* "Name value", or "Name" alone for an empty value (which parses back as empty). */
void tm_kp_put(FILE *f, const char *name, const char *val)
{
    if (*val)
        fprintf(f, "%s %s\n", name, val);
    else
        fprintf(f, "%s\n", name);
}

/* A list: one line per entry; an empty list prints the bare key (allowed empty) or a comment. */
void tm_kp_put_list(FILE *f, const char *name, char *const *list, size_t n, int allow_empty)
{
    for (size_t i = 0; i < n; i++)
        tm_kp_put(f, name, list[i]);
    if (n == 0)
        fprintf(f, allow_empty ? "%s\n" : "#%s (none)\n", name);
}

/* Free a string list. */
void tm_kp_list_free(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}
