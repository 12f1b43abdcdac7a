/*
 * scan.c - walk the archive: iterate committed entries (the rebuild),
 * remove what crashed writers left (recover), and retention (expire).
 *
 * each: day directories in order, and in each the ids of its ID.eml.gz
 * files sorted with tlsrpt_spool_id_cmp (sort keys computed once); the meta
 * is read and parsed for every entry (one small file). An entry appears
 * only once its data file is renamed in, which is after its meta: a reader
 * never sees a half-written entry. An entry that vanishes while listed (an
 * undone commit, expire) is skipped.
 *
 * recover: tmp/ files, DAY/ID.meta without ID.eml.gz, pending files
 * without a committed entry, and less advanced duplicates of a pending
 * file are removed -- except when the id's pid is another live process of
 * this archive (it may be committing right now). Nothing committed is ever
 * removed; a data file without its meta is only reported ("damaged").
 *
 * expire: data file first, then its meta (so no moment shows data without
 * meta), never an entry with a pending file; files that are not ours stay.
 * Errors: -1 with "archive DIR: ..." in err.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "spool_int.h"

/* keep() for day directory names. */
static int is_day_name(const char *n)
{
    return sp_is_day(n);
}

/* Cut a known suffix off name in place; 1 when it had it and the rest is a valid id. */
static int cut_suffix(char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);
    if (n <= s || strcmp(name + n - s, suffix) != 0)
        return 0;
    name[n - s] = 0;
    if (tlsrpt_spool_id_valid(name))
        return 1;
    name[n - s] = suffix[0];
    return 0;
}

/* qsort: strings. */
static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* 1 when key is in the sorted list. */
static int in_list(const sp_names *l, const char *key)
{
    return l->n && bsearch(&key, l->v, l->n, sizeof *l->v, str_cmp) != NULL;
}

/* The sorted day directories within [first, last]. */
static int list_days(tlsrpt_spool *sp, const char *first, const char *last, sp_names *days,
                     char *err, size_t errlen)
{
    if (sp_list_dir(sp->rootfd, is_day_name, days) < 0)
        return sp_errno(sp, err, errlen, errno, "read the directory");
    size_t k = 0;
    for (size_t i = 0; i < days->n; i++) {
        if ((first && strcmp(days->v[i], first) < 0) || (last && strcmp(days->v[i], last) > 0))
            free(days->v[i]);
        else
            days->v[k++] = days->v[i];
    }
    days->n = k;
    sp_sort(days->v, days->n, str_cmp);
    return 0;
}

/* The committed ids of one day directory, in id order (names cut in place). */
static int day_ids(int dayfd, const char *day, sp_names *ids)
{
    if (sp_list_dir(dayfd, NULL, ids) < 0)
        return -1;
    sp_key *keys = malloc((ids->n ? ids->n : 1) * sizeof *keys);
    if (!keys) {
        sp_names_free(ids);
        errno = ENOMEM;
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < ids->n; i++) {
        char d[11];
        if (cut_suffix(ids->v[i], ".eml.gz") && tlsrpt_spool_id_day(ids->v[i], d) == 0 &&
            strcmp(d, day) == 0 && sp_key_make(&keys[k], ids->v[i], ids->v[i], 0) == 0)
            k++;
        else
            free(ids->v[i]);
    }
    if (k > 1)
        qsort(keys, k, sizeof *keys, sp_key_cmp);
    for (size_t i = 0; i < k; i++)
        ids->v[i] = keys[i].name;
    ids->n = k;
    free(keys);
    return 0;
}

