/*
 * index.c - keep the index sets of key schema v1 (P domains, P d:D:days,
 * P d:D:Y:orgs|types|mxs): each value is members separated by single
 * spaces, each member at most once even when many processes add the same
 * member at the same time.
 *
 * How: store.c reads every set this report touches in the same burst as
 * the dedup marker (st_sets_*). A member already in its set costs nothing.
 * For a missing one, a marker key P ix:H (H = 32 hex of SHA-256(set key NUL
 * member)) is created with `add`; only the process whose add wins writes
 * the member: `add` the set with it, or `append` " member" when the set
 * exists (then `touch` long-lived sets so they outlive their markers).
 * Markers live ST_MARKER_TTL seconds: long enough to cover the race, short
 * enough that a member whose writer died before appending comes back later.
 * Limits: members <= ST_COMP_MAX bytes (a domain: its full encoding, <= 253);
 * a set is bounded by memcached's item size (1 MB default; append fails
 * beyond it -> STORE_FAILED).
 * Errors: TLSRPT_STORE_FAILED with errbuf naming the key and operation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store_int.h"
#include "sha256.h"

/* Is member one of the space-separated tokens of v? */
static int has_member(const char *v, const char *member)
{
    size_t ml = strlen(member);
    for (const char *p = v; p && *p; ) {
        while (*p == ' ')
            p++;
        size_t tl = strcspn(p, " ");
        if (tl == ml && memcmp(p, member, ml) == 0)
            return 1;
        p += tl;
    }
    return 0;
}

/* Marker key of (set, member). */
static int marker_key(const tlsrpt_store *st, const st_member *m, char *out, size_t outlen)
{
    tlsrpt_sha256_ctx c;
    unsigned char d[TLSRPT_SHA256_LEN];
    char hex[33];
    tlsrpt_sha256_init(&c);
    tlsrpt_sha256_update(&c, m->set, strlen(m->set) + 1);
    tlsrpt_sha256_update(&c, m->member, strlen(m->member));
    tlsrpt_sha256_final(&c, d);
    tlsrpt_hex(hex, d, 16);
    return tlsrpt_key_build(out, outlen, st->prefix, (const char *const[]){ "ix", hex }, 2);
}

/* Append " member" to an existing set; on a connection error re-read and retry once. */
static memcached_return_t append_member(st_call *c, const st_member *m, time_t exp)
{
    char val[ST_DOMAIN_ENC_MAX + 1];
    size_t vlen = (size_t)snprintf(val, sizeof val, " %s", m->member);
    memcached_return_t rc = st_store_op(c, 'p', m->set, val, vlen, exp);
    if (st_conn_error(rc)) {
        size_t len;
        uint32_t flags;
        memcached_return_t grc;
        char *v;
        memcached_quit(c->mc);
        c->info->round_trips++;
        v = memcached_get(c->mc, m->set, strlen(m->set), &len, &flags, &grc);
        if (grc != MEMCACHED_SUCCESS && grc != MEMCACHED_NOTFOUND) {
            free(v);
            return grc;
        }
        char *z = v ? malloc(len + 1) : NULL;
        if (z) {
            memcpy(z, v, len);
            z[len] = 0;
        }
        int present = z && has_member(z, m->member);
        free(z);
        free(v);
        if (present)
            return MEMCACHED_SUCCESS;
        rc = grc == MEMCACHED_NOTFOUND ? MEMCACHED_NOTSTORED
                                       : st_store_op(c, 'p', m->set, val, vlen, exp);
    }
    return rc;
}

