/*
 * rcpt.c - is this envelope recipient a TLS-RPT report address? (see rcpt.h)
 *
 * Pure string work, no allocation, no libmilter: addresses are copied into
 * fixed buffers of TM_CONF_ADDR_MAX bytes; a longer address is "no match".
 * Errors: none beyond "no match".
 */
#include <ctype.h>
#include <string.h>
#include "config.h"
#include "rcpt.h"

/* Normalize an address: trim, strip <>, drop a source route, lower-case, drop a trailing dot. */
int tm_addr_normalize(const char *in, char *out, size_t outlen)
{
    size_t b = 0, e = strlen(in);
    while (b < e && isspace((unsigned char)in[b]))
        b++;
    while (e > b && isspace((unsigned char)in[e - 1]))
        e--;
    if (b < e && in[b] == '<') {
        b++;
        if (e > b && in[e - 1] == '>')
            e--;
    }
    if (b < e && in[b] == '@') {            /* source route "@a,@b:user@dom" */
        const char *colon = memchr(in + b, ':', e - b);
        if (colon)
            b = (size_t)(colon - in) + 1;
    }
    if (e > b && in[e - 1] == '.')
        e--;
    if (e <= b || e - b >= outlen)
        return -1;
    for (size_t i = b; i < e; i++)
        out[i - b] = (char)tolower((unsigned char)in[i]);
    out[e - b] = 0;
    return strrchr(out, '@') ? 0 : -1;
}

/* Is the normalized address (or its domain) in the list? */
static int in_list(const char *addr, char *const *list, size_t n)
{
    const char *at = strrchr(addr, '@');
    for (size_t i = 0; i < n; i++) {
        if (list[i][0] == '@') {
            if (at && strcmp(at, list[i]) == 0)
                return 1;
        } else if (strcmp(addr, list[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Match an envelope recipient as received against the list (see rcpt.h). */
int tm_rcpt_match(const char *addr, char *const *list, size_t n, const char *delim)
{
    char a[TM_CONF_ADDR_MAX], cut[TM_CONF_ADDR_MAX];
    if (!addr || tm_addr_normalize(addr, a, sizeof a) != 0)
        return 0;
    if (in_list(a, list, n))
        return 1;
    if (!delim || !*delim)
        return 0;
    char *at = strrchr(a, '@');
    size_t local = strcspn(a, delim);
    if (local >= (size_t)(at - a) || local == 0)
        return 0;                           /* no delimiter in the local part */
    memcpy(cut, a, local);
    strcpy(cut + local, at);                /* fits: shorter than a */
    return in_list(cut, list, n);
}
