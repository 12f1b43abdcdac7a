/*
 * rebuild.c - replace memcached's counts by a tally's (tlsrpt_store_rebuild):
 * the report days of the tally (all of them, plus every day memcached lists,
 * or the one day asked for). Per day Y:
 *   1. P hosts:Y names the hosts that counted into Y; one not among the archives
 *      given makes the rebuild refuse (nothing written) unless forced, and the
 *      result names it either way;
 *   2. the day's existing keys are found through the index sets (P domains and
 *      the tally's domains -> d:D:days -> d:D:Y:orgs|types|mxs -> counters, plus
 *      the fixed ones: ok, fail, reports, mode:*, ptype:*, partial);
 *   3. every key of the recount is set (when its value differs), every existing
 *      counter it lacks is deleted (the partial flags with them), every per-day
 *      set is rewritten as a fresh chain when its members differ; long-lived
 *      sets (P domains, d:D:days) only gain the members they lack; missing dedup
 *      markers are added (value "ENTRYID rebuilt": a retry of that entry is a
 *      duplicate), labels set; for every day also arr: and nc: of the tally.
 * Idempotent: a second run finds every value equal and writes nothing.
 * Writes go in bursts of RB_BURST requests; reads in bursts of the same size
 * (rbio.c).
 * Live counting into a day being rebuilt can be lost or doubled: rebuild a
 * day the milter no longer counts into (reports arrive a day or two late).
 * Errors: -1 with errbuf (memcached, memory); TLSRPT_REBUILD_REFUSED.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store_int.h"
#include "tally.h"
#include "rbio.h"

/* The rebuild's working state. */
typedef struct rb_state {
    st_call *c;
    tlsrpt_tally *t;
    const tlsrpt_rebuild_opts *o;
    tlsrpt_rebuild_result *res;
    rb_list days;               /* report days replaced */
    rb_list doms;               /* domains (encoded): memcached's and the tally's */
    tlsrpt_members *dom_days;   /* per domain: its days (memcached's d:D:days) */
    rb_list ctr_keys;           /* counters to look at: the days' existing and the tally's */
    rb_list old_sets;           /* per-day sets memcached has for the days */
    tlsrpt_members *old_mem;
    unsigned *old_links;
} rb_state;

/* A key from components into a list; -1 on error. */
static int rl_key(rb_list *l, const tlsrpt_store *st, const char *const *comps, size_t n)
{
    char key[TLSRPT_KEY_MAX + 1];
    return tlsrpt_key_build(key, sizeof key, st->prefix, comps, n) < 0 ? -1 : rl_add(l, key);
}

/* Is day one of the days replaced? */
static int is_day(const rb_state *s, const char *day)
{
    for (size_t i = 0; i < s->days.n; i++)
        if (strcmp(s->days.v[i], day) == 0)
            return 1;
    return 0;
}

/* The days to replace (opts->day, or the tally's report days) and the domains: those
   memcached lists (into *all, kept) and the tally's. */
static int collect(rb_state *s, tlsrpt_members *all)
{
    const tlsrpt_tally *t = s->t;
    char key[TLSRPT_KEY_MAX + 1];
    unsigned links = 0;
    int rc = 0;
    if (s->o->day)
        rc = rl_add(&s->days, s->o->day);
    for (size_t i = 0; !s->o->day && i < t->ctr.n && rc == 0; i++) {
        const char *d = t->ctr.e[i].day;
        if (d[0] && strcmp(d, "nc") != 0 && !is_day(s, d))
            rc = rl_add(&s->days, d);
    }
    tlsrpt_key_build(key, sizeof key, s->c->st->prefix, (const char *const[]){ "domains" }, 1);
    char *k = key;
    if (rc == 0)
        rc = read_sets(s->c, &k, 1, all, &links);
    for (size_t i = 0; i < all->n && rc == 0; i++)
        rc = rl_add(&s->doms, all->v[i]);
    long ti = tl_find(&t->set, key);
    for (size_t i = 0; ti >= 0 && i < t->set.e[ti].mem.n && rc == 0; i++)
        if (!st_members_has(all, t->set.e[ti].mem.v[i]))
            rc = rl_add(&s->doms, t->set.e[ti].mem.v[i]);
    return rc;
}

