/*
 * domain.c - one spelling per host name, so each domain has one key:
 * tlsrpt_store_normalize_domain drops one trailing dot, converts U-labels
 * to A-labels (libidn2: IDNA2008 with the TR46 non-transitional mapping,
 * which also lower-cases and maps the ideographic full stop), lower-cases
 * ASCII, and then checks that the result is a host name: labels of 1..63
 * bytes of [a-z0-9-], none starting or ending with '-', at most 253 bytes
 * in all. "bücher.test", "BÜCHER.test." and "xn--bcher-kva.test" are all
 * "xn--bcher-kva.test"; "victim.test x", "a..b" and a 254-byte name are
 * not host names.
 * Pure ASCII input does not go through libidn2 (the common case, and an
 * A-label is taken as it is: its punycode is not decoded).
 * Limits: input over 1024 bytes is refused without conversion.
 * Errors: -1 not a host name (out = ""), -2 out too small.
 */
#include <idn2.h>
#include <stdlib.h>
#include <string.h>
#include "store_int.h"

#define DOMAIN_IN_MAX 1024

/* Is name (NUL-terminated, lower-case ASCII) a host name? */
static int host_name_ok(const char *name)
{
    size_t n = strlen(name), label = 0;
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i <= n; i++) {
        char c = name[i];
        if (c == '.' || c == 0) {
            if (label == 0 || label > 63 || name[i - 1] == '-')
                return 0;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
            if (c == '-' && label == 0)
                return 0;
            label++;
        } else {
            return 0;
        }
    }
    return 1;
}

/* Lower-case ASCII in into out (n bytes + NUL, one trailing dot dropped) and check it
   is a host name in the same pass; 1 yes, 0 no, -1 not ASCII. */
static int ascii_host(const char *in, size_t n, char *out)
{
    size_t label = 0;
    if (n && in[n - 1] == '.')
        n--;
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c >= 0x80)
            return -1;
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        out[i] = (char)c;
        if (c == '.') {
            if (label == 0 || out[i - 1] == '-')
                return 0;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && label > 0)) {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    out[n] = 0;
    return out[n - 1] != '-';
}

/* Normalize a host name (see the file comment); 0, -1 not a host name, -2 too small. */
int tlsrpt_store_normalize_domain(const char *in, char *out, size_t outlen)
{
    char buf[DOMAIN_IN_MAX + 1], *ace = NULL;
    size_t n = in ? strlen(in) : 0;
    int ascii = 1;
    if (!out || outlen == 0)
        return -2;
    out[0] = 0;
    if (n == 0 || n > DOMAIN_IN_MAX)
        return -1;
    if (n < outlen && n <= 254) {           /* the common case: ASCII, one pass */
        int h = ascii_host(in, n, out);
        if (h >= 0) {
            if (!h)
                out[0] = 0;
            return h ? 0 : -1;
        }
        out[0] = 0;
    }
    memcpy(buf, in, n + 1);
    if (buf[n - 1] == '.')
        buf[--n] = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)buf[i];
        ascii &= c < 0x80;
        if (c >= 'A' && c <= 'Z')
            buf[i] = (char)(c - 'A' + 'a');
    }
    const char *name = buf;
    if (!ascii) {
        if (idn2_to_ascii_8z(buf, &ace, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT) != IDN2_OK || !ace)
            return -1;
        for (char *p = ace; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        name = ace;
    }
    int rc = host_name_ok(name) ? 0 : -1;
    if (rc == 0 && strlen(name) >= outlen)
        rc = -2;
    if (rc == 0)
        strcpy(out, name);
    idn2_free(ace);
    return rc;
}
