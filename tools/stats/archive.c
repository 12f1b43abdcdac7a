/*
 * archive.c - the third sign of loss (issue 10.4): "the archive holds reports the
 * counters lack". With -c CONF and an ArchiveDir, tlsrpt-stats compares, per arrival
 * day of the window, the archive's countable reports with P arr:A:H:counted (H = the
 * archive id: the reports this host counted, written in every counter burst):
 *
 *   1. list the archive (tlsrpt_spool_each over the window's arrival days and the
 *      TS_LEAD_DAYS before them: metas only, no mail is read or decoded) and take each
 *      report group whose report-verdict is countable, once per identity and
 *      report-id (the live dedup: signer-org when auth is dkim, else the
 *      organization-name; the first arrival wins, the lead days only serve this), left
 *      out while its entry is still pending (not counted yet: not lost; the pending
 *      entries are listed once, tlsrpt_spool_pending);
 *   2. one multi-get of P arr:A:H:counted per window day; the reports the store itself
 *      refuses (P nc:A:REASON for foreign-domain, no-policy-domain, no-date,
 *      invalid-report, too-many-domains, already read by fetch) are taken off;
 *   3. only for a day still short: the dedup marker P seen:HASH of each of its reports
 *      (one more multi-get): a marker holding another entry's id is a copy another host
 *      counted first (a duplicate here), not a loss.
 * A day whose counters are still short has lost reports: TS_LOST_ARCHIVE, and the text
 * names the archive, the days and how many (the formats add the rebuild command).
 *
 * Limits: one archive (this host's: the config's ArchiveDir); nc: counters are shared
 * by all hosts, so with several hosts another host's refused reports can hide a loss
 * here (never cause a false one). Values of the meta cut at its 1024-byte limit do
 * not match the store's hash (such a report-id only makes step 3 count it lost).
 * Errors: an archive that cannot be opened or listed is not compared (-1, why);
 * memcached failing in step 2 or 3 likewise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "stats.h"
#include "spool.h"
#include "sha256.h"

/* One countable report seen in the archive (first copy of its identity + report-id). */
typedef struct ar_rec {
    char hex[2 * TLSRPT_SHA256_LEN + 1];
    char id[TLSRPT_SPOOL_ID_MAX];
    int w;                      /* window day of its arrival, -1 before the window */
    int pending;
} ar_rec;

/* The comparison's state. */
typedef struct ar_ctx {
    const ts_report *r;
    tlsrpt_spool *sp;
    ar_rec *rec;
    size_t n, cap;
    size_t *slot, nslot;        /* hash of hex -> rec index + 1 */
    int64_t *expected, *counted, *other;
    const char *host;
    char *hit_id;               /* step 3: the marker's entry id being matched */
    char **pend;                /* ids of the pending entries, sorted */
    size_t npend;
} ar_ctx;

/* tlsrpt_spool_pending callback: collect the pending ids (usually few). */
static int on_pending(void *arg, const char *id, int state)
{
    ar_ctx *c = arg;
    (void)state;
    char **n = realloc(c->pend, (c->npend + 1) * sizeof *n);
    if (!n)
        return -1;
    c->pend = n;
    return (n[c->npend] = strdup(id)) ? (c->npend++, 0) : -1;
}