/* Each domain's days as memcached lists them. */
static int read_dom_days(rb_state *s)
{
    rb_list keys = { 0 };
    unsigned *links = calloc(s->doms.n + 1, sizeof *links);
    int rc = links ? 0 : -1;
    s->dom_days = calloc(s->doms.n + 1, sizeof *s->dom_days);
    for (size_t i = 0; i < s->doms.n && rc == 0; i++)
        rc = rl_key(&keys, s->c->st, (const char *const[]){ "d", s->doms.v[i], "days" }, 3);
    if (rc == 0 && s->dom_days)
        rc = read_sets(s->c, keys.v, keys.n, s->dom_days, links);
    rl_free(&keys);
    free(links);
    return s->dom_days ? rc : -1;
}

/* Queue a counter key to look at (once). */
static int want_key(rb_state *s, tl_map *seen, const char *key)
{
    if (tl_find(seen, key) >= 0)
        return 0;
    return tl_put(seen, key) ? rl_add(&s->ctr_keys, key) : -1;
}

/* The counter keys of one existing per-day set's members (set kind from its key). */
static int member_keys(rb_state *s, tl_map *seen, const char *D, const char *Y, const char *kind,
                       const tlsrpt_members *ms)
{
    char key[TLSRPT_KEY_MAX + 1];
    int rc = 0;
    for (size_t i = 0; i < ms->n && rc == 0; i++) {
        const char *m = ms->v[i];
        if (strcmp(kind, "orgs") == 0) {
            rc = tlsrpt_key_build(key, sizeof key, s->c->st->prefix,
                                  (const char *const[]){ "d", D, Y, "org", m, "ok" }, 6) < 0
                 || want_key(s, seen, key) < 0
                 || tlsrpt_key_build(key, sizeof key, s->c->st->prefix,
                                     (const char *const[]){ "d", D, Y, "org", m, "fail" }, 6) < 0 ? -1 : 0;
        } else {
            int t = strcmp(kind, "types") == 0;
            rc = tlsrpt_key_build(key, sizeof key, s->c->st->prefix, t
                                  ? (const char *const[]){ "d", D, Y, "type", m }
                                  : (const char *const[]){ "d", D, Y, "mx", m, "fail" }, t ? 5 : 6) < 0 ? -1 : 0;
        }
        if (rc == 0)
            rc = want_key(s, seen, key);
    }
    return rc;
}

/* The fixed counters of (D, Y): ok, fail, reports, partial, max (the saturation guard:
   deleted, so that later reports of a rebuilt day are checked), mode:*, ptype:*:*. */
static int fixed_keys(rb_state *s, tl_map *seen, const char *D, const char *Y)
{
    static const char *const one[] = { "ok", "fail", "reports", "partial", "max" };
    static const char *const modes[] = { "enforce", "testing", "none" };
    char key[TLSRPT_KEY_MAX + 1];
    const char *pf = s->c->st->prefix;
    for (size_t i = 0; i < 5; i++)
        if (tlsrpt_key_build(key, sizeof key, pf, (const char *const[]){ "d", D, Y, one[i] }, 4) < 0
            || want_key(s, seen, key) < 0)
            return -1;
    for (size_t i = 0; i < 3; i++)
        if (tlsrpt_key_build(key, sizeof key, pf, (const char *const[]){ "d", D, Y, "mode", modes[i] }, 5) < 0
            || want_key(s, seen, key) < 0)
            return -1;
    for (size_t i = 0; i < ST_PT_N; i++)
        for (int f = 0; f < 2; f++)
            if (tlsrpt_key_build(key, sizeof key, pf, (const char *const[]){ "d", D, Y, "ptype",
                                 st_ptype_name(i), f ? "fail" : "ok" }, 6) < 0
                || want_key(s, seen, key) < 0)
                return -1;
    return 0;
}

/* Does this tally counter belong to what is replaced? */
static int tally_scope(const rb_state *s, const tl_ent *e)
{
    if (e->day[0] && strcmp(e->day, "nc") != 0)
        return is_day(s, e->day);
    return !s->o->day;          /* arr: and nc: only when every day is rebuilt */
}