/* Write a member we own the marker of: add the set or append to it. */
static int write_member(st_call *c, const st_member *m, st_set_state *s)
{
    time_t exp = st_expiry(c->st->counter_ttl);
    memcached_return_t rc = MEMCACHED_NOTSTORED;
    for (int attempt = 0; attempt < 4 && rc == MEMCACHED_NOTSTORED; attempt++) {
        if (s->exists) {
            rc = append_member(c, m, exp);
            if (rc == MEMCACHED_SUCCESS && m->long_lived && exp)
                rc = st_store_op(c, 't', m->set, NULL, 0, exp);
        } else {
            rc = st_store_op(c, 'a', m->set, m->member, strlen(m->member), exp);
        }
        if (st_not_stored(rc) || rc == MEMCACHED_NOTFOUND) {
            s->exists = !s->exists;     /* someone created / it expired: switch */
            rc = MEMCACHED_NOTSTORED;
        }
    }
    if (rc != MEMCACHED_SUCCESS)
        return st_fail(c, s->exists ? "append" : "add", m->set, rc);
    s->exists = 1;
    return TLSRPT_COUNTED;
}

/* Make sure one member is in its set. */
static int ensure_member(st_call *c, const st_member *m, st_set_state *s)
{
    char mk[TLSRPT_KEY_MAX + 1];
    long mttl = c->st->counter_ttl > 0 && c->st->counter_ttl < ST_MARKER_TTL
                    ? c->st->counter_ttl : ST_MARKER_TTL;
    memcached_return_t rc;
    if (s->value && has_member(s->value, m->member))
        return TLSRPT_COUNTED;
    if (marker_key(c->st, m, mk, sizeof mk) < 0)
        return st_fail(c, "build-key", m->set, MEMCACHED_FAILURE);
    rc = st_store_op(c, 'a', mk, "1", 1, st_expiry(mttl));
    if (st_not_stored(rc))
        return TLSRPT_COUNTED;      /* another writer owns it (or just wrote it) */
    if (rc != MEMCACHED_SUCCESS)
        return st_fail(c, "add", mk, rc);
    return write_member(c, m, s);
}

/* qsort: set states by key. */
static int cmp_state(const void *a, const void *b)
{
    return strcmp(((const st_set_state *)a)->key, ((const st_set_state *)b)->key);
}

/* The distinct set keys of the plan, sorted; 0 or -1 on out of memory. */
int st_sets_init(st_sets *ss, const st_plan *p)
{
    ss->n = 0;
    ss->s = calloc(p->n_mem ? p->n_mem : 1, sizeof *ss->s);
    if (!ss->s)
        return -1;
    for (size_t i = 0; i < p->n_mem; i++)
        if (ss->n == 0 || strcmp(ss->s[ss->n - 1].key, p->mem[i].set) != 0)
            ss->s[ss->n++].key = p->mem[i].set;
    qsort(ss->s, ss->n, sizeof *ss->s, cmp_state);
    return 0;
}

/* Remember the value read for set i; -1 on out of memory. */
int st_sets_got(st_sets *ss, size_t i, const char *val, size_t vlen)
{
    if (i >= ss->n || ss->s[i].value)
        return 0;
    ss->s[i].value = malloc(vlen + 1);
    if (!ss->s[i].value)
        return -1;
    memcpy(ss->s[i].value, val, vlen);
    ss->s[i].value[vlen] = 0;
    ss->s[i].exists = 1;
    return 0;
}

/* Release the values read. */
void st_sets_free(st_sets *ss)
{
    for (size_t i = 0; i < ss->n; i++)
        free(ss->s[i].value);
    free(ss->s);
    ss->s = NULL;
    ss->n = 0;
}

/* Find the state of a set key (sorted by key). */
static st_set_state *find_set(st_sets *ss, const char *key)
{
    size_t lo = 0, hi = ss->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(ss->s[mid].key, key);
        if (c == 0)
            return &ss->s[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Make sure every member of the plan is in its set (values already read into ss). */
int st_index_write(st_call *c, const st_plan *p, st_sets *ss)
{
    int rc = TLSRPT_COUNTED;
    for (size_t i = 0; i < p->n_mem && rc == TLSRPT_COUNTED; i++) {
        st_set_state *s = find_set(ss, p->mem[i].set);
        rc = s ? ensure_member(c, &p->mem[i], s) : st_fail(c, "index", p->mem[i].set, MEMCACHED_FAILURE);
    }
    return rc;
}
