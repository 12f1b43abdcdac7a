/*
 * orgdomain.c - organisational domains with libpsl (tlsrpt_org_domain).
 *
 * The organisational domain of a name is its registrable domain under the
 * public suffix list, ICANN and private sections both, as DMARC uses it:
 * "noreply.google.com" -> "google.com", "mail.ru" -> "mail.ru",
 * "a.example.co.uk" -> "example.co.uk"; a public suffix itself ("co.uk",
 * "com") has none. The list is the newest of Debian's publicsuffix package
 * (/usr/share/publicsuffix, psl_latest) and libpsl's built-in one; it is
 * loaded once per process on first use (pthread_once) and kept until exit
 * (libpsl contexts are read-only, so lookups need no lock).
 * Limits: ASCII names only (A-labels); a U-label name is refused (-1) rather
 * than converted, so a UTF-8 From domain never aligns with an A-label d=.
 */
#include <pthread.h>
#include <string.h>
#include <libpsl.h>
#include "auth_int.h"

static pthread_once_t psl_once = PTHREAD_ONCE_INIT;
static const psl_ctx_t *psl;

/* Load the public suffix list once. */
static void psl_load(void)
{
    psl = psl_latest(NULL);
    if (!psl)
        psl = psl_builtin();
}

/* Normalise a domain of inlen bytes: lower-case, one trailing dot dropped,
 * LDH (and '_') labels of 1..63 bytes, 253 bytes at most. 0 ok, -1 bad, -3 small. */
int auth_domain_norm(const char *in, size_t inlen, char *out, size_t outlen)
{
    if (inlen > 0 && in[inlen - 1] == '.')
        inlen--;
    if (inlen == 0 || inlen > 253)
        return -1;
    if (inlen >= outlen)
        return -3;
    size_t label = 0;
    for (size_t i = 0; i < inlen; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '.') {
            if (label == 0)
                return -1;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
            label++;
        } else if (c >= 'A' && c <= 'Z') {
            c = (unsigned char)(c - 'A' + 'a');
            label++;
        } else {
            return -1;
        }
        if (label > 63)
            return -1;
        out[i] = (char)c;
    }
    if (label == 0)
        return -1;
    out[inlen] = 0;
    return 0;
}

/* Organisational domain of domain into out (see auth.h). */
int tlsrpt_org_domain(const char *domain, char *out, size_t outlen)
{
    char norm[256];
    if (!domain || !out || outlen == 0)
        return -1;
    int rc = auth_domain_norm(domain, strlen(domain), norm, sizeof norm);
    if (rc < 0)
        return rc;
    pthread_once(&psl_once, psl_load);
    if (!psl)
        return -2;
    const char *reg = psl_registrable_domain(psl, norm);
    if (!reg || !*reg)
        return -2;
    size_t n = strlen(reg);
    if (n >= outlen)
        return -3;
    memcpy(out, reg, n + 1);
    return 0;
}
