/*
 * spool.c - open an archive directory, its archive-id, entry ids, and the
 * small file and error helpers the other spool files share.
 *
 * The archive id is made once, at the first open with TLSRPT_SPOOL_CREATE:
 * the host name (bytes outside [A-Za-z0-9.-] dropped, at most 31) + "-" +
 * 8 random [a-z0-9] (getrandom), written to a temporary file, fsync'd and
 * linked to DIR/archive-id (link fails if another process was first: its
 * id is then read back, so all processes agree).
 *
 * Entry ids: YYYYMMDDTHHMMSSZ-ARCHIVEID-PID-SEQ (arrival time in UTC, the
 * writer's pid, a per-spool counter). They sort by time (tlsrpt_spool_id_cmp),
 * are made only of [A-Za-z0-9.-] (safe in file names, memcached values and
 * log lines) and never collide: see tlsrpt_spool_begin in writer.c.
 *
 * Errors: NULL / -1 with a message "archive DIR: what: strerror".
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include "spool_int.h"

void (*tlsrpt_spool_test_hook)(const char *point);

/* Format an error message prefixed with the archive directory. */
int sp_err(const tlsrpt_spool *sp, char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        int n = snprintf(err, errlen, "archive %s: ", sp ? sp->dir : "?");
        if (n < 0 || (size_t)n >= errlen)
            n = 0;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Format an error message with the system error e appended. */
int sp_errno(const tlsrpt_spool *sp, char *err, size_t errlen, int e, const char *fmt, ...)
{
    char what[512], eb[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return sp_err(sp, err, errlen, "%s: %s", what, strerror_r(e, eb, sizeof eb));
}

/* Tell the note callback about a file. */
void sp_note(const tlsrpt_spool *sp, const char *event, const char *path)
{
    if (sp->note)
        sp->note(sp->note_arg, event, path);
}

/* Write all bytes, retrying on EINTR and short writes. */
int sp_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            errno = ENOSPC;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Read a small file whole. */
char *sp_read_small(int dirfd, const char *name, size_t max, size_t *len)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return NULL;
    size_t cap = 1024, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (!buf)
            break;
        if (n == cap) {
            if (cap >= max) {
                free(buf);
                buf = NULL;
                errno = EFBIG;
                break;
            }
            cap = cap * 4 > max ? max : cap * 4;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                errno = ENOMEM;
                break;
            }
            buf = nb;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(buf);
            buf = NULL;
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    int e = errno;
    close(fd);
    errno = e;
    if (buf) {
        buf[n] = 0;
        if (len)
            *len = n;
    }
    return buf;
}

/* fsync or fdatasync, unless the spool was opened NOSYNC. */
int sp_sync(const tlsrpt_spool *sp, int fd, int datasync)
{
    if (sp->flags & TLSRPT_SPOOL_NOSYNC)
        return 0;
    int r;
    do
        r = datasync ? fdatasync(fd) : fsync(fd);
    while (r < 0 && errno == EINTR);
    return r;
}

/* Name "ID.SUFFIX". */
int sp_name(char *out, const char *id, const char *suffix)
{
    int n = snprintf(out, SP_NAME_MAX, "%s.%s", id, suffix);
    return n < 0 || n >= SP_NAME_MAX ? -1 : 0;
}

/* 1 for "YYYY-MM-DD" with plausible month and day. */
int sp_is_day(const char *s)
{
    for (int i = 0; i < 10; i++)
        if (i == 4 || i == 7 ? s[i] != '-' : !isdigit((unsigned char)s[i]))
            return 0;
    int mon = (s[5] - '0') * 10 + (s[6] - '0'), day = (s[8] - '0') * 10 + (s[9] - '0');
    return s[10] == 0 && mon >= 1 && mon <= 12 && day >= 1 && day <= 31;
}

/* Archive-id characters. */
static int aid_char(int c)
{
    return isalnum(c) || c == '.' || c == '-';
}

/* Split an id: archive id (start, length), pid and seq. -1 when malformed. */
static int id_split(const char *s, size_t *a_len, unsigned long long *pid,
                    unsigned long long *seq)
{
    static const char shape[] = "ddddddddTddddddZ-";
    size_t len = strnlen(s, TLSRPT_SPOOL_ID_MAX);
    if (len >= TLSRPT_SPOOL_ID_MAX || len < 22)
        return -1;
    for (int i = 0; i < 17; i++)
        if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != shape[i])
            return -1;
    const char *q = strrchr(s, '-'), *p;
    if (q <= s + 17 || !q[1] || strspn(q + 1, "0123456789") != strlen(q + 1) || strlen(q + 1) > 20)
        return -1;
    for (p = q - 1; p > s + 17 && *p != '-'; p--)
        ;
    if (p <= s + 17 || (size_t)(q - p - 1) > 10 || q - p - 1 < 1)
        return -1;
    for (const char *c = p + 1; c < q; c++)
        if (!isdigit((unsigned char)*c))
            return -1;
    *a_len = (size_t)(p - (s + 17));
    if (*a_len < 1 || *a_len >= TLSRPT_SPOOL_ARCHIVE_ID_MAX)
        return -1;
    for (const char *c = s + 17; c < p; c++)
        if (!aid_char((unsigned char)*c))
            return -1;
    *pid = strtoull(p + 1, NULL, 10);
    *seq = strtoull(q + 1, NULL, 10);
    char day[11];
    memcpy(day, s, 4);
    day[4] = '-';
    memcpy(day + 5, s + 4, 2);
    day[7] = '-';
    memcpy(day + 8, s + 6, 2);
    day[10] = 0;
    return sp_is_day(day) ? 0 : -1;
}