/* The days' existing per-day sets and every counter key to look at. */
static int existing(rb_state *s)
{
    tl_map seen = { 0 };
    int rc = 0;
    for (size_t y = 0; y < s->days.n && rc == 0; y++)
        rc = rl_key(&s->old_sets, s->c->st, (const char *const[]){ "hosts", s->days.v[y] }, 2);
    for (size_t d = 0; d < s->doms.n && rc == 0; d++)
        for (size_t y = 0; y < s->days.n && rc == 0; y++) {
            const char *D = s->doms.v[d], *Y = s->days.v[y];
            if (!st_members_has(&s->dom_days[d], Y))
                continue;
            rc = rl_key(&s->old_sets, s->c->st, (const char *const[]){ "d", D, Y, "orgs" }, 4) < 0
                 || rl_key(&s->old_sets, s->c->st, (const char *const[]){ "d", D, Y, "types" }, 4) < 0
                 || rl_key(&s->old_sets, s->c->st, (const char *const[]){ "d", D, Y, "mxs" }, 4) < 0
                 || fixed_keys(s, &seen, D, Y) < 0 ? -1 : 0;
        }
    s->old_mem = calloc(s->old_sets.n + 1, sizeof *s->old_mem);
    s->old_links = calloc(s->old_sets.n + 1, sizeof *s->old_links);
    if (rc == 0 && (!s->old_mem || !s->old_links || read_sets(s->c, s->old_sets.v, s->old_sets.n,
                                                              s->old_mem, s->old_links) < 0))
        rc = -1;
    /* the counters the old per-day sets name: old_sets is hosts per day, then (orgs,
       types, mxs) per (D, Y) in the order above */
    size_t k = s->days.n;
    for (size_t d = 0; d < s->doms.n && rc == 0; d++)
        for (size_t y = 0; y < s->days.n && rc == 0; y++) {
            if (!st_members_has(&s->dom_days[d], s->days.v[y]))
                continue;
            static const char *const kinds[] = { "orgs", "types", "mxs" };
            for (int j = 0; j < 3 && rc == 0; j++, k++)
                rc = member_keys(s, &seen, s->doms.v[d], s->days.v[y], kinds[j], &s->old_mem[k]);
        }
    for (size_t i = 0; i < s->t->ctr.n && rc == 0; i++)
        if (tally_scope(s, &s->t->ctr.e[i]))
            rc = want_key(s, &seen, s->t->ctr.e[i].key);
    tl_free(&seen);
    return rc;
}

/* Hosts that counted into the days but whose archives were not given; 1 when any. */
static int other_hosts(rb_state *s)
{
    size_t o = 0;
    for (size_t y = 0; y < s->days.n; y++)
        for (size_t i = 0; i < s->old_mem[y].n; i++) {
            const char *h = s->old_mem[y].v[i];
            int given = 0;
            for (size_t g = 0; g < s->o->n_hosts && !given; g++) {
                char enc[ST_COMP_MAX + 1];
                given = st_canon(enc, sizeof enc, s->o->hosts[g]) > 0 && strcmp(enc, h) == 0;
            }
            if (!given && !strstr(s->res->other_hosts, h) && o + strlen(h) + 2 < sizeof s->res->other_hosts)
                o += (size_t)snprintf(s->res->other_hosts + o, sizeof s->res->other_hosts - o, "%s%s",
                                      o ? " " : "", h);
        }
    return o > 0;
}

/* Set or delete every counter whose value differs from the recount's. */
static int write_counters(rb_state *s)
{
    rb_batch b = { 0 };
    char **v = calloc(s->ctr_keys.n + 1, sizeof *v), num[24];
    uint32_t exp = (uint32_t)st_expiry(s->c->st->counter_ttl);
    int rc = v ? 0 : -1;
    for (size_t i = 0; i < s->ctr_keys.n && rc == 0; i++)
        rc = rb_push(&b, ST_OP_GETKQ, s->ctr_keys.v[i], NULL, 0, 0, 0);
    if (rc == 0)
        rc = rb_send(s->c, &b, v, 0, NULL);
    rb_clear(&b);
    for (size_t i = 0; i < s->ctr_keys.n && rc == 0; i++) {
        int64_t old = -1, now = -1;
        long e = tl_find(&s->t->ctr, s->ctr_keys.v[i]);
        if (v[i] && tlsrpt_store_parse_count(v[i], strlen(v[i]), &old) < 0)
            old = -2;           /* not a number: replaced */
        if (e >= 0 && tally_scope(s, &s->t->ctr.e[e]))
            now = s->t->ctr.e[e].v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)s->t->ctr.e[e].v;
        if (now == old) {
            s->res->unchanged += now >= 0;
            continue;
        }
        if (now >= 0) {
            int n = snprintf(num, sizeof num, "%lld", (long long)now);
            rc = rb_push(&b, ST_OP_SETQ, s->ctr_keys.v[i], num, (size_t)n, exp, 8);
            s->res->written++;
        } else {
            rc = rb_push(&b, ST_OP_DELETEQ, s->ctr_keys.v[i], NULL, 0, 0, 0);
            s->res->deleted++;
        }
        if (s->o->on_change)
            s->o->on_change(s->o->arg, s->ctr_keys.v[i], old < -1 ? -1 : old, now);
    }
    if (rc == 0)
        rc = rb_send(s->c, &b, NULL, 0, NULL);
    for (size_t i = 0; i < s->ctr_keys.n; i++)
        free(v[i]);
    rb_clear(&b);
    free(b.r), free(b.own), free(v);
    return rc;
}

