/*
 * chain.c - index sets as chains of links, so that no item nears memcached's
 * item size (1 MB by default) however many members a set gets.
 *
 * Link 0 is the set's own key K (the v1 key: v1 data is a chain of one link).
 * Its value lists members, separated by single spaces, and, once the set grew
 * past it, tokens "+N" naming the further links: link N is the key K:+N (or,
 * when that would pass 250 bytes, P link:H:+N with H = 32 hex of SHA-256(K)).
 * A writer appends to the last link while it stays under ST_LINK_SOFT (64 KB)
 * bytes, else it creates the next link (add) and appends its token to link 0.
 * Members never contain '+' (the encoding keeps only [A-Za-z0-9._-], "%XX"
 * and "~"), so a token never looks like a member. A token may appear twice
 * (two writers created the same link at once); a member may appear twice
 * after memcached lost its anchor (see index.c). Readers take the highest
 * token, read links 1..N, and drop repeated members.
 * Reader helpers for tlsrpt-stats: tlsrpt_set_links, tlsrpt_set_link_key,
 * tlsrpt_set_each (batched reads), tlsrpt_store_set_read (one set, 1 or 2
 * round trips).
 * Limits: at most ST_MAX_LINKS links are read; a link value up to 16 MB.
 * Errors: -1 with errbuf; a missing link (expired) is skipped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store_int.h"
#include "sha256.h"

/* The highest "+N" token of a link-0 value (0: not chained). */
unsigned tlsrpt_set_links(const char *val, size_t len)
{
    unsigned max = 0;
    for (size_t i = 0; i < len; ) {
        while (i < len && val[i] == ' ')
            i++;
        size_t s = i;
        while (i < len && val[i] != ' ')
            i++;
        if (i - s >= 2 && i - s <= 7 && val[s] == '+') {
            unsigned n = 0;
            size_t k = s + 1;
            for (; k < i && val[k] >= '0' && val[k] <= '9'; k++)
                n = n * 10 + (unsigned)(val[k] - '0');
            if (k == i && n > max && n <= ST_MAX_LINKS)
                max = n;
        }
    }
    return max;
}

/* Key of link n (>= 1) of set key; length or -1. */
int tlsrpt_set_link_key(char *out, size_t outlen, const char *prefix, const char *key, unsigned n)
{
    int len = snprintf(out, outlen, "%s:+%u", key, n);
    if (len > 0 && (size_t)len < outlen && len <= TLSRPT_KEY_MAX)
        return len;
    unsigned char d[TLSRPT_SHA256_LEN];
    char hex[33];
    tlsrpt_sha256(key, strlen(key), d);
    tlsrpt_hex(hex, d, 16);
    len = snprintf(out, outlen, "%slink:%s:+%u", prefix ? prefix : "", hex, n);
    return len > 0 && (size_t)len < outlen && len <= TLSRPT_KEY_MAX ? len : -1;
}

/* Call fn for every member (not token) of a link value; returns how many. */
size_t tlsrpt_set_each(const char *val, size_t len, void (*fn)(void *arg, const char *m, size_t mlen),
                       void *arg)
{
    size_t n = 0;
    for (size_t i = 0; i < len; ) {
        while (i < len && val[i] == ' ')
            i++;
        size_t s = i;
        while (i < len && val[i] != ' ')
            i++;
        if (i > s && val[s] != '+') {
            if (fn)
                fn(arg, val + s, i - s);
            n++;
        }
    }
    return n;
}

/* FNV-1a of a member. */
static uint64_t mhash(const char *m, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    while (n--)
        h = (h ^ (unsigned char)*m++) * 1099511628211ull;
    return h;
}

/* Grow the dedup table of ms to at least twice its members; -1 on out of memory. */
static int grow_table(tlsrpt_members *ms)
{
    size_t nc = ms->tcap ? ms->tcap * 2 : 64;
    size_t *nt = calloc(nc, sizeof *nt);            /* 0 empty, else index + 1 */
    if (!nt)
        return -1;
    for (size_t i = 0; i < ms->n; i++) {
        size_t h = (size_t)mhash(ms->v[i], strlen(ms->v[i])) & (nc - 1);
        while (nt[h])
            h = (h + 1) & (nc - 1);
        nt[h] = i + 1;
    }
    free(ms->table);
    ms->table = nt;
    ms->tcap = nc;
    return 0;
}

