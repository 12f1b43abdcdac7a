/*
 * keys.c - where DKIM keys come from, and whether a key may be used.
 *
 * DkimKeyFile: read once by tlsrpt_auth_lib_new into a sorted table, in the
 * format of libopendkim's file query method: one key a line,
 * "selector._domainkey.domain<blanks>record", the name case-insensitive,
 * '#' comments and blank lines skipped, the first line of a name wins. A line
 * longer than KEYFILE_LINE_MAX or without a record is a configuration error
 * naming the file and line. Changing the file needs a restart (or a new lib).
 * Otherwise DNS (dns.c), against the mail's deadline, which starts at its
 * first query: DkimTimeout bounds all the lookups of one mail together.
 *
 * auth_key_record_check decides on the s= (service type) tag: usable with no
 * s=, or s= listing email, * or tlsrpt; with DkimRequireTlsrptService only
 * tlsrpt or *. libopendkim itself accepts only email and *, so a record whose
 * s= we accept but it would not (s=tlsrpt) is handed over without its s= tag.
 * Other tags are passed through unchanged for libopendkim to check.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "auth_int.h"

#define KEYFILE_LINE_MAX 8192

/* Order of the key table: name, then line (first line wins). */
static int keyent_cmp(const void *x, const void *y)
{
    const struct auth_keyent *a = x, *b = y;
    int c = strcmp(a->name, b->name);
    return c ? c : (a->line < b->line ? -1 : a->line > b->line);
}