/* Do two member lists hold the same members? */
static int same_members(const tlsrpt_members *a, const tlsrpt_members *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (!st_members_has(b, a->v[i]))
            return 0;
    return 1;
}

/* Is this tally set one the rebuild replaces (a per-day set of a day replaced, or, for
   a rebuild of every day, an nc: list)? Long-lived sets are not replaced. */
static int set_scope(const rb_state *s, const tl_ent *e)
{
    if (e->ll)
        return 0;
    return strcmp(e->day, "nc") == 0 ? !s->o->day : is_day(s, e->day);
}

/* Rewrite every per-day set that differs; delete the old ones the recount lacks. */
static int write_sets(rb_state *s)
{
    rb_batch b = { 0 };
    rb_list own = { 0 }, nc_keys = { 0 };
    tlsrpt_members *nc_mem = NULL;
    unsigned *nc_links = NULL;
    int rc = 0;
    for (size_t i = 0; i < s->t->set.n && rc == 0; i++)     /* nc: lists are not read yet */
        if (set_scope(s, &s->t->set.e[i]) && strcmp(s->t->set.e[i].day, "nc") == 0)
            rc = rl_add(&nc_keys, s->t->set.e[i].key);
    nc_mem = calloc(nc_keys.n + 1, sizeof *nc_mem);
    nc_links = calloc(nc_keys.n + 1, sizeof *nc_links);
    if (rc == 0 && (!nc_mem || !nc_links || read_sets(s->c, nc_keys.v, nc_keys.n, nc_mem, nc_links) < 0))
        rc = -1;
    for (size_t i = 0; i < s->t->set.n && rc == 0; i++) {
        const tl_ent *e = &s->t->set.e[i];
        const tlsrpt_members *old = NULL;
        unsigned links = 0;
        if (!set_scope(s, e))
            continue;
        for (size_t k = 0; k < s->old_sets.n && !old; k++)
            if (strcmp(s->old_sets.v[k], e->key) == 0)
                old = &s->old_mem[k], links = s->old_links[k];
        for (size_t k = 0; k < nc_keys.n && !old; k++)
            if (strcmp(nc_keys.v[k], e->key) == 0)
                old = &nc_mem[k], links = nc_links[k];
        if (old && same_members(old, &e->mem))
            continue;
        rc = push_chain(s->c, &b, &own, e->key, &e->mem, links);
        s->res->sets++;
    }
    for (size_t k = 0; k < s->old_sets.n && rc == 0; k++)
        if (s->old_mem[k].n && tl_find(&s->t->set, s->old_sets.v[k]) < 0) {
            rc = push_unset(s->c, &b, &own, s->old_sets.v[k], s->old_links[k]);
            s->res->sets++;
        }
    if (rc == 0)
        rc = rb_send(s->c, &b, NULL, 0, NULL);
    rb_clear(&b);
    free(b.r), free(b.own);
    for (size_t k = 0; nc_mem && k < nc_keys.n; k++)
        tlsrpt_members_free(&nc_mem[k]);
    free(nc_mem), free(nc_links);
    rl_free(&own);
    rl_free(&nc_keys);
    return rc;
}

/* Read back every day set the recount has in scope and write again (once) any that does
   not hold exactly the recount's members: a set read as already right before the writes,
   or changed under us, is not left wrong in silence. 0, or -1 (memcached, or still not
   right after the second write: errbuf says which). */