/* 1 when s is a well-formed entry id. */
int tlsrpt_spool_id_valid(const char *s)
{
    size_t a;
    unsigned long long pid, seq;
    return s && id_split(s, &a, &pid, &seq) == 0;
}

/* Order ids by time, archive id, pid, sequence. */
int tlsrpt_spool_id_cmp(const char *a, const char *b)
{
    size_t al, bl;
    unsigned long long ap, as, bp, bs;
    if (id_split(a, &al, &ap, &as) < 0 || id_split(b, &bl, &bp, &bs) < 0)
        return strcmp(a, b);
    int c = memcmp(a, b, 16);
    if (c)
        return c;
    c = memcmp(a + 17, b + 17, al < bl ? al : bl);
    if (c || al != bl)
        return c ? c : al < bl ? -1 : 1;
    if (ap != bp)
        return ap < bp ? -1 : 1;
    return as < bs ? -1 : as > bs;
}

/* Parse a name's id once for sorting. */
int sp_key_make(sp_key *k, char *name, const char *id, int state)
{
    size_t a;
    unsigned long long pid, seq;
    if (id_split(id, &a, &pid, &seq) < 0)
        return -1;
    k->name = name;
    k->alen = a;
    k->pid = pid;
    k->seq = seq;
    k->state = state;
    return 0;
}

/* qsort: keys in id order, then the most advanced state first. */
int sp_key_cmp(const void *pa, const void *pb)
{
    const sp_key *a = pa, *b = pb;
    int c = memcmp(a->name, b->name, 16);
    if (c)
        return c;
    c = memcmp(a->name + 17, b->name + 17, a->alen < b->alen ? a->alen : b->alen);
    if (c || a->alen != b->alen)
        return c ? c : a->alen < b->alen ? -1 : 1;
    if (a->pid != b->pid)
        return a->pid < b->pid ? -1 : 1;
    if (a->seq != b->seq)
        return a->seq < b->seq ? -1 : 1;
    return b->state - a->state;
}

/* Same id? */
int sp_key_same_id(const sp_key *a, const sp_key *b)
{
    return a->alen == b->alen && a->pid == b->pid && a->seq == b->seq &&
           memcmp(a->name, b->name, 17 + a->alen) == 0;
}

/* The day directory of an id. */
int tlsrpt_spool_id_day(const char *id, char day[11])
{
    if (!tlsrpt_spool_id_valid(id))
        return -1;
    snprintf(day, 11, "%.4s-%.2s-%.2s", id, id + 4, id + 6);
    return 0;
}

/* The writer pid an id names. */
pid_t sp_id_pid(const char *id)
{
    size_t a;
    unsigned long long pid, seq;
    return id_split(id, &a, &pid, &seq) < 0 || pid > 0x7fffffff ? 0 : (pid_t)pid;
}