/* Add one "name record" line to the table; 0, or -1 with err. */
static int keyfile_line(tlsrpt_auth_lib *lib, char *line, size_t lineno, size_t *cap,
                        const char *path, char *err, size_t errlen)
{
    size_t ll = strlen(line);
    while (ll > 0 && isspace((unsigned char)line[ll - 1]))
        line[--ll] = 0;
    char *p = line + strspn(line, " \t");
    size_t nl = strcspn(p, " \t");
    if (*p == 0 || *p == '#')
        return 0;
    char *rec = p + nl + strspn(p + nl, " \t");
    if (*rec == 0) {
        snprintf(err, errlen, "%s:%zu: no key record after the name", path, lineno);
        return -1;
    }
    if (lib->nkeys == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        struct auth_keyent *nk = realloc(lib->keys, nc * sizeof *nk);
        if (!nk)
            goto oom;
        lib->keys = nk, *cap = nc;
    }
    struct auth_keyent *e = &lib->keys[lib->nkeys];
    e->name = strndup(p, nl);
    e->record = strdup(rec);
    e->line = lineno;
    if (!e->name || !e->record) {
        free(e->name), free(e->record);
        goto oom;
    }
    for (char *c = e->name; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    lib->nkeys++;
    return 0;
oom:
    snprintf(err, errlen, "%s: out of memory", path);
    return -1;
}

/* Read the key file into lib->keys; 0, or -1 with err. */
int auth_keyfile_load(tlsrpt_auth_lib *lib, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char *line = malloc(KEYFILE_LINE_MAX + 2);
    size_t lineno = 0, cap = 0;
    int rc = 0;
    if (!f || !line) {
        snprintf(err, errlen, "%s: %s", path, f ? "out of memory" : strerror(errno));
        if (f)
            fclose(f);
        free(line);
        return -1;
    }
    lib->use_file = 1;
    while (rc == 0 && fgets(line, KEYFILE_LINE_MAX + 2, f)) {
        lineno++;
        size_t l = strlen(line);
        if (l > KEYFILE_LINE_MAX && line[l - 1] != '\n') {
            snprintf(err, errlen, "%s:%zu: line longer than %d bytes", path, lineno,
                     KEYFILE_LINE_MAX);
            rc = -1;
            break;
        }
        rc = keyfile_line(lib, line, lineno, &cap, path, err, errlen);
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        rc = -1;
    }
    fclose(f);
    free(line);
    if (lib->nkeys)
        qsort(lib->keys, lib->nkeys, sizeof *lib->keys, keyent_cmp);
    return rc;
}

/* Free the key table. */
void auth_keyfile_free(tlsrpt_auth_lib *lib)
{
    for (size_t i = 0; i < lib->nkeys; i++)
        free(lib->keys[i].name), free(lib->keys[i].record);
    free(lib->keys);
    lib->keys = NULL;
    lib->nkeys = 0;
}

/* First table entry named name, or NULL. */
static const struct auth_keyent *keyfile_find(const tlsrpt_auth_lib *lib, const char *name)
{
    size_t lo = 0, hi = lib->nkeys;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(lib->keys[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < lib->nkeys && strcmp(lib->keys[lo].name, name) == 0 ? &lib->keys[lo] : NULL;
}

/* Fetch the key record named name (lower-case) from the file or DNS. */
enum auth_keyres auth_key_fetch(tlsrpt_auth *a, const char *name, char *rec, size_t reclen,
                                char *why, size_t whylen)
{
    tlsrpt_auth_lib *lib = a->lib;
    atomic_fetch_add(&lib->st_lookups, 1);
    a->lookups++;
    if (lib->use_file) {
        const struct auth_keyent *e = keyfile_find(lib, name);
        if (!e) {
            snprintf(why, whylen, "key not found");
            return KEY_NOTFOUND;
        }
        if (strlen(e->record) >= reclen) {
            snprintf(why, whylen, "key record too long");
            return KEY_ERROR;
        }
        strcpy(rec, e->record);
        return KEY_OK;
    }
    if (a->deadline_ms == 0)
        a->deadline_ms = auth_now_ms() + lib->timeout_ms;
    int rc = auth_dns_txt(lib->ns, lib->nns, name, a->deadline_ms, rec, reclen, why, whylen);
    if (rc == 0)
        return KEY_OK;
    if (rc == 1) {
        snprintf(why, whylen, "key not found");
        return KEY_NOTFOUND;
    }
    if (rc == -1) {
        atomic_fetch_add(&lib->st_timeouts, 1);
        snprintf(why, whylen, "DNS timeout");
        return KEY_TIMEOUT;
    }
    return KEY_ERROR;
}

/* Trim blanks of [*b, *e). */
static void trim(const char **b, const char **e)
{
    while (*b < *e && isspace((unsigned char)**b))
        (*b)++;
    while (*e > *b && isspace((unsigned char)(*e)[-1]))
        (*e)--;
}

/* Service types of an s= value: bit 1 email, 2 *, 4 tlsrpt, 8 other. */
static int service_bits(const char *v, const char *end)
{
    int bits = 0;
    while (v < end) {
        const char *c = memchr(v, ':', (size_t)(end - v));
        const char *te = c ? c : end, *tb = v;
        trim(&tb, &te);
        size_t l = (size_t)(te - tb);
        if (l == 5 && strncasecmp(tb, "email", 5) == 0)
            bits |= 1;
        else if (l == 1 && *tb == '*')
            bits |= 2;
        else if (l == 6 && strncasecmp(tb, "tlsrpt", 6) == 0)
            bits |= 4;
        else if (l > 0)
            bits |= 8;
        v = c ? c + 1 : end;
    }
    return bits;
}

/* Decide on rec's s= tag (file comment). 1 usable (record for libopendkim in
 * out), 0 unusable (why), -1 too long for out. */
int auth_key_record_check(const char *rec, int require_tlsrpt, char *out, size_t outlen,
                          char *why, size_t whylen)
{
    const char *sv = NULL, *se = NULL, *sb = NULL, *sx = NULL;
    for (const char *p = rec; *p;) {
        const char *semi = strchr(p, ';'), *e = semi ? semi : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(e - p));
        if (eq) {
            const char *nb = p, *ne = eq;
            trim(&nb, &ne);
            if (ne - nb == 1 && *nb == 's')
                sv = eq + 1, se = e, sb = p, sx = semi ? semi + 1 : e;
        }
        p = semi ? semi + 1 : e;
    }
    int bits = sv ? service_bits(sv, se) : 0;
    char sval[64];
    if (sv) {
        const char *b = sv, *e = se;
        trim(&b, &e);
        snprintf(sval, sizeof sval, "%.*s", (int)(e - b), b);
    }
    if (require_tlsrpt ? !(bits & 6) : (sv && !(bits & 7))) {
        char clean[64];
        auth_clean(clean, sizeof clean, sv ? sval : "");
        if (sv)
            snprintf(why, whylen, "key service type s=%s is not %s", clean,
                     require_tlsrpt ? "tlsrpt" : "email or tlsrpt");
        else
            snprintf(why, whylen, "key has no s=tlsrpt (DkimRequireTlsrptService)");
        return 0;
    }
    size_t rl = strlen(rec);
    if (rl >= outlen)
        return -1;
    if (sv && !(bits & 3)) {            /* s=tlsrpt only: drop the tag for libopendkim */
        size_t head = (size_t)(sb - rec);
        memcpy(out, rec, head);
        strcpy(out + head, sx);
    } else {
        memcpy(out, rec, rl + 1);
    }
    return 1;
}

/* The lookup already made this mail for selector._domainkey.domain, or NULL. */
struct auth_keyinfo *auth_key_find(tlsrpt_auth *a, const char *selector, const char *domain)
{
    char name[sizeof a->keys[0].name];
    int n = snprintf(name, sizeof name, "%s._domainkey.%s", selector, domain);
    if (n < 0 || (size_t)n >= sizeof name)
        return NULL;
    for (char *c = name; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    for (int i = 0; i < a->nkeys; i++)
        if (strcmp(a->keys[i].name, name) == 0)
            return &a->keys[i];
    return NULL;
}