static int verify_sets(rb_state *s)
{
    rb_list keys = { 0 };
    size_t *ent = calloc(s->t->set.n + 1, sizeof *ent);
    int rc = ent ? 0 : -1;
    for (size_t i = 0; i < s->t->set.n && rc == 0; i++)
        if (set_scope(s, &s->t->set.e[i]) && strcmp(s->t->set.e[i].day, "nc") != 0) {
            ent[keys.n] = i;
            rc = rl_add(&keys, s->t->set.e[i].key);
        }
    for (int pass = 0; pass < 2 && rc == 0 && keys.n; pass++) {
        tlsrpt_members *got = calloc(keys.n, sizeof *got);
        unsigned *links = calloc(keys.n, sizeof *links);
        rb_batch b = { 0 };
        rb_list own = { 0 };
        size_t bad = 0, first = 0;
        rc = got && links ? read_sets(s->c, keys.v, keys.n, got, links) : -1;
        for (size_t k = 0; k < keys.n && rc == 0; k++)
            if (!same_members(&got[k], &s->t->set.e[ent[k]].mem)) {
                first = bad++ ? first : k;
                if (pass == 0)
                    rc = push_chain(s->c, &b, &own, keys.v[k], &s->t->set.e[ent[k]].mem, links[k]);
            }
        if (rc == 0 && bad && pass == 0)
            rc = rb_send(s->c, &b, NULL, 0, NULL);
        if (rc == 0 && bad && pass == 1) {
            snprintf(s->c->errbuf, s->c->errlen, "index set %s is still not what the recount "
                     "wrote (%zu set(s) differ): another writer?", keys.v[first], bad);
            rc = -1;
        }
        s->res->sets += pass == 0 ? bad : 0;
        for (size_t k = 0; got && k < keys.n; k++)
            tlsrpt_members_free(&got[k]);
        free(got), free(links);
        rb_clear(&b);
        free(b.r), free(b.own);
        rl_free(&own);
        if (rc == 0 && !bad)
            break;
    }
    rl_free(&keys);
    free(ent);
    return rc;
}

/* Long-lived sets (P domains, d:D:days, nc:days) gain the recount's members they lack,
   through the live index code (markers, chains). */
static int ensure_long_lived(rb_state *s, const tlsrpt_members *domains)
{
    st_plan p;
    tlsrpt_members *ncm = calloc(1, sizeof *ncm);
    char key[TLSRPT_KEY_MAX + 1], *k = key;
    unsigned links = 0;
    int rc = ncm ? 0 : -1;
    memset(&p, 0, sizeof p);
    tlsrpt_key_build(key, sizeof key, s->c->st->prefix, (const char *const[]){ "nc", "days" }, 2);
    if (rc == 0 && !s->o->day)
        rc = read_sets(s->c, &k, 1, ncm, &links);
    for (size_t i = 0; i < s->t->set.n && rc == 0; i++) {
        const tl_ent *e = &s->t->set.e[i];
        const tlsrpt_members *have = NULL;
        if (!e->ll || (s->o->day && strcmp(e->key, key) == 0))
            continue;
        if (strcmp(e->key, key) == 0)
            have = ncm;
        for (size_t d = 0; !have && d < s->doms.n; d++) {
            char dk[TLSRPT_KEY_MAX + 1];
            if (tlsrpt_key_build(dk, sizeof dk, s->c->st->prefix,
                                 (const char *const[]){ "d", s->doms.v[d], "days" }, 3) > 0 && strcmp(dk, e->key) == 0)
                have = &s->dom_days[d];
        }
        if (!have)
            have = domains;     /* P domains itself */
        size_t before = p.n_mem;
        for (size_t m = 0; m < e->mem.n && rc == 0; m++) {
            if (st_members_has(have, e->mem.v[m]) || (s->o->day && have != domains && have != ncm
                                                       && !is_day(s, e->mem.v[m])))
                continue;
            st_member *nm = realloc(p.mem, (p.n_mem + 1) * sizeof *nm);
            if (!nm || strlen(e->mem.v[m]) >= sizeof nm->member) {
                rc = nm ? (p.mem = nm, 0) : -1;
                continue;
            }
            p.mem = nm;
            p.mem[p.n_mem] = (st_member){ .set = p.n_set, .dom = -1, .anchor = ST_ANCHOR_NONE };
            strcpy(p.mem[p.n_mem++].member, e->mem.v[m]);
        }
        if (p.n_mem > before) {
            st_pset *ns = realloc(p.set, (p.n_set + 1) * sizeof *ns);
            if (!ns)
                rc = -1;
            else {
                p.set = ns;
                snprintf(p.set[p.n_set].key, sizeof p.set[p.n_set].key, "%s", e->key);
                p.set[p.n_set++].long_lived = 1;
                s->res->sets++;
            }
        }
    }
    p.no_markers = 1;           /* markers on a surviving server must not keep them out */
    if (rc == 0 && p.n_mem)
        rc = st_run_plain(s->c, &p) == TLSRPT_COUNTED ? 0 : -1;
    st_plan_free(&p);
    tlsrpt_members_free(ncm);
    free(ncm);
    return rc;
}