/* Add m to the member list unless it is there (a hash table drops repeats). */
void st_members_add(void *arg, const char *m, size_t mlen)
{
    tlsrpt_members *ms = arg;
    if (ms->oom || (2 * (ms->n + 1) > ms->tcap && grow_table(ms) < 0)) {
        ms->oom = 1;
        return;
    }
    size_t h = (size_t)mhash(m, mlen) & (ms->tcap - 1);
    for (; ms->table[h]; h = (h + 1) & (ms->tcap - 1)) {
        const char *o = ms->v[ms->table[h] - 1];
        if (strlen(o) == mlen && memcmp(o, m, mlen) == 0)
            return;
    }
    if (ms->n == ms->cap) {
        size_t nc = ms->cap ? ms->cap * 2 : 16;
        char **nv = realloc(ms->v, nc * sizeof *nv);
        if (!nv) {
            ms->oom = 1;
            return;
        }
        ms->v = nv;
        ms->cap = nc;
    }
    if (!(ms->v[ms->n] = strndup(m, mlen))) {
        ms->oom = 1;
        return;
    }
    ms->table[h] = ++ms->n;
}

/* Does ms list member m? */
int st_members_has(const tlsrpt_members *ms, const char *m)
{
    size_t ml = strlen(m);
    if (!ms->tcap)
        return 0;
    for (size_t h = (size_t)mhash(m, ml) & (ms->tcap - 1); ms->table[h]; h = (h + 1) & (ms->tcap - 1))
        if (strcmp(ms->v[ms->table[h] - 1], m) == 0)
            return 1;
    return 0;
}

/* Free a member list (NULL is fine). */
void tlsrpt_members_free(tlsrpt_members *ms)
{
    for (size_t i = 0; ms && i < ms->n; i++)
        free(ms->v[i]);
    if (ms) {
        free(ms->v);
        free(ms->table);
        memset(ms, 0, sizeof *ms);
    }
}

/* mget the links 1..n of key and add their members; 0 or -1. */
static int read_links(memcached_st *mc, const char *prefix, const char *key, unsigned n,
                      tlsrpt_members *out, char *errbuf, size_t errlen)
{
    char (*keys)[TLSRPT_KEY_MAX + 1] = calloc(n, sizeof *keys);
    const char **kp = calloc(n, sizeof *kp);
    size_t *kl = calloc(n, sizeof *kl);
    memcached_return_t rc = MEMCACHED_MEMORY_ALLOCATION_FAILURE;
    for (unsigned i = 0; keys && kp && kl && i < n; i++) {
        int len = tlsrpt_set_link_key(keys[i], sizeof keys[i], prefix, key, i + 1);
        kp[i] = keys[i];
        kl[i] = len > 0 ? (size_t)len : 0;
    }
    if (keys && kp && kl)
        rc = memcached_mget(mc, kp, kl, n);
    free(keys), free(kp), free(kl);
    if (rc != MEMCACHED_SUCCESS) {
        snprintf(errbuf, errlen, "memcached mget of %u links of %s failed: %s", n, key,
                 memcached_strerror(mc, rc));
        return -1;
    }
    memcached_result_st *res;
    while ((res = memcached_fetch_result(mc, NULL, &rc)) != NULL) {
        tlsrpt_set_each(memcached_result_value(res), memcached_result_length(res), st_members_add, out);
        memcached_result_free(res);
    }
    if (rc != MEMCACHED_END && rc != MEMCACHED_SUCCESS && rc != MEMCACHED_NOTFOUND) {
        snprintf(errbuf, errlen, "memcached fetch of the links of %s failed: %s", key,
                 memcached_strerror(mc, rc));
        return -1;
    }
    return 0;
}

/* Read a whole set: link 0, then its links in one more round trip. 0 (missing = empty),
   or -1 with errbuf. prefix is the KeyPrefix (for hashed link keys). */
int tlsrpt_store_set_read(void *memc, const char *prefix, const char *key, tlsrpt_members *out,
                          char *errbuf, size_t errlen)
{
    memcached_st *mc = memc;
    size_t len;
    uint32_t flags;
    memcached_return_t rc;
    memset(out, 0, sizeof *out);
    char *v = memcached_get(mc, key, strlen(key), &len, &flags, &rc);
    if (!v && rc != MEMCACHED_NOTFOUND) {
        snprintf(errbuf, errlen, "memcached get %s failed: %s", key, memcached_strerror(mc, rc));
        return -1;
    }
    if (!v)
        return 0;
    unsigned n = tlsrpt_set_links(v, len);
    tlsrpt_set_each(v, len, st_members_add, out);
    free(v);
    if (n > 0 && read_links(mc, prefix, key, n, out, errbuf, errlen) < 0) {
        tlsrpt_members_free(out);
        return -1;
    }
    if (out->oom) {
        tlsrpt_members_free(out);
        snprintf(errbuf, errlen, "out of memory reading %s", key);
        return -1;
    }
    return 0;
}