/* 1 when another live process of this archive may still be writing entry id. */
int sp_id_live(const tlsrpt_spool *sp, const char *id)
{
    size_t a;
    unsigned long long pid, seq;
    if (id_split(id, &a, &pid, &seq) < 0 || pid == 0 || pid > 0x7fffffff)
        return 0;
    if (a != strlen(sp->archive_id) || memcmp(id + 17, sp->archive_id, a) != 0)
        return 0;                   /* another archive's pid means nothing here */
    if ((pid_t)pid == sp->pid)
        return 0;
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* A fresh archive id from the host name and 8 random characters. */
static int make_archive_id(char out[TLSRPT_SPOOL_ARCHIVE_ID_MAX])
{
    static const char al[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    char host[256] = "", h[32];
    unsigned char rnd[8];
    size_t n = 0;
    if (gethostname(host, sizeof host - 1) < 0)
        host[0] = 0;
    for (const char *p = host; *p && n < sizeof h - 1; p++)
        if (aid_char((unsigned char)*p) && !(n == 0 && (*p == '.' || *p == '-')))
            h[n++] = *p;
    while (n > 0 && (h[n - 1] == '.' || h[n - 1] == '-'))
        n--;
    h[n] = 0;
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        return -1;
    char r[9];
    for (int i = 0; i < 8; i++)
        r[i] = al[rnd[i] % 36];
    r[8] = 0;
    snprintf(out, TLSRPT_SPOOL_ARCHIVE_ID_MAX, "%s-%s", n ? h : "host", r);
    return 0;
}

/* Read and check DIR/archive-id. */
static int read_archive_id(tlsrpt_spool *sp, char *err, size_t errlen)
{
    size_t len;
    char *t = sp_read_small(sp->rootfd, "archive-id", 256, &len);
    if (!t)
        return errno == ENOENT
                   ? sp_err(sp, err, errlen, "not an archive directory (no archive-id file)")
                   : sp_errno(sp, err, errlen, errno, "read archive-id");
    while (len > 0 && (t[len - 1] == '\n' || t[len - 1] == '\r'))
        t[--len] = 0;
    int ok = len > 0 && len < TLSRPT_SPOOL_ARCHIVE_ID_MAX;
    for (size_t i = 0; ok && i < len; i++)
        ok = aid_char((unsigned char)t[i]);
    if (ok)
        memcpy(sp->archive_id, t, len + 1);
    free(t);
    return ok ? 0 : sp_err(sp, err, errlen, "archive-id: malformed (want 1-40 of [A-Za-z0-9.-])");
}

/* Write DIR/archive-id once (the first of several racing processes wins); 1 when written. */
static int create_archive_id(tlsrpt_spool *sp, char *err, size_t errlen)
{
    char id[TLSRPT_SPOOL_ARCHIVE_ID_MAX], tmp[64], line[TLSRPT_SPOOL_ARCHIVE_ID_MAX + 1];
    if (faccessat(sp->rootfd, "archive-id", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        return 0;
    if (make_archive_id(id) < 0)
        return sp_errno(sp, err, errlen, errno, "make an archive id (getrandom)");
    snprintf(tmp, sizeof tmp, "archive-id.tmp.%ld", (long)sp->pid);
    snprintf(line, sizeof line, "%s\n", id);
    int fd = openat(sp->rootfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, SP_FILE_MODE);
    if (fd < 0)
        return sp_errno(sp, err, errlen, errno, "create %s", tmp);
    if (sp_write_all(fd, line, strlen(line)) < 0 || sp_sync(sp, fd, 0) < 0) {
        int e = errno;
        close(fd);
        unlinkat(sp->rootfd, tmp, 0);
        return sp_errno(sp, err, errlen, e, "write %s", tmp);
    }
    close(fd);
    int r = linkat(sp->rootfd, tmp, sp->rootfd, "archive-id", 0);
    int e = errno;
    unlinkat(sp->rootfd, tmp, 0);
    if (r < 0 && e != EEXIST)
        return sp_errno(sp, err, errlen, e, "link archive-id");
    return 1;
}

/* mkdirat that accepts an existing directory; 1 when it made one. */
static int mkdir_ok(int dirfd, const char *name)
{
    if (mkdirat(dirfd, name, SP_DIR_MODE) == 0)
        return 1;
    return errno == EEXIST ? 0 : -1;
}

/* Create the layout under an open DIR. */
static int create_layout(tlsrpt_spool *sp, char *err, size_t errlen)
{
    int made = 0, r;
    if ((r = mkdir_ok(sp->rootfd, "tmp")) < 0)
        return sp_errno(sp, err, errlen, errno, "mkdir tmp");
    made |= r;
    if ((r = mkdir_ok(sp->rootfd, "pending")) < 0)
        return sp_errno(sp, err, errlen, errno, "mkdir pending");
    made |= r;
    if ((r = create_archive_id(sp, err, errlen)) < 0)
        return -1;
    made |= r;
    if (made && sp_sync(sp, sp->rootfd, 0) < 0)
        return sp_errno(sp, err, errlen, errno, "fsync the directory");
    return 0;
}

/* Open an archive directory. */
tlsrpt_spool *tlsrpt_spool_open(const char *dir, int flags, char *err, size_t errlen)
{
    tlsrpt_spool *sp = calloc(1, sizeof *sp);
    if (!sp || !(sp->dir = strdup(dir ? dir : ""))) {
        free(sp);
        sp_err(NULL, err, errlen, "out of memory");
        return NULL;
    }
    sp->flags = flags;
    sp->level = (flags >> 8) & 0xf;
    if (sp->level < 1 || sp->level > 9)
        sp->level = 1;
    sp->rootfd = sp->tmpfd = sp->pendfd = -1;
    sp->pid = getpid();
    atomic_init(&sp->seq, 0);
    if (!*sp->dir) {
        sp_err(sp, err, errlen, "no directory given");
        goto fail;
    }
    if ((flags & TLSRPT_SPOOL_CREATE) && mkdir(dir, SP_DIR_MODE) < 0 && errno != EEXIST) {
        sp_errno(sp, err, errlen, errno, "mkdir");
        goto fail;
    }
    sp->rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sp->rootfd < 0) {
        sp_errno(sp, err, errlen, errno, "open");
        goto fail;
    }
    if ((flags & TLSRPT_SPOOL_CREATE) && create_layout(sp, err, errlen) < 0)
        goto fail;
    if (read_archive_id(sp, err, errlen) < 0)
        goto fail;
    sp->tmpfd = openat(sp->rootfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    sp->pendfd = openat(sp->rootfd, "pending", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if ((flags & TLSRPT_SPOOL_CREATE) && (sp->tmpfd < 0 || sp->pendfd < 0)) {
        sp_errno(sp, err, errlen, errno, "open %s", sp->tmpfd < 0 ? "tmp" : "pending");
        goto fail;
    }
    return sp;
fail:
    tlsrpt_spool_close(sp);
    return NULL;
}

/* Close an archive; NULL is fine. */
void tlsrpt_spool_close(tlsrpt_spool *sp)
{
    if (!sp)
        return;
    if (sp->rootfd >= 0)
        close(sp->rootfd);
    if (sp->tmpfd >= 0)
        close(sp->tmpfd);
    if (sp->pendfd >= 0)
        close(sp->pendfd);
    free(sp->dir);
    free(sp);
}

/* The archive id. */
const char *tlsrpt_spool_archive_id(const tlsrpt_spool *sp)
{
    return sp->archive_id;
}

/* The archive directory. */
const char *tlsrpt_spool_dir(const tlsrpt_spool *sp)
{
    return sp->dir;
}

/* Install the note callback. */
void tlsrpt_spool_set_note(tlsrpt_spool *sp, tlsrpt_spool_note_fn *fn, void *arg)
{
    sp->note = fn;
    sp->note_arg = arg;
}

/* Read a directory's names (".", ".." and names keep() refuses left out); unsorted. */
int sp_list_dir(int dirfd, int (*keep)(const char *name), sp_names *out)
{
    memset(out, 0, sizeof *out);
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || (keep && !keep(de->d_name)))
            continue;
        if (out->n == out->cap) {
            size_t nc = out->cap ? out->cap * 2 : 256;
            char **nv = realloc(out->v, nc * sizeof *nv);
            if (!nv)
                goto nomem;
            out->v = nv;
            out->cap = nc;
        }
        if (!(out->v[out->n] = strdup(de->d_name)))
            goto nomem;
        out->n++;
        errno = 0;
    }
    int e = errno;
    closedir(d);
    if (e) {
        sp_names_free(out);
        errno = e;
        return -1;
    }
    return 0;
nomem:
    closedir(d);
    sp_names_free(out);
    errno = ENOMEM;
    return -1;
}

/* Free a name list. */
void sp_names_free(sp_names *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* qsort of a string vector, fine when empty. */
void sp_sort(char **v, size_t n, int (*cmp)(const void *, const void *))
{
    if (v && n > 1)
        qsort(v, n, sizeof *v, cmp);
}
