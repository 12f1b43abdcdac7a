/*
 * pending.c - the pending entries: what still has to be counted.
 *
 * pending/ID.STATE exists while entry ID still has to be counted; STATE is
 * "new", "counting" or "partial". The file is a second name (hard link) of
 * the entry's data file, or an empty file where links are not supported:
 * its contents mean nothing, the state is in the name, so a change of state
 * is one rename() -- atomic, needing no data written or synced -- and
 * doubles as a claim: of two threads or processes
 * moving ID from new to counting, exactly one succeeds (the other finds no
 * ID.new: ENOENT), so an entry is never counted twice by racing counters.
 * A move to any state but DONE is fsync'd (pending/) before set_state
 * returns, so "counting" is on disk before the caller sends its burst. DONE
 * unlinks the file without a sync: after a power loss an entry counted just
 * before may come back as "counting" (the safe side: it is then treated as
 * partial and repaired by a rebuild), never as "new".
 *
 * Listing skips pending files whose entry is not committed (a commit in
 * progress, or garbage a crash left, which tlsrpt_spool_recover removes).
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

static const char *const state_names[] = { "done", "new", "counting", "partial" };

/* The name of a state. */
const char *tlsrpt_spool_state_name(int state)
{
    return state >= 0 && state <= TLSRPT_SPOOL_PARTIAL ? state_names[state] : "?";
}

/* "ID.STATE". */
int sp_pending_name(char *out, const char *id, int state)
{
    if (state < TLSRPT_SPOOL_NEW || state > TLSRPT_SPOOL_PARTIAL)
        return -1;
    return sp_name(out, id, state_names[state]);
}

/* Parse "ID.STATE": the state, id copied; -1 when it is not one. */
int sp_pending_parse(const char *name, char id[TLSRPT_SPOOL_ID_MAX])
{
    const char *dot = strrchr(name, '.');
    if (!dot || (size_t)(dot - name) >= TLSRPT_SPOOL_ID_MAX)
        return -1;
    for (int s = TLSRPT_SPOOL_NEW; s <= TLSRPT_SPOOL_PARTIAL; s++)
        if (strcmp(dot + 1, state_names[s]) == 0) {
            memcpy(id, name, (size_t)(dot - name));
            id[dot - name] = 0;
            return tlsrpt_spool_id_valid(id) ? s : -1;
        }
    return -1;
}

/* Check the arguments common to the state calls. */
static int check(tlsrpt_spool *sp, const char *id, char *err, size_t errlen)
{
    if (!tlsrpt_spool_id_valid(id))
        return sp_err(sp, err, errlen, "not an entry id: '%.*s'", 120, id ? id : "(null)");
    if (sp->pendfd < 0)
        return sp_err(sp, err, errlen, "no pending directory (not opened with create)");
    return 0;
}

