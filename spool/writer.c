/*
 * writer.c - write one archive entry: stream the message into a gzip'd
 * temporary file, then commit it with its meta, crash-safe.
 *
 * begin: picks an id (see below) and creates tmp/ID.eml.gz.tmp (O_EXCL).
 * write: deflate on the fly (zlib, level from the open flags, default 1)
 *   through a 16 KB buffer; memory per writer is bounded (~280 KB with
 *   zlib's window) whatever the mail's size. When the first 32 KB did not
 *   compress below 1/4 (a base64 body: gzip'd reports are nearly all of a
 *   report mail) the stream goes on Huffman-only: ~3x faster there and a
 *   little smaller; plain JSON keeps level 1 (README.md: measured costs).
 * commit, in this order (README.md gives the argument step by step):
 *   1. finish the gzip stream; write tmp/ID.meta.tmp (spool keys + caller's);
 *   2. start writeback of both (sync_file_range), fdatasync both;
 *   3. if pending: pending/ID.STATE, a hard link to the data file (STRICT:
 *      fsync pending/);
 *   4. mkdir DAY (when new: fsync DIR); rename the meta into DAY
 *      (STRICT: fsync DAY);
 *   5. rename the data into DAY (RENAME_NOREPLACE): the entry is committed;
 *   6. fsync DAY: the commit is durable; only now does commit return 0.
 *   Any failure undoes what was done (tmp files, pending file, the renamed
 *   meta, even the renamed data when step 6 fails) and returns -1: the
 *   entry is then not in the archive at all.
 *
 * Ids never collide: a sequence number is taken atomically per spool, the
 * tmp file is created with O_EXCL (a concurrent writer with the same id
 * loses and takes the next number), and an id already committed in its day
 * directory (the same pid again after a restart within one second) is
 * skipped too, jumping ahead 1, 2, 4, ... numbers so that a predecessor's
 * thousands of ids cost a dozen probes, once. Because the tmp data file exists until the rename that
 * commits it, "tmp name free and DAY/ID.eml.gz absent" cannot race.
 *
 * Errors are sticky: the first one is kept (tlsrpt_spool_w_error) and every
 * later write and the commit fail with it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "spool_int.h"

#define SP_OUTBUF 16384
#define SP_WBITS 15         /* zlib window 32 KB (+16: gzip wrapper) */
#define SP_MEMLEVEL 8       /* zlib's default: hash memory 128 KB */
#define SP_ID_TRIES 1000
#define SP_PROBE 32768      /* bytes in before the strategy check */
#define SP_SLICE 16384      /* input slices until then */

struct tlsrpt_spool_w {
    tlsrpt_spool *sp;
    int fd;                             /* the tmp data file, -1 once closed */
    int tmp_exists;                     /* tmp/ID.eml.gz.tmp is ours to remove */
    int z_ready;
    int decided;                        /* the strategy check below was made */
    z_stream z;
    unsigned long long size;            /* message bytes written */
    time_t arrival;
    char id[TLSRPT_SPOOL_ID_MAX];
    char day[11];
    char data_tmp[SP_NAME_MAX];         /* ID.eml.gz.tmp in tmp/ */
    char err[512];
    unsigned char out[SP_OUTBUF];
};

/* Record the writer's first error; returns -1. */
static int w_fail(tlsrpt_spool_w *w, int e, const char *what)
{
    if (!w->err[0])
        sp_errno(w->sp, w->err, sizeof w->err, e, "%s tmp/%s", what, w->data_tmp);
    return -1;
}

/* Copy the writer's error into err; returns -1. */
static int copy_err(const tlsrpt_spool_w *w, char *err, size_t errlen)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", w->err);
    return -1;
}