/* The dedup markers the recount made (added when missing) and the org labels (set). */
static int markers_labels(rb_state *s)
{
    rb_batch b = { 0 };
    uint32_t dexp = (uint32_t)st_expiry(s->c->st->dedup_ttl), cexp = (uint32_t)st_expiry(s->c->st->counter_ttl);
    size_t exists = 0;
    int rc = 0;
    for (size_t i = 0; i < s->t->seen.n && rc == 0; i++)
        rc = rb_push(&b, ST_OP_ADDQ, s->t->seen.e[i].key, s->t->seen.e[i].str,
                     strlen(s->t->seen.e[i].str), dexp, 8);
    if (rc == 0)
        rc = rb_send(s->c, &b, NULL, ST_ST_EXISTS, &exists);
    s->res->markers = rc == 0 ? s->t->seen.n - exists : 0;
    rb_clear(&b);
    for (size_t i = 0; i < s->t->label.n && rc == 0; i++)
        rc = rb_push(&b, ST_OP_SETQ, s->t->label.e[i].key, s->t->label.e[i].str,
                     strlen(s->t->label.e[i].str), cexp, 8);
    if (rc == 0)
        rc = rb_send(s->c, &b, NULL, 0, NULL);
    rb_clear(&b);
    free(b.r), free(b.own);
    return rc;
}

/* Free the working state. */
static void rb_done(rb_state *s)
{
    for (size_t i = 0; s->dom_days && i < s->doms.n; i++)
        tlsrpt_members_free(&s->dom_days[i]);
    for (size_t i = 0; s->old_mem && i < s->old_sets.n; i++)
        tlsrpt_members_free(&s->old_mem[i]);
    free(s->dom_days), free(s->old_mem), free(s->old_links);
    rl_free(&s->days), rl_free(&s->doms), rl_free(&s->ctr_keys), rl_free(&s->old_sets);
}

/* Replace memcached's counts of the tally's days (or o->day) by the tally's. */
int tlsrpt_store_rebuild(tlsrpt_store *st, tlsrpt_tally *t, const tlsrpt_rebuild_opts *o,
                         tlsrpt_rebuild_result *res, char *errbuf, size_t errlen)
{
    static const tlsrpt_rebuild_opts none;
    tlsrpt_rebuild_result dummy;
    tlsrpt_count_info info;
    char nobuf[8];
    if (!errbuf || !errlen)
        errbuf = nobuf, errlen = sizeof nobuf;
    res = res ? res : &dummy;
    memset(res, 0, sizeof *res);
    memset(&info, 0, sizeof info);
    if (!st || !t || t->st != st) {
        snprintf(errbuf, errlen, "tlsrpt_store_rebuild: no store, or a tally of another store");
        return -1;
    }
    memcached_st *mc = st_pool_fetch(st, errbuf, errlen);
    if (!mc)
        return -1;
    st_call c = { st, mc, &info, errbuf, errlen };
    rb_state s = { .c = &c, .t = t, .o = o ? o : &none, .res = res };
    tlsrpt_members domains = { 0 };
    int rc = collect(&s, &domains) < 0 || read_dom_days(&s) < 0 || existing(&s) < 0 ? -1 : 0;
    if (rc == 0 && other_hosts(&s) && !s.o->force) {
        snprintf(res->text, sizeof res->text, "refused: the days hold counts of hosts whose archives "
                 "were not given: %s (force replaces them)", res->other_hosts);
        snprintf(errbuf, errlen, "%s", res->text);
        rc = TLSRPT_REBUILD_REFUSED;
    }
    if (rc == 0 && (write_counters(&s) < 0 || write_sets(&s) < 0 || verify_sets(&s) < 0
                    || ensure_long_lived(&s, &domains) < 0
                    || markers_labels(&s) < 0))
        rc = -1;
    res->days = s.days.n;
    if (rc == 0)
        snprintf(res->text, sizeof res->text, "replaced %zu report day%s: %zu counters set, %zu deleted, "
                 "%zu unchanged, %zu index sets written, %zu dedup markers added%s%s%s", res->days,
                 res->days == 1 ? "" : "s", res->written, res->deleted, res->unchanged, res->sets,
                 res->markers, res->other_hosts[0] ? "; replaced the counts of hosts " : "",
                 res->other_hosts, res->other_hosts[0] ? " (forced)" : "");
    if (rc < 0)
        memcached_quit(mc);
    memcached_pool_release(st->pool, mc);
    tlsrpt_members_free(&domains);
    rb_done(&s);
    return rc;
}