/* Order of C strings for qsort and bsearch. */
static int cmp_id(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* FNV-1a of a hex string. */
static size_t h_str(const char *s)
{
    size_t h = 1469598103934665603u;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211u;
    return h;
}

/* Is hex new? Then add it (growing the table). */
static int first_copy(ar_ctx *c, const char *hex)
{
    if (c->n * 2 >= c->nslot) {
        size_t ns = c->nslot ? c->nslot * 2 : 4096;
        size_t *t = calloc(ns, sizeof *t);
        if (!t)
            return -1;
        for (size_t i = 0; i < c->n; i++) {
            size_t k = h_str(c->rec[i].hex) & (ns - 1);
            while (t[k])
                k = (k + 1) & (ns - 1);
            t[k] = i + 1;
        }
        free(c->slot);
        c->slot = t, c->nslot = ns;
    }
    size_t k = h_str(hex) & (c->nslot - 1);
    for (; c->slot[k]; k = (k + 1) & (c->nslot - 1))
        if (strcmp(c->rec[c->slot[k] - 1].hex, hex) == 0)
            return 0;
    if (c->n == c->cap) {
        ar_rec *nr = realloc(c->rec, (c->cap = c->cap ? c->cap * 2 : 1024) * sizeof *nr);
        if (!nr)
            return -1;
        c->rec = nr;
    }
    snprintf(c->rec[c->n].hex, sizeof c->rec[c->n].hex, "%s", hex);
    c->slot[k] = ++c->n;
    return 1;
}

/* The store's dedup hash of (identity, report-id) (store/plan.c plan_seen). */
static void marker_hex(const char *org_key, const char *org, size_t org_len, const char *rid,
                       size_t rid_len, char *hex)
{
    tlsrpt_sha256_ctx h;
    unsigned char d[TLSRPT_SHA256_LEN];
    tlsrpt_sha256_init(&h);
    if (org_key) {
        tlsrpt_sha256_update(&h, "dkim", 5);
        tlsrpt_sha256_update(&h, org_key, strlen(org_key) + 1);
    } else {
        tlsrpt_sha256_update(&h, org ? org : "", org ? org_len : 0);
        tlsrpt_sha256_update(&h, "", 1);
    }
    tlsrpt_sha256_update(&h, rid ? rid : "", rid ? rid_len : 0);
    tlsrpt_sha256_final(&h, d);
    tlsrpt_hex(hex, d, sizeof d);
}

/* tlsrpt_spool_each callback: step 1. */
static int on_entry(void *arg, const tlsrpt_spool_entry *e)
{
    ar_ctx *c = arg;
    time_t t;
    if (!e->meta || ts_parse_day(e->day, &t) < 0)
        return 0;
    long w = (long)((t - c->r->first) / 86400);
    const char *idp = e->id;
    int pending = c->npend && bsearch(&idp, c->pend, c->npend, sizeof *c->pend, cmp_id) != NULL;
    const char *auth = tlsrpt_spool_meta_get(e->meta, "auth", NULL);
    const char *key = auth && strcmp(auth, "dkim") == 0
                      ? tlsrpt_spool_meta_get(e->meta, "signer-org", NULL) : NULL;
    for (size_t i = 0, n = tlsrpt_spool_meta_n_reports(e->meta); i < n; i++) {
        tlsrpt_spool_report g;
        char hex[2 * TLSRPT_SHA256_LEN + 1];
        if (tlsrpt_spool_meta_report(e->meta, i, &g) != 0 || !g.verdict ||
            strcmp(g.verdict, "countable") != 0)
            continue;
        marker_hex(key, g.org, g.org_len, g.report_id, g.report_id_len, hex);
        int f = first_copy(c, hex);
        if (f < 0)
            return -1;
        if (!f)
            continue;
        ar_rec *x = &c->rec[c->n - 1];
        snprintf(x->id, sizeof x->id, "%s", e->id);
        x->w = w >= 0 && w < c->r->ndays ? (int)w : -1;
        x->pending = pending;
        if (x->w >= 0 && !pending)
            c->expected[x->w]++;
    }
    return 0;
}

/* Step 2's hits: P arr:A:H:counted of window day idx. */
static void on_counted(void *arg, size_t idx, const char *val, size_t len, int cut)
{
    ar_ctx *c = arg;
    int64_t v;
    (void)cut;
    if (tlsrpt_store_parse_count(val, len, &v) == 0)
        c->counted[idx] = v;
}

/* Step 3's hits: a marker of rec idx; another entry's id = a duplicate here. */
static void on_marker(void *arg, size_t idx, const char *val, size_t len, int cut)
{
    ar_ctx *c = arg;
    const ar_rec *x = &c->rec[((size_t *)c->hit_id)[idx]];
    size_t n = strlen(x->id);
    (void)cut;
    if (!(len >= n && memcmp(val, x->id, n) == 0 && (len == n || val[n] == ' ')))
        c->other[x->w]++;
}

/* Is reason one the store decides (a countable report the store did not count)? */
static int store_reason(const char *why)
{
    static const char *const r[] = { "foreign-domain", "no-policy-domain", "no-date",
                                     "invalid-report", "too-many-domains" };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
        if (strcmp(why, r[i]) == 0)
            return 1;
    return 0;
}

/* Build P + comps into key; its length or -1. */
static int key_of(const ts_report *r, char *key, const char *const *comps, size_t n)
{
    char enc[4][TLSRPT_KEY_MAX + 1];
    const char *e[4];
    for (size_t i = 0; i < n; i++) {
        if (tlsrpt_key_component(enc[i], sizeof enc[i], comps[i]) < 0)
            return -1;
        e[i] = enc[i];
    }
    return tlsrpt_key_build(key, TLSRPT_KEY_MAX + 1, r->prefix, e, n);
}

/* Steps 2 and 3 over memcached; 0 or -1 (why). */
static int ask(ar_ctx *c, void *memc, int64_t *nc_store, char *why, size_t whylen)
{
    ts_err e = { 0, "" };
    char key[TLSRPT_KEY_MAX + 1];
    int len, rc = 0, short_days = 0;
    ts_mget *g = ts_mget_new(memc, 5000, &e);
    for (int w = 0; g && w < c->r->ndays; w++)
        if ((len = key_of(c->r, key, (const char *const[]){ "arr", TS_WNAME(c->r, w), c->host,
                                                            "counted" }, 4)) > 0)
            ts_mget_add(g, key, (size_t)len);
    if (!g || ts_mget_run(g, on_counted, c, &e) < 0)
        rc = -1;
    for (int w = 0; rc == 0 && w < c->r->ndays; w++)
        short_days += c->expected[w] - c->counted[w] - nc_store[w] > 0;
    size_t *map = short_days ? calloc(TS_MGET_CHUNK, sizeof *map) : NULL;
    c->hit_id = (char *)map;
    for (size_t i = 0; rc == 0 && map && i < c->n;) {     /* step 3, chunk by chunk */
        size_t k = 0;
        for (; i < c->n && k < TS_MGET_CHUNK; i++) {
            const ar_rec *x = &c->rec[i];
            if (x->w < 0 || x->pending || c->expected[x->w] - c->counted[x->w] - nc_store[x->w] <= 0
                || (len = key_of(c->r, key, (const char *const[]){ "seen", x->hex }, 2)) < 0)
                continue;
            map[ts_mget_add(g, key, (size_t)len)] = i, k++;
        }
        if (k && ts_mget_run(g, on_marker, c, &e) < 0)
            rc = -1;
    }
    if (short_days && !map)
        rc = -1, snprintf(e.msg, sizeof e.msg, "out of memory");
    free(map);
    ts_mget_free(g);
    if (rc < 0)
        snprintf(why, whylen, "memcached: %s", e.msg);
    return rc;
}

/* Step 1-3 and the verdict (file comment); 0 compared, -1 not (why). */
int ts_archive_compare(void *memc, const char *dir, ts_report *r, char *why, size_t whylen)
{
    ar_ctx c = { .r = r };
    char err[512];
    int rc = -1;
    int64_t *nc_store = calloc((size_t)r->ndays, sizeof *nc_store);
    c.expected = calloc((size_t)r->ndays, sizeof *c.expected);
    c.counted = calloc((size_t)r->ndays, sizeof *c.counted);
    c.other = calloc((size_t)r->ndays, sizeof *c.other);
    if (!nc_store || !c.expected || !c.counted || !c.other) {
        snprintf(why, whylen, "out of memory");
        goto out;
    }
    if (!(c.sp = tlsrpt_spool_open(dir, 0, err, sizeof err))) {
        snprintf(why, whylen, "%s", err);
        goto out;
    }
    c.host = tlsrpt_spool_archive_id(c.sp);
    if (tlsrpt_spool_pending(c.sp, on_pending, &c, err, sizeof err) != 0) {
        snprintf(why, whylen, "%s", err[0] ? err : "out of memory");
        goto out;
    }
    if (c.npend)
        qsort(c.pend, c.npend, sizeof *c.pend, cmp_id);
    if (tlsrpt_spool_each(c.sp, r->dayname[0], TS_WNAME(r, r->ndays - 1), on_entry, &c, err,
                          sizeof err) != 0) {
        snprintf(why, whylen, "%s", err[0] ? err : "out of memory");
        goto out;
    }
    for (size_t i = 0; i < r->nnc; i++)
        if (store_reason(r->nc_reasons.v[r->nc[i].reason].name))
            nc_store[r->nc[i].w] += r->nc[i].n;
    if (ask(&c, memc, nc_store, why, whylen) < 0)
        goto out;
    ts_loss *l = &r->loss;
    size_t o = strlen(l->text);
    int64_t total = 0;
    for (int w = 0; w < r->ndays; w++)
        total += c.expected[w] - c.counted[w] - nc_store[w] - c.other[w] > 0
                 ? c.expected[w] - c.counted[w] - nc_store[w] - c.other[w] : 0;
    l->archive_checked = 1;
    if (total > 0 && o < sizeof l->text) {
        l->why |= TS_LOST_ARCHIVE;
        o += (size_t)snprintf(l->text + o, sizeof l->text - o, "%sthe archive %s (%s) holds %lld "
                              "countable reports the counters lack (lost, by arrival day:",
                              o ? "; " : "", c.host, dir, (long long)total);
        for (int w = 0; w < r->ndays && o < sizeof l->text; w++) {
            int64_t d = c.expected[w] - c.counted[w] - nc_store[w] - c.other[w];
            if (d > 0)
                o += (size_t)snprintf(l->text + o, sizeof l->text - o, " %s: %lld of %lld",
                                      TS_WNAME(r, w), (long long)d, (long long)c.expected[w]);
        }
        if (o < sizeof l->text)
            snprintf(l->text + o, sizeof l->text - o, ")");
    }
    rc = 0;
out:
    tlsrpt_spool_close(c.sp);
    for (size_t i = 0; i < c.npend; i++)
        free(c.pend[i]);
    free(c.pend);
    free(c.rec), free(c.slot), free(nc_store), free(c.expected), free(c.counted), free(c.other);
    return rc;
}