/* Move id from one state to another (a claim: see the file comment). */
int tlsrpt_spool_set_state(tlsrpt_spool *sp, const char *id, int from, int to,
                           char *err, size_t errlen)
{
    char a[SP_NAME_MAX], b[SP_NAME_MAX];
    if (check(sp, id, err, errlen) < 0)
        return -1;
    if (sp_pending_name(a, id, from) < 0 || (to != TLSRPT_SPOOL_DONE && sp_pending_name(b, id, to) < 0))
        return sp_err(sp, err, errlen, "set_state %s: bad state %d -> %d", id, from, to);
    if (to == TLSRPT_SPOOL_DONE) {
        if (unlinkat(sp->pendfd, a, 0) == 0)
            return 0;
        return errno == ENOENT ? 1 : sp_errno(sp, err, errlen, errno, "remove pending/%s", a);
    }
    if (from == to)
        return faccessat(sp->pendfd, a, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : 1;
    if (renameat(sp->pendfd, a, sp->pendfd, b) < 0)
        return errno == ENOENT ? 1 : sp_errno(sp, err, errlen, errno, "rename pending/%s", a);
    if (sp_sync(sp, sp->pendfd, 0) < 0)
        return sp_errno(sp, err, errlen, errno, "fsync pending");
    return 0;
}

/* Remove the pending file whatever its state. */
int tlsrpt_spool_done(tlsrpt_spool *sp, const char *id, char *err, size_t errlen)
{
    char a[SP_NAME_MAX];
    int removed = 0;
    if (check(sp, id, err, errlen) < 0)
        return -1;
    for (int s = TLSRPT_SPOOL_NEW; s <= TLSRPT_SPOOL_PARTIAL; s++) {
        sp_pending_name(a, id, s);
        if (unlinkat(sp->pendfd, a, 0) == 0)
            removed = 1;
        else if (errno != ENOENT)
            return sp_errno(sp, err, errlen, errno, "remove pending/%s", a);
    }
    return removed ? 0 : 1;
}

/* The current state of id (the most advanced when several files exist). */
int tlsrpt_spool_state(tlsrpt_spool *sp, const char *id)
{
    char a[SP_NAME_MAX];
    if (!tlsrpt_spool_id_valid(id))
        return -1;
    if (sp->pendfd < 0)
        return TLSRPT_SPOOL_DONE;
    for (int s = TLSRPT_SPOOL_PARTIAL; s >= TLSRPT_SPOOL_NEW; s--) {
        sp_pending_name(a, id, s);
        if (faccessat(sp->pendfd, a, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
            return s;
        if (errno != ENOENT)
            return -1;
    }
    return TLSRPT_SPOOL_DONE;
}

/* The pending files, parsed once and sorted. */
int sp_pending_keys(tlsrpt_spool *sp, sp_names *l, sp_key **keys, size_t *n)
{
    memset(l, 0, sizeof *l);
    *keys = NULL;
    *n = 0;
    if (sp->pendfd < 0)
        return 0;                       /* a copied archive without pending/: nothing */
    if (sp_list_dir(sp->pendfd, NULL, l) < 0)
        return -1;
    sp_key *k = malloc((l->n ? l->n : 1) * sizeof *k);
    if (!k) {
        sp_names_free(l);
        errno = ENOMEM;
        return -1;
    }
    size_t m = 0;
    for (size_t i = 0; i < l->n; i++) {
        char id[TLSRPT_SPOOL_ID_MAX];
        int s = sp_pending_parse(l->v[i], id);
        if (s > 0 && sp_key_make(&k[m], l->v[i], id, s) == 0)
            m++;
    }
    if (m > 1)
        qsort(k, m, sizeof *k, sp_key_cmp);
    *keys = k;
    *n = m;
    return 0;
}

/* 1 when entry id is committed (its data file is in its day directory). */
static int committed(const tlsrpt_spool *sp, const char *id)
{
    char day[11], path[SP_NAME_MAX + 16];
    struct stat st;
    if (tlsrpt_spool_id_day(id, day) < 0)
        return 0;
    snprintf(path, sizeof path, "%s/%s.eml.gz", day, id);
    return fstatat(sp->rootfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* List the pending entries, oldest first. */
int tlsrpt_spool_pending(tlsrpt_spool *sp, tlsrpt_spool_pending_fn *fn, void *arg,
                         char *err, size_t errlen)
{
    sp_names l;
    sp_key *k;
    size_t n;
    int rc = 0;
    if (sp_pending_keys(sp, &l, &k, &n) < 0)
        return sp_errno(sp, err, errlen, errno, "read pending/");
    for (size_t i = 0; i < n && rc == 0; i++) {
        char id[TLSRPT_SPOOL_ID_MAX];
        if (i > 0 && sp_key_same_id(&k[i], &k[i - 1]))
            continue;                   /* a less advanced duplicate */
        sp_pending_parse(k[i].name, id);
        if (committed(sp, id))
            rc = fn(arg, id, k[i].state);
    }
    free(k);
    sp_names_free(&l);
    return rc;
}