/* Create the tmp file of a fresh id; 0, or -1 with err. */
static int new_id(tlsrpt_spool_w *w, const struct tm *tm, char *err, size_t errlen)
{
    tlsrpt_spool *sp = w->sp;
    unsigned long skip = 0;
    for (int tries = 0; tries < SP_ID_TRIES; tries++) {
        unsigned long seq = atomic_fetch_add(&sp->seq, skip + 1) + skip + 1;
        char committed[SP_NAME_MAX + 12];
        struct stat st;
        snprintf(w->id, sizeof w->id, "%04d%02d%02dT%02d%02d%02dZ-%s-%ld-%lu",
                 tm->tm_year + 1900, tm->tm_mon + 1, tm->tm_mday, tm->tm_hour, tm->tm_min,
                 tm->tm_sec, sp->archive_id, (long)sp->pid, seq);
        if (sp_name(w->data_tmp, w->id, "eml.gz.tmp") < 0)
            return sp_err(sp, err, errlen, "entry id too long");
        w->fd = openat(sp->tmpfd, w->data_tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                       SP_FILE_MODE);
        if (w->fd < 0 && errno == EEXIST)
            continue;
        if (w->fd < 0)
            return sp_errno(sp, err, errlen, errno, "create tmp/%s", w->data_tmp);
        w->tmp_exists = 1;
        snprintf(committed, sizeof committed, "%s/%s.eml.gz", w->day, w->id);
        if (fstatat(sp->rootfd, committed, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            close(w->fd);
            w->fd = -1;
            w->tmp_exists = 0;
            unlinkat(sp->tmpfd, w->data_tmp, 0);
            skip = skip ? (skip < (1ul << 30) ? skip * 2 : skip) : 1;
            continue;
        }
        return 0;
    }
    return sp_err(sp, err, errlen, "no free entry id after %d tries", SP_ID_TRIES);
}

/* Start an entry. */
tlsrpt_spool_w *tlsrpt_spool_begin(tlsrpt_spool *sp, time_t arrival, char *err, size_t errlen)
{
    struct tm tm;
    if (!gmtime_r(&arrival, &tm) || tm.tm_year + 1900 < 1970 || tm.tm_year + 1900 > 9999) {
        sp_err(sp, err, errlen, "arrival time %lld out of range", (long long)arrival);
        return NULL;
    }
    if (sp->tmpfd < 0) {
        sp_err(sp, err, errlen, "no tmp directory (not opened with create)");
        return NULL;
    }
    tlsrpt_spool_w *w = calloc(1, sizeof *w);
    if (!w) {
        sp_err(sp, err, errlen, "out of memory");
        return NULL;
    }
    w->sp = sp;
    w->fd = -1;
    w->arrival = arrival;
    strftime(w->day, sizeof w->day, "%Y-%m-%d", &tm);
    if (new_id(w, &tm, err, errlen) < 0) {
        free(w);
        return NULL;
    }
    if (deflateInit2(&w->z, sp->level, Z_DEFLATED, SP_WBITS + 16, SP_MEMLEVEL,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        sp_err(sp, err, errlen, "zlib deflateInit2 failed (out of memory)");
        tlsrpt_spool_abort(w);
        return NULL;
    }
    w->z_ready = 1;
    SP_HOOK("begin");
    return w;
}

/* Run deflate with `flush` until it wants more input (or ends); write what it makes. */
static int pump(tlsrpt_spool_w *w, int flush)
{
    int zr;
    do {
        w->z.next_out = w->out;
        w->z.avail_out = SP_OUTBUF;
        zr = deflate(&w->z, flush);
        if (zr == Z_STREAM_ERROR)
            return w_fail(w, EINVAL, "zlib deflate on");
        size_t have = SP_OUTBUF - w->z.avail_out;
        if (have && sp_write_all(w->fd, w->out, have) < 0)
            return w_fail(w, errno, "write");
    } while (w->z.avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
    return 0;
}

/* Switch to Huffman-only coding (flushes the current block first). */
static int to_huffman(tlsrpt_spool_w *w)
{
    int zr = Z_BUF_ERROR;
    for (int i = 0; i < 64 && zr == Z_BUF_ERROR; i++) {
        w->z.next_out = w->out;
        w->z.avail_out = SP_OUTBUF;
        zr = deflateParams(&w->z, w->sp->level, Z_HUFFMAN_ONLY);
        size_t have = SP_OUTBUF - w->z.avail_out;
        if (have && sp_write_all(w->fd, w->out, have) < 0)
            return w_fail(w, errno, "write");
    }
    return zr == Z_OK ? 0 : w_fail(w, EINVAL, "zlib deflateParams on");
}

/* After SP_PROBE bytes: when deflate has not got below 1/4 (base64 of gzip, binary), its
   string matching costs ~3x the time of Huffman-only coding for a worse result. */
static int check_strategy(tlsrpt_spool_w *w)
{
    if (w->decided || w->z.total_in < SP_PROBE)
        return 0;
    w->decided = 1;
    return w->z.total_out * 4 > w->z.total_in ? to_huffman(w) : 0;
}

/* Append message bytes. */
int tlsrpt_spool_write(tlsrpt_spool_w *w, const void *buf, size_t len)
{
    if (!w || w->err[0])
        return -1;
    const unsigned char *p = buf;
    while (len > 0) {
        uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
        if (!w->decided && n > SP_SLICE)
            n = SP_SLICE;
        w->z.next_in = (unsigned char *)p;
        w->z.avail_in = n;
        if (pump(w, Z_NO_FLUSH) < 0)
            return -1;
        p += n;
        len -= n;
        w->size += n;
        if (check_strategy(w) < 0)
            return -1;
    }
    SP_HOOK("write");
    return 0;
}

/* The writer's first error. */
const char *tlsrpt_spool_w_error(const tlsrpt_spool_w *w)
{
    return w ? w->err : "no writer";
}

/* The entry id. */
const char *tlsrpt_spool_w_id(const tlsrpt_spool_w *w)
{
    return w ? w->id : "";
}

/* Drop an entry being written. */
void tlsrpt_spool_abort(tlsrpt_spool_w *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    if (w->tmp_exists)
        unlinkat(w->sp->tmpfd, w->data_tmp, 0);
    if (w->z_ready)
        deflateEnd(&w->z);
    free(w);
}

/* The meta text: the spool's own keys, then the caller's. NULL + err. */
static char *meta_text(tlsrpt_spool_w *w, const tlsrpt_spool_meta *meta, size_t *len,
                       char *err, size_t errlen)
{
    static const char *const own[] = {
        TLSRPT_SPOOL_K_VERSION, TLSRPT_SPOOL_K_ID, TLSRPT_SPOOL_K_ARCHIVE_ID,
        TLSRPT_SPOOL_K_ARRIVAL, TLSRPT_SPOOL_K_ARRIVAL_UTC, TLSRPT_SPOOL_K_SIZE };
    char num[32], utc[32], *text = NULL;
    struct tm tm;
    tlsrpt_spool_meta *full = tlsrpt_spool_meta_new();
    gmtime_r(&w->arrival, &tm);
    strftime(utc, sizeof utc, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(num, sizeof num, "%lld", (long long)w->arrival);
    int bad = !full || tlsrpt_spool_meta_set(full, TLSRPT_SPOOL_K_ID, w->id) < 0 ||
              tlsrpt_spool_meta_set(full, TLSRPT_SPOOL_K_ARCHIVE_ID, w->sp->archive_id) < 0 ||
              tlsrpt_spool_meta_set(full, TLSRPT_SPOOL_K_ARRIVAL, num) < 0 ||
              tlsrpt_spool_meta_set(full, TLSRPT_SPOOL_K_ARRIVAL_UTC, utc) < 0;
    snprintf(num, sizeof num, "%llu", w->size);
    bad = bad || tlsrpt_spool_meta_set(full, TLSRPT_SPOOL_K_SIZE, num) < 0;
    for (size_t i = 0; !bad && i < tlsrpt_spool_meta_count(meta); i++) {
        const char *k, *v;
        size_t vl;
        tlsrpt_spool_meta_at(meta, i, &k, &v, &vl);
        for (size_t j = 0; j < sizeof own / sizeof own[0]; j++)
            if (strcmp(k, own[j]) == 0) {
                sp_err(w->sp, err, errlen, "meta key '%s' is the spool's own", k);
                tlsrpt_spool_meta_free(full);
                return NULL;
            }
        bad = tlsrpt_spool_meta_add(full, k, v, vl) < 0;
    }
    if (!bad)
        text = tlsrpt_spool_meta_format(full, len);
    tlsrpt_spool_meta_free(full);
    if (!text)
        sp_err(w->sp, err, errlen, "meta: too many lines or out of memory");
    return text;
}

/* What a commit did so far, for undoing it. */
typedef struct commit_st {
    char meta_tmp[SP_NAME_MAX], meta_name[SP_NAME_MAX], data_name[SP_NAME_MAX];
    char pend[SP_NAME_MAX];
    int mfd, dayfd;
    int meta_created, pend_created, meta_moved, data_moved;
} commit_st;

/* Undo a failed commit (best effort) and free w. */
static void undo(tlsrpt_spool_w *w, commit_st *c)
{
    tlsrpt_spool *sp = w->sp;
    if (c->pend_created)
        unlinkat(sp->pendfd, c->pend, 0);
    if (c->data_moved)
        unlinkat(c->dayfd, c->data_name, 0);
    if (c->meta_moved)
        unlinkat(c->dayfd, c->meta_name, 0);
    if (c->meta_created && !c->meta_moved)
        unlinkat(sp->tmpfd, c->meta_tmp, 0);
    if (c->mfd >= 0)
        close(c->mfd);
    if (c->dayfd >= 0)
        close(c->dayfd);
    tlsrpt_spool_abort(w);
}

/* Steps 1-2: finish the data, write the meta, both durable. */
static int commit_files(tlsrpt_spool_w *w, commit_st *c, const char *text, size_t tlen,
                        char *err, size_t errlen)
{
    tlsrpt_spool *sp = w->sp;
    if (pump(w, Z_FINISH) < 0)
        return copy_err(w, err, errlen);
    SP_HOOK("data-written");
    c->mfd = openat(sp->tmpfd, c->meta_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, SP_FILE_MODE);
    if (c->mfd < 0)
        return sp_errno(sp, err, errlen, errno, "create tmp/%s", c->meta_tmp);
    c->meta_created = 1;
    if (sp_write_all(c->mfd, text, tlen) < 0)
        return sp_errno(sp, err, errlen, errno, "write tmp/%s", c->meta_tmp);
    SP_HOOK("meta-written");
    if (!(sp->flags & TLSRPT_SPOOL_NOSYNC)) {
        sync_file_range(w->fd, 0, 0, SYNC_FILE_RANGE_WRITE);   /* both write back at once */
        sync_file_range(c->mfd, 0, 0, SYNC_FILE_RANGE_WRITE);
    }
    if (sp_sync(sp, w->fd, 1) < 0)
        return sp_errno(sp, err, errlen, errno, "fdatasync tmp/%s", w->data_tmp);
    if (sp_sync(sp, c->mfd, 1) < 0)
        return sp_errno(sp, err, errlen, errno, "fdatasync tmp/%s", c->meta_tmp);
    int r1 = close(w->fd), r2 = close(c->mfd);
    w->fd = c->mfd = -1;
    if (r1 < 0 || r2 < 0)
        return sp_errno(sp, err, errlen, errno, "close tmp/%s", r1 < 0 ? w->data_tmp : c->meta_tmp);
    SP_HOOK("synced");
    return 0;
}

/* The pending file: a hard link to the data file (no inode allocated now, none freed
   when it is done: ext4 makes every file creation scan past the inodes freed in the last
   seconds, so one freed per mail slows all creations down), or an empty file where hard
   links are not supported. 0 or -1 with errno. */
static int pending_link(tlsrpt_spool *sp, const char *data_tmp, const char *pend)
{
    for (int tries = 0; tries < 2; tries++) {
        if (linkat(sp->tmpfd, data_tmp, sp->pendfd, pend, 0) == 0)
            return 0;
        if (errno == EEXIST && tries == 0 && unlinkat(sp->pendfd, pend, 0) == 0)
            continue;                   /* garbage of a crashed writer with this id */
        if (errno != EPERM && errno != EMLINK && errno != ENOTSUP && errno != EOPNOTSUPP)
            return -1;
        int fd = openat(sp->pendfd, pend, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, SP_FILE_MODE);
        return fd < 0 ? -1 : close(fd);
    }
    return -1;
}

/* Steps 3-6: pending file, renames into the day directory, durable. */
static int commit_names(tlsrpt_spool_w *w, commit_st *c, int pending, char *err, size_t errlen)
{
    tlsrpt_spool *sp = w->sp;
    if (pending) {
        if (pending_link(sp, w->data_tmp, c->pend) < 0)
            return sp_errno(sp, err, errlen, errno, "create pending/%s", c->pend);
        c->pend_created = 1;
        if ((sp->flags & TLSRPT_SPOOL_STRICT) && sp_sync(sp, sp->pendfd, 0) < 0)
            return sp_errno(sp, err, errlen, errno, "fsync pending");
        SP_HOOK("pending-created");
    }
    if (mkdirat(sp->rootfd, w->day, SP_DIR_MODE) == 0) {
        if (sp_sync(sp, sp->rootfd, 0) < 0)
            return sp_errno(sp, err, errlen, errno, "fsync the directory");
    } else if (errno != EEXIST) {
        return sp_errno(sp, err, errlen, errno, "mkdir %s", w->day);
    }
    c->dayfd = openat(sp->rootfd, w->day, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (c->dayfd < 0)
        return sp_errno(sp, err, errlen, errno, "open %s", w->day);
    if (renameat(sp->tmpfd, c->meta_tmp, c->dayfd, c->meta_name) < 0)
        return sp_errno(sp, err, errlen, errno, "rename tmp/%s to %s/", c->meta_tmp, w->day);
    c->meta_moved = 1;
    SP_HOOK("meta-renamed");
    if ((sp->flags & TLSRPT_SPOOL_STRICT) && sp_sync(sp, c->dayfd, 0) < 0)
        return sp_errno(sp, err, errlen, errno, "fsync %s", w->day);
    int r = renameat2(sp->tmpfd, w->data_tmp, c->dayfd, c->data_name, RENAME_NOREPLACE);
    if (r < 0 && (errno == EINVAL || errno == ENOSYS))
        r = renameat(sp->tmpfd, w->data_tmp, c->dayfd, c->data_name);
    if (r < 0)
        return sp_errno(sp, err, errlen, errno, "rename tmp/%s to %s/", w->data_tmp, w->day);
    c->data_moved = 1;
    w->tmp_exists = 0;
    SP_HOOK("data-renamed");
    if (sp_sync(sp, c->dayfd, 0) < 0)
        return sp_errno(sp, err, errlen, errno, "fsync %s", w->day);
    SP_HOOK("committed");
    return 0;
}

/* Commit an entry (see the file comment). */
int tlsrpt_spool_commit(tlsrpt_spool_w *w, const tlsrpt_spool_meta *meta, int pending,
                        char *id_out, size_t idlen, char *err, size_t errlen)
{
    commit_st c;
    memset(&c, 0, sizeof c);
    c.mfd = c.dayfd = -1;
    if (!w)
        return sp_err(NULL, err, errlen, "no writer");
    tlsrpt_spool *sp = w->sp;
    if (w->err[0]) {
        copy_err(w, err, errlen);
        tlsrpt_spool_abort(w);
        return -1;
    }
    if (pending != 0 && pending != TLSRPT_SPOOL_NEW && pending != TLSRPT_SPOOL_COUNTING) {
        tlsrpt_spool_abort(w);
        return sp_err(sp, err, errlen, "commit: bad pending state %d", pending);
    }
    if (pending && sp->pendfd < 0) {
        tlsrpt_spool_abort(w);
        return sp_err(sp, err, errlen, "commit: no pending directory (not opened with create)");
    }
    size_t tlen;
    char *text = meta_text(w, meta, &tlen, err, errlen);
    if (!text || sp_name(c.meta_tmp, w->id, "meta.tmp") < 0 ||
        sp_name(c.meta_name, w->id, "meta") < 0 || sp_name(c.data_name, w->id, "eml.gz") < 0 ||
        (pending && sp_pending_name(c.pend, w->id, pending) < 0)) {
        if (text)
            sp_err(sp, err, errlen, "entry id too long for a file name");
        free(text);
        tlsrpt_spool_abort(w);
        return -1;
    }
    int r = commit_files(w, &c, text, tlen, err, errlen);
    free(text);
    if (r == 0)
        r = commit_names(w, &c, pending, err, errlen);
    if (r < 0) {
        undo(w, &c);
        return -1;
    }
    if (id_out && idlen)
        snprintf(id_out, idlen, "%s", w->id);
    close(c.dayfd);
    tlsrpt_spool_abort(w);              /* frees; nothing left to remove */
    return 0;
}