/* Give one entry to the callback; 0 to go on, fn's value, or 2 when it vanished. */
static int each_one(tlsrpt_spool *sp, int dayfd, const char *day, const char *id,
                    tlsrpt_spool_each_fn *fn, void *arg)
{
    char name[SP_NAME_MAX], why[512] = "";
    tlsrpt_spool_entry e = { id, day, NULL, "" };
    sp_name(name, id, "meta");
    tlsrpt_spool_meta *m = sp_meta_load(sp, dayfd, name, id, why, sizeof why);
    if (!m && errno == ENOENT) {
        struct stat st;
        sp_name(name, id, "eml.gz");
        if (fstatat(dayfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
            return 0;                   /* gone meanwhile (undone commit, expire) */
    }
    e.meta = m;
    e.meta_error = m ? "" : why;
    int rc = fn(arg, &e);
    tlsrpt_spool_meta_free(m);
    return rc;
}

/* Iterate committed entries. */
int tlsrpt_spool_each(tlsrpt_spool *sp, const char *first_day, const char *last_day,
                      tlsrpt_spool_each_fn *fn, void *arg, char *err, size_t errlen)
{
    sp_names days;
    int rc = 0;
    if (list_days(sp, first_day, last_day, &days, err, errlen) < 0)
        return -1;
    for (size_t d = 0; d < days.n && rc == 0; d++) {
        sp_names ids;
        int dayfd = openat(sp->rootfd, days.v[d], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dayfd < 0 && errno == ENOENT)
            continue;                   /* expired meanwhile */
        if (dayfd < 0 || day_ids(dayfd, days.v[d], &ids) < 0) {
            rc = sp_errno(sp, err, errlen, errno, "read %s", days.v[d]);
            if (dayfd >= 0)
                close(dayfd);
            break;
        }
        for (size_t i = 0; i < ids.n && rc == 0; i++)
            rc = each_one(sp, dayfd, days.v[d], ids.v[i], fn, arg);
        sp_names_free(&ids);
        close(dayfd);
    }
    sp_names_free(&days);
    return rc;
}

/* Remove dirfd/name unless its id belongs to a live writer; counts into *removed / *live. */
static void remove_garbage(tlsrpt_spool *sp, int dirfd, const char *dir, const char *name,
                           const char *id, const char *event, long *removed, long *live)
{
    char path[SP_NAME_MAX + 16];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (sp_id_live(sp, id)) {
        (*live)++;
        sp_note(sp, "kept-live-writer", path);
    } else if (unlinkat(dirfd, name, 0) == 0) {
        (*removed)++;
        sp_note(sp, event, path);
    }
}

/* recover, step 1: tmp/. */
static int recover_tmp(tlsrpt_spool *sp, tlsrpt_spool_recover_stats *st, char *err, size_t errlen)
{
    sp_names l;
    if (sp->tmpfd < 0)
        return 0;
    if (sp_list_dir(sp->tmpfd, NULL, &l) < 0)
        return sp_errno(sp, err, errlen, errno, "read tmp/");
    for (size_t i = 0; i < l.n; i++) {
        char id[SP_NAME_MAX];
        snprintf(id, sizeof id, "%s", l.v[i]);
        if (cut_suffix(id, ".eml.gz.tmp") || cut_suffix(id, ".meta.tmp"))
            remove_garbage(sp, sp->tmpfd, "tmp", l.v[i], id, "removed-tmp", &st->tmp_removed,
                           &st->live_skipped);
    }
    sp_names_free(&l);
    return 0;
}

/* recover, step 2: metas without data in one day directory. */
static int recover_day(tlsrpt_spool *sp, const char *day, tlsrpt_spool_recover_stats *st)
{
    sp_names l, data;
    int dayfd = openat(sp->rootfd, day, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dayfd < 0 || sp_list_dir(dayfd, NULL, &l) < 0) {
        if (dayfd >= 0)
            close(dayfd);
        return -1;
    }
    memset(&data, 0, sizeof data);
    data.v = calloc(l.n + 1, sizeof *data.v);
    for (size_t i = 0; data.v && i < l.n; i++) {
        size_t n = strlen(l.v[i]);
        if (n > 7 && strcmp(l.v[i] + n - 7, ".eml.gz") == 0)
            data.v[data.n++] = l.v[i];
    }
    sp_sort(data.v, data.n, str_cmp);
    for (size_t i = 0; data.v && i < l.n; i++) {
        char id[SP_NAME_MAX], want[SP_NAME_MAX];
        snprintf(id, sizeof id, "%s", l.v[i]);
        if (!cut_suffix(id, ".meta") || sp_name(want, id, "eml.gz") < 0 || in_list(&data, want))
            continue;
        remove_garbage(sp, dayfd, day, l.v[i], id, "removed-orphan-meta", &st->meta_orphans,
                       &st->live_skipped);
    }
    for (size_t i = 0; data.v && i < data.n; i++) {
        char id[SP_NAME_MAX], want[SP_NAME_MAX], path[SP_NAME_MAX + 16];
        snprintf(id, sizeof id, "%s", data.v[i]);
        if (cut_suffix(id, ".eml.gz") && sp_name(want, id, "meta") == 0 &&
            faccessat(dayfd, want, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
            snprintf(path, sizeof path, "%s/%s", day, data.v[i]);
            sp_note(sp, "damaged-no-meta", path);
        }
    }
    int ok = data.v != NULL;
    free(data.v);                       /* the names belong to l */
    sp_names_free(&l);
    close(dayfd);
    return ok ? 0 : -1;
}

/* recover, step 3: pending files without a committed entry, and duplicates; counts the rest. */
static int recover_pending(tlsrpt_spool *sp, tlsrpt_spool_recover_stats *st, char *err,
                           size_t errlen)
{
    sp_names l;
    sp_key *k;
    size_t n;
    if (sp_pending_keys(sp, &l, &k, &n) < 0)
        return sp_errno(sp, err, errlen, errno, "read pending/");
    for (size_t i = 0; i < n; i++) {
        char id[TLSRPT_SPOOL_ID_MAX], day[11], path[SP_NAME_MAX + 16];
        struct stat sb;
        sp_pending_parse(k[i].name, id);
        tlsrpt_spool_id_day(id, day);
        snprintf(path, sizeof path, "%s/%s.eml.gz", day, id);
        if (i > 0 && sp_key_same_id(&k[i], &k[i - 1]))     /* sorted: most advanced first */
            remove_garbage(sp, sp->pendfd, "pending", k[i].name, id, "removed-pending-duplicate",
                           &st->pending_orphans, &st->live_skipped);
        else if (fstatat(sp->rootfd, path, &sb, AT_SYMLINK_NOFOLLOW) < 0)
            remove_garbage(sp, sp->pendfd, "pending", k[i].name, id, "removed-orphan-pending",
                           &st->pending_orphans, &st->live_skipped);
        else
            st->pending[k[i].state & 3]++;
    }
    free(k);
    sp_names_free(&l);
    return 0;
}

/* Remove what crashed writers left (see the file comment). */
int tlsrpt_spool_recover(tlsrpt_spool *sp, tlsrpt_spool_recover_stats *st, char *err, size_t errlen)
{
    tlsrpt_spool_recover_stats dummy;
    sp_names days;
    if (!st)
        st = &dummy;
    memset(st, 0, sizeof *st);
    if (recover_tmp(sp, st, err, errlen) < 0 || list_days(sp, NULL, NULL, &days, err, errlen) < 0)
        return -1;
    for (size_t d = 0; d < days.n; d++)
        if (recover_day(sp, days.v[d], st) < 0 && errno != ENOENT) {
            sp_errno(sp, err, errlen, errno, "read %s", days.v[d]);
            sp_names_free(&days);
            return -1;
        }
    sp_names_free(&days);
    return recover_pending(sp, st, err, errlen);
}

/* expire: one old day directory. */
static int expire_day(tlsrpt_spool *sp, const char *day, const sp_names *pend,
                      tlsrpt_spool_expire_stats *st)
{
    sp_names l;
    int dayfd = openat(sp->rootfd, day, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dayfd < 0 || sp_list_dir(dayfd, NULL, &l) < 0) {
        if (dayfd >= 0)
            close(dayfd);
        return -1;
    }
    sp_sort(l.v, l.n, str_cmp);  /* ID.eml.gz before ID.meta: data goes first */
    for (size_t i = 0; i < l.n; i++) {
        char id[SP_NAME_MAX], meta[SP_NAME_MAX], path[SP_NAME_MAX + 16];
        snprintf(id, sizeof id, "%s", l.v[i]);
        snprintf(path, sizeof path, "%s/%s", day, l.v[i]);
        if (cut_suffix(id, ".eml.gz")) {
            if (in_list(pend, id)) {
                st->kept_pending++;
                sp_note(sp, "kept-pending", path);   /* its meta stays: it has data */
                continue;
            }
            if (unlinkat(dayfd, l.v[i], 0) == 0) {
                st->entries_removed++;
                sp_note(sp, "expired", path);
            }
        } else if (cut_suffix(id, ".meta")) {
            sp_name(meta, id, "eml.gz");
            if (faccessat(dayfd, meta, F_OK, AT_SYMLINK_NOFOLLOW) < 0)
                unlinkat(dayfd, l.v[i], 0);     /* its data went first */
        } else {
            st->kept_other++;
            sp_note(sp, "kept-other", path);
        }
    }
    sp_names_free(&l);
    close(dayfd);
    if (unlinkat(sp->rootfd, day, AT_REMOVEDIR) == 0) {
        st->days_removed++;
        sp_note(sp, "expired-day", day);
    }
    return 0;
}

/* The ids of every pending file, sorted (strcmp). */
static int pending_ids(tlsrpt_spool *sp, sp_names *out)
{
    memset(out, 0, sizeof *out);
    if (sp->pendfd < 0)
        return 0;
    if (sp_list_dir(sp->pendfd, NULL, out) < 0)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < out->n; i++) {
        char id[TLSRPT_SPOOL_ID_MAX];
        if (sp_pending_parse(out->v[i], id) > 0) {
            memcpy(out->v[i], id, strlen(id) + 1);
            out->v[k++] = out->v[i];
        } else {
            free(out->v[i]);
        }
    }
    out->n = k;
    sp_sort(out->v, out->n, str_cmp);
    return 0;
}

/* Retention (see the header). */
int tlsrpt_spool_expire(tlsrpt_spool *sp, int days, time_t now, tlsrpt_spool_expire_stats *st,
                        char *err, size_t errlen)
{
    tlsrpt_spool_expire_stats dummy;
    sp_names dl, pend;
    char cutoff[16];
    struct tm tm;
    if (!st)
        st = &dummy;
    memset(st, 0, sizeof *st);
    if (days <= 0)
        return 0;
    time_t t = now - (time_t)days * 86400;
    if (!gmtime_r(&t, &tm))
        return sp_err(sp, err, errlen, "expire: time out of range");
    strftime(cutoff, sizeof cutoff, "%Y-%m-%d", &tm);
    if (pending_ids(sp, &pend) < 0)
        return sp_errno(sp, err, errlen, errno, "read pending/");
    if (list_days(sp, NULL, NULL, &dl, err, errlen) < 0) {
        sp_names_free(&pend);
        return -1;
    }
    int rc = 0;
    for (size_t d = 0; d < dl.n && rc == 0 && strcmp(dl.v[d], cutoff) < 0; d++)
        if (expire_day(sp, dl.v[d], &pend, st) < 0 && errno != ENOENT)
            rc = sp_errno(sp, err, errlen, errno, "expire %s", dl.v[d]);
    sp_names_free(&dl);
    sp_names_free(&pend);
    return rc;
}
